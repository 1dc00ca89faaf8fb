//! The SQLite backend: everything SQLite-specific lives under this module (the schema in [`schema`], connection
//! settings and pooling in [`pool`], the [`Tx`] over a rusqlite connection, error codes, value conversion); the
//! transaction scripts come from the aggregates' modules.

pub mod backup;
mod pool;
pub(crate) mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use idplane_core::audit::AuditQuery;
use idplane_core::error::StoreError;
use idplane_core::principal::PrincipalKind;
use idplane_core::store::ListSpec;
use idplane_core::tenancy::Scope;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, ToSql, ffi, params_from_iter};

use crate::listing::{self, ListRead};
use crate::store::{Backend, SqlStore};
use crate::tx::{Cell, DbError, Dialect, Param, Row, Script, Sql, Tx, complete_now};
use pool::Pool;
use writer::Writer;

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "idplane.db";

/// The embedded store: [`SqlStore`] over one SQLite file in a data directory, created and migrated on first open.
///
/// Writes run on the writer thread, which owns the read-write connection and commits the writes waiting at the
/// same time together ([`writer`]); reads run on a pool of read-only connections (WAL lets them proceed during a
/// write) on tokio's blocking thread pool, and see only committed data. Calls must come from within a tokio runtime.
/// A read whose caller stops waiting (a request past its time limit) is interrupted (`sqlite3_interrupt`): its
/// connection is free again at once; a write whose caller stops waiting before it started is skipped.
///
/// Durability: WAL with `synchronous=NORMAL`. A write that returned Ok survives the process being killed at any
/// moment (`kill -9`); the last writes before an operating-system crash or power loss may be lost, the database
/// staying consistent. The reasoning is on the writer connection's setup.
pub type SqliteStore = SqlStore<Sqlite>;

/// The SQLite backend of [`SqliteStore`].
pub struct Sqlite {
    writer: Writer,
    /// None for an in-memory database, which only the writer's connection sees: reads go through the writer.
    readers: Option<Arc<Pool>>,
    path: Option<PathBuf>,
}

impl SqlStore<Sqlite> {
    /// Opens the store in `data_dir`, creating the directory and the database (`idplane.db`) if needed and applying
    /// pending migrations. Refuses a database written by a newer idplane. Blocks while it opens.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Backend(format!("create data directory {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let mut writer = pool::open_writer(&path)?;
        migrate(&mut writer)?;
        let readers = (0..reader_count()).map(|_| pool::open_reader(&path)).collect::<Result<Vec<_>, _>>()?;
        tracing::debug!(path = %path.display(), readers = readers.len(), "opened SQLite store");
        let writer = Writer::start(writer, Some(pool::open_checkpointer(&path)?))?;
        Ok(SqlStore::new(Sqlite { writer, readers: Some(Pool::new(readers)), path: Some(path) }))
    }

    /// A private in-memory store, gone when the last clone is dropped: for tests and trials. Reads and writes share
    /// one connection.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut conn = pool::open_memory()?;
        migrate(&mut conn)?;
        Ok(SqlStore::new(Sqlite { writer: Writer::start(conn, None)?, readers: None, path: None }))
    }

    /// The database file, or None in memory.
    pub fn path(&self) -> Option<&Path> {
        self.backend.path.as_deref()
    }

    /// The schema version of the database (the number of migrations applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.backend
            .read(Box::new(|tx: &mut dyn Tx| {
                Box::pin(async move {
                    tx.scalar("SELECT MAX(version) FROM schema_migrations", &[], "read schema version").await
                })
            }))
            .await
    }

    /// Rows inserted, updated or deleted through this store since it opened (SQLite's `total_changes`, foreign-key
    /// cascades excluded). For diagnostics, and for tests that check what an operation costs.
    pub async fn total_changes(&self) -> Result<u64, StoreError> {
        self.backend.writer.raw(|conn| Ok(conn.total_changes())).await
    }

    /// SQLite's plan (`EXPLAIN QUERY PLAN`, one line per step) for the statements that would answer this listing:
    /// the scope check, the count and the page, or the candidates. For diagnostics and index tests.
    pub async fn explain_listing(
        &self,
        scope: &Scope,
        kind: PrincipalKind,
        spec: &ListSpec<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let plan = listing::plan(Dialect::Sqlite, scope, kind, spec);
        let mut statements: Vec<Sql> = plan.scan_check.into_iter().collect();
        match plan.read {
            ListRead::Page { count, items, .. } => statements.extend([count, items]),
            ListRead::Candidates(items) => statements.push(items),
        }
        self.explain(statements).await
    }

    /// Whether a listing would first check the size of the scope (it examines rows no index narrows).
    pub fn listing_scans(&self, scope: &Scope, kind: PrincipalKind, spec: &ListSpec<'_>) -> bool {
        listing::plan(Dialect::Sqlite, scope, kind, spec).scan_check.is_some()
    }

    /// SQLite's plan for the statement of [`idplane_core::store::AuditStore::audit_entries`].
    pub async fn explain_audit(&self, query: &AuditQuery) -> Result<Vec<String>, StoreError> {
        self.explain(vec![crate::audit::select(query)]).await
    }

    /// SQLite's plan for the statement of [`idplane_provisioning::store::ProvisioningLogStore::logs`].
    pub async fn explain_logs(
        &self,
        tenant_id: &str,
        query: &idplane_provisioning::logs::LogQuery,
    ) -> Result<Vec<String>, StoreError> {
        self.explain(vec![crate::provisioning::logs::select(Dialect::Sqlite, tenant_id, query)]).await
    }

    /// SQLite's plan for the statement that reads the groups of principals (one, as
    /// [`idplane_core::store::PrincipalStore::groups_of`] and views do, or a page of them).
    pub async fn explain_groups_of(&self, scope: &Scope, principal_ids: &[i64]) -> Result<Vec<String>, StoreError> {
        let ids = listing::Ids::of(principal_ids);
        self.explain(vec![listing::select_groups_of(Dialect::Sqlite, scope, &ids)]).await
    }

    async fn explain(&self, statements: Vec<Sql>) -> Result<Vec<String>, StoreError> {
        self.backend
            .on_reader(move |conn| {
                let mut plan = Vec::new();
                for s in statements {
                    let mut stmt =
                        conn.prepare(&format!("EXPLAIN QUERY PLAN {}", s.text)).map_err(backend("explain"))?;
                    let rows = stmt.query_map(params_from_iter(s.params.iter()), |r| r.get::<_, String>(3));
                    for row in rows.map_err(backend("explain"))? {
                        plan.push(row.map_err(backend("explain"))?);
                    }
                }
                Ok(plan)
            })
            .await
    }
}

