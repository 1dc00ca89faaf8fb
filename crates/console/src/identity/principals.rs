//! User management: the account's Users · Service principals · Groups (search, pages, add), and a principal's page
//! with its groups (a group's members), its entitlements in each workspace it is assigned to, and its workspace
//! assignments.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use idplane_core::resource_types::ENTITLEMENT_VALUES;
use idplane_server::context::X_DATABRICKS_WORKSPACE_ID;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Notice, PAGE_SIZE, WorkspaceChoice, account_api, account_scim, account_workspaces, form_status, scim_pager,
    scim_string, see_other,
};
use crate::Console;
use crate::api::ApiFailure;
use crate::error::PageError;
use crate::page::{Chrome, Pager, ok, render};
use crate::session::{Form, Session, urlencode};

/// The three tabs of User management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    ServicePrincipal,
    Group,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::User, Kind::ServicePrincipal, Kind::Group];

    /// The SCIM endpoint.
    fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::ServicePrincipal => "ServicePrincipals",
            Kind::Group => "Groups",
        }
    }

    /// The console path segment.
    pub fn path(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::ServicePrincipal => "service-principals",
            Kind::Group => "groups",
        }
    }

    /// The tab's title.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::ServicePrincipal => "Service principals",
            Kind::Group => "Groups",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::ServicePrincipal => "service principal",
            Kind::Group => "group",
        }
    }

    /// The SCIM filter of a search for `q`: prefixes of the indexed names, so that a search costs what it finds.
    fn filter(self, q: &str) -> String {
        let s = scim_string(q);
        match self {
            Kind::User => format!("userName sw {s} or displayName sw {s} or emails.value sw {s}"),
            Kind::ServicePrincipal => format!("displayName sw {s} or applicationId sw {s}"),
            Kind::Group => format!("displayName sw {s}"),
        }
    }

    /// The attributes a list shows.
    fn list_attributes(self) -> &'static str {
        match self {
            Kind::User => "id,userName,displayName,active",
            Kind::ServicePrincipal => "id,applicationId,displayName,active",
            Kind::Group => "id,displayName,externalId",
        }
    }

    /// The filter that finds one principal by the name an admin types (a user's email, a group's name, a service
    /// principal's application ID or name).
    fn by_name(self, name: &str) -> String {
        let s = scim_string(name);
        match self {
            Kind::User => format!("userName eq {s}"),
            Kind::ServicePrincipal => format!("applicationId eq {s} or displayName eq {s}"),
            Kind::Group => format!("displayName eq {s}"),
        }
    }

    fn of_path(path: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.path() == path)
    }
}

pub fn routes() -> Router<Console> {
    let mut router = Router::new();
    for kind in Kind::ALL {
        let base = format!("/account/{}", kind.path());
        router = router
            .route(&base, get(move |c, s, q| list(kind, c, s, q)))
            .route(&format!("{base}/new"), get(move |c, s| new_form(kind, c, s)).post(move |c, f| create(kind, c, f)))
            .route(&format!("{base}/{{id}}"), get(move |c, s, p, q| detail(kind, c, s, p, q)))
            .route(&format!("{base}/{{id}}/assignments"), post(move |c, p, f| assign(kind, c, p, f)))
            .route(&format!("{base}/{{id}}/entitlements"), post(move |c, p, f| entitlements(kind, c, p, f)));
    }
    router.route("/account/groups/{id}/members", post(members))
}

/// One row of a list, or one principal named on a page.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    /// The name shown (display name, else the unique name).
    pub name: String,
    /// The unique name: a user's email, a service principal's application ID.
    pub unique: String,
    pub active: bool,
    pub href: String,
}

fn row(kind: Kind, v: &Value) -> Row {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let unique = match kind {
        Kind::User => v["userName"].as_str(),
        Kind::ServicePrincipal => v["applicationId"].as_str(),
        Kind::Group => v["externalId"].as_str(),
    }
    .unwrap_or_default()
    .to_string();
    let name =
        v["displayName"].as_str().filter(|n| !n.is_empty()).map(str::to_string).unwrap_or_else(|| unique.clone());
    let href = format!("/console/account/{}/{}", kind.path(), urlencode(&id));
    Row { id, name, unique, active: v["active"].as_bool().unwrap_or(true), href }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    start: Option<usize>,
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "identity/principals.html")]
struct ListPage {
    chrome: Chrome,
    kind: Kind,
    tabs: Vec<(Kind, bool)>,
    q: String,
    rows: Vec<Row>,
    pager: Pager,
}

