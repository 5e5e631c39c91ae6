//! The citizen's account page (profile, sign-in methods, passkeys, recent
//! sign-in and passkey events) and the passkey offer after sign-up.
//! Renaming and removing a passkey are plain forms: they work without JavaScript.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::authorize::{ReqId, signed_in};
use super::browser::{Page, csrf_ok, csrf_token, locale_for, pending_for};
use super::{ClientIp, Lang, PageForm, PageQuery, RequestId};
use crate::app::App;
use crate::domain::audit::{self, Filter};
use crate::domain::oidc::acr;
use crate::domain::oidc::authorize::SignedIn;
use crate::domain::passkeys::{self, Meta, PasskeyError};
use crate::pages::Locale;
use crate::store::Timestamp;

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/passkeys/new", get(offer_page))
        .route("/account/passkeys/{id}/rename", post(rename))
        .route("/account/passkeys/{id}/delete", post(delete))
}

/// Events shown under "Recent activity".
const RECENT_EVENTS: u32 = 10;
/// Vietnam's offset from UTC (no daylight saving), for times on the page.
const VIETNAM_OFFSET: i64 = 7 * 3600;

/// `dd/mm/yyyy HH:MM` in Vietnam time (UTC+7).
pub(super) fn when(ts: Timestamp) -> String {
    let t = ts + VIETNAM_OFFSET;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{d:02}/{m:02}/{y} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// The signed-in citizen, or where the browser must go instead.
pub(super) async fn require_login(page: &Page<'_>, session: &Session) -> Result<SignedIn, Response> {
    match signed_in(page.app, session).await {
        Ok(Some(w)) => Ok(w),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(page.unavailable(&e)),
    }
}

/// The signed-in citizen behind a form post of the account pages whose CSRF
/// token matches; otherwise the response to send (sign-in, 503, or a 403
/// error page).
pub(super) async fn require_login_form(page: &Page<'_>, session: &Session, csrf: &str) -> Result<SignedIn, Response> {
    let who = require_login(page, session).await?;
    if !csrf_ok(session, csrf).await {
        return Err(page.error(StatusCode::FORBIDDEN, "err.csrf", "invalid_request"));
    }
    Ok(who)
}

async fn account_page(State(app): State<App>, session: Session, lang: Lang, RequestId(rid): RequestId) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    match require_login(&page, &session).await {
        Ok(who) => render_account(&page, &session, &who, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

/// The account page, with an optional error message (a refused rename or removal).
async fn render_account(
    page: &Page<'_>,
    session: &Session,
    who: &SignedIn,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let app = page.app;
    let store = app.store.as_ref();
    let (citizen, has_password, keys, csrf) = match (
        store.get_citizen(&who.account_id).await,
        store.get_password_hash(&who.account_id).await,
        store.list_passkeys(&who.account_id).await,
        csrf_token(session).await,
    ) {
        (Ok(Some(c)), Ok(h), Ok(k), Ok(t)) => (c, h.is_some(), k, t),
        (Ok(None), ..) => return Redirect::to("/login").into_response(),
        _ => return page.unavailable(&"account page: store or session unreachable"),
    };
    let filter = Filter { target: Some(who.account_id.clone()), ..Filter::default() };
    let events = match audit::search(store, &filter, RECENT_EVENTS).await {
        Ok(list) => list,
        Err(e) => return page.unavailable(&e),
    };
    let passkeys: Vec<minijinja::Value> = keys
        .iter()
        .map(|p| {
            context! {
                id => p.id, name => p.name, device => p.device, synced => p.backup_eligible,
                created => when(p.created_at), last_used => p.last_used_at.map(when),
            }
        })
        .collect();
    let activity: Vec<minijinja::Value> = events.iter().map(|e| activity_row(page.locale, e)).collect();
    let p = &citizen.profile;
    let last4 = p.national_id.get(p.national_id.len().saturating_sub(4)..).unwrap_or_default();
    let ctx = context! {
        csrf => csrf, error => error, full_name => p.full_name, email => p.email, phone => p.phone,
        national_id => format!("••••••••{last4}"), has_password => has_password,
        // Managing existing passkeys needs a passkey session (see `passkeys::may_manage`).
        step_up_needed => !keys.is_empty() && !acr::satisfies(&who.acr, acr::LOA2), passkeys => passkeys,
        passkeys_on => app.webauthn.is_some(), activity => activity,
    };
    page.render("account.html", status, ctx)
}

/// One audit event as the account page lists it.
fn activity_row(locale: Locale, e: &crate::store::AuditEvent) -> minijinja::Value {
    let detail: serde_json::Value = e.detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
    let key = format!("activity.{}", e.action);
    // An action without a message of its own is "other activity", never
    // its internal name.
    let what = match crate::pages::text(locale, &key) {
        t if t == key => crate::pages::text(locale, "activity.other").to_owned(),
        t => t.to_owned(),
    };
    let name = detail.get("name").and_then(|v| v.as_str()).map(str::to_owned);
    let device = detail.get("device").and_then(|v| v.as_str()).map(str::to_owned);
    context! {
        at => when(e.at), what => what, ok => e.outcome == "success", name => name, device => device,
        ip => e.source_ip,
    }
}

/// The passkey offer right after sign-up; "not now" continues where the sign-up was going.
async fn offer_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<ReqId>,
) -> Response {
    let pending = pending_for(&app, &session, &q.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    if let Err(r) = require_login(&page, &session).await {
        return r;
    }
    let csrf = match csrf_token(&session).await {
        Ok(c) => c,
        Err(e) => return page.unavailable(&e),
    };
    let (req, skip_url) = match &pending {
        Some(_) => (q.req.clone(), format!("/authorize/continue?req={}", q.req)),
        None => (String::new(), "/".to_owned()),
    };
    let ctx = context! {
        csrf => csrf, req => req, skip_url => skip_url, passkeys_on => app.webauthn.is_some(),
        client_name => pending.map(|p| p.client_name),
    };
    page.render("passkey_new.html", StatusCode::OK, ctx)
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
}

async fn rename(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    PageForm(form): PageForm<RenameForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let (who, meta) = match may_change_passkeys(&page, &session, &form.csrf, ip).await {
        Ok(allowed) => allowed,
        Err(r) => return r,
    };
    let done = passkeys::rename(app.store.as_ref(), app.clock.now(), &who.account_id, &id, &form.name, &meta).await;
    after_change(&page, &session, &who, done).await
}

async fn delete(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    PageForm(form): PageForm<DeleteForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let (who, meta) = match may_change_passkeys(&page, &session, &form.csrf, ip).await {
        Ok(allowed) => allowed,
        Err(r) => return r,
    };
    let done = passkeys::remove(app.store.as_ref(), app.clock.now(), &who.account_id, &id, &meta).await;
    after_change(&page, &session, &who, done).await
}

/// The checks before a passkey is renamed or removed: signed in, the form's
/// CSRF token, and a session strong enough to manage passkeys
/// ([`passkeys::may_manage`]); a refusal is the account page with its message.
async fn may_change_passkeys(
    page: &Page<'_>,
    session: &Session,
    csrf: &str,
    ip: std::net::IpAddr,
) -> Result<(SignedIn, Meta), Response> {
    let who = require_login(page, session).await?;
    if !csrf_ok(session, csrf).await {
        return Err(render_account(page, session, &who, Some("err.csrf"), StatusCode::FORBIDDEN).await);
    }
    if let Err(e) = passkeys::may_manage(page.app.store.as_ref(), &who.account_id, &who.acr).await {
        return Err(after_change(page, session, &who, Err(e)).await);
    }
    Ok((who, Meta { source_ip: Some(ip.to_string()), request_id: Some(page.rid.to_owned()) }))
}

async fn after_change(page: &Page<'_>, session: &Session, who: &SignedIn, done: Result<(), PasskeyError>) -> Response {
    let status = match &done {
        Ok(()) => return Redirect::to("/account").into_response(),
        Err(PasskeyError::Unavailable(e)) => return page.unavailable(e),
        Err(PasskeyError::NotFound) => StatusCode::NOT_FOUND,
        Err(PasskeyError::LastCredential) => StatusCode::CONFLICT,
        Err(PasskeyError::StepUpRequired) => StatusCode::FORBIDDEN,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let key = done.err().map(|e| e.key()).unwrap_or("err.invalid_request");
    render_account(page, session, who, Some(key), status).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_in_vietnam_time() {
        assert_eq!(super::when(0), "01/01/1970 07:00");
        // 2026-08-21 17:30 UTC is 22 August, 00:30 in Hà Nội.
        assert_eq!(super::when(1_787_333_400), "22/08/2026 00:30");
    }
}
