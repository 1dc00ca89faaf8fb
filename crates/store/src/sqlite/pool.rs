//! SQLite connections: how they are opened and configured, and the pools that lend them to blocking tasks.
//!
//! SQLite allows one writer at a time per database, and in WAL mode any number of readers alongside it, each seeing
//! the last committed state. The store mirrors that: one writer connection (a pool of one, so writes queue in
//! order) and a few read-only connections, so reads never wait for a write. Waiting for a connection is async (a
//! semaphore), and only the SQLite work itself runs on tokio's blocking pool.

use std::path::Path;
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
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    pub fn new(connections: Vec<Connection>) -> Arc<Pool> {
        let permits = Arc::new(Semaphore::new(connections.len()));
        Arc::new(Pool { idle: Mutex::new(connections), permits })
    }

    /// Runs `f` with a connection of this pool on the blocking thread pool, once one is free. If the caller stops
    /// waiting (the future is dropped: its request ran out of time), the work is interrupted: the running statement
    /// fails with `SQLITE_INTERRUPT`, the transaction rolls back, and the connection is free again.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        let Some(conn) = self.take() else {
            return Err(StoreError::Backend("no idle connection despite a permit".into()));
        };
        let running = Arc::new(Running { handle: conn.get_interrupt_handle(), active: Mutex::new(true) });
        let mut guard = InterruptOnDrop(Some(Arc::clone(&running)));
        let pool = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let mut lease = Lease { conn: Some(conn), pool: &pool };
            let result = match lease.conn.as_mut() {
                Some(conn) => f(conn),
                None => Err(StoreError::Backend("the lease lost its connection".into())),
            };
            // No interrupt may reach the connection once it is back in the pool, lent to someone else.
            *running.active.lock().unwrap_or_else(PoisonError::into_inner) = false;
            drop(lease);
            drop(permit);
            result
        });
        let out = task.await.map_err(|e| StoreError::Backend(format!("store task failed: {e}")));
        guard.0 = None;
        out?
    }

    fn take(&self) -> Option<Connection> {
        // The vector is consistent whatever a panicking holder was doing, so a poisoned lock is still usable.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }
}

/// The interrupt handle of a lent connection, and whether the work on it is still running.
struct Running {
    handle: rusqlite::InterruptHandle,
    active: Mutex<bool>,
}

/// Interrupts the work of a lent connection if dropped before that work finished (its caller stopped waiting).
struct InterruptOnDrop(Option<Arc<Running>>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(running) = self.0.take() {
            // Held while interrupting, so that the connection cannot go back to the pool in between.
            let active = running.active.lock().unwrap_or_else(PoisonError::into_inner);
            if *active {
                running.handle.interrupt();
                tracing::debug!("interrupted a store operation whose caller stopped waiting");
            }
        }
    }
}

/// A borrowed connection, returned to its pool when dropped, even if the task using it panicked (an open
/// transaction rolls back when its guard drops, before the connection comes back).
struct Lease<'a> {
    conn: Option<Connection>,
    pool: &'a Pool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        }
    }
}
