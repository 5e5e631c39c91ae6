//! DPoP (RFC 9449): tokens bound to a key the client holds. The client
//! signs a short proof for each request (`DPoP` header) with its private
//! key and puts the public key in the proof's header; Motcua binds the
//! access tokens it issues to that key (`cnf.jkt`, its RFC 7638 thumbprint),
//! and a bound token is accepted only with a fresh proof by the same key. A
//! token copied out of a log, a proxy or a phone's backup is then useless
//! without the key.
//!
//! The proof is checked here as RFC 9449 §4.3 lists: one JWT, `typ`
//! `dpop+jwt`, an asymmetric algorithm we support, a public key in `jwk`
//! (no private members), a valid signature by it, `htm` and `htu` naming
//! this request, `iat` within [`WINDOW`] of now, `jti` not seen before
//! (kept in the cache for the life of the window), and `ath` matching the
//! access token when one is presented. Server nonces (§8) are not used:
//! the `iat` window and the replay cache bound a stolen proof instead.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{OAuthError, OAuthErrorCode as E};
use crate::cache::Cache;
use crate::crypto::jwt::{self, Alg};
use crate::crypto::{sha256_b64url, sha256_hex};
use crate::store::Timestamp;

/// How far a proof's `iat` may be from now, either way, in seconds.
pub const WINDOW: i64 = 60;

/// Longest proof read (a proof with an RSA 4096 key is about 1.2 KB).
const MAX_PROOF: usize = 8 * 1024;

/// Algorithms a proof may use (`dpop_signing_alg_values_supported`).
pub const ALGS: [&str; 4] = ["ES256", "EdDSA", "PS256", "RS256"];

/// The `DPoP` header values of a request and what it is.
pub struct ProofRequest<'a> {
    /// Every `DPoP` header value (exactly one is accepted).
    pub headers: Vec<&'a str>,
    /// `htm`: the HTTP method.
    pub method: &'a str,
    /// `htu`: the endpoint's public URL (issuer + path).
    pub url: &'a str,
    /// The access token presented with it, for `ath` (resource requests).
    pub access_token: Option<&'a str>,
}

/// A proof that checked out: the thumbprint of its key, and its `jti` to
/// [`remember`] once the request has shown it is worth a cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 JWK SHA-256 thumbprint, base64url.
    pub jkt: String,
    /// Its `jti`.
    jti: String,
}

/// Whose proof a replay marker is for, and so which share of the
/// in-process cache it may use (see `Cache::put_visitor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prover {
    /// A client that proved who it is with a secret or a key, or the holder
    /// of a live access token.
    Known,
    /// Anyone: a public client authenticates with its `client_id` alone.
    Anyone,
}

fn bad(why: &str) -> OAuthError {
    OAuthError::new(E::InvalidDpopProof, format!("DPoP proof: {why}"))
}

/// Check the request's DPoP proof, if it sent one (`Ok(None)` when it did
/// not). Nothing is written: the caller [`remember`]s the proof once the
/// request has got far enough (a stranger's proofs must not fill the cache).
pub fn check(req: &ProofRequest<'_>, now: Timestamp) -> Result<Option<Proof>, OAuthError> {
    let proof = match req.headers.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(bad("send one DPoP header")),
    };
    if proof.len() > MAX_PROOF || proof.split('.').count() != 3 {
        return Err(bad("not a compact JWS"));
    }
    let header = jwt::segment(proof, 0).ok_or_else(|| bad("unreadable header"))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(bad("typ must be dpop+jwt"));
    }
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    let alg = ALGS.contains(&alg_name).then(|| Alg::parse(alg_name)).flatten().ok_or_else(|| bad("unsupported alg"))?;
    let Some(Value::Object(jwk)) = header.get("jwk") else { return Err(bad("no jwk in the header")) };
    let jkt = thumbprint(alg, jwk)?;
    let verifier = jwt::verifier_from_public_jwk(alg, jwk).map_err(|_| bad("unusable jwk"))?;
    let (_, claims) = jwt::verify(proof, verifier.as_ref()).map_err(|_| bad("bad signature"))?;
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("htm") != Some(req.method) {
        return Err(bad("htm does not match the request method"));
    }
    if !same_uri(s("htu").unwrap_or_default(), req.url) {
        return Err(bad("htu does not match the request URL"));
    }
    let iat = jwt::numeric_date(&claims, "iat").flatten();
    // abs_diff: an `iat` of i64::MIN must not overflow.
    if iat.is_none_or(|t| now.abs_diff(t) > WINDOW.unsigned_abs()) {
        return Err(bad("iat is missing or too far from now"));
    }
    let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or_else(|| bad("no jti"))?;
    if let Some(token) = req.access_token
        && s("ath") != Some(sha256_b64url(token.as_bytes()).as_str())
    {
        return Err(bad("ath does not match the access token"));
    }
    Ok(Some(Proof { jkt, jti: jti.to_owned() }))
}

