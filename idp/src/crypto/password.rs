//! Argon2id password hashing, run off the async threads and capped at a few
//! hashes in flight (each costs ~19 MiB and ~15 ms of one core).

use std::sync::Arc;

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    let p = nfc(password);
    let p = p.as_str();
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordPolicyError::TooShort);
    }
    let lower = p.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(PasswordPolicyError::TooCommon);
    }
    Ok(())
}

/// Largest Argon2 memory cost (KiB) accepted in an imported hash: a larger one
/// would let one login exhaust the server's memory.
const MAX_IMPORTED_MEMORY_KIB: u32 = 256 * 1024;
/// Largest Argon2 iteration count and parallelism accepted in an imported hash.
const MAX_IMPORTED_TIME: u32 = 16;
/// Largest Argon2 parallelism accepted in an imported hash.
const MAX_IMPORTED_LANES: u32 = 16;

/// Check, without hashing anything, that `phc` is an Argon2id v19 PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with costs a login can afford.
/// The error is the reason, for the admin.
pub fn check_imported_hash(phc: &str) -> Result<(), &'static str> {
    let h = PasswordHash::new(phc)
        .map_err(|_| "password_hash is not a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")?;
    if h.algorithm.as_str() != "argon2id" {
        return Err("password_hash must be Argon2id ($argon2id$…); other algorithms are not accepted");
    }
    if h.version != Some(19) {
        return Err("password_hash must be Argon2 version 19 (v=19)");
    }
    let param = |name: &str| h.params.get_decimal(name);
    match (param("m"), param("t"), param("p")) {
        (Some(m), Some(t), Some(p))
            if (8..=MAX_IMPORTED_MEMORY_KIB).contains(&m)
                && (1..=MAX_IMPORTED_TIME).contains(&t)
                && (1..=MAX_IMPORTED_LANES).contains(&p) => {}
        _ => return Err("password_hash needs m (8..=262144), t (1..=16) and p (1..=16) parameters"),
    }
    match (&h.salt, &h.hash) {
        (Some(_), Some(out)) if out.len() >= 16 => Ok(()),
        _ => Err("password_hash has no salt or a hash shorter than 16 bytes"),
    }
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
    /// Argon2 working memory, reused between logins.
    memory: Arc<WorkingMemory>,
}

/// Argon2 working memory (19 MiB a hash with the default parameters), kept
/// for the next login instead of allocated and zeroed for each: at most one
/// buffer per hash allowed in flight, so memory stays bounded at
/// `max_in_flight` buffers. Without it, each blocking thread's allocator
/// arena kept its own freed 19 MiB, and a login burst left the process at
/// hundreds of MiB (`bench/`: peak VmHWM). Argon2 writes every block before
/// reading it, so a reused buffer needs no clearing.
struct WorkingMemory {
    /// Blocks per buffer with our own parameters; hashes with other costs
    /// (imported) get a buffer of their own, not kept.
    blocks: usize,
    max_kept: usize,
    kept: std::sync::Mutex<Vec<Vec<Block>>>,
}

impl WorkingMemory {
    fn take(&self, blocks: usize) -> Vec<Block> {
        if blocks == self.blocks
            && let Some(b) = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop()
        {
            return b;
        }
        vec![Block::default(); blocks]
    }

    fn give(&self, buffer: Vec<Block>) {
        if buffer.len() == self.blocks {
            let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if kept.len() < self.max_kept {
                kept.push(buffer);
            }
        }
    }
}

