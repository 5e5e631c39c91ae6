//! The shared cache: Redis through a [`ConnectionManager`], which reconnects
//! by itself after Redis restarts. Every key and channel is prefixed
//! (`IDP_REDIS_PREFIX`, `motcua:` by default) so a Redis shared with other
//! applications or deployments is safe.
//!
//! Failures are [`CacheError`]s, which requests turn into 503
//! `temporarily_unavailable`. There is no fallback to the in-process cache:
//! it would break the single-use guarantees across nodes.

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use async_trait::async_trait;
use futures_util::StreamExt as _;
use tokio::sync::Notify;

use super::{Cache, CacheError, CacheResult, Notifier};
use crate::store::live::{Broadcast, LiveCache};

/// Channel (under the prefix) on which key-change notices travel.
const KEYS_CHANNEL: &str = "keys";
/// Channel of the read cache's invalidation marks (after the prefix).
const LIVE_CHANNEL: &str = "live";

/// `INCR`, and set the expiry only when the counter is new, so a window is
/// not extended by every attempt inside it.
const INCR_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

fn cache_err(e: ::redis::RedisError) -> CacheError {
    CacheError(format!("redis: {e}"))
}

/// Milliseconds for `PX`, at least 1 (Redis refuses 0).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Parse `url` (`redis://[user:password@]host[:port][/db]`, or `rediss://…`
/// for TLS) into a client. The error never repeats the URL, which may hold
/// a password.
pub fn client(url: &str) -> Result<Client, CacheError> {
    if !url.starts_with("redis://") && !url.starts_with("rediss://") {
        return Err(CacheError("the URL must start with redis:// or rediss:// (TLS)".into()));
    }
    // The redis crate reads `#insecure` as "skip the certificate check":
    // never for an IdP's cache. A private CA goes in the trust store instead
    // (OpenSSL's SSL_CERT_FILE).
    if url.contains('#') {
        return Err(CacheError(
            "the URL must not have a #fragment (certificate checks stay on: trust a private CA with \
             SSL_CERT_FILE; write a # in a password as %23)"
                .into(),
        ));
    }
    Client::open(url).map_err(|e| CacheError(format!("not a valid Redis URL: {}", e.detail().unwrap_or("malformed"))))
}

/// A connection manager that connects on first use, so a node starts (and
/// reports not ready) while Redis is down, and recovers when it returns.
pub fn connection_manager(client: Client) -> Result<ConnectionManager, CacheError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client, config).map_err(cache_err)
}

/// The cache shared by every node.
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    incr: Arc<Script>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache over `conn`, its keys under `prefix`.
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self { conn, prefix: prefix.to_owned(), incr: Arc::new(Script::new(INCR_SCRIPT)) }
    }

    /// The connection, for other Redis-backed parts (web sessions).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(millis(ttl));
        cmd.query_async::<()>(&mut self.conn.clone()).await.map_err(cache_err)
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("NX").arg("PX").arg(millis(ttl));
        // `SET … NX` answers OK when it stored, nil when the key existed.
        let stored: Option<String> = cmd.query_async(&mut self.conn.clone()).await.map_err(cache_err)?;
        Ok(stored.is_some())
    }

    // Redis has one bound for everything (`maxmemory`): visitor state is
    // written like the rest.
    async fn put_visitor(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()> {
        self.put(key, value, ttl).await
    }

    async fn put_visitor_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool> {
        self.put_if_absent(key, value, ttl).await
    }

    async fn get(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        ::redis::cmd("GET").arg(self.key(key)).query_async(&mut self.conn.clone()).await.map_err(cache_err)
    }

    async fn take(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        // GETDEL (Redis ≥ 6.2) is atomic: of concurrent callers, one gets the value.
        ::redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut self.conn.clone()).await.map_err(cache_err)
    }

    async fn delete(&self, key: &str) -> CacheResult<()> {
        ::redis::cmd("DEL").arg(self.key(key)).query_async::<()>(&mut self.conn.clone()).await.map_err(cache_err)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> CacheResult<u64> {
        let mut conn = self.conn.clone();
        let n: i64 = self.incr.key(self.key(key)).arg(millis(ttl)).invoke_async(&mut conn).await.map_err(cache_err)?;
        u64::try_from(n).map_err(|_| CacheError(format!("counter {key} is negative")))
    }

    async fn ping(&self) -> CacheResult<()> {
        ::redis::cmd("PING").query_async::<String>(&mut self.conn.clone()).await.map(drop).map_err(cache_err)
    }
}

/// Notices between nodes over Redis pub/sub, with a listener task on its own
/// connection (re-subscribing with backoff after a loss):
/// - key changes: [`Notifier::keys_changed`] publishes on `<prefix>keys`, and
///   the listener wakes [`Notifier::key_notice`];
/// - the store's read cache ([`LiveCache`]): this node's invalidation marks
///   are published on `<prefix>live`, other nodes' marks applied as they
///   come, and the cache is switched on only while subscribed.
pub struct RedisNotifier {
    conn: ConnectionManager,
    channel: String,
    node: String,
    notice: Arc<Notify>,
}

impl RedisNotifier {
    /// Start listening on `client`'s server; notices published by this
    /// same notifier are ignored (the node acted on them already).
    pub fn start(client: Client, conn: ConnectionManager, prefix: &str, live: Arc<LiveCache>) -> Self {
        Self::start_with_ping(client, conn, prefix, Duration::from_secs(30), live)
    }

