//! Requests relayed into fake SCIM targets: round trips, concurrency, and each failure kind.

use std::time::Duration;

use idplane_agent_protocol::{Cancel, Config, Failure, FailureKind, Frame, Request, Response};

use crate::support::{
    Agent, Hub, HubSession, Target, Tls, fast, issued_by_test_ca, registered, request, self_signed, welcome,
};

/// A hub whose agent has `target` as its target and pins `pin`'s certificate, connected.
async fn connected(target: &Target, pin: Option<&Tls>) -> (Hub, Agent, HubSession) {
    let hub = Hub::start(welcome(10), None).await;
    hub.set_targets(vec![target.tenant_url.clone()]);
    let fingerprint = pin.map(|t| hex::encode(t.fingerprint));
    let mut agent = registered(&hub, None, |config, _| {
        config.target_pinned_certificates = fingerprint.into_iter().collect();
    })
    .await;
    agent.start(fast());
    let session = hub.session().await;
    (hub, agent, session)
}

fn failure(frame: Frame) -> Failure {
    match frame {
        Frame::Failure(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn response(frame: Frame) -> Response {
    match frame {
        Frame::Response(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

#[tokio::test]
async fn a_request_round_trips_with_headers_and_a_binary_body_over_a_pinned_self_signed_certificate() {
    let tls = self_signed();
    let target = Target::start(Some(&tls)).await;
    let (_hub, _agent, mut session) = connected(&target, Some(&tls)).await;
    assert_eq!(session.hello.agent_id, "agent-1");
    assert_eq!(session.hello.protocol, 1);

    let body: Vec<u8> = (0..=255u8).chain([0, 0xff, 0xfe]).collect();
    session.send(request(7, "POST", &format!("{}/echo?x=1", target.tenant_url), "target-token", &body));
    let answer = response(session.recv().await);
    assert_eq!(answer.id, 7);
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body, body, "the body's bytes come back as they were");
    assert_eq!(answer.headers.get("content-type"), Some("application/scim+json"));
    assert_eq!(answer.headers.get("x-target"), Some("fake"));
    assert!(answer.headers.get("transfer-encoding").is_none() && answer.headers.get("connection").is_none());

    let seen = target.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/scim/echo?x=1");
    assert_eq!(seen[0].headers["authorization"], "Bearer target-token");
    assert_eq!(seen[0].headers["content-type"], "application/scim+json");
    assert_ne!(seen[0].headers.get("connection").map(|v| v.to_str().unwrap()), Some("close-me-not"), "hop-by-hop");
    assert_eq!(seen[0].body.as_ref(), body.as_slice());
}

#[tokio::test]
async fn a_target_under_a_test_ca_is_trusted_through_the_ca_bundle() {
    let tls = issued_by_test_ca();
    let target = Target::start(Some(&tls)).await;
    let hub = Hub::start(welcome(10), None).await;
    hub.set_targets(vec![target.tenant_url.clone()]);
    let ca = tls.ca_pem.clone().unwrap();
    let mut agent = registered(&hub, None, |config, dir| {
        let path = dir.join("targets-ca.pem");
        std::fs::write(&path, &ca).unwrap();
        config.target_ca_bundles = vec![path];
    })
    .await;
    agent.start(fast());
    let mut session = hub.session().await;
    session.send(request(1, "GET", &format!("{}/Users", target.tenant_url), "t", b""));
    assert_eq!(response(session.recv().await).status, 201);
}

#[tokio::test]
async fn without_the_pin_a_self_signed_target_fails_tls_and_says_how_to_trust_it() {
    let tls = self_signed();
    let target = Target::start(Some(&tls)).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    session.send(request(2, "GET", &format!("{}/Users", target.tenant_url), "t", b""));
    let f = failure(session.recv().await);
    assert_eq!((f.id, f.kind), (2, FailureKind::Tls), "{f:?}");
    assert!(
        f.message.contains("failed at the agent") && f.message.contains("target_pinned_certificates"),
        "{}",
        f.message
    );
    assert!(target.seen().is_empty());
}

#[tokio::test]
async fn many_requests_in_flight_answer_out_of_order() {
    let target = Target::start(None).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    const N: u64 = 24;
    // Request id i waits for gate N - i: all are in flight at once, and the last sent is answered first.
    for id in 0..N {
        session.send(request(id, "GET", &format!("{}/gate/{}", target.tenant_url, N - id), "t", b""));
    }
    target.wait_for_arrivals(N as usize).await;
    let mut order = Vec::new();
    for k in 1..=N as u32 {
        target.open_gate(k);
        let answer = response(session.recv().await);
        assert_eq!(answer.body, format!("gate {k}").into_bytes());
        order.push(answer.id);
    }
    assert_eq!(order, (0..N).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn over_max_in_flight_a_request_is_refused_as_busy() {
    let target = Target::start(None).await;
    let hub = Hub::start(welcome(10), None).await;
    hub.set_targets(vec![target.tenant_url.clone()]);
    let mut agent = registered(&hub, None, |config, _| config.max_in_flight = 2).await;
    agent.start(fast());
    let mut session = hub.session().await;
    assert_eq!(session.hello.max_in_flight, 2);
    for id in 0..2 {
        session.send(request(id, "GET", &format!("{}/gate/1", target.tenant_url), "t", b""));
    }
    target.wait_for_arrivals(2).await;
    session.send(request(2, "GET", &format!("{}/gate/1", target.tenant_url), "t", b""));
    let f = failure(session.recv().await);
    assert_eq!((f.id, f.kind), (2, FailureKind::Busy));
    assert!(FailureKind::Busy.never_sent());
    target.open_gate(1);
    let mut ids = [response(session.recv().await).id, response(session.recv().await).id];
    ids.sort();
    assert_eq!(ids, [0, 1]);
    assert_eq!(target.seen().len(), 2, "the refused request never reached the target");
}

#[tokio::test]
async fn urls_outside_the_targets_are_not_allowed_until_the_service_adds_them() {
    let target = Target::start(None).await;
    let other = Target::start(None).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    let outside = format!("{}/Users", other.tenant_url);
    for (id, url) in [
        (1, outside.clone()),
        (2, format!("{}x/Users", target.tenant_url)),
        (3, target.tenant_url.replace("/scim", "/admin")),
        (4, "not a url".to_string()),
    ] {
        session.send(request(id, "DELETE", &url, "t", b""));
        let f = failure(session.recv().await);
        assert_eq!((f.id, f.kind), (id, FailureKind::NotAllowed), "{url}: {f:?}");
        assert!(f.message.contains("not under its targets"), "{}", f.message);
    }
    assert!(target.seen().is_empty() && other.seen().is_empty());

    session.send(Frame::Config(Config { targets: vec![other.tenant_url.clone()] }));
    session.send(request(5, "GET", &outside, "t", b""));
    assert_eq!(response(session.recv().await).id, 5);
    session.send(request(6, "GET", &format!("{}/Users", target.tenant_url), "t", b""));
    assert_eq!(failure(session.recv().await).kind, FailureKind::NotAllowed, "Config replaces the targets");
}

#[tokio::test]
async fn an_operator_allow_list_cannot_be_widened_by_the_service() {
    let target = Target::start(None).await;
    let allowed = Target::start(None).await;
    let hub = Hub::start(welcome(10), None).await;
    hub.set_targets(vec![target.tenant_url.clone(), allowed.tenant_url.clone()]);
    let allow = allowed.tenant_url.clone();
    let mut agent = registered(&hub, None, |config, _| config.allow_list = vec![allow]).await;
    agent.start(fast());
    let mut session = hub.session().await;
    assert_eq!(session.hello.allow_list, vec![allowed.tenant_url.clone()]);
    session.send(request(1, "GET", &format!("{}/Users", target.tenant_url), "t", b""));
    assert_eq!(failure(session.recv().await).kind, FailureKind::NotAllowed);
    session.send(request(2, "GET", &format!("{}/Users", allowed.tenant_url), "t", b""));
    assert_eq!(response(session.recv().await).status, 201);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let hub = Hub::start(welcome(10), None).await;
    let tenant_url = format!("http://127.0.0.1:{port}/scim");
    hub.set_targets(vec![tenant_url.clone()]);
    let mut agent = registered(&hub, None, |_, _| {}).await;
    agent.start(fast());
    let mut session = hub.session().await;
    session.send(request(3, "GET", &format!("{tenant_url}/Users"), "t", b""));
    let f = failure(session.recv().await);
    assert_eq!((f.id, f.kind), (3, FailureKind::Connect), "{f:?}");
    assert!(f.message.contains(&format!("could not connect to http://127.0.0.1:{port}")), "{}", f.message);
    assert!(f.message.contains("refused"), "{}", f.message);
}

#[tokio::test]
async fn a_hanging_target_times_out_by_the_requests_deadline() {
    let target = Target::start(None).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    let Frame::Request(mut hang) = request(4, "GET", &format!("{}/hang", target.tenant_url), "t", b"") else {
        unreachable!()
    };
    hang.deadline_ms = 300;
    let sent = tokio::time::Instant::now();
    session.send(Frame::Request(hang));
    let f = failure(session.recv().await);
    let waited = sent.elapsed();
    assert_eq!((f.id, f.kind), (4, FailureKind::Timeout), "{f:?}");
    assert!(f.message.contains("deadline of 300 ms"), "{}", f.message);
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn a_response_body_over_the_limit_is_too_large() {
    let target = Target::start(None).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    // The hub's Welcome says maxBodyBytes 1 MiB.
    session.send(request(5, "GET", &format!("{}/big/{}", target.tenant_url, (1 << 20) + 1), "t", b""));
    let f = failure(session.recv().await);
    assert_eq!((f.id, f.kind), (5, FailureKind::TooLarge), "{f:?}");
    session.send(request(6, "GET", &format!("{}/big/{}", target.tenant_url, 1 << 20), "t", b""));
    assert_eq!(response(session.recv().await).body.len(), 1 << 20, "exactly the limit passes");
}

#[tokio::test]
async fn cancel_answers_cancelled_and_nothing_else() {
    let target = Target::start(None).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    session.send(request(8, "POST", &format!("{}/hang", target.tenant_url), "t", b"{}"));
    target.wait_for_arrivals(1).await;
    session.send(Frame::Cancel(Cancel { id: 8 }));
    let f = failure(session.recv().await);
    assert_eq!((f.id, f.kind), (8, FailureKind::Cancelled));
    // A cancel of an unknown id is ignored; the next answer is the next request's.
    session.send(Frame::Cancel(Cancel { id: 8 }));
    session.send(request(9, "GET", &format!("{}/Users", target.tenant_url), "t", b""));
    assert_eq!(response(session.recv().await).id, 9);
}

#[tokio::test]
async fn the_request_carries_its_method() {
    let target = Target::start(None).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    for (id, method) in [(1, "PATCH"), (2, "PUT"), (3, "DELETE")] {
        session.send(Frame::Request(Request {
            id,
            deadline_ms: 1_000,
            method: method.into(),
            url: format!("{}/Users", target.tenant_url),
            headers: Default::default(),
            body: vec![],
        }));
        assert_eq!(response(session.recv().await).id, id);
    }
    let methods: Vec<String> = target.seen().iter().map(|s| s.method.to_string()).collect();
    assert_eq!(methods, ["PATCH", "PUT", "DELETE"]);
}

#[tokio::test]
async fn a_redirect_is_the_answer_never_followed() {
    let target = Target::start(None).await;
    let (_hub, _agent, mut session) = connected(&target, None).await;
    session.send(request(1, "GET", &format!("{}/moved", target.tenant_url), "t", b""));
    let answer = response(session.recv().await);
    assert_eq!(answer.status, 302);
    assert_eq!(answer.headers.get("location"), Some("http://127.0.0.1:1/elsewhere"));
}
