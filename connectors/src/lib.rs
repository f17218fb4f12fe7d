#![forbid(unsafe_code)]
//! The connector side of Seliq Gateway: the [`Connector`] trait every vendor implements, the
//! normalised [`Alert`], canonical [`SourceId`]s for the binding guard, the one shared HTTP layer
//! (timeouts, retry, rate limits, token cache) and the three vendor modules.
//!
//! This crate never touches the gateway's store or vault: it receives validated settings and a
//! `SecretString`, and hands back alerts and an opaque cursor.

pub mod alert;
pub mod connector;
pub mod crowdstrike;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod glob;
pub mod http;
pub mod redact;
pub mod registry;
pub mod sentinel;
pub mod settings;
pub mod source_id;
pub mod splunk;

pub use alert::{ALERT_SCHEMA, Alert, Severity, Stage};
pub use connector::{Batch, Budget, Connector, Cursor, Quarantined};
pub use error::{ConnectorError, SettingsError};
pub use redact::{Redacting, Redactor};
pub use registry::{Kind, Params, Settings, build};
pub use source_id::SourceId;
