//! A real idplane on a fresh store, bootstrapped, driven in-process or over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use idplane_core::bootstrap::{self, Bootstrapped};
use idplane_core::store::Store;
use idplane_core::token::{Secret, Token, TokenScope};
use idplane_provisioning::store::ProvisioningStore;
use idplane_server::auth_cache::AuthCache;
use idplane_server::store_times::StoreTimes;
use idplane_server::{AppState, router};
use idplane_store::{PgStore, SqliteStore};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::clock::ManualClock;
use crate::postgres::Database;

/// The admin token every [`App`] is bootstrapped with.
pub const TOKEN: &str = "dapi-test-admin-token";
/// The workspace-level SCIM base.
pub const WS: &str = "/api/2.0/preview/scim/v2";

/// The store an app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh idplane: its router and state, its store, the default account and workspace of its first start, and what
/// keeps its store alive (a temporary directory, a throwaway database).
pub struct App {
    pub router: Router,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    /// The same store, through the provisioning domain's ports.
    pub provisioning: Arc<dyn ProvisioningStore>,
    pub clock: Arc<ManualClock>,
    pub account: String,
    pub workspace: i64,
    /// The data directory of a SQLite store.
    pub data_dir: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
    _database: Option<Database>,
}

/// An answer, its body read as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

impl App {
    /// A fresh app on SQLite with the default settings.
    pub async fn new() -> Result<App> {
        App::on(Backend::Sqlite, |_| {}).await
    }

