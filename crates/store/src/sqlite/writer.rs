//! The writer: one thread that owns the read-write connection and commits write transactions in groups.
//!
//! SQLite has one writer at a time, and what a commit costs (appending every changed page to the WAL, the
//! checkpoints that follow) hardly depends on how much the transaction changed. So the writer takes every write
//! waiting when it is free (up to [`MAX_GROUP`]) and runs them in one transaction, each in a savepoint of its own:
//! a write that fails rolls back to its savepoint and fails alone; the others commit together. Every caller is
//! answered after the commit, so an acknowledged write is as durable as before; under load, the pages of an index
//! are written once per group rather than once per write.
//!
//! A write whose caller stopped waiting before it started is skipped. One that has started runs to its end: writes
//! are O(change), and interrupting one would roll back the whole group.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use idplane_core::error::StoreError;
use rusqlite::Connection;

use super::{SqliteTx, backend};
use crate::tx::{Script, complete_now};

/// The most writes committed together.
const MAX_GROUP: usize = 64;

/// What the writer does for one caller.
enum Job {
    /// A write transaction script, run in the group's transaction; `Deliver` answers the caller once the group's
    /// fate is known.
    Write { run: WriteFn, state: Arc<Mutex<State>> },
    /// Work on the connection outside any transaction (its statistics, a read of an in-memory database).
    Raw(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// Runs a write on the connection (or, given an error, answers with it without running) and says whether it
/// succeeded.
type WriteFn = Box<dyn FnOnce(Result<&mut Connection, StoreError>) -> (bool, Deliver) + Send>;

/// Answers a write's caller: with its own result, unless the group could not commit (`Some(error)`).
type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    Running,
    /// The caller stopped waiting before the write started: skip it.
    Cancelled,
}

/// The handle of the writer thread: cloned with the store, the thread ends when the last handle is dropped.
pub(super) struct Writer {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Jobs sent and not yet taken by the writer thread.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

impl Writer {
    /// Starts the writer thread on `conn` (opened and migrated). With `checkpoints`, the writer leaves the WAL's
    /// checkpoints to that connection, on a thread of its own (see [`checkpoint`]); without (an in-memory database),
    /// there are none.
    pub fn start(conn: Connection, checkpoints: Option<Connection>) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let taken = Arc::clone(&waiting);
        let committed = match checkpoints {
            Some(checkpointer) => {
                conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
                    .map_err(backend("set wal_autocheckpoint"))?;
                let (committed, commits) = mpsc::sync_channel::<()>(1);
                std::thread::Builder::new()
                    .name("idplane-sqlite-checkpoint".into())
                    .spawn(move || checkpoint(checkpointer, commits))
                    .map_err(|e| StoreError::Backend(format!("start the SQLite checkpointer: {e}")))?;
                Some(committed)
            }
            None => None,
        };
        std::thread::Builder::new()
            .name("idplane-sqlite-writer".into())
            .spawn(move || run(conn, queue, &taken, committed))
            .map_err(|e| StoreError::Backend(format!("start the SQLite writer: {e}")))?;
        Ok(Writer { jobs: Mutex::new(jobs), waiting })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        jobs.send(job).map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))
    }

    /// How many jobs wait for the writer.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `script` in a write transaction (shared with other writes waiting at the same time), committed if the
    /// script succeeds.
    pub async fn write<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let state = Arc::new(Mutex::new(State::Queued));
        let run: WriteFn = Box::new(move |conn: Result<&mut Connection, StoreError>| {
            let out = match conn {
                Ok(conn) => {
                    let mut tx = SqliteTx { conn };
                    complete_now(script(&mut tx))
                }
                Err(e) => Err(e),
            };
            let ok = out.is_ok();
            let deliver: Deliver = Box::new(move |group_failed| {
                let out = match (out, group_failed) {
                    (Ok(_), Some(e)) => Err(e),
                    (out, _) => out,
                };
                let _ = answer.send(out);
            });
            (ok, deliver)
        });
        self.send(Job::Write { run, state: Arc::clone(&state) })?;
        let cancel = CancelIfQueued(Some(state));
        let out = answered.await.map_err(|_| StoreError::Backend("the SQLite writer dropped a write".into()));
        cancel.disarm();
        out?
    }

    /// Runs `f` on the connection, alone, outside any transaction.
    pub async fn raw<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.send(Job::Raw(Box::new(move |conn| {
            let _ = answer.send(f(conn));
        })))?;
        answered.await.map_err(|_| StoreError::Backend("the SQLite writer dropped a job".into()))?
    }
}

