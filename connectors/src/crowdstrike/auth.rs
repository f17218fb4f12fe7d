//! OAuth2 client credentials against `POST /oauth2/token`, and the Falcon region redirect.
//!
//! - The form carries `client_id`, `client_secret` and, for an MSSP child CID, `member_cid`
//!   (see the settings module for the rule). Success is **201** with `access_token` and
//!   `expires_in` (1799 s); the shared [`TokenCache`](crate::http::TokenCache) refreshes 120 s
//!   before expiry and re-mints once on a 401.
//! - A credential for another cloud gets **308** with `X-Cs-Region: <region>` (and a `Location`).
//!   The `Location` is never followed: the region is looked up in the allow-list of Falcon API
//!   hosts ([`Cloud::api_base`]) and the token request is issued there once, after which every
//!   call of the integration goes to that host. An unknown region is an error that says which
//!   `--cloud` to set.
//! - **403** from the token endpoint is an IP allow-list or credential problem and is not retried;
//!   **401** is a wrong client id or secret. Both are [`ConnectorError::CredentialRejected`].

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::mapping::{KIND, VENDOR};
use super::settings::Cloud;
use crate::ConnectorError;
use crate::http::{
    Http, RateLimit, Response, Token, TokenMinter, VendorPolicy, epoch_retry_after,
    standard_retry_after,
};

pub(crate) const TOKEN_PATH: &str = "/oauth2/token";
/// Used when a 201 omits `expires_in`: the documented 30-minute lifetime, less a second.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(1799);

/// Token requests per minute this process allows itself per API host. Falcon counts 300 per
/// minute per source IP for `/oauth2/token`, shared by every API client behind that IP, so an MSSP
/// minting one token per child CID must pace itself below it (gofalcon and FalconPy samples hit
/// it with a few hundred children).
pub const DEFAULT_TOKEN_RATE_LIMIT_PER_MINUTE: u32 = 250;

/// The API host the integration talks to. Starts at the configured base URL and moves once if
/// the token endpoint redirects to the client's region; tokens only work on their own region.
#[derive(Debug)]
pub(crate) struct ApiBase(RwLock<Url>);

impl ApiBase {
    pub fn new(url: Url) -> ApiBase {
        ApiBase(RwLock::new(url))
    }

    pub fn get(&self) -> Url {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, url: Url) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = url;
    }

    /// `base` + `path`, whatever the base's trailing slash.
    pub fn endpoint(&self, path: &str) -> String {
        join(&self.get(), path)
    }
}

/// The process-wide quota key of one vendor account as one API client reaches it: the client id
/// and the API host (a client id names one client in one cloud; the host keeps two clouds apart).
pub(crate) fn account_key(client_id: &str, base: &Url) -> String {
    format!(
        "crowdstrike account {client_id}@{}:{}",
        base.host_str().unwrap_or_default(),
        base.port_or_known_default().unwrap_or(443)
    )
}

pub(crate) fn join(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// The region → API host allow-list a 308 may lead to. Defaults to [`Cloud::api_base`].
#[derive(Debug, Default)]
pub(crate) struct RegionHosts(RwLock<HashMap<Cloud, Url>>);

impl RegionHosts {
    pub fn url(&self, cloud: Cloud) -> Url {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&cloud)
            .cloned()
            .unwrap_or_else(|| cloud.api_url())
    }

    pub fn replace(&self, cloud: Cloud, url: Url) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cloud, url);
    }
}

/// Mints tokens for one integration. Holds the secret; never shared between integrations.
pub(crate) struct FalconMinter {
    pub base: Arc<ApiBase>,
    pub regions: Arc<RegionHosts>,
    pub client_id: String,
    pub secret: SecretString,
    pub member_cid: Option<String>,
    /// The process-wide token quota per API host (see [`DEFAULT_TOKEN_RATE_LIMIT_PER_MINUTE`]).
    pub token_quota: RateLimit,
    /// The account quota shared per (client id, API host), rejoined after a region redirect.
    pub account_quota: RateLimit,
}

