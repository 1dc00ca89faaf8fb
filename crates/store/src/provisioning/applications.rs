//! Applications', service principals' and app role assignments' transaction scripts.

use idplane_core::error::StoreError;
use idplane_provisioning::application::{AppRoleAssignment, Application, AssignmentView, ServicePrincipal};
use idplane_provisioning::directory::{ChangeKind, ObjectKind};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::directory::{Entry, record};
use crate::codec::{nanos, time};
use crate::tx::{Row, Sql, Tx, params};

const APP_COLUMNS: &str = "id, tenant_id, app_id, display_name, template_id, doc, version, created";
const SP_COLUMNS: &str =
    "id, tenant_id, app_id, application_id, display_name, template_id, assignment_required, doc, version, created";
/// An assignment with the display names beside it; `a` the assignment, `o` the principal, `s` the resource.
const ASSIGNMENT_SELECT: &str = "SELECT a.id, a.tenant_id, a.resource_id, a.principal_id, a.principal_type, \
     a.app_role_id, a.created, o.doc, s.display_name FROM app_role_assignments a \
     JOIN directory_objects o ON o.id = a.principal_id JOIN service_principals s ON s.id = a.resource_id";

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn doc(text: &str) -> Result<Map<String, Value>, StoreError> {
    let v: Value = serde_json::from_str(text).map_err(|e| backend(format!("stored document: {e}")))?;
    Ok(v.as_object().cloned().unwrap_or_default())
}

fn encode(doc: &Map<String, Value>) -> Result<String, StoreError> {
    serde_json::to_string(doc).map_err(|e| backend(format!("encode document: {e}")))
}

fn application(mut r: Row) -> Result<Application, StoreError> {
    Ok(Application {
        id: r.text(0)?,
        tenant_id: r.text(1)?,
        app_id: r.text(2)?,
        display_name: r.text(3)?,
        template_id: r.opt_text(4)?,
        doc: doc(&r.text(5)?)?,
        version: r.int(6)?,
        created: time(r.int(7)?)?,
    })
}

fn service_principal(mut r: Row) -> Result<ServicePrincipal, StoreError> {
    Ok(ServicePrincipal {
        id: r.text(0)?,
        tenant_id: r.text(1)?,
        app_id: r.text(2)?,
        application_id: r.text(3)?,
        display_name: r.text(4)?,
        template_id: r.opt_text(5)?,
        app_role_assignment_required: r.bool(6)?,
        doc: doc(&r.text(7)?)?,
        version: r.int(8)?,
        created: time(r.int(9)?)?,
    })
}

fn assignment(mut r: Row) -> Result<AssignmentView, StoreError> {
    let kind = r.text(4)?;
    let principal_doc = doc(&r.text(7)?)?;
    Ok(AssignmentView {
        assignment: AppRoleAssignment {
            id: r.text(0)?,
            tenant_id: r.text(1)?,
            resource_id: r.text(2)?,
            principal_id: r.text(3)?,
            principal_type: ObjectKind::from_code(&kind).ok_or_else(|| backend(format!("unknown kind {kind:?}")))?,
            app_role_id: r.text(5)?,
            created: time(r.int(6)?)?,
        },
        principal_display_name: principal_doc
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        resource_display_name: r.text(8)?,
    })
}

async fn page<T>(
    tx: &mut dyn Tx,
    mut s: Sql,
    order: &str,
    top: usize,
    read: fn(Row) -> Result<T, StoreError>,
) -> Result<(Vec<T>, bool), StoreError> {
    s.push(" ORDER BY ").push(order).push(" LIMIT ").bind(top as i64 + 1);
    let mut items =
        tx.rows(&s).await.map_err(|e| e.during("read page"))?.into_iter().map(read).collect::<Result<Vec<_>, _>>()?;
    let more = items.len() > top;
    items.truncate(top);
    Ok((items, more))
}

