//! A user's page: Overview (its properties), Edit properties, Disable/Enable, Delete, its groups (`memberOf`, paged),
//! its application assignments (`appRoleAssignments`) and its manager.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::objects::see_other;
use super::paging::{Links, Paging};
use super::{PAGE_SIZE, collection, text};
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, ok};
use crate::session::{Form, Session, urlencode};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/users/{id}/enabled", post(set_enabled))
        .route("/users/{id}/manager", post(set_manager))
}

/// The properties the Overview shows, with Entra's labels.
const OVERVIEW: &[(&str, &str)] = &[
    ("userPrincipalName", "User principal name"),
    ("id", "Object ID"),
    ("mailNickname", "Mail nickname"),
    ("mail", "Email"),
    ("givenName", "First name"),
    ("surname", "Last name"),
    ("jobTitle", "Job title"),
    ("department", "Department"),
    ("companyName", "Company name"),
    ("employeeId", "Employee ID"),
    ("mobilePhone", "Mobile phone"),
    ("officeLocation", "Office location"),
    ("usageLocation", "Usage location"),
    ("userType", "User type"),
];

#[derive(Debug, Default, Deserialize)]
pub struct UserQuery {
    notice: Option<String>,
    /// Why the manager could not be set (shown next to its field).
    manager_error: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

/// A related object in a table: a group, a member, a manager.
pub struct Related {
    pub id: String,
    pub name: String,
    /// "user" or "group".
    pub kind: &'static str,
    pub detail: String,
}

impl Related {
    pub fn of(o: &Value) -> Related {
        let group = o["@odata.type"].as_str().is_some_and(|t| t.ends_with("group"));
        Related {
            id: text(o, "id"),
            name: text(o, "displayName"),
            kind: if group { "group" } else { "user" },
            detail: if group { text(o, "description") } else { text(o, "userPrincipalName") },
        }
    }

    pub fn link(&self) -> String {
        format!("/console/{}s/{}", self.kind, self.id)
    }
}

/// An application assignment, as a table row.
pub struct Assignment {
    pub application: String,
    pub app_role_id: String,
    pub created: String,
}

pub fn assignments_of(answer: &Value) -> Vec<Assignment> {
    collection(answer)
        .0
        .iter()
        .map(|a| Assignment {
            application: text(a, "resourceDisplayName"),
            app_role_id: text(a, "appRoleId"),
            created: text(a, "createdDateTime"),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "directory/user.html")]
struct UserPage {
    chrome: Chrome,
    id: String,
    name: String,
    enabled: bool,
    created: String,
    facts: Vec<(&'static str, String)>,
    manager: Option<Related>,
    manager_error: Option<String>,
    groups: Vec<Related>,
    links: Links,
    assignments: Vec<Assignment>,
}

async fn user(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<UserQuery>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let path = format!("/v1.0/users/{}", urlencode(&id));
    let names: Vec<&str> = OVERVIEW.iter().map(|(n, _)| *n).collect();
    let o =
        api.get(&format!("{path}?%24select={},displayName,accountEnabled,createdDateTime", names.join(","))).await?;
    let id = text(&o, "id");
    let path = format!("/v1.0/users/{}", urlencode(&id));
    let mut groups_query = format!("%24top={PAGE_SIZE}");
    if !q.paging.after.is_empty() {
        groups_query.push_str(&format!("&%24skiptoken={}", urlencode(&q.paging.after)));
    }
    let (groups, next) = collection(&api.get(&format!("{path}/memberOf?{groups_query}")).await?);
    let manager = match api.exchange(Method::GET, &format!("{path}/manager"), None).await? {
        (200, m) => Some(Related::of(&m)),
        _ => None,
    };
    let assignments = assignments_of(&api.get(&format!("{path}/appRoleAssignments")).await?);
    let name = text(&o, "displayName");
    ok(&UserPage {
        chrome: session.chrome(name.clone(), "users").with_notice(q.notice),
        links: q.paging.links(&format!("/console/users/{}?", urlencode(&id)), next.as_deref()),
        enabled: o["accountEnabled"].as_bool().unwrap_or(true),
        created: text(&o, "createdDateTime"),
        facts: OVERVIEW.iter().map(|(n, label)| (*label, text(&o, n))).filter(|(_, v)| !v.is_empty()).collect(),
        manager,
        manager_error: q.manager_error,
        groups: groups.iter().map(Related::of).collect(),
        assignments,
        id,
        name,
    })
}

async fn set_enabled(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let enabled = form.get("enabled").map(String::as_str) == Some("true");
    let path = format!("/v1.0/users/{}", urlencode(&id));
    session.api(&console).patch(&path, &json!({ "accountEnabled": enabled })).await?;
    let notice = if enabled { "Account enabled." } else { "Account disabled: it is provisioned as inactive." };
    Ok(see_other(&format!("/console/users/{}", urlencode(&id)), notice))
}

/// Sets the manager (a user principal name or an object ID, `manager`), or removes it (`remove`).
async fn set_manager(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let page = format!("/console/users/{}", urlencode(&id));
    let reference = format!("/v1.0/users/{}/manager/$ref", urlencode(&id));
    if form.contains_key("remove") {
        api.delete(&reference).await?;
        return Ok(see_other(&page, "Manager removed."));
    }
    let wanted = form.get("manager").map(|m| m.trim()).unwrap_or_default();
    let refuse = |why: String| {
        let to = format!("{page}?manager_error={}#manager", urlencode(&why));
        Ok(axum::response::Redirect::to(&to).into_response())
    };
    if wanted.is_empty() {
        return refuse("Type the manager's user principal name (name@domain) or object ID.".into());
    }
    let manager = match api.get(&format!("/v1.0/users/{}?%24select=id,displayName", urlencode(wanted))).await {
        Ok(m) => m,
        Err(f) if f.status == 404 || f.status == 400 => {
            return refuse(format!(
                "No user {wanted}: check the user principal name, or copy the manager's object ID."
            ));
        }
        Err(f) => return Err(f.into()),
    };
    let body = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/users/{}", text(&manager, "id")) });
    match api.put(&reference, &body).await {
        Ok(_) => Ok(see_other(&page, &format!("Manager set to {}.", text(&manager, "displayName")))),
        Err(f) if (400..500).contains(&f.status) && f.status != 401 && f.status != 403 => refuse(f.message),
        Err(f) => Err(f.into()),
    }
}
