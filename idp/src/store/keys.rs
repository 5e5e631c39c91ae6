//! The signing-key lifecycle's store: atomic state changes, re-wrapping under
//! a new key-encryption key, the rotation schedule, and which key signed a grant.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{SigningKey, StoreResult, Timestamp};

/// One key's new state, applied only if it is still in `from_state` (compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUpdate {
    /// Key id.
    pub kid: String,
    /// The state the caller saw; the update fails if the row has moved on.
    pub from_state: String,
    /// New state (`active`, `retired`, `revoked`).
    pub state: String,
    /// New `activated_at`.
    pub activated_at: Option<Timestamp>,
    /// New `retired_at`.
    pub retired_at: Option<Timestamp>,
}

/// The automatic rotation schedule (one per cluster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchedule {
    /// Seconds between rotations.
    pub interval_secs: i64,
    /// When the next rotation is due.
    pub next_at: Timestamp,
    /// Last change of the schedule itself.
    pub updated_at: Timestamp,
}

/// Key lifecycle operations that must be atomic across nodes.
#[async_trait]
pub trait KeyLifecycleStore: Send + Sync {
    /// In one transaction: apply every update (each only if its row is still in
    /// `from_state`) and insert `inserts`. Returns `false`, changing nothing,
    /// when any update found its row moved on (another node got there first).
    async fn change_signing_keys(&self, updates: &[KeyUpdate], inserts: &[SigningKey]) -> StoreResult<bool>;
    /// Delete a key if it is still in `state`; returns whether it was deleted.
    async fn delete_signing_key(&self, kid: &str, state: &str) -> StoreResult<bool>;
    /// In one transaction: replace `private_enc` and `kek_id` of each key, and
    /// `value_enc` and `kek_id` of each server secret (each only if still
    /// wrapped by the old KEK id, the pair's second element), and check that
    /// no key and no secret remains under another KEK. Returns `false`,
    /// changing nothing, if any check fails: a re-wrap is all or nothing, so
    /// no row is ever left under a KEK the operator is about to discard.
    async fn rewrap_signing_keys(
        &self,
        keys: &[(SigningKey, String)],
        secrets: &[(super::ServerSecret, String)],
    ) -> StoreResult<bool>;
    /// The rotation schedule, if one is set.
    async fn get_key_schedule(&self) -> StoreResult<Option<KeySchedule>>;
    /// Set (insert or replace) the schedule, or remove it with `None`.
    async fn put_key_schedule(&self, schedule: Option<&KeySchedule>) -> StoreResult<()>;
    /// Move `next_at` from `old` to `new` if it still is `old`; `true` for the
    /// one caller that changed it.
    async fn advance_key_schedule(&self, old: Timestamp, new: Timestamp) -> StoreResult<bool>;
    /// Record that `kid` signed tokens of a grant. Every key that ever signed
    /// one of its tokens is kept; recording the same pair again does nothing.
    async fn add_grant_signing_kid(&self, grant_id: &str, kid: &str) -> StoreResult<()>;
    /// Revoke every live grant any of whose tokens `kid` signed; returns how many.
    async fn revoke_grants_signed_by(&self, kid: &str, now: Timestamp) -> StoreResult<u64>;
}
