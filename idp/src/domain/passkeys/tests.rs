//! Passkey ceremonies against a software authenticator (webauthn-authenticator-rs
//! `SoftPasskey`, which plays both the browser and the authenticator).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse, Url};
use webauthn_rs_proto::{AllowCredentials, UserVerificationPolicy};

use super::*;
use crate::cache::MemoryCache;
use crate::domain::audit::{self as audit_trail, Filter};
use crate::store::{Account, Citizen, CitizenProfile};

const NOW: Timestamp = 1_790_000_000;
const RP_ID: &str = "dichvucong.gov.vn";
const ORIGIN: &str = "https://id.dichvucong.gov.vn";

struct World {
    store: Arc<dyn Store>,
    cache: MemoryCache,
    webauthn: Webauthn,
    sealing: CeremonyKey,
}

impl World {
    async fn new() -> Self {
        Self::with_cache(MemoryCache::new()).await
    }

    async fn with_cache(cache: MemoryCache) -> Self {
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::connect("sqlite::memory:", 1).await.unwrap());
        let webauthn = relying_party(RP_ID, &[Url::parse(ORIGIN).unwrap()]).unwrap();
        Self { store, cache, webauthn, sealing: CeremonyKey::with_secret(vec![9; 32]) }
    }

    fn at(&self, now: Timestamp) -> Ceremonies<'_> {
        Ceremonies {
            webauthn: &self.webauthn,
            sealing: &self.sealing,
            store: self.store.as_ref(),
            cache: &self.cache,
            now,
        }
    }

    async fn citizen(&self, id: &str, national_id: &str, password: bool) -> Citizen {
        let citizen = Citizen {
            account: Account {
                id: id.into(),
                subject: format!("sub-{id}"),
                kind: "citizen".into(),
                status: "active".into(),
                created_at: NOW,
            },
            profile: CitizenProfile {
                account_id: id.into(),
                national_id: national_id.into(),
                national_id_verified: false,
                full_name: "Lê Thị Hoa".into(),
                email: Some(format!("{id}@example.vn")),
                email_verified: false,
                phone: None,
                phone_verified: false,
                birthdate: None,
                gender: None,
                address: None,
                updated_at: NOW,
            },
        };
        self.store.create_citizen(&citizen, password.then_some("$argon2id$v=19$m=8,t=1,p=1$x$y")).await.unwrap();
        citizen
    }

    /// Register a passkey held by `key` for `citizen`, as a browser at `origin` would.
    async fn register(
        &self,
        key: &mut SoftPasskey,
        citizen: &Citizen,
        origin: &str,
    ) -> Result<StoredPasskey, PasskeyError> {
        let c = self.at(NOW);
        let started = start_registration(&c, citizen, Some("req-1".into())).await.unwrap();
        let answer = key.do_registration(Url::parse(origin).unwrap(), soft(started.options)).unwrap();
        let input = NewPasskey {
            ceremony: &started.ceremony,
            account_id: &citizen.account.id,
            name: "  Điện thoại   của Hoa ",
            credential: &answer,
            device: device_label(
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
            ),
        };
        let (stored, next) = finish_registration(&c, input, &Meta::default()).await?;
        assert_eq!(next.as_deref(), Some("req-1"));
        Ok(stored)
    }
}

/// `SoftPasskey` stores no discoverable credentials and refuses
/// `requireResidentKey`; a browser's authenticator would honour it.
fn soft(mut options: CreationChallengeResponse) -> CreationChallengeResponse {
    let selection = options.public_key.authenticator_selection.as_mut().unwrap();
    assert_eq!(selection.resident_key, Some(webauthn_rs_proto::ResidentKeyRequirement::Required));
    selection.require_resident_key = false;
    options
}

/// A discoverable request answered by `SoftPasskey`: it needs the credential
/// listed, and returns no user handle, which a browser's authenticator adds.
fn discover(key: &mut SoftPasskey, options: RequestChallengeResponse, p: &StoredPasskey) -> PublicKeyCredential {
    discover_at(ORIGIN, key, options, p)
}

