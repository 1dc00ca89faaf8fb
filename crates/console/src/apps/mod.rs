//! Enterprise applications, with Entra's page names: the list ("Enterprise applications"), "Browse Microsoft Entra
//! Gallery" (instantiate a template), and per application (a service principal) its Overview, Properties and
//! "Users and groups" tabs; the Provisioning tab's "Edit provisioning" page is in [`provisioning`].
//!
//! Every page calls Graph (`/v1.0/applicationTemplates`, `/v1.0/servicePrincipals`, `.../appRoleAssignedTo`,
//! `/v1.0/users`, `/v1.0/groups`) with the signed-in token; lists are paged by the API's `$skiptoken` and searched
//! with its `startswith` filter.

mod agents;
mod provisioning;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use idplane_provisioning::templates::{NON_GALLERY_APPLICATION_TEMPLATE_ID, ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;
use crate::api::Api;
use crate::error::PageError;
use crate::page::{Chrome, Pager, ok, render};
use crate::session::{Form, Session, urlencode};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/apps", get(list))
        .route("/apps/new", get(gallery).post(create))
        .route("/apps/{sp}", get(overview))
        .route("/apps/{sp}/properties", get(properties).post(save_properties))
        .route("/apps/{sp}/delete", post(delete_app))
        .route("/apps/{sp}/users", get(users))
        .route("/apps/{sp}/users/add", get(add_page).post(add))
        .route("/apps/{sp}/users/{assignment}/remove", post(remove))
        .route("/apps/{sp}/provisioning/edit", get(provisioning::edit).post(provisioning::save))
        .route("/apps/{sp}/provisioning/edit/restart", post(provisioning::restart))
        .route("/apps/{sp}/provisioning/agents", post(provisioning::assign_agents))
        .route("/apps/{sp}/provisioning/agents/{agent}/unassign", post(provisioning::unassign_agent))
        .merge(agents::routes())
}

/// How many rows a list page shows.
const PAGE: usize = 25;

/// How many matches of a search the list shows (the API answers a search on service principals whole).
const SEARCH_SHOWN: usize = 100;

pub(crate) use crate::api::segment as seg;

pub(crate) use crate::page::see_other as done;

/// An application's page: `tail` is "" (Overview), "/users", "/provisioning/edit", ...
pub(crate) fn app_page(sp: &str, tail: &str) -> String {
    format!("/console/apps/{}{tail}", seg(sp))
}

pub(crate) use crate::api::odata_string as odata_text;

/// The `$skiptoken` of an `@odata.nextLink`, the cursor of the next page.
pub(crate) fn skiptoken(list: &Value) -> Option<String> {
    list["@odata.nextLink"].as_str().and_then(crate::api::skip_token)
}

/// The pager of a cursor-paged list: `base` is the page's URL with its search (`?` included), `after` the cursor
/// of the page shown, `shown` its rows, `next` the cursor of the next page.
pub(crate) fn pager(base: &str, after: Option<&str>, shown: usize, next: Option<String>) -> Pager {
    let sep = if base.contains('?') { "&" } else { "?" };
    Pager {
        first: usize::from(shown > 0),
        last: shown,
        total: None,
        previous: after.filter(|a| !a.is_empty()).map(|_| base.to_string()),
        next: next.map(|n| format!("{base}{sep}after={}", urlencode(&n))),
    }
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// An enterprise application as its pages show it.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub id: String,
    pub name: String,
    pub app_id: String,
    pub template_id: String,
    pub created: String,
    pub assignment_required: bool,
}

impl App {
    fn of(v: &Value) -> App {
        App {
            id: text(v, "id"),
            name: text(v, "displayName"),
            app_id: text(v, "appId"),
            template_id: text(v, "applicationTemplateId"),
            created: text(v, "createdDateTime"),
            assignment_required: v["appRoleAssignmentRequired"].as_bool().unwrap_or(false),
        }
    }

    /// The gallery entry's name.
    pub fn template_name(&self) -> String {
        template_label(&self.template_id, "")
    }

    pub fn on_premises(&self) -> bool {
        self.template_id.eq_ignore_ascii_case(ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID)
    }
}

/// How the gallery names a template on its card: the non-gallery template is "Create your own application".
fn template_label(id: &str, display_name: &str) -> String {
    if id.eq_ignore_ascii_case(NON_GALLERY_APPLICATION_TEMPLATE_ID) {
        return "Create your own application".into();
    }
    if !display_name.is_empty() {
        return display_name.into();
    }
    match idplane_provisioning::templates::gallery_application(id) {
        Ok(entry) => entry.template.display_name,
        Err(_) if id.is_empty() => "none".into(),
        Err(_) => id.into(),
    }
}

