//! Citizens: sign-up validation, password login with throttling, and the SSO
//! session a successful login opens.

use std::time::Duration;

use unicode_normalization::UnicodeNormalization as _;

use crate::cache::Cache;
use crate::crypto::password::{PasswordHasher, PasswordPolicyError, check_policy};
use crate::crypto::{Secret, random_id, random_token, sha256_hex};
use crate::store::{Account, Citizen, CitizenProfile, SsoSession, Store, StoreError, Timestamp};

/// Province and city codes that open a 12-digit national ID number (Circular
/// 07/2016/TT-BCA, annex): the 63 provinces and centrally-run cities.
const PROVINCE_CODES: &[u16] = &[
    1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36, 37, 38, 40, 42, 44, 45,
    46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74, 75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92,
    93, 94, 95, 96,
];

/// Validate a national ID number: 12 digits = province (3) · century and
/// gender (1) · year of birth (2) · serial (6); the province must exist and
/// the year must not be in the future.
pub fn valid_national_id(id: &str, now: Timestamp) -> bool {
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let province = digit(id, 0) * 100 + digit(id, 1) * 10 + digit(id, 2);
    if !PROVINCE_CODES.contains(&province) {
        return false;
    }
    let this_year = 1970 + now / 31_556_952;
    birth_year(id) <= this_year
}

/// Digit `i` of a national ID number already checked to be 12 digits.
fn digit(id: &str, i: usize) -> u16 {
    u16::from(id.as_bytes()[i] - b'0')
}

/// The year of birth a valid national ID number encodes: the fourth digit
/// gives the century (0/1 → 1900s, 2/3 → 2000s, 4/5 → 2100s…), the next two
/// the year.
fn birth_year(id: &str) -> i64 {
    i64::from(1900 + (digit(id, 3) / 2) * 100 + digit(id, 4) * 10 + digit(id, 5))
}

/// The gender a valid national ID number encodes (fourth digit: even for
/// men, odd for women), in OIDC Core's words.
fn id_gender(id: &str) -> &'static str {
    if digit(id, 3).is_multiple_of(2) { "male" } else { "female" }
}

/// What a population-registry record adds to an account beyond sign-up's
/// fields: set by an admin or an import, never typed in by the citizen.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    /// `female` or `male` (also `nữ` / `nam`).
    pub gender: Option<String>,
    /// Postal address, one line.
    pub address: Option<String>,
}

/// Most characters of an address.
const ADDRESS_MAX: usize = 300;

/// Check a registry record against the national ID number it belongs to
/// (already valid): the date of birth must be a real date, not in the
/// future, in the year the number encodes; the gender must be the one it
/// encodes. A mismatch is a data error in the source, reported per row.
fn check_record(record: &Record, national_id: &str, now: Timestamp) -> Result<Record, SignUpError> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let birthdate = match given(&record.birthdate) {
        Some(b) => {
            let date = parse_date(&b).ok_or(SignUpError::InvalidBirthdate)?;
            // "Not in the future" by the calendar in Vietnam (UTC+7).
            let today = time::OffsetDateTime::from_unix_timestamp(now + 7 * 3600)
                .map_err(|_| SignUpError::InvalidBirthdate)?
                .date();
            if date > today || i64::from(date.year()) != birth_year(national_id) {
                return Err(SignUpError::InvalidBirthdate);
            }
            Some(b)
        }
        None => None,
    };
    let gender = match given(&record.gender).map(|g| g.nfc().collect::<String>().to_lowercase()) {
        Some(g) => {
            let g = match g.as_str() {
                "male" | "nam" => "male",
                "female" | "nữ" | "nu" => "female",
                _ => return Err(SignUpError::InvalidGender),
            };
            if g != id_gender(national_id) {
                return Err(SignUpError::InvalidGender);
            }
            Some(g.to_owned())
        }
        None => None,
    };
    let address = match given(&record.address) {
        Some(a) => Some(display_text(&a, ADDRESS_MAX).ok_or(SignUpError::InvalidAddress)?),
        None => None,
    };
    Ok(Record { birthdate, gender, address })
}

/// A registry's text shown to people as one line (a name, an address): NFC
/// (Vietnamese typed on one system and pasted from another compares and
/// displays alike), then [`super::one_line`], and no invisible formatting
/// characters (zero-width, bidirectional overrides and isolates, the BOM),
/// which could make what a relying party shows differ from what is stored.
fn display_text(text: &str, max: usize) -> Option<String> {
    let invisible = |c: char| {
        matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
    };
    super::one_line(&text.nfc().collect::<String>(), max).filter(|t| !t.chars().any(invisible))
}