/// [`discover`] on a page of `origin`.
fn discover_at(
    origin: &str,
    key: &mut SoftPasskey,
    mut options: RequestChallengeResponse,
    p: &StoredPasskey,
) -> PublicKeyCredential {
    assert!(options.public_key.allow_credentials.is_empty());
    let id = URL_SAFE_NO_PAD.decode(&p.credential_id).unwrap();
    options.public_key.allow_credentials = vec![AllowCredentials { type_: "public-key".into(), id, transports: None }];
    let mut answer = key.do_authentication(Url::parse(origin).unwrap(), options).unwrap();
    answer.response.user_handle = Some(user_handle(&p.account_id).as_bytes().to_vec());
    answer
}

async fn sign_in(w: &World, key: &mut SoftPasskey, mode: LoginMode<'_>) -> Result<PasskeyLogin, PasskeyError> {
    let c = w.at(NOW + 10);
    let started = start_login(&c, mode, None).await.unwrap();
    let answer = key.do_authentication(Url::parse(ORIGIN).unwrap(), started.options).unwrap();
    finish_login(&c, &started.ceremony, &answer, &Meta::default()).await
}

/// Refused by the verification, for the reason whose text contains `why`.
fn refused_for<T: std::fmt::Debug>(r: Result<T, PasskeyError>, why: &str) {
    match r {
        Err(PasskeyError::Rejected(m)) if m.contains(why) => {}
        other => panic!("expected a refusal mentioning {why:?}, got {other:?}"),
    }
}

async fn actions(w: &World, account_id: &str) -> Vec<(String, String)> {
    let filter = Filter { target: Some(account_id.into()), ..Filter::default() };
    let mut events = audit_trail::search(w.store.as_ref(), &filter, 50).await.unwrap();
    events.reverse();
    events.into_iter().map(|e| (e.action, e.outcome)).collect()
}

