//! The provisioning service's admin API: a compatible subset of Microsoft Graph v1.0 under `/v1.0`, so that the
//! Microsoft Graph SDKs, PowerShell and scripts written for Entra ID work against idplane with only their base URL
//! and token changed. `directory` serves users, groups, memberships, managers and the deleted items;
//! `applications` the application templates, applications, service principals and app role assignments;
//! `synchronization` the provisioning jobs, their schema and secrets; `logs` the provisioning logs
//! (`/auditLogs/provisioning`); `agents` the on-premises provisioning agents, their assignment to applications and
//! their registration tokens (`/onPremisesPublishingProfiles/provisioning`). `odata` reads the query options; `error` is Graph's error shape.
//!
//! Who may call it: a tenant token (one tenant), or an administrator token of an identity-service account, which
//! administers the tenant linked to that account (the first start links the default tenant to the default account,
//! so the printed admin token works on both sides). Segment names are matched case-insensitively, as Graph matches
//! them.

pub mod agents;
pub mod applications;
pub mod batch;
pub mod delta;
pub mod directory;
pub mod error;
pub mod logs;
pub mod odata;
pub mod runs;
pub mod synchronization;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idplane_core::access::{self, Role};
use idplane_core::token::{TokenKind, TokenScope};
use idplane_core::{CoreError, tenancy::Scope};
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::tenant::{self, Tenant};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::AppState;
use crate::body::header_str;
use crate::context::{authenticated, origin, original_path, role};
use error::{GRAPH_JSON, GraphError};

/// The Graph API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(directory::routes())
        .merge(applications::routes())
        .merge(synchronization::routes())
        .merge(logs::routes())
        .merge(agents::routes())
        .route("/v1.0/$batch", axum::routing::post(batch::batch))
        .route("/v1.0/organization", axum::routing::get(organization))
}

/// True for paths of the Graph API.
pub fn is_graph_path(path: &str) -> bool {
    let lower = path.get(..5).map(str::to_ascii_lowercase);
    lower.as_deref() == Some("/v1.0") && (path.len() == 5 || path.as_bytes().get(5) == Some(&b'/'))
}

/// The segment names of the Graph API, as routed.
const SEGMENTS: &[&str] = &[
    "v1.0",
    "users",
    "groups",
    "members",
    "memberOf",
    "manager",
    "directReports",
    "appRoleAssignments",
    "appRoleAssignedTo",
    "applicationTemplates",
    "instantiate",
    "applications",
    "servicePrincipals",
    "synchronization",
    "jobs",
    "schema",
    "secrets",
    "templates",
    "directory",
    "deletedItems",
    "directoryObjects",
    "restore",
    "$ref",
    "$count",
    "validateCredentials",
    "parseExpression",
    "functions",
    "filterOperators",
    "delta",
    "$batch",
    "organization",
    "microsoft.graph.user",
    "microsoft.graph.group",
    "auditLogs",
    "provisioning",
    "onPremisesPublishingProfiles",
    "agents",
    "agentGroups",
    "registrationTokens",
];

/// Other spellings Graph answers to, and the routed segment each stands for: a type cast in its short namespace
/// (`deletedItems/graph.user`, as the SDKs' request builders write it) and a function called with its parentheses
/// (`schema/functions()`, `schema/filterOperators()`, OData's call syntax, which the SDKs send).
const ALIASES: &[(&str, &str)] = &[
    ("graph.user", "microsoft.graph.user"),
    ("graph.group", "microsoft.graph.group"),
    ("functions()", "functions"),
    ("filterOperators()", "filterOperators"),
];

/// A Graph path with its known segment names in their routed spelling and no trailing slash; `None` if it is
/// canonical already.
pub fn canonical(path: &str) -> Option<String> {
    let trimmed = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let mut changed = trimmed.len() != path.len();
    let routed = |s: &str| {
        SEGMENTS
            .iter()
            .find(|k| k.eq_ignore_ascii_case(s))
            .or_else(|| ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(s)).map(|(_, k)| k))
            .copied()
    };
    let segments: Vec<String> = trimmed
        .split('/')
        .map(|s| match routed(s) {
            Some(k) if k != s => {
                changed = true;
                k.to_string()
            }
            _ => s.to_string(),
        })
        .collect();
    changed.then(|| segments.join("/"))
}

