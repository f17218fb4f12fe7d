//! The mock's data: incidents kept pre-serialised, indexed by `(lastModifiedTimeUtc, name)` so
//! the common query (modified since T, ascending) is a range scan.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::SentinelMockConfig;

/// One incident as the service stores it.
#[derive(Debug, Clone)]
pub(crate) struct Incident {
    pub name: String,
    pub number: u64,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub severity: String,
    pub status: String,
    pub title: String,
    pub alerts: u32,
    pub rule: String,
    /// The JSON served for this incident, rebuilt on every change.
    pub json: String,
}

/// Counters tests read to check what the connector did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentinelMockStats {
    pub token_requests: u64,
    pub tokens_issued: u64,
    pub list_requests: u64,
    pub alert_requests: u64,
    /// Data calls answered 429 by an injected fault.
    pub throttled: u64,
    /// Data calls answered 5xx by an injected fault.
    pub server_errors: u64,
    /// Data calls refused with 401 (expired, unknown or missing token).
    pub unauthorized: u64,
    /// Requests answered 400 (bad `$top`, `$filter`, `$skipToken`, api-version, token form).
    pub bad_requests: u64,
    /// The last 1,000 list queries, decoded: what the connector asked for.
    pub list_queries: Vec<ListQuery>,
}

/// One `Incidents_List` request as the mock decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub api_version: Option<String>,
    pub filter: Option<String>,
    pub orderby: Option<String>,
    pub top: Option<String>,
    pub skip_token: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub throttle: u32,
    pub throttle_retry_after: u64,
    pub server_errors: u32,
    pub server_error_status: u16,
    pub token_endpoint_errors: u32,
    pub unauthorized: u32,
    pub garbled_pages: u32,
}

pub(crate) struct State {
    pub cfg: SentinelMockConfig,
    pub incidents: Vec<Incident>,
    pub by_name: HashMap<String, usize>,
    /// `(lastModifiedTimeUtc, name)`: the order `$orderby=properties/lastModifiedTimeUtc asc`
    /// serves, ties broken by name as the continuation token expects.
    pub by_modified: BTreeSet<(DateTime<Utc>, String)>,
    /// Every `(name, lastModifiedTimeUtc)` that was ever current.
    pub history: Vec<(String, String)>,
    /// Issued access tokens and when they expire.
    pub tokens: HashMap<String, DateTime<Utc>>,
    pub faults: Faults,
    pub stats: SentinelMockStats,
    pub remaining_reads: u32,
    /// The newest timestamp handed out, so every change is strictly newer than the last.
    pub clock: DateTime<Utc>,
    rng: SplitMix,
    next_number: u64,
    pub request_seq: u64,
}

impl State {
    pub fn new(cfg: SentinelMockConfig) -> State {
        let mut s = State {
            rng: SplitMix(cfg.seed ^ 0x5e17_1e1a),
            remaining_reads: cfg.remaining_reads,
            clock: cfg.base_time,
            incidents: Vec::with_capacity(cfg.incidents),
            by_name: HashMap::with_capacity(cfg.incidents),
            by_modified: BTreeSet::new(),
            history: Vec::with_capacity(cfg.incidents),
            tokens: HashMap::new(),
            faults: Faults::default(),
            stats: SentinelMockStats::default(),
            next_number: 1,
            request_seq: 0,
            cfg,
        };
        let n = s.cfg.incidents;
        let span_ns = s.cfg.span.as_nanos() as i128;
        for i in 0..n {
            // Groups of three share one lastModifiedTimeUtc, as bulk updates do, so ties fall on
            // page boundaries.
            let slot = ((i / 3) * 3) as i128;
            let offset = span_ns * slot / (n.max(1) as i128);
            let offset = chrono::Duration::nanoseconds(i64::try_from(offset).unwrap_or(i64::MAX));
            let modified = tick(s.cfg.base_time + offset);
            let created = modified - chrono::Duration::minutes(i64::from(s.rng.below(120) as u32));
            s.insert_new(created, modified);
        }
        s.clock = s
            .incidents
            .iter()
            .map(|i| i.modified)
            .max()
            .unwrap_or(s.cfg.base_time);
        s
    }

