//! A Microsoft Sentinel look-alike: the Entra ID v2 token endpoint and the ARM
//! `Microsoft.SecurityInsights` incident API, per Microsoft's REST reference
//! (`Incidents - List`, azure-rest-api-specs `specification/securityinsights`).
//!
//! One server answers both hosts, so point the connector's authority URL *and* management URL at
//! [`SentinelMock::uri`].
//!
//! # What it serves
//! - `POST /{tenant}/oauth2/v2.0/token`: form `grant_type=client_credentials`, `client_id`,
//!   `client_secret`, `scope=<arm>/.default` (accepted: [`SentinelMockConfig::accepted_scopes`]).
//!   The tenant may be the GUID or the domain. Errors are Entra's OAuth2 bodies with AADSTS codes
//!   (90002 unknown tenant, 700016 unknown app, 7000215 wrong secret, 1002012 / 500011 bad scope).
//!   Tokens live [`SentinelMockConfig::token_lifetime`]; there is no refresh token.
//! - `GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/
//!   workspaces/{ws}/providers/Microsoft.SecurityInsights/incidents?api-version=…`, path matched
//!   case-insensitively. Every api-version the SecurityInsights spec publishes `Incidents.json`
//!   under is served (stable 2020-01-01 … 2025-12-01, among them the SDK defaults 2021-10-01,
//!   2022-11-01, 2023-02-01, 2024-03-01, and the previews); any other gets ARM's 400
//!   `NoRegisteredProviderFound` ("No registered resource provider found for location … and API
//!   version … for type 'incidents'. The supported api-versions are '…'. The supported locations
//!   are '…'."). A missing one gets 400 `MissingApiVersionParameter`. `$filter` (`properties/lastModifiedTimeUtc|createdTimeUtc|incidentNumber|
//!   severity|status` with `eq ne gt ge lt le`, joined by `and`), `$orderby` (one of the first three,
//!   `asc|desc`), `$top` (default page 50; above 1000 → 400 CloudError) and `$skipToken`. Pages
//!   hold at most [`SentinelMockConfig::page_cap`] items. `nextLink` repeats the query *unescaped*
//!   (raw spaces in `$filter`) and adds an opaque `$skipToken` (keyset by default, an offset with
//!   [`SentinelMockConfig::offset_skip_tokens`]), as the real service does.
//! - `GET …/incidents/{name}` and `POST …/incidents/{name}/alerts` (`kind: SecurityAlert`).
//! - Every ARM answer carries `x-ms-request-id`, `x-ms-correlation-request-id` and
//!   `x-ms-ratelimit-remaining-subscription-reads`; every error is a CloudError
//!   `{"error":{"code","message"}}`. 401s for a missing, unknown or expired token.
//!
//! # Data
//! [`SentinelMockConfig::incidents`] seeded incidents (same seed, same data) with
//! `lastModifiedTimeUtc` spread over `[base_time, base_time + span]` in groups of three sharing one
//! time (ties across page boundaries), ARM's 7-digit fractional times, and every
//! [`SentinelMockConfig::odd_enum_every`]th incident carrying a severity or status outside the
//! documented lists (`Critical`, `Unknown`, `InProgress`, `Resolved`).
//!
//! # Changing data between pulls
//! [`SentinelMock::escalate`], [`SentinelMock::update`], [`SentinelMock::add_incidents`],
//! [`SentinelMock::add_incidents_to`] (any served workspace) and
//! [`SentinelMock::add_late_incidents`] (visible now, timestamped behind the newest incident).
//! New and changed incidents are stamped with the wall clock (strictly after the newest
//! timestamp handed out so far).
//!
//! # Faults
//! [`SentinelMock::throttle_next`] (429 + `Retry-After`), [`SentinelMock::fail_next`] (5xx),
//! [`SentinelMock::expire_tokens`] (the next data call gets 401 `ExpiredAuthenticationToken`),
//! [`SentinelMock::reject_next_tokens`], [`SentinelMock::fail_token_endpoint`] (503),
//! [`SentinelMock::set_client_secret`] (rotation), [`SentinelMock::set_remaining_reads`],
//! [`SentinelMock::damage_incident`] (one record unmappable), [`SentinelMock::garble_next_pages`]
//! (a whole page unreadable).
//!
//! # Ground truth
//! [`SentinelMock::versions`] (every current `(name, lastModifiedTimeUtc)`),
//! [`SentinelMock::history`] (every version that was ever current), [`SentinelMock::stats`].

