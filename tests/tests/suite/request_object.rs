use std::time::{Duration, UNIX_EPOCH};

use e2e::oauth::{self, ClientAuth};
use e2e::{Browser, Credentials, Idp, Page, Pending, Rp};
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{Value, json};
use url::Url;

use crate::now;
use crate::tokens::{key_client, rsa_jwk};

/// The parameters of `pending` (its URL's query, client_id aside) as a request object signed
/// with `key`, with `iss`, `aud` and `exp` as given.
fn request_object(pending: &Pending, key: &Jwk, iss: &str, aud: &str, exp: i64) -> String {
    let mut payload = JwtPayload::new();
    for (name, value) in pending.url.query_pairs() {
        payload.set_claim(&name, Some(Value::String(value.into_owned()))).unwrap();
    }
    payload.set_issuer(iss);
    payload.set_audience(vec![aud]);
    payload.set_expires_at(&(UNIX_EPOCH + Duration::from_secs(exp as u64)));
    let mut header = JwsHeader::new();
    header.set_token_type("oauth-authz-req+jwt");
    header.set_key_id("rp-key-1");
    josekit::jwt::encode_with_signer(&payload, &header, &RS256.signer_from_jwk(key).unwrap()).unwrap()
}

/// Redeems `code` as the `private_key_jwt` client (an assertion signed with `key`, `jti`)
/// and checks the ID token against the JWKS and the nonce of `pending`; returns the access token.
fn redeem(rp: &Rp, key: &Jwk, pending: &Pending, code: &str, jti: &str) -> String {
    let token_url = rp.endpoint("token_endpoint");
    let assertion = crate::tokens::client_assertion(key, &rp.reg.client_id, token_url.as_str(), jti);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.reg.redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    let reply = oauth::post_form(&rp.http, &token_url, ClientAuth::None, &form);
    let body = reply.ok_json();
    let id = oauth::verify_with_jwks(body["id_token"].as_str().unwrap(), &rp.jwks());
    assert_eq!(id["nonce"], pending.nonce.secret().as_str(), "{id}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `/authorize` with only `client_id` and `request`.
fn by_value(rp: &Rp, object: &str) -> Url {
    let mut url = rp.endpoint("authorization_endpoint");
    url.query_pairs_mut().append_pair("client_id", &rp.reg.client_id).append_pair("request", object);
    url
}

/// The page for a request object that does not check out: translated, never a redirect.
fn assert_refused(page: &Page, what: &str) {
    assert_eq!((page.status, page.location.as_ref()), (400, None), "{what}: {page:?}");
    assert!(page.text().contains("invalid_request_object"), "{what}: {}", page.text());
}

#[test]
fn a_signed_request_object_signs_the_citizen_in_and_a_forged_one_shows_a_page() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let key = rsa_jwk();
    let rp = Rp::new(&idp, &key_client(&idp, &key, &[]));
    assert_eq!(rp.discovery["request_parameter_supported"], true);
    let (id, iss) = (rp.reg.client_id.clone(), idp.issuer());

    let pending = rp.authorize(&["profile"], &[]);
    let mut url = by_value(&rp, &request_object(&pending, &key, &id, &iss, now() + 300));
    // RFC 9101 §6.3: parameters beside the object are ignored.
    url.query_pairs_mut().append_pair("state", "tampered").append_pair("redirect_uri", "http://127.0.0.1:1/evil");
    let browser = Browser::new(&idp);
    let flow = browser.run_flow(&url, Credentials::Password(&citizen.national_id, &citizen.password));
    // The object's state, nonce and PKCE challenge were used.
    let access = redeem(&rp, &key, &pending, &rp.code_from(&pending, &flow.redirect), "ro-1");
    assert_eq!(rp.userinfo(&access).json["name"], citizen.full_name.as_str());

    let cases = [
        ("signed by another key", request_object(&pending, &rsa_jwk(), &id, &iss, now() + 300)),
        ("for another issuer", request_object(&pending, &key, &id, "https://id.example.vn", now() + 300)),
        ("issued by someone else", request_object(&pending, &key, "someone", &iss, now() + 300)),
        ("expired", request_object(&pending, &key, &id, &iss, now() - 3600)),
        ("unsigned", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.".to_owned()),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (what, object) in &cases {
        assert_refused(&Browser::new(&idp).get(&by_value(&rp, object)), what);
    }
    // A client with no keys registered cannot sign one.
    let plain = Rp::new(&idp, &idp.register_client(&[]));
    let object = request_object(&pending, &key, &plain.reg.client_id, &iss, now() + 300);
    assert_refused(&Browser::new(&idp).get(&by_value(&plain, &object)), "a client without keys");
}

#[test]
fn a_request_object_may_be_pushed() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let key = rsa_jwk();
    let rp = Rp::new(&idp, &key_client(&idp, &key, &[]));
    let id = rp.reg.client_id.clone();
    let pending = rp.authorize(&[], &[]);
    let object = request_object(&pending, &key, &id, &idp.issuer(), now() + 300);
    let par = rp.endpoint("pushed_authorization_request_endpoint");
    // Authenticated with an assertion (`jti`), the request itself a signed object (RFC 9126 §3).
    let push = |object: &str, jti: &str| {
        let assertion = crate::tokens::client_assertion(&key, &id, par.as_str(), jti);
        let form = [
            ("client_id", id.as_str()),
            ("request", object),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion.as_str()),
        ];
        oauth::post_form(&rp.http, &par, ClientAuth::None, &form)
    };
    let pushed = push(&object, "ro-par-1");
    assert_eq!(pushed.status, 201, "{pushed:?}");
    let url = rp.pushed_url(pushed.json["request_uri"].as_str().unwrap());
    let flow = Browser::new(&idp).run_flow(&url, Credentials::Password(&citizen.email, &citizen.password));
    redeem(&rp, &key, &pending, &rp.code_from(&pending, &flow.redirect), "ro-2");

    // A forged object is refused at the PAR endpoint with a JSON error.
    let forged = request_object(&pending, &rsa_jwk(), &id, &idp.issuer(), now() + 300);
    let refused = push(&forged, "ro-par-2");
    assert_eq!((refused.status, refused.error()), (400, "invalid_request_object"), "{refused:?}");
    assert!(refused.json["error_description"].is_string(), "{}", json!(refused.json));
}