/// A `YYYY-MM-DD` calendar date (OIDC Core §5.1 `birthdate`).
fn parse_date(s: &str) -> Option<time::Date> {
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// What a citizen (or an admin) submits to create an account.
#[derive(Debug, Clone)]
pub struct SignUp {
    /// 12-digit national ID number.
    pub national_id: String,
    /// Whoever creates the account checked the number against a record (an
    /// admin); `false` for self-service sign-up.
    pub national_id_verified: bool,
    /// Full name.
    pub full_name: String,
    /// Email, optional.
    pub email: Option<String>,
    /// Phone, optional (E.164 or a Vietnamese 0-prefixed number).
    pub phone: Option<String>,
    /// Password; `None` for accounts that will use passkeys or be imported.
    pub password: Option<Secret>,
    /// Date of birth, gender and address from a registry record (admins only).
    pub record: Record,
}

/// Why a sign-up was refused. `key()` is the i18n key of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUpError {
    /// Not 12 digits, unknown province or impossible year.
    #[error("the national ID number must be 12 digits")]
    InvalidNationalId,
    /// Empty or too long.
    #[error("the full name is missing or too long")]
    InvalidName,
    /// Not an email address.
    #[error("the email address is not valid")]
    InvalidEmail,
    /// Not a phone number.
    #[error("the phone number is not valid")]
    InvalidPhone,
    /// Below the minimum length.
    #[error("the password is too short")]
    PasswordTooShort,
    /// On the common-password list.
    #[error("the password is too common")]
    PasswordTooCommon,
    /// Not a `YYYY-MM-DD` date, in the future, or not the year the national ID encodes.
    #[error("the date of birth must be YYYY-MM-DD, in the year the national ID number encodes")]
    InvalidBirthdate,
    /// Not female or male, or not the gender the national ID encodes.
    #[error("the gender must be female or male, as the national ID number encodes")]
    InvalidGender,
    /// Too long, or control or invisible characters.
    #[error("the address is too long or has control or invisible characters")]
    InvalidAddress,
    /// An account already has this national ID.
    #[error("an account with this national ID number already exists")]
    NationalIdTaken,
    /// An account already has this email.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Store or hashing failure; detail logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl SignUpError {
    /// The i18n key of the message a citizen sees.
    pub fn key(&self) -> &'static str {
        match self {
            Self::InvalidNationalId => "err.national_id_invalid",
            Self::InvalidName => "err.name_invalid",
            Self::InvalidEmail => "err.email_invalid",
            Self::InvalidPhone => "err.phone_invalid",
            Self::InvalidBirthdate => "err.birthdate_invalid",
            Self::InvalidGender => "err.gender_invalid",
            Self::InvalidAddress => "err.address_invalid",
            Self::PasswordTooShort => "err.password_too_short",
            Self::PasswordTooCommon => "err.password_too_common",
            Self::NationalIdTaken => "err.national_id_taken",
            Self::EmailTaken => "err.email_taken",
            Self::Internal(_) => "err.server_error",
        }
    }

    /// The form field the error belongs to, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidNationalId | Self::NationalIdTaken => Some("national_id"),
            Self::InvalidName => Some("full_name"),
            Self::InvalidEmail | Self::EmailTaken => Some("email"),
            Self::InvalidPhone => Some("phone"),
            Self::InvalidBirthdate => Some("birthdate"),
            Self::InvalidGender => Some("gender"),
            Self::InvalidAddress => Some("address"),
            Self::PasswordTooShort | Self::PasswordTooCommon => Some("password"),
            Self::Internal(_) => None,
        }
    }
}

/// Lower-case and trim an email; `None` if it is not plausibly an address.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"')
        && domain.split('.').all(|l| !l.is_empty());
    ok.then_some(e)
}

/// Normalise a phone number to E.164 (`0912…` → `+84912…`).
pub fn normalize_phone(phone: &str) -> Option<String> {
    let p: String = phone.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = if let Some(rest) = p.strip_prefix('+') {
        rest.to_owned()
    } else if let Some(rest) = p.strip_prefix('0') {
        format!("84{rest}")
    } else {
        return None;
    };
    (digits.len() >= 9 && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("+{digits}"))
}