#[tokio::test]
async fn register_then_sign_in_username_first_and_discoverable() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    let stored = w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    assert_eq!(stored.name, "Điện thoại của Hoa");
    assert_eq!(stored.device.as_deref(), Some("Chrome · Android"));
    assert_eq!((stored.created_at, stored.last_used_at), (NOW, None));
    assert!(!stored.backup_eligible, "SoftPasskey is device-bound");
    assert_eq!(w.store.list_passkeys("acc-hoa").await.unwrap(), vec![stored.clone()]);

    // Failed password guesses were counted against both identifiers.
    for ident in ["001099012345", "acc-hoa@example.vn"] {
        let key = format!("login:{}:n", &sha256_hex(ident.as_bytes())[..32]);
        w.cache.incr(&key, Duration::from_secs(60)).await.unwrap();
    }

    // Username-first: the ceremony is bound to the named account.
    let c = w.at(NOW + 10);
    let started = start_login(&c, LoginMode::Identifier(" ACC-hoa@Example.vn "), None).await.unwrap();
    assert_eq!(started.options.public_key.user_verification, UserVerificationPolicy::Required);
    let answer = discover(&mut key, started.options, &stored);
    let login = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await.unwrap();
    assert_eq!(login.citizen.account.id, "acc-hoa");
    assert_eq!(login.amr, ["hwk", "user", "mfa"]);
    assert_eq!(login.passkey.last_used_at, Some(NOW + 10));
    let after = w.store.find_passkey_by_credential(&stored.credential_id).await.unwrap().unwrap();
    assert!(after.sign_count > stored.sign_count, "the counter moved: {after:?}");
    assert_eq!(after.last_used_at, Some(NOW + 10));
    // The passkey proved the holder: the password throttle is cleared.
    for ident in ["001099012345", "acc-hoa@example.vn"] {
        let key = format!("login:{}:n", &sha256_hex(ident.as_bytes())[..32]);
        assert_eq!(w.cache.get(&key).await.unwrap(), None, "{ident}");
    }

    // Discoverable: no name typed, the authenticator says whose passkey it is.
    let c = w.at(NOW + 20);
    let started = start_login(&c, LoginMode::Discoverable { conditional: false }, Some("req-9".into())).await.unwrap();
    assert!(started.options.mediation.is_none());
    let answer = discover(&mut key, started.options, &stored);
    let login = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await.unwrap();
    assert_eq!((login.citizen.account.id.as_str(), login.next.as_deref()), ("acc-hoa", Some("req-9")));
    // Conditional mediation is asked for only by the autofill request.
    let auto = start_login(&c, LoginMode::Discoverable { conditional: true }, None).await.unwrap();
    assert!(auto.options.mediation.is_some());

    let log = actions(&w, "acc-hoa").await;
    let expected = [("passkey.add", "success"), ("login.passkey", "success"), ("login.passkey", "success")];
    assert_eq!(log.iter().map(|(a, o)| (a.as_str(), o.as_str())).collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn a_visitors_ceremony_stores_nothing_and_signs_in_when_the_cache_is_full() {
    let w = World::with_cache(MemoryCache::with_limit(64 << 10)).await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    let stored = w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    // Visitors' state (anonymous browser sessions) fills its share of the cache.
    let mut n = 0;
    while w.cache.put_visitor(&format!("visitor-{n}"), &[0; 512], Duration::from_secs(60)).await.is_ok() {
        n += 1;
    }
    // A sign-in ceremony anyone may start travels sealed in its id: it
    // starts, adds nothing to the cache, and signs in.
    let c = w.at(NOW + 10);
    for mode in [LoginMode::Discoverable { conditional: true }, LoginMode::Identifier("001099012345")] {
        let used = w.cache.usage().unwrap();
        let started = start_login(&c, mode, None).await.unwrap();
        assert!(started.ceremony.starts_with(SEALED_PREFIX) && started.ceremony.len() < 1000, "{}", started.ceremony);
        assert_eq!(w.cache.usage().unwrap(), used, "{mode:?} stored something");
        let answer = discover(&mut key, started.options, &stored);
        let login = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await.unwrap();
        assert_eq!(login.citizen.account.id, "acc-hoa");
    }
    // A signed-in citizen's step-up waits in the cache, in the room kept for the rest.
    let login = sign_in(&w, &mut key, LoginMode::StepUp("acc-hoa")).await.unwrap();
    assert_eq!(login.citizen.account.id, "acc-hoa");
}

#[tokio::test]
async fn a_sealed_ceremony_counts_once_and_only_as_sealed_and_in_time() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    let stored = w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    let discoverable = LoginMode::Discoverable { conditional: false };
    let started = start_login(&c, discoverable, Some("req-1".into())).await.unwrap();
    let answer = discover(&mut key, started.options, &stored);
    // Tampered (a byte of the ciphertext), cut short, or sealed under another
    // deployment's secret: no ceremony.
    let mut tampered = started.ceremony.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let other = CeremonyKey::with_secret(vec![8; 32]);
    let foreign = Ceremonies { sealing: &other, ..c };
    for id in [String::from_utf8(tampered).unwrap(), started.ceremony[..40].to_owned(), "v1.".into()] {
        let r = finish_login(&c, &id, &answer, &Meta::default()).await;
        assert_eq!(r.unwrap_err(), PasskeyError::CeremonyExpired, "{id}");
    }
    let r = finish_login(&foreign, &started.ceremony, &answer, &Meta::default()).await;
    assert_eq!(r.unwrap_err(), PasskeyError::CeremonyExpired);
    // Too late, by its own expiry or by its hour.
    for late in [NOW + 10 + CEREMONY_TTL, NOW + 3 * 3600] {
        let r = finish_login(&w.at(late), &started.ceremony, &answer, &Meta::default()).await;
        assert_eq!(r.unwrap_err(), PasskeyError::CeremonyExpired, "at {late}");
    }
    // In time: signs in, with the request it was started for; then it is spent.
    let login = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await.unwrap();
    assert_eq!(login.next.as_deref(), Some("req-1"));
    let again = finish_login(&w.at(NOW + 20), &started.ceremony, &answer, &Meta::default()).await;
    assert_eq!(again.unwrap_err(), PasskeyError::CeremonyExpired);
}

#[test]
fn a_sealed_id_opens_in_its_hour_and_the_hours_either_side_and_hides_its_length() {
    let key = CeremonyKey::with_secret(vec![9; 32]);
    let hour = 3600 * 497_222;
    let id = key.seal(hour + 3590, b"{}".to_vec()).unwrap();
    let sealed = id.strip_prefix(SEALED_PREFIX).unwrap();
    for (at, opens) in
        [(hour - 1, true), (hour + 3610, true), (hour + 7199, true), (hour + 7200, false), (hour - 3601, false)]
    {
        assert_eq!(key.open(at, sealed).is_ok(), opens, "at {at}");
    }
    let padded = key.open(hour, sealed).unwrap();
    assert_eq!((padded.len(), padded.trim_ascii()), (SEALED_BLOCK, &b"{}"[..]));
    assert!(key.open(hour, &sealed[..sealed.len() - 1]).is_err());
    assert_eq!(key.seal(hour, vec![b'x'; SEALED_BLOCK - 1]).unwrap().len(), id.len());
}

