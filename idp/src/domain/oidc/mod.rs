//! The OpenID Connect protocol rules: authorization requests, grants and
//! tokens, claims, client authentication, introspection and revocation.

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod error;
pub mod grants;
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
    &["openid", "profile", "email", "phone", "address", "offline_access", "national_id"];

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

/// Authentication context classes (DESIGN §3).
pub mod acr {
    /// Password login.
    pub const LOA1: &str = "LoA1";
    /// Passkey with user verification.
    pub const LOA2: &str = "LoA2";
    /// Supported values, weakest first.
    pub const SUPPORTED: &[&str] = &[LOA1];
}
