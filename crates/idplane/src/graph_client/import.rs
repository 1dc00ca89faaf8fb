//! Bulk operations from CSV files in Entra's template format: users (Entra's "Bulk create users" template), group
//! members (Entra's "Bulk import group members"), and groups (idplane's template in the same style; Entra has no
//! bulk group creation). A template's first line is `version:v1.0`, its second the column headings
//! `<Item name> [propertyName] <Required or blank>`; columns are found by the property in brackets, and a column
//! without one, or with a property the import does not know, is ignored (as Entra ignores added columns).
//!
//! The rows are sent with a bounded number of requests in flight. A row that cannot be used, or that the server
//! refuses, is reported with its line number and reason and does not stop the others; the failing rows are written
//! to an errors file with the same two first lines plus `Line` and `Error` columns, like Entra's downloadable
//! results, so that the file can be fixed and imported again. Ctrl-C stops sending; the rows in flight finish, and
//! the rows not sent go to the errors file too.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use csv::StringRecord;
use idplane_provisioning::directory::properties::{self, PropType};
use serde_json::{Map, Value, json};

use super::directory::{find_group, find_user, new_group};
use super::error::{ClientError, Result};
use super::http::{Graph, is_guid};
use super::output::{Output, text};

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Create users from Entra's bulk-create CSV (`idplane directory import template users` prints it).
    Users {
        file: PathBuf,
        #[command(flatten)]
        options: ImportOptions,
    },
    /// Add members to a group from Entra's bulk-import-members CSV (member object id or user principal name).
    Members {
        /// The group: id or display name.
        group: String,
        file: PathBuf,
        #[command(flatten)]
        options: ImportOptions,
    },
    /// Create groups from idplane's bulk-create CSV (`idplane directory import template groups` prints it).
    Groups {
        file: PathBuf,
        #[command(flatten)]
        options: ImportOptions,
    },
    /// Print the CSV template of an import, with one example row to replace.
    Template { kind: Kind },
}

#[derive(Args)]
pub struct ImportOptions {
    /// How many requests are in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Where the failing rows are written (default: the file's name with .errors.csv for .csv).
    #[arg(long)]
    errors: Option<PathBuf>,
}

/// The kinds of import.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Kind {
    Users,
    Members,
    Groups,
}

/// The first line of every template.
const VERSION: &str = "version:v1.0";

/// Entra's bulk-create users template: its headings, and the example row its download carries.
const USERS_TEMPLATE: &[(&str, &str)] = &[
    ("Name [displayName] Required", "Chris Green"),
    ("User name [userPrincipalName] Required", "chris@contoso.com"),
    ("Initial password [passwordProfile] Required", "Change-me-1"),
    ("Block sign in (Yes/No) [accountEnabled] Required", "No"),
    ("First name [givenName]", "Chris"),
    ("Last name [surname]", "Green"),
    ("Job title [jobTitle]", "Engineer"),
    ("Department [department]", "Engineering"),
    ("Usage location [usageLocation]", "US"),
    ("Street address [streetAddress]", ""),
    ("State or province [state]", ""),
    ("Country or region [country]", ""),
    ("Office [physicalDeliveryOfficeName]", ""),
    ("City [city]", ""),
    ("ZIP or postal code [postalCode]", ""),
    ("Office phone [telephoneNumber]", ""),
    ("Mobile phone [mobile]", ""),
];

const MEMBERS_TEMPLATE: &[(&str, &str)] =
    &[("Member object ID or user principal name [memberObjectIdOrUpn] Required", "chris@contoso.com")];

/// idplane's bulk-create groups template, in Entra's style.
const GROUPS_TEMPLATE: &[(&str, &str)] = &[
    ("Name [displayName] Required", "Engineering"),
    ("Description [description]", "Everyone who builds the product"),
    ("Group type (Security/Microsoft 365) [groupType]", "Security"),
    ("Mail nickname [mailNickname]", "engineering"),
];

