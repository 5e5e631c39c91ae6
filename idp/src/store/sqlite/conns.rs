//! The SQLite store's one write connection, held outside sqlx's pool.
//!
//! sqlx 0.9 pings a pooled connection every time it goes back to the pool
//! (`PoolConnection::return_to_pool`; no option turns it off). On SQLite the
//! ping is one more round trip to the connection's worker thread after every
//! write, and the next writer waits for it. A single SQLite writer needs no
//! pool: one connection behind an async mutex queues writers just as fairly.
//! Without it an SSO login makes 26 context switches instead of 29, a
//! password login 161–165 instead of 184–190 (`bench/sequential.mjs`); the CPU saved
//! is small beside the rest of a login (README "Benchmarks").
//!
//! [`Writer`] implements sqlx's `Executor`, and [`Writer::begin_with`] opens a
//! transaction that derefs to the connection, so the SQL shared with
//! PostgreSQL in `engine` runs on it unchanged (`.execute(&self.writer)`,
//! `self.writer.begin_with(..)`, `&mut *tx`, `tx.commit()`). Written by hand
//! because sqlx offers no shared connection outside a pool; it implements
//! only the executor methods sqlx cannot default.
//!
//! Transactions go through sqlx's own `SqliteTransactionManager`, as a
//! `sqlx::Transaction` would: its worker thread rolls back a BEGIN whose
//! caller went away and ignores the rollback of a COMMIT that ran unheard,
//! and a transaction dropped before it ended (a cancelled request) queues its
//! ROLLBACK on the connection before the guard is released, so no later
//! write can join it.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt as _};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqliteQueryResult, SqliteRow, SqliteStatement,
    SqliteTransactionManager, SqliteTypeInfo,
};
use sqlx::{Connection as _, Either, Execute, Executor, SqlSafeStr as _, SqlStr, Sqlite, Transaction};
use sqlx_core::transaction::TransactionManager as _;
use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

/// How long a write waits for the connection before it fails, as the pool's
/// `acquire_timeout` did: a stalled disk shows as errors, not a hang.
const WAIT: Duration = Duration::from_secs(30);

/// Where writes go: the file database's own connection, or, for an in-memory
/// database, the one pooled connection the reads use too (each connection
/// would otherwise see its own empty database).
#[derive(Debug, Clone)]
pub(crate) enum Writer {
    Own(Arc<Own>),
    Shared(SqlitePool),
}

#[derive(Debug)]
pub(crate) struct Own {
    /// `None` after a statement found the connection's worker thread
    /// stopped; the next use opens a new one, as the pool would have.
    conn: Arc<Mutex<Option<SqliteConnection>>>,
    options: SqliteConnectOptions,
    /// The store's last `PRAGMA data_version`, set to -1 (matches nothing)
    /// when the connection is replaced: a new connection counts afresh.
    data_version: Arc<AtomicI64>,
}

impl Writer {
    pub(crate) fn own(raw: SqliteConnection, options: SqliteConnectOptions, data_version: Arc<AtomicI64>) -> Self {
        Self::Own(Arc::new(Own { conn: Arc::new(Mutex::new(Some(raw))), options, data_version }))
    }

    /// Open a write transaction with `begin` (`BEGIN IMMEDIATE`).
    pub(crate) async fn begin_with(&self, begin: &'static str) -> Result<WriterTx, sqlx::Error> {
        match self {
            Self::Own(own) => {
                let mut slot = own.wait(own.conn.clone().lock_owned()).await?;
                let mut begun =
                    SqliteTransactionManager::begin(own.ready(&mut slot).await?, Some(begin.into_sql_str())).await;
                // sqlx counts a transaction as open until its COMMIT or
                // ROLLBACK succeeds; one SQLite ended by itself (a full disk,
                // an I/O error) leaves that count stuck, and every BEGIN after
                // it would fail. Nothing here nests transactions, so start
                // afresh on a new connection.
                if matches!(begun, Err(sqlx::Error::InvalidSavePointStatement)) {
                    tracing::warn!("the SQLite write connection lost track of a transaction; opening a new one");
                    *slot = None;
                    begun =
                        SqliteTransactionManager::begin(own.ready(&mut slot).await?, Some(begin.into_sql_str())).await;
                }
                stopped(&mut slot, begun)?;
                Ok(WriterTx::Own(OwnTx(Some(slot))))
            }
            Self::Shared(pool) => Ok(WriterTx::Shared(pool.begin_with(begin).await?)),
        }
    }
}

