//! The key state machine, the schedule under a pinned clock, once-per-cluster
//! firing, removal of retired keys and KEK re-wrapping — on SQLite always and
//! on PostgreSQL when `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use super::lifecycle::{self, Haste, KekSource, KeyPolicy};
use super::*;
use crate::clock::{Clock, FixedClock};
use crate::store::{Grant, Store};

const T0: i64 = 1_760_000_000;

/// Fresh stores to run a scenario on: a SQLite file, and PostgreSQL when configured.
async fn stores() -> Vec<(Option<tempfile::TempDir>, Arc<dyn Store>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/keys.db", dir.path().display());
    let mut out: Vec<(Option<tempfile::TempDir>, Arc<dyn Store>)> =
        vec![(Some(dir), crate::store::connect(&url, 4).await.unwrap())];
    if let Ok(base) = std::env::var("TEST_DATABASE_URL") {
        let url = crate::store::postgres::fresh_test_database(&base).await.unwrap();
        out.push((None, crate::store::connect(&url, 4).await.unwrap()));
    }
    out
}

fn kek() -> Kek {
    Kek::generate().unwrap()
}

fn states(keys: &[SigningKey], alg: Alg) -> Vec<(String, String)> {
    keys.iter().filter(|k| k.alg == alg.as_str()).map(|k| (k.kid.clone(), k.state.clone())).collect()
}

fn kid_in(state: &str, keys: &[SigningKey], alg: Alg) -> String {
    let found: Vec<_> = keys.iter().filter(|k| k.alg == alg.as_str() && k.state == state).collect();
    assert_eq!(found.len(), 1, "{state} {alg:?}: {:?}", states(keys, alg));
    found[0].kid.clone()
}

fn jwks_kids(ring: &Keyring) -> Vec<String> {
    ring.jwks()["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn grant(id: &str) -> Grant {
    Grant {
        id: id.into(),
        account_id: "acc-1".into(),
        client_id: "cli-1".into(),
        scopes: vec!["openid".into()],
        claims: None,
        sid: None,
        auth_time: T0,
        acr: "LoA1".into(),
        amr: vec!["pwd".into()],
        created_at: T0,
        expires_at: T0 + 86_400,
        revoked_at: None,
        business_id: None,
        dpop_jkt: None,
    }
}

#[tokio::test]
async fn first_start_publishes_an_active_and_a_next_key_per_algorithm() {
    for (_dir, store) in stores().await {
        let ring = Keyring::open(store.as_ref(), kek(), T0).await.unwrap();
        let keys = store.list_signing_keys().await.unwrap();
        assert_eq!(keys.len(), 8);
        assert_eq!(ring.active_algs(), Alg::ALL.to_vec());
        for alg in DEFAULT_ALGS {
            let active = kid_in("active", &keys, alg);
            kid_in("next", &keys, alg);
            assert_eq!(ring.active_kid(alg), Some(active.clone()));
            let token = ring.sign(alg, "JWT", &serde_json::json!({"sub": "a"})).unwrap();
            assert_eq!(jwt::peek_header(&token).unwrap().key_id(), Some(active.as_str()));
            assert!(ring.verify(&token).is_some());
        }
        assert_eq!(jwks_kids(&ring).len(), 8, "next keys are pre-published");
        // Each key created at start-up is on the audit trail, by kid.
        let created = audited(store.as_ref(), "system:startup").await;
        assert_eq!(created.len(), 8);
        for k in &keys {
            assert!(created.iter().any(|e| e.action == "key.create" && e.target.as_deref() == Some(&k.kid)));
        }
        // A restart on the same store creates nothing and records nothing.
        Keyring::open(store.as_ref(), kek(), T0 + 1).await.ok();
        assert_eq!(audited(store.as_ref(), "system:startup").await.len(), 8);
    }
}

/// Nodes started together on an empty database (compose starts two) each
/// find no keys and generate a set: the database keeps one active and one
/// next key per algorithm, both nodes sign with the same key and publish the
/// same set, and only the keys stored are on the audit trail.
#[tokio::test]
async fn nodes_starting_together_share_one_set_of_keys() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let (a, b) = tokio::join!(Keyring::open(s, fixed_kek(), T0), Keyring::open(s, fixed_kek(), T0));
        let (a, b) = (a.unwrap(), b.unwrap());
        let keys = s.list_signing_keys().await.unwrap();
        assert_eq!(keys.len(), 8, "{:?}", keys.iter().map(|k| (&k.alg, &k.state)).collect::<Vec<_>>());
        for alg in DEFAULT_ALGS {
            let active = kid_in("active", &keys, alg);
            kid_in("next", &keys, alg);
            assert_eq!((a.active_kid(alg), b.active_kid(alg)), (Some(active.clone()), Some(active)));
        }
        assert_eq!(jwks_kids(&a), jwks_kids(&b));
        assert_eq!(jwks_kids(&a).len(), 8);
        assert_eq!(audited(s, "system:startup").await.len(), 8);
    }
}

