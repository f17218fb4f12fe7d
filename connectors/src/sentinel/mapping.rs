//! Sentinel incident JSON → [`Alert`].
//!
//! | Alert field  | incident field                        |
//! |--------------|---------------------------------------|
//! | `id`         | `name` (the incident GUID)            |
//! | `title`      | `properties.title`                    |
//! | `severity`   | `properties.severity`: High, Medium, Low, Informational (any case); any other value → `informational` |
//! | `status`     | `properties.status`, lowercased (`new`, `active`, `closed`, or whatever else the service sends) |
//! | `created_at` | `properties.createdTimeUtc` (falls back to the last-modified time) |
//! | `updated_at` | `properties.lastModifiedTimeUtc`; its verbatim string is the version in `event_id` |
//! | `link`       | `properties.incidentUrl`              |
//!
//! `raw` is the incident exactly as received. Only the mapped fields are parsed, borrowed from
//! the raw text; everything else is skipped.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::alert::{AlertParts, Stage};
use crate::{Alert, ConnectorError, Severity};

pub const VENDOR: &str = KIND.as_str();
/// The vendor of every alert this module maps.
pub const KIND: crate::Kind = crate::Kind::Sentinel;

/// The few fields of an incident the connector reads, borrowed from the raw JSON.
#[derive(Deserialize)]
pub(crate) struct IncidentFields<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub properties: PropertyFields<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PropertyFields<'a> {
    #[serde(borrow, default)]
    pub title: Cow<'a, str>,
    #[serde(borrow, default)]
    pub severity: Cow<'a, str>,
    #[serde(borrow, default)]
    pub status: Cow<'a, str>,
    #[serde(borrow, default)]
    pub created_time_utc: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub last_modified_time_utc: Cow<'a, str>,
    #[serde(borrow, default)]
    pub incident_url: Option<Cow<'a, str>>,
    /// Only whether someone is assigned matters (the stage); the person is in `raw`.
    #[serde(default)]
    pub owner: Option<Owner>,
}

/// `properties.owner`: an incident is owned once any of these is set.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Owner {
    #[serde(default, deserialize_with = "lenient_present")]
    pub object_id: bool,
    #[serde(default, deserialize_with = "lenient_present")]
    pub email: bool,
    #[serde(default, deserialize_with = "lenient_present")]
    pub assigned_to: bool,
    #[serde(default, deserialize_with = "lenient_present")]
    pub user_principal_name: bool,
}

impl Owner {
    fn is_set(&self) -> bool {
        self.object_id || self.email || self.assigned_to || self.user_principal_name
    }
}

/// True for a non-empty string; any other JSON value (null, a number) reads as unset rather
/// than failing the incident.
fn lenient_present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_str().is_some_and(|s| !s.trim().is_empty()))
}

/// Status (and owner) to stage: `Closed` resolved; `Active`, or `New` with an owner,
/// acknowledged; anything else open.
pub(crate) fn stage(status: &str, owned: bool) -> Stage {
    if status.eq_ignore_ascii_case("closed") {
        Stage::Resolved
    } else if status.eq_ignore_ascii_case("active") || owned {
        Stage::Acknowledged
    } else {
        Stage::Open
    }
}

/// One parsed incident: what dedup needs (`name`, `modified`) plus the mapped fields.
pub(crate) struct Parsed<'a> {
    pub fields: IncidentFields<'a>,
    pub modified: DateTime<Utc>,
}

pub(crate) fn parse(raw: &RawValue) -> Result<Parsed<'_>, String> {
    let fields: IncidentFields<'_> =
        serde_json::from_str(raw.get()).map_err(|e| format!("incident: {e}"))?;
    let modified = parse_time(&fields.properties.last_modified_time_utc)
        .map_err(|e| format!("incident {}: lastModifiedTimeUtc {e}", fields.name))?;
    Ok(Parsed { fields, modified })
}

impl Parsed<'_> {
    pub(crate) fn to_parts(&self) -> Result<AlertParts, String> {
        let p = &self.fields.properties;
        let created_at = match p.created_time_utc.as_deref() {
            Some(c) => parse_time(c)
                .map_err(|e| format!("incident {}: createdTimeUtc {e}", self.fields.name))?,
            None => self.modified,
        };
        Ok(AlertParts {
            id: self.fields.name.clone().into_owned(),
            title: p.title.clone().into_owned(),
            severity: severity(&p.severity),
            status: status(&p.status),
            created_at,
            created_stable: p.created_time_utc.is_some(),
            updated_at: self.modified,
            version: p.last_modified_time_utc.clone().into_owned(),
            link: p.incident_url.as_ref().map(|u| u.clone().into_owned()),
            stage: stage(&p.status, p.owner.as_ref().is_some_and(Owner::is_set)),
        })
    }
}