impl Kind {
    fn template(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::Users => USERS_TEMPLATE,
            Kind::Members => MEMBERS_TEMPLATE,
            Kind::Groups => GROUPS_TEMPLATE,
        }
    }

    /// The properties a row must have: those the template marks Required.
    fn required(self) -> Vec<(&'static str, &'static str)> {
        self.template()
            .iter()
            .filter(|(h, _)| h.ends_with(" Required"))
            .filter_map(|(h, _)| heading(h).map(|(p, _)| (p, *h)))
            .collect()
    }

    /// Whether a column's property is one this import reads.
    fn reads(self, property: &str) -> bool {
        self.template().iter().any(|(h, _)| heading(h).is_some_and(|(p, _)| p == property))
            || (self == Kind::Users && writable_text_property(property).is_some())
    }

    /// What a row makes, for the summary.
    fn done(self) -> &'static str {
        match self {
            Kind::Users => "users created",
            Kind::Members => "members added",
            Kind::Groups => "groups created",
        }
    }
}

/// The property in brackets of a heading, and whether it is required: `Name [displayName] Required`.
fn heading(h: &str) -> Option<(&str, bool)> {
    let open = h.find('[')?;
    let close = open + h[open..].find(']')?;
    let property = h[open + 1..close].trim();
    (!property.is_empty()).then(|| (property, h[close + 1..].trim().eq_ignore_ascii_case("required")))
}

/// A user property of the directory that a text cell can set, by any case of its name.
fn writable_text_property(name: &str) -> Option<&'static str> {
    properties::USER
        .iter()
        .find(|p| p.writable && p.ty == PropType::String && p.name.eq_ignore_ascii_case(name))
        .map(|p| p.name)
}

/// A template file: every heading, the property of each column, and the data rows with their line numbers.
#[derive(Debug)]
pub struct Sheet {
    pub headings: StringRecord,
    /// The property of each column, `None` for a column this import ignores.
    pub columns: Vec<Option<String>>,
    pub rows: Vec<(u64, StringRecord)>,
    /// Columns ignored, for a warning.
    pub ignored: Vec<String>,
    /// Whether the file started with the version line.
    pub versioned: bool,
}

impl Sheet {
    /// Reads a template file of `kind`: its version line (a file starting with the headings is taken too), its
    /// headings (every required column present), and its non-empty rows.
    pub fn read(path: &Path, kind: Kind) -> Result<Sheet> {
        let file = |reason: String| ClientError::File { path: path.to_path_buf(), reason };
        let bytes = std::fs::read(path).map_err(|e| file(e.to_string()))?;
        // Excel writes a byte order mark before the first line.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&bytes);
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let mut records = reader.records();
        let mut next = || records.next().transpose().map_err(|e| file(format!("not a CSV file: {e}")));
        let first = next()?.ok_or_else(|| file(format!("the file is empty: it starts with the line {VERSION}")))?;
        let first_cell = first.get(0).unwrap_or_default().trim();
        let (versioned, headings) = if first_cell.to_ascii_lowercase().starts_with("version:") {
            if !first_cell.eq_ignore_ascii_case(VERSION) {
                return Err(file(format!("template {first_cell:?} is not supported: the first line is {VERSION}")));
            }
            (true, next()?.ok_or_else(|| file("the second line, the column headings, is missing".into()))?)
        } else {
            (false, first)
        };
        let mut columns = Vec::new();
        let mut ignored = Vec::new();
        for h in headings.iter() {
            match heading(h).filter(|(p, _)| kind.reads(p)) {
                Some((p, _)) => {
                    // A directory property outside the template, by any case of its name (`EmployeeID`).
                    let known = if is_template_property(kind, p) { None } else { writable_text_property(p) };
                    columns.push(Some(known.unwrap_or(p).to_string()));
                }
                None => {
                    if !h.trim().is_empty() && !matches!(h.trim(), "Line" | "Error") {
                        ignored.push(h.trim().to_string());
                    }
                    columns.push(None);
                }
            }
        }
        let missing: Vec<&str> = kind
            .required()
            .into_iter()
            .filter(|(p, _)| !columns.iter().flatten().any(|c| c == p))
            .map(|(_, h)| h)
            .collect();
        if !missing.is_empty() {
            return Err(file(format!(
                "the column headings lack {}: start from `idplane directory import template {}`",
                missing.join(", "),
                format!("{kind:?}").to_lowercase()
            )));
        }
        let mut rows = Vec::new();
        for record in records {
            let record = record.map_err(|e| file(format!("not a CSV file: {e}")))?;
            if record.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record));
        }
        Ok(Sheet { headings, columns, rows, ignored, versioned })
    }

    /// The cells of a row by property, trimmed, empty ones left out.
    fn cells<'a>(&'a self, record: &'a StringRecord) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.columns
            .iter()
            .zip(record.iter())
            .filter_map(|(c, v)| c.as_deref().map(|c| (c, v.trim())))
            .filter(|(_, v)| !v.is_empty())
    }

    /// A required cell, or the reason the row fails.
    fn required<'a>(&'a self, record: &'a StringRecord, kind: Kind, property: &str) -> Result<&'a str, String> {
        self.cells(record).find(|(p, _)| *p == property).map(|(_, v)| v).ok_or_else(|| {
            let h = kind.required().into_iter().find(|(p, _)| *p == property).map_or(property, |(_, h)| h);
            format!("{h} is empty")
        })
    }
}

