//! `sla report`: attainment of one workspace from the ledger, rendered and audited.

use std::path::Path;

use chrono::{DateTime, Utc};
use seliq_sla::{Observed, ReportMeta};
use serde_json::json;

use super::{severity, to_ts};
use crate::app::App;
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::slug::Slug;
use crate::workspaces;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Csv,
    Json,
    Html,
}

impl ReportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }
}

fn ts(t: DateTime<Utc>) -> Result<seliq_sla::Timestamp> {
    to_ts(t).ok_or_else(|| Error::Invalid(format!("time {t} is out of range")))
}

/// Render the report of alerts created in `[since, until)`; write it to `output` (atomically)
/// or return it for stdout; audit `report.generated` with its parameters. Returns the text when
/// no file was given, and the number of alerts covered.
pub fn generate(
    app: &mut App,
    slug: &Slug,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    format: ReportFormat,
    output: Option<&Path>,
) -> Result<(Option<String>, usize)> {
    if since >= until {
        return Err(Error::Invalid(format!(
            "--since {} is not before --until {}",
            since.to_rfc3339(),
            until.to_rfc3339()
        )));
    }
    let now = Utc::now();
    let (ws, version, rows, precision) = app.store().read(|tx| {
        let ws = workspaces::require(tx, slug)?;
        let version = super::effective(tx, ws.id)?.version;
        let rows = tx.alert_sla_created_between(ws.id, since, until)?;
        let precision = tx
            .integrations(ws.id)?
            .iter()
            .map(|i| i.poll_interval_secs)
            .max()
            .unwrap_or(0);
        Ok::<_, Error>((ws, version, rows, precision))
    })?;
    let observed: Vec<Observed> = rows
        .iter()
        .filter_map(|r| {
            Some(Observed {
                alert_id: r.alert_id.clone(),
                severity: severity(r.severity),
                created_at: to_ts(r.created_at)?,
                tta_due: r.tta_due.and_then(to_ts),
                ttr_due: r.ttr_due.and_then(to_ts),
                acknowledged_at: r.acknowledged_at.and_then(to_ts),
                resolved_at: r.resolved_at.and_then(to_ts),
            })
        })
        .collect();
    let report = seliq_sla::summarise(&observed, ts(now)?);
    let meta = ReportMeta {
        workspace: slug.to_string(),
        since: ts(since)?,
        until: ts(until)?,
        generated_at: ts(now)?,
        policy_version: version,
        precision_secs: precision,
    };
    let text = match format {
        ReportFormat::Csv => seliq_sla::render_csv(&meta, &report),
        ReportFormat::Json => seliq_sla::render_json(&meta, &report),
        ReportFormat::Html => seliq_sla::render_html(&meta, &report),
    };
    if let Some(path) = output {
        crate::fs_atomic::write_atomic(path, text.as_bytes()).map_err(|e| {
            Error::Runtime(format!(
                "cannot write the report to {}: {e}",
                path.display()
            ))
        })?;
    }
    let who = app.who().clone();
    app.store().write(|tx| {
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(Action::ReportGenerated, slug.as_str(), Outcome::Success).details(json!({
                "format": format.as_str(),
                "since": since.to_rfc3339(),
                "until": until.to_rfc3339(),
                "alerts": observed.len(),
                "policy_version": version,
                "output": output.map(|p| p.display().to_string()),
            })),
        )
    })?;
    Ok((output.is_none().then_some(text), observed.len()))
}
