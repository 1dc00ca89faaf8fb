//! The crate's one error type: what went wrong, in words an admin can act on, with the request it concerns.
//!
//! Every failure of an exchange names the request (method and URL, never the token) and its class: the transport
//! policy refused it ([`Error::InsecureHttp`]), the name did not resolve ([`Error::Dns`]), the connection failed
//! ([`Error::Connect`]), the TLS handshake failed and why ([`Error::Tls`]), time ran out and in which phase
//! ([`Error::Timeout`]), the bytes were not a valid HTTP response ([`Error::InvalidResponse`]), or the target answered
//! but not with success: a redirect ([`Error::Redirect`]), an error status with its parsed body ([`Error::Status`]),
//! or a success whose body is not what SCIM sends ([`Error::UnexpectedBody`]).

use std::fmt;
use std::time::Duration;

use crate::transport::RequestLine;

/// Everything that can fail in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tenant URL as entered cannot be used; the text says what to change.
    #[error("invalid tenant URL: {0}")]
    TenantUrl(String),
    /// The secret token as entered cannot be sent; the text never repeats it.
    #[error("invalid secret token: {0}")]
    Token(String),
    /// A request the caller asked for cannot be built (an empty id, an endpoint name with a slash, ...).
    #[error("invalid SCIM request: {0}")]
    Request(String),
    /// The transport's settings cannot be used (a CA bundle without certificates, ...).
    #[error("invalid HTTP transport settings: {0}")]
    Config(String),
    /// The transport policy refused to send the token in clear text to a host that is not this machine.
    #[error(
        "refused to send the request over plain http:// to {host}, which is not a loopback address: use https://, \
         or allow plain HTTP to this target in its settings if the network in between is trusted; request: {request}"
    )]
    InsecureHttp { request: RequestLine, host: String },
    /// The host name did not resolve.
    #[error(
        "could not resolve the host name {host} ({reason}): check the tenant URL's host name and this server's DNS; \
         request: {request}"
    )]
    Dns { request: RequestLine, host: String, reason: String },
    /// No connection could be opened (or it was reset before a response).
    #[error("could not connect to {address}: {failure}; request: {request}")]
    Connect { request: RequestLine, address: String, failure: ConnectFailure },
    /// The TLS handshake failed; `failure` says why.
    #[error("the TLS handshake with {address} failed: {failure}; request: {request}")]
    Tls { request: RequestLine, address: String, failure: TlsFailure },
    /// The exchange did not finish within the configured time.
    #[error("no complete answer within {} s ({phase}); request: {request}", secs(*after))]
    Timeout { request: RequestLine, after: Duration, phase: TimeoutPhase },
    /// What came back is not a usable HTTP response (malformed, cut short, larger than allowed).
    #[error("the target's response is not usable: {reason}; request: {request}")]
    InvalidResponse { request: RequestLine, reason: String },
    /// The target answered with a redirect, which is never followed.
    #[error(
        "the target answered {status} redirecting to {location}; redirects are not followed, so that the secret \
         token goes to the tenant URL's host only: enter the final URL as the tenant URL; request: {request}",
        status = status_text(*status),
        location = location.as_deref().unwrap_or("nowhere (no Location header)")
    )]
    Redirect { request: RequestLine, status: u16, location: Option<String> },
    /// The target answered with an error status (4xx, 5xx, or an unexpected 1xx).
    #[error("the target answered {response}; request: {request}")]
    Status { request: RequestLine, response: Box<ErrorResponse> },
    /// The request went through an on-premises agent, which could not carry it (none active, the agent dropped,
    /// no answer in time) or could not reach the target from its network; `code` is Entra's (such as
    /// `HybridIdentityServiceNoActiveAgents`), `message` says where it failed and what to check.
    #[error("{message}; request: {request}")]
    Relay { request: RequestLine, code: &'static str, message: String },
    /// The target answered with success, but the body is not what was asked for.
    #[error(
        "the target answered {status} with a body that is not {expected}: {problem}; body starts: {body_start}; \
         request: {request}",
        status = status_text(*status)
    )]
    UnexpectedBody { request: RequestLine, status: u16, expected: &'static str, problem: String, body_start: String },
}

