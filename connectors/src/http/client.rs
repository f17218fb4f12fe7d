//! `Http`: one per integration. Shares the process-wide `reqwest::Client` (connection pool) but
//! owns its own limiter, retry state and stats.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::limiter::{Limiter, lock};
use super::retry::standard_retry_after;
use super::{RateLimit, RetryPolicy, TokenCache};
use crate::{ConnectorError, SettingsError};

/// Process-wide HTTP settings handed to every connector the registry builds.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Shared connection pool. Built by [`HttpOptions::new`] with the connect timeout set.
    pub client: reqwest::Client,
    /// Per-request read timeout (whole response); zero means none. A request that sets its own
    /// timeout keeps it.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    /// Overrides the vendor's default quota for this integration when set.
    pub rate_limit: Option<RateLimit>,
    /// Overrides the vendor's default quota on token requests, which the vendor counts per
    /// source IP and which every integration of this process therefore shares.
    pub token_rate_limit: Option<RateLimit>,
    /// Overrides the vendor's default quota per vendor account, shared by every integration of
    /// this process that uses one API client (CrowdStrike: a parent client on one API host,
    /// whose account's 6,000 per minute all its child CIDs draw on). Applies on top of the
    /// per-integration `rate_limit`.
    pub account_rate_limit: Option<RateLimit>,
    /// Root certificates trusted besides the system's ([`HttpOptions::with_ca_file`]), for
    /// vendor endpoints or TLS-inspecting proxies behind a private CA.
    pub extra_roots: Vec<reqwest::Certificate>,
    /// The quotas this process's integrations share (token endpoints, vendor accounts, Splunk
    /// search slots, connections per host): every clone of these options holds the same ones.
    pub(crate) shared: Arc<super::shared::Shared>,
    /// The most connections this process opens to one vendor origin (scheme, host, port),
    /// whatever the number of integrations behind it: requests beyond it wait for a
    /// connection of the shared pool instead of opening their own.
    max_connections_per_host: usize,
    /// How `client` was built, so adding roots can rebuild it with the same timers.
    connect_timeout: Duration,
    pool_idle_timeout: Option<Duration>,
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections per vendor origin: at a vendor's ~100 ms per page, 32 connections carry 300+
/// pages a second, far above what one API client's quota allows (Falcon 6,000 per minute).
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: usize = 32;
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

static CRYPTO_PROVIDER: Once = Once::new();

