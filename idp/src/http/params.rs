//! Strict parameter parsing for the protocol endpoints. Hand-written because
//! serde_urlencoded silently keeps the last of repeated names and replaces
//! invalid UTF-8, while RFC 6749 §3.1 forbids repeats and a protocol
//! endpoint must refuse malformed input rather than guess.

use std::collections::BTreeMap;

use percent_encoding::percent_decode;

use crate::domain::oidc::{OAuthError, Params};

/// Most parameters a request may carry.
const MAX_PARAMS: usize = 64;

/// Parse `application/x-www-form-urlencoded` text (a query string or a body).
pub fn parse(input: &[u8]) -> Result<Params, OAuthError> {
    let mut map = BTreeMap::new();
    let mut duplicated = Vec::new();
    for (n, pair) in input.split(|b| *b == b'&').filter(|p| !p.is_empty()).enumerate() {
        if n >= MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let key = decode(k)?;
        let value = decode(v)?;
        if map.contains_key(&key) {
            if !duplicated.contains(&key) {
                duplicated.push(key);
            }
            continue;
        }
        // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        if !value.is_empty() {
            map.insert(key, value);
        } else {
            map.insert(key, String::new());
        }
    }
    map.retain(|_, v| !v.is_empty());
    Ok(Params { map, duplicated })
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    // No protocol value holds a NUL, and PostgreSQL text cannot: a lookup by
    // one would fail in the database (a 500) instead of finding nothing.
    if bytes.contains(&0) {
        return Err(OAuthError::invalid_request("parameters must not contain NUL characters"));
    }
    String::from_utf8(bytes).map_err(|_| OAuthError::invalid_request("parameters must be UTF-8"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing() {
        let p = parse(b"a=1&b=x+y%21&c=&a=2").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y!"));
        assert_eq!(p.get("c"), None);
        assert!(p.is_duplicated("a"));
        assert!(parse(b"a=%FF").is_err());
        assert!(parse(b"client_id=%C3%A9").is_ok());
        assert!(parse(b"client_id=%00").is_err());
        assert!(parse(b"a%00=1").is_err());
    }
}
