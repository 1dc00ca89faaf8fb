//! A fault-injecting HTTP/1.1 proxy on `127.0.0.1:0`, in front of a real server, for tests of a client that must
//! survive a target that misbehaves: it answers chosen requests itself (a status such as 500, 429 with
//! `Retry-After`), lets them hang until the client gives up, resets their connection or holds their answer after
//! forwarding them (the server acted, the client never hears of it), and logs each request with what became of
//! it, so that a test can count what reached the server (the POSTs of one `userName`) and wait for a point of a run
//! (`wait_until`) instead of sleeping.
//!
//! A fault is a [`Rule`]: the requests it matches (method, a fragment of the path) and how many of them it takes;
//! each request takes the first rule that matches and has some left, by order of arrival. Every answer closes its
//! connection, so that a reset or a hang never reaches a request that a client sent on a kept-alive connection.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with a request a rule takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status with a SCIM error body, without forwarding.
    Status(u16),
    /// Answers 429 with `Retry-After` (seconds), without forwarding.
    TooManyRequests { retry_after: u64 },
    /// Reads the request and never answers, until the client closes the connection.
    Hang,
    /// Resets the connection (TCP RST) without forwarding.
    Reset,
    /// Forwards the request, so that the server acts on it, then resets the connection instead of answering: the
    /// client never learns that it succeeded.
    ForwardThenReset,
    /// Forwards the request, then holds the answer until the client closes the connection.
    ForwardThenHang,
    /// Forwards the request as usual: a rule with it lets a number of requests through before the next rule.
    Pass,
}

/// Which requests get a fault, and how many of them.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The method (`"POST"`), or any.
    pub method: Option<String>,
    /// A fragment the path must contain (`"/Users"`), or any path.
    pub path: Option<String>,
    pub fault: Fault,
    /// How many requests this rule still takes.
    pub times: usize,
}

impl Rule {
    /// `times` requests of `method` whose path contains `path` get `fault`.
    pub fn new(method: &str, path: &str, fault: Fault, times: usize) -> Rule {
        Rule { method: Some(method.to_owned()), path: Some(path.to_owned()), fault, times }
    }

    fn takes(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| path.contains(p))
    }
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Forwarded; the server answered this status (and the client got it, unless the fault was one that forwards
    /// and then resets or hangs).
    Forwarded(u16),
    /// Not forwarded: the fault the proxy answered with.
    Faulted(Fault),
    /// The server could not be reached; the client got 502.
    Unreachable,
}

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The request's body, when it was JSON.
    pub body: Option<Value>,
    /// The fault the request got, if any (a request forwarded by its fault is also [`Fate::Forwarded`]).
    pub fault: Option<Fault>,
    pub fate: Fate,
    /// The server's answer, when it was JSON.
    pub answer: Option<Value>,
    /// When the request arrived.
    pub at: Instant,
}

impl Exchange {
    /// Whether the server received the request.
    pub fn forwarded(&self) -> bool {
        matches!(self.fate, Fate::Forwarded(_))
    }
}

