//! Building and checking tokens: ID tokens (OIDC Core §2), JWT access tokens
//! (RFC 9068), and the checks introspection and UserInfo share.

use serde_json::{Map, Value, json};

use super::OAuthError;
use super::subjects::Subjects;
use crate::cache::Cache;
use crate::crypto::jwt::Alg;
use crate::crypto::random_id;
use crate::domain::businesses::acting_for;
use crate::domain::keys::Keyring;
use crate::store::{Citizen, Client, Grant, Membership, Store, Timestamp};

/// Token lifetimes in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Access tokens.
    pub access_token: i64,
    /// ID tokens.
    pub id_token: i64,
    /// Refresh tokens (each rotation starts a new one).
    pub refresh_token: i64,
    /// Absolute limit of a grant.
    pub grant: i64,
}

/// What the protocol functions work with.
pub struct Ctx<'a> {
    /// Durable state.
    pub store: &'a dyn Store,
    /// Ephemeral state.
    pub cache: &'a dyn Cache,
    /// Signing keys.
    pub keys: &'a Keyring,
    /// Subject identifiers (public or pairwise).
    pub subjects: &'a Subjects,
    /// Our issuer URL.
    pub issuer: &'a str,
    /// Lifetimes.
    pub ttl: Lifetimes,
    /// Current time.
    pub now: Timestamp,
    /// The key a DPoP proof of this request proved (RFC 9449): access tokens
    /// issued are bound to it (`cnf.jkt`) and of type `DPoP`.
    pub dpop_jkt: Option<String>,
}

impl Ctx<'_> {
    /// `token_type` of the access tokens this request gets (RFC 9449 §5).
    pub fn token_type(&self) -> &'static str {
        if self.dpop_jkt.is_some() { "DPoP" } else { "Bearer" }
    }
}

/// The signing algorithm a client registered (RS256 by default).
pub fn client_alg(signing_alg: &str) -> Alg {
    Alg::parse(signing_alg).unwrap_or(Alg::Rs256)
}

/// The algorithm of a client's access tokens: its own, or its ID tokens'.
pub fn access_token_alg(client: &Client) -> Alg {
    client_alg(client.access_token_alg.as_deref().unwrap_or(&client.signing_alg))
}

/// Who and what an access token is about.
pub struct AccessTokenFor<'a> {
    /// `sub`: the citizen's public subject, or the client id for client_credentials.
    pub subject: &'a str,
    /// Client.
    pub client_id: &'a str,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// Grant (refresh family) it belongs to.
    pub grant_id: Option<&'a str>,
    /// SSO session.
    pub sid: Option<&'a str>,
    /// Authentication time, context and methods (user tokens).
    pub auth: Option<(Timestamp, &'a str, &'a [String])>,
    /// `aud` when it is not the client itself (token exchange: the target service).
    pub audience: Option<&'a str>,
    /// An expiry earlier than the usual lifetime (token exchange: never past the subject token's).
    pub not_after: Option<Timestamp>,
    /// Further claims: `business` and `act` when the citizen acts for a business.
    pub extra: Map<String, Value>,
}

/// Sign an RFC 9068 access token. Returns the token.
pub fn access_token(ctx: &Ctx<'_>, alg: Alg, t: &AccessTokenFor<'_>) -> Result<String, OAuthError> {
    let mut c = t.extra.clone();
    c.insert("iss".into(), json!(ctx.issuer));
    c.insert("sub".into(), json!(t.subject));
    // RFC 9068 §3: `aud` names the resource. Motcua's tokens are for the
    // client's own back end (and our UserInfo endpoint, which checks `iss`).
    c.insert("aud".into(), json!(t.audience.unwrap_or(t.client_id)));
    c.insert("client_id".into(), json!(t.client_id));
    c.insert("iat".into(), json!(ctx.now));
    let exp = ctx.now + ctx.ttl.access_token;
    c.insert("exp".into(), json!(t.not_after.map_or(exp, |n| n.min(exp))));
    let jti = random_id();
    c.insert("jti".into(), json!(jti));
    if !t.scopes.is_empty() {
        c.insert("scope".into(), json!(t.scopes.join(" ")));
    }
    if let Some(g) = t.grant_id {
        c.insert("gid".into(), json!(g));
    }
    if let Some(s) = t.sid {
        c.insert("sid".into(), json!(s));
    }
    if let Some((auth_time, acr, amr)) = t.auth {
        c.insert("auth_time".into(), json!(auth_time));
        c.insert("acr".into(), json!(acr));
        c.insert("amr".into(), json!(amr));
    }
    // RFC 9449 §6.1: bound to the key of the request's DPoP proof.
    if let Some(jkt) = &ctx.dpop_jkt {
        c.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    // RFC 9068 §2.1: typ "at+jwt" so an access token cannot pass for an ID token.
    let token = ctx.keys.sign(alg, "at+jwt", &Value::Object(c))?;
    ctx.store.issued_jti(&jti);
    Ok(token)
}

/// What goes into an ID token besides the standard claims.
pub struct IdTokenFor<'a> {
    /// Citizen's subject.
    pub subject: &'a str,
    /// Audience.
    pub client_id: &'a str,
    /// Nonce from the authorization request.
    pub nonce: Option<&'a str>,
    /// Authentication time.
    pub auth_time: Timestamp,
    /// Context class.
    pub acr: &'a str,
    /// Methods.
    pub amr: &'a [String],
    /// SSO session id.
    pub sid: Option<&'a str>,
    /// The access token issued alongside, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// Claims requested individually for the ID token.
    pub extra: Map<String, Value>,
}

