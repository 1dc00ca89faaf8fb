//! The relay transport: an application's SCIM requests, each sent through one of its active agents (the least busy),
//! answered with the target's response as the agent received it.
//!
//! When an agent cannot carry a request, the error says so with Entra's code: no agent assigned
//! (`HybridIdentityServiceNoAgentsAssigned`), none connected (`HybridIdentityServiceNoActiveAgents`), the session
//! ended mid-request (`HybridIdentityServiceAgentSignalingError`), no answer in time (`TimeOut`). A request that
//! cannot have reached the target (the agent refused it, or failed to resolve, connect or handshake) goes to the next
//! agent; so does a read whose agent vanished. A write whose agent vanished is not sent again: it may have been
//! delivered, and the engine escrows it and matches before it retries, so the target never gets a duplicate.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use idplane_agent_protocol::{self as proto, FailureKind};
use idplane_scim_client::transport::{HttpRequest, HttpResponse, Method, RequestLine};
use idplane_scim_client::{Error, TenantUrl, Transport};

use super::Hub;
use super::session::Reply;

/// How long the list of an application's assigned agents is relied on.
const ASSIGNED_TTL: Duration = Duration::from_secs(5);

pub(crate) struct RelayTransport {
    hub: Hub,
    tenant_id: String,
    service_principal_id: String,
    /// The tenant URL, as the agents are told they may relay to it.
    target: String,
    assigned: Mutex<Option<(Instant, Vec<String>)>>,
}

impl RelayTransport {
    pub(crate) fn new(hub: Hub, tenant_id: &str, service_principal_id: &str, tenant_url: &TenantUrl) -> Self {
        RelayTransport {
            hub,
            tenant_id: tenant_id.to_owned(),
            service_principal_id: service_principal_id.to_owned(),
            target: tenant_url.as_str().to_owned(),
            assigned: Mutex::new(None),
        }
    }

    /// The ids of the agents assigned to the application (read again every few seconds).
    async fn assigned(&self, line: &RequestLine) -> Result<Vec<String>, Error> {
        if let Ok(cached) = self.assigned.lock()
            && let Some((at, ids)) = cached.as_ref()
            && at.elapsed() < ASSIGNED_TTL
        {
            return Ok(ids.clone());
        }
        let agents =
            self.hub.store().agents_of_application(&self.tenant_id, &self.service_principal_id).await.map_err(|e| {
                relay(line, "HybridIdentityServiceAgentSignalingError", format!("reading the agents: {e}"))
            })?;
        let ids: Vec<String> = agents.into_iter().map(|a| a.id).collect();
        if let Ok(mut cached) = self.assigned.lock() {
            *cached = Some((Instant::now(), ids.clone()));
        }
        Ok(ids)
    }
}

pub(crate) fn relay(line: &RequestLine, code: &'static str, message: String) -> Error {
    Error::Relay { request: line.clone(), code, message }
}

/// Whether sending the request twice does no harm: a read, or a write whose effect is the same done twice.
fn idempotent(method: Method) -> bool {
    matches!(method, Method::Get | Method::Put | Method::Delete)
}

/// What carrying a request through this node's sessions came to.
pub(crate) enum Carried {
    /// The target's answer, or why the request failed.
    Done(Result<HttpResponse, Error>),
    /// No assigned agent has a session on this node.
    NoSession,
}