struct Shared {
    upstream: Mutex<String>,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Exchange>>,
    /// Bumped on every logged exchange, for [`FaultProxy::wait_until`].
    logged: watch::Sender<usize>,
    http: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy that forwards to `upstream` (`http://host:port`) everything no rule takes.
    pub async fn start(upstream: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream.trim_end_matches('/').to_owned()),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            logged: watch::Sender::new(0),
            // The server's own redirects and errors go back to the client as they are.
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?,
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, accepting.clone()));
            }
        });
        Ok(FaultProxy { origin, shared, task })
    }

    /// Forwards to another server from now on (the same one restarted on another port).
    pub fn set_upstream(&self, upstream: &str) {
        *lock(&self.shared.upstream) = upstream.trim_end_matches('/').to_owned();
    }

    /// Adds a rule after the others.
    pub fn inject(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes the rules not used up.
    pub fn heal(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Every request received so far, in order of arrival.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.shared.log).clone()
    }

    /// How many times the server received a POST to a path ending in `endpoint` whose body's `attribute` is
    /// `value`.
    pub fn forwarded_posts(&self, endpoint: &str, attribute: &str, value: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.method == "POST" && e.path.ends_with(endpoint) && e.forwarded())
            .filter(|e| e.body.as_ref().and_then(|b| b.get(attribute)).and_then(Value::as_str) == Some(value))
            .count()
    }

    /// Waits until `done` holds of the exchanges (checked after each one is logged), at most `limit`.
    pub async fn wait_until(&self, limit: Duration, done: impl Fn(&[Exchange]) -> bool) -> Result<()> {
        let mut logged = self.shared.logged.subscribe();
        let waiting = async {
            loop {
                if done(&lock(&self.shared.log)) {
                    return Ok(());
                }
                logged.changed().await.context("the proxy stopped")?;
            }
        };
        match tokio::time::timeout(limit, waiting).await {
            Ok(r) => r,
            Err(_) => bail!("the proxy did not see what the test waits for within {limit:?}"),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request of one connection: read, fault or forward, log; then the connection is closed.
async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let at = Instant::now();
    let Ok(Some(request)) = read_request(&mut stream).await else { return };
    let fault = {
        let mut rules = lock(&shared.rules);
        rules.iter_mut().find(|r| r.takes(&request.method, &request.path)).map(|r| {
            r.times -= 1;
            r.fault.clone()
        })
    }
    .filter(|f| *f != Fault::Pass);
    let record = |fate: Fate, answer: Option<&Answer>| Exchange {
        method: request.method.clone(),
        path: request.path.clone(),
        body: serde_json::from_slice(&request.body).ok(),
        fault: fault.clone(),
        fate,
        answer: answer.and_then(|a| serde_json::from_str(&a.body).ok()),
        at,
    };
    match fault.clone() {
        Some(Fault::Status(status)) => {
            log(&shared, record(Fate::Faulted(Fault::Status(status)), None));
            let body = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": status.to_string(),
                "detail": "the fault-injecting proxy answered this request",
            });
            let _ = respond(&mut stream, status, &[("content-type", "application/scim+json")], body.to_string()).await;
        }
        Some(f @ Fault::TooManyRequests { retry_after }) => {
            log(&shared, record(Fate::Faulted(f), None));
            let seconds = retry_after.to_string();
            let headers = [("retry-after", seconds.as_str()), ("content-type", "application/json")];
            let _ = respond(&mut stream, 429, &headers, "{\"detail\": \"too many requests\"}".into()).await;
        }
        Some(Fault::Hang) => {
            log(&shared, record(Fate::Faulted(Fault::Hang), None));
            until_closed(&mut stream).await;
        }
        Some(Fault::Reset) => {
            log(&shared, record(Fate::Faulted(Fault::Reset), None));
            reset(stream);
        }
        Some(f @ (Fault::ForwardThenReset | Fault::ForwardThenHang)) => {
            let answer = forward(&shared, &request).await.ok();
            let fate = answer.as_ref().map_or(Fate::Unreachable, |a| Fate::Forwarded(a.status));
            log(&shared, record(fate, answer.as_ref()));
            if f == Fault::ForwardThenHang {
                until_closed(&mut stream).await;
            } else {
                reset(stream);
            }
        }
        None | Some(Fault::Pass) => {
            let answer = forward(&shared, &request).await;
            let fate = answer.as_ref().map_or(Fate::Unreachable, |a| Fate::Forwarded(a.status));
            log(&shared, record(fate, answer.as_ref().ok()));
            let _ = match answer {
                Ok(a) => {
                    let headers: Vec<(&str, &str)> = a.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    respond(&mut stream, a.status, &headers, a.body).await
                }
                Err(e) => respond(&mut stream, 502, &[("content-type", "text/plain")], format!("{e:#}")).await,
            };
        }
    }
}

fn log(shared: &Shared, exchange: Exchange) {
    let n = {
        let mut log = lock(&shared.log);
        log.push(exchange);
        log.len()
    };
    shared.logged.send_replace(n);
}

/// Waits until the client gives up and closes the connection.
async fn until_closed(stream: &mut TcpStream) {
    let mut rest = [0u8; 256];
    while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
}

/// Closes the connection with a TCP reset rather than an orderly close.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one request (its head, and the body `Content-Length` announces); `None` if the client sent nothing.
async fn read_request(stream: &mut TcpStream) -> Result<Option<Request>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() { Ok(None) } else { bail!("the client closed in the middle of a request") };
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut head = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head_len) = head.parse(&buf)? else {
            anyhow::ensure!(buf.len() < 1 << 20, "a request head over 1 MiB");
            continue;
        };
        let headers: Vec<(String, String)> = head
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let (method, path) = (head.method.unwrap_or("GET").to_owned(), head.path.unwrap_or("/").to_owned());
        while buf.len() < head_len + length {
            let n = stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "the client closed before the whole body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_len..head_len + length].to_vec();
        return Ok(Some(Request { method, path, headers, body }));
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// The headers passed on both ways; the rest (connection management, lengths) is the proxy's own.
const PASSED: &[&str] = &["authorization", "content-type", "accept", "retry-after", "location", "etag", "if-match"];

async fn forward(shared: &Shared, request: &Request) -> Result<Answer> {
    let url = format!("{}{}", lock(&shared.upstream), request.path);
    let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
    let mut upstream = shared.http.request(method, url).body(request.body.clone());
    for (k, v) in request.headers.iter().filter(|(k, _)| PASSED.contains(&k.as_str())) {
        upstream = upstream.header(k, v);
    }
    let answer = upstream.send().await?;
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .filter(|(k, _)| PASSED.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    Ok(Answer { status, headers, body: answer.text().await? })
}

async fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: String) -> Result<()> {
    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Status");
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await?;
    Ok(())
}
