//! A node killed (SIGKILL) in the middle of a provisioning cycle: the real binary provisions a few hundred assigned
//! users into a separate idplane behind a proxy that lets the first creations through and then holds the answers of
//! the next ones (the target has created those users, the engine never hears of it), so that the test kills the
//! server at a known point of the cycle, not after a time. Restarted on the same data directory with a short lease,
//! the server takes the job over once the dead node's lease expires and completes the cycle: every user is in the
//! target exactly once (none POSTed twice: those created without a link are found again by their matching
//! attribute), and the stored links point at them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use idplane_provisioning::cycle::state::Link;
use idplane_provisioning::store::CycleStore as _;
use idplane_testkit::App;
use idplane_testkit::binary::call;
use idplane_testkit::proxy::{Exchange, Fault, FaultProxy, Rule};
use serde_json::{Value, json};

use super::Server;

const TOKEN: &str = "dapi-cycle-kill-test-token";
const USERS: usize = 300;
/// Creations answered before the proxy starts holding answers.
const ANSWERED: usize = 100;
/// Creations whose answers are held when the test kills the server.
const HELD: usize = 4;
const DATABRICKS: &str = "9c9818d2-2900-49e8-8ba4-22688be7c675";

/// A Graph request to the server as its admin; the body of a success.
async fn graph(origin: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
    let (status, answer) = call(method.clone(), &format!("{origin}/v1.0{path}"), TOKEN, body).await?;
    ensure!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    Ok(answer)
}

/// Runs `requests` (method, path, body) against the server's Graph API, 16 at a time; their answers in order.
async fn graph_all(origin: &str, requests: Vec<(reqwest::Method, String, Value)>) -> Result<Vec<Value>> {
    let mut answers = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(16) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|(method, path, body)| {
                let origin = origin.to_string();
                tokio::spawn(async move { graph(&origin, method, &path, Some(body)).await })
            })
            .collect();
        for t in tasks {
            answers.push(t.await??);
        }
    }
    Ok(answers)
}

/// The target of a kill test: another idplane's account SCIM API behind a proxy that answers the first creations and
/// then forwards the next ones but holds their answers.
struct Target {
    app: App,
    served: idplane_testkit::app::Listening,
    proxy: FaultProxy,
    scim_token: String,
    tenant_url: String,
}

async fn target() -> Result<Target> {
    let app = App::new().await?;
    let served = app.listen().await?;
    let (scim_token, _) = idplane_core::token::rotate_scim_token(
        app.store.as_ref(),
        &app.account,
        time::Duration::days(1),
        time::OffsetDateTime::now_utc(),
        &idplane_core::audit::Actor::cli(),
    )
    .await?;
    let proxy = FaultProxy::start(&served.origin()).await?;
    proxy.inject(Rule::new("POST", "/Users", Fault::Pass, ANSWERED));
    proxy.inject(Rule::new("POST", "/Users", Fault::ForwardThenHang, usize::MAX));
    let tenant_url = format!("{}/api/2.1/accounts/{}/scim/v2", proxy.origin, app.account);
    Ok(Target { app, served, proxy, scim_token: scim_token.expose().to_string(), tenant_url })
}