/// Sends `frame` through the least busy session among `assigned` on this node, then the next ones as the request's
/// fate allows (see the module's documentation).
pub(crate) async fn carry(
    hub: &Hub,
    line: &RequestLine,
    assigned: &[String],
    target: &str,
    frame: &proto::Request,
) -> Carried {
    let config = hub.config();
    let mut tried = HashSet::new();
    let mut last: Option<Error> = None;
    let method = line.method;
    while let Some(session) = hub.pick(assigned, &tried) {
        tried.insert(session.agent_id.clone());
        session.allow(target).await;
        let agent = format!("agent {} ({})", session.host_name, session.agent_id);
        match session.call(frame.clone(), hub.request_id(), config.deadline).await {
            Reply::Response(r) => return Carried::Done(Ok(http_response(r))),
            Reply::Failure(f) => {
                let error = failure(line, &agent, &f);
                if !f.kind.never_sent() {
                    return Carried::Done(Err(error));
                }
                last = Some(error);
            }
            Reply::NotSent(why) => {
                last = Some(relay(line, "HybridIdentityServiceAgentSignalingError", format!("{agent}: {why}")));
            }
            Reply::Dropped(why) => {
                let error = relay(line, "HybridIdentityServiceAgentSignalingError", format!("{agent}: {why}"));
                if !idempotent(method) {
                    return Carried::Done(Err(error));
                }
                last = Some(error);
            }
            Reply::TimedOut => {
                return Carried::Done(Err(relay(
                    line,
                    "TimeOut",
                    format!(
                        "{agent} gave no answer within {} s: check the agent's log, and that the target answers from \
                         the agent's network",
                        config.deadline.as_secs()
                    ),
                )));
            }
        }
    }
    match last {
        Some(e) => Carried::Done(Err(e)),
        None => Carried::NoSession,
    }
}

/// The target's answer as the agent relayed it, header names in lower case as transports give them.
pub(crate) fn http_response(r: proto::Response) -> HttpResponse {
    let headers = r.headers.0.into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect();
    HttpResponse { status: r.status, headers, body: r.body }
}

/// The error when none of the `n` assigned agents is connected.
pub(crate) fn no_active(line: &RequestLine, n: usize) -> Error {
    relay(
        line,
        "HybridIdentityServiceNoActiveAgents",
        format!(
            "none of the {n} agent(s) assigned to this application is connected: check that the agent service runs on \
             its machine and reaches this service (idplane agents list shows each agent's status)"
        ),
    )
}

#[async_trait]
impl Transport for RelayTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let line = request.line();
        let config = self.hub.config();
        let assigned = self.assigned(&line).await?;
        if assigned.is_empty() {
            return Err(relay(
                &line,
                "HybridIdentityServiceNoAgentsAssigned",
                "no on-premises agent is assigned to this application: assign one under On-Premises Connectivity \
                 (idplane app agents assign), or remove the application's agents to provision directly"
                    .into(),
            ));
        }
        let body = request.body.clone().unwrap_or_default();
        if body.len() as u64 > config.max_body_bytes {
            return Err(Error::Request(format!(
                "the request body ({} bytes) is larger than agents relay ({} bytes)",
                body.len(),
                config.max_body_bytes
            )));
        }
        let mut headers = request.headers.clone();
        if let Some(token) = &request.bearer {
            headers.push(("Authorization".into(), format!("Bearer {}", token.expose())));
        }
        let frame = proto::Request {
            id: 0,
            deadline_ms: 0,
            method: request.method.as_str().into(),
            url: request.url.to_string(),
            headers: proto::Headers(headers),
            body,
        };
        match carry(&self.hub, &line, &assigned, &self.target, &frame).await {
            Carried::Done(result) => result,
            Carried::NoSession => {
                match super::forward::to_holder(
                    &self.hub,
                    &line,
                    &self.tenant_id,
                    &self.service_principal_id,
                    &self.target,
                    &frame,
                )
                .await
                {
                    Some(result) => result,
                    None => Err(no_active(&line, assigned.len())),
                }
            }
        }
    }
}

/// The error for an agent's failure: where it happened (the agent's network, not this service's) and its code.
fn failure(line: &RequestLine, agent: &str, f: &proto::Failure) -> Error {
    let code = match f.kind {
        FailureKind::Timeout => "TimeOut",
        FailureKind::NotAllowed => "HybridIdentityServiceInvalidResource",
        FailureKind::InvalidResponse => "SystemForCrossDomainIdentityManagementServiceIncompatible",
        FailureKind::Cancelled => "HybridIdentityServiceAgentSignalingError",
        FailureKind::Busy => "HybridIdentityServiceAgentSignalingError",
        _ => "SystemForCrossDomainIdentityManagementServiceUnavailable",
    };
    relay(line, code, format!("{agent} could not carry the request ({:?}): {}", f.kind, f.message))
}