impl Own {
    async fn wait<G>(&self, lock: impl Future<Output = G>) -> Result<G, sqlx::Error> {
        tokio::time::timeout(WAIT, lock).await.map_err(|_| sqlx::Error::PoolTimedOut)
    }

    async fn lock(&self) -> Result<MutexGuard<'_, Option<SqliteConnection>>, sqlx::Error> {
        self.wait(self.conn.lock()).await
    }

    /// The connection, opened again if its worker thread had stopped.
    async fn ready<'s>(&self, slot: &'s mut Option<SqliteConnection>) -> Result<&'s mut SqliteConnection, sqlx::Error> {
        if slot.is_none() {
            tracing::warn!("the SQLite write connection stopped; opening a new one");
            *slot = Some(SqliteConnection::connect_with(&self.options).await?);
            self.data_version.store(-1, Ordering::Release);
        }
        slot.as_mut().ok_or(sqlx::Error::WorkerCrashed)
    }

    /// Run `op` on the connection, in turn with every other use.
    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut slot = self.lock().await?;
        let result = op(self.ready(&mut slot).await?).await;
        stopped(&mut slot, result)
    }
}

/// Pass `result` on, dropping the connection if its worker thread stopped.
fn stopped<T>(slot: &mut Option<SqliteConnection>, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
    if matches!(result, Err(sqlx::Error::WorkerCrashed)) {
        *slot = None;
    }
    result
}

/// A write transaction on a [`Writer`].
#[derive(Debug)]
pub(crate) enum WriterTx {
    Own(OwnTx),
    Shared(Transaction<'static, Sqlite>),
}

/// The connection for the length of a transaction; `None` once it ended.
#[derive(Debug)]
pub(crate) struct OwnTx(Option<OwnedMutexGuard<Option<SqliteConnection>>>);

impl WriterTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Own(mut tx) => tx.end(true).await,
            Self::Shared(tx) => tx.commit().await,
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Own(mut tx) => tx.end(false).await,
            Self::Shared(tx) => tx.rollback().await,
        }
    }
}

impl OwnTx {
    /// The guard stays in `self` until the statement succeeded: on an error
    /// or a cancellation, `drop` queues the rollback.
    async fn end(&mut self, commit: bool) -> Result<(), sqlx::Error> {
        if let Some(slot) = self.0.as_mut()
            && let Some(conn) = slot.as_mut()
        {
            let ended = if commit {
                SqliteTransactionManager::commit(conn).await
            } else {
                SqliteTransactionManager::rollback(conn).await
            };
            stopped(slot, ended)?;
        }
        self.0 = None;
        Ok(())
    }
}

impl Drop for OwnTx {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut().and_then(|slot| slot.as_mut()) {
            SqliteTransactionManager::start_rollback(conn);
        }
    }
}

impl Deref for WriterTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            Self::Own(OwnTx(Some(slot))) => slot.as_ref().unwrap_or_else(|| unreachable!("begun on a connection")),
            Self::Own(OwnTx(None)) => unreachable!("an ended transaction is consumed"),
            Self::Shared(tx) => tx,
        }
    }
}

impl DerefMut for WriterTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Own(OwnTx(Some(slot))) => slot.as_mut().unwrap_or_else(|| unreachable!("begun on a connection")),
            Self::Own(OwnTx(None)) => unreachable!("an ended transaction is consumed"),
            Self::Shared(tx) => tx,
        }
    }
}

