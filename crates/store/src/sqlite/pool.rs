//! SQLite connections: how they are opened and configured, and the pools that lend them to blocking tasks.
//!
//! SQLite allows one writer at a time per database, and in WAL mode any number of readers alongside it, each seeing
//! the last committed state. The store mirrors that: one writer connection (a pool of one, so writes queue in
//! order) and a few read-only connections, so reads never wait for a write. Waiting for a connection is async (a
//! semaphore), and only the SQLite work itself runs on tokio's blocking pool.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::backend;
use idplane_core::error::StoreError;

/// How long a statement waits for a lock held by another process (a backup, an admin command) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection: the fixed statements plus the listing shapes clients use.
const STATEMENT_CACHE: usize = 128;

/// Opens the read-write connection and sets the database-wide and per-connection settings.
///
/// Durability: `journal_mode=WAL` with `synchronous=NORMAL`. A commit appends to the write-ahead log with `write()`
/// before it returns; the log is fsynced only at checkpoints. Once `write()` returns, the data is in the operating
/// system's page cache, which outlives the process: an acknowledged write survives the process being killed
/// (`kill -9`, a panic, an OOM kill), which is the guarantee idplane needs. What NORMAL gives up, compared with FULL,
/// is the last transactions before an operating-system crash or power loss; the database stays consistent (never
/// corrupt) even then.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Backend(format!("open {}: {e}", path.display())))?;
    let mode: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(backend("set journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!("{} cannot use WAL mode (got {mode})", path.display())));
    }
    configure(&conn)?;
    Ok(conn)
}

/// Opens a read-only connection to a database the writer has already created and migrated.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Backend(format!("open {} for reading: {e}", path.display())))?;
    configure(&conn)?;
    Ok(conn)
}

/// Opens the connection that checkpoints the WAL (read-write: a checkpoint writes the database file).
pub(super) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Backend(format!("open {} for checkpoints: {e}", path.display())))?;
    configure(&conn)?;
    Ok(conn)
}

/// A private in-memory database: one connection serves reads and writes (in-memory databases have no WAL).
pub(super) fn open_memory() -> Result<Connection, StoreError> {
    let conn = Connection::open_in_memory().map_err(backend("open in-memory database"))?;
    configure(&conn)?;
    Ok(conn)
}

/// The per-connection settings.
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend("set busy_timeout"))?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(backend("set synchronous"))?;
    conn.pragma_update(None, "foreign_keys", true).map_err(backend("enable foreign keys"))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Connections lent one at a time to blocking tasks.
pub(super) struct Pool {
    idle: Mutex<Vec<Lent>>,
    permits: Arc<Semaphore>,
}

/// A pooled connection and the flag its progress handler checks: set, it stops the running statement (and any
/// started after) with `SQLITE_INTERRUPT`.
struct Lent {
    conn: Connection,
    stop: Arc<AtomicBool>,
}

/// How many virtual machine instructions a statement runs between two checks of its connection's stop flag.
const CHECK_EVERY: i32 = 1000;

impl Pool {
    pub fn new(connections: Vec<Connection>) -> Arc<Pool> {
        let permits = Arc::new(Semaphore::new(connections.len()));
        let lent = connections
            .into_iter()
            .map(|conn| {
                let stop = Arc::new(AtomicBool::new(false));
                let flag = Arc::clone(&stop);
                conn.progress_handler(CHECK_EVERY, Some(move || flag.load(Ordering::Relaxed)));
                Lent { conn, stop }
            })
            .collect();
        Arc::new(Pool { idle: Mutex::new(lent), permits })
    }

