//! The authorization endpoint and the step that resumes a pending request
//! after the login or consent page.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::error::{error_page, page_response};
use super::{Lang, PageQuery, RequestId, params};
use crate::app::{App, AppState};
use crate::crypto::random_id;
use crate::domain::oidc::authorize::{
    self, Acting, AuthorizationRequest, Progress, RequestError, ResponseMode, ReturnTo, SignedIn, Step,
};
use crate::domain::oidc::par::{self, ResolveError};
use crate::domain::oidc::request_object::{self, ObjectError};
use crate::domain::oidc::{OAuthError, OAuthErrorCode as E, acr};
use crate::pages::Locale;
use crate::store::Timestamp;

/// Session key of the signed-in citizen.
pub const AUTH_KEY: &str = "auth";

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new().route("/authorize", get(authorize_get).post(authorize_post)).route("/authorize/continue", get(resume))
}

/// An authorization request waiting for the citizen, kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The validated request.
    pub request: AuthorizationRequest,
    /// Client display name (for pages).
    pub client_name: String,
    /// When it arrived.
    pub created_at: Timestamp,
    /// The citizen signed in during this request (satisfies prompt=login, max_age).
    pub login_done: bool,
    /// The consent page was answered during this request.
    pub consent_shown: bool,
    /// Whom the citizen chose to act for on the business chooser.
    #[serde(default)]
    pub acting: Option<Acting>,
}

/// Session key of the pending requests (one map, so it can be pruned and capped).
const PENDING_KEY: &str = "pending";
/// Most authorization requests one browser may have waiting at once (tabs).
const MAX_PENDING: usize = 8;
/// Cache key of a request that arrived by POST, until the browser's GET picks it up.
fn parked_key(id: &str) -> String {
    format!("authreq:{id}")
}

type PendingMap = std::collections::BTreeMap<String, Pending>;

async fn pending_map(session: &Session) -> PendingMap {
    session.get::<PendingMap>(PENDING_KEY).await.ok().flatten().unwrap_or_default()
}

/// Load a pending request that has not expired.
pub async fn load_pending(app: &AppState, session: &Session, id: &str) -> Option<Pending> {
    let p = pending_map(session).await.remove(id)?;
    (app.clock.now() - p.created_at <= app.config.login_ttl).then_some(p)
}

/// Store (or replace) a pending request, dropping expired ones and, past
/// [`MAX_PENDING`], the oldest.
pub async fn save_pending(
    app: &AppState,
    session: &Session,
    id: &str,
    pending: &Pending,
) -> Result<(), tower_sessions::session::Error> {
    let now = app.clock.now();
    let mut map = pending_map(session).await;
    map.retain(|_, p| now - p.created_at <= app.config.login_ttl);
    map.insert(id.to_owned(), pending.clone());
    while map.len() > MAX_PENDING {
        let oldest = map.iter().min_by_key(|(_, p)| p.created_at).map(|(k, _)| k.clone());
        match oldest {
            Some(k) => map.remove(&k),
            None => break,
        };
    }
    session.insert(PENDING_KEY, &map).await?;
    // A page comes next, and its form needs a CSRF token: minted now, it is
    // saved with the request instead of in a write of its own.
    super::browser::csrf_token(session).await.map(|_| ())
}

/// Forget a pending request (answered or failed).
pub async fn remove_pending(session: &Session, id: &str) {
    let mut map = pending_map(session).await;
    if map.remove(id).is_some() {
        let _ = session.insert(PENDING_KEY, &map).await;
    }
}

/// The citizen signed in to this browser, if the SSO session is still live.
pub async fn signed_in(app: &AppState, session: &Session) -> Result<Option<SignedIn>, String> {
    let Some(who): Option<SignedIn> = session.get(AUTH_KEY).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let now = app.clock.now();
    let live = match app.store.get_sso_session(&who.sid).await.map_err(|e| e.to_string())? {
        Some(s) => s.revoked_at.is_none() && s.expires_at > now,
        None => false,
    };
    let active = live
        && app
            .store
            .get_citizen(&who.account_id)
            .await
            .map_err(|e| e.to_string())?
            .is_some_and(|c| c.account.status == "active");
    Ok(active.then_some(who))
}

async fn authorize_get(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    RawQuery(q): RawQuery,
) -> Response {
    start(&app, &session, &lang, &rid, q.unwrap_or_default().as_bytes(), false).await
}

