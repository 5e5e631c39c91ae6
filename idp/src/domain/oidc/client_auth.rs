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

/// How long a client's fetched JWKS is reused before fetching again.
const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);

/// Shortest gap between two forced refetches of one `jwks_uri`, and how long
/// a failed fetch is remembered before the URI is tried again.
const JWKS_REFETCH_GAP: Duration = Duration::from_secs(60);

/// How long the last set fetched whole stands in while the `jwks_uri` cannot
/// be fetched: a client whose key host has a bad minute keeps authenticating
/// with the keys it had; a long outage ends in refusals, not in trusting keys
/// the client may have withdrawn meanwhile.
const JWKS_LAST_GOOD_TTL: Duration = Duration::from_secs(3600);

/// Fetches a client's JWKS from its registered `jwks_uri`.
#[async_trait::async_trait]
pub trait JwksFetcher: Send + Sync {
    /// The document's text; the error is for logs.
    async fn fetch(&self, uri: &str) -> Result<String, String>;
}

/// Longest accepted lifetime of a client assertion, so its `jti` can be
/// remembered for all of it.
const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Clock skew tolerated on `exp`/`nbf`/`iat`.
const LEEWAY: i64 = 60;
/// How much longer than it would be accepted a used `jti` (of a client
/// assertion or a DPoP proof) is remembered: a second of rounding and a few
/// of clock difference between nodes.
pub(super) const REPLAY_MARGIN: i64 = 5;

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
    fetcher: &dyn JwksFetcher,
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
        return check_secret(client, &secret, now);
    }
    if let Some(secret) = p.client_secret {
        let id = p.client_id.ok_or_else(|| OAuthError::invalid_request("client_id is required with client_secret"))?;
        let client = load(store, &id, "client_secret_post").await?;
        return check_secret(client, &secret, now);
    }
    if let Some(assertion) = p.assertion {
        if p.assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!("client_assertion_type must be {JWT_BEARER}")));
        }
        return check_assertion(store, cache, fetcher, audiences, now, p.client_id.as_deref(), &assertion).await;
    }
    match p.client_id {
        Some(id) => load(store, &id, "none").await,
        None => Err(OAuthError::invalid_client("client authentication is required")),
    }
}

