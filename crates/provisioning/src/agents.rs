//! On-premises provisioning agents, as the provisioning service knows them (issue 13): the agents of a tenant
//! (host name, version, when last seen and how fast it answered), the one-time registration tokens an admin hands to
//! an agent's installer, the per-agent credential the agent connects with, and the many-to-many assignment of agents
//! to applications (an application's service principal, where its provisioning jobs live).
//!
//! Secrets: a registration token (`idplreg_` + 64 hex digits) and an agent credential (`idplagent_` + 64 hex
//! digits) are 256 random bits each, shown once and stored only as their SHA-256 ([`TokenHash`]), looked up by that
//! hash and compared in constant time. A registration token lives an hour unless its creator asks for up to
//! [`MAX_TOKEN_HOURS`], and works once: [`register`] consumes it in the transaction that creates the agent, so two
//! exchanges of one token cannot both succeed. Rotating a credential replaces its hash at once; revoking (or
//! deleting the agent) removes it, so that [`authenticate`] fails from the next request on, and [`is_revoked`] tells
//! the hub which connected agents to drop.
//!
//! Status is derived, not stored: an agent is active when it was seen (a heartbeat on its session) within the
//! heartbeat window, inactive otherwise.

use idplane_core::error::StoreError;
use idplane_core::token::{Secret, TokenHash};
use time::{Duration, OffsetDateTime};

use crate::error::{ProvisioningError, Result};
use crate::ids;
use crate::store::{AgentStore, AssignAgent};

/// What a registration token starts with, so that a reader of a config file or a log can tell what it is.
pub const REGISTRATION_TOKEN_PREFIX: &str = "idplreg_";
/// What an agent credential starts with.
pub const CREDENTIAL_PREFIX: &str = "idplagent_";
/// How long a registration token lives unless its creator says otherwise.
pub const DEFAULT_TOKEN_HOURS: i64 = 1;
/// The longest a registration token may live: it is meant for the installation at hand, not to be kept.
pub const MAX_TOKEN_HOURS: i64 = 24;
/// How long after its last heartbeat an agent still counts as active. The hub's heartbeats come every few seconds,
/// so an agent is inactive after a few missed ones, not after minutes.
pub const HEARTBEAT_WINDOW: Duration = Duration::seconds(30);
/// The longest host name and version an agent may report.
pub const MAX_HOST_NAME: usize = 253;
pub const MAX_VERSION: usize = 64;

/// Whether an agent answers now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    Active,
    Inactive,
}

impl AgentStatus {
    /// Graph's `agentStatus` value.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Inactive => "inactive",
        }
    }
}

/// An application an agent is assigned to: its service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedApplication {
    pub service_principal_id: String,
    pub display_name: String,
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// A GUID.
    pub id: String,
    pub tenant_id: String,
    /// The machine the agent runs on, as it reported at registration.
    pub host_name: String,
    /// The agent's version, as it reported at registration.
    pub version: String,
    pub created: OffsetDateTime,
    /// The last heartbeat the service received from it.
    pub last_seen: Option<OffsetDateTime>,
    /// The round-trip time of that heartbeat.
    pub round_trip: Option<std::time::Duration>,
    /// False once its credential is revoked: it can no longer connect or rotate.
    pub has_credential: bool,
    /// The applications it serves, in the order they were assigned.
    pub applications: Vec<AssignedApplication>,
}

impl Agent {
    /// Active when seen within `window` before `now` (and still holding a credential).
    pub fn status(&self, now: OffsetDateTime, window: Duration) -> AgentStatus {
        match self.last_seen {
            Some(seen) if self.has_credential && now - seen <= window => AgentStatus::Active,
            _ => AgentStatus::Inactive,
        }
    }
}

/// A one-time registration token as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationToken {
    /// Public identifier (the first 16 hex digits of the hash), safe to show and log.
    pub id: String,
    pub hash: TokenHash,
    pub tenant_id: String,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// Who a credential belongs to: what the hub needs of a connecting agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub agent_id: String,
    pub tenant_id: String,
}

/// One agent's live session on a service node, as the hub records it: which node holds the WebSocket, since when,
/// and its last heartbeat. One row per agent: a reconnecting agent's new session replaces the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSession {
    pub agent_id: String,
    pub tenant_id: String,
    pub node_id: String,
    pub session_id: String,
    pub connected: OffsetDateTime,
    pub last_heartbeat: OffsetDateTime,
    pub round_trip: Option<std::time::Duration>,
}

/// A new secret: `prefix` and 256 random bits in hex.
fn new_secret(prefix: &str) -> Result<Secret, StoreError> {
    Ok(Secret::new(format!("{prefix}{}", hex::encode(idplane_core::ids::secret_bytes()?))))
}

