//! HTTP: routers, middleware, extractors and handlers. HTTP types stop here.

mod account;
mod account_businesses;
mod account_password;
mod account_sessions;
pub mod admin;
mod authorize;
mod browser;
mod business_choice;
mod discovery;
pub mod error;
mod login;
mod logout;
mod metrics;
pub mod params;
mod passkeys;
pub mod session;
mod token;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Request, header};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId as TowerRequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::App;
use crate::pages::Locale;

/// Largest request body accepted on the public listener (RFC 6749 requests are small).
const BODY_LIMIT: usize = 64 * 1024;
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The public listener: OIDC endpoints and pages.
pub fn public_router(app: App) -> Router {
    let insecure = app.config.is_insecure_dev();
    let store = session::Sessions::for_config(
        &app.config.session_store,
        app.store.clone(),
        app.cache.clone(),
        app.clock.clone(),
    );
    let sessions = SessionManagerLayer::new(store)
        .with_name(session::COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        // Secure everywhere except a plain-http loopback development issuer.
        .with_secure(!insecure)
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::seconds(app.config.session_ttl)));
    let browser = Router::new()
        .merge(authorize::router())
        .merge(business_choice::router())
        .merge(login::router())
        .merge(logout::router())
        .merge(passkeys::router())
        .merge(account::router())
        .merge(account_sessions::router())
        .merge(account_businesses::router())
        .merge(account_password::router())
        .merge(account_sessions::services_router())
        .route("/lang", axum::routing::get(switch_language))
        .layer(sessions)
        .layer(axum::middleware::map_response_with_state(app.clone(), session_save_failure))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
    let router = Router::new()
        .merge(discovery::router())
        .merge(token::router())
        .merge(browser)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), deadline))
        .layer(axum::middleware::from_fn_with_state(app.clone(), metrics::track))
        .with_state(app);
    with_common_layers(router)
}

/// The Content-Security-Policy of every page.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// A page answered outside the browser routes (the deadline's, the 404 of
/// an unknown path), with the headers their layers give every other page.
fn with_page_headers(mut page: axum::response::Response) -> axum::response::Response {
    let headers = page.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    page
}

/// How long a request may take, the reading of its body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The endpoints whose clients read RFC 6749 JSON errors.
const PROTOCOL_PATHS: [&str; 5] = ["/token", "/revoke", "/userinfo", "/par", "/introspect"];

/// A request still unanswered after [`REQUEST_TIMEOUT`] (a database or cache
/// that stalls, or a client that sends its body slowly) gets a 503 in the
/// shape its client reads: RFC 6749 JSON at the token-style endpoints, with
/// the CORS header those give browsers' scripts, and the translated page
/// with its request id everywhere else. (tower-http's `TimeoutLayer`
/// answers an empty 408, which neither a relying party nor a citizen can read.)
async fn deadline(
    axum::extract::State(app): axum::extract::State<App>,
    lang: Lang,
    RequestId(rid): RequestId,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    within_deadline(req, next, |path| {
        if !PROTOCOL_PATHS.contains(&path) {
            let status = axum::http::StatusCode::SERVICE_UNAVAILABLE;
            let (key, code) = ("err.temporarily_unavailable", "temporarily_unavailable");
            return with_page_headers(error::error_page(&app, lang.locale, &rid, status, key, code));
        }
        let e = crate::domain::oidc::OAuthError::new(
            crate::domain::oidc::OAuthErrorCode::TemporarilyUnavailable,
            "the request took too long; try again shortly",
        );
        // UserInfo is a protected resource: its errors carry a challenge (RFC 6750 §3).
        let mut resp = if path == "/userinfo" {
            error::BearerError(Some(e)).into_response()
        } else {
            error::OAuthJson(e).into_response()
        };
        // Introspection is for resource servers, not browsers (see token::browser_apps).
        if path != "/introspect" {
            resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        resp
    })
    .await
}

/// [`deadline`] for the admin listener: its JSON error.
async fn admin_deadline(req: Request<axum::body::Body>, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    within_deadline(req, next, |_| {
        let body = serde_json::json!({
            "error": "temporarily_unavailable",
            "message": "the request took too long; try again shortly",
        });
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    })
    .await
}

/// Run the request for at most [`REQUEST_TIMEOUT`]; past it, the answer
/// `timed_out` makes for the request's path, marked [`TimedOut`].
async fn within_deadline(
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
    timed_out: impl FnOnce(&str) -> axum::response::Response,
) -> axum::response::Response {
    let uri = req.uri().clone();
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(path = %uri.path(), seconds = REQUEST_TIMEOUT.as_secs(), "request timed out");
            let mut resp = timed_out(uri.path());
            resp.extensions_mut().insert(TimedOut);
            resp
        }
    }
}

