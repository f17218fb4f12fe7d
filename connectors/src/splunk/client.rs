//! The Splunk REST client and the [`Connector`] implementation.
//!
//! # Fetch
//! 1. `GET /services/server/info`: the version (v2 results endpoints from 9.0.2, Cloud from
//!    9.0.2209) and, from the `Date` header, the server's clock. The window ends at that clock
//!    minus [`Tuning::index_delay`], never at ours.
//! 2. `POST /servicesNS/<owner>/<app>/search/jobs` with `index_earliest`/`index_latest` = the
//!    window on `_indextime` (from the high-water mark minus the look-behind, see the cursor
//!    module), `earliest_time` = the window start minus the allowed lateness (`earliest`,
//!    default 7 days), a far `latest_time`, a large `max_count` (Splunk keeps only 10,000 events
//!    by default), `allow_partial_results=false` and a deterministic `id` (below).
//! 3. Poll `GET …/search/jobs/<sid>` with backoff until DONE (FAILED fails the fetch).
//! 4. When `resultCount` is far above one batch, the job is dropped and the window narrowed
//!    (see the cursor module), so a backlog is read in batch-sized windows.
//! 5. Page `…/search/v2/jobs/<sid>/results` (v1 before 9.0.2) by `offset`/`count` (≤ 50,000),
//!    until `resultCount` rows are read: a short page is not taken as the end.
//! 6. `DELETE …/search/jobs/<sid>`, on success and on error alike.
//!
//! # Partial results fail the fetch
//! A search whose peer failed, or that was finalized (stopped early), returns fewer rows than
//! the window holds; committing a cursor after it would lose the rest for good. So jobs are
//! created with `allow_partial_results=false` (Splunk then fails the job when a peer fails), and
//! a job that still reports `isFinalized`, or an ERROR/WARN message saying results are
//! incomplete or a peer could not be searched (on the job or on a results page), fails the fetch
//! with a "partial results" error. The cursor stays; the next pull searches the window again.
//!
//! # Deterministic search id
//! `POST search/jobs` is not idempotent, and the HTTP layer retries it after a transport error
//! or a 5xx, which can follow a job Splunk did create. Each job therefore gets `id=` derived
//! from the source, the search and the window. When the create still fails (how Splunk answers
//! a duplicate id is not documented), the job is looked up by that id, and an existing one is
//! used instead of starting another.
//!
//! Why jobs and not `search/v2/jobs/export`: export streams one whole result set with no count
//! up front, so a window cannot be narrowed before reading it all, a batch cannot stop part way,
//! and preview rows of transforming searches must be filtered; a job reports `resultCount`,
//! pages within bounded memory, and is deleted when done.
//!
//! # Concurrency
//! Searches hold a slot of a semaphore shared by every connector in the process that uses the
//! same endpoint and Splunk identity (default 2 slots), since those share one role quota. A 503
//! (concurrent-search quota reached) is retried with backoff by the HTTP layer; when it gives up
//! the fetch fails with the quota message and the cursor stays where it was.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use url::Url;

use super::auth::{
    Identity, SessionLogin, SplunkPolicy, StaticToken, envelope_text, http_error, messages_line,
    search_slots,
};
use super::cursor::{State, select};
use super::mapping::{IdMode, MappedRow, RowError, VENDOR, row_scope, try_map_row};
use super::settings::{AuthMode, Settings};
use crate::http::{
    AuthScheme, Http, HttpOptions, HttpStats, REFRESH_BEFORE, RateLimit, Response, TokenCache,
    authorize,
};
use crate::{Batch, Budget, Connector, ConnectorError, Cursor, Quarantined, SourceId};

/// Splunk caps a results page at `limits.conf [restapi] maxresultrows` (50,000 by default).
pub const MAX_PAGE: usize = 50_000;
/// Splunk's REST API has no published request quota; this keeps status polling polite.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 1200;

/// Knobs with safe defaults; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// The window ends this long before the server's clock, so events indexed in the last
    /// moments are searchable before their second is passed.
    pub index_delay: Duration,
    /// First wait between job status polls; doubles up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// A job not done after this long is cancelled and the fetch fails.
    pub job_timeout: Duration,
    /// Searches at once per endpoint and Splunk identity, across the process. The first
    /// connector of an identity decides the count.
    pub max_concurrent_searches: usize,
    /// Results per page, at most [`MAX_PAGE`].
    pub page_size: usize,
    /// `max_count` of each job: events a job keeps.
    pub max_count: u64,
    /// A job with more results than `max(batch × this, min_rows_before_narrowing)` is dropped
    /// and the window narrowed.
    pub narrow_factor: usize,
    pub min_rows_before_narrowing: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            index_delay: Duration::from_secs(15),
            poll_initial: Duration::from_millis(200),
            poll_max: Duration::from_secs(2),
            job_timeout: Duration::from_secs(15 * 60),
            max_concurrent_searches: 2,
            page_size: MAX_PAGE,
            max_count: 1_000_000,
            narrow_factor: 4,
            min_rows_before_narrowing: 10_000,
        }
    }
}