#[tokio::test]
async fn a_known_and_an_unknown_identifier_get_sealed_ids_of_one_length() {
    let w = World::new().await;
    w.citizen("acc-hoa", "001099012345", true).await;
    let c = w.at(NOW + 10);
    // Whatever the length of the request id a caller sends along (up to 64), which
    // could align the plaintext just below a padding boundary: what keeps the
    // lengths equal is that an unknown identifier binds to an id as long as an
    // account's.
    let account_id = crate::crypto::random_id();
    w.citizen(&account_id, "001099054321", true).await;
    for n in 0..=64 {
        let req = Some("r".repeat(n));
        let known = start_login(&c, LoginMode::Identifier("001099054321"), req.clone()).await.unwrap();
        let nobody = start_login(&c, LoginMode::Identifier("nobody@example.vn"), req).await.unwrap();
        assert_eq!(known.ceremony.len(), nobody.ceremony.len(), "request id of {n}");
    }
}

#[tokio::test]
async fn a_sealed_ceremony_outlives_a_refused_answer_and_of_two_at_once_one_counts() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    let stored = w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    let started = start_login(&c, LoginMode::Discoverable { conditional: true }, None).await.unwrap();
    // An answer on a sibling site comes first: refused, and the ceremony stays.
    let phished = discover_at("https://dichvucong-login.dichvucong.gov.vn", &mut key, started.options.clone(), &stored);
    refused_for(finish_login(&c, &started.ceremony, &phished, &Meta::default()).await, "origin");
    // The citizen's passkey answers, twice at once (a replay racing the
    // original): one signs in, the other is refused (the ceremony used, or
    // the signature counter already moved on).
    let answer = discover(&mut key, started.options, &stored);
    let meta = Meta::default();
    let (a, b) = tokio::join!(
        finish_login(&c, &started.ceremony, &answer, &meta),
        finish_login(&c, &started.ceremony, &answer, &meta),
    );
    let results = [a, b];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    // Whatever the order, the mark is set once.
    let mark = answered_key(started.ceremony.strip_prefix(SEALED_PREFIX).unwrap());
    assert_eq!(c.answered(&mark).await.unwrap_err(), PasskeyError::CeremonyExpired);
}

#[tokio::test]
async fn username_first_tells_nothing_and_takes_only_the_named_accounts_passkey() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    let stored = w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    // A known and an unknown identifier get the same kind of options: no credential listed.
    let known = start_login(&c, LoginMode::Identifier("001099012345"), None).await.unwrap();
    let nobody = start_login(&c, LoginMode::Identifier("009099000001"), None).await.unwrap();
    for options in [&known.options, &nobody.options] {
        assert!(options.public_key.allow_credentials.is_empty());
        assert!(options.mediation.is_none());
    }
    // Hoà's passkey answering for someone else's identifier is refused.
    w.citizen("acc-binh", "001099054321", true).await;
    let other = start_login(&c, LoginMode::Identifier("001099054321"), None).await.unwrap();
    let answer = discover(&mut key, other.options, &stored);
    assert_eq!(
        finish_login(&c, &other.ceremony, &answer, &Meta::default()).await.unwrap_err(),
        PasskeyError::WrongAccount
    );
    let answer = discover(&mut key, nobody.options, &stored);
    assert_eq!(
        finish_login(&c, &nobody.ceremony, &answer, &Meta::default()).await.unwrap_err(),
        PasskeyError::WrongAccount
    );
    // And accepted for her own.
    let answer = discover(&mut key, known.options, &stored);
    assert_eq!(
        finish_login(&c, &known.ceremony, &answer, &Meta::default()).await.unwrap().citizen.account.id,
        "acc-hoa"
    );
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    let started = start_login(&c, LoginMode::StepUp("acc-hoa"), None).await.unwrap();
    let answer = key.do_authentication(Url::parse(ORIGIN).unwrap(), started.options).unwrap();
    finish_login(&c, &started.ceremony, &answer, &Meta::default()).await.unwrap();
    // The same answer again: the ceremony state was taken by the first.
    let again = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await;
    assert_eq!(again.unwrap_err(), PasskeyError::CeremonyExpired);
    // Replayed into a fresh ceremony: its challenge is not the one signed.
    let fresh = start_login(&c, LoginMode::StepUp("acc-hoa"), None).await.unwrap();
    let replay = finish_login(&c, &fresh.ceremony, &answer, &Meta::default()).await;
    refused_for(replay, "challenge");
    let log = actions(&w, "acc-hoa").await;
    assert_eq!(log.last().unwrap(), &("login.passkey".to_owned(), "failure".to_owned()));
}

