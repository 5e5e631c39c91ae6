use std::time::Duration;

use e2e::{Browser, Credentials, Idp, Rp, query_param};

#[test]
fn second_client_gets_a_code_without_a_second_login() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let first = Rp::new(&idp, &idp.register_client(&[]));
    let second = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);

    let at_first =
        first.sign_in(&browser, &["profile"], &[], Credentials::Password(&citizen.national_id, &citizen.password));

    let pending = second.authorize(&["profile"], &[]);
    // Credentials::None: reaching /login fails the test.
    let flow = browser.run_flow(&pending.url, Credentials::None);
    assert!(!flow.visited("/login"), "visited {:?}", flow.visited);
    let code = second.code_from(&pending, &flow.redirect);
    let at_second = second.exchange(&pending, &code);
    assert_eq!(
        at_second.auth_time(),
        at_first.auth_time(),
        "the second client's ID token reports a new authentication"
    );
    assert_eq!(at_second.id_payload["acr"], "LoA1");
}

#[test]
fn consent_is_remembered_for_the_same_client_and_scopes() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);

    let pending = rp.authorize(&["profile", "email"], &[]);
    let first = browser.run_flow(&pending.url, Credentials::Password(&citizen.email, &citizen.password));
    assert!(first.visited("/consent"), "visited {:?}", first.visited);
    rp.exchange(&pending, &rp.code_from(&pending, &first.redirect));

    let pending = rp.authorize(&["profile", "email"], &[]);
    let second = browser.run_flow(&pending.url, Credentials::None);
    assert!(!second.visited("/consent") && !second.visited("/login"), "visited {:?}", second.visited);
    rp.exchange(&pending, &rp.code_from(&pending, &second.redirect));
}

#[test]
fn denied_consent_returns_access_denied_to_the_client() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);

    let pending = rp.authorize(&["profile"], &[]);
    let start = browser.get(&pending.url);
    let login = start.location.expect("redirect to login");
    let posted = browser.submit_login(&login, &citizen.national_id, &citizen.password);
    let cont = browser.get(posted.location.as_ref().expect("redirect after login"));
    let consent = cont.location.expect("redirect to consent");
    assert_eq!(consent.path(), "/consent");
    let denied = browser.consent(&consent, "deny");
    assert_eq!(denied.status, 303, "{denied:?}");
    let back = denied.location.expect("redirect to client");
    assert!(back.as_str().starts_with(&rp.reg.redirect_uri), "{back}");
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&back, "state").as_deref(), Some(pending.state.as_str()));
    assert!(query_param(&back, "code").is_none());
}

#[test]
fn prompt_none_without_a_session_returns_login_required() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let pending = rp.authorize(&[], &[("prompt", "none")]);
    let page = Browser::new(&idp).get(&pending.url);
    assert!(matches!(page.status, 302 | 303), "expected a redirect, got {page:?}");
    let back = page.location.expect("Location");
    assert!(back.as_str().starts_with(&rp.reg.redirect_uri), "{back}");
    assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(&back, "state").as_deref(), Some(pending.state.as_str()));
    assert!(query_param(&back, "code").is_none());
}

/// Signs in once, waits past a second, then sends a request with `extra` that must force the
/// login page again; the new ID token must report the new authentication.
fn assert_forces_login(extra: &[(&str, &str)]) {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);

    let first = rp.sign_in(&browser, &[], &[], creds);
    // auth_time has one-second resolution.
    std::thread::sleep(Duration::from_millis(1100));

    let pending = rp.authorize(&[], extra);
    let flow = browser.run_flow(&pending.url, creds);
    assert!(flow.visited("/login"), "{extra:?} did not show the login page; visited {:?}", flow.visited);
    let second = rp.exchange(&pending, &rp.code_from(&pending, &flow.redirect));
    assert!(
        second.auth_time() > first.auth_time(),
        "auth_time {} not later than {}",
        second.auth_time(),
        first.auth_time()
    );
}

#[test]
fn prompt_login_forces_the_login_page_despite_a_session() {
    assert_forces_login(&[("prompt", "login")]);
}

#[test]
fn max_age_zero_forces_the_login_page_despite_a_session() {
    assert_forces_login(&[("max_age", "0")]);
}

#[test]
fn session_survives_a_server_restart() {
    let mut idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);
    let before = rp.sign_in(&browser, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));

    idp.restart();

    // Same browser, same RP (with the JWKS it cached before the restart).
    let after = rp.sign_in(&browser, &[], &[], Credentials::None);
    assert_eq!(after.claims.subject(), before.claims.subject());
    assert_eq!(after.auth_time(), before.auth_time());
}