/// Marks the 503 of a request that met [`REQUEST_TIMEOUT`]: a client that
/// sends its body slowly is no store failure (`idp_store_errors_total`).
#[derive(Clone, Copy, Debug)]
pub struct TimedOut;

/// The cookie that remembers the citizen's language choice.
const LANG_COOKIE_PREFIX: &str = "motcua_lang=";

#[derive(serde::Deserialize)]
struct SwitchTo {
    #[serde(default)]
    to: String,
}

/// `GET /lang?to=vi|en`: the language link every page shows. Remembers the
/// choice for a year (`motcua_lang`) and goes back to the page the link was
/// on, as its `Referer` names it when that is one of our pages (without a
/// `lang` parameter, which would outvote the new choice), else home.
async fn switch_language(
    axum::extract::State(app): axum::extract::State<App>,
    headers: axum::http::HeaderMap,
    PageQuery(q): PageQuery<SwitchTo>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| same_site_page(&app.config.issuer, r))
        .unwrap_or_else(|| "/".to_owned());
    let Some(locale) = Locale::parse(&q.to) else { return axum::response::Redirect::to(&back).into_response() };
    let secure = if app.config.is_insecure_dev() { "" } else { "; Secure" };
    let cookie =
        format!("{LANG_COOKIE_PREFIX}{}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}", locale.tag());
    ([(header::SET_COOKIE, cookie)], axum::response::Redirect::to(&back)).into_response()
}

/// The path and query of `referer` when it is a page of `issuer` (same
/// scheme, host and port), its `lang` parameter dropped; `None` otherwise,
/// so the switch never redirects elsewhere.
fn same_site_page(issuer: &str, referer: &str) -> Option<String> {
    let (ours, page) = (url::Url::parse(issuer).ok()?, url::Url::parse(referer).ok()?);
    // `//host/…` as a path would be another site in a Location header.
    if ours.origin() != page.origin() || page.path() == "/lang" || page.path().starts_with("//") {
        return None;
    }
    let query: Vec<&str> =
        page.query().unwrap_or("").split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("lang=")).collect();
    Some(if query.is_empty() { page.path().to_owned() } else { format!("{}?{}", page.path(), query.join("&")) })
}

/// tower-sessions answers a bare 500 when it cannot save a session (its store
/// unreachable): show the translated 503 page instead, as for every other
/// store or cache failure on a page.
async fn session_save_failure(
    axum::extract::State(app): axum::extract::State<App>,
    lang: Lang,
    RequestId(rid): RequestId,
    resp: axum::response::Response,
) -> axum::response::Response {
    if resp.status() == axum::http::StatusCode::INTERNAL_SERVER_ERROR
        && !resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return error::error_page(
            &app,
            lang.locale,
            &rid,
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "err.server_error",
            "temporarily_unavailable",
        );
    }
    resp
}

/// The admin listener: the admin API and `/metrics`.
pub fn admin_router(app: App) -> Router {
    let track = axum::middleware::from_fn_with_state(app.clone(), metrics::track);
    let routes = admin::router(app.clone()).merge(metrics::router(app));
    with_common_layers(routes.layer(axum::middleware::from_fn(admin_deadline)).layer(track))
}

