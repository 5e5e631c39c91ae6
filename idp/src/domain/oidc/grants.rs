//! The token endpoint's grants (RFC 6749 §4.1.3, §6, §4.4), introspection
//! (RFC 7662), revocation (RFC 7009) and UserInfo (OIDC Core §5.3).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::authorize::{CodeGrant, code_key, code_used_key};
use super::claims::{ClaimsRequest, id_token_extra_claims, userinfo_claims};
use super::tokens::{
    AccessTokenFor, Ctx, IdTokenFor, TokenOwner, access_token, access_token_alg, check_access_token, client_alg,
    id_token,
};
use super::{OAuthError, OAuthErrorCode as E, Params, dpop, split_scopes};
use crate::crypto::{constant_time_eq, random_id, random_token, sha256_b64url, sha256_hex};
use crate::domain::businesses::{acting_for, business_claim};
use crate::store::{Account, Client, Grant, Membership, RefreshToken, Rotation};

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    /// Granted scopes; left out when none were granted (RFC 6749 §3.3: a
    /// scope is one or more tokens, so never an empty string).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// ID token, for `openid` grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Opaque refresh token, with `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued (the access-token URN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// How long a redeemed code is remembered, to revoke what it issued if it is
/// presented again (RFC 6749 §4.1.2).
const USED_CODE_MEMORY: std::time::Duration = std::time::Duration::from_secs(600);

/// A required parameter, or `invalid_request` naming it.
pub(super) fn require<'p>(params: &'p Params, name: &str) -> Result<&'p str, OAuthError> {
    params.get(name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

/// `unauthorized_client` unless the client is registered for `grant_type`.
pub(super) fn allows(client: &Client, grant_type: &str) -> Result<(), OAuthError> {
    if client.grant_types.iter().any(|g| g == grant_type) {
        Ok(())
    } else {
        Err(OAuthError::new(E::UnauthorizedClient, format!("the client may not use the {grant_type} grant")))
    }
}

/// `grant_type=authorization_code`.
pub async fn authorization_code(ctx: &Ctx<'_>, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    allows(client, "authorization_code")?;
    let code = require(params, "code")?;
    let redirect_uri = require(params, "redirect_uri")?;
    // Single use: `take` is atomic, so of two concurrent redemptions one wins.
    let Some(bytes) = ctx.cache.take(&code_key(code)).await? else {
        // RFC 6749 §4.1.2: a code used twice revokes what it issued — when
        // its own client presents it again. Anyone else who saw a redeemed
        // code (browser history, a proxy's log) must not be able to end the
        // citizen's session with it. The grant the code made says whose it
        // was (the marker stays the bare grant id, as earlier versions read it).
        let used_key = code_used_key(code);
        if let Some(gid) = ctx.cache.get(&used_key).await? {
            let gid = String::from_utf8_lossy(&gid).into_owned();
            let own = ctx.store.get_grant(&gid).await?.is_some_and(|g| g.client_id == client.client_id);
            if own && ctx.cache.take(&used_key).await?.is_some() {
                ctx.store.revoke_grant(&gid, ctx.now).await?;
                tracing::warn!(grant = %gid, "authorization code reused; grant revoked");
            }
        }
        return Err(OAuthError::invalid_grant("the authorization code is invalid, expired or already used"));
    };
    let cg: CodeGrant = serde_json::from_slice(&bytes).map_err(OAuthError::internal)?;
    if cg.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    // RFC 9449 §10: a code bound to a key is redeemed only with a proof by it.
    dpop::require_key(cg.dpop_jkt.as_deref(), ctx.dpop_jkt.as_deref(), "authorization code")?;
    if cg.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    // RFC 7636 §4.6: verifier ↔ challenge; a verifier without a challenge is refused too
    // (RFC 9700 §2.1.1 downgrade protection).
    match (&cg.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed || !constant_time_eq(sha256_b64url(verifier.as_bytes()).as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant("no code_challenge was sent with the authorization request"));
        }
        (None, None) => {}
    }
    let citizen = match ctx.store.get_citizen(&cg.account_id).await? {
        Some(c) if c.account.status == "active" => c,
        _ => return Err(OAuthError::invalid_grant("the account is no longer active")),
    };
    let grant = Grant {
        id: random_id(),
        account_id: cg.account_id.clone(),
        client_id: client.client_id.clone(),
        scopes: cg.scopes.clone(),
        claims: cg.claims.clone(),
        sid: Some(cg.sid.clone()),
        auth_time: cg.auth_time,
        acr: cg.acr.clone(),
        amr: cg.amr.clone(),
        created_at: ctx.now,
        expires_at: ctx.now + ctx.ttl.grant,
        revoked_at: None,
        business_id: cg.business_id.clone(),
        // RFC 9449 §5: a public client's refresh tokens are bound to the
        // key of its proof (a confidential client's are bound to it by its
        // own authentication; each of its refreshes binds the new access
        // token to whatever key proves that request).
        dpop_jkt: ctx.dpop_jkt.clone().filter(|_| client.client_type == "public"),
    };
    // The membership may have ended since the chooser: no grant is made for it.
    let who = principal(ctx, client, &grant, &citizen.account)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the citizen may no longer act for the business"))?;
    let offline =
        grant.scopes.iter().any(|s| s == "offline_access") && client.grant_types.iter().any(|g| g == "refresh_token");
    let refresh = offline.then(random_token);
    let refresh_row = refresh.as_ref().map(|t| new_refresh_row(ctx, t, &grant));
    let claims = cg.claims.as_deref().and_then(ClaimsRequest::from_stored);
    let extra = id_token_extra_claims(&citizen.profile, claims.as_ref());
    // Signed first, so the grant, its refresh token and the keys that signed
    // its tokens are one write.
    let (at, idt, kids) = sign_tokens(ctx, client, &grant, &who, cg.nonce.as_deref(), extra)?;
    ctx.store.create_signed_grant(&grant, refresh_row.as_ref(), &kids).await?;
    ctx.cache.put(&code_used_key(code), grant.id.as_bytes(), USED_CODE_MEMORY).await?;
    Ok(token_response(ctx, &grant, at, idt, refresh))
}

