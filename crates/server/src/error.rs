//! The one place errors become HTTP responses. [`ApiError`] is what a handler fails with: a domain error of the core,
//! or a mistake at the HTTP level (no such route, media type, body size). [`ApiError::describe`] gives each its
//! status, `scimType` and detail once; the SCIM APIs render that as a SCIM Error message (RFC 7644 §3.12), the
//! Databricks APIs as `{"error_code", "message"}` ([`crate::databricks::DbError`]). Internal details go to the log
//! (inside the request's span), never to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idplane_core::CoreError;
use idplane_core::principal::PrincipalKind;
use idplane_core::resource_types::Level;
use idplane_scim::{ScimError, ScimType};

use crate::body::SCIM_JSON;

#[derive(Debug)]
pub enum ApiError {
    /// What the domain said.
    Core(CoreError),
    /// A mistake or a limit at the HTTP level, with its status.
    Http(ScimError),
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::Core(e)
    }
}

/// Errors of the protocol crate met while reading a request (its query, its body), and the server's own protocol
/// errors, carry their status.
impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError::Http(e)
    }
}

impl ApiError {
    /// An HTTP-level error with this status and detail.
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        ApiError::Http(ScimError::new(status, None, detail))
    }

    /// The status, `scimType` and detail of this error, as every API shows it.
    pub fn describe(&self) -> ScimError {
        match self {
            ApiError::Http(e) => e.clone(),
            ApiError::Core(e) => describe(e),
        }
    }

    /// The core error, if it is one.
    pub fn core(&self) -> Option<&CoreError> {
        match self {
            ApiError::Core(e) => Some(e),
            ApiError::Http(_) => None,
        }
    }
}

/// The status, `scimType` and detail of a core error. Store failures are logged here, and answered without their
/// details.
fn describe(e: &CoreError) -> ScimError {
    match e {
        CoreError::NotFound { what, id } => ScimError::new(404, None, format!("{what} {id} not found.")),
        CoreError::Conflict { kind, value, level, .. } => {
            ScimError::new(409, Some(ScimType::Uniqueness), conflict_detail(*kind, value, *level))
        }
        CoreError::Invalid { scim_type, detail } => ScimError::new(400, *scim_type, detail.clone()),
        CoreError::TooMany(detail) => ScimError::new(400, Some(ScimType::TooMany), detail.clone()),
        CoreError::PreconditionFailed { .. } => ScimError::new(
            412,
            None,
            "the resource has changed since the version named in If-Match; read it again and retry",
        ),
        CoreError::Busy(detail) => ScimError::new(503, None, detail.clone()),
        CoreError::Unauthenticated(detail) => ScimError::new(401, None, detail.clone()),
        CoreError::PermissionDenied(detail) => ScimError::new(403, None, detail.clone()),
        CoreError::RateLimited(seconds) => ScimError::new(
            429,
            None,
            format!("this token sent more requests than its rate allows; retry in {seconds} s"),
        ),
        CoreError::Store(idplane_core::error::StoreError::Interrupted(e)) => {
            tracing::warn!(error = %e, "store work stopped: its request ran out of time");
            ScimError::new(503, None, "the request took longer than its time limit; retry it, or ask for less")
        }
        CoreError::Store(e) => {
            tracing::error!(error = %e, "store failure");
            ScimError::new(500, None, "the server could not complete the request; it has been logged")
        }
    }
}

/// The uniqueness conflict worded as Databricks words it: Terraform matches the text.
fn conflict_detail(kind: PrincipalKind, value: &str, level: Level) -> String {
    match (kind, level) {
        (PrincipalKind::User, Level::Account) => format!(
            "User with email {value} already exists in this account. Note: emails are case insensitive \
             (i.e abc@domain.com and ABC@DOMAIN.COM are considered equivalent)"
        ),
        (PrincipalKind::User, Level::Workspace) => format!("User with username {value} already exists."),
        (PrincipalKind::Group, _) => format!("Group with name {value} already exists."),
        (PrincipalKind::ServicePrincipal, _) => {
            format!("Service principal with application ID {value} already exists.")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let described = self.describe();
        let mut response = scim_error_response(&described);
        add_retry_after(&self, &mut response);
        if let ApiError::Core(CoreError::Conflict { .. }) = self {
            response.extensions_mut().insert(UniquenessConflict(described));
        }
        response
    }
}

/// Marks the SCIM response of a uniqueness conflict, so that Databricks-strict mode can answer it as Databricks does.
#[derive(Debug, Clone)]
pub struct UniquenessConflict(ScimError);

/// Databricks-strict mode (`--databricks-strict`): a uniqueness conflict carries no `scimType`, as Databricks answers
/// it. The Databricks SDKs show an error as "<scimType> <detail>", and Terraform's `force` import matches the detail
/// exactly, so it recognises the conflict only without the prefix. Otherwise the RFC's `uniqueness` stays.
pub async fn databricks_conflicts(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    match response.extensions().get::<UniquenessConflict>() {
        Some(UniquenessConflict(e)) => scim_error_response(&ScimError { scim_type: None, ..e.clone() }),
        None => response,
    }
}

/// `Retry-After` on a 429, which clients honour before retrying.
pub fn add_retry_after(e: &ApiError, response: &mut Response) {
    if let Some(CoreError::RateLimited(seconds)) = e.core()
        && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

pub fn scim_error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, e.to_json().to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"idplane\""));
    }
    response
}

/// Which error shape a path's clients parse: Databricks' `{"error_code","message"}` under `/api/` outside the SCIM
/// bases and under `/.well-known/`; SCIM Error messages elsewhere.
pub fn is_databricks_path(path: &str) -> bool {
    (path.starts_with("/api/") && crate::context::level(path).is_none()) || path.starts_with("/.well-known/")
}

/// An error answered by the edge itself (no such endpoint, method, time or header limits), in the shape of the path.
pub fn error_for_path(path: &str, status: StatusCode, detail: impl Into<String>) -> Response {
    if crate::graph::is_graph_path(path) {
        return graph_edge_error(path, status, detail.into());
    }
    if crate::agents::is_agent_path(path) {
        // The agent contract's errors are Graph's shape, but its paths are idplane's: no OData segment wording.
        let code = crate::graph::error::code_for(status.as_u16());
        return crate::graph::error::error_response(status.as_u16(), code, &detail.into(), None);
    }
    let e = ScimError::new(status.as_u16(), None, detail);
    if is_databricks_path(path) {
        crate::databricks::DbError(ApiError::Http(e)).into_response()
    } else {
        scim_error_response(&e)
    }
}

/// An edge error under `/v1.0`, in Graph's shape. No route is what Graph calls a segment it does not know.
fn graph_edge_error(path: &str, status: StatusCode, detail: String) -> Response {
    use crate::graph::error::{code_for, error_response};
    if status == StatusCode::NOT_FOUND {
        let segment = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let message = format!("Resource not found for the segment '{segment}'.");
        return error_response(400, "BadRequest", &message, None);
    }
    error_response(status.as_u16(), code_for(status.as_u16()), &detail, None)
}

/// The last line of defence: an error response that is not JSON (an extractor's plain-text rejection, a bare 405 of
/// the router) is rewritten into the error shape of its path, keeping its status and using its text as the detail.
pub async fn uniform_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with(SCIM_JSON));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let detail =
        if text.is_empty() { status.canonical_reason().unwrap_or("the request failed").to_string() } else { text };
    tracing::debug!(status = status.as_u16(), %detail, "a plain error answered in the API's shape");
    let mut shaped = error_for_path(&path, status, detail);
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            shaped.headers_mut().insert(name, v.clone());
        }
    }
    shaped
}
