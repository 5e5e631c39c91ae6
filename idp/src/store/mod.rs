//! Durable state: one small trait per aggregate, one implementation per engine
//! (`sqlite`, `postgres`), chosen once at start-up from the URL scheme.
//!
//! SQL stops in this module. Domain code sees only these traits and plain
//! model types; timestamps are Unix seconds (`i64`) so both engines store them
//! the same way.

mod businesses;
mod engine;
mod keys;
pub mod live;
mod logout;
mod passkeys;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use businesses::{
    Business, BusinessMember, BusinessStore, MEMBER_ACTIVE, MEMBER_INVITED, MemberView, Membership,
    ROLE_AUTHORISED_STAFF, ROLE_LEGAL_REPRESENTATIVE, ServerSecret, ServerSecretStore,
};
pub use keys::{KeyLifecycleStore, KeySchedule, KeyUpdate};
pub use logout::{LogoutNotice, LogoutOutboxStore};
pub use passkeys::{PasskeyStore, StoredPasskey};

/// Unix time in seconds.
pub type Timestamp = i64;

/// What can go wrong in a store call, as the domain needs to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the payload names the field
    /// (`national_id`, `email`, `code`, `client_id`…).
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// The row the call needs does not exist.
    #[error("not found")]
    NotFound,
    /// The engine failed (disk full, a constraint the domain did not expect, a
    /// bad row…). Clients get a 500. The text is for logs only.
    #[error("store failed: {0}")]
    Backend(String),
    /// The database cannot be reached for now (connection refused or lost,
    /// pool timed out, server shutting down, lock wait exhausted): the same
    /// request may succeed shortly, so clients get a 503
    /// `temporarily_unavailable`, as for an unreachable cache. The text is for
    /// logs only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A federation member that owns clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Opaque id.
    pub id: String,
    /// Short unique code chosen by the admin (`moh`, `hanoi`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// `ministry`, `province` or `agency`.
    pub kind: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A sign-in identity. Citizens only for now; businesses arrive later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Internal id, never shown to relying parties.
    pub id: String,
    /// Stable random public subject identifier (`sub` for public clients).
    pub subject: String,
    /// `citizen` (later also `business`).
    pub kind: String,
    /// `active` or `disabled`.
    pub status: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Citizen profile claims. The national ID is a claim behind its own scope, never `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenProfile {
    /// Owner account.
    pub account_id: String,
    /// 12-digit national ID number (unique).
    pub national_id: String,
    /// Checked against a record (admin-created or imported), not only typed in at sign-up.
    pub national_id_verified: bool,
    /// Full name as on the ID card.
    pub full_name: String,
    /// Lower-cased email (unique when present).
    pub email: Option<String>,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Phone in E.164 form.
    pub phone: Option<String>,
    /// Whether the phone was verified.
    pub phone_verified: bool,
    /// `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    /// `female`, `male` or other text.
    pub gender: Option<String>,
    /// Postal address, one formatted string.
    pub address: Option<String>,
    /// Last profile change.
    pub updated_at: Timestamp,
}

/// An account with its profile, as list and admin views need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citizen {
    /// The account row.
    pub account: Account,
    /// The profile row.
    pub profile: CitizenProfile,
}

