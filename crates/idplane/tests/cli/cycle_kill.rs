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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_cycle_then_the_restarted_node_completes_it_without_duplicates() -> Result<()> {
    // The target: another idplane's account SCIM API, behind a proxy that holds each answer a while.
    let target = App::new().await?;
    let served = target.listen().await?;
    let (scim_token, _) = idplane_core::token::rotate_scim_token(
        target.store.as_ref(),
        &target.account,
        time::Duration::days(1),
        time::OffsetDateTime::now_utc(),
        &idplane_core::audit::Actor::cli(),
    )
    .await?;
    let proxy = FaultProxy::start(&served.origin()).await?;
    proxy.inject(Rule::new("POST", "/Users", Fault::Pass, ANSWERED));
    proxy.inject(Rule::new("POST", "/Users", Fault::ForwardThenHang, usize::MAX));
    let tenant_url = format!("{}/api/2.1/accounts/{}/scim/v2", proxy.origin, target.account);

    // The source: the real binary, its scheduler polling often, with a short lease.
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let flags = ["--worker-poll-seconds", "0.1", "--worker-lease-seconds", "1", "--rate-limit-per-second", "0"];
    let flags: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_ref()).collect();
    let mut server = Server::start_with(&data, Some(TOKEN), &flags)?;
    let origin = server.origin.clone();
    let users: Vec<(reqwest::Method, String, Value)> = (0..USERS)
        .map(|i| {
            let upn = format!("k{i:03}@contoso.com");
            let body = json!({"displayName": format!("K {i}"), "userPrincipalName": upn, "mailNickname": format!("k{i}"),
                              "accountEnabled": true, "passwordProfile": {"password": "Secret-1"}});
            (reqwest::Method::POST, "/users".to_string(), body)
        })
        .collect();
    let user_ids: Vec<String> =
        graph_all(&origin, users).await?.iter().map(|u| u["id"].as_str().unwrap_or_default().to_string()).collect();
    let all = json!({"displayName": "All", "mailNickname": "all", "mailEnabled": false, "securityEnabled": true});
    let group = graph(&origin, reqwest::Method::POST, "/groups", Some(all)).await?;
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
    graph_all(&origin, binds).await?;
    let app = json!({"displayName": "Databricks"});
    let created =
        graph(&origin, reqwest::Method::POST, &format!("/applicationTemplates/{DATABRICKS}/instantiate"), Some(app))
            .await?;
    let sp = created["servicePrincipal"]["id"].as_str().context("service principal")?.to_string();
    let sync = format!("/servicePrincipals/{sp}/synchronization");
    let job = graph(&origin, reqwest::Method::POST, &format!("{sync}/jobs"), Some(json!({"templateId": "dataBricks"})))
        .await?;
    let job_id = job["id"].as_str().context("job id")?.to_string();
    let secrets = json!({"value": [{"key": "BaseAddress", "value": tenant_url},
                                   {"key": "SecretToken", "value": scim_token.expose()}]});
    graph(&origin, reqwest::Method::PUT, &format!("{sync}/secrets"), Some(secrets)).await?;
    let assignment =
        json!({"principalId": group_id, "resourceId": sp, "appRoleId": "00000000-0000-0000-0000-000000000000"});
    graph(&origin, reqwest::Method::POST, &format!("/servicePrincipals/{sp}/appRoleAssignedTo"), Some(assignment))
        .await?;
    graph(&origin, reqwest::Method::POST, &format!("{sync}/jobs/{job_id}/start"), None).await?;

    // Mid-way through the initial cycle, with creations the engine never heard of: kill -9.
    let held = |e: &[Exchange]| e.iter().filter(|x| x.fault == Some(Fault::ForwardThenHang) && x.forwarded()).count();
    proxy.wait_until(Duration::from_secs(60), |e| held(e) >= HELD).await?;
    server.child.kill()?;
    server.child.wait()?;
    drop(server);
    proxy.heal();

    // Restarted on the same data directory: once the dead node's lease expires, the job runs again.
    let server = Server::start_with(&data, None, &flags)?;
    let status = wait_for_a_cycle(&server.origin, &sync, &job_id).await?;
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");

    // Every user once: none POSTed twice, each in the target once; the group once, with every member.
    let exchanges = proxy.exchanges();
    let mut posted: HashMap<String, usize> = HashMap::new();
    for e in exchanges.iter().filter(|e| e.method == "POST" && e.path.ends_with("/Users") && e.forwarded()) {
        let name = e.body.as_ref().and_then(|b| b["userName"].as_str()).unwrap_or_default().to_string();
        *posted.entry(name).or_default() += 1;
    }
    assert_eq!(posted.len(), USERS, "every user was created");
    let twice: Vec<_> = posted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "POSTed more than once: {twice:?}");
    // Those created before the kill without the engine hearing of it were found again by userName after the restart
    // (a user is matched before it is created: no other match finds one).
    let unheard = held(&exchanges);
    let matched = exchanges
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("filter=userName") && e.forwarded())
        .filter(|e| e.answer.as_ref().and_then(|a| a["totalResults"].as_u64()) == Some(1))
        .count();
    assert_eq!(matched, unheard, "each creation whose answer was lost is matched after the restart");
    let (status, listed) = call(
        reqwest::Method::GET,
        &format!("{}/api/2.0/accounts/{}/scim/v2/Users?count=1000", served.origin(), target.account),
        scim_token.expose(),
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
            served.origin(),
            target.account
        ),
        scim_token.expose(),
        None,
    )
    .await?
    .1;
    assert_eq!(groups["totalResults"], 1, "{groups}");
    assert_eq!(groups["Resources"][0]["members"].as_array().map(Vec::len), Some(USERS));

    // The links: one per user and the group, each to the target object of that user.
    server.terminate()?;
    let store = idplane_store::SqliteStore::open(&data)?;
    let mut links: Vec<Link> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.links_page(&job_id, after.as_deref(), 1000).await?;
        after = page.last().map(|l| l.source_id.clone());
        let done = page.len() < 1000;
        links.extend(page);
        if done {
            break;
        }
    }
    assert_eq!(links.len(), USERS + 1, "a link per user and one for the group");
    for (i, id) in user_ids.iter().enumerate() {
        let link = links.iter().find(|l| &l.source_id == id).with_context(|| format!("no link for user {i}"))?;
        assert_eq!(Some(&link.target_id), in_target.get(&format!("k{i:03}@contoso.com")), "{link:?}");
    }
    eprintln!(
        "kill -9: {ANSWERED} creations answered and {unheard} not before the kill; those {matched} matched after it"
    );
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