/// Why `raw` cannot be mapped, as one sentence of our own: it names the field, never quotes the
/// vendor's value (which could be anything, a credential included) or a parser message that
/// would. For a record [`parse`] or [`Parsed::to_parts`] refused.
pub(crate) fn unmappable_reason(raw: &RawValue) -> String {
    use serde_json::Value;
    let Ok(Value::Object(incident)) = serde_json::from_str::<Value>(raw.get()) else {
        return "The incident is not a JSON object.".to_owned();
    };
    if !incident.get("name").is_some_and(Value::is_string) {
        return "The incident has no name.".to_owned();
    }
    let Some(Value::Object(props)) = incident.get("properties") else {
        return "The incident has no properties object.".to_owned();
    };
    let time_problem = |field: &str, required: bool| match props.get(field) {
        None | Some(Value::Null) if required => Some(format!(
            "The incident has no properties.{field}, so its version and place in the walk are \
             unknown."
        )),
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => parse_time(t)
            .is_err()
            .then(|| format!("The incident's properties.{field} is not an ISO-8601 time.")),
        Some(_) => Some(format!(
            "The incident's properties.{field} is not a string."
        )),
    };
    if let Some(p) = time_problem("lastModifiedTimeUtc", true) {
        return p;
    }
    if let Some(p) = time_problem("createdTimeUtc", false) {
        return p;
    }
    let bad_text = ["title", "severity", "status", "incidentUrl"]
        .into_iter()
        .find(|f| {
            props
                .get(*f)
                .is_some_and(|v| !v.is_string() && !v.is_null())
        });
    match bad_text {
        Some(f) => format!("The incident's properties.{f} is not a string."),
        None => "The incident could not be mapped.".to_owned(),
    }
}

/// Map one incident, as received, to an [`Alert`]. `source` is the canonical source id.
/// Public for the mapping benchmark; the connector uses the same code path.
pub fn map_incident(source: &str, raw: Box<RawValue>) -> Result<Alert, ConnectorError> {
    let malformed = |reason: String| ConnectorError::Malformed {
        vendor: KIND,
        endpoint: "incidents".into(),
        reason,
    };
    let parts = parse(&raw).and_then(|p| p.to_parts()).map_err(malformed)?;
    Ok(Alert::new(source, KIND, parts, raw))
}

/// Documented values only (case-insensitively). The enum is `modelAsString`, so anything else
/// can arrive; it becomes `informational` and `raw` keeps the vendor's value.
pub fn severity(s: &str) -> Severity {
    if s.eq_ignore_ascii_case("High") {
        Severity::High
    } else if s.eq_ignore_ascii_case("Medium") {
        Severity::Medium
    } else if s.eq_ignore_ascii_case("Low") {
        Severity::Low
    } else {
        Severity::Informational
    }
}

fn status(s: &str) -> String {
    // The three documented values are by far the most common: avoid building a new string
    // for each.
    for known in ["New", "Active", "Closed"] {
        if s == known {
            return known.to_ascii_lowercase();
        }
    }
    s.to_lowercase()
}

