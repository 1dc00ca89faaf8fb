//! Provisioning jobs' run state, links and escrows: the transaction scripts of [`CycleStore`]
//! (`idplane_provisioning::store::CycleStore`). A run state's open part is JSON text.

use idplane_core::error::StoreError;
use idplane_provisioning::cycle::state::{Escrow, Link, RunData, RunState};
use time::OffsetDateTime;

use crate::codec::{nanos, time};
use crate::tx::{Row, Tx, params};

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn list(ids: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(ids).map_err(backend)
}

const RUN_COLUMNS: &str = "job_id, tenant_id, service_principal_id, watermark, next_run, schema_version, data";
/// What is read of a run state: its columns, who holds its lease, and the progress of the cycle running.
const RUN_READ: &str =
    "job_id, tenant_id, service_principal_id, watermark, next_run, schema_version, data, lease_owner, progress";

fn run_state(mut r: Row) -> Result<RunState, StoreError> {
    let mut data: RunData = serde_json::from_str(&r.text(6)?).map_err(|e| backend(format!("stored run state: {e}")))?;
    data.running = r.opt_text(8)?.and_then(|p| serde_json::from_str(&p).ok());
    Ok(RunState {
        job_id: r.text(0)?,
        tenant_id: r.text(1)?,
        service_principal_id: r.text(2)?,
        watermark: r.opt_int(3)?,
        next_run: r.opt_int(4)?.map(time).transpose()?,
        schema_version: r.opt_text(5)?,
        data,
        lease_owner: r.opt_text(7)?,
    })
}

pub(crate) async fn run(tx: &mut dyn Tx, job_id: &str) -> Result<Option<RunState>, StoreError> {
    let sql = format!("SELECT {RUN_READ} FROM sync_job_runs WHERE job_id = ?");
    tx.first(&sql, &params![job_id]).await.map_err(|e| e.during("read run state"))?.map(run_state).transpose()
}

pub(crate) async fn put_run(tx: &mut dyn Tx, s: &RunState) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO sync_job_runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET \
         watermark = excluded.watermark, next_run = excluded.next_run, schema_version = excluded.schema_version, \
         data = excluded.data"
    );
    let data = serde_json::to_string(&s.data).map_err(backend)?;
    let p = params![
        s.job_id.as_str(),
        s.tenant_id.as_str(),
        s.service_principal_id.as_str(),
        s.watermark,
        s.next_run.map(nanos).transpose()?,
        s.schema_version.as_deref(),
        data,
    ];
    tx.execute(&sql, &p).await.map_err(|e| e.during("write run state"))?;
    Ok(())
}

pub(crate) async fn set_progress(tx: &mut dyn Tx, job_id: &str, progress: Option<String>) -> Result<(), StoreError> {
    tx.execute("UPDATE sync_job_runs SET progress = ? WHERE job_id = ?", &params![progress, job_id])
        .await
        .map_err(|e| e.during("write progress"))?;
    Ok(())
}

pub(crate) async fn delete_run(tx: &mut dyn Tx, job_id: &str) -> Result<(), StoreError> {
    for table in ["sync_escrows", "sync_links", "sync_job_runs"] {
        let sql = format!("DELETE FROM {table} WHERE job_id = ?");
        tx.execute(&sql, &params![job_id]).await.map_err(|e| e.during("delete run state"))?;
    }
    Ok(())
}

pub(crate) async fn due(tx: &mut dyn Tx, now: OffsetDateTime, limit: usize) -> Result<Vec<RunState>, StoreError> {
    let sql = format!(
        "SELECT {RUN_READ} FROM sync_job_runs WHERE next_run IS NOT NULL AND next_run <= ? \
         AND (lease_owner IS NULL OR lease_expires < ?) ORDER BY next_run, job_id LIMIT ?"
    );
    let now = nanos(now)?;
    let rows = tx
        .query(&sql, &params![now, now, i64::try_from(limit).unwrap_or(i64::MAX)])
        .await
        .map_err(|e| e.during("read due runs"))?;
    rows.into_iter().map(run_state).collect()
}