pub(crate) async fn load_app(api: &Api<'_>, sp: &str) -> Result<App, PageError> {
    Ok(App::of(&api.get(&format!("/v1.0/servicePrincipals/{}", seg(sp))).await?))
}

/// The tabs of an application's pages.
pub(crate) const TABS: &[(&str, &str)] = &[
    ("overview", "Overview"),
    ("properties", "Properties"),
    ("users", "Users and groups"),
    ("provisioning", "Provisioning"),
    ("logs", "Provisioning logs"),
];

/// The link of a tab.
pub(crate) fn tab_href(sp: &str, tab: &str) -> String {
    let base = format!("/console/apps/{}", seg(sp));
    match tab {
        "overview" => base,
        "provisioning" => format!("{base}/provisioning"),
        "logs" => format!("{base}/logs"),
        other => format!("{base}/{other}"),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// The search box (`q`, as on the console's other lists; `search` is read too).
    #[serde(default, rename = "q", alias = "search")]
    search: String,
    after: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "apps/list.html")]
struct ListPage {
    chrome: Chrome,
    search: String,
    apps: Vec<App>,
    pager: Pager,
    more_matches: bool,
}

async fn list(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let search = q.search.trim().to_string();
    let mut path = format!("/v1.0/servicePrincipals?$top={PAGE}");
    if !search.is_empty() {
        path.push_str(&format!("&$filter={}", urlencode(&format!("startswith(displayName,{})", odata_text(&search)))));
    }
    if let Some(after) = q.after.as_deref().filter(|a| !a.is_empty()) {
        path.push_str(&format!("&$skiptoken={}", urlencode(after)));
    }
    let answer = api.get(&path).await?;
    let mut apps: Vec<App> = answer["value"].as_array().into_iter().flatten().map(App::of).collect();
    let next = skiptoken(&answer);
    // The API answers a search whole (service principals are few): show its first matches only.
    let more_matches = !search.is_empty() && apps.len() > SEARCH_SHOWN;
    if !search.is_empty() {
        apps.truncate(SEARCH_SHOWN);
    }
    let base =
        if search.is_empty() { "/console/apps".to_string() } else { format!("/console/apps?q={}", urlencode(&search)) };
    let pager = pager(&base, q.after.as_deref(), apps.len(), next);
    ok(&ListPage {
        chrome: session.chrome("Enterprise applications", "apps").with_notice(q.notice),
        search,
        apps,
        pager,
        more_matches,
    })
}

/// A gallery card.
struct Card {
    id: String,
    label: String,
    name: String,
    description: String,
    publisher: String,
}

#[derive(Template)]
#[template(path = "apps/new.html")]
struct GalleryPage {
    chrome: Chrome,
    cards: Vec<Card>,
    chosen: String,
    name: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct GalleryQuery {
    #[serde(default)]
    template: String,
}

async fn gallery_page(
    console: &Console,
    session: &Session,
    status: StatusCode,
    chosen: String,
    name: String,
    error: Option<String>,
) -> Result<Response, PageError> {
    let answer = session.api(console).get("/v1.0/applicationTemplates").await?;
    let cards = answer["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Card {
            id: text(t, "id"),
            label: template_label(&text(t, "id"), &text(t, "displayName")),
            name: text(t, "displayName"),
            description: text(t, "description"),
            publisher: text(t, "publisher"),
        })
        .collect();
    render(
        status,
        &GalleryPage { chrome: session.chrome("Browse Microsoft Entra Gallery", "apps"), cards, chosen, name, error },
    )
}

async fn gallery(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<GalleryQuery>,
) -> Result<Response, PageError> {
    gallery_page(&console, &session, StatusCode::OK, q.template, String::new(), None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    template: String,
    #[serde(default)]
    name: String,
}

async fn create(State(console): State<Console>, Form(session, form): Form<CreateForm>) -> Result<Response, PageError> {
    let name = form.name.trim().to_string();
    let again = |status, error: &str| {
        gallery_page(&console, &session, status, form.template.clone(), name.clone(), Some(error.to_string()))
    };
    if form.template.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "Pick an application from the gallery first.").await;
    }
    if name.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "Give the application a name (it is how it appears in lists).")
            .await;
    }
    let path = format!("/v1.0/applicationTemplates/{}/instantiate", seg(&form.template));
    match session.api(&console).post(&path, &json!({"displayName": name})).await {
        Ok(created) => {
            let sp = text(&created["servicePrincipal"], "id");
            Ok(done(&app_page(&sp, ""), &format!("Application {name} added.")))
        }
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            again(status, &f.message).await
        }
    }
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "apps/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    app: App,
    tab: &'static str,
    job: Option<provisioning::JobSummary>,
    assignments: usize,
    more_assignments: bool,
}

