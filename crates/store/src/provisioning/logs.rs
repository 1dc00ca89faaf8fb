//! Provisioning logs' transaction scripts: inserting a page of records, listing a tenant's records (each clause of
//! a [`LogQuery`] translated to SQL over an indexed column, paged by position), reading one, and purging by age.
//!
//! A record is stored as its JSON (the serde form of [`ProvisioningLog`]) beside the columns filters and orders
//! use. `activity` holds the activity time at Graph's precision ([`graph_precision`], in unix nanoseconds), the
//! value records are shown, compared and paged at; a time in a filter is compared at that precision too. Every
//! equality a filter may ask has an index that starts with the tenant and ends with `(activity, id)`, so that a page
//! of one job, cycle, object, action or status is read in order from its index; `contains` on display names is a
//! substring test on the rows the other clauses leave (no index serves it).

use idplane_core::error::StoreError;
use idplane_provisioning::logs::query::{IdField, LogClause, Side};
use idplane_provisioning::logs::{LogCursor, LogOrder, LogPage, LogQuery, ProvisioningLog, graph_precision};

use crate::codec::{nanos, nanos_bound};
use crate::tx::{Sql, Tx, params};

const INSERT: &str = "INSERT INTO provisioning_logs (id, tenant_id, activity, job_id, service_principal_id, \
     cycle_id, change_id, action, status, source_id, target_id, source_name, target_name, record) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING";
/// One batch of a purge: the oldest records first, so that an interrupted purge has removed the oldest.
const PURGE: &str = "DELETE FROM provisioning_logs WHERE id IN \
     (SELECT id FROM provisioning_logs WHERE activity < ? ORDER BY activity LIMIT ?)";
/// Records deleted per purge transaction.
pub(crate) const PURGE_BATCH: i64 = 10_000;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn record(text: &str) -> Result<ProvisioningLog, StoreError> {
    serde_json::from_str(text).map_err(|e| backend(format!("stored provisioning log: {e}")))
}

pub(crate) async fn insert(tx: &mut dyn Tx, logs: &[ProvisioningLog]) -> Result<(), StoreError> {
    for l in logs {
        let json = serde_json::to_string(l).map_err(|e| backend(format!("encode provisioning log {}: {e}", l.id)))?;
        let p = params![
            l.id.as_str(),
            l.tenant_id.as_str(),
            nanos(graph_precision(l.activity))?,
            l.job_id.as_str(),
            l.service_principal_id.as_str(),
            l.cycle_id.as_str(),
            l.change_id.as_str(),
            l.action.as_str(),
            l.status.as_str(),
            l.source.id.as_str(),
            l.target.id.as_str(),
            l.source.display_name.as_str(),
            l.target.display_name.as_str(),
            json,
        ];
        tx.execute(INSERT, &p).await.map_err(|e| e.during("insert provisioning log"))?;
    }
    Ok(())
}

fn column(field: IdField) -> &'static str {
    match field {
        IdField::Id => "id",
        IdField::JobId => "job_id",
        IdField::CycleId => "cycle_id",
        IdField::ChangeId => "change_id",
        IdField::SourceId => "source_id",
        IdField::TargetId => "target_id",
        IdField::ServicePrincipalId => "service_principal_id",
    }
}

/// The statement of a page: the tenant's records meeting every clause, after the cursor, in the query's order, one
/// more than the page (to know whether another follows). Reads `record`.
pub(crate) fn select(dialect: crate::tx::Dialect, tenant_id: &str, q: &LogQuery) -> Sql {
    let mut s = Sql::new("SELECT record FROM provisioning_logs WHERE tenant_id = ");
    s.bind(tenant_id);
    for clause in &q.filter {
        s.push(" AND ");
        match clause {
            LogClause::Activity(op, t) => {
                s.push("activity ").push(op.sql()).push(" ").bind(nanos_bound(graph_precision(*t)));
            }
            LogClause::Equals(field, value) => {
                s.push(column(*field)).push(" = ").bind(value.as_str());
            }
            LogClause::Action(a) => {
                s.push("action = ").bind(a.as_str());
            }
            LogClause::Status(st) => {
                s.push("status = ").bind(st.as_str());
            }
            LogClause::NameContains(side, text) => {
                let name = match side {
                    Side::Source => "source_name",
                    Side::Target => "target_name",
                };
                s.push(&dialect.contains(name, "?"));
                s.params.push(text.as_str().into());
            }
        }
    }
    let (direction, past) = match q.order {
        LogOrder::NewestFirst => ("DESC", "<"),
        LogOrder::OldestFirst => ("ASC", ">"),
    };
    if let Some(c) = &q.after {
        // A row-value comparison, which an index ending in (activity, id) serves as one range.
        s.push(" AND (activity, id) ").push(past).push(" (").bind(nanos_bound(c.activity)).push(", ");
        s.bind(c.id.as_str()).push(")");
    }
    s.push(&format!(" ORDER BY activity {direction}, id {direction} LIMIT ")).bind(q.top as i64 + 1);
    s
}

pub(crate) async fn page(tx: &mut dyn Tx, tenant_id: &str, q: &LogQuery) -> Result<LogPage, StoreError> {
    let s = select(tx.dialect(), tenant_id, q);
    let rows = tx.rows(&s).await.map_err(|e| e.during("read provisioning logs"))?;
    let mut items = rows.into_iter().map(|mut r| record(&r.text(0)?)).collect::<Result<Vec<_>, _>>()?;
    let more = items.len() > q.top;
    items.truncate(q.top);
    let next = if more { items.last().map(LogCursor::after) } else { None };
    Ok(LogPage { items, next })
}

pub(crate) async fn one(tx: &mut dyn Tx, tenant_id: &str, id: &str) -> Result<Option<ProvisioningLog>, StoreError> {
    let row = tx
        .first("SELECT record FROM provisioning_logs WHERE id = ? AND tenant_id = ?", &params![id, tenant_id])
        .await
        .map_err(|e| e.during("read provisioning log"))?;
    row.map(|mut r| record(&r.text(0)?)).transpose()
}

/// Deletes one batch of the records before `before` (unix nanoseconds); how many.
pub(crate) async fn purge_batch(tx: &mut dyn Tx, before: i64) -> Result<u64, StoreError> {
    tx.execute(PURGE, &params![before, PURGE_BATCH]).await.map_err(|e| e.during("purge provisioning logs"))
}
