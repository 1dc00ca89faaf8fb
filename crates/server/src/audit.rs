//! The audit log's read API, for administrators (Databricks-style JSON and errors):
//!
//! - `GET /api/2.0/accounts/{account_id}/audit`: an account's entries, for account admins and the account's
//!   administrative tokens.
//! - `GET /api/2.0/audit`: the entries recorded in one workspace (changes made through its APIs, its assignments and
//!   tokens), for that workspace's admins; the workspace is chosen as for the other workspace APIs.
//!
//! Query parameters, all optional: `start_time` (inclusive) and `end_time` (exclusive), each RFC 3339 or
//! milliseconds since the epoch; `principal_id` and `token_id` (the actor); `request_id`; `resource_type`,
//! `resource_id`, `operation`; `workspace_id` (account API only); `limit` (1 to 1,000, default 100) and
//! `page_token` (the previous page's `next_page_token`). Entries come newest first. Reading records nothing.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idplane_core::CoreError;
use idplane_core::access::Role;
use idplane_core::audit::{self, AuditCursor, AuditQuery, Operation, ResourceType};
use idplane_scim::ScimError;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::AppState;
use crate::context::{AccountAdmin, WorkspaceCaller};
use crate::databricks::DbError;
use crate::scim::query_pairs;

pub fn routes() -> Router<AppState> {
    let fallback = || async { DbError::from(ScimError::new(405, None, "this endpoint does not support that method")) };
    Router::new()
        .route("/api/2.0/accounts/{account_id}/audit", get(account_log).fallback(fallback))
        .route("/api/2.0/audit", get(workspace_log).fallback(fallback))
}

async fn account_log(State(s): State<AppState>, a: AccountAdmin, RawQuery(q): RawQuery) -> Result<Response, DbError> {
    let mut query = parse(q.as_deref(), true)?;
    query.account_id = Some(a.account_id);
    answer(&s, &query).await
}

async fn workspace_log(
    State(s): State<AppState>,
    caller: WorkspaceCaller,
    RawQuery(q): RawQuery,
) -> Result<Response, DbError> {
    if caller.role != Role::Admin {
        return Err(
            CoreError::PermissionDenied("only workspace admins may read the workspace's audit log".into()).into()
        );
    }
    let mut query = parse(q.as_deref(), false)?;
    query.account_id = Some(caller.workspace.account_id.clone());
    query.workspace_id = Some(caller.workspace.id);
    answer(&s, &query).await
}

async fn answer(s: &AppState, query: &AuditQuery) -> Result<Response, DbError> {
    let (records, next) = audit::page(s.store.as_ref(), query).await?;
    let mut body = json!({"entries": records.iter().map(|r| r.to_json()).collect::<Vec<_>>()});
    if let (Some(next), Some(o)) = (next, body.as_object_mut()) {
        o.insert("next_page_token".into(), Value::String(next.encode()));
    }
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// The parameters every audit query takes; `workspace_id` only where `by_workspace`.
const PARAMETERS: [&str; 11] = [
    "start_time",
    "end_time",
    "principal_id",
    "token_id",
    "request_id",
    "resource_type",
    "resource_id",
    "operation",
    "limit",
    "page_token",
    "workspace_id",
];

/// Reads the query string of an audit request. Every mistake is a 400 that names the parameter.
pub fn parse(raw: Option<&str>, by_workspace: bool) -> Result<AuditQuery, DbError> {
    let mut q = AuditQuery { limit: audit::DEFAULT_PAGE_SIZE, ..AuditQuery::default() };
    let known = if by_workspace { &PARAMETERS[..] } else { &PARAMETERS[..PARAMETERS.len() - 1] };
    for (name, value) in query_pairs(raw) {
        let value = value.trim();
        match name.as_str() {
            "start_time" => q.since = Some(instant(&name, value)?),
            "end_time" => q.until = Some(instant(&name, value)?),
            "principal_id" => q.principal_id = Some(id(&name, value)?),
            "workspace_id" if by_workspace => q.workspace_id = Some(id(&name, value)?),
            "token_id" => q.token_id = Some(value.to_string()),
            "request_id" => q.request_id = Some(value.to_string()),
            "resource_id" => q.resource_id = Some(value.to_string()),
            "resource_type" => {
                let parsed = ResourceType::parse_or_expected(value);
                q.resource_type = Some(parsed.map_err(|e| invalid(format!("resource_type must be {e}")))?);
            }
            "operation" => {
                let parsed = Operation::parse_or_expected(value);
                q.operation = Some(parsed.map_err(|e| invalid(format!("operation must be {e}")))?);
            }
            "limit" => {
                q.limit = value.parse::<usize>().ok().filter(|n| (1..=audit::MAX_PAGE_SIZE).contains(n)).ok_or_else(
                    || {
                        invalid(format!(
                            "limit must be a whole number from 1 to {}, not \"{value}\"",
                            audit::MAX_PAGE_SIZE
                        ))
                    },
                )?;
            }
            "page_token" => q.before = Some(AuditCursor::decode(value)?),
            other => {
                return Err(invalid(format!("unknown parameter \"{other}\"; the parameters are {}", known.join(", "))));
            }
        }
    }
    if let (Some(start), Some(end)) = (q.since, q.until)
        && start >= end
    {
        return Err(invalid("start_time must be before end_time"));
    }
    Ok(q)
}

fn invalid(message: impl Into<String>) -> DbError {
    ScimError::invalid_value(message).into()
}

/// An instant given as RFC 3339 (`2026-11-22T18:00:00Z`) or as milliseconds since the epoch.
fn instant(name: &str, value: &str) -> Result<OffsetDateTime, DbError> {
    audit::parse_time(value).ok_or_else(|| {
        invalid(format!(
            "{name} must be an RFC 3339 time such as 2026-11-22T18:00:00Z, or milliseconds since the epoch, not \
             \"{value}\""
        ))
    })
}

fn id(name: &str, value: &str) -> Result<i64, DbError> {
    value.parse().map_err(|_| invalid(format!("{name} must be an id (a whole number), not \"{value}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: DbError) -> String {
        e.message()
    }

    #[test]
    fn parameters_are_read_and_mistakes_named() -> Result<(), DbError> {
        let q = parse(Some("start_time=2026-11-22T18:00:00Z&end_time=1800000000000&resource_type=user&limit=5"), true)?;
        assert_eq!(q.resource_type, Some(ResourceType::User));
        assert_eq!(q.limit, 5);
        assert_eq!(q.until.map(|t| t.unix_timestamp()), Some(1_800_000_000));
        let bad = |raw: &str| parse(Some(raw), false).err().map(message).unwrap_or_default();
        assert!(bad("start_time=yesterday").contains("start_time"), "{}", bad("start_time=yesterday"));
        assert!(bad("end_time=2026-13-01").contains("end_time"));
        assert!(bad("limit=0").contains("limit"));
        assert!(bad("limit=5000").contains("limit"));
        assert!(bad("operation=rename").contains("create"));
        assert!(bad("principal=1").contains("unknown parameter \"principal\""));
        assert!(bad("workspace_id=1").contains("unknown parameter"), "the workspace API has its workspace");
        assert!(bad("page_token=xyz").contains("page_token"));
        assert!(bad("start_time=2000&end_time=1000").contains("before"));
        Ok(())
    }
}
