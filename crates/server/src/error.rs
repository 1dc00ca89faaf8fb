//! The one place errors become HTTP responses. Every error is a SCIM Error message (RFC 7644 §3.12); internal
//! details go to the log, never to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idplane_core::CoreError;
use idplane_scim::ScimError;

use crate::body::SCIM_JSON;

#[derive(Debug)]
pub struct ApiError(pub CoreError);

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError(e)
    }
}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(CoreError::Scim(e))
    }
}

impl ApiError {
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        ScimError::new(status, None, detail).into()
    }

    /// The SCIM error this becomes.
    pub fn to_scim(&self) -> ScimError {
        scim_of(&self.0)
    }
}

/// The SCIM error a core error becomes. Store failures are logged here, and answered without their details.
pub fn scim_of(e: &CoreError) -> ScimError {
    match e {
        CoreError::Scim(e) => e.clone(),
        CoreError::PreconditionFailed { .. } => ScimError::new(
            412,
            None,
            "the resource has changed since the version named in If-Match; read it again and retry",
        ),
        CoreError::Unauthenticated(detail) => ScimError::new(401, None, detail.clone()),
        CoreError::PermissionDenied(detail) => ScimError::new(403, None, detail.clone()),
        CoreError::RateLimited(seconds) => ScimError::new(
            429,
            None,
            format!("this token sent more requests than its rate allows; retry in {seconds} s"),
        ),
        CoreError::Store(e) => {
            tracing::error!(error = %e, "store failure");
            ScimError::new(500, None, "the server could not complete the request; it has been logged")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = scim_error_response(&self.to_scim());
        add_retry_after(&self.0, &mut response);
        response
    }
}

/// `Retry-After` on a 429, which clients honour before retrying.
pub fn add_retry_after(e: &CoreError, response: &mut Response) {
    if let CoreError::RateLimited(seconds) = e
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
    let e = ScimError::new(status.as_u16(), None, detail);
    if is_databricks_path(path) {
        crate::databricks::DbError(CoreError::Scim(e)).into_response()
    } else {
        scim_error_response(&e)
    }
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
