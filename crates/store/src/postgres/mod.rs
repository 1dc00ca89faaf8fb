//! The PostgreSQL implementation of the core's [`Store`]: everything PostgreSQL-specific lives under this module (the
//! schema in [`migrations`], the connection pool, the [`Dialect`] spelling, `$n` placeholders, SQLSTATE codes, row
//! mapping, row locks); the statements themselves come from [`crate::sql`].

mod migrations;

use crate::codec::{AuditRow, Indexed, audit_values, kind, nanos, nanos_bound, permission, require_group, time};
use std::collections::HashSet;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction as DbTransaction};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{IsolationLevel, NoTls, Row, Transaction};

use crate::sql::{self, Dialect, ListQuery, Param, Sql};
use idplane_core::assignment::Permission;
use idplane_core::audit::{AuditEntry, AuditQuery, AuditRecord};
use idplane_core::error::StoreError;
use idplane_core::principal::{GroupRef, Home, Member, Principal, PrincipalKind};
use idplane_core::store::{
    ListSpec, Listing, MemberOp, NewMember, PrincipalUpdate, Store, TokenFilter, ValueOp, WorkspaceValues,
};
use idplane_core::tenancy::{Account, Scope, Workspace};
use idplane_core::token::{Token, TokenHash, TokenKind, TokenScope};

/// The most connections one store opens.
const POOL_SIZE: usize = 16;

/// The PostgreSQL store: a pool of connections to one database, migrated when it connects.
///
/// Cloning is cheap and shares the pool. Every write is one transaction; an update locks the principal's row
/// (`SELECT ... FOR UPDATE`), so concurrent writers, in this process or another, apply one after the other and
/// versions never skip or repeat. Reads run in a read-only `REPEATABLE READ` transaction, so that the statements of
/// one read (a count and a page) see one snapshot.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and applies pending migrations.
    /// Refuses a database written by a newer idplane. Must be called within a tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        let store = PgStore { pool };
        let mut client = store.client().await?;
        let tx = client.transaction().await.map_err(backend("begin migration"))?;
        migrations::migrate(&tx).await?;
        tx.commit().await.map_err(backend("commit migration"))?;
        tracing::debug!("connected to PostgreSQL store");
        Ok(store)
    }

    /// The schema version of the database (the number of migrations applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])
            .await
            .map_err(backend("read schema version"))?;
        let version: Option<i64> = row.try_get(0).map_err(backend("read schema version"))?;
        Ok(version.unwrap_or(0))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Backend(format!("PostgreSQL connection: {e}")))
    }
}

/// PostgreSQL's spelling of the expressions that differ between dialects.
pub(crate) struct Postgres;

impl Dialect for Postgres {
    fn contains(haystack: &str, needle: &str) -> String {
        format!("strpos({haystack}, {needle}) > 0")
    }
}

/// The statement with its `?` placeholders renumbered `$1, $2, ...` (none occurs inside a quoted literal, which is
/// skipped anyway).
pub(crate) fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut n, mut quoted) = (0, false);
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// The parameter types of a built statement, declared rather than inferred: PostgreSQL cannot infer the type of a
/// placeholder in every position the shared SQL uses (a select list, a recursive CTE's seed).
fn types(s: &Sql) -> Vec<Type> {
    s.params
        .iter()
        .map(|p| match p {
            Param::Int(_) => Type::INT8,
            Param::Text(_) => Type::TEXT,
            Param::Bool(_) => Type::BOOL,
        })
        .collect()
}

fn values(s: &Sql) -> Vec<&(dyn ToSql + Sync)> {
    s.params
        .iter()
        .map(|p| match p {
            Param::Int(n) => n as &(dyn ToSql + Sync),
            Param::Text(t) => t as &(dyn ToSql + Sync),
            Param::Bool(b) => b as &(dyn ToSql + Sync),
        })
        .collect()
}

/// Statements kept prepared per connection at most.
const STATEMENT_CACHE: usize = 256;

