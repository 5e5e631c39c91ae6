//! The SQLite store's connections, held outside sqlx's pool: the one write
//! connection, and the read connections.
//!
//! sqlx 0.9 pings a pooled connection every time it goes back to the pool
//! (`PoolConnection::return_to_pool`; no option turns it off). On SQLite the
//! ping is one more round trip to the connection's worker thread after every
//! statement: a write waited for it before the next writer could start, and
//! every read paid for it in two more context switches. A connection to a
//! local file does not die silently, so it needs no such check. A set of
//! connections, each behind an async mutex, with one queue in front of them
//! (a semaphore with a permit per connection) serves its users first come,
//! first served, as the pool did. Taking the write connection out of the
//! pool brought an SSO login from 29 context switches to 26, a password login
//! from 184–190 to 161–165; the read connections then to 24 and 123–128
//! (`bench/sequential.mjs`; README "Benchmarks").
//!
//! [`Conns`] implements sqlx's `Executor`, and [`Conns::begin_with`] opens a
//! transaction that derefs to the connection, so the SQL shared with
//! PostgreSQL in `engine` runs on it unchanged (`.execute(&self.writer)`,
//! `.fetch_optional(&self.pool)`, `self.writer.begin_with(..)`, `&mut *tx`,
//! `tx.commit()`). Written by hand because sqlx offers no connection set
//! outside a pool; it implements only the executor methods sqlx cannot
//! default.
//!
//! Read connections open as concurrency asks for them, filling the set from
//! the front, and stay open for the life of the store, where a pool would
//! close one idle for ten minutes: after a burst, each keeps its thread and
//! its page cache (SQLite's default, up to 2 MiB) until the process ends.
//!
//! A statement cut off mid-way (its request went away) may still be running
//! on the connection's thread: the connection is free again only once a
//! ping has come round, as sqlx's pool does on release (see
//! [`release_after_ping`]).
//!
//! Transactions go through sqlx's own `SqliteTransactionManager`, as a
//! `sqlx::Transaction` would: its worker thread rolls back a BEGIN whose
//! caller went away and ignores the rollback of a COMMIT that ran unheard,
//! and a transaction dropped before it ended (a cancelled request) queues its
//! ROLLBACK on the connection before the connection is given back (after a
//! ping, as above), so no later write can join it.

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
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// How long a statement waits for a connection before it fails, as the
/// pool's `acquire_timeout` did: a stalled disk shows as errors, not a hang.
const WAIT: Duration = Duration::from_secs(30);

/// One connection of a [`Set`]: `None` for a read connection not used yet,
/// and for any connection after a statement found its worker thread stopped,
/// it lost track of a transaction, or a cut-off statement outlasted [`WAIT`];
/// the next use opens a new one, as the pool would have.
type Slot = Option<SqliteConnection>;

/// Where statements go: the file database's own connections, or, for an
/// in-memory database, the one pooled connection that reads and writes share
/// (each connection would otherwise see its own empty database).
#[derive(Debug, Clone)]
pub(crate) enum Conns {
    Own(Arc<Set>),
    Shared(SqlitePool),
}

#[derive(Debug)]
pub(crate) struct Set {
    slots: Vec<Arc<Mutex<Slot>>>,
    /// A permit per slot: the one queue for a connection.
    free: Arc<Semaphore>,
    options: SqliteConnectOptions,
    /// The writer's: the store's last `PRAGMA data_version`, set to -1
    /// (matches nothing) when the connection is replaced, since a new
    /// connection counts afresh.
    data_version: Option<Arc<AtomicI64>>,
}

impl Conns {
    /// The one write connection, `raw`, whose `PRAGMA data_version` the
    /// store keeps in `data_version`.
    pub(crate) fn writer(raw: SqliteConnection, options: SqliteConnectOptions, data_version: Arc<AtomicI64>) -> Self {
        Self::own(vec![Some(raw)], options, Some(data_version))
    }

    /// Up to `count` read connections, opened when first needed.
    pub(crate) fn readers(count: u32, options: SqliteConnectOptions) -> Self {
        Self::own((0..count.max(1)).map(|_| None).collect(), options, None)
    }

