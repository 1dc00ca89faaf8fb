//! Performing one relayed request against a tenant URL, as the agent's network sees it, and turning the outcome into
//! a `Response` or a classified `Failure`.
//!
//! reqwest with the agent's target TLS ([`crate::tls::targets`]); no redirects (a 3xx is the answer, so the token
//! never follows it elsewhere); no proxy (tenant URLs are on the agent's own network; the proxy settings are for
//! the service); one deadline over the whole exchange, body included; a cap on the response body.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use idplane_agent_protocol::{Failure, FailureKind, Frame, Headers, Request, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::{Instant, timeout_at};
use url::Url;

use crate::config::{AgentConfig, parse_fingerprint};
use crate::error::Error;

/// Hop-by-hop fields (RFC 9110 §7.6.1) and those the HTTP client sets itself: never relayed either way.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

fn hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The HTTP client for tenant URLs; one per agent run, its connections pooled.
#[derive(Clone)]
pub struct Relay {
    client: reqwest::Client,
}

impl Relay {
    pub fn new(config: &AgentConfig) -> Result<Relay, Error> {
        let pins = config.target_pinned_certificates.iter().map(|p| parse_fingerprint(p)).collect::<Result<_, _>>();
        let pins = pins.map_err(Error::Config)?;
        let bundles: Vec<&std::path::Path> = config.target_ca_bundles.iter().map(|p| p.as_path()).collect();
        let tls = crate::tls::targets(config.target_system_roots, &bundles, pins)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .build()
            .map_err(|e| Error::Config(format!("the HTTP client for tenant URLs: {e}")))?;
        Ok(Relay { client })
    }

