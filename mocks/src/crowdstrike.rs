//! A Falcon API look-alike on wiremock: several CIDs on one server, OAuth2 tokens scoped by
//! `member_cid`, the Alerts API (combined, queries v2, entities v2) with the vendor's paging caps,
//! rate-limit headers on every response, and injectable faults. Built from
//! the Falcon API's public behaviour (FalconPy's and gofalcon's endpoint specs, the
//! Alerts API's `after` paging and 10,000-result offset cap); it writes its own JSON and never imports the connector.
//!
//! # Start
//! ```ignore
//! let mock = FalconMock::start(FalconMockConfig::default()).await;   // random port
//! let mock = FalconMock::start_on(listener, config).await;           // a given listener
//! mock.uri();                                                        // "http://127.0.0.1:PORT"
//! ```
//!
//! # Data
//! [`FalconMockConfig`]: `seed`, `cids` (each gets `alerts_per_cid` alerts), `base_time`/`span`
//! (the alerts' `updated_timestamp`s spread evenly over `[base_time, base_time + span)`; by
//! default `now − 23 h` over 22 h, so a 24 h first-run window covers them), the API `clients`,
//! the server's `region`, an optional `redirect_to` region, and the quotas.
//! Timestamps carry 9 fractional digits. Alerts mix `epp`/`ldt` (some without `severity_name`),
//! `epp`/`ods` and `idp` detections, with realistic fields (`device`, `falcon_host_link`, ...).
//!
//! Between pulls: [`FalconMock::update_alerts`] (new status, `updated_timestamp` = now),
//! [`FalconMock::add_alerts`], [`FalconMock::add_fresh_alerts`] (created and updated now),
//! [`FalconMock::add_late_alerts`] (new alerts whose
//! `updated_timestamp` is `age` older than the newest alert of the CID),
//! [`FalconMock::add_automated_lead`] (`score` only, no `severity`/`severity_name`),
//! [`FalconMock::break_alerts`] (documents missing `composite_id` or a readable
//! `updated_timestamp`, still indexed in place). Within one pull:
//! [`FalconMock::update_alerts_after_pages`] (an update between two pages of a walk).
//! Ground truth: [`FalconMock::versions`] (every current `(composite_id, updated_timestamp)` of a
//! CID), [`FalconMock::alert_count`], [`FalconMock::stats`], [`FalconMock::token_requests`],
//! [`FalconMock::combined_bodies`].
//!
//! # Credentials (the default config)
//! | client | id / secret | may mint for |
//! |---|---|---|
//! | MSSP parent | [`PARENT_CLIENT_ID`] / [`PARENT_SECRET`] | [`PARENT_CID`] (no `member_cid`), [`CID_A`], [`CID_B`] via `member_cid` |
//! | CID A's own client | [`CHILD_A_CLIENT_ID`] / [`CHILD_A_SECRET`] | [`CID_A`] (no `member_cid`) |
//! | blocked (IP allow-list) | [`BLOCKED_CLIENT_ID`] / [`BLOCKED_SECRET`] | nothing: 403 |
//!
//! # Behaviour
//! - `POST /oauth2/token` (form): 201 `{access_token, token_type, expires_in}`; a wrong id or
//!   secret gets a 401 envelope; a blocked client, or a `member_cid` the client may not reach,
//!   gets 403 "access denied, authorization failed". With `redirect_to` set, every token request
//!   gets **308** with `X-Cs-Region: <region>` and a `Location` on that region's real host, unless
//!   the request's `Host` already is that host. Token quota: 300 per minute.
//! - A `member_cid` token is scoped to that CID: it never sees another CID's alerts. A parent
//!   token minted without `member_cid` reads its home CID and every child
//!   ([`FalconMockConfig::parent_token_reads_children`]); the FQL `cid:'…'` clause (exact match)
//!   narrows it, and pages merge the CIDs in sort order. Unknown, expired or revoked tokens get
//!   401 "access denied, invalid bearer token" with `X-Ratelimit-Limit: 15`.
//! - `POST /alerts/combined/alerts/v1` `{filter, sort, limit, after}`: FQL on
//!   `updated_timestamp`, `created_timestamp`, `timestamp`, `status`, `product`, `type`, `cid`,
//!   `composite_id`, `severity`; sort on the timestamps, `severity` or `composite_id`
//!   (`field|asc` or `field.desc`, default `updated_timestamp|asc`); `limit` 1..=1000 (400 above);
//!   `meta.pagination.after` while more results exist (a search-after position, stable while
//!   data changes), absent on the last page.
//! - `GET /alerts/queries/alerts/v2?filter&sort&limit&offset`: composite ids, `limit` ≤ 10,000,
//!   and a 400 once `offset + limit` passes 10,000 (the offset wall).
//! - `POST /alerts/entities/alerts/v2` `{composite_ids}`: at most 1,000 ids (413 above), results
//!   in no particular order, ids of other CIDs silently absent.
//! - Every response has `X-Cs-Traceid` and `X-Cs-Region`; data responses carry
//!   `X-Ratelimit-Limit`/`X-Ratelimit-Remaining` for the token's customer account (a sliding
//!   minute, default 6,000; a `member_cid` token spends the parent's account by default,
//!   [`FalconMockConfig::member_quota_on_parent`]); over quota gives 429 with
//!   `X-Ratelimit-Retryafter` in epoch seconds. [`MockStats::max_requests_per_minute`] is the
//!   most one account admitted in any minute, on [`FalconMockConfig::clock`] when set.
//!
//! # Faults
//! [`FalconMock::inject`]`(endpoint, fault, times)` arms a fault for the next `times` requests
//! of that endpoint ([`Endpoint::AnyData`] for any alerts endpoint): [`Fault::TooManyRequests`]
//! (429 with `X-Ratelimit-Retryafter` as epoch seconds or milliseconds), [`Fault::Status`]
//! (e.g. 500/503), [`Fault::ErrorsInOk`] (a 200 whose `errors[]` is not empty),
//! [`Fault::RevokeToken`] (the caller's token is revoked and the request gets 401),
//! [`Fault::UnreadableBody`] (a 200 cut off mid-JSON).
//! Also [`FalconMock::revoke_tokens_after_pages`] (revoke every token once N more combined pages
//! were served: a token dying in the middle of a pagination), [`FalconMock::revoke_all_tokens`],
//! [`FalconMock::block_client`] and [`FalconMock::set_redirect`].
//!
//! # Volume and scale runs
//! Alerts are pre-serialised and spliced into pages; a page is an index seek on
//! `updated_timestamp`. Request recording is off. For runs with many integrations raise
//! `token_rate_limit_per_minute` (the real 300 per minute per source IP would hold back thousands
//! of first mints), and keep `span` realistic: a client that re-reads a look-back window pays for
//! every alert inside it.

