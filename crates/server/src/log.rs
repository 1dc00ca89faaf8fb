//! One span per request (request id, method, route: the matched route, or the path without its query; then the
//! tenant and the principal of its token), inside which everything about the request is logged, and one structured
//! log line per request in it: status, latency. Never headers, query strings or bodies, so never a token. Every response carries the
//! request id in `X-Request-Id`: the client's own when it sent a reasonable one, else a new one. Handlers find it in
//! the request's extensions as [`RequestId`], to record it in the audit log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being handled, as it is logged and answered in `X-Request-Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The request id of a request, if it passed through [`log_request`].
    pub fn of(parts: &axum::http::request::Parts) -> Option<String> {
        parts.extensions.get::<RequestId>().map(|r| r.0.clone())
    }
}

/// A client's request id is echoed if it is short and printable; anything else is replaced, so that logs stay
/// readable and cannot be forged into extra lines.
fn request_id(request: &Request) -> String {
    let given = request.headers().get(&X_REQUEST_ID).and_then(|v| v.to_str().ok());
    match given {
        Some(id) if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => id.to_string(),
        _ => idplane_core::ids::new_uuid().unwrap_or_default(),
    }
}

pub async fn log_request(
    axum::extract::State(metrics): axum::extract::State<std::sync::Arc<crate::metrics::Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let id = request_id(&request);
    request.extensions_mut().insert(RequestId(id.clone()));
    let account = crate::metrics::RequestAccount::default();
    request.extensions_mut().insert(account.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    // Every line logged while the request is handled (a store failure, say) carries its id, route, tenant and
    // principal: the tenant and the principal are recorded once the token is known (`context::authenticated`).
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        tenant = tracing::field::Empty,
        principal = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let account = account.get();
    metrics.record(account.as_deref(), &route, method.as_str(), response.status().as_u16(), start.elapsed());
    span.in_scope(|| {
        tracing::info!(
            target: "idplane::request",
            status = response.status().as_u16(),
            latency_us = start.elapsed().as_micros() as u64,
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    response
}
