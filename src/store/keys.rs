//! Wrapped data keys (DEKs), one row per workspace and version.

use super::sql::{DbResult, OptionalExt, Row, args};
use chrono::{DateTime, Utc};

use super::{ReadTx, Result, WriteTx};
use crate::ids::WorkspaceId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DekRow {
    pub workspace_id: WorkspaceId,
    pub version: u32,
    pub kek_id: String,
    /// nonce || ciphertext || tag of the DEK under the master key.
    pub wrapped: Vec<u8>,
    pub seals: u64,
    pub created_at: DateTime<Utc>,
}

fn from_row(r: &Row<'_>) -> DbResult<DekRow> {
    let ws: String = r.get(0)?;
    Ok(DekRow {
        workspace_id: WorkspaceId::parse(&ws).map_err(|e| super::corrupt("workspace id", e))?,
        version: r.get(1)?,
        kek_id: r.get(2)?,
        wrapped: r.get(3)?,
        seals: r.get::<i64>(4)? as u64,
        created_at: r.get(5)?,
    })
}

/// A gateway-wide key (today the audit signing key), wrapped under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayKeyRow {
    pub purpose: String,
    /// A public fingerprint of the key itself; stays the same across master-key rotations.
    pub key_id: String,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "workspace_id, version, kek_id, wrapped, seals, created_at";

impl ReadTx<'_> {
    /// Every DEK version of one workspace, oldest first.
    pub fn deks(&self, workspace_id: WorkspaceId) -> Result<Vec<DekRow>> {
        Ok(self.tx.query_map(
            &format!(
                "SELECT {COLUMNS} FROM workspace_keys WHERE workspace_id = ?1 ORDER BY version"
            ),
            args![workspace_id.to_string()],
            from_row,
        )?)
    }

    /// Every DEK of every workspace (master-key rotation only).
    pub fn all_deks(&self) -> Result<Vec<DekRow>> {
        Ok(self.tx.query_map(
            &format!("SELECT {COLUMNS} FROM workspace_keys ORDER BY workspace_id, version"),
            &[],
            from_row,
        )?)
    }

    /// The distinct master-key ids the stored DEKs are wrapped under.
    pub fn dek_key_ids(&self) -> Result<Vec<String>> {
        Ok(self.tx.query_map(
            "SELECT DISTINCT kek_id FROM workspace_keys ORDER BY kek_id",
            &[],
            |r| r.get(0),
        )?)
    }

    pub fn gateway_key(&self, purpose: &str) -> Result<Option<GatewayKeyRow>> {
        Ok(self
            .tx
            .query_row(
                "SELECT purpose, key_id, kek_id, wrapped, created_at FROM gateway_keys WHERE purpose = ?1",
                args![purpose],
                |r| {
                    Ok(GatewayKeyRow {
                        purpose: r.get(0)?,
                        key_id: r.get(1)?,
                        kek_id: r.get(2)?,
                        wrapped: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// The master-key ids the gateway keys are wrapped under.
    pub fn gateway_key_kek_ids(&self) -> Result<Vec<String>> {
        Ok(self.tx.query_map(
            "SELECT DISTINCT kek_id FROM gateway_keys ORDER BY kek_id",
            &[],
            |r| r.get(0),
        )?)
    }
}

impl WriteTx<'_> {
    /// Count one seal against a DEK version; returns the new count.
    pub fn count_seal(&self, workspace_id: WorkspaceId, version: u32) -> Result<u64> {
        let n: Option<i64> = self
            .tx
            .query_row(
                "UPDATE workspace_keys SET seals = seals + 1 WHERE workspace_id = ?1 AND version = ?2 RETURNING seals",
                args![workspace_id.to_string(), version],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.unwrap_or(0) as u64)
    }

    pub fn insert_dek(&self, d: &DekRow) -> Result<()> {
        self.tx.execute(
            "INSERT INTO workspace_keys (workspace_id, version, kek_id, wrapped, seals, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![d.workspace_id.to_string(), d.version, d.kek_id, d.wrapped, d.seals as i64, d.created_at],
        )?;
        Ok(())
    }

    pub fn rewrap_dek(
        &self,
        workspace_id: WorkspaceId,
        version: u32,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<()> {
        self.tx.execute(
            "UPDATE workspace_keys SET kek_id = ?3, wrapped = ?4 WHERE workspace_id = ?1 AND version = ?2",
            args![workspace_id.to_string(), version, kek_id, wrapped],
        )?;
        Ok(())
    }

    pub fn insert_gateway_key(&self, k: &GatewayKeyRow) -> Result<()> {
        self.tx.execute(
            "INSERT INTO gateway_keys (purpose, key_id, kek_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            args![k.purpose, k.key_id, k.kek_id, k.wrapped, k.created_at],
        )?;
        Ok(())
    }

    pub fn rewrap_gateway_key(&self, purpose: &str, kek_id: &str, wrapped: &[u8]) -> Result<()> {
        self.tx.execute(
            "UPDATE gateway_keys SET kek_id = ?2, wrapped = ?3 WHERE purpose = ?1",
            args![purpose, kek_id, wrapped],
        )?;
        Ok(())
    }

    /// Crypto-shredding: without its DEKs no credential of the workspace can ever be opened.
    pub fn destroy_deks(&self, workspace_id: WorkspaceId) -> Result<usize> {
        Ok(self.tx.execute(
            "DELETE FROM workspace_keys WHERE workspace_id = ?1",
            args![workspace_id.to_string()],
        )?)
    }
}