mod data;
mod fql;
mod server;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use data::{Tenant, nanos_of};
use server::{Handler, State, lock};

/// The MSSP's own CID (the parent API client's home).
pub const PARENT_CID: &str = "0c1d2e3f4a5b46c7d8e9fa0b1c2d3e4f";
/// A child CID reached with `member_cid`.
pub const CID_A: &str = "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6";
/// CID A spelled as an upper-case CCID (with the `-XX` checksum).
pub const CID_A_CCID: &str = "1A2B3C4D5E6F47A8B9C0D1E2F3A4B5C6-7E";
/// Another child CID.
pub const CID_B: &str = "9f8e7d6c5b4a43928170fedcba987654";

pub const PARENT_CLIENT_ID: &str = "5d0c1ab2e3f44c5d9e8f7a6b5c4d3e2f";
pub const PARENT_SECRET: &str = "pArEnTsEcReT0123456789abcdefGHIJKLMNOPQR";
pub const CHILD_A_CLIENT_ID: &str = "a1c1e2d3f4a54b6c8d7e9f0a1b2c3d4e";
pub const CHILD_A_SECRET: &str = "cHiLdAsEcReT0123456789abcdefGHIJKLMNOPQR";
pub const BLOCKED_CLIENT_ID: &str = "b10cced0b10c4ed0b10cced0b10cced0";
pub const BLOCKED_SECRET: &str = "bLoCkEdSeCrEt0123456789abcdefGHIJKLMNOPQ";

/// The real API host of a Falcon region, as `X-Cs-Region` names it.
pub fn region_host(region: &str) -> Option<&'static str> {
    Some(match region.trim().to_ascii_lowercase().as_str() {
        "us-1" => "api.crowdstrike.com",
        "us-2" => "api.us-2.crowdstrike.com",
        "us-3" => "api.us-3.crowdstrike.com",
        "eu-1" => "api.eu-1.crowdstrike.com",
        "us-gov-1" => "api.laggar.gcw.crowdstrike.com",
        "us-gov-2" => "api.us-gov-2.crowdstrike.mil",
        _ => return None,
    })
}

