//! Signing in with a passkey (WebAuthn L3 §7.2): discoverable (no name
//! typed, also conditional mediation), username-first, and step-up.

use serde_json::json;
use webauthn_rs::prelude::{AuthenticationResult, Passkey, PublicKeyCredential, RequestChallengeResponse};

use super::{Ceremonies, CeremonyKind, LoginState, Meta, PasskeyError, Started, credential_key, record, user_handle};
use crate::domain::accounts;
use crate::domain::audit::Outcome;
use crate::domain::oidc::acr;
use crate::store::{Citizen, StoredPasskey};

/// Which passkeys may answer a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMode<'a> {
    /// Any discoverable passkey: the authenticator names the account. With
    /// `conditional`, the options ask for conditional mediation (autofill in
    /// the username field, WebAuthn L3 §5.1.4.1).
    Discoverable {
        /// Conditional mediation (passkey autofill).
        conditional: bool,
    },
    /// Username-first: only a passkey of the account this national ID or
    /// email names may answer.
    Identifier(&'a str),
    /// Step-up of the signed-in account: its passkeys only.
    StepUp(&'a str),
}

/// A successful passkey sign-in.
#[derive(Debug, Clone)]
pub struct PasskeyLogin {
    /// Who signed in.
    pub citizen: Citizen,
    /// The passkey used, as stored after this sign-in.
    pub passkey: StoredPasskey,
    /// RFC 8176 methods: `hwk` for a device-bound passkey, `swk` for a synced one.
    pub amr: &'static [&'static str],
    /// The ceremony's `next`.
    pub next: Option<String>,
}

/// Start a sign-in ceremony. Username-first sign-in runs the same
/// discoverable ceremony as an empty one (the authenticator offers the
/// citizen's passkeys itself), bound to the named account: listing its
/// credentials in `allowCredentials` would tell anyone which identifiers
/// have an account with passkeys, which the password login never reveals.
pub async fn start_login(
    c: &Ceremonies<'_>,
    mode: LoginMode<'_>,
    next: Option<String>,
) -> Result<Started<RequestChallengeResponse>, PasskeyError> {
    // Only a step-up is of a signed-in citizen.
    let visitor = !matches!(mode, LoginMode::StepUp(_));
    let (bound_to, passkeys) = match mode {
        LoginMode::Discoverable { .. } => (None, Vec::new()),
        LoginMode::Identifier(identifier) => {
            // An identifier naming no account binds to a random id, which no
            // passkey belongs to, as long as an account's: the sealed
            // ceremony's length must not tell the two apart.
            let account =
                find_by_identifier(c, identifier).await?.map_or_else(crate::crypto::random_id, |c| c.account.id);
            (Some(account), Vec::new())
        }
        LoginMode::StepUp(account_id) => {
            let keys = super::parse_all(&c.store.list_passkeys(account_id).await?);
            if keys.is_empty() {
                return Err(PasskeyError::NoPasskey);
            }
            (Some(account_id.to_owned()), keys)
        }
    };
    let rejected = |e: webauthn_rs::prelude::WebauthnError| PasskeyError::Rejected(e.to_string());
    let (options, kind) = if passkeys.is_empty() {
        let (mut options, state) = c.webauthn.start_discoverable_authentication().map_err(rejected)?;
        // webauthn-rs marks every discoverable request conditional; only the autofill one is.
        if mode != (LoginMode::Discoverable { conditional: true }) {
            options.mediation = None;
        }
        (options, CeremonyKind::Login { bound_to, state: LoginState::Discoverable(state) })
    } else {
        let (options, state) = c.webauthn.start_passkey_authentication(&passkeys).map_err(rejected)?;
        (options, CeremonyKind::Login { bound_to, state: LoginState::Listed(state) })
    };
    let ceremony = if visitor { c.seal_visitor(kind, next)? } else { c.park(kind, next).await? };
    Ok(Started { ceremony, options })
}

/// The account a national ID number or email names, if active.
async fn find_by_identifier(c: &Ceremonies<'_>, identifier: &str) -> Result<Option<Citizen>, PasskeyError> {
    let ident = identifier.trim().to_lowercase();
    if ident.is_empty() || ident.len() > 256 {
        return Ok(None);
    }
    let found = if ident.len() == 12 && ident.bytes().all(|b| b.is_ascii_digit()) {
        c.store.find_citizen_by_national_id(&ident).await?
    } else {
        c.store.find_citizen_by_email(&ident).await?
    };
    Ok(found.filter(|c| c.account.status == "active"))
}

/// A failure, with the account it concerns when known (for the audit trail).
struct Failure(PasskeyError, Option<String>);

impl From<PasskeyError> for Failure {
    fn from(e: PasskeyError) -> Self {
        Self(e, None)
    }
}