mod query;
mod routes;
mod state;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

pub use state::{ListQuery, SentinelMockStats};

use routes::{Router, lock};
use state::State;

/// Seeded data, the credentials the mock accepts, and its limits.
#[derive(Debug, Clone)]
pub struct SentinelMockConfig {
    pub seed: u64,
    /// Incidents present at start.
    pub incidents: usize,
    /// `lastModifiedTimeUtc` of the first seeded incident. Default: two hours ago, so a default
    /// 24 h first-run window covers the data.
    pub base_time: DateTime<Utc>,
    /// The seeded incidents spread over this span after `base_time`. Default 1 h.
    pub span: Duration,
    pub tenant_id: String,
    /// A verified domain of the tenant, accepted in place of its GUID.
    pub tenant_domain: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
    /// Most incidents in one page whatever `$top` asks (1000, like the service).
    pub page_cap: usize,
    pub token_lifetime: Duration,
    /// Start value of `x-ms-ratelimit-remaining-subscription-reads`; each data call spends one.
    pub remaining_reads: u32,
    /// Every Nth incident gets an undocumented severity or status; 0 for none.
    pub odd_enum_every: usize,
    /// Scopes the token endpoint accepts (ARM's application ID URIs).
    pub accepted_scopes: Vec<String>,
    /// `$skipToken` counts the items already served instead of naming the last one. The facts do
    /// not say which the service uses; offsets shift when an incident moves between two pages,
    /// so a client that saves a `nextLink` for later can skip one.
    pub offset_skip_tokens: bool,
    /// Further Log Analytics workspaces this server answers for, as an MSSP's one app
    /// registration reaches its clients' workspaces under Azure Lighthouse (scale runs). Each
    /// holds its own `incidents` seeded incidents (seed + its position); tokens from the token
    /// endpoint work for all. The data-changing, fault and ground-truth methods act on the
    /// primary workspace only, except [`SentinelMock::add_incidents_to`].
    pub extra_workspaces: Vec<SentinelWorkspace>,
}

/// Where one Log Analytics workspace lives in ARM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelWorkspace {
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
}

impl Default for SentinelMockConfig {
    fn default() -> Self {
        SentinelMockConfig {
            seed: 1,
            incidents: 500,
            base_time: Utc::now() - chrono::Duration::hours(2),
            span: Duration::from_secs(3600),
            tenant_id: "3f2a6c1e-8b4d-4e7a-9c5f-1d2e3f4a5b6c".into(),
            tenant_domain: "contoso-mssp.onmicrosoft.com".into(),
            client_id: "0b8e9f4a-2c7d-4a1b-8e3f-5d6c7b8a9e0f".into(),
            client_secret: "mock~sentinel.Secret_0123456789".into(),
            subscription_id: "6b1ceb4f-3f0e-4b2c-9f7a-0a1b2c3d4e5f".into(),
            resource_group: "Acme-SOC".into(),
            workspace_name: "acme-sentinel".into(),
            page_cap: 1000,
            token_lifetime: Duration::from_secs(3599),
            remaining_reads: 11_999,
            odd_enum_every: 37,
            accepted_scopes: vec![
                "https://management.azure.com/.default".into(),
                "https://management.core.windows.net/.default".into(),
                "https://management.core.windows.net//.default".into(),
            ],
            offset_skip_tokens: false,
            extra_workspaces: Vec::new(),
        }
    }
}

/// How [`SentinelMock::damage_incident`] breaks an incident's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// `properties.lastModifiedTimeUtc` is missing.
    NoLastModified,
    /// `properties.lastModifiedTimeUtc` is not a time.
    BadLastModified,
    /// `properties.createdTimeUtc` is a number.
    BadCreated,
}

/// What an integration needs to reach the mock (both URLs are [`SentinelMock::uri`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
}

pub struct SentinelMock {
    server: MockServer,
    state: Arc<Mutex<State>>,
    extra: Arc<HashMap<String, Mutex<State>>>,
}

impl SentinelMock {
    /// On a random local port.
    pub async fn start(config: SentinelMockConfig) -> Self {
        Self::serve(MockServer::builder(), config).await
    }

    /// On a listener the caller bound (the standalone `seliq-mocks serve`).
    pub async fn start_on(listener: TcpListener, config: SentinelMockConfig) -> Self {
        Self::serve(MockServer::builder().listener(listener), config).await
    }