/// reqwest is built with `rustls-no-provider`: it asks rustls for the process default, which must
/// be installed before the first client is built.
pub fn install_crypto_provider() {
    CRYPTO_PROVIDER.call_once(|| {
        // Err means another part of the process installed one first; that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl HttpOptions {
    /// Installs the ring rustls provider once per process (we build ring-only), then builds the
    /// shared client with `connect_timeout`. A zero timeout means none.
    pub fn new(connect_timeout: Duration, read_timeout: Duration) -> Result<Self, ConnectorError> {
        Self::build(connect_timeout, read_timeout, Some(POOL_IDLE_TIMEOUT))
    }

    /// No connect, read or pool timers at all: for tests on tokio's paused clock
    /// (`start_paused = true`) against a real socket such as wiremock. The paused clock
    /// auto-advances to the next pending timer whenever the runtime waits on I/O, so any timeout
    /// armed while the request is in flight fires at once and fails the request.
    pub fn without_timeouts() -> Result<Self, ConnectorError> {
        Self::build(Duration::ZERO, Duration::ZERO, None)
    }

    fn build(
        connect_timeout: Duration,
        read_timeout: Duration,
        pool_idle_timeout: Option<Duration>,
    ) -> Result<Self, ConnectorError> {
        Ok(HttpOptions {
            client: Self::client(
                connect_timeout,
                pool_idle_timeout,
                DEFAULT_MAX_CONNECTIONS_PER_HOST,
                &[],
            )?,
            read_timeout,
            retry: RetryPolicy::default(),
            rate_limit: None,
            token_rate_limit: None,
            account_rate_limit: None,
            extra_roots: Vec::new(),
            shared: Arc::default(),
            max_connections_per_host: DEFAULT_MAX_CONNECTIONS_PER_HOST,
            connect_timeout,
            pool_idle_timeout,
        })
    }

    fn client(
        connect_timeout: Duration,
        pool_idle_timeout: Option<Duration>,
        max_connections_per_host: usize,
        extra_roots: &[reqwest::Certificate],
    ) -> Result<reqwest::Client, ConnectorError> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .pool_idle_timeout(pool_idle_timeout)
            // Requests per origin are capped at the same number (`Http::attempt`), so the pool
            // never needs to keep more idle ones.
            .pool_max_idle_per_host(max_connections_per_host)
            .tcp_keepalive(Duration::from_secs(60))
            // Never follow redirects: a followed 308 would re-send a token form (with its
            // secret) to whatever host `Location` names. Vendors handle redirects themselves
            // against an allow-list (CrowdStrike's `X-Cs-Region`).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("seliq-gateway/", env!("CARGO_PKG_VERSION")));
        if !connect_timeout.is_zero() {
            builder = builder.connect_timeout(connect_timeout);
        }
        if !extra_roots.is_empty() {
            // Merged with (not instead of) the platform's roots: one gateway talks to public
            // vendor clouds and to a private-CA endpoint at once.
            builder = builder.tls_certs_merge(extra_roots.iter().cloned());
        }
        builder.build().map_err(|e| ConnectorError::Client {
            reason: describe_error(e),
        })
    }

    /// Trusts the CA certificates of the PEM file at `path` besides the system's roots
    /// (`--ca-file`), and rebuilds the shared client with them. A file that cannot be read or
    /// holds no certificate is a settings error naming the file.
    pub fn with_ca_file(mut self, path: &std::path::Path) -> Result<Self, ConnectorError> {
        let shown = path.display().to_string();
        let refuse = |reason: String| SettingsError::new("CA file", shown.clone(), reason);
        let pem = std::fs::read(path).map_err(|e| refuse(format!("cannot be read: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| refuse(format!("is not a PEM certificate bundle: {e}")))?;
        if certs.is_empty() {
            return Err(refuse(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
            )
            .into());
        }
        self.extra_roots.extend(certs);
        self.rebuild_client()?;
        Ok(self)
    }

    /// Caps the connections this process opens to one vendor origin (at least 1). Every
    /// integration reaching that origin shares them: thousands of Falcon CIDs of one cloud, or
    /// every Sentinel workspace behind `management.azure.com`, go through one small pool.
    pub fn with_max_connections_per_host(mut self, n: usize) -> Result<Self, ConnectorError> {
        self.max_connections_per_host = n.max(1);
        self.rebuild_client()?;
        Ok(self)
    }

    pub fn max_connections_per_host(&self) -> usize {
        self.max_connections_per_host
    }

    fn rebuild_client(&mut self) -> Result<(), ConnectorError> {
        self.client = Self::client(
            self.connect_timeout,
            self.pool_idle_timeout,
            self.max_connections_per_host,
            &self.extra_roots,
        )?;
        Ok(())
    }

    /// Connect timeout 10 s, read timeout 60 s, the default retry policy, vendor quotas.
    pub fn default_timeouts() -> Result<Self, ConnectorError> {
        HttpOptions::new(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    pub fn with_token_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.token_rate_limit = Some(rate_limit);
        self
    }

    pub fn with_account_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.account_rate_limit = Some(rate_limit);
        self
    }
}

/// What differs between vendors in how responses are read for retry and throttling.
pub trait VendorPolicy: Send + Sync + 'static {
    /// Vendor name for errors and logs, e.g. "crowdstrike".
    fn vendor(&self) -> crate::Kind;
    /// The vendor's trace id header, logged on every failure (CrowdStrike `X-Cs-Traceid`,
    /// ARM `x-ms-request-id`/`x-ms-correlation-request-id`, ...).
    fn trace_id(&self, headers: &HeaderMap) -> Option<String>;
    /// How long to wait before retrying a 429/503 given its headers. The default reads the standard
    /// `Retry-After` (seconds or HTTP date).
    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        standard_retry_after(headers)
    }
    /// A pause to take *before the next request* when the headers say the quota runs low
    /// (CrowdStrike `X-Ratelimit-Remaining`, ARM `x-ms-ratelimit-remaining-subscription-reads`).
    /// The default never pauses.
    fn throttle_ahead(&self, headers: &HeaderMap) -> Option<Duration> {
        let _ = headers;
        None
    }
}

/// A fully read response. `Debug` shows the body's length, never its bytes or the headers: a
/// token endpoint's body *is* a credential, and `Set-Cookie` can be one.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    pub trace_id: Option<String>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .field("trace_id", &self.trace_id)
            .finish_non_exhaustive()
    }
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Counters of one `Http` since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts beyond the first of each logical request.
    pub retries: u64,
    /// Times a request waited on the quota, a throttle-ahead pause or a shared `Retry-After`.
    pub throttled_waits: u64,
    /// The most requests started within any one window of the quota's period.
    pub max_requests_in_period: u64,
}

