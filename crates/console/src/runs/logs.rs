//! **Provisioning logs**, of all applications (`/console/logs`) or of one (`/console/apps/{sp}/logs`): filters (date
//! range, Status, Action, Identity, Job ID, Cycle ID) written as the `$filter` of `/v1.0/auditLogs/provisioning`, a
//! table paged by the API's own `@odata.nextLink` cursor ([`PAGE`] records a page), a detail view
//! (`/console/logs/{id}`) with the tabs Steps · Troubleshooting & Recommendations · Modified Properties · Summary,
//! and Download as CSV or JSON of what the filters select: at most [`DOWNLOAD_CAP`] records, newest first, read in
//! pages of 999 (the page says so).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::AppJob;
use super::view::{details_of, duration, flat, modified_of, quoted, rfc3339, seg, text};
use crate::Console;
use crate::api::Api;
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Session, urlencode};

/// Records a page of the table.
const PAGE: usize = 50;
/// The most records a download holds.
pub const DOWNLOAD_CAP: usize = 10_000;
const _: () = assert!(DOWNLOAD_CAP == 10_000, "the logs page states the cap as 10,000");
/// Records a request while downloading (the API's largest page).
const DOWNLOAD_PAGE: usize = 999;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/logs", get(all))
        .route("/logs/download", get(download_all))
        .route("/logs/{id}", get(detail))
        .route("/apps/{sp}/logs", get(of_app))
        .route("/apps/{sp}/logs/download", get(download_app))
}

/// The filters of the page, as its query string carries them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Filters {
    /// "1h", "24h", "7d", "30d", "custom", or any time.
    #[serde(default)]
    pub range: String,
    /// With `range=custom`: `YYYY-MM-DDTHH:MM` (UTC), as `<input type="datetime-local">` sends it.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub identity: String,
    #[serde(default)]
    pub job: String,
    #[serde(default)]
    pub cycle: String,
    /// The API's cursor of the page to show (its `$skiptoken`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub after: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
}

pub const STATUSES: [(&str, &str); 4] =
    [("success", "Success"), ("failure", "Failure"), ("skipped", "Skipped"), ("warning", "Warning")];
