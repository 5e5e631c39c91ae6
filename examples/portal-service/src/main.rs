//! `portal-service`: a small relying party for Motcua, written as a ministry's
//! service would write it. It is documentation as much as code:
//!
//! - `/` shows who is signed in here, with a sign-in or sign-out button;
//! - `/login` → Motcua's `/authorize` (code flow, PKCE S256, state, nonce);
//! - `/callback` redeems the code and checks the ID token (`openidconnect`);
//! - `/logout` (POST, with the page's CSRF token) ends the local session and sends the browser to Motcua's
//!   `end_session_endpoint` with `id_token_hint`, `post_logout_redirect_uri`
//!   and `state` (OpenID Connect RP-Initiated Logout 1.0);
//! - `/backchannel-logout` receives logout tokens (Back-Channel Logout 1.0),
//!   checks them as §2.6 says and ends the local sessions of that `sid`;
//! - `/frontchannel-logout` is loaded in an iframe by Motcua's signed-out
//!   page (Front-Channel Logout 1.0) and does the same by `sid`.
//!
//! Sessions live in memory: a restart signs everyone out of this service.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use clap::Parser;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use serde_json::Value;

/// Command line and environment.
#[derive(Parser, Debug)]
#[command(about = "A sample relying party for Motcua")]
struct Args {
    /// Motcua's issuer URL.
    #[arg(long, env = "PORTAL_ISSUER", default_value = "http://localhost:8080")]
    issuer: String,
    /// This service's client id.
    #[arg(long, env = "PORTAL_CLIENT_ID")]
    client_id: String,
    /// This service's client secret.
    #[arg(long, env = "PORTAL_CLIENT_SECRET")]
    client_secret: String,
    /// Port to listen on.
    #[arg(long, env = "PORTAL_PORT", default_value_t = 3000)]
    port: u16,
    /// Address to listen on (`0.0.0.0` in a container).
    #[arg(long, env = "PORTAL_LISTEN", default_value = "127.0.0.1")]
    listen: std::net::IpAddr,
    /// The URL browsers reach this service at (its redirect and post-logout URIs are
    /// built from it); `http://127.0.0.1:<port>` when not given.
    #[arg(long, env = "PORTAL_BASE_URL")]
    base_url: Option<String>,
    /// Name shown on the pages.
    #[arg(long, env = "PORTAL_NAME", default_value = "Bộ Y tế — Ministry of Health service")]
    name: String,
}

/// The `openidconnect` client after discovery.
type OidcClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// A signed-in visitor of this service.
#[derive(Clone, Debug)]
struct Visitor {
    sub: String,
    sid: Option<String>,
    name: Option<String>,
    id_token: String,
    /// The sign-out form's CSRF token: a cross-site page cannot sign the visitor out.
    csrf: String,
}

/// An authorization request on its way.
struct Pending {
    cookie: String,
    nonce: Nonce,
    verifier: String,
}

struct Service {
    name: String,
    base: String,
    issuer: String,
    client_id: String,
    oidc: OidcClient,
    http: reqwest::Client,
    /// `end_session_endpoint` and `jwks_uri` from discovery (`openidconnect` models only the second).
    end_session: String,
    jwks_uri: String,
    sessions: Mutex<HashMap<String, Visitor>>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Logout token `jti`s seen (§2.6 step 9: refuse replays).
    seen_jti: Mutex<HashSet<String>>,
    /// `state` values of logout requests on their way (RP-Initiated Logout
    /// §3): the return to `/` is believed only with one of them, once.
    logout_states: Mutex<HashSet<String>>,
}

type App = Arc<Service>;

const COOKIE: &str = "portal_session";

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = Args::parse();
    match start(args).await {
        Ok(()) => {}
        Err(e) => {
            eprintln!("portal-service: {e}");
            std::process::exit(1);
        }
    }
}

