//! The console benchmark: how long the admin console's pages take at 100,000 users on each side. One `idplane serve`
//! process whose directory holds 100,000 users and 1,000 groups (written into the store directly, as the provisioning
//! benchmark does) and whose account holds 100,000 users (created through SCIM Bulk); the benchmark signs in through
//! the sign-in form as a browser does, then requests each page in turn over one keep-alive connection and prints the
//! latency (median, 95th percentile, most) and the size of each page. A page that does not answer 200 is reported with
//! its status, not timed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use idplane_provisioning::store::ProvisioningStore;
use serde_json::json;

use crate::http::{Connection, Endpoint, Response, encode_query};
use crate::provision::{TOKEN, call, fill_directory, line, serve};

#[derive(clap::Args, Debug)]
pub struct ConsoleArgs {
    /// The idplane binary.
    #[arg(long)]
    pub idplane: PathBuf,
    /// A fresh directory for the server's data.
    #[arg(long)]
    pub work: PathBuf,
    /// Users in the directory, and users in the account.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Groups in the directory.
    #[arg(long, default_value_t = 1_000)]
    pub groups: usize,
    /// Timed requests per page.
    #[arg(long, default_value_t = 50)]
    pub repeat: usize,
}

/// The pages timed: what each is, and its path.
fn pages(directory_user: &str, account_user: &str) -> Vec<(&'static str, String)> {
    vec![
        ("home", "/console".into()),
        ("directory users, first page", "/console/users".into()),
        ("directory users, searched", format!("/console/users?q={}", encode_query(directory_user))),
        ("directory groups", "/console/groups".into()),
        ("enterprise applications", "/console/apps".into()),
        ("provisioning logs", "/console/logs".into()),
        ("agents", "/console/agents".into()),
        ("account users, first page", "/console/account/users".into()),
        ("account users, searched", format!("/console/account/users?q={}", encode_query(account_user))),
        ("account groups", "/console/account/groups".into()),
        ("workspaces", "/console/account/workspaces".into()),
        ("user provisioning", "/console/account/provisioning".into()),
        ("audit log", "/console/account/audit".into()),
        ("access tokens", "/console/settings/tokens".into()),
    ]
}

/// A raw request with the session cookie (and a form body).
fn request(authority: &str, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\n");
    if !cookie.is_empty() {
        r.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    match form {
        Some(f) => r.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{f}",
            f.len()
        )),
        None => r.push_str("\r\n"),
    }
    r.into_bytes()
}

/// Signs in through the form; the session cookie.
async fn sign_in(c: &mut Connection, authority: &str) -> Result<String> {
    let form = c.send(&request(authority, "GET", "/console/signin", "", None)).await?;
    let pre = form.cookies.first().context("the sign-in page set no cookie")?.clone();
    let csrf = pre.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
    let body = format!("token={TOKEN}&_csrf={csrf}&next=%2Fconsole");
    let signed = c.send(&request(authority, "POST", "/console/signin", &pre, Some(&body))).await?;
    signed
        .cookies
        .iter()
        .find(|k| k.starts_with("idplane_console=") && k.len() > "idplane_console=".len())
        .cloned()
        .with_context(|| format!("signing in failed: {} {}", signed.status, String::from_utf8_lossy(&signed.body)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(args: ConsoleArgs) -> Result<()> {
    std::fs::create_dir_all(&args.work)?;
    let data = args.work.join("data");
    ensure!(!data.exists(), "{} must be a fresh directory", args.work.display());
    let tenant = {
        let first = serve(&args.idplane, &data, &["--worker-jobs", "0"], &args.work.join("first.log"))?;
        let graph = line(&first.banner, "Graph API:").context("no Graph API line in the banner")?;
        graph.rsplit_once("(tenant ").map(|(_, t)| t.trim_end_matches(')').to_string()).context("tenant id")?
    };
    let filled = Instant::now();
    let store: Arc<dyn ProvisioningStore> = Arc::new(idplane_store::SqliteStore::open(&data)?);
    fill_directory(&store, &tenant, args.users, args.groups, args.users).await?;
    drop(store);
    eprintln!("directory: {} users, {} groups in {:.1} s", args.users, args.groups, filled.elapsed().as_secs_f64());

    let server = serve(&args.idplane, &data, &["--worker-jobs", "0"], &args.work.join("server.log"))?;
    let account_url = line(&server.banner, "account SCIM URL:").context("account SCIM URL")?.to_string();
    let mut scim = Connection::new(Endpoint::parse(&account_url.replace("/api/2.1/", "/api/2.0/"), Some(TOKEN))?);
    let filled = Instant::now();
    for chunk in (0..args.users).collect::<Vec<_>>().chunks(1000) {
        let operations: Vec<_> = chunk
            .iter()
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                       "data": {"userName": format!("member{i}@bench.test"), "displayName": format!("Member {i}")}})
            })
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        call(&mut scim, "POST", "/Bulk", Some(body)).await?;
    }
    eprintln!("account: {} users in {:.1} s (SCIM Bulk)", args.users, filled.elapsed().as_secs_f64());

    let origin = Endpoint::parse(&server.origin, None)?;
    let authority = origin.authority.clone();
    let mut c = Connection::new(origin);
    let cookie = sign_in(&mut c, &authority).await?;
    let last = args.users.saturating_sub(1);
    // What a search must find: the user's principal name or email is shown only in its row.
    let found = [
        ("/console/users?q=", format!("user{last}@bench.test")),
        ("/console/account/users?q=", format!("member{last}@bench.test")),
    ];
    println!("| page | status | bytes | median ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (what, path) in pages(&format!("User {last}"), &format!("Member {last}")) {
        let bytes = request(&authority, "GET", &path, &cookie, None);
        let warm: Response = c.send(&bytes).await?;
        if warm.status != 200 {
            println!("| {what} (`{path}`) | {} | – | – | – | – |", warm.status);
            continue;
        }
        if let Some((_, name)) = found.iter().find(|(prefix, _)| path.starts_with(prefix)) {
            ensure!(String::from_utf8_lossy(&warm.body).contains(name.as_str()), "{path} did not find {name}");
        }
        let mut times = Vec::with_capacity(args.repeat);
        for _ in 0..args.repeat {
            let started = Instant::now();
            let r = c.send(&bytes).await?;
            times.push(started.elapsed());
            ensure!(r.status == 200, "{path}: {}", r.status);
        }
        times.sort();
        println!(
            "| {what} (`{path}`) | 200 | {} | {:.1} | {:.1} | {:.1} |",
            warm.body.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
        );
    }
    Ok(())
}
