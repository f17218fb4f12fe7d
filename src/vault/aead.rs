//! The AES-256-GCM primitive, nonce creation and associated-data encoding: the only place in the
//! gateway that touches `aes-gcm` directly.

use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use aes_gcm::{Aes256Gcm, Key};
use zeroize::{Zeroize, Zeroizing};

use super::VaultError;

pub const NONCE_LEN: usize = 12;
pub const KEY_LEN: usize = 32;

/// A 256-bit key, zeroized on drop.
pub type KeyBytes = Zeroizing<[u8; KEY_LEN]>;

/// A keyed AES-256-GCM instance. The key schedule is computed once, so opening a credential does
/// not pay for it again (the 2 µs budget of `open`).
pub struct Cipher(Aes256Gcm);

impl Cipher {
    pub fn new(key: &KeyBytes) -> Cipher {
        // Borrow the bytes as the cipher's key type: no unzeroized copy on the stack.
        let key: &Key<Aes256Gcm> = <&Key<Aes256Gcm>>::try_from(&key[..])
            .unwrap_or_else(|_| unreachable!("KeyBytes is exactly the AES-256 key length"));
        Cipher(Aes256Gcm::new(key))
    }

    /// Encrypt under a fresh random nonce; returns `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let nonce = fresh_nonce()?;
        let ct = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Crypto)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt `nonce || ciphertext || tag`. Every failure is the same opaque error.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(VaultError::CannotOpen);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| VaultError::CannotOpen)?;
        self.0
            .decrypt(&nonce, Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::CannotOpen)
    }
}

/// The one function that makes nonces: 96 random bits from the OS CSPRNG, fresh for every seal.
fn fresh_nonce() -> Result<Nonce<Aes256Gcm>, VaultError> {
    Nonce::<Aes256Gcm>::try_generate().map_err(|_| VaultError::Rng)
}

/// A fresh random 256-bit key from the OS CSPRNG.
pub fn random_key() -> Result<KeyBytes, VaultError> {
    let mut key = Key::<Aes256Gcm>::try_generate().map_err(|_| VaultError::Rng)?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&key);
    key.zeroize();
    Ok(out)
}

/// Associated data: each field length-prefixed (u32 BE), so fields cannot run into each other.
pub fn associated_data(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn associated_data_is_unambiguous() {
        assert_ne!(
            associated_data(&[b"ab", b"c"]),
            associated_data(&[b"a", b"bc"])
        );
    }

    #[test]
    fn open_fails_opaquely_on_wrong_aad_or_flipped_bit() {
        let c = Cipher::new(&random_key().unwrap());
        let mut sealed = c.seal(b"aad", b"secret").unwrap();
        assert_eq!(&*c.open(b"aad", &sealed).unwrap(), b"secret");
        assert!(matches!(
            c.open(b"aaD", &sealed),
            Err(VaultError::CannotOpen)
        ));
        sealed[20] ^= 1;
        assert!(matches!(
            c.open(b"aad", &sealed),
            Err(VaultError::CannotOpen)
        ));
        assert!(matches!(
            c.open(b"aad", &[0; 5]),
            Err(VaultError::CannotOpen)
        ));
    }
}
