use std::time::Duration;

use e2e::oauth::{self, ClientAuth};
use e2e::{Browser, Credentials, Idp, Page, Rp};
use openidconnect::OAuth2TokenResponse as _;

use crate::tokens::{client_assertion, key_client, rsa_jwk};

/// The `request_uri` of a successful push, after checking the RFC 9126 §2.2 answer.
fn request_uri(reply: &oauth::Reply) -> String {
    assert_eq!(reply.status, 201, "push refused: {reply:?}");
    assert_eq!(reply.header("cache-control"), "no-store", "{reply:?}");
    assert!(reply.header("content-type").starts_with("application/json"), "{reply:?}");
    let uri = reply.json["request_uri"].as_str().unwrap_or_else(|| panic!("no request_uri in {reply:?}"));
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{uri}");
    uri.to_owned()
}

/// The translated page shown for a request_uri that cannot be used: no redirect anywhere.
fn assert_request_uri_page(page: &Page, what: &str) {
    assert_eq!((page.status, page.location.as_ref()), (400, None), "{what}: {page:?}");
    let text = page.text();
    assert!(text.contains("đã hết hạn hoặc đã được dùng") && text.contains("invalid_request_uri"), "{what}: {text}");
}

#[test]
fn a_pushed_request_signs_the_citizen_in_and_its_request_uri_works_once() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    assert_eq!(rp.discovery["pushed_authorization_request_endpoint"], format!("{}/par", idp.issuer()));
    assert_eq!(rp.discovery["require_pushed_authorization_requests"], false);

    let pending = rp.authorize(&["profile"], &[]);
    let pushed = rp.push(&pending, rp.auth(), &[]);
    assert_eq!(pushed.json["expires_in"], 60, "{pushed:?}");
    let url = rp.pushed_url(&request_uri(&pushed));
    // Only client_id and request_uri travel through the browser.
    assert_eq!(url.query_pairs().count(), 2, "{url}");
    let browser = Browser::new(&idp);
    let flow = browser.run_flow(&url, Credentials::Password(&citizen.national_id, &citizen.password));
    // The pushed state, nonce (checked by openidconnect), PKCE challenge and scopes were used.
    let code = rp.code_from(&pending, &flow.redirect);
    let tokens = rp.exchange(&pending, &code);
    assert_eq!(rp.userinfo(&tokens.access_token).json["name"], citizen.full_name.as_str());

    // RFC 9126 §4: one use. The same link again (a reload, a copied link) shows a page.
    assert_request_uri_page(&Browser::new(&idp).get(&url), "used request_uri");

    // Parameters beside the request_uri are ignored: the pushed ones are the request.
    let second = rp.authorize(&["profile"], &[]);
    let mut tampered = rp.pushed_url(&request_uri(&rp.push(&second, rp.auth(), &[])));
    tampered
        .query_pairs_mut()
        .append_pair("redirect_uri", "http://127.0.0.1:1/evil")
        .append_pair("state", "tampered")
        .append_pair("scope", "openid email phone");
    // Single sign-on: the same browser comes straight back, to the registered redirect URI.
    let sso = browser.run_flow(&tampered, Credentials::Password(&citizen.national_id, &citizen.password));
    assert!(!sso.visited("/login"), "asked to sign in again: {:?}", sso.visited);
    let tokens = rp.exchange(&second, &rp.code_from(&second, &sso.redirect));
    assert_eq!(tokens.response.scopes().map(|s| s.len()), Some(2), "{:?}", tokens.response.scopes());
}

