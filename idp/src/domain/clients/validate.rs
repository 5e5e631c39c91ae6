//! The registration rules, as pure functions: what a client or organisation
//! must look like before it is stored.

use serde_json::Value;
use url::{Host, Url};

use super::{ClientError, NewClient, NewOrganisation, OrganisationError, new_secret};
use crate::crypto::{self, Secret};
use crate::domain::oidc::acr;
use crate::store::{Client, Organisation};

/// Grant types a client may be registered with.
pub const ALLOWED_GRANT_TYPES: &[&str] =
    &["authorization_code", "refresh_token", "client_credentials", crate::domain::oidc::TOKEN_EXCHANGE];
/// Scopes a client may be allowed to request.
pub const ALLOWED_SCOPES: &[&str] =
    &["openid", "profile", "email", "phone", "address", "offline_access", "national_id", "business"];
/// Scopes a client gets when the registration names none. `national_id`
/// is never a default: it must be asked for explicitly.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "address", "offline_access"];
/// ID-token signing algorithms a client may choose.
pub const ALLOWED_SIGNING_ALGS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];
/// Kinds of organisation.
pub const ORGANISATION_KINDS: &[&str] = &["ministry", "province", "agency"];

/// Grant types when the registration names none.
const DEFAULT_GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];
/// Auth methods a confidential client may use.
const CONFIDENTIAL_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "private_key_jwt"];
/// JWK members that carry private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// Longest URI we accept; browsers and proxies start failing past about 2 KB.
const MAX_URI_LEN: usize = 2000;

/// Whether an auth method authenticates with a server-generated secret.
pub(super) fn uses_secret(auth_method: &str) -> bool {
    matches!(auth_method, "client_secret_basic" | "client_secret_post")
}

/// Check every rule and build the client row (fresh `client_id`, and a
/// secret for secret-based methods).
pub(super) fn build_client(
    input: NewClient,
    organisation_id: &str,
    now: i64,
) -> Result<(Client, Option<Secret>), ClientError> {
    let name = display_name(&input.name, 120).ok_or(ClientError::InvalidName)?;
    let public = match input.client_type.as_str() {
        "confidential" => false,
        "public" => true,
        other => return Err(ClientError::InvalidClientType(other.to_owned())),
    };
    let auth_method = auth_method(&input, public)?;
    let grant_types = grant_types(input.grant_types.as_deref(), public)?;
    let scopes = scopes(input.scopes.as_deref())?;

    let redirect_uris = dedup(&input.redirect_uris);
    for uri in &redirect_uris {
        // RFC 6749 §3.1.2: absolute, no fragment; OAuth 2.0 Security BCP
        // (RFC 9700 §2.1): https except loopback, matched exactly.
        check_uri(uri).map_err(|reason| ClientError::InvalidRedirectUri { uri: uri.clone(), reason })?;
    }
    if grant_types.iter().any(|g| g == "authorization_code") && redirect_uris.is_empty() {
        return Err(ClientError::MissingRedirectUri);
    }
    // OIDC Core §8: the subject type, and for pairwise the sector its subjects are computed over.
    let subjects =
        super::sector::settings(input.subject_type, input.sector_identifier_uri, &redirect_uris, organisation_id)?;
    let post_logout_redirect_uris = dedup(&input.post_logout_redirect_uris);
    for uri in &post_logout_redirect_uris {
        // OIDC RP-Initiated Logout §3: registered, exactly matched; same rules.
        check_uri(uri).map_err(|reason| ClientError::InvalidPostLogoutUri { uri: uri.clone(), reason })?;
    }

    let signing_alg = input.signing_alg.unwrap_or_else(|| "RS256".to_owned());
    if !ALLOWED_SIGNING_ALGS.contains(&signing_alg.as_str()) {
        return Err(ClientError::InvalidSigningAlg(signing_alg));
    }
    // RFC 9068 leaves the access token's algorithm to the server; empty
    // (from an update) goes back to the ID token's.
    let access_token_alg = input.access_token_alg.filter(|a| !a.is_empty());
    if let Some(alg) = &access_token_alg
        && !ALLOWED_SIGNING_ALGS.contains(&alg.as_str())
    {
        return Err(ClientError::InvalidAccessTokenAlg(alg.clone()));
    }

    let (jwks, jwks_uri) = client_keys(input.jwks.as_ref(), input.jwks_uri)?;
    if auth_method == "private_key_jwt" && jwks.is_none() && jwks_uri.is_none() {
        return Err(ClientError::MissingJwks);
    }

    // OAuth 2.0 Security BCP (RFC 9700 §2.1.1): PKCE is mandatory for public clients.
    let require_pkce = match (public, input.require_pkce) {
        (true, Some(false)) => return Err(ClientError::PkceRequired),
        (_, explicit) => explicit.unwrap_or(true),
    };

    // DESIGN §3: the names the portal's relying parties already send.
    let minimum_acr = input.minimum_acr.unwrap_or_else(|| acr::LOA1.to_owned());
    if !acr::SUPPORTED.contains(&minimum_acr.as_str()) {
        return Err(ClientError::InvalidMinimumAcr(minimum_acr));
    }

    // Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2: absolute, no
    // fragment; https except loopback (the redirect URI rules). An empty
    // string (from an update) removes the URI.
    let backchannel_logout_uri = logout_uri(input.backchannel_logout_uri)?;
    let frontchannel_logout_uri = logout_uri(input.frontchannel_logout_uri)?;

    let secret = uses_secret(&auth_method).then(new_secret);
    let client = Client {
        client_id: crypto::random_id(),
        organisation_id: organisation_id.to_owned(),
        name,
        client_type: input.client_type,
        auth_method,
        secret_hash: secret.as_ref().map(|s| crypto::sha256_hex(s.expose().as_bytes())),
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        signing_alg,
        jwks,
        jwks_uri,
        require_pkce,
        status: "active".to_owned(),
        created_at: now,
        updated_at: now,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        minimum_acr,
        backchannel_logout_uri,
        frontchannel_logout_uri,
        subject_type: subjects.subject_type,
        sector_identifier: subjects.sector_identifier,
        sector_identifier_uri: subjects.sector_identifier_uri,
        business_self_allowed: input.business_self_allowed.unwrap_or(false),
        access_token_alg,
        require_par: input.require_pushed_authorization_requests.unwrap_or(false),
        dpop_bound: input.dpop_bound_access_tokens.unwrap_or(false),
    };
    Ok((client, secret))
}

