//! One behaviour suite for every [`Cache`]: always on [`MemoryCache`], and on
//! [`RedisCache`] when `TEST_REDIS_URL` is set (each run under its own random
//! key prefix, so parallel runs on one Redis do not collide).

use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A cache that is down: every call fails, as with Redis unreachable.
pub(crate) struct DownCache;

#[async_trait::async_trait]
impl Cache for DownCache {
    async fn put(&self, _: &str, _: &[u8], _: Duration) -> CacheResult<()> {
        Err(CacheError("down".into()))
    }
    async fn put_if_absent(&self, _: &str, _: &[u8], _: Duration) -> CacheResult<bool> {
        Err(CacheError("down".into()))
    }
    async fn put_visitor(&self, _: &str, _: &[u8], _: Duration) -> CacheResult<()> {
        Err(CacheError("down".into()))
    }
    async fn put_visitor_if_absent(&self, _: &str, _: &[u8], _: Duration) -> CacheResult<bool> {
        Err(CacheError("down".into()))
    }
    async fn get(&self, _: &str) -> CacheResult<Option<Vec<u8>>> {
        Err(CacheError("down".into()))
    }
    async fn take(&self, _: &str) -> CacheResult<Option<Vec<u8>>> {
        Err(CacheError("down".into()))
    }
    async fn delete(&self, _: &str) -> CacheResult<()> {
        Err(CacheError("down".into()))
    }
    async fn incr(&self, _: &str, _: Duration) -> CacheResult<u64> {
        Err(CacheError("down".into()))
    }
    async fn ping(&self) -> CacheResult<()> {
        Err(CacheError("down".into()))
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const MS_100: Duration = Duration::from_millis(100);

async fn suite(cache: Arc<dyn Cache>) -> CacheResult<()> {
    // put / get / take: single use.
    cache.put("code", b"x", MINUTE).await?;
    assert_eq!(cache.get("code").await?, Some(b"x".to_vec()));
    assert_eq!(cache.take("code").await?, Some(b"x".to_vec()));
    assert_eq!(cache.take("code").await?, None);
    assert_eq!(cache.get("code").await?, None);
    // put replaces; delete is idempotent.
    cache.put("k", b"1", MINUTE).await?;
    cache.put("k", b"2", MINUTE).await?;
    assert_eq!(cache.get("k").await?, Some(b"2".to_vec()));
    cache.delete("k").await?;
    cache.delete("k").await?;
    assert_eq!(cache.get("k").await?, None);
    // Visitor writes store like the others (a bounded cache refuses them first).
    cache.put_visitor("visitor", b"v", MINUTE).await?;
    assert!(!cache.put_visitor_if_absent("visitor", b"w", MINUTE).await?);
    assert!(cache.put_visitor_if_absent("visitor-2", b"w", MINUTE).await?);
    assert_eq!(cache.take("visitor").await?, Some(b"v".to_vec()));
    assert_eq!(cache.take("visitor-2").await?, Some(b"w".to_vec()));
    // Binary values survive.
    let bytes: Vec<u8> = (0..=255).collect();
    cache.put("bin", &bytes, MINUTE).await?;
    assert_eq!(cache.get("bin").await?, Some(bytes));

    // Expiry hides entries.
    cache.put("short", b"y", Duration::from_millis(100)).await?;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(cache.get("short").await?, None);
    assert_eq!(cache.take("short").await?, None);

    // put_if_absent: first wins until the entry expires.
    assert!(cache.put_if_absent("jti", b"1", Duration::from_millis(200)).await?);
    assert!(!cache.put_if_absent("jti", b"2", Duration::from_millis(200)).await?);
    assert_eq!(cache.get("jti").await?, Some(b"1".to_vec()));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(cache.put_if_absent("jti", b"3", MINUTE).await?);

    // incr: counts, and the window's expiry is set once, by the first increment.
    let window = Duration::from_millis(600);
    assert_eq!(cache.incr("n", window).await?, 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(cache.incr("n", window).await?, 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // 750 ms after the first increment: a window extended by the second would still hold 2.
    assert_eq!(cache.incr("n", window).await?, 1, "incr extended the counter's expiry");

    // The race: 20 concurrent takes of one code, exactly one winner.
    cache.put("race", b"once", MINUTE).await?;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.take("race").await })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        if t.await.map_err(|e| CacheError(e.to_string()))??.is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "concurrent takes of one key");

    // Concurrent put_if_absent: one winner too.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.put_if_absent("replay", b"1", MINUTE).await })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        if t.await.map_err(|e| CacheError(e.to_string()))?? {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "concurrent put_if_absent of one key");

    // Concurrent increments are not lost.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.incr("many", MINUTE).await })
        })
        .collect();
    for t in tasks {
        t.await.map_err(|e| CacheError(e.to_string()))??;
    }
    assert_eq!(cache.incr("many", MINUTE).await?, 21);

    cache.ping().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_cache_passes_the_suite() -> CacheResult<()> {
    suite(Arc::new(MemoryCache::new())).await
}