fn is_template_property(kind: Kind, property: &str) -> bool {
    kind.template().iter().any(|(h, _)| heading(h).is_some_and(|(p, _)| p == property))
}

/// What one row asks the server to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// `POST /v1.0/<collection>` with this body.
    Create { collection: &'static str, body: Value },
    /// Add a member (an object id, or a user principal name to look up) to a group.
    AddMember { group: String, member: String },
}

/// A user of a row of Entra's bulk-create template, or why the row cannot be one.
pub fn user_row(sheet: &Sheet, record: &StringRecord) -> Result<Task, String> {
    let kind = Kind::Users;
    let name = sheet.required(record, kind, "displayName")?;
    let upn = sheet.required(record, kind, "userPrincipalName")?;
    let password = sheet.required(record, kind, "passwordProfile")?;
    let blocked = sheet.required(record, kind, "accountEnabled")?;
    let well_formed =
        upn.split('@').count() == 2 && upn.split('@').all(|p| !p.is_empty()) && !upn.chars().any(char::is_whitespace);
    if !well_formed {
        return Err(format!("User name [userPrincipalName] {upn:?} is not a user principal name (alias@domain)"));
    }
    let enabled = match blocked.to_ascii_lowercase().as_str() {
        "no" => true,
        "yes" => false,
        _ => return Err(format!("Block sign in (Yes/No) [accountEnabled] is Yes or No, not {blocked:?}")),
    };
    let mut body = Map::new();
    body.insert("displayName".into(), json!(name));
    body.insert("userPrincipalName".into(), json!(upn));
    body.insert("accountEnabled".into(), json!(enabled));
    body.insert("passwordProfile".into(), json!({"password": password, "forceChangePasswordNextSignIn": true}));
    for (property, value) in sheet.cells(record) {
        // The template's older names for Graph's properties.
        let (name, value) = match property {
            "displayName" | "userPrincipalName" | "passwordProfile" | "accountEnabled" => continue,
            "telephoneNumber" => ("businessPhones", json!([value])),
            "mobile" => ("mobilePhone", json!(value)),
            "physicalDeliveryOfficeName" => ("officeLocation", json!(value)),
            other => (other, json!(value)),
        };
        body.insert(name.to_string(), value);
    }
    Ok(Task::Create { collection: "users", body: Value::Object(body) })
}

/// A member of a row of Entra's bulk-import-members template.
pub fn member_row(sheet: &Sheet, record: &StringRecord, group: &str) -> Result<Task, String> {
    let member = sheet.required(record, Kind::Members, "memberObjectIdOrUpn")?;
    if !member.contains('@') && !is_guid(member) {
        return Err(format!(
            "Member object ID or user principal name [memberObjectIdOrUpn] {member:?} is neither an object id nor a \
             user principal name"
        ));
    }
    Ok(Task::AddMember { group: group.to_string(), member: member.to_string() })
}