/// Marks a write cancelled if its caller stops waiting before the writer starts it.
struct CancelIfQueued(Option<Arc<Mutex<State>>>);

impl CancelIfQueued {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelIfQueued {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            if *state == State::Queued {
                *state = State::Cancelled;
            }
        }
    }
}

/// The writer thread: takes the jobs waiting, runs them, until every handle is gone.
fn run(
    mut conn: Connection,
    queue: mpsc::Receiver<Job>,
    waiting: &std::sync::atomic::AtomicUsize,
    committed: Option<mpsc::SyncSender<()>>,
) {
    while let Ok(first) = queue.recv() {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut next = Some(first);
        while let Some(job) = next.take() {
            waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            match job {
                Job::Raw(f) => {
                    commit_group(&mut conn, std::mem::take(&mut group));
                    f(&mut conn);
                }
                write => group.push(write),
            }
            if group.len() < MAX_GROUP {
                next = queue.try_recv().ok();
            }
        }
        commit_group(&mut conn, group);
        if let Some(committed) = &committed {
            // One signal waiting is enough: the checkpointer checkpoints everything committed so far.
            let _ = committed.try_send(());
        }
    }
}

/// The WAL size, in pages, at which the writer checkpoints by itself: only if the checkpointer falls far behind.
const WRITER_CHECKPOINT_PAGES: i64 = 10_000;
/// The least time between two checkpoints of the checkpointer.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// The checkpointer thread: after commits, copies what the WAL holds into the database file (a PASSIVE checkpoint,
/// which waits for no reader or writer), at most every [`CHECKPOINT_INTERVAL`], so that the writer spends its time
/// on writes. Ends with the writer.
fn checkpoint(conn: Connection, commits: mpsc::Receiver<()>) {
    while commits.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint");
        }
        // Pacing, not waiting for an event: commits meanwhile are checkpointed together next time.
        std::thread::sleep(CHECKPOINT_INTERVAL);
    }
}

/// Runs a group of writes in one transaction, each in its savepoint, commits, and answers every caller.
fn commit_group(conn: &mut Connection, group: Vec<Job>) {
    if group.is_empty() {
        return;
    }
    // IMMEDIATE takes the write lock up front, so the transaction never fails midway on a lock upgrade.
    if let Err(e) = execute(conn, "BEGIN IMMEDIATE") {
        for job in group {
            if let Job::Write { run, .. } = job {
                run(Err(e.clone_error())).1(None);
            }
        }
        return;
    }
    let mut delivers: Vec<Deliver> = Vec::with_capacity(group.len());
    for job in group {
        let Job::Write { run, state } = job else { continue };
        {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            if *state == State::Cancelled {
                continue;
            }
            *state = State::Running;
        }
        let started = if conn.is_autocommit() { execute(conn, "BEGIN IMMEDIATE") } else { Ok(()) };
        if let Err(e) = started.and_then(|()| execute(conn, "SAVEPOINT w")) {
            run(Err(e)).1(None);
            continue;
        }
        let (ok, deliver) = match catch_unwind(AssertUnwindSafe(|| run(Ok(&mut *conn)))) {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!("a store write panicked; its changes are rolled back");
                let failed: Deliver = Box::new(|_| {});
                (false, failed)
            }
        };
        if conn.is_autocommit() {
            // A failure that ends the whole transaction (disk full, I/O error): the writes before this one in the
            // group are lost with it, and say so; the rest of the group starts a new transaction.
            for earlier in delivers.drain(..) {
                earlier(Some(StoreError::Backend("the write's transaction was rolled back by a failure".into())));
            }
            deliver(None);
            continue;
        }
        let ended = if ok {
            execute(conn, "RELEASE w")
        } else {
            execute(conn, "ROLLBACK TO w").and_then(|()| execute(conn, "RELEASE w"))
        };
        match ended {
            Ok(()) => delivers.push(deliver),
            Err(e) => deliver(Some(e)),
        }
    }
    if conn.is_autocommit() {
        for deliver in delivers {
            deliver(None);
        }
        return;
    }
    match execute(conn, "COMMIT") {
        Ok(()) => delivers.into_iter().for_each(|d| d(None)),
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = execute(conn, "ROLLBACK");
            }
            for deliver in delivers {
                deliver(Some(e.clone_error()));
            }
        }
    }
}

