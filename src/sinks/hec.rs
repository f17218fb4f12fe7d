//! Splunk HTTP Event Collector: `POST /services/collector/event` with the events concatenated in
//! one body, `Authorization: Splunk <token>`.
//!
//! HEC indexes the events before an invalid one and answers with `invalid-event-number`: only the
//! rest is sent again, starting at that event; an event HEC refuses as the first of a request is
//! refused for good (a permanent error naming it). With `use_ack`, a batch counts as delivered
//! only once the indexers acknowledged it (`/services/collector/ack`). HEC has no idempotency key:
//! a batch re-sent after a crash or an unacknowledged request can be indexed twice, each copy
//! with the same `event_id` field (dedupe at search time: `| dedup event_id`).

use std::io::Write;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::Result;

use super::config::{self, HecTable, invalid};
use super::{EncodedBatch, ExternalSink, SinkError, SinkStats, Target};

pub const DEFAULT_SOURCETYPE: &str = "seliq:alert";
pub const DEFAULT_SOURCE: &str = "seliq-gateway";
/// How long indexer acknowledgment is awaited before the batch is sent again.
const ACK_WAIT: Duration = Duration::from_secs(300);
const ACK_POLL: Duration = Duration::from_millis(500);

pub struct HecSink {
    name: String,
    event_url: url::Url,
    ack_url: url::Url,
    token: SecretString,
    index: Option<String>,
    sourcetype: String,
    source: String,
    gzip: bool,
    use_ack: bool,
    client: reqwest::Client,
}

impl HecSink {
    pub fn new(t: &HecTable) -> Result<HecSink> {
        let name = t.name.clone();
        let base = config::http_url(&name, &t.url)?;
        let root = base.path().trim_end_matches('/').to_owned();
        let event_url = base
            .join(&format!("{root}/services/collector/event"))
            .map_err(|e| invalid(&name, "url", e))?;
        let ack_url = base
            .join(&format!("{root}/services/collector/ack"))
            .map_err(|e| invalid(&name, "url", e))?;
        let token = config::secret(
            &name,
            "token_env",
            &t.token_env,
            "token_file",
            &t.token_file,
        )?
        .ok_or_else(|| invalid(&name, "token_env", "or token_file is required"))?;
        for (key, v) in [
            ("index", &t.index),
            ("sourcetype", &t.sourcetype),
            ("source", &t.source),
        ] {
            if let Some(v) = v {
                check_field(&name, key, v)?;
            }
        }
        for r in &t.route {
            if let Some(i) = &r.index {
                check_field(&name, "route.index", i)?;
            }
            if let Some(s) = &r.sourcetype {
                check_field(&name, "route.sourcetype", s)?;
            }
        }
        let ca = config::ca_file(&name, &t.tls_ca_file)?;
        Ok(HecSink {
            client: super::http::client(&name, ca.as_deref())?,
            name,
            event_url,
            ack_url,
            token,
            index: t.index.clone(),
            sourcetype: t
                .sourcetype
                .clone()
                .unwrap_or_else(|| DEFAULT_SOURCETYPE.to_owned()),
            source: t
                .source
                .clone()
                .unwrap_or_else(|| DEFAULT_SOURCE.to_owned()),
            gzip: t.gzip.unwrap_or(false),
            use_ack: t.use_ack.unwrap_or(false),
        })
    }

    fn authorization(&self) -> HeaderValue {
        let mut v = HeaderValue::from_str(&format!("Splunk {}", self.token.expose_secret()))
            .unwrap_or_else(|_| HeaderValue::from_static("Splunk invalid-token"));
        v.set_sensitive(true);
        v
    }

    /// Wait until the indexers acknowledged `ack_id` on `channel`.
    async fn await_ack(&self, channel: &str, ack_id: u64) -> Result<(), SinkError> {
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        loop {
            let resp = self
                .client
                .post(self.ack_url.clone())
                .query(&[("channel", channel)])
                .header(AUTHORIZATION, self.authorization())
                .header("X-Splunk-Request-Channel", channel)
                .json(&serde_json::json!({ "acks": [ack_id] }))
                .send()
                .await
                .map_err(super::http::transport)?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(super::http::transport)?;
            if !status.is_success() {
                return Err(super::http::status_error(status, &body));
            }
            #[derive(Deserialize)]
            struct Acks {
                acks: std::collections::HashMap<String, bool>,
            }
            let acks: Acks = serde_json::from_slice(&body).map_err(|_| {
                SinkError::Transient(format!(
                    "the ack response is not what HEC sends: {}",
                    super::remote_text(&body)
                ))
            })?;
            if acks.acks.get(&ack_id.to_string()) == Some(&true) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SinkError::Transient(format!(
                    "the indexers did not acknowledge ack {ack_id} within {} s; sending the batch again",
                    ACK_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(ACK_POLL).await;
        }
    }
}

/// Index, sourcetype and source are plain tokens: no quotes or control characters.
fn check_field(sink: &str, key: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 256
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            sink,
            key,
            format!("{v:?} must be 1-256 printable characters without quotes"),
        ))
    }
}

