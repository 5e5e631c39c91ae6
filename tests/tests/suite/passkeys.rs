//! Passkeys in a real browser: headless Chromium with a CDP virtual authenticator drives the
//! real pages (sign-up, the passkey offer, the account page, the login and step-up pages) and
//! the relying party validates the ID token with `openidconnect`.
//!
//! The idp runs with issuer `http://localhost:<port>`: WebAuthn needs a domain as RP ID and a
//! secure context, which plain http on `localhost` is. Each Chromium test returns early when
//! Chromium is missing, except under `CI`, where it fails.

use e2e::chromium::{Authenticator, AuthenticatorKind, Chromium, RpCallback};
use e2e::{Browser, Citizen, Credentials, Idp, Pending, Rp, Tokens, query_param};
use serde_json::json;
use url::Url;

/// RFC 8176 `amr` of a passkey sign-in with user verification on a device-bound credential.
const AMR_DEVICE_BOUND: [&str; 3] = ["hwk", "user", "mfa"];
/// … and on a backup-eligible (synced) credential, which is not bound to one device.
const AMR_SYNCED: [&str; 3] = ["swk", "user", "mfa"];

/// One test's world: an idp on `localhost`, a relying party whose redirect URI answers, and a
/// Chromium tab.
struct World {
    chrome: Chromium,
    rp: Rp,
    _callback: RpCallback,
    // Dropped last: on a failure its log is printed after the browser's story.
    idp: Idp,
}

impl World {
    /// `None` when Chromium is missing outside CI (the test then returns).
    fn new() -> Option<World> {
        let chrome = Chromium::launch()?;
        // Chromium's virtual authenticator answers passkey autofill at once, which would race
        // every click on the login page: tests click, unless they turn autofill back on.
        chrome.set_passkey_autofill(false);
        let idp = Idp::start_localhost(&[]);
        let rp = Rp::new(&idp, &idp.register_client(&[]));
        let callback = RpCallback::serve(&rp.reg.redirect_uri);
        Some(World { chrome, rp, _callback: callback, idp })
    }

    fn page(&self, path: &str) -> String {
        format!("{}{path}", self.idp.issuer())
    }

    /// Waits for a page of the idp by path.
    fn wait_for_page(&self, path: &str) -> Url {
        self.chrome.wait_for_url(&self.page(path))
    }

    /// Starts an authorization request for `openid profile` with `extra` parameters in the tab.
    fn authorize(&self, extra: &[(&str, &str)]) -> Pending {
        let pending = self.rp.authorize(&["profile"], extra);
        self.chrome.goto(pending.url.as_str());
        pending
    }

    /// Waits until the flow reaches the RP's redirect URI (answering consent on the way) and
    /// returns that URL.
    fn wait_for_rp(&self) -> Url {
        let href = self.chrome.wait_until("the RP's redirect URI (consent answered on the way)", |c| {
            let url = c.url();
            if url.starts_with(&self.rp.reg.redirect_uri) {
                return Some(url);
            }
            if url.starts_with(&self.page("/consent")) && c.exists("button[value=allow]") {
                c.click("button[value=allow]");
            }
            None
        });
        Url::parse(&href).expect("redirect URI")
    }

    /// Finishes the flow at the RP and redeems the code; the ID token is validated by
    /// `openidconnect` (signature, iss, aud, nonce, at_hash).
    fn tokens(&self, pending: &Pending) -> Tokens {
        let redirect = self.wait_for_rp();
        self.rp.exchange(pending, &self.rp.code_from(pending, &redirect))
    }

    /// Signs in with identifier and password on the login page the tab shows.
    fn password_login(&self, citizen: &Citizen) {
        self.wait_for_page("/login");
        self.chrome.fill("identifier", &citizen.national_id);
        self.chrome.fill("password", &citizen.password);
        self.chrome.click_id("password-submit");
    }

    /// On a page with the passkey form (`/account` or the offer after sign-up): names a new
    /// passkey and creates it with the virtual authenticator.
    fn add_passkey(&self, name: &str) {
        self.chrome.fill("passkey-name", name);
        self.chrome.click_id("passkey-add");
    }