/// Audit events whose actor contains `actor`, newest first.
async fn audited(s: &dyn Store, actor: &str) -> Vec<crate::store::AuditEvent> {
    let filter = crate::store::AuditFilter { actor: Some(actor.into()), ..Default::default() };
    s.search_audit_events(&filter, 100).await.unwrap()
}

/// A rotation that waits does so until the key it would activate has been
/// in the JWKS as long as relying parties may cache it; forced, it does not.
#[tokio::test]
async fn a_rotation_onto_a_key_published_too_recently_waits_unless_forced() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        let rotate = |algs: &'static [Alg], at, haste| lifecycle::rotate(s, &ring, algs, at, haste);
        let wait = rotate(&[Alg::Es256], T0 + 10, Haste::WhenPublished).await.unwrap_err();
        assert!(
            matches!(&wait, KeyError::TooSoon(m) if m.contains("rotate in 890 s, when") && m.contains("--force")),
            "{wait:?}"
        );
        assert!(rotate(&[], T0 + 899, Haste::WhenPublished).await.is_err(), "every algorithm in use");
        let before = s.list_signing_keys().await.unwrap();
        rotate(&[Alg::Es256], T0 + lifecycle::PUBLISHED_BEFORE_USE, Haste::WhenPublished).await.unwrap();
        assert_ne!(s.list_signing_keys().await.unwrap(), before);
        // Right after it, its fresh next key is too new for the following one, unless forced.
        assert!(rotate(&[Alg::Es256], T0 + 901, Haste::WhenPublished).await.is_err());
        rotate(&[Alg::Es256], T0 + 901, Haste::Now).await.unwrap();
        rotate(&[Alg::Rs256], T0 + 901, Haste::WhenPublished).await.unwrap();
    }
}

/// The schedule waits like a manual rotation: due right after one, it
/// leaves the keys and its due time as they are, and fires once the new
/// next key has been published long enough.
#[tokio::test]
async fn a_due_schedule_waits_for_a_next_key_made_minutes_ago() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        lifecycle::set_schedule(s, Some(3600), T0).await.unwrap();
        lifecycle::rotate(s, &ring, &[], T0 + 3500, Haste::Now).await.unwrap();
        let keys = s.list_signing_keys().await.unwrap();
        assert_eq!(lifecycle::run_schedule(s, &ring, T0 + 3600).await.unwrap(), None);
        assert_eq!(s.list_signing_keys().await.unwrap(), keys);
        assert_eq!(s.get_key_schedule().await.unwrap().unwrap().next_at, T0 + 3600);
        let fired = lifecycle::run_schedule(s, &ring, T0 + 3500 + lifecycle::PUBLISHED_BEFORE_USE).await.unwrap();
        assert_eq!(fired.map(|r| r.len()), Some(4));
    }
}

