//! Registration rules: what an admin can and cannot register.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::validate::{build_client, build_organisation, check_jwks, check_uri};
use super::*;

fn confidential() -> NewClient {
    NewClient {
        name: "Cổng dịch vụ công".into(),
        organisation: "moh".into(),
        client_type: "confidential".into(),
        redirect_uris: vec!["https://rp.example.vn/cb".into()],
        ..NewClient::default()
    }
}

fn public() -> NewClient {
    NewClient { client_type: "public".into(), ..confidential() }
}

fn build(input: NewClient) -> Result<(Client, Option<Secret>), ClientError> {
    build_client(input, "org-1", 1_000)
}

#[test]
fn confidential_defaults() {
    let (c, secret) = build(confidential()).unwrap();
    assert_eq!(c.auth_method, "client_secret_basic");
    assert_eq!(c.grant_types, ["authorization_code", "refresh_token"]);
    assert_eq!(c.scopes, DEFAULT_SCOPES);
    assert!(!c.scopes.iter().any(|s| s == "national_id"));
    assert_eq!(c.signing_alg, "RS256");
    assert!(c.require_pkce);
    assert!(!c.require_par && !c.dpop_bound);
    assert_eq!(c.status, "active");
    assert_eq!(c.organisation_id, "org-1");
    assert_eq!((c.created_at, c.updated_at), (1_000, 1_000));
    assert_eq!(c.name, "Cổng dịch vụ công");
    let secret = secret.unwrap();
    assert_eq!(secret.expose().len(), 43);
    assert_eq!(c.secret_hash.as_deref(), Some(crypto::sha256_hex(secret.expose().as_bytes()).as_str()));
    assert!(secret_matches(&c, secret.expose()));
    assert!(!secret_matches(&c, "wrong"));
}

#[test]
fn public_clients_get_none_pkce_and_no_secret() {
    let (c, secret) = build(public()).unwrap();
    assert_eq!(c.auth_method, "none");
    assert!(c.require_pkce);
    assert!(secret.is_none());
    assert!(c.secret_hash.is_none());
    assert!(!secret_matches(&c, ""));

    let no_pkce = NewClient { require_pkce: Some(false), ..public() };
    assert!(matches!(build(no_pkce), Err(ClientError::PkceRequired)));
    // A confidential client may opt out.
    let (c, _) = build(NewClient { require_pkce: Some(false), ..confidential() }).unwrap();
    assert!(!c.require_pkce);
}

#[test]
fn auth_method_must_fit_client_type() {
    for m in ["client_secret_basic", "client_secret_post", "private_key_jwt"] {
        let input = NewClient { auth_method: Some(m.into()), ..public() };
        assert!(matches!(build(input), Err(ClientError::InvalidAuthMethod { .. })), "{m}");
    }
    let input = NewClient { auth_method: Some("none".into()), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidAuthMethod { .. })));
    let input = NewClient { auth_method: Some("client_secret_jwt".into()), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidAuthMethod { .. })));
    let (c, s) = build(NewClient { auth_method: Some("client_secret_post".into()), ..confidential() }).unwrap();
    assert_eq!(c.auth_method, "client_secret_post");
    assert!(s.is_some());
    let bad_type = NewClient { client_type: "Public".into(), ..confidential() };
    assert!(matches!(build(bad_type), Err(ClientError::InvalidClientType(t)) if t == "Public"));
}

#[test]
fn grant_types_come_from_the_allowed_list() {
    let g = |list: &[&str]| Some(list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    let input = NewClient { grant_types: g(&["implicit"]), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidGrantType(t)) if t == "implicit"));
    let input = NewClient { grant_types: g(&[]), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::NoGrantTypes)));
    let input = NewClient { grant_types: g(&["client_credentials"]), ..public() };
    assert!(matches!(build(input), Err(ClientError::PublicClientCredentials)));
    let input = NewClient { grant_types: g(&["refresh_token", "client_credentials"]), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::RefreshWithoutCode)));
    // A machine client needs no redirect URI.
    let input = NewClient {
        grant_types: g(&["client_credentials", "client_credentials"]),
        redirect_uris: vec![],
        ..confidential()
    };
    let (c, _) = build(input).unwrap();
    assert_eq!(c.grant_types, ["client_credentials"]);
}

