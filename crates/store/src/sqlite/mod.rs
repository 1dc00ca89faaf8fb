//! The SQLite implementation of the core's [`Store`]: everything SQLite-specific lives under this module (the schema
//! in [`migrations`], connection settings and pooling in [`pool`], the [`Dialect`] spelling, error codes, the
//! mapping of rows and values); the statements themselves come from [`crate::sql`].

pub mod backup;
pub(crate) mod migrations;
mod pool;

use crate::codec::{AuditRow, Indexed, audit_values, kind, nanos, nanos_bound, permission, require_group, time};
use idplane_core::assignment::Permission;
use idplane_core::audit::{AuditEntry, AuditQuery, AuditRecord};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{
    Connection, OptionalExtension, Row, ToSql, Transaction, TransactionBehavior, ffi, params, params_from_iter,
};
use time::OffsetDateTime;

use crate::sql::{self, Dialect, ListQuery, Param, Sql};
use idplane_core::error::StoreError;
use idplane_core::principal::{GroupRef, Home, Member, Principal, PrincipalKind};
use idplane_core::store::{
    ListSpec, Listing, MemberOp, NewMember, PrincipalUpdate, Store, TokenFilter, ValueOp, WorkspaceValues,
};
use idplane_core::tenancy::{Account, Scope, Workspace};
use idplane_core::token::{Token, TokenHash, TokenKind, TokenScope};
use pool::Pool;

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "idplane.db";

/// The SQLite store: one database file in a data directory, created and migrated on first open.
///
/// Cloning is cheap and shares the connections. Every write is one immediate transaction on the single writer
/// connection; reads run on a pool of read-only connections (WAL lets them proceed during a write) and see only
/// committed data. Each operation runs on tokio's blocking thread pool, so calls must come from within a tokio
/// runtime.
///
/// Durability: WAL with `synchronous=NORMAL`. A write that returned Ok survives the process being killed at any
/// moment (`kill -9`); the last writes before an operating-system crash or power loss may be lost, the database
/// staying consistent. The reasoning is on the writer connection's setup.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Pool>,
    /// The writer itself for an in-memory database.
    readers: Arc<Pool>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store in `data_dir`, creating the directory and the database (`idplane.db`) if needed and applying
    /// pending migrations. Refuses a database written by a newer idplane. Blocks while it opens.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Backend(format!("create data directory {}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let mut writer = pool::open_writer(&path)?;
        migrations::migrate(&mut writer)?;
        let readers = (0..reader_count()).map(|_| pool::open_reader(&path)).collect::<Result<Vec<_>, _>>()?;
        tracing::debug!(path = %path.display(), readers = readers.len(), "opened SQLite store");
        Ok(SqliteStore { writer: Pool::new(vec![writer]), readers: Pool::new(readers), path: Some(path) })
    }

    /// A private in-memory store, gone when the last clone is dropped: for tests and trials. Reads and writes share
    /// one connection.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut conn = pool::open_memory()?;
        migrations::migrate(&mut conn)?;
        let pool = Pool::new(vec![conn]);
        Ok(SqliteStore { writer: Arc::clone(&pool), readers: pool, path: None })
    }

    /// The database file, or None in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the database (the number of migrations applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|tx| {
            tx.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get::<_, i64>(0))
                .map_err(backend("read schema version"))
        })
        .await
    }

    /// Rows inserted, updated or deleted through this store since it opened (SQLite's `total_changes`, foreign-key
    /// cascades excluded). For diagnostics, and for tests that check what an operation costs.
    pub async fn total_changes(&self) -> Result<u64, StoreError> {
        self.writer.run(|conn| Ok(conn.total_changes())).await
    }

    /// SQLite's plan (`EXPLAIN QUERY PLAN`, one line per step) for the statements that would answer this listing:
    /// the count and the page, or the candidates. For diagnostics and index tests.
    pub async fn explain_listing(
        &self,
        scope: &Scope,
        kind: PrincipalKind,
        spec: &ListSpec<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let statements = match sql::list_query::<Sqlite>(scope, kind, spec) {
            ListQuery::Page { count, items } => vec![count, items],
            ListQuery::Candidates(items) => vec![items],
        };
        self.explain(statements).await
    }

    /// SQLite's plan for the statement of [`Store::audit_entries`], as [`Self::explain_listing`] gives it.
    pub async fn explain_audit(&self, query: &AuditQuery) -> Result<Vec<String>, StoreError> {
        self.explain(vec![sql::select_audit(query)?]).await
    }

    /// SQLite's plan for the statement of [`Store::groups_of`], as [`Self::explain_listing`] gives it.
    pub async fn explain_groups_of(&self, scope: &Scope, principal_id: i64) -> Result<Vec<String>, StoreError> {
        self.explain(vec![sql::select_groups_of(scope, principal_id)]).await
    }

    async fn explain(&self, statements: Vec<Sql>) -> Result<Vec<String>, StoreError> {
        self.read(move |tx| {
            let mut plan = Vec::new();
            for s in statements {
                let mut stmt = tx.prepare(&format!("EXPLAIN QUERY PLAN {}", s.text)).map_err(backend("explain"))?;
                let rows = stmt.query_map(bind(&s), |r| r.get::<_, String>(3)).map_err(backend("explain"))?;
                for row in rows {
                    plan.push(row.map_err(backend("explain"))?);
                }
            }
            Ok(plan)
        })
        .await
    }

    /// Runs `f` in one immediate transaction on the writer connection; commits if it returns Ok.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer
            .run(move |conn| {
                // IMMEDIATE takes the write lock up front, so a transaction never fails midway on a lock upgrade.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend("begin"))?;
                let out = f(&tx)?;
                tx.commit().map_err(backend("commit"))?;
                Ok(out)
            })
            .await
    }

    /// Runs `f` in a read transaction, so that its statements see one snapshot.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers
            .run(move |conn| {
                let snapshot = ReadSnapshot::begin(conn)?;
                f(snapshot.0)
            })
            .await
    }
}

