//! The per-workspace credential vault (ARCHITECTURE.md, invariant 1: no shared pool).
//!
//! Key hierarchy: one master key (KEK) wraps one random data key (DEK) per workspace and DEK
//! version; each credential version is sealed under its workspace's current DEK. Credentials are
//! reachable only through a [`WorkspaceVault`], which holds the keys of exactly one workspace.
//!
//! A `WorkspaceVault` comes only from a `LiveWorkspace` the store resolved in the same
//! transaction; a bare id does not compile:
//!
//! ```compile_fail
//! # use seliq_gateway::{ids::WorkspaceId, store::ReadTx, vault::Vault};
//! # fn f(vault: &Vault, tx: &ReadTx<'_>) {
//! let _ = vault.workspace(tx, WorkspaceId::new());
//! # }
//! ```
//!
//! ```
//! # use seliq_gateway::{ids::WorkspaceId, store::ReadTx, vault::Vault};
//! # fn f(vault: &Vault, tx: &ReadTx<'_>, id: WorkspaceId) {
//! if let Ok(Some(live)) = tx.live_workspace(id) {
//!     let _ = vault.workspace(tx, &live);
//! }
//! # }
//! ```

mod aead;
mod files;
mod master_key;
mod workspace_vault;

use std::sync::Arc;

use chrono::Utc;
use thiserror::Error;

pub use files::{check_private, write_atomic};
pub use master_key::MasterKey;
pub use workspace_vault::{CredentialContext, WorkspaceVault};

use crate::ids::WorkspaceId;
use crate::store::{DekRow, GatewayKeyRow, LiveWorkspace, ReadTx, StoreError, WriteTx};
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
    WrongMasterKey {
        workspace_id: WorkspaceId,
        kek_id: String,
    },
    /// The gateway's own key (the audit key) does not open under the loaded master key.
    #[error(
        "the gateway's {purpose} key does not open under master key {kek_id}; is SELIQ_MASTER_KEY the key this data dir was initialised with?"
    )]
    WrongMasterKeyForGatewayKey { purpose: String, kek_id: String },
    /// The store names another master key as current: a rotation committed while this process
    /// held the old key. Nothing is written under a retired key.
    #[error(
        "the master key was rotated while this command ran (the data dir is now under key {current}, this process loaded {loaded}); run the command again"
    )]
    StaleMasterKey { loaded: String, current: String },
    #[error("the OS random number generator failed")]
    Rng,
    #[error("encryption failed")]
    Crypto,
    /// Only debug and test builds have it (see [`FailAfter`]).
    #[cfg(debug_assertions)]
    #[error("injected failure after {0} data keys (test hook)")]
    Injected(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A test hook for [`Vault::rotate_master_key`]: fail after that many data keys, to prove the
/// rollback. Release builds have only [`FailAfter::never`]: the hook does not exist there.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailAfter(#[cfg(debug_assertions)] Option<usize>);

impl FailAfter {
    pub const fn never() -> FailAfter {
        FailAfter(
            #[cfg(debug_assertions)]
            None,
        )
    }

    #[cfg(debug_assertions)]
    pub const fn after(data_keys: usize) -> FailAfter {
        FailAfter(Some(data_keys))
    }

    #[cfg(debug_assertions)]
    fn check(self, done: usize) -> Result<(), VaultError> {
        match self.0 {
            Some(n) if n == done => Err(VaultError::Injected(done)),
            _ => Ok(()),
        }
    }

    #[cfg(not(debug_assertions))]
    fn check(self, _done: usize) -> Result<(), VaultError> {
        Ok(())
    }
}

/// The vault: the master key plus policy. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Vault {
    master: Arc<MasterKey>,
    seal_limit: u64,
}

const DEK_LABEL: &[u8] = b"seliq.dek.v1";
const GATEWAY_KEY_LABEL: &[u8] = b"seliq.gateway-key.v1";
/// The `gateway_keys` purpose of the audit signing key.
const AUDIT_KEY: &str = "audit";
/// HKDF `info` under which data dirs made before the audit key existed derived their checkpoint
/// key from the master key; such a dir keeps that key (wrapped) so its old checkpoints verify.
const LEGACY_AUDIT_PURPOSE: &[u8] = b"seliq.audit.checkpoint.v1";

fn gateway_key_aad(purpose: &str, key_id: &str, kek_id: &str) -> Vec<u8> {
    associated_data(&[
        GATEWAY_KEY_LABEL,
        purpose.as_bytes(),
        key_id.as_bytes(),
        kek_id.as_bytes(),
    ])
}