pub struct Http {
    policy: Arc<dyn VendorPolicy>,
    client: reqwest::Client,
    read_timeout: Duration,
    retry: RetryPolicy,
    limiter: Limiter,
    /// The quotas shared with the process's other integrations (from `HttpOptions`).
    shared: Arc<super::shared::Shared>,
    max_connections_per_host: usize,
    /// The process-wide quota of the vendor account this integration draws on, if any
    /// ([`Http::share_account_quota`]); every attempt passes it after its own limiter.
    account: std::sync::RwLock<Option<Arc<Limiter>>>,
    /// No request starts before this instant: set by `throttle_ahead` and by `Retry-After`, so
    /// concurrent requests of the integration back off together.
    paused_until: Mutex<Option<Instant>>,
    retries: AtomicU64,
    pauses: AtomicU64,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("vendor", &self.policy.vendor())
            .field("read_timeout", &self.read_timeout)
            .field("retry", &self.retry)
            .field("rate_limit", &self.limiter.limit())
            .finish_non_exhaustive()
    }
}

/// One attempt's outcome before the retry decision.
enum Attempt {
    Response(Response),
    /// The error, and the `host:port` the request went to (a refused certificate names it).
    Failed(reqwest::Error, String),
}

impl Http {
    pub fn new(
        policy: Arc<dyn VendorPolicy>,
        options: &HttpOptions,
        default_limit: RateLimit,
    ) -> Self {
        let limit = options.rate_limit.unwrap_or(default_limit);
        Http {
            policy,
            client: options.client.clone(),
            read_timeout: options.read_timeout,
            retry: options.retry,
            limiter: Limiter::new(limit),
            shared: options.shared.clone(),
            max_connections_per_host: options.max_connections_per_host,
            account: std::sync::RwLock::new(None),
            paused_until: Mutex::new(None),
            retries: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
        }
    }

    pub fn vendor(&self) -> crate::Kind {
        self.policy.vendor()
    }

    /// The quota in force (the override from `HttpOptions` or the vendor default).
    pub fn rate_limit(&self) -> RateLimit {
        self.limiter.limit()
    }

    /// Joins the process-wide quota named `key` (one vendor account as reached by one API
    /// client), replacing any joined before: a region redirect moves the integration to another
    /// host, and with it to that host's account quota. The first joiner's `limit` wins for a key.
    pub fn share_account_quota(&self, key: &str, limit: RateLimit) {
        let shared = self.shared.limiter(key, limit);
        *self
            .account
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(shared);
    }

    /// Wait for one slot of a quota shared by the process under `key` (for example one vendor
    /// host's token endpoint, which the vendor limits per source IP, not per integration).
    pub async fn acquire_shared(&self, key: &str, limit: RateLimit) {
        self.shared.limiter(key, limit).acquire().await;
    }

