//! What users and groups share: the listings ("All users", "Deleted users", "All groups", "Deleted groups"), the
//! create and edit forms, delete, restore and delete permanently. A handler serves one kind, chosen by its const
//! parameter (`GROUP`), as Graph's own directory handlers are.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::paging::{Links, Paging};
use super::{FieldError, collection, listing_query, text};
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, ok, render};
use crate::session::{Form, Session, urlencode};

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/users", get(list::<USERS>))
        .route("/users/new", get(new_form::<USERS>).post(create::<USERS>))
        .route("/users/deleted", get(deleted::<USERS>))
        .route("/users/deleted/{id}/restore", post(restore::<USERS>))
        .route("/users/deleted/{id}/purge", post(purge::<USERS>))
        .route("/users/{id}/edit", get(edit_form::<USERS>).post(update::<USERS>))
        .route("/users/{id}/delete", post(remove::<USERS>))
        .route("/groups", get(list::<GROUPS>))
        .route("/groups/new", get(new_form::<GROUPS>).post(create::<GROUPS>))
        .route("/groups/deleted", get(deleted::<GROUPS>))
        .route("/groups/deleted/{id}/restore", post(restore::<GROUPS>))
        .route("/groups/deleted/{id}/purge", post(purge::<GROUPS>))
        .route("/groups/{id}/edit", get(edit_form::<GROUPS>).post(update::<GROUPS>))
        .route("/groups/{id}/delete", post(remove::<GROUPS>))
}

const USERS: bool = false;
const GROUPS: bool = true;

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

/// One field of a create or edit form.
pub struct FieldSpec {
    /// The Graph property (and the input's name).
    pub name: &'static str,
    pub label: &'static str,
    /// The input's type: text, password, email.
    pub input: &'static str,
    pub required: bool,
    /// Only on the create form.
    pub new_only: bool,
    pub hint: &'static str,
}

const fn field(name: &'static str, label: &'static str, required: bool, hint: &'static str) -> FieldSpec {
    FieldSpec { name, label, input: "text", required, new_only: false, hint }
}

/// The fields of a user's form, with Entra's labels ("New user" and "Edit properties").
pub const USER_FIELDS: &[FieldSpec] = &[
    field(
        "userPrincipalName",
        "User principal name",
        true,
        "The sign-in name, alias@domain (ada@contoso.com); unique in the directory.",
    ),
    field(
        "mailNickname",
        "Mail nickname",
        false,
        "The mail alias. Left empty, it is the user principal name's part before the @.",
    ),
    field("displayName", "Display name", true, "The name shown everywhere (Ada Lovelace)."),
    FieldSpec {
        name: "password",
        label: "Password",
        input: "password",
        required: false,
        new_only: true,
        hint: "The initial password, as Entra asks for one. idplane has no sign-in of its own: it neither keeps nor \
               sends it.",
    },
    field("givenName", "First name", false, ""),
    field("surname", "Last name", false, ""),
    field("jobTitle", "Job title", false, ""),
    field("department", "Department", false, ""),
    field("companyName", "Company name", false, ""),
    field("employeeId", "Employee ID", false, ""),
    FieldSpec { input: "email", ..field("mail", "Email", false, "The user's mail address (provisioned as email).") },
    field("mobilePhone", "Mobile phone", false, ""),
    field("officeLocation", "Office location", false, ""),
    field("usageLocation", "Usage location", false, "A two-letter country code (US, DE)."),
];

/// The fields of a group's form ("New group" and "Edit properties").
pub const GROUP_FIELDS: &[FieldSpec] = &[
    field("displayName", "Group name", true, "The group's display name (Data engineers)."),
    field(
        "mailNickname",
        "Mail nickname",
        false,
        "The mail alias. Left empty, it is the group name's letters and digits.",
    ),
    field("description", "Group description", false, ""),
];

impl Kind {
    fn of<const GROUP: bool>() -> Kind {
        if GROUP { Kind::Group } else { Kind::User }
    }

    pub fn is_user(self) -> bool {
        self == Kind::User
    }

