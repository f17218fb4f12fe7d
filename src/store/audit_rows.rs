//! Raw audit storage: entries, signed checkpoints and pruned-segment manifests. The chain logic
//! (hashing, verification) lives in `crate::audit`; this file only moves rows.

use super::sql::{DbResult, OptionalExt, Row, args};
use serde::{Deserialize, Serialize};

use super::{ReadTx, Result, WriteTx, corrupt};
use crate::ids::WorkspaceId;

/// One stored audit entry, exactly as hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub workspace_id: WorkspaceId,
    pub seq: u64,
    pub request_id: String,
    /// RFC 3339 UTC with milliseconds, as hashed.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    /// Canonical JSON text, as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A signed statement of the chain head `{workspace, seq, hash, at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    pub workspace_id: WorkspaceId,
    pub seq: u64,
    pub hash: String,
    pub at: String,
    /// Id of the master key the signing key was derived from (a public fingerprint), so a
    /// checkpoint made before a master-key rotation is recognised as such.
    pub key_id: String,
    pub signature: String,
}

/// What remains of a pruned range: enough to re-anchor verification after the gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentManifest {
    pub workspace_id: WorkspaceId,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_hash: String,
    /// The signed checkpoint (JSON) that covered `last_seq` when the segment was sealed.
    pub checkpoint: String,
    pub pruned_at: String,
}

const COLUMNS: &str =
    "workspace_id, seq, request_id, at, actor, action, target, outcome, details, prev_hash, hash";

fn from_row(r: &Row<'_>) -> DbResult<AuditRow> {
    let ws: String = r.get(0)?;
    Ok(AuditRow {
        workspace_id: WorkspaceId::parse(&ws).map_err(|e| corrupt("workspace id", e))?,
        seq: r.get::<i64>(1)? as u64,
        request_id: r.get(2)?,
        at: r.get(3)?,
        actor: r.get(4)?,
        action: r.get(5)?,
        target: r.get(6)?,
        outcome: r.get(7)?,
        details: r.get(8)?,
        prev_hash: r.get(9)?,
        hash: r.get(10)?,
    })
}

const CHECKPOINT_COLUMNS: &str = "seq, hash, at, key_id, signature";

fn checkpoint_from_row(workspace_id: WorkspaceId, r: &Row<'_>) -> DbResult<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        workspace_id,
        seq: r.get::<i64>(0)? as u64,
        hash: r.get(1)?,
        at: r.get(2)?,
        key_id: r.get(3)?,
        signature: r.get(4)?,
    })
}

impl ReadTx<'_> {
    /// The newest entry of a workspace's chain, if any is still stored.
    pub fn audit_head(&self, workspace_id: WorkspaceId) -> Result<Option<AuditRow>> {
        Ok(self
            .tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM audit_entries WHERE workspace_id = ?1 ORDER BY seq DESC LIMIT 1"),
                args![workspace_id.to_string()],
                from_row,
            )
            .optional()?)
    }

    /// Stored entries in `seq` order (physical order is irrelevant: verification follows seq).
    pub fn audit_entries(&self, workspace_id: WorkspaceId) -> Result<Vec<AuditRow>> {
        Ok(self.tx.query_map(
            &format!("SELECT {COLUMNS} FROM audit_entries WHERE workspace_id = ?1 ORDER BY seq"),
            args![workspace_id.to_string()],
            from_row,
        )?)
    }

    pub fn audit_checkpoints(&self, workspace_id: WorkspaceId) -> Result<Vec<StoredCheckpoint>> {
        Ok(self.tx.query_map(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE workspace_id = ?1 ORDER BY seq"
        ), args![workspace_id.to_string()], |r| {
            checkpoint_from_row(workspace_id, r)
        })?)
    }

    /// The newest checkpoint of a workspace (highest seq), if any.
    pub fn audit_last_checkpoint(
        &self,
        workspace_id: WorkspaceId,
    ) -> Result<Option<StoredCheckpoint>> {
        Ok(self
            .tx
            .query_row(
                &format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE workspace_id = ?1 ORDER BY seq DESC LIMIT 1"
                ),
                args![workspace_id.to_string()],
                |r| checkpoint_from_row(workspace_id, r),
            )
            .optional()?)
    }

    /// The checkpoint at exactly `seq`, if one was signed there.
    pub fn audit_checkpoint_at(
        &self,
        workspace_id: WorkspaceId,
        seq: u64,
    ) -> Result<Option<StoredCheckpoint>> {
        Ok(self
            .tx
            .query_row(
                &format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE workspace_id = ?1 AND seq = ?2"
                ),
                args![workspace_id.to_string(), seq as i64],
                |r| checkpoint_from_row(workspace_id, r),
            )
            .optional()?)
    }

    pub fn audit_segments(&self, workspace_id: WorkspaceId) -> Result<Vec<SegmentManifest>> {
        Ok(self.tx.query_map("SELECT first_seq, last_seq, last_hash, checkpoint, pruned_at FROM audit_segments WHERE workspace_id = ?1 ORDER BY first_seq", args![workspace_id.to_string()], |r| {
            Ok(SegmentManifest {
                workspace_id,
                first_seq: r.get::<i64>(0)? as u64,
                last_seq: r.get::<i64>(1)? as u64,
                last_hash: r.get(2)?,
                checkpoint: r.get(3)?,
                pruned_at: r.get(4)?,
            })
        })?)
    }
}

impl WriteTx<'_> {
    pub fn insert_audit(&self, e: &AuditRow) -> Result<()> {
        self.tx.execute(
            &format!("INSERT INTO audit_entries ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            args![
                e.workspace_id.to_string(),
                e.seq as i64,
                e.request_id,
                e.at,
                e.actor,
                e.action,
                e.target,
                e.outcome,
                e.details,
                e.prev_hash,
                e.hash
            ],
        )?;
        Ok(())
    }

    pub fn insert_audit_checkpoint(&self, c: &StoredCheckpoint) -> Result<()> {
        self.tx.execute(
            "INSERT INTO audit_checkpoints (workspace_id, seq, hash, at, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (workspace_id, seq) DO NOTHING",
            args![c.workspace_id.to_string(), c.seq as i64, c.hash, c.at, c.key_id, c.signature],
        )?;
        Ok(())
    }

    /// Record the manifest, then delete the range it covers (the trigger allows nothing else).
    pub fn prune_audit_segment(&self, m: &SegmentManifest) -> Result<usize> {
        self.tx.execute(
            "INSERT INTO audit_segments (workspace_id, first_seq, last_seq, last_hash, checkpoint, pruned_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![m.workspace_id.to_string(), m.first_seq as i64, m.last_seq as i64, m.last_hash, m.checkpoint, m.pruned_at],
        )?;
        Ok(self.tx.execute(
            "DELETE FROM audit_entries WHERE workspace_id = ?1 AND seq BETWEEN ?2 AND ?3",
            args![
                m.workspace_id.to_string(),
                m.first_seq as i64,
                m.last_seq as i64
            ],
        )?)
    }
}
