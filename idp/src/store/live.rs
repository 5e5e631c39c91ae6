//! An in-process read cache of the rows every token request and sign-in
//! reads: clients, citizens, grants, consents, SSO sessions and the "not
//! revoked" answer for an access token's `jti`.
//!
//! Introspection, UserInfo and the token endpoint read the same few rows
//! over and over (a resource server introspects one token per API call).
//! Each read is a round trip (on SQLite a hop to the connection's worker
//! thread and back), and the profile of `bench/` showed those hops costing
//! more CPU than the work itself. So the engines keep recently read rows
//! here, and every write that changes one drops it.
//!
//! **Invalidation.** Each write names what it changed as *marks*: `c:` a
//! client, `a:` an account (the citizen and all its grants), `g:` a grant,
//! `s:` an SSO session and its grants, `b:` the grants acting for a business,
//! `o:` an SSO session's "last seen" time, `n:` a consent, `j:` a revoked
//! `jti`, or `*` everything. A cached row depends on marks
//! (a grant on its own, its account's, its session's and its business's;
//! a consent on its own, its account's and its client's; an SSO session
//! on its own and its account's),
//! and it is served only if it was read after the latest of them:
//! a read takes a [`Ticket`] (a sequence number) *before* it asks the
//! database, and an entry whose ticket is older than a mark is dead. A read
//! racing a write therefore never revives what the write removed, whichever
//! finishes first.
//!
//! **Several nodes.** Marks made by this node's writes are also handed to a
//! broadcaster (Redis pub/sub, see `cache::RedisNotifier`), and marks from
//! other nodes are applied as they arrive. The cache is used only while that
//! path is known to work: it starts switched off, the SQLite store (one node)
//! switches it on at start-up, the Redis listener switches it on once
//! subscribed and off (dropping everything) when the subscription is lost,
//! and PostgreSQL without Redis leaves it off, because nodes could not tell
//! each other about a revocation. Entries also expire after [`TTL`], the
//! bound on staleness if a notice were lost while the subscription looked
//! healthy.
//!
//! Written by hand, not with a caching crate: what matters here is the
//! dependency marks and the read-ticket rule above, which no general cache
//! offers; the maps themselves are a few lines.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

/// Marks on their way to other nodes, and who waits for them to be sent
/// (`true` once Redis took them).
pub struct Broadcast {
    /// The marks.
    pub marks: Vec<String>,
    /// Answered by the publisher.
    pub sent: oneshot::Sender<bool>,
}

use super::{Citizen, Client, Consent, Grant, SsoSession};

/// How long an entry (and a mark) lives: the bound on staleness should a
/// notice from another node be lost (see the module doc).
pub const TTL: Duration = Duration::from_secs(10);

/// How long a write waits for its marks to reach Redis before answering.
const PUBLISH_WAIT: Duration = Duration::from_secs(2);

/// Entries per kind; past it, expired entries go, and if that is not enough,
/// all of that kind.
const CAPACITY: usize = 50_000;

/// The mark that kills every entry.
pub const ALL: &str = "*";

/// A sequence number taken before a database read.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64, Instant);

struct Entry<T> {
    value: T,
    ticket: u64,
    at: Instant,
}

struct Mark {
    seq: u64,
}

#[derive(Default)]
struct Maps {
    clients: HashMap<String, Entry<Client>>,
    citizens: HashMap<String, Entry<Citizen>>,
    grants: HashMap<String, Entry<Grant>>,
    live_jtis: HashMap<String, Entry<()>>,
    /// Consents by "account client".
    consents: HashMap<String, Entry<Consent>>,
    /// SSO sessions by sid.
    sessions: HashMap<String, Entry<SsoSession>>,
    /// Facts about rows that are never deleted or rolled back, so they
    /// cannot turn false: see [`LiveCache::fact`].
    facts: HashMap<String, i64>,
    marks: HashMap<String, Mark>,
    /// The marks in the order they were made, to forget them when old.
    order: VecDeque<(u64, Instant, String)>,
    /// Sequence number of the latest `*` mark or forgotten mark: an entry
    /// read before it is dead.
    all: u64,
}

impl Maps {
    /// Whether an entry read with `ticket` survives `deps`' marks.
    fn fresh(&self, ticket: u64, at: Instant, deps: &[String]) -> bool {
        at.elapsed() < TTL
            && ticket >= self.all
            && deps.iter().all(|d| self.marks.get(d).is_none_or(|m| ticket >= m.seq))
    }
}