    /// A set of `slots`, with a permit for each.
    fn own(slots: Vec<Slot>, options: SqliteConnectOptions, data_version: Option<Arc<AtomicI64>>) -> Self {
        let free = Arc::new(Semaphore::new(slots.len()));
        let slots = slots.into_iter().map(|slot| Arc::new(Mutex::new(slot))).collect();
        Self::Own(Arc::new(Set { slots, free, options, data_version }))
    }

    /// Open a transaction with `begin` (`BEGIN IMMEDIATE` for a write).
    pub(crate) async fn begin_with(&self, begin: &'static str) -> Result<ConnsTx, sqlx::Error> {
        match self {
            Self::Own(set) => {
                let mut held = set.lock().await?;
                let slot: &mut Slot = &mut held.slot;
                let mut begun =
                    SqliteTransactionManager::begin(set.ready(slot).await?, Some(begin.into_sql_str())).await;
                // sqlx counts a transaction as open until its COMMIT or
                // ROLLBACK succeeds; one SQLite ended by itself (a full disk,
                // an I/O error) leaves that count stuck, and every BEGIN after
                // it would fail. Nothing here nests transactions, so start
                // afresh on a new connection.
                if matches!(begun, Err(sqlx::Error::InvalidSavePointStatement)) {
                    tracing::warn!("an SQLite connection lost track of a transaction; opening a new one");
                    *slot = None;
                    begun = SqliteTransactionManager::begin(set.ready(slot).await?, Some(begin.into_sql_str())).await;
                }
                stopped(slot, begun)?;
                Ok(ConnsTx::Own(OwnTx(Some(held))))
            }
            Self::Shared(pool) => Ok(ConnsTx::Shared(pool.begin_with(begin).await?)),
        }
    }
}

/// A connection in use: its slot's guard and the set's permit, dropped in
/// that order, so a free permit always finds a free slot.
#[derive(Debug)]
pub(crate) struct Held {
    slot: OwnedMutexGuard<Slot>,
    _permit: OwnedSemaphorePermit,
}

impl Set {
    /// A connection to use, once one is free (waited for in turn, at most
    /// [`WAIT`]): the first free one from the front, so a store that was
    /// never busy keeps few open.
    async fn lock(&self) -> Result<Held, sqlx::Error> {
        let permit = tokio::time::timeout(WAIT, Arc::clone(&self.free).acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // Every other permit holds one slot at most, so one is free.
        let slot = self
            .slots
            .iter()
            .find_map(|slot| Arc::clone(slot).try_lock_owned().ok())
            .ok_or_else(|| sqlx::Error::Protocol("a free permit found no free SQLite connection".into()))?;
        Ok(Held { slot, _permit: permit })
    }

    /// The connection, opened if the slot has none.
    async fn ready<'s>(&self, slot: &'s mut Slot) -> Result<&'s mut SqliteConnection, sqlx::Error> {
        if slot.is_none() {
            *slot = Some(SqliteConnection::connect_with(&self.options).await?);
            if let Some(version) = &self.data_version {
                version.store(-1, Ordering::Release);
            }
        }
        slot.as_mut().ok_or(sqlx::Error::WorkerCrashed)
    }

    /// Run `op` on a connection, in turn with every other use of it.
    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut busy = Busy(Some(self.lock().await?));
        let Some(held) = busy.0.as_mut() else { unreachable!("just locked") };
        let result = op(self.ready(&mut held.slot).await?).await;
        // Ran to the end: the connection goes back at once.
        let Some(mut held) = busy.0.take() else { unreachable!("just locked") };
        stopped(&mut held.slot, result)
    }
}

/// A connection while [`Set::run`] uses it. Dropped still holding it, the
/// run was cut off (its request went away) and the statement may still be
/// running on the connection's thread: see [`release_after_ping`].
struct Busy(Option<Held>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(held) = self.0.take() {
            release_after_ping(held);
        }
    }
}

/// Give back a connection whose user went away while statements it sent
/// (a cut-off statement, a queued ROLLBACK) may still be running on the
/// connection's thread, where the next user would queue behind them unseen
/// and past [`WAIT`]: the connection (slot and permit) is kept from use until
/// a ping has come round, as sqlx's pool does on release, and dropped if none
/// comes within [`WAIT`].
fn release_after_ping(mut held: Held) {
    if held.slot.is_none() {
        return;
    }
    // Dropped outside any runtime, the connection just goes back.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Some(conn) = held.slot.as_mut()
                && !matches!(tokio::time::timeout(WAIT, conn.ping()).await, Ok(Ok(())))
            {
                tracing::warn!("an SQLite statement cut off {WAIT:?} ago has not ended; a new connection replaces it");
                *held.slot = None;
            }
            // The whole of `held` is the task's, its permit too (a closure
            // would capture only the field it uses).
            drop(held);
        });
    }
}

