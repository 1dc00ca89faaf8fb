//! `idplane app logs`: an application's provisioning logs (`GET /auditLogs/provisioning`, filtered on its service
//! principal and what the flags ask), newest first, every page followed, as a table, as Graph's JSON, or as CSV in
//! the columns of Log Analytics' `AADProvisioningLogs` (one row per record; the structured columns as compact JSON),
//! on standard output or into a file.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use idplane_provisioning::logs::query::{IdField, LogClause, MAX_TOP, TimeOp, print_filter};
use idplane_provisioning::logs::{ProvisioningAction, ProvisioningResult};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::apps::find_app;
use super::error::{ClientError, Result};
use super::http::Graph;
use super::output::{Output, table, text};

#[derive(Args)]
pub struct LogsArgs {
    /// The application: its service principal's id or display name.
    app: String,
    /// Only the records of this provisioning cycle (its id, the records' cycleId).
    #[arg(long)]
    cycle: Option<String>,
    /// Only records at or after this time: RFC 3339 (2026-12-06T10:00:00Z), milliseconds since the epoch, or a
    /// time ago (90m, 24h, 7d).
    #[arg(long)]
    since: Option<String>,
    /// Only records of this action: create, update, delete, disable, stagedDelete or other.
    #[arg(long, value_parser = action)]
    action: Option<ProvisioningAction>,
    /// Only records of this status: success, failure, skipped or warning.
    #[arg(long, value_parser = status)]
    status: Option<ProvisioningResult>,
    /// At most this many records, the newest (by default, all of them).
    #[arg(long)]
    top: Option<usize>,
    /// json: Graph's provisioningObjectSummary collection; csv: one row per record in the columns of Log Analytics'
    /// AADProvisioningLogs. Without it, a table (or the JSON with --json).
    #[arg(long, value_enum)]
    format: Option<LogFormat>,
    /// Write the records to this file rather than to standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Json,
    Csv,
}

fn action(s: &str) -> Result<ProvisioningAction, String> {
    ProvisioningAction::parse(s).ok_or_else(|| format!("use one of {}", names(ProvisioningAction::ALL)))
}

fn status(s: &str) -> Result<ProvisioningResult, String> {
    ProvisioningResult::parse(s).ok_or_else(|| format!("use one of {}", names(ProvisioningResult::ALL)))
}

fn names<T: std::fmt::Display>(all: &[T]) -> String {
    all.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The columns of the CSV export: `AADProvisioningLogs`' (Azure Monitor's table of the same records), less those
/// only Azure Monitor fills (`Type`, `Category`, `OperationName`, `OperationVersion`, `CorrelationId`).
pub const CSV_COLUMNS: [&str; 20] = [
    "TimeGenerated",
    "Id",
    "AADTenantId",
    "JobId",
    "CycleId",
    "ChangeId",
    "ProvisioningAction",
    "ResultType",
    "ResultSignature",
    "ResultDescription",
    "DurationMs",
    "InitiatedBy",
    "ServicePrincipal",
    "SourceIdentity",
    "TargetIdentity",
    "SourceSystem",
    "TargetSystem",
    "ProvisioningStatusInfo",
    "ProvisioningSteps",
    "ModifiedProperties",
];

