//! The provisioning service's command line against the real server: the seed flow (directory, the Databricks app
//! from its template, credentials pointing at the server's own account SCIM URL, Test Connection, mappings,
//! scoping, settings, assignments), CSV imports with bad rows, 429 and 503 answers and Ctrl-C, the tenant commands,
//! and HTTPS with `--ca-bundle`. Where a test needs the server to answer at a given point of a run (a refusal to
//! retry, a request held while the test interrupts), a [`Gate`] in front of the real server does it, so that nothing
//! depends on how fast the machine is.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use idplane_testkit::binary::Served;
use serde_json::{Value, json};

use super::{BIN, Server, admin, certificate};

/// What a CLI run left: its exit status, standard output and standard error.
pub(super) struct Run {
    pub(super) ok: bool,
    pub(super) out: String,
    pub(super) err: String,
}

impl Run {
    /// Standard output as JSON (the run had `--json`).
    pub(super) fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.out).with_context(|| format!("not JSON: {}\nstderr: {}", self.out, self.err))
    }
}

/// `idplane ARGS... --url ORIGIN --token TOKEN`, with `stdin` piped in when given and `env` set.
pub(super) fn cli_with(
    origin: &str,
    token: &str,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Result<Run> {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .args(["--url", origin, "--token", token])
        .env_remove("IDPLANE_URL")
        .env_remove("IDPLANE_TOKEN")
        .env_remove("IDPLANE_SECRET_TOKEN")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    Ok(Run {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// A CLI run that must succeed.
pub(super) fn ok(server: &Served, token: &str, args: &[&str]) -> Result<Run> {
    let run = cli_with(&server.origin, token, args, None, &[])?;
    if !run.ok {
        bail!("idplane {args:?} failed: {}{}", run.out, run.err);
    }
    Ok(run)
}

/// A CLI run that must fail.
pub(super) fn fails(server: &Served, token: &str, args: &[&str]) -> Result<Run> {
    let run = cli_with(&server.origin, token, args, None, &[])?;
    if run.ok {
        bail!("idplane {args:?} succeeded: {}", run.out);
    }
    Ok(run)
}

pub(super) const TOKEN: &str = "dapi-cli-provisioning-token";

#[tokio::test]
async fn the_seed_flow_from_the_command_line() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start(&data, Some(TOKEN))?;
    let s = &server;

    // The directory: two users, a nested group.
    let ann = ok(
        s,
        TOKEN,
        &[
            "directory",
            "user",
            "create",
            "--upn",
            "ann@contoso.com",
            "--display-name",
            "Ann Lee",
            "--given-name",
            "Ann",
            "--surname",
            "Lee",
            "--department",
            "Sales",
            "--json",
        ],
    )?
    .json()?;
    let ann_id = ann["id"].as_str().context("ann's id")?.to_string();
    ok(s, TOKEN, &["directory", "user", "create", "--upn", "bob@contoso.com", "--display-name", "Bob", "--disabled"])?;
    let again = fails(s, TOKEN, &["directory", "user", "create", "--upn", "bob@contoso.com", "--display-name", "B"])?;
    assert!(again.err.contains("already exists") && again.err.contains("Request_BadRequest"), "{}", again.err);
    ok(s, TOKEN, &["directory", "user", "update", "bob@contoso.com", "--set", "jobTitle=Engineer"])?;
    ok(s, TOKEN, &["directory", "user", "set-manager", "bob@contoso.com", "ann@contoso.com"])?;
    let bob = ok(s, TOKEN, &["directory", "user", "show", "bob@contoso.com", "--json"])?.json()?;
    assert_eq!((bob["jobTitle"].clone(), bob["accountEnabled"].clone()), (json!("Engineer"), json!(false)), "{bob}");
    let manager = ok(s, TOKEN, &["directory", "user", "show", "bob@contoso.com"])?.out;
    assert!(manager.contains("userPrincipalName:") && manager.contains("bob@contoso.com"), "{manager}");
    ok(s, TOKEN, &["directory", "group", "create", "--name", "Engineers"])?;
    ok(s, TOKEN, &["directory", "group", "create", "--name", "All staff", "--description", "everyone"])?;
    ok(s, TOKEN, &["directory", "group", "add-member", "Engineers", "bob@contoso.com"])?;
    ok(s, TOKEN, &["directory", "group", "add-member", "All staff", "Engineers"])?;
    ok(s, TOKEN, &["directory", "group", "add-member", "All staff", &ann_id])?;
    let cycle = fails(s, TOKEN, &["directory", "group", "add-member", "Engineers", "All staff"])?;
    assert!(cycle.err.contains("cycle"), "{}", cycle.err);
    let members = ok(s, TOKEN, &["directory", "group", "members", "All staff"])?.out;
    assert!(
        members.contains("group") && members.contains("Engineers") && members.contains("ann@contoso.com"),
        "{members}"
    );
    let listed =
        ok(s, TOKEN, &["directory", "user", "list", "--filter", "startsWith(userPrincipalName,'b')", "--json"])?;
    assert_eq!(listed.json()?["value"].as_array().map(Vec::len), Some(1));
    let missing = fails(s, TOKEN, &["directory", "user", "show", "nobody@contoso.com"])?;
    assert!(missing.err.contains("no user 'nobody@contoso.com'"), "{}", missing.err);

    // The Databricks application, from its template, with its provisioning job.
    let made =
        ok(s, TOKEN, &["app", "create", "--template", "databricks", "--name", "Azure Databricks", "--json"])?.json()?;
    let sp = made["servicePrincipal"]["id"].as_str().context("service principal")?.to_string();
    assert_eq!(made["job"]["templateId"], "dataBricks", "{made}");
    assert!(ok(s, TOKEN, &["app", "list"])?.out.contains("Azure Databricks"));

    // Credentials: the server's own account SCIM URL and an account SCIM token, given on standard input.
    let account_url = s.value("account SCIM URL:").context("account SCIM URL")?;
    let account = account_url.split("/accounts/").nth(1).and_then(|r| r.split('/').next()).context("account")?;
    let scim = admin(&data, &["token", "rotate-scim", "--account", account])?;
    let scim_token = scim["token_value"].as_str().context("scim token")?.to_string();
    let args = ["app", "provisioning", "credentials", "Azure Databricks", "--tenant-url", &account_url];
    let saved = cli_with(&s.origin, TOKEN, &args, Some(&format!("{scim_token}\n")), &[])?;
    assert!(saved.ok, "{}", saved.err);
    let tested = ok(s, TOKEN, &["app", "provisioning", "test", "Azure Databricks"])?;
    assert!(tested.out.contains("Test Connection succeeded"), "{}", tested.out);
    let wrong = cli_with(&s.origin, TOKEN, &args, None, &[("IDPLANE_SECRET_TOKEN", "dapi-wrong")])?;
    assert!(wrong.ok, "{}", wrong.err);
    let failed = cli_with(&s.origin, TOKEN, &["app", "provisioning", "test", &sp, "--json"], None, &[])?;
    assert!(!failed.ok, "a failed Test Connection exits non-zero");
    let result = failed.json()?;
    assert_eq!(result["code"], "SystemForCrossDomainIdentityManagementCredentialValidationFailure", "{result}");
    assert!(result["message"].as_str().is_some_and(|m| m.contains("401")), "{result}");
    let shown = ok(s, TOKEN, &["app", "provisioning", "show", &sp])?.out;
    assert!(shown.contains("SecretToken = *") && shown.contains(&account_url), "{shown}");
    for secret in [&scim_token, "dapi-wrong", TOKEN] {
        assert!(!shown.contains(secret) && !failed.err.contains(secret), "a token is never printed");
    }

    // Mappings: shown one per line, an expression set and shown back, a refusal with the server's message.
    let users = ok(s, TOKEN, &["app", "mappings", "show", &sp, "--object", "User"])?.out;
    assert!(users.contains("userName            <- [userPrincipalName]          matching 1"), "{users}");
    assert!(users.contains("target object actions: Create, Update, Delete") && !users.contains("members"), "{users}");
    let set = ok(
        s,
        TOKEN,
        &[
            "app",
            "mappings",
            "set",
            &sp,
            "--object",
            "User",
            "displayName <- Join(\" \", [givenName], [surname])",
            "--only-on-create",
        ],
    )?;
    let line = "displayName         <- Join(\" \", [givenName], [surname])   only on create";
    assert!(set.out.contains(line), "{}", set.out);
    assert!(ok(s, TOKEN, &["app", "mappings", "show", &sp])?.out.contains(line));
    let refused = fails(s, TOKEN, &["app", "mappings", "set", &sp, "--object", "User", "nickName <- [nope]"])?;
    assert!(refused.err.contains("the source object has no attribute 'nope'"), "{}", refused.err);
    assert!(refused.err.contains("Request_BadRequest"), "{}", refused.err);
    let schema = ok(s, TOKEN, &["app", "mappings", "export", &sp])?.json()?;
    assert!(!schema.to_string().contains("nope"), "a refused change is not saved");
    ok(s, TOKEN, &["app", "mappings", "disable", &sp, "--object", "Group"])?;
    assert!(ok(s, TOKEN, &["app", "mappings", "show", &sp, "--object", "group"])?.out.contains("(disabled)"));

    // A scoping clause, in Entra's words.
    let scoped = ok(s, TOKEN, &["app", "scoping", "add", &sp, "--object", "User", "department EQUALS Sales"])?.out;
    assert!(scoped.contains("Scoping filter 1: department EQUALS \"Sales\""), "{scoped}");
    let bad = fails(s, TOKEN, &["app", "scoping", "add", &sp, "--object", "User", "department LIKE Sales"])?;
    assert!(bad.err.contains("NOT EQUALS"), "the operators are listed: {}", bad.err);

    // Settings merged with what is saved.
    ok(
        s,
        TOKEN,
        &["app", "provisioning", "settings", &sp, "--notification-email", "ops@contoso.com", "--scope", "all"],
    )?;
    let settings = ok(
        s,
        TOKEN,
        &["app", "provisioning", "settings", &sp, "--prevent-deletion", "on", "--deletion-threshold", "50", "--json"],
    )?
    .json()?;
    let value = |key: &str| {
        settings["value"].as_array().into_iter().flatten().find(|p| p["key"] == key).map(|p| p["value"].clone())
    };
    assert_eq!(value("SyncAll"), Some(json!("true")), "{settings}");
    let notification: Value = serde_json::from_str(
        value("SyncNotificationSettings").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default().as_str(),
    )?;
    assert_eq!(
        (
            notification["Recipients"].clone(),
            notification["DeleteThresholdEnabled"].clone(),
            notification["DeleteThresholdValue"].clone()
        ),
        (json!("ops@contoso.com"), json!(true), json!(50))
    );

    // Assignments and properties.
    ok(s, TOKEN, &["app", "assign", &sp, "--user", "ann@contoso.com"])?;
    ok(s, TOKEN, &["app", "assign", &sp, "--group", "All staff"])?;
    assert_eq!(
        ok(s, TOKEN, &["app", "assignments", &sp, "--json"])?.json()?["value"].as_array().map(Vec::len),
        Some(2)
    );
    ok(s, TOKEN, &["app", "unassign", &sp, "--group", "All staff"])?;
    let left = ok(s, TOKEN, &["app", "assignments", &sp])?.out;
    assert!(left.contains("Ann Lee") && !left.contains("All staff"), "{left}");
    let props = ok(s, TOKEN, &["app", "properties", &sp, "--assignment-required", "no", "--json"])?.json()?;
    assert_eq!(props["appRoleAssignmentRequired"], false);
    ok(s, TOKEN, &["app", "delete", "Azure Databricks"])?;
    assert!(fails(s, TOKEN, &["app", "show", &sp])?.err.contains("no application"));
    Ok(())
}

/// A proxy in front of the real server that answers some requests itself, by their order of arrival (from 1): those
/// in `refuse` get 429 or 503 with `Retry-After: 1`, and those after the first `open` are held until
/// [`Gate::release`]. A client behind it meets answers it must retry, or gets exactly so far and no further, at
/// known points of a run instead of wherever the machine's speed puts them.
struct Gate {
    origin: String,
    state: std::sync::Arc<GateState>,
}

struct GateState {
    upstream: String,
    refuse: std::ops::Range<usize>,
    open: usize,
    arrived: std::sync::atomic::AtomicUsize,
    released: tokio::sync::watch::Sender<bool>,
    http: reqwest::Client,
}

impl Gate {
    async fn start(upstream: &str, refuse: std::ops::Range<usize>, open: usize) -> Result<Gate> {
        let state = std::sync::Arc::new(GateState {
            upstream: upstream.to_string(),
            refuse,
            open,
            arrived: Default::default(),
            released: tokio::sync::watch::Sender::new(false),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new().fallback(pass).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Gate { origin, state })
    }

    /// How many requests reached the gate, refused and held ones included.
    fn arrived(&self) -> usize {
        self.state.arrived.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets the held requests, and every later one, through.
    fn release(&self) {
        self.state.released.send_replace(true);
    }
}

async fn pass(
    axum::extract::State(gate): axum::extract::State<std::sync::Arc<GateState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse as _;
    let n = gate.arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    if gate.refuse.contains(&n) {
        let (status, code) = if n % 2 == 0 {
            (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
        };
        let body = json!({"error": {"code": code, "message": "the gate refuses this one"}}).to_string();
        return (status, [(header::RETRY_AFTER, "1"), (header::CONTENT_TYPE, "application/json")], body)
            .into_response();
    }
    if n > gate.open {
        // Held until released; the sender lives as long as the gate's state, which this handler holds.
        let _ = gate.released.subscribe().wait_for(|released| *released).await;
    }
    let (parts, body) = request.into_parts();
    let forwarded = async {
        let body = axum::body::to_bytes(body, usize::MAX).await?;
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut upstream = gate.http.request(parts.method, format!("{}{path}", gate.upstream)).body(body);
        for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
            if let Some(value) = parts.headers.get(&name) {
                upstream = upstream.header(name, value);
            }
        }
        let answer = upstream.send().await?;
        let status = answer.status();
        let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
        let mut response = (status, answer.bytes().await?).into_response();
        if let Some(ct) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        anyhow::Ok(response)
    };
    forwarded.await.unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, format!("{e:#}")).into_response())
}

/// Entra's bulk-create file of `n` users, with a malformed user name on row `bad` and a taken one on row `taken`.
fn users_csv(path: &Path, n: usize, bad: usize, taken: usize) -> Result<()> {
    let mut text = String::from(
        "version:v1.0\nName [displayName] Required,User name [userPrincipalName] Required,Initial password \
         [passwordProfile] Required,Block sign in (Yes/No) [accountEnabled] Required,First name [givenName],Last \
         name [surname],Department [department]\n",
    );
    for i in 0..n {
        let row = match i {
            _ if i == bad => "Bad Row,not-a-user-name,Pw-1,No,,,".to_string(),
            _ if i == taken => "Taken,user0@contoso.com,Pw-1,No,,,".to_string(),
            _ => {
                format!("User {i},user{i}@contoso.com,Pw-{i},{},U{i},Last,Eng", if i % 10 == 0 { "Yes" } else { "No" })
            }
        };
        text.push_str(&row);
        text.push('\n');
    }
    Ok(std::fs::write(path, text)?)
}

// The gate runs on this runtime while the test waits on the CLI: a worker thread serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_reports_bad_rows_by_line_writes_them_out_and_retries_429_and_503() -> Result<()> {
    const REFUSED: usize = 10;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start(&data, Some(TOKEN))?;
    let s = &server;
    // Ten requests in a row, from the twentieth, answered 429 or 503 with Retry-After: 1.
    let gate = Gate::start(&server.origin, 20..20 + REFUSED, usize::MAX).await?;
    let file = tmp.path().join("users.csv");
    users_csv(&file, 300, 123, 251)?;
    let file_arg = file.to_string_lossy().to_string();
    let run = cli_with(&gate.origin, TOKEN, &["directory", "import", "users", &file_arg, "--json"], None, &[])?;
    assert!(!run.ok, "an import with failed rows exits non-zero: {}", run.out);
    let summary = run.json()?;
    assert_eq!(
        (summary["rows"].clone(), summary["succeeded"].clone(), summary["failed"].clone()),
        (json!(300), json!(298), json!(2)),
        "the refused requests were retried, not failed: {summary}"
    );
    let retried = summary["retriedAfter429Or503"].as_u64().context("retried")?;
    // A retry that lands in the refused run again is refused again: at least REFUSED, and every one counted.
    assert!(retried >= REFUSED as u64, "{summary}");
    assert_eq!(gate.arrived() as u64, 299 + retried, "one request per row but the bad one, and one per retry");
    assert!(summary["seconds"].as_f64().is_some_and(|t| t >= 1.0), "the retries waited Retry-After: {summary}");
    assert_eq!(summary["failures"][0]["line"], 126, "lines count from the version line: {summary}");
    assert!(summary["failures"][1]["reason"].as_str().is_some_and(|r| r.contains("already exists")), "{summary}");
    assert!(run.err.contains("line 126: User name [userPrincipalName] \"not-a-user-name\""), "{}", run.err);
    assert!(run.err.contains("2 of 300 rows failed"), "{}", run.err);
    let errors_file = tmp.path().join("users.errors.csv");
    assert_eq!(summary["errorsFile"], errors_file.to_string_lossy().as_ref());
    let errors = std::fs::read_to_string(&errors_file)?;
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), 4, "the version line, the headings, the two failing rows: {errors}");
    assert!(
        lines[1].ends_with(",Line,Error")
            && lines[2].starts_with("Bad Row,not-a-user-name,")
            && lines[2].contains(",126,"),
        "{errors}"
    );

    let listed =
        ok(s, TOKEN, &["directory", "user", "list", "--filter", "accountEnabled eq false", "--json"])?.json()?;
    assert_eq!(listed["value"].as_array().map(Vec::len), Some(30), "Block sign in Yes: accountEnabled false");
    let all = ok(s, TOKEN, &["directory", "user", "list", "--top", "250"])?.out;
    assert_eq!(all.lines().count(), 250, "--top bounds a listing that spans pages");

    // The errors file, fixed, imports again.
    std::fs::write(
        &errors_file,
        errors.replace("not-a-user-name", "fixed@contoso.com").replace("user0@contoso.com", "user0b@contoso.com"),
    )?;
    let again = ok(s, TOKEN, &["directory", "import", "users", &errors_file.to_string_lossy()])?;
    assert!(again.out.contains("2 users created of 2 rows, 0 failed"), "{}", again.out);

    // Members by user principal name or id, and groups from idplane's template.
    ok(s, TOKEN, &["directory", "group", "create", "--name", "Eng"])?;
    let members = tmp.path().join("members.csv");
    std::fs::write(
        &members,
        "version:v1.0\nMember object ID or user principal name [memberObjectIdOrUpn] Required\nuser1@contoso.com\nuser2@contoso.com\nnobody@contoso.com\n",
    )?;
    let run = fails(s, TOKEN, &["directory", "import", "members", "Eng", &members.to_string_lossy()])?;
    assert!(
        run.out.contains("2 members added of 3 rows, 1 failed")
            && run.err.contains("line 5: no user 'nobody@contoso.com'"),
        "{}{}",
        run.out,
        run.err
    );
    let groups = tmp.path().join("groups.csv");
    let template = ok(s, TOKEN, &["directory", "import", "template", "groups"])?.out;
    std::fs::write(&groups, format!("{template}\nTeam,,Microsoft 365,team\n"))?;
    let run = ok(s, TOKEN, &["directory", "import", "groups", &groups.to_string_lossy()])?;
    assert!(run.out.contains("2 groups created of 2 rows"), "{}", run.out);
    let team = ok(s, TOKEN, &["directory", "group", "show", "Team", "--json"])?.json()?;
    assert_eq!(team["groupTypes"], json!(["Unified"]));
    Ok(())
}

