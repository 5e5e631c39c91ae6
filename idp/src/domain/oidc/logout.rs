//! Single logout: OpenID Connect RP-Initiated Logout 1.0 (checking the
//! request), Back-Channel Logout 1.0 (the outbox and the logout token) and
//! Front-Channel Logout 1.0 (which clients to load in iframes).

use serde_json::{Map, Value, json};

use crate::crypto::jwt::Alg;
use crate::crypto::random_id;
use crate::domain::keys::{KeyError, Keyring};
use crate::domain::oidc::subjects::Subjects;
use crate::domain::oidc::tokens::client_alg;
use crate::store::{Account, Client, LogoutNotice, Store, StoreError, Timestamp};

/// Back-Channel Logout 1.0 §2.4: the event a logout token carries.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Lifetime of a logout token: §2.4 asks for a short one; each attempt signs a new one.
pub const LOGOUT_TOKEN_TTL: i64 = 120;
/// How long the worker keeps retrying a notice before giving up.
pub const RETRY_FOR: i64 = 24 * 3600;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: i64 = 3600;

/// What an `id_token_hint` tells us once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The client it was issued to (`aud`; `azp` when several audiences).
    pub client_id: String,
    /// The citizen's `sub` as the client saw it: `act.sub` when the token was
    /// issued to the citizen acting for a business (whose `sub` it carries,
    /// RFC 8693 §4.1), otherwise `sub`.
    pub subject: String,
    /// `sid`, when the token had one.
    pub sid: Option<String>,
}

/// Why an end-session request is refused (each shown as an error page; never a redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndSessionError {
    /// The hint is not an ID token we signed.
    #[error("id_token_hint is not an ID token issued here")]
    InvalidHint,
    /// `client_id` and the hint's audience differ.
    #[error("client_id does not match the id_token_hint")]
    ClientMismatch,
    /// Unknown or disabled client.
    #[error("unknown client")]
    UnknownClient,
    /// `post_logout_redirect_uri` without a client to check it against.
    #[error("post_logout_redirect_uri needs client_id or id_token_hint")]
    RedirectWithoutClient,
    /// `post_logout_redirect_uri` is not one the client registered.
    #[error("post_logout_redirect_uri is not registered for this client")]
    RedirectNotRegistered,
}

/// A checked end-session request.
#[derive(Debug, Clone, Default)]
pub struct EndSession {
    /// The client that sent the citizen here, if known.
    pub client: Option<Client>,
    /// The checked hint.
    pub hint: Option<Hint>,
    /// Where to send the browser afterwards, `state` already appended.
    pub redirect: Option<String>,
}

/// Check an `id_token_hint`: our signature (any published key, retired ones
/// included), an ID token (`typ` JWT), our issuer. Expiry is not checked:
/// RP-Initiated Logout §2 says an expired hint is still a valid hint.
pub fn read_hint(keys: &Keyring, issuer: &str, token: &str) -> Option<Hint> {
    let (typ, claims) = keys.verify(token)?;
    if typ.as_deref().is_some_and(|t| t != "JWT") || claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return None;
    }
    let client_id = match claims.get("aud")? {
        Value::String(a) => a.clone(),
        Value::Array(list) if list.len() == 1 => list[0].as_str()?.to_owned(),
        Value::Array(_) => claims.get("azp")?.as_str()?.to_owned(),
        _ => return None,
    };
    let subject = match claims.get("act") {
        Some(act) => act.get("sub")?.as_str()?,
        None => claims.get("sub")?.as_str()?,
    };
    Some(Hint {
        client_id,
        subject: subject.to_owned(),
        sid: claims.get("sid").and_then(Value::as_str).map(str::to_owned),
    })
}

/// RP-Initiated Logout §2–§3: tie the request to a client, and accept a
/// `post_logout_redirect_uri` only when it is exactly one that client registered.
pub async fn check_request(
    store: &dyn Store,
    keys: &Keyring,
    issuer: &str,
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
) -> Result<EndSession, EndSessionOutcome> {
    let hint = match id_token_hint {
        Some(t) => Some(read_hint(keys, issuer, t).ok_or(EndSessionError::InvalidHint)?),
        None => None,
    };
    let client_id = match (client_id, &hint) {
        (Some(c), Some(h)) if c != h.client_id => return Err(EndSessionError::ClientMismatch.into()),
        (Some(c), _) => Some(c.to_owned()),
        (None, Some(h)) => Some(h.client_id.clone()),
        (None, None) => None,
    };
    let client = match client_id {
        Some(id) => match store.get_client(&id).await? {
            Some(c) if c.status == "active" => Some(c),
            _ => return Err(EndSessionError::UnknownClient.into()),
        },
        None => None,
    };
    let redirect = match (post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => return Err(EndSessionError::RedirectWithoutClient.into()),
        (Some(uri), Some(c)) => {
            if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(EndSessionError::RedirectNotRegistered.into());
            }
            Some(with_state(uri, state))
        }
    };
    Ok(EndSession { client, hint, redirect })
}