/// A group of a row of idplane's bulk-create groups template.
pub fn group_row(sheet: &Sheet, record: &StringRecord) -> Result<Task, String> {
    let name = sheet.required(record, Kind::Groups, "displayName")?;
    let cell = |p: &str| sheet.cells(record).find(|(c, _)| *c == p).map(|(_, v)| v);
    let microsoft_365 = match cell("groupType").map(|t| t.to_ascii_lowercase().replace(' ', "")) {
        None => false,
        Some(t) if t == "security" => false,
        Some(t) if matches!(t.as_str(), "microsoft365" | "m365" | "unified") => true,
        Some(_) => {
            return Err(format!(
                "Group type (Security/Microsoft 365) [groupType] is Security or Microsoft 365, not {:?}",
                cell("groupType").unwrap_or_default()
            ));
        }
    };
    let mut body = new_group(name, cell("description"), microsoft_365);
    if let Some(nick) = cell("mailNickname") {
        body["mailNickname"] = json!(nick);
    }
    Ok(Task::Create { collection: "groups", body })
}

async fn execute(g: &Graph, task: Task) -> Result<()> {
    match task {
        Task::Create { collection, body } => g.post(g.url(&[collection]), &body).await.map(drop),
        Task::AddMember { group, member } => {
            let id = if member.contains('@') { text(&find_user(g, &member, "id").await?, "id") } else { member };
            g.post(g.url(&["groups", &group, "members", "$ref"]), &g.reference(&id)).await.map(drop)
        }
    }
}

/// Progress on standard error: a bar on a terminal, a line per tenth of the rows otherwise.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { total: usize, reported: usize },
}

impl Progress {
    fn new(total: usize) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            Progress::Bar(bar)
        } else {
            Progress::Lines { total, reported: 0 }
        }
    }

    fn say(&self, line: &str) {
        match self {
            Progress::Bar(bar) => bar.println(line),
            Progress::Lines { .. } => eprintln!("{line}"),
        }
    }

    fn advance(&mut self, done: usize, failed: usize, started: Instant) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(done as u64);
                if failed > 0 {
                    bar.set_message(format!("{failed} failed"));
                }
            }
            Progress::Lines { total, reported } => {
                let tenth = (*total / 10).max(1);
                if done / tenth > *reported / tenth || done == *total {
                    *reported = done;
                    eprintln!("{done}/{total} rows, {failed} failed, {:.0} rows/s", rate(done, started.elapsed()));
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(0.001)
}

/// The errors file of `file` by default: `users.csv` gives `users.errors.csv`.
fn errors_path(file: &Path) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
    let stem = if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        stem
    } else {
        file.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or(stem)
    };
    file.with_file_name(format!("{stem}.errors.csv"))
}

/// Writes the failing rows, in line order, as a template the import takes again.
fn write_errors(path: &Path, sheet: &Sheet, failures: &[(u64, StringRecord, String)]) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| ClientError::File { path: path.to_path_buf(), reason: e.to_string() };
    let mut w = csv::WriterBuilder::new().flexible(true).from_path(path).map_err(|e| fail(&e))?;
    w.write_record([VERSION]).map_err(|e| fail(&e))?;
    let width = sheet.headings.len();
    let mut headings: Vec<&str> = sheet.headings.iter().collect();
    headings.extend(["Line", "Error"]);
    w.write_record(&headings).map_err(|e| fail(&e))?;
    for (line, record, reason) in failures {
        let mut cells: Vec<String> = record.iter().take(width).map(str::to_string).collect();
        cells.resize(width, String::new());
        cells.extend([line.to_string(), reason.clone()]);
        w.write_record(&cells).map_err(|e| fail(&e))?;
    }
    w.flush().map_err(|e| fail(&e))
}

