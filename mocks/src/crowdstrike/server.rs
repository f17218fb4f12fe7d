//! The request handler: token endpoint, the three alerts endpoints, rate limits and faults.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use wiremock::{Request, Respond, ResponseTemplate};

use super::data::{AlertRec, Rng, Tenant, fmt_nanos};
use super::fql::{Filter, Sort};
use super::{Endpoint, FalconMockConfig, Fault, MockStats, RetryAfter, TokenRequest, region_host};

/// How many recent request records the mock keeps for tests to inspect.
const LOG_CAP: usize = 10_000;
/// Data requests kept for [`super::FalconMock::data_requests`].
const DATA_LOG_CAP: usize = 200_000;
/// Rate-limit bucket for requests without a valid token (per source IP on the real API).
const UNAUTHENTICATED_LIMIT: u32 = 15;
const COMBINED_MAX_LIMIT: usize = 1000;
const QUERY_MAX_LIMIT: usize = 10_000;
/// Offset paging cannot reach past this many results.
const OFFSET_WALL: usize = 10_000;
const ENTITIES_MAX_IDS: usize = 1000;

pub(crate) struct TokenInfo {
    /// The CIDs whose alerts this token reads: one for a `member_cid` token; the home CID and
    /// its children for a parent token minted without `member_cid`.
    scope: Vec<String>,
    /// Whose quota the token's requests count against (a customer account, named by its CID).
    account: String,
    expires_at: Instant,
    revoked: bool,
}

struct ArmedFault {
    endpoint: Endpoint,
    fault: Fault,
    remaining: u32,
}

pub(crate) struct State {
    pub config: FalconMockConfig,
    pub tenants: HashMap<String, Tenant>,
    tokens: HashMap<String, TokenInfo>,
    minted: u64,
    pub blocked: HashSet<String>,
    faults: Vec<ArmedFault>,
    /// Revoke every live token after this many more combined-alerts pages.
    pub revoke_after_pages: Option<u32>,
    /// Update these alerts of this CID after this many more combined-alerts pages.
    pub update_after_pages: Option<(u32, String, Vec<String>)>,
    windows: HashMap<String, VecDeque<Instant>>,
    token_window: VecDeque<Instant>,
    pub stats: MockStats,
    pub token_log: VecDeque<TokenRequest>,
    pub combined_log: VecDeque<String>,
    pub data_log: VecDeque<super::DataRequest>,
    /// scope → (filter text, data version, total): totals are a full scan otherwise.
    totals: HashMap<String, (String, u64, usize)>,
}

/// A token's view: which CIDs it reads and whose quota it spends.
struct Caller {
    scope: Vec<String>,
    account: String,
}

impl State {
    pub fn new(config: FalconMockConfig, tenants: HashMap<String, Tenant>) -> State {
        let blocked = config
            .clients
            .iter()
            .filter(|c| c.blocked)
            .map(|c| c.client_id.clone())
            .collect();
        State {
            config,
            tenants,
            tokens: HashMap::new(),
            minted: 0,
            blocked,
            faults: Vec::new(),
            revoke_after_pages: None,
            update_after_pages: None,
            windows: HashMap::new(),
            token_window: VecDeque::new(),
            stats: MockStats::default(),
            token_log: VecDeque::new(),
            combined_log: VecDeque::new(),
            data_log: VecDeque::new(),
            totals: HashMap::new(),
        }
    }

    pub fn arm(&mut self, endpoint: Endpoint, fault: Fault, times: u32) {
        if times > 0 {
            self.faults.push(ArmedFault {
                endpoint,
                fault,
                remaining: times,
            });
        }
    }

    /// The mock's clock: the wall clock, or the runtime named in the config (a test's paused
    /// clock), so quota windows and token lifetimes follow virtual time in tests.
    pub fn now(&self) -> Instant {
        match &self.config.clock {
            Some(handle) => {
                let _entered = handle.enter();
                Instant::now()
            }
            None => Instant::now(),
        }
    }

    pub fn revoke_all(&mut self) {
        for t in self.tokens.values_mut() {
            t.revoked = true;
        }
    }

