//! The behaviour every engine must show; each function runs once per engine.

use super::fixtures::*;
use crate::store::*;

pub(super) async fn organisations(s: &dyn Store) {
    s.create_organisation(&org("org-2", "hanoi")).await.unwrap();
    s.create_organisation(&org("org-1", "moh")).await.unwrap();
    assert_eq!(conflict_field(s.create_organisation(&org("org-3", "moh")).await), "code");
    assert_eq!(s.find_organisation("moh").await.unwrap(), Some(org("org-1", "moh")));
    assert_eq!(s.find_organisation("org-2").await.unwrap(), Some(org("org-2", "hanoi")));
    assert_eq!(s.find_organisation("nope").await.unwrap(), None);
    let codes: Vec<_> = s.list_organisations().await.unwrap().into_iter().map(|o| o.code).collect();
    assert_eq!(codes, ["hanoi", "moh"]);
}

pub(super) async fn citizens(s: &dyn Store) {
    let an = citizen("acc-1", "001090000001", Some("an@example.vn"));
    s.create_citizen(&an, Some("$argon2id$v=19$m=19456,t=2,p=1$x$y")).await.unwrap();
    assert_eq!(s.get_citizen("acc-1").await.unwrap(), Some(an.clone()));
    assert_eq!(s.find_citizen_by_national_id("001090000001").await.unwrap(), Some(an.clone()));
    assert_eq!(s.find_citizen_by_email("an@example.vn").await.unwrap(), Some(an.clone()));
    assert_eq!(s.find_citizen_by_email("nobody@example.vn").await.unwrap(), None);
    assert_eq!(s.get_password_hash("acc-1").await.unwrap().as_deref(), Some("$argon2id$v=19$m=19456,t=2,p=1$x$y"));

    // Two citizens without email do not collide on the NULL.
    s.create_citizen(&citizen("acc-2", "001090000002", None), None).await.unwrap();
    s.create_citizen(&citizen("acc-3", "001090000003", None), None).await.unwrap();
    assert_eq!(s.get_password_hash("acc-2").await.unwrap(), None);

    let dup_id = citizen("acc-4", "001090000001", Some("other@example.vn"));
    assert_eq!(conflict_field(s.create_citizen(&dup_id, Some("h")).await), "national_id");
    let dup_email = citizen("acc-5", "001090000005", Some("an@example.vn"));
    assert_eq!(conflict_field(s.create_citizen(&dup_email, Some("h")).await), "email");
    // The failed transactions left nothing behind.
    assert_eq!(s.get_citizen("acc-4").await.unwrap(), None);
    assert_eq!(s.get_citizen("acc-5").await.unwrap(), None);
    assert_eq!(s.get_password_hash("acc-4").await.unwrap(), None);

    s.set_password_hash("acc-2", "new-hash", 2_000).await.unwrap();
    s.set_password_hash("acc-1", "newer-hash", 2_000).await.unwrap();
    assert_eq!(s.get_password_hash("acc-2").await.unwrap().as_deref(), Some("new-hash"));
    assert_eq!(s.get_password_hash("acc-1").await.unwrap().as_deref(), Some("newer-hash"));
    assert!(matches!(s.set_password_hash("ghost", "h", 2_000).await, Err(StoreError::NotFound)));
    // A re-hash replaces only the hash it was made from.
    assert!(!s.rehash_password("acc-2", "stale-hash", "rehashed").await.unwrap());
    assert!(s.rehash_password("acc-2", "new-hash", "rehashed").await.unwrap());
    assert_eq!(s.get_password_hash("acc-2").await.unwrap().as_deref(), Some("rehashed"));
    assert!(!s.rehash_password("ghost", "h", "h2").await.unwrap());

    s.set_account_status("acc-1", "disabled").await.unwrap();
    assert_eq!(s.get_citizen("acc-1").await.unwrap().unwrap().account.status, "disabled");
    assert!(matches!(s.set_account_status("ghost", "disabled").await, Err(StoreError::NotFound)));

    let page = |after: Option<&'static str>, limit| async move {
        s.list_citizens(after, limit).await.unwrap().into_iter().map(|c| c.account.id).collect::<Vec<_>>()
    };
    assert_eq!(page(None, 2).await, ["acc-1", "acc-2"]);
    assert_eq!(page(Some("acc-2"), 2).await, ["acc-3"]);
    assert!(page(Some("acc-3"), 2).await.is_empty());

    // The verified flag of the national ID round-trips.
    let mut checked = citizen("acc-9", "001090000099", None);
    checked.profile.national_id_verified = true;
    s.create_citizen(&checked, None).await.unwrap();
    assert_eq!(s.get_citizen("acc-9").await.unwrap(), Some(checked));
}

