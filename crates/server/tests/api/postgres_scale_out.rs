//! Scale-out correctness: three idplane nodes (each its own router and PostgreSQL connection pool, as separate
//! processes would have) on one PostgreSQL database, under concurrent requests. PostgreSQL tests: `#[ignore]`d, run
//! by `scripts/test` (see `idplane_testkit`). The nodes share a clock that the tests move forward.

use std::sync::Arc;

use anyhow::Result;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use idplane_core::bootstrap::{self, Bootstrapped};
use idplane_core::token::Secret;
use idplane_server::auth_cache::AuthCache;
use idplane_server::{AppState, router};
use idplane_store::PgStore;
use idplane_testkit::ManualClock;
use idplane_testkit::postgres::Database;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "dapi-scale-out-admin";
const WS: &str = "/api/2.0/preview/scim/v2";
/// The nodes' auth cache time to live: the bound on how long a revoked token keeps working on another node.
/// Long enough that the time the test itself takes does not matter: the tests move the nodes' clock past it.
const AUTH_CACHE: std::time::Duration = std::time::Duration::from_secs(3600);

struct Cluster {
    nodes: Vec<Router>,
    clock: Arc<ManualClock>,
    _database: Database,
}

/// `n` nodes on one fresh database, bootstrapped with [`TOKEN`].
async fn cluster(n: usize) -> Result<Cluster> {
    let database = Database::fresh("scaleout").await?;
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        stores.push(Arc::new(PgStore::connect(&database.url).await?));
    }
    let now = time::OffsetDateTime::now_utc();
    let Some(Bootstrapped { .. }) =
        bootstrap::bootstrap(stores[0].as_ref(), Some(Secret::new(TOKEN.into())), now).await?
    else {
        anyhow::bail!("a fresh database must bootstrap");
    };
    let clock = Arc::new(ManualClock::default());
    let nodes = stores
        .iter()
        .map(|s| {
            let mut state = AppState::new(s.clone(), s.clone()).with_clock(clock.clone());
            state.auth_cache = Arc::new(AuthCache::with_clock(AUTH_CACHE, clock.clone()));
            router(state)
        })
        .collect();
    Ok(Cluster { nodes, clock, _database: database })
}

