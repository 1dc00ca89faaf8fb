//! Workspace assignments' transaction scripts.

use idplane_core::assignment::Permission;
use idplane_core::audit::AuditEntry;
use idplane_core::error::StoreError;
use idplane_core::principal::Principal;

use crate::audit::record;
use crate::codec::{self, permission};
use crate::listing::PRINCIPAL_COLUMNS;
use crate::tx::{Sql, Tx, params};

const UPSERT_ASSIGNMENT: &str = "INSERT INTO assignments (workspace_id, principal_id, permissions) \
     VALUES (?, ?, ?) ON CONFLICT (workspace_id, principal_id) DO UPDATE SET permissions = excluded.permissions";
const SELECT_ASSIGNMENT: &str = "SELECT permissions FROM assignments WHERE workspace_id = ? AND principal_id = ?";
const DELETE_ASSIGNMENT: &str = "DELETE FROM assignments WHERE workspace_id = ? AND principal_id = ?";
/// The permissions a principal holds on a workspace through itself and every group above it. `UNION` ends the walk
/// on cycles.
const SELECT_EFFECTIVE_PERMISSIONS: &str = "WITH RECURSIVE up (id) AS (SELECT CAST(? AS BIGINT) \
     UNION SELECT m.group_id FROM memberships m JOIN up ON m.member_id = up.id) \
     SELECT a.permissions FROM up JOIN assignments a ON a.principal_id = up.id AND a.workspace_id = ?";

/// The principals assigned directly to a workspace, with their permission, in id order.
pub(crate) async fn list(tx: &mut dyn Tx, workspace_id: i64) -> Result<Vec<(Principal, Permission)>, StoreError> {
    let mut s = Sql::new("SELECT ");
    s.push(PRINCIPAL_COLUMNS).push(", a.permissions FROM assignments a JOIN principals p ON p.id = a.principal_id");
    s.push(" WHERE a.workspace_id = ").bind(workspace_id).push(" ORDER BY p.id");
    let rows = tx.rows(&s).await.map_err(|e| e.during("read assignments"))?;
    rows.into_iter()
        .map(|mut r| {
            let principal = codec::principal(&mut r, 0)?;
            Ok((principal, permission(&r.text(8)?)?))
        })
        .collect()
}

/// Sets or removes a direct assignment; removing one that was not there changes nothing, and records nothing.
pub(crate) async fn set(
    tx: &mut dyn Tx,
    workspace_id: i64,
    principal_id: i64,
    permission: Option<Permission>,
    audit: &[AuditEntry],
) -> Result<(), StoreError> {
    let n = match permission {
        Some(p) => tx
            .execute(UPSERT_ASSIGNMENT, &params![workspace_id, principal_id, p.as_str()])
            .await
            .map_err(|e| e.conflict("assign", "assignment"))?,
        None => tx
            .execute(DELETE_ASSIGNMENT, &params![workspace_id, principal_id])
            .await
            .map_err(|e| e.during("unassign"))?,
    };
    if n > 0 {
        record(tx, audit).await?;
    }
    Ok(())
}

/// A principal's direct assignment to a workspace (its primary key).
pub(crate) async fn direct(
    tx: &mut dyn Tx,
    workspace_id: i64,
    principal_id: i64,
) -> Result<Option<Permission>, StoreError> {
    let rows = tx
        .query(SELECT_ASSIGNMENT, &params![workspace_id, principal_id])
        .await
        .map_err(|e| e.during("read assignment"))?;
    match rows.into_iter().next() {
        Some(mut row) => Ok(Some(permission(&row.text(0)?)?)),
        None => Ok(None),
    }
}

pub(crate) async fn effective(
    tx: &mut dyn Tx,
    workspace_id: i64,
    principal_id: i64,
) -> Result<Option<Permission>, StoreError> {
    let rows = tx
        .query(SELECT_EFFECTIVE_PERMISSIONS, &params![principal_id, workspace_id])
        .await
        .map_err(|e| e.during("read permission"))?;
    let mut best = None;
    for mut row in rows {
        best = best.max(Some(permission(&row.text(0)?)?));
    }
    Ok(best)
}
