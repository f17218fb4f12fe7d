//! SLA due times and analyst routing on every alert (issue 19).
//!
//! The rules themselves (targets, business calendars, routing models) are pure functions in the
//! `seliq-sla` crate. This module is where they meet the gateway: [`policy`] reads and changes the
//! versioned, audited policies in the store, and [`stamp`] turns a batch of alerts into the
//! `sla`/`routing` fields of their lines and the ledger rows committed with the batch.

pub mod policy;
pub mod report;
pub mod stamp;

pub use policy::{WorkspacePolicy, effective};
pub use stamp::{Ledger, Stamped, Stamper};

use chrono::{DateTime, Utc};
use seliq_connectors::Severity;

/// The same instant as a `seliq_sla::Timestamp`; `None` only outside jiff's range (±9999 years).
pub(crate) fn to_ts(t: DateTime<Utc>) -> Option<seliq_sla::Timestamp> {
    seliq_sla::Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32).ok()
}

pub(crate) fn from_ts(t: seliq_sla::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
}

pub(crate) fn severity(s: Severity) -> seliq_sla::Severity {
    match s {
        Severity::Informational => seliq_sla::Severity::Informational,
        Severity::Low => seliq_sla::Severity::Low,
        Severity::Medium => seliq_sla::Severity::Medium,
        Severity::High => seliq_sla::Severity::High,
        Severity::Critical => seliq_sla::Severity::Critical,
    }
}
