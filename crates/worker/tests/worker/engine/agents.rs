//! Provisioning through on-premises agents: the real agent (`idplane_agent`) registered and assigned through the
//! APIs, carrying Test Connection and cycles while the direct way to the target is broken; and scripted agents
//! (raw WebSockets speaking the protocol) that misbehave: one that drops its socket mid-request, one that never
//! answers pings, one that reconnects with the same id, one that answers with an oversized body.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use async_trait::async_trait;
use axum::http::Method;
use idplane_agent_protocol::{self as proto, Decoded, Frame};
use idplane_scim_client::transport::{HttpRequest, HttpResponse};
use idplane_scim_client::{Error as ScimError, TenantUrl, Transport};
use idplane_server::hub::{Hub, HubConfig};
use idplane_worker::route::AgentRelay;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Setup, Template, Where, graph, user};

const PROVISIONING: &str = "/v1.0/onPremisesPublishingProfiles/provisioning";

/// The direct way to targets, broken: anything that arrives went through an agent.
struct Unreachable;

#[async_trait]
impl Transport for Unreachable {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, ScimError> {
        Err(ScimError::Request(format!("the direct way is closed in this test: {}", request.line())))
    }
}

/// A setup whose hub pings every `heartbeat` and relays bodies up to `max_body` bytes.
async fn setup(heartbeat: Duration, max_body: u64) -> Result<Setup> {
    let config =
        HubConfig { heartbeat, max_body_bytes: max_body, deadline: Duration::from_secs(5), ..Default::default() };
    let mut s = Setup::build_with(Template::Databricks, Where::Account, "", move |state| {
        state.hub = Hub::new(state.provisioning.clone(), "test", config);
    })
    .await?;
    s.transport = Arc::new(Unreachable);
    Ok(s)
}

/// Registers an agent with a fresh registration token: its id and credential.
async fn register(s: &Setup) -> Result<(String, String)> {
    let (agent, credential, _) = register_in(s).await?;
    Ok((agent, credential))
}

/// The same, with the tenant's id.
async fn register_in(s: &Setup) -> Result<(String, String, String)> {
    let token = graph(&s.app, Method::POST, &format!("{PROVISIONING}/registrationTokens"), Some(json!({}))).await?;
    let token = token["token"].as_str().context("registration token")?;
    let url = format!("{}/agent/v1/register", s.target.origin());
    let body = json!({"token": token, "hostName": "corp-test", "version": "test"});
    let r = s.target.client.post(&url).json(&body).send().await?;
    ensure!(r.status() == 201, "register: {}", r.status());
    let r: Value = r.json().await?;
    let field = |k: &str| r[k].as_str().map(str::to_owned).with_context(|| k.to_owned());
    Ok((field("agentId")?, field("credential")?, field("tenantId")?))
}

async fn assign(s: &Setup, agent: &str) -> Result<()> {
    let uri = format!("{PROVISIONING}/agentGroups/{}/agents/$ref", s.sp);
    let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0{PROVISIONING}/agents/{agent}")});
    let r = s.app.send(Method::POST, &uri, Some(body), &[]).await?;
    ensure!(r.status.as_u16() == 204, "assign: {} {}", r.status, r.body);
    Ok(())
}