#[tokio::test]
async fn rotation_moves_next_to_active_and_active_to_retired() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        let before = s.list_signing_keys().await.unwrap();
        let (a0, n0) = (kid_in("active", &before, Alg::Es256), kid_in("next", &before, Alg::Es256));
        let old_token = ring.sign(Alg::Es256, "JWT", &serde_json::json!({})).unwrap();

        let done = lifecycle::rotate(s, &ring, &[Alg::Es256], T0 + 100, Haste::Now).await.unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].retired.as_deref(), done[0].activated.as_str()), (Some(a0.as_str()), n0.as_str()));
        let after = s.list_signing_keys().await.unwrap();
        let n1 = kid_in("next", &after, Alg::Es256);
        assert_eq!(n1, done[0].next);
        assert_eq!(kid_in("active", &after, Alg::Es256), n0);
        assert_eq!(kid_in("retired", &after, Alg::Es256), a0);
        let retired = after.iter().find(|k| k.kid == a0).unwrap();
        assert_eq!(retired.retired_at, Some(T0 + 100));
        assert_eq!(after.iter().find(|k| k.kid == n0).unwrap().activated_at, Some(T0 + 100));
        // Other algorithms untouched.
        assert_eq!(states(&before, Alg::Rs256), states(&after, Alg::Rs256));
        // The ring signs with the new key at once; the retired key still verifies.
        assert_eq!(ring.active_kid(Alg::Es256), Some(n0.clone()));
        assert!(ring.verify(&old_token).is_some());
        assert!(jwks_kids(&ring).contains(&a0) && jwks_kids(&ring).contains(&n1));

        // Rotating everything rotates each algorithm once, in one transaction.
        let all = lifecycle::rotate(s, &ring, &[], T0 + 200, Haste::Now).await.unwrap();
        assert_eq!(all.len(), 4);
        let keys = s.list_signing_keys().await.unwrap();
        for alg in DEFAULT_ALGS {
            kid_in("active", &keys, alg);
            kid_in("next", &keys, alg);
        }
        assert_eq!(kid_in("active", &keys, Alg::Es256), n1);
    }
}

#[tokio::test]
async fn concurrent_rotations_do_not_leave_two_active_keys() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        let (a, b) = tokio::join!(
            lifecycle::rotate(s, &ring, &[Alg::EdDsa], T0 + 1, Haste::Now),
            lifecycle::rotate(s, &ring, &[Alg::EdDsa], T0 + 1, Haste::Now)
        );
        // Both read the same states; the second to commit finds them moved on.
        // (On SQLite the calls may also run one after the other: then both succeed.)
        assert!(a.is_ok() || b.is_ok());
        for r in [&a, &b] {
            if let Err(e) = r {
                assert!(matches!(e, KeyError::Conflict), "{e}");
            }
        }
        let keys = s.list_signing_keys().await.unwrap();
        kid_in("active", &keys, Alg::EdDsa);
        kid_in("next", &keys, Alg::EdDsa);
    }
}

#[tokio::test]
async fn revoking_the_active_key_promotes_next_and_revokes_what_it_signed() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        let keys = s.list_signing_keys().await.unwrap();
        let (active, next) = (kid_in("active", &keys, Alg::Rs256), kid_in("next", &keys, Alg::Rs256));
        let token = ring.sign(Alg::Rs256, "at+jwt", &serde_json::json!({})).unwrap();
        seed_grants(s, &active).await;

        let r = lifecycle::revoke(s, &ring, &active, T0 + 50).await.unwrap();
        assert_eq!((r.previous_state.as_str(), r.activated.as_deref()), ("active", Some(next.as_str())));
        assert_eq!(r.grants_revoked, 1);
        assert!(s.get_grant("g-signed").await.unwrap().unwrap().revoked_at.is_some());
        assert!(s.get_grant("g-other").await.unwrap().unwrap().revoked_at.is_none());
        // Out of the JWKS and the ring at once: its tokens stop verifying.
        assert!(!jwks_kids(&ring).contains(&active));
        assert!(ring.verify(&token).is_none());
        assert_eq!(ring.active_kid(Alg::Rs256), Some(next.clone()));
        let keys = s.list_signing_keys().await.unwrap();
        assert_eq!(kid_in("revoked", &keys, Alg::Rs256), active);
        let fresh = kid_in("next", &keys, Alg::Rs256);
        assert!(jwks_kids(&ring).contains(&fresh));

        // Idempotent; a next key can be revoked too and is replaced.
        assert_eq!(lifecycle::revoke(s, &ring, &active, T0 + 60).await.unwrap().previous_state, "revoked");
        lifecycle::revoke(s, &ring, &fresh, T0 + 70).await.unwrap();
        let keys = s.list_signing_keys().await.unwrap();
        assert_ne!(kid_in("next", &keys, Alg::Rs256), fresh);
        assert_eq!(kid_in("active", &keys, Alg::Rs256), next);
        assert!(matches!(lifecycle::revoke(s, &ring, "nope", T0).await, Err(KeyError::NotFound(_))));
    }
}

