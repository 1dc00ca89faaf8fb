//! The real `idplane` binary, for end-to-end tests: `serve` on `127.0.0.1:0` with a data directory of the test's,
//! its first-start banner, admin commands, and a client for what it serves. The caller names the binary (a test of
//! the `idplane` crate has it as `env!("CARGO_BIN_EXE_idplane")`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A running `idplane serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    /// The lines `serve` printed on stdout before it started serving.
    pub banner: Vec<String>,
    /// `http://127.0.0.1:PORT`, as the banner says.
    pub origin: String,
    /// Where its standard error (the log) goes.
    pub log: PathBuf,
}

impl Served {
    /// Starts `bin serve --listen 127.0.0.1:0 --data-dir DATA_DIR EXTRA...` (the log at `DATA_DIR.log`), with
    /// `bootstrap_token` as the admin token of a first start, and waits for its banner.
    pub fn start(
        bin: &str,
        data_dir: &Path,
        bootstrap_token: Option<&str>,
        extra: &[&std::ffi::OsStr],
    ) -> Result<Served> {
        let log = data_dir.with_extension("log");
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("IDPLANE_BOOTSTRAP_TOKEN")
            .env("IDPLANE_LOG", "info")
            .stderr(Stdio::from(std::fs::File::create(&log)?));
        if let Some(t) = bootstrap_token {
            cmd.env("IDPLANE_BOOTSTRAP_TOKEN", t);
        }
        Served::spawn(cmd, log)
    }

    /// Starts `cmd`, an `idplane serve` the caller prepared (inside a network namespace, say), whose standard error
    /// goes to `log`, and waits for its banner on its standard output.
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Result<Served> {
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut banner = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line?;
            let done = line.trim_start().starts_with("admin token:");
            banner.push(line);
            if done {
                break;
            }
        }
        // Keep reading what else the server prints, as a terminal would.
        std::thread::spawn(move || lines.for_each(drop));
        let origin = banner
            .first()
            .and_then(|l| l.strip_prefix("idplane is serving on "))
            .and_then(|l| l.split(' ').next())
            .with_context(|| format!("no origin in the banner: {banner:?} (log: {})", log.display()))?
            .to_string();
        Ok(Served { child, banner, origin, log })
    }

    /// The value printed after `label` in the banner (`"admin token:"`).
    pub fn value(&self, label: &str) -> Option<String> {
        self.banner.iter().find_map(|l| l.trim_start().strip_prefix(label).map(|v| v.trim().to_string()))
    }

    /// Sends SIGTERM and waits (at most 10 s) for the process to exit.
    pub fn terminate(mut self) -> Result<std::process::ExitStatus> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("the server did not stop within 10 s of SIGTERM");
            }
            // A child's exit cannot be awaited without a signal handler of our own: poll it.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the admin command `bin ARGS... --json --data-dir DATA_DIR`; its JSON output, or an error with its stderr.
pub fn admin(bin: &str, data_dir: &Path, args: &[&str]) -> Result<Value> {
    let out = Command::new(bin).args(args).arg("--json").arg("--data-dir").arg(data_dir).output()?;
    if !out.status.success() {
        bail!("idplane {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Sends a request with `token`; the status and the body read as JSON (`Null` when empty).
pub async fn call(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> Result<(u16, Value)> {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.header("content-type", "application/scim+json").body(b.to_string());
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? }))
}
