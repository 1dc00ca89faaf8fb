//! Provisioning jobs' and secrets' transaction scripts. A job's schedule, status, schema and settings are stored
//! as JSON text.

use idplane_core::error::StoreError;
use idplane_provisioning::job::{Schedule, ScheduleState, SyncJob};
use idplane_provisioning::store::SealedSecret;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::codec::{nanos, time};
use crate::tx::{Row, Tx, params};

const COLUMNS: &str = "id, tenant_id, service_principal_id, template_id, schedule, status, schema, settings, version, created, last_modified";

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn parse(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| backend(format!("stored {what}: {e}")))
}

fn encode_schedule(s: &Schedule) -> Result<String, StoreError> {
    let expiration = s.expiration.map(|e| e.format(&Rfc3339)).transpose().map_err(backend)?;
    Ok(json!({"interval": s.interval, "state": s.state.code(), "expiration": expiration}).to_string())
}

fn schedule(v: &Value) -> Result<Schedule, StoreError> {
    let state = v.get("state").and_then(Value::as_str).and_then(ScheduleState::from_code);
    let expiration = match v.get("expiration").and_then(Value::as_str) {
        Some(s) => Some(OffsetDateTime::parse(s, &Rfc3339).map_err(backend)?),
        None => None,
    };
    Ok(Schedule {
        interval: v.get("interval").and_then(Value::as_str).unwrap_or(idplane_provisioning::job::NEVER).to_string(),
        state: state.ok_or_else(|| backend("a stored schedule has no state"))?,
        expiration,
    })
}

fn job(mut r: Row) -> Result<SyncJob, StoreError> {
    let settings = parse(&r.text(7)?, "job settings")?;
    let settings = settings
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(SyncJob {
        id: r.text(0)?,
        tenant_id: r.text(1)?,
        service_principal_id: r.text(2)?,
        template_id: r.text(3)?,
        schedule: schedule(&parse(&r.text(4)?, "job schedule")?)?,
        status: parse(&r.text(5)?, "job status")?,
        schema: r.opt_text(6)?.map(|s| parse(&s, "job schema")).transpose()?,
        settings,
        version: r.int(8)?,
        created: time(r.int(9)?)?,
        last_modified: time(r.int(10)?)?,
    })
}

fn settings_text(j: &SyncJob) -> String {
    Value::Array(j.settings.iter().map(|(n, v)| json!([n, v])).collect()).to_string()
}

pub(crate) async fn insert(tx: &mut dyn Tx, j: &SyncJob) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO sync_jobs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    let p = params![
        j.id.as_str(),
        j.tenant_id.as_str(),
        j.service_principal_id.as_str(),
        j.template_id.as_str(),
        encode_schedule(&j.schedule)?,
        j.status.to_string(),
        j.schema.as_ref().map(Value::to_string),
        settings_text(j),
        j.version,
        nanos(j.created)?,
        nanos(j.last_modified)?,
    ];
    tx.execute(&sql, &p).await.map_err(|e| e.conflict("insert job", "templateId"))?;
    Ok(())
}

pub(crate) async fn one(tx: &mut dyn Tx, tenant_id: &str, sp: &str, id: &str) -> Result<Option<SyncJob>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM sync_jobs WHERE id = ? AND service_principal_id = ? AND tenant_id = ?");
    let row =
        tx.first(&sql, &params![id, sp.to_ascii_lowercase(), tenant_id]).await.map_err(|e| e.during("read job"))?;
    row.map(job).transpose()
}

pub(crate) async fn list(tx: &mut dyn Tx, tenant_id: &str, sp: &str) -> Result<Vec<SyncJob>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sync_jobs WHERE service_principal_id = ? AND tenant_id = ? ORDER BY created, id"
    );
    let rows = tx.query(&sql, &params![sp.to_ascii_lowercase(), tenant_id]).await.map_err(|e| e.during("read jobs"))?;
    rows.into_iter().map(job).collect()
}

pub(crate) async fn update(tx: &mut dyn Tx, j: &SyncJob, expected: i64) -> Result<i64, StoreError> {
    const SQL: &str = "UPDATE sync_jobs SET schedule = ?, status = ?, schema = ?, settings = ?, version = version + 1, \
         last_modified = ? WHERE id = ? AND tenant_id = ? AND version = ?";
    let p = params![
        encode_schedule(&j.schedule)?,
        j.status.to_string(),
        j.schema.as_ref().map(Value::to_string),
        settings_text(j),
        nanos(j.last_modified)?,
        j.id.as_str(),
        j.tenant_id.as_str(),
        expected,
    ];
    if tx.execute(SQL, &p).await.map_err(|e| e.during("update job"))? == 0 {
        return Err(StoreError::VersionMismatch);
    }
    Ok(expected + 1)
}

pub(crate) async fn delete(tx: &mut dyn Tx, tenant_id: &str, sp: &str, id: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "DELETE FROM sync_jobs WHERE id = ? AND service_principal_id = ? AND tenant_id = ?",
            &params![id, sp.to_ascii_lowercase(), tenant_id],
        )
        .await
        .map_err(|e| e.during("delete job"))?;
    Ok(n > 0)
}

/// The secrets of a service principal of the tenant (none for another tenant's).
pub(crate) async fn secrets(tx: &mut dyn Tx, tenant_id: &str, sp: &str) -> Result<Vec<SealedSecret>, StoreError> {
    const SQL: &str = "SELECT k.key, k.sealed FROM sync_secrets k JOIN service_principals s ON s.id = k.service_principal_id \
         WHERE k.service_principal_id = ? AND s.tenant_id = ? ORDER BY k.key";
    let rows =
        tx.query(SQL, &params![sp.to_ascii_lowercase(), tenant_id]).await.map_err(|e| e.during("read secrets"))?;
    rows.into_iter().map(|mut r| Ok(SealedSecret { key: r.text(0)?, sealed: r.bytes(1)? })).collect()
}

pub(crate) async fn put_secrets(
    tx: &mut dyn Tx,
    tenant_id: &str,
    sp: &str,
    changes: &[(String, Option<Vec<u8>>)],
) -> Result<(), StoreError> {
    let sp = sp.to_ascii_lowercase();
    let owned = tx
        .first("SELECT 1 FROM service_principals WHERE id = ? AND tenant_id = ?", &params![sp.as_str(), tenant_id])
        .await
        .map_err(|e| e.during("read service principal"))?;
    if owned.is_none() {
        return Err(backend(format!("service principal {sp} is not one of tenant {tenant_id}")));
    }
    const UPSERT: &str = "INSERT INTO sync_secrets (service_principal_id, key, sealed) VALUES (?, ?, ?) \
         ON CONFLICT (service_principal_id, key) DO UPDATE SET sealed = excluded.sealed";
    const DELETE: &str = "DELETE FROM sync_secrets WHERE service_principal_id = ? AND key = ?";
    for (key, sealed) in changes {
        match sealed {
            Some(s) => tx.execute(UPSERT, &params![sp.as_str(), key.as_str(), s.as_slice()]).await,
            None => tx.execute(DELETE, &params![sp.as_str(), key.as_str()]).await,
        }
        .map_err(|e| e.during("write secret"))?;
    }
    Ok(())
}
