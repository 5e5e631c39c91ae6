//! Rotation, revocation, removal of retired keys, the rotation schedule and
//! re-wrapping under a new key-encryption key (DESIGN §5).
//!
//! Every change is one compare-and-set store transaction over the states the
//! caller read, so two nodes (or two admins) acting at once cannot leave an
//! algorithm with two active keys or none: the loser changes nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use super::{DEFAULT_ALGS, KeyError, Keyring};
use crate::crypto::Secret;
use crate::crypto::jwt::Alg;
use crate::crypto::kek::Kek;
use crate::domain::audit::{self, Outcome};
use crate::store::{KeySchedule, KeyUpdate, ServerSecret, SigningKey, Store, Timestamp};

/// Seconds a retired key stays published beyond the longest token lifetime:
/// covers clock skew between us and relying parties, and slow token delivery.
pub const REMOVAL_MARGIN: i64 = 300;

/// Shortest automatic rotation interval: a new `next` key must sit in the
/// JWKS longer than relying parties cache it (`max-age=900`) before it signs.
pub const MIN_SCHEDULE_INTERVAL: i64 = 3600;
/// Longest automatic rotation interval, five years: any longer is a typo, and
/// an unbounded one would overflow the time of the next rotation.
pub const MAX_SCHEDULE_INTERVAL: i64 = 5 * 365 * 86_400;

/// How many times a revocation or re-wrap retries after losing a race.
const RETRIES: usize = 3;

/// When retired keys may leave the JWKS.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// Seconds from retirement to removal: longest signed-token lifetime plus [`REMOVAL_MARGIN`].
    pub retention: i64,
}

impl KeyPolicy {
    /// From the access and ID token lifetimes (seconds).
    pub fn new(access_token_ttl: i64, id_token_ttl: i64) -> Self {
        Self { retention: access_token_ttl.max(id_token_ttl) + REMOVAL_MARGIN }
    }
}

/// What one algorithm's rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    /// Algorithm.
    pub alg: String,
    /// The key that stopped signing (`retired`), if there was one.
    pub retired: Option<String>,
    /// The key that signs from now on (the former `next`).
    pub activated: String,
    /// The freshly published `next` key.
    pub next: String,
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// The revoked key.
    pub kid: String,
    /// Its algorithm.
    pub alg: String,
    /// The state it was in.
    pub previous_state: String,
    /// The key promoted to sign in its place, when it was the active key.
    pub activated: Option<String>,
    /// Grants (refresh-token families) revoked because it signed their tokens.
    pub grants_revoked: u64,
}

/// A key as `keys list` shows it: no key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: String,
    /// `next`, `active`, `retired` or `revoked`.
    pub state: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it started signing.
    pub activated_at: Option<Timestamp>,
    /// When it stopped signing.
    pub retired_at: Option<Timestamp>,
    /// What happens to it next: `activate` (next), `retire` (active), `remove` (retired).
    pub next_transition: Option<&'static str>,
    /// When: the scheduled rotation, or the removal time; `None` without a schedule.
    pub next_transition_at: Option<Timestamp>,
}

/// Every key with its next transition.
pub fn describe(keys: &[SigningKey], schedule: Option<&KeySchedule>, policy: KeyPolicy) -> Vec<KeyInfo> {
    let rotation_at = schedule.map(|s| s.next_at);
    keys.iter()
        .map(|k| {
            let (next_transition, next_transition_at) = match k.state.as_str() {
                "next" => (Some("activate"), rotation_at),
                "active" => (Some("retire"), rotation_at),
                "retired" => (Some("remove"), k.retired_at.map(|r| r + policy.retention)),
                _ => (None, None),
            };
            KeyInfo {
                kid: k.kid.clone(),
                alg: k.alg.clone(),
                state: k.state.clone(),
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
                next_transition,
                next_transition_at,
            }
        })
        .collect()
}

fn update(k: &SigningKey, state: &str, activated_at: Option<Timestamp>, retired_at: Option<Timestamp>) -> KeyUpdate {
    KeyUpdate { kid: k.kid.clone(), from_state: k.state.clone(), state: state.to_owned(), activated_at, retired_at }
}