/// What the source is given: [`USERS`] users in a group assigned to a Databricks application whose job provisions
/// into the target, started. The users' ids, the synchronization path and the job's id.
async fn directory_and_started_job(origin: &str, t: &Target) -> Result<(Vec<String>, String, String)> {
    let users: Vec<(reqwest::Method, String, Value)> = (0..USERS)
        .map(|i| {
            let upn = format!("k{i:03}@contoso.com");
            let body = json!({"displayName": format!("K {i}"), "userPrincipalName": upn, "mailNickname": format!("k{i}"),
                              "accountEnabled": true, "passwordProfile": {"password": "Secret-1"}});
            (reqwest::Method::POST, "/users".to_string(), body)
        })
        .collect();
    let user_ids: Vec<String> =
        graph_all(origin, users).await?.iter().map(|u| u["id"].as_str().unwrap_or_default().to_string()).collect();
    let all = json!({"displayName": "All", "mailNickname": "all", "mailEnabled": false, "securityEnabled": true});
    let group = graph(origin, reqwest::Method::POST, "/groups", Some(all)).await?;
    let group_id = group["id"].as_str().context("group id")?.to_string();
    // Graph takes at most 20 members@odata.bind a request.
    let binds = user_ids
        .chunks(20)
        .map(|ids| {
            let refs: Vec<String> =
                ids.iter().map(|id| format!("https://graph.microsoft.com/v1.0/users/{id}")).collect();
            (reqwest::Method::PATCH, format!("/groups/{group_id}"), json!({"members@odata.bind": refs}))
        })
        .collect();
    graph_all(origin, binds).await?;
    let app = json!({"displayName": "Databricks"});
    let created =
        graph(origin, reqwest::Method::POST, &format!("/applicationTemplates/{DATABRICKS}/instantiate"), Some(app))
            .await?;
    let sp = created["servicePrincipal"]["id"].as_str().context("service principal")?.to_string();
    let sync = format!("/servicePrincipals/{sp}/synchronization");
    let job = graph(origin, reqwest::Method::POST, &format!("{sync}/jobs"), Some(json!({"templateId": "dataBricks"})))
        .await?;
    let job_id = job["id"].as_str().context("job id")?.to_string();
    let secrets = json!({"value": [{"key": "BaseAddress", "value": t.tenant_url},
                                   {"key": "SecretToken", "value": t.scim_token}]});
    graph(origin, reqwest::Method::PUT, &format!("{sync}/secrets"), Some(secrets)).await?;
    let assignment =
        json!({"principalId": group_id, "resourceId": sp, "appRoleId": "00000000-0000-0000-0000-000000000000"});
    graph(origin, reqwest::Method::POST, &format!("/servicePrincipals/{sp}/appRoleAssignedTo"), Some(assignment))
        .await?;
    graph(origin, reqwest::Method::POST, &format!("{sync}/jobs/{job_id}/start"), None).await?;
    Ok((user_ids, sync, job_id))
}

fn held(e: &[Exchange]) -> usize {
    e.iter().filter(|x| x.fault == Some(Fault::ForwardThenHang) && x.forwarded()).count()
}