#[test]
fn scopes_come_from_the_allowed_list() {
    let input = NewClient { scopes: Some(vec!["openid".into(), "admin".into()]), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidScope(s)) if s == "admin"));
    let input = NewClient { scopes: Some(vec![]), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::NoScopes)));
    let input =
        NewClient { scopes: Some(vec!["openid".into(), "national_id".into(), "openid".into()]), ..confidential() };
    assert_eq!(build(input).unwrap().0.scopes, ["openid", "national_id"]);
}

#[test]
fn redirect_uri_rules() {
    for ok in [
        "https://rp.example.vn/cb",
        "https://rp.example.vn:8443/cb?x=1",
        "http://localhost:3000/cb",
        "http://127.0.0.1:9/cb",
        "http://[::1]:8080/cb",
    ] {
        assert_eq!(check_uri(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "/cb",
        "rp.example.vn/cb",
        "https://rp.example.vn/cb#frag",
        "http://rp.example.vn/cb",
        "http://localhost.evil.example/cb",
        "http://127.0.0.2/cb",
        "ftp://rp.example.vn/cb",
        "com.example.app:/cb",
        "javascript:alert(1)",
        "https://user:pw@rp.example.vn/cb",
        "https://rp.example.vn/c b",
        "https://rp.example.vn\\@evil.example/",
        "HTTP://localhost/cb",
        "https:/rp.example.vn/cb",
    ] {
        assert!(check_uri(bad).is_err(), "{bad}");
    }
    let input = NewClient { redirect_uris: vec![], ..confidential() };
    assert!(matches!(build(input), Err(ClientError::MissingRedirectUri)));
    let input = NewClient { redirect_uris: vec!["http://rp.example.vn/cb".into()], ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidRedirectUri { .. })));
    let input = NewClient { post_logout_redirect_uris: vec!["https://x/#a".into()], ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidPostLogoutUri { .. })));
    // Stored exactly as given (no normalisation) and deduplicated.
    let input = NewClient {
        redirect_uris: vec!["https://rp.example.vn".into(), "https://rp.example.vn".into()],
        ..confidential()
    };
    assert_eq!(build(input).unwrap().0.redirect_uris, ["https://rp.example.vn"]);
}

#[test]
fn jwks_rules() {
    let rsa = json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]});
    assert!(check_jwks(&rsa).is_ok());
    for bad in [
        json!([]),
        json!("keys"),
        json!({}),
        json!({"keys": {}}),
        json!({"keys": []}),
        json!({"keys": [1]}),
        json!({"keys": [{"kid": "x"}]}),
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]}),
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
    ] {
        assert!(matches!(check_jwks(&bad), Err(ClientError::InvalidJwks(_))), "{bad}");
    }

    let pkj = NewClient { auth_method: Some("private_key_jwt".into()), ..confidential() };
    assert!(matches!(build(pkj.clone()), Err(ClientError::MissingJwks)));
    let (c, secret) = build(NewClient { jwks: Some(rsa.clone()), ..pkj.clone() }).unwrap();
    assert!(secret.is_none() && c.secret_hash.is_none());
    let stored: serde_json::Value = serde_json::from_str(c.jwks.as_deref().unwrap()).unwrap();
    assert_eq!(stored, rsa);
    let (c, _) = build(NewClient { jwks_uri: Some("https://rp.example.vn/jwks".into()), ..pkj.clone() }).unwrap();
    assert_eq!(c.jwks_uri.as_deref(), Some("https://rp.example.vn/jwks"));
    let input = NewClient { jwks_uri: Some("http://rp.example.vn/jwks".into()), ..pkj.clone() };
    assert!(matches!(build(input), Err(ClientError::InvalidJwksUri { .. })));
    let both = NewClient { jwks: Some(rsa), jwks_uri: Some("https://rp.example.vn/jwks".into()), ..pkj };
    assert!(matches!(build(both), Err(ClientError::JwksAndJwksUri)));
}

