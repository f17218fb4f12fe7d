//! Seeded, deterministic Falcon alerts per CID, each kept pre-serialised for cheap pages.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::json;

/// splitmix64: tiny, seedable, good enough for fixture data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn hex(&mut self, len: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        (0..len)
            .map(|_| HEX[(self.next() & 15) as usize] as char)
            .collect()
    }
}

/// Nanoseconds since the epoch as the vendor prints `updated_timestamp`: 9 fractional digits.
pub(crate) fn fmt_nanos(ns: i64) -> String {
    fmt(ns, "%Y-%m-%dT%H:%M:%S%.9fZ")
}

/// As the vendor prints `timestamp`: milliseconds.
fn fmt_millis(ns: i64) -> String {
    fmt(ns, "%Y-%m-%dT%H:%M:%S%.3fZ")
}

fn fmt(ns: i64, pattern: &str) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns)
        .format(pattern)
        .to_string()
}

pub(crate) fn nanos_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// The kinds of alert the mock produces, weighted towards endpoint detections.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `product: epp, type: ldt`, with `severity_name`.
    Ldt,
    /// An endpoint detection without `severity_name` (seen in real data).
    LdtNoName,
    Ods,
    Idp,
}

impl Kind {
    fn pick(seed: u64) -> Kind {
        match seed % 8 {
            0..=3 => Kind::Ldt,
            4 => Kind::LdtNoName,
            5 => Kind::Ods,
            _ => Kind::Idp,
        }
    }
}

/// One stored alert: the fields the mock filters and sorts on, and its JSON.
#[derive(Debug, Clone)]
pub(crate) struct AlertRec {
    pub composite_id: String,
    pub updated_ns: i64,
    pub created_ns: i64,
    pub timestamp_ns: i64,
    pub status: &'static str,
    pub product: &'static str,
    pub kind: &'static str,
    pub severity: u8,
    /// Everything else in the JSON derives from this, so an update re-renders the same alert.
    seed: u64,
    /// What kind of document the alert renders as; kept across updates.
    pub shape: Shape,
    pub json: String,
}

/// How an alert's JSON is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A detection with every documented field.
    Full,
    /// An automated lead: `score`, but neither `severity` nor `severity_name`.
    AutomatedLead { score: u8 },
    /// A detection whose returned document lacks one field the index still holds (it is found
    /// and sorted as usual, but the client cannot read it).
    Defective(super::Defect),
}

pub(crate) const STATUSES: [&str; 4] = ["new", "in_progress", "closed", "reopened"];

const NAMES: [(&str, &str, &str, &str); 6] = [
    (
        "PrewittPupAdwareSensorDetect-Lowest",
        "Adware/PUP detected",
        "Machine Learning",
        "CSTA0004",
    ),
    (
        "CredentialDumpingLsass",
        "Credential dumping from LSASS",
        "Credential Access",
        "TA0006",
    ),
    (
        "SuspiciousPowerShellEncoded",
        "Encoded PowerShell command",
        "Execution",
        "TA0002",
    ),
    (
        "RansomwareFileEncryption",
        "Ransomware-like file encryption",
        "Impact",
        "TA0040",
    ),
    (
        "LateralMovementPsExec",
        "PsExec lateral movement",
        "Lateral Movement",
        "TA0008",
    ),
    (
        "IdpPolicyIdentityVerificationDenied",
        "Identity verification denied",
        "Credential Access",
        "TA0006",
    ),
];

const SEVERITIES: [(u8, &str); 5] = [
    (10, "Informational"),
    (30, "Low"),
    (50, "Medium"),
    (70, "High"),
    (90, "Critical"),
];

/// All alerts of one CID, indexed for `updated_timestamp|asc` paging.
#[derive(Debug)]
pub(crate) struct Tenant {
    pub cid: String,
    pub alerts: Vec<AlertRec>,
    pub by_id: HashMap<String, usize>,
    /// `(updated_ns, index)`: the order `updated_timestamp|asc` serves, ties by index.
    pub order: BTreeSet<(i64, usize)>,
    /// Bumped on every change, so cached totals go stale.
    pub version: u64,
    rng: Rng,
}

impl Tenant {
    /// `count` alerts with `updated_timestamp` spread evenly over `[start, start + span)`.
    pub fn seeded(cid: &str, seed: u64, count: usize, start_ns: i64, span_ns: i64) -> Tenant {
        let mut cid_seed = seed;
        for b in cid.bytes() {
            cid_seed = cid_seed.rotate_left(5) ^ u64::from(b);
        }
        let mut t = Tenant {
            cid: cid.to_owned(),
            alerts: Vec::with_capacity(count),
            by_id: HashMap::with_capacity(count),
            order: BTreeSet::new(),
            version: 0,
            rng: Rng::new(cid_seed),
        };
        let step = if count == 0 {
            0
        } else {
            (span_ns / count as i64).max(1)
        };
        for i in 0..count {
            let jitter = t.rng.below(step.max(1) as u64) as i64;
            let updated = start_ns + step * i as i64 + jitter;
            t.push(updated);
        }
        t
    }

