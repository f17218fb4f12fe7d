//! `/v1` endpoints for SLA policies, business calendars, assignment models and attainment reports
//! (issue 19): the same library calls as `sla`, `calendar` and `assignment` on the command line,
//! with the same validation and audit entries.
//!
//! Scopes: reading needs `read`; changing a workspace's terms needs `admin` on that workspace;
//! the gateway-wide template is changed by all-workspaces `admin` tokens only. A report is a
//! read (it is audited as `report.generated`, like an export).

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use seliq_sla::{Calendar, Severity, Target, WeeklyHours};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Principal, WorkspaceScope};
use super::blocking;
use super::handlers::{Body, field_err, query};
use super::problem::{ApiError, ApiResult};
use crate::sla::policy::{self, AssignmentSpec};
use crate::sla::report::{self, ReportFormat};
use crate::store::TokenScope;
use crate::timespec::parse_time;

/// New targets for one severity; a field left out keeps its current value.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsBody {
    /// Time to acknowledge: wall clock (`90s`, `15m`, `4h`, `2d`, `1w`) or business (`8bh`, `5bd`).
    #[serde(default)]
    pub tta: Option<String>,
    /// Time to resolve, in the same units.
    #[serde(default)]
    pub ttr: Option<String>,
}

/// A workspace's whole business calendar (it replaces the current one).
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarBody {
    /// IANA time zone, e.g. `America/New_York`.
    pub zone: String,
    /// Weekly hours, e.g. `mon-fri 09:00-17:00` or `24/7`.
    pub hours: String,
    /// Dates (`YYYY-MM-DD`).
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(utoipa::IntoParams, Deserialize)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `csv` (default), `json` or `html`.
    pub format: Option<String>,
    /// Alerts created from (RFC 3339 or a span back from now); default `30d`.
    pub since: Option<String>,
    /// Alerts created before; default now.
    pub until: Option<String>,
}

/// A severity named in the path: anything else names nothing (404).
fn severity(raw: &str) -> ApiResult<Severity> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("severity {raw:?} does not exist")))
}

fn targets(b: &TargetsBody) -> ApiResult<(Option<Target>, Option<Target>)> {
    let parse = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| {
                t.parse::<Target>()
                    .map_err(|e| ApiError::invalid(field, format!("{field}: {e}")))
            })
            .transpose()
    };
    let (tta, ttr) = (parse("tta", &b.tta)?, parse("ttr", &b.ttr)?);
    if tta.is_none() && ttr.is_none() {
        return Err(ApiError::invalid(
            "tta",
            "give tta, ttr or both: nothing to change",
        ));
    }
    Ok((tta, ttr))
}

fn changed(version: Option<i64>) -> Json<Value> {
    Json(json!({ "changed": version.is_some(), "policy_version": version }))
}

