//! SCIM resource endpoints: Users, Groups and ServicePrincipals (RFC 7644 §3.3–3.6), `.search`, and `/Me`.

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use idplane_core::CoreError;
use idplane_core::access::Role;
use idplane_core::identities::{Rendered, Target, weak_eq};
use idplane_core::principal::PrincipalKind;
use idplane_core::resource_types;
use idplane_core::tenancy::Scope;
use idplane_scim::list::{ListQuery, list_response};
use idplane_scim::projection::Projection;
use serde_json::Value;

use crate::AppState;
use crate::body::{header_str, read_json, scim_json};
use crate::context::{Ctx, X_DATABRICKS_ORG_ID};
use crate::error::ApiError;
use crate::method_not_allowed;

/// The resource routes of one SCIM base.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for kind in [PrincipalKind::User, PrincipalKind::Group, PrincipalKind::ServicePrincipal] {
        let endpoint = format!("/{}", kind.endpoint());
        router = router
            .route(&endpoint, collection(kind))
            .route(
                &format!("{endpoint}/.search"),
                post(move |s, c, h, b| search(kind, s, c, h, b)).fallback(method_not_allowed),
            )
            .route(&format!("{endpoint}/{{id}}"), item(kind));
    }
    router
        .route("/Me", get(me).fallback(method_not_allowed))
        .route("/.search", post(root_search).fallback(method_not_allowed))
}

fn collection(kind: PrincipalKind) -> MethodRouter<AppState> {
    get(move |s, c, q| list(kind, s, c, q))
        .post(move |s, c, h, b| create(kind, s, c, h, b))
        .fallback(method_not_allowed)
}

fn item(kind: PrincipalKind) -> MethodRouter<AppState> {
    get(move |s, c, p, q, h| read(kind, s, c, p, q, h))
        .put(move |s, c, p, h, b| replace(kind, s, c, p, h, b))
        .patch(move |s, c, p, q, h, b| patch(kind, s, c, p, q, h, b))
        .delete(move |s, c, p, h| delete(kind, s, c, p, h))
        .fallback(method_not_allowed)
}

/// The `{id}` of a resource path. (`Path<String>` would not do: account paths carry `{account_id}` too.)
struct ResourceId(String);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::status(404, "the path names no resource"))?;
        params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| ResourceId(value.to_string()))
            .ok_or_else(|| ApiError::status(404, "the path names no resource"))
    }
}

fn target(ctx: &Ctx, kind: PrincipalKind) -> Target<'_> {
    Target { scope: &ctx.scope, kind, base_url: &ctx.base_url }
}

pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn query_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// What a workspace user who is no admin may see of others (Databricks shows them only who is who).
fn limited_view(kind: PrincipalKind) -> &'static [&'static str] {
    match kind {
        PrincipalKind::User => &["id", "userName", "displayName"],
        PrincipalKind::Group => &["id", "displayName"],
        PrincipalKind::ServicePrincipal => &["id", "applicationId", "displayName"],
    }
}

/// Is the caller a workspace user who is no admin (and so sees the limited view of others)?
fn limited(ctx: &Ctx) -> bool {
    ctx.role == Role::User && matches!(ctx.scope, Scope::Workspace { .. })
}

/// Narrows a listing to the limited view; filtering or sorting on a hidden attribute would reveal it, so it is a 403.
fn limit_query(ctx: &Ctx, kind: PrincipalKind, query: &mut ListQuery) -> Result<(), ApiError> {
    if !limited(ctx) {
        return Ok(());
    }
    let allowed = limited_view(kind);
    let visible = |name: &str| allowed.iter().any(|a| a.eq_ignore_ascii_case(name));
    let filtered = query.filter.as_ref().map(|f| f.attr_paths()).unwrap_or_default();
    let sorted = query.sort_by.iter();
    if let Some(hidden) = filtered.into_iter().chain(sorted).find(|p| !visible(&p.name)) {
        return Err(CoreError::PermissionDenied(format!(
            "only workspace admins may filter or sort on {}; others may use {}",
            hidden.name,
            allowed.join(", ")
        ))
        .into());
    }
    query.attributes = Some(allowed.join(","));
    query.excluded_attributes = None;
    Ok(())
}

fn projection(kind: PrincipalKind, pairs: &[(String, String)]) -> Result<Projection, ApiError> {
    let rt = resource_types::of(kind);
    Ok(Projection::parse(rt, query_param(pairs, "attributes"), query_param(pairs, "excludedAttributes"))?)
}

