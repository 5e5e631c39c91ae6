//! `idp-admin client update ID …`: the options of a client change and its body.

use clap::Args;
use serde_json::{Map, Value};

use crate::api::Failure;
use crate::commands::read_jwks_file;

/// Arguments of `client update`. Each option given replaces the value or the
/// whole list it names; the rest stays.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Client id.
    pub client_id: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Redirect URI (replaces the list). Repeat for several.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Post-logout redirect URI (replaces the list). Repeat for several.
    #[arg(long = "post-logout-uri", value_name = "URI")]
    post_logout_uris: Vec<String>,
    /// Grant type (replaces the list). Repeat for several.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// Scope (replaces the list). Repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// ID token signing algorithm.
    #[arg(long, value_parser = ["RS256", "PS256", "ES256", "EdDSA"])]
    signing_alg: Option<String>,
    /// Access token signing algorithm ("" signs them like the ID tokens again).
    #[arg(long, value_parser = ["RS256", "PS256", "ES256", "EdDSA", ""])]
    access_token_alg: Option<String>,
    /// Token endpoint authentication method.
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])]
    auth_method: Option<String>,
    /// File holding the client's public JWKS (replaces jwks_uri).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    jwks_file: Option<std::path::PathBuf>,
    /// URL of the client's public JWKS (replaces an inline JWKS).
    #[arg(long, value_name = "URI")]
    jwks_uri: Option<String>,
    /// Require PKCE (true or false; public clients always require it).
    #[arg(long, value_name = "BOOL")]
    require_pkce: Option<bool>,
    /// The weakest authentication the service accepts: LoA1 (password) or LoA2 (passkey).
    #[arg(long, value_name = "ACR", value_parser = ["LoA1", "LoA2"])]
    minimum_acr: Option<String>,
    /// Back-Channel Logout 1.0: where Motcua POSTs logout tokens when a
    /// session this service signed into ends (https, or http on localhost; "" removes it).
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0: the page Motcua loads in an iframe at logout
    /// (with `iss` and `sid`).
    #[arg(long, value_name = "URI")]
    frontchannel_logout_uri: Option<String>,
    /// public or pairwise: accepted only when it is the registered type
    /// (subjects cannot change, every `sub` a service holds would).
    #[arg(long, value_name = "TYPE", value_parser = ["public", "pairwise"])]
    subject_type: Option<String>,
    /// Pairwise clients: the sector document (its host must stay the sector; "" removes it).
    #[arg(long, value_name = "URI")]
    sector_identifier_uri: Option<String>,
    /// With the `business` scope, let the citizen choose to act as themself.
    #[arg(long, value_name = "BOOL")]
    business_self_allowed: Option<bool>,
    /// RFC 9126: take this client's authorization requests only when pushed
    /// to the PAR endpoint first (sent as a request_uri).
    #[arg(long, value_name = "BOOL")]
    require_par: Option<bool>,
    /// RFC 9449: refuse this client's token requests without a DPoP proof,
    /// so every access token it gets is bound to its key.
    #[arg(long, value_name = "BOOL")]
    dpop_bound: Option<bool>,
}

/// The JSON body of `PATCH /admin/v1/clients/{id}`, with only the options given.
pub fn body(args: &UpdateArgs) -> Result<Value, Failure> {
    let mut body = Map::new();
    let mut list = |key: &str, items: &[String]| {
        if !items.is_empty() {
            body.insert(key.into(), items.to_vec().into());
        }
    };
    list("redirect_uris", &args.redirect_uris);
    list("post_logout_redirect_uris", &args.post_logout_uris);
    list("grant_types", &args.grant_types);
    list("scopes", &args.scopes);
    for (key, value) in [
        ("name", &args.name),
        ("signing_alg", &args.signing_alg),
        ("access_token_alg", &args.access_token_alg),
        ("auth_method", &args.auth_method),
        ("jwks_uri", &args.jwks_uri),
        ("minimum_acr", &args.minimum_acr),
        ("backchannel_logout_uri", &args.backchannel_logout_uri),
        ("frontchannel_logout_uri", &args.frontchannel_logout_uri),
        ("subject_type", &args.subject_type),
        ("sector_identifier_uri", &args.sector_identifier_uri),
    ] {
        if let Some(v) = value {
            body.insert(key.into(), v.clone().into());
        }
    }
    if let Some(path) = &args.jwks_file {
        body.insert("jwks".into(), read_jwks_file(path)?);
    }
    if let Some(pkce) = args.require_pkce {
        body.insert("require_pkce".into(), pkce.into());
    }
    if let Some(allowed) = args.business_self_allowed {
        body.insert("business_self_allowed".into(), allowed.into());
    }
    if let Some(required) = args.require_par {
        body.insert("require_pushed_authorization_requests".into(), required.into());
    }
    if let Some(bound) = args.dpop_bound {
        body.insert("dpop_bound_access_tokens".into(), bound.into());
    }
    if body.is_empty() {
        return Err(Failure::new("client update: give at least one option to change (see --help)"));
    }
    Ok(Value::Object(body))
}
