//! Issue 13 end to end, in Linux network namespaces: provisioning into a SCIM endpoint the provisioning service cannot
//! reach, through on-premises agents. Real `idplane` processes only, each started with `ip netns exec`:
//!
//! - in **corp** (the private network): the target, `idplane serve` over HTTPS on corp's own 127.0.0.1 (a
//!   certificate for `localhost` from the test's CA), and two agents;
//! - in **cloud**: the provisioning service, `idplane serve` over HTTPS on cloud's veth address (a certificate for
//!   that address), and every command line the admin runs.
//!
//! The service's own 127.0.0.1 is another host's: without an agent, Test Connection fails there (connection
//! refused, and the message says where). With two agents registered, running inside corp and assigned, Test
//! Connection, the initial cycle and an incremental cycle reach the target; one agent killed (SIGKILL) in the middle
//! of a cycle loses nothing and duplicates nothing; with both stopped, the job reports
//! `HybridIdentityServiceNoActiveAgents`. The test reads the target from inside corp (a thread moved into its
//! namespace), over HTTPS with the test's CA. Nothing listens on the host's network.
//!
//! Without root (or without `ip`), the namespaces cannot be made: the test says so loudly and returns, unless
//! `IDPLANE_REQUIRE_NETNS=1` (CI), where that fails it. `scripts/test` runs it only where `scripts/netns check`
//! says it can.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use idplane_testkit::binary::Served;
use reqwest::Method;
use serde_json::{Value, json};

use super::BIN;
use super::netns::{CLOUD_ADDR, Network, Process, Side};
use super::provisioning::Run;

const TOKEN: &str = "dapi-netns-provisioning-service";
const APP: &str = "Private SCIM";
const USERS: usize = 300;
const TEAMS: usize = 10;
/// Teams assigned to the application from the start; the others are assigned for the cycle an agent dies in.
const ASSIGNED_FIRST: usize = 8;
/// The most any one wait of the test lasts.
const WAIT: Duration = Duration::from_secs(30);

/// Set (to 1) where the test must run: not being able to make namespaces is then a failure.
const REQUIRE: &str = "IDPLANE_REQUIRE_NETNS";

#[test]
#[ignore = "needs Linux network namespaces (root and iproute2): scripts/test runs it with --run-ignored where it can"]
fn agents_in_a_corp_netns_provision_a_private_target_the_service_cannot_reach() -> Result<()> {
    let net = match Network::create() {
        Ok(net) => net,
        Err(why) if std::env::var(REQUIRE).as_deref() == Ok("1") => {
            bail!("{REQUIRE}=1 and the network namespaces of this test cannot be created: {why}")
        }
        Err(why) => {
            // Straight to the standard error, past the test harness's capture of what a passing test prints.
            let stars = "*".repeat(78);
            let _ = writeln!(
                std::io::stderr(),
                "\n{stars}\nSKIPPED (not passed): the agent end-to-end test in network namespaces: {why}\n{stars}\n"
            );
            return Ok(());
        }
    };
    let tmp = tempfile::tempdir()?;
    let result = scenario(&net, tmp.path());
    if result.is_err() {
        eprintln!("{}", logs(tmp.path()));
    }
    result
}

/// The last lines of every process's log, for a failure's report.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        // The successes of the test's own polling say nothing.
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains("idplane::request: status=2")).collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        out.push_str(&format!("--- the last lines of {} ---\n{tail}\n", f.display()));
    }
    out
}

/// The test's CA and the certificates it signs, as PEM files in the test's directory.
struct Pki {
    ca: PathBuf,
    ca_pem: String,
    /// The service's certificate and key: an IP address SAN of cloud's veth address.
    service: (PathBuf, PathBuf),
    /// The target's: `localhost`.
    target: (PathBuf, PathBuf),
}