#[test]
fn signing_alg_and_name() {
    for alg in ["ES256", "PS256", "EdDSA"] {
        let (c, _) = build(NewClient { signing_alg: Some(alg.into()), ..confidential() }).unwrap();
        assert_eq!(c.signing_alg, alg);
    }
    for alg in ["none", "HS256", "rs256"] {
        let input = NewClient { signing_alg: Some(alg.into()), ..confidential() };
        assert!(matches!(build(input), Err(ClientError::InvalidSigningAlg(_))), "{alg}");
    }
    // Access tokens: their own algorithm, or (absent, empty) the ID tokens'.
    let (c, _) = build(NewClient { access_token_alg: Some("ES256".into()), ..confidential() }).unwrap();
    assert_eq!((c.signing_alg.as_str(), c.access_token_alg.as_deref()), ("RS256", Some("ES256")));
    for absent in [None, Some(String::new())] {
        assert_eq!(build(NewClient { access_token_alg: absent, ..confidential() }).unwrap().0.access_token_alg, None);
    }
    let input = NewClient { access_token_alg: Some("HS256".into()), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidAccessTokenAlg(_))));
    for name in ["", "   ", "a\nb", &"x".repeat(121)] {
        let input = NewClient { name: name.to_owned(), ..confidential() };
        assert!(matches!(build(input), Err(ClientError::InvalidName)), "{name:?}");
    }
    assert_eq!(build(NewClient { name: "  RP  ".into(), ..confidential() }).unwrap().0.name, "RP");
}

#[test]
fn unknown_body_fields_are_rejected() {
    let err = serde_json::from_value::<NewClient>(json!({
        "name": "x", "organisation": "moh", "client_type": "public", "redirect_uri": "https://a/"
    }))
    .unwrap_err();
    assert!(err.to_string().contains("redirect_uri"), "{err}");
}

#[test]
fn organisation_rules() {
    let org = |code: &str, name: &str, kind: &str| NewOrganisation {
        code: code.into(),
        name: name.into(),
        kind: kind.into(),
    };
    let o = build_organisation(org("moh", " Bộ Y tế ", "ministry"), 5).unwrap();
    assert_eq!((o.code.as_str(), o.name.as_str(), o.kind.as_str(), o.created_at), ("moh", "Bộ Y tế", "ministry", 5));
    assert!(build_organisation(org("ha-noi-01", "Hà Nội", "province"), 5).is_ok());
    for code in ["m", "MOH", "mo h", "mỏh", "m_h", &"a".repeat(33)] {
        assert!(
            matches!(build_organisation(org(code, "x", "agency"), 5), Err(OrganisationError::InvalidCode(_))),
            "{code}"
        );
    }
    assert!(matches!(build_organisation(org("moh", "", "agency"), 5), Err(OrganisationError::InvalidName)));
    assert!(matches!(build_organisation(org("moh", "x", "company"), 5), Err(OrganisationError::InvalidKind(_))));
}

#[test]
fn minimum_acr_defaults_to_loa1_and_takes_supported_levels_only() {
    assert_eq!(build(confidential()).unwrap().0.minimum_acr, "LoA1");
    let strict = NewClient { minimum_acr: Some("LoA2".into()), ..confidential() };
    assert_eq!(build(strict).unwrap().0.minimum_acr, "LoA2");
    for bad in ["LoA3", "loa2", ""] {
        let input = NewClient { minimum_acr: Some(bad.into()), ..confidential() };
        assert!(matches!(build(input), Err(ClientError::InvalidMinimumAcr(_))), "{bad}");
    }
}