    fn take_fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let slot = self.faults.iter_mut().find(|f| {
            f.remaining > 0
                && (f.endpoint == endpoint
                    || (f.endpoint == Endpoint::AnyData && endpoint != Endpoint::Token))
        })?;
        slot.remaining -= 1;
        let fault = slot.fault;
        self.faults.retain(|f| f.remaining > 0);
        Some(fault)
    }
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct Handler(pub Arc<Mutex<State>>);

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = lock(&self.0);
        let path = req.url.path().trim_end_matches('/');
        match (req.method.as_str(), path) {
            ("POST", "/oauth2/token") => st.token(req),
            ("POST", "/oauth2/revoke") => st.revoke(req),
            ("POST", "/alerts/combined/alerts/v1") => st.data(req, Endpoint::CombinedAlerts),
            ("GET", "/alerts/queries/alerts/v2") => st.data(req, Endpoint::QueryAlerts),
            ("POST", "/alerts/entities/alerts/v2") => st.data(req, Endpoint::EntityAlerts),
            _ => {
                let region = st.config.region.clone();
                reply(
                    404,
                    &region,
                    Some((UNAUTHENTICATED_LIMIT, UNAUTHENTICATED_LIMIT - 1)),
                    error_body("msa-api", 404, "Not Found"),
                )
            }
        }
    }
}

/// `(limit, remaining)` for the rate-limit headers.
type Quota = Option<(u32, u32)>;

fn trace_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn reply(status: u16, region: &str, quota: Quota, body: (String, String)) -> ResponseTemplate {
    let (trace, body) = body;
    let mut t = ResponseTemplate::new(status)
        .insert_header("X-Cs-Region", region)
        .insert_header("X-Cs-Traceid", trace.as_str());
    if let Some((limit, remaining)) = quota {
        t = t
            .insert_header("X-Ratelimit-Limit", limit.to_string().as_str())
            .insert_header("X-Ratelimit-Remaining", remaining.to_string().as_str());
    }
    if body.is_empty() {
        t
    } else {
        t.set_body_raw(body.into_bytes(), "application/json")
    }
}

/// `(trace id, body)` of an error envelope.
fn error_body(powered_by: &str, code: u16, message: &str) -> (String, String) {
    let trace = trace_id();
    let body = json!({
        "meta": {"query_time": 0.0, "powered_by": powered_by, "trace_id": trace},
        "resources": [],
        "errors": [{"code": code, "message": message}]
    })
    .to_string();
    (trace, body)
}

fn epoch_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

fn too_many(region: &str, limit: u32, retry_after: RetryAfter) -> ResponseTemplate {
    let now = epoch_now();
    let value = match retry_after {
        RetryAfter::EpochSeconds { in_secs } => (now.as_secs() as i64 + in_secs).to_string(),
        RetryAfter::EpochMillis { in_ms } => (now.as_millis() as i64 + in_ms).to_string(),
    };
    reply(
        429,
        region,
        Some((limit, 0)),
        error_body("crowdstrike-api-gateway", 429, "API rate limit exceeded."),
    )
    .insert_header("X-Ratelimit-Retryafter", value.as_str())
}

fn bearer(req: &Request) -> Option<String> {
    let v = req.headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Slides a one-minute window and counts this request; `Err(retry_at)` when the quota is spent.
fn admit(window: &mut VecDeque<Instant>, limit: u32, now: Instant) -> Result<u32, Instant> {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        window.pop_front();
    }
    if window.len() >= limit as usize {
        let first = window.front().copied().unwrap_or(now);
        return Err(first + Duration::from_secs(60));
    }
    window.push_back(now);
    Ok(limit.saturating_sub(window.len() as u32))
}

