//! The PostgreSQL backend: everything PostgreSQL-specific lives under this module (the schema in [`schema`], the
//! connection pool, `$n` placeholders, declared parameter types, SQLSTATE codes, value conversion); the transaction
//! scripts come from the aggregates' modules.

pub(crate) mod schema;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use idplane_core::error::StoreError;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{CancelToken, IsolationLevel, NoTls};

use crate::store::{Backend, SqlStore};
use crate::tx::{Cell, DbError, Dialect, Param, Row, Script, Tx};

/// The most connections one store opens.
const POOL_SIZE: usize = 16;
/// Statements kept prepared per connection at most.
const STATEMENT_CACHE: usize = 256;
/// The longest a statement may run by default: the server's default request time limit.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The PostgreSQL store: [`SqlStore`] over a pool of connections to one database, migrated when it connects.
///
/// Every write is one transaction; an update locks the principal's row (`SELECT ... FOR UPDATE`), so concurrent
/// writers, in this process or another, apply one after the other and versions never skip or repeat. Reads run in a
/// read-only `REPEATABLE READ` transaction, so that the statements of one read see one snapshot. A statement runs
/// at most the statement timeout (PostgreSQL's `statement_timeout`), and an operation whose caller stops waiting (a
/// request past its time limit) has its running statement cancelled.
pub type PgStore = SqlStore<Postgres>;

/// The PostgreSQL backend of [`PgStore`].
pub struct Postgres {
    pool: Pool,
}

impl SqlStore<Postgres> {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and applies pending migrations, with
    /// the default statement timeout. Refuses a database written by a newer idplane. Must be called within a tokio
    /// runtime.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_STATEMENT_TIMEOUT).await
    }

    /// [`Self::connect`] with statements stopped after `statement_timeout` (at least a millisecond).
    pub async fn connect_with(url: &str, statement_timeout: Duration) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let millis = statement_timeout.as_millis().clamp(1, i32::MAX as u128);
        let options = config.get_options().map(str::to_string).unwrap_or_default();
        config.options(format!("{options} -c statement_timeout={millis}").trim());
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        let backend = Postgres { pool };
        backend
            .write(Box::new(|tx: &mut dyn Tx| {
                Box::pin(async move { crate::schema::migrate(tx, schema::MIGRATIONS).await })
            }))
            .await?;
        tracing::debug!("connected to PostgreSQL store");
        Ok(SqlStore::new(backend))
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
}

impl Postgres {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Backend(format!("PostgreSQL connection: {e}")))
    }

    async fn run<T: Send + 'static>(&self, read_only: bool, script: Script<T>) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let cancel = CancelOnDrop(Some(client.cancel_token()));
        let mut builder = client.build_transaction();
        if read_only {
            builder = builder.isolation_level(IsolationLevel::RepeatableRead).read_only(true);
        }
        let tx = builder.start().await.map_err(|e| classify(e).during("begin"))?;
        let mut pg = PgTx { tx };
        let out = script(&mut pg).await;
        let out = match out {
            Ok(value) if !read_only => pg.tx.commit().await.map(|_| value).map_err(|e| classify(e).during("commit")),
            // A read changed nothing: dropping the transaction rolls it back.
            other => other,
        };
        cancel.disarm();
        out
    }
}

/// Cancels the statement running on a connection if dropped before disarmed (its caller stopped waiting), so that
/// the database stops working for a request nobody waits for.
struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                if let Err(e) = token.cancel_query(NoTls).await {
                    tracing::debug!(error = %e, "could not cancel a statement whose caller stopped waiting");
                }
            });
        }
    }
}

#[async_trait]
impl Backend for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn write<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError> {
        self.run(false, script).await
    }

    async fn read<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError> {
        self.run(true, script).await
    }
}

/// A transaction on a pooled connection.
struct PgTx<'c> {
    tx: deadpool_postgres::Transaction<'c>,
}

impl PgTx<'_> {
    /// The statement `sql`, with `?` placeholders renumbered and parameter types declared by the values, prepared
    /// once per connection: preparing costs a round trip, a parse and a plan, more than most lookups themselves.
    /// Listings vary with the shape of their filter, so the cache is emptied when it is full rather than allowed to
    /// grow with every shape clients send.
    async fn prepared(&self, sql: &str, params: &[Param]) -> Result<tokio_postgres::Statement, DbError> {
        if self.tx.statement_cache.size() >= STATEMENT_CACHE {
            self.tx.statement_cache.clear();
        }
        let types: Vec<Type> = params.iter().map(type_of).collect();
        self.tx.prepare_typed_cached(&numbered(sql), &types).await.map_err(classify)
    }
}

#[async_trait]
impl Tx for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let stmt = self.prepared(sql, params).await?;
        self.tx.execute(&stmt, &values(params)).await.map_err(classify)
    }

    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>, DbError> {
        let stmt = self.prepared(sql, params).await?;
        let rows = self.tx.query(&stmt, &values(params)).await.map_err(classify)?;
        rows.iter().map(row).collect()
    }

    async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.tx.batch_execute(sql).await.map_err(classify)
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