pub(crate) async fn acquire(
    tx: &mut dyn Tx,
    job_id: &str,
    owner: &str,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    const SQL: &str = "UPDATE sync_job_runs SET lease_owner = ?, lease_expires = ? WHERE job_id = ? \
         AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires < ?)";
    let n = tx
        .execute(SQL, &params![owner, nanos(until)?, job_id, owner, nanos(now)?])
        .await
        .map_err(|e| e.during("take lease"))?;
    Ok(n == 1)
}

pub(crate) async fn release(tx: &mut dyn Tx, job_id: &str, owner: &str) -> Result<(), StoreError> {
    const SQL: &str =
        "UPDATE sync_job_runs SET lease_owner = NULL, lease_expires = NULL WHERE job_id = ? AND lease_owner = ?";
    tx.execute(SQL, &params![job_id, owner]).await.map_err(|e| e.during("release lease"))?;
    Ok(())
}

const LINK_COLUMNS: &str = "job_id, source_id, object_type, target_id, display_name, active, updated";

fn link(mut r: Row) -> Result<Link, StoreError> {
    Ok(Link {
        job_id: r.text(0)?,
        source_id: r.text(1)?,
        object_type: r.text(2)?,
        target_id: r.text(3)?,
        display_name: r.text(4)?,
        active: r.bool(5)?,
        updated: time(r.int(6)?)?,
    })
}

pub(crate) async fn links(tx: &mut dyn Tx, job_id: &str, ids: &[String]) -> Result<Vec<Link>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM sync_links WHERE job_id = ? AND source_id IN ({}) ORDER BY source_id",
        tx.dialect().text_list("?")
    );
    let rows = tx.query(&sql, &params![job_id, list(ids)?]).await.map_err(|e| e.during("read links"))?;
    rows.into_iter().map(link).collect()
}

pub(crate) async fn links_by_target(tx: &mut dyn Tx, job_id: &str, ids: &[String]) -> Result<Vec<Link>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Sorted here, not by the statement: with `ORDER BY source_id`, SQLite's planner walks the primary key (every
    // link of the job, in order) instead of probing the target-id index once per id.
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM sync_links WHERE job_id = ? AND target_id IN ({})",
        tx.dialect().text_list("?")
    );
    let rows = tx.query(&sql, &params![job_id, list(ids)?]).await.map_err(|e| e.during("read links"))?;
    let mut links = rows.into_iter().map(link).collect::<Result<Vec<_>, _>>()?;
    links.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    Ok(links)
}

pub(crate) async fn links_page(
    tx: &mut dyn Tx,
    job_id: &str,
    after: Option<&str>,
    top: usize,
) -> Result<Vec<Link>, StoreError> {
    let sql =
        format!("SELECT {LINK_COLUMNS} FROM sync_links WHERE job_id = ? AND source_id > ? ORDER BY source_id LIMIT ?");
    let p = params![job_id, after.unwrap_or(""), i64::try_from(top).unwrap_or(i64::MAX)];
    let rows = tx.query(&sql, &p).await.map_err(|e| e.during("read links"))?;
    rows.into_iter().map(link).collect()
}

pub(crate) async fn put_link(tx: &mut dyn Tx, l: &Link) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO sync_links ({LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, source_id) DO \
         UPDATE SET object_type = excluded.object_type, target_id = excluded.target_id, \
         display_name = excluded.display_name, active = excluded.active, updated = excluded.updated"
    );
    let p = params![
        l.job_id.as_str(),
        l.source_id.as_str(),
        l.object_type.as_str(),
        l.target_id.as_str(),
        l.display_name.as_str(),
        l.active,
        nanos(l.updated)?,
    ];
    tx.execute(&sql, &p).await.map_err(|e| e.during("write link"))?;
    Ok(())
}

pub(crate) async fn delete_link(tx: &mut dyn Tx, job_id: &str, source_id: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute("DELETE FROM sync_links WHERE job_id = ? AND source_id = ?", &params![job_id, source_id])
        .await
        .map_err(|e| e.during("delete link"))?;
    Ok(n > 0)
}

