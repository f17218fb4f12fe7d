//! The OpenAPI 3.1 description of `/v1`, generated from the handlers' annotations (utoipa) and
//! served at `GET /v1/openapi.json` (no token needed: it holds no data).

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::handlers;

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `urn:seliq:problem:<kind>`, e.g. `urn:seliq:problem:credential-rejected`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// One sentence; never a secret.
    pub detail: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("slq_<id>_<secret>_<check>")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Seliq Gateway management API",
        description = "Workspaces, integrations, credentials, status, audit and SLA policies of a Seliq Gateway. Errors are RFC 9457 problem documents."
    ),
    paths(
        handlers::list_workspaces,
        handlers::create_workspace,
        handlers::show_workspace,
        handlers::delete_workspace,
        handlers::list_integrations,
        handlers::add_integration,
        handlers::show_integration,
        handlers::remove_integration,
        handlers::test_integration,
        handlers::resume_integration,
        handlers::rotate_credential,
        handlers::rollback_credential,
        handlers::status_all,
        handlers::status_workspace,
        handlers::audit_export,
        handlers::audit_verify,
        handlers::gateway_audit_export,
        handlers::gateway_audit_verify,
        super::sla::show_template,
        super::sla::set_template,
        super::sla::show_workspace_sla,
        super::sla::set_workspace_sla,
        super::sla::reset_workspace_severity,
        super::sla::reset_workspace_sla,
        super::sla::show_calendar,
        super::sla::set_calendar,
        super::sla::show_assignment,
        super::sla::set_assignment,
        super::sla::sla_report,
    ),
    components(schemas(Problem)),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The document as committed in the repository root (`openapi.json`), pretty-printed.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| unreachable!("the generated document always serialises: {e}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    /// `openapi.json` is generated from the code; this fails when the committed copy is stale.
    /// Refresh it with `SELIQ_WRITE_OPENAPI=1 cargo test -p seliq-gateway --lib openapi`.
    #[test]
    fn the_committed_openapi_json_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let fresh = super::document();
        if std::env::var_os("SELIQ_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == fresh,
            "openapi.json is stale: run SELIQ_WRITE_OPENAPI=1 cargo test -p seliq-gateway --lib openapi"
        );
    }
}
