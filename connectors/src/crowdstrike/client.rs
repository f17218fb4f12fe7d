//! The Falcon API client: `POST /alerts/combined/alerts/v1` with `after` paging, the vendor's
//! rate-limit headers, and the [`Connector`] implementation.
//!
//! # Fetch
//! One fetch walks `updated_timestamp:>='<from>'+cid:'<cid>'` sorted `updated_timestamp|asc`
//! from the window start until the vendor has no more (`meta.pagination.after` absent) or the
//! budget is full. Each page after the first is a fresh query from the newest millisecond the
//! previous page reached (keyset paging); `after` is followed only while a page sits in one
//! millisecond. Offset paging (and its 10,000-result wall) is never used. The look-back is
//! applied once per pull: a fetch that follows one which stopped on its budget continues from
//! the newest millisecond emitted (see [`Resume`]). Each item's key fields
//! are read from its raw bytes; versions already in the cursor's seen set are dropped before any
//! further work. See the cursor module for why this never loses or repeats a version, even when
//! alerts are updated mid-walk.
//!
//! # One bad record
//! An item that cannot be mapped (no `composite_id`, no readable `updated_timestamp`, not an
//! object) goes into `Batch::quarantined` with its raw bytes and a reason of our own words, and
//! the walk goes on; the cursor remembers it so it is quarantined once. A page that does not
//! parse as a whole is [`ConnectorError::Malformed`] and fails the fetch.
//!
//! # Errors and limits
//! - `errors[]` is checked on every 2xx: a non-empty list fails the fetch
//!   ([`ConnectorError::Vendor`]) and the cursor is not advanced.
//! - `X-Cs-Traceid` is logged with every failure and carried in the error.
//! - 429 and 5xx are retried by the shared HTTP layer; `X-Ratelimit-Retryafter` is read as epoch
//!   seconds (milliseconds above 10^12), past values clamped to a minimum wait.
//! - When `X-Ratelimit-Remaining` runs low the next request waits a little (as gofalcon does),
//!   on top of the integration's own quota (default 5,000 per minute, under the vendor's 6,000)
//!   and the account quota every integration of one parent client on one API host shares
//!   (default 5,000 per minute; the vendor counts per customer account, not per CID).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use url::Url;

use super::auth::{
    ApiBase, ApiError, FalconMinter, FalconPolicy, RegionHosts, account_key, first_error_message,
};
use super::cursor::{CursorState, Timestamp};
use super::mapping::{KIND, Parsed, VENDOR};
use super::settings::{Cloud, Settings};
use crate::http::{
    AuthScheme, Http, HttpOptions, HttpStats, REFRESH_BEFORE, RateLimit, Response, TokenCache,
    authorize,
};
use crate::{Alert, Batch, Budget, Connector, ConnectorError, Cursor, Quarantined, SourceId};

pub(crate) const ALERTS_PATH: &str = "/alerts/combined/alerts/v1";
/// The endpoint's page size cap.
pub const PAGE_MAX: usize = 1000;
const SORT: &str = "updated_timestamp|asc";

/// One CrowdStrike integration: one CID, one API client, one token cache, one rate limiter.
pub struct CrowdStrike {
    settings: Settings,
    source: SourceId,
    /// `source.canonical()`, computed once: every alert carries it.
    source_name: String,
    http: Http,
    tokens: TokenCache,
    base: Arc<ApiBase>,
    regions: Arc<RegionHosts>,
    /// Where the last fetch stopped on its budget (see [`Resume`]).
    resume: std::sync::Mutex<Option<Resume>>,
}

/// The walk of a fetch that stopped on its budget, kept in memory so that the next fetch of the
/// same pull carries on where it stopped (in the same page, or with the next query) instead of
/// re-reading the look-back and the rest of the page.
///
/// The look-back exists for alerts the vendor indexes late; re-reading it once per batch, a few
/// milliseconds after the previous batch read the same range, only finds what the next pull's
/// look-back (applied to the final mark) finds too. So it is applied once per pull. The resume
/// is used only by the fetch that follows at once (same cursor, within [`RESUME_FOR`]); any
/// other fetch, an error, or a restart falls back to the durable cursor and its full window,
/// so a crash never depends on this state.
struct Resume {
    cursor: Cursor,
    state: CursorState,
    walk: Walk,
    made: std::time::Instant,
}

