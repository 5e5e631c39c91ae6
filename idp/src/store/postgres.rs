//! PostgreSQL engine. The SQL lives in `engine`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use super::engine::{self, EmbeddedMigration, db_err};
use super::{StoreError, StoreResult};

/// Migrations embedded in the binary, in `migrations/postgres/` order.
pub(super) const MIGRATIONS: &[EmbeddedMigration] = &[
    (1, "core", include_str!("../../../migrations/postgres/0001_core.sql")),
    (2, "key_lifecycle", include_str!("../../../migrations/postgres/0002_key_lifecycle.sql")),
    (3, "admin_audit", include_str!("../../../migrations/postgres/0003_admin_audit.sql")),
    (4, "national_id_verified", include_str!("../../../migrations/postgres/0004_national_id_verified.sql")),
    (5, "grant_signing_kids", include_str!("../../../migrations/postgres/0005_grant_signing_kids.sql")),
    (6, "passkeys", include_str!("../../../migrations/postgres/0006_passkeys.sql")),
    (7, "logout", include_str!("../../../migrations/postgres/0007_logout.sql")),
    (8, "session_device", include_str!("../../../migrations/postgres/0008_session_device.sql")),
    (9, "businesses", include_str!("../../../migrations/postgres/0009_businesses.sql")),
    (10, "access_token_alg", include_str!("../../../migrations/postgres/0010_access_token_alg.sql")),
    (11, "require_par", include_str!("../../../migrations/postgres/0011_require_par.sql")),
    (12, "dpop", include_str!("../../../migrations/postgres/0012_dpop.sql")),
    (13, "one_key_per_state", include_str!("../../../migrations/postgres/0013_one_key_per_state.sql")),
    (14, "refresh_rotation", include_str!("../../../migrations/postgres/0014_refresh_rotation.sql")),
];

/// Longest wait for a pooled connection before a request gives up with a 503.
/// Below the 10–30 s timeouts of clients and proxies, above any healthy queue
/// for a connection (a query here takes milliseconds).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections above zero are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Every connection is replaced after this long.
const MAX_LIFETIME: Duration = Duration::from_secs(1800);

/// The store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Writes go through the same pool (PostgreSQL runs writers side by side).
    writer: PgPool,
    live: std::sync::Arc<super::live::LiveCache>,
}

impl PgStore {
    /// Connect and apply pending migrations (sqlx takes an advisory lock, so
    /// several nodes starting together migrate once).
    ///
    /// The pool is what makes an outage survivable without a restart:
    /// - `acquire_timeout` bounds how long a request waits for a connection
    ///   ([`ACQUIRE_TIMEOUT`]): while PostgreSQL restarts, sqlx retries a
    ///   refused connection with backoff until then, and the request fails
    ///   with a 503 instead of hanging into the proxy's or the client's timeout;
    /// - `test_before_acquire` (a ping) drops connections the server ended
    ///   (restart, `pg_terminate_backend`, a failover) before a request sees
    ///   them, and the next acquire opens a fresh one, so service resumes by
    ///   itself as soon as the server accepts connections again;
    /// - idle connections are closed after [`IDLE_TIMEOUT`] and every
    ///   connection is recycled after [`MAX_LIFETIME`], so a node does not keep
    ///   `max_connections` sessions open on a quiet server, and a connection
    ///   pinned to an old primary behind a proxy does not live for ever.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .idle_timeout(Some(IDLE_TIMEOUT))
            .max_lifetime(Some(MAX_LIFETIME))
            .connect(url)
            .await
            .map_err(db_err)?;
        engine::migrate(MIGRATIONS, &pool, "postgres").await?;
        Ok(Self { writer: pool.clone(), pool, live: std::sync::Arc::default() })
    }
}

/// Create an empty database `motcua_t_<random hex>` on the server of
/// `base_url` and return `base_url` pointing at it.
///
/// For the store suite: each test gets its own database. Nothing drops them;
/// they are cheap and the server is a test one. (The end-to-end harness makes
/// and drops its own through `psql`.)
pub async fn fresh_test_database(base_url: &str) -> StoreResult<String> {
    let name = format!("motcua_t_{}", crate::crypto::hex(&crate::crypto::random_bytes(8)));
    let mut url = url::Url::parse(base_url).map_err(|e| StoreError::Backend(format!("bad PostgreSQL URL: {e}")))?;
    let mut conn = PgConnectOptions::from_str(base_url).map_err(db_err)?.connect().await.map_err(db_err)?;
    // The name is our own hex, not input: safe to splice (identifiers cannot be bound).
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.map_err(db_err)?;
    conn.close().await.map_err(db_err)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

impl PgStore {
    /// Other nodes tell this one through Redis (the read cache is off without it).
    #[allow(clippy::unused_async)]
    async fn engine_changed_elsewhere(&self) -> StoreResult<bool> {
        Ok(false)
    }
}

engine::impl_store! {
    store: PgStore,
    db: sqlx::Postgres,
    engine: "postgres",
    begin: "BEGIN",
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use sqlx::Connection as _;

    use super::*;
    use crate::store::Store;

    /// Driver errors that mean "the database is out of reach" become
    /// `Unavailable` (answered 503); a wrong statement stays `Backend` (500).
    #[test]
    fn unreachable_databases_are_told_apart() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed, sqlx::Error::Io(refused)] {
            assert!(matches!(db_err(e), StoreError::Unavailable(_)));
        }
        assert!(matches!(db_err(sqlx::Error::RowNotFound), StoreError::Backend(_)));
        assert!(matches!(db_err(sqlx::Error::Protocol("bad".into())), StoreError::Backend(_)));
    }

    async fn admin_sql(base: &str, sql: String) {
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }

    /// The pool survives its database going away and coming back without a
    /// restart: while connections are refused and the open ones ended, calls
    /// fail fast as `Unavailable`; once allowed again, the next call works
    /// (the dead pooled connections are pinged and replaced).
    #[tokio::test]
    async fn the_pool_reports_an_outage_and_recovers_by_itself() {
        let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("skipping: TEST_DATABASE_URL not set");
            return;
        };
        let url = fresh_test_database(&base).await.unwrap();
        let name = url::Url::parse(&url).unwrap().path().trim_start_matches('/').to_owned();
        let store = PgStore::connect(&url, 4).await.unwrap();
        store.ping().await.unwrap();

        admin_sql(&base, format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")).await;
        admin_sql(&base, format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            .await;
        let started = std::time::Instant::now();
        match store.ping().await {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("expected Unavailable during the outage, got {other:?}"),
        }
        assert!(started.elapsed() < ACQUIRE_TIMEOUT, "the outage was not reported fast: {:?}", started.elapsed());

        admin_sql(&base, format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")).await;
        store.ping().await.unwrap();
        drop(store);
        admin_sql(&base, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
}
