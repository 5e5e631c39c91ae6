//! Renaming and removing a citizen's own passkeys.

use serde_json::json;

use super::{Meta, PasskeyError, record, valid_name};
use crate::domain::audit::Outcome;
use crate::domain::oidc::acr;
use crate::store::{Store, StoreError, Timestamp};

/// Rename one of the account's passkeys (audited as `passkey.rename`).
pub async fn rename(
    store: &dyn Store,
    now: Timestamp,
    account_id: &str,
    passkey_id: &str,
    name: &str,
    meta: &Meta,
) -> Result<(), PasskeyError> {
    let name = valid_name(name)?;
    match store.rename_passkey(account_id, passkey_id, &name).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(PasskeyError::NotFound),
        Err(e) => return Err(e.into()),
    }
    let detail = json!({ "passkey_id": passkey_id, "name": name });
    record(store, now, meta, Some(account_id), "passkey.rename", Outcome::Success, detail).await;
    Ok(())
}

/// Remove one of the account's passkeys (audited as `passkey.remove`). The
/// last one of an account without a password stays: without it the citizen
/// could not sign in at all.
pub async fn remove(
    store: &dyn Store,
    now: Timestamp,
    account_id: &str,
    passkey_id: &str,
    meta: &Meta,
) -> Result<(), PasskeyError> {
    let existing = store.list_passkeys(account_id).await?;
    let Some(target) = existing.iter().find(|p| p.id == passkey_id) else {
        return Err(PasskeyError::NotFound);
    };
    let has_password = store.get_password_hash(account_id).await?.is_some();
    match store.delete_passkey(account_id, passkey_id, !has_password).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(PasskeyError::NotFound),
        Err(StoreError::Conflict(_)) => return Err(PasskeyError::LastCredential),
        Err(e) => return Err(e.into()),
    }
    let detail = json!({ "passkey_id": passkey_id, "name": target.name, "device": target.device });
    record(store, now, meta, Some(account_id), "passkey.remove", Outcome::Success, detail).await;
    Ok(())
}

/// Whether a session at `session_acr` may add, rename or remove passkeys of
/// its account. Once the account has a passkey, only a passkey session
/// (LoA2) may: otherwise a password alone (LoA1) could remove the citizen's
/// passkeys and register the holder's own, and so reach LoA2 (NIST SP
/// 800-63B §6.1.2: binding an authenticator needs the assurance it grants).
/// The first passkey is added from a password session.
pub async fn may_manage(store: &dyn Store, account_id: &str, session_acr: &str) -> Result<(), PasskeyError> {
    if acr::satisfies(session_acr, acr::LOA2) || store.list_passkeys(account_id).await?.is_empty() {
        Ok(())
    } else {
        Err(PasskeyError::StepUpRequired)
    }
}
