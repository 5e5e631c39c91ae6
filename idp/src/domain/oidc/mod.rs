//! The OpenID Connect protocol rules: authorization requests, grants and
//! tokens, claims, client authentication, introspection and revocation.

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod dpop;
pub mod error;
pub mod exchange;
pub mod grants;
pub mod logout;
pub mod par;
pub mod request_object;
pub mod subjects;
pub mod tokens;

use std::collections::BTreeMap;

pub use error::{OAuthError, OAuthErrorCode};

/// Request parameters after strict parsing: each name at most once, valid UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// The parameters; empty values are dropped (RFC 6749 §3.1: "sent without a value MUST be treated as if omitted").
    pub map: BTreeMap<String, String>,
    /// Names that appeared more than once (RFC 6749 §3.1 forbids it).
    pub duplicated: Vec<String>,
}

impl Params {
    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }
    /// Whether `name` appeared more than once.
    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicated.iter().any(|d| d == name)
    }
}

/// Scopes Motcua understands.
pub const SUPPORTED_SCOPES: &[&str] =
    &["openid", "profile", "email", "phone", "address", "offline_access", "national_id", "business"];

/// RFC 8693 §2.1: the token-exchange grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Split a space-delimited scope string, dropping duplicates, keeping order.
pub fn split_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sc in s.split(' ').filter(|x| !x.is_empty()) {
        if !out.iter().any(|o| o == sc) {
            out.push(sc.to_owned());
        }
    }
    out
}

/// Authentication context classes (DESIGN §3) and the methods behind them
/// (RFC 8176 `amr` values).
pub mod acr {
    /// Password login.
    pub const LOA1: &str = "LoA1";
    /// Passkey with user verification.
    pub const LOA2: &str = "LoA2";
    /// Supported values, weakest first.
    pub const SUPPORTED: &[&str] = &[LOA1, LOA2];

    /// `amr` of a password login (RFC 8176 §2: `pwd`).
    pub const AMR_PASSWORD: &[&str] = &["pwd"];
    /// `amr` of a passkey bound to one device: proof of possession of a
    /// hardware-secured key (`hwk`), user verification (`user`), two factors (`mfa`).
    pub const AMR_PASSKEY_DEVICE: &[&str] = &["hwk", "user", "mfa"];
    /// `amr` of a backup-eligible (synced) passkey: the key is not bound to
    /// one device's hardware, so software-secured (`swk`), per RFC 8176 §2.
    pub const AMR_PASSKEY_SYNCED: &[&str] = &["swk", "user", "mfa"];

    /// Rank of a level, weakest 0; `None` for a value we do not know.
    pub fn rank(level: &str) -> Option<usize> {
        SUPPORTED.iter().position(|l| *l == level)
    }

    /// Whether a session at level `have` meets `need`. An unknown `have`
    /// meets nothing above LoA1; an unknown `need` is treated as LoA1.
    pub fn satisfies(have: &str, need: &str) -> bool {
        rank(have).unwrap_or(0) >= rank(need).unwrap_or(0)
    }

    /// The stronger of two levels (unknown values count as LoA1).
    pub fn max<'a>(a: &'a str, b: &'a str) -> &'a str {
        if rank(b).unwrap_or(0) > rank(a).unwrap_or(0) { b } else { a }
    }
}