/// How long a resume stays usable. Batches of one pull follow each other within milliseconds; a
/// later fetch (a poll after a limit, a long rate-limit wait) re-reads the look-back.
const RESUME_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a walk stands.
struct Walk {
    /// The lower bound of the current query (keyset paging).
    frontier: Timestamp,
    /// The vendor's `after` token of the current query, followed only within one millisecond.
    after: Option<String>,
    /// The page being read, when the budget stopped the walk inside it.
    page: Option<OpenPage>,
}

/// A page partly read: what is left of it, and what the next query is decided from.
struct OpenPage {
    rest: std::collections::VecDeque<Box<RawValue>>,
    /// How many records the page held.
    got: usize,
    /// `updated_timestamp` of the records read so far.
    times: Vec<Timestamp>,
    after: Option<String>,
}

impl std::fmt::Debug for CrowdStrike {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrowdStrike")
            .field("settings", &self.settings)
            .field("api_base", &self.base.get().as_str())
            .finish_non_exhaustive()
    }
}

impl CrowdStrike {
    pub fn new(
        settings: Settings,
        secret: SecretString,
        http: &HttpOptions,
    ) -> Result<Self, ConnectorError> {
        let base = Arc::new(ApiBase::new(settings.api_base()));
        let regions = Arc::new(RegionHosts::default());
        let account_quota = http.account_rate_limit.unwrap_or(RateLimit::per_minute(
            super::settings::DEFAULT_ACCOUNT_RATE_LIMIT_PER_MINUTE,
        ));
        let minter = FalconMinter {
            base: Arc::clone(&base),
            regions: Arc::clone(&regions),
            client_id: settings.client_id().to_owned(),
            secret,
            member_cid: settings.member_cid().map(str::to_owned),
            token_quota: http.token_rate_limit.unwrap_or(RateLimit::per_minute(
                super::auth::DEFAULT_TOKEN_RATE_LIMIT_PER_MINUTE,
            )),
            account_quota,
        };
        let source = settings.source_id();
        let client = Http::new(Arc::new(FalconPolicy), http, settings.rate_limit());
        // Falcon counts requests per customer account, not per CID: every child CID reached
        // through one parent client draws on one budget, on top of its own.
        client.share_account_quota(
            &account_key(settings.client_id(), &base.get()),
            account_quota,
        );
        Ok(CrowdStrike {
            source_name: source.canonical(),
            source,
            http: client,
            tokens: TokenCache::new(Box::new(minter), REFRESH_BEFORE),
            base,
            regions,
            settings,
            resume: std::sync::Mutex::new(None),
        })
    }

    /// The decoded state of `cursor` and where the walk starts: the resume left by the previous
    /// fetch when `cursor` is the one it returned, else a fresh query from the window start.
    fn start(
        &self,
        cursor: Option<&Cursor>,
        since: chrono::DateTime<Utc>,
    ) -> Result<(CursorState, Walk), ConnectorError> {
        let resume = self
            .resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let (Some(r), Some(c)) = (resume, cursor)
            && r.cursor == *c
            && r.made.elapsed() < RESUME_FOR
        {
            return Ok((r.state, r.walk));
        }
        let state = match cursor {
            Some(c) => CursorState::decode(c)?,
            None => CursorState::first_run(since),
        };
        let walk = Walk {
            frontier: state.window_start(),
            after: None,
            page: None,
        };
        Ok((state, walk))
    }