/// A leak of the database and the master key together exposes every private
/// key: `revoke_all` revokes them all (a retired one, the next one too) and
/// starts over with a fresh active and next key; what they signed stops
/// verifying and the grants are revoked. Other algorithms are left alone.
#[tokio::test]
async fn revoking_every_key_leaves_none_of_the_exposed_ones() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        let old_token = ring.sign(Alg::Rs256, "at+jwt", &serde_json::json!({})).unwrap();
        lifecycle::rotate(s, &ring, &[Alg::Rs256], T0 + 10, Haste::Now).await.unwrap();
        let keys = s.list_signing_keys().await.unwrap();
        let exposed: Vec<String> =
            keys.iter().filter(|k| k.alg == "RS256" && k.state != "revoked").map(|k| k.kid.clone()).collect();
        assert_eq!(exposed.len(), 3, "retired, active and next: {keys:?}");
        seed_grants(s, &kid_in("retired", &keys, Alg::Rs256)).await;
        let es256 = jwks_kids(&ring).into_iter().filter(|k| !exposed.contains(k)).collect::<Vec<_>>();

        let done = lifecycle::revoke_all(s, &ring, &[Alg::Rs256], T0 + 20).await.unwrap();
        assert_eq!(done.len(), 1);
        let mut revoked = done[0].revoked.clone();
        revoked.sort();
        let mut expected = exposed.clone();
        expected.sort();
        assert_eq!(revoked, expected);
        assert_eq!(done[0].grants_revoked, 1);
        assert!(s.get_grant("g-signed").await.unwrap().unwrap().revoked_at.is_some());
        assert!(s.get_grant("g-other").await.unwrap().unwrap().revoked_at.is_none());
        let published = jwks_kids(&ring);
        assert!(exposed.iter().all(|k| !published.contains(k)), "an exposed key is still published");
        assert!(published.contains(&done[0].activated) && published.contains(&done[0].next));
        assert!(es256.iter().all(|k| published.contains(k)), "another algorithm's keys were touched");
        assert!(ring.verify(&old_token).is_none());
        assert_eq!(ring.active_kid(Alg::Rs256), Some(done[0].activated.clone()));
        let keys = s.list_signing_keys().await.unwrap();
        assert_eq!(states(&keys, Alg::Rs256).iter().filter(|(_, st)| st != "revoked").count(), 2);
    }
}

#[tokio::test]
async fn revoking_a_key_revokes_grants_it_signed_before_a_rotation_and_late_signatures() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        let old = ring.active_kid(Alg::Rs256).unwrap();
        seed_grants(s, &old).await;
        // The family's later tokens are signed by the key that followed a rotation.
        let new = lifecycle::rotate(s, &ring, &[Alg::Rs256], T0 + 10, Haste::Now).await.unwrap()[0].activated.clone();
        s.add_grant_signing_kid("g-signed", &new).await.unwrap();
        s.add_grant_signing_kid("g-signed", &new).await.unwrap();

        // The retired key that signed its first tokens is compromised: the family goes.
        let r = lifecycle::revoke(s, &ring, &old, T0 + 20).await.unwrap();
        assert_eq!(r.grants_revoked, 1);
        assert!(s.get_grant("g-signed").await.unwrap().unwrap().revoked_at.is_some());
        assert!(s.get_grant("g-other").await.unwrap().unwrap().revoked_at.is_none());

        // A node that had not reloaded yet signs for g-other with the revoked key:
        // the next housekeeping pass revokes that family too, and says so.
        assert!(audited(s, "system:housekeeping").await.is_empty());
        s.add_grant_signing_kid("g-other", &old).await.unwrap();
        lifecycle::housekeeping(s, &ring, KeyPolicy::new(600, 600), T0 + 30).await;
        assert_eq!(s.get_grant("g-other").await.unwrap().unwrap().revoked_at, Some(T0 + 30));
        let events = audited(s, "system:housekeeping").await;
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].action.as_str(), events[0].target.as_deref()), ("key.revoke_grants", Some(old.as_str())));
        // Nothing left to catch: no further events.
        lifecycle::housekeeping(s, &ring, KeyPolicy::new(600, 600), T0 + 40).await;
        assert_eq!(audited(s, "system:housekeeping").await.len(), 1);
    }
}