/// A parameter's type, declared rather than inferred: PostgreSQL cannot infer the type of a placeholder in every
/// position the shared SQL uses (a select list, a recursive CTE's seed).
fn type_of(p: &Param) -> Type {
    match p {
        Param::Int(_) | Param::NullInt => Type::INT8,
        Param::Text(_) | Param::NullText => Type::TEXT,
        Param::Bool(_) | Param::NullBool => Type::BOOL,
        Param::Bytes(_) => Type::BYTEA,
    }
}

static NULL_INT: Option<i64> = None;
static NULL_TEXT: Option<String> = None;
static NULL_BOOL: Option<bool> = None;

fn values(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(n) => n as &(dyn ToSql + Sync),
            Param::Text(t) => t as &(dyn ToSql + Sync),
            Param::Bool(b) => b as &(dyn ToSql + Sync),
            Param::Bytes(b) => b as &(dyn ToSql + Sync),
            Param::NullInt => &NULL_INT as &(dyn ToSql + Sync),
            Param::NullText => &NULL_TEXT as &(dyn ToSql + Sync),
            Param::NullBool => &NULL_BOOL as &(dyn ToSql + Sync),
        })
        .collect()
}

/// A row's cells, by the types PostgreSQL reports.
fn row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut cells = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let get_err = |e: tokio_postgres::Error| DbError::Other(format!("column {i}: {e}"));
        let t = column.type_();
        let cell = if *t == Type::INT8 {
            r.try_get::<_, Option<i64>>(i).map_err(get_err)?.map(Cell::Int)
        } else if *t == Type::INT4 {
            r.try_get::<_, Option<i32>>(i).map_err(get_err)?.map(|n| Cell::Int(n.into()))
        } else if *t == Type::INT2 {
            r.try_get::<_, Option<i16>>(i).map_err(get_err)?.map(|n| Cell::Int(n.into()))
        } else if *t == Type::BOOL {
            r.try_get::<_, Option<bool>>(i).map_err(get_err)?.map(|b| Cell::Int(b.into()))
        } else if *t == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i).map_err(get_err)?.map(Cell::Bytes)
        } else if *t == Type::TEXT || *t == Type::VARCHAR || *t == Type::NAME || *t == Type::BPCHAR {
            r.try_get::<_, Option<String>>(i).map_err(get_err)?.map(Cell::Text)
        } else if *t == Type::VOID {
            None
        } else {
            return Err(DbError::Other(format!("column {i} has a type the store does not read: {t}")));
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(cells))
}

/// What a PostgreSQL error means to a script.
fn classify(e: tokio_postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => {
            DbError::Unique { primary_key: db.constraint().is_some_and(|c| c.ends_with("_pkey")) }
        }
        Some(db) if *db.code() == SqlState::FOREIGN_KEY_VIOLATION => DbError::ForeignKey,
        Some(db) if *db.code() == SqlState::QUERY_CANCELED => DbError::Interrupted(db.message().to_string()),
        Some(db) => DbError::Other(format!("{}: {}", db.code().code(), db.message())),
        None => DbError::Other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The PostgreSQL server of the test suite (`scripts/test` starts one). These tests are `#[ignore]`d, and run
    /// (by `scripts/test`) only where there is one: asked to run without, they fail.
    fn server() -> anyhow::Result<String> {
        std::env::var("IDPLANE_TEST_DATABASE_URL").map_err(|_| anyhow::anyhow!("IDPLANE_TEST_DATABASE_URL is not set"))
    }

    fn sleep(seconds: u32) -> Script<i64> {
        Box::new(move |tx: &mut dyn Tx| {
            Box::pin(async move {
                tx.query(&format!("SELECT pg_sleep({seconds})"), &[]).await.map_err(|e| e.during("sleep"))?;
                Ok(0)
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: scripts/test runs it"]
    async fn a_statement_past_the_statement_timeout_is_stopped() -> anyhow::Result<()> {
        let url = server()?;
        let store = SqlStore::connect_with(&url, Duration::from_millis(200)).await?;
        let out = store.backend.read(sleep(30)).await;
        assert!(matches!(out, Err(StoreError::Interrupted(_))), "{out:?}");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL: scripts/test runs it"]
    async fn a_statement_whose_caller_stops_waiting_is_cancelled() -> anyhow::Result<()> {
        let url = server()?;
        let store = SqlStore::connect(&url).await?;
        let backend = Arc::clone(&store.backend);
        let caller = tokio::spawn(async move { backend.read(sleep(300)).await });
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
        tokio::spawn(connection);
        let sleeping =
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(300)' AND state = 'active'";
        // The statement runs, then its caller gives up: it stops within a moment, not after 300 s.
        while client.query_one(sleeping, &[]).await?.get::<_, i64>(0) == 0 {
            tokio::task::yield_now().await;
        }
        caller.abort();
        let _ = caller.await;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while client.query_one(sleeping, &[]).await?.get::<_, i64>(0) > 0 {
            anyhow::ensure!(std::time::Instant::now() < deadline, "the statement was not cancelled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}
