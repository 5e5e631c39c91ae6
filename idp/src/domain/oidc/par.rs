//! Pushed authorization requests (RFC 9126). A client posts its
//! authorization request to `/par`, authenticated as at the token endpoint,
//! and gets back a `request_uri` that the browser then carries to
//! `/authorize` with only the `client_id`: the request's parameters never
//! pass through the browser, where they could be read or changed, and a
//! request too long for a URL still fits.
//!
//! A pushed request is checked at once, by the same rules as one sent to
//! the authorization endpoint, so the client learns of a mistake from a
//! JSON error instead of from a citizen stuck on an error page. It is kept
//! in the cache (Redis in production, so any node can take it) for
//! `IDP_PAR_TTL` seconds and taken once: the browser's first visit uses it
//! up. At that visit it is checked again, since the client may have been
//! changed or disabled meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::authorize::{self, RequestError};
use super::tokens::Ctx;
use super::{OAuthError, Params};
use crate::cache::{Cache, CacheError};
use crate::crypto::random_token;
use crate::store::Client;

/// RFC 9126 §2.2: the form of the `request_uri` values Motcua hands out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters kept with a pushed request: those of an authorization
/// request Motcua reads. Anything else (client authentication above all,
/// and names a client made up) is dropped, so a push keeps no secret and
/// no more than the request needs.
const KEPT: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "ui_locales",
    "acr_values",
    "claims",
    "business_hint",
    "dpop_jkt",
];

/// Largest pushed request kept, in bytes of JSON: far above any real one
/// (a long `claims` request and an ID token hint fit in a few KiB).
const MAX_KEPT: usize = 16 * 1024;

/// Longest reference accepted back: ours are 43 characters (256 bits,
/// base64url); anything longer is not ours and is not looked up.
const MAX_ID: usize = 64;

/// A pushed request as kept in the cache.
#[derive(Debug, Serialize, Deserialize)]
struct Pushed {
    /// The client that pushed it: only this client's `client_id` redeems it.
    client_id: String,
    /// Its authorization request parameters.
    params: BTreeMap<String, String>,
}

fn key(id: &str) -> String {
    format!("par:{id}")
}

/// The answer of the PAR endpoint (RFC 9126 §2.2).
#[derive(Debug, Serialize)]
pub struct PushedRequest {
    /// The reference the browser carries to the authorization endpoint.
    pub request_uri: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// Check and keep `params`, pushed by `client` (already authenticated), for
/// `ttl` seconds. `dpop_jkt`: the key of a DPoP proof sent with the push
/// (RFC 9449 §10.1), which the code will be bound to.
pub async fn push(
    ctx: &Ctx<'_>,
    client: &Client,
    mut params: Params,
    dpop_jkt: Option<&str>,
    ttl: i64,
) -> Result<PushedRequest, OAuthError> {
    // §2.1: a pushed request cannot itself point at another one.
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
    }
    // The request is the authenticated client's (client authentication has
    // refused a `client_id` naming another).
    params.map.insert("client_id".into(), client.client_id.clone());
    if let Some(jkt) = dpop_jkt {
        // RFC 9449 §10.1: a `dpop_jkt` sent beside a proof must name its key.
        if params.get("dpop_jkt").is_some_and(|j| j != jkt) {
            return Err(OAuthError::new(super::OAuthErrorCode::InvalidDpopProof, "dpop_jkt is not the proof's key"));
        }
        params.map.insert("dpop_jkt".into(), jkt.to_owned());
    }
    match authorize::validate(ctx.store, ctx.keys, ctx.issuer, &params, true).await {
        Ok(_) => {}
        // The client and redirect URI are known: the error the browser would have carried back.
        Err(RequestError::Redirect(_, e)) => return Err(e),
        Err(RequestError::Page { code: "server_error", .. }) => {
            return Err(OAuthError::unavailable("checking a pushed authorization request"));
        }
        Err(RequestError::Page { key, .. }) => {
            return Err(OAuthError::invalid_request(match key {
                "err.invalid_redirect_uri" => "redirect_uri is missing, repeated or not registered for this client",
                _ => "the client cannot make authorization requests",
            }));
        }
    }
    let id = keep(ctx.cache, &client.client_id, params, ttl).await?;
    Ok(PushedRequest { request_uri: format!("{REQUEST_URI_PREFIX}{id}"), expires_in: ttl })
}

/// Keep the known parameters of a checked request under a new id. Visitor
/// state, as a request sent to `/authorize` by POST is: a public client
/// authenticates with its `client_id` alone, which anyone can read from a
/// browser's address bar, so pushes must not be able to crowd out codes,
/// replay markers and counters (see `Cache::put_visitor`).
async fn keep(cache: &dyn Cache, client_id: &str, params: Params, ttl: i64) -> Result<String, OAuthError> {
    let params: BTreeMap<String, String> = params.map.into_iter().filter(|(k, _)| KEPT.contains(&k.as_str())).collect();
    let pushed = Pushed { client_id: client_id.to_owned(), params };
    let bytes = serde_json::to_vec(&pushed).map_err(OAuthError::internal)?;
    if bytes.len() > MAX_KEPT {
        return Err(OAuthError::invalid_request("the pushed request is too large"));
    }
    let id = random_token();
    let lifetime = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
    cache.put_visitor(&key(&id), &bytes, lifetime).await?;
    Ok(id)
}

/// Why a `request_uri` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Unknown, expired, already used, or pushed by another client: the
    /// browser gets an error page (there is no trusted redirect URI to use).
    #[error("the request_uri is unknown, expired, used or not this client's")]
    Invalid,
    /// The cache is out of reach: retry later (503), the request may still be there.
    #[error(transparent)]
    Unavailable(#[from] CacheError),
}

