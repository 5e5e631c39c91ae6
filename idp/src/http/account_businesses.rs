//! `/account/businesses`: the businesses a citizen acts for. Invitations to
//! accept or decline, each membership with "leave", and registering a
//! self-declared business; `/account/businesses/{tax_code}`: the members of
//! a business the citizen legally represents (remove, invite by national ID).
//! Every form carries the CSRF token; a change answers 303 back to its page
//! with a notice, a refusal shows the page again with the translated reason
//! next to its field.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use super::account::{require_login, require_login_form, when};
use super::browser::{Page, csrf_token};
use super::{ClientIp, Lang, PageForm, PageQuery, RequestId};
use crate::app::App;
use crate::domain::audit::{self, NewEvent, Outcome};
use crate::domain::businesses::{self, Actor, BusinessError, NewBusiness, NewMember};
use crate::domain::oidc::authorize::SignedIn;
use crate::store::{Business, MEMBER_INVITED, MemberView, Membership, ROLE_LEGAL_REPRESENTATIVE, Timestamp};

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new()
        .route("/account/businesses", get(businesses_page).post(register))
        .route("/account/businesses/{tax_code}", get(members_page))
        .route("/account/businesses/{tax_code}/invite", post(invite))
        .route("/account/businesses/{tax_code}/accept", post(accept))
        .route("/account/businesses/{tax_code}/decline", post(decline))
        .route("/account/businesses/{tax_code}/remove", post(remove))
        .route("/account/businesses/{tax_code}/leave", post(leave))
}

/// The notices the page shows after a change, by the `done` value of its redirect.
const NOTICES: &[(&str, &str)] = &[
    ("created", "biz.done.created"),
    ("invited", "biz.done.invited"),
    ("accepted", "biz.done.accepted"),
    ("declined", "biz.done.declined"),
    ("removed", "biz.done.removed"),
    ("left", "biz.done.left"),
];

/// The `form` of a refusal on the registration form.
const REGISTER_FORM: &str = "register";

/// The `form` of a refusal on the invite form of the business `tax_code`.
fn invite_form(tax_code: &str) -> String {
    format!("invite:{tax_code}")
}

#[derive(Deserialize)]
struct Done {
    /// A [`NOTICES`] name after a change; anything else shows no notice.
    #[serde(default)]
    done: String,
}

/// Which page answers: the citizen's businesses, or the members of one
/// business they represent (its tax code as given in the URL).
#[derive(Clone, Copy)]
enum View<'a> {
    Overview,
    Members(&'a str),
}

impl View<'_> {
    /// The page's path.
    fn path(self) -> String {
        match self {
            View::Overview => "/account/businesses".to_owned(),
            View::Members(tax_code) => format!("/account/businesses/{}", canonical(tax_code)),
        }
    }
}

async fn businesses_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<Done>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    show(&page, &session, View::Overview, &q.done).await
}

async fn members_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    Path(tax_code): Path<String>,
    PageQuery(q): PageQuery<Done>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    show(&page, &session, View::Members(&tax_code), &q.done).await
}

/// A page for the signed-in citizen, with the notice named `done` if any.
async fn show(page: &Page<'_>, session: &Session, view: View<'_>, done: &str) -> Response {
    let who = match require_login(page, session).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let done = NOTICES.iter().find(|(name, _)| *name == done).map(|(_, key)| *key);
    render(page, session, &who, view, done, None).await
}

/// Why a change was refused and where to say so.
struct Refusal {
    /// [`REGISTER_FORM`], an [`invite_form`], or empty (the box at the top).
    form: String,
    /// What the citizen typed, shown again in that form.
    values: BTreeMap<&'static str, String>,
    /// The domain's reason.
    error: BusinessError,
}

/// What a page shows about a refusal: status, the form it belongs to, the
/// values typed back, the field error, or the message of the box at the top
/// when `form` is not on this page.
fn refusal_context(refusal: Option<&Refusal>, form_here: &str) -> (StatusCode, minijinja::Value) {
    let Some(r) = refusal else { return (StatusCode::OK, context! {}) };
    let (field, key) = (field_of(&r.error), r.error.key());
    let errors: BTreeMap<_, _> =
        (!field.is_empty() && r.form == form_here).then_some((field, key)).into_iter().collect();
    let general = errors.is_empty().then_some(key);
    (status_of(&r.error), context! { form => r.form, values => r.values, errors => errors, error => general })
}

