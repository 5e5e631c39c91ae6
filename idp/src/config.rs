//! Configuration, layered: built-in defaults → optional TOML file
//! (`--config` / `IDP_CONFIG`) → `IDP_*` environment → command-line flags.
//! Unknown keys in the file or in `IDP_*` variables are refused with the name
//! of the key, so a typo never silently falls back to a default.

use std::net::SocketAddr;
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
    /// `IDP_DATABASE_MAX_CONNECTIONS`: pool size.
    pub database_max_connections: u32,
    /// `IDP_MASTER_KEY`: base64 key-encryption key; overrides the file when set.
    pub master_key: Option<String>,
    /// `IDP_MASTER_KEY_FILE`: where the key-encryption key lives (created on first start, mode 0600).
    pub master_key_file: PathBuf,
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
    /// `IDP_LOG_FORMAT`: `text` or `json`.
    pub log_format: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: "sqlite://data/motcua.db".into(),
            database_max_connections: 10,
            master_key: None,
            master_key_file: PathBuf::from("keys/master.key"),
            access_token_ttl: 600,
            id_token_ttl: 600,
            refresh_token_ttl: 14 * 24 * 3600,
            grant_ttl: 90 * 24 * 3600,
            code_ttl: 60,
            session_ttl: 12 * 3600,
            login_ttl: 30 * 60,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            max_concurrent_hashes: 0,
            login_free_attempts: 5,
            login_ip_free_attempts: 50,
            log_format: "text".into(),
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
            table.insert(key, env_value(&value));
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
        ] {
            if v <= 0 {
                return Err(ConfigError(format!("{name} must be a positive number of seconds")));
            }
        }
        if self.code_ttl > 600 {
            return Err(ConfigError("IDP_CODE_TTL must be at most 600 seconds (RFC 6749 §4.1.2)".into()));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError("IDP_LOG_FORMAT must be `text` or `json`".into()));
        }
        Ok(())
    }

    /// Whether the issuer is plain-http loopback (development): cookies lose `Secure`.
    pub fn is_insecure_dev(&self) -> bool {
        self.issuer.starts_with("http://")
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
    for (key, value) in table {
        let single = toml::Table::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = toml::Value::Table(single).try_into::<Config>() {
            return ConfigError(format!("{key} (IDP_{}): {}", key.to_ascii_uppercase(), e.message().trim()));
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
            keys
        }
        _ => Vec::new(),
    }
}

/// Environment values are strings; numbers and booleans are recognised so
/// they deserialise into numeric fields.
fn env_value(v: &str) -> toml::Value {
    if let Ok(n) = v.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_owned()),
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
}
