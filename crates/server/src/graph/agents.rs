//! On-premises provisioning agents under Graph's `onPremisesPublishingProfiles/provisioning` (a beta resource in
//! Microsoft Graph, served here under `/v1.0` like the rest): `agents` (`onPremisesAgent`: list, get, and, idplane's
//! own, delete, which revokes), `agentGroups` (`onPremisesAgentGroup`) and idplane's own `registrationTokens`.
//!
//! Assignment: in idplane an agent group *is* an application. Every service principal of the tenant is an agent
//! group with the same id (`publishingType` `provisioning`), so that Graph's requests assign agents to applications
//! unchanged: `POST .../agentGroups/{servicePrincipalId}/agents/$ref` or `POST .../agents/{id}/agentGroups/$ref`
//! assigns, `DELETE .../agentGroups/{servicePrincipalId}/agents/{id}/$ref` unassigns. Listing `agentGroups` shows
//! the applications that have agents. Groups cannot be created, renamed or deleted: they follow the applications.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::agents::{self, Agent, AgentIdentity, HEARTBEAT_WINDOW};
use idplane_provisioning::application::{self, ServicePrincipal};
use idplane_provisioning::directory::rfc3339;
use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::{Caller, collection, entity, no_content, read_body, read_optional_body};
use crate::AppState;

const BASE: &str = "/v1.0/onPremisesPublishingProfiles/{profile}";

pub fn routes() -> Router<AppState> {
    let r = |tail: &str| format!("{BASE}{tail}");
    Router::new()
        .route(BASE, get(profile))
        .route(&r("/agents"), get(list_agents))
        .route(&r("/agents/{id}"), get(get_agent).delete(delete_agent))
        .route(&r("/agents/{id}/agentGroups"), get(groups_of_agent))
        .route(&r("/agents/{id}/agentGroups/$ref"), post(add_group_to_agent))
        .route(&r("/agentGroups"), get(list_groups))
        .route(&r("/agentGroups/{group}"), get(get_group))
        .route(&r("/agentGroups/{group}/agents"), get(agents_of_group))
        .route(&r("/agentGroups/{group}/agents/$ref"), post(add_agent_to_group))
        .route(&r("/agentGroups/{group}/agents/{id}/$ref"), delete(remove_agent_from_group))
        .route(&r("/registrationTokens"), post(create_token))
}

type Res = Result<Response, GraphError>;

/// The one publishing profile idplane serves.
const PROFILE: &str = "provisioning";

fn check_profile(profile: &str) -> Result<(), GraphError> {
    if profile.eq_ignore_ascii_case(PROFILE) {
        Ok(())
    } else {
        Err(ProvisioningError::NotFound { what: "onPremisesPublishingProfile", id: profile.to_string() }.into())
    }
}

fn context(tail: &str) -> String {
    format!("onPremisesPublishingProfiles('{PROFILE}')/{tail}")
}

/// An application as an agent group.
fn group_json(id: &str, display_name: &str) -> Value {
    json!({"id": id, "displayName": display_name, "isDefault": false, "publishingType": PROFILE})
}

/// An agent as Graph's `onPremisesAgent`, with idplane's own properties after Graph's.
fn agent_json(agent: &Agent, c: &Caller) -> Map<String, Value> {
    let groups: Vec<Value> =
        agent.applications.iter().map(|a| group_json(&a.service_principal_id, &a.display_name)).collect();
    let v = json!({
        "id": agent.id,
        "machineName": agent.host_name,
        "externalIp": null,
        "status": agent.status(c.now, HEARTBEAT_WINDOW).as_str(),
        "supportedPublishingTypes": [PROFILE],
        "agentGroups": groups,
        "version": agent.version,
        "createdDateTime": rfc3339(agent.created),
        "lastSeenDateTime": agent.last_seen.map(rfc3339),
        "roundTripTimeMilliseconds": agent.round_trip.map(|d| d.as_secs_f64() * 1000.0),
        "credentialRevoked": !agent.has_credential,
    });
    v.as_object().cloned().unwrap_or_default()
}

