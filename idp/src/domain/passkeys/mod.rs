//! Passkeys (WebAuthn Level 3): registration and sign-in ceremonies, and
//! managing an account's passkeys.
//!
//! A ceremony is two HTTP requests: the options the browser hands to its
//! authenticator, then the authenticator's answer. Between them the state
//! (challenge, allowed credentials, user-verification policy) lives for
//! [`CEREMONY_TTL`] seconds, and any node can finish what another started:
//!
//! - A signed-in account's ceremony (registration, step-up) waits in the
//!   cache under a random ceremony id and is *taken* by the second request
//!   (`Cache::take`): single use, so a replayed answer finds nothing.
//! - A visitor's sign-in ceremony (the login page, passkey autofill) is
//!   sealed into its own id ([`CeremonyKey`]) and stores nothing until an
//!   answer verifies: then a mark in the cache makes it single use. Every
//!   login page load starts one, and citizens behind one carrier-grade NAT
//!   address share any per-address budget a stored ceremony would need.
//!
//! Every passkey ceremony requires user verification (WebAuthn L3 §6.1
//! flag UV), so a passkey sign-in is two factors: `acr=LoA2`, and the
//! RFC 8176 `amr` of [`crate::domain::oidc::acr`].

mod login;
mod manage;
mod register;
#[cfg(test)]
mod tests;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use super::audit::{self, NewEvent, Outcome};
use super::keys::Keyring;
use crate::cache::Cache;
use crate::crypto::aead::{SealKey, hmac_sha256};
use crate::crypto::{random_token, sha256_hex};
use crate::store::{Store, StoreError, StoredPasskey, Timestamp};

pub use login::{LoginMode, PasskeyLogin, finish_login, start_login};
pub use manage::{may_manage, remove, rename};
pub use register::{NewPasskey, finish_registration, start_registration};

/// Seconds a ceremony may take between its two requests (WebAuthn L3 §5.4.1
/// recommends 300 s for user-verifying authenticators).
pub const CEREMONY_TTL: i64 = 300;
/// Most passkeys one account may hold.
pub const MAX_PER_ACCOUNT: usize = 20;
/// Longest passkey name, in characters.
pub const MAX_NAME: usize = 60;

/// The relying party: passkeys are bound to `rp_id` (a domain) and accepted
/// from `origins` only (WebAuthn L3 §13.4.9).
pub fn relying_party(rp_id: &str, origins: &[Url]) -> Result<Webauthn, String> {
    let (first, more) = origins.split_first().ok_or("no WebAuthn origin")?;
    let mut builder = WebauthnBuilder::new(rp_id, first)
        .map_err(|e| format!("the WebAuthn RP ID {rp_id} does not fit the origin {first}: {e}"))?
        .rp_name("Motcua")
        .timeout(Duration::from_secs(CEREMONY_TTL as u64));
    for origin in more {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(|e| format!("WebAuthn configuration: {e}"))
}

/// What the ceremonies work with: the relying party, the store, the cache,
/// the sealing key and `now`.
#[derive(Clone, Copy)]
pub struct Ceremonies<'a> {
    /// The relying party.
    pub webauthn: &'a Webauthn,
    /// Seals visitors' sign-in ceremonies.
    pub sealing: &'a CeremonyKey,
    /// Accounts and passkeys.
    pub store: &'a dyn Store,
    /// Where ceremony state waits between its two requests.
    pub cache: &'a dyn Cache,
    /// The current time.
    pub now: Timestamp,
}