/// Sends the rows of `sheet`, `concurrency` at a time; the summary, with an exit error when not every row was done.
async fn import(
    g: &Graph,
    file: &Path,
    mut sheet: Sheet,
    kind: Kind,
    options: &ImportOptions,
    build: impl Fn(&Sheet, &StringRecord) -> Result<Task, String>,
) -> Result<Output> {
    let total = sheet.rows.len();
    let mut progress = Progress::new(total);
    if !sheet.versioned {
        progress.say(&format!("{}: no {VERSION} first line; its first line was read as the headings", file.display()));
    }
    if !sheet.ignored.is_empty() {
        progress.say(&format!("ignored columns (not read by this import): {}", sheet.ignored.join(", ")));
    }
    let started = Instant::now();
    let retried_before = g.retries();
    let mut failures: Vec<(u64, StringRecord, String)> = Vec::new();
    let (mut done, mut succeeded) = (0usize, 0usize);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut rows = std::mem::take(&mut sheet.rows).into_iter();
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let mut interrupted = false;
    loop {
        while !interrupted && in_flight.len() < usize::from(options.concurrency) {
            let Some((line, record)) = rows.next() else { break };
            match build(&sheet, &record) {
                Ok(task) => {
                    let g = g.clone();
                    in_flight.spawn(async move {
                        let outcome = execute(&g, task).await.map_err(|e| e.reason());
                        (line, record, outcome)
                    });
                }
                Err(reason) => {
                    progress.say(&format!("line {line}: {reason}"));
                    failures.push((line, record, reason));
                    done += 1;
                    progress.advance(done, failures.len(), started);
                }
            }
        }
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            // Ctrl-C first: its handler is installed when it is first polled, which is then this loop's first
            // turn, before any row is counted; and an interrupt is seen before one more answer is.
            biased;
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                progress.say(&format!("interrupted: waiting for the {} requests in flight, sending no more", in_flight.len()));
            }
            joined = in_flight.join_next() => {
                let Some(joined) = joined else { continue };
                // A task only ends by returning: it neither panics nor is aborted.
                let Ok((line, record, outcome)) = joined else { continue };
                done += 1;
                match outcome {
                    Ok(()) => succeeded += 1,
                    Err(reason) => {
                        progress.say(&format!("line {line}: {reason}"));
                        failures.push((line, record, reason));
                    }
                }
                progress.advance(done, failures.len(), started);
            }
        }
    }
    progress.finish();
    let elapsed = started.elapsed();
    let failed = failures.len();
    let not_sent: Vec<(u64, StringRecord)> = rows.collect();
    let not_sent_count = not_sent.len();
    failures.extend(not_sent.into_iter().map(|(l, r)| (l, r, "not sent: the import was interrupted".to_string())));
    failures.sort_by_key(|(l, _, _)| *l);
    let errors_file = options.errors.clone().unwrap_or_else(|| errors_path(file));
    let wrote_errors = !failures.is_empty();
    if wrote_errors {
        write_errors(&errors_file, &sheet, &failures)?;
    }
    let retried = g.retries() - retried_before;
    let json = json!({
        "file": file.display().to_string(),
        "rows": total,
        "succeeded": succeeded,
        "failed": failed,
        "notSent": not_sent_count,
        "interrupted": interrupted,
        "errorsFile": wrote_errors.then(|| errors_file.display().to_string()),
        "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "rowsPerSecond": rate(done, elapsed).round(),
        "retriedAfter429Or503": retried,
        "failures": failures.iter().take(100).map(|(l, _, r)| json!({"line": l, "reason": r})).collect::<Vec<_>>(),
    });
    let mut text = format!(
        "{}: {succeeded} {} of {total} rows, {failed} failed, in {:.1} s ({:.0} rows/s{})",
        file.display(),
        kind.done(),
        elapsed.as_secs_f64(),
        rate(done, elapsed),
        if retried > 0 { format!(", {retried} requests retried after 429/503") } else { String::new() }
    );
    if interrupted {
        text.push_str(&format!("\ninterrupted: {not_sent_count} rows not sent"));
    }
    if wrote_errors {
        text.push_str(&format!(
            "\nthe failing rows and their reasons are in {}: fix them and import that file",
            errors_file.display()
        ));
    }
    let output = Output::new(json, text);
    Ok(match (interrupted, failed) {
        (true, _) => output.incomplete(format!(
            "the import was interrupted; {} rows are in {}",
            failures.len(),
            errors_file.display()
        )),
        (false, 0) => output,
        (false, n) => output.incomplete(format!("{n} of {total} rows failed; see {}", errors_file.display())),
    })
}