async fn profile(c: Caller, Path(profile): Path<String>) -> Res {
    check_profile(&profile)?;
    let item = json!({"id": PROFILE, "isEnabled": true, "hybridAgentUpdaterConfiguration": null});
    Ok(entity(
        &c,
        StatusCode::OK,
        "onPremisesPublishingProfiles/$entity",
        item.as_object().cloned().unwrap_or_default(),
    ))
}

async fn list_agents(State(s): State<AppState>, c: Caller, Path(profile): Path<String>) -> Res {
    check_profile(&profile)?;
    let agents = s.provisioning.agents(&c.tenant.id).await?;
    let items = agents.iter().map(|a| Value::Object(agent_json(a, &c))).collect();
    Ok(collection(&c, &context("agents"), items, None, None))
}

async fn get_agent(State(s): State<AppState>, c: Caller, Path((profile, id)): Path<(String, String)>) -> Res {
    check_profile(&profile)?;
    let agent = agents::agent(s.provisioning.as_ref(), &c.tenant.id, &id).await?;
    Ok(entity(&c, StatusCode::OK, &context("agents/$entity"), agent_json(&agent, &c)))
}

/// Deletes an agent: its credential stops working at once and the hub drops its session.
async fn delete_agent(State(s): State<AppState>, c: Caller, Path((profile, id)): Path<(String, String)>) -> Res {
    check_profile(&profile)?;
    agents::delete(s.provisioning.as_ref(), &c.tenant.id, &id).await?;
    tracing::info!(agent = %id, "agent deleted (revoked)");
    s.agent_revocations.announce(AgentIdentity { agent_id: id, tenant_id: c.tenant.id.clone() });
    Ok(no_content())
}

async fn groups_of_agent(State(s): State<AppState>, c: Caller, Path((profile, id)): Path<(String, String)>) -> Res {
    check_profile(&profile)?;
    let agent = agents::agent(s.provisioning.as_ref(), &c.tenant.id, &id).await?;
    let items = agent.applications.iter().map(|a| group_json(&a.service_principal_id, &a.display_name)).collect();
    Ok(collection(&c, &context(&format!("agents('{id}')/agentGroups")), items, None, None))
}

async fn list_groups(State(s): State<AppState>, c: Caller, Path(profile): Path<String>) -> Res {
    check_profile(&profile)?;
    // Agents are few (a handful per application): the groups are read off them rather than kept apart.
    let mut seen: Vec<(String, String)> = Vec::new();
    for agent in s.provisioning.agents(&c.tenant.id).await? {
        for a in agent.applications {
            if !seen.iter().any(|(id, _)| *id == a.service_principal_id) {
                seen.push((a.service_principal_id, a.display_name));
            }
        }
    }
    seen.sort();
    let items = seen.iter().map(|(id, name)| group_json(id, name)).collect();
    Ok(collection(&c, &context("agentGroups"), items, None, None))
}

async fn group(s: &AppState, c: &Caller, profile: &str, id: &str) -> Result<ServicePrincipal, GraphError> {
    check_profile(profile)?;
    application::service_principal(s.provisioning.as_ref(), &c.tenant.id, id).await.map_err(|e| match e {
        ProvisioningError::NotFound { .. } => ProvisioningError::NotFound {
            what: "onPremisesAgentGroup",
            id: format!("{id} (an agent group is an application: use its service principal's id)"),
        }
        .into(),
        other => other.into(),
    })
}

async fn get_group(State(s): State<AppState>, c: Caller, Path((profile, id)): Path<(String, String)>) -> Res {
    let sp = group(&s, &c, &profile, &id).await?;
    let item = group_json(&sp.id, &sp.display_name).as_object().cloned().unwrap_or_default();
    Ok(entity(&c, StatusCode::OK, &context("agentGroups/$entity"), item))
}

async fn agents_of_group(State(s): State<AppState>, c: Caller, Path((profile, id)): Path<(String, String)>) -> Res {
    let sp = group(&s, &c, &profile, &id).await?;
    let agents = s.provisioning.agents_of_application(&c.tenant.id, &sp.id).await?;
    let items = agents.iter().map(|a| Value::Object(agent_json(a, &c))).collect();
    Ok(collection(&c, &context(&format!("agentGroups('{}')/agents", sp.id)), items, None, None))
}