/// Who a grant's tokens speak of, as one client must see it.
pub struct Principal {
    /// `sub`: the citizen's subject for the client (public or pairwise), or
    /// the business's when the citizen acts for one.
    pub subject: String,
    /// Claims every token of the grant carries besides (`business`, `act`).
    pub extra: Map<String, Value>,
}

/// The principal of `grant` for `client`; `None` when the grant acts for a
/// business the citizen may no longer act for (removed, expired, disabled).
/// Acting for a business, `sub` is the business's and `act` names the
/// citizen (RFC 8693 §4.1: the party acting for the subject); the `business`
/// claim is released by the `business` scope only, so a token narrowed
/// without it keeps the business as subject but not its details.
pub async fn principal(
    ctx: &Ctx<'_>,
    client: &Client,
    grant: &Grant,
    account: &Account,
) -> Result<Option<Principal>, OAuthError> {
    let acting = match grant.business_id.as_deref() {
        None => None,
        Some(business_id) => match acting_for(ctx.store, &account.id, business_id, ctx.now).await? {
            Some(m) => Some(m),
            None => return Ok(None),
        },
    };
    Ok(Some(principal_of(ctx, client, grant, account, acting.as_ref())))
}

/// [`principal`] once the membership is known: `acting` must be the
/// membership that still allows `grant.business_id` (`None` for a grant
/// without one), as [`check_access_token`] returns it in [`TokenOwner`].
pub fn principal_of(
    ctx: &Ctx<'_>,
    client: &Client,
    grant: &Grant,
    account: &Account,
    acting: Option<&Membership>,
) -> Principal {
    let citizen = ctx.subjects.citizen(client, account);
    let Some(membership) = acting else { return Principal { subject: citizen, extra: Map::new() } };
    let mut extra = Map::new();
    if grant.scopes.iter().any(|s| s == "business") {
        extra.insert("business".into(), business_claim(membership));
    }
    extra.insert("act".into(), json!({ "sub": citizen }));
    Principal { subject: ctx.subjects.business(client, &membership.business), extra }
}

fn new_refresh_row(ctx: &Ctx<'_>, token: &str, grant: &Grant) -> RefreshToken {
    RefreshToken {
        hash: sha256_hex(token.as_bytes()),
        grant_id: grant.id.clone(),
        created_at: ctx.now,
        expires_at: (ctx.now + ctx.ttl.refresh_token).min(grant.expires_at),
        used_at: None,
    }
}

/// The access token and (for `openid` grants) ID token of `grant`, with the
/// keys that signed them recorded against the grant.
async fn sign_for(
    ctx: &Ctx<'_>,
    client: &Client,
    grant: &Grant,
    who: &Principal,
    nonce: Option<&str>,
    extra: Map<String, Value>,
) -> Result<(String, Option<String>), OAuthError> {
    let (at, idt, kids) = sign_tokens(ctx, client, grant, who, nonce, extra)?;
    for kid in kids {
        ctx.store.add_grant_signing_kid(&grant.id, &kid).await?;
    }
    Ok((at, idt))
}

