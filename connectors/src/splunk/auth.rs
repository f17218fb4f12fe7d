//! Splunk authentication: a Bearer token, or a password login whose session key is sent as
//! `Authorization: Splunk <key>` and renewed on a 401 (the shared token cache does the
//! "invalidate, mint once, retry once"). Also the `messages` error envelope and the per-credential
//! search slots.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use url::Url;

use super::mapping::KIND;
use crate::ConnectorError;
use crate::http::{Http, Response, Token, TokenMinter, VendorPolicy};

/// A Bearer token does not expire on our side; Splunk says when it has (401).
const TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Splunk sessions time out after 1 h idle by default (`server.conf sessionTimeout`); renewing a
/// little early avoids most 401 round trips, and a 401 renews it anyway.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(55 * 60);
pub use crate::http::REFRESH_BEFORE;

pub struct SplunkPolicy;

impl VendorPolicy for SplunkPolicy {
    fn vendor(&self) -> crate::Kind {
        KIND
    }

    /// splunkd sends no request id header.
    fn trace_id(&self, _headers: &HeaderMap) -> Option<String> {
        None
    }
}

/// Hands out the configured token; "minting again" after a 401 gives the same token, so a
/// second 401 reaches the caller as a rejected credential.
pub struct StaticToken(pub SecretString);

#[async_trait]
impl TokenMinter for StaticToken {
    async fn mint(&self, _http: &Http) -> Result<Token, ConnectorError> {
        Ok(Token::new(self.0.clone(), TOKEN_LIFETIME))
    }
}

/// Logs in at `/services/auth/login`.
pub struct SessionLogin {
    pub login_url: Url,
    pub username: String,
    pub password: SecretString,
}

#[derive(Deserialize)]
struct LoginReply {
    #[serde(rename = "sessionKey")]
    session_key: SecretString,
}

#[async_trait]
impl TokenMinter for SessionLogin {
    async fn mint(&self, http: &Http) -> Result<Token, ConnectorError> {
        let endpoint = "auth/login";
        let resp = http
            .send(endpoint, |c| {
                c.post(self.login_url.clone()).form(&[
                    ("username", self.username.as_str()),
                    ("password", self.password.expose_secret()),
                    ("output_mode", "json"),
                ])
            })
            .await?;
        match resp.status {
            200 => {}
            400 | 401 => {
                return Err(ConnectorError::CredentialRejected {
                    vendor: KIND,
                    message: format!(
                        "login as {:?} failed ({}); check the user name and password, and that \
                         the account is not locked out",
                        self.username,
                        envelope_text(&resp)
                    ),
                });
            }
            _ => return Err(http_error(endpoint, &resp)),
        }
        let reply: LoginReply =
            serde_json::from_slice(&resp.body).map_err(|e| ConnectorError::Malformed {
                vendor: KIND,
                endpoint: endpoint.to_owned(),
                reason: format!("no sessionKey in the login reply: {e}"),
            })?;
        Ok(Token::new(reply.session_key, SESSION_LIFETIME))
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: String,
}

/// The `messages` envelope as one line (`FATAL: …; WARN: …`), else the start of the body.
pub fn envelope_text(resp: &Response) -> String {
    if let Ok(env) = serde_json::from_slice::<Envelope>(&resp.body)
        && !env.messages.is_empty()
    {
        return messages_line(
            env.messages
                .iter()
                .map(|m| (m.kind.as_str(), m.text.as_str())),
        );
    }
    let text = String::from_utf8_lossy(&resp.body);
    let text = text.trim();
    if text.is_empty() {
        return "no message".to_owned();
    }
    text.chars().take(300).collect()
}

pub fn messages_line<'a>(msgs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    msgs.map(|(k, t)| {
        if k.is_empty() {
            t.to_owned()
        } else {
            format!("{k}: {t}")
        }
    })
    .collect::<Vec<_>>()
    .join("; ")
}

