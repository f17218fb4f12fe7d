//! Operational state of each integration: the last poll, the next one, suspension.

use super::sql::{DbResult, OptionalExt, Row, args};
use chrono::{DateTime, Utc};

use super::{ReadTx, Result, WriteTx};
use crate::ids::{CredentialVersion, IntegrationId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationStateRow {
    pub integration_id: IntegrationId,
    pub last_poll_start: Option<DateTime<Utc>>,
    pub last_poll_end: Option<DateTime<Utc>>,
    /// `ok`, `failed` or `rejected`.
    pub last_outcome: Option<String>,
    pub last_alerts: u64,
    /// One sentence, never a secret (connector errors are redacted before they get here).
    pub last_error: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    /// The newest vendor last-modified time emitted so far: the lag is measured from it.
    pub newest_updated_at: Option<DateTime<Utc>>,
    pub next_poll: Option<DateTime<Utc>>,
    pub failures: u32,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspended_reason: Option<String>,
    pub suspended_credential_version: Option<CredentialVersion>,
}

impl IntegrationStateRow {
    /// The state of an integration that has never been polled.
    pub fn new(integration_id: IntegrationId) -> IntegrationStateRow {
        IntegrationStateRow {
            integration_id,
            last_poll_start: None,
            last_poll_end: None,
            last_outcome: None,
            last_alerts: 0,
            last_error: None,
            last_success: None,
            newest_updated_at: None,
            next_poll: None,
            failures: 0,
            suspended_at: None,
            suspended_reason: None,
            suspended_credential_version: None,
        }
    }
}

const COLUMNS: &str = "integration_id, last_poll_start, last_poll_end, last_outcome, last_alerts, last_error, last_success, newest_updated_at, next_poll, failures, suspended_at, suspended_reason, suspended_credential_version";

fn from_row(r: &Row<'_>) -> DbResult<IntegrationStateRow> {
    let id: String = r.get(0)?;
    Ok(IntegrationStateRow {
        integration_id: IntegrationId::parse(&id)
            .map_err(|e| super::corrupt("integration id", e))?,
        last_poll_start: r.get(1)?,
        last_poll_end: r.get(2)?,
        last_outcome: r.get(3)?,
        last_alerts: u64::try_from(r.get::<i64>(4)?).unwrap_or(0),
        last_error: r.get(5)?,
        last_success: r.get(6)?,
        newest_updated_at: r.get(7)?,
        next_poll: r.get(8)?,
        failures: u32::try_from(r.get::<i64>(9)?).unwrap_or(u32::MAX),
        suspended_at: r.get(10)?,
        suspended_reason: r.get(11)?,
        suspended_credential_version: r
            .get::<Option<i64>>(12)?
            .and_then(|v| u32::try_from(v).ok())
            .and_then(CredentialVersion::new),
    })
}

impl ReadTx<'_> {
    pub fn integration_state(
        &self,
        integration_id: IntegrationId,
    ) -> Result<Option<IntegrationStateRow>> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM integration_state WHERE integration_id = ?1"),
                args![integration_id.to_string()],
                from_row,
            )
            .optional()?)
    }
}

impl ReadTx<'_> {
    /// The stored state of every integration that has one.
    pub fn integration_states(
        &self,
    ) -> Result<std::collections::HashMap<IntegrationId, IntegrationStateRow>> {
        let rows = self.tx.query_map(
            &format!("SELECT {COLUMNS} FROM integration_state"),
            &[],
            from_row,
        )?;
        Ok(rows.into_iter().map(|r| (r.integration_id, r)).collect())
    }
}

impl WriteTx<'_> {
    pub fn save_integration_state(&self, s: &IntegrationStateRow) -> Result<()> {
        self.tx.execute(
            &format!(
                "INSERT INTO integration_state ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (integration_id) DO UPDATE SET last_poll_start = excluded.last_poll_start,
                   last_poll_end = excluded.last_poll_end, last_outcome = excluded.last_outcome,
                   last_alerts = excluded.last_alerts, last_error = excluded.last_error,
                   last_success = excluded.last_success, newest_updated_at = excluded.newest_updated_at,
                   next_poll = excluded.next_poll, failures = excluded.failures,
                   suspended_at = excluded.suspended_at, suspended_reason = excluded.suspended_reason,
                   suspended_credential_version = excluded.suspended_credential_version"
            ),
            args![
                s.integration_id.to_string(),
                s.last_poll_start,
                s.last_poll_end,
                s.last_outcome,
                i64::try_from(s.last_alerts).unwrap_or(i64::MAX),
                s.last_error,
                s.last_success,
                s.newest_updated_at,
                s.next_poll,
                i64::from(s.failures),
                s.suspended_at,
                s.suspended_reason,
                s.suspended_credential_version.map(|v| i64::from(v.get())),
            ],
        )?;
        Ok(())
    }

    pub fn set_poll_interval(&self, integration_id: IntegrationId, secs: u64) -> Result<()> {
        self.tx.execute(
            "UPDATE integrations SET poll_interval_secs = ?2 WHERE id = ?1",
            args![
                integration_id.to_string(),
                i64::try_from(secs).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }
}
