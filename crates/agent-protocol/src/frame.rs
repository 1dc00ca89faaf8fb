//! The frames of version 1: what each side sends, with the fields in their wire names (camelCase).
//!
//! Requests and responses carry SCIM bodies and the target's secret token: their `Debug` shows the body's length
//! and no header value that can hold a credential, so that no log line or panic message carries either.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One message of the protocol. `type` in the JSON header names the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Frame {
    /// agent → service, first after the upgrade.
    Hello(Hello),
    /// service → agent, the answer to `Hello`.
    Welcome(Welcome),
    /// service → agent, whenever the agent's targets change.
    Config(Config),
    /// service → agent: perform this HTTP request.
    Request(Request),
    /// agent → service: the target's answer to a request.
    Response(Response),
    /// agent → service: the request got no answer from the target, and why.
    Failure(Failure),
    /// service → agent: abandon a request (its caller gave up); the agent answers with a `cancelled` failure.
    Cancel(Cancel),
    /// service → agent: finish the requests in flight, close, and reconnect at once (a rolling restart).
    Drain(Drain),
    /// Either way: answer with a `Pong` of the same nonce.
    Ping(Ping),
    /// Either way: the answer to a `Ping`.
    Pong(Pong),
}

impl Frame {
    /// The wire name of the frame's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Welcome(_) => "welcome",
            Frame::Config(_) => "config",
            Frame::Request(_) => "request",
            Frame::Response(_) => "response",
            Frame::Failure(_) => "failure",
            Frame::Cancel(_) => "cancel",
            Frame::Drain(_) => "drain",
            Frame::Ping(_) => "ping",
            Frame::Pong(_) => "pong",
        }
    }

    /// The frame types of version 1, by wire name.
    pub const TYPES: [&'static str; 10] =
        ["hello", "welcome", "config", "request", "response", "failure", "cancel", "drain", "ping", "pong"];
}

/// The agent introduces itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    /// [`crate::PROTOCOL_VERSION`] of the agent.
    pub protocol: u32,
    pub agent_id: String,
    /// The agent's program version.
    pub version: String,
    pub host_name: String,
    /// The most requests the agent performs at once; the service sends no more than the smaller of this and its own.
    pub max_in_flight: u32,
    /// The operator's tenant-URL prefixes, when configured on the agent: it relays to nothing else, whatever the
    /// service's targets. Informational for the service (it can show them, and refuse to route other jobs there).
    #[serde(default)]
    pub allow_list: Vec<String>,
}

/// The service accepts the session and sets its terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    pub session_id: String,
    /// How often each side sends a `Ping`; three unanswered in a row and the session is dead.
    pub heartbeat_seconds: u32,
    /// The most requests the service keeps in flight on this session.
    pub max_in_flight: u32,
    /// The largest request or response body either side accepts on this session.
    pub max_body_bytes: u64,
    /// The deadline of a request that names none (`deadlineMs` 0).
    pub default_deadline_ms: u64,
    /// The tenant URLs of the jobs this agent's applications have: the agent relays only under these (unless its
    /// operator configured an allow-list, which then wins).
    pub targets: Vec<String>,
}

/// The agent's targets changed (an application assigned, a tenant URL edited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub targets: Vec<String>,
}

/// HTTP header fields in order, duplicates kept, names as sent. `Debug` hides the values of those that carry
/// credentials.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// Header names whose values `Debug` never shows: credentials of the target or of a proxy, and cookies.
    pub const SENSITIVE: [&'static str; 6] = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-databricks-azure-sp-management-token",
    ];

    /// Whether `name` is one of [`Headers::SENSITIVE`] (case-insensitive).
    pub fn is_sensitive(name: &str) -> bool {
        Self::SENSITIVE.iter().any(|s| s.eq_ignore_ascii_case(name))
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, value)| {
                let shown: &str = if Headers::is_sensitive(name) { "<redacted>" } else { value };
                (name.as_str(), shown)
            }))
            .finish()
    }
}

impl From<Vec<(String, String)>> for Headers {
    fn from(fields: Vec<(String, String)>) -> Self {
        Headers(fields)
    }
}

/// The service asks the agent to perform one HTTP request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Unique among the session's requests in flight; the answer carries it.
    pub id: u64,
    /// The whole exchange must end within this many milliseconds of the agent receiving it (0: the session's
    /// `defaultDeadlineMs`).
    pub deadline_ms: u64,
    /// The HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`).
    pub method: String,
    /// The absolute URL, under one of the agent's targets.
    pub url: String,
    /// Including `Authorization: Bearer <the target's secret token>`.
    pub headers: Headers,
    /// Raw bytes after the header on the wire (empty: no body).
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("deadline_ms", &self.deadline_ms)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The target's answer, whatever its status (a 3xx too: the agent follows no redirect).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub id: u64,
    pub status: u16,
    /// Names in lower case, as the agent's HTTP client has them.
    pub headers: Headers,
    /// Raw bytes after the header on the wire.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// From receiving the request to the end of the response's body, at the agent.
    pub elapsed_ms: u64,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .field("elapsed_ms", &self.elapsed_ms)
            .finish()
    }
}

/// Why a request got no response from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// The agent could not resolve the target's host name.
    Dns,
    /// The agent could not connect (refused, unreachable, reset while connecting).
    Connect,
    /// The TLS handshake with the target failed (untrusted certificate, name mismatch, not TLS).
    Tls,
    /// The request's deadline passed.
    Timeout,
    /// The response body exceeds `maxBodyBytes`.
    TooLarge,
    /// The URL is outside the agent's targets (or its operator's allow-list); nothing was sent.
    NotAllowed,
    /// The target answered something that is not a complete HTTP response.
    InvalidResponse,
    /// The agent already performs `maxInFlight` requests, or is draining; nothing was sent.
    Busy,
    /// The service cancelled the request.
    Cancelled,
    /// A kind this version does not know (from a newer peer).
    #[serde(other)]
    Other,
}

impl FailureKind {
    /// Whether the request certainly never reached the target (it failed before a byte of it was sent), so that
    /// the service may send it again through another agent even when it is not idempotent. A timeout, a
    /// cancellation or an invalid response may follow a delivered request.
    pub fn never_sent(self) -> bool {
        matches!(
            self,
            FailureKind::Dns | FailureKind::Connect | FailureKind::Tls | FailureKind::NotAllowed | FailureKind::Busy
        )
    }
}

/// The request got no response, and why: `message` says where it failed (the agent's DNS, connect, TLS, deadline)
/// and what to fix. It never holds a header value or a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub id: u64,
    pub kind: FailureKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancel {
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drain {
    /// Why, for the agent's log (a restart, a newer node).
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ping {
    pub nonce: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pong {
    pub nonce: u64,
}