/// The cache. One per store; see the module doc.
pub struct LiveCache {
    enabled: AtomicBool,
    seq: AtomicU64,
    maps: Mutex<Maps>,
    broadcast: Mutex<Option<UnboundedSender<Broadcast>>>,
    /// Until when writes do not wait for the publisher (it just failed:
    /// Redis is unreachable or hung, and each write would wait the full
    /// [`PUBLISH_WAIT`]).
    no_wait_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for LiveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCache").field("enabled", &self.enabled()).finish_non_exhaustive()
    }
}

impl Default for LiveCache {
    fn default() -> Self {
        Self::new()
    }
}

fn client_deps(c: &Client) -> [String; 1] {
    [client_mark(&c.client_id)]
}

fn citizen_deps(c: &Citizen) -> [String; 1] {
    [account_mark(&c.account.id)]
}

fn consent_deps(c: &Consent) -> [String; 3] {
    [consent_mark(&c.account_id, &c.client_id), account_mark(&c.account_id), client_mark(&c.client_id)]
}

fn session_deps(s: &SsoSession) -> [String; 3] {
    [session_mark(&s.sid), account_mark(&s.account_id), session_seen_mark(&s.sid)]
}

fn consent_key(account_id: &str, client_id: &str) -> String {
    format!("{account_id} {client_id}")
}

fn grant_deps(g: &Grant) -> Vec<String> {
    let mut deps = vec![grant_mark(&g.id), account_mark(&g.account_id)];
    deps.extend(g.sid.as_deref().map(session_mark));
    deps.extend(g.business_id.as_deref().map(business_mark));
    deps
}

impl LiveCache {
    /// A cache that is switched off until [`LiveCache::enable`].
    pub fn new() -> Self {
        Self {
            enabled: AtomicBool::new(false),
            seq: AtomicU64::new(1),
            maps: Mutex::new(Maps::default()),
            broadcast: Mutex::new(None),
            no_wait_until: Mutex::new(None),
        }
    }

    /// Whether entries are served.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Serve entries (from now on; nothing read before counts).
    pub fn enable(&self) {
        self.apply(&[ALL.to_owned()]);
        self.enabled.store(true, Ordering::Release);
    }

    /// Stop serving entries and drop them (the path that brings other
    /// nodes' marks is down).
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::Release);
        self.apply(&[ALL.to_owned()]);
    }

    /// Hand this node's marks to `sender` (the broadcaster to other nodes).
    pub fn broadcast_to(&self, sender: UnboundedSender<Broadcast>) {
        *self.broadcast.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sender);
    }

    /// Take before reading the database; pass to the `put_*` call after.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.seq.load(Ordering::Acquire), Instant::now())
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters: every entry is checked against the marks.
        self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks from this node's own writes: applied here, then sent to the
    /// other nodes. Waits (up to [`PUBLISH_WAIT`]) until Redis took them, so
    /// that once the write is answered the other nodes have been sent them
    /// (they apply them within milliseconds, as their listeners read).
    pub async fn invalidate(&self, marks: &[String]) {
        self.apply(marks);
        let Some(taken) = self.send(marks.to_vec()) else { return };
        let skip = *self.no_wait_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if skip.is_some_and(|until| Instant::now() < until) {
            return;
        }
        match tokio::time::timeout(PUBLISH_WAIT, taken).await {
            Ok(Ok(true)) => {}
            // The publisher logged why; other nodes drop the rows within TTL.
            // The next writes for a while do not wait for it.
            _ => {
                *self.no_wait_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(Instant::now() + TTL);
                tracing::warn!(
                    marks = marks.len(),
                    "other nodes were not told about a change in time; they drop the rows within {} s",
                    TTL.as_secs()
                );
            }
        }
    }

    /// Queue marks for the other nodes; the answer says whether they went out.
    fn send(&self, marks: Vec<String>) -> Option<oneshot::Receiver<bool>> {
        let sender = self.broadcast.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()?;
        let (sent, taken) = oneshot::channel();
        // The receiver lives as long as the node; after it stopped (shutdown)
        // there is no one left to tell.
        sender.send(Broadcast { marks, sent }).ok()?;
        Some(taken)
    }

    /// Marks for a write about to run, applied even if the caller is
    /// cancelled mid-write (a client that disconnects drops its request's
    /// future, while the database may still commit): call
    /// [`PendingMarks::done`] after the write.
    pub fn pending(&self, marks: Vec<String>) -> PendingMarks<'_> {
        PendingMarks { live: self, marks: Some(marks) }
    }
}