#[test]
fn a_request_uri_is_refused_to_another_client_when_unknown_and_when_expired() {
    let idp = Idp::start_with_env(&[("IDP_PAR_TTL", "1")]);
    let a = Rp::new(&idp, &idp.register_client(&[]));
    let b = Rp::new(&idp, &idp.register_client(&[]));
    let pushed = request_uri(&a.push(&a.authorize(&[], &[]), a.auth(), &[]));
    assert_eq!(a.push(&a.authorize(&[], &[]), a.auth(), &[]).json["expires_in"], 1);
    assert_request_uri_page(&Browser::new(&idp).get(&b.pushed_url(&pushed)), "another client's request_uri");
    let unknown = "urn:ietf:params:oauth:request_uri:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_request_uri_page(&Browser::new(&idp).get(&a.pushed_url(unknown)), "unknown request_uri");

    let late = request_uri(&a.push(&a.authorize(&[], &[]), a.auth(), &[]));
    std::thread::sleep(Duration::from_millis(2100));
    assert_request_uri_page(&Browser::new(&idp).get(&a.pushed_url(&late)), "expired request_uri");

    // The request is checked again at the visit: a client disabled since the push gets nothing.
    let before_disable = request_uri(&a.push(&a.authorize(&[], &[]), a.auth(), &[]));
    idp.admin_json(&["client", "disable", &a.reg.client_id]);
    let page = Browser::new(&idp).get(&a.pushed_url(&before_disable));
    assert_eq!((page.status, page.location.as_ref()), (400, None), "disabled client: {page:?}");

    // A request_uri that is not ours (a request object by reference) goes back to the client
    // as request_uri_not_supported, as before PAR (client `a` is disabled by now).
    let pending = b.authorize(&[], &[("request_uri", "https://rp.example.vn/request.jwt")]);
    let page = Browser::new(&idp).get(&pending.url);
    let to = page.location.clone().unwrap_or_else(|| panic!("no redirect: {page:?}"));
    assert_eq!(oauth::query_param(&to, "error").as_deref(), Some("request_uri_not_supported"), "{to}");
}

#[test]
fn a_client_that_must_push_is_refused_direct_requests() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&["--require-par", "true"]);
    assert_eq!(reg.view["require_pushed_authorization_requests"], true, "{}", reg.view);
    let rp = Rp::new(&idp, &reg);

    // RFC 9126 §5: the error goes back to the (registered) redirect URI.
    let direct = rp.authorize(&[], &[]);
    let page = Browser::new(&idp).get(&direct.url);
    let to = page.location.clone().unwrap_or_else(|| panic!("no redirect: {page:?}"));
    assert_eq!(oauth::query_param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
    assert_eq!(oauth::query_param(&to, "state").as_deref(), Some(direct.state.as_str()));

    let pending = rp.authorize(&[], &[]);
    let url = rp.pushed_url(&request_uri(&rp.push(&pending, rp.auth(), &[])));
    let flow = Browser::new(&idp).run_flow(&url, Credentials::Password(&citizen.email, &citizen.password));
    rp.exchange(&pending, &rp.code_from(&pending, &flow.redirect));

    // The admin lifts the requirement: direct requests work again.
    let updated = idp.admin_json(&["client", "update", &reg.client_id, "--require-par", "false"]);
    assert_eq!(updated["client"]["require_pushed_authorization_requests"], false, "{updated}");
    let shown = idp.admin(&["client", "show", &reg.client_id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.lines().any(|l| l.starts_with("PAR required") && l.ends_with(" no")), "{shown}");
    let again = rp.authorize(&[], &[]);
    let flow = Browser::new(&idp).run_flow(&again.url, Credentials::Password(&citizen.email, &citizen.password));
    rp.code_from(&again, &flow.redirect);
}

#[test]
fn a_private_key_jwt_client_pushes_with_an_assertion_for_the_par_endpoint() {
    let idp = Idp::start();
    let private = rsa_jwk();
    let reg = key_client(&idp, &private, &[]);
    let rp = Rp::new(&idp, &reg);
    let par = rp.endpoint("pushed_authorization_request_endpoint");
    let assertion = |aud: &str, jti: &str| client_assertion(&private, &reg.client_id, aud, jti);
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let pending = rp.authorize(&[], &[]);

    // RFC 9126 §2: the PAR endpoint's URL is a valid audience, as are the issuer's and the token endpoint's.
    for (aud, jti) in [(par.to_string(), "par-1"), (idp.issuer(), "par-2")] {
        let a = assertion(&aud, jti);
        let form = [("client_assertion_type", jwt_bearer), ("client_assertion", a.as_str())];
        request_uri(&rp.push(&pending, ClientAuth::None, &form));
    }
    let elsewhere = assertion(&format!("{}/introspect", idp.issuer()), "par-3");
    let form = [("client_assertion_type", jwt_bearer), ("client_assertion", elsewhere.as_str())];
    let refused = rp.push(&pending, ClientAuth::None, &form);
    assert_eq!((refused.status, refused.error()), (401, "invalid_client"), "{refused:?}");
    // An assertion meant for /par is good at /par only, not at the token endpoint.
    let for_par = assertion(par.as_str(), "par-4");
    let at_token = oauth::post_form(
        &rp.http,
        &rp.endpoint("token_endpoint"),
        ClientAuth::None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_assertion_type", jwt_bearer),
            ("client_assertion", for_par.as_str()),
        ],
    );
    assert_eq!((at_token.status, at_token.error()), (401, "invalid_client"), "{at_token:?}");
}