    /// The passkeys listed on `/account` (the tab must show it): `(data-id, text)` per item;
    /// `None` while the page is loading.
    fn listed_passkeys(&self) -> Option<Vec<(String, String)>> {
        let items = self
            .chrome
            .try_eval("[...document.querySelectorAll('li.passkey')].map(li => [li.dataset.id || '', li.innerText])")?;
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
        Some(items.as_array()?.iter().map(|i| (text(&i[0]), text(&i[1]))).collect())
    }

    /// Waits until the tab, on `/account`, lists `n` passkeys.
    fn wait_for_listed(&self, n: usize) -> Vec<(String, String)> {
        self.chrome.wait_until(&format!("{n} passkey(s) listed on /account"), |c| {
            let listed = self.listed_passkeys().filter(|l| l.len() == n)?;
            c.url().starts_with(&self.page("/account")).then_some(listed)
        })
    }

    /// Signs out from `/account` and waits until the sign-out form is gone.
    fn sign_out(&self) {
        self.chrome.goto(&self.page("/account"));
        self.chrome.click_id("signout");
        self.chrome.wait_until("the signed-out page", |c| {
            (!c.url().contains("/account") || !c.exists("#signout")).then_some(())
        });
    }

    /// A citizen created by the admin, signed in with the password in the tab (through an RP
    /// flow whose ID token says LoA1/pwd), holding one passkey named `name` added on `/account`.
    fn citizen_with_passkey(&self, kind: AuthenticatorKind, name: &str) -> (Citizen, Authenticator, Tokens) {
        let citizen = self.idp.citizen();
        let pending = self.authorize(&[]);
        self.password_login(&citizen);
        let tokens = self.tokens(&pending);
        assert_eq!(tokens.id_payload["acr"], "LoA1", "{}", tokens.id_payload);
        assert_eq!(tokens.id_payload["amr"], json!(["pwd"]), "{}", tokens.id_payload);

        let authenticator = self.chrome.add_authenticator(kind);
        self.chrome.goto(&self.page("/account"));
        self.add_passkey(name);
        // The script reloads /account once the passkey is stored.
        let listed = self.wait_for_listed(1);
        assert!(listed[0].1.contains(name), "the new passkey is listed without its name: {listed:?}");
        (citizen, authenticator, tokens)
    }

    /// Fails the test when the tab received any 5xx.
    fn assert_no_server_errors(&self) {
        let errors = self.chrome.server_errors();
        if !errors.is_empty() {
            self.chrome.fail(&format!("the idp answered 5xx: {errors:?}"));
        }
    }
}

/// The error the passkey JavaScript shows, once it shows one.
fn passkey_error(chrome: &Chromium) -> String {
    chrome.wait_until("a message in #passkey-error", |c| {
        c.text_of("#passkey-error").map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
    })
}

