//! `/users`, `/groups`, memberships (`members`, `memberOf`, `$ref`), managers (`manager`, `directReports`), the
//! deleted items (`/directory/deletedItems`), `/directoryObjects/{id}`, and the `appRoleAssignments` of users and
//! groups.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::application::{self, NewAssignment};
use idplane_provisioning::directory::query::{DEFAULT_TOP, Field, Literal, ObjectFilter, ObjectQuery};
use idplane_provisioning::directory::{self, DirectoryObject, ObjectKind, reference_id, service};
use serde_json::{Value, json};

use super::error::GraphError;
use super::odata::{self, Options};
use super::{Caller, collection, entity, no_content, read_body};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/users", get(list_objects::<USERS>).post(create_object::<USERS>))
        .route("/v1.0/users/$count", get(count_objects::<USERS>))
        .route("/v1.0/users/delta", get(super::delta::users))
        .route("/v1.0/users/{id}", get(get_object::<USERS>).patch(patch_object::<USERS>).delete(delete_object::<USERS>))
        .route("/v1.0/users/{id}/memberOf", get(object_member_of::<USERS>))
        .route("/v1.0/users/{id}/manager", get(get_manager))
        .route("/v1.0/users/{id}/manager/$ref", put(set_manager).delete(remove_manager))
        .route("/v1.0/users/{id}/directReports", get(direct_reports))
        .route("/v1.0/users/{id}/appRoleAssignments", get(object_assignments::<USERS>).post(object_assign::<USERS>))
        .route("/v1.0/groups", get(list_objects::<GROUPS>).post(create_object::<GROUPS>))
        .route("/v1.0/groups/$count", get(count_objects::<GROUPS>))
        .route("/v1.0/groups/delta", get(super::delta::groups))
        .route(
            "/v1.0/groups/{id}",
            get(get_object::<GROUPS>).patch(patch_object::<GROUPS>).delete(delete_object::<GROUPS>),
        )
        .route("/v1.0/groups/{id}/members", get(members))
        .route("/v1.0/groups/{id}/members/$ref", post(add_member))
        .route("/v1.0/groups/{id}/members/{member}/$ref", delete(remove_member))
        .route("/v1.0/groups/{id}/memberOf", get(object_member_of::<GROUPS>))
        .route("/v1.0/groups/{id}/appRoleAssignments", get(object_assignments::<GROUPS>).post(object_assign::<GROUPS>))
        .route("/v1.0/directory/deletedItems/microsoft.graph.user", get(deleted_objects::<USERS>))
        .route("/v1.0/directory/deletedItems/microsoft.graph.group", get(deleted_objects::<GROUPS>))
        .route("/v1.0/directory/deletedItems/{id}", get(get_deleted).delete(purge_deleted))
        .route("/v1.0/directory/deletedItems/{id}/restore", post(restore_deleted))
        .route("/v1.0/directoryObjects/{id}", get(get_directory_object))
}

/// The collection name of a kind, as in paths and `@odata.context`.
fn collection_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "users",
        ObjectKind::Group => "groups",
    }
}

/// An object as Graph renders it, with the properties `$select`ed; `typed` adds `@odata.type` (listings of
/// directory objects of several kinds).
fn rendered(o: &DirectoryObject, options: &Options, typed: bool) -> Result<serde_json::Map<String, Value>, GraphError> {
    let select = options.selected().map(|names| directory::select(o.kind, &names)).transpose()?;
    let mut map = o.render(select.as_deref());
    if typed {
        let mut with_type = serde_json::Map::new();
        with_type.insert("@odata.type".into(), json!(format!("#{}", o.kind.graph_type())));
        with_type.extend(map);
        map = with_type;
    }
    Ok(map)
}

/// The id a path names: a GUID, or (for users) a user principal name, as Graph allows.
async fn resolve(s: &AppState, c: &Caller, kind: ObjectKind, id: &str) -> Result<DirectoryObject, GraphError> {
    if kind == ObjectKind::User && id.contains('@') {
        let q = ObjectQuery {
            filter: Some(ObjectFilter::Eq(Field::UserPrincipalName, Literal::Text(id.to_string()))),
            top: 1,
            ..ObjectQuery::of(ObjectKind::User)
        };
        let page = s.provisioning.list_objects(&c.tenant.id, &q).await?;
        return page.items.into_iter().next().ok_or_else(|| ProvisioningError::not_found("user", id).into());
    }
    Ok(service::get(s.provisioning.as_ref(), &c.tenant.id, Some(kind), id).await?)
}

