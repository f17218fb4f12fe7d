//! Seeded events and ES notables, each kept with its result row pre-serialised so pages are
//! spliced together instead of rebuilt.

use std::sync::Arc;

use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::spl::Fields;

/// The mock indexer's GUID; ES builds `event_id` from it.
pub const INDEXER_GUID: &str = "5C3E4B6A-1F2D-4E8B-9A7C-0D1E2F3A4B5C";

/// splitmix64: small, seeded, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5151_7A7A_0000_0001)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// ES notable status as the `notable` macro resolves it (a KV-store lookup, not index data).
#[derive(Debug, Clone)]
pub struct NotableState {
    pub event_id: String,
    pub status: u8,
    pub owner: String,
    pub urgency: String,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub index: String,
    pub cd: String,
    pub time_ms: i64,
    pub indextime: i64,
    /// `_indextime` well after `_time`.
    pub late: bool,
    /// Every field of the stored row, for the search matcher.
    pub fields: Vec<(String, String)>,
    /// The row as `search index=…` returns it.
    pub row: Arc<str>,
    /// For ES notables: the macro's enrichment and the row `` `notable` `` returns.
    pub notable: Option<(NotableState, Arc<str>)>,
}

impl Event {
    pub fn event_id(&self) -> Option<&str> {
        self.notable.as_ref().map(|(n, _)| n.event_id.as_str())
    }

    /// Rebuilds the macro row after a status change.
    pub fn set_notable(&mut self, state: NotableState) {
        let row = notable_row(&self.fields, &state);
        self.notable = Some((state, row));
    }
}

/// The matcher's view of one event, with or without the macro's fields.
pub struct View<'a> {
    pub event: &'a Event,
    pub notable: bool,
}

impl Fields for View<'_> {
    fn values(&self, name: &str) -> Vec<&str> {
        if self.notable
            && let Some((n, _)) = &self.event.notable
        {
            match name {
                "event_id" | "rule_id" => return vec![n.event_id.as_str()],
                "status" => return vec![status_code(n.status)],
                "status_label" => return vec![status_label(n.status)],
                "owner" => return vec![n.owner.as_str()],
                "urgency" => return vec![n.urgency.as_str()],
                _ => {}
            }
        }
        self.event
            .fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub fn status_label(s: u8) -> &'static str {
    match s {
        0 => "Unassigned",
        1 => "New",
        2 => "In Progress",
        3 => "Pending",
        4 => "Resolved",
        _ => "Closed",
    }
}

fn status_code(s: u8) -> &'static str {
    ["0", "1", "2", "3", "4", "5"][usize::from(s.min(5))]
}

pub fn iso_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

const HOSTS: &[&str] = &["web-01", "web-02", "db-01", "vpn-gw", "dc-01", "mail-01"];
const ACTIONS: &[&str] = &["allowed", "blocked", "failure", "success"];
const USERS: &[&str] = &["alice", "bob", "carol", "dave", "svc_backup", "admin"];
const SEVERITIES: &[&str] = &["informational", "low", "medium", "high", "critical"];
const RULES: &[(&str, &str, &str)] = &[
    (
        "Brute Force Access Behavior Detected",
        "Access",
        "Brute force access on $dest$",
    ),
    (
        "Excessive Failed Logins",
        "Access",
        "Excessive failed logins by $user$",
    ),
    ("Malware Detected on Host", "Endpoint", "Malware on $dest$"),
    (
        "Unusual Outbound Traffic",
        "Network",
        "Unusual outbound traffic from $src$",
    ),
    ("Threat Intel Match", "Threat", "Threat activity from $src$"),
];

/// Inputs for one new event; the store assigns `_cd`.
pub struct Draft {
    pub index: String,
    pub time_ms: i64,
    pub indextime: i64,
    pub late: bool,
    /// `Some(orig_index)` makes an ES notable in the `notable` index.
    pub notable_for: Option<String>,
}

