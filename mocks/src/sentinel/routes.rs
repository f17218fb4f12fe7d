//! Request handling: the Entra ID v2 token endpoint and the ARM SecurityInsights incident paths.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

use super::query::{Field, Filter, Order, offset_token, parse_offset_token};
use super::state::{ListQuery, State};

/// The api-versions ARM serves `Microsoft.SecurityInsights/incidents` under: every stable and
/// preview tag of the SecurityInsights spec that carries `Incidents.json` (azure-rest-api-specs,
/// `specification/securityinsights/resource-manager/readme.md`; the stable ones are the tags
/// below without `-preview`). SDK defaults among them: azure-mgmt-securityinsight 1.0.0 sends 2021-10-01;
/// XSOAR and Elastic send 2024-03-01. Newest first, as ARM lists them.
pub(crate) const API_VERSIONS: &[&str] = &[
    "2025-12-01",
    "2025-09-01",
    "2025-07-01-preview",
    "2025-06-01",
    "2025-04-01-preview",
    "2025-03-01",
    "2025-01-01-preview",
    "2024-10-01-preview",
    "2024-09-01",
    "2024-04-01-preview",
    "2024-03-01",
    "2024-01-01-preview",
    "2023-12-01-preview",
    "2023-11-01",
    "2023-10-01-preview",
    "2023-09-01-preview",
    "2023-08-01-preview",
    "2023-07-01-preview",
    "2023-06-01-preview",
    "2023-05-01-preview",
    "2023-04-01-preview",
    "2023-03-01-preview",
    "2023-02-01-preview",
    "2023-02-01",
    "2022-12-01-preview",
    "2022-11-01-preview",
    "2022-11-01",
    "2022-10-01-preview",
    "2022-09-01-preview",
    "2022-08-01-preview",
    "2022-08-01",
    "2022-07-01-preview",
    "2022-06-01-preview",
    "2022-05-01-preview",
    "2022-04-01-preview",
    "2022-01-01-preview",
    "2021-10-01-preview",
    "2021-10-01",
    "2021-09-01-preview",
    "2021-04-01",
    "2021-03-01-preview",
    "2020-01-01",
    "2019-01-01-preview",
];

/// Where ARM says the mock's workspaces live (the `x-ms-routing-request-id` region too).
const LOCATION: &str = "westeurope";

/// The regions ARM lists for `Microsoft.SecurityInsights` in a NoRegisteredProviderFound answer
/// (a shortened list: the real one names every public region).
const LOCATIONS: &[&str] = &[
    "West Europe",
    "North Europe",
    "East US",
    "East US 2",
    "West US 2",
    "UK South",
    "Australia East",
    "Japan East",
];

const DEFAULT_PAGE: usize = 50;
const MAX_TOP: usize = 1000;
const JSON: &str = "application/json; charset=utf-8";

pub(crate) struct Router {
    pub state: Arc<Mutex<State>>,
    /// Further workspaces by lowercase `<subscription>/<resource group>/<workspace>`; tokens come
    /// from `state`'s token endpoint (one app registration reaches them all).
    pub extra: Arc<HashMap<String, Mutex<State>>>,
}

pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Respond for Router {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = lock(&self.state);
        st.request_seq += 1;
        let path = percent_decode(req.url.path());
        let lower = path.to_ascii_lowercase();
        if lower.ends_with("/oauth2/v2.0/token") {
            let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
            return token(&mut st, req, tenant);
        }
        if lower.starts_with("/subscriptions/") {
            if let Some(other) = extra_workspace(&self.extra, &lower) {
                let mut other = lock(other);
                // The token endpoint is the primary's; a token it issued works here too.
                if let Some(token) = bearer_token(req)
                    && let Some(expires) = st.tokens.get(token).copied()
                {
                    other.tokens.insert(token.to_owned(), expires);
                }
                drop(st);
                other.request_seq += 1;
                return arm(&mut other, req, &path);
            }
            return arm(&mut st, req, &path);
        }
        ResponseTemplate::new(404).set_body_raw(
            cloud_error("NotFound", &format!("No route for {} {}", req.method, path)),
            JSON,
        )
    }
}

