//! One structured log line per request: method, route (the path without its query), status, latency. Never headers,
//! query strings or bodies, so never a token.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

pub async fn log_request(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let response = next.run(request).await;
    tracing::info!(
        target: "idplane::request",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_us = start.elapsed().as_micros() as u64,
    );
    response
}
