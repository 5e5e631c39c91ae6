//! Errors as each kind of client sees them: RFC 6749 §5.2 JSON for the
//! token-style endpoints, RFC 6750 §3 for bearer-protected ones, and a
//! translated HTML page (with the request id) for browsers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use crate::app::AppState;
use crate::domain::oidc::{OAuthError, OAuthErrorCode as E};
use crate::pages::Locale;

/// RFC 6749 §5.2 JSON error. Status: 401 `invalid_client` (with
/// `WWW-Authenticate`), 500 `server_error`, 503 `temporarily_unavailable`,
/// 400 otherwise. Never cached.
pub struct OAuthJson(pub OAuthError);

impl From<OAuthError> for OAuthJson {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

impl IntoResponse for OAuthJson {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            E::InvalidClient => StatusCode::UNAUTHORIZED,
            E::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            E::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "error": self.0.code.as_str(), "error_description": self.0.description });
        let mut resp = (status, no_store(), axum::Json(body)).into_response();
        if self.0.code == E::InvalidClient {
            // RFC 6749 §5.2: 401 carries the authentication scheme the client may use.
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"motcua\""));
        }
        resp
    }
}

/// RFC 6750 §3 bearer error: 401 `invalid_token` (or no code when no token
/// was sent), 403 `insufficient_scope`, 400 `invalid_request`.
pub struct BearerError(pub Option<OAuthError>);

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let Some(e) = self.0 else {
            // RFC 6750 §3.1: no credentials at all → no error code; RFC 9449
            // §7.1: DPoP is offered beside Bearer.
            let mut resp =
                (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"motcua\"")]).into_response();
            resp.headers_mut().append(header::WWW_AUTHENTICATE, dpop_offer());
            return resp;
        };
        resource_error(e, Scheme::Bearer)
    }
}

/// RFC 9449 §7.1: the error of a request that used the `DPoP` scheme, in a
/// `DPoP` challenge naming the algorithms a proof may use; 401 for a bad
/// token or proof.
pub struct DpopError(pub OAuthError);

impl IntoResponse for DpopError {
    fn into_response(self) -> Response {
        resource_error(self.0, Scheme::Dpop)
    }
}

/// The scheme a protected resource's error answers in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

/// The JSON error of a protected resource (UserInfo), its status, and its
/// `WWW-Authenticate` challenge in `scheme`.
fn resource_error(e: OAuthError, scheme: Scheme) -> Response {
    let status = match e.code {
        E::InvalidToken | E::InvalidDpopProof => StatusCode::UNAUTHORIZED,
        E::InsufficientScope => StatusCode::FORBIDDEN,
        E::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        E::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let desc = e.description.replace(['"', '\\'], "'");
    let code = e.code.as_str();
    let challenge = match scheme {
        Scheme::Bearer => format!("Bearer realm=\"motcua\", error=\"{code}\", error_description=\"{desc}\""),
        Scheme::Dpop => format!("DPoP error=\"{code}\", error_description=\"{desc}\", algs=\"{}\"", dpop_algs()),
    };
    let mut resp = OAuthJson(e).into_response();
    *resp.status_mut() = status;
    // A DPoP challenge answers a request the client can fix, not an outage.
    let challenged = scheme == Scheme::Bearer || !status.is_server_error();
    if challenged && let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    // RFC 9449 §7.1: a DPoP-bound token sent as a bearer token learns
    // which scheme to use.
    if scheme == Scheme::Bearer && status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().append(header::WWW_AUTHENTICATE, dpop_offer());
    }
    resp
}

/// The algorithms a DPoP proof may use, as a challenge names them.
fn dpop_algs() -> String {
    crate::domain::oidc::dpop::ALGS.join(" ")
}

/// `DPoP algs="…"`: the DPoP challenge offered beside Bearer.
fn dpop_offer() -> HeaderValue {
    HeaderValue::from_str(&format!("DPoP algs=\"{}\"", dpop_algs())).unwrap_or(HeaderValue::from_static("DPoP"))
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")]
}

/// A translated error page with the request id the citizen can quote.
pub fn error_page(
    app: &AppState,
    locale: Locale,
    request_id: &str,
    status: StatusCode,
    key: &str,
    code: &str,
) -> Response {
    // A heading, not a second copy of the message below it.
    let title = match status {
        StatusCode::NOT_FOUND => "err.title_not_found",
        StatusCode::TOO_MANY_REQUESTS => "err.title_throttled",
        s if s.is_server_error() => "err.title_server",
        _ => "err.title",
    };
    let ctx = context! { title => title, message => key, code => code, request_id => request_id };
    page_response(app, "error.html", locale, ctx, status, request_id)
}

/// Render a page; a template failure becomes a plain 500 with the request id.
pub fn page_response(
    app: &AppState,
    name: &str,
    locale: Locale,
    ctx: minijinja::Value,
    status: StatusCode,
    request_id: &str,
) -> Response {
    match app.pages.render(name, locale, ctx) {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("Internal error. Request id: {request_id}\n")).into_response()
        }
    }
}
