//! Passkeys (WebAuthn credentials) of citizen accounts.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{StoreResult, Timestamp};

/// One registered passkey. Everything here is public data: the credential's
/// public key, counter and flags; there is no secret to protect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// Opaque id (shown in page URLs and audit details).
    pub id: String,
    /// Owner account.
    pub account_id: String,
    /// The WebAuthn credential id, base64url without padding (unique).
    pub credential_id: String,
    /// webauthn-rs's serialised `Passkey` (JSON text).
    pub passkey: String,
    /// Name the citizen gave it.
    pub name: String,
    /// Registration time.
    pub created_at: Timestamp,
    /// Last successful sign-in with it.
    pub last_used_at: Option<Timestamp>,
    /// The authenticator's signature counter as last seen (0 for most synced passkeys).
    pub sign_count: i64,
    /// BE flag: the credential may be synced or backed up (not bound to one device).
    pub backup_eligible: bool,
    /// BS flag: the credential is currently backed up or synced.
    pub backup_state: bool,
    /// Device label from the browser that registered it (`Chrome on Android`).
    pub device: Option<String>,
}

/// Passkeys, per account.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Insert; `Conflict("credential_id")` when the credential is already
    /// registered (to this or another account), `NotFound` for an unknown account.
    async fn create_passkey(&self, passkey: &StoredPasskey) -> StoreResult<()>;
    /// An account's passkeys, oldest first.
    async fn list_passkeys(&self, account_id: &str) -> StoreResult<Vec<StoredPasskey>>;
    /// By credential id (base64url).
    async fn find_passkey_by_credential(&self, credential_id: &str) -> StoreResult<Option<StoredPasskey>>;
    /// After a sign-in: replace the serialised credential, counter, backup
    /// flags and `last_used_at` of the passkey with `passkey.id`; `NotFound` if gone.
    async fn update_passkey_use(&self, passkey: &StoredPasskey) -> StoreResult<()>;
    /// Rename one of the account's passkeys; `NotFound` if the account has no such passkey.
    async fn rename_passkey(&self, account_id: &str, id: &str, name: &str) -> StoreResult<()>;
    /// Delete one of the account's passkeys; `NotFound` if it has no such
    /// passkey. With `keep_last`, refuse with `Conflict("last_passkey")` when it
    /// is the account's only one, deciding under a lock on the account so two
    /// concurrent deletions cannot remove the last two.
    async fn delete_passkey(&self, account_id: &str, id: &str, keep_last: bool) -> StoreResult<()>;
}