/// A read transaction, ended when dropped (also if the read failed or panicked), so that a connection goes back to
/// its pool holding no snapshot. BEGIN and ROLLBACK are cached statements: most reads are one indexed lookup, and
/// `Connection::transaction` parses both anew on every call (a twentieth of a GET's CPU time in a profile).
struct ReadSnapshot<'c>(&'c Connection);

impl<'c> ReadSnapshot<'c> {
    fn begin(conn: &'c Connection) -> Result<Self, StoreError> {
        conn.prepare_cached("BEGIN").and_then(|mut s| s.execute([])).map_err(backend("begin read"))?;
        Ok(ReadSnapshot(conn))
    }
}

impl Drop for ReadSnapshot<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let ended = self.0.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
            if let Err(e) = ended {
                tracing::error!(error = %e, "could not end a read transaction");
            }
        }
    }
}

/// One reader per core, at least two, at most eight (beyond that readers mostly wait for the disk).
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8)
}

/// SQLite's spelling of the expressions that differ between dialects.
pub(crate) struct Sqlite;

impl Dialect for Sqlite {
    fn contains(haystack: &str, needle: &str) -> String {
        format!("instr({haystack}, {needle}) > 0")
    }
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(n) => ToSqlOutput::Owned(SqlValue::Integer(*n)),
            Param::Text(s) => ToSqlOutput::Borrowed(s.as_str().into()),
            Param::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
        })
    }
}

// ---- errors and values ----

/// Maps an error to [`StoreError::Backend`], saying what was being done.
pub(crate) fn backend(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend(format!("{context}: {e}"))
}

/// Like [`backend`], but a violated primary key is a conflict on `id`, and a violated unique index or constraint a
/// conflict on `unique`.
fn write_error(context: &'static str, unique: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error().map(|s| s.extended_code) {
        Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => StoreError::Conflict("id"),
        Some(ffi::SQLITE_CONSTRAINT_UNIQUE) => StoreError::Conflict(unique),
        _ => backend(context)(e),
    }
}

fn bind<'a>(s: &'a Sql) -> impl rusqlite::Params + 'a {
    params_from_iter(s.params.iter())
}

// ---- rows ----

/// A `principals` row as [`sql::PRINCIPAL_COLUMNS`] selects it, before conversion.
struct PrincipalRow {
    id: i64,
    kind: String,
    account_id: String,
    home: i64,
    doc: String,
    version: i64,
    created: i64,
    last_modified: i64,
}

