//! The direct transport: requests sent from this process over HTTP(S), with reqwest and rustls, under one policy.
//!
//! - **TLS**: certificates are verified against the system's roots (read once, when the transport is made;
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured), the CA bundles the operator configures, or both. TLS 1.3 and
//!   1.2, rustls' safe defaults, the ring provider.
//! - **Plain HTTP** only to this machine (127.0.0.0/8, `::1`, `localhost`), unless
//!   [`DirectConfig::allow_insecure_http`]; a refused request is never sent.
//! - **No redirects**: a 3xx comes back as the response, so the token never travels to another host.
//! - **Proxies**: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment, as reqwest reads them.
//! - **Bounds**: [`DirectConfig::timeout`] covers the whole exchange (connect, TLS, send, headers and the whole
//!   body); [`DirectConfig::connect_timeout`] the connection alone; a body over [`DirectConfig::max_body_bytes`] is
//!   an error, not a truncation.
//! - **Errors** are classified from the error chain (hyper-util's, rustls', the operating system's): DNS, refused,
//!   unreachable, reset, each TLS reason, timeouts by phase, malformed responses.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::time::{Instant, timeout_at};

use crate::error::{ConnectFailure, Error, TimeoutPhase, TlsFailure};
use crate::tenant::is_loopback;
use crate::transport::{HttpRequest, HttpResponse, Method, RequestLine, Transport};

/// What the operator can set for direct requests.
#[derive(Debug, Clone)]
pub struct DirectConfig {
    /// The whole exchange: connecting, TLS, sending, and receiving the headers and the whole body. Default 30 s.
    pub timeout: Duration,
    /// Connecting (TCP and TLS handshake), within `timeout`. Default 10 s.
    pub connect_timeout: Duration,
    /// The largest response body accepted. Default 16 MiB.
    pub max_body_bytes: usize,
    /// Trust the system's root certificates. Default true.
    pub system_roots: bool,
    /// Further trusted CAs (a private CA, a self-signed target's own certificate).
    pub ca_bundles: Vec<CaBundle>,
    /// Allow plain `http://` to hosts other than this machine. Default false: the token would cross the network in
    /// clear text.
    pub allow_insecure_http: bool,
    /// Host names pinned to addresses, as curl's `--resolve` (split-horizon DNS); the port stays the URL's.
    pub resolve: Vec<(String, IpAddr)>,
}

impl Default for DirectConfig {
    fn default() -> Self {
        DirectConfig {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 16 << 20,
            system_roots: true,
            ca_bundles: Vec::new(),
            allow_insecure_http: false,
            resolve: Vec::new(),
        }
    }
}

/// Trusted CA certificates in PEM (`-----BEGIN CERTIFICATE-----` blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaBundle {
    /// A PEM file, read when the transport is made.
    File(PathBuf),
    /// PEM text.
    Pem(String),
}

impl CaBundle {
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, Error> {
        let (name, pem): (String, Cow<'_, [u8]>) = match self {
            CaBundle::File(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| Error::Config(format!("cannot read the CA bundle {}: {e}", path.display())))?;
                (path.display().to_string(), Cow::Owned(bytes))
            }
            CaBundle::Pem(text) => ("given as PEM text".to_string(), Cow::Borrowed(text.as_bytes())),
        };
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("the CA bundle {name} is not valid PEM ({e})")))?;
        if certs.is_empty() {
            return Err(Error::Config(format!(
                "the CA bundle {name} holds no certificate: it must hold PEM blocks that begin with \
                 -----BEGIN CERTIFICATE-----"
            )));
        }
        Ok(certs)
    }
}

/// Sends requests from this process; see the module documentation for its policy. Make one and share it: it
/// reads the system's roots when made and keeps a pool of connections.
#[derive(Debug, Clone)]
pub struct DirectTransport {
    client: reqwest::Client,
    timeout: Duration,
    /// The connect timeout in effect: the configured one, within `timeout`.
    connect_timeout: Duration,
    max_body_bytes: usize,
    allow_insecure_http: bool,
    trusted_roots: usize,
}