/// The hash of a presented secret, or `None` when it cannot be one of ours (wrong prefix or length): such a value is
/// refused without a store lookup.
fn hash_of(presented: &str, prefix: &str) -> Option<TokenHash> {
    let rest = presented.strip_prefix(prefix)?;
    (rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit())).then(|| TokenHash::of(presented))
}

/// Creates a registration token for `tenant_id`, living `hours` (default [`DEFAULT_TOKEN_HOURS`], at most
/// [`MAX_TOKEN_HOURS`]). The secret is returned in clear, to show once. Expired tokens of every tenant are dropped
/// on the way.
pub async fn create_registration_token(
    store: &dyn AgentStore,
    tenant_id: &str,
    hours: Option<i64>,
    now: OffsetDateTime,
) -> Result<(Secret, RegistrationToken)> {
    let hours = hours.unwrap_or(DEFAULT_TOKEN_HOURS);
    if !(1..=MAX_TOKEN_HOURS).contains(&hours) {
        return Err(ProvisioningError::invalid_property(
            "expiresInHours",
            format!(
                "a registration token lives 1 to {MAX_TOKEN_HOURS} hours (default {DEFAULT_TOKEN_HOURS}); \
                 {hours} is out of range"
            ),
        ));
    }
    let secret = new_secret(REGISTRATION_TOKEN_PREFIX)?;
    let hash = secret.hash();
    let token = RegistrationToken {
        id: hex::encode(&hash.0[..8]),
        hash,
        tenant_id: tenant_id.to_string(),
        created: now,
        expires: now + Duration::hours(hours),
    };
    store.insert_registration_token(&token).await?;
    Ok((secret, token))
}

/// Checks what an agent reports of itself: printable text of bounded length, so that listings and logs stay clean.
fn check_reported(name: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ProvisioningError::invalid_property(
            name,
            format!("'{name}' must be 1 to {max} printable characters"),
        ));
    }
    Ok(value.to_string())
}

/// The registration exchange: consumes the one-time `token` and creates an agent of its tenant with a fresh
/// credential, returned in clear (to hand to the agent once). `None` when the token is unknown, used or expired:
/// one answer for all three, so that a caller learns nothing about which tokens exist.
pub async fn register(
    store: &dyn AgentStore,
    token: &str,
    host_name: &str,
    version: &str,
    now: OffsetDateTime,
) -> Result<Option<(Agent, Secret)>> {
    let host_name = check_reported("hostName", host_name, MAX_HOST_NAME)?;
    let version = check_reported("version", version, MAX_VERSION)?;
    let Some(token_hash) = hash_of(token.trim(), REGISTRATION_TOKEN_PREFIX) else { return Ok(None) };
    let credential = new_secret(CREDENTIAL_PREFIX)?;
    let agent = Agent {
        id: ids::new_guid(now)?,
        tenant_id: String::new(),
        host_name,
        version,
        created: now,
        last_seen: None,
        round_trip: None,
        has_credential: true,
        applications: Vec::new(),
    };
    Ok(store.register_agent(&token_hash, &agent, &credential.hash(), now).await?.map(|agent| (agent, credential)))
}

/// Who holds `credential`: one index lookup by its hash, then a constant-time comparison. `None` for anything that
/// is not a live credential (unknown, rotated away, revoked, or not of the credential's form).
pub async fn authenticate(store: &dyn AgentStore, credential: &str) -> Result<Option<AgentIdentity>, StoreError> {
    let Some(hash) = hash_of(credential.trim(), CREDENTIAL_PREFIX) else { return Ok(None) };
    Ok(store.agent_by_credential(&hash).await?.filter(|(stored, _)| stored.matches(&hash)).map(|(_, id)| id))
}

/// Replaces the credential an agent presents with a new one (returned in clear); the old one stops working in the
/// same transaction. `None` when `credential` is not live.
pub async fn rotate(store: &dyn AgentStore, credential: &str) -> Result<Option<(AgentIdentity, Secret)>, StoreError> {
    let Some(old) = hash_of(credential.trim(), CREDENTIAL_PREFIX) else { return Ok(None) };
    let new = new_secret(CREDENTIAL_PREFIX)?;
    Ok(store.rotate_agent_credential(&old, &new.hash()).await?.map(|who| (who, new)))
}

/// True when agent `agent_id` may no longer be connected: deleted, or its credential revoked. What the hub asks of
/// the sessions it holds.
pub async fn is_revoked(store: &dyn AgentStore, agent_id: &str) -> Result<bool, StoreError> {
    Ok(!store.agent_has_credential(agent_id).await?)
}

