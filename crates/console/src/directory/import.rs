//! "Bulk create" (Entra's bulk create of users): a CSV template to download, a CSV file uploaded through a
//! multipart form, and the users it lists created through Graph (`POST /v1.0/users`) by a tokio task, one row after
//! the other, with the signed-in token. The task's progress (created, failed with the line and the API's reason,
//! total) lives in a small in-memory registry keyed by a random id, and its page shows it as a live fragment until
//! the last row. Bounded: at most [`MAX_ROWS`] rows a file, [`MAX_RUNS`] imports remembered, [`MAX_FAILURES`]
//! failures kept for display (all counted); the task ends on its own after the last row.

use std::sync::{Arc, LazyLock, Mutex};

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::objects::Kind;
use super::random_id;
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, ok, render};
use crate::session::{CSRF_FIELD, Session, same_origin};

/// The most rows one file may have.
pub const MAX_ROWS: usize = 50_000;
/// The largest file taken.
const MAX_BYTES: usize = 16 << 20;
/// The most imports remembered (the oldest finished ones are forgotten first).
const MAX_RUNS: usize = 64;
/// The most failures an import keeps to show.
const MAX_FAILURES: usize = 1000;

/// The template's first line, as Entra's.
const VERSION_LINE: &str = "version:v1.0";
/// The template's columns, as Entra's bulk create names them: a label and the Graph property in brackets.
const TEMPLATE_COLUMNS: &[&str] = &[
    "Name [displayName] Required",
    "User name [userPrincipalName] Required",
    "Initial password [passwordProfile] Required",
    "Block sign in (Yes/No) [accountEnabled] Required",
    "First name [givenName]",
    "Last name [surname]",
    "Job title [jobTitle]",
    "Department [department]",
    "Usage location [usageLocation]",
    "Street address [streetAddress]",
    "State or province [state]",
    "Country or region [country]",
    "Office [physicalDeliveryOfficeName]",
    "City or town [city]",
    "ZIP or postal code [postalCode]",
    "Office phone [telephoneNumber]",
    "Mobile phone [mobile]",
];

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/users/import", get(import_page).post(upload).layer(DefaultBodyLimit::max(MAX_BYTES + 64 * 1024)))
        .route("/users/import/template", get(template))
        .route("/users/import/{run}", get(progress_page))
}

// ---- the CSV ----

/// One record of a CSV file and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub cells: Vec<String>,
}

/// Reads CSV (RFC 4180: quoted cells may hold commas, quotes doubled, and line breaks), skipping blank lines.
pub fn parse_csv(text: &str) -> Result<Vec<Record>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let (mut cells, mut cell) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted, mut was_quoted) = (1usize, 1usize, false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                cell.push(c);
            }
            (false, '"') if cell.trim().is_empty() => {
                cell.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                cells.push(std::mem::take(&mut cell));
                was_quoted = false;
            }
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                cells.push(std::mem::take(&mut cell));
                if cells.iter().any(|c| !c.trim().is_empty()) || was_quoted {
                    records.push(Record { line: start, cells: std::mem::take(&mut cells) });
                }
                cells.clear();
                was_quoted = false;
                line += 1;
                start = line;
            }
            (false, c) => cell.push(c),
        }
    }
    if quoted {
        return Err(format!("a quoted cell that starts on line {start} is never closed: add the closing \""));
    }
    cells.push(cell);
    if cells.iter().any(|c| !c.trim().is_empty()) {
        records.push(Record { line: start, cells });
    }
    Ok(records)
}

/// What a column fills.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    /// A string property of the user.
    Property(String),
    Password,
    /// `accountEnabled`; `blocked` when the column is Entra's "Block sign in (Yes/No)".
    Enabled {
        blocked: bool,
    },
    /// A phone number that goes into `businessPhones`.
    BusinessPhone,
}

