//! Client (relying party) registration, secrets and the organisations that
//! own clients.
//!
//! The rules a registration must satisfy are pure functions in [`validate`];
//! this file adds the store round trips. Client secrets are 256-bit random
//! values generated here, stored as SHA-256 (hex) and returned exactly once.

mod sector;
#[cfg(test)]
mod tests;
mod update;
mod validate;

use serde::Deserialize;

use crate::crypto::{self, Secret};
use crate::store::{Client, Organisation, Store, StoreError};

pub use sector::DocumentFetcher;
pub use update::{ClientUpdate, update};
pub use validate::{ALLOWED_GRANT_TYPES, ALLOWED_SCOPES, ALLOWED_SIGNING_ALGS, DEFAULT_SCOPES, ORGANISATION_KINDS};

/// A registration request, as the admin API body carries it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Display name shown on the consent page.
    pub name: String,
    /// Owning organisation, by id or code.
    pub organisation: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// Defaults to `client_secret_basic` (confidential) or `none` (public).
    #[serde(default)]
    pub auth_method: Option<String>,
    /// Exact-match redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Exact-match post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Defaults to `authorization_code` and `refresh_token`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Defaults to [`DEFAULT_SCOPES`].
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// `RS256` (default), `PS256`, `ES256` or `EdDSA`: the ID tokens', and
    /// the access tokens' unless `access_token_alg` says otherwise.
    #[serde(default)]
    pub signing_alg: Option<String>,
    /// The access tokens' algorithm, from the same list, when the client's
    /// APIs want another than its ID tokens (an ES256 signature is 86
    /// characters instead of RS256's 342, and far cheaper to make). Empty
    /// or absent: the same as `signing_alg`.
    #[serde(default)]
    pub access_token_alg: Option<String>,
    /// The client's public keys as a JWKS object (for `private_key_jwt`).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Where to fetch the client's JWKS instead.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Defaults to true; public clients cannot turn it off.
    #[serde(default)]
    pub require_pkce: Option<bool>,
    /// The weakest `acr` the client accepts: `LoA1` (default) or `LoA2`.
    #[serde(default)]
    pub minimum_acr: Option<String>,
    /// Back-Channel Logout 1.0 §2.2 endpoint.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0 §2 page.
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    /// OIDC Core §8: `public` (the default) or `pairwise`.
    #[serde(default)]
    pub subject_type: Option<String>,
    /// OIDC Registration §5: a JSON array of redirect URIs whose host is the
    /// client's sector (pairwise clients only).
    #[serde(default)]
    pub sector_identifier_uri: Option<String>,
    /// With the `business` scope, whether the citizen may choose to act as
    /// themself (default false).
    #[serde(default)]
    pub business_self_allowed: Option<bool>,
    /// RFC 9126 §5: whether the client must push its authorization
    /// requests (default false).
    #[serde(default)]
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 9449 §5.2: whether every token request must carry a DPoP proof
    /// (default false).
    #[serde(default)]
    pub dpop_bound_access_tokens: Option<bool>,
}