#[test]
fn a_request_object_never_passes_for_a_client_assertion() {
    let idp = Idp::start();
    let key = rsa_jwk();
    let rp = Rp::new(&idp, &key_client(&idp, &key, &["--grant-type", "client_credentials"]));
    let id = rp.reg.client_id.clone();
    let token_url = rp.endpoint("token_endpoint");
    // What a browser may see: a request object that happens to carry sub and jti too.
    let mut payload = JwtPayload::new();
    payload.set_issuer(&id);
    payload.set_subject(&id);
    payload.set_audience(vec![token_url.as_str()]);
    payload.set_jwt_id("seen-in-a-browser");
    payload.set_expires_at(&(UNIX_EPOCH + Duration::from_secs(now() as u64 + 60)));
    payload.set_claim("response_type", Some(json!("code"))).unwrap();
    let mut header = JwsHeader::new();
    header.set_token_type("oauth-authz-req+jwt");
    header.set_key_id("rp-key-1");
    let object = josekit::jwt::encode_with_signer(&payload, &header, &RS256.signer_from_jwk(&key).unwrap()).unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", object.as_str()),
    ];
    let refused = oauth::post_form(&rp.http, &token_url, ClientAuth::None, &form);
    assert_eq!((refused.status, refused.error()), (401, "invalid_client"), "{refused:?}");
    // A real assertion by the same key works.
    let assertion = crate::tokens::client_assertion(&key, &id, token_url.as_str(), "real-1");
    let form = [form[0], form[1], ("client_assertion", assertion.as_str())];
    assert!(oauth::post_form(&rp.http, &token_url, ClientAuth::None, &form).ok_json()["access_token"].is_string());
}

#[test]
fn a_signed_request_may_be_posted_but_does_not_stand_in_for_par() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let key = rsa_jwk();
    let rp = Rp::new(&idp, &key_client(&idp, &key, &[]));
    let (id, iss) = (rp.reg.client_id.clone(), idp.issuer());
    // OIDC Core §3.1.2.1: the request may be a form POST; the object travels in the body.
    let pending = rp.authorize(&[], &[]);
    let object = request_object(&pending, &key, &id, &iss, now() + 300);
    let browser = Browser::new(&idp);
    let posted =
        browser.post_form(&rp.endpoint("authorization_endpoint"), &[("client_id", id.as_str()), ("request", &object)]);
    let next = posted.location.clone().unwrap_or_else(|| panic!("no redirect: {posted:?}"));
    let flow = browser.run_flow(&next, Credentials::Password(&citizen.national_id, &citizen.password));
    redeem(&rp, &key, &pending, &rp.code_from(&pending, &flow.redirect), "ro-post-1");

    // A client that must push: a signed request sent straight to /authorize is still refused.
    idp.admin_json(&["client", "update", &id, "--require-par", "true"]);
    let pending = rp.authorize(&[], &[]);
    let page = Browser::new(&idp).get(&by_value(&rp, &request_object(&pending, &key, &id, &iss, now() + 300)));
    let to = page.location.clone().unwrap_or_else(|| panic!("no redirect: {page:?}"));
    assert_eq!(oauth::query_param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
    assert_eq!(oauth::query_param(&to, "state").as_deref(), Some(pending.state.as_str()), "{to}");
}