/// `uri` with `state` added to its query (RP-Initiated Logout §3).
fn with_state(uri: &str, state: Option<&str>) -> String {
    match (state, url::Url::parse(uri)) {
        (Some(s), Ok(mut u)) => {
            u.query_pairs_mut().append_pair("state", s);
            u.to_string()
        }
        _ => uri.to_owned(),
    }
}

/// A refused request or a store failure.
#[derive(Debug, thiserror::Error)]
pub enum EndSessionOutcome {
    /// The request is wrong.
    #[error(transparent)]
    Refused(#[from] EndSessionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A front-channel logout iframe: the client's page with `iss` and `sid`
/// (Front-Channel Logout 1.0 §2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FrontChannel {
    /// Client display name.
    pub client_name: String,
    /// The iframe URL.
    pub src: String,
}

/// End SSO session `sid` of account `account_id`: write a back-channel
/// notice for each client the session signed into that registered an
/// endpoint (in the same request, before the session is revoked, so no
/// notice is lost), revoke the session and the grants made under it except
/// `offline_access` ones (they are meant to outlive the browser session, OIDC
/// Core §11; Back-Channel Logout §2.7 leaves refresh tokens to the OP's
/// policy). Returns the front-channel iframes to show.
pub async fn end_session(
    store: &dyn Store,
    subjects: &Subjects,
    issuer: &str,
    now: Timestamp,
    sid: &str,
    account_id: &str,
) -> Result<Vec<FrontChannel>, StoreError> {
    let account = store.get_citizen(account_id).await?.map(|c| c.account);
    end_one_session(store, subjects, issuer, now, sid, account.as_ref()).await
}

/// [`end_session`] with the account loaded (`None`: it is gone, so no
/// notice can name it; the session still ends).
async fn end_one_session(
    store: &dyn Store,
    subjects: &Subjects,
    issuer: &str,
    now: Timestamp,
    sid: &str,
    account: Option<&Account>,
) -> Result<Vec<FrontChannel>, StoreError> {
    let mut notices = Vec::new();
    let mut frames = Vec::new();
    for client_id in store.list_session_clients(sid).await? {
        let Some(client) = store.get_client(&client_id).await? else { continue };
        if let (Some(target), Some(account)) = (&client.backchannel_logout_uri, account) {
            let subject = notice_subject(store, subjects, sid, &client, account).await?;
            notices.push(LogoutNotice {
                id: random_id(),
                client_id: client.client_id.clone(),
                target_uri: target.clone(),
                subject,
                sid: sid.to_owned(),
                alg: client.signing_alg.clone(),
                attempts: 0,
                next_attempt_at: now,
                lease_until: None,
                delivered_at: None,
                given_up_at: None,
                last_error: None,
                created_at: now,
            });
        }
        if let Some(page) = &client.frontchannel_logout_uri
            && let Ok(mut src) = url::Url::parse(page)
        {
            src.query_pairs_mut().append_pair("iss", issuer).append_pair("sid", sid);
            frames.push(FrontChannel { client_name: client.name.clone(), src: src.to_string() });
        }
    }
    if !notices.is_empty() {
        store.enqueue_logout_notices(&notices).await?;
    }
    store.revoke_sso_session(sid, now).await?;
    store.revoke_session_grants(sid, now).await?;
    Ok(frames)
}

/// Back-Channel Logout §2.4/§2.6: the `sub` of the notice, or `""` for a
/// `sid`-only logout token. When the session's latest login with the
/// `business` scope at the client acted for a business, the client knows the
/// session by the business's `sub`, which every staff member of the
/// business shares: a service logging out by `sub` would sign all of them
/// out, so only `sid` is sent (§2.4 asks for `sub` or `sid`). Otherwise the
/// citizen's `sub` at this client (OIDC Core §8: pairwise clients have their
/// own).
async fn notice_subject(
    store: &dyn Store,
    subjects: &Subjects,
    sid: &str,
    client: &Client,
    account: &Account,
) -> Result<String, StoreError> {
    if matches!(store.session_business(sid, &client.client_id).await?, Some(Some(_))) {
        return Ok(String::new());
    }
    Ok(subjects.citizen(client, account))
}

/// End every live SSO session of an account (its owner signed out
/// everywhere, an admin disabled it, or its password changed): each as
/// [`end_session`] (back-channel notices included), then every grant of the
/// account, `offline_access` ones too. `keep` is a session left open (the
/// browser that changed the password); its grants are revoked all the same,
/// since a stolen refresh token must not outlive a password change. Returns
/// how many sessions ended.
pub async fn end_account_sessions(
    store: &dyn Store,
    subjects: &Subjects,
    issuer: &str,
    now: Timestamp,
    account_id: &str,
    keep: Option<&str>,
) -> Result<usize, StoreError> {
    let sids = store.live_account_sessions(account_id, now).await?;
    let account = store.get_citizen(account_id).await?.map(|c| c.account);
    let mut ended = 0;
    for s in sids.iter().filter(|s| Some(s.sid.as_str()) != keep) {
        end_one_session(store, subjects, issuer, now, &s.sid, account.as_ref()).await?;
        ended += 1;
    }
    store.revoke_account_grants(account_id, now).await?;
    Ok(ended)
}

/// The logout token for one notice (Back-Channel Logout §2.4): `typ`
/// `logout+jwt` (§2.4, RFC 8725 §3.11), the client's ID token algorithm, no
/// nonce; `sid` always, `sub` unless the notice's subject is empty.
pub fn logout_token(keys: &Keyring, issuer: &str, now: Timestamp, n: &LogoutNotice) -> Result<String, KeyError> {
    let mut c = Map::new();
    c.insert("iss".into(), json!(issuer));
    // An empty subject is a `sid`-only token (a login acting for a business).
    if !n.subject.is_empty() {
        c.insert("sub".into(), json!(n.subject));
    }
    c.insert("aud".into(), json!(n.client_id));
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + LOGOUT_TOKEN_TTL));
    // Back-Channel Logout §2.4: unique per token. Each retry signs a new
    // token, and a service that got an earlier one (its answer lost) rejects
    // a repeated jti as a replay (§2.6).
    c.insert("jti".into(), json!(random_id()));
    c.insert("sid".into(), json!(n.sid));
    c.insert("events".into(), json!({ BACKCHANNEL_EVENT: {} }));
    let alg: Alg = client_alg(&n.alg);
    keys.sign(alg, "logout+jwt", &Value::Object(c))
}