/// Algorithms that have keys, in discovery order.
fn algs_in_use(keys: &[SigningKey]) -> Vec<Alg> {
    let mut algs: Vec<Alg> = Alg::ALL.into_iter().filter(|a| keys.iter().any(|k| k.alg == a.as_str())).collect();
    if algs.is_empty() {
        algs = DEFAULT_ALGS.to_vec();
    }
    algs
}

/// Promote `alg`'s oldest `next` key (or a fresh key when there is none) and
/// make sure a `next` key remains. Returns the promoted kid and the `next` kid.
async fn promote(
    ring: &Keyring,
    all: &[SigningKey],
    alg: Alg,
    now: Timestamp,
    updates: &mut Vec<KeyUpdate>,
    inserts: &mut Vec<SigningKey>,
) -> Result<(String, String), KeyError> {
    let nexts: Vec<&SigningKey> = all.iter().filter(|k| k.alg == alg.as_str() && k.state == "next").collect();
    let activated = match nexts.first() {
        Some(n) => {
            updates.push(update(n, "active", Some(now), None));
            n.kid.clone()
        }
        None => {
            let k = ring.new_key(alg, "active", now).await?;
            let kid = k.kid.clone();
            inserts.push(k);
            kid
        }
    };
    // Always one published `next` per algorithm: an RP caching the JWKS
    // never meets an unknown kid at the following rotation.
    let next = match nexts.get(1) {
        Some(n) => n.kid.clone(),
        None => {
            let k = ring.new_key(alg, "next", now).await?;
            let kid = k.kid.clone();
            inserts.push(k);
            kid
        }
    };
    Ok((activated, next))
}

/// How long a key is published before a manual rotation may sign with it:
/// relying parties may cache the JWKS this long (`/jwks` answers
/// `Cache-Control: max-age=900`), and one that has not seen the key cannot
/// verify its tokens (many, the `openidconnect` crate among them, do not
/// refetch on an unknown `kid`).
pub const PUBLISHED_BEFORE_USE: i64 = 900;

/// Whether a rotation waits until relying parties can know the key it activates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Haste {
    /// Refuse ([`KeyError::TooSoon`]) while the `next` key of an algorithm
    /// has been published for less than [`PUBLISHED_BEFORE_USE`] seconds
    /// (right after a rotation, a first start or a `keys revoke`), or when
    /// there is none (the rotation would make one and sign with it at once).
    WhenPublished,
    /// Rotate all the same (`--force`): for when signing with a key that may
    /// be exposed is worse than relying parties refusing tokens until they
    /// refetch the JWKS.
    Now,
}

/// Why `alg`'s rotation must wait, checked on the very list the rotation
/// changes (a check on an earlier read could be overtaken by another
/// node's rotation).
fn too_soon(all: &[SigningKey], alg: Alg, now: Timestamp) -> Option<String> {
    let force = "relying parties that have not refetched the JWKS would refuse its tokens; \
                 use --force (API: \"force\": true) to rotate now all the same";
    // The key `promote` activates: the oldest `next` (the list is in creation order).
    match all.iter().find(|k| k.alg == alg.as_str() && k.state == "next") {
        Some(k) if now.saturating_sub(k.created_at) >= PUBLISHED_BEFORE_USE => None,
        Some(k) => Some(format!(
            "the next {} key {} has been published for less than {PUBLISHED_BEFORE_USE} s: rotate in {} s, \
             when relying parties' cached JWKS have it; {force}",
            alg.as_str(),
            k.kid,
            PUBLISHED_BEFORE_USE - now.saturating_sub(k.created_at),
        )),
        None => Some(format!(
            "no next {} key is published: a rotation would sign with a key made on the spot; {force}",
            alg.as_str()
        )),
    }
}

