//! Falcon alert JSON → [`Alert`].
//!
//! Only the mapped fields are read, from the item's raw bytes, into borrowed strings; the rest of
//! the object is skipped and `raw` keeps the bytes exactly as received (with their 9 fractional
//! digits). [`map_alert`] is the whole per-alert cost, so a benchmark can call it directly.
//!
//! # Fields
//! | Alert | Falcon |
//! |---|---|
//! | `id` | `composite_id` (the unique key; `id` alone repeats across CIDs) |
//! | `title` | `display_name`, else `name`, else the `composite_id` |
//! | `severity` | see below |
//! | `status` | `status` verbatim (`new`, `in_progress`, `closed`, `reopened`), else `unknown` |
//! | `created_at` | `created_timestamp`, else `timestamp`, else `updated_timestamp` |
//! | `updated_at` | `updated_timestamp` (required; also the version fed to `event_id`, verbatim) |
//! | `link` | `falcon_host_link` when present and not empty |
//!
//! # Severity
//! `severity_name` wins when it is one of the Falcon UI buckets (any case):
//! `Critical` → critical, `High` → high, `Medium` → medium, `Low` → low,
//! `Informational`/`Info` → informational.
//! Otherwise the numeric `severity` (1–100) is bucketed; an alert without `severity` (an
//! automated lead carries only `score`, 0–100) has its `score` bucketed the same way:
//!
//! | `severity`, else `score` | bucket |
//! |---|---|
//! | 80–100 | critical |
//! | 60–79 | high |
//! | 40–59 | medium |
//! | 20–39 | low |
//! | below 20, or both absent | informational |
//!
//! Why these bands: the facts document `severity` as 1–100 and `severity_name` as the UI
//! bucket, but no cut-offs. Every pairing seen in real payloads fits the bands above (30 is
//! `Low`, 80 is `Critical` in detection exports), so one table serves both numbers; a lead's
//! `score` is on the same 0–100 scale and has no bucket of its own. A `score` of 21 is low.
//!
//! # Records that cannot be mapped
//! A record without `composite_id` (no identity, so no dedup) or without a readable
//! `updated_timestamp` (no version, so no cursor) is [`Unmappable`]: the connector quarantines it
//! with a reason of our own words; every other odd field only falls back.

use std::borrow::Cow;

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::cursor::Timestamp;
use crate::alert::{AlertParts, Stage};
use crate::{Alert, ConnectorError, Severity};

pub const VENDOR: &str = KIND.as_str();
/// The vendor of every alert this module maps.
pub const KIND: crate::Kind = crate::Kind::Crowdstrike;
const ENDPOINT: &str = "/alerts/combined/alerts/v1";

/// The mapped fields, borrowed from the raw item where the JSON has no escapes. Every field is
/// read leniently: a value of an unexpected type counts as absent instead of failing the alert
/// (and with it the whole pull); only a missing key or version is an error.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    composite_id: Text<'a>,
    #[serde(borrow, default)]
    display_name: Text<'a>,
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(default)]
    severity: Score,
    #[serde(borrow, default)]
    severity_name: Text<'a>,
    /// An automated lead's 0–100 score, used when `severity` is absent.
    #[serde(default)]
    score: Score,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(borrow, default)]
    created_timestamp: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    updated_timestamp: Text<'a>,
    #[serde(borrow, default)]
    falcon_host_link: Text<'a>,
    #[serde(borrow, default)]
    assigned_to_uid: Text<'a>,
    #[serde(borrow, default)]
    assigned_to_name: Text<'a>,
}

/// Status (and assignee) to stage: `closed` resolved; `in_progress`, or an assigned alert,
/// acknowledged; `new`, `reopened` (unassigned) and unknown open.
fn stage(status: Option<&str>, assigned: bool) -> Stage {
    match status {
        Some("closed") => Stage::Resolved,
        Some("in_progress") => Stage::Acknowledged,
        _ if assigned => Stage::Acknowledged,
        _ => Stage::Open,
    }
}

/// A string field, borrowed when it has no escapes; any other JSON value reads as `None`.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Text<'a>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Text<'a>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'a> Text<'a> {
    fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The value when present and not empty.
    fn non_empty(self) -> Option<Cow<'a, str>> {
        self.0.filter(|s| !s.is_empty())
    }
}

/// The numeric `severity`: a number, or a string holding one; anything else reads as `None`.
#[derive(Default)]
struct Score(Option<f64>);