/// Two grants for one citizen: `g-signed` whose tokens `kid` signed, `g-other` signed by another key.
async fn seed_grants(s: &dyn Store, kid: &str) {
    use crate::store::{Account, Citizen, CitizenProfile, Client, Organisation};
    let org = Organisation {
        id: "org-1".into(),
        code: "moh".into(),
        name: "MoH".into(),
        kind: "ministry".into(),
        created_at: T0,
    };
    s.create_organisation(&org).await.unwrap();
    let account = Account {
        id: "acc-1".into(),
        subject: "sub-1".into(),
        kind: "citizen".into(),
        status: "active".into(),
        created_at: T0,
    };
    let profile = CitizenProfile {
        account_id: "acc-1".into(),
        national_id: "001090000001".into(),
        national_id_verified: false,
        full_name: "An".into(),
        email: None,
        email_verified: false,
        phone: None,
        phone_verified: false,
        birthdate: None,
        gender: None,
        address: None,
        updated_at: T0,
    };
    s.create_citizen(&Citizen { account, profile }, None).await.unwrap();
    let client: Client = serde_json::from_value(serde_json::json!({
        "client_id": "cli-1", "organisation_id": "org-1", "name": "RP", "client_type": "confidential",
        "auth_method": "client_secret_basic", "secret_hash": null, "redirect_uris": [],
        "post_logout_redirect_uris": [], "grant_types": [], "scopes": [], "signing_alg": "RS256",
        "jwks": null, "jwks_uri": null, "require_pkce": true, "status": "active",
        "created_at": T0, "updated_at": T0
    }))
    .unwrap();
    s.create_client(&client).await.unwrap();
    for (id, signer) in [("g-signed", kid), ("g-other", "es256-other")] {
        s.create_grant(&grant(id), None).await.unwrap();
        s.add_grant_signing_kid(id, signer).await.unwrap();
    }
}

#[tokio::test]
async fn retired_keys_are_removed_once_their_tokens_have_expired() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        let policy = KeyPolicy::new(600, 900);
        assert_eq!(policy.retention, 900 + lifecycle::REMOVAL_MARGIN);
        let done = lifecycle::rotate(s, &ring, &[Alg::Es256], T0, Haste::Now).await.unwrap();
        let retired = done[0].retired.clone().unwrap();
        let infos = lifecycle::describe(&s.list_signing_keys().await.unwrap(), None, policy);
        let info = infos.iter().find(|k| k.kid == retired).unwrap();
        assert_eq!((info.next_transition, info.next_transition_at), (Some("remove"), Some(T0 + policy.retention)));

        assert!(lifecycle::remove_expired(s, policy, T0 + policy.retention - 1).await.unwrap().is_empty());
        lifecycle::housekeeping(s, &ring, policy, T0 + policy.retention - 1).await;
        assert!(jwks_kids(&ring).contains(&retired));
        assert!(audited(s, "system:housekeeping").await.is_empty());
        lifecycle::housekeeping(s, &ring, policy, T0 + policy.retention).await;
        assert!(!jwks_kids(&ring).contains(&retired));
        assert!(s.list_signing_keys().await.unwrap().iter().all(|k| k.kid != retired));
        let removed = audited(s, "system:housekeeping").await;
        assert_eq!(removed.len(), 1);
        assert_eq!((removed[0].action.as_str(), removed[0].target.as_deref()), ("key.remove", Some(retired.as_str())));
        assert_eq!(removed[0].at, T0 + policy.retention);
    }
}