/// A registered relying party (OAuth client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Public client identifier.
    pub client_id: String,
    /// Owning organisation id.
    pub organisation_id: String,
    /// Display name shown on the consent page.
    pub name: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`.
    pub auth_method: String,
    /// SHA-256 (hex) of the server-generated secret, for secret-based methods.
    pub secret_hash: Option<String>,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact-match post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// Scopes the client may request.
    pub scopes: Vec<String>,
    /// ID token signing algorithm (`RS256`, `PS256`, `ES256`, `EdDSA`), and
    /// the access tokens' when `access_token_alg` is not set.
    pub signing_alg: String,
    /// The access tokens' own algorithm (RFC 9068 tokens are checked by
    /// the client's APIs, not by its OpenID library), if not `signing_alg`.
    #[serde(default)]
    pub access_token_alg: Option<String>,
    /// Client JWKS (JSON text) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Where to fetch the client JWKS instead.
    pub jwks_uri: Option<String>,
    /// PKCE required (always for public clients; on by default).
    pub require_pkce: bool,
    /// `active` or `disabled`.
    pub status: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// SHA-256 (hex) of the secret replaced by the last rotation, while its grace period runs.
    pub previous_secret_hash: Option<String>,
    /// When the previous secret stops working (exclusive).
    pub previous_secret_expires_at: Option<Timestamp>,
    /// The weakest `acr` the client accepts (`LoA1`, `LoA2`): every
    /// authorization for it needs at least this level.
    #[serde(default = "default_minimum_acr")]
    pub minimum_acr: String,
    /// Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed (none: no notices).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0 §2: the page loaded in an iframe at logout.
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    /// OIDC Core §8: `public` (one `sub` per account everywhere) or
    /// `pairwise` (a `sub` per sector).
    #[serde(default = "default_subject_type")]
    pub subject_type: String,
    /// The sector pairwise subjects are computed over: the host of
    /// `sector_identifier_uri` (proven by the document), or
    /// `<organisation id>:<host>` for the one host of the redirect URIs
    /// (unproven, so it belongs to the registering organisation only).
    #[serde(default)]
    pub sector_identifier: Option<String>,
    /// OIDC Registration §5: a JSON array of URIs that must hold every
    /// redirect URI, fetched and checked at registration.
    #[serde(default)]
    pub sector_identifier_uri: Option<String>,
    /// With the `business` scope, the citizen may also choose to act as themself.
    #[serde(default)]
    pub business_self_allowed: bool,
    /// RFC 9126 §5 `require_pushed_authorization_requests`: the authorization
    /// endpoint takes this client's requests only by a `request_uri` from PAR.
    #[serde(default)]
    pub require_par: bool,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: token requests must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound: bool,
}

/// `subject_type` of clients stored before it existed.
fn default_subject_type() -> String {
    "public".to_owned()
}

/// `minimum_acr` of clients stored before it existed: no demand beyond a password.
fn default_minimum_acr() -> String {
    "LoA1".to_owned()
}

/// What a citizen agreed a client may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Citizen.
    pub account_id: String,
    /// Client.
    pub client_id: String,
    /// Sorted, deduplicated scopes.
    pub scopes: Vec<String>,
    /// When agreed.
    pub granted_at: Timestamp,
}

/// The result of one authorization: the unit that refresh tokens, access
/// tokens and revocation hang off (the refresh-token "family").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Opaque id (carried as the `gid` claim of access tokens).
    pub id: String,
    /// Citizen.
    pub account_id: String,
    /// Client.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The `claims` request parameter, JSON text, if any.
    pub claims: Option<String>,
    /// SSO session id the grant came from.
    pub sid: Option<String>,
    /// When the citizen authenticated.
    pub auth_time: Timestamp,
    /// Authentication context class (`LoA1`, `LoA2`).
    pub acr: String,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Absolute end of the grant (refresh tokens cannot outlive it).
    pub expires_at: Timestamp,
    /// Set when the grant (and so the whole family) is revoked.
    pub revoked_at: Option<Timestamp>,
    /// The business the citizen acts for (`business` scope), if any.
    #[serde(default)]
    pub business_id: Option<String>,
    /// RFC 9449 §5: the key a public client's refresh tokens are bound to.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// One refresh token of a family. Only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// SHA-256 (hex) of the token.
    pub hash: String,
    /// Family.
    pub grant_id: String,
    /// Issue time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Set when rotated; a second presentation is reuse.
    pub used_at: Option<Timestamp>,
}

/// Outcome of presenting a refresh token for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now used, the new one stored in its family.
    Rotated,
    /// The old token is unused, but its grant is revoked: nothing changed.
    Revoked,
    /// The token was already rotated: RFC 6819 §5.2.2.3 reuse. Payload: grant id.
    Reused(String),
    /// Unknown token.
    Unknown,
}

/// A signed-in browser session (the SSO session), referenced by `sid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSession {
    /// Public session id (`sid` claim).
    pub sid: String,
    /// Citizen.
    pub account_id: String,
    /// When the citizen authenticated.
    pub auth_time: Timestamp,
    /// `LoA1`/`LoA2`.
    pub acr: String,
    /// RFC 8176 methods.
    pub amr: Vec<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Absolute expiry.
    pub expires_at: Timestamp,
    /// Set on logout or admin action.
    pub revoked_at: Option<Timestamp>,
    /// The browser's `User-Agent` when the session opened (cut to 200 characters).
    pub user_agent: Option<String>,
    /// When the session last signed the citizen in to a service (SSO), if ever.
    pub last_seen_at: Option<Timestamp>,
    /// Where the session was opened, from the operator's network list
    /// (`IDP_SESSION_PLACES`); `None` when not configured or not listed.
    pub place: Option<String>,
}

