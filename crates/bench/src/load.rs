//! Loading a server through its public API: N users (SCIM Bulk when the server offers it, else concurrent POSTs), a
//! few small groups, and one large group of min(N, 100,000) members built by PATCH `add` in chunks. Then a check that
//! what was loaded is there: sampled users read back by id and found by `userName`, and the total.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::http::{Connection, Endpoint, encode_query};
use crate::scim::{self, Names};

/// Members of the large group at most.
pub const LARGE_GROUP_MAX: usize = 100_000;
/// Members added per PATCH while building the large group.
const MEMBER_CHUNK: usize = 1_000;
/// Small groups, and members in each.
const SMALL_GROUPS: usize = 5;
const SMALL_GROUP_SIZE: usize = 100;

/// What was loaded.
pub struct Loaded {
    /// The ids of users `0..N`, by index.
    pub users: Vec<String>,
    pub large_group: String,
    pub report: LoadReport,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// `bulk (1000 operations per request)` or `POST`.
    pub method: String,
    pub users_seconds: f64,
    pub users_per_second: f64,
    pub groups_seconds: f64,
    pub large_group_members: usize,
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {human_pos}/{human_len} {per_sec:>12} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

pub async fn load(endpoint: &Endpoint, names: &Names, n: usize, concurrency: usize) -> Result<Loaded> {
    let mut conn = Connection::new(endpoint.clone());
    let bulk = scim::bulk_support(&mut conn).await?;
    let method = match bulk {
        Some(b) => format!("SCIM Bulk, {} operations per request", b.max_operations.min(1000)),
        None => "concurrent POSTs".to_string(),
    };
    eprintln!("loading {n} users ({method}, {concurrency} at a time)");
    let started = Instant::now();
    let users = load_users(endpoint, names, n, concurrency.max(1), bulk).await?;
    let users_seconds = started.elapsed().as_secs_f64();
    eprintln!("loaded {n} users in {users_seconds:.1} s ({:.0} users/s)", n as f64 / users_seconds);

    let started = Instant::now();
    for g in 0..SMALL_GROUPS {
        let members: Vec<&str> =
            users.iter().skip(g * SMALL_GROUP_SIZE).take(SMALL_GROUP_SIZE).map(String::as_str).collect();
        let doc = scim::group(&names.group_name(&format!("group {g}")), &members);
        let r = conn.call("POST", "/Groups", Some(&serde_json::to_vec(&doc)?)).await?;
        ensure!(r.status == 201, "POST /Groups answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
    }
    let size = n.min(LARGE_GROUP_MAX);
    let large_group = build_large_group(&mut conn, names, &users[..size]).await?;
    let groups_seconds = started.elapsed().as_secs_f64();
    eprintln!("built {SMALL_GROUPS} small groups and a group of {size} members in {groups_seconds:.1} s");

    verify(&mut conn, names, &users).await?;
    let report = LoadReport {
        method,
        users_seconds,
        users_per_second: n as f64 / users_seconds.max(1e-9),
        groups_seconds,
        large_group_members: size,
    };
    Ok(Loaded { users, large_group, report })
}

async fn load_users(
    endpoint: &Endpoint,
    names: &Names,
    n: usize,
    concurrency: usize,
    bulk: Option<scim::BulkSupport>,
) -> Result<Vec<String>> {
    let bar = progress(n as u64, "users");
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(Mutex::new(vec![String::new(); n]));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (endpoint, names, next, ids, bar) =
            (endpoint.clone(), names.clone(), next.clone(), ids.clone(), bar.clone());
        workers.spawn(async move {
            let mut conn = Connection::new(endpoint);
            match bulk {
                Some(b) => bulk_worker(&mut conn, &names, n as u64, b, &next, &ids, &bar).await,
                None => post_worker(&mut conn, &names, n as u64, &next, &ids, &bar).await,
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("a loading worker failed")??;
    }
    bar.finish_and_clear();
    let ids = std::mem::take(&mut *ids.lock().await);
    if let Some(i) = ids.iter().position(String::is_empty) {
        bail!("user {i} was not loaded");
    }
    Ok(ids)
}

async fn bulk_worker(
    conn: &mut Connection,
    names: &Names,
    n: u64,
    bulk: scim::BulkSupport,
    next: &AtomicU64,
    ids: &Mutex<Vec<String>>,
    bar: &ProgressBar,
) -> Result<()> {
    let per_request = bulk.max_operations.min(1000) as u64;
    // Leave room for the request's envelope.
    let budget = bulk.max_payload_bytes.saturating_sub(1024);
    loop {
        let first = next.fetch_add(per_request, Ordering::Relaxed);
        if first >= n {
            return Ok(());
        }
        let last = (first + per_request).min(n);
        let docs: Vec<Value> =
            (first..last).map(|i| scim::user(&names.user_name(i), &names.external_id(i), i)).collect();
        // Under the payload limit: split the batch where it would exceed it.
        let mut start = 0;
        while start < docs.len() {
            let mut size = 0;
            let mut end = start;
            while end < docs.len() && (end == start || size + scim::bulk_operation_size(&docs[end]) <= budget) {
                size += scim::bulk_operation_size(&docs[end]);
                end += 1;
            }
            let created = scim::bulk_create_users(conn, first + start as u64, &docs[start..end]).await?;
            let mut all = ids.lock().await;
            for (k, id) in created.into_iter().enumerate() {
                all[(first as usize) + start + k] = id;
            }
            drop(all);
            bar.inc((end - start) as u64);
            start = end;
        }
    }
}

async fn post_worker(
    conn: &mut Connection,
    names: &Names,
    n: u64,
    next: &AtomicU64,
    ids: &Mutex<Vec<String>>,
    bar: &ProgressBar,
) -> Result<()> {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            return Ok(());
        }
        let doc = scim::user(&names.user_name(i), &names.external_id(i), i);
        let r = conn.call("POST", "/Users", Some(&serde_json::to_vec(&doc)?)).await?;
        ensure!(r.status == 201, "POST /Users answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        ids.lock().await[i as usize] = scim::created_id(&r)?;
        bar.inc(1);
    }
}

/// Creates the large group empty, then adds its members a chunk at a time.
async fn build_large_group(conn: &mut Connection, names: &Names, members: &[String]) -> Result<String> {
    let doc = scim::group(&names.group_name("large group"), &[]);
    let r = conn.call("POST", "/Groups", Some(&serde_json::to_vec(&doc)?)).await?;
    ensure!(r.status == 201, "POST /Groups answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
    let group = scim::created_id(&r)?;
    let bar = progress(members.len() as u64, "group members");
    let path = format!("/Groups/{group}");
    for chunk in members.chunks(MEMBER_CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let body = serde_json::to_vec(&scim::add_members(&ids))?;
        let r = conn.call("PATCH", &path, Some(&body)).await?;
        ensure!(r.is_success(), "PATCH {path} answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(group)
}

/// Every loaded user must be real: a sample is read back by id and found by `userName`, and the server counts at
/// least N users.
async fn verify(conn: &mut Connection, names: &Names, users: &[String]) -> Result<()> {
    let n = users.len();
    let samples = n.min(100);
    for k in 0..samples {
        let i = if samples <= 1 { 0 } else { k * (n - 1) / (samples - 1) };
        let r = conn.call("GET", &format!("/Users/{}", users[i]), None).await?;
        ensure!(r.status == 200, "loaded user {i} ({}) cannot be read back: {}", users[i], r.status);
        let filter = encode_query(&format!("userName eq \"{}\"", names.user_name(i as u64)));
        let r = conn.call("GET", &format!("/Users?filter={filter}"), None).await?;
        let found = r.json()?;
        ensure!(found["totalResults"] == 1, "loaded user {i} is not found by userName: {found}");
    }
    let r = conn.call("GET", "/Users?count=1", None).await?;
    let total = r.json()?["totalResults"].as_u64().unwrap_or(0);
    ensure!(total >= n as u64, "the server counts {total} users, fewer than the {n} loaded");
    Ok(())
}
