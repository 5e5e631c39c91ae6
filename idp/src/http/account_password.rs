//! `/account/password`: the citizen changes their password (current one,
//! new one twice, CSRF). A change ends every other SSO session of the
//! account like "sign out everywhere" does (back-channel notices, refresh
//! tokens revoked) and keeps this browser signed in. An account without a
//! password (passkeys only) sets one here without a current password.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;

use super::account::require_login;
use super::browser::{Page, csrf_ok, csrf_token};
use super::{ClientIp, Lang, PageForm, PageQuery, RequestId};
use crate::app::{App, AppState};
use crate::crypto::Secret;
use crate::domain::accounts::{self, PasswordChange, PasswordChangeError, Throttle};
use crate::domain::audit::{self, NewEvent, Outcome};
use crate::domain::oidc::authorize::SignedIn;
use crate::domain::oidc::logout;
use crate::store::Timestamp;

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new().route("/account/password", get(password_page).post(password_submit))
}

#[derive(Deserialize)]
struct Done {
    /// `1` after a change (the redirect target), to say it worked.
    #[serde(default)]
    changed: String,
}

async fn password_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<Done>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login(&page, &session).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let done = (q.changed == "1").then_some("password_page.changed");
    password_form(&page, &session, &who, None, done, StatusCode::OK).await
}

/// The form, with an error (a refused change) or a confirmation.
async fn password_form(
    page: &Page<'_>,
    session: &Session,
    who: &SignedIn,
    error: Option<(&str, Option<i64>)>,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let (has_password, csrf) =
        match (page.app.store.get_password_hash(&who.account_id).await, csrf_token(session).await) {
            (Ok(h), Ok(c)) => (h.is_some(), c),
            (Err(e), _) => return page.unavailable(&e),
            (_, Err(e)) => return page.unavailable(&e),
        };
    let ctx = context! {
        csrf => csrf, has_password => has_password, error => error.map(|e| e.0), error_n => error.and_then(|e| e.1),
        done => done,
    };
    page.render("account_password.html", status, ctx)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn password_submit(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login(&page, &session).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    if !csrf_ok(&session, &form.csrf).await {
        return password_form(&page, &session, &who, Some(("err.csrf", None)), None, StatusCode::FORBIDDEN).await;
    }
    if form.password != form.password_confirm {
        return password_form(
            &page,
            &session,
            &who,
            Some(("err.password_mismatch", None)),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let citizen = match app.store.get_citizen(&who.account_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return page.unavailable(&e),
    };
    let throttle = Throttle {
        free_per_identifier: app.config.login_free_attempts,
        free_per_ip: app.config.login_ip_free_attempts,
    };
    let now = app.clock.now();
    let change = PasswordChange {
        citizen: &citizen,
        current: Secret::new(form.current),
        new: Secret::new(form.password),
        client_ip: &crate::config::throttle_key(ip),
    };
    let result =
        accounts::change_password(app.store.as_ref(), app.cache.as_ref(), &app.passwords, throttle, now, change).await;
    let meta = Meta { ip: ip.to_string(), rid: &rid };
    if let Err(e) = result {
        if e == PasswordChangeError::WrongPassword {
            record(&app, &who, &meta, now, Outcome::Failure, json!({})).await;
        }
        return refused(&page, &session, &who, &e).await;
    }
    // A new password says the old one may be known: every other session ends,
    // and the services it signed into are told (Back-Channel Logout 1.0).
    let ended = match logout::end_account_sessions(
        app.store.as_ref(),
        &app.subjects,
        &app.config.issuer,
        now,
        &who.account_id,
        Some(&who.sid),
    )
    .await
    {
        Ok(n) => n,
        Err(e) => return page.unavailable(&e),
    };
    record(&app, &who, &meta, now, Outcome::Success, json!({ "sessions_ended": ended })).await;
    // 303 to a GET, so a reload does not post again; the page keeps its language.
    Redirect::to(&format!("/account/password?changed=1&lang={}", page.locale.tag())).into_response()
}

/// The form again with the reason the change was refused (503 for a failure of ours).
async fn refused(page: &Page<'_>, session: &Session, who: &SignedIn, e: &PasswordChangeError) -> Response {
    let (status, n) = match e {
        PasswordChangeError::Internal(detail) => return page.unavailable(detail),
        PasswordChangeError::Throttled { retry_after } => (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after)),
        // The form again with the reason, as the login page does (not 401).
        PasswordChangeError::WrongPassword => (StatusCode::OK, None),
        PasswordChangeError::TooShort | PasswordChangeError::TooCommon => (StatusCode::BAD_REQUEST, None),
    };
    password_form(page, session, who, Some((e.key(), n)), None, status).await
}

/// Where a request came from, for the audit trail.
struct Meta<'a> {
    ip: String,
    rid: &'a str,
}

/// Append `account.password_change` (never the passwords); a failure to
/// record is logged, the change has happened.
async fn record(app: &AppState, who: &SignedIn, meta: &Meta<'_>, now: Timestamp, outcome: Outcome, detail: Value) {
    let event = NewEvent {
        actor: format!("account:{}", who.account_id),
        action: "account.password_change".into(),
        // The account is the target, so its own page lists the event.
        target: Some(who.account_id.clone()),
        source_ip: Some(meta.ip.clone()),
        request_id: Some(meta.rid.to_owned()),
        outcome,
        detail: Some(detail),
    };
    if let Err(e) = audit::record(app.store.as_ref(), now, event).await {
        tracing::error!(error = %e, "could not record a password change in the audit trail");
    }
}
