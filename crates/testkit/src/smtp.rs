//! A real SMTP server for tests: `tests/smtp_sink.py` (Python's aiosmtpd) on `127.0.0.1:0`, in plain text, with
//! STARTTLS or with implicit TLS (a certificate generated for the test), optionally requiring AUTH, and the messages
//! it received, parsed by Python's `email` package.
//!
//! It needs a Python with aiosmtpd: [`PYTHON`] names it (`scripts/test` sets it to the `.venv` that `scripts/venv`
//! installs `scripts/requirements-test.txt` into), else the workspace's `.venv` is used when it exists. A test that
//! uses the sink is an SMTP test: its name contains `smtp_sink` and it is `#[ignore]`d, so that a run without Python
//! reports it skipped; `scripts/test` runs those tests with `--run-ignored`, and CI fails when it cannot.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The variable that names the Python interpreter with aiosmtpd.
pub const PYTHON: &str = "IDPLANE_TEST_PYTHON";

/// The interpreter of the SMTP sink: [`PYTHON`], else the workspace's `.venv`.
pub fn python() -> Result<PathBuf> {
    if let Some(python) = std::env::var_os(PYTHON).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(python));
    }
    let venv = workspace().join(".venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    bail!(
        "this SMTP test needs a Python with aiosmtpd: set {PYTHON}, or create the workspace's .venv with scripts/venv \
         (scripts/test does both)"
    )
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How the sink's connections are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain text; STARTTLS not offered.
    None,
    /// STARTTLS offered, and required before MAIL and AUTH.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// What the sink is to be.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub tls: SinkTls,
    /// AUTH required, with this username and password.
    pub login: Option<(String, String)>,
    /// The names of the generated certificate (DNS names or IP addresses).
    pub names: Vec<String>,
    /// Recipients refused at RCPT with 550.
    pub reject: Vec<String>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            tls: SinkTls::None,
            login: None,
            names: vec!["127.0.0.1".into(), "localhost".into()],
            reject: Vec::new(),
        }
    }
}

/// A running sink, stopped when dropped.
pub struct SmtpSink {
    child: Child,
    /// Held open: the sink stops when its standard input closes, so it cannot outlive the test process.
    _stdin: Option<ChildStdin>,
    dir: tempfile::TempDir,
    pub port: u16,
    /// The PEM file of the sink's self-signed certificate (its CA bundle), with TLS.
    pub certificate: Option<PathBuf>,
}

impl SmtpSink {
    /// Starts a sink and waits until it listens.
    pub fn start(options: &SinkOptions) -> Result<SmtpSink> {
        let python = python()?;
        let dir = tempfile::tempdir()?;
        let messages = dir.path().join("messages");
        std::fs::create_dir(&messages)?;
        let log = dir.path().join("sink.log");
        let mut cmd = Command::new(&python);
        cmd.arg(workspace().join("tests/smtp_sink.py")).arg("--dir").arg(&messages);
        let mut certificate = None;
        if options.tls != SinkTls::None {
            let generated = rcgen::generate_simple_self_signed(options.names.clone())?;
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert, generated.cert.pem())?;
            std::fs::write(&key, generated.key_pair.serialize_pem())?;
            let mode = if options.tls == SinkTls::StartTls { "starttls" } else { "implicit" };
            cmd.args(["--tls", mode]).arg("--cert").arg(&cert).arg("--key").arg(&key);
            certificate = Some(cert);
        }
        if let Some((user, password)) = &options.login {
            let file = dir.path().join("password");
            std::fs::write(&file, password)?;
            cmd.args(["--user", user]).arg("--password-file").arg(&file);
        }
        for address in &options.reject {
            cmd.args(["--reject", address]);
        }
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log)?));
        let mut child =
            cmd.spawn().with_context(|| format!("starting the SMTP sink with {} ({PYTHON})", python.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the sink's stdout")?;
        let mut line = String::new();
        // The sink prints its port once it listens, or exits (and stdout ends) when it cannot.
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(port) = line.trim().strip_prefix("port ").and_then(|p| p.parse::<u16>().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the SMTP sink did not start (printed {line:?}); its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Ok(SmtpSink { child, _stdin: stdin, dir, port, certificate })
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Result<Vec<Received>> {
        let dir = self.dir.path().join("messages");
        let mut numbered = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(n) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u32>().ok())
            {
                numbered.push((n, path));
            }
        }
        numbered.sort();
        numbered.into_iter().map(|(_, path)| Received::read(&path)).collect()
    }

    /// What the sink logged (Python's errors, if any).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sink.log")).unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message the sink received: its envelope, how the session was protected, and the message parsed.
#[derive(Debug, Clone)]
pub struct Received {
    /// `MAIL FROM`.
    pub mail_from: String,
    /// `RCPT TO`, in order.
    pub rcpt_tos: Vec<String>,
    /// Whether the session was in TLS (STARTTLS or implicit) when the message came.
    pub tls: bool,
    /// The username of a successful AUTH.
    pub login: Option<String>,
    /// The From header, decoded.
    pub from: String,
    /// The To header's mailboxes.
    pub to: Vec<String>,
    /// The Subject, decoded.
    pub subject: String,
    /// Every header, decoded, in order.
    pub headers: Vec<(String, String)>,
    /// The plain-text body, decoded (quoted-printable or base64 undone), with `\n` line breaks.
    pub body: String,
    /// The message as received.
    pub eml: String,
}

impl Received {
    fn read(json: &Path) -> Result<Received> {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(json)?)?;
        let text = |key: &str| v[key].as_str().unwrap_or_default().to_string();
        let texts = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let headers = v["headers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| Some((h[0].as_str()?.to_string(), h[1].as_str()?.to_string())))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Ok(Received {
            mail_from: text("mail_from"),
            rcpt_tos: texts("rcpt_tos"),
            tls: v["tls"].as_bool().unwrap_or_default(),
            login: v["login"].as_str().map(str::to_string),
            from: text("from"),
            to: texts("to"),
            subject: text("subject"),
            headers,
            body: text("body"),
            eml: std::fs::read_to_string(json.with_extension("eml"))?,
        })
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}
