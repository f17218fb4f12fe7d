//! One Splunk result row to one [`Alert`].
//!
//! | Alert        | from                                                            |
//! |--------------|-----------------------------------------------------------------|
//! | `id`         | `event_id` (ES notables), else a hash of `_cd`, `index`, `_time`, `_indextime`, `_raw` |
//! | version      | `_indextime` verbatim (an index-time fetch never sees edits)   |
//! | `severity`   | `urgency`, else `severity`: critical/high/medium/low/informational (`info`); anything else informational |
//! | `title`      | `rule_title`, else `rule_name`, else `search_name`, else "Splunk event" |
//! | `status`     | `status_label`, else ES's numeric `status`, else "new"          |
//! | `created_at` | `_time` (ISO 8601 with offset, or epoch)                        |
//! | `updated_at` | `_indextime` (epoch seconds)                                    |
//! | `raw`        | the result row as received                                      |
//!
//! Splunk renders every field as a string, a multivalue field as an array of strings; numbers
//! are accepted too, since other Splunk-compatible servers emit them.

use std::borrow::Cow;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::alert::{AlertParts, Stage};
use crate::{Alert, ConnectorError, Severity};

pub const VENDOR: &str = KIND.as_str();
/// The vendor of every alert this module maps.
pub const KIND: crate::Kind = crate::Kind::Splunk;

/// Which field identifies a row across searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMode {
    /// ES notables: `event_id` when the row has one (the `notable` macro adds it), else the hash.
    Notable,
    /// Raw events: always the hash. An `event_id` field on raw events (e.g. Windows event codes)
    /// is not unique and must not be trusted.
    Events,
}

/// Why one result row cannot be mapped. The reasons are our own sentences, never the row's
/// values: a quarantine reason must not carry vendor text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowError {
    NotAnObject,
    NoIndextime,
    BadIndextime,
}

