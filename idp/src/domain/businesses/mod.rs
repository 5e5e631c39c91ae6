//! Businesses and the citizens who act for them: tax codes, registration,
//! invitations, membership, and who may act for which business right now.

use serde_json::{Value, json};

use crate::cache::Cache;
use crate::crypto::random_id;
use crate::store::{
    Business, BusinessMember, MEMBER_ACTIVE, MEMBER_INVITED, Membership, ROLE_AUTHORISED_STAFF,
    ROLE_LEGAL_REPRESENTATIVE, Store, StoreError, Timestamp,
};

/// Weights of the first nine digits of a tax code (Circular 105/2020/TT-BTC):
/// check digit = 10 − (Σ wᵢ·dᵢ mod 11); a result of 10 cannot be a digit, so
/// such a prefix is never issued.
const TAX_CODE_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// Why a tax code is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TaxCodeError {
    /// Neither 10 digits nor `NNNNNNNNNN-NNN`.
    #[error("a tax code is 10 digits, or 13 digits written NNNNNNNNNN-NNN for a branch")]
    Format,
    /// The tenth digit is not the check digit of the first nine.
    #[error("the check digit (the tenth digit) does not match the first nine digits")]
    CheckDigit,
    /// A branch code whose first ten digits are not a valid parent code.
    #[error("the first ten digits of a branch code must be a valid tax code of the parent business")]
    BranchParent,
    /// A branch suffix of `000`.
    #[error("a branch number runs from 001 to 999")]
    BranchNumber,
}

impl TaxCodeError {
    /// The i18n key of the message a citizen sees.
    pub fn key(self) -> &'static str {
        match self {
            Self::Format => "biz.err.tax_code_format",
            Self::CheckDigit => "biz.err.tax_code_check_digit",
            Self::BranchParent => "biz.err.tax_code_branch_parent",
            Self::BranchNumber => "biz.err.tax_code_branch_number",
        }
    }
}

