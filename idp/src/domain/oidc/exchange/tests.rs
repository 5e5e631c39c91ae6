//! Token exchange rules and the principal of a grant acting for a business,
//! against an in-memory store with real signing keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine as _;

use super::*;
use crate::cache::MemoryCache;
use crate::crypto::kek::Kek;
use crate::domain::keys::Keyring;
use crate::domain::oidc::grants::{introspect, principal};
use crate::domain::oidc::subjects::Subjects;
use crate::domain::oidc::tokens::Lifetimes;
use crate::store::{
    Account, Business, BusinessMember, Citizen, CitizenProfile, MEMBER_ACTIVE, Organisation, ROLE_LEGAL_REPRESENTATIVE,
    Store,
};

const NOW: Timestamp = 1_800_000_000;
const CITIZEN_SUB: &str = "sub-acc-1";
const BUSINESS_SUB: &str = "sub-biz-1";

struct World {
    store: Arc<dyn Store>,
    cache: MemoryCache,
    keys: Keyring,
    subjects: Subjects,
}

impl World {
    async fn new() -> Self {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let kek = Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32]), "test").unwrap();
        let keys = Keyring::open(store.as_ref(), kek, NOW - 100).await.unwrap();
        let world = World { store, cache: MemoryCache::new(), keys, subjects: Subjects::with_key(vec![7; 32]) };
        world.seed().await;
        world
    }

    fn ctx(&self, now: Timestamp) -> Ctx<'_> {
        Ctx {
            store: self.store.as_ref(),
            cache: &self.cache,
            keys: &self.keys,
            subjects: &self.subjects,
            issuer: "https://id.motcua.test",
            ttl: Lifetimes { access_token: 600, id_token: 600, refresh_token: 3600, grant: 86_400 },
            now,
            dpop_jkt: None,
        }
    }

    async fn seed(&self) {
        let s = self.store.as_ref();
        for (id, code) in [("org-1", "moh"), ("org-2", "mof")] {
            let org = Organisation {
                id: id.into(),
                code: code.into(),
                name: format!("Org {code}"),
                kind: "ministry".into(),
                created_at: 0,
            };
            s.create_organisation(&org).await.unwrap();
        }
        s.create_citizen(&citizen(), None).await.unwrap();
        let exchanging = vec!["authorization_code".into(), TOKEN_EXCHANGE.into()];
        for (id, org, grants) in [
            ("portal", "org-1", exchanging.clone()),
            ("records", "org-1", exchanging),
            ("plain", "org-1", vec!["authorization_code".into()]),
            ("tax", "org-2", vec!["authorization_code".into(), TOKEN_EXCHANGE.into()]),
        ] {
            let mut c = crate::store::tests::fixtures::client(id, org);
            c.grant_types = grants;
            c.scopes = vec!["openid".into(), "profile".into(), "business".into()];
            s.create_client(&c).await.unwrap();
        }
        // A sibling registered for fewer scopes, and one with pairwise subjects of another sector.
        let mut files = crate::store::tests::fixtures::client("files", "org-1");
        files.grant_types = vec!["authorization_code".into(), TOKEN_EXCHANGE.into()];
        files.scopes = vec!["openid".into(), "profile".into()];
        s.create_client(&files).await.unwrap();
        let sector = Client {
            client_id: "sector".into(),
            subject_type: "pairwise".into(),
            sector_identifier: Some("benhvien.moh.gov.vn".into()),
            scopes: vec!["openid".into(), "business".into()],
            ..files
        };
        s.create_client(&sector).await.unwrap();
        let business = Business {
            id: "biz-1".into(),
            tax_code: "0100109106".into(),
            subject: BUSINESS_SUB.into(),
            name: "Công ty TNHH Hoa Sen".into(),
            address: None,
            status: "active".into(),
            verified: true,
            created_at: 0,
            updated_at: 0,
        };
        s.create_business(&business, Some(&member(None))).await.unwrap();
        for (gid, client, business_id) in
            [("g-biz", "portal", Some("biz-1")), ("g-self", "portal", None), ("g-tax", "tax", None)]
        {
            s.create_grant(&grant(gid, client, business_id), None).await.unwrap();
        }
    }

    async fn client(&self, id: &str) -> Client {
        self.store.get_client(id).await.unwrap().unwrap()
    }

    /// Set client `id` `active` or `disabled`.
    async fn set_status(&self, id: &str, status: &str) {
        let mut c = self.client(id).await;
        c.status = status.into();
        self.store.update_client(&c).await.unwrap();
    }

    /// An access token of grant `gid` for its client, as the code grant signs it.
    async fn token_of(&self, gid: &str) -> String {
        self.token_bound(gid, None).await
    }

    /// [`World::token_of`], bound to DPoP key `jkt` when given.
    async fn token_bound(&self, gid: &str, jkt: Option<&str>) -> String {
        let mut ctx = self.ctx(NOW);
        ctx.dpop_jkt = jkt.map(str::to_owned);
        let grant = self.store.get_grant(gid).await.unwrap().unwrap();
        let client = self.client(&grant.client_id).await;
        let account = self.store.get_citizen("acc-1").await.unwrap().unwrap().account;
        let who = principal(&ctx, &client, &grant, &account).await.unwrap().unwrap();
        access_token(
            &ctx,
            access_token_alg(&client),
            &AccessTokenFor {
                subject: &who.subject,
                client_id: &client.client_id,
                scopes: &grant.scopes,
                grant_id: Some(gid),
                sid: grant.sid.as_deref(),
                auth: Some((grant.auth_time, &grant.acr, &grant.amr)),
                audience: None,
                not_after: None,
                extra: who.extra,
            },
        )
        .unwrap()
    }

    /// Exchange `subject_token` as `requester` with these further parameters.
    async fn exchange(
        &self,
        requester: &str,
        subject_token: &str,
        extra: &[(&str, &str)],
    ) -> Result<TokenResponse, OAuthError> {
        self.exchange_proved(requester, subject_token, extra, None).await
    }

    /// [`World::exchange`] with a DPoP proof by key `jkt` when given.
    async fn exchange_proved(
        &self,
        requester: &str,
        subject_token: &str,
        extra: &[(&str, &str)],
        jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut params = Params::default();
        for (k, v) in [("subject_token", subject_token), ("subject_token_type", ACCESS_TOKEN_TYPE)].iter().chain(extra)
        {
            params.map.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut ctx = self.ctx(NOW + 10);
        ctx.dpop_jkt = jkt.map(str::to_owned);
        token_exchange(&ctx, &self.client(requester).await, &params).await
    }

    /// RFC 7662 introspection of `token` as client `who`.
    async fn introspect(&self, who: &str, token: &str) -> Value {
        introspect(&self.ctx(NOW + 10), &self.client(who).await, &params(&[("token", token)])).await.unwrap()
    }

    fn claims(&self, token: &str) -> Map<String, Value> {
        self.keys.verify(token).unwrap().1
    }
}

