//! The timed load: for each operation, C workers, each on its own keep-alive connection, send requests back to back
//! for a fixed duration; every response is read whole and its latency recorded. Non-2xx answers and failed exchanges
//! are counted as errors, and a run with any error is flagged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::histogram::Histogram;
use crate::http::{Connection, Endpoint, Response, encode_query};
use crate::process;
use crate::scim::{self, Names};

/// The operations, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// GET /Users/{id} of a random loaded user.
    Get,
    /// GET /Users?filter=userName eq "..." of a random loaded user.
    FilterUsername,
    /// GET /Users?filter=externalId eq "..." of a random loaded user.
    FilterExternalid,
    /// GET /Users?filter=emails.value eq "..." of a random loaded user (its work email).
    FilterEmail,
    /// GET /Users?startIndex=1&count=100.
    List,
    /// POST /Users of a new user.
    Post,
    /// PATCH /Users/{id} replacing the displayName of a random loaded user.
    PatchUser,
    /// PATCH /Groups/{large} adding one new member (a user of the POST phase).
    PatchGroupAdd,
    /// DELETE /Users/{id} of a user of the POST phase.
    Delete,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Get,
        Op::FilterUsername,
        Op::FilterExternalid,
        Op::FilterEmail,
        Op::List,
        Op::Post,
        Op::PatchUser,
        Op::PatchGroupAdd,
        Op::Delete,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Op::Get => "GET by id",
            Op::FilterUsername => "filter userName eq",
            Op::FilterExternalid => "filter externalId eq",
            Op::FilterEmail => "filter emails.value eq",
            Op::List => "list a page (count=100)",
            Op::Post => "POST user",
            Op::PatchUser => "PATCH user",
            Op::PatchGroupAdd => "PATCH group add member",
            Op::Delete => "DELETE user",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Op::Post | Op::PatchUser | Op::PatchGroupAdd | Op::Delete)
    }
}

/// The figures of one operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpResult {
    pub op: Op,
    /// Successful requests.
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time the server (given its pid) and this load generator spent per successful request, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_us: Option<f64>,
    /// The first error seen, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the workers share.
pub struct Shared {
    pub endpoint: Endpoint,
    pub names: Names,
    pub users: Vec<String>,
    pub large_group: String,
    /// Users created by the POST phase, in order.
    pub created: std::sync::Mutex<Vec<String>>,
    counter: AtomicU64,
    cursor: AtomicUsize,
}

impl Shared {
    pub fn new(endpoint: Endpoint, names: Names, users: Vec<String>, large_group: String) -> Shared {
        Shared {
            endpoint,
            names,
            users,
            large_group,
            created: std::sync::Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            cursor: AtomicUsize::new(0),
        }
    }

    fn created(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.created.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next request of `op`, or None when the operation has nothing left to act on.
    fn next(&self, op: Op, rng: &mut Rng) -> Option<Vec<u8>> {
        let e = &self.endpoint;
        let random = |rng: &mut Rng| rng.below(self.users.len() as u64);
        Some(match op {
            Op::Get => e.request("GET", &format!("/Users/{}", self.users[random(rng) as usize]), None),
            Op::FilterUsername => {
                let f = encode_query(&format!("userName eq \"{}\"", self.names.user_name(random(rng))));
                e.request("GET", &format!("/Users?filter={f}"), None)
            }
            Op::FilterExternalid => {
                let f = encode_query(&format!("externalId eq \"{}\"", self.names.external_id(random(rng))));
                e.request("GET", &format!("/Users?filter={f}"), None)
            }
            // The loaded users' work email is their userName.
            Op::FilterEmail => {
                let f = encode_query(&format!("emails.value eq \"{}\"", self.names.user_name(random(rng))));
                e.request("GET", &format!("/Users?filter={f}"), None)
            }
            Op::List => e.request("GET", "/Users?startIndex=1&count=100", None),
            Op::Post => {
                let i = self.counter.fetch_add(1, Ordering::Relaxed);
                let name = self.names.new_user_name("new", i);
                let doc = scim::user(&name, &format!("bench{}-new{i}", self.names.tag), i);
                e.request("POST", "/Users", Some(doc.to_string().as_bytes()))
            }
            Op::PatchUser => {
                let i = self.counter.fetch_add(1, Ordering::Relaxed);
                let body = scim::replace_display_name(&format!("Renamed {i}")).to_string();
                e.request("PATCH", &format!("/Users/{}", self.users[random(rng) as usize]), Some(body.as_bytes()))
            }
            Op::PatchGroupAdd => {
                let k = self.cursor.fetch_add(1, Ordering::Relaxed);
                let member = {
                    let created = self.created();
                    if created.is_empty() {
                        return None;
                    }
                    created[k % created.len()].clone()
                };
                let body = scim::add_members(&[&member]).to_string();
                e.request("PATCH", &format!("/Groups/{}", self.large_group), Some(body.as_bytes()))
            }
            Op::Delete => {
                let k = self.cursor.fetch_add(1, Ordering::Relaxed);
                let id = self.created().get(k)?.clone();
                e.request("DELETE", &format!("/Users/{id}"), None)
            }
        })
    }

    /// What a successful response leaves behind.
    fn after(&self, op: Op, response: &Response) {
        if op == Op::Post
            && let Ok(id) = scim::created_id(response)
        {
            self.created().push(id);
        }
    }
}

/// A small, fast random number generator (xorshift64*), one per worker.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[derive(Default)]
struct WorkerResult {
    histogram: Histogram,
    errors: u64,
    first_error: Option<String>,
    finished: Option<Instant>,
}

/// Runs `op` with `concurrency` workers for `duration` (after `warmup`, whose requests are not counted; writes get
/// no warm-up, since every write changes what the next phase sees).
pub async fn run(
    shared: Arc<Shared>,
    op: Op,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    server_pid: Option<u32>,
) -> OpResult {
    if !op.writes() && !warmup.is_zero() {
        let _ = drive(shared.clone(), op, concurrency, warmup).await;
    }
    if matches!(op, Op::PatchGroupAdd | Op::Delete) {
        shared.cursor.store(0, Ordering::Relaxed);
    }
    let available = shared.created().len();
    let cpu = || (server_pid.and_then(process::cpu_time), process::cpu_time(std::process::id()));
    let cpu_before = cpu();
    let started = Instant::now();
    let results = drive(shared, op, concurrency, duration).await;
    let cpu_after = cpu();
    let mut histogram = Histogram::default();
    let (mut errors, mut first_error, mut finished) = (0, None, started);
    for r in &results {
        histogram.merge(&r.histogram);
        errors += r.errors;
        first_error = first_error.or_else(|| r.first_error.clone());
        finished = finished.max(r.finished.unwrap_or(started));
    }
    let seconds = finished.duration_since(started).as_secs_f64().max(1e-9);
    let requests = histogram.count();
    let per_request = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
        (Some(b), Some(a)) if requests > 0 => Some(a.saturating_sub(b).as_secs_f64() * 1e6 / requests as f64),
        _ => None,
    };
    let note = match op {
        Op::PatchGroupAdd if requests as usize > available => Some(format!(
            "{} of the adds named a user already added (the POST phase created {available})",
            requests as usize - available
        )),
        Op::PatchGroupAdd | Op::Delete if available == 0 => Some("the POST phase created no user".to_string()),
        Op::Delete if requests as usize + errors as usize >= available => {
            Some(format!("deleted every user of the POST phase ({available}) before the time was up"))
        }
        _ => None,
    };
    OpResult {
        op,
        requests,
        errors,
        seconds,
        rps: requests as f64 / seconds,
        p50_ms: histogram.quantile(0.50).as_secs_f64() * 1e3,
        p99_ms: histogram.quantile(0.99).as_secs_f64() * 1e3,
        server_cpu_us: per_request(cpu_before.0, cpu_after.0),
        client_cpu_us: per_request(cpu_before.1, cpu_after.1),
        first_error,
        note,
    }
}