fn check_digit_ok(ten: &[u8]) -> bool {
    let sum: u32 = ten[..9].iter().zip(TAX_CODE_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let check = 10 - sum % 11;
    check != 10 && u32::from(ten[9] - b'0') == check
}

/// Validate a tax code and return it in its canonical form: 10 digits, or
/// `NNNNNNNNNN-NNN` for a branch (13 digits without the dash are accepted and
/// given one). Surrounding spaces are ignored.
pub fn check_tax_code(input: &str) -> Result<String, TaxCodeError> {
    let code = input.trim();
    let digits: Vec<u8> = code.bytes().filter(|b| *b != b'-').collect();
    let dash_ok = match code.find('-') {
        None => true,
        Some(10) => code.len() == 14 && code.matches('-').count() == 1,
        Some(_) => false,
    };
    if !dash_ok || !digits.iter().all(u8::is_ascii_digit) || !matches!(digits.len(), 10 | 13) {
        return Err(TaxCodeError::Format);
    }
    let parent_ok = check_digit_ok(&digits[..10]);
    if digits.len() == 10 {
        return if parent_ok { Ok(code.to_owned()) } else { Err(TaxCodeError::CheckDigit) };
    }
    if !parent_ok {
        return Err(TaxCodeError::BranchParent);
    }
    if &digits[10..] == b"000" {
        return Err(TaxCodeError::BranchNumber);
    }
    let text = String::from_utf8_lossy(&digits).into_owned();
    Ok(format!("{}-{}", &text[..10], &text[10..]))
}

/// `YYYY-MM-DD`, or `DD/MM/YYYY` as Vietnamese pages write dates (what a
/// phone's plain text field gets where it has no date picker) → the first
/// second after that day ends in Vietnam (UTC+7), so an authorisation
/// "until 2027-06-30" holds all of that day.
pub fn end_of_day(date: &str) -> Option<Timestamp> {
    let date = date.trim();
    let parse = |s: Option<&str>| -> Option<i64> { s.filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?.parse().ok() };
    let (y, m, d) = if date.contains('/') {
        let mut parts = date.splitn(3, '/');
        let (d, m) = (parse(parts.next())?, parse(parts.next())?);
        (parse(parts.next())?, m, d)
    } else {
        let mut parts = date.splitn(3, '-');
        (parse(parts.next())?, parse(parts.next())?, parse(parts.next())?)
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return None;
    }
    // Days from 1970-01-01 to the civil date (H. Hinnant's days_from_civil):
    // one conversion does not justify a date-time crate.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days + 1) * 86_400 - 7 * 3_600)
}

/// What an admin or a citizen submits to register a business.
#[derive(Debug, Clone, Default)]
pub struct NewBusiness {
    /// Tax code as typed.
    pub tax_code: String,
    /// Registered name.
    pub name: String,
    /// Head-office address.
    pub address: Option<String>,
}

/// Who is acting on a business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A security or organisation admin (through the admin API). Payload:
    /// the audit actor string.
    Admin(&'a str),
    /// A signed-in citizen (the account page). Payload: the account id.
    Citizen(&'a str),
}

/// Why a business operation was refused. `key()` is the i18n key; the
/// `Display` text is the one line the admin API and CLI show.
#[derive(Debug, thiserror::Error)]
pub enum BusinessError {
    /// The tax code is malformed or its check digit is wrong.
    #[error("invalid tax code: {0}")]
    TaxCode(TaxCodeError),
    /// Name missing or longer than 200 characters.
    #[error("the business name is missing or longer than 200 characters")]
    InvalidName,
    /// Address longer than 300 characters.
    #[error("the address is longer than 300 characters")]
    InvalidAddress,
    /// Another business has this tax code.
    #[error("a business with this tax code is already registered")]
    TaxCodeTaken,
    /// No business with this tax code (or id).
    #[error("no business with this tax code")]
    NotFound,
    /// The business is disabled.
    #[error("the business is disabled")]
    Disabled,
    /// No active citizen account has this national ID number.
    #[error("no active citizen account has this national ID number")]
    NoSuchCitizen,
    /// The actor is not an active legal representative of the business.
    #[error("only a legal representative of the business may do this")]
    NotALegalRepresentative,
    /// Not `legal_representative` or `authorised_staff`.
    #[error("the role must be legal_representative or authorised_staff")]
    InvalidRole,
    /// An expiry in the past.
    #[error("the expiry date must be in the future")]
    InvalidExpiry,
    /// The citizen already acts for the business.
    #[error("the citizen is already a member of this business")]
    AlreadyMember,
    /// The citizen is not a member (or invitee) of the business.
    #[error("the citizen is not a member of this business")]
    NotAMember,
    /// Removing the last legal representative would leave nobody to manage
    /// the business (an admin can still do it).
    #[error("the business must keep at least one legal representative")]
    LastLegalRepresentative,
    /// There is no pending invitation to accept or decline.
    #[error("there is no pending invitation from this business")]
    NotInvited,
    /// The invitation's authorisation ended before it was accepted.
    #[error("this invitation has expired")]
    InvitationExpired,
    /// The citizen to add or invite typed their national ID number at
    /// sign-up and nobody has checked it: acting for a business needs a
    /// verified identity.
    #[error("this citizen's national ID number is not verified, so they cannot act for a business")]
    MemberUnverified,
    /// The signed-in citizen registering a business or accepting an
    /// invitation has an unverified national ID number.
    #[error("your national ID number is not verified, so you cannot act for a business")]
    SelfUnverified,
    /// The citizen sent [`INVITATIONS_PER_HOUR`] invitations in the last hour.
    #[error("too many invitations in the last hour")]
    TooManyInvitations,
    /// Store failure; detail logged, not shown.
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl BusinessError {
    /// The i18n key of the message a citizen sees.
    pub fn key(&self) -> &'static str {
        match self {
            Self::TaxCode(e) => e.key(),
            Self::InvalidName => "biz.err.name",
            Self::InvalidAddress => "biz.err.address",
            Self::TaxCodeTaken => "biz.err.tax_code_taken",
            Self::NotFound => "biz.err.not_found",
            Self::Disabled => "biz.err.disabled",
            Self::NoSuchCitizen => "biz.err.no_such_citizen",
            Self::NotALegalRepresentative => "biz.err.not_representative",
            Self::InvalidRole => "biz.err.role",
            Self::InvalidExpiry => "biz.err.expiry",
            Self::AlreadyMember => "biz.err.already_member",
            Self::NotAMember => "biz.err.not_member",
            Self::LastLegalRepresentative => "biz.err.last_representative",
            Self::NotInvited => "biz.err.not_invited",
            Self::InvitationExpired => "biz.err.invitation_expired",
            Self::MemberUnverified => "biz.err.member_unverified",
            Self::SelfUnverified => "biz.err.self_unverified",
            Self::TooManyInvitations => "biz.err.too_many_invitations",
            Self::Store(StoreError::Unavailable(_)) => "err.temporarily_unavailable",
            Self::Store(_) => "err.server_error",
        }
    }
}

fn check_role(role: &str) -> Result<(), BusinessError> {
    if role == ROLE_LEGAL_REPRESENTATIVE || role == ROLE_AUTHORISED_STAFF {
        Ok(())
    } else {
        Err(BusinessError::InvalidRole)
    }
}

fn check_expiry(expires_at: Option<Timestamp>, now: Timestamp) -> Result<(), BusinessError> {
    match expires_at {
        Some(e) if e <= now => Err(BusinessError::InvalidExpiry),
        _ => Ok(()),
    }
}

/// What a take-over cleared away (see [`create`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakenOver {
    /// Member rows deleted, invitations included.
    pub members_removed: u64,
    /// Live grants acting for the business, revoked.
    pub grants_revoked: u64,
}

/// A registered business, and whether an admin took it over.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The business as stored now.
    pub business: Business,
    /// `Some` when an admin took over a self-declared business with this tax code.
    pub taken_over: Option<TakenOver>,
}

