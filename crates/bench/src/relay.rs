//! The relay benchmark: what carrying SCIM requests through one on-premises agent adds, against sending them
//! directly, on this machine (loopback only).
//!
//! The target is a real `idplane serve` process on a fresh data directory (or any SCIM base given by `--url`), with
//! users created through its SCIM API. The provisioning service runs in this process: idplane's server on a fresh
//! SQLite store, served on 127.0.0.1:0, an application from the Databricks template with its job and secrets saved
//! through the Graph API, and one agent (`idplane_agent`, the real one) registered with a registration token from the
//! Graph API, assigned to the application, and run in a task until the hub holds its session. The same requests then
//! go through the hub's relay transport (hub → WebSocket → agent → target) and through a `DirectTransport` (the
//! engine's own, default settings): `GET /Users?filter=userName eq "..."` of existing users, the request cycles send
//! most. Latency: sequential requests, the two paths alternating so that both see the same machine. Throughput: a
//! fixed time with a fixed number of requests in flight, in rounds whose order of the paths alternates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use idplane_core::token::Secret;
use idplane_provisioning::store::ProvisioningStore;
use idplane_scim_client::{DirectConfig, DirectTransport, HttpRequest, Method, SecretToken, TenantUrl, Transport, Url};
use idplane_worker::route::AgentRelay;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::histogram::Histogram;
use crate::http::{Connection, Endpoint, encode_query};
use crate::process::cpu_time;
use crate::provision::{self, DATABRICKS, TOKEN};

#[derive(clap::Args, Debug)]
pub struct RelayArgs {
    /// The idplane binary that serves the target (a fresh `idplane serve` in `--work`).
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    pub idplane: Option<PathBuf>,
    /// Instead of starting a target: a running SCIM server's base URL (http://127.0.0.1:PORT/...), whose token is
    /// `--token`.
    #[arg(long, requires = "token")]
    pub url: Option<String>,
    /// The token of `--url`.
    #[arg(long, env = "IDPLANE_BENCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A fresh directory for the target's and the service's data and the agent's files (default: a temporary one).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Users created in the target.
    #[arg(long, default_value_t = 1_000)]
    pub users: usize,
    /// Sequential requests through each path for the latency figures.
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// Unmeasured requests through each path first (connections opened, caches warm).
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Seconds each path's throughput is measured (after one second of unmeasured load).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Requests in flight while measuring throughput.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Rounds the throughput time is split into, the paths' order alternating (direct, relay; relay, direct; ...),
    /// so that a change in the machine's load weighs on both paths alike.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Replace the text between `<!-- relay:begin -->` and `<!-- relay:end -->` in this file with the report.
    #[arg(long)]
    pub doc: Option<PathBuf>,
}

const PROVISIONING: &str = "/onPremisesPublishingProfiles/provisioning";
/// Issue 13's targets: what the relay may add at p50, and the share of the direct throughput it must keep.
const TARGET_ADDED_P50_MS: f64 = 1.0;
const TARGET_THROUGHPUT_RATIO: f64 = 0.8;

/// One path's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathResult {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub latency_requests: u64,
    pub requests_per_second: f64,
    pub throughput_requests: u64,
    /// CPU time of this process (service, hub, agent and load generator) per request while measuring throughput.
    pub bench_cpu_us: Option<f64>,
    /// CPU time of the target's process per request while measuring throughput (when this run started it).
    pub target_cpu_us: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayResult {
    pub users: usize,
    pub concurrency: usize,
    pub duration_seconds: f64,
    /// Rounds of the throughput time, the paths' order alternating.
    pub rounds: usize,
    pub direct: PathResult,
    pub relay: PathResult,
    pub added_p50_ms: f64,
    pub added_p99_ms: f64,
    pub added_mean_ms: f64,
    /// Relay throughput over direct throughput.
    pub throughput_ratio: f64,
    /// `uptime`'s load averages (1, 5, 15 minutes) before and after the measurements.
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
}

