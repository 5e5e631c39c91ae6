//! Browser sessions: tower-sessions records. By default a signed-in
//! browser's record is kept in the durable store, so a restart signs nobody
//! out, and a browser that has not signed in keeps its record (the pending
//! authorization request, the CSRF token) in the cache, like every other
//! in-flight item of a login ([`Tiered`]). With `IDP_SESSION_STORE=cache`
//! every record is in the cache. The cookie holds only the random session id.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::authorize::AUTH_KEY;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::store::Store;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "motcua_sid";

/// Seconds of inactivity after which the session of a browser that has not
/// signed in ends (a signed-in one lasts `session_ttl`).
pub const ANONYMOUS_SESSION_TTL: i64 = 30 * 60;

/// A [`SessionStore`] over the project's store.
#[derive(Clone)]
pub struct DurableSessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DurableSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DurableSessions")
    }
}

impl DurableSessions {
    /// Sessions in `store`, expiring by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// A fresh random id for a record whose id was taken (a collision), in the
/// same tier as `taken` (its lowest bit; see [`Tiered`]).
fn another_id(taken: Id) -> Id {
    Id((Id::default().0 & !1) | (taken.0 & 1))
}

fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for DurableSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128-bit random; on the (astronomically rare) collision pick
        // another. The insert itself tells, so no read comes first. The
        // record carries its id, so it is encoded again with each new one.
        loop {
            let data = encode(record)?;
            let expires_at = record.expiry_date.unix_timestamp();
            if self.store.create_web_session(&record.id.to_string(), &data, expires_at).await.map_err(backend)? {
                return Ok(());
            }
            record.id = another_id(record.id);
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = encode(record)?;
        self.store
            .save_web_session(&record.id.to_string(), &data, record.expiry_date.unix_timestamp())
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(data) = self.store.load_web_session(&id.to_string(), self.clock.now()).await.map_err(backend)? else {
            return Ok(None);
        };
        serde_json::from_slice(&data).map(Some).map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete_web_session(&id.to_string()).await.map_err(backend)
    }
}

/// A [`SessionStore`] over the [`Cache`] (`IDP_SESSION_STORE=cache`, with
/// Redis): the record as JSON under `session:<sha-256 of the id>`, expiring
/// with the session. Shared by every node, but only as durable as Redis
/// persistence makes it (see the README, "Production with Redis").
#[derive(Clone)]
pub struct CacheSessions {
    cache: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    /// The records are of visitors who have not signed in: written with
    /// [`Cache::put_visitor`], and kept at most [`ANONYMOUS_SESSION_TTL`]
    /// whatever the record's expiry says.
    visitors: bool,
}

impl std::fmt::Debug for CacheSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheSessions")
    }
}

impl CacheSessions {
    /// Sessions in `cache`, their time to live computed with `clock`.
    pub fn new(cache: Arc<dyn Cache>, clock: Arc<dyn Clock>) -> Self {
        Self { cache, clock, visitors: false }
    }

    /// The cache key: hashed, so a cache dump holds no usable session ids.
    fn key(id: &Id) -> String {
        format!("session:{}", crate::crypto::sha256_hex(id.to_string().as_bytes()))
    }

    /// The record and its time to live; `None` when it has already expired.
    fn with_ttl(&self, record: &Record) -> session_store::Result<Option<(Vec<u8>, Duration)>> {
        let mut secs = record.expiry_date.unix_timestamp() - self.clock.now();
        if self.visitors {
            secs = secs.min(ANONYMOUS_SESSION_TTL);
        }
        if secs <= 0 {
            return Ok(None);
        }
        Ok(Some((encode(record)?, Duration::from_secs(secs.unsigned_abs()))))
    }
}

