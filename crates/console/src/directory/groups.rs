//! A group's page: Overview, Edit properties, Delete, its Members (users and nested groups, paged; Remove), "Add
//! members" (search users and groups, Add), "Member of" and its application assignments.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::objects::{group_type, see_other};
use super::paging::{Links, Paging};
use super::users::{Assignment, Related, assignments_of};
use super::{PAGE_SIZE, collection, starts_with_filter, text};
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, ok, render};
use crate::session::{Form, Session, urlencode};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/groups/{id}", get(group))
        .route("/groups/{id}/members/add", get(add_page).post(add_member))
        .route("/groups/{id}/members/{member}/remove", post(remove_member))
}

/// How many users and how many groups a search for members shows.
const CANDIDATES: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub struct GroupQuery {
    notice: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

#[derive(Template)]
#[template(path = "directory/group.html")]
struct GroupPage {
    chrome: Chrome,
    id: String,
    name: String,
    /// A security group is deleted at once; a Microsoft 365 group goes to Deleted groups.
    security: bool,
    facts: Vec<(&'static str, String)>,
    created: String,
    members: Vec<Related>,
    links: Links,
    member_of: Vec<Related>,
    more_member_of: bool,
    assignments: Vec<Assignment>,
}

fn yes_no(v: &serde_json::Value) -> String {
    if v.as_bool() == Some(true) { "Yes".into() } else { "No".into() }
}

async fn group(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<GroupQuery>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let o = api.get(&format!("/v1.0/groups/{}", urlencode(&id))).await?;
    let id = text(&o, "id");
    let path = format!("/v1.0/groups/{}", urlencode(&id));
    let mut members_query = format!("%24top={PAGE_SIZE}");
    if !q.paging.after.is_empty() {
        members_query.push_str(&format!("&%24skiptoken={}", urlencode(&q.paging.after)));
    }
    let (members, next) = collection(&api.get(&format!("{path}/members?{members_query}")).await?);
    let (member_of, more) = collection(&api.get(&format!("{path}/memberOf?%24top={PAGE_SIZE}")).await?);
    let assignments = assignments_of(&api.get(&format!("{path}/appRoleAssignments")).await?);
    let name = text(&o, "displayName");
    let facts = vec![
        ("Group type", group_type(&o).to_string()),
        ("Object ID", id.clone()),
        ("Group description", text(&o, "description")),
        ("Mail nickname", text(&o, "mailNickname")),
        ("Security enabled", yes_no(&o["securityEnabled"])),
        ("Mail enabled", yes_no(&o["mailEnabled"])),
    ];
    ok(&GroupPage {
        chrome: session.chrome(name.clone(), "groups").with_notice(q.notice),
        links: q.paging.links(&format!("/console/groups/{}?", urlencode(&id)), next.as_deref()),
        facts: facts.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
        created: text(&o, "createdDateTime"),
        security: group_type(&o) == "Security",
        members: members.iter().map(Related::of).collect(),
        member_of: member_of.iter().map(Related::of).collect(),
        more_member_of: more.is_some(),
        assignments,
        id,
        name,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct AddQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "directory/add_members.html")]
struct AddPage {
    chrome: Chrome,
    id: String,
    name: String,
    q: String,
    candidates: Vec<Related>,
    error: Option<String>,
}

/// The "Add members" page: a search over users and groups, each found one with an Add button.
async fn add_view(
    console: &Console,
    session: &Session,
    id: &str,
    q: String,
    error: Option<String>,
) -> Result<AddPage, PageError> {
    let api = session.api(console);
    let g = api.get(&format!("/v1.0/groups/{}?%24select=id,displayName", urlencode(id))).await?;
    let mut candidates = Vec::new();
    if !q.trim().is_empty() {
        // One property a search (an index of the store each): a user principal name when the term has an @.
        let user_field = if q.contains('@') { "userPrincipalName" } else { "displayName" };
        for (kind, properties, select) in [
            ("users", &[user_field][..], "id,displayName,userPrincipalName"),
            ("groups", &["displayName"][..], "id,displayName,description"),
        ] {
            let query = serde_urlencoded::to_string([
                ("$top", CANDIDATES.to_string()),
                ("$filter", starts_with_filter(properties, q.trim())),
                ("$select", select.to_string()),
            ])
            .unwrap_or_default();
            let (found, _) = collection(&api.get(&format!("/v1.0/{kind}?{query}")).await?);
            candidates.extend(found.iter().filter(|o| text(o, "id") != text(&g, "id")).map(|o| {
                let mut r = Related::of(o);
                r.kind = if kind == "groups" { "group" } else { "user" };
                if kind == "groups" {
                    r.detail = text(o, "description");
                }
                r
            }));
        }
    }
    let name = text(&g, "displayName");
    Ok(AddPage {
        chrome: session.chrome(format!("Add members to {name}"), "groups"),
        id: text(&g, "id"),
        name,
        q,
        candidates,
        error,
    })
}

async fn add_page(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<AddQuery>,
) -> Result<Response, PageError> {
    ok(&add_view(&console, &session, &id, q.q, None).await?)
}

async fn add_member(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let member = form.get("member").cloned().unwrap_or_default();
    let name = form.get("name").cloned().unwrap_or_default();
    let body = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}") });
    match session.api(&console).post(&format!("/v1.0/groups/{}/members/$ref", urlencode(&id)), &body).await {
        Ok(_) => Ok(see_other(&format!("/console/groups/{}", urlencode(&id)), &format!("Added {name} as a member."))),
        Err(f) if (400..500).contains(&f.status) && f.status != 401 && f.status != 403 => {
            let q = form.get("q").cloned().unwrap_or_default();
            let message = format!("{name} could not be added: {}", f.message);
            let page = add_view(&console, &session, &id, q, Some(message)).await?;
            render(StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST), &page)
        }
        Err(f) => Err(f.into()),
    }
}

async fn remove_member(
    State(console): State<Console>,
    Path((id, member)): Path<(String, String)>,
    Form(session, form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let path = format!("/v1.0/groups/{}/members/{}/$ref", urlencode(&id), urlencode(&member));
    session.api(&console).delete(&path).await?;
    let name = form.get("name").cloned().unwrap_or_else(|| member.clone());
    Ok(see_other(&format!("/console/groups/{}", urlencode(&id)), &format!("Removed {name} from the members.")))
}