/// ARM timestamps carry up to 7 fractional digits and a `Z`; some services omit the zone.
pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|n| n.and_utc())
        .map_err(|_| format!("{s:?} is not an ISO-8601 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_owner_give_the_stage() {
        assert_eq!(stage("New", false), Stage::Open);
        assert_eq!(stage("New", true), Stage::Acknowledged);
        assert_eq!(stage("Active", false), Stage::Acknowledged);
        assert_eq!(stage("Closed", true), Stage::Resolved);
        let owned = r#"{"name":"n","properties":{"title":"t","severity":"Low","status":"New","lastModifiedTimeUtc":"2024-01-01T00:00:00Z","owner":{"assignedTo":"Alice","objectId":null}}}"#;
        let raw = RawValue::from_string(owned.to_owned()).unwrap();
        assert_eq!(
            parse(&raw).unwrap().to_parts().unwrap().stage,
            Stage::Acknowledged
        );
        let unowned = r#"{"name":"n","properties":{"title":"t","severity":"Low","status":"New","lastModifiedTimeUtc":"2024-01-01T00:00:00Z","owner":{"assignedTo":null,"email":7}}}"#;
        let raw = RawValue::from_string(unowned.to_owned()).unwrap();
        assert_eq!(parse(&raw).unwrap().to_parts().unwrap().stage, Stage::Open);
    }

    #[test]
    fn unmappable_reasons_name_the_field_and_never_the_value() {
        let reason = |json: &str| unmappable_reason(&RawValue::from_string(json.into()).unwrap());
        assert_eq!(reason("[1]"), "The incident is not a JSON object.");
        assert_eq!(reason(r#"{"properties":{}}"#), "The incident has no name.");
        assert_eq!(
            reason(r#"{"name":"n","properties":"client_secret=x"}"#),
            "The incident has no properties object."
        );
        let no_time = reason(r#"{"name":"n","properties":{"lastModifiedTimeUtc":null}}"#);
        assert!(no_time.starts_with("The incident has no properties.lastModifiedTimeUtc"));
        let title = reason(
            r#"{"name":"n","properties":{"lastModifiedTimeUtc":"2024-01-01T00:00:00Z","title":{"password":"x"}}}"#,
        );
        assert_eq!(title, "The incident's properties.title is not a string.");
        let bad =
            reason(r#"{"name":"n","properties":{"lastModifiedTimeUtc":"Bearer abcdefghijkl"}}"#);
        assert!(!bad.contains("Bearer"), "{bad}");
    }

    const INCIDENT: &str = r#"{"id":"/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws/providers/Microsoft.SecurityInsights/Incidents/73e01a99-5cd7-4139-a149-9f2736ff2ab5","name":"73e01a99-5cd7-4139-a149-9f2736ff2ab5","etag":"\"0300bf09-0000-0000-0000-5c37296e0000\"","type":"Microsoft.SecurityInsights/Incidents","properties":{"title":"Suspicious sign-in \u2014 \"admin\"","severity":"High","status":"Active","createdTimeUtc":"2024-01-01T10:00:00.1234567Z","lastModifiedTimeUtc":"2024-01-02T11:30:00.7654321Z","incidentNumber":3177,"incidentUrl":"https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/x","labels":[],"additionalData":{"alertsCount":2,"tactics":["InitialAccess"]}}}"#;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn maps_documented_fields_and_keeps_raw_verbatim() {
        let a = map_incident("sentinel:public:/x", raw(INCIDENT)).unwrap();
        assert_eq!(a.id, "73e01a99-5cd7-4139-a149-9f2736ff2ab5");
        assert_eq!(a.title, "Suspicious sign-in \u{2014} \"admin\"");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.status, "active");
        assert_eq!(
            a.created_at.to_rfc3339(),
            "2024-01-01T10:00:00.123456700+00:00"
        );
        assert_eq!(
            a.updated_at.to_rfc3339(),
            "2024-01-02T11:30:00.765432100+00:00"
        );
        assert_eq!(
            a.link.as_deref(),
            Some("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/x")
        );
        assert_eq!(a.raw.get(), INCIDENT);
        assert_eq!(
            a.event_id,
            crate::alert::event_id(
                "sentinel:public:/x",
                "73e01a99-5cd7-4139-a149-9f2736ff2ab5",
                "2024-01-02T11:30:00.7654321Z"
            )
        );
    }

    #[test]
    fn unknown_enum_values_become_informational_and_stay_in_raw() {
        let odd = INCIDENT
            .replace("\"High\"", "\"Critical\"")
            .replace("\"Active\"", "\"InProgress\"");
        let a = map_incident("s", raw(&odd)).unwrap();
        assert_eq!(a.severity, Severity::Informational);
        assert_eq!(a.status, "inprogress");
        assert!(a.raw.get().contains("\"Critical\""));
        assert_eq!(severity("medium"), Severity::Medium);
        assert_eq!(severity("LOW"), Severity::Low);
        assert_eq!(severity(""), Severity::Informational);
    }

    #[test]
    fn a_new_last_modified_time_is_a_new_event_id() {
        let a = map_incident("s", raw(INCIDENT)).unwrap();
        let b = map_incident(
            "s",
            raw(&INCIDENT.replace("2024-01-02T11:30:00.7654321Z", "2024-01-02T11:35:00Z")),
        )
        .unwrap();
        assert_eq!(a.id, b.id);
        assert_ne!(a.event_id, b.event_id);
    }

    #[test]
    fn missing_last_modified_time_is_malformed() {
        let bad = r#"{"name":"n","properties":{"title":"t","severity":"Low","status":"New"}}"#;
        let err = map_incident("s", raw(bad)).unwrap_err();
        assert!(matches!(err, ConnectorError::Malformed { .. }), "{err}");
        let created_only =
            r#"{"name":"n","properties":{"lastModifiedTimeUtc":"2024-01-01T00:00:00"}}"#;
        let a = map_incident("s", raw(created_only)).unwrap();
        assert_eq!(a.created_at, a.updated_at);
        assert!(!a.created_stable, "a fallback changes with every version");
        assert!(map_incident("s", raw(INCIDENT)).unwrap().created_stable);
    }
}
