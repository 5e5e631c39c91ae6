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
/// The role bound to one organisation: its own clients.
pub const ORG_ADMIN: &str = "org-admin";
/// The role that may read the audit trail, and change nothing.
pub const AUDITOR: &str = "auditor";
/// The role of the agency keeping the business register: businesses and
/// their members, nothing else. Businesses belong to no organisation, so an
/// org-admin (a province, a ministry) may not touch them: making someone a
/// business's legal representative lets them act for it at every service.
pub const BUSINESS_REGISTRAR: &str = "business-registrar";
/// Every role, for messages.
pub const ROLES: &[&str] = &[SECURITY_ADMIN, ORG_ADMIN, AUDITOR, BUSINESS_REGISTRAR];

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
    /// Read and verify the audit trail.
    ReadAudit,
    /// Create, list and revoke admin tokens.
    ManageAdminTokens,
    /// List signing keys and the rotation schedule.
    ReadKeys,
    /// Rotate, revoke, schedule and re-wrap signing keys.
    ManageKeys,
    /// List and show businesses and their members.
    ReadBusinesses,
    /// Register and disable businesses, add and remove their members.
    ManageBusinesses,
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
            | Action::ManageUsers
            | Action::ReadAudit
            | Action::ManageAdminTokens
            | Action::ReadKeys
            | Action::ManageKeys
            | Action::ReadBusinesses
            | Action::ManageBusinesses => true,
        },
        // Its own organisation's clients only: handlers also check the
        // client's organisation with [`may_access_organisation`].
        ORG_ADMIN => matches!(action, Action::ReadClients | Action::ManageClients) && token.organisation_id.is_some(),
        AUDITOR => matches!(action, Action::ReadAudit),
        BUSINESS_REGISTRAR => matches!(action, Action::ReadBusinesses | Action::ManageBusinesses),
        _ => false,
    }
}

/// The organisation `token` is confined to: `Some` for an org-admin, `None`
/// for roles that see every organisation.
pub fn organisation_scope(token: &AdminToken) -> Option<&str> {
    (token.role == ORG_ADMIN).then(|| token.organisation_id.as_deref().unwrap_or_default())
}

/// Whether `token` may act on things owned by `organisation_id` (after
/// [`allows`] passed): an org-admin only on its own organisation.
pub fn may_access_organisation(token: &AdminToken, organisation_id: &str) -> bool {
    organisation_scope(token).is_none_or(|own| !own.is_empty() && own == organisation_id)
}

