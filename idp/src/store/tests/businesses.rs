//! Businesses, their members, the grants that act for them, server secrets,
//! and the client and grant columns that came with them, on every engine.

use super::fixtures::*;
use crate::store::*;

pub(super) fn business(id: &str, tax_code: &str, name: &str) -> Business {
    Business {
        id: id.into(),
        tax_code: tax_code.into(),
        subject: format!("bsub-{id}"),
        name: name.into(),
        address: Some("12 Lý Thái Tổ, Hà Nội".into()),
        status: "active".into(),
        verified: false,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

pub(super) fn member(business_id: &str, account_id: &str, role: &str) -> BusinessMember {
    BusinessMember {
        business_id: business_id.into(),
        account_id: account_id.into(),
        role: role.into(),
        status: MEMBER_ACTIVE.into(),
        expires_at: None,
        invited_by: Some("admin:ops".into()),
        created_at: 1_000,
        accepted_at: Some(1_000),
    }
}

/// A citizen with its own full name (the fixture's is the same for everyone).
async fn named_citizen(s: &dyn Store, id: &str, national_id: &str, full_name: &str) {
    let mut c = citizen(id, national_id, None);
    c.profile.full_name = full_name.into();
    s.create_citizen(&c, None).await.unwrap();
}

pub(super) fn business_grant(id: &str, account_id: &str, business_id: Option<&str>) -> Grant {
    Grant { account_id: account_id.into(), business_id: business_id.map(Into::into), ..grant(id) }
}

pub(super) async fn businesses(s: &dyn Store) {
    seed(s).await;
    let b1 = business("biz-1", "0100109106", "Công ty Beta");
    let first = member("biz-1", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&b1, Some(&first)).await.unwrap();
    assert_eq!(s.get_business("biz-1").await.unwrap(), Some(b1.clone()));
    assert_eq!(s.find_business_by_tax_code("0100109106").await.unwrap(), Some(b1.clone()));
    assert_eq!(s.get_business_member("biz-1", "acc-1").await.unwrap(), Some(first));
    assert_eq!(s.get_business("biz-9").await.unwrap(), None);
    assert_eq!(s.find_business_by_tax_code("0100109107").await.unwrap(), None);

    // One business per tax code; the refused one left nothing behind.
    let dup = business("biz-x", "0100109106", "Khác");
    assert_eq!(conflict_field(s.create_business(&dup, None).await), "tax_code");
    assert_eq!(s.get_business("biz-x").await.unwrap(), None);
    // The subject is random: a clash is a fault, not the caller's conflict.
    let clash = Business { subject: b1.subject.clone(), ..business("biz-y", "0100109107", "Trùng") };
    assert!(matches!(s.create_business(&clash, None).await, Err(StoreError::Backend(_))));
    // The first member is written with the business or not at all.
    let orphan = business("biz-o", "0200000001", "Mồ côi");
    let ghost = member("biz-o", "ghost", ROLE_LEGAL_REPRESENTATIVE);
    assert!(matches!(s.create_business(&orphan, Some(&ghost)).await, Err(StoreError::NotFound)));
    assert_eq!(s.find_business_by_tax_code("0200000001").await.unwrap(), None);

    let b2 = Business { verified: true, address: None, ..business("biz-2", "0312345678", "Công ty Alpha") };
    s.create_business(&b2, None).await.unwrap();
    assert_eq!(s.get_business("biz-2").await.unwrap(), Some(b2.clone()));
    s.create_business(&business("biz-3", "0100109106-001", "Chi nhánh Beta"), None).await.unwrap();
    assert!(s.get_business_member("biz-2", "acc-1").await.unwrap().is_none());

    // Pages by tax code (a branch sorts right after its head office).
    let page = |after: Option<&'static str>, limit| async move {
        s.list_businesses(after, limit).await.unwrap().into_iter().map(|b| b.id).collect::<Vec<_>>()
    };
    assert_eq!(page(None, 2).await, ["biz-1", "biz-3"]);
    assert_eq!(page(Some("0100109106-001"), 2).await, ["biz-2"]);
    assert!(page(Some("0312345678"), 2).await.is_empty());
    assert_eq!(page(None, 10).await, ["biz-1", "biz-3", "biz-2"]);

    s.set_business_status("biz-2", "disabled", 5_000).await.unwrap();
    let disabled = s.get_business("biz-2").await.unwrap().unwrap();
    assert_eq!((disabled.status.as_str(), disabled.updated_at), ("disabled", 5_000));
    assert_eq!(Business { status: "active".into(), updated_at: 1_000, ..disabled }, b2);
    assert!(matches!(s.set_business_status("biz-9", "disabled", 5_000).await, Err(StoreError::NotFound)));
}

pub(super) async fn business_members(s: &dyn Store) {
    seed(s).await; // acc-1 is "Nguyễn Văn An".
    named_citizen(s, "acc-2", "001090000002", "Trần Thị Bình").await;
    named_citizen(s, "acc-3", "001090000003", "Lê Văn Cường").await;
    named_citizen(s, "acc-4", "001090000004", "Phạm Thị Dung").await;
    let rep = member("biz-1", "acc-3", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-1", "0100109106", "Công ty Beta"), Some(&rep)).await.unwrap();
    s.create_business(&business("biz-2", "0312345678", "Công ty Alpha"), None).await.unwrap();
    s.create_business(&business("biz-3", "0400000001", "Công ty Gamma"), None).await.unwrap();

    let invited = BusinessMember {
        status: MEMBER_INVITED.into(),
        invited_by: Some("acc-3".into()),
        accepted_at: None,
        ..member("biz-1", "acc-2", ROLE_AUTHORISED_STAFF)
    };
    s.put_business_member(&invited).await.unwrap();
    s.put_business_member(&member("biz-1", "acc-1", ROLE_AUTHORISED_STAFF)).await.unwrap();
    s.put_business_member(&member("biz-1", "acc-4", ROLE_LEGAL_REPRESENTATIVE)).await.unwrap();
    assert_eq!(s.get_business_member("biz-1", "acc-2").await.unwrap(), Some(invited.clone()));

    // Putting the same (business, account) again replaces the row.
    let accepted = BusinessMember {
        status: MEMBER_ACTIVE.into(),
        accepted_at: Some(3_000),
        expires_at: Some(9_000),
        ..invited.clone()
    };
    s.put_business_member(&accepted).await.unwrap();
    assert_eq!(s.get_business_member("biz-1", "acc-2").await.unwrap(), Some(accepted.clone()));
    // Members need a real account and a real business.
    assert!(matches!(s.put_business_member(&member("biz-1", "ghost", "x")).await, Err(StoreError::NotFound)));
    assert!(matches!(s.put_business_member(&member("biz-9", "acc-1", "x")).await, Err(StoreError::NotFound)));

    // Legal representatives first, then by name, with the citizens' names and IDs.
    let members = s.list_business_members("biz-1").await.unwrap();
    let shown: Vec<_> =
        members.iter().map(|v| (v.member.account_id.as_str(), v.full_name.as_str(), v.national_id.as_str())).collect();
    assert_eq!(
        shown,
        [
            ("acc-3", "Lê Văn Cường", "001090000003"),
            ("acc-4", "Phạm Thị Dung", "001090000004"),
            ("acc-1", "Nguyễn Văn An", "001090000001"),
            ("acc-2", "Trần Thị Bình", "001090000002"),
        ]
    );
    assert_eq!(members[0].member, rep);
    assert_eq!(members[3].member, accepted);
    assert!(s.list_business_members("biz-2").await.unwrap().is_empty());

    // A citizen's memberships, invited ones too, by business name.
    let pending = BusinessMember { status: MEMBER_INVITED.into(), ..member("biz-2", "acc-1", ROLE_AUTHORISED_STAFF) };
    s.put_business_member(&pending).await.unwrap();
    let list = s.list_memberships("acc-1").await.unwrap();
    assert_eq!(
        list,
        [
            Membership { business: s.get_business("biz-2").await.unwrap().unwrap(), member: pending },
            Membership {
                business: s.get_business("biz-1").await.unwrap().unwrap(),
                member: member("biz-1", "acc-1", ROLE_AUTHORISED_STAFF),
            },
        ]
    );
    assert!(s.list_memberships("nobody").await.unwrap().is_empty());
}

pub(super) async fn business_grant_revocation(s: &dyn Store) {
    seed(s).await;
    named_citizen(s, "acc-2", "001090000002", "Trần Thị Bình").await;
    let rep = member("biz-1", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-1", "0100109106", "Công ty Beta"), Some(&rep)).await.unwrap();
    let other = member("biz-2", "acc-1", ROLE_AUTHORISED_STAFF);
    s.create_business(&business("biz-2", "0312345678", "Công ty Alpha"), Some(&other)).await.unwrap();
    s.put_business_member(&member("biz-1", "acc-2", ROLE_AUTHORISED_STAFF)).await.unwrap();

    s.create_grant(&business_grant("g-b1", "acc-1", Some("biz-1")), None).await.unwrap();
    let old = Grant { revoked_at: Some(500), ..business_grant("g-b1-old", "acc-1", Some("biz-1")) };
    s.create_grant(&old, None).await.unwrap();
    s.create_grant(&business_grant("g-b2", "acc-1", Some("biz-2")), None).await.unwrap();
    s.create_grant(&business_grant("g-self", "acc-1", None), None).await.unwrap();
    s.create_grant(&business_grant("g-staff", "acc-2", Some("biz-1")), None).await.unwrap();
    let revoked_at = |id: &'static str| async move { s.get_grant(id).await.unwrap().unwrap().revoked_at };

    // Removing a member revokes exactly their live grants for that business.
    assert_eq!(s.remove_business_member("biz-1", "acc-1", 7_000, None).await.unwrap(), 1);
    assert_eq!(s.get_business_member("biz-1", "acc-1").await.unwrap(), None);
    assert_eq!(revoked_at("g-b1").await, Some(7_000));
    assert_eq!(revoked_at("g-b1-old").await, Some(500));
    assert_eq!(revoked_at("g-b2").await, None);
    assert_eq!(revoked_at("g-self").await, None);
    assert_eq!(revoked_at("g-staff").await, None);
    assert_eq!(s.get_business_member("biz-2", "acc-1").await.unwrap(), Some(other));
    assert!(matches!(s.remove_business_member("biz-1", "acc-1", 7_500, None).await, Err(StoreError::NotFound)));
    assert!(matches!(s.remove_business_member("biz-9", "acc-2", 7_500, None).await, Err(StoreError::NotFound)));

    // Disabling a business revokes, with the status change, every live grant
    // acting for it, whoever holds it.
    assert_eq!(s.disable_business("biz-1", 8_000).await.unwrap(), 1);
    let disabled = s.get_business("biz-1").await.unwrap().unwrap();
    assert_eq!((disabled.status.as_str(), disabled.updated_at), ("disabled", 8_000));
    assert_eq!(revoked_at("g-staff").await, Some(8_000));
    assert_eq!(revoked_at("g-b1").await, Some(7_000));
    assert_eq!(revoked_at("g-b2").await, None);
    assert_eq!(revoked_at("g-self").await, None);
    assert_eq!(s.get_business("biz-2").await.unwrap().unwrap().status, "active");
    assert_eq!(s.disable_business("biz-1", 9_000).await.unwrap(), 0);
    assert!(matches!(s.disable_business("biz-9", 9_000).await, Err(StoreError::NotFound)));
    // A member with nothing left to revoke is still removed.
    assert_eq!(s.remove_business_member("biz-1", "acc-2", 9_000, None).await.unwrap(), 0);
    assert!(s.list_business_members("biz-1").await.unwrap().is_empty());
}

/// An admin's take-over of a self-declared business: new id, subject, name
/// and address, verified and active again, no members and no live grants
/// left, all or nothing; a verified business is not taken over.
pub(super) async fn business_takeover(s: &dyn Store) {
    seed(s).await;
    named_citizen(s, "acc-2", "001090000002", "Trần Thị Bình").await;
    let rep = member("biz-1", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-1", "0100109106", "Sen giả"), Some(&rep)).await.unwrap();
    let invited = BusinessMember { status: MEMBER_INVITED.into(), ..member("biz-1", "acc-2", ROLE_AUTHORISED_STAFF) };
    s.put_business_member(&invited).await.unwrap();
    s.set_business_status("biz-1", "disabled", 2_000).await.unwrap();
    let other = member("biz-2", "acc-1", ROLE_AUTHORISED_STAFF);
    s.create_business(&business("biz-2", "0312345678", "Công ty Alpha"), Some(&other)).await.unwrap();
    s.create_grant(&business_grant("g-b1", "acc-1", Some("biz-1")), None).await.unwrap();
    let old = Grant { revoked_at: Some(500), ..business_grant("g-b1-old", "acc-2", Some("biz-1")) };
    s.create_grant(&old, None).await.unwrap();
    s.create_grant(&business_grant("g-b2", "acc-1", Some("biz-2")), None).await.unwrap();
    s.create_grant(&business_grant("g-self", "acc-1", None), None).await.unwrap();
    let revoked_at = |id: &'static str| async move { s.get_grant(id).await.unwrap().unwrap().revoked_at };

    let real = Business {
        subject: "bsub-new".into(),
        name: "Công ty Cổ phần Sen".into(),
        address: None,
        verified: true,
        created_at: 8_000,
        updated_at: 8_000,
        ..business("biz-new", "0100109106", "")
    };
    assert_eq!(s.take_over_business("biz-1", &real, 8_000).await.unwrap(), (2, 1));
    assert_eq!(s.find_business_by_tax_code("0100109106").await.unwrap(), Some(real.clone()));
    assert_eq!(s.get_business("biz-new").await.unwrap(), Some(real.clone()), "verified, active, new id and subject");
    assert_eq!(s.get_business("biz-1").await.unwrap(), None);
    assert!(s.list_business_members("biz-1").await.unwrap().is_empty(), "members and invitations gone");
    assert!(s.list_business_members("biz-new").await.unwrap().is_empty());
    assert!(s.list_memberships("acc-2").await.unwrap().is_empty());
    assert_eq!(revoked_at("g-b1").await, Some(8_000));
    assert_eq!(revoked_at("g-b1-old").await, Some(500));
    assert_eq!(revoked_at("g-b2").await, None);
    assert_eq!(revoked_at("g-self").await, None);
    assert_eq!(s.get_business_member("biz-2", "acc-1").await.unwrap(), Some(other));
    // A member written to the old id afterwards (a representative's invitation
    // racing the take-over) finds no business: NotFound, not a fault.
    let late = BusinessMember { status: MEMBER_INVITED.into(), ..member("biz-1", "acc-2", ROLE_AUTHORISED_STAFF) };
    assert!(matches!(s.invite_business_member(&late).await, Err(StoreError::NotFound)));
    assert!(matches!(s.put_business_member(&late).await, Err(StoreError::NotFound)));
    assert!(s.list_memberships("acc-2").await.unwrap().is_empty());

    // Verified now, or gone: a second take-over changes nothing.
    let again = Business { id: "biz-again".into(), subject: "bsub-again".into(), ..real.clone() };
    assert_eq!(conflict_field(s.take_over_business("biz-new", &again, 9_000).await.map(|_| ())), "tax_code");
    assert_eq!(conflict_field(s.take_over_business("biz-1", &again, 9_000).await.map(|_| ())), "tax_code");
    assert_eq!(s.find_business_by_tax_code("0100109106").await.unwrap(), Some(real));
    // A subject clash is a fault, and rolls the whole take-over back.
    let rep3 = member("biz-3", "acc-2", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-3", "0400000001", "Gamma"), Some(&rep3)).await.unwrap();
    s.create_grant(&business_grant("g-b3", "acc-2", Some("biz-3")), None).await.unwrap();
    let clash =
        Business { subject: "bsub-new".into(), verified: true, ..business("biz-4", "0400000001", "Gamma thật") };
    assert!(matches!(s.take_over_business("biz-3", &clash, 9_000).await, Err(StoreError::Backend(_))));
    assert!(!s.get_business("biz-3").await.unwrap().unwrap().verified);
    assert_eq!(s.list_business_members("biz-3").await.unwrap().len(), 1);
    assert_eq!(revoked_at("g-b3").await, None);

    // An invitation racing the take-over either lands first and goes with
    // the business, or finds it gone: never a fault, never a survivor.
    let rep5 = member("biz-5", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-5", "0500000001", "Delta"), Some(&rep5)).await.unwrap();
    let racing = BusinessMember { status: MEMBER_INVITED.into(), ..member("biz-5", "acc-2", ROLE_AUTHORISED_STAFF) };
    let real5 =
        Business { subject: "bsub-6".into(), verified: true, ..business("biz-6", "0500000001", "Delta thật") };
    let (taken, invited) =
        tokio::join!(s.take_over_business("biz-5", &real5, 9_500), s.invite_business_member(&racing));
    let (members, _) = taken.unwrap();
    assert!(matches!(invited, Ok(true) | Err(StoreError::NotFound)), "{invited:?}");
    assert!((1..=2).contains(&members), "{members}");
    assert!(s.list_business_members("biz-5").await.unwrap().is_empty());
    assert!(s.list_business_members("biz-6").await.unwrap().is_empty());
    assert!(s.list_memberships("acc-2").await.unwrap().iter().all(|m| m.business.id != "biz-5"));
}

/// Whom a session's latest business-scoped grant at a client acted as, which
/// `prompt=none` reuses and a logout notice needs to name the `sub` that
/// client knows. A login without the `business` scope chose nothing.
pub(super) async fn session_business(s: &dyn Store) {
    seed(s).await;
    s.create_client(&client("cli-2", "org-1")).await.unwrap();
    s.create_business(&business("biz-1", "0100109106", "Công ty Beta"), None).await.unwrap();
    s.create_business(&business("biz-2", "0312345678", "Công ty Alpha"), None).await.unwrap();
    let at = |id: &str, business: Option<&str>, client: &str, created_at| Grant {
        client_id: client.into(),
        created_at,
        scopes: vec!["openid".into(), "business".into()],
        ..business_grant(id, "acc-1", business)
    };
    let plain = |id: &str, client: &str, created_at| Grant {
        client_id: client.into(),
        created_at,
        scopes: vec!["openid".into(), "business_card".into()],
        ..grant(id)
    };
    // An ordinary login (no `business` scope, even one named like it) is no choice.
    s.create_grant(&plain("g-p0", "cli-1", 500), None).await.unwrap();
    assert_eq!(s.session_business("sid-1", "cli-1").await.unwrap(), None);
    s.create_grant(&at("g-1", Some("biz-1"), "cli-1", 1_000), None).await.unwrap();
    assert_eq!(s.session_business("sid-1", "cli-1").await.unwrap(), Some(Some("biz-1".into())));
    // The latest business-scoped grant wins, revoked or not; same-second ties go to the larger id.
    s.create_grant(&at("g-2", Some("biz-2"), "cli-1", 2_000), None).await.unwrap();
    s.create_grant(&at("g-0", Some("biz-1"), "cli-1", 2_000), None).await.unwrap();
    s.revoke_session_grants("sid-1", 2_500).await.unwrap();
    assert_eq!(s.session_business("sid-1", "cli-1").await.unwrap(), Some(Some("biz-2".into())));
    // A later ordinary login changes nothing.
    s.create_grant(&plain("g-p1", "cli-1", 2_800), None).await.unwrap();
    assert_eq!(s.session_business("sid-1", "cli-1").await.unwrap(), Some(Some("biz-2".into())));
    // Then the citizen chose to act for themselves: their own `sub`.
    s.create_grant(&at("g-3", None, "cli-1", 3_000), None).await.unwrap();
    assert_eq!(s.session_business("sid-1", "cli-1").await.unwrap(), Some(None));
    // Other clients and other sessions are apart.
    s.create_grant(&plain("g-p2", "cli-2", 500), None).await.unwrap();
    assert_eq!(s.session_business("sid-1", "cli-2").await.unwrap(), None);
    s.create_grant(&at("g-4", Some("biz-1"), "cli-2", 1_000), None).await.unwrap();
    assert_eq!(s.session_business("sid-1", "cli-2").await.unwrap(), Some(Some("biz-1".into())));
    assert_eq!(s.session_business("sid-9", "cli-1").await.unwrap(), None);
}

/// Invitations are written, accepted and declined by single conditional
/// statements: an active member is never overwritten nor declined away, a
/// withdrawn or re-sent invitation is never accepted.
pub(super) async fn business_invitations(s: &dyn Store) {
    seed(s).await;
    named_citizen(s, "acc-2", "001090000002", "Trần Thị Bình").await;
    named_citizen(s, "acc-3", "001090000003", "Lê Văn Cường").await;
    let rep = member("biz-1", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-1", "0100109106", "Công ty Beta"), Some(&rep)).await.unwrap();
    let invite = |account_id: &str, role: &str, created_at| BusinessMember {
        status: MEMBER_INVITED.into(),
        invited_by: Some("acc-1".into()),
        created_at,
        accepted_at: None,
        ..member("biz-1", account_id, role)
    };
    let row = |account_id: &'static str| async move { s.get_business_member("biz-1", account_id).await.unwrap() };

    // A pending invitation may be re-sent (here with another role) ...
    assert!(s.invite_business_member(&invite("acc-2", ROLE_AUTHORISED_STAFF, 2_000)).await.unwrap());
    let resent = invite("acc-2", ROLE_LEGAL_REPRESENTATIVE, 2_100);
    assert!(s.invite_business_member(&resent).await.unwrap());
    assert_eq!(row("acc-2").await, Some(resent.clone()));
    // ... and the one the citizen saw before that can no longer be accepted.
    let (staff, rep) = (ROLE_AUTHORISED_STAFF, ROLE_LEGAL_REPRESENTATIVE);
    assert!(!s.accept_business_invitation("biz-1", "acc-2", 2_000, staff, 3_000).await.unwrap());
    assert_eq!(row("acc-2").await, Some(resent.clone()));
    // Re-sent within the same second with another role: the role the citizen
    // saw no longer matches, so it is not accepted as the new one.
    let same_second = invite("acc-2", staff, 2_100);
    assert!(s.invite_business_member(&same_second).await.unwrap());
    assert!(!s.accept_business_invitation("biz-1", "acc-2", 2_100, rep, 3_000).await.unwrap());
    assert_eq!(row("acc-2").await, Some(same_second));
    assert!(s.invite_business_member(&resent).await.unwrap());
    assert!(s.accept_business_invitation("biz-1", "acc-2", 2_100, rep, 3_000).await.unwrap());
    let accepted = BusinessMember { status: MEMBER_ACTIVE.into(), accepted_at: Some(3_000), ..resent };
    assert_eq!(row("acc-2").await, Some(accepted.clone()));
    assert!(!s.accept_business_invitation("biz-1", "acc-2", 2_100, rep, 3_500).await.unwrap());
    // Declining after accepting (another tab) removes nothing: still a member.
    assert!(!s.delete_business_invitation("biz-1", "acc-2").await.unwrap());
    assert_eq!(row("acc-2").await, Some(accepted.clone()));

    // An active member is neither re-invited nor re-added.
    assert!(!s.invite_business_member(&invite("acc-2", ROLE_AUTHORISED_STAFF, 4_000)).await.unwrap());
    assert!(!s.invite_business_member(&member("biz-1", "acc-2", ROLE_AUTHORISED_STAFF)).await.unwrap());
    assert_eq!(row("acc-2").await, Some(accepted));
    // An admin's addition turns a pending invitation into a member at once.
    assert!(s.invite_business_member(&invite("acc-3", ROLE_AUTHORISED_STAFF, 4_000)).await.unwrap());
    let added = member("biz-1", "acc-3", ROLE_AUTHORISED_STAFF);
    assert!(s.invite_business_member(&added).await.unwrap());
    assert_eq!(row("acc-3").await, Some(added));

    // A withdrawn invitation is not brought back by a late acceptance.
    s.remove_business_member("biz-1", "acc-3", 5_000, None).await.unwrap();
    assert!(s.invite_business_member(&invite("acc-3", ROLE_AUTHORISED_STAFF, 5_100)).await.unwrap());
    s.remove_business_member("biz-1", "acc-3", 5_200, Some(5_200)).await.unwrap();
    assert!(!s.accept_business_invitation("biz-1", "acc-3", 5_100, ROLE_AUTHORISED_STAFF, 5_300).await.unwrap());
    assert_eq!(row("acc-3").await, None);
    // A pending invitation is declined once; then there is none.
    assert!(s.invite_business_member(&invite("acc-3", ROLE_AUTHORISED_STAFF, 5_400)).await.unwrap());
    assert!(s.delete_business_invitation("biz-1", "acc-3").await.unwrap());
    assert_eq!(row("acc-3").await, None);
    assert!(!s.delete_business_invitation("biz-1", "acc-3").await.unwrap());
    assert!(!s.delete_business_invitation("biz-9", "acc-3").await.unwrap());
    // Members need a real account and a real business.
    assert!(matches!(
        s.invite_business_member(&invite("ghost", ROLE_AUTHORISED_STAFF, 6_000)).await,
        Err(StoreError::NotFound)
    ));
}

/// A guarded removal never leaves a business without a legal representative
/// able to act, even when two of them remove each other at the same time.
pub(super) async fn last_representative(s: &dyn Store) {
    seed(s).await;
    named_citizen(s, "acc-2", "001090000002", "Trần Thị Bình").await;
    named_citizen(s, "acc-3", "001090000003", "Lê Văn Cường").await;
    named_citizen(s, "acc-4", "001090000004", "Phạm Thị Dung").await;
    let rep = member("biz-1", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-1", "0100109106", "Công ty Beta"), Some(&rep)).await.unwrap();
    s.put_business_member(&member("biz-1", "acc-2", ROLE_LEGAL_REPRESENTATIVE)).await.unwrap();
    let lapsed = BusinessMember { expires_at: Some(5_000), ..member("biz-1", "acc-3", ROLE_LEGAL_REPRESENTATIVE) };
    s.put_business_member(&lapsed).await.unwrap();
    s.put_business_member(&member("biz-1", "acc-4", ROLE_AUTHORISED_STAFF)).await.unwrap();
    s.create_grant(&business_grant("g-1", "acc-1", Some("biz-1")), None).await.unwrap();
    s.create_grant(&business_grant("g-2", "acc-2", Some("biz-1")), None).await.unwrap();

    // acc-1 remains, so acc-2 may go.
    assert_eq!(s.remove_business_member("biz-1", "acc-2", 6_000, Some(6_000)).await.unwrap(), 1);
    // The last one able to act may not; nothing changed, grant included.
    let refused = s.remove_business_member("biz-1", "acc-1", 6_000, Some(6_000)).await;
    assert!(matches!(refused, Err(StoreError::Conflict("last_representative"))), "{refused:?}");
    assert_eq!(s.get_business_member("biz-1", "acc-1").await.unwrap(), Some(rep));
    assert_eq!(s.get_grant("g-1").await.unwrap().unwrap().revoked_at, None);
    // A lapsed representative and a staff member may go; unguarded (an admin), anyone.
    assert_eq!(s.remove_business_member("biz-1", "acc-3", 6_000, Some(6_000)).await.unwrap(), 0);
    assert_eq!(s.remove_business_member("biz-1", "acc-4", 6_000, Some(6_000)).await.unwrap(), 0);
    assert_eq!(s.remove_business_member("biz-1", "acc-1", 6_000, None).await.unwrap(), 1);
    assert!(s.list_business_members("biz-1").await.unwrap().is_empty());

    // Two representatives removing each other at once: exactly one succeeds.
    let rep = |account_id: &str| member("biz-2", account_id, ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-2", "0312345678", "Công ty Alpha"), Some(&rep("acc-1"))).await.unwrap();
    s.put_business_member(&rep("acc-2")).await.unwrap();
    let (a, b) = tokio::join!(
        s.remove_business_member("biz-2", "acc-1", 7_000, Some(7_000)),
        s.remove_business_member("biz-2", "acc-2", 7_000, Some(7_000)),
    );
    let refused = |r: &StoreResult<u64>| matches!(r, Err(StoreError::Conflict("last_representative")));
    assert!(a.is_ok() != b.is_ok() && (refused(&a) || refused(&b)), "{a:?} {b:?}");
    assert_eq!(s.list_business_members("biz-2").await.unwrap().len(), 1);
}

pub(super) async fn server_secrets(s: &dyn Store) {
    let secret = |value: &[u8], kek_id: &str, created_at| ServerSecret {
        name: "pairwise".into(),
        value_enc: value.to_vec(),
        kek_id: kek_id.into(),
        created_at,
    };
    let (first, rival) = (secret(&[1, 2, 3], "kek-1", 1_000), secret(&[7, 7, 7], "kek-1", 1_000));
    // Two nodes starting together: both end up with the same value.
    let (a, b) = tokio::join!(s.put_server_secret_if_absent(&first), s.put_server_secret_if_absent(&rival));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert!(a == first || a == rival, "{a:?}");
    let stored = a;
    // A later node's value is ignored.
    assert_eq!(s.put_server_secret_if_absent(&secret(&[9, 9], "kek-2", 2_000)).await.unwrap(), stored);

    let alpha = ServerSecret { name: "alpha".into(), ..secret(&[0xff, 0, 0x80], "kek-1", 1_500) };
    assert_eq!(s.put_server_secret_if_absent(&alpha).await.unwrap(), alpha);
    assert_eq!(s.list_server_secrets().await.unwrap(), [alpha.clone(), stored.clone()]);

    // `keys rewrap` moves secrets with the signing keys, all or nothing: one
    // left under the old KEK, or one no longer under the KEK it names, changes nothing.
    let rewrapped = ServerSecret { value_enc: vec![4, 5, 6, 0], kek_id: "kek-2".into(), ..stored.clone() };
    let alpha2 = ServerSecret { value_enc: vec![7], kek_id: "kek-2".into(), ..alpha.clone() };
    let ghost = ServerSecret { name: "ghost".into(), ..alpha2.clone() };
    let pairwise_only = [(rewrapped.clone(), stored.kek_id.clone())];
    assert!(!s.rewrap_signing_keys(&[], &pairwise_only).await.unwrap(), "alpha would stay under kek-1");
    let with_ghost = [(rewrapped.clone(), stored.kek_id.clone()), (ghost, "kek-1".into())];
    assert!(!s.rewrap_signing_keys(&[], &with_ghost).await.unwrap(), "no such secret");
    assert_eq!(s.list_server_secrets().await.unwrap(), [alpha.clone(), stored.clone()]);
    let both = [(alpha2.clone(), "kek-1".into()), (rewrapped.clone(), stored.kek_id.clone())];
    assert!(s.rewrap_signing_keys(&[], &both).await.unwrap());
    assert_eq!(s.list_server_secrets().await.unwrap(), [alpha2, rewrapped]);
}

/// The client columns for pairwise subjects and the grant's business round-trip.
pub(super) async fn subject_and_business_columns(s: &dyn Store) {
    seed(s).await;
    let mut c = Client {
        subject_type: "pairwise".into(),
        sector_identifier: Some("rp.example".into()),
        sector_identifier_uri: Some("https://rp.example/sector.json".into()),
        business_self_allowed: true,
        require_par: true,
        dpop_bound: true,
        ..client("cli-p", "org-1")
    };
    s.create_client(&c).await.unwrap();
    assert_eq!(s.get_client("cli-p").await.unwrap(), Some(c.clone()));
    assert_eq!(s.get_client("cli-1").await.unwrap(), Some(client("cli-1", "org-1")));
    c.subject_type = "public".into();
    c.sector_identifier = None;
    c.sector_identifier_uri = None;
    c.business_self_allowed = false;
    c.require_par = false;
    c.dpop_bound = false;
    c.updated_at = 2_000;
    s.update_client(&c).await.unwrap();
    assert_eq!(s.get_client("cli-p").await.unwrap(), Some(c.clone()));
    c.subject_type = "pairwise".into();
    c.sector_identifier = Some("apps.example".into());
    c.business_self_allowed = true;
    s.update_client(&c).await.unwrap();
    assert_eq!(s.get_client("cli-p").await.unwrap(), Some(c));

    let g = Grant {
        dpop_jkt: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into()),
        ..business_grant("g-1", "acc-1", Some("biz-1"))
    };
    s.create_grant(&g, Some(&refresh("rt-1", "g-1"))).await.unwrap();
    assert_eq!(s.get_grant("g-1").await.unwrap(), Some(g.clone()));
    // A business grant's refresh token rotates like any other.
    let r = s.rotate_refresh_token("rt-1", &refresh("rt-2", "g-1")).await.unwrap();
    assert_eq!(r, Rotation::Rotated);
    assert_eq!(s.get_refresh_token("rt-2").await.unwrap().map(|t| t.grant_id), Some("g-1".into()));
}