#[async_trait]
impl SessionStore for CacheSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128-bit random; on the (astronomically rare) collision pick
        // another, encoded again since the record carries its id.
        loop {
            let Some((data, ttl)) = self.with_ttl(record)? else { return Ok(()) };
            let key = Self::key(&record.id);
            let created = if self.visitors {
                self.cache.put_visitor_if_absent(&key, &data, ttl).await
            } else {
                self.cache.put_if_absent(&key, &data, ttl).await
            };
            if created.map_err(backend)? {
                return Ok(());
            }
            record.id = another_id(record.id);
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self.with_ttl(record)? {
            Some((data, ttl)) if self.visitors => {
                self.cache.put_visitor(&Self::key(&record.id), &data, ttl).await.map_err(backend)
            }
            Some((data, ttl)) => self.cache.put(&Self::key(&record.id), &data, ttl).await.map_err(backend),
            None => self.delete(&record.id).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(data) = self.cache.get(&Self::key(id)).await.map_err(backend)? else {
            return Ok(None);
        };
        let record: Record = serde_json::from_slice(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok((record.expiry_date.unix_timestamp() > self.clock.now()).then_some(record))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.cache.delete(&Self::key(id)).await.map_err(backend)
    }
}

/// The default store (`IDP_SESSION_STORE=database`): a signed-in browser's
/// record in the database, any other in the cache.
///
/// Most browser sessions never sign in (abandoned logins, crawlers, the
/// pages before the password) and those that do change id at sign-in
/// ([`super::browser::open_session`]). So a record is created in the
/// database only when it holds a signed-in citizen, and the lowest bit of its
/// id says so (set: database). A login then writes the database once for the
/// browser (the signed-in record) instead of three times (the anonymous
/// record, its deletion, the signed-in record), and an anonymous visitor not
/// at all. The anonymous record is in-flight login state, as durable as an
/// authorization code: a restart of a single node without Redis, or a Redis
/// that loses its data, sends a citizen in the middle of a login back to the
/// relying party's sign-in link; a signed-in citizen stays signed in.
///
/// Reading an id with the bit clear falls back to the database on a cache
/// miss, and so does deleting one, so records written before this scheme
/// (any id, in the database) keep working; a save of such an id that holds
/// a signed-in citizen goes to the database.
#[derive(Clone, Debug)]
pub struct Tiered {
    durable: DurableSessions,
    pending: CacheSessions,
}

impl Tiered {
    /// Signed-in records in `store`, anonymous ones in `cache`.
    pub fn new(store: Arc<dyn Store>, cache: Arc<dyn Cache>, clock: Arc<dyn Clock>) -> Self {
        // A record's expiry is the layer's default (`session_ttl`) unless the
        // request set a shorter one, and not every request that writes an
        // anonymous record does: as visitor state, the cache keeps none
        // longer than `ANONYMOUS_SESSION_TTL`.
        let pending = CacheSessions { visitors: true, ..CacheSessions::new(cache, clock.clone()) };
        Self { durable: DurableSessions::new(store, clock), pending }
    }

    /// An anonymous record found in the database (written before the tiers)
    /// moves to the cache, so no database copy is left for a later read to
    /// fall back on once the cache copy is gone. Best effort: on a failure
    /// the record stays where it is, and is still served.
    async fn move_to_cache(&self, record: &Record) {
        if let Err(e) = self.pending.save(record).await {
            tracing::warn!(error = %e, "could not move an anonymous browser session to the cache");
            return;
        }
        if let Err(e) = self.durable.delete(&record.id).await {
            // Kept in one place only: a cache copy would hide the database
            // one from a delete, and the record would come back later.
            tracing::warn!(error = %e, "could not move an anonymous browser session to the cache");
            if let Err(e) = self.pending.delete(&record.id).await {
                tracing::warn!(error = %e, "an anonymous browser session is now in both the cache and the database");
            }
        }
    }
}

/// Whether the id is of a record created in the database (see [`Tiered`]).
fn durable_id(id: &Id) -> bool {
    id.0 & 1 == 1
}

fn signed_in(record: &Record) -> bool {
    record.data.contains_key(AUTH_KEY)
}

#[async_trait]
impl SessionStore for Tiered {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        if signed_in(record) {
            record.id = Id(record.id.0 | 1);
            self.durable.create(record).await
        } else {
            record.id = Id(record.id.0 & !1);
            self.pending.create(record).await
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        if durable_id(&record.id) {
            return self.durable.save(record).await;
        }
        if signed_in(record) {
            // Not created signed in (a record from before this scheme):
            // the database, and no stale anonymous copy left to shadow it.
            // Best effort: the signed-in record is saved, and a cache outage
            // must not turn that into an error page.
            self.durable.save(record).await?;
            if let Err(e) = self.pending.delete(&record.id).await {
                tracing::warn!(error = %e, "could not clear a browser session's cache copy");
            }
            return Ok(());
        }
        self.pending.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if durable_id(id) {
            return self.durable.load(id).await;
        }
        match self.pending.load(id).await {
            Ok(Some(record)) => return Ok(Some(record)),
            Ok(None) => {}
            // The record may be in the database (written before the tiers):
            // a cache outage must not sign its citizen out.
            Err(e) => tracing::warn!(error = %e, "browser session cache unreachable; reading the database"),
        }
        let found = self.durable.load(id).await?;
        if let Some(record) = found.as_ref().filter(|r| !signed_in(r)) {
            self.move_to_cache(record).await;
        }
        Ok(found)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if durable_id(id) {
            return self.durable.delete(id).await;
        }
        // Taken from the cache, it was never in the database (the sign-in
        // that replaces it costs no database write); otherwise it may be.
        match self.pending.cache.take(&CacheSessions::key(id)).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => self.durable.delete(id).await,
            Err(e) => {
                tracing::warn!(error = %e, "browser session cache unreachable; deleting in the database only");
                self.durable.delete(id).await
            }
        }
    }
}

