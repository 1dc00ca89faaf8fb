//! The identity service's pages, with the names of Databricks' account console and user settings: Workspaces (and
//! their Permissions), User management (Users · Service principals · Groups, and their detail pages), User
//! provisioning (the account SCIM URL and token), the Audit log, and a workspace's Access tokens.
//!
//! Every page calls idplane's own APIs with the signed-in token: the account SCIM API, the account workspace and
//! assignment APIs, the workspace SCIM API (entitlements live in workspaces) and token APIs with
//! `X-Databricks-Workspace-Id`, the audit API, and idplane's SCIM token API (`/api/2.0/accounts/{id}/scim-token`).

mod audit;
mod principals;
mod provisioning;
mod tokens;
mod workspaces;

use axum::Router;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Console;
use crate::api::ApiFailure;
use crate::page::Pager;
use crate::session::{Session, urlencode};

/// How many rows a page of a long list shows.
pub const PAGE_SIZE: usize = 50;

pub fn routes() -> Router<Console> {
    Router::new()
        .merge(workspaces::routes())
        .merge(principals::routes())
        .merge(provisioning::routes())
        .merge(tokens::routes())
        .merge(audit::routes())
}

/// An account API path: `/api/2.0/accounts/{account}{rest}`.
fn account_api(session: &Session, rest: &str) -> String {
    format!("/api/2.0/accounts/{}{rest}", urlencode(session.account_id()))
}

/// An account SCIM API path: `/api/2.0/accounts/{account}/scim/v2{rest}`.
fn account_scim(session: &Session, rest: &str) -> String {
    account_api(session, &format!("/scim/v2{rest}"))
}

/// A page's `?notice=` (shown at the top after a change).
#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    notice: Option<String>,
}

/// RFC 3339 of milliseconds since the epoch (for `<time datetime>`); `None` for none (-1 or 0).
pub fn rfc3339_millis(millis: i64) -> Option<String> {
    if millis <= 0 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?.format(&Rfc3339).ok()
}

/// The RFC 3339 time of a JSON value that holds milliseconds.
fn millis_of(v: &Value) -> Option<String> {
    v.as_i64().and_then(rfc3339_millis)
}

/// A SCIM string literal: `text` quoted, its quotes and backslashes escaped.
pub fn scim_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The pager of a SCIM list answer: `link(start)` is the link to the page starting at `start` (1-based).
pub fn scim_pager(body: &Value, start: usize, shown: usize, link: impl Fn(usize) -> String) -> Pager {
    let total = body["totalResults"].as_u64().map(|t| t as usize);
    let first = if shown == 0 { 0 } else { start };
    let last = if shown == 0 { 0 } else { start + shown - 1 };
    let previous = (start > 1).then(|| link(start.saturating_sub(PAGE_SIZE).max(1)));
    let more = match total {
        Some(total) => last < total && shown > 0,
        None => shown == PAGE_SIZE,
    };
    let next = more.then(|| link(start + shown));
    Pager { first, last, total, previous, next }
}

/// The status a form is shown again with after the API refused it: the API's own client error, else 400.
fn form_status(f: &ApiFailure) -> StatusCode {
    match f.status {
        400 | 403 | 404 | 409 | 422 => StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
        _ => StatusCode::BAD_REQUEST,
    }
}

use crate::page::see_other;

/// `scheme://host` as the browser reached the console (the public URL when one is configured), for the URLs a page
/// shows to copy elsewhere.
fn origin(console: &Console, session: &Session) -> String {
    if let Some(public) = &console.state.public_url {
        return public.trim_end_matches('/').to_string();
    }
    let header = |name: &str| session.forwarded.get(name).and_then(|v| v.to_str().ok());
    let own = if console.state.tls { "https" } else { "http" };
    let proto = header("x-forwarded-proto").unwrap_or(own);
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or("localhost");
    format!("{proto}://{host}")
}

/// A workspace as the pickers show it.
#[derive(Debug, Clone)]
pub struct WorkspaceChoice {
    pub id: String,
    pub name: String,
    /// Whether the workspace uses the account's identities (only then can they be assigned to it).
    pub identity_federation: bool,
}

/// The account's workspaces (the account API; a short list), for pickers.
async fn account_workspaces(console: &Console, session: &Session) -> Result<Vec<WorkspaceChoice>, ApiFailure> {
    let list = session.api(console).get(&account_api(session, "/workspaces")).await?;
    Ok(list
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|w| WorkspaceChoice {
                    id: w["workspace_id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
                    name: w["workspace_name"].as_str().unwrap_or_default().to_string(),
                    identity_federation: w["identity_federation"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_strings_are_quoted_and_escaped() {
        assert_eq!(scim_string("ann"), "\"ann\"");
        assert_eq!(scim_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn times_in_milliseconds_become_rfc3339() {
        assert_eq!(rfc3339_millis(1_800_000_000_000).as_deref(), Some("2027-01-15T08:00:00Z"));
        assert_eq!(rfc3339_millis(-1), None);
    }

    #[test]
    fn a_scim_page_links_to_its_neighbours() {
        let link = |s: usize| format!("?start={s}");
        let p = scim_pager(&json!({"totalResults": 120}), 51, 50, link);
        assert_eq!((p.first, p.last, p.total), (51, 100, Some(120)));
        assert_eq!(p.previous.as_deref(), Some("?start=1"));
        assert_eq!(p.next.as_deref(), Some("?start=101"));
        let p = scim_pager(&json!({"totalResults": 120}), 101, 20, link);
        assert_eq!(p.next, None);
        let p = scim_pager(&json!({"totalResults": 0}), 1, 0, link);
        assert_eq!((p.first, p.last, p.previous, p.next), (0, 0, None, None));
    }
}