fn with_common_layers(router: Router) -> Router {
    router
        // No page address ever reaches another site (a code or a request id
        // in it); our own pages see which page a click came from (the
        // language link goes back to it).
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<axum::body::Body>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // Path only: query strings can carry codes and tokens. At ERROR
                    // level so the span (and its request id) exists whenever an
                    // error inside the handler is logged, whatever RUST_LOG says.
                    tracing::error_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                // One line per request at INFO (the access log): status and latency.
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        // Outermost: drop any request id the client sent, so every id in the
        // logs and on error pages is ours (SetRequestIdLayer keeps an existing one).
        .layer(axum::middleware::map_request(|mut req: Request<axum::body::Body>| async move {
            req.headers_mut().remove(REQUEST_ID);
            req
        }))
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<TowerRequestId> {
        HeaderValue::from_str(&crate::crypto::random_id()[..16]).ok().map(TowerRequestId::new)
    }
}

/// The request id set by the middleware (shown on error pages, logged).
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned()))
    }
}

/// Page language from the `lang` query parameter or the `motcua_lang`
/// cookie (the citizen's choice), then `Accept-Language`; `ui_locales`,
/// between the two, is applied by handlers that know the authorization
/// request (see `pages::negotiate`).
pub struct Lang {
    /// Negotiated locale.
    pub locale: Locale,
    /// The citizen's choice (parameter or cookie), if any.
    cookie: Option<String>,
    /// `Accept-Language`.
    accept: Option<String>,
}

impl Lang {
    /// Re-negotiate with an authorization request's `ui_locales` (after the
    /// citizen's own choice).
    pub fn with_ui_locales(&self, ui_locales: Option<&str>) -> Locale {
        crate::pages::negotiate(ui_locales, self.cookie.as_deref(), self.accept.as_deref())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let explicit = parts.uri.query().and_then(|q| {
            q.split('&').find_map(|kv| kv.strip_prefix("lang=")).and_then(Locale::parse).map(|l| l.tag().to_owned())
        });
        let cookie =
            explicit.or_else(|| {
                parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
                    c.split(';').find_map(|kv| kv.trim().strip_prefix(LANG_COOKIE_PREFIX).map(str::to_owned))
                })
            });
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let locale = crate::pages::negotiate(None, cookie.as_deref(), accept.as_deref());
        Ok(Self { locale, cookie, accept })
    }
}

async fn not_found(
    axum::extract::State(app): axum::extract::State<App>,
    lang: Lang,
    RequestId(rid): RequestId,
) -> axum::response::Response {
    let status = axum::http::StatusCode::NOT_FOUND;
    with_page_headers(error::error_page(&app, lang.locale, &rid, status, "err.not_found", "not_found"))
}

/// A form body for pages: a malformed body (bad encoding, missing field, too
/// large) becomes the translated error page, not a plain-text rejection.
pub struct PageForm<T>(pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<App> for PageForm<T> {
    type Rejection = axum::response::Response;
    async fn from_request(req: axum::extract::Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let (lang, rid) = page_context(&mut parts, app).await;
        let refuse =
            |status| error::error_page(app, lang.locale, &rid, status, "err.invalid_request", "invalid_request");
        let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(b) if has_nul(&b) => return Err(refuse(axum::http::StatusCode::BAD_REQUEST)),
            Ok(b) => b,
            Err(_) => return Err(refuse(axum::http::StatusCode::PAYLOAD_TOO_LARGE)),
        };
        match axum::Form::<T>::from_request(Request::from_parts(parts, body.into()), app).await {
            Ok(axum::Form(v)) => Ok(Self(v)),
            Err(rejection) => Err(refuse(rejection.status())),
        }
    }
}

/// Whether form-encoded text carries a NUL, raw or as `%00`. No form field
/// holds one, and PostgreSQL text cannot: a lookup by it would fail in the
/// database (a 500) instead of finding nothing.
fn has_nul(encoded: &[u8]) -> bool {
    encoded.contains(&0) || encoded.windows(3).any(|w| w == b"%00")
}

