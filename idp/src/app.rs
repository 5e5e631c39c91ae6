//! Start-up: configuration → store (migrated) → key-encryption key →
//! signing keys → listeners; and the offline subcommands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::{Cache, MemoryCache, NoopNotifier, Notifier, RedisCache, RedisNotifier};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::kek::Kek;
use crate::crypto::password::PasswordHasher;
use crate::domain::keys::Keyring;
use crate::domain::keys::lifecycle::{self, KeyPolicy};
use crate::domain::oidc::tokens::{Ctx, Lifetimes};
use crate::pages::Pages;
use crate::store::Store;

/// Everything a request handler needs, shared by both listeners.
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Ephemeral state.
    pub cache: Arc<dyn Cache>,
    /// Cross-node notices (key changes).
    pub notifier: Arc<dyn Notifier>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Signing keys.
    pub keys: Arc<Keyring>,
    /// Subject identifiers (the pairwise key).
    pub subjects: Arc<crate::domain::oidc::subjects::Subjects>,
    /// Seals visitors' passkey sign-in ceremonies.
    pub ceremonies: Arc<crate::domain::passkeys::CeremonyKey>,
    /// Page templates.
    pub pages: Arc<Pages>,
    /// Argon2id.
    pub passwords: PasswordHasher,
    /// Outbound HTTP (client `jwks_uri`).
    pub http: HttpJwks,
    /// The WebAuthn relying party; `None` when passkeys are off (an IP-address issuer).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Network ranges and place names for the sessions page (`IDP_SESSION_PLACES`).
    pub places: Arc<crate::domain::places::Places>,
    /// What `/metrics` exports.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Outbound HTTP: client JWKS documents (at most 64 KiB) and back-channel
/// logout notices. No redirects, 5 s, and —
/// unless `allow_private` — never from loopback, private or link-local
/// addresses (SSRF: a registered URI must not reach the admin listener or the
/// internal network). The address checked is the one connected to.
#[derive(Clone)]
pub struct HttpJwks {
    allow_private: bool,
}

impl HttpJwks {
    /// A fetcher; `allow_private` comes from `IDP_OUTBOUND_ALLOW_PRIVATE`.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

/// Addresses outbound calls must not reach unless the operator allows it.
fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let [.., x, y] = v6.segments();
            let embedded = std::net::Ipv4Addr::from((u32::from(x) << 16) | u32::from(y));
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first & 0xffc0) == 0xfec0 // site local (deprecated, still routed by some networks)
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(std::net::IpAddr::V4(v4)))
                // NAT64 (RFC 6052 64:ff9b::/96): reaches the IPv4 address in its last 32 bits.
                || (v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_internal(std::net::IpAddr::V4(embedded)))
        }
    }
}

impl HttpJwks {
    /// A client bound to `uri`'s host, after the address check: no redirects,
    /// a 5 s timeout, connecting to the address checked.
    async fn guarded(&self, uri: &str) -> Result<(reqwest::Client, reqwest::Url), String> {
        let url = reqwest::Url::parse(uri).map_err(|e| e.to_string())?;
        let host = url.host_str().ok_or("no host")?.to_owned();
        let port = url.port_or_known_default().ok_or("no port")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        // Bounded: a slow resolver must not outlast a back-channel lease.
        let lookup = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((bare.as_str(), port)));
        let addrs: Vec<std::net::SocketAddr> =
            lookup.await.map_err(|_| "the name lookup timed out".to_owned())?.map_err(|e| e.to_string())?.collect();
        let addr = *addrs.first().ok_or("the host has no address")?;
        // Every address the name resolves to is checked, not only the one
        // connected to: a name that also points inside is refused outright.
        if !self.allow_private && addrs.iter().any(|a| is_internal(a.ip())) {
            return Err(format!("{host} is an internal address; refused (see IDP_OUTBOUND_ALLOW_PRIVATE)"));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .user_agent("motcua-idp")
            .resolve(&bare, addr)
            .build()
            .map_err(|e| e.to_string())?;
        Ok((client, url))
    }

