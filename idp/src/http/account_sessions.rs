//! `/account/sessions`: the citizen's active sign-ins (SSO sessions), with
//! "sign out" per session and "sign out everywhere". Each ends like a logout
//! (`domain::oidc::logout`): the services the session signed into get their
//! back-channel notices. Every form carries the CSRF token.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::account::{require_login, require_login_form, when};
use super::browser::{Page, csrf_token};
use super::{Lang, PageForm, RequestId};
use crate::app::App;
use crate::domain::oidc::logout;
use crate::domain::passkeys;

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new()
        .route("/account/sessions", get(sessions_page))
        .route("/account/sessions/revoke-all", post(revoke_all))
        .route("/account/sessions/{sid}/revoke", post(revoke_one))
}

async fn sessions_page(State(app): State<App>, session: Session, lang: Lang, RequestId(rid): RequestId) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login(&page, &session).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let (list, csrf) =
        match (app.store.live_account_sessions(&who.account_id, app.clock.now()).await, csrf_token(&session).await) {
            (Ok(l), Ok(c)) => (l, c),
            (Err(e), _) => return page.unavailable(&e),
            (_, Err(e)) => return page.unavailable(&e),
        };
    let rows: Vec<_> = list
        .iter()
        .map(|s| {
            context! {
                sid => s.sid, created => when(s.created_at), signed_in => when(s.auth_time),
                acr => s.acr, current => s.sid == who.sid,
                // The passkey list's label, from the User-Agent the session opened with.
                device => s.user_agent.as_deref().and_then(passkeys::device_label),
                last_seen => when(s.last_seen_at.unwrap_or(s.auth_time)), place => s.place,
            }
        })
        .collect();
    page.render("account_sessions.html", StatusCode::OK, context! { csrf => csrf, sessions => rows })
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn revoke_one(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    Path(sid): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login_form(&page, &session, &form.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let now = app.clock.now();
    // Only the citizen's own live sessions: another account's sid is "not found".
    match app.store.live_account_sessions(&who.account_id, now).await {
        Ok(list) if list.iter().any(|s| s.sid == sid) => {}
        Ok(_) => return page.error(StatusCode::NOT_FOUND, "err.invalid_request", "invalid_request"),
        Err(e) => return page.unavailable(&e),
    }
    if let Err(e) =
        logout::end_session(app.store.as_ref(), &app.subjects, &app.config.issuer, now, &sid, &who.account_id).await
    {
        return page.unavailable(&e);
    }
    if sid == who.sid {
        if let Err(e) = session.flush().await {
            return page.unavailable(&e);
        }
        return Redirect::to("/").into_response();
    }
    Redirect::to("/account/sessions").into_response()
}

async fn revoke_all(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login_form(&page, &session, &form.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    // Every session and every grant (refresh tokens included, offline ones too).
    if let Err(e) = logout::end_account_sessions(
        app.store.as_ref(),
        &app.subjects,
        &app.config.issuer,
        app.clock.now(),
        &who.account_id,
        None,
    )
    .await
    {
        return page.unavailable(&e);
    }
    if let Err(e) = session.flush().await {
        return page.unavailable(&e);
    }
    Redirect::to("/").into_response()
}

/// Routes of `/account/services`: the services the citizen let in, with
/// "revoke access" (the consent goes, and the service's refresh tokens for
/// this account stop working; the next sign-in there asks again).
pub fn services_router() -> Router<App> {
    Router::new()
        .route("/account/services", get(services_page))
        .route("/account/services/{client_id}/revoke", post(revoke_service))
}

async fn services_page(State(app): State<App>, session: Session, lang: Lang, RequestId(rid): RequestId) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login(&page, &session).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let (consents, csrf) = match (app.store.list_consents(&who.account_id).await, csrf_token(&session).await) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(e), _) => return page.unavailable(&e),
        (_, Err(e)) => return page.unavailable(&e),
    };
    let mut rows = Vec::with_capacity(consents.len());
    for c in consents {
        let name = match app.store.get_client(&c.client_id).await {
            Ok(Some(client)) => client.name,
            Ok(None) => continue,
            Err(e) => return page.unavailable(&e),
        };
        rows.push(context! { client_id => c.client_id, name => name, since => when(c.granted_at), scopes => c.scopes.join(" ") });
    }
    page.render("account_services.html", StatusCode::OK, context! { csrf => csrf, services => rows })
}

async fn revoke_service(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    Path(client_id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let who = match require_login_form(&page, &session, &form.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    match app.store.revoke_consent(&who.account_id, &client_id, app.clock.now()).await {
        Ok(true) => Redirect::to("/account/services").into_response(),
        Ok(false) => page.error(StatusCode::NOT_FOUND, "err.invalid_request", "invalid_request"),
        Err(e) => page.unavailable(&e),
    }
}
