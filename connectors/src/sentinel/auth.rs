//! Entra ID (Azure AD) v2 client-credentials grant for ARM.
//!
//! `POST <authority>/<tenant>/oauth2/v2.0/token` with `grant_type=client_credentials`,
//! `client_id`, `client_secret` and `scope=<arm>/.default`. There is no refresh token in this
//! flow: the shared [`crate::http::TokenCache`] mints a new token before the old one expires.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::mapping::{KIND, VENDOR};
use crate::ConnectorError;
use crate::http::{Http, Response, Token, TokenMinter, VendorPolicy};

/// Used when the response has no `expires_in` (XSOAR assumes the same).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3595);

const ENDPOINT: &str = "token endpoint";

pub(crate) struct ClientCredentials {
    pub token_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub scope: String,
    pub secret: SecretString,
}

#[async_trait]
impl TokenMinter for ClientCredentials {
    async fn mint(&self, http: &Http) -> Result<Token, ConnectorError> {
        let resp = http
            .send(ENDPOINT, |c| {
                c.post(&self.token_url).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", self.client_id.as_str()),
                    ("client_secret", self.secret.expose_secret()),
                    ("scope", self.scope.as_str()),
                ])
            })
            .await?;
        if !resp.is_success() {
            return Err(self.rejection(&resp));
        }
        let body: TokenResponse =
            serde_json::from_slice(&resp.body).map_err(|e| ConnectorError::Malformed {
                vendor: KIND,
                endpoint: ENDPOINT.into(),
                reason: format!("token response: {e}"),
            })?;
        let expires_in = body
            .expires_in
            .and_then(|e| e.seconds())
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Ok(Token::new(body.access_token, expires_in))
    }
}

impl ClientCredentials {
    /// Every 4xx from the token endpoint means the login service will not issue a token for this
    /// tenant, app and secret: the operator has to fix one of them.
    fn rejection(&self, resp: &Response) -> ConnectorError {
        let err: AadError = serde_json::from_slice(&resp.body).unwrap_or_default();
        if !(400..500).contains(&resp.status) {
            return ConnectorError::Http {
                vendor: KIND,
                endpoint: ENDPOINT.into(),
                status: resp.status,
                message: err.summary(),
                trace_id: resp.trace_id.clone().or(err.trace_id.clone()),
            };
        }
        let hint = self.hint(&err);
        let trace = resp
            .trace_id
            .as_deref()
            .or(err.trace_id.as_deref())
            .map(|t| format!(" (trace id {t})"))
            .unwrap_or_default();
        tracing::warn!(
            vendor = VENDOR,
            status = resp.status,
            error = err.error.as_deref().unwrap_or(""),
            code = err.aadsts().as_deref().unwrap_or(""),
            trace_id = resp.trace_id.as_deref().or(err.trace_id.as_deref()),
            "token request refused"
        );
        ConnectorError::CredentialRejected {
            vendor: KIND,
            message: format!("{}; {hint}{trace}", err.summary()),
        }
    }