async fn authorize_post(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // OIDC Core §3.1.2.1: POST uses form serialization.
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return error_page(&app, lang.locale, &rid, StatusCode::BAD_REQUEST, "err.invalid_request", "invalid_request");
    }
    start(&app, &session, &lang, &rid, &body, true).await
}

async fn start(app: &AppState, session: &Session, lang: &Lang, rid: &str, raw: &[u8], posted: bool) -> Response {
    let params = match params::parse(raw) {
        Ok(p) => p,
        // Without trustworthy parameters there is no validated redirect URI.
        Err(_) => {
            return error_page(
                app,
                lang.locale,
                rid,
                StatusCode::BAD_REQUEST,
                "err.invalid_request",
                "invalid_request",
            );
        }
    };
    // RFC 9101: a signed request object stands in for the query's parameters.
    let now = app.clock.now();
    let params = match request_object::resolve(
        app.store.as_ref(),
        app.cache.as_ref(),
        &app.http,
        &app.config.issuer,
        params,
        now,
    )
    .await
    {
        Ok(p) => p,
        Err(ObjectError::Invalid(why)) => {
            tracing::info!(why, "request object refused");
            return error_page(
                app,
                lang.locale,
                rid,
                StatusCode::BAD_REQUEST,
                "err.request_object",
                "invalid_request_object",
            );
        }
        Err(ObjectError::Unavailable(e)) => {
            tracing::error!(error = %e, "checking a request object failed");
            return unavailable(app, lang.locale, rid);
        }
    };
    // RFC 9126 §4: a pushed request stands in for the query's parameters.
    let (params, pushed) = match par::resolve(app.cache.as_ref(), params).await {
        Ok(p) => p,
        Err(ResolveError::Invalid) => {
            return error_page(
                app,
                lang.locale,
                rid,
                StatusCode::BAD_REQUEST,
                "err.request_uri",
                "invalid_request_uri",
            );
        }
        Err(ResolveError::Unavailable(e)) => {
            tracing::error!(error = %e, "taking a pushed authorization request failed");
            return unavailable(app, lang.locale, rid);
        }
    };
    let locale = lang.with_ui_locales(params.get("ui_locales"));
    let validated = authorize::validate(app.store.as_ref(), &app.keys, &app.config.issuer, &params, pushed).await;
    let (request, client) = match validated {
        Ok(v) => v,
        Err(RequestError::Page { key, code }) => {
            let status =
                if code == "server_error" { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::BAD_REQUEST };
            return error_page(app, locale, rid, status, key, code);
        }
        Err(RequestError::Redirect(to, err)) => return respond_to_client(app, locale, rid, &to, Err(&err)),
    };
    let id = random_id();
    let pending = Pending {
        request,
        client_name: client.name,
        created_at: app.clock.now(),
        login_done: false,
        consent_shown: false,
        acting: None,
    };
    if posted {
        // A cross-site POST arrives without the SameSite=Lax session cookie:
        // touching the session here would replace the citizen's SSO cookie.
        // Park the request and let the browser come back with a GET, which
        // carries the cookie (OIDC Core §3.1.2.1 allows POST).
        let ttl = std::time::Duration::from_secs(app.config.login_ttl as u64);
        let stored = match serde_json::to_vec(&pending) {
            Ok(bytes) => app.cache.put_visitor(&parked_key(&id), &bytes, ttl).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        return match stored {
            Ok(()) => Redirect::to(&format!("/authorize/continue?req={id}")).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "parking a posted authorization request failed");
                unavailable(app, locale, rid)
            }
        };
    }
    // Not in the session yet: a request answered at once (single sign-on,
    // `prompt=none`) never needs it there, and so costs no session write.
    proceed(app, session, locale, rid, &id, pending, false).await
}

/// Query of `/authorize/continue`, `/login`, `/consent`.
#[derive(Deserialize)]
pub struct ReqId {
    /// Pending request id.
    #[serde(default)]
    pub req: String,
}