/// §11.1: each proof once. The marker lives as long as a proof is fresh,
/// keyed by the key as well, so one client cannot use up another's `jti`
/// values; a proof of [`Prover::Anyone`] counts as visitor state.
pub async fn remember(cache: &dyn Cache, proof: &Proof, prover: Prover) -> Result<(), OAuthError> {
    let seen = format!("dpop:{}", sha256_hex(format!("{}\n{}", proof.jkt, proof.jti).as_bytes()));
    let lifetime = Duration::from_secs((2 * WINDOW + super::client_auth::REPLAY_MARGIN).unsigned_abs());
    let fresh = match prover {
        Prover::Known => cache.put_if_absent(&seen, b"1", lifetime).await?,
        Prover::Anyone => cache.put_visitor_if_absent(&seen, b"1", lifetime).await?,
    };
    if fresh { Ok(()) } else { Err(bad("this proof was already used")) }
}

/// RFC 7638 thumbprint of a public JWK fit for `alg`: SHA-256 over the
/// required members in lexicographic order, no whitespace. Written by hand:
/// the few lines below are the whole algorithm, and they also refuse keys
/// that do not suit `alg` or carry private members (§4.3 item 7).
pub fn thumbprint(alg: Alg, jwk: &Map<String, Value>) -> Result<String, OAuthError> {
    const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
    if PRIVATE.iter().any(|m| jwk.contains_key(*m)) {
        return Err(bad("the jwk holds a private key"));
    }
    let m = |name: &str| -> Result<&str, OAuthError> {
        jwk.get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .ok_or_else(|| bad("the jwk does not suit the alg"))
    };
    let kty = m("kty")?;
    let canonical = match (alg, kty) {
        (Alg::Rs256 | Alg::Ps256, "RSA") => {
            // RFC 7518 §3.3: 2048 bits at least (342 base64url characters);
            // at most 4096 (683), and a public exponent of at most 32 bits
            // (65537 is "AQAB"): a huge one would make every check of a
            // forged proof cost a full private-size exponentiation.
            if !(342..=683).contains(&m("n")?.len()) || m("e")?.len() > 6 {
                return Err(bad("RSA keys must have 2048 to 4096 bits and a small public exponent"));
            }
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, m("e")?, m("n")?)
        }
        (Alg::Es256, "EC") if m("crv")? == "P-256" => {
            format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, m("x")?, m("y")?)
        }
        (Alg::EdDsa, "OKP") if m("crv")? == "Ed25519" => {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, m("x")?)
        }
        _ => return Err(bad("the jwk does not suit the alg")),
    };
    Ok(sha256_b64url(canonical.as_bytes()))
}

/// `htu` against the endpoint's URL, without query and fragment (§4.3
/// item 9), after the normalisation `url` applies (scheme and host case,
/// default port).
fn same_uri(htu: &str, expected: &str) -> bool {
    let plain = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    matches!((plain(htu), plain(expected)), (Some(a), Some(b)) if a == b)
}

/// A code or refresh token (`what`) bound to the key `bound` is used only
/// with a proof by that key (`proved`): `invalid_dpop_proof` without a
/// proof, `invalid_grant` with another key's.
pub fn require_key(bound: Option<&str>, proved: Option<&str>, what: &str) -> Result<(), OAuthError> {
    match (bound, proved) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(bad(&format!("this {what} is DPoP-bound: send a proof by its key"))),
        (Some(b), Some(p)) if b == p => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(format!("the {what} is bound to another DPoP key"))),
    }
}

