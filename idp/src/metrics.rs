//! What an operator scrapes from `/metrics` (OpenMetrics text, which
//! Prometheus reads natively): logins by method and outcome, tokens by grant,
//! request latency by route, the age of every active signing key, cache and
//! store failures, and the build.
//!
//! Labels only ever take values from fixed lists or from the router's route
//! templates, never from request input, so the number of series is bounded.
//! No axum here: `http/metrics.rs` turns requests into [`Metrics`] calls.

use std::cell::Cell;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::cache::{Cache, CacheResult, CacheUsage};
use crate::domain::accounts::LoginError;
use crate::domain::keys::Keyring;
use crate::store::Timestamp;

/// `Content-Type` of the exposition (OpenMetrics 1.0 text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, seconds: a discovery hit takes well
/// under a millisecond, a password login (Argon2id) tens of milliseconds, a
/// `jwks_uri` fetch up to its 5 s timeout.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How a citizen proved who they are (`method` label of `idp_logins_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginMethod {
    /// Identifier and password.
    Password,
    /// A WebAuthn passkey.
    Passkey,
    /// An existing SSO session answered the authorization request.
    Sso,
}

impl LoginMethod {
    fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Passkey => "passkey",
            Self::Sso => "sso",
        }
    }
}

/// How a login attempt ended (`outcome` label of `idp_logins_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    /// Signed in.
    Success,
    /// Wrong credentials (unknown identifier and wrong password look the same).
    Failure,
    /// Refused by the back-off before the credentials were checked.
    Throttled,
    /// The account is disabled.
    Disabled,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Throttled => "throttled",
            Self::Disabled => "disabled",
        }
    }

    /// The outcome of a password login; `None` for an internal failure,
    /// which is not a login outcome (it shows in the store or cache errors).
    pub fn of<T>(result: &Result<T, LoginError>) -> Option<Self> {
        match result {
            Ok(_) => Some(Self::Success),
            Err(LoginError::InvalidCredentials) => Some(Self::Failure),
            Err(LoginError::Throttled { .. }) => Some(Self::Throttled),
            Err(LoginError::AccountDisabled) => Some(Self::Disabled),
            // Internal failures, and any kind of failure added later until it gets an outcome.
            Err(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LoginLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GrantLabels {
    grant: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KeyLabels {
    alg: &'static str,
    kid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// Every series this node exports. Cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    logins: Family<LoginLabels, Counter>,
    tokens: Family<GrantLabels, Counter>,
    http: HistogramFamily,
    key_age: Family<KeyLabels, Gauge>,
    cache_errors: Counter,
    store_errors: Counter,
    /// With the in-process cache: its bytes, bound and entries.
    memory_cache: Option<[Gauge; 3]>,
    /// Serialises scrapes: the key-age gauges are refilled, then encoded.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every series registered (at zero).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register("idp_logins", "Login attempts by method and outcome", logins.clone());
        let tokens = Family::<GrantLabels, Counter>::default();
        registry.register("idp_tokens_issued", "Successful token responses by grant type", tokens.clone());
        let http: HistogramFamily = Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register_with_unit(
            "idp_http_request_duration",
            "Time to answer a request, by route template and status class",
            Unit::Seconds,
            http.clone(),
        );
        let key_age = Family::<KeyLabels, Gauge>::default();
        registry.register_with_unit(
            "idp_signing_key_age",
            "Age of each active signing key (since it was created), as this node has it loaded",
            Unit::Seconds,
            key_age.clone(),
        );
        let cache_errors = Counter::default();
        registry.register("idp_cache_errors", "Failed cache (Redis) calls", cache_errors.clone());
        let store_errors = Counter::default();
        registry.register(
            "idp_store_errors",
            "Requests answered 500/503 for a reason other than the cache (the database, in practice), and failed background store work",
            store_errors.clone(),
        );
        registry.register(
            "idp_build",
            "The running build",
            Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION") }),
        );
        // Every login and grant series exists from the start at 0, so a rate()
        // over a fresh node is 0, not absent.
        for method in [LoginMethod::Password, LoginMethod::Passkey, LoginMethod::Sso] {
            for outcome in
                [LoginOutcome::Success, LoginOutcome::Failure, LoginOutcome::Throttled, LoginOutcome::Disabled]
            {
                drop(logins.get_or_create(&LoginLabels { method: method.as_str(), outcome: outcome.as_str() }));
            }
        }
        for grant in GRANTS {
            drop(tokens.get_or_create(&GrantLabels { grant }));
        }
        Self {
            registry,
            logins,
            tokens,
            http,
            key_age,
            cache_errors,
            store_errors,
            memory_cache: None,
            scrape: Mutex::new(()),
        }
    }

    /// Also export how full the in-process cache is (a node without Redis):
    /// past three quarters of the bound new sign-ins answer 503, so
    /// `idp_memory_cache_bytes / idp_memory_cache_limit_bytes` nearing 0.75
    /// is the alert before citizens see it.
    #[must_use]
    pub fn with_memory_cache(mut self) -> Self {
        let gauges: [Gauge; 3] = Default::default();
        let [bytes, limit, entries] = gauges.clone();
        self.registry.register_with_unit(
            "idp_memory_cache",
            "Bytes the in-process cache holds (keys, values and an estimate of each entry's overhead)",
            Unit::Bytes,
            bytes,
        );
        self.registry.register_with_unit(
            "idp_memory_cache_limit",
            "The in-process cache's bound (IDP_MEMORY_CACHE_MIB); visitor state may fill three quarters of it",
            Unit::Bytes,
            limit,
        );
        self.registry.register("idp_memory_cache_entries", "Entries the in-process cache holds", entries);
        self.memory_cache = Some(gauges);
        self
    }

    /// One login attempt ended.
    pub fn login(&self, method: LoginMethod, outcome: LoginOutcome) {
        self.logins.get_or_create(&LoginLabels { method: method.as_str(), outcome: outcome.as_str() }).inc();
    }

    /// A password (or other) login returned `result`; internal failures are not counted here.
    pub fn login_result<T>(&self, method: LoginMethod, result: &Result<T, LoginError>) {
        if let Some(outcome) = LoginOutcome::of(result) {
            self.login(method, outcome);
        }
    }

    /// The token endpoint answered 200 for `grant` (`grant_type`); unknown
    /// values are ignored so the label stays bounded.
    pub fn token_issued(&self, grant: &str) {
        if let Some(grant) = GRANTS.into_iter().find(|g| *g == grant) {
            self.tokens.get_or_create(&GrantLabels { grant }).inc();
        }
    }

    /// A cache call failed.
    pub fn cache_error(&self) {
        self.cache_errors.inc();
    }

    /// A request or background task failed on the store.
    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    /// One answered request: `route` is the router's template (`/token`,
    /// `/admin/v1/clients/{client_id}`) or `unmatched`, never a raw path.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.http.get_or_create(&HttpLabels { route: route.to_owned(), status }).observe(elapsed.as_secs_f64());
    }

    /// The exposition, with key ages computed now from the keys this node
    /// has loaded (so a node that missed a rotation shows the old key).
    pub fn render(&self, keys: &Keyring, now: Timestamp, cache: Option<CacheUsage>) -> String {
        let _guard = self.scrape.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some([bytes, limit, entries]), Some(usage)) = (&self.memory_cache, cache) {
            let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            bytes.set(gauge(usage.bytes));
            limit.set(gauge(usage.limit));
            entries.set(gauge(usage.entries));
        }
        self.key_age.clear();
        for (alg, kid, created_at) in keys.active_keys() {
            self.key_age.get_or_create(&KeyLabels { alg: alg.as_str(), kid }).set(now.saturating_sub(created_at));
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing to a String cannot fail; keep whatever was encoded.
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

/// The grant types the token endpoint issues for (RFC 6749 §4.1.3, §6,
/// §4.4.2; RFC 8693 §2.1 token exchange, labelled by its URN).
const GRANTS: [&str; 4] =
    ["authorization_code", "refresh_token", "client_credentials", crate::domain::oidc::TOKEN_EXCHANGE];

tokio::task_local! {
    /// Set when a cache call failed while serving the current request, so
    /// the request's 5xx is not also counted as a store error.
    static CACHE_FAILED: Cell<bool>;
}

/// Run one request's future, reporting whether a cache call failed in it.
pub async fn watch_cache<F: Future>(request: F) -> (F::Output, bool) {
    CACHE_FAILED
        .scope(Cell::new(false), async move {
            let out = request.await;
            (out, CACHE_FAILED.try_with(Cell::get).unwrap_or(false))
        })
        .await
}

/// The cache, counting its failures into `idp_cache_errors_total` (whoever
/// the caller: a handler, the session store, `/readyz`).
pub struct CountingCache {
    inner: Arc<dyn Cache>,
    metrics: Arc<Metrics>,
}

impl CountingCache {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn Cache>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn count<T>(&self, result: CacheResult<T>) -> CacheResult<T> {
        if result.is_err() {
            self.metrics.cache_error();
            // Outside a request (background work) there is no flag to set.
            let _ = CACHE_FAILED.try_with(|f| f.set(true));
        }
        result
    }
}

#[async_trait]
impl Cache for CountingCache {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()> {
        self.count(self.inner.put(key, value, ttl).await)
    }
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool> {
        self.count(self.inner.put_if_absent(key, value, ttl).await)
    }
    async fn put_visitor(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<()> {
        self.count(self.inner.put_visitor(key, value, ttl).await)
    }
    async fn put_visitor_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> CacheResult<bool> {
        self.count(self.inner.put_visitor_if_absent(key, value, ttl).await)
    }
    async fn get(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        self.count(self.inner.get(key).await)
    }
    async fn take(&self, key: &str) -> CacheResult<Option<Vec<u8>>> {
        self.count(self.inner.take(key).await)
    }
    async fn delete(&self, key: &str) -> CacheResult<()> {
        self.count(self.inner.delete(key).await)
    }
    async fn incr(&self, key: &str, ttl: Duration) -> CacheResult<u64> {
        self.count(self.inner.incr(key, ttl).await)
    }
    async fn ping(&self) -> CacheResult<()> {
        self.count(self.inner.ping().await)
    }
    fn usage(&self) -> Option<CacheUsage> {
        self.inner.usage()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;
    use crate::cache::tests::DownCache;
    use crate::crypto::kek::Kek;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    #[tokio::test]
    async fn counters_histogram_and_key_ages_are_exported() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let kek = Kek::from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", "test").unwrap();
        let keys = Keyring::open(store.as_ref(), kek, 1_000).await.unwrap();
        let m = Metrics::new();
        m.login(LoginMethod::Password, LoginOutcome::Success);
        m.login_result::<()>(LoginMethod::Password, &Err(LoginError::Throttled { retry_after: 3 }));
        m.token_issued("client_credentials");
        m.token_issued("urn:not:a:grant");
        m.http_request("/token", 200, Duration::from_millis(3));
        m.http_request("unmatched", 404, Duration::from_millis(1));
        let text = m.render(&keys, 1_090, None);
        assert!(!text.contains("idp_memory_cache"), "only a node with the in-process cache has these: {text}");

        assert_eq!(
            line(&text, "idp_logins_total{method=\"password\",outcome=\"success\"}"),
            "idp_logins_total{method=\"password\",outcome=\"success\"} 1"
        );
        assert!(text.contains("idp_logins_total{method=\"password\",outcome=\"throttled\"} 1"), "{text}");
        assert!(text.contains("idp_logins_total{method=\"passkey\",outcome=\"failure\"} 0"), "{text}");
        assert!(text.contains("idp_tokens_issued_total{grant=\"client_credentials\"} 1"), "{text}");
        assert!(!text.contains("urn:not:a:grant"), "{text}");
        assert!(
            text.contains("idp_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/token\",status=\"2xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("idp_http_request_duration_seconds_count{route=\"unmatched\",status=\"4xx\"} 1"),
            "{text}"
        );
        let rs = line(&text, "idp_signing_key_age_seconds{alg=\"RS256\"");
        assert!(rs.ends_with("} 90"), "{rs}");
        assert!(text.contains("idp_build_info{version=\""), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn cache_failures_are_counted_and_flag_the_request() {
        let m = Arc::new(Metrics::new());
        let down = CountingCache::new(Arc::new(DownCache), m.clone());
        let up = CountingCache::new(Arc::new(MemoryCache::new()), m.clone());
        let (_, failed) = watch_cache(async { up.get("k").await }).await;
        assert!(!failed);
        let (_, failed) = watch_cache(async { down.take("k").await }).await;
        assert!(failed);
        // Outside a request: counted, no flag to set, no panic.
        assert!(down.ping().await.is_err());
        assert_eq!(m.cache_errors.get(), 2);
    }

    /// A node without Redis shows how full its bounded cache is, through the
    /// counting wrapper the app puts around it.
    #[tokio::test]
    async fn the_in_process_cache_reports_how_full_it_is() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let kek = Kek::from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", "test").unwrap();
        let keys = Keyring::open(store.as_ref(), kek, 1_000).await.unwrap();
        let m = Arc::new(Metrics::new().with_memory_cache());
        let cache = CountingCache::new(Arc::new(MemoryCache::with_limit(1 << 20)), m.clone());
        cache.put("code:abc", &[0; 100], Duration::from_secs(60)).await.unwrap();
        cache.put_visitor("visitor:1", &[0; 200], Duration::from_secs(60)).await.unwrap();
        let usage = cache.usage().unwrap();
        assert_eq!((usage.limit, usage.entries), (1 << 20, 2));
        assert!(usage.bytes >= 300 + "code:abc".len() + "visitor:1".len(), "{usage:?}");
        let text = m.render(&keys, 1_090, cache.usage());
        assert_eq!(line(&text, "idp_memory_cache_bytes "), format!("idp_memory_cache_bytes {}", usage.bytes));
        assert_eq!(line(&text, "idp_memory_cache_limit_bytes "), "idp_memory_cache_limit_bytes 1048576");
        assert_eq!(line(&text, "idp_memory_cache_entries "), "idp_memory_cache_entries 2");
        cache.delete("code:abc").await.unwrap();
        let text = m.render(&keys, 1_091, cache.usage());
        assert_eq!(line(&text, "idp_memory_cache_entries "), "idp_memory_cache_entries 1");
    }
}