/// The id at the end of an `@odata.id` reference to `collection` (or a bare id).
fn referenced(body: &Value, collection: &str) -> Result<String, GraphError> {
    let reference = body.get("@odata.id").and_then(Value::as_str).map(|r| r.trim().trim_end_matches('/'));
    let id = reference.and_then(|r| match r.rsplit_once('/') {
        Some((rest, id)) => rest.rsplit('/').next().is_some_and(|c| c.eq_ignore_ascii_case(collection)).then_some(id),
        None => Some(r),
    });
    match id.filter(|id| !id.is_empty() && !id.contains(['?', '#', '(', ')'])) {
        Some(id) => Ok(id.to_string()),
        None => Err(ProvisioningError::invalid_property(
            "@odata.id",
            format!(
                "the body must be {{\"@odata.id\": \"https://<host>/v1.0/onPremisesPublishingProfiles/provisioning/\
                 {collection}/{{id}}\"}}"
            ),
        )
        .into()),
    }
}

/// Assigns, answering 409 when the agent serves the application already.
async fn assign(s: &AppState, c: &Caller, agent_id: &str, sp_id: &str) -> Res {
    match agents::assign(s.provisioning.as_ref(), &c.tenant.id, agent_id, sp_id, c.now).await {
        Ok(()) => Ok(no_content()),
        Err(ProvisioningError::Conflict(message)) => {
            Err(GraphError::Coded { status: 409, code: "Request_Conflict".into(), message })
        }
        Err(e) => Err(e.into()),
    }
}

async fn add_agent_to_group(
    State(s): State<AppState>,
    c: Caller,
    Path((profile, group_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let sp = group(&s, &c, &profile, &group_id).await?;
    let agent_id = referenced(&read_body(&s, &headers, body).await?, "agents")?;
    assign(&s, &c, &agent_id, &sp.id).await
}

async fn add_group_to_agent(
    State(s): State<AppState>,
    c: Caller,
    Path((profile, agent_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    check_profile(&profile)?;
    let group_id = referenced(&read_body(&s, &headers, body).await?, "agentGroups")?;
    assign(&s, &c, &agent_id, &group_id).await
}

async fn remove_agent_from_group(
    State(s): State<AppState>,
    c: Caller,
    Path((profile, group_id, agent_id)): Path<(String, String, String)>,
) -> Res {
    let sp = group(&s, &c, &profile, &group_id).await?;
    agents::unassign(s.provisioning.as_ref(), &c.tenant.id, &agent_id, &sp.id).await?;
    Ok(no_content())
}

/// `POST .../registrationTokens {"expiresInHours"?}` (idplane's own): a one-time registration token, shown once.
async fn create_token(
    State(s): State<AppState>,
    c: Caller,
    Path(profile): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    check_profile(&profile)?;
    let body = read_optional_body(&s, &headers, body).await?;
    let hours = match body.get("expiresInHours") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            ProvisioningError::invalid_property(
                "expiresInHours",
                format!("'expiresInHours' must be a whole number of hours, 1 to {}", agents::MAX_TOKEN_HOURS),
            )
        })?),
    };
    if let Some(other) = body.as_object().and_then(|m| m.keys().find(|k| *k != "expiresInHours" && !k.starts_with('@')))
    {
        return Err(ProvisioningError::invalid_property(
            other,
            format!("'{other}' is not a property of a registration token; send {{\"expiresInHours\": N}} or nothing"),
        )
        .into());
    }
    let (secret, token) =
        agents::create_registration_token(s.provisioning.as_ref(), &c.tenant.id, hours, c.now).await?;
    tracing::info!(token = %token.id, expires = %rfc3339(token.expires), "agent registration token created");
    let item = json!({
        "id": token.id,
        "token": secret.expose(),
        "tenantId": token.tenant_id,
        "createdDateTime": rfc3339(token.created),
        "expirationDateTime": rfc3339(token.expires),
    });
    Ok(entity(
        &c,
        StatusCode::CREATED,
        &context("registrationTokens/$entity"),
        item.as_object().cloned().unwrap_or_default(),
    ))
}