/// Migrates in one immediate transaction, so that two processes opening the same fresh database do not both migrate.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    in_transaction(
        conn,
        "BEGIN IMMEDIATE",
        true,
        Box::new(|tx: &mut dyn Tx| Box::pin(async move { crate::schema::migrate(tx, schema::MIGRATIONS).await })),
    )
}

/// Runs a script in a transaction begun by `begin` on `conn`: committed if `commit` and it succeeds, rolled back
/// otherwise (also if it panics: the guard ends the transaction before the connection goes back to its pool).
fn in_transaction<T>(conn: &mut Connection, begin: &str, commit: bool, script: Script<T>) -> Result<T, StoreError> {
    conn.prepare_cached(begin).and_then(|mut s| s.execute([])).map_err(backend("begin"))?;
    let guard = Open(conn);
    let out = {
        let mut tx = SqliteTx { conn: guard.0 };
        complete_now(script(&mut tx))
    };
    match out {
        Ok(value) if commit => {
            guard.0.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).map_err(backend("commit"))?;
            Ok(value)
        }
        other => other,
    }
}

/// An open transaction, rolled back when dropped unless it was committed.
struct Open<'c>(&'c mut Connection);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let ended = self.0.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
            if let Err(e) = ended {
                tracing::error!(error = %e, "could not end a transaction");
            }
        }
    }
}

#[async_trait]
impl Backend for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn write<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError> {
        self.writer.write(script).await
    }

    async fn read<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError> {
        // A read transaction so that its statements see one snapshot; rolled back (it changed nothing) at the end.
        // BEGIN and ROLLBACK are cached statements: most reads are one indexed lookup, and parsing them anew on
        // every call showed in profiles.
        self.on_reader(move |conn| in_transaction(conn, "BEGIN", false, script)).await
    }

    /// A short read runs on the calling thread: handing it to the blocking pool and back costs two thread switches,
    /// more than the read itself.
    async fn lookup<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError> {
        match &self.readers {
            Some(readers) => readers.run_here(move |conn| in_transaction(conn, "BEGIN", false, script)).await,
            None => self.writer.raw(move |conn| in_transaction(conn, "BEGIN", false, script)).await,
        }
    }
}

impl Sqlite {
    /// Runs `f` on a read-only connection (the writer's for an in-memory database).
    async fn on_reader<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        match &self.readers {
            Some(readers) => readers.run(f).await,
            None => self.writer.raw(f).await,
        }
    }
}

/// One reader per core, at least two, at most eight (beyond that readers mostly wait for the disk).
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8)
}

/// A transaction on a SQLite connection: every call completes at once.
struct SqliteTx<'c> {
    conn: &'c mut Connection,
}

#[async_trait]
impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(classify)?;
        let n = stmt.execute(params_from_iter(params.iter())).map_err(classify)?;
        Ok(n as u64)
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(classify)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params.iter())).map_err(classify)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(classify)? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match r.get_ref(i).map_err(classify)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(f) => Cell::Int(f as i64),
                    ValueRef::Text(t) => Cell::Text(
                        String::from_utf8(t.to_vec()).map_err(|e| DbError::Other(format!("column {i}: {e}")))?,
                    ),
                    ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
                });
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(classify)
    }
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(n) => ToSqlOutput::Owned(SqlValue::Integer(*n)),
            Param::Text(s) => ToSqlOutput::Borrowed(s.as_str().into()),
            Param::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
            Param::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Param::NullInt | Param::NullText | Param::NullBool => ToSqlOutput::Owned(SqlValue::Null),
        })
    }
}

/// What a SQLite error means to a script.
fn classify(e: rusqlite::Error) -> DbError {
    match e.sqlite_error().map(|s| (s.code, s.extended_code)) {
        Some((_, ffi::SQLITE_CONSTRAINT_PRIMARYKEY)) => DbError::Unique { primary_key: true },
        Some((_, ffi::SQLITE_CONSTRAINT_UNIQUE)) => DbError::Unique { primary_key: false },
        Some((_, ffi::SQLITE_CONSTRAINT_FOREIGNKEY)) => DbError::ForeignKey,
        Some((rusqlite::ErrorCode::OperationInterrupted, _)) => DbError::Interrupted(e.to_string()),
        _ => DbError::Other(e.to_string()),
    }
}

/// Maps an error to [`StoreError::Backend`], saying what was being done.
pub(crate) fn backend(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| classify(e).during(context)
}