/// The parameters an authorization request stands for, and whether they were
/// pushed. A `request_uri` of ours is taken from the cache (once) and its
/// parameters replace the query's, except `client_id`, which must name the
/// client that pushed it (RFC 9126 §4). A request without one, or with one
/// not of our form (a request object by reference, which Motcua does not
/// fetch), is returned as it came, for `validate` to check or refuse.
pub async fn resolve(cache: &dyn Cache, params: Params) -> Result<(Params, bool), ResolveError> {
    let Some(id) = params.get("request_uri").and_then(|u| u.strip_prefix(REQUEST_URI_PREFIX)) else {
        return Ok((params, false));
    };
    if params.is_duplicated("request_uri") || params.is_duplicated("client_id") {
        return Err(ResolveError::Invalid);
    }
    if id.is_empty() || id.len() > MAX_ID || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ResolveError::Invalid);
    }
    let Some(client_id) = params.get("client_id") else { return Err(ResolveError::Invalid) };
    let Some(bytes) = cache.take(&key(id)).await? else { return Err(ResolveError::Invalid) };
    let pushed: Pushed = serde_json::from_slice(&bytes).map_err(|_| ResolveError::Invalid)?;
    if pushed.client_id != client_id {
        return Err(ResolveError::Invalid);
    }
    Ok((Params { map: pushed.params, duplicated: Vec::new() }, true))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;

    fn query(q: &str) -> Params {
        crate::http::params::parse(q.as_bytes()).unwrap()
    }

    async fn pushed(cache: &MemoryCache, id: &str, client_id: &str) {
        let p = Pushed { client_id: client_id.into(), params: BTreeMap::from([("scope".into(), "openid".into())]) };
        cache.put(&key(id), &serde_json::to_vec(&p).unwrap(), Duration::from_secs(60)).await.unwrap();
    }

    #[tokio::test]
    async fn a_request_uri_is_taken_once_and_only_by_its_client() {
        let cache = MemoryCache::default();
        pushed(&cache, "abc", "c1").await;
        // Another client's id: refused, and the reference is used up all the same.
        let other = query("client_id=c2&request_uri=urn:ietf:params:oauth:request_uri:abc");
        assert!(matches!(resolve(&cache, other).await, Err(ResolveError::Invalid)));
        pushed(&cache, "abc", "c1").await;
        let mine = query("client_id=c1&request_uri=urn:ietf:params:oauth:request_uri:abc&scope=openid+email");
        let (params, was_pushed) = resolve(&cache, mine.clone()).await.unwrap();
        assert!(was_pushed);
        // The pushed parameters replace the query's.
        assert_eq!(params.get("scope"), Some("openid"));
        assert_eq!(params.get("request_uri"), None);
        assert!(matches!(resolve(&cache, mine).await, Err(ResolveError::Invalid)));
    }

    #[tokio::test]
    async fn a_push_keeps_only_authorization_parameters_as_visitor_state() {
        let cache = MemoryCache::default();
        let sent = query(
            "client_id=c1&scope=openid&state=s&client_secret=hunter2&client_assertion=eyJ.x.y\
             &client_assertion_type=urn%3Ajwt&made_up=1&dpop_jkt=abc",
        );
        let id = keep(&cache, "c1", sent, 60).await.unwrap();
        let kept: Pushed = serde_json::from_slice(&cache.get(&key(&id)).await.unwrap().unwrap()).unwrap();
        let names: Vec<&str> = kept.params.keys().map(String::as_str).collect();
        assert_eq!(names, ["client_id", "dpop_jkt", "scope", "state"]);
        assert_eq!(kept.client_id, "c1");
        // Too large a request is refused, not kept.
        let huge = query(&format!("client_id=c1&claims={}", "a".repeat(MAX_KEPT)));
        assert_eq!(keep(&cache, "c1", huge, 60).await.unwrap_err().code, super::super::OAuthErrorCode::InvalidRequest);
        // Visitor state: once visitors fill their share, pushes are refused
        // (503) while other writes still fit.
        let small = MemoryCache::with_limit(64 * 1024);
        let mut refused = None;
        for n in 0..1000 {
            if let Err(e) = keep(&small, "c1", query("client_id=c1&scope=openid"), 60).await {
                refused = Some((n, e));
                break;
            }
        }
        let (n, e) = refused.expect("the visitor share never filled");
        assert!(n > 10, "refused after {n} pushes");
        assert_eq!(e.code, super::super::OAuthErrorCode::TemporarilyUnavailable);
        small.put("code:x", b"1", Duration::from_secs(60)).await.unwrap();
    }

    #[tokio::test]
    async fn requests_without_a_reference_of_ours_pass_unchanged() {
        let cache = MemoryCache::default();
        for q in ["client_id=c1&scope=openid", "client_id=c1&request_uri=https://rp.example.vn/req.jwt"] {
            let (params, was_pushed) = resolve(&cache, query(q)).await.unwrap();
            assert!(!was_pushed);
            assert_eq!(params.map, query(q).map);
        }
        for q in [
            "request_uri=urn:ietf:params:oauth:request_uri:abc",
            "client_id=c1&request_uri=urn:ietf:params:oauth:request_uri:",
            "client_id=c1&request_uri=urn:ietf:params:oauth:request_uri:a%2Fb",
            "client_id=c1&client_id=c2&request_uri=urn:ietf:params:oauth:request_uri:abc",
        ] {
            assert!(matches!(resolve(&cache, query(q)).await, Err(ResolveError::Invalid)), "{q}");
        }
        let long = format!("client_id=c1&request_uri=urn:ietf:params:oauth:request_uri:{}", "a".repeat(65));
        assert!(matches!(resolve(&cache, query(&long)).await, Err(ResolveError::Invalid)));
    }
}
