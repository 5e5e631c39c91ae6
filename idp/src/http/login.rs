//! Citizen pages: login, sign-up, consent, logout and the landing page.
//! Every form carries a per-session CSRF token.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;
use tower_sessions::Session;

use super::authorize::{Pending, ReqId, proceed, remove_pending, respond_to_client, save_pending, signed_in};
use super::browser::{Page, after_login, csrf_ok, csrf_token, locale_for, open_session, pending_for, user_agent};
use super::{ClientIp, Lang, PageForm, PageQuery, RequestId};
use crate::app::App;
use crate::crypto::Secret;
use crate::domain::accounts::{self, LoginError, SignUp, SignUpError, Throttle};
use crate::domain::audit;
use crate::domain::oidc::authorize::Acting;
use crate::domain::oidc::{OAuthError, OAuthErrorCode as E, acr};
use crate::store::{Citizen, Consent};

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/signup", get(signup_page).post(signup_submit))
        .route("/consent", get(consent_page).post(consent_submit))
    // `/logout` is in `logout.rs` (it is also the end-session endpoint).
}

async fn home(State(app): State<App>, session: Session, lang: Lang, RequestId(rid): RequestId) -> Response {
    let page = Page { app: &app, locale: lang.locale, rid: &rid };
    let (who, csrf) = match (signed_in(&app, &session).await, csrf_token(&session).await) {
        (Ok(w), Ok(c)) => (w, c),
        (Err(e), _) => return page.unavailable(&e),
        (_, Err(e)) => return page.unavailable(&e),
    };
    let name = match &who {
        Some(w) => app.store.get_citizen(&w.account_id).await.ok().flatten().map(|c| c.profile.full_name),
        None => None,
    };
    page.render("home.html", StatusCode::OK, context! { account_name => name, csrf => csrf })
}