    /// Adds a new alert last updated at `updated_ns`; returns its composite id.
    pub fn push(&mut self, updated_ns: i64) -> String {
        self.push_shaped(updated_ns, Shape::Full)
    }

    /// Adds a new alert of the given shape; returns its composite id.
    pub fn push_shaped(&mut self, updated_ns: i64, shape: Shape) -> String {
        self.insert(updated_ns, shape, false)
    }

    /// Adds a new alert created at `at` and not updated since (`created_timestamp` =
    /// `updated_timestamp` = `at`); returns its composite id.
    pub fn push_created(&mut self, at: i64) -> String {
        self.insert(at, Shape::Full, true)
    }

    fn insert(&mut self, updated_ns: i64, shape: Shape, created_now: bool) -> String {
        let seed = self.rng.next();
        let mut g = Rng::new(seed);
        let kind = Kind::pick(seed);
        let aid = g.hex(32);
        let composite_id = match (shape, kind) {
            // Observed composite id kind `automated-lead` (facts §4).
            (Shape::AutomatedLead { .. }, _) => {
                format!("{}:automated-lead:{}:{}", self.cid, self.cid, g.hex(32))
            }
            (_, Kind::Ldt | Kind::LdtNoName) => format!(
                "{}:ind:{aid}:{}-{}-{}",
                self.cid,
                100_000_000_000 + g.below(900_000_000_000),
                5700 + g.below(100),
                g.below(100_000_000)
            ),
            (_, Kind::Ods) => format!("{}:ods:{}:{}", self.cid, self.cid, g.hex(32)),
            (_, Kind::Idp) => format!("{}:ind:{}:{}", self.cid, self.cid, uuidish(&mut g)),
        };
        // Creation precedes the last update by up to ten minutes; the sensor's own
        // `timestamp` precedes creation by up to a minute.
        let before_update = (g.below(600_000) as i64) * 1_000_000;
        let created_ns = if created_now {
            updated_ns
        } else {
            updated_ns - before_update
        };
        let timestamp_ns = created_ns - (g.below(60_000) as i64) * 1_000_000;
        let (product, type_) = match (shape, kind) {
            // The product of automated leads is not in the facts; `xdr` is a guess.
            (Shape::AutomatedLead { .. }, _) => ("xdr", "automated-lead"),
            (_, Kind::Ldt | Kind::LdtNoName) => ("epp", "ldt"),
            (_, Kind::Ods) => ("epp", "ods"),
            (_, Kind::Idp) => ("idp", "idp-user-endpoint-app-info"),
        };
        let (base, _) = SEVERITIES[g.below(5) as usize];
        let severity = match shape {
            Shape::AutomatedLead { .. } => 0,
            _ => base + g.below(10) as u8,
        };
        let mut rec = AlertRec {
            composite_id: composite_id.clone(),
            updated_ns,
            created_ns,
            timestamp_ns,
            status: "new",
            product,
            kind: type_,
            severity,
            seed,
            shape,
            json: String::new(),
        };
        rec.json = render(&self.cid, &rec);
        let idx = self.alerts.len();
        self.order.insert((updated_ns, idx));
        self.by_id.insert(composite_id.clone(), idx);
        self.alerts.push(rec);
        self.version += 1;
        composite_id
    }

    /// A new version of alert `idx`: new status, new `updated_timestamp`.
    pub fn update(&mut self, idx: usize, updated_ns: i64) {
        let Some(rec) = self.alerts.get_mut(idx) else {
            return;
        };
        self.order.remove(&(rec.updated_ns, idx));
        let next = STATUSES
            .iter()
            .position(|s| *s == rec.status)
            .map_or(0, |p| (p + 1) % STATUSES.len());
        rec.status = STATUSES[next];
        rec.updated_ns = updated_ns;
        rec.json = render(&self.cid, rec);
        self.order.insert((updated_ns, idx));
        self.version += 1;
    }

    /// Re-renders alert `idx` with a defect (same position in the index, same version).
    pub fn break_alert(&mut self, idx: usize, defect: super::Defect) {
        if let Some(rec) = self.alerts.get_mut(idx) {
            rec.shape = Shape::Defective(defect);
            rec.json = render(&self.cid, rec);
            self.version += 1;
        }
    }

    pub fn max_updated(&self) -> Option<i64> {
        self.order.last().map(|(ns, _)| *ns)
    }

    /// Indices of `n` distinct alerts, spread over the data set, picked by the tenant's seed.
    pub fn pick(&mut self, n: usize) -> Vec<usize> {
        let len = self.alerts.len();
        if len == 0 {
            return Vec::new();
        }
        let n = n.min(len);
        let mut chosen = BTreeSet::new();
        while chosen.len() < n {
            chosen.insert(self.rng.below(len as u64) as usize);
        }
        chosen.into_iter().collect()
    }
}