/// The `cnf.jkt` an access token's claims bind it to, if any.
pub fn bound_key(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("cnf")?.get("jkt")?.as_str()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::cache::MemoryCache;

    const URL: &str = "https://id.example.gov.vn/token";
    const NOW: Timestamp = 1_800_000_000;

    struct Key {
        alg: Alg,
        private_der: Vec<u8>,
        public: Map<String, Value>,
    }

    fn key(alg: Alg) -> Key {
        let k = jwt::generate(alg, "k").unwrap();
        let mut public = k.public_jwk.as_ref().clone();
        for m in ["kid", "use", "alg"] {
            public.remove(m);
        }
        Key { alg, private_der: k.private_der, public }
    }

    fn proof(k: &Key, typ: &str, jwk: &Map<String, Value>, claims: Value) -> String {
        let signer = jwt::signer_from_der(k.alg, &k.private_der).unwrap();
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type(typ);
        header.set_claim("jwk", Some(Value::Object(jwk.clone()))).unwrap();
        let payload = serde_json::to_vec(&claims).unwrap();
        josekit::jws::serialize_compact(&payload, &header, signer.as_ref()).unwrap()
    }

    fn good_claims(jti: &str) -> Value {
        json!({ "htm": "POST", "htu": URL, "iat": NOW, "jti": jti })
    }

    /// Check `p` and remember it, as an endpoint does.
    async fn run(cache: &MemoryCache, p: &str, token: Option<&str>) -> Result<Option<Proof>, OAuthError> {
        let req = ProofRequest { headers: vec![p], method: "POST", url: URL, access_token: token };
        let proof = check(&req, NOW)?;
        if let Some(p) = &proof {
            remember(cache, p, Prover::Known).await?;
        }
        Ok(proof)
    }

    #[tokio::test]
    async fn a_proof_by_each_algorithm_binds_its_keys_thumbprint_once() {
        let cache = MemoryCache::default();
        for alg in Alg::ALL {
            let k = key(alg);
            let p = proof(&k, "dpop+jwt", &k.public, good_claims("j1"));
            let got = run(&cache, &p, None).await.unwrap().unwrap();
            assert_eq!(got.jkt, thumbprint(alg, &k.public).unwrap());
            let again = run(&cache, &p, None).await.unwrap_err();
            assert_eq!(again.code, E::InvalidDpopProof, "{alg:?} replay");
        }
        let none = ProofRequest { headers: vec![], method: "POST", url: URL, access_token: None };
        assert_eq!(check(&none, NOW).unwrap(), None);
    }

    #[test]
    fn thumbprints_follow_rfc7638() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk = json!({
            "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        });
        let Value::Object(jwk) = jwk else { unreachable!() };
        assert_eq!(thumbprint(Alg::Rs256, &jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        // The key must suit the algorithm.
        assert!(thumbprint(Alg::Es256, &jwk).is_err());
        let mut private = jwk.clone();
        private.insert("d".into(), json!("AAAA"));
        assert!(thumbprint(Alg::Rs256, &private).is_err());
    }

    #[tokio::test]
    async fn proofs_that_do_not_fit_the_request_are_refused() {
        let cache = MemoryCache::default();
        let k = key(Alg::Es256);
        let other = key(Alg::Es256);
        let with = |patch: Value| {
            let mut c = good_claims("x");
            for (name, v) in patch.as_object().unwrap() {
                c[name] = v.clone();
            }
            c
        };
        let mut with_d = k.public.clone();
        with_d.insert("d".into(), json!("AAAA"));
        let cases = [
            ("typ JWT", proof(&k, "JWT", &k.public, good_claims("a"))),
            ("other key's jwk", proof(&k, "dpop+jwt", &other.public, good_claims("b"))),
            ("private jwk", proof(&k, "dpop+jwt", &with_d, good_claims("c"))),
            ("htm GET", proof(&k, "dpop+jwt", &k.public, with(json!({"htm": "GET", "jti": "d"})))),
            (
                "htu elsewhere",
                proof(
                    &k,
                    "dpop+jwt",
                    &k.public,
                    with(json!({"htu": "https://id.example.gov.vn/userinfo", "jti": "e"})),
                ),
            ),
            ("iat old", proof(&k, "dpop+jwt", &k.public, with(json!({"iat": NOW - WINDOW - 1, "jti": "f"})))),
            ("iat ahead", proof(&k, "dpop+jwt", &k.public, with(json!({"iat": NOW + WINDOW + 1, "jti": "g"})))),
            ("no jti", proof(&k, "dpop+jwt", &k.public, json!({"htm": "POST", "htu": URL, "iat": NOW}))),
            ("iat i64::MIN", proof(&k, "dpop+jwt", &k.public, with(json!({"iat": i64::MIN, "jti": "k"})))),
            ("garbage", "a.b.c".to_owned()),
        ];
        for (name, p) in &cases {
            let e = run(&cache, p, None).await.unwrap_err();
            assert_eq!(e.code, E::InvalidDpopProof, "{name}");
        }
        // The query and fragment of htu are ignored, the host's case too.
        let loose =
            proof(&k, "dpop+jwt", &k.public, with(json!({"htu": "https://ID.example.gov.vn/token?x=1#f", "jti": "h"})));
        assert!(run(&cache, &loose, None).await.unwrap().is_some());
        // With an access token, ath must be its hash.
        let ath = sha256_b64url(b"tok");
        let bound = proof(&k, "dpop+jwt", &k.public, with(json!({"ath": ath, "jti": "i"})));
        assert_eq!(run(&cache, &bound, Some("other")).await.unwrap_err().code, E::InvalidDpopProof);
        let bound = proof(&k, "dpop+jwt", &k.public, with(json!({"ath": ath, "jti": "j"})));
        assert!(run(&cache, &bound, Some("tok")).await.unwrap().is_some());
        // Two headers.
        let two = ProofRequest { headers: vec!["a", "b"], method: "POST", url: URL, access_token: None };
        assert!(check(&two, NOW).is_err());
        // Keys and algorithms a proof may not use.
        let header_alg = |alg: &str, jwk: Value| {
            let head = URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}).to_string());
            let body = URL_SAFE_NO_PAD.encode(good_claims("z").to_string());
            format!("{head}.{body}.AAAA")
        };
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        let rsa = Value::Object(key(Alg::Rs256).public);
        let mut big_e = rsa.clone();
        big_e["e"] = json!("A".repeat(400));
        for (name, p) in [
            ("alg none", header_alg("none", rsa.clone())),
            ("alg HS256", header_alg("HS256", oct.clone())),
            ("an oct key", header_alg("RS256", oct)),
            ("a huge RSA exponent", header_alg("RS256", big_e)),
        ] {
            let req = ProofRequest { headers: vec![&p], method: "POST", url: URL, access_token: None };
            assert_eq!(check(&req, NOW).unwrap_err().code, E::InvalidDpopProof, "{name}");
        }
    }
}
