//! `/account/businesses` through the public router: registering, inviting,
//! accepting, removing, and the refusals a citizen sees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt as _;

use crate::app::App;
use crate::clock::SystemClock;

async fn app() -> App {
    crate::http::test_state::app(Arc::new(SystemClock), false).await
}

/// One answer, read whole.
struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

/// A browser: the session cookie, and the CSRF token of the last page that had one.
struct Browser {
    app: App,
    cookie: Option<String>,
    csrf: String,
}

const PASSWORD: &str = "mưa thu hà nội 2024";

impl Browser {
    /// A new browser signed in as a fresh citizen whose national ID is
    /// verified: created the way an admin creates accounts, then signed in
    /// with a password. Only such citizens may act for a business.
    async fn citizen(app: &App, national_id: &str, full_name: &str) -> Self {
        let input = crate::domain::accounts::SignUp {
            national_id: national_id.into(),
            national_id_verified: true,
            full_name: full_name.into(),
            email: None,
            phone: None,
            password: Some(crate::crypto::Secret::new(PASSWORD)),
            record: Default::default(),
        };
        let now = crate::clock::Clock::now(app.clock.as_ref());
        crate::domain::accounts::sign_up(app.store.as_ref(), &app.passwords, now, input).await.unwrap();
        let mut b = Self { app: app.clone(), cookie: None, csrf: String::new() };
        b.get("/login").await;
        let done = b.form("/login", &[("req", ""), ("identifier", national_id), ("password", PASSWORD)]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        b
    }

    /// A new browser, signed up on the page (and so signed in): the national
    /// ID number is only typed, not verified.
    async fn signed_up(app: &App, national_id: &str, full_name: &str) -> Self {
        let mut b = Self { app: app.clone(), cookie: None, csrf: String::new() };
        b.get("/signup").await;
        let fields = [
            ("req", ""),
            ("national_id", national_id),
            ("full_name", full_name),
            ("email", ""),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ];
        let done = b.form("/signup", &fields).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        b
    }

    async fn send(&mut self, method: Method, uri: &str, body: String) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let resp =
            crate::http::public_router(self.app.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        for set in resp.headers().get_all(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if pair.starts_with(crate::http::session::COOKIE_NAME) {
                self.cookie = Some(pair);
            }
        }
        let status = resp.status();
        let location = resp.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        if let Some(at) = body.find(r#"name="csrf" value=""#) {
            let rest = &body[at + r#"name="csrf" value=""#.len()..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
        }
        Answer { status, location, body }
    }

    async fn get(&mut self, uri: &str) -> Answer {
        self.send(Method::GET, uri, String::new()).await
    }

    async fn form(&mut self, uri: &str, fields: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", self.csrf.clone())];
        all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.send(Method::POST, uri, serde_urlencoded::to_string(&all).unwrap()).await
    }

    /// POST, then follow the 303 back to the page.
    async fn change(&mut self, uri: &str, fields: &[(&str, &str)]) -> Answer {
        let done = self.form(uri, fields).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{uri}: {}", done.body);
        self.get(&done.location).await
    }
}

/// Visible text, tags removed, whitespace collapsed.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

const A_ID: &str = "001090012345";
const B_ID: &str = "079188001234";

#[tokio::test]
async fn register_invite_accept_and_remove() {
    let app = app().await;
    let mut a = Browser::citizen(&app, A_ID, "Nguyễn Văn An").await;
    let mut b = Browser::citizen(&app, B_ID, "Trần Thị Bình").await;

    let account = a.get("/account?lang=en").await;
    assert!(account.body.contains(r#"<a href="/account/businesses">Businesses</a>"#), "{}", account.body);
    let empty = a.get("/account/businesses?lang=en").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(text(&empty.body).contains("You do not act for any business yet."), "{}", empty.body);
    assert!(empty.body.contains(r#"href="/lang?to=vi""#), "language switch");

    let fields = [("tax_code", " 0100109106 "), ("name", "Công ty TNHH Hoa Sen"), ("address", "")];
    let registered = a.change("/account/businesses?lang=en", &fields).await;
    let page = text(&registered.body);
    assert!(page.contains("The business is registered."), "{page}");
    assert!(page.contains("Công ty TNHH Hoa Sen · 0100109106 · Legal representative · self-declared"), "{page}");
    assert!(registered.body.contains(r#"<a href="/account/businesses/0100109106">Manage members</a>"#), "{page}");
    let members = a.get("/account/businesses/0100109106?lang=en").await;
    assert_eq!(members.status, StatusCode::OK);
    let page = text(&members.body);
    assert!(page.contains("Members of Công ty TNHH Hoa Sen"), "{page}");
    assert!(page.contains("Nguyễn Văn An · *********345 · Legal representative · active"), "{page}");
    assert!(!members.body.contains(r#"name="member""#), "no removing oneself here: {}", members.body);

    let invite = [("national_id", B_ID), ("role", "authorised_staff"), ("expires", "2099-06-30")];
    let page = text(&a.change("/account/businesses/0100109106/invite?lang=en", &invite).await.body);
    assert!(page.contains("The invitation is sent."), "{page}");
    assert!(page.contains("*********234 · Authorised staff · invited, not yet accepted · until 30/06/2099"), "{page}");
    assert!(!page.contains("Trần Thị Bình"), "no name before the invitation is accepted: {page}");

    let invited = text(&b.get("/account/businesses?lang=en").await.body);
    assert!(invited.contains("Invitations Công ty TNHH Hoa Sen · 0100109106 · Authorised staff"), "{invited}");
    let page = text(&b.change("/account/businesses/0100109106/accept?lang=en", &[]).await.body);
    assert!(page.contains("You accepted the invitation"), "{page}");
    assert!(page.contains("Công ty TNHH Hoa Sen · 0100109106 · Authorised staff · self-declared · until 30/06/2099"));
    assert!(!page.contains("Manage members"), "staff do not manage members: {page}");
    assert_eq!(b.get("/account/businesses/0100109106").await.status, StatusCode::FORBIDDEN);

    let page = text(&a.get("/account/businesses/0100109106?lang=en").await.body);
    assert!(page.contains("Trần Thị Bình · *********234 · Authorised staff · active"), "{page}");
    let member_id = app.store.find_citizen_by_national_id(B_ID).await.unwrap().unwrap().account.id;
    let page = text(&a.change("/account/businesses/0100109106/remove?lang=en", &[("member", &member_id)]).await.body);
    assert!(page.contains("The member was removed."), "{page}");
    assert!(!page.contains("Trần Thị Bình"), "{page}");
    let gone = text(&b.get("/account/businesses?lang=en").await.body);
    assert!(gone.contains("You do not act for any business yet."), "{gone}");

    let trail = crate::domain::audit::search(app.store.as_ref(), &Default::default(), 50).await.unwrap();
    let mut actions: Vec<_> =
        trail.iter().filter(|e| e.action.starts_with("business.")).map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(actions, ["business.accept", "business.create", "business.invite", "business.member_remove"]);
    assert!(
        trail.iter().filter(|e| e.action.starts_with("business.")).all(|e| e.target.as_deref() == Some("0100109106"))
    );
    let create = trail.iter().find(|e| e.action == "business.create").unwrap();
    let a_id = app.store.find_citizen_by_national_id(A_ID).await.unwrap().unwrap().account.id;
    assert_eq!(create.actor, format!("account:{a_id}"));
}

#[tokio::test]
async fn refusals_show_the_translated_reason() {
    let app = app().await;
    let mut a = Browser::citizen(&app, A_ID, "Nguyễn Văn An").await;
    let mut b = Browser::citizen(&app, B_ID, "Trần Thị Bình").await;

    // Signed out: to the login page.
    let mut anonymous = Browser { app: app.clone(), cookie: None, csrf: String::new() };
    assert_eq!(anonymous.get("/account/businesses").await.location, "/login");

    // A wrong check digit: 400, next to the tax code, what was typed kept.
    a.get("/account/businesses").await;
    let bad = a.form("/account/businesses?lang=en", &[("tax_code", "0100109105"), ("name", "Sen Vàng")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains(r#"id="tax_code-e""#), "{}", bad.body);
    assert!(text(&bad.body).contains("the check digit (the tenth digit) does not match"), "{}", bad.body);
    assert!(bad.body.contains(r#"value="0100109105" aria-describedby="tax_code-e" aria-invalid="true""#));
    assert!(bad.body.contains(r#"value="Sen Vàng""#));
    let vi = a.form("/account/businesses?lang=vi", &[("tax_code", "0100109106-000"), ("name", "Sen")]).await;
    assert!(text(&vi.body).contains("Số thứ tự chi nhánh (ba chữ số cuối) phải từ 001 đến 999."), "{}", vi.body);

    // A forged CSRF token: 403, nothing registered.
    a.csrf = "forged".into();
    let forged = a.form("/account/businesses", &[("tax_code", "0100109106"), ("name", "Sen")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(app.store.find_business_by_tax_code("0100109106").await.unwrap().is_none());
    a.get("/account/businesses").await;
    a.change("/account/businesses", &[("tax_code", "0100109106"), ("name", "Sen")]).await;

    // B is no representative: their invite is refused, and nobody is invited.
    b.get("/account/businesses").await;
    let invite = [("national_id", B_ID), ("role", "authorised_staff"), ("expires", "")];
    let refused = b.form("/account/businesses/0100109106/invite?lang=en", &invite).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(text(&refused.body).contains("Only a legal representative of the business may do this."));
    assert_eq!(app.store.list_business_members(&business_id(&app).await).await.unwrap().len(), 1);

    // A: an unknown citizen, a past date, and leaving as the last representative.
    let unknown = [("national_id", "001999999999"), ("role", "authorised_staff")];
    let unknown = a.form("/account/businesses/0100109106/invite?lang=en", &unknown).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains(r#"id="national_id-e""#), "{}", unknown.body);
    assert!(unknown.body.contains(r#"value="001999999999""#), "typed back: {}", unknown.body);
    let past = [("national_id", B_ID), ("role", "legal_representative"), ("expires", "2001-01-01")];
    let past = a.form("/account/businesses/0100109106/invite?lang=en", &past).await;
    assert!(past.body.contains(r#"id="expires-e""#), "{}", past.body);
    assert!(past.body.contains(r#"<option value="legal_representative" selected>"#), "{}", past.body);
    let last = a.form("/account/businesses/0100109106/leave?lang=en", &[]).await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert!(text(&last.body).contains("The business must keep at least one legal representative."));

    // Answering an invitation that was never sent, for a business that does not exist.
    let none = b.form("/account/businesses/0100109106/accept?lang=en", &[]).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert!(text(&none.body).contains("There is no pending invitation from this business."));
    let nowhere = b.form("/account/businesses/not-a-code/decline?lang=en", &[]).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    let refusals = crate::domain::audit::search(app.store.as_ref(), &Default::default(), 50).await.unwrap();
    assert!(refusals.iter().any(|e| e.action == "business.invite" && e.outcome == "failure"));
}

/// Each invitation's answer tells whether a national ID has a verified
/// account: one citizen may send only so many in an hour, answered or not.
#[tokio::test]
async fn invitations_are_bounded_per_citizen_and_hour() {
    let app = app().await;
    let mut a = Browser::citizen(&app, A_ID, "Nguyễn Văn An").await;
    Browser::citizen(&app, B_ID, "Trần Thị Bình").await;
    a.get("/account/businesses").await;
    a.change("/account/businesses", &[("tax_code", "0100109106"), ("name", "Sen")]).await;
    // Guessed national IDs use up the bound.
    for n in 0..crate::domain::businesses::INVITATIONS_PER_HOUR {
        let guess = format!("0019990{n:05}");
        let r = a
            .form(
                "/account/businesses/0100109106/invite?lang=en",
                &[("national_id", &guess), ("role", "authorised_staff")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{n}");
    }
    // Past the bound, even a real citizen's invitation is refused, without saying whether they exist.
    let invite = [("national_id", B_ID), ("role", "authorised_staff"), ("expires", "")];
    let refused = a.form("/account/businesses/0100109106/invite?lang=vi", &invite).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(text(&refused.body).contains("Bạn đã gửi quá nhiều lời mời trong một giờ qua."), "{}", refused.body);
    assert_eq!(app.store.list_business_members(&business_id(&app).await).await.unwrap().len(), 1);
}

#[tokio::test]
async fn unverified_citizens_neither_register_nor_are_invited() {
    let app = app().await;
    let mut a = Browser::citizen(&app, A_ID, "Nguyễn Văn An").await;
    let mut u = Browser::signed_up(&app, B_ID, "Trần Thị Bình").await;

    // Signed up on the page: registering a business is refused, in both languages.
    u.get("/account/businesses").await;
    let fields = [("tax_code", "0100109106"), ("name", "Công ty TNHH Hoa Sen"), ("address", "")];
    let refused = u.form("/account/businesses?lang=en", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let page = text(&refused.body);
    assert!(page.contains("Your national ID number is not verified yet: it must be verified before"), "{page}");
    assert!(refused.body.contains(r#"value="Công ty TNHH Hoa Sen""#), "typed back: {}", refused.body);
    let vi = text(&u.form("/account/businesses?lang=vi", &fields).await.body);
    assert!(vi.contains("Số định danh của bạn chưa được xác minh"), "{vi}");
    assert!(app.store.find_business_by_tax_code("0100109106").await.unwrap().is_none());

    // A verified representative cannot invite them: told so next to the national ID.
    a.get("/account/businesses").await;
    a.change("/account/businesses", &fields).await;
    a.get("/account/businesses/0100109106").await;
    let invite = [("national_id", B_ID), ("role", "authorised_staff"), ("expires", "")];
    let refused = a.form("/account/businesses/0100109106/invite?lang=en", &invite).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains(r#"id="national_id-e""#), "{}", refused.body);
    let page = text(&refused.body);
    assert!(page.contains("This person&#39;s national ID number is not verified yet"), "{page}");
    assert!(!page.contains("Trần Thị Bình"), "{page}");
    assert_eq!(app.store.list_business_members(&business_id(&app).await).await.unwrap().len(), 1);
    let trail = crate::domain::audit::search(app.store.as_ref(), &Default::default(), 50).await.unwrap();
    let failed: Vec<_> = trail.iter().filter(|e| e.outcome == "failure").filter_map(|e| e.detail.as_deref()).collect();
    assert!(failed.iter().any(|d| d.contains("biz.err.self_unverified")), "{failed:?}");
    assert!(failed.iter().any(|d| d.contains("biz.err.member_unverified")), "{failed:?}");
}

async fn business_id(app: &App) -> String {
    app.store.find_business_by_tax_code("0100109106").await.unwrap().unwrap().id
}

#[test]
fn national_ids_are_masked_and_expiry_is_the_last_day() {
    assert_eq!(super::mask_national_id("001090012345"), "*********345");
    assert_eq!(super::mask_national_id("12345"), "*****");
    let end = crate::domain::businesses::end_of_day("2027-06-30").unwrap();
    assert_eq!(super::last_day(end), "30/06/2027");
}