/// Rotate `algs` (every algorithm in use when empty) in one transaction:
/// next → active, active → retired, a fresh next. `TooSoon` when `haste`
/// waits and a next key is too new (see [`Haste`]); `Conflict` if another
/// node changed the keys meanwhile. Reloads this node's ring.
pub async fn rotate(
    store: &dyn Store,
    ring: &Keyring,
    algs: &[Alg],
    now: Timestamp,
    haste: Haste,
) -> Result<Vec<Rotation>, KeyError> {
    let all = store.list_signing_keys().await?;
    let algs = if algs.is_empty() { algs_in_use(&all) } else { algs.to_vec() };
    if haste == Haste::WhenPublished
        && let Some(why) = algs.iter().find_map(|&alg| too_soon(&all, alg, now))
    {
        return Err(KeyError::TooSoon(why));
    }
    let (mut updates, mut inserts, mut done) = (Vec::new(), Vec::new(), Vec::new());
    for alg in algs {
        let mut retired = None;
        for a in all.iter().filter(|k| k.alg == alg.as_str() && k.state == "active") {
            updates.push(update(a, "retired", a.activated_at, Some(now)));
            retired = Some(a.kid.clone());
        }
        let (activated, next) = promote(ring, &all, alg, now, &mut updates, &mut inserts).await?;
        done.push(Rotation { alg: alg.as_str().to_owned(), retired, activated, next });
    }
    if !store.change_signing_keys(&updates, &inserts).await? {
        return Err(KeyError::Conflict);
    }
    ring.reload(store).await?;
    Ok(done)
}

/// Revoke `kid` (suspected compromise): it leaves the JWKS at once; if it was
/// active, the next key is promoted and a fresh next created; every grant
/// whose tokens it signed is revoked. Idempotent. Reloads this node's ring.
pub async fn revoke(store: &dyn Store, ring: &Keyring, kid: &str, now: Timestamp) -> Result<Revocation, KeyError> {
    for _ in 0..RETRIES {
        let all = store.list_signing_keys().await?;
        let key = all.iter().find(|k| k.kid == kid).ok_or_else(|| KeyError::NotFound(kid.to_owned()))?;
        let alg = Alg::parse(&key.alg).ok_or_else(|| KeyError::Crypto(format!("unknown algorithm {}", key.alg)))?;
        let mut out = Revocation {
            kid: kid.to_owned(),
            alg: key.alg.clone(),
            previous_state: key.state.clone(),
            activated: None,
            grants_revoked: 0,
        };
        if key.state != "revoked" {
            let mut updates = vec![update(key, "revoked", key.activated_at, key.retired_at.or(Some(now)))];
            let mut inserts = Vec::new();
            match key.state.as_str() {
                "active" => {
                    out.activated = Some(promote(ring, &all, alg, now, &mut updates, &mut inserts).await?.0);
                }
                "next" => {
                    let others = all.iter().filter(|k| k.alg == key.alg && k.state == "next").count();
                    if others <= 1 {
                        inserts.push(ring.new_key(alg, "next", now).await?);
                    }
                }
                _ => {}
            }
            if !store.change_signing_keys(&updates, &inserts).await? {
                continue;
            }
        }
        // Access tokens it signed stop verifying because the kid leaves the
        // ring; refresh tokens are opaque, so their families are revoked here.
        out.grants_revoked = store.revoke_grants_signed_by(kid, now).await?;
        ring.reload(store).await?;
        return Ok(out);
    }
    Err(KeyError::Conflict)
}

/// What [`revoke_all`] did to one algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FullRevocation {
    /// The algorithm.
    pub alg: String,
    /// Every key revoked: active, next and retired.
    pub revoked: Vec<String>,
    /// The fresh active key.
    pub activated: String,
    /// The fresh next key.
    pub next: String,
    /// Grants revoked because one of those keys signed their tokens.
    pub grants_revoked: u64,
}

