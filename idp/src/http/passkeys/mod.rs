//! Passkey endpoints: the JSON calls of `/assets/passkey.js` (same-origin
//! `fetch`, CSRF token in the `x-csrf-token` header), the step-up page and
//! the script itself.
//!
//! Errors are `{"error": code, "message": translated text}` with a 4xx
//! status, or 503 when the store or cache is down; never a 500.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::Session;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::authorize::{ReqId, signed_in};
use super::browser::{Page, after_login, csrf_ok, csrf_token, locale_for, open_session, pending_for, user_agent};
use super::error::no_store;
use super::{ClientIp, Lang, PageQuery, RequestId};
use crate::app::{App, AppState};
use crate::domain::oidc::acr;
use crate::domain::oidc::authorize::SignedIn;
use crate::domain::passkeys::{self, Ceremonies, LoginMode, Meta, NewPasskey, PasskeyError};
use crate::metrics::{LoginMethod, LoginOutcome};
use crate::pages::{Locale, PASSKEY_SCRIPT, text};

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new()
        .route("/passkeys/register/options", post(register_options))
        .route("/passkeys/register", post(register_finish))
        .route("/passkeys/login/options", post(login_options))
        .route("/passkeys/login", post(login_finish))
        .route("/passkeys/step-up", get(step_up_page))
        .route("/assets/passkey.js", get(script))
}

/// Step-up and username-first ceremony starts one address may make per hour
/// (a step-up parks state in the cache for five minutes; username-first reads the account).
const STARTS_PER_HOUR: u64 = 600;

/// A JSON error: `{"error": code, "message": text}`, never cached.
pub(super) struct JsonError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl JsonError {
    fn new(locale: Locale, status: StatusCode, code: &'static str, key: &str) -> Self {
        Self { status, code, message: text(locale, key).to_owned() }
    }

    fn login_required(locale: Locale) -> Self {
        Self::new(locale, StatusCode::UNAUTHORIZED, "login_required", "err.login_required")
    }

