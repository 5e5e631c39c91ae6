//! JWS through josekit (OpenSSL): key generation, signing and verification.
//! The `rsa` crate's private-key operations are never used (RUSTSEC-2023-0071).

use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::alg::ecdsa::EcdsaJwsAlgorithm;
use josekit::jws::alg::eddsa::EddsaJwsAlgorithm;
use josekit::jws::alg::rsassa::RsassaJwsAlgorithm;
use josekit::jws::alg::rsassa_pss::RsassaPssJwsAlgorithm;
use josekit::jws::{JwsHeader, JwsSigner, JwsVerifier};
use serde_json::Value;

/// A JWS failure. The text is for logs; clients see a protocol error.
#[derive(Debug, thiserror::Error)]
#[error("jws: {0}")]
pub struct JwsError(pub String);

impl From<josekit::JoseError> for JwsError {
    fn from(e: josekit::JoseError) -> Self {
        Self(e.to_string())
    }
}

/// Signing algorithms Motcua can hold keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048- or 3072-bit keys).
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every algorithm, in the order discovery lists them.
    pub const ALL: [Alg; 4] = [Alg::Rs256, Alg::Es256, Alg::Ps256, Alg::EdDsa];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// Parse a JOSE name.
    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A freshly generated key: PKCS#8 DER private key and public JWK (with kid, use, alg).
pub struct GeneratedKey {
    /// DER of the private key; encrypt before storing.
    pub private_der: Vec<u8>,
    /// Public JWK.
    pub public_jwk: Jwk,
}

/// RSA modulus sizes Motcua generates (`rsa_key_bits`).
pub const RSA_KEY_BITS: [u32; 2] = [2048, 3072];

/// Generate a key pair for `alg` with key id `kid` (2048-bit RSA).
pub fn generate(alg: Alg, kid: &str) -> Result<GeneratedKey, JwsError> {
    generate_with_bits(alg, kid, 2048)
}

/// Generate a key pair for `alg` with key id `kid`; RSA keys (RS256, PS256)
/// get a `rsa_bits` modulus, which must be one of [`RSA_KEY_BITS`].
pub fn generate_with_bits(alg: Alg, kid: &str, rsa_bits: u32) -> Result<GeneratedKey, JwsError> {
    if !RSA_KEY_BITS.contains(&rsa_bits) {
        return Err(JwsError(format!("unsupported RSA key size {rsa_bits}")));
    }
    let (private_der, mut public_jwk) = match alg {
        Alg::Rs256 => {
            let kp = josekit::jws::RS256.generate_key_pair(rsa_bits)?;
            (kp.to_der_private_key(), kp.to_jwk_public_key())
        }
        Alg::Ps256 => {
            let kp = josekit::jws::PS256.generate_key_pair(rsa_bits)?;
            (kp.to_der_private_key(), kp.to_jwk_public_key())
        }
        Alg::Es256 => {
            let kp = josekit::jws::ES256.generate_key_pair()?;
            (kp.to_der_private_key(), kp.to_jwk_public_key())
        }
        Alg::EdDsa => {
            let kp = josekit::jws::EdDSA.generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)?;
            (kp.to_der_private_key(), kp.to_jwk_public_key())
        }
    };
    public_jwk.set_key_id(kid);
    public_jwk.set_key_use("sig");
    public_jwk.set_algorithm(alg.as_str());
    Ok(GeneratedKey { private_der, public_jwk })
}

/// A signer for a stored private key.
pub fn signer_from_der(alg: Alg, der: &[u8]) -> Result<Box<dyn JwsSigner>, JwsError> {
    Ok(match alg {
        Alg::Rs256 => Box::new(josekit::jws::RS256.signer_from_der(der)?),
        Alg::Ps256 => Box::new(josekit::jws::PS256.signer_from_der(der)?),
        Alg::Es256 => Box::new(josekit::jws::ES256.signer_from_der(der)?),
        Alg::EdDsa => Box::new(josekit::jws::EdDSA.signer_from_der(der)?),
    })
}

