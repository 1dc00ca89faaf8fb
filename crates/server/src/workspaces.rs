//! The Databricks account APIs for workspaces and workspace assignment, and the workspace-side assignment API, in
//! the shapes the Databricks SDKs and Terraform parse (snake_case, int64 ids as JSON numbers, a bare array for the
//! workspace list). Errors are Databricks errors (`{"error_code","message"}`), not SCIM ones.

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, put};
use idplane_core::CoreError;
use idplane_core::access::Role;
use idplane_core::assignment::{self, Permission};
use idplane_core::ids;
use idplane_core::principal::{Principal, PrincipalKind, display_of};
use idplane_core::tenancy::{Scope, Workspace};
use idplane_scim::ScimError;
use serde_json::{Value, json};

use crate::AppState;
use crate::body::read_json;
use crate::context::{AccountAdmin, WorkspaceCaller, path_param};
use crate::databricks::DbError;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    // Databricks documents the `/preview/` spelling as an alias; Terraform has used it.
    for prefix in ["/api/2.0/accounts/{account_id}/workspaces", "/api/2.0/preview/accounts/{account_id}/workspaces"] {
        let assignments = format!("{prefix}/{{workspace_id}}/permissionassignments");
        router = router
            .route(prefix, with_fallback(get(list_workspaces).post(create_workspace)))
            .route(&format!("{prefix}/{{workspace_id}}"), with_fallback(get(get_workspace).delete(delete_workspace)))
            .route(&assignments, with_fallback(get(list_assignments)))
            .route(&format!("{assignments}/permissions"), with_fallback(get(permission_levels)))
            .route(
                &format!("{assignments}/principals/{{principal_id}}"),
                with_fallback(get(get_assignment).put(put_assignment).delete(delete_assignment)),
            );
    }
    router.route("/api/2.0/preview/permissionassignments", with_fallback(get(ws_list).post(ws_create))).route(
        "/api/2.0/preview/permissionassignments/principals/{principal_id}",
        with_fallback(put(ws_put).delete(ws_delete)),
    )
}

fn with_fallback(m: MethodRouter<AppState>) -> MethodRouter<AppState> {
    m.fallback(|| async { DbError::from(ScimError::new(405, None, "this endpoint does not support that method")) })
}

/// An admin of the workspace a workspace-level request addresses.
struct WorkspaceAdmin {
    workspace: Workspace,
    caller: WorkspaceCaller,
}

impl FromRequestParts<AppState> for WorkspaceAdmin {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DbError> {
        let caller = WorkspaceCaller::of(state, parts).await?;
        if caller.role != Role::Admin {
            return Err(CoreError::PermissionDenied("only workspace admins may manage assignments".into()).into());
        }
        Ok(WorkspaceAdmin { workspace: caller.workspace.clone(), caller })
    }
}

/// An int64 path parameter; anything else names nothing (404).
async fn id_param(parts: &mut Parts, state: &AppState, name: &str) -> Result<i64, DbError> {
    let raw = path_param(parts, state, name).await?;
    raw.parse().map_err(|_| ScimError::not_found(format!("{name} {raw} does not exist")).into())
}

struct PathIds {
    workspace_id: Option<i64>,
    principal_id: Option<i64>,
}

impl FromRequestParts<AppState> for PathIds {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DbError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| DbError::from(ScimError::not_found("no such endpoint")))?;
        let has = |n: &str| params.iter().any(|(k, _)| k == n);
        let (w, p) = (has("workspace_id"), has("principal_id"));
        Ok(PathIds {
            workspace_id: if w { Some(id_param(parts, state, "workspace_id").await?) } else { None },
            principal_id: if p { Some(id_param(parts, state, "principal_id").await?) } else { None },
        })
    }
}