/// A Redis cache under a fresh prefix, or `None` (with the reason printed)
/// when `TEST_REDIS_URL` is not set.
fn test_redis() -> Option<(RedisCache, ::redis::Client)> {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipping Redis cache suite: TEST_REDIS_URL not set");
        return None;
    };
    let client = redis_client(&url).unwrap_or_else(|e| panic!("TEST_REDIS_URL: {e}"));
    let conn = connection_manager(client.clone()).unwrap_or_else(|e| panic!("TEST_REDIS_URL: {e}"));
    let prefix = format!("motcua-test-{}:", &crate::crypto::random_id()[..16]);
    Some((RedisCache::new(conn, &prefix), client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::panic)]
async fn redis_cache_passes_the_suite() -> CacheResult<()> {
    let Some((cache, _)) = test_redis() else { return Ok(()) };
    suite(Arc::new(cache.clone())).await?;
    // Keys live under the prefix, so a shared Redis is safe.
    cache.put("mine", b"v", MINUTE).await?;
    let mut conn = cache.connection();
    let raw: Option<Vec<u8>> = ::redis::cmd("GET")
        .arg(format!("{}mine", cache.prefix()))
        .query_async(&mut conn)
        .await
        .map_err(|e| CacheError(e.to_string()))?;
    assert_eq!(raw, Some(b"v".to_vec()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::panic)]
async fn redis_notices_reach_other_nodes_but_not_the_sender() -> CacheResult<()> {
    let Some((cache, client)) = test_redis() else { return Ok(()) };
    // Pinging the subscription every 100 ms: a ping that failed would resubscribe and notify.
    let a = RedisNotifier::start_with_ping(client.clone(), cache.connection(), cache.prefix(), MS_100, Arc::default());
    let b = RedisNotifier::start_with_ping(client, cache.connection(), cache.prefix(), MS_100, Arc::default());
    // Each listener signals once when it (re)subscribes: consume that first.
    for n in [&a, &b] {
        tokio::time::timeout(Duration::from_secs(5), n.key_notice())
            .await
            .map_err(|_| CacheError("no subscription notice".into()))?;
    }
    // Several pings later, still the same subscription: no notice.
    assert!(tokio::time::timeout(Duration::from_millis(1500), b.key_notice()).await.is_err(), "resubscribed");
    a.keys_changed().await;
    tokio::time::timeout(Duration::from_secs(2), b.key_notice())
        .await
        .map_err(|_| CacheError("node B did not hear node A's notice".into()))?;
    // A ignores its own notice.
    assert!(tokio::time::timeout(Duration::from_millis(300), a.key_notice()).await.is_err());
    Ok(())
}

/// Two nodes' read caches: on once subscribed, and a row one node's write
/// changed is dropped by the other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::panic)]
async fn redis_carries_read_cache_invalidations_between_nodes() -> CacheResult<()> {
    use crate::store::live::{LiveCache, account_mark};
    let Some((cache, client)) = test_redis() else { return Ok(()) };
    let (live_a, live_b) = (Arc::new(LiveCache::new()), Arc::new(LiveCache::new()));
    let a = RedisNotifier::start_with_ping(client.clone(), cache.connection(), cache.prefix(), MS_100, live_a.clone());
    let _b = RedisNotifier::start_with_ping(client, cache.connection(), cache.prefix(), MS_100, live_b.clone());
    a.key_notice().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !(live_a.enabled() && live_b.enabled()) {
        assert!(std::time::Instant::now() < deadline, "read caches not switched on after subscribing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let citizen = crate::store::tests::fixtures::citizen("acc-1", "001099012345", None);
    live_b.put_citizen(live_b.ticket(), &citizen);
    assert!(live_b.citizen("acc-1").is_some());
    // Node A disables the account: node B stops serving its cached row.
    live_a.invalidate(&[account_mark("acc-1")]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while live_b.citizen("acc-1").is_some() {
        assert!(std::time::Instant::now() < deadline, "node B still serves the row node A changed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_unreachable_redis_is_a_cache_error_not_a_hang() {
    let Ok(client) = redis_client("redis://127.0.0.1:1") else { panic!("valid URL") };
    let Ok(conn) = connection_manager(client) else { panic!("lazy manager") };
    let cache = RedisCache::new(conn, "t:");
    let started = std::time::Instant::now();
    assert!(cache.ping().await.is_err());
    assert!(cache.take("x").await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn redis_urls_are_checked_without_echoing_them() {
    let err = redis_client("http://user:s3cret@host").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("redis://") && !err.contains("s3cret"), "{err}");
    assert!(redis_client("redis://127.0.0.1:6379/0").is_ok());
}
