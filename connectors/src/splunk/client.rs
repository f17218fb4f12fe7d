//! The Splunk REST client and the [`Connector`] implementation.
//!
//! # Fetch
//! 1. `GET /services/server/info`: the version (v2 results endpoints from 9.0.2, Cloud from
//!    9.0.2209) and, from the `Date` header, the server's clock. The window ends at that clock
//!    minus [`Tuning::index_delay`], never at ours. The reading is reused for
//!    [`Tuning::reuse_server_info`] by later fetches with the same endpoint and credential (its
//!    clock advanced by the time since); the `Date` of the job's creation then confirms it, and
//!    a reading more than [`CLOCK_TOLERANCE_SECS`] off is dropped and the window searched again
//!    with a fresh one.
//! 2. `POST /servicesNS/<owner>/<app>/search/jobs` with `index_earliest`/`index_latest` = the
//!    window on `_indextime` (from the high-water mark minus the look-behind, see the cursor
//!    module), `earliest_time` = the window start minus the allowed lateness (`earliest`,
//!    default 7 days), a far `latest_time`, a large `max_count` (Splunk keeps only 10,000 events
//!    by default), `allow_partial_results=false` and a deterministic `id` (below). A window
//!    that reads little new index time (a caught-up poll) is created `exec_mode=blocking`, so
//!    Splunk answers when the job is done and one status request confirms it; a backlog window
//!    is created `normal`, since its search may outlast a request timeout. With both, a
//!    caught-up poll makes four requests (create, one status, results, delete), not seven.
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
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use url::Url;

use super::auth::{
    Identity, SessionLogin, SplunkPolicy, StaticToken, http_error, identity_key, search_slots,
};
use super::cursor::{State, select};
use super::job::JobOutcome;
pub(crate) use super::job::{job_status, results_page};
use super::mapping::{IdMode, KIND, MappedRow, RowError, VENDOR, row_scope, try_map_row};
use super::settings::{AuthMode, Settings};
pub use super::time::earliest_time;
pub use super::version::supports_v2;
use crate::http::{
    AuthScheme, Http, HttpOptions, HttpStats, REFRESH_BEFORE, RateLimit, Response, TokenCache,
    authorize,
};
use crate::{Batch, Budget, Connector, ConnectorError, Cursor, Quarantined, SourceId};

/// Splunk caps a results page at `limits.conf [restapi] maxresultrows` (50,000 by default).
pub const MAX_PAGE: usize = 50_000;
/// Splunk's REST API has no published request quota; this keeps status polling polite.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 1200;
/// A reused server clock must agree with the `Date` of the job's creation within this many
/// seconds (the header has whole seconds; the estimate rounds down).
pub const CLOCK_TOLERANCE_SECS: i64 = 2;

/// Knobs with safe defaults; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// The window ends this long before the server's clock. Zero by default: every second of
    /// delay is a second every new Splunk alert waits on top of the poll interval, and nothing
    /// needs it. If the server includes the second in progress in `index_latest`, the rest
    /// of that second is found by the next pull (its window starts at that second, and the
    /// cursor's `recent` drops what was already emitted); and an event that becomes
    /// searchable after its second has passed (a slow peer, an indexer clock behind the search
    /// head) is found by the next pull's look-behind, which re-reads the last minutes of index
    /// time.
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
    /// How long a `server/info` reading serves later fetches of the same endpoint and
    /// credential in this process; zero asks on every fetch.
    pub reuse_server_info: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            index_delay: Duration::ZERO,
            poll_initial: Duration::from_millis(200),
            poll_max: Duration::from_secs(2),
            job_timeout: Duration::from_secs(15 * 60),
            max_concurrent_searches: 2,
            page_size: MAX_PAGE,
            max_count: 1_000_000,
            narrow_factor: 4,
            min_rows_before_narrowing: 10_000,
            reuse_server_info: Duration::from_secs(300),
        }
    }
}

/// One Splunk search scope: one endpoint, one namespace, one credential, one rate limiter.
pub struct Splunk {
    pub(super) settings: Settings,
    pub(super) source: SourceId,
    pub(super) source_name: String,
    pub(super) search: String,
    pub(super) ids: IdMode,
    pub(super) http: Http,
    pub(super) tokens: TokenCache,
    pub(super) scheme: AuthScheme<'static>,
    pub(super) slots: Arc<Semaphore>,
    /// Where this endpoint and credential's `server/info` is kept between fetches (a hash).
    pub(super) info_key: String,
    /// The rest of the last job after the batch cut from it (see [`Carry`]).
    pub(super) carry: std::sync::Mutex<Option<Carry>>,
    pub(super) tuning: Tuning,
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
    /// Set when `now` is an earlier reading plus the time since: when that estimate was made,
    /// so the job's creation can confirm it.
    pub estimated_at: Option<std::time::Instant>,
}