    /// Replaces the allow-listed API host of one region, the only place a 308 region redirect
    /// may lead. For tests (a mock standing in for a regional host) and for deployments that
    /// reach each region through its own proxy.
    pub fn with_region_host(self, cloud: Cloud, base: Url) -> Self {
        self.regions.replace(cloud, base);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The host requests go to now: the configured one, or the region a redirect named.
    pub fn api_base(&self) -> Url {
        self.base.get()
    }

    /// The FQL of one page query: versions updated at or after `from`, of this integration's CID
    /// only. The `cid` clause matters: a parent client's token minted without `member_cid` may
    /// read every child's alerts (the Alerts API filters "across all CIDs"), and the CID is an
    /// exact-match FQL field, lowercase as the settings hold it.
    fn filter_from(&self, from: Timestamp) -> String {
        format!(
            "updated_timestamp:>='{}'+cid:'{}'",
            from.to_rfc3339_nanos(),
            self.settings.cid().as_str()
        )
    }

    /// One page of `POST /alerts/combined/alerts/v1`.
    async fn alerts_page(
        &self,
        filter: Option<&str>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        #[derive(Serialize)]
        struct Query<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            filter: Option<&'a str>,
            sort: &'static str,
            limit: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            after: Option<&'a str>,
        }
        // serde_json escapes the FQL (quotes, backslashes) correctly inside the JSON string.
        let body = Bytes::from(
            serde_json::to_vec(&Query {
                filter,
                sort: SORT,
                limit,
                after,
            })
            .map_err(|e| malformed(format!("could not encode the query ({e})")))?,
        );
        let resp = self
            .http
            .send_authed(ALERTS_PATH, &self.tokens, |c, token| {
                // Built per attempt, after the token: a region redirect during the first mint
                // has already moved the base.
                authorize(
                    c.post(self.base.endpoint(ALERTS_PATH)),
                    AuthScheme::Bearer,
                    token,
                )
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
            })
            .await?;
        self.read_page(resp)
    }

    fn read_page(&self, resp: Response) -> Result<Page, ConnectorError> {
        if resp.is_success() {
            let (message, body_trace_id) = match parse_page(&resp.body)? {
                PageOutcome::Page(page) => return Ok(page),
                PageOutcome::VendorError { message, trace_id } => (message, trace_id),
            };
            let trace_id = resp.trace_id.or(body_trace_id);
            tracing::warn!(
                vendor = VENDOR,
                endpoint = ALERTS_PATH,
                status = resp.status,
                trace_id = trace_id.as_deref(),
                error = %message,
                "errors[] in a successful response; this batch fails and is fetched again"
            );
            return Err(ConnectorError::Vendor {
                vendor: KIND,
                endpoint: ALERTS_PATH.to_owned(),
                message,
                trace_id,
            });
        }
        let vendor_message = first_error_message(&resp.body);
        tracing::warn!(
            vendor = VENDOR,
            endpoint = ALERTS_PATH,
            status = resp.status,
            trace_id = resp.trace_id.as_deref(),
            vendor_message = vendor_message.as_deref(),
            "the alerts query failed"
        );
        let said = vendor_message
            .as_deref()
            .map(|m| format!(" (Falcon said: {m})"))
            .unwrap_or_default();
        Err(match resp.status {
            401 => ConnectorError::CredentialRejected {
                vendor: KIND,
                message: format!(
                    "the alerts API refused a freshly minted token (HTTP 401); a token only \
                     works in its API client's own cloud, so check --cloud or --base-url{said}"
                ),
            },
            403 => ConnectorError::PermissionDenied {
                vendor: KIND,
                endpoint: ALERTS_PATH.to_owned(),
                message: format!(
                    "give API client {} the Alerts: Read scope{}{said}",
                    self.settings.client_id(),
                    match self.settings.member_cid() {
                        Some(cid) => format!(" and access to member CID {cid}"),
                        None => String::new(),
                    }
                ),
            },
            status => ConnectorError::Http {
                vendor: KIND,
                endpoint: ALERTS_PATH.to_owned(),
                status,
                message: vendor_message.unwrap_or_else(|| "unexpected status".to_owned()),
                trace_id: resp.trace_id,
            },
        })
    }
}

