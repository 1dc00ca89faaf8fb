//! Applications, service principals (enterprise applications) and their app role assignments
//! (`appRoleAssignedTo`: "Users and groups").

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::application::{self, NewAssignment, ServicePrincipal};
use idplane_provisioning::directory::query::DEFAULT_TOP;
use idplane_provisioning::templates::{self, ApplicationTemplate};
use serde_json::Value;

use super::error::GraphError;
use super::odata::{self, Options};
use super::{Caller, collection, entity, no_content, read_body};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/applicationTemplates", get(list_templates))
        .route("/v1.0/applicationTemplates/{id}", get(get_template))
        .route("/v1.0/applicationTemplates/{id}/instantiate", post(instantiate))
        .route("/v1.0/applications", get(list_applications))
        .route("/v1.0/applications/{id}", get(get_application).patch(patch_application).delete(delete_application))
        .route("/v1.0/servicePrincipals", get(list_service_principals))
        .route(
            "/v1.0/servicePrincipals/{id}",
            get(get_service_principal).patch(patch_service_principal).delete(delete_service_principal),
        )
        .route("/v1.0/servicePrincipals/{id}/appRoleAssignedTo", get(assigned_to).post(assign_to))
        .route("/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignment}", delete(unassign))
}

type Res = Result<Response, GraphError>;

/// Service principals are few (one per enterprise application); a filtered listing reads at most this many.
const MAX_FILTERED: usize = 10_000;

/// The properties a `$filter` on service principals or applications may test.
const FILTERABLE: &[&str] = &["id", "appId", "displayName", "applicationTemplateId"];

/// The properties of `item` that `$select` names (all when none), `id` first.
fn selected(item: serde_json::Map<String, Value>, options: &Options) -> serde_json::Map<String, Value> {
    let Some(names) = options.selected() else { return item };
    let mut out = serde_json::Map::new();
    for (k, v) in item {
        if k == "id" || names.iter().any(|n| n.eq_ignore_ascii_case(&k)) {
            out.insert(k, v);
        }
    }
    out
}

async fn sp_or_404(s: &AppState, c: &Caller, id: &str) -> Result<ServicePrincipal, GraphError> {
    Ok(application::service_principal(s.provisioning.as_ref(), &c.tenant.id, id).await?)
}

async fn render_sp(
    s: &AppState,
    c: &Caller,
    sp: &ServicePrincipal,
) -> Result<serde_json::Map<String, Value>, GraphError> {
    let app = s.provisioning.application(&c.tenant.id, &sp.application_id).await?;
    Ok(sp.render(app.as_ref()))
}

/// The properties a `$filter` on application templates may test.
const TEMPLATE_FILTERABLE: &[&str] = &["id", "displayName", "publisher"];