    /// Back-Channel Logout §2.5: POST `logout_token` as a form; 200 or 204
    /// is a delivery. The error is short and never holds the token.
    pub async fn post_logout_token(&self, uri: &str, token: &str) -> Result<(), String> {
        let (client, url) = self.guarded(uri).await?;
        let resp = client.post(url).form(&[("logout_token", token)]).send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "connection failed".to_owned()
            } else {
                "request failed".to_owned()
            }
        })?;
        match resp.status().as_u16() {
            200 | 204 => Ok(()),
            s => Err(format!("status {s}")),
        }
    }
}

impl HttpJwks {
    /// GET a small registered document (a client's JWKS, a sector identifier
    /// document): at most 64 KiB, a 2xx answer, UTF-8, through [`Self::guarded`]
    /// (no redirects, 5 s, the address check). The error is short, for logs
    /// and the admin.
    pub async fn fetch_document(&self, uri: &str) -> Result<String, String> {
        const LIMIT: usize = 64 * 1024;
        let (client, url) = self.guarded(uri).await?;
        let mut resp = client.get(url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > LIMIT {
                return Err("the document is larger than 64 KiB".into());
            }
        }
        String::from_utf8(body).map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl crate::domain::oidc::client_auth::JwksFetcher for HttpJwks {
    async fn fetch(&self, uri: &str) -> Result<String, String> {
        self.fetch_document(uri).await
    }
}

#[async_trait::async_trait]
impl crate::domain::clients::DocumentFetcher for HttpJwks {
    async fn fetch_document(&self, uri: &str) -> Result<String, String> {
        HttpJwks::fetch_document(self, uri).await
    }

    fn allows_private(&self) -> bool {
        self.allow_private
    }
}

/// Shared application state (axum `State`).
pub type App = Arc<AppState>;

impl AppState {
    /// The protocol context for one request, at the current time.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: self.store.as_ref(),
            cache: self.cache.as_ref(),
            keys: &self.keys,
            subjects: &self.subjects,
            issuer: &self.config.issuer,
            ttl: Lifetimes {
                access_token: self.config.access_token_ttl,
                id_token: self.config.id_token_ttl,
                refresh_token: self.config.refresh_token_ttl,
                grant: self.config.grant_ttl,
            },
            now: self.clock.now(),
            dpop_jkt: None,
        }
    }
}

/// A start-up failure, worded for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

fn start_err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> StartError + '_ {
    move |e| StartError(format!("{what}: {e}"))
}

/// Open the store (applying migrations).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    crate::store::connect(&config.database_url, config.database_max_connections)
        .await
        .map_err(|e| start_err("cannot open the database (IDP_DATABASE_URL)")(&e))
}

/// Load the key-encryption key from `IDP_MASTER_KEY` or its file.
pub fn load_kek(config: &Config) -> Result<Kek, StartError> {
    match &config.master_key {
        Some(text) => Kek::from_base64(text, "IDP_MASTER_KEY").map_err(|e| StartError(e.to_string())),
        None => {
            let (kek, created) = Kek::load_or_create(&config.master_key_file).map_err(|e| StartError(e.to_string()))?;
            if created {
                tracing::info!(path = %config.master_key_file.display(), "created a new key-encryption key; back it up with the database");
            }
            Ok(kek)
        }
    }
}

/// The KEKs that only unwrap: `IDP_MASTER_KEY_PREVIOUS`, and `<master_key_file>.previous`
/// when the key comes from the file (left by `keys rewrap` for a rolling change).
pub fn load_older_keks(config: &Config) -> Result<Vec<Kek>, StartError> {
    let mut older = Vec::new();
    if let Some(text) = &config.master_key_previous {
        older.push(Kek::from_base64(text, "IDP_MASTER_KEY_PREVIOUS").map_err(|e| StartError(e.to_string()))?);
    }
    if config.master_key.is_none() {
        older.extend(Kek::load_previous(&config.master_key_file).map_err(|e| StartError(e.to_string()))?);
    }
    Ok(older)
}