/// Pass `result` on, dropping the connection if its worker thread stopped.
fn stopped<T>(slot: &mut Slot, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
    if matches!(result, Err(sqlx::Error::WorkerCrashed)) {
        tracing::warn!("an SQLite connection's worker thread stopped; a new connection replaces it");
        *slot = None;
    }
    result
}

/// A transaction on [`Conns`].
#[derive(Debug)]
pub(crate) enum ConnsTx {
    Own(OwnTx),
    Shared(Transaction<'static, Sqlite>),
}

/// The connection for the length of a transaction; `None` once it ended.
#[derive(Debug)]
pub(crate) struct OwnTx(Option<Held>);

impl ConnsTx {
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
        if let Some(Held { slot, .. }) = self.0.as_mut()
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
        if let Some(mut held) = self.0.take() {
            if let Some(conn) = held.slot.as_mut() {
                SqliteTransactionManager::start_rollback(conn);
            }
            release_after_ping(held);
        }
    }
}

impl Deref for ConnsTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            Self::Own(OwnTx(Some(held))) => held.slot.as_ref().unwrap_or_else(|| unreachable!("begun on a connection")),
            Self::Own(OwnTx(None)) => unreachable!("an ended transaction is consumed"),
            Self::Shared(tx) => tx,
        }
    }
}

impl DerefMut for ConnsTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Own(OwnTx(Some(held))) => held.slot.as_mut().unwrap_or_else(|| unreachable!("begun on a connection")),
            Self::Own(OwnTx(None)) => unreachable!("an ended transaction is consumed"),
            Self::Shared(tx) => tx,
        }
    }
}

