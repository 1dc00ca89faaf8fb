//! The wire protocol between idplane's provisioning service and its on-premises agents, version 1.
//!
//! An agent inside a private network connects out to the service (`GET /agent/v1/connect`, a WebSocket upgrade with
//! the subprotocol [`SUBPROTOCOL`]) and from then on both sides exchange [`Frame`]s, one per binary WebSocket
//! message. The service sends [`Request`]s (SCIM requests for a tenant URL the agent's network reaches); the agent
//! performs them and answers each with a [`Response`] or a [`Failure`] carrying the same id, in any order.
//!
//! This crate is pure: types, encoding and limits, no I/O. Both sides depend on it and on nothing else of each other.
//!
//! # Encoding
//!
//! ```text
//! +------------------+---------------------------+-------------------------------+
//! | header length N  | header: N bytes of JSON   | body: the rest of the message |
//! | u32, big-endian  | {"type": "request", ...}  | raw bytes (request, response) |
//! +------------------+---------------------------+-------------------------------+
//! ```
//!
//! The header is a small JSON object whose `type` names the frame (`hello`, `welcome`, `config`, `request`,
//! `response`, `failure`, `cancel`, `drain`, `ping`, `pong`) and whose other members are the frame's fields in
//! camelCase. The body of a request or response follows the header as it is, never in base64, so relaying a body
//! costs one copy. Frames other than `request` and `response` have no body.
//!
//! Compatibility within version 1: unknown members of a header are ignored, and a frame of an unknown `type` (from a
//! newer peer) decodes as [`Decoded::Unknown`], which a receiver ignores. A message larger than the receiver's limit,
//! a header that is not JSON, or a known frame whose fields do not fit is a protocol [`Error`].

mod codec;
mod error;
mod frame;

pub use codec::{Decoded, MAX_HEADER_BYTES, decode, encode};
pub use error::Error;
pub use frame::{
    Cancel, Config, Drain, Failure, FailureKind, Frame, Headers, Hello, Ping, Pong, Request, Response, Welcome,
};

/// The protocol version of this crate's frames, sent in [`Hello::protocol`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The WebSocket subprotocol (`Sec-WebSocket-Protocol`) of version 1.
pub const SUBPROTOCOL: &str = "idplane-agent.v1";

/// The read buffer each end of the WebSocket gives its library (tungstenite), in bytes. Its default, 128 KiB, is
/// zeroed before every read from the socket, which showed as a sixth of the hub session's CPU per relayed request;
/// a frame of a SCIM request or response mostly fits in 16 KiB, and a larger one takes a few more reads.
pub const READ_BUFFER_BYTES: usize = 16 << 10;