fn workspace_json(w: &Workspace) -> Value {
    json!({
        "workspace_id": w.id,
        "workspace_name": w.name,
        "account_id": w.account_id,
        "deployment_name": format!("adb-{}", w.id),
        "cloud": "azure",
        "location": "local",
        "workspace_status": "RUNNING",
        "creation_time": w.created.unix_timestamp() * 1000 + i64::from(w.created.millisecond()),
        "identity_federation": w.identity_federation,
    })
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

async fn account_workspace(state: &AppState, account_id: &str, workspace_id: i64) -> Result<Workspace, DbError> {
    match state.store.workspace(workspace_id).await.map_err(CoreError::from)? {
        Some(w) if w.account_id == account_id => Ok(w),
        _ => Err(ScimError::not_found(format!("workspace {workspace_id} does not exist in this account")).into()),
    }
}

async fn list_workspaces(State(s): State<AppState>, a: AccountAdmin) -> Result<Response, DbError> {
    let list = s.store.workspaces(&a.account_id).await.map_err(CoreError::from)?;
    Ok(ok(Value::Array(list.iter().map(workspace_json).collect())))
}

async fn get_workspace(State(s): State<AppState>, a: AccountAdmin, ids: PathIds) -> Result<Response, DbError> {
    let w = account_workspace(&s, &a.account_id, ids.workspace_id.unwrap_or_default()).await?;
    Ok(ok(workspace_json(&w)))
}

/// `POST .../workspaces` with `workspace_name`, and idplane's `identity_federation` (default true). A local
/// workspace is running as soon as it exists, so the SDK's wait for `RUNNING` ends at once.
async fn create_workspace(
    State(s): State<AppState>,
    a: AccountAdmin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, DbError> {
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let name = body
        .get("workspace_name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("workspace_name is required"))?;
    let identity_federation = match body.get("identity_federation") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ScimError::invalid_value("identity_federation must be true or false").into()),
    };
    let w = Workspace {
        id: ids::new_numeric_id().map_err(CoreError::from)?,
        account_id: a.account_id.clone(),
        name: name.to_string(),
        identity_federation,
        created: a.now,
    };
    idplane_core::workspaces::create(s.store.as_ref(), &w, a.now, &a.actor()).await?;
    Ok(ok(workspace_json(&w)))
}

async fn delete_workspace(State(s): State<AppState>, a: AccountAdmin, ids: PathIds) -> Result<Response, DbError> {
    let w = account_workspace(&s, &a.account_id, ids.workspace_id.unwrap_or_default()).await?;
    idplane_core::workspaces::delete(s.store.as_ref(), &w, a.now, &a.actor()).await?;
    Ok(ok(json!({})))
}

/// `{"principal": {...}, "permissions": [...]}` as the assignment APIs show one assignment.
fn assignment_json(p: &Principal, permission: Option<Permission>) -> Value {
    let mut principal = json!({"principal_id": p.id, "display_name": display_of(p.kind, &p.doc)});
    let (key, attr) = match p.kind {
        PrincipalKind::User => ("user_name", "userName"),
        PrincipalKind::Group => ("group_name", "displayName"),
        PrincipalKind::ServicePrincipal => ("service_principal_name", "applicationId"),
    };
    if let (Some(o), Some(v)) = (principal.as_object_mut(), p.doc.get(attr)) {
        o.insert(key.into(), v.clone());
    }
    let permissions: Vec<&str> = permission.into_iter().map(Permission::as_str).collect();
    json!({"principal": principal, "permissions": permissions})
}

async fn assignments_json(s: &AppState, workspace_id: i64) -> Result<Value, DbError> {
    let list = s.store.assignments(workspace_id).await.map_err(CoreError::from)?;
    let items: Vec<Value> = list.iter().map(|(p, perm)| assignment_json(p, Some(*perm))).collect();
    Ok(json!({"permission_assignments": items}))
}

/// The requested permissions of a PUT body: `{"permissions": [...]}`; missing or empty means none.
fn requested(body: &Value) -> Result<Option<Permission>, DbError> {
    match body.get("permissions") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Permission::strongest(items.iter().filter_map(Value::as_str))),
        Some(_) => Err(ScimError::invalid_value("permissions must be a list such as [\"USER\"]").into()),
    }
}

async fn list_assignments(State(s): State<AppState>, a: AccountAdmin, ids: PathIds) -> Result<Response, DbError> {
    let w = account_workspace(&s, &a.account_id, ids.workspace_id.unwrap_or_default()).await?;
    Ok(ok(assignments_json(&s, w.id).await?))
}

async fn permission_levels(State(s): State<AppState>, a: AccountAdmin, ids: PathIds) -> Result<Response, DbError> {
    account_workspace(&s, &a.account_id, ids.workspace_id.unwrap_or_default()).await?;
    let levels: Vec<Value> = [Permission::User, Permission::Admin]
        .iter()
        .map(|p| json!({"permission_level": p.as_str(), "description": p.description()}))
        .collect();
    Ok(ok(json!({"permissions": levels})))
}

