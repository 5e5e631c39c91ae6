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
use crate::crypto::jwt;
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
    // RFC 7515 §4.1.9: the media type may come with its "application/"
    // prefix, and compares without regard to case.
    let typ = jwt::peek_header(object).ok().and_then(|h| h.token_type().map(str::to_ascii_lowercase));
    let typ = typ.as_deref().map(|t| t.strip_prefix("application/").unwrap_or(t));
    if typ.is_some_and(|t| !TYPES.iter().any(|ok| ok.eq_ignore_ascii_case(t))) {
        return Err(invalid("typ must be oauth-authz-req+jwt"));
    }
    // The cheap checks first, on the claims as sent: a request object not
    // even addressed right costs no key lookup (and no `jwks_uri` fetch).
    let unverified = jwt::segment(object, 1).ok_or(invalid("the request object is not a JWT"))?;
    check_claims(&unverified, client_id, issuer, now)?;
    let claims = match verify_signed_by(cache, fetcher, &client, object).await? {
        Signed::By(claims) => claims,
        Signed::NoKeys => return Err(invalid("the client has no keys registered to sign request objects")),
        Signed::Not => return Err(invalid("not signed by the client's keys")),
    };
    let mut map = BTreeMap::new();
    for (name, value) in claims {
        // RFC 9101 §4: an object points at no other request.
        if name == "request" || name == "request_uri" {
            return Err(invalid("a request object cannot hold request or request_uri"));
        }
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

/// `iss` the client, `aud` this issuer, `client_id` (if any) the request's,
/// `exp` (if any) not past, `nbf` (if any) not ahead; both numbers.
fn check_claims(
    claims: &serde_json::Map<String, Value>,
    client_id: &str,
    issuer: &str,
    now: Timestamp,
) -> Result<(), ObjectError> {
    let invalid = ObjectError::Invalid;
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    let n = |k: &str| jwt::numeric_date(claims, k);
    if s("iss") != Some(client_id) || !jwt::names_audience(claims, |a| a == issuer) {
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
    match n("nbf") {
        Some(Some(nbf)) if nbf > now.saturating_add(LEEWAY) => Err(invalid("the request object is not valid yet")),
        Some(None) => Err(invalid("nbf must be a number")),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cache::MemoryCache;
    use crate::crypto::jwt::{self, Alg};
    use crate::store::Organisation;

    const ISS: &str = "https://id.example.gov.vn";
    const NOW: Timestamp = 1_800_000_000;

    /// Fetches nothing: the clients here register their keys inline.
    struct NoFetch;

    #[async_trait::async_trait]
    impl JwksFetcher for NoFetch {
        async fn fetch(&self, _uri: &str) -> Result<String, String> {
            Err("no network in unit tests".into())
        }
    }

    struct World {
        store: std::sync::Arc<dyn Store>,
        cache: MemoryCache,
        signer: Box<dyn josekit::jws::JwsSigner>,
    }

    async fn world() -> World {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let org = Organisation {
            id: "org-1".into(),
            code: "moh".into(),
            name: "Bộ Y tế".into(),
            kind: "ministry".into(),
            created_at: 0,
        };
        store.create_organisation(&org).await.unwrap();
        let key = jwt::generate(Alg::Es256, "rp-1").unwrap();
        let jwks = json!({ "keys": [Value::Object(key.public_jwk.as_ref().clone())] }).to_string();
        let mut c = crate::store::tests::fixtures::client("rp", "org-1");
        c.auth_method = "private_key_jwt".into();
        c.jwks = Some(jwks);
        store.create_client(&c).await.unwrap();
        let mut off = crate::store::tests::fixtures::client("off", "org-1");
        off.status = "disabled".into();
        off.jwks = c.jwks.clone();
        store.create_client(&off).await.unwrap();
        World { store, cache: MemoryCache::new(), signer: jwt::signer_from_der(Alg::Es256, &key.private_der).unwrap() }
    }

    impl World {
        fn sign(&self, typ: &str, claims: Value) -> String {
            jwt::sign(self.signer.as_ref(), "rp-1", typ, &claims).unwrap()
        }

        async fn resolve(&self, query: &str) -> Result<Params, ObjectError> {
            let params = crate::http::params::parse(query.as_bytes()).unwrap();
            resolve(self.store.as_ref(), &self.cache, &NoFetch, ISS, params, NOW).await
        }
    }

    fn good() -> Value {
        json!({ "iss": "rp", "aud": ISS, "exp": NOW + 60, "nbf": NOW - 1, "client_id": "rp",
                "response_type": "code", "scope": "openid", "max_age": 300, "claims": {"userinfo": {"email": null}} })
    }

    fn with(patch: Value) -> Value {
        let mut c = good();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[tokio::test]
    async fn a_signed_object_gives_its_own_parameters() {
        let w = world().await;
        let object = w.sign("oauth-authz-req+jwt", good());
        let p = w.resolve(&format!("client_id=rp&request={object}&scope=openid+phone")).await.unwrap();
        assert_eq!(p.get("scope"), Some("openid"));
        assert_eq!(p.get("max_age"), Some("300"));
        assert_eq!(p.get("claims"), Some(r#"{"userinfo":{"email":null}}"#));
        assert_eq!((p.get("iss"), p.get("exp"), p.get("request")), (None, None, None));
        // An aud list naming us, and typ in its long form, do too.
        let listed = w.sign("application/OAUTH-AUTHZ-REQ+JWT", with(json!({"aud": ["https://other", ISS]})));
        assert!(w.resolve(&format!("client_id=rp&request={listed}")).await.is_ok());
        // Without a request, the query is the request.
        assert_eq!(w.resolve("client_id=rp&scope=openid").await.unwrap().get("scope"), Some("openid"));
    }

    #[tokio::test]
    async fn objects_that_do_not_check_out_are_refused() {
        let w = world().await;
        let object = w.sign("JWT", good());
        let hs256 = {
            use base64::Engine as _;
            let b = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            format!("{}.{}.AAAA", b(json!({"alg": "HS256", "typ": "JWT"})), b(good()))
        };
        let cases = [
            (
                "client_id claim of another",
                format!("client_id=rp&request={}", w.sign("JWT", with(json!({"client_id": "x"})))),
            ),
            ("not valid yet", format!("client_id=rp&request={}", w.sign("JWT", with(json!({"nbf": NOW + 600}))))),
            ("nbf a string", format!("client_id=rp&request={}", w.sign("JWT", with(json!({"nbf": "soon"}))))),
            ("exp a string", format!("client_id=rp&request={}", w.sign("JWT", with(json!({"exp": "later"}))))),
            ("another typ", format!("client_id=rp&request={}", w.sign("at+jwt", good()))),
            (
                "a nested request_uri",
                format!("client_id=rp&request={}", w.sign("JWT", with(json!({"request_uri": "urn:x"})))),
            ),
            ("a nested request", format!("client_id=rp&request={}", w.sign("JWT", with(json!({"request": "a.b.c"}))))),
            ("HS256", format!("client_id=rp&request={hs256}")),
            (
                "a disabled client",
                format!("client_id=off&request={}", w.sign("JWT", with(json!({"iss": "off", "client_id": "off"})))),
            ),
            ("with a request_uri", format!("client_id=rp&request={object}&request_uri=urn:x")),
            ("twice", format!("client_id=rp&request={object}&request={object}")),
            (
                "too large",
                format!("client_id=rp&request={}", w.sign("JWT", with(json!({"state": "s".repeat(MAX_OBJECT)})))),
            ),
            ("no client_id", format!("request={object}")),
        ];
        for (what, query) in &cases {
            assert!(matches!(w.resolve(query).await, Err(ObjectError::Invalid(_))), "{what}");
        }
    }
}
