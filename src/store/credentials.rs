//! Sealed credential versions. Only ciphertext blobs live here; the vault seals and opens them.

use super::sql::{DbResult, OptionalExt, Row, args};
use chrono::{DateTime, Utc};

use super::{ReadTx, Result, StoreError, WriteTx, corrupt, unique_or};
use crate::ids::{CredentialVersion, IntegrationId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialState {
    Pending,
    Current,
    Previous,
}

impl CredentialState {
    fn as_str(self) -> &'static str {
        match self {
            CredentialState::Pending => "pending",
            CredentialState::Current => "current",
            CredentialState::Previous => "previous",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(CredentialState::Pending),
            "current" => Some(CredentialState::Current),
            "previous" => Some(CredentialState::Previous),
            _ => None,
        }
    }
}

/// `Debug` shows the blob length only: ciphertext is not secret, but it has no business in logs.
#[derive(Clone)]
pub struct CredentialRow {
    pub integration_id: IntegrationId,
    pub version: CredentialVersion,
    pub state: CredentialState,
    pub blob: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRow")
            .field("integration_id", &self.integration_id)
            .field("version", &self.version)
            .field("state", &self.state)
            .field("blob_len", &self.blob.len())
            .finish()
    }
}

fn from_row(r: &Row<'_>) -> DbResult<CredentialRow> {
    let id: String = r.get(0)?;
    let state: String = r.get(2)?;
    Ok(CredentialRow {
        integration_id: IntegrationId::parse(&id).map_err(|e| corrupt("integration id", e))?,
        version: CredentialVersion::new(r.get(1)?)
            .ok_or_else(|| corrupt("credential version", "0"))?,
        state: CredentialState::parse(&state).ok_or_else(|| corrupt("credential state", &state))?,
        blob: r.get(3)?,
        created_at: r.get(4)?,
    })
}

const COLUMNS: &str = "integration_id, version, state, blob, created_at";

impl ReadTx<'_> {
    pub fn credential(
        &self,
        integration_id: IntegrationId,
        state: CredentialState,
    ) -> Result<Option<CredentialRow>> {
        Ok(self
            .tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM credentials WHERE integration_id = ?1 AND state = ?2"
                ),
                args![integration_id.to_string(), state.as_str()],
                from_row,
            )
            .optional()?)
    }

    pub fn credentials(&self, integration_id: IntegrationId) -> Result<Vec<CredentialRow>> {
        Ok(self.tx.query_map(
            &format!(
                "SELECT {COLUMNS} FROM credentials WHERE integration_id = ?1 ORDER BY version"
            ),
            args![integration_id.to_string()],
            from_row,
        )?)
    }
}

impl ReadTx<'_> {
    /// The current credential version of every integration that has one (no blobs read).
    pub fn current_credential_versions(
        &self,
    ) -> Result<std::collections::HashMap<IntegrationId, CredentialVersion>> {
        let rows = self.tx.query_map(
            "SELECT integration_id, version FROM credentials WHERE state = 'current'",
            &[],
            |r| {
                let id: String = r.get(0)?;
                Ok((
                    IntegrationId::parse(&id).map_err(|e| corrupt("integration id", e))?,
                    CredentialVersion::new(r.get(1)?)
                        .ok_or_else(|| corrupt("credential version", "0"))?,
                ))
            },
        )?;
        Ok(rows.into_iter().collect())
    }
}

impl WriteTx<'_> {
    pub fn insert_credential(&self, c: &CredentialRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO credentials (integration_id, version, state, blob, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![c.integration_id.to_string(), c.version.get(), c.state.as_str(), c.blob, c.created_at],
            )
            .map_err(|e| unique_or(e, || "another credential rotation of this integration is in progress".to_owned()))?;
        Ok(())
    }

    /// Compare-and-set promotion: pending `new` becomes current only while `old` is still current.
    /// `old` becomes previous; every older version is destroyed.
    pub fn promote_credential(
        &self,
        integration_id: IntegrationId,
        old: CredentialVersion,
        new: CredentialVersion,
    ) -> Result<()> {
        let id = integration_id.to_string();
        let demoted = self.tx.execute(
            "UPDATE credentials SET state = 'previous' WHERE integration_id = ?1 AND version = ?2 AND state = 'current'",
            args![id, old.get()],
        )?;
        if demoted != 1 {
            return Err(StoreError::Conflict(
                "the credential changed while this rotation was verifying it; nothing was replaced"
                    .to_owned(),
            ));
        }
        let promoted = self.tx.execute(
            "UPDATE credentials SET state = 'current' WHERE integration_id = ?1 AND version = ?2 AND state = 'pending'",
            args![id, new.get()],
        )?;
        if promoted != 1 {
            return Err(StoreError::Conflict(
                "the pending credential of this rotation is gone; another rotation replaced it"
                    .to_owned(),
            ));
        }
        self.tx.execute(
            "DELETE FROM credentials WHERE integration_id = ?1 AND version < ?2",
            args![id, old.get()],
        )?;
        Ok(())
    }

    pub fn delete_credential(
        &self,
        integration_id: IntegrationId,
        version: CredentialVersion,
    ) -> Result<()> {
        self.tx.execute(
            "DELETE FROM credentials WHERE integration_id = ?1 AND version = ?2",
            args![integration_id.to_string(), version.get()],
        )?;
        Ok(())
    }

    /// Rollback: `previous` becomes current again and the rolled-back version is destroyed.
    pub fn rollback_credential(
        &self,
        integration_id: IntegrationId,
        current: CredentialVersion,
        previous: CredentialVersion,
    ) -> Result<()> {
        let id = integration_id.to_string();
        let n = self.tx.execute(
            "DELETE FROM credentials WHERE integration_id = ?1 AND version = ?2 AND state = 'current'",
            args![id, current.get()],
        )?;
        if n != 1 {
            return Err(StoreError::Conflict(
                "the credential changed during the rollback".to_owned(),
            ));
        }
        self.tx.execute(
            "UPDATE credentials SET state = 'current' WHERE integration_id = ?1 AND version = ?2 AND state = 'previous'",
            args![id, previous.get()],
        )?;
        Ok(())
    }
}