async fn send(
    node: &Router,
    method: Method,
    uri: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Result<(StatusCode, Value)> {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, "idp.test");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
        req = req.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/scim+json").body(Body::from(b.to_string()))?,
        None => req.body(Body::empty())?,
    };
    let res = node.clone().oneshot(req).await?;
    let status = res.status();
    let bytes = res.into_body().collect().await?.to_bytes();
    Ok((status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn uniqueness_holds_however_requests_race_across_nodes() -> Result<()> {
    let c = cluster(3).await?;
    let mut racers = Vec::new();
    for i in 0..30 {
        let node = c.nodes[i % 3].clone();
        let name = if i % 2 == 0 { "race@x.com" } else { "RACE@x.com" };
        racers.push(tokio::spawn(async move {
            send(&node, Method::POST, &format!("{WS}/Users"), Some(json!({"userName": name})), &[]).await
        }));
    }
    let mut created = 0;
    for r in racers {
        let (status, body) = r.await??;
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => anyhow::bail!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 1, "exactly one of 30 racing creates wins");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn etags_detect_changes_made_on_another_node() -> Result<()> {
    let c = cluster(3).await?;
    let (_, user) =
        send(&c.nodes[0], Method::POST, &format!("{WS}/Users"), Some(json!({"userName": "e@x.com"})), &[]).await?;
    let uri = format!("{WS}/Users/{}", user["id"].as_str().unwrap_or_default());
    let read = user["meta"]["version"].as_str().unwrap_or_default().to_string();
    let patch = json!({"Operations": [{"op": "replace", "path": "displayName", "value": "B"}]});
    let (status, _) = send(&c.nodes[1], Method::PATCH, &uri, Some(patch), &[("if-match", &read)]).await?;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        send(&c.nodes[2], Method::PUT, &uri, Some(json!({"userName": "e@x.com"})), &[("if-match", &read)]).await?;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn concurrent_member_changes_on_several_nodes_lose_nothing() -> Result<()> {
    let c = cluster(3).await?;
    let (_, group) =
        send(&c.nodes[0], Method::POST, &format!("{WS}/Groups"), Some(json!({"displayName": "g"})), &[]).await?;
    let uri = format!("{WS}/Groups/{}", group["id"].as_str().unwrap_or_default());
    let mut users = Vec::new();
    for i in 0..30 {
        let (_, u) = send(
            &c.nodes[i % 3],
            Method::POST,
            &format!("{WS}/Users"),
            Some(json!({"userName": format!("m{i}@x.com")})),
            &[],
        )
        .await?;
        users.push(u["id"].as_str().unwrap_or_default().to_string());
    }
    let mut adds = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let (node, uri) = (c.nodes[i % 3].clone(), uri.clone());
        let patch = json!({"Operations": [{"op": "Add", "path": "members", "value": [{"value": u}]}]});
        adds.push(tokio::spawn(async move { send(&node, Method::PATCH, &uri, Some(patch), &[]).await }));
    }
    for a in adds {
        assert_eq!(a.await??.0, StatusCode::OK);
    }
    // Remove a third of them concurrently too, by Entra's value array, from all nodes.
    let mut removes = Vec::new();
    for (i, u) in users.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let (node, uri) = (c.nodes[(i + 1) % 3].clone(), uri.clone());
        let patch = json!({"Operations": [{"op": "Remove", "path": "members", "value": [{"value": u}]}]});
        removes.push(tokio::spawn(async move { send(&node, Method::PATCH, &uri, Some(patch), &[]).await }));
    }
    for r in removes {
        assert_eq!(r.await??.0, StatusCode::OK);
    }
    let (_, g) = send(&c.nodes[2], Method::GET, &uri, None, &[]).await?;
    assert_eq!(g["members"].as_array().map(Vec::len), Some(20), "{g}");
    assert_eq!(g["meta"]["version"], "W/\"41\"", "one version per change, from whichever node");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn a_revoked_token_stops_working_at_once_on_its_node_and_on_every_node_within_the_bound() -> Result<()> {
    let c = cluster(3).await?;
    let (_, created) =
        send(&c.nodes[0], Method::POST, "/api/2.0/token/create", Some(json!({"comment": "x"})), &[]).await?;
    let pat = format!("Bearer {}", created["token_value"].as_str().unwrap_or_default());
    for node in &c.nodes {
        assert_eq!(
            send(node, Method::GET, &format!("{WS}/Me"), None, &[("authorization", &pat)]).await?.0,
            StatusCode::OK
        );
    }
    let id = created["token_info"]["token_id"].clone();
    let (status, _) =
        send(&c.nodes[1], Method::POST, "/api/2.0/token/delete", Some(json!({"token_id": id})), &[]).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        send(&c.nodes[1], Method::GET, &format!("{WS}/Me"), None, &[("authorization", &pat)]).await?.0,
        StatusCode::UNAUTHORIZED,
        "the node that revoked it refuses it at once"
    );
    // The others may rely on what they read for the auth cache's time to live, and no longer.
    c.clock.advance(AUTH_CACHE);
    for node in &c.nodes {
        assert_eq!(
            send(node, Method::GET, &format!("{WS}/Me"), None, &[("authorization", &pat)]).await?.0,
            StatusCode::UNAUTHORIZED
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn a_cursor_issued_by_one_node_works_on_another() -> Result<()> {
    let c = cluster(3).await?;
    for i in 0..7 {
        send(
            &c.nodes[i % 3],
            Method::POST,
            &format!("{WS}/Users"),
            Some(json!({"userName": format!("c{i}@x.com")})),
            &[],
        )
        .await?;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for page in 0..10 {
        let (status, body) =
            send(&c.nodes[page % 3], Method::GET, &format!("{WS}/Users?count=3&cursor={cursor}"), None, &[]).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(
            body["Resources"].as_array().into_iter().flatten().filter_map(|u| u["id"].as_str().map(str::to_string)),
        );
        match body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((total, seen.len()), (8, 8), "seven users and the admin, each once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test runs it"]
async fn nodes_starting_together_bootstrap_the_store_once() -> Result<()> {
    let empty = Database::fresh("bootstrap_race").await?;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(PgStore::connect(&empty.url).await?));
    }
    let now = time::OffsetDateTime::now_utc();
    let mut starts = Vec::new();
    for store in &stores {
        let store = store.clone();
        starts.push(tokio::spawn(async move { bootstrap::bootstrap(store.as_ref(), None, now).await }));
    }
    let mut bootstrapped = 0;
    for s in starts {
        if s.await??.is_some() {
            bootstrapped += 1;
        }
    }
    assert_eq!(bootstrapped, 1, "exactly one node bootstraps");
    use idplane_core::store::TenancyStore;
    assert_eq!(stores[2].accounts().await?.len(), 1, "one default account");
    Ok(())
}