async fn overview(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    let job = provisioning::job_of(&api, &app.id).await?.map(|j| provisioning::JobSummary::of(&j));
    let assigned =
        api.get(&format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo?$top=5&$select=id", seg(&app.id))).await?;
    let assignments = assigned["value"].as_array().map_or(0, Vec::len);
    let more_assignments = assigned["@odata.nextLink"].is_string();
    ok(&OverviewPage {
        chrome: session.chrome(app.name.clone(), "apps").with_notice(q.notice),
        app,
        tab: "overview",
        job,
        assignments,
        more_assignments,
    })
}

#[derive(Template)]
#[template(path = "apps/properties.html")]
struct PropertiesPage {
    chrome: Chrome,
    app: App,
    tab: &'static str,
    name: String,
    required: bool,
    error: Option<String>,
}

async fn properties(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let app = load_app(&session.api(&console), &sp).await?;
    ok(&PropertiesPage {
        chrome: session.chrome(format!("{} · Properties", app.name), "apps").with_notice(q.notice),
        name: app.name.clone(),
        required: app.assignment_required,
        app,
        tab: "properties",
        error: None,
    })
}

#[derive(Deserialize)]
pub struct PropertiesForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    required: String,
}

async fn save_properties(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, form): Form<PropertiesForm>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    let name = form.name.trim().to_string();
    let required = form.required == "yes";
    let result = if name.is_empty() {
        Err((StatusCode::UNPROCESSABLE_ENTITY, "Give the application a name.".to_string()))
    } else {
        let body = json!({"displayName": name, "appRoleAssignmentRequired": required});
        api.patch(&format!("/v1.0/servicePrincipals/{}", seg(&app.id)), &body)
            .await
            .map_err(|f| (StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST), f.message))
    };
    match result {
        Ok(_) => Ok(done(&app_page(&app.id, "/properties"), "Saved.")),
        Err((status, error)) => render(
            status,
            &PropertiesPage {
                chrome: session.chrome(format!("{} · Properties", app.name), "apps"),
                app,
                tab: "properties",
                name,
                required,
                error: Some(error),
            },
        ),
    }
}

async fn delete_app(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, _): Form<crate::session::Nothing>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    api.delete(&format!("/v1.0/servicePrincipals/{}", seg(&app.id))).await?;
    Ok(done("/console/apps", &format!("Application {} deleted.", app.name)))
}

/// An assignment row.
struct Assignment {
    id: String,
    name: String,
    kind: String,
    principal_id: String,
    role: String,
    created: String,
}

#[derive(Template)]
#[template(path = "apps/users.html")]
struct UsersPage {
    chrome: Chrome,
    app: App,
    tab: &'static str,
    rows: Vec<Assignment>,
    pager: Pager,
}

#[derive(Deserialize)]
pub struct PagedQuery {
    after: Option<String>,
    notice: Option<String>,
}

/// The name of an app role id: the default access role is all-zero.
fn role_name(app_roles: &Value, id: &str) -> String {
    if id.is_empty() || id == "00000000-0000-0000-0000-000000000000" {
        return "Default Access".into();
    }
    app_roles
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["id"].as_str() == Some(id))
        .and_then(|r| r["displayName"].as_str())
        .unwrap_or(id)
        .to_string()
}

async fn users(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(q): Query<PagedQuery>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let raw = api.get(&format!("/v1.0/servicePrincipals/{}", seg(&sp))).await?;
    let app = App::of(&raw);
    let mut path = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo?$top={PAGE}", seg(&app.id));
    if let Some(after) = q.after.as_deref().filter(|a| !a.is_empty()) {
        path.push_str(&format!("&$skiptoken={}", urlencode(after)));
    }
    let answer = api.get(&path).await?;
    let rows: Vec<Assignment> = answer["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| Assignment {
            id: text(a, "id"),
            name: text(a, "principalDisplayName"),
            kind: text(a, "principalType"),
            principal_id: text(a, "principalId"),
            role: role_name(&raw["appRoles"], a["appRoleId"].as_str().unwrap_or_default()),
            created: text(a, "createdDateTime"),
        })
        .collect();
    let base = format!("/console/apps/{}/users", seg(&app.id));
    let pager = pager(&base, q.after.as_deref(), rows.len(), skiptoken(&answer));
    ok(&UsersPage {
        chrome: session.chrome(format!("{} · Users and groups", app.name), "apps").with_notice(q.notice),
        app,
        tab: "users",
        rows,
        pager,
    })
}

/// A user or group found by the "Add user/group" search.
struct Candidate {
    id: String,
    name: String,
    detail: String,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "apps/add.html")]