/// The statement `text`, prepared once per connection: preparing costs a round trip, a parse and a plan, more than
/// most lookups themselves. Listings vary with the shape of their filter, so the cache is emptied when it is full
/// rather than allowed to grow with every shape clients send.
async fn prepared(
    tx: &DbTransaction<'_>,
    text: &str,
    types: &[Type],
) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
    if tx.statement_cache.size() >= STATEMENT_CACHE {
        tx.statement_cache.clear();
    }
    tx.prepare_typed_cached(text, types).await
}

/// Runs a built query.
async fn query(tx: &DbTransaction<'_>, s: &Sql, context: &'static str) -> Result<Vec<Row>, StoreError> {
    let stmt = prepared(tx, &numbered(&s.text), &types(s)).await.map_err(backend(context))?;
    tx.query(&stmt, &values(s)).await.map_err(backend(context))
}

/// Runs a fixed statement of [`crate::sql`], its placeholders typed by PostgreSQL's inference.
async fn run(
    tx: &Transaction<'_>,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(&numbered(statement), params).await
}

async fn fetch(
    tx: &DbTransaction<'_>,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let stmt = prepared(tx, &numbered(statement), &[]).await?;
    tx.query(&stmt, params).await
}

async fn fetch_opt(
    tx: &DbTransaction<'_>,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let stmt = prepared(tx, &numbered(statement), &[]).await?;
    tx.query_opt(&stmt, params).await
}

// ---- errors and values ----

/// Maps an error to [`StoreError::Backend`], saying what was being done.
pub(crate) fn backend(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| match e.as_db_error() {
        Some(db) => StoreError::Backend(format!("{context}: {}: {}", db.code().code(), db.message())),
        None => StoreError::Backend(format!("{context}: {e}")),
    }
}

/// Like [`backend`], but a violated primary key is a conflict on `id`, and any other violated unique index or
/// constraint (`principals_unique`, `tokens_hash_key`) a conflict on `unique`.
fn write_error(context: &'static str, unique: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| match e.as_db_error() {
        Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => match db.constraint() {
            Some(c) if c.ends_with("_pkey") => StoreError::Conflict("id"),
            _ => StoreError::Conflict(unique),
        },
        _ => backend(context)(e),
    }
}

/// Reads column `i` of a row.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i).map_err(backend("read row"))
}

// ---- rows ----

/// A principal from a row as [`sql::PRINCIPAL_COLUMNS`] selects it.
fn principal_from(r: &Row) -> Result<Principal, StoreError> {
    let id: i64 = get(r, 0)?;
    let home: i64 = get(r, 3)?;
    let doc: String = get(r, 4)?;
    Ok(Principal {
        id,
        kind: kind(get(r, 1)?)?,
        account_id: get(r, 2)?,
        home: if home == 0 { Home::Account } else { Home::Workspace(home) },
        doc: serde_json::from_str(&doc).map_err(|e| StoreError::Backend(format!("document of principal {id}: {e}")))?,
        version: get(r, 5)?,
        created: time(get(r, 6)?)?,
        last_modified: time(get(r, 7)?)?,
    })
}

/// A token from a row in the order of [`sql::TOKEN_COLUMNS`].
fn token_from(r: &Row) -> Result<Token, StoreError> {
    let id: String = get(r, 0)?;
    let hash: Vec<u8> = get(r, 1)?;
    let hash: [u8; 32] =
        hash.try_into().map_err(|_| StoreError::Backend(format!("token {id} has a malformed hash")))?;
    let account_id: String = get(r, 2)?;
    let code: String = get(r, 8)?;
    let kind = TokenKind::from_code(&code)
        .ok_or_else(|| StoreError::Backend(format!("token {id} has an unknown kind {code:?}")))?;
    let scope = match get::<Option<i64>>(r, 3)? {
        None => TokenScope::Account { account_id },
        Some(workspace_id) => TokenScope::Workspace { account_id, workspace_id },
    };
    Ok(Token {
        hash: TokenHash(hash),
        kind,
        scope,
        principal_id: get(r, 4)?,
        comment: get(r, 5)?,
        created: time(get(r, 6)?)?,
        expires: get::<Option<i64>>(r, 7)?.map(time).transpose()?,
        id,
    })
}

fn account_from(r: &Row) -> Result<Account, StoreError> {
    Ok(Account { id: get(r, 0)?, name: get(r, 1)?, created: time(get(r, 2)?)? })
}