fn created(r: &Rendered) -> Response {
    let mut response = scim_json(StatusCode::CREATED, &r.body, Some(&r.etag));
    if let Ok(v) = HeaderValue::from_str(&r.location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn ok(r: &Rendered) -> Response {
    let mut response = scim_json(StatusCode::OK, &r.body, Some(&r.etag));
    if let Ok(v) = HeaderValue::from_str(&r.location) {
        response.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    response
}

async fn list(
    kind: PrincipalKind,
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let mut query = ListQuery::from_query(&query_pairs(q.as_deref()))?;
    limit_query(&ctx, kind, &mut query)?;
    let body = s.identities.list(&target(&ctx, kind), &query).await?;
    Ok(scim_json(StatusCode::OK, &body, None))
}

async fn search(
    kind: PrincipalKind,
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let mut query = ListQuery::from_search_request(&body)?;
    limit_query(&ctx, kind, &mut query)?;
    let body = s.identities.list(&target(&ctx, kind), &query).await?;
    Ok(scim_json(StatusCode::OK, &body, None))
}

/// `POST /.search` at the root (RFC 7644 §3.4.3): every resource type, one list.
async fn root_search(
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let query = ListQuery::from_search_request(&body)?;
    let wanted = query.count.unwrap_or(idplane_core::identities::DEFAULT_PAGE_SIZE);
    let skip = query.start_index.saturating_sub(1);
    let mut all = Vec::new();
    let mut total = 0usize;
    for kind in [PrincipalKind::User, PrincipalKind::Group, PrincipalKind::ServicePrincipal] {
        let mut q = query.clone();
        limit_query(&ctx, kind, &mut q)?;
        q.start_index = 1;
        q.count = Some(skip + wanted);
        q.cursor = None;
        let page = s.identities.list(&target(&ctx, kind), &q).await?;
        total += page.get("totalResults").and_then(Value::as_u64).unwrap_or(0) as usize;
        if let Some(Value::Array(items)) = page.get("Resources") {
            all.extend(items.iter().cloned());
        }
    }
    let page: Vec<Value> = all.into_iter().skip(skip).take(wanted).collect();
    Ok(scim_json(StatusCode::OK, &list_response(page, total, Some(skip + 1), None, None), None))
}

async fn create(
    kind: PrincipalKind,
    State(s): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    ctx.require_admin()?;
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let rendered = s.identities.create(&target(&ctx, kind), &body, ctx.now, &ctx.actor()).await?;
    Ok(created(&rendered))
}

async fn read(
    kind: PrincipalKind,
    State(s): State<AppState>,
    ctx: Ctx,
    ResourceId(id): ResourceId,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let yourself = ctx.token.principal_id.is_some_and(|p| p.to_string() == id);
    let projection = if limited(&ctx) && !yourself {
        Projection::parse(resource_types::of(kind), Some(&limited_view(kind).join(",")), None)?
    } else {
        projection(kind, &query_pairs(q.as_deref()))?
    };
    let rendered = s.identities.get(&target(&ctx, kind), &id, &projection).await?;
    if let Some(inm) = header_str(&headers, &header::IF_NONE_MATCH)
        && inm.split(',').map(str::trim).any(|t| t == "*" || weak_eq(t, &rendered.etag))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&rendered.etag) {
            response.headers_mut().insert(header::ETAG, v);
        }
        return Ok(response);
    }
    Ok(ok(&rendered))
}

async fn replace(
    kind: PrincipalKind,
    State(s): State<AppState>,
    ctx: Ctx,
    ResourceId(id): ResourceId,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    ctx.require_admin()?;
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let if_match = header_str(&headers, &header::IF_MATCH);
    let rendered = s.identities.replace(&target(&ctx, kind), &id, &body, if_match, ctx.now, &ctx.actor()).await?;
    Ok(ok(&rendered))
}

/// PATCH answers 200 with the resource (RFC 7644 §3.5.2), subject to `attributes`/`excludedAttributes`. For a group
/// with more than [`crate::Limits::patch_members_inline`] members it answers 204 instead, as the RFC allows: re-reading
/// a group of 100,000 members after each one-member change would make a membership change cost O(group), and Entra ID
/// sends one such PATCH per member.
async fn patch(
    kind: PrincipalKind,
    State(s): State<AppState>,
    ctx: Ctx,
    ResourceId(id): ResourceId,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    ctx.require_admin()?;
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let if_match = header_str(&headers, &header::IF_MATCH);
    let t = target(&ctx, kind);
    let pairs = query_pairs(q.as_deref());
    let projection = projection(kind, &pairs)?;
    let changed = s.identities.patch(&t, &id, &body, if_match, ctx.now, &ctx.actor()).await?;
    if kind == PrincipalKind::Group
        && projection.includes(resource_types::of(kind), "members")
        && s.identities.has_more_members_than(changed.id, s.limits.patch_members_inline).await?
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&changed.etag) {
            response.headers_mut().insert(header::ETAG, v);
        }
        return Ok(response);
    }
    let rendered = s.identities.get(&t, &changed.id.to_string(), &projection).await?;
    Ok(ok(&rendered))
}

async fn delete(
    kind: PrincipalKind,
    State(s): State<AppState>,
    ctx: Ctx,
    ResourceId(id): ResourceId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ctx.require_admin()?;
    let if_match = header_str(&headers, &header::IF_MATCH);
    s.identities.delete(&target(&ctx, kind), &id, if_match, ctx.now, &ctx.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `/Me`: the principal the token acts as. Carries `X-Databricks-Org-Id`, which the Databricks SDK reads to learn
/// the workspace id.
async fn me(State(s): State<AppState>, ctx: Ctx, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let Some(principal_id) = ctx.token.principal_id else {
        return Err(ApiError::status(404, "this token does not belong to a user or service principal"));
    };
    let projection = projection(PrincipalKind::User, &query_pairs(q.as_deref()))?;
    let rendered = s.identities.me(&target(&ctx, PrincipalKind::User), principal_id, &projection).await?;
    let mut response = ok(&rendered);
    if let Some(ws) = ctx.scope.workspace_id()
        && let Ok(v) = HeaderValue::from_str(&ws.to_string())
    {
        response.headers_mut().insert(X_DATABRICKS_ORG_ID.clone(), v);
    }
    Ok(response)
}
