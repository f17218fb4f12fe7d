//! RFC 9457 problem documents: every error the API returns. Never a secret: details come from
//! the gateway's own messages (which never hold one) or name a field, never a body value.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// The last part of the `type` URI (`urn:seliq:problem:<kind>`).
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// The request field the problem is about, when there is one.
    pub field: Option<String>,
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            title,
            detail: detail.into(),
            field: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid API token",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The token's scope does not allow this",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "The request is invalid",
            detail,
        )
        .field(field)
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "The request is malformed",
            detail,
        )
    }

    pub fn internal() -> ApiError {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the gateway failed to complete the request; its log has the reason (search for this response's x-request-id)",
        )
    }

    /// Remove `secret` from the detail: a body may carry its secret in a wrong field too, and
    /// a validation message quoting that field must not hand it back.
    pub fn hiding(mut self, secret: &secrecy::SecretString) -> ApiError {
        let s = secrecy::ExposeSecret::expose_secret(secret);
        if s.len() >= 4 && self.detail.contains(s) {
            self.detail = self.detail.replace(s, "[REDACTED]");
        }
        self
    }

    /// Name the field this problem is about (kept if one is already named).
    pub fn field(mut self, field: &str) -> ApiError {
        if self.field.is_none() {
            self.field = Some(field.to_owned());
        }
        self
    }
}

/// CLI messages name flags (`--client-id`); the API's fields are `client_id`.
pub fn flags_to_fields(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("--") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
            .unwrap_or(after.len());
        if end == 0 {
            out.push_str("--");
        } else {
            out.push_str(&after[..end].replace('-', "_"));
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match &e {
            Error::Invalid(_) | Error::Slug(_) | Error::Settings(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "The request is invalid",
                flags_to_fields(&e.to_string()),
            ),
            Error::Connector(seliq_connectors::ConnectorError::Settings(_)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "The request is invalid",
                flags_to_fields(&e.to_string()),
            )
            .field("settings"),
            Error::Conflict(m) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", m.clone())
            }
            Error::NotFound(m) => ApiError::not_found(m.clone()),
            Error::Connector(c) if c.is_credential_rejected() => ApiError::new(
                StatusCode::FAILED_DEPENDENCY,
                "credential-rejected",
                "The vendor rejected the credential",
                e.to_string(),
            ),
            Error::Connector(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "vendor-unavailable",
                "The vendor could not be reached or answered with an error",
                e.to_string(),
            ),
            Error::Runtime(m) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                m.clone(),
            ),
            Error::NotInitialised(_) | Error::Partial(_) | Error::Store(_) | Error::Vault(_) => {
                tracing::error!(error = %e, "API request failed");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:seliq:problem:{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            // Belt and braces: every live integration's secret and credential patterns.
            "detail": seliq_connectors::redact::scrub_for_log(&self.detail),
        });
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        let mut resp = (self.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"seliq-gateway\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_field_names() {
        assert_eq!(
            flags_to_fields("--kind crowdstrike needs --client-id"),
            "kind crowdstrike needs client_id"
        );
        assert_eq!(flags_to_fields("a -- b"), "a -- b");
        assert_eq!(flags_to_fields("no flags"), "no flags");
    }
}
