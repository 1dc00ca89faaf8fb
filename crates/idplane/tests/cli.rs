//! The real `idplane` binary, end to end: `serve` on 127.0.0.1:0 with a temporary store, its first-start output, the
//! admin commands (run while the server runs), token scoping, the request log, SIGTERM and restart.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use idplane_testkit::binary::{self, Served, call};
use serde_json::{Value, json};

#[path = "cli/agent_netns.rs"]
mod agent_netns;
#[path = "cli/agents.rs"]
mod agents;
#[path = "cli/cycle_kill.rs"]
mod cycle_kill;
#[path = "cli/mail.rs"]
mod mail;
#[path = "cli/netns.rs"]
mod netns;
#[path = "cli/provisioning.rs"]
mod provisioning;
#[path = "cli/provisioning_logs.rs"]
mod provisioning_logs;

const BIN: &str = env!("CARGO_BIN_EXE_idplane");

/// `idplane serve` on 127.0.0.1:0, through the test kit.
struct Server;

impl Server {
    fn start(data_dir: &Path, bootstrap_token: Option<&str>) -> Result<Served> {
        Self::start_with(data_dir, bootstrap_token, &[])
    }

    fn start_with(data_dir: &Path, bootstrap_token: Option<&str>, extra: &[&std::ffi::OsStr]) -> Result<Served> {
        Served::start(BIN, data_dir, bootstrap_token, extra)
    }
}

fn admin(data_dir: &Path, args: &[&str]) -> Result<Value> {
    binary::admin(BIN, data_dir, args)
}