/// Register a business. An admin's registration is `verified` and has no
/// member yet; a citizen's is self-declared (`verified: false`) and makes
/// the citizen, who must have a verified national ID number, its first
/// legal representative.
///
/// An admin registering a tax code that a citizen declared takes it over:
/// anyone can type any tax code on the account page, so a self-declared
/// business must not keep the real one from its checked registration.
pub async fn create(
    store: &dyn Store,
    now: Timestamp,
    input: NewBusiness,
    by: Actor<'_>,
) -> Result<Registration, BusinessError> {
    if let Actor::Citizen(account_id) = by {
        require_verified_self(store, account_id).await?;
    }
    let tax_code = check_tax_code(&input.tax_code).map_err(BusinessError::TaxCode)?;
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(BusinessError::InvalidName);
    }
    let address = input.address.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
    if address.as_ref().is_some_and(|a| a.chars().count() > 300) {
        return Err(BusinessError::InvalidAddress);
    }
    let business = Business {
        id: random_id(),
        tax_code,
        subject: random_id(),
        name,
        address,
        status: "active".to_owned(),
        verified: matches!(by, Actor::Admin(_)),
        created_at: now,
        updated_at: now,
    };
    let first = match by {
        Actor::Admin(_) => None,
        Actor::Citizen(account_id) => Some(BusinessMember {
            business_id: business.id.clone(),
            account_id: account_id.to_owned(),
            role: ROLE_LEGAL_REPRESENTATIVE.to_owned(),
            status: MEMBER_ACTIVE.to_owned(),
            expires_at: None,
            invited_by: Some(account_id.to_owned()),
            created_at: now,
            accepted_at: Some(now),
        }),
    };
    match store.create_business(&business, first.as_ref()).await {
        Ok(()) => Ok(Registration { business, taken_over: None }),
        Err(StoreError::Conflict(_)) if matches!(by, Actor::Admin(_)) => take_over(store, now, business).await,
        Err(StoreError::Conflict(_)) => Err(BusinessError::TaxCodeTaken),
        Err(e) => Err(e.into()),
    }
}