impl DirectTransport {
    pub fn new(config: &DirectConfig) -> Result<DirectTransport, Error> {
        let mut roots = rustls::RootCertStore::empty();
        if config.system_roots {
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::warn!(error = %e, "reading the system's root certificates");
            }
            let (added, _unparsable) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                tracing::warn!(
                    "no system root certificates found (install the CA certificates package, or set SSL_CERT_FILE): \
                     only the configured CA bundles are trusted"
                );
            }
        }
        for bundle in &config.ca_bundles {
            let (added, _unparsable) = roots.add_parsable_certificates(bundle.certificates()?);
            if added == 0 {
                return Err(Error::Config(format!("no certificate of the CA bundle {bundle:?} is usable as a root")));
            }
        }
        let trusted_roots = roots.len();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS versions: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connect_timeout = config.connect_timeout.min(config.timeout);
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout);
        for (name, ip) in &config.resolve {
            // Port 0: the URL's port (or its scheme's) is used.
            builder = builder.resolve(name, SocketAddr::new(*ip, 0));
        }
        let client = builder.build().map_err(|e| Error::Config(format!("the HTTP client: {}", chain_text(&e))))?;
        Ok(DirectTransport {
            client,
            timeout: config.timeout,
            connect_timeout,
            max_body_bytes: config.max_body_bytes,
            allow_insecure_http: config.allow_insecure_http,
            trusted_roots,
        })
    }

    /// How many root certificates are trusted (system and configured).
    pub fn trusted_roots(&self) -> usize {
        self.trusted_roots
    }

    /// Checks the policy and builds the request, before anything is sent.
    fn prepare(&self, request: &HttpRequest, line: &RequestLine) -> Result<reqwest::Request, Error> {
        match request.url.scheme() {
            "https" => {}
            "http" if self.allow_insecure_http || is_loopback(&request.url) => {}
            "http" => {
                let host = request.url.host_str().unwrap_or_default().to_string();
                return Err(Error::InsecureHttp { request: line.clone(), host });
            }
            other => return Err(Error::Request(format!("the URL scheme \"{other}\" is neither https nor http"))),
        }
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::Request(format!("\"{name}\" is not a valid header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::Request(format!("the value of the header {name} is not valid in HTTP")))?;
            headers.append(name, value);
        }
        if let Some(token) = &request.bearer {
            // SecretToken holds visible ASCII only, so this cannot fail on a valid token; the error never shows it.
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| Error::Token("the secret token cannot be sent in an HTTP header".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut built = reqwest::Request::new(method, request.url.clone());
        *built.headers_mut() = headers;
        if let Some(body) = &request.body {
            *built.body_mut() = Some(body.clone().into());
        }
        Ok(built)
    }

    fn failure(&self, error: &reqwest::Error, request: &HttpRequest, line: RequestLine, reading_body: bool) -> Error {
        let url = &request.url;
        let host = url.host_str().unwrap_or_default().to_string();
        let address = format!("{host}:{}", url.port_or_known_default().unwrap_or_default());
        match cause(error, &host, url.scheme() == "https") {
            Cause::Tls(failure) => Error::Tls { request: line, address, failure },
            Cause::Dns(reason) => Error::Dns { request: line, host, reason },
            Cause::Timeout => {
                let (phase, after) = if reading_body {
                    (TimeoutPhase::Body, self.timeout)
                } else if error.is_connect() {
                    (TimeoutPhase::Connect, self.connect_timeout)
                } else {
                    (TimeoutPhase::Response, self.timeout)
                };
                Error::Timeout { request: line, after, phase }
            }
            Cause::Connect(failure) if !reading_body => Error::Connect { request: line, address, failure },
            Cause::Connect(failure) => Error::InvalidResponse {
                request: line,
                reason: format!("the body could not be read to its end: {failure}"),
            },
            Cause::Invalid(reason) => Error::InvalidResponse { request: line, reason },
        }
    }
}

#[async_trait]
impl Transport for DirectTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let line = request.line();
        let built = self.prepare(&request, &line)?;
        let deadline = Instant::now() + self.timeout;
        let timed_out = |phase| Error::Timeout { request: line.clone(), after: self.timeout, phase };
        let mut response = match timeout_at(deadline, self.client.execute(built)).await {
            Err(_) => return Err(timed_out(TimeoutPhase::Response)),
            Ok(Err(e)) => return Err(self.failure(&e, &request, line, false)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        let too_large = |line: &RequestLine| Error::InvalidResponse {
            request: line.clone(),
            reason: format!(
                "the body is larger than {} bytes, the most this client accepts (DirectConfig::max_body_bytes)",
                self.max_body_bytes
            ),
        };
        if response.content_length().is_some_and(|n| n > self.max_body_bytes as u64) {
            return Err(too_large(&line));
        }
        let mut body = Vec::new();
        loop {
            match timeout_at(deadline, response.chunk()).await {
                Err(_) => return Err(timed_out(TimeoutPhase::Body)),
                Ok(Err(e)) => return Err(self.failure(&e, &request, line, true)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if body.len() + chunk.len() > self.max_body_bytes {
                        return Err(too_large(&line));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
        Ok(HttpResponse { status, headers, body })
    }
}

/// What a reqwest error comes down to.
#[derive(Debug, PartialEq)]
enum Cause {
    Dns(String),
    Connect(ConnectFailure),
    Tls(TlsFailure),
    Timeout,
    Invalid(String),
}

/// Classifies a reqwest error from its source chain: a rustls error anywhere (hyper-rustls wraps it in an
/// `io::Error`) is a TLS failure; hyper-util's "dns error" a resolution failure; the operating system's error kinds
/// a connection failure; hyper's parse and incomplete-message errors an invalid response.
fn cause(error: &reqwest::Error, host: &str, https: bool) -> Cause {
    let chain = chain(error);
    for e in &chain {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Cause::Tls(tls_failure(tls, host));
        }
    }
    if let Some(i) = chain.iter().position(|e| e.to_string() == "dns error") {
        let reason = chain.get(i + 1).map(|e| e.to_string()).unwrap_or_else(|| "no reason given".into());
        return Cause::Dns(reason);
    }
    if error.is_timeout() {
        return Cause::Timeout;
    }
    let io_kind = chain.iter().find_map(|e| e.downcast_ref::<io::Error>()).map(io::Error::kind);
    let connecting = error.is_connect();
    match io_kind {
        Some(io::ErrorKind::ConnectionRefused) => return Cause::Connect(ConnectFailure::Refused),
        Some(io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable) => {
            return Cause::Connect(ConnectFailure::Unreachable);
        }
        Some(io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe) => {
            return if connecting {
                Cause::Connect(ConnectFailure::Reset)
            } else {
                Cause::Invalid(
                    "the target, or a device in between, reset the connection before the response was complete".into(),
                )
            };
        }
        Some(io::ErrorKind::UnexpectedEof) if connecting && https => {
            return Cause::Tls(TlsFailure::Other(
                "the server closed the connection during the handshake (is the port plain HTTP, or does it refuse \
                 this client?)"
                    .into(),
            ));
        }
        _ => {}
    }
    if let Some(h) = chain.iter().find_map(|e| e.downcast_ref::<hyper::Error>()) {
        if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
            return Cause::Invalid(format!("it is not valid HTTP/1.1 ({h})"));
        }
        if h.is_incomplete_message() {
            return Cause::Invalid(
                "the target closed the connection before the response was complete (did it crash, or does that port \
                 speak something other than HTTP/1.1?)"
                    .into(),
            );
        }
    }
    if connecting {
        Cause::Connect(ConnectFailure::Other(chain_text(error)))
    } else {
        Cause::Invalid(chain_text(error))
    }
}

/// The error and its sources, outermost first. An `io::Error` that wraps another error reports that error's source
/// as its own, skipping it (and hyper-rustls wraps rustls' error in an `io::Error` inside another): the wrapped
/// error is listed here, so that a rustls error is found however deep.
fn chain<'a>(top: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out: Vec<&'a (dyn StdError + 'static)> = Vec::new();
    let mut next = Some(top);
    while let Some(e) = next {
        if out.len() == 32 {
            break;
        }
        out.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    out
}

/// The messages of an error's sources, joined, without repeats (each layer often repeats its source).
fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain(error).into_iter().skip(1) {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() { error.to_string() } else { parts.join(": ") }
}

fn tls_failure(error: &rustls::Error, host: &str) -> TlsFailure {
    use rustls::{CertificateError as C, Error as E};
    match error {
        E::InvalidCertificate(certificate) => match certificate {
            C::UnknownIssuer => TlsFailure::UnknownIssuer,
            C::Expired | C::ExpiredContext { .. } => TlsFailure::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => TlsFailure::NotYetValid,
            C::NotValidForName => TlsFailure::NameMismatch { expected: host.to_string(), presented: Vec::new() },
            C::NotValidForNameContext { presented, .. } => {
                TlsFailure::NameMismatch { expected: host.to_string(), presented: presented.clone() }
            }
            C::Revoked => TlsFailure::Revoked,
            _ => TlsFailure::BadCertificate(error.to_string()),
        },
        E::NoCertificatesPresented => TlsFailure::NoCertificate,
        E::AlertReceived(alert) => TlsFailure::Alert(format!("{alert:?}")),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::PeerSentOversizedRecord => TlsFailure::NotTls,
        other => TlsFailure::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_reasons() {
        use rustls::{CertificateError as C, Error as E};
        let h = "idp.example";
        assert_eq!(tls_failure(&E::InvalidCertificate(C::UnknownIssuer), h), TlsFailure::UnknownIssuer);
        assert_eq!(tls_failure(&E::InvalidCertificate(C::Expired), h), TlsFailure::Expired);
        assert_eq!(tls_failure(&E::InvalidCertificate(C::NotValidYet), h), TlsFailure::NotYetValid);
        assert_eq!(
            tls_failure(&E::InvalidCertificate(C::NotValidForName), h),
            TlsFailure::NameMismatch { expected: h.into(), presented: vec![] }
        );
        assert!(matches!(tls_failure(&E::InvalidCertificate(C::BadSignature), h), TlsFailure::BadCertificate(_)));
        assert_eq!(
            tls_failure(&E::AlertReceived(rustls::AlertDescription::HandshakeFailure), h),
            TlsFailure::Alert("HandshakeFailure".into())
        );
        assert_eq!(tls_failure(&E::PeerSentOversizedRecord, h), TlsFailure::NotTls);
    }

    #[test]
    fn chains_look_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, tls));
        let chain = chain(&nested);
        assert_eq!(chain.len(), 3);
        assert!(chain.iter().any(|e| e.downcast_ref::<rustls::Error>().is_some()), "the rustls error is found");
    }

    #[test]
    fn bad_ca_bundles_say_why() {
        let e = CaBundle::Pem("not a certificate".into()).certificates().unwrap_err().to_string();
        assert!(e.contains("holds no certificate"), "{e}");
        let e = CaBundle::File("no-such-bundle.pem".into()).certificates().unwrap_err().to_string();
        assert!(e.contains("cannot read the CA bundle no-such-bundle.pem"), "{e}");
        let e = DirectTransport::new(&DirectConfig {
            ca_bundles: vec![CaBundle::Pem(String::new())],
            ..DirectConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
    }
}
