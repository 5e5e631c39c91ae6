//! Ephemeral state with a time to live: authorization codes, pending logins,
//! `jti` replay entries, rate-limit counters. In-process by default; the
//! Redis implementation shares it across nodes.
//!
//! Single-use items are taken with [`Cache::take`], which is atomic: under
//! concurrency exactly one caller gets the value.
//!
//! Nodes also tell each other about signing-key changes through a
//! [`Notifier`]: Redis pub/sub when Redis is configured, nothing otherwise
//! (a single node, or nodes that follow by their periodic reload).

mod memory;
mod redis;
#[cfg(test)]
pub(crate) mod tests;

use std::time::Duration;

use async_trait::async_trait;

pub use self::memory::MemoryCache;
pub use self::redis::{RedisCache, RedisNotifier, client as redis_client, connection_manager};

/// The cache could not be reached; requests that need it answer 503.
#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

/// Result of cache calls.
pub type CacheResult<T> = Result<T, CacheError>;

/// How full a bounded in-process cache is (`/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUsage {
    /// Bytes its live and not yet swept entries count for (keys, values and
    /// an estimate of each entry's overhead).
    pub bytes: usize,
    /// The bound (`IDP_MEMORY_CACHE_MIB`); visitor state may fill three quarters of it.
    pub limit: usize,
    /// Entries held.
    pub entries: usize,
}

/// A key-value cache with per-entry expiry.
#[async_trait]
pub trait Cache: Send + Sync {
    /// Store `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()>;
    /// Store only if absent; `true` if this call stored it (replay detection).
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool>;
    /// [`Cache::put`] for state a visitor creates before signing in (a pending
    /// authorization request, an anonymous browser session, a pushed
    /// request): a bounded cache refuses it first, keeping room for
    /// what signed-in citizens and relying parties need (codes, counters,
    /// replay markers). No default: a wrapper must pass it on, or the bound
    /// would not see it.
    async fn put_visitor(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()>;
    /// [`Cache::put_if_absent`] for visitor state (see [`Cache::put_visitor`]).
    async fn put_visitor_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool>;
    /// Read without removing.
    async fn get(&self, key: &str) -> CacheResult<Option<Vec<u8>>>;
    /// Read and remove atomically: one winner under concurrency.
    async fn take(&self, key: &str) -> CacheResult<Option<Vec<u8>>>;
    /// Remove (idempotent).
    async fn delete(&self, key: &str) -> CacheResult<()>;
    /// Add one to a counter, creating it with `ttl` when absent; returns the new value.
    async fn incr(&self, key: &str, ttl: Duration) -> CacheResult<u64>;
    /// Round trip for `/readyz`.
    async fn ping(&self) -> CacheResult<()>;
    /// How full the cache is, when it is this process's own (Redis reports
    /// its memory itself: `INFO memory`).
    fn usage(&self) -> Option<CacheUsage> {
        None
    }
}

/// Count one more use of `key` in its one-hour window (the window opens at
/// the first use); whether the uses so far are still within `limit`.
pub async fn within_hourly(cache: &dyn Cache, key: &str, limit: u64) -> CacheResult<bool> {
    Ok(cache.incr(key, Duration::from_secs(3600)).await? <= limit)
}

/// Cross-node notices. Domain and HTTP code call it without knowing how
/// notices travel.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Tell the other nodes that the signing keys changed (best effort:
    /// failures are logged, the periodic reload remains the fallback).
    async fn keys_changed(&self);
    /// Wait for the next key-change notice from another node. Notices that
    /// arrive while nobody waits are kept (coalesced into one).
    async fn key_notice(&self);
}

/// No notices: a single node, or nodes relying on the periodic reload.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopNotifier;

#[async_trait]
impl Notifier for NoopNotifier {
    async fn keys_changed(&self) {}

    async fn key_notice(&self) {
        std::future::pending::<()>().await;
    }
}