/// The admin's `wanted` registration replaces the unverified business with
/// its tax code, in one store transaction: verified, the admin's name and
/// address, a new id and subject (a service that knew the self-declared
/// business by its public or pairwise `sub` must not take the real one for
/// it), no members left and no grant acting for it. A verified business
/// keeps its code: `TaxCodeTaken`.
async fn take_over(store: &dyn Store, now: Timestamp, wanted: Business) -> Result<Registration, BusinessError> {
    let existing = match store.find_business_by_tax_code(&wanted.tax_code).await? {
        Some(b) if !b.verified => b,
        _ => return Err(BusinessError::TaxCodeTaken),
    };
    match store.take_over_business(&existing.id, &wanted, now).await {
        Ok((members_removed, grants_revoked)) => {
            Ok(Registration { business: wanted, taken_over: Some(TakenOver { members_removed, grants_revoked }) })
        }
        // Verified by another admin meanwhile.
        Err(StoreError::Conflict(_)) => Err(BusinessError::TaxCodeTaken),
        Err(e) => Err(e.into()),
    }
}

/// A business by tax code (canonicalised first, so `0100109106001` finds
/// `0100109106-001`).
pub async fn find(store: &dyn Store, tax_code: &str) -> Result<Business, BusinessError> {
    let code = check_tax_code(tax_code).map_err(BusinessError::TaxCode)?;
    store.find_business_by_tax_code(&code).await?.ok_or(BusinessError::NotFound)
}

/// Disable a business: nobody can act for it any more, and every live grant
/// acting for it is revoked. Returns the business and how many grants.
pub async fn disable(store: &dyn Store, now: Timestamp, tax_code: &str) -> Result<(Business, u64), BusinessError> {
    let business = find(store, tax_code).await?;
    // One transaction: a crash in between cannot leave a disabled business
    // with live grants.
    let revoked = match store.disable_business(&business.id, now).await {
        Ok(n) => n,
        Err(StoreError::NotFound) => return Err(BusinessError::NotFound),
        Err(e) => return Err(e.into()),
    };
    Ok((Business { status: "disabled".to_owned(), updated_at: now, ..business }, revoked))
}

/// The active citizen with this national ID number, if it is verified: a
/// number typed at sign-up proves nothing, and whoever acts for a business
/// signs in its name.
async fn citizen_by_national_id(store: &dyn Store, national_id: &str) -> Result<String, BusinessError> {
    match store.find_citizen_by_national_id(national_id.trim()).await? {
        Some(c) if c.account.status == "active" && c.profile.national_id_verified => Ok(c.account.id),
        Some(c) if c.account.status == "active" => Err(BusinessError::MemberUnverified),
        _ => Err(BusinessError::NoSuchCitizen),
    }
}

/// `SelfUnverified` unless the signed-in citizen's national ID number is verified.
async fn require_verified_self(store: &dyn Store, account_id: &str) -> Result<(), BusinessError> {
    match store.get_citizen(account_id).await? {
        Some(c) if c.profile.national_id_verified => Ok(()),
        _ => Err(BusinessError::SelfUnverified),
    }
}

/// Whether `account_id` is an active legal representative of `business_id` at `now`.
async fn is_representative(
    store: &dyn Store,
    business_id: &str,
    account_id: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(store
        .get_business_member(business_id, account_id)
        .await?
        .is_some_and(|m| m.role == ROLE_LEGAL_REPRESENTATIVE && m.can_act(now)))
}

/// What is asked of a new member.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// The citizen's 12-digit national ID number.
    pub national_id: String,
    /// [`ROLE_LEGAL_REPRESENTATIVE`] or [`ROLE_AUTHORISED_STAFF`].
    pub role: String,
    /// When the authorisation ends by itself.
    pub expires_at: Option<Timestamp>,
}