fn template_json(t: &ApplicationTemplate) -> serde_json::Map<String, Value> {
    match serde_json::to_value(t) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

async fn list_templates(c: Caller, RawQuery(q): RawQuery) -> Res {
    let options = Options::parse(q.as_deref())?;
    let filter = options.filter.as_deref().map(odata::parse).transpose()?;
    let mut items = Vec::new();
    for t in templates::application_templates() {
        let rendered = template_json(&t);
        if let Some(f) = &filter
            && !odata::matches(f, &rendered, TEMPLATE_FILTERABLE)?
        {
            continue;
        }
        items.push(Value::Object(selected(rendered, &options)));
    }
    Ok(collection(&c, "applicationTemplates", items, None, None))
}

async fn get_template(c: Caller, Path(id): Path<String>) -> Res {
    let entry = templates::gallery_application(&id).map_err(ProvisioningError::from)?;
    Ok(entity(&c, StatusCode::OK, "applicationTemplates/$entity", template_json(&entry.template)))
}

/// `POST /applicationTemplates/{id}/instantiate {"displayName"}`: an application and its service principal.
async fn instantiate(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let entry = templates::gallery_application(&id).map_err(ProvisioningError::from)?;
    let name = body.get("displayName").and_then(Value::as_str).unwrap_or_default();
    let (app, sp) =
        application::instantiate(s.provisioning.as_ref(), &c.tenant.id, Some(&entry.template.id), name, c.now).await?;
    let out = serde_json::json!({
        "@odata.context": c.context("microsoft.graph.applicationServicePrincipal"),
        "application": app.render(),
        "servicePrincipal": sp.render(Some(&app)),
    });
    Ok(super::json_response(StatusCode::CREATED, &out))
}

/// A listing page of rendered `(id, item)`s: filtered in memory when the request has a `$filter` (the listing then
/// read everything at once, up to [`MAX_FILTERED`]), else paged by the store, with a next link when `more`.
fn filtered_page(
    c: &Caller,
    options: &Options,
    filter: Option<&odata::Expr>,
    items: Vec<(String, serde_json::Map<String, Value>)>,
    more: bool,
    context: &str,
) -> Res {
    let last = items.last().map(|(id, _)| id.clone());
    let mut out = Vec::new();
    for (_, rendered) in items {
        if let Some(f) = filter
            && !odata::matches(f, &rendered, FILTERABLE)?
        {
            continue;
        }
        out.push(Value::Object(selected(rendered, options)));
    }
    let next = (filter.is_none() && more).then(|| last.map(|id| options.next_link(&c.url, &id))).flatten();
    Ok(collection(c, context, out, None, next))
}

/// The page size and cursor of a listing that may be filtered in memory.
fn paging(options: &Options, filter: Option<&odata::Expr>) -> Result<(usize, Option<String>), GraphError> {
    Ok(match filter {
        None => (options.top.unwrap_or(DEFAULT_TOP), options.cursor()?),
        Some(_) => (MAX_FILTERED, None),
    })
}

async fn list_applications(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Res {
    let options = Options::parse(q.as_deref())?;
    let filter = options.filter.as_deref().map(odata::parse).transpose()?;
    let (top, after) = paging(&options, filter.as_ref())?;
    let (apps, more) = s.provisioning.applications(&c.tenant.id, after.as_deref(), top).await?;
    let items = apps.iter().map(|a| (a.id.clone(), a.render())).collect();
    filtered_page(&c, &options, filter.as_ref(), items, more, "applications")
}

async fn get_application(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Res {
    let options = Options::parse(q.as_deref())?;
    let app = s
        .provisioning
        .application(&c.tenant.id, &id)
        .await?
        .ok_or_else(|| ProvisioningError::not_found("application", id))?;
    let map = selected(app.render(), &options);
    Ok(entity(&c, StatusCode::OK, "applications/$entity", map))
}

async fn patch_application(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    application::update_application(s.provisioning.as_ref(), &c.tenant.id, &id, &body).await?;
    Ok(no_content())
}

async fn delete_application(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    if !s.provisioning.delete_application(&c.tenant.id, &id, c.now).await? {
        return Err(ProvisioningError::not_found("application", id).into());
    }
    Ok(no_content())
}

async fn list_service_principals(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Res {
    let options = Options::parse(q.as_deref())?;
    let filter = options.filter.as_deref().map(odata::parse).transpose()?;
    let (top, after) = paging(&options, filter.as_ref())?;
    let (sps, more) = s.provisioning.service_principals(&c.tenant.id, after.as_deref(), top).await?;
    let mut items = Vec::with_capacity(sps.len());
    for sp in &sps {
        items.push((sp.id.clone(), render_sp(&s, &c, sp).await?));
    }
    filtered_page(&c, &options, filter.as_ref(), items, more, "servicePrincipals")
}

async fn get_service_principal(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Res {
    let options = Options::parse(q.as_deref())?;
    let sp = sp_or_404(&s, &c, &id).await?;
    let map = selected(render_sp(&s, &c, &sp).await?, &options);
    Ok(entity(&c, StatusCode::OK, "servicePrincipals/$entity", map))
}

async fn patch_service_principal(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    application::update_service_principal(s.provisioning.as_ref(), &c.tenant.id, &id, &body).await?;
    Ok(no_content())
}

async fn delete_service_principal(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    if !s.provisioning.delete_service_principal(&c.tenant.id, &id, c.now).await? {
        return Err(ProvisioningError::not_found("servicePrincipal", id).into());
    }
    Ok(no_content())
}

async fn assigned_to(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Res {
    let options = Options::parse(q.as_deref())?;
    if options.filter.is_some() {
        return Err(ProvisioningError::Unsupported(
            "$filter is not supported on appRoleAssignedTo; page through it".into(),
        )
        .into());
    }
    let sp = sp_or_404(&s, &c, &id).await?;
    let top = options.top.unwrap_or(DEFAULT_TOP);
    let (views, more) = s.provisioning.assignments_to(&c.tenant.id, &sp.id, options.cursor()?.as_deref(), top).await?;
    let items = views.iter().map(|v| Value::Object(selected(v.render(), &options))).collect();
    let next = more.then(|| views.last().map(|v| options.next_link(&c.url, &v.assignment.id))).flatten();
    Ok(collection(&c, &format!("servicePrincipals('{}')/appRoleAssignedTo", sp.id), items, None, next))
}

async fn assign_to(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = sp_or_404(&s, &c, &id).await?;
    let mut new = NewAssignment::from_body(&serde_json::json!({
        "principalId": body.get("principalId").cloned().unwrap_or(Value::Null),
        "resourceId": body.get("resourceId").cloned().unwrap_or(Value::String(sp.id.clone())),
        "appRoleId": body.get("appRoleId").cloned().unwrap_or(Value::Null),
    }))?;
    if !new.resource_id.eq_ignore_ascii_case(&sp.id) {
        return Err(ProvisioningError::invalid_property(
            "resourceId",
            "resourceId must be the service principal of the path",
        )
        .into());
    }
    new.resource_id = sp.id.clone();
    let view = application::assign(s.provisioning.as_ref(), &c.tenant.id, &new, c.now).await?;
    let context = format!("servicePrincipals('{}')/appRoleAssignedTo/$entity", sp.id);
    Ok(entity(&c, StatusCode::CREATED, &context, view.render()))
}

async fn unassign(State(s): State<AppState>, c: Caller, Path((id, assignment)): Path<(String, String)>) -> Res {
    let sp = sp_or_404(&s, &c, &id).await?;
    let view = s.provisioning.assignment(&c.tenant.id, &assignment).await?;
    if view.is_none_or(|v| v.assignment.resource_id != sp.id) {
        return Err(ProvisioningError::not_found("appRoleAssignment", assignment).into());
    }
    s.provisioning.delete_assignment(&c.tenant.id, &assignment, c.now).await?;
    Ok(no_content())
}