async fn load(store: &dyn Store, client_id: &str, method: &str) -> Result<Client, OAuthError> {
    // An assertion's `iss` is JSON, which may carry a NUL no client id holds
    // (and PostgreSQL text cannot: the lookup would fail, not miss).
    if client_id.contains('\0') {
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    match store.get_client(client_id).await? {
        Some(c) if c.status == "active" && c.auth_method == method => Ok(c),
        Some(c) if c.status == "active" => {
            Err(OAuthError::invalid_client(format!("this client must authenticate with {}", c.auth_method)))
        }
        _ => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

/// The current secret, or the previous one while its rotation grace period
/// runs (until `previous_secret_expires_at`, exclusive). Both comparisons are
/// constant-time and both always run.
fn check_secret(client: Client, secret: &Secret, now: Timestamp) -> Result<Client, OAuthError> {
    let presented = sha256_hex(secret.expose().as_bytes());
    let matches = |h: &Option<String>| h.as_ref().is_some_and(|h| constant_time_eq(h.as_bytes(), presented.as_bytes()));
    let current = matches(&client.secret_hash);
    let previous = matches(&client.previous_secret_hash);
    let in_grace = client.previous_secret_expires_at.is_some_and(|exp| now < exp);
    if current || (previous && in_grace) {
        Ok(client)
    } else {
        Err(OAuthError::invalid_client("client authentication failed"))
    }
}

async fn check_assertion(
    store: &dyn Store,
    cache: &dyn Cache,
    fetcher: &dyn JwksFetcher,
    audiences: &[&str],
    now: Timestamp,
    client_id: Option<&str>,
    assertion: &str,
) -> Result<Client, OAuthError> {
    let fail = || OAuthError::invalid_client("client assertion is not valid");
    // Read `iss` before verifying, only to find which client's keys to use.
    let unverified = jwt::segment(assertion, 1).ok_or_else(fail)?;
    let iss = unverified.get("iss").and_then(|v| v.as_str()).ok_or_else(fail)?.to_owned();
    if client_id.is_some_and(|c| c != iss) {
        return Err(fail());
    }
    // A request object (RFC 9101) signed with the same key travels through
    // browsers: it must never pass for a client assertion.
    let typ = jwt::peek_header(assertion).ok().and_then(|h| h.token_type().map(str::to_ascii_lowercase));
    if typ.is_some_and(|t| t.contains("oauth-authz-req"))
        || unverified.contains_key("response_type")
        || unverified.contains_key("redirect_uri")
    {
        return Err(fail());
    }
    let client = load(store, &iss, "private_key_jwt").await?;
    let claims = match verify_signed_by(cache, fetcher, &client, assertion).await? {
        Signed::By(claims) => claims,
        Signed::NoKeys => return Err(OAuthError::invalid_client("the client has no usable JWKS registered")),
        Signed::Not => return Err(fail()),
    };
    // RFC 7523 §3: iss and sub are the client, aud is us, exp bounds it, jti once.
    let s = |k: &str| claims.get(k).and_then(|v| v.as_str());
    let n = |k: &str| jwt::numeric_date(&claims, k).flatten();
    let aud_ok = jwt::sole_audience(&claims).is_some_and(|a| audiences.contains(&a));
    let exp = n("exp").ok_or_else(fail)?;
    let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or_else(fail)?;
    if s("iss") != Some(&iss)
        || s("sub") != Some(&iss)
        || !aud_ok
        || exp.saturating_add(LEEWAY) < now
        || exp > now.saturating_add(MAX_ASSERTION_LIFETIME)
        || n("nbf").is_some_and(|nbf| nbf > now.saturating_add(LEEWAY))
    {
        return Err(fail());
    }
    let key = format!("jti:{}:{}", client.client_id, sha256_hex(jti.as_bytes()));
    // Remembered as long as the assertion passes the checks above, and
    // REPLAY_MARGIN more: `now` is whole seconds and nodes' clocks differ a
    // little, so a marker that ran out exactly at `exp + LEEWAY` would leave
    // a replay a moment of acceptance.
    let ttl = Duration::from_secs(
        exp.saturating_sub(now)
            .saturating_add(LEEWAY + REPLAY_MARGIN)
            .clamp(1, MAX_ASSERTION_LIFETIME + LEEWAY + REPLAY_MARGIN) as u64,
    );
    if !cache.put_if_absent(&key, b"1", ttl).await? {
        return Err(OAuthError::invalid_client("client assertion was already used"));
    }
    Ok(client)
}

/// Whether a JWT was signed by one of a client's registered keys.
pub enum Signed {
    /// Yes: its claims.
    By(serde_json::Map<String, serde_json::Value>),
    /// The client has no usable JWK set (none registered, or unparseable inline).
    NoKeys,
    /// Not by any of its keys (or an algorithm we do not take).
    Not,
}

/// Verify `token` (a compact JWS, asymmetric algorithms only) against
/// `client`'s registered keys: its inline JWKS, or its `jwks_uri`, cached,
/// and fetched once more when no cached key fits (the client may have
/// rotated). Client assertions and request objects (RFC 9101) both use it.
pub async fn verify_signed_by(
    cache: &dyn Cache,
    fetcher: &dyn JwksFetcher,
    client: &Client,
    token: &str,
) -> Result<Signed, OAuthError> {
    let Ok(header) = jwt::peek_header(token) else { return Ok(Signed::Not) };
    let Some(alg) = header.algorithm().and_then(Alg::parse) else { return Ok(Signed::Not) };
    let verify_with = |jwks: &JwkSet| {
        let candidates: Vec<_> = match header.key_id() {
            Some(kid) => jwks.get(kid),
            None => jwks.keys(),
        };
        candidates
            .into_iter()
            .filter_map(|jwk| jwt::verifier_from_jwk(alg, jwk).ok())
            .find_map(|v| jwt::verify(token, v.as_ref()).ok())
            .map(|(_, c)| c)
    };
    let claims = match (&client.jwks, &client.jwks_uri) {
        (Some(inline), _) => match JwkSet::from_bytes(inline.as_bytes()) {
            Ok(jwks) => verify_with(&jwks),
            Err(_) => return Ok(Signed::NoKeys),
        },
        (None, Some(uri)) => {
            // A cached copy first; on a miss (the client may have rotated), fetch once more.
            let cached = client_jwks(cache, fetcher, uri, false).await?;
            match cached.as_ref().and_then(&verify_with) {
                Some(c) => Some(c),
                None => client_jwks(cache, fetcher, uri, true).await?.as_ref().and_then(verify_with),
            }
        }
        (None, None) => return Ok(Signed::NoKeys),
    };
    Ok(claims.map_or(Signed::Not, Signed::By))
}

/// The client's JWKS from `jwks_uri`, from the cache unless `fresh`.
async fn client_jwks(
    cache: &dyn Cache,
    fetcher: &dyn JwksFetcher,
    uri: &str,
    fresh: bool,
) -> Result<Option<JwkSet>, OAuthError> {
    let digest = sha256_hex(uri.as_bytes());
    let (key, last_good, failed) =
        (format!("jwks:{digest}"), format!("jwks-last:{digest}"), format!("jwks-failed:{digest}"));
    if !fresh && let Some(bytes) = cache.get(&key).await? {
        return Ok(JwkSet::from_bytes(&bytes).ok());
    }
    // When the URI cannot give a set now, the lookup of the cached copy
    // (not a forced refetch: that came because the copy did not verify) falls
    // back to the last good set.
    let fallback = async || -> Result<Option<JwkSet>, OAuthError> {
        if fresh {
            return Ok(None);
        }
        Ok(cache.get(&last_good).await?.and_then(|bytes| JwkSet::from_bytes(&bytes).ok()))
    };
    // A URI that failed (down, or not a JWK set) is not tried again for a
    // minute: otherwise every assertion naming the client, anyone's, would
    // cost an outbound request and up to its timeout.
    if cache.get(&failed).await?.is_some() {
        return fallback().await;
    }
    // Anyone can send an assertion naming a public client_id: refetch at most
    // once a minute per URI, so failed assertions cannot drive outbound traffic.
    if fresh && !cache.put_if_absent(&format!("jwks-refetch:{digest}"), b"1", JWKS_REFETCH_GAP).await? {
        return Ok(None);
    }
    let fetched = fetcher.fetch(uri).await.and_then(|text| match JwkSet::from_bytes(text.as_bytes()) {
        Ok(set) => Ok((text, set)),
        Err(e) => Err(format!("not a JWK set: {e}")),
    });
    match fetched {
        Ok((text, set)) => {
            // Caching the set saves fetches; failing to is no reason to refuse the client.
            for (name, ttl) in [(&key, JWKS_CACHE_TTL), (&last_good, JWKS_LAST_GOOD_TTL)] {
                if let Err(e) = cache.put(name, text.as_bytes(), ttl).await {
                    tracing::warn!(error = %e, "cannot cache a client's JWK set");
                }
            }
            Ok(Some(set))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot fetch a client's jwks_uri; not trying it again for a minute");
            if let Err(e) = cache.put(&failed, b"1", JWKS_REFETCH_GAP).await {
                tracing::warn!(error = %e, "cannot remember a failed jwks_uri fetch");
            }
            fallback().await
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::cache::MemoryCache;

    /// Answers the set it holds, or fails while it holds none; counts calls.
    struct Host {
        set: Mutex<Option<String>>,
        calls: Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl JwksFetcher for Host {
        async fn fetch(&self, _uri: &str) -> Result<String, String> {
            *self.calls.lock().unwrap() += 1;
            self.set.lock().unwrap().clone().ok_or_else(|| "503".to_owned())
        }
    }

    /// A key host down for a while: the client keeps its last good set
    /// (no refusal, no fetch per request), a forced refetch is not tried, and
    /// a host down from the start gives nothing.
    #[tokio::test]
    async fn a_failing_jwks_uri_falls_back_to_the_last_good_set_and_is_not_hammered() {
        let cache = MemoryCache::new();
        let set = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let host = Host { set: Mutex::new(Some(set.to_owned())), calls: Mutex::new(0) };
        let uri = "https://rp.example.vn/jwks.json";
        let kids = |s: Option<JwkSet>| {
            s.map(|s| s.keys().iter().filter_map(|k| k.key_id().map(str::to_owned)).collect::<Vec<_>>())
        };
        assert_eq!(kids(client_jwks(&cache, &host, uri, false).await.unwrap()), Some(vec!["k1".to_owned()]));

        // The five-minute copy lapses while the host is down.
        *host.set.lock().unwrap() = None;
        cache.delete(&format!("jwks:{}", sha256_hex(uri.as_bytes()))).await.unwrap();
        for _ in 0..3 {
            assert_eq!(kids(client_jwks(&cache, &host, uri, false).await.unwrap()), Some(vec!["k1".to_owned()]));
        }
        assert!(client_jwks(&cache, &host, uri, true).await.unwrap().is_none(), "no forced refetch of a failed URI");
        assert_eq!(*host.calls.lock().unwrap(), 2, "one fetch, then one failure remembered for a minute");

        let down = Host { set: Mutex::new(None), calls: Mutex::new(0) };
        assert!(client_jwks(&cache, &down, "https://other.example.vn/jwks.json", false).await.unwrap().is_none());
    }
}
