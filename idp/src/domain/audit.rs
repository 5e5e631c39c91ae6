//! The audit trail: every admin act, login, token revocation and key change,
//! append-only and hash-chained.
//!
//! Each event's `hash` is SHA-256 over a canonical encoding of its fields and
//! the hash of the event before it ([`event_hash`]), so editing or deleting a
//! stored event breaks the chain at that point and [`verify`] names the first
//! broken `seq`. Appends are serialised by the store, so the chain never forks.
//!
//! Callers must never put a secret, password or token in an event: actors are
//! ids and labels, targets are ids, `detail` holds facts such as changed field
//! names, never their secret values.

use serde::Serialize;
use serde_json::Value;

use super::accounts::LoginError;
use super::oidc::Params;
use crate::crypto;
use crate::store::{AuditEvent, AuditFilter, Citizen, Store, StoreError};

/// `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest stored actor, target, source IP or request id; longer input is cut
/// (request ids come from clients).
const MAX_FIELD: usize = 200;
/// Events read per store call while verifying.
const VERIFY_PAGE: u32 = 1000;

/// How an audited act ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and failed (bad input, wrong password, not found…).
    Failure,
    /// The actor was not allowed to do it.
    Denied,
}

impl Outcome {
    /// The stored text: `success`, `failure`, `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// An event to record. Never put a secret, password or token in any field.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who: `admin:<token id> (<label>)`, `account:<id>`, `client:<id>`, `unknown`.
    pub actor: String,
    /// What, as `noun.verb`: `client.update`, `login.password`, `token.revoke`, `key.rotate`.
    pub action: String,
    /// On what (client id, account id, token id, kid), if anything.
    pub target: Option<String>,
    /// Peer address of the request.
    pub source_ip: Option<String>,
    /// Request id (`x-request-id`).
    pub request_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Extra facts (changed field names, counts, reasons); never a secret.
    pub detail: Option<Value>,
}

/// Append `event` at `now` to the trail.
pub async fn record(store: &dyn Store, now: i64, event: NewEvent) -> Result<(), StoreError> {
    let detail = match event.detail {
        Some(v) => Some(serde_json::to_string(&v).map_err(|e| StoreError::Backend(e.to_string()))?),
        None => None,
    };
    let draft = AuditEvent {
        seq: 0,
        at: now,
        actor: clip(event.actor),
        action: clip(event.action),
        target: event.target.map(clip),
        source_ip: event.source_ip.map(clip),
        request_id: event.request_id.map(clip),
        outcome: event.outcome.as_str().to_owned(),
        detail,
        prev_hash: String::new(),
        hash: String::new(),
    };
    store.append_audit_event(&draft, event_hash).await?;
    Ok(())
}

/// Actor of the rotation schedule firing (`key.rotate`).
pub const SYSTEM_SCHEDULE: &str = "system:schedule";
/// Actor of a node's housekeeping (`key.remove`, `key.revoke_grants`).
pub const SYSTEM_HOUSEKEEPING: &str = "system:housekeeping";
/// Actor of key creation when a node starts on a store lacking keys (`key.create`).
pub const SYSTEM_STARTUP: &str = "system:startup";
/// Actor of `idp bootstrap-admin` (`admin_token.create`).
pub const SYSTEM_BOOTSTRAP: &str = "system:bootstrap";

/// Record an act the server did on its own (no request: no source IP or
/// request id). `actor` is one of the `SYSTEM_*` names. A failure to record is
/// logged; the act has happened.
pub async fn record_system(
    store: &dyn Store,
    now: i64,
    actor: &str,
    action: &str,
    target: Option<&str>,
    outcome: Outcome,
    detail: Option<Value>,
) {
    let event = NewEvent {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        source_ip: None,
        request_id: None,
        outcome,
        detail,
    };
    if let Err(e) = record(store, now, event).await {
        tracing::error!(error = %e, actor, action, "could not record an automatic act in the audit trail");
    }
}

/// Cut to [`MAX_FIELD`] bytes on a character boundary, control characters removed.
fn clip(s: String) -> String {
    if s.len() <= MAX_FIELD && !s.chars().any(char::is_control) {
        return s;
    }
    let mut out = String::new();
    for c in s.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_FIELD {
            break;
        }
        out.push(c);
    }
    out
}