fn citizen() -> Citizen {
    Citizen {
        account: Account {
            id: "acc-1".into(),
            subject: CITIZEN_SUB.into(),
            kind: "citizen".into(),
            status: "active".into(),
            created_at: 0,
        },
        profile: CitizenProfile {
            account_id: "acc-1".into(),
            national_id: "001090000001".into(),
            national_id_verified: true,
            full_name: "Nguyễn Văn An".into(),
            email: None,
            email_verified: false,
            phone: None,
            phone_verified: false,
            birthdate: None,
            gender: None,
            address: None,
            updated_at: 0,
        },
    }
}

fn member(expires_at: Option<Timestamp>) -> BusinessMember {
    BusinessMember {
        business_id: "biz-1".into(),
        account_id: "acc-1".into(),
        role: ROLE_LEGAL_REPRESENTATIVE.into(),
        status: MEMBER_ACTIVE.into(),
        expires_at,
        invited_by: Some("admin:test".into()),
        created_at: 0,
        accepted_at: Some(0),
    }
}

fn grant(id: &str, client_id: &str, business_id: Option<&str>) -> Grant {
    Grant {
        id: id.into(),
        account_id: "acc-1".into(),
        client_id: client_id.into(),
        scopes: vec!["openid".into(), "profile".into(), "business".into()],
        claims: None,
        sid: Some("sid-1".into()),
        auth_time: NOW - 50,
        acr: "LoA1".into(),
        amr: vec!["pwd".into()],
        created_at: NOW - 50,
        expires_at: NOW + 86_400,
        revoked_at: None,
        business_id: business_id.map(str::to_owned),
        dpop_jkt: None,
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params { map: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), duplicated: vec![] }
}

