//! Registering a passkey for a signed-in citizen (WebAuthn L3 §7.1).

use serde_json::json;
use webauthn_rs::prelude::{CreationChallengeResponse, Credential, RegisterPublicKeyCredential};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::{
    Ceremonies, CeremonyKind, MAX_PER_ACCOUNT, Meta, PasskeyError, Started, credential_key, record, user_handle,
    valid_name,
};
use crate::crypto::random_id;
use crate::domain::audit::Outcome;
use crate::store::{Citizen, StoreError, StoredPasskey};

/// Start registering a passkey for `citizen`. `next` travels with the
/// ceremony and comes back from [`finish_registration`].
pub async fn start_registration(
    c: &Ceremonies<'_>,
    citizen: &Citizen,
    next: Option<String>,
) -> Result<Started<CreationChallengeResponse>, PasskeyError> {
    let account_id = &citizen.account.id;
    let existing = c.store.list_passkeys(account_id).await?;
    if existing.len() >= MAX_PER_ACCOUNT {
        return Err(PasskeyError::TooMany);
    }
    // WebAuthn L3 §5.4.3 excludeCredentials: an authenticator that already
    // holds one of the account's passkeys refuses to make a second.
    let exclude = super::parse_all(&existing).iter().map(|p| p.cred_id().clone()).collect();
    // The name the authenticator shows in its account picker: what the citizen types to sign in.
    let user_name = citizen.profile.email.clone().unwrap_or_else(|| citizen.profile.national_id.clone());
    let (mut options, state) = c
        .webauthn
        .start_passkey_registration(user_handle(account_id), &user_name, &citizen.profile.full_name, Some(exclude))
        .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
    // Sign-in without typing a name needs a discoverable credential
    // (WebAuthn L3 §5.4.4 residentKey); webauthn-rs asks for none by default.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let ceremony =
        c.park_for_account(account_id, CeremonyKind::Register { account_id: account_id.clone(), state }, next).await?;
    Ok(Started { ceremony, options })
}

/// The browser's answer to a registration.
#[derive(Debug)]
pub struct NewPasskey<'a> {
    /// Ceremony id from [`start_registration`].
    pub ceremony: &'a str,
    /// The signed-in account finishing it (must be the one that started it).
    pub account_id: &'a str,
    /// The name the citizen gave it.
    pub name: &'a str,
    /// The authenticator's attestation, as the browser sent it.
    pub credential: &'a RegisterPublicKeyCredential,
    /// Device label of the browser (see [`super::device_label`]).
    pub device: Option<String>,
}

/// Verify the authenticator's answer (challenge, origin, RP ID, user
/// verification) and store the passkey. Returns it and the ceremony's `next`.
pub async fn finish_registration(
    c: &Ceremonies<'_>,
    input: NewPasskey<'_>,
    meta: &Meta,
) -> Result<(StoredPasskey, Option<String>), PasskeyError> {
    // Checked before the ceremony is taken, so a bad name can be corrected and sent again.
    let name = valid_name(input.name)?;
    let ceremony = c.take_for_account(input.account_id, input.ceremony).await?;
    let CeremonyKind::Register { account_id, state } = ceremony.kind else {
        return Err(PasskeyError::CeremonyExpired);
    };
    if account_id != input.account_id {
        return Err(PasskeyError::WrongAccount);
    }
    let passkey = c
        .webauthn
        .finish_passkey_registration(input.credential, &state)
        .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
    let cred = Credential::from(passkey.clone());
    let stored = StoredPasskey {
        id: random_id(),
        account_id: account_id.clone(),
        credential_id: credential_key(&cred.cred_id),
        passkey: serde_json::to_string(&passkey).map_err(|e| PasskeyError::Unavailable(e.to_string()))?,
        name,
        created_at: c.now,
        last_used_at: None,
        sign_count: i64::from(cred.counter),
        backup_eligible: cred.backup_eligible,
        backup_state: cred.backup_state,
        device: input.device,
    };
    match c.store.create_passkey(&stored).await {
        Ok(()) => {}
        // WebAuthn L3 §7.1 step 26: a credential id registered before is refused.
        Err(StoreError::Conflict(_)) => return Err(PasskeyError::AlreadyRegistered),
        Err(e) => return Err(e.into()),
    }
    let detail = json!({
        "passkey_id": stored.id, "name": stored.name, "device": stored.device,
        "backup_eligible": stored.backup_eligible,
    });
    record(c.store, c.now, meta, Some(&account_id), "passkey.add", Outcome::Success, detail).await;
    Ok((stored, ceremony.next))
}
