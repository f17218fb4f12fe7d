//! The master key (KEK): loaded from `SELIQ_MASTER_KEY` or `<data-dir>/master.key`.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::aead::{Cipher, KEY_LEN, KeyBytes, random_key};
use super::{VaultError, files};

pub struct MasterKey {
    key: KeyBytes,
    id: String,
    cipher: Cipher,
}

impl MasterKey {
    pub fn generate() -> Result<MasterKey, VaultError> {
        Ok(Self::from_bytes(random_key()?))
    }

    fn from_bytes(key: KeyBytes) -> MasterKey {
        // The id names the key without revealing it: the first 8 bytes of SHA-256, in hex.
        let id = hex::encode(&Sha256::digest(key.as_ref())[..8]);
        let cipher = Cipher::new(&key);
        MasterKey { key, id, cipher }
    }

    /// Parse base64 of exactly 32 bytes. `origin` names where it came from, for the error.
    pub fn from_base64(encoded: &SecretString, origin: &str) -> Result<MasterKey, VaultError> {
        let bad = |reason: &str| VaultError::BadMasterKey {
            origin: origin.to_owned(),
            reason: reason.to_owned(),
        };
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.expose_secret().trim())
                .map_err(|_| bad("it is not valid base64"))?,
        );
        if bytes.len() != KEY_LEN {
            return Err(bad("it must decode to exactly 32 bytes"));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes);
        Ok(Self::from_bytes(key))
    }

    /// Read a key file, refusing it unless only the owner can read it.
    pub fn read_file(path: &Path) -> Result<MasterKey, VaultError> {
        files::check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| VaultError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_base64(&SecretString::from(text), &path.display().to_string())
    }

    /// Write the key as base64 to `path`, atomically, mode 0600.
    pub fn write_file(&self, path: &Path) -> Result<(), VaultError> {
        let encoded = Zeroizing::new(STANDARD.encode(self.key.as_ref()) + "\n");
        files::write_atomic(path, encoded.as_bytes())
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// A key for signing audit checkpoints, derived so that it is never the KEK itself.
    pub fn derive_key(&self, purpose: &[u8]) -> KeyBytes {
        let hk = Hkdf::<Sha256>::new(Some(b"seliq-gateway"), self.key.as_ref());
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        // Infallible: 32 bytes is far below HKDF-SHA256's 255 * 32 output limit.
        let _ = hk.expand(purpose, out.as_mut());
        out
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_base64_and_keeps_its_id() {
        let k = MasterKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        k.write_file(&p).unwrap();
        let back = MasterKey::read_file(&p).unwrap();
        assert_eq!(k.id(), back.id());
        assert_eq!(k.id().len(), 16);
        assert!(!format!("{k:?}").contains(&STANDARD.encode(k.key.as_ref())));
    }

    #[test]
    fn rejects_short_and_non_base64_keys() {
        let short = SecretString::from(STANDARD.encode([0u8; 16]));
        assert!(MasterKey::from_base64(&short, "SELIQ_MASTER_KEY").is_err());
        let junk = SecretString::from("not base64!".to_owned());
        let err = MasterKey::from_base64(&junk, "SELIQ_MASTER_KEY").unwrap_err();
        assert!(err.to_string().contains("SELIQ_MASTER_KEY"));
    }
}
