//! The service's side of the on-premises agents' HTTP contract (docs/agent.md): the registration exchange
//! (`POST /agent/v1/register`: a one-time registration token for a per-agent credential), credential rotation
//! (`POST /agent/v1/rotate`), and what the hub asks before it upgrades `GET /agent/v1/connect` to a WebSocket:
//! whose credential a request carries ([`authenticate`]), and whether a connected agent was revoked since
//! ([`Revocations`] on this node, [`is_revoked`] from the store for every node).
//!
//! Errors are Microsoft Graph's shape (`{"error": {"code", "message"}}`). An unknown, used or expired registration
//! token gets the same 401 `InvalidRegistrationToken`, so that a caller learns nothing about which tokens exist.
//! Credentials and tokens never reach the log: only agent and tenant ids do.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::agents::{self, AgentIdentity};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::AppState;
use crate::body::header_str;
use crate::graph::error::{code_for, error_response};

/// The largest body the agent endpoints read: a registration is a few hundred bytes.
const MAX_BODY: usize = 16 << 10;

/// The routes of the agent contract that are not the hub's (`/agent/v1/connect` is the hub's).
pub fn routes() -> Router<AppState> {
    Router::new().route("/agent/v1/register", post(register)).route("/agent/v1/rotate", post(rotate))
}

/// True for the paths of the agent contract: their errors take Graph's shape.
pub fn is_agent_path(path: &str) -> bool {
    path == "/agent" || path.starts_with("/agent/")
}

/// A failure of the agent endpoints, rendered in Graph's error shape.
#[derive(Debug)]
pub enum AgentApiError {
    /// 401 `InvalidRegistrationToken`.
    InvalidRegistrationToken,
    /// 401: no credential, or not a live one (unknown, rotated away, revoked).
    InvalidCredential(String),
    /// 400: the body is malformed; the text says what to fix.
    BadRequest(String),
    /// The store failed (logged, not sent).
    Internal(String),
}

impl From<ProvisioningError> for AgentApiError {
    fn from(e: ProvisioningError) -> Self {
        match e {
            ProvisioningError::Invalid { .. } | ProvisioningError::Unsupported(_) | ProvisioningError::Conflict(_) => {
                AgentApiError::BadRequest(e.to_string())
            }
            other => AgentApiError::Internal(other.to_string()),
        }
    }
}

impl From<idplane_core::error::StoreError> for AgentApiError {
    fn from(e: idplane_core::error::StoreError) -> Self {
        AgentApiError::Internal(e.to_string())
    }
}

impl IntoResponse for AgentApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            AgentApiError::InvalidRegistrationToken => (
                401,
                "InvalidRegistrationToken".to_string(),
                "The registration token is unknown, already used or expired. Create a new one with \
                 `idplane agents token create` and register again."
                    .to_string(),
            ),
            AgentApiError::InvalidCredential(m) => (401, code_for(401).to_string(), m),
            AgentApiError::BadRequest(m) => (400, code_for(400).to_string(), m),
            AgentApiError::Internal(e) => {
                tracing::error!(error = %e, "agent endpoint failed");
                (
                    500,
                    code_for(500).to_string(),
                    "The server could not complete the request; it has been logged.".into(),
                )
            }
        };
        error_response(status, &code, &message, None)
    }
}

/// The JSON object of a request body (any or no content type: agents send JSON).
async fn json_body(body: Body) -> Result<serde_json::Map<String, Value>, AgentApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| AgentApiError::BadRequest(format!("the request body is larger than {MAX_BODY} bytes")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AgentApiError::BadRequest("the request body must be a JSON object".into())),
        Err(e) => Err(AgentApiError::BadRequest(format!("the request body is not valid JSON: {e}"))),
    }
}

/// A string property of a body, required.
fn required<'a>(body: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, AgentApiError> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AgentApiError::BadRequest(format!("'{name}' must be a string"))),
        None => Err(AgentApiError::BadRequest(format!(
            "the body has no '{name}': send {{\"token\", \"hostName\", \"version\"}}"
        ))),
    }
}

