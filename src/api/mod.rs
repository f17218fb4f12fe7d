//! The management API under `/v1` (issue 17): workspaces, integrations, credentials, status and
//! audit, over JSON, behind bearer tokens (`tokens.rs`).
//!
//! - `router(state)` builds the whole thing; `serve` mounts it on its listener.
//! - `auth.rs`: the `Principal` and `WorkspaceScope` extractors (tenant isolation: a
//!   workspace-scoped token sees every other workspace as absent, 404).
//! - `handlers.rs`: one function per endpoint, each calling the same library functions as the CLI.
//! - `sla.rs`: the SLA template, a workspace's overrides, calendar and assignment, and its
//!   attainment report (issue 19).
//! - `problem.rs`: RFC 9457 problem documents for every error.
//! - `openapi.rs`: the OpenAPI description (utoipa), at `GET /v1/openapi.json`.
//!
//! Every request opens its own store connection on the blocking pool (rusqlite is `Send`, not
//! `Sync`), so slow vendor checks never hold a lock other requests need; SQLite's
//! `BEGIN IMMEDIATE` serialises the writes as it does for concurrent CLI processes.

mod auth;
mod handlers;
pub mod openapi;
pub mod problem;
mod sla;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use seliq_connectors::http::HttpOptions;
use tower_http::timeout::TimeoutLayer;
use uuid::Uuid;

pub use auth::{Principal, WorkspaceScope};
use problem::{ApiError, ApiResult};

use crate::app::{App, Config};
use crate::audit::{Attribution, CheckpointSigner};
use crate::serve::status::IntegrationStatus;
use crate::store::Store;
use crate::vault::Vault;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Request bodies larger than this are refused (413).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// A request still running after this answers 503.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the API needs from an opened gateway: where the store is, the vault, the audit signer
/// and the HTTP settings for vendor calls. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

/// Where the status endpoints read from when `serve` mounts the API: its scheduler, asked for the
/// live view of every integration or of one workspace (`Some(slug)`), lag computed at the
/// question. `None` back (the scheduler stopped, or did not answer in time): they read the store
/// like `status --json`, as they do without a scheduler.
pub type LiveStatus = Arc<dyn Fn(Option<String>) -> LiveStatusAnswer + Send + Sync>;

/// The scheduler's answer to one [`LiveStatus`] question.
pub type LiveStatusAnswer =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<IntegrationStatus>>> + Send>>;

#[derive(Clone)]
struct Inner {
    config: Config,
    vault: Vault,
    signer: CheckpointSigner,
    http: HttpOptions,
    body_limit: usize,
    timeout: Duration,
    live_status: Option<LiveStatus>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("data_dir", &self.inner.config.data_dir)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// From an opened gateway (`App::open`) and the process's vendor HTTP settings.
    pub fn new(app: &App, http: HttpOptions) -> ApiState {
        ApiState {
            inner: Arc::new(Inner {
                config: app.config().clone(),
                vault: app.vault().clone(),
                signer: app.who().signer.clone(),
                http,
                body_limit: DEFAULT_BODY_LIMIT,
                timeout: DEFAULT_REQUEST_TIMEOUT,
                live_status: None,
            }),
        }
    }

    /// Override the body limit and request timeout (before the router is built).
    pub fn with_limits(self, body_limit: usize, timeout: Duration) -> ApiState {
        let mut inner = (*self.inner).clone();
        inner.body_limit = body_limit;
        inner.timeout = timeout;
        ApiState {
            inner: Arc::new(inner),
        }
    }

    /// Serve the status endpoints from the scheduler's published view instead of the store.
    pub fn with_live_status(self, live: LiveStatus) -> ApiState {
        let mut inner = (*self.inner).clone();
        inner.live_status = Some(live);
        ApiState {
            inner: Arc::new(inner),
        }
    }

    /// Every integration's status, of one workspace or all, from the scheduler when there is one.
    pub(crate) async fn live_status(
        &self,
        only: Option<&crate::slug::Slug>,
    ) -> Option<Vec<IntegrationStatus>> {
        let live = self.inner.live_status.as_ref()?;
        let list = live(only.map(|s| s.as_str().to_owned())).await?;
        // The scheduler filtered already; kept as the rule this function promises.
        Some(match only {
            Some(slug) => list
                .into_iter()
                .filter(|s| s.workspace == slug.as_str())
                .collect(),
            None => list,
        })
    }

    pub(crate) fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    pub(crate) fn http(&self) -> &HttpOptions {
        &self.inner.http
    }