/// A verifier for a public JWK, for the algorithm `alg` (which must suit the key type).
pub fn verifier_from_jwk(alg: Alg, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JwsError> {
    let rsa = |a: &RsassaJwsAlgorithm| a.verifier_from_jwk(jwk).map(|v| Box::new(v) as Box<dyn JwsVerifier>);
    let pss = |a: &RsassaPssJwsAlgorithm| a.verifier_from_jwk(jwk).map(|v| Box::new(v) as Box<dyn JwsVerifier>);
    let ec = |a: &EcdsaJwsAlgorithm| a.verifier_from_jwk(jwk).map(|v| Box::new(v) as Box<dyn JwsVerifier>);
    let ed = |a: &EddsaJwsAlgorithm| a.verifier_from_jwk(jwk).map(|v| Box::new(v) as Box<dyn JwsVerifier>);
    Ok(match alg {
        Alg::Rs256 => rsa(&josekit::jws::RS256)?,
        Alg::Ps256 => pss(&josekit::jws::PS256)?,
        Alg::Es256 => ec(&josekit::jws::ES256)?,
        Alg::EdDsa => ed(&josekit::jws::EdDSA)?,
    })
}

/// A verifier for one of our own public JWKs as the store keeps it (a JSON
/// object), for the algorithm `alg`. The key is rebuilt from its members with
/// OpenSSL and handed to josekit as DER, not parsed with `Jwk::from_map`:
/// josekit checks EC and OKP members with a regular expression, and the first
/// use compiles it, which would keep the regex engine resident (over half a
/// megabyte of idle memory) for a check our own stored keys never need.
pub fn verifier_from_public_jwk(
    alg: Alg,
    jwk: &serde_json::Map<String, Value>,
) -> Result<Box<dyn JwsVerifier>, JwsError> {
    use openssl::bn::BigNum;
    use openssl::pkey::{Id, PKey, Public};
    let member = |name: &str| -> Result<Vec<u8>, JwsError> {
        use base64::Engine as _;
        let text = jwk.get(name).and_then(Value::as_str).ok_or_else(|| JwsError(format!("JWK has no {name}")))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|e| JwsError(format!("JWK {name}: {e}")))
    };
    let ssl = |e: openssl::error::ErrorStack| JwsError(e.to_string());
    let bn = |bytes: Vec<u8>| BigNum::from_slice(&bytes).map_err(ssl);
    let key: PKey<Public> = match alg {
        Alg::Rs256 | Alg::Ps256 => {
            let rsa = openssl::rsa::Rsa::from_public_components(bn(member("n")?)?, bn(member("e")?)?).map_err(ssl)?;
            PKey::from_rsa(rsa).map_err(ssl)?
        }
        Alg::Es256 => {
            let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).map_err(ssl)?;
            let (x, y) = (bn(member("x")?)?, bn(member("y")?)?);
            let ec = openssl::ec::EcKey::from_public_key_affine_coordinates(&group, &x, &y).map_err(ssl)?;
            ec.check_key().map_err(ssl)?;
            PKey::from_ec_key(ec).map_err(ssl)?
        }
        Alg::EdDsa => PKey::public_key_from_raw_bytes(&member("x")?, Id::ED25519).map_err(ssl)?,
    };
    let der = key.public_key_to_der().map_err(ssl)?;
    Ok(match alg {
        Alg::Rs256 => Box::new(josekit::jws::RS256.verifier_from_der(&der)?),
        Alg::Ps256 => Box::new(josekit::jws::PS256.verifier_from_der(&der)?),
        Alg::Es256 => Box::new(josekit::jws::ES256.verifier_from_der(&der)?),
        Alg::EdDsa => Box::new(josekit::jws::EdDSA.verifier_from_der(&der)?),
    })
}

/// Sign `claims` as a compact JWS with header `kid` and `typ` (`JWT`, `at+jwt`, `logout+jwt`).
pub fn sign(signer: &dyn JwsSigner, kid: &str, typ: &str, claims: &Value) -> Result<String, JwsError> {
    let mut header = JwsHeader::new();
    header.set_key_id(kid);
    header.set_token_type(typ);
    let payload = serde_json::to_vec(claims).map_err(|e| JwsError(e.to_string()))?;
    Ok(josekit::jws::serialize_compact(&payload, &header, signer)?)
}

/// The header of a compact JWS, without verifying anything (to pick a key).
pub fn peek_header(token: &str) -> Result<JwsHeader, JwsError> {
    let map = segment(token, 0).ok_or_else(|| JwsError("the header is not base64url JSON".into()))?;
    Ok(JwsHeader::from_map(map)?)
}

