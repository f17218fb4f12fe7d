//! Durable pull checkpoints, one per integration.

use super::sql::{OptionalExt, args};
use chrono::{DateTime, Utc};
use seliq_connectors::Cursor;

use super::{ReadTx, Result, WriteTx, corrupt};
use crate::ids::IntegrationId;

#[derive(Debug, Clone)]
pub struct CheckpointRow {
    pub integration_id: IntegrationId,
    pub cursor: Cursor,
    /// The file sink this checkpoint was committed against, and its length after the batch.
    pub sink: Option<String>,
    pub sink_offset: Option<u64>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every commit; a commit names the version it started from.
    pub version: u64,
}

impl ReadTx<'_> {
    pub fn checkpoint(&self, integration_id: IntegrationId) -> Result<Option<CheckpointRow>> {
        Ok(self
            .tx
            .query_row(
                "SELECT cursor, sink, sink_offset, updated_at, version FROM checkpoints WHERE integration_id = ?1",
                args![integration_id.to_string()],
                |r| {
                    let cursor: String = r.get(0)?;
                    Ok(CheckpointRow {
                        integration_id,
                        cursor: Cursor::from_json(
                            serde_json::from_str(&cursor).map_err(|e| corrupt("cursor", e))?,
                        ),
                        sink: r.get(1)?,
                        sink_offset: r.get::<Option<i64>>(2)?.map(|v| v as u64),
                        updated_at: r.get(3)?,
                        version: u64::try_from(r.get::<i64>(4)?).unwrap_or(u64::MAX),
                    })
                },
            )
            .optional()?)
    }

    /// The committed length of a file sink, if the gateway has written to it before.
    pub fn sink_offset(&self, path: &str) -> Result<Option<u64>> {
        let v: Option<i64> = self
            .tx
            .query_row(
                "SELECT committed_offset FROM sinks WHERE path = ?1",
                args![path],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map(|v| v as u64))
    }

    /// Every file sink the store records a committed length for.
    pub fn sink_paths(&self) -> Result<Vec<String>> {
        Ok(self
            .tx
            .query_map("SELECT path FROM sinks ORDER BY path", &[], |r| r.get(0))?)
    }
}

impl WriteTx<'_> {
    /// Commit `c` if the stored checkpoint is still at `c.version - 1` (or absent and `c.version`
    /// is 1). False when another writer moved it meanwhile: nothing is written.
    pub fn save_checkpoint_if(&self, c: &CheckpointRow) -> Result<bool> {
        let expected = c.version.saturating_sub(1);
        let current = self
            .tx
            .query_row(
                "SELECT version FROM checkpoints WHERE integration_id = ?1",
                args![c.integration_id.to_string()],
                |r| r.get::<i64>(0),
            )
            .optional()?
            .map(|v| u64::try_from(v).unwrap_or(u64::MAX));
        if current.unwrap_or(0) != expected {
            return Ok(false);
        }
        self.save_checkpoint(c)?;
        Ok(true)
    }

    pub fn save_checkpoint(&self, c: &CheckpointRow) -> Result<()> {
        self.tx.execute(
            "INSERT INTO checkpoints (integration_id, cursor, sink, sink_offset, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (integration_id) DO UPDATE SET cursor = excluded.cursor, sink = excluded.sink,
                 sink_offset = excluded.sink_offset, updated_at = excluded.updated_at,
                 version = excluded.version",
            args![
                c.integration_id.to_string(),
                c.cursor.as_json().to_string(),
                c.sink,
                c.sink_offset.map(|v| v as i64),
                c.updated_at,
                i64::try_from(c.version).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }

    pub fn set_sink_offset(&self, path: &str, offset: u64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO sinks (path, committed_offset) VALUES (?1, ?2)
             ON CONFLICT (path) DO UPDATE SET committed_offset = excluded.committed_offset",
            args![path, offset as i64],
        )?;
        Ok(())
    }
}