/// The access token and (for `openid` grants) ID token of `grant`, and the
/// keys that signed them, to be recorded against the grant (DESIGN §5:
/// revoking a key revokes every grant any of whose tokens it signed).
fn sign_tokens(
    ctx: &Ctx<'_>,
    client: &Client,
    grant: &Grant,
    who: &Principal,
    nonce: Option<&str>,
    mut extra: Map<String, Value>,
) -> Result<(String, Option<String>, Vec<String>), OAuthError> {
    let subject = who.subject.as_str();
    let at = access_token(
        ctx,
        access_token_alg(client),
        &AccessTokenFor {
            subject,
            client_id: &client.client_id,
            scopes: &grant.scopes,
            grant_id: Some(&grant.id),
            sid: grant.sid.as_deref(),
            auth: Some((grant.auth_time, &grant.acr, &grant.amr)),
            audience: None,
            not_after: None,
            extra: who.extra.clone(),
        },
    )?;
    extra.extend(who.extra.clone());
    let idt = if grant.scopes.iter().any(|s| s == "openid") {
        Some(id_token(
            ctx,
            client_alg(&client.signing_alg),
            IdTokenFor {
                subject,
                client_id: &client.client_id,
                nonce,
                auth_time: grant.auth_time,
                acr: &grant.acr,
                amr: &grant.amr,
                sid: grant.sid.as_deref(),
                access_token: Some(&at),
                extra,
            },
        )?)
    } else {
        None
    };
    // Both tokens are looked at: a rotation may fall between them.
    let mut kids: Vec<String> =
        [Some(at.as_str()), idt.as_deref()].into_iter().flatten().filter_map(crate::crypto::jwt::key_id).collect();
    kids.dedup();
    Ok((at, idt, kids))
}

fn token_response(
    ctx: &Ctx<'_>,
    grant: &Grant,
    access_token: String,
    id_token: Option<String>,
    refresh_token: Option<String>,
) -> TokenResponse {
    TokenResponse {
        access_token,
        token_type: ctx.token_type(),
        expires_in: ctx.ttl.access_token,
        scope: grant.scopes.join(" "),
        id_token,
        refresh_token,
        issued_token_type: None,
    }
}

/// `grant_type=refresh_token`: rotate, and on reuse revoke the family (RFC 9700 §4.14.2).
pub async fn refresh_token(ctx: &Ctx<'_>, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    allows(client, "refresh_token")?;
    let presented = require(params, "refresh_token")?;
    let hash = sha256_hex(presented.as_bytes());
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some(row) = ctx.store.get_refresh_token(&hash).await? else { return Err(invalid()) };
    let Some(grant) = ctx.store.get_grant(&row.grant_id).await? else { return Err(invalid()) };
    // RFC 6749 §6: the token is bound to the client it was issued to.
    if grant.client_id != client.client_id {
        return Err(invalid());
    }
    if grant.revoked_at.is_some() || grant.expires_at <= ctx.now || (row.used_at.is_none() && row.expires_at <= ctx.now)
    {
        return Err(invalid());
    }
    // RFC 9449 §5: a bound family is refreshed only with a proof by its key.
    // Checked before the rotation, so a thief's try does not use the token up.
    dpop::require_key(grant.dpop_jkt.as_deref(), ctx.dpop_jkt.as_deref(), "refresh token")?;
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
    let scopes = match params.get("scope") {
        None => grant.scopes.clone(),
        Some(s) => {
            let asked = split_scopes(s);
            if let Some(bad) = asked.iter().find(|a| !grant.scopes.contains(a)) {
                return Err(OAuthError::new(E::InvalidScope, format!("scope {bad} was not granted")));
            }
            asked
        }
    };
    // Everything that can fail — reads, signing, the record of signing keys —
    // happens before the rotation commits, and nothing touches the store after
    // it: a client that gets an error (a 503 while the database is out of
    // reach) still holds a working refresh token, and a retry does not look
    // like reuse. Only a crash between the commit and the response can cost
    // a client its family, never leave it half rotated (README, "Refresh
    // tokens"; RFC 6749 §10.4).
    let citizen = match ctx.store.get_citizen(&grant.account_id).await? {
        Some(c) if c.account.status == "active" => c,
        _ => return Err(invalid()),
    };
    let next = random_token();
    let new_row = new_refresh_row(ctx, &next, &grant);
    let narrowed = Grant { scopes, ..grant };
    let claims = narrowed.claims.as_deref().and_then(ClaimsRequest::from_stored).map(|mut c| {
        c.restrict(&narrowed.scopes, &narrowed.scopes);
        c
    });
    let extra = id_token_extra_claims(&citizen.profile, claims.as_ref());
    let Some(who) = principal(ctx, client, &narrowed, &citizen.account).await? else { return Err(invalid()) };
    let (at, idt) = sign_for(ctx, client, &narrowed, &who, None, extra).await?;
    match ctx.store.rotate_refresh_token(&hash, &new_row).await? {
        Rotation::Rotated => {}
        // Revoked since the read above, as the rotation's statement saw the grant.
        Rotation::Revoked | Rotation::Unknown => return Err(invalid()),
        Rotation::Reused(gid) => {
            ctx.store.revoke_grant(&gid, ctx.now).await?;
            tracing::warn!(grant = %gid, client = %client.client_id, "refresh token reused; family revoked");
            return Err(invalid());
        }
    }
    Ok(token_response(ctx, &narrowed, at, idt, Some(next)))
}

