//! Single logout as relying parties see it: RP-initiated logout at `end_session_endpoint`,
//! back-channel logout tokens delivered (and retried, across an idp restart) to each client the
//! session signed into, front-channel iframes, and open-redirect attempts refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::server::free_ports;
use e2e::{Browser, Credentials, Idp, Rp, Tokens, jwt_header, jwt_payload, query_param};
use serde_json::Value;
use url::Url;

/// A relying party's back-channel logout endpoint: records each `logout_token` POSTed to
/// `http://127.0.0.1:<port>/bc` and answers 200.
pub(super) struct Receiver {
    pub(super) tokens: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub(super) fn listen(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
                    if let Some((_, t)) = form.into_iter().find(|(k, _)| k == "logout_token") {
                        seen.lock().unwrap().push(t);
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Receiver { tokens }
    }

    /// The logout tokens received within `within`, once there is at least one.
    pub(super) fn wait(&self, within: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let got = self.tokens.lock().unwrap().clone();
            if !got.is_empty() {
                return got;
            }
            assert!(started.elapsed() < within, "no logout token within {within:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A client registered with a back-channel logout endpoint on `port` and a post-logout URI.
pub(super) fn client_with_logout(idp: &Idp, port: u16, extra: &[&str]) -> (Rp, String) {
    let bye = format!("http://127.0.0.1:{port}/bye");
    let bc = format!("http://127.0.0.1:{port}/bc");
    let mut args = vec!["--post-logout-uri", bye.as_str(), "--backchannel-logout-uri", bc.as_str()];
    args.extend_from_slice(extra);
    let reg = idp.register_client(&args);
    assert_eq!(reg.view["backchannel_logout_uri"], bc.as_str(), "{}", reg.view);
    (Rp::new(idp, &reg), bye)
}

fn id_token(t: &Tokens) -> String {
    t.response.extra_fields().id_token().expect("an ID token").to_string()
}

/// Checks a logout token as Back-Channel Logout 1.0 §2.6 asks an RP to.
pub(super) fn check_logout_token(idp: &Idp, token: &str, client_id: &str, sid: &str, sub: &str) {
    assert_eq!(jwt_header(token)["typ"], "logout+jwt");
    let kid = jwt_header(token)["kid"].as_str().expect("kid").to_owned();
    let jwks: Value = idp.http().get(idp.url("/jwks")).send().unwrap().json().unwrap();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("key in JWKS");
    let jwk = josekit::jwk::Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier = josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap();
    josekit::jwt::decode_with_verifier(token, &verifier).expect("signature checks with the JWKS");
    let claims = jwt_payload(token);
    assert_eq!(claims["iss"], idp.issuer().as_str());
    assert_eq!(claims["aud"], client_id);
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["sub"], sub);
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{claims}");
    assert!(claims.get("nonce").is_none() && claims["jti"].is_string(), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!(exp > iat && exp - iat <= 300, "{claims}");
}

#[test]
fn rp_initiated_logout_reaches_every_client_of_the_session() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [p1, p2] = free_ports();
    let (rx1, rx2) = (Receiver::listen(p1), Receiver::listen(p2));
    let (first, bye) = client_with_logout(&idp, p1, &[]);
    let (second, _) = client_with_logout(&idp, p2, &[]);
    let browser = Browser::new(&idp);

    let t1 = first.sign_in(&browser, &["profile"], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    // Single sign-on: the second client gets in without a second login.
    let t2 = second.sign_in(&browser, &["profile"], &[], Credentials::None);
    let sid = t1.id_payload["sid"].as_str().expect("ID token carries sid").to_owned();
    assert_eq!(t2.id_payload["sid"], sid.as_str());

    let discovery: Value = idp.http().get(idp.url("/.well-known/openid-configuration")).send().unwrap().json().unwrap();
    assert_eq!(discovery["end_session_endpoint"], format!("{}/logout", idp.issuer()));
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["frontchannel_logout_session_supported"], true);

    let mut end = Url::parse(discovery["end_session_endpoint"].as_str().unwrap()).unwrap();
    end.query_pairs_mut()
        .append_pair("id_token_hint", &id_token(&t1))
        .append_pair("post_logout_redirect_uri", &bye)
        .append_pair("state", "st-42");
    let out = browser.get(&end);
    assert_eq!(out.status, 303, "{out:?}");
    let back = out.location.expect("back to the client");
    assert_eq!(back.as_str(), format!("{bye}?state=st-42"));

    let sub = t1.id_payload["sub"].as_str().unwrap();
    for (rx, rp) in [(&rx1, &first), (&rx2, &second)] {
        let tokens = rx.wait(Duration::from_secs(10));
        assert_eq!(tokens.len(), 1, "one notice per client");
        check_logout_token(&idp, &tokens[0], &rp.reg.client_id, &sid, sub);
    }

    // The SSO session is over: a silent request needs a login again.
    let silent = first.authorize(&[], &[("prompt", "none")]);
    let redirect = browser.get(&silent.url).location.expect("redirect to the client");
    assert_eq!(query_param(&redirect, "error").as_deref(), Some("login_required"), "{redirect}");
    // Refresh tokens made under the session (without offline_access) stop working.
    if let Some(rt) = &t2.refresh_token {
        assert_eq!(second.refresh(rt).error(), "invalid_grant");
    }
}

#[test]
fn open_redirects_and_mismatched_clients_are_refused() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [p1, p2] = free_ports();
    let (first, bye) = client_with_logout(&idp, p1, &[]);
    let (second, _) = client_with_logout(&idp, p2, &[]);
    let browser = Browser::new(&idp);
    let t1 = first.sign_in(&browser, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    let hint = id_token(&t1);

    let attempts: [&[(&str, &str)]; 4] = [
        &[("id_token_hint", &hint), ("post_logout_redirect_uri", "https://evil.example/")],
        &[("id_token_hint", &hint), ("client_id", &second.reg.client_id), ("post_logout_redirect_uri", &bye)],
        &[("post_logout_redirect_uri", &bye)],
        &[("id_token_hint", "eyJhbGciOiJub25lIn0.e30."), ("post_logout_redirect_uri", &bye)],
    ];
    for params in attempts {
        let mut url = idp.url("/logout");
        url.query_pairs_mut().extend_pairs(params.iter());
        let page = browser.get(&url);
        assert_eq!(page.status, 400, "{params:?}: {page:?}");
        assert!(page.location.is_none(), "{params:?} redirected");
    }
    // Still signed in: refused requests end nothing.
    let silent = first.authorize(&[], &[("prompt", "none")]);
    let redirect = browser.get(&silent.url).location.expect("redirect");
    assert!(query_param(&redirect, "code").is_some(), "{redirect}");
}

#[test]
fn a_request_without_hint_asks_the_citizen_first() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [p1] = free_ports();
    let (rp, bye) = client_with_logout(&idp, p1, &[]);
    let browser = Browser::new(&idp);
    rp.sign_in(&browser, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));

    let mut url = idp.url("/logout");
    url.query_pairs_mut()
        .append_pair("client_id", &rp.reg.client_id)
        .append_pair("post_logout_redirect_uri", &bye)
        .append_pair("state", "s1")
        .append_pair("ui_locales", "en");
    let ask = browser.get(&url);
    assert_eq!(ask.status, 200, "{ask:?}");
    assert!(ask.text().contains("Do you want to sign out of Motcua?"), "{}", ask.text());
    // A forged confirmation without the CSRF token is refused.
    let forged = browser.post_form(&idp.url("/logout"), &[("csrf", "nope"), ("client_id", &rp.reg.client_id)]);
    assert_eq!(forged.status, 403, "{forged:?}");
    let fields = [
        ("csrf", ask.hidden("csrf")),
        ("client_id", ask.hidden("client_id")),
        ("post_logout_redirect_uri", ask.hidden("post_logout_redirect_uri")),
        ("state", ask.hidden("state")),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post_form(&idp.url("/logout"), &fields);
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(done.location.unwrap().as_str(), format!("{bye}?state=s1"));
}

/// RP-Initiated Logout with no parameters at all (the conformance suite's
/// `oidcc-rp-initiated-logout-no-params`): the citizen confirms, and the page
/// then says they are signed out (not the home page of our own button).
#[test]
fn a_bare_logout_request_ends_on_the_signed_out_page() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);
    rp.sign_in(&browser, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    let mut url = idp.url("/logout");
    url.query_pairs_mut().append_pair("ui_locales", "en");
    let ask = browser.get(&url);
    assert!(ask.text().contains("Do you want to sign out of Motcua?"), "{}", ask.text());
    let fields = ["csrf", "confirm", "ui_locales"].map(|name| (name, ask.hidden(name)));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post_form(&idp.url("/logout"), &fields);
    assert_eq!(done.status, 200, "{done:?}");
    assert!(done.text().contains("You are signed out"), "{}", done.text());
    // Signed out indeed: a silent request now needs a login.
    let silent = rp.authorize(&[], &[("prompt", "none")]);
    let redirect = browser.get(&silent.url).location.expect("redirect");
    assert_eq!(query_param(&redirect, "error").as_deref(), Some("login_required"), "{redirect}");
}

#[test]
fn a_client_down_at_logout_gets_the_notice_later_even_across_a_restart() {
    let mut idp = Idp::start();
    let citizen = idp.citizen();
    let [port] = free_ports();
    // Nothing listens on `port` yet: the client is down.
    let (rp, _) = client_with_logout(&idp, port, &[]);
    let browser = Browser::new(&idp);
    let t = rp.sign_in(&browser, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    let mut end = idp.url("/logout");
    end.query_pairs_mut().append_pair("id_token_hint", &id_token(&t));
    let started = Instant::now();
    let out = browser.get(&end);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.text().contains("signed out") || out.text().contains("đăng xuất"), "{}", out.text());
    assert!(started.elapsed() < Duration::from_secs(3), "a dead client held up the logout");
    std::thread::sleep(Duration::from_secs(2));
    // The outbox is durable: a restart loses nothing.
    idp.restart();
    let rx = Receiver::listen(port);
    let tokens = rx.wait(Duration::from_secs(30));
    check_logout_token(
        &idp,
        &tokens[0],
        &rp.reg.client_id,
        t.id_payload["sid"].as_str().unwrap(),
        t.id_payload["sub"].as_str().unwrap(),
    );
}

#[test]
fn front_channel_iframes_are_listed_on_the_signed_out_page() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [port] = free_ports();
    let fc = format!("http://127.0.0.1:{port}/fc");
    let reg = idp.register_client(&["--frontchannel-logout-uri", &fc]);
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);
    let t = rp.sign_in(&browser, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    let sid = t.id_payload["sid"].as_str().unwrap().to_owned();

    let home = browser.get(&idp.url("/"));
    let out = browser.post_form(&idp.url("/logout"), &[("csrf", &home.hidden("csrf"))]);
    assert_eq!(out.status, 200, "{out:?}");
    let mut src = Url::parse(&fc).unwrap();
    src.query_pairs_mut().append_pair("iss", &idp.issuer()).append_pair("sid", &sid);
    let body = out.body.replace("&amp;", "&").replace("&#x2f;", "/").replace("&#x3d;", "=");
    assert!(body.contains(&format!("<iframe src=\"{src}\"")), "{body}");
    let csp = out.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains(&format!("frame-src http://127.0.0.1:{port}")), "{csp}");
}

