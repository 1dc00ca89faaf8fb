//! `idplane agents` and `idplane app agents` against the real server: a registration token from the command line,
//! an agent registered with it over the agent contract, listed with its status, assigned to an on-premises SCIM app
//! and removed from it, then deleted; and the mistakes the commands explain.

use anyhow::{Context, Result};
use idplane_testkit::binary::call;
use serde_json::json;

use super::Server;
use super::provisioning::{TOKEN, fails, ok};

#[tokio::test]
async fn agents_are_registered_listed_assigned_and_deleted_from_the_command_line() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = Server::start(&tmp.path().join("data"), Some(TOKEN))?;
    let s = &server;

    let none = ok(s, TOKEN, &["agents", "list"])?;
    assert!(none.out.contains("no agents"), "{}", none.out);
    let created = ok(s, TOKEN, &["agents", "token", "create", "--hours", "2", "--json"])?.json()?;
    let token = created["token"].as_str().context("the token is shown")?.to_string();
    let text = ok(s, TOKEN, &["agents", "token", "create"])?;
    assert!(text.out.starts_with("idplreg_") && text.out.contains("works once"), "{}", text.out);
    let too_long = fails(s, TOKEN, &["agents", "token", "create", "--hours", "25"])?;
    assert!(too_long.err.contains("1 to 24 hours"), "{}", too_long.err);

    let body = json!({"token": token, "hostName": "corp-01", "version": "0.1.0"});
    let (status, registered) =
        call(reqwest::Method::POST, &format!("{}/agent/v1/register", s.origin), "", Some(body)).await?;
    assert_eq!(status, 201, "{registered}");
    let agent_id = registered["agentId"].as_str().context("an agent id")?.to_string();

    let listed = ok(s, TOKEN, &["agents", "list"])?;
    assert!(
        listed.out.contains("corp-01") && listed.out.contains("inactive") && listed.out.contains("0.1.0"),
        "{}",
        listed.out
    );
    ok(s, TOKEN, &["app", "create", "--template", "on-premises", "--name", "Private SCIM"])?;
    let assigned = ok(s, TOKEN, &["app", "agents", "assign", "Private SCIM", "corp-01"])?;
    assert!(assigned.out.contains("assigned agent") && assigned.out.contains("Private SCIM"), "{}", assigned.out);
    let twice = fails(s, TOKEN, &["app", "agents", "assign", "Private SCIM", &agent_id])?;
    assert!(twice.err.contains("already assigned"), "{}", twice.err);
    let serving = ok(s, TOKEN, &["app", "agents", "list", "Private SCIM", "--json"])?.json()?;
    assert_eq!(serving["value"][0]["id"], agent_id.as_str(), "{serving}");
    let shown = ok(s, TOKEN, &["agents", "show", "corp-01"])?;
    assert!(shown.out.contains(&agent_id) && shown.out.contains("Private SCIM"), "{}", shown.out);
    let unknown = fails(s, TOKEN, &["agents", "show", "nowhere"])?;
    assert!(unknown.err.contains("idplane agents list"), "{}", unknown.err);

    ok(s, TOKEN, &["app", "agents", "unassign", "Private SCIM", "corp-01"])?;
    let empty = ok(s, TOKEN, &["app", "agents", "list", "Private SCIM"])?;
    assert!(empty.out.contains("no agents are assigned"), "{}", empty.out);
    let gone = ok(s, TOKEN, &["agents", "delete", &agent_id])?;
    assert!(gone.out.contains("no longer works"), "{}", gone.out);
    let credential = registered["credential"].as_str().unwrap_or_default();
    let (status, _) = call(reqwest::Method::POST, &format!("{}/agent/v1/rotate", s.origin), credential, None).await?;
    assert_eq!(status, 401, "a deleted agent's credential is refused");
    assert!(ok(s, TOKEN, &["agents", "list"])?.out.contains("no agents"));
    Ok(())
}