#[tokio::test]
async fn serve_bootstraps_prints_working_urls_and_token_and_stops_on_sigterm() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    // No auth cache: a revocation through the CLI takes effect at once (the bound of the cache is tested in-process,
    // with a clock the test moves).
    let server = Server::start_with(&data, None, &["--auth-cache-seconds".as_ref(), "0".as_ref()])?;
    let account_url = server.value("account SCIM URL:").context("account URL")?;
    let workspace_url = server.value("workspace SCIM URL:").context("workspace URL")?;
    let workspace_url = workspace_url.split_whitespace().next().unwrap_or_default().to_string();
    let token = server.value("admin token:").context("token")?;
    assert!(token.starts_with("dapi") && token.len() == 68, "a random token is printed once: {token}");
    assert!(account_url.starts_with(&format!("{}/api/2.1/accounts/", server.origin)), "{account_url}");
    assert!(account_url.ends_with("/scim/v2"), "{account_url}");

    let (status, user) =
        call(reqwest::Method::POST, &format!("{workspace_url}/Users"), &token, Some(json!({"userName": "cli@x.com"})))
            .await?;
    assert_eq!(status, 201, "{user}");
    let (status, list) = call(
        reqwest::Method::GET,
        &format!("{account_url}/Users?filter=userName%20eq%20%22cli%40x.com%22"),
        &token,
        None,
    )
    .await?;
    assert_eq!((status, list["totalResults"].clone()), (200, json!(1)));
    let (status, _) = call(reqwest::Method::GET, &format!("{workspace_url}/Users"), "wrong", None).await?;
    assert_eq!(status, 401);

    // Admin commands work on the live store.
    let acme = admin(&data, &["account", "create", "--name", "acme"])?;
    let acme_id = acme["account_id"].as_str().context("account id")?.to_string();
    let ws = admin(&data, &["workspace", "create", "--account", &acme_id, "--name", "w", "--no-identity-federation"])?;
    assert_eq!(ws["identity_federation"], false);
    let ws_id = ws["workspace_id"].as_i64().context("workspace id")?;
    let ws_token = admin(&data, &["token", "create", "--account", &acme_id, "--workspace", &ws_id.to_string()])?;
    let ws_token = ws_token["token_value"].as_str().context("token value")?.to_string();
    let acct_token = admin(&data, &["token", "create", "--account", &acme_id, "--comment", "acme"])?;
    let acct_token = acct_token["token_value"].as_str().context("token value")?.to_string();

    let ws_base = format!("{}/api/2.0/preview/scim/v2", server.origin);
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{ws_base}/Users"),
        &ws_token,
        Some(json!({"userName": "local@acme.com"})),
    )
    .await?;
    assert_eq!(status, 201, "a workspace token addresses its own workspace: {body}");
    let acme_scim = format!("{}/api/2.0/accounts/{acme_id}/scim/v2", server.origin);
    let (_, list) = call(reqwest::Method::GET, &format!("{acme_scim}/Users"), &acct_token, None).await?;
    assert_eq!(list["totalResults"], 0, "a workspace-local user is not an account user: {list}");
    let (status, _) = call(reqwest::Method::GET, &format!("{acme_scim}/Users"), &token, None).await?;
    assert_eq!(status, 403, "the default account's token cannot read acme");
    let (status, _) = call(reqwest::Method::GET, &format!("{account_url}/Users"), &acct_token, None).await?;
    assert_eq!(status, 403, "acme's token cannot read the default account");
    let (status, _) = call(reqwest::Method::GET, &format!("{acme_scim}/Users"), &ws_token, None).await?;
    assert_eq!(status, 403, "a workspace token cannot use the account API");

    // An account SCIM token: account SCIM only; listed without its value; revocable.
    let scim = admin(&data, &["token", "rotate-scim", "--account", &acme_id])?;
    let scim_token = scim["token_value"].as_str().context("scim token")?.to_string();
    assert_eq!(call(reqwest::Method::GET, &format!("{acme_scim}/Users"), &scim_token, None).await?.0, 200);
    assert_eq!(call(reqwest::Method::GET, &format!("{ws_base}/Users"), &scim_token, None).await?.0, 403);
    let listed = admin(&data, &["token", "list", "--account", &acme_id])?;
    let kinds: Vec<&str> = listed.as_array().into_iter().flatten().filter_map(|t| t["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["admin", "admin", "scim"], "{listed}");
    assert!(!listed.to_string().contains(&scim_token), "values are never listed");
    let scim_id = scim["token_info"]["token_id"].as_str().context("token id")?;
    admin(&data, &["token", "delete", "--id", scim_id])?;
    assert_eq!(call(reqwest::Method::GET, &format!("{acme_scim}/Users"), &scim_token, None).await?.0, 401);

    let status = server.terminate()?;
    assert!(status.success(), "SIGTERM is a graceful stop: {status}");
    let log = std::fs::read_to_string(data.with_extension("log"))?;
    assert!(log.contains("status=201") && log.contains("/Users"), "one line per request: {log}");
    for secret in [&token, &ws_token, &acct_token, &scim_token] {
        assert!(!log.contains(secret.as_str()), "the log must never hold a token");
    }

    // A restart keeps everything and does not bootstrap again.
    let server = Server::start(&data, None)?;
    assert!(
        server.value("admin token:").is_some_and(|v| v.contains("as printed at first start")),
        "{:?}",
        server.banner
    );
    let account_url = server.value("account SCIM URL:").context("account URL")?;
    let (status, list) = call(
        reqwest::Method::GET,
        &format!("{account_url}/Users?filter=userName%20eq%20%22cli%40x.com%22"),
        &token,
        None,
    )
    .await?;
    assert_eq!((status, list["totalResults"].clone()), (200, json!(1)), "the user and the token survived the restart");
    Ok(())
}

#[tokio::test]
async fn the_bootstrap_token_variable_becomes_the_admin_token() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let token = "dapi-chosen-by-a-script-0123456789";
    let server = Server::start(&data, Some(token))?;
    assert!(server.banner.iter().all(|l| !l.contains(token)), "a token the caller chose is not echoed");
    let config: Value = reqwest::get(format!("{}/.well-known/databricks-config", server.origin)).await?.json().await?;
    let account = config["account_id"].as_str().context("account_id")?;
    assert_eq!(config["host_type"], "WORKSPACE_HOST");
    let (status, me) =
        call(reqwest::Method::GET, &format!("{}/api/2.0/preview/scim/v2/Me", server.origin), token, None).await?;
    assert_eq!((status, me["userName"].clone()), (200, json!("admin")));
    let url = format!("{}/api/2.0/accounts/{account}/scim/v2/Users", server.origin);
    assert_eq!(call(reqwest::Method::GET, &url, token, None).await?.0, 200, "account admin too");
    Ok(())
}

