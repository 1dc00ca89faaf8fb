//! Migrations: each backend's schema is an ordered list of [`Migration`]s (`sqlite::schema`, `postgres::schema`,
//! version for version the same schema), and [`migrate`] brings a database up to date, written once for both.
//!
//! A migration is applied once, in one transaction together with its row in `schema_migrations`, so a database is
//! always at exactly one known version. Migrations are append-only: a released one is never edited, a change is a
//! new migration. A database at a version this binary does not know (written by a newer idplane) is refused rather
//! than misread.

use std::future::Future;
use std::pin::Pin;

use idplane_core::error::StoreError;
use idplane_core::principal::{IndexedFields, PrincipalKind};

use crate::tx::{Dialect, Tx, params};

/// A step of a migration written in Rust, after its SQL: for what SQL cannot compute the way idplane does (the
/// Unicode case folding of indexed values).
pub(crate) type Backfill =
    for<'t> fn(&'t mut dyn Tx) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 't>>;

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
    pub backfill: Option<Backfill>,
}

/// The schema version a list of migrations brings a database to.
pub(crate) fn latest_version(migrations: &[Migration]) -> i64 {
    migrations.last().map_or(0, |m| m.version)
}

/// An arbitrary key for PostgreSQL's advisory lock that serialises migrations of one database across processes.
const MIGRATION_LOCK: i64 = 0x6964_706c_616e_6501;

/// Brings the database up to the last of `migrations`, in `tx`, which the caller commits. Processes migrating the same
/// fresh database at once wait for each other (SQLite: the caller's immediate transaction; PostgreSQL: an advisory
/// lock) rather than both creating the tables.
pub(crate) async fn migrate(tx: &mut dyn Tx, migrations: &[Migration]) -> Result<(), StoreError> {
    let (lock, table) = match tx.dialect() {
        Dialect::Sqlite => (
            None,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT",
        ),
        Dialect::Postgres => (
            Some("SELECT pg_advisory_xact_lock(?)"),
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             applied_at BIGINT NOT NULL)",
        ),
    };
    if let Some(lock) = lock {
        tx.query(lock, &params![MIGRATION_LOCK]).await.map_err(|e| e.during("lock migrations"))?;
    }
    tx.batch(table).await.map_err(|e| e.during("create schema_migrations"))?;
    let current = tx.scalar("SELECT MAX(version) FROM schema_migrations", &[], "read schema version").await?;
    let latest = latest_version(migrations);
    if current > latest {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {current}, newer than this idplane knows (up to {latest}); \
             it was written by a newer idplane: run that version, or restore a backup"
        )));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for m in migrations.iter().filter(|m| m.version > current) {
        tracing::debug!(version = m.version, name = m.name, "applying database migration");
        tx.batch(m.sql).await.map_err(|e| StoreError::Backend(format!("migration {}: {e:?}", m.version)))?;
        if let Some(backfill) = m.backfill {
            backfill(tx).await?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            &params![m.version, m.name, now],
        )
        .await
        .map_err(|e| e.during("record migration"))?;
    }
    Ok(())
}

/// Migration 6's backfill: the index of the case-folded email addresses of the users already stored.
pub(crate) fn backfill_emails(tx: &mut dyn Tx) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>> {
    Box::pin(async move {
        let mut after = i64::MIN;
        loop {
            // In batches by id, so that memory stays bounded however many users there are.
            let rows = tx
                .query(
                    "SELECT id, doc FROM principals WHERE kind = 'user' AND id > ? ORDER BY id LIMIT 1000",
                    &params![after],
                )
                .await
                .map_err(|e| e.during("read users to index"))?;
            let Some(last) = rows.last() else { return Ok(()) };
            after = last.int(0)?;
            for mut row in rows {
                let id = row.int(0)?;
                let doc: serde_json::Value = serde_json::from_str(&row.text(1)?)
                    .map_err(|e| StoreError::Backend(format!("document of principal {id}: {e}")))?;
                for key in IndexedFields::of(PrincipalKind::User, &doc).emails {
                    tx.execute(
                        "INSERT INTO principal_emails (value_key, principal_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        &params![key, id],
                    )
                    .await
                    .map_err(|e| e.during("index email"))?;
                }
            }
        }
    })
}
