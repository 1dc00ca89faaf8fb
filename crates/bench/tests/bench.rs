//! The harness works: `idplane-bench run` against a real idplane server (the HTTP API on 127.0.0.1:0 over a fresh
//! SQLite store) at a tiny size, a fraction of a second per operation; every operation must report results and no
//! error, and `report` must turn the result into the tables. No timing is asserted.

use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use idplane_server::ratelimit::{Limiter, RateLimit};
use idplane_testkit::{App, Backend, TOKEN};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_idplane-bench");

/// A served idplane on a fresh store (through the test kit), and its account SCIM URL.
async fn spawn_idplane() -> Result<(App, idplane_testkit::app::Listening, String)> {
    // As the benchmark runs it: one token sends far more than the default rate.
    let app = App::on(Backend::Sqlite, |state| {
        state.limiter = Arc::new(Limiter::new(RateLimit { per_second: 0.0, burst: 1.0 }));
    })
    .await?;
    let served = app.listen().await?;
    let url = format!("{}{}", served.origin(), app.acct());
    Ok((app, served, url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_runs_without_errors_against_idplane() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (_app, _served, url) = spawn_idplane().await?;
    let results = dir.path().join("results.json");
    let mut run = Command::new(BIN);
    run.args(["run", "--url", &url, "--users", "120", "--duration", "0.2", "--warmup", "0.05", "--concurrency", "4"])
        .args(["--pid", &std::process::id().to_string(), "--json"])
        .arg(&results)
        .env("IDPLANE_BENCH_TOKEN", TOKEN);
    let out = tokio::task::spawn_blocking(move || run.output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "the run failed:\n{stderr}");

    let result: Value = serde_json::from_str(&std::fs::read_to_string(&results)?)?;
    let ops = result["ops"].as_array().context("no ops")?;
    let names: Vec<&str> = ops.iter().filter_map(|o| o["op"].as_str()).collect();
    assert_eq!(
        names,
        [
            "get",
            "filter-username",
            "filter-externalid",
            "filter-email",
            "list",
            "post",
            "patch-user",
            "patch-group-add",
            "delete"
        ]
    );
    for op in ops {
        assert!(op["requests"].as_u64().unwrap_or(0) > 0, "no request succeeded: {op}");
        assert_eq!(op["errors"], 0, "{op}");
        assert!(op["rps"].as_f64().unwrap_or(0.0) > 0.0, "{op}");
        assert!(op["p99_ms"].as_f64().unwrap_or(0.0) >= op["p50_ms"].as_f64().unwrap_or(0.0), "{op}");
    }
    assert_eq!(result["load"]["large_group_members"], 120);
    assert!(result["peak_rss_mb"].as_f64().is_some(), "{result}");

    let report = Command::new(BIN).arg("report").arg(&results).output()?;
    ensure!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let text = String::from_utf8(report.stdout)?;
    for expected in ["| GET by id |", "| PATCH group add member |", "| DELETE user |", "SQLite 120"] {
        assert!(text.contains(expected), "{expected} is missing from the report:\n{text}");
    }
    Ok(())
}

/// The harness flags a server that answers errors: the run fails and says which operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_the_run() -> Result<()> {
    let (_app, _served, url) = spawn_idplane().await?;
    let mut run = Command::new(BIN);
    run.args(["run", "--url", &url, "--users", "10", "--duration", "0.1"]).env("IDPLANE_BENCH_TOKEN", "dapi-wrong");
    let out = tokio::task::spawn_blocking(move || run.output()).await??;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    Ok(())
}

/// `relay` carries lookups through the real agent and directly to a target, and reports both: every request of
/// both paths succeeded, the figures are there, and the document's relay section is replaced. No timing is asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_measures_both_paths_through_the_real_agent() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (_app, _served, url) = spawn_idplane().await?;
    let (results, doc) = (dir.path().join("relay.json"), dir.path().join("doc.md"));
    std::fs::write(&doc, "before\n<!-- relay:begin -->\nold figures\n<!-- relay:end -->\nafter\n")?;
    let mut run = Command::new(BIN);
    run.args(["relay", "--url", &url, "--users", "30", "--requests", "40", "--warmup", "10"])
        .args(["--duration", "0.2", "--concurrency", "4", "--work"])
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&results)
        .arg("--doc")
        .arg(&doc)
        .env("IDPLANE_BENCH_TOKEN", TOKEN);
    let out = tokio::task::spawn_blocking(move || run.output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "the relay run failed:\n{stderr}");

    let result: Value = serde_json::from_str(&std::fs::read_to_string(&results)?)?;
    for path in ["direct", "relay"] {
        let p = &result[path];
        assert_eq!(p["latencyRequests"], 40, "{path}: {p}");
        assert_eq!(p["errors"], 0, "{path}: {p}");
        assert!(p["throughputRequests"].as_u64().unwrap_or(0) > 0, "{path}: {p}");
        assert!(p["p99Ms"].as_f64().unwrap_or(0.0) >= p["p50Ms"].as_f64().unwrap_or(f64::MAX), "{path}: {p}");
        assert!(p["benchCpuUs"].as_f64().is_some(), "{path}: {p}");
    }
    let added = result["addedP50Ms"].as_f64().context("addedP50Ms")?;
    let (r50, d50) = (result["relay"]["p50Ms"].as_f64(), result["direct"]["p50Ms"].as_f64());
    assert!((added - (r50.unwrap_or(0.0) - d50.unwrap_or(0.0))).abs() < 1e-9, "{result}");

    let text = std::fs::read_to_string(&doc)?;
    assert!(text.starts_with("before\n<!-- relay:begin -->\n30 users in the target"), "{text}");
    assert!(text.contains("| relay through one agent |") && !text.contains("old figures"), "{text}");
    assert!(text.ends_with("<!-- relay:end -->\nafter\n"), "{text}");
    Ok(())
}