/// A backup taken while the server takes writes holds every write acknowledged before the backup began, and a
/// server started on the restored store serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_acknowledged_write() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let token = "dapi-backup-test-token";
    let server = Server::start(&data, Some(token))?;
    let users = format!("{}/api/2.0/preview/scim/v2/Users", server.origin);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (users, acknowledged, stop) = (users.clone(), acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 5_000 {
                let name = format!("load{i}@x.com");
                let (status, _) = call(reqwest::Method::POST, &users, token, Some(json!({"userName": name}))).await?;
                if status == 201 {
                    acknowledged.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push(name);
                }
                i += 1;
            }
            anyhow::Ok(i)
        })
    };
    // Wait for the load to be under way, however slow the machine.
    let count = |a: &std::sync::Mutex<Vec<String>>| a.lock().map(|v| v.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&acknowledged) < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: Vec<String> = acknowledged.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    let backup = tmp.path().join("backup.db");
    let out = Command::new(BIN).args(["backup", "--to"]).arg(&backup).arg("--data-dir").arg(&data).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // And let it go on after the backup.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&acknowledged) < before.len() + 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await??;
    assert!(before.len() >= 20, "the load was running: {} writes before the backup", before.len());
    assert!(written > before.len(), "and went on during it");
    server.terminate()?;

    let restored = tmp.path().join("restored");
    let out = Command::new(BIN).args(["restore", "--from"]).arg(&backup).arg("--data-dir").arg(&restored).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start(&restored, None)?;
    let users = format!("{}/api/2.0/preview/scim/v2/Users", server.origin);
    let (_, list) = call(
        reqwest::Method::GET,
        &format!("{users}?filter=userName%20sw%20%22load%22&attributes=userName"),
        token,
        None,
    )
    .await?;
    let present: std::collections::HashSet<&str> =
        list["Resources"].as_array().into_iter().flatten().filter_map(|u| u["userName"].as_str()).collect();
    let missing: Vec<&String> = before.iter().filter(|n| !present.contains(n.as_str())).collect();
    assert!(missing.is_empty(), "acknowledged before the backup but missing from it: {missing:?}");
    // A file that is not a backup is refused, and nothing is installed.
    let junk = tmp.path().join("junk.db");
    std::fs::write(&junk, b"not a database")?;
    let elsewhere = tmp.path().join("elsewhere");
    let out = Command::new(BIN).args(["restore", "--from"]).arg(&junk).arg("--data-dir").arg(&elsewhere).output()?;
    assert!(!out.status.success());
    assert!(!elsewhere.join("idplane.db").exists());
    Ok(())
}

/// What a writer of the durability test was told (acknowledged) or only tried, for one user.
#[derive(Debug, Default, Clone)]
struct Written {
    id: String,
    user_name: String,
    /// The displayName last acknowledged, and whether a later change was sent without an answer.
    display_name: &'static str,
    renaming: bool,
    member: bool,
    joining: bool,
    deleted: bool,
    deleting: bool,
}