#[utoipa::path(
    get,
    path = "/v1/sla/template",
    tag = "sla",
    responses((status = 200, description = "`policy_version` and `template` (per severity: tta, ttr)"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn show_template(p: Principal) -> ApiResult<Json<Value>> {
    p.require(TokenScope::Read)?;
    let (version, template) = blocking(move || Ok(policy::show_template(&mut p.app()?)?)).await?;
    Ok(Json(
        json!({ "policy_version": version, "template": template }),
    ))
}

#[utoipa::path(
    put,
    path = "/v1/sla/template/{severity}",
    tag = "sla",
    params(("severity" = String, Path, description = "critical, high, medium, low or informational")),
    request_body = TargetsBody,
    responses((status = 200, description = "`changed` and the new `policy_version` (null: unchanged)"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such severity", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn set_template(
    p: Principal,
    Path(raw): Path<String>,
    Body(b): Body<TargetsBody>,
) -> ApiResult<Json<Value>> {
    p.require_all_workspaces(TokenScope::Admin)?;
    let sev = severity(&raw)?;
    let (tta, ttr) = targets(&b)?;
    let v =
        blocking(move || Ok(policy::set_template_targets(&mut p.app()?, sev, tta, ttr)?)).await?;
    Ok(changed(v))
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/sla",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "As `sla show --json`: effective targets, overrides, calendar, assignment"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn show_workspace_sla(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    let slug = s.slug().clone();
    let label = slug.clone();
    let (own, eff) = blocking(move || Ok(policy::show(&mut s.principal.app()?, &slug)?)).await?;
    Ok(Json(json!({
        "workspace": label.as_str(),
        "policy_version": eff.version,
        "targets": eff.targets,
        "overrides": own.overrides,
        "calendar": own.calendar,
        "assignment": own.assignment.as_ref().map(AssignmentSpec::from),
    })))
}

#[utoipa::path(
    put,
    path = "/v1/workspaces/{slug}/sla/{severity}",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug"), ("severity" = String, Path, description = "critical, high, medium, low or informational")),
    request_body = TargetsBody,
    responses((status = 200, description = "`changed` and the new `policy_version` (null: unchanged)"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or severity (or another workspace's)", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn set_workspace_sla(
    s: WorkspaceScope,
    Path((_, raw)): Path<(String, String)>,
    Body(b): Body<TargetsBody>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    let sev = severity(&raw)?;
    let (tta, ttr) = targets(&b)?;
    let slug = s.slug().clone();
    let v = blocking(move || {
        Ok(policy::set_workspace_targets(
            &mut s.principal.app()?,
            &slug,
            sev,
            tta,
            ttr,
        )?)
    })
    .await?;
    Ok(changed(v))
}

#[utoipa::path(
    delete,
    path = "/v1/workspaces/{slug}/sla/{severity}",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug"), ("severity" = String, Path, description = "critical, high, medium, low or informational")),
    responses((status = 200, description = "The severity follows the template again"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace or severity (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn reset_workspace_severity(
    s: WorkspaceScope,
    Path((_, raw)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    let sev = severity(&raw)?;
    reset(s, Some(sev)).await
}

#[utoipa::path(
    delete,
    path = "/v1/workspaces/{slug}/sla",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "Every override dropped: the workspace follows the template"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn reset_workspace_sla(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    reset(s, None).await
}

async fn reset(s: WorkspaceScope, sev: Option<Severity>) -> ApiResult<Json<Value>> {
    let slug = s.slug().clone();
    let v = blocking(move || {
        Ok(policy::reset_workspace_targets(
            &mut s.principal.app()?,
            &slug,
            sev,
        )?)
    })
    .await?;
    Ok(changed(v))
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/calendar",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "`zone`, `hours`, `holidays`"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn show_calendar(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    let slug = s.slug().clone();
    let (own, _) = blocking(move || Ok(policy::show(&mut s.principal.app()?, &slug)?)).await?;
    Ok(Json(json!(own.calendar)))
}

#[utoipa::path(
    put,
    path = "/v1/workspaces/{slug}/calendar",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug")),
    request_body = CalendarBody,
    responses((status = 200, description = "`changed` and the new `policy_version` (null: unchanged)"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace (or another workspace's)", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn set_calendar(
    s: WorkspaceScope,
    Body(b): Body<CalendarBody>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    let bad = |field: &'static str| {
        move |e: seliq_sla::SlaError| ApiError::invalid(field, format!("{field}: {e}"))
    };
    let hours: WeeklyHours = b.hours.parse().map_err(bad("hours"))?;
    let days = b
        .holidays
        .iter()
        .map(|d| seliq_sla::parse_holiday(d).map_err(bad("holidays")))
        .collect::<ApiResult<Vec<_>>>()?;
    let calendar = Calendar::new(&b.zone, hours, days).map_err(bad("zone"))?;
    let slug = s.slug().clone();
    let v = blocking(move || {
        Ok(policy::set_calendar(
            &mut s.principal.app()?,
            &slug,
            calendar,
        )?)
    })
    .await?;
    Ok(changed(v))
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/assignment",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug")),
    responses((status = 200, description = "`assignment`: in the shape PUT takes, or null"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace (or another workspace's)", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn show_assignment(s: WorkspaceScope) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Read)?;
    let slug = s.slug().clone();
    let (own, _) = blocking(move || Ok(policy::show(&mut s.principal.app()?, &slug)?)).await?;
    let spec = own.assignment.as_ref().map(AssignmentSpec::from);
    Ok(Json(json!({ "assignment": spec })))
}

#[utoipa::path(
    put,
    path = "/v1/workspaces/{slug}/assignment",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug")),
    request_body = AssignmentSpec,
    responses((status = 200, description = "`changed` and the new `policy_version` (null: unchanged)"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace (or another workspace's)", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn set_assignment(
    s: WorkspaceScope,
    Body(b): Body<AssignmentSpec>,
) -> ApiResult<Json<Value>> {
    s.principal.require(TokenScope::Admin)?;
    let assignment = b
        .build()
        .map_err(|e| ApiError::invalid(e.field, format!("{}: {}", e.field, e.detail)))?;
    let slug = s.slug().clone();
    let v = blocking(move || {
        Ok(policy::set_assignment(
            &mut s.principal.app()?,
            &slug,
            assignment,
        )?)
    })
    .await?;
    Ok(changed(v))
}

#[utoipa::path(
    get,
    path = "/v1/workspaces/{slug}/sla/report",
    tag = "sla",
    params(("slug" = String, Path, description = "Workspace slug"), ReportQuery),
    responses((status = 200, description = "The report, byte for byte what `sla report` prints (CSV, JSON, or one self-contained HTML file)"), (status = 401, description = "Missing, invalid, revoked or expired token", body = super::openapi::Problem), (status = 403, description = "The token's scope is too small", body = super::openapi::Problem), (status = 404, description = "No such workspace (or another workspace's)", body = super::openapi::Problem), (status = 422, description = "Invalid request; `field` names it", body = super::openapi::Problem)),
    security(("bearer" = []))
)]
pub async fn sla_report(
    s: WorkspaceScope,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    s.principal.require(TokenScope::Read)?;
    let q = query(q)?;
    let (format, content_type, ext) = match q.format.as_deref().unwrap_or("csv") {
        "csv" => (ReportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        "json" => (ReportFormat::Json, "application/json", "json"),
        "html" => (ReportFormat::Html, "text/html; charset=utf-8", "html"),
        other => {
            return Err(ApiError::invalid(
                "format",
                format!("format {other:?} is unknown; use csv, json or html"),
            ));
        }
    };
    let now = chrono::Utc::now();
    let since = parse_time("since", q.since.as_deref().unwrap_or("30d"), now)
        .map_err(field_err("since"))?;
    let until = q
        .until
        .as_deref()
        .map(|u| parse_time("until", u, now))
        .transpose()
        .map_err(field_err("until"))?
        .unwrap_or(now);
    let slug = s.slug().clone();
    let file = format!("{slug}-sla-report.{ext}");
    let (text, _) = blocking(move || {
        report::generate(&mut s.principal.app()?, &slug, since, until, format, None)
            .map_err(field_err("since"))
    })
    .await?;
    let mut resp = (StatusCode::OK, text.unwrap_or_default()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