#[test]
fn disabling_an_account_tells_its_services_and_ends_offline_grants() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [port] = free_ports();
    let rx = Receiver::listen(port);
    let (rp, _) = client_with_logout(&idp, port, &[]);
    let browser = Browser::new(&idp);
    let t = rp.sign_in(
        &browser,
        &["offline_access"],
        &[("prompt", "consent")],
        Credentials::Password(&citizen.national_id, &citizen.password),
    );
    let account_id = citizen.view["account_id"].as_str().expect("account_id").to_owned();
    idp.admin_json(&["user", "disable", &account_id]);
    let tokens = rx.wait(Duration::from_secs(10));
    check_logout_token(
        &idp,
        &tokens[0],
        &rp.reg.client_id,
        t.id_payload["sid"].as_str().unwrap(),
        t.id_payload["sub"].as_str().unwrap(),
    );
    // Even an offline_access refresh token stops working.
    let rt = t.refresh_token.as_deref().expect("offline_access gives a refresh token");
    assert_eq!(rp.refresh(rt).error(), "invalid_grant");
}

/// The sample relying party `examples/portal-service`, running as its own process.
struct PortalService {
    child: std::process::Child,
    base: Url,
}

impl PortalService {
    fn start(idp: &Idp, name: &str) -> (Self, String) {
        let [port] = free_ports();
        let base = format!("http://127.0.0.1:{port}");
        let reg = idp.register_client(&[
            "--redirect-uri",
            &format!("{base}/callback"),
            "--post-logout-uri",
            &format!("{base}/"),
            "--backchannel-logout-uri",
            &format!("{base}/backchannel-logout"),
        ]);
        let child = std::process::Command::new(e2e::server::binary("portal-service"))
            .env("PORTAL_ISSUER", idp.issuer())
            .env("PORTAL_CLIENT_ID", &reg.client_id)
            .env("PORTAL_CLIENT_SECRET", reg.secret.as_deref().expect("a confidential client"))
            .env("PORTAL_PORT", port.to_string())
            .env("PORTAL_NAME", name)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start portal-service");
        let service = PortalService { child, base: Url::parse(&base).unwrap() };
        let started = Instant::now();
        while service.status().is_none() {
            assert!(started.elapsed() < Duration::from_secs(20), "portal-service did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        (service, reg.client_id)
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    fn status(&self) -> Option<Value> {
        reqwest::blocking::get(self.url("/status")).ok()?.json().ok()
    }

    /// Signs in through the service's own `/login` and returns its home page text.
    fn sign_in(&self, browser: &Browser, creds: Credentials<'_>) -> String {
        let start = browser.get(&self.url("/login"));
        let to_idp = start.location.expect("redirect to Motcua");
        let flow = browser.run_flow(&to_idp, creds);
        let back = browser.get(&flow.redirect);
        assert_eq!(back.status, 303, "{back:?}");
        browser.get(&self.url("/")).text()
    }
}

impl Drop for PortalService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_sample_services_single_sign_on_and_single_logout() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let (health, _) = PortalService::start(&idp, "Bộ Y tế — Ministry of Health service");
    let (hanoi, _) = PortalService::start(&idp, "UBND Hà Nội — Hanoi province service");
    let browser = Browser::new(&idp);

    let first = health.sign_in(&browser, Credentials::Password(&citizen.national_id, &citizen.password));
    assert!(first.contains("Signed in as"), "{first}");
    // Single sign-on: no second login.
    let second = hanoi.sign_in(&browser, Credentials::None);
    assert!(second.contains("Signed in as"), "{second}");

    // RP-initiated logout from the Ministry of Health service: its sign-out
    // form carries a CSRF token; without it nothing happens.
    let forged = browser.post_form(&health.url("/logout"), &[("csrf", "forged")]);
    assert_eq!(forged.status, 403, "{forged:?}");
    let home = browser.get(&health.url("/"));
    let out = browser.post_form(&health.url("/logout"), &[("csrf", &home.hidden("csrf"))]);
    let end = out.location.expect("redirect to end_session_endpoint");
    assert!(end.as_str().starts_with(&format!("{}/logout?", idp.issuer())), "{end}");
    let back = browser.get(&end);
    assert_eq!(back.status, 303, "{back:?}");
    let home = back.location.expect("back to the service");
    assert_eq!((home.origin(), home.path()), (health.base.origin(), "/"));
    assert!(query_param(&home, "state").is_some(), "{home}");
    // The service believes the return once, with the state it sent.
    assert!(browser.get(&home).text().contains("You are signed out of Motcua"));
    assert!(browser.get(&home).text().contains("Unexpected sign-out response"), "a replayed state is not believed");

    // Both services end their local sessions through back-channel logout tokens they validated.
    let started = Instant::now();
    for service in [&health, &hanoi] {
        loop {
            let s = service.status().expect("status");
            if s["signed_in"] == 0 && s["logout_tokens_accepted"].as_u64() >= Some(1) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(browser.get(&service.url("/")).text().contains("Signed out"));
    }
}

#[test]
fn sign_out_everywhere_ends_every_session_and_refresh_token() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [port] = free_ports();
    let rx = Receiver::listen(port);
    let (rp, _) = client_with_logout(&idp, port, &[]);
    let (laptop, phone) = (Browser::new(&idp), Browser::new(&idp));
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);
    let t = rp.sign_in(&laptop, &["offline_access"], &[("prompt", "consent")], creds);
    rp.sign_in(&phone, &[], &[], creds);

    let list = laptop.get(&idp.url("/account/sessions?lang=en"));
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(list.body.matches("/revoke\"").count(), 2, "{}", list.text());
    assert!(list.text().contains("this browser"), "{}", list.text());
    // A forged form is refused.
    let forged = laptop.post_form(&idp.url("/account/sessions/revoke-all"), &[("csrf", "nope")]);
    assert_eq!(forged.status, 403, "{forged:?}");

    let out = laptop.post_form(&idp.url("/account/sessions/revoke-all"), &[("csrf", &list.hidden("csrf"))]);
    assert_eq!(out.status, 303, "{out:?}");
    // One back-channel notice per session.
    let started = Instant::now();
    while rx.tokens.lock().unwrap().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(10), "notices: {:?}", rx.tokens.lock().unwrap().len());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Even the offline_access refresh token is dead, and the other browser must sign in again.
    assert_eq!(rp.refresh(t.refresh_token.as_deref().expect("refresh token")).error(), "invalid_grant");
    let silent = rp.authorize(&[], &[("prompt", "none")]);
    let redirect = phone.get(&silent.url).location.expect("redirect to the client");
    assert_eq!(query_param(&redirect, "error").as_deref(), Some("login_required"), "{redirect}");
}

