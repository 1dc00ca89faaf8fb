//! The provisioning benchmark: an initial cycle for a large directory and an incremental cycle with a few changes,
//! from idplane's provisioning service into idplane's identity service (the Databricks template, at the account
//! level), two `idplane serve` processes on this machine: the source (directory and engine) and the target.
//!
//! The directory is written into the source's store directly (the benchmark measures cycles, not the Graph API's
//! writes); everything else goes through the APIs: the application from the Databricks template, its job, the
//! secrets, the group assignments, start, and the job's status, which times the cycle.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use idplane_provisioning::directory::ObjectKind;
use idplane_provisioning::directory::service;
use idplane_provisioning::store::{DirectoryStore, ProvisioningStore};
use serde_json::{Value, json};

use crate::http::{Connection, Endpoint};
use crate::process::peak_rss_mb;

#[derive(clap::Args, Debug)]
pub struct ProvisionArgs {
    /// The idplane binary.
    #[arg(long)]
    pub idplane: PathBuf,
    /// A fresh directory for both servers' data.
    #[arg(long)]
    pub work: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    #[arg(long, default_value_t = 5_000)]
    pub groups: usize,
    /// Group memberships in all (spread evenly over the groups; every user is a member of some).
    #[arg(long, default_value_t = 200_000)]
    pub memberships: usize,
    /// Users changed before the incremental cycle.
    #[arg(long, default_value_t = 100)]
    pub changes: usize,
    /// The job's `TargetConcurrency` (objects in flight); unset: the job's default.
    #[arg(long)]
    pub target_concurrency: Option<u32>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub(crate) const TOKEN: &str = "dapi-bench-provisioning-0123456789abcdef0123456789abcdef";
pub(crate) const DATABRICKS: &str = "9c9818d2-2900-49e8-8ba4-22688be7c675";

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) origin: String,
    pub(crate) banner: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn line<'a>(banner: &'a str, prefix: &str) -> Option<&'a str> {
    banner.lines().find_map(|l| l.trim_start().strip_prefix(prefix)).map(str::trim)
}