#[tokio::test]
async fn a_second_tenant_and_its_token_see_only_its_own_directory() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start_with(&data, Some(TOKEN), &["--auth-cache-seconds", "0"].map(std::ffi::OsStr::new))?;
    let s = &server;
    ok(s, TOKEN, &["directory", "user", "create", "--upn", "ann@contoso.com", "--display-name", "Ann"])?;

    let created = admin(&data, &["tenant", "create", "--name", "Fabrikam", "--domain", "fabrikam.example"])?;
    let tenant = created["tenant"]["tenant_id"].as_str().context("tenant id")?.to_string();
    let token = created["token_value"].as_str().context("a tenant without an account gets a token")?.to_string();
    assert_eq!(created["tenant"]["default_domain"], "fabrikam.example");
    let listed = admin(&data, &["tenant", "list"])?;
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "the default tenant and Fabrikam: {listed}");
    let default_account = listed
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|t| t["account_id"].as_str())
        .context("the default tenant's account")?;
    let linked = Command::new(BIN)
        .args(["tenant", "create", "--name", "x", "--account", default_account, "--data-dir"])
        .arg(&data)
        .output()?;
    assert!(!linked.status.success() && String::from_utf8_lossy(&linked.stderr).contains("has a tenant already"));

    assert_eq!(ok(s, &token, &["directory", "user", "list"])?.out, "", "Fabrikam's directory is empty");
    ok(s, &token, &["directory", "user", "create", "--upn", "ann@contoso.com", "--display-name", "Fabrikam's Ann"])?;
    let theirs = ok(s, &token, &["directory", "user", "list"])?.out;
    let ours = ok(s, TOKEN, &["directory", "user", "list"])?.out;
    assert!(theirs.contains("Fabrikam's Ann") && !ours.contains("Fabrikam's Ann"), "{theirs}\n{ours}");

    let second = admin(&data, &["tenant", "token", "create", "--tenant", &tenant, "--comment", "ci"])?;
    let second_id = second["token_info"]["token_id"].as_str().context("token id")?.to_string();
    let tokens = admin(&data, &["tenant", "token", "list", "--tenant", &tenant])?;
    assert_eq!(tokens.as_array().map(Vec::len), Some(2));
    assert!(!tokens.to_string().contains(&token), "values are never listed");
    admin(&data, &["tenant", "token", "revoke", &second_id])?;
    let second_token = second["token_value"].as_str().context("token value")?;
    let revoked = fails(s, second_token, &["directory", "user", "list"])?;
    assert!(
        revoked.err.contains("InvalidAuthenticationToken") && !revoked.err.contains(second_token),
        "{}",
        revoked.err
    );
    assert!(
        ok(s, &token, &["directory", "user", "list"])?.out.contains("Fabrikam's Ann"),
        "the first token still works"
    );
    Ok(())
}

