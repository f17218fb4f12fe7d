//! The per-workspace credential vault (DESIGN.md §3, "no shared pool").
//!
//! Key hierarchy: one master key (KEK) wraps one random data key (DEK) per workspace and DEK
//! version; each credential version is sealed under its workspace's current DEK. Credentials are
//! reachable only through a [`WorkspaceVault`], which holds the keys of exactly one workspace.

mod aead;
mod files;
mod master_key;
mod workspace_vault;

use std::sync::Arc;

use chrono::Utc;
use thiserror::Error;
use uuid::Uuid;

pub use files::{check_private, write_atomic};
pub use master_key::MasterKey;
pub use workspace_vault::{CredentialContext, WorkspaceVault};

use crate::store::{DekRow, StoreError, Tx};
use aead::{KeyBytes, associated_data, random_key};

/// Rotate a workspace's DEK after this many seals (NIST SP 800-38D caps random-nonce GCM at
/// 2^32 messages per key; 2^30 keeps a wide margin).
pub const DEFAULT_SEAL_LIMIT: u64 = 1 << 30;

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("master key from {origin} is invalid: {reason}")]
    BadMasterKey { origin: String, reason: String },
    #[error("key file {path} is readable by group or others; restrict it with `chmod 600 {path}`")]
    KeyFilePermissions { path: String },
    #[error("cannot use key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    /// Deliberately one opaque error, whatever the cause (wrong workspace, integration, version,
    /// tampering): an attacker learns nothing from which check failed.
    #[error("the credential cannot be opened in this workspace")]
    CannotOpen,
    #[error(
        "the data keys of workspace {workspace_id} do not open under master key {kek_id}; is SELIQ_MASTER_KEY the key this data dir was initialised with?"
    )]
    WrongMasterKey { workspace_id: Uuid, kek_id: String },
    #[error("the OS random number generator failed")]
    Rng,
    #[error("encryption failed")]
    Crypto,
    #[error("injected failure after {0} data keys (test hook)")]
    Injected(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The vault: the master key plus policy. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Vault {
    master: Arc<MasterKey>,
    seal_limit: u64,
}

const DEK_LABEL: &[u8] = b"seliq.dek.v1";

fn dek_aad(workspace_id: Uuid, version: u32, kek_id: &str) -> Vec<u8> {
    associated_data(&[
        DEK_LABEL,
        workspace_id.as_bytes(),
        &version.to_be_bytes(),
        kek_id.as_bytes(),
    ])
}

impl Vault {
    pub fn new(master: MasterKey) -> Vault {
        Vault {
            master: Arc::new(master),
            seal_limit: DEFAULT_SEAL_LIMIT,
        }
    }

    /// Lower the DEK rotation threshold (tests).
    pub fn with_seal_limit(mut self, limit: u64) -> Vault {
        self.seal_limit = limit;
        self
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Create DEK version `version` for a workspace, stored wrapped under the KEK.
    pub(crate) fn create_dek(
        &self,
        tx: &Tx<'_>,
        workspace_id: Uuid,
        version: u32,
    ) -> Result<KeyBytes, VaultError> {
        let dek = random_key()?;
        let kek_id = self.master.id().to_owned();
        let wrapped = self
            .master
            .cipher()
            .seal(&dek_aad(workspace_id, version, &kek_id), dek.as_ref())?;
        tx.insert_dek(&DekRow {
            workspace_id,
            version,
            kek_id,
            wrapped,
            seals: 0,
            created_at: Utc::now(),
        })?;
        Ok(dek)
    }

    /// Called in the transaction that creates the workspace.
    pub fn init_workspace(&self, tx: &Tx<'_>, workspace_id: Uuid) -> Result<(), VaultError> {
        self.create_dek(tx, workspace_id, 1).map(drop)
    }

    fn unwrap_dek(&self, row: &DekRow) -> Result<KeyBytes, VaultError> {
        let wrong = || VaultError::WrongMasterKey {
            workspace_id: row.workspace_id,
            kek_id: self.master.id().to_owned(),
        };
        if row.kek_id != self.master.id() {
            return Err(wrong());
        }
        let plain = self
            .master
            .cipher()
            .open(
                &dek_aad(row.workspace_id, row.version, &row.kek_id),
                &row.wrapped,
            )
            .map_err(|_| wrong())?;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| wrong())?;
        Ok(zeroize::Zeroizing::new(bytes))
    }

    /// The handle for one workspace: unwraps that workspace's DEKs and nobody else's.
    pub fn workspace(&self, tx: &Tx<'_>, workspace_id: Uuid) -> Result<WorkspaceVault, VaultError> {
        let rows = tx.deks(workspace_id)?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.push((row.version, self.unwrap_dek(row)?));
        }
        Ok(WorkspaceVault::new(self.clone(), workspace_id, keys))
    }

    /// Crypto-shredding: destroy every DEK of a workspace. Its credential rows must be deleted in
    /// the same transaction (the caller deletes the integrations).
    pub fn shred_workspace(&self, tx: &Tx<'_>, workspace_id: Uuid) -> Result<(), VaultError> {
        tx.destroy_deks(workspace_id)?;
        Ok(())
    }

    /// Rewrap every DEK under `new`, inside the caller's transaction; credential ciphertexts are
    /// untouched. `fail_after` injects a failure after that many DEKs (tests of the rollback).
    pub fn rotate_master_key(
        &self,
        tx: &Tx<'_>,
        new: &MasterKey,
        fail_after: Option<usize>,
    ) -> Result<usize, VaultError> {
        let rows = tx.all_deks()?;
        for (i, row) in rows.iter().enumerate() {
            if fail_after == Some(i) {
                return Err(VaultError::Injected(i));
            }
            let dek = self.unwrap_dek(row)?;
            let wrapped = new.cipher().seal(
                &dek_aad(row.workspace_id, row.version, new.id()),
                dek.as_ref(),
            )?;
            tx.rewrap_dek(row.workspace_id, row.version, new.id(), &wrapped)?;
        }
        Ok(rows.len())
    }
}
