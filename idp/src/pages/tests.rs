#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use std::collections::{BTreeMap, BTreeSet};

/// Templates compile on first render: every embedded one must compile, and
/// a name that is not embedded is an error, not an empty page.
#[test]
fn every_embedded_template_compiles() {
    let pages = Pages::new().unwrap();
    for (name, _) in TEMPLATES {
        pages.env.get_template(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    assert!(pages.env.get_template("missing.html").is_err());
    assert!(pages.render("missing.html", Locale::Vi, context! {}).is_err());
}

/// Keys the handlers and the domain pass in (the contract with the lead).
const REQUIRED_KEYS: &[&str] = &[
    "err.invalid_credentials",
    "err.throttled",
    "err.csrf",
    "err.national_id_invalid",
    "err.name_invalid",
    "err.email_invalid",
    "err.phone_invalid",
    "err.password_too_short",
    "err.password_too_common",
    "err.password_mismatch",
    "err.national_id_taken",
    "err.email_taken",
    "err.unknown_client",
    "err.invalid_redirect_uri",
    "err.invalid_request",
    "err.login_expired",
    "err.request_uri",
    "err.request_object",
    "err.server_error",
    "err.not_found",
    "err.account_disabled",
    "err.internal",
    "err.title",
    "scope.openid",
    "scope.profile",
    "scope.email",
    "scope.phone",
    "scope.address",
    "scope.national_id",
    "scope.offline_access",
];

/// Every `t("key"` literal in a template source.
fn literal_keys(source: &str) -> Vec<String> {
    source
        .match_indices("t(\"")
        .filter(|(i, _)| {
            // `t(` as a whole identifier, not the end of another name.
            *i == 0 || !source.as_bytes()[i - 1].is_ascii_alphanumeric()
        })
        .filter_map(|(i, m)| {
            let rest = &source[i + m.len()..];
            // Only whole literals: `t("a.b")` or `t("a.b", …)`, not `t("a." ~ x)`.
            let end = rest.find('"')?;
            let after = rest[end + 1..].trim_start();
            (after.starts_with(')') || after.starts_with(',')).then(|| rest[..end].to_owned())
        })
        .collect()
}

fn placeholders(s: &str) -> BTreeSet<String> {
    s.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(name, _)| name.to_owned())).collect()
}

#[test]
fn table_is_well_formed() {
    let mut seen = BTreeSet::new();
    for (key, vi, en) in i18n::MESSAGES {
        assert!(seen.insert(*key), "duplicate key {key}");
        assert!(!vi.trim().is_empty() && !en.trim().is_empty(), "{key} empty");
        assert_eq!(placeholders(vi), placeholders(en), "{key} placeholders");
    }
}

#[test]
fn required_keys_exist_in_both_languages() {
    for key in REQUIRED_KEYS {
        assert_ne!(text(Locale::Vi, key), *key, "{key} missing");
        assert_ne!(text(Locale::En, key), *key, "{key} missing");
    }
    assert!(text(Locale::Vi, "err.throttled").contains("{n}"));
}

#[test]
fn every_template_key_exists() {
    let mut count = 0;
    for (name, source) in TEMPLATES {
        for key in literal_keys(source) {
            count += 1;
            let present = i18n::MESSAGES.iter().any(|(k, _, _)| *k == key);
            assert!(present, "{name} uses unknown key {key}");
        }
    }
    assert!(count > 40, "scanner found only {count} keys");
}

#[test]
fn text_falls_back_to_the_key() {
    assert_eq!(text(Locale::En, "no.such_key"), "no.such_key");
    assert_eq!(text(Locale::En, "err.csrf"), "This form has expired. Please try again.");
    assert_eq!(
        text_with(Locale::Vi, "err.throttled", &[("n", "30")]),
        "Bạn đã thử quá nhiều lần. Vui lòng thử lại sau 30 giây."
    );
}