async fn drive(shared: Arc<Shared>, op: Op, concurrency: usize, duration: Duration) -> Vec<WorkerResult> {
    let deadline = Instant::now() + duration;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency.max(1) {
        let shared = shared.clone();
        workers.spawn(async move { worker(shared, op, deadline, w as u64).await });
    }
    let mut results = Vec::with_capacity(concurrency);
    while let Some(r) = workers.join_next().await {
        match r {
            Ok(r) => results.push(r),
            Err(e) => results.push(WorkerResult {
                errors: 1,
                first_error: Some(format!("a worker failed: {e}")),
                ..WorkerResult::default()
            }),
        }
    }
    results
}

async fn worker(shared: Arc<Shared>, op: Op, deadline: Instant, seed: u64) -> WorkerResult {
    let mut conn = Connection::new(shared.endpoint.clone());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut rng = Rng::new(seed ^ now);
    let mut out = WorkerResult::default();
    while Instant::now() < deadline {
        let Some(request) = shared.next(op, &mut rng) else { break };
        let sent = Instant::now();
        match conn.send(&request).await {
            Ok(response) if response.is_success() => {
                out.histogram.record(sent.elapsed());
                shared.after(op, &response);
            }
            Ok(response) => {
                out.errors += 1;
                if out.first_error.is_none() {
                    let body = String::from_utf8_lossy(&response.body);
                    out.first_error =
                        Some(format!("{}: {}", response.status, body.chars().take(300).collect::<String>()));
                }
            }
            Err(e) => {
                out.errors += 1;
                if out.first_error.is_none() {
                    out.first_error = Some(format!("{e:#}"));
                }
                // Do not spin on a server that is gone.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    out.finished = Some(Instant::now());
    out
}

/// POSTs new users from `concurrency` workers until one fails (the server was killed) or `limit` passes; returns the
/// ids of the users whose creation the server acknowledged.
pub async fn post_until_failure(shared: Arc<Shared>, concurrency: usize, limit: Duration) -> Result<Vec<String>> {
    let deadline = Instant::now() + limit;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency.max(1) {
        let shared = shared.clone();
        workers.spawn(async move {
            let mut conn = Connection::new(shared.endpoint.clone());
            let mut acknowledged = Vec::new();
            let mut k = w as u64;
            while Instant::now() < deadline {
                let name = shared.names.new_user_name("crash", k);
                let doc = scim::user(&name, &format!("bench{}-crash{k}", shared.names.tag), k);
                k += concurrency as u64;
                match conn.call("POST", "/Users", Some(doc.to_string().as_bytes())).await {
                    Ok(r) if r.status == 201 => acknowledged.push(scim::created_id(&r)?),
                    _ => break,
                }
            }
            anyhow::Ok(acknowledged)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = workers.join_next().await {
        all.extend(r??);
    }
    Ok(all)
}