    /// What an integration of this process stored under `key` at most `max_age` ago, and how
    /// long ago (see [`super::shared`]).
    pub(crate) fn memo<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        max_age: Duration,
    ) -> Option<(T, Duration)> {
        self.shared.memo(key, max_age)
    }

    pub(crate) fn remember<T: Send + Sync + 'static>(&self, key: &str, value: T) {
        self.shared.remember(key, value);
    }

    pub(crate) fn forget(&self, key: &str) {
        self.shared.forget(key);
    }

    /// The semaphore the process's integrations share under `key` (first `permits` wins).
    pub(crate) fn shared_semaphore(
        &self,
        key: &str,
        permits: usize,
    ) -> Arc<tokio::sync::Semaphore> {
        self.shared.semaphore(key, permits)
    }

    /// The account quota this integration draws on, if it joined one.
    pub fn account_rate_limit(&self) -> Option<RateLimit> {
        self.account_limiter().map(|l| l.limit())
    }

    fn account_limiter(&self) -> Option<Arc<Limiter>> {
        self.account
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(endpoint, &build).await?;
            let retry_index = attempt - 1;
            let wait = match outcome {
                Attempt::Response(resp) => {
                    if !self.retry.is_retryable_status(resp.status) {
                        return Ok(resp);
                    }
                    let hinted = self.policy.retry_after(&resp.headers);
                    if let Some(w) = hinted
                        && w > self.retry.max_retry_after
                    {
                        tracing::warn!(
                            vendor = self.vendor().as_str(),
                            endpoint,
                            status = resp.status,
                            retry_after_ms = w.as_millis() as u64,
                            trace_id = resp.trace_id.as_deref(),
                            "not waiting for a Retry-After longer than allowed"
                        );
                        return Err(self.http_error(
                            endpoint,
                            &resp,
                            format!(
                                "asked to retry after {} s, more than the {} s allowed",
                                w.as_secs(),
                                self.retry.max_retry_after.as_secs()
                            ),
                        ));
                    }
                    if attempt >= max_attempts {
                        tracing::warn!(
                            vendor = self.vendor().as_str(),
                            endpoint,
                            status = resp.status,
                            attempts = attempt,
                            trace_id = resp.trace_id.as_deref(),
                            "retry budget exhausted"
                        );
                        return Err(self.http_error(
                            endpoint,
                            &resp,
                            format!("still failing after {attempt} attempts"),
                        ));
                    }
                    let wait = match hinted {
                        Some(w) => {
                            // The vendor's quota is shared by the whole integration.
                            self.pause_all_for(w);
                            w
                        }
                        None => self.retry.backoff(retry_index),
                    };
                    tracing::debug!(
                        vendor = self.vendor().as_str(),
                        endpoint,
                        status = resp.status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        trace_id = resp.trace_id.as_deref(),
                        "retrying after a retryable status"
                    );
                    wait
                }
                Attempt::Failed(err, host) => {
                    let retryable = self.retry.is_retryable_error(&err);
                    if !retryable || attempt >= max_attempts {
                        let reason = match certificate_problem(&err) {
                            Some(problem) => format!(
                                "the TLS certificate of {host} is not trusted ({problem}); if \
                                 it is issued by a private CA, pass that CA's certificate with \
                                 --ca-file PATH"
                            ),
                            None => describe_error(err),
                        };
                        tracing::warn!(
                            vendor = self.vendor().as_str(),
                            endpoint,
                            attempts = attempt,
                            reason = %reason,
                            "request failed"
                        );
                        return Err(ConnectorError::Transport {
                            vendor: self.vendor(),
                            endpoint: endpoint.to_owned(),
                            reason: if retryable {
                                format!("{reason} (after {attempt} attempts)")
                            } else {
                                reason
                            },
                        });
                    }
                    let wait = self.retry.backoff(retry_index);
                    tracing::debug!(
                        vendor = self.vendor().as_str(),
                        endpoint,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        reason = %describe_error(err),
                        "retrying after a transport error"
                    );
                    wait
                }
            };
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
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
        let token = tokens.get(self).await?;
        let resp = self.send(endpoint, |c| build(c, &token)).await?;
        if resp.status != 401 {
            return Ok(resp);
        }
        tracing::debug!(
            vendor = self.vendor().as_str(),
            endpoint,
            trace_id = resp.trace_id.as_deref(),
            "401: minting a new token and retrying once"
        );
        tokens.invalidate(&token);
        let token = tokens.get(self).await?;
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.send(endpoint, |c| build(c, &token)).await
    }

    pub fn stats(&self) -> HttpStats {
        let counts = self.limiter.counts();
        HttpStats {
            requests: counts.granted,
            retries: self.retries.load(Ordering::Relaxed),
            throttled_waits: counts.throttled_waits + self.pauses.load(Ordering::Relaxed),
            max_requests_in_period: counts.max_in_period,
        }
    }

    /// The most requests this integration started within any one window of its quota's period;
    /// never above `rate_limit().requests` (a benchmark asserts that).
    pub fn max_requests_in_period(&self) -> u64 {
        self.limiter.counts().max_in_period
    }

    /// One attempt: pauses, quota, send, read the whole body. `Err` only for a request that
    /// cannot be built.
    async fn attempt<F>(&self, endpoint: &str, build: &F) -> Result<Attempt, ConnectorError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let mut request = build(&self.client)
            .build()
            .map_err(|e| ConnectorError::Transport {
                vendor: self.vendor(),
                endpoint: endpoint.to_owned(),
                reason: format!("invalid request: {}", describe_error(e)),
            })?;
        // A vendor may ask for a longer timeout on a known-slow call; otherwise ours applies.
        if request.timeout().is_none() && !self.read_timeout.is_zero() {
            *request.timeout_mut() = Some(self.read_timeout);
        }
        self.wait_for_pause().await;
        self.limiter.acquire().await;
        // The account quota last, so its grant is as close as possible to the send the vendor
        // counts; waiting here does not hold back other integrations' own limiters.
        if let Some(account) = self.account_limiter() {
            account.acquire().await;
        }
        let host = host_of(request.url());
        // One of the origin's shared connections, held until the body is read (the connection
        // is back in the pool by then): hyper's pool has no cap of its own and would open one
        // connection per concurrent request.
        let origin = request.url().origin().ascii_serialization();
        let _connection = self
            .shared
            .semaphore(
                &format!("connections {origin}"),
                self.max_connections_per_host,
            )
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let resp = match self.client.execute(request).await {
            Ok(resp) => resp,
            Err(e) => return Ok(Attempt::Failed(e, host)),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let trace_id = self.policy.trace_id(&headers);
        if let Some(pause) = self.policy.throttle_ahead(&headers) {
            self.pause_all_for(pause.min(self.retry.max_retry_after));
        }
        let body = match resp.bytes().await {
            Ok(body) => body,
            Err(e) => return Ok(Attempt::Failed(e, host)),
        };
        Ok(Attempt::Response(Response {
            status,
            headers,
            body,
            trace_id,
        }))
    }

    fn pause_all_for(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait;
        let mut paused = lock(&self.paused_until);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    async fn wait_for_pause(&self) {
        let until = *lock(&self.paused_until);
        if let Some(until) = until
            && until > Instant::now()
        {
            self.pauses.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep_until(until).await;
        }
    }

    /// Only ever called on a retryable error status, whose body is the vendor's error envelope
    /// (CloudError, Splunk `messages`, Falcon `errors[]`): worth showing, and never a token.
    fn http_error(&self, endpoint: &str, resp: &Response, message: String) -> ConnectorError {
        let excerpt = body_excerpt(&resp.body);
        let message = if excerpt.is_empty() {
            message
        } else {
            format!("{message}; the vendor said: {excerpt}")
        };
        ConnectorError::Http {
            vendor: self.vendor(),
            endpoint: endpoint.to_owned(),
            status: resp.status,
            message,
            trace_id: resp.trace_id.clone(),
        }
    }
}

/// The start of a response body on one line, for an error message.
fn body_excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX * 4)]);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// `host:port` of a request, for naming the server in an error (never the path or query).
fn host_of(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The TLS certificate problem behind `err`, if that is what failed it: rustls refused the
/// server's certificate (unknown issuer, wrong name, expired, ...). Such a failure never heals on
/// retry. The rustls error comes up wrapped in `io::Error`s (whose `source()` skips the wrapped
/// error), so each link is unwrapped by hand.
pub(crate) fn certificate_problem(err: &reqwest::Error) -> Option<String> {
    fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
        rustls_error(inner)
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(rustls::Error::InvalidCertificate(why)) = rustls_error(e) {
            return Some(format!("{why:?}"));
        }
        next = e.source();
    }
    None
}

/// A transport error as one line: its kind and cause chain, without the URL (query strings may
/// carry tenant details and never belong in an error message).
fn describe_error(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "response body broken off"
    } else if err.is_builder() {
        "bad request"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut out = kind.to_owned();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&err);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