impl RelayResult {
    fn errors(&self) -> u64 {
        self.direct.errors + self.relay.errors
    }
}

/// The load averages of `/proc/loadavg`.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

async fn graph(c: &mut Connection, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    provision::call(c, method, path, body).await
}

/// The provisioning service in this process, with one agent connected and assigned to an application that
/// provisions into `target`.
struct Service {
    relay: Arc<dyn Transport>,
    stop_agent: Option<tokio::sync::oneshot::Sender<()>>,
    agent: tokio::task::JoinHandle<Result<(), idplane_agent::Error>>,
    _stop_server: tokio::sync::oneshot::Sender<()>,
}

impl Service {
    async fn start(dir: &Path, target: &str, target_token: &str) -> Result<Service> {
        let (data, agent_dir) = (dir.join("service"), dir.join("agent"));
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir_all(&agent_dir)?;
        let store = Arc::new(idplane_store::SqliteStore::open(&data)?);
        let now = time::OffsetDateTime::now_utc();
        idplane_core::bootstrap::bootstrap(store.as_ref(), Some(Secret::new(TOKEN.into())), now)
            .await?
            .context("the service's store was not fresh")?;
        let (account, _) =
            idplane_core::bootstrap::defaults(store.as_ref()).await?.context("the bootstrapped account")?;
        let provisioning: Arc<dyn ProvisioningStore> = store.clone();
        idplane_provisioning::tenant::ensure_for_account(provisioning.as_ref(), &account.id, now).await?;
        let state = idplane_server::AppState::new(store.clone(), provisioning);
        let hub = state.hub.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = idplane_server::router(state);
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            idplane_server::serve::serve(listener, router, None, Default::default(), shutdown).await;
        });

        let mut c = Connection::new(Endpoint::parse(&format!("{origin}/v1.0"), Some(TOKEN))?);
        let body = json!({"displayName": "Databricks behind an agent"});
        let created =
            graph(&mut c, "POST", &format!("/applicationTemplates/{DATABRICKS}/instantiate"), Some(body)).await?;
        let sp = created["servicePrincipal"]["id"].as_str().context("service principal")?.to_string();
        let sync = format!("/servicePrincipals/{sp}/synchronization");
        graph(&mut c, "POST", &format!("{sync}/jobs"), Some(json!({"templateId": "dataBricks"}))).await?;
        let secrets = json!({"value": [{"key": "BaseAddress", "value": target},
                                       {"key": "SecretToken", "value": target_token}]});
        graph(&mut c, "PUT", &format!("{sync}/secrets"), Some(secrets)).await?;

        let token = graph(&mut c, "POST", &format!("{PROVISIONING}/registrationTokens"), Some(json!({}))).await?;
        let config_path = agent_dir.join("agent.toml");
        let registration = idplane_agent::commands::Registration {
            service: origin.parse()?,
            token: token["token"].as_str().context("registration token")?.into(),
            config_path: config_path.clone(),
            ca_bundle: None,
        };
        let config = idplane_agent::commands::register(&registration).await?;
        let agent_id = config.agent_id.clone();
        let reference = format!("https://graph.microsoft.com/v1.0{PROVISIONING}/agents/{agent_id}");
        graph(
            &mut c,
            "POST",
            &format!("{PROVISIONING}/agentGroups/{sp}/agents/$ref"),
            Some(json!({"@odata.id": reference})),
        )
        .await?;

        let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(async move {
            let shutdown = async {
                let _ = agent_stopped.await;
            };
            idplane_agent::run::run(&config_path, idplane_agent::run::RunOptions::default(), shutdown).await
        });
        // The hub has no event for a new session: look every few milliseconds, bounded.
        let started = Instant::now();
        while !hub.is_connected(&agent_id) {
            ensure!(!agent.is_finished(), "the agent stopped before connecting");
            ensure!(started.elapsed() < Duration::from_secs(30), "the agent did not connect within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let relay = hub.transport(&config.tenant_id, &sp, &TenantUrl::parse(target)?);
        Ok(Service { relay, stop_agent: Some(stop_agent), agent, _stop_server: stop_server })
    }

    /// Stops the agent (it drains and ends) and then the server.
    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop_agent.take() {
            let _ = stop.send(());
        }
        (&mut self.agent).await.context("the agent's task")?.context("the agent")?;
        Ok(())
    }
}

