//! Microsoft Graph's error shape, the one every response under `/v1.0` fails with:
//! `{"error": {"code", "message", "target"?, "innerError": {"date", "request-id", "client-request-id"}}}`, with the
//! codes clients match (`Request_ResourceNotFound`, `Request_BadRequest`, `Authorization_RequestDenied`,
//! `InvalidAuthenticationToken`, ...). [`GraphError`] is what the Graph handlers fail with; [`inner_error`] fills in
//! the request's ids once the response is known.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idplane_core::CoreError;
use idplane_core::error::StoreError;
use idplane_provisioning::ProvisioningError;
use serde_json::{Value, json};

use crate::error::ApiError;

#[derive(Debug)]
pub enum GraphError {
    /// What the provisioning domain said.
    Domain(ProvisioningError),
    /// Authentication, authorization and rate limits (the identity core's), and HTTP-level mistakes.
    Api(ApiError),
    /// An error with a code of its own (Test Connection's `SystemForCrossDomainIdentityManagement...` codes).
    Coded { status: u16, code: String, message: String },
}

impl From<ProvisioningError> for GraphError {
    fn from(e: ProvisioningError) -> Self {
        GraphError::Domain(e)
    }
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> Self {
        GraphError::Domain(e.into())
    }
}

impl From<ApiError> for GraphError {
    fn from(e: ApiError) -> Self {
        GraphError::Api(e)
    }
}

impl From<CoreError> for GraphError {
    fn from(e: CoreError) -> Self {
        GraphError::Api(ApiError::Core(e))
    }
}

impl GraphError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        GraphError::Domain(ProvisioningError::invalid(message))
    }
}

/// Graph's error code for an HTTP status, when nothing more precise is known.
pub fn code_for(status: u16) -> &'static str {
    match status {
        400 => "Request_BadRequest",
        401 => "InvalidAuthenticationToken",
        403 => "Authorization_RequestDenied",
        404 => "Request_ResourceNotFound",
        405 => "Request_MethodNotAllowed",
        409 => "Request_Conflict",
        413 => "Request_EntityTooLarge",
        415 => "Request_UnsupportedMediaType",
        429 => "TooManyRequests",
        431 => "Request_HeaderFieldsTooLarge",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        s if s >= 500 => "InternalServerError",
        _ => "Request_BadRequest",
    }
}

/// What a response says: status, code, message, target, and seconds to wait before retrying.
struct Described {
    status: u16,
    code: String,
    message: String,
    target: Option<String>,
    retry_after: Option<u64>,
}

fn describe(e: &GraphError) -> Described {
    let plain = |status: u16, message: String| Described {
        status,
        code: code_for(status).to_string(),
        message,
        target: None,
        retry_after: None,
    };
    match e {
        GraphError::Domain(d) => match d {
            ProvisioningError::NotFound { .. } => plain(404, d.to_string()),
            ProvisioningError::Conflict(m) => plain(400, m.clone()),
            ProvisioningError::Invalid { detail, target } => {
                Described { target: target.clone(), ..plain(400, detail.clone()) }
            }
            ProvisioningError::Unsupported(m) => {
                Described { code: "Request_UnsupportedQuery".to_string(), ..plain(400, m.clone()) }
            }
            ProvisioningError::Busy(m) => Described { retry_after: Some(1), ..plain(503, m.clone()) },
            ProvisioningError::Store(StoreError::Interrupted(e)) => {
                tracing::warn!(error = %e, "store work stopped: its request ran out of time");
                plain(503, "The request took longer than its time limit; retry it, or ask for less.".into())
            }
            ProvisioningError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                plain(500, "The server could not complete the request; it has been logged.".into())
            }
        },
        GraphError::Api(a) => {
            let d = a.describe();
            let message = match a.core() {
                Some(CoreError::PermissionDenied(m)) => {
                    format!("Insufficient privileges to complete the operation: {m}")
                }
                _ => d.detail.clone(),
            };
            let retry_after = match a.core() {
                Some(CoreError::RateLimited(s)) => Some(*s),
                _ => None,
            };
            Described { retry_after, ..plain(d.status, message) }
        }
        GraphError::Coded { status, code, message } => {
            Described { code: code.clone(), ..plain(*status, message.clone()) }
        }
    }
}

/// The JSON content type Graph answers with.
pub const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// An error response in Graph's shape (the request's ids are added by [`inner_error`]).
pub fn error_response(status: u16, code: &str, message: &str, target: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(t) = target {
        error["target"] = json!(t);
    }
    error["innerError"] = json!({"date": now_text(), "request-id": "", "client-request-id": ""});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, json!({"error": error}).to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPH_JSON));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"idplane\""));
    }
    response
}

fn now_text() -> String {
    idplane_provisioning::directory::rfc3339(time::OffsetDateTime::now_utc())
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let d = describe(&self);
        let mut response = error_response(d.status, &d.code, &d.message, d.target.as_deref());
        if let Some(s) = d.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, s);
        }
        response
    }
}

/// Fills `innerError.request-id` (the server's id of the request, also in `X-Request-Id` and the log) and
/// `client-request-id` (the client's own, when it sent one) into every Graph error response.
pub async fn inner_error(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let request_id = request.extensions().get::<crate::log::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let client_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_default()
        .to_string();
    let response = next.run(request).await;
    if response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    if let Some(inner) = v.pointer_mut("/error/innerError").and_then(Value::as_object_mut) {
        inner.insert("request-id".into(), json!(request_id));
        inner.insert("client-request-id".into(), json!(client_id));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(v.to_string()))
}