/// Revoke every key of `algs` (all algorithms in use when empty) at once —
/// active, next and retired — and start each with a fresh active and next
/// key, in one transaction. For a leak of the database together with the
/// master key, where every private key is exposed: revoking the active key
/// alone would promote an exposed next key, and retired ones would still
/// verify. Every grant those keys signed for is revoked (every citizen signs
/// in again). Reloads this node's ring.
pub async fn revoke_all(
    store: &dyn Store,
    ring: &Keyring,
    algs: &[Alg],
    now: Timestamp,
) -> Result<Vec<FullRevocation>, KeyError> {
    for _ in 0..RETRIES {
        let all = store.list_signing_keys().await?;
        let algs = if algs.is_empty() { algs_in_use(&all) } else { algs.to_vec() };
        let (mut updates, mut inserts, mut done) = (Vec::new(), Vec::new(), Vec::new());
        for alg in algs {
            let mut revoked = Vec::new();
            // Active first, then next, as `rotate` and `revoke` change them:
            // rows locked in one order, no deadlock with a rotation on PostgreSQL.
            let mut exposed: Vec<&SigningKey> =
                all.iter().filter(|k| k.alg == alg.as_str() && k.state != "revoked").collect();
            exposed.sort_by_key(|k| match k.state.as_str() {
                "active" => 0,
                "next" => 1,
                _ => 2,
            });
            for k in exposed {
                updates.push(update(k, "revoked", k.activated_at, k.retired_at.or(Some(now))));
                revoked.push(k.kid.clone());
            }
            let (active, next) = (ring.new_key(alg, "active", now).await?, ring.new_key(alg, "next", now).await?);
            let (activated, next_kid) = (active.kid.clone(), next.kid.clone());
            inserts.extend([active, next]);
            done.push(FullRevocation {
                alg: alg.as_str().to_owned(),
                revoked,
                activated,
                next: next_kid,
                grants_revoked: 0,
            });
        }
        if !store.change_signing_keys(&updates, &inserts).await? {
            continue;
        }
        // Committed: the keys are revoked whatever follows, so the answer (and
        // the audit) says so. A grant revocation or reload that fails here is
        // done again by housekeeping, which revokes the grants of every
        // revoked key and reloads the ring each `key_reload_interval`.
        for d in &mut done {
            for kid in &d.revoked {
                match store.revoke_grants_signed_by(kid, now).await {
                    Ok(n) => d.grants_revoked += n,
                    Err(e) => tracing::warn!(kid = %kid, error = %e, "grants of a revoked key left to housekeeping"),
                }
            }
        }
        if let Err(e) = ring.reload(store).await {
            tracing::warn!(error = %e, "key ring reload after revoking every key left to housekeeping");
        }
        return Ok(done);
    }
    Err(KeyError::Conflict)
}

/// Delete retired keys whose every token has expired; returns their kids.
/// Each removal is audited (`key.remove`, actor `system:housekeeping`).
pub async fn remove_expired(store: &dyn Store, policy: KeyPolicy, now: Timestamp) -> Result<Vec<String>, KeyError> {
    let mut removed = Vec::new();
    for k in store.list_signing_keys().await? {
        let due = k.retired_at.is_some_and(|r| r + policy.retention <= now);
        if k.state == "retired" && due && store.delete_signing_key(&k.kid, "retired").await? {
            let detail = json!({ "alg": k.alg, "retired_at": k.retired_at });
            audit::record_system(
                store,
                now,
                audit::SYSTEM_HOUSEKEEPING,
                "key.remove",
                Some(&k.kid),
                Outcome::Success,
                Some(detail),
            )
            .await;
            removed.push(k.kid);
        }
    }
    Ok(removed)
}

/// Revoke again the grants signed by every `revoked` key: a node that had
/// not yet reloaded its keys may have signed with one after the revocation.
/// Returns each key that caught grants, with how many; each is audited
/// (`key.revoke_grants`, actor `system:housekeeping`).
pub async fn reapply_revocations(store: &dyn Store, now: Timestamp) -> Result<Vec<(String, u64)>, KeyError> {
    let mut caught = Vec::new();
    for k in store.list_signing_keys().await?.into_iter().filter(|k| k.state == "revoked") {
        let n = store.revoke_grants_signed_by(&k.kid, now).await?;
        if n > 0 {
            let detail = json!({ "grants_revoked": n });
            audit::record_system(
                store,
                now,
                audit::SYSTEM_HOUSEKEEPING,
                "key.revoke_grants",
                Some(&k.kid),
                Outcome::Success,
                Some(detail),
            )
            .await;
            caught.push((k.kid, n));
        }
    }
    Ok(caught)
}