impl PasswordHasher {
    /// `memory_kib`, `iterations` per OWASP (19456 KiB, 2); `max_in_flight`
    /// usually the core count.
    pub fn new(memory_kib: u32, iterations: u32, max_in_flight: usize) -> Result<Self, HashError> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(|e| HashError(e.to_string()))?;
        let dummy = dummy_hash(&params)?;
        let max_in_flight = max_in_flight.max(1);
        let memory =
            WorkingMemory { blocks: params.block_count(), max_kept: max_in_flight, kept: std::sync::Mutex::default() };
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            dummy: Arc::new(dummy),
            memory: Arc::new(memory),
        })
    }

    /// Run `work` (one hash) on the blocking pool once a slot is free. The
    /// permit goes with the work: a request dropped meanwhile (the client
    /// hung up) does not free a slot while its hash still runs.
    async fn in_turn<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|e| HashError(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| HashError(e.to_string()))
    }

    /// Hash a password to a PHC string.
    pub async fn hash(&self, password: Secret) -> Result<String, HashError> {
        let params = self.params.clone();
        self.in_turn(move || hash_blocking(&params, &password)).await?
    }

    /// Whether the PHC string `hash` was made with other costs than ours
    /// (imported, or before an `IDP_ARGON2_*` change) or is not Argon2id v19
    /// with a 32-byte output: a correct password re-hashes it at login, so
    /// every account's sign-in costs what the dummy verification of an
    /// unknown identifier costs, stronger hashes included (a slower one would
    /// tell by timing that the account exists). While nodes of a rolling
    /// change run different costs, each re-hashes the others' hashes: one
    /// extra hash per sign-in until every node has the new setting.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(phc) = PasswordHash::new(hash) else { return true };
        let ours = |p: &Params| {
            (p.m_cost(), p.t_cost(), p.p_cost()) == (self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
        };
        phc.algorithm.as_str() != "argon2id"
            || phc.version != Some(Version::V0x13 as u32)
            || phc.hash.as_ref().is_none_or(|h| h.len() != Params::DEFAULT_OUTPUT_LEN)
            || !Params::try_from(&phc).is_ok_and(|p| ours(&p))
    }

    /// Verify `password` against `hash`; with `None` verifies against a dummy
    /// hash and returns false, taking the same time.
    pub async fn verify(&self, hash: Option<String>, password: Secret) -> bool {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.as_ref().clone());
        let memory = self.memory.clone();
        let ok = self.in_turn(move || verify_blocking(&hash, nfc(&password).as_bytes(), &memory)).await;
        known && ok.unwrap_or(false)
    }
}

/// Recompute the hash of `password` with the parameters, salt and output
/// length of the PHC string `hash`, in reused working memory, and compare in
/// constant time. (What `Argon2::verify_password` does, but that allocates
/// and zeroes the working memory on every call.)
fn verify_blocking(hash: &str, password: &[u8], memory: &WorkingMemory) -> bool {
    let Ok(phc) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else { return false };
    let Ok(params) = Params::try_from(&phc) else { return false };
    // The costs an import accepts: a stored hash asking for more (restored
    // or written by hand) fails the login instead of exhausting memory.
    if params.m_cost() > MAX_IMPORTED_MEMORY_KIB
        || params.t_cost() > MAX_IMPORTED_TIME
        || params.p_cost() > MAX_IMPORTED_LANES
    {
        return false;
    }
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else { return false };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut out = vec![0u8; expected.len()];
    let mut blocks = memory.take(params.block_count());
    let done = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt.as_ref(),
        &mut out,
        &mut blocks[..],
    );
    memory.give(blocks);
    done.is_ok() && super::constant_time_eq(&out, expected.as_ref())
}

/// Unicode NFC, so a Vietnamese password typed with precomposed letters (ư,
/// ộ) on one keyboard and with combining marks on another is the same
/// password (NIST SP 800-63B §5.1.1.2).
fn nfc(password: &Secret) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    password.expose().nfc().collect()
}

/// A PHC string with our parameters, a random salt and a random output: no
/// password verifies against it, and verifying costs exactly what a real
/// hash costs (the work is in recomputing the output, not in the check). It
/// takes no Argon2 run to make, which keeps one off every start-up.
fn dummy_hash(params: &Params) -> Result<String, HashError> {
    use base64::Engine as _;
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
    let text = format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        b64(super::random_bytes(16)),
        b64(super::random_bytes(32))
    );
    // Checked once here, so `verify` never meets a malformed dummy.
    PasswordHash::new(&text).map_err(|e| HashError(e.to_string()))?;
    Ok(text)
}