impl Pki {
    fn new(dir: &Path) -> Result<Pki> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "idplane netns test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate()?;
        let ca = params.self_signed(&ca_key)?;
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca.pem())?;
        let leaf = |name: &str, san: String| -> Result<(PathBuf, PathBuf)> {
            let mut params = CertificateParams::new(vec![san.clone()])?;
            params.distinguished_name.push(DnType::CommonName, san);
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &ca, &ca_key)?;
            let (cert_path, key_path) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
            std::fs::write(&cert_path, cert.pem())?;
            std::fs::write(&key_path, key.serialize_pem())?;
            Ok((cert_path, key_path))
        };
        let service = leaf("service", CLOUD_ADDR.to_string())?;
        let target = leaf("target", "localhost".into())?;
        Ok(Pki { ca: ca_path, ca_pem: ca.pem(), service, target })
    }
}

/// `idplane serve` over HTTPS inside `side`, listening on `listen`, its scheduler polling often.
fn serve(
    net: &Network,
    side: Side,
    listen: &str,
    (cert, key): &(PathBuf, PathBuf),
    data: &Path,
    bootstrap_token: Option<&str>,
) -> Result<Served> {
    let log = data.with_extension("log");
    let mut cmd = net.command(side, BIN);
    cmd.args(["serve", "--listen", listen, "--worker-poll-seconds", "0.2", "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .arg("--data-dir")
        .arg(data)
        .env_remove("IDPLANE_BOOTSTRAP_TOKEN")
        .env("IDPLANE_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log)?));
    if let Some(t) = bootstrap_token {
        cmd.env("IDPLANE_BOOTSTRAP_TOKEN", t);
    }
    let served = Served::spawn(cmd, log)?;
    ensure!(
        served.origin.starts_with("https://"),
        "{side:?}'s server does not serve HTTPS: {:?} (log: {})",
        served.banner,
        served.log.display()
    );
    Ok(served)
}

/// A client that trusts only the test's CA.
fn https(ca_pem: &str) -> Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())?;
    Ok(reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(20))
        .build()?)
}

/// Sends a request with `token`: the status and the body as JSON (`Null` when empty).
async fn send(client: &reqwest::Client, method: Method, url: &str, token: &str, body: Option<Value>) -> Result<Value> {
    let mut req = client.request(method.clone(), url).bearer_auth(token);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let res = req.send().await.with_context(|| format!("{method} {url}"))?;
    let status = res.status();
    let text = res.text().await?;
    ensure!(status.is_success(), "{method} {url}: {status} {text}");
    Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
}

/// What the directory holds, as the test changed it: what the target must show after a cycle.
struct Directory {
    /// Per user (`u000@contoso.com`...): display name and whether the account is enabled.
    users: Vec<(String, String, bool)>,
    /// Per team (`Team 0`...): its members, by index into `users`.
    teams: Vec<BTreeSet<usize>>,
    /// The teams assigned to the application.
    assigned: BTreeSet<usize>,
}

fn upn(i: usize) -> String {
    format!("u{i:03}@contoso.com")
}

fn team(t: usize) -> String {
    format!("Team {t}")
}

impl Directory {
    /// Users `i` in team `i % TEAMS`; the first teams assigned.
    fn new() -> Directory {
        let users = (0..USERS).map(|i| (upn(i), format!("User {i}"), true)).collect();
        let teams = (0..TEAMS).map(|t| (0..USERS).filter(|i| i % TEAMS == t).collect()).collect();
        Directory { users, teams, assigned: (0..ASSIGNED_FIRST).collect() }
    }

    /// The users the target must have (the members of assigned teams): user name, display name, active.
    fn expected_users(&self) -> BTreeMap<String, (String, bool)> {
        self.assigned
            .iter()
            .flat_map(|t| self.teams[*t].iter())
            .map(|i| (self.users[*i].0.clone(), (self.users[*i].1.clone(), self.users[*i].2)))
            .collect()
    }