#[test]
fn logout_uris_follow_the_redirect_uri_rules() {
    let ok = NewClient {
        backchannel_logout_uri: Some("https://rp.example.vn/backchannel-logout".into()),
        frontchannel_logout_uri: Some("http://127.0.0.1:3000/frontchannel-logout".into()),
        ..confidential()
    };
    let (c, _) = build(ok).unwrap();
    assert_eq!(c.backchannel_logout_uri.as_deref(), Some("https://rp.example.vn/backchannel-logout"));
    assert_eq!(c.frontchannel_logout_uri.as_deref(), Some("http://127.0.0.1:3000/frontchannel-logout"));
    for bad in ["http://rp.example.vn/bc", "https://rp.example.vn/bc#x", "/bc", "not a uri"] {
        let input = NewClient { backchannel_logout_uri: Some(bad.into()), ..confidential() };
        assert!(matches!(build(input), Err(ClientError::InvalidLogoutUri { .. })), "{bad}");
        let input = NewClient { frontchannel_logout_uri: Some(bad.into()), ..confidential() };
        assert!(matches!(build(input), Err(ClientError::InvalidLogoutUri { .. })), "{bad}");
    }
    // An empty string (from an update) means none.
    let input = NewClient { backchannel_logout_uri: Some(String::new()), ..confidential() };
    assert_eq!(build(input).unwrap().0.backchannel_logout_uri, None);
}

#[test]
fn an_update_keeps_or_removes_the_logout_uris() {
    let with = NewClient { backchannel_logout_uri: Some("https://rp.example.vn/bc".into()), ..confidential() };
    let (current, _) = build(with).unwrap();
    let rename = update::ClientUpdate { name: Some("Tên mới".into()), ..Default::default() };
    let (kept, _) = update::apply(&current, rename, 2_000).unwrap();
    assert_eq!(kept.backchannel_logout_uri.as_deref(), Some("https://rp.example.vn/bc"));
    let remove = update::ClientUpdate { backchannel_logout_uri: Some(String::new()), ..Default::default() };
    assert_eq!(remove.field_names(), ["backchannel_logout_uri"]);
    let (removed, _) = update::apply(&current, remove, 2_000).unwrap();
    assert_eq!(removed.backchannel_logout_uri, None);
}

/// A sector document server in memory: URI → body (or the fetch error).
struct FakeFetcher(Vec<(&'static str, Result<&'static str, &'static str>)>);

#[async_trait::async_trait]
impl DocumentFetcher for FakeFetcher {
    async fn fetch_document(&self, uri: &str) -> Result<String, String> {
        match self.0.iter().find(|(u, _)| *u == uri) {
            Some((_, answer)) => answer.map(str::to_owned).map_err(str::to_owned),
            None => Err("status 404 Not Found".into()),
        }
    }
}

const SECTOR_URI: &str = "https://sector.health.gov.vn/redirects.json";

fn pairwise(sector_uri: Option<&str>, redirect_uris: &[&str]) -> NewClient {
    NewClient {
        subject_type: Some("pairwise".into()),
        sector_identifier_uri: sector_uri.map(str::to_owned),
        redirect_uris: redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
        ..confidential()
    }
}

#[test]
fn subjects_are_public_unless_asked() {
    let (c, _) = build(confidential()).unwrap();
    assert_eq!((c.subject_type.as_str(), c.sector_identifier.as_deref()), ("public", None));
    assert!(!c.business_self_allowed);
    let input = NewClient { business_self_allowed: Some(true), ..confidential() };
    assert!(build(input).unwrap().0.business_self_allowed);
    let input = NewClient { subject_type: Some("Pairwise".into()), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::InvalidSubjectType(t)) if t == "Pairwise"));
    // A sector document means nothing to a public client: refused, not ignored.
    let input = NewClient { sector_identifier_uri: Some(SECTOR_URI.into()), ..confidential() };
    assert!(matches!(build(input), Err(ClientError::SectorUriNeedsPairwise)));
}

#[test]
fn a_pairwise_sector_is_the_one_redirect_host_or_the_documents_host() {
    let (c, _) = build(pairwise(None, &["https://A.example.vn/cb", "https://a.example.vn:8443/other"])).unwrap();
    // Unproven by a document, the host sector is the organisation's own.
    assert_eq!((c.subject_type.as_str(), c.sector_identifier.as_deref()), ("pairwise", Some("org-1:a.example.vn")));
    assert_eq!(c.sector_identifier_uri, None);
    let several = pairwise(None, &["https://a.example.vn/cb", "https://b.example.vn/cb"]);
    let err = build(several).unwrap_err();
    assert!(matches!(err, ClientError::SeveralSectorHosts));
    assert_eq!(err.to_string(), "pairwise clients with redirect URIs on several hosts need a sector_identifier_uri");
    let machine = NewClient { grant_types: Some(vec!["client_credentials".into()]), ..pairwise(None, &[]) };
    assert!(matches!(build(machine), Err(ClientError::NoSector)));
    let (c, _) = build(pairwise(Some(SECTOR_URI), &["https://a.example.vn/cb", "https://b.example.vn/cb"])).unwrap();
    assert_eq!(c.sector_identifier.as_deref(), Some("sector.health.gov.vn"));
    assert_eq!(c.sector_identifier_uri.as_deref(), Some(SECTOR_URI));
}

