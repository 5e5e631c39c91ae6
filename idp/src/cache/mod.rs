//! Ephemeral state with a time to live: authorization codes, pending logins,
//! `jti` replay entries, rate-limit counters. In-process by default; the
//! Redis implementation shares it across nodes.
//!
//! Single-use items are taken with [`Cache::take`], which is atomic: under
//! concurrency exactly one caller gets the value.

mod memory;

use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryCache;

/// The cache could not be reached; requests that need it answer 503.
#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

/// Result of cache calls.
pub type CacheResult<T> = Result<T, CacheError>;

/// A key-value cache with per-entry expiry.
#[async_trait]
pub trait Cache: Send + Sync {
    /// Store `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()>;
    /// Store only if absent; `true` if this call stored it (replay detection).
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool>;
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
}
