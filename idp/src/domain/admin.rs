//! Admin API bearer tokens and what each role may do.
//!
//! Tokens are 256-bit random values; only their SHA-256 (hex) is stored, so a
//! leaked database does not hand out admin access. Role checks live in
//! [`allows`] and nowhere else.

use crate::crypto::{self, Secret};
use crate::store::Store;
use crate::store::{AdminToken, StoreError, Timestamp};

/// The role that may do everything: organisations, clients, users, keys.
pub const SECURITY_ADMIN: &str = "security-admin";

/// Something an admin token can be used for. Handlers name the action they
/// perform; [`allows`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List organisations.
    ReadOrganisations,
    /// Create organisations.
    ManageOrganisations,
    /// List and show clients.
    ReadClients,
    /// Register, disable clients and rotate their secrets.
    ManageClients,
    /// List users.
    ReadUsers,
    /// Create and disable users.
    ManageUsers,
}

/// Whether `token` may perform `action`. The one place roles are interpreted:
/// an unknown role may do nothing (fail closed).
pub fn allows(token: &AdminToken, action: Action) -> bool {
    match token.role.as_str() {
        SECURITY_ADMIN => match action {
            Action::ReadOrganisations
            | Action::ManageOrganisations
            | Action::ReadClients
            | Action::ManageClients
            | Action::ReadUsers
            | Action::ManageUsers => true,
        },
        // `org-admin` and `auditor` arrive later; until then they get nothing.
        _ => false,
    }
}

/// Create and store a new admin token. Returns the stored row and the token
/// itself, which exists nowhere else: show it once.
pub async fn create_admin_token(
    store: &dyn Store,
    now: i64,
    role: &str,
    organisation_id: Option<String>,
    label: &str,
) -> Result<(AdminToken, Secret), StoreError> {
    let secret = Secret::new(crypto::random_token());
    let token = AdminToken {
        id: crypto::random_id(),
        hash: crypto::sha256_hex(secret.expose().as_bytes()),
        role: role.to_owned(),
        organisation_id,
        label: label.to_owned(),
        created_at: now,
        expires_at: None,
        revoked_at: None,
    };
    store.create_admin_token(&token).await?;
    Ok((token, secret))
}

/// The token row for a presented bearer token, if it is known, not revoked and
/// not expired at `now`.
pub async fn authenticate(store: &dyn Store, now: i64, presented: &str) -> Result<Option<AdminToken>, StoreError> {
    // Our tokens are 43 characters; refuse absurd input before hashing it.
    if presented.is_empty() || presented.len() > 512 {
        return Ok(None);
    }
    // Lookup by SHA-256 of a 256-bit random value: timing of the index lookup
    // reveals nothing usable about stored tokens (the attacker cannot choose
    // hash prefixes); the final comparison is constant-time anyway.
    let hash = crypto::sha256_hex(presented.as_bytes());
    let Some(token) = store.find_admin_token(&hash).await? else {
        return Ok(None);
    };
    if !crypto::constant_time_eq(token.hash.as_bytes(), hash.as_bytes()) {
        return Ok(None);
    }
    Ok(is_live(&token, now).then_some(token))
}

/// Not revoked and not expired at `now` (the expiry instant itself is expired).
fn is_live(token: &AdminToken, now: Timestamp) -> bool {
    token.revoked_at.is_none() && token.expires_at.is_none_or(|exp| now < exp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn token(role: &str) -> AdminToken {
        AdminToken {
            id: "t1".into(),
            hash: crypto::sha256_hex(b"x"),
            role: role.into(),
            organisation_id: None,
            label: "test".into(),
            created_at: 100,
            expires_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn security_admin_may_do_everything_unknown_roles_nothing() {
        let all = [
            Action::ReadOrganisations,
            Action::ManageOrganisations,
            Action::ReadClients,
            Action::ManageClients,
            Action::ReadUsers,
            Action::ManageUsers,
        ];
        for action in all {
            assert!(allows(&token(SECURITY_ADMIN), action));
            assert!(!allows(&token("auditor"), action));
            assert!(!allows(&token(""), action));
        }
    }

    #[test]
    fn expired_or_revoked_tokens_are_not_live() {
        let mut t = token(SECURITY_ADMIN);
        assert!(is_live(&t, 1_000));
        t.expires_at = Some(500);
        assert!(is_live(&t, 499));
        assert!(!is_live(&t, 500));
        assert!(!is_live(&t, 501));
        t.expires_at = None;
        t.revoked_at = Some(200);
        assert!(!is_live(&t, 1_000));
    }
}