/// Add a member, who must have a verified national ID number. An admin's
/// addition is active at once; a citizen (who must
/// be an active legal representative) sends an invitation the invitee
/// accepts on their account page. Re-inviting replaces a pending
/// invitation; an active member is refused (remove them first to change a role).
/// Returns the member row and the invitee's account id.
pub async fn add_member(
    store: &dyn Store,
    now: Timestamp,
    business: &Business,
    input: NewMember,
    by: Actor<'_>,
) -> Result<BusinessMember, BusinessError> {
    check_role(&input.role)?;
    check_expiry(input.expires_at, now)?;
    if business.status != "active" {
        return Err(BusinessError::Disabled);
    }
    let invited_by = match by {
        Actor::Admin(actor) => actor.to_owned(),
        Actor::Citizen(account_id) => {
            if !is_representative(store, &business.id, account_id, now).await? {
                return Err(BusinessError::NotALegalRepresentative);
            }
            account_id.to_owned()
        }
    };
    let account_id = citizen_by_national_id(store, &input.national_id).await?;
    let admin = matches!(by, Actor::Admin(_));
    let member = BusinessMember {
        business_id: business.id.clone(),
        account_id,
        role: input.role,
        status: if admin { MEMBER_ACTIVE } else { MEMBER_INVITED }.to_owned(),
        expires_at: input.expires_at,
        invited_by: Some(invited_by),
        created_at: now,
        accepted_at: admin.then_some(now),
    };
    // Written only if the citizen is not an active member yet, in the same
    // statement, so a concurrent acceptance is never overwritten.
    if !store.invite_business_member(&member).await.map_err(business_gone)? {
        return Err(BusinessError::AlreadyMember);
    }
    Ok(member)
}

/// Invitations one citizen may send in an hour. Each answer tells whether a
/// national ID number has a verified account (the invitation goes to it, or
/// is refused), so the form must not become a way to look up the country's
/// national ID numbers; any citizen with a verified ID can declare a
/// business and invite from it. A representative adding more staff than
/// this waits, or asks an administrator (`idp-admin business add-member`).
pub const INVITATIONS_PER_HOUR: u64 = 30;

/// Count an invitation `account_id` is about to send, refusing it past
/// [`INVITATIONS_PER_HOUR`] (every attempt counts: success tells as much as
/// a refusal).
pub async fn count_invitation(cache: &dyn Cache, account_id: &str) -> Result<(), BusinessError> {
    let key = format!("invite-by:{}", crate::crypto::sha256_hex(account_id.as_bytes()));
    match crate::cache::within_hourly(cache, &key, INVITATIONS_PER_HOUR).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(BusinessError::TooManyInvitations),
        Err(e) => Err(BusinessError::Store(StoreError::Unavailable(e.to_string()))),
    }
}

/// A write that references the business failed its foreign key: the business
/// is gone (an admin took its tax code over meanwhile), which the admin API
/// answers 404, not 500.
fn business_gone(e: StoreError) -> BusinessError {
    match e {
        StoreError::NotFound => BusinessError::NotFound,
        e => BusinessError::Store(e),
    }
}

/// The invited citizen accepts: from now on they may act for the business.
pub async fn accept(
    store: &dyn Store,
    now: Timestamp,
    account_id: &str,
    business_id: &str,
) -> Result<BusinessMember, BusinessError> {
    let member = match store.get_business_member(business_id, account_id).await? {
        Some(m) if m.status == MEMBER_INVITED => m,
        _ => return Err(BusinessError::NotInvited),
    };
    accept_read(store, now, member).await
}

/// [`accept`] once the invitation `member` has been read: exactly that one
/// (its time and role) is accepted, or none.
async fn accept_read(
    store: &dyn Store,
    now: Timestamp,
    member: BusinessMember,
) -> Result<BusinessMember, BusinessError> {
    let (business_id, account_id) = (member.business_id.as_str(), member.account_id.as_str());
    // Checked at invitation too, but an invitation may predate the rule.
    require_verified_self(store, account_id).await?;
    let business = store.get_business(business_id).await?.ok_or(BusinessError::NotFound)?;
    if business.status != "active" {
        return Err(BusinessError::Disabled);
    }
    if member.expires_at.is_some_and(|e| e <= now) {
        return Err(BusinessError::InvitationExpired);
    }
    // An invitation speaks for its inviter: once they are no longer a legal
    // representative, it no longer holds. Admins add members directly (an
    // `admin:` actor), so an invitation's inviter is a citizen account.
    if let Some(inviter) = member.invited_by.as_deref().filter(|i| !i.starts_with("admin:"))
        && !is_representative(store, business_id, inviter, now).await?
    {
        return Err(BusinessError::NotInvited);
    }
    // Accept exactly the invitation read above, role included: if it was
    // withdrawn or re-sent meanwhile (even within the same second, with
    // another role), nothing is written.
    let accepted = store
        .accept_business_invitation(business_id, account_id, member.created_at, &member.role, now)
        .await
        .map_err(business_gone)?;
    if !accepted {
        return Err(BusinessError::NotInvited);
    }
    Ok(BusinessMember { status: MEMBER_ACTIVE.to_owned(), accepted_at: Some(now), ..member })
}