#[derive(Deserialize)]
struct TokenBody {
    // Straight into a secret type: the token never sits in a plain `String`.
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[async_trait]
impl TokenMinter for FalconMinter {
    async fn mint(&self, http: &Http) -> Result<Token, ConnectorError> {
        let base = self.base.get();
        let resp = self.request(http, &base).await?;
        if resp.status != 308 {
            return self.read(resp);
        }
        let region = header(&resp.headers, "x-cs-region");
        let Some(cloud) = region.as_deref().and_then(Cloud::parse) else {
            tracing::warn!(
                vendor = VENDOR,
                region = region.as_deref(),
                trace_id = resp.trace_id.as_deref(),
                "token endpoint redirected to an unknown region; not following its Location"
            );
            return Err(ConnectorError::Http {
                vendor: KIND,
                endpoint: TOKEN_PATH.to_owned(),
                status: 308,
                message: format!(
                    "the API client belongs to another cloud, but the redirect names no known \
                     region (X-Cs-Region {region:?}); set --cloud to the API client's region"
                ),
                trace_id: resp.trace_id,
            });
        };
        let target = self.regions.url(cloud);
        tracing::warn!(
            vendor = VENDOR,
            region = cloud.as_str(),
            host = target.host_str(),
            trace_id = resp.trace_id.as_deref(),
            "the API client lives in another cloud; re-issuing the token request to its \
             allow-listed host (set --cloud {} to skip this redirect)",
            cloud.as_str()
        );
        let resp = self.request(http, &target).await?;
        if resp.status == 308 {
            return Err(ConnectorError::Http {
                vendor: KIND,
                endpoint: TOKEN_PATH.to_owned(),
                status: 308,
                message: format!(
                    "redirected again by the {} host; set --cloud or --base-url explicitly",
                    cloud.as_str()
                ),
                trace_id: resp.trace_id,
            });
        }
        let token = self.read(resp)?;
        // Every later call goes to the regional host, and so spends that host's account quota.
        http.share_account_quota(&account_key(&self.client_id, &target), self.account_quota);
        self.base.set(target);
        Ok(token)
    }
}

impl FalconMinter {
    async fn request(&self, http: &Http, base: &Url) -> Result<Response, ConnectorError> {
        let url = join(base, TOKEN_PATH);
        let host = format!(
            "crowdstrike token {}:{}",
            base.host_str().unwrap_or_default(),
            base.port_or_known_default().unwrap_or(443)
        );
        http.acquire_shared(&host, self.token_quota).await;
        http.send(TOKEN_PATH, |c| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("client_id", &self.client_id)
                .append_pair("client_secret", self.secret.expose_secret());
            if let Some(cid) = &self.member_cid {
                form.append_pair("member_cid", cid);
            }
            // A streaming body cannot be replayed: even an HTTP client that follows redirects
            // hands a 307/308 back to us instead of re-posting the secret to its `Location`.
            c.post(&url)
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(reqwest::Body::wrap(form.finish()))
        })
        .await
    }