fn workspace_from(r: &Row) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: get(r, 0)?,
        account_id: get(r, 1)?,
        name: get(r, 2)?,
        identity_federation: get(r, 3)?,
        created: time(get(r, 4)?)?,
    })
}

// ---- writes shared by insert and update ----

/// Adds members to a group: one existence probe and one insert per new member. A group never becomes its own member;
/// asking for it is a no-op. A member deleted by a concurrent transaction between the probe and the insert violates
/// the foreign key: a missing reference too.
async fn add_members(
    tx: &Transaction<'_>,
    group_id: i64,
    account_id: &str,
    members: &[NewMember],
) -> Result<(), StoreError> {
    let exists = tx.prepare(&numbered(sql::PRINCIPAL_IN_ACCOUNT)).await.map_err(backend("prepare member check"))?;
    let insert = tx.prepare(&numbered(sql::INSERT_MEMBERSHIP)).await.map_err(backend("prepare member insert"))?;
    for m in members.iter().filter(|m| m.id != group_id) {
        if tx.query_opt(&exists, &[&m.id, &account_id]).await.map_err(backend("check member"))?.is_none() {
            return Err(StoreError::MissingReference(m.id));
        }
        tx.execute(&insert, &[&group_id, &m.id, &m.reference, &m.display]).await.map_err(|e| {
            match e.as_db_error() {
                Some(db) if *db.code() == SqlState::FOREIGN_KEY_VIOLATION => StoreError::MissingReference(m.id),
                _ => backend("add member")(e),
            }
        })?;
    }
    Ok(())
}

async fn apply_value_ops(
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
                let stmt = tx.prepare(&numbered(statement)).await.map_err(backend("prepare value change"))?;
                for value in values {
                    tx.execute(&stmt, &[&workspace_id, &principal_id, attribute, value])
                        .await
                        .map_err(write_error("change workspace value", "value"))?;
                }
            }
            ValueOp::Clear { attribute } => {
                run(tx, sql::CLEAR_WORKSPACE_VALUES, &[&workspace_id, &principal_id, attribute])
                    .await
                    .map_err(backend("clear workspace values"))?;
            }
        }
    }
    Ok(())
}

async fn require_workspace_in_account(
    tx: &DbTransaction<'_>,
    workspace_id: i64,
    account_id: &str,
) -> Result<(), StoreError> {
    let found = fetch_opt(tx, sql::WORKSPACE_IN_ACCOUNT, &[&workspace_id, &account_id])
        .await
        .map_err(backend("check workspace"))?;
    match found {
        Some(_) => Ok(()),
        None => {
            Err(StoreError::Backend(format!("workspace {workspace_id} is not a workspace of account {account_id}")))
        }
    }
}

/// Writes the audit entries of a change, in the change's transaction.
async fn record(tx: &Transaction<'_>, audit: &[AuditEntry]) -> Result<(), StoreError> {
    if audit.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare(&numbered(sql::INSERT_AUDIT)).await.map_err(backend("prepare audit entry"))?;
    for e in audit {
        let (at, changes) = audit_values(e)?;
        let a = &e.actor;
        tx.execute(
            &stmt,
            &[
                &at,
                &e.account_id,
                &e.workspace_id,
                &a.kind.code(),
                &a.token_id,
                &a.principal_id,
                &a.request_id,
                &e.resource_type.name(),
                &e.resource_id,
                &e.operation.code(),
                &changes,
            ],
        )
        .await
        .map_err(backend("record audit entry"))?;
    }
    Ok(())
}

fn audit_from(r: &Row) -> Result<AuditRecord, StoreError> {
    AuditRow {
        id: get(r, 0)?,
        occurred_at: get(r, 1)?,
        account_id: get(r, 2)?,
        workspace_id: get(r, 3)?,
        actor_kind: get(r, 4)?,
        actor_token_id: get(r, 5)?,
        actor_principal_id: get(r, 6)?,
        request_id: get(r, 7)?,
        resource_type: get(r, 8)?,
        resource_id: get(r, 9)?,
        operation: get(r, 10)?,
        changes: get(r, 11)?,
    }
    .into_record()
}