/// See [`LiveCache::pending`].
pub struct PendingMarks<'a> {
    live: &'a LiveCache,
    marks: Option<Vec<String>>,
}

impl PendingMarks<'_> {
    /// The write ran (or failed): invalidate, here and on the other nodes.
    pub async fn done(mut self) {
        if let Some(marks) = self.marks.take() {
            self.live.invalidate(&marks).await;
        }
    }
}

impl Drop for PendingMarks<'_> {
    fn drop(&mut self) {
        // Cancelled: apply here, and queue for the other nodes without waiting.
        if let Some(marks) = self.marks.take() {
            self.live.apply(&marks);
            drop(self.live.send(marks));
        }
    }
}

impl LiveCache {
    /// Marks from another node's writes (or from this module): applied only.
    pub fn apply(&self, marks: &[String]) {
        let now = Instant::now();
        let mut maps = self.maps();
        // Numbered under the lock, so a mark never replaces a newer one.
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        for m in marks {
            if m == ALL {
                // Every entry and fact goes; only the marks (and their order) stay.
                let (marks, order) = (std::mem::take(&mut maps.marks), std::mem::take(&mut maps.order));
                *maps = Maps { marks, order, all: seq, ..Maps::default() };
            } else {
                maps.marks.insert(m.clone(), Mark { seq });
                maps.order.push_back((seq, now, m.clone()));
            }
        }
        // Forget marks older than TTL, and the oldest past CAPACITY. A
        // forgotten mark still counts through `all`: only an entry whose read
        // began before it (a read slower than TTL, or a mark forgotten early)
        // dies with it, at no cost to anything read since.
        while let Some(&(seq, at, _)) = maps.order.front() {
            if now.duration_since(at) < TTL && maps.order.len() <= CAPACITY {
                break;
            }
            if let Some((_, _, key)) = maps.order.pop_front()
                && maps.marks.get(&key).is_some_and(|m| m.seq == seq)
            {
                maps.marks.remove(&key);
            }
            maps.all = maps.all.max(seq);
        }
    }

    /// A fresh entry of one kind, cloned out.
    fn lookup<T: Clone, D: AsRef<[String]>>(
        &self,
        kind: fn(&Maps) -> &HashMap<String, Entry<T>>,
        key: &str,
        deps: impl Fn(&T) -> D,
    ) -> Option<T> {
        if !self.enabled() {
            return None;
        }
        let maps = self.maps();
        let e = kind(&maps).get(key)?;
        maps.fresh(e.ticket, e.at, deps(&e.value).as_ref()).then(|| e.value.clone())
    }

    /// Keep an entry of one kind, read with `ticket`.
    fn keep<T>(&self, kind: fn(&mut Maps) -> &mut HashMap<String, Entry<T>>, key: String, ticket: Ticket, value: T) {
        if self.enabled() {
            insert(kind(&mut self.maps()), key, ticket, value);
        }
    }

    /// A cached client (active or not).
    pub fn client(&self, client_id: &str) -> Option<Client> {
        self.lookup(|m| &m.clients, client_id, client_deps)
    }

    /// Keep a client read with `ticket`.
    pub fn put_client(&self, ticket: Ticket, client: &Client) {
        self.keep(|m| &mut m.clients, client.client_id.clone(), ticket, client.clone());
    }

    /// A cached citizen.
    pub fn citizen(&self, account_id: &str) -> Option<Citizen> {
        self.lookup(|m| &m.citizens, account_id, citizen_deps)
    }

    /// Keep a citizen read with `ticket`.
    pub fn put_citizen(&self, ticket: Ticket, citizen: &Citizen) {
        self.keep(|m| &mut m.citizens, citizen.account.id.clone(), ticket, citizen.clone());
    }

    /// A cached grant.
    pub fn grant(&self, grant_id: &str) -> Option<Grant> {
        self.lookup(|m| &m.grants, grant_id, grant_deps)
    }

    /// Keep a grant read with `ticket`.
    pub fn put_grant(&self, ticket: Ticket, grant: &Grant) {
        self.keep(|m| &mut m.grants, grant.id.clone(), ticket, grant.clone());
    }