    /// The collection's segment, in Graph's paths and the console's.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Group => "groups",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }

    fn deleted_path(self) -> &'static str {
        match self {
            Kind::User => "/v1.0/directory/deletedItems/microsoft.graph.user",
            Kind::Group => "/v1.0/directory/deletedItems/microsoft.graph.group",
        }
    }

    /// The properties a search may match the start of (one at a time: each is served by an index of the store,
    /// where an `or` of them is not), with their labels.
    pub fn search_fields(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::User => {
                &[("displayName", "Display name"), ("userPrincipalName", "User principal name"), ("mail", "Email")]
            }
            Kind::Group => &[("displayName", "Group name"), ("mailNickname", "Mail nickname")],
        }
    }

    /// The property a search matches: the one chosen, except that a user's term with an `@` searches user principal
    /// names rather than display names; the display name when none is chosen.
    pub fn search_field(self, by: Option<&str>, term: &str) -> (&'static str, &'static str) {
        let fields = self.search_fields();
        let chosen = by.and_then(|b| fields.iter().find(|(name, _)| *name == b)).unwrap_or(&fields[0]);
        if self == Kind::User && chosen.0 == "displayName" && term.contains('@') { fields[1] } else { *chosen }
    }

    /// The properties a listing reads.
    fn select(self) -> &'static str {
        match self {
            Kind::User => "id,displayName,userPrincipalName,accountEnabled,createdDateTime,deletedDateTime",
            Kind::Group => "id,displayName,description,groupTypes,createdDateTime,deletedDateTime",
        }
    }

    /// The headings of a listing's columns after the name, and their cells for one row.
    fn columns(self) -> [&'static str; 2] {
        match self {
            Kind::User => ["User principal name", "Account enabled"],
            Kind::Group => ["Group description", "Group type"],
        }
    }

    fn cells(self, o: &Value) -> [String; 2] {
        let yes_no = |v: &Value| match v.as_bool() {
            Some(true) => "Yes".to_string(),
            Some(false) => "No".to_string(),
            None => String::new(),
        };
        match self {
            Kind::User => [text(o, "userPrincipalName"), yes_no(&o["accountEnabled"])],
            Kind::Group => [text(o, "description"), group_type(o).to_string()],
        }
    }

    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Kind::User => USER_FIELDS,
            Kind::Group => GROUP_FIELDS,
        }
    }

    /// The form's checkbox (users): its property, label and hint. A group's type is chosen when it is created.
    fn check(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Kind::User => {
                Some(("accountEnabled", "Account enabled", "A disabled account is not provisioned as active."))
            }
            Kind::Group => None,
        }
    }

    fn checked(self, form: &HashMap<String, String>) -> bool {
        self.check().is_some_and(|(name, _, _)| form.contains_key(name))
    }

    fn titles(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::User => ("All users", "Deleted users", "New user"),
            Kind::Group => ("All groups", "Deleted groups", "New group"),
        }
    }
}

/// A group's type as Entra names it: "Microsoft 365" (`groupTypes` has `Unified`), else "Security".
pub fn group_type(o: &Value) -> &'static str {
    let unified = o["groupTypes"].as_array().is_some_and(|t| t.iter().any(|t| t.as_str() == Some("Unified")));
    if unified { "Microsoft 365" } else { "Security" }
}

/// A listing's query: the search box, paging and a notice.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    /// The property searched.
    by: Option<String>,
    #[serde(flatten)]
    paging: Paging,
    notice: Option<String>,
}

/// One row of a listing.
pub struct Row {
    pub id: String,
    pub name: String,
    pub cells: [String; 2],
    /// When it was created (listings) or deleted (deleted items), RFC 3339.
    pub time: String,
}