/// The column a header cell names: the property in brackets (`Name [displayName] Required`) or the cell itself.
fn column(header: &str) -> Result<Column, String> {
    let name = match (header.find('['), header.find(']')) {
        (Some(a), Some(b)) if a < b => header[a + 1..b].trim(),
        _ => header.trim(),
    };
    let known = |n: &str| {
        super::objects::USER_FIELDS.iter().any(|f| f.name.eq_ignore_ascii_case(n) && f.name != "password")
            || ["streetAddress", "state", "country", "city", "postalCode", "userType", "employeeType"]
                .iter()
                .any(|p| p.eq_ignore_ascii_case(n))
    };
    Ok(match name {
        n if n.eq_ignore_ascii_case("passwordProfile") || n.eq_ignore_ascii_case("password") => Column::Password,
        n if n.eq_ignore_ascii_case("accountEnabled") => {
            Column::Enabled { blocked: header.to_ascii_lowercase().contains("block sign in") }
        }
        n if n.eq_ignore_ascii_case("physicalDeliveryOfficeName") => Column::Property("officeLocation".into()),
        n if n.eq_ignore_ascii_case("mobile") => Column::Property("mobilePhone".into()),
        n if n.eq_ignore_ascii_case("telephoneNumber") => Column::BusinessPhone,
        n if known(n) => {
            let canonical = super::objects::USER_FIELDS
                .iter()
                .map(|f| f.name)
                .chain(["streetAddress", "state", "country", "city", "postalCode", "userType", "employeeType"])
                .find(|p| p.eq_ignore_ascii_case(n))
                .unwrap_or(n);
            Column::Property(canonical.to_string())
        }
        n => {
            return Err(format!(
                "the column \"{header}\" names no user property idplane knows ({n}); use the template's columns"
            ));
        }
    })
}

/// A file's rows, checked: its columns, and each row with its line. The first line may be Entra's `version:v1.0`.
#[derive(Debug)]
pub struct Rows {
    columns: Vec<Column>,
    rows: Vec<Record>,
}

pub fn read_rows(text: &str) -> Result<Rows, String> {
    let mut records = parse_csv(text)?.into_iter().peekable();
    if records
        .peek()
        .is_some_and(|r| r.cells.first().is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("version:")))
    {
        records.next();
    }
    let Some(header) = records.next() else {
        return Err("the file is empty: download the template, fill in one row per user and upload it".into());
    };
    if header.cells.len() == 1 && header.cells[0].contains(';') {
        return Err(format!(
            "the header (line {}) is separated by semicolons: save the file as CSV with commas (\"CSV UTF-8\")",
            header.line
        ));
    }
    let columns = header.cells.iter().map(|h| column(h)).collect::<Result<Vec<_>, _>>()?;
    for required in ["displayName", "userPrincipalName"] {
        if !columns.contains(&Column::Property(required.into())) {
            return Err(format!(
                "the header (line {}) has no {required} column: keep the template's header line",
                header.line
            ));
        }
    }
    let rows: Vec<Record> = records.collect();
    if rows.is_empty() {
        return Err("the file has a header but no user: add one row per user under the header".into());
    }
    if rows.len() > MAX_ROWS {
        return Err(format!("the file has {} users; at most {MAX_ROWS} a file: split it", rows.len()));
    }
    Ok(Rows { columns, rows })
}

/// The Graph body of one row, or what to fix in it.
fn body_of(columns: &[Column], record: &Record) -> Result<Value, String> {
    if record.cells.len() > columns.len() {
        return Err(format!(
            "it has {} cells but the header {}: quote cells that hold commas",
            record.cells.len(),
            columns.len()
        ));
    }
    let mut body = Map::new();
    for (column, cell) in columns.iter().zip(&record.cells) {
        let value = cell.trim();
        if value.is_empty() {
            continue;
        }
        match column {
            Column::Property(name) => {
                body.insert(name.clone(), json!(value));
            }
            Column::Password => {
                body.insert(
                    "passwordProfile".into(),
                    json!({"password": value, "forceChangePasswordNextSignIn": true}),
                );
            }
            Column::Enabled { blocked } => {
                let yes = match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "y" | "1" => true,
                    "no" | "false" | "n" | "0" => false,
                    _ => {
                        return Err(format!(
                            "\"{value}\" is not Yes or No (in the column {})",
                            if *blocked { "Block sign in" } else { "accountEnabled" }
                        ));
                    }
                };
                body.insert("accountEnabled".into(), json!(if *blocked { !yes } else { yes }));
            }
            Column::BusinessPhone => {
                body.insert("businessPhones".into(), json!([value]));
            }
        }
    }
    Ok(Value::Object(body))
}

// ---- the runs ----

/// One row that could not be created.
#[derive(Debug, Clone)]
pub struct Failure {
    pub line: usize,
    pub reason: String,
}