/// When to try again after the `attempts`-th failure: 1 s, 2 s, 4 s … capped
/// at an hour; `None` once that would be more than [`RETRY_FOR`] after the logout.
pub fn next_attempt(attempts: i64, created_at: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let exp = u32::try_from(attempts.clamp(1, 31) - 1).unwrap_or(0);
    let delay = 2_i64.saturating_pow(exp).min(MAX_BACKOFF);
    let at = now + delay;
    (at <= created_at + RETRY_FOR).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_gives_up() {
        assert_eq!(next_attempt(1, 0, 10), Some(11));
        assert_eq!(next_attempt(2, 0, 10), Some(12));
        assert_eq!(next_attempt(5, 0, 10), Some(26));
        assert_eq!(next_attempt(40, 0, 10), Some(10 + MAX_BACKOFF));
        assert_eq!(next_attempt(40, 0, RETRY_FOR), None);
    }

    /// Back-Channel Logout §2.4: `sub` or `sid`; a notice without a subject
    /// (a login acting for a business) carries `sid` only.
    #[tokio::test]
    async fn an_empty_subject_makes_a_sid_only_logout_token() {
        use base64::Engine as _;
        let store = crate::store::connect("sqlite::memory:", 1).await.expect("store");
        let kek =
            crate::crypto::kek::Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32]), "test")
                .expect("kek");
        let keys = Keyring::open(store.as_ref(), kek, 1_000).await.expect("keys");
        let notice = |subject: &str| LogoutNotice {
            id: "n-1".into(),
            client_id: "c-1".into(),
            target_uri: "https://rp.example.vn/bc".into(),
            subject: subject.into(),
            sid: "sid-1".into(),
            alg: "RS256".into(),
            attempts: 0,
            next_attempt_at: 1_000,
            lease_until: None,
            delivered_at: None,
            given_up_at: None,
            last_error: None,
            created_at: 1_000,
        };
        let claims = |n: &LogoutNotice| {
            let token = logout_token(&keys, "https://id.motcua.test", 1_000, n).expect("signed");
            keys.verify(&token).expect("verifies").1
        };
        let citizen = claims(&notice("sub-1"));
        assert_eq!((citizen["sub"].as_str(), citizen["sid"].as_str()), (Some("sub-1"), Some("sid-1")));
        let business = claims(&notice(""));
        assert!(business.get("sub").is_none(), "{business:?}");
        assert_eq!(business["sid"], "sid-1");
        assert!(business["events"][BACKCHANNEL_EVENT].is_object());
    }

    #[test]
    fn state_is_appended_to_the_query() {
        assert_eq!(with_state("https://rp.example.vn/bye", Some("a b")), "https://rp.example.vn/bye?state=a+b");
        assert_eq!(with_state("https://rp.example.vn/bye?x=1", Some("s")), "https://rp.example.vn/bye?x=1&state=s");
        assert_eq!(with_state("https://rp.example.vn/bye", None), "https://rp.example.vn/bye");
    }
}