/// One writer of the durability test: creates users, adds each to the group, renames it, deletes every fifth, until
/// the server stops answering. Records every answer it got.
async fn durability_writer(base: String, token: &'static str, group: String, n: usize) -> Vec<Written> {
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, url: String, body: Option<Value>| {
        let mut req = client.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        async move {
            let res = req.send().await.ok()?;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            Some((status, body))
        }
    };
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let mut written = Vec::new();
    for i in 0.. {
        let user_name = format!("durable{n}-{i}@x.com");
        let body = json!({"userName": user_name, "displayName": "v0"});
        let Some((201, created)) = send(reqwest::Method::POST, format!("{base}/Users"), Some(body)).await else {
            break;
        };
        let id = created["id"].as_str().unwrap_or_default().to_string();
        let mut w = Written { id: id.clone(), user_name, display_name: "v0", ..Written::default() };
        w.joining = true;
        let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
        let answer = send(reqwest::Method::PATCH, format!("{base}/Groups/{group}"), Some(add)).await;
        if !matches!(answer, Some((200 | 204, _))) {
            written.push(w);
            break;
        }
        (w.joining, w.member) = (false, true);
        w.renaming = true;
        let rename = patch(json!([{"op": "replace", "path": "displayName", "value": "v1"}]));
        if !matches!(send(reqwest::Method::PATCH, format!("{base}/Users/{id}"), Some(rename)).await, Some((200, _))) {
            written.push(w);
            break;
        }
        (w.renaming, w.display_name) = (false, "v1");
        if i % 5 == 4 {
            w.deleting = true;
            if !matches!(send(reqwest::Method::DELETE, format!("{base}/Users/{id}"), None).await, Some((204, _))) {
                written.push(w);
                break;
            }
            (w.deleting, w.deleted) = (false, true);
        }
        written.push(w);
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_write_load_loses_no_acknowledged_write_and_leaves_the_store_consistent() -> Result<()> {
    const TOKEN: &str = "dapi-durability-test-token";
    const WRITERS: usize = 6;
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let mut server = Server::start_with(&data, Some(TOKEN), &["--rate-limit-per-second".as_ref(), "0".as_ref()])?;
    // At the account level, where DELETE deletes (in a workspace it removes an account user from the workspace).
    let base = server.value("account SCIM URL:").context("account SCIM URL")?;
    let (status, group) =
        call(reqwest::Method::POST, &format!("{base}/Groups"), TOKEN, Some(json!({"displayName": "durable"}))).await?;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().context("group id")?.to_string();

    let writers: Vec<_> =
        (0..WRITERS).map(|n| tokio::spawn(durability_writer(base.clone(), TOKEN, group_id.clone(), n))).collect();
    // Kill the server once the load is well under way, however slow the machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, list) = call(reqwest::Method::GET, &format!("{base}/Users?count=1"), TOKEN, None).await?;
        if list["totalResults"].as_u64().unwrap_or(0) >= 300 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.child.kill()?; // SIGKILL: no graceful anything.
    server.child.wait()?;
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await?);
    }
    drop(server);
    assert!(written.len() >= 100, "the load was running: {} users acknowledged", written.len());

    let server = Server::start(&data, None)?;
    let base = server.value("account SCIM URL:").context("account SCIM URL")?;
    let (status, group) = call(reqwest::Method::GET, &format!("{base}/Groups/{group_id}"), TOKEN, None).await?;
    assert_eq!(status, 200, "{group}");
    let members: std::collections::HashSet<String> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_str().map(str::to_string))
        .collect();
    for w in &written {
        let (status, user) = call(reqwest::Method::GET, &format!("{base}/Users/{}", w.id), TOKEN, None).await?;
        if w.deleted {
            assert_eq!(status, 404, "{w:?} was deleted, and acknowledged: {user}");
            assert!(!members.contains(&w.id), "a deleted user stays no member: {w:?}");
            continue;
        }
        if status == 404 && w.deleting {
            continue; // the delete was sent and may have been committed before the kill
        }
        assert_eq!(status, 200, "acknowledged, then lost: {w:?}");
        assert_eq!(user["userName"], w.user_name.as_str());
        let shown = user["displayName"].as_str().unwrap_or_default();
        assert!(shown == w.display_name || (w.renaming && shown == "v1"), "{w:?}: displayName {shown}");
        let in_group = members.contains(&w.id);
        let listed = user["groups"].as_array().into_iter().flatten().any(|g| g["value"] == group_id.as_str());
        assert_eq!(in_group, listed, "the group's members and the user's groups agree: {w:?} {user}");
        assert!(in_group || !w.member, "an acknowledged membership was lost: {w:?}");
        assert!(!in_group || w.member || w.joining, "a membership nobody asked for: {w:?}");
    }
    // Every member exists, and no userName is taken twice.
    let (_, all) =
        call(reqwest::Method::GET, &format!("{base}/Users?count=10000&attributes=userName"), TOKEN, None).await?;
    let names: Vec<&str> =
        all["Resources"].as_array().into_iter().flatten().filter_map(|u| u["userName"].as_str()).collect();
    let ids: std::collections::HashSet<&str> =
        all["Resources"].as_array().into_iter().flatten().filter_map(|u| u["id"].as_str()).collect();
    assert_eq!(all["totalResults"].as_u64(), Some(names.len() as u64), "the count agrees with the listing");
    let unique: std::collections::HashSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "no userName twice");
    let dangling: Vec<&String> = members.iter().filter(|m| !ids.contains(m.as_str())).collect();
    assert!(dangling.is_empty(), "members that are no users: {dangling:?}");
    if let Some(w) = written.iter().find(|w| !w.deleted && !w.deleting) {
        let (status, _) =
            call(reqwest::Method::POST, &format!("{base}/Users"), TOKEN, Some(json!({"userName": w.user_name})))
                .await?;
        assert_eq!(status, 409, "the uniqueness index survived");
    }
    eprintln!("durability: {} users acknowledged by {WRITERS} writers before kill -9; all there", written.len());
    Ok(())
}