async fn insert_sp(tx: &mut dyn Tx, sp: &ServicePrincipal) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO service_principals ({SP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    let p = params![
        sp.id.as_str(),
        sp.tenant_id.as_str(),
        sp.app_id.as_str(),
        sp.application_id.as_str(),
        sp.display_name.as_str(),
        sp.template_id.as_deref(),
        sp.app_role_assignment_required,
        encode(&sp.doc)?,
        sp.version,
        nanos(sp.created)?,
    ];
    tx.execute(&sql, &p).await.map_err(|e| e.conflict("insert service principal", "appId"))?;
    Ok(())
}

pub(crate) async fn insert(tx: &mut dyn Tx, app: &Application, sp: &ServicePrincipal) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO applications ({APP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    let p = params![
        app.id.as_str(),
        app.tenant_id.as_str(),
        app.app_id.as_str(),
        app.display_name.as_str(),
        app.template_id.as_deref(),
        encode(&app.doc)?,
        app.version,
        nanos(app.created)?,
    ];
    tx.execute(&sql, &p).await.map_err(|e| e.conflict("insert application", "appId"))?;
    insert_sp(tx, sp).await
}

pub(crate) async fn one(tx: &mut dyn Tx, tenant_id: &str, id: &str) -> Result<Option<Application>, StoreError> {
    let sql = format!("SELECT {APP_COLUMNS} FROM applications WHERE id = ? AND tenant_id = ?");
    let row =
        tx.first(&sql, &params![id.to_ascii_lowercase(), tenant_id]).await.map_err(|e| e.during("read application"))?;
    row.map(application).transpose()
}

pub(crate) async fn list(
    tx: &mut dyn Tx,
    tenant_id: &str,
    after: Option<&str>,
    top: usize,
) -> Result<(Vec<Application>, bool), StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(APP_COLUMNS).push(" FROM applications WHERE tenant_id = ").bind(tenant_id);
    if let Some(a) = after {
        s.push(" AND id > ").bind(a);
    }
    page(tx, s, "id", top, application).await
}

pub(crate) async fn update(tx: &mut dyn Tx, app: &Application, expected: i64) -> Result<i64, StoreError> {
    const SQL: &str = "UPDATE applications SET display_name = ?, doc = ?, version = version + 1 \
         WHERE id = ? AND tenant_id = ? AND version = ?";
    let p = params![app.display_name.as_str(), encode(&app.doc)?, app.id.as_str(), app.tenant_id.as_str(), expected];
    let n = tx.execute(SQL, &p).await.map_err(|e| e.during("update application"))?;
    if n == 0 {
        return Err(StoreError::VersionMismatch);
    }
    Ok(expected + 1)
}

/// Records the end of every assignment to the service principals of `where_sql` (bound to `param`).
async fn record_unassigned(
    tx: &mut dyn Tx,
    tenant_id: &str,
    sp_where: &str,
    param: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT a.principal_id, a.principal_type, a.resource_id FROM app_role_assignments a \
         JOIN service_principals s ON s.id = a.resource_id WHERE s.tenant_id = ? AND {sp_where}"
    );
    let rows = tx.query(&sql, &params![tenant_id, param]).await.map_err(|e| e.during("read assignments"))?;
    let mut ended = Vec::new();
    for mut r in rows {
        let kind = r.text(1)?;
        let kind = ObjectKind::from_code(&kind).ok_or_else(|| backend(format!("unknown kind {kind:?}")))?;
        ended.push((r.text(0)?, kind, r.text(2)?));
    }
    let entries: Vec<Entry<'_>> =
        ended.iter().map(|(p, k, s)| (p.as_str(), *k, ChangeKind::Unassigned, Some(s.as_str()))).collect();
    record(tx, tenant_id, &entries, at).await
}

pub(crate) async fn delete(tx: &mut dyn Tx, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
    let id = id.to_ascii_lowercase();
    record_unassigned(tx, tenant_id, "s.application_id = ?", &id, at).await?;
    let n = tx
        .execute("DELETE FROM applications WHERE id = ? AND tenant_id = ?", &params![id.as_str(), tenant_id])
        .await
        .map_err(|e| e.during("delete application"))?;
    Ok(n > 0)
}

pub(crate) async fn sp(tx: &mut dyn Tx, tenant_id: &str, id: &str) -> Result<Option<ServicePrincipal>, StoreError> {
    let sql = format!("SELECT {SP_COLUMNS} FROM service_principals WHERE id = ? AND tenant_id = ?");
    let row = tx
        .first(&sql, &params![id.to_ascii_lowercase(), tenant_id])
        .await
        .map_err(|e| e.during("read service principal"))?;
    row.map(service_principal).transpose()
}

pub(crate) async fn sp_by_app_id(
    tx: &mut dyn Tx,
    tenant_id: &str,
    app_id: &str,
) -> Result<Option<ServicePrincipal>, StoreError> {
    let sql = format!("SELECT {SP_COLUMNS} FROM service_principals WHERE app_id = ? AND tenant_id = ?");
    let row = tx
        .first(&sql, &params![app_id.to_ascii_lowercase(), tenant_id])
        .await
        .map_err(|e| e.during("read service principal"))?;
    row.map(service_principal).transpose()
}

pub(crate) async fn sps(
    tx: &mut dyn Tx,
    tenant_id: &str,
    after: Option<&str>,
    top: usize,
) -> Result<(Vec<ServicePrincipal>, bool), StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(SP_COLUMNS).push(" FROM service_principals WHERE tenant_id = ").bind(tenant_id);
    if let Some(a) = after {
        s.push(" AND id > ").bind(a);
    }
    page(tx, s, "id", top, service_principal).await
}

