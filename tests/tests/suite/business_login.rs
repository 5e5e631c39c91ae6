use e2e::oauth;
use e2e::{Browser, Citizen, Credentials, Idp, Page, Pending, Rp, TestClient, Tokens, jwt_payload};
use url::Url;

/// RFC 8693 §2.1 grant type and §3 token type.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Two businesses with valid tax codes (check digit per Circular 105/2020/TT-BTC).
const HOA_SEN: (&str, &str) = ("0100109106", "Công ty TNHH Hoa Sen");
const SEN_VANG: (&str, &str) = ("0101245486", "Công ty Cổ phần Sen Vàng");

/// Where a walk through the IdP's pages stopped.
#[derive(Debug)]
enum Stop {
    /// On the business chooser.
    Chooser(Url),
    /// Back at the client: its redirect URI with the code or error.
    Left(Url),
}

impl Stop {
    fn chooser(self) -> Url {
        match self {
            Stop::Chooser(url) => url,
            Stop::Left(url) => panic!("expected the business chooser, left for {url}"),
        }
    }
    fn left(self) -> Url {
        match self {
            Stop::Left(url) => url,
            Stop::Chooser(url) => panic!("expected to leave the IdP, stopped at {url}"),
        }
    }
}

/// Follows redirects from `page`, answering the login page with `creds` and allowing consent,
/// until the chooser or the client.
fn follow(idp: &Idp, browser: &Browser, mut page: Page, creds: Credentials<'_>) -> Stop {
    for _ in 0..20 {
        let next = page.location.clone().unwrap_or_else(|| panic!("no redirect from {}: {}", page.url, page.text()));
        if next.origin() != idp.url("/").origin() {
            return Stop::Left(next);
        }
        page = match (next.path(), creds) {
            ("/choose-business", _) => return Stop::Chooser(next),
            ("/login", Credentials::Password(id, password)) => browser.submit_login(&next, id, password),
            ("/login", _) => panic!("unexpected login page {next}"),
            ("/consent", _) => browser.consent(&next, "allow"),
            _ => browser.get(&next),
        };
    }
    panic!("more than 20 redirects");
}

/// Posts `choice` (a tax code, `myself` or `cancel`) on the chooser page at `url`.
fn choose(idp: &Idp, browser: &Browser, url: &Url, choice: &str) -> Page {
    let page = browser.get(url);
    assert_eq!(page.status, 200, "chooser: {page:?}");
    let fields = [("csrf", page.hidden("csrf")), ("req", page.hidden("req")), ("choice", choice.to_owned())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post_form(&idp.url("/choose-business"), &fields)
}

/// A citizen, both businesses with the citizen as legal representative, and a service asking
/// for the `business` scope (refresh tokens and token exchange allowed).
struct World {
    idp: Idp,
    citizen: Citizen,
    reg: TestClient,
    /// `sub` of each business for public clients, by tax code.
    subjects: Vec<(String, String)>,
}

impl World {
    fn new(extra: &[&str]) -> Self {
        let idp = Idp::start();
        let citizen = idp.citizen();
        let mut subjects = Vec::new();
        for (tax_code, name) in [HOA_SEN, SEN_VANG] {
            let created = idp.admin_json(&["business", "create", "--tax-code", tax_code, "--name", name]);
            let subject = created["subject"].as_str().unwrap_or_else(|| panic!("no subject in {created}"));
            subjects.push((tax_code.to_owned(), subject.to_owned()));
            let nid = citizen.national_id.as_str();
            idp.admin_json(&[
                "business",
                "add-member",
                tax_code,
                "--national-id",
                nid,
                "--role",
                "legal_representative",
            ]);
        }
        let reg = idp.register_client(&business_client(extra));
        World { idp, citizen, reg, subjects }
    }

    fn subject_of(&self, tax_code: &str) -> &str {
        &self.subjects.iter().find(|(t, _)| t == tax_code).expect("known business").1
    }

    fn password(&self) -> Credentials<'_> {
        Credentials::Password(&self.citizen.national_id, &self.citizen.password)
    }
}

/// `client register` arguments for a service of the test organisation using businesses.
fn business_client<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--scope", "openid", "--scope", "business", "--scope", "offline_access"];
    for grant in ["authorization_code", "refresh_token", TOKEN_EXCHANGE] {
        args.extend(["--grant-type", grant]);
    }
    args.extend_from_slice(extra);
    args
}