fn code(r: Result<TokenResponse, OAuthError>) -> E {
    match r {
        Ok(t) => panic!("exchange succeeded: scope {}", t.scope),
        Err(e) => e.code,
    }
}

#[test]
fn requests_name_an_access_token_and_one_audience() {
    let ok = [("subject_token", "t"), ("subject_token_type", ACCESS_TOKEN_TYPE), ("audience", "records")];
    let p = params(&ok);
    let parsed = ExchangeRequest::parse(&p).unwrap();
    assert_eq!((parsed.subject_token, parsed.audience, parsed.scope), ("t", "records", None));
    let with = |extra: (&'static str, &'static str)| {
        let mut p = params(&ok);
        p.map.insert(extra.0.into(), extra.1.into());
        ExchangeRequest::parse(&p).map(|_| ()).map_err(|e| e.code)
    };
    let without = |name: &str| {
        let mut p = params(&ok);
        p.map.remove(name);
        ExchangeRequest::parse(&p).map(|_| ()).map_err(|e| e.code)
    };
    assert_eq!(without("subject_token"), Err(E::InvalidRequest));
    assert_eq!(without("subject_token_type"), Err(E::InvalidRequest));
    assert_eq!(without("audience"), Err(E::InvalidRequest));
    let id_token_type = "urn:ietf:params:oauth:token-type:id_token";
    assert_eq!(with(("subject_token_type", id_token_type)), Err(E::InvalidRequest));
    assert_eq!(
        with(("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")),
        Err(E::InvalidRequest)
    );
    assert_eq!(with(("requested_token_type", ACCESS_TOKEN_TYPE)), Ok(()));
    assert_eq!(with(("resource", "https://api.example.vn/")), Err(E::InvalidTarget));
    // RFC 8693 §2.1 allows several audiences; Motcua serves one (§2.2.2).
    let mut two_audiences = params(&ok);
    two_audiences.duplicated.push("audience".into());
    assert_eq!(ExchangeRequest::parse(&two_audiences).map(|_| ()).map_err(|e| e.code), Err(E::InvalidTarget));
    assert_eq!(with(("actor_token", "x")), Err(E::InvalidRequest));
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn scopes_stay_within_the_subject_token_and_the_audience() {
    let held = scopes(&["openid", "business", "profile", "offline_access"]);
    let audience = scopes(&["openid", "business", "email", "offline_access"]);
    let out = |asked: Option<&[&str]>| exchange_scopes(&held, &audience, asked.map(scopes));
    // By default: held and registered for the audience, without offline_access.
    assert_eq!(out(None).unwrap(), ["openid", "business"]);
    assert_eq!(out(Some(&["business"])).unwrap(), ["business"]);
    // offline_access asked for is dropped: no refresh token comes from an exchange.
    assert_eq!(out(Some(&["openid", "offline_access"])).unwrap(), ["openid"]);
    assert_eq!(out(Some(&["offline_access"])).unwrap_err().code, E::InvalidScope);
    let no_offline = exchange_scopes(&held, &scopes(&["openid"]), Some(scopes(&["openid", "offline_access"])));
    assert_eq!(no_offline.unwrap(), ["openid"]);
    // Not in the subject token, or not registered for the audience.
    assert_eq!(out(Some(&["email"])).unwrap_err().code, E::InvalidScope);
    assert_eq!(out(Some(&["openid", "profile"])).unwrap_err().code, E::InvalidScope);
    assert_eq!(out(Some(&[])).unwrap_err().code, E::InvalidScope);
    // Nothing in common.
    let none = exchange_scopes(&scopes(&["profile"]), &audience, None).unwrap_err();
    assert_eq!(none.code, E::InvalidScope);
}

#[test]
fn actors_nest_with_the_citizen_as_the_audience_knows_them() {
    let citizen = json!({ "sub": "citizen-at-audience" });
    // A citizen's own token: only the services act.
    assert_eq!(actor_chain("portal", None, None).unwrap(), json!({ "sub": "portal" }));
    let passed = json!({ "sub": "portal" });
    assert_eq!(actor_chain("records", Some(&passed), None).unwrap(), json!({ "sub": "records", "act": passed }));
    // A business token: the citizen the first client knew is replaced by the audience's.
    let first = json!({ "sub": "citizen-at-portal" });
    assert_eq!(
        actor_chain("portal", Some(&first), Some(&citizen)).unwrap(),
        json!({ "sub": "portal", "act": { "sub": "citizen-at-audience" } })
    );
    let again = json!({ "sub": "portal", "act": { "sub": "citizen-at-records" } });
    assert_eq!(
        actor_chain("records", Some(&again), Some(&citizen)).unwrap(),
        json!({ "sub": "records", "act": { "sub": "portal", "act": { "sub": "citizen-at-audience" } } })
    );
    // At most five actors, the citizen included.
    let four = json!({ "sub": "a", "act": { "sub": "b", "act": { "sub": "c", "act": { "sub": "citizen" } } } });
    assert!(actor_chain("d", Some(&four), Some(&citizen)).is_ok());
    let five = json!({ "sub": "e", "act": four });
    assert_eq!(actor_chain("f", Some(&five), Some(&citizen)).unwrap_err().code, E::InvalidRequest);
    let services = json!({ "sub": "a", "act": { "sub": "b", "act": { "sub": "c", "act": { "sub": "d" } } } });
    assert!(actor_chain("e", Some(&services), None).is_ok());
    let more = json!({ "sub": "e", "act": services });
    assert_eq!(actor_chain("f", Some(&more), None).unwrap_err().code, E::InvalidRequest);
    // Malformed: refused, not passed on.
    assert_eq!(actor_chain("x", Some(&json!({ "act": {} })), None).unwrap_err().code, E::InvalidRequest);
}

#[tokio::test]
async fn the_principal_is_the_business_while_the_citizen_may_act_for_it() {
    let w = World::new().await;
    let portal = w.client("portal").await;
    let account = citizen().account;
    let ctx = w.ctx(NOW);
    let myself = principal(&ctx, &portal, &grant("g-self", "portal", None), &account).await.unwrap().unwrap();
    assert_eq!((myself.subject.as_str(), myself.extra.len()), (CITIZEN_SUB, 0));

    let acting = grant("g-biz", "portal", Some("biz-1"));
    let who = principal(&ctx, &portal, &acting, &account).await.unwrap().unwrap();
    assert_eq!(who.subject, BUSINESS_SUB);
    assert_eq!(who.extra["act"], json!({ "sub": CITIZEN_SUB }));
    let expected = json!({
        "tax_code": "0100109106", "name": "Công ty TNHH Hoa Sen", "role": "legal_representative", "verified": true,
    });
    assert_eq!(who.extra["business"], expected);
    // Narrowed without the business scope: still the business, but not its details.
    let narrow = Grant { scopes: vec!["openid".into()], ..acting.clone() };
    let who = principal(&ctx, &portal, &narrow, &account).await.unwrap().unwrap();
    assert_eq!((who.subject.as_str(), who.extra.get("business")), (BUSINESS_SUB, None));
    // A pairwise client sees neither the public subjects nor the same value for both.
    let pairwise = Client { subject_type: "pairwise".into(), sector_identifier: Some("moh.gov.vn".into()), ..portal };
    let who = principal(&ctx, &pairwise, &acting, &account).await.unwrap().unwrap();
    assert!(![BUSINESS_SUB, CITIZEN_SUB].contains(&who.subject.as_str()));
    assert_ne!(who.extra["act"]["sub"], json!(who.subject));
    assert_ne!(who.extra["act"]["sub"], json!(CITIZEN_SUB));

    // The authorisation runs out: no principal, and the grant's access tokens die with it.
    let token = w.token_of("g-biz").await;
    w.store.put_business_member(&member(Some(NOW + 60))).await.unwrap();
    let later = w.ctx(NOW + 61);
    assert!(check_access_token(&w.ctx(NOW + 59), &token).await.unwrap().is_some());
    assert!(check_access_token(&later, &token).await.unwrap().is_none());
    let portal = w.client("portal").await;
    assert!(principal(&later, &portal, &acting, &account).await.unwrap().is_none());
    // A disabled business too.
    w.store.put_business_member(&member(None)).await.unwrap();
    w.store.set_business_status("biz-1", "disabled", NOW).await.unwrap();
    assert!(principal(&ctx, &portal, &acting, &account).await.unwrap().is_none());
    assert!(check_access_token(&ctx, &token).await.unwrap().is_none());
}

#[tokio::test]
async fn an_exchange_to_a_sibling_keeps_the_grant_and_chains_the_actors() {
    let w = World::new().await;
    let subject_token = w.token_of("g-biz").await;
    let subject_exp = w.claims(&subject_token)["exp"].as_i64().unwrap();
    let out = w.exchange("portal", &subject_token, &[("audience", "records"), ("scope", "openid business")]).await;
    let out = out.unwrap();
    assert_eq!(
        (out.issued_token_type, out.token_type, out.scope.as_str()),
        (Some(ACCESS_TOKEN_TYPE), "Bearer", "openid business")
    );
    assert!(out.refresh_token.is_none() && out.id_token.is_none());
    let c = w.claims(&out.access_token);
    assert_eq!((c["aud"].as_str(), c["client_id"].as_str()), (Some("records"), Some("portal")));
    assert_eq!((c["sub"].as_str(), c["gid"].as_str()), (Some(BUSINESS_SUB), Some("g-biz")));
    assert_eq!(c["act"], json!({ "sub": "portal", "act": { "sub": CITIZEN_SUB } }));
    assert_eq!(c["business"]["tax_code"], "0100109106");
    assert!(c["exp"].as_i64().unwrap() <= subject_exp);
    assert_eq!(out.expires_in, c["exp"].as_i64().unwrap() - (NOW + 10));

    // The audience may introspect what it was handed; another organisation's service may not.
    let seen = w.introspect("records", &out.access_token).await;
    assert_eq!((seen["active"].as_bool(), seen["aud"].as_str()), (Some(true), Some("records")));
    assert_eq!(seen["act"]["sub"], "portal");
    assert_eq!(seen["business"]["name"], "Công ty TNHH Hoa Sen");
    assert_eq!(w.introspect("tax", &out.access_token).await, json!({ "active": false }));
    // A third service of the organisation is neither the token's client nor its audience.
    assert_eq!(w.introspect("plain", &out.access_token).await, json!({ "active": false }));

    // Passed on again, the chain grows; the business goes when its scope is left out.
    let again = w.exchange("records", &out.access_token, &[("audience", "portal"), ("scope", "openid")]).await.unwrap();
    let c = w.claims(&again.access_token);
    assert_eq!(c["act"], json!({ "sub": "records", "act": { "sub": "portal", "act": { "sub": CITIZEN_SUB } } }));
    assert!(c.get("business").is_none());
    assert_eq!(c["sub"], BUSINESS_SUB);

    // A citizen's own token: no business, the citizen is the subject, only the requester acts.
    let own = w.exchange("portal", &w.token_of("g-self").await, &[("audience", "records")]).await.unwrap();
    let c = w.claims(&own.access_token);
    assert_eq!((c["sub"].as_str(), c["act"].clone()), (Some(CITIZEN_SUB), json!({ "sub": "portal" })));
    assert!(c.get("business").is_none());
}

#[tokio::test]
async fn exchanges_stay_inside_the_organisation_and_the_grant() {
    let w = World::new().await;
    let subject_token = w.token_of("g-biz").await;
    let to = |aud: &'static str| [("audience", aud)];
    // Another organisation's service, or no such service: invalid_target.
    assert_eq!(code(w.exchange("portal", &subject_token, &to("tax")).await), E::InvalidTarget);
    assert_eq!(code(w.exchange("portal", &subject_token, &to("nobody")).await), E::InvalidTarget);
    // A subject token issued in another organisation: invalid_request (RFC 8693 §2.2.2).
    let foreign = w.token_of("g-tax").await;
    assert_eq!(code(w.exchange("portal", &foreign, &to("records")).await), E::InvalidRequest);
    // Wider than the subject token.
    let wider = [("audience", "records"), ("scope", "openid email")];
    assert_eq!(code(w.exchange("portal", &subject_token, &wider).await), E::InvalidScope);
    // Not registered for the grant.
    assert_eq!(code(w.exchange("plain", &subject_token, &to("records")).await), E::UnauthorizedClient);
    // Not a token of ours.
    assert_eq!(code(w.exchange("portal", "a.b.c", &to("records")).await), E::InvalidRequest);
    // The citizen left the business: the subject token is dead, nothing to exchange.
    w.store.remove_business_member("biz-1", "acc-1", NOW, None).await.unwrap();
    assert_eq!(code(w.exchange("portal", &subject_token, &to("records")).await), E::InvalidRequest);
}

#[tokio::test]
async fn public_clients_cannot_exchange() {
    let w = World::new().await;
    let subject_token = w.token_of("g-self").await;
    let mut public = w.client("portal").await;
    public.client_type = "public".into();
    let p = params(&[
        ("subject_token", &subject_token),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", "records"),
    ]);
    let err = token_exchange(&w.ctx(NOW), &public, &p).await.unwrap_err();
    assert_eq!(err.code, E::UnauthorizedClient);
}

#[tokio::test]
async fn only_the_holder_of_the_subject_token_may_exchange_it() {
    let w = World::new().await;
    let subject_token = w.token_of("g-biz").await;
    // Issued to portal: records cannot trade it in (RFC 8693 §5).
    let err = w.exchange("records", &subject_token, &[("audience", "portal")]).await.unwrap_err();
    assert_eq!(err.code, E::InvalidRequest);
    assert_eq!(err.description, "the subject token was not issued to the requesting client");
    // Exchanged for records: records holds it now, portal still may as its client.
    let out = w.exchange("portal", &subject_token, &[("audience", "records")]).await.unwrap();
    assert!(w.exchange("records", &out.access_token, &[("audience", "files")]).await.is_ok());
    assert!(w.exchange("portal", &out.access_token, &[("audience", "files")]).await.is_ok());
    // files is neither.
    assert_eq!(code(w.exchange("files", &out.access_token, &[("audience", "portal")]).await), E::InvalidRequest);
}

#[tokio::test]
async fn scopes_follow_the_audience_registration() {
    let w = World::new().await;
    let subject_token = w.token_of("g-biz").await;
    // files is registered for openid and profile only: the default is what both have.
    let out = w.exchange("portal", &subject_token, &[("audience", "files")]).await.unwrap();
    assert_eq!(out.scope, "openid profile");
    let c = w.claims(&out.access_token);
    assert!(c.get("business").is_none(), "{c:?}");
    // Asking for a scope the audience is not registered for.
    let asked = [("audience", "files"), ("scope", "openid business")];
    assert_eq!(code(w.exchange("portal", &subject_token, &asked).await), E::InvalidScope);
}

#[tokio::test]
async fn a_pairwise_audience_learns_only_its_own_subjects() {
    let w = World::new().await;
    let subject_token = w.token_of("g-biz").await;
    let out = w.exchange("portal", &subject_token, &[("audience", "sector")]).await.unwrap();
    let c = w.claims(&out.access_token);
    let sector = w.client("sector").await;
    let account = citizen().account;
    let business = w.store.get_business("biz-1").await.unwrap().unwrap();
    assert_eq!(c["sub"], w.subjects.business(&sector, &business));
    // The innermost actor is the citizen as the audience knows them, not as portal does.
    let citizen_there = w.subjects.citizen(&sector, &account);
    assert_ne!(citizen_there, CITIZEN_SUB);
    assert_eq!(c["act"], json!({ "sub": "portal", "act": { "sub": citizen_there } }));
    assert!(!serde_json::to_string(&c).unwrap().contains(CITIZEN_SUB));
}

#[tokio::test]
async fn a_chain_is_capped_at_five_actors() {
    let w = World::new().await;
    let mut token = w.token_of("g-biz").await;
    // The citizen, then portal, records, portal, records: five actors.
    for (requester, audience) in
        [("portal", "records"), ("records", "portal"), ("portal", "records"), ("records", "portal")]
    {
        token = w.exchange(requester, &token, &[("audience", audience)]).await.unwrap().access_token;
    }
    let c = w.claims(&token);
    assert_eq!(c["act"]["act"]["act"]["act"]["act"]["sub"], CITIZEN_SUB);
    let err = w.exchange("portal", &token, &[("audience", "records")]).await.unwrap_err();
    assert_eq!(err.code, E::InvalidRequest);
}

#[tokio::test]
async fn disabling_the_grants_client_or_the_audience_ends_exchanged_tokens() {
    let w = World::new().await;
    let first = w.exchange("portal", &w.token_of("g-biz").await, &[("audience", "records")]).await.unwrap();
    // records passes it on: the new token's client is records, its grant portal's.
    let passed = w.exchange("records", &first.access_token, &[("audience", "files")]).await.unwrap().access_token;
    let ctx = w.ctx(NOW + 20);
    assert!(check_access_token(&ctx, &passed).await.unwrap().is_some());
    w.set_status("portal", "disabled").await;
    assert!(check_access_token(&ctx, &passed).await.unwrap().is_none());
    w.set_status("portal", "active").await;
    assert!(check_access_token(&ctx, &passed).await.unwrap().is_some());
    w.set_status("files", "disabled").await;
    assert!(check_access_token(&ctx, &passed).await.unwrap().is_none());
    // The first exchanged token was for records, which is still active.
    assert!(check_access_token(&ctx, &first.access_token).await.unwrap().is_some());
}

#[tokio::test]
async fn a_dpop_bound_subject_token_needs_its_key_only_from_its_own_client() {
    let w = World::new().await;
    let bound = w.token_bound("g-self", Some("key-of-portal")).await;
    let to_records = [("audience", "records")];
    // The client it was issued to: only with a proof by the token's key.
    let bare = w.exchange("portal", &bound, &to_records).await.unwrap_err();
    assert_eq!(bare.code, E::InvalidDpopProof);
    let other = w.exchange_proved("portal", &bound, &to_records, Some("another-key")).await.unwrap_err();
    assert_eq!(other.code, E::InvalidGrant);
    let traded = w.exchange_proved("portal", &bound, &to_records, Some("key-of-portal")).await.unwrap();
    assert_eq!(traded.token_type, "DPoP");
    // The service it was exchanged for received it with a proof and never
    // holds the portal's key: it trades it in on its own authentication.
    let onward =
        w.exchange("records", &traded.access_token, &[("audience", "portal"), ("scope", "openid")]).await.unwrap();
    assert_eq!(onward.token_type, "Bearer");
}