fn uuidish(g: &mut Rng) -> String {
    let h = g.hex(32).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The alert's JSON, written by hand as Falcon sends it (keys sorted, as in real exports).
fn render(cid: &str, r: &AlertRec) -> String {
    match r.shape {
        Shape::Full => render_detection(cid, r),
        Shape::AutomatedLead { score } => render_lead(cid, r, score),
        Shape::Defective(defect) => {
            let mut v: serde_json::Value =
                serde_json::from_str(&render_detection(cid, r)).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                match defect {
                    super::Defect::NoCompositeId => {
                        o.remove("composite_id");
                    }
                    super::Defect::NoUpdatedTimestamp => {
                        o.remove("updated_timestamp");
                    }
                    super::Defect::BadUpdatedTimestamp => {
                        o.insert("updated_timestamp".into(), json!("0000-00-00T00:00:00Z"));
                    }
                }
            }
            v.to_string()
        }
    }
}

/// An automated lead: a `score` from 0 to 100 instead of `severity`/`severity_name`.
fn render_lead(cid: &str, r: &AlertRec, score: u8) -> String {
    let id = r
        .composite_id
        .split_once(':')
        .map_or(r.composite_id.as_str(), |(_, rest)| rest);
    json!({
        "cid": cid,
        "composite_id": r.composite_id,
        "created_timestamp": fmt_nanos(r.created_ns),
        "description": "Related detections grouped into one lead for review.",
        "display_name": "Automated lead",
        "falcon_host_link": format!(
            "https://falcon.crowdstrike.com/xdr/leads/{}?_cid={cid}",
            r.composite_id
        ),
        "id": id,
        "name": "AutomatedLead",
        "product": r.product,
        "score": score,
        "show_in_ui": true,
        "status": r.status,
        "timestamp": fmt_millis(r.timestamp_ns),
        "type": r.kind,
        "updated_timestamp": fmt_nanos(r.updated_ns)
    })
    .to_string()
}

fn render_detection(cid: &str, r: &AlertRec) -> String {
    let mut g = Rng::new(r.seed);
    let kind = Kind::pick(r.seed);
    let aid = g.hex(32);
    let (name, display, tactic, tactic_id) = match kind {
        Kind::Idp => NAMES[5],
        _ => NAMES[(r.seed >> 8) as usize % 5],
    };
    let severity_name = SEVERITIES
        .iter()
        .rev()
        .find(|(floor, _)| r.severity >= *floor)
        .map_or("Informational", |(_, n)| n);
    let host = format!("WS-{:04}", g.below(5000));
    let user = format!("user{:03}", g.below(400));
    let id = r
        .composite_id
        .split_once(':')
        .map_or(r.composite_id.as_str(), |(_, rest)| rest);
    let mut v = json!({
        "agent_id": aid,
        "aggregate_id": format!("aggind:{aid}:{}", g.below(1_000_000_000_000)),
        "cid": cid,
        "cmdline": format!("\"C:\\Users\\{user}\\AppData\\Local\\Temp\\setup-{}.exe\" /quiet", g.hex(6)),
        "composite_id": r.composite_id,
        "confidence": 10 + g.below(90),
        "created_timestamp": fmt_nanos(r.created_ns),
        "data_domains": [if r.product == "idp" { "Identity" } else { "Endpoint" }],
        "description": format!("{display} on host {host}; review the process tree."),
        "device": {
            "agent_version": "7.15.18513.0",
            "cid": cid,
            "device_id": aid,
            "external_ip": format!("81.2.69.{}", g.below(255)),
            "hostname": host,
            "local_ip": format!("10.{}.{}.{}", g.below(255), g.below(255), g.below(255)),
            "os_version": "Windows 11",
            "platform_name": "Windows",
            "product_type_desc": "Workstation",
            "status": "normal"
        },
        "display_name": display,
        "falcon_host_link": format!(
            "https://falcon.crowdstrike.com/activity-v2/detections/{}?_cid={cid}",
            r.composite_id
        ),
        "filename": format!("setup-{}.exe", g.hex(4)),
        "id": id,
        "name": name,
        "objective": "Falcon Detection Method",
        "pattern_id": 5700 + g.below(100),
        "platform": "Windows",
        "product": r.product,
        "scenario": "NGAV",
        "severity": r.severity,
        "severity_name": severity_name,
        "show_in_ui": true,
        "source_products": ["Falcon Insight"],
        "source_vendors": ["CrowdStrike"],
        "status": r.status,
        "tactic": tactic,
        "tactic_id": tactic_id,
        "timestamp": fmt_millis(r.timestamp_ns),
        "type": r.kind,
        "updated_timestamp": fmt_nanos(r.updated_ns),
        "user_name": user
    });
    if matches!(kind, Kind::LdtNoName)
        && let Some(o) = v.as_object_mut()
    {
        o.remove("severity_name");
        o.remove("display_name");
    }
    v.to_string()
}
