//! Configuration, layered: built-in defaults → optional TOML file
//! (`--config` / `IDP_CONFIG`) → `IDP_*` environment → command-line flags.
//! Unknown keys in the file or in `IDP_*` variables are refused with the name
//! of the key, so a typo never silently falls back to a default.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Environment variables that start with `IDP_` but belong to other tools or
/// to the loader itself, so they are not configuration keys.
const NOT_CONFIG_ENV: &[&str] = &["IDP_CONFIG", "IDP_ADMIN_URL", "IDP_ADMIN_TOKEN"];

/// Every setting, with its default. The README's configuration reference lists them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `IDP_ISSUER`: the issuer URL relying parties see (no trailing slash).
    pub issuer: String,
    /// `IDP_LISTEN`: public listener.
    pub listen: SocketAddr,
    /// `IDP_ADMIN_LISTEN`: admin API listener (keep it on loopback or a private network).
    pub admin_listen: SocketAddr,
    /// `IDP_DATABASE_URL`: `sqlite://path` or `postgres://…`.
    pub database_url: String,
    /// `IDP_DATABASE_MAX_CONNECTIONS`: PostgreSQL pool size; SQLite read connections.
    pub database_max_connections: u32,
    /// `IDP_REDIS_URL`: `redis://[user:password@]host[:port][/db]`; when set, the
    /// cache (codes, pending logins, replay entries, throttling counters) and
    /// key-change notices go through Redis, shared by every node. Unset: in-process.
    pub redis_url: Option<String>,
    /// `IDP_REDIS_PREFIX`: prefix of every Redis key and channel, so deployments
    /// (or test runs) sharing one Redis stay apart. The nodes of one IdP share it.
    pub redis_prefix: String,
    /// `IDP_SESSION_STORE`: where signed-in browser sessions live, `database`
    /// (durable, the default) or `cache` (Redis; needs `IDP_REDIS_URL`). A
    /// browser that has not signed in keeps its session in the cache either way.
    pub session_store: String,
    /// `IDP_MASTER_KEY`: base64 key-encryption key; overrides the file when set.
    pub master_key: Option<String>,
    /// `IDP_MASTER_KEY_FILE`: where the key-encryption key lives (created on first start, mode 0600).
    pub master_key_file: PathBuf,
    /// `IDP_MASTER_KEY_PREVIOUS`: the key-encryption key a `keys rewrap` replaced, while nodes change over.
    pub master_key_previous: Option<String>,
    /// `IDP_RSA_KEY_BITS`: modulus of new RSA signing keys, 2048 or 3072.
    pub rsa_key_bits: u32,
    /// `IDP_KEY_RELOAD_INTERVAL`: seconds between key-ring reloads (the worst-case propagation of a key change).
    pub key_reload_interval: u64,
    /// `IDP_ACCESS_TOKEN_TTL`: seconds.
    pub access_token_ttl: i64,
    /// `IDP_ID_TOKEN_TTL`: seconds.
    pub id_token_ttl: i64,
    /// `IDP_REFRESH_TOKEN_TTL`: seconds a refresh token stays valid unused.
    pub refresh_token_ttl: i64,
    /// `IDP_GRANT_TTL`: absolute lifetime of a grant (refresh-token family), seconds.
    pub grant_ttl: i64,
    /// `IDP_CODE_TTL`: authorization code lifetime, seconds (at most 600, RFC 6749 §4.1.2).
    pub code_ttl: i64,
    /// `IDP_SESSION_TTL`: SSO session lifetime, seconds.
    pub session_ttl: i64,
    /// `IDP_LOGIN_TTL`: how long a pending authorization request waits for the citizen, seconds.
    pub login_ttl: i64,
    /// `IDP_PAR_TTL`: how long a pushed authorization request's `request_uri`
    /// may be used, seconds (RFC 9126 §2.2: short; at most 600).
    pub par_ttl: i64,
    /// `IDP_ARGON2_MEMORY_KIB`: Argon2id memory cost (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// `IDP_ARGON2_ITERATIONS`: Argon2id time cost (OWASP: 2).
    pub argon2_iterations: u32,
    /// `IDP_MAX_CONCURRENT_HASHES`: Argon2id hashes in flight (0 = number of cores).
    pub max_concurrent_hashes: usize,
    /// `IDP_LOGIN_FREE_ATTEMPTS`: failures per account/identifier before slowing down.
    pub login_free_attempts: u64,
    /// `IDP_LOGIN_IP_FREE_ATTEMPTS`: failures per client IP before slowing down.
    pub login_ip_free_attempts: u64,
    /// `IDP_MEMORY_CACHE_MIB`: bound of the in-process cache (used without
    /// Redis); past it, requests that need to write the cache answer 503.
    pub memory_cache_mib: usize,
    /// `IDP_LOG_FORMAT`: `text` or `json`.
    pub log_format: String,
    /// `IDP_SHUTDOWN_GRACE`: seconds in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: u64,
    /// `IDP_OUTBOUND_ALLOW_PRIVATE`: let outbound calls (client `jwks_uri`) reach
    /// loopback and private addresses. Off in production (SSRF); tests turn it on.
    pub outbound_allow_private: bool,
    /// `IDP_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges of the
    /// reverse proxies in front of the IdP; only their `X-Forwarded-For` is believed.
    pub trusted_proxies: String,
    /// `IDP_WEBAUTHN_RP_ID`: the WebAuthn relying party id every passkey is bound
    /// to; unset, the issuer's host. Keep it at the registrable domain
    /// (`dichvucong.gov.vn`): passkeys registered under one RP ID never work
    /// under another. Passkeys are off when unset and the issuer's host is an IP address.
    pub webauthn_rp_id: Option<String>,
    /// `IDP_WEBAUTHN_ORIGINS`: comma-separated origins (`https://id.example.gov.vn`)
    /// allowed to run passkey ceremonies; empty, the issuer's origin.
    pub webauthn_origins: String,
    /// `IDP_SESSION_PLACES`: a CSV file of `CIDR,place name` lines; the
    /// sessions page shows the place of each sign-in's address. Unset: no place.
    pub session_places: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: "sqlite://data/motcua.db".into(),
            database_max_connections: 10,
            redis_url: None,
            redis_prefix: "motcua:".into(),
            session_store: "database".into(),
            master_key: None,
            master_key_file: PathBuf::from("keys/master.key"),
            master_key_previous: None,
            rsa_key_bits: 2048,
            key_reload_interval: 10,
            access_token_ttl: 600,
            id_token_ttl: 600,
            refresh_token_ttl: 14 * 24 * 3600,
            grant_ttl: 90 * 24 * 3600,
            code_ttl: 60,
            session_ttl: 12 * 3600,
            login_ttl: 30 * 60,
            par_ttl: 60,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            max_concurrent_hashes: 0,
            login_free_attempts: 5,
            login_ip_free_attempts: 50,
            memory_cache_mib: crate::cache::MemoryCache::DEFAULT_MIB,
            log_format: "text".into(),
            shutdown_grace: 20,
            outbound_allow_private: false,
            trusted_proxies: String::new(),
            webauthn_rp_id: None,
            webauthn_origins: String::new(),
            session_places: None,
        }
    }
}