/// Begins a write transaction.
async fn begin(client: &mut deadpool_postgres::Object) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    client.transaction().await.map_err(backend("begin"))
}

/// Begins a read: one snapshot for all its statements.
async fn begin_read(client: &mut deadpool_postgres::Object) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(backend("begin read"))
}

async fn commit(tx: deadpool_postgres::Transaction<'_>) -> Result<(), StoreError> {
    tx.commit().await.map_err(backend("commit"))
}

#[async_trait]
impl Store for PgStore {
    async fn insert_account(&self, account: &Account, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let created = nanos(account.created)?;
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        run(&tx, sql::INSERT_ACCOUNT, &[&account.id, &account.name, &created])
            .await
            .map_err(write_error("insert account", "id"))?;
        record(&tx, audit).await?;
        commit(tx).await
    }

    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let row = fetch_opt(&tx, sql::SELECT_ACCOUNT, &[&id]).await.map_err(backend("read account"))?;
        row.as_ref().map(account_from).transpose()
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = fetch(&tx, sql::SELECT_ACCOUNTS, &[]).await.map_err(backend("read accounts"))?;
        rows.iter().map(account_from).collect()
    }

    async fn insert_workspace(&self, workspace: &Workspace, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let w = workspace;
        let created = nanos(w.created)?;
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        run(&tx, sql::INSERT_WORKSPACE, &[&w.id, &w.account_id, &w.name, &w.identity_federation, &created])
            .await
            .map_err(write_error("insert workspace", "id"))?;
        record(&tx, audit).await?;
        commit(tx).await
    }

    async fn workspace(&self, id: i64) -> Result<Option<Workspace>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let row = fetch_opt(&tx, sql::SELECT_WORKSPACE, &[&id]).await.map_err(backend("read workspace"))?;
        row.as_ref().map(workspace_from).transpose()
    }

    async fn workspaces(&self, account_id: &str) -> Result<Vec<Workspace>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = fetch(&tx, sql::SELECT_WORKSPACES, &[&account_id]).await.map_err(backend("read workspaces"))?;
        rows.iter().map(workspace_from).collect()
    }

    async fn delete_workspace(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        // Workspace-local principals take their memberships and assignments with them (ON DELETE CASCADE); tokens
        // scoped to the workspace reference it without a cascade, so they go first, explicitly.
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        for statement in [sql::DELETE_WORKSPACE_TOKENS, sql::DELETE_WORKSPACE_PRINCIPALS] {
            run(&tx, statement, &[&id]).await.map_err(backend("delete workspace"))?;
        }
        let n = run(&tx, sql::DELETE_WORKSPACE, &[&id]).await.map_err(backend("delete workspace"))?;
        if n > 0 {
            record(&tx, audit).await?;
        }
        commit(tx).await?;
        Ok(n > 0)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let row = fetch_opt(&tx, sql::SELECT_SETTING, &[&key]).await.map_err(backend("read setting"))?;
        row.as_ref().map(|r| get(r, 0)).transpose()
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        run(&tx, sql::UPSERT_SETTING, &[&key, &value]).await.map_err(backend("write setting"))?;
        commit(tx).await
    }

    async fn claim_setting(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = run(&tx, sql::INSERT_SETTING_IF_ABSENT, &[&key, &value]).await.map_err(backend("claim setting"))?;
        commit(tx).await?;
        Ok(n == 1)
    }

    async fn assignments(&self, workspace_id: i64) -> Result<Vec<(Principal, Permission)>, StoreError> {
        let q = sql::select_assignments(workspace_id);
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = query(&tx, &q, "read assignments").await?;
        rows.iter().map(|r| Ok((principal_from(r)?, permission(get(r, 8)?)?))).collect()
    }

    async fn set_assignment(
        &self,
        workspace_id: i64,
        principal_id: i64,
        permission: Option<Permission>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = match permission {
            Some(p) => run(&tx, sql::UPSERT_ASSIGNMENT, &[&workspace_id, &principal_id, &p.as_str()])
                .await
                .map_err(write_error("assign", "assignment"))?,
            None => {
                run(&tx, sql::DELETE_ASSIGNMENT, &[&workspace_id, &principal_id]).await.map_err(backend("unassign"))?
            }
        };
        // Removing an assignment that was not there changes nothing, and records nothing.
        if n > 0 {
            record(&tx, audit).await?;
        }
        commit(tx).await
    }

    async fn effective_permission(
        &self,
        workspace_id: i64,
        principal_id: i64,
    ) -> Result<Option<Permission>, StoreError> {
        let mut s = Sql::new("");
        s.text = sql::SELECT_EFFECTIVE_PERMISSIONS.to_string();
        s.params = vec![Param::Int(principal_id), Param::Int(workspace_id)];
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = query(&tx, &s, "read permission").await?;
        let mut best = None;
        for row in &rows {
            best = best.max(Some(permission(get(row, 0)?)?));
        }
        Ok(best)
    }

    async fn insert_token(&self, token: &Token, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let t = token;
        let workspace_id = match &t.scope {
            TokenScope::Account { .. } => None,
            TokenScope::Workspace { workspace_id, .. } => Some(*workspace_id),
        };
        let (created, expires) = (nanos(t.created)?, t.expires.map(nanos).transpose()?);
        let hash = t.hash.0.as_slice();
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        run(
            &tx,
            sql::INSERT_TOKEN,
            &[
                &t.id,
                &hash,
                &t.scope.account_id(),
                &workspace_id,
                &t.principal_id,
                &t.comment,
                &created,
                &expires,
                &t.kind.code(),
            ],
        )
        .await
        .map_err(write_error("insert token", "hash"))?;
        record(&tx, audit).await?;
        commit(tx).await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
        let hash = hash.0.as_slice();
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let row = fetch_opt(&tx, sql::SELECT_TOKEN_BY_HASH, &[&hash]).await.map_err(backend("read token"))?;
        row.as_ref().map(token_from).transpose()
    }

    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let row = fetch_opt(&tx, sql::SELECT_TOKEN_BY_ID, &[&id]).await.map_err(backend("read token"))?;
        row.as_ref().map(token_from).transpose()
    }

    async fn tokens(&self, account_id: &str, filter: &TokenFilter) -> Result<Vec<Token>, StoreError> {
        let q = sql::select_tokens(account_id, filter);
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = query(&tx, &q, "read tokens").await?;
        rows.iter().map(token_from).collect()
    }

    async fn set_token_expiry(
        &self,
        id: &str,
        expires: Option<OffsetDateTime>,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let expires = expires.map(nanos).transpose()?;
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = run(&tx, sql::UPDATE_TOKEN_EXPIRY, &[&expires, &id]).await.map_err(backend("set token expiry"))?;
        if n > 0 {
            record(&tx, audit).await?;
        }
        commit(tx).await?;
        Ok(n > 0)
    }

    async fn delete_token(&self, id: &str, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = run(&tx, sql::DELETE_TOKEN, &[&id]).await.map_err(backend("delete token"))?;
        if n > 0 {
            record(&tx, audit).await?;
        }
        commit(tx).await?;
        Ok(n > 0)
    }

    async fn insert_principal(
        &self,
        principal: &Principal,
        members: &[NewMember],
        assign_to: Option<i64>,
        workspace_values: Option<&(i64, Vec<ValueOp>)>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let p = principal;
        let Indexed { fields: f, display_key, doc } = Indexed::of(p.kind, &p.doc)?;
        let (created, last_modified) = (nanos(p.created)?, nanos(p.last_modified)?);
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let home = match p.home {
            Home::Account => 0,
            Home::Workspace(w) => {
                require_workspace_in_account(&tx, w, &p.account_id).await?;
                w
            }
        };
        run(
            &tx,
            sql::INSERT_PRINCIPAL,
            &[
                &p.id,
                &p.kind.code(),
                &p.account_id,
                &home,
                &f.unique,
                &f.unique_key,
                &f.external_id,
                &f.display_name,
                &display_key,
                &f.active,
                &doc,
                &p.version,
                &created,
                &last_modified,
            ],
        )
        .await
        .map_err(write_error("insert principal", p.kind.unique_attribute()))?;
        if !members.is_empty() {
            require_group(p.kind, p.id)?;
            add_members(&tx, p.id, &p.account_id, members).await?;
        }
        if let Some(w) = assign_to {
            let mut s = Sql::new("");
            s.text = sql::INSERT_ASSIGNMENT.to_string();
            s.params = vec![Param::Int(p.id), Param::Int(w), Param::Text(p.account_id.clone())];
            let stmt = tx.prepare_typed(&numbered(&s.text), &types(&s)).await.map_err(backend("assign principal"))?;
            let n = tx.execute(&stmt, &values(&s)).await.map_err(backend("assign principal"))?;
            if n == 0 {
                return Err(StoreError::Backend(format!(
                    "workspace {w} is not a workspace of account {}",
                    p.account_id
                )));
            }
        }
        if let Some((workspace_id, ops)) = workspace_values {
            apply_value_ops(&tx, *workspace_id, p.id, ops).await?;
        }
        record(&tx, audit).await?;
        commit(tx).await
    }

    async fn principal(
        &self,
        scope: &Scope,
        kind: Option<PrincipalKind>,
        id: i64,
    ) -> Result<Option<Principal>, StoreError> {
        let q = sql::select_principal(scope, kind, id);
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = query(&tx, &q, "read principal").await?;
        rows.first().map(principal_from).transpose()
    }

    async fn principals(&self, scope: &Scope, ids: &[i64]) -> Result<Vec<Principal>, StoreError> {
        let unique: HashSet<i64> = ids.iter().copied().collect();
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let mut found = Vec::with_capacity(unique.len());
        for id in unique {
            let rows = query(&tx, &sql::select_principal(scope, None, id), "read principal").await?;
            if let Some(r) = rows.first() {
                found.push(principal_from(r)?);
            }
        }
        Ok(found)
    }

    async fn members(&self, group_id: i64) -> Result<Vec<Member>, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = fetch(&tx, sql::SELECT_MEMBERS, &[&group_id]).await.map_err(backend("read members"))?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    id: get(r, 0)?,
                    kind: kind(get(r, 1)?)?,
                    display: get(r, 2)?,
                    given_reference: get(r, 3)?,
                    given_display: get(r, 4)?,
                })
            })
            .collect()
    }

    async fn workspace_values(&self, workspace_id: i64, principal_id: i64) -> Result<WorkspaceValues, StoreError> {
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = fetch(&tx, sql::SELECT_WORKSPACE_VALUES, &[&workspace_id, &principal_id])
            .await
            .map_err(backend("read values"))?;
        let mut out: WorkspaceValues = Vec::new();
        for r in &rows {
            let (attribute, value): (String, String) = (get(r, 0)?, get(r, 1)?);
            match out.last_mut() {
                Some((a, values)) if *a == attribute => values.push(value),
                _ => out.push((attribute, vec![value])),
            }
        }
        Ok(out)
    }

    async fn count_members(&self, group_id: i64, cap: usize) -> Result<usize, StoreError> {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let row = fetch_opt(&tx, sql::COUNT_MEMBERS, &[&group_id, &cap]).await.map_err(backend("count members"))?;
        let n: i64 = row.as_ref().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
        Ok(usize::try_from(n).unwrap_or_default())
    }

    async fn groups_of(&self, scope: &Scope, principal_id: i64) -> Result<Vec<GroupRef>, StoreError> {
        let q = sql::select_groups_of(scope, principal_id);
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = query(&tx, &q, "read groups").await?;
        rows.iter()
            .map(|r| Ok(GroupRef { id: get(r, 0)?, display: get(r, 1)?, direct: get::<i32>(r, 2)? == 1 }))
            .collect()
    }

    async fn update_principal(&self, update: &PrincipalUpdate, audit: &[AuditEntry]) -> Result<i64, StoreError> {
        let u = update;
        let last_modified = nanos(u.last_modified)?;
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // The row lock makes concurrent updates of one principal, from any process, apply one after the other: the
        // version read here is the one this transaction replaces.
        let lock = format!("{} FOR UPDATE", sql::SELECT_FOR_UPDATE);
        let current = fetch_opt(&tx, &lock, &[&u.id]).await.map_err(backend("read principal version"))?;
        // A principal deleted since it was read has changed too: the caller re-reads and finds it gone.
        let Some(current) = current else { return Err(StoreError::VersionMismatch) };
        let (code, account_id, version): (String, String, i64) =
            (get(&current, 0)?, get(&current, 1)?, get(&current, 2)?);
        if u.expected_version.is_some_and(|expected| expected != version) {
            return Err(StoreError::VersionMismatch);
        }
        let kind = kind(&code)?;
        if let Some(doc) = &u.doc {
            let Indexed { fields: f, display_key, doc } = Indexed::of(kind, doc)?;
            run(
                &tx,
                sql::UPDATE_PRINCIPAL_DOC,
                &[&f.unique, &f.unique_key, &f.external_id, &f.display_name, &display_key, &f.active, &doc, &u.id],
            )
            .await
            .map_err(write_error("update principal", kind.unique_attribute()))?;
        }
        if !u.members.is_empty() {
            require_group(kind, u.id)?;
        }
        for op in &u.members {
            match op {
                MemberOp::Add(ids) => add_members(&tx, u.id, &account_id, ids).await?,
                MemberOp::Remove(ids) => {
                    let stmt = tx
                        .prepare(&numbered(sql::DELETE_MEMBERSHIP))
                        .await
                        .map_err(backend("prepare member removal"))?;
                    for member in ids {
                        tx.execute(&stmt, &[&u.id, member]).await.map_err(backend("remove member"))?;
                    }
                }
                MemberOp::Clear => {
                    run(&tx, sql::DELETE_MEMBERSHIPS, &[&u.id]).await.map_err(backend("clear members"))?;
                }
            }
        }
        if let Some((workspace_id, ops)) = &u.workspace_values {
            apply_value_ops(&tx, *workspace_id, u.id, ops).await?;
        }
        let next = version + 1;
        run(&tx, sql::BUMP_VERSION, &[&next, &last_modified, &u.id]).await.map_err(backend("update version"))?;
        record(&tx, audit).await?;
        commit(tx).await?;
        Ok(next)
    }

    async fn delete_principal(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        // Memberships (both ways), assignments and tokens go with it: ON DELETE CASCADE.
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = run(&tx, sql::DELETE_PRINCIPAL, &[&id]).await.map_err(backend("delete principal"))?;
        if n > 0 {
            record(&tx, audit).await?;
        }
        commit(tx).await?;
        Ok(n > 0)
    }

    async fn list_principals(
        &self,
        scope: &Scope,
        kind: PrincipalKind,
        spec: &ListSpec<'_>,
    ) -> Result<Listing, StoreError> {
        let q = sql::list_query::<Postgres>(scope, kind, spec);
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        match q {
            ListQuery::Page { count, items } => {
                let rows = query(&tx, &count, "count principals").await?;
                let total: i64 = rows.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
                let items = query(&tx, &items, "list principals").await?;
                let items = items.iter().map(principal_from).collect::<Result<Vec<_>, _>>()?;
                Ok(Listing::Page { total: usize::try_from(total).unwrap_or_default(), items })
            }
            ListQuery::Candidates(items) => {
                let rows = query(&tx, &items, "list principals").await?;
                Ok(Listing::Candidates(rows.iter().map(principal_from).collect::<Result<Vec<_>, _>>()?))
            }
        }
    }

    async fn audit_entries(&self, filter: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let q = sql::select_audit(filter)?;
        let mut client = self.client().await?;
        let tx = begin_read(&mut client).await?;
        let rows = query(&tx, &q, "read audit log").await?;
        rows.iter().map(audit_from).collect()
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = nanos_bound(before);
        let mut client = self.client().await?;
        let mut total = 0u64;
        loop {
            // One transaction per batch, so that a large purge holds no lock for long.
            let tx = begin(&mut client).await?;
            let n =
                run(&tx, sql::PURGE_AUDIT, &[&before, &sql::PURGE_BATCH]).await.map_err(backend("purge audit log"))?;
            commit(tx).await?;
            total += n;
            if n < sql::PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_literals() {
        assert_eq!(
            numbered("SELECT id, ?, 'a?' FROM t WHERE x = ? AND y = ?"),
            "SELECT id, $1, 'a?' FROM t WHERE x = $2 AND y = $3"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
