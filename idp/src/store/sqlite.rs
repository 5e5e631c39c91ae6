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
    (6, "passkeys", include_str!("../../../migrations/sqlite/0006_passkeys.sql")),
    (7, "logout", include_str!("../../../migrations/sqlite/0007_logout.sql")),
    (8, "session_device", include_str!("../../../migrations/sqlite/0008_session_device.sql")),
    (9, "businesses", include_str!("../../../migrations/sqlite/0009_businesses.sql")),
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
            // WAL: readers never wait for the writer.
            .journal_mode(SqliteJournalMode::Wal)
            // Durability of an acknowledged write (a rotated refresh token, a
            // new signing key, an audit event). In WAL mode a commit is in the
            // WAL file once it returns, so it survives a crash of the process
            // (`kill -9`) with NORMAL or FULL alike; NORMAL syncs the WAL only
            // at checkpoints, so a power loss or kernel crash may roll back the
            // last commits, while FULL fsyncs the WAL on every commit and
            // survives both. The embedded store is often the only copy (one
            // node, no replica): a lost key rotation would leave tokens signed
            // by a key that no longer exists, and a lost refresh rotation
            // brings a used token back. So FULL, at one fsync per commit
            // (README "Testing": checked by `store::sqlite::tests` and the
            // end-to-end crash tests).
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::SqliteStore;

    /// Every pooled connection of a file database runs WAL with
    /// `synchronous=FULL` (2): acknowledged writes survive a process crash and
    /// a power loss (see `connect`). `synchronous` is per connection, so all
    /// connections the pool holds are asked.
    #[tokio::test]
    async fn file_databases_run_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("durable.db").display());
        let store = SqliteStore::connect(&url, 3).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool.acquire().await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
            assert_eq!((mode.as_str(), sync), ("wal", 2), "journal_mode and synchronous (2 = FULL)");
            held.push(conn);
        }
    }
}