    async fn serve(builder: wiremock::MockServerBuilder, config: SentinelMockConfig) -> Self {
        let extra: HashMap<String, Mutex<State>> = config
            .extra_workspaces
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let cfg = SentinelMockConfig {
                    seed: config.seed.wrapping_add(i as u64 + 1),
                    subscription_id: w.subscription_id.clone(),
                    resource_group: w.resource_group.clone(),
                    workspace_name: w.workspace_name.clone(),
                    extra_workspaces: Vec::new(),
                    ..config.clone()
                };
                let key =
                    routes::workspace_key(&w.subscription_id, &w.resource_group, &w.workspace_name);
                (key, Mutex::new(State::new(cfg)))
            })
            .collect();
        let state = Arc::new(Mutex::new(State::new(config)));
        let extra = Arc::new(extra);
        // Request recording would keep every page ever served in memory.
        let server = builder.disable_request_recording().start().await;
        Mock::given(any())
            .respond_with(Router {
                state: Arc::clone(&state),
                extra: Arc::clone(&extra),
            })
            .mount(&server)
            .await;
        SentinelMock {
            server,
            state,
            extra,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The login host to configure (`--authority-url`).
    pub fn authority_url(&self) -> String {
        self.uri()
    }

    /// The ARM host to configure (`--management-url`).
    pub fn management_url(&self) -> String {
        self.uri()
    }

    pub fn credentials(&self) -> SentinelCredentials {
        let st = lock(&self.state);
        SentinelCredentials {
            tenant_id: st.cfg.tenant_id.clone(),
            client_id: st.cfg.client_id.clone(),
            client_secret: st.cfg.client_secret.clone(),
            subscription_id: st.cfg.subscription_id.clone(),
            resource_group: st.cfg.resource_group.clone(),
            workspace_name: st.cfg.workspace_name.clone(),
        }
    }

    // ------------------------------------------------------------ data changes

    /// Raise the severity of `n` distinct incidents one step (Informational → Low → Medium →
    /// High; High ones go New → Active instead). Each gets a new `lastModifiedTimeUtc`. Returns
    /// their names.
    pub fn escalate(&self, n: usize) -> Vec<String> {
        let mut st = lock(&self.state);
        let total = st.incidents.len();
        let mut chosen: Vec<usize> = Vec::new();
        let mut attempts = 0;
        while chosen.len() < n.min(total) && attempts < 100 * (n + 1) {
            attempts += 1;
            let idx = usize::try_from(st.pick(total as u64)).unwrap_or(0);
            if !chosen.contains(&idx) {
                chosen.push(idx);
            }
        }
        let mut names = Vec::with_capacity(chosen.len());
        for idx in chosen {
            st.modify(idx, |i| {
                let next = match i.severity.as_str() {
                    "Informational" => Some("Low"),
                    "Low" => Some("Medium"),
                    "Medium" => Some("High"),
                    _ => None,
                };
                match next {
                    Some(s) => i.severity = s.to_owned(),
                    None => {
                        i.severity = "High".to_owned();
                        i.status = "Active".to_owned();
                    }
                }
            });
            names.push(st.incidents[idx].name.clone());
        }
        names
    }

    /// Change one incident (by `name`, any case). False when there is no such incident.
    pub fn update(&self, name: &str, severity: Option<&str>, status: Option<&str>) -> bool {
        let mut st = lock(&self.state);
        let Some(idx) = st
            .incidents
            .iter()
            .position(|i| i.name.eq_ignore_ascii_case(name))
        else {
            return false;
        };
        st.modify(idx, |i| {
            if let Some(s) = severity {
                i.severity = s.to_owned();
            }
            if let Some(s) = status {
                i.status = s.to_owned();
            }
        });
        true
    }

    /// New incidents, created and modified now.
    pub fn add_incidents(&self, n: usize) -> Vec<String> {
        let mut st = lock(&self.state);
        (0..n)
            .map(|_| {
                let t = st.now();
                st.insert_new(t, t)
            })
            .collect()
    }

    /// New incidents in one served workspace (the primary or one of
    /// [`SentinelMockConfig::extra_workspaces`], names compared as ARM does, ignoring case),
    /// created and modified now. `None` when this server does not serve that workspace.
    pub fn add_incidents_to(&self, workspace: &SentinelWorkspace, n: usize) -> Option<Vec<String>> {
        let key = routes::workspace_key(
            &workspace.subscription_id,
            &workspace.resource_group,
            &workspace.workspace_name,
        );
        let add = |st: &mut State| -> Vec<String> {
            (0..n)
                .map(|_| {
                    let t = st.now();
                    st.insert_new(t, t)
                })
                .collect()
        };
        if let Some(other) = self.extra.get(&key) {
            return Some(add(&mut lock(other)));
        }
        let mut st = lock(&self.state);
        let primary = routes::workspace_key(
            &st.cfg.subscription_id,
            &st.cfg.resource_group,
            &st.cfg.workspace_name,
        );
        (primary == key).then(|| add(&mut st))
    }

    /// Incidents that become visible only now but are timestamped `age` before the newest
    /// `lastModifiedTimeUtc` in the data (replication lag): a connector without a look-back of at
    /// least `age` misses them.
    pub fn add_late_incidents(&self, n: usize, age: Duration) -> Vec<String> {
        let mut st = lock(&self.state);
        let newest = st.newest_modified().unwrap_or(st.cfg.base_time);
        let at = newest - state::duration_of(age);
        (0..n).map(|_| st.insert_new(at, at)).collect()
    }

    // ------------------------------------------------------------ faults

    /// The next `times` data calls get 429 `TooManyRequests` with `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, times: u32, retry_after_secs: u64) {
        let mut st = lock(&self.state);
        st.faults.throttle = times;
        st.faults.throttle_retry_after = retry_after_secs;
    }

    /// The next `times` data calls get `status` (500, 502, 503 or 504) with a CloudError.
    pub fn fail_next(&self, times: u32, status: u16) {
        let mut st = lock(&self.state);
        st.faults.server_errors = times;
        st.faults.server_error_status = status;
    }

    /// Every token issued so far expires now: the next data call gets 401.
    pub fn expire_tokens(&self) {
        let mut st = lock(&self.state);
        let past = Utc::now() - chrono::Duration::seconds(1);
        for exp in st.tokens.values_mut() {
            *exp = past;
        }
    }

    /// The next `times` data calls get 401 `ExpiredAuthenticationToken` whatever token they carry.
    pub fn reject_next_tokens(&self, times: u32) {
        lock(&self.state).faults.unauthorized = times;
    }

    /// The next `times` token requests get 503 `temporarily_unavailable`.
    pub fn fail_token_endpoint(&self, times: u32) {
        lock(&self.state).faults.token_endpoint_errors = times;
    }

    /// Rotate the accepted client secret (tokens already issued stay valid).
    pub fn set_client_secret(&self, secret: &str) {
        lock(&self.state).cfg.client_secret = secret.to_owned();
    }

    /// Set `x-ms-ratelimit-remaining-subscription-reads` for the next answers.
    pub fn set_remaining_reads(&self, remaining: u32) {
        lock(&self.state).remaining_reads = remaining;
    }

    /// Damage the JSON served for one incident (by `name`, any case) without moving it: the
    /// service still filters and orders it by its real `lastModifiedTimeUtc`, but the record the
    /// client receives lacks the field or carries a bad value (a partial projection or a buggy
    /// export, as seen from proxies and older API versions). Any later change to the incident
    /// renders it whole again. False when there is no such incident.
    pub fn damage_incident(&self, name: &str, damage: Damage) -> bool {
        let mut st = lock(&self.state);
        let Some(inc) = st
            .incidents
            .iter_mut()
            .find(|i| i.name.eq_ignore_ascii_case(name))
        else {
            return false;
        };
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&inc.json) else {
            return false;
        };
        let props = &mut v["properties"];
        match damage {
            Damage::NoLastModified => {
                if let Some(p) = props.as_object_mut() {
                    p.remove("lastModifiedTimeUtc");
                }
            }
            Damage::BadLastModified => {
                props["lastModifiedTimeUtc"] = serde_json::json!("yesterday-ish");
            }
            Damage::BadCreated => props["createdTimeUtc"] = serde_json::json!(17),
        }
        inc.json = v.to_string();
        true
    }

    /// The next `times` incident-list answers are 200 with a body cut off mid-JSON (a proxy
    /// that drops the connection's tail): the whole page is unreadable.
    pub fn garble_next_pages(&self, times: u32) {
        lock(&self.state).faults.garbled_pages = times;
    }

    // ------------------------------------------------------------ ground truth

    /// Every incident's current `(name, lastModifiedTimeUtc)`, the time as served.
    pub fn versions(&self) -> Vec<(String, String)> {
        let st = lock(&self.state);
        st.incidents
            .iter()
            .map(|i| (i.name.clone(), state::arm_time(i.modified)))
            .collect()
    }

    /// Every `(name, lastModifiedTimeUtc)` that was ever current, in order of appearance.
    pub fn history(&self) -> Vec<(String, String)> {
        lock(&self.state).history.clone()
    }

    pub fn incident_count(&self) -> usize {
        lock(&self.state).incidents.len()
    }

    /// The newest `lastModifiedTimeUtc` in the data, as served.
    pub fn newest_modified(&self) -> Option<String> {
        lock(&self.state).newest_modified().map(state::arm_time)
    }

    pub fn stats(&self) -> SentinelMockStats {
        lock(&self.state).stats.clone()
    }

    /// Incident list and alert calls each workspace answered, `(workspace name, calls)`, the
    /// primary first: a per-client request count for scale runs with [`SentinelMockConfig::extra_workspaces`].
    pub fn workspace_requests(&self) -> Vec<(String, u64)> {
        let calls = |st: &State| {
            (
                st.cfg.workspace_name.clone(),
                st.stats.list_requests + st.stats.alert_requests,
            )
        };
        let mut out = vec![calls(&lock(&self.state))];
        out.extend(self.extra.values().map(|m| calls(&lock(m))));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One HTTP/1.1 exchange on a fresh connection: `(status, body)`.
    fn exchange(base: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let host = base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(host).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap();
        (status, body)
    }

    #[tokio::test]
    async fn extra_workspaces_serve_their_own_incidents_to_the_shared_token() {
        let extra = SentinelWorkspace {
            subscription_id: "11111111-2222-4333-8444-555555555555".into(),
            resource_group: "Client-0002-SOC".into(),
            workspace_name: "client-0002-sentinel".into(),
        };
        let mock = SentinelMock::start(SentinelMockConfig {
            incidents: 4,
            extra_workspaces: vec![extra.clone()],
            ..SentinelMockConfig::default()
        })
        .await;
        let base = mock.uri();
        let c = mock.credentials();
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
            c.client_id, c.client_secret
        );
        let (status, body) = tokio::task::spawn_blocking(move || {
            exchange(
                &base,
                "POST",
                &format!("/{}/oauth2/v2.0/token", c.tenant_id),
                "Content-Type: application/x-www-form-urlencoded\r\n",
                &form,
            )
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let token: serde_json::Value = serde_json::from_str(&body).unwrap();
        let auth = format!(
            "Authorization: Bearer {}\r\n",
            token["access_token"].as_str().unwrap()
        );
        let list = |sub: &str, rg: &str, ws: &str| {
            format!(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}/providers/Microsoft.SecurityInsights/incidents?api-version=2025-09-01"
            )
        };
        let (base, a) = (mock.uri(), auth.clone());
        let path = list(
            &extra.subscription_id,
            "client-0002-soc",
            &extra.workspace_name,
        );
        let (status, body) =
            tokio::task::spawn_blocking(move || exchange(&base, "GET", &path, &a, ""))
                .await
                .unwrap();
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let items = page["value"].as_array().unwrap();
        assert_eq!(items.len(), 4);
        assert!(items.iter().all(|i| {
            i["id"]
                .as_str()
                .unwrap()
                .contains("/workspaces/client-0002-sentinel/")
        }));
        let (base, a) = (mock.uri(), auth);
        let path = list(
            &extra.subscription_id,
            "client-0002-soc",
            "client-0003-sentinel",
        );
        let (status, _) =
            tokio::task::spawn_blocking(move || exchange(&base, "GET", &path, &a, ""))
                .await
                .unwrap();
        assert_eq!(status, 404);
        let calls: HashMap<String, u64> = mock.workspace_requests().into_iter().collect();
        assert_eq!(calls["client-0002-sentinel"], 1);
        assert_eq!(calls["acme-sentinel"], 0);
    }

    #[tokio::test]
    async fn sdk_default_api_versions_are_served_and_an_unknown_one_gets_arms_answer() {
        let mock = SentinelMock::start(SentinelMockConfig {
            incidents: 3,
            ..SentinelMockConfig::default()
        })
        .await;
        let c = mock.credentials();
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
            c.client_id, c.client_secret
        );
        let (base, tenant) = (mock.uri(), c.tenant_id.clone());
        let (status, body) = tokio::task::spawn_blocking(move || {
            exchange(
                &base,
                "POST",
                &format!("/{tenant}/oauth2/v2.0/token"),
                "Content-Type: application/x-www-form-urlencoded\r\n",
                &form,
            )
        })
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let token: serde_json::Value = serde_json::from_str(&body).unwrap();
        let auth = format!(
            "Authorization: Bearer {}\r\n",
            token["access_token"].as_str().unwrap()
        );
        let get = |version: &str| {
            let path = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/incidents?api-version={version}",
                c.subscription_id, c.resource_group, c.workspace_name
            );
            let (base, a) = (mock.uri(), auth.clone());
            tokio::task::spawn_blocking(move || exchange(&base, "GET", &path, &a, ""))
        };
        // azure-mgmt-securityinsight 1.0.0 (2021-10-01), later SDKs and the spec's default tag.
        for v in [
            "2021-10-01",
            "2022-11-01",
            "2023-02-01",
            "2024-03-01",
            "2025-06-01",
            "2025-12-01",
        ] {
            let (status, body) = get(v).await.unwrap();
            assert_eq!(status, 200, "{v}: {body}");
            let page: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(page["value"].as_array().unwrap().len(), 3, "{v}");
        }
        let (status, body) = get("2021-10-02").await.unwrap();
        assert_eq!(status, 400, "{body}");
        let err: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(err["error"]["code"], "NoRegisteredProviderFound");
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(
                "No registered resource provider found for location 'westeurope' and API version '2021-10-02' for type 'incidents'. The supported api-versions are '2025-12-01, 2025-09-01, "
            ),
            "{msg}"
        );
        assert!(msg.contains(", 2021-10-01, "), "{msg}");
        assert!(
            msg.contains("The supported locations are 'West Europe, "),
            "{msg}"
        );
        assert_eq!(
            err.as_object().unwrap().len(),
            1,
            "only the CloudError: {err}"
        );
    }

    #[tokio::test]
    async fn incidents_can_be_added_to_any_served_workspace_created_now() {
        let extra = SentinelWorkspace {
            subscription_id: "11111111-2222-4333-8444-555555555555".into(),
            resource_group: "Client-0002-SOC".into(),
            workspace_name: "client-0002-sentinel".into(),
        };
        let mock = SentinelMock::start(SentinelMockConfig {
            incidents: 2,
            extra_workspaces: vec![extra.clone()],
            ..SentinelMockConfig::default()
        })
        .await;
        let before = Utc::now() - chrono::Duration::milliseconds(1);
        let names = mock
            .add_incidents_to(
                &SentinelWorkspace {
                    resource_group: "client-0002-soc".into(),
                    ..extra.clone()
                },
                2,
            )
            .unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(mock.incident_count(), 2, "the primary is untouched");
        {
            let key = routes::workspace_key(
                &extra.subscription_id,
                &extra.resource_group,
                &extra.workspace_name,
            );
            let st = lock(&mock.extra[&key]);
            assert_eq!(st.incidents.len(), 4);
            for name in &names {
                let inc = &st.incidents[st.by_name[name]];
                assert_eq!(inc.created, inc.modified);
                assert!(inc.modified >= before && inc.modified <= Utc::now());
                let doc: serde_json::Value = serde_json::from_str(&inc.json).unwrap();
                assert_eq!(
                    doc["properties"]["createdTimeUtc"],
                    doc["properties"]["lastModifiedTimeUtc"]
                );
            }
        }
        let c = mock.credentials();
        let primary = SentinelWorkspace {
            subscription_id: c.subscription_id,
            resource_group: c.resource_group,
            workspace_name: c.workspace_name,
        };
        assert_eq!(mock.add_incidents_to(&primary, 1).map(|n| n.len()), Some(1));
        assert_eq!(mock.incident_count(), 3);
        let elsewhere = SentinelWorkspace {
            workspace_name: "client-0003-sentinel".into(),
            ..extra
        };
        assert_eq!(mock.add_incidents_to(&elsewhere, 1), None);
    }

    #[test]
    fn same_seed_same_data() {
        let cfg = SentinelMockConfig {
            incidents: 20,
            ..SentinelMockConfig::default()
        };
        let a = State::new(cfg.clone());
        let b = State::new(cfg);
        let ja: Vec<&str> = a.incidents.iter().map(|i| i.json.as_str()).collect();
        let jb: Vec<&str> = b.incidents.iter().map(|i| i.json.as_str()).collect();
        assert_eq!(ja, jb);
        assert_eq!(a.incidents[0].modified, a.incidents[2].modified);
        assert_ne!(a.incidents[2].modified, a.incidents[3].modified);
    }
}