/// SHA-256 (hex) of the event: a JSON array of every field but `hash`, in a
/// fixed order, `prev_hash` last. JSON strings are unambiguous (quoted,
/// escaped) and `null` differs from `""`, so two different events cannot
/// encode the same.
pub fn event_hash(e: &AuditEvent) -> String {
    let canonical = serde_json::json!([
        "motcua-audit-v1",
        e.seq,
        e.at,
        e.actor,
        e.action,
        e.target,
        e.source_ip,
        e.request_id,
        e.outcome,
        e.detail,
        e.prev_hash,
    ]);
    crypto::sha256_hex(canonical.to_string().as_bytes())
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// True when every event links to the one before and its hash is right.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The first `seq` where the chain breaks, if it does.
    pub first_broken_seq: Option<i64>,
    /// What is wrong there, for the admin.
    pub reason: Option<String>,
    /// When the chain verified: the `seq` of its last event (the head).
    pub head_seq: Option<i64>,
    /// When the chain verified: the hash of its last event. Exported
    /// periodically to a place the database administrator cannot write, it
    /// lets a later `verify` prove the chain was not rewritten up to there.
    pub head_hash: Option<String>,
}

/// Walk the whole chain from `seq` 1 and report the first break: a gap
/// (deleted event), a wrong `prev_hash` (reordered or deleted), a hash that
/// does not match the fields (edited), or a chain that ends before the head
/// the store recorded (events cut from the end).
pub async fn verify(store: &dyn Store) -> Result<Verification, StoreError> {
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1;
    let mut count = 0u64;
    let broken = |seq: i64, count: u64, reason: String| Verification {
        ok: false,
        events: count,
        first_broken_seq: Some(seq),
        reason: Some(reason),
        head_seq: None,
        head_hash: None,
    };
    loop {
        let page = store.audit_events_after(expected_seq - 1, VERIFY_PAGE).await?;
        if page.is_empty() {
            break;
        }
        for e in page {
            if e.seq != expected_seq {
                return Ok(broken(expected_seq, count, format!("event {expected_seq} is missing")));
            }
            if e.prev_hash != expected_prev {
                return Ok(broken(e.seq, count, "prev_hash does not match the event before".into()));
            }
            let actual = event_hash(&e);
            if !crypto::constant_time_eq(actual.as_bytes(), e.hash.as_bytes()) {
                return Ok(broken(e.seq, count, "the stored fields do not match the event's hash".into()));
            }
            count += 1;
            expected_prev = e.hash;
            expected_seq += 1;
        }
    }
    let (head_seq, head_hash) = store.audit_head().await?;
    let last = expected_seq - 1;
    if head_seq != last || head_hash != expected_prev {
        let reason = format!("the chain ends at event {last} but the head records event {head_seq}");
        return Ok(broken(last + 1, count, reason));
    }
    Ok(Verification {
        ok: true,
        events: count,
        first_broken_seq: None,
        reason: None,
        head_seq: Some(head_seq),
        head_hash: Some(head_hash),
    })
}

/// Search filters as the admin API takes them.
pub type Filter = AuditFilter;

/// Matching events, newest first, at most `limit`.
pub async fn search(store: &dyn Store, filter: &Filter, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    store.search_audit_events(filter, limit).await
}

/// Record a password login attempt (`login.password`). The actor is
/// `account:<id>` when the identifier names an account, else `unknown` with
/// only an [`identifier_tag`] in `detail`: what was typed is never stored, nor
/// the password. A failure to record is logged; the login proceeds.
pub async fn record_login(
    store: &dyn Store,
    now: i64,
    identifier: &str,
    result: &Result<Citizen, LoginError>,
    source_ip: Option<String>,
    request_id: Option<String>,
) {
    let (outcome, reason) = match result {
        Ok(_) => (Outcome::Success, None),
        Err(LoginError::InvalidCredentials) => (Outcome::Failure, Some("invalid_credentials")),
        Err(LoginError::Throttled { .. }) => (Outcome::Denied, Some("throttled")),
        Err(LoginError::AccountDisabled) => (Outcome::Denied, Some("account_disabled")),
        Err(LoginError::Internal(_)) => (Outcome::Failure, Some("server_error")),
    };
    let account = match result {
        Ok(c) => Some(c.account.id.clone()),
        // Same lookup as the login itself, so a wrong password is tied to its account.
        Err(_) => match find_account(store, identifier).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "audit: cannot look up the login identifier");
                None
            }
        },
    };
    let (actor, detail) = match &account {
        Some(id) => (format!("account:{id}"), reason.map(|r| serde_json::json!({ "reason": r }))),
        None => (
            "unknown".to_owned(),
            Some(serde_json::json!({ "reason": reason, "identifier_tag": identifier_tag(identifier) })),
        ),
    };
    let event =
        NewEvent { actor, action: "login.password".into(), target: account, source_ip, request_id, outcome, detail };
    if let Err(e) = record(store, now, event).await {
        tracing::error!(error = %e, "could not record a login in the audit trail");
    }
}