/// A started ceremony: the id the browser sends back, and the options for its authenticator.
#[derive(Debug, Clone)]
pub struct Started<T> {
    /// Random ceremony id (single use).
    pub ceremony: String,
    /// `CreationChallengeResponse` or `RequestChallengeResponse`.
    pub options: T,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The citizen's address.
    pub source_ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

/// Why a passkey operation failed. `code()` is the JSON `error`, `key()` the
/// message the citizen reads; each variant says the status a browser gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// 400: no such ceremony — expired, already used (a replayed answer) or never started.
    #[error("the ceremony expired or was already used")]
    CeremonyExpired,
    /// 400: the authenticator's answer failed verification (challenge, origin,
    /// RP ID, signature, user verification). The text is for logs only.
    #[error("the authenticator's answer was refused: {0}")]
    Rejected(String),
    /// 400: the credential is not registered here.
    #[error("unknown credential")]
    UnknownCredential,
    /// 403: the credential belongs to another account than the one signing in or stepping up.
    #[error("the credential belongs to another account")]
    WrongAccount,
    /// 409: this authenticator already holds a passkey registered here.
    #[error("the passkey is already registered")]
    AlreadyRegistered,
    /// 409: the account already has [`MAX_PER_ACCOUNT`] passkeys.
    #[error("too many passkeys")]
    TooMany,
    /// 400: the name is empty, too long or has control characters.
    #[error("invalid passkey name")]
    InvalidName,
    /// 400: a step-up for an account without a passkey.
    #[error("the account has no passkey")]
    NoPasskey,
    /// 403: an admin disabled the account.
    #[error("the account is disabled")]
    AccountDisabled,
    /// 404: the account has no passkey with this id.
    #[error("no such passkey")]
    NotFound,
    /// 409: removing it would leave an account without a password no way to sign in.
    #[error("the last passkey of an account without a password cannot be removed")]
    LastCredential,
    /// 403: managing the passkeys of an account that has one needs a passkey
    /// session (LoA2); the page offers the passkey button to get one.
    #[error("a passkey sign-in is needed first")]
    StepUpRequired,
    /// 503: the store or the cache is unreachable. The text is for logs only.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl PasskeyError {
    /// The machine-readable code (JSON `error`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::CeremonyExpired => "ceremony_expired",
            Self::Rejected(_) => "passkey_rejected",
            Self::UnknownCredential => "unknown_credential",
            Self::WrongAccount => "wrong_account",
            Self::AlreadyRegistered => "already_registered",
            Self::TooMany => "too_many_passkeys",
            Self::InvalidName => "invalid_name",
            Self::NoPasskey => "no_passkey",
            Self::AccountDisabled => "account_disabled",
            Self::NotFound => "not_found",
            Self::LastCredential => "last_credential",
            Self::StepUpRequired => "step_up_required",
            Self::Unavailable(_) => "temporarily_unavailable",
        }
    }

    /// The i18n key of the message a citizen sees.
    pub fn key(&self) -> &'static str {
        match self {
            Self::CeremonyExpired => "err.passkey_expired",
            Self::Rejected(_) => "err.passkey_rejected",
            Self::UnknownCredential => "err.passkey_unknown",
            Self::WrongAccount => "err.passkey_wrong_account",
            Self::AlreadyRegistered => "err.passkey_already_registered",
            Self::TooMany => "err.passkey_too_many",
            Self::InvalidName => "err.passkey_name",
            Self::NoPasskey => "err.passkey_none",
            Self::AccountDisabled => "err.account_disabled",
            Self::NotFound => "err.not_found",
            Self::LastCredential => "err.passkey_last",
            Self::StepUpRequired => "err.passkey_step_up",
            Self::Unavailable(_) => "err.server_error",
        }
    }
}

impl From<StoreError> for PasskeyError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<crate::cache::CacheError> for PasskeyError {
    fn from(e: crate::cache::CacheError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Name of the visitor-ceremony secret in `server_secrets` (also its sealing AAD).
pub const CEREMONY_SECRET: &str = "passkey-ceremony";

/// What starts a sealed ceremony id; a cached one (base64url) has no `.`.
const SEALED_PREFIX: &str = "v1.";

/// Longest sealed ceremony id opened (one is about 700 characters).
const MAX_SEALED_ID: usize = 2048;

/// A sealed ceremony's plaintext is padded to a multiple of this, so the
/// id's length says nothing of what it holds (whether an identifier typed
/// for username-first sign-in named an account).
const SEALED_BLOCK: usize = 256;

/// How long an answered sealed ceremony stays marked: its lifetime and an
/// hour, since each node decides expiry by its own clock (the marks are few:
/// one per passkey sign-in).
const ANSWERED_TTL: Duration = Duration::from_secs(CEREMONY_TTL as u64 + 3600);

/// The key that seals a visitor's sign-in ceremony into its id: AES-256-GCM
/// under a key derived for each hour from a deployment secret, so no one key
/// comes near GCM's limit of 2³² random nonces at a country's login rate.
/// The hour travels in the id; an id opens in its hour and the hours either
/// side (nodes' clocks differ), and its own `expires_at` says the rest.
pub struct CeremonyKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for CeremonyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CeremonyKey(..)")
    }
}