#[tokio::test]
async fn an_expired_ceremony_is_refused() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let started = start_login(&w.at(NOW), LoginMode::StepUp("acc-hoa"), None).await.unwrap();
    let answer = key.do_authentication(Url::parse(ORIGIN).unwrap(), started.options).unwrap();
    let late = w.at(NOW + CEREMONY_TTL);
    let r = finish_login(&late, &started.ceremony, &answer, &Meta::default()).await;
    assert_eq!(r.unwrap_err(), PasskeyError::CeremonyExpired);
    // Registration state expires the same way.
    let reg = start_registration(&w.at(NOW), &hoa, None).await.unwrap();
    let answer = key.do_registration(Url::parse(ORIGIN).unwrap(), soft(reg.options)).unwrap();
    let input = NewPasskey {
        ceremony: &reg.ceremony,
        account_id: "acc-hoa",
        name: "Laptop",
        credential: &answer,
        device: None,
    };
    let r = finish_registration(&w.at(NOW + CEREMONY_TTL + 1), input, &Meta::default()).await;
    assert_eq!(r.unwrap_err(), PasskeyError::CeremonyExpired);
}

#[tokio::test]
async fn a_wrong_origin_is_refused() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    // A sibling site under the same domain is not an allowed origin.
    let phish = "https://dichvucong-login.dichvucong.gov.vn";
    let r = w.register(&mut key, &hoa, phish).await;
    refused_for(r, "origin");
    assert!(w.store.list_passkeys("acc-hoa").await.unwrap().is_empty());
    w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    let started = start_login(&c, LoginMode::StepUp("acc-hoa"), None).await.unwrap();
    let answer = key.do_authentication(Url::parse(phish).unwrap(), started.options).unwrap();
    let r = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await;
    refused_for(r, "origin");
}

#[tokio::test]
async fn a_wrong_rp_id_is_refused() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    let started = start_login(&c, LoginMode::StepUp("acc-hoa"), None).await.unwrap();
    // The authenticator signs for another RP ID the origin could also claim:
    // the RP ID hash in its authenticator data is not ours (WebAuthn L3 §7.2 step 15).
    let mut options = started.options;
    options.public_key.rp_id = "id.dichvucong.gov.vn".into();
    let answer = key.do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap();
    let r = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await;
    refused_for(r, "relying party id hash");
    // Registration too.
    let reg = start_registration(&c, &hoa, None).await.unwrap();
    let mut options = soft(reg.options);
    options.public_key.rp.id = "id.dichvucong.gov.vn".into();
    let answer = key.do_registration(Url::parse(ORIGIN).unwrap(), options).unwrap();
    let input = NewPasskey {
        ceremony: &reg.ceremony,
        account_id: "acc-hoa",
        name: "Laptop",
        credential: &answer,
        device: None,
    };
    let r = finish_registration(&c, input, &Meta::default()).await;
    refused_for(r, "relying party id hash");
}

#[tokio::test]
async fn user_verification_is_required() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    let started = start_login(&c, LoginMode::StepUp("acc-hoa"), None).await.unwrap();
    // A client that drops the requirement gets an assertion without the UV flag.
    let mut options = started.options;
    options.public_key.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
    let answer = key.do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap();
    let r = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await;
    refused_for(r, "user verified bit");
    // Registration without user verification is refused as well.
    let reg = start_registration(&c, &hoa, None).await.unwrap();
    let mut options = soft(reg.options);
    options.public_key.authenticator_selection.as_mut().unwrap().user_verification =
        UserVerificationPolicy::Discouraged_DO_NOT_USE;
    let answer = key.do_registration(Url::parse(ORIGIN).unwrap(), options).unwrap();
    let input = NewPasskey {
        ceremony: &reg.ceremony,
        account_id: "acc-hoa",
        name: "Laptop",
        credential: &answer,
        device: None,
    };
    let r = finish_registration(&c, input, &Meta::default()).await;
    refused_for(r, "user verified bit");
}

