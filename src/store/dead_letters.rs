//! Dead letters: vendor records a connector could not map, kept verbatim with the reason.

use super::sql::args;
use chrono::{DateTime, Utc};

use super::{ReadTx, Result, WriteTx};
use crate::ids::IntegrationId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    pub id: i64,
    pub integration_id: IntegrationId,
    pub at: DateTime<Utc>,
    pub reason: String,
    /// The vendor's record exactly as received (JSON text).
    pub raw: String,
}

impl ReadTx<'_> {
    /// One integration's dead letters, oldest first.
    pub fn dead_letters(&self, integration_id: IntegrationId) -> Result<Vec<DeadLetterRow>> {
        Ok(self.tx.query_map(
            "SELECT id, at, reason, raw FROM dead_letters WHERE integration_id = ?1 ORDER BY id",
            args![integration_id.to_string()],
            |r| {
                Ok(DeadLetterRow {
                    id: r.get(0)?,
                    integration_id,
                    at: r.get(1)?,
                    reason: r.get(2)?,
                    raw: r.get(3)?,
                })
            },
        )?)
    }
}

impl WriteTx<'_> {
    pub fn insert_dead_letter(
        &self,
        integration_id: IntegrationId,
        at: DateTime<Utc>,
        reason: &str,
        raw: &str,
    ) -> Result<()> {
        self.tx.execute(
            "INSERT INTO dead_letters (integration_id, at, reason, raw) VALUES (?1, ?2, ?3, ?4)",
            args![integration_id.to_string(), at, reason, raw],
        )?;
        Ok(())
    }
}
