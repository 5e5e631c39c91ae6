//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3, OIDC Core §9, RFC 7523 §3).

use std::time::Duration;

use josekit::jwk::JwkSet;

use super::OAuthError;
use crate::cache::Cache;
use crate::crypto::jwt::{self, Alg};
use crate::crypto::{Secret, constant_time_eq, sha256_hex};
use crate::store::{Client, Store, Timestamp};

/// RFC 7523 §2.2 client assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest accepted lifetime of a client assertion, so its `jti` can be
/// remembered for all of it.
const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Clock skew tolerated on `exp`/`nbf`/`iat`.
const LEEWAY: i64 = 60;

/// The credentials a request carries, as the HTTP layer found them.
#[derive(Debug, Default)]
pub struct Presented {
    /// From `Authorization: Basic` (already form-decoded, RFC 6749 §2.3.1).
    pub basic: Option<(String, Secret)>,
    /// `client_id` form parameter.
    pub client_id: Option<String>,
    /// `client_secret` form parameter.
    pub client_secret: Option<Secret>,
    /// `client_assertion_type` form parameter.
    pub assertion_type: Option<String>,
    /// `client_assertion` form parameter.
    pub assertion: Option<String>,
}

/// Authenticate the client; every failure is `invalid_client` (401) except
/// malformed requests (`invalid_request`).
pub async fn authenticate(
    store: &dyn Store,
    cache: &dyn Cache,
    audiences: &[&str],
    now: Timestamp,
    p: Presented,
) -> Result<Client, OAuthError> {
    let methods = [p.basic.is_some(), p.client_secret.is_some(), p.assertion.is_some()];
    // RFC 6749 §2.3: a client MUST NOT use more than one method per request.
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(OAuthError::invalid_request("use exactly one client authentication method"));
    }
    if let Some((id, secret)) = p.basic {
        if p.client_id.as_ref().is_some_and(|c| *c != id) {
            return Err(OAuthError::invalid_request("client_id does not match the Authorization header"));
        }
        let client = load(store, &id, "client_secret_basic").await?;
        return check_secret(client, &secret);
    }
    if let Some(secret) = p.client_secret {
        let id = p.client_id.ok_or_else(|| OAuthError::invalid_request("client_id is required with client_secret"))?;
        let client = load(store, &id, "client_secret_post").await?;
        return check_secret(client, &secret);
    }
    if let Some(assertion) = p.assertion {
        if p.assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!("client_assertion_type must be {JWT_BEARER}")));
        }
        return check_assertion(store, cache, audiences, now, p.client_id.as_deref(), &assertion).await;
    }
    match p.client_id {
        Some(id) => load(store, &id, "none").await,
        None => Err(OAuthError::invalid_client("client authentication is required")),
    }
}

async fn load(store: &dyn Store, client_id: &str, method: &str) -> Result<Client, OAuthError> {
    match store.get_client(client_id).await? {
        Some(c) if c.status == "active" && c.auth_method == method => Ok(c),
        Some(c) if c.status == "active" => {
            Err(OAuthError::invalid_client(format!("this client must authenticate with {}", c.auth_method)))
        }
        _ => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

fn check_secret(client: Client, secret: &Secret) -> Result<Client, OAuthError> {
    let presented = sha256_hex(secret.expose().as_bytes());
    match &client.secret_hash {
        Some(h) if constant_time_eq(h.as_bytes(), presented.as_bytes()) => Ok(client),
        _ => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

async fn check_assertion(
    store: &dyn Store,
    cache: &dyn Cache,
    audiences: &[&str],
    now: Timestamp,
    client_id: Option<&str>,
    assertion: &str,
) -> Result<Client, OAuthError> {
    let fail = || OAuthError::invalid_client("client assertion is not valid");
    let header = jwt::peek_header(assertion).map_err(|_| fail())?;
    // Read `iss` before verifying, only to find which client's keys to use.
    let unverified = unverified_claims(assertion).ok_or_else(fail)?;
    let iss = unverified.get("iss").and_then(|v| v.as_str()).ok_or_else(fail)?.to_owned();
    if client_id.is_some_and(|c| c != iss) {
        return Err(fail());
    }
    let client = load(store, &iss, "private_key_jwt").await?;
    let alg = header.algorithm().and_then(Alg::parse).ok_or_else(fail)?;
    let jwks = client
        .jwks
        .as_deref()
        .and_then(|j| JwkSet::from_bytes(j.as_bytes()).ok())
        .ok_or_else(|| OAuthError::invalid_client("the client has no usable JWKS registered"))?;
    let candidates: Vec<_> = match header.key_id() {
        Some(kid) => jwks.get(kid),
        None => jwks.keys(),
    };
    let claims = candidates
        .into_iter()
        .filter_map(|jwk| jwt::verifier_from_jwk(alg, jwk).ok())
        .find_map(|v| jwt::verify(assertion, v.as_ref()).ok())
        .map(|(_, c)| c)
        .ok_or_else(fail)?;
    // RFC 7523 §3: iss and sub are the client, aud is us, exp bounds it, jti once.
    let s = |k: &str| claims.get(k).and_then(|v| v.as_str());
    let n = |k: &str| claims.get(k).and_then(|v| v.as_i64());
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => audiences.contains(&a.as_str()),
        Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str().is_some_and(|x| audiences.contains(&x))),
        _ => false,
    };
    let exp = n("exp").ok_or_else(fail)?;
    let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or_else(fail)?;
    if s("iss") != Some(&iss)
        || s("sub") != Some(&iss)
        || !aud_ok
        || exp + LEEWAY < now
        || exp > now + MAX_ASSERTION_LIFETIME
        || n("nbf").is_some_and(|nbf| nbf > now + LEEWAY)
    {
        return Err(fail());
    }
    let key = format!("jti:{}:{}", client.client_id, sha256_hex(jti.as_bytes()));
    let ttl = Duration::from_secs((exp - now + LEEWAY).max(1) as u64);
    if !cache.put_if_absent(&key, b"1", ttl).await? {
        return Err(OAuthError::invalid_client("client assertion was already used"));
    }
    Ok(client)
}

fn unverified_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}