    /// Runs `f` with a connection of this pool on the blocking thread pool, once one is free. If the caller stops
    /// waiting (the future is dropped: its request ran out of time), the work is stopped: the running statement, and
    /// any `f` starts after, fail with `SQLITE_INTERRUPT`, the transaction rolls back, and the connection is free
    /// again.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        let Some(lent) = self.take() else {
            return Err(StoreError::Backend("no idle connection despite a permit".into()));
        };
        lent.stop.store(false, Ordering::Relaxed);
        let running = Arc::new(Running { stop: Arc::clone(&lent.stop), active: Mutex::new(true) });
        let mut guard = StopOnDrop(Some(Arc::clone(&running)));
        let pool = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let mut lease = Lease { lent: Some(lent), pool: &pool };
            let result = match lease.lent.as_mut() {
                Some(lent) => f(&mut lent.conn),
                None => Err(StoreError::Backend("the lease lost its connection".into())),
            };
            // No stop may reach the connection once it is back in the pool, lent to someone else; and it goes back
            // with no transaction open, even if a stop interrupted the statement that ended one.
            *running.active.lock().unwrap_or_else(PoisonError::into_inner) = false;
            if let Some(lent) = lease.lent.as_mut() {
                lent.stop.store(false, Ordering::Relaxed);
                if !lent.conn.is_autocommit()
                    && let Err(e) = lent.conn.execute_batch("ROLLBACK")
                {
                    tracing::error!(error = %e, "could not end a transaction");
                }
            }
            drop(lease);
            drop(permit);
            result
        });
        let out = task.await.map_err(|e| StoreError::Backend(format!("store task failed: {e}")));
        guard.0 = None;
        out?
    }

    /// Runs `f` with a connection of this pool on the calling thread, once one is free: for work known to be short,
    /// which would spend more on a thread switch than on itself. It runs to its end.
    pub async fn run_here<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _permit = self.permits.acquire().await.map_err(|_| StoreError::Backend("the store is closed".into()))?;
        let Some(lent) = self.take() else {
            return Err(StoreError::Backend("no idle connection despite a permit".into()));
        };
        let mut lease = Lease { lent: Some(lent), pool: self };
        match lease.lent.as_mut() {
            Some(lent) => f(&mut lent.conn),
            None => Err(StoreError::Backend("the lease lost its connection".into())),
        }
    }

    fn take(&self) -> Option<Lent> {
        // The vector is consistent whatever a panicking holder was doing, so a poisoned lock is still usable.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }
}

/// The stop flag of a lent connection, and whether the work on it is still running.
struct Running {
    stop: Arc<AtomicBool>,
    active: Mutex<bool>,
}

/// Stops the work on a lent connection if dropped before that work finished (its caller stopped waiting).
struct StopOnDrop(Option<Arc<Running>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(running) = self.0.take() {
            // Held while stopping, so that the connection cannot go back to the pool in between.
            let active = running.active.lock().unwrap_or_else(PoisonError::into_inner);
            if *active {
                running.stop.store(true, Ordering::Relaxed);
                tracing::debug!("stopped a store operation whose caller stopped waiting");
            }
        }
    }
}

/// A borrowed connection, returned to its pool when dropped, even if the task using it panicked (an open
/// transaction rolls back when its guard drops, before the connection comes back).
struct Lease<'a> {
    lent: Option<Lent>,
    pool: &'a Pool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(lent) = self.lent.take() {
            self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(lent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read whose caller stops waiting is interrupted, not left running: an endless query ends with
    /// `SQLITE_INTERRUPT` once its future is dropped (without the interrupt this test never ends).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_whose_caller_stops_waiting_is_interrupted() -> anyhow::Result<()> {
        let pool = Pool::new(vec![open_memory()?]);
        let (started, running) = tokio::sync::oneshot::channel();
        let (outcome, ended) = tokio::sync::oneshot::channel();
        let reader = Arc::clone(&pool);
        let endless = async move {
            reader
                .run(move |conn| {
                    let _ = started.send(());
                    let result = conn.query_row(
                        "WITH RECURSIVE c (x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
                        [],
                        |r| r.get::<_, i64>(0),
                    );
                    let _ = outcome.send(result.map_err(|e| e.sqlite_error_code()));
                    Ok(())
                })
                .await
        };
        let caller = tokio::spawn(endless);
        running.await?;
        caller.abort();
        let _ = caller.await;
        assert_eq!(ended.await?, Err(Some(rusqlite::ErrorCode::OperationInterrupted)));
        // The connection is back in the pool and works.
        let n =
            pool.run(|conn| conn.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0)).map_err(backend("x"))).await?;
        assert_eq!(n, 42);
        Ok(())
    }
}
