//! Elasticsearch / OpenSearch `_bulk`: one `create` action per alert with `_id = event_id`, so a
//! line sent twice is refused by the index itself (409 per item), which counts as delivered. Only
//! the items that failed with 429 or 5xx are sent again.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::Result;

use super::config::{self, ElasticTable, invalid};
use super::{EncodedBatch, ExternalSink, SinkError, SinkStats, Target};

pub const DEFAULT_INDEX: &str = "seliq-alerts";

enum Auth {
    None,
    ApiKey(SecretString),
    Basic(String, SecretString),
}

pub struct ElasticSink {
    name: String,
    bulk_url: url::Url,
    index: String,
    auth: Auth,
    client: reqwest::Client,
}

impl ElasticSink {
    pub fn new(t: &ElasticTable) -> Result<ElasticSink> {
        let name = t.name.clone();
        let base = config::http_url(&name, &t.url)?;
        let bulk_url = base
            .join(&format!("{}/_bulk", base.path().trim_end_matches('/')))
            .map_err(|e| invalid(&name, "url", e))?;
        let index = t.index.clone().unwrap_or_else(|| DEFAULT_INDEX.to_owned());
        check_index(&name, "index", &index)?;
        for r in &t.route {
            if let Some(i) = &r.index {
                check_index(&name, "route.index", i)?;
            }
        }
        let api_key = config::secret(
            &name,
            "api_key_env",
            &t.api_key_env,
            "api_key_file",
            &t.api_key_file,
        )?;
        let password = config::secret(
            &name,
            "password_env",
            &t.password_env,
            "password_file",
            &t.password_file,
        )?;
        let auth = match (api_key, &t.user, password) {
            (Some(k), None, None) => Auth::ApiKey(k),
            (None, Some(u), Some(p)) => Auth::Basic(u.clone(), p),
            (None, None, None) => Auth::None,
            (Some(_), _, _) => {
                return Err(invalid(
                    &name,
                    "api_key_env",
                    "and user/password exclude one another",
                ));
            }
            _ => {
                return Err(invalid(
                    &name,
                    "user",
                    "and password_env/password_file go together",
                ));
            }
        };
        let ca = config::ca_file(&name, &t.tls_ca_file)?;
        let client = super::http::client(&name, ca.as_deref())?;
        Ok(ElasticSink {
            name,
            bulk_url,
            index,
            auth,
            client,
        })
    }

    fn authorization(&self) -> Option<HeaderValue> {
        let raw = match &self.auth {
            Auth::None => return None,
            Auth::ApiKey(k) => format!("ApiKey {}", k.expose_secret()),
            Auth::Basic(u, p) => {
                use base64::Engine;
                let pair = format!("{u}:{}", p.expose_secret());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
        };
        let mut v = HeaderValue::from_str(&raw).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

/// Index names as Elasticsearch allows them (lowercase, no separators), `{workspace}` aside.
fn check_index(sink: &str, key: &str, index: &str) -> Result<()> {
    let probe = index.replace("{workspace}", "w");
    let ok = !probe.is_empty()
        && probe.len() <= 200
        && !probe.starts_with(['-', '_', '+'])
        && probe
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            sink,
            key,
            format!(
                "{index:?} is not an index name (lowercase letters, digits, '-', '_', '.'; {{workspace}} allowed)"
            ),
        ))
    }
}

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[async_trait::async_trait]
impl ExternalSink for ElasticSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "elasticsearch"
    }

    async fn deliver(
        &self,
        target: &Target,
        batch: &EncodedBatch,
        pending: &mut Vec<usize>,
        stats: &SinkStats,
    ) -> Result<(), SinkError> {
        let index = target
            .index
            .as_deref()
            .unwrap_or(&self.index)
            .replace("{workspace}", &target.workspace);
        let mut body = Vec::with_capacity(batch.bytes.len() + pending.len() * 160);
        for &i in pending.iter() {
            let m = &batch.lines[i];
            let action = serde_json::json!({"create": {"_index": index, "_id": m.event_id}});
            serde_json::to_writer(&mut body, &action)
                .map_err(|e| SinkError::Permanent(e.to_string()))?;
            body.push(b'\n');
            // `@timestamp` first (data streams require it), then the alert's own fields.
            let ts = m
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            body.extend_from_slice(format!("{{\"@timestamp\":\"{ts}\",").as_bytes());
            body.extend_from_slice(&batch.line(i)[1..]);
            body.push(b'\n');
        }
        let mut req = self
            .client
            .post(self.bulk_url.clone())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        if let Some(auth) = self.authorization() {
            req = req.header(AUTHORIZATION, auth);
        }
        let resp = req.send().await.map_err(super::http::transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(super::http::transport)?;
        if !status.is_success() {
            return Err(super::http::status_error(status, &bytes));
        }
        let parsed: BulkResponse = serde_json::from_slice(&bytes).map_err(|e| {
            SinkError::Transient(format!(
                "the _bulk response is not what Elasticsearch sends: {e}"
            ))
        })?;
        if parsed.items.len() != pending.len() {
            return Err(SinkError::Transient(format!(
                "the _bulk response has {} items for {} actions",
                parsed.items.len(),
                pending.len()
            )));
        }
        let mut still = Vec::new();
        let mut retryable = None;
        for (&i, item) in pending.iter().zip(&parsed.items) {
            let Some(r) = item.get("create") else {
                return Err(SinkError::Transient(
                    "a _bulk item is not a create result".to_owned(),
                ));
            };
            match r.status {
                200..=299 => {}
                // Already indexed under this event_id: delivered (the duplicate is refused).
                409 => {
                    stats.duplicates.inc();
                }
                429 | 500..=599 => {
                    still.push(i);
                    retryable.get_or_insert(r.status);
                }
                s => {
                    let why = r
                        .error
                        .as_ref()
                        .map(|e| super::remote_text(e.to_string().as_bytes()))
                        .unwrap_or_default();
                    return Err(SinkError::Permanent(format!(
                        "index {index} refused event {} with HTTP {s}: {why}",
                        batch.lines[i].event_id
                    )));
                }
            }
        }
        let total = pending.len();
        *pending = still;
        match retryable {
            None => Ok(()),
            Some(s) => Err(SinkError::Transient(format!(
                "{} of {total} items answered HTTP {s}; retrying those",
                pending.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_follow_elasticsearch_rules() {
        assert!(check_index("e", "index", "seliq-{workspace}").is_ok());
        assert!(check_index("e", "index", "logs-seliq.alerts-default").is_ok());
        for bad in ["", "Upper", "a b", "-x", "a/b", "a*"] {
            assert!(check_index("e", "index", bad).is_err(), "{bad:?}");
        }
    }
}
