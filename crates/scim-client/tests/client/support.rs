//! What the tests share: clients, a real idplane served over HTTP or HTTPS, and raw TCP peers on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use idplane_scim_client::{DirectConfig, DirectTransport, ScimClient, SecretToken, TenantUrl};
use idplane_testkit::App;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The fixed "random" GUID of the probes.
pub const GUID: &str = "7d420df3-9995-4831-a406-ecf8166f5f6a";

/// A client for `tenant` with `token` over a direct transport with `config`.
pub fn client_with(tenant: &str, token: &str, config: &DirectConfig) -> Result<ScimClient> {
    let transport = DirectTransport::new(config)?;
    Ok(ScimClient::new(TenantUrl::parse(tenant)?, SecretToken::new(token)?, Arc::new(transport)))
}

/// A client with the default transport settings.
pub fn client(tenant: &str, token: &str) -> Result<ScimClient> {
    client_with(tenant, token, &DirectConfig::default())
}

/// A real idplane served on `127.0.0.1:0`, over TLS when `tls` is given, until the handle is dropped.
pub struct Served {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

pub async fn serve(app: &App, tls: Option<Arc<rustls::ServerConfig>>) -> Result<Served> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let router = app.router.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        idplane_server::serve::serve(listener, router, tls, Default::default(), shutdown).await;
    });
    Ok(Served { addr, _stop: stop })
}

/// A generated certificate: its PEM (for a CA bundle) and a TLS server configuration that presents it.
pub struct Cert {
    pub pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

/// A self-signed certificate for `names`, valid from `not_before` to `not_after` (years) when given.
pub fn self_signed(names: &[&str], validity: Option<(i32, i32)>) -> Result<Cert> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    if let Some((from, to)) = validity {
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
    }
    let cert = params.self_signed(&key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Cert { pem: cert.pem(), server: Arc::new(server) })
}

/// A TCP peer that accepts connections and never answers; it holds them open until the test ends.
pub async fn silent() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    Ok(addr)
}

/// A port where nothing listens: bound, noted, released.
pub async fn closed_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok(listener.local_addr()?.port())
}

/// A peer that answers the first request it gets with `response` (raw bytes, as written) and returns what it read:
/// the request head and as much body as `Content-Length` announced.
pub async fn answering(response: impl Into<Vec<u8>>) -> Result<(SocketAddr, JoinHandle<Result<String>>)> {
    peer(response.into(), true).await
}

/// As [`answering`], but closes the connection once the response is written.
pub async fn answering_then_closing(response: impl Into<Vec<u8>>) -> Result<(SocketAddr, JoinHandle<Result<String>>)> {
    peer(response.into(), false).await
}

async fn peer(response: Vec<u8>, hold: bool) -> Result<(SocketAddr, JoinHandle<Result<String>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let request = read_request(&mut stream).await?;
        stream.write_all(&response).await?;
        stream.flush().await?;
        if hold {
            // Until the client is done with the connection (it closes it, or the test ends).
            let mut rest = [0u8; 64];
            let _ = stream.read(&mut rest).await;
        }
        Ok(request)
    });
    Ok((addr, task))
}

async fn read_request(stream: &mut TcpStream) -> Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the client closed before sending a whole request");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
}

/// An HTTP/1.1 response with a JSON body.
pub fn http_json(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The empty ListResponse a SCIM server answers the probe with.
pub const EMPTY_LIST: &str =
    r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}"#;