/// A certificate for 127.0.0.1 and localhost, as PEM (certificate, key).
fn certificate(name: &str) -> Result<(String, String)> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string(), name.to_string()])?;
    Ok((generated.cert.pem(), generated.key_pair.serialize_pem()))
}

/// A client that trusts only `cert_pem`.
fn client_trusting(cert_pem: &str) -> Result<reqwest::Client> {
    let root = reqwest::Certificate::from_pem(cert_pem.as_bytes())?;
    Ok(reqwest::Client::builder().tls_built_in_root_certs(false).add_root_certificate(root).build()?)
}

#[tokio::test]
async fn https_with_a_real_handshake_and_a_certificate_reloaded_on_sighup() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (cert_path, key_path) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let (first_cert, first_key) = certificate("first.test")?;
    std::fs::write(&cert_path, &first_cert)?;
    std::fs::write(&key_path, &first_key)?;
    let token = "dapi-tls-test-token";
    let args = [
        std::ffi::OsStr::new("--tls-cert"),
        cert_path.as_os_str(),
        std::ffi::OsStr::new("--tls-key"),
        key_path.as_os_str(),
    ];
    let server = Server::start_with(&tmp.path().join("data"), Some(token), &args)?;
    assert!(server.origin.starts_with("https://127.0.0.1:"), "{}", server.origin);
    let me = format!("{}/api/2.0/preview/scim/v2/Me", server.origin);

    // A client that checks the certificate against the one it trusts.
    let first = client_trusting(&first_cert)?;
    let r = first.get(&me).bearer_auth(token).send().await?;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await?;
    assert!(body["meta"]["location"].as_str().is_some_and(|l| l.starts_with("https://")), "{body}");
    let (second_cert, second_key) = certificate("second.test")?;
    let second = client_trusting(&second_cert)?;
    assert!(second.get(&me).bearer_auth(token).send().await.is_err(), "a client that does not trust it refuses it");

    // A renewed certificate is served after SIGHUP, without a restart.
    std::fs::write(&cert_path, &second_cert)?;
    std::fs::write(&key_path, &second_key)?;
    Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A new client each time: a fresh connection, a fresh handshake.
        if client_trusting(&second_cert)?.get(&me).bearer_auth(token).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the renewed certificate was not served within 10 s of SIGHUP");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(client_trusting(&first_cert)?.get(&me).send().await.is_err(), "the old certificate is gone");
    // Plain HTTP to the TLS port gets no answer.
    let plain = server.origin.replacen("https://", "http://", 1);
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err());
    let status = server.terminate()?;
    assert!(status.success());
    Ok(())
}

/// Settings come from flags, then IDPLANE_* variables, then the config file, then defaults; `idplane config` says
/// which, with secrets masked; the file's settings reach `serve`; an unknown key is refused.
#[tokio::test]
async fn settings_layer_flags_over_variables_over_the_config_file() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join("idplane.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9999\"\nrate_limit_per_second = 0.5\nrate-limit-burst = 1\nrequest_timeout_seconds = 30\n\
         database_url = \"postgres://app:s3cret@db/idplane\"\nheader_read_timeout_seconds = 5\n",
    )?;
    let out = Command::new(BIN)
        .args(["config", "--json", "--request-timeout-seconds", "10", "--config"])
        .arg(&file)
        .env("IDPLANE_RATE_LIMIT_BURST", "7")
        .env("IDPLANE_NOT_A_SETTING", "x")
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settings: Value = serde_json::from_slice(&out.stdout)?;
    let get = |name: &str| settings.as_array().into_iter().flatten().find(|s| s["setting"] == name).cloned();
    let pair = |name: &str| get(name).map(|s| (s["value"].clone(), s["source"].clone()));
    assert_eq!(pair("listen"), Some((json!("127.0.0.1:9999"), json!("file"))));
    assert_eq!(pair("rate-limit-burst"), Some((json!("7"), json!("environment"))), "a variable beats the file");
    assert_eq!(pair("request-timeout-seconds"), Some((json!("10"), json!("flag"))), "a flag beats both");
    assert_eq!(pair("data-dir").map(|p| p.1), Some(json!("default")));
    assert_eq!(pair("audit-retention-days"), Some((json!("365"), json!("default"))));
    assert_eq!(pair("provisioning-log-retention-days"), Some((json!("30"), json!("default"))));
    assert_eq!(pair("header-read-timeout-seconds"), Some((json!("5"), json!("file"))));
    assert_eq!(pair("idle-timeout-seconds"), Some((json!("60"), json!("default"))));
    assert_eq!(pair("max-connections"), Some((json!("512"), json!("default"))));
    assert_eq!(pair("database-url").map(|p| p.0), Some(json!("postgres://app:***@db/idplane")), "secrets masked");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown environment variable IDPLANE_NOT_A_SETTING"));

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "rate_limit = 5\n")?;
    let out = Command::new(BIN).args(["config", "--config"]).arg(&bad).output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting `rate_limit`"));

    // The file reaches serve: its rate limit (0.5/s, burst 1) answers the second request with 429.
    let served = tmp.path().join("served.toml");
    std::fs::write(&served, "rate_limit_per_second = 0.5\nrate_limit_burst = 1\n")?;
    let token = "dapi-config-test";
    let server = Server::start_with(
        &tmp.path().join("data"),
        Some(token),
        &[std::ffi::OsStr::new("--config"), served.as_os_str()],
    )?;
    let me = format!("{}/api/2.0/preview/scim/v2/Me", server.origin);
    assert_eq!(call(reqwest::Method::GET, &me, token, None).await?.0, 200);
    assert_eq!(call(reqwest::Method::GET, &me, token, None).await?.0, 429);
    Ok(())
}

