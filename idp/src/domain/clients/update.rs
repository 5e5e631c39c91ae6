//! Changing a registered client (`PATCH /admin/v1/clients/{id}`): every field
//! given replaces the stored one, and the result goes through the same rules
//! as a registration ([`validate::build_client`]).

use serde::Deserialize;
use serde_json::Value;

use super::validate::{self, uses_secret};
use super::{ClientError, DocumentFetcher, NewClient, get, not_found_or, sector};
use crate::crypto::Secret;
use crate::store::{Client, Store};

/// A partial client: each present field replaces the list or value it names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Exact-match redirect URIs (the whole list).
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// Exact-match post-logout redirect URIs (the whole list).
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Grant types (the whole list).
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Allowed scopes (the whole list).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// ID token signing algorithm.
    #[serde(default)]
    pub signing_alg: Option<String>,
    /// Access token signing algorithm; an empty string: as `signing_alg`.
    #[serde(default)]
    pub access_token_alg: Option<String>,
    /// Client authentication method.
    #[serde(default)]
    pub auth_method: Option<String>,
    /// The client's public keys (replaces `jwks_uri`).
    #[serde(default)]
    pub jwks: Option<Value>,
    /// Where to fetch the client's keys (replaces `jwks`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// PKCE requirement (public clients cannot turn it off).
    #[serde(default)]
    pub require_pkce: Option<bool>,
    /// The weakest `acr` the client accepts (`LoA1`, `LoA2`).
    #[serde(default)]
    pub minimum_acr: Option<String>,
    /// Back-channel logout endpoint; an empty string removes it.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Front-channel logout page; an empty string removes it.
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    /// Accepted only when it is the registered one: subjects cannot change type.
    #[serde(default)]
    pub subject_type: Option<String>,
    /// Sector document (pairwise clients). The sector must not change, so a
    /// new document must be on the sector host, and a document can be neither
    /// added to a client registered without one nor removed (`""`).
    #[serde(default)]
    pub sector_identifier_uri: Option<String>,
    /// With the `business` scope, whether the citizen may act as themself.
    #[serde(default)]
    pub business_self_allowed: Option<bool>,
    /// RFC 9126 §5: whether the client must push its authorization requests.
    #[serde(default)]
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 9449 §5.2: whether every token request must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: Option<bool>,
}

impl ClientUpdate {
    /// Names of the fields present, for the audit trail (values are not recorded).
    pub fn field_names(&self) -> Vec<&'static str> {
        let present = [
            ("name", self.name.is_some()),
            ("redirect_uris", self.redirect_uris.is_some()),
            ("post_logout_redirect_uris", self.post_logout_redirect_uris.is_some()),
            ("grant_types", self.grant_types.is_some()),
            ("scopes", self.scopes.is_some()),
            ("signing_alg", self.signing_alg.is_some()),
            ("access_token_alg", self.access_token_alg.is_some()),
            ("auth_method", self.auth_method.is_some()),
            ("jwks", self.jwks.is_some()),
            ("jwks_uri", self.jwks_uri.is_some()),
            ("require_pkce", self.require_pkce.is_some()),
            ("minimum_acr", self.minimum_acr.is_some()),
            ("backchannel_logout_uri", self.backchannel_logout_uri.is_some()),
            ("frontchannel_logout_uri", self.frontchannel_logout_uri.is_some()),
            ("subject_type", self.subject_type.is_some()),
            ("sector_identifier_uri", self.sector_identifier_uri.is_some()),
            ("business_self_allowed", self.business_self_allowed.is_some()),
            ("require_pushed_authorization_requests", self.require_pushed_authorization_requests.is_some()),
            ("dpop_bound_access_tokens", self.dpop_bound_access_tokens.is_some()),
        ];
        present.into_iter().filter(|(_, p)| *p).map(|(n, _)| n).collect()
    }
}