/// A SCIM target that answers every request after `delay` with an empty ListResponse, and counts them.
async fn slow_target(delay: std::time::Duration) -> Result<(String, std::sync::Arc<std::sync::atomic::AtomicUsize>)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            let body = r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": []}"#;
            ([("content-type", "application/scim+json")], body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}/scim"), hits))
}

/// Test Connection of the app through the command line: whether it passed, and what it said.
fn test_connection(s: &idplane_testkit::binary::Served) -> Result<(bool, String)> {
    let run = super::provisioning::cli_with(
        &s.origin,
        TOKEN,
        &["app", "provisioning", "test", "Private SCIM", "--json"],
        None,
        &[],
    )?;
    let answer: serde_json::Value = serde_json::from_str(&run.out).unwrap_or_default();
    Ok((run.ok && answer["success"] == true, format!("{}{}", run.out, run.err)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_outlives_a_service_killed_mid_request_and_carries_requests_after_its_restart() -> Result<()> {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let (target, hits) = slow_target(Duration::from_secs(2)).await?;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start(&data, Some(TOKEN))?;
    let listen = server.origin.trim_start_matches("http://").to_string();
    ok(&server, TOKEN, &["app", "create", "--template", "on-premises", "--name", "Private SCIM"])?;
    let secret = [("IDPLANE_SECRET_TOKEN", "a-target-token")];
    let saved = super::provisioning::cli_with(
        &server.origin,
        TOKEN,
        &["app", "provisioning", "credentials", "Private SCIM", "--tenant-url", &target],
        None,
        &secret,
    )?;
    anyhow::ensure!(saved.ok, "credentials: {}{}", saved.out, saved.err);

    // The agent: registered with the binary, running as its own process.
    let created = ok(&server, TOKEN, &["agents", "token", "create", "--json"])?.json()?;
    let config = tmp.path().join("agent.toml");
    let out = std::process::Command::new(super::BIN)
        .args(["agent", "register", "--service", &server.origin, "--config"])
        .arg(&config)
        .env("IDPLANE_AGENT_TOKEN", created["token"].as_str().context("token")?)
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(out.status.success(), "register: {said}{}", String::from_utf8_lossy(&out.stderr));
    let agent_id = said.strip_prefix("registered agent ").and_then(|r| r.split_whitespace().next()).context("id")?;
    ok(&server, TOKEN, &["app", "agents", "assign", "Private SCIM", agent_id])?;
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut agent = Killed(
        std::process::Command::new(super::BIN)
            .args(["agent", "run", "--config"])
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(std::fs::File::create(tmp.path().join("agent.log"))?))
            .spawn()?,
    );
    let passes = |s: &idplane_testkit::binary::Served, within: Duration| -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let (passed, said) = test_connection(s)?;
            if passed {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "Test Connection never passed through the agent: {said}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    passes(&server, Duration::from_secs(20))?;

    // Test Connection in flight at the target through the agent, and the service killed meanwhile.
    let before = hits.load(Ordering::SeqCst);
    let origin = server.origin.clone();
    let in_flight = std::thread::spawn(move || {
        super::provisioning::cli_with(&origin, TOKEN, &["app", "provisioning", "test", "Private SCIM"], None, &[])
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while hits.load(Ordering::SeqCst) == before {
        anyhow::ensure!(Instant::now() < deadline, "the request never reached the target");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut server = server;
    server.child.kill()?;
    server.child.wait()?;
    drop(server);
    let _ = in_flight.join();

    // Restarted on the same address and store: the agent reconnects by itself and carries requests again.
    let log = tmp.path().join("restarted.log");
    let mut restart = std::process::Command::new(super::BIN);
    restart
        .args(["serve", "--listen", listen.as_str(), "--data-dir"])
        .arg(&data)
        .env_remove("IDPLANE_BOOTSTRAP_TOKEN")
        .env("IDPLANE_LOG", "info")
        .stderr(std::process::Stdio::from(std::fs::File::create(&log)?));
    let server = idplane_testkit::binary::Served::spawn(restart, log)?;
    passes(&server, Duration::from_secs(30))?;
    anyhow::ensure!(agent.0.try_wait()?.is_none(), "the agent exited when the service went away");
    Ok(())
}
