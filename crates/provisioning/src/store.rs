//! The provisioning domain's ports: what it needs from a database, one narrow port per aggregate
//! ([`TenantStore`], [`DirectoryStore`], [`ApplicationStore`], [`JobStore`], [`CycleStore`],
//! [`ProvisioningLogStore`], [`AgentStore`]), and [`ProvisioningStore`], all of them together. `idplane-store` implements them on
//! SQLite and PostgreSQL, with one conformance suite.
//!
//! Every method acts within one tenant (its first argument, where it takes one): an id of another tenant's object
//! is not found. Every write is one transaction; those that change the directory, memberships or assignments append
//! to the tenant's change feed in that transaction.

use async_trait::async_trait;
use idplane_core::error::StoreError;
use idplane_core::token::TokenHash;
use time::OffsetDateTime;

use crate::agents::{Agent, AgentIdentity, AgentSession, RegistrationToken};
use crate::application::{AppRoleAssignment, Application, AssignmentView, ServicePrincipal};
use crate::cycle::state::{Escrow, Link, RunState};
use crate::directory::query::{ObjectPage, ObjectQuery};
use crate::directory::{Change, DirectoryObject, ObjectKind};
use crate::job::SyncJob;
use crate::logs::{LogPage, LogQuery, ProvisioningLog};
use crate::tenant::{Tenant, TenantToken};

/// Tenants and their tokens.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Inserts a tenant; [`StoreError::Conflict`] if its account already has one.
    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError>;
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError>;
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// The tenant linked to an identity-service account.
    async fn tenant_of_account(&self, account_id: &str) -> Result<Option<Tenant>, StoreError>;
    async fn insert_tenant_token(&self, token: &TenantToken) -> Result<(), StoreError>;
    /// The tenant token with this hash (an index lookup), expired or not.
    async fn tenant_token_by_hash(&self, hash: &TokenHash) -> Result<Option<TenantToken>, StoreError>;
    /// The tokens of a tenant, in creation order.
    async fn tenant_tokens(&self, tenant_id: &str) -> Result<Vec<TenantToken>, StoreError>;
    /// Revokes a tenant token. False if it did not exist.
    async fn delete_tenant_token(&self, id: &str) -> Result<bool, StoreError>;
}

/// What adding members found. Nothing is added unless every member could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddMembers {
    Added,
    /// This id names no live user or group of the tenant.
    Missing(String),
    /// This object is a member already.
    AlreadyMember(String),
    /// This group contains the group, directly or not (or is the group): adding it would make a cycle.
    Cycle(String),
}

