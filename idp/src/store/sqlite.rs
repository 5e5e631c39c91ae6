//! SQLite engine: one file, WAL, `synchronous=FULL`. The SQL lives in `engine`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::engine::{self, EmbeddedMigration, db_err};
use super::{StoreError, StoreResult};

/// Migrations embedded in the binary, in `migrations/sqlite/` order.
pub(super) const MIGRATIONS: &[EmbeddedMigration] = &[
    (1, "core", include_str!("../../../migrations/sqlite/0001_core.sql")),
    (2, "key_lifecycle", include_str!("../../../migrations/sqlite/0002_key_lifecycle.sql")),
    (3, "admin_audit", include_str!("../../../migrations/sqlite/0003_admin_audit.sql")),
    (4, "national_id_verified", include_str!("../../../migrations/sqlite/0004_national_id_verified.sql")),
    (5, "grant_signing_kids", include_str!("../../../migrations/sqlite/0005_grant_signing_kids.sql")),
];

/// The store on a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Open (creating the file and its directory if missing) and migrate.
    ///
    /// `sqlite::memory:` (or `mode=memory`) gives a private in-memory database
    /// on a single kept-alive connection, for tests.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(db_err)?
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if in_memory {
            // Each connection would otherwise see its own empty database.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(db_err)?;
            return Self::migrated(pool).await;
        }
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir).await?;
        }
        options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An acknowledged write must survive power loss, not only a crash
            // of the process: WAL with NORMAL may lose the last commits.
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> StoreResult<Self> {
        engine::migrator(MIGRATIONS)
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("sqlite migrations: {e}")))?;
        Ok(Self { pool })
    }
}

async fn create_dir(dir: &Path) -> StoreResult<()> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| StoreError::Backend(format!("cannot create database directory {}: {e}", dir.display())))
}

engine::impl_store! {
    store: SqliteStore,
    db: sqlx::Sqlite,
    engine: "sqlite",
    // Take the write lock at BEGIN so concurrent writers queue on the busy
    // timeout instead of failing when a read snapshot tries to upgrade.
    begin: "BEGIN IMMEDIATE",
}
