//! Attainment: per severity, how many alerts were acknowledged and resolved within target.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::severity::Severity;

/// What the gateway observed of one alert.
#[derive(Debug, Clone)]
pub struct Observed {
    pub alert_id: String,
    pub severity: Severity,
    pub created_at: Timestamp,
    pub tta_due: Option<Timestamp>,
    pub ttr_due: Option<Timestamp>,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Alerts that reached this stage.
    pub reached: u64,
    /// Reached it by the due time.
    pub within: u64,
    /// Reached it late, or not yet and past due: the alert ids, sorted.
    pub breached: Vec<String>,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeverityRow {
    pub severity: Severity,
    pub alerts: u64,
    pub acknowledge: Field,
    pub resolve: Field,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub rows: Vec<SeverityRow>,
}

/// Nearest-rank percentile of sorted values.
fn rank(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (p * sorted.len()).div_ceil(100).max(1) - 1;
    sorted.get(i).copied()
}

fn field(
    alerts: &[&Observed],
    now: Timestamp,
    pick: impl Fn(&Observed) -> (Option<Timestamp>, Option<Timestamp>),
) -> Field {
    let mut f = Field::default();
    let mut times = Vec::new();
    for a in alerts {
        let (due, done) = pick(a);
        if let Some(done) = done {
            f.reached += 1;
            times.push(a.created_at.duration_until(done).as_secs().max(0));
        }
        match (due, done) {
            (Some(due), Some(done)) if done <= due => f.within += 1,
            (Some(_), Some(_)) => f.breached.push(a.alert_id.clone()),
            (Some(due), None) if now > due => f.breached.push(a.alert_id.clone()),
            _ => {}
        }
    }
    times.sort_unstable();
    f.breached.sort();
    f.breached.dedup();
    f.median_secs = rank(&times, 50);
    f.p90_secs = rank(&times, 90);
    f
}

/// One row per severity that has alerts, critical first. An alert still open past its due counts
/// as a breach; one without a due for a field counts neither way for it.
pub fn summarise(observed: &[Observed], now: Timestamp) -> Report {
    let rows = Severity::ALL
        .into_iter()
        .filter_map(|s| {
            let of: Vec<&Observed> = observed.iter().filter(|o| o.severity == s).collect();
            (!of.is_empty()).then(|| SeverityRow {
                severity: s,
                alerts: of.len() as u64,
                acknowledge: field(&of, now, |o| (o.tta_due, o.acknowledged_at)),
                resolve: field(&of, now, |o| (o.ttr_due, o.resolved_at)),
            })
        })
        .collect();
    Report { rows }
}

#[derive(Debug, Clone)]
pub struct ReportMeta {
    pub workspace: String,
    pub since: Timestamp,
    pub until: Timestamp,
    pub generated_at: Timestamp,
    pub policy_version: i64,
    /// Acknowledged/resolved times are known to within this (the longest poll interval).
    pub precision_secs: u64,
}

fn secs(v: Option<i64>) -> String {
    v.map_or_else(String::new, |s| s.to_string())
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(['=', '+', '-', '@']) {
        // Quoted, and a leading formula character neutralised for spreadsheets.
        let s = if s.starts_with(['=', '+', '-', '@']) {
            format!("'{s}")
        } else {
            s.to_owned()
        };
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub fn render_csv(meta: &ReportMeta, r: &Report) -> String {
    let mut out = String::from(
        "workspace,severity,alerts,acknowledged,acknowledged_within,acknowledge_breaches,tta_median_seconds,tta_p90_seconds,resolved,resolved_within,resolve_breaches,ttr_median_seconds,ttr_p90_seconds,acknowledge_breached_ids,resolve_breached_ids\n",
    );
    for row in &r.rows {
        let (a, z) = (&row.acknowledge, &row.resolve);
        let cells = [
            csv_cell(&meta.workspace),
            row.severity.to_string(),
            row.alerts.to_string(),
            a.reached.to_string(),
            a.within.to_string(),
            a.breached.len().to_string(),
            secs(a.median_secs),
            secs(a.p90_secs),
            z.reached.to_string(),
            z.within.to_string(),
            z.breached.len().to_string(),
            secs(z.median_secs),
            secs(z.p90_secs),
            csv_cell(&a.breached.join(";")),
            csv_cell(&z.breached.join(";")),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

pub fn render_json(meta: &ReportMeta, r: &Report) -> String {
    let v = serde_json::json!({
        "schema": "seliq.sla-report/v1",
        "workspace": meta.workspace,
        "since": meta.since.to_string(),
        "until": meta.until.to_string(),
        "generated_at": meta.generated_at.to_string(),
        "policy_version": meta.policy_version,
        "precision_seconds": meta.precision_secs,
        "rows": r.rows,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn human(v: Option<i64>) -> String {
    match v {
        None => "–".to_owned(),
        Some(s) if s >= 3600 => format!("{:.1} h", s as f64 / 3600.0),
        Some(s) if s >= 60 => format!("{} min", s / 60),
        Some(s) => format!("{s} s"),
    }
}

/// One self-contained HTML file (inline style and SVG, no script, no external asset) an account
/// manager can send to the client. Every interpolated text is escaped.
pub fn render_html(meta: &ReportMeta, r: &Report) -> String {
    let mut h = String::new();
    let title = format!("SLA report: {}", esc(&meta.workspace));
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}th:first-child,td:first-child{{text-align:left}}.ok{{fill:#2e7d32}}.bad{{fill:#c62828}}small{{color:#666}}</style></head><body><h1>{title}</h1><p>{} to {} · policy version {} · generated {}</p><p><small>Acknowledged and resolved times are measured at the poll interval: ± {} s.</small></p>",
        esc(&meta.since.to_string()),
        esc(&meta.until.to_string()),
        meta.policy_version,
        esc(&meta.generated_at.to_string()),
        meta.precision_secs
    );
    h.push_str("<table><tr><th>Severity</th><th>Alerts</th><th>Acknowledged within target</th><th>Ack breaches</th><th>TTA median</th><th>TTA p90</th><th>Resolved within target</th><th>Resolve breaches</th><th>TTR median</th><th>TTR p90</th></tr>");
    for row in &r.rows {
        let (a, z) = (&row.acknowledge, &row.resolve);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            row.severity,
            row.alerts,
            a.within,
            a.breached.len(),
            human(a.median_secs),
            human(a.p90_secs),
            z.within,
            z.breached.len(),
            human(z.median_secs),
            human(z.p90_secs)
        );
    }
    h.push_str("</table>");
    // A bar per severity: within (green) against breached (red), for acknowledge and resolve.
    let bar_w = 300.0;
    let height = 30 * r.rows.len().max(1) + 20;
    let _ = write!(
        h,
        "<h2>Within target vs breached</h2><svg width=\"640\" height=\"{height}\" role=\"img\" aria-label=\"within target versus breached per severity\">"
    );
    for (i, row) in r.rows.iter().enumerate() {
        let y = 10 + i * 30;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 14,
            row.severity
        );
        for (k, f) in [&row.acknowledge, &row.resolve].into_iter().enumerate() {
            let total = (f.within + f.breached.len() as u64).max(1) as f64;
            let x0 = 100.0 + k as f64 * (bar_w / 2.0 + 20.0);
            let w_ok = f.within as f64 / total * (bar_w / 2.0);
            let w_bad = f.breached.len() as f64 / total * (bar_w / 2.0);
            let _ = write!(
                h,
                "<rect class=\"ok\" x=\"{x0:.1}\" y=\"{y}\" width=\"{w_ok:.1}\" height=\"18\"/><rect class=\"bad\" x=\"{:.1}\" y=\"{y}\" width=\"{w_bad:.1}\" height=\"18\"/>",
                x0 + w_ok
            );
        }
    }
    h.push_str("</svg><p><small>Left bar: acknowledge; right bar: resolve. Green: within target; red: breached.</small></p>");
    let breaches: Vec<&SeverityRow> = r
        .rows
        .iter()
        .filter(|row| !row.acknowledge.breached.is_empty() || !row.resolve.breached.is_empty())
        .collect();
    if !breaches.is_empty() {
        h.push_str("<h2>Breaches</h2><ul>");
        for row in breaches {
            let ids = |f: &Field| {
                f.breached
                    .iter()
                    .map(|s| esc(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                h,
                "<li>{}: acknowledge [{}]; resolve [{}]</li>",
                row.severity,
                ids(&row.acknowledge),
                ids(&row.resolve)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + m * 60).unwrap()
    }

    fn obs(id: &str, s: Severity, ack: Option<i64>, res: Option<i64>) -> Observed {
        Observed {
            alert_id: id.into(),
            severity: s,
            created_at: t(0),
            tta_due: Some(t(15)),
            ttr_due: Some(t(240)),
            acknowledged_at: ack.map(t),
            resolved_at: res.map(t),
        }
    }

    #[test]
    fn counts_within_breached_and_percentiles() {
        let o = vec![
            obs("a", Severity::Critical, Some(5), Some(100)),
            obs("b", Severity::Critical, Some(20), Some(300)),
            obs("c", Severity::Critical, None, None),
            obs("d", Severity::High, Some(10), None),
        ];
        let r = summarise(&o, t(60));
        assert_eq!(r.rows.len(), 2);
        let c = &r.rows[0];
        assert_eq!((c.severity, c.alerts), (Severity::Critical, 3));
        assert_eq!(c.acknowledge.within, 1);
        assert_eq!(c.acknowledge.breached, vec!["b", "c"]);
        assert_eq!(c.acknowledge.median_secs, Some(300));
        assert_eq!(c.acknowledge.p90_secs, Some(1200));
        // c is not yet past its resolve due at t(60): neither way.
        assert_eq!(
            (c.resolve.within, c.resolve.breached.clone()),
            (1, vec!["b".to_owned()])
        );
        let meta = ReportMeta {
            workspace: "<b>&\"x\"".into(),
            since: t(-100),
            until: t(60),
            generated_at: t(60),
            policy_version: 3,
            precision_secs: 60,
        };
        let csv = render_csv(&meta, &r);
        assert_eq!(csv.lines().count(), 3);
        assert!(
            csv.lines().nth(1).unwrap().contains(",critical,3,2,1,2,"),
            "{csv}"
        );
        let j: serde_json::Value = serde_json::from_str(&render_json(&meta, &r)).unwrap();
        assert_eq!(j["rows"][0]["acknowledge"]["within"], 1);
        assert_eq!(j["precision_seconds"], 60);
        let html = render_html(&meta, &r);
        assert!(html.contains("&lt;b&gt;&amp;&quot;x&quot;"));
        assert!(!html.contains("<b>&"));
        for bad in ["<script", "src=", "href=", "https://", "@import"] {
            assert!(!html.contains(bad), "{bad}");
        }
        assert!(html.contains("± 60 s"));
    }
}