/// Why a client operation failed. `Display` is the sentence the admin reads.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 400 `invalid_request`: the name is empty, too long or has control characters.
    #[error("the client name must be 1 to 120 characters, without control characters")]
    InvalidName,
    /// 400 `invalid_request`: the body names an organisation that does not exist.
    #[error("no organisation with id or code {0:?}")]
    UnknownOrganisation(String),
    /// 400 `invalid_request`: `client_type` is neither `confidential` nor `public`.
    #[error("client_type must be \"confidential\" or \"public\", not {0:?}")]
    InvalidClientType(String),
    /// 400 `invalid_request`: the auth method is unknown or does not fit the client type.
    #[error("auth_method {method:?} is not allowed for a {client_type} client (allowed: {allowed})")]
    InvalidAuthMethod {
        /// What was asked for.
        method: String,
        /// `confidential` or `public`.
        client_type: String,
        /// The methods that type may use.
        allowed: &'static str,
    },
    /// 400 `invalid_request`: a grant type outside the allowed list.
    #[error("unknown grant type {0:?} (allowed: {allowed})", allowed = ALLOWED_GRANT_TYPES.join(", "))]
    InvalidGrantType(String),
    /// 400 `invalid_request`: `grant_types` was given but empty.
    #[error("grant_types must not be empty")]
    NoGrantTypes,
    /// 400 `invalid_request`: a public client asked for `client_credentials`.
    #[error("a public client cannot use the client_credentials or token-exchange grant: it has no credentials")]
    PublicClientCredentials,
    /// 400 `invalid_request`: `refresh_token` without `authorization_code` could never be used.
    #[error("the refresh_token grant needs the authorization_code grant too")]
    RefreshWithoutCode,
    /// 400 `invalid_request`: a scope outside the allowed list.
    #[error("unknown scope {0:?} (allowed: {allowed})", allowed = ALLOWED_SCOPES.join(", "))]
    InvalidScope(String),
    /// 400 `invalid_request`: `scopes` was given but empty.
    #[error("scopes must not be empty")]
    NoScopes,
    /// 400 `invalid_request`: a redirect URI breaks a rule; the reason says which.
    #[error("redirect URI {uri:?} {reason}")]
    InvalidRedirectUri {
        /// The URI as given.
        uri: String,
        /// What is wrong, as the end of a sentence.
        reason: &'static str,
    },
    /// 400 `invalid_request`: the authorization_code grant needs a redirect URI.
    #[error("at least one redirect URI is needed for the authorization_code grant")]
    MissingRedirectUri,
    /// 400 `invalid_request`: a post-logout redirect URI breaks a rule.
    #[error("post-logout redirect URI {uri:?} {reason}")]
    InvalidPostLogoutUri {
        /// The URI as given.
        uri: String,
        /// What is wrong, as the end of a sentence.
        reason: &'static str,
    },
    /// 400 `invalid_request`: a back- or front-channel logout URI breaks a rule.
    #[error("logout URI {uri:?} {reason}")]
    InvalidLogoutUri {
        /// The URI as given.
        uri: String,
        /// What is wrong, as the end of a sentence.
        reason: &'static str,
    },
    /// 400 `invalid_request`: `signing_alg` is not `RS256`, `PS256`, `ES256` or `EdDSA`.
    #[error("signing_alg must be RS256, PS256, ES256 or EdDSA, not {0:?}")]
    InvalidSigningAlg(String),
    /// 400 `invalid_request`: `access_token_alg` is none of those either.
    #[error("access_token_alg must be RS256, PS256, ES256 or EdDSA, not {0:?}")]
    InvalidAccessTokenAlg(String),
    /// 400 `invalid_request`: `jwks` is not a usable public JWKS; the text says why.
    #[error("invalid jwks: {0}")]
    InvalidJwks(String),
    /// 400 `invalid_request`: `jwks_uri` breaks a rule.
    #[error("jwks_uri {uri:?} {reason}")]
    InvalidJwksUri {
        /// The URI as given.
        uri: String,
        /// What is wrong, as the end of a sentence.
        reason: &'static str,
    },
    /// 400 `invalid_request`: both `jwks` and `jwks_uri` were given.
    #[error("give either jwks or jwks_uri, not both")]
    JwksAndJwksUri,
    /// 400 `invalid_request`: `private_key_jwt` without any client keys.
    #[error("private_key_jwt needs the client's public keys: give jwks or jwks_uri")]
    MissingJwks,
    /// 400 `invalid_request`: `require_pkce: false` on a public client.
    #[error("public clients must use PKCE: require_pkce cannot be false")]
    PkceRequired,
    /// 400 `invalid_request`: `minimum_acr` is not one of the supported levels.
    #[error("minimum_acr must be LoA1 or LoA2, not {0:?}")]
    InvalidMinimumAcr(String),
    /// 400 `invalid_request`: `subject_type` is neither `public` nor `pairwise`.
    #[error("subject_type must be \"public\" or \"pairwise\", not {0:?}")]
    InvalidSubjectType(String),
    /// 400 `invalid_request`: a `sector_identifier_uri` on a client whose subjects are public.
    #[error("sector_identifier_uri is only for pairwise clients: add subject_type pairwise, or leave it out")]
    SectorUriNeedsPairwise,
    /// 400 `invalid_request`: `sector_identifier_uri` breaks the URI rules.
    #[error("sector_identifier_uri {uri:?} {reason}")]
    InvalidSectorUri {
        /// The URI as given.
        uri: String,
        /// What is wrong, as the end of a sentence.
        reason: &'static str,
    },
    /// 400 `invalid_request`: a pairwise client whose redirect URIs do not name one host.
    #[error("pairwise clients with redirect URIs on several hosts need a sector_identifier_uri")]
    SeveralSectorHosts,
    /// 400 `invalid_request`: a pairwise client with neither redirect URIs nor a sector document.
    #[error("a pairwise client needs redirect URIs or a sector_identifier_uri: their host is its sector")]
    NoSector,
    /// 400 `invalid_request`: the sector document could not be fetched; the reason says why.
    #[error("sector_identifier_uri {uri:?} could not be fetched: {reason}")]
    SectorFetch {
        /// The URI.
        uri: String,
        /// Why (status, timeout, refused address…).
        reason: String,
    },
    /// 400 `invalid_request`: the sector document is not a JSON array of strings.
    #[error("the document at sector_identifier_uri {0:?} must be a JSON array of redirect URI strings")]
    InvalidSectorDocument(String),
    /// 400 `invalid_request`: OIDC Core §8.1: the sector document must list every redirect URI.
    #[error("the document at sector_identifier_uri {uri:?} does not list the redirect URI {redirect_uri:?}")]
    SectorMissingRedirectUri {
        /// The sector document's URI.
        uri: String,
        /// The redirect URI it lacks.
        redirect_uri: String,
    },
    /// 400 `invalid_request`: an update tried to change `subject_type`.
    #[error(
        "subject_type cannot change from {from} to {to}: every sub the service holds would change (register a new client instead)"
    )]
    SubjectTypeChange {
        /// The registered subject type.
        from: String,
        /// The one asked for.
        to: String,
    },
    /// 400 `invalid_request`: an update would move a pairwise client to another sector.
    #[error(
        "the sector cannot change from {from:?} to {to:?}: every sub the service holds would change (keep the sector's host, with or without a sector_identifier_uri as registered, or register a new client)"
    )]
    SectorChange {
        /// The registered sector.
        from: String,
        /// The sector the change would give.
        to: String,
    },
    /// 400 `invalid_request`: the rotation grace period is longer than [`MAX_SECRET_GRACE`].
    #[error("the grace period may be at most 30 days")]
    GraceTooLong,
    /// 400 `invalid_request`: an update that changes nothing.
    #[error("nothing to update: give at least one field")]
    EmptyUpdate,
    /// 404 `not_found`: no client has this id.
    #[error("no client with id {0:?}")]
    NotFound(String),
    /// 409 `conflict`: the client authenticates without a secret, so there is none to rotate.
    #[error("client {client_id:?} authenticates with {auth_method} and has no secret to rotate")]
    NoSecret {
        /// The client.
        client_id: String,
        /// Its authentication method.
        auth_method: String,
    },
    /// 500 `server_error` with a generic message; the text is for logs only.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// Validate and store a new client. Returns the stored client and, for