/// Check every profile field of a new citizen and build the account: the
/// rules sign-up and the bulk import share. The password is not part of it.
pub fn new_citizen(
    now: Timestamp,
    national_id: &str,
    national_id_verified: bool,
    full_name: &str,
    email: Option<&str>,
    phone: Option<&str>,
    record: &Record,
) -> Result<Citizen, SignUpError> {
    let national_id = national_id.trim().to_owned();
    if !valid_national_id(&national_id, now) {
        return Err(SignUpError::InvalidNationalId);
    }
    let full_name = display_text(full_name, 200).ok_or(SignUpError::InvalidName)?;
    let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(normalize_email(e).ok_or(SignUpError::InvalidEmail)?),
        None => None,
    };
    let phone = match phone.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(normalize_phone(p).ok_or(SignUpError::InvalidPhone)?),
        None => None,
    };
    let Record { birthdate, gender, address } = check_record(record, &national_id, now)?;
    let id = random_id();
    Ok(Citizen {
        account: Account {
            id: id.clone(),
            subject: random_id(),
            kind: "citizen".into(),
            status: "active".into(),
            created_at: now,
        },
        profile: CitizenProfile {
            account_id: id,
            national_id,
            national_id_verified,
            full_name,
            email,
            email_verified: false,
            phone,
            phone_verified: false,
            birthdate,
            gender,
            address,
            updated_at: now,
        },
    })
}

/// Create a citizen account after validating every field.
pub async fn sign_up(
    store: &dyn Store,
    passwords: &PasswordHasher,
    now: Timestamp,
    input: SignUp,
) -> Result<Citizen, SignUpError> {
    let citizen = new_citizen(
        now,
        &input.national_id,
        input.national_id_verified,
        &input.full_name,
        input.email.as_deref(),
        input.phone.as_deref(),
        &input.record,
    )?;
    let (national_id, email) = (&citizen.profile.national_id, &citizen.profile.email);
    // Duplicates are found before the (costly) hash, so a flood of sign-ups
    // for taken identifiers costs no Argon2 time; the unique constraints
    // still decide races below.
    let lookup = |e: StoreError| SignUpError::Internal(e.to_string());
    if store.find_citizen_by_national_id(national_id).await.map_err(lookup)?.is_some() {
        return Err(SignUpError::NationalIdTaken);
    }
    if let Some(e) = &email
        && store.find_citizen_by_email(e).await.map_err(lookup)?.is_some()
    {
        return Err(SignUpError::EmailTaken);
    }
    let hash = match input.password {
        Some(pw) => {
            check_policy(&pw).map_err(|e| match e {
                PasswordPolicyError::TooShort => SignUpError::PasswordTooShort,
                PasswordPolicyError::TooCommon => SignUpError::PasswordTooCommon,
            })?;
            Some(passwords.hash(pw).await.map_err(|e| SignUpError::Internal(e.to_string()))?)
        }
        None => None,
    };
    match store.create_citizen(&citizen, hash.as_deref()).await {
        Ok(()) => Ok(citizen),
        Err(StoreError::Conflict("national_id")) => Err(SignUpError::NationalIdTaken),
        Err(StoreError::Conflict("email")) => Err(SignUpError::EmailTaken),
        Err(e) => Err(SignUpError::Internal(e.to_string())),
    }
}

/// Why a password login failed. Unknown account and wrong password are one
/// variant on purpose: the citizen (and an attacker) cannot tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Unknown identifier or wrong password.
    InvalidCredentials,
    /// Too many recent failures for this identifier or address.
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after: i64,
    },
    /// Correct password, but an admin disabled the account.
    AccountDisabled,
    /// Store or cache failure; detail logged.
    Internal(String),
}

/// Throttling thresholds for [`login`].
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Failures per identifier before each further attempt waits.
    pub free_per_identifier: u64,
    /// Failures per client address before each further attempt waits.
    pub free_per_ip: u64,
}

/// The longest wait imposed between attempts.
const MAX_DELAY: i64 = 15 * 60;
/// Failures are counted over this window.
const FAILURE_WINDOW: Duration = Duration::from_secs(3600);

/// One password login attempt, as the login page received it.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// National ID number or email, as typed.
    pub identifier: &'a str,
    /// The password.
    pub password: Secret,
    /// The client's address, for per-address throttling.
    pub client_ip: &'a str,
}