    /// The groups the target must have, with the user names of their members that must be there (the enabled
    /// ones) and of those that may (the disabled ones: the engine drops a disabled user from a group whose members
    /// it exports, as a full cycle does, and leaves it where it does not, as an incremental cycle that only
    /// disabled it does).
    fn expected_groups(&self) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
        self.assigned
            .iter()
            .map(|t| {
                let (enabled, disabled): (Vec<usize>, Vec<usize>) =
                    self.teams[*t].iter().partition(|i| self.users[**i].2);
                (team(*t), (enabled.into_iter().map(upn).collect(), disabled.into_iter().map(upn).collect()))
            })
            .collect()
    }

    /// The three import files of `idplane directory import`: users, teams, and each team's members.
    fn write_imports(&self, dir: &Path) -> Result<(PathBuf, PathBuf, Vec<PathBuf>)> {
        let mut users = String::from(
            "version:v1.0\nName [displayName] Required,User name [userPrincipalName] Required,Initial password \
             [passwordProfile] Required,Block sign in (Yes/No) [accountEnabled] Required,First name [givenName],\
             Last name [surname]\n",
        );
        for (i, (upn, display, _)) in self.users.iter().enumerate() {
            users.push_str(&format!("{display},{upn},Secret-pass-{i},No,User,N{i}\n"));
        }
        let mut teams = String::from(
            "version:v1.0\nName [displayName] Required,Group type (Security/Microsoft 365) [groupType],Mail \
             nickname [mailNickname]\n",
        );
        let mut members = Vec::new();
        for (t, m) in self.teams.iter().enumerate() {
            teams.push_str(&format!("{},Security,team{t}\n", team(t)));
            let path = dir.join(format!("team{t}.csv"));
            let rows: String = m.iter().map(|i| format!("{}\n", upn(*i))).collect();
            std::fs::write(
                &path,
                format!("version:v1.0\nMember object ID or user principal name [memberObjectIdOrUpn] Required\n{rows}"),
            )?;
            members.push(path);
        }
        let (u, g) = (dir.join("users.csv"), dir.join("teams.csv"));
        std::fs::write(&u, users)?;
        std::fs::write(&g, teams)?;
        Ok((u, g, members))
    }
}

/// One registered agent running inside corp.
struct Agent {
    process: Process,
    id: String,
    log: PathBuf,
}

impl Agent {
    /// How many requests the agent has relayed so far (its debug log has a line for each).
    fn relayed(&self) -> Result<usize> {
        Ok(std::fs::read_to_string(&self.log)?.lines().filter(|l| l.contains(" relayed ")).count())
    }
}

/// The test's view of both sides: the network, the CA, the service (in cloud) and the target (in corp).
struct World<'a> {
    net: &'a Network,
    dir: &'a Path,
    pki: Pki,
    service: Served,
    /// The private target's account SCIM URL as the agents see it (`https://localhost:PORT/...`) and its token.
    tenant_url: String,
    target_token: String,
    /// The application's service principal and its job.
    sp: String,
    job: String,
}

