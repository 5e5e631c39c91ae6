use e2e::browser::visible_text;
use e2e::{Browser, Credentials, Idp, Rp, SignUpForm};
use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{AccessToken, SubjectIdentifier};
use serde_json::json;

use crate::now;

/// Initiating User Registration via OpenID Connect 1.0: `prompt=create`
/// opens the sign-up page instead of the login page, even in a browser
/// another citizen is signed in to, and the new account gets the code.
#[test]
fn prompt_create_starts_at_the_sign_up_page() {
    let idp = Idp::start();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    assert!(rp.discovery["prompt_values_supported"].as_array().unwrap().contains(&json!("create")));
    let browser = Browser::new(&idp);
    let someone = idp.citizen();
    let before = rp.sign_in(&browser, &[], &[], Credentials::Password(&someone.national_id, &someone.password));

    let form = SignUpForm {
        national_id: "001195004321".into(),
        full_name: "Vũ Thị Hạnh".into(),
        email: "hanh.vu@example.vn".into(),
        password: "Hoa-sen-Tay-Ho-1995".into(),
    };
    let pending = rp.authorize(&["profile"], &[("prompt", "create")]);
    let flow = browser.run_flow(&pending.url, Credentials::SignUp(&form));
    assert!(flow.visited("/signup") && !flow.visited("/login"), "visited {:?}", flow.visited);
    let tokens = rp.exchange(&pending, &rp.code_from(&pending, &flow.redirect));
    assert_ne!(tokens.claims.subject(), before.claims.subject(), "the new account, not the one signed in before");
    assert_eq!(rp.userinfo(&tokens.access_token).ok_json()["name"], form.full_name.as_str());

    // prompt=none cannot show a page: create with none is refused.
    let silent = rp.authorize(&[], &[("prompt", "none create")]);
    let back = browser.get(&silent.url).location.expect("redirect to the client");
    assert_eq!(e2e::query_param(&back, "error").as_deref(), Some("invalid_request"), "{back}");
}

#[test]
fn new_citizen_signs_up_and_the_rp_gets_validated_tokens_and_userinfo() {
    let idp = Idp::start();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);
    let form = SignUpForm {
        national_id: "079195001234".into(),
        full_name: "Trần Thị Bình".into(),
        email: "binh.tran@example.vn".into(),
        password: "Mua-thu-Ha-Noi-1975".into(),
    };

    let before = now();
    let pending = rp.authorize(&["profile", "email"], &[]);
    let flow = browser.run_flow(&pending.url, Credentials::SignUp(&form));
    assert!(flow.visited("/login"), "visited {:?}", flow.visited);
    let code = rp.code_from(&pending, &flow.redirect);
    // `exchange` checks signature, iss, aud, exp, nonce and at_hash through openidconnect.
    let tokens = rp.exchange(&pending, &code);
    let after = now();

    let claims = &tokens.claims;
    assert_eq!(claims.issuer().as_str(), idp.issuer());
    assert_eq!(claims.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), [reg.client_id.as_str()]);
    let auth_time = tokens.auth_time();
    assert!((before - 1..=after + 1).contains(&auth_time), "auth_time {auth_time} outside [{before}, {after}]");
    let raw = &tokens.id_payload;
    assert!(raw["at_hash"].is_string(), "no at_hash in {raw}");
    assert_eq!(raw["acr"], "LoA1");
    assert_eq!(raw["amr"], json!(["pwd"]));
    assert!(raw["sid"].as_str().is_some_and(|s| !s.is_empty()), "no sid in {raw}");
    let sub = claims.subject().as_str();
    // The subject is a stable random id, never the national ID number.
    assert!(!sub.contains(&form.national_id), "sub {sub} reveals the national ID");
    assert!(raw.get("national_id").is_none());

    let info = rp.userinfo(&tokens.access_token);
    assert_eq!(info.status, 200, "{info:?}");
    assert_eq!(info.json["sub"], sub);
    assert_eq!(info.json["name"], form.full_name.as_str());
    assert_eq!(info.json["email"], form.email.as_str());
    assert!(info.json.get("national_id").is_none(), "national_id released without its scope: {}", info.json);
    // The library's own UserInfo call accepts the response for the same subject.
    let _: CoreUserInfoClaims = rp
        .client
        .user_info(AccessToken::new(tokens.access_token.clone()), Some(SubjectIdentifier::new(sub.to_owned())))
        .unwrap()
        .request(&rp.http)
        .unwrap_or_else(|e| panic!("openidconnect rejects userinfo: {e:?}"));
}

#[test]
fn admin_created_citizen_logs_in_with_national_id_or_email() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);

    let by_id = rp.sign_in(
        &Browser::new(&idp),
        &["profile"],
        &[],
        Credentials::Password(&citizen.national_id, &citizen.password),
    );
    let by_email =
        rp.sign_in(&Browser::new(&idp), &["profile"], &[], Credentials::Password(&citizen.email, &citizen.password));
    assert_eq!(by_id.claims.subject(), by_email.claims.subject());
    assert_eq!(citizen.view["subject"], by_id.claims.subject().as_str());
    let info = rp.userinfo(&by_email.access_token);
    assert_eq!(info.json["name"], citizen.full_name.as_str());
}

