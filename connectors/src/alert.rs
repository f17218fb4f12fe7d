//! The normalised alert, schema `seliq.alert/v1`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

pub const ALERT_SCHEMA: &str = "seliq.alert/v1";

/// Severity buckets shared by every vendor. Each vendor module documents its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert stands in its response lifecycle, whatever the vendor calls it: what SLA
/// attainment measures (time to acknowledge, time to resolve). Each vendor's mapping documents
/// its own table from status (and owner) to stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Stage {
    /// New, unassigned, or reopened.
    #[default]
    Open,
    /// Someone took it: the status left new/unassigned, or an owner was set.
    Acknowledged,
    /// Closed or resolved.
    Resolved,
}

/// One version of one vendor alert, normalised. The gateway adds `workspace` and `integration`
/// when it writes the line; everything else is decided here.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub event_id: String,
    pub source: String,
    pub vendor: crate::Kind,
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub status: String,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// See [`AlertParts::created_stable`]; not a field of the line itself.
    #[serde(skip)]
    pub created_stable: bool,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub link: Option<String>,
    /// Derived from `status` (and the vendor's owner field); not a field of the line itself.
    #[serde(skip)]
    pub stage: Stage,
    /// The vendor's object as received: never re-serialised from a parsed tree. Line breaks
    /// between tokens become spaces (one alert, one line); every other byte is kept.
    pub raw: Box<RawValue>,
}

/// The fields a vendor mapping decides; [`Alert::new`] derives the rest. Owned and separate from
/// `raw`, so a mapping can read them from a view borrowing the raw text, then move `raw` in.
pub struct AlertParts {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// `created_at` is the vendor's own creation time, the same in every version of the alert.
    /// False when the mapping fell back to something a later version changes (the last-modified
    /// time of a record without a creation time): the SLA ledger files such an alert apart, since
    /// it cannot use the creation time to find the alert again.
    pub created_stable: bool,
    pub updated_at: DateTime<Utc>,
    /// The vendor's own last-modified value, verbatim (CrowdStrike keeps 9 fractional digits).
    /// It feeds `event_id`, so two versions that differ below a microsecond stay distinct.
    pub version: String,
    pub link: Option<String>,
    pub stage: Stage,
}

impl Alert {
    pub fn new(source: &str, vendor: crate::Kind, parts: AlertParts, raw: Box<RawValue>) -> Alert {
        let raw = one_line(raw);
        Alert {
            event_id: event_id(source, &parts.id, &parts.version),
            source: source.to_owned(),
            vendor,
            id: parts.id,
            title: parts.title,
            severity: parts.severity,
            status: parts.status,
            created_at: parts.created_at,
            created_stable: parts.created_stable,
            updated_at: parts.updated_at,
            link: parts.link,
            stage: parts.stage,
            raw,
        }
    }
}

/// Deterministic id of one alert version: the same (source, vendor id, vendor last-modified)
/// always gives the same value, so a consumer can drop a repeat. Fields are length-prefixed so
/// `("ab","c")` and `("a","bc")` cannot collide.
pub fn event_id(source: &str, vendor_id: &str, version: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"seliq.alert/v1 event_id\0");
    for part in [source, vendor_id, version] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    hex::encode(&digest[..16])
}

/// `raw` with its line breaks turned into spaces, so the alert stays one NDJSON line. Found by
/// fuzzing: a vendor (or a proxy) that pretty-prints its JSON sends CR/LF between tokens, and
/// `raw` was written verbatim, splitting one alert over several lines. In valid JSON a CR or LF
/// can only be whitespace between tokens (inside a string it must be escaped), so a space in its
/// place changes no value and keeps every other byte as received.
fn one_line(raw: Box<RawValue>) -> Box<RawValue> {
    // memchr: `str::contains` with a char set walks char by char, and this runs on every byte of
    // every alert.
    if memchr::memchr2(b'\n', b'\r', raw.get().as_bytes()).is_none() {
        return raw;
    }
    let flat = raw.get().replace(['\n', '\r'], " ");
    // Proven invariant: swapping inter-token whitespace for a space keeps the JSON valid.
    RawValue::from_string(flat).unwrap_or(raw)
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_is_deterministic_and_version_sensitive() {
        let a = event_id("crowdstrike:abc", "x:1", "2026-01-01T00:00:00.123456789Z");
        assert_eq!(
            a,
            event_id("crowdstrike:abc", "x:1", "2026-01-01T00:00:00.123456789Z")
        );
        assert_ne!(
            a,
            event_id("crowdstrike:abc", "x:1", "2026-01-01T00:00:00.123456788Z")
        );
        assert_ne!(event_id("ab", "c", "v"), event_id("a", "bc", "v"));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn a_pretty_printed_record_stays_on_one_line() {
        let raw = RawValue::from_string("{\r\n  \"a\": \"x\\ny\",\n  \"b\": [1,\n2]\n}".to_owned())
            .unwrap();
        let parts = AlertParts {
            id: "i".into(),
            title: "t".into(),
            severity: Severity::Low,
            status: "new".into(),
            created_at: Utc::now(),
            created_stable: true,
            updated_at: Utc::now(),
            version: "v".into(),
            link: None,
            stage: Stage::Open,
        };
        let a = Alert::new("s", crate::Kind::Crowdstrike, parts, raw);
        let line = serde_json::to_string(&a).unwrap();
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        let back: serde_json::Value = serde_json::from_str(a.raw.get()).unwrap();
        assert_eq!(back, serde_json::json!({"a": "x\ny", "b": [1, 2]}));
    }

    #[test]
    fn severity_serialises_lowercase() {
        assert_eq!(
            serde_json::to_string(&Severity::Informational).unwrap(),
            "\"informational\""
        );
        assert!(Severity::Critical > Severity::High);
    }
}