async fn list(
    kind: Kind,
    State(console): State<Console>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let q = query.q.unwrap_or_default().trim().to_string();
    let start = query.start.unwrap_or(1).max(1);
    let mut path = format!(
        "{}?startIndex={start}&count={PAGE_SIZE}&attributes={}",
        account_scim(&session, &format!("/{}", kind.endpoint())),
        kind.list_attributes()
    );
    if !q.is_empty() {
        path.push_str("&filter=");
        path.push_str(&urlencode(&kind.filter(&q)));
    }
    let body = session.api(&console).get(&path).await?;
    let rows: Vec<Row> = body["Resources"].as_array().into_iter().flatten().map(|v| row(kind, v)).collect();
    let base = format!("/console/account/{}", kind.path());
    let pager = scim_pager(&body, start, rows.len(), |s| {
        if q.is_empty() { format!("{base}?start={s}") } else { format!("{base}?q={}&start={s}", urlencode(&q)) }
    });
    let tabs = Kind::ALL.into_iter().map(|k| (k, k == kind)).collect();
    ok(&ListPage {
        chrome: session
            .chrome(format!("User management · {}", kind.plural()), "account-users")
            .with_notice(query.notice),
        kind,
        tabs,
        q,
        rows,
        pager,
    })
}

#[derive(Deserialize, Default, Clone)]
pub struct NewPrincipal {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

#[derive(Template)]
#[template(path = "identity/principal_new.html")]
struct NewPage {
    chrome: Chrome,
    kind: Kind,
    form: NewPrincipal,
    error: Option<String>,
}

fn new_page(
    session: &Session,
    kind: Kind,
    form: NewPrincipal,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let title = match kind {
        Kind::User => "Add user",
        Kind::ServicePrincipal => "Add service principal",
        Kind::Group => "Add group",
    };
    render(status, &NewPage { chrome: session.chrome(title, "account-users"), kind, form, error })
}

async fn new_form(kind: Kind, State(_console): State<Console>, session: Session) -> Result<Response, PageError> {
    new_page(&session, kind, NewPrincipal::default(), None, StatusCode::OK)
}

async fn create(
    kind: Kind,
    State(console): State<Console>,
    Form(session, form): Form<NewPrincipal>,
) -> Result<Response, PageError> {
    let (email, name) = (form.email.trim(), form.name.trim());
    let missing = match kind {
        Kind::User if email.is_empty() => {
            Some("Enter the user's email address: it is the user name they sign in with.")
        }
        Kind::ServicePrincipal | Kind::Group if name.is_empty() => Some("Enter a name."),
        _ => None,
    };
    if let Some(message) = missing {
        return new_page(&session, kind, form.clone(), Some(message.into()), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let body = match kind {
        Kind::User if name.is_empty() => json!({"userName": email}),
        Kind::User => json!({"userName": email, "displayName": name}),
        _ => json!({"displayName": name}),
    };
    let path = account_scim(&session, &format!("/{}", kind.endpoint()));
    match session.api(&console).post(&path, &body).await {
        Ok(created) => {
            let id = created["id"].as_str().unwrap_or_default();
            let what = if kind == Kind::User { email } else { name };
            Ok(see_other(&format!("/console/account/{}/{}", kind.path(), urlencode(id)), &format!("Added {what}.")))
        }
        Err(f) => {
            let status = form_status(&f);
            new_page(&session, kind, form.clone(), Some(f.message), status)
        }
    }
}

/// One workspace a principal is assigned to, with its entitlements there.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub workspace: WorkspaceChoice,
    pub permission: String,
    /// Every entitlement, and whether the principal has it directly in this workspace; `None` when the workspace
    /// does not show them (its SCIM API refused: the message says why).
    pub entitlements: Result<Vec<(&'static str, bool)>, String>,
}

#[derive(Template)]
#[template(path = "identity/principal.html")]
struct DetailPage {
    chrome: Chrome,
    kind: Kind,
    principal: Row,
    facts: Vec<(&'static str, String)>,
    created: Option<String>,
    groups: Vec<Row>,
    members: Vec<(Row, &'static str)>,
    assigned: Vec<Assigned>,
    unassigned: Vec<WorkspaceChoice>,
    error: Option<String>,
}

fn member_kind(v: &Value) -> Kind {
    let r = v["$ref"].as_str().or_else(|| v["type"].as_str()).unwrap_or_default();
    if r.contains("Group") {
        Kind::Group
    } else if r.contains("ServicePrincipal") {
        Kind::ServicePrincipal
    } else {
        Kind::User
    }
}

/// The entitlements `v` holds (a workspace SCIM resource).
fn entitlements_of(v: &Value) -> Vec<(&'static str, bool)> {
    let held: Vec<&str> =
        v["entitlements"].as_array().into_iter().flatten().filter_map(|e| e["value"].as_str()).collect();
    ENTITLEMENT_VALUES.iter().map(|e| (*e, held.contains(e))).collect()
}

async fn detail_page(
    kind: Kind,
    console: &Console,
    session: &Session,
    id: &str,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Result<Response, PageError> {
    let api = session.api(console);
    let path = account_scim(session, &format!("/{}/{}", kind.endpoint(), urlencode(id)));
    let v = api.get(&path).await?;
    let principal = row(kind, &v);
    let mut facts = vec![("ID", principal.id.clone())];
    match kind {
        Kind::User => {
            facts.push(("Email (user name)", principal.unique.clone()));
            facts.push(("Status", if principal.active { "Active".into() } else { "Inactive".into() }));
        }
        Kind::ServicePrincipal => {
            facts.push(("Application ID", principal.unique.clone()));
            facts.push(("Status", if principal.active { "Active".into() } else { "Inactive".into() }));
        }
        Kind::Group => {}
    }
    if let Some(external) = v["externalId"].as_str() {
        facts.push(("External ID", external.to_string()));
    }
    let created = v["meta"]["created"].as_str().map(str::to_string);
    let groups = v["groups"].as_array().into_iter().flatten().map(|g| ref_row(Kind::Group, g)).collect();
    let members = v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let k = member_kind(m);
            (ref_row(k, m), k.singular())
        })
        .collect();
    // Workspace assignments: the principal's own assignment in each federated workspace, one lookup each (never a
    // workspace's whole list).
    let workspaces = account_workspaces(console, session).await?;
    let (mut assigned, mut unassigned) = (Vec::new(), Vec::new());
    for w in workspaces.into_iter().filter(|w| w.identity_federation) {
        let path = format!("/workspaces/{}/permissionassignments/principals/{}", w.id, urlencode(&principal.id));
        let a = api.get(&account_api(session, &path)).await?;
        let found = a["permissions"].as_array().is_some_and(|p| !p.is_empty()).then_some(a);
        match found {
            Some(a) => {
                let permission = a["permissions"][0].as_str().unwrap_or("USER").to_string();
                let ws_path = format!("/api/2.0/preview/scim/v2/{}/{}", kind.endpoint(), urlencode(id));
                let entitlements = session
                    .api(console)
                    .with_header(X_DATABRICKS_WORKSPACE_ID.clone(), &w.id)
                    .get(&ws_path)
                    .await
                    .map(|v| entitlements_of(&v))
                    .map_err(|f| {
                        format!(
                            "{} (entitlements are managed through the workspace's own API: add yourself to the \
                             workspace's Permissions as an admin)",
                            f.message
                        )
                    });
                assigned.push(Assigned { workspace: w, permission, entitlements });
            }
            None => unassigned.push(w),
        }
    }
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let chrome = session.chrome(format!("{} · User management", principal.name), "account-users").with_notice(notice);
    render(
        status,
        &DetailPage { chrome, kind, principal, facts, created, groups, members, assigned, unassigned, error },
    )
}

/// A principal a resource refers to (`{"value", "display", "$ref"}`).
fn ref_row(kind: Kind, v: &Value) -> Row {
    let id = v["value"].as_str().unwrap_or_default().to_string();
    let name = v["display"].as_str().filter(|d| !d.is_empty()).unwrap_or(&id).to_string();
    let href = format!("/console/account/{}/{}", kind.path(), urlencode(&id));
    Row { id, name, unique: String::new(), active: true, href }
}

async fn detail(
    kind: Kind,
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    detail_page(kind, &console, &session, &id, q.notice, None).await
}

#[derive(Deserialize)]
pub struct AssignForm {
    workspace_id: String,
    #[serde(default)]
    permission: Option<String>,
    /// Present when the assignment is to be removed.
    #[serde(default)]
    remove: Option<String>,
}

async fn assign(
    kind: Kind,
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<AssignForm>,
) -> Result<Response, PageError> {
    let here = format!("/console/account/{}/{}", kind.path(), urlencode(&id));
    let path = account_api(
        &session,
        &format!("/workspaces/{}/permissionassignments/principals/{}", urlencode(&form.workspace_id), urlencode(&id)),
    );
    let api = session.api(&console);
    let (result, notice) = if form.remove.is_some() {
        (api.delete(&path).await, format!("Removed from workspace {}.", form.workspace_id))
    } else {
        let permission = form.permission.as_deref().unwrap_or("USER");
        let body = json!({"permissions": [permission]});
        (api.put(&path, &body).await, format!("Assigned to workspace {} as {permission}.", form.workspace_id))
    };
    match result {
        Ok(_) => Ok(see_other(&here, &notice)),
        Err(f) => detail_page(kind, &console, &session, &id, None, Some((form_status(&f), f.message))).await,
    }
}

/// The PATCH operations that make `held` into `wanted`.
pub fn entitlement_operations(held: &[(&'static str, bool)], wanted: &[&str]) -> Vec<Value> {
    let mut ops = Vec::new();
    for (name, has) in held {
        let want = wanted.contains(name);
        if want && !has {
            ops.push(json!({"op": "add", "path": "entitlements", "value": [{"value": name}]}));
        } else if !want && *has {
            ops.push(json!({"op": "remove", "path": format!("entitlements[value eq \"{name}\"]")}));
        }
    }
    ops
}

/// The entitlements form: `workspace_id`, and one checkbox named after each entitlement.
async fn entitlements(
    kind: Kind,
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let here = format!("/console/account/{}/{}", kind.path(), urlencode(&id));
    let workspace = form.get("workspace_id").cloned().unwrap_or_default();
    let api = session.api(&console).with_header(X_DATABRICKS_WORKSPACE_ID.clone(), &workspace);
    let path = format!("/api/2.0/preview/scim/v2/{}/{}", kind.endpoint(), urlencode(&id));
    let wanted: Vec<&str> = ENTITLEMENT_VALUES.iter().copied().filter(|e| form.contains_key(*e)).collect();
    let result = match api.get(&path).await {
        Ok(v) => {
            let ops = entitlement_operations(&entitlements_of(&v), &wanted);
            if ops.is_empty() {
                Ok(Value::Null)
            } else {
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
                api.patch(&path, &body).await
            }
        }
        Err(f) => Err(f),
    };
    match result {
        Ok(_) => Ok(see_other(&here, &format!("Entitlements in workspace {workspace} saved."))),
        Err(f) => detail_page(kind, &console, &session, &id, None, Some((form_status(&f), f.message))).await,
    }
}

#[derive(Deserialize)]
pub struct MembersForm {
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    member_kind: Option<String>,
    /// Present to remove the member with this id.
    #[serde(default)]
    remove: Option<String>,
}

async fn members(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<MembersForm>,
) -> Result<Response, PageError> {
    let here = format!("/console/account/groups/{}", urlencode(&id));
    let api = session.api(&console);
    let group = account_scim(&session, &format!("/Groups/{}", urlencode(&id)));
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    if let Some(member) = form.remove.as_deref() {
        let ops = json!([{"op": "remove", "path": format!("members[value eq {}]", scim_string(member))}]);
        return match api.patch(&group, &patch(ops)).await {
            Ok(_) => Ok(see_other(&here, "Member removed.")),
            Err(f) => detail_page(Kind::Group, &console, &session, &id, None, Some((form_status(&f), f.message))).await,
        };
    }
    let name = form.member.as_deref().unwrap_or_default().trim();
    let kind = form.member_kind.as_deref().and_then(Kind::of_path).unwrap_or(Kind::User);
    if name.is_empty() {
        let message = "Enter the email of a user, the name of a group or the application ID of a service principal.";
        return detail_page(
            Kind::Group,
            &console,
            &session,
            &id,
            None,
            Some((StatusCode::UNPROCESSABLE_ENTITY, message.into())),
        )
        .await;
    }
    let found = match find_principal(&console, &session, kind, name).await {
        Ok(found) => found,
        Err(f) => {
            return detail_page(Kind::Group, &console, &session, &id, None, Some((form_status(&f), f.message))).await;
        }
    };
    let ops = json!([{"op": "add", "path": "members", "value": [{"value": found}]}]);
    match api.patch(&group, &patch(ops)).await {
        Ok(_) => Ok(see_other(&here, &format!("Added {name}."))),
        Err(f) => detail_page(Kind::Group, &console, &session, &id, None, Some((form_status(&f), f.message))).await,
    }
}

/// The id of the account's principal of `kind` named `name` (as [`Kind::by_name`]), or a 404 that says what to do.
pub async fn find_principal(
    console: &Console,
    session: &Session,
    kind: Kind,
    name: &str,
) -> Result<String, ApiFailure> {
    let path = format!(
        "{}?filter={}&attributes=id&count=2",
        account_scim(session, &format!("/{}", kind.endpoint())),
        urlencode(&kind.by_name(name))
    );
    let found = session.api(console).get(&path).await?;
    match found["Resources"][0]["id"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => Err(ApiFailure {
            status: 404,
            message: format!(
                "There is no {} \"{name}\" in this account. Check the spelling, or add it in User management first.",
                kind.singular()
            ),
            body: Value::Null,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entitlement_changes_become_patch_operations() {
        let held = [("workspace-access", true), ("databricks-sql-access", false), ("allow-cluster-create", true)];
        let ops = entitlement_operations(&held, &["workspace-access", "databricks-sql-access"]);
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0]["op"], "add");
        assert_eq!(ops[0]["value"][0]["value"], "databricks-sql-access");
        assert_eq!(ops[1]["path"], "entitlements[value eq \"allow-cluster-create\"]");
    }

    #[test]
    fn searches_use_prefixes_of_indexed_names() {
        assert_eq!(Kind::Group.filter("a\"b"), "displayName sw \"a\\\"b\"");
        assert!(Kind::User.filter("ann").contains("userName sw \"ann\""));
    }
}