/// `idp check-config`: what start-up checks without connecting anywhere —
/// the settings (already loaded and validated by then), the master keys'
/// format, the database URL's scheme. Returns the effective settings as TOML
/// with secrets redacted.
pub fn check_config(config: &Config) -> Result<String, StartError> {
    for (value, name) in
        [(&config.master_key, "IDP_MASTER_KEY"), (&config.master_key_previous, "IDP_MASTER_KEY_PREVIOUS")]
    {
        if let Some(text) = value {
            Kek::from_base64(text, name)
                .map_err(|e| StartError(format!("{e}; generate one with `openssl rand -base64 32`")))?;
        }
    }
    let url = &config.database_url;
    if !["sqlite:", "postgres:", "postgresql:"].iter().any(|scheme| url.starts_with(scheme)) {
        return Err(StartError(
            "IDP_DATABASE_URL must start with sqlite:// or postgres:// (e.g. postgres://motcua:PASSWORD@db:5432/motcua)"
                .into(),
        ));
    }
    Ok(config.redacted_toml())
}

/// `idp probe`: GET `path` on this node's public listener (on loopback when
/// it listens on every address); `Ok` on 200.
pub async fn probe(config: &Config, path: &str) -> Result<(), StartError> {
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr =
            if addr.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
        addr.set_ip(loopback);
    }
    let url = format!("http://{addr}{path}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| start_err("HTTP client")(&e))?;
    let resp = client.get(&url).send().await.map_err(|e| start_err(&url)(&e))?;
    if resp.status() == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(StartError(format!("{url} answered {}", resp.status())))
    }
}

/// The cache and the notifier that goes with it.
pub type CacheAndNotifier = (Arc<dyn Cache>, Arc<dyn Notifier>);

/// The cache and notifier: Redis when `IDP_REDIS_URL` is set, otherwise
/// in-process. Redis is connected lazily: a node starts while Redis is down,
/// answers 503 on `/readyz` and on requests that need the cache, and recovers
/// by itself when Redis is back.
///
/// Also decides who switches on the store's read cache (`store::live`): the
/// Redis listener while it is subscribed; without Redis, this function when
/// the store is SQLite (one node), and nobody on PostgreSQL (nodes could not
/// tell each other about a revocation).
pub fn open_cache(config: &Config, store: &dyn Store) -> Result<CacheAndNotifier, StartError> {
    let Some(url) = &config.redis_url else {
        if store.engine() == "sqlite" {
            store.live().enable();
        } else {
            tracing::info!("read cache off: without Redis, nodes cannot tell each other what changed");
        }
        return Ok((
            Arc::new(MemoryCache::with_limit(config.memory_cache_mib.saturating_mul(1 << 20))),
            Arc::new(NoopNotifier),
        ));
    };
    let redis_err = |e: crate::cache::CacheError| {
        StartError(format!(
            "IDP_REDIS_URL is not usable ({}); use e.g. redis://redis.internal:6379/0, or leave it unset for the in-process cache",
            e.0
        ))
    };
    let client = crate::cache::redis_client(url).map_err(redis_err)?;
    let conn = crate::cache::connection_manager(client.clone()).map_err(redis_err)?;
    let notifier = RedisNotifier::start(client, conn.clone(), &config.redis_prefix, store.live().clone());
    Ok((Arc::new(RedisCache::new(conn, &config.redis_prefix)), Arc::new(notifier)))
}