/// Record an RFC 7009 revocation request (`token.revoke`) by `client_id`.
/// Only the kind of token (from its shape and the hint) is stored, never the token.
pub async fn record_revocation(
    store: &dyn Store,
    now: i64,
    client_id: &str,
    params: &Params,
    source_ip: Option<String>,
    request_id: Option<String>,
) {
    let kind = match params.get("token") {
        Some(t) if t.matches('.').count() == 2 => "access_token",
        Some(_) => "refresh_token",
        None => "none",
    };
    let hint = params.get("token_type_hint").filter(|h| matches!(*h, "access_token" | "refresh_token"));
    let event = NewEvent {
        actor: format!("client:{client_id}"),
        action: "token.revoke".into(),
        target: Some(client_id.to_owned()),
        source_ip,
        request_id,
        outcome: Outcome::Success,
        detail: Some(serde_json::json!({ "token_kind": kind, "token_type_hint": hint })),
    };
    if let Err(e) = record(store, now, event).await {
        tracing::error!(error = %e, "could not record a token revocation in the audit trail");
    }
}

/// The account a login identifier (national ID or email) names, if any.
async fn find_account(store: &dyn Store, identifier: &str) -> Result<Option<String>, StoreError> {
    let ident = identifier.trim().to_lowercase();
    let found = if ident.len() == 12 && ident.bytes().all(|b| b.is_ascii_digit()) {
        store.find_citizen_by_national_id(&ident).await?
    } else {
        store.find_citizen_by_email(&ident).await?
    };
    Ok(found.map(|c| c.account.id))
}

/// A short, non-reversible tag for an identifier that must not be stored in
/// clear (a login name that matched no account): 8 hex digits of its SHA-256,
/// enough to correlate repeated attempts, too short to identify anyone.
pub fn identifier_tag(identifier: &str) -> String {
    let hash = crypto::sha256_hex(identifier.trim().to_lowercase().as_bytes());
    hash.get(..8).unwrap_or_default().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            seq: 1,
            at: 100,
            actor: "a".into(),
            action: "client.update".into(),
            target: Some("c1".into()),
            source_ip: None,
            request_id: Some("r".into()),
            outcome: "success".into(),
            detail: None,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn hash_covers_every_field() {
        let base = event_hash(&event());
        let mut e = event();
        e.target = None;
        assert_ne!(event_hash(&e), base);
        let mut e = event();
        e.target = Some(String::new());
        assert_ne!(event_hash(&e), base);
        let mut e = event();
        e.detail = Some("{}".into());
        assert_ne!(event_hash(&e), base);
        let mut e = event();
        e.seq = 2;
        assert_ne!(event_hash(&e), base);
        let mut e = event();
        e.prev_hash = "1".repeat(64);
        assert_ne!(event_hash(&e), base);
        // Moving text between fields changes the hash too.
        let mut e = event();
        e.actor = "aclient.update".into();
        e.action = String::new();
        assert_ne!(event_hash(&e), base);
        assert_eq!(event_hash(&event()), base);
    }

    #[test]
    fn clip_cuts_long_and_control_text() {
        assert_eq!(clip("abc".into()), "abc");
        assert_eq!(clip("a\nb\u{7}".into()), "ab");
        let long = "ắ".repeat(150);
        let cut = clip(long);
        assert!(cut.len() <= MAX_FIELD);
        assert!(cut.chars().all(|c| c == 'ắ'));
    }

    #[test]
    fn identifier_tag_is_short_and_stable() {
        assert_eq!(identifier_tag("001090000001"), identifier_tag(" 001090000001 "));
        assert_eq!(identifier_tag("An@Example.vn"), identifier_tag("an@example.vn"));
        assert_eq!(identifier_tag("x").len(), 8);
    }
}