/// `GET .../permissionassignments/principals/{principal_id}` (idplane's own; Databricks has PUT and DELETE there):
/// one principal's direct assignment to the workspace, `{"principal", "permissions"}` with no permission when it has
/// none; a principal not in the account is a 404. One index lookup, where the list reads every assignment.
async fn get_assignment(State(s): State<AppState>, a: AccountAdmin, ids: PathIds) -> Result<Response, DbError> {
    let w = account_workspace(&s, &a.account_id, ids.workspace_id.unwrap_or_default()).await?;
    let principal_id = ids.principal_id.unwrap_or_default();
    let scope = Scope::Account { account_id: a.account_id.clone() };
    let Some(p) = s.store.principal(&scope, None, principal_id).await.map_err(CoreError::from)? else {
        return Err(ScimError::not_found(format!("principal {principal_id} does not exist in this account")).into());
    };
    let permission = s.store.direct_assignment(w.id, p.id).await.map_err(CoreError::from)?;
    Ok(ok(assignment_json(&p, permission)))
}

async fn put_assignment(
    State(s): State<AppState>,
    a: AccountAdmin,
    ids: PathIds,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, DbError> {
    let w = account_workspace(&s, &a.account_id, ids.workspace_id.unwrap_or_default()).await?;
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let permission = requested(&body)?;
    let principal_id = ids.principal_id.unwrap_or_default();
    let p = assignment::assign(s.store.as_ref(), &w, principal_id, permission, a.now, &a.actor()).await?;
    Ok(ok(assignment_json(&p, permission)))
}

async fn delete_assignment(State(s): State<AppState>, a: AccountAdmin, ids: PathIds) -> Result<Response, DbError> {
    let w = account_workspace(&s, &a.account_id, ids.workspace_id.unwrap_or_default()).await?;
    assignment::assign(s.store.as_ref(), &w, ids.principal_id.unwrap_or_default(), None, a.now, &a.actor()).await?;
    Ok(ok(json!({})))
}

async fn ws_list(State(s): State<AppState>, a: WorkspaceAdmin) -> Result<Response, DbError> {
    Ok(ok(assignments_json(&s, a.workspace.id).await?))
}

async fn ws_put(
    State(s): State<AppState>,
    a: WorkspaceAdmin,
    ids: PathIds,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, DbError> {
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let permission = requested(&body)?;
    let (principal_id, actor) = (ids.principal_id.unwrap_or_default(), a.caller.actor());
    let p = assignment::assign(s.store.as_ref(), &a.workspace, principal_id, permission, a.caller.now, &actor).await?;
    Ok(ok(assignment_json(&p, permission)))
}

async fn ws_delete(State(s): State<AppState>, a: WorkspaceAdmin, ids: PathIds) -> Result<Response, DbError> {
    let (principal_id, actor) = (ids.principal_id.unwrap_or_default(), a.caller.actor());
    assignment::assign(s.store.as_ref(), &a.workspace, principal_id, None, a.caller.now, &actor).await?;
    Ok(ok(json!({})))
}

/// `POST /api/2.0/preview/permissionassignments`: assignments by name (`user_name`, `group_name` or
/// `service_principal_name`). Each item answers with the resolved principal or its own `error`.
async fn ws_create(
    State(s): State<AppState>,
    a: WorkspaceAdmin,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, DbError> {
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let items = body
        .get("permission_assignments")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_value("permission_assignments must be a list"))?;
    let account = Scope::Account { account_id: a.workspace.account_id.clone() };
    let mut out = Vec::with_capacity(items.len());
    let actor = a.caller.actor();
    for item in items {
        let permission = requested(item)?;
        let result = match find_by_name(&s, &account, item).await {
            Ok(id) => assignment::assign(s.store.as_ref(), &a.workspace, id, permission, a.caller.now, &actor)
                .await
                .map(|p| assignment_json(&p, permission))
                .map_err(|e| DbError::from(e).message()),
            Err(e) => Err(e.message()),
        };
        out.push(result.unwrap_or_else(|error| json!({"error": error})));
    }
    Ok(ok(json!({"permission_assignments": out})))
}

/// The account principal an assignment item names.
async fn find_by_name(s: &AppState, account: &Scope, item: &Value) -> Result<i64, DbError> {
    let (kind, name) = [
        (PrincipalKind::User, "user_name"),
        (PrincipalKind::Group, "group_name"),
        (PrincipalKind::ServicePrincipal, "service_principal_name"),
    ]
    .into_iter()
    .find_map(|(kind, key)| item.get(key).and_then(Value::as_str).map(|v| (kind, v)))
    .ok_or_else(|| ScimError::invalid_value("name a user_name, group_name or service_principal_name"))?;
    let found = idplane_core::identities::find_unique(s.store.as_ref(), account, kind, name).await?;
    found.map(|p| p.id).ok_or_else(|| CoreError::not_found("Principal", name).into())
}