/// Turn automatic rotation on (every `every` seconds, the first one `every`
/// from now) or off (`None`).
pub async fn set_schedule(
    store: &dyn Store,
    every: Option<i64>,
    now: Timestamp,
) -> Result<Option<KeySchedule>, KeyError> {
    let schedule = match every {
        None => None,
        Some(secs) if secs < MIN_SCHEDULE_INTERVAL => {
            return Err(KeyError::Invalid(format!(
                "the rotation interval must be at least {MIN_SCHEDULE_INTERVAL} seconds (1h): a new key must be \
                 published longer than relying parties cache the JWKS before it signs"
            )));
        }
        Some(secs) if secs > MAX_SCHEDULE_INTERVAL => {
            return Err(KeyError::Invalid(format!(
                "the rotation interval must be at most {MAX_SCHEDULE_INTERVAL} seconds (5 years)"
            )));
        }
        Some(secs) => Some(KeySchedule { interval_secs: secs, next_at: now.saturating_add(secs), updated_at: now }),
    };
    store.put_key_schedule(schedule.as_ref()).await?;
    Ok(schedule)
}

/// Fire the schedule if it is due at `now`. Every node calls this; the one
/// whose compare-and-set moves `next_at` rotates, the others return `None`.
/// The rotation, or its failure, is audited (`key.rotate`, actor `system:schedule`).
pub async fn run_schedule(
    store: &dyn Store,
    ring: &Keyring,
    now: Timestamp,
) -> Result<Option<Vec<Rotation>>, KeyError> {
    let Some(s) = store.get_key_schedule().await? else { return Ok(None) };
    if now < s.next_at {
        return Ok(None);
    }
    // After downtime, rotate once and count the interval from now, not once per missed slot.
    let new_next = now.saturating_add(s.interval_secs);
    if !store.advance_key_schedule(s.next_at, new_next).await? {
        return Ok(None);
    }
    let result = rotate(store, ring, &[], now, Haste::WhenPublished).await;
    if let Err(KeyError::TooSoon(why)) = &result {
        // A key made in the last minutes (a manual rotation or a revoke):
        // wait for it as a manual rotation would, trying again each tick.
        tracing::info!(reason = %why, "scheduled rotation waits for the next key to be published long enough");
        store.advance_key_schedule(new_next, s.next_at).await?;
        return Ok(None);
    }
    let (outcome, detail) = match &result {
        Ok(done) => (Outcome::Success, json!({ "rotated": done, "next_at": new_next })),
        Err(e) => (Outcome::Failure, json!({ "error": e.to_string() })),
    };
    audit::record_system(store, now, audit::SYSTEM_SCHEDULE, "key.rotate", None, outcome, Some(detail)).await;
    match result {
        Ok(done) => Ok(Some(done)),
        Err(e) => {
            // Put the due time back so the next tick (on any node) tries again.
            store.advance_key_schedule(new_next, s.next_at).await?;
            Err(e)
        }
    }
}

/// One housekeeping pass of a node: reload the ring, fire the schedule if
/// due, remove retired keys past their retention, re-apply key revocations
/// to grants (see [`reapply_revocations`]). Failures are logged; each step
/// runs regardless of the others. `true` when this pass changed the
/// keys (so the caller can notify the other nodes).
pub async fn housekeeping(store: &dyn Store, ring: &Keyring, policy: KeyPolicy, now: Timestamp) -> bool {
    let mut changed = false;
    if let Err(e) = ring.reload(store).await {
        tracing::error!(error = %e, "signing key reload failed; keeping the keys already loaded");
    }
    match run_schedule(store, ring, now).await {
        Ok(Some(done)) => {
            let kids: Vec<&str> = done.iter().map(|r| r.activated.as_str()).collect();
            tracing::info!(activated = ?kids, "scheduled signing key rotation");
            changed = true;
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "scheduled signing key rotation failed"),
    }
    match remove_expired(store, policy, now).await {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(?removed, "retired signing keys removed from the JWKS");
            changed = true;
            if let Err(e) = ring.reload(store).await {
                tracing::error!(error = %e, "signing key reload failed");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "removing retired signing keys failed"),
    }
    // Grants only: the keys themselves do not change here.
    match reapply_revocations(store, now).await {
        Ok(caught) if !caught.is_empty() => {
            tracing::warn!(?caught, "revoked grants signed by revoked keys after their revocation");
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "re-applying signing key revocations failed"),
    }
    changed
}

