//! AES-256-GCM under one key, with associated data: how the KEK wraps
//! private keys, and how a visitor's passkey ceremony travels sealed in its
//! own id (`domain::passkeys`).

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Sealing or opening failed: on opening, a wrong key, other associated
/// data or tampered bytes; on sealing, only a broken OpenSSL.
#[derive(Debug, thiserror::Error)]
#[error("AES-256-GCM failed: wrong key, other associated data or tampered data")]
pub struct AeadError;

/// A 256-bit AES-GCM key. A random 96-bit nonce per message, so one key
/// must not seal more than 2³² messages (NIST SP 800-38D §8.3): a key used
/// at that rate is derived afresh per period ([`hmac_sha256`]).
pub struct SealKey([u8; 32]);

impl SealKey {
    /// The key itself.
    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// The raw key (for writing it out).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Encrypt `plaintext`, binding it to `aad`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AeadError> {
        let nonce = super::random_bytes(NONCE_LEN);
        let mut tag = [0u8; TAG_LEN];
        let ct = encrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(&nonce), aad, plaintext, &mut tag)
            .map_err(|_| AeadError)?;
        Ok([nonce, ct, tag.to_vec()].concat())
    }

    /// Decrypt what [`SealKey::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AeadError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(AeadError);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(Cipher::aes_256_gcm(), &self.0, Some(nonce), aad, ct, tag).map_err(|_| AeadError)
    }
}

/// HMAC-SHA256 of `parts`, concatenated, under `key`: a subkey for one
/// purpose and period, or a keyed digest.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], AeadError> {
    let key = PKey::hmac(key).map_err(|_| AeadError)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &key).map_err(|_| AeadError)?;
    for part in parts {
        signer.update(part).map_err(|_| AeadError)?;
    }
    let mac = signer.sign_to_vec().map_err(|_| AeadError)?;
    mac.try_into().map_err(|_| AeadError)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sealed_message_opens_only_whole_with_its_key_and_associated_data() {
        let key = SealKey::new([7; 32]);
        let sealed = key.seal(b"aad", b"state").unwrap();
        assert_eq!(key.open(b"aad", &sealed).unwrap(), b"state");
        assert!(key.open(b"other", &sealed).is_err());
        assert!(SealKey::new([8; 32]).open(b"aad", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert!(key.open(b"aad", &flipped).is_err());
        assert!(key.open(b"aad", &sealed[..NONCE_LEN + TAG_LEN - 1]).is_err());
        assert_ne!(key.seal(b"aad", b"state").unwrap(), sealed, "a fresh nonce each time");
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]).unwrap();
        assert_eq!(super::super::hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