    fn hint(&self, err: &AadError) -> String {
        let code = err.aadsts();
        let (tenant, client) = (&self.tenant_id, &self.client_id);
        match code.as_deref() {
            Some("AADSTS7000215") => format!(
                "the client secret is wrong (or is the secret's ID rather than its value): create a \
                 new secret for app {client} and run `credentials rotate`"
            ),
            Some("AADSTS7000222") => format!(
                "the client secret of app {client} has expired: create a new one and run \
                 `credentials rotate`"
            ),
            Some("AADSTS700016") => format!(
                "app {client} does not exist in tenant {tenant}: check --client-id and --tenant-id \
                 (a multi-tenant app must first be consented in that tenant)"
            ),
            Some("AADSTS90002") | Some("AADSTS900023") => format!(
                "tenant {tenant} was not found: check --tenant-id, and --cloud for a national cloud"
            ),
            Some("AADSTS70011") | Some("AADSTS500011") => {
                format!("the scope {} was refused: check --cloud", self.scope)
            }
            Some("AADSTS7000112") | Some("AADSTS700025") => {
                format!(
                    "app {client} is disabled or not allowed to use a secret in tenant {tenant}"
                )
            }
            _ => match err.error.as_deref() {
                Some("invalid_client") => format!(
                    "check the client secret of app {client}, then run `credentials rotate`"
                ),
                _ => format!(
                    "check --tenant-id {tenant}, --client-id {client}, --cloud and the secret"
                ),
            },
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    // Straight into a secret type: the token never sits in a plain `String`.
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<Lifetime>,
}

/// v2 sends a number; v1 and some proxies send a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Lifetime {
    Number(u64),
    Text(String),
}

impl Lifetime {
    fn seconds(&self) -> Option<u64> {
        match self {
            Lifetime::Number(n) => Some(*n),
            Lifetime::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// The OAuth2 error body Entra ID sends. `error_description` starts with the AADSTS code and
/// continues with trace lines we do not repeat.
#[derive(Deserialize, Default)]
struct AadError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
    #[serde(default)]
    trace_id: Option<String>,
}

impl AadError {
    fn aadsts(&self) -> Option<String> {
        if let Some(c) = self.error_codes.first() {
            return Some(format!("AADSTS{c}"));
        }
        let d = self.error_description.as_deref()?;
        let rest = d.trim_start().strip_prefix("AADSTS")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
    }

    /// `invalid_client: AADSTS7000215: Invalid client secret provided.` — the first line only.
    fn summary(&self) -> String {
        let error = self.error.as_deref().unwrap_or("login refused");
        let first_line = self
            .error_description
            .as_deref()
            .and_then(|d| d.lines().next())
            .map(str::trim)
            .filter(|l| !l.is_empty());
        match (first_line, self.aadsts()) {
            (Some(l), _) => format!("{error}: {l}"),
            (None, Some(code)) => format!("{error} ({code})"),
            (None, None) => error.to_owned(),
        }
    }
}

/// ARM's throttling and trace headers.
#[derive(Debug)]
pub struct ArmPolicy;

/// Below this many remaining reads, pause before the next request...
const LOW_REMAINING: u64 = 50;
/// ...for this long per read below the threshold (5 s at zero).
const PAUSE_PER_MISSING_READ: Duration = Duration::from_millis(100);

impl VendorPolicy for ArmPolicy {
    fn vendor(&self) -> crate::Kind {
        KIND
    }

    fn trace_id(&self, headers: &HeaderMap) -> Option<String> {
        ["x-ms-request-id", "x-ms-correlation-request-id"]
            .iter()
            .find_map(|h| headers.get(*h)?.to_str().ok().map(str::to_owned))
    }

    /// The lowest of ARM's remaining-read counters (subscription, tenant, and the 2024 model's
    /// global ones): ARM throttles on whichever runs out first.
    fn throttle_ahead(&self, headers: &HeaderMap) -> Option<Duration> {
        let remaining = headers
            .iter()
            .filter(|(name, _)| {
                let n = name.as_str();
                n.starts_with("x-ms-ratelimit-remaining-")
                    && (n.ends_with("-reads") || n.ends_with("-resource-requests"))
            })
            .filter_map(|(_, v)| v.to_str().ok()?.trim().parse::<u64>().ok())
            .min()?;
        let missing = LOW_REMAINING.checked_sub(remaining).filter(|m| *m > 0)?;
        Some(PAUSE_PER_MISSING_READ * u32::try_from(missing).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> ClientCredentials {
        ClientCredentials {
            token_url: "http://x/t/oauth2/v2.0/token".into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            scope: "https://management.azure.com/.default".into(),
            secret: SecretString::from("s3cr3t"),
        }
    }

    #[test]
    fn summary_keeps_the_first_line_with_the_aadsts_code() {
        let e: AadError = serde_json::from_str(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: abc\r\nCorrelation ID: def","error_codes":[7000215],"trace_id":"abc"}"#,
        )
        .unwrap();
        assert_eq!(e.aadsts().as_deref(), Some("AADSTS7000215"));
        assert_eq!(
            e.summary(),
            "invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        assert!(creds().hint(&e).contains("credentials rotate"));
    }

    #[test]
    fn reads_the_code_from_the_description_when_error_codes_is_absent() {
        let e = AadError {
            error: Some("invalid_request".into()),
            error_description: Some("AADSTS90002: Tenant 'x' not found.".into()),
            ..AadError::default()
        };
        assert_eq!(e.aadsts().as_deref(), Some("AADSTS90002"));
        assert!(creds().hint(&e).contains("--tenant-id"));
    }

    #[test]
    fn lifetime_accepts_numbers_and_strings() {
        let n: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":3599}"#).unwrap();
        assert_eq!(n.expires_in.and_then(|e| e.seconds()), Some(3599));
        let s: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":"3599"}"#).unwrap();
        assert_eq!(s.expires_in.and_then(|e| e.seconds()), Some(3599));
    }

    #[test]
    fn throttles_ahead_only_when_the_lowest_counter_runs_low() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-ms-ratelimit-remaining-subscription-reads",
            "11999".parse().unwrap(),
        );
        assert_eq!(ArmPolicy.throttle_ahead(&h), None);
        h.insert(
            "x-ms-ratelimit-remaining-tenant-reads",
            "40".parse().unwrap(),
        );
        assert_eq!(ArmPolicy.throttle_ahead(&h), Some(Duration::from_secs(1)));
        h.insert(
            "x-ms-ratelimit-remaining-subscription-global-reads",
            "0".parse().unwrap(),
        );
        assert_eq!(ArmPolicy.throttle_ahead(&h), Some(Duration::from_secs(5)));
        let mut w = HeaderMap::new();
        w.insert(
            "x-ms-ratelimit-remaining-subscription-writes",
            "0".parse().unwrap(),
        );
        assert_eq!(ArmPolicy.throttle_ahead(&w), None);
    }

    #[test]
    fn trace_id_prefers_the_request_id() {
        let mut h = HeaderMap::new();
        h.insert("x-ms-correlation-request-id", "corr".parse().unwrap());
        assert_eq!(ArmPolicy.trace_id(&h).as_deref(), Some("corr"));
        h.insert("x-ms-request-id", "req".parse().unwrap());
        assert_eq!(ArmPolicy.trace_id(&h).as_deref(), Some("req"));
    }
}