/// An agent of the tenant, or not found.
pub async fn agent(store: &dyn AgentStore, tenant_id: &str, id: &str) -> Result<Agent> {
    store.agent(tenant_id, id).await?.ok_or_else(|| ProvisioningError::not_found("onPremisesAgent", id))
}

/// Deletes an agent: its credential, assignments and session go with it, so it is revoked at once.
pub async fn delete(store: &dyn AgentStore, tenant_id: &str, id: &str) -> Result<()> {
    if store.delete_agent(tenant_id, id).await? {
        Ok(())
    } else {
        Err(ProvisioningError::not_found("onPremisesAgent", id))
    }
}

/// Revokes an agent's credential and keeps it listed (inactive), with its assignments.
pub async fn revoke(store: &dyn AgentStore, tenant_id: &str, id: &str) -> Result<()> {
    if store.revoke_agent(tenant_id, id).await? {
        Ok(())
    } else {
        Err(ProvisioningError::not_found("onPremisesAgent", id))
    }
}

/// Assigns an agent to an application's service principal.
pub async fn assign(
    store: &dyn AgentStore,
    tenant_id: &str,
    agent_id: &str,
    service_principal_id: &str,
    now: OffsetDateTime,
) -> Result<()> {
    match store.assign_agent(tenant_id, agent_id, service_principal_id, now).await? {
        AssignAgent::Assigned => Ok(()),
        AssignAgent::NoAgent => Err(ProvisioningError::not_found("onPremisesAgent", agent_id)),
        AssignAgent::NoServicePrincipal => Err(ProvisioningError::not_found("servicePrincipal", service_principal_id)),
        AssignAgent::AlreadyAssigned => Err(ProvisioningError::Conflict(format!(
            "agent {agent_id} is already assigned to service principal {service_principal_id}; \
             nothing to do (unassign it first to assign it again)"
        ))),
    }
}

/// Removes an agent from an application.
pub async fn unassign(
    store: &dyn AgentStore,
    tenant_id: &str,
    agent_id: &str,
    service_principal_id: &str,
) -> Result<()> {
    if store.unassign_agent(tenant_id, agent_id, service_principal_id).await? {
        Ok(())
    } else {
        Err(ProvisioningError::not_found("agentAssignment", format!("{agent_id} -> {service_principal_id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(last_seen: Option<OffsetDateTime>, has_credential: bool) -> Agent {
        Agent {
            id: "a".into(),
            tenant_id: "t".into(),
            host_name: "h".into(),
            version: "1".into(),
            created: OffsetDateTime::UNIX_EPOCH,
            last_seen,
            round_trip: None,
            has_credential,
            applications: Vec::new(),
        }
    }

    #[test]
    fn status_follows_the_heartbeat_window_and_the_credential() {
        let t = time::macros::datetime!(2026-12-06 01:00 UTC);
        let w = HEARTBEAT_WINDOW;
        assert_eq!(agent(None, true).status(t, w), AgentStatus::Inactive, "never seen");
        assert_eq!(agent(Some(t - w), true).status(t, w), AgentStatus::Active, "the window's edge");
        assert_eq!(agent(Some(t - w - Duration::milliseconds(1)), true).status(t, w), AgentStatus::Inactive);
        assert_eq!(agent(Some(t), false).status(t, w), AgentStatus::Inactive, "revoked");
    }

    #[test]
    fn secrets_have_their_prefix_and_256_bits_and_only_that_form_is_hashed() -> Result<(), StoreError> {
        let (a, b) = (new_secret(CREDENTIAL_PREFIX)?, new_secret(CREDENTIAL_PREFIX)?);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), CREDENTIAL_PREFIX.len() + 64);
        assert_eq!(hash_of(a.expose(), CREDENTIAL_PREFIX), Some(a.hash()));
        assert_eq!(hash_of(a.expose(), REGISTRATION_TOKEN_PREFIX), None, "a credential is no registration token");
        assert_eq!(hash_of(&a.expose()[..a.expose().len() - 1], CREDENTIAL_PREFIX), None, "short");
        assert_eq!(hash_of(&format!("{}g", &a.expose()[..a.expose().len() - 1]), CREDENTIAL_PREFIX), None);
        assert!(!format!("{a:?}").contains(&a.expose()[CREDENTIAL_PREFIX.len()..]), "Debug hides it");
        Ok(())
    }

    #[test]
    fn reported_values_are_trimmed_printable_and_bounded() {
        assert_eq!(check_reported("hostName", "  corp-01 ", 10).ok().as_deref(), Some("corp-01"));
        for bad in ["", "   ", "a\nb", "12345678901"] {
            let e = check_reported("hostName", bad, 10).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("1 to 10 printable characters"), "{bad:?}: {e}");
        }
    }
}
