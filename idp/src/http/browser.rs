//! What every citizen page shares: the per-session CSRF token, rendering
//! with the request id, and opening an SSO session after a sign-in
//! (password or passkey).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tower_sessions::Session;

use super::Lang;
use super::authorize::{AUTH_KEY, Pending, load_pending, save_pending};
use super::error::{error_page, page_response};
use crate::app::AppState;
use crate::crypto::{constant_time_eq, random_token};
use crate::domain::accounts;
use crate::domain::oidc::authorize::SignedIn;
use crate::pages::Locale;
use crate::store::Citizen;

/// Session key of the CSRF token.
const CSRF_KEY: &str = "csrf";

/// The session's CSRF token, created on first use.
pub(super) async fn csrf_token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(t);
    }
    let t = random_token();
    session.insert(CSRF_KEY, &t).await?;
    // A visitor who has not signed in keeps a short-lived session only, so
    // anonymous page views cannot pile up long-lived rows in the store.
    if session.get::<SignedIn>(AUTH_KEY).await?.is_none() {
        session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(super::session::ANONYMOUS_SESSION_TTL),
        )));
    }
    Ok(t)
}

/// Whether `presented` is the session's CSRF token (constant-time).
pub(super) async fn csrf_ok(session: &Session, presented: &str) -> bool {
    match session.get::<String>(CSRF_KEY).await {
        Ok(Some(t)) => constant_time_eq(t.as_bytes(), presented.as_bytes()),
        _ => false,
    }
}

/// One page being answered: the state, its language and the request id.
pub(super) struct Page<'a> {
    /// Application state.
    pub app: &'a AppState,
    /// Page language.
    pub locale: Locale,
    /// Request id shown on the page.
    pub rid: &'a str,
}

impl Page<'_> {
    /// Render template `name`.
    pub fn render(&self, name: &str, status: StatusCode, ctx: minijinja::Value) -> Response {
        page_response(self.app, name, self.locale, ctx, status, self.rid)
    }
    /// The translated error page.
    pub fn error(&self, status: StatusCode, key: &str, code: &str) -> Response {
        error_page(self.app, self.locale, self.rid, status, key, code)
    }
    /// The 503 page for a store, cache or session failure (detail logged only).
    pub fn unavailable(&self, e: &dyn std::fmt::Display) -> Response {
        tracing::error!(error = %e, "page failed");
        self.error(StatusCode::SERVICE_UNAVAILABLE, "err.server_error", "temporarily_unavailable")
    }
}

/// The pending authorization request `req`, if any and not expired.
pub(super) async fn pending_for(app: &AppState, session: &Session, req: &str) -> Option<Pending> {
    if req.is_empty() { None } else { load_pending(app, session, req).await }
}

/// The page language, preferring the pending request's `ui_locales`.
pub(super) fn locale_for(lang: &Lang, pending: Option<&Pending>) -> Locale {
    lang.with_ui_locales(pending.and_then(|p| p.request.ui_locales.as_deref()))
}

/// The browser's `User-Agent`, if it sent a readable one.
pub(super) fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

/// A citizen proved who they are: end the SSO session this browser had (a
/// new login replaces it: prompt=login, max_age, step-up, another account),
/// open a new one at `acr` / `amr` (noting the browser's `user_agent` for the
/// sessions page), and give the browser a new session id (session fixation)
/// with a fresh CSRF token.
pub(super) async fn open_session(
    app: &AppState,
    session: &Session,
    citizen: &Citizen,
    acr: &str,
    amr: &[&str],
    user_agent: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<(), String> {
    let now = app.clock.now();
    // The replaced session ends like any logout (Back-Channel Logout §2): the
    // services it signed into are told, and its grants end, so a later sign-out
    // of the new session cannot leave them signed in. A session that already
    // ended elsewhere was told then.
    if let Ok(Some(previous)) = super::authorize::signed_in(app, session).await {
        crate::domain::oidc::logout::end_session(
            app.store.as_ref(),
            &app.subjects,
            &app.config.issuer,
            now,
            &previous.sid,
            &previous.account_id,
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    let ttl = app.config.session_ttl;
    let device = accounts::SessionDevice { user_agent, place: app.places.lookup(ip) };
    let sso = accounts::start_session(app.store.as_ref(), now, &citizen.account.id, acr, amr, ttl, device)
        .await
        .map_err(|e| e.to_string())?;
    let who = SignedIn {
        account_id: citizen.account.id.clone(),
        subject: citizen.account.subject.clone(),
        sid: sso.sid,
        auth_time: sso.auth_time,
        acr: sso.acr,
        amr: sso.amr,
    };
    session.cycle_id().await.map_err(|e| e.to_string())?;
    session.set_expiry(Some(tower_sessions::Expiry::OnInactivity(tower_sessions::cookie::time::Duration::seconds(
        app.config.session_ttl,
    ))));
    // A new CSRF token with the new session id, written with it: the next
    // page's form (consent) needs no session write of its own.
    session.insert(CSRF_KEY, random_token()).await.map_err(|e| e.to_string())?;
    session.insert(AUTH_KEY, &who).await.map_err(|e| e.to_string())
}

/// Where the browser goes after a sign-in: back into the pending request
/// `req` (marked as signed in during it, which satisfies prompt=login and
/// max_age), or `fallback` when there is none.
pub(super) async fn after_login(
    app: &AppState,
    session: &Session,
    req: &str,
    pending: Option<Pending>,
    fallback: &str,
) -> Result<String, String> {
    match pending {
        Some(mut p) => {
            p.login_done = true;
            save_pending(app, session, req, &p).await.map_err(|e| e.to_string())?;
            Ok(format!("/authorize/continue?req={req}"))
        }
        None => Ok(fallback.to_owned()),
    }
}