/// The page, with a notice after a change or the reason a change was refused.
/// The members page of a business the citizen does not (or no longer)
/// represent is refused; after a refused change, the overview says why.
async fn render(
    page: &Page<'_>,
    session: &Session,
    who: &SignedIn,
    view: View<'_>,
    done: Option<&str>,
    refusal: Option<Refusal>,
) -> Response {
    let now = page.app.clock.now();
    let (list, csrf) = match (page.app.store.list_memberships(&who.account_id).await, csrf_token(session).await) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(e), _) => return page.unavailable(&e),
        (_, Err(e)) => return page.unavailable(&e),
    };
    if let View::Members(asked) = view {
        let code = canonical(asked);
        if let Some(m) = list.iter().find(|m| m.business.tax_code == code && manages(m, now)) {
            return render_members(page, who, m, csrf, done, refusal.as_ref()).await;
        }
        if refusal.is_none() {
            return page.error(StatusCode::FORBIDDEN, "biz.err.not_representative", "access_denied");
        }
    }
    let (invited, acting): (Vec<&Membership>, Vec<&Membership>) =
        list.iter().partition(|m| m.member.status == MEMBER_INVITED);
    let (status, shown) = refusal_context(refusal.as_ref(), REGISTER_FORM);
    let ctx = context! {
        csrf => csrf, done => done,
        invitations => invited.iter().map(|m| membership_row(m, now)).collect::<Vec<_>>(),
        memberships => acting.iter().map(|m| membership_row(m, now)).collect::<Vec<_>>(),
        ..shown
    };
    page.render("account_businesses.html", status, ctx)
}

/// The members of a business the citizen represents, with the invite form.
async fn render_members(
    page: &Page<'_>,
    who: &SignedIn,
    m: &Membership,
    csrf: String,
    done: Option<&str>,
    refusal: Option<&Refusal>,
) -> Response {
    let now = page.app.clock.now();
    let members = match page.app.store.list_business_members(&m.business.id).await {
        Ok(list) => list,
        Err(e) => return page.unavailable(&e),
    };
    let (status, shown) = refusal_context(refusal, &invite_form(&m.business.tax_code));
    let ctx = context! {
        csrf => csrf, done => done, tax_code => m.business.tax_code, name => m.business.name,
        members => members.iter().map(|v| member_row(v, &who.account_id, now)).collect::<Vec<_>>(),
        ..shown
    };
    page.render("account_business_members.html", status, ctx)
}

/// Whether the page lists the members of this business for the citizen to manage.
fn manages(m: &Membership, now: Timestamp) -> bool {
    m.member.role == ROLE_LEGAL_REPRESENTATIVE && m.member.can_act(now) && m.business.status == "active"
}

/// One of the citizen's memberships (or invitations) as the page lists it.
fn membership_row(m: &Membership, now: Timestamp) -> minijinja::Value {
    let inactive = if m.business.status != "active" {
        Some("biz.disabled")
    } else if m.member.status != MEMBER_INVITED && !m.member.can_act(now) {
        Some("biz.status.expired")
    } else {
        None
    };
    context! {
        tax_code => m.business.tax_code, name => m.business.name, role => role_key(&m.member.role),
        verified => m.business.verified, expires => m.member.expires_at.map(last_day), inactive => inactive,
        manages => manages(m, now),
    }
}

/// One member of a business the citizen represents.
fn member_row(v: &MemberView, me: &str, now: Timestamp) -> minijinja::Value {
    let invited = v.member.status == MEMBER_INVITED;
    let status = if invited {
        "biz.status.invited"
    } else if v.member.can_act(now) {
        "biz.status.active"
    } else {
        "biz.status.expired"
    };
    // No name until the citizen accepts: any citizen may declare a business
    // and invite any national ID, so showing the invitee's name would turn
    // the invite form into a national-ID-to-name lookup.
    let name = (!invited).then_some(v.full_name.as_str());
    context! {
        id => v.member.account_id, name => name, national_id => mask_national_id(&v.national_id),
        role => role_key(&v.member.role), status => status, expires => v.member.expires_at.map(last_day),
        me => v.member.account_id == me,
    }
}

/// The message key naming a role.
fn role_key(role: &str) -> &'static str {
    if role == ROLE_LEGAL_REPRESENTATIVE { "biz.role.legal_representative" } else { "biz.role.authorised_staff" }
}

/// `*********345`: enough for a representative to tell members apart, not
/// someone else's identity number (the first digits name the province of
/// birth, so they are hidden too).
fn mask_national_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{}{tail}", "*".repeat(chars.len() - 3))
}

/// `dd/mm/yyyy`: the last day an authorisation holds (it ends at the first
/// second after that day, Vietnam time; see `businesses::end_of_day`).
fn last_day(expires_at: Timestamp) -> String {
    let shown = when(expires_at - 1);
    shown.split_once(' ').map_or(shown.clone(), |(day, _)| day.to_owned())
}