impl RowError {
    pub fn reason(self) -> &'static str {
        match self {
            RowError::NotAnObject => "The result row is not a JSON object.",
            RowError::NoIndextime => {
                "The result row has no _indextime field, so it cannot be placed in an index-time \
                 window; a custom base search may have removed it."
            }
            RowError::BadIndextime => {
                "The result row's _indextime is not an epoch time in seconds within range."
            }
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// A mapped row plus its index time, which orders rows for the cursor.
#[derive(Debug)]
pub struct MappedRow {
    pub indextime: i64,
    pub alert: Alert,
}

/// Maps one result row with the notable rules (`event_id` when present). Used by benchmarks.
pub fn map_result(source: &str, raw: Box<RawValue>) -> Result<Alert, ConnectorError> {
    map_row(source, raw, IdMode::Notable)
        .map(|m| m.alert)
        .map_err(|e| malformed(e.reason().to_owned()))
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    _cd: Option<&'a RawValue>,
    #[serde(borrow, default)]
    index: Option<&'a RawValue>,
    #[serde(borrow, default)]
    _time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    _indextime: Option<&'a RawValue>,
    #[serde(borrow, default)]
    _raw: Option<&'a RawValue>,
    #[serde(borrow, default)]
    urgency: Option<&'a RawValue>,
    #[serde(borrow, default)]
    severity: Option<&'a RawValue>,
    #[serde(borrow, default)]
    rule_title: Option<&'a RawValue>,
    #[serde(borrow, default)]
    rule_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    search_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status_label: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    owner: Option<&'a RawValue>,
}

/// The mapped fields of one row, before `raw` is attached.
struct Parsed {
    id: String,
    title: String,
    severity: Severity,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// `_indextime` verbatim.
    version: String,
    indextime: i64,
    stage: Stage,
}

/// ES status (and owner) to stage: resolved/closed resolved; in progress/pending, or any status
/// with an owner other than unassigned/nobody, acknowledged; new/unassigned open.
fn stage(status: &str, owner: Option<&str>) -> Stage {
    let status = status.trim().to_ascii_lowercase();
    let owned = owner.is_some_and(|o| {
        let o = o.trim();
        !o.is_empty() && !o.eq_ignore_ascii_case("unassigned") && !o.eq_ignore_ascii_case("nobody")
    });
    match status.as_str() {
        "resolved" | "closed" => Stage::Resolved,
        "new" | "unassigned" | "" if !owned => Stage::Open,
        _ => Stage::Acknowledged,
    }
}

pub fn map_row(source: &str, raw: Box<RawValue>, mode: IdMode) -> Result<MappedRow, RowError> {
    try_map_row(source, raw, mode).map_err(|(e, _)| e)
}

/// Like [`map_row`], handing the row back on failure so it can be quarantined without a copy.
pub fn try_map_row(
    source: &str,
    raw: Box<RawValue>,
    mode: IdMode,
) -> Result<MappedRow, (RowError, Box<RawValue>)> {
    let p = match parse(raw.get(), mode) {
        Ok(p) => p,
        Err(e) => return Err((e, raw)),
    };
    let alert = Alert::new(
        source,
        KIND,
        AlertParts {
            id: p.id,
            title: p.title,
            severity: p.severity,
            status: p.status,
            created_at: p.created_at,
            // `_time`, else the index time: neither changes for one event.
            created_stable: true,
            updated_at: p.updated_at,
            version: p.version,
            link: None,
            stage: p.stage,
        },
        raw,
    );
    Ok(MappedRow {
        indextime: p.indextime,
        alert,
    })
}

fn parse(row: &str, mode: IdMode) -> Result<Parsed, RowError> {
    // serde would also read a struct from an array, positionally.
    if !row.trim_start().starts_with('{') {
        return Err(RowError::NotAnObject);
    }
    let f: Fields<'_> = serde_json::from_str(row).map_err(|_| RowError::NotAnObject)?;
    let indextime_text = text(f._indextime).ok_or(RowError::NoIndextime)?;
    let indextime = parse_epoch_seconds(&indextime_text).ok_or(RowError::BadIndextime)?;
    let updated_at = Utc
        .timestamp_opt(indextime, 0)
        .single()
        .ok_or(RowError::BadIndextime)?;
    let time_text = text(f._time);
    let created_at = time_text
        .as_deref()
        .and_then(parse_time)
        .unwrap_or(updated_at);
    let id = match (mode, text(f.event_id)) {
        (IdMode::Notable, Some(id)) if !id.is_empty() => id.into_owned(),
        _ => row_hash(&f, time_text.as_deref(), &indextime_text, row),
    };
    let severity = text(f.urgency)
        .and_then(|u| severity(&u))
        .or_else(|| text(f.severity).and_then(|s| severity(&s)))
        .unwrap_or(Severity::Informational);
    let title = text(f.rule_title)
        .filter(|s| !s.is_empty())
        .or_else(|| text(f.rule_name).filter(|s| !s.is_empty()))
        .or_else(|| text(f.search_name).filter(|s| !s.is_empty()))
        .map_or_else(|| "Splunk event".to_owned(), Cow::into_owned);
    let status = text(f.status_label)
        .filter(|s| !s.is_empty())
        .map(Cow::into_owned)
        .or_else(|| {
            text(f.status)
                .and_then(|s| status_name(&s))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "new".to_owned());
    let stage = stage(&status, text(f.owner).as_deref());
    Ok(Parsed {
        stage,
        id,
        title,
        severity,
        status,
        created_at,
        updated_at,
        version: indextime_text.into_owned(),
        indextime,
    })
}

/// A row's `index` and the values of one more field, read in one pass without building a tree.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RowScope {
    pub index: Option<String>,
    pub values: Vec<String>,
}

pub fn row_scope(row: &str, field: Option<&str>) -> Result<RowScope, RowError> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Seed<'f>(Option<&'f str>);

    /// Which of the wanted keys a map key is, read without allocating.
    #[derive(Clone, Copy)]
    struct KeyKind<'f>(Option<&'f str>);

    impl<'de> DeserializeSeed<'de> for KeyKind<'_> {
        type Value = (bool, bool);
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(bool, bool), D::Error> {
            d.deserialize_str(self)
        }
    }

    impl Visitor<'_> for KeyKind<'_> {
        type Value = (bool, bool);
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a field name")
        }
        fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<(bool, bool), E> {
            Ok((k == "index", self.0 == Some(k)))
        }
    }

    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        type Value = RowScope;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RowScope, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Seed<'_> {
        type Value = RowScope;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a result row object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RowScope, A::Error> {
            let mut out = RowScope::default();
            while let Some((is_index, is_field)) = m.next_key_seed(KeyKind(self.0))? {
                if !is_index && !is_field {
                    m.next_value::<IgnoredAny>()?;
                    continue;
                }
                let raw: &'de RawValue = m.next_value()?;
                let values: Vec<String> = match raw.get().as_bytes().first() {
                    Some(b'[') => serde_json::from_str::<Vec<Option<String>>>(raw.get())
                        .unwrap_or_default()
                        .into_iter()
                        .flatten()
                        .collect(),
                    _ => text(Some(raw)).map(Cow::into_owned).into_iter().collect(),
                };
                if is_index {
                    out.index = values.first().cloned();
                }
                if is_field {
                    out.values = values;
                }
            }
            Ok(out)
        }
    }

    let mut de = serde_json::Deserializer::from_str(row);
    Seed(field)
        .deserialize(&mut de)
        .map_err(|_| RowError::NotAnObject)
}

