//! RFC 8693 token exchange: a service of one organisation trades a citizen's
//! access token for one meant for another service of the same organisation
//! (README, "Businesses"). The new token keeps the grant (so revoking it, or
//! removing the citizen from the business, ends both), never outlives the
//! token it came from, and names every service that passed it on in `act`.

use serde_json::{Map, Value, json};

use super::grants::{TokenResponse, allows, principal_of, require};
use super::tokens::{
    AccessTokenFor, Ctx, LiveAccessToken, TokenOwner, access_token, access_token_alg, check_access_token,
};
use super::{OAuthError, OAuthErrorCode as E, Params, TOKEN_EXCHANGE, split_scopes};
use crate::store::{Client, Grant, Timestamp};

/// RFC 8693 §3: the token type of an OAuth 2.0 access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The parameters of an exchange, checked for shape (RFC 8693 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest<'p> {
    /// The access token being exchanged.
    pub subject_token: &'p str,
    /// The `client_id` of the service the new token is for.
    pub audience: &'p str,
    /// The scopes asked for, if narrower than the subject token's.
    pub scope: Option<Vec<String>>,
}

impl<'p> ExchangeRequest<'p> {
    /// Check the parameters: an access token in, an access token out, one
    /// audience named by client id.
    pub fn parse(params: &'p Params) -> Result<Self, OAuthError> {
        let subject_token = require(params, "subject_token")?;
        // RFC 8693 §2.2.2: an unsupported token type is `invalid_request`.
        if require(params, "subject_token_type")? != ACCESS_TOKEN_TYPE {
            return Err(OAuthError::invalid_request(format!("subject_token_type must be {ACCESS_TOKEN_TYPE}")));
        }
        if params.get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
            return Err(OAuthError::invalid_request(format!("requested_token_type must be {ACCESS_TOKEN_TYPE}")));
        }
        // The requester is the actor (it authenticated); a separate actor
        // token would name someone Motcua cannot check.
        if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
            return Err(OAuthError::invalid_request(
                "actor_token is not supported: the requesting client is the actor",
            ));
        }
        // RFC 8693 §2.2.2: a target we do not serve is `invalid_target`.
        if params.is_duplicated("audience") {
            return Err(OAuthError::new(E::InvalidTarget, "name one audience: a token serves one service"));
        }
        if params.get("resource").is_some() {
            return Err(OAuthError::new(
                E::InvalidTarget,
                "resource is not supported: name the target service's client_id in audience",
            ));
        }
        let audience = require(params, "audience")?;
        let scope = params.get("scope").map(split_scopes);
        Ok(Self { subject_token, audience, scope })
    }
}

/// Most actors an `act` chain may name, the citizen included: a token passed
/// on and on is refused rather than grown without bound.
pub const MAX_ACTORS: usize = 5;

/// The scopes of the new token: each held by the subject token (never wider,
/// as for a refresh: RFC 6749 §6) and registered for the audience, which
/// must never receive more than it may ask for itself; by default all of
/// those. `offline_access` is dropped, asked for or not: no refresh token is
/// issued.
pub fn exchange_scopes(
    held: &[String],
    audience: &[String],
    asked: Option<Vec<String>>,
) -> Result<Vec<String>, OAuthError> {
    let usable = |s: &String| s != "offline_access";
    let scopes: Vec<String> = match asked {
        None => held.iter().filter(|s| audience.contains(s)).cloned().collect(),
        Some(mut asked) => {
            asked.retain(usable);
            if let Some(bad) = asked.iter().find(|a| !held.contains(a)) {
                return Err(OAuthError::new(E::InvalidScope, format!("scope {bad} is not in the subject token")));
            }
            if let Some(bad) = asked.iter().find(|a| !audience.contains(a)) {
                return Err(OAuthError::new(
                    E::InvalidScope,
                    format!("scope {bad} is not registered for the audience"),
                ));
            }
            asked
        }
    };
    let scopes: Vec<String> = scopes.into_iter().filter(usable).collect();
    if scopes.is_empty() {
        return Err(OAuthError::new(E::InvalidScope, "no scope of the subject token is registered for the audience"));
    }
    Ok(scopes)
}