/// A quarantined record's identity across fetches: the hash of its exact bytes (it has no usable
/// key of its own).
pub(crate) fn record_hash(raw: &RawValue) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(raw.get().as_bytes())[..16])
}

fn malformed(reason: String) -> ConnectorError {
    ConnectorError::Malformed {
        vendor: KIND,
        endpoint: ALERTS_PATH.to_owned(),
        reason,
    }
}

pub(crate) struct Page {
    pub resources: Vec<Box<RawValue>>,
    pub after: Option<String>,
}

/// What a 2xx body of the alerts endpoint says.
pub(crate) enum PageOutcome {
    Page(Page),
    /// `errors[]` was not empty: the first error, and the trace id the body carries.
    VendorError {
        message: String,
        trace_id: Option<String>,
    },
}

/// Reads a 2xx body of the alerts endpoint. Pure, so the fuzz harness (`crate::fuzzing`) runs
/// the very code a pull runs. A body that is not the envelope is `Malformed`.
pub(crate) fn parse_page(body: &[u8]) -> Result<PageOutcome, ConnectorError> {
    let body: PageBody = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("the alerts page is not readable ({e})")))?;
    if let Some(err) = body.errors.as_ref().and_then(|e| e.first()) {
        return Ok(PageOutcome::VendorError {
            message: err.to_string(),
            trace_id: body.meta.and_then(|m| m.trace_id),
        });
    }
    let after = body
        .meta
        .and_then(|m| m.pagination)
        .and_then(|p| p.after)
        .filter(|a| !a.is_empty());
    Ok(PageOutcome::Page(Page {
        resources: body.resources.unwrap_or_default(),
        after,
    }))
}

/// The combined-alerts envelope. Items stay raw; only their mapped fields are read later.
#[derive(Deserialize)]
struct PageBody {
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    resources: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    errors: Option<Vec<ApiError>>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    pagination: Option<Pagination>,
    #[serde(default)]
    trace_id: Option<String>,
}

#[derive(Deserialize)]
struct Pagination {
    #[serde(default)]
    after: Option<String>,
}

#[async_trait]
impl Connector for CrowdStrike {
    fn source_id(&self) -> &SourceId {
        &self.source
    }

    /// Mints a token (proves the client id, secret, IP allow-list and `member_cid`), then reads
    /// one alert (proves the Alerts: Read scope on this CID).
    async fn check(&self) -> Result<(), ConnectorError> {
        let filter = format!("cid:'{}'", self.settings.cid().as_str());
        self.alerts_page(Some(&filter), 1, None).await.map(|_| ())
    }