/// The dedup key of a raw event (SplunkPy's recipe). Missing `_raw` (a server that drops it)
/// adds the whole row, so distinct rows never share a key.
fn row_hash(f: &Fields<'_>, time: Option<&str>, indextime: &str, row: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"splunk row\0");
    let cd = text(f._cd);
    let index = text(f.index);
    let raw = text(f._raw);
    for part in [
        cd.as_deref(),
        index.as_deref(),
        time,
        Some(indextime),
        raw.as_deref(),
    ] {
        match part {
            Some(p) => {
                h.update([1u8]);
                h.update((p.len() as u64).to_be_bytes());
                h.update(p.as_bytes());
            }
            None => h.update([0u8]),
        }
    }
    if raw.is_none() {
        h.update(row.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// A field as text: a string (unescaped), the first value of a multivalue field, or a number's
/// literal. `null` and absent are `None`.
fn text<'a>(v: Option<&'a RawValue>) -> Option<Cow<'a, str>> {
    let s = v?.get();
    match s.as_bytes().first()? {
        b'"' => match serde_json::from_str::<&str>(s) {
            Ok(b) => Some(Cow::Borrowed(b)),
            Err(_) => serde_json::from_str::<String>(s).ok().map(Cow::Owned),
        },
        b'[' => serde_json::from_str::<Vec<String>>(s)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(Cow::Owned),
        b'n' => None,
        _ => Some(Cow::Borrowed(s)),
    }
}

fn parse_epoch_seconds(s: &str) -> Option<i64> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    let f = s.parse::<f64>().ok()?;
    // Bounded: chrono rejects anything this large anyway.
    (f.is_finite() && f.abs() < 1e15).then(|| f.floor() as i64)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    let f = s
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && f.abs() < 1e15)?;
    let secs = f.floor();
    let nanos = ((f - secs) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
    Utc.timestamp_opt(secs as i64, nanos).single()
}

fn severity(s: &str) -> Option<Severity> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        "low" => Severity::Low,
        "informational" | "info" => Severity::Informational,
        _ => return None,
    })
}

/// ES's numeric notable status, for rows without `status_label`.
fn status_name(s: &str) -> Option<&'static str> {
    Some(match s.trim() {
        "0" => "unassigned",
        "1" => "new",
        "2" => "in progress",
        "3" => "pending",
        "4" => "resolved",
        "5" => "closed",
        _ => return None,
    })
}

