//! The audit log's transaction scripts: recording the entries of a change in its transaction, reading pages, and
//! purging old entries.

use idplane_core::audit::{AuditEntry, AuditQuery, AuditRecord};
use idplane_core::error::StoreError;

use crate::codec::{AuditRow, audit_values, nanos_bound};
use crate::tx::{Sql, Tx, params};

const INSERT_AUDIT: &str = "INSERT INTO audit_log (occurred_at, account_id, workspace_id, actor_kind, \
     actor_token_id, actor_principal_id, request_id, resource_type, resource_id, operation, changes) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// The columns every audit query reads, in the order [`AuditRow::read`] expects.
pub(crate) const AUDIT_COLUMNS: &str = "id, occurred_at, account_id, workspace_id, actor_kind, actor_token_id, \
     actor_principal_id, request_id, resource_type, resource_id, operation, changes";
/// One batch of a purge: the oldest entries first, so that an interrupted purge has removed the oldest.
const PURGE_AUDIT: &str = "DELETE FROM audit_log WHERE id IN \
     (SELECT id FROM audit_log WHERE occurred_at < ? ORDER BY occurred_at LIMIT ?)";
/// Entries deleted per purge transaction.
pub(crate) const PURGE_BATCH: i64 = 10_000;

/// Writes the audit entries of a change, in the change's transaction.
pub(crate) async fn record(tx: &mut dyn Tx, audit: &[AuditEntry]) -> Result<(), StoreError> {
    for e in audit {
        let (at, changes) = audit_values(e)?;
        let a = &e.actor;
        let params = params![
            at,
            e.account_id.as_str(),
            e.workspace_id,
            a.kind.code(),
            &a.token_id,
            a.principal_id,
            &a.request_id,
            e.resource_type.name(),
            e.resource_id.as_str(),
            e.operation.code(),
            changes,
        ];
        tx.execute(INSERT_AUDIT, &params).await.map_err(|e| e.during("record audit entry"))?;
    }
    Ok(())
}

/// The entries matching `q`, newest first: `(occurred_at, id)` descending, which the `(account_id, ..., occurred_at,
/// id)` indexes serve. Times are unix nanoseconds, as stored.
pub(crate) fn select(q: &AuditQuery) -> Sql {
    let nanos = nanos_bound;
    let mut s = Sql::new("SELECT ");
    s.push(AUDIT_COLUMNS).push(" FROM audit_log WHERE 1 = 1");
    if let Some(a) = &q.account_id {
        s.push(" AND account_id = ").bind(a.as_str());
    }
    if let Some(w) = q.workspace_id {
        s.push(" AND workspace_id = ").bind(w);
    }
    if let Some(t) = q.since {
        s.push(" AND occurred_at >= ").bind(nanos(t));
    }
    if let Some(t) = q.until {
        s.push(" AND occurred_at < ").bind(nanos(t));
    }
    if let Some(p) = q.principal_id {
        s.push(" AND actor_principal_id = ").bind(p);
    }
    if let Some(t) = &q.token_id {
        s.push(" AND actor_token_id = ").bind(t.as_str());
    }
    if let Some(r) = &q.request_id {
        s.push(" AND request_id = ").bind(r.as_str());
    }
    if let Some(t) = q.resource_type {
        s.push(" AND resource_type = ").bind(t.name());
    }
    if let Some(r) = &q.resource_id {
        s.push(" AND resource_id = ").bind(r.as_str());
    }
    if let Some(o) = q.operation {
        s.push(" AND operation = ").bind(o.code());
    }
    if let Some(c) = q.before {
        // A row-value comparison, which the index serves as one range (an OR of two conditions would make SQLite
        // gather both and sort them).
        s.push(" AND (occurred_at, id) < (").bind(nanos(c.time)).push(", ").bind(c.id);
        s.push(")");
    }
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    s.push(" ORDER BY occurred_at DESC, id DESC LIMIT ").bind(limit);
    s
}

pub(crate) async fn entries(tx: &mut dyn Tx, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = tx.rows(&select(q)).await.map_err(|e| e.during("read audit log"))?;
    rows.into_iter().map(|r| AuditRow::read(r)?.into_record()).collect()
}

/// Deletes one batch of the entries before `before` (unix nanoseconds); how many.
pub(crate) async fn purge_batch(tx: &mut dyn Tx, before: i64) -> Result<u64, StoreError> {
    tx.execute(PURGE_AUDIT, &params![before, PURGE_BATCH]).await.map_err(|e| e.during("purge audit log"))
}
