use e2e::Idp;
use e2e::oauth;
use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;
use serde_json::Value;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("expected strings in {v}")))
        .collect()
}

#[test]
fn discovery_has_every_required_field_and_only_safe_options() {
    let idp = Idp::start();
    let http = idp.http();
    let reply = oauth::reply(http.get(idp.url("/.well-known/openid-configuration")).send().unwrap());
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.header("content-type").starts_with("application/json"),
        "content-type: {:?}",
        reply.header("content-type")
    );
    assert!(!reply.header("cache-control").is_empty(), "discovery has no Cache-Control header");
    let doc = &reply.json;
    let issuer = idp.issuer();
    assert_eq!(doc["issuer"], issuer.as_str());

    // OpenID Connect Discovery 1.0 §3: REQUIRED members.
    for field in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(!doc[field].is_null(), "discovery lacks required {field}");
    }
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let url = doc[endpoint].as_str().unwrap_or_else(|| panic!("{endpoint} missing"));
        assert!(url.starts_with(&format!("{issuer}/")), "{endpoint} {url} is not under the issuer");
    }
    assert!(strings(&doc["response_types_supported"]).contains(&"code"));
    assert!(strings(&doc["subject_types_supported"]).contains(&"public"));
    // OIDC Core §15.1: RS256 must be supported for ID tokens.
    assert!(strings(&doc["id_token_signing_alg_values_supported"]).contains(&"RS256"));
    assert!(!strings(&doc["id_token_signing_alg_values_supported"]).contains(&"none"));
    // RFC 7636 §4.2: `plain` is never advertised.
    assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
    // Discovery §3 defaults this to true when absent, so it must be explicitly false.
    assert_eq!(doc["request_uri_parameter_supported"], Value::Bool(false));
    assert_eq!(doc["request_parameter_supported"], Value::Bool(true));
    assert!(strings(&doc["scopes_supported"]).contains(&"openid"));
    let grants = strings(&doc["grant_types_supported"]);
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(grants.contains(&grant), "grant {grant} not advertised");
    }
    let auth_methods = strings(&doc["token_endpoint_auth_methods_supported"]);
    for method in ["client_secret_basic", "private_key_jwt"] {
        assert!(auth_methods.contains(&method), "auth method {method} not advertised");
    }
    // RFC 8414 §2: an endpoint that takes private_key_jwt lists its
    // algorithms (no default is implied).
    for endpoint in ["token_endpoint", "introspection_endpoint", "revocation_endpoint"] {
        if strings(&doc[format!("{endpoint}_auth_methods_supported").as_str()]).contains(&"private_key_jwt") {
            let algs = strings(&doc[format!("{endpoint}_auth_signing_alg_values_supported").as_str()]);
            assert!(algs.contains(&"RS256") && !algs.contains(&"none"), "{endpoint}: {algs:?}");
        }
    }

    // And a relying-party library accepts it (issuer match, JWKS fetched and parsed).
    let metadata = CoreProviderMetadata::discover(&IssuerUrl::new(issuer.clone()).unwrap(), &http)
        .unwrap_or_else(|e| panic!("openidconnect rejects the discovery document: {e:?}"));
    assert_eq!(metadata.issuer().as_str(), issuer);
    assert!(!metadata.jwks().keys().is_empty());
}

#[test]
fn jwks_keys_name_their_id_use_and_algorithm_and_hide_private_parts() {
    let idp = Idp::start();
    let http = idp.http();
    let discovery = oauth::reply(http.get(idp.url("/.well-known/openid-configuration")).send().unwrap());
    let jwks_uri = discovery.ok_json()["jwks_uri"].as_str().unwrap().to_owned();
    let reply = oauth::reply(http.get(&jwks_uri).send().unwrap());
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.header("content-type").contains("json"), "content-type: {:?}", reply.header("content-type"));
    assert!(!reply.header("cache-control").is_empty(), "JWKS has no Cache-Control header");
    let keys = reply.json["keys"].as_array().expect("keys array");
    assert!(!keys.is_empty(), "JWKS is empty");
    let mut kids = Vec::new();
    for key in keys {
        let kid = key["kid"].as_str().unwrap_or_else(|| panic!("key without kid: {key}"));
        assert!(!kid.is_empty());
        kids.push(kid);
        assert_eq!(key["use"], "sig", "key {kid}");
        assert!(key["alg"].is_string(), "key {kid} has no alg");
        assert!(key["kty"].is_string(), "key {kid} has no kty");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "key {kid} publishes private member {private}");
        }
    }
    let mut unique = kids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), kids.len(), "duplicate kids: {kids:?}");
    assert!(keys.iter().any(|k| k["alg"] == "RS256" && k["kty"] == "RSA"), "no RS256 key published");
}