#[tokio::test]
async fn the_schedule_fires_under_a_pinned_clock_and_survives_a_restart() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let clock = FixedClock::new(T0);
        let ring = Keyring::open(s, fixed_kek(), clock.now()).await.unwrap();
        let day = 86_400;
        assert!(matches!(lifecycle::set_schedule(s, Some(60), clock.now()).await, Err(KeyError::Invalid(_))));
        // Beyond five years is a typo, and i64::MAX would overflow `next_at`
        // into a rotation at every housekeeping tick.
        for too_long in [lifecycle::MAX_SCHEDULE_INTERVAL + 1, i64::MAX] {
            assert!(matches!(lifecycle::set_schedule(s, Some(too_long), clock.now()).await, Err(KeyError::Invalid(_))));
        }
        let set = lifecycle::set_schedule(s, Some(90 * day), clock.now()).await.unwrap().unwrap();
        assert_eq!(set.next_at, T0 + 90 * day);
        let active = ring.active_kid(Alg::Rs256).unwrap();

        clock.advance(90 * day - 1);
        assert!(lifecycle::run_schedule(s, &ring, clock.now()).await.unwrap().is_none());
        assert_eq!(ring.active_kid(Alg::Rs256), Some(active.clone()));

        clock.advance(1);
        // A restarted node (a new ring on the same store) sees the same schedule.
        let restarted = Keyring::open(s, fixed_kek(), clock.now()).await.unwrap();
        let fired = lifecycle::run_schedule(s, &restarted, clock.now()).await.unwrap().unwrap();
        assert_eq!(fired.len(), 4);
        assert_ne!(restarted.active_kid(Alg::Rs256), Some(active.clone()));
        let events = audited(s, "system:schedule").await;
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].action.as_str(), events[0].outcome.as_str()), ("key.rotate", "success"));
        assert!(events[0].detail.as_deref().unwrap().contains(&fired[0].activated), "{:?}", events[0].detail);
        let schedule = s.get_key_schedule().await.unwrap().unwrap();
        assert_eq!(schedule.next_at, T0 + 180 * day);
        // Fired once: the same instant does not rotate again.
        assert!(lifecycle::run_schedule(s, &ring, clock.now()).await.unwrap().is_none());

        let infos =
            lifecycle::describe(&s.list_signing_keys().await.unwrap(), Some(&schedule), KeyPolicy::new(600, 600));
        let active_info = infos.iter().find(|k| k.state == "active").unwrap();
        assert_eq!(
            (active_info.next_transition, active_info.next_transition_at),
            (Some("retire"), Some(T0 + 180 * day))
        );

        lifecycle::set_schedule(s, None, clock.now()).await.unwrap();
        clock.advance(365 * day);
        assert!(lifecycle::run_schedule(s, &ring, clock.now()).await.unwrap().is_none());
    }
}

/// A KEK every ring of a test can share (a restarted node reads the same key).
fn fixed_kek() -> Kek {
    use base64::Engine as _;
    Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]), "test").unwrap()
}

#[tokio::test]
async fn the_schedule_fires_once_per_cluster() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let ring = Keyring::open(s, kek(), T0).await.unwrap();
        lifecycle::set_schedule(s, Some(3600), T0).await.unwrap();
        let due = T0 + 3600;
        // Two nodes' housekeeping at the same instant: one compare-and-set wins.
        let (a, b) = tokio::join!(s.advance_key_schedule(due, due + 3600), s.advance_key_schedule(due, due + 3600));
        assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|w| **w).count(), 1);
        s.advance_key_schedule(due + 3600, due).await.unwrap();

        let before = s.list_signing_keys().await.unwrap().len();
        let (a, b) = tokio::join!(lifecycle::run_schedule(s, &ring, due), lifecycle::run_schedule(s, &ring, due));
        let fired = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(fired, 1, "exactly one node rotates");
        // One rotation: one fresh next key per algorithm.
        assert_eq!(s.list_signing_keys().await.unwrap().len(), before + 4);
    }
}

