//! The PostgreSQL schema, as an ordered list of migrations, and the code that brings a database up to date.
//!
//! The same rules as the SQLite migrations: each migration is applied once, in one transaction with its row in
//! `schema_migrations`; released migrations are never edited; a database at a version this binary does not know is
//! refused. Versions match the SQLite ones (the same schema, version for version), spelled for PostgreSQL: BIGINT
//! for integers and unix-nanosecond timestamps, BOOLEAN for flags, BYTEA for token hashes, and `COLLATE "C"` on
//! every text column that is compared or sorted, so that comparisons are byte-wise (code point order) as in SQLite
//! and as the shared SQL assumes, whatever the database's default collation.

use tokio_postgres::Transaction;

use super::backend;
use idplane_core::error::StoreError;

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in version order (1, 2, ...). SQLite's planner statistics (`sqlite_stat1`) have no counterpart:
/// PostgreSQL's autovacuum measures the data.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts, workspaces, settings, tokens, principals, memberships, assignments",
        sql: r#"
CREATE TABLE accounts (
    id      TEXT COLLATE "C" PRIMARY KEY,
    name    TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id                  BIGINT PRIMARY KEY,
    account_id          TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    name                TEXT NOT NULL,
    identity_federation BOOLEAN NOT NULL,
    created             BIGINT NOT NULL
);
CREATE INDEX workspaces_account ON workspaces (account_id, id);

CREATE TABLE settings (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE principals (
    id             BIGINT PRIMARY KEY,
    kind           TEXT COLLATE "C" NOT NULL,
    account_id     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    home_workspace BIGINT NOT NULL DEFAULT 0,
    unique_value   TEXT COLLATE "C",
    unique_key     TEXT COLLATE "C",
    external_id    TEXT COLLATE "C",
    display_name   TEXT COLLATE "C",
    display_key    TEXT COLLATE "C",
    active         BOOLEAN,
    doc            TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created        BIGINT NOT NULL,
    last_modified  BIGINT NOT NULL
);
CREATE UNIQUE INDEX principals_unique ON principals (account_id, home_workspace, kind, unique_key);
CREATE INDEX principals_external_id ON principals (account_id, home_workspace, kind, external_id);
CREATE INDEX principals_display ON principals (account_id, home_workspace, kind, display_key);

CREATE TABLE memberships (
    group_id  BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    member_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX memberships_member ON memberships (member_id, group_id);

CREATE TABLE assignments (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    permissions  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, principal_id)
);
CREATE INDEX assignments_principal ON assignments (principal_id);

CREATE TABLE tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    hash         BYTEA NOT NULL UNIQUE,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    workspace_id BIGINT REFERENCES workspaces (id),
    principal_id BIGINT REFERENCES principals (id) ON DELETE CASCADE,
    comment      TEXT NOT NULL,
    created      BIGINT NOT NULL,
    expires      BIGINT
);
CREATE INDEX tokens_principal ON tokens (principal_id);
"#,
    },
    Migration {
        version: 2,
        name: "token kinds",
        sql: r#"
ALTER TABLE tokens ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT 'admin';
CREATE INDEX tokens_account ON tokens (account_id, kind, workspace_id);
"#,
    },
    Migration {
        version: 3,
        name: "workspace values",
        sql: r#"
CREATE TABLE workspace_values (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    attribute    TEXT COLLATE "C" NOT NULL,
    value        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, principal_id, attribute, value)
);
CREATE INDEX workspace_values_principal ON workspace_values (principal_id);
"#,
    },
    Migration {
        version: 4,
        name: "membership references",
        sql: r#"
ALTER TABLE memberships ADD COLUMN ref TEXT;
ALTER TABLE memberships ADD COLUMN display TEXT;
"#,
    },
    Migration {
        version: 5,
        name: "audit log",
        sql: r#"
CREATE TABLE audit_log (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at        BIGINT NOT NULL,
    account_id         TEXT COLLATE "C" NOT NULL,
    workspace_id       BIGINT,
    actor_kind         TEXT COLLATE "C" NOT NULL,
    actor_token_id     TEXT COLLATE "C",
    actor_principal_id BIGINT,
    request_id         TEXT COLLATE "C",
    resource_type      TEXT COLLATE "C" NOT NULL,
    resource_id        TEXT COLLATE "C" NOT NULL,
    operation          TEXT COLLATE "C" NOT NULL,
    changes            TEXT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, occurred_at, id);
CREATE INDEX audit_log_actor ON audit_log (account_id, actor_principal_id, occurred_at, id);
CREATE INDEX audit_log_resource ON audit_log (account_id, resource_id, occurred_at, id);
CREATE INDEX audit_log_time ON audit_log (occurred_at);
"#,
    },
];

/// The schema version this binary writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// An arbitrary key for the advisory lock that serialises migrations of one database across processes.
const MIGRATION_LOCK: i64 = 0x6964_706c_616e_6501;

/// Brings the database up to [`latest_version`] in `tx`, which the caller commits. Two processes migrating the same
/// fresh database wait for each other on an advisory lock rather than both creating the tables.
pub(crate) async fn migrate(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(backend("lock migrations"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )
    .await
    .map_err(backend("create schema_migrations"))?;
    let current: Option<i64> = tx
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(backend("read schema version"))?;
    let current = current.unwrap_or(0);
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::Backend(format!(
            "the database is at schema version {current}, newer than this idplane knows (up to {latest}); \
             it was written by a newer idplane: run that version, or restore a backup"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tracing::info!(version = m.version, name = m.name, "applying database migration");
        tx.batch_execute(m.sql).await.map_err(|e| StoreError::Backend(format!("migration {}: {e}", m.version)))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) \
             VALUES ($1, $2, CAST(extract(epoch FROM now()) AS BIGINT))",
            &[&m.version, &m.name],
        )
        .await
        .map_err(backend("record migration"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_sqlite() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
        assert_eq!(latest_version(), crate::sqlite::migrations::latest_version());
    }
}