/// The extra workspace a `/subscriptions/…` path (lowercased) names, if any.
fn extra_workspace<'a>(
    extra: &'a HashMap<String, Mutex<State>>,
    lower: &str,
) -> Option<&'a Mutex<State>> {
    if extra.is_empty() {
        return None;
    }
    let seg: Vec<&str> = lower.trim_matches('/').split('/').collect();
    let key = format!("{}/{}/{}", seg.get(1)?, seg.get(3)?, seg.get(7)?);
    extra.get(&key)
}

pub(crate) fn workspace_key(subscription: &str, resource_group: &str, workspace: &str) -> String {
    format!("{subscription}/{resource_group}/{workspace}").to_ascii_lowercase()
}

fn bearer_token(req: &Request) -> Option<&str> {
    let header = req.headers.get("authorization")?.to_str().ok()?;
    header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .map(|_| header[7..].trim())
}

// ---------------------------------------------------------------- token endpoint

fn token(st: &mut State, req: &Request, tenant: &str) -> ResponseTemplate {
    st.stats.token_requests += 1;
    if st.faults.token_endpoint_errors > 0 {
        st.faults.token_endpoint_errors -= 1;
        return aad_error(
            st,
            503,
            "temporarily_unavailable",
            50196,
            "The server is temporarily unavailable. Please try again later.",
        );
    }
    if req.method.as_str() != "POST" {
        return aad_error(
            st,
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let form_type = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let known_tenant = tenant.eq_ignore_ascii_case(&st.cfg.tenant_id)
        || tenant.eq_ignore_ascii_case(&st.cfg.tenant_domain);
    if !known_tenant {
        let msg = format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        );
        return aad_error(st, 400, "invalid_request", 90002, &msg);
    }
    if !form_type || !form.contains_key("grant_type") {
        return aad_error(
            st,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant != "client_credentials" {
        let msg = format!(
            "The provided value for the input parameter 'grant_type' is not valid. Expected values are the following: client_credentials. Got '{grant}'."
        );
        return aad_error(st, 400, "unsupported_grant_type", 70003, &msg);
    }
    let Some(client_id) = form.get("client_id") else {
        return aad_error(
            st,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if !client_id.eq_ignore_ascii_case(&st.cfg.client_id) {
        let msg = format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
        );
        return aad_error(st, 400, "unauthorized_client", 700016, &msg);
    }
    let Some(secret) = form.get("client_secret") else {
        return aad_error(
            st,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    };
    if secret != &st.cfg.client_secret {
        let msg = format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
            st.cfg.client_id
        );
        return aad_error(st, 401, "invalid_client", 7000215, &msg);
    }
    let scope = form.get("scope").map(String::as_str).unwrap_or("");
    if scope.is_empty() {
        return aad_error(
            st,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    if !scope.ends_with("/.default") {
        let msg = format!(
            "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        );
        return aad_error(st, 400, "invalid_scope", 1002012, &msg);
    }
    if !st
        .cfg
        .accepted_scopes
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scope))
    {
        let resource = scope.trim_end_matches("/.default");
        let msg = format!(
            "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
        );
        return aad_error(st, 400, "invalid_resource", 500011, &msg);
    }
    let token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}.{:016x}",
        st.guid().replace('-', ""),
        st.request_seq
    );
    let lifetime = st.cfg.token_lifetime.as_secs();
    let expires = Utc::now() + chrono::Duration::seconds(i64::try_from(lifetime).unwrap_or(3599));
    st.tokens.insert(token.clone(), expires);
    st.stats.tokens_issued += 1;
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    ResponseTemplate::new(200)
        .insert_header("x-ms-request-id", st.guid())
        .insert_header("cache-control", "no-store, no-cache")
        .set_body_raw(body.to_string(), JSON)
}

/// Entra ID's OAuth2 error body.
fn aad_error(
    st: &mut State,
    status: u16,
    error: &str,
    code: u32,
    message: &str,
) -> ResponseTemplate {
    if status == 400 || status == 405 {
        st.stats.bad_requests += 1;
    }
    let trace = st.guid();
    let correlation = st.guid();
    let now = Utc::now().format("%Y-%m-%d %H:%M:%SZ");
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now.to_string(),
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    ResponseTemplate::new(status)
        .insert_header("x-ms-request-id", trace)
        .set_body_raw(body.to_string(), JSON)
}

// ---------------------------------------------------------------- ARM

fn arm(st: &mut State, req: &Request, path: &str) -> ResponseTemplate {
    if let Some(refused) = authenticate(st, req) {
        return refused;
    }
    if st.faults.throttle > 0 {
        st.faults.throttle -= 1;
        st.stats.throttled += 1;
        return arm_response(st, 429, cloud_error(
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits",
        ))
        .insert_header("retry-after", st.faults.throttle_retry_after.to_string());
    }
    if st.faults.server_errors > 0 {
        st.faults.server_errors -= 1;
        st.stats.server_errors += 1;
        let status = st.faults.server_error_status;
        let (code, msg) = match status {
            502 => (
                "BadGateway",
                "The gateway did not receive a response from 'Microsoft.SecurityInsights' within the specified time period.",
            ),
            503 => (
                "ServiceUnavailable",
                "The service is currently unavailable. Please try again later.",
            ),
            504 => (
                "GatewayTimeout",
                "The gateway did not receive a response from 'Microsoft.SecurityInsights' within the specified time period.",
            ),
            _ => (
                "InternalServerError",
                "Encountered internal server error. Diagnostic information: timestamp '', subscription id '', tracking id '', request correlation id ''.",
            ),
        };
        return arm_response(st, status, cloud_error(code, msg));
    }
    let query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let Some(api_version) = param("api-version") else {
        return bad_request(
            st,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    if !API_VERSIONS.contains(&api_version.as_str()) {
        return bad_request(
            st,
            "NoRegisteredProviderFound",
            &unsupported_api_version(&api_version),
        );
    }

    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let cfg = &st.cfg;
    if lower.get(1) != Some(&cfg.subscription_id.to_ascii_lowercase()) {
        let msg = format!(
            "The subscription '{}' could not be found.",
            segments.get(1).unwrap_or(&"")
        );
        return not_found(st, "SubscriptionNotFound", &msg);
    }
    let shape_ok = lower.len() >= 11
        && lower[2] == "resourcegroups"
        && lower[4] == "providers"
        && lower[5] == "microsoft.operationalinsights"
        && lower[6] == "workspaces"
        && lower[8] == "providers"
        && lower[9] == "microsoft.securityinsights"
        && lower[10] == "incidents";
    if !shape_ok {
        return not_found(
            st,
            "InvalidResourceType",
            "The resource type could not be found.",
        );
    }
    if lower[3] != cfg.resource_group.to_ascii_lowercase() {
        let msg = format!("Resource group '{}' could not be found.", segments[3]);
        return not_found(st, "ResourceGroupNotFound", &msg);
    }
    if lower[7] != cfg.workspace_name.to_ascii_lowercase() {
        let msg = format!(
            "The Resource 'Microsoft.OperationalInsights/workspaces/{}' under resource group '{}' was not found.",
            segments[7], segments[3]
        );
        return not_found(st, "ResourceNotFound", &msg);
    }
    let method = req.method.as_str();
    match (method, &lower[11..]) {
        ("GET", []) => list(st, req, &api_version, &query),
        ("GET", [_]) => get_one(st, segments[11]),
        ("POST", [_, alerts]) if alerts == "alerts" => incident_alerts(st, segments[11]),
        _ => arm_response(
            st,
            405,
            cloud_error(
                "MethodNotAllowed",
                &format!("The requested method {method} is not allowed for this resource."),
            ),
        ),
    }
}

fn authenticate(st: &mut State, req: &Request) -> Option<ResponseTemplate> {
    let header = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bearer = header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .map(|_| header[7..].trim());
    let (code, message) = if st.faults.unauthorized > 0 {
        st.faults.unauthorized -= 1;
        (
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.".to_owned(),
        )
    } else {
        match bearer {
            None => (
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.".to_owned(),
            ),
            Some(t) => match st.tokens.get(t) {
                None => (
                    "InvalidAuthenticationToken",
                    "The access token is invalid.".to_owned(),
                ),
                Some(exp) if *exp <= Utc::now() => (
                    "ExpiredAuthenticationToken",
                    format!(
                        "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                        exp.format("%-m/%-d/%Y %-I:%M:%S %p"),
                        Utc::now().format("%-m/%-d/%Y %-I:%M:%S %p")
                    ),
                ),
                Some(_) => return None,
            },
        }
    };
    st.stats.unauthorized += 1;
    Some(
        arm_response(st, 401, cloud_error(code, &message)).insert_header(
            "www-authenticate",
            format!(
                "Bearer authorization_uri=\"https://login.windows.net/{}\", error=\"invalid_token\", error_description=\"{message}\"",
                st.cfg.tenant_id
            ),
        ),
    )
}

fn list(
    st: &mut State,
    req: &Request,
    api_version: &str,
    query: &[(String, String)],
) -> ResponseTemplate {
    st.stats.list_requests += 1;
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (filter_raw, orderby_raw, top_raw, token) = (
        param("$filter"),
        param("$orderby"),
        param("$top"),
        param("$skipToken"),
    );
    if st.stats.list_queries.len() >= 1000 {
        st.stats.list_queries.remove(0);
    }
    st.stats.list_queries.push(ListQuery {
        api_version: Some(api_version.to_owned()),
        filter: filter_raw.clone(),
        orderby: orderby_raw.clone(),
        top: top_raw.clone(),
        skip_token: token.is_some(),
    });

    let top = match top_raw.as_deref().map(str::trim) {
        None => DEFAULT_PAGE,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => n,
            Ok(_) => {
                return bad_request(
                    st,
                    "BadRequest",
                    &format!("The value of $top must be between 1 and {MAX_TOP}, got {t}."),
                );
            }
            Err(_) => {
                return bad_request(
                    st,
                    "BadRequest",
                    &format!("The query parameter '$top' has an invalid value '{t}'."),
                );
            }
        },
    };
    let filter = match filter_raw.as_deref().map(Filter::parse).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => return bad_request(st, "BadRequest", &format!("Invalid $filter: {e}")),
    };
    let order = match Order::parse(orderby_raw.as_deref()) {
        Ok(o) => o,
        Err(e) => return bad_request(st, "BadRequest", &e),
    };
    let offset_style = st.cfg.offset_skip_tokens;
    let (after, skip) = match token.as_deref() {
        None => (None, 0),
        Some(t) if offset_style => match parse_offset_token(t) {
            Ok(n) => (None, n),
            Err(e) => return bad_request(st, "BadRequest", &e),
        },
        Some(t) => match order.parse_token(t) {
            Ok(k) => (Some(k), 0),
            Err(e) => return bad_request(st, "BadRequest", &e),
        },
    };
    let page = top.min(st.cfg.page_cap.max(1));

    let mut picked: Vec<usize> = Vec::with_capacity(page + 1);
    if order.field == Some(Field::LastModified) && !order.descending {
        // Range scan from the later of the filter's floor and the continuation point.
        let start: Bound<(DateTime<Utc>, String)> = match &after {
            Some((k, name)) => match time_of(*k) {
                Some(t) => Bound::Excluded((t, name.clone())),
                None => Bound::Unbounded,
            },
            None => match filter.modified_floor() {
                Some(t) => Bound::Included((t, String::new())),
                None => Bound::Unbounded,
            },
        };
        let mut to_skip = skip;
        for (_, name) in st.by_modified.range((start, Bound::Unbounded)) {
            let Some(&idx) = st.by_name.get(name) else {
                continue;
            };
            if filter.matches(&st.incidents[idx]) {
                if to_skip > 0 {
                    to_skip -= 1;
                    continue;
                }
                picked.push(idx);
                if picked.len() > page {
                    break;
                }
            }
        }
    } else {
        let mut all: Vec<((i128, String), usize)> = st
            .incidents
            .iter()
            .enumerate()
            .filter(|(_, i)| filter.matches(i))
            .map(|(idx, i)| (order.key(i), idx))
            .collect();
        all.sort();
        if order.descending {
            all.reverse();
        }
        picked = all
            .into_iter()
            .filter(|(k, _)| match &after {
                None => true,
                Some(a) if order.descending => k < a,
                Some(a) => k > a,
            })
            .skip(skip)
            .take(page + 1)
            .map(|(_, idx)| idx)
            .collect();
    }

    let more = picked.len() > page;
    picked.truncate(page);
    let mut body = String::with_capacity(
        64 + picked
            .iter()
            .map(|i| st.incidents[*i].json.len() + 1)
            .sum::<usize>(),
    );
    body.push_str("{\"value\":[");
    for (n, idx) in picked.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&st.incidents[*idx].json);
    }
    body.push(']');
    if let (true, Some(last)) = (more, picked.last()) {
        let key = order.key(&st.incidents[*last]);
        // As the real service does: the query string goes back unescaped, raw spaces and all.
        let mut link = format!(
            "{}{}?api-version={api_version}",
            origin(req),
            req.url.path()
        );
        for (k, v) in [
            ("$filter", &filter_raw),
            ("$orderby", &orderby_raw),
            ("$top", &top_raw),
        ] {
            if let Some(v) = v {
                link.push_str(&format!("&{k}={v}"));
            }
        }
        link.push_str("&$skipToken=");
        if offset_style {
            link.push_str(&offset_token(skip + picked.len()));
        } else {
            link.push_str(&order.token(&key));
        }
        body.push_str(",\"nextLink\":");
        body.push_str(&serde_json::Value::String(link).to_string());
    }
    body.push('}');
    if st.faults.garbled_pages > 0 {
        st.faults.garbled_pages -= 1;
        let mut cut = body.len() / 2;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    arm_response(st, 200, body)
}

fn get_one(st: &mut State, name: &str) -> ResponseTemplate {
    let found = st
        .incidents
        .iter()
        .find(|i| i.name.eq_ignore_ascii_case(name))
        .map(|i| i.json.clone());
    match found {
        Some(json) => arm_response(st, 200, json),
        None => not_found(st, "NotFound", &format!("Incident {name} was not found.")),
    }
}

fn incident_alerts(st: &mut State, name: &str) -> ResponseTemplate {
    st.stats.alert_requests += 1;
    let body = st
        .incidents
        .iter()
        .find(|i| i.name.eq_ignore_ascii_case(name))
        .map(|i| st.alerts_json(i));
    match body {
        Some(b) => arm_response(st, 200, b),
        None => not_found(st, "NotFound", &format!("Incident {name} was not found.")),
    }
}

/// The response with ARM's usual headers; every data call spends one read of the quota.
fn arm_response(st: &mut State, status: u16, body: String) -> ResponseTemplate {
    st.remaining_reads = st.remaining_reads.saturating_sub(1);
    let remaining = if status == 429 { 0 } else { st.remaining_reads };
    let request_id = st.guid();
    let correlation = st.guid();
    ResponseTemplate::new(status)
        .insert_header("x-ms-request-id", request_id.as_str())
        .insert_header("x-ms-correlation-request-id", correlation)
        .insert_header(
            "x-ms-routing-request-id",
            format!(
                "WESTEUROPE:{}:{request_id}",
                Utc::now().format("%Y%m%dT%H%M%SZ")
            ),
        )
        .insert_header(
            "x-ms-ratelimit-remaining-subscription-reads",
            remaining.to_string(),
        )
        .insert_header("cache-control", "no-cache")
        .set_body_raw(body, JSON)
}

fn bad_request(st: &mut State, code: &str, message: &str) -> ResponseTemplate {
    st.stats.bad_requests += 1;
    arm_response(st, 400, cloud_error(code, message))
}

fn not_found(st: &mut State, code: &str, message: &str) -> ResponseTemplate {
    arm_response(st, 404, cloud_error(code, message))
}

/// ARM's message for an api-version the resource provider did not register: 400
/// `NoRegisteredProviderFound`, naming the location, the version and the type, then the supported
/// versions and locations, each list `, `-separated.
pub(crate) fn unsupported_api_version(api_version: &str) -> String {
    format!(
        "No registered resource provider found for location '{LOCATION}' and API version '{api_version}' for type 'incidents'. The supported api-versions are '{}'. The supported locations are '{}'.",
        API_VERSIONS.join(", "),
        LOCATIONS.join(", ")
    )
}

/// ARM's CloudError envelope.
fn cloud_error(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

/// Where the client reached us (the Host header), so links work through any address.
fn origin(req: &Request) -> String {
    let host = req
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| req.url.host_str().unwrap_or("localhost").to_owned());
    format!("http://{host}")
}

fn time_of(nanos_since_epoch: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(nanos_since_epoch.div_euclid(1_000_000_000)).ok()?;
    let sub = u32::try_from(nanos_since_epoch.rem_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(secs, sub)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| char::from(*c).to_digit(16));
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