    async fn fetch(
        &self,
        cursor: Option<&Cursor>,
        budget: Budget,
    ) -> Result<Batch, ConnectorError> {
        let (mut state, mut walk) = self.start(cursor, budget.since)?;
        let max = budget.max_alerts;
        let lower = state.window_start();
        // Sized by the first page that has records: an idle poll (most `serve` polls) allocates
        // nothing here, where a page-sized reservation cost a large allocation per poll.
        let mut alerts: Vec<Alert> = Vec::new();
        let mut quarantined = Vec::new();
        // Hashes of records quarantined in this walk whose place in the order is not known yet:
        // the next readable timestamp bounds it (the sort is ascending).
        let mut unbounded: Vec<String> = Vec::new();
        let mut pages: u32 = 0;
        let mut caught_up = false;
        'pages: loop {
            let mut page = match walk.page.take() {
                Some(page) => page,
                None => {
                    if alerts.len() == max {
                        break;
                    }
                    // Always a full page: what this batch cannot take is carried to the next
                    // batch of the pull (see `Resume`), so page boundaries never follow batch ones.
                    let filter = self.filter_from(walk.frontier);
                    let page = self
                        .alerts_page(Some(&filter), PAGE_MAX, walk.after.as_deref())
                        .await?;
                    pages += 1;
                    OpenPage {
                        got: page.resources.len(),
                        rest: page.resources.into(),
                        times: Vec::new(),
                        after: page.after,
                    }
                }
            };
            alerts.reserve(page.rest.len().min(max.saturating_sub(alerts.len())));
            while let Some(raw) = page.rest.pop_front() {
                let parsed = match Parsed::read(&raw) {
                    Ok(p) => p,
                    Err(rejected) => {
                        let hash = record_hash(&raw);
                        if state.is_quarantined(&hash) {
                            continue;
                        }
                        if alerts.len() == max {
                            // Like an alert: left for the next fetch.
                            page.rest.push_front(raw);
                            walk.page = Some(page);
                            break 'pages;
                        }
                        // Remembered at once, so a fresh page query re-reading it skips it; a
                        // record without a readable time gets its bound raised below.
                        state.record_quarantined(hash.clone(), rejected.updated.unwrap_or(lower));
                        match rejected.updated {
                            Some(t) => page.times.push(t),
                            None => unbounded.push(hash),
                        }
                        tracing::warn!(
                            vendor = VENDOR,
                            source = %self.source_name,
                            reason = %rejected.why,
                            "quarantined an alert that cannot be mapped"
                        );
                        quarantined.push(Quarantined {
                            raw,
                            reason: rejected.why.to_string(),
                        });
                        continue;
                    }
                };
                page.times.push(parsed.updated);
                for hash in unbounded.drain(..) {
                    state.record_quarantined(hash, parsed.updated);
                }
                // A vendor that rounds the filter down returns a little more; it is outside the
                // window the seen set vouches for, and was handled by an earlier fetch.
                if parsed.updated < lower {
                    continue;
                }
                if state.is_seen(parsed.id(), parsed.updated) {
                    continue;
                }
                if alerts.len() == max {
                    // The rest of this page sorts at or after the mark: the next fetch of this
                    // pull reads it from memory, a later one finds it again.
                    page.rest.push_front(raw);
                    walk.page = Some(page);
                    break 'pages;
                }
                state.record(parsed.id(), parsed.updated, parsed.version());
                let parts = parsed.into_parts();
                alerts.push(Alert::new(
                    &self.source_name,
                    super::mapping::KIND,
                    parts,
                    raw,
                ));
            }
            match page.after {
                Some(next) if page.got > 0 && walk.after.as_deref() != Some(next.as_str()) => {
                    // Keyset paging (see the cursor module): a fresh query from the newest
                    // millisecond of this page, unless the whole page sits in one millisecond.
                    let newest = page.times.iter().max().map(|t| t.floor_millis());
                    match newest.filter(|t| *t > walk.frontier) {
                        Some(from) => {
                            walk.frontier = from;
                            walk.after = None;
                        }
                        None => walk.after = Some(next),
                    }
                }
                _ => {
                    caught_up = true;
                    break;
                }
            }
        }
        // Records quarantined last in the walk: nothing readable followed them, so they sort at
        // or before the newest record there is, which is no later than now or the mark.
        let now = Timestamp::from_datetime(Utc::now());
        let last = state
            .mark_time()
            .map_or(now, |m| m.max(now))
            .max(walk.frontier);
        for hash in unbounded {
            state.record_quarantined(hash, last);
        }
        // Room was reserved for a full page; a batch waits for its commit with only what it holds
        // (thousands of integrations keep one batch each in flight).
        alerts.shrink_to_fit();
        state.advance(self.settings.look_back(), now);
        tracing::debug!(
            vendor = VENDOR,
            source = %self.source_name,
            alerts = alerts.len(),
            quarantined = quarantined.len(),
            pages,
            caught_up,
            mark = state.mark(),
            "fetched"
        );
        let cursor = state.encode()?;
        if !caught_up {
            *self
                .resume
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Resume {
                cursor: cursor.clone(),
                state,
                walk,
                made: std::time::Instant::now(),
            });
        }
        Ok(Batch {
            alerts,
            cursor,
            caught_up,
            pages,
            quarantined,
        })
    }

    fn http_stats(&self) -> HttpStats {
        self.http.stats()
    }
}