/// A non-2xx answer as an error: 401 a rejected credential, 403 a missing permission.
pub fn http_error(endpoint: &str, resp: &Response) -> ConnectorError {
    let message = envelope_text(resp);
    match resp.status {
        401 => ConnectorError::CredentialRejected {
            vendor: KIND,
            message: format!(
                "{message} on {endpoint}; renew the token or password (and check that the token \
                 is enabled and was issued by this Splunk instance)"
            ),
        },
        403 => ConnectorError::PermissionDenied {
            vendor: KIND,
            endpoint: endpoint.to_owned(),
            message: format!("{message}; grant the service account's role the capability"),
        },
        status => ConnectorError::Http {
            vendor: KIND,
            endpoint: endpoint.to_owned(),
            status,
            message,
            trace_id: resp.trace_id.clone(),
        },
    }
}

/// Whose search quota a connector draws on.
#[derive(Clone, Copy)]
pub enum Identity<'a> {
    Token(&'a SecretString),
    User(&'a str),
}

/// Searches this process may run at once per Splunk credential. Scopes that share a service
/// account share its role's search quota, so they share these slots (through `HttpOptions`).
/// Keyed by endpoint and a SHA-256 of the identity (the user name, or the token), never the
/// credential itself.
pub fn search_slots(
    http: &Http,
    endpoint: &str,
    identity: Identity<'_>,
    permits: usize,
) -> Arc<Semaphore> {
    let key = format!("splunk search slots {}", identity_key(endpoint, identity));
    http.shared_semaphore(&key, permits)
}

/// One endpoint and Splunk identity as a hash: keys of what the process shares per identity,
/// without the token itself.
pub fn identity_key(endpoint: &str, identity: Identity<'_>) -> String {
    let mut h = Sha256::new();
    h.update(endpoint.as_bytes());
    match identity {
        Identity::Token(t) => {
            h.update(b"\0token\0");
            h.update(t.expose_secret().as_bytes());
        }
        Identity::User(u) => {
            h.update(b"\0user\0");
            h.update(u.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            body: bytes::Bytes::from(body.to_owned()),
            trace_id: None,
        }
    }

    #[test]
    fn envelope_text_joins_messages() {
        let r = resp(
            503,
            r#"{"messages":[{"type":"FATAL","text":"Search not executed: quota"}]}"#,
        );
        assert_eq!(envelope_text(&r), "FATAL: Search not executed: quota");
        assert_eq!(envelope_text(&resp(502, "bad gateway")), "bad gateway");
        assert_eq!(envelope_text(&resp(502, "")), "no message");
    }

    #[test]
    fn status_401_and_403_map_to_credential_errors() {
        assert!(http_error("x", &resp(401, "{}")).is_credential_rejected());
        assert!(http_error("x", &resp(403, "{}")).is_credential_rejected());
        assert!(!http_error("x", &resp(500, "{}")).is_credential_rejected());
    }

    #[test]
    fn search_slots_are_shared_per_endpoint_and_identity() {
        let t = SecretString::from("abc");
        let opts = HttpOptions::default_timeouts().unwrap();
        let limit = crate::http::RateLimit::per_minute(60);
        let http = Http::new(Arc::new(SplunkPolicy), &opts, limit);
        let sibling = Http::new(Arc::new(SplunkPolicy), &opts.clone(), limit);
        let a = search_slots(&http, "https://h:8089", Identity::Token(&t), 2);
        let b = search_slots(
            &sibling,
            "https://h:8089",
            Identity::Token(&SecretString::from("abc")),
            2,
        );
        let c = search_slots(&http, "https://h:8089", Identity::User("abc"), 2);
        let d = search_slots(&http, "https://other:8089", Identity::Token(&t), 2);
        let other_process = HttpOptions::default_timeouts().unwrap();
        let other_process = Http::new(Arc::new(SplunkPolicy), &other_process, limit);
        let e = search_slots(&other_process, "https://h:8089", Identity::Token(&t), 2);
        assert!(!Arc::ptr_eq(&a, &e));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(a.available_permits(), 2);
    }
}