#[derive(Deserialize)]
struct CombinedBody {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct EntitiesBody {
    #[serde(default)]
    composite_ids: Vec<String>,
}

impl State {
    fn token(&mut self, req: &Request) -> ResponseTemplate {
        let region = self.config.region.clone();
        self.stats.token_requests += 1;
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let client_id = form.get("client_id").cloned().unwrap_or_default();
        let member_cid = form.get("member_cid").map(|m| m.trim().to_owned());
        let host = req
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        if self.token_log.len() >= LOG_CAP {
            self.token_log.pop_front();
        }
        self.token_log.push_back(TokenRequest {
            client_id: client_id.clone(),
            member_cid: member_cid.clone(),
            host: host.clone(),
        });
        let limit = self.config.token_rate_limit_per_minute;
        let now = self.now();
        let remaining = match admit(&mut self.token_window, limit, now) {
            Ok(r) => r,
            Err(_) => {
                self.stats.responses_429 += 1;
                return too_many(&region, limit, RetryAfter::EpochSeconds { in_secs: 1 });
            }
        };
        let quota = Some((limit, remaining));
        if let Some(fault) = self.take_fault(Endpoint::Token) {
            return self.fault_reply(fault, &region, quota, None);
        }
        // Region redirect: the caller's credential lives in another cloud. The regional host
        // itself answers normally (a client that re-issues there, e.g. through a resolver
        // override, gets its token).
        if let Some(target) = self.config.redirect_to.clone() {
            // A region this mock does not know (a future one) follows the naming pattern.
            let target_host = region_host(&target)
                .map_or_else(|| format!("api.{target}.crowdstrike.com"), str::to_owned);
            let here = host.as_deref().unwrap_or_default();
            if !here.eq_ignore_ascii_case(&target_host) {
                self.stats.redirects += 1;
                let location = format!("https://{target_host}/oauth2/token");
                return reply(308, &target, quota, (trace_id(), String::new()))
                    .insert_header("Location", location.as_str());
            }
        }
        let secret = form.get("client_secret").cloned().unwrap_or_default();
        let Some(client) = self
            .config
            .clients
            .iter()
            .find(|c| c.client_id == client_id && c.secret == secret)
            .cloned()
        else {
            self.stats.responses_401 += 1;
            return reply(
                401,
                &region,
                quota,
                error_body(
                    "crowdstrike-api-gateway",
                    401,
                    "access denied, invalid client",
                ),
            );
        };
        // The token endpoint's one 403: a blocked client, or a `member_cid` it may not reach.
        let forbidden = |stats: &mut MockStats| {
            stats.responses_403 += 1;
            reply(
                403,
                &region,
                quota,
                error_body(
                    "crowdstrike-api-gateway",
                    403,
                    "access denied, authorization failed",
                ),
            )
        };
        if self.blocked.contains(&client.client_id) {
            return forbidden(&mut self.stats);
        }
        let (scope, account) = match member_cid.filter(|m| !m.is_empty()) {
            None => {
                let mut scope = vec![client.home_cid.clone()];
                if self.config.parent_token_reads_children {
                    scope.extend(client.children.iter().cloned());
                }
                (scope, client.home_cid.clone())
            }
            Some(m) => {
                let m_lower = m.to_ascii_lowercase();
                let allowed = m_lower.len() == 32
                    && m_lower.bytes().all(|b| b.is_ascii_hexdigit())
                    && (m_lower == client.home_cid || client.children.contains(&m_lower));
                if !allowed {
                    return forbidden(&mut self.stats);
                }
                let account = if self.config.member_quota_on_parent {
                    client.home_cid.clone()
                } else {
                    m_lower.clone()
                };
                (vec![m_lower], account)
            }
        };
        self.minted += 1;
        let mut h = Sha256::new();
        h.update(self.config.seed.to_be_bytes());
        h.update(self.minted.to_be_bytes());
        h.update(scope.join(",").as_bytes());
        let token: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                scope,
                account,
                expires_at: now + self.config.token_ttl,
                revoked: false,
            },
        );
        self.stats.tokens_issued += 1;
        let body = json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.config.token_ttl.as_secs(),
        })
        .to_string();
        reply(201, &region, quota, (trace_id(), body))
    }

    fn revoke(&mut self, req: &Request) -> ResponseTemplate {
        let region = self.config.region.clone();
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        if let Some(t) = form.get("token").and_then(|t| self.tokens.get_mut(t)) {
            t.revoked = true;
        }
        let trace = trace_id();
        let body = json!({
            "meta": {"query_time": 0.0, "powered_by": "csam", "trace_id": trace},
            "errors": []
        })
        .to_string();
        let limit = self.config.token_rate_limit_per_minute;
        let now = self.now();
        let remaining = admit(&mut self.token_window, limit, now).unwrap_or(0);
        reply(200, &region, Some((limit, remaining)), (trace, body))
    }

    fn data(&mut self, req: &Request, endpoint: Endpoint) -> ResponseTemplate {
        let region = self.config.region.clone();
        match endpoint {
            Endpoint::CombinedAlerts => self.stats.combined_requests += 1,
            Endpoint::QueryAlerts => self.stats.query_requests += 1,
            _ => self.stats.entity_requests += 1,
        }
        let now = self.now();
        let token = bearer(req);
        let caller = token
            .as_ref()
            .and_then(|t| self.tokens.get(t))
            .filter(|t| !t.revoked && t.expires_at > now)
            .map(|t| Caller {
                scope: t.scope.clone(),
                account: t.account.clone(),
            });
        let Some(caller) = caller else {
            self.stats.responses_401 += 1;
            return reply(
                401,
                &region,
                Some((UNAUTHENTICATED_LIMIT, UNAUTHENTICATED_LIMIT - 1)),
                error_body(
                    "crowdstrike-api-gateway",
                    401,
                    "access denied, invalid bearer token",
                ),
            );
        };
        let limit = self.config.rate_limit_per_minute;
        let window = self.windows.entry(caller.account.clone()).or_default();
        let remaining = match admit(window, limit, now) {
            Ok(r) => {
                let in_window = window.len() as u64;
                self.stats.max_requests_per_minute =
                    self.stats.max_requests_per_minute.max(in_window);
                r
            }
            Err(at) => {
                self.stats.responses_429 += 1;
                let in_secs = at.saturating_duration_since(now).as_secs() as i64 + 1;
                return too_many(&region, limit, RetryAfter::EpochSeconds { in_secs });
            }
        };
        let quota = Some((limit, remaining));
        if let Some(fault) = self.take_fault(endpoint) {
            return self.fault_reply(fault, &region, quota, token.as_deref());
        }
        match endpoint {
            Endpoint::CombinedAlerts => {
                let mut resp = self.combined(req, &caller.scope, &region, quota);
                let delay = self.config.data_delay;
                if !delay.is_zero() {
                    resp = resp.set_delay(delay);
                }
                if self.data_log.len() >= DATA_LOG_CAP {
                    self.data_log.pop_front();
                }
                let at = std::time::Instant::now();
                self.data_log.push_back(super::DataRequest {
                    at,
                    until: at + delay,
                    token: token.clone().unwrap_or_default(),
                    scope: caller.scope.clone(),
                });
                if let Some(n) = self.revoke_after_pages.as_mut() {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.revoke_after_pages = None;
                        self.revoke_all();
                    }
                }
                if let Some((n, _, _)) = self.update_after_pages.as_mut() {
                    *n = n.saturating_sub(1);
                    if *n == 0
                        && let Some((_, cid, ids)) = self.update_after_pages.take()
                    {
                        self.update_now(&cid, &ids);
                    }
                }
                resp
            }
            Endpoint::QueryAlerts => self.queries(req, &caller.scope, &region, quota),
            _ => self.entities(req, &caller.scope, &region, quota),
        }
    }

    fn fault_reply(
        &mut self,
        fault: Fault,
        region: &str,
        quota: Quota,
        token: Option<&str>,
    ) -> ResponseTemplate {
        let limit = quota.map_or(self.config.rate_limit_per_minute, |q| q.0);
        match fault {
            Fault::TooManyRequests(retry_after) => {
                self.stats.responses_429 += 1;
                too_many(region, limit, retry_after)
            }
            Fault::Status(status) => {
                if status >= 500 {
                    self.stats.responses_5xx += 1;
                }
                reply(
                    status,
                    region,
                    quota,
                    error_body("msa-api", status, "internal server error"),
                )
            }
            Fault::UnreadableBody => reply(
                200,
                region,
                quota,
                (
                    trace_id(),
                    r#"{"meta":{"query_time":0.01,"powered_by":"detectsapi"},"resources":[{"composite_id""#
                        .to_owned(),
                ),
            ),
            Fault::ErrorsInOk => {
                self.stats.errors_in_ok += 1;
                reply(
                    200,
                    region,
                    quota,
                    error_body(
                        "detectsapi",
                        500,
                        "internal error while reading alerts; results are incomplete",
                    ),
                )
            }
            Fault::RevokeToken => {
                if let Some(t) = token.and_then(|t| self.tokens.get_mut(t)) {
                    t.revoked = true;
                }
                self.stats.responses_401 += 1;
                reply(
                    401,
                    region,
                    Some((UNAUTHENTICATED_LIMIT, UNAUTHENTICATED_LIMIT - 1)),
                    error_body(
                        "crowdstrike-api-gateway",
                        401,
                        "access denied, invalid bearer token",
                    ),
                )
            }
        }
    }

    fn bad_request(&self, region: &str, quota: Quota, message: &str) -> ResponseTemplate {
        reply(400, region, quota, error_body("detectsapi", 400, message))
    }

    /// The CIDs of `scope` a query can match: all of them, or those its `cid` clauses name.
    fn reachable(&self, scope: &[String], filter: &Filter) -> Vec<String> {
        scope
            .iter()
            .filter(|c| filter.may_match_cid(c))
            .filter(|c| self.tenants.contains_key(*c))
            .cloned()
            .collect()
    }

    fn total(&mut self, cids: &[String], filter_text: &str, filter: &Filter) -> usize {
        let key = cids.join(",");
        let version: u64 = cids
            .iter()
            .filter_map(|c| self.tenants.get(c))
            .map(|t| t.version)
            .sum();
        if let Some((f, v, n)) = self.totals.get(&key)
            && f == filter_text
            && *v == version
        {
            return *n;
        }
        let n = cids
            .iter()
            .filter_map(|c| self.tenants.get(c))
            .map(|t| {
                t.alerts
                    .iter()
                    .filter(|r| filter.matches(&t.cid, r))
                    .count()
            })
            .sum();
        self.totals
            .insert(key, (filter_text.to_owned(), version, n));
        n
    }

    fn combined(
        &mut self,
        req: &Request,
        scope: &[String],
        region: &str,
        quota: Quota,
    ) -> ResponseTemplate {
        let raw_body = String::from_utf8_lossy(&req.body).into_owned();
        let body: CombinedBody = match serde_json::from_slice(&req.body) {
            Ok(b) => b,
            Err(_) => return self.bad_request(region, quota, "request body is not valid JSON"),
        };
        if self.combined_log.len() >= LOG_CAP {
            self.combined_log.pop_front();
        }
        self.combined_log.push_back(raw_body);
        let limit = body.limit.unwrap_or(100);
        self.stats.max_limit_requested = self.stats.max_limit_requested.max(limit);
        if !(1..=COMBINED_MAX_LIMIT as i64).contains(&limit) {
            return self.bad_request(region, quota, "limit must be between 1 and 1000");
        }
        let limit = limit as usize;
        let filter_text = body.filter.unwrap_or_default();
        let filter = match Filter::parse(&filter_text) {
            Ok(f) => f,
            Err(e) => return self.bad_request(region, quota, &format!("Invalid filter: {e}")),
        };
        let sort = match body.sort.as_deref() {
            None | Some("") => Sort::UPDATED_ASC,
            Some(s) => match Sort::parse(s) {
                Ok(s) => s,
                Err(e) => return self.bad_request(region, quota, &e),
            },
        };
        let after = match body.after.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => match decode_after(a) {
                Some((s, key, id)) if s == sort.as_string() => Some((key, id)),
                _ => return self.bad_request(region, quota, "invalid after token"),
            },
        };
        let cids = self.reachable(scope, &filter);
        let total = self.total(&cids, &filter_text, &filter);
        let tenants: Vec<&Tenant> = cids.iter().filter_map(|c| self.tenants.get(c)).collect();
        let (page, more) = match select(&tenants, &filter, sort, after, limit) {
            Ok(p) => p,
            Err(e) => return self.bad_request(region, quota, e),
        };
        let trace = trace_id();
        let next_after = match page.last() {
            Some(last) if more => Some(encode_after(
                &sort.as_string(),
                sort.key(last),
                &last.composite_id,
            )),
            _ => None,
        };
        let mut out = String::with_capacity(256 + page.len() * 1400);
        out.push_str(r#"{"meta":{"query_time":0.012,"pagination":{"total":"#);
        out.push_str(&total.to_string());
        out.push_str(r#","limit":"#);
        out.push_str(&limit.to_string());
        if let Some(a) = &next_after {
            out.push_str(r#","after":""#);
            out.push_str(a);
            out.push('"');
        }
        out.push_str(r#"},"powered_by":"detectsapi","trace_id":""#);
        out.push_str(&trace);
        out.push_str(r#""},"resources":["#);
        for (n, r) in page.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&r.json);
        }
        out.push_str(r#"],"errors":[]}"#);
        let served = page.len() as u64;
        self.stats.alerts_served += served;
        reply(200, region, quota, (trace, out))
    }

    fn queries(
        &mut self,
        req: &Request,
        scope: &[String],
        region: &str,
        quota: Quota,
    ) -> ResponseTemplate {
        let params: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        let limit: usize = match params.get("limit").map(|l| l.parse()) {
            None => 100,
            Some(Ok(l)) if (1..=QUERY_MAX_LIMIT).contains(&l) => l,
            Some(_) => return self.bad_request(region, quota, "limit must be between 1 and 10000"),
        };
        let offset: usize = match params.get("offset").map(|o| o.parse()) {
            None => 0,
            Some(Ok(o)) => o,
            Some(Err(_)) => return self.bad_request(region, quota, "offset must be a number"),
        };
        if offset + limit > OFFSET_WALL {
            return self.bad_request(
                region,
                quota,
                "offset + limit must not exceed 10000; use /alerts/combined/alerts/v1 with after",
            );
        }
        let filter_text = params.get("filter").cloned().unwrap_or_default();
        let filter = match Filter::parse(&filter_text) {
            Ok(f) => f,
            Err(e) => return self.bad_request(region, quota, &format!("Invalid filter: {e}")),
        };
        let sort = match params.get("sort").map(|s| Sort::parse(s)) {
            None => Sort::UPDATED_ASC,
            Some(Ok(s)) => s,
            Some(Err(e)) => return self.bad_request(region, quota, &e),
        };
        let cids = self.reachable(scope, &filter);
        let total = self.total(&cids, &filter_text, &filter);
        let tenants: Vec<&Tenant> = cids.iter().filter_map(|c| self.tenants.get(c)).collect();
        let ids: Vec<&str> = sorted_matches(&tenants, &filter, sort)
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| r.composite_id.as_str())
            .collect();
        let trace = trace_id();
        let body = json!({
            "meta": {
                "query_time": 0.004,
                "pagination": {"offset": offset, "limit": limit, "total": total},
                "powered_by": "detectsapi",
                "trace_id": trace
            },
            "resources": ids,
            "errors": []
        })
        .to_string();
        reply(200, region, quota, (trace, body))
    }

    fn entities(
        &mut self,
        req: &Request,
        scope: &[String],
        region: &str,
        quota: Quota,
    ) -> ResponseTemplate {
        if req.body.len() > 1 << 20 {
            return reply(
                413,
                region,
                quota,
                error_body("detectsapi", 413, "Request Entity Too Large"),
            );
        }
        let body: EntitiesBody = match serde_json::from_slice(&req.body) {
            Ok(b) => b,
            Err(_) => return self.bad_request(region, quota, "request body is not valid JSON"),
        };
        if body.composite_ids.len() > ENTITIES_MAX_IDS {
            return reply(
                413,
                region,
                quota,
                error_body("detectsapi", 413, "Request Entity Too Large"),
            );
        }
        let mut found: Vec<&str> = Vec::new();
        let mut seen = HashSet::new();
        for id in &body.composite_ids {
            // Ids of CIDs outside the token's scope are silently absent.
            let rec = scope
                .iter()
                .filter_map(|c| self.tenants.get(c))
                .find_map(|t| t.by_id.get(id).and_then(|i| t.alerts.get(*i)));
            if let Some(r) = rec
                && seen.insert(r.composite_id.as_str())
            {
                found.push(&r.json);
            }
        }
        // The real API returns entities in no particular order.
        let mut rng = Rng::new(found.len() as u64 ^ self.config.seed);
        for i in (1..found.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            found.swap(i, j);
        }
        let trace = trace_id();
        let mut out = String::with_capacity(128 + found.len() * 1400);
        out.push_str(r#"{"meta":{"query_time":0.006,"powered_by":"detectsapi","trace_id":""#);
        out.push_str(&trace);
        out.push_str(r#""},"resources":["#);
        out.push_str(&found.join(","));
        out.push_str(r#"],"errors":[]}"#);
        reply(200, region, quota, (trace, out))
    }

    /// A new version of each named alert of `cid`, updated now.
    pub fn update_now(&mut self, cid: &str, ids: &[String]) {
        let Some(t) = self.tenants.get_mut(&cid.to_ascii_lowercase()) else {
            return;
        };
        for id in ids {
            if let Some(idx) = t.by_id.get(id).copied() {
                let at = super::next_now(t);
                t.update(idx, at);
            }
        }
    }
}

/// One page in `sort` order after the `after` position, and whether more match after it.
/// One CID and `updated_timestamp|asc`: an index seek. Several CIDs (a parent token without a
/// `cid` clause) or another sort: a sorted scan merged across them.
fn select<'t>(
    tenants: &[&'t Tenant],
    filter: &Filter,
    sort: Sort,
    after: Option<(i64, String)>,
    limit: usize,
) -> Result<(Vec<&'t AlertRec>, bool), &'static str> {
    if let [t] = tenants
        && sort == Sort::UPDATED_ASC
    {
        let from_filter = filter.updated_lower_bound();
        let mut start: std::ops::Bound<(i64, usize)> = match from_filter {
            Some((ns, true)) => std::ops::Bound::Included((ns, 0)),
            Some((ns, false)) => std::ops::Bound::Excluded((ns, usize::MAX)),
            None => std::ops::Bound::Unbounded,
        };
        if let Some((ns, id)) = after {
            let idx = *t.by_id.get(&id).ok_or("invalid after token")?;
            let pos = (ns, idx);
            let later = match start {
                std::ops::Bound::Unbounded => true,
                std::ops::Bound::Included(s) => pos >= s,
                std::ops::Bound::Excluded(s) => pos >= s,
            };
            if later {
                start = std::ops::Bound::Excluded(pos);
            }
        }
        let mut out = Vec::with_capacity(limit);
        let mut more = false;
        for (_, idx) in t.order.range((start, std::ops::Bound::Unbounded)) {
            let Some(r) = t.alerts.get(*idx) else {
                continue;
            };
            if !filter.matches(&t.cid, r) {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(r);
        }
        return Ok((out, more));
    }
    let all = sorted_matches(tenants, filter, sort);
    let begin = match after {
        None => 0,
        Some((key, id)) => {
            let past = |r: &&AlertRec| {
                let k = (sort.key(r), r.composite_id.as_str());
                if sort.desc {
                    k >= (key, id.as_str())
                } else {
                    k <= (key, id.as_str())
                }
            };
            all.iter().take_while(|r| past(r)).count()
        }
    };
    let page: Vec<&AlertRec> = all.iter().skip(begin).take(limit).copied().collect();
    let more = begin + page.len() < all.len();
    Ok((page, more))
}

fn sorted_matches<'t>(tenants: &[&'t Tenant], filter: &Filter, sort: Sort) -> Vec<&'t AlertRec> {
    let mut all: Vec<&AlertRec> = tenants
        .iter()
        .flat_map(|t| t.alerts.iter().filter(|r| filter.matches(&t.cid, r)))
        .collect();
    all.sort_by(|ra, rb| {
        let ka = (sort.key(ra), ra.composite_id.as_str());
        let kb = (sort.key(rb), rb.composite_id.as_str());
        if sort.desc { kb.cmp(&ka) } else { ka.cmp(&kb) }
    });
    all
}

/// An opaque, hex-encoded search-after position: `<sort>|<key>|<composite id>`.
fn encode_after(sort: &str, key: i64, id: &str) -> String {
    format!("v1|{sort}|{key}|{id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_after(token: &str) -> Option<(String, i64, String)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let rest = text.strip_prefix("v1|")?;
    // The sort itself holds a '|': "updated_timestamp|asc".
    let mut parts = rest.splitn(4, '|');
    let sort = format!("{}|{}", parts.next()?, parts.next()?);
    let key = parts.next()?.parse().ok()?;
    let id = parts.next()?.to_owned();
    Some((sort, key, id))
}

/// For ground truth: every current version of a tenant.
pub(crate) fn versions(t: &Tenant) -> Vec<(String, String)> {
    t.alerts
        .iter()
        .map(|r| (r.composite_id.clone(), fmt_nanos(r.updated_ns)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_tokens_round_trip() {
        let t = encode_after(
            "updated_timestamp|asc",
            1_700_000_000_123_456_789,
            "c:ind:a:1-2-3",
        );
        assert_eq!(
            decode_after(&t),
            Some((
                "updated_timestamp|asc".to_owned(),
                1_700_000_000_123_456_789,
                "c:ind:a:1-2-3".to_owned()
            ))
        );
        assert_eq!(decode_after("zz"), None);
        assert_eq!(decode_after("abc"), None);
    }
}