/// secret-based auth methods, the secret (shown once, never stored).
/// `fetcher` reads a pairwise client's `sector_identifier_uri`; without one,
/// the sector is the organisation's own (`<organisation_id>:<host>`).
pub async fn register(
    store: &dyn Store,
    fetcher: &dyn DocumentFetcher,
    now: i64,
    input: NewClient,
) -> Result<(Client, Option<Secret>), ClientError> {
    let org_ref = input.organisation.trim();
    let Some(org) = store.find_organisation(org_ref).await? else {
        return Err(ClientError::UnknownOrganisation(org_ref.to_owned()));
    };
    let (client, secret) = validate::build_client(input, &org.id, now)?;
    sector::verify_document(fetcher, &client).await?;
    store.create_client(&client).await?;
    Ok((client, secret))
}

/// Longest grace period of a secret rotation: long enough to roll a
/// deployment out, short enough that a leaked old secret dies soon.
pub const MAX_SECRET_GRACE: i64 = 30 * 24 * 3600;

/// Replace the secret of a secret-based client; the new one is returned once.
/// With `grace` seconds (> 0), the old secret keeps working until `now + grace`
/// so the relying party can roll the new one out without an outage; without,
/// it stops at once. A rotation replaces any earlier previous secret.
pub async fn rotate_secret(
    store: &dyn Store,
    now: i64,
    client_id: &str,
    grace: Option<i64>,
) -> Result<(Client, Secret), ClientError> {
    let grace = grace.filter(|g| *g > 0);
    if grace.is_some_and(|g| g > MAX_SECRET_GRACE) {
        return Err(ClientError::GraceTooLong);
    }
    let mut client = get(store, client_id).await?;
    if !validate::uses_secret(&client.auth_method) {
        return Err(ClientError::NoSecret { client_id: client.client_id, auth_method: client.auth_method });
    }
    let secret = new_secret();
    let old = client.secret_hash.replace(crypto::sha256_hex(secret.expose().as_bytes()));
    (client.previous_secret_hash, client.previous_secret_expires_at) = match (old, grace) {
        (Some(old), Some(g)) => (Some(old), Some(now + g)),
        _ => (None, None),
    };
    client.updated_at = now;
    store.update_client(&client).await.map_err(|e| not_found_or(e, client_id))?;
    Ok((client, secret))
}