    /// [`RedisNotifier::start`], checking the subscription every `ping_every`.
    pub(crate) fn start_with_ping(
        client: Client,
        conn: ConnectionManager,
        prefix: &str,
        ping_every: Duration,
        live: Arc<LiveCache>,
    ) -> Self {
        let channels = Channels { keys: format!("{prefix}{KEYS_CHANNEL}"), live: format!("{prefix}{LIVE_CHANNEL}") };
        let node = crate::crypto::random_id();
        let notice = Arc::new(Notify::new());
        let (marks, outbox) = tokio::sync::mpsc::unbounded_channel();
        live.broadcast_to(marks);
        tokio::spawn(publish_marks(conn.clone(), channels.live.clone(), node.clone(), outbox));
        let channel = channels.keys.clone();
        tokio::spawn(listen(client, channels, node.clone(), notice.clone(), ping_every, live));
        Self { conn, channel, node, notice }
    }
}

/// The two pub/sub channels.
struct Channels {
    keys: String,
    live: String,
}

/// Publish this node's cache invalidation marks, as `node\nmark\nmark…`,
/// batching what queued up during the previous publish, and tell each
/// waiting write whether they went out. A failed publish is tried again
/// (marks are idempotent) for about a second before giving up, and what
/// queued meanwhile is dropped (the other nodes' entries expire first).
async fn publish_marks(
    conn: ConnectionManager,
    channel: String,
    node: String,
    mut outbox: tokio::sync::mpsc::UnboundedReceiver<Broadcast>,
) {
    const BATCH: usize = 512;
    const TRIES: u32 = 4;
    while let Some(first) = outbox.recv().await {
        let mut payload = node.clone();
        let mut count = 0;
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            for m in &batch.marks {
                payload.push('\n');
                payload.push_str(m);
                count += 1;
            }
            waiting.push(batch.sent);
            if count < BATCH {
                next = outbox.try_recv().ok();
            }
        }
        let mut sent = false;
        for attempt in 0..TRIES {
            match ::redis::cmd("PUBLISH").arg(&channel).arg(&payload).query_async::<i64>(&mut conn.clone()).await {
                Ok(_) => {
                    sent = true;
                    break;
                }
                Err(e) if attempt + 1 == TRIES => tracing::warn!(
                    error = %e,
                    marks = count,
                    "could not publish cache invalidations; other nodes drop those rows when their entries expire"
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
            }
        }
        if !sent {
            // Redis is unreachable or hung: what queued meanwhile would only
            // arrive after the other nodes' entries expired anyway. Answer it
            // now instead of growing the queue.
            while let Ok(batch) = outbox.try_recv() {
                waiting.push(batch.sent);
            }
        }
        for w in waiting {
            // The write may have stopped waiting (its timeout).
            let _ = w.send(sent);
        }
    }
}

/// Subscribe, forward notices, and after any loss re-subscribe with backoff
/// (0.5 s doubling to 30 s). Every (re)subscription also counts as a key
/// notice: one published while the subscription was down would otherwise be
/// missed; for the same reason the read cache is switched off while the
/// subscription is down and starts empty when it is back.
/// A ping every `ping_every` finds a connection that died silently.
async fn listen(
    client: Client,
    channels: Channels,
    node: String,
    notice: Arc<Notify>,
    ping_every: Duration,
    live: Arc<LiveCache>,
) {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let mut delay = Duration::from_millis(500);
    loop {
        match tokio::time::timeout(TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => {
                let (mut sink, mut messages) = pubsub.split();
                match tokio::time::timeout(TIMEOUT, sink.subscribe(&[&channels.keys, &channels.live])).await {
                    Ok(Ok(())) => {
                        delay = Duration::from_millis(500);
                        tracing::debug!("key-change notices: subscribed");
                        notice.notify_one();
                        live.enable();
                        let mut ping = tokio::time::interval(ping_every);
                        ping.tick().await;
                        loop {
                            tokio::select! {
                                msg = messages.next() => match msg {
                                    Some(msg) if msg.get_channel_name() == channels.live => {
                                        apply_marks(&live, &node, msg.get_payload_bytes());
                                    }
                                    Some(msg) if msg.get_payload_bytes() != node.as_bytes() => notice.notify_one(),
                                    Some(_) => {}
                                    None => break,
                                },
                                _ = ping.tick() => {
                                    let pong = tokio::time::timeout(TIMEOUT, sink.ping::<::redis::Value>()).await;
                                    if !matches!(pong, Ok(Ok(_))) {
                                        break;
                                    }
                                }
                            }
                        }
                        live.disable();
                        tracing::warn!("key-change notices: subscription lost; reconnecting");
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "key-change notices: cannot subscribe"),
                    Err(_) => tracing::warn!("key-change notices: subscribing timed out"),
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "key-change notices: cannot connect to Redis"),
            Err(_) => tracing::warn!("key-change notices: connecting to Redis timed out"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Apply another node's marks (`node\nmark…`); ours were applied already.
fn apply_marks(live: &LiveCache, node: &str, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        // Not from a Motcua node: the safe reading is "anything may have changed".
        live.apply(&[crate::store::live::ALL.to_owned()]);
        return;
    };
    let mut lines = text.split('\n');
    if lines.next() == Some(node) {
        return;
    }
    let marks: Vec<String> = lines.map(str::to_owned).collect();
    live.apply(&marks);
}

#[async_trait]
impl Notifier for RedisNotifier {
    async fn keys_changed(&self) {
        let sent =
            ::redis::cmd("PUBLISH").arg(&self.channel).arg(&self.node).query_async::<i64>(&mut self.conn.clone()).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not publish a key-change notice; other nodes follow at their next reload");
        }
    }

    async fn key_notice(&self) {
        self.notice.notified().await;
    }
}
