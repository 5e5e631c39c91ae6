//! Browser sessions: tower-sessions records kept in the durable store, so a
//! restart signs nobody out (the default), or in the cache when
//! `IDP_SESSION_STORE=cache`. The cookie holds only the random session id.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::cache::Cache;
use crate::clock::Clock;
use crate::store::Store;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "motcua_sid";

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
            record.id = Id::default();
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
}

impl std::fmt::Debug for CacheSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheSessions")
    }
}

impl CacheSessions {
    /// Sessions in `cache`, their time to live computed with `clock`.
    pub fn new(cache: Arc<dyn Cache>, clock: Arc<dyn Clock>) -> Self {
        Self { cache, clock }
    }

    /// The cache key: hashed, so a cache dump holds no usable session ids.
    fn key(id: &Id) -> String {
        format!("session:{}", crate::crypto::sha256_hex(id.to_string().as_bytes()))
    }

    /// The record and its time to live; `None` when it has already expired.
    fn with_ttl(&self, record: &Record) -> session_store::Result<Option<(Vec<u8>, Duration)>> {
        let secs = record.expiry_date.unix_timestamp() - self.clock.now();
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
            if self.cache.put_if_absent(&Self::key(&record.id), &data, ttl).await.map_err(backend)? {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self.with_ttl(record)? {
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

/// The session store chosen by `IDP_SESSION_STORE`.
#[derive(Clone, Debug)]
pub enum Sessions {
    /// `database`: [`DurableSessions`].
    Database(DurableSessions),
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
            _ => Self::Database(DurableSessions::new(store, clock)),
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