impl<'c> Executor<'c> for &'c Conns {
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
            // kept the guard would hold the connection for as long as its reader
            // dawdles. The store's statements return a page of rows at most.
            Conns::Own(set) => Box::pin(
                stream::once(async move {
                    let items = set.run(async |conn| {
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
            Conns::Shared(pool) => pool.fetch_many(query),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        Box::pin(async move {
            match self {
                Conns::Own(set) => set.run(async |conn| conn.fetch_optional(query).await).await,
                Conns::Shared(pool) => pool.fetch_optional(query).await,
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
                Conns::Own(set) => set.run(async |conn| conn.prepare_with(sql, parameters).await).await,
                Conns::Shared(pool) => pool.prepare_with(sql, parameters).await,
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

    use super::Conns;

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
    async fn writer_on_table() -> (tempfile::TempDir, Conns) {
        let dir = tempfile::tempdir().unwrap();
        let busy = Duration::from_secs(5);
        let writer = Conns::writer(open(&dir, busy).await, options(&dir, busy), Arc::default());
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&writer).await.unwrap();
        (dir, writer)
    }

    async fn rows(writer: &Conns) -> Vec<i64> {
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
        let Conns::Own(set) = &writer else { unreachable!("a file connection") };
        let version = set.data_version.as_ref().unwrap();
        assert_eq!(version.load(Ordering::Acquire), 0);
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t VALUES (3)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rows(&writer).await, vec![1, 3]);
        assert_eq!(version.load(Ordering::Acquire), -1, "a new connection counts afresh");

        version.store(0, Ordering::Release);
        *set.slots[0].lock().await = None; // what a failed worker thread leaves
        sqlx::query("INSERT INTO t VALUES (4)").execute(&writer).await.unwrap();
        assert_eq!(rows(&writer).await, vec![1, 3, 4]);
        assert_eq!(version.load(Ordering::Acquire), -1);
    }

    /// Read connections open as concurrency asks for them: reads one at a
    /// time all use the first; reads at once each get their own, up to the
    /// set's size, and one more waits until any of them is free.
    #[tokio::test]
    async fn read_connections_open_as_concurrency_asks_for_them() {
        let (dir, writer) = writer_on_table().await;
        sqlx::query("INSERT INTO t VALUES (1)").execute(&writer).await.unwrap();
        let readers = Conns::readers(3, options(&dir, Duration::from_secs(5)));
        for _ in 0..3 {
            assert_eq!(rows(&readers).await, vec![1]);
        }
        assert_eq!(opened(&readers).await, 1, "one at a time: the first connection only");

        // Transactions hold their connections: three at once fill the set.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut tx = readers.begin_with("BEGIN").await.unwrap();
            let seen: Vec<i64> = sqlx::query_scalar("SELECT x FROM t").fetch_all(&mut *tx).await.unwrap();
            assert_eq!(seen, vec![1]);
            held.push(tx);
        }
        let fourth = tokio::spawn({
            let readers = readers.clone();
            async move { rows(&readers).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!fourth.is_finished(), "a fourth read waits while all three are held");
        // Whichever connection comes free, the waiting read takes it.
        held.remove(1).rollback().await.unwrap();
        let done = tokio::time::timeout(Duration::from_secs(5), fourth).await;
        assert_eq!(done.expect("the fourth read ran once a connection was free").unwrap(), vec![1]);
        drop(held);
        assert_eq!(opened(&readers).await, 3);
    }

    /// A read cut off while its statement still runs keeps its connection
    /// from use until the statement has ended: the next read goes to another
    /// connection instead of queueing unseen behind it, and the connection
    /// comes back afterwards.
    #[tokio::test]
    async fn a_cut_off_read_keeps_its_connection_until_the_statement_ended() {
        let (dir, writer) = writer_on_table().await;
        sqlx::query("INSERT INTO t VALUES (1)").execute(&writer).await.unwrap();
        let readers = Conns::readers(2, options(&dir, Duration::from_secs(5)));
        let Conns::Own(set) = &readers else { unreachable!("file connections") };
        assert_eq!(rows(&readers).await, vec![1], "the first connection is open");
        // A statement that returns nothing for a while: about 1.5 s in a
        // debug build here, well inside `WAIT` on a slower machine.
        let slow = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5000000) \
                    SELECT count(*) FROM c";
        let cut = tokio::time::timeout(Duration::from_millis(50), sqlx::query(slow).fetch_one(&readers)).await;
        assert!(cut.is_err(), "the slow read was cut off");
        assert!(set.slots[0].try_lock().is_err(), "its connection is kept while the statement runs");
        assert_eq!(set.free.available_permits(), 1, "and counted as in use");
        let quick = tokio::time::timeout(Duration::from_secs(20), rows(&readers)).await;
        assert_eq!(quick.expect("the next read ran"), vec![1]);
        assert!(set.slots[0].try_lock().is_err(), "on the other connection, while the slow statement still ran");
        let back = tokio::time::timeout(Duration::from_secs(60), set.slots[0].lock()).await;
        assert!(back.expect("the connection came back").is_some(), "kept, not replaced");
        assert_eq!(set.free.available_permits(), 2);

        // The writer, one connection: the next write waits for a cut-off
        // statement to end instead of failing.
        let cut = tokio::time::timeout(Duration::from_millis(50), sqlx::query(slow).fetch_one(&writer)).await;
        assert!(cut.is_err(), "the slow statement on the writer was cut off");
        sqlx::query("INSERT INTO t VALUES (2)").execute(&writer).await.unwrap();
        assert_eq!(rows(&readers).await, vec![1, 2]);

        // A transaction cut off mid-statement: its ROLLBACK queues behind the
        // statement, and the writer comes back once both have run.
        let cut = tokio::time::timeout(Duration::from_millis(300), async {
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("INSERT INTO t VALUES (3)").execute(&mut *tx).await.unwrap();
            sqlx::query(slow).fetch_one(&mut *tx).await
        })
        .await;
        assert!(cut.is_err(), "the transaction was cut off in its slow statement");
        let Conns::Own(own) = &writer else { unreachable!("a file connection") };
        assert_eq!(own.free.available_permits(), 0, "the writer is kept while the statement and its rollback run");
        sqlx::query("INSERT INTO t VALUES (4)").execute(&writer).await.unwrap();
        assert_eq!(rows(&readers).await, vec![1, 2, 4], "the cut-off transaction left nothing");
    }

    /// How many connections of `conns` are open.
    async fn opened(conns: &Conns) -> usize {
        let Conns::Own(set) = conns else { unreachable!("file connections") };
        let mut n = 0;
        for slot in &set.slots {
            n += usize::from(slot.lock().await.is_some());
        }
        n
    }
}