struct AddPage {
    chrome: Chrome,
    app: App,
    tab: &'static str,
    search: String,
    searched: bool,
    found: Vec<Candidate>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    /// The search box (`q`, as on the console's other lists; `search` is read too).
    #[serde(default, rename = "q", alias = "search")]
    search: String,
}

/// How many users and how many groups a search shows.
const FOUND: usize = 10;

async fn find_principals(api: &Api<'_>, search: &str) -> Result<Vec<Candidate>, PageError> {
    let filter = urlencode(&format!("startswith(displayName,{})", odata_text(search)));
    let users =
        api.get(&format!("/v1.0/users?$top={FOUND}&$filter={filter}&$select=id,displayName,userPrincipalName")).await?;
    let groups =
        api.get(&format!("/v1.0/groups?$top={FOUND}&$filter={filter}&$select=id,displayName,description")).await?;
    let mut found: Vec<Candidate> = users["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| Candidate {
            id: text(u, "id"),
            name: text(u, "displayName"),
            detail: text(u, "userPrincipalName"),
            kind: "User",
        })
        .collect();
    found.extend(groups["value"].as_array().into_iter().flatten().map(|g| Candidate {
        id: text(g, "id"),
        name: text(g, "displayName"),
        detail: text(g, "description"),
        kind: "Group",
    }));
    Ok(found)
}

async fn add_page(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    let search = q.search.trim().to_string();
    let found = if search.is_empty() { Vec::new() } else { find_principals(&api, &search).await? };
    ok(&AddPage {
        chrome: session.chrome(format!("{} · Add Assignment", app.name), "apps"),
        app,
        tab: "users",
        searched: !search.is_empty(),
        search,
        found,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    principal: String,
    /// The search box (`q`, as on the console's other lists; `search` is read too).
    #[serde(default, rename = "q", alias = "search")]
    search: String,
}

async fn add(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, form): Form<AddForm>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    let (principal, name) = form.principal.split_once('|').unwrap_or((form.principal.as_str(), ""));
    let body =
        json!({"principalId": principal, "resourceId": app.id, "appRoleId": "00000000-0000-0000-0000-000000000000"});
    let error = if principal.is_empty() {
        (StatusCode::UNPROCESSABLE_ENTITY, "Select a user or a group to assign.".to_string())
    } else {
        match api.post(&format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", seg(&app.id)), &body).await {
            Ok(_) => {
                return Ok(done(&app_page(&app.id, "/users"), &format!("{name} assigned.")));
            }
            Err(f) => (StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST), f.message),
        }
    };
    let search = form.search.trim().to_string();
    let found = if search.is_empty() { Vec::new() } else { find_principals(&api, &search).await? };
    render(
        error.0,
        &AddPage {
            chrome: session.chrome(format!("{} · Add Assignment", app.name), "apps"),
            app,
            tab: "users",
            searched: !search.is_empty(),
            search,
            found,
            error: Some(error.1),
        },
    )
}

async fn remove(
    State(console): State<Console>,
    Path((sp, assignment)): Path<(String, String)>,
    Form(session, _): Form<crate::session::Nothing>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    api.delete(&format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo/{}", seg(&sp), seg(&assignment))).await?;
    Ok(done(&app_page(&sp, "/users"), "Assignment removed."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_from_the_url_stays_one_path_segment() {
        assert_eq!(seg("abc-123"), "abc-123");
        assert_eq!(seg("../users?x=1"), "..%2Fusers%3Fx%3D1");
    }

    #[test]
    fn a_search_is_one_odata_literal() {
        assert_eq!(odata_text("O'Brien"), "'O''Brien'");
    }

    #[test]
    fn the_next_page_is_the_next_links_skiptoken() {
        let list = json!({"@odata.nextLink": "http://h/v1.0/servicePrincipals?%24top=25&%24skiptoken=YWZ0ZXI6eA"});
        assert_eq!(skiptoken(&list).as_deref(), Some("YWZ0ZXI6eA"));
        assert_eq!(skiptoken(&json!({"value": []})), None);
        let p = pager("/console/apps", None, 25, Some("YWZ0ZXI6eA".into()));
        assert_eq!(p.next.as_deref(), Some("/console/apps?after=YWZ0ZXI6eA"));
        assert!(p.previous.is_none());
        let p = pager("/console/apps?search=a", Some("x"), 3, None);
        assert_eq!(p.previous.as_deref(), Some("/console/apps?search=a"));
        assert!(p.next.is_none());
    }

    #[test]
    fn the_non_gallery_template_is_create_your_own() {
        assert_eq!(
            template_label(NON_GALLERY_APPLICATION_TEMPLATE_ID, "Non-gallery application"),
            "Create your own application"
        );
        assert_eq!(role_name(&json!([]), "00000000-0000-0000-0000-000000000000"), "Default Access");
    }
}
