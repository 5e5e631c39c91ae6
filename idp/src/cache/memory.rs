//! The embedded cache: a mutex-guarded map with lazy expiry plus a sweep,
//! bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Cache, CacheError, CacheResult, CacheUsage};

/// Entries are swept once this many calls have happened since the last sweep,
/// so expired entries do not pile up without a background task.
const SWEEP_EVERY: u64 = 4096;

/// What an entry costs beyond its key and value bytes: the map's slot, the
/// key's and value's heap headers and allocator rounding, the expiry. An
/// estimate; it makes many small entries count, not only their bytes.
const ENTRY_OVERHEAD: usize = 96;

/// See [`Inner::full_sweep`].
const FULL_SWEEP_GAP: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Vec<u8>, Instant)>,
    /// Sum of [`cost`] over `entries`.
    bytes: usize,
    calls: u64,
    /// When a full cache last swept for room: at most once per
    /// [`FULL_SWEEP_GAP`], so a flood of refused writes does not walk the
    /// whole map under the lock on each one.
    full_sweep: Option<Instant>,
}

fn cost(key: &str, value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

impl Inner {
    fn sweep(&mut self, now: Instant) {
        let mut freed = 0;
        self.entries.retain(|k, (v, exp)| {
            let keep = *exp > now;
            if !keep {
                freed += cost(k, v);
            }
            keep
        });
        self.bytes -= freed;
    }

    fn remove(&mut self, key: &str) -> Option<(Vec<u8>, Instant)> {
        let removed = self.entries.remove(key);
        if let Some((v, _)) = &removed {
            self.bytes -= cost(key, v);
        }
        removed
    }

    /// Store the entry unless that would take the cache over `limit` bytes
    /// even after expired entries are dropped (swept at most once a second
    /// while full): then the write fails, as on a Redis with
    /// `maxmemory-policy noeviction`. Evicting live entries instead would
    /// forget replay markers, rate-limit counters and codes.
    fn insert(&mut self, key: &str, value: Vec<u8>, expiry: Instant, now: Instant, limit: usize) -> CacheResult<()> {
        let needed = cost(key, &value);
        let fits = |i: &Self| {
            let replaced = i.entries.get(key).map_or(0, |(v, _)| cost(key, v));
            i.bytes - replaced + needed <= limit
        };
        if self.bytes + needed > limit && !fits(self) {
            if self.full_sweep.is_none_or(|at| now.duration_since(at) >= FULL_SWEEP_GAP) {
                self.full_sweep = Some(now);
                self.sweep(now);
            }
            if !fits(self) {
                return Err(CacheError("the in-process cache is full (IDP_MEMORY_CACHE_MIB)".into()));
            }
        }
        if let Some((old, _)) = self.entries.insert(key.to_owned(), (value, expiry)) {
            self.bytes -= cost(key, &old);
        }
        self.bytes += needed;
        Ok(())
    }
}

/// In-process cache for a single node, holding at most a set number of
/// bytes (keys, values and an estimate of each entry's overhead) so that a
/// flood of sign-in starts, each a pending request in a new browser session,
/// cannot exhaust the node's memory: past three quarters of the bound, new
/// sign-ins answer 503, as with Redis down, until entries expire; the rest
/// keeps serving citizens already signed in.
pub struct MemoryCache {
    inner: Mutex<Inner>,
    limit: usize,
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::with_limit(Self::DEFAULT_MIB << 20)
    }
}

impl MemoryCache {
    /// The default bound in MiB (`IDP_MEMORY_CACHE_MIB`).
    pub const DEFAULT_MIB: usize = 256;

    /// An empty cache with the default bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache holding at most `limit` bytes of entries.
    pub fn with_limit(limit: usize) -> Self {
        Self { inner: Mutex::default(), limit }
    }

    /// Visitor state may fill three quarters of the bound: a flood of sign-in
    /// starts leaves the last quarter to codes, counters and replay markers,
    /// so citizens already signed in still reach services.
    fn visitor_limit(&self) -> usize {
        self.limit / 4 * 3
    }

    fn put_within(&self, key: &str, value: &[u8], ttl: Duration, limit: usize) -> CacheResult<()> {
        self.with(|i, now| i.insert(key, value.to_vec(), now + ttl, now, limit))?
    }