/// Builds the stored event: fields, raw text and pre-serialised rows.
pub fn build_event(d: Draft, cd: String, serial: u64, rng: &mut Rng) -> Event {
    let host = rng.pick(HOSTS).to_owned();
    let user = rng.pick(USERS).to_owned();
    let src = format!(
        "10.{}.{}.{}",
        rng.range(0, 8),
        rng.range(0, 255),
        rng.range(1, 255)
    );
    let dest = format!("192.168.{}.{}", rng.range(0, 16), rng.range(1, 255));
    let severity = rng.pick(SEVERITIES).to_owned();
    let time = iso_time(d.time_ms);
    let time_epoch = format!("{:.3}", d.time_ms as f64 / 1000.0);
    let mut f: Vec<(String, String)> = Vec::with_capacity(24);
    let mut notable = None;
    let (sourcetype, source, raw) = match &d.notable_for {
        None => {
            let action = rng.pick(ACTIONS);
            let raw = format!(
                "{time} host={host} action={action} src={src} dest={dest} user={user} severity={severity} msg=\"auth {action} for {user}\""
            );
            f.push(("action".into(), action.into()));
            ("linux_secure".to_owned(), "/var/log/secure".to_owned(), raw)
        }
        Some(orig_index) => {
            let (rule, domain, title) = RULES[(rng.next_u64() % RULES.len() as u64) as usize];
            let search_name = format!("{domain} - {rule} - Rule");
            let raw = format!(
                "{time_epoch}, search_name=\"{search_name}\", orig_index=\"{orig_index}\", orig_host=\"{host}\", src=\"{src}\", dest=\"{dest}\", user=\"{user}\", severity=\"{severity}\""
            );
            f.push(("orig_index".into(), orig_index.clone()));
            f.push(("orig_host".into(), host.clone()));
            f.push((
                "orig_time".into(),
                format!("{:.3}", (d.time_ms - 60_000) as f64 / 1000.0),
            ));
            f.push(("search_name".into(), search_name.clone()));
            f.push(("rule_name".into(), rule.into()));
            f.push(("rule_title".into(), title.into()));
            f.push(("rule_description".into(), format!("{rule} ({domain})")));
            f.push(("security_domain".into(), domain.to_lowercase()));
            f.push((
                "info_min_time".into(),
                format!("{:.3}", (d.time_ms - 300_000) as f64 / 1000.0),
            ));
            f.push(("info_max_time".into(), time_epoch.clone()));
            let hash = Sha256::digest(format!("{}|{cd}", d.index).as_bytes());
            let urgency = urgency(&severity, &host);
            notable = Some(NotableState {
                event_id: format!("{INDEXER_GUID}@@notable@@{}", hex32(&hash)),
                status: 1,
                owner: "unassigned".into(),
                urgency,
            });
            ("stash".to_owned(), search_name, raw)
        }
    };
    let bkt = format!(
        "{}~{}~{INDEXER_GUID}",
        d.index,
        cd.split(':').next().unwrap_or("0")
    );
    f.extend([
        ("_bkt".to_owned(), bkt),
        ("_cd".to_owned(), cd.clone()),
        ("_indextime".to_owned(), d.indextime.to_string()),
        ("_raw".to_owned(), raw),
        ("_serial".to_owned(), serial.to_string()),
        ("_si".to_owned(), "mock-idx-01".to_owned()),
        ("_si".to_owned(), d.index.clone()),
        ("_sourcetype".to_owned(), sourcetype.clone()),
        ("_time".to_owned(), time),
        ("dest".to_owned(), dest),
        ("host".to_owned(), host),
        ("index".to_owned(), d.index.clone()),
        ("linecount".to_owned(), "1".to_owned()),
        ("severity".to_owned(), severity),
        ("source".to_owned(), source),
        ("sourcetype".to_owned(), sourcetype),
        ("splunk_server".to_owned(), "mock-idx-01".to_owned()),
        ("src".to_owned(), src),
        ("user".to_owned(), user),
    ]);
    f.sort_by(|a, b| a.0.cmp(&b.0));
    let row = plain_row(&f);
    let mut e = Event {
        index: d.index,
        cd,
        time_ms: d.time_ms,
        indextime: d.indextime,
        late: d.late,
        fields: f,
        row,
        notable: None,
    };
    if let Some(n) = notable {
        e.set_notable(n);
    }
    e
}

/// ES urgency: severity weighted by the asset's priority (the domain controller is critical).
fn urgency(severity: &str, host: &str) -> String {
    let bump = host == "dc-01";
    match (severity, bump) {
        ("critical", _) | ("high", true) => "critical",
        ("high", false) | ("medium", true) => "high",
        ("medium", false) | ("low", true) => "medium",
        ("low", false) => "low",
        _ => "informational",
    }
    .to_owned()
}

fn hex32(b: &[u8]) -> String {
    b.iter().take(16).map(|x| format!("{x:02X}")).collect()
}

/// A row as Splunk writes it: multivalue fields (`_si`) become arrays.
fn to_json_map(fields: &[(String, String)]) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in fields {
        match m.get_mut(k) {
            None => {
                m.insert(k.clone(), Value::String(v.clone()));
            }
            Some(Value::Array(a)) => a.push(Value::String(v.clone())),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, Value::String(v.clone())]);
            }
        }
    }
    m
}

fn plain_row(fields: &[(String, String)]) -> Arc<str> {
    Arc::from(Value::Object(to_json_map(fields)).to_string())
}

fn notable_row(fields: &[(String, String)], n: &NotableState) -> Arc<str> {
    let mut m = to_json_map(fields);
    let extra = json!({
        "event_id": n.event_id,
        "rule_id": n.event_id,
        "status": status_code(n.status),
        "status_label": status_label(n.status),
        "status_description": format!("Notable is {}", status_label(n.status).to_lowercase()),
        "owner": n.owner,
        "owner_realname": n.owner,
        "urgency": n.urgency,
        "disposition": "disposition:6",
        "disposition_label": "Undetermined",
    });
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Arc::from(Value::Object(m).to_string())
}
