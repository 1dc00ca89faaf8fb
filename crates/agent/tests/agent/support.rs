//! The parts the agent's tests run against, all in this process on 127.0.0.1:0: a test hub that speaks the
//! contract (register, rotate, connect, the frames of version 1), fake SCIM targets over HTTP and HTTPS (an rcgen
//! self-signed `localhost` certificate, or one issued by a test CA), an HTTP CONNECT proxy, and the agent itself.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use idplane_agent::commands::{Registration, register};
use idplane_agent::config::{AgentConfig, credential_path};
use idplane_agent::run::{RunOptions, run};
use idplane_agent_protocol::{
    Decoded, Frame, Headers, Hello, Ping, Pong, Request, SUBPROTOCOL, Welcome, decode, encode,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use url::Url;

/// How long a test waits for something that should happen at once before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// TLS

pub struct Tls {
    pub server: Arc<rustls::ServerConfig>,
    /// The issuing CA's PEM, when issued by a test CA.
    pub ca_pem: Option<String>,
    pub fingerprint: [u8; 32],
}

fn server_config(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A self-signed certificate for `localhost`, the common on-premises case.
pub fn self_signed() -> Tls {
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    Tls { server: server_config(&cert, &key_pair), ca_pem: None, fingerprint: idplane_agent::fingerprint(cert.der()) }
}

/// A certificate for `localhost` issued by a fresh test CA.
pub fn issued_by_test_ca() -> Tls {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "idplane test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    Tls {
        server: server_config(&cert, &key),
        ca_pem: Some(ca.pem()),
        fingerprint: idplane_agent::fingerprint(cert.der()),
    }
}

/// Serves `router` on 127.0.0.1:0, over TLS when given (upgrades allowed, for the hub's WebSocket).
async fn serve(router: Router, tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let Some(tls) = tls else {
        tokio::spawn(async move { axum::serve(listener, router).await });
        return addr;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------------------------
// The fake SCIM target

/// What the target received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct TargetState {
    seen: Mutex<Vec<Seen>>,
    arrived: Notify,
    /// `/scim/gate/{k}` answers once this reaches k.
    gate: Mutex<Option<watch::Sender<u32>>>,
}

pub struct Target {
    /// The tenant URL: `<scheme>://<host>:<port>/scim`.
    pub tenant_url: String,
    state: Arc<TargetState>,
    gate: watch::Sender<u32>,
}

impl Target {
    /// A target on 127.0.0.1 over HTTP, or on `localhost` (which its certificate names) over TLS.
    pub async fn start(tls: Option<&Tls>) -> Target {
        let (gate, _) = watch::channel(0);
        let state = Arc::new(TargetState::default());
        *state.gate.lock().unwrap() = Some(gate.clone());
        let router = Router::new()
            .route("/scim/echo", any(echo))
            .route("/scim/Users", any(echo))
            .route("/scim/big/{bytes}", get(big))
            .route("/scim/hang", any(hang))
            .route("/scim/moved", any(moved))
            .route("/scim/gate/{k}", any(gated))
            .with_state(state.clone());
        let addr = serve(router, tls.map(|t| t.server.clone())).await;
        let (scheme, host) = if tls.is_some() { ("https", "localhost") } else { ("http", "127.0.0.1") };
        Target { tenant_url: format!("{scheme}://{host}:{}/scim", addr.port()), state, gate }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived.
    pub async fn wait_for_arrivals(&self, n: usize) {
        within("requests to arrive at the target", async {
            loop {
                let notified = self.state.arrived.notified();
                if self.state.seen.lock().unwrap().len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
    }

    /// Lets `/scim/gate/{k}` answer for every k ≤ `k`.
    pub fn open_gate(&self, k: u32) {
        self.gate.send_replace(k);
    }
}

fn record(state: &TargetState, method: Method, path: String, headers: HeaderMap, body: Bytes) {
    state.seen.lock().unwrap().push(Seen { method, path, headers, body });
    state.arrived.notify_waiters();
}

async fn echo(
    State(state): State<Arc<TargetState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers.get("content-type").cloned();
    record(&state, method, uri.to_string(), headers, body.clone());
    let mut response = (StatusCode::CREATED, [("x-target", "fake"), ("set-cookie", "a=b")], body).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert("content-type", ct);
    }
    response
}

async fn moved() -> Response {
    (StatusCode::FOUND, [("location", "http://127.0.0.1:1/elsewhere")]).into_response()
}

async fn big(UrlPath(bytes): UrlPath<usize>) -> Response {
    (StatusCode::OK, Body::from(vec![b'x'; bytes])).into_response()
}

async fn hang(
    State(state): State<Arc<TargetState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    record(&state, method, uri.to_string(), headers, Bytes::new());
    std::future::pending::<Response>().await
}

async fn gated(
    State(state): State<Arc<TargetState>>,
    UrlPath(k): UrlPath<u32>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let mut gate = state.gate.lock().unwrap().as_ref().unwrap().subscribe();
    record(&state, method, uri.to_string(), headers, Bytes::new());
    let _ = gate.wait_for(|open| *open >= k).await;
    (StatusCode::OK, format!("gate {k}")).into_response()
}

// ---------------------------------------------------------------------------------------------------------------
// The test hub

pub struct HubState {
    tokens: Mutex<HashSet<String>>,
    /// credential → agent id
    credentials: Mutex<HashMap<String, String>>,
    minted: AtomicUsize,
    pub welcome: Mutex<Welcome>,
    /// Whether the hub answers the agent's pings (false: a silent hub).
    pub answer_pings: AtomicBool,
    pub unauthorized: AtomicUsize,
    unauthorized_seen: Notify,
    sessions: mpsc::UnboundedSender<HubSession>,
}

pub struct Hub {
    pub url: Url,
    pub state: Arc<HubState>,
    sessions: tokio::sync::Mutex<mpsc::UnboundedReceiver<HubSession>>,
}

/// One agent connection as the hub sees it. Dropping it drops the socket without a close.
pub struct HubSession {
    pub hello: Hello,
    to_agent: mpsc::UnboundedSender<Message>,
    from_agent: mpsc::UnboundedReceiver<Frame>,
    /// Completes when the agent closed or dropped the socket.
    pub gone: Option<oneshot::Receiver<()>>,
}

pub fn welcome(heartbeat_seconds: u32) -> Welcome {
    Welcome {
        session_id: "s".into(),
        heartbeat_seconds,
        max_in_flight: 64,
        max_body_bytes: 1 << 20,
        default_deadline_ms: 5_000,
        targets: vec![],
    }
}

impl Hub {
    pub async fn start(welcome: Welcome, tls: Option<&Tls>) -> Hub {
        let (sessions_tx, sessions) = mpsc::unbounded_channel();
        let state = Arc::new(HubState {
            tokens: Mutex::new(HashSet::new()),
            credentials: Mutex::new(HashMap::new()),
            minted: AtomicUsize::new(0),
            welcome: Mutex::new(welcome),
            answer_pings: AtomicBool::new(true),
            unauthorized: AtomicUsize::new(0),
            unauthorized_seen: Notify::new(),
            sessions: sessions_tx,
        });
        let router = Router::new()
            .route("/agent/v1/register", post(hub_register))
            .route("/agent/v1/rotate", post(hub_rotate))
            .route("/agent/v1/connect", get(hub_connect))
            .with_state(state.clone());
        let addr = serve(router, tls.map(|t| t.server.clone())).await;
        let url = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://127.0.0.1:{}", addr.port()),
        };
        Hub { url: Url::parse(&url).unwrap(), state, sessions: tokio::sync::Mutex::new(sessions) }
    }

    /// A fresh one-time registration token.
    pub fn token(&self) -> String {
        let token = format!("reg-{}", self.state.minted.fetch_add(1, Ordering::SeqCst));
        self.state.tokens.lock().unwrap().insert(token.clone());
        token
    }

    /// Forgets every credential: the next connects get 401.
    pub fn revoke_all(&self) -> HashMap<String, String> {
        std::mem::take(&mut *self.state.credentials.lock().unwrap())
    }

    pub fn restore(&self, credentials: HashMap<String, String>) {
        self.state.credentials.lock().unwrap().extend(credentials);
    }

    pub fn set_targets(&self, targets: Vec<String>) {
        self.state.welcome.lock().unwrap().targets = targets;
    }

    /// The next agent session.
    pub async fn session(&self) -> HubSession {
        within("an agent session", async { self.sessions.lock().await.recv().await.unwrap() }).await
    }

    /// Waits until `n` connects in all were refused with 401.
    pub async fn wait_for_unauthorized(&self, n: usize) {
        within("401 answers", async {
            loop {
                let notified = self.state.unauthorized_seen.notified();
                if self.state.unauthorized.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
    }
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::to_string)
}

async fn hub_register(State(state): State<Arc<HubState>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "the body is not JSON");
    };
    let (Some(token), Some(_host), Some(_version)) =
        (body["token"].as_str(), body["hostName"].as_str(), body["version"].as_str())
    else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "token, hostName and version are required");
    };
    if !state.tokens.lock().unwrap().remove(token) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidRegistrationToken", "the token is not valid");
    }
    let n = state.minted.fetch_add(1, Ordering::SeqCst);
    let (agent, credential) = (format!("agent-{n}"), format!("credential-{n}-{}", "k".repeat(43)));
    state.credentials.lock().unwrap().insert(credential.clone(), agent.clone());
    (StatusCode::CREATED, axum::Json(json!({"agentId": agent, "tenantId": "tenant-1", "credential": credential})))
        .into_response()
}

async fn hub_rotate(State(state): State<Arc<HubState>>, headers: HeaderMap) -> Response {
    let mut credentials = state.credentials.lock().unwrap();
    let Some(agent) = bearer(&headers).and_then(|c| credentials.remove(&c)) else {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAgentCredential", "unknown credential");
    };
    let credential = format!("rotated-{}", state.minted.fetch_add(1, Ordering::SeqCst));
    credentials.insert(credential.clone(), agent.clone());
    (StatusCode::OK, axum::Json(json!({"agentId": agent, "credential": credential}))).into_response()
}

async fn hub_connect(State(state): State<Arc<HubState>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let known = bearer(&headers).is_some_and(|c| state.credentials.lock().unwrap().contains_key(&c));
    if !known {
        state.unauthorized.fetch_add(1, Ordering::SeqCst);
        state.unauthorized_seen.notify_waiters();
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAgentCredential", "credential revoked or unknown");
    }
    ws.protocols([SUBPROTOCOL]).on_upgrade(move |socket| hub_session(state, socket))
}

async fn hub_session(state: Arc<HubState>, mut socket: WebSocket) {
    let Some(Ok(Message::Binary(first))) = socket.recv().await else { return };
    let Ok(Decoded::Frame(Frame::Hello(hello))) = decode(&first, 0) else { return };
    let welcome = state.welcome.lock().unwrap().clone();
    let max_body = welcome.max_body_bytes as usize;
    if socket.send(Message::Binary(encode(&Frame::Welcome(welcome)).unwrap().into())).await.is_err() {
        return;
    }
    let (to_agent, mut outbox) = mpsc::unbounded_channel::<Message>();
    let (inbox, from_agent) = mpsc::unbounded_channel();
    let (gone_tx, gone) = oneshot::channel();
    let _ = state.sessions.send(HubSession { hello, to_agent, from_agent, gone: Some(gone) });
    loop {
        tokio::select! {
            message = socket.recv() => {
                let Some(Ok(message)) = message else { break };
                let Message::Binary(bytes) = message else {
                    if matches!(message, Message::Close(_)) { break }
                    continue
                };
                let Ok(Decoded::Frame(frame)) = decode(&bytes, max_body) else { break };
                match frame {
                    Frame::Ping(Ping { nonce }) => {
                        if state.answer_pings.load(Ordering::SeqCst) {
                            let pong = encode(&Frame::Pong(Pong { nonce })).unwrap();
                            if socket.send(Message::Binary(pong.into())).await.is_err() { break }
                        }
                    }
                    other => { let _ = inbox.send(other); }
                }
            }
            message = outbox.recv() => {
                // The test dropped its HubSession: drop the socket, no close frame.
                let Some(message) = message else { return };
                if socket.send(message).await.is_err() { break }
            }
        }
    }
    let _ = gone_tx.send(());
}

impl HubSession {
    pub fn send(&self, frame: Frame) {
        self.to_agent.send(Message::Binary(encode(&frame).unwrap().into())).unwrap();
    }

    /// Sends a message as it is (a newer peer's frame, a malformed one).
    pub fn send_raw(&self, bytes: Vec<u8>) {
        self.to_agent.send(Message::Binary(bytes.into())).unwrap();
    }

    /// The next frame from the agent (pings are answered by the hub).
    pub async fn recv(&mut self) -> Frame {
        within("a frame from the agent", self.from_agent.recv()).await.expect("the agent's session ended")
    }

    /// The next frame, or None once the agent closed the session.
    pub async fn recv_or_end(&mut self) -> Option<Frame> {
        within("a frame or the end of the session", self.from_agent.recv()).await
    }

    pub async fn wait_gone(&mut self) {
        let gone = self.gone.take().unwrap();
        within("the agent to close the session", gone).await.unwrap();
    }
}

pub fn request(id: u64, method: &str, url: &str, token: &str, body: &[u8]) -> Frame {
    Frame::Request(Request {
        id,
        deadline_ms: 0,
        method: method.into(),
        url: url.into(),
        headers: Headers(vec![
            ("Authorization".into(), format!("Bearer {token}")),
            ("Content-Type".into(), "application/scim+json".into()),
            ("Connection".into(), "close-me-not".into()),
        ]),
        body: body.to_vec(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// The agent

pub struct Agent {
    pub config_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<Result<(), idplane_agent::Error>>>,
    _dir: tempfile::TempDir,
}

pub fn fast() -> RunOptions {
    RunOptions {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        healthy_after: Duration::from_secs(60),
        welcome_timeout: Duration::from_secs(5),
    }
}

/// Registers an agent with the hub (a fresh token) and lets `edit` change its config before it runs.
pub async fn registered(hub: &Hub, ca_bundle: Option<&str>, edit: impl FnOnce(&mut AgentConfig, &Path)) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("agent.toml");
    let ca_bundle = ca_bundle.map(|pem| {
        let path = dir.path().join("service-ca.pem");
        std::fs::write(&path, pem).unwrap();
        path
    });
    let registration =
        Registration { service: hub.url.clone(), token: hub.token(), config_path: config_path.clone(), ca_bundle };
    let mut config = register(&registration).await.unwrap();
    edit(&mut config, dir.path());
    config.save(&config_path).unwrap();
    Agent { config_path, stop: None, task: None, _dir: dir }
}

impl Agent {
    pub fn start(&mut self, options: RunOptions) {
        let (stop, stopped) = oneshot::channel::<()>();
        let path = self.config_path.clone();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            run(&path, options, async {
                let _ = stopped.await;
            })
            .await
        }));
    }

    pub fn credential(&self) -> String {
        std::fs::read_to_string(credential_path(&self.config_path)).unwrap().trim().to_string()
    }

    /// Signals a shutdown and waits for `run` to return.
    pub async fn stop(&mut self) -> Result<(), idplane_agent::Error> {
        let _ = self.stop.take().unwrap().send(());
        within("the agent to stop", self.task.take().unwrap()).await.unwrap()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// An HTTP CONNECT proxy

pub struct Proxy {
    pub url: String,
    /// The CONNECT targets it tunnelled to.
    pub tunnels: Arc<Mutex<Vec<String>>>,
}

pub async fn connect_proxy() -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(Mutex::new(Vec::new()));
    let seen = tunnels.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { return };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let Some(authority) = head.strip_prefix("CONNECT ").and_then(|r| r.split(' ').next()) else {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n").await;
                    return;
                };
                seen.lock().unwrap().push(authority.to_string());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(authority).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    Proxy { url, tunnels }
}