/// An import's progress.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The token that started it: only it may watch.
    owner: String,
    pub file: String,
    pub total: usize,
    pub created: usize,
    pub failed: usize,
    pub failures: Vec<Failure>,
    pub done: bool,
}

impl Progress {
    fn fail(&mut self, line: usize, reason: String) {
        self.failed += 1;
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(Failure { line, reason });
        }
    }
}

type Runs = Mutex<Vec<(String, Arc<Mutex<Progress>>)>>;

/// The imports this process remembers, oldest first.
static RUNS: LazyLock<Runs> = LazyLock::new(|| Mutex::new(Vec::new()));

fn snapshot(progress: &Arc<Mutex<Progress>>) -> Progress {
    progress.lock().map(|p| p.clone()).unwrap_or_default()
}

/// Remembers a new import; `None` when [`MAX_RUNS`] are still running.
fn register(progress: Progress) -> Option<(String, Arc<Mutex<Progress>>)> {
    let mut runs = RUNS.lock().ok()?;
    while runs.len() >= MAX_RUNS {
        let finished = runs.iter().position(|(_, p)| p.lock().map(|p| p.done).unwrap_or(true))?;
        runs.remove(finished);
    }
    let id = random_id();
    let shared = Arc::new(Mutex::new(progress));
    runs.push((id.clone(), shared.clone()));
    Some((id, shared))
}

fn find(run: &str, owner: &str) -> Option<Arc<Mutex<Progress>>> {
    let runs = RUNS.lock().ok()?;
    runs.iter().find(|(id, p)| id == run && p.lock().is_ok_and(|p| p.owner == owner)).map(|(_, p)| p.clone())
}

/// Creates the rows' users one after the other, as the session's token; stops early if the token can no longer.
async fn run(console: Console, session: Session, rows: Rows, progress: Arc<Mutex<Progress>>) {
    let api = session.api(&console);
    let mut refused: Option<String> = None;
    for record in &rows.rows {
        let outcome = match (&refused, body_of(&rows.columns, record)) {
            (Some(why), _) => Err(why.clone()),
            (None, Err(why)) => Err(why),
            (None, Ok(body)) => match api.post(&format!("/v1.0/{}", Kind::User.collection()), &body).await {
                Ok(_) => Ok(()),
                Err(f) => {
                    if f.status == 401 || f.status == 403 {
                        refused = Some(format!("not created: the token could no longer create users ({})", f.message));
                    }
                    Err(f.message)
                }
            },
        };
        let Ok(mut p) = progress.lock() else { return };
        match outcome {
            Ok(()) => p.created += 1,
            Err(why) => p.fail(record.line, why),
        }
    }
    if let Ok(mut p) = progress.lock() {
        p.done = true;
    }
}

// ---- the pages ----

/// What the progress fragment shows.
pub struct ProgressView {
    run: String,
    p: Progress,
}

impl ProgressView {
    fn processed(&self) -> usize {
        self.p.created + self.p.failed
    }

    fn more_failures(&self) -> usize {
        self.p.failed - self.p.failures.len()
    }
}

#[derive(Template)]
#[template(path = "directory/import.html")]
struct ImportPage {
    chrome: Chrome,
    kind: Kind,
    tab: &'static str,
    max_rows: usize,
    error: Option<String>,
    progress: Option<ProgressView>,
}

#[derive(Template)]
#[template(path = "directory/import_progress.html")]
struct ProgressFragment {
    progress: ProgressView,
}

fn page(session: &Session, error: Option<String>, progress: Option<ProgressView>) -> ImportPage {
    ImportPage {
        chrome: session.chrome("Bulk create users", "users"),
        kind: Kind::User,
        tab: "import",
        max_rows: MAX_ROWS,
        error,
        progress,
    }
}

async fn import_page(session: Session) -> Result<Response, PageError> {
    ok(&page(&session, None, None))
}

async fn template(_session: Session) -> Response {
    let body = format!("{VERSION_LINE}\r\n{}\r\n", TEMPLATE_COLUMNS.join(","));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"UserCreateTemplate.csv\""),
    );
    response
}