/// A logout URI, checked like a redirect URI; `""` means none.
fn logout_uri(given: Option<String>) -> Result<Option<String>, ClientError> {
    match given {
        None => Ok(None),
        Some(uri) if uri.is_empty() => Ok(None),
        Some(uri) => match check_uri(&uri) {
            Ok(()) => Ok(Some(uri)),
            Err(reason) => Err(ClientError::InvalidLogoutUri { uri, reason }),
        },
    }
}

/// The auth method, defaulted by client type and checked against it.
fn auth_method(input: &NewClient, public: bool) -> Result<String, ClientError> {
    let (default, allowed, allowed_text) = if public {
        // RFC 6749 §2.1: a public client cannot keep a credential.
        ("none", &["none"][..], "none")
    } else {
        ("client_secret_basic", CONFIDENTIAL_METHODS, "client_secret_basic, client_secret_post, private_key_jwt")
    };
    let method = input.auth_method.clone().unwrap_or_else(|| default.to_owned());
    if allowed.contains(&method.as_str()) {
        Ok(method)
    } else {
        Err(ClientError::InvalidAuthMethod { method, client_type: input.client_type.clone(), allowed: allowed_text })
    }
}

/// Grant types, defaulted, deduplicated and checked.
fn grant_types(given: Option<&[String]>, public: bool) -> Result<Vec<String>, ClientError> {
    let grants = match given {
        None => DEFAULT_GRANT_TYPES.iter().map(|g| (*g).to_owned()).collect(),
        Some([]) => return Err(ClientError::NoGrantTypes),
        Some(list) => dedup(list),
    };
    if let Some(bad) = grants.iter().find(|g| !ALLOWED_GRANT_TYPES.contains(&g.as_str())) {
        return Err(ClientError::InvalidGrantType(bad.clone()));
    }
    let has = |g: &str| grants.iter().any(|x| x == g);
    // Both grants need a client that can authenticate (RFC 8693 §2.1 lets the
    // server demand it; a public client could exchange any token it saw).
    if public && (has("client_credentials") || has(crate::domain::oidc::TOKEN_EXCHANGE)) {
        return Err(ClientError::PublicClientCredentials);
    }
    // Refresh tokens are only issued from an authorization code exchange.
    if has("refresh_token") && !has("authorization_code") {
        return Err(ClientError::RefreshWithoutCode);
    }
    Ok(grants)
}

/// Allowed scopes, defaulted, deduplicated and checked.
fn scopes(given: Option<&[String]>) -> Result<Vec<String>, ClientError> {
    let scopes = match given {
        None => DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        Some([]) => return Err(ClientError::NoScopes),
        Some(list) => dedup(list),
    };
    if let Some(bad) = scopes.iter().find(|s| !ALLOWED_SCOPES.contains(&s.as_str())) {
        return Err(ClientError::InvalidScope(bad.clone()));
    }
    Ok(scopes)
}