/// Check a national ID or email and password. Failures slow down
/// exponentially per identifier (so an attacker cannot lock a citizen out for
/// long) and per client address.
pub async fn login(
    store: &dyn Store,
    cache: &dyn Cache,
    passwords: &PasswordHasher,
    throttle: Throttle,
    now: Timestamp,
    attempt: Attempt<'_>,
) -> Result<Citizen, LoginError> {
    let Attempt { identifier, password, client_ip } = attempt;
    let internal = |e: &dyn std::fmt::Display| LoginError::Internal(e.to_string());
    let ident = identifier.trim().to_lowercase();
    // Per identifier as typed, not per account: a budget shared by an
    // account's national ID and email would answer "wait" for the one when
    // the other was locked, telling anyone which email goes with which
    // national ID. Each identifier gets its own free guesses instead.
    let id_key = identifier_throttle_key(&ident);
    let ip_key = format!("login-ip:{client_ip}");
    for key in [&id_key, &ip_key] {
        if let Some(until) = locked_until(cache, key).await.map_err(|e| internal(&e))?
            && until > now
        {
            return Err(LoginError::Throttled { retry_after: until - now });
        }
    }
    // Reserve the attempt before the (slow) hash, so concurrent guesses cannot
    // all slip past the check above: beyond the free attempts, only the one
    // request that claims the next time slot goes on.
    let n = cache.incr(&format!("{id_key}:n"), FAILURE_WINDOW).await.map_err(|e| internal(&e))?;
    if n > throttle.free_per_identifier {
        let delay = backoff(n - throttle.free_per_identifier);
        let claimed = cache
            .put_if_absent(&format!("{id_key}:until"), &(now + delay).to_le_bytes(), Duration::from_secs(delay as u64))
            .await
            .map_err(|e| internal(&e))?;
        if !claimed {
            return Err(LoginError::Throttled { retry_after: delay });
        }
    }
    let citizen = if ident.len() == 12 && ident.bytes().all(|b| b.is_ascii_digit()) {
        store.find_citizen_by_national_id(&ident).await
    } else {
        store.find_citizen_by_email(&ident).await
    }
    .map_err(|e| internal(&e))?;
    // Asked for an unknown identifier too (no account has the empty id), so
    // both cost the same reads.
    let account_id = citizen.as_ref().map_or("", |c| c.account.id.as_str());
    let hash = store.get_password_hash(account_id).await.map_err(|e| internal(&e))?;
    let stale = hash.as_deref().filter(|h| passwords.needs_rehash(h)).map(|h| (h.to_owned(), password.clone()));
    // Always one Argon2 verification, against a dummy hash when there is no
    // account: same time for unknown and known identifiers.
    let ok = passwords.verify(hash, password).await;
    match citizen {
        Some(c) if ok => {
            cache.delete(&format!("{id_key}:n")).await.map_err(|e| internal(&e))?;
            cache.delete(&format!("{id_key}:until")).await.map_err(|e| internal(&e))?;
            if c.account.status != "active" {
                return Err(LoginError::AccountDisabled);
            }
            if let Some((old, password)) = stale {
                rehash(store, passwords, &c.account.id, &old, password).await;
            }
            Ok(c)
        }
        _ => {
            // The identifier's failure was counted when the attempt was reserved;
            // the address counts failures only, so a busy NAT is not throttled by successes.
            record_failure(cache, &ip_key, throttle.free_per_ip, now).await.map_err(|e| internal(&e))?;
            Err(LoginError::InvalidCredentials)
        }
    }
}

/// Re-hash a correct password whose stored hash has other costs than the
/// configured ones (imported, or made before an `IDP_ARGON2_*` change), so
/// every account ends up on the current parameters and costs what an
/// unknown identifier's dummy verification costs. A failure leaves the old
/// hash, which still verifies; the sign-in goes on either way.
async fn rehash(store: &dyn Store, passwords: &PasswordHasher, account_id: &str, old: &str, password: Secret) {
    let new = match passwords.hash(password).await {
        Ok(new) => new,
        Err(e) => return tracing::warn!(error = %e, "password re-hash failed"),
    };
    match store.rehash_password(account_id, old, &new).await {
        Ok(true) => tracing::info!(account = %account_id, "password re-hashed with the configured Argon2 costs"),
        Ok(false) => {} // changed meanwhile: the new password's hash stays
        Err(e) => tracing::warn!(error = %e, "storing a re-hashed password failed"),
    }
}

/// The cache key prefix counting failed logins for a (trimmed, lower-cased)
/// identifier. Keyed by a hash of what was typed, so unknown identifiers
/// throttle the same way as real accounts and no identifier sits in the cache in clear.
fn identifier_throttle_key(ident: &str) -> String {
    format!("login:{}", &sha256_hex(ident.as_bytes())[..32])
}

/// Forget the failed password attempts against the citizen's identifiers
/// (national ID and email), as a correct password does: called after the
/// citizen proved who they are another way (a passkey).
pub async fn reset_login_throttle(cache: &dyn Cache, citizen: &Citizen) -> Result<(), crate::cache::CacheError> {
    let idents = std::iter::once(citizen.profile.national_id.to_lowercase())
        .chain(citizen.profile.email.iter().map(|e| e.to_lowercase()));
    for ident in idents {
        let key = identifier_throttle_key(&ident);
        cache.delete(&format!("{key}:n")).await?;
        cache.delete(&format!("{key}:until")).await?;
    }
    Ok(())
}