    /// A timestamp strictly newer than any handed out so far, and not before the wall clock.
    pub fn now(&mut self) -> DateTime<Utc> {
        let next = tick(Utc::now()).max(self.clock + chrono::Duration::nanoseconds(100));
        self.clock = next;
        next
    }

    pub fn newest_modified(&self) -> Option<DateTime<Utc>> {
        self.by_modified.last().map(|(t, _)| *t)
    }

    pub fn insert_new(&mut self, created: DateTime<Utc>, modified: DateTime<Utc>) -> String {
        let number = self.next_number;
        self.next_number += 1;
        let name = self.rng.guid();
        let odd =
            self.cfg.odd_enum_every > 0 && number.is_multiple_of(self.cfg.odd_enum_every as u64);
        let severity = if odd && number.is_multiple_of(2) {
            // modelAsString: values outside the documented High|Medium|Low|Informational.
            ["Critical", "Unknown"][self.rng.below(2) as usize]
        } else {
            ["High", "Medium", "Low", "Informational"][self.rng.below(4) as usize]
        };
        let status = if odd && number % 2 == 1 {
            ["InProgress", "Resolved"][self.rng.below(2) as usize]
        } else {
            ["New", "New", "Active", "Closed"][self.rng.below(4) as usize]
        };
        let title = TITLES[self.rng.below(TITLES.len() as u64) as usize].to_owned();
        let rule = self.rng.guid();
        let mut inc = Incident {
            name: name.clone(),
            number,
            created,
            modified,
            severity: severity.to_owned(),
            status: status.to_owned(),
            title,
            alerts: 1 + self.rng.below(3) as u32,
            rule,
            json: String::new(),
        };
        inc.json = self.render(&inc);
        let idx = self.incidents.len();
        self.by_modified.insert((modified, name.clone()));
        self.by_name.insert(name.clone(), idx);
        self.history.push((name.clone(), arm_time(modified)));
        self.incidents.push(inc);
        name
    }

    /// Apply a change to one incident and give it a new `lastModifiedTimeUtc`.
    pub fn modify(&mut self, idx: usize, change: impl FnOnce(&mut Incident)) {
        let modified = self.now();
        let Some(inc) = self.incidents.get_mut(idx) else {
            return;
        };
        let old = inc.modified;
        change(inc);
        inc.modified = modified;
        let mut inc = inc.clone();
        inc.json = self.render(&inc);
        self.by_modified.remove(&(old, inc.name.clone()));
        self.by_modified.insert((modified, inc.name.clone()));
        self.history.push((inc.name.clone(), arm_time(modified)));
        self.incidents[idx] = inc;
    }