/// Sign an ID token (OIDC Core §2, §3.1.3.6).
pub fn id_token(ctx: &Ctx<'_>, alg: Alg, t: IdTokenFor<'_>) -> Result<String, OAuthError> {
    let mut c = t.extra;
    c.insert("iss".into(), json!(ctx.issuer));
    c.insert("sub".into(), json!(t.subject));
    c.insert("aud".into(), json!(t.client_id));
    c.insert("azp".into(), json!(t.client_id));
    c.insert("iat".into(), json!(ctx.now));
    c.insert("exp".into(), json!(ctx.now + ctx.ttl.id_token));
    c.insert("auth_time".into(), json!(t.auth_time));
    c.insert("acr".into(), json!(t.acr));
    c.insert("amr".into(), json!(t.amr));
    if let Some(n) = t.nonce {
        c.insert("nonce".into(), json!(n));
    }
    if let Some(s) = t.sid {
        c.insert("sid".into(), json!(s));
    }
    if let Some(at) = t.access_token {
        c.insert("at_hash".into(), json!(half_hash(alg, at)));
    }
    Ok(ctx.keys.sign(alg, "JWT", &Value::Object(c))?)
}

/// OIDC Core §3.1.3.6: base64url of the left half of the hash of the token,
/// the hash being the one of the JWS algorithm (SHA-512 for Ed25519).
pub fn half_hash(alg: Alg, token: &str) -> String {
    use base64::Engine as _;
    let digest: Vec<u8> = match alg {
        Alg::EdDsa => openssl::sha::sha512(token.as_bytes()).to_vec(),
        _ => openssl::sha::sha256(token.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// A verified, live access token.
#[derive(Debug, Clone)]
pub struct LiveAccessToken {
    /// All claims.
    pub claims: Map<String, Value>,
    /// The client it was issued to (`client_id`), active.
    pub client: Client,
    /// What the checks read for a citizen's token (`gid`), so its users
    /// (UserInfo, token exchange) need not read it again.
    pub owner: Option<TokenOwner>,
}

/// The live grant behind a citizen's access token, as [`check_access_token`] found it.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    /// The grant, live.
    pub grant: Grant,
    /// The citizen, active.
    pub citizen: Citizen,
    /// For a grant acting for a business: the membership that still allows it.
    pub acting: Option<Membership>,
}

impl LiveAccessToken {
    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
    /// Scopes.
    pub fn scopes(&self) -> Vec<String> {
        super::split_scopes(self.str("scope").unwrap_or_default())
    }
}

/// Verify an access token and check it is still live: our signature, `typ`
/// at+jwt, our issuer, not expired, not revoked, grant and client still
/// valid (for an exchanged token also the grant's own client and the
/// audience service).
pub async fn check_access_token(ctx: &Ctx<'_>, token: &str) -> Result<Option<LiveAccessToken>, OAuthError> {
    let Some((typ, claims)) = ctx.keys.verify(token) else { return Ok(None) };
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if typ.as_deref() != Some("at+jwt") || str_claim("iss") != Some(ctx.issuer) || exp <= ctx.now {
        return Ok(None);
    }
    let Some(jti) = str_claim("jti") else { return Ok(None) };
    if ctx.store.is_jti_revoked(jti).await? {
        return Ok(None);
    }
    let mut owner = None;
    if let Some(gid) = str_claim("gid") {
        match ctx.store.get_grant(gid).await? {
            Some(g) if g.revoked_at.is_none() && g.expires_at > ctx.now => {
                // A disabled account's tokens stop working at once.
                let citizen = match ctx.store.get_citizen(&g.account_id).await? {
                    Some(c) if c.account.status == "active" => c,
                    _ => return Ok(None),
                };
                // So do those of a citizen who may no longer act for the
                // business: removal revokes the grant, but an authorisation
                // that ran out (or a business disabled) ends without a write.
                let acting = match &g.business_id {
                    None => None,
                    Some(business_id) => match acting_for(ctx.store, &g.account_id, business_id, ctx.now).await? {
                        Some(m) => Some(m),
                        None => return Ok(None),
                    },
                };
                // An exchanged token's `client_id` is the requester, not the
                // grant's client: disabling that client must still end every
                // token derived from its grant.
                if str_claim("client_id") != Some(g.client_id.as_str())
                    && !client_active(ctx.store, &g.client_id).await?
                {
                    return Ok(None);
                }
                owner = Some(TokenOwner { grant: g, citizen, acting });
            }
            _ => return Ok(None),
        }
    }
    let Some(client_id) = str_claim("client_id") else { return Ok(None) };
    // An exchanged token is for another service (`aud`): a disabled one is
    // handed nothing that still works.
    if let Some(aud) = str_claim("aud")
        && aud != client_id
        && !client_active(ctx.store, aud).await?
    {
        return Ok(None);
    }
    match ctx.store.get_client(client_id).await? {
        Some(client) if client.status == "active" => Ok(Some(LiveAccessToken { claims, client, owner })),
        _ => Ok(None),
    }
}

/// Whether `client_id` names an active client.
async fn client_active(store: &dyn Store, client_id: &str) -> Result<bool, crate::store::StoreError> {
    Ok(store.get_client(client_id).await?.is_some_and(|c| c.status == "active"))
}
