//! SQLite engine: one file, WAL, `synchronous=FULL`. The SQL lives in `engine`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use conns::Conns;

use super::engine::{self, EmbeddedMigration, db_err};
use super::{StoreError, StoreResult};

mod conns;

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
    (10, "access_token_alg", include_str!("../../../migrations/sqlite/0010_access_token_alg.sql")),
    (11, "require_par", include_str!("../../../migrations/sqlite/0011_require_par.sql")),
    (12, "dpop", include_str!("../../../migrations/sqlite/0012_dpop.sql")),
    (13, "one_key_per_state", include_str!("../../../migrations/sqlite/0013_one_key_per_state.sql")),
    (14, "refresh_rotation", include_str!("../../../migrations/sqlite/0014_refresh_rotation.sql")),
];

/// The store on a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads: several connections, which WAL lets read beside the writer
    /// (see `conns`; the engine's SQL calls them `pool`).
    pool: Conns,
    /// Writes: one connection. SQLite has a single writer anyway; queueing
    /// writers on one connection is fair and wakes each at once, where several
    /// connections would contend for the lock and sleep in SQLite's busy
    /// handler (up to 100 ms a try), which made tail latencies of hundreds
    /// of milliseconds under concurrent refreshes (`bench/`). Held outside
    /// sqlx's pool (see `conns`).
    writer: Conns,
    /// `PRAGMA data_version` of the writer connection when last asked.
    data_version: std::sync::Arc<std::sync::atomic::AtomicI64>,
    live: std::sync::Arc<super::live::LiveCache>,
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
            engine::migrate(MIGRATIONS, &pool, "sqlite").await?;
            return Self::with(Conns::Shared(pool.clone()), Conns::Shared(pool), std::sync::Arc::default()).await;
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
        // One connection for the life of the store (replaced only should its
        // worker thread stop): `data_version` is compared on the same
        // connection (see `changed_elsewhere`).
        let mut writer = SqliteConnection::connect_with(&options).await.map_err(db_err)?;
        // Migrate before the readers open: they then see the final schema.
        engine::migrate(MIGRATIONS, &mut writer, "sqlite").await?;
        let readers = Conns::readers(max_connections, options.clone());
        let data_version = std::sync::Arc::default();
        let writer = Conns::writer(writer, options, std::sync::Arc::clone(&data_version));
        Self::with(readers, writer, data_version).await
    }

    async fn with(
        pool: Conns,
        writer: Conns,
        data_version: std::sync::Arc<std::sync::atomic::AtomicI64>,
    ) -> StoreResult<Self> {
        let store = Self { pool, writer, data_version, live: std::sync::Arc::default() };
        store.engine_changed_elsewhere().await?;
        Ok(store)
    }

    /// `PRAGMA data_version` on the writer connection changes only when
    /// another connection commits; this process's readers never write, so a
    /// change is another process (a second node, `sqlite3` by hand).
    async fn engine_changed_elsewhere(&self) -> StoreResult<bool> {
        use std::sync::atomic::Ordering;
        let now: i64 = sqlx::query_scalar("PRAGMA data_version").fetch_one(&self.writer).await.map_err(db_err)?;
        Ok(self.data_version.swap(now, Ordering::AcqRel) != now)
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

    /// Every connection of a file database runs WAL with `synchronous=FULL`
    /// (2): acknowledged writes survive a process crash and a power loss (see
    /// `connect`). `synchronous` is per connection, so the writer and every
    /// read connection are asked.
    #[tokio::test]
    async fn file_databases_run_wal_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("durable.db").display());
        let store = SqliteStore::connect(&url, 3).await.unwrap();
        let mut held = Vec::new();
        // A transaction holds its connection: three readers at once are three
        // connections, and the writer its own.
        for conns in [&store.pool, &store.pool, &store.pool, &store.writer] {
            let mut tx = conns.begin_with("BEGIN").await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *tx).await.unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *tx).await.unwrap();
            assert_eq!((mode.as_str(), sync), ("wal", 2), "journal_mode and synchronous (2 = FULL)");
            held.push(tx);
        }
    }

    /// A second process on the same file is noticed through `data_version`;
    /// this process's own writes are not "elsewhere".
    #[tokio::test]
    async fn writes_by_another_process_are_noticed() {
        use crate::store::{AccountStore as _, Store as _};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shared.db").display());
        let (a, b) = (SqliteStore::connect(&url, 2).await.unwrap(), SqliteStore::connect(&url, 2).await.unwrap());
        assert!(!a.changed_elsewhere().await.unwrap());
        let citizen = crate::store::tests::fixtures::citizen("acc-1", "001090000001", None);
        a.create_citizen(&citizen, None).await.unwrap();
        assert!(!a.changed_elsewhere().await.unwrap(), "its own write");
        b.set_account_status("acc-1", "disabled").await.unwrap();
        assert!(a.changed_elsewhere().await.unwrap(), "the other store's write");
        assert!(!a.changed_elsewhere().await.unwrap(), "reported once");
    }
}