impl CeremonyKey {
    /// With a known secret (tests).
    pub fn with_secret(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// The deployment's ceremony secret, created on first start.
    pub async fn load(store: &dyn Store, keys: &Keyring, now: Timestamp) -> Result<Self, String> {
        Ok(Self { secret: keys.server_secret(store, CEREMONY_SECRET, now).await? })
    }

    fn of_hour(&self, hour: u32) -> Result<SealKey, PasskeyError> {
        let key = hmac_sha256(&self.secret, &[CEREMONY_SECRET.as_bytes(), b"\0", &hour.to_be_bytes()])
            .map_err(|e| PasskeyError::Unavailable(e.to_string()))?;
        Ok(SealKey::new(key))
    }

    /// `v1.` ‖ base64url(hour ‖ nonce ‖ ciphertext ‖ tag), the JSON `plain`
    /// padded with spaces (which JSON ignores) to a multiple of [`SEALED_BLOCK`].
    fn seal(&self, now: Timestamp, mut plain: Vec<u8>) -> Result<String, PasskeyError> {
        plain.resize(plain.len().next_multiple_of(SEALED_BLOCK), b' ');
        let hour = hour_of(now);
        let aad = hour.to_be_bytes();
        let sealed = self.of_hour(hour)?.seal(&aad, &plain).map_err(|e| PasskeyError::Unavailable(e.to_string()))?;
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode([&aad[..], &sealed].concat())))
    }

    /// The plaintext of a sealed id without its prefix; any fault reads as an expired ceremony.
    fn open(&self, now: Timestamp, sealed_id: &str) -> Result<Vec<u8>, PasskeyError> {
        if sealed_id.len() > MAX_SEALED_ID {
            return Err(PasskeyError::CeremonyExpired);
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed_id).map_err(|_| PasskeyError::CeremonyExpired)?;
        let Some((hour, sealed)) = bytes.split_first_chunk::<4>() else {
            return Err(PasskeyError::CeremonyExpired);
        };
        let (then, current) = (u32::from_be_bytes(*hour), hour_of(now));
        if then.abs_diff(current) > 1 {
            return Err(PasskeyError::CeremonyExpired);
        }
        self.of_hour(then)?.open(hour, sealed).map_err(|_| PasskeyError::CeremonyExpired)
    }
}

/// Hours since the Unix epoch.
fn hour_of(now: Timestamp) -> u32 {
    u32::try_from(now.max(0) / 3600).unwrap_or(u32::MAX)
}

/// Cache key marking a sealed ceremony answered.
fn answered_key(sealed_id: &str) -> String {
    format!("passkey-answered:{}", sha256_hex(sealed_id.as_bytes()))
}

/// A ceremony's state: in the cache, or sealed in its id.
#[derive(Serialize, Deserialize)]
struct Ceremony {
    /// Checked on `take` as well as enforced by the cache TTL, so a pinned
    /// clock can test expiry and a cache that keeps entries late changes nothing.
    expires_at: Timestamp,
    /// Opaque to the domain: what the browser continues with afterwards
    /// (the HTTP layer's pending authorization request).
    next: Option<String>,
    kind: CeremonyKind,
    /// SHA-256 of the id given to the browser, for a ceremony kept under its
    /// account (see [`Ceremonies::park_for_account`]) rather than its id.
    #[serde(default)]
    id_hash: Option<String>,
}

#[derive(Serialize, Deserialize)]
enum CeremonyKind {
    /// Registering a passkey for this account.
    Register { account_id: String, state: PasskeyRegistration },
    /// Signing in; `bound_to` when only one account's passkeys may answer
    /// (username-first sign-in, step-up).
    Login { bound_to: Option<String>, state: LoginState },
}

#[derive(Serialize, Deserialize)]
enum LoginState {
    /// `allowCredentials` listed the account's passkeys.
    Listed(PasskeyAuthentication),
    /// Discoverable credentials: the authenticator says whose it is.
    Discoverable(DiscoverableAuthentication),
}