    fn put_if_absent_within(&self, key: &str, value: &[u8], ttl: Duration, limit: usize) -> CacheResult<bool> {
        self.with(|i, now| {
            if live(i.entries.get(key), now).is_some() {
                return Ok(false);
            }
            i.insert(key, value.to_vec(), now + ttl, now, limit).map(|()| true)
        })?
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner, Instant) -> T) -> CacheResult<T> {
        let mut inner = self.inner.lock().map_err(|_| CacheError("memory cache lock poisoned".into()))?;
        // Monotonic time: expiry is a duration, not a wall-clock instant, so
        // it does not go through the domain `Clock`.
        let now = Instant::now();
        inner.calls += 1;
        if inner.calls % SWEEP_EVERY == 0 {
            inner.sweep(now);
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
        self.put_within(key, value, ttl, self.limit)
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool> {
        self.put_if_absent_within(key, value, ttl, self.limit)
    }

    async fn put_visitor(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()> {
        self.put_within(key, value, ttl, self.visitor_limit())
    }

    async fn put_visitor_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool> {
        self.put_if_absent_within(key, value, ttl, self.visitor_limit())
    }

    async fn get(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        self.with(|i, now| live(i.entries.get(key), now).cloned())
    }

    async fn take(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        self.with(|i, now| i.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v))
    }

    async fn delete(&self, key: &str) -> CacheResult<()> {
        self.with(|i, _| {
            i.remove(key);
        })
    }

    fn usage(&self) -> Option<CacheUsage> {
        let inner = self.inner.lock().ok()?;
        Some(CacheUsage { bytes: inner.bytes, limit: self.limit, entries: inner.entries.len() })
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
            i.insert(key, next.to_le_bytes().to_vec(), exp, now, self.limit).map(|()| next)
        })?
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

    #[tokio::test]
    async fn visitor_state_leaves_the_last_quarter_to_the_rest() -> CacheResult<()> {
        let entry = cost("k0", &[0; 100]);
        let c = MemoryCache::with_limit(4 * entry);
        for k in ["k0", "k1", "k2"] {
            c.put_visitor(k, &[0; 100], Duration::from_secs(60)).await?;
        }
        assert!(c.put_visitor("k3", &[0; 100], Duration::from_secs(60)).await.is_err());
        assert!(c.put_visitor_if_absent("k3", &[0; 100], Duration::from_secs(60)).await.is_err());
        // A visitor's existing record may still be rewritten at its size.
        c.put_visitor("k1", &[1; 100], Duration::from_secs(60)).await?;
        c.put("k3", &[0; 100], Duration::from_secs(60)).await?;
        assert_eq!(c.get("k3").await?, Some(vec![0; 100]));
        Ok(())
    }

    #[tokio::test]
    async fn a_full_cache_refuses_writes_until_entries_go() -> CacheResult<()> {
        let entry = cost("k0", &[0; 100]);
        let c = MemoryCache::with_limit(3 * entry);
        for k in ["k0", "k1", "k2"] {
            c.put(k, &[0; 100], Duration::from_secs(60)).await?;
        }
        let full = c.put("k3", &[0; 100], Duration::from_secs(60)).await;
        assert!(full.is_err_and(|e| e.0.contains("IDP_MEMORY_CACHE_MIB")));
        assert!(c.put_if_absent("k3", &[0; 100], Duration::from_secs(60)).await.is_err());
        assert!(c.incr("n", Duration::from_secs(60)).await.is_err());
        // Replacing an entry with one of the same size fits; what was stored is kept.
        c.put("k1", &[1; 100], Duration::from_secs(60)).await?;
        assert_eq!(c.get("k2").await?, Some(vec![0; 100]));
        // Taking or deleting an entry makes room.
        assert!(c.take("k0").await?.is_some());
        c.put("k3", &[0; 100], Duration::from_secs(60)).await?;
        c.delete("k3").await?;
        // An expired entry makes room too, swept when the cache is full, at most once a
        // second (the refused writes above swept a moment ago).
        c.put("k3", &[0; 100], Duration::from_millis(0)).await?;
        assert!(c.put("k4", &[0; 100], Duration::from_secs(60)).await.is_err());
        tokio::time::sleep(FULL_SWEEP_GAP).await;
        c.put("k4", &[0; 100], Duration::from_secs(60)).await?;
        assert_eq!(c.get("k4").await?, Some(vec![0; 100]));
        assert_eq!(c.inner.lock().map(|i| (i.entries.len(), i.bytes)).ok(), Some((3, 3 * entry)));
        Ok(())
    }
}