impl World<'_> {
    /// `idplane ARGS... --url SERVICE --token TOKEN --ca-bundle CA` inside cloud, with `env`.
    fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
        let out = self
            .net
            .command(Side::Cloud, BIN)
            .args(args)
            .args(["--url", &self.service.origin, "--token", TOKEN, "--ca-bundle"])
            .arg(&self.pki.ca)
            .env_remove("IDPLANE_URL")
            .env_remove("IDPLANE_TOKEN")
            .env_remove("IDPLANE_SECRET_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()?;
        Ok(Run {
            ok: out.status.success(),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// A command line that must succeed.
    fn cli(&self, args: &[&str]) -> Result<Run> {
        let run = self.cli_with(args, &[])?;
        ensure!(run.ok, "idplane {args:?} failed: {}{}", run.out, run.err);
        Ok(run)
    }

    /// A Graph request to the service, from inside cloud; the body of a success.
    fn graph(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/v1.0{path}", self.service.origin);
        let client = https(&self.pki.ca_pem)?;
        self.net.within(Side::Cloud, async move { send(&client, method, &url, TOKEN, body).await })
    }

    /// The provisioning job's `synchronizationStatus`.
    fn status(&self) -> Result<Value> {
        let job = self.graph(
            Method::GET,
            &format!("/servicePrincipals/{}/synchronization/jobs/{}", self.sp, self.job),
            None,
        )?;
        Ok(job["status"].clone())
    }

    /// Test Connection through the command line: `Ok(())` or the failure's code and message.
    fn test_connection(&self) -> Result<Result<(), (String, String)>> {
        let run = self.cli_with(&["app", "provisioning", "test", APP, "--json"], &[])?;
        let answer = run.json()?;
        if run.ok && answer["success"] == true {
            return Ok(Ok(()));
        }
        let field = |k: &str| answer[k].as_str().unwrap_or_default().to_string();
        Ok(Err((field("code"), field("message"))))
    }

    /// Starts a cycle now (`idplane app provisioning start`) and waits for it to end; its `lastExecution`.
    fn cycle(&self) -> Result<Value> {
        let before = self.status()?["lastExecution"]["activityIdentifier"].clone();
        self.cli(&["app", "provisioning", "start", APP])?;
        self.cycle_after(&before)
    }

    /// Waits for a cycle other than `before` to have ended; its `lastExecution`.
    fn cycle_after(&self, before: &Value) -> Result<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = self.status()?;
            let last = &status["lastExecution"];
            if !last.is_null() && last["activityIdentifier"] != *before && status["progress"] == json!([]) {
                return Ok(last.clone());
            }
            ensure!(Instant::now() < deadline, "no cycle ended within {WAIT:?} of its start: {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Registers an agent inside corp (a registration token from the command line, its own config directory,
    /// trusting the test's CA for the service and for the target) and runs it.
    fn agent(&self, n: usize) -> Result<Agent> {
        let token = self.cli(&["agents", "token", "create", "--json"])?.json()?;
        let token = token["token"].as_str().context("a registration token")?.to_string();
        let config = self.dir.join(format!("agent{n}")).join("agent.toml");
        let service = self.service.origin.clone();
        let out = self
            .net
            .command(Side::Corp, BIN)
            .args(["agent", "register", "--service", &service, "--config"])
            .arg(&config)
            .arg("--ca-bundle")
            .arg(&self.pki.ca)
            .env("IDPLANE_AGENT_TOKEN", &token)
            .stdin(Stdio::null())
            .output()?;
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        ensure!(out.status.success(), "agent {n} did not register: {said}{}", String::from_utf8_lossy(&out.stderr));
        let id = said
            .strip_prefix("registered agent ")
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("no agent id in: {said}"))?
            .to_string();
        // The target's certificate is signed by the test's CA: the agent trusts it for tenant URLs.
        let mut settings: toml::Table = toml::from_str(&std::fs::read_to_string(&config)?)?;
        settings.insert("target_ca_bundles".into(), toml::Value::Array(vec![self.pki.ca.display().to_string().into()]));
        std::fs::write(&config, toml::to_string(&settings)?)?;
        let log = self.dir.join(format!("agent{n}.log"));
        let child = self
            .net
            .command(Side::Corp, BIN)
            .args(["agent", "run", "--config"])
            .arg(&config)
            .env("IDPLANE_LOG", "info,idplane_agent=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log)?))
            .spawn()?;
        Ok(Agent { process: Process { child, what: format!("agent {n}") }, id, log })
    }

    /// Waits until every agent of `ids` is listed `active` by `idplane agents list`.
    fn await_active(&self, ids: &[&str]) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let listed = self.cli(&["agents", "list", "--json"])?.json()?;
            let active: BTreeSet<&str> = listed["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["status"] == "active")
                .filter_map(|a| a["id"].as_str())
                .collect();
            if ids.iter().all(|id| active.contains(id)) {
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "the agents {ids:?} were not all active within {WAIT:?}: {listed}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The target as it is, read from inside corp over HTTPS (the test's CA): users and groups with members.
    fn target(&self) -> Result<(Vec<Value>, Vec<Value>)> {
        let client = https(&self.pki.ca_pem)?;
        let (base, token) = (self.tenant_url.clone(), self.target_token.clone());
        self.net.within(Side::Corp, async move {
            let mut listed = Vec::new();
            for kind in ["Users", "Groups"] {
                let mut all: Vec<Value> = Vec::new();
                loop {
                    let url = format!("{base}/{kind}?startIndex={}&count=100", all.len() + 1);
                    let page = send(&client, Method::GET, &url, &token, None).await?;
                    let resources = page["Resources"].as_array().cloned().unwrap_or_default();
                    let total = page["totalResults"].as_u64().unwrap_or_default() as usize;
                    let empty = resources.is_empty();
                    all.extend(resources);
                    if empty || all.len() >= total {
                        break;
                    }
                }
                listed.push(all);
            }
            // A listing may leave members out: each group is read on its own.
            let mut groups = Vec::new();
            for g in &listed[1] {
                let id = g["id"].as_str().unwrap_or_default();
                groups.push(send(&client, Method::GET, &format!("{base}/Groups/{id}"), &token, None).await?);
            }
            Ok((std::mem::take(&mut listed[0]), groups))
        })
    }

    /// The target holds exactly what the directory says: every user and group once (none duplicated by userName
    /// or displayName), with its display name, active flag and members.
    fn check(&self, d: &Directory, when: &str) -> Result<()> {
        let (users, groups) = self.target()?;
        let ours = |name: &str| name.ends_with("@contoso.com");
        let mut by_name: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for u in &users {
            let name = u["userName"].as_str().unwrap_or_default().to_string();
            if ours(&name) {
                by_name.entry(name).or_default().push(u);
            }
        }
        let twice: Vec<&String> = by_name.iter().filter(|(_, v)| v.len() > 1).map(|(k, _)| k).collect();
        ensure!(twice.is_empty(), "{when}: users in the target more than once: {twice:?}");
        let expected = d.expected_users();
        let missing: Vec<&String> = expected.keys().filter(|k| !by_name.contains_key(*k)).collect();
        ensure!(missing.is_empty(), "{when}: {} users missing from the target: {missing:?}", missing.len());
        let extra: Vec<&String> = by_name.keys().filter(|k| !expected.contains_key(*k)).collect();
        ensure!(extra.is_empty(), "{when}: users in the target that are not assigned: {extra:?}");
        for (name, (display, active)) in &expected {
            let u = by_name[name][0];
            ensure!(
                u["displayName"] == display.as_str() && u["active"].as_bool().unwrap_or(true) == *active,
                "{when}: {name} should be {display:?} active={active}: {u}"
            );
        }
        let names: BTreeMap<&str, &str> =
            users.iter().filter_map(|u| Some((u["id"].as_str()?, u["userName"].as_str()?))).collect();
        let mut seen: BTreeMap<String, Vec<BTreeSet<String>>> = BTreeMap::new();
        for g in &groups {
            let name = g["displayName"].as_str().unwrap_or_default();
            if !name.starts_with("Team ") {
                continue;
            }
            let members = g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["value"].as_str())
                .map(|id| names.get(id).map_or(format!("(unknown id {id})"), |n| n.to_string()))
                .collect();
            seen.entry(name.to_string()).or_default().push(members);
        }
        let twice: Vec<&String> = seen.iter().filter(|(_, v)| v.len() > 1).map(|(k, _)| k).collect();
        ensure!(twice.is_empty(), "{when}: groups in the target more than once: {twice:?}");
        let expected = d.expected_groups();
        ensure!(
            seen.keys().eq(expected.keys()),
            "{when}: the target's groups {:?}, expected {:?}",
            seen.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        for (name, (members, disabled)) in &expected {
            let got = &seen[name][0];
            let missing: Vec<&String> = members.difference(got).collect();
            let extra: Vec<&String> = got.iter().filter(|m| !members.contains(*m) && !disabled.contains(*m)).collect();
            ensure!(
                missing.is_empty() && extra.is_empty(),
                "{when}: {name}'s members differ; missing {missing:?}, extra {extra:?}"
            );
        }
        Ok(())
    }
}

fn scenario(net: &Network, dir: &Path) -> Result<()> {
    let pki = Pki::new(dir)?;
    // The private target: corp's loopback, where the service (whose own 127.0.0.1 is cloud's) cannot reach it.
    let target = serve(net, Side::Corp, "127.0.0.1:0", &pki.target, &dir.join("target"), None)?;
    let account_url = target.value("account SCIM URL:").context("the target's account SCIM URL")?;
    let target_token = target.value("admin token:").context("the target's admin token")?;
    let tenant_url = account_url.replacen("https://127.0.0.1:", "https://localhost:", 1);
    ensure!(tenant_url.starts_with("https://localhost:"), "{account_url}");
    let port = tenant_url.split(':').nth(2).and_then(|p| p.split('/').next()).unwrap_or_default().to_string();
    // The provisioning service, on cloud's side of the pair.
    let service = serve(net, Side::Cloud, &format!("{CLOUD_ADDR}:0"), &pki.service, &dir.join("service"), Some(TOKEN))?;
    let mut w = World { net, dir, pki, service, tenant_url, target_token, sp: String::new(), job: String::new() };

    // The directory, from Entra's bulk-import files, and the application with its job.
    let mut d = Directory::new();
    let (users, teams, members) = d.write_imports(dir)?;
    w.cli(&["directory", "import", "users", &users.to_string_lossy()])?;
    w.cli(&["directory", "import", "groups", &teams.to_string_lossy()])?;
    for (t, file) in members.iter().enumerate() {
        w.cli(&["directory", "import", "members", &team(t), &file.to_string_lossy()])?;
    }
    let made = w.cli(&["app", "create", "--template", "on-premises", "--name", APP, "--json"])?.json()?;
    w.sp = made["servicePrincipal"]["id"].as_str().context("the service principal")?.to_string();
    w.job = made["job"]["id"].as_str().context("the job")?.to_string();
    let secret = [("IDPLANE_SECRET_TOKEN", w.target_token.as_str())];
    let saved = w.cli_with(&["app", "provisioning", "credentials", APP, "--tenant-url", &w.tenant_url], &secret)?;
    ensure!(saved.ok, "saving the credentials: {}{}", saved.out, saved.err);
    for t in &d.assigned {
        w.cli(&["app", "assign", APP, "--group", &team(*t)])?;
    }

    // No agent: the service tries the tenant URL itself, on its own loopback, and says where it failed.
    let Err((code, message)) = w.test_connection()? else {
        bail!("Test Connection succeeded without an agent: the service reached corp's loopback")
    };
    ensure!(
        message.contains("connection refused") && message.contains(&format!("localhost:{port}")),
        "Test Connection without an agent must say where it failed ({code}): {message}"
    );
    ensure!(code != "HybridIdentityServiceNoAgentsAssigned", "an application without agents goes direct: {message}");

    // Two agents inside corp, registered, running and assigned, until both are active.
    let mut a = w.agent(1)?;
    let mut b = w.agent(2)?;
    for agent in [&a, &b] {
        w.cli(&["app", "agents", "assign", APP, &agent.id])?;
    }
    w.await_active(&[&a.id, &b.id])?;
    if let Err((code, message)) = w.test_connection()? {
        bail!("Test Connection through the agents failed: {code}: {message}");
    }

    // The initial cycle, through the agents, which share its requests.
    let last = w.cycle()?;
    ensure!(last["state"] == "Succeeded", "the initial cycle: {last}");
    w.check(&d, "after the initial cycle")?;
    let carried = (a.relayed()?, b.relayed()?);
    ensure!(carried.0 > 0 && carried.1 > 0, "both active agents carry the job's requests: {carried:?} relayed");

    // Changes: renames, disabled accounts, a member moved between assigned teams, one joining from a team that is
    // not assigned (so that the incremental cycle creates it).
    for i in [3, 13, 23, 33, 43] {
        d.users[i].1 = format!("Renamed {i}");
        w.cli(&["directory", "user", "update", &upn(i), "--set", &format!("displayName={}", d.users[i].1)])?;
    }
    for i in [5, 15, 25, 35, 45] {
        d.users[i].2 = false;
        w.cli(&["directory", "user", "update", &upn(i), "--set", "accountEnabled=false"])?;
    }
    w.cli(&["directory", "group", "remove-member", &team(1), &upn(11)])?;
    w.cli(&["directory", "group", "add-member", &team(2), &upn(11)])?;
    w.cli(&["directory", "group", "add-member", &team(3), &upn(8)])?;
    d.teams[1].remove(&11);
    d.teams[2].insert(11);
    d.teams[3].insert(8);
    let last = w.cycle()?;
    ensure!(last["state"] == "Succeeded", "the incremental cycle: {last}");
    w.check(&d, "after the incremental cycle")?;

    // Enough work for a cycle to be seen running: every provisioned user renamed, the other teams assigned (their
    // users and groups created). One agent is killed once the cycle's progress shows it under way.
    let ids = w.graph(Method::GET, "/users?$select=id,userPrincipalName&$top=999", None)?;
    let ids: BTreeMap<String, String> = ids["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| Some((u["userPrincipalName"].as_str()?.to_string(), u["id"].as_str()?.to_string())))
        .collect();
    let renames: Vec<(String, String)> =
        d.expected_users().keys().filter_map(|name| ids.get(name).map(|id| (id.clone(), name.clone()))).collect();
    ensure!(renames.len() > 200, "{} users to rename", renames.len());
    let origin = w.service.origin.clone();
    let mut patches = Vec::new();
    for (id, name) in &renames {
        let i: usize = name[1..4].parse()?;
        d.users[i].1 = format!("User {i} again");
        patches.push((format!("{origin}/v1.0/users/{id}"), json!({"displayName": d.users[i].1})));
    }
    let client = https(&w.pki.ca_pem)?;
    net.within(Side::Cloud, async move {
        let mut sending = tokio::task::JoinSet::new();
        for (url, body) in patches {
            let client = client.clone();
            sending.spawn(async move { send(&client, Method::PATCH, &url, TOKEN, Some(body)).await });
            // 16 in flight at most.
            if sending.len() >= 16 {
                sending.join_next().await.transpose()?.transpose()?;
            }
        }
        while let Some(sent) = sending.join_next().await {
            sent??;
        }
        Ok(())
    })?;
    for t in ASSIGNED_FIRST..TEAMS {
        w.cli(&["app", "assign", APP, "--group", &team(t)])?;
        d.assigned.insert(t);
    }
    let before = w.status()?["lastExecution"]["activityIdentifier"].clone();
    let relayed_before = (a.relayed()?, b.relayed()?);
    w.cli(&["app", "provisioning", "start", APP])?;
    let deadline = Instant::now() + WAIT;
    loop {
        let status = w.status()?;
        ensure!(
            status["lastExecution"]["activityIdentifier"] == before,
            "the cycle ended before its progress showed it running: {status}"
        );
        if status["progress"].as_array().is_some_and(|p| !p.is_empty()) {
            break;
        }
        ensure!(Instant::now() < deadline, "the cycle did not show progress within {WAIT:?}: {status}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The agent that carried more of this cycle dies, so that it surely had requests in flight.
    let during = (a.relayed()? - relayed_before.0, b.relayed()? - relayed_before.1);
    if during.1 > during.0 {
        std::mem::swap(&mut a, &mut b);
    }
    a.process.kill()?;
    let mut last = w.cycle_after(&before)?;
    ensure!(last["error"].is_null(), "the cycle an agent died in goes on with the other agent: {last}");
    // What the dead agent had in flight and could not be retried elsewhere is escrowed; a full cycle (a restart of
    // the watermark) re-matches them before sending anything again.
    for _ in 0..3 {
        if last["countEscrowed"] == 0 && w.status()?["countEscrowed"].is_null() {
            break;
        }
        let before = last["activityIdentifier"].clone();
        w.cli(&["app", "provisioning", "restart", APP, "--scope", "Watermark"])?;
        last = w.cycle_after(&before)?;
    }
    ensure!(last["countEscrowed"] == 0, "objects still escrowed after the agent's death: {last}");
    w.check(&d, "after an agent was killed in the middle of a cycle")?;

    // Both agents stopped: nothing can carry the job's requests.
    b.process.terminate(WAIT)?;
    let Err((code, message)) = w.test_connection()? else { bail!("Test Connection succeeded with no agent running") };
    ensure!(
        code == "HybridIdentityServiceNoActiveAgents",
        "Test Connection with both agents stopped: {code}: {message}"
    );
    let last = w.cycle()?;
    ensure!(last["error"]["code"] == "HybridIdentityServiceNoActiveAgents", "a cycle with both agents stopped: {last}");
    Ok(())
}