/// A signing key; the private half is encrypted under the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Key id (`kid`).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// `next`, `active`, `retired` or `revoked`.
    pub state: String,
    /// AES-256-GCM ciphertext of the private key (nonce || ciphertext || tag).
    pub private_enc: Vec<u8>,
    /// Which key-encryption key wrapped it.
    pub kek_id: String,
    /// Public JWK, JSON text.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it started signing.
    pub activated_at: Option<Timestamp>,
    /// When it stopped signing.
    pub retired_at: Option<Timestamp>,
}

/// An admin API bearer token; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminToken {
    /// Opaque id (shown in lists).
    pub id: String,
    /// SHA-256 (hex) of the token.
    pub hash: String,
    /// `security-admin`, `org-admin` or `auditor`.
    pub role: String,
    /// For `org-admin`: the organisation it is bound to.
    pub organisation_id: Option<String>,
    /// Free text to recognise it.
    pub label: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Optional expiry.
    pub expires_at: Option<Timestamp>,
    /// Set when revoked.
    pub revoked_at: Option<Timestamp>,
}

/// One event of the audit trail as stored. `hash` is SHA-256 over the other
/// fields and `prev_hash` (see `domain::audit`); the chain starts at 64 zeros.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it happened.
    pub at: Timestamp,
    /// Who: an admin token (label and id), an account id, a client id or `unknown`.
    pub actor: String,
    /// What, as `noun.verb` (`client.update`, `login.password`…).
    pub action: String,
    /// On what (a client id, an account id, a token id), if anything.
    pub target: Option<String>,
    /// The peer address of the request.
    pub source_ip: Option<String>,
    /// The request id (`x-request-id`).
    pub request_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Extra facts, JSON text; never a secret.
    pub detail: Option<String>,
    /// `hash` of the event before (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) of this event, chained.
    pub hash: String,
}

/// Computes an event's `hash` once the store has filled its `seq` and `prev_hash`.
pub type AuditChain = fn(&AuditEvent) -> String;

/// What `AuditStore::search_audit_events` matches; every present field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Case-insensitive substring of the actor.
    pub actor: Option<String>,
    /// Exact action, or a prefix when it ends with `.` (`client.`).
    pub action: Option<String>,
    /// Exact target.
    pub target: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
}

/// The append-only audit trail. There is no update or delete.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Append in one serialised transaction: take the next `seq` and the last
    /// hash from the chain head, fill them in, set `hash = chain(&event)`,
    /// insert, move the head. `event.seq`, `prev_hash` and `hash` are ignored.
    /// Returns the event as stored.
    async fn append_audit_event(&self, event: &AuditEvent, chain: AuditChain) -> StoreResult<AuditEvent>;
    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn audit_events_after(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditEvent>>;
    /// Matching events, newest first, at most `limit`.
    async fn search_audit_events(&self, filter: &AuditFilter, limit: u32) -> StoreResult<Vec<AuditEvent>>;
    /// The chain head: last `seq` and its hash (`0` and 64 zeros when empty).
    async fn audit_head(&self) -> StoreResult<(i64, String)>;
}

/// One citizen of a bulk import, already validated, with an optional
/// existing Argon2id PHC hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCitizen {
    /// Account and profile to insert.
    pub citizen: Citizen,
    /// Existing password hash (PHC string), if any.
    pub password_hash: Option<String>,
}

/// What happened to one row of an import batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Inserted.
    Inserted,
    /// A citizen with this national ID already exists; nothing changed.
    AlreadyPresent,
    /// Another account already has this email; nothing inserted.
    EmailTaken,
}

/// Bulk import of citizens.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Insert a batch in one transaction, idempotently: a national ID already
    /// present is skipped (`ON CONFLICT (national_id) DO NOTHING`), so a re-run
    /// changes nothing. One outcome per input row, in order.
    async fn import_citizens(&self, batch: &[ImportedCitizen]) -> StoreResult<Vec<ImportOutcome>>;
}

