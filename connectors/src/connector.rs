//! The trait every vendor connector implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use crate::http::HttpStats;
use crate::{Alert, ConnectorError, SourceId};

/// An opaque checkpoint owned by one connector. The gateway stores it as JSON and hands it back
/// unchanged; only the connector that wrote it interprets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(serde_json::Value);

impl Cursor {
    pub fn encode<T: Serialize>(state: &T) -> Result<Cursor, ConnectorError> {
        serde_json::to_value(state)
            .map(Cursor)
            .map_err(|e| ConnectorError::Cursor(e.to_string()))
    }

    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_value(self.0.clone()).map_err(|e| ConnectorError::Cursor(e.to_string()))
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