    fn read(&self, resp: Response) -> Result<Token, ConnectorError> {
        match resp.status {
            200 | 201 => {
                let body: TokenBody =
                    serde_json::from_slice(&resp.body).map_err(|e| ConnectorError::Malformed {
                        vendor: KIND,
                        endpoint: TOKEN_PATH.to_owned(),
                        reason: format!("the token response is not readable ({e})"),
                    })?;
                if body.access_token.expose_secret().is_empty() {
                    return Err(ConnectorError::Malformed {
                        vendor: KIND,
                        endpoint: TOKEN_PATH.to_owned(),
                        reason: "the token response holds an empty access_token".to_owned(),
                    });
                }
                let expires_in = body
                    .expires_in
                    .map_or(DEFAULT_EXPIRES_IN, Duration::from_secs);
                Ok(Token::new(body.access_token, expires_in))
            }
            status @ (400 | 401 | 403) => {
                let vendor_message = first_error_message(&resp.body);
                tracing::warn!(
                    vendor = VENDOR,
                    status,
                    trace_id = resp.trace_id.as_deref(),
                    vendor_message = vendor_message.as_deref(),
                    "the token endpoint refused the credential"
                );
                let said = vendor_message
                    .map(|m| format!(" (Falcon said: {m})"))
                    .unwrap_or_default();
                let scope = match &self.member_cid {
                    Some(cid) => format!(" or may not reach member CID {cid}"),
                    None => String::new(),
                };
                let message = match status {
                    403 => format!(
                        "HTTP 403 from the token endpoint: this is an IP allow-list or credential \
                         problem, not a transient one. Add this gateway's egress IP to the API \
                         client's IP allow-list in the Falcon console, or check that API client \
                         {} is enabled{scope}{said}",
                        self.client_id
                    ),
                    401 => format!(
                        "HTTP 401 from the token endpoint: the client id {} or its secret is \
                         wrong; check both in the Falcon console (API clients and keys){said}",
                        self.client_id
                    ),
                    _ => format!(
                        "HTTP 400 from the token endpoint: the request for client id {} was \
                         refused; check the client id{}{said}",
                        self.client_id,
                        if self.member_cid.is_some() {
                            " and the CID"
                        } else {
                            ""
                        }
                    ),
                };
                Err(ConnectorError::CredentialRejected {
                    vendor: KIND,
                    message,
                })
            }
            status => {
                tracing::warn!(
                    vendor = VENDOR,
                    status,
                    trace_id = resp.trace_id.as_deref(),
                    "unexpected status from the token endpoint"
                );
                Err(ConnectorError::Http {
                    vendor: KIND,
                    endpoint: TOKEN_PATH.to_owned(),
                    status,
                    message: first_error_message(&resp.body)
                        .unwrap_or_else(|| "unexpected status from the token endpoint".to_owned()),
                    trace_id: resp.trace_id,
                })
            }
        }
    }
}

pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

/// The first `errors[].message` of a Falcon envelope, if the body is one.
pub(crate) fn first_error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Option<Vec<ApiError>>,
    }
    let env: Envelope = serde_json::from_slice(body).ok()?;
    env.errors?.into_iter().next().map(|e| e.to_string())
}

/// One item of a Falcon envelope's `errors[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct ApiError {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, "{c} {m}"),
            (None, Some(m)) => f.write_str(m),
            (Some(c), None) => write!(f, "code {c}"),
            (None, None) => f.write_str("an error without a message"),
        }
    }
}

/// How Falcon responses are read for retries and throttling.
pub(crate) struct FalconPolicy;

impl VendorPolicy for FalconPolicy {
    fn vendor(&self) -> crate::Kind {
        KIND
    }

    fn trace_id(&self, headers: &HeaderMap) -> Option<String> {
        header(headers, "x-cs-traceid")
    }

    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        header(headers, "x-ratelimit-retryafter")
            .and_then(|v| epoch_retry_after(&v, SystemTime::now()))
            .or_else(|| standard_retry_after(headers))
    }

    fn throttle_ahead(&self, headers: &HeaderMap) -> Option<Duration> {
        let remaining: u64 = header(headers, "x-ratelimit-remaining")?.parse().ok()?;
        throttle_for_remaining(remaining)
    }
}

