//! The JSON headers each frame has on the wire, as docs/agent.md lists them, and what a receiver does with
//! messages it cannot use.

use idplane_agent_protocol::{
    Cancel, Decoded, Error, Failure, FailureKind, Frame, Headers, Hello, MAX_HEADER_BYTES, Request, Welcome, decode,
    encode,
};
use serde_json::{Value, json};

/// The message for a JSON header and a body, as a peer would build it.
fn message(header: &Value, body: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(header).unwrap();
    let mut out = (header.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    out
}

fn header_of(frame: &Frame) -> Value {
    let bytes = encode(frame).unwrap();
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[4..4 + len]).unwrap()
}

#[test]
fn hello_and_welcome_have_their_documented_names() {
    let hello = Frame::Hello(Hello {
        protocol: 1,
        agent_id: "a1".into(),
        version: "0.1.0".into(),
        host_name: "corp-01".into(),
        max_in_flight: 32,
        allow_list: vec!["https://localhost:8585/scim".into()],
    });
    assert_eq!(
        header_of(&hello),
        json!({"type": "hello", "protocol": 1, "agentId": "a1", "version": "0.1.0", "hostName": "corp-01",
               "maxInFlight": 32, "allowList": ["https://localhost:8585/scim"]})
    );
    let welcome = Frame::Welcome(Welcome {
        session_id: "s1".into(),
        heartbeat_seconds: 10,
        max_in_flight: 16,
        max_body_bytes: 1 << 20,
        default_deadline_ms: 600_000,
        targets: vec![],
    });
    assert_eq!(
        header_of(&welcome),
        json!({"type": "welcome", "sessionId": "s1", "heartbeatSeconds": 10, "maxInFlight": 16,
               "maxBodyBytes": 1048576, "defaultDeadlineMs": 600000, "targets": []})
    );
}

#[test]
fn a_hello_without_allow_list_reads_as_an_empty_one() {
    let m = message(
        &json!({"type": "hello", "protocol": 1, "agentId": "a", "version": "v", "hostName": "h", "maxInFlight": 1}),
        b"",
    );
    let Decoded::Frame(Frame::Hello(hello)) = decode(&m, 0).unwrap() else { panic!() };
    assert!(hello.allow_list.is_empty());
}

#[test]
fn failure_kinds_are_camel_case_and_unknown_ones_are_other() {
    let kinds = [
        (FailureKind::Dns, "dns"),
        (FailureKind::Connect, "connect"),
        (FailureKind::Tls, "tls"),
        (FailureKind::Timeout, "timeout"),
        (FailureKind::TooLarge, "tooLarge"),
        (FailureKind::NotAllowed, "notAllowed"),
        (FailureKind::InvalidResponse, "invalidResponse"),
        (FailureKind::Busy, "busy"),
        (FailureKind::Cancelled, "cancelled"),
    ];
    for (kind, name) in kinds {
        let frame = Frame::Failure(Failure { id: 3, kind, message: "m".into() });
        assert_eq!(header_of(&frame), json!({"type": "failure", "id": 3, "kind": name, "message": "m"}));
    }
    let m = message(&json!({"type": "failure", "id": 3, "kind": "quantumDecoherence", "message": "m"}), b"");
    assert_eq!(
        decode(&m, 0).unwrap(),
        Decoded::Frame(Frame::Failure(Failure { id: 3, kind: FailureKind::Other, message: "m".into() }))
    );
}

#[test]
fn newer_peers_frames_and_members_are_ignored() {
    let m = message(&json!({"type": "resumeSession", "token": "x"}), b"body");
    assert_eq!(decode(&m, 10).unwrap(), Decoded::Unknown { frame_type: "resumeSession".into() });
    let m = message(&json!({"type": "cancel", "id": 9, "reason": "a newer member"}), b"");
    assert_eq!(decode(&m, 0).unwrap(), Decoded::Frame(Frame::Cancel(Cancel { id: 9 })));
}

#[test]
fn unusable_messages_are_protocol_errors() {
    assert_eq!(decode(&[0, 0], 0), Err(Error::Truncated { size: 2 }));
    assert_eq!(decode(&[0, 0, 0, 9, b'{'], 0), Err(Error::HeaderOverrun { declared: 9, available: 1 }));
    let huge = ((MAX_HEADER_BYTES + 1) as u32).to_be_bytes();
    assert!(matches!(decode(&huge, 0), Err(Error::HeaderTooLarge { .. })));
    assert!(matches!(decode(&message(&json!({"id": 1}), b""), 0), Err(Error::Header(_))), "no type");
    assert!(matches!(decode(&message(&json!({"type": "cancel"}), b""), 0), Err(Error::Header(_))), "no id");
    assert!(matches!(decode(&message(&json!([1]), b""), 0), Err(Error::Header(_))));
    assert!(matches!(decode(b"\0\0\0\x02{}", 0), Err(Error::Header(_))));
    // Over the limit before anything is parsed: the declared header length is not trusted.
    let big = vec![0u8; 4 + MAX_HEADER_BYTES + 101];
    assert_eq!(decode(&big, 100), Err(Error::TooLarge { size: big.len(), limit: 4 + MAX_HEADER_BYTES + 100 }));
}

#[test]
fn debug_prints_hide_credentials_and_bodies() {
    let request = Request {
        id: 1,
        deadline_ms: 5,
        method: "POST".into(),
        url: "https://localhost:8585/scim/Users".into(),
        headers: Headers(vec![
            ("Authorization".into(), "Bearer dapi-very-secret".into()),
            ("content-type".into(), "application/scim+json".into()),
            ("Cookie".into(), "session=also-secret".into()),
        ]),
        body: br#"{"password":"hunter2"}"#.to_vec(),
    };
    let shown = format!("{request:?} {:?}", Frame::Request(request.clone()));
    for secret in ["very-secret", "also-secret", "hunter2"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("application/scim+json") && shown.contains("body_bytes: 22"), "{shown}");
}