/// A fresh admin token: 256-bit random, only its SHA-256 kept in the row.
fn new_token(
    now: Timestamp,
    role: &str,
    organisation_id: Option<String>,
    label: &str,
    expires_at: Option<Timestamp>,
) -> (AdminToken, Secret) {
    let secret = Secret::new(crypto::random_token());
    let token = AdminToken {
        id: crypto::random_id(),
        hash: crypto::sha256_hex(secret.expose().as_bytes()),
        role: role.to_owned(),
        organisation_id,
        label: label.to_owned(),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    (token, secret)
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
    let (token, secret) = new_token(now, role, organisation_id, label, None);
    store.create_admin_token(&token).await?;
    Ok((token, secret))
}

/// `idp bootstrap-admin`: create a `security-admin` token labelled `label`
/// and audit it (`admin_token.create`, actor `system:bootstrap`, target the
/// token id; the token itself is never recorded).
pub async fn bootstrap_admin_token(
    store: &dyn Store,
    now: i64,
    label: &str,
) -> Result<(AdminToken, Secret), StoreError> {
    let (token, secret) = create_admin_token(store, now, SECURITY_ADMIN, None, label).await?;
    let detail = serde_json::json!({ "role": SECURITY_ADMIN, "label": token.label });
    crate::domain::audit::record_system(
        store,
        now,
        crate::domain::audit::SYSTEM_BOOTSTRAP,
        "admin_token.create",
        Some(&token.id),
        crate::domain::audit::Outcome::Success,
        Some(detail),
    )
    .await;
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

/// Longest lifetime of a token made with `token create --expires-in`.
pub const MAX_TOKEN_LIFETIME: i64 = 5 * 366 * 24 * 3600;

/// A token to issue, as `POST /admin/v1/tokens` carries it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAdminToken {
    /// `security-admin`, `org-admin` or `auditor`.
    pub role: String,
    /// Organisation id or code; required for `org-admin`, refused otherwise.
    #[serde(default)]
    pub organisation: Option<String>,
    /// Free text to recognise the token by.
    #[serde(default)]
    pub label: Option<String>,
    /// Lifetime in seconds; none means no expiry.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// Why a token could not be issued or revoked. `Display` is the sentence the admin reads.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    /// 400: not one of [`ROLES`].
    #[error("unknown role {0:?} (roles: security-admin, org-admin, auditor, business-registrar)")]
    UnknownRole(String),
    /// 400: an org-admin token without an organisation.
    #[error("an org-admin token must be bound to an organisation: give organisation (--org CODE)")]
    MissingOrganisation,
    /// 400: an organisation given for a role that is not bound to one.
    #[error("only org-admin tokens are bound to an organisation; {0} tokens cannot be")]
    UnexpectedOrganisation(String),
    /// 400: the organisation does not exist.
    #[error("no organisation with id or code {0:?}")]
    UnknownOrganisation(String),
    /// 400: label too long or with control characters.
    #[error("the label must be at most 100 characters, without control characters")]
    InvalidLabel,
    /// 400: expiry not positive or too far.
    #[error("expires_in must be from 1 second to 5 years")]
    InvalidExpiry,
    /// 404: no token has this id.
    #[error("no admin token with id {0:?}")]
    NotFound(String),
    /// 500: the store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// Validate and issue a token; the secret is returned once and stored only hashed.
pub async fn issue(store: &dyn Store, now: i64, input: NewAdminToken) -> Result<(AdminToken, Secret), AdminTokenError> {
    let role = input.role.trim();
    if !ROLES.contains(&role) {
        return Err(AdminTokenError::UnknownRole(input.role));
    }
    let org_ref = input.organisation.as_deref().map(str::trim).filter(|o| !o.is_empty());
    let organisation_id = match (role, org_ref) {
        (ORG_ADMIN, None) => return Err(AdminTokenError::MissingOrganisation),
        (ORG_ADMIN, Some(org)) => match store.find_organisation(org).await? {
            Some(found) => Some(found.id),
            None => return Err(AdminTokenError::UnknownOrganisation(org.to_owned())),
        },
        (_, Some(_)) => return Err(AdminTokenError::UnexpectedOrganisation(role.to_owned())),
        (_, None) => None,
    };
    let label = input.label.as_deref().map(str::trim).unwrap_or_default();
    if label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(AdminTokenError::InvalidLabel);
    }
    let expires_at = match input.expires_in {
        Some(secs) if (1..=MAX_TOKEN_LIFETIME).contains(&secs) => Some(now + secs),
        Some(_) => return Err(AdminTokenError::InvalidExpiry),
        None => None,
    };
    let (token, secret) = new_token(now, role, organisation_id, label, expires_at);
    store.create_admin_token(&token).await?;
    Ok((token, secret))
}

/// Revoke a token (idempotent): it stops working at once.
pub async fn revoke(store: &dyn Store, now: i64, id: &str) -> Result<AdminToken, AdminTokenError> {
    match store.revoke_admin_token(id, now).await {
        Ok(t) => Ok(t),
        Err(StoreError::NotFound) => Err(AdminTokenError::NotFound(id.to_owned())),
        Err(e) => Err(e.into()),
    }
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
    fn org_admins_manage_their_own_clients_auditors_read_the_audit() {
        let mut org = token(ORG_ADMIN);
        // Unbound: nothing at all.
        assert!(!allows(&org, Action::ReadClients));
        org.organisation_id = Some("org-1".into());
        assert!(allows(&org, Action::ReadClients) && allows(&org, Action::ManageClients));
        for denied in [Action::ReadUsers, Action::ReadAudit, Action::ManageAdminTokens, Action::ReadOrganisations] {
            assert!(!allows(&org, denied), "{denied:?}");
        }
        assert!(may_access_organisation(&org, "org-1"));
        assert!(!may_access_organisation(&org, "org-2"));
        assert_eq!(organisation_scope(&org), Some("org-1"));

        let auditor = token(AUDITOR);
        assert!(allows(&auditor, Action::ReadAudit));
        assert!(!allows(&auditor, Action::ReadClients) && !allows(&auditor, Action::ManageAdminTokens));
        let admin = token(SECURITY_ADMIN);
        assert!(allows(&admin, Action::ReadAudit) && allows(&admin, Action::ManageAdminTokens));
        assert!(may_access_organisation(&admin, "any") && organisation_scope(&admin).is_none());
    }

    #[test]
    fn only_security_admins_and_business_registrars_see_or_change_businesses() {
        let mut org = token(ORG_ADMIN);
        org.organisation_id = Some("org-1".into());
        for t in [token(SECURITY_ADMIN), token(BUSINESS_REGISTRAR)] {
            assert!(allows(&t, Action::ReadBusinesses) && allows(&t, Action::ManageBusinesses), "{}", t.role);
        }
        for t in [org, token(AUDITOR)] {
            assert!(!allows(&t, Action::ReadBusinesses) && !allows(&t, Action::ManageBusinesses), "{}", t.role);
        }
        let registrar = token(BUSINESS_REGISTRAR);
        for denied in [
            Action::ReadClients,
            Action::ManageClients,
            Action::ReadUsers,
            Action::ManageUsers,
            Action::ReadAudit,
            Action::ManageAdminTokens,
            Action::ReadOrganisations,
            Action::ReadKeys,
        ] {
            assert!(!allows(&registrar, denied), "{denied:?}");
        }
    }

    #[tokio::test]
    async fn bootstrap_tokens_are_audited_by_id_never_by_value() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/admin.db", dir.path().display());
        let store = crate::store::connect(&url, 1).await.unwrap();
        let (token, secret) = bootstrap_admin_token(store.as_ref(), 1_000, "first").await.unwrap();
        assert_eq!(token.role, SECURITY_ADMIN);
        let events = store.audit_events_after(0, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!((e.actor.as_str(), e.action.as_str()), ("system:bootstrap", "admin_token.create"));
        assert_eq!((e.target.as_deref(), e.at, e.outcome.as_str()), (Some(token.id.as_str()), 1_000, "success"));
        let stored = serde_json::to_string(e).unwrap();
        assert!(!stored.contains(secret.expose()) && !stored.contains(&token.hash), "{stored}");
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