/// The caller of a Graph request: its tenant, and what the request's URLs are built from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Tenant,
    pub now: OffsetDateTime,
    /// `https://host/v1.0`: what `@odata.context` and next links start with.
    pub base: String,
    /// This request's URL without its query.
    pub url: String,
}

impl Caller {
    /// `{base}/$metadata#{context}`.
    pub fn context(&self, context: &str) -> String {
        format!("{}/$metadata#{context}", self.base)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let tenant = tenant_of(state, parts, now).await?;
        tracing::Span::current().record("tenant", tracing::field::display(&tenant.id));
        let origin = origin(parts, state);
        Ok(Caller { base: format!("{origin}/v1.0"), url: format!("{origin}{}", original_path(parts)), tenant, now })
    }
}

/// The tenant a request's token administers.
async fn tenant_of(state: &AppState, parts: &Parts, now: OffsetDateTime) -> Result<Tenant, GraphError> {
    let hash = access::bearer(header_str(&parts.headers, &header::AUTHORIZATION))?;
    if let Some(t) = tenant::by_token(state.provisioning.as_ref(), &hash, now).await? {
        let id = hex_prefix(&hash.0);
        if let Err(seconds) = state.limiter.check(&id, state.clock.instant()) {
            return Err(CoreError::RateLimited(seconds).into());
        }
        return Ok(t);
    }
    // Not a tenant token: an identity-service token, checked (and rate limited) as the other APIs check it.
    let token = authenticated(state, parts, now).await?;
    if token.kind != TokenKind::Admin || matches!(token.scope, TokenScope::Workspace { .. }) {
        return Err(CoreError::PermissionDenied(
            "the provisioning service's API takes a tenant token or an account administrator's token".into(),
        )
        .into());
    }
    let scope = Scope::Account { account_id: token.scope.account_id().to_string() };
    if role(state, &token, &scope).await? != Role::Admin {
        return Err(CoreError::PermissionDenied("only account administrators administer its tenant".into()).into());
    }
    state.provisioning.tenant_of_account(scope.account_id()).await?.ok_or_else(|| {
        CoreError::PermissionDenied(format!(
            "account {} has no provisioning tenant; create one with `idplane tenant create --account {}`",
            scope.account_id(),
            scope.account_id()
        ))
        .into()
    })
}

/// `GET /organization`: the caller's tenant, as Graph describes an organization (scripts read its id and domains).
async fn organization(c: Caller) -> Response {
    let org = json!({
        "id": c.tenant.id,
        "displayName": c.tenant.name,
        "createdDateTime": idplane_provisioning::directory::rfc3339(c.tenant.created),
        "verifiedDomains": [{"capabilities": "None", "isDefault": true, "isInitial": true, "name": c.tenant.default_domain, "type": "Managed"}],
    });
    collection(&c, "organization", vec![org], None, None)
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A JSON response as Graph sends it.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPH_JSON));
    response
}

/// One entity, with its `@odata.context` first.
pub fn entity(caller: &Caller, status: StatusCode, context: &str, item: Map<String, Value>) -> Response {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(caller.context(context)));
    out.extend(item);
    json_response(status, &Value::Object(out))
}

/// A collection page: `value`, with `@odata.count` when asked and an absolute `@odata.nextLink` when more follow.
pub fn collection(
    caller: &Caller,
    context: &str,
    items: Vec<Value>,
    count: Option<u64>,
    next: Option<String>,
) -> Response {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(caller.context(context)));
    if let Some(n) = count {
        out.insert("@odata.count".into(), json!(n));
    }
    if let Some(link) = next {
        out.insert("@odata.nextLink".into(), Value::String(link));
    }
    out.insert("value".into(), Value::Array(items));
    json_response(StatusCode::OK, &Value::Object(out))
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A request's JSON body, or an empty object when it has none (actions whose body is optional).
pub async fn read_optional_body(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Value, GraphError> {
    let limit = state.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ProvisioningError::invalid(format!("the request body is larger than the limit of {limit} bytes"))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let _ = headers;
    serde_json::from_slice(&bytes)
        .map_err(|e| ProvisioningError::invalid(format!("the body is not valid JSON: {e}")).into())
}

/// A request's JSON body, with Graph errors.
pub async fn read_body(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Value, GraphError> {
    Ok(crate::body::read_json(headers, body, state.limits.max_body_bytes).await?)
}