impl PrincipalRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(PrincipalRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            account_id: r.get(2)?,
            home: r.get(3)?,
            doc: r.get(4)?,
            version: r.get(5)?,
            created: r.get(6)?,
            last_modified: r.get(7)?,
        })
    }

    fn into_principal(self) -> Result<Principal, StoreError> {
        Ok(Principal {
            id: self.id,
            kind: kind(&self.kind)?,
            account_id: self.account_id,
            home: if self.home == 0 { Home::Account } else { Home::Workspace(self.home) },
            doc: serde_json::from_str(&self.doc)
                .map_err(|e| StoreError::Backend(format!("document of principal {}: {e}", self.id)))?,
            version: self.version,
            created: time(self.created)?,
            last_modified: time(self.last_modified)?,
        })
    }
}

/// A `tokens` row, in the order of [`sql::TOKEN_COLUMNS`].
struct TokenRow {
    id: String,
    hash: Vec<u8>,
    account_id: String,
    workspace_id: Option<i64>,
    principal_id: Option<i64>,
    comment: String,
    created: i64,
    expires: Option<i64>,
    kind: String,
}

impl TokenRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(TokenRow {
            id: r.get(0)?,
            hash: r.get(1)?,
            account_id: r.get(2)?,
            workspace_id: r.get(3)?,
            principal_id: r.get(4)?,
            comment: r.get(5)?,
            created: r.get(6)?,
            expires: r.get(7)?,
            kind: r.get(8)?,
        })
    }

    fn into_token(self) -> Result<Token, StoreError> {
        let hash: [u8; 32] =
            self.hash.try_into().map_err(|_| StoreError::Backend(format!("token {} has a malformed hash", self.id)))?;
        let kind = TokenKind::from_code(&self.kind)
            .ok_or_else(|| StoreError::Backend(format!("token {} has an unknown kind {:?}", self.id, self.kind)))?;
        let scope = match self.workspace_id {
            None => TokenScope::Account { account_id: self.account_id },
            Some(workspace_id) => TokenScope::Workspace { account_id: self.account_id, workspace_id },
        };
        Ok(Token {
            id: self.id,
            hash: TokenHash(hash),
            kind,
            scope,
            principal_id: self.principal_id,
            comment: self.comment,
            created: time(self.created)?,
            expires: self.expires.map(time).transpose()?,
        })
    }
}

fn apply_value_ops(
    tx: &Transaction<'_>,
    workspace_id: i64,
    principal_id: i64,
    ops: &[ValueOp],
) -> Result<(), StoreError> {
    for op in ops {
        match op {
            ValueOp::Add { attribute, values } | ValueOp::Remove { attribute, values } => {
                let statement = if matches!(op, ValueOp::Add { .. }) {
                    sql::INSERT_WORKSPACE_VALUE
                } else {
                    sql::DELETE_WORKSPACE_VALUE
                };
                let mut stmt = tx.prepare_cached(statement).map_err(backend("prepare value change"))?;
                for value in values {
                    stmt.execute(params![workspace_id, principal_id, attribute, value])
                        .map_err(write_error("change workspace value", "value"))?;
                }
            }
            ValueOp::Clear { attribute } => {
                tx.prepare_cached(sql::CLEAR_WORKSPACE_VALUES)
                    .and_then(|mut s| s.execute(params![workspace_id, principal_id, attribute]))
                    .map_err(backend("clear workspace values"))?;
            }
        }
    }
    Ok(())
}

fn query_principals(tx: &Connection, s: &Sql) -> Result<Vec<Principal>, StoreError> {
    let mut stmt = tx.prepare_cached(&s.text).map_err(backend("prepare principal query"))?;
    let rows = stmt.query_map(bind(s), PrincipalRow::read).map_err(backend("query principals"))?;
    rows.map(|row| row.map_err(backend("read principal"))?.into_principal()).collect()
}

fn query_principal(tx: &Connection, s: &Sql) -> Result<Option<Principal>, StoreError> {
    let mut stmt = tx.prepare_cached(&s.text).map_err(backend("prepare principal query"))?;
    let row = stmt.query_row(bind(s), PrincipalRow::read).optional().map_err(backend("read principal"))?;
    row.map(PrincipalRow::into_principal).transpose()
}