#[derive(Template)]
#[template(path = "directory/list.html")]
struct ListPage {
    chrome: Chrome,
    kind: Kind,
    deleted: bool,
    tab: &'static str,
    heading: &'static str,
    columns: [&'static str; 2],
    q: String,
    /// The property searched, and its label.
    by: (&'static str, &'static str),
    rows: Vec<Row>,
    links: Links,
}

/// "All users"/"All groups", or the deleted ones.
async fn listing(
    console: Console,
    session: Session,
    kind: Kind,
    deleted: bool,
    q: ListQuery,
) -> Result<Response, PageError> {
    let path = if deleted { kind.deleted_path().to_string() } else { format!("/v1.0/{}", kind.collection()) };
    let by = kind.search_field(q.by.as_deref(), q.q.trim());
    let query = listing_query(by.0, &q.q, &q.paging.after);
    let answer = session.api(&console).get(&format!("{path}?{query}&%24select={}", kind.select())).await?;
    let (values, next) = collection(&answer);
    let rows = values
        .iter()
        .map(|o| Row {
            id: text(o, "id"),
            name: text(o, "displayName"),
            cells: kind.cells(o),
            time: text(o, if deleted { "deletedDateTime" } else { "createdDateTime" }),
        })
        .collect();
    let page = if deleted { "/deleted" } else { "" };
    let mut base = format!("/console/{}{page}?", kind.collection());
    if !q.q.trim().is_empty() {
        base.push_str(&format!("q={}&by={}&", urlencode(q.q.trim()), by.0));
    }
    let links = q.paging.links(&base, next.as_deref());
    let (all, gone, _) = kind.titles();
    let heading = if deleted { gone } else { all };
    ok(&ListPage {
        chrome: session.chrome(heading, kind.collection()).with_notice(q.notice),
        kind,
        deleted,
        tab: if deleted { "deleted" } else { "all" },
        heading,
        columns: kind.columns(),
        q: q.q,
        by,
        rows,
        links,
    })
}

async fn list<const GROUP: bool>(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    listing(console, session, Kind::of::<GROUP>(), false, q).await
}

async fn deleted<const GROUP: bool>(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    listing(console, session, Kind::of::<GROUP>(), true, q).await
}

pub use crate::page::see_other;

/// The display name of a deleted object (for the notice), or its id.
async fn deleted_name(console: &Console, session: &Session, id: &str) -> String {
    let path = format!("/v1.0/directory/deletedItems/{}?%24select=displayName", urlencode(id));
    match session.api(console).get(&path).await {
        Ok(o) if !text(&o, "displayName").is_empty() => text(&o, "displayName"),
        _ => id.to_string(),
    }
}

async fn restore<const GROUP: bool>(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, _): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let kind = Kind::of::<GROUP>();
    let restored = session
        .api(&console)
        .post(&format!("/v1.0/directory/deletedItems/{}/restore", urlencode(&id)), &json!({}))
        .await?;
    let name = text(&restored, "displayName");
    Ok(see_other(&format!("/console/{}/{}", kind.collection(), urlencode(&id)), &format!("Restored {name}.")))
}

async fn purge<const GROUP: bool>(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, _): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let kind = Kind::of::<GROUP>();
    let name = deleted_name(&console, &session, &id).await;
    session.api(&console).delete(&format!("/v1.0/directory/deletedItems/{}", urlencode(&id))).await?;
    Ok(see_other(&format!("/console/{}/deleted", kind.collection()), &format!("Deleted {name} permanently.")))
}

async fn remove<const GROUP: bool>(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, _): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let kind = Kind::of::<GROUP>();
    let path = format!("/v1.0/{}/{}", kind.collection(), urlencode(&id));
    let select = if kind == Kind::Group { "displayName,groupTypes" } else { "displayName" };
    let o = session.api(&console).get(&format!("{path}?%24select={select}")).await?;
    let name = text(&o, "displayName");
    session.api(&console).delete(&path).await?;
    let (_, gone, _) = kind.titles();
    let notice = if kind == Kind::Group && group_type(&o) == "Security" {
        format!("Deleted {name} permanently (a security group cannot be restored).")
    } else {
        format!("Deleted {name}. It stays in {gone} for 30 days, where it can be restored.")
    };
    Ok(see_other(&format!("/console/{}", kind.collection()), &notice))
}