fn hash_blocking(params: &Params, password: &Secret) -> Result<String, HashError> {
    let salt = super::random_bytes(16);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_with_salt(nfc(password).as_bytes(), &salt)
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
        assert!(!h.verify(Some(hash.clone()), Secret::new("wrong horse")).await);
        assert!(!h.verify(None, Secret::new("correct horse")).await);
        // Our own hashes are current; other costs (stronger ones too: they
        // would time differently), outputs or versions, or no PHC string, are not.
        assert!(!h.needs_rehash(&hash));
        for other in [
            "$argon2id$v=19$m=512,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI",
            "$argon2id$v=19$m=2048,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI",
            "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI",
            "$argon2id$v=19$m=1024,t=1,p=2$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI",
            "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTA",
            "$argon2id$v=16$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI",
            "$argon2i$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI",
            "not a hash",
        ] {
            assert!(h.needs_rehash(other), "{other}");
        }
        // The dummy has our parameters, so an unknown account costs a real verification.
        let dummy = PasswordHash::new(h.dummy.as_str()).map_err(|e| HashError(e.to_string()))?;
        assert_eq!(dummy.algorithm.as_str(), "argon2id");
        assert_eq!(Params::try_from(&dummy).map(|p| (p.m_cost(), p.t_cost())).ok(), Some((1024, 1)));
        // "mưa" precomposed (U+01B0) and decomposed (u + U+031B) are one password.
        let composed = h.hash(Secret::new("m\u{01b0}a thu h\u{00e0} n\u{1ed9}i")).await?;
        assert!(h.verify(Some(composed), Secret::new("mu\u{031b}a thu ha\u{0300} no\u{0323}\u{0302}i")).await);
        assert_eq!(check_policy(&Secret::new("short")), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy(&Secret::new("Password123")), Err(PasswordPolicyError::TooCommon));
        assert_eq!(check_policy(&Secret::new("mưa rơi trên phố cổ")), Ok(()));
        Ok(())
    }

    /// Verification in reused working memory: again and again, at once, and
    /// for hashes with other costs (imported), whose buffers are not kept.
    #[tokio::test]
    async fn working_memory_is_reused_and_bounded() -> Result<(), HashError> {
        let h = PasswordHasher::new(1024, 1, 2)?;
        let ours = h.hash(Secret::new("correct horse")).await?;
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(2048, 2, 1, Some(24)).map_err(|e| HashError(e.to_string()))?,
        )
        .hash_password_with_salt(b"correct horse", b"saltsaltsaltsalt")
        .map(|p| p.to_string())
        .map_err(|e| HashError(e.to_string()))?;
        let mut checks = Vec::new();
        for round in 0..6 {
            let (h, ours, other) = (h.clone(), ours.clone(), other.clone());
            checks.push(tokio::spawn(async move {
                let right = h.verify(Some(ours.clone()), Secret::new("correct horse")).await
                    && h.verify(Some(other.clone()), Secret::new("correct horse")).await;
                let wrong = h.verify(Some(ours), Secret::new(format!("wrong {round}"))).await
                    || h.verify(Some(other), Secret::new("correct horsE")).await;
                right && !wrong
            }));
        }
        for c in checks {
            assert!(c.await.map_err(|e| HashError(e.to_string()))?);
        }
        let kept = h.memory.kept.lock().map(|k| k.iter().map(Vec::len).collect::<Vec<_>>()).unwrap_or_default();
        assert!(!kept.is_empty() && kept.len() <= 2, "at most one buffer per hash in flight: {kept:?}");
        assert!(kept.iter().all(|&n| n == h.params.block_count()), "only buffers of our own size are kept: {kept:?}");
        Ok(())
    }
}
