//! One function per endpoint. Each checks the scope, then calls the library function the CLI
//! calls, with the CLI's validation, in a per-request gateway acting as the token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use seliq_connectors::Settings;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::auth::{Principal, WorkspaceScope};
use super::problem::{ApiError, ApiResult, flags_to_fields};
use super::{ApiState, blocking};
use crate::audit::export::{self, ExportRequest, Format, Target};
use crate::audit::gateway::GATEWAY_CHAIN_SLUG;
use crate::audit::{clock, verify};
use crate::cli::args::{KindArg, KindArgs};
use crate::error::Error;
use crate::ids::CredentialVersion;
use crate::integrations::{self, NewIntegration, Rotation};
use crate::slug::{IntegrationName, Slug};
use crate::store::{CredentialState, IntegrationRow, Plan, TokenScope};
use crate::timespec::{parse_span, parse_time};
use crate::{pull, workspaces};

/// A JSON request body: `application/json`, within the size limit, every field known. Errors
/// name the field and never quote a value (a misplaced secret is never echoed).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> ApiResult<Body<T>> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The request body must be JSON",
                "send the body with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "The request body is too large",
                    "the request body is larger than the gateway accepts",
                )
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        parse_body(&bytes).map(Body)
    }
}

/// Parse a body, describing a failure without quoting any value from it.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| describe_body_error(&e))
}

fn describe_body_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("the request body is not valid JSON (at {at})"))
        }
        Category::Data => {
            let msg = e.to_string();
            // serde's messages put names in backticks: `field`. Only those that name a field of
            // ours (missing / unknown field) are repeated; type errors quote values, so only the
            // expected type (from our own definitions) is kept.
            let between = |s: &str| {
                let a = s.find('`')?;
                let b = s[a + 1..].find('`')?;
                Some(s[a + 1..a + 1 + b].to_owned())
            };
            if let Some(rest) = msg.strip_prefix("missing field ") {
                let f = between(rest).unwrap_or_default();
                ApiError::invalid(&f, format!("the request body needs the field {f}"))
            } else if let Some(rest) = msg.strip_prefix("unknown field ") {
                // A key is named back only when it looks like a field name (a misplaced
                // secret used as a key never does: digits, capitals, punctuation or length).
                match between(rest).filter(|f| {
                    (1..=32).contains(&f.len())
                        && f.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                }) {
                    Some(f) => {
                        ApiError::invalid(&f, format!("the request body has an unknown field {f}"))
                    }
                    None => ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-request",
                        "The request is invalid",
                        format!("the request body has an unknown field (at {at})"),
                    ),
                }
            } else {
                let expected = msg
                    .split(", expected ")
                    .nth(1)
                    .map(|s| s.split(" at line").next().unwrap_or(s).to_owned());
                let detail = match expected {
                    Some(x) => {
                        format!(
                            "a value in the request body has the wrong type or value (expected {x}) at {at}"
                        )
                    }
                    None => format!("a value in the request body is invalid at {at}"),
                };
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-request",
                    "The request is invalid",
                    detail,
                )
            }
        }
    }
}

/// An error about `field` when it is a validation error (422); others (409, 404…) unchanged.
pub(super) fn field_err(field: &str) -> impl Fn(Error) -> ApiError + '_ {
    move |e| {
        let e = ApiError::from(e);
        if e.status == StatusCode::UNPROCESSABLE_ENTITY {
            e.field(field)
        } else {
            e
        }
    }
}

fn integration_name(raw: &str) -> ApiResult<IntegrationName> {
    // The path names it: an invalid name names no integration.
    IntegrationName::parse(raw)
        .map_err(|_| ApiError::not_found(format!("integration {raw:?} does not exist")))
}

fn run_async<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(fut)
}

// ---------------------------------------------------------------- workspaces

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    pub slug: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub plan: Option<String>,
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteWorkspace {
    /// The workspace's slug again, as confirmation.
    pub confirm: String,
}