/// Cache key of a ceremony: a hash of its id, like authorization codes.
fn ceremony_key(id: &str) -> String {
    format!("passkey-ceremony:{}", sha256_hex(id.as_bytes()))
}

/// A ceremony id the browser sent back could be one we gave (cheap to
/// refuse before any cache call).
fn plausible_id(id: &str) -> Result<(), PasskeyError> {
    if id.is_empty() || id.len() > 64 { Err(PasskeyError::CeremonyExpired) } else { Ok(()) }
}

/// Cache key of an account's one registration ceremony.
fn account_ceremony_key(account_id: &str) -> String {
    format!("passkey-register:{}", sha256_hex(account_id.as_bytes()))
}

impl Ceremonies<'_> {
    /// Park a signed-in account's ceremony state for [`CEREMONY_TTL`]; returns its id.
    async fn park(&self, kind: CeremonyKind, next: Option<String>) -> Result<String, PasskeyError> {
        let id = random_token();
        let bytes = self.encode(kind, next, None)?;
        self.cache.put(&ceremony_key(&id), &bytes, Duration::from_secs(CEREMONY_TTL as u64)).await?;
        Ok(id)
    }

    /// A visitor's ceremony, sealed into the id it returns: nothing stored.
    fn seal_visitor(&self, kind: CeremonyKind, next: Option<String>) -> Result<String, PasskeyError> {
        self.sealing.seal(self.now, self.encode(kind, next, None)?)
    }

    /// Park a signed-in account's ceremony: one per account, a new one
    /// replacing the last. Each is kept in the cache's protected share (it is
    /// no visitor's), so an account starting ceremonies in a loop must not
    /// add one entry per call there, or it could fill the share that codes
    /// and counters need and stop everyone's sign-ins.
    async fn park_for_account(
        &self,
        account_id: &str,
        kind: CeremonyKind,
        next: Option<String>,
    ) -> Result<String, PasskeyError> {
        let id = random_token();
        let bytes = self.encode(kind, next, Some(sha256_hex(id.as_bytes())))?;
        let ttl = Duration::from_secs(CEREMONY_TTL as u64);
        self.cache.put(&account_ceremony_key(account_id), &bytes, ttl).await?;
        Ok(id)
    }

    /// A ceremony as it is kept, expiring [`CEREMONY_TTL`] from now.
    fn encode(
        &self,
        kind: CeremonyKind,
        next: Option<String>,
        id_hash: Option<String>,
    ) -> Result<Vec<u8>, PasskeyError> {
        let ceremony = Ceremony { expires_at: self.now + CEREMONY_TTL, next, kind, id_hash };
        serde_json::to_vec(&ceremony).map_err(|e| PasskeyError::Unavailable(e.to_string()))
    }

    /// A sign-in ceremony's state. A cached one is taken, once: a second
    /// take (a replay) or a late one finds nothing. A sealed one is opened,
    /// and comes with the mark [`Self::answered`] must set before its answer counts.
    async fn take(&self, id: &str) -> Result<(Ceremony, Option<String>), PasskeyError> {
        if let Some(sealed) = id.strip_prefix(SEALED_PREFIX) {
            let ceremony = self.unexpired(&self.sealing.open(self.now, sealed)?)?;
            let mark = answered_key(sealed);
            // A replay is refused as one, not by whatever check of the
            // answer it would fail (the signature counter).
            if self.cache.get(&mark).await?.is_some() {
                return Err(PasskeyError::CeremonyExpired);
            }
            return Ok((ceremony, Some(mark)));
        }
        plausible_id(id)?;
        let bytes = self.cache.take(&ceremony_key(id)).await?.ok_or(PasskeyError::CeremonyExpired)?;
        Ok((self.unexpired(&bytes)?, None))
    }

    /// Mark a sealed ceremony answered, once: of two verified answers to the
    /// same ceremony (a replay) the first counts.
    async fn answered(&self, mark: &str) -> Result<(), PasskeyError> {
        if self.cache.put_if_absent(mark, b"1", ANSWERED_TTL).await? {
            Ok(())
        } else {
            Err(PasskeyError::CeremonyExpired)
        }
    }

    /// Take the ceremony of [`Self::park_for_account`], once, if `id` is the
    /// one it gave (only the account itself reaches its key). An older id
    /// (a second tab's) leaves the current ceremony in place.
    async fn take_for_account(&self, account_id: &str, id: &str) -> Result<Ceremony, PasskeyError> {
        plausible_id(id)?;
        let key = account_ceremony_key(account_id);
        let presented = sha256_hex(id.as_bytes());
        let gave = |c: &Ceremony| {
            c.id_hash.as_ref().is_some_and(|h| crate::crypto::constant_time_eq(h.as_bytes(), presented.as_bytes()))
        };
        let current = self.cache.get(&key).await?.ok_or(PasskeyError::CeremonyExpired)?;
        if !gave(&self.unexpired(&current)?) {
            return Err(PasskeyError::CeremonyExpired);
        }
        // Taken once: of two answers to the same ceremony one gets it (and a
        // new start in between leaves a ceremony that is not this one).
        let bytes = self.cache.take(&key).await?.ok_or(PasskeyError::CeremonyExpired)?;
        let ceremony = self.unexpired(&bytes)?;
        if gave(&ceremony) { Ok(ceremony) } else { Err(PasskeyError::CeremonyExpired) }
    }

    fn unexpired(&self, bytes: &[u8]) -> Result<Ceremony, PasskeyError> {
        let ceremony: Ceremony = serde_json::from_slice(bytes).map_err(|_| PasskeyError::CeremonyExpired)?;
        if ceremony.expires_at <= self.now {
            return Err(PasskeyError::CeremonyExpired);
        }
        Ok(ceremony)
    }
}

