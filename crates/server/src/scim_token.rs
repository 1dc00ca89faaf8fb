//! idplane's own API for an account's SCIM token, which the console's "User provisioning" page calls (Databricks'
//! account console generates it on that page; Databricks has no public API for it). Account admins only; an account
//! SCIM token itself is refused (it works on the account SCIM API only). Errors are Databricks errors.
//!
//! - `GET /api/2.0/accounts/{account_id}/scim-token`: the account's SCIM tokens that still work, newest first, never
//!   their values: `{"token_infos": [{"token_id", "creation_time", "expiry_time"}], "grace_seconds"}`
//!   (`expiry_time` is -1 for none; an earlier token in its grace period has one).
//! - `POST /api/2.0/accounts/{account_id}/scim-token` (no body): generates a new SCIM token and answers its value,
//!   once: `{"token_value", "token_info", "grace_seconds"}`. Every earlier SCIM token of the account keeps working
//!   for `grace_seconds` (24 hours, [`DEFAULT_SCIM_ROTATION_GRACE`]), then fails, as `idplane token rotate-scim`
//!   does.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idplane_core::CoreError;
use idplane_core::store::TokenFilter;
use idplane_core::token::{self, DEFAULT_SCIM_ROTATION_GRACE, Token, TokenKind};
use idplane_scim::ScimError;
use serde_json::{Value, json};

use crate::AppState;
use crate::context::AccountAdmin;
use crate::databricks::DbError;
use crate::tokens::millis;

pub fn routes() -> Router<AppState> {
    let fallback = || async { DbError::from(ScimError::new(405, None, "this endpoint does not support that method")) };
    Router::new().route("/api/2.0/accounts/{account_id}/scim-token", get(list).post(generate).fallback(fallback))
}

fn info(t: &Token) -> Value {
    json!({
        "token_id": t.id,
        "creation_time": millis(t.created),
        "expiry_time": t.expires.map(millis).unwrap_or(-1),
    })
}

async fn list(State(s): State<AppState>, a: AccountAdmin) -> Result<Response, DbError> {
    let filter = TokenFilter { kind: Some(TokenKind::Scim), ..TokenFilter::default() };
    let mut tokens = s.store.tokens(&a.account_id, &filter).await.map_err(CoreError::from)?;
    tokens.retain(|t| !t.is_expired(a.now));
    tokens.sort_by(|x, y| y.created.cmp(&x.created).then_with(|| y.id.cmp(&x.id)));
    let infos: Vec<Value> = tokens.iter().map(info).collect();
    let body = json!({"token_infos": infos, "grace_seconds": DEFAULT_SCIM_ROTATION_GRACE.whole_seconds()});
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

async fn generate(State(s): State<AppState>, a: AccountAdmin) -> Result<Response, DbError> {
    let (secret, t) =
        token::rotate_scim_token(s.store.as_ref(), &a.account_id, DEFAULT_SCIM_ROTATION_GRACE, a.now, &a.actor())
            .await?;
    let body = json!({
        "token_value": secret.expose(),
        "token_info": info(&t),
        "grace_seconds": DEFAULT_SCIM_ROTATION_GRACE.whole_seconds(),
    });
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}