pub(super) async fn clients(s: &dyn Store) {
    s.create_organisation(&org("org-1", "moh")).await.unwrap();
    s.create_organisation(&org("org-2", "hanoi")).await.unwrap();
    let mut c1 = client("cli-b", "org-1");
    s.create_client(&c1).await.unwrap();
    s.create_client(&client("cli-a", "org-2")).await.unwrap();
    s.create_client(&client("cli-c", "org-1")).await.unwrap();
    assert_eq!(conflict_field(s.create_client(&client("cli-b", "org-2")).await), "client_id");
    assert!(matches!(s.create_client(&client("cli-x", "no-org")).await, Err(StoreError::NotFound)));
    assert_eq!(s.get_client("cli-b").await.unwrap(), Some(c1.clone()));
    assert_eq!(s.get_client("cli-z").await.unwrap(), None);

    let ids = |v: Vec<Client>| v.into_iter().map(|c| c.client_id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_clients(None).await.unwrap()), ["cli-a", "cli-b", "cli-c"]);
    assert_eq!(ids(s.list_clients(Some("org-1")).await.unwrap()), ["cli-b", "cli-c"]);
    assert!(s.list_clients(Some("org-9")).await.unwrap().is_empty());

    c1.status = "disabled".into();
    c1.secret_hash = None;
    c1.require_pkce = false;
    c1.jwks = Some(r#"{"keys":[]}"#.into());
    c1.redirect_uris = vec!["http://localhost:3000/cb".into()];
    c1.updated_at = 2_000;
    s.update_client(&c1).await.unwrap();
    assert_eq!(s.get_client("cli-b").await.unwrap(), Some(c1));
    assert!(matches!(s.update_client(&client("cli-z", "org-1")).await, Err(StoreError::NotFound)));
}

pub(super) async fn consents(s: &dyn Store) {
    seed(s).await;
    assert_eq!(s.get_consent("acc-1", "cli-1").await.unwrap(), None);
    let mut c = Consent {
        account_id: "acc-1".into(),
        client_id: "cli-1".into(),
        scopes: vec!["openid".into(), "profile".into()],
        granted_at: 1_000,
    };
    s.put_consent(&c).await.unwrap();
    assert_eq!(s.get_consent("acc-1", "cli-1").await.unwrap(), Some(c.clone()));
    c.scopes.push("email".into());
    c.granted_at = 2_000;
    s.put_consent(&c).await.unwrap();
    assert_eq!(s.get_consent("acc-1", "cli-1").await.unwrap(), Some(c));
}