#[test]
fn locale_parse() {
    for tag in ["vi", "VI", "vi-VN", "vi_vn", " vi "] {
        assert_eq!(Locale::parse(tag), Some(Locale::Vi), "{tag}");
    }
    for tag in ["en", "EN-us", "en-GB", "en_US"] {
        assert_eq!(Locale::parse(tag), Some(Locale::En), "{tag}");
    }
    for tag in ["", "fr", "fr-FR", "env", "vie", "*"] {
        assert_eq!(Locale::parse(tag), None, "{tag}");
    }
    assert_eq!(Locale::Vi.tag(), "vi");
    assert_eq!(Locale::En.tag(), "en");
}

#[test]
fn negotiate_order_and_q_values() {
    use Locale::{En, Vi};
    assert_eq!(negotiate(None, None, None), Vi);
    // The citizen's own choice first (the switcher's cookie), over the service's guess.
    assert_eq!(negotiate(Some("fr-FR en vi"), Some("vi"), Some("en")), Vi);
    assert_eq!(negotiate(None, Some("en"), Some("vi")), En);
    // Then ui_locales, in its own order, skipping unsupported tags.
    assert_eq!(negotiate(Some("fr-FR en vi"), None, Some("vi")), En);
    assert_eq!(negotiate(Some("fr"), Some("en"), Some("vi")), En);
    assert_eq!(negotiate(Some("fr vi"), Some("garbage"), Some("en-US")), Vi);
    assert_eq!(negotiate(None, Some("garbage"), Some("en-US")), En);
    // Then Accept-Language by q-value.
    assert_eq!(negotiate(None, None, Some("en-US,en;q=0.9")), En);
    assert_eq!(negotiate(None, None, Some("en;q=0.5, vi;q=0.8")), Vi);
    assert_eq!(negotiate(None, None, Some("fr, en;q=0.2")), En);
    assert_eq!(negotiate(None, None, Some("vi;q=0, en;q=0.1")), En);
    assert_eq!(negotiate(None, None, Some("en;q=0")), Vi);
    assert_eq!(negotiate(None, None, Some("fr-FR, *;q=0.5")), Vi);
    assert_eq!(negotiate(None, None, Some("en;q=1.0, vi")), En);
    assert_eq!(negotiate(None, None, Some("en;q=abc, vi;q=0.3")), Vi);
    assert_eq!(negotiate(None, None, Some(",,;;")), Vi);
}