/// Seconds to wait after the `k`-th attempt beyond the free ones: 1, 2, 4… up to 15 minutes.
fn backoff(k: u64) -> i64 {
    1i64.checked_shl(k.saturating_sub(1).min(20) as u32).unwrap_or(MAX_DELAY).min(MAX_DELAY)
}

async fn locked_until(cache: &dyn Cache, key: &str) -> Result<Option<i64>, crate::cache::CacheError> {
    Ok(cache
        .get(&format!("{key}:until"))
        .await?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_le_bytes))
}

async fn record_failure(
    cache: &dyn Cache,
    key: &str,
    free: u64,
    now: Timestamp,
) -> Result<(), crate::cache::CacheError> {
    let n = cache.incr(&format!("{key}:n"), FAILURE_WINDOW).await?;
    if n >= free {
        let delay = backoff(n + 1 - free);
        let until = now + delay;
        cache.put(&format!("{key}:until"), &until.to_le_bytes(), Duration::from_secs(delay as u64)).await?;
    }
    Ok(())
}

/// Longest `User-Agent` kept with a session (a header is whatever a client sends).
const MAX_USER_AGENT: usize = 200;
/// A session's `last_seen_at` is written at most this often (seconds).
pub const LAST_SEEN_EVERY: i64 = 60;

/// The browser a session is opened from, as the sessions page shows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionDevice<'a> {
    /// Its User-Agent (kept cut to 200 characters).
    pub user_agent: Option<&'a str>,
    /// The approximate place of its address (see `domain::places`).
    pub place: Option<&'a str>,
}

/// Open an SSO session for a citizen who just authenticated, from `device`.
pub async fn start_session(
    store: &dyn Store,
    now: Timestamp,
    account_id: &str,
    acr: &str,
    amr: &[&str],
    ttl: i64,
    device: SessionDevice<'_>,
) -> Result<SsoSession, StoreError> {
    let SessionDevice { user_agent, place } = device;
    let session = SsoSession {
        sid: random_token(),
        account_id: account_id.to_owned(),
        auth_time: now,
        acr: acr.to_owned(),
        amr: amr.iter().map(|s| (*s).to_owned()).collect(),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
        user_agent: user_agent
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT).collect::<String>())
            .filter(|ua| !ua.trim().is_empty()),
        last_seen_at: Some(now),
        place: place.map(str::to_owned),
    };
    store.create_sso_session(&session).await?;
    Ok(session)
}

/// The session `sid` signed the citizen in to a service: remember when, at
/// most once per [`LAST_SEEN_EVERY`] (the store skips the write when recent).
pub async fn session_seen(store: &dyn Store, sid: &str, now: Timestamp) -> Result<(), StoreError> {
    store.touch_sso_session(sid, now, now - LAST_SEEN_EVERY).await.map(|_| ())
}

/// Why a password change was refused. `key()` is the i18n key of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChangeError {
    /// The current password is wrong.
    WrongPassword,
    /// Too many wrong current passwords lately (the login throttle).
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after: i64,
    },
    /// The new password is below the minimum length.
    TooShort,
    /// The new password is on the common-password list.
    TooCommon,
    /// Store, cache or hashing failure; detail logged.
    Internal(String),
}

impl PasswordChangeError {
    /// The i18n key of the message a citizen sees.
    pub fn key(&self) -> &'static str {
        match self {
            Self::WrongPassword => "err.current_password_wrong",
            Self::Throttled { .. } => "err.throttled",
            Self::TooShort => "err.password_too_short",
            Self::TooCommon => "err.password_too_common",
            Self::Internal(_) => "err.server_error",
        }
    }
}

/// A password change as the account page received it.
#[derive(Debug)]
pub struct PasswordChange<'a> {
    /// The signed-in citizen.
    pub citizen: &'a Citizen,
    /// The current password (ignored when the account has none).
    pub current: Secret,
    /// The new password.
    pub new: Secret,
    /// The client's address, for per-address throttling.
    pub client_ip: &'a str,
}