fn template(kind: Kind) -> Result<String> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    let err = |e: csv::Error| ClientError::Usage(e.to_string());
    w.write_record([VERSION]).map_err(err)?;
    w.write_record(kind.template().iter().map(|(h, _)| *h)).map_err(err)?;
    w.write_record(kind.template().iter().map(|(_, e)| *e)).map_err(err)?;
    let bytes = w.into_inner().map_err(|e| ClientError::Usage(e.to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

pub async fn run(g: &Graph, command: ImportCommand) -> Result<Output> {
    match command {
        ImportCommand::Users { file, options } => {
            let sheet = Sheet::read(&file, Kind::Users)?;
            import(g, &file, sheet, Kind::Users, &options, user_row).await
        }
        ImportCommand::Members { group, file, options } => {
            let sheet = Sheet::read(&file, Kind::Members)?;
            let group = text(&find_group(g, &group).await?, "id");
            import(g, &file, sheet, Kind::Members, &options, |s, r| member_row(s, r, &group)).await
        }
        ImportCommand::Groups { file, options } => {
            let sheet = Sheet::read(&file, Kind::Groups)?;
            import(g, &file, sheet, Kind::Groups, &options, group_row).await
        }
        ImportCommand::Template { kind } => {
            let csv = template(kind)?;
            Ok(Output::new(json!({"kind": format!("{kind:?}").to_lowercase(), "csv": csv}), csv))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(kind: Kind, text: &str) -> Result<Sheet> {
        let dir = tempfile::tempdir().map_err(|e| ClientError::Usage(e.to_string()))?;
        let path = dir.path().join("in.csv");
        std::fs::write(&path, text).map_err(|e| ClientError::Usage(e.to_string()))?;
        Sheet::read(&path, kind)
    }

    const USERS: &str = "version:v1.0\nName [displayName] Required,User name [userPrincipalName] Required,Initial password [passwordProfile] Required,Block sign in (Yes/No) [accountEnabled] Required,First name [givenName],Office phone [telephoneNumber],Employee ID [employeeId],Shoe size [shoeSize],Notes\n";

    #[test]
    fn users_rows_become_graph_users_and_bad_rows_say_why() -> Result<()> {
        let s = sheet(
            Kind::Users,
            &format!(
                "{USERS}\"Green, Chris\",chris@contoso.com, Pw 1 ,No,Chris,+1 555,E1,44,x\n,,,,,,,,\nBad,not-an-upn,p,No\nBlocked,b@c.com,p,yes\nX,x@c.com,p,Maybe\nY,y@c.com,,No\n"
            ),
        )?;
        assert!(s.versioned);
        assert_eq!(s.ignored, ["Shoe size [shoeSize]", "Notes"]);
        let lines: Vec<u64> = s.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 5, 6, 7, 8], "empty rows are skipped, lines counted from the version line");
        let results: Vec<_> = s.rows.iter().map(|(_, r)| user_row(&s, r)).collect();
        let Ok(Task::Create { collection, body }) = &results[0] else { panic!("{:?}", results[0]) };
        assert_eq!(*collection, "users");
        assert_eq!(
            body,
            &json!({"displayName": "Green, Chris", "userPrincipalName": "chris@contoso.com", "accountEnabled": true,
                    "passwordProfile": {"password": "Pw 1", "forceChangePasswordNextSignIn": true},
                    "givenName": "Chris", "businessPhones": ["+1 555"], "employeeId": "E1"})
        );
        assert!(matches!(&results[1], Err(r) if r.contains("not-an-upn")), "{:?}", results[1]);
        assert!(matches!(&results[2], Ok(Task::Create { body, .. }) if body["accountEnabled"] == false));
        assert!(matches!(&results[3], Err(r) if r.contains("Yes or No")), "{:?}", results[3]);
        assert!(
            matches!(&results[4], Err(r) if r == "Initial password [passwordProfile] Required is empty"),
            "{:?}",
            results[4]
        );
        Ok(())
    }

    #[test]
    fn a_file_without_a_required_column_or_with_another_version_is_refused() {
        let missing = sheet(Kind::Users, "version:v1.0\nName [displayName] Required,First name [givenName]\nA,B\n");
        assert!(
            matches!(&missing, Err(ClientError::File { reason, .. }) if reason.contains("User name [userPrincipalName] Required") && reason.contains("template users")),
            "{missing:?}"
        );
        let v2 = sheet(
            Kind::Members,
            "version:v2.0\nMember object ID or user principal name [memberObjectIdOrUpn] Required\n",
        );
        assert!(matches!(&v2, Err(ClientError::File { reason, .. }) if reason.contains("v2.0")), "{v2:?}");
        assert!(matches!(sheet(Kind::Users, ""), Err(ClientError::File { .. })));
    }

    #[test]
    fn members_and_groups_rows() -> Result<()> {
        let s = sheet(
            Kind::Members,
            "\u{feff}Member object ID or user principal name [memberObjectIdOrUpn] Required\nann@x.com\n9c9818d2-2900-49e8-8ba4-22688be7c675\nSales\n",
        )?;
        assert!(!s.versioned, "a file starting with its headings is taken");
        let tasks: Vec<_> = s.rows.iter().map(|(_, r)| member_row(&s, r, "g1")).collect();
        assert_eq!(tasks[0], Ok(Task::AddMember { group: "g1".into(), member: "ann@x.com".into() }));
        assert!(tasks[1].is_ok());
        assert!(matches!(&tasks[2], Err(r) if r.contains("neither")));

        let s = sheet(
            Kind::Groups,
            &format!("{}\nEng,,,\nTeam,d,Microsoft 365,team\nOdd,,Distribution,\n", template(Kind::Groups)?),
        )?;
        let tasks: Vec<_> = s.rows.iter().map(|(_, r)| group_row(&s, r)).collect();
        assert_eq!(tasks.len(), 4, "the template's example row is a row");
        assert!(
            matches!(&tasks[1], Ok(Task::Create { body, .. }) if body["securityEnabled"] == true && body.get("description").is_none())
        );
        assert!(
            matches!(&tasks[2], Ok(Task::Create { body, .. }) if body["groupTypes"] == json!(["Unified"]) && body["mailNickname"] == "team")
        );
        assert!(matches!(&tasks[3], Err(r) if r.contains("Distribution")));
        Ok(())
    }

    #[test]
    fn templates_read_back_and_errors_files_import_again() -> Result<()> {
        for kind in [Kind::Users, Kind::Members, Kind::Groups] {
            let s = sheet(kind, &template(kind)?)?;
            assert_eq!((s.rows.len(), s.ignored.len()), (1, 0), "{kind:?}");
        }
        let dir = tempfile::tempdir().map_err(|e| ClientError::Usage(e.to_string()))?;
        let s = sheet(Kind::Users, &format!("{USERS}A,a@x.com,p,No\n"))?;
        let out = dir.path().join("users.errors.csv");
        write_errors(&out, &s, &[(3, s.rows[0].1.clone(), "taken, really".into())])?;
        let again = Sheet::read(&out, Kind::Users)?;
        assert_eq!(again.rows.len(), 1);
        assert_eq!(again.rows[0].1.iter().rev().take(2).collect::<Vec<_>>(), ["taken, really", "3"]);
        assert!(user_row(&again, &again.rows[0].1).is_ok(), "the Line and Error columns are ignored");
        assert_eq!(errors_path(Path::new("d/users.csv")), Path::new("d/users.errors.csv"));
        assert_eq!(errors_path(Path::new("d/users.txt")), Path::new("d/users.txt.errors.csv"));
        Ok(())
    }
}
