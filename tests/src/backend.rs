//! Which store and cache the `idp` processes of a run use, chosen once by `E2E_BACKEND`: the
//! embedded default (a SQLite file in each test's directory, the in-process cache) or
//! `production` (a fresh PostgreSQL database per `Idp` and a shared Redis under a key prefix of
//! its own). The harness needs no database driver: PostgreSQL is reached through `psql`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use url::Url;

/// Which store and cache every `Idp` of a run uses, from the `E2E_BACKEND` environment variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `E2E_BACKEND` unset (or `embedded`): a SQLite file in each test's directory and the
    /// in-process cache, as a laptop runs it. Needs no service.
    Embedded,
    /// `E2E_BACKEND=production`: the production shape. Each `Idp` gets a fresh database
    /// `e2e_<random>` on the PostgreSQL server of `TEST_DATABASE_URL` (created and dropped through
    /// `psql`), and Redis at `TEST_REDIS_URL` under a key prefix of its own. Missing settings or
    /// a missing `psql` fail every test: this mode never skips.
    Production {
        /// `TEST_DATABASE_URL`: a database on the server where test databases may be created.
        database_url: String,
        /// `TEST_REDIS_URL`.
        redis_url: String,
    },
}

impl Backend {
    fn from_env() -> Self {
        let mode = std::env::var("E2E_BACKEND").unwrap_or_default();
        match mode.trim() {
            "" | "embedded" => Self::Embedded,
            "production" => {
                let required = |name: &str, example: &str| match std::env::var(name) {
                    Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
                    _ => panic!("E2E_BACKEND=production needs {name} (e.g. {name}={example}); this mode never skips"),
                };
                let database_url = required("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres");
                let redis_url = required("TEST_REDIS_URL", "redis://127.0.0.1:6379");
                let probe = psql(&database_url, "SELECT 1");
                assert!(
                    probe.status.success(),
                    "E2E_BACKEND=production: `psql` cannot run SQL on TEST_DATABASE_URL ({}): {}",
                    probe.status,
                    String::from_utf8_lossy(&probe.stderr)
                );
                Self::Production { database_url, redis_url }
            }
            other => panic!("E2E_BACKEND={other:?}: use `production`, or leave it unset for the embedded default"),
        }
    }

    /// Whether this is the PostgreSQL + Redis run.
    pub fn is_production(&self) -> bool {
        matches!(self, Self::Production { .. })
    }
}

/// The backend of this run (read once; a misconfigured production run fails every test).
pub fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(Backend::from_env)
}

/// An `Idp`'s database.
pub(crate) enum Database {
    /// `idp.db` in the test's directory.
    Sqlite(PathBuf),
    /// A database of its own on the test PostgreSQL server, dropped with the `Idp`.
    Postgres {
        /// Its name, `e2e_<pid>_<random hex>`.
        name: String,
        /// `TEST_DATABASE_URL` pointed at it.
        url: String,
    },
}

impl Database {
    /// A SQLite file in `dir`, or a fresh PostgreSQL database in production mode.
    pub(crate) fn create(dir: &Path) -> Self {
        let Backend::Production { database_url, .. } = backend() else {
            return Self::Sqlite(dir.join("idp.db"));
        };
        use std::hash::{BuildHasher, Hasher};
        // A random name without a random-number crate: std's per-process random hash keys.
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let name = format!("e2e_{}_{random:016x}", std::process::id());
        // The name is ours (digits, hex, underscores): safe to splice into SQL.
        let out = psql(database_url, &format!("CREATE DATABASE {name}"));
        assert!(out.status.success(), "CREATE DATABASE {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut url = Url::parse(database_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Self::Postgres { name, url: url.to_string() }
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let (Self::Postgres { name, .. }, Backend::Production { database_url, .. }) = (&*self, backend()) {
            // Best effort, and never a panic while a failed test unwinds: FORCE ends the sessions
            // of any node still connected (PostgreSQL 13+).
            let _ = psql_command(database_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).output();
        }
    }
}

/// Runs one SQL statement (or several, `;`-separated) through `psql` on the database at `url`,
/// stopping at the first error; stdout is unaligned, tuples only. `PGCONNECT_TIMEOUT` bounds
/// the wait for an unreachable server.
pub fn psql(url: &str, sql: &str) -> Output {
    psql_command(url, sql).output().unwrap_or_else(|e| panic!("cannot run psql (install postgresql-client): {e}"))
}

fn psql_command(url: &str, sql: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null());
    cmd
}
