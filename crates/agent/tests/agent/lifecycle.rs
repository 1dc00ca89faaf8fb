//! The session's life: heartbeats both ways, drain, reconnects after a dropped socket, a silent service or a 401,
//! shutdown, the service over HTTPS through a CONNECT proxy, and no secret in the logs.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idplane_agent_protocol::{Drain, FailureKind, Frame, Ping, Pong};
use tokio::time::Instant;

use crate::support::{Hub, Target, connect_proxy, fast, issued_by_test_ca, registered, request, welcome};

#[tokio::test]
async fn the_agent_answers_pings_and_pings_the_service() {
    let hub = Hub::start(welcome(1), None).await;
    let mut agent = registered(&hub, None, |_, _| {}).await;
    agent.start(fast());
    let mut session = hub.session().await;
    session.send(Frame::Ping(Ping { nonce: 4242 }));
    assert_eq!(session.recv().await, Frame::Pong(Pong { nonce: 4242 }));
    agent.stop().await.unwrap();
}

#[tokio::test]
async fn a_newer_peers_frame_is_ignored_and_an_oversized_one_ends_the_session() {
    let hub = Hub::start(welcome(10), None).await;
    let mut agent = registered(&hub, None, |_, _| {}).await;
    agent.start(fast());
    let mut first = hub.session().await;
    assert_eq!(first.hello.version, env!("CARGO_PKG_VERSION"));
    assert!(!first.hello.host_name.is_empty());
    let header = br#"{"type":"resumeSession","token":"x"}"#;
    let mut unknown = (header.len() as u32).to_be_bytes().to_vec();
    unknown.extend_from_slice(header);
    first.send_raw(unknown);
    first.send(Frame::Ping(Ping { nonce: 5 }));
    assert_eq!(first.recv().await, Frame::Pong(Pong { nonce: 5 }), "the session goes on");

    // The hub's Welcome says maxBodyBytes 1 MiB: a request body over it is a protocol error.
    first.send(request(1, "POST", "http://127.0.0.1:1/scim/Users", "t", &vec![0; (1 << 20) + 1]));
    assert_eq!(first.recv_or_end().await, None, "the agent closed the session");
    let mut second = hub.session().await;
    second.send(Frame::Ping(Ping { nonce: 6 }));
    assert_eq!(second.recv().await, Frame::Pong(Pong { nonce: 6 }), "and opened a new one");
}

#[tokio::test]
async fn drain_finishes_the_requests_in_flight_then_reconnects_at_once() {
    let target = Target::start(None).await;
    let hub = Hub::start(welcome(10), None).await;
    hub.set_targets(vec![target.tenant_url.clone()]);
    let mut agent = registered(&hub, None, |_, _| {}).await;
    agent.start(fast());
    let mut first = hub.session().await;
    first.send(request(1, "GET", &format!("{}/gate/1", target.tenant_url), "t", b""));
    target.wait_for_arrivals(1).await;
    first.send(Frame::Drain(Drain { reason: "rolling restart".into() }));
    // While draining, new requests are refused, never sent.
    first.send(request(2, "GET", &format!("{}/Users", target.tenant_url), "t", b""));
    match first.recv().await {
        Frame::Failure(f) => assert_eq!((f.id, f.kind), (2, FailureKind::Busy)),
        other => panic!("{other:?}"),
    }
    target.open_gate(1);
    match first.recv().await {
        Frame::Response(r) => assert_eq!((r.id, r.status), (1, 200), "the request in flight is answered first"),
        other => panic!("{other:?}"),
    }
    first.wait_gone().await;
    let second = hub.session().await;
    assert_eq!(second.hello.agent_id, first.hello.agent_id);
    assert_eq!(target.seen().len(), 1);
}

#[tokio::test]
async fn a_dropped_socket_is_followed_by_a_new_session() {
    let hub = Hub::start(welcome(10), None).await;
    let mut agent = registered(&hub, None, |_, _| {}).await;
    agent.start(fast());
    let first = hub.session().await;
    drop(first);
    let mut second = hub.session().await;
    second.send(Frame::Ping(Ping { nonce: 1 }));
    assert_eq!(second.recv().await, Frame::Pong(Pong { nonce: 1 }));
}

#[tokio::test]
async fn a_silent_service_is_left_within_three_heartbeats() {
    let hub = Hub::start(welcome(1), None).await;
    hub.state.answer_pings.store(false, Ordering::SeqCst);
    let mut agent = registered(&hub, None, |_, _| {}).await;
    agent.start(fast());
    let _first = hub.session().await;
    let connected = Instant::now();
    let _second = hub.session().await;
    let after = connected.elapsed();
    // Dead after 3 missed pongs at 1 s each, plus at most 200 ms of back-off (and slack for a loaded machine).
    assert!(after >= Duration::from_millis(2_900) && after < Duration::from_secs(6), "{after:?}");
}