/// gofalcon's proactive throttle, one step stricter at the very end of the quota.
fn throttle_for_remaining(remaining: u64) -> Option<Duration> {
    match remaining {
        0..=2 => Some(Duration::from_secs(1)),
        3..=5 => Some(Duration::from_millis(500)),
        6..=10 => Some(Duration::from_millis(200)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_error_of_an_envelope() {
        let body = br#"{"meta":{"powered_by":"crowdstrike-api-gateway"},"errors":[{"code":403,"message":"access denied, authorization failed"}],"resources":null}"#;
        assert_eq!(
            first_error_message(body).as_deref(),
            Some("403 access denied, authorization failed")
        );
        assert_eq!(first_error_message(b"not json"), None);
        assert_eq!(first_error_message(br#"{"errors":[]}"#), None);
    }

    #[test]
    fn joins_paths_whatever_the_trailing_slash() {
        let a = Url::parse("https://api.crowdstrike.com").unwrap();
        let b = Url::parse("http://127.0.0.1:8080/proxy/").unwrap();
        assert_eq!(
            join(&a, TOKEN_PATH),
            "https://api.crowdstrike.com/oauth2/token"
        );
        assert_eq!(
            join(&b, TOKEN_PATH),
            "http://127.0.0.1:8080/proxy/oauth2/token"
        );
    }

    #[test]
    fn region_allow_list_defaults_to_the_falcon_hosts() {
        let r = RegionHosts::default();
        assert_eq!(
            r.url(Cloud::Us2).as_str(),
            "https://api.us-2.crowdstrike.com/"
        );
        let mock = Url::parse("http://127.0.0.1:9").unwrap();
        r.replace(Cloud::Us2, mock.clone());
        assert_eq!(r.url(Cloud::Us2), mock);
        assert_eq!(
            r.url(Cloud::Eu1).as_str(),
            "https://api.eu-1.crowdstrike.com/"
        );
    }

    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn throttles_ahead_only_when_the_quota_runs_low() {
        let p = FalconPolicy;
        assert_eq!(
            p.throttle_ahead(&headers(&[("X-Ratelimit-Remaining", "5999")])),
            None
        );
        assert_eq!(
            p.throttle_ahead(&headers(&[("X-Ratelimit-Remaining", "11")])),
            None
        );
        assert_eq!(
            p.throttle_ahead(&headers(&[("X-Ratelimit-Remaining", "10")])),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            p.throttle_ahead(&headers(&[("X-Ratelimit-Remaining", "4")])),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            p.throttle_ahead(&headers(&[("X-Ratelimit-Remaining", "0")])),
            Some(Duration::from_secs(1))
        );
        assert_eq!(p.throttle_ahead(&HeaderMap::new()), None);
        assert_eq!(
            p.throttle_ahead(&headers(&[("X-Ratelimit-Remaining", "lots")])),
            None
        );
    }

    #[test]
    fn retry_after_reads_epoch_seconds_or_milliseconds() {
        let p = FalconPolicy;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        let in_30s = (now + Duration::from_secs(30)).as_secs().to_string();
        let w = p
            .retry_after(&headers(&[("X-Ratelimit-Retryafter", &in_30s)]))
            .unwrap();
        assert!(
            w > Duration::from_secs(28) && w <= Duration::from_secs(30),
            "{w:?}"
        );
        let in_5s_ms = (now + Duration::from_secs(5)).as_millis().to_string();
        let w = p
            .retry_after(&headers(&[("X-Ratelimit-Retryafter", &in_5s_ms)]))
            .unwrap();
        assert!(
            w > Duration::from_secs(4) && w <= Duration::from_secs(5),
            "{w:?}"
        );
        // A reset already past still waits the minimum, never zero or negative.
        let past = (now.as_secs() - 100).to_string();
        let w = p
            .retry_after(&headers(&[("X-Ratelimit-Retryafter", &past)]))
            .unwrap();
        assert!(w >= crate::http::MIN_EPOCH_RETRY_AFTER);
        // Without the vendor header the standard one still counts.
        assert_eq!(
            p.retry_after(&headers(&[("Retry-After", "7")])),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn trace_id_comes_from_x_cs_traceid() {
        let p = FalconPolicy;
        assert_eq!(
            p.trace_id(&headers(&[("X-Cs-Traceid", "abc-123")]))
                .as_deref(),
            Some("abc-123")
        );
    }
}