fn account_from(r: &Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn into_account((id, name, created): (String, String, i64)) -> Result<Account, StoreError> {
    Ok(Account { id, name, created: time(created)? })
}

type WorkspaceRow = (i64, String, String, bool, i64);

fn workspace_from(r: &Row<'_>) -> rusqlite::Result<WorkspaceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn into_workspace((id, account_id, name, identity_federation, created): WorkspaceRow) -> Result<Workspace, StoreError> {
    Ok(Workspace { id, account_id, name, identity_federation, created: time(created)? })
}

// ---- writes shared by insert and update ----

/// Adds members to a group: one existence probe and one insert per new member, whatever the size of the group. A
/// group never becomes its own member (that would make it its own ancestor); asking for it is a no-op.
fn add_members(tx: &Transaction<'_>, group_id: i64, account_id: &str, members: &[NewMember]) -> Result<(), StoreError> {
    let mut exists = tx.prepare_cached(sql::PRINCIPAL_IN_ACCOUNT).map_err(backend("prepare member check"))?;
    let mut insert = tx.prepare_cached(sql::INSERT_MEMBERSHIP).map_err(backend("prepare member insert"))?;
    for m in members.iter().filter(|m| m.id != group_id) {
        if !exists.exists((m.id, account_id)).map_err(backend("check member"))? {
            return Err(StoreError::MissingReference(m.id));
        }
        insert.execute(params![group_id, m.id, m.reference, m.display]).map_err(backend("add member"))?;
    }
    Ok(())
}

fn remove_members(tx: &Transaction<'_>, group_id: i64, ids: &[i64]) -> Result<(), StoreError> {
    let mut delete = tx.prepare_cached(sql::DELETE_MEMBERSHIP).map_err(backend("prepare member removal"))?;
    for &member in ids {
        delete.execute((group_id, member)).map_err(backend("remove member"))?;
    }
    Ok(())
}

/// Writes the audit entries of a change, in the change's transaction.
fn record(tx: &Transaction<'_>, audit: &[AuditEntry]) -> Result<(), StoreError> {
    if audit.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(sql::INSERT_AUDIT).map_err(backend("prepare audit entry"))?;
    for e in audit {
        let (at, changes) = audit_values(e)?;
        let a = &e.actor;
        stmt.execute(params![
            at,
            e.account_id,
            e.workspace_id,
            a.kind.code(),
            a.token_id,
            a.principal_id,
            a.request_id,
            e.resource_type.name(),
            e.resource_id,
            e.operation.code(),
            changes,
        ])
        .map_err(backend("record audit entry"))?;
    }
    Ok(())
}

impl AuditRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(AuditRow {
            id: r.get(0)?,
            occurred_at: r.get(1)?,
            account_id: r.get(2)?,
            workspace_id: r.get(3)?,
            actor_kind: r.get(4)?,
            actor_token_id: r.get(5)?,
            actor_principal_id: r.get(6)?,
            request_id: r.get(7)?,
            resource_type: r.get(8)?,
            resource_id: r.get(9)?,
            operation: r.get(10)?,
            changes: r.get(11)?,
        })
    }
}