impl<'de> Deserialize<'de> for Score {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Score;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Score, E> {
                Ok(Score(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Score, E> {
                Ok(Score(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Score, E> {
                Ok(Score(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Score, E> {
                Ok(Score(v.trim().parse().ok()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Score, E> {
                Ok(Score(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Score, E> {
                Ok(Score(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Score, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Score(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Score, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Score(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// One alert's key fields, read but not yet turned into an [`Alert`]: enough to decide whether
/// this version was already emitted before paying for the rest.
pub(crate) struct Parsed<'a> {
    fields: Fields<'a>,
    pub updated: Timestamp,
}

/// Why a record cannot become an [`Alert`]. The text is ours alone: it never quotes the record,
/// whose values could carry anything (including a secret pasted into a description).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmappable {
    NotAnObject,
    NoCompositeId,
    NoUpdatedTimestamp,
    BadUpdatedTimestamp,
}

impl fmt::Display for Unmappable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unmappable::NotAnObject => {
                "The record is not a JSON object with readable alert fields."
            }
            Unmappable::NoCompositeId => {
                "The alert has no composite_id, so it can be neither identified nor deduplicated."
            }
            Unmappable::NoUpdatedTimestamp => {
                "The alert has no updated_timestamp, so its version cannot be tracked."
            }
            Unmappable::BadUpdatedTimestamp => {
                "The alert's updated_timestamp is not an RFC 3339 timestamp, so its version cannot be tracked."
            }
        })
    }
}

/// A record [`Parsed::read`] refused, with its `updated_timestamp` when that much was readable
/// (it places the record in the walk's order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rejected {
    pub why: Unmappable,
    pub updated: Option<Timestamp>,
}

impl<'a> Parsed<'a> {
    pub fn read(raw: &'a RawValue) -> Result<Parsed<'a>, Rejected> {
        let reject = |why, updated| Rejected { why, updated };
        let fields: Fields<'a> =
            serde_json::from_str(raw.get()).map_err(|_| reject(Unmappable::NotAnObject, None))?;
        let updated = match fields.updated_timestamp.as_deref() {
            None => Err(Unmappable::NoUpdatedTimestamp),
            Some(s) => Timestamp::parse(s).ok_or(Unmappable::BadUpdatedTimestamp),
        };
        if fields.composite_id.as_deref().is_none_or(str::is_empty) {
            return Err(reject(Unmappable::NoCompositeId, updated.ok()));
        }
        let updated = updated.map_err(|why| reject(why, None))?;
        Ok(Parsed { fields, updated })
    }

    pub fn id(&self) -> &str {
        self.fields.composite_id.as_deref().unwrap_or_default()
    }

    /// `updated_timestamp` verbatim.
    pub fn version(&self) -> &str {
        self.fields.updated_timestamp.as_deref().unwrap_or_default()
    }

    /// Everything [`Alert`] needs except the raw bytes, owned, so the borrow of `raw` can end.
    pub fn into_parts(self) -> AlertParts {
        let f = self.fields;
        let id = f.composite_id.0.map(Cow::into_owned).unwrap_or_default();
        // An unreadable creation time is not worth failing the pull over: fall back.
        let created = [&f.created_timestamp, &f.timestamp]
            .into_iter()
            .find_map(|t| t.as_deref().and_then(Timestamp::parse));
        let created_stable = created.is_some();
        let created_at = created.unwrap_or(self.updated).to_datetime();
        let title = [f.display_name, f.name]
            .into_iter()
            .find_map(Text::non_empty)
            .map(Cow::into_owned)
            .unwrap_or_else(|| id.clone());
        let assigned = f
            .assigned_to_uid
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
            || f.assigned_to_name
                .as_deref()
                .is_some_and(|s| !s.trim().is_empty());
        AlertParts {
            stage: stage(f.status.as_deref(), assigned),
            severity: severity(f.severity_name.as_deref(), f.severity.0.or(f.score.0)),
            status: f
                .status
                .non_empty()
                .map_or_else(|| "unknown".to_owned(), Cow::into_owned),
            link: f.falcon_host_link.non_empty().map(Cow::into_owned),
            version: f
                .updated_timestamp
                .0
                .map(Cow::into_owned)
                .unwrap_or_default(),
            updated_at: self.updated.to_datetime(),
            created_at,
            created_stable,
            title,
            id,
        }
    }
}

/// Maps one raw Falcon alert (an item of `resources` from `/alerts/combined/alerts/v1` or
/// `/alerts/entities/alerts/v2`) to an [`Alert`] for the source `source` (its canonical form,
/// `crowdstrike:<cid>`). `raw` ends up in the alert unchanged.
pub fn map_alert(source: &str, raw: Box<RawValue>) -> Result<Alert, ConnectorError> {
    let parts = Parsed::read(&raw)
        .map_err(|r| malformed(r.why.to_string()))?
        .into_parts();
    Ok(Alert::new(source, KIND, parts, raw))
}

/// The severity table of the module doc. `score` is the numeric `severity`, or a lead's `score`
/// when `severity` is absent.
pub fn severity(name: Option<&str>, score: Option<f64>) -> Severity {
    if let Some(name) = name {
        for (label, sev) in [
            ("critical", Severity::Critical),
            ("high", Severity::High),
            ("medium", Severity::Medium),
            ("low", Severity::Low),
            ("informational", Severity::Informational),
            ("info", Severity::Informational),
        ] {
            if name.trim().eq_ignore_ascii_case(label) {
                return sev;
            }
        }
    }
    match score {
        Some(s) if s >= 80.0 => Severity::Critical,
        Some(s) if s >= 60.0 => Severity::High,
        Some(s) if s >= 40.0 => Severity::Medium,
        Some(s) if s >= 20.0 => Severity::Low,
        _ => Severity::Informational,
    }
}

fn malformed(reason: String) -> ConnectorError {
    ConnectorError::Malformed {
        vendor: KIND,
        endpoint: ENDPOINT.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "crowdstrike:92012896127c4a948236ba7601b886b0";

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    const EPP: &str = r#"{"agent_id":"2ce412d17b334ad4adc8c1c54dbfec4b","cid":"92012896127c4a948236ba7601b886b0","cmdline":"\"C:\\Users\\x\\setup.exe\"","composite_id":"92012896127c4a948236ba7601b886b0:ind:2ce412d17b334ad4adc8c1c54dbfec4b:399748687993-5761-42627600","created_timestamp":"2023-11-03T18:01:23.995794943Z","device":{"hostname":"ABC709-1175","platform_name":"Windows"},"falcon_host_link":"https://falcon.us-2.crowdstrike.com/activity-v2/detections/x","name":"PrewittPupAdwareSensorDetect-Lowest","severity":30,"status":"new","timestamp":"2023-11-03T18:00:22.328Z","updated_timestamp":"2023-11-03T19:00:23.985007341Z"}"#;

    #[test]
    fn status_and_assignee_give_the_stage() {
        assert_eq!(stage(Some("new"), false), Stage::Open);
        assert_eq!(stage(Some("reopened"), false), Stage::Open);
        assert_eq!(stage(Some("new"), true), Stage::Acknowledged);
        assert_eq!(stage(Some("in_progress"), false), Stage::Acknowledged);
        assert_eq!(stage(Some("closed"), true), Stage::Resolved);
        assert_eq!(stage(None, false), Stage::Open);
    }

    #[test]
    fn maps_the_documented_fields_and_keeps_raw_verbatim() {
        let a = map_alert(SOURCE, raw(EPP)).unwrap();
        assert_eq!(
            a.id,
            "92012896127c4a948236ba7601b886b0:ind:2ce412d17b334ad4adc8c1c54dbfec4b:399748687993-5761-42627600"
        );
        assert_eq!(a.title, "PrewittPupAdwareSensorDetect-Lowest");
        assert_eq!(a.severity, Severity::Low);
        assert_eq!(a.status, "new");
        assert_eq!(
            a.created_at,
            chrono::DateTime::parse_from_rfc3339("2023-11-03T18:01:23.995794943Z").unwrap()
        );
        assert_eq!(
            a.updated_at,
            chrono::DateTime::parse_from_rfc3339("2023-11-03T19:00:23.985007341Z").unwrap()
        );
        assert_eq!(
            a.link.as_deref(),
            Some("https://falcon.us-2.crowdstrike.com/activity-v2/detections/x")
        );
        assert_eq!(a.raw.get(), EPP);
        assert_eq!(a.vendor, crate::Kind::Crowdstrike);
        assert_eq!(
            a.event_id,
            crate::alert::event_id(SOURCE, &a.id, "2023-11-03T19:00:23.985007341Z")
        );
    }

    #[test]
    fn display_name_wins_over_name_and_severity_name_over_the_score() {
        let a = map_alert(
            SOURCE,
            raw(r#"{"composite_id":"c:ind:a:1","display_name":"Identity verification denied","name":"IdpPolicyIdentityVerificationDenied","severity":79,"severity_name":"Critical","updated_timestamp":"2024-08-19T18:49:02.798344752Z"}"#),
        )
        .unwrap();
        assert_eq!(a.title, "Identity verification denied");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.status, "unknown");
        assert_eq!(a.link, None);
        // No created_timestamp nor timestamp: creation falls back to the update time.
        assert_eq!(a.created_at, a.updated_at);
        assert!(!a.created_stable, "a fallback changes with every version");
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let a = map_alert(
            SOURCE,
            raw(r#"{"composite_id":"c:ind:a:\u0031","display_name":"Quote \" and \\ slash","updated_timestamp":"2024-08-19T18:49:02Z"}"#),
        )
        .unwrap();
        assert_eq!(a.id, "c:ind:a:1");
        assert_eq!(a.title, "Quote \" and \\ slash");
    }

    #[test]
    fn odd_types_in_optional_fields_read_as_absent_instead_of_failing() {
        let a = map_alert(
            SOURCE,
            raw(r#"{"composite_id":"c:ind:a:1","display_name":{"x":[1,2]},"name":"Fallback","severity":"85","severity_name":null,"status":3,"created_timestamp":"soon","timestamp":"2024-08-19T18:40:00.1Z","falcon_host_link":false,"updated_timestamp":"2024-08-19T18:49:02Z"}"#),
        )
        .unwrap();
        assert_eq!(a.title, "Fallback");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.status, "unknown");
        assert_eq!(a.link, None);
        assert_eq!(
            a.created_at,
            chrono::DateTime::parse_from_rfc3339("2024-08-19T18:40:00.1Z").unwrap()
        );
        assert!(a.created_stable, "`timestamp` is the detection's own time");
    }

    #[test]
    fn severity_table() {
        use Severity::*;
        for (name, score, want) in [
            (Some("High"), Some(10.0), High),
            (Some("MEDIUM"), None, Medium),
            (Some("Informational"), Some(99.0), Informational),
            (Some("Info"), None, Informational),
            (Some("unheard-of"), Some(85.0), Critical),
            (None, Some(100.0), Critical),
            (None, Some(80.0), Critical),
            (None, Some(79.0), High),
            (None, Some(60.0), High),
            (None, Some(59.0), Medium),
            (None, Some(40.0), Medium),
            (None, Some(39.0), Low),
            (None, Some(20.0), Low),
            (None, Some(19.0), Informational),
            (None, Some(1.0), Informational),
            (None, None, Informational),
        ] {
            assert_eq!(severity(name, score), want, "{name:?} {score:?}");
        }
    }

    #[test]
    fn an_automated_lead_takes_its_severity_from_its_score() {
        let lead = |extra: &str| {
            map_alert(
                SOURCE,
                raw(&format!(
                    r#"{{"composite_id":"c:automated-lead:c:1","updated_timestamp":"2026-11-27T10:00:00Z"{extra}}}"#
                )),
            )
            .unwrap()
            .severity
        };
        assert_eq!(lead(r#","score":21"#), Severity::Low);
        assert_eq!(lead(r#","score":19.5"#), Severity::Informational);
        assert_eq!(lead(r#","score":95"#), Severity::Critical);
        // `severity`, then `severity_name`, outrank the score.
        assert_eq!(lead(r#","score":95,"severity":45"#), Severity::Medium);
        assert_eq!(lead(r#","score":95,"severity_name":"Low""#), Severity::Low);
        assert_eq!(lead(""), Severity::Informational);
    }

    #[test]
    fn reasons_are_our_own_words_and_never_quote_the_record() {
        for (bad, want) in [
            (r#"null"#, Unmappable::NotAnObject),
            (
                r#"{"updated_timestamp":"2024-08-19T18:49:02Z","description":"s3cr3t"}"#,
                Unmappable::NoCompositeId,
            ),
            (
                r#"{"composite_id":"s3cr3t:ind:1"}"#,
                Unmappable::NoUpdatedTimestamp,
            ),
            (
                r#"{"composite_id":"s3cr3t:ind:1","updated_timestamp":"s3cr3t"}"#,
                Unmappable::BadUpdatedTimestamp,
            ),
        ] {
            let r = raw(bad);
            let rejected = Parsed::read(&r).err().unwrap();
            assert_eq!(rejected.why, want, "{bad}");
            let text = rejected.why.to_string();
            assert!(!text.contains("s3cr3t") && text.ends_with('.'), "{text}");
        }
        // Readable timestamp without a key: the time still places the record.
        let r = raw(r#"{"updated_timestamp":"2024-08-19T18:49:02Z"}"#);
        assert!(Parsed::read(&r).err().unwrap().updated.is_some());
    }

    #[test]
    fn refuses_alerts_without_key_or_version() {
        for bad in [
            r#"{"updated_timestamp":"2024-08-19T18:49:02Z"}"#,
            r#"{"composite_id":"","updated_timestamp":"2024-08-19T18:49:02Z"}"#,
            r#"{"composite_id":"c:ind:a:1"}"#,
            r#"{"composite_id":"c:ind:a:1","updated_timestamp":"last tuesday"}"#,
            r#"{"composite_id":7,"updated_timestamp":"2024-08-19T18:49:02Z"}"#,
            r#"{"composite_id":"c:ind:a:1","updated_timestamp":1724093342}"#,
            r#"["not","an","object"]"#,
        ] {
            assert!(
                matches!(
                    map_alert(SOURCE, raw(bad)),
                    Err(ConnectorError::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }
}