/// The session store chosen by `IDP_SESSION_STORE`.
#[derive(Clone, Debug)]
pub enum Sessions {
    /// `database`: [`Tiered`] (signed-in sessions in the database).
    Database(Tiered),
    /// `cache`: [`CacheSessions`].
    Cache(CacheSessions),
}

impl Sessions {
    /// The store `session_store` names (`cache` or, otherwise, `database`).
    pub fn for_config(
        session_store: &str,
        store: Arc<dyn Store>,
        cache: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        match session_store {
            "cache" => Self::Cache(CacheSessions::new(cache, clock)),
            _ => Self::Database(Tiered::new(store, cache, clock)),
        }
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Database(s) => s.create(record).await,
            Self::Cache(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Database(s) => s.save(record).await,
            Self::Cache(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Database(s) => s.load(id).await,
            Self::Cache(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Database(s) => s.delete(id).await,
            Self::Cache(s) => s.delete(id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;
    use crate::cache::tests::DownCache;
    use crate::clock::FixedClock;

    /// On an id collision the record is stored under its new id, and carries it.
    async fn collision_picks_a_new_id(store: &dyn SessionStore, taken: &mut Record) {
        store.create(taken).await.unwrap();
        let mut record = Record { id: taken.id, data: Default::default(), expiry_date: taken.expiry_date };
        record.data.insert("who".into(), serde_json::json!("second"));
        store.create(&mut record).await.unwrap();
        assert_ne!(record.id, taken.id);
        let loaded = store.load(&record.id).await.unwrap().unwrap();
        assert_eq!(loaded.id, record.id);
        assert_eq!(loaded.data.get("who"), Some(&serde_json::json!("second")));
        assert_eq!(store.load(&taken.id).await.unwrap().unwrap().data.get("who"), Some(&serde_json::json!("first")));
    }

    #[tokio::test]
    async fn an_id_collision_stores_the_new_id_in_both_stores() {
        let clock = Arc::new(FixedClock::new(1_760_000_000));
        let expiry = tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(1_760_000_060).unwrap();
        let first = || {
            let mut r = Record { id: Id::default(), data: Default::default(), expiry_date: expiry };
            r.data.insert("who".into(), serde_json::json!("first"));
            r
        };
        collision_picks_a_new_id(&CacheSessions::new(Arc::new(MemoryCache::new()), clock.clone()), &mut first()).await;
        let store = crate::store::sqlite::SqliteStore::connect("sqlite::memory:", 2).await.unwrap();
        collision_picks_a_new_id(&DurableSessions::new(Arc::new(store), clock), &mut first()).await;
    }

    /// The default store with its two halves, to look into each.
    async fn tiered() -> (Tiered, Arc<dyn Store>, Arc<dyn Cache>, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::new(1_760_000_000));
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::connect("sqlite::memory:", 2).await.unwrap());
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
        (Tiered::new(store.clone(), cache.clone(), clock.clone()), store, cache, clock)
    }

    fn record(who: Option<&str>) -> Record {
        let expiry = tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(1_760_001_800).unwrap();
        let mut r = Record { id: Id::default(), data: Default::default(), expiry_date: expiry };
        r.data.insert("csrf".into(), serde_json::json!("t"));
        if let Some(who) = who {
            r.data.insert(AUTH_KEY.into(), serde_json::json!({ "account_id": who }));
        }
        r
    }

    async fn in_database(store: &Arc<dyn Store>, id: &Id) -> bool {
        store.load_web_session(&id.to_string(), 1_760_000_000).await.unwrap().is_some()
    }

    async fn in_cache(cache: &Arc<dyn Cache>, id: &Id) -> bool {
        cache.get(&CacheSessions::key(id)).await.unwrap().is_some()
    }

    #[tokio::test]
    async fn a_login_writes_the_database_once_for_the_browser() {
        use tower_sessions::Session;
        let (tiered, store, cache, _) = tiered().await;
        let tiered = Arc::new(tiered);
        // Each request as tower-sessions runs it. The login page: a CSRF token.
        let page = Session::new(None, tiered.clone(), None);
        page.insert("csrf", "t").await.unwrap();
        page.save().await.unwrap();
        let anonymous = page.id().unwrap();
        assert!(!durable_id(&anonymous));
        assert!(in_cache(&cache, &anonymous).await && !in_database(&store, &anonymous).await);
        // Another page: the pending request, still in the cache only.
        let page = Session::new(Some(anonymous), tiered.clone(), None);
        page.insert("pending", serde_json::json!({ "r1": 1 })).await.unwrap();
        page.save().await.unwrap();
        assert!(!in_database(&store, &anonymous).await);
        // The sign-in (`open_session`): a new id, in the database only, with what the browser had.
        let signing_in = Session::new(Some(anonymous), tiered.clone(), None);
        signing_in.cycle_id().await.unwrap();
        signing_in.insert(AUTH_KEY, serde_json::json!({ "account_id": "a1" })).await.unwrap();
        signing_in.save().await.unwrap();
        let signed_in = signing_in.id().unwrap();
        assert!(durable_id(&signed_in));
        assert!(in_database(&store, &signed_in).await && !in_cache(&cache, &signed_in).await);
        assert!(!in_cache(&cache, &anonymous).await && !in_database(&store, &anonymous).await);
        let next = Session::new(Some(signed_in), tiered.clone(), None);
        assert_eq!(next.get::<serde_json::Value>("pending").await.unwrap(), Some(serde_json::json!({ "r1": 1 })));
        // Later changes stay in the database; signing out deletes it there.
        next.insert("pending", serde_json::json!({})).await.unwrap();
        next.save().await.unwrap();
        assert!(!in_cache(&cache, &signed_in).await);
        next.flush().await.unwrap();
        assert!(!in_database(&store, &signed_in).await);
        // The old id finds nothing.
        let stale = Session::new(Some(anonymous), tiered, None);
        assert_eq!(stale.get::<String>("csrf").await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_anonymous_record_stays_in_the_cache_at_most_its_own_lifetime() {
        let (tiered, ..) = tiered().await;
        // Expiring in 12 hours (the layer's default when a request set none).
        let mut r = record(None);
        r.expiry_date = tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(1_760_043_200).unwrap();
        let (_, ttl) = tiered.pending.with_ttl(&r).unwrap().unwrap();
        assert_eq!(ttl, Duration::from_secs(ANONYMOUS_SESSION_TTL as u64));
        // The cache-only store keeps the record's own expiry.
        let (_, ttl) = CacheSessions { visitors: false, ..tiered.pending.clone() }.with_ttl(&r).unwrap().unwrap();
        assert_eq!(ttl, Duration::from_secs(43_200));
    }

    #[tokio::test]
    async fn records_from_before_the_tiers_keep_working() {
        let (tiered, store, cache, clock) = tiered().await;
        let durable = DurableSessions::new(store.clone(), clock);
        // A signed-in record under an id with the low bit clear, in the database.
        let mut old = record(Some("a1"));
        old.id = Id(old.id.0 & !1);
        durable.save(&old).await.unwrap();
        assert!(tiered.load(&old.id).await.unwrap().is_some());
        // A stale anonymous copy in the cache must not shadow its next save.
        let mut stale = record(None);
        stale.id = old.id;
        cache.put(&CacheSessions::key(&old.id), &encode(&stale).unwrap(), Duration::from_secs(60)).await.unwrap();
        old.data.insert("pending".into(), serde_json::json!({ "r": 1 }));
        tiered.save(&old).await.unwrap();
        assert!(!in_cache(&cache, &old.id).await);
        assert_eq!(tiered.load(&old.id).await.unwrap().unwrap().data.get("pending"), old.data.get("pending"));
        tiered.delete(&old.id).await.unwrap();
        assert!(!in_database(&store, &old.id).await);

        // An anonymous one moves to the cache when read, leaving no database copy behind.
        let mut anonymous = record(None);
        anonymous.id = Id(anonymous.id.0 & !1);
        durable.save(&anonymous).await.unwrap();
        assert!(tiered.load(&anonymous.id).await.unwrap().is_some());
        assert!(in_cache(&cache, &anonymous.id).await && !in_database(&store, &anonymous.id).await);
        tiered.delete(&anonymous.id).await.unwrap();
        assert!(tiered.load(&anonymous.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn with_the_cache_down_signed_in_records_still_work() {
        let (_, store, _, clock) = tiered().await;
        let tiered = Tiered::new(store.clone(), Arc::new(DownCache), clock.clone());
        // Created signed in: the database only, whatever the cache does.
        let mut signed_in = record(Some("a1"));
        tiered.create(&mut signed_in).await.unwrap();
        assert!(tiered.load(&signed_in.id).await.unwrap().is_some());
        // Signed in before the tiers (low bit clear): read, saved and deleted in the database.
        let mut old = record(Some("a2"));
        old.id = Id(old.id.0 & !1);
        DurableSessions::new(store.clone(), clock).save(&old).await.unwrap();
        assert!(tiered.load(&old.id).await.unwrap().is_some());
        old.data.insert("pending".into(), serde_json::json!({ "r": 1 }));
        tiered.save(&old).await.unwrap();
        assert_eq!(tiered.load(&old.id).await.unwrap().unwrap().data.get("pending"), old.data.get("pending"));
        tiered.delete(&old.id).await.unwrap();
        assert!(!in_database(&store, &old.id).await);
        // A browser that has not signed in needs the cache: an error (the 503 page).
        assert!(tiered.create(&mut record(None)).await.is_err());
    }

    #[tokio::test]
    async fn an_id_collision_keeps_the_tier() {
        let (tiered, ..) = tiered().await;
        // A fresh id is random: enough rounds that a lost tier bit would show.
        for who in [None, Some("a1")].into_iter().cycle().take(32) {
            let mut first = record(who);
            tiered.create(&mut first).await.unwrap();
            let mut second = record(who);
            second.id = first.id;
            tiered.create(&mut second).await.unwrap();
            assert_ne!(second.id, first.id);
            assert_eq!(durable_id(&second.id), who.is_some());
            assert!(tiered.load(&second.id).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn cache_sessions_round_trip_and_expire() {
        let clock = Arc::new(FixedClock::new(1_760_000_000));
        let store = CacheSessions::new(Arc::new(MemoryCache::new()), clock.clone());
        let expiry = tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(1_760_000_060).unwrap();
        let mut record = Record { id: Id::default(), data: Default::default(), expiry_date: expiry };
        record.data.insert("who".into(), serde_json::json!("an"));
        store.create(&mut record).await.unwrap();
        let loaded = store.load(&record.id).await.unwrap().unwrap();
        assert_eq!(loaded.data.get("who"), Some(&serde_json::json!("an")));
        store.delete(&record.id).await.unwrap();
        assert!(store.load(&record.id).await.unwrap().is_none());
        // An already-expired record is not stored.
        let mut old = Record { id: Id::default(), data: Default::default(), expiry_date: expiry };
        clock.advance(61);
        store.create(&mut old).await.unwrap();
        assert!(store.load(&old.id).await.unwrap().is_none());
    }
}
