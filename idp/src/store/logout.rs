//! The back-channel logout outbox (OpenID Connect Back-Channel Logout 1.0).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Consent, SsoSession, StoreResult, Timestamp};

/// One logout notice for one client: what the logout token will say and where
/// it goes. The token itself is signed at each delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutNotice {
    /// Opaque id; also the logout token's `jti`.
    pub id: String,
    /// The client told (`aud`).
    pub client_id: String,
    /// Its `backchannel_logout_uri` at the time of logout.
    pub target_uri: String,
    /// The `sub` that client saw; empty for a `sid`-only logout token (a login acting for a business).
    pub subject: String,
    /// The SSO session that ended (`sid`).
    pub sid: String,
    /// The client's ID token algorithm.
    pub alg: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Not before this time.
    pub next_attempt_at: Timestamp,
    /// Taken by a node until this time.
    pub lease_until: Option<Timestamp>,
    /// Set once the client answered 200/204.
    pub delivered_at: Option<Timestamp>,
    /// Set when retries ran out.
    pub given_up_at: Option<Timestamp>,
    /// Short reason of the last failure (no body, no token).
    pub last_error: Option<String>,
    /// When the session ended.
    pub created_at: Timestamp,
}

/// The outbox: written in the request that ends a session, drained by a worker.
#[async_trait]
pub trait LogoutOutboxStore: Send + Sync {
    /// Add notices (all or none).
    async fn enqueue_logout_notices(&self, notices: &[LogoutNotice]) -> StoreResult<()>;
    /// Take up to `limit` due notices (`next_attempt_at <= now`, not delivered,
    /// not given up, lease free or lapsed) and lease them until `lease_until`.
    /// A row is returned to one caller only, so two nodes never send it twice
    /// at once.
    async fn claim_logout_notices(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<LogoutNotice>>;
    /// Record a delivery (clears the lease).
    async fn logout_notice_delivered(&self, id: &str, now: Timestamp) -> StoreResult<()>;
    /// Record a failed attempt: the next try at `next_attempt_at`, or give up
    /// when `None`. `lease_until` is the lease the worker was given: it fences
    /// the write, so a worker whose lease lapsed (and whose row another node
    /// took) records nothing. Lease ends only grow, so the value names one lease.
    async fn logout_notice_failed(
        &self,
        id: &str,
        lease_until: Timestamp,
        now: Timestamp,
        next_attempt_at: Option<Timestamp>,
        error: &str,
    ) -> StoreResult<()>;
    /// Revoke the grants (and so their refresh tokens) issued under SSO
    /// session `sid`, except those with `offline_access`, which by design
    /// outlive the browser session (OIDC Core §11). Returns how many.
    async fn revoke_session_grants(&self, sid: &str, now: Timestamp) -> StoreResult<u64>;
    /// Revoke every live grant of an account, `offline_access` included (the
    /// account is disabled or its owner signed out everywhere). Returns how many.
    async fn revoke_account_grants(&self, account_id: &str, now: Timestamp) -> StoreResult<u64>;
    /// The account's SSO sessions that are neither revoked nor expired, newest first.
    async fn live_account_sessions(&self, account_id: &str, now: Timestamp) -> StoreResult<Vec<SsoSession>>;
    /// The account's consents (the services it let in), oldest first.
    async fn list_consents(&self, account_id: &str) -> StoreResult<Vec<Consent>>;
    /// "Revoke access": delete the consent and revoke the account's grants
    /// for that client (their refresh tokens with them), in one transaction.
    /// Returns whether there was a consent.
    async fn revoke_consent(&self, account_id: &str, client_id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Notices for one client, newest first (for operators and tests).
    async fn list_logout_notices(&self, client_id: &str) -> StoreResult<Vec<LogoutNotice>>;
}
