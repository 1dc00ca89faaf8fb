//! Databricks endpoints outside SCIM that clients call: `/.well-known/databricks-config`, which the Databricks SDKs
//! read (without a token) when a client is constructed, to learn the default account and workspace.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idplane_core::bootstrap;
use serde_json::json;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/.well-known/databricks-config", get(databricks_config))
}

async fn databricks_config(State(s): State<AppState>) -> Response {
    match bootstrap::defaults(s.store.as_ref()).await {
        Ok(Some((account, workspace))) => axum::Json(json!({
            "account_id": account.id,
            "workspace_id": workspace.id.to_string(),
            "cloud": "azure",
            "host_type": "WORKSPACE_HOST",
        }))
        .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error_code": "NOT_FOUND", "message": "this server has no default account yet"})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading the default account");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(
                    json!({"error_code": "INTERNAL_ERROR", "message": "the server could not read its configuration"}),
                ),
            )
                .into_response()
        }
    }
}