#[test]
fn revoking_a_services_access_ends_its_refresh_tokens_and_asks_consent_again() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let reg = idp.register_client(&[]);
    let rp = Rp::new(&idp, &reg);
    let browser = Browser::new(&idp);
    let t = rp.sign_in(
        &browser,
        &["profile", "offline_access"],
        &[],
        Credentials::Password(&citizen.national_id, &citizen.password),
    );
    let list = browser.get(&idp.url("/account/services?lang=en"));
    assert_eq!(list.status, 200, "{list:?}");
    let name = reg.view["name"].as_str().unwrap();
    assert!(list.text().contains(name), "{}", list.text());
    let action = format!("/account/services/{}/revoke", reg.client_id);
    let forged = browser.post_form(&idp.url(&action), &[("csrf", "nope")]);
    assert_eq!(forged.status, 403, "{forged:?}");
    let out = browser.post_form(&idp.url(&action), &[("csrf", &list.hidden("csrf"))]);
    assert_eq!(out.status, 303, "{out:?}");

    assert_eq!(rp.refresh(t.refresh_token.as_deref().expect("refresh token")).error(), "invalid_grant");
    assert!(!browser.get(&idp.url("/account/services?lang=en")).text().contains(name));
    // Still signed in, but the service must ask again.
    let pending = rp.authorize(&["profile"], &[]);
    let flow = browser.run_flow(&pending.url, Credentials::None);
    assert!(flow.visited("/consent"), "visited {:?}", flow.visited);
}