fn execute(conn: &mut Connection, sql: &'static str) -> Result<(), StoreError> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(backend(sql))
}

trait CloneError {
    fn clone_error(&self) -> StoreError;
}

impl CloneError for StoreError {
    fn clone_error(&self) -> StoreError {
        StoreError::Backend(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::{Tx, params};

    /// A writer on a fresh in-memory database with one table, and a way to hold it busy: while the returned sender
    /// is not used, the writer thread waits inside a job, so that writes sent meanwhile queue up and form one group.
    async fn held_writer() -> anyhow::Result<(Writer, std::sync::mpsc::Sender<()>)> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE t (k TEXT UNIQUE)")?;
        let writer = Writer::start(conn, None)?;
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, holding) = tokio::sync::oneshot::channel();
        writer.send(Job::Raw(Box::new(move |_| {
            let _ = started.send(());
            let _ = hold.recv();
        })))?;
        holding.await?;
        Ok((writer, release))
    }

    /// Waits until `n` jobs wait for the writer.
    async fn until_waiting(writer: &Writer, n: usize) {
        while writer.waiting() < n {
            tokio::task::yield_now().await;
        }
    }

    fn insert(key: &'static str) -> Script<u64> {
        Box::new(move |tx: &mut dyn Tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO t (k) VALUES (?)", &params![key]).await.map_err(|e| e.conflict("insert", "k"))
            })
        })
    }

    async fn keys(writer: &Writer) -> anyhow::Result<Vec<String>> {
        Ok(writer
            .raw(|conn| {
                let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").map_err(backend("select"))?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(backend("select"))?;
                rows.map(|r| r.map_err(backend("row"))).collect::<Result<Vec<String>, _>>()
            })
            .await?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_fails_alone_in_its_group() -> anyhow::Result<()> {
        let (writer, release) = held_writer().await?;
        let writer = Arc::new(writer);
        let mut tasks = Vec::new();
        for key in ["a", "a", "b"] {
            let w = Arc::clone(&writer);
            tasks.push(tokio::spawn(async move { w.write(insert(key)).await }));
        }
        // The three queue up behind the held job; then the writer takes them as one group.
        until_waiting(&writer, 3).await;
        release.send(())?;
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await?);
        }
        let failures = outcomes.iter().filter(|o| matches!(o, Err(StoreError::Conflict("k")))).count();
        assert_eq!(failures, 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| matches!(o, Ok(1))).count(), 2, "{outcomes:?}");
        assert_eq!(keys(&writer).await?, ["a", "b"]);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_whose_caller_stopped_waiting_before_it_started_is_skipped() -> anyhow::Result<()> {
        let (writer, release) = held_writer().await?;
        let writer = Arc::new(writer);
        let w = Arc::clone(&writer);
        let abandoned = tokio::spawn(async move { w.write(insert("abandoned")).await });
        until_waiting(&writer, 1).await;
        abandoned.abort();
        let _ = abandoned.await;
        let w = Arc::clone(&writer);
        let kept = tokio::spawn(async move { w.write(insert("kept")).await });
        until_waiting(&writer, 2).await;
        release.send(())?;
        kept.await??;
        assert_eq!(keys(&writer).await?, ["kept"]);
        Ok(())
    }
}