/// Apply `change` to a stored client, validate the result like a registration
/// and store it. Returns the client and, when the change moved it to a
/// secret-based method from one without a secret, its new secret (shown once).
/// A sector document is read again (with `fetcher`) when the redirect URIs
/// or the document's URI change.
pub async fn update(
    store: &dyn Store,
    fetcher: &dyn DocumentFetcher,
    now: i64,
    client_id: &str,
    change: ClientUpdate,
) -> Result<(Client, Option<Secret>), ClientError> {
    if change.field_names().is_empty() {
        return Err(ClientError::EmptyUpdate);
    }
    let current = get(store, client_id).await?;
    // `apply` refuses any change of sector (adding or removing a document
    // changes it too: a proven sector is the bare host, an unproven one the
    // organisation's), so every `sub` the service holds stays valid.
    let (updated, secret) = apply(&current, change, now)?;
    if updated.redirect_uris != current.redirect_uris || updated.sector_identifier_uri != current.sector_identifier_uri
    {
        sector::verify_document(fetcher, &updated).await?;
    }
    store.update_client(&updated).await.map_err(|e| not_found_or(e, client_id))?;
    Ok((updated, secret))
}

/// The pure part of [`update`]: merge, validate, carry over what a change never touches.
pub(super) fn apply(current: &Client, change: ClientUpdate, now: i64) -> Result<(Client, Option<Secret>), ClientError> {
    // OIDC Core §8: a client's subjects must stay what the service stored;
    // a new type would give every citizen a new `sub` there.
    if let Some(asked) = &change.subject_type
        && *asked != current.subject_type
    {
        return Err(ClientError::SubjectTypeChange { from: current.subject_type.clone(), to: asked.clone() });
    }
    // OIDC Dynamic Client Registration §2: jwks and jwks_uri are exclusive, so
    // giving one replaces the other (giving both is refused by the rules).
    let (jwks, jwks_uri) = match (change.jwks, change.jwks_uri) {
        (None, None) => (current.jwks.as_deref().and_then(|t| serde_json::from_str(t).ok()), current.jwks_uri.clone()),
        given => given,
    };
    let merged = NewClient {
        name: change.name.unwrap_or_else(|| current.name.clone()),
        organisation: current.organisation_id.clone(),
        client_type: current.client_type.clone(),
        auth_method: Some(change.auth_method.unwrap_or_else(|| current.auth_method.clone())),
        redirect_uris: change.redirect_uris.unwrap_or_else(|| current.redirect_uris.clone()),
        post_logout_redirect_uris: change
            .post_logout_redirect_uris
            .unwrap_or_else(|| current.post_logout_redirect_uris.clone()),
        grant_types: Some(change.grant_types.unwrap_or_else(|| current.grant_types.clone())),
        scopes: Some(change.scopes.unwrap_or_else(|| current.scopes.clone())),
        signing_alg: Some(change.signing_alg.unwrap_or_else(|| current.signing_alg.clone())),
        access_token_alg: change.access_token_alg.or_else(|| current.access_token_alg.clone()),
        jwks,
        jwks_uri,
        require_pkce: Some(change.require_pkce.unwrap_or(current.require_pkce)),
        minimum_acr: Some(change.minimum_acr.unwrap_or_else(|| current.minimum_acr.clone())),
        backchannel_logout_uri: change.backchannel_logout_uri.or_else(|| current.backchannel_logout_uri.clone()),
        frontchannel_logout_uri: change.frontchannel_logout_uri.or_else(|| current.frontchannel_logout_uri.clone()),
        subject_type: Some(current.subject_type.clone()),
        sector_identifier_uri: change.sector_identifier_uri.or_else(|| current.sector_identifier_uri.clone()),
        business_self_allowed: Some(change.business_self_allowed.unwrap_or(current.business_self_allowed)),
        require_pushed_authorization_requests: Some(
            change.require_pushed_authorization_requests.unwrap_or(current.require_par),
        ),
        dpop_bound_access_tokens: Some(change.dpop_bound_access_tokens.unwrap_or(current.dpop_bound)),
    };
    let (built, fresh_secret) = validate::build_client(merged, &current.organisation_id, now)?;
    // The same for the sector: pairwise subjects are computed over it.
    if built.sector_identifier != current.sector_identifier {
        return Err(ClientError::SectorChange {
            from: current.sector_identifier.clone().unwrap_or_default(),
            to: built.sector_identifier.clone().unwrap_or_default(),
        });
    }
    let (secret_hash, previous_hash, previous_exp, secret) =
        match (uses_secret(&current.auth_method), uses_secret(&built.auth_method)) {
            // Still secret-based: the secret (and any grace period) stays.
            (true, true) => (
                current.secret_hash.clone(),
                current.previous_secret_hash.clone(),
                current.previous_secret_expires_at,
                None,
            ),
            // Newly secret-based: it needs a secret, shown once.
            (false, true) => (built.secret_hash.clone(), None, None, fresh_secret),
            // No longer secret-based: no secret may keep working.
            (_, false) => (None, None, None, None),
        };
    let client = Client {
        client_id: current.client_id.clone(),
        organisation_id: current.organisation_id.clone(),
        status: current.status.clone(),
        created_at: current.created_at,
        updated_at: now,
        secret_hash,
        previous_secret_hash: previous_hash,
        previous_secret_expires_at: previous_exp,
        ..built
    };
    Ok((client, secret))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn client() -> Client {
        let input = NewClient {
            name: "RP".into(),
            organisation: "moh".into(),
            client_type: "confidential".into(),
            redirect_uris: vec!["https://rp.example.vn/cb".into()],
            ..NewClient::default()
        };
        validate::build_client(input, "org-1", 1_000).unwrap().0
    }

    #[test]
    fn fields_replace_lists_and_keep_the_rest() {
        let c = client();
        let change = ClientUpdate {
            redirect_uris: Some(vec!["https://rp.example.vn/new".into()]),
            scopes: Some(vec!["openid".into(), "email".into()]),
            ..ClientUpdate::default()
        };
        let (u, secret) = apply(&c, change, 2_000).unwrap();
        assert!(secret.is_none());
        assert_eq!(u.redirect_uris, ["https://rp.example.vn/new"]);
        assert_eq!(u.scopes, ["openid", "email"]);
        assert_eq!((u.client_id.as_str(), u.secret_hash.as_ref()), (c.client_id.as_str(), c.secret_hash.as_ref()));
        assert_eq!((u.created_at, u.updated_at), (1_000, 2_000));
        assert_eq!(u.grant_types, c.grant_types);
    }

    #[test]
    fn changes_go_through_the_registration_rules() {
        let c = client();
        let bad = ClientUpdate { redirect_uris: Some(vec!["http://evil.example/cb".into()]), ..Default::default() };
        assert!(matches!(apply(&c, bad, 2_000), Err(ClientError::InvalidRedirectUri { .. })));
        let bad = ClientUpdate { signing_alg: Some("none".into()), ..Default::default() };
        assert!(matches!(apply(&c, bad, 2_000), Err(ClientError::InvalidSigningAlg(_))));
        let bad = ClientUpdate { access_token_alg: Some("none".into()), ..Default::default() };
        assert!(matches!(apply(&c, bad, 2_000), Err(ClientError::InvalidAccessTokenAlg(_))));
        // Set apart, kept by an unrelated change, and put back with "".
        let es = ClientUpdate { access_token_alg: Some("ES256".into()), ..Default::default() };
        let (apart, _) = apply(&c, es, 2_000).unwrap();
        assert_eq!(apart.access_token_alg.as_deref(), Some("ES256"));
        let (kept, _) = apply(&apart, ClientUpdate { name: Some("New".into()), ..Default::default() }, 2_000).unwrap();
        assert_eq!(kept.access_token_alg.as_deref(), Some("ES256"));
        let back = ClientUpdate { access_token_alg: Some(String::new()), ..Default::default() };
        assert_eq!(apply(&kept, back, 2_000).unwrap().0.access_token_alg, None);
        let bad = ClientUpdate { auth_method: Some("private_key_jwt".into()), ..Default::default() };
        assert!(matches!(apply(&c, bad, 2_000), Err(ClientError::MissingJwks)));
    }

    #[test]
    fn switching_auth_method_moves_the_secret() {
        let c = client();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]});
        let to_jwt =
            ClientUpdate { auth_method: Some("private_key_jwt".into()), jwks: Some(jwks), ..Default::default() };
        let (u, secret) = apply(&c, to_jwt, 2_000).unwrap();
        assert!(secret.is_none() && u.secret_hash.is_none());
        let back = ClientUpdate { auth_method: Some("client_secret_post".into()), ..Default::default() };
        let (v, secret) = apply(&u, back, 3_000).unwrap();
        assert!(secret.is_some() && v.secret_hash.is_some());
        // jwks_uri replaces an inline jwks.
        let uri = ClientUpdate { jwks_uri: Some("https://rp.example.vn/jwks".into()), ..Default::default() };
        let (w, _) = apply(&u, uri, 4_000).unwrap();
        assert_eq!((w.jwks.as_deref(), w.jwks_uri.as_deref()), (None, Some("https://rp.example.vn/jwks")));
    }
}