/// Segment `n` of a compact JWS (0 the header, 1 the claims) as a JSON
/// object, unverified: to find the key to check it with, or to refuse it
/// cheaply before any key is looked up.
pub fn segment(token: &str, n: usize) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(n)?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether a JWT's `aud` (one string or a list, RFC 7519 §4.1.3) names an
/// audience `accepted` takes.
pub fn names_audience(claims: &serde_json::Map<String, Value>, accepted: impl Fn(&str) -> bool) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => accepted(a),
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str().is_some_and(&accepted)),
        _ => false,
    }
}

/// The one audience a JWT names: `aud` as a string, or an array of exactly
/// one. A client assertion must name us alone (draft-ietf-oauth-rfc7523bis
/// §4): one that also names another server may have been made for that
/// server, which could replay it here ("audience injection").
pub fn sole_audience(claims: &serde_json::Map<String, Value>) -> Option<&str> {
    match claims.get("aud") {
        Some(Value::String(a)) => Some(a),
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
}

/// A NumericDate claim (RFC 7519 §2; a fraction, which some libraries
/// write, is rounded down): `None` when absent, `Some(None)` when it is not
/// a number.
pub fn numeric_date(claims: &serde_json::Map<String, Value>, name: &str) -> Option<Option<i64>> {
    claims.get(name).map(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
}

/// The `kid` of a compact JWS we signed (to record which key signed a grant's tokens).
pub fn key_id(token: &str) -> Option<String> {
    peek_header(token).ok().and_then(|h| h.key_id().map(str::to_owned))
}

/// Verify a compact JWS with `verifier`; returns the claims object.
pub fn verify(
    token: &str,
    verifier: &dyn JwsVerifier,
) -> Result<(JwsHeader, serde_json::Map<String, Value>), JwsError> {
    if token.len() > 16 * 1024 || token.split('.').count() != 3 {
        return Err(JwsError("not a compact JWS".into()));
    }
    let (payload, header) = josekit::jws::deserialize_compact(token, verifier)?;
    let claims = serde_json::from_slice(&payload).map_err(|e| JwsError(e.to_string()))?;
    Ok((header, claims))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_alg_signs_and_verifies() {
        for alg in Alg::ALL {
            let key = generate(alg, "k1").unwrap();
            let signer = signer_from_der(alg, &key.private_der).unwrap();
            let token = sign(signer.as_ref(), "k1", "JWT", &serde_json::json!({"sub": "a"})).unwrap();
            let head = peek_header(&token).unwrap();
            assert_eq!(head.key_id(), Some("k1"));
            assert_eq!(head.algorithm(), Some(alg.as_str()));
            let verifier = verifier_from_jwk(alg, &key.public_jwk).unwrap();
            let (_, claims) = verify(&token, verifier.as_ref()).unwrap();
            assert_eq!(claims["sub"], "a");
            let other = generate(alg, "k2").unwrap();
            let wrong = verifier_from_jwk(alg, &other.public_jwk).unwrap();
            assert!(verify(&token, wrong.as_ref()).is_err());
            // The keyring's route: the stored JSON, rebuilt through OpenSSL.
            let stored = |k: &GeneratedKey| serde_json::from_str(&k.public_jwk.to_string()).unwrap();
            let verifier = verifier_from_public_jwk(alg, &stored(&key)).unwrap();
            assert_eq!(verify(&token, verifier.as_ref()).unwrap().1["sub"], "a");
            let wrong = verifier_from_public_jwk(alg, &stored(&other)).unwrap();
            assert!(verify(&token, wrong.as_ref()).is_err());
            assert_eq!(key.public_jwk.key_use(), Some("sig"));
        }
    }

    #[test]
    fn rsa_keys_come_in_2048_and_3072_bits() {
        use base64::Engine as _;
        for (alg, bits) in [(Alg::Rs256, 3072), (Alg::Ps256, 2048)] {
            let key = generate_with_bits(alg, "k", bits).unwrap();
            let n = key.public_jwk.parameter("n").and_then(Value::as_str).unwrap();
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n).unwrap();
            assert_eq!(n.len() * 8, bits as usize);
        }
        assert!(generate_with_bits(Alg::Rs256, "k", 1024).is_err());
    }
}