/// RFC 8693 §4.1: the requester is the current actor; the services that
/// passed the token on before it follow, from the subject token's chain;
/// innermost comes `citizen`, the citizen acting for a business as the
/// *audience* knows them (`{"sub": …}`, `None` for a citizen's own token).
/// The subject token's innermost citizen actor is left out: its `sub` is
/// the one the earlier client knows, which a pairwise audience of another
/// sector must not learn (OIDC Core §8.1). Longer than [`MAX_ACTORS`], or a
/// malformed chain, is `invalid_request`.
pub fn actor_chain(requester: &str, previous: Option<&Value>, citizen: Option<&Value>) -> Result<Value, OAuthError> {
    let mut services = vec![requester.to_owned()];
    let mut node = previous;
    while let Some(n) = node {
        let sub = n
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::invalid_request("subject_token has a malformed act claim"))?;
        services.push(sub.to_owned());
        if services.len() > MAX_ACTORS {
            break;
        }
        node = n.get("act");
    }
    // A business token's chain ends with the citizen; a citizen's own has none.
    if citizen.is_some() && previous.is_some() {
        services.pop();
    }
    if services.len() + usize::from(citizen.is_some()) > MAX_ACTORS {
        return Err(OAuthError::invalid_request(format!(
            "the token has passed through too many services (at most {MAX_ACTORS} actors)"
        )));
    }
    let mut chain = citizen.cloned();
    for sub in services.iter().rev() {
        let mut act = Map::new();
        act.insert("sub".into(), json!(sub));
        if let Some(inner) = chain {
            act.insert("act".into(), inner);
        }
        chain = Some(Value::Object(act));
    }
    Ok(chain.unwrap_or_else(|| json!({ "sub": requester })))
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`.
pub async fn token_exchange(ctx: &Ctx<'_>, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    if client.client_type != "confidential" {
        return Err(OAuthError::new(E::UnauthorizedClient, "public clients cannot exchange tokens"));
    }
    allows(client, TOKEN_EXCHANGE)?;
    let request = ExchangeRequest::parse(params)?;
    // RFC 8693 §2.2.2: a subject token that is invalid for any reason is `invalid_request`.
    let subject = check_access_token(ctx, request.subject_token)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("subject_token is not a valid, live access token"))?;
    // RFC 8693 §5: only the token's holder may trade it in: the client it
    // was issued to, or the service it was exchanged for.
    let holder = [subject.str("client_id"), subject.str("aud")].contains(&Some(client.client_id.as_str()));
    if !holder {
        return Err(OAuthError::invalid_request("the subject token was not issued to the requesting client"));
    }
    // RFC 9449: the client a DPoP-bound token was issued to trades it in
    // only with a proof by its key. The service it was sent to (its `aud`)
    // never holds that key: it received the token with a proof, and
    // authenticates for itself here.
    if subject.str("client_id") == Some(client.client_id.as_str()) {
        super::dpop::require_key(super::dpop::bound_key(&subject.claims), ctx.dpop_jkt.as_deref(), "subject token")?;
    }
    if subject.client.organisation_id != client.organisation_id {
        return Err(OAuthError::invalid_request("subject_token was issued to a service of another organisation"));
    }
    let audience = match ctx.store.get_client(request.audience).await? {
        Some(c) if c.status == "active" && c.organisation_id == client.organisation_id => c,
        _ => {
            return Err(OAuthError::new(E::InvalidTarget, "audience is not a service of the requesting organisation"));
        }
    };
    let scopes = exchange_scopes(&subject.scopes(), &audience.scopes, request.scope)?;
    let dead = || OAuthError::invalid_request("subject_token does not speak for a citizen's live grant");
    // A client_credentials token has no citizen behind it: nothing to pass on.
    // Otherwise the grant, citizen and membership as the liveness check read them.
    let TokenOwner { grant, citizen, acting } = subject.owner.clone().ok_or_else(dead)?;
    // `sub` as the audience knows the citizen (or the business).
    let narrowed = Grant { scopes, ..grant };
    let who = principal_of(ctx, &audience, &narrowed, &citizen.account, acting.as_ref());
    let mut extra = who.extra;
    let chain = actor_chain(&client.client_id, subject.claims.get("act"), extra.get("act"))?;
    extra.insert("act".into(), chain);
    let not_after = subject.claims.get("exp").and_then(Value::as_i64).unwrap_or(ctx.now);
    let amr = string_list(&subject, "amr");
    let auth = subject.claims.get("auth_time").and_then(Value::as_i64).zip(subject.str("acr"));
    let token = access_token(
        ctx,
        access_token_alg(&audience),
        &AccessTokenFor {
            subject: &who.subject,
            client_id: &client.client_id,
            scopes: &narrowed.scopes,
            grant_id: Some(&narrowed.id),
            sid: subject.str("sid"),
            auth: auth.map(|(t, acr)| (t, acr, amr.as_slice())),
            audience: Some(&audience.client_id),
            not_after: Some(not_after),
            extra,
        },
    )?;
    // DESIGN §5: a revoked key revokes the grants it signed for.
    if let Some(kid) = crate::crypto::jwt::key_id(&token) {
        ctx.store.add_grant_signing_kid(&narrowed.id, &kid).await?;
    }
    Ok(TokenResponse {
        access_token: token,
        token_type: ctx.token_type(),
        expires_in: expires_in(ctx.now, ctx.ttl.access_token, not_after),
        scope: narrowed.scopes.join(" "),
        id_token: None,
        refresh_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}

/// Seconds the new token lives: the usual lifetime, cut at the subject token's expiry.
fn expires_in(now: Timestamp, lifetime: i64, not_after: Timestamp) -> i64 {
    (now + lifetime).min(not_after) - now
}

fn string_list(token: &LiveAccessToken, name: &str) -> Vec<String> {
    token
        .claims
        .get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
