//! The Audit log: the account's entries (an account token; a workspace token sees its workspace's), newest first,
//! filtered as the audit API filters (time range, actor, resource, operation), paged with the API's page token.
//! Times are given and shown in UTC in the form, and in the viewer's zone in the table.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use idplane_core::audit::ResourceType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::account_api;
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Session, urlencode};

/// The operations the audit log records.
const OPERATIONS: [&str; 8] = ["create", "replace", "patch", "delete", "assign", "unassign", "expire", "rotate"];

pub fn routes() -> Router<Console> {
    Router::new().route("/account/audit", get(page))
}

/// The filters of the page, as its query string.
#[derive(Deserialize, Serialize, Default, Clone, Debug, PartialEq)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub principal_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation: String,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(flatten)]
    filters: Filters,
    #[serde(default)]
    page_token: Option<String>,
}

/// A `datetime-local` value (`2026-12-06T10:30`, taken as UTC) or RFC 3339, as the API takes it.
pub fn api_time(value: &str) -> String {
    let v = value.trim();
    if v.len() == 16 && v.as_bytes().get(10) == Some(&b'T') {
        format!("{v}:00Z")
    } else if v.len() == 19 && v.as_bytes().get(10) == Some(&b'T') {
        format!("{v}Z")
    } else {
        v.to_string()
    }
}

impl Filters {
    /// The audit API's query string for these filters.
    pub fn api_query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut add = |name, value: &str, f: fn(&str) -> String| {
            if !value.trim().is_empty() {
                pairs.push((name, f(value)));
            }
        };
        add("start_time", &self.from, api_time);
        add("end_time", &self.to, api_time);
        add("principal_id", &self.principal_id, |v| v.trim().to_string());
        add("token_id", &self.token_id, |v| v.trim().to_string());
        add("resource_type", &self.resource_type, |v| v.trim().to_string());
        add("resource_id", &self.resource_id, |v| v.trim().to_string());
        add("operation", &self.operation, |v| v.trim().to_string());
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }

    /// This page's own query string for these filters.
    pub fn page_query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }

    fn any(&self) -> bool {
        *self != Filters::default()
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub time: String,
    pub principal_id: String,
    pub token_id: String,
    pub actor_kind: String,
    pub operation: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_href: Option<String>,
    pub workspace_id: String,
    pub changed: String,
    pub changes: String,
}

fn entry(e: &Value) -> Entry {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let resource_type = text(&e["resource_type"]);
    let resource_id = text(&e["resource_id"]);
    let kind = match resource_type.as_str() {
        "User" => Some("users"),
        "Group" => Some("groups"),
        "ServicePrincipal" => Some("service-principals"),
        "Workspace" => Some("workspaces"),
        _ => None,
    };
    let resource_href = kind.map(|k| format!("/console/account/{k}/{}", urlencode(&resource_id)));
    let changes = e["changes"].as_array().cloned().unwrap_or_default();
    let changed = changes.iter().filter_map(|c| c["attribute"].as_str()).collect::<Vec<_>>().join(", ");
    Entry {
        time: text(&e["time"]),
        principal_id: text(&e["actor"]["principal_id"]),
        token_id: text(&e["actor"]["token_id"]),
        actor_kind: text(&e["actor"]["kind"]),
        operation: text(&e["operation"]),
        resource_type,
        resource_id,
        resource_href,
        workspace_id: text(&e["workspace_id"]),
        changed,
        changes: if changes.is_empty() {
            String::new()
        } else {
            serde_json::to_string_pretty(&changes).unwrap_or_default()
        },
    }
}

#[derive(Template)]
#[template(path = "identity/audit.html")]
struct Page {
    chrome: Chrome,
    filters: Filters,
    filtered: bool,
    resource_types: Vec<&'static str>,
    operations: Vec<&'static str>,
    entries: Vec<Entry>,
    next: Option<String>,
    first: Option<String>,
    error: Option<String>,
}

async fn page(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let base = match session.workspace_id() {
        Some(_) => "/api/2.0/audit".to_string(),
        None => account_api(&session, "/audit"),
    };
    let mut query = q.filters.api_query();
    query.push_str(if query.is_empty() { "limit=50" } else { "&limit=50" });
    if let Some(token) = q.page_token.as_deref().filter(|t| !t.is_empty()) {
        query.push_str("&page_token=");
        query.push_str(&urlencode(token));
    }
    let own = q.filters.page_query();
    let link = |extra: &str| {
        let mut l = "/console/account/audit".to_string();
        let joined: Vec<&str> = [own.as_str(), extra].into_iter().filter(|s| !s.is_empty()).collect();
        if !joined.is_empty() {
            l.push('?');
            l.push_str(&joined.join("&"));
        }
        l
    };
    let (status, entries, next, error) = match session.api(&console).get(&format!("{base}?{query}")).await {
        Ok(body) => {
            let entries = body["entries"].as_array().into_iter().flatten().map(entry).collect();
            let next = body["next_page_token"].as_str().map(|t| link(&format!("page_token={}", urlencode(t))));
            (StatusCode::OK, entries, next, None)
        }
        // A filter the API refused: the form again, with the API's message saying what to fix.
        Err(f) if f.status == 400 => (StatusCode::BAD_REQUEST, Vec::new(), None, Some(f.message)),
        Err(f) => return Err(f.into()),
    };
    let first = q.page_token.is_some().then(|| link(""));
    let page = Page {
        chrome: session.chrome("Audit log", "audit"),
        filtered: q.filters.any(),
        filters: q.filters,
        resource_types: ResourceType::ALL.iter().map(|t| t.name()).collect(),
        operations: OPERATIONS.to_vec(),
        entries,
        next,
        first,
        error,
    };
    render(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_the_audit_api_query() {
        let f = Filters {
            from: "2026-12-06T10:30".into(),
            resource_type: "User".into(),
            principal_id: " 42 ".into(),
            ..Filters::default()
        };
        assert_eq!(f.api_query(), "start_time=2026-12-06T10%3A30%3A00Z&principal_id=42&resource_type=User");
        assert_eq!(f.page_query(), "from=2026-12-06T10%3A30&principal_id=+42+&resource_type=User");
        assert_eq!(Filters::default().api_query(), "");
        assert_eq!(api_time("2026-12-06T10:30:15"), "2026-12-06T10:30:15Z");
        assert_eq!(api_time("1800000000000"), "1800000000000");
    }
}