/// Test Connection of the job: `None` when it passes, else the error code.
async fn test_connection(s: &Setup) -> Result<Option<String>> {
    let uri = format!("{}/jobs/{}/validateCredentials", s.sync, s.job);
    let r = s.app.send(Method::POST, &uri, Some(json!({"useSavedCredentials": true})), &[]).await?;
    if r.status.is_success() {
        return Ok(None);
    }
    Ok(Some(r.body["error"]["code"].as_str().unwrap_or_default().to_string()))
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        ensure!(tokio::time::Instant::now() < deadline, "within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test]
async fn the_real_agent_carries_test_connection_and_cycles_and_its_absence_is_reported() -> Result<()> {
    let s = setup(Duration::from_millis(300), 8 << 20).await?;
    let alice = user(&s.app, "alice@corp.test", "Alice", "Corp").await?;
    let bob = user(&s.app, "bob@corp.test", "Bob", "Corp").await?;
    s.assign(&alice).await?;
    s.assign(&bob).await?;

    // Without agents, Test Connection goes direct (the API's own transport reaches the target here); the cycles
    // below run with the direct way closed.
    ensure!(test_connection(&s).await?.is_none(), "direct Test Connection");

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("agent.toml");
    let token = graph(&s.app, Method::POST, &format!("{PROVISIONING}/registrationTokens"), Some(json!({}))).await?;
    let registration = idplane_agent::commands::Registration {
        service: s.target.origin().parse()?,
        token: token["token"].as_str().context("token")?.into(),
        config_path: config.clone(),
        ca_bundle: None,
    };
    let agent = idplane_agent::commands::register(&registration).await?.agent_id;
    assign(&s, &agent).await?;
    ensure!(test_connection(&s).await?.as_deref() == Some("HybridIdentityServiceNoActiveAgents"));
    graph(&s.app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;
    let failed = s.cycle().await?;
    ensure!(
        failed["lastExecution"]["error"]["code"] == "HybridIdentityServiceNoActiveAgents",
        "a cycle with the agent down: {failed}"
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = idplane_agent::run::RunOptions {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..Default::default()
    };
    let running = tokio::spawn(async move {
        idplane_agent::run::run(&config, options, async {
            let _ = stopped.await;
        })
        .await
    });
    let hub = s.app.state.hub.clone();
    until("the agent connects", || hub.is_connected(&agent)).await?;
    ensure!(test_connection(&s).await?.is_none(), "Test Connection through the agent");
    let status = s.cycle().await?;
    ensure!(status["lastExecution"]["state"] == "Succeeded", "the cycle through the agent: {status}");
    for upn in ["alice@corp.test", "bob@corp.test"] {
        ensure!(s.target_user(upn).await?.is_some(), "{upn} was provisioned through the agent");
    }
    let listed = graph(&s.app, Method::GET, &format!("{PROVISIONING}/agents/{agent}"), None).await?;
    ensure!(listed["status"] == "active", "the agent's status: {listed}");

    let _ = stop.send(());
    running.await??;
    until("the agent's session ends", || !hub.is_connected(&agent)).await?;
    let carol = user(&s.app, "carol@corp.test", "Carol", "Corp").await?;
    s.assign(&carol).await?;
    let status = s.cycle().await?;
    ensure!(
        status["lastExecution"]["error"]["code"] == "HybridIdentityServiceNoActiveAgents",
        "a cycle after the agent stopped: {status}"
    );
    ensure!(s.target_user("carol@corp.test").await?.is_none(), "nothing went around the agent");
    Ok(())
}

/// A scripted agent: a raw WebSocket that said hello and got its welcome.
struct Scripted {
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
}

impl Scripted {
    async fn connect(s: &Setup, agent: &str, credential: &str) -> Result<Scripted> {
        Scripted::connect_taking(s, agent, credential, 8).await
    }

    /// The same, the agent taking at most `max_in_flight` requests at once.
    async fn connect_taking(s: &Setup, agent: &str, credential: &str, max_in_flight: u32) -> Result<Scripted> {
        let stream = TcpStream::connect(s.target.addr).await?;
        let mut request = format!("ws://{}/agent/v1/connect", s.target.addr).into_client_request()?;
        request.headers_mut().insert("authorization", format!("Bearer {credential}").parse()?);
        request.headers_mut().insert("sec-websocket-protocol", proto::SUBPROTOCOL.parse()?);
        let (ws, _) = tokio_tungstenite::client_async(request, stream).await?;
        let mut a = Scripted { ws };
        let hello = proto::Hello {
            protocol: proto::PROTOCOL_VERSION,
            agent_id: agent.into(),
            version: "scripted".into(),
            host_name: "scripted".into(),
            max_in_flight,
            allow_list: Vec::new(),
        };
        a.send(&Frame::Hello(hello)).await?;
        match a.next().await? {
            Some(Frame::Welcome(_)) => Ok(a),
            other => bail!("expected a welcome, got {other:?}"),
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<()> {
        use futures_util::SinkExt;
        self.ws.send(Message::Binary(proto::encode(frame)?.into())).await?;
        Ok(())
    }

    /// The next frame other than a ping (answered) or a config; `None` once the hub closed the socket.
    async fn next(&mut self) -> Result<Option<Frame>> {
        use futures_util::StreamExt;
        loop {
            let Some(message) = tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await? else {
                return Ok(None);
            };
            match message {
                Ok(Message::Binary(b)) => match proto::decode(&b, 64 << 20)? {
                    Decoded::Frame(Frame::Ping(p)) => self.send(&Frame::Pong(proto::Pong { nonce: p.nonce })).await?,
                    Decoded::Frame(Frame::Config(_)) => {}
                    Decoded::Frame(f) => return Ok(Some(f)),
                    Decoded::Unknown { .. } => {}
                },
                Ok(Message::Close(_)) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
    }

    /// Reads frames, answering nothing (not even pings), until the hub closes the socket.
    async fn silent_until_closed(&mut self) -> Result<()> {
        use futures_util::StreamExt;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await? {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            }
        }
    }
}

fn relay_of(s: &Setup, tenant_id: &str) -> Result<Arc<dyn Transport>> {
    let tenant = TenantUrl::parse(&s.dest.tenant_url)?;
    Ok(s.app.state.hub.transport(tenant_id, &s.sp, &tenant))
}

fn request(method: idplane_scim_client::Method, s: &Setup) -> Result<HttpRequest> {
    Ok(HttpRequest {
        method,
        url: format!("{}/Users?count=1", s.dest.base).parse()?,
        headers: vec![("Accept".into(), "application/scim+json".into())],
        bearer: Some(idplane_scim_client::SecretToken::new(s.dest.token.clone())?),
        body: (method == idplane_scim_client::Method::Post).then(|| b"{}".to_vec()),
    })
}

/// Sends `request` through `relay` in a task of its own, for the test to play the agent meanwhile.
fn sent(relay: &Arc<dyn Transport>, request: HttpRequest) -> tokio::task::JoinHandle<Result<HttpResponse, ScimError>> {
    let relay = relay.clone();
    tokio::spawn(async move { relay.send(request).await })
}

fn code(e: &ScimError) -> &'static str {
    match e {
        ScimError::Relay { code, .. } => code,
        _ => "",
    }
}

#[tokio::test]
async fn a_dropped_agent_fails_a_write_once_and_hands_a_read_to_the_next_agent() -> Result<()> {
    let s = setup(Duration::from_secs(5), 8 << 20).await?;
    let (x, x_credential, tenant) = register_in(&s).await?;
    let (y, y_credential) = register(&s).await?;
    assign(&s, &x).await?;
    assign(&s, &y).await?;
    let relay = relay_of(&s, &tenant)?;

    // A write whose agent vanished may have been delivered: not sent again.
    let mut dropper = Scripted::connect(&s, &x, &x_credential).await?;
    let mut answerer = Scripted::connect(&s, &y, &y_credential).await?;
    let post = sent(&relay, request(idplane_scim_client::Method::Post, &s)?);
    let Some(Frame::Request(r)) = dropper.next().await? else { bail!("the first agent got no request") };
    ensure!(r.headers.get("authorization").is_some_and(|v| v.starts_with("Bearer ")), "the token travels along");
    drop(dropper);
    let e = post.await?.err().context("the write succeeded without an answer")?;
    ensure!(code(&e) == "HybridIdentityServiceAgentSignalingError", "{e}");
    let nothing = tokio::time::timeout(Duration::from_millis(300), answerer.next()).await;
    ensure!(nothing.is_err(), "the write was sent again to the other agent: {nothing:?}");

    // A read goes to the next agent.
    let mut dropper = Scripted::connect(&s, &x, &x_credential).await?;
    let get = sent(&relay, request(idplane_scim_client::Method::Get, &s)?);
    let Some(Frame::Request(_)) = dropper.next().await? else { bail!("the first agent got no read") };
    drop(dropper);
    let Some(Frame::Request(r)) = answerer.next().await? else { bail!("the read was not handed on") };
    let response = proto::Response {
        id: r.id,
        status: 200,
        headers: proto::Headers(vec![("Content-Type".into(), "application/scim+json".into())]),
        body: br#"{"Resources": []}"#.to_vec(),
        elapsed_ms: 1,
    };
    answerer.send(&Frame::Response(response)).await?;
    let answered = get.await??;
    ensure!(answered.status == 200 && answered.header("content-type").is_some(), "{answered:?}");
    Ok(())
}

#[tokio::test]
async fn a_silent_agent_is_dropped_and_a_reconnecting_one_replaces_its_session() -> Result<()> {
    let s = setup(Duration::from_millis(100), 8 << 20).await?;
    let (x, credential) = register(&s).await?;
    assign(&s, &x).await?;
    let hub = s.app.state.hub.clone();

    let mut silent = Scripted::connect(&s, &x, &credential).await?;
    ensure!(hub.is_connected(&x));
    silent.silent_until_closed().await?;
    until("the silent agent's session is gone", || !hub.is_connected(&x)).await?;

    let mut first = Scripted::connect(&s, &x, &credential).await?;
    let _second = Scripted::connect(&s, &x, &credential).await?;
    ensure!(first.next().await?.is_none(), "the older session was not closed");
    ensure!(hub.is_connected(&x), "the newer session holds");
    let agent = graph(&s.app, Method::GET, &format!("{PROVISIONING}/agents/{x}"), None).await?;
    ensure!(agent["status"] == "active", "{agent}");
    Ok(())
}

#[tokio::test]
async fn an_oversized_answer_ends_the_session_not_the_hub() -> Result<()> {
    let s = setup(Duration::from_secs(5), 1024).await?;
    let (x, credential, tenant) = register_in(&s).await?;
    assign(&s, &x).await?;
    let relay = relay_of(&s, &tenant)?;
    let mut agent = Scripted::connect(&s, &x, &credential).await?;
    let get = sent(&relay, request(idplane_scim_client::Method::Get, &s)?);
    let Some(Frame::Request(r)) = agent.next().await? else { bail!("no request") };
    let huge = proto::Response {
        id: r.id,
        status: 200,
        headers: proto::Headers::default(),
        body: vec![b'x'; 4096],
        elapsed_ms: 1,
    };
    agent.send(&Frame::Response(huge)).await?;
    let e = get.await?.err().context("an oversized answer was accepted")?;
    ensure!(code(&e) == "HybridIdentityServiceAgentSignalingError", "{e}");
    ensure!(agent.next().await?.is_none(), "the session survived a frame over the limit");
    // The hub still takes the agent back.
    let _again = Scripted::connect(&s, &x, &credential).await?;
    ensure!(s.app.state.hub.is_connected(&x));
    Ok(())
}

#[tokio::test]
async fn with_two_nodes_the_node_without_the_agent_forwards_test_connection_and_leaves_cycles_to_the_other()
-> Result<()> {
    const KEY: [u8; 32] = [7; 32];
    let forwarding = || idplane_server::hub::forward::Forwarding::from_secrets_key(&KEY, Duration::from_secs(5));
    let s = setup(Duration::from_millis(300), 8 << 20).await?;
    ensure!(s.app.state.hub.forward_as(&s.target.origin(), forwarding()?));
    let b = s.app.node(|state| state.hub = Hub::new(state.provisioning.clone(), "b", HubConfig::default()));
    let b_listening = b.listen().await?;
    ensure!(b.state.hub.forward_as(&b_listening.origin(), forwarding()?));
    let alice = user(&s.app, "alice@corp.test", "Alice", "Corp").await?;
    s.assign(&alice).await?;

    // The agent connects to node A.
    let (x, credential) = register(&s).await?;
    assign(&s, &x).await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("agent.toml");
    let mut agent_config =
        idplane_agent::config::AgentConfig::new(s.target.origin().parse()?, x.clone(), "tenant".into());
    agent_config.max_in_flight = 8;
    agent_config.save(&config)?;
    idplane_agent::config::Credential::new(credential).save(&idplane_agent::config::credential_path(&config))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        idplane_agent::run::run(&config, Default::default(), async {
            let _ = stopped.await;
        })
        .await
    });
    let hub = s.app.state.hub.clone();
    until("the agent connects to node A", || hub.is_connected(&x)).await?;

    // Test Connection through node B: forwarded to node A, carried by the agent.
    let uri = format!("{}/jobs/{}/validateCredentials", s.sync, s.job);
    let r = b.send(Method::POST, &uri, Some(json!({"useSavedCredentials": true})), &[]).await?;
    ensure!(r.status.as_u16() == 204, "Test Connection through node B: {} {}", r.status, r.body);

    // Node B's scheduler leaves the job to node A, whose agent it is.
    graph(&s.app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;
    let scheduler = |node: &str, state: &idplane_server::AppState| idplane_worker::scheduler::Scheduler {
        services: idplane_worker::job::Services {
            transport: Arc::new(Unreachable),
            ..idplane_server::graph::runs::services(state)
        },
        node: node.to_owned(),
        now: Arc::new(time::OffsetDateTime::now_utc),
        poll: Duration::from_secs(1),
        max_jobs: 1,
        lease: idplane_provisioning::cycle::state::LEASE,
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(1));
    let stop_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    scheduler(b.state.hub.node(), &b.state).tick(&slots, &stop_flag).await;
    let state = s.app.provisioning.run_state(&s.job).await?.context("run state")?;
    ensure!(
        state.lease_owner.is_none(),
        "node B took the job of an agent connected to node A: {:?}",
        state.lease_owner
    );
    let status = s.cycle().await?;
    ensure!(status["lastExecution"]["state"] == "Succeeded", "node A's cycle: {status}");
    ensure!(s.target_user("alice@corp.test").await?.is_some());

    let _ = stop.send(());
    running.await??;
    Ok(())
}

#[tokio::test]
async fn a_deleted_agent_is_disconnected_at_once_and_cannot_connect_again() -> Result<()> {
    let s = setup(Duration::from_secs(5), 8 << 20).await?;
    let (x, credential) = register(&s).await?;
    assign(&s, &x).await?;
    let mut agent = Scripted::connect(&s, &x, &credential).await?;
    let r = s.app.send(Method::DELETE, &format!("{PROVISIONING}/agents/{x}"), None, &[]).await?;
    ensure!(r.status.as_u16() == 204, "delete: {} {}", r.status, r.body);
    // Well before the next heartbeat (5 s): the revocation closes the session.
    let closed = tokio::time::timeout(Duration::from_secs(2), agent.next()).await;
    ensure!(matches!(closed, Ok(Ok(None))), "the revoked agent's session is still open: {closed:?}");
    ensure!(!s.app.state.hub.is_connected(&x));
    ensure!(Scripted::connect(&s, &x, &credential).await.is_err(), "a revoked credential connected again");
    Ok(())
}

#[tokio::test]
async fn requests_beyond_what_an_agent_takes_at_once_wait_their_turn() -> Result<()> {
    let s = setup(Duration::from_secs(5), 8 << 20).await?;
    let (x, credential, tenant) = register_in(&s).await?;
    assign(&s, &x).await?;
    let relay = relay_of(&s, &tenant)?;
    let mut agent = Scripted::connect_taking(&s, &x, &credential, 1).await?;
    let first = sent(&relay, request(idplane_scim_client::Method::Get, &s)?);
    let second = sent(&relay, request(idplane_scim_client::Method::Get, &s)?);
    let Some(Frame::Request(r)) = agent.next().await? else { bail!("no first request") };
    let early = tokio::time::timeout(Duration::from_millis(300), agent.next()).await;
    ensure!(early.is_err(), "a second request came while the agent takes one at a time: {early:?}");
    let answer =
        |id| proto::Response { id, status: 200, headers: proto::Headers::default(), body: Vec::new(), elapsed_ms: 1 };
    agent.send(&Frame::Response(answer(r.id))).await?;
    let Some(Frame::Request(r2)) = agent.next().await? else { bail!("the second request never came") };
    agent.send(&Frame::Response(answer(r2.id))).await?;
    ensure!(first.await??.status == 200 && second.await??.status == 200);
    Ok(())
}