async fn start(args: Args) -> Result<(), String> {
    // No redirects: openidconnect's advice against SSRF through the discovery document.
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;
    let issuer = IssuerUrl::new(args.issuer.clone()).map_err(|e| e.to_string())?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.map_err(|e| format!("discovery: {e}"))?;
    let raw: Value = http
        .get(format!("{}/.well-known/openid-configuration", args.issuer.trim_end_matches('/')))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let base = args
        .base_url
        .as_deref()
        .map_or_else(|| format!("http://127.0.0.1:{}", args.port), |b| b.trim_end_matches('/').to_owned());
    let oidc = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(args.client_id.clone()),
        Some(ClientSecret::new(args.client_secret)),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{base}/callback")).map_err(|e| e.to_string())?);
    let text = |k: &str| raw[k].as_str().map(str::to_owned).ok_or(format!("discovery has no {k}"));
    let service = Arc::new(Service {
        name: args.name,
        base,
        issuer: args.issuer,
        client_id: args.client_id,
        oidc,
        http,
        end_session: text("end_session_endpoint")?,
        jwks_uri: text("jwks_uri")?,
        sessions: Mutex::default(),
        pending: Mutex::default(),
        seen_jti: Mutex::default(),
        logout_states: Mutex::default(),
    });
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .route("/backchannel-logout", post(backchannel_logout))
        .route("/frontchannel-logout", get(frontchannel_logout))
        .route("/status", get(status))
        .with_state(service);
    let listener = tokio::net::TcpListener::bind((args.listen, args.port)).await.map_err(|e| e.to_string())?;
    tracing::info!(port = args.port, "portal-service ready");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

fn random() -> String {
    CsrfToken::new_random().secret().clone()
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::COOKIE)?.to_str().ok()?;
    raw.split(';').find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}="))).map(str::to_owned)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(app: &Service, body: &str) -> Html<String> {
    let name = escape(&app.name);
    Html(format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{name}</title></head>\
         <body><h1>{name}</h1>{body}</body></html>"
    ))
}

#[derive(Deserialize)]
struct HomeQuery {
    state: Option<String>,
}

async fn home(State(app): State<App>, headers: HeaderMap, Query(q): Query<HomeQuery>) -> Response {
    let visitor = cookie_of(&headers).and_then(|c| app.sessions.lock().ok()?.get(&c).cloned());
    // Back from Motcua's end-session endpoint: only a `state` this service
    // sent (and not yet seen) says the sign-out was ours.
    let notice = match q.state {
        None => "",
        Some(s) if app.logout_states.lock().is_ok_and(|mut set| set.remove(&s)) => {
            "<p id=\"notice\">You are signed out of Motcua.</p>"
        }
        Some(_) => "<p id=\"notice\">Unexpected sign-out response; ignored.</p>",
    };
    let body = match visitor {
        Some(v) => format!(
            "<p id=\"who\">Signed in as {} (sub {}, sid {})</p>\
             <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button>Sign out</button></form>",
            escape(v.name.as_deref().unwrap_or("-")),
            escape(&v.sub),
            escape(v.sid.as_deref().unwrap_or("-")),
            escape(&v.csrf)
        ),
        None => "<p id=\"who\">Signed out</p><p><a href=\"/login\">Sign in with Motcua</a></p>".to_owned(),
    };
    page(&app, &format!("{notice}{body}")).into_response()
}