impl<'c> Executor<'c> for &'c Writer {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        match self {
            // The rows are collected while the lock is held: a stream that
            // kept the guard would hold the writer for as long as its reader
            // dawdles. The store's writes return a handful of rows at most.
            Writer::Own(own) => Box::pin(
                stream::once(async move {
                    let items = own.run(async |conn| {
                        let items: Vec<_> = conn.fetch_many(query).collect().await;
                        // A stopped worker thread shows as the stream's last item.
                        match items.last() {
                            Some(Err(sqlx::Error::WorkerCrashed)) => Err(sqlx::Error::WorkerCrashed),
                            _ => Ok(items),
                        }
                    });
                    items.await.unwrap_or_else(|e| vec![Err(e)])
                })
                .flat_map(stream::iter),
            ),
            Writer::Shared(pool) => pool.fetch_many(query),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        Box::pin(async move {
            match self {
                Writer::Own(own) => own.run(async |conn| conn.fetch_optional(query).await).await,
                Writer::Shared(pool) => pool.fetch_optional(query).await,
            }
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            match self {
                Writer::Own(own) => own.run(async |conn| conn.prepare_with(sql, parameters).await).await,
                Writer::Shared(pool) => pool.prepare_with(sql, parameters).await,
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use sqlx::Connection as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};

    use super::Writer;

    fn options(dir: &tempfile::TempDir, busy: Duration) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(dir.path().join("w.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(busy)
    }

    async fn open(dir: &tempfile::TempDir, busy: Duration) -> SqliteConnection {
        SqliteConnection::connect_with(&options(dir, busy)).await.unwrap()
    }

    /// A writer on a new file with one table `t (x INTEGER)`.
    async fn writer_on_table() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let busy = Duration::from_secs(5);
        let writer = Writer::own(open(&dir, busy).await, options(&dir, busy), Arc::default());
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&writer).await.unwrap();
        (dir, writer)
    }

    async fn rows(writer: &Writer) -> Vec<i64> {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x").fetch_all(writer).await.unwrap()
    }

    /// A request cancelled in the middle of a write transaction leaves
    /// nothing behind: its rows are gone, the next write runs, and the file's
    /// write lock is free for another process at once.
    #[tokio::test]
    async fn a_cancelled_transaction_is_rolled_back_and_frees_the_write_lock() {
        let (dir, writer) = writer_on_table().await;

        let cancelled = tokio::time::timeout(Duration::from_millis(50), async {
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *tx).await.unwrap();
            std::future::pending::<()>().await;
        })
        .await;
        assert!(cancelled.is_err(), "the transaction was cut off mid-way");

        // Another process gets the write lock without this writer being used
        // again (a lock that stayed held would time this out).
        let mut other = open(&dir, Duration::from_secs(2)).await;
        sqlx::raw_sql("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT").execute(&mut other).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (3)").execute(&writer).await.unwrap();
        assert_eq!(rows(&writer).await, vec![2, 3]);
    }

    /// Committed and rolled-back transactions end as asked; a connection
    /// that lost track of a transaction, or whose worker thread stopped, is
    /// replaced, and the store's `data_version` then counts the change.
    #[tokio::test]
    async fn transactions_end_as_asked_and_a_lost_connection_is_replaced() {
        let (_dir, writer) = writer_on_table().await;

        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)").execute(&mut *tx).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(rows(&writer).await, vec![1]);

        // A transaction SQLite ended by itself (as on a full disk): sqlx
        // still counts it open, its ROLLBACK fails, and the next BEGIN starts
        // on a new connection instead of failing from then on.
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::raw_sql("ROLLBACK").execute(&mut *tx).await.unwrap();
        assert!(tx.rollback().await.is_err(), "no transaction is active");
        let Writer::Own(own) = &writer else { unreachable!("a file connection") };
        assert_eq!(own.data_version.load(Ordering::Acquire), 0);
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES (3)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rows(&writer).await, vec![1, 3]);
        assert_eq!(own.data_version.load(Ordering::Acquire), -1, "a new connection counts afresh");

        own.data_version.store(0, Ordering::Release);
        *own.conn.lock().await = None; // what a failed worker thread leaves
        sqlx::query("INSERT INTO t VALUES (4)").execute(&writer).await.unwrap();
        assert_eq!(rows(&writer).await, vec![1, 3, 4]);
        assert_eq!(own.data_version.load(Ordering::Acquire), -1);
    }
}