/// The invited citizen declines: the invitation is deleted. An invitation
/// has no grants acting on it, so there is nothing to revoke.
pub async fn decline(store: &dyn Store, account_id: &str, business_id: &str) -> Result<(), BusinessError> {
    // Only while it is still an invitation, in one statement: accepted in
    // another tab meanwhile, it is a membership that "decline" must not
    // remove; withdrawn meanwhile, there is nothing left to decline.
    if store.delete_business_invitation(business_id, account_id).await? {
        Ok(())
    } else {
        Err(BusinessError::NotInvited)
    }
}

/// Remove a member (or withdraw an invitation). At once: the member can no
/// longer act for the business, and every grant they hold acting for it is
/// revoked, so its access tokens stop introspecting as active and its
/// refresh tokens stop working. A citizen must be a legal representative of
/// the business, or be removing themself; either way the business keeps at
/// least one active legal representative. Returns how many grants were revoked.
pub async fn remove_member(
    store: &dyn Store,
    now: Timestamp,
    business: &Business,
    account_id: &str,
    by: Actor<'_>,
) -> Result<u64, BusinessError> {
    let keep_representative_at = match by {
        Actor::Admin(_) => None,
        Actor::Citizen(actor) => {
            if actor != account_id && !is_representative(store, &business.id, actor, now).await? {
                return Err(BusinessError::NotALegalRepresentative);
            }
            Some(now)
        }
    };
    // The "at least one legal representative" rule is checked by the store
    // inside the removal's transaction: two representatives removing each
    // other at once cannot both pass it.
    match store.remove_business_member(&business.id, account_id, now, keep_representative_at).await {
        Ok(n) => Ok(n),
        Err(StoreError::NotFound) => Err(BusinessError::NotAMember),
        Err(StoreError::Conflict(_)) => Err(BusinessError::LastLegalRepresentative),
        Err(e) => Err(e.into()),
    }
}

/// The businesses a citizen may act for now: active businesses where they
/// are an active, unexpired member. By business name.
pub async fn acting_options(
    store: &dyn Store,
    account_id: &str,
    now: Timestamp,
) -> Result<Vec<Membership>, StoreError> {
    Ok(store
        .list_memberships(account_id)
        .await?
        .into_iter()
        .filter(|m| m.business.status == "active" && m.member.can_act(now))
        .collect())
}

/// The business and membership if `account_id` may act for `business_id`
/// now; `None` once the member was removed, the authorisation expired or
/// the business was disabled.
pub async fn acting_for(
    store: &dyn Store,
    account_id: &str,
    business_id: &str,
    now: Timestamp,
) -> Result<Option<Membership>, StoreError> {
    let Some(member) = store.get_business_member(business_id, account_id).await? else { return Ok(None) };
    if !member.can_act(now) {
        return Ok(None);
    }
    Ok(store
        .get_business(business_id)
        .await?
        .filter(|b| b.status == "active")
        .map(|business| Membership { business, member }))
}

/// The `business` claim (README, "Businesses"): who the citizen acts for, and as what.
pub fn business_claim(m: &Membership) -> Value {
    json!({
        "tax_code": m.business.tax_code,
        "name": m.business.name,
        "role": m.member.role,
        "verified": m.business.verified,
    })
}

#[cfg(test)]
mod tests;
