//! Signed checkpoints of a chain head `{workspace, seq, hash, time}`: HMAC-SHA256 under the
//! gateway's audit signing key (random, stored wrapped under the master key and rewrapped on
//! rotation, so every signature stays checkable after any number of rotations). A plain hash chain cannot show that its tail was cut off;
//! a checkpoint signed at seq N can, as long as it outlives the entries it covers.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::WorkspaceId;
use crate::store::StoredCheckpoint;
use crate::vault::MasterKey;

/// HKDF `info` of the checkpoint key: never the KEK itself, and never a key used elsewhere.
const KEY_PURPOSE: &[u8] = b"seliq.audit.checkpoint.v1";
/// Domain tags of the signed messages, so a checkpoint MAC can never pass as an export-header MAC.
const CHECKPOINT_TAG: &str = "seliq.audit.checkpoint.v1";
const HEADER_TAG: &str = "seliq.audit.export-header.v1";

/// Sign a checkpoint every this many entries (besides every export and every prune).
pub const CHECKPOINT_INTERVAL: u64 = 64;

type HmacSha256 = Hmac<Sha256>;

/// A signed chain head, as stored and as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub workspace: WorkspaceId,
    pub seq: u64,
    pub hash: String,
    pub at: String,
    pub key_id: String,
    pub signature: String,
}

impl From<StoredCheckpoint> for Checkpoint {
    fn from(c: StoredCheckpoint) -> Self {
        Checkpoint {
            workspace: c.workspace_id,
            seq: c.seq,
            hash: c.hash,
            at: c.at,
            key_id: c.key_id,
            signature: c.signature,
        }
    }
}

impl From<&Checkpoint> for StoredCheckpoint {
    fn from(c: &Checkpoint) -> Self {
        StoredCheckpoint {
            workspace_id: c.workspace,
            seq: c.seq,
            hash: c.hash.clone(),
            at: c.at.clone(),
            key_id: c.key_id.clone(),
            signature: c.signature.clone(),
        }
    }
}

/// Signs and checks checkpoints. Cheap to clone; the key never shows in Debug output.
#[derive(Clone)]
pub struct CheckpointSigner {
    key: Arc<Zeroizing<[u8; 32]>>,
    key_id: String,
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key_id", &self.key_id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn checkpoint_message(workspace: WorkspaceId, seq: u64, hash: &str, at: &str) -> String {
    format!("{CHECKPOINT_TAG}\n{workspace}\n{seq}\n{hash}\n{at}\n")
}

impl CheckpointSigner {
    /// The signer with the gateway's audit key (see `Vault::audit_key`).
    pub fn from_key(key: Zeroizing<[u8; 32]>, key_id: String) -> CheckpointSigner {
        CheckpointSigner {
            key: Arc::new(key),
            key_id,
        }
    }

    /// The key data dirs made before the stored audit key derived from their master key; what
    /// `Vault::audit_key` adopts for them. Tests use it for a throwaway signer.
    pub fn legacy(master: &MasterKey) -> CheckpointSigner {
        CheckpointSigner {
            key: Arc::new(master.derive_key(KEY_PURPOSE)),
            key_id: master.id().to_owned(),
        }
    }

    /// The public fingerprint of the audit key (unchanged by master-key rotation).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn mac(&self) -> HmacSha256 {
        // Proven invariant: HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(self.key.as_slice()).expect("HMAC accepts keys of any length")
    }

    fn tag(&self, message: &str) -> String {
        let mut mac = self.mac();
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a hex tag over `message`.
    fn check(&self, message: &str, signature: &str) -> bool {
        let Ok(sig) = hex::decode(signature) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(message.as_bytes());
        mac.verify_slice(&sig).is_ok()
    }

    pub fn sign(&self, workspace: WorkspaceId, seq: u64, hash: &str, at: &str) -> Checkpoint {
        Checkpoint {
            workspace,
            seq,
            hash: hash.to_owned(),
            at: at.to_owned(),
            key_id: self.key_id.clone(),
            signature: self.tag(&checkpoint_message(workspace, seq, hash, at)),
        }
    }

    /// `true` when this signer made `c`. A checkpoint of another key id is never accepted here.
    pub fn verifies(&self, c: &Checkpoint) -> bool {
        c.key_id == self.key_id
            && self.check(
                &checkpoint_message(c.workspace, c.seq, &c.hash, &c.at),
                &c.signature,
            )
    }

    /// MAC of an export header's canonical text (see `bundle.rs`).
    pub(crate) fn sign_header(&self, canonical: &str) -> String {
        self.tag(&format!("{HEADER_TAG}\n{canonical}"))
    }

    pub(crate) fn verifies_header(&self, canonical: &str, signature: &str) -> bool {
        self.check(&format!("{HEADER_TAG}\n{canonical}"), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_only_unchanged_and_only_under_its_key() {
        let a = CheckpointSigner::legacy(&MasterKey::generate().unwrap());
        let b = CheckpointSigner::legacy(&MasterKey::generate().unwrap());
        let ws = WorkspaceId::new();
        let c = a.sign(ws, 64, "ab12", "2026-11-28T12:00:00.000Z");
        assert!(a.verifies(&c));
        assert!(!b.verifies(&c));
        for tampered in [
            Checkpoint {
                seq: 65,
                ..c.clone()
            },
            Checkpoint {
                hash: "ab13".into(),
                ..c.clone()
            },
            Checkpoint {
                at: "2026-11-28T12:00:00.001Z".into(),
                ..c.clone()
            },
            Checkpoint {
                workspace: WorkspaceId::new(),
                ..c.clone()
            },
            Checkpoint {
                signature: "zz".into(),
                ..c.clone()
            },
        ] {
            assert!(!a.verifies(&tampered), "{tampered:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        let master = MasterKey::generate().unwrap();
        let s = CheckpointSigner::legacy(&master);
        let shown = format!("{s:?}");
        assert!(shown.contains(master.id()));
        assert!(!shown.contains(&hex::encode(s.key.as_slice())));
    }

    #[test]
    fn header_and_checkpoint_tags_are_not_interchangeable() {
        let s = CheckpointSigner::legacy(&MasterKey::generate().unwrap());
        let ws = WorkspaceId::from_uuid(uuid::Uuid::nil());
        let msg = checkpoint_message(ws, 1, "h", "t");
        let header_tag = s.sign_header(&msg);
        assert!(!s.check(&msg, &header_tag));
    }
}
