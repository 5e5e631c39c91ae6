use e2e::chromium::Chromium;
use e2e::{Idp, Rp};
use serde_json::{Value, json};

/// The language the page in the tab says it is in (`<html lang>`).
fn page_lang(chrome: &Chromium) -> Value {
    chrome.try_eval("document.documentElement.lang").unwrap_or(Value::Null)
}

/// Every page has the language link. A click shows the same page in the other
/// language, and the choice holds on the next pages (a cookie), over the
/// service's `ui_locales`, which is only its guess.
#[test]
fn the_language_link_switches_the_page_and_the_choice_holds() {
    let Some(chrome) = Chromium::launch() else { return };
    let idp = Idp::start_localhost(&[]);
    let rp = Rp::new(&idp, &idp.register_client(&[]));
    let citizen = idp.citizen();
    // The service asks for Vietnamese, and so does the browser.
    let pending = rp.authorize(&["profile"], &[("ui_locales", "vi")]);
    chrome.goto(pending.url.as_str());
    chrome.wait_for("#password-submit");
    assert_eq!(page_lang(&chrome), json!("vi"));
    let login = chrome.url();
    chrome.click("a.lang");
    chrome.wait_until("the login page in English", |c| (page_lang(c) == json!("en")).then_some(()));
    assert_eq!(chrome.url(), login, "the link did not come back to the page it was on");
    assert_eq!(chrome.text_of("a.lang").as_deref(), Some("Tiếng Việt"));

    // Signed in, the consent page is in English too.
    chrome.fill("identifier", &citizen.national_id);
    chrome.fill("password", &citizen.password);
    chrome.click_id("password-submit");
    chrome.wait_until("the consent page", |c| c.url().contains("/consent").then_some(()));
    chrome.wait_for("button[value=allow]");
    assert_eq!(page_lang(&chrome), json!("en"), "{}", chrome.text());

    // So is an error page, which switches back the same way.
    chrome.goto(&format!("{}/no-such-page", idp.issuer()));
    assert_eq!(page_lang(&chrome), json!("en"));
    chrome.click("a.lang");
    chrome.wait_until("the error page in Vietnamese", |c| (page_lang(c) == json!("vi")).then_some(()));
    assert!(chrome.url().ends_with("/no-such-page"), "{}", chrome.url());
}