/// Replace the password of the signed-in citizen with `new`, after
/// checking `current` exactly as a login does (same Argon2id verification,
/// same per-identifier and per-address throttle, so the form is no way around
/// it). An account without a password sets one without `current`: the
/// signed-in session (a passkey) is the proof. The new password follows the
/// sign-up rules (NIST SP 800-63B §5.1.1.2). Ending the other sessions is the
/// caller's next step.
pub async fn change_password(
    store: &dyn Store,
    cache: &dyn Cache,
    passwords: &PasswordHasher,
    throttle: Throttle,
    now: Timestamp,
    change: PasswordChange<'_>,
) -> Result<(), PasswordChangeError> {
    let PasswordChange { citizen, current, new, client_ip } = change;
    let internal = |e: &dyn std::fmt::Display| PasswordChangeError::Internal(e.to_string());
    check_policy(&new).map_err(|e| match e {
        PasswordPolicyError::TooShort => PasswordChangeError::TooShort,
        PasswordPolicyError::TooCommon => PasswordChangeError::TooCommon,
    })?;
    let has_password = store.get_password_hash(&citizen.account.id).await.map_err(|e| internal(&e))?.is_some();
    if has_password {
        let attempt = Attempt { identifier: &citizen.profile.national_id, password: current, client_ip };
        match login(store, cache, passwords, throttle, now, attempt).await {
            Ok(c) if c.account.id == citizen.account.id => {}
            Ok(_) | Err(LoginError::InvalidCredentials | LoginError::AccountDisabled) => {
                return Err(PasswordChangeError::WrongPassword);
            }
            Err(LoginError::Throttled { retry_after }) => return Err(PasswordChangeError::Throttled { retry_after }),
            Err(LoginError::Internal(e)) => return Err(PasswordChangeError::Internal(e)),
        }
    }
    let hash = passwords.hash(new).await.map_err(|e| internal(&e))?;
    store.set_password_hash(&citizen.account.id, &hash, now).await.map_err(|e| internal(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_2026: Timestamp = 1_795_000_000;

    #[test]
    fn registry_records_match_the_national_id() {
        // 001 · 1 (a woman, 1900s) · 99: born 1999.
        let check = |b: Option<&str>, g: Option<&str>, a: Option<&str>| {
            let r = Record { birthdate: b.map(Into::into), gender: g.map(Into::into), address: a.map(Into::into) };
            check_record(&r, "001199000201", NOV_2026).map(|r| (r.birthdate, r.gender, r.address))
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(check(None, None, None), Ok((None, None, None)));
        assert_eq!(check(Some(" "), Some(""), Some("  ")), Ok((None, None, None)), "blank is absent");
        assert_eq!(check(Some("1999-12-31"), Some("Nữ"), None), Ok((some("1999-12-31"), some("female"), None)));
        assert_eq!(check(None, Some("FEMALE"), None).unwrap().1, some("female"));
        assert_eq!(check(None, None, Some(" 12  Hàng Bài,\tHà Nội ")).unwrap().2, some("12 Hàng Bài, Hà Nội"));
        for bad in ["1998-12-31", "2000-01-01", "1999-02-29", "1999-13-01", "1999-1-01", "99-01-01", "1999/01/01"] {
            assert_eq!(check(Some(bad), None, None), Err(SignUpError::InvalidBirthdate), "{bad}");
        }
        for bad in ["male", "nam", "other", "x"] {
            assert_eq!(check(None, Some(bad), None), Err(SignUpError::InvalidGender), "{bad}");
        }
        assert_eq!(check(None, None, Some(&"a".repeat(301))), Err(SignUpError::InvalidAddress));
        for hidden in [
            "12 Hàng\u{7}Bài",
            "12 Hàng\u{202E}iàB",
            "12\u{200B}Hàng Bài",
            "\u{FEFF}12 Hàng Bài",
            "12 Hàng\u{061C} Bài",
            "12 Hàng Bài\u{E0041}",
            "\u{3164}",
        ] {
            assert_eq!(check(None, None, Some(hidden)), Err(SignUpError::InvalidAddress), "{hidden:?}");
        }
        // Decomposed Vietnamese (NFD, as some systems export it) is stored composed.
        let decomposed = "Nu\u{303}\u{31b}";
        assert_eq!(check(None, Some("nu\u{31b}\u{303}"), None).unwrap().1, some("female"), "nữ decomposed");
        assert_eq!(check(None, None, Some(decomposed)).unwrap().2, some("Nữ"));
        assert_eq!(check(None, None, Some(&"a".repeat(300))).unwrap().2.map(|a| a.len()), Some(300));
        // 2000s men (2), born 2026: a date later than today is refused.
        let r = Record { birthdate: Some("2026-12-31".into()), ..Record::default() };
        assert_eq!(check_record(&r, "001226000001", NOV_2026).unwrap_err(), SignUpError::InvalidBirthdate);
        let r = Record { birthdate: Some("2026-01-02".into()), gender: Some("male".into()), ..Record::default() };
        assert!(check_record(&r, "001226000001", NOV_2026).is_ok());
    }

    #[test]
    fn national_id_rules() {
        assert!(valid_national_id("001099012345", NOV_2026));
        assert!(valid_national_id("079203000001", NOV_2026));
        assert!(!valid_national_id("00109901234", NOV_2026), "11 digits");
        assert!(!valid_national_id("0010990123456", NOV_2026), "13 digits");
        assert!(!valid_national_id("00109901234a", NOV_2026));
        assert!(!valid_national_id("003099012345", NOV_2026), "no province 003");
        assert!(!valid_national_id("001399012345", NOV_2026), "born 2099");
        assert!(!valid_national_id("００１０９９０１２３４５", NOV_2026), "full-width digits");
    }

    /// Nguyễn Văn An signs up with the password "mưa thu hà nội".
    fn an_signs_up(email: Option<&str>) -> SignUp {
        SignUp {
            national_id: "001099012345".into(),
            national_id_verified: false,
            full_name: "Nguyễn Văn An".into(),
            email: email.map(Into::into),
            phone: None,
            password: Some(Secret::new("mưa thu hà nội")),
            record: Default::default(),
        }
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn login_throttle_slows_guesses_even_when_they_arrive_at_once() {
        use std::sync::Arc;
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::connect("sqlite::memory:", 1).await.unwrap());
        let cache = Arc::new(crate::cache::MemoryCache::new());
        let hasher = PasswordHasher::new(1024, 1, 2).unwrap();
        let input = an_signs_up(Some("an@example.vn"));
        sign_up(store.as_ref(), &hasher, NOV_2026, input.clone()).await.unwrap();
        assert_eq!(sign_up(store.as_ref(), &hasher, NOV_2026, input).await.unwrap_err(), SignUpError::NationalIdTaken);
        let throttle = Throttle { free_per_identifier: 3, free_per_ip: 100 };
        let attempt = |pw: &'static str| Attempt {
            identifier: "001099012345",
            password: Secret::new(pw),
            client_ip: "192.0.2.1",
        };
        for _ in 0..3 {
            let r = login(store.as_ref(), cache.as_ref(), &hasher, throttle, NOV_2026, attempt("wrong")).await;
            assert_eq!(r.unwrap_err(), LoginError::InvalidCredentials);
        }
        // Twenty guesses at once past the free ones: exactly one gets to the hash.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (store, cache, hasher) = (store.clone(), cache.clone(), hasher.clone());
            tasks.push(tokio::spawn(async move {
                login(store.as_ref(), cache.as_ref(), &hasher, throttle, NOV_2026, attempt("wrong")).await
            }));
        }
        let mut checked = 0;
        for t in tasks {
            match t.await.unwrap() {
                Err(LoginError::InvalidCredentials) => checked += 1,
                Err(LoginError::Throttled { retry_after }) => assert!(retry_after >= 1),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(checked, 1);
        // Even the right password waits for the slot; once it opens, it works and resets the count.
        let r = login(store.as_ref(), cache.as_ref(), &hasher, throttle, NOV_2026, attempt("mưa thu hà nội")).await;
        assert!(matches!(r, Err(LoginError::Throttled { .. })));
        let later = NOV_2026 + MAX_DELAY + 1;
        cache.delete(&format!("login:{}:until", &sha256_hex(b"001099012345")[..32])).await.unwrap();
        let ok = login(store.as_ref(), cache.as_ref(), &hasher, throttle, later, attempt("mưa thu hà nội")).await;
        assert_eq!(ok.unwrap().profile.national_id, "001099012345");
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn a_correct_password_moves_an_older_hash_to_the_configured_costs() {
        use crate::store::AccountStore as _;
        let store = crate::store::sqlite::SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
        let cache = crate::cache::MemoryCache::new();
        let (old, now) = (PasswordHasher::new(1024, 1, 1).unwrap(), PasswordHasher::new(2048, 2, 1).unwrap());
        let input = an_signs_up(None);
        // Made with m=1024,t=1, like a hash imported from another system; the node now runs m=2048,t=2.
        let an = sign_up(&store, &old, NOV_2026, input).await.unwrap();
        let imported = store.get_password_hash(&an.account.id).await.unwrap().unwrap();
        let throttle = Throttle { free_per_identifier: 3, free_per_ip: 100 };
        let attempt = |pw: &'static str| Attempt {
            identifier: "001099012345",
            password: Secret::new(pw),
            client_ip: "192.0.2.1",
        };
        // A wrong password changes nothing.
        let r = login(&store, &cache, &now, throttle, NOV_2026, attempt("gió mùa đông bắc")).await;
        assert_eq!(r.unwrap_err(), LoginError::InvalidCredentials);
        assert_eq!(store.get_password_hash(&an.account.id).await.unwrap().as_deref(), Some(imported.as_str()));
        // The right one signs in and leaves a hash with the configured costs, which verifies.
        login(&store, &cache, &now, throttle, NOV_2026, attempt("mưa thu hà nội")).await.unwrap();
        let rehashed = store.get_password_hash(&an.account.id).await.unwrap().unwrap();
        assert!(rehashed.starts_with("$argon2id$v=19$m=2048,t=2,p=1$"), "{rehashed}");
        assert!(!now.needs_rehash(&rehashed));
        login(&store, &cache, &now, throttle, NOV_2026, attempt("mưa thu hà nội")).await.unwrap();
        assert_eq!(store.get_password_hash(&an.account.id).await.unwrap(), Some(rehashed), "re-hashed once");
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn a_cache_that_refuses_writes_stops_logins_before_the_password_is_checked() {
        let store = crate::store::sqlite::SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
        let hasher = PasswordHasher::new(1024, 1, 2).unwrap();
        let input = an_signs_up(None);
        sign_up(&store, &hasher, NOV_2026, input).await.unwrap();
        // A full in-process cache (no room at all): the attempt cannot be counted, so no
        // password is checked, the right one included; the page answers 503.
        let full = crate::cache::MemoryCache::with_limit(0);
        let throttle = Throttle { free_per_identifier: 3, free_per_ip: 100 };
        for pw in ["wrong", "mưa thu hà nội"] {
            let attempt = Attempt { identifier: "001099012345", password: Secret::new(pw), client_ip: "192.0.2.1" };
            let r = login(&store, &full, &hasher, throttle, NOV_2026, attempt).await;
            assert!(matches!(r, Err(LoginError::Internal(ref e)) if e.contains("IDP_MEMORY_CACHE_MIB")), "{r:?}");
        }
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn password_change_checks_the_current_one_and_the_rules() {
        use crate::store::AccountStore as _;
        let store = crate::store::sqlite::SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
        let cache = crate::cache::MemoryCache::new();
        let hasher = PasswordHasher::new(1024, 1, 2).unwrap();
        let throttle = Throttle { free_per_identifier: 3, free_per_ip: 100 };
        let input = |id: &str, pw: Option<&str>| SignUp {
            national_id: id.into(),
            national_id_verified: false,
            full_name: "Trần Thị Bình".into(),
            email: None,
            phone: None,
            password: pw.map(Secret::new),
            record: Default::default(),
        };
        let binh = sign_up(&store, &hasher, NOV_2026, input("001099012345", Some("mưa thu hà nội"))).await.unwrap();
        let change = |citizen, current: &str, new: &str| PasswordChange {
            citizen,
            current: Secret::new(current),
            new: Secret::new(new),
            client_ip: "192.0.2.1",
        };
        let run = |c| change_password(&store, &cache, &hasher, throttle, NOV_2026, c);
        assert_eq!(run(change(&binh, "wrong", "gió mùa đông bắc")).await, Err(PasswordChangeError::WrongPassword));
        assert_eq!(run(change(&binh, "mưa thu hà nội", "ngắn")).await, Err(PasswordChangeError::TooShort));
        assert_eq!(run(change(&binh, "mưa thu hà nội", "Matkhau123")).await, Err(PasswordChangeError::TooCommon));
        assert_eq!(run(change(&binh, "mưa thu hà nội", "gió mùa đông bắc")).await, Ok(()));
        let hash = store.get_password_hash(&binh.account.id).await.unwrap();
        assert!(hasher.verify(hash.clone(), Secret::new("gió mùa đông bắc")).await);
        assert!(!hasher.verify(hash, Secret::new("mưa thu hà nội")).await);
        // Wrong current passwords count as failed logins: past the free ones (and the one
        // attempt that claims the next slot), the throttle answers.
        for _ in 0..4 {
            let _ = run(change(&binh, "wrong", "gió mùa tây nam")).await;
        }
        let throttled = run(change(&binh, "wrong", "gió mùa tây nam")).await;
        assert!(matches!(throttled, Err(PasswordChangeError::Throttled { .. })), "{throttled:?}");
        // A passkey-only account sets its first password without a current one.
        let an = sign_up(&store, &hasher, NOV_2026, input("001099012346", None)).await.unwrap();
        assert_eq!(run(change(&an, "", "gió mùa đông bắc")).await, Ok(()));
        assert!(store.get_password_hash(&an.account.id).await.unwrap().is_some());
    }

    #[test]
    fn email_and_phone_normalisation() {
        assert_eq!(normalize_email(" An.Nguyen@Example.VN "), Some("an.nguyen@example.vn".into()));
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("a@b"), None);
        assert_eq!(normalize_email("a b@c.vn"), None);
        assert_eq!(normalize_phone("0912 345 678"), Some("+84912345678".into()));
        assert_eq!(normalize_phone("+84 912-345-678"), Some("+84912345678".into()));
        assert_eq!(normalize_phone("912345678"), None);
    }
}
