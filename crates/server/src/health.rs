//! Health endpoints for load balancers and orchestrators, unauthenticated and cheap: `/healthz` says the process
//! serves; `/readyz` says the store answers (it is migrated when it opens, so answering means current).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.store.setting(idplane_core::bootstrap::DEFAULT_ACCOUNT).await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "unavailable", "reason": "store"})))
                .into_response()
        }
    }
}
