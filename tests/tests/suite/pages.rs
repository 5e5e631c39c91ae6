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

/// The language link over plain HTTP: it remembers the choice in a cookie
/// (HttpOnly, SameSite=Lax, a year) and goes back to the page it was on,
/// found from the `Referer` our pages now send to ourselves, never to another
/// site.
#[test]
fn the_language_link_sets_a_cookie_and_goes_back_only_to_our_pages() {
    let idp = Idp::start();
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(idp.url("/login?lang=vi")).send().unwrap();
    assert_eq!(page.headers()["referrer-policy"], "same-origin");

    let switch = |referer: &str| http.get(idp.url("/lang?to=en")).header("referer", referer).send().unwrap();
    let back = switch(idp.url("/login?req=r1&lang=vi").as_str());
    assert_eq!(back.status(), 303);
    assert_eq!(back.headers()["location"], "/login?req=r1", "back without the lang parameter");
    let cookie = back.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["motcua_lang=en;", "Path=/", "Max-Age=31536000", "SameSite=Lax", "HttpOnly"] {
        assert!(cookie.contains(part), "{part} missing from {cookie}");
    }
    for elsewhere in [format!("{}//evil.example/x", idp.issuer()), "https://evil.example/x".to_owned()] {
        assert_eq!(switch(&elsewhere).headers()["location"], "/", "{elsewhere}");
    }

    // With the cookie the page is English, over the browser's Vietnamese.
    let en = http.get(idp.url("/login")).header("cookie", "motcua_lang=en").header("accept-language", "vi");
    assert!(en.send().unwrap().text().unwrap().contains(r#"<html lang="en">"#));
}