#[tokio::test]
async fn step_up_takes_only_the_signed_in_accounts_passkeys() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let binh = w.citizen("acc-binh", "001099054321", true).await;
    let mut hoas_key = SoftPasskey::new(true);
    let mut binhs_key = SoftPasskey::new(true);
    w.register(&mut hoas_key, &hoa, ORIGIN).await.unwrap();
    let binhs = w.register(&mut binhs_key, &binh, ORIGIN).await.unwrap();
    let c = w.at(NOW + 10);
    // Bình's passkey answering Hoà's step-up (Hoà's options, Bình's credential listed).
    let started = start_login(&c, LoginMode::StepUp("acc-hoa"), None).await.unwrap();
    let answer = discover_listed(&mut binhs_key, started.options, &binhs);
    let r = finish_login(&c, &started.ceremony, &answer, &Meta::default()).await;
    assert_eq!(r.unwrap_err(), PasskeyError::WrongAccount);
    assert_eq!(actions(&w, "acc-binh").await.last().unwrap(), &("login.passkey".to_owned(), "denied".to_owned()));
    // Her own passkey works.
    let login = sign_in(&w, &mut hoas_key, LoginMode::StepUp("acc-hoa")).await.unwrap();
    assert_eq!(login.citizen.account.id, "acc-hoa");
    // An account without a passkey cannot step up.
    let lan = w.citizen("acc-lan", "001099011111", true).await;
    let r = start_login(&c, LoginMode::StepUp(&lan.account.id), None).await;
    assert_eq!(r.unwrap_err(), PasskeyError::NoPasskey);
    // A registration is finished only by the account that started it:
    // another account does not even reach it, and it stays the starter's.
    let reg = start_registration(&c, &hoa, None).await.unwrap();
    let answer = hoas_key.do_registration(Url::parse(ORIGIN).unwrap(), soft(reg.options)).unwrap();
    let input = |account_id| NewPasskey {
        ceremony: &reg.ceremony,
        account_id,
        name: "Laptop",
        credential: &answer,
        device: None,
    };
    let refused = finish_registration(&c, input("acc-binh"), &Meta::default()).await.unwrap_err();
    assert_eq!(refused, PasskeyError::CeremonyExpired);
    assert!(finish_registration(&c, input("acc-hoa"), &Meta::default()).await.is_ok());
}

/// A signed-in account starting registrations in a loop keeps one ceremony
/// in the cache, the last: it cannot fill the share codes and counters need.
#[tokio::test]
async fn an_account_holds_one_registration_ceremony_at_a_time() {
    let w = World::with_cache(MemoryCache::with_limit(64 << 10)).await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let c = w.at(NOW);
    let first = start_registration(&c, &hoa, None).await.unwrap();
    let mut last = None;
    for _ in 0..200 {
        last = Some(start_registration(&c, &hoa, None).await.expect("a new start replaces the last"));
    }
    let (last, mut key) = (last.unwrap(), SoftPasskey::new(true));
    let finish = |started: &Started<CreationChallengeResponse>, key: &mut SoftPasskey| {
        let answer = key.do_registration(Url::parse(ORIGIN).unwrap(), soft(started.options.clone())).unwrap();
        (started.ceremony.clone(), answer)
    };
    let (id, answer) = finish(&first, &mut key);
    let input = NewPasskey { ceremony: &id, account_id: "acc-hoa", name: "Cũ", credential: &answer, device: None };
    assert_eq!(finish_registration(&c, input, &Meta::default()).await.unwrap_err(), PasskeyError::CeremonyExpired);
    let (id, answer) = finish(&last, &mut SoftPasskey::new(true));
    let input = NewPasskey { ceremony: &id, account_id: "acc-hoa", name: "Mới", credential: &answer, device: None };
    assert_eq!(finish_registration(&c, input, &Meta::default()).await.unwrap().0.name, "Mới");
}