#[test]
fn sign_up_add_a_passkey_then_sign_in_with_it_alone_gives_loa2() {
    let Some(w) = World::new() else { return };
    let chrome = &w.chrome;
    let authenticator = chrome.add_authenticator(AuthenticatorKind::default());

    // Sign-up through the real pages, inside the RP's authorization request.
    let first = w.authorize(&[]);
    w.wait_for_page("/login");
    chrome.click("a[href^='/signup']");
    w.wait_for_page("/signup");
    chrome.fill("national_id", "079195001234");
    chrome.fill("full_name", "Trần Thị Bình");
    chrome.fill("email", "binh.tran@example.vn");
    chrome.fill("password", "Mua-thu-Ha-Noi-1975");
    chrome.fill("password_confirm", "Mua-thu-Ha-Noi-1975");
    chrome.click("form[action^='/signup'] button[type=submit]");

    // The offer right after sign-up: name the passkey and create it.
    w.wait_for_page("/account/passkeys/new");
    chrome.wait_for("#passkey-skip");
    w.add_passkey("Máy tính xách tay");
    // Adding continues where the sign-up was going: back to the service.
    let signed_up = w.tokens(&first);
    assert_eq!(signed_up.id_payload["acr"], "LoA1", "sign-up used a password: {}", signed_up.id_payload);

    // The authenticator holds a discoverable credential for this RP ID.
    let held = chrome.credentials(&authenticator);
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].resident, "the passkey is not discoverable: {held:?}");
    assert_eq!(held[0].rp_id.as_deref(), Some("localhost"));

    // Listed on the account page.
    chrome.goto(&w.page("/account"));
    let listed = w.wait_for_listed(1);
    assert!(listed[0].1.contains("Máy tính xách tay"), "{listed:?}");

    // Sign out, then sign in with the passkey alone: no identifier typed.
    w.sign_out();
    let second = w.authorize(&[]);
    w.wait_for_page("/login");
    let button = chrome.text_of("#passkey-signin").unwrap_or_default();
    assert!(button.contains("khóa truy cập"), "passkey button text: {button:?}");
    let autocomplete = chrome.eval("document.getElementById('identifier').autocomplete");
    assert!(autocomplete.as_str().is_some_and(|a| a.contains("webauthn")), "autocomplete={autocomplete}");
    chrome.click_id("passkey-signin");
    let tokens = w.tokens(&second);

    let raw = &tokens.id_payload;
    assert_eq!(raw["acr"], "LoA2", "{raw}");
    assert_eq!(raw["amr"], json!(AMR_DEVICE_BOUND), "{raw}");
    assert_eq!(tokens.claims.subject(), signed_up.claims.subject(), "the passkey signed in another account");
    assert!(tokens.auth_time() >= signed_up.auth_time());
    let used = chrome.credentials(&authenticator);
    assert!(used[0].sign_count > held[0].sign_count, "no assertion was signed: {used:?}");

    // Passkey autofill: the login page offers the passkey in the identifier field; picking it
    // (the virtual authenticator picks at once) signs in without a click.
    w.sign_out();
    chrome.set_passkey_autofill(true);
    let third = w.authorize(&[]);
    let autofilled = w.tokens(&third);
    assert_eq!(autofilled.id_payload["acr"], "LoA2", "{}", autofilled.id_payload);
    assert_eq!(autofilled.id_payload["amr"], json!(AMR_DEVICE_BOUND), "{}", autofilled.id_payload);
    assert_eq!(autofilled.claims.subject(), signed_up.claims.subject());
    w.assert_no_server_errors();
}

#[test]
fn password_session_steps_up_to_loa2_with_a_passkey_when_the_rp_asks() {
    let Some(w) = World::new() else { return };
    // A synced passkey (backup eligible): amr says swk, not hwk.
    let synced = AuthenticatorKind { backup_eligible: true, ..AuthenticatorKind::default() };
    let (_citizen, _authenticator, first) = w.citizen_with_passkey(synced, "Điện thoại");

    // Without a step-up need, the same password session answers at once, still LoA1.
    let before = w.chrome.navigations().len();
    let plain = w.authorize(&[]);
    let again = w.tokens(&plain);
    assert_eq!(again.id_payload["acr"], "LoA1", "{}", again.id_payload);
    assert_eq!(again.id_payload["amr"], json!(["pwd"]), "{}", again.id_payload);
    assert_eq!(again.auth_time(), first.auth_time());
    let hops = &w.chrome.navigations()[before..];
    assert!(!hops.iter().any(|u| u.contains("/login")), "signed in again without a reason: {hops:?}");

    // acr_values=LoA2: the step-up page offers the passkey, which completes the request.
    let stepped = w.authorize(&[("acr_values", "LoA2")]);
    w.chrome.wait_for("#passkey-signin");
    assert!(!w.chrome.exists("#password"), "the step-up page asks for the password again");
    w.chrome.click_id("passkey-signin");
    let tokens = w.tokens(&stepped);
    let raw = &tokens.id_payload;
    assert_eq!(raw["acr"], "LoA2", "{raw}");
    assert_eq!(raw["amr"], json!(AMR_SYNCED), "{raw}");
    assert_eq!(tokens.claims.subject(), first.claims.subject());
    assert!(tokens.auth_time() >= first.auth_time());
    w.assert_no_server_errors();
}