/// The CSV row of a record (a `provisioningObjectSummary` as the API renders it), in [`CSV_COLUMNS`]' order:
/// scalars as text, objects and lists as compact JSON. `ResultType` is the status capitalised, as Azure Monitor
/// writes it; `ResultSignature` and `ResultDescription` the error's code and reason, empty without an error.
pub fn csv_row(record: &Value) -> Vec<String> {
    let compact = |key: &str| record.get(key).filter(|v| !v.is_null()).map(Value::to_string).unwrap_or_default();
    let status = record.pointer("/provisioningStatusInfo/status").and_then(Value::as_str).unwrap_or_default();
    let error = |key: &str| {
        record
            .pointer(&format!("/provisioningStatusInfo/errorInformation/{key}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut result_type = status.to_string();
    if let Some(first) = result_type.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    vec![
        text(record, "activityDateTime"),
        text(record, "id"),
        text(record, "tenantId"),
        text(record, "jobId"),
        text(record, "cycleId"),
        text(record, "changeId"),
        text(record, "provisioningAction"),
        result_type,
        error("errorCode"),
        error("reason"),
        text(record, "durationInMilliseconds"),
        compact("initiatedBy"),
        compact("servicePrincipal"),
        compact("sourceIdentity"),
        compact("targetIdentity"),
        compact("sourceSystem"),
        compact("targetSystem"),
        compact("provisioningStatusInfo"),
        compact("provisioningSteps"),
        compact("modifiedProperties"),
    ]
}

/// Records as CSV: a header of [`CSV_COLUMNS`], then one row each.
pub fn csv(records: &[Value]) -> Result<String> {
    let failed = |e: &dyn std::fmt::Display| ClientError::Usage(format!("writing CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).map_err(|e| failed(&e))?;
    for r in records {
        w.write_record(csv_row(r)).map_err(|e| failed(&e))?;
    }
    let bytes = w.into_inner().map_err(|e| failed(&e))?;
    String::from_utf8(bytes).map_err(|e| failed(&e))
}

/// One line of the table: when, what, how it went, which object, where, and the error.
fn line(r: &Value) -> Vec<String> {
    let at = |pointer: &str| r.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string();
    vec![
        text(r, "activityDateTime"),
        text(r, "provisioningAction"),
        at("/provisioningStatusInfo/status"),
        at("/sourceIdentity/displayName"),
        at("/targetIdentity/id"),
        at("/provisioningStatusInfo/errorInformation/errorCode"),
    ]
}

pub async fn run(g: &Graph, args: LogsArgs) -> Result<Output> {
    if args.top == Some(0) {
        return Err(ClientError::Usage("--top is at least 1".into()));
    }
    let sp = find_app(g, &args.app).await?;
    let mut filter = vec![LogClause::Equals(IdField::ServicePrincipalId, text(&sp, "id"))];
    if let Some(cycle) = args.cycle {
        filter.push(LogClause::Equals(IdField::CycleId, cycle));
    }
    if let Some(since) = &args.since {
        let at = crate::instant("--since", since, OffsetDateTime::now_utc())
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        filter.push(LogClause::Activity(TimeOp::Ge, at));
    }
    filter.extend(args.action.map(LogClause::Action));
    filter.extend(args.status.map(LogClause::Status));
    let page = args.top.unwrap_or(MAX_TOP).min(MAX_TOP).to_string();
    let url = g.url_with(&["auditLogs", "provisioning"], &[("$filter", &print_filter(&filter)), ("$top", &page)]);
    let listing = g.list(url, args.top).await?;
    let collection = listing.to_json();
    let formatted = match args.format {
        Some(LogFormat::Json) => serde_json::to_string_pretty(&collection).unwrap_or_default(),
        Some(LogFormat::Csv) => csv(&listing.items)?,
        None => {
            let mut rows =
                vec![["time", "action", "status", "source", "target id", "error"].map(String::from).to_vec()];
            rows.extend(listing.items.iter().map(line));
            table(&rows)
        }
    };
    let Some(path) = args.output else { return Ok(Output::new(collection, formatted)) };
    let file = |reason: String| ClientError::File { path: path.clone(), reason };
    let mut content = formatted;
    if !content.ends_with('\n') {
        content.push('\n');
    }
    std::fs::write(&path, content).map_err(|e| file(e.to_string()))?;
    let n = listing.items.len();
    let summary = format!("wrote {n} provisioning log records to {}", path.display());
    Ok(Output::new(json!({"records": n, "output": path.display().to_string()}), summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_row_in_the_columns_of_log_analytics() -> Result<()> {
        let record = json!({
            "id": "r1", "activityDateTime": "2026-12-06T10:00:00Z", "tenantId": "t", "jobId": "j", "cycleId": "c",
            "changeId": "x", "provisioningAction": "create", "durationInMilliseconds": 12,
            "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
            "servicePrincipal": {"id": "sp", "displayName": "Azure Databricks"},
            "sourceIdentity": {"id": "s", "displayName": "Ann, \"A\"", "identityType": "User", "details": {}},
            "targetIdentity": {"id": "", "displayName": "", "identityType": "User", "details": {}},
            "sourceSystem": {"id": null, "displayName": "Azure Active Directory", "details": {}},
            "targetSystem": {"id": null, "displayName": "customappsso", "details": {}},
            "provisioningStatusInfo": {"status": "failure", "errorInformation": {"errorCode": "EntryConflict",
                "reason": "409, line\nbreak", "additionalDetails": null, "errorCategory": "nonServiceFailure",
                "recommendedAction": null}},
            "provisioningSteps": [{"name": "EntryExportAdd", "provisioningStepType": "export", "status": "failure",
                "description": "Failed", "details": {}}],
            "modifiedProperties": [{"displayName": "displayName", "oldValue": null, "newValue": "Ann"}],
        });
        let row = csv_row(&record);
        assert_eq!(row.len(), CSV_COLUMNS.len());
        let cell = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).map(|i| row[i].as_str());
        assert_eq!(cell("TimeGenerated"), Some("2026-12-06T10:00:00Z"));
        assert_eq!(cell("ResultType"), Some("Failure"));
        assert_eq!(cell("ResultSignature"), Some("EntryConflict"));
        assert_eq!(cell("ResultDescription"), Some("409, line\nbreak"));
        assert_eq!(cell("DurationMs"), Some("12"));
        assert_eq!(
            cell("ModifiedProperties"),
            Some(r#"[{"displayName":"displayName","oldValue":null,"newValue":"Ann"}]"#)
        );
        assert_eq!(cell("ProvisioningSteps").map(|s| s.starts_with(r#"[{"name":"EntryExportAdd""#)), Some(true));

        // Read back as CSV, each record is one row whatever its commas, quotes and line breaks.
        let text = csv(&[record.clone(), record])?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.headers().map(|h| h.iter().map(str::to_string).collect::<Vec<_>>()).ok(),
            Some(CSV_COLUMNS.map(String::from).to_vec())
        );
        let rows: Vec<csv::StringRecord> =
            reader.records().collect::<Result<_, _>>().map_err(|e| ClientError::Usage(e.to_string()))?;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].iter().collect::<Vec<_>>(), row.iter().map(String::as_str).collect::<Vec<_>>());
        Ok(())
    }
}