/// The field a refusal belongs next to; empty for the box at the top.
fn field_of(e: &BusinessError) -> &'static str {
    match e {
        BusinessError::TaxCode(_) | BusinessError::TaxCodeTaken => "tax_code",
        BusinessError::InvalidName => "name",
        BusinessError::InvalidAddress => "address",
        BusinessError::NoSuchCitizen | BusinessError::AlreadyMember | BusinessError::MemberUnverified => "national_id",
        BusinessError::InvalidRole => "role",
        BusinessError::InvalidExpiry => "expires",
        _ => "",
    }
}

/// The status of the page that shows a refusal.
fn status_of(e: &BusinessError) -> StatusCode {
    match e {
        BusinessError::NotALegalRepresentative | BusinessError::SelfUnverified => StatusCode::FORBIDDEN,
        BusinessError::NotFound | BusinessError::NotAMember | BusinessError::NotInvited => StatusCode::NOT_FOUND,
        BusinessError::TaxCodeTaken
        | BusinessError::AlreadyMember
        | BusinessError::LastLegalRepresentative
        | BusinessError::InvitationExpired
        | BusinessError::Disabled => StatusCode::CONFLICT,
        BusinessError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        BusinessError::TooManyInvitations => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A signed-in citizen's change, being answered.
struct Change<'a> {
    page: &'a Page<'a>,
    session: &'a Session,
    who: SignedIn,
    ip: String,
}

impl Change<'_> {
    /// Record `action` on `target` in the audit trail, then 303 back to the
    /// `view` page with the `done` notice, or that page again with the
    /// refusal (shown in `form`, with `values` typed back in).
    async fn finish(
        self,
        (action, target): (&str, &str),
        result: Result<Value, BusinessError>,
        (view, done): (View<'_>, &str),
        (form, values): (&str, BTreeMap<&'static str, String>),
    ) -> Response {
        let (outcome, detail) = match &result {
            Ok(detail) => (Outcome::Success, detail.clone()),
            // Our failure, not the citizen's: logged, the 503 page, no audit row.
            Err(e @ BusinessError::Store(detail)) => {
                tracing::error!(error = %detail, action, "business change failed");
                return self.page.error(StatusCode::SERVICE_UNAVAILABLE, e.key(), "temporarily_unavailable");
            }
            Err(e) => (Outcome::Failure, json!({ "reason": e.key() })),
        };
        self.record(action, target, outcome, detail).await;
        match result {
            Ok(_) => {
                let tag = self.page.locale.tag();
                Redirect::to(&format!("{}?done={done}&lang={tag}", view.path())).into_response()
            }
            Err(error) => {
                let refusal = Refusal { form: form.to_owned(), values, error };
                render(self.page, self.session, &self.who, view, None, Some(refusal)).await
            }
        }
    }

    /// Append the event; a failure to record is logged, the change has happened.
    async fn record(&self, action: &str, target: &str, outcome: Outcome, detail: Value) {
        let app = self.page.app;
        let event = NewEvent {
            actor: format!("account:{}", self.who.account_id),
            action: action.to_owned(),
            target: Some(target.to_owned()),
            source_ip: Some(self.ip.clone()),
            request_id: Some(self.page.rid.to_owned()),
            outcome,
            detail: Some(detail),
        };
        if let Err(e) = audit::record(app.store.as_ref(), app.clock.now(), event).await {
            tracing::error!(error = %e, "could not record a business change in the audit trail");
        }
    }
}

/// The tax code the trail names: canonical when valid, else as typed (trimmed).
fn canonical(asked: &str) -> String {
    businesses::check_tax_code(asked).unwrap_or_else(|_| asked.trim().to_owned())
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tax_code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
}

async fn register(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm<RegisterForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login_form(&page, &session, &form.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let values = BTreeMap::from([
        ("tax_code", form.tax_code.clone()),
        ("name", form.name.clone()),
        ("address", form.address.clone()),
    ]);
    let target = canonical(&form.tax_code);
    let input = NewBusiness { tax_code: form.tax_code, name: form.name, address: Some(form.address) };
    let result = businesses::create(app.store.as_ref(), app.clock.now(), input, Actor::Citizen(&who.account_id))
        .await
        .map(|r| json!({ "verified": r.business.verified }));
    let change = Change { page: &page, session: &session, who, ip: ip.to_string() };
    let (to, form) = ((View::Overview, "created"), (REGISTER_FORM, values));
    change.finish(("business.create", &target), result, to, form).await
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    role: String,
    /// Last day of the authorisation, `YYYY-MM-DD` (`<input type=date>`); empty for none.
    #[serde(default)]
    expires: String,
}

async fn invite(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    Path(tax_code): Path<String>,
    PageForm(form): PageForm<InviteForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login_form(&page, &session, &form.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let values = BTreeMap::from([
        ("national_id", form.national_id.clone()),
        ("role", form.role.clone()),
        ("expires", form.expires.clone()),
    ]);
    let store = app.store.as_ref();
    let result = async {
        let expires_at = match form.expires.trim() {
            "" => None,
            date => Some(businesses::end_of_day(date).ok_or(BusinessError::InvalidExpiry)?),
        };
        let business = find(store, &tax_code).await?;
        businesses::count_invitation(app.cache.as_ref(), &who.account_id).await?;
        let new = NewMember { national_id: form.national_id, role: form.role, expires_at };
        let m = businesses::add_member(store, app.clock.now(), &business, new, Actor::Citizen(&who.account_id)).await?;
        // The national ID stays out of the trail: the account id names the citizen.
        Ok(json!({ "account_id": m.account_id, "role": m.role, "expires_at": m.expires_at }))
    }
    .await;
    let target = canonical(&tax_code);
    let change = Change { page: &page, session: &session, who, ip: ip.to_string() };
    let to = (View::Members(&tax_code), "invited");
    change.finish(("business.invite", &target), result, to, (&invite_form(&target), values)).await
}

/// A business named in a URL; an invalid tax code is "not found" like an unknown one.
async fn find(store: &dyn crate::store::Store, tax_code: &str) -> Result<Business, BusinessError> {
    match businesses::find(store, tax_code).await {
        Err(BusinessError::TaxCode(_)) => Err(BusinessError::NotFound),
        other => other,
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// What an invitee answers.
#[derive(Clone, Copy)]
enum Answer {
    Accept,
    Decline,
}

async fn accept(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    Path(tax_code): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    answer(&page, &session, ip, &tax_code, &form.csrf, Answer::Accept).await
}

async fn decline(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    Path(tax_code): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    answer(&page, &session, ip, &tax_code, &form.csrf, Answer::Decline).await
}

/// Accept or decline the invitation of the business `tax_code`.
async fn answer(
    page: &Page<'_>,
    session: &Session,
    ip: std::net::IpAddr,
    tax_code: &str,
    csrf: &str,
    answer: Answer,
) -> Response {
    let who = match require_login_form(page, session, csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let (store, now) = (page.app.store.as_ref(), page.app.clock.now());
    let result = async {
        // An unknown business (`find` counts a malformed tax code as one)
        // has sent no invitation; a store failure stays one (the 503 page,
        // not a 404 "no invitation").
        let business = find(store, tax_code).await.map_err(|e| match e {
            BusinessError::NotFound => BusinessError::NotInvited,
            e => e,
        })?;
        match answer {
            Answer::Accept => {
                let m = businesses::accept(store, now, &who.account_id, &business.id).await?;
                Ok(json!({ "role": m.role }))
            }
            Answer::Decline => businesses::decline(store, &who.account_id, &business.id).await.map(|()| json!({})),
        }
    }
    .await;
    let (action, done) = match answer {
        Answer::Accept => ("business.accept", "accepted"),
        Answer::Decline => ("business.decline", "declined"),
    };
    let change = Change { page, session, who, ip: ip.to_string() };
    let to = (View::Overview, done);
    change.finish((action, &canonical(tax_code)), result, to, ("", BTreeMap::new())).await
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: String,
    /// The member's account id.
    #[serde(default)]
    member: String,
}

async fn remove(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    Path(tax_code): Path<String>,
    PageForm(form): PageForm<RemoveForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login_form(&page, &session, &form.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    remove_member(Change { page: &page, session: &session, who, ip: ip.to_string() }, &tax_code, &form.member).await
}

async fn leave(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    Path(tax_code): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login_form(&page, &session, &form.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let me = who.account_id.clone();
    remove_member(Change { page: &page, session: &session, who, ip: ip.to_string() }, &tax_code, &me).await
}

/// Remove `account_id` from the business `tax_code` (the citizen themself: leave).
/// The domain checks that the citizen represents the business or is leaving,
/// and that a legal representative remains.
async fn remove_member(change: Change<'_>, tax_code: &str, account_id: &str) -> Response {
    let (store, now) = (change.page.app.store.as_ref(), change.page.app.clock.now());
    let by = change.who.account_id.clone();
    let result = async {
        let business = find(store, tax_code).await?;
        let revoked = businesses::remove_member(store, now, &business, account_id, Actor::Citizen(&by)).await?;
        Ok(json!({ "account_id": account_id, "grants_revoked": revoked }))
    }
    .await;
    // Leaving ends on the overview (the members page is no longer the citizen's).
    let to = if account_id == by { (View::Overview, "left") } else { (View::Members(tax_code), "removed") };
    change.finish(("business.member_remove", &canonical(tax_code)), result, to, ("", BTreeMap::new())).await
}

#[cfg(test)]
#[path = "account_businesses_tests.rs"]
mod tests;
