//! The passkey endpoints and pages through the public router, with a
//! software authenticator standing in for the browser's: the JSON shapes the
//! page script relies on, sign-in with acr/amr, step-up, and the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};
use webauthn_rs_proto::AllowCredentials;

use crate::app::App;
use crate::clock::SystemClock;
use crate::domain::passkeys::user_handle;

const ORIGIN: &str = "http://localhost:8080";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36";

async fn app() -> App {
    crate::http::test_state::app(Arc::new(SystemClock), true).await
}

/// One answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn location(&self) -> String {
        self.headers.get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
    /// `value="…"` of the first element whose attributes contain `marker`.
    fn attr_after(&self, marker: &str, attr: &str) -> String {
        let at = self.body.find(marker).unwrap_or_else(|| panic!("{marker} not in {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
        rest[start..start + rest[start..].find('"').unwrap()].to_owned()
    }
}

/// A browser: the session cookie, and the CSRF token of the last page that had one.
struct Browser {
    app: App,
    cookie: Option<String>,
    csrf: String,
}

impl Browser {
    fn new(app: &App) -> Self {
        Self { app: app.clone(), cookie: None, csrf: String::new() }
    }

    async fn send(&mut self, method: Method, uri: &str, content_type: Option<&str>, body: String) -> Answer {
        let mut req = Request::builder().method(method).uri(uri).header(header::USER_AGENT, ANDROID);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct).header("x-csrf-token", &self.csrf);
        }
        let resp =
            crate::http::public_router(self.app.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        for set in resp.headers().get_all(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if pair.starts_with(crate::http::session::COOKIE_NAME) {
                self.cookie = Some(pair);
            }
        }
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        let answer = Answer { status, headers, body };
        if answer.body.contains(r#"<meta name="csrf-token""#) {
            self.csrf = answer.attr_after(r#"<meta name="csrf-token""#, "content");
        } else if answer.body.contains(r#"name="csrf""#) {
            self.csrf = answer.attr_after(r#"name="csrf""#, "value");
        }
        answer
    }

    async fn get(&mut self, uri: &str) -> Answer {
        self.send(Method::GET, uri, None, String::new()).await
    }

    async fn form(&mut self, uri: &str, fields: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", self.csrf.clone())];
        all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let body = serde_urlencoded::to_string(&all).unwrap();
        self.send(Method::POST, uri, Some("application/x-www-form-urlencoded"), body).await
    }

    async fn json(&mut self, uri: &str, body: Value) -> Answer {
        self.send(Method::POST, uri, Some("application/json"), body.to_string()).await
    }

    /// Register a passkey held by `key` from the page currently loaded.
    async fn add_passkey(&mut self, key: &mut SoftPasskey, req: Option<&str>) -> Value {
        let started = self.json("/passkeys/register/options", json!({ "req": req })).await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let started = started.json();
        let selection = &started["publicKey"]["authenticatorSelection"];
        assert_eq!(
            (selection["residentKey"].as_str(), selection["userVerification"].as_str()),
            (Some("required"), Some("required"))
        );
        let mut options: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": started["publicKey"] })).unwrap();
        // SoftPasskey cannot keep discoverable credentials; a browser's authenticator can.
        options.public_key.authenticator_selection.as_mut().unwrap().require_resident_key = false;
        let credential = key.do_registration(Url::parse(ORIGIN).unwrap(), options).unwrap();
        let done = self
            .json(
                "/passkeys/register",
                json!({ "ceremony": started["ceremony"], "name": "", "credential": credential }),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        done.json()
    }

    /// Answer a sign-in started with `body` with `key`; returns the finish call's answer.
    async fn sign_in(&mut self, key: &mut SoftPasskey, body: Value, account_id: &str) -> (Answer, Value) {
        let started = self.json("/passkeys/login/options", body).await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let started = started.json();
        let mut options: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": started["publicKey"] })).unwrap();
        let discoverable = options.public_key.allow_credentials.is_empty();
        if discoverable {
            // What a browser's authenticator finds by itself; SoftPasskey needs it listed.
            let stored = self.app.store.list_passkeys(account_id).await.unwrap();
            let id = URL_SAFE_NO_PAD.decode(&stored[0].credential_id).unwrap();
            options.public_key.allow_credentials =
                vec![AllowCredentials { type_: "public-key".into(), id, transports: None }];
        }
        let mut credential = key.do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap();
        if discoverable {
            credential.response.user_handle = Some(user_handle(account_id).as_bytes().to_vec());
        }
        let finish = json!({ "ceremony": started["ceremony"], "credential": credential });
        (self.json("/passkeys/login", finish.clone()).await, finish)
    }
}

#[tokio::test]
async fn sign_up_add_a_passkey_then_sign_in_with_it_alone() {
    let app = app().await;
    let mut b = Browser::new(&app);
    let page = b.get("/signup").await;
    assert!(page.body.contains(r#"name="passkey_offer""#) && page.body.contains("/assets/passkey.js"));
    let signed_up = b
        .form(
            "/signup",
            &[
                ("req", ""),
                ("national_id", "001099012345"),
                ("full_name", "Lê Thị Hoa"),
                ("email", "hoa@example.vn"),
                ("password", "mưa thu hà nội 2024"),
                ("password_confirm", "mưa thu hà nội 2024"),
                ("passkey_offer", "1"),
            ],
        )
        .await;
    assert_eq!((signed_up.status, signed_up.location().as_str()), (StatusCode::SEE_OTHER, "/account/passkeys/new"));
    let offer = b.get("/account/passkeys/new").await;
    assert_eq!(offer.status, StatusCode::OK);
    assert!(offer.body.contains(r#"id="passkey-skip" href="/""#), "{}", offer.body);

    let mut key = SoftPasskey::new(true);
    assert_eq!(b.add_passkey(&mut key, None).await, json!({ "ok": true, "redirect": "/account" }));
    let account = b.get("/account").await;
    assert!(account.body.contains(r#"<li class="passkey" data-id=""#), "{}", account.body);
    assert!(account.body.contains("<b>Chrome · Android</b>"), "named after the device: {}", account.body);
    assert!(account.body.contains("— Đã thêm khóa truy cập (Chrome · Android)"), "the audit event is listed");

    // Sign out, then sign in with the passkey alone (no name typed).
    b.form("/logout", &[]).await;
    let login = b.get("/login").await;
    assert!(
        login.body.contains(r#"id="passkey-signin""#) && login.body.contains(r#"autocomplete="username webauthn""#)
    );
    let account_id = app.store.find_citizen_by_email("hoa@example.vn").await.unwrap().unwrap().account.id;
    let (done, replay) = b.sign_in(&mut key, json!({}), &account_id).await;
    assert_eq!((done.status, done.json()), (StatusCode::OK, json!({ "redirect": "/account" })), "{}", done.body);
    assert_eq!(b.get("/account").await.status, StatusCode::OK);

    // The same answer again: the ceremony was used.
    let again = b.json("/passkeys/login", replay).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json()["error"], "ceremony_expired");
    assert!(again.json()["message"].as_str().unwrap().contains("khóa truy cập"), "translated: {}", again.body);

    // An address past its start budget (thousands of citizens behind one carrier NAT
    // address): username-first becomes the button's ceremony, which reads and stores
    // nothing, and still signs in; a step-up, which waits in the cache, is refused.
    b.form("/logout", &[]).await;
    b.get("/login").await;
    for kind in ["passkey-named", "passkey-start"] {
        let budget = format!("{kind}:{}", crate::config::throttle_key([0, 0, 0, 0].into()));
        for _ in 0..super::STARTS_PER_HOUR {
            app.cache.incr(&budget, std::time::Duration::from_secs(3600)).await.unwrap();
        }
    }
    let (done, _) = b.sign_in(&mut key, json!({ "identifier": "hoa@example.vn" }), &account_id).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    b.get("/account").await; // the new session's CSRF token
    let refused = b.json("/passkeys/login/options?lang=en", json!({ "step_up": true })).await;
    assert_eq!((refused.status, refused.json()["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("throttled")));

    // Malformed JSON, and a call without the CSRF header, are 4xx JSON, never 500.
    let bad = b.send(Method::POST, "/passkeys/login?lang=en", Some("application/json"), "{".into()).await;
    assert_eq!((bad.status, bad.json()["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    b.csrf = "forged".into();
    let forged = b.json("/passkeys/login/options", json!({})).await;
    assert_eq!((forged.status, forged.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("csrf")));
}

/// `/authorize?…` for `client_id` with PKCE; returns the URL and the verifier.
fn authorize_url(client_id: &str, extra: &str) -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned();
    let challenge = crate::crypto::sha256_b64url(verifier.as_bytes());
    let url = format!(
        "/authorize?client_id={client_id}&redirect_uri=https%3A%2F%2Frp.example.vn%2Fcb&response_type=code\
         &scope=openid&state=s1&code_challenge={challenge}&code_challenge_method=S256{extra}"
    );
    (url, verifier)
}

#[tokio::test]
async fn step_up_from_a_password_session_gives_loa2() {
    let app = app().await;
    let now = app.clock.now();
    let store = app.store.as_ref();
    let org = crate::domain::clients::NewOrganisation {
        code: "mnre".into(),
        name: "Bộ TN&MT".into(),
        kind: "ministry".into(),
    };
    crate::domain::clients::create_organisation(store, now, org).await.unwrap();
    let input = crate::domain::clients::NewClient {
        name: "Đất đai".into(),
        organisation: "mnre".into(),
        client_type: "confidential".into(),
        redirect_uris: vec!["https://rp.example.vn/cb".into()],
        ..Default::default()
    };
    let (client, secret) = crate::domain::clients::register(store, &app.http, now, input).await.unwrap();
    let signup = crate::domain::accounts::SignUp {
        national_id: "001099054321".into(),
        national_id_verified: false,
        full_name: "Trần Văn Bình".into(),
        email: None,
        phone: None,
        password: Some(crate::crypto::Secret::new("mưa thu hà nội 2024")),
        record: Default::default(),
    };
    let binh = crate::domain::accounts::sign_up(store, &app.passwords, now, signup).await.unwrap();

    // A password session, and a service that asks for LoA2: no passkey yet, so the RP hears why.
    let mut b = Browser::new(&app);
    let (url, _) = authorize_url(&client.client_id, "&acr_values=LoA2");
    let to_login = b.get(&url).await.location();
    let login = b.get(&to_login).await;
    assert!(login.body.contains("LoA2"), "the login page says a passkey is needed");
    let req = login.attr_after(r#"name="req""#, "value");
    let done =
        b.form("/login", &[("req", &req), ("identifier", "001099054321"), ("password", "mưa thu hà nội 2024")]).await;
    let back = b.get(&done.location()).await.location();
    assert!(back.starts_with("https://rp.example.vn/cb?error=unmet_authentication_requirements"), "{back}");

    // With a passkey on the account, the same request gets the step-up page.
    b.get("/account").await;
    let mut key = SoftPasskey::new(true);
    b.add_passkey(&mut key, None).await;
    // Managing passkeys now needs a passkey session: the password alone adds, renames and
    // removes nothing, and the account page offers the passkey button.
    let refused = b.json("/passkeys/register/options", json!({})).await;
    assert_eq!((refused.status, refused.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("step_up_required")));
    let account = b.get("/account").await;
    assert!(account.body.contains(r#"id="passkey-signin" data-step-up="1""#), "{}", account.body);
    let id = account.attr_after(r#"<li class="passkey""#, "data-id");
    let gone = b.form(&format!("/account/passkeys/{id}/delete"), &[]).await;
    assert_eq!(gone.status, StatusCode::FORBIDDEN, "{id} {}", gone.body);
    assert_eq!(app.store.list_passkeys(&binh.account.id).await.unwrap().len(), 1, "still there");

    let (url, verifier) = authorize_url(&client.client_id, "&acr_values=LoA2");
    let step_up = b.get(&url).await.location();
    assert!(step_up.starts_with("/passkeys/step-up?req="), "{step_up}");
    let page = b.get(&step_up).await;
    assert!(page.body.contains(r#"data-step-up="1""#), "{}", page.body);
    let req = step_up.trim_start_matches("/passkeys/step-up?req=").to_owned();
    // prompt=none cannot show it.
    let (silent, _) = authorize_url(&client.client_id, "&acr_values=LoA2&prompt=none");
    assert!(b.get(&silent).await.location().contains("error=login_required"));

    let (done, _) = b.sign_in(&mut key, json!({ "step_up": true, "req": req }), &binh.account.id).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let next = done.json()["redirect"].as_str().unwrap().to_owned();
    assert_eq!(next, format!("/authorize/continue?req={req}"));
    let consent = b.get(&next).await.location();
    let consented = b.get(&consent).await;
    assert_eq!(consented.status, StatusCode::OK);
    let to_rp = b.form("/consent", &[("req", &req), ("decision", "allow")]).await.location();
    let code = url::Url::parse(&to_rp).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();

    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.client_id, secret.unwrap().expose()));
    let form = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://rp.example.vn/cb"),
        ("code_verifier", &verifier),
    ])
    .unwrap();
    let req = Request::post("/token")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let resp = crate::http::public_router(app.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value =
        serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["acr"], "LoA2");
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));
    // In the passkey session, adding another passkey is allowed again.
    let allowed = b.json("/passkeys/register/options", json!({})).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);

    // Discovery lists both levels.
    let disco = crate::http::public_router(app.clone())
        .oneshot(Request::get("/.well-known/openid-configuration").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let disco: Value =
        serde_json::from_slice(&axum::body::to_bytes(disco.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert_eq!(disco["acr_values_supported"], json!(["LoA1", "LoA2"]));
}

#[tokio::test]
async fn the_script_is_served_with_cache_headers_and_pages_allow_it() {
    let app = app().await;
    let mut b = Browser::new(&app);
    let js = b.get("/assets/passkey.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(js.headers[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert!(js.headers[header::CACHE_CONTROL].to_str().unwrap().contains("max-age"));
    let login = b.get("/login").await;
    let csp = login.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("connect-src 'self'")
            && !csp.contains("unsafe-inline'; script"),
        "{csp}"
    );
    // Not signed in: the account page sends the browser to sign in; the JSON calls say so.
    assert_eq!(b.get("/account").await.location(), "/login");
    let anon = b.json("/passkeys/register/options", json!({})).await;
    assert_eq!((anon.status, anon.json()["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("login_required")));
}