/// What the requests ask: the users of `user_names`, by `userName`.
struct Requests {
    urls: Vec<Url>,
    token: SecretToken,
}

impl Requests {
    fn new(base: &str, token: &str, user_names: &[String]) -> Result<Requests> {
        let urls = user_names
            .iter()
            .map(|name| {
                let filter = idplane_scim_client::eq_filter("userName", name);
                Url::parse(&format!("{base}/Users?filter={}", encode_query(&filter))).map_err(anyhow::Error::from)
            })
            .collect::<Result<_>>()?;
        Ok(Requests { urls, token: SecretToken::new(token)? })
    }

    /// The `i`th request (wrapping around the users), as the SCIM client builds a lookup.
    fn get(&self, i: usize) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: self.urls[i % self.urls.len()].clone(),
            headers: vec![
                ("accept".into(), idplane_scim_client::ACCEPT.into()),
                ("user-agent".into(), idplane_scim_client::USER_AGENT.into()),
            ],
            bearer: Some(self.token.clone()),
            body: None,
        }
    }
}

/// Sends the `i`th request through `transport`: its latency, or what was wrong with the answer (a lookup of an
/// existing user must find exactly one).
async fn exchange(transport: &dyn Transport, requests: &Requests, i: usize) -> Result<Duration, String> {
    let request = requests.get(i);
    let started = Instant::now();
    let answer = transport.send(request).await;
    let elapsed = started.elapsed();
    match answer {
        Ok(r) if r.status == 200 && found_one(&r.body) => Ok(elapsed),
        Ok(r) => Err(format!("{}: {}", r.status, String::from_utf8_lossy(&r.body))),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether a ListResponse's body says it found one resource, without parsing it (both paths pay the same).
fn found_one(body: &[u8]) -> bool {
    const ONE: &[&[u8]] = &[b"\"totalResults\":1,", b"\"totalResults\":1}", b"\"totalResults\": 1"];
    ONE.iter().any(|needle| body.windows(needle.len()).any(|w| w == *needle))
}

#[derive(Default)]
struct Tally {
    histogram: Histogram,
    total: Duration,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, outcome: Result<Duration, String>) {
        match outcome {
            Ok(d) => {
                self.histogram.record(d);
                self.total += d;
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.histogram.merge(&other.histogram);
        self.total += other.total;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    fn mean_ms(&self) -> f64 {
        let n = self.histogram.count();
        if n == 0 { 0.0 } else { Tally::ms(self.total) / n as f64 }
    }
}

/// `requests` sequential requests through each path, alternating which goes first: one tally per path.
async fn latency(direct: &dyn Transport, relay: &dyn Transport, requests: &Requests, n: usize) -> (Tally, Tally) {
    let (mut d, mut r) = (Tally::default(), Tally::default());
    for i in 0..n {
        if i % 2 == 0 {
            d.add(exchange(direct, requests, i).await);
            r.add(exchange(relay, requests, i).await);
        } else {
            r.add(exchange(relay, requests, i).await);
            d.add(exchange(direct, requests, i).await);
        }
    }
    (d, r)
}

/// `concurrency` requests in flight through `transport` for `duration` (after a second unmeasured): the tally and
/// the seconds measured.
async fn throughput(
    transport: Arc<dyn Transport>,
    requests: Arc<Requests>,
    concurrency: usize,
    duration: Duration,
) -> (Tally, f64) {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency.max(1) {
        let (transport, requests, measuring, stop) =
            (transport.clone(), requests.clone(), measuring.clone(), stop.clone());
        workers.spawn(async move {
            let mut tally = Tally::default();
            // Workers start at different users and stride over them.
            let mut i = w * 7919;
            while !stop.load(Ordering::Relaxed) {
                let outcome = exchange(transport.as_ref(), &requests, i).await;
                if measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    tally.add(outcome);
                }
                i += 31;
            }
            tally
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let mut all = Tally::default();
    while let Some(done) = workers.join_next().await {
        if let Ok(tally) = done {
            all.merge(tally);
        }
    }
    (all, seconds)
}

fn path_result(latency: &Tally, load: &Tally, seconds: f64, cpu: [Option<Duration>; 2]) -> PathResult {
    let per_request = |d: Option<Duration>| {
        d.filter(|_| load.histogram.count() > 0).map(|d| d.as_secs_f64() * 1e6 / load.histogram.count() as f64)
    };
    PathResult {
        p50_ms: Tally::ms(latency.histogram.quantile(0.5)),
        p99_ms: Tally::ms(latency.histogram.quantile(0.99)),
        mean_ms: latency.mean_ms(),
        latency_requests: latency.histogram.count(),
        requests_per_second: load.histogram.count() as f64 / seconds.max(f64::EPSILON),
        throughput_requests: load.histogram.count(),
        bench_cpu_us: per_request(cpu[0]),
        target_cpu_us: per_request(cpu[1]),
        errors: latency.errors + load.errors,
        first_error: latency.first_error.clone().or_else(|| load.first_error.clone()),
    }
}

/// CPU time of this process and of the target (when known).
fn cpu_now(target: Option<u32>) -> [Option<Duration>; 2] {
    [cpu_time(std::process::id()), target.and_then(cpu_time)]
}

fn cpu_spent(before: [Option<Duration>; 2], after: [Option<Duration>; 2]) -> [Option<Duration>; 2] {
    [0, 1].map(|i| Some(after[i]?.saturating_sub(before[i]?)))
}

/// Measures one path's throughput, with the CPU both processes spent on it.
async fn measure_throughput(
    transport: Arc<dyn Transport>,
    requests: Arc<Requests>,
    concurrency: usize,
    duration: Duration,
    target_pid: Option<u32>,
) -> (Tally, f64, [Option<Duration>; 2]) {
    // The CPU can only be read around the whole run, the unmeasured second included: it is scaled by the measured
    // part's share of the time, the load being the same throughout once the connections are open.
    let before = cpu_now(target_pid);
    let started = Instant::now();
    let (tally, seconds) = throughput(transport, requests, concurrency, duration).await;
    let spent = cpu_spent(before, cpu_now(target_pid));
    let share = seconds / started.elapsed().as_secs_f64().max(f64::EPSILON);
    (tally, seconds, spent.map(|d| d.map(|d| d.mul_f64(share))))
}

/// One path's throughput over the rounds.
#[derive(Default)]
struct Measured {
    tally: Tally,
    seconds: f64,
    cpu: [Option<Duration>; 2],
}

impl Measured {
    fn add(&mut self, (tally, seconds, cpu): (Tally, f64, [Option<Duration>; 2])) {
        self.tally.merge(tally);
        self.seconds += seconds;
        for (sum, part) in self.cpu.iter_mut().zip(cpu) {
            *sum = part.map(|p| sum.unwrap_or_default() + p);
        }
    }
}

pub async fn run(args: RelayArgs) -> Result<()> {
    let temporary = match &args.work {
        Some(_) => None,
        None => Some(tempfile::tempdir()?),
    };
    let work = match (&args.work, &temporary) {
        (Some(w), _) => w.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => bail!("no work directory"),
    };
    std::fs::create_dir_all(&work)?;
    ensure!(!work.join("service").exists(), "{} must be a fresh directory", work.display());

    // The target: started here, or given.
    let (server, base, token) = match (&args.idplane, &args.url) {
        (Some(bin), _) => {
            let server =
                provision::serve(bin, &work.join("target"), &["--worker-jobs", "0"], &work.join("target.log"))?;
            let url = provision::line(&server.banner, "account SCIM URL:").context("account SCIM URL")?.to_string();
            (Some(server), url, TOKEN.to_string())
        }
        (None, Some(url)) => (None, url.trim_end_matches('/').to_string(), args.token.clone().unwrap_or_default()),
        (None, None) => bail!("give --idplane (a target is started) or --url"),
    };
    let target_pid = server.as_ref().map(|s| s.child.id());
    let names = crate::scim::Names::new();
    let endpoint = Endpoint::parse(&base, Some(&token))?;
    crate::load::load(&endpoint, &names, args.users, 4).await?;
    let user_names: Vec<String> = (0..args.users as u64).map(|i| names.user_name(i)).collect();
    let requests = Arc::new(Requests::new(&base, &token, &user_names)?);

    let service = Service::start(&work, &base, &token).await?;
    let relay = service.relay.clone();
    let direct: Arc<dyn Transport> = Arc::new(DirectTransport::new(&DirectConfig::default())?);

    eprintln!("warming up: {} requests through each path", args.warmup);
    let (d, r) = latency(direct.as_ref(), relay.as_ref(), &requests, args.warmup).await;
    for (path, t) in [("direct", &d), ("relay", &r)] {
        if let Some(e) = &t.first_error {
            bail!("the warm-up through the {path} path failed ({} errors), the first: {e}", t.errors);
        }
    }

    let load_before = load_average();
    eprintln!("latency: {} sequential requests through each path, alternating", args.requests);
    let (d_latency, r_latency) = latency(direct.as_ref(), relay.as_ref(), &requests, args.requests).await;
    let rounds = args.rounds.max(1);
    eprintln!(
        "throughput: {} s through each path in {rounds} rounds, {} requests in flight",
        args.duration, args.concurrency
    );
    let slice = Duration::from_secs_f64((args.duration / rounds as f64).max(0.001));
    let mut paths = [Measured::default(), Measured::default()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for p in order {
            let transport = if p == 0 { direct.clone() } else { relay.clone() };
            let m = measure_throughput(transport, requests.clone(), args.concurrency, slice, target_pid).await;
            paths[p].add(m);
        }
    }
    let [d, r] = paths;
    let (d_load, d_seconds, d_cpu) = (d.tally, d.seconds, d.cpu);
    let (r_load, r_seconds, r_cpu) = (r.tally, r.seconds, r.cpu);
    let load_after = load_average();
    service.stop().await?;
    drop(server);

    let direct = path_result(&d_latency, &d_load, d_seconds, d_cpu);
    let relay = path_result(&r_latency, &r_load, r_seconds, r_cpu);
    let result = RelayResult {
        users: args.users,
        concurrency: args.concurrency,
        duration_seconds: args.duration,
        rounds,
        added_p50_ms: relay.p50_ms - direct.p50_ms,
        added_p99_ms: relay.p99_ms - direct.p99_ms,
        added_mean_ms: relay.mean_ms - direct.mean_ms,
        throughput_ratio: relay.requests_per_second / direct.requests_per_second.max(f64::EPSILON),
        direct,
        relay,
        load_before,
        load_after,
    };
    let text = markdown(&result);
    println!("{text}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(doc) = &args.doc {
        crate::report::update_doc_between(doc, "relay", &text)?;
        eprintln!("updated {}", doc.display());
    }
    if result.errors() > 0 {
        bail!("the run had {} errors", result.errors());
    }
    Ok(())
}

fn ms(x: f64) -> String {
    format!("{x:.3}")
}

fn signed_ms(x: f64) -> String {
    format!("{x:+.3}")
}

fn cpu(us: Option<f64>) -> String {
    us.map_or("?".into(), |us| format!("{us:.0}"))
}

fn loads(l: Option<[f64; 3]>) -> String {
    l.map_or("?".into(), |[a, b, c]| format!("{a:.2}, {b:.2}, {c:.2}"))
}

/// The report: latency and throughput of both paths, what the relay adds, and issue 13's targets judged.
pub fn markdown(r: &RelayResult) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} users in the target; latency of {} sequential requests per path (alternating), throughput over {} s per \
         path with {} requests in flight, in {} rounds of alternating order. Load average (1, 5, 15 min) before: {}; \
         after: {}.\n\n",
        r.users,
        r.direct.latency_requests,
        r.duration_seconds,
        r.concurrency,
        r.rounds,
        loads(r.load_before),
        loads(r.load_after)
    ));
    out.push_str(
        "| path | p50 ms | p99 ms | mean ms | req/s | CPU µs/request: bench process (service, hub, agent, client) | \
         target |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, p) in [("direct (DirectTransport)", &r.direct), ("relay through one agent", &r.relay)] {
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            ms(p.p50_ms),
            ms(p.p99_ms),
            ms(p.mean_ms),
            crate::report::thousands(p.requests_per_second),
            cpu(p.bench_cpu_us),
            cpu(p.target_cpu_us)
        ));
    }
    out.push_str(&format!(
        "| added by the relay | {} | {} | {} | {:.0} % of direct | {} | |\n\n",
        signed_ms(r.added_p50_ms),
        signed_ms(r.added_p99_ms),
        signed_ms(r.added_mean_ms),
        r.throughput_ratio * 100.0,
        match (r.relay.bench_cpu_us, r.direct.bench_cpu_us) {
            (Some(a), Some(b)) => format!("{:+.0}", a - b),
            _ => "?".into(),
        }
    ));
    out.push_str("| target (issue 13) | figure | |\n|---|---|---|\n");
    out.push_str(&format!(
        "| added latency at p50 ≤ {TARGET_ADDED_P50_MS} ms | {} ms | {} |\n",
        signed_ms(r.added_p50_ms),
        crate::report::verdict(r.added_p50_ms <= TARGET_ADDED_P50_MS)
    ));
    out.push_str(&format!(
        "| throughput through one agent ≥ {:.0} % of direct | {:.0} % | {} |\n",
        TARGET_THROUGHPUT_RATIO * 100.0,
        r.throughput_ratio * 100.0,
        crate::report::verdict(r.throughput_ratio >= TARGET_THROUGHPUT_RATIO)
    ));
    for (name, p) in [("direct", &r.direct), ("relay", &r.relay)] {
        if p.errors > 0 {
            out.push_str(&format!(
                "\n⚠ {name}: {} errors, the first: {}\n",
                p.errors,
                p.first_error.as_deref().unwrap_or("?")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_must_find_exactly_one() {
        assert!(found_one(br#"{"schemas":[],"totalResults":1,"Resources":[]}"#));
        assert!(found_one(br#"{"Resources":[],"totalResults":1}"#));
        assert!(!found_one(br#"{"totalResults":10,"Resources":[]}"#));
        assert!(!found_one(br#"{"totalResults":0,"Resources":[]}"#));
    }

    #[test]
    fn the_report_judges_the_targets() {
        let path = |p50: f64, rps: f64| PathResult {
            p50_ms: p50,
            p99_ms: p50 * 2.0,
            mean_ms: p50,
            latency_requests: 10,
            requests_per_second: rps,
            ..Default::default()
        };
        let mut r = RelayResult {
            direct: path(0.5, 1000.0),
            relay: path(1.2, 850.0),
            added_p50_ms: 0.7,
            throughput_ratio: 0.85,
            ..Default::default()
        };
        let text = markdown(&r);
        assert!(text.contains("| +0.700 ms | met |"), "{text}");
        assert!(text.contains("| 85 % | met |"), "{text}");
        r.added_p50_ms = 1.5;
        r.throughput_ratio = 0.5;
        r.relay.errors = 3;
        r.relay.first_error = Some("502".into());
        let text = markdown(&r);
        assert!(text.contains("| +1.500 ms | **missed** |"), "{text}");
        assert!(text.contains("| 50 % | **missed** |"), "{text}");
        assert!(text.contains("relay: 3 errors, the first: 502"), "{text}");
    }
}