/// RFC 8252 §7.3: a native app registered with a loopback redirect listens
/// on whatever port it gets; any port of that address is its redirect URI,
/// and nothing else about the URI may change.
#[test]
fn a_native_app_signs_in_through_a_loopback_redirect_on_another_port() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&["--type", "public"]);
    let registered = url::Url::parse(&reg.redirect_uri).unwrap();
    // Another port than the registered one (nothing needs to listen there: the
    // browser's redirect is read, not followed).
    let port = registered.port().unwrap() ^ 1;
    let mut moved = registered.clone();
    moved.set_port(Some(port)).unwrap();
    let app = Rp::new(&idp, &e2e::TestClient { redirect_uri: moved.to_string(), ..reg.clone() });
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);
    let tokens = app.sign_in(&Browser::new(&idp), &["profile"], &[], creds);
    assert_eq!(citizen.view["subject"], tokens.claims.subject().as_str());

    // Another path on that address is not the app's: an error page, no redirect.
    let mut elsewhere = moved.clone();
    elsewhere.set_path("/other");
    let stranger = Rp::new(&idp, &e2e::TestClient { redirect_uri: elsewhere.to_string(), ..reg });
    let refused = Browser::new(&idp).get(&stranger.authorize(&["profile"], &[]).url);
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.location.is_none(), "{refused:?}");
}

#[test]
fn national_id_claim_is_released_only_with_the_national_id_scope() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&["--scope", "openid", "--scope", "profile", "--scope", "national_id"]);
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);

    let without =
        rp.sign_in(&browser, &["profile"], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    let info = rp.userinfo(&without.access_token);
    assert_eq!(info.status, 200, "{info:?}");
    assert!(info.json.get("national_id").is_none(), "national_id without its scope: {}", info.json);
    assert!(without.id_payload.get("national_id").is_none());

    let with = rp.sign_in(&browser, &["profile", "national_id"], &[], Credentials::None);
    let info = rp.userinfo(&with.access_token);
    assert_eq!(info.status, 200, "{info:?}");
    assert_eq!(info.json["national_id"], citizen.national_id.as_str());
}

/// Removes what legitimately differs between two renderings of one page: random tokens and
/// request ids (long runs of id characters).
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            let idish = word.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').count();
            if idish >= 16 { "#" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn wrong_password_and_unknown_user_see_the_same_page() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);

    let pending = rp.authorize(&[], &[]);
    let start = browser.get(&pending.url);
    assert_eq!(start.status, 303, "{start:?}");
    let login = start.location.clone().unwrap();
    assert_eq!(login.path(), "/login");
    let fresh = browser.get(&login);

    let wrong = browser.submit_login(&login, &citizen.national_id, "Sai-mat-khau-0000");
    let unknown = browser.submit_login(&login, "001090099999", "Sai-mat-khau-0000");
    // The form comes back (the contract says 200; 401 is tolerated) with the same status.
    assert!(matches!(wrong.status, 200 | 401), "wrong password: {wrong:?}");
    assert_eq!(unknown.status, wrong.status, "unknown user: {unknown:?}");
    assert!(wrong.location.is_none() && unknown.location.is_none());
    assert_eq!(normalise(&wrong.text()), normalise(&unknown.text()), "the two failures are distinguishable");
    assert_ne!(
        normalise(&wrong.text()),
        normalise(&visible_text(&fresh.body)),
        "a failed login shows no error message"
    );
    // What the citizen typed stays in the form, so only the password is typed again.
    for (page, typed) in [(&wrong, citizen.national_id.as_str()), (&unknown, "001090099999")] {
        assert!(page.body.contains("id=\"identifier\" name=\"identifier\""), "{page:?}");
        assert!(page.body.contains(&format!("value=\"{typed}\"")), "the identifier was not kept: {}", page.body);
    }

    // A NUL (which no identifier holds, and PostgreSQL text cannot) is a bad request, not a 500.
    let nul = browser.submit_login(&login, "\0", "Sai-mat-khau-0000");
    assert_eq!(nul.status, 400, "{nul:?}");

    // The same login request still completes with the right password.
    let ok = browser.submit_login(&login, &citizen.national_id, &citizen.password);
    assert_eq!(ok.status, 303, "{ok:?}");
    assert_eq!(ok.location.as_ref().unwrap().path(), "/authorize/continue");
    let flow = browser.run_flow(ok.location.as_ref().unwrap(), Credentials::None);
    rp.code_from(&pending, &flow.redirect);
}

#[test]
fn session_cookie_is_httponly_lax_and_renewed_at_login() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);
    // Session fixation: a value planted before login must not survive it.
    browser.plant_cookie("motcua_sid", "planted-by-another-site");

    let pending = rp.authorize(&[], &[]);
    let start = browser.get(&pending.url);
    let login = start.location.clone().expect("redirect to login");
    assert_eq!(login.path(), "/login");
    let before = browser.cookie("motcua_sid");

    let posted = browser.submit_login(&login, &citizen.national_id, &citizen.password);
    assert_eq!(posted.status, 303, "{posted:?}");
    let set_cookie = posted.set_cookie("motcua_sid").expect("login response sets motcua_sid");
    let attributes = set_cookie.to_ascii_lowercase();
    assert!(attributes.contains("httponly"), "{set_cookie}");
    assert!(attributes.contains("samesite=lax"), "{set_cookie}");
    let after = browser.cookie("motcua_sid").expect("session cookie kept");
    assert_ne!(Some(&after), before.as_ref(), "session id not renewed at login");
    assert_ne!(after, "planted-by-another-site");

    let flow = browser.run_flow(posted.location.as_ref().unwrap(), Credentials::None);
    let code = rp.code_from(&pending, &flow.redirect);
    rp.exchange(&pending, &code);
}
