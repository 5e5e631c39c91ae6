//! Raw OAuth requests, for the cases a well-behaved client library refuses to send.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

/// What an endpoint answered: status, headers and the body (parsed as JSON when it is JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub json: Value,
}

impl Reply {
    /// The `error` member of a JSON error body (RFC 6749 §5.2), or `""`.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// A header's value as text, or `""`.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Fails the test unless the status is 200; returns the JSON body.
    pub fn ok_json(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        &self.json
    }
}

/// Client authentication for a raw request.
#[derive(Clone, Copy, Debug)]
pub enum ClientAuth<'a> {
    /// No client authentication at all.
    None,
    /// `client_secret_basic` (RFC 6749 §2.3.1: both parts form-urlencoded, then Base64).
    Basic(&'a str, &'a str),
}

/// Sends `POST url` with an `application/x-www-form-urlencoded` body built from `params`
/// (duplicates kept as given).
pub fn post_form(http: &reqwest::blocking::Client, url: &Url, auth: ClientAuth<'_>, params: &[(&str, &str)]) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    post_raw(http, url, auth, body.into_bytes())
}

/// Sends `POST url` with the given bytes as a form body, unchecked.
pub fn post_raw(http: &reqwest::blocking::Client, url: &Url, auth: ClientAuth<'_>, body: Vec<u8>) -> Reply {
    let mut req = http.post(url.clone()).header("content-type", "application/x-www-form-urlencoded").body(body);
    if let ClientAuth::Basic(id, secret) = auth {
        req = req.header("authorization", basic_auth(id, secret));
    }
    reply(req.send().expect("send request"))
}

/// Reads a response into a [`Reply`].
pub fn reply(resp: reqwest::blocking::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().expect("read body");
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    Reply { status, headers, body, json }
}

/// The `Authorization` header value for `client_secret_basic`.
pub fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// A JWT's header, decoded without verification.
pub fn jwt_header(jwt: &str) -> Value {
    jwt_segment(jwt, 0)
}

/// A JWT's payload, decoded without verification.
pub fn jwt_payload(jwt: &str) -> Value {
    jwt_segment(jwt, 1)
}

fn jwt_segment(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap_or_else(|| panic!("not a JWT: {jwt}"));
    let bytes =
        URL_SAFE_NO_PAD.decode(part).unwrap_or_else(|e| panic!("JWT segment {index} is not base64url ({e}): {jwt}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT segment {index} not JSON: {e}"))
}

/// The first value of a query parameter.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A fresh PKCE pair `(verifier, S256 challenge)` (RFC 7636 §4.1, §4.2).
pub fn pkce_pair() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_owned())
}

/// Verifies a JWT's signature against the issuer's JWKS (picked by `kid`) and returns its
/// payload. Motcua signs with RS256, PS256, ES256 and EdDSA.
pub fn verify_with_jwks(jwt: &str, jwks: &Value) -> Value {
    use josekit::jws::{ES256, EdDSA, JwsVerifier, PS256, RS256};
    let header = jwt_header(jwt);
    let kid = header["kid"].as_str().expect("JWT header has a kid");
    let key = jwks["keys"]
        .as_array()
        .expect("JWKS has keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in JWKS {jwks}"));
    let jwk = josekit::jwk::Jwk::from_bytes(key.to_string()).expect("parse JWK");
    let verifier: Box<dyn JwsVerifier> = match header["alg"].as_str() {
        Some("RS256") => Box::new(RS256.verifier_from_jwk(&jwk).expect("RS256 verifier")),
        Some("ES256") => Box::new(ES256.verifier_from_jwk(&jwk).expect("ES256 verifier")),
        Some("PS256") => Box::new(PS256.verifier_from_jwk(&jwk).expect("PS256 verifier")),
        Some("EdDSA") => Box::new(EdDSA.verifier_from_jwk(&jwk).expect("EdDSA verifier")),
        other => panic!("unexpected JWT alg {other:?}"),
    };
    let (payload, _) = josekit::jwt::decode_with_verifier(jwt, verifier.as_ref())
        .unwrap_or_else(|e| panic!("JWT signature does not verify against the JWKS: {e}"));
    Value::Object(payload.claims_set().clone())
}