/// A browser without WebAuthn (an old Android WebView, an in-app browser):
/// the login page shows no passkey error and signs in with the password; the
/// step-up page, where a passkey is the one way on, says the browser cannot
/// use one.
#[test]
fn a_browser_without_passkeys_signs_in_with_the_password_and_is_told_so_at_step_up() {
    let Some(w) = World::new() else { return };
    let chrome = &w.chrome;
    let (citizen, _authenticator, _) = w.citizen_with_passkey(AuthenticatorKind::default(), "Điện thoại");
    w.sign_out();
    chrome.hide_webauthn();

    let pending = w.authorize(&[]);
    w.wait_for_page("/login");
    chrome.wait_for("#password-submit");
    assert_eq!(chrome.eval("typeof window.PublicKeyCredential"), json!("undefined"));
    assert!(!chrome.visible("#passkey-error"), "an error on a login page nobody touched: {}", chrome.text());
    assert!(!chrome.visible("#passkey-signin"), "a passkey button the browser cannot use");
    w.password_login(&citizen);
    assert_eq!(w.tokens(&pending).id_payload["acr"], "LoA1");

    let stepped = w.authorize(&[("acr_values", "LoA2")]);
    let message = passkey_error(chrome);
    let unsupported = chrome.eval("document.getElementById('passkey-error').dataset.unsupported");
    assert_eq!(Some(message.as_str()), unsupported.as_str(), "the step-up page's message");
    // No dead end: the citizen goes back to the service, which is told.
    chrome.click_id("stepup-cancel");
    let back = w.wait_for_rp();
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some(stepped.state.as_str()));
    w.assert_no_server_errors();
}

