//! Request objects by value (RFC 9101, OIDC Core §6.1): the authorization
//! request's parameters as a JWT the client signed with one of its
//! registered keys, sent as `request` to `/authorize` or `/par`. The
//! citizen's browser can read it but not change it, and Motcua knows the
//! request came from the client, not from whoever built the link.
//!
//! Checked here: an asymmetric signature by the client's keys (the
//! `private_key_jwt` key set, inline or at its `jwks_uri`), `iss` the
//! client, `aud` our issuer, `client_id` (if present) the query's, `exp`
//! (if present) not past and `nbf` not ahead. As RFC 9101 §6.3 asks, only
//! the object's parameters are then used; the query's others are ignored.
//! Request objects by reference (`request_uri` naming a URL) are not
//! fetched; PAR is the way to send a request by reference.

use std::collections::BTreeMap;

use serde_json::Value;

use super::client_auth::{JwksFetcher, Signed, verify_signed_by};
use super::{OAuthError, OAuthErrorCode as E, Params};
use crate::cache::{Cache, CacheError};
use crate::store::{Store, StoreError, Timestamp};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY: i64 = 60;

/// Longest request object read.
const MAX_OBJECT: usize = 16 * 1024;

/// `typ` values a request object may carry (RFC 9101 §10.8, or a plain JWT).
const TYPES: [&str; 2] = ["oauth-authz-req+jwt", "JWT"];

/// Claims of the JWT itself, not authorization parameters.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// Why a request object could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Not signed by the client, not for us, expired or malformed: the
    /// browser gets an error page (its redirect URI is inside the object,
    /// so it cannot be trusted), the PAR endpoint a JSON error.
    #[error("the request object is not valid: {0}")]
    Invalid(&'static str),
    /// The store or cache is out of reach.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for ObjectError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<CacheError> for ObjectError {
    fn from(e: CacheError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<OAuthError> for ObjectError {
    fn from(e: OAuthError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<ObjectError> for OAuthError {
    fn from(e: ObjectError) -> Self {
        match e {
            ObjectError::Invalid(why) => OAuthError::new(E::InvalidRequestObject, why),
            ObjectError::Unavailable(detail) => OAuthError::unavailable(detail),
        }
    }
}

/// The parameters a request stands for: those of its `request` object when
/// it has one (checked), else the request's own.
pub async fn resolve(
    store: &dyn Store,
    cache: &dyn Cache,
    fetcher: &dyn JwksFetcher,
    issuer: &str,
    params: Params,
    now: Timestamp,
) -> Result<Params, ObjectError> {
    let Some(object) = params.get("request") else { return Ok(params) };
    let invalid = ObjectError::Invalid;
    if params.is_duplicated("request") || params.is_duplicated("client_id") || params.get("request_uri").is_some() {
        return Err(invalid("send one request, and no request_uri beside it"));
    }
    if object.len() > MAX_OBJECT {
        return Err(invalid("the request object is too large"));
    }
    let Some(client_id) = params.get("client_id") else { return Err(invalid("client_id is required")) };
    let client = match store.get_client(client_id).await? {
        Some(c) if c.status == "active" => c,
        _ => return Err(invalid("unknown client")),
    };
    let typ = crate::crypto::jwt::peek_header(object).ok().and_then(|h| h.token_type().map(str::to_owned));
    if typ.as_deref().is_some_and(|t| !TYPES.contains(&t)) {
        return Err(invalid("typ must be oauth-authz-req+jwt"));
    }
    let claims = match verify_signed_by(cache, fetcher, &client, object).await? {
        Signed::By(claims) => claims,
        Signed::NoKeys => return Err(invalid("the client has no keys registered to sign request objects")),
        Signed::Not => return Err(invalid("not signed by the client's keys")),
    };
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    let n = |k: &str| claims.get(k).map(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(issuer)),
        _ => false,
    };
    if s("iss") != Some(client_id) || !aud_ok {
        return Err(invalid("iss must be the client and aud this issuer"));
    }
    if claims.get("client_id").is_some_and(|c| c.as_str() != Some(client_id)) {
        return Err(invalid("client_id differs from the request's"));
    }
    match n("exp") {
        Some(Some(exp)) if exp.saturating_add(LEEWAY) < now => return Err(invalid("the request object has expired")),
        Some(None) => return Err(invalid("exp must be a number")),
        _ => {}
    }
    if n("nbf").flatten().is_some_and(|nbf| nbf > now.saturating_add(LEEWAY)) {
        return Err(invalid("the request object is not valid yet"));
    }
    let mut map = BTreeMap::new();
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            Value::String(s) => s,
            Value::Null => continue,
            // max_age as a number, `claims` as an object (OIDC Core §6.1).
            other => other.to_string(),
        };
        if !text.is_empty() {
            map.insert(name, text);
        }
    }
    map.insert("client_id".into(), client_id.to_owned());
    Ok(Params { map, duplicated: Vec::new() })
}
