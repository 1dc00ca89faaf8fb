//! The transport seam: one HTTP request in, its status, headers and bounded body out, or a classified [`Error`].
//!
//! The SCIM client builds every request itself (URL, headers, body) and hands it to a [`Transport`]; the direct one
//! ([`crate::direct::DirectTransport`]) sends it over the network, and a relay through an on-premises agent can send
//! the same request from elsewhere. A transport adds `Authorization: Bearer <token>` from [`HttpRequest::bearer`],
//! follows no redirect, and bounds the time and the body size of an exchange.

use std::fmt;

use async_trait::async_trait;
use url::Url;

use crate::error::Error;
use crate::secret::SecretToken;

/// The methods SCIM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an error says about the request it concerns: method and URL (which never holds the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: Method,
    pub url: String,
}

impl fmt::Display for RequestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

/// One HTTP request, complete except for its `Authorization` header.
#[derive(Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    /// Header names and values, `Authorization` excepted.
    pub headers: Vec<(String, String)>,
    /// The token the transport sends as `Authorization: Bearer <token>`. Kept apart from `headers` so that printing
    /// or relaying a request's description never shows it.
    pub bearer: Option<SecretToken>,
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// Its method and URL, for errors and logs.
    pub fn line(&self) -> RequestLine {
        RequestLine { method: self.method, url: self.url.to_string() }
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("bearer", &self.bearer)
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// A response: status, headers (names in lower case) and the whole body, no larger than the transport allows.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Sends one request and returns the response, whatever its status (a 3xx too: redirects are not followed).
///
/// Failures that prevent a response are [`Error`]s of the network classes (`InsecureHttp`, `Dns`, `Connect`, `Tls`,
/// `Timeout`, `InvalidResponse`), each naming [`HttpRequest::line`].
#[async_trait]
pub trait Transport: Send + Sync {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error>;
}