/// `idplane audit list` reads the log while the server runs: the server's changes with their request id, the command
/// line's own as `cli`; `audit purge` removes what is past its retention, or before a given time.
#[tokio::test]
async fn audit_list_and_purge_work_on_the_live_store() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let token = "dapi-audit-cli-test";
    let server = Server::start(&data, Some(token))?;
    let url = format!("{}/api/2.0/preview/scim/v2/Users", server.origin);
    let res = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .header("x-request-id", "cli-audit-1")
        .body(json!({"userName": "audited@x.com"}).to_string())
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 201);
    let user: Value = res.json().await?;
    let user_id = user["id"].as_str().context("user id")?;

    let listed = admin(&data, &["audit", "list", "--resource-id", user_id])?;
    let entries = listed.as_array().context("a JSON array")?;
    // Created in the account and assigned to the federated workspace.
    let kinds: Vec<(&Value, &Value)> = entries.iter().map(|e| (&e["resource_type"], &e["operation"])).collect();
    assert_eq!(kinds, [(&json!("Assignment"), &json!("assign")), (&json!("User"), &json!("create"))], "{listed}");
    assert!(entries.iter().all(|e| e["request_id"] == "cli-audit-1" && e["actor"]["kind"] == "token"), "{listed}");

    let acme = admin(&data, &["account", "create", "--name", "acme"])?;
    let acme_id = acme["account_id"].as_str().context("account id")?.to_string();
    admin(&data, &["token", "create", "--account", &acme_id])?;
    let acme_log = admin(&data, &["audit", "list", "--account", &acme_id])?;
    let ops: Vec<(&Value, &Value, &Value)> = acme_log
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (&e["resource_type"], &e["operation"], &e["actor"]["kind"]))
        .collect();
    assert_eq!(
        ops,
        [(&json!("Token"), &json!("create"), &json!("cli")), (&json!("Account"), &json!("create"), &json!("cli"))]
    );
    let recent = admin(&data, &["audit", "list", "--since", "1h", "--operation", "create", "--limit", "2"])?;
    assert_eq!(recent.as_array().map(Vec::len), Some(2));
    let human =
        Command::new(BIN).args(["audit", "list", "--resource-type", "user", "--data-dir"]).arg(&data).output()?;
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("create User") && human.contains("request cli-audit-1"), "{human}");
    let bad = Command::new(BIN).args(["audit", "list", "--since", "yesterday", "--data-dir"]).arg(&data).output()?;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since must be"));

    let kept = admin(&data, &["audit", "purge"])?;
    assert_eq!(kept["removed"], 0, "nothing is a year old: {kept}");
    let forever = admin(&data, &["audit", "purge", "--audit-retention-days", "0"])?;
    assert_eq!((forever["removed"].clone(), forever["before"].clone()), (json!(0), Value::Null));
    let all = admin(&data, &["audit", "list", "--limit", "1000"])?.as_array().map(Vec::len).unwrap_or_default();
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1)).unix_timestamp() * 1000;
    let purged = admin(&data, &["audit", "purge", "--before", &tomorrow.to_string()])?;
    assert_eq!(purged["removed"], all, "{purged}");
    assert_eq!(admin(&data, &["audit", "list"])?, json!([]));
    drop(server);
    Ok(())
}