/// Where the node's KEK comes from, which decides how a new one is handed over.
#[derive(Debug, Clone, Copy)]
pub enum KekSource<'a> {
    /// `master_key_file`: replaced atomically, the old key kept as `<file>.previous`.
    File(&'a Path),
    /// `IDP_MASTER_KEY`: the new key is returned once for the operator's secret store.
    Env,
}

/// What a re-wrap did. No `Debug`: it may hold the new KEK.
pub struct Rewrap {
    /// Id of the new KEK.
    pub kek_id: String,
    /// Keys re-encrypted.
    pub keys: usize,
    /// With [`KekSource::Env`]: the new KEK, to store as `IDP_MASTER_KEY`.
    pub new_master_key: Option<Secret>,
    /// With [`KekSource::File`]: where the old key was kept.
    pub previous_file: Option<PathBuf>,
}

/// Rotate the KEK: generate one, re-encrypt every private key under it in one
/// transaction, and make it this node's current KEK. With a key file, the new
/// file is written (old one kept as `.previous`) *before* the database
/// changes, so a crash in between leaves a node that can still read every row.
pub async fn rewrap(store: &dyn Store, ring: &Keyring, source: KekSource<'_>) -> Result<Rewrap, KeyError> {
    let new = Kek::generate().map_err(|e| KeyError::Crypto(e.to_string()))?;
    if let KekSource::File(path) = source {
        new.replace_file(path).map_err(|e| KeyError::Crypto(e.to_string()))?;
        // From here this node must be able to read rows under either key.
        ring.add_kek(
            Kek::from_base64(new.to_base64().expose(), "the new key").map_err(|e| KeyError::Crypto(e.to_string()))?,
            false,
        );
    }
    for _ in 0..RETRIES {
        let all = store.list_signing_keys().await?;
        let mut rows = Vec::with_capacity(all.len());
        for k in all {
            let old = ring.kek(&k.kek_id).ok_or_else(|| {
                KeyError::Crypto(format!(
                    "key {} is wrapped by key-encryption key {}, which this node does not have",
                    k.kid, k.kek_id
                ))
            })?;
            let der = old.open(k.kid.as_bytes(), &k.private_enc).map_err(|e| KeyError::Crypto(e.to_string()))?;
            let private_enc = new.seal(k.kid.as_bytes(), &der).map_err(|e| KeyError::Crypto(e.to_string()))?;
            let old_id = k.kek_id.clone();
            rows.push((SigningKey { private_enc, kek_id: new.id().to_owned(), ..k }, old_id));
        }
        // Server secrets (the pairwise-subject key, the passkey ceremony
        // secret) are sealed under the same
        // KEK; they move in the same transaction, so none is left under a KEK
        // the operator is about to discard.
        let mut secrets = Vec::new();
        for secret in store.list_server_secrets().await? {
            let old = ring.kek(&secret.kek_id).ok_or_else(|| {
                KeyError::Crypto(format!(
                    "server secret {} is wrapped by key-encryption key {}, which this node does not have",
                    secret.name, secret.kek_id
                ))
            })?;
            let plain =
                old.open(secret.name.as_bytes(), &secret.value_enc).map_err(|e| KeyError::Crypto(e.to_string()))?;
            let value_enc = new.seal(secret.name.as_bytes(), &plain).map_err(|e| KeyError::Crypto(e.to_string()))?;
            let old_id = secret.kek_id.clone();
            secrets.push((ServerSecret { value_enc, kek_id: new.id().to_owned(), ..secret }, old_id));
        }
        if store.rewrap_signing_keys(&rows, &secrets).await? {
            let out = Rewrap {
                kek_id: new.id().to_owned(),
                keys: rows.len(),
                new_master_key: matches!(source, KekSource::Env).then(|| new.to_base64()),
                previous_file: match source {
                    KekSource::File(p) => Some(crate::crypto::kek::previous_path(p)),
                    KekSource::Env => None,
                },
            };
            ring.add_kek(new, true);
            ring.reload(store).await?;
            return Ok(out);
        }
    }
    Err(KeyError::Conflict)
}