/// Verify the authenticator's answer and sign the citizen in: the stored
/// counter, backup flags and last use are updated, the failed-password
/// throttle of the account's identifiers is cleared, and the attempt is
/// audited (`login.passkey`) either way.
pub async fn finish_login(
    c: &Ceremonies<'_>,
    ceremony: &str,
    credential: &PublicKeyCredential,
    meta: &Meta,
) -> Result<PasskeyLogin, PasskeyError> {
    match finish(c, ceremony, credential).await {
        Ok(login) => {
            let detail = json!({ "passkey_id": login.passkey.id, "name": login.passkey.name, "amr": login.amr });
            let account = Some(login.citizen.account.id.as_str());
            record(c.store, c.now, meta, account, "login.passkey", Outcome::Success, detail).await;
            Ok(login)
        }
        Err(Failure(error, account)) => {
            let outcome = match error {
                PasskeyError::WrongAccount | PasskeyError::AccountDisabled => Outcome::Denied,
                _ => Outcome::Failure,
            };
            let detail = json!({ "reason": error.code() });
            record(c.store, c.now, meta, account.as_deref(), "login.passkey", outcome, detail).await;
            Err(error)
        }
    }
}

async fn finish(c: &Ceremonies<'_>, id: &str, credential: &PublicKeyCredential) -> Result<PasskeyLogin, Failure> {
    let (ceremony, mark) = c.take(id).await?;
    let CeremonyKind::Login { bound_to, state } = ceremony.kind else {
        return Err(PasskeyError::CeremonyExpired.into());
    };
    let cred_id = credential_key(credential.get_credential_id());
    let Some(mut stored) = c.store.find_passkey_by_credential(&cred_id).await.map_err(PasskeyError::from)? else {
        return Err(PasskeyError::UnknownCredential.into());
    };
    let account = Some(stored.account_id.clone());
    let fail = |e: PasskeyError| Failure(e, account.clone());
    // Step-up and username-first: only the named account's passkeys count.
    if bound_to.as_ref().is_some_and(|a| *a != stored.account_id) {
        return Err(fail(PasskeyError::WrongAccount));
    }
    let mut passkey: Passkey =
        serde_json::from_str(&stored.passkey).map_err(|e| fail(PasskeyError::Unavailable(e.to_string())))?;
    let result = verify(c, credential, state, &passkey, &stored).map_err(&fail)?;
    if let Some(mark) = mark {
        c.answered(&mark).await.map_err(&fail)?;
    }
    let citizen = c.store.get_citizen(&stored.account_id).await.map_err(|e| fail(e.into()))?;
    let Some(citizen) = citizen.filter(|c| c.account.status == "active") else {
        return Err(fail(PasskeyError::AccountDisabled));
    };
    // WebAuthn L3 §7.2 steps 21–22: keep the counter and the backup state as last seen.
    if result.needs_update() {
        passkey.update_credential(&result);
        stored.passkey = serde_json::to_string(&passkey).map_err(|e| fail(PasskeyError::Unavailable(e.to_string())))?;
    }
    stored.sign_count = stored.sign_count.max(i64::from(result.counter()));
    stored.backup_eligible = stored.backup_eligible || result.backup_eligible();
    stored.backup_state = result.backup_state();
    stored.last_used_at = Some(c.now);
    c.store.update_passkey_use(&stored).await.map_err(|e| fail(e.into()))?;
    // A passkey proves the account holder: failed password guesses by someone else stop slowing them.
    accounts::reset_login_throttle(c.cache, &citizen).await.map_err(|e| fail(e.into()))?;
    // RFC 8176 §2: a synced (backup-eligible) passkey is not bound to hardware.
    let amr = if stored.backup_eligible { acr::AMR_PASSKEY_SYNCED } else { acr::AMR_PASSKEY_DEVICE };
    Ok(PasskeyLogin { citizen, passkey: stored, amr, next: ceremony.next })
}

/// Check the assertion against the ceremony's state (challenge, origin,
/// RP ID hash, signature, user verification) and, for a discoverable
/// ceremony, that the authenticator's user handle is this account's.
fn verify(
    c: &Ceremonies<'_>,
    credential: &PublicKeyCredential,
    state: LoginState,
    passkey: &Passkey,
    stored: &StoredPasskey,
) -> Result<AuthenticationResult, PasskeyError> {
    let rejected = |e: webauthn_rs::prelude::WebauthnError| PasskeyError::Rejected(e.to_string());
    let result = match state {
        LoginState::Listed(state) => c.webauthn.finish_passkey_authentication(credential, &state).map_err(rejected)?,
        LoginState::Discoverable(state) => {
            let (handle, _) = c.webauthn.identify_discoverable_authentication(credential).map_err(rejected)?;
            if handle != user_handle(&stored.account_id) {
                return Err(PasskeyError::Rejected("the user handle is not the credential's account".into()));
            }
            c.webauthn.finish_discoverable_authentication_v2(credential, state, passkey).map_err(rejected)?
        }
    };
    // Required by the ceremony's policy already; checked again because LoA2 rests on it.
    if !result.user_verified() {
        return Err(PasskeyError::Rejected("user verification missing".into()));
    }
    Ok(result)
}
