//! Argon2id password hashing, run off the async threads and capped at a few
//! hashes in flight (each costs ~19 MiB and ~15 ms of one core).

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::Secret;

/// Shortest password accepted at sign-up (NIST SP 800-63B §5.1.1.2 asks for 8).
pub const MIN_PASSWORD_LEN: usize = 8;

/// Passwords people pick most often, refused at sign-up (lower-cased compare).
const COMMON_PASSWORDS: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "password",
    "password1",
    "password123",
    "qwerty123",
    "qwertyuiop",
    "11111111",
    "00000000",
    "88888888",
    "66666666",
    "12341234",
    "123123123",
    "abc12345",
    "abcd1234",
    "iloveyou",
    "matkhau123",
    "matkhau1",
    "matkhau",
    "vietnam1",
    "vietnam123",
    "anhyeuem",
    "anhyeuem1",
    "admin123",
    "administrator",
    "welcome1",
    "letmein1",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "aa123456",
    "a1234567",
    "987654321",
    "11223344",
    "147258369",
    "baseball",
    "football",
    "sunshine",
    "princess",
    "trustno1",
    "superman",
];

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPolicyError {
    /// Fewer than [`MIN_PASSWORD_LEN`] characters.
    TooShort,
    /// On the common-password list.
    TooCommon,
}

/// Check a new password against the policy.
pub fn check_policy(password: &Secret) -> Result<(), PasswordPolicyError> {
    let p = password.expose();
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordPolicyError::TooShort);
    }
    let lower = p.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(PasswordPolicyError::TooCommon);
    }
    Ok(())
}

/// Hashing failed (only on a broken hash string or a cancelled task).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Argon2id with a bounded number of concurrent hashes.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the account
    /// does not exist so that unknown users cost the same time as known ones.
    dummy: Arc<String>,
}

impl PasswordHasher {
    /// `memory_kib`, `iterations` per OWASP (19456 KiB, 2); `max_in_flight`
    /// usually the core count.
    pub fn new(memory_kib: u32, iterations: u32, max_in_flight: usize) -> Result<Self, HashError> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| HashError(e.to_string()))?;
        let dummy = hash_blocking(&params, &Secret::new(super::random_token()))?;
        Ok(Self { params, permits: Arc::new(Semaphore::new(max_in_flight.max(1))), dummy: Arc::new(dummy) })
    }

    /// Hash a password to a PHC string.
    pub async fn hash(&self, password: Secret) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|e| HashError(e.to_string()))?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_blocking(&params, &password))
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// Verify `password` against `hash`; with `None` verifies against a dummy
    /// hash and returns false, taking the same time.
    pub async fn verify(&self, hash: Option<String>, password: Secret) -> bool {
        let Ok(_permit) = self.permits.acquire().await else { return false };
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.as_ref().clone());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|h| Argon2::default().verify_password(password.expose().as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        known && ok
    }
}

fn hash_blocking(params: &Params, password: &Secret) -> Result<String, HashError> {
    let salt = super::random_bytes(16);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_with_salt(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_and_policy_refuses_weak() -> Result<(), HashError> {
        let h = PasswordHasher::new(1024, 1, 2)?;
        let hash = h.hash(Secret::new("correct horse")).await?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(h.verify(Some(hash.clone()), Secret::new("correct horse")).await);
        assert!(!h.verify(Some(hash), Secret::new("wrong horse")).await);
        assert!(!h.verify(None, Secret::new("correct horse")).await);
        assert_eq!(check_policy(&Secret::new("short")), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy(&Secret::new("Password123")), Err(PasswordPolicyError::TooCommon));
        assert_eq!(check_policy(&Secret::new("mưa rơi trên phố cổ")), Ok(()));
        Ok(())
    }
}