pub(crate) async fn update_sp(tx: &mut dyn Tx, sp: &ServicePrincipal, expected: i64) -> Result<i64, StoreError> {
    const SQL: &str = "UPDATE service_principals SET display_name = ?, assignment_required = ?, doc = ?, \
         version = version + 1 WHERE id = ? AND tenant_id = ? AND version = ?";
    let p = params![
        sp.display_name.as_str(),
        sp.app_role_assignment_required,
        encode(&sp.doc)?,
        sp.id.as_str(),
        sp.tenant_id.as_str(),
        expected,
    ];
    let n = tx.execute(SQL, &p).await.map_err(|e| e.during("update service principal"))?;
    if n == 0 {
        return Err(StoreError::VersionMismatch);
    }
    Ok(expected + 1)
}

pub(crate) async fn delete_sp(
    tx: &mut dyn Tx,
    tenant_id: &str,
    id: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let id = id.to_ascii_lowercase();
    record_unassigned(tx, tenant_id, "s.id = ?", &id, at).await?;
    let n = tx
        .execute("DELETE FROM service_principals WHERE id = ? AND tenant_id = ?", &params![id.as_str(), tenant_id])
        .await
        .map_err(|e| e.during("delete service principal"))?;
    Ok(n > 0)
}

pub(crate) async fn insert_assignment(tx: &mut dyn Tx, a: &AppRoleAssignment) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO app_role_assignments (id, tenant_id, resource_id, principal_id, principal_type, \
         app_role_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)";
    let p = params![
        a.id.as_str(),
        a.tenant_id.as_str(),
        a.resource_id.as_str(),
        a.principal_id.as_str(),
        a.principal_type.code(),
        a.app_role_id.as_str(),
        nanos(a.created)?,
    ];
    tx.execute(SQL, &p).await.map_err(|e| e.conflict("insert assignment", "appRoleAssignment"))?;
    let entry = (a.principal_id.as_str(), a.principal_type, ChangeKind::Assigned, Some(a.resource_id.as_str()));
    record(tx, &a.tenant_id, &[entry], a.created).await
}

pub(crate) async fn assignments_to(
    tx: &mut dyn Tx,
    tenant_id: &str,
    resource_id: &str,
    after: Option<&str>,
    top: usize,
) -> Result<(Vec<AssignmentView>, bool), StoreError> {
    let mut s = Sql::new(ASSIGNMENT_SELECT);
    s.push(" WHERE a.resource_id = ")
        .bind(resource_id.to_ascii_lowercase())
        .push(" AND a.tenant_id = ")
        .bind(tenant_id);
    if let Some(a) = after {
        s.push(" AND (a.created, a.id) > (SELECT created, id FROM app_role_assignments WHERE id = ").bind(a).push(")");
    }
    page(tx, s, "a.created, a.id", top, assignment).await
}

pub(crate) async fn assignments_of(
    tx: &mut dyn Tx,
    tenant_id: &str,
    principal_id: &str,
) -> Result<Vec<AssignmentView>, StoreError> {
    let mut s = Sql::new(ASSIGNMENT_SELECT);
    s.push(" WHERE a.principal_id = ")
        .bind(principal_id.to_ascii_lowercase())
        .push(" AND a.tenant_id = ")
        .bind(tenant_id);
    s.push(" ORDER BY a.created, a.id");
    tx.rows(&s).await.map_err(|e| e.during("read assignments"))?.into_iter().map(assignment).collect()
}

pub(crate) async fn assignment_by_id(
    tx: &mut dyn Tx,
    tenant_id: &str,
    id: &str,
) -> Result<Option<AssignmentView>, StoreError> {
    let mut s = Sql::new(ASSIGNMENT_SELECT);
    s.push(" WHERE a.id = ").bind(id).push(" AND a.tenant_id = ").bind(tenant_id);
    tx.rows(&s).await.map_err(|e| e.during("read assignment"))?.into_iter().next().map(assignment).transpose()
}

pub(crate) async fn delete_assignment(
    tx: &mut dyn Tx,
    tenant_id: &str,
    id: &str,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let Some(view) = assignment_by_id(tx, tenant_id, id).await? else { return Ok(false) };
    let a = &view.assignment;
    tx.execute("DELETE FROM app_role_assignments WHERE id = ?", &params![id])
        .await
        .map_err(|e| e.during("delete assignment"))?;
    let entry = (a.principal_id.as_str(), a.principal_type, ChangeKind::Unassigned, Some(a.resource_id.as_str()));
    record(tx, tenant_id, &[entry], at).await?;
    Ok(true)
}