fn require_workspace_in_account(tx: &Transaction<'_>, workspace_id: i64, account_id: &str) -> Result<(), StoreError> {
    let found = tx
        .prepare_cached(sql::WORKSPACE_IN_ACCOUNT)
        .and_then(|mut s| s.exists((workspace_id, account_id)))
        .map_err(backend("check workspace"))?;
    if found {
        Ok(())
    } else {
        Err(StoreError::Backend(format!("workspace {workspace_id} is not a workspace of account {account_id}")))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_account(&self, account: &Account, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let a = account.clone();
        let audit = audit.to_vec();
        self.write(move |tx| {
            let created = nanos(a.created)?;
            tx.prepare_cached(sql::INSERT_ACCOUNT)
                .and_then(|mut s| s.execute((&a.id, &a.name, created)))
                .map_err(write_error("insert account", "id"))?;
            record(tx, &audit)
        })
        .await
    }

    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let id = id.to_string();
        self.read(move |tx| {
            let row = tx
                .prepare_cached(sql::SELECT_ACCOUNT)
                .and_then(|mut s| s.query_row([&id], account_from).optional())
                .map_err(backend("read account"))?;
            row.map(into_account).transpose()
        })
        .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(sql::SELECT_ACCOUNTS).map_err(backend("prepare accounts"))?;
            let rows = stmt.query_map([], account_from).map_err(backend("read accounts"))?;
            rows.map(|r| into_account(r.map_err(backend("read account"))?)).collect()
        })
        .await
    }

    async fn insert_workspace(&self, workspace: &Workspace, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let w = workspace.clone();
        let audit = audit.to_vec();
        self.write(move |tx| {
            let created = nanos(w.created)?;
            tx.prepare_cached(sql::INSERT_WORKSPACE)
                .and_then(|mut s| s.execute((w.id, &w.account_id, &w.name, w.identity_federation, created)))
                .map_err(write_error("insert workspace", "id"))?;
            record(tx, &audit)
        })
        .await
    }

    async fn workspace(&self, id: i64) -> Result<Option<Workspace>, StoreError> {
        self.read(move |tx| {
            let row = tx
                .prepare_cached(sql::SELECT_WORKSPACE)
                .and_then(|mut s| s.query_row([id], workspace_from).optional())
                .map_err(backend("read workspace"))?;
            row.map(into_workspace).transpose()
        })
        .await
    }

    async fn workspaces(&self, account_id: &str) -> Result<Vec<Workspace>, StoreError> {
        let account_id = account_id.to_string();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(sql::SELECT_WORKSPACES).map_err(backend("prepare workspaces"))?;
            let rows = stmt.query_map([&account_id], workspace_from).map_err(backend("read workspaces"))?;
            rows.map(|r| into_workspace(r.map_err(backend("read workspace"))?)).collect()
        })
        .await
    }

    async fn delete_workspace(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        // Workspace-local principals take their memberships and assignments with them (ON DELETE CASCADE); tokens
        // scoped to the workspace reference it without a cascade, so they go first, explicitly.
        let audit = audit.to_vec();
        self.write(move |tx| {
            for statement in [sql::DELETE_WORKSPACE_TOKENS, sql::DELETE_WORKSPACE_PRINCIPALS] {
                tx.prepare_cached(statement).and_then(|mut s| s.execute([id])).map_err(backend("delete workspace"))?;
            }
            let n = tx
                .prepare_cached(sql::DELETE_WORKSPACE)
                .and_then(|mut s| s.execute([id]))
                .map_err(backend("delete workspace"))?;
            if n > 0 {
                record(tx, &audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn assignments(&self, workspace_id: i64) -> Result<Vec<(Principal, Permission)>, StoreError> {
        let query = sql::select_assignments(workspace_id);
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&query.text).map_err(backend("prepare assignments"))?;
            let rows = stmt
                .query_map(bind(&query), |r| Ok((PrincipalRow::read(r)?, r.get::<_, String>(8)?)))
                .map_err(backend("read assignments"))?;
            rows.map(|row| {
                let (principal, permissions) = row.map_err(backend("read assignment"))?;
                Ok((principal.into_principal()?, permission(&permissions)?))
            })
            .collect()
        })
        .await
    }

    async fn set_assignment(
        &self,
        workspace_id: i64,
        principal_id: i64,
        permission: Option<Permission>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let audit = audit.to_vec();
        self.write(move |tx| {
            let n = match permission {
                Some(p) => tx
                    .prepare_cached(sql::UPSERT_ASSIGNMENT)
                    .and_then(|mut s| s.execute((workspace_id, principal_id, p.as_str())))
                    .map_err(write_error("assign", "assignment"))?,
                None => tx
                    .prepare_cached(sql::DELETE_ASSIGNMENT)
                    .and_then(|mut s| s.execute([workspace_id, principal_id]))
                    .map_err(backend("unassign"))?,
            };
            // Removing an assignment that was not there changes nothing, and records nothing.
            if n > 0 {
                record(tx, &audit)?;
            }
            Ok(())
        })
        .await
    }

    async fn effective_permission(
        &self,
        workspace_id: i64,
        principal_id: i64,
    ) -> Result<Option<Permission>, StoreError> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached(sql::SELECT_EFFECTIVE_PERMISSIONS).map_err(backend("prepare permission"))?;
            let rows = stmt
                .query_map([principal_id, workspace_id], |r| r.get::<_, String>(0))
                .map_err(backend("read permission"))?;
            let mut best = None;
            for row in rows {
                best = best.max(Some(permission(&row.map_err(backend("read permission"))?)?));
            }
            Ok(best)
        })
        .await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.read(move |tx| {
            tx.prepare_cached(sql::SELECT_SETTING)
                .and_then(|mut s| s.query_row([&key], |r| r.get(0)).optional())
                .map_err(backend("read setting"))
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |tx| {
            tx.prepare_cached(sql::UPSERT_SETTING)
                .and_then(|mut s| s.execute((&key, &value)))
                .map_err(backend("write setting"))?;
            Ok(())
        })
        .await
    }

    async fn claim_setting(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |tx| {
            let n = tx
                .prepare_cached(sql::INSERT_SETTING_IF_ABSENT)
                .and_then(|mut s| s.execute((&key, &value)))
                .map_err(backend("claim setting"))?;
            Ok(n == 1)
        })
        .await
    }

    async fn insert_token(&self, token: &Token, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let t = token.clone();
        let audit = audit.to_vec();
        self.write(move |tx| {
            let workspace_id = match &t.scope {
                TokenScope::Account { .. } => None,
                TokenScope::Workspace { workspace_id, .. } => Some(*workspace_id),
            };
            let (created, expires) = (nanos(t.created)?, t.expires.map(nanos).transpose()?);
            tx.prepare_cached(sql::INSERT_TOKEN)
                .and_then(|mut s| {
                    s.execute(params![
                        t.id,
                        t.hash.0.as_slice(),
                        t.scope.account_id(),
                        workspace_id,
                        t.principal_id,
                        t.comment,
                        created,
                        expires,
                        t.kind.code(),
                    ])
                })
                .map_err(write_error("insert token", "hash"))?;
            record(tx, &audit)
        })
        .await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
        let hash = *hash;
        self.read(move |tx| {
            let row = tx
                .prepare_cached(sql::SELECT_TOKEN_BY_HASH)
                .and_then(|mut s| s.query_row([hash.0.as_slice()], TokenRow::read).optional())
                .map_err(backend("read token"))?;
            row.map(TokenRow::into_token).transpose()
        })
        .await
    }

    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        let id = id.to_string();
        self.read(move |tx| {
            let row = tx
                .prepare_cached(sql::SELECT_TOKEN_BY_ID)
                .and_then(|mut s| s.query_row([&id], TokenRow::read).optional())
                .map_err(backend("read token"))?;
            row.map(TokenRow::into_token).transpose()
        })
        .await
    }

    async fn tokens(&self, account_id: &str, filter: &TokenFilter) -> Result<Vec<Token>, StoreError> {
        let query = sql::select_tokens(account_id, filter);
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&query.text).map_err(backend("prepare tokens"))?;
            let rows = stmt.query_map(bind(&query), TokenRow::read).map_err(backend("read tokens"))?;
            rows.map(|row| row.map_err(backend("read token"))?.into_token()).collect()
        })
        .await
    }

    async fn set_token_expiry(
        &self,
        id: &str,
        expires: Option<OffsetDateTime>,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let id = id.to_string();
        let audit = audit.to_vec();
        self.write(move |tx| {
            let expires = expires.map(nanos).transpose()?;
            let n = tx
                .prepare_cached(sql::UPDATE_TOKEN_EXPIRY)
                .and_then(|mut s| s.execute(params![expires, id]))
                .map_err(backend("set token expiry"))?;
            if n > 0 {
                record(tx, &audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn delete_token(&self, id: &str, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        let id = id.to_string();
        let audit = audit.to_vec();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(sql::DELETE_TOKEN)
                .and_then(|mut s| s.execute([&id]))
                .map_err(backend("delete token"))?;
            if n > 0 {
                record(tx, &audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn insert_principal(
        &self,
        principal: &Principal,
        members: &[NewMember],
        assign_to: Option<i64>,
        values: Option<&(i64, Vec<ValueOp>)>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let p = principal.clone();
        let members = members.to_vec();
        let values = values.cloned();
        let audit = audit.to_vec();
        self.write(move |tx| {
            let home = match p.home {
                Home::Account => 0,
                Home::Workspace(w) => {
                    require_workspace_in_account(tx, w, &p.account_id)?;
                    w
                }
            };
            let Indexed { fields: f, display_key, doc } = Indexed::of(p.kind, &p.doc)?;
            let (created, last_modified) = (nanos(p.created)?, nanos(p.last_modified)?);
            tx.prepare_cached(sql::INSERT_PRINCIPAL)
                .and_then(|mut s| {
                    s.execute(params![
                        p.id,
                        p.kind.code(),
                        p.account_id,
                        home,
                        f.unique,
                        f.unique_key,
                        f.external_id,
                        f.display_name,
                        display_key,
                        f.active,
                        doc,
                        p.version,
                        created,
                        last_modified,
                    ])
                })
                .map_err(write_error("insert principal", p.kind.unique_attribute()))?;
            if !members.is_empty() {
                require_group(p.kind, p.id)?;
                add_members(tx, p.id, &p.account_id, &members)?;
            }
            if let Some(w) = assign_to {
                let n = tx
                    .prepare_cached(sql::INSERT_ASSIGNMENT)
                    .and_then(|mut s| s.execute((p.id, w, &p.account_id)))
                    .map_err(backend("assign principal"))?;
                if n == 0 {
                    return Err(StoreError::Backend(format!(
                        "workspace {w} is not a workspace of account {}",
                        p.account_id
                    )));
                }
            }
            if let Some((workspace_id, ops)) = &values {
                apply_value_ops(tx, *workspace_id, p.id, ops)?;
            }
            record(tx, &audit)
        })
        .await
    }

    async fn principal(
        &self,
        scope: &Scope,
        kind: Option<PrincipalKind>,
        id: i64,
    ) -> Result<Option<Principal>, StoreError> {
        let query = sql::select_principal(scope, kind, id);
        self.read(move |tx| query_principal(tx, &query)).await
    }

    async fn principals(&self, scope: &Scope, ids: &[i64]) -> Result<Vec<Principal>, StoreError> {
        // Point lookups by primary key with one cached statement: as cheap per id as an IN list, without a
        // statement shape (and a parameter limit) per list length.
        let unique: HashSet<i64> = ids.iter().copied().collect();
        let queries: Vec<Sql> = unique.into_iter().map(|id| sql::select_principal(scope, None, id)).collect();
        self.read(move |tx| {
            let mut found = Vec::with_capacity(queries.len());
            for q in &queries {
                found.extend(query_principal(tx, q)?);
            }
            Ok(found)
        })
        .await
    }

    async fn members(&self, group_id: i64) -> Result<Vec<Member>, StoreError> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(sql::SELECT_MEMBERS).map_err(backend("prepare members"))?;
            let rows = stmt
                .query_map([group_id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(backend("read members"))?;
            rows.map(|row| {
                let (id, code, display, given_reference, given_display) = row.map_err(backend("read member"))?;
                Ok(Member { id, kind: kind(&code)?, display, given_reference, given_display })
            })
            .collect()
        })
        .await
    }

    async fn workspace_values(&self, workspace_id: i64, principal_id: i64) -> Result<WorkspaceValues, StoreError> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(sql::SELECT_WORKSPACE_VALUES).map_err(backend("prepare values"))?;
            let rows = stmt
                .query_map([workspace_id, principal_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(backend("read values"))?;
            let mut out: WorkspaceValues = Vec::new();
            for row in rows {
                let (attribute, value) = row.map_err(backend("read value"))?;
                match out.last_mut() {
                    Some((a, values)) if *a == attribute => values.push(value),
                    _ => out.push((attribute, vec![value])),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn count_members(&self, group_id: i64, cap: usize) -> Result<usize, StoreError> {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(sql::COUNT_MEMBERS).map_err(backend("prepare member count"))?;
            let n: i64 = stmt.query_row([group_id, cap], |r| r.get(0)).map_err(backend("count members"))?;
            Ok(usize::try_from(n).unwrap_or_default())
        })
        .await
    }

    async fn groups_of(&self, scope: &Scope, principal_id: i64) -> Result<Vec<GroupRef>, StoreError> {
        let query = sql::select_groups_of(scope, principal_id);
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&query.text).map_err(backend("prepare groups"))?;
            let rows = stmt
                .query_map(bind(&query), |r| {
                    Ok(GroupRef { id: r.get(0)?, display: r.get(1)?, direct: r.get::<_, i64>(2)? == 1 })
                })
                .map_err(backend("read groups"))?;
            rows.map(|row| row.map_err(backend("read group"))).collect()
        })
        .await
    }

    async fn update_principal(&self, update: &PrincipalUpdate, audit: &[AuditEntry]) -> Result<i64, StoreError> {
        let u = update.clone();
        let audit = audit.to_vec();
        self.write(move |tx| {
            let current: Option<(String, String, i64)> = tx
                .prepare_cached(sql::SELECT_FOR_UPDATE)
                .and_then(|mut s| s.query_row([u.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
                .map_err(backend("read principal version"))?;
            // A principal deleted since it was read has changed too: the caller re-reads and finds it gone.
            let Some((code, account_id, version)) = current else { return Err(StoreError::VersionMismatch) };
            if u.expected_version.is_some_and(|expected| expected != version) {
                return Err(StoreError::VersionMismatch);
            }
            let kind = kind(&code)?;
            if let Some(doc) = &u.doc {
                let Indexed { fields: f, display_key, doc } = Indexed::of(kind, doc)?;
                tx.prepare_cached(sql::UPDATE_PRINCIPAL_DOC)
                    .and_then(|mut s| {
                        s.execute(params![
                            f.unique,
                            f.unique_key,
                            f.external_id,
                            f.display_name,
                            display_key,
                            f.active,
                            doc,
                            u.id
                        ])
                    })
                    .map_err(write_error("update principal", kind.unique_attribute()))?;
            }
            if !u.members.is_empty() {
                require_group(kind, u.id)?;
            }
            for op in &u.members {
                match op {
                    MemberOp::Add(ids) => add_members(tx, u.id, &account_id, ids)?,
                    MemberOp::Remove(ids) => remove_members(tx, u.id, ids)?,
                    MemberOp::Clear => {
                        tx.prepare_cached(sql::DELETE_MEMBERSHIPS)
                            .and_then(|mut s| s.execute([u.id]))
                            .map_err(backend("clear members"))?;
                    }
                }
            }
            if let Some((workspace_id, ops)) = &u.workspace_values {
                apply_value_ops(tx, *workspace_id, u.id, ops)?;
            }
            let last_modified = nanos(u.last_modified)?;
            // The writer connection serialises writes, so version + 1 read in this transaction is exact.
            tx.prepare_cached(sql::BUMP_VERSION)
                .and_then(|mut s| s.execute((version + 1, last_modified, u.id)))
                .map_err(backend("update version"))?;
            record(tx, &audit)?;
            Ok(version + 1)
        })
        .await
    }

    async fn delete_principal(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        // Memberships (both ways), assignments and tokens go with it: ON DELETE CASCADE.
        let audit = audit.to_vec();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(sql::DELETE_PRINCIPAL)
                .and_then(|mut s| s.execute([id]))
                .map_err(backend("delete principal"))?;
            if n > 0 {
                record(tx, &audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn list_principals(
        &self,
        scope: &Scope,
        kind: PrincipalKind,
        spec: &ListSpec<'_>,
    ) -> Result<Listing, StoreError> {
        let query = sql::list_query::<Sqlite>(scope, kind, spec);
        self.read(move |tx| match query {
            ListQuery::Page { count, items } => {
                let total: i64 = tx
                    .prepare_cached(&count.text)
                    .and_then(|mut s| s.query_row(bind(&count), |r| r.get(0)))
                    .map_err(backend("count principals"))?;
                let items = query_principals(tx, &items)?;
                Ok(Listing::Page { total: usize::try_from(total).unwrap_or_default(), items })
            }
            ListQuery::Candidates(items) => Ok(Listing::Candidates(query_principals(tx, &items)?)),
        })
        .await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let q = sql::select_audit(query)?;
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&q.text).map_err(backend("prepare audit query"))?;
            let rows = stmt.query_map(bind(&q), AuditRow::read).map_err(backend("read audit log"))?;
            rows.map(|row| row.map_err(backend("read audit entry"))?.into_record()).collect()
        })
        .await
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = nanos_bound(before);
        let mut total = 0u64;
        loop {
            // One transaction per batch: other writers get the writer connection between batches.
            let n = self
                .write(move |tx| {
                    tx.prepare_cached(sql::PURGE_AUDIT)
                        .and_then(|mut s| s.execute([before, sql::PURGE_BATCH]))
                        .map_err(backend("purge audit log"))
                })
                .await?;
            total += n as u64;
            if (n as i64) < sql::PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}
