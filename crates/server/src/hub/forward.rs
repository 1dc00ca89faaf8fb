//! Requests for agents connected to another node. With several nodes on one PostgreSQL database, an agent holds
//! its session on one of them; Test Connection or provisioning on demand may arrive at another. A node started with
//! `--node-url` is named by that URL in the sessions it records, and a node that has no session of the application's
//! agents sends the request to the node that has one (`POST /agent/v1/forward`), authenticated with a secret every
//! node derives from the shared secrets key. Cycles need none of this: the scheduler runs a job on a node its agents
//! are connected to. A forwarded request is never forwarded again.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idplane_agent_protocol::{self as proto, Decoded, Frame};
use idplane_scim_client::transport::{HttpRequest, HttpResponse, Method, RequestLine};
use idplane_scim_client::{DirectConfig, DirectTransport, Error, Transport};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Hub;
use super::relay::{Carried, carry, http_response, no_active, relay};
use crate::AppState;

/// How a node reaches the others: the secret they share and an HTTP client.
pub struct Forwarding {
    token: String,
    client: Arc<dyn Transport>,
}

impl Forwarding {
    /// Forwarding with the secret derived from the deployment's secrets key (every node has the same file).
    pub fn from_secrets_key(key: &[u8; 32], timeout: std::time::Duration) -> Result<Forwarding, Error> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"idplane node forwarding v1\0");
        h.update(key);
        let token = hex::encode(h.finalize());
        // Nodes talk over the deployment's private network, as the operator gave their URLs.
        let config = DirectConfig { timeout, allow_insecure_http: true, ..DirectConfig::default() };
        Ok(Forwarding { token, client: Arc::new(DirectTransport::new(&config)?) })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Target {
    tenant: String,
    service_principal: String,
    target: String,
}

/// Codes a forwarding node may answer with, as the static strings errors carry.
const CODES: [&str; 7] = [
    "HybridIdentityServiceNoActiveAgents",
    "HybridIdentityServiceNoAgentsAssigned",
    "HybridIdentityServiceAgentSignalingError",
    "HybridIdentityServiceInvalidResource",
    "TimeOut",
    "SystemForCrossDomainIdentityManagementServiceIncompatible",
    "SystemForCrossDomainIdentityManagementServiceUnavailable",
];

fn code_of(text: &str) -> &'static str {
    CODES.iter().find(|c| **c == text).copied().unwrap_or("HybridIdentityServiceAgentSignalingError")
}

/// Sends the request to a node that holds a live session of one of the application's agents: `None` when this node
/// does not forward or no other node holds one.
pub(crate) async fn to_holder(
    hub: &Hub,
    line: &RequestLine,
    tenant: &str,
    service_principal: &str,
    target: &str,
    frame: &proto::Request,
) -> Option<Result<HttpResponse, Error>> {
    let forwarding = hub.forwarding()?;
    let sessions = hub.store().agent_sessions_of_application(tenant, service_principal).await.ok()?;
    let now = time::OffsetDateTime::now_utc();
    let node = sessions
        .iter()
        .filter(|s| s.node_id != hub.node() && now - s.last_heartbeat < idplane_provisioning::agents::HEARTBEAT_WINDOW)
        .find_map(|s| {
            idplane_scim_client::Url::parse(&s.node_id).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
        })?;
    let mut url = node.join("agent/v1/forward").ok()?;
    url.query_pairs_mut()
        .append_pair("tenant", tenant)
        .append_pair("servicePrincipal", service_principal)
        .append_pair("target", target);
    let body = match proto::encode(&Frame::Request(frame.clone())) {
        Ok(b) => b,
        Err(e) => return Some(Err(Error::Request(e.to_string()))),
    };
    let request = HttpRequest {
        method: Method::Post,
        url,
        headers: vec![("Content-Type".into(), "application/octet-stream".into())],
        bearer: idplane_scim_client::SecretToken::new(forwarding.token.clone()).ok(),
        body: Some(body),
    };
    let answer = match forwarding.client.send(request).await {
        Ok(a) => a,
        Err(e) => {
            let message = format!("could not reach the node {node} that holds the agent's session: {e}");
            return Some(Err(relay(line, "HybridIdentityServiceAgentSignalingError", message)));
        }
    };
    if answer.status == 200
        && let Ok(Decoded::Frame(Frame::Response(r))) = proto::decode(&answer.body, usize::MAX)
    {
        return Some(Ok(http_response(r)));
    }
    let error: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let code = code_of(error["error"]["code"].as_str().unwrap_or_default());
    let message = error["error"]["message"].as_str().unwrap_or("the node that holds the agent's session failed");
    Some(Err(relay(line, code, format!("through node {node}: {message}"))))
}

fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// `POST /agent/v1/forward?tenant=&servicePrincipal=&target=`: another node's request for an agent connected here,
/// the body a protocol `request` frame. Answered with the agent's `response` frame (200), or an error in Graph's
/// shape with the relay's code.
pub(crate) async fn forwarded(
    State(s): State<AppState>,
    Query(q): Query<Target>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(forwarding) = s.hub.forwarding() else {
        return refused(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "this node does not take forwarded requests",
        );
    };
    if !bool::from(presented.as_bytes().ct_eq(forwarding.token.as_bytes())) {
        return refused(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "not a node of this deployment");
    }
    let max_body = usize::try_from(s.hub.config().max_body_bytes).unwrap_or(usize::MAX);
    let frame = match proto::decode(&body, max_body) {
        Ok(Decoded::Frame(Frame::Request(r))) => r,
        _ => return refused(StatusCode::BAD_REQUEST, "BadRequest", "the body is not a request frame"),
    };
    let method = match frame.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => return refused(StatusCode::BAD_REQUEST, "BadRequest", &format!("method {other} is not relayed")),
    };
    let line = RequestLine { method, url: frame.url.clone() };
    let assigned: Vec<String> = match s.provisioning.agents_of_application(&q.tenant, &q.service_principal).await {
        Ok(a) => a.into_iter().map(|a| a.id).collect(),
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &e.to_string()),
    };
    let result = match carry(&s.hub, &line, &assigned, &q.target, &frame).await {
        Carried::Done(result) => result,
        Carried::NoSession => Err(no_active(&line, assigned.len())),
    };
    match result {
        Ok(r) => {
            let frame = proto::Response {
                id: frame.id,
                status: r.status,
                headers: proto::Headers(r.headers),
                body: r.body,
                elapsed_ms: 0,
            };
            match proto::encode(&Frame::Response(frame)) {
                Ok(bytes) => (StatusCode::OK, bytes).into_response(),
                Err(e) => refused(StatusCode::BAD_GATEWAY, "HybridIdentityServiceAgentSignalingError", &e.to_string()),
            }
        }
        Err(Error::Relay { code, message, .. }) => refused(StatusCode::BAD_GATEWAY, code, &message),
        Err(e) => refused(StatusCode::BAD_GATEWAY, "HybridIdentityServiceAgentSignalingError", &e.to_string()),
    }
}