pub(crate) fn serve(bin: &Path, data: &Path, extra: &[&str], log: &Path) -> Result<Server> {
    let out_path = data.with_extension("out");
    let out = std::fs::File::create(&out_path)?;
    let err = std::fs::File::create(log)?;
    let child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit-per-second", "0", "--data-dir"])
        .arg(data)
        .args(extra)
        .env("IDPLANE_BOOTSTRAP_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let started = Instant::now();
    loop {
        let banner = std::fs::read_to_string(&out_path).unwrap_or_default();
        if banner.contains("admin token") {
            let url = line(&banner, "account SCIM URL:").context("no account SCIM URL in the banner")?;
            let origin = url.split("/api/").next().unwrap_or_default().to_string();
            return Ok(Server { child, origin, banner });
        }
        ensure!(started.elapsed() < Duration::from_secs(60), "the server printed no banner within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) async fn call(c: &mut Connection, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    let bytes = body.map(|b| b.to_string().into_bytes());
    let r = c.call(method, path, bytes.as_deref()).await?;
    ensure!(r.is_success(), "{method} {path}: {} {}", r.status, String::from_utf8_lossy(&r.body));
    if r.body.is_empty() { Ok(Value::Null) } else { r.json() }
}

/// Writes the directory into the source's store: users, groups, and memberships spread over the groups.
async fn fill(store: &Arc<dyn ProvisioningStore>, tenant: &str, args: &ProvisionArgs) -> Result<Vec<String>> {
    fill_directory(store, tenant, args.users, args.groups, args.memberships).await
}

/// Writes `users` users and `groups` groups into a tenant's directory, with `memberships` memberships spread evenly
/// over the groups; the groups' ids.
pub(crate) async fn fill_directory(
    store: &Arc<dyn ProvisioningStore>,
    tenant: &str,
    users: usize,
    groups: usize,
    memberships: usize,
) -> Result<Vec<String>> {
    let now = time::OffsetDateTime::now_utc();
    let mut user_ids = Vec::with_capacity(users);
    for i in 0..users {
        let body = json!({"displayName": format!("User {i}"), "userPrincipalName": format!("user{i}@bench.test"),
                          "mailNickname": format!("user{i}"), "mail": format!("user{i}@bench.test"),
                          "givenName": "User", "surname": format!("{i}"), "accountEnabled": true});
        user_ids.push(
            service::create(store.as_ref() as &dyn DirectoryStore, tenant, ObjectKind::User, &body, now).await?.id,
        );
    }
    let per_group = memberships.checked_div(groups).unwrap_or(0);
    let mut group_ids = Vec::with_capacity(groups);
    for g in 0..groups {
        let body = json!({"displayName": format!("Group {g}"), "mailNickname": format!("group{g}"),
                          "mailEnabled": false, "securityEnabled": true});
        let group =
            service::create(store.as_ref() as &dyn DirectoryStore, tenant, ObjectKind::Group, &body, now).await?;
        let members: Vec<String> =
            (0..per_group).filter_map(|k| user_ids.get((g * per_group + k) % user_ids.len().max(1)).cloned()).collect();
        for chunk in members.chunks(500) {
            store.add_members(tenant, &group.id, chunk, now).await?;
        }
        group_ids.push(group.id);
    }
    Ok(group_ids)
}

/// Waits until the job's last execution is another than `previous`; the status then.
async fn wait_cycle(c: &mut Connection, job_path: &str, previous: &Value, limit: Duration) -> Result<Value> {
    let started = Instant::now();
    loop {
        let job = call(c, "GET", job_path, None).await?;
        let last = &job["status"]["lastExecution"];
        if !last.is_null() && last["activityIdentifier"] != previous["activityIdentifier"] {
            return Ok(job["status"].clone());
        }
        ensure!(started.elapsed() < limit, "no cycle ended within {} s", limit.as_secs());
        // The cycle's time is the job's own (`timeBegan` to `timeEnded`): polling more often would not make it
        // more exact, only load the engine.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn seconds(execution: &Value) -> Option<f64> {
    let parse = |k: &str| {
        execution[k]
            .as_str()
            .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
    };
    Some((parse("timeEnded")? - parse("timeBegan")?).as_seconds_f64())
}

pub async fn run(args: ProvisionArgs) -> Result<()> {
    std::fs::create_dir_all(&args.work)?;
    let (source_dir, target_dir) = (args.work.join("source"), args.work.join("target"));
    ensure!(!source_dir.exists() && !target_dir.exists(), "{} must be a fresh directory", args.work.display());
    let target = serve(&args.idplane, &target_dir, &["--worker-jobs", "0"], &args.work.join("target.log"))?;
    let account_url = line(&target.banner, "account SCIM URL:").context("account SCIM URL")?.to_string();

    // The source: started once to create its store and tenant, stopped, filled, started again.
    let tenant = {
        let first = serve(&args.idplane, &source_dir, &["--worker-jobs", "0"], &args.work.join("source-first.log"))?;
        let graph = line(&first.banner, "Graph API:").context("no Graph API line in the banner")?;
        graph.rsplit_once("(tenant ").map(|(_, t)| t.trim_end_matches(')').to_string()).context("tenant id")?
    };
    eprintln!("filling the directory: {} users, {} groups, {} memberships", args.users, args.groups, args.memberships);
    let filled = Instant::now();
    let store: Arc<dyn ProvisioningStore> = Arc::new(idplane_store::SqliteStore::open(&source_dir)?);
    let groups = fill(&store, &tenant, &args).await?;
    drop(store);
    eprintln!("filled in {:.1} s", filled.elapsed().as_secs_f64());
    let source = serve(&args.idplane, &source_dir, &["--worker-poll-seconds", "0.2"], &args.work.join("source.log"))?;
    let graph = Endpoint::parse(&format!("{}/v1.0", source.origin), Some(TOKEN))?;
    let mut c = Connection::new(graph);
    let created = call(
        &mut c,
        "POST",
        &format!("/applicationTemplates/{DATABRICKS}/instantiate"),
        Some(json!({"displayName": "Databricks"})),
    )
    .await?;
    let sp = created["servicePrincipal"]["id"].as_str().context("service principal")?.to_string();
    let sync = format!("/servicePrincipals/{sp}/synchronization");
    let job = call(&mut c, "POST", &format!("{sync}/jobs"), Some(json!({"templateId": "dataBricks"}))).await?;
    let job_path = format!("{sync}/jobs/{}", job["id"].as_str().context("job id")?);
    let secrets =
        json!({"value": [{"key": "BaseAddress", "value": account_url}, {"key": "SecretToken", "value": TOKEN}]});
    call(&mut c, "PUT", &format!("{sync}/secrets"), Some(secrets)).await?;
    if let Some(n) = args.target_concurrency {
        let settings = json!({"synchronizationJobSettings": [{"name": "TargetConcurrency", "value": n.to_string()}]});
        call(&mut c, "PATCH", &job_path, Some(settings)).await?;
    }
    for g in &groups {
        let body = json!({"principalId": g, "resourceId": sp, "appRoleId": "00000000-0000-0000-0000-000000000000"});
        call(&mut c, "POST", &format!("/servicePrincipals/{sp}/appRoleAssignedTo"), Some(body)).await?;
    }

    let mut t = Connection::new(Endpoint::parse(&account_url, Some(TOKEN))?);
    let count = |body: Value| body["totalResults"].as_u64().unwrap_or(0);
    let users_before = count(call(&mut t, "GET", "/Users?count=0", None).await?);
    let groups_before = count(call(&mut t, "GET", "/Groups?count=0", None).await?);
    let started_rss = peak_rss_mb(source.child.id());
    let wall = Instant::now();
    call(&mut c, "POST", &format!("{job_path}/start"), None).await?;
    let initial = wait_cycle(&mut c, &job_path, &Value::Null, Duration::from_secs(3600)).await?;
    let initial_wall = wall.elapsed().as_secs_f64();
    let initial_secs = seconds(&initial["lastExecution"]).unwrap_or(initial_wall);
    let exported = initial["lastExecution"]["countExported"].as_u64().unwrap_or(0);
    ensure!(initial["lastExecution"]["state"] == "Succeeded", "the initial cycle did not succeed: {initial}");

    let users_path = "/users?$top=999&$select=id";
    let page = call(&mut c, "GET", users_path, None).await?;
    let ids: Vec<String> = page["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["id"].as_str().map(str::to_owned))
        .take(args.changes)
        .collect();
    for (i, id) in ids.iter().enumerate() {
        call(&mut c, "PATCH", &format!("/users/{id}"), Some(json!({"displayName": format!("Changed {i}")}))).await?;
    }
    call(&mut c, "POST", &format!("{job_path}/start"), None).await?;
    let incremental = wait_cycle(&mut c, &job_path, &initial["lastExecution"], Duration::from_secs(600)).await?;
    let incremental_secs = seconds(&incremental["lastExecution"]).unwrap_or(f64::NAN);
    let incremental_exported = incremental["lastExecution"]["countExported"].as_u64().unwrap_or(0);
    let engine_rss = peak_rss_mb(source.child.id());
    let target_rss = peak_rss_mb(target.child.id());

    // The target's own principals (its first-start administrator) were there before. A new connection: the target
    // closed the idle one during the cycles.
    let mut t = Connection::new(Endpoint::parse(&account_url, Some(TOKEN))?);
    let users_in_target = count(call(&mut t, "GET", "/Users?count=0", None).await?) - users_before;
    let groups_in_target = count(call(&mut t, "GET", "/Groups?count=0", None).await?) - groups_before;
    if users_in_target != args.users as u64 || groups_in_target != args.groups as u64 {
        bail!(
            "the target has {users_in_target} users and {groups_in_target} groups, not {} and {}",
            args.users,
            args.groups
        );
    }
    let objects = (args.users + args.groups + args.memberships) as f64;
    let result = json!({
        "users": args.users, "groups": args.groups, "memberships": args.memberships,
        "initialSeconds": initial_secs, "initialObjectsPerSecond": objects / initial_secs,
        "initialExported": exported,
        "incrementalChanges": args.changes, "incrementalSeconds": incremental_secs,
        "incrementalExported": incremental_exported,
        "engineRssMb": engine_rss, "engineRssBeforeMb": started_rss, "targetRssMb": target_rss,
    });
    println!("| cycle | objects | time | rate | exported |");
    println!("|---|---|---|---|---|");
    println!(
        "| initial | {} users, {} groups, {} memberships | {initial_secs:.1} s | {:.0} objects/s ({:.0} users/s) | {exported} |",
        args.users,
        args.groups,
        args.memberships,
        objects / initial_secs,
        args.users as f64 / initial_secs
    );
    println!("| incremental | {} changed users | {incremental_secs:.2} s | | {incremental_exported} |", args.changes);
    println!(
        "\nPeak RSS: engine (source server) {:.0} MB, target {:.0} MB.",
        engine_rss.unwrap_or(f64::NAN),
        target_rss.unwrap_or(f64::NAN)
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(())
}