    pub(crate) fn open_store(&self) -> ApiResult<Store> {
        let database = self
            .inner
            .config
            .database()
            .map_err(crate::error::Error::Invalid)?;
        Ok(Store::connect(&database)?)
    }

    /// A per-request gateway acting as `actor`.
    pub(crate) fn open_app(&self, actor: &str, request_id: Uuid) -> ApiResult<App> {
        let mut config = self.inner.config.clone();
        config.actor = actor.to_owned();
        Ok(App::from_parts(
            config,
            self.open_store()?,
            self.inner.vault.clone(),
            Attribution {
                actor: actor.to_owned(),
                request_id,
                signer: self.inner.signer.clone(),
            },
        ))
    }
}

/// Run store work (and, through `Handle::block_on`, vendor calls) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "API worker failed");
        ApiError::internal()
    })?
}

/// Every response carries `x-request-id`: the caller's, when it is a UUID, else a fresh one
/// (the audit entries of the request carry the same id).
async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(Uuid::new_v4);
    let value = HeaderValue::from_str(&id.to_string()).expect("a UUID is a valid header value");
    req.headers_mut().insert(REQUEST_ID, value.clone());
    // The path (Debug-escaped) but never the query or the body; no secret is ever in a URL.
    let path = req.uri().path().chars().take(256).collect::<String>();
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    tracing::info!(
        request_id = %id,
        method = %method,
        path = ?path,
        status = resp.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        "API request"
    );
    resp.headers_mut().insert(REQUEST_ID, value);
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}

/// Turn the plain-text rejections of the layers (413, 408/503 timeout) into problem documents.
async fn problem_bodies(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let is_problem = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem || !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return resp;
    }
    let status = resp.status();
    let (kind, title, detail) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body-too-large",
            "The request body is too large",
            "the request body is larger than the gateway accepts".to_owned(),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "timeout",
            "The request timed out",
            "the request did not finish in time; it may still complete, check the audit log"
                .to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "Method not allowed",
            "this resource does not accept that method".to_owned(),
        ),
        _ => (
            "error",
            "Request failed",
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned(),
        ),
    };
    let mut out = ApiError::new(status, kind, title, detail).into_response();
    for h in [axum::http::header::ALLOW, REQUEST_ID] {
        if let Some(v) = resp.headers().get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}

/// The `/v1` API. Mount it as the service (or merge it into a router) and serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so audit entries carry the client
/// address (without it they say `@unknown`).
pub fn router(state: ApiState) -> Router {
    use handlers as h;
    let body_limit = state.inner.body_limit;
    let timeout = state.inner.timeout;
    let ws = "/v1/workspaces/{slug}";
    let integ = "/v1/workspaces/{slug}/integrations/{name}";
    Router::new()
        .route(
            "/v1/workspaces",
            get(h::list_workspaces).post(h::create_workspace),
        )
        .route(ws, get(h::show_workspace).delete(h::delete_workspace))
        .route(
            &format!("{ws}/integrations"),
            get(h::list_integrations).post(h::add_integration),
        )
        .route(
            integ,
            get(h::show_integration).delete(h::remove_integration),
        )
        .route(&format!("{integ}/test"), post(h::test_integration))
        .route(&format!("{integ}/resume"), post(h::resume_integration))
        .route(
            &format!("{integ}/credentials/rotate"),
            post(h::rotate_credential),
        )
        .route(
            &format!("{integ}/credentials/rollback"),
            post(h::rollback_credential),
        )
        .route("/v1/status", get(h::status_all))
        .route(&format!("{ws}/status"), get(h::status_workspace))
        .route(&format!("{ws}/audit/export"), get(h::audit_export))
        .route(&format!("{ws}/audit/verify"), get(h::audit_verify))
        .route("/v1/gateway/audit/export", get(h::gateway_audit_export))
        .route("/v1/gateway/audit/verify", get(h::gateway_audit_verify))
        .route("/v1/sla/template", get(sla::show_template))
        .route("/v1/sla/template/{severity}", put(sla::set_template))
        .route(
            &format!("{ws}/sla"),
            get(sla::show_workspace_sla).delete(sla::reset_workspace_sla),
        )
        .route(&format!("{ws}/sla/report"), get(sla::sla_report))
        .route(
            &format!("{ws}/sla/{{severity}}"),
            put(sla::set_workspace_sla).delete(sla::reset_workspace_severity),
        )
        .route(
            &format!("{ws}/calendar"),
            get(sla::show_calendar).put(sla::set_calendar),
        )
        .route(
            &format!("{ws}/assignment"),
            get(sla::show_assignment).put(sla::set_assignment),
        )
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(middleware::from_fn(problem_bodies))
        .layer(middleware::from_fn(request_id))
}
