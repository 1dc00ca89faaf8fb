//! `idplane-bench`: the benchmark harness of idplane (docs/benchmarks.md). It drives any SCIM 2.0 server over HTTP,
//! so the same load runs against idplane and against a peer:
//!
//! - `run` loads N users and groups through the SCIM API, then drives each operation with C concurrent keep-alive
//!   connections for a fixed time and prints requests per second and p50/p99 latency; given the server's pid it
//!   reads its peak memory, and given a restart command it kills the server while POSTs are in flight, restarts it,
//!   times start-up and checks that every acknowledged POST survived.
//! - `provision` times a provisioning job's initial and incremental cycles between two idplane processes.
//! - `relay` measures what the relay through one on-premises agent adds to a SCIM request, against the direct path.
//! - `report` turns the JSON results of several runs into the markdown tables of docs/benchmarks.md.

mod console;
mod drive;
mod histogram;
mod http;
mod load;
mod process;
mod provision;
mod relay;
mod report;
mod scim;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::drive::Op;
use crate::http::Endpoint;
use crate::report::RunResult;

/// The allocator of the deployed `idplane` binary: `relay` runs the service, the hub and the agent in this process,
/// and their CPU per request should be what `idplane serve` and `idplane agent` spend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "idplane-bench", version, about = "Benchmark harness for SCIM 2.0 servers (idplane and peers)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load a server and measure every operation.
    Run(Box<RunArgs>),
    /// Time a provisioning job's initial and incremental cycles between two idplane processes.
    Provision(Box<provision::ProvisionArgs>),
    /// Time the admin console's pages at 100,000 users on each side.
    Console(Box<console::ConsoleArgs>),
    /// Measure what the relay through one on-premises agent adds (latency, throughput) against the direct path.
    Relay(Box<relay::RelayArgs>),
    /// Print the markdown report of result files written by `run --json` (and update a document's report).
    Report {
        /// Result files.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Replace the text between `<!-- bench:begin -->` and `<!-- bench:end -->` in this file with the report.
        #[arg(long)]
        doc: Option<PathBuf>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The SCIM base URL (http://host:port/path), such as idplane's account SCIM URL.
    #[arg(long)]
    url: String,
    /// Bearer token.
    #[arg(long, env = "IDPLANE_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Users to load.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Concurrent connections while measuring.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds each operation is measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load before each read operation.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Concurrent requests while loading.
    #[arg(long, default_value_t = 2)]
    load_concurrency: usize,
    /// Threads of the load generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Operations to measure, in order (default: all).
    #[arg(long, value_delimiter = ',')]
    ops: Vec<Op>,
    /// The server's name in the report (`idplane`, or the peer's name).
    #[arg(long, default_value = report::IDPLANE)]
    server: String,
    /// The server's store in the report (SQLite, PostgreSQL, memory).
    #[arg(long, default_value = "SQLite")]
    store: String,
    /// A shell command run after loading, before measuring (scripts/bench: `ANALYZE` on PostgreSQL, which
    /// autovacuum would run a minute later).
    #[arg(long)]
    after_load: Option<String>,
    /// The server's process id, for its peak resident memory.
    #[arg(long)]
    pid: Option<u32>,
    /// After the operations, SIGKILL the server (--pid) while POSTs are in flight and restart it with this shell
    /// command (which must start it on the same store and address; prefix it with `exec`).
    #[arg(long, requires = "pid")]
    restart: Option<String>,
    /// The path on the server's origin that answers 200 once it serves again.
    #[arg(long, default_value = "/readyz")]
    ready_path: String,
    /// Where the restarted server's output goes.
    #[arg(long, default_value = "restarted-server.log")]
    restart_log: PathBuf,
    /// Where to write the restarted server's pid.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
            runtime.block_on(run(*args))
        }
        Command::Provision(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            runtime.block_on(provision::run(*args))
        }
        Command::Console(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(console::run(*args))
        }
        Command::Relay(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            runtime.block_on(relay::run(*args))
        }
        Command::Report { results, doc } => {
            let runs = report::read(&results)?;
            let text = report::markdown(&runs);
            println!("{text}");
            if let Some(doc) = doc {
                report::update_doc(&doc, &text)?;
                eprintln!("updated {}", doc.display());
            }
            let errors = report::errors(&runs);
            if !errors.is_empty() {
                bail!("runs with errors: {}", errors.join(", "));
            }
            Ok(())
        }
    }
}

async fn run(args: RunArgs) -> Result<()> {
    let endpoint = Endpoint::parse(&args.url, args.token.as_deref())?;
    let names = scim::Names::new();
    let loaded = load::load(&endpoint, &names, args.users, args.load_concurrency).await?;
    if let Some(command) = &args.after_load {
        let status = std::process::Command::new("sh").arg("-c").arg(command).status()?;
        if !status.success() {
            bail!("the command after loading failed: {status}");
        }
    }
    let shared = Arc::new(drive::Shared::new(endpoint, names, loaded.users, loaded.large_group));
    let ops = if args.ops.is_empty() { Op::ALL.to_vec() } else { args.ops.clone() };
    let duration = Duration::from_secs_f64(args.duration.max(0.001));
    let warmup = Duration::from_secs_f64(args.warmup.max(0.0));
    let mut results = Vec::new();
    for op in ops {
        let r = drive::run(shared.clone(), op, args.concurrency, duration, warmup, args.pid).await;
        let cpu = |us: Option<f64>| us.map_or("?".to_string(), |us| format!("{us:.0}"));
        eprintln!(
            "{:<26} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>7} requests  CPU/request: server {} µs, client {} µs{}",
            op.title(),
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.requests,
            cpu(r.server_cpu_us),
            cpu(r.client_cpu_us),
            if r.errors > 0 {
                format!("  {} ERRORS, first: {}", r.errors, r.first_error.as_deref().unwrap_or("?"))
            } else {
                String::new()
            }
        );
        results.push(r);
    }
    let peak_rss_mb = args.pid.and_then(process::peak_rss_mb);
    if let Some(mb) = peak_rss_mb {
        eprintln!("peak RSS of the server: {mb:.0} MB");
    }
    let kill = match (&args.restart, args.pid) {
        (Some(command), Some(pid)) => {
            let restart = process::Restart {
                pid,
                command: command.clone(),
                log: args.restart_log.clone(),
                pid_file: args.pid_file.clone(),
                ready_path: args.ready_path.clone(),
            };
            let k =
                process::kill_and_restart(shared.clone(), &restart, args.concurrency).await.context("the kill test")?;
            eprintln!(
                "killed while POSTing: {} of {} acknowledged users found after restart; ready {:.0} ms after start",
                k.survived, k.acknowledged, k.startup_ms
            );
            Some(k)
        }
        _ => None,
    };
    let result = RunResult {
        server: args.server.clone(),
        store: args.store.clone(),
        users: args.users,
        concurrency: args.concurrency,
        duration_seconds: duration.as_secs_f64(),
        load: loaded.report,
        ops: results,
        peak_rss_mb,
        kill,
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // With --json the results go to `report`; without, this run's tables are the output.
    if args.json.is_none() {
        println!("{}", report::markdown(std::slice::from_ref(&result)));
    }
    let errors = report::errors(std::slice::from_ref(&result));
    if !errors.is_empty() {
        bail!("the run had errors: {}", errors.join(", "));
    }
    Ok(())
}
