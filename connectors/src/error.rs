//! Typed errors: one variant per thing a caller can act on. No variant ever carries a secret.

use thiserror::Error;

/// A setting that failed validation. Names the field and the offending value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid {field} {value:?}: {reason}")]
pub struct SettingsError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

impl SettingsError {
    pub fn new(field: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        SettingsError {
            field,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ConnectorError {
    #[error(transparent)]
    Settings(#[from] SettingsError),

    /// The vendor refused the credential (bad secret, revoked client, IP allow-list). Exit 5.
    #[error("{vendor} rejected the credential: {message}")]
    CredentialRejected {
        vendor: crate::Kind,
        message: String,
    },

    /// The credential is valid but lacks a permission the call needs. Exit 5 as well: an admin
    /// has to fix the credential, not retry.
    #[error("{vendor} denied {endpoint}: {message}")]
    PermissionDenied {
        vendor: crate::Kind,
        endpoint: String,
        message: String,
    },

    /// A non-retryable HTTP status, or a retryable one after the retry budget ran out.
    #[error("{vendor} answered HTTP {status} on {endpoint}: {message}{}", trace_suffix(.trace_id))]
    Http {
        vendor: crate::Kind,
        endpoint: String,
        status: u16,
        message: String,
        trace_id: Option<String>,
    },

    /// A 2xx whose body carries vendor errors (CrowdStrike `errors[]`, Splunk `messages`).
    #[error("{vendor} reported an error on {endpoint}: {message}{}", trace_suffix(.trace_id))]
    Vendor {
        vendor: crate::Kind,
        endpoint: String,
        message: String,
        trace_id: Option<String>,
    },

    #[error("{vendor} sent a malformed response on {endpoint}: {reason}")]
    Malformed {
        vendor: crate::Kind,
        endpoint: String,
        reason: String,
    },

    /// Connect failure, reset or timeout after the retry budget ran out.
    #[error("could not reach {vendor} at {endpoint}: {reason}")]
    Transport {
        vendor: crate::Kind,
        endpoint: String,
        reason: String,
    },

    /// The process-wide HTTP client could not be built (TLS roots, settings): no vendor involved.
    #[error("cannot build the HTTP client: {reason}")]
    Client { reason: String },

    /// The stored cursor does not belong to this connector or cannot be read.
    #[error("checkpoint cursor is unreadable: {0}")]
    Cursor(String),
}

impl ConnectorError {
    /// True when the vendor rejected the credential itself; the CLI maps this to exit code 5.
    pub fn is_credential_rejected(&self) -> bool {
        matches!(
            self,
            ConnectorError::CredentialRejected { .. } | ConnectorError::PermissionDenied { .. }
        )
    }
}

fn trace_suffix(trace: &Option<String>) -> String {
    match trace {
        Some(t) => format!(" (trace id {t})"),
        None => String::new(),
    }
}