async fn login_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<ReqId>,
) -> Response {
    let pending = pending_for(&app, &session, &q.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    if !q.req.is_empty() && pending.is_none() {
        return page.error(StatusCode::BAD_REQUEST, "err.login_expired", "login_expired");
    }
    let csrf = match csrf_token(&session).await {
        Ok(c) => c,
        Err(e) => return page.unavailable(&e),
    };
    login_form(&page, &csrf, &q.req, pending.as_ref(), None, None, StatusCode::OK)
}

/// The login form; after a refused attempt, with its reason and with what
/// the citizen typed as their identifier kept (a 12-digit number is long to
/// type again on a phone).
fn login_form(
    page: &Page<'_>,
    csrf: &str,
    req: &str,
    pending: Option<&Pending>,
    error: Option<(&str, Option<i64>)>,
    typed: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = context! {
        csrf => csrf,
        req => req,
        login_hint => typed.map(str::to_owned).or_else(|| pending.and_then(|p| p.request.login_hint.clone())),
        error => error.map(|e| e.0),
        error_n => error.and_then(|e| e.1),
        client_name => pending.map(|p| p.client_name.clone()),
        signup_url => format!("/signup?req={req}"),
        passkeys => page.app.webauthn.is_some(),
        // The service asks for more than a password: say so before the citizen types one.
        needs_passkey => pending.is_some_and(|p| !acr::satisfies(acr::LOA1, &p.request.required_acr)),
    };
    page.render("login.html", status, ctx)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    req: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
}

async fn login_submit(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(peer_ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let pending = pending_for(&app, &session, &form.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    let csrf = match csrf_token(&session).await {
        Ok(c) => c,
        Err(e) => return page.unavailable(&e),
    };
    if !csrf_ok(&session, &form.csrf).await {
        let error = Some(("err.csrf", None));
        return login_form(
            &page,
            &csrf,
            &form.req,
            pending.as_ref(),
            error,
            Some(&form.identifier),
            StatusCode::FORBIDDEN,
        );
    }
    let throttle = Throttle {
        free_per_identifier: app.config.login_free_attempts,
        free_per_ip: app.config.login_ip_free_attempts,
    };
    let result = accounts::login(
        app.store.as_ref(),
        app.cache.as_ref(),
        &app.passwords,
        throttle,
        app.clock.now(),
        accounts::Attempt {
            identifier: &form.identifier,
            password: Secret::new(form.password),
            client_ip: &crate::config::throttle_key(peer_ip),
        },
    )
    .await;
    let (ip, rid_opt) = (Some(peer_ip.to_string()), Some(rid.clone()));
    audit::record_login(app.store.as_ref(), app.clock.now(), &form.identifier, &result, ip, rid_opt).await;
    app.metrics.login_result(crate::metrics::LoginMethod::Password, &result);
    match result {
        Ok(citizen) => {
            complete_login(&page, &session, &form.req, pending, &citizen, (user_agent(&headers), peer_ip)).await
        }
        Err(LoginError::InvalidCredentials) => login_form(
            &page,
            &csrf,
            &form.req,
            pending.as_ref(),
            Some(("err.invalid_credentials", None)),
            Some(&form.identifier),
            // The form again, not 401: a 401 would need a WWW-Authenticate challenge (RFC 9110 §15.5.2).
            StatusCode::OK,
        ),
        Err(LoginError::Throttled { retry_after }) => login_form(
            &page,
            &csrf,
            &form.req,
            pending.as_ref(),
            Some(("err.throttled", Some(retry_after))),
            Some(&form.identifier),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(LoginError::AccountDisabled) => {
            page.error(StatusCode::FORBIDDEN, "err.account_disabled", "account_disabled")
        }
        Err(LoginError::Internal(e)) => page.unavailable(&e),
    }
}

/// A citizen proved who they are with a password: a new SSO session at
/// LoA1, then back to the pending authorization request if any.
async fn complete_login(
    page: &Page<'_>,
    session: &Session,
    req: &str,
    pending: Option<Pending>,
    citizen: &Citizen,
    (user_agent, ip): (Option<&str>, std::net::IpAddr),
) -> Response {
    let app = page.app;
    if let Err(e) = open_session(app, session, citizen, acr::LOA1, acr::AMR_PASSWORD, user_agent, ip).await {
        return page.unavailable(&e);
    }
    match after_login(app, session, req, pending, "/").await {
        Ok(next) => Redirect::to(&next).into_response(),
        Err(e) => page.unavailable(&e),
    }
}

async fn signup_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<ReqId>,
) -> Response {
    let pending = pending_for(&app, &session, &q.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    let csrf = match csrf_token(&session).await {
        Ok(c) => c,
        Err(e) => return page.unavailable(&e),
    };
    signup_form(&page, &csrf, &q.req, None, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct SignUpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    req: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    /// Set to `1` by the page's script when the browser can make passkeys:
    /// only then is the passkey offer shown after sign-up (without
    /// JavaScript the sign-up goes straight on).
    #[serde(default)]
    passkey_offer: String,
}

fn signup_form(
    page: &Page<'_>,
    csrf: &str,
    req: &str,
    form: Option<&SignUpForm>,
    error: Option<(Option<&str>, &str)>,
    status: StatusCode,
) -> Response {
    let values = form.map(|f| context! { national_id => &f.national_id, full_name => &f.full_name, email => &f.email });
    let mut errors = std::collections::BTreeMap::new();
    let mut general = None;
    match error {
        Some((Some(field), key)) => {
            errors.insert(field, key);
        }
        Some((None, key)) => general = Some(key),
        None => {}
    }
    let ctx = context! {
        csrf => csrf, req => req, values => values, errors => errors, error => general,
        login_url => format!("/login?req={req}"), passkeys => page.app.webauthn.is_some(),
    };
    page.render("signup.html", status, ctx)
}

async fn signup_submit(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    ClientIp(peer_ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<SignUpForm>,
) -> Response {
    let pending = pending_for(&app, &session, &form.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    let csrf = match csrf_token(&session).await {
        Ok(c) => c,
        Err(e) => return page.unavailable(&e),
    };
    if !csrf_ok(&session, &form.csrf).await {
        return signup_form(&page, &csrf, &form.req, Some(&form), Some((None, "err.csrf")), StatusCode::FORBIDDEN);
    }
    // Sign-up tells whether a national ID or email is taken: bound how fast
    // one address can ask (the same budget as failed logins).
    let key = format!("signup-ip:{}", crate::config::throttle_key(peer_ip));
    match crate::cache::within_hourly(app.cache.as_ref(), &key, app.config.login_ip_free_attempts).await {
        Ok(false) => {
            return signup_form(
                &page,
                &csrf,
                &form.req,
                Some(&form),
                Some((None, "err.throttled_signup")),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Ok(true) => {}
        Err(e) => return page.unavailable(&e),
    }
    if form.password != form.password_confirm {
        return signup_form(
            &page,
            &csrf,
            &form.req,
            Some(&form),
            Some((Some("password_confirm"), "err.password_mismatch")),
            StatusCode::BAD_REQUEST,
        );
    }
    let input = SignUp {
        national_id: form.national_id.clone(),
        // Typed in by the citizen: nothing has checked it yet.
        national_id_verified: false,
        full_name: form.full_name.clone(),
        email: Some(form.email.clone()),
        phone: None,
        password: Some(Secret::new(form.password.clone())),
        record: Default::default(),
    };
    match accounts::sign_up(app.store.as_ref(), &app.passwords, app.clock.now(), input).await {
        Ok(citizen) if form.passkey_offer == "1" && app.webauthn.is_some() => {
            // Signed in, the pending request marked as such; the offer page's
            // "not now" link (or the registration) continues it. Only a live
            // request's id (ours, URL-safe) goes into the URL.
            let offer = match &pending {
                Some(_) => format!("/account/passkeys/new?req={}", form.req),
                None => "/account/passkeys/new".to_owned(),
            };
            let ua = user_agent(&headers);
            if let Err(e) = open_session(&app, &session, &citizen, acr::LOA1, acr::AMR_PASSWORD, ua, peer_ip).await {
                return page.unavailable(&e);
            }
            match after_login(&app, &session, &form.req, pending, "/").await {
                Ok(_) => Redirect::to(&offer).into_response(),
                Err(e) => page.unavailable(&e),
            }
        }
        Ok(citizen) => {
            complete_login(&page, &session, &form.req, pending, &citizen, (user_agent(&headers), peer_ip)).await
        }
        Err(SignUpError::Internal(e)) => page.unavailable(&e),
        Err(e) => {
            signup_form(&page, &csrf, &form.req, Some(&form), Some((e.field(), e.key())), StatusCode::BAD_REQUEST)
        }
    }
}

async fn consent_page(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageQuery(q): PageQuery<ReqId>,
) -> Response {
    let pending = pending_for(&app, &session, &q.req).await;
    let page = Page { app: &app, locale: locale_for(&lang, pending.as_ref()), rid: &rid };
    let (Some(pending), Ok(Some(who)), Ok(csrf)) =
        (pending, signed_in(&app, &session).await, csrf_token(&session).await)
    else {
        return page.error(StatusCode::BAD_REQUEST, "err.login_expired", "login_expired");
    };
    let client = app.store.get_client(&pending.request.client_id).await.ok().flatten();
    let organisation = match &client {
        Some(c) => app.store.find_organisation(&c.organisation_id).await.ok().flatten().map(|o| o.name),
        None => None,
    };
    let account_name = app.store.get_citizen(&who.account_id).await.ok().flatten().map(|c| c.profile.full_name);
    let scopes: Vec<String> = pending.request.consent_scopes().iter().map(|s| format!("scope.{s}")).collect();
    // The business chosen on the chooser page: what the `business` scope releases.
    let acting_for = match pending.acting.as_ref().and_then(Acting::business_id) {
        Some(id) => {
            app.store.get_business(id).await.ok().flatten().map(|b| context! { name => b.name, tax_code => b.tax_code })
        }
        None => None,
    };
    let ctx = context! {
        csrf => csrf, req => q.req, client_name => pending.client_name, organisation_name => organisation,
        scopes => scopes, account_name => account_name, acting_for => acting_for,
    };
    page.render("consent.html", StatusCode::OK, ctx)
}

#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    req: String,
    #[serde(default)]
    decision: String,
}

async fn consent_submit(
    State(app): State<App>,
    session: Session,
    lang: Lang,
    RequestId(rid): RequestId,
    PageForm(form): PageForm<ConsentForm>,
) -> Response {
    let pending = pending_for(&app, &session, &form.req).await;
    let locale = locale_for(&lang, pending.as_ref());
    let page = Page { app: &app, locale, rid: &rid };
    if !csrf_ok(&session, &form.csrf).await {
        return page.error(StatusCode::FORBIDDEN, "err.csrf", "invalid_request");
    }
    let (Some(mut pending), Ok(Some(who))) = (pending, signed_in(&app, &session).await) else {
        return page.error(StatusCode::BAD_REQUEST, "err.login_expired", "login_expired");
    };
    if form.decision != "allow" {
        remove_pending(&session, &form.req).await;
        let err = OAuthError::new(E::AccessDenied, "the citizen declined");
        return respond_to_client(&app, locale, &rid, &pending.request.return_to, Err(&err));
    }
    // Remember the union of what was agreed before and now, per client.
    let mut scopes = pending.request.consent_scopes();
    if let Ok(Some(previous)) = app.store.get_consent(&who.account_id, &pending.request.client_id).await {
        scopes.extend(previous.scopes);
        scopes.sort();
        scopes.dedup();
    }
    let consent = Consent {
        account_id: who.account_id.clone(),
        client_id: pending.request.client_id.clone(),
        scopes,
        granted_at: app.clock.now(),
    };
    if let Err(e) = app.store.put_consent(&consent).await {
        return page.unavailable(&e);
    }
    pending.consent_shown = true;
    if let Err(e) = save_pending(&app, &session, &form.req, &pending).await {
        return page.unavailable(&e);
    }
    proceed(&app, &session, locale, &rid, &form.req, pending, true).await
}
