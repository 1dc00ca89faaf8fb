//! `/auditLogs/provisioning`: the caller's tenant's provisioning logs as Graph's `provisioningObjectSummary`, newest
//! first unless `$orderby` says otherwise, filtered by `$filter` (the clauses of
//! [`idplane_provisioning::logs::query`]), paged by `$top` and `@odata.nextLink`; and one record by id. `$select`,
//! `$count` and the rest are refused by name.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::logs::LogQuery;
use serde_json::Value;

use super::error::GraphError;
use super::odata::Options;
use super::{Caller, collection, entity};
use crate::AppState;

const CONTEXT: &str = "auditLogs/provisioning";

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1.0/auditLogs/provisioning", get(list)).route("/v1.0/auditLogs/provisioning/{id}", get(one))
}

type Res = Result<Response, GraphError>;

async fn list(State(s): State<AppState>, c: Caller, RawQuery(query): RawQuery) -> Res {
    let options = Options::parse_ordered(query.as_deref())?;
    for (given, name) in [(options.select.is_some(), "$select"), (options.count, "$count")] {
        if given {
            return Err(ProvisioningError::Unsupported(format!(
                "the query option '{name}' is not supported on provisioning logs: use $filter, $orderby, $top and \
                 the @odata.nextLink"
            ))
            .into());
        }
    }
    let cursor = options.cursor()?;
    let q =
        LogQuery::from_odata(options.filter.as_deref(), options.orderby.as_deref(), cursor.as_deref(), options.top)?;
    let page = s.provisioning.logs(&c.tenant.id, &q).await?;
    let items = page.items.iter().map(|l| Value::Object(l.render())).collect();
    let next = page.next.map(|at| options.next_link(&c.url, &at.encode(q.order)));
    Ok(collection(&c, CONTEXT, items, None, next))
}

async fn one(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    let log = s
        .provisioning
        .log(&c.tenant.id, &id)
        .await?
        .ok_or_else(|| ProvisioningError::not_found("provisioningObjectSummary", id))?;
    Ok(entity(&c, StatusCode::OK, &format!("{CONTEXT}/$entity"), log.render()))
}