/// Only `serve` creates a store: an admin command pointed at a directory without one (the relative default, from
/// another directory) refuses, says where it looked and how to point it at the right store, and creates nothing.
#[test]
fn admin_commands_refuse_to_create_a_store() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let commands: [&[&str]; 10] = [
        &["account", "list"],
        &["account", "create", "--name", "acme"],
        &["workspace", "list", "--account", "a"],
        &["token", "list", "--account", "a"],
        &["token", "create", "--account", "a"],
        &["token", "rotate-scim", "--account", "a"],
        &["token", "delete", "--id", "x"],
        &["audit", "list"],
        &["audit", "purge"],
        &["backup", "--to", "copy.db"],
    ];
    let expected = std::path::absolute(tmp.path().join("idplane-data"))?;
    for args in commands {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(tmp.path())
            .env_remove("IDPLANE_DATA_DIR")
            .env_remove("IDPLANE_DATABASE_URL")
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "idplane {args:?} must fail: {stderr}");
        assert!(stderr.contains(&expected.display().to_string()), "idplane {args:?} names where it looked: {stderr}");
        for hint in ["--data-dir", "IDPLANE_DATA_DIR", "--database-url"] {
            assert!(stderr.contains(hint), "idplane {args:?} says how to point it elsewhere ({hint}): {stderr}");
        }
        assert!(!tmp.path().join("idplane-data").exists(), "idplane {args:?} created a store");
    }
    // A mistyped --data-dir is refused the same way.
    let out = Command::new(BIN).args(["account", "list", "--data-dir"]).arg(tmp.path().join("typo")).output()?;
    assert!(!out.status.success());
    assert!(!tmp.path().join("typo").exists());
    Ok(())
}

/// Lifetimes and grace periods past 100 years are refused with the limit named, not a crash.
#[tokio::test]
async fn token_lifetimes_past_the_maximum_are_refused_naming_the_limit() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let server = Server::start(&data, Some("dapi-lifetime-test"))?;
    let account = admin(&data, &["account", "list"])?[0]["account_id"].as_str().context("account id")?.to_string();
    for args in [
        ["token", "create", "--account", &account, "--lifetime-seconds", "9223372036854775807"],
        ["token", "create", "--account", &account, "--lifetime-seconds", "3155760001"],
        ["token", "rotate-scim", "--account", &account, "--grace-seconds", "9223372036854775807"],
    ] {
        let out = Command::new(BIN).args(args).arg("--data-dir").arg(&data).output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "idplane {args:?} fails as a refusal, not a panic: {stderr}");
        assert!(stderr.contains("3155760000") && stderr.contains("100 years"), "idplane {args:?}: {stderr}");
    }
    let made = admin(&data, &["token", "create", "--account", &account, "--lifetime-seconds", "3155760000"])?;
    assert!(made["token_info"]["expiry_time"].as_i64().is_some_and(|t| t > 0), "{made}");
    drop(server);
    Ok(())
}

/// `restore` refuses while a server runs on the data directory (the writes it acknowledged afterwards would be lost
/// at its next start), and so does a second `serve`; once the server stops, the restore goes through.
#[tokio::test]
async fn restore_refuses_while_a_server_holds_the_data_directory() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    let token = "dapi-restore-lock-test";
    let server = Server::start(&data, Some(token))?;
    let backup = tmp.path().join("backup.db");
    let out = Command::new(BIN).args(["backup", "--to"]).arg(&backup).arg("--data-dir").arg(&data).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = Command::new(BIN).args(["restore", "--from"]).arg(&backup).arg("--data-dir").arg(&data).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "restore under a running server must fail: {stderr}");
    assert!(stderr.contains("server is running") && stderr.contains("stop it first"), "{stderr}");
    assert!(stderr.contains(&std::path::absolute(&data)?.display().to_string()), "names the directory: {stderr}");
    assert!(!data.join("idplane.db.before-restore").exists(), "nothing was replaced");
    let users = format!("{}/api/2.0/preview/scim/v2/Users", server.origin);
    let (status, _) = call(reqwest::Method::POST, &users, token, Some(json!({"userName": "after@x.com"}))).await?;
    assert_eq!(status, 201, "the server goes on serving its store");

    let second = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("IDPLANE_BOOTSTRAP_TOKEN")
        .output()?;
    assert!(!second.status.success(), "a second server on the same directory is refused");
    assert!(String::from_utf8_lossy(&second.stderr).contains("server is running"));

    assert!(server.terminate()?.success());
    let out = Command::new(BIN).args(["restore", "--from"]).arg(&backup).arg("--data-dir").arg(&data).output()?;
    assert!(out.status.success(), "once the server stopped: {}", String::from_utf8_lossy(&out.stderr));
    assert!(data.join("idplane.db.before-restore").exists());
    Ok(())
}

