//! Browser sessions: tower-sessions records kept in the durable store, so a
//! restart signs nobody out. The cookie holds only the random session id.

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

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

#[async_trait]
impl SessionStore for DurableSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128-bit random; on the (astronomically rare) collision pick another.
        while self.load(&record.id).await?.is_some() {
            record.id = Id::default();
        }
        self.save(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
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
