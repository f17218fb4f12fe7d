//! The trait every vendor connector implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use crate::http::HttpStats;
use crate::{Alert, ConnectorError, SourceId};

/// An opaque checkpoint owned by one connector. The gateway stores it as JSON and hands it back
/// unchanged; only the connector that wrote it interprets it.
///
/// Every vendor's cursor has one envelope: a JSON object whose `vendor` names the kind that wrote
/// it and whose `v` is that vendor's format version, beside the vendor's own fields
/// (`{"vendor":"sentinel","v":1,…}`). [`Cursor::seal`] writes it and [`Cursor::open`] checks it,
/// so a cursor can never be read by another vendor's connector or at a version it does not know.
/// Sentinel and Splunk cursors written before the envelope carry a `v` but no `vendor`; they are
/// read as the reading connector's own (the store only ever hands a connector its own cursor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(serde_json::Value);

impl Cursor {
    /// `state` (a struct serialising to a JSON object) in the envelope of `vendor` at `version`.
    pub fn seal<T: Serialize>(
        vendor: crate::Kind,
        version: u32,
        state: &T,
    ) -> Result<Cursor, ConnectorError> {
        let mut value =
            serde_json::to_value(state).map_err(|e| ConnectorError::Cursor(e.to_string()))?;
        let obj = value.as_object_mut().ok_or_else(|| {
            ConnectorError::Cursor("a cursor state must be a JSON object".to_owned())
        })?;
        obj.insert("vendor".to_owned(), vendor.as_str().into());
        obj.insert("v".to_owned(), version.into());
        Ok(Cursor(value))
    }

    /// Check the envelope is `vendor`'s (or a legacy one without a tag) and return its version:
    /// the vendor then decodes with [`Cursor::open`], upgrading older versions it still reads.
    pub fn version_for(&self, vendor: crate::Kind) -> Result<u64, ConnectorError> {
        let obj = self.0.as_object().ok_or_else(|| {
            ConnectorError::Cursor("the stored cursor is not a JSON object".into())
        })?;
        match obj.get("vendor") {
            None => {}
            Some(serde_json::Value::String(tag)) if tag == vendor.as_str() => {}
            Some(other) => {
                // Our own tags are short ASCII words; anything else is described, not quoted.
                let named = other
                    .as_str()
                    .filter(|t| t.len() <= 16 && t.bytes().all(|b| b.is_ascii_lowercase()));
                return Err(ConnectorError::Cursor(match named {
                    Some(t) => format!("the stored cursor is a {t} cursor, not {vendor}"),
                    None => format!("the stored cursor's vendor tag is not {vendor}"),
                }));
            }
        }
        obj.get("v")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| ConnectorError::Cursor("the stored cursor has no format version".into()))
    }

    /// The vendor's own fields (everything but the envelope), after [`Cursor::version_for`].
    pub fn open<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        let mut value = self.0.clone();
        if let Some(obj) = value.as_object_mut() {
            obj.remove("vendor");
            obj.remove("v");
        }
        serde_json::from_value(value).map_err(|e| ConnectorError::Cursor(e.to_string()))
    }

    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }

    pub fn from_json(v: serde_json::Value) -> Cursor {
        Cursor(v)
    }
}

/// How much one `fetch` call may return, and where a first run starts.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Upper bound on `Batch::alerts.len()`. The engine commits a checkpoint after each batch,
    /// so this is also the most a crash can make the engine repeat to stdout.
    pub max_alerts: usize,
    /// Start of the window when there is no cursor yet (first run).
    pub since: DateTime<Utc>,
}

/// One fetch result: alerts to write, then the cursor to commit once they are durable.
#[derive(Debug)]
pub struct Batch {
    pub alerts: Vec<Alert>,
    /// Committing this cursor must mean: every alert version up to here has been returned
    /// (in this batch or an earlier one), and a fetch from it returns none of them again.
    pub cursor: Cursor,
    /// True when the source had nothing more at the time of the call; the engine stops the pull.
    pub caught_up: bool,
    /// Vendor pages read for this batch.
    pub pages: u32,
    /// Records inside this batch's pages that could not be mapped. The cursor already moves past
    /// them: the engine writes them to the integration's dead-letter output before it commits.
    /// A page that does not parse at all is an error, never a quarantine.
    pub quarantined: Vec<Quarantined>,
}

/// One vendor record that could not be mapped to an [`Alert`]: kept verbatim with the reason, so
/// one bad record never stops an integration and is never silently lost either.
#[derive(Debug)]
pub struct Quarantined {
    /// The vendor's record exactly as received.
    pub raw: Box<RawValue>,
    /// Why it could not be mapped: one sentence, names the missing or bad field. Built from the
    /// connector's own text, never from vendor text that could carry a secret.
    pub reason: String,
}

#[async_trait]
pub trait Connector: Send + Sync {
    /// The canonical identity of the source this connector reads.
    fn source_id(&self) -> &SourceId;

    /// Verify the credential and its permissions with the cheapest real call.
    async fn check(&self) -> Result<(), ConnectorError>;

    /// A vendor-reported identity of the endpoint (the Splunk server GUID), so that two URLs of
    /// one server are recognised as one source by the binding guard. `None` when the vendor has
    /// no such notion (the source id already names the tenant) or it cannot be read. Each
    /// member of a Splunk search head cluster reports its own GUID, so it catches aliases of one
    /// server, not two members of one cluster.
    async fn endpoint_identity(&self) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }

    /// Fetch the next batch after `cursor` (or from `budget.since` when `None`).
    async fn fetch(&self, cursor: Option<&Cursor>, budget: Budget)
    -> Result<Batch, ConnectorError>;

    /// What this connector's HTTP layer has done so far: requests, retries, throttled waits, and
    /// the most requests it let through in one quota period (benchmarks prove the limit with it).
    fn http_stats(&self) -> HttpStats;

    /// Requests retried so far (for the pull summary).
    fn retries(&self) -> u64 {
        self.http_stats().retries
    }
}

#[cfg(test)]
mod envelope_tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::Cursor;
    use crate::Kind;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        mark: i64,
    }

    #[test]
    fn a_sealed_cursor_opens_only_for_its_vendor() {
        let c = Cursor::seal(Kind::Sentinel, 3, &S { mark: 7 }).unwrap();
        assert_eq!(
            c.as_json(),
            &json!({"vendor": "sentinel", "v": 3, "mark": 7})
        );
        assert_eq!(c.version_for(Kind::Sentinel).unwrap(), 3);
        assert_eq!(c.open::<S>().unwrap(), S { mark: 7 });
        let e = c.version_for(Kind::Splunk).unwrap_err().to_string();
        assert!(e.contains("sentinel cursor, not splunk"), "{e}");
    }

    #[test]
    fn legacy_cursors_without_a_tag_still_open_and_junk_is_refused() {
        let legacy = Cursor::from_json(json!({"v": 1, "mark": 7}));
        assert_eq!(legacy.version_for(Kind::Splunk).unwrap(), 1);
        for bad in [
            json!([1, 2]),
            json!({"mark": 7}),
            json!({"vendor": "Sécret-Value-0123456789", "v": 1}),
            json!({"vendor": 5, "v": 1}),
        ] {
            let e = Cursor::from_json(bad.clone())
                .version_for(Kind::Splunk)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("Sécret"), "a foreign tag is not quoted: {e}");
        }
    }
}