/// One API client the token endpoint knows.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub client_id: String,
    pub secret: String,
    /// The CID a token is scoped to when no `member_cid` is sent.
    pub home_cid: String,
    /// Child CIDs this (parent) client may reach with `member_cid`.
    pub children: Vec<String>,
    /// Refused with 403, like a client whose IP allow-list excludes the caller.
    pub blocked: bool,
}

#[derive(Debug, Clone)]
pub struct FalconMockConfig {
    pub seed: u64,
    /// CIDs that hold alerts (bare, lowercase).
    pub cids: Vec<String>,
    pub alerts_per_cid: usize,
    /// `updated_timestamp` of the first alert; `None` = 23 hours before start.
    pub base_time: Option<DateTime<Utc>>,
    /// The alerts are spread over this span.
    pub span: Duration,
    pub clients: Vec<ApiClient>,
    /// This server's region, sent as `X-Cs-Region`.
    pub region: String,
    /// When set, token requests get a 308 to this region.
    pub redirect_to: Option<String>,
    /// Per-CID data quota (the vendor's 6,000 per minute).
    pub rate_limit_per_minute: u32,
    /// Token endpoint quota (300 per minute per source IP).
    pub token_rate_limit_per_minute: u32,
    /// `expires_in` of minted tokens (1799 s).
    pub token_ttl: Duration,
    /// A parent token minted without `member_cid` reads its home CID *and* its children's alerts
    /// (the Alerts spec's "across all CIDs"; facts §3 leave this open for parents). Queries then
    /// need a `cid:'…'` clause to stay on one CID. Default true: the case a connector must survive.
    pub parent_token_reads_children: bool,
    /// A `member_cid` token's requests count against the parent's account quota (true, default)
    /// or the child's own. Falcon counts 6,000 per minute per customer account; which account a
    /// child token spends is undocumented (facts §5), so the default is the stricter reading.
    pub member_quota_on_parent: bool,
    /// Read time from this runtime instead of the wall clock: a test passes
    /// `tokio::runtime::Handle::current()` so quota windows and token lifetimes follow its paused
    /// clock (wiremock answers on its own thread and runtime).
    pub clock: Option<tokio::runtime::Handle>,
    /// How long each combined-alerts answer takes (default none): a slow vendor, so a test can
    /// see from [`FalconMock::data_requests`] whether two polls of one CID ever overlapped.
    pub data_delay: Duration,
}

/// One combined-alerts request as the mock saw it: when it arrived, when its answer was due
/// (arrival plus `data_delay`), the bearer token (one per gateway process and CID), and the
/// CIDs that token reads.
#[derive(Debug, Clone)]
pub struct DataRequest {
    pub at: std::time::Instant,
    pub until: std::time::Instant,
    pub token: String,
    pub scope: Vec<String>,
}

impl Default for FalconMockConfig {
    fn default() -> Self {
        FalconMockConfig {
            seed: 42,
            cids: vec![CID_A.to_owned(), CID_B.to_owned()],
            alerts_per_cid: 1000,
            base_time: None,
            span: Duration::from_secs(22 * 3600),
            clients: vec![
                ApiClient {
                    client_id: PARENT_CLIENT_ID.to_owned(),
                    secret: PARENT_SECRET.to_owned(),
                    home_cid: PARENT_CID.to_owned(),
                    children: vec![CID_A.to_owned(), CID_B.to_owned()],
                    blocked: false,
                },
                ApiClient {
                    client_id: CHILD_A_CLIENT_ID.to_owned(),
                    secret: CHILD_A_SECRET.to_owned(),
                    home_cid: CID_A.to_owned(),
                    children: Vec::new(),
                    blocked: false,
                },
                ApiClient {
                    client_id: BLOCKED_CLIENT_ID.to_owned(),
                    secret: BLOCKED_SECRET.to_owned(),
                    home_cid: CID_B.to_owned(),
                    children: Vec::new(),
                    blocked: true,
                },
            ],
            region: "us-1".to_owned(),
            redirect_to: None,
            rate_limit_per_minute: 6000,
            token_rate_limit_per_minute: 300,
            token_ttl: Duration::from_secs(1799),
            parent_token_reads_children: true,
            member_quota_on_parent: true,
            clock: None,
            data_delay: Duration::ZERO,
        }
    }
}

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    CombinedAlerts,
    QueryAlerts,
    EntityAlerts,
    /// Any of the three alerts endpoints.
    AnyData,
}