/// One representative context per page, with every optional part filled.
fn samples() -> Vec<(&'static str, Value)> {
    let errors: BTreeMap<&str, &str> = [
        ("national_id", "err.national_id_invalid"),
        ("full_name", "err.name_invalid"),
        ("email", "err.email_invalid"),
        ("password", "err.password_too_short"),
        ("password_confirm", "err.password_mismatch"),
    ]
    .into();
    vec![
        (
            "login.html",
            context! {
                csrf => "csrf-token-abc", req => "REQ123", login_hint => "012345678901",
                error => "err.throttled", error_n => 42, client_name => "Cổng Dịch vụ công",
                signup_url => "/signup?req=REQ123", request_id => "rid-1",
            },
        ),
        (
            "signup.html",
            context! {
                csrf => "csrf-token-abc", req => "REQ123",
                values => context! { national_id => "12345", full_name => "Nguyễn Văn A", email => "a@b" },
                errors => errors, error => "err.csrf", login_url => "/login?req=REQ123",
                request_id => "rid-2",
            },
        ),
        (
            "consent.html",
            context! {
                csrf => "csrf-token-abc", req => "REQ123", client_name => "Dịch vụ công Hà Nội",
                organisation_name => "UBND Thành phố Hà Nội",
                scopes => vec!["scope.openid", "scope.profile", "scope.email", "scope.phone",
                               "scope.address", "scope.national_id", "scope.offline_access"],
                account_name => "Nguyễn Văn A", request_id => "rid-3",
                acting_for => context! { name => "Công ty TNHH Hoa", tax_code => "0100109106" },
            },
        ),
        (
            "error.html",
            context! {
                title => "err.title", message => "err.invalid_redirect_uri",
                code => "invalid_redirect_uri", request_id => "01HZX3Q9RID",
            },
        ),
        (
            "form_post.html",
            context! {
                action => "https://rp.example/cb",
                fields => vec![vec!["code", "abc"], vec!["state", "x\"y"], vec!["iss", "https://id.example"]],
            },
        ),
        ("home.html", context! { account_name => "Nguyễn Văn A", csrf => "csrf-token-abc", request_id => "rid-4" }),
        (
            "step_up.html",
            context! {
                csrf => "csrf-token-abc", req => "REQ123", client_name => "Đăng ký đất đai",
                account_name => "Nguyễn Văn A", passkeys => true, request_id => "rid-5",
            },
        ),
        (
            "passkey_new.html",
            context! {
                csrf => "csrf-token-abc", req => "REQ123", skip_url => "/authorize/continue?req=REQ123",
                passkeys_on => true, client_name => "Đăng ký đất đai", request_id => "rid-6",
            },
        ),
        (
            "account.html",
            context! {
                csrf => "csrf-token-abc", error => "err.passkey_last", full_name => "Nguyễn Văn A",
                email => "a@example.vn", phone => "+84901234567", national_id => "••••••••2345",
                has_password => false, passkeys_on => true,
                passkeys => vec![context! {
                    id => "pk-1", name => "Điện thoại", device => "Chrome · Android", synced => true,
                    created => "21/08/2026 09:00", last_used => "22/08/2026 10:30",
                }],
                activity => vec![
                    context! { at => "22/08/2026 10:30", what => "Signed in with a passkey", ok => true, name => "Điện thoại" },
                    context! { at => "22/08/2026 10:29", what => "Signed in with a password", ok => false },
                ], request_id => "rid-7",
            },
        ),
        (
            "logout_confirm.html",
            context! {
                csrf => "csrf-token-abc", client_name => "Bộ Y tế", client_id => "cli-1",
                post_logout_redirect_uri => "https://rp.example.vn/bye", state => "s1", request_id => "rid-8",
            },
        ),
        (
            "account_sessions.html",
            context! {
                csrf => "csrf-token-abc", request_id => "rid-10",
                sessions => vec![
                    context! {
                        sid => "sid-1", signed_in => "22/08/2026 10:30", acr => "LoA1", current => true,
                        device => "Chrome · Android", last_seen => "22/08/2026 11:00",
                    },
                    context! { sid => "sid-2", signed_in => "21/08/2026 08:00", acr => "LoA2", last_seen => "21/08/2026 08:00" },
                ],
            },
        ),
        (
            "account_password.html",
            context! {
                csrf => "csrf-token-abc", request_id => "rid-12",
                has_password => true, error => "err.throttled", error_n => 42,
                done => "password_page.changed",
            },
        ),
        (
            "account_services.html",
            context! {
                csrf => "csrf-token-abc", request_id => "rid-11",
                services => vec![context! { client_id => "cli-1", name => "Bộ Y tế", since => "22/08/2026 10:30" }],
            },
        ),
        (
            "account_businesses.html",
            context! {
                csrf => "csrf-token-abc", request_id => "rid-13",
                form => "register", errors => context! { tax_code => "biz.err.tax_code_check_digit" },
                values => context! { tax_code => "0100109105", name => "Công ty TNHH Sen Vàng" },
                invitations => vec![context! { tax_code => "0312345679", name => "Công ty CP Mây", role => "biz.role.authorised_staff", expires => "30/06/2027" }],
                memberships => vec![
                    context! {
                        tax_code => "0100109106", name => "Công ty TNHH Hoa", role => "biz.role.legal_representative",
                        verified => true, manages => true,
                    },
                    context! {
                        tax_code => "0312345679-001", name => "Chi nhánh Mây", role => "biz.role.authorised_staff",
                        verified => false, inactive => "biz.status.expired", expires => "01/01/2026",
                    },
                ],
            },
        ),
        (
            "account_business_members.html",
            context! {
                csrf => "csrf-token-abc", request_id => "rid-14",
                tax_code => "0100109106", name => "Công ty TNHH Hoa", done => "biz.done.removed",
                form => "0100109106", errors => context! { expires => "biz.err.expiry" },
                values => context! { national_id => "079188001234", role => "legal_representative", expires => "2001-01-01" },
                members => vec![
                    context! {
                        id => "acc-1", name => "Nguyễn Văn An", national_id => "*********345",
                        role => "biz.role.legal_representative", status => "biz.status.active", me => true,
                    },
                    context! {
                        id => "acc-2", national_id => "*********234",
                        role => "biz.role.authorised_staff", status => "biz.status.invited", expires => "30/06/2027",
                    },
                ],
            },
        ),
        (
            "business_choose.html",
            context! {
                csrf => "csrf-token-abc", req => "REQ123", client_name => "Cổng thuế điện tử", request_id => "rid-14",
                businesses => vec![
                    context! { tax_code => "0100109106", name => "Công ty TNHH Hoa", verified => true,
                               role => "choose.role.legal_representative", checked => false },
                    context! { tax_code => "0101245486", name => "Công ty CP Sen Vàng", verified => false,
                               role => "choose.role.authorised_staff", checked => true },
                ],
                self_allowed => true, self_checked => false, error => "err.business_choice",
            },
        ),
        (
            "logged_out.html",
            context! {
                redirect => "https://rp.example.vn/bye?state=s1", request_id => "rid-9",
                frames => vec![context! { client_name => "Bộ Y tế", src => "https://rp.example.vn/fc?iss=x&sid=y" }],
            },
        ),
    ]
}