    /// A fresh app on `backend`, whose state `configure` adjusts before the router is built. Its auth cache keeps
    /// nothing (tests change the store directly, as the CLI or another node does; the auth cache has tests of its
    /// own, which set one), and it reads the time from [`App::clock`].
    pub async fn on(backend: Backend, configure: impl FnOnce(&mut AppState)) -> Result<App> {
        let times = Arc::new(StoreTimes::default());
        let (db, dir, database): (Arc<dyn idplane_store::Database>, _, _) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                (Arc::new(SqliteStore::open(dir.path())?.observed_by(times.clone())), Some(dir), None)
            }
            Backend::Postgres => {
                let database = Database::fresh("app").await?;
                (Arc::new(PgStore::connect(&database.url).await?.observed_by(times.clone())), None, Some(database))
            }
        };
        let (store, provisioning): (Arc<dyn Store>, Arc<dyn ProvisioningStore>) = (db.clone(), db);
        let clock = Arc::new(ManualClock::default());
        let Some(Bootstrapped { account, workspace, .. }) =
            bootstrap::bootstrap(store.as_ref(), Some(Secret::new(TOKEN.into())), clock_now(&clock)).await?
        else {
            anyhow::bail!("a fresh store must bootstrap");
        };
        idplane_provisioning::tenant::ensure_for_account(provisioning.as_ref(), &account.id, clock_now(&clock)).await?;
        let mut state =
            AppState::new(store.clone(), provisioning.clone()).with_store_times(times).with_clock(clock.clone());
        state.auth_cache = Arc::new(AuthCache::with_clock(Duration::ZERO, clock.clone()));
        configure(&mut state);
        Ok(App {
            router: router(state.clone()),
            state,
            store,
            provisioning,
            clock,
            account: account.id,
            workspace: workspace.id,
            data_dir: dir.as_ref().map(|d| d.path().to_path_buf()),
            _dir: dir,
            _database: database,
        })
    }

    /// Another node of the same deployment: its own server state (hub, caches, limits) on this app's store, with
    /// the same secrets key, then `configure`d. This app keeps the store alive.
    pub fn node(&self, configure: impl FnOnce(&mut AppState)) -> App {
        let mut state = AppState::new(self.store.clone(), self.provisioning.clone()).with_clock(self.clock.clone());
        state.auth_cache = Arc::new(AuthCache::with_clock(Duration::ZERO, self.clock.clone()));
        state.secrets = self.state.secrets.clone();
        configure(&mut state);
        App {
            router: router(state.clone()),
            state,
            store: self.store.clone(),
            provisioning: self.provisioning.clone(),
            clock: self.clock.clone(),
            account: self.account.clone(),
            workspace: self.workspace,
            data_dir: self.data_dir.clone(),
            _dir: None,
            _database: None,
        }
    }

    /// The account-level SCIM base of the default account.
    pub fn acct(&self) -> String {
        format!("/api/2.0/accounts/{}/scim/v2", self.account)
    }

    /// Sends a request in-process, with the admin token unless `headers` has an `authorization`, as a JSON body
    /// when `body` is given.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let mut req = Request::builder().method(method).uri(uri).header(header::HOST, "idp.test");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            req = req.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/scim+json; charset=utf-8")
                .body(Body::from(b.to_string()))?,
            None => req.body(Body::empty())?,
        };
        let res = self.router.clone().oneshot(req).await?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await?.to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("{status} from {uri} is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
            })?
        };
        Ok(Reply { status, headers, body })
    }

    pub async fn get(&self, uri: &str) -> Result<Reply> {
        self.send(Method::GET, uri, None, &[]).await
    }

    pub async fn get_as(&self, uri: &str, token: &str) -> Result<Reply> {
        self.send(Method::GET, uri, None, &[("authorization", &format!("Bearer {token}"))]).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Result<Reply> {
        self.send(Method::POST, uri, Some(body), &[]).await
    }

    /// A SCIM PATCH with these operations.
    pub async fn patch(&self, uri: &str, ops: Value) -> Result<Reply> {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        self.send(Method::PATCH, uri, Some(body), &[]).await
    }

    /// Creates a user at `base`; its id.
    pub async fn user(&self, base: &str, user_name: &str) -> Result<String> {
        let r = self.post(&format!("{base}/Users"), json!({"userName": user_name})).await?;
        anyhow::ensure!(r.status == StatusCode::CREATED, "creating {user_name}: {} {}", r.status, r.body);
        Ok(r.body["id"].as_str().unwrap_or_default().to_string())
    }

    /// A new token acting as `principal` in `scope`, written to the store as the CLI writes it.
    pub async fn token_for(&self, scope: TokenScope, principal: Option<i64>) -> Result<String> {
        let secret = Secret::generate()?;
        let token = Token::new(&secret, scope, principal, "test", clock_now(&self.clock), None);
        self.store.insert_token(&token, &[]).await?;
        Ok(secret.expose().to_string())
    }

    /// Serves this app over HTTP on `127.0.0.1:0`, until the returned handle is dropped.
    pub async fn listen(&self) -> Result<Listening> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = self.router.clone();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            idplane_server::serve::serve(listener, app, None, Default::default(), shutdown).await;
        });
        Ok(Listening { addr, client: reqwest::Client::new(), _stop: stop, _task: task })
    }
}

fn clock_now(clock: &ManualClock) -> time::OffsetDateTime {
    idplane_server::clock::Clock::now(clock)
}

/// An app served over HTTP: its address and a client.
pub struct Listening {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _task: tokio::task::JoinHandle<()>,
}

impl Listening {
    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends a request over HTTP with `token`; the status and the body read as JSON (`Null` when empty).
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())?;
        let mut req = self.client.request(method, format!("{}{path}", self.origin())).bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b.to_string());
        }
        let res = req.send().await.context("sending the request")?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? }))
    }
}

/// Asserts that `r` is a SCIM Error message with `status` (as a string, as RFC 7644 and the Go clients want), a
/// detail, and `scim_type` (or none).
pub fn assert_scim_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{}", r.body);
    assert_eq!(r.body["status"], status.to_string(), "status must be a string: {}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.body);
    match scim_type {
        Some(t) => assert_eq!(r.body["scimType"], t, "{}", r.body),
        None => assert!(r.body.get("scimType").is_none(), "{}", r.body),
    }
    assert!(r.header(header::CONTENT_TYPE).starts_with("application/scim+json"));
}
