//! Token, introspection, revocation, pushed authorization request and
//! UserInfo endpoints.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

use super::error::{BearerError, DpopError, OAuthJson, no_store};
use super::{ClientIp, params};
use crate::app::App;
use crate::crypto::Secret;
use crate::domain::audit;
use crate::domain::oidc::client_auth::{self, Presented};
use crate::domain::oidc::{
    OAuthError, OAuthErrorCode as E, Params, TOKEN_EXCHANGE, dpop, exchange, grants, par, request_object,
};
use crate::store::Client;

/// Routes of this module.
pub fn router() -> Router<App> {
    Router::new()
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/par", post(par))
        .layer(browser_apps())
        .route("/introspect", post(introspect))
}

/// CORS for the endpoints a browser-based app (a public client running in
/// the page) calls from JavaScript: the token endpoint, revocation at sign-out,
/// UserInfo (OIDC Core §5.3 "SHOULD support the use of CORS") and PAR (a
/// public client registered with `require_par` pushes from the page). Any
/// origin, and never with credentials: these endpoints read no cookie, so a
/// page of another site gains nothing a server of its own would not have
/// (the tokens and client credentials it sends are the only authority).
/// Introspection is for resource servers; the authorization endpoint is a
/// page the browser navigates to and must not answer CORS at all (RFC 9700
/// §2.6).
fn browser_apps() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::HeaderName::from_static("dpop")])
        // The challenge of a 401 says why a token was refused.
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(600))
}

/// The form body of a POST, strictly parsed (`invalid_request` otherwise).
fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !ct.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    params::parse(body)
}

/// RFC 6749 §2.3.1: HTTP Basic with form-urlencoded client id and secret.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, Secret)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let bad = || OAuthError::invalid_client("malformed Basic authorization header");
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, rest)) = value.split_once(' ') else { return Err(bad()) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> Result<String, OAuthError> {
        let p = params::parse(format!("v={s}").as_bytes()).map_err(|_| bad())?;
        Ok(p.get("v").unwrap_or_default().to_owned())
    };
    Ok(Some((unescape(id)?, Secret::new(unescape(secret)?))))
}