pub(super) async fn refresh_rotation(s: &dyn Store) {
    seed(s).await;
    s.create_grant(&grant("g-1"), Some(&refresh("rt-1", "g-1"))).await.unwrap();
    assert_eq!(s.get_grant("g-1").await.unwrap(), Some(grant("g-1")));
    assert_eq!(s.get_grant("g-9").await.unwrap(), None);
    assert_eq!(s.get_refresh_token("rt-1").await.unwrap(), Some(refresh("rt-1", "g-1")));

    let at = |hash: &str, created_at| RefreshToken { created_at, ..refresh(hash, "g-1") };
    let r = s.rotate_refresh_token("rt-1", &at("rt-2", 2_000)).await.unwrap();
    assert_eq!(r, Rotation::Rotated);
    assert_eq!(s.get_refresh_token("rt-1").await.unwrap().unwrap().used_at, Some(2_000), "used as the new one is made");
    assert_eq!(s.get_refresh_token("rt-2").await.unwrap(), Some(at("rt-2", 2_000)));

    // Presenting the rotated token again is reuse (RFC 6819 §5.2.2.3).
    let r = s.rotate_refresh_token("rt-1", &at("rt-3", 3_000)).await.unwrap();
    assert_eq!(r, Rotation::Reused("g-1".into()));
    assert_eq!(s.get_refresh_token("rt-3").await.unwrap(), None);
    assert_eq!(s.get_refresh_token("rt-1").await.unwrap().unwrap().used_at, Some(2_000));

    let r = s.rotate_refresh_token("rt-404", &at("rt-4", 3_000)).await.unwrap();
    assert_eq!(r, Rotation::Unknown);
    assert_eq!(s.get_refresh_token("rt-4").await.unwrap(), None);

    // An unused token of a revoked grant: nothing joins its family, and a
    // second try says the same (it is not reuse).
    s.revoke_grant("g-1", 3_000).await.unwrap();
    for new in ["rt-5", "rt-6"] {
        assert_eq!(s.rotate_refresh_token("rt-2", &at(new, 4_000)).await.unwrap(), Rotation::Revoked);
        assert_eq!(s.get_refresh_token(new).await.unwrap(), None);
    }
    assert_eq!(s.get_refresh_token("rt-2").await.unwrap().unwrap().used_at, None);

    // A new token whose hash is taken fails whole: the old one stays unused.
    s.create_grant(&grant("g-3"), Some(&refresh("rt-30", "g-3"))).await.unwrap();
    s.create_grant(&grant("g-4"), Some(&refresh("rt-40", "g-4"))).await.unwrap();
    let taken = RefreshToken { grant_id: "g-3".into(), ..at("rt-40", 2_000) };
    assert_eq!(conflict_field(s.rotate_refresh_token("rt-30", &taken).await.map(drop)), "refresh_token");
    assert_eq!(s.get_refresh_token("rt-30").await.unwrap().unwrap().used_at, None);

    // A grant without a first refresh token.
    s.create_grant(&grant("g-2"), None).await.unwrap();
    assert_eq!(conflict_field(s.create_grant(&grant("g-2"), None).await), "grant_id");
}

pub(super) async fn concurrent_rotation(s: &dyn Store) {
    seed(s).await;
    s.create_grant(&grant("g-1"), Some(&refresh("rt-1", "g-1"))).await.unwrap();
    let (new_a, new_b) = (refresh("rt-a", "g-1"), refresh("rt-b", "g-1"));
    let (a, b) = tokio::join!(s.rotate_refresh_token("rt-1", &new_a), s.rotate_refresh_token("rt-1", &new_b));
    let outcomes = [a.unwrap(), b.unwrap()];
    let rotated = outcomes.iter().filter(|o| **o == Rotation::Rotated).count();
    let reused = outcomes.iter().filter(|o| **o == Rotation::Reused("g-1".into())).count();
    assert_eq!((rotated, reused), (1, 1), "{outcomes:?}");
    let stored =
        [s.get_refresh_token("rt-a").await.unwrap().is_some(), s.get_refresh_token("rt-b").await.unwrap().is_some()];
    assert_eq!(stored.iter().filter(|x| **x).count(), 1, "only the winner's token is stored");
}

pub(super) async fn grant_revocation_and_jtis(s: &dyn Store) {
    seed(s).await;
    s.create_grant(&grant("g-1"), None).await.unwrap();
    s.revoke_grant("g-1", 5_000).await.unwrap();
    s.revoke_grant("g-1", 6_000).await.unwrap();
    assert_eq!(s.get_grant("g-1").await.unwrap().unwrap().revoked_at, Some(5_000));
    s.revoke_grant("g-404", 6_000).await.unwrap();

    assert!(!s.is_jti_revoked("jti-1").await.unwrap());
    s.revoke_jti("jti-1", 3_000).await.unwrap();
    s.revoke_jti("jti-1", 3_000).await.unwrap();
    s.revoke_jti("jti-2", 9_000).await.unwrap();
    assert!(s.is_jti_revoked("jti-1").await.unwrap());
    assert!(s.is_jti_revoked("jti-2").await.unwrap());
    assert_eq!(s.purge_expired(3_000).await.unwrap(), 1);
    assert!(!s.is_jti_revoked("jti-1").await.unwrap());
    assert!(s.is_jti_revoked("jti-2").await.unwrap());
}