/// A configuration error: names the key and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Overrides from the command line (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--config FILE`.
    pub config_file: Option<PathBuf>,
    /// `--issuer URL`.
    pub issuer: Option<String>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--database-url URL`.
    pub database_url: Option<String>,
}

impl Config {
    /// Build from the layers; `env` is the process environment as pairs.
    pub fn load(flags: &Flags, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let file = flags
            .config_file
            .clone()
            .or_else(|| env.iter().find(|(k, _)| k == "IDP_CONFIG").map(|(_, v)| PathBuf::from(v)));
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError(format!("{} is not valid TOML: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
        let known = known_keys();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("IDP_") else { continue };
            if NOT_CONFIG_ENV.contains(&name.as_str()) {
                continue;
            }
            let key = key.to_ascii_lowercase();
            if !known.contains(&key) {
                return Err(ConfigError(format!(
                    "unknown setting {name}; known settings are {}",
                    known.iter().map(|k| format!("IDP_{}", k.to_ascii_uppercase())).collect::<Vec<_>>().join(", ")
                )));
            }
            let typed = env_value(&value, default_value(&key).as_ref());
            table.insert(key, typed);
        }
        let mut config: Config = match toml::Value::Table(table.clone()).try_into() {
            Ok(c) => c,
            Err(e) => return Err(name_bad_key(&table, &e)),
        };
        if let Some(v) = &flags.issuer {
            config.issuer = v.clone();
        }
        if let Some(v) = flags.listen {
            config.listen = v;
        }
        if let Some(v) = &flags.database_url {
            config.database_url = v.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        self.issuer = self.issuer.trim_end_matches('/').to_owned();
        let url = url::Url::parse(&self.issuer).map_err(|e| {
            ConfigError(format!("IDP_ISSUER {:?} is not a URL ({e}); use e.g. https://id.example.gov.vn", self.issuer))
        })?;
        // OIDC Discovery §3: the issuer is https with no query or fragment;
        // plain http is allowed only for a loopback development issuer.
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError("IDP_ISSUER must not have a query or fragment".into()));
        }
        if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback_host(url.host_str())) {
            return Err(ConfigError("IDP_ISSUER must be https (plain http only for localhost/127.0.0.1)".into()));
        }
        for (name, v) in [
            ("IDP_ACCESS_TOKEN_TTL", self.access_token_ttl),
            ("IDP_ID_TOKEN_TTL", self.id_token_ttl),
            ("IDP_REFRESH_TOKEN_TTL", self.refresh_token_ttl),
            ("IDP_GRANT_TTL", self.grant_ttl),
            ("IDP_CODE_TTL", self.code_ttl),
            ("IDP_SESSION_TTL", self.session_ttl),
            ("IDP_LOGIN_TTL", self.login_ttl),
            ("IDP_PAR_TTL", self.par_ttl),
        ] {
            if v <= 0 {
                return Err(ConfigError(format!("{name} must be a positive number of seconds")));
            }
        }
        if self.par_ttl > 600 {
            return Err(ConfigError("IDP_PAR_TTL must be at most 600 seconds (RFC 9126 §2.2)".into()));
        }
        if self.code_ttl > 600 {
            return Err(ConfigError("IDP_CODE_TTL must be at most 600 seconds (RFC 6749 §4.1.2)".into()));
        }
        if !matches!(self.rsa_key_bits, 2048 | 3072) {
            return Err(ConfigError("IDP_RSA_KEY_BITS must be 2048 or 3072".into()));
        }
        if !(1..=1 << 20).contains(&self.memory_cache_mib) {
            return Err(ConfigError("IDP_MEMORY_CACHE_MIB must be from 1 to 1048576 (MiB)".into()));
        }
        if !(1..=3600).contains(&self.key_reload_interval) {
            return Err(ConfigError("IDP_KEY_RELOAD_INTERVAL must be from 1 to 3600 seconds".into()));
        }
        if let Some(bad) =
            self.trusted_proxies.split(',').map(str::trim).find(|p| !p.is_empty() && parse_cidr(p).is_none())
        {
            return Err(ConfigError(format!("IDP_TRUSTED_PROXIES: {bad:?} is not an address or CIDR range")));
        }
        if let Some(url) = &self.redis_url {
            // The message never repeats the URL: it may hold a password.
            crate::cache::redis_client(url).map_err(|e| {
                ConfigError(format!(
                    "IDP_REDIS_URL is not usable ({}); use e.g. redis://redis.internal:6379/0, \
                     or leave it unset for the in-process cache",
                    e.0
                ))
            })?;
        }
        if self.redis_prefix.is_empty()
            || self.redis_prefix.len() > 64
            || self.redis_prefix.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError(
                "IDP_REDIS_PREFIX must be 1 to 64 characters without spaces, e.g. `motcua:` (the default)".into(),
            ));
        }
        match (self.session_store.as_str(), &self.redis_url) {
            ("database", _) | ("cache", Some(_)) => {}
            ("cache", None) => {
                return Err(ConfigError(
                    "IDP_SESSION_STORE=cache needs IDP_REDIS_URL (sessions in the in-process cache would be \
                     lost on restart and not shared between nodes); set IDP_REDIS_URL or use `database`"
                        .into(),
                ));
            }
            _ => return Err(ConfigError("IDP_SESSION_STORE must be `database` or `cache`".into())),
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError("IDP_LOG_FORMAT must be `text` or `json`".into()));
        }
        if self.shutdown_grace > 3600 {
            return Err(ConfigError("IDP_SHUTDOWN_GRACE must be at most 3600 seconds (e.g. 20)".into()));
        }
        if self.webauthn_rp_id.is_some() || !self.webauthn_origins.trim().is_empty() {
            // Set by the operator: a mistake is named now, not discovered at the first passkey.
            self.webauthn().map_err(ConfigError)?;
        }
        Ok(())
    }

    /// The WebAuthn relying party id and allowed origins, checked (WebAuthn L3
    /// §5.1.3 / §13.4.9: the RP ID is a domain, never an IP address, equal to
    /// or a registrable suffix of each origin's host; origins are https, or
    /// http on `localhost`). `Ok(None)`: passkeys are off (no RP ID set and the
    /// issuer's host is an IP address). `Err` names the setting to fix.
    pub fn webauthn(&self) -> Result<Option<(String, Vec<url::Url>)>, String> {
        let issuer = url::Url::parse(&self.issuer).map_err(|e| format!("IDP_ISSUER: {e}"))?;
        let rp_id = match &self.webauthn_rp_id {
            Some(id) => id.trim().to_ascii_lowercase(),
            None => match issuer.host() {
                Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
                _ => return Ok(None),
            },
        };
        let domain_like = !rp_id.is_empty()
            && rp_id.parse::<IpAddr>().is_err()
            && rp_id.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !domain_like {
            return Err(format!(
                "IDP_WEBAUTHN_RP_ID {rp_id:?} must be a domain name such as dichvucong.gov.vn (not an IP address or URL)"
            ));
        }
        let listed: Vec<&str> = self.webauthn_origins.split(',').map(str::trim).filter(|o| !o.is_empty()).collect();
        let origins: Vec<String> = if listed.is_empty() {
            vec![issuer.origin().ascii_serialization()]
        } else {
            listed.iter().map(|o| (*o).to_owned()).collect()
        };
        let mut checked = Vec::new();
        for origin in origins {
            let url = url::Url::parse(&origin).map_err(|_| {
                format!("IDP_WEBAUTHN_ORIGINS: {origin:?} is not an origin such as https://id.example.gov.vn")
            })?;
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            let secure = url.scheme() == "https" || (url.scheme() == "http" && host == "localhost");
            if !secure || url.path() != "/" || url.query().is_some() {
                return Err(format!(
                    "IDP_WEBAUTHN_ORIGINS: {origin:?} must be https://host[:port] (plain http only for localhost), \
                     without a path"
                ));
            }
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(format!(
                    "the WebAuthn RP ID {rp_id:?} must be the host of {origin:?} or a parent domain of it \
                     (set IDP_WEBAUTHN_RP_ID, or IDP_WEBAUTHN_ORIGINS)"
                ));
            }
            checked.push(url);
        }
        Ok(Some((rp_id, checked)))
    }

    /// Whether the issuer is plain-http loopback (development): cookies lose `Secure`.
    pub fn is_insecure_dev(&self) -> bool {
        self.issuer.starts_with("http://")
    }

    /// The citizen's address: the peer, or — when the peer is a trusted proxy —
    /// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let trusted: Vec<(IpAddr, u8)> = self.trusted_proxies.split(',').filter_map(|p| parse_cidr(p.trim())).collect();
        let is_trusted = |ip: IpAddr| trusted.iter().any(|(net, len)| in_cidr(ip, *net, *len));
        if !is_trusted(peer) {
            return peer;
        }
        let hops = forwarded_for.unwrap_or_default().split(',').rev().filter_map(|h| h.trim().parse::<IpAddr>().ok());
        let mut last = peer;
        for hop in hops {
            last = hop;
            if !is_trusted(hop) {
                break;
            }
        }
        last
    }

    /// The effective settings as TOML, secrets hidden: master keys replaced,
    /// passwords in the database and Redis URLs masked (`idp check-config`).
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        for key in [&mut c.master_key, &mut c.master_key_previous] {
            if key.is_some() {
                *key = Some("<redacted>".into());
            }
        }
        c.database_url = mask_password(&c.database_url);
        c.redis_url = c.redis_url.as_deref().map(mask_password);
        toml::to_string(&c).unwrap_or_else(|e| format!("# the settings cannot be shown as TOML: {e}\n"))
    }

    /// Argon2id hashes allowed in flight.
    pub fn hash_concurrency(&self) -> usize {
        match self.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        }
    }
}

/// serde's type errors do not say which key was wrong: find it by checking
/// each key alone, and name both its file key and its environment variable.
fn name_bad_key(table: &toml::Table, err: &toml::de::Error) -> ConfigError {
    let known = known_keys();
    for (key, value) in table {
        if !known.contains(key) {
            return ConfigError(format!(
                "unknown setting `{key}` in the configuration file; check its spelling (known settings: {})",
                known.join(", ")
            ));
        }
        let single = toml::Table::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = toml::Value::Table(single).try_into::<Config>() {
            let env = key.to_ascii_uppercase();
            let wanted = match default_value(key) {
                Some(toml::Value::Integer(n)) => format!("a whole number, e.g. {n} (the default)"),
                Some(toml::Value::Boolean(_)) => "`true` or `false`".to_owned(),
                _ => "text".to_owned(),
            };
            // Secrets are not echoed: serde's message quotes the value.
            let got =
                if SECRET_KEYS.contains(&key.as_str()) { "a value of the wrong type" } else { e.message().trim() };
            return ConfigError(format!("{key} (IDP_{env}) must be {wanted}; got {got}"));
        }
    }
    ConfigError(err.message().trim().to_owned())
}

fn known_keys() -> Vec<String> {
    match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => {
            let mut keys: Vec<String> = t.keys().cloned().collect();
            // Optional keys are absent from the serialised default.
            keys.push("master_key".into());
            keys.push("master_key_previous".into());
            keys.push("redis_url".into());
            keys.push("webauthn_rp_id".into());
            keys.push("session_places".into());
            keys
        }
        _ => Vec::new(),
    }
}

/// Keys whose values are secrets: never echoed in an error, redacted by `idp check-config`.
const SECRET_KEYS: &[&str] = &["master_key", "master_key_previous"];

/// The built-in default of `key`, `None` for optional keys (all text).
fn default_value(key: &str) -> Option<toml::Value> {
    match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(mut t)) => t.remove(key),
        _ => None,
    }
}

/// Environment values are strings; for numeric and boolean settings, numbers
/// and booleans are recognised so they deserialise into those fields (a text
/// setting keeps `IDP_REDIS_PREFIX=2024` as text).
fn env_value(v: &str, default: Option<&toml::Value>) -> toml::Value {
    if matches!(default, None | Some(toml::Value::String(_))) {
        return toml::Value::String(v.to_owned());
    }
    if let Ok(n) = v.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_owned()),
    }
}

/// A URL with its password (in the user part or a `password` query
/// parameter, as libpq allows) replaced by `***`.
fn mask_password(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<not a URL; not shown>".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// `10.0.0.0/8` → (10.0.0.0, 8); a bare address is a /32 or /128.
pub(crate) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = s.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

pub(crate) fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let (a, b, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = bits - u32::from(len);
    len == 0 || (a >> shift) == (b >> shift)
}

/// The key per-address limits count under: the address itself for IPv4, its
/// /64 for IPv6 (one subscriber usually holds a whole /64).
pub fn throttle_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// `localhost`, `127.0.0.1`, `::1` and the rest of 127/8.
pub fn is_loopback_host(host: Option<&str>) -> bool {
    match host {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn client_address_behind_trusted_proxies() {
        let c = Config { trusted_proxies: "10.0.0.0/8, 192.0.2.1".into(), ..Config::default() };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not from a proxy: the header is ignored (anyone can send it).
        assert_eq!(c.client_ip(ip("203.0.113.9"), Some("1.2.3.4")), ip("203.0.113.9"));
        // Through two trusted hops: the first untrusted one from the right.
        assert_eq!(c.client_ip(ip("10.1.1.1"), Some("1.2.3.4, 198.51.100.7, 192.0.2.1")), ip("198.51.100.7"));
        assert_eq!(c.client_ip(ip("10.1.1.1"), None), ip("10.1.1.1"));
        assert_eq!(throttle_key(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        let bad = Config::load(&Flags::default(), env(&[("IDP_TRUSTED_PROXIES", "10.0.0.0/40")])).unwrap_err();
        assert!(bad.to_string().contains("IDP_TRUSTED_PROXIES"), "{bad}");
    }

    #[test]
    fn layers_apply_in_order_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("idp.toml");
        std::fs::write(&file, "issuer = \"https://id.example.gov.vn\"\ncode_ttl = 30\n").unwrap();
        let flags = Flags { config_file: Some(file.clone()), ..Flags::default() };
        let c = Config::load(&flags, env(&[("IDP_CODE_TTL", "45"), ("IDP_ADMIN_TOKEN", "x")])).unwrap();
        assert_eq!(c.issuer, "https://id.example.gov.vn");
        assert_eq!(c.code_ttl, 45);
        let flags = Flags { issuer: Some("http://127.0.0.1:9000/".into()), ..flags };
        assert_eq!(Config::load(&flags, env(&[])).unwrap().issuer, "http://127.0.0.1:9000");

        let err = Config::load(&Flags::default(), env(&[("IDP_ISSUR", "x")])).unwrap_err();
        assert!(err.to_string().contains("IDP_ISSUR"), "{err}");
        std::fs::write(&file, "isuer = \"x\"\n").unwrap();
        let flags = Flags { config_file: Some(file), ..Flags::default() };
        assert!(Config::load(&flags, env(&[])).unwrap_err().to_string().contains("isuer"));
        let err = Config::load(&Flags::default(), env(&[("IDP_ISSUER", "http://id.example.gov.vn")])).unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
        let err = Config::load(&Flags::default(), env(&[("IDP_CODE_TTL", "soon")])).unwrap_err();
        assert!(err.to_string().contains("code_ttl"), "{err}");
    }

    #[test]
    fn key_settings_are_validated() {
        let c = Config::load(&Flags::default(), env(&[])).unwrap();
        assert_eq!((c.rsa_key_bits, c.key_reload_interval), (2048, 10));
        let c = Config::load(&Flags::default(), env(&[("IDP_RSA_KEY_BITS", "3072"), ("IDP_KEY_RELOAD_INTERVAL", "1")]))
            .unwrap();
        assert_eq!((c.rsa_key_bits, c.key_reload_interval), (3072, 1));
        let err = Config::load(&Flags::default(), env(&[("IDP_RSA_KEY_BITS", "1024")])).unwrap_err();
        assert!(err.to_string().contains("IDP_RSA_KEY_BITS"), "{err}");
        let err = Config::load(&Flags::default(), env(&[("IDP_KEY_RELOAD_INTERVAL", "0")])).unwrap_err();
        assert!(err.to_string().contains("IDP_KEY_RELOAD_INTERVAL"), "{err}");
        let c = Config::load(&Flags::default(), env(&[("IDP_MASTER_KEY_PREVIOUS", "abc")])).unwrap();
        assert_eq!(c.master_key_previous.as_deref(), Some("abc"));
    }

    #[test]
    fn webauthn_settings_default_to_the_issuer_and_are_checked() {
        let load = |pairs: &[(&str, &str)]| Config::load(&Flags::default(), env(pairs));
        let (rp, origins) = load(&[]).unwrap().webauthn().unwrap().unwrap();
        assert_eq!((rp.as_str(), origins[0].as_str()), ("localhost", "http://localhost:8080/"));
        // An IP-address issuer (the test harness): passkeys off, not an error.
        assert_eq!(load(&[("IDP_ISSUER", "http://127.0.0.1:9000")]).unwrap().webauthn().unwrap(), None);
        let c = load(&[
            ("IDP_ISSUER", "https://id.dichvucong.gov.vn"),
            ("IDP_WEBAUTHN_RP_ID", "dichvucong.gov.vn"),
            ("IDP_WEBAUTHN_ORIGINS", "https://id.dichvucong.gov.vn, https://login.dichvucong.gov.vn"),
        ])
        .unwrap();
        let (rp, origins) = c.webauthn().unwrap().unwrap();
        assert_eq!((rp.as_str(), origins.len()), ("dichvucong.gov.vn", 2));
        for (pairs, named) in [
            (&[("IDP_WEBAUTHN_RP_ID", "127.0.0.1")][..], "IDP_WEBAUTHN_RP_ID"),
            (&[("IDP_WEBAUTHN_RP_ID", "example.gov.vn")][..], "RP ID"),
            (&[("IDP_WEBAUTHN_ORIGINS", "http://evil.localhost")][..], "IDP_WEBAUTHN_ORIGINS"),
            (&[("IDP_WEBAUTHN_ORIGINS", "https://localhost/login")][..], "IDP_WEBAUTHN_ORIGINS"),
        ] {
            let err = load(pairs).unwrap_err().to_string();
            assert!(err.contains(named), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let err = Config::load(&Flags::default(), env(&[("IDP_SESSION_TTL", "abc")])).unwrap_err().to_string();
        assert!(err.contains("IDP_SESSION_TTL") && err.contains("whole number, e.g. 43200"), "{err}");
        let err = Config::load(&Flags::default(), env(&[("IDP_SHUTDOWN_GRACE", "-1")])).unwrap_err().to_string();
        assert!(err.contains("IDP_SHUTDOWN_GRACE") && err.contains("e.g. 20"), "{err}");
        let err = Config::load(&Flags::default(), env(&[("IDP_SHUTDOWN_GRACE", "7200")])).unwrap_err().to_string();
        assert!(err.contains("IDP_SHUTDOWN_GRACE must be at most 3600"), "{err}");
        let err = Config::load(&Flags::default(), env(&[("IDP_OUTBOUND_ALLOW_PRIVATE", "yes")])).unwrap_err();
        assert!(err.to_string().contains("`true` or `false`"), "{err}");
        // A text setting that looks like a number stays text.
        let c =
            Config::load(&Flags::default(), env(&[("IDP_REDIS_PREFIX", "2024"), ("IDP_SHUTDOWN_GRACE", "5")])).unwrap();
        assert_eq!((c.redis_prefix.as_str(), c.shutdown_grace), ("2024", 5));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("idp.toml");
        std::fs::write(&file, "session_ttl = \"12h\"\n").unwrap();
        let flags = Flags { config_file: Some(file.clone()), ..Flags::default() };
        let err = Config::load(&flags, env(&[])).unwrap_err().to_string();
        assert!(err.contains("session_ttl (IDP_SESSION_TTL) must be a whole number"), "{err}");
        std::fs::write(&file, "shutdown_grace_seconds = 5\n").unwrap();
        let err = Config::load(&flags, env(&[])).unwrap_err().to_string();
        assert!(err.contains("unknown setting `shutdown_grace_seconds`") && err.contains("shutdown_grace,"), "{err}");
        std::fs::write(&file, "master_key = 123456\n").unwrap();
        let err = Config::load(&flags, env(&[])).unwrap_err().to_string();
        assert!(err.contains("IDP_MASTER_KEY") && !err.contains("123456"), "{err}");
    }

    #[test]
    fn redacted_settings_hide_secrets() {
        let c = Config::load(
            &Flags::default(),
            env(&[
                ("IDP_MASTER_KEY", "c2VjcmV0LWtleQ=="),
                ("IDP_DATABASE_URL", "postgres://motcua:db-s3cret@db:5432/motcua?sslmode=require"),
                ("IDP_REDIS_URL", "redis://:redis-s3cret@redis:6379/0"),
            ]),
        )
        .unwrap();
        let text = c.redacted_toml();
        for secret in ["c2VjcmV0LWtleQ==", "db-s3cret", "redis-s3cret"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        assert!(text.contains("postgres://motcua:***@db:5432/motcua?sslmode=require"), "{text}");
        assert!(text.contains("master_key = \"<redacted>\""), "{text}");
        assert_eq!(
            mask_password("postgres://u@db/x?password=p&sslmode=disable"),
            "postgres://u@db/x?password=***&sslmode=disable"
        );
    }

    #[test]
    fn redis_settings_are_validated() {
        let c = Config::load(&Flags::default(), env(&[])).unwrap();
        assert_eq!((c.redis_url.as_deref(), c.session_store.as_str()), (None, "database"));
        let c = Config::load(
            &Flags::default(),
            env(&[("IDP_REDIS_URL", "redis://:pw@10.0.0.5:6379/2"), ("IDP_SESSION_STORE", "cache")]),
        )
        .unwrap();
        assert_eq!((c.redis_url.as_deref(), c.session_store.as_str()), (Some("redis://:pw@10.0.0.5:6379/2"), "cache"));
        let tls = Config::load(&Flags::default(), env(&[("IDP_REDIS_URL", "rediss://:pw@redis.internal:6380/0")]));
        assert_eq!(tls.unwrap().redis_url.as_deref(), Some("rediss://:pw@redis.internal:6380/0"));
        for bad in ["10.0.0.5:6379", "http://:s3cret@redis", "redis://", "rediss://:s3cret@redis/#insecure"] {
            let err = Config::load(&Flags::default(), env(&[("IDP_REDIS_URL", bad)])).unwrap_err().to_string();
            assert!(err.contains("IDP_REDIS_URL") && err.contains("redis://") && !err.contains("s3cret"), "{err}");
        }
        let err = Config::load(&Flags::default(), env(&[("IDP_SESSION_STORE", "cache")])).unwrap_err().to_string();
        assert!(err.contains("IDP_SESSION_STORE") && err.contains("IDP_REDIS_URL"), "{err}");
        let err = Config::load(&Flags::default(), env(&[("IDP_SESSION_STORE", "redis")])).unwrap_err().to_string();
        assert!(err.contains("`database` or `cache`"), "{err}");
        assert_eq!(Config::load(&Flags::default(), env(&[])).unwrap().redis_prefix, "motcua:");
        let err = Config::load(&Flags::default(), env(&[("IDP_REDIS_PREFIX", "a b")])).unwrap_err().to_string();
        assert!(err.contains("IDP_REDIS_PREFIX"), "{err}");
    }
}