/// A relying party's cross-site form POST to the end-session endpoint carries no SameSite=Lax
/// session cookie; the OP answers with a top-level GET of the same request, which does carry
/// it, and that GET ends the session (RP-Initiated Logout §2: POST is supported).
#[test]
fn a_cross_site_post_to_logout_becomes_a_get_that_ends_the_session() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [port] = free_ports();
    let rx = Receiver::listen(port);
    let (rp, bye) = client_with_logout(&idp, port, &[]);
    let browser = Browser::new(&idp);
    let tokens = rp.sign_in(&browser, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));

    // The POST as the RP's page sends it cross-site: no cookie.
    let hint = id_token(&tokens);
    let form = [("id_token_hint", hint.as_str()), ("post_logout_redirect_uri", bye.as_str()), ("state", "s-1")];
    let resp = e2e::server::http_client().post(idp.url("/logout")).form(&form).send().unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let to = idp.url("/").join(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(to.path(), "/logout");
    assert_eq!(query_param(&to, "id_token_hint").as_deref(), Some(hint.as_str()));
    // The browser follows it with its cookie: signed out, back to the RP, the RP told.
    let out = browser.get(&to);
    assert_eq!(out.status, 303, "{out:?}");
    assert_eq!(out.location.unwrap().as_str(), format!("{bye}?state=s-1"));
    assert_eq!(rx.wait(Duration::from_secs(10)).len(), 1);
}

/// A new sign-in in the same browser (here `prompt=login`; also step-up and `max_age`) replaces
/// the SSO session, and the replaced one ends like a logout: the services it signed into are
/// told, so none stays signed in under a session no later sign-out would reach.
#[test]
fn a_new_sign_in_tells_the_services_of_the_session_it_replaces() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [port] = free_ports();
    let rx = Receiver::listen(port);
    let (first, _) = client_with_logout(&idp, port, &[]);
    let second = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);
    let old = first.sign_in(&browser, &[], &[], creds);
    let new = second.sign_in(&browser, &[], &[("prompt", "login")], creds);
    let old_sid = old.id_payload["sid"].as_str().unwrap();
    assert_ne!(new.id_payload["sid"].as_str().unwrap(), old_sid, "a new session");
    let tokens = rx.wait(Duration::from_secs(10));
    assert_eq!(tokens.len(), 1, "the first service is told its session ended");
    check_logout_token(&idp, &tokens[0], &first.reg.client_id, old_sid, old.id_payload["sub"].as_str().unwrap());
}