/// `POST /agent/v1/register {"token", "hostName", "version"}` → 201 `{"agentId", "tenantId", "credential"}`.
async fn register(State(s): State<AppState>, body: Body) -> Result<Response, AgentApiError> {
    let body = json_body(body).await?;
    let (token, host, version) = (required(&body, "token")?, required(&body, "hostName")?, required(&body, "version")?);
    let now = s.clock.now();
    let Some((agent, credential)) = agents::register(s.provisioning.as_ref(), token, host, version, now).await? else {
        tracing::info!("agent registration refused: the token is unknown, used or expired");
        return Err(AgentApiError::InvalidRegistrationToken);
    };
    tracing::info!(agent = %agent.id, tenant = %agent.tenant_id, host = %agent.host_name, "agent registered");
    let out = json!({"agentId": agent.id, "tenantId": agent.tenant_id, "credential": credential.expose()});
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// The credential of `Authorization: Bearer <credential>`, or why there is none.
fn presented(headers: &HeaderMap) -> Result<&str, AgentApiError> {
    let header = header_str(headers, &header::AUTHORIZATION).unwrap_or_default().trim();
    let mut parts = header.splitn(2, ' ');
    match (parts.next(), parts.next().map(str::trim)) {
        (Some(scheme), Some(value)) if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() => Ok(value),
        _ => Err(AgentApiError::InvalidCredential(
            "send the agent's credential in the header \"Authorization: Bearer <credential>\"".into(),
        )),
    }
}

fn not_live() -> AgentApiError {
    AgentApiError::InvalidCredential(
        "the agent credential is not valid: it is unknown, was rotated or the agent was removed; register the agent \
         again with a new registration token"
            .into(),
    )
}

/// `POST /agent/v1/rotate` with the current credential → 200 `{"agentId", "credential"}`; the old one stops at once.
async fn rotate(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, AgentApiError> {
    let credential = presented(&headers)?;
    let Some((who, new)) = agents::rotate(s.provisioning.as_ref(), credential).await? else {
        return Err(not_live());
    };
    tracing::info!(agent = %who.agent_id, tenant = %who.tenant_id, "agent credential rotated");
    Ok((StatusCode::OK, axum::Json(json!({"agentId": who.agent_id, "credential": new.expose()}))).into_response())
}

/// Whose credential a connect request carries: for the hub, before it upgrades the connection. One index lookup by
/// the credential's hash and a constant-time comparison; the error renders as the 401 the contract asks for.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AgentIdentity, AgentApiError> {
    let credential = presented(headers)?;
    agents::authenticate(state.provisioning.as_ref(), credential).await?.ok_or_else(not_live)
}

/// True when agent `agent_id` may no longer be connected (deleted or revoked), whichever node revoked it: what the
/// hub checks on a heartbeat of a session it holds.
pub async fn is_revoked(state: &AppState, agent_id: &str) -> Result<bool, AgentApiError> {
    Ok(agents::is_revoked(state.provisioning.as_ref(), agent_id).await?)
}

/// Revocations made through this node (an admin deleted an agent): the hub subscribes and drops the agent's session
/// at once, without waiting for its next check of [`is_revoked`]. Other nodes learn it from the store.
#[derive(Debug)]
pub struct Revocations {
    sender: broadcast::Sender<AgentIdentity>,
}

impl Default for Revocations {
    fn default() -> Self {
        // Revocations are rare; a subscriber that falls this far behind re-checks the store ([`is_revoked`]).
        Revocations { sender: broadcast::channel(256).0 }
    }
}

impl Revocations {
    /// Every revocation from now on. A `Lagged` receive means some were missed: check the sessions held.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentIdentity> {
        self.sender.subscribe()
    }

    /// Announces that an agent was revoked (nobody listening is fine).
    pub fn announce(&self, who: AgentIdentity) {
        let _ = self.sender.send(who);
    }
}
