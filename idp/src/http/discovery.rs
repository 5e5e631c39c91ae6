//! OIDC Discovery, JWKS and health endpoints.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::App;
use crate::domain::clients::ALLOWED_SIGNING_ALGS;
use crate::domain::oidc::{SUPPORTED_SCOPES, acr};

/// What client assertions and request objects may be signed with: the
/// asymmetric algorithms Motcua itself signs with (never HS256 or `none`).
const ASSERTION_ALGS: &[&str] = ALLOWED_SIGNING_ALGS;

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
}

/// OIDC Discovery §3: every required field, and only what is implemented.
async fn discovery(State(app): State<App>) -> Response {
    let iss = &app.config.issuer;
    let algs: Vec<&str> = app.keys.active_algs().iter().map(|a| a.as_str()).collect();
    let body = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "revocation_endpoint": format!("{iss}/revoke"),
        // RFC 9126 §5: PAR for every client; some clients must use it
        // (their `require_pushed_authorization_requests`), not all.
        "pushed_authorization_request_endpoint": format!("{iss}/par"),
        "require_pushed_authorization_requests": false,
        // RP-Initiated, Back-Channel and Front-Channel Logout 1.0 (each §3):
        // logout tokens and iframe URLs always carry `sid`.
        "end_session_endpoint": format!("{iss}/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", crate::domain::oidc::TOKEN_EXCHANGE],
        // OIDC Core §8: pairwise clients get a `sub` per sector.
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        // RFC 8414 §2: required beside private_key_jwt, no default implied.
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1: DPoP proofs at the token endpoint and UserInfo.
        "dpop_signing_alg_values_supported": crate::domain::oidc::dpop::ALGS,
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash",
            "name", "gender", "birthdate", "updated_at", "email", "email_verified",
            "phone_number", "phone_number_verified", "address", "national_id", "national_id_verified"
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": true,
        // RFC 9101 by value, at /authorize and /par; by reference only through PAR.
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": ASSERTION_ALGS,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account", "create"],
        "acr_values_supported": acr::SUPPORTED,
        "ui_locales_supported": ["vi", "en"],
        "authorization_response_iss_parameter_supported": true,
    });
    ([(header::CACHE_CONTROL, "public, max-age=3600"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], axum::Json(body))
        .into_response()
}

/// How long relying parties may cache the JWKS: a rotation waits this long
/// for the key it activates ([`crate::domain::keys::lifecycle::PUBLISHED_BEFORE_USE`]).
const JWKS_CACHE_CONTROL: &str = "public, max-age=900";

/// The published keys (next, active, retired). Pre-publication of the next
/// key lets relying parties cache this for a long time safely.
async fn jwks(State(app): State<App>) -> Response {
    (
        [
            (header::CACHE_CONTROL, JWKS_CACHE_CONTROL),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        app.keys.jwks_text(),
    )
        .into_response()
}

/// Ready when the store and the cache answer.
async fn readyz(State(app): State<App>) -> Response {
    let store = app.store.ping().await;
    let cache = app.cache.ping().await;
    match (store, cache) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        (s, c) => {
            if let Err(e) = &s {
                tracing::error!(error = %e, "readiness: store");
            }
            if let Err(e) = &c {
                tracing::error!(error = %e, "readiness: cache");
            }
            let what = if s.is_err() { "store" } else { "cache" };
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {what} unreachable\n")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    /// A rotation waits as long as relying parties may cache the JWKS.
    #[test]
    fn the_jwks_cache_time_is_the_wait_before_a_key_signs() {
        let published = crate::domain::keys::lifecycle::PUBLISHED_BEFORE_USE;
        assert_eq!(super::JWKS_CACHE_CONTROL, format!("public, max-age={published}"));
    }
}