/// Disable a client (idempotent): it can no longer authenticate or start
/// authorizations. Returns the client as stored.
pub async fn disable(store: &dyn Store, now: i64, client_id: &str) -> Result<Client, ClientError> {
    let mut client = get(store, client_id).await?;
    if client.status != "disabled" {
        client.status = "disabled".to_owned();
        client.updated_at = now;
        store.update_client(&client).await.map_err(|e| not_found_or(e, client_id))?;
    }
    Ok(client)
}

/// Whether `presented` is the client's current secret (constant-time).
/// A client without a secret matches nothing.
pub fn secret_matches(client: &Client, presented: &str) -> bool {
    let Some(stored) = client.secret_hash.as_deref() else {
        return false;
    };
    let hash = crypto::sha256_hex(presented.as_bytes());
    crypto::constant_time_eq(stored.as_bytes(), hash.as_bytes())
}

/// An organisation to create, as the admin API body carries it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    /// Short unique code, `[a-z0-9-]{2,32}`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// `ministry`, `province` or `agency`.
    pub kind: String,
}

/// Why creating an organisation failed. `Display` is the sentence the admin reads.
#[derive(Debug, thiserror::Error)]
pub enum OrganisationError {
    /// 400 `invalid_request`: the code is not `[a-z0-9-]{2,32}`.
    #[error("the organisation code must be 2 to 32 characters of a-z, 0-9 and '-', not {0:?}")]
    InvalidCode(String),
    /// 400 `invalid_request`: the name is empty, too long or has control characters.
    #[error("the organisation name must be 1 to 200 characters, without control characters")]
    InvalidName,
    /// 400 `invalid_request`: the kind is not one of [`ORGANISATION_KINDS`].
    #[error("the organisation kind must be ministry, province or agency, not {0:?}")]
    InvalidKind(String),
    /// 409 `conflict`: another organisation has this code.
    #[error("an organisation with code {0:?} already exists")]
    CodeTaken(String),
    /// 500 `server_error` with a generic message; the text is for logs only.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

/// Validate and store a new organisation.
pub async fn create_organisation(
    store: &dyn Store,
    now: i64,
    input: NewOrganisation,
) -> Result<Organisation, OrganisationError> {
    let org = validate::build_organisation(input, now)?;
    match store.create_organisation(&org).await {
        Ok(()) => Ok(org),
        Err(StoreError::Conflict(_)) => Err(OrganisationError::CodeTaken(org.code)),
        Err(e) => Err(e.into()),
    }
}

/// The client, or `NotFound`.
pub(crate) async fn get(store: &dyn Store, client_id: &str) -> Result<Client, ClientError> {
    store.get_client(client_id).await?.ok_or_else(|| ClientError::NotFound(client_id.to_owned()))
}

/// A fresh client secret.
fn new_secret() -> Secret {
    Secret::new(crypto::random_token())
}

/// Map a store `NotFound` (the row vanished between read and write) to ours.
pub(crate) fn not_found_or(e: StoreError, client_id: &str) -> ClientError {
    match e {
        StoreError::NotFound => ClientError::NotFound(client_id.to_owned()),
        other => ClientError::Store(other),
    }
}