#[derive(Deserialize)]
struct HecReply {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(rename = "invalid-event-number", default)]
    invalid_event_number: Option<usize>,
    #[serde(rename = "ackId", default)]
    ack_id: Option<u64>,
}

#[async_trait::async_trait]
impl ExternalSink for HecSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "hec"
    }

    async fn deliver(
        &self,
        target: &Target,
        batch: &EncodedBatch,
        pending: &mut Vec<usize>,
        _stats: &SinkStats,
    ) -> Result<(), SinkError> {
        let index = target.index.as_deref().or(self.index.as_deref());
        let sourcetype = target.sourcetype.as_deref().unwrap_or(&self.sourcetype);
        let mut body = Vec::with_capacity(batch.bytes.len() + pending.len() * 120);
        for &i in pending.iter() {
            let m = &batch.lines[i];
            // Epoch seconds with milliseconds, as HEC's `time` takes them.
            let time = m.created_at.timestamp_millis() as f64 / 1000.0;
            let mut head = serde_json::json!({
                "time": time,
                "source": self.source,
                "sourcetype": sourcetype,
            });
            if let Some(ix) = index {
                head["index"] = serde_json::Value::from(ix);
            }
            let head =
                serde_json::to_string(&head).map_err(|e| SinkError::Permanent(e.to_string()))?;
            // `{...head fields..., "event": <the alert line>}`
            body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            body.extend_from_slice(b",\"event\":");
            body.extend_from_slice(batch.line(i));
            body.push(b'}');
        }
        let channel = uuid::Uuid::new_v4().to_string();
        let mut req = self
            .client
            .post(self.event_url.clone())
            .header(AUTHORIZATION, self.authorization())
            .header("Content-Type", "application/json");
        if self.use_ack {
            req = req.header("X-Splunk-Request-Channel", channel.as_str());
        }
        req = if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body)
                .and_then(|()| enc.finish())
                .map(|gz| req.header(CONTENT_ENCODING, "gzip").body(gz))
                .map_err(|e| SinkError::Permanent(format!("cannot gzip the body: {e}")))?
        } else {
            req.body(body)
        };
        let resp = req.send().await.map_err(super::http::transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(super::http::transport)?;
        let reply: Option<HecReply> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            if self.use_ack {
                let id = reply.as_ref().and_then(|r| r.ack_id).ok_or_else(|| {
                    SinkError::Permanent(
                        "use_ack is set but HEC returned no ackId (is indexer acknowledgment enabled on the token?)"
                            .to_owned(),
                    )
                })?;
                self.await_ack(&channel, id).await?;
            }
            pending.clear();
            return Ok(());
        }
        // Partial acceptance: the events before the invalid one are indexed.
        if let Some(r) = &reply
            && let Some(n) = r.invalid_event_number
            && status.as_u16() == 400
        {
            let why = super::remote_text(r.text.as_deref().unwrap_or("").as_bytes());
            if n >= pending.len() {
                return Err(SinkError::Permanent(format!(
                    "HEC named invalid event number {n} of a {}-event request (code {}): {why}",
                    pending.len(),
                    r.code.unwrap_or(-1)
                )));
            }
            if n == 0 {
                return Err(SinkError::Permanent(format!(
                    "HEC refused event {} (code {}): {why}",
                    batch.lines[pending[0]].event_id,
                    r.code.unwrap_or(-1)
                )));
            }
            pending.drain(..n);
            return Ok(());
        }
        Err(super::http::status_error(status, &bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_without_quotes() {
        assert!(check_field("h", "index", "acme_alerts").is_ok());
        assert!(check_field("h", "index", "a\"b").is_err());
        assert!(check_field("h", "index", "").is_err());
    }
}
