//! Round trips over generated frames: `decode(encode(f)) == f` for every frame, any body bytes, any header text.

use idplane_agent_protocol::{
    Cancel, Config, Decoded, Drain, Failure, FailureKind, Frame, Headers, Hello, Ping, Pong, Request, Response,
    Welcome, decode, encode,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,24}", "[a-zA-Z0-9:/._-]{0,40}", Just("\"\\\u{0}\u{10ffff}".to_string())]
}

fn headers() -> impl Strategy<Value = Headers> {
    proptest::collection::vec((text(), text()), 0..6).prop_map(Headers)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

fn kind() -> impl Strategy<Value = FailureKind> {
    proptest::sample::select(vec![
        FailureKind::Dns,
        FailureKind::Connect,
        FailureKind::Tls,
        FailureKind::Timeout,
        FailureKind::TooLarge,
        FailureKind::NotAllowed,
        FailureKind::InvalidResponse,
        FailureKind::Busy,
        FailureKind::Cancelled,
        FailureKind::Other,
    ])
}

fn frame() -> impl Strategy<Value = Frame> {
    let list = || proptest::collection::vec(text(), 0..4);
    prop_oneof![
        (any::<u32>(), text(), text(), text(), any::<u32>(), list()).prop_map(
            |(protocol, agent_id, version, host_name, max_in_flight, allow_list)| Frame::Hello(Hello {
                protocol,
                agent_id,
                version,
                host_name,
                max_in_flight,
                allow_list
            })
        ),
        (text(), any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>(), list()).prop_map(
            |(session_id, heartbeat_seconds, max_in_flight, max_body_bytes, default_deadline_ms, targets)| {
                Frame::Welcome(Welcome {
                    session_id,
                    heartbeat_seconds,
                    max_in_flight,
                    max_body_bytes,
                    default_deadline_ms,
                    targets,
                })
            }
        ),
        list().prop_map(|targets| Frame::Config(Config { targets })),
        (any::<u64>(), any::<u64>(), text(), text(), headers(), body()).prop_map(
            |(id, deadline_ms, method, url, headers, body)| Frame::Request(Request {
                id,
                deadline_ms,
                method,
                url,
                headers,
                body
            })
        ),
        (any::<u64>(), any::<u16>(), headers(), body(), any::<u64>()).prop_map(
            |(id, status, headers, body, elapsed_ms)| Frame::Response(Response {
                id,
                status,
                headers,
                body,
                elapsed_ms
            })
        ),
        (any::<u64>(), kind(), text()).prop_map(|(id, kind, message)| Frame::Failure(Failure { id, kind, message })),
        any::<u64>().prop_map(|id| Frame::Cancel(Cancel { id })),
        text().prop_map(|reason| Frame::Drain(Drain { reason })),
        any::<u64>().prop_map(|nonce| Frame::Ping(Ping { nonce })),
        any::<u64>().prop_map(|nonce| Frame::Pong(Pong { nonce })),
    ]
}

proptest! {
    #[test]
    fn frames_round_trip(frame in frame()) {
        let bytes = encode(&frame).unwrap();
        prop_assert_eq!(decode(&bytes, 300).unwrap(), Decoded::Frame(frame));
    }

    #[test]
    fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&bytes, 16);
    }

    #[test]
    fn a_truncated_message_never_decodes_to_the_same_frame(frame in frame(), cut in 1usize..8) {
        let bytes = encode(&frame).unwrap();
        let cut = cut.min(bytes.len());
        if let Ok(Decoded::Frame(other)) = decode(&bytes[..bytes.len() - cut], 300) {
            // Only a body can lose bytes and still decode; then it is visibly shorter.
            prop_assert_ne!(other, frame);
        }
    }
}