#[tokio::test]
async fn a_401_at_connect_is_retried_until_the_credential_works_again() {
    let hub = Hub::start(welcome(10), None).await;
    let mut agent = registered(&hub, None, |_, _| {}).await;
    let revoked = hub.revoke_all();
    agent.start(fast());
    hub.wait_for_unauthorized(3).await;
    assert!(agent.task.as_ref().unwrap().is_finished().then_some(()).is_none(), "a 401 never ends the agent");
    hub.restore(revoked);
    let session = hub.session().await;
    assert_eq!(session.hello.agent_id, "agent-1");
}

#[tokio::test]
async fn shutdown_drains_the_requests_in_flight() {
    let target = Target::start(None).await;
    let hub = Hub::start(welcome(10), None).await;
    hub.set_targets(vec![target.tenant_url.clone()]);
    let mut agent = registered(&hub, None, |_, _| {}).await;
    agent.start(fast());
    let mut session = hub.session().await;
    session.send(request(1, "GET", &format!("{}/gate/1", target.tenant_url), "t", b""));
    target.wait_for_arrivals(1).await;
    let stopping = tokio::spawn(async move { agent.stop().await });
    target.open_gate(1);
    match session.recv().await {
        Frame::Response(r) => assert_eq!(r.id, 1),
        other => panic!("{other:?}"),
    }
    stopping.await.unwrap().unwrap();
    assert_eq!(session.recv_or_end().await, None, "the session is closed after the drain");
}

#[tokio::test]
async fn the_service_over_https_through_a_connect_proxy_verified_by_a_ca_bundle() {
    let tls = issued_by_test_ca();
    let hub = Hub::start(welcome(10), Some(&tls)).await;
    let proxy = connect_proxy().await;
    let proxy_url = proxy.url.clone();
    let mut agent = registered(&hub, tls.ca_pem.as_deref(), move |config, _| config.proxy = Some(proxy_url)).await;
    agent.start(fast());
    let mut session = hub.session().await;
    session.send(Frame::Ping(Ping { nonce: 9 }));
    assert_eq!(session.recv().await, Frame::Pong(Pong { nonce: 9 }));
    let port = hub.url.port().unwrap();
    assert_eq!(proxy.tunnels.lock().unwrap().as_slice(), [format!("localhost:{port}")], "the session went through it");
}

#[tokio::test]
async fn an_untrusted_service_certificate_is_never_connected_to() {
    let tls = issued_by_test_ca();
    let hub = Hub::start(welcome(10), Some(&tls)).await;
    let mut agent = registered(&hub, tls.ca_pem.as_deref(), |config, _| config.service_ca_bundle = None).await;
    agent.start(fast());
    // Three attempts' worth of back-off: no session arrives, and the agent keeps trying.
    let session = tokio::time::timeout(Duration::from_millis(600), hub.session()).await;
    assert!(session.is_err(), "the agent connected without trusting the certificate");
    assert!(!agent.task.as_ref().unwrap().is_finished());
    agent.stop().await.unwrap();
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything the agent logs at trace level, the HTTP stack's logs included, holds neither the target's secret
/// token nor the agent's credential: through a relayed request, a failed one, a refused one, and a 401.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    const TOKEN: &str = "dapi0123456789SECRETTOKENabcdef";
    let target = Target::start(None).await;
    let hub = Hub::start(welcome(1), None).await;
    hub.set_targets(vec![target.tenant_url.clone()]);
    let mut agent = registered(&hub, None, |_, _| {}).await;
    let credential = agent.credential();
    agent.start(fast());
    let mut session = hub.session().await;
    session.send(request(1, "POST", &format!("{}/Users", target.tenant_url), TOKEN, br#"{"password":"hunter2"}"#));
    assert!(matches!(session.recv().await, Frame::Response(r) if r.status == 201));
    session.send(request(2, "GET", "http://127.0.0.1:1/scim/Users", TOKEN, b""));
    assert!(matches!(session.recv().await, Frame::Failure(f) if f.kind == FailureKind::NotAllowed));
    session.send(request(3, "GET", &format!("{}/big/{}", target.tenant_url, 2 << 20), TOKEN, b""));
    assert!(matches!(session.recv().await, Frame::Failure(f) if f.kind == FailureKind::TooLarge));
    let revoked = hub.revoke_all();
    drop(session);
    hub.wait_for_unauthorized(1).await;
    hub.restore(revoked);
    let _again = hub.session().await;
    agent.stop().await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in ["connected to the service", "relayed", "request refused", "credential revoked or unknown"] {
        assert!(logs.contains(expected), "the logs lack {expected:?}:\n{logs}");
    }
    for secret in [TOKEN, credential.as_str(), "hunter2"] {
        assert!(!logs.contains(secret), "{secret:?} was logged:\n{logs}");
    }
}