    /// Performs `request` (whose URL, already checked against the targets, is `url`) within `deadline`, accepting
    /// a response body of at most `max_body` bytes.
    pub async fn perform(&self, request: Request, url: Url, deadline: Duration, max_body: usize) -> Frame {
        let started = Instant::now();
        let id = request.id;
        let fail = |kind, message| Frame::Failure(Failure { id, kind, message });
        let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
            return fail(FailureKind::NotAllowed, format!("\"{}\" is not an HTTP method", request.method));
        };
        let mut headers = HeaderMap::with_capacity(request.headers.0.len());
        for (name, value) in request.headers.iter() {
            if hop_by_hop(name) {
                continue;
            }
            let (Ok(name), Ok(mut value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
            else {
                // The field's value is not repeated: it may be the token.
                return fail(FailureKind::NotAllowed, format!("the header field \"{name}\" is not valid HTTP"));
            };
            if Headers::is_sensitive(name.as_str()) {
                value.set_sensitive(true);
            }
            headers.append(name, value);
        }
        let mut built = reqwest::Request::new(method, url.clone());
        *built.headers_mut() = headers;
        if !request.body.is_empty() {
            *built.body_mut() = Some(request.body.into());
        }

        let end = started + deadline;
        let timed_out = || {
            fail(
                FailureKind::Timeout,
                format!(
                    "the agent got no complete answer from {} within the request's deadline of {} ms: the SCIM \
                     endpoint is slow or hangs (check its health and load), or a firewall drops the agent's packets",
                    origin(&url),
                    deadline.as_millis()
                ),
            )
        };
        let mut response = match timeout_at(end, self.client.execute(built)).await {
            Err(_) => return timed_out(),
            Ok(Err(e)) => {
                let (kind, message) = classify(&e, &url, false);
                return fail(kind, message);
            }
            Ok(Ok(response)) => response,
        };
        let too_large = || {
            fail(
                FailureKind::TooLarge,
                format!(
                    "the response of {} has a body over {max_body} bytes, the most this session relays (the agent's \
                     max_body_bytes, or the service's maxBodyBytes)",
                    origin(&url)
                ),
            )
        };
        if response.content_length().is_some_and(|n| n > max_body as u64) {
            return too_large();
        }
        let status = response.status().as_u16();
        let headers = Headers(
            response
                .headers()
                .iter()
                .filter(|(name, _)| !hop_by_hop(name.as_str()))
                .map(|(name, value)| {
                    (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                })
                .collect(),
        );
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        loop {
            match timeout_at(end, response.chunk()).await {
                Err(_) => return timed_out(),
                Ok(Err(e)) => {
                    let (kind, message) = classify(&e, &url, true);
                    return fail(kind, message);
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if body.len() + chunk.len() > max_body {
                        return too_large();
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Frame::Response(Response { id, status, headers, body, elapsed_ms })
    }
}

/// `scheme://host:port`, what failure messages name (the path and query add nothing to where it failed).
fn origin(url: &Url) -> String {
    format!("{}://{}:{}", url.scheme(), url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or(0))
}

/// Classifies a reqwest error from its source chain, and says where it failed and what to check.
fn classify(error: &reqwest::Error, url: &Url, reading_body: bool) -> (FailureKind, String) {
    let at = origin(url);
    let host = url.host_str().unwrap_or_default();
    // hyper-rustls wraps rustls' error in io::Errors whose source() skips it: look inside them too.
    let mut chain: Vec<&(dyn StdError + 'static)> = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = next.take() {
        chain.push(e);
        if chain.len() < 32 {
            next = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref).map(|inner| inner as _).or(e.source());
        }
    }
    let text = || {
        let mut parts: Vec<String> = Vec::new();
        for e in chain.iter().skip(1) {
            let t = e.to_string();
            if !parts.iter().any(|p| p.contains(&t)) {
                parts.push(t);
            }
        }
        if parts.is_empty() { error.to_string() } else { parts.join(": ") }
    };
    // A TLS error after the handshake (the request may have been delivered) is no `tls` failure: that kind promises
    // the request was never sent.
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()).filter(|_| error.is_connect()) {
        let hint = match tls {
            rustls::Error::InvalidCertificate(_) => {
                " (the agent does not trust the endpoint's certificate: for a self-signed certificate, pin its SHA-256 \
                 fingerprint in target_pinned_certificates; for a private CA, add it to target_ca_bundles)"
            }
            _ => "",
        };
        return (FailureKind::Tls, format!("TLS with {at} failed at the agent: {tls}{hint}"));
    }
    if let Some(i) = chain.iter().position(|e| e.to_string() == "dns error") {
        let reason = chain.get(i + 1).map(|e| e.to_string()).unwrap_or_default();
        return (
            FailureKind::Dns,
            format!(
                "the agent could not resolve {host}: {reason} (check the tenant URL's host name and the DNS of the \
                 agent's network)"
            ),
        );
    }
    if error.is_timeout() {
        return (FailureKind::Timeout, format!("{at} did not answer in time at the agent: {}", text()));
    }
    let kind = chain.iter().find_map(|e| e.downcast_ref::<io::Error>()).map(io::Error::kind);
    if error.is_connect() && !reading_body {
        if kind == Some(io::ErrorKind::UnexpectedEof) && url.scheme() == "https" {
            return (
                FailureKind::Tls,
                format!(
                    "TLS with {at} failed at the agent: the endpoint closed the connection during the handshake (is \
                     that port plain HTTP?)"
                ),
            );
        }
        let hint = match kind {
            Some(io::ErrorKind::ConnectionRefused) => {
                "connection refused: check that the SCIM endpoint runs and listens on that port"
            }
            Some(io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable) => {
                "unreachable: check the agent's routes and firewalls to that address"
            }
            _ => "check that the SCIM endpoint runs and that no firewall between the agent and it blocks the port",
        };
        return (FailureKind::Connect, format!("the agent could not connect to {at}: {}; {hint}", text()));
    }
    (
        FailureKind::InvalidResponse,
        format!(
            "{at} did not send a complete HTTP response to the agent ({}): did the endpoint crash, or does the port \
             speak something other than HTTP/1.1?",
            text()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_fields_are_known_case_insensitively() {
        assert!(hop_by_hop("Transfer-Encoding") && hop_by_hop("HOST") && hop_by_hop("content-length"));
        assert!(!hop_by_hop("authorization") && !hop_by_hop("content-type"));
    }
}
