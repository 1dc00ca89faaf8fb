//! Discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas, describing exactly what this server
//! supports. Readable without a token, as the RFC allows, so clients can configure themselves before authenticating.

use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use idplane_core::identities::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use idplane_core::resource_types;
use idplane_scim::filter::MAX_FILTER_NODES;
use idplane_scim::list::list_response;
use idplane_scim::schema::URN_SERVICE_PROVIDER_CONFIG;
use serde_json::{Value, json};

use crate::body::scim_json;
use crate::context::{level, origin};
use crate::error::ApiError;
use crate::{AppState, method_not_allowed};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config).fallback(method_not_allowed))
        .route("/ResourceTypes", get(resource_types_list).fallback(method_not_allowed))
        .route("/ResourceTypes/{id}", get(resource_type).fallback(method_not_allowed))
        .route("/Schemas", get(schemas_list).fallback(method_not_allowed))
        .route("/Schemas/{id}", get(schema).fallback(method_not_allowed))
}

/// The level of a discovery request: account and workspace schemas differ.
fn level_of(parts: &Parts) -> resource_types::Level {
    match level(&crate::context::original_path(parts)) {
        Some(crate::context::Level::Workspace { .. }) => resource_types::Level::Workspace,
        _ => resource_types::Level::Account,
    }
}

/// The SCIM base URL of a discovery request.
fn base_url(parts: &Parts, state: &AppState) -> String {
    let path = crate::context::original_path(parts);
    let base = match level(&path) {
        Some(crate::context::Level::Account { base, .. })
        | Some(crate::context::Level::Workspace { base })
        | Some(crate::context::Level::AccountProxy { base }) => base.to_string(),
        None => String::new(),
    };
    format!("{}{}", origin(parts, state), base)
}

/// The `{id}` of a discovery path; one that does not decode to text names nothing (404).
struct PathId(String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::status(404, "the path names no schema or resource type"))?;
        Ok(PathId(params.iter().find(|(name, _)| *name == "id").map(|(_, v)| v.to_string()).unwrap_or_default()))
    }
}

pub fn service_provider_config_json(base: &str, max_operations: usize, max_payload: usize) -> Value {
    json!({
        "schemas": [URN_SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": max_operations, "maxPayloadSize": max_payload},
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_PAGE_SIZE,
            "maxPageSize": MAX_PAGE_SIZE,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": format!(
                "Authentication with a bearer token (Authorization: Bearer <token>). Filters are limited to {MAX_FILTER_NODES} nodes."
            ),
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

async fn service_provider_config(State(s): State<AppState>, parts: Parts) -> Response {
    let base = base_url(&parts, &s);
    scim_json(
        StatusCode::OK,
        &service_provider_config_json(&base, s.limits.bulk_max_operations, s.limits.bulk_max_payload_bytes),
        None,
    )
}

async fn resource_types_list(State(s): State<AppState>, parts: Parts) -> Response {
    let base = base_url(&parts, &s);
    let items: Vec<Value> = resource_types::all(level_of(&parts))
        .into_iter()
        .map(|rt| rt.to_json(&format!("{base}/ResourceTypes/{}", rt.id)))
        .collect();
    let n = items.len();
    scim_json(StatusCode::OK, &list_response(items, n, Some(1), None, None), None)
}

async fn resource_type(State(s): State<AppState>, PathId(id): PathId, parts: Parts) -> Result<Response, ApiError> {
    let base = base_url(&parts, &s);
    let rt = resource_types::all(level_of(&parts))
        .into_iter()
        .find(|rt| rt.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ApiError::status(404, format!("no resource type {id}")))?;
    Ok(scim_json(StatusCode::OK, &rt.to_json(&format!("{base}/ResourceTypes/{}", rt.id)), None))
}

async fn schemas_list(State(s): State<AppState>, parts: Parts) -> Response {
    let base = base_url(&parts, &s);
    let items: Vec<Value> =
        resource_types::schemas(level_of(&parts)).map(|sc| sc.to_json(&format!("{base}/Schemas/{}", sc.id))).collect();
    let n = items.len();
    scim_json(StatusCode::OK, &list_response(items, n, Some(1), None, None), None)
}

async fn schema(State(s): State<AppState>, PathId(id): PathId, parts: Parts) -> Result<Response, ApiError> {
    let base = base_url(&parts, &s);
    let sc = resource_types::schemas(level_of(&parts))
        .find(|sc| sc.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ApiError::status(404, format!("no schema {id}")))?;
    Ok(scim_json(StatusCode::OK, &sc.to_json(&format!("{base}/Schemas/{}", sc.id)), None))
}
