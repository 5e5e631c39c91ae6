//! Businesses and the citizens who act for them: tax codes, registration,
//! invitations, membership, and who may act for which business right now.

use serde_json::{Value, json};

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

/// `YYYY-MM-DD` → the first second after that day ends in Vietnam (UTC+7),
/// so an authorisation "until 2027-06-30" holds all of that day.
pub fn end_of_day(date: &str) -> Option<Timestamp> {
    let mut parts = date.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
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

/// Register a business. An admin's registration is `verified` and has no
/// member yet; a citizen's is self-declared (`verified: false`) and makes
/// the citizen its first legal representative.
pub async fn create(
    store: &dyn Store,
    now: Timestamp,
    input: NewBusiness,
    by: Actor<'_>,
) -> Result<Business, BusinessError> {
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
        Ok(()) => Ok(business),
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

/// The active citizen with this national ID number.
async fn citizen_by_national_id(store: &dyn Store, national_id: &str) -> Result<String, BusinessError> {
    match store.find_citizen_by_national_id(national_id.trim()).await? {
        Some(c) if c.account.status == "active" => Ok(c.account.id),
        _ => Err(BusinessError::NoSuchCitizen),
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

/// Add a member. An admin's addition is active at once; a citizen (who must
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
    if !store.invite_business_member(&member).await? {
        return Err(BusinessError::AlreadyMember);
    }
    Ok(member)
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
    // Accept exactly the invitation read above: if it was withdrawn or
    // re-sent meanwhile, nothing is written.
    if !store.accept_business_invitation(business_id, account_id, member.created_at, now).await? {
        return Err(BusinessError::NotInvited);
    }
    Ok(BusinessMember { status: MEMBER_ACTIVE.to_owned(), accepted_at: Some(now), ..member })
}

/// The invited citizen declines: the invitation is deleted.
pub async fn decline(
    store: &dyn Store,
    now: Timestamp,
    account_id: &str,
    business_id: &str,
) -> Result<(), BusinessError> {
    match store.get_business_member(business_id, account_id).await? {
        Some(m) if m.status == MEMBER_INVITED => {}
        _ => return Err(BusinessError::NotInvited),
    }
    // Guarded like a removal: should the invitation have been accepted in
    // another tab meanwhile, declining it must not take the last legal
    // representative away either.
    match store.remove_business_member(business_id, account_id, now, Some(now)).await {
        Ok(_) => Ok(()),
        // Withdrawn meanwhile: there is nothing left to decline.
        Err(StoreError::NotFound) => Err(BusinessError::NotInvited),
        Err(StoreError::Conflict(_)) => Err(BusinessError::LastLegalRepresentative),
        Err(e) => Err(e.into()),
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tax_codes_follow_the_check_digit_rule() {
        assert_eq!(check_tax_code("0100109106"), Ok("0100109106".into()));
        assert_eq!(check_tax_code(" 0100109106 "), Ok("0100109106".into()));
        assert_eq!(check_tax_code("0100109105"), Err(TaxCodeError::CheckDigit));
        assert_eq!(check_tax_code("0100109106-001"), Ok("0100109106-001".into()));
        assert_eq!(check_tax_code("0100109106001"), Ok("0100109106-001".into()));
        assert_eq!(check_tax_code("0100109105-001"), Err(TaxCodeError::BranchParent));
        assert_eq!(check_tax_code("0100109106-000"), Err(TaxCodeError::BranchNumber));
        for bad in ["", "010010910", "01001091066", "0100109106-01", "010010910-6001", "01001O9106", "0100109106--001"]
        {
            assert_eq!(check_tax_code(bad), Err(TaxCodeError::Format), "{bad:?}");
        }
        // A prefix whose check value would be 10 is never valid, whatever the tenth digit.
        let ten = (0..=9).map(|d| format!("000000000{d}"));
        assert!(ten.clone().all(|c| check_tax_code(&c).is_err()), "weighted sum 0 → check value 10");
    }

    #[test]
    fn expiry_dates_end_at_midnight_in_vietnam() {
        // 2027-06-30 ends at 2027-07-01T00:00+07:00 = 2027-06-30T17:00Z.
        assert_eq!(end_of_day("2027-06-30"), Some(1_814_374_800));
        assert!(end_of_day("2028-02-29").is_some());
        assert_eq!(end_of_day("2027-02-29"), None);
        assert_eq!(end_of_day("2027-13-01"), None);
        assert_eq!(end_of_day("yesterday"), None);
    }

    #[test]
    fn a_member_acts_only_while_active_and_unexpired() {
        let m = BusinessMember {
            business_id: "b".into(),
            account_id: "a".into(),
            role: ROLE_AUTHORISED_STAFF.into(),
            status: MEMBER_ACTIVE.into(),
            expires_at: Some(100),
            invited_by: None,
            created_at: 0,
            accepted_at: Some(0),
        };
        assert!(m.can_act(99));
        assert!(!m.can_act(100));
        assert!(!BusinessMember { status: MEMBER_INVITED.into(), expires_at: None, ..m }.can_act(0));
    }

    /// A signed-up citizen's account id.
    async fn citizen(store: &dyn Store, national_id: &str) -> String {
        let c = crate::domain::accounts::new_citizen(NOW, national_id, true, "Nguyễn Văn An", None, None).unwrap();
        store.create_citizen(&c, None).await.unwrap();
        c.account.id
    }

    const NOW: Timestamp = 1_800_000_000;

    #[tokio::test]
    async fn invitations_lapse_with_their_end_date_and_their_inviter() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let store = store.as_ref();
        let (rep, staff, other) = (
            citizen(store, "001090012345").await,
            citizen(store, "079188001234").await,
            citizen(store, "001090012346").await,
        );
        let input = NewBusiness { tax_code: "0100109106".into(), name: "Công ty Sen".into(), address: None };
        let business = create(store, NOW, input, Actor::Citizen(&rep)).await.unwrap();
        let invite = |national_id: &str, expires_at| NewMember {
            national_id: national_id.into(),
            role: ROLE_AUTHORISED_STAFF.into(),
            expires_at,
        };
        add_member(store, NOW, &business, invite("079188001234", Some(NOW + 10)), Actor::Citizen(&rep)).await.unwrap();
        add_member(store, NOW, &business, invite("001090012346", None), Actor::Citizen(&rep)).await.unwrap();

        // Accepted after its end date: told so, and still not a member.
        let late = accept(store, NOW + 10, &staff, &business.id).await;
        assert!(matches!(late, Err(BusinessError::InvitationExpired)), "{late:?}");
        assert!(acting_for(store, &staff, &business.id, NOW + 5).await.unwrap().is_none());
        // An active member cannot be invited again.
        let accepted = accept(store, NOW, &staff, &business.id).await.unwrap();
        assert_eq!((accepted.status.as_str(), accepted.accepted_at), (MEMBER_ACTIVE, Some(NOW)));
        let again = add_member(store, NOW, &business, invite("079188001234", None), Actor::Citizen(&rep)).await;
        assert!(matches!(again, Err(BusinessError::AlreadyMember)), "{again:?}");

        // The last representative cannot leave; an admin can remove them,
        // and their pending invitation lapses with them.
        let leave = remove_member(store, NOW, &business, &rep, Actor::Citizen(&rep)).await;
        assert!(matches!(leave, Err(BusinessError::LastLegalRepresentative)), "{leave:?}");
        remove_member(store, NOW, &business, &rep, Actor::Admin("admin:ops")).await.unwrap();
        let orphan = accept(store, NOW, &other, &business.id).await;
        assert!(matches!(orphan, Err(BusinessError::NotInvited)), "{orphan:?}");
        // A withdrawn invitation cannot be declined either.
        remove_member(store, NOW, &business, &other, Actor::Admin("admin:ops")).await.unwrap();
        let gone = decline(store, NOW, &other, &business.id).await;
        assert!(matches!(gone, Err(BusinessError::NotInvited)), "{gone:?}");

        // Disabling revokes in the same step; an unknown tax code is NotFound.
        let (disabled, revoked) = disable(store, NOW + 1, "0100109106").await.unwrap();
        assert_eq!((disabled.status.as_str(), revoked), ("disabled", 0));
        assert!(matches!(disable(store, NOW, "0312345673").await, Err(BusinessError::NotFound)));
    }
}
