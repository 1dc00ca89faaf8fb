//! The agent's HTTP(S) leg to the provisioning service: the contract's three calls (`register`, `rotate`,
//! `connect`) over one reqwest client.
//!
//! The WebSocket is opened by reqwest itself (an HTTP/1.1 `Upgrade` request, then `Response::upgrade`) and framed
//! by tokio-tungstenite on the upgraded connection. Why not tokio-tungstenite's own connect, or reqwest-websocket:
//! this way the service's TLS (system roots, the configured CA bundle), the proxy settings (`proxy` in the config,
//! or `HTTPS_PROXY`/`NO_PROXY` with HTTP CONNECT) and the `401` before the upgrade are one client's, the same as for
//! `register` and `rotate`; reqwest-websocket would need reqwest 0.13 (the workspace has 0.12), and
//! tokio-tungstenite's connector knows neither proxies nor our roots.

use std::time::Duration;

use idplane_agent_protocol::{MAX_HEADER_BYTES, SUBPROTOCOL};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use url::Url;

use crate::config::{AgentConfig, Credential, check_service_url};
use crate::error::Error;

/// The session's socket.
pub type Socket = WebSocketStream<reqwest::Upgraded>;

/// Connecting (TCP, proxy tunnel, TLS) to the service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The registration and rotation calls, and the upgrade's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ServiceClient {
    http: reqwest::Client,
    base: Url,
}

impl ServiceClient {
    /// A client for `service`, trusting the system's roots and `ca_bundle`, through `proxy` or the environment's.
    pub fn new(
        service: &Url,
        ca_bundle: Option<&std::path::Path>,
        proxy: Option<&str>,
    ) -> Result<ServiceClient, Error> {
        check_service_url(service).map_err(Error::Config)?;
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(crate::tls::service(ca_bundle)?)
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("idplane-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = proxy {
            let proxy = reqwest::Proxy::all(proxy)
                .map_err(|e| Error::Config(format!("the proxy \"{proxy}\" is not usable: {e}")))?
                .no_proxy(reqwest::NoProxy::from_env());
            builder = builder.proxy(proxy);
        }
        let http = builder.build().map_err(|e| Error::Config(format!("the HTTP client for the service: {e}")))?;
        Ok(ServiceClient { http, base: service.clone() })
    }

    pub fn for_config(config: &AgentConfig) -> Result<ServiceClient, Error> {
        ServiceClient::new(&config.service, config.service_ca_bundle.as_deref(), config.proxy.as_deref())
    }

    /// `path` under the service's base URL (which may itself have a path, behind a reverse proxy).
    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}/{path}", self.base.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.set_query(None);
        url
    }

    /// POSTs a JSON body; returns the status and the JSON answer (`Null` when the body is not JSON).
    pub async fn post(
        &self,
        call: &'static str,
        path: &str,
        bearer: Option<&Credential>,
        body: &Value,
    ) -> Result<(StatusCode, Value), Error> {
        let mut request = self.http.post(self.url(path)).timeout(CALL_TIMEOUT).json(body);
        if let Some(credential) = bearer {
            request = request.header(AUTHORIZATION, bearer_value(credential)?);
        }
        let response = request.send().await.map_err(|e| unreachable(call, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| unreachable(call, &e))?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// Opens the session's WebSocket (`GET /agent/v1/connect`), accepting messages of up to `max_body` bytes of
    /// body. A `401` is [`Error::Unauthorized`].
    pub async fn connect(&self, credential: &Credential, max_body: usize) -> Result<Socket, Error> {
        const CALL: &str = "connect";
        let key = generate_key();
        let request = self
            .http
            .get(self.url("agent/v1/connect"))
            .timeout(CALL_TIMEOUT)
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header(SEC_WEBSOCKET_KEY, &key)
            .header("Sec-WebSocket-Protocol", SUBPROTOCOL)
            .header(AUTHORIZATION, bearer_value(credential)?);
        let response = request.send().await.map_err(|e| unreachable(CALL, &e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            return Err(Error::Unauthorized(error_message(&body)));
        }
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let mut message = error_message(&body);
            if message.is_empty() {
                message = "expected 101 Switching Protocols to a WebSocket upgrade (is a proxy in between that does \
                           not pass upgrades, or is the service URL wrong?)"
                    .into();
            }
            return Err(Error::Service { call: CALL, status: status.as_u16(), message });
        }
        let expected = derive_accept_key(key.as_bytes());
        let header =
            |name| response.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_string);
        if header(SEC_WEBSOCKET_ACCEPT).as_deref() != Some(expected.as_str()) {
            return Err(Error::Protocol("the service's Sec-WebSocket-Accept does not match the key sent".into()));
        }
        if header(reqwest::header::SEC_WEBSOCKET_PROTOCOL).as_deref() != Some(SUBPROTOCOL) {
            return Err(Error::Protocol(format!(
                "the service did not accept the subprotocol {SUBPROTOCOL} (a version of idplane without agents, or \
                 one too new for this agent?)"
            )));
        }
        let upgraded = response.upgrade().await.map_err(|e| unreachable(CALL, &e))?;
        let limit = 4 + MAX_HEADER_BYTES + max_body;
        let config = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit))
            .read_buffer_size(idplane_agent_protocol::READ_BUFFER_BYTES);
        Ok(WebSocketStream::from_raw_socket(upgraded, Role::Client, Some(config)).await)
    }
}

fn bearer_value(credential: &Credential) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", credential.expose())).map_err(|_| {
        Error::Config("the credential file holds characters that cannot be sent: register again".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Graph's error shape, `{"error": {"code", "message"}}`, as one line.
pub fn error_message(body: &Value) -> String {
    let error = &body["error"];
    match (error["code"].as_str(), error["message"].as_str()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        (None, Some(message)) => message.to_string(),
        (None, None) => String::new(),
    }
}

/// Why the service could not be reached: the error and its causes (reqwest's own text names only the URL).
fn unreachable(call: &'static str, error: &reqwest::Error) -> Error {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let text = e.to_string();
        if !reason.contains(&text) {
            reason = format!("{reason}: {text}");
        }
        source = e.source();
    }
    Error::Unreachable { call, reason }
}