pub const ACTIONS: [(&str, &str); 6] = [
    ("create", "Create"),
    ("update", "Update"),
    ("delete", "Delete"),
    ("disable", "Disable"),
    ("stagedDelete", "StagedDelete"),
    ("other", "Other"),
];
pub const RANGES: [(&str, &str); 6] = [
    ("", "Any time"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom range (UTC)"),
];

/// Whether `s` looks like an object id (a GUID), which the Identity filter then matches exactly.
fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// A `datetime-local` value (UTC) as OData's time, or what to fix.
fn local_time(field: &str, v: &str) -> Result<String, (String, String)> {
    let with_seconds = if v.len() == 16 { format!("{v}:00") } else { v.to_string() };
    let t = format!("{with_seconds}Z");
    match rfc3339(&t) {
        Some(t) => Ok(t),
        None => Err((field.into(), format!("“{v}” is not a date and time: write it as 2026-12-06T10:00 (UTC)."))),
    }
}

impl Filters {
    /// The `$filter` of these filters for the application `sp` (all when `None`) at `now`, or the field to fix and
    /// why.
    pub fn odata(&self, sp: Option<&str>, now: OffsetDateTime) -> Result<String, (String, String)> {
        let mut clauses = Vec::new();
        if let Some(sp) = sp {
            clauses.push(format!("servicePrincipal/id eq {}", quoted(sp)));
        }
        let since = match self.range.as_str() {
            "1h" => Some(time::Duration::hours(1)),
            "24h" => Some(time::Duration::hours(24)),
            "7d" => Some(time::Duration::days(7)),
            "30d" => Some(time::Duration::days(30)),
            _ => None,
        };
        if let Some(d) = since {
            let at = rfc3339(&(now - d).format(&time::format_description::well_known::Rfc3339).unwrap_or_default())
                .unwrap_or_default();
            clauses.push(format!("activityDateTime ge {at}"));
        }
        if self.range == "custom" {
            if !self.from.trim().is_empty() {
                clauses.push(format!("activityDateTime ge {}", local_time("from", self.from.trim())?));
            }
            if !self.to.trim().is_empty() {
                clauses.push(format!("activityDateTime le {}", local_time("to", self.to.trim())?));
            }
        }
        if !self.status.is_empty() {
            if !STATUSES.iter().any(|(v, _)| *v == self.status) {
                return Err(("status".into(), "Pick a status from the list.".into()));
            }
            clauses.push(format!("provisioningStatusInfo/status eq {}", quoted(&self.status)));
        }
        if !self.action.is_empty() {
            if !ACTIONS.iter().any(|(v, _)| *v == self.action) {
                return Err(("action".into(), "Pick an action from the list.".into()));
            }
            clauses.push(format!("provisioningAction eq {}", quoted(&self.action)));
        }
        let identity = self.identity.trim();
        if !identity.is_empty() {
            if is_guid(identity) {
                clauses.push(format!("sourceIdentity/id eq {}", quoted(identity)));
            } else {
                clauses.push(format!("contains(sourceIdentity/displayName, {})", quoted(identity)));
            }
        }
        for (value, property) in [(&self.job, "jobId"), (&self.cycle, "cycleId")] {
            if !value.trim().is_empty() {
                clauses.push(format!("{property} eq {}", quoted(value.trim())));
            }
        }
        Ok(clauses.join(" and "))
    }

    /// The query string of these filters (without the page's cursor), for links.
    pub fn query(&self) -> String {
        let mut f = self.clone();
        f.after.clear();
        f.format.clear();
        serde_urlencoded::to_string(&f).unwrap_or_default()
    }

    /// Whether `field` is `value`: the selected options of the form.
    pub fn is(&self, field: &str, value: &str) -> bool {
        match field {
            "range" => self.range == value,
            "status" => self.status == value,
            "action" => self.action == value,
            _ => false,
        }
    }

    /// Whether any filter is set.
    pub fn any(&self) -> bool {
        let f = Filters { after: String::new(), format: String::new(), ..self.clone() };
        f.query() != Filters::default().query()
    }
}

/// The `$skiptoken` of an `@odata.nextLink`.
use crate::api::skip_token as skiptoken;

fn list_path(filter: &str, top: usize, after: &str) -> String {
    let mut path = format!("/v1.0/auditLogs/provisioning?$top={top}");
    if !filter.is_empty() {
        path.push_str(&format!("&$filter={}", urlencode(filter)));
    }
    if !after.is_empty() {
        path.push_str(&format!("&$skiptoken={}", urlencode(after)));
    }
    path
}

/// One row of the table.
struct Row {
    /// The record's id, as a path segment.
    href: String,
    date: String,
    identity: String,
    identity_type: String,
    action: String,
    source: String,
    target: String,
    status: String,
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn row(v: &Value) -> Row {
    Row {
        href: seg(&text(v, "id")),
        date: rfc3339(&text(v, "activityDateTime")).unwrap_or_default(),
        identity: text(&v["sourceIdentity"], "displayName"),
        identity_type: text(&v["sourceIdentity"], "identityType"),
        action: capitalised(&text(v, "provisioningAction")),
        source: text(&v["sourceSystem"], "displayName"),
        target: text(&v["targetSystem"], "displayName"),
        status: capitalised(&text(&v["provisioningStatusInfo"], "status")),
    }
}

#[derive(Template)]
#[template(path = "runs/logs.html")]
struct Logs {
    chrome: Chrome,
    /// The application, when the page is one application's.
    app: Option<(String, String)>,
    base: String,
    f: Filters,
    field_error: Option<(String, String)>,
    rows: Vec<Row>,
    first_page: bool,
    next: Option<String>,
    query: String,
    /// [`DOWNLOAD_CAP`], for people.
    cap: &'static str,
    statuses: [(&'static str, &'static str); 4],
    actions: [(&'static str, &'static str); 6],
    ranges: [(&'static str, &'static str); 6],
}

async fn all(
    State(console): State<Console>,
    session: Session,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    list(&console, &session, None, f).await
}

async fn of_app(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    list(&console, &session, Some(&sp), f).await
}

async fn list(console: &Console, session: &Session, sp: Option<&str>, f: Filters) -> Result<Response, PageError> {
    let api = session.api(console);
    let app = match sp {
        Some(sp) => {
            let a = AppJob::load(&api, sp).await?;
            Some((a.sp_id, a.name))
        }
        None => None,
    };
    let base = match &app {
        Some((id, _)) => format!("/console/apps/{}/logs", seg(id)),
        None => "/console/logs".to_string(),
    };
    let title = match &app {
        Some((_, name)) => format!("Provisioning logs · {name}"),
        None => "Provisioning logs".to_string(),
    };
    let section = if app.is_some() { "apps" } else { "logs" };
    let (status, field_error, rows, next) =
        match f.odata(app.as_ref().map(|(id, _)| id.as_str()), console.state.clock.now()) {
            Err(e) => (StatusCode::BAD_REQUEST, Some(e), Vec::new(), None),
            Ok(filter) => {
                let page = api.get(&list_path(&filter, PAGE, &f.after)).await?;
                let rows = page["value"].as_array().map(|a| a.iter().map(row).collect()).unwrap_or_default();
                let next = page["@odata.nextLink"].as_str().and_then(skiptoken);
                (StatusCode::OK, None, rows, next)
            }
        };
    let query = f.query();
    render(
        status,
        &Logs {
            chrome: session.chrome(title, section),
            app,
            next: next.map(|t| format!("{base}?{query}&after={}", urlencode(&t))),
            first_page: f.after.is_empty(),
            base,
            f,
            field_error,
            rows,
            query,
            cap: "10,000",
            statuses: STATUSES,
            actions: ACTIONS,
            ranges: RANGES,
        },
    )
}

#[derive(Deserialize)]
pub struct TabQuery {
    #[serde(default)]
    tab: String,
}

struct Step {
    name: String,
    step_type: String,
    status: String,
    description: String,
    details: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "runs/log.html")]
struct Detail {
    chrome: Chrome,
    tab: &'static str,
    id: String,
    row: Row,
    steps: Vec<Step>,
    error_code: String,
    reason: String,
    category: String,
    recommended: String,
    additional: String,
    modified: Vec<(String, String, String)>,
    summary: Vec<(&'static str, String)>,
    sp_id: String,
}

async fn detail(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<TabQuery>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let log = api.get(&format!("/v1.0/auditLogs/provisioning/{}", seg(&id))).await?;
    let tab = match q.tab.as_str() {
        "troubleshooting" => "troubleshooting",
        "modified" => "modified",
        "summary" => "summary",
        _ => "steps",
    };
    let steps = log["provisioningSteps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| Step {
                    name: text(s, "name"),
                    step_type: capitalised(&text(s, "provisioningStepType")),
                    status: capitalised(&text(s, "status")),
                    description: text(s, "description"),
                    details: details_of(s),
                })
                .collect()
        })
        .unwrap_or_default();
    let e = &log["provisioningStatusInfo"]["errorInformation"];
    let modified = modified_of(&log);
    let r = row(&log);
    let summary = vec![
        ("Activity ID (log id)", text(&log, "id")),
        ("Change ID", text(&log, "changeId")),
        ("Cycle ID", text(&log, "cycleId")),
        ("Job ID", text(&log, "jobId")),
        ("Application", text(&log["servicePrincipal"], "displayName")),
        ("Service principal ID", text(&log["servicePrincipal"], "id")),
        ("Initiated by", text(&log["initiatedBy"], "displayName")),
        ("Source identity ID", text(&log["sourceIdentity"], "id")),
        ("Source identity type", text(&log["sourceIdentity"], "identityType")),
        ("Target identity ID", text(&log["targetIdentity"], "id")),
        ("Target identity name", text(&log["targetIdentity"], "displayName")),
        ("Duration", duration(log["durationInMilliseconds"].as_u64().unwrap_or(0))),
    ];
    render(
        StatusCode::OK,
        &Detail {
            chrome: session.chrome(format!("Provisioning log · {}", r.identity), "logs"),
            tab,
            id: seg(&text(&log, "id")),
            sp_id: text(&log["servicePrincipal"], "id"),
            row: r,
            steps,
            error_code: text(e, "errorCode"),
            reason: text(e, "reason"),
            category: text(e, "errorCategory"),
            recommended: text(e, "recommendedAction"),
            additional: text(e, "additionalDetails"),
            modified,
            summary,
        },
    )
}

