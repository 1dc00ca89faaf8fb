//! The server as a process: its peak resident memory, and the kill test — SIGKILL while writes are in flight,
//! restart on the same store, time until `/readyz` answers, and check that every acknowledged write survived.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::drive::{self, Shared};
use crate::http::{Connection, Endpoint};

/// Peak resident set size of a process in MB of 10^6 bytes (`VmHWM` of `/proc/<pid>/status`), if it can be read.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

/// CPU time (user and system) a process has used so far, if it can be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses): state is field 3; utime and stime fields 14 and 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports USER_HZ ticks, 100 per second on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Whether the process is gone (or a zombie waiting for its parent).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name, which is in parentheses and may itself hold spaces.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// How to restart the server after the kill.
pub struct Restart {
    /// The server's process, killed with SIGKILL.
    pub pid: u32,
    /// A shell command that starts the server again on the same store and address (prefix it with `exec`).
    pub command: String,
    /// Where the restarted server's output goes (appended).
    pub log: PathBuf,
    /// Where to write the restarted server's pid.
    pub pid_file: Option<PathBuf>,
    /// The path, on the server's origin, that answers 200 once it serves.
    pub ready_path: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KillReport {
    /// Users whose POST was acknowledged before the kill.
    pub acknowledged: usize,
    /// Of those, users found after the restart.
    pub survived: usize,
    /// From starting the process to the first 200 of the ready path.
    pub startup_ms: f64,
}

pub async fn kill_and_restart(shared: Arc<Shared>, restart: &Restart, concurrency: usize) -> Result<KillReport> {
    let writing = tokio::spawn(drive::post_until_failure(shared.clone(), concurrency, Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Command::new("kill").args(["-KILL", &restart.pid.to_string()]).status().context("running kill")?;
    if !killed.success() {
        bail!("kill -KILL {} failed", restart.pid);
    }
    let acknowledged = writing.await.context("the writers failed")??;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(restart.pid) {
        if Instant::now() > deadline {
            bail!("process {} is still there 10 s after SIGKILL", restart.pid);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&restart.log)?;
    let started = Instant::now();
    let child = Command::new("sh")
        .arg("-c")
        .arg(&restart.command)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .context("restarting the server")?;
    // Left running: the caller stops it by the pid written here.
    if let Some(file) = &restart.pid_file {
        write_pid(file, child.id())?;
    }
    let origin = shared.endpoint.with_base_path("");
    wait_until_ready(&origin, &restart.ready_path, started, Duration::from_secs(120)).await?;
    let startup_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut conn = Connection::new(shared.endpoint.clone());
    let mut survived = 0;
    for id in &acknowledged {
        let r = conn.call("GET", &format!("/Users/{id}"), None).await?;
        if r.status == 200 {
            survived += 1;
        }
    }
    Ok(KillReport { acknowledged: acknowledged.len(), survived, startup_ms })
}

fn write_pid(file: &Path, pid: u32) -> Result<()> {
    std::fs::write(file, format!("{pid}\n")).with_context(|| format!("writing {}", file.display()))
}

/// Polls `path` on `origin` until it answers 200; fails after `timeout` since `since`.
pub async fn wait_until_ready(origin: &Endpoint, path: &str, since: Instant, timeout: Duration) -> Result<()> {
    let request = origin.request("GET", path, None);
    loop {
        let mut conn = Connection::new(origin.clone());
        if let Ok(r) = conn.send(&request).await
            && r.status == 200
        {
            return Ok(());
        }
        if since.elapsed() > timeout {
            bail!("{path} did not answer 200 within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_peak_memory() {
        let mb = peak_rss_mb(std::process::id()).unwrap_or_default();
        assert!(mb > 0.5, "{mb}");
        assert!(!gone(std::process::id()));
        assert!(gone(u32::MAX));
        let spent = cpu_time(std::process::id());
        assert!(spent.is_some());
        assert!(cpu_time(u32::MAX).is_none());
    }
}