fn malformed(reason: String) -> ConnectorError {
    ConnectorError::Malformed {
        vendor: KIND,
        endpoint: "search results".to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    const NOTABLE: &str = r#"{"_time":"2026-11-27T10:00:00.000+00:00","_indextime":"1764237605","_cd":"12:345","index":"notable","_raw":"x","event_id":"GUID@@notable@@abc","rule_title":"Brute force on $dest$","rule_name":"Brute Force","urgency":"high","severity":"low","status":"1","status_label":"New"}"#;

    #[test]
    fn status_and_owner_give_the_stage() {
        assert_eq!(stage("New", None), Stage::Open);
        assert_eq!(stage("unassigned", Some("unassigned")), Stage::Open);
        assert_eq!(stage("New", Some("alice")), Stage::Acknowledged);
        assert_eq!(stage("in progress", None), Stage::Acknowledged);
        assert_eq!(stage("pending", None), Stage::Acknowledged);
        assert_eq!(stage("Resolved", None), Stage::Resolved);
        assert_eq!(stage("closed", Some("alice")), Stage::Resolved);
    }

    #[test]
    fn maps_a_notable_with_event_id_and_urgency() {
        let a = map_result("splunk:x", raw(NOTABLE)).unwrap();
        assert_eq!(a.id, "GUID@@notable@@abc");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.title, "Brute force on $dest$");
        assert_eq!(a.status, "New");
        assert_eq!(a.created_at.to_rfc3339(), "2026-11-27T10:00:00+00:00");
        assert_eq!(a.updated_at.timestamp(), 1_764_237_605);
        assert_eq!(a.raw.get(), NOTABLE, "raw is the row as received");
    }

    #[test]
    fn raw_events_use_the_row_hash_even_with_an_event_id_field() {
        let m = map_row("s", raw(NOTABLE), IdMode::Events).unwrap();
        assert_eq!(m.alert.id.len(), 32);
        assert_ne!(m.alert.id, "GUID@@notable@@abc");
        assert_eq!(m.indextime, 1_764_237_605);
        let again = map_row("s", raw(NOTABLE), IdMode::Events).unwrap();
        assert_eq!(
            m.alert.event_id, again.alert.event_id,
            "stable across searches"
        );
    }

    #[test]
    fn row_hash_changes_with_each_identity_field() {
        let base = r#"{"_cd":"1:2","index":"a","_time":"1700000000.000","_indextime":"1700000001","_raw":"r"}"#;
        let id = |s: &str| map_row("s", raw(s), IdMode::Events).unwrap().alert.id;
        let b = id(base);
        for (from, to) in [
            ("1:2", "1:3"),
            ("\"a\"", "\"b\""),
            ("000.000", "000.001"),
            ("0001\"", "0002\""),
            ("\"r\"", "\"q\""),
        ] {
            assert_ne!(b, id(&base.replace(from, to)), "{from} -> {to}");
        }
    }

    #[test]
    fn falls_back_through_title_and_severity_fields() {
        let a = map_result(
            "s",
            raw(r#"{"_indextime":"10","search_name":"Saved","severity":"critical","status":"5"}"#),
        )
        .unwrap();
        assert_eq!(a.title, "Saved");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.status, "closed");
        assert_eq!(a.created_at.timestamp(), 10, "no _time: index time");
        let b = map_result(
            "s",
            raw(r#"{"_indextime":10,"urgency":"unknown","rule_name":["R1","R2"]}"#),
        )
        .unwrap();
        assert_eq!(b.title, "R1");
        assert_eq!(b.severity, Severity::Informational);
        assert_eq!(b.status, "new");
    }

    #[test]
    fn epoch_time_with_fraction_parses() {
        let a = map_result(
            "s",
            raw(r#"{"_indextime":"1700000000","_time":"1700000000.250"}"#),
        )
        .unwrap();
        assert_eq!(a.created_at.timestamp_subsec_millis(), 250);
    }

    #[test]
    fn row_scope_reads_index_and_one_field_including_multivalue() {
        let r = row_scope(
            r#"{"_raw":"x","index":"notable","orig_index":["acme_prod","other"],"n":{"a":[1]}}"#,
            Some("orig_index"),
        )
        .unwrap();
        assert_eq!(r.index.as_deref(), Some("notable"));
        assert_eq!(r.values, ["acme_prod", "other"]);
        let none = row_scope(r#"{"index":"a"}"#, Some("orig_index")).unwrap();
        assert!(none.values.is_empty());
        let esc = row_scope(r#"{"ind\u0065x":"b"}"#, None).unwrap();
        assert_eq!(
            esc.index.as_deref(),
            Some("b"),
            "escaped keys compare decoded"
        );
    }

    #[test]
    fn a_row_without_indextime_is_malformed() {
        let e = map_result("s", raw(r#"{"count":"3"}"#)).unwrap_err();
        assert!(e.to_string().contains("_indextime"), "{e}");
    }

    #[test]
    fn row_errors_never_quote_the_row() {
        let bad = map_row("s", raw(r#"{"_indextime":"s3cr3t"}"#), IdMode::Events).unwrap_err();
        assert_eq!(bad, RowError::BadIndextime);
        assert!(!bad.reason().contains("s3cr3t"));
        let e = map_row("s", raw(r#"["x"]"#), IdMode::Events).unwrap_err();
        assert_eq!(e, RowError::NotAnObject);
        assert_eq!(
            map_row("s", raw(r#"{"_raw":"x"}"#), IdMode::Events).unwrap_err(),
            RowError::NoIndextime
        );
    }
}