/// `grant_type=client_credentials` (RFC 6749 §4.4): confidential clients only.
pub async fn client_credentials(ctx: &Ctx<'_>, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    if client.client_type != "confidential" {
        return Err(OAuthError::new(E::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    allows(client, "client_credentials")?;
    // The OIDC scopes release a citizen's data: none of them may ride on a
    // token with no citizen behind it. Only API scopes (none defined yet) remain.
    let usable: Vec<String> =
        client.scopes.iter().filter(|s| !super::SUPPORTED_SCOPES.contains(&s.as_str())).cloned().collect();
    let scopes = match params.get("scope") {
        None => usable,
        Some(s) => {
            let asked = split_scopes(s);
            if let Some(bad) = asked.iter().find(|a| !usable.contains(a)) {
                return Err(OAuthError::new(E::InvalidScope, format!("scope {bad} is not allowed for this client")));
            }
            asked
        }
    };
    let at = access_token(
        ctx,
        access_token_alg(client),
        &AccessTokenFor {
            subject: &client.client_id,
            client_id: &client.client_id,
            scopes: &scopes,
            grant_id: None,
            sid: None,
            auth: None,
            audience: None,
            not_after: None,
            extra: Map::new(),
        },
    )?;
    Ok(TokenResponse {
        access_token: at,
        token_type: ctx.token_type(),
        expires_in: ctx.ttl.access_token,
        scope: scopes.join(" "),
        id_token: None,
        refresh_token: None,
        issued_token_type: None,
    })
}

/// RFC 7662: a client sees only its own tokens, and access tokens meant for
/// it (`aud`: the service a token exchange targeted checks what it is
/// handed); anything else is `active: false`.
pub async fn introspect(ctx: &Ctx<'_>, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let token = require(params, "token")?;
    let inactive = json!({ "active": false });
    if token.matches('.').count() == 2 {
        return Ok(match check_access_token(ctx, token).await? {
            Some(at) if at.str("client_id") == Some(&client.client_id) || at.str("aud") == Some(&client.client_id) => {
                let mut out = Map::new();
                out.insert("active".into(), json!(true));
                // RFC 9449 §6.2: a bound token says so, with its key, for the
                // resource server to check the proof against.
                let bound = super::dpop::bound_key(&at.claims).is_some();
                out.insert("token_type".into(), json!(if bound { "DPoP" } else { "Bearer" }));
                let keys = ["scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "sid", "auth_time", "acr"];
                for k in keys.into_iter().chain(["business", "act", "cnf"]) {
                    if let Some(v) = at.claims.get(k) {
                        out.insert(k.into(), v.clone());
                    }
                }
                Value::Object(out)
            }
            _ => inactive,
        });
    }
    let hash = sha256_hex(token.as_bytes());
    let Some(row) = ctx.store.get_refresh_token(&hash).await? else { return Ok(inactive) };
    let Some(grant) = ctx.store.get_grant(&row.grant_id).await? else { return Ok(inactive) };
    let live =
        row.used_at.is_none() && row.expires_at > ctx.now && grant.revoked_at.is_none() && grant.expires_at > ctx.now;
    if !live || grant.client_id != client.client_id {
        return Ok(inactive);
    }
    let account = match ctx.store.get_citizen(&grant.account_id).await? {
        Some(c) if c.account.status == "active" => c.account,
        _ => return Ok(inactive),
    };
    let Some(who) = principal(ctx, client, &grant, &account).await? else { return Ok(inactive) };
    let mut out = who.extra;
    // No `token_type`: RFC 7662 §2.2 means an RFC 6749 §7.1 access token
    // type (Bearer, DPoP), which a refresh token is not.
    for (k, v) in [
        ("active", json!(true)),
        ("scope", json!(grant.scopes.join(" "))),
        ("client_id", json!(grant.client_id)),
        ("sub", json!(who.subject)),
        ("iss", json!(ctx.issuer)),
        ("exp", json!(row.expires_at)),
        ("iat", json!(row.created_at)),
    ] {
        out.insert(k.into(), v);
    }
    Ok(Value::Object(out))
}

/// RFC 7009: revoking a refresh token revokes its family; revoking an access
/// token deny-lists it. Unknown, expired and already revoked tokens are
/// answered 200 without effect (§2.2). A live access token issued to another
/// client is refused (§2.1: "the request is refused and the client is
/// informed of the error"), as node-oidc-provider does: a bearer token works
/// for whoever holds it, so the answer tells the caller nothing it could not
/// learn by using it. Another client's refresh token, or DPoP-bound access
/// token, is answered 200 without effect: it works only with its client's
/// credentials or key, and whether it is live stays as hidden as
/// introspection keeps it (anyone may call this endpoint with a public
/// client's id).
pub async fn revoke(ctx: &Ctx<'_>, client: &Client, params: &Params) -> Result<(), OAuthError> {
    let token = require(params, "token")?;
    // RFC 7009 §2.1: token_type_hint is advisory; every token type is searched whatever it says.
    if token.matches('.').count() == 2 {
        if let Some(at) = check_access_token(ctx, token).await? {
            if at.str("client_id") != Some(&client.client_id) {
                // A DPoP-bound token is useless without its key: like a
                // refresh token, it is not confirmed live to a stranger.
                let bound = super::dpop::bound_key(&at.claims).is_some();
                return if bound {
                    Ok(())
                } else {
                    Err(OAuthError::invalid_request("the token was not issued to this client"))
                };
            }
            let exp = at.claims.get("exp").and_then(Value::as_i64).unwrap_or(ctx.now);
            if let Some(jti) = at.str("jti") {
                ctx.store.revoke_jti(jti, exp).await?;
            }
        }
        return Ok(());
    }
    let hash = sha256_hex(token.as_bytes());
    if let Some(row) = ctx.store.get_refresh_token(&hash).await?
        && let Some(grant) = ctx.store.get_grant(&row.grant_id).await?
        && grant.client_id == client.client_id
    {
        ctx.store.revoke_grant(&grant.id, ctx.now).await?;
    }
    Ok(())
}

/// OIDC Core §5.3: the citizen's claims for a live access token with `openid`.
pub async fn userinfo(ctx: &Ctx<'_>, token: &str) -> Result<Value, OAuthError> {
    let invalid = || OAuthError::new(E::InvalidToken, "the access token is invalid, expired or revoked");
    let at = check_access_token(ctx, token).await?.ok_or_else(invalid)?;
    // RFC 9449 §7: a bound token only with the DPoP scheme and a proof by its
    // key (§7.2: never as a bearer token); a bearer token only as one.
    if super::dpop::bound_key(&at.claims) != ctx.dpop_jkt.as_deref() {
        return Err(OAuthError::new(E::InvalidToken, "the access token is not bound to the key of this request"));
    }
    let scopes = at.scopes();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(E::InsufficientScope, "the access token lacks the openid scope"));
    }
    // The grant, citizen and membership as the liveness check just read them.
    let TokenOwner { grant, citizen, acting } = at.owner.clone().ok_or_else(invalid)?;
    let request = grant.claims.as_deref().and_then(ClaimsRequest::from_stored);
    let mut claims = userinfo_claims(&citizen.profile, &scopes, request.as_ref());
    // The `sub` the token's audience knows: the client itself, or the
    // service a token exchange targeted.
    let audience = match at.str("aud") {
        Some(aud) if aud != at.client.client_id => ctx.store.get_client(aud).await?.ok_or_else(invalid)?,
        _ => at.client.clone(),
    };
    // The token's own scopes decide (a refresh may have narrowed them).
    let narrowed = Grant { scopes, ..grant };
    let who = principal_of(ctx, &audience, &narrowed, &citizen.account, acting.as_ref());
    claims.extend(who.extra);
    // An exchanged token names the whole chain of actors (RFC 8693 §4.1).
    if let Some(act) = at.claims.get("act") {
        claims.insert("act".into(), act.clone());
    }
    claims.insert("sub".into(), json!(who.subject));
    Ok(Value::Object(claims))
}