#[utoipa::path(
    get,
    path = "/v1/workspaces",
    tag = "workspaces",
    responses((status = 200, description = "The workspaces the token can see"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn list_workspaces(p: Principal) -> ApiResult<Json<Value>> {
    p.require(TokenScope::Read)?;
    if let Some(w) = &p.workspace {
        return Ok(Json(json!({ "workspaces": [w] })));
    }
    let list = blocking(move || Ok(workspaces::list(&mut p.app()?)?)).await?;
    Ok(Json(json!({ "workspaces": list })))
}

#[utoipa::path(
    post,
    path = "/v1/workspaces",
    tag = "workspaces",
    request_body = CreateWorkspace,
    responses((status = 201, description = "Created"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 409, description = "Conflict", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn create_workspace(p: Principal, Body(b): Body<CreateWorkspace>) -> ApiResult<Response> {
    p.require_all_workspaces(TokenScope::Admin)?;
    let slug = Slug::parse(&b.slug).map_err(|e| field_err("slug")(e.into()))?;
    let plan: Plan = match b.plan.as_deref() {
        None => Plan::Pro,
        Some(s) => s
            .parse()
            .map_err(|m: String| ApiError::invalid("plan", m))?,
    };
    let row = blocking(move || {
        workspaces::create(&mut p.app()?, &slug, &b.description, plan)
            .map_err(field_err("description"))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(row))).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}",
    tag = "workspaces",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "The workspace"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn show_workspace(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    Ok(Json(json!(s.workspace)))
}

#[utoipa::path(
    delete,
    path = "/v1/workspaces/{slug}",
    tag = "workspaces",
    params(("slug" = String, Path, description = "Workspace slug")),
    request_body = DeleteWorkspace,
    responses((status = 200, description = "Deleted: keys and credentials destroyed, audit log kept"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn delete_workspace(
    s: WorkspaceScope,
    Body(b): Body<DeleteWorkspace>,
) -> ApiResult<Json<Value>> {
    s.principal.require_all_workspaces(TokenScope::Admin)?;
    if b.confirm != s.slug().as_str() {
        return Err(ApiError::invalid(
            "confirm",
            format!(
                "refusing to delete workspace {}: confirm does not match; send {{\"confirm\": \"{}\"}}",
                s.slug(),
                s.slug()
            ),
        ));
    }
    let slug = s.slug().clone();
    blocking(move || {
        Ok(workspaces::delete(
            &mut s.principal.app()?,
            &slug,
            &b.confirm,
        )?)
    })
    .await?;
    Ok(Json(json!({
        "deleted": true,
        "detail": "its keys and credentials are destroyed; its audit log remains",
    })))
}

// ---------------------------------------------------------------- integrations

/// Vendor settings: the CLI's kind flags as fields (`--client-id` is `client_id`).
#[derive(utoipa::ToSchema, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    pub client_id: Option<String>,
    pub cid: Option<String>,
    #[serde(default)]
    pub own_cid: bool,
    pub cloud: Option<String>,
    pub base_url: Option<String>,
    pub tenant_id: Option<String>,
    pub subscription_id: Option<String>,
    pub resource_group: Option<String>,
    pub workspace_name: Option<String>,
    pub authority_url: Option<String>,
    pub management_url: Option<String>,
    #[serde(default)]
    pub with_alerts: bool,
    pub url: Option<String>,
    pub app: Option<String>,
    pub owner: Option<String>,
    #[serde(default)]
    pub index: Vec<String>,
    pub scope_filter: Option<String>,
    pub username: Option<String>,
    pub base_search: Option<String>,
    pub earliest: Option<String>,
    pub api_version: Option<String>,
    pub look_back: Option<String>,
    pub rate_limit: Option<u32>,
    pub first_window: Option<String>,
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl From<SettingsBody> for KindArgs {
    fn from(s: SettingsBody) -> KindArgs {
        KindArgs {
            client_id: s.client_id,
            cid: s.cid,
            own_cid: s.own_cid,
            cloud: s.cloud,
            base_url: s.base_url,
            tenant_id: s.tenant_id,
            subscription_id: s.subscription_id,
            resource_group: s.resource_group,
            workspace_name: s.workspace_name,
            authority_url: s.authority_url,
            management_url: s.management_url,
            with_alerts: s.with_alerts,
            url: s.url,
            app: s.app,
            owner: s.owner,
            index: s.index,
            scope_filter: s.scope_filter,
            username: s.username,
            base_search: s.base_search,
            earliest: s.earliest,
            api_version: s.api_version,
            look_back: s.look_back,
            rate_limit: s.rate_limit,
            first_window: s.first_window,
            allow_insecure_http: s.allow_insecure_http,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddIntegration {
    pub name: String,
    /// crowdstrike | sentinel | splunk
    pub kind: String,
    #[serde(default)]
    pub settings: SettingsBody,
    /// The credential. Only in the body; never stored in the clear, logged or echoed.
    #[schema(value_type = String, format = Password)]
    pub secret: SecretString,
    /// Check the credential with the vendor before storing it (default true).
    #[serde(default = "yes")]
    pub verify: bool,
    pub poll_interval: Option<String>,
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateCredential {
    #[schema(value_type = String, format = Password)]
    pub secret: SecretString,
    pub client_id: Option<String>,
    #[serde(default = "yes")]
    pub verify: bool,
    /// Refuse (409) unless this is the current credential version.
    pub expected_version: Option<u32>,
}

fn integration_json(r: &IntegrationRow, credential_version: Option<CredentialVersion>) -> Value {
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "source": r.source,
        "settings": r.settings,
        "poll_interval_secs": r.poll_interval_secs,
        "first_window_secs": r.first_window_secs,
        "created_at": r.created_at,
    });
    if let Some(c) = credential_version {
        v["credential_version"] = json!(c);
    }
    v
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/integrations",
    tag = "integrations",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "The workspace's integrations"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn list_integrations(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    let slug = s.slug().clone();
    let rows = blocking(move || Ok(integrations::list(&mut s.principal.app()?, &slug)?)).await?;
    let list: Vec<Value> = rows.iter().map(|r| integration_json(r, None)).collect();
    Ok(Json(json!({ "integrations": list })))
}

fn parse_kind(raw: &str) -> ApiResult<KindArg> {
    match raw {
        "crowdstrike" => Ok(KindArg::Crowdstrike),
        "sentinel" => Ok(KindArg::Sentinel),
        "splunk" => Ok(KindArg::Splunk),
        other => Err(ApiError::invalid(
            "kind",
            format!("kind {other:?} is unknown; use crowdstrike, sentinel or splunk"),
        )),
    }
}

#[utoipa::path(
    post,
    path = "/v1/workspaces/{slug}/integrations",
    tag = "integrations",
    params(("slug" = String, Path, description = "Workspace slug")),
    request_body = AddIntegration,
    responses((status = 201, description = "Connected"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem), (status = 409, description = "Conflict", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem), (status = 424, description = "The vendor rejected the credential", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn add_integration(
    s: WorkspaceScope,
    Body(b): Body<AddIntegration>,
) -> ApiResult<Response> {
    s.principal.require(TokenScope::Admin)?;
    let secret = SecretString::from(secrecy::ExposeSecret::expose_secret(&b.secret).to_owned());
    add_integration_inner(s, b)
        .await
        .map_err(|e| e.hiding(&secret))
}

async fn add_integration_inner(s: WorkspaceScope, b: AddIntegration) -> ApiResult<Response> {
    let name = IntegrationName::parse(&b.name).map_err(|e| field_err("name")(e.into()))?;
    let kind = parse_kind(&b.kind)?;
    let poll_interval = match &b.poll_interval {
        Some(v) => parse_span("--poll-interval", v)
            .and_then(integrations::check_poll_interval)
            .map_err(field_err("poll_interval"))?,
        None => integrations::DEFAULT_POLL_INTERVAL,
    };
    let args: KindArgs = b.settings.into();
    let first_window = match &args.first_window {
        Some(v) => parse_span("--first-window", v).map_err(field_err("settings.first_window"))?,
        None => pull::DEFAULT_FIRST_WINDOW,
    };
    let params = crate::cli::params::build(kind, &args).map_err(field_err("settings"))?;
    let settings = Settings::validate(params)
        .map_err(|e| ApiError::invalid("settings", flags_to_fields(&Error::from(e).to_string())))?;
    if secrecy::ExposeSecret::expose_secret(&b.secret).is_empty() {
        return Err(ApiError::invalid("secret", "the secret is empty"));
    }
    let req = NewIntegration {
        workspace: s.slug().clone(),
        name,
        settings,
        secret: b.secret,
        verify: b.verify,
        first_window,
        poll_interval,
    };
    let http = s.principal.state.http().clone();
    let row = blocking(move || {
        let mut app = s.principal.app()?;
        Ok(run_async(integrations::add(&mut app, &http, req))?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(integration_json(&row, Some(CredentialVersion::FIRST))),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/integrations/{name}",
    tag = "integrations",
    params(("slug" = String, Path, description = "Workspace slug"), ("name" = String, Path, description = "Integration name")),
    responses((status = 200, description = "The integration, with its current credential version"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn show_integration(
    s: WorkspaceScope,
    axum::extract::Path((_, name)): axum::extract::Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    let name = integration_name(&name)?;
    let slug = s.slug().clone();
    let (row, version) = blocking(move || {
        let mut app = s.principal.app()?;
        Ok(app.store().read(|tx| {
            let (_, integ) = integrations::require(tx, &slug, &name)?;
            let v = tx
                .credential(integ.id, CredentialState::Current)?
                .map(|c| c.version);
            Ok::<_, Error>((integ, v))
        })?)
    })
    .await?;
    Ok(Json(integration_json(&row, version)))
}

#[utoipa::path(
    delete,
    path = "/v1/workspaces/{slug}/integrations/{name}",
    tag = "integrations",
    params(("slug" = String, Path, description = "Workspace slug"), ("name" = String, Path, description = "Integration name")),
    responses((status = 200, description = "Removed: credential destroyed, source released"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn remove_integration(
    s: WorkspaceScope,
    axum::extract::Path((_, name)): axum::extract::Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    let name = integration_name(&name)?;
    let slug = s.slug().clone();
    blocking(move || Ok(integrations::remove(&mut s.principal.app()?, &slug, &name)?)).await?;
    Ok(Json(json!({
        "removed": true,
        "detail": "credential destroyed, source released",
    })))
}

#[utoipa::path(
    post,
    path = "/v1/workspaces/{slug}/integrations/{name}/test",
    tag = "integrations",
    params(("slug" = String, Path, description = "Workspace slug"), ("name" = String, Path, description = "Integration name")),
    responses((status = 200, description = "The vendor accepted the stored credential"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem), (status = 424, description = "The vendor rejected the credential", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn test_integration(
    s: WorkspaceScope,
    axum::extract::Path((_, name)): axum::extract::Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Operate)?;
    let name = integration_name(&name)?;
    let slug = s.slug().clone();
    let http = s.principal.state.http().clone();
    blocking(move || {
        let mut app = s.principal.app()?;
        Ok(run_async(integrations::test(
            &mut app, &http, &slug, &name,
        ))?)
    })
    .await?;
    Ok(Json(json!({ "accepted": true })))
}

#[utoipa::path(
    post,
    path = "/v1/workspaces/{slug}/integrations/{name}/resume",
    tag = "integrations",
    params(("slug" = String, Path, description = "Workspace slug"), ("name" = String, Path, description = "Integration name")),
    responses((status = 200, description = "`resumed`: whether it was suspended"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn resume_integration(
    s: WorkspaceScope,
    axum::extract::Path((_, name)): axum::extract::Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Operate)?;
    let name = integration_name(&name)?;
    let slug = s.slug().clone();
    let resumed =
        blocking(move || Ok(integrations::resume(&mut s.principal.app()?, &slug, &name)?)).await?;
    Ok(Json(json!({ "resumed": resumed })))
}

#[utoipa::path(
    post,
    path = "/v1/workspaces/{slug}/integrations/{name}/credentials/rotate",
    tag = "credentials",
    params(("slug" = String, Path, description = "Workspace slug"), ("name" = String, Path, description = "Integration name")),
    request_body = RotateCredential,
    responses((status = 200, description = "`version`: the new current version"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem), (status = 409, description = "Conflict", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem), (status = 424, description = "The vendor rejected the credential", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn rotate_credential(
    s: WorkspaceScope,
    axum::extract::Path((_, name)): axum::extract::Path<(String, String)>,
    Body(b): Body<RotateCredential>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    let name = integration_name(&name)?;
    if secrecy::ExposeSecret::expose_secret(&b.secret).is_empty() {
        return Err(ApiError::invalid("secret", "the secret is empty"));
    }
    let slug = s.slug().clone();
    let http = s.principal.state.http().clone();
    let shown = SecretString::from(secrecy::ExposeSecret::expose_secret(&b.secret).to_owned());
    let rotation = Rotation {
        secret: b.secret,
        client_id: b.client_id,
        verify: b.verify,
        expected_version: b.expected_version,
    };
    let version = blocking(move || {
        let mut app = s.principal.app()?;
        run_async(integrations::rotate_with(
            &mut app, &http, &slug, &name, rotation,
        ))
        .map_err(|e| ApiError::from(e).hiding(&shown))
    })
    .await?;
    Ok(Json(json!({ "version": version })))
}

#[utoipa::path(
    post,
    path = "/v1/workspaces/{slug}/integrations/{name}/credentials/rollback",
    tag = "credentials",
    params(("slug" = String, Path, description = "Workspace slug"), ("name" = String, Path, description = "Integration name")),
    responses((status = 200, description = "`version`: the version current again"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn rollback_credential(
    s: WorkspaceScope,
    axum::extract::Path((_, name)): axum::extract::Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    let name = integration_name(&name)?;
    let slug = s.slug().clone();
    let version = blocking(move || {
        Ok(integrations::rollback(
            &mut s.principal.app()?,
            &slug,
            &name,
        )?)
    })
    .await?;
    Ok(Json(json!({ "version": version })))
}

// ---------------------------------------------------------------- status

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "status",
    responses((status = 200, description = "Every integration the token can see, as `status --json`"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn status_all(p: Principal) -> ApiResult<Json<Value>> {
    p.require(TokenScope::Read)?;
    let only = p.workspace.as_ref().map(|w| w.slug.clone());
    if let Some(list) = p.state.live_status(only.as_ref()).await {
        return Ok(Json(json!({ "integrations": list })));
    }
    let list = blocking(move || {
        Ok(crate::serve::status::from_store(
            &mut p.app()?,
            only.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(json!({ "integrations": list })))
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/status",
    tag = "status",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "The workspace's integrations, as `status --json`"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn status_workspace(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    let slug = s.slug().clone();
    if let Some(list) = s.principal.state.live_status(Some(&slug)).await {
        return Ok(Json(json!({ "integrations": list })));
    }
    let list = blocking(move || {
        Ok(crate::serve::status::from_store(
            &mut s.principal.app()?,
            Some(&slug),
        )?)
    })
    .await?;
    Ok(Json(json!({ "integrations": list })))
}

// ---------------------------------------------------------------- audit

#[derive(utoipa::IntoParams, Deserialize)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub format: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

fn export_request(slug: Slug, q: &ExportQuery) -> ApiResult<ExportRequest> {
    let format = match q.format.as_deref().unwrap_or("jsonl") {
        "csv" => Format::Csv,
        "json" => Format::Json,
        "jsonl" => Format::Jsonl,
        other => {
            return Err(ApiError::invalid(
                "format",
                format!("format {other:?} is unknown; use csv, json or jsonl"),
            ));
        }
    };
    let now = clock::now();
    let since = q
        .since
        .as_deref()
        .map(|s| parse_time("since", s, now))
        .transpose()
        .map_err(field_err("since"))?;
    let until = q
        .until
        .as_deref()
        .map(|s| parse_time("until", s, now))
        .transpose()
        .map_err(field_err("until"))?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(ApiError::invalid("since", "since is not before until"));
    }
    Ok(ExportRequest {
        slug,
        format,
        target: Target::Memory,
        since,
        until,
    })
}

pub(super) fn query<T: DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<T> {
    q.map(|Query(v)| v).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "The request is malformed",
            "the query string is invalid; it takes format, since and until, nothing else",
        )
    })
}

async fn export_response(p: Principal, req: ExportRequest) -> ApiResult<Response> {
    let content_type = match req.format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Json => "application/json",
        Format::Jsonl => "application/jsonl",
    };
    let file = export::default_file_name(&req.slug, req.format, clock::now());
    let (_, text) = blocking(move || Ok(export::export_to_memory(&mut p.app()?, &req)?)).await?;
    let mut resp = text.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/audit/export",
    tag = "audit",
    params(("slug" = String, Path, description = "Workspace slug"), ExportQuery),
    responses((status = 200, description = "The export, byte for byte what `audit export --output -` prints"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn audit_export(
    s: WorkspaceScope,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    s.principal.require(TokenScope::Read)?;
    let req = export_request(s.slug().clone(), &query(q)?)?;
    export_response(s.principal, req).await
}

async fn verify_response(p: Principal, slug: Slug) -> ApiResult<Json<Value>> {
    let signer = p.state.inner.signer.clone();
    let label = slug.clone();
    let outcome = blocking(move || {
        let mut app = p.app()?;
        Ok(app.store().read(|tx| {
            let ws = tx
                .workspace_by_slug_any(&slug)?
                .ok_or_else(|| Error::NotFound(format!("workspace {slug} does not exist")))?;
            verify::verify_stored(tx, ws.id, &signer)
        })?)
    })
    .await?;
    Ok(Json(match outcome {
        Ok(report) => json!({
            "verified": true,
            "entries": report.entries,
            "first_seq": report.first_seq,
            "last_seq": report.last_seq,
            "checkpoints": report.checkpoints,
            "summary": report.summary(&format!("audit chain of {label}")),
        }),
        Err(b) => json!({
            "verified": false,
            "break_seq": b.seq,
            "summary": format!("the audit chain of {label} fails verification at {b}"),
        }),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/audit/verify",
    tag = "audit",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "`verified` and a summary"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn audit_verify(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    let slug = s.slug().clone();
    verify_response(s.principal, slug).await
}

fn gateway_slug() -> Slug {
    Slug::parse(GATEWAY_CHAIN_SLUG).expect("the reserved slug is valid")
}

#[utoipa::path(
    get,
    path = "/v1/gateway/audit/export",
    tag = "audit",
    params(ExportQuery),
    responses((status = 200, description = "The gateway-level chain (all-workspaces tokens)"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
/// The gateway-level chain (all-workspaces tokens): all-workspaces tokens only.
pub async fn gateway_audit_export(
    p: Principal,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    p.require_all_workspaces(TokenScope::Read)?;
    let req = export_request(gateway_slug(), &query(q)?)?;
    export_response(p, req).await
}

#[utoipa::path(
    get,
    path = "/v1/gateway/audit/verify",
    tag = "audit",
    responses((status = 200, description = "`verified` and a summary"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or integration (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn gateway_audit_verify(p: Principal) -> ApiResult<Json<Value>> {
    p.require_all_workspaces(TokenScope::Read)?;
    verify_response(p, gateway_slug()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MARKER: &str = "MARKER-s3cr3t-9f8e7d";

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            Just(json!(MARKER)),
            "[a-z0-9 -]{0,12}".prop_map(Value::String),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("secret".to_owned()),
            Just("name".to_owned()),
            Just("kind".to_owned()),
            Just("settings".to_owned()),
            Just("verify".to_owned()),
            Just("expected_version".to_owned()),
            Just("client_id".to_owned()),
            Just("slug".to_owned()),
            Just("confirm".to_owned()),
            Just("cid".to_owned()),
            Just(MARKER.to_owned()),
            "[a-z_]{1,8}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn check<T: DeserializeOwned>(bytes: &[u8]) {
        if let Err(e) = parse_body::<T>(bytes) {
            assert!(
                !e.detail.contains(MARKER),
                "detail echoes a value: {}",
                e.detail
            );
            assert!(
                e.field.as_deref().is_none_or(|f| !f.contains("s3cr3t")),
                "field echoes a value: {:?}",
                e.field
            );
            assert!(matches!(e.status.as_u16(), 400 | 422), "{}", e.status);
        }
    }

    proptest! {
        #[test]
        fn body_errors_never_quote_a_value(v in value()) {
            let bytes = v.to_string().into_bytes();
            check::<AddIntegration>(&bytes);
            check::<RotateCredential>(&bytes);
            check::<CreateWorkspace>(&bytes);
            check::<DeleteWorkspace>(&bytes);
        }

        #[test]
        fn arbitrary_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut b = bytes.clone();
            b.extend_from_slice(MARKER.as_bytes());
            check::<AddIntegration>(&b);
            check::<RotateCredential>(&b);
        }
    }
}