/// Every user once: none POSTed twice, each in the target once, those whose creation was not heard of matched; the
/// group once, with every member. The target's users by userName.
async fn exactly_once(t: &Target) -> Result<HashMap<String, String>> {
    let exchanges = t.proxy.exchanges();
    let mut posted: HashMap<String, usize> = HashMap::new();
    for e in exchanges.iter().filter(|e| e.method == "POST" && e.path.ends_with("/Users") && e.forwarded()) {
        let name = e.body.as_ref().and_then(|b| b["userName"].as_str()).unwrap_or_default().to_string();
        *posted.entry(name).or_default() += 1;
    }
    assert_eq!(posted.len(), USERS, "every user was created");
    let twice: Vec<_> = posted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "POSTed more than once: {twice:?}");
    // Those created before the kill without the engine hearing of it were found again by userName after it (a user
    // is matched before it is created: no other match finds one). A creation answered just before the kill may also
    // be matched again, when the kill came before the engine stored its link; no other user is.
    let name_of = |v: Option<&Value>| v.and_then(|b| b["userName"].as_str()).unwrap_or_default().to_string();
    let unheard: std::collections::BTreeSet<String> = exchanges
        .iter()
        .filter(|x| x.fault == Some(Fault::ForwardThenHang) && x.forwarded())
        .map(|x| name_of(x.body.as_ref()))
        .collect();
    // When each user was first POSTed with its answer let through.
    let mut answered: HashMap<String, Instant> = HashMap::new();
    for x in exchanges.iter().filter(|x| x.method == "POST" && x.fault.is_none() && x.forwarded()) {
        answered.entry(name_of(x.body.as_ref())).or_insert(x.at);
    }
    let matched: HashMap<String, Instant> = exchanges
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("filter=userName") && e.forwarded())
        .filter(|e| e.answer.as_ref().and_then(|a| a["totalResults"].as_u64()) == Some(1))
        .map(|e| (name_of(e.answer.as_ref().map(|a| &a["Resources"][0])), e.at))
        .collect();
    assert!(unheard.len() >= HELD, "{unheard:?}");
    let missed: Vec<_> = unheard.iter().filter(|n| !matched.contains_key(*n)).collect();
    assert!(missed.is_empty(), "each creation whose answer was lost is matched after the kill: {missed:?} were not");
    let strays: Vec<_> = matched
        .iter()
        .filter(|(n, at)| !unheard.contains(*n) && answered.get(*n).is_none_or(|created| created > *at))
        .collect();
    assert!(strays.is_empty(), "matched, though not created before: {strays:?}");
    let (unheard, matched) = (unheard.len(), matched.len());
    let (status, listed) = call(
        reqwest::Method::GET,
        &format!("{}/api/2.0/accounts/{}/scim/v2/Users?count=1000", t.served.origin(), t.app.account),
        &t.scim_token,
        None,
    )
    .await?;
    ensure!(status == 200, "{listed}");
    let mut in_target: HashMap<String, String> = HashMap::new();
    for u in listed["Resources"].as_array().into_iter().flatten() {
        let name = u["userName"].as_str().unwrap_or_default().to_string();
        if name.starts_with('k') {
            let id = u["id"].as_str().unwrap_or_default().to_string();
            ensure!(in_target.insert(name.clone(), id).is_none(), "{name} twice in the target");
        }
    }
    assert_eq!(in_target.len(), USERS);
    let groups = call(
        reqwest::Method::GET,
        &format!(
            "{}/api/2.0/accounts/{}/scim/v2/Groups?filter=displayName%20eq%20%22All%22",
            t.served.origin(),
            t.app.account
        ),
        &t.scim_token,
        None,
    )
    .await?
    .1;
    assert_eq!(groups["totalResults"], 1, "{groups}");
    assert_eq!(groups["Resources"][0]["members"].as_array().map(Vec::len), Some(USERS));
    eprintln!(
        "kill -9: {ANSWERED} creations answered and {unheard} not before the kill; those {matched} matched after it"
    );
    Ok(in_target)
}

/// The job's links, all pages.
async fn links_of(store: &dyn idplane_provisioning::store::CycleStore, job_id: &str) -> Result<Vec<Link>> {
    let mut links: Vec<Link> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.links_page(job_id, after.as_deref(), 1000).await?;
        after = page.last().map(|l| l.source_id.clone());
        let done = page.len() < 1000;
        links.extend(page);
        if done {
            return Ok(links);
        }
    }
}