/// Build the state: store, keys, pages, hasher.
pub async fn build(config: Config) -> Result<App, StartError> {
    let store = open_store(&config).await?;
    let (cache, notifier) = open_cache(&config, store.as_ref())?;
    let metrics = crate::metrics::Metrics::new();
    let metrics = Arc::new(if cache.usage().is_some() { metrics.with_memory_cache() } else { metrics });
    let cache: Arc<dyn Cache> = Arc::new(crate::metrics::CountingCache::new(cache, metrics.clone()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let kek = load_kek(&config)?;
    let options = crate::domain::keys::KeyringOptions {
        rsa_bits: config.rsa_key_bits,
        kek_file: config.master_key.is_none().then(|| config.master_key_file.clone()),
    };
    let keys = Keyring::open_with(store.as_ref(), kek, load_older_keks(&config)?, options, clock.now())
        .await
        .map_err(|e| start_err("cannot load signing keys (is IDP_MASTER_KEY the key that encrypted them?)")(&e))?;
    let subjects = crate::domain::oidc::subjects::Subjects::load(store.as_ref(), &keys, clock.now())
        .await
        .map_err(|e| start_err("cannot load the pairwise-subject key")(&e))?;
    let ceremonies = crate::domain::passkeys::CeremonyKey::load(store.as_ref(), &keys, clock.now())
        .await
        .map_err(|e| start_err("cannot load the passkey ceremony key")(&e))?;
    let pages = Pages::new().map_err(|e| start_err("templates")(&e))?;
    let passwords = PasswordHasher::new(config.argon2_memory_kib, config.argon2_iterations, config.hash_concurrency())
        .map_err(|e| start_err("IDP_ARGON2_MEMORY_KIB / IDP_ARGON2_ITERATIONS")(&e))?;
    let http = HttpJwks::new(config.outbound_allow_private);
    let webauthn = open_webauthn(&config)?;
    let places = Arc::new(load_places(&config)?);
    Ok(Arc::new(AppState {
        config: Arc::new(config),
        store,
        cache,
        notifier,
        clock,
        keys: Arc::new(keys),
        subjects: Arc::new(subjects),
        ceremonies: Arc::new(ceremonies),
        pages: Arc::new(pages),
        passwords,
        http,
        metrics,
        webauthn,
        places,
    }))
}

/// The WebAuthn relying party from `IDP_WEBAUTHN_RP_ID` / `IDP_WEBAUTHN_ORIGINS`
/// (default: the issuer); `None`, with a warning, when the issuer's host is an
/// IP address, where browsers refuse WebAuthn.
/// The operator's network → place list, if `session_places` names one; a
/// missing or malformed file stops the start with the line to fix.
fn load_places(config: &Config) -> Result<crate::domain::places::Places, StartError> {
    let Some(path) = &config.session_places else {
        return Ok(crate::domain::places::Places::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| StartError(format!("session_places (IDP_SESSION_PLACES): cannot read {}: {e}", path.display())))?;
    crate::domain::places::Places::parse(&text)
        .map_err(|e| StartError(format!("session_places (IDP_SESSION_PLACES): {}: {e}", path.display())))
}

fn open_webauthn(config: &Config) -> Result<Option<Arc<webauthn_rs::Webauthn>>, StartError> {
    let Some((rp_id, origins)) = config.webauthn().map_err(StartError)? else {
        tracing::warn!("passkeys are off: the issuer's host is an IP address (set IDP_WEBAUTHN_RP_ID to a domain)");
        return Ok(None);
    };
    let webauthn = crate::domain::passkeys::relying_party(&rp_id, &origins).map_err(StartError)?;
    Ok(Some(Arc::new(webauthn)))
}

/// Serve both listeners until SIGTERM or Ctrl-C, then stop accepting, let
/// in-flight requests finish for up to `shutdown_grace` seconds, and return.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let started = Instant::now();
    // Installed first: a SIGTERM during start-up must stop the node
    // gracefully, not kill it with the default action.
    let signals = Signals::install()?;
    let app = build(config).await?;
    let public = tokio::net::TcpListener::bind(app.config.listen)
        .await
        .map_err(|e| start_err(&format!("cannot listen on {} (IDP_LISTEN)", app.config.listen))(&e))?;
    let admin = tokio::net::TcpListener::bind(app.config.admin_listen)
        .await
        .map_err(|e| start_err(&format!("cannot listen on {} (IDP_ADMIN_LISTEN)", app.config.admin_listen))(&e))?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    spawn_housekeeping(app.clone(), stop.clone());
    spawn_logout_delivery(app.clone(), stop.clone());
    let public_router = crate::http::public_router(app.clone());
    let admin_router = crate::http::admin_router(app.clone());
    let has_admin = app.store.list_admin_tokens().await.map(|t| !t.is_empty()).unwrap_or(true);
    spawn_key_notices(app.clone(), stop.clone());
    spawn_store_watch(app.clone(), stop.clone());
    eprintln!(
        "Motcua ready in {} ms\n  issuer:    {}\n  listening: http://{}\n  admin API: http://{} (and /metrics)\n  database:  {}\n  cache:     {}",
        started.elapsed().as_millis(),
        app.config.issuer,
        app.config.listen,
        app.config.admin_listen,
        app.store.engine(),
        match (&app.config.redis_url, app.config.session_store.as_str()) {
            (None, _) => "in-process",
            (Some(_), "cache") => "Redis (with signed-in browser sessions)",
            (Some(_), _) => "Redis",
        },
    );
    let has_clients = app.store.list_clients(None).await.map(|c| !c.is_empty()).unwrap_or(true);
    if !has_admin || !has_clients {
        let token_step = if has_admin {
            "    export IDP_ADMIN_TOKEN=<your admin token>\n"
        } else {
            "    export IDP_ADMIN_TOKEN=$(cargo run -q --release -p idp -- bootstrap-admin)\n"
        };
        eprintln!(
            "  Register your first client:\n{token_step}    cargo run -q --release -p admin-cli -- org create --code demo --name \"Demo ministry\" --kind ministry\n    cargo run -q --release -p admin-cli -- client register --name \"My service\" --org demo --type confidential --redirect-uri http://localhost:3000/callback"
        );
    }
    let grace = Duration::from_secs(app.config.shutdown_grace);
    tokio::spawn(async move {
        let which = signals.recv().await;
        tracing::info!(
            signal = which,
            grace_seconds = grace.as_secs(),
            "shutting down: no new connections, draining requests in flight"
        );
        let _ = stop_tx.send(true);
    });
    // On the signal each server drops its listener (new connections are
    // refused, so the proxy sends them to another node), closes idle
    // keep-alive connections and lets every request already received finish
    // — its body may still be arriving — before closing that connection.
    let public_srv = axum::serve(public, public_router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(stopped(stop.clone()));
    let admin_srv = axum::serve(admin, admin_router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(stopped(stop.clone()));
    let servers = async {
        let (a, b) = tokio::join!(public_srv.into_future(), admin_srv.into_future());
        a.and(b)
    };
    let deadline = async {
        stopped(stop.clone()).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = servers => result.map_err(|e| start_err("server")(&e))?,
        () = deadline => {
            // The orchestrator will kill us soon anyway; leaving now lets the
            // exit status say the stop was orderly.
            tracing::warn!(grace_seconds = grace.as_secs(), "shutdown grace elapsed; closing the connections still open");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once shutdown has begun (or the sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// SIGTERM (orchestrators, `docker stop`) and SIGINT (Ctrl-C), installed
/// together so neither keeps its default action of killing the process.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, StartError> {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).map_err(|e| start_err("cannot handle SIGTERM")(&e))?;
        let int = signal(SignalKind::interrupt()).map_err(|e| start_err("cannot handle SIGINT")(&e))?;
        Ok(Self { term, int })
    }

    /// Wait for either signal; returns its name.
    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Periodic work, every `key_reload_interval`: reload keys changed by another
/// node, fire the rotation schedule, remove expired retired keys, purge expired
/// rows. Stops when shutdown begins (a purge in progress finishes first).
fn spawn_housekeeping(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(app.config.key_reload_interval));
        let policy = KeyPolicy::new(app.config.access_token_ttl, app.config.id_token_ttl);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
            if lifecycle::housekeeping(app.store.as_ref(), &app.keys, policy, app.clock.now()).await {
                app.notifier.keys_changed().await;
            }
            if let Err(e) = app.store.purge_expired(app.clock.now()).await {
                app.metrics.store_error();
                tracing::error!(error = %e, "purging expired sessions failed");
            }
        }
    });
}

/// Deliver back-channel logout notices from the outbox (Back-Channel Logout
/// 1.0 §2.5), every second: take due rows under a 30 s lease (so another node
/// does not send them too), send each in its own task (a slow client does not
/// hold up the others, and no logout response waits for any of them), record
/// the outcome, retry with backoff (`logout::next_attempt`). Stops when
/// shutdown begins; rows in flight are retried once their lease lapses.
fn spawn_logout_delivery(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    use crate::domain::oidc::logout;
    const LEASE: i64 = 30;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
            let now = app.clock.now();
            let due = match app.store.claim_logout_notices(now, now + LEASE, 32).await {
                Ok(due) => due,
                Err(e) => {
                    app.metrics.store_error();
                    tracing::error!(error = %e, "reading the logout outbox failed");
                    continue;
                }
            };
            for notice in due {
                let app = app.clone();
                tokio::spawn(async move {
                    let now = app.clock.now();
                    let sent = match logout::logout_token(&app.keys, &app.config.issuer, now, &notice) {
                        Ok(token) => app.http.post_logout_token(&notice.target_uri, &token).await,
                        Err(e) => Err(format!("signing failed: {e}")),
                    };
                    let done = app.clock.now();
                    let recorded = match &sent {
                        Ok(()) => {
                            tracing::info!(client_id = %notice.client_id, attempts = notice.attempts + 1, "back-channel logout delivered");
                            app.store.logout_notice_delivered(&notice.id, done).await
                        }
                        Err(why) => {
                            let next = logout::next_attempt(notice.attempts + 1, notice.created_at, done);
                            tracing::warn!(client_id = %notice.client_id, attempts = notice.attempts + 1, error = %why, gives_up = next.is_none(), "back-channel logout failed");
                            let lease = notice.lease_until.unwrap_or_default();
                            app.store.logout_notice_failed(&notice.id, lease, done, next, why).await
                        }
                    };
                    if let Err(e) = recorded {
                        app.metrics.store_error();
                        tracing::error!(error = %e, "recording a logout delivery failed");
                    }
                });
            }
        }
    });
}