#[tokio::test]
async fn https_with_a_ca_bundle() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (cert, key) = certificate("idp.test")?;
    let (cert_path, key_path) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert_path, &cert)?;
    std::fs::write(&key_path, &key)?;
    let tls = [std::ffi::OsStr::new("--tls-cert"), cert_path.as_os_str(), "--tls-key".as_ref(), key_path.as_os_str()];
    let server = Server::start_with(&tmp.path().join("data"), Some(TOKEN), &tls)?;
    assert!(server.origin.starts_with("https://"), "{}", server.origin);
    let untrusted = fails(&server, TOKEN, &["app", "templates"])?;
    assert!(untrusted.err.contains("could not reach"), "{}", untrusted.err);
    let trusted = ok(&server, TOKEN, &["app", "templates", "--ca-bundle", &cert_path.to_string_lossy()])?;
    assert!(trusted.out.contains("Azure Databricks SCIM Provisioning Connector"), "{}", trusted.out);
    Ok(())
}

#[tokio::test]
async fn ctrl_c_stops_an_import_cleanly_and_the_rows_not_sent_go_to_the_errors_file() -> Result<()> {
    const ROWS: usize = 1000;
    const OPEN: usize = 100; // the first progress line: a tenth of the rows
    const CONCURRENCY: usize = 16;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start(&data, Some(TOKEN))?;
    // The import gets exactly OPEN rows through; the next CONCURRENCY requests wait at the gate, so the import is
    // still running, at a known point, when it is interrupted.
    let gate = Gate::start(&server.origin, 0..0, OPEN).await?;
    let file = tmp.path().join("many.csv");
    users_csv(&file, ROWS, ROWS, ROWS)?;
    let mut child = Command::new(BIN)
        .args(["directory", "import", "users"])
        .arg(&file)
        .args(["--json", "--concurrency", &CONCURRENCY.to_string(), "--url", &gate.origin, "--token", TOKEN])
        .env_remove("IDPLANE_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Standard error line by line, read on a thread of its own so that this runtime keeps serving the gate.
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(std::result::Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines.recv().await.context("the import ended without a progress line")?;
    assert!(first.starts_with(&format!("{OPEN}/{ROWS} rows, 0 failed")), "{first}");

    Command::new("kill").args(["-INT", &child.id().to_string()]).status()?;
    let next = lines.recv().await.context("the import ended without saying it was interrupted")?;
    assert_eq!(next, format!("interrupted: waiting for the {CONCURRENCY} requests in flight, sending no more"));
    gate.release();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let mut rest = Vec::new();
    while let Some(line) = lines.recv().await {
        rest.push(line);
    }
    assert!(!out.status.success(), "an interrupted import exits non-zero");
    assert!(rest.iter().any(|l| l.contains("the import was interrupted")), "{rest:?}");

    // The rows in flight finished; none was sent after Ctrl-C; every row is accounted for.
    let summary: Value = serde_json::from_slice(&out.stdout)?;
    let sent = OPEN + CONCURRENCY;
    assert_eq!(
        (&summary["interrupted"], &summary["succeeded"], &summary["failed"], &summary["notSent"]),
        (&json!(true), &json!(sent), &json!(0), &json!(ROWS - sent)),
        "{summary}"
    );
    assert_eq!(gate.arrived(), sent, "no request after Ctrl-C");
    let users = ok(&server, TOKEN, &["directory", "user", "list", "--json"])?.json()?;
    assert_eq!(users["value"].as_array().map(Vec::len), Some(sent), "the server has the rows sent, and only those");

    // The rows not sent, in order, ready to import again: lines count from the version line (row i is on line i+3).
    let errors = std::fs::read_to_string(tmp.path().join("many.errors.csv"))?;
    let rows: Vec<&str> = errors.lines().skip(2).collect();
    assert_eq!(rows.len(), ROWS - sent, "{errors}");
    for (i, row) in (sent..).zip(&rows) {
        assert!(row.ends_with(&format!(",{},not sent: the import was interrupted", i + 3)), "{row}");
        assert!(row.starts_with(&format!("User {i},user{i}@contoso.com,")), "{row}");
    }
    Ok(())
}

#[tokio::test]
async fn provisioning_runs_from_the_command_line_plan_on_demand_start_drift_pause_restart() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start_with(&data, Some(TOKEN), &["--worker-poll-seconds".as_ref(), "0.2".as_ref()])?;
    let s = &server;
    let account_url = server.value("account SCIM URL:").context("account URL")?;
    let account = account_url.split("/accounts/").nth(1).and_then(|r| r.split('/').next()).context("account id")?;
    let scim = admin(&data, &["token", "rotate-scim", "--account", account])?;
    let token = scim["token_value"].as_str().context("SCIM token")?.to_string();
    ok(s, TOKEN, &["directory", "user", "create", "--upn", "ann@contoso.com", "--display-name", "Ann Lee"])?;
    ok(s, TOKEN, &["directory", "user", "create", "--upn", "bob@contoso.com", "--display-name", "Bob Ray"])?;
    ok(s, TOKEN, &["app", "create", "--template", "databricks", "--name", "Databricks"])?;
    let args =
        ["app", "provisioning", "credentials", "Databricks", "--tenant-url", &account_url, "--secret-token", &token];
    ok(s, TOKEN, &args)?;
    ok(s, TOKEN, &["app", "assign", "Databricks", "--user", "ann@contoso.com"])?;
    ok(s, TOKEN, &["app", "assign", "Databricks", "--user", "bob@contoso.com"])?;

    let plan = ok(s, TOKEN, &["app", "plan", "Databricks"])?.out;
    assert!(plan.contains("initial") && plan.contains("would send 2 request(s)") && plan.contains("POST"), "{plan}");
    let on_demand = ok(s, TOKEN, &["app", "provisioning", "on-demand", "Databricks", "--user", "ann@contoso.com"])?.out;
    assert!(on_demand.starts_with("Success: Create ann@contoso.com"), "{on_demand}");
    assert!(on_demand.contains("Export") && on_demand.contains("userName"), "{on_demand}");
    let plan = ok(s, TOKEN, &["app", "plan", "Databricks", "--json"])?.json()?;
    assert_eq!(plan["requests"].as_array().map(Vec::len), Some(1), "only Bob is left: {plan}");

    ok(s, TOKEN, &["app", "provisioning", "start", "Databricks"])?;
    let mut status = Value::Null;
    for _ in 0..300 {
        let shown = ok(s, TOKEN, &["app", "provisioning", "show", "Databricks", "--json"])?.json()?;
        status = shown["jobs"][0]["status"].clone();
        if status["lastExecution"].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    assert_eq!(status["lastExecution"]["countExported"], 1, "Bob: {status}");
    let drift = ok(s, TOKEN, &["app", "drift", "Databricks"])?.out;
    assert!(drift.contains("orphan") && !drift.contains("drifted"), "the target's own admin is an orphan: {drift}");
    ok(s, TOKEN, &["app", "provisioning", "pause", "Databricks"])?;
    let restarted = ok(s, TOKEN, &["app", "provisioning", "restart", "Databricks", "--scope", "Watermark"])?.out;
    assert!(restarted.contains("reset: Watermark"), "{restarted}");
    let refused = fails(s, TOKEN, &["app", "provisioning", "restart", "Databricks", "--scope", "Everything"])?;
    assert!(refused.err.contains("not a restart scope"), "{}", refused.err);
    Ok(())
}