#[test]
fn account_without_a_passkey_asked_for_loa2_gets_unmet_authentication_requirements() {
    // No JavaScript involved: the plain HTTP browser walks the login page.
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let browser = Browser::new(&idp);
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);

    let pending = rp.authorize(&["profile"], &[("acr_values", "LoA2")]);
    let flow = browser.run_flow(&pending.url, creds);
    let back = &flow.redirect;
    assert!(back.as_str().starts_with(&rp.reg.redirect_uri), "{back}");
    // OIDC Core 1.0 Unmet Authentication Requirements §2.
    assert_eq!(query_param(back, "error").as_deref(), Some("unmet_authentication_requirements"), "{back}");
    assert_eq!(query_param(back, "state").as_deref(), Some(pending.state.as_str()));
    assert!(query_param(back, "code").is_none(), "{back}");

    // An essential acr claim asks the same (OIDC Core §5.5.1.1).
    let claims = json!({"id_token": {"acr": {"essential": true, "value": "LoA2"}}}).to_string();
    let pending = rp.authorize(&["profile"], &[("claims", &claims)]);
    let flow = browser.run_flow(&pending.url, Credentials::None);
    assert_eq!(
        query_param(&flow.redirect, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{}",
        flow.redirect
    );

    // prompt=none cannot show a step-up: login_required (OIDC Core §3.1.2.6).
    let pending = rp.authorize(&["profile"], &[("acr_values", "LoA2"), ("prompt", "none")]);
    let flow = browser.run_flow(&pending.url, Credentials::None);
    assert_eq!(query_param(&flow.redirect, "error").as_deref(), Some("login_required"), "{}", flow.redirect);

    // The session itself is still good for what it can give.
    let tokens = rp.sign_in(&browser, &["profile"], &[], Credentials::None);
    assert_eq!(tokens.id_payload["acr"], "LoA1");
    // acr_values lists acceptable levels in order of preference (OIDC Core
    // §3.1.2.1): `LoA2 LoA1` prefers a passkey but takes the password session.
    let either = rp.sign_in(&browser, &["profile"], &[("acr_values", "LoA2 LoA1")], Credentials::None);
    assert_eq!(either.id_payload["acr"], "LoA1", "{}", either.id_payload);

    // A client registered with minimum_acr=LoA2 demands it without asking.
    let strict = idp.register_client(&[]);
    let patched = idp
        .http()
        .patch(format!("{}/admin/v1/clients/{}", idp.admin_url(), strict.client_id))
        .bearer_auth(idp.admin_token())
        .json(&json!({"minimum_acr": "LoA2"}))
        .send()
        .expect("admin API");
    assert_eq!(patched.status(), 200, "{:?}", patched.text());
    let strict = Rp::new(&idp, &strict);
    let pending = strict.authorize(&["profile"], &[]);
    let flow = browser.run_flow(&pending.url, Credentials::None);
    assert_eq!(
        query_param(&flow.redirect, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{}",
        flow.redirect
    );
}

#[test]
fn passkey_is_renamed_and_deleted_on_the_account_page() {
    let Some(w) = World::new() else { return };
    let chrome = &w.chrome;
    let (citizen, authenticator, _) = w.citizen_with_passkey(AuthenticatorKind::default(), "Khóa cũ");

    // The password session cannot manage an existing passkey: the page asks to confirm with
    // one first (a password alone must not swap the passkeys that make LoA2).
    chrome.goto(&w.page("/account"));
    chrome.click_id("passkey-signin");
    chrome.wait_until("the account page in a passkey session", |c| {
        (c.exists("li.passkey") && !c.exists("#passkey-signin")).then_some(())
    });

    // Created and last-used times are shown with the name.
    let listed = w.wait_for_listed(1);
    let (id, text) = &listed[0];
    assert!(!id.is_empty(), "li.passkey without data-id: {listed:?}");
    assert!(text.chars().any(|c| c.is_ascii_digit()), "no time shown for the passkey: {text:?}");

    chrome.fill_selector("li.passkey input[name=name]", "Máy tính cơ quan");
    chrome.click("li.passkey button.passkey-rename");
    chrome.wait_until("the new name on /account", |_| {
        let listed = w.listed_passkeys()?;
        (listed.len() == 1 && listed[0].1.contains("Máy tính cơ quan") && !listed[0].1.contains("Khóa cũ"))
            .then_some(())
    });

    // The account has a password, so its last passkey can go.
    chrome.click("li.passkey button.passkey-delete");
    w.wait_for_listed(0);
    chrome.goto(&w.page("/account"));
    assert_eq!(w.listed_passkeys(), Some(vec![]), "the deleted passkey is still listed");

    // The authenticator still holds the credential, but the idp no longer accepts it: the login
    // page says so in the citizen's language, and nothing answers 500.
    assert_eq!(chrome.credentials(&authenticator).len(), 1);
    w.sign_out();
    let pending = w.authorize(&[]);
    w.wait_for_page("/login");
    chrome.click_id("passkey-signin");
    let message = passkey_error(chrome);
    assert!(!message.is_ascii(), "not a Vietnamese message: {message:?}");
    assert!(chrome.url().starts_with(&w.page("/login")), "left the login page: {}", chrome.url());
    // The idp refused the assertion (a 4xx), and its message is what the citizen reads, not the
    // page's generic "cancelled" text.
    let refused = chrome.events().into_iter().any(|e| e.starts_with("HTTP 4") && e.contains("/passkeys/login?"));
    assert!(refused, "no 4xx from /passkeys/login: {:?}", chrome.events());
    let generic = chrome.eval("document.getElementById('passkey-error').dataset.cancelled");
    assert_ne!(generic.as_str(), Some(message.as_str()), "the idp's reason was not shown");
    w.assert_no_server_errors();

    // The password still works.
    chrome.fill("identifier", &citizen.national_id);
    chrome.fill("password", &citizen.password);
    chrome.click_id("password-submit");
    assert_eq!(w.tokens(&pending).id_payload["acr"], "LoA1");
}

#[test]
fn authenticator_without_the_credential_shows_a_translated_error() {
    let Some(w) = World::new() else { return };
    let chrome = &w.chrome;
    let (_citizen, authenticator, _) = w.citizen_with_passkey(AuthenticatorKind::default(), "Điện thoại");
    w.sign_out();

    // Another device: a fresh authenticator that never saw this site.
    chrome.remove_authenticator(&authenticator);
    let other = chrome.add_authenticator(AuthenticatorKind::default());
    w.authorize(&[]);
    w.wait_for_page("/login");
    chrome.click_id("passkey-signin");
    let message = passkey_error(chrome);
    assert!(!message.is_ascii(), "not a Vietnamese message: {message:?}");
    assert!(chrome.url().starts_with(&w.page("/login")), "left the login page: {}", chrome.url());
    assert!(chrome.credentials(&other).is_empty());
    w.assert_no_server_errors();
}
