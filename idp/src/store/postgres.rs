//! PostgreSQL engine. The SQL lives in `engine`.

use std::str::FromStr;

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
];

/// The store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connect and apply pending migrations (sqlx takes an advisory lock, so
    /// several nodes starting together migrate once).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new().max_connections(max_connections.max(1)).connect(url).await.map_err(db_err)?;
        engine::migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("postgres migrations: {e}")))?;
        Ok(Self { pool })
    }
}

/// Create an empty database `motcua_t_<random hex>` on the server of
/// `base_url` and return `base_url` pointing at it.
///
/// For tests (the store suite and the end-to-end harness): each test gets its
/// own database. Nothing drops them; they are cheap and the server is a test one.
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

engine::impl_store! {
    store: PgStore,
    db: sqlx::Postgres,
    engine: "postgres",
    begin: "BEGIN",
}
