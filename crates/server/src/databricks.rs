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
use crate::error::ApiError;

/// A Databricks REST error, `{"error_code": "...", "message": "..."}`, as the non-SCIM APIs answer. The SDKs pick
/// their exception class from the code and the HTTP status.
#[derive(Debug)]
pub struct DbError(pub ApiError);

impl DbError {
    pub fn message(&self) -> String {
        self.0.describe().detail
    }
}

impl<E: Into<ApiError>> From<E> for DbError {
    fn from(e: E) -> Self {
        DbError(e.into())
    }
}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        let e = self.0.describe();
        let code = match e.status {
            400 => "INVALID_PARAMETER_VALUE",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "RESOURCE_DOES_NOT_EXIST",
            405 => "BAD_REQUEST",
            409 => "RESOURCE_ALREADY_EXISTS",
            413 => "REQUEST_LIMIT_EXCEEDED",
            429 => "REQUEST_LIMIT_EXCEEDED",
            503 => "TEMPORARILY_UNAVAILABLE",
            _ => "INTERNAL_ERROR",
        };
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(json!({"error_code": code, "message": e.detail}))).into_response();
        crate::error::add_retry_after(&self.0, &mut response);
        response
    }
}

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