async fn download_all(
    State(console): State<Console>,
    session: Session,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    download(&console, &session, None, f).await
}

async fn download_app(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    download(&console, &session, Some(&sp), f).await
}

/// At most [`DOWNLOAD_CAP`] records the filters select, newest first; and whether more were left out.
async fn collect(api: &Api<'_>, filter: &str) -> Result<(Vec<Value>, bool), PageError> {
    let mut out: Vec<Value> = Vec::new();
    let mut after = String::new();
    loop {
        let top = DOWNLOAD_PAGE.min(DOWNLOAD_CAP - out.len());
        let page = api.get(&list_path(filter, top, &after)).await?;
        out.extend(page["value"].as_array().cloned().unwrap_or_default());
        match page["@odata.nextLink"].as_str().and_then(skiptoken) {
            Some(t) if out.len() < DOWNLOAD_CAP => after = t,
            Some(_) => return Ok((out, true)),
            None => return Ok((out, false)),
        }
    }
}

async fn download(console: &Console, session: &Session, sp: Option<&str>, f: Filters) -> Result<Response, PageError> {
    let api = session.api(console);
    let sp_id = match sp {
        Some(sp) => Some(AppJob::load(&api, sp).await?.sp_id),
        None => None,
    };
    let filter = f
        .odata(sp_id.as_deref(), console.state.clock.now())
        .map_err(|(field, why)| PageError::bad_request(format!("The {field} filter: {why}")))?;
    let (records, truncated) = collect(&api, &filter).await?;
    let (body, kind, ext) = if f.format == "json" {
        let json = serde_json::to_vec_pretty(&Value::Array(records)).map_err(|e| PageError::internal(e.to_string()))?;
        (json, "application/json", "json")
    } else {
        (csv(&records).into_bytes(), "text/csv; charset=utf-8", "csv")
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let name = format!("attachment; filename=\"provisioning-logs.{ext}\"");
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert("x-idplane-truncated", HeaderValue::from_static(if truncated { "true" } else { "false" }));
    Ok(response)
}

/// The CSV columns: Entra's log table's (`AADProvisioningLogs`), flattened.
const CSV_COLUMNS: [&str; 20] = [
    "Date",
    "Id",
    "JobId",
    "CycleId",
    "ChangeId",
    "Action",
    "Status",
    "ErrorCode",
    "Reason",
    "SourceIdentityId",
    "SourceIdentityName",
    "IdentityType",
    "TargetIdentityId",
    "TargetIdentityName",
    "SourceSystem",
    "TargetSystem",
    "ServicePrincipalId",
    "ServicePrincipalName",
    "DurationMs",
    "ModifiedProperties",
];

/// A CSV cell: quoted when needed, and a leading `=`, `+`, `-` or `@` defused (a spreadsheet would run it).
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// Provisioning log records as CSV, one line a record.
pub fn csv(records: &[Value]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for v in records {
        let e = &v["provisioningStatusInfo"]["errorInformation"];
        let modified: Vec<String> = v["modifiedProperties"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|p| {
                        format!("{}: {} -> {}", text(p, "displayName"), flat(&p["oldValue"]), flat(&p["newValue"]))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cells = [
            text(v, "activityDateTime"),
            text(v, "id"),
            text(v, "jobId"),
            text(v, "cycleId"),
            text(v, "changeId"),
            text(v, "provisioningAction"),
            text(&v["provisioningStatusInfo"], "status"),
            text(e, "errorCode"),
            text(e, "reason"),
            text(&v["sourceIdentity"], "id"),
            text(&v["sourceIdentity"], "displayName"),
            text(&v["sourceIdentity"], "identityType"),
            text(&v["targetIdentity"], "id"),
            text(&v["targetIdentity"], "displayName"),
            text(&v["sourceSystem"], "displayName"),
            text(&v["targetSystem"], "displayName"),
            text(&v["servicePrincipal"], "id"),
            text(&v["servicePrincipal"], "displayName"),
            text(v, "durationInMilliseconds"),
            modified.join("; "),
        ];
        out.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn filters_become_the_apis_filter() {
        let now = datetime!(2026-12-06 10:00:00 UTC);
        let f = Filters {
            range: "24h".into(),
            status: "failure".into(),
            action: "create".into(),
            identity: "O'Brien".into(),
            job: "dataBricks.a.b".into(),
            cycle: " c1 ".into(),
            ..Filters::default()
        };
        assert_eq!(
            f.odata(Some("sp1"), now).unwrap(),
            "servicePrincipal/id eq 'sp1' and activityDateTime ge 2026-12-05T10:00:00Z and \
             provisioningStatusInfo/status eq 'failure' and provisioningAction eq 'create' and \
             contains(sourceIdentity/displayName, 'O''Brien') and jobId eq 'dataBricks.a.b' and cycleId eq 'c1'"
        );
        let guid = Filters { identity: "9bb0f679-a883-4a6f-8260-35b491b8b8c8".into(), ..Filters::default() };
        assert_eq!(guid.odata(None, now).unwrap(), "sourceIdentity/id eq '9bb0f679-a883-4a6f-8260-35b491b8b8c8'");
        let custom = Filters { range: "custom".into(), from: "2026-12-01T08:30".into(), ..Filters::default() };
        assert_eq!(custom.odata(None, now).unwrap(), "activityDateTime ge 2026-12-01T08:30:00Z");
        let bad = Filters { range: "custom".into(), to: "tomorrow".into(), ..Filters::default() };
        assert_eq!(bad.odata(None, now).unwrap_err().0, "to");
        let bad = Filters { status: "exploded".into(), ..Filters::default() };
        assert_eq!(bad.odata(None, now).unwrap_err().0, "status");
        assert_eq!(Filters::default().odata(None, now).unwrap(), "");
        assert!(!Filters::default().any() && f.any());
    }

    #[test]
    fn the_next_page_is_the_apis_skiptoken() {
        assert_eq!(
            skiptoken("http://h/v1.0/auditLogs/provisioning?%24top=50&%24skiptoken=YWZ0ZXI6eA").as_deref(),
            Some("YWZ0ZXI6eA")
        );
        assert_eq!(skiptoken("http://h/v1.0/auditLogs/provisioning?$top=50"), None);
        let f = Filters { status: "failure".into(), after: "tok".into(), ..Filters::default() };
        assert!(!f.query().contains("tok"));
        assert!(f.query().contains("status=failure"));
    }

    #[test]
    fn csv_is_one_line_a_record_with_cells_quoted_and_formulas_defused() {
        let records = vec![
            json!({"id": "l1", "activityDateTime": "2026-12-06T10:00:00Z", "provisioningAction": "create",
            "provisioningStatusInfo": {"status": "failure", "errorInformation": {"errorCode": "E", "reason": "a, \"b\"\nc"}},
            "sourceIdentity": {"displayName": "=cmd()"},
            "modifiedProperties": [{"displayName": "userName", "oldValue": null, "newValue": "u@x"}]}),
        ];
        let out = csv(&records);
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert!(lines[0].starts_with("Date,Id,JobId,CycleId"));
        assert!(out.contains("\"a, \"\"b\"\"\nc\""));
        assert!(out.contains(",'=cmd(),"));
        assert!(out.contains("userName:  -> u@x"));
        assert_eq!(out.matches("\r\n").count(), 2);
    }
}