/// Signs in (password, or SSO), picks `tax_code` on the chooser and returns validated tokens.
fn sign_in_for(w: &World, rp: &Rp, browser: &Browser, tax_code: &str) -> Tokens {
    let pending = rp.authorize(&["business", "offline_access"], &[("prompt", "consent")]);
    let chooser = follow(&w.idp, browser, browser.get(&pending.url), w.password()).chooser();
    let chosen = choose(&w.idp, browser, &chooser, tax_code);
    let redirect = follow(&w.idp, browser, chosen, Credentials::None).left();
    tokens(rp, &pending, &redirect)
}

fn tokens(rp: &Rp, pending: &Pending, redirect: &Url) -> Tokens {
    let code = rp.code_from(pending, redirect);
    rp.exchange(pending, &code)
}

#[test]
fn a_representative_of_two_businesses_acts_for_the_one_chosen() {
    let w = World::new(&[]);
    let rp = Rp::new(&w.idp, &w.reg);
    let browser = Browser::new(&w.idp);
    let pending = rp.authorize(&["business", "offline_access"], &[("prompt", "consent")]);
    let chooser = follow(&w.idp, &browser, browser.get(&pending.url), w.password()).chooser();

    // Both businesses are offered, by name and tax code; nothing is picked for the citizen.
    let page = browser.get(&chooser);
    let text = page.text();
    for (tax_code, name) in [HOA_SEN, SEN_VANG] {
        assert!(text.contains(name) && text.contains(tax_code), "{text}");
    }
    assert!(text.contains("Người đại diện theo pháp luật"), "{text}");
    assert!(!page.body.contains("checked"), "preselected without a hint: {}", page.body);
    assert!(!page.body.contains(r#"value="myself""#), "myself offered without the client allowing it");

    // The second one; consent names it and what the service learns about it.
    let chosen = choose(&w.idp, &browser, &chooser, SEN_VANG.0);
    let consent_url = chosen.location.clone().expect("redirect after the choice");
    assert_eq!(consent_url.path(), "/consent");
    let consent = browser.get(&consent_url).text();
    assert!(consent.contains(&format!("Bạn đang đại diện cho: {} ({})", SEN_VANG.1, SEN_VANG.0)), "{consent}");
    assert!(consent.contains("mã số thuế, tên và vai trò của bạn"), "{consent}");
    let redirect = follow(&w.idp, &browser, browser.consent(&consent_url, "allow"), Credentials::None).left();
    let t = tokens(&rp, &pending, &redirect);

    let citizen_sub = w.citizen.view["subject"].as_str().expect("citizen subject");
    let id = &t.id_payload;
    assert_eq!(id["sub"], w.subject_of(SEN_VANG.0), "{id}");
    assert_eq!(id["business"]["tax_code"], SEN_VANG.0);
    assert_eq!(id["business"]["name"], SEN_VANG.1);
    assert_eq!(id["business"]["role"], "legal_representative");
    assert_eq!(id["business"]["verified"], true);
    // RFC 8693 §4.1: the citizen is the actor.
    assert_eq!(id["act"]["sub"], citizen_sub);
    let at = jwt_payload(&t.access_token);
    assert_eq!((&at["sub"], &at["business"], &at["act"]), (&id["sub"], &id["business"], &id["act"]));

    // UserInfo and introspection (access and refresh tokens) say the same.
    let info = rp.userinfo(&t.access_token);
    assert_eq!(info.status, 200, "{info:?}");
    assert_eq!(
        (&info.json["sub"], &info.json["business"], &info.json["act"]),
        (&id["sub"], &id["business"], &id["act"])
    );
    let refresh = t.refresh_token.clone().expect("refresh token");
    for token in [&t.access_token, &refresh] {
        let seen = rp.introspect(token);
        let seen = seen.ok_json();
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!((&seen["sub"], &seen["business"], &seen["act"]), (&id["sub"], &id["business"], &id["act"]));
    }

    // Removed from the business: the tokens stop working at once.
    let nid = w.citizen.national_id.as_str();
    w.idp.admin_json(&["business", "remove-member", SEN_VANG.0, "--national-id", nid]);
    assert_eq!(rp.introspect(&t.access_token).ok_json()["active"], false);
    assert_eq!(rp.introspect(&refresh).ok_json()["active"], false);
    let refreshed = rp.refresh(&refresh);
    assert_eq!((refreshed.status, refreshed.error()), (400, "invalid_grant"), "{refreshed:?}");
    assert_eq!(rp.userinfo(&t.access_token).status, 401);

    // Still a representative of the first business: signing in for it works.
    let again = sign_in_for(&w, &rp, &browser, HOA_SEN.0);
    assert_eq!(again.id_payload["business"]["tax_code"], HOA_SEN.0);
    assert_eq!(again.id_payload["sub"], w.subject_of(HOA_SEN.0));
}

/// The error `prompt=none` for `openid business` plus `extra` ends with, in `browser`.
fn silent_error(w: &World, rp: &Rp, browser: &Browser, extra: &[(&str, &str)]) -> Option<String> {
    let mut params = vec![("prompt", "none")];
    params.extend_from_slice(extra);
    let silent = rp.authorize(&["business"], &params);
    let redirect = follow(&w.idp, browser, browser.get(&silent.url), Credentials::None).left();
    oauth::query_param(&redirect, "error")
}

/// OIDC Core §3.1.2.6: `prompt=none` reuses only the business chosen at this service in this
/// SSO session, never one picked from the citizen's memberships.
#[test]
fn business_hint_preselects_and_prompt_none_reuses_only_this_sessions_choice() {
    let w = World::new(&[]);
    let rp = Rp::new(&w.idp, &w.reg);
    let browser = Browser::new(&w.idp);
    let pending = rp.authorize(&["business"], &[("business_hint", SEN_VANG.0)]);
    let chooser = follow(&w.idp, &browser, browser.get(&pending.url), w.password()).chooser();
    let page = browser.get(&chooser);
    assert!(page.body.contains(&format!(r#"value="{}" required checked"#, SEN_VANG.0)), "{}", page.body);
    assert!(!page.body.contains(&format!(r#"value="{}" required checked"#, HOA_SEN.0)));
    let redirect = follow(&w.idp, &browser, choose(&w.idp, &browser, &chooser, SEN_VANG.0), Credentials::None).left();
    assert_eq!(tokens(&rp, &pending, &redirect).id_payload["business"]["tax_code"], SEN_VANG.0);

    // prompt=none: the business chosen here in this session, with or without a hint naming it.
    for extra in [&[][..], &[("business_hint", SEN_VANG.0)][..]] {
        let mut params = vec![("prompt", "none")];
        params.extend_from_slice(extra);
        let silent = rp.authorize(&["business"], &params);
        let redirect = follow(&w.idp, &browser, browser.get(&silent.url), Credentials::None).left();
        assert_eq!(tokens(&rp, &silent, &redirect).id_payload["business"]["tax_code"], SEN_VANG.0);
    }
    // A hint naming the other business, which the citizen never chose here: the service must ask.
    let error = silent_error(&w, &rp, &browser, &[("business_hint", HOA_SEN.0)]);
    assert_eq!(error.as_deref(), Some("interaction_required"));

    // Another service the citizen never consented to: consent_required, whatever the businesses.
    let other = Rp::new(&w.idp, &w.idp.register_client(&business_client(&[])));
    assert_eq!(silent_error(&w, &other, &browser, &[]).as_deref(), Some("consent_required"));

    // Another SSO session (a new browser), signed in at the same service without the business
    // scope: the business chosen in the first session is not reused, even when hinted.
    let fresh = Browser::new(&w.idp);
    rp.sign_in(&fresh, &[], &[], w.password());
    let error = silent_error(&w, &rp, &fresh, &[("business_hint", SEN_VANG.0)]);
    assert_eq!(error.as_deref(), Some("interaction_required"));

    // A hint that is not a tax code is the service's mistake.
    let bad = rp.authorize(&["business"], &[("business_hint", "0100109105")]);
    let redirect = follow(&w.idp, &browser, browser.get(&bad.url), Credentials::None).left();
    assert_eq!(oauth::query_param(&redirect, "error").as_deref(), Some("invalid_request"), "{redirect}");
}

/// A choice that changes after the consent page (the business chosen first is gone) shows the
/// consent page again: it names the business the service will learn about.
#[test]
fn choosing_another_business_after_consent_asks_for_consent_again() {
    let w = World::new(&[]);
    let rp = Rp::new(&w.idp, &w.reg);
    let browser = Browser::new(&w.idp);
    let pending = rp.authorize(&["business"], &[("prompt", "consent")]);
    let chooser = follow(&w.idp, &browser, browser.get(&pending.url), w.password()).chooser();
    let consent_url = choose(&w.idp, &browser, &chooser, SEN_VANG.0).location.expect("to the consent page");
    assert_eq!(consent_url.path(), "/consent");
    // Removed from the business while the consent page is open.
    let nid = w.citizen.national_id.as_str();
    w.idp.admin_json(&["business", "remove-member", SEN_VANG.0, "--national-id", nid]);
    let chooser = follow(&w.idp, &browser, browser.consent(&consent_url, "allow"), Credentials::None).chooser();
    let again = choose(&w.idp, &browser, &chooser, HOA_SEN.0).location.expect("redirect after the choice");
    assert_eq!(again.path(), "/consent", "consent was not asked again for the new business");
    let text = browser.get(&again).text();
    assert!(text.contains(&format!("Bạn đang đại diện cho: {} ({})", HOA_SEN.1, HOA_SEN.0)), "{text}");
    let redirect = follow(&w.idp, &browser, browser.consent(&again, "allow"), Credentials::None).left();
    assert_eq!(tokens(&rp, &pending, &redirect).id_payload["business"]["tax_code"], HOA_SEN.0);
}

#[test]
fn a_citizen_without_a_business_is_told_why_and_sent_back() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&business_client(&[]));
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);
    let pending = rp.authorize(&["business"], &[]);
    let chooser = follow(&idp, &browser, browser.get(&pending.url), creds).chooser();
    let page = browser.get(&chooser);
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("chưa được ghi nhận là người đại diện hay người được ủy quyền"), "{text}");
    assert!(text.contains("Quay lại dịch vụ"), "{text}");
    assert!(!page.body.contains(r#"type="radio""#));
    let back = choose(&idp, &browser, &chooser, "cancel");
    let redirect = back.location.expect("back to the service");
    assert_eq!(oauth::query_param(&redirect, "error").as_deref(), Some("access_denied"), "{redirect}");
    assert_eq!(oauth::query_param(&redirect, "state").as_deref(), Some(pending.state.as_str()));

    // A service that lets citizens act as themselves offers that instead: ordinary citizen tokens.
    let reg = idp.register_client(&business_client(&["--business-self-allowed", "true"]));
    let rp = Rp::new(&idp, &reg);
    let pending = rp.authorize(&["business"], &[]);
    let chooser = follow(&idp, &browser, browser.get(&pending.url), Credentials::None).chooser();
    let page = browser.get(&chooser);
    assert!(page.body.contains(r#"value="myself""#), "{}", page.body);
    let redirect = follow(&idp, &browser, choose(&idp, &browser, &chooser, "myself"), Credentials::None).left();
    let t = tokens(&rp, &pending, &redirect);
    assert_eq!(t.id_payload["sub"], citizen.view["subject"]);
    assert!(t.id_payload.get("business").is_none() && t.id_payload.get("act").is_none(), "{}", t.id_payload);
}

/// OIDC Core §3.1.2.6: at a service that lets citizens act as themselves, `prompt=none` reuses
/// "myself" only where the citizen chose it in this SSO session; an ordinary sign-in there
/// (without the `business` scope) chose nothing.
#[test]
fn prompt_none_reuses_myself_only_when_chosen_in_this_session() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);
    let reg = idp.register_client(&business_client(&["--business-self-allowed", "true"]));
    let rp = Rp::new(&idp, &reg);
    let silent = |browser: &Browser| {
        let pending = rp.authorize(&["business"], &[("prompt", "none")]);
        let redirect = match follow(&idp, browser, browser.get(&pending.url), Credentials::None) {
            Stop::Left(url) => url,
            Stop::Chooser(url) => panic!("prompt=none showed the chooser: {url}"),
        };
        (pending, redirect)
    };

    // First session: "myself" chosen on the chooser (the business scope is consented here).
    let chose = Browser::new(&idp);
    let pending = rp.authorize(&["business"], &[]);
    let chooser = follow(&idp, &chose, chose.get(&pending.url), creds).chooser();
    let redirect = follow(&idp, &chose, choose(&idp, &chose, &chooser, "myself"), Credentials::None).left();
    assert_eq!(tokens(&rp, &pending, &redirect).id_payload["sub"], citizen.view["subject"]);

    // Second session: signed in at the same service without the business scope. prompt=none
    // with it must not take that sign-in for "myself".
    let plain = Browser::new(&idp);
    rp.sign_in(&plain, &[], &[], creds);
    let (_, redirect) = silent(&plain);
    assert_eq!(oauth::query_param(&redirect, "error").as_deref(), Some("interaction_required"), "{redirect}");

    // The first session chose "myself" here, even with an ordinary sign-in since: reused.
    rp.sign_in(&chose, &[], &[], Credentials::None);
    let (pending, redirect) = silent(&chose);
    let t = tokens(&rp, &pending, &redirect);
    assert_eq!(t.id_payload["sub"], citizen.view["subject"]);
    assert!(t.id_payload.get("business").is_none() && t.id_payload.get("act").is_none(), "{}", t.id_payload);
}

/// `POST /token` with the token-exchange grant as `rp`.
fn exchange(rp: &Rp, subject_token: &str, audience: &str, scope: Option<&str>) -> oauth::Reply {
    let mut params = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject_token),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", audience),
    ];
    if let Some(s) = scope {
        params.push(("scope", s));
    }
    rp.token(&params)
}

#[test]
fn token_exchange_stays_within_the_organisation() {
    let w = World::new(&[]);
    let portal = Rp::new(&w.idp, &w.reg);
    let browser = Browser::new(&w.idp);
    let t = sign_in_for(&w, &portal, &browser, HOA_SEN.0);
    let sibling = Rp::new(&w.idp, &w.idp.register_client(&["--scope", "openid", "--scope", "business"]));
    let sibling_id = sibling.reg.client_id.as_str();

    // To a sibling service: audience-restricted, narrower, the actors chained, the grant kept.
    let reply = exchange(&portal, &t.access_token, sibling_id, Some("openid business"));
    let body = reply.ok_json();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert!(body["token_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("bearer")));
    assert_eq!(body["scope"], "openid business");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none(), "{body}");
    let exchanged = body["access_token"].as_str().expect("access_token").to_owned();
    let claims = jwt_payload(&exchanged);
    let original = jwt_payload(&t.access_token);
    assert_eq!(claims["aud"], sibling_id);
    assert_eq!(claims["client_id"], portal.reg.client_id.as_str());
    assert_eq!(claims["sub"], w.subject_of(HOA_SEN.0));
    assert_eq!(claims["gid"], original["gid"]);
    assert_eq!(claims["business"]["tax_code"], HOA_SEN.0);
    assert_eq!(claims["act"]["sub"], portal.reg.client_id.as_str());
    assert_eq!(claims["act"]["act"], original["act"]);
    assert!(claims["exp"].as_i64() <= original["exp"].as_i64());
    // The audience checks what it was handed.
    let seen = sibling.introspect(&exchanged);
    assert_eq!(seen.ok_json()["active"], true, "{seen:?}");
    assert_eq!(seen.json["act"], claims["act"]);

    // Never wider than the subject token.
    let wider = exchange(&portal, &t.access_token, sibling_id, Some("openid business profile"));
    assert_eq!((wider.status, wider.error()), (400, "invalid_scope"), "{wider:?}");
    // RFC 8693 §2.1 lets a request name several audiences; a token serves one (§2.2.2).
    let two = portal.token(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", &t.access_token),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", sibling_id),
        ("audience", sibling_id),
    ]);
    assert_eq!((two.status, two.error()), (400, "invalid_target"), "{two:?}");
    // By default what both the subject token and the audience have, without offline_access.
    let default = exchange(&portal, &t.access_token, sibling_id, None);
    assert_eq!(default.ok_json()["scope"], "openid business", "{default:?}");
    let asked = exchange(&portal, &t.access_token, sibling_id, Some("openid offline_access"));
    assert_eq!(asked.ok_json()["scope"], "openid", "{asked:?}");
    // RFC 8693 §5: only the token's holder (its client, or its audience) may trade it in.
    let bystander = Rp::new(&w.idp, &w.idp.register_client(&business_client(&[])));
    let refused = exchange(&bystander, &t.access_token, sibling_id, None);
    assert_eq!((refused.status, refused.error()), (400, "invalid_request"), "{refused:?}");

    // Another organisation's service is no audience, and its tokens are no subject tokens.
    w.idp.admin_json(&["org", "create", "--code", "bo-tai-chinh", "--name", "Bộ Tài chính", "--kind", "ministry"]);
    let other = w.idp.admin_json(&[
        "client",
        "register",
        "--name",
        "Thuế điện tử",
        "--org",
        "bo-tai-chinh",
        "--type",
        "confidential",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--scope",
        "openid",
        "--grant-type",
        "authorization_code",
    ]);
    let other_id = other["client"]["client_id"].as_str().expect("client_id");
    let refused = exchange(&portal, &t.access_token, other_id, None);
    assert_eq!((refused.status, refused.error()), (400, "invalid_target"), "{refused:?}");
    let foreign_token = foreign_service(&w).sign_in(&browser, &[], &[], Credentials::None).access_token;
    let refused = exchange(&portal, &foreign_token, sibling_id, None);
    assert_eq!((refused.status, refused.error()), (400, "invalid_request"), "{refused:?}");

    // The citizen leaves the business: the exchanged token dies with the grant.
    let nid = w.citizen.national_id.as_str();
    w.idp.admin_json(&["business", "remove-member", HOA_SEN.0, "--national-id", nid]);
    assert_eq!(sibling.introspect(&exchanged).ok_json()["active"], false);
}

/// A confidential service of another organisation, with a redirect URI the RP helper serves.
fn foreign_service(w: &World) -> Rp {
    let [port] = e2e::server::free_ports();
    let redirect_uri = format!("http://127.0.0.1:{port}/cb");
    let out = w.idp.admin_json(&[
        "client",
        "register",
        "--name",
        "Hải quan một cửa",
        "--org",
        "bo-tai-chinh",
        "--type",
        "confidential",
        "--redirect-uri",
        &redirect_uri,
        "--scope",
        "openid",
    ]);
    let reg = TestClient {
        client_id: out["client"]["client_id"].as_str().expect("client_id").to_owned(),
        secret: out["client_secret"].as_str().map(str::to_owned),
        redirect_uri,
        view: out["client"].clone(),
    };
    Rp::new(&w.idp, &reg)
}

/// Back-Channel Logout §2.4: after a login for a business the logout token carries `sid` only.
/// The business's `sub` is shared by all its staff: a service logging out by `sub` would sign
/// every one of them out.
#[test]
fn logout_names_only_the_session_the_service_was_signed_into_for_a_business() {
    let [port] = e2e::server::free_ports();
    let rx = super::logout::Receiver::listen(port);
    let (bye, bc) = (format!("http://127.0.0.1:{port}/bye"), format!("http://127.0.0.1:{port}/bc"));
    let w = World::new(&["--post-logout-uri", &bye, "--backchannel-logout-uri", &bc]);
    let rp = Rp::new(&w.idp, &w.reg);
    let browser = Browser::new(&w.idp);
    let t = sign_in_for(&w, &rp, &browser, HOA_SEN.0);
    let sid = t.id_payload["sid"].as_str().expect("sid").to_owned();

    let hint = t.response.extra_fields().id_token().expect("an ID token").to_string();
    let mut end = w.idp.url("/logout");
    end.query_pairs_mut().append_pair("id_token_hint", &hint).append_pair("post_logout_redirect_uri", &bye);
    let out = browser.get(&end);
    assert_eq!(out.status, 303, "{out:?}");
    let tokens = rx.wait(std::time::Duration::from_secs(10));
    assert_eq!(tokens.len(), 1, "one notice");
    let claims = jwt_payload(&tokens[0]);
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["aud"], w.reg.client_id.as_str());
    assert!(claims.get("sub").is_none(), "a business login's logout token names no sub: {claims}");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{claims}");
    assert_eq!(claims["iss"], w.idp.issuer().as_str());
}