/// SQLite only: every 250 ms, drop the read cache if another process wrote
/// to the database file (a second node on the same file, an operator's
/// `sqlite3`), which no notice reaches; off while the check fails.
fn spawn_store_watch(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    if app.store.engine() != "sqlite" {
        return;
    }
    // With Redis, its listener switches the cache on and off; this only empties it.
    let switches = app.config.redis_url.is_none();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
            match app.store.changed_elsewhere().await {
                Ok(changed) => {
                    // Back from a failure, writes made meanwhile went unseen.
                    let recovered = std::mem::take(&mut failing);
                    if recovered && switches {
                        app.store.live().enable();
                    } else if changed || recovered {
                        tracing::debug!("another process wrote to the database; read cache emptied");
                        app.store.live().apply(&[crate::store::live::ALL.to_owned()]);
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot check the database for other writers; read cache off");
                        failing = true;
                        if switches {
                            app.store.live().disable();
                        } else {
                            app.store.live().apply(&[crate::store::live::ALL.to_owned()]);
                        }
                    }
                }
            }
        }
    });
}

/// Reload the key ring whenever another node announces a key change
/// (immediate with Redis; never fires without it, where the periodic reload
/// of [`spawn_housekeeping`] is the only path). Stops when shutdown begins.
fn spawn_key_notices(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = app.notifier.key_notice() => {}
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
            match app.keys.reload(app.store.as_ref()).await {
                Ok(()) => tracing::debug!("signing keys reloaded after a key-change notice"),
                Err(e) => {
                    tracing::error!(error = %e, "signing key reload after a notice failed; keeping the keys already loaded")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::is_internal;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(is_internal(ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))), "{ip}");
        }
        for ip in ["203.0.113.7", "14.160.0.1", "2001:db8::1", "64:ff9b::cb00:7107"] {
            assert!(!is_internal(ip.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))), "{ip}");
        }
    }
}
