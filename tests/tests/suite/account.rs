//! The citizen's account pages as a citizen and the services see them: each signed-in browser
//! listed with its device and last use, and a password change that signs out every other
//! browser (its refresh tokens die, its services get a back-channel logout token) while the
//! browser that changed it stays signed in.

use std::time::Duration;

use e2e::server::free_ports;
use e2e::{Browser, Credentials, Idp, query_param};

use super::logout::{Receiver, check_logout_token, client_with_logout};

const LAPTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const PHONE: &str = "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 SamsungBrowser/25.0 \
                     Chrome/121.0 Mobile Safari/537.36";

#[test]
fn account_sessions_page_names_each_browser_and_its_last_use() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let rp = e2e::Rp::new(&idp, &idp.register_client(&[]));
    let (laptop, phone) = (Browser::with_user_agent(&idp, LAPTOP), Browser::with_user_agent(&idp, PHONE));
    let creds = Credentials::Password(&citizen.national_id, &citizen.password);
    rp.sign_in(&laptop, &[], &[], creds);
    rp.sign_in(&phone, &[], &[], creds);

    let list = laptop.get(&idp.url("/account/sessions?lang=en"));
    assert_eq!(list.status, 200, "{list:?}");
    let text = list.text();
    assert!(text.contains("Firefox · Linux · this browser"), "{text}");
    assert!(text.contains("Samsung Internet · Android"), "{text}");
    assert_eq!(text.matches("last seen ").count(), 2, "{text}");
    assert!(!text.contains("Hà Nội"), "no place without the operator's list: {text}");
    let vi = phone.get(&idp.url("/account/sessions?lang=vi")).text();
    assert!(vi.contains("Samsung Internet · Android · trình duyệt này"), "{vi}");
    assert!(vi.contains("dùng lần cuối"), "{vi}");
}

/// With the operator's network list (`IDP_SESSION_PLACES`), each session shows the place of the
/// address it signed in from; without it (the test above) no place is shown.
#[test]
fn account_sessions_page_shows_the_place_from_the_operators_network_list() {
    let dir = tempfile::tempdir().unwrap();
    let places = dir.path().join("places.csv");
    std::fs::write(&places, "# test networks\n10.0.0.0/8,Đà Nẵng\n127.0.0.0/8,Hà Nội (mạng thử)\n").unwrap();
    let idp = Idp::start_with_env(&[("IDP_SESSION_PLACES", places.to_str().unwrap())]);
    let citizen = idp.citizen();
    let rp = e2e::Rp::new(&idp, &idp.register_client(&[]));
    let laptop = Browser::with_user_agent(&idp, LAPTOP);
    rp.sign_in(&laptop, &[], &[], Credentials::Password(&citizen.national_id, &citizen.password));
    let text = laptop.get(&idp.url("/account/sessions?lang=en")).text();
    assert!(text.contains("Firefox · Linux · Hà Nội (mạng thử) · this browser"), "{text}");
    assert!(!text.contains("Đà Nẵng"), "{text}");
}

#[test]
fn account_password_change_signs_out_every_other_browser() {
    let idp = Idp::start();
    let citizen = idp.citizen();
    let [port] = free_ports();
    let rx = Receiver::listen(port);
    let (rp, _) = client_with_logout(&idp, port, &[]);
    let (laptop, phone) = (Browser::with_user_agent(&idp, LAPTOP), Browser::with_user_agent(&idp, PHONE));
    let old = Credentials::Password(&citizen.national_id, &citizen.password);
    let on_phone = rp.sign_in(&phone, &["offline_access"], &[("prompt", "consent")], old);
    rp.sign_in(&laptop, &[], &[], old);

    let account = laptop.get(&idp.url("/account?lang=en"));
    assert!(account.body.contains("href=\"/account/password\""), "{}", account.text());
    let form = laptop.get(&idp.url("/account/password?lang=en"));
    assert_eq!(form.status, 200, "{form:?}");
    assert!(form.text().contains("Current password"), "{}", form.text());
    let csrf = form.hidden("csrf");
    let url = idp.url("/account/password?lang=en");
    let new_password = "gió mùa đông bắc về";
    let submit = |current: &str, new: &str, again: &str| {
        laptop.post_form(&url, &[("csrf", &csrf), ("current", current), ("password", new), ("password_confirm", again)])
    };

    // Refusals: the form again with the reason, nothing changed, nobody signed out.
    let wrong = submit("not my password", new_password, new_password);
    assert_eq!(wrong.status, 200, "{wrong:?}");
    assert!(wrong.text().contains("The current password is incorrect."), "{}", wrong.text());
    let mismatch = submit(&citizen.password, new_password, "gió mùa đông bắc");
    assert_eq!(mismatch.status, 400, "{mismatch:?}");
    assert!(mismatch.text().contains("The two passwords do not match."), "{}", mismatch.text());
    let weak = submit(&citizen.password, "matkhau123", "matkhau123");
    assert_eq!(weak.status, 400, "{weak:?}");
    assert!(weak.text().contains("too common"), "{}", weak.text());
    let forged = laptop.post_form(
        &url,
        &[
            ("csrf", "nope"),
            ("current", &citizen.password),
            ("password", new_password),
            ("password_confirm", new_password),
        ],
    );
    assert_eq!(forged.status, 403, "{forged:?}");
    assert!(rx.tokens.lock().unwrap().is_empty(), "no logout before the change");

    let done = submit(&citizen.password, new_password, new_password);
    assert_eq!(done.status, 303, "{done:?}");
    let shown = laptop.get(&done.location.expect("back to the form"));
    assert!(shown.text().contains("Your password has been changed."), "{}", shown.text());

    // The phone's session is over, and its service is told.
    let tokens = rx.wait(Duration::from_secs(10));
    assert_eq!(tokens.len(), 1, "one notice: the phone's session");
    let (sid, sub) = (on_phone.id_payload["sid"].as_str().unwrap(), on_phone.id_payload["sub"].as_str().unwrap());
    check_logout_token(&idp, &tokens[0], &rp.reg.client_id, sid, sub);
    assert_eq!(rp.refresh(on_phone.refresh_token.as_deref().expect("refresh token")).error(), "invalid_grant");
    let silent = rp.authorize(&[], &[("prompt", "none")]);
    let redirect = phone.get(&silent.url).location.expect("redirect to the client");
    assert_eq!(query_param(&redirect, "error").as_deref(), Some("login_required"), "{redirect}");

    // The laptop stays signed in: its account page, and a new sign-in without a login.
    assert_eq!(laptop.get(&idp.url("/account")).status, 200);
    rp.sign_in(&laptop, &[], &[], Credentials::None);
    let activity = laptop.get(&idp.url("/account?lang=en")).text();
    assert!(activity.contains("Password changed"), "{activity}");

    // The old password no longer signs in; the new one does.
    let other = Browser::new(&idp);
    let refused = other.submit_login(&idp.url("/login?lang=en"), &citizen.national_id, &citizen.password);
    assert_eq!(refused.status, 200, "{refused:?}");
    // The login form posts without `lang`: the message comes in Vietnamese.
    assert!(refused.text().contains("hoặc mật khẩu không đúng"), "{}", refused.text());
    let accepted = other.submit_login(&idp.url("/login?lang=en"), &citizen.national_id, new_password);
    assert_eq!(accepted.status, 303, "{accepted:?}");
    assert_eq!(other.get(&idp.url("/account")).status, 200);
}