#[test]
fn a_public_client_pushes_with_its_client_id_and_the_browser_may_post_the_reference() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&["--type", "public"]));
    let pending = rp.authorize(&["profile"], &[]);
    let pushed = rp.push(&pending, ClientAuth::None, &[]);
    let uri = request_uri(&pushed);
    // OIDC Core §3.1.2.1: the authorization request may be a form POST; it carries the reference.
    let browser = Browser::new(&idp);
    let posted = browser
        .post_form(&rp.endpoint("authorization_endpoint"), &[("client_id", &rp.reg.client_id), ("request_uri", &uri)]);
    let next = posted.location.clone().unwrap_or_else(|| panic!("no redirect: {posted:?}"));
    let flow = browser.run_flow(&next, Credentials::Password(&citizen.national_id, &citizen.password));
    let tokens = rp.exchange(&pending, &rp.code_from(&pending, &flow.redirect));
    assert_eq!(tokens.claims.subject().as_str(), citizen.view["subject"].as_str().unwrap());
}

#[test]
fn the_par_endpoint_answers_bad_pushes_with_rfc6749_errors() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let other = idp.register_client(&[]);
    let secret = rp.reg.secret.clone().unwrap();
    let pending = rp.authorize(&[], &[]);
    let with = |extra: &[(&str, &str)]| {
        // Later fields do not replace earlier ones (they are repeats): drop the ones replaced.
        let mut url = pending.url.clone();
        let kept: Vec<(String, String)> =
            url.query_pairs().into_owned().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)).collect();
        url.query_pairs_mut().clear().extend_pairs(kept).extend_pairs(extra);
        let p = e2e::Pending { url, state: String::new(), nonce: pending.nonce.clone(), verifier: String::new() };
        rp.push(&p, rp.auth(), &[])
    };
    let cases: Vec<(&str, oauth::Reply, u16, &str)> = vec![
        ("no client authentication", rp.push(&pending, ClientAuth::None, &[]), 401, "invalid_client"),
        (
            "wrong secret",
            rp.push(&pending, ClientAuth::Basic(&rp.reg.client_id, &format!("{secret}x")), &[]),
            401,
            "invalid_client",
        ),
        ("client_id of another client", with(&[("client_id", &other.client_id)]), 400, "invalid_request"),
        ("unregistered redirect_uri", with(&[("redirect_uri", "http://127.0.0.1:1/evil")]), 400, "invalid_request"),
        ("scope not allowed", with(&[("scope", "openid national_id")]), 400, "invalid_scope"),
        ("no response_type", with(&[("response_type", "")]), 400, "invalid_request"),
        ("response_type token", with(&[("response_type", "token")]), 400, "unsupported_response_type"),
        (
            "a request_uri pushed",
            with(&[("request_uri", "urn:ietf:params:oauth:request_uri:x")]),
            400,
            "invalid_request",
        ),
        ("PKCE plain", with(&[("code_challenge_method", "plain")]), 400, "invalid_request"),
        ("an unsigned request object", with(&[("request", "eyJhbGciOiJub25lIn0.e30.")]), 400, "invalid_request_object"),
    ];
    let mut failures = Vec::new();
    for (name, reply, status, error) in cases {
        if (reply.status, reply.error()) != (status, error) || reply.json["error_description"].as_str().is_none() {
            failures.push(format!("{name}: expected {status} {error}, got {reply:?}"));
        }
    }
    let not_a_form = rp
        .http
        .post(rp.endpoint("pushed_authorization_request_endpoint"))
        .header("authorization", oauth::basic_auth(&rp.reg.client_id, &secret))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let not_a_form = oauth::reply(not_a_form);
    if (not_a_form.status, not_a_form.error()) != (400, "invalid_request") {
        failures.push(format!("JSON body: {not_a_form:?}"));
    }
    let get = rp.http.get(rp.endpoint("pushed_authorization_request_endpoint")).send().unwrap();
    if get.status() != 405 {
        failures.push(format!("GET: {}", get.status()));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