/// One input of a form, as shown.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub input: &'static str,
    pub required: bool,
    pub hint: &'static str,
    pub value: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "directory/form.html")]
struct FormPage {
    chrome: Chrome,
    kind: Kind,
    heading: String,
    /// Where the form posts, and where Cancel goes.
    action: String,
    cancel: String,
    submit: &'static str,
    fields: Vec<FieldView>,
    check: Option<(&'static str, &'static str, &'static str)>,
    checked: bool,
    /// The group type chooser (a new group): "security" or "m365".
    group_type: Option<String>,
    /// An error the API gave about no one field.
    error: Option<String>,
}

fn form_page(
    session: &Session,
    kind: Kind,
    id: Option<&str>,
    values: &HashMap<String, String>,
    checked: bool,
    error: Option<FieldError>,
) -> FormPage {
    let (_, _, new_title) = kind.titles();
    let fields: Vec<FieldView> = kind
        .fields()
        .iter()
        .filter(|f| id.is_none() || !f.new_only)
        .map(|f| FieldView {
            name: f.name,
            label: f.label,
            input: f.input,
            required: f.required,
            hint: f.hint,
            value: values.get(f.name).cloned().unwrap_or_default(),
            error: error.as_ref().and_then(|e| e.on(f.name)).map(str::to_string),
        })
        .collect();
    let placed = fields.iter().any(|f| f.error.is_some());
    let (heading, action, cancel, submit) = match id {
        None => (
            new_title.to_string(),
            format!("/console/{}/new", kind.collection()),
            format!("/console/{}", kind.collection()),
            "Create",
        ),
        Some(id) => {
            let name = values.get("displayName").cloned().unwrap_or_default();
            let page = format!("/console/{}/{}", kind.collection(), urlencode(id));
            (format!("Edit properties of {name}"), format!("{page}/edit"), page, "Save")
        }
    };
    FormPage {
        chrome: session.chrome(heading.clone(), kind.collection()),
        kind,
        heading,
        action,
        cancel,
        submit,
        fields,
        check: kind.check(),
        checked,
        group_type: (kind == Kind::Group && id.is_none())
            .then(|| values.get("groupType").cloned().unwrap_or_else(|| "security".into())),
        error: error.filter(|_| !placed).map(|e| e.message),
    }
}

async fn new_form<const GROUP: bool>(session: Session) -> Result<Response, PageError> {
    ok(&form_page(&session, Kind::of::<GROUP>(), None, &HashMap::new(), true, None))
}

/// The Graph body of a form: every field that has a value (an edit also clears the optional ones left empty).
fn body_of(kind: Kind, form: &HashMap<String, String>, edit: bool) -> Value {
    let mut body = Map::new();
    for f in kind.fields() {
        let value = form.get(f.name).map(|v| v.trim()).unwrap_or_default();
        if f.name == "password" {
            if !value.is_empty() {
                body.insert(
                    "passwordProfile".into(),
                    json!({"password": value, "forceChangePasswordNextSignIn": true}),
                );
            }
        } else if !value.is_empty() {
            body.insert(f.name.into(), json!(value));
        } else if edit && !f.required && f.name != "mailNickname" && !f.new_only {
            body.insert(f.name.into(), Value::Null);
        }
    }
    if let Some((name, _, _)) = kind.check() {
        body.insert(name.into(), json!(form.contains_key(name)));
    }
    if kind == Kind::Group && !edit {
        let m365 = form.get("groupType").map(String::as_str) == Some("m365");
        body.insert("securityEnabled".into(), json!(!m365));
        body.insert("mailEnabled".into(), json!(m365));
        body.insert("groupTypes".into(), if m365 { json!(["Unified"]) } else { json!([]) });
    }
    Value::Object(body)
}

fn failed(status: u16, page: &FormPage) -> Result<Response, PageError> {
    let status = StatusCode::from_u16(status).ok().filter(|s| s.is_client_error()).unwrap_or(StatusCode::BAD_REQUEST);
    render(status, page)
}

async fn create<const GROUP: bool>(
    State(console): State<Console>,
    Form(session, form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let kind = Kind::of::<GROUP>();
    match session.api(&console).post(&format!("/v1.0/{}", kind.collection()), &body_of(kind, &form, false)).await {
        Ok(created) => Ok(see_other(
            &format!("/console/{}/{}", kind.collection(), urlencode(&text(&created, "id"))),
            &format!("Created {}.", text(&created, "displayName")),
        )),
        Err(f) if f.status < 500 && f.status != 401 && f.status != 403 => {
            let mut kept = form.clone();
            kept.remove("password");
            let checked = kind.checked(&form);
            failed(f.status, &form_page(&session, kind, None, &kept, checked, Some(FieldError::of(&f))))
        }
        Err(f) => Err(f.into()),
    }
}

/// The current values of an object's form fields.
pub async fn current(console: &Console, session: &Session, kind: Kind, id: &str) -> Result<Value, PageError> {
    let names: Vec<&str> = kind.fields().iter().filter(|f| !f.new_only).map(|f| f.name).collect();
    let check = kind.check().map_or("id", |(name, _, _)| name);
    let path = format!("/v1.0/{}/{}?%24select=id,{},{check}", kind.collection(), urlencode(id), names.join(","));
    Ok(session.api(console).get(&path).await?)
}

async fn edit_form<const GROUP: bool>(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let kind = Kind::of::<GROUP>();
    let o = current(&console, &session, kind, &id).await?;
    let values: HashMap<String, String> =
        kind.fields().iter().map(|f| (f.name.to_string(), text(&o, f.name))).collect();
    let checked = kind.check().is_some_and(|(name, _, _)| o[name].as_bool().unwrap_or(false));
    ok(&form_page(&session, kind, Some(&text(&o, "id")), &values, checked, None))
}

async fn update<const GROUP: bool>(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let kind = Kind::of::<GROUP>();
    let path = format!("/v1.0/{}/{}", kind.collection(), urlencode(&id));
    match session.api(&console).patch(&path, &body_of(kind, &form, true)).await {
        Ok(_) => Ok(see_other(&format!("/console/{}/{}", kind.collection(), urlencode(&id)), "Saved.")),
        Err(f) if f.status < 500 && f.status != 401 && f.status != 403 && f.status != 404 => {
            let checked = kind.checked(&form);
            failed(f.status, &form_page(&session, kind, Some(&id), &form, checked, Some(FieldError::of(&f))))
        }
        Err(f) => Err(f.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_matches_one_property() {
        assert_eq!(Kind::User.search_field(None, "ada").0, "displayName");
        assert_eq!(Kind::User.search_field(Some("displayName"), "ada@contoso").0, "userPrincipalName");
        assert_eq!(Kind::User.search_field(Some("mail"), "ada@contoso").0, "mail");
        assert_eq!(Kind::Group.search_field(Some("mailNickname"), "eng").0, "mailNickname");
        assert_eq!(Kind::Group.search_field(Some("bogus"), "a@b").0, "displayName");
    }

    #[test]
    fn a_new_users_body_has_what_was_typed_and_an_edit_clears_what_was_emptied() {
        let form: HashMap<String, String> = [
            ("displayName", "Ada"),
            ("userPrincipalName", " ada@contoso.com "),
            ("password", "S3cret!"),
            ("jobTitle", ""),
            ("accountEnabled", "on"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let new = body_of(Kind::User, &form, false);
        assert_eq!(new["userPrincipalName"], "ada@contoso.com");
        assert_eq!(new["passwordProfile"]["password"], "S3cret!");
        assert_eq!(new["accountEnabled"], true);
        assert!(new.get("jobTitle").is_none());
        let edit = body_of(Kind::User, &form, true);
        assert_eq!(edit["jobTitle"], Value::Null);
        assert!(edit.get("mailNickname").is_none(), "a mail nickname is never cleared");
        let group = body_of(Kind::Group, &HashMap::from([("displayName".to_string(), "G".to_string())]), false);
        assert_eq!(group, json!({"displayName": "G", "securityEnabled": true, "mailEnabled": false, "groupTypes": []}));
    }
}