/// The `X-Ratelimit-Retryafter` of an injected 429: an epoch time this far from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Epoch seconds (what every SDK reads). Zero or negative: already past.
    EpochSeconds { in_secs: i64 },
    /// Epoch milliseconds (what the swagger says).
    EpochMillis { in_ms: i64 },
}

/// What is wrong with an alert's returned document ([`FalconMock::break_alerts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    NoCompositeId,
    NoUpdatedTimestamp,
    /// `updated_timestamp` is a string but not a date.
    BadUpdatedTimestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    TooManyRequests(RetryAfter),
    /// Any status with an error envelope, e.g. 500, 502, 503.
    Status(u16),
    /// HTTP 200 with a non-empty `errors[]` and no resources.
    ErrorsInOk,
    /// Revokes the caller's token and answers 401.
    RevokeToken,
    /// HTTP 200 whose body is cut off mid-JSON (a page that does not parse).
    UnreadableBody,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MockStats {
    pub token_requests: u64,
    pub tokens_issued: u64,
    pub redirects: u64,
    pub combined_requests: u64,
    pub query_requests: u64,
    pub entity_requests: u64,
    pub responses_401: u64,
    pub responses_403: u64,
    pub responses_429: u64,
    pub responses_5xx: u64,
    pub errors_in_ok: u64,
    pub alerts_served: u64,
    /// The largest `limit` a combined-alerts request asked for.
    pub max_limit_requested: i64,
    /// The most data requests one account's quota admitted within any sliding minute, on the
    /// mock's clock (see [`FalconMockConfig::clock`]).
    pub max_requests_per_minute: u64,
}

/// What a token request carried (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub client_id: String,
    pub member_cid: Option<String>,
    pub host: Option<String>,
}

pub struct FalconMock {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FalconMock {
    pub async fn start(config: FalconMockConfig) -> FalconMock {
        Self::serve(MockServer::builder(), config).await
    }

    pub async fn start_on(listener: TcpListener, config: FalconMockConfig) -> FalconMock {
        Self::serve(MockServer::builder().listener(listener), config).await
    }

