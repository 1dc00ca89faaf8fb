//! Two Linux network namespaces for the end-to-end test of the on-premises agent: "cloud" (the provisioning
//! service) and "corp" (the private network: the SCIM target and the agents), joined by a veth pair of private
//! addresses, loopback up in both. The test creates them, runs real `idplane` processes inside with
//! `ip netns exec`, talks to what listens inside from threads moved into a namespace (`setns`), and removes them on
//! drop, also when it fails. Namespaces a killed run left behind (their names carry a process id that is gone) are
//! removed before new ones are made.
//!
//! Creating namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and `ip` (iproute2): without them
//! [`Network::create`] says why, and the test reports itself skipped unless `IDPLANE_REQUIRE_NETNS=1`.

use std::ffi::OsStr;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The prefix of every namespace this test makes, followed by `cloud-` or `corp-` and the process id.
const PREFIX: &str = "idpl-";
/// The veth addresses (a /30 of their own: each namespace has its own routing table, so runs at once do not meet).
pub const CLOUD_ADDR: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 1);
pub const CORP_ADDR: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 2);

/// Which side of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Cloud,
    Corp,
}

/// The two namespaces of one run; removed (with whatever still runs inside) when dropped.
pub struct Network {
    cloud: String,
    corp: String,
}

/// `ip ARGS...`; its standard error when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "the `ip` command (iproute2) is not installed".to_string()
        } else {
            format!("`ip` could not be started: {e}")
        }
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Kills what runs in namespace `name` (processes of a run of this test) and removes the namespace.
fn remove(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let _ = ip(&["netns", "delete", name]);
}

/// Removes the namespaces of runs whose process is gone (a run killed before its guard could clean up).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix("cloud-").or_else(|| rest.strip_prefix("corp-")))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            eprintln!("removing the network namespace {name} of an earlier run that did not clean up");
            remove(name);
        }
    }
}

impl Network {
    /// Creates `idpl-cloud-<pid>` and `idpl-corp-<pid>` joined by a veth pair (cloud 10.231.0.1/30, corp
    /// 10.231.0.2/30), loopback up in both. `Err` says why namespaces cannot be made here.
    pub fn create() -> Result<Network, String> {
        remove_stale();
        let pid = std::process::id();
        let (cloud, corp) = (format!("{PREFIX}cloud-{pid}"), format!("{PREFIX}corp-{pid}"));
        ip(&["netns", "add", &cloud]).map_err(|e| {
            if e.contains("not permitted") || e.contains("denied") {
                format!("{e} (network namespaces need root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)")
            } else {
                e
            }
        })?;
        // From here on the guard removes whatever was made.
        let net = Network { cloud, corp };
        ip(&["netns", "add", &net.corp])?;
        let (cloud, corp) = (net.cloud.as_str(), net.corp.as_str());
        // The pair is made inside cloud, so that its names never appear in (nor clash in) the host's namespace.
        ip(&["-n", cloud, "link", "add", "idpl0", "type", "veth", "peer", "name", "idpl1", "netns", corp])
            .map_err(|e| format!("{e} (a veth pair needs CAP_NET_ADMIN and the veth module)"))?;
        for (ns, dev, addr) in [(cloud, "idpl0", CLOUD_ADDR), (corp, "idpl1", CORP_ADDR)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    pub fn name(&self, side: Side) -> &str {
        match side {
            Side::Cloud => &self.cloud,
            Side::Corp => &self.corp,
        }
    }

    /// `ip netns exec <side> PROGRAM`: the program runs inside (ip execs it: the child's id is the program's).
    pub fn command(&self, side: Side, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name(side)]).arg(program);
        cmd
    }

    /// Runs `work` on a thread moved into `side`'s namespace, on a runtime of its own: every socket it opens (and
    /// every thread its runtime starts) is inside. Its result.
    pub fn within<T: Send>(&self, side: Side, work: impl Future<Output = Result<T>> + Send) -> Result<T> {
        let path = format!("/var/run/netns/{}", self.name(side));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                    rustix::thread::move_into_link_name_space(
                        std::os::fd::AsFd::as_fd(&ns),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .with_context(|| format!("setns into {path}"))?;
                    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(work)
                })
                .join()
                .map_err(|_| anyhow::anyhow!("the thread inside {path} panicked"))?
        })
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        remove(&self.cloud);
        remove(&self.corp);
    }
}

/// A process started by the test, killed (SIGKILL) and reaped when dropped.
pub struct Process {
    pub child: Child,
    pub what: String,
}

impl Process {
    /// Sends SIGTERM and waits, at most `within`, for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> Result<std::process::ExitStatus> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{} did not stop within {within:?} of SIGTERM", self.what);
            }
            // A child's exit cannot be awaited without a signal handler of our own: poll it.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