#[test]
fn every_page_renders_in_both_languages() {
    let pages = Pages::new().unwrap();
    let namespaces = [
        "brand.",
        "footer.",
        "form.",
        "login.",
        "signup.",
        "consent.",
        "account.",
        "home.",
        "form_post.",
        // Not `passkey.`: the pages load `/assets/passkey.js`.
        "stepup.",
        "offer.",
        "activity.",
        "error.",
        "err.",
        "scope.",
        "logout.",
        "sessions_page.",
        "services_page.",
        "password_page.",
        "biz.",
        "choose.",
    ];
    let mut rendered = BTreeSet::new();
    for locale in [Locale::Vi, Locale::En] {
        for (name, ctx) in samples() {
            let html = pages.render(name, locale, ctx).unwrap();
            rendered.insert(name);
            assert!(html.contains(&format!("<html lang=\"{}\">", locale.tag())), "{name}");
            for ns in namespaces {
                assert!(!html.contains(ns), "{name}/{locale:?} shows a raw key {ns}…");
            }
            assert!(!html.contains(">none") && !html.contains("value=\"none\""), "{name} printed none");
            // Small pages for cheap phones: the samples well inside the first
            // round trip of a slow connection (about 14 KB). 5 KiB since the
            // passkey pages carry a message for each kind of failure (was 4 KiB).
            assert!(html.len() < 5120, "{name}/{locale:?} is {} bytes", html.len());
        }
    }
    let all: BTreeSet<&str> = TEMPLATES.iter().map(|(n, _)| *n).filter(|n| *n != "base.html").collect();
    assert_eq!(rendered, all, "a page has no sample");
}

#[test]
fn pages_render_with_minimal_context() {
    let pages = Pages::new().unwrap();
    for (name, _) in TEMPLATES {
        for ctx in [Value::UNDEFINED, context! {}, context! { req => (), error => () }] {
            let html = pages.render(name, Locale::Vi, ctx).unwrap();
            assert!(!html.contains(">none") && !html.contains("value=\"none\""), "{name} printed none");
        }
    }
}