fn dek_aad(workspace_id: WorkspaceId, version: u32, kek_id: &str) -> Vec<u8> {
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

    /// Refuse to wrap anything under this process's master key unless the store still names it
    /// as current. Runs inside the caller's write transaction, which holds the database's write
    /// lock, so a rotation cannot commit between this check and the caller's insert.
    pub(crate) fn ensure_current(&self, tx: &ReadTx<'_>) -> Result<(), VaultError> {
        match tx.gateway_key(AUDIT_KEY)? {
            Some(k) if k.kek_id != self.master.id() => Err(VaultError::StaleMasterKey {
                loaded: self.master.id().to_owned(),
                current: k.kek_id,
            }),
            _ => Ok(()),
        }
    }

    /// The audit signing key and its id, created on first use inside the caller's write
    /// transaction: random for a new data dir, or (`legacy`) the key older builds derived from
    /// this master key, so the checkpoints they signed still verify. Independent of the master
    /// key from then on: a rotation only rewraps it, so every old signature stays checkable.
    pub(crate) fn audit_key(
        &self,
        tx: &WriteTx<'_>,
        legacy: bool,
    ) -> Result<(String, KeyBytes), VaultError> {
        if let Some(row) = tx.gateway_key(AUDIT_KEY)? {
            return Ok((row.key_id.clone(), self.unwrap_gateway_key(&row)?));
        }
        self.ensure_current(tx)?;
        let (key_id, key) = if legacy {
            (
                self.master.id().to_owned(),
                self.master.derive_key(LEGACY_AUDIT_PURPOSE),
            )
        } else {
            let key = random_key()?;
            (
                hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(key.as_ref())[..8]),
                key,
            )
        };
        let kek_id = self.master.id().to_owned();
        let wrapped = self
            .master
            .cipher()
            .seal(&gateway_key_aad(AUDIT_KEY, &key_id, &kek_id), key.as_ref())?;
        tx.insert_gateway_key(&GatewayKeyRow {
            purpose: AUDIT_KEY.to_owned(),
            key_id: key_id.clone(),
            kek_id,
            wrapped,
            created_at: Utc::now(),
        })?;
        Ok((key_id, key))
    }

    /// The audit key when it exists (read-only commands never create it).
    pub(crate) fn existing_audit_key(
        &self,
        tx: &ReadTx<'_>,
    ) -> Result<Option<(String, KeyBytes)>, VaultError> {
        match tx.gateway_key(AUDIT_KEY)? {
            Some(row) => Ok(Some((row.key_id.clone(), self.unwrap_gateway_key(&row)?))),
            None => Ok(None),
        }
    }

    fn unwrap_gateway_key(&self, row: &GatewayKeyRow) -> Result<KeyBytes, VaultError> {
        let wrong = || VaultError::WrongMasterKeyForGatewayKey {
            purpose: row.purpose.clone(),
            kek_id: self.master.id().to_owned(),
        };
        if row.kek_id != self.master.id() {
            return Err(VaultError::StaleMasterKey {
                loaded: self.master.id().to_owned(),
                current: row.kek_id.clone(),
            });
        }
        let plain = self
            .master
            .cipher()
            .open(
                &gateway_key_aad(&row.purpose, &row.key_id, &row.kek_id),
                &row.wrapped,
            )
            .map_err(|_| wrong())?;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| wrong())?;
        Ok(zeroize::Zeroizing::new(bytes))
    }

    /// Create DEK version `version` for a workspace, stored wrapped under the KEK.
    pub(crate) fn create_dek(
        &self,
        tx: &WriteTx<'_>,
        workspace_id: WorkspaceId,
        version: u32,
    ) -> Result<KeyBytes, VaultError> {
        self.ensure_current(tx)?;
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
    pub fn init_workspace(
        &self,
        tx: &WriteTx<'_>,
        workspace_id: WorkspaceId,
    ) -> Result<(), VaultError> {
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

    /// The handle for one live workspace (resolved in this transaction): unwraps that
    /// workspace's DEKs and nobody else's.
    pub fn workspace(
        &self,
        tx: &ReadTx<'_>,
        workspace: &LiveWorkspace,
    ) -> Result<WorkspaceVault, VaultError> {
        let workspace_id = workspace.id;
        let rows = tx.deks(workspace_id)?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.push((row.version, self.unwrap_dek(row)?));
        }
        Ok(WorkspaceVault::new(self.clone(), workspace_id, keys))
    }

    /// Crypto-shredding: destroy every DEK of a workspace. Its credential rows must be deleted in
    /// the same transaction (the caller deletes the integrations).
    pub fn shred_workspace(
        &self,
        tx: &WriteTx<'_>,
        workspace_id: WorkspaceId,
    ) -> Result<(), VaultError> {
        tx.destroy_deks(workspace_id)?;
        Ok(())
    }

    /// Rewrap every DEK under `new`, inside the caller's transaction; credential ciphertexts are
    /// untouched. `hook` injects a failure (debug builds; tests of the rollback).
    pub fn rotate_master_key(
        &self,
        tx: &WriteTx<'_>,
        new: &MasterKey,
        hook: FailAfter,
    ) -> Result<usize, VaultError> {
        self.ensure_current(tx)?;
        let rows = tx.all_deks()?;
        for (i, row) in rows.iter().enumerate() {
            hook.check(i)?;
            let dek = self.unwrap_dek(row)?;
            let wrapped = new.cipher().seal(
                &dek_aad(row.workspace_id, row.version, new.id()),
                dek.as_ref(),
            )?;
            tx.rewrap_dek(row.workspace_id, row.version, new.id(), &wrapped)?;
        }
        // The audit key moves with them; its new `kek_id` is what tells every other process
        // that the old master key is retired.
        if let Some(row) = tx.gateway_key(AUDIT_KEY)? {
            let key = self.unwrap_gateway_key(&row)?;
            let wrapped = new.cipher().seal(
                &gateway_key_aad(&row.purpose, &row.key_id, new.id()),
                key.as_ref(),
            )?;
            tx.rewrap_gateway_key(&row.purpose, new.id(), &wrapped)?;
        }
        Ok(rows.len())
    }
}
