//! `/logout`: the end-session endpoint (OpenID Connect RP-Initiated Logout
//! 1.0) and the sign-out form of our own pages, one handler for both.
//!
//! A request we can tie to this browser's session (our page's form with its
//! CSRF token, the confirmation form, or an `id_token_hint` whose `sid` is the
//! current session's) ends the session at once. Anything else gets the
//! confirmation page: §2 says the OP SHOULD ask, and without that a third-party
//! page could sign citizens out with a plain link.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::authorize::{AUTH_KEY, signed_in};
use super::browser::{Page, csrf_ok, csrf_token};
use super::{Lang, PageForm, PageQuery, RequestId};
use crate::app::App;
use crate::domain::oidc::authorize::SignedIn;
use crate::domain::oidc::logout::{self, EndSession, EndSessionError, EndSessionOutcome, FrontChannel};
use crate::store::StoreError;

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new().route("/logout", get(by_get).post(by_post))
}

/// RP-Initiated Logout §2 parameters, plus our form's `csrf`. Empty values
/// count as absent. `logout_hint` and unknown parameters are ignored.
#[derive(Serialize, Deserialize, Default)]
struct EndSessionParams {
    #[serde(default)]
    id_token_hint: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    ui_locales: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
    /// `rp` from the confirmation page of a relying party's request, which
    /// ends on the signed-out page; absent from our own sign-out buttons.
    #[serde(default)]
    confirm: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

async fn by_get(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(p): PageQuery<EndSessionParams>,
) -> Response {
    // A GET never carries our CSRF token: it can only be tied by its hint.
    end_session(&app, &session, &lang, &rid, EndSessionParams { csrf: None, ..p }).await
}

async fn by_post(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageForm(p): PageForm<EndSessionParams>,
) -> Response {
    // A relying party's cross-site form POST arrives without the SameSite=Lax
    // session cookie, so it could not end the session it is meant to end.
    // RP-Initiated Logout §2 lets it POST; send the browser on as a top-level
    // GET, which carries the cookie. Only our own confirmation form has `csrf`.
    if given(&p.csrf).is_none() {
        let query = serde_urlencoded::to_string(&p).unwrap_or_default();
        return Redirect::to(&format!("/logout?{query}")).into_response();
    }
    end_session(&app, &session, &lang, &rid, p).await
}

async fn end_session(app: &App, session: &Session, lang: &Lang, rid: &str, p: EndSessionParams) -> Response {
    let page = Page { app, locale: lang.with_ui_locales(given(&p.ui_locales)), rid };
    let checked = match logout::check_request(
        app.store.as_ref(),
        &app.keys,
        &app.config.issuer,
        given(&p.id_token_hint),
        given(&p.client_id),
        given(&p.post_logout_redirect_uri),
        given(&p.state),
    )
    .await
    {
        Ok(c) => c,
        Err(EndSessionOutcome::Store(e)) => return page.unavailable(&e),
        Err(EndSessionOutcome::Refused(why)) => {
            // Never redirect on a refused request: that would be an open redirect.
            tracing::info!(reason = %why, "end-session request refused");
            let code = if why == EndSessionError::InvalidHint { "invalid_request" } else { "invalid_client" };
            return page.error(StatusCode::BAD_REQUEST, "err.logout_request", code);
        }
    };
    if let Some(presented) = given(&p.csrf)
        && !csrf_ok(session, presented).await
    {
        return page.error(StatusCode::FORBIDDEN, "err.csrf", "invalid_request");
    }
    let confirmed = given(&p.csrf).is_some();
    // Our own sign-out buttons go home afterwards; a relying party's request
    // (confirmed on our page) says the citizen is signed out.
    let own_form = confirmed && given(&p.confirm) != Some("rp");
    // Only a live session is ended (and its services told); one that already
    // ended elsewhere (another device, a password change) only loses its cookie.
    let who = match signed_in(app, session).await {
        Ok(who) => who,
        Err(e) => return page.unavailable(&e),
    };
    let Some(who) = who else {
        if session.get::<SignedIn>(AUTH_KEY).await.ok().flatten().is_some()
            && let Err(e) = session.flush().await
        {
            return page.unavailable(&e);
        }
        // Nothing to end here (already signed out, or another browser).
        return finish(&page, checked.redirect, Vec::new(), own_form);
    };
    let tied = match hint_names(app, &checked, &who).await {
        Ok(t) => t,
        Err(e) => return page.unavailable(&e),
    };
    if !confirmed && !tied {
        let csrf = match csrf_token(session).await {
            Ok(t) => t,
            Err(e) => return page.unavailable(&e),
        };
        let client = checked.client.as_ref();
        return page.render(
            "logout_confirm.html",
            StatusCode::OK,
            context! {
                csrf => csrf,
                client_name => client.map(|c| c.name.clone()),
                client_id => client.map(|c| c.client_id.clone()),
                post_logout_redirect_uri => given(&p.post_logout_redirect_uri),
                state => given(&p.state),
                // The signed-out page speaks the language the request asked for.
                ui_locales => given(&p.ui_locales),
            },
        );
    }
    let frames = match logout::end_session(
        app.store.as_ref(),
        &app.subjects,
        &app.config.issuer,
        app.clock.now(),
        &who.sid,
        &who.account_id,
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return page.unavailable(&e),
    };
    // Drop the web session: the cookie's id is deleted server-side, so the
    // next visit starts a new one (a fresh id and CSRF token).
    if let Err(e) = session.flush().await {
        return page.unavailable(&e);
    }
    finish(&page, checked.redirect, frames, own_form)
}

/// Whether the checked `id_token_hint` names this browser's session: by its
/// `sid`, or — a hint without one — by the citizen's `sub` as the hint's
/// client sees it (OIDC Core §8: a pairwise client has its own).
async fn hint_names(app: &App, checked: &EndSession, who: &SignedIn) -> Result<bool, StoreError> {
    let Some(hint) = &checked.hint else { return Ok(false) };
    if let Some(sid) = &hint.sid {
        return Ok(*sid == who.sid);
    }
    // `check_request` loaded the hint's client (refusing unknown ones).
    let Some(client) = &checked.client else { return Ok(false) };
    let Some(citizen) = app.store.get_citizen(&who.account_id).await? else { return Ok(false) };
    Ok(hint.subject == app.subjects.citizen(client, &citizen.account))
}

/// The end of a logout: straight to the client's page (303) when there are
/// no front-channel iframes to load; otherwise the signed-out page with them,
/// moving on to the client by a meta refresh (no script needed). Our own
/// sign-out button with nothing to load keeps going home.
fn finish(page: &Page<'_>, redirect: Option<String>, frames: Vec<FrontChannel>, own_form: bool) -> Response {
    if frames.is_empty() {
        match redirect {
            Some(to) => return Redirect::to(&to).into_response(),
            None if own_form => return Redirect::to("/").into_response(),
            None => {}
        }
    }
    let sources: Vec<String> =
        frames.iter().filter_map(|f| url::Url::parse(&f.src).ok()).map(|u| u.origin().ascii_serialization()).collect();
    let mut resp = page.render("logged_out.html", StatusCode::OK, context! { redirect => redirect, frames => frames });
    if !sources.is_empty() {
        // The pages' policy forbids frames; this page must load the clients'.
        let csp = format!(
            "default-src 'none'; frame-src {}; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
            sources.join(" ")
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}