    /// A cached consent of `account_id` to `client_id`.
    pub fn consent(&self, account_id: &str, client_id: &str) -> Option<Consent> {
        self.lookup(|m| &m.consents, &consent_key(account_id, client_id), consent_deps)
    }

    /// Keep a consent read with `ticket`.
    pub fn put_consent(&self, ticket: Ticket, consent: &Consent) {
        self.keep(|m| &mut m.consents, consent_key(&consent.account_id, &consent.client_id), ticket, consent.clone());
    }

    /// A cached SSO session.
    pub fn sso_session(&self, sid: &str) -> Option<SsoSession> {
        self.lookup(|m| &m.sessions, sid, session_deps)
    }

    /// Keep an SSO session read with `ticket`.
    pub fn put_sso_session(&self, ticket: Ticket, session: &SsoSession) {
        self.keep(|m| &mut m.sessions, session.sid.clone(), ticket, session.clone());
    }

    /// Whether `jti` is known not to be revoked.
    pub fn jti_live(&self, jti: &str) -> bool {
        self.lookup(|m| &m.live_jtis, jti, |()| [jti_mark(jti)]).is_some()
    }

    /// Remember that `jti` was not revoked when read with `ticket`.
    pub fn put_jti_live(&self, ticket: Ticket, jti: &str) {
        self.keep(|m| &mut m.live_jtis, jti.to_owned(), ticket, ());
    }
}

impl LiveCache {
    /// A value this node wrote under `key` (see [`LiveCache::put_fact`]).
    ///
    /// Facts let a write be skipped when it would change nothing: "key `kid`
    /// signed a token of grant `g`" (the `grant_signing_kids` row stays for
    /// ever), "client `c` was signed in to through session `s`" (likewise),
    /// "session `s` was last seen at `t` or later" (`last_seen_at` only
    /// grows). None can turn false, whatever another node does, so they are
    /// kept even while the cache is switched off.
    pub fn fact(&self, key: &str) -> Option<i64> {
        self.maps().facts.get(key).copied()
    }

    /// Remember a fact once the write that makes it true has committed.
    pub fn put_fact(&self, key: String, value: i64) {
        let mut maps = self.maps();
        if maps.facts.len() >= CAPACITY {
            maps.facts.clear();
        }
        maps.facts.insert(key, value);
    }
}

fn insert<T>(map: &mut HashMap<String, Entry<T>>, key: String, ticket: Ticket, value: T) {
    if map.len() >= CAPACITY {
        map.retain(|_, e| e.at.elapsed() < TTL);
        if map.len() >= CAPACITY {
            map.clear();
        }
    }
    // The entry's age counts from when its read began.
    map.insert(key, Entry { value, ticket: ticket.0, at: ticket.1 });
}

/// The fact "key `kid` signed a token of grant `grant_id`".
pub fn signing_kid_fact(grant_id: &str, kid: &str) -> String {
    format!("kid {grant_id} {kid}")
}

/// The fact "session `sid` was last seen at the value or later".
pub fn seen_fact(sid: &str) -> String {
    format!("seen {sid}")
}

/// The marks of a change to a client.
pub fn client_mark(client_id: &str) -> String {
    format!("c:{client_id}")
}

/// The marks of a change to an account (its citizen row and all its grants).
pub fn account_mark(account_id: &str) -> String {
    format!("a:{account_id}")
}

/// The mark of a change to one consent (a withdrawal marks the account).
pub fn consent_mark(account_id: &str, client_id: &str) -> String {
    format!("n:{}", consent_key(account_id, client_id))
}

/// The mark of a change to one grant.
pub fn grant_mark(grant_id: &str) -> String {
    format!("g:{grant_id}")
}

/// The mark of a change to an SSO session and to every grant of it.
pub fn session_mark(sid: &str) -> String {
    format!("s:{sid}")
}

/// The mark of a new "last seen" time of an SSO session (its row only).
pub fn session_seen_mark(sid: &str) -> String {
    format!("o:{sid}")
}

/// The mark of a change to every grant acting for a business.
pub fn business_mark(business_id: &str) -> String {
    format!("b:{business_id}")
}