async fn resume(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<ReqId>,
) -> Response {
    let pending = match load_pending(&app, &session, &q.req).await {
        Some(p) => p,
        // A request that arrived by POST: take it from the cache (once) into this browser's session.
        None => match take_parked(&app, &q.req).await {
            Err(e) => {
                tracing::error!(error = %e, "taking a parked authorization request failed");
                return unavailable(&app, lang.locale, &rid);
            }
            Ok(Some(p)) => {
                if save_pending(&app, &session, &q.req, &p).await.is_err() {
                    return unavailable(&app, lang.locale, &rid);
                }
                p
            }
            Ok(None) => {
                return error_page(
                    &app,
                    lang.locale,
                    &rid,
                    StatusCode::BAD_REQUEST,
                    "err.login_expired",
                    "login_expired",
                );
            }
        },
    };
    let locale = lang.with_ui_locales(pending.request.ui_locales.as_deref());
    proceed(&app, &session, locale, &rid, &q.req, pending, true).await
}

/// The translated 503 page: the cache or the session store is unreachable.
fn unavailable(app: &AppState, locale: Locale, rid: &str) -> Response {
    error_page(app, locale, rid, StatusCode::SERVICE_UNAVAILABLE, "err.server_error", "temporarily_unavailable")
}

/// A parked request, taken once; `Err` when the cache is unreachable (503,
/// not "login expired": the request may well still be there).
async fn take_parked(app: &AppState, id: &str) -> Result<Option<Pending>, crate::cache::CacheError> {
    let Some(bytes) = app.cache.take(&parked_key(id)).await? else { return Ok(None) };
    let Ok(p) = serde_json::from_slice::<Pending>(&bytes) else { return Ok(None) };
    Ok((app.clock.now() - p.created_at <= app.config.login_ttl).then_some(p))
}

/// Decide and act: carry a pending request one step further (sign-in, step-up, chooser,
/// consent, or the answer to the client). The request is in the browser's
/// session only if `saved`; it is put there when a page must come next, so
/// a request answered at once costs no session write.
pub async fn proceed(
    app: &AppState,
    session: &Session,
    locale: Locale,
    rid: &str,
    id: &str,
    pending: Pending,
    saved: bool,
) -> Response {
    let server_error = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "authorization step failed");
        error_page(app, locale, rid, StatusCode::INTERNAL_SERVER_ERROR, "err.server_error", "server_error")
    };
    // A store or session read failing is the database out of reach: the
    // translated 503 page, as on every other page, never a 500.
    let store_down = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "authorization step: store or session unreachable");
        unavailable(app, locale, rid)
    };
    let who = match signed_in(app, session).await {
        Ok(w) => w,
        Err(e) => return store_down(&e),
    };
    let consent = match &who {
        Some(w) => match app.store.get_consent(&w.account_id, &pending.request.client_id).await {
            Ok(c) => c,
            Err(e) => return store_down(&e),
        },
        None => None,
    };
    // Only a session weaker than the request needs asks whether a passkey could lift it.
    let has_passkey = match &who {
        Some(w) if !acr::satisfies(&w.acr, &pending.request.required_acr) => {
            match app.store.list_passkeys(&w.account_id).await {
                Ok(list) => !list.is_empty(),
                Err(e) => return store_down(&e),
            }
        }
        _ => false,
    };
    let now = app.clock.now();
    let business = match &who {
        Some(w) if pending.request.wants_business() => match super::business_choice::choice(app, w, &pending).await {
            Ok(b) => b,
            Err(e) => return store_down(&e),
        },
        _ => Default::default(),
    };
    let progress =
        Progress { fresh_login: pending.login_done, consent_shown: pending.consent_shown, has_passkey, business };
    // OIDC Core §8: a hint names the citizen by the `sub` this client knows.
    let seen = match as_client_sees(app, who.as_ref(), &pending.request).await {
        Ok(s) => s,
        Err(e) => return store_down(&e),
    };
    let step = authorize::decide(&pending.request, seen.as_ref(), consent.as_ref(), &progress, now);
    let page_next = matches!(step, Step::Login | Step::StepUp | Step::ChooseBusiness | Step::Consent);
    if page_next
        && !saved
        && let Err(e) = save_pending(app, session, id, &pending).await
    {
        tracing::error!(error = %e, "session write failed");
        return unavailable(app, locale, rid);
    }
    match (step, who) {
        // Initiating User Registration via OpenID Connect 1.0: the sign-up
        // page first, its "sign in instead" link leading to the login page.
        (Step::Login, _) if pending.request.has_prompt("create") => {
            Redirect::to(&format!("/signup?req={id}")).into_response()
        }
        (Step::Login, _) => Redirect::to(&format!("/login?req={id}")).into_response(),
        (Step::StepUp, _) => Redirect::to(&format!("/passkeys/step-up?req={id}")).into_response(),
        (Step::ChooseBusiness, _) => Redirect::to(&format!("/choose-business?req={id}")).into_response(),
        (Step::Consent, _) => Redirect::to(&format!("/consent?req={id}")).into_response(),
        (Step::Fail(err), _) => {
            if saved {
                remove_pending(session, id).await;
            }
            respond_to_client(app, locale, rid, &pending.request.return_to, Err(&err))
        }
        (Step::Issue(acting), Some(who)) => {
            let code = authorize::issue_code(
                app.store.as_ref(),
                app.cache.as_ref(),
                &pending.request,
                &who,
                &acting,
                now,
                app.config.code_ttl,
            )
            .await;
            if saved {
                remove_pending(session, id).await;
            }
            // A code issued without a login step in this flow is a single sign-on.
            if code.is_ok() && !pending.login_done {
                app.metrics.login(crate::metrics::LoginMethod::Sso, crate::metrics::LoginOutcome::Success);
            }
            // "Last seen" on the sessions page; a failed write must not cost the citizen the sign-in.
            if code.is_ok()
                && let Err(e) = crate::domain::accounts::session_seen(app.store.as_ref(), &who.sid, now).await
            {
                tracing::warn!(error = %e, "could not record the session's last use");
            }
            match code {
                Ok(code) => respond_to_client(app, locale, rid, &pending.request.return_to, Ok(&code)),
                Err(e) => respond_to_client(app, locale, rid, &pending.request.return_to, Err(&e)),
            }
        }
        (Step::Issue(_), None) => server_error(&"issue without a signed-in citizen"),
    }
}