/// Users, groups, memberships, managers, the deleted items and the change feed.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Inserts an object, with the initial members of a group. [`StoreError::Conflict`] on `userPrincipalName` if
    /// the name is taken; a member that does not exist (or is the group) is [`AddMembers::Missing`] and nothing is
    /// written.
    async fn insert_object(&self, object: &DirectoryObject, members: &[String]) -> Result<AddMembers, StoreError>;
    /// The object `id` of the tenant, live or deleted as `deleted` says, of `kind` when given. An index lookup.
    async fn object(
        &self,
        tenant_id: &str,
        kind: Option<ObjectKind>,
        id: &str,
        deleted: bool,
    ) -> Result<Option<DirectoryObject>, StoreError>;
    /// The live objects among `ids`, in any order; unknown ids are left out.
    async fn objects(&self, tenant_id: &str, ids: &[String]) -> Result<Vec<DirectoryObject>, StoreError>;
    /// Replaces an object's document and manager, if its version is still `expected_version` (else
    /// [`StoreError::VersionMismatch`]); returns the new version. [`StoreError::Conflict`] on a taken
    /// `userPrincipalName`.
    async fn update_object(&self, object: &DirectoryObject, expected_version: i64) -> Result<i64, StoreError>;
    /// Moves a live object to the deleted items. False if there was no such live object.
    async fn soft_delete(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Brings a deleted object back. False if there was no such deleted object. [`StoreError::Conflict`] if its
    /// `userPrincipalName` was taken meanwhile.
    async fn restore(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Deletes an object (live or deleted) permanently, with its memberships both ways and its assignments; the
    /// users it managed lose their manager. False if there was no such object.
    async fn purge(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Deletes permanently every object deleted before `before` (the deleted items keep objects 30 days); how many.
    async fn purge_deleted(&self, before: OffsetDateTime, at: OffsetDateTime) -> Result<u64, StoreError>;
    /// Adds members to a group (users and groups of the tenant), all or none.
    async fn add_members(
        &self,
        tenant_id: &str,
        group_id: &str,
        members: &[String],
        at: OffsetDateTime,
    ) -> Result<AddMembers, StoreError>;
    /// Removes a member; false if it was not one.
    async fn remove_member(
        &self,
        tenant_id: &str,
        group_id: &str,
        member_id: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The live direct members of a group, in id order, a page at a time (`after`, `top`).
    async fn group_members(
        &self,
        tenant_id: &str,
        group_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<(Vec<DirectoryObject>, bool), StoreError>;
    /// The live groups an object is a direct member of, in id order, a page at a time.
    async fn member_of(
        &self,
        tenant_id: &str,
        object_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<(Vec<DirectoryObject>, bool), StoreError>;
    /// The live users whose manager is `manager_id`, in id order, a page at a time.
    async fn direct_reports(
        &self,
        tenant_id: &str,
        manager_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<(Vec<DirectoryObject>, bool), StoreError>;
    /// One page of a listing.
    async fn list_objects(&self, tenant_id: &str, query: &ObjectQuery) -> Result<ObjectPage, StoreError>;
    /// The tenant's changes after `after_seq`, oldest first, at most `limit`.
    async fn changes(&self, tenant_id: &str, after_seq: i64, limit: usize) -> Result<Vec<Change>, StoreError>;
    /// The position of the tenant's latest change (0 if none).
    async fn latest_change(&self, tenant_id: &str) -> Result<i64, StoreError>;
}

/// Applications, service principals and app role assignments.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    /// Inserts an application with its service principal, in one transaction.
    async fn insert_application(&self, app: &Application, sp: &ServicePrincipal) -> Result<(), StoreError>;
    async fn application(&self, tenant_id: &str, id: &str) -> Result<Option<Application>, StoreError>;
    /// The tenant's applications in id order, a page at a time.
    async fn applications(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<(Vec<Application>, bool), StoreError>;
    /// Replaces an application's display name and document, if its version is still `expected_version`.
    async fn update_application(&self, app: &Application, expected_version: i64) -> Result<i64, StoreError>;
    /// Deletes an application with its service principal, the principal's jobs, secrets and assignments.
    async fn delete_application(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    async fn service_principal(&self, tenant_id: &str, id: &str) -> Result<Option<ServicePrincipal>, StoreError>;
    /// The service principal of an application, by the application's `appId`.
    async fn service_principal_by_app_id(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, StoreError>;
    /// The tenant's service principals in id order, a page at a time.
    async fn service_principals(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<(Vec<ServicePrincipal>, bool), StoreError>;
    /// Replaces a service principal's settings, if its version is still `expected_version`.
    async fn update_service_principal(&self, sp: &ServicePrincipal, expected_version: i64) -> Result<i64, StoreError>;
    /// Deletes a service principal with its jobs, secrets and assignments (the application stays).
    async fn delete_service_principal(&self, tenant_id: &str, id: &str, at: OffsetDateTime)
    -> Result<bool, StoreError>;
    /// Inserts an assignment; [`StoreError::Conflict`] if the principal has this role on this resource already.
    async fn insert_assignment(&self, assignment: &AppRoleAssignment) -> Result<(), StoreError>;
    /// The assignments to a service principal, in creation order, a page at a time (`after`: an assignment id).
    async fn assignments_to(
        &self,
        tenant_id: &str,
        resource_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<(Vec<AssignmentView>, bool), StoreError>;
    /// The assignments of a user or group, in creation order.
    async fn assignments_of(&self, tenant_id: &str, principal_id: &str) -> Result<Vec<AssignmentView>, StoreError>;
    async fn assignment(&self, tenant_id: &str, id: &str) -> Result<Option<AssignmentView>, StoreError>;
    /// Removes an assignment; false if it did not exist.
    async fn delete_assignment(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
}

/// A secret of a service principal as the store keeps it: sealed ([`crate::secrets::Cipher`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub key: String,
    pub sealed: Vec<u8>,
}

/// Provisioning jobs and the secrets of service principals.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Inserts a job; [`StoreError::Conflict`] if the service principal has a job of that template already.
    async fn insert_job(&self, job: &SyncJob) -> Result<(), StoreError>;
    async fn job(&self, tenant_id: &str, service_principal_id: &str, id: &str) -> Result<Option<SyncJob>, StoreError>;
    /// The jobs of a service principal, in creation order.
    async fn jobs(&self, tenant_id: &str, service_principal_id: &str) -> Result<Vec<SyncJob>, StoreError>;
    /// Replaces a job's schedule, status, schema and settings, if its version is still `expected_version`.
    async fn update_job(&self, job: &SyncJob, expected_version: i64) -> Result<i64, StoreError>;
    async fn delete_job(&self, tenant_id: &str, service_principal_id: &str, id: &str) -> Result<bool, StoreError>;
    /// The sealed secrets of a service principal, in key order.
    async fn secrets(&self, tenant_id: &str, service_principal_id: &str) -> Result<Vec<SealedSecret>, StoreError>;
    /// Sets (`Some`) or removes (`None`) secrets of a service principal, in one transaction.
    async fn put_secrets(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
        changes: &[(String, Option<Vec<u8>>)],
    ) -> Result<(), StoreError>;
}

/// What provisioning jobs keep between cycles: run state and leases, links, escrows.
#[async_trait]
pub trait CycleStore: Send + Sync {
    async fn run_state(&self, job_id: &str) -> Result<Option<RunState>, StoreError>;
    /// Inserts or replaces a job's run state; its lease is left as it is.
    async fn put_run_state(&self, state: &RunState) -> Result<(), StoreError>;
    /// Records the progress of the cycle running now (Graph's `synchronizationProgress`), or that none runs.
    async fn set_progress(&self, job_id: &str, progress: Option<&serde_json::Value>) -> Result<(), StoreError>;
    /// Forgets everything a job kept: its run state, links and escrows.
    async fn delete_run_state(&self, job_id: &str) -> Result<(), StoreError>;
    /// Run states due at `now` (`next_run` passed) whose lease is free or expired, soonest first.
    async fn due_runs(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<RunState>, StoreError>;
    /// Takes or renews the lease of a job for `owner` until `until`: true if `owner` holds it now (it was free,
    /// expired at `now`, or already `owner`'s). A job without run state cannot be leased.
    async fn acquire_lease(
        &self,
        job_id: &str,
        owner: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Gives up `owner`'s lease of a job (nothing if another node holds it).
    async fn release_lease(&self, job_id: &str, owner: &str) -> Result<(), StoreError>;
    /// The links of the given source objects that exist.
    async fn links(&self, job_id: &str, source_ids: &[String]) -> Result<Vec<Link>, StoreError>;
    /// The job's links in source id order after `after`, at most `top`.
    async fn links_page(&self, job_id: &str, after: Option<&str>, top: usize) -> Result<Vec<Link>, StoreError>;
    /// The link to a target object.
    async fn link_by_target(&self, job_id: &str, target_id: &str) -> Result<Option<Link>, StoreError>;
    /// The links of the given target objects that exist.
    async fn links_by_target(&self, job_id: &str, target_ids: &[String]) -> Result<Vec<Link>, StoreError>;
    /// Inserts or replaces a link.
    async fn put_link(&self, link: &Link) -> Result<(), StoreError>;
    async fn delete_link(&self, job_id: &str, source_id: &str) -> Result<bool, StoreError>;
    async fn delete_links(&self, job_id: &str) -> Result<u64, StoreError>;
    /// How many links the job has, by object type.
    async fn link_counts(&self, job_id: &str) -> Result<Vec<(String, u64)>, StoreError>;
    /// Escrows whose next attempt is due at `now`, soonest first.
    async fn escrows_due(&self, job_id: &str, now: OffsetDateTime, top: usize) -> Result<Vec<Escrow>, StoreError>;
    async fn escrow(&self, job_id: &str, source_id: &str) -> Result<Option<Escrow>, StoreError>;
    /// Inserts or replaces an escrow.
    async fn put_escrow(&self, escrow: &Escrow) -> Result<(), StoreError>;
    async fn delete_escrow(&self, job_id: &str, source_id: &str) -> Result<bool, StoreError>;
    async fn delete_escrows(&self, job_id: &str) -> Result<u64, StoreError>;
    async fn escrow_count(&self, job_id: &str) -> Result<u64, StoreError>;
}

/// Provisioning logs ([`crate::logs`]): written by the engine a page at a time, read by the Graph API, purged by
/// age. Records outlive the jobs and objects they describe.
#[async_trait]
pub trait ProvisioningLogStore: Send + Sync {
    /// Inserts records, in one transaction. A record whose id is stored already is left as stored, so that a page
    /// written again (after a retry) is not recorded twice.
    async fn insert_logs(&self, logs: &[ProvisioningLog]) -> Result<(), StoreError>;
    /// A page of the tenant's records that meet every clause of `query`, in its order (newest first unless asked
    /// otherwise, then by id), with the cursor of the next page when more follow. Each clause other than
    /// `contains` is an index lookup.
    async fn logs(&self, tenant_id: &str, query: &LogQuery) -> Result<LogPage, StoreError>;
    /// The tenant's record `id`.
    async fn log(&self, tenant_id: &str, id: &str) -> Result<Option<ProvisioningLog>, StoreError>;
    /// Deletes every record (of every tenant) whose activity is before `before`, oldest first; how many.
    async fn purge_logs(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// What assigning an agent to an application found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignAgent {
    Assigned,
    /// The agent serves that application already.
    AlreadyAssigned,
    /// No agent of the tenant has that id.
    NoAgent,
    /// No service principal of the tenant has that id.
    NoServicePrincipal,
}

/// What recording an agent's session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutSession {
    /// Recorded; `replaced` is the agent's previous session (on this node or another), which the hub evicts.
    Recorded { replaced: Option<AgentSession> },
    /// The agent does not exist (deleted meanwhile), or its credential was revoked: nothing recorded.
    NoAgent,
}

/// On-premises agents ([`crate::agents`]): registration tokens, agents with their credential hashes, their
/// assignment to service principals, and the live sessions the hub records. An agent's assignments and session go
/// with it; a service principal's assignments go with the service principal.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Inserts a registration token, and deletes every token (of any tenant) expired at its creation time.
    async fn insert_registration_token(&self, token: &RegistrationToken) -> Result<(), StoreError>;
    /// In one transaction: deletes the registration token with hash `token` if it has not expired at `now`, and
    /// inserts `agent` in its tenant with the credential hash `credential`. `None` (and nothing written) when no such
    /// token is live; of two exchanges of one token at once, exactly one gets the agent.
    async fn register_agent(
        &self,
        token: &TokenHash,
        agent: &Agent,
        credential: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<Agent>, StoreError>;
    /// The agent of the tenant, with its assigned applications.
    async fn agent(&self, tenant_id: &str, id: &str) -> Result<Option<Agent>, StoreError>;
    /// The tenant's agents in creation order, with their assigned applications.
    async fn agents(&self, tenant_id: &str) -> Result<Vec<Agent>, StoreError>;
    /// The stored credential hash equal to `credential` (an index lookup) and whose it is.
    async fn agent_by_credential(
        &self,
        credential: &TokenHash,
    ) -> Result<Option<(TokenHash, AgentIdentity)>, StoreError>;
    /// Replaces the credential hash `old` with `new`, atomically; whose it was, or `None` if `old` is not stored.
    async fn rotate_agent_credential(
        &self,
        old: &TokenHash,
        new: &TokenHash,
    ) -> Result<Option<AgentIdentity>, StoreError>;
    /// True when the agent exists and holds a credential (any tenant: the hub knows agents by id).
    async fn agent_has_credential(&self, agent_id: &str) -> Result<bool, StoreError>;
    /// Deletes an agent's credential hash, keeping the agent. False if the tenant has no such agent.
    async fn revoke_agent(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError>;
    /// Deletes an agent with its credential, assignments and session. False if the tenant has no such agent.
    async fn delete_agent(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError>;
    /// Assigns an agent of the tenant to a service principal of the tenant.
    async fn assign_agent(
        &self,
        tenant_id: &str,
        agent_id: &str,
        service_principal_id: &str,
        at: OffsetDateTime,
    ) -> Result<AssignAgent, StoreError>;
    /// Removes an assignment; false if there was none.
    async fn unassign_agent(
        &self,
        tenant_id: &str,
        agent_id: &str,
        service_principal_id: &str,
    ) -> Result<bool, StoreError>;
    /// The agents assigned to a service principal, in the order they were assigned.
    async fn agents_of_application(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
    ) -> Result<Vec<Agent>, StoreError>;
    /// Records a session as the agent's only one (inserted, or replacing the one it had) and marks the agent seen
    /// at its `last_heartbeat`, with the session it replaced, if any, for the hub to evict.
    async fn put_agent_session(&self, session: &AgentSession) -> Result<PutSession, StoreError>;
    /// A heartbeat on the agent's session `session_id`: its time and round-trip time, on the session and on the
    /// agent. False (nothing written) if the agent's session is another one by now.
    async fn agent_heartbeat(
        &self,
        agent_id: &str,
        session_id: &str,
        at: OffsetDateTime,
        round_trip: Option<std::time::Duration>,
    ) -> Result<bool, StoreError>;
    /// Removes the agent's session if it is still `session_id` (a newer session of the agent stays). False if not.
    async fn end_agent_session(&self, agent_id: &str, session_id: &str) -> Result<bool, StoreError>;
    /// The agent's session, if it has one.
    async fn agent_session(&self, agent_id: &str) -> Result<Option<AgentSession>, StoreError>;
    /// The sessions of the agents assigned to a service principal, by agent id.
    async fn agent_sessions_of_application(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
    ) -> Result<Vec<AgentSession>, StoreError>;
}

/// Every port of the provisioning domain.
pub trait ProvisioningStore:
    TenantStore + DirectoryStore + ApplicationStore + JobStore + CycleStore + ProvisioningLogStore + AgentStore + 'static
{
}

impl<T> ProvisioningStore for T where
    T: TenantStore
        + DirectoryStore
        + ApplicationStore
        + JobStore
        + CycleStore
        + ProvisioningLogStore
        + AgentStore
        + 'static
{
}