/// A query string for pages, with the same error handling as [`PageForm`].
pub struct PageQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequestParts<App> for PageQuery<T> {
    type Rejection = axum::response::Response;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let status = match axum::extract::Query::<T>::from_request_parts(parts, app).await {
            Ok(_) if parts.uri.query().is_some_and(|q| has_nul(q.as_bytes())) => axum::http::StatusCode::BAD_REQUEST,
            Ok(axum::extract::Query(v)) => return Ok(Self(v)),
            Err(rejection) => rejection.status(),
        };
        let (lang, rid) = page_context(parts, app).await;
        Err(error::error_page(app, lang.locale, &rid, status, "err.invalid_request", "invalid_request"))
    }
}

async fn page_context(parts: &mut Parts, app: &App) -> (Lang, String) {
    let lang = match Lang::from_request_parts(parts, app).await {
        Ok(l) => l,
        Err(never) => match never {},
    };
    let rid = match RequestId::from_request_parts(parts, app).await {
        Ok(RequestId(r)) => r,
        Err(never) => match never {},
    };
    (lang, rid)
}

/// The citizen's address: the socket peer, or the forwarded address when the
/// peer is a trusted proxy (`IDP_TRUSTED_PROXIES`).
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<App> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        let xff = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(Self(app.config.client_ip(peer, xff)))
    }
}

#[cfg(test)]
pub(crate) mod test_state;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt as _;

    use super::same_site_page;

    /// A handler that stalls (a database that does not answer) meets the
    /// deadline: each kind of client gets a 503 it can read, after 30 s.
    #[tokio::test]
    async fn a_stalled_request_gets_a_readable_503_at_the_deadline() {
        let app = super::test_state::app(Arc::new(crate::clock::SystemClock), false).await;
        let stall = || async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            "never"
        };
        let router = axum::Router::new()
            .route("/token", axum::routing::post(stall))
            .route("/introspect", axum::routing::post(stall))
            .route("/account", axum::routing::get(stall))
            .fallback(super::not_found)
            .layer(axum::middleware::from_fn_with_state(app.clone(), super::deadline))
            .with_state(app);
        tokio::time::pause();
        let call = |method: &str, uri: &str| {
            let req = Request::builder().method(method).uri(uri).header(header::ACCEPT_LANGUAGE, "vi");
            router.clone().oneshot(req.body(Body::empty()).unwrap())
        };
        let started = tokio::time::Instant::now();
        let token = call("POST", "/token").await.unwrap();
        assert_eq!(started.elapsed().as_secs(), 30);
        assert_eq!(token.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(token.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(token.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(token.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "temporarily_unavailable");
        let introspect = call("POST", "/introspect").await.unwrap();
        assert_eq!(introspect.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!introspect.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        let page = call("GET", "/account").await.unwrap();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let body = axum::body::to_bytes(page.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("Dịch vụ tạm thời gián đoạn."), "{html}");
        // The 404 of an unknown path is a page too, with the pages' headers.
        let missing = call("GET", "/no-such-page").await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(missing.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }

    /// The language link goes back only to a page of ours, by path, without
    /// its `lang` parameter; anything else goes home.
    #[test]
    fn the_language_link_goes_back_only_to_our_pages() {
        let ours = "https://id.dichvucong.gov.vn";
        let back = |referer: &str| same_site_page(ours, referer);
        assert_eq!(back("https://id.dichvucong.gov.vn/login?req=r1&lang=vi").as_deref(), Some("/login?req=r1"));
        assert_eq!(back("https://id.dichvucong.gov.vn/account?lang=en").as_deref(), Some("/account"));
        assert_eq!(back("https://id.dichvucong.gov.vn/").as_deref(), Some("/"));
        for elsewhere in [
            "https://evil.example/login",
            "http://id.dichvucong.gov.vn/login",
            "https://id.dichvucong.gov.vn:8443/login",
            "https://id.dichvucong.gov.vn//evil.example/x",
            "https://id.dichvucong.gov.vn/\\evil.example/x",
            "https://id.dichvucong.gov.vn/lang?to=en",
            "not a URL",
        ] {
            assert_eq!(back(elsewhere), None, "{elsewhere}");
        }
    }
}