/// The admin token printed at first start reads its account's metrics; `--metrics-listen` serves every series, the
/// process's own included, without a token, on an address of its own.
#[tokio::test]
async fn metrics_for_the_admin_token_and_on_the_internal_address() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let args = [std::ffi::OsStr::new("--metrics-listen"), std::ffi::OsStr::new("127.0.0.1:0")];
    let server = Server::start_with(&tmp.path().join("data"), None, &args)?;
    let token = server.value("admin token:").context("token")?;
    let res = reqwest::Client::new().get(format!("{}/metrics", server.origin)).bearer_auth(&token).send().await?;
    assert_eq!(res.status().as_u16(), 200, "the README's admin token is an administrative token");
    assert!(!res.text().await?.contains("idplane_store_duration_seconds"), "the process's series are internal");
    let internal = server.value("metrics (no token):").context("the internal metrics URL in the banner")?;
    let res = reqwest::get(&internal).await?;
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await?.contains("idplane_store_duration_seconds_count"));
    let elsewhere = internal.replace("/metrics", "/api/2.0/preview/scim/v2/Users");
    assert_eq!(reqwest::get(&elsewhere).await?.status().as_u16(), 404, "the internal address serves metrics only");
    assert!(server.terminate()?.success());
    Ok(())
}

/// The admin commands behave alike: every one that takes `--account` says "no account" for one that does not exist;
/// `backup` and `restore` print JSON with `--json`; the first-start banner comes out in one piece, with no log line
/// (migrations, or anything else on stderr) inside it when both streams go to one terminal.
#[tokio::test]
async fn admin_commands_are_consistent_and_the_banner_is_whole() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    // Both streams into one file, as a terminal shows them.
    let merged = std::fs::File::create(tmp.path().join("merged"))?;
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("IDPLANE_BOOTSTRAP_TOKEN")
        .env("IDPLANE_LOG", "debug")
        .stdout(Stdio::from(merged.try_clone()?))
        .stderr(Stdio::from(merged))
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(tmp.path().join("merged"))?;
        if text.contains("(shown once") {
            break text;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("no banner within 30 s: {text}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| l.starts_with("idplane is serving on")).context("banner start")?;
    let last = lines.iter().position(|l| l.contains("(shown once")).context("banner end")?;
    let banner = &lines[first..=last];
    assert!(banner[1..].iter().all(|l| l.starts_with("  ")), "nothing inside the banner: {banner:#?}");
    assert!(
        lines[..first].iter().any(|l| l.contains("migration")),
        "the migrations of the first start are logged before the banner: {text}"
    );

    for args in [
        ["audit", "list", "--account", "nosuch"],
        ["workspace", "list", "--account", "nosuch"],
        ["token", "list", "--account", "nosuch"],
        ["token", "create", "--account", "nosuch"],
    ] {
        let out = Command::new(BIN).args(args).arg("--data-dir").arg(&data).output()?;
        assert!(!out.status.success(), "idplane {args:?} must fail");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no account nosuch"), "idplane {args:?}");
    }
    let backup = tmp.path().join("copy.db");
    let out =
        Command::new(BIN).args(["backup", "--json", "--to"]).arg(&backup).arg("--data-dir").arg(&data).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(printed["backup"], backup.display().to_string(), "{printed}");
    child.kill()?;
    child.wait()?;
    let restored = tmp.path().join("restored");
    let out = Command::new(BIN)
        .args(["restore", "--json", "--from"])
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored)
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(printed["restored"], backup.display().to_string(), "{printed}");
    Ok(())
}
