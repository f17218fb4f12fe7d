//! `Http`: one per integration. Shares the process-wide `reqwest::Client` (connection pool) but
//! owns its own limiter, retry state and stats.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::{RateLimit, RetryPolicy, TokenCache};
use crate::ConnectorError;

/// Process-wide HTTP settings handed to every connector the registry builds.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Shared connection pool. Built by [`HttpOptions::new`] with the connect timeout set.
    pub client: reqwest::Client,
    /// Per-request read timeout (whole response).
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    /// Overrides the vendor's default quota for this integration when set.
    pub rate_limit: Option<RateLimit>,
}

impl HttpOptions {
    /// Installs the ring rustls provider once per process (we build ring-only), then builds the
    /// shared client with `connect_timeout`.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Result<Self, ConnectorError> {
        todo!("http helper: {connect_timeout:?} {read_timeout:?}")
    }
}

/// What differs between vendors in how responses are read for retry and throttling.
pub trait VendorPolicy: Send + Sync + 'static {
    /// Vendor name for errors and logs, e.g. "crowdstrike".
    fn vendor(&self) -> &'static str;
    /// The vendor's trace id header, logged on every failure (CrowdStrike `X-Cs-Traceid`,
    /// ARM `x-ms-request-id`/`x-ms-correlation-request-id`, ...).
    fn trace_id(&self, headers: &HeaderMap) -> Option<String>;
    /// How long to wait before retrying a 429/503 given its headers. The default reads the standard
    /// `Retry-After` (seconds or HTTP date).
    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration>;
    /// A pause to take *before the next request* when the headers say the quota runs low
    /// (CrowdStrike `X-Ratelimit-Remaining`, ARM `x-ms-ratelimit-remaining-subscription-reads`).
    fn throttle_ahead(&self, headers: &HeaderMap) -> Option<Duration>;
}

/// A fully read response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    pub trace_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    pub requests: u64,
    pub retries: u64,
}

pub struct Http {
    _policy: Arc<dyn VendorPolicy>,
}

impl Http {
    pub fn new(policy: Arc<dyn VendorPolicy>, options: &HttpOptions, default_limit: RateLimit) -> Self {
        todo!("http helper {options:?} {default_limit:?} {}", policy.vendor())
    }

    /// Send one logical request. `build` is called once per attempt. Waits on the limiter before
    /// every attempt; retries 429, 5xx, timeouts and connection resets per the retry policy,
    /// honouring `Retry-After`. Returns the final response whatever its status (the vendor maps
    /// 4xx bodies to errors); returns `Err` only when no response could be had or the retry budget
    /// ran out on a retryable status.
    pub async fn send<F>(&self, endpoint: &str, build: F) -> Result<Response, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let _ = (endpoint, &build);
        todo!()
    }

    /// Like `send`, with `Authorization` from `tokens`. On a 401, mints once and retries once; a
    /// second 401 is returned as the response.
    pub async fn send_authed<F>(
        &self,
        endpoint: &str,
        tokens: &TokenCache,
        build: F,
    ) -> Result<Response, ConnectorError>
    where
        F: Fn(&reqwest::Client, &secrecy::SecretString) -> reqwest::RequestBuilder + Send + Sync,
    {
        let _ = (endpoint, tokens, &build);
        todo!()
    }

    pub fn stats(&self) -> HttpStats {
        todo!()
    }
}
