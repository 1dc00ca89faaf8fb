//! The hub: the service's side of the on-premises agents' WebSocket (`GET /agent/v1/connect`, docs/agent.md). It
//! holds the sessions of the agents connected to this node ([`session`]) and carries an application's SCIM requests
//! through them ([`relay`]): the engine, Test Connection and provisioning on demand get a relay transport for an
//! application that has agents assigned (`idplane_worker::route`).
//!
//! One session per agent: an agent that reconnects replaces its previous session (on this node at once; on another
//! node at that node's next heartbeat, when the store says the session is no longer the agent's). A session ends
//! when the agent closes it, misses three pings, is revoked, or is evicted; requests it was carrying then fail with
//! `HybridIdentityServiceAgentSignalingError`, and those that cannot have reached the target go to another agent.

pub mod forward;
mod relay;
pub mod session;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idplane_agent_protocol::SUBPROTOCOL;
use idplane_provisioning::store::ProvisioningStore;
use idplane_scim_client::{TenantUrl, Transport};

use crate::AppState;
use session::Session;

/// The hub's limits and timers, sent to each agent in its `Welcome`.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// How often the hub pings an agent; three pings without an answer end the session.
    pub heartbeat: Duration,
    /// Requests an agent carries at once.
    pub max_in_flight: u32,
    /// The largest request or response body relayed.
    pub max_body_bytes: u64,
    /// How long a relayed request may take, from the hub's send to the agent's answer (Entra's is 10 minutes).
    pub deadline: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            heartbeat: Duration::from_secs(5),
            max_in_flight: 32,
            max_body_bytes: 8 << 20,
            deadline: Duration::from_secs(60),
        }
    }
}

/// The agents' sessions on this node. Cheap to clone: clones share the sessions.
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

struct Inner {
    node: String,
    config: HubConfig,
    store: Arc<dyn ProvisioningStore>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Request ids, unique on this node (a session's requests are a subset).
    next_request: AtomicU64,
    /// This node's URL (its id in the sessions it records, instead of `node`) and how to reach the other nodes,
    /// when it was given one (`--node-url`).
    forwarding: std::sync::OnceLock<(String, forward::Forwarding)>,
}

impl Hub {
    pub fn new(store: Arc<dyn ProvisioningStore>, node: impl Into<String>, config: HubConfig) -> Hub {
        Hub(Arc::new(Inner {
            node: node.into(),
            config,
            store,
            sessions: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            forwarding: std::sync::OnceLock::new(),
        }))
    }

    /// Names this node by `url`, as the other nodes reach it, and sends requests for agents connected to other
    /// nodes there ([`forward`]). Once, before agents connect (their sessions are recorded under the node's name);
    /// false if it was done already.
    pub fn forward_as(&self, url: &str, forwarding: forward::Forwarding) -> bool {
        self.0.forwarding.set((url.to_owned(), forwarding)).is_ok()
    }

    fn forwarding(&self) -> Option<&forward::Forwarding> {
        self.0.forwarding.get().map(|(_, f)| f)
    }

    /// This node's name in the sessions it records: its URL when it forwards, else the name it was made with.
    pub fn node(&self) -> &str {
        self.0.forwarding.get().map_or(self.0.node.as_str(), |(url, _)| url.as_str())
    }

    pub fn config(&self) -> HubConfig {
        self.0.config
    }

    fn store(&self) -> &Arc<dyn ProvisioningStore> {
        &self.0.store
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.0.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether agent `agent_id` holds a session on this node.
    pub fn is_connected(&self, agent_id: &str) -> bool {
        self.sessions().contains_key(agent_id)
    }

    /// Records a new session as its agent's; the session it replaces on this node (if any) is told to end.
    fn insert(&self, session: Arc<Session>) {
        let old = self.sessions().insert(session.agent_id.clone(), session);
        if let Some(old) = old {
            old.end("the agent connected again: this older session is replaced");
        }
    }

    /// Forgets a session, unless the agent has a newer one by now.
    fn remove(&self, agent_id: &str, session_id: &str) {
        let mut sessions = self.sessions();
        if sessions.get(agent_id).is_some_and(|s| s.session_id == session_id) {
            sessions.remove(agent_id);
        }
    }

    /// The least busy session among the agents `assigned`, leaving out those `tried`.
    fn pick(&self, assigned: &[String], tried: &HashSet<String>) -> Option<Arc<Session>> {
        let sessions = self.sessions();
        assigned
            .iter()
            .filter(|a| !tried.contains(*a))
            .filter_map(|a| sessions.get(a))
            .filter(|s| s.is_open())
            .min_by_key(|s| s.in_flight())
            .cloned()
    }

    fn request_id(&self) -> u64 {
        self.0.next_request.fetch_add(1, Ordering::Relaxed)
    }

    /// Asks every agent connected here to finish what it carries and reconnect (to another node, behind a load
    /// balancer): what a node does before it stops, for rolling restarts.
    pub fn drain_all(&self, reason: &str) {
        let sessions: Vec<Arc<Session>> = self.sessions().values().cloned().collect();
        for s in sessions {
            s.drain(reason);
        }
    }
}

impl idplane_worker::route::AgentRelay for Hub {
    fn transport(&self, tenant_id: &str, service_principal_id: &str, tenant_url: &TenantUrl) -> Arc<dyn Transport> {
        Arc::new(relay::RelayTransport::new(self.clone(), tenant_id, service_principal_id, tenant_url))
    }
}

/// The hub's routes: `GET /agent/v1/connect`, and `POST /agent/v1/forward` between nodes.
pub fn routes() -> Router<AppState> {
    // A forwarded request frame: a body as large as agents relay, and the frame's header.
    let forwarded_limit =
        axum::extract::DefaultBodyLimit::max((HubConfig::default().max_body_bytes as usize) + (512 << 10));
    Router::new()
        .route("/agent/v1/connect", get(connect))
        .route("/agent/v1/forward", axum::routing::post(forward::forwarded).layer(forwarded_limit))
}

/// `GET /agent/v1/connect`: an agent's WebSocket. The credential is checked before the upgrade (401 in Graph's
/// error shape otherwise), and the agent must offer the protocol version this hub speaks.
async fn connect(State(s): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let who = match crate::agents::authenticate(&s, &headers).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        let message = format!(
            "the agent did not offer the WebSocket subprotocol {SUBPROTOCOL} (Sec-WebSocket-Protocol): update the \
             agent to a version that speaks it"
        );
        let body = serde_json::json!({"error": {"code": "UnsupportedProtocol", "message": message}});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let hub = s.hub.clone();
    let revocations = s.agent_revocations.subscribe();
    let max_message = usize::try_from(hub.config().max_body_bytes).unwrap_or(usize::MAX) + (256 << 10);
    upgrade
        .protocols([SUBPROTOCOL])
        .read_buffer_size(idplane_agent_protocol::READ_BUFFER_BYTES)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| session::run(hub, socket, who, revocations))
}