/// Organisations.
#[async_trait]
pub trait OrganisationStore: Send + Sync {
    /// Insert; `Conflict("code")` on a duplicate code.
    async fn create_organisation(&self, org: &Organisation) -> StoreResult<()>;
    /// By id or by code.
    async fn find_organisation(&self, id_or_code: &str) -> StoreResult<Option<Organisation>>;
    /// All, ordered by code.
    async fn list_organisations(&self) -> StoreResult<Vec<Organisation>>;
}

/// Citizen accounts, profiles and passwords.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Insert account, profile and optional password hash in one transaction;
    /// `Conflict("national_id")` or `Conflict("email")` on duplicates.
    async fn create_citizen(&self, citizen: &Citizen, password_hash: Option<&str>) -> StoreResult<()>;
    /// By account id.
    async fn get_citizen(&self, account_id: &str) -> StoreResult<Option<Citizen>>;
    /// By national ID number.
    async fn find_citizen_by_national_id(&self, national_id: &str) -> StoreResult<Option<Citizen>>;
    /// By lower-cased email.
    async fn find_citizen_by_email(&self, email: &str) -> StoreResult<Option<Citizen>>;
    /// Argon2id PHC string, if the account has a password.
    async fn get_password_hash(&self, account_id: &str) -> StoreResult<Option<String>>;
    /// Replace (or set) the password hash.
    async fn set_password_hash(&self, account_id: &str, hash: &str, now: Timestamp) -> StoreResult<()>;
    /// Replace the hash `old` by `new` (the same password with other costs),
    /// only while `old` is still the account's: a password changed meanwhile
    /// stays. Leaves the time the password was set. True if replaced.
    async fn rehash_password(&self, account_id: &str, old: &str, new: &str) -> StoreResult<bool>;
    /// `active` / `disabled`; `NotFound` if no such account.
    async fn set_account_status(&self, account_id: &str, status: &str) -> StoreResult<()>;
    /// Page through citizens by account id, `limit` rows after `after`.
    async fn list_citizens(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Citizen>>;
}

/// Relying parties.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Insert; `Conflict("client_id")` on a duplicate.
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    /// By client id.
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    /// All, or one organisation's, ordered by client id.
    async fn list_clients(&self, organisation_id: Option<&str>) -> StoreResult<Vec<Client>>;
    /// Replace every mutable field; `NotFound` if absent.
    async fn update_client(&self, client: &Client) -> StoreResult<()>;
}

/// Remembered consent.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// The consent of one citizen for one client.
    async fn get_consent(&self, account_id: &str, client_id: &str) -> StoreResult<Option<Consent>>;
    /// Insert or replace.
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()>;
}

/// Grants, refresh-token families and revoked access-token ids.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Insert a grant and, optionally, its first refresh token, atomically.
    async fn create_grant(&self, grant: &Grant, refresh: Option<&RefreshToken>) -> StoreResult<()>;
    /// [`GrantStore::create_grant`], recording in the same transaction the
    /// keys that signed the grant's first tokens (see
    /// `KeyLifecycleStore::add_grant_signing_kid`).
    async fn create_signed_grant(
        &self,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
        kids: &[String],
    ) -> StoreResult<()>;
    /// By id.
    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<Grant>>;
    /// Mark revoked (idempotent; keeps the first revocation time).
    async fn revoke_grant(&self, grant_id: &str, now: Timestamp) -> StoreResult<()>;
    /// A refresh token by hash.
    async fn get_refresh_token(&self, hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// In one statement: if `old_hash` is unused and its grant live, mark it
    /// used at `new.created_at` and insert `new` into its family. Exactly one
    /// concurrent caller can rotate a given token.
    async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken) -> StoreResult<Rotation>;
    /// Deny-list an access token id until it would have expired anyway.
    async fn revoke_jti(&self, jti: &str, expires_at: Timestamp) -> StoreResult<()>;
    /// Whether an access token id is deny-listed.
    async fn is_jti_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// An access token id just minted, not yet handed out: nobody can have
    /// deny-listed it, so the read cache may answer for it until a write does.
    fn issued_jti(&self, jti: &str);
}