/// The links: one per user and the group, each to the target object of that user.
fn links_match(links: &[Link], user_ids: &[String], in_target: &HashMap<String, String>) -> Result<()> {
    assert_eq!(links.len(), USERS + 1, "a link per user and one for the group");
    for (i, id) in user_ids.iter().enumerate() {
        let link = links.iter().find(|l| &l.source_id == id).with_context(|| format!("no link for user {i}"))?;
        assert_eq!(Some(&link.target_id), in_target.get(&format!("k{i:03}@contoso.com")), "{link:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_cycle_then_the_restarted_node_completes_it_without_duplicates() -> Result<()> {
    let t = target().await?;
    // The source: the real binary, its scheduler polling often, with a short lease.
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let flags = ["--worker-poll-seconds", "0.1", "--worker-lease-seconds", "1", "--rate-limit-per-second", "0"];
    let flags: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_ref()).collect();
    let mut server = Server::start_with(&data, Some(TOKEN), &flags)?;
    let (user_ids, sync, job_id) = directory_and_started_job(&server.origin, &t).await?;

    // Mid-way through the initial cycle, with creations the engine never heard of: kill -9.
    t.proxy.wait_until(Duration::from_secs(60), |e| held(e) >= HELD).await?;
    server.child.kill()?;
    server.child.wait()?;
    drop(server);
    t.proxy.heal();

    // Restarted on the same data directory: once the dead node's lease expires, the job runs again.
    let server = Server::start_with(&data, None, &flags)?;
    let status = wait_for_a_cycle(&server.origin, &sync, &job_id).await?;
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    let in_target = exactly_once(&t).await?;
    server.terminate()?;
    let store = idplane_store::SqliteStore::open(&data)?;
    links_match(&links_of(&store, &job_id).await?, &user_ids, &in_target)
}

/// Scale-out: three nodes on one PostgreSQL database run the job on one node at a time (a lease in the database);
/// the node running it is killed mid-cycle, another takes the job over once the lease expires and completes the
/// cycle from the stored state, without a duplicate in the target (two nodes running it at once would create users
/// twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (scripts/test)"]
async fn postgres_three_nodes_one_killed_mid_cycle_another_takes_the_job_over() -> Result<()> {
    let t = target().await?;
    let database = idplane_testkit::postgres::Database::fresh("cyclekill").await?;
    let tmp = tempfile::tempdir()?;
    let key = tmp.path().join("secrets.key");
    let flags = ["--worker-poll-seconds", "0.1", "--worker-lease-seconds", "1", "--rate-limit-per-second", "0"];
    let mut args: Vec<std::ffi::OsString> = flags.iter().map(std::ffi::OsString::from).collect();
    args.extend(["--database-url".into(), database.url.clone().into(), "--secrets-key-file".into(), key.into()]);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut nodes = Vec::new();
    for n in 0..3 {
        let token = (n == 0).then_some(TOKEN);
        nodes.push(Some(Server::start_with(&tmp.path().join(format!("node{n}")), token, &args)?));
    }
    let first = nodes[0].as_ref().map(|n| n.origin.clone()).context("node 0")?;
    let (user_ids, sync, job_id) = directory_and_started_job(&first, &t).await?;

    // Mid-way through the cycle, kill the node that holds the job's lease (its name ends with its process id).
    t.proxy.wait_until(Duration::from_secs(60), |e| held(e) >= HELD).await?;
    let store = idplane_store::PgStore::connect(&database.url).await?;
    let owner = store.run_state(&job_id).await?.and_then(|s| s.lease_owner).context("a node holds the lease")?;
    let pid = owner.rsplit('-').next().unwrap_or_default().to_string();
    let running = nodes
        .iter()
        .position(|n| n.as_ref().is_some_and(|n| n.child.id().to_string() == pid))
        .with_context(|| format!("no node has the lease owner's process id: {owner}"))?;
    if let Some(mut node) = nodes[running].take() {
        node.child.kill()?;
        node.child.wait()?;
    }
    t.proxy.heal();

    // Another node completes the cycle.
    let survivor = nodes.iter().flatten().next().map(|n| n.origin.clone()).context("a surviving node")?;
    let status = wait_for_a_cycle(&survivor, &sync, &job_id).await?;
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    let in_target = exactly_once(&t).await?;
    links_match(&links_of(&store, &job_id).await?, &user_ids, &in_target)?;
    for node in nodes.into_iter().flatten() {
        node.terminate()?;
    }
    Ok(())
}

/// Waits (polling the job's status, at most a minute) for a cycle to end; the status then.
async fn wait_for_a_cycle(origin: &str, sync: &str, job: &str) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = graph(origin, reqwest::Method::GET, &format!("{sync}/jobs/{job}"), None).await?;
        if !job["status"]["lastExecution"].is_null() {
            return Ok(job["status"].clone());
        }
        if Instant::now() > deadline {
            bail!("no cycle ended within a minute of the restart: {}", job["status"]);
        }
        // The job's status cannot be awaited from outside the process: poll it.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
