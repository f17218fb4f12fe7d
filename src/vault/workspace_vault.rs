//! `WorkspaceVault`: the only way to seal or open a credential, scoped to one workspace.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::aead::{Cipher, KeyBytes, associated_data};
use super::{Vault, VaultError};
use crate::ids::{CredentialVersion, IntegrationId, WorkspaceId};
use crate::store::WriteTx;

/// Blob format: `FORMAT | dek_version (u32 BE) | nonce (12) | ciphertext || tag`.
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const CREDENTIAL_LABEL: &[u8] = b"seliq.credential";

/// What a credential is bound to. All of it goes into the associated data, so a blob copied to
/// another integration, source, version or workspace does not open.
#[derive(Debug, Clone, Copy)]
pub struct CredentialContext<'a> {
    pub integration_id: IntegrationId,
    /// Canonical source identity.
    pub source: &'a str,
    pub version: CredentialVersion,
}

pub struct WorkspaceVault {
    vault: Vault,
    workspace_id: WorkspaceId,
    ciphers: BTreeMap<u32, Cipher>,
}

impl fmt::Debug for WorkspaceVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkspaceVault")
            .field("workspace_id", &self.workspace_id)
            .field("dek_versions", &self.ciphers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WorkspaceVault {
    pub(super) fn new(vault: Vault, workspace_id: WorkspaceId, keys: Vec<(u32, KeyBytes)>) -> Self {
        let ciphers = keys.iter().map(|(v, k)| (*v, Cipher::new(k))).collect();
        WorkspaceVault {
            vault,
            workspace_id,
            ciphers,
        }
    }

    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    fn aad(&self, ctx: &CredentialContext<'_>) -> Vec<u8> {
        associated_data(&[
            CREDENTIAL_LABEL,
            &[FORMAT],
            self.workspace_id.as_bytes(),
            ctx.integration_id.as_bytes(),
            ctx.source.as_bytes(),
            &ctx.version.get().to_be_bytes(),
        ])
    }

    /// Seal a credential under the current DEK, counting the seal; past the limit the workspace
    /// gets a new DEK version (this workspace alone), used from the next seal on.
    pub fn seal(
        &mut self,
        tx: &WriteTx<'_>,
        ctx: &CredentialContext<'_>,
        secret: &SecretString,
    ) -> Result<Vec<u8>, VaultError> {
        let (&version, cipher) = self
            .ciphers
            .last_key_value()
            .ok_or(VaultError::CannotOpen)?;
        let sealed = cipher.seal(&self.aad(ctx), secret.expose_secret().as_bytes())?;
        let mut blob = Vec::with_capacity(HEADER_LEN + sealed.len());
        blob.push(FORMAT);
        blob.extend_from_slice(&version.to_be_bytes());
        blob.extend_from_slice(&sealed);
        if tx.count_seal(self.workspace_id, version)? >= self.vault.seal_limit {
            let next = version + 1;
            let key = self.vault.create_dek(tx, self.workspace_id, next)?;
            self.ciphers.insert(next, Cipher::new(&key));
        }
        Ok(blob)
    }

    /// Open a blob sealed for `ctx` in this workspace. Any mismatch is the same opaque error.
    pub fn open(
        &self,
        ctx: &CredentialContext<'_>,
        blob: &[u8],
    ) -> Result<SecretString, VaultError> {
        if blob.len() < HEADER_LEN || blob[0] != FORMAT {
            return Err(VaultError::CannotOpen);
        }
        let version = u32::from_be_bytes([blob[1], blob[2], blob[3], blob[4]]);
        let cipher = self.ciphers.get(&version).ok_or(VaultError::CannotOpen)?;
        let plain = cipher.open(&self.aad(ctx), &blob[HEADER_LEN..])?;
        let text = std::str::from_utf8(&plain).map_err(|_| VaultError::CannotOpen)?;
        Ok(SecretString::from(text))
    }

    /// The DEK version a blob names (diagnostics and tests).
    pub fn blob_dek_version(blob: &[u8]) -> Option<u32> {
        (blob.len() >= HEADER_LEN).then(|| u32::from_be_bytes([blob[1], blob[2], blob[3], blob[4]]))
    }
}