    /// 503: the store, cache or session is unreachable (detail logged only).
    pub(super) fn unavailable(locale: Locale, e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "passkey call failed");
        Self::new(locale, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "err.server_error")
    }

    /// The status and body for a domain error.
    pub(super) fn from_domain(locale: Locale, e: &PasskeyError) -> Self {
        let status = match e {
            PasskeyError::WrongAccount | PasskeyError::AccountDisabled | PasskeyError::StepUpRequired => {
                StatusCode::FORBIDDEN
            }
            PasskeyError::AlreadyRegistered | PasskeyError::TooMany | PasskeyError::LastCredential => {
                StatusCode::CONFLICT
            }
            PasskeyError::NotFound => StatusCode::NOT_FOUND,
            PasskeyError::Unavailable(detail) => return Self::unavailable(locale, detail),
            PasskeyError::Rejected(detail) => {
                // Why the authenticator's answer failed helps operators; it is no secret.
                tracing::info!(reason = %detail, "passkey answer refused");
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(locale, status, e.code(), e.key())
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        (self.status, no_store(), axum::Json(json!({ "error": self.code, "message": self.message }))).into_response()
    }
}

/// A JSON answer, never cached.
fn ok(body: Value) -> Response {
    (StatusCode::OK, no_store(), axum::Json(body)).into_response()
}

/// The checks every passkey call starts with: passkeys are on, the CSRF
/// header matches the session's token, the body is the JSON expected.
async fn guard<T: serde::de::DeserializeOwned>(
    app: &AppState,
    session: &Session,
    locale: Locale,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(std::sync::Arc<Webauthn>, T), JsonError> {
    let Some(webauthn) = app.webauthn.clone() else {
        return Err(JsonError::new(locale, StatusCode::NOT_FOUND, "passkeys_disabled", "err.passkeys_disabled"));
    };
    let presented = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if presented.is_empty() || !csrf_ok(session, presented).await {
        return Err(JsonError::new(locale, StatusCode::FORBIDDEN, "csrf", "err.csrf"));
    }
    let input = serde_json::from_slice(body)
        .map_err(|_| JsonError::new(locale, StatusCode::BAD_REQUEST, "invalid_request", "err.invalid_request"))?;
    Ok((webauthn, input))
}

/// The signed-in citizen, or 401 `login_required` for the page script.
async fn require_signed_in(app: &AppState, session: &Session, locale: Locale) -> Result<SignedIn, JsonError> {
    signed_in(app, session)
        .await
        .map_err(|e| JsonError::unavailable(locale, &e))?
        .ok_or(JsonError::login_required(locale))
}

fn meta(ip: std::net::IpAddr, rid: &str) -> Meta {
    Meta { source_ip: Some(ip.to_string()), request_id: Some(rid.to_owned()) }
}

fn ceremonies<'a>(app: &'a AppState, webauthn: &'a Webauthn) -> Ceremonies<'a> {
    Ceremonies {
        webauthn,
        sealing: app.ceremonies.as_ref(),
        store: app.store.as_ref(),
        cache: app.cache.as_ref(),
        now: app.clock.now(),
    }
}

/// A pending request id as a ceremony keeps it: ids are short, and a long
/// value (the body may be 64 KiB) would only fill the cache for five minutes.
fn request_id(req: Option<String>) -> Option<String> {
    req.filter(|r| r.len() <= 64)
}

/// Where a browser continues after a passkey ceremony tied to pending request
/// `req`: back into it when it is still waiting, else `fallback`.
async fn next_url(app: &AppState, session: &Session, req: Option<String>, fallback: &str) -> Result<String, String> {
    let req = req.unwrap_or_default();
    let pending = pending_for(app, session, &req).await;
    after_login(app, session, &req, pending, fallback).await
}

/// Body of `POST /passkeys/register/options`.
#[derive(Deserialize, Default)]
struct RegisterOptions {
    /// The pending authorization request to continue afterwards (offer after sign-up).
    #[serde(default)]
    req: Option<String>,
}

async fn register_options(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, JsonError> {
    let locale = lang.locale;
    let (webauthn, input): (_, RegisterOptions) = guard(&app, &session, locale, &headers, &body).await?;
    let who = require_signed_in(&app, &session, locale).await?;
    let citizen = match app.store.get_citizen(&who.account_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(JsonError::login_required(locale)),
        Err(e) => return Err(JsonError::unavailable(locale, &e)),
    };
    passkeys::may_manage(app.store.as_ref(), &who.account_id, &who.acr)
        .await
        .map_err(|e| JsonError::from_domain(locale, &e))?;
    let started = passkeys::start_registration(&ceremonies(&app, &webauthn), &citizen, request_id(input.req))
        .await
        .map_err(|e| JsonError::from_domain(locale, &e))?;
    Ok(ok(json!({ "ceremony": started.ceremony, "publicKey": started.options.public_key })))
}

/// Body of `POST /passkeys/register`.
#[derive(Deserialize)]
struct RegisterFinish {
    ceremony: String,
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

async fn register_finish(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, JsonError> {
    let locale = lang.locale;
    let (webauthn, input): (_, RegisterFinish) = guard(&app, &session, locale, &headers, &body).await?;
    let who = require_signed_in(&app, &session, locale).await?;
    passkeys::may_manage(app.store.as_ref(), &who.account_id, &who.acr)
        .await
        .map_err(|e| JsonError::from_domain(locale, &e))?;
    let device = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).and_then(passkeys::device_label);
    // No name given: the device it was made on, which is how most people tell passkeys apart.
    let name = match input.name.trim() {
        "" => device.clone().unwrap_or_else(|| text(locale, "passkey.default_name").to_owned()),
        given => given.to_owned(),
    };
    let new = NewPasskey {
        ceremony: &input.ceremony,
        account_id: &who.account_id,
        name: &name,
        credential: &input.credential,
        device,
    };
    let (_, next) = passkeys::finish_registration(&ceremonies(&app, &webauthn), new, &meta(ip, &rid))
        .await
        .map_err(|e| JsonError::from_domain(locale, &e))?;
    let redirect = match next.filter(|r| !r.is_empty()) {
        Some(req) if pending_for(&app, &session, &req).await.is_some() => format!("/authorize/continue?req={req}"),
        _ => "/account".to_owned(),
    };
    Ok(ok(json!({ "ok": true, "redirect": redirect })))
}

/// Body of `POST /passkeys/login/options`.
#[derive(Deserialize, Default)]
struct LoginOptions {
    /// Username-first: the national ID or email typed.
    #[serde(default)]
    identifier: Option<String>,
    /// Passkey autofill (conditional mediation).
    #[serde(default)]
    conditional: bool,
    /// Step-up of the signed-in account.
    #[serde(default)]
    step_up: bool,
    /// The pending authorization request to continue afterwards.
    #[serde(default)]
    req: Option<String>,
}

async fn login_options(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, JsonError> {
    let locale = lang.locale;
    let (webauthn, input): (_, LoginOptions) = guard(&app, &session, locale, &headers, &body).await?;
    let mut identifier = input.identifier.as_deref().map(str::trim).filter(|i| !i.is_empty());
    // A step-up ceremony waits in the cache, and a username-first one reads
    // the database: bound how fast one address starts them. The button's and
    // autofill's ceremonies store and read nothing (sealed in their ids) and
    // have no bound: every login page load starts one, for every citizen
    // behind the same carrier NAT address. Past the bound, username-first
    // becomes that ceremony (the passkey names its account itself), so such
    // an address never loses the passkey button.
    if input.step_up || identifier.is_some() {
        // Separate budgets: username-first, never refused, must not use up an address's step-ups.
        let kind = if input.step_up { "passkey-start" } else { "passkey-named" };
        let key = format!("{kind}:{}", crate::config::throttle_key(ip));
        match crate::cache::within_hourly(app.cache.as_ref(), &key, STARTS_PER_HOUR).await {
            Ok(false) if input.step_up => {
                return Err(JsonError::new(
                    locale,
                    StatusCode::TOO_MANY_REQUESTS,
                    "throttled",
                    "err.passkey_throttled",
                ));
            }
            Ok(false) => identifier = None,
            Ok(true) => {}
            Err(e) => return Err(JsonError::unavailable(locale, &e)),
        }
    }
    let who = if input.step_up { Some(require_signed_in(&app, &session, locale).await?) } else { None };
    let mode = match (&who, identifier) {
        (Some(w), _) => LoginMode::StepUp(&w.account_id),
        (None, Some(ident)) => LoginMode::Identifier(ident),
        (None, None) => LoginMode::Discoverable { conditional: input.conditional },
    };
    let started = passkeys::start_login(&ceremonies(&app, &webauthn), mode, request_id(input.req))
        .await
        .map_err(|e| JsonError::from_domain(locale, &e))?;
    let mut body = json!({ "ceremony": started.ceremony, "publicKey": started.options.public_key });
    if started.options.mediation.is_some() {
        body["mediation"] = json!("conditional");
    }
    Ok(ok(body))
}

/// Body of `POST /passkeys/login`.
#[derive(Deserialize)]
struct LoginFinish {
    ceremony: String,
    credential: PublicKeyCredential,
}

async fn login_finish(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, JsonError> {
    let locale = lang.locale;
    let (webauthn, input): (_, LoginFinish) = guard(&app, &session, locale, &headers, &body).await?;
    let login =
        passkeys::finish_login(&ceremonies(&app, &webauthn), &input.ceremony, &input.credential, &meta(ip, &rid)).await;
    if let Some(outcome) = passkey_outcome(&login) {
        app.metrics.login(LoginMethod::Passkey, outcome);
    }
    let login = login.map_err(|e| JsonError::from_domain(locale, &e))?;
    // A passkey with user verification is LoA2 (DESIGN §3).
    open_session(&app, &session, &login.citizen, acr::LOA2, login.amr, user_agent(&headers), ip)
        .await
        .map_err(|e| JsonError::unavailable(locale, &e))?;
    let redirect =
        next_url(&app, &session, login.next, "/account").await.map_err(|e| JsonError::unavailable(locale, &e))?;
    Ok(ok(json!({ "redirect": redirect })))
}

/// The `/metrics` outcome of a passkey sign-in; `None` when the store or the
/// cache failed (counted there, not as a sign-in).
fn passkey_outcome<T>(result: &Result<T, PasskeyError>) -> Option<LoginOutcome> {
    match result {
        Ok(_) => Some(LoginOutcome::Success),
        Err(PasskeyError::AccountDisabled) => Some(LoginOutcome::Disabled),
        Err(PasskeyError::Unavailable(_)) => None,
        Err(_) => Some(LoginOutcome::Failure),
    }
}

/// The step-up page: the pending request needs LoA2 and this browser is
/// signed in with a password; its button runs a ceremony bound to the
/// signed-in account.
async fn step_up_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<ReqId>,
) -> Response {
    let pending = pending_for(&app, &session, &q.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    let Some(pending) = pending else {
        return page.error(StatusCode::BAD_REQUEST, "err.login_expired", "login_expired");
    };
    let who = match signed_in(&app, &session).await {
        Ok(Some(w)) => w,
        Ok(None) => return Redirect::to(&format!("/login?req={}", q.req)).into_response(),
        Err(e) => return page.unavailable(&e),
    };
    let csrf = match csrf_token(&session).await {
        Ok(c) => c,
        Err(e) => return page.unavailable(&e),
    };
    let account_name = app.store.get_citizen(&who.account_id).await.ok().flatten().map(|c| c.profile.full_name);
    let ctx = context! {
        csrf => csrf, req => q.req, client_name => pending.client_name, account_name => account_name,
        passkeys => app.webauthn.is_some(),
    };
    page.render("step_up.html", StatusCode::OK, ctx)
}

/// The one script of the pages: the WebAuthn calls. Served, not inlined,
/// so the Content-Security-Policy can stay `script-src 'self'`.
async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        PASSKEY_SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