/// Like [`discover`] but keeps the ceremony's own allowCredentials out: lists `p` instead.
fn discover_listed(
    key: &mut SoftPasskey,
    mut options: RequestChallengeResponse,
    p: &StoredPasskey,
) -> PublicKeyCredential {
    let id = URL_SAFE_NO_PAD.decode(&p.credential_id).unwrap();
    options.public_key.allow_credentials = vec![AllowCredentials { type_: "public-key".into(), id, transports: None }];
    key.do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap()
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_with_its_passkey() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", true).await;
    let mut key = SoftPasskey::new(true);
    let stored = w.register(&mut key, &hoa, ORIGIN).await.unwrap();
    w.store.set_account_status("acc-hoa", "disabled").await.unwrap();
    let c = w.at(NOW + 10);
    let started = start_login(&c, LoginMode::Discoverable { conditional: false }, None).await.unwrap();
    let answer = discover(&mut key, started.options, &stored);
    assert_eq!(
        finish_login(&c, &started.ceremony, &answer, &Meta::default()).await.unwrap_err(),
        PasskeyError::AccountDisabled
    );
}

#[tokio::test]
async fn rename_and_remove_keep_one_way_to_sign_in() {
    let w = World::new().await;
    let hoa = w.citizen("acc-hoa", "001099012345", false).await;
    let binh = w.citizen("acc-binh", "001099054321", true).await;
    let first = w.register(&mut SoftPasskey::new(true), &hoa, ORIGIN).await.unwrap();
    let second = w.register(&mut SoftPasskey::new(true), &hoa, ORIGIN).await.unwrap();
    let s = w.store.as_ref();
    let meta = Meta::default();
    rename(s, NOW, "acc-hoa", &first.id, "Máy tính bảng", &meta).await.unwrap();
    let names: Vec<(String, String)> =
        s.list_passkeys("acc-hoa").await.unwrap().into_iter().map(|p| (p.id, p.name)).collect();
    assert!(names.contains(&(first.id.clone(), "Máy tính bảng".to_owned())), "{names:?}");
    assert!(names.contains(&(second.id.clone(), "Điện thoại của Hoa".to_owned())), "{names:?}");
    assert_eq!(rename(s, NOW, "acc-hoa", &first.id, " ", &meta).await.unwrap_err(), PasskeyError::InvalidName);
    assert_eq!(
        rename(s, NOW, "acc-hoa", &first.id, &"x".repeat(61), &meta).await.unwrap_err(),
        PasskeyError::InvalidName
    );
    // Someone else's passkey is not found, for renaming or removing.
    assert_eq!(rename(s, NOW, "acc-binh", &first.id, "Của tôi", &meta).await.unwrap_err(), PasskeyError::NotFound);
    assert_eq!(remove(s, NOW, "acc-binh", &first.id, &meta).await.unwrap_err(), PasskeyError::NotFound);
    remove(s, NOW, "acc-hoa", &first.id, &meta).await.unwrap();
    // Hoà has no password: her last passkey stays.
    assert_eq!(remove(s, NOW, "acc-hoa", &second.id, &meta).await.unwrap_err(), PasskeyError::LastCredential);
    assert_eq!(s.list_passkeys("acc-hoa").await.unwrap().len(), 1);
    // Bình has a password: he may remove his only passkey.
    let his = w.register(&mut SoftPasskey::new(true), &binh, ORIGIN).await.unwrap();
    remove(s, NOW, "acc-binh", &his.id, &meta).await.unwrap();
    let log = actions(&w, "acc-hoa").await;
    let names: Vec<&str> = log.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(names, ["passkey.add", "passkey.add", "passkey.rename", "passkey.remove"]);
}

#[test]
fn device_labels_name_browser_and_system() {
    let cases = [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari · iPhone",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36 Edg/126.0",
            "Edge · Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 SamsungBrowser/25.0 Chrome/121.0 Mobile Safari/537.36",
            "Samsung Internet · Android",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox · Linux"),
    ];
    for (ua, label) in cases {
        assert_eq!(device_label(ua).as_deref(), Some(label), "{ua}");
    }
    assert_eq!(device_label("curl/8.5"), None);
    assert_ne!(user_handle("a"), user_handle("b"));
    assert_eq!(user_handle("a"), user_handle("a"));
}