async fn upload(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let (mut csrf, mut file, mut name) = (String::new(), None, String::new());
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                let why = format!("The upload could not be read ({e}). A file has at most {} MiB.", MAX_BYTES >> 20);
                return render(StatusCode::BAD_REQUEST, &page(&session, Some(why), None));
            }
        };
        match field.name() {
            Some(CSRF_FIELD) => csrf = field.text().await.unwrap_or_default(),
            Some("file") => {
                name = field.file_name().unwrap_or_default().to_string();
                file = field.bytes().await.ok();
            }
            _ => {}
        }
    }
    if !session.csrf_matches(&csrf) {
        return Err(PageError::csrf());
    }
    let refuse = |why: String| render(StatusCode::BAD_REQUEST, &page(&session, Some(why), None));
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return refuse("Choose a CSV file to upload (the template, filled in).".into());
    };
    let Ok(text) = String::from_utf8(bytes.to_vec()) else {
        return refuse("The file is not UTF-8 text: save it as \"CSV UTF-8\" and upload it again.".into());
    };
    let rows = match read_rows(&text) {
        Ok(rows) => rows,
        Err(why) => return refuse(format!("The file cannot be imported: {why}.")),
    };
    let progress =
        Progress { owner: session.token.id.clone(), file: name, total: rows.rows.len(), ..Progress::default() };
    let Some((id, shared)) = register(progress) else {
        return Err(PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many imports",
            format!("{MAX_RUNS} imports are running; wait for one to finish and upload again."),
        ));
    };
    tokio::spawn(run(console.clone(), session.clone(), rows, shared));
    Ok(Redirect::to(&format!("/console/users/import/{id}")).into_response())
}

async fn progress_page(session: Session, headers: HeaderMap, Path(run): Path<String>) -> Result<Response, PageError> {
    let Some(progress) = find(&run, &session.token.id) else {
        return Err(PageError::not_found(
            "No such import: the server restarted since, or it is an old one. Upload the file again from Bulk create.",
        ));
    };
    let view = ProgressView { run, p: snapshot(&progress) };
    if headers.contains_key("x-console-fragment") {
        return ok(&ProgressFragment { progress: view });
    }
    ok(&page(&session, None, Some(view)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_may_be_quoted_with_commas_quotes_and_line_breaks() -> Result<(), String> {
        let text = "\u{feff}a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\r\n\"multi\nline\",z\nlast,";
        let records = parse_csv(text)?;
        assert_eq!(records.len(), 4);
        assert_eq!(records[1], Record { line: 2, cells: vec!["x, y".into(), "say \"hi\"".into()] });
        assert_eq!(records[2], Record { line: 4, cells: vec!["multi\nline".into(), "z".into()] });
        assert_eq!(records[3], Record { line: 6, cells: vec!["last".into(), String::new()] });
        assert!(parse_csv("a,\"b\n").is_err());
        Ok(())
    }

    #[test]
    fn entras_template_is_read_and_a_row_becomes_a_graph_body() -> Result<(), String> {
        let text = format!(
            "{VERSION_LINE}\n{}\nAda,ada@contoso.com,S3cret!,No,Ada,Lovelace,,,,,,,Room 1,,,555-1,\n",
            TEMPLATE_COLUMNS.join(",")
        );
        let rows = read_rows(&text)?;
        assert_eq!(rows.rows.len(), 1);
        assert_eq!(rows.rows[0].line, 3);
        let body = body_of(&rows.columns, &rows.rows[0])?;
        assert_eq!(body["displayName"], "Ada");
        assert_eq!(body["accountEnabled"], true, "Block sign in: No");
        assert_eq!(body["passwordProfile"]["password"], "S3cret!");
        assert_eq!(body["officeLocation"], "Room 1");
        assert_eq!(body["businessPhones"], json!(["555-1"]));
        assert!(body.get("jobTitle").is_none());
        Ok(())
    }

    #[test]
    fn a_file_that_cannot_be_imported_says_what_to_fix() {
        let why = |t: &str| read_rows(t).err().unwrap_or_default();
        assert!(why("").contains("empty"));
        assert!(why("displayName,userPrincipalName\n").contains("no user"));
        assert!(why("displayName,shoeSize\nA,1\n").contains("shoeSize"));
        assert!(why("displayName\nA\n").contains("userPrincipalName"));
        assert!(why("displayName;userPrincipalName\nA;a@x.com\n").contains("semicolons"));
        let rows = read_rows("displayName,userPrincipalName,accountEnabled\nA,a@x.com,maybe\n").ok();
        let bad = rows.map(|r| body_of(&r.columns, &r.rows[0]));
        assert!(matches!(bad, Some(Err(why)) if why.contains("Yes or No")));
    }
}
