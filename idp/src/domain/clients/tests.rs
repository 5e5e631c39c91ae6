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
