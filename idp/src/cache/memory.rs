//! The embedded cache: a mutex-guarded map with lazy expiry plus a sweep.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Cache, CacheError, CacheResult};

/// Entries are swept once this many writes have happened since the last sweep,
/// so memory stays bounded without a background task.
const SWEEP_EVERY: u64 = 4096;

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Vec<u8>, Instant)>,
    writes: u64,
}

/// In-process cache for a single node.
#[derive(Default)]
pub struct MemoryCache {
    inner: Mutex<Inner>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner, Instant) -> T) -> CacheResult<T> {
        let mut inner = self.inner.lock().map_err(|_| CacheError("memory cache lock poisoned".into()))?;
        // Monotonic time: expiry is a duration, not a wall-clock instant, so
        // it does not go through the domain `Clock`.
        let now = Instant::now();
        inner.writes += 1;
        if inner.writes % SWEEP_EVERY == 0 {
            inner.entries.retain(|_, (_, exp)| *exp > now);
        }
        Ok(f(&mut inner, now))
    }
}

fn live(entry: Option<&(Vec<u8>, Instant)>, now: Instant) -> Option<&Vec<u8>> {
    entry.filter(|(_, exp)| *exp > now).map(|(v, _)| v)
}

#[async_trait]
impl Cache for MemoryCache {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()> {
        self.with(|i, now| {
            i.entries.insert(key.to_owned(), (value.to_vec(), now + ttl));
        })
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool> {
        self.with(|i, now| {
            if live(i.entries.get(key), now).is_some() {
                return false;
            }
            i.entries.insert(key.to_owned(), (value.to_vec(), now + ttl));
            true
        })
    }

    async fn get(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        self.with(|i, now| live(i.entries.get(key), now).cloned())
    }

    async fn take(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        self.with(|i, now| i.entries.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v))
    }

    async fn delete(&self, key: &str) -> CacheResult<()> {
        self.with(|i, _| {
            i.entries.remove(key);
        })
    }

    async fn incr(&self, key: &str, ttl: Duration) -> CacheResult<u64> {
        self.with(|i, now| {
            let current = live(i.entries.get(key), now)
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map(u64::from_le_bytes);
            let (next, exp) = match (current, i.entries.get(key)) {
                (Some(n), Some((_, exp))) => (n + 1, *exp),
                _ => (1, now + ttl),
            };
            i.entries.insert(key.to_owned(), (next.to_le_bytes().to_vec(), exp));
            next
        })
    }

    async fn ping(&self) -> CacheResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn take_is_single_use_and_expiry_hides_entries() -> CacheResult<()> {
        let c = MemoryCache::new();
        c.put("code", b"x", Duration::from_secs(60)).await?;
        assert_eq!(c.take("code").await?, Some(b"x".to_vec()));
        assert_eq!(c.take("code").await?, None);
        c.put("gone", b"y", Duration::from_millis(0)).await?;
        assert_eq!(c.get("gone").await?, None);
        assert!(c.put_if_absent("jti", b"1", Duration::from_secs(60)).await?);
        assert!(!c.put_if_absent("jti", b"1", Duration::from_secs(60)).await?);
        assert_eq!(c.incr("n", Duration::from_secs(60)).await?, 1);
        assert_eq!(c.incr("n", Duration::from_secs(60)).await?, 2);
        Ok(())
    }
}