    async fn serve(builder: wiremock::MockServerBuilder, config: FalconMockConfig) -> FalconMock {
        let base = config
            .base_time
            .unwrap_or_else(|| Utc::now() - chrono::Duration::hours(23));
        let span_ns = i64::try_from(config.span.as_nanos()).unwrap_or(i64::MAX);
        let tenants: HashMap<String, Tenant> = config
            .cids
            .iter()
            .map(|cid| {
                let cid = cid.to_ascii_lowercase();
                let t = Tenant::seeded(
                    &cid,
                    config.seed,
                    config.alerts_per_cid,
                    nanos_of(base),
                    span_ns,
                );
                (cid, t)
            })
            .collect();
        let state = Arc::new(Mutex::new(State::new(config, tenants)));
        // Request recording off: a long benchmark would otherwise keep every request.
        let server = builder.disable_request_recording().start().await;
        Mock::given(any())
            .respond_with(Handler(Arc::clone(&state)))
            .mount(&server)
            .await;
        FalconMock { server, state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn address(&self) -> std::net::SocketAddr {
        *self.server.address()
    }

    pub fn config(&self) -> FalconMockConfig {
        lock(&self.state).config.clone()
    }

    /// Every current `(composite_id, updated_timestamp)` of `cid`.
    pub fn versions(&self, cid: &str) -> Vec<(String, String)> {
        lock(&self.state)
            .tenants
            .get(&cid.to_ascii_lowercase())
            .map(server::versions)
            .unwrap_or_default()
    }

    pub fn alert_count(&self, cid: &str) -> usize {
        lock(&self.state)
            .tenants
            .get(&cid.to_ascii_lowercase())
            .map_or(0, |t| t.alerts.len())
    }

    /// Updates `n` alerts of `cid` (seeded pick): next status, `updated_timestamp` = now (or just
    /// after the newest alert, whichever is later). Returns their composite ids.
    pub fn update_alerts(&self, cid: &str, n: usize) -> Vec<String> {
        let mut st = lock(&self.state);
        let Some(t) = st.tenants.get_mut(&cid.to_ascii_lowercase()) else {
            return Vec::new();
        };
        let picked = t.pick(n);
        let mut ids = Vec::with_capacity(picked.len());
        for idx in picked {
            let at = next_now(t);
            t.update(idx, at);
            ids.push(t.alerts[idx].composite_id.clone());
        }
        ids
    }

    /// Adds `n` new alerts to `cid`, updated now. Returns their composite ids.
    pub fn add_alerts(&self, cid: &str, n: usize) -> Vec<String> {
        let mut st = lock(&self.state);
        let t = tenant_mut(&mut st, cid);
        (0..n)
            .map(|_| {
                let at = next_now(t);
                t.push(at)
            })
            .collect()
    }

    /// Adds `n` new alerts to `cid`, created now and not updated since: `created_timestamp` =
    /// `updated_timestamp` = the moment of insertion (a live alert appearing at the vendor).
    /// Cheap: an index insert and one rendered document per alert. Returns their composite ids.
    pub fn add_fresh_alerts(&self, cid: &str, n: usize) -> Vec<String> {
        let mut st = lock(&self.state);
        let t = tenant_mut(&mut st, cid);
        (0..n)
            .map(|_| {
                let at = next_now(t);
                t.push_created(at)
            })
            .collect()
    }

    /// Adds `n` alerts to `cid` that arrive late: their `updated_timestamp` is `age` before the
    /// newest alert's (keep `age` inside the connector's look-back). Returns their ids.
    pub fn add_late_alerts(&self, cid: &str, n: usize, age: Duration) -> Vec<String> {
        let mut st = lock(&self.state);
        let t = tenant_mut(&mut st, cid);
        let newest = t.max_updated().unwrap_or_else(|| nanos_of(Utc::now()));
        let age_ns = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
        (0..n)
            .map(|i| t.push(newest - age_ns + i as i64 * 1_000))
            .collect()
    }

    /// Adds an automated lead to `cid`, updated now, carrying `score` and neither `severity`
    /// nor `severity_name`. Returns its composite id.
    pub fn add_automated_lead(&self, cid: &str, score: u8) -> String {
        let mut st = lock(&self.state);
        let t = tenant_mut(&mut st, cid);
        let at = next_now(t);
        t.push_shaped(at, data::Shape::AutomatedLead { score })
    }

    /// Breaks the named alerts of `cid`: their returned documents get `defect`, while the index
    /// still finds and sorts them by their `updated_timestamp`.
    pub fn break_alerts(&self, cid: &str, ids: &[String], defect: Defect) {
        let mut st = lock(&self.state);
        let Some(t) = st.tenants.get_mut(&cid.to_ascii_lowercase()) else {
            return;
        };
        for id in ids {
            if let Some(idx) = t.by_id.get(id).copied() {
                t.break_alert(idx, defect);
            }
        }
    }

    /// Updates the named alerts of `cid` (new status, `updated_timestamp` = now) once `pages`
    /// more combined-alerts pages were served: an update in the middle of one pagination.
    pub fn update_alerts_after_pages(&self, cid: &str, ids: &[String], pages: u32) {
        lock(&self.state).update_after_pages =
            Some((pages.max(1), cid.to_ascii_lowercase(), ids.to_vec()));
    }

    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: u32) {
        lock(&self.state).arm(endpoint, fault, times);
    }

    /// Revokes every live token once `pages` more combined-alerts pages have been served.
    pub fn revoke_tokens_after_pages(&self, pages: u32) {
        lock(&self.state).revoke_after_pages = Some(pages.max(1));
    }

    pub fn revoke_all_tokens(&self) {
        lock(&self.state).revoke_all();
    }

    pub fn block_client(&self, client_id: &str) {
        lock(&self.state).blocked.insert(client_id.to_owned());
    }

    /// Sets or clears the region token requests are redirected to.
    pub fn set_redirect(&self, region: Option<&str>) {
        lock(&self.state).config.redirect_to = region.map(str::to_owned);
    }

    pub fn stats(&self) -> MockStats {
        lock(&self.state).stats
    }

    /// The most recent token requests (client id, `member_cid`, `Host`), oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.state).token_log.iter().cloned().collect()
    }