async fn list(
    s: &AppState,
    c: &Caller,
    kind: Option<ObjectKind>,
    deleted: bool,
    query: Option<&str>,
    context: &str,
) -> Result<Response, GraphError> {
    let options = Options::parse(query)?;
    let filter = options.filter.as_deref().map(odata::parse).transpose()?;
    let q = ObjectQuery {
        kind,
        filter: filter.as_ref().map(|f| odata::object_filter(kind, f)).transpose()?,
        deleted,
        after: options.cursor()?,
        top: options.top.unwrap_or(DEFAULT_TOP),
        count: options.count && options.skip_token.is_none(),
    };
    let page = s.provisioning.list_objects(&c.tenant.id, &q).await?;
    let items = page
        .items
        .iter()
        .map(|o| rendered(o, &options, kind.is_none() || deleted).map(Value::Object))
        .collect::<Result<Vec<_>, _>>()?;
    let next = page.more.then(|| page.items.last().map(|o| options.next_link(&c.url, &o.id))).flatten();
    Ok(collection(c, context, items, page.count, next))
}

async fn count(s: &AppState, c: &Caller, kind: ObjectKind, query: Option<&str>) -> Result<Response, GraphError> {
    let options = Options::parse(query)?;
    let filter = options.filter.as_deref().map(odata::parse).transpose()?;
    let q = ObjectQuery {
        filter: filter.as_ref().map(|f| odata::object_filter(Some(kind), f)).transpose()?,
        top: 1,
        count: true,
        ..ObjectQuery::of(kind)
    };
    let page = s.provisioning.list_objects(&c.tenant.id, &q).await?;
    let mut response = (StatusCode::OK, page.count.unwrap_or(0).to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/plain"));
    Ok(response)
}

async fn one(
    s: &AppState,
    c: &Caller,
    kind: ObjectKind,
    id: &str,
    query: Option<&str>,
) -> Result<Response, GraphError> {
    let options = Options::parse(query)?;
    let o = resolve(s, c, kind, id).await?;
    let map = rendered(&o, &options, false)?;
    Ok(entity(c, StatusCode::OK, &format!("{}/$entity", collection_name(kind)), map))
}

async fn create(
    s: &AppState,
    c: &Caller,
    kind: ObjectKind,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let body = read_body(s, headers, body).await?;
    let o = service::create(s.provisioning.as_ref(), &c.tenant.id, kind, &body, c.now).await?;
    let map = o.render(None);
    let mut response = entity(c, StatusCode::CREATED, &format!("{}/$entity", collection_name(kind)), map);
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{}/{}/{}", c.base, collection_name(kind), o.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

async fn patch(
    s: &AppState,
    c: &Caller,
    kind: ObjectKind,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let body = read_body(s, headers, body).await?;
    let o = resolve(s, c, kind, id).await?;
    service::update(s.provisioning.as_ref(), &c.tenant.id, kind, &o.id, &body, c.now).await?;
    Ok(no_content())
}

async fn remove(s: &AppState, c: &Caller, kind: ObjectKind, id: &str) -> Result<Response, GraphError> {
    let o = resolve(s, c, kind, id).await?;
    service::delete(s.provisioning.as_ref(), &c.tenant.id, kind, &o.id, c.now).await?;
    Ok(no_content())
}

/// A page of related objects (members, groups, reports) with the options of the request.
fn related_page(c: &Caller, options: &Options, page: (Vec<DirectoryObject>, bool)) -> Result<Response, GraphError> {
    let (items, more) = page;
    let values = items.iter().map(|o| rendered(o, options, true).map(Value::Object)).collect::<Result<Vec<_>, _>>()?;
    let next = more.then(|| items.last().map(|o| options.next_link(&c.url, &o.id))).flatten();
    Ok(collection(c, "directoryObjects", values, None, next))
}

fn page_options(query: Option<&str>) -> Result<Options, GraphError> {
    let options = Options::parse(query)?;
    if options.filter.is_some() {
        return Err(ProvisioningError::Unsupported(
            "$filter is not supported on this relationship; list it and filter the page".into(),
        )
        .into());
    }
    Ok(options)
}

async fn member_of(
    s: &AppState,
    c: &Caller,
    kind: ObjectKind,
    id: &str,
    query: Option<&str>,
) -> Result<Response, GraphError> {
    let options = page_options(query)?;
    let o = resolve(s, c, kind, id).await?;
    let top = options.top.unwrap_or(DEFAULT_TOP);
    let page = s.provisioning.member_of(&c.tenant.id, &o.id, options.cursor()?.as_deref(), top).await?;
    related_page(c, &options, page)
}

/// The id an `@odata.id` reference body names.
fn referenced(body: &Value) -> Result<String, GraphError> {
    body.get("@odata.id").and_then(Value::as_str).and_then(reference_id).map(str::to_string).ok_or_else(|| {
        ProvisioningError::invalid_property(
            "@odata.id",
            "the body must be {\"@odata.id\": \"https://graph.microsoft.com/v1.0/directoryObjects/{id}\"}",
        )
        .into()
    })
}

async fn assignments(s: &AppState, c: &Caller, kind: ObjectKind, id: &str) -> Result<Response, GraphError> {
    let o = resolve(s, c, kind, id).await?;
    let views = s.provisioning.assignments_of(&c.tenant.id, &o.id).await?;
    let items = views.iter().map(|v| Value::Object(v.render())).collect();
    Ok(collection(c, &format!("{}('{}')/appRoleAssignments", collection_name(kind), o.id), items, None, None))
}

async fn assign(
    s: &AppState,
    c: &Caller,
    kind: ObjectKind,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let body = read_body(s, headers, body).await?;
    let o = resolve(s, c, kind, id).await?;
    let mut new = NewAssignment::from_body(&json!({
        "principalId": body.get("principalId").cloned().unwrap_or(json!(o.id)),
        "resourceId": body.get("resourceId").cloned().unwrap_or(Value::Null),
        "appRoleId": body.get("appRoleId").cloned().unwrap_or(Value::Null),
    }))?;
    if !new.principal_id.eq_ignore_ascii_case(&o.id) {
        return Err(
            ProvisioningError::invalid_property("principalId", "principalId must be the object of the path").into()
        );
    }
    new.principal_id = o.id.clone();
    let view = application::assign(s.provisioning.as_ref(), &c.tenant.id, &new, c.now).await?;
    let context = format!("{}('{}')/appRoleAssignments/$entity", collection_name(kind), o.id);
    Ok(entity(c, StatusCode::CREATED, &context, view.render()))
}

// ---- handlers ----

type Res = Result<Response, GraphError>;

/// The kind a handler serves: handlers shared by `/users` and `/groups` take it as a const parameter.
const USERS: bool = false;
const GROUPS: bool = true;

fn kind<const GROUP: bool>() -> ObjectKind {
    if GROUP { ObjectKind::Group } else { ObjectKind::User }
}

async fn list_objects<const GROUP: bool>(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Res {
    let k = kind::<GROUP>();
    list(&s, &c, Some(k), false, q.as_deref(), collection_name(k)).await
}

async fn create_object<const GROUP: bool>(State(s): State<AppState>, c: Caller, headers: HeaderMap, body: Body) -> Res {
    create(&s, &c, kind::<GROUP>(), &headers, body).await
}

async fn count_objects<const GROUP: bool>(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Res {
    count(&s, &c, kind::<GROUP>(), q.as_deref()).await
}

async fn get_object<const GROUP: bool>(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Res {
    one(&s, &c, kind::<GROUP>(), &id, q.as_deref()).await
}

async fn patch_object<const GROUP: bool>(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    patch(&s, &c, kind::<GROUP>(), &id, &headers, body).await
}

async fn delete_object<const GROUP: bool>(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    remove(&s, &c, kind::<GROUP>(), &id).await
}

async fn object_member_of<const GROUP: bool>(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Res {
    member_of(&s, &c, kind::<GROUP>(), &id, q.as_deref()).await
}

async fn object_assignments<const GROUP: bool>(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    assignments(&s, &c, kind::<GROUP>(), &id).await
}

async fn object_assign<const GROUP: bool>(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    assign(&s, &c, kind::<GROUP>(), &id, &headers, body).await
}

async fn deleted_objects<const GROUP: bool>(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Res {
    let k = kind::<GROUP>();
    list(&s, &c, Some(k), true, q.as_deref(), &format!("directory/deletedItems/{}", k.graph_type())).await
}

async fn get_manager(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Res {
    let options = Options::parse(q.as_deref())?;
    let user = resolve(&s, &c, ObjectKind::User, &id).await?;
    let Some(manager_id) = user.manager_id else { return Err(ProvisioningError::not_found("manager", id).into()) };
    let manager = service::get(s.provisioning.as_ref(), &c.tenant.id, Some(ObjectKind::User), &manager_id).await?;
    let map = rendered(&manager, &options, true)?;
    Ok(entity(&c, StatusCode::OK, "directoryObjects/$entity", map))
}

async fn set_manager(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let manager = referenced(&body)?;
    let user = resolve(&s, &c, ObjectKind::User, &id).await?;
    service::set_manager(s.provisioning.as_ref(), &c.tenant.id, &user.id, Some(&manager), c.now).await?;
    Ok(no_content())
}

async fn remove_manager(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    let user = resolve(&s, &c, ObjectKind::User, &id).await?;
    service::set_manager(s.provisioning.as_ref(), &c.tenant.id, &user.id, None, c.now).await?;
    Ok(no_content())
}

async fn direct_reports(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Res {
    let options = page_options(q.as_deref())?;
    let user = resolve(&s, &c, ObjectKind::User, &id).await?;
    let top = options.top.unwrap_or(DEFAULT_TOP);
    let page = s.provisioning.direct_reports(&c.tenant.id, &user.id, options.cursor()?.as_deref(), top).await?;
    related_page(&c, &options, page)
}

async fn members(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Res {
    let options = page_options(q.as_deref())?;
    let group = resolve(&s, &c, ObjectKind::Group, &id).await?;
    let top = options.top.unwrap_or(DEFAULT_TOP);
    let page = s.provisioning.group_members(&c.tenant.id, &group.id, options.cursor()?.as_deref(), top).await?;
    related_page(&c, &options, page)
}

async fn add_member(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let member = referenced(&body)?;
    service::add_member(s.provisioning.as_ref(), &c.tenant.id, &id, &member, c.now).await?;
    Ok(no_content())
}

async fn remove_member(State(s): State<AppState>, c: Caller, Path((id, member)): Path<(String, String)>) -> Res {
    service::remove_member(s.provisioning.as_ref(), &c.tenant.id, &id, &member, c.now).await?;
    Ok(no_content())
}

async fn get_deleted(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Res {
    let options = Options::parse(q.as_deref())?;
    let o = s
        .provisioning
        .object(&c.tenant.id, None, &id, true)
        .await?
        .ok_or_else(|| ProvisioningError::not_found("deletedItem", id.clone()))?;
    let map = rendered(&o, &options, true)?;
    Ok(entity(&c, StatusCode::OK, "directory/deletedItems/$entity", map))
}

async fn purge_deleted(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    service::purge(s.provisioning.as_ref(), &c.tenant.id, &id, c.now).await?;
    Ok(no_content())
}

async fn restore_deleted(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    let o = service::restore(s.provisioning.as_ref(), &c.tenant.id, &id, c.now).await?;
    let map = rendered(&o, &Options::default(), true)?;
    Ok(entity(&c, StatusCode::OK, "directoryObjects/$entity", map))
}

async fn get_directory_object(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Res {
    let options = Options::parse(q.as_deref())?;
    let o = service::get(s.provisioning.as_ref(), &c.tenant.id, None, &id).await?;
    let map = rendered(&o, &options, true)?;
    Ok(entity(&c, StatusCode::OK, "directoryObjects/$entity", map))
}