/// The mark of a revoked access token.
pub fn jti_mark(jti: &str) -> String {
    format!("j:{jti}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn grant(id: &str, account: &str, sid: Option<&str>, business: Option<&str>) -> Grant {
        Grant {
            id: id.into(),
            account_id: account.into(),
            client_id: "c1".into(),
            scopes: vec!["openid".into()],
            claims: None,
            sid: sid.map(Into::into),
            auth_time: 1,
            acr: "LoA2".into(),
            amr: vec!["pwd".into()],
            created_at: 1,
            expires_at: 100,
            revoked_at: None,
            business_id: business.map(Into::into),
            dpop_jkt: None,
        }
    }

    #[test]
    fn switched_off_it_keeps_nothing() {
        let live = LiveCache::new();
        live.put_grant(live.ticket(), &grant("g1", "a1", None, None));
        live.put_jti_live(live.ticket(), "j1");
        assert!(live.grant("g1").is_none());
        assert!(!live.jti_live("j1"));
    }

    #[tokio::test]
    async fn each_mark_kills_what_depends_on_it() {
        let live = LiveCache::new();
        live.enable();
        for mark in [grant_mark("g1"), account_mark("a1"), session_mark("s1"), business_mark("b1")] {
            live.put_grant(live.ticket(), &grant("g1", "a1", Some("s1"), Some("b1")));
            live.put_grant(live.ticket(), &grant("g2", "a2", Some("s2"), None));
            assert!(live.grant("g1").is_some());
            live.invalidate(std::slice::from_ref(&mark)).await;
            assert!(live.grant("g1").is_none(), "{mark} kills g1");
            assert!(live.grant("g2").is_some(), "{mark} spares g2");
        }
        live.put_jti_live(live.ticket(), "j1");
        live.invalidate(&[jti_mark("j1")]).await;
        assert!(!live.jti_live("j1"));
        live.put_grant(live.ticket(), &grant("g2", "a2", None, None));
        live.apply(&[ALL.to_owned()]);
        assert!(live.grant("g2").is_none(), "* kills everything");
    }

    #[tokio::test]
    async fn a_read_that_started_before_a_write_is_not_kept() {
        let live = LiveCache::new();
        live.enable();
        let before = live.ticket();
        // The write commits and marks while the read is in flight…
        live.invalidate(&[grant_mark("g1")]).await;
        // …and the read, holding the old row, finishes after it.
        live.put_grant(before, &grant("g1", "a1", None, None));
        assert!(live.grant("g1").is_none());
        // A read that starts after the write is served.
        live.put_grant(live.ticket(), &grant("g1", "a1", None, None));
        assert!(live.grant("g1").is_some());
    }

    #[tokio::test]
    async fn switching_off_drops_everything_and_local_marks_are_broadcast() {
        let live = std::sync::Arc::new(LiveCache::new());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Broadcast>();
        live.broadcast_to(tx);
        live.enable();
        live.put_grant(live.ticket(), &grant("g1", "a1", None, None));
        live.disable();
        live.enable();
        assert!(live.grant("g1").is_none());
        // The write waits until the publisher says the marks went out.
        let writer = tokio::spawn({
            let live = live.clone();
            async move { live.invalidate(&[account_mark("a1")]).await }
        });
        let batch = rx.recv().await.unwrap();
        assert_eq!(batch.marks, vec![account_mark("a1")]);
        assert!(!writer.is_finished());
        batch.sent.send(true).unwrap();
        writer.await.unwrap();
        live.apply(&[account_mark("a2")]);
        assert!(rx.try_recv().is_err(), "marks from other nodes are not sent back");
    }

    #[tokio::test]
    async fn a_write_cancelled_midway_still_invalidates() {
        let live = LiveCache::new();
        live.enable();
        live.put_grant(live.ticket(), &grant("g1", "a1", None, None));
        let write = async {
            let marks = live.pending(vec![grant_mark("g1")]);
            // The request is dropped here, while the database may commit.
            std::future::pending::<()>().await;
            marks.done().await;
        };
        assert!(tokio::time::timeout(Duration::from_millis(10), write).await.is_err());
        assert!(live.grant("g1").is_none());
    }

    #[test]
    fn marks_are_forgotten_past_capacity_without_reviving_older_reads() {
        let live = LiveCache::new();
        live.enable();
        let old = live.ticket();
        for n in 0..=CAPACITY {
            live.apply(&[grant_mark(&format!("other-{n}"))]);
        }
        // The first mark was forgotten; a read from before it stays dead.
        live.put_grant(old, &grant("other-0", "a1", None, None));
        assert!(live.grant("other-0").is_none());
        live.put_grant(live.ticket(), &grant("other-0", "a1", None, None));
        assert!(live.grant("other-0").is_some());
    }
}