/// The WebAuthn user handle of an account (WebAuthn L3 §14.6.1: not
/// personal data): derived from the internal account id, so it needs no
/// column and tells nothing about the citizen.
pub fn user_handle(account_id: &str) -> Uuid {
    let digest = openssl::sha::sha256(format!("motcua-webauthn-user:{account_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A credential id as stored: base64url without padding.
fn credential_key(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// The account's passkeys as webauthn-rs values; a row that no longer
/// parses is skipped (and logged), not fatal to the others.
fn parse_all(stored: &[StoredPasskey]) -> Vec<Passkey> {
    stored
        .iter()
        .filter_map(|p| match serde_json::from_str::<Passkey>(&p.passkey) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(passkey = %p.id, error = %e, "a stored passkey does not parse");
                None
            }
        })
        .collect()
}

/// A trimmed passkey name of 1..=[`MAX_NAME`] characters without control characters.
fn valid_name(raw: &str) -> Result<String, PasskeyError> {
    super::one_line(raw, MAX_NAME).ok_or(PasskeyError::InvalidName)
}

/// Append a passkey event for `account_id`; a failure to record is logged,
/// the act has happened.
async fn record(
    store: &dyn Store,
    now: Timestamp,
    meta: &Meta,
    actor: Option<&str>,
    action: &str,
    outcome: Outcome,
    detail: serde_json::Value,
) {
    let event = NewEvent {
        actor: actor.map_or_else(|| "unknown".to_owned(), |a| format!("account:{a}")),
        action: action.to_owned(),
        // The account is the target, so its own page can list its events.
        target: actor.map(str::to_owned),
        source_ip: meta.source_ip.clone(),
        request_id: meta.request_id.clone(),
        outcome,
        detail: Some(detail),
    };
    if let Err(e) = audit::record(store, now, event).await {
        tracing::error!(error = %e, action, "could not record a passkey event in the audit trail");
    }
}

/// A short label for the device behind a `User-Agent`, e.g. `Chrome on
/// Android`, shown beside each passkey; `None` when nothing is recognised.
pub fn device_label(user_agent: &str) -> Option<String> {
    let ua = user_agent;
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    // Order matters: most browsers also claim to be Chrome and Safari.
    let browser = [
        ("coc_coc_browser", "Cốc Cốc"),
        ("Zalo", "Zalo"),
        ("SamsungBrowser", "Samsung Internet"),
        ("Edg", "Edge"),
        ("OPR", "Opera"),
        ("Firefox", "Firefox"),
        ("FxiOS", "Firefox"),
        ("CriOS", "Chrome"),
        ("Chrome", "Chrome"),
        ("Safari", "Safari"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => Some(format!("{b} · {o}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
        (None, None) => None,
    }
}