#[test]
fn the_sector_uri_follows_the_redirect_uri_rules() {
    for bad in ["http://sector.health.gov.vn/r.json", "https://sector.health.gov.vn/r.json#x", "/r.json"] {
        let err = build(pairwise(Some(bad), &["https://a.example.vn/cb"])).unwrap_err();
        assert!(matches!(err, ClientError::InvalidSectorUri { .. }), "{bad}: {err}");
    }
    let (c, _) = build(pairwise(Some("http://127.0.0.1:8080/r.json"), &["https://a.example.vn/cb"])).unwrap();
    assert_eq!(c.sector_identifier.as_deref(), Some("127.0.0.1"));
}

/// [`FakeFetcher`] in a development deployment (`IDP_OUTBOUND_ALLOW_PRIVATE`).
struct DevFetcher(FakeFetcher);

#[async_trait::async_trait]
impl DocumentFetcher for DevFetcher {
    async fn fetch_document(&self, uri: &str) -> Result<String, String> {
        self.0.fetch_document(uri).await
    }
    fn allows_private(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_loopback_http_sector_uri_is_for_development_only() {
    const LOOPBACK: &str = "http://127.0.0.1:8080/r.json";
    let (client, _) = build(pairwise(Some(LOOPBACK), &["https://a.example.vn/cb"])).unwrap();
    let listed = || FakeFetcher(vec![(LOOPBACK, Ok(r#"["https://a.example.vn/cb"]"#))]);
    // OIDC Registration §5: https, unless outbound calls may reach loopback anyway.
    let err = sector::verify_document(&listed(), &client).await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidSectorUri { .. }), "{err}");
    assert_eq!(err.to_string(), format!("sector_identifier_uri {LOOPBACK:?} must use https"));
    assert!(sector::verify_document(&DevFetcher(listed()), &client).await.is_ok());
}

#[tokio::test]
async fn the_sector_document_must_list_every_redirect_uri() {
    let uris = ["https://a.example.vn/cb", "https://b.example.vn/cb"];
    let (client, _) = build(pairwise(Some(SECTOR_URI), &uris)).unwrap();
    let check = |answer| {
        let client = client.clone();
        async move { sector::verify_document(&FakeFetcher(vec![(SECTOR_URI, answer)]), &client).await }
    };
    let ok = Ok(r#"["https://a.example.vn/cb", "https://b.example.vn/cb", "https://c.example.vn/cb"]"#);
    assert!(check(ok).await.is_ok());
    let err = check(Ok(r#"["https://a.example.vn/cb"]"#)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::SectorMissingRedirectUri { redirect_uri, .. } if redirect_uri == "https://b.example.vn/cb"),
        "{err}"
    );
    for bad in [r#"{"redirect_uris": []}"#, r#"["https://a.example.vn/cb", 7]"#, "not json", r#""x""#] {
        assert!(matches!(check(Ok(bad)).await, Err(ClientError::InvalidSectorDocument(_))), "{bad}");
    }
    let err = check(Err("status 404 Not Found")).await.unwrap_err();
    assert!(matches!(err, ClientError::SectorFetch { .. }));
    assert!(err.to_string().contains("status 404"), "{err}");
    // No document, nothing to fetch.
    let (plain, _) = build(pairwise(None, &["https://a.example.vn/cb"])).unwrap();
    assert!(sector::verify_document(&FakeFetcher(vec![]), &plain).await.is_ok());
}

#[test]
fn an_update_cannot_change_the_subjects() {
    let (public_client, _) = build(confidential()).unwrap();
    let to_pairwise = update::ClientUpdate { subject_type: Some("pairwise".into()), ..Default::default() };
    let err = update::apply(&public_client, to_pairwise, 2_000).unwrap_err();
    assert!(matches!(err, ClientError::SubjectTypeChange { .. }), "{err}");
    assert!(err.to_string().contains("cannot change"), "{err}");
    // Naming the registered type is no change.
    let same = update::ClientUpdate { subject_type: Some("public".into()), ..Default::default() };
    assert!(update::apply(&public_client, same, 2_000).is_ok());

    let (pw, _) = build(pairwise(None, &["https://a.example.vn/cb"])).unwrap();
    let to_public = update::ClientUpdate { subject_type: Some("public".into()), ..Default::default() };
    assert!(matches!(update::apply(&pw, to_public, 2_000), Err(ClientError::SubjectTypeChange { .. })));
    // Moving the redirect URIs to another host would move the sector.
    let moved =
        update::ClientUpdate { redirect_uris: Some(vec!["https://b.example.vn/cb".into()]), ..Default::default() };
    assert!(matches!(update::apply(&pw, moved, 2_000), Err(ClientError::SectorChange { .. })));
    // Another path on the same host keeps it.
    let path =
        update::ClientUpdate { redirect_uris: Some(vec!["https://a.example.vn/new".into()]), ..Default::default() };
    let (kept, _) = update::apply(&pw, path, 2_000).unwrap();
    assert_eq!(kept.sector_identifier.as_deref(), Some("org-1:a.example.vn"));
    // A document moves an unproven sector to the proven one (the bare host): refused.
    const DOC: &str = "https://a.example.vn/sector.json";
    let add_doc = update::ClientUpdate { sector_identifier_uri: Some(DOC.into()), ..Default::default() };
    let err = update::apply(&pw, add_doc, 2_000).unwrap_err();
    assert!(
        matches!(&err, ClientError::SectorChange { from, to } if from == "org-1:a.example.vn" && to == "a.example.vn")
    );

    // A proven client may list more redirect hosts, or move its document on the sector host.
    let (proven, _) = build(pairwise(Some(DOC), &["https://a.example.vn/cb"])).unwrap();
    let more = update::ClientUpdate {
        sector_identifier_uri: Some("https://a.example.vn/other.json".into()),
        redirect_uris: Some(vec!["https://a.example.vn/cb".into(), "https://b.example.vn/cb".into()]),
        business_self_allowed: Some(true),
        require_pushed_authorization_requests: Some(true),
        dpop_bound_access_tokens: Some(true),
        ..Default::default()
    };
    let (with_doc, _) = update::apply(&proven, more, 2_000).unwrap();
    assert_eq!(with_doc.sector_identifier_uri.as_deref(), Some("https://a.example.vn/other.json"));
    assert_eq!(with_doc.sector_identifier.as_deref(), Some("a.example.vn"));
    assert!(with_doc.business_self_allowed);
    assert!(with_doc.require_par && with_doc.dpop_bound);
    // A change that does not name it keeps it.
    let rename = update::ClientUpdate { name: Some("Cổng mới".into()), ..Default::default() };
    let renamed = update::apply(&with_doc, rename, 3_000).unwrap().0;
    assert!(renamed.require_par && renamed.dpop_bound);
    // Removing the document would make the sector the organisation's own: refused.
    let remove = update::ClientUpdate { sector_identifier_uri: Some(String::new()), ..Default::default() };
    assert!(matches!(update::apply(&proven, remove, 2_000), Err(ClientError::SectorChange { .. })));
}

/// A store with two organisations, `moh` (health) and `mof` (finance), and their ids.
async fn two_organisations() -> (std::sync::Arc<dyn Store>, [String; 2]) {
    let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
    let mut ids = [String::new(), String::new()];
    for (code, id) in ["moh", "mof"].into_iter().zip(&mut ids) {
        let input = NewOrganisation { code: code.into(), name: format!("Bộ {code}"), kind: "ministry".into() };
        *id = create_organisation(store.as_ref(), 0, input).await.unwrap().id;
    }
    (store, ids)
}

/// The pairwise `sub` a client sees for one citizen, with a fixed key.
fn citizen_sub(client: &Client) -> String {
    let account = crate::store::Account {
        id: "acc-1".into(),
        subject: "public-sub".into(),
        kind: "citizen".into(),
        status: "active".into(),
        created_at: 0,
    };
    crate::domain::oidc::subjects::Subjects::with_key(vec![7; 32]).citizen(client, &account)
}

#[tokio::test]
async fn unproven_sectors_are_per_organisation() {
    let (store, [moh, mof]) = two_organisations().await;
    let fetcher = FakeFetcher(vec![]);
    let reg = |org: &str, input: NewClient| {
        let input = NewClient { organisation: org.into(), ..input };
        register(store.as_ref(), &fetcher, 1_000, input)
    };
    let (health, _) = reg("moh", pairwise(None, &["https://health.gov.vn/cb"])).await.unwrap();
    assert_eq!(health.sector_identifier, Some(format!("{moh}:health.gov.vn")));
    // Another service of the same organisation on that host shares the sector, and the sub.
    let (other, _) = reg("moh", pairwise(None, &["https://health.gov.vn/other"])).await.unwrap();
    assert_eq!(other.sector_identifier, health.sector_identifier);
    assert_eq!(citizen_sub(&other), citizen_sub(&health));

    // OIDC Core §8.1: finance naming a redirect URI on health's host gets a sector of its
    // own, so its token exchanges can never reveal health's subjects.
    let (finance, _) = reg("mof", pairwise(None, &["https://health.gov.vn/finance-cb"])).await.unwrap();
    assert_eq!(finance.sector_identifier, Some(format!("{mof}:health.gov.vn")));
    assert_ne!(citizen_sub(&finance), citizen_sub(&health));
}

#[tokio::test]
async fn a_document_proven_sector_is_the_bare_host() {
    let (store, [moh, _]) = two_organisations().await;
    let health_doc = "https://health.gov.vn/sector.json";
    let fetcher = FakeFetcher(vec![
        (health_doc, Ok(r#"["https://health.gov.vn/cb", "https://hoso.health.gov.vn/cb"]"#)),
        (SECTOR_URI, Ok(r#"["https://health.gov.vn/own-doc-cb"]"#)),
    ]);
    let reg = |org: &str, input: NewClient| {
        let input = NewClient { organisation: org.into(), ..input };
        register(store.as_ref(), &fetcher, 1_000, input)
    };
    let uris = ["https://health.gov.vn/cb", "https://hoso.health.gov.vn/cb"];
    let (proven, _) = reg("moh", pairwise(Some(health_doc), &uris)).await.unwrap();
    assert_eq!(proven.sector_identifier.as_deref(), Some("health.gov.vn"));
    // The proven sector never shares subjects with the organisation's unproven one.
    let (unproven, _) = reg("moh", pairwise(None, &["https://health.gov.vn/cb"])).await.unwrap();
    assert_eq!(unproven.sector_identifier, Some(format!("{moh}:health.gov.vn")));
    assert_ne!(citizen_sub(&proven), citizen_sub(&unproven));
    // Whoever controls the host proves it the same way and shares the sector.
    let (shared, _) = reg("mof", pairwise(Some(health_doc), &["https://health.gov.vn/cb"])).await.unwrap();
    assert_eq!(shared.sector_identifier.as_deref(), Some("health.gov.vn"));
    assert_eq!(citizen_sub(&shared), citizen_sub(&proven));
    // A document on another host gives that host's sector, whatever the redirect host.
    let (own, _) = reg("mof", pairwise(Some(SECTOR_URI), &["https://health.gov.vn/own-doc-cb"])).await.unwrap();
    assert_eq!(own.sector_identifier.as_deref(), Some("sector.health.gov.vn"));
    // A document that does not list the redirect URIs proves nothing.
    let err = reg("mof", pairwise(Some(health_doc), &["https://health.gov.vn/x"])).await.unwrap_err();
    assert!(matches!(err, ClientError::SectorMissingRedirectUri { .. }), "{err}");
}