#[tokio::test]
async fn rewrap_moves_every_key_to_a_new_kek_and_keeps_the_old_file() {
    for (_dir, store) in stores().await {
        let s = store.as_ref();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (old, _) = Kek::load_or_create(&path).unwrap();
        let old_id = old.id().to_owned();
        let options = KeyringOptions { rsa_bits: 2048, kek_file: Some(path.clone()) };
        let ring = Keyring::open_with(s, old, Vec::new(), options.clone(), T0).await.unwrap();
        lifecycle::rotate(s, &ring, &[Alg::Es256], T0, Haste::Now).await.unwrap();
        let subjects = crate::domain::oidc::subjects::Subjects::load(s, &ring, T0).await.unwrap();
        // A second node on the same key file.
        let (same, _) = Kek::load_or_create(&path).unwrap();
        let other = Keyring::open_with(s, same, Vec::new(), options.clone(), T0).await.unwrap();
        let out = lifecycle::rewrap(s, &ring, KekSource::File(&path)).await.unwrap();
        assert_eq!(out.keys, s.list_signing_keys().await.unwrap().len());
        // It meets rows under an unknown KEK, re-reads the file, and follows the next rotation.
        let rotated = lifecycle::rotate(s, &ring, &[Alg::Rs256], T0 + 1, Haste::Now).await.unwrap();
        other.reload(s).await.unwrap();
        assert_eq!(other.active_kid(Alg::Rs256), Some(rotated[0].activated.clone()));
        other.sign(Alg::Rs256, "JWT", &serde_json::json!({})).unwrap();
        assert!(out.new_master_key.is_none());
        assert_eq!(out.previous_file.as_deref(), Some(crate::crypto::kek::previous_path(&path).as_path()));
        let keys = s.list_signing_keys().await.unwrap();
        assert!(keys.iter().all(|k| k.kek_id == out.kek_id && k.kek_id != old_id));
        // This node keeps signing; new keys go under the new KEK.
        ring.sign(Alg::Es256, "JWT", &serde_json::json!({})).unwrap();
        lifecycle::rotate(s, &ring, &[Alg::Es256], T0 + 1, Haste::Now).await.unwrap();
        assert!(s.list_signing_keys().await.unwrap().iter().all(|k| k.kek_id == out.kek_id));
        // A node restarted with only the old KEK cannot read the rows; with the file it can.
        let stale = Keyring::open_with(
            s,
            Kek::load_previous(&path).unwrap().unwrap(),
            Vec::new(),
            KeyringOptions::default(),
            T0,
        )
        .await;
        assert!(matches!(stale, Err(KeyError::Crypto(_))));
        let (current, _) = Kek::load_or_create(&path).unwrap();
        assert_eq!(current.id(), out.kek_id);
        let restarted = Keyring::open_with(s, current, Vec::new(), options, T0).await.unwrap();
        restarted.sign(Alg::Rs256, "JWT", &serde_json::json!({})).unwrap();
        // The pairwise key moved with the signing keys: the same subjects under the new KEK.
        assert!(s.list_server_secrets().await.unwrap().iter().all(|x| x.kek_id == out.kek_id));
        let reloaded = crate::domain::oidc::subjects::Subjects::load(s, &restarted, T0).await.unwrap();
        let mut client = crate::store::tests::fixtures::client("c", "o");
        client.subject_type = "pairwise".into();
        client.sector_identifier = Some("health.gov.vn".into());
        let account = crate::store::Account {
            id: "a".into(),
            subject: "s".into(),
            kind: "citizen".into(),
            status: "active".into(),
            created_at: T0,
        };
        assert_eq!(reloaded.citizen(&client, &account), subjects.citizen(&client, &account));

        // With IDP_MASTER_KEY the new key is handed back once.
        let out2 = lifecycle::rewrap(s, &ring, KekSource::Env).await.unwrap();
        let key = out2.new_master_key.unwrap();
        assert_eq!(Kek::from_base64(key.expose(), "t").unwrap().id(), out2.kek_id);
        // A running node that only knew the file's KEK learns nothing from a file
        // for env keys, but keeps its loaded keys when a reload fails.
        assert!(restarted.reload(s).await.is_err());
        restarted.sign(Alg::Rs256, "JWT", &serde_json::json!({})).unwrap();
    }
}
