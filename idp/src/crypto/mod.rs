//! Key material and secrets: random tokens, hashes, constant-time comparison,
//! Argon2id passwords, key encryption at rest and JWS signing.
//!
//! Everything goes through OpenSSL (the `openssl` crate, which josekit also
//! links), so there is one audited primitive provider in the tree.

pub mod aead;
pub mod jwt;
pub mod kek;
pub mod password;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A secret string (password, client secret, token). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `n` bytes from OpenSSL's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // RAND_bytes only fails if the CSPRNG cannot be seeded, which on Linux
    // (getrandom) does not happen after boot; fall back to an error-free abort
    // path by retrying rather than handing out zeros.
    while openssl::rand::rand_bytes(&mut buf).is_err() {
        std::thread::yield_now();
    }
    buf
}

/// A 256-bit random value, base64url without padding (43 characters):
/// client secrets, refresh tokens, codes, admin tokens.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(32))
}

/// A shorter random identifier (128 bits) for ids that are not secrets.
/// Never starts with `-`: ids are typed as command-line arguments
/// (`idp-admin client disable <id>`), where a leading `-` reads as an option.
/// Drawing again in that case (1 in 64) costs well under a bit of entropy.
pub fn random_id() -> String {
    loop {
        let id = URL_SAFE_NO_PAD.encode(random_bytes(16));
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// Lower-case hex SHA-256: how server-generated secrets are stored. A fast
/// hash is right for 256-bit random values (no dictionary to attack), and
/// keeps the token endpoint from paying an Argon2 cost per request.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&openssl::sha::sha256(data))
}

/// Base64url (no padding) SHA-256, as PKCE S256 and `at_hash` need.
pub fn sha256_b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(openssl::sha::sha256(data))
}

/// Constant-time equality for secrets of any length (length itself may leak,
/// which is fine for fixed-length hashes and tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_start_like_a_command_line_option() {
        // About 1 in 64 raw encodings starts with '-': 4096 draws would show ~64.
        assert!((0..4096).map(|_| random_id()).all(|id| id.len() == 22 && !id.starts_with('-')));
    }

    #[test]
    fn tokens_are_256_bit_and_unique() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret([redacted])");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        // RFC 7636 appendix B
        assert_eq!(
            sha256_b64url(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