pub(super) async fn sso_sessions(s: &dyn Store) {
    seed(s).await;
    s.create_citizen(&citizen("acc-2", "001090000002", None), None).await.unwrap();
    s.create_client(&client("cli-2", "org-1")).await.unwrap();
    s.create_sso_session(&sso("sid-1", "acc-1", 10_000)).await.unwrap();
    s.create_sso_session(&sso("sid-2", "acc-1", 10_000)).await.unwrap();
    s.create_sso_session(&sso("sid-3", "acc-1", 1_500)).await.unwrap(); // expired at 2_000
    s.create_sso_session(&sso("sid-4", "acc-2", 10_000)).await.unwrap();
    assert_eq!(conflict_field(s.create_sso_session(&sso("sid-1", "acc-2", 1)).await), "sid");
    assert_eq!(s.get_sso_session("sid-1").await.unwrap(), Some(sso("sid-1", "acc-1", 10_000)));
    assert_eq!(s.get_sso_session("sid-9").await.unwrap(), None);

    s.revoke_sso_session("sid-2", 1_500).await.unwrap();
    s.revoke_sso_session("sid-2", 1_800).await.unwrap();
    assert_eq!(s.get_sso_session("sid-2").await.unwrap().unwrap().revoked_at, Some(1_500));
    // Only sid-1 is still live for acc-1 at 2_000; acc-2's session is untouched.
    assert_eq!(s.revoke_account_sessions("acc-1", 2_000).await.unwrap(), 1);
    assert_eq!(s.get_sso_session("sid-1").await.unwrap().unwrap().revoked_at, Some(2_000));
    assert_eq!(s.get_sso_session("sid-4").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(s.revoke_account_sessions("acc-1", 2_100).await.unwrap(), 0);

    s.add_session_client("sid-4", "cli-2", 1_100).await.unwrap();
    s.add_session_client("sid-4", "cli-1", 1_200).await.unwrap();
    s.add_session_client("sid-4", "cli-2", 1_300).await.unwrap();
    assert_eq!(s.list_session_clients("sid-4").await.unwrap(), ["cli-2", "cli-1"]);
    assert!(s.list_session_clients("sid-1").await.unwrap().is_empty());

    // Device and last use: the User-Agent round-trips (Unicode included), and
    // last_seen_at is written only when older than `not_before`.
    let ua = "Mozilla/5.0 (Linux; Android 13) Chrome/126.0 Mobile Safari/537.36 Cốc Cốc";
    let phone = SsoSession { user_agent: Some(ua.into()), ..sso("sid-5", "acc-2", 10_000) };
    s.create_sso_session(&phone).await.unwrap();
    assert_eq!(s.get_sso_session("sid-5").await.unwrap(), Some(phone));
    assert!(s.touch_sso_session("sid-5", 2_000, 1_940).await.unwrap());
    assert!(!s.touch_sso_session("sid-5", 2_030, 1_970).await.unwrap(), "seen 30 s ago: no write");
    assert!(s.touch_sso_session("sid-5", 2_061, 2_001).await.unwrap());
    let seen = s.get_sso_session("sid-5").await.unwrap().unwrap();
    assert_eq!((seen.last_seen_at, seen.user_agent.as_deref()), (Some(2_061), Some(ua)));
    assert!(!s.touch_sso_session("sid-9", 2_100, 2_040).await.unwrap(), "unknown sid");
    let live = s.live_account_sessions("acc-2", 2_100).await.unwrap();
    let seen: Vec<_> = live.iter().map(|x| (x.sid.as_str(), x.last_seen_at)).collect();
    assert_eq!(seen, [("sid-4", None), ("sid-5", Some(2_061))]);
}

pub(super) async fn signing_keys(s: &dyn Store) {
    let key = |kid: &str, created_at| SigningKey {
        kid: kid.into(),
        alg: "RS256".into(),
        state: "next".into(),
        private_enc: vec![0, 1, 2, 255, 254, 0],
        kek_id: "kek-1".into(),
        public_jwk: format!(r#"{{"kty":"RSA","kid":"{kid}"}}"#),
        created_at,
        activated_at: None,
        retired_at: None,
    };
    let es256 = |kid: &str, created_at| SigningKey { alg: "ES256".into(), ..key(kid, created_at) };
    assert!(s.list_signing_keys().await.unwrap().is_empty());
    s.insert_signing_key(&key("k-2", 2_000)).await.unwrap();
    s.insert_signing_key(&es256("k-1", 1_000)).await.unwrap();
    let retired = SigningKey { state: "retired".into(), ..key("k-1", 3_000) };
    assert_eq!(conflict_field(s.insert_signing_key(&retired).await), "kid");
    // One next (and one active) key per algorithm (migration 0013).
    assert_eq!(conflict_field(s.insert_signing_key(&key("k-3", 3_000)).await), "signing_key_state");
    assert_eq!(s.list_signing_keys().await.unwrap(), [es256("k-1", 1_000), key("k-2", 2_000)]);
    // A change that would hold two is a lost race, as a failed compare-and-set.
    assert!(!s.change_signing_keys(&[], &[key("k-4", 4_000)]).await.unwrap());
    assert_eq!(s.list_signing_keys().await.unwrap().len(), 2);

    let mut k1 = es256("k-1", 1_000);
    k1.state = "retired".into();
    k1.activated_at = Some(1_100);
    k1.retired_at = Some(2_100);
    s.update_signing_key(&k1).await.unwrap();
    assert_eq!(s.list_signing_keys().await.unwrap()[0], k1);
    assert!(matches!(s.update_signing_key(&key("k-9", 1)).await, Err(StoreError::NotFound)));
}

pub(super) async fn admin_tokens(s: &dyn Store) {
    s.create_organisation(&org("org-1", "moh")).await.unwrap();
    let token = |id: &str, hash: &str, created_at| AdminToken {
        id: id.into(),
        hash: hash.into(),
        role: "security-admin".into(),
        organisation_id: None,
        label: "bootstrap".into(),
        created_at,
        expires_at: None,
        revoked_at: None,
    };
    let mut scoped = token("t-2", "h-2", 2_000);
    scoped.role = "org-admin".into();
    scoped.organisation_id = Some("org-1".into());
    scoped.expires_at = Some(9_000);
    s.create_admin_token(&scoped).await.unwrap();
    s.create_admin_token(&token("t-1", "h-1", 1_000)).await.unwrap();
    assert_eq!(conflict_field(s.create_admin_token(&token("t-3", "h-1", 3_000)).await), "admin_token");
    assert_eq!(s.find_admin_token("h-2").await.unwrap(), Some(scoped.clone()));
    assert_eq!(s.find_admin_token("h-9").await.unwrap(), None);
    assert_eq!(s.list_admin_tokens().await.unwrap(), [token("t-1", "h-1", 1_000), scoped]);
}

pub(super) async fn web_sessions(s: &dyn Store) {
    s.save_web_session("w-1", b"first", 2_000).await.unwrap();
    s.save_web_session("w-1", b"second\0bytes", 3_000).await.unwrap();
    s.save_web_session("w-2", b"short", 1_500).await.unwrap();
    s.save_web_session("w-3", b"gone", 9_000).await.unwrap();
    assert_eq!(s.load_web_session("w-1", 2_500).await.unwrap().as_deref(), Some(&b"second\0bytes"[..]));
    assert_eq!(s.load_web_session("w-2", 1_500).await.unwrap(), None, "expired at its expiry");
    assert_eq!(s.load_web_session("w-9", 0).await.unwrap(), None);
    s.delete_web_session("w-3").await.unwrap();
    s.delete_web_session("w-3").await.unwrap();
    assert_eq!(s.load_web_session("w-3", 0).await.unwrap(), None);
    s.revoke_jti("jti-1", 1_000).await.unwrap();
    assert_eq!(s.purge_expired(2_000).await.unwrap(), 2, "w-2 and jti-1");
    assert_eq!(s.purge_expired(2_000).await.unwrap(), 0);
    assert!(s.load_web_session("w-1", 2_000).await.unwrap().is_some());
}

pub(super) async fn ping(s: &dyn Store) {
    s.ping().await.unwrap();
    assert!(["sqlite", "postgres"].contains(&s.engine()));
}