/// SSO sessions and the clients each one has signed into.
#[async_trait]
pub trait SsoSessionStore: Send + Sync {
    /// Insert.
    async fn create_sso_session(&self, session: &SsoSession) -> StoreResult<()>;
    /// By sid.
    async fn get_sso_session(&self, sid: &str) -> StoreResult<Option<SsoSession>>;
    /// Mark revoked (idempotent).
    async fn revoke_sso_session(&self, sid: &str, now: Timestamp) -> StoreResult<()>;
    /// Revoke every session of an account; returns how many were live.
    async fn revoke_account_sessions(&self, account_id: &str, now: Timestamp) -> StoreResult<u64>;
    /// Record that the session signed into a client (idempotent).
    async fn add_session_client(&self, sid: &str, client_id: &str, now: Timestamp) -> StoreResult<()>;
    /// Clients the session signed into, ordered by first sign-in.
    async fn list_session_clients(&self, sid: &str) -> StoreResult<Vec<String>>;
    /// Set `last_seen_at` to `now` unless it is already after `not_before`
    /// (so a busy session writes at most once per interval). Returns whether it wrote.
    async fn touch_sso_session(&self, sid: &str, now: Timestamp, not_before: Timestamp) -> StoreResult<bool>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key, oldest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// Insert.
    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()>;
    /// Replace state and the three timestamps of one key.
    async fn update_signing_key(&self, key: &SigningKey) -> StoreResult<()>;
}

/// Admin API tokens.
#[async_trait]
pub trait AdminTokenStore: Send + Sync {
    /// Insert.
    async fn create_admin_token(&self, token: &AdminToken) -> StoreResult<()>;
    /// By SHA-256 of the presented token.
    async fn find_admin_token(&self, hash: &str) -> StoreResult<Option<AdminToken>>;
    /// All tokens, oldest first.
    async fn list_admin_tokens(&self) -> StoreResult<Vec<AdminToken>>;
    /// Mark revoked (idempotent; keeps the first time); `NotFound` if no such id.
    async fn revoke_admin_token(&self, id: &str, now: Timestamp) -> StoreResult<AdminToken>;
}

/// Signed-in browser sessions (tower-sessions records), kept durable so a
/// restart signs nobody out (those of browsers that have not signed in are in
/// the cache: `http::session::Tiered`).
#[async_trait]
pub trait WebSessionStore: Send + Sync {
    /// The record, if present and not expired at `now`.
    async fn load_web_session(&self, id: &str, now: Timestamp) -> StoreResult<Option<Vec<u8>>>;
    /// Insert or replace.
    async fn save_web_session(&self, id: &str, data: &[u8], expires_at: Timestamp) -> StoreResult<()>;
    /// Insert a new web session; false (nothing written) when `id` is taken.
    async fn create_web_session(&self, id: &str, data: &[u8], expires_at: Timestamp) -> StoreResult<bool>;
    /// Delete (idempotent).
    async fn delete_web_session(&self, id: &str) -> StoreResult<()>;
    /// Delete expired rows (and expired jti deny-list entries, and logout
    /// notices 30 days after their outcome); returns rows removed.
    async fn purge_expired(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Every store, as one object the application holds.
#[async_trait]
pub trait Store:
    OrganisationStore
    + AccountStore
    + ClientStore
    + ConsentStore
    + GrantStore
    + SsoSessionStore
    + KeyStore
    + KeyLifecycleStore
    + AdminTokenStore
    + WebSessionStore
    + AuditStore
    + ImportStore
    + PasskeyStore
    + LogoutOutboxStore
    + BusinessStore
    + ServerSecretStore
{
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// The read cache of hot rows (see [`live`]); the application switches
    /// it on when every node can hear about every write.
    fn live(&self) -> &Arc<live::LiveCache>;
    /// Whether another process wrote to the database since the last call
    /// (SQLite: `PRAGMA data_version` on the writer connection; PostgreSQL:
    /// never asked, always `false`). For the read cache: a second node on
    /// the same SQLite file, or an operator's SQL, is noticed this way.
    async fn changed_elsewhere(&self) -> StoreResult<bool>;
    /// Engine name for logs (`sqlite`, `postgres`).
    fn engine(&self) -> &'static str;
}

/// Connect by URL scheme (`sqlite:` or `postgres:`), creating the SQLite file if
/// needed, and apply pending migrations.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, max_connections).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url, max_connections).await?))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported database URL scheme in {:?}: use sqlite:// or postgres://",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