    /// The most recent combined-alerts requests (up to 200,000), oldest first.
    pub fn data_requests(&self) -> Vec<DataRequest> {
        lock(&self.state).data_log.iter().cloned().collect()
    }

    /// The most recent combined-alerts request bodies, verbatim, oldest first.
    pub fn combined_bodies(&self) -> Vec<String> {
        lock(&self.state).combined_log.iter().cloned().collect()
    }
}

fn tenant_mut<'a>(st: &'a mut State, cid: &str) -> &'a mut Tenant {
    let cid = cid.to_ascii_lowercase();
    let seed = st.config.seed;
    st.tenants
        .entry(cid.clone())
        .or_insert_with(|| Tenant::seeded(&cid, seed, 0, 0, 0))
}

/// Now, or a microsecond after the newest alert if the clock has not moved past it.
pub(crate) fn next_now(t: &Tenant) -> i64 {
    let now = nanos_of(Utc::now());
    t.max_updated().map_or(now, |m| now.max(m + 1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> FalconMockConfig {
        FalconMockConfig {
            alerts_per_cid: 50,
            ..FalconMockConfig::default()
        }
    }

    #[tokio::test]
    async fn seeded_data_is_deterministic_and_per_cid() {
        let a = FalconMock::start(small()).await;
        let b = FalconMock::start(small()).await;
        assert_eq!(a.alert_count(CID_A), 50);
        let va = a.versions(CID_A);
        let vb = b.versions(CID_A);
        assert_eq!(
            va.iter().map(|v| &v.0).collect::<Vec<_>>(),
            vb.iter().map(|v| &v.0).collect::<Vec<_>>()
        );
        assert!(
            va.iter()
                .all(|(id, ts)| id.starts_with(CID_A) && ts.len() == 30),
            "{va:?}"
        );
        assert!(
            a.versions(CID_B)
                .iter()
                .all(|(id, _)| id.starts_with(CID_B))
        );
    }

    #[tokio::test]
    async fn updates_make_new_versions_and_late_alerts_sort_before_the_newest() {
        let mock = FalconMock::start(small()).await;
        let before: HashMap<String, String> = mock.versions(CID_A).into_iter().collect();
        let updated = mock.update_alerts(CID_A, 3);
        assert_eq!(updated.len(), 3);
        let after: HashMap<String, String> = mock.versions(CID_A).into_iter().collect();
        for id in &updated {
            assert!(after[id] > before[id], "{id}");
        }
        let newest = after.values().max().cloned().unwrap();
        let late = mock.add_late_alerts(CID_A, 2, Duration::from_secs(30));
        let now: HashMap<String, String> = mock.versions(CID_A).into_iter().collect();
        for id in &late {
            assert!(now[id] < newest, "{id}");
        }
        assert_eq!(mock.alert_count(CID_A), 52);
    }

    #[tokio::test]
    async fn fresh_alerts_are_created_and_updated_at_insertion_in_any_cid() {
        let mock = FalconMock::start(small()).await;
        let before = nanos_of(Utc::now());
        let ids = mock.add_fresh_alerts(CID_B, 2);
        let after = nanos_of(Utc::now());
        assert_eq!(ids.len(), 2);
        assert_eq!(mock.alert_count(CID_B), 52);
        assert_eq!(mock.alert_count(CID_A), 50);
        let st = lock(&mock.state);
        let t = &st.tenants[CID_B];
        for id in &ids {
            let rec = &t.alerts[t.by_id[id]];
            assert_eq!(rec.created_ns, rec.updated_ns, "{id}");
            assert!((before..=after).contains(&rec.updated_ns), "{id}");
            let doc: serde_json::Value = serde_json::from_str(&rec.json).unwrap();
            assert_eq!(doc["created_timestamp"], doc["updated_timestamp"]);
        }
        // Newest last in the `updated_timestamp|asc` index.
        assert_eq!(t.max_updated(), Some(t.alerts[t.by_id[&ids[1]]].updated_ns));
    }

    #[test]
    fn every_region_has_a_host() {
        for r in ["us-1", "us-2", "us-3", "eu-1", "us-gov-1", "US-GOV-2"] {
            assert!(region_host(r).is_some(), "{r}");
        }
        assert_eq!(region_host("mars-1"), None);
    }
}