impl Error {
    /// The request the error concerns, when one was made or refused.
    pub fn request(&self) -> Option<&RequestLine> {
        match self {
            Error::TenantUrl(_) | Error::Token(_) | Error::Request(_) | Error::Config(_) => None,
            Error::InsecureHttp { request, .. }
            | Error::Dns { request, .. }
            | Error::Connect { request, .. }
            | Error::Tls { request, .. }
            | Error::Timeout { request, .. }
            | Error::InvalidResponse { request, .. }
            | Error::Redirect { request, .. }
            | Error::Status { request, .. }
            | Error::Relay { request, .. }
            | Error::UnexpectedBody { request, .. } => Some(request),
        }
    }

    /// The HTTP status the target answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Redirect { status, .. } | Error::UnexpectedBody { status, .. } => Some(*status),
            Error::Status { response, .. } => Some(response.status),
            _ => None,
        }
    }

    /// The target's error answer (status, SCIM or Databricks error fields), when it gave one.
    pub fn response(&self) -> Option<&ErrorResponse> {
        match self {
            Error::Status { response, .. } => Some(response),
            _ => None,
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing accepts connections at that address and port.
    Refused,
    /// No route to the host or its network.
    Unreachable,
    /// The target, or something in between, reset the connection.
    Reset,
    /// Anything else, as the operating system worded it.
    Other(String),
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Refused => f.write_str(
                "connection refused (nothing accepts connections there): check the tenant URL's host and port, and \
                 that the SCIM service is running",
            ),
            ConnectFailure::Unreachable => f.write_str(
                "host or network unreachable: check the address, and the routes and firewalls between this server \
                 and the target",
            ),
            ConnectFailure::Reset => f.write_str(
                "the connection was reset by the target or by a device in between (a firewall or proxy that drops \
                 this traffic?)",
            ),
            ConnectFailure::Other(reason) => f.write_str(reason),
        }
    }
}

/// Why a TLS handshake failed, from the rustls error the transport reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The certificate chain does not lead to a trusted root.
    UnknownIssuer,
    /// The certificate's validity has ended.
    Expired,
    /// The certificate's validity has not begun.
    NotYetValid,
    /// The certificate does not name the host of the URL.
    NameMismatch { expected: String, presented: Vec<String> },
    /// The certificate was revoked.
    Revoked,
    /// The certificate is invalid for another reason (bad signature, encoding, purpose, ...).
    BadCertificate(String),
    /// The server sent no certificate.
    NoCertificate,
    /// What came back is not TLS (a plain-HTTP port?).
    NotTls,
    /// The server ended the handshake with a TLS alert.
    Alert(String),
    /// Anything else, as rustls or the operating system worded it.
    Other(String),
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::UnknownIssuer => f.write_str(
                "the server's certificate is not issued by a trusted certificate authority (unknown issuer): give \
                 the target a certificate from a public CA, or add its issuing CA to the trusted CA bundle",
            ),
            TlsFailure::Expired => f.write_str("the server's certificate has expired: renew it on the target"),
            TlsFailure::NotYetValid => f.write_str(
                "the server's certificate is not valid yet: check the clocks of this server and of the target",
            ),
            TlsFailure::NameMismatch { expected, presented } => {
                write!(f, "the server's certificate is not valid for {expected} (name mismatch")?;
                if !presented.is_empty() {
                    write!(f, "; it names {}", presented.join(", "))?;
                }
                f.write_str("): use a host name the certificate names in the tenant URL, or fix the certificate")
            }
            TlsFailure::Revoked => f.write_str("the server's certificate has been revoked"),
            TlsFailure::BadCertificate(reason) => write!(f, "the server's certificate is invalid: {reason}"),
            TlsFailure::NoCertificate => f.write_str("the server presented no certificate"),
            TlsFailure::NotTls => f.write_str(
                "the server did not answer in TLS: if that port serves plain HTTP, the tenant URL starts with http://",
            ),
            TlsFailure::Alert(alert) => write!(
                f,
                "the server ended the handshake with the alert {alert}: it may want a TLS version, cipher suite or \
                 client certificate that this client does not offer"
            ),
            TlsFailure::Other(reason) => f.write_str(reason),
        }
    }
}

