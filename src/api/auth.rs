//! Who is calling: [`Principal`] (a valid bearer token) and [`WorkspaceScope`] (a principal
//! confined to the one workspace the path names). Handlers that touch a workspace take a
//! `WorkspaceScope`, never a free-form slug: a workspace-scoped token resolves only its own
//! workspace, and any other answers 404 exactly like a workspace that does not exist.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use secrecy::SecretString;
use uuid::Uuid;

use super::problem::{ApiError, ApiResult};
use super::tokens::{self, Authenticated, Refused};
use super::{ApiState, REQUEST_ID};
use crate::app::App;
use crate::slug::Slug;
use crate::store::{TokenRow, TokenScope, WorkspaceRow};

/// An authenticated caller.
#[derive(Debug)]
pub struct Principal {
    pub token: TokenRow,
    /// The workspace the token is confined to; `None` for an all-workspaces token.
    pub workspace: Option<WorkspaceRow>,
    /// `token:<id>(<name>)@<client address>`, for the audit log.
    pub actor: String,
    pub request_id: Uuid,
    pub state: ApiState,
}

impl Principal {
    /// 403 unless the token's scope includes `needed`.
    pub fn require(&self, needed: TokenScope) -> ApiResult<()> {
        if self.token.scope >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "token {} has scope {}; this needs {needed}",
                self.token.id, self.token.scope
            )))
        }
    }

    /// 403 unless this is an all-workspaces token with at least `needed`.
    pub fn require_all_workspaces(&self, needed: TokenScope) -> ApiResult<()> {
        self.require(needed)?;
        if self.workspace.is_some() {
            return Err(ApiError::forbidden(format!(
                "token {} is confined to one workspace; only an all-workspaces token may do this",
                self.token.id
            )));
        }
        Ok(())
    }

    /// The gateway opened for this request, acting as this token.
    pub fn app(&self) -> ApiResult<App> {
        self.state.open_app(&self.actor, self.request_id)
    }
}

fn bearer(parts: &Parts) -> ApiResult<SecretString> {
    let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "send an API token in the Authorization header, with the Bearer scheme",
        ));
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid"))?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| {
        ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized(
            "the Authorization header is not `Bearer <token>`",
        ));
    }
    Ok(SecretString::from(token.trim().to_owned()))
}

fn request_id(parts: &Parts) -> Uuid {
    parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(Uuid::new_v4)
}

impl FromRequestParts<ApiState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> ApiResult<Principal> {
        let presented = bearer(parts)?;
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
        let request_id = request_id(parts);
        let st = state.clone();
        let outcome = super::blocking(move || {
            let mut store = st.open_store()?;
            let vault = st.vault().clone();
            let now = chrono::Utc::now();
            Ok(store.read(|tx| tokens::authenticate(tx, &vault, &presented, now))?)
        })
        .await?;
        let Authenticated { row, workspace } = match outcome {
            Ok(a) => a,
            Err(why) => {
                tracing::info!(reason = ?why, client = %client, "API token refused");
                let detail = match why {
                    Refused::Revoked => "the API token is revoked",
                    Refused::Expired => "the API token has expired",
                    Refused::StaleMasterKey => {
                        "the API token was created under a previous master key; create a new one"
                    }
                    _ => "the API token is not valid",
                };
                return Err(ApiError::unauthorized(detail));
            }
        };
        let actor = format!("token:{}({})@{client}", row.id, row.name);
        Ok(Principal {
            token: row,
            workspace,
            actor,
            request_id,
            state: state.clone(),
        })
    }
}

/// A principal and the one workspace the request's `{slug}` names, which the token may reach.
#[derive(Debug)]
pub struct WorkspaceScope {
    pub principal: Principal,
    pub workspace: WorkspaceRow,
}

impl WorkspaceScope {
    pub fn slug(&self) -> &Slug {
        &self.workspace.slug
    }
}

fn no_such_workspace(raw: &str) -> ApiError {
    ApiError::not_found(format!("workspace {raw:?} does not exist"))
}

impl FromRequestParts<ApiState> for WorkspaceScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> ApiResult<WorkspaceScope> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such resource"))?;
        let raw = params
            .iter()
            .find(|(k, _)| k == "slug")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ApiError::not_found("no such resource"))?;
        // Anything that is not exactly a valid slug (other case, encoded dots, trailing junk)
        // names no workspace.
        let Ok(slug) = Slug::parse(&raw) else {
            return Err(no_such_workspace(&raw));
        };
        if let Some(own) = &principal.workspace {
            // Confined: only its own workspace exists for it. Same answer as a missing one.
            if own.slug != slug {
                return Err(no_such_workspace(&raw));
            }
            let workspace = own.clone();
            return Ok(WorkspaceScope {
                principal,
                workspace,
            });
        }
        let st = state.clone();
        let found = super::blocking(move || {
            let mut store = st.open_store()?;
            Ok(store
                .read(|tx| tx.workspace_by_slug(&slug))?
                .map(|w| w.into_row()))
        })
        .await?;
        match found {
            Some(workspace) => Ok(WorkspaceScope {
                principal,
                workspace,
            }),
            None => Err(no_such_workspace(&raw)),
        }
    }
}