/// One Splunk search scope: one endpoint, one namespace, one credential, one rate limiter.
pub struct Splunk {
    settings: Settings,
    source: SourceId,
    source_name: String,
    search: String,
    ids: IdMode,
    http: Http,
    tokens: TokenCache,
    scheme: AuthScheme<'static>,
    slots: Arc<Semaphore>,
    tuning: Tuning,
}

impl std::fmt::Debug for Splunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Splunk")
            .field("settings", &self.settings)
            .field("tuning", &self.tuning)
            .finish_non_exhaustive()
    }
}

/// What `server/info` tells a fetch.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: String,
    pub v2: bool,
    /// The server's clock (epoch seconds) from its `Date` header.
    pub now: i64,
    /// `guid` of the instance answering, lowercased (GUIDs compare case-insensitively).
    pub guid: Option<String>,
}

enum JobOutcome {
    Rows {
        rows: Vec<Box<RawValue>>,
        pages: u32,
    },
    TooMany {
        count: u64,
    },
}

impl Splunk {
    pub fn new(
        settings: Settings,
        secret: SecretString,
        http: &HttpOptions,
    ) -> Result<Self, ConnectorError> {
        Self::with_tuning(settings, secret, http, Tuning::default())
    }

    pub fn with_tuning(
        settings: Settings,
        secret: SecretString,
        http: &HttpOptions,
        tuning: Tuning,
    ) -> Result<Self, ConnectorError> {
        // The integration's setting (else the Splunk default) is the quota unless the process
        // overrides it through `HttpOptions`, as for every vendor.
        let default_limit = RateLimit::per_minute(
            settings
                .rate_limit_per_minute()
                .unwrap_or(DEFAULT_RATE_PER_MINUTE),
        );
        let http = Http::new(Arc::new(SplunkPolicy), http, default_limit);
        let permits = tuning.max_concurrent_searches;
        let (scheme, tokens, slots) = match settings.auth() {
            AuthMode::Token => {
                let slots = search_slots(settings.endpoint(), Identity::Token(&secret), permits);
                (
                    AuthScheme::Bearer,
                    TokenCache::new(Box::new(StaticToken(secret)), REFRESH_BEFORE),
                    slots,
                )
            }
            AuthMode::Session { username } => {
                let slots = search_slots(settings.endpoint(), Identity::User(&username), permits);
                let login_url = endpoint_url(settings.url(), &["services", "auth", "login"]);
                let minter = SessionLogin {
                    login_url,
                    username,
                    password: secret,
                };
                (
                    AuthScheme::Splunk,
                    TokenCache::new(Box::new(minter), REFRESH_BEFORE),
                    slots,
                )
            }
        };
        let source = settings.source_id();
        let ids = if settings.is_notable_scope() {
            IdMode::Notable
        } else {
            IdMode::Events
        };
        Ok(Splunk {
            source_name: source.canonical(),
            search: settings.search(),
            settings,
            source,
            ids,
            http,
            tokens,
            scheme,
            slots,
            tuning,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The SPL every job of this scope runs.
    pub fn search(&self) -> &str {
        &self.search
    }

    fn url(&self, segments: &[&str]) -> Url {
        endpoint_url(self.settings.url(), segments)
    }

    /// `/servicesNS/<owner>/<app>/search/…`: the app decides which macros resolve.
    fn ns_url(&self, rest: &[&str]) -> Url {
        let mut segs = vec!["servicesNS", self.settings.owner(), self.settings.app()];
        segs.extend_from_slice(rest);
        self.url(&segs)
    }

    async fn get(
        &self,
        endpoint: &str,
        url: Url,
        query: &[(&str, String)],
    ) -> Result<Response, ConnectorError> {
        let scheme = self.scheme;
        self.http
            .send_authed(endpoint, &self.tokens, |c, secret| {
                authorize(c.get(url.clone()).query(query), scheme, secret)
            })
            .await
    }

    pub async fn server_info(&self) -> Result<ServerInfo, ConnectorError> {
        let endpoint = "server/info";
        let url = self.url(&["services", "server", "info"]);
        let resp = self
            .get(endpoint, url, &[("output_mode", "json".into())])
            .await?;
        if !resp.is_success() {
            return Err(http_error(endpoint, &resp));
        }
        let now = resp
            .headers
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .ok_or_else(|| {
                malformed(
                    endpoint,
                    "no Date header: the server's clock is unknown".into(),
                )
            })?;
        let info: Value =
            serde_json::from_slice(&resp.body).map_err(|e| malformed(endpoint, e.to_string()))?;
        let content = info.pointer("/entry/0/content");
        let version = content
            .and_then(|c| c.get("version"))
            .or_else(|| info.pointer("/generator/version"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let cloud = content
            .and_then(|c| c.get("instance_type"))
            .and_then(Value::as_str)
            == Some("cloud");
        // A server that does not say is taken to be current: v1 results are disabled from 10.0.
        let v2 = version.is_empty() || supports_v2(&version, cloud);
        let guid = content
            .and_then(|c| c.get("guid"))
            .and_then(Value::as_str)
            .map(|g| g.trim().to_ascii_lowercase())
            .filter(|g| !g.is_empty());
        Ok(ServerInfo {
            version,
            v2,
            now,
            guid,
        })
    }

    /// The job's `id`: the same source, search and window always give the same sid, so a create
    /// retried after its job was made finds that job. Hex and `_` only: valid in a sid and in
    /// the URL path segment it becomes.
    fn job_id(&self, start: i64, end: i64, earliest: &str) -> String {
        let mut h = Sha256::new();
        for part in [
            self.source_name.as_str(),
            self.search.as_str(),
            earliest,
            &start.to_string(),
            &end.to_string(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        format!("seliq_{}", hex::encode(&h.finalize()[..16]))
    }

    async fn create_job(
        &self,
        start: i64,
        end: i64,
        server_now: i64,
    ) -> Result<String, ConnectorError> {
        let endpoint = "search/jobs";
        let url = self.ns_url(&["search", "jobs"]);
        let earliest = earliest_time(self.settings.earliest(), start);
        let sid = self.job_id(start, end, &earliest);
        let form: Vec<(&str, String)> = vec![
            ("search", self.search.clone()),
            ("id", sid.clone()),
            ("exec_mode", "normal".into()),
            ("output_mode", "json".into()),
            ("earliest_time", earliest),
            // Events stamped in the future by a skewed source still belong to their window.
            ("latest_time", (server_now + 86_400).to_string()),
            ("index_earliest", start.to_string()),
            ("index_latest", end.to_string()),
            ("max_count", self.tuning.max_count.to_string()),
            // A failed peer fails the job instead of silently returning part of the window.
            ("allow_partial_results", "false".into()),
            // Artifacts of a job we could not delete go after 10 minutes, not a day.
            ("timeout", "600".into()),
        ];
        let scheme = self.scheme;
        let created = self
            .http
            .send_authed(endpoint, &self.tokens, |c, secret| {
                authorize(c.post(url.clone()).form(&form), scheme, secret)
            })
            .await;
        let failure = match created {
            Ok(resp) if resp.is_success() => return created_sid(endpoint, &resp.body),
            Ok(resp) => http_error(endpoint, &resp),
            Err(e) => quota_hint(e),
        };
        // A retried create may have been refused as a duplicate of the job its first attempt
        // made, or the retries ran out after that job was made: use it if it is there.
        if !failure.is_credential_rejected() && self.job_exists(&sid).await {
            tracing::debug!(vendor = VENDOR, sid, error = %failure, "job creation failed but the job exists; using it");
            return Ok(sid);
        }
        Err(failure)
    }

    async fn job_exists(&self, sid: &str) -> bool {
        let url = self.ns_url(&["search", "jobs", sid]);
        match self
            .get("search/jobs/{sid}", url, &[("output_mode", "json".into())])
            .await
        {
            Ok(r) => r.is_success(),
            Err(_) => false,
        }
    }

    /// Polls until the job is done; returns its `resultCount` when the server reports one.
    async fn wait_done(&self, sid: &str) -> Result<Option<u64>, ConnectorError> {
        let endpoint = "search/jobs/{sid}";
        let url = self.ns_url(&["search", "jobs", sid]);
        let started = tokio::time::Instant::now();
        let mut wait = self.tuning.poll_initial;
        loop {
            let resp = self
                .get(endpoint, url.clone(), &[("output_mode", "json".into())])
                .await?;
            match resp.status {
                200 => {
                    let status = job_status(&resp.body).map_err(|e| malformed(endpoint, e))?;
                    if status.failed {
                        let line = messages_text(&status.messages);
                        let message = if partial_messages(&status.messages).is_some() {
                            format!(
                                "partial results: search job {sid} ended {} because a search \
                                 peer failed: {line}",
                                status.state
                            )
                        } else {
                            format!("search job {sid} ended {}: {line}", status.state)
                        };
                        return Err(vendor_error(endpoint, message));
                    }
                    if status.done {
                        if status.finalized {
                            return Err(partial_error(
                                endpoint,
                                sid,
                                "was finalized (stopped before it completed)",
                            ));
                        }
                        if let Some(m) = partial_messages(&status.messages) {
                            return Err(partial_error(endpoint, sid, &format!("reported: {m}")));
                        }
                        return Ok(status.result_count);
                    }
                }
                // Splunk answers 204 while the job is still being set up.
                204 => {}
                _ => return Err(http_error(endpoint, &resp)),
            }
            if started.elapsed() >= self.tuning.job_timeout {
                return Err(ConnectorError::Vendor {
                    vendor: VENDOR,
                    endpoint: endpoint.to_owned(),
                    message: format!(
                        "search job {sid} was not done after {} s; Splunk may be overloaded",
                        self.tuning.job_timeout.as_secs()
                    ),
                    trace_id: None,
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.tuning.poll_max);
        }
    }

    async fn read_results(
        &self,
        sid: &str,
        v2: bool,
        count: Option<u64>,
    ) -> Result<(Vec<Box<RawValue>>, u32), ConnectorError> {
        let endpoint = "search/jobs/{sid}/results";
        let url = if v2 {
            self.ns_url(&["search", "v2", "jobs", sid, "results"])
        } else {
            self.ns_url(&["search", "jobs", sid, "results"])
        };
        let page_size = self.tuning.page_size.clamp(1, MAX_PAGE);
        let mut rows: Vec<Box<RawValue>> =
            Vec::with_capacity(count.unwrap_or(0).min(page_size as u64) as usize);
        let mut pages = 0u32;
        loop {
            let offset = rows.len();
            let query = [
                ("output_mode", "json".to_owned()),
                ("offset", offset.to_string()),
                ("count", page_size.to_string()),
            ];
            let resp = self.get(endpoint, url.clone(), &query).await?;
            pages += 1;
            if !resp.is_success() {
                return Err(http_error(endpoint, &resp));
            }
            let page = results_page(&resp.body).map_err(|e| malformed(endpoint, e))?;
            if let Some(m) = page.partial {
                return Err(partial_error(endpoint, sid, &format!("reported: {m}")));
            }
            if let Some(err) = page.error {
                return Err(ConnectorError::Vendor {
                    vendor: VENDOR,
                    endpoint: endpoint.to_owned(),
                    message: err,
                    trace_id: None,
                });
            }
            let got = page.results.len();
            rows.extend(page.results);
            match count {
                Some(total) if (rows.len() as u64) >= total => break,
                Some(total) if got == 0 => {
                    return Err(malformed(
                        endpoint,
                        format!(
                            "the job reported {total} results but the pages ended after {}",
                            rows.len()
                        ),
                    ));
                }
                Some(_) => {}
                None if got < page_size => break,
                None => {}
            }
        }
        Ok((rows, pages))
    }

    async fn delete_job(&self, sid: &str) {
        let endpoint = "search/jobs/{sid}";
        let url = self.ns_url(&["search", "jobs", sid]);
        let scheme = self.scheme;
        let result = self
            .http
            .send_authed(endpoint, &self.tokens, |c, secret| {
                authorize(c.delete(url.clone()), scheme, secret)
            })
            .await;
        match result {
            Ok(r) if r.is_success() || r.status == 404 => {}
            Ok(r) => {
                tracing::warn!(vendor = VENDOR, sid, status = r.status, message = %envelope_text(&r), "could not delete search job; Splunk removes it after its 10 minute timeout")
            }
            Err(e) => {
                tracing::warn!(vendor = VENDOR, sid, error = %e, "could not delete search job; Splunk removes it after its 10 minute timeout")
            }
        }
    }

    /// Maps every row in scope; a row that cannot be mapped is quarantined under a key derived
    /// from its bytes (it has no usable `_indextime` or id), with our own one-sentence reason.
    fn map_rows(&self, rows: Vec<Box<RawValue>>) -> (Vec<MappedRow>, Vec<(String, Quarantined)>) {
        let mut mapped = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        let mut foreign = 0usize;
        let field = self.settings.filter_field();
        for raw in rows {
            match row_scope(raw.get(), field).map(|scope| self.settings.row_in_scope(&scope)) {
                Ok(false) => foreign += 1,
                Ok(true) => match try_map_row(&self.source_name, raw, self.ids) {
                    Ok(m) => mapped.push(m),
                    Err((e, raw)) => bad.push(quarantine(raw, e)),
                },
                Err(e) => bad.push(quarantine(raw, e)),
            }
        }
        if foreign > 0 {
            tracing::warn!(
                vendor = VENDOR,
                dropped = foreign,
                "the search returned rows outside this scope's indexes or filter; dropped them"
            );
        }
        (mapped, bad)
    }

    /// One job over `[start, end)` (`start` = `hw` minus the look-behind): create, wait, read (or
    /// report too many), and always delete.
    async fn run_window(
        &self,
        start: i64,
        hw: i64,
        end: i64,
        info: &ServerInfo,
        max_rows: usize,
    ) -> Result<JobOutcome, ConnectorError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| ConnectorError::Transport {
                vendor: VENDOR,
                endpoint: "search/jobs".into(),
                reason: "the search slot semaphore was closed".into(),
            })?;
        let sid = self.create_job(start, end, info.now).await?;
        let outcome = async {
            let count = self.wait_done(&sid).await?;
            if let Some(c) = count
                && c > max_rows as u64
                && end - hw > 1
            {
                return Ok(JobOutcome::TooMany { count: c });
            }
            if let Some(c) = count
                && c >= self.tuning.max_count
            {
                return Err(ConnectorError::Vendor {
                    vendor: VENDOR,
                    endpoint: "search/jobs".into(),
                    message: format!(
                        "more than {c} events were indexed in the second at {hw}; they exceed the job's max_count"
                    ),
                    trace_id: None,
                });
            }
            let (rows, pages) = self.read_results(&sid, info.v2, count).await?;
            Ok(JobOutcome::Rows { rows, pages })
        }
        .await;
        self.delete_job(&sid).await;
        outcome
    }
}

#[async_trait]
impl Connector for Splunk {
    fn source_id(&self) -> &SourceId {
        &self.source
    }

    /// Authenticates (a login for password credentials), then reads `server/info`.
    async fn check(&self) -> Result<(), ConnectorError> {
        self.tokens.get(&self.http).await?;
        let info = self.server_info().await?;
        tracing::debug!(vendor = VENDOR, version = %info.version, v2 = info.v2, "credential accepted");
        Ok(())
    }

    async fn fetch(
        &self,
        cursor: Option<&Cursor>,
        budget: Budget,
    ) -> Result<Batch, ConnectorError> {
        let info = self.server_info().await?;
        let mut state = match cursor {
            Some(c) => State::decode(c, |id, version| {
                crate::alert::event_id(&self.source_name, id, version)
            })?,
            None => State::start(budget.since.timestamp()),
        };
        let max_alerts = budget.max_alerts.max(1);
        let look_back = i64::try_from(self.settings.look_back().as_secs()).unwrap_or(i64::MAX);
        let horizon = info.now - self.tuning.index_delay.as_secs() as i64;
        let mut pages = 1u32;
        // Nothing new and no look-behind to re-read (a first run already at the horizon).
        if state.hw >= horizon && state.search_start(look_back) >= state.hw {
            return Ok(Batch {
                alerts: Vec::new(),
                cursor: state.encode()?,
                caught_up: true,
                pages,
                quarantined: Vec::new(),
            });
        }
        let max_rows = max_alerts
            .saturating_mul(self.tuning.narrow_factor.max(1))
            .max(self.tuning.min_rows_before_narrowing);
        // Each narrowing divides the window by at least `narrow_factor`: this bound is never
        // reached before the window is one second wide.
        for _ in 0..64 {
            let start = state.search_start(look_back);
            let end = state.window_end(horizon);
            match self
                .run_window(start, state.hw, end, &info, max_rows)
                .await?
            {
                JobOutcome::TooMany { count } => {
                    pages += 2;
                    let width = (end - state.hw) as u128;
                    let narrowed = (width * max_alerts as u128 / count.max(1) as u128).max(1);
                    state.span = Some(narrowed.min(width.saturating_sub(1).max(1)) as i64);
                    tracing::debug!(
                        vendor = VENDOR,
                        count,
                        span_s = state.span,
                        "window too large; narrowing"
                    );
                }
                JobOutcome::Rows { rows, pages: p } => {
                    pages += p + 2;
                    let (mapped, bad) = self.map_rows(rows);
                    let sel = select(mapped, bad, &state, look_back, end, max_alerts);
                    if sel.capped {
                        tracing::warn!(
                            vendor = VENDOR,
                            kept = sel.next.recent.len(),
                            floor = sel.next.floor,
                            "the look-behind's dedup set reached its cap; events that become \
                             searchable late below the new floor will be missed"
                        );
                    }
                    if !sel.quarantined.is_empty() {
                        tracing::warn!(
                            vendor = VENDOR,
                            quarantined = sel.quarantined.len(),
                            "result rows that could not be mapped were quarantined"
                        );
                    }
                    let caught_up = sel.window_done && end >= horizon;
                    return Ok(Batch {
                        alerts: sel.alerts,
                        cursor: sel.next.encode()?,
                        caught_up,
                        pages,
                        quarantined: sel.quarantined,
                    });
                }
            }
        }
        Err(ConnectorError::Vendor {
            vendor: VENDOR,
            endpoint: "search/jobs".into(),
            message: "could not narrow the index-time window to a readable size".into(),
            trace_id: None,
        })
    }

    async fn endpoint_identity(&self) -> Result<Option<String>, ConnectorError> {
        Ok(self.server_info().await?.guid)
    }

    fn http_stats(&self) -> HttpStats {
        self.http.stats()
    }
}

fn endpoint_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    if let Ok(mut p) = url.path_segments_mut() {
        p.clear().extend(segments);
    }
    url
}

/// 9.0.2 brought the v2 search endpoints; Splunk Cloud numbers its releases 9.0.YYMM.
pub fn supports_v2(version: &str, cloud: bool) -> bool {
    let want: &[u64] = if cloud { &[9, 0, 2209] } else { &[9, 0, 2] };
    let have: Vec<u64> = version
        .trim()
        .split('.')
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .collect();
    for (i, w) in want.iter().enumerate() {
        let h = have.get(i).copied().unwrap_or(0);
        if h != *w {
            return h > *w;
        }
    }
    true
}

/// `earliest` is how late an event may be indexed. A plain `-N<unit>` counts back from the window
/// start, so a backfill of an old window still finds its late events; any other modifier (a
/// snap, `0`, an epoch) is sent as given.
pub fn earliest_time(earliest: &str, window_start: i64) -> String {
    match relative_seconds(earliest) {
        Some(back) => window_start.saturating_sub(back).max(0).to_string(),
        None => earliest.to_owned(),
    }
}

fn relative_seconds(m: &str) -> Option<i64> {
    let body = m.strip_prefix('-')?;
    let digits: String = body.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = if digits.is_empty() {
        1
    } else {
        digits.parse().ok()?
    };
    let unit = match &body[digits.len()..] {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        "mon" | "month" | "months" => 30 * 86_400,
        "y" | "yr" | "yrs" | "year" | "years" => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit)
}

pub(crate) struct JobStatus {
    state: String,
    done: bool,
    failed: bool,
    /// Stopped before it completed (by a user, `auto_finalize_ec`, or a limit): rows are missing.
    finalized: bool,
    result_count: Option<u64>,
    /// `(TYPE, text)`, type uppercased.
    messages: Vec<(String, String)>,
}

pub(crate) fn job_status(body: &[u8]) -> Result<JobStatus, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let content = v
        .pointer("/entry/0/content")
        .ok_or_else(|| "no entry[0].content in the job status".to_owned())?;
    let state = content
        .get("dispatchState")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let flag = |k: &str| match content.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    };
    let failed = flag("isFailed")
        || matches!(
            state.as_str(),
            "FAILED" | "INTERNAL_CANCEL" | "USER_CANCEL" | "BAD_INPUT_CANCEL" | "QUIT"
        );
    let done = flag("isDone") || state == "DONE";
    let result_count = match content.get("resultCount") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(JobStatus {
        messages: status_messages(content.get("messages")),
        finalized: flag("isFinalized"),
        state,
        done,
        failed,
        result_count,
    })
}

/// Job messages come as `[{type, text}]` or as `{type: [text, …]}`.
fn status_messages(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    match v {
        Some(Value::Array(a)) => {
            for m in a {
                let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
                let text = m.get("text").and_then(Value::as_str).unwrap_or_default();
                out.push((kind.to_uppercase(), text.to_owned()));
            }
        }
        Some(Value::Object(o)) => {
            for (kind, texts) in o {
                match texts {
                    Value::Array(t) => out.extend(
                        t.iter()
                            .filter_map(Value::as_str)
                            .map(|t| (kind.to_uppercase(), t.to_owned())),
                    ),
                    Value::String(t) => out.push((kind.to_uppercase(), t.clone())),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

fn messages_text(messages: &[(String, String)]) -> String {
    if messages.is_empty() {
        return "no message".to_owned();
    }
    messages_line(messages.iter().map(|(k, t)| (k.as_str(), t.as_str())))
}

/// What Splunk says when a search could not read every peer: "Unable to distribute to peer
/// named … because peer has status = Down", "… results might be incomplete", "… might have
/// returned partial results". Matched on ERROR, FATAL and WARN only; INFO never fails a fetch.
const PARTIAL_MARKERS: &[&str] = &[
    "incomplete",
    "partial result",
    "unable to distribute to peer",
    "peer has status",
];

/// The ERROR/FATAL/WARN messages that say the results are incomplete, as one line.
fn partial_messages(messages: &[(String, String)]) -> Option<String> {
    let hits: Vec<(&str, &str)> = messages
        .iter()
        .filter(|(k, t)| {
            matches!(k.as_str(), "ERROR" | "FATAL" | "WARN") && {
                let t = t.to_lowercase();
                PARTIAL_MARKERS.iter().any(|m| t.contains(m))
            }
        })
        .map(|(k, t)| (k.as_str(), t.as_str()))
        .collect();
    (!hits.is_empty()).then(|| messages_line(hits.into_iter()))
}

pub(crate) struct Page {
    pub results: Vec<Box<RawValue>>,
    /// ERROR or FATAL messages of the page; INFO and WARN are only logged.
    pub error: Option<String>,
    /// Messages saying the results are incomplete (WARN included).
    pub partial: Option<String>,
}

pub(crate) fn results_page(body: &[u8]) -> Result<Page, String> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        results: Vec<Box<RawValue>>,
        #[serde(default)]
        messages: Option<Value>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let messages = status_messages(raw.messages.as_ref());
    let partial = partial_messages(&messages);
    let mut bad = Vec::new();
    for (kind, text) in &messages {
        if matches!(kind.as_str(), "ERROR" | "FATAL") {
            bad.push((kind.as_str(), text.as_str()));
        } else if !text.is_empty() {
            tracing::debug!(vendor = VENDOR, kind, text, "message on a results page");
        }
    }
    let error = (!bad.is_empty()).then(|| messages_line(bad.into_iter()));
    Ok(Page {
        results: raw.results,
        error,
        partial,
    })
}

/// A 503 that outlasted the retries on job creation is almost always the role's search quota.
fn quota_hint(e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::Http {
            vendor,
            endpoint,
            status: 503,
            message,
            trace_id,
        } => ConnectorError::Http {
            vendor,
            endpoint,
            status: 503,
            message: format!(
                "{message}: Splunk refused the search, most likely because the service account's \
                 concurrent search quota (role srchJobsQuota) is in use; the pull resumes from the \
                 same checkpoint next time"
            ),
            trace_id,
        },
        other => other,
    }
}

pub(crate) fn quarantine(raw: Box<RawValue>, e: RowError) -> (String, Quarantined) {
    let key = format!(
        "q:{}",
        hex::encode(&Sha256::digest(raw.get().as_bytes())[..16])
    );
    (
        key,
        Quarantined {
            raw,
            reason: e.reason().to_owned(),
        },
    )
}

fn created_sid(endpoint: &str, body: &[u8]) -> Result<String, ConnectorError> {
    #[derive(Deserialize)]
    struct Created {
        sid: String,
    }
    let created: Created =
        serde_json::from_slice(body).map_err(|e| malformed(endpoint, format!("no sid: {e}")))?;
    if created.sid.is_empty() || created.sid.contains('/') {
        return Err(malformed(
            endpoint,
            format!("unusable sid {:?}", created.sid),
        ));
    }
    Ok(created.sid)
}

fn vendor_error(endpoint: &str, message: String) -> ConnectorError {
    ConnectorError::Vendor {
        vendor: VENDOR,
        endpoint: endpoint.to_owned(),
        message,
        trace_id: None,
    }
}

/// The pull summary shows this message: it must say the results were partial.
fn partial_error(endpoint: &str, sid: &str, detail: &str) -> ConnectorError {
    vendor_error(
        endpoint,
        format!(
            "partial results: search job {sid} {detail}; the fetch failed and the checkpoint \
             stays where it was, so the next pull searches this window again"
        ),
    )
}

fn malformed(endpoint: &str, reason: String) -> ConnectorError {
    ConnectorError::Malformed {
        vendor: VENDOR,
        endpoint: endpoint.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_from_9_0_2_and_cloud_from_9_0_2209() {
        assert!(supports_v2("9.0.2", false));
        assert!(supports_v2("10.2.1", false));
        assert!(!supports_v2("9.0.1", false));
        assert!(!supports_v2("8.2.12", false));
        assert!(supports_v2("9.0.2209.1", true));
        assert!(!supports_v2("9.0.2208", true));
        assert!(supports_v2("9.1.2308.203", true));
    }

    #[test]
    fn earliest_counts_back_from_the_window_start() {
        assert_eq!(
            earliest_time("-7d", 1_000_000),
            (1_000_000 - 7 * 86_400).to_string()
        );
        assert_eq!(
            earliest_time("-24h", 100_000),
            (100_000 - 86_400).to_string()
        );
        assert_eq!(earliest_time("-30d@d", 5), "-30d@d");
        assert_eq!(earliest_time("0", 5), "0");
    }

    #[test]
    fn job_status_reads_state_count_and_messages() {
        let s = job_status(br#"{"entry":[{"content":{"dispatchState":"DONE","isDone":true,"isFailed":false,"resultCount":42}}]}"#).unwrap();
        assert!(s.done && !s.failed);
        assert_eq!(s.result_count, Some(42));
        let f = job_status(br#"{"entry":[{"content":{"dispatchState":"FAILED","isDone":true,"messages":[{"type":"FATAL","text":"boom"}]}}]}"#).unwrap();
        assert!(f.failed);
        assert_eq!(messages_text(&f.messages), "FATAL: boom");
        let o = job_status(br#"{"entry":[{"content":{"dispatchState":"RUNNING","resultCount":"7","messages":{"error":["x"]}}}]}"#).unwrap();
        assert!(!o.done);
        assert_eq!(o.result_count, Some(7));
        assert_eq!(
            messages_text(&status_messages(Some(&serde_json::json!({"error": ["x"]})))),
            "ERROR: x"
        );
    }

    #[test]
    fn finalized_jobs_and_peer_failure_messages_are_partial() {
        let f = job_status(br#"{"entry":[{"content":{"dispatchState":"DONE","isDone":true,"isFinalized":true,"resultCount":3}}]}"#).unwrap();
        assert!(f.done && f.finalized);
        let w = job_status(br#"{"entry":[{"content":{"dispatchState":"DONE","isDone":"1","messages":{"warn":["Unable to distribute to peer named idx-02 at uri https://idx-02:8089 because peer has status = \"Down\"."]}}}]}"#).unwrap();
        assert!(
            partial_messages(&w.messages)
                .unwrap()
                .starts_with("WARN: Unable to distribute")
        );
        let info = status_messages(Some(
            &serde_json::json!([{"type": "INFO", "text": "results may be incomplete"}]),
        ));
        assert!(
            partial_messages(&info).is_none(),
            "INFO never fails a fetch"
        );
        let other = status_messages(Some(
            &serde_json::json!([{"type": "WARN", "text": "Field 'x' does not exist"}]),
        ));
        assert!(partial_messages(&other).is_none());
        let page = results_page(br#"{"messages":[{"type":"WARN","text":"Search results might be incomplete: the search process on peer idx-02 ended prematurely."}],"results":[{"a":"1"}]}"#).unwrap();
        assert!(page.partial.is_some() && page.error.is_none());
    }

    #[test]
    fn job_ids_are_deterministic_per_window_and_valid_sids() {
        let s = Settings::validate(super::super::Params {
            url: "https://h.example".into(),
            app: "search".into(),
            indexes: vec!["acme".into()],
            ..Default::default()
        })
        .unwrap();
        let c = Splunk::new(
            s,
            SecretString::from("t"),
            &HttpOptions::without_timeouts().unwrap(),
        )
        .unwrap();
        let a = c.job_id(100, 200, "0");
        assert_eq!(a, c.job_id(100, 200, "0"));
        assert_ne!(a, c.job_id(100, 201, "0"));
        assert_ne!(a, c.job_id(101, 200, "0"));
        assert!(a.starts_with("seliq_") && a.len() == 38);
        assert!(a.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'));
    }

    #[test]
    fn results_page_surfaces_error_messages_only() {
        let p = results_page(br#"{"preview":false,"messages":[{"type":"INFO","text":"timerange substituted"}],"results":[{"a":"1"}]}"#).unwrap();
        assert!(p.error.is_none());
        assert_eq!(p.results.len(), 1);
        let e =
            results_page(br#"{"messages":[{"type":"FATAL","text":"bad"}],"results":[]}"#).unwrap();
        assert_eq!(e.error.as_deref(), Some("FATAL: bad"));
    }

    #[test]
    fn urls_percent_encode_the_namespace() {
        let base = Url::parse("https://h.example:8089").unwrap();
        let u = endpoint_url(
            &base,
            &["servicesNS", "svc user", "my app", "search", "jobs"],
        );
        assert_eq!(
            u.as_str(),
            "https://h.example:8089/servicesNS/svc%20user/my%20app/search/jobs"
        );
    }
}