/// The signed-in citizen with `subject` as the request's client sees it
/// (OIDC Core §8: a pairwise client has its own `sub`), for comparing with
/// the request's hint; a copy, the session keeps the public subject. Read
/// only when the request carries a hint.
async fn as_client_sees(
    app: &AppState,
    who: Option<&SignedIn>,
    req: &AuthorizationRequest,
) -> Result<Option<SignedIn>, crate::store::StoreError> {
    let Some(who) = who else { return Ok(None) };
    if req.hint_subject.is_none() {
        return Ok(Some(who.clone()));
    }
    let client = app.store.get_client(&req.client_id).await?;
    let citizen = app.store.get_citizen(&who.account_id).await?;
    let mut seen = who.clone();
    if let (Some(client), Some(citizen)) = (client, citizen) {
        seen.subject = app.subjects.citizen(&client, &citizen.account);
    }
    Ok(Some(seen))
}

/// Send a code or an error to the validated redirect URI, by query or form post,
/// with `iss` (RFC 9207) and `state`.
pub fn respond_to_client(
    app: &AppState,
    locale: Locale,
    rid: &str,
    to: &ReturnTo,
    result: Result<&str, &OAuthError>,
) -> Response {
    let mut fields: Vec<(&str, String)> = Vec::new();
    match result {
        Ok(code) => fields.push(("code", code.to_owned())),
        Err(e) => {
            fields.push(("error", e.code.as_str().to_owned()));
            if e.code != E::ServerError {
                fields.push(("error_description", e.description.clone()));
            }
        }
    }
    if let Some(s) = &to.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", app.config.issuer.clone()));
    match to.response_mode {
        ResponseMode::Query => {
            let Ok(mut url) = url::Url::parse(&to.redirect_uri) else {
                return error_page(
                    app,
                    locale,
                    rid,
                    StatusCode::BAD_REQUEST,
                    "err.invalid_redirect_uri",
                    "invalid_request",
                );
            };
            url.query_pairs_mut().extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())));
            Redirect::to(url.as_str()).into_response()
        }
        ResponseMode::FormPost => {
            let pairs: Vec<[&str; 2]> = fields.iter().map(|(k, v)| [*k, v.as_str()]).collect();
            let ctx = context! { action => &to.redirect_uri, fields => pairs };
            let mut resp = page_response(app, "form_post.html", locale, ctx, StatusCode::OK, rid);
            // The one page with a script: the auto-submit line, allowed by its hash only.
            let csp = format!(
                "default-src 'none'; script-src {}; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
                crate::pages::form_post_script_csp_source()
            );
            if let Ok(v) = csp.parse() {
                resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            resp
        }
    }
}
