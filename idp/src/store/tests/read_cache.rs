//! What the read cache (`store::live`) keeps is dropped by every write that
//! changes it: each case reads first (filling the cache when it is on), writes,
//! and reads again. Runs on every engine, with the cache off and on.

use super::businesses::{business, business_grant, member};
use super::fixtures::*;
use crate::store::*;

async fn revoked(s: &dyn Store, id: &str) -> bool {
    s.get_grant(id).await.unwrap().unwrap().revoked_at.is_some()
}

pub(super) async fn read_cache_follows_writes(s: &dyn Store) {
    seed(s).await;
    s.create_citizen(&citizen("acc-2", "001090000002", None), None).await.unwrap();

    // A client's change (here: disabled) is seen at once.
    assert_eq!(s.get_client("cli-1").await.unwrap().unwrap().status, "active");
    let disabled = Client { status: "disabled".into(), ..s.get_client("cli-1").await.unwrap().unwrap() };
    s.update_client(&disabled).await.unwrap();
    assert_eq!(s.get_client("cli-1").await.unwrap().unwrap().status, "disabled");
    s.update_client(&Client { status: "active".into(), ..disabled }).await.unwrap();

    // An account's status.
    assert_eq!(s.get_citizen("acc-2").await.unwrap().unwrap().account.status, "active");
    s.set_account_status("acc-2", "disabled").await.unwrap();
    assert_eq!(s.get_citizen("acc-2").await.unwrap().unwrap().account.status, "disabled");

    // A revoked access token, read before or known from its issue.
    assert!(!s.is_jti_revoked("jti-1").await.unwrap());
    s.revoke_jti("jti-1", 9_000).await.unwrap();
    assert!(s.is_jti_revoked("jti-1").await.unwrap());
    s.issued_jti("jti-2");
    assert!(!s.is_jti_revoked("jti-2").await.unwrap());
    s.revoke_jti("jti-2", 9_000).await.unwrap();
    assert!(s.is_jti_revoked("jti-2").await.unwrap());

    // Grants, by each kind of revocation.
    s.create_grant(&grant("g-one"), None).await.unwrap();
    assert!(!revoked(s, "g-one").await);
    s.revoke_grant("g-one", 2_000).await.unwrap();
    assert!(revoked(s, "g-one").await);

    // An SSO session: seen, signed out, or every session of its account ended.
    let live = |s: Option<SsoSession>| s.unwrap().revoked_at.is_none();
    s.create_sso_session(&sso("sid-seen", "acc-1", 9_000)).await.unwrap();
    assert_eq!(s.get_sso_session("sid-seen").await.unwrap().unwrap().last_seen_at, None);
    s.touch_sso_session("sid-seen", 1_500, 1_440).await.unwrap();
    assert_eq!(s.get_sso_session("sid-seen").await.unwrap().unwrap().last_seen_at, Some(1_500));
    assert!(live(s.get_sso_session("sid-seen").await.unwrap()));
    s.revoke_sso_session("sid-seen", 2_000).await.unwrap();
    assert!(!live(s.get_sso_session("sid-seen").await.unwrap()));
    s.create_sso_session(&sso("sid-all", "acc-1", 9_000)).await.unwrap();
    assert!(live(s.get_sso_session("sid-all").await.unwrap()));
    s.revoke_account_sessions("acc-1", 2_000).await.unwrap();
    assert!(!live(s.get_sso_session("sid-all").await.unwrap()));

    // By SSO session (sign-out): `grant()` has sid-1 and offline_access,
    // which a sign-out keeps, so this one is without.
    let online = Grant { scopes: vec!["openid".into()], ..grant("g-session") };
    s.create_grant(&online, None).await.unwrap();
    assert!(!revoked(s, "g-session").await);
    s.revoke_session_grants("sid-1", 2_000).await.unwrap();
    assert!(revoked(s, "g-session").await);

    // A consent widened, then (below) withdrawn.
    let scopes = |s: Option<Consent>| s.map(|c| c.scopes);
    let consent = Consent {
        account_id: "acc-1".into(),
        client_id: "cli-1".into(),
        scopes: vec!["openid".into()],
        granted_at: 1_000,
    };
    s.put_consent(&consent).await.unwrap();
    assert_eq!(scopes(s.get_consent("acc-1", "cli-1").await.unwrap()), Some(vec!["openid".to_owned()]));
    let wider = Consent { scopes: vec!["openid".into(), "profile".into()], ..consent };
    s.put_consent(&wider).await.unwrap();
    assert_eq!(scopes(s.get_consent("acc-1", "cli-1").await.unwrap()), Some(wider.scopes.clone()));

    // By consent withdrawn, and by account (password change).
    s.create_grant(&grant("g-consent"), None).await.unwrap();
    assert!(!revoked(s, "g-consent").await);
    s.revoke_consent("acc-1", "cli-1", 2_000).await.unwrap();
    assert!(revoked(s, "g-consent").await);
    assert_eq!(scopes(s.get_consent("acc-1", "cli-1").await.unwrap()), None);
    s.create_grant(&grant("g-account"), None).await.unwrap();
    assert!(!revoked(s, "g-account").await);
    s.revoke_account_grants("acc-1", 2_000).await.unwrap();
    assert!(revoked(s, "g-account").await);

    // By signing key (a compromised key).
    s.create_grant(&grant("g-key"), None).await.unwrap();
    s.add_grant_signing_kid("g-key", "kid-bad").await.unwrap();
    s.add_grant_signing_kid("g-key", "kid-bad").await.unwrap();
    assert!(!revoked(s, "g-key").await);
    assert_eq!(s.revoke_grants_signed_by("kid-bad", 2_000).await.unwrap(), 1);
    assert!(revoked(s, "g-key").await);

    // By business: a member removed, then the business disabled.
    let rep = member("biz-1", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-1", "0100109106", "Công ty Beta"), Some(&rep)).await.unwrap();
    s.set_account_status("acc-2", "active").await.unwrap();
    s.put_business_member(&member("biz-1", "acc-2", ROLE_AUTHORISED_STAFF)).await.unwrap();
    s.create_grant(&business_grant("g-staff", "acc-2", Some("biz-1")), None).await.unwrap();
    s.create_grant(&business_grant("g-rep", "acc-1", Some("biz-1")), None).await.unwrap();
    assert!(!revoked(s, "g-staff").await && !revoked(s, "g-rep").await);
    s.remove_business_member("biz-1", "acc-2", 3_000, None).await.unwrap();
    assert!(revoked(s, "g-staff").await);
    assert!(!revoked(s, "g-rep").await);
    s.disable_business("biz-1", 3_000).await.unwrap();
    assert!(revoked(s, "g-rep").await);

    // By an admin's take-over of a self-declared business.
    let rep = member("biz-2", "acc-1", ROLE_LEGAL_REPRESENTATIVE);
    s.create_business(&business("biz-2", "0312345678", "Công ty Alpha"), Some(&rep)).await.unwrap();
    s.create_grant(&business_grant("g-declared", "acc-1", Some("biz-2")), None).await.unwrap();
    assert!(!revoked(s, "g-declared").await);
    let real = Business { id: "biz-3".into(), verified: true, ..business("biz-3", "0312345678", "Công ty Alpha") };
    s.take_over_business("biz-2", &real, 4_000).await.unwrap();
    assert!(revoked(s, "g-declared").await);
}