/// A server clock reading `now` (whole seconds) advanced by `age`, rounded to the nearest second:
/// an estimate up to half a second ahead of the server is as safe as one behind it (what a
/// window ending too late misses, the next pull's look-behind re-reads), and rounding down
/// would hold every new alert back up to a second more. The job's `Date` still checks it.
fn advanced(now: i64, age: Duration) -> i64 {
    let secs = age.as_millis().saturating_add(500) / 1000;
    now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
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
        let (scheme, tokens, slots, id_key) = match settings.auth() {
            AuthMode::Token => {
                let identity = Identity::Token(&secret);
                let slots = search_slots(&http, settings.endpoint(), identity, permits);
                let id_key = identity_key(settings.endpoint(), identity);
                (
                    AuthScheme::Bearer,
                    TokenCache::new(Box::new(StaticToken(secret)), REFRESH_BEFORE),
                    slots,
                    id_key,
                )
            }
            AuthMode::Session { username } => {
                let identity = Identity::User(&username);
                let slots = search_slots(&http, settings.endpoint(), identity, permits);
                let id_key = identity_key(settings.endpoint(), identity);
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
                    id_key,
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
            info_key: format!("splunk server info {id_key}"),
            carry: std::sync::Mutex::new(None),
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

    pub(super) fn url(&self, segments: &[&str]) -> Url {
        endpoint_url(self.settings.url(), segments)
    }

    /// `/servicesNS/<owner>/<app>/search/…`: the app decides which macros resolve.
    pub(super) fn ns_url(&self, rest: &[&str]) -> Url {
        let mut segs = vec!["servicesNS", self.settings.owner(), self.settings.app()];
        segs.extend_from_slice(rest);
        self.url(&segs)
    }

    pub(super) async fn get(
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
        let now = super::job::date_secs(&resp).ok_or_else(|| {
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
            estimated_at: None,
        })
    }

    /// The look-behind in whole seconds, as the cursor counts index time.
    fn look_back_secs(&self) -> i64 {
        i64::try_from(self.settings.look_back().as_secs()).unwrap_or(i64::MAX)
    }

    /// `server/info` for a fetch: a reading of this endpoint and credential from the last
    /// [`Tuning::reuse_server_info`], its clock advanced by the time since, else a fresh one
    /// (then kept for the next fetches).
    async fn server_info_for_fetch(&self) -> Result<ServerInfo, ConnectorError> {
        let reuse = self.tuning.reuse_server_info;
        if !reuse.is_zero()
            && let Some((mut info, age)) = self.http.memo::<ServerInfo>(&self.info_key, reuse)
        {
            info.now = advanced(info.now, age);
            info.estimated_at = Some(std::time::Instant::now());
            return Ok(info);
        }
        self.fresh_server_info().await
    }

    async fn fresh_server_info(&self) -> Result<ServerInfo, ConnectorError> {
        self.http.forget(&self.info_key);
        let info = self.server_info().await?;
        if !self.tuning.reuse_server_info.is_zero() {
            self.http.remember(&self.info_key, info.clone());
        }
        Ok(info)
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
        let batch = self.fetch_windows(cursor, budget).await;
        if batch.is_err() {
            // A failure may come from a changed server (an upgrade that disabled v1 results):
            // the next fetch reads `server/info` again.
            self.http.forget(&self.info_key);
        }
        batch
    }

    async fn endpoint_identity(&self) -> Result<Option<String>, ConnectorError> {
        Ok(self.server_info().await?.guid)
    }

    fn http_stats(&self) -> HttpStats {
        self.http.stats()
    }
}

impl Splunk {
    async fn fetch_windows(
        &self,
        cursor: Option<&Cursor>,
        budget: Budget,
    ) -> Result<Batch, ConnectorError> {
        let mut state = match cursor {
            Some(c) => State::decode(c, |id, version| {
                crate::alert::event_id(&self.source_name, id, version)
            })?,
            None => State::start(budget.since.timestamp()),
        };
        let max_alerts = budget.max_alerts.max(1);
        let look_back = self.look_back_secs();
        // Whatever this fetch does, a carry left by an earlier one is used now or never.
        let carried = lock(&self.carry).take().filter(|c| {
            c.after == state && c.rest.len() > max_alerts && c.made.elapsed() <= CARRY_FOR
        });
        if let Some(carry) = carried {
            return self.select_batch(
                Window {
                    end: carry.end,
                    horizon: carry.horizon,
                    job_rows: carry.job_rows,
                    target: carry.target,
                },
                carry.rest,
                Vec::new(),
                &state,
                max_alerts,
                0,
            );
        }
        let mut info = self.server_info_for_fetch().await?;
        let delay = self.tuning.index_delay.as_secs() as i64;
        let mut horizon = info.now - delay;
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
        // A narrowed window aims at half of what a job may hold: a few batches from one job,
        // with room for uneven density.
        let target = (max_rows / 2).max(max_alerts);
        // Each narrowing divides the window by `count / target` (more than two by default):
        // this bound is not reached before the window is one second wide.
        for _ in 0..64 {
            let start = state.search_start(look_back);
            let end = state.window_end(horizon);
            match self
                .run_window(start, state.hw, end, &info, max_rows)
                .await?
            {
                JobOutcome::StaleClock => {
                    // The reused clock was off: this window again, from a fresh reading.
                    tracing::debug!(
                        vendor = VENDOR,
                        "the server's clock moved from the reused reading; reading it again"
                    );
                    info = self.fresh_server_info().await?;
                    horizon = info.now - delay;
                }
                JobOutcome::TooMany { count } => {
                    pages += 2;
                    let width = (end - state.hw) as u128;
                    let narrowed = (width * target as u128 / count.max(1) as u128).max(1);
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
                    let job_rows = rows.len();
                    let (mapped, bad) = self.map_rows(rows);
                    return self.select_batch(
                        Window {
                            end,
                            horizon,
                            job_rows,
                            target,
                        },
                        mapped,
                        bad,
                        &state,
                        max_alerts,
                        pages,
                    );
                }
            }
        }
        Err(ConnectorError::Vendor {
            vendor: KIND,
            endpoint: "search/jobs".into(),
            message: "could not narrow the index-time window to a readable size".into(),
            trace_id: None,
        })
    }

    /// The batch from one window's rows (a job's, or the carry of the previous batch), leaving
    /// the rest as the carry for a fetch from the batch's cursor.
    fn select_batch(
        &self,
        window: Window,
        rows: Vec<MappedRow>,
        bad: Vec<(String, Quarantined)>,
        state: &State,
        max_alerts: usize,
        pages: u32,
    ) -> Result<Batch, ConnectorError> {
        let look_back = self.look_back_secs();
        let mut sel = select(rows, bad, state, look_back, window.end, max_alerts);
        if sel.window_done && window.job_rows < window.target / 2 {
            // A thin window: widen it; `None` once it would reach the horizon anyway.
            sel.next.span = sel.next.span.map(|s| s.saturating_mul(2));
        }
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
        let caught_up = sel.window_done && window.end >= window.horizon;
        let cursor = sel.next.encode()?;
        if !sel.window_done {
            *lock(&self.carry) = Some(Carry {
                made: std::time::Instant::now(),
                after: sel.next,
                end: window.end,
                horizon: window.horizon,
                job_rows: window.job_rows,
                target: window.target,
                rest: sel.rest,
            });
        }
        Ok(Batch {
            alerts: sel.alerts,
            cursor,
            caught_up,
            pages,
            quarantined: sel.quarantined,
        })
    }
}

/// One job's window, as the batches cut from it see it.
#[derive(Debug, Clone, Copy)]
struct Window {
    end: i64,
    /// The server's clock minus the index delay when the job ran.
    horizon: i64,
    /// Rows the job returned.
    job_rows: usize,
    /// Rows a window should hold (below half of it, the next one is wider).
    target: usize,
}

/// The rows of a job left after a batch cut from it, kept by the connector so that the next
/// fetch, if it continues from exactly that batch's cursor, reads them from memory instead of
/// searching the window again (the job is deleted as soon as it is read).
///
/// Used only while more than a batch is left: the batch is then the one a search from that
/// cursor would return (the search's window holds the rest and ends no earlier, and the rows
/// beyond sort after the rest), so a refetch after a crash gives the same batch. The last part
/// of a window is searched again instead, since that search would also reach past the carried
/// window's end. Any other cursor (a retry after a failed commit, another process) drops the
/// carry and searches, and so does a fetch more than [`CARRY_FOR`] later; a row that became
/// searchable meanwhile is found by a later window's look-behind, as for any late row.
pub(super) struct Carry {
    made: std::time::Instant,
    after: State,
    end: i64,
    horizon: i64,
    job_rows: usize,
    target: usize,
    rest: Vec<MappedRow>,
}

/// How long a carry stays usable: the batches of one pull follow each other within
/// milliseconds, as for CrowdStrike's and Sentinel's resume.
const CARRY_FOR: Duration = Duration::from_secs(10);

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn endpoint_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    if let Ok(mut p) = url.path_segments_mut() {
        p.clear().extend(segments);
    }
    url
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

pub(super) fn vendor_error(endpoint: &str, message: String) -> ConnectorError {
    ConnectorError::Vendor {
        vendor: KIND,
        endpoint: endpoint.to_owned(),
        message,
        trace_id: None,
    }
}

pub(super) fn malformed(endpoint: &str, reason: String) -> ConnectorError {
    ConnectorError::Malformed {
        vendor: KIND,
        endpoint: endpoint.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_reused_clock_reading_advances_by_its_age_to_the_nearest_second() {
        let ms = Duration::from_millis;
        assert_eq!(advanced(1_000, ms(0)), 1_000);
        assert_eq!(advanced(1_000, ms(499)), 1_000);
        assert_eq!(advanced(1_000, ms(500)), 1_001, "not rounded down");
        assert_eq!(advanced(1_000, ms(1_499)), 1_001);
        assert_eq!(advanced(1_000, ms(299_700)), 1_300);
        assert_eq!(
            advanced(i64::MAX - 1, Duration::MAX),
            i64::MAX,
            "no overflow"
        );
    }
}