    pub fn pick(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    pub fn guid(&mut self) -> String {
        self.rng.guid()
    }

    pub fn workspace_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}",
            self.cfg.subscription_id, self.cfg.resource_group, self.cfg.workspace_name
        )
    }

    fn render(&self, i: &Incident) -> String {
        let ws = self.workspace_id();
        let id = format!(
            "{ws}/providers/Microsoft.SecurityInsights/Incidents/{}",
            i.name
        );
        let closed = i.status == "Closed";
        let owner = if i.number.is_multiple_of(5) {
            json!({"objectId": "2046feea-040d-4a46-9e2b-91c2941bfa70", "email": "analyst@contoso.com",
                   "assignedTo": "Analyst One", "userPrincipalName": "analyst@contoso.com", "ownerType": "User"})
        } else {
            json!({"objectId": null, "email": null, "assignedTo": null, "userPrincipalName": null,
                   "ownerType": if i.number.is_multiple_of(7) { "Group" } else { "Unknown" }})
        };
        let mut props = json!({
            "title": i.title,
            "description": format!("Incident {} raised by analytic rule {}.", i.number, i.rule),
            "severity": i.severity,
            "status": i.status,
            "owner": owner,
            "labels": if i.number.is_multiple_of(4) { json!([{"labelName": "mssp", "labelType": "User"}]) } else { json!([]) },
            "firstActivityTimeUtc": arm_time(i.created - chrono::Duration::minutes(5)),
            "lastActivityTimeUtc": arm_time(i.created),
            "lastModifiedTimeUtc": arm_time(i.modified),
            "createdTimeUtc": arm_time(i.created),
            "incidentNumber": i.number,
            "additionalData": {
                "alertsCount": i.alerts,
                "bookmarksCount": 0,
                "commentsCount": i.number % 3,
                "alertProductNames": ["Azure Sentinel"],
                "tactics": ["InitialAccess", "Persistence"],
                "techniques": ["T1078"],
            },
            "relatedAnalyticRuleIds": [format!("{ws}/providers/Microsoft.SecurityInsights/alertRules/{}", i.rule)],
            "incidentUrl": format!("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{id}"),
            "providerName": "Azure Sentinel",
            "providerIncidentId": i.number.to_string(),
        });
        if closed {
            props["classification"] = json!("BenignPositive");
            props["classificationReason"] = json!("SuspiciousButExpected");
            props["classificationComment"] = json!("Known pen-test window");
        }
        json!({
            "id": id,
            "name": i.name,
            "etag": format!("\"{:08x}-0000-0d00-0000-{:012x}\"", i.number, nanos_of(i.modified) & 0xffff_ffff_ffff),
            "type": "Microsoft.SecurityInsights/Incidents",
            "properties": props,
        })
        .to_string()
    }

    /// The incident's alerts, built on demand (`POST …/alerts`).
    pub fn alerts_json(&self, i: &Incident) -> String {
        let ws = self.workspace_id();
        let alerts: Vec<serde_json::Value> = (0..i.alerts)
            .map(|k| {
                let sys = format!("{}-{k:04}", &i.name[..23]);
                json!({
                    "id": format!("{ws}/providers/Microsoft.SecurityInsights/Entities/{sys}"),
                    "name": sys,
                    "type": "Microsoft.SecurityInsights/Entities",
                    "kind": "SecurityAlert",
                    "properties": {
                        "systemAlertId": sys,
                        "alertDisplayName": i.title,
                        "severity": i.severity,
                        "status": "New",
                        "productName": "Azure Sentinel",
                        "vendorName": "Microsoft",
                        "alertType": format!("{}_{}", ws.rsplit('/').next().unwrap_or(""), i.rule),
                        "startTimeUtc": arm_time(i.created - chrono::Duration::minutes(5)),
                        "endTimeUtc": arm_time(i.created),
                        "timeGenerated": arm_time(i.created),
                        "friendlyName": i.title,
                        "resourceIdentifiers": [{
                            "type": "LogAnalytics",
                            "workspaceId": "b3a7e0f4-0f5e-4d53-9a6e-2ad1b1d0c4f1",
                            "subscriptionId": self.cfg.subscription_id,
                            "resourceGroup": self.cfg.resource_group,
                        }],
                        "additionalData": {"Query Period": "00:05:00"},
                    }
                })
            })
            .collect();
        json!({ "value": alerts }).to_string()
    }
}

/// ARM's time format: seven fractional digits and `Z`.
pub(crate) fn arm_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// Truncate to ARM's 100 ns resolution.
fn tick(t: DateTime<Utc>) -> DateTime<Utc> {
    let sub = t.timestamp_subsec_nanos();
    t - chrono::Duration::nanoseconds(i64::from(sub % 100))
}

fn nanos_of(t: DateTime<Utc>) -> u64 {
    u64::try_from(super::query::nanos(t)).unwrap_or(0)
}

pub(crate) fn duration_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
}

const TITLES: [&str; 8] = [
    "Multiple failed sign-ins followed by a success",
    "Suspicious PowerShell command line on FIN-WS-042",
    "Sign-in from a \"Tor\" exit node — admin@contoso.com",
    "Mass download by a single user",
    "Rare subscription-level operation",
    "Connexion suspecte depuis une adresse IP inhabituelle",
    "Impossible travel: Paris → Sydney in 20 min",
    "Credential dumping tool detected (mimikatz)",
];

/// A small deterministic generator: the same seed always gives the same data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn guid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}
