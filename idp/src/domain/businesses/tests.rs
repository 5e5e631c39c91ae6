#![allow(clippy::unwrap_used)]

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
    for bad in ["", "010010910", "01001091066", "0100109106-01", "010010910-6001", "01001O9106", "0100109106--001"] {
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
    // As Vietnamese pages write it, where a phone has no date picker.
    assert_eq!(end_of_day("30/06/2027"), end_of_day("2027-06-30"));
    assert_eq!(end_of_day(" 1/7/2027 "), end_of_day("2027-07-01"));
    for bad in ["31/06/2027", "06/30/2027", "30/06/27", "30/06", "+1/07/2027", "2027-6-+1"] {
        assert_eq!(end_of_day(bad), None, "{bad}");
    }
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

/// A citizen's account id, with a verified national ID (as an admin creates or imports them).
async fn citizen(store: &dyn Store, national_id: &str) -> String {
    citizen_checked(store, national_id, true).await
}

/// A citizen's account id; `verified: false` is one who signed up on the page.
async fn citizen_checked(store: &dyn Store, national_id: &str, verified: bool) -> String {
    let c = crate::domain::accounts::new_citizen(
        NOW,
        national_id,
        verified,
        "Nguyễn Văn An",
        None,
        None,
        &Default::default(),
    )
    .unwrap();
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
    let business = create(store, NOW, input, Actor::Citizen(&rep)).await.unwrap().business;
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
    let gone = decline(store, &other, &business.id).await;
    assert!(matches!(gone, Err(BusinessError::NotInvited)), "{gone:?}");

    // Disabling revokes in the same step; an unknown tax code is NotFound.
    let (disabled, revoked) = disable(store, NOW + 1, "0100109106").await.unwrap();
    assert_eq!((disabled.status.as_str(), revoked), ("disabled", 0));
    assert!(matches!(disable(store, NOW, "0312345673").await, Err(BusinessError::NotFound)));
}

#[tokio::test]
async fn only_verified_citizens_act_for_a_business() {
    let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
    let store = store.as_ref();
    let (rep, signed_up) = (citizen(store, "001090012345").await, citizen_checked(store, "079188001234", false).await);
    let sen = || NewBusiness { tax_code: "0100109106".into(), name: "Công ty Sen".into(), address: None };

    // Self-registration needs a verified national ID; nothing is registered otherwise.
    let refused = create(store, NOW, sen(), Actor::Citizen(&signed_up)).await;
    assert!(matches!(refused, Err(BusinessError::SelfUnverified)), "{refused:?}");
    assert!(store.find_business_by_tax_code("0100109106").await.unwrap().is_none());
    let business = create(store, NOW, sen(), Actor::Citizen(&rep)).await.unwrap().business;

    // Neither a representative nor an admin can make them a member.
    let invite =
        || NewMember { national_id: "079188001234".into(), role: ROLE_AUTHORISED_STAFF.into(), expires_at: None };
    for by in [Actor::Citizen(&rep), Actor::Admin("admin:ops")] {
        let refused = add_member(store, NOW, &business, invite(), by).await;
        assert!(matches!(refused, Err(BusinessError::MemberUnverified)), "{by:?}: {refused:?}");
    }
    assert!(store.get_business_member(&business.id, &signed_up).await.unwrap().is_none());

    // An invitation from before the rule cannot be accepted either.
    let old = BusinessMember {
        business_id: business.id.clone(),
        account_id: signed_up.clone(),
        role: ROLE_AUTHORISED_STAFF.into(),
        status: MEMBER_INVITED.into(),
        expires_at: None,
        invited_by: Some(rep.clone()),
        created_at: NOW,
        accepted_at: None,
    };
    store.put_business_member(&old).await.unwrap();
    let refused = accept(store, NOW, &signed_up, &business.id).await;
    assert!(matches!(refused, Err(BusinessError::SelfUnverified)), "{refused:?}");
    assert!(acting_for(store, &signed_up, &business.id, NOW).await.unwrap().is_none());
}

#[tokio::test]
async fn an_admin_takes_over_a_self_declared_tax_code() {
    let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
    let store = store.as_ref();
    let (squatter, staff) = (citizen(store, "001090012345").await, citizen(store, "079188001234").await);
    let typed = NewBusiness { tax_code: "0100109106".into(), name: "Sen giả".into(), address: None };
    let declared = create(store, NOW, typed, Actor::Citizen(&squatter)).await.unwrap().business;
    let invite = NewMember { national_id: "079188001234".into(), role: ROLE_AUTHORISED_STAFF.into(), expires_at: None };
    add_member(store, NOW, &declared, invite, Actor::Citizen(&squatter)).await.unwrap();

    let real = NewBusiness {
        tax_code: "0100109106".into(),
        name: "Công ty Cổ phần Sen".into(),
        address: Some("1 Tràng Tiền, Hà Nội".into()),
    };
    let done = create(store, NOW + 60, real.clone(), Actor::Admin("admin:ops")).await.unwrap();
    assert_eq!(done.taken_over, Some(TakenOver { members_removed: 2, grants_revoked: 0 }));
    let stored = store.find_business_by_tax_code("0100109106").await.unwrap().unwrap();
    assert_eq!(stored, done.business);
    assert!(stored.verified && stored.status == "active");
    assert_eq!(
        (stored.name.as_str(), stored.address.as_deref()),
        ("Công ty Cổ phần Sen", Some("1 Tràng Tiền, Hà Nội"))
    );
    assert_ne!(stored.subject, declared.subject, "a new subject: services must not carry the old one over");
    assert_ne!(stored.id, declared.id, "a new id, which pairwise subjects are computed over");
    assert!(store.get_business(&declared.id).await.unwrap().is_none());
    assert!(store.list_business_members(&stored.id).await.unwrap().is_empty());
    assert!(acting_options(store, &squatter, NOW + 60).await.unwrap().is_empty());
    assert!(accept(store, NOW + 60, &staff, &stored.id).await.is_err(), "the invitation went with it");

    // A verified business keeps its tax code.
    let again = create(store, NOW + 120, real, Actor::Admin("admin:ops")).await;
    assert!(matches!(again, Err(BusinessError::TaxCodeTaken)), "{again:?}");
    let again = NewBusiness { tax_code: "0100109106".into(), name: "Sen".into(), address: None };
    let again = create(store, NOW + 120, again, Actor::Citizen(&squatter)).await;
    assert!(matches!(again, Err(BusinessError::TaxCodeTaken)), "{again:?}");
}

#[tokio::test]
async fn only_the_invitation_read_is_accepted_role_included() {
    let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
    let store = store.as_ref();
    let (rep, staff) = (citizen(store, "001090012345").await, citizen(store, "079188001234").await);
    let input = NewBusiness { tax_code: "0100109106".into(), name: "Công ty Sen".into(), address: None };
    let business = create(store, NOW, input, Actor::Citizen(&rep)).await.unwrap().business;
    let invite = |role: &str| NewMember { national_id: "079188001234".into(), role: role.into(), expires_at: None };
    add_member(store, NOW, &business, invite(ROLE_AUTHORISED_STAFF), Actor::Citizen(&rep)).await.unwrap();
    let seen = store.get_business_member(&business.id, &staff).await.unwrap().unwrap();

    // Re-sent within the same second as a legal representative, after the
    // invitee's page read the first one: that one is not accepted with a role
    // the invitee never saw.
    add_member(store, NOW, &business, invite(ROLE_LEGAL_REPRESENTATIVE), Actor::Citizen(&rep)).await.unwrap();
    let stale = accept_read(store, NOW, seen).await;
    assert!(matches!(stale, Err(BusinessError::NotInvited)), "{stale:?}");
    let pending = store.get_business_member(&business.id, &staff).await.unwrap().unwrap();
    assert_eq!((pending.status.as_str(), pending.role.as_str()), (MEMBER_INVITED, ROLE_LEGAL_REPRESENTATIVE));
    // Read afresh, it is accepted with the role it shows.
    let accepted = accept(store, NOW, &staff, &business.id).await.unwrap();
    assert_eq!((accepted.status.as_str(), accepted.role.as_str()), (MEMBER_ACTIVE, ROLE_LEGAL_REPRESENTATIVE));

    // Declining once accepted (another tab) removes nothing.
    let late = decline(store, &staff, &business.id).await;
    assert!(matches!(late, Err(BusinessError::NotInvited)), "{late:?}");
    assert!(acting_for(store, &staff, &business.id, NOW).await.unwrap().is_some());
}

#[tokio::test]
async fn inviting_to_a_business_taken_over_meanwhile_is_not_found() {
    let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
    let store = store.as_ref();
    let squatter = citizen(store, "001090012345").await;
    citizen(store, "079188001234").await;
    let typed = NewBusiness { tax_code: "0100109106".into(), name: "Sen giả".into(), address: None };
    let declared = create(store, NOW, typed, Actor::Citizen(&squatter)).await.unwrap().business;
    let real = NewBusiness { tax_code: "0100109106".into(), name: "Công ty Sen".into(), address: None };
    create(store, NOW, real, Actor::Admin("admin:ops")).await.unwrap();

    // The admin API still holds the old row it looked up: 404, not 500.
    let invite = NewMember { national_id: "079188001234".into(), role: ROLE_AUTHORISED_STAFF.into(), expires_at: None };
    let gone = add_member(store, NOW, &declared, invite, Actor::Admin("admin:ops")).await;
    assert!(matches!(gone, Err(BusinessError::NotFound)), "{gone:?}");
}