/// Parse the form, reject repeats, and authenticate the client.
async fn authenticated(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<(Params, Client), OAuthError> {
    authenticated_at(app, headers, body, None).await
}

/// [`authenticated`], a `private_key_jwt` assertion also accepted with the
/// URL of the endpoint it was sent to, `endpoint`, as its audience.
async fn authenticated_at(
    app: &App,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: Option<&str>,
) -> Result<(Params, Client), OAuthError> {
    let params = form(headers, body)?;
    // RFC 8693 §2.1 lets a token exchange name several audiences and
    // resources: the grant answers that with `invalid_target` (§2.2.2).
    let exchange = params.get("grant_type") == Some(TOKEN_EXCHANGE);
    if let Some(name) = params.duplicated.iter().find(|n| !(exchange && matches!(n.as_str(), "audience" | "resource")))
    {
        return Err(OAuthError::invalid_request(format!("parameter {name} is repeated")));
    }
    let presented = Presented {
        basic: basic_credentials(headers)?,
        client_id: params.get("client_id").map(str::to_owned),
        client_secret: params.get("client_secret").map(Secret::new),
        assertion_type: params.get("client_assertion_type").map(str::to_owned),
        assertion: params.get("client_assertion").map(str::to_owned),
    };
    let ctx = app.ctx();
    let token_endpoint = format!("{}/token", app.config.issuer);
    let endpoint = endpoint.map(|path| format!("{}{path}", app.config.issuer));
    let mut audiences = vec![token_endpoint.as_str(), app.config.issuer.as_str()];
    audiences.extend(endpoint.as_deref());
    let client = client_auth::authenticate(ctx.store, ctx.cache, &app.http, &audiences, ctx.now, presented).await?;
    Ok((params, client))
}

/// The request's DPoP proof (RFC 9449), if it sent one, checked for
/// `method` at `path`, and with `access_token` for `ath`; not yet
/// remembered (`dpop::remember`).
fn dpop_proof(
    app: &App,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<dpop::Proof>, OAuthError> {
    // Most token requests carry none: nothing to build for them.
    if !headers.contains_key("dpop") {
        return Ok(None);
    }
    // A value that is not visible ASCII cannot be a JWS: "" fails as one.
    let values = headers.get_all("dpop").iter().map(|v| v.to_str().unwrap_or_default()).collect();
    let url = format!("{}{path}", app.config.issuer);
    let req = dpop::ProofRequest { headers: values, method, url: &url, access_token };
    dpop::check(&req, app.clock.now())
}

/// Who vouches for a client's proofs: a public client's are anyone's.
fn prover(client: &Client) -> dpop::Prover {
    if client.auth_method == "none" { dpop::Prover::Anyone } else { dpop::Prover::Known }
}

async fn token(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Result<Response, OAuthJson> {
    let (params, client) = authenticated(&app, &headers, &body).await?;
    let mut ctx = app.ctx();
    // RFC 9449 §5: the tokens issued are bound to the proof's key.
    if let Some(proof) = dpop_proof(&app, &headers, "POST", "/token", None)? {
        dpop::remember(app.cache.as_ref(), &proof, prover(&client)).await?;
        ctx.dpop_jkt = Some(proof.jkt);
    }
    if client.dpop_bound && ctx.dpop_jkt.is_none() {
        return Err(OAuthError::new(E::InvalidDpopProof, "this client must send a DPoP proof").into());
    }
    let response = match params.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required").into()),
        Some("authorization_code") => grants::authorization_code(&ctx, &client, &params).await?,
        Some("refresh_token") => grants::refresh_token(&ctx, &client, &params).await?,
        Some("client_credentials") => grants::client_credentials(&ctx, &client, &params).await?,
        Some(TOKEN_EXCHANGE) => exchange::token_exchange(&ctx, &client, &params).await?,
        Some(_) => return Err(OAuthError::new(E::UnsupportedGrantType, "unsupported grant_type").into()),
    };
    app.metrics.token_issued(params.get("grant_type").unwrap_or_default());
    Ok((no_store(), axum::Json(response)).into_response())
}

async fn introspect(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Result<Response, OAuthJson> {
    let (params, client) = authenticated(&app, &headers, &body).await?;
    // RFC 7662 §2.1: the caller is a protected resource or client with credentials.
    if client.auth_method == "none" {
        return Err(OAuthError::invalid_client("public clients cannot introspect").into());
    }
    let answer = grants::introspect(&app.ctx(), &client, &params).await?;
    Ok((no_store(), axum::Json(answer)).into_response())
}

async fn revoke(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthJson> {
    let (params, client) = authenticated(&app, &headers, &body).await?;
    grants::revoke(&app.ctx(), &client, &params).await?;
    let (ip, rid) =
        (Some(ip.to_string()), headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned));
    audit::record_revocation(app.store.as_ref(), app.clock.now(), &client.client_id, &params, ip, rid).await;
    Ok((no_store(), "").into_response())
}

/// RFC 9126 §2: a pushed authorization request, answered 201 with its
/// `request_uri`. A client assertion may name this endpoint as its audience
/// (§2), as well as the token endpoint or the issuer.
async fn par(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Result<Response, OAuthJson> {
    let (mut params, client) = authenticated_at(&app, &headers, &body, Some("/par")).await?;
    // RFC 9126 §3: the request may be a signed request object (RFC 9101).
    params.map.entry("client_id".into()).or_insert_with(|| client.client_id.clone());
    let params = request_object::resolve(
        app.store.as_ref(),
        app.cache.as_ref(),
        &app.http,
        &app.config.issuer,
        params,
        app.clock.now(),
    )
    .await
    .map_err(OAuthError::from)?;
    // RFC 9449 §10.1: a proof sent with the push binds the code to its key.
    // Its marker is visitor state, as the push itself is.
    let proof = dpop_proof(&app, &headers, "POST", "/par", None)?;
    if let Some(p) = &proof {
        dpop::remember(app.cache.as_ref(), p, dpop::Prover::Anyone).await?;
    }
    let jkt = proof.map(|p| p.jkt);
    let pushed = par::push(&app.ctx(), &client, params, jkt.as_deref(), app.config.par_ttl).await?;
    Ok((StatusCode::CREATED, no_store(), axum::Json(pushed)).into_response())
}

/// OIDC Core §5.3: bearer token in the header, or (POST) in the form body
/// (RFC 6750 §2.2) — never both; or a DPoP-bound token in the header with
/// the `DPoP` scheme and a proof (RFC 9449 §7).
async fn userinfo(
    State(app): State<App>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let bearer = |e: OAuthError| BearerError(Some(e)).into_response();
    let from_header = match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        // The scheme is the header's first word ("Bearer …", or "Bearer" with no token).
        Some(Ok(v)) => match v.split_once(' ').map_or((v, ""), |(scheme, t)| (scheme, t.trim())) {
            (scheme, token) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => Some(token.to_owned()),
            (scheme, token) if scheme.eq_ignore_ascii_case("dpop") && !token.is_empty() => {
                let dpop_error = |e: OAuthError| DpopError(e).into_response();
                // RFC 9449 §7.1: the token travels in the header only.
                if method == Method::POST && form(&headers, &body).is_ok_and(|p| p.get("access_token").is_some()) {
                    return Err(dpop_error(OAuthError::invalid_request("send the access token in one place only")));
                }
                let proof =
                    dpop_proof(&app, &headers, method.as_str(), "/userinfo", Some(token)).map_err(dpop_error)?;
                let proof =
                    proof.ok_or_else(|| dpop_error(OAuthError::new(E::InvalidDpopProof, "send a DPoP proof")))?;
                let mut ctx = app.ctx();
                ctx.dpop_jkt = Some(proof.jkt.clone());
                let claims = grants::userinfo(&ctx, token).await.map_err(dpop_error)?;
                // Remembered only now, for the holder of a live token bound to
                // this key: a stranger's proofs never reach the cache.
                dpop::remember(app.cache.as_ref(), &proof, dpop::Prover::Known).await.map_err(dpop_error)?;
                return Ok((no_store(), axum::Json(claims)).into_response());
            }
            (scheme, _) if !["bearer", "dpop"].iter().any(|s| scheme.eq_ignore_ascii_case(s)) => {
                // RFC 6750 §3.1: a request with an unsupported authentication
                // method (Basic, say) gets the challenge without an error
                // code, as a request without credentials does.
                return Err(BearerError(None).into_response());
            }
            _ => return Err(bearer(OAuthError::new(E::InvalidRequest, "the Authorization header carries no token"))),
        },
        Some(Err(_)) => {
            return Err(bearer(OAuthError::new(E::InvalidRequest, "malformed Authorization header")));
        }
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let from_body = if method == Method::POST && is_form && !body.is_empty() {
        let p = form(&headers, &body).map_err(bearer)?;
        p.get("access_token").map(str::to_owned)
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(bearer(OAuthError::invalid_request("send the access token in one place only")));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(BearerError(None).into_response()),
    };
    let claims = grants::userinfo(&app.ctx(), &token).await.map_err(bearer)?;
    Ok((no_store(), axum::Json(claims)).into_response())
}