/// `jwks` (as stored JSON text) and `jwks_uri`, each checked; not both.
fn client_keys(
    jwks: Option<&Value>,
    jwks_uri: Option<String>,
) -> Result<(Option<String>, Option<String>), ClientError> {
    // OIDC Dynamic Client Registration §2: jwks and jwks_uri MUST NOT both be present.
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(ClientError::JwksAndJwksUri);
    }
    if let Some(uri) = &jwks_uri {
        check_uri(uri).map_err(|reason| ClientError::InvalidJwksUri { uri: uri.clone(), reason })?;
    }
    let jwks = jwks.map(check_jwks).transpose()?;
    Ok((jwks, jwks_uri))
}

/// A public JWKS (RFC 7517 §5): an object with a non-empty `keys` array of
/// JWKs, none carrying private or symmetric key material. Returns it as JSON text.
pub(super) fn check_jwks(jwks: &Value) -> Result<String, ClientError> {
    let invalid = |why: String| ClientError::InvalidJwks(why);
    let obj = jwks.as_object().ok_or_else(|| invalid("it must be a JSON object".into()))?;
    let keys =
        obj.get("keys").and_then(Value::as_array).ok_or_else(|| invalid("it must have a \"keys\" array".into()))?;
    if keys.is_empty() {
        return Err(invalid("the \"keys\" array is empty".into()));
    }
    for (i, key) in keys.iter().enumerate() {
        let key = key.as_object().ok_or_else(|| invalid(format!("key {i} is not an object")))?;
        if key.get("kty").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(invalid(format!("key {i} has no \"kty\"")));
        }
        // A private key pasted by mistake must not be stored: refuse it.
        if PRIVATE_JWK_MEMBERS.iter().any(|m| key.contains_key(*m)) {
            return Err(invalid(format!(
                "key {i} contains private or symmetric key material: register public keys only"
            )));
        }
    }
    serde_json::to_string(jwks).map_err(|e| invalid(e.to_string()))
}

/// Rules for every URI a client registers (redirect, post-logout, jwks_uri):
/// absolute, no fragment, no user info, https — or http on a loopback host
/// (RFC 8252 §7.3). The reason is the end of an error sentence.
pub(super) fn check_uri(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("is empty");
    }
    if raw.len() > MAX_URI_LEN {
        return Err("is longer than 2000 characters");
    }
    // The stored text is compared exactly and sent back to browsers, so it
    // must be the text a URL parser would not rewrite in surprising ways.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
        return Err("must not contain spaces, control characters or backslashes");
    }
    // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component.
    if raw.contains('#') {
        return Err("must not contain a fragment (#)");
    }
    let url = Url::parse(raw).map_err(|_| "is not an absolute URI")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password");
    }
    let https = raw.starts_with("https://") && url.scheme() == "https";
    let http = raw.starts_with("http://") && url.scheme() == "http";
    if https && url.host().is_some() {
        return Ok(());
    }
    if http {
        let loopback = match url.host() {
            Some(Host::Domain(d)) => d == "localhost",
            Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
            None => false,
        };
        if loopback {
            return Ok(());
        }
        return Err("must use https (http is allowed only for localhost, 127.0.0.1 and [::1])");
    }
    Err("must be an https:// URI (or http:// on localhost, 127.0.0.1 or [::1])")
}

/// Check and build an organisation row with a fresh id.
pub(super) fn build_organisation(input: NewOrganisation, now: i64) -> Result<Organisation, OrganisationError> {
    let code_ok = (2..=32).contains(&input.code.len())
        && input.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !code_ok {
        return Err(OrganisationError::InvalidCode(input.code));
    }
    let name = display_name(&input.name, 200).ok_or(OrganisationError::InvalidName)?;
    if !ORGANISATION_KINDS.contains(&input.kind.as_str()) {
        return Err(OrganisationError::InvalidKind(input.kind));
    }
    Ok(Organisation { id: crypto::random_id(), code: input.code, name, kind: input.kind, created_at: now })
}

/// A trimmed display name of 1..=`max` characters without control characters.
fn display_name(raw: &str, max: usize) -> Option<String> {
    let name = raw.trim();
    let len = name.chars().count();
    ((1..=max).contains(&len) && !name.chars().any(char::is_control)).then(|| name.to_owned())
}

/// The list without repeats, first occurrence kept.
fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}