/// Where an exchange was when its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the connection: TCP and the TLS handshake.
    Connect,
    /// The request was being sent, or its response's headers awaited (this includes connecting when the connect
    /// timeout is no shorter than what was left of the request's).
    Response,
    /// The headers had arrived; the body had not, in full.
    Body,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "while connecting (TCP and TLS handshake)",
            TimeoutPhase::Response => "before the response headers arrived",
            TimeoutPhase::Body => "while reading the response body",
        })
    }
}

/// An error answer of the target: its status, what a SCIM Error (RFC 7644 §3.12) or a Databricks error
/// (`{"error_code", "message"}`) in the body says, and the start of the body as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    /// SCIM `scimType`, when the body has one.
    pub scim_type: Option<String>,
    /// SCIM `detail`, or Databricks' `message`.
    pub detail: Option<String>,
    /// Databricks' `error_code`.
    pub error_code: Option<String>,
    /// `Retry-After` in seconds (429, 503), when given as a number.
    pub retry_after: Option<Duration>,
    /// The response's `Content-Type`.
    pub content_type: Option<String>,
    /// The body's first characters, whitespace collapsed (see [`crate::response::body_start`]).
    pub body_start: String,
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&status_text(self.status))?;
        if self.body_start.is_empty() {
            f.write_str(" with an empty body")
        } else {
            write!(f, "; body starts: {}", self.body_start)
        }
    }
}

/// A status with its reason phrase when it has one: `401 Unauthorized`, `599`.
pub(crate) fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()) {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// Seconds, as short as exact to the millisecond: `30`, `0.5`.
pub(crate) fn secs(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Method;

    fn line() -> RequestLine {
        RequestLine { method: Method::Get, url: "https://idp.example/scim/Users".into() }
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(secs(Duration::from_secs(30)), "30");
        assert_eq!(secs(Duration::from_millis(500)), "0.5");
        assert_eq!(secs(Duration::from_millis(1250)), "1.25");
    }

    #[test]
    fn messages_name_the_request_and_what_to_do() {
        let e = Error::Timeout { request: line(), after: Duration::from_millis(500), phase: TimeoutPhase::Body };
        assert_eq!(
            e.to_string(),
            "no complete answer within 0.5 s (while reading the response body); request: GET \
             https://idp.example/scim/Users"
        );
        let e = Error::Redirect { request: line(), status: 301, location: Some("https://other.example/".into()) };
        assert!(
            e.to_string()
                .starts_with("the target answered 301 Moved Permanently redirecting to https://other.example/")
        );
        assert_eq!(e.status(), Some(301));
        let e = Error::Tls {
            request: line(),
            address: "idp.example:443".into(),
            failure: TlsFailure::NameMismatch {
                expected: "idp.example".into(),
                presented: vec!["other.example".into()],
            },
        };
        assert!(e.to_string().contains("not valid for idp.example (name mismatch; it names other.example)"), "{e}");
        assert_eq!(e.request().map(|r| r.to_string()).as_deref(), Some("GET https://idp.example/scim/Users"));
        assert_eq!(e.status(), None);
    }

    #[test]
    fn error_response_shows_status_and_body_start() {
        let r = ErrorResponse {
            status: 401,
            scim_type: None,
            detail: Some("bad token".into()),
            error_code: None,
            retry_after: None,
            content_type: None,
            body_start: "{\"detail\":\"bad token\"}".into(),
        };
        assert_eq!(r.to_string(), "401 Unauthorized; body starts: {\"detail\":\"bad token\"}");
        let empty = ErrorResponse { body_start: String::new(), status: 599, ..r };
        assert_eq!(empty.to_string(), "599 with an empty body");
    }
}