async fn login(State(app): State<App>, headers: HeaderMap) -> Response {
    let cookie = cookie_of(&headers).unwrap_or_else(random);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = app
        .oidc
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    if let Ok(mut p) = app.pending.lock() {
        p.insert(
            state.secret().clone(),
            Pending { cookie: cookie.clone(), nonce, verifier: verifier.secret().clone() },
        );
    }
    let set = format!("{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax");
    ([(header::SET_COOKIE, set)], Redirect::to(url.as_str())).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The payload of a JWT already verified (or about to be), as JSON.
fn payload(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

async fn callback(State(app): State<App>, Query(q): Query<CallbackQuery>) -> Response {
    let bad = |why: &str| (StatusCode::BAD_REQUEST, page(&app, &format!("<p>Sign-in failed: {}</p>", escape(why))));
    if let Some(e) = q.error {
        return bad(&e).into_response();
    }
    let pending = q.state.and_then(|s| app.pending.lock().ok()?.remove(&s));
    let (Some(code), Some(pending)) = (q.code, pending) else { return bad("unknown state").into_response() };
    let Ok(request) = app.oidc.exchange_code(AuthorizationCode::new(code)) else {
        return bad("no token endpoint").into_response();
    };
    let response =
        match request.set_pkce_verifier(PkceCodeVerifier::new(pending.verifier)).request_async(&app.http).await {
            Ok(r) => r,
            Err(e) => return bad(&format!("code exchange: {e}")).into_response(),
        };
    let Some(id_token) = response.id_token() else { return bad("no ID token").into_response() };
    // Signature, iss, aud, exp and nonce (OIDC Core §3.1.3.7).
    if let Err(e) = id_token.claims(&app.oidc.id_token_verifier(), &pending.nonce) {
        return bad(&format!("ID token: {e}")).into_response();
    }
    let raw = id_token.to_string();
    let claims = payload(&raw);
    let visitor = Visitor {
        sub: claims["sub"].as_str().unwrap_or_default().to_owned(),
        sid: claims["sid"].as_str().map(str::to_owned),
        name: claims["name"].as_str().map(str::to_owned),
        id_token: raw,
        csrf: random(),
    };
    if let Ok(mut s) = app.sessions.lock() {
        s.insert(pending.cookie, visitor);
    }
    Redirect::to("/").into_response()
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Equal without an early exit, so the time taken says nothing about a guess.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn logout(State(app): State<App>, headers: HeaderMap, Form(form): Form<LogoutForm>) -> Response {
    let Some(cookie) = cookie_of(&headers) else { return Redirect::to("/").into_response() };
    let Ok(mut sessions) = app.sessions.lock() else { return Redirect::to("/").into_response() };
    match sessions.get(&cookie) {
        None => return Redirect::to("/").into_response(),
        Some(v) if !same_secret(&v.csrf, &form.csrf) => {
            return (StatusCode::FORBIDDEN, "the sign-out form expired; reload the page").into_response();
        }
        Some(_) => {}
    }
    let Some(v) = sessions.remove(&cookie) else { return Redirect::to("/").into_response() };
    drop(sessions);
    let state = random();
    if let Ok(mut states) = app.logout_states.lock() {
        states.insert(state.clone());
    }
    // RP-Initiated Logout §2: the hint ties the request to the session, and
    // the post-logout URI must be one registered for this client.
    let Ok(mut url) = url::Url::parse(&app.end_session) else { return Redirect::to("/").into_response() };
    url.query_pairs_mut()
        .append_pair("id_token_hint", &v.id_token)
        .append_pair("post_logout_redirect_uri", &format!("{}/", app.base))
        .append_pair("state", &state);
    Redirect::to(url.as_str()).into_response()
}

/// End every local session of `sid` (or of `sub` when the token has no `sid`).
fn end_local(app: &Service, sid: Option<&str>, sub: Option<&str>) -> usize {
    let Ok(mut sessions) = app.sessions.lock() else { return 0 };
    let before = sessions.len();
    sessions.retain(|_, v| match (sid, sub) {
        (Some(sid), _) => v.sid.as_deref() != Some(sid),
        (None, Some(sub)) => v.sub != sub,
        (None, None) => true,
    });
    before - sessions.len()
}

#[derive(Deserialize)]
struct BackChannel {
    #[serde(default)]
    logout_token: String,
}

async fn backchannel_logout(State(app): State<App>, Form(form): Form<BackChannel>) -> Response {
    match check_logout_token(&app, &form.logout_token).await {
        Ok((sid, sub)) => {
            let ended = end_local(&app, sid.as_deref(), sub.as_deref());
            tracing::info!(ended, "back-channel logout");
            // §2.8: 200 with Cache-Control: no-store.
            (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response()
        }
        Err(why) => {
            tracing::warn!(reason = why, "logout token refused");
            (
                StatusCode::BAD_REQUEST,
                [(header::CACHE_CONTROL, "no-store")],
                Json(serde_json::json!({"error": "invalid_request", "error_description": why})),
            )
                .into_response()
        }
    }
}

/// Back-Channel Logout 1.0 §2.6. Returns `(sid, sub)`.
async fn check_logout_token(app: &Service, token: &str) -> Result<(Option<String>, Option<String>), &'static str> {
    // 1–3: a JWS signed with a key from the OP's JWKS, by the algorithm that key is for.
    let header = josekit::jwt::decode_header(token).map_err(|_| "not a JWT")?;
    let kid = header.claim("kid").and_then(Value::as_str).ok_or("no kid")?.to_owned();
    let jwks: Value = app.http.get(&app.jwks_uri).send().await.map_err(|_| "JWKS")?.json().await.map_err(|_| "JWKS")?;
    let key = jwks["keys"].as_array().and_then(|k| k.iter().find(|k| k["kid"] == kid.as_str())).ok_or("unknown kid")?;
    let jwk = josekit::jwk::Jwk::from_map(key.as_object().cloned().unwrap_or_default()).map_err(|_| "bad JWK")?;
    let verified = match key["alg"].as_str() {
        Some("RS256") => {
            josekit::jws::RS256.verifier_from_jwk(&jwk).map(|v| josekit::jwt::decode_with_verifier(token, &v))
        }
        Some("PS256") => {
            josekit::jws::PS256.verifier_from_jwk(&jwk).map(|v| josekit::jwt::decode_with_verifier(token, &v))
        }
        Some("ES256") => {
            josekit::jws::ES256.verifier_from_jwk(&jwk).map(|v| josekit::jwt::decode_with_verifier(token, &v))
        }
        Some("EdDSA") => {
            josekit::jws::EdDSA.verifier_from_jwk(&jwk).map(|v| josekit::jwt::decode_with_verifier(token, &v))
        }
        _ => return Err("unsupported alg"),
    };
    let (claims, header) = verified.map_err(|_| "bad key")?.map_err(|_| "bad signature")?;
    if header.token_type() != Some("logout+jwt") {
        return Err("typ is not logout+jwt");
    }
    let claims = Value::Object(claims.into());
    // 4: iss, aud, iat (and exp).
    // This service has no Clock of its own; the wall clock is what a real RP uses here.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if claims["iss"] != app.issuer.trim_end_matches('/') {
        return Err("wrong iss");
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => *a == app.client_id,
        Value::Array(list) => list.iter().any(|a| *a == app.client_id.as_str()),
        _ => false,
    };
    if !aud_ok {
        return Err("wrong aud");
    }
    let iat = claims["iat"].as_i64().ok_or("no iat")?;
    if iat > now + 60 || claims["exp"].as_i64().is_some_and(|exp| exp < now - 60) {
        return Err("expired or from the future");
    }
    // 5–7: sid or sub, the backchannel-logout event, no nonce.
    let sid = claims["sid"].as_str().map(str::to_owned);
    let sub = claims["sub"].as_str().map(str::to_owned);
    if sid.is_none() && sub.is_none() {
        return Err("neither sid nor sub");
    }
    if !claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object() {
        return Err("no backchannel-logout event");
    }
    if claims.get("nonce").is_some() {
        return Err("nonce present");
    }
    // 9: not a replay.
    let jti = claims["jti"].as_str().ok_or("no jti")?.to_owned();
    if !app.seen_jti.lock().map_err(|_| "lock")?.insert(jti) {
        return Err("jti replayed");
    }
    Ok((sid, sub))
}

#[derive(Deserialize)]
struct FrontChannel {
    iss: Option<String>,
    sid: Option<String>,
}

async fn frontchannel_logout(State(app): State<App>, Query(q): Query<FrontChannel>) -> Response {
    // Front-Channel Logout §3: act only when iss is our OP's and sid is given.
    if q.iss.as_deref() == Some(app.issuer.trim_end_matches('/')) && q.sid.is_some() {
        end_local(&app, q.sid.as_deref(), None);
    }
    ([(header::CACHE_CONTROL, "no-store")], Html("<!doctype html><title>signed out</title>")).into_response()
}

/// How many visitors are signed in here (for tests and monitoring).
async fn status(State(app): State<App>) -> Response {
    let signed_in = app.sessions.lock().map(|s| s.len()).unwrap_or(0);
    Json(serde_json::json!({ "signed_in": signed_in, "logout_tokens_accepted": app.seen_jti.lock().map(|s| s.len()).unwrap_or(0) })).into_response()
}