pub(crate) async fn delete_all(tx: &mut dyn Tx, table: &'static str, job_id: &str) -> Result<u64, StoreError> {
    let sql = format!("DELETE FROM {table} WHERE job_id = ?");
    tx.execute(&sql, &params![job_id]).await.map_err(|e| e.during("delete"))
}

pub(crate) async fn link_counts(tx: &mut dyn Tx, job_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
    const SQL: &str =
        "SELECT object_type, COUNT(*) FROM sync_links WHERE job_id = ? GROUP BY object_type ORDER BY object_type";
    let rows = tx.query(SQL, &params![job_id]).await.map_err(|e| e.during("count links"))?;
    rows.into_iter().map(|mut r| Ok((r.text(0)?, u64::try_from(r.int(1)?).unwrap_or(0)))).collect()
}

const ESCROW_COLUMNS: &str = "job_id, source_id, object_type, attempts, first_failed, next_attempt, error_code, reason";

fn escrow(mut r: Row) -> Result<Escrow, StoreError> {
    Ok(Escrow {
        job_id: r.text(0)?,
        source_id: r.text(1)?,
        object_type: r.text(2)?,
        attempts: u32::try_from(r.int(3)?).unwrap_or(u32::MAX),
        first_failed: time(r.int(4)?)?,
        next_attempt: time(r.int(5)?)?,
        error_code: r.text(6)?,
        reason: r.text(7)?,
    })
}

pub(crate) async fn escrows_due(
    tx: &mut dyn Tx,
    job_id: &str,
    now: OffsetDateTime,
    top: usize,
) -> Result<Vec<Escrow>, StoreError> {
    let sql = format!(
        "SELECT {ESCROW_COLUMNS} FROM sync_escrows WHERE job_id = ? AND next_attempt <= ? \
         ORDER BY next_attempt, source_id LIMIT ?"
    );
    let p = params![job_id, nanos(now)?, i64::try_from(top).unwrap_or(i64::MAX)];
    let rows = tx.query(&sql, &p).await.map_err(|e| e.during("read escrows"))?;
    rows.into_iter().map(escrow).collect()
}

pub(crate) async fn escrow_of(tx: &mut dyn Tx, job_id: &str, source_id: &str) -> Result<Option<Escrow>, StoreError> {
    let sql = format!("SELECT {ESCROW_COLUMNS} FROM sync_escrows WHERE job_id = ? AND source_id = ?");
    tx.first(&sql, &params![job_id, source_id]).await.map_err(|e| e.during("read escrow"))?.map(escrow).transpose()
}

pub(crate) async fn put_escrow(tx: &mut dyn Tx, e: &Escrow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO sync_escrows ({ESCROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, source_id) \
         DO UPDATE SET object_type = excluded.object_type, attempts = excluded.attempts, \
         first_failed = excluded.first_failed, next_attempt = excluded.next_attempt, \
         error_code = excluded.error_code, reason = excluded.reason"
    );
    let p = params![
        e.job_id.as_str(),
        e.source_id.as_str(),
        e.object_type.as_str(),
        i64::from(e.attempts),
        nanos(e.first_failed)?,
        nanos(e.next_attempt)?,
        e.error_code.as_str(),
        e.reason.as_str(),
    ];
    tx.execute(&sql, &p).await.map_err(|e| e.during("write escrow"))?;
    Ok(())
}

pub(crate) async fn delete_escrow(tx: &mut dyn Tx, job_id: &str, source_id: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute("DELETE FROM sync_escrows WHERE job_id = ? AND source_id = ?", &params![job_id, source_id])
        .await
        .map_err(|e| e.during("delete escrow"))?;
    Ok(n > 0)
}

pub(crate) async fn escrow_count(tx: &mut dyn Tx, job_id: &str) -> Result<u64, StoreError> {
    let n = tx.scalar("SELECT COUNT(*) FROM sync_escrows WHERE job_id = ?", &params![job_id], "count escrows").await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