#[test]
fn login_page() {
    let pages = Pages::new().unwrap();
    let (_, ctx) = samples().remove(0);
    let html = pages.render("login.html", Locale::En, ctx).unwrap();
    assert!(html.contains(r#"<input type="hidden" name="csrf" value="csrf-token-abc">"#));
    assert!(html.contains(r#"<input type="hidden" name="req" value="REQ123">"#));
    assert!(html.contains(r#"action="/login?req=REQ123""#), "the page it came back to keeps its request");
    // `webauthn` lets the browser offer passkeys in the field (conditional mediation).
    assert!(html.contains(r#"autocomplete="username webauthn""#));
    assert!(html.contains(r#"<button type="submit" id="password-submit">"#));
    assert!(html.contains(r#"autocomplete="current-password""#));
    assert!(html.contains(r#"<label for="identifier">"#) && html.contains(r#"id="identifier""#));
    assert!(html.contains(r#"<label for="password">"#) && html.contains(r#"id="password""#));
    assert!(html.contains("Too many attempts. Please try again in 42 seconds."));
    assert!(html.contains("Sign in to continue to Cổng Dịch vụ công"));
    assert!(html.contains(r#"value="012345678901""#));
    assert!(html.contains(r#"hreflang="vi">Tiếng Việt</a>"#));
    assert!(html.contains("<code>rid-1</code>"));
    assert!(!html.contains("<script"));

    let vi = pages.render("login.html", Locale::Vi, context! { error => "err.invalid_credentials" }).unwrap();
    assert!(vi.contains("Số định danh/email hoặc mật khẩu không đúng."), "{vi}");
    assert!(vi.contains(r#"<a class="lang" href="/lang?to=en" lang="en" hreflang="en">English</a>"#), "{vi}");
}

#[test]
fn values_are_escaped() {
    let pages = Pages::new().unwrap();
    let evil = "<script>alert(1)</script>\"'";
    let html = pages
        .render(
            "consent.html",
            Locale::En,
            context! { client_name => evil, organisation_name => evil, account_name => evil,
            scopes => vec!["scope.openid"], csrf => evil, req => evil },
        )
        .unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("\"'"));
    assert!(html.contains("&lt;script&gt;"));
    let html = pages.render("login.html", Locale::Vi, context! { login_hint => evil }).unwrap();
    assert!(!html.contains("<script>"));
}

#[test]
fn signup_ties_each_error_to_its_field() {
    let pages = Pages::new().unwrap();
    let (_, ctx) = samples().remove(1);
    let html = pages.render("signup.html", Locale::Vi, ctx).unwrap();
    assert!(html.contains(r#"action="/signup?req=REQ123""#));
    assert!(html.contains(r#"aria-describedby="national_id-h national_id-e" aria-invalid="true""#));
    assert!(html.contains(
        r#"<p class="err" id="national_id-e"><b>Lỗi:</b> Số định danh cá nhân phải gồm đúng 12 chữ số.</p>"#
    ));
    assert!(html.contains(r#"id="password_confirm-e""#));
    assert!(html.contains(r#"inputmode="numeric" pattern="[0-9]{12}""#));
    assert!(html.contains(r#"autocomplete="name""#));
    assert!(html.contains(r#"autocomplete="email""#));
    assert_eq!(html.matches(r#"autocomplete="new-password""#).count(), 2);
    assert!(html.contains(r#"value="Nguyễn Văn A""#));
    // Passwords are never echoed back.
    assert_eq!(html.matches("value=").count(), 5, "{html}");
    assert!(html.contains("Email (không bắt buộc)"));
    assert!(html.contains("Biểu mẫu đã hết hạn."));

    let clean = pages.render("signup.html", Locale::En, context! { csrf => "c", req => "" }).unwrap();
    assert!(!clean.contains(r#"aria-invalid="true""#), "{clean}");
    assert!(!clean.contains("role=\"alert\""));
    assert!(clean.contains(r#"aria-describedby="national_id-h""#));
    assert!(clean.contains(r#"<input id="full_name" name="full_name" type="text" autocomplete="name" autocapitalize="words" required value="">"#));
}

#[test]
fn consent_page() {
    let pages = Pages::new().unwrap();
    let (_, ctx) = samples().remove(2);
    let html = pages.render("consent.html", Locale::En, ctx).unwrap();
    assert!(html.contains(r#"action="/consent""#));
    assert!(html.contains(r#"name="decision" value="allow""#));
    assert!(html.contains(r#"name="decision" value="deny""#));
    assert!(html.contains("<li>Your national ID number (CCCD)</li>"));
    assert!(html.contains("<li>Keep access to this information while you are not using the service</li>"));
    assert!(html.contains("Dịch vụ công Hà Nội wants to access the following in your account:"));
    assert!(html.contains("This service is run by UBND Thành phố Hà Nội."));
    assert!(html.contains("You are signed in as Nguyễn Văn A."));
    assert!(html.contains("Acting for: Công ty TNHH Hoa (0100109106)"));
}

#[test]
fn business_chooser_page() {
    let pages = Pages::new().unwrap();
    let (_, ctx) = samples().into_iter().find(|(n, _)| *n == "business_choose.html").unwrap();
    let html = pages.render("business_choose.html", Locale::En, ctx).unwrap();
    assert!(html.contains(r#"action="/choose-business?req=REQ"#));
    assert!(html.contains(r#"value="0101245486" required checked"#), "{html}");
    assert!(html.contains(r#"value="0100109106" required>"#), "{html}");
    assert!(html.contains(r#"value="myself" required>"#), "{html}");
    assert!(html.contains("Tax code 0100109106 · Legal representative"));
    assert!(html.contains("Authorised staff · self-declared, not verified"));
    assert!(html.contains(r#"name="choice" value="cancel""#));
    assert!(html.contains("You cannot act for that choice."));
    for locale in [Locale::Vi, Locale::En] {
        let (_, ctx) = samples().into_iter().find(|(n, _)| *n == "business_choose.html").unwrap();
        let len = pages.render("business_choose.html", locale, ctx).unwrap().len();
        assert!(len < 4096, "{locale:?}: {len} bytes");
    }
    // Nothing to choose from: the explanation and the way back, no radio buttons.
    let none =
        context! { csrf => "c", req => "R", client_name => "Cổng thuế điện tử", businesses => Vec::<Value>::new() };
    let html = pages.render("business_choose.html", Locale::En, none).unwrap();
    assert!(html.contains("Cổng thuế điện tử is for businesses, but you are not recorded"), "{html}");
    assert!(!html.contains(r#"type="radio""#));
    assert!(html.contains(r#"name="choice" value="cancel""#));
}

#[test]
fn error_page_shows_the_request_id_once() {
    let pages = Pages::new().unwrap();
    let (_, ctx) = samples().remove(3);
    let html = pages.render("error.html", Locale::Vi, ctx).unwrap();
    assert!(html.contains("Khi liên hệ bộ phận hỗ trợ, vui lòng cung cấp mã yêu cầu này: <code>01HZX3Q9RID</code>"));
    assert_eq!(html.matches("01HZX3Q9RID").count(), 1);
    assert!(html.contains("<code>01HZX3Q9RID</code> <small>(invalid_redirect_uri)</small>"), "{html}");
    assert!(!html.contains("Mã lỗi"));
    assert!(html.contains("chúng tôi sẽ không chuyển bạn đến đó"));
    let throttled = pages
        .render(
            "error.html",
            Locale::En,
            context! { title => "err.title_throttled", message => "err.throttled", error_n => 7, request_id => "r" },
        )
        .unwrap();
    assert!(throttled.contains("<h1>Please wait</h1>"));
    assert!(throttled.contains("try again in 7 seconds"));
}

#[test]
fn form_post_page() {
    let pages = Pages::new().unwrap();
    let (_, ctx) = samples().remove(4);
    let html = pages.render("form_post.html", Locale::Vi, ctx).unwrap();
    assert!(html.contains(r#"<form method="post" action="https://rp.example/cb">"#), "{html}");
    assert!(html.contains(r#"<input type="hidden" name="code" value="abc">"#));
    assert!(html.contains(r#"<input type="hidden" name="state" value="x&quot;y">"#));
    assert!(html.contains(&format!("<script>{FORM_POST_SCRIPT}</script>")));
    assert!(html.contains("<noscript>"));
    assert!(html.contains(r#"<button type="submit">Tiếp tục</button>"#));
    let with_nonce = pages
        .render(
            "form_post.html",
            Locale::En,
            context! { action => "https://rp/cb", fields => Vec::<Vec<String>>::new(), nonce => "n0nce" },
        )
        .unwrap();
    assert!(with_nonce.contains(&format!(r#"<script nonce="n0nce">{FORM_POST_SCRIPT}</script>"#)));
    let csp = form_post_script_csp_source();
    assert!(csp.starts_with("'sha256-") && csp.ends_with("='"), "{csp}");
}

#[test]
fn home_page() {
    let pages = Pages::new().unwrap();
    let (_, ctx) = samples().remove(5);
    let html = pages.render("home.html", Locale::En, ctx).unwrap();
    assert!(html.contains(r#"<form method="post" action="/logout">"#));
    assert!(html.contains(r#"<input type="hidden" name="csrf" value="csrf-token-abc">"#));
    assert!(html.contains("You are signed in as Nguyễn Văn A."));
    let out = pages.render("home.html", Locale::Vi, context! {}).unwrap();
    assert!(out.contains("Bạn chưa đăng nhập."));
    assert!(out.contains(r#"<a href="/login">"#));
    assert!(!out.contains("/logout"));
}

#[test]
fn passkey_pages_carry_the_contract_ids() {
    let pages = Pages::new().unwrap();
    let sample = |name: &str| samples().into_iter().find(|(n, _)| *n == name).unwrap().1;
    // Login with passkeys on: the button and error area, hidden until the script shows them.
    let mut ctx = sample("login.html");
    ctx = minijinja::value::merge_maps([ctx, context! { passkeys => true, needs_passkey => true }]);
    let login = pages.render("login.html", Locale::Vi, ctx).unwrap();
    assert!(login.contains(r#"<meta name="csrf-token" content="csrf-token-abc">"#));
    assert!(login.contains(r#"<script src="/assets/passkey.js" defer></script>"#));
    assert!(
        login.contains(
            r#"id="passkey-signin" class="alt" data-req="REQ123" hidden>Đăng nhập bằng khóa truy cập</button>"#
        )
    );
    assert!(login.contains(r#"id="passkey-error""#));
    assert!(login.contains("LoA2"));
    assert!(!login.contains("<script>"), "no inline script");

    let step_up = pages.render("step_up.html", Locale::En, sample("step_up.html")).unwrap();
    assert!(step_up.contains(
        r#"id="passkey-signin" data-req="REQ123" data-step-up="1" data-required="1" hidden>Sign in with a passkey"#
    ));
    assert!(step_up.contains("Đăng ký đất đai needs stronger proof than a password"));

    let offer = pages.render("passkey_new.html", Locale::En, sample("passkey_new.html")).unwrap();
    for id in
        [r#"id="passkey-name""#, r#"id="passkey-add""#, r#"id="passkey-skip" href="/authorize/continue?req=REQ123""#]
    {
        assert!(offer.contains(id), "{id} in {offer}");
    }
    assert!(offer.contains("Not now, continue to Đăng ký đất đai"));

    let account = pages.render("account.html", Locale::En, sample("account.html")).unwrap();
    for part in [
        r#"<li class="passkey" data-id="pk-1"><b>Điện thoại</b> · Chrome · Android · synced across devices"#,
        "Added 21/08/2026 09:00 · last used 22/08/2026 10:30",
        r#"action="/account/passkeys/pk-1/rename""#,
        r#"<input name="name""#,
        r#"class="alt passkey-rename""#,
        r#"action="/account/passkeys/pk-1/delete""#,
        r#"class="alt passkey-delete""#,
        r#"id="passkey-name""#,
        r#"id="passkey-add""#,
        r#"<button type="submit" id="signout">Sign out</button>"#,
        "Password: not set",
        "You cannot remove your last passkey",
        "22/08/2026 10:29 — Signed in with a password · <b>failed</b>",
        r#"href="/lang?to=vi""#,
    ] {
        assert!(account.contains(part), "{part} missing from {account}");
    }
    let empty = pages.render("account.html", Locale::Vi, context! { has_password => true }).unwrap();
    assert!(empty.contains("Bạn chưa có khóa truy cập nào.") && empty.contains("Mật khẩu: đã đặt"));
    assert!(!empty.contains("passkey.js"), "no script when passkeys are off");
}

#[test]
fn the_passkey_script_is_self_contained() {
    // Served from our origin (CSP script-src 'self'); it converts base64url by hand.
    assert!(PASSKEY_SCRIPT.contains("isConditionalMediationAvailable"));
    assert!(PASSKEY_SCRIPT.contains(r#"mediation: "conditional""#));
    assert!(PASSKEY_SCRIPT.contains("x-csrf-token"));
    assert!(!PASSKEY_SCRIPT.contains("parseCreationOptionsFromJSON("));
    assert!(!PASSKEY_SCRIPT.contains("?."), "optional chaining breaks old phone browsers");
}
