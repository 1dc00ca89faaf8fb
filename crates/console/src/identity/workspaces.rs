//! Workspaces: the account's workspaces (name, id, identity federation, created), "Create workspace", and a
//! workspace's page with its Permissions (workspace assignment: "Add permissions" for a user, group or service
//! principal of the account, and remove).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::principals::{Kind, find_principal};
use super::{Notice, account_api, form_status, millis_of, see_other};
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Form, Session, urlencode};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/account/workspaces", get(list).post(create))
        .route("/account/workspaces/{id}", get(detail))
        .route("/account/workspaces/{id}/permissions", post(permissions))
}

#[derive(Debug, Clone)]
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub identity_federation: bool,
    pub created: Option<String>,
    pub deployment: String,
}

fn workspace_row(w: &Value) -> WorkspaceRow {
    WorkspaceRow {
        id: w["workspace_id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
        name: w["workspace_name"].as_str().unwrap_or_default().to_string(),
        identity_federation: w["identity_federation"].as_bool().unwrap_or(false),
        created: millis_of(&w["creation_time"]),
        deployment: w["deployment_name"].as_str().unwrap_or_default().to_string(),
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    identity_federation: Option<String>,
}

#[derive(Template)]
#[template(path = "identity/workspaces.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<WorkspaceRow>,
    form: CreateForm,
    federation: bool,
    error: Option<String>,
}

async fn list_page(
    console: &Console,
    session: &Session,
    notice: Option<String>,
    form: CreateForm,
    error: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let list = session.api(console).get(&account_api(session, "/workspaces")).await?;
    let mut rows: Vec<WorkspaceRow> = list.as_array().into_iter().flatten().map(workspace_row).collect();
    rows.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
    let (status, error) = error.map_or((StatusCode::OK, None), |(s, m)| (s, Some(m)));
    let federation = error.is_none() || form.identity_federation.is_some();
    let chrome = session.chrome("Workspaces", "workspaces").with_notice(notice);
    render(status, &ListPage { chrome, rows, form, federation, error })
}

async fn list(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    list_page(&console, &session, q.notice, CreateForm::default(), None).await
}

async fn create(State(console): State<Console>, Form(session, form): Form<CreateForm>) -> Result<Response, PageError> {
    let name = form.name.trim();
    if name.is_empty() {
        let error = Some((StatusCode::UNPROCESSABLE_ENTITY, "Enter a workspace name.".to_string()));
        return list_page(&console, &session, None, form.clone(), error).await;
    }
    let body = json!({"workspace_name": name, "identity_federation": form.identity_federation.is_some()});
    match session.api(&console).post(&account_api(&session, "/workspaces"), &body).await {
        Ok(created) => {
            let id = created["workspace_id"].as_i64().unwrap_or_default();
            Ok(see_other(&format!("/console/account/workspaces/{id}"), &format!("Workspace {name} created.")))
        }
        Err(f) => {
            let error = Some((form_status(&f), f.message));
            list_page(&console, &session, None, form.clone(), error).await
        }
    }
}

/// One principal assigned to a workspace.
#[derive(Debug, Clone)]
pub struct Permission {
    pub principal_id: String,
    pub name: String,
    /// "User", "Group" or "Service principal".
    pub kind: &'static str,
    pub href: String,
    pub permission: String,
}

fn permission_row(a: &Value) -> Permission {
    let p = &a["principal"];
    let (kind, label, unique) = if p.get("group_name").is_some() {
        (Kind::Group, "Group", &p["group_name"])
    } else if p.get("service_principal_name").is_some() {
        (Kind::ServicePrincipal, "Service principal", &p["service_principal_name"])
    } else {
        (Kind::User, "User", &p["user_name"])
    };
    let principal_id = p["principal_id"].as_i64().map(|i| i.to_string()).unwrap_or_default();
    let name = p["display_name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or_else(|| unique.as_str())
        .unwrap_or(&principal_id)
        .to_string();
    let href = format!("/console/account/{}/{}", kind.path(), urlencode(&principal_id));
    let permission = a["permissions"][0].as_str().unwrap_or_default().to_string();
    Permission { principal_id, name, kind: label, href, permission }
}

#[derive(Deserialize, Default, Clone)]
pub struct PermissionForm {
    #[serde(default)]
    principal_type: String,
    #[serde(default)]
    principal: String,
    #[serde(default)]
    permission: String,
    /// The id of a principal to remove.
    #[serde(default)]
    remove: Option<String>,
}

#[derive(Template)]
#[template(path = "identity/workspace.html")]
struct DetailPage {
    chrome: Chrome,
    workspace: WorkspaceRow,
    permissions: Vec<Permission>,
    form: PermissionForm,
    error: Option<String>,
}

async fn detail_page(
    console: &Console,
    session: &Session,
    id: &str,
    notice: Option<String>,
    form: PermissionForm,
    error: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let api = session.api(console);
    let workspace = workspace_row(&api.get(&account_api(session, &format!("/workspaces/{}", urlencode(id)))).await?);
    let list = api.get(&account_api(session, &format!("/workspaces/{}/permissionassignments", urlencode(id)))).await?;
    let mut permissions: Vec<Permission> =
        list["permission_assignments"].as_array().into_iter().flatten().map(permission_row).collect();
    permissions.sort_by_key(|p| p.name.to_lowercase());
    let (status, error) = error.map_or((StatusCode::OK, None), |(s, m)| (s, Some(m)));
    let chrome = session.chrome(format!("{} · Workspaces", workspace.name), "workspaces").with_notice(notice);
    render(status, &DetailPage { chrome, workspace, permissions, form, error })
}

async fn detail(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    detail_page(&console, &session, &id, q.notice, PermissionForm::default(), None).await
}

async fn permissions(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<PermissionForm>,
) -> Result<Response, PageError> {
    let here = format!("/console/account/workspaces/{}", urlencode(&id));
    let assignment = |principal: &str| {
        account_api(
            &session,
            &format!("/workspaces/{}/permissionassignments/principals/{}", urlencode(&id), urlencode(principal)),
        )
    };
    let api = session.api(&console);
    if let Some(principal) = form.remove.as_deref() {
        return match api.delete(&assignment(principal)).await {
            Ok(_) => Ok(see_other(&here, "Permissions removed.")),
            Err(f) => {
                detail_page(&console, &session, &id, None, form.clone(), Some((form_status(&f), f.message))).await
            }
        };
    }
    let name = form.principal.trim();
    if name.is_empty() {
        let message = "Enter a user's email, a group's name or a service principal's application ID.".to_string();
        let error = Some((StatusCode::UNPROCESSABLE_ENTITY, message));
        return detail_page(&console, &session, &id, None, form.clone(), error).await;
    }
    let kind = match form.principal_type.as_str() {
        "groups" => Kind::Group,
        "service-principals" => Kind::ServicePrincipal,
        _ => Kind::User,
    };
    let permission = if form.permission == "ADMIN" { "ADMIN" } else { "USER" };
    let result = match find_principal(&console, &session, kind, name).await {
        Ok(principal) => api.put(&assignment(&principal), &json!({"permissions": [permission]})).await,
        Err(f) => Err(f),
    };
    match result {
        Ok(_) => Ok(see_other(&here, &format!("{name} added with {permission} permission."))),
        Err(f) => detail_page(&console, &session, &id, None, form.clone(), Some((form_status(&f), f.message))).await,
    }
}
