//! The store ports: what the core needs from a database, one narrow port per aggregate ([`TenancyStore`],
//! [`AssignmentStore`], [`TokenStore`], [`PrincipalStore`], [`AuditStore`]), and [`Store`], all of them together.
//! Functions take the narrowest port that does their work, so a test can fake just that. Implementations (SQLite,
//! PostgreSQL) live in `idplane-store` and pass one shared conformance suite.
//!
//! Visibility rules every implementation applies:
//! - [`Scope::Account`] sees the principals whose home is that account.
//! - A workspace without identity federation sees the principals whose home is that workspace.
//! - A federated workspace sees its own workspace-local principals, and the account principals assigned to it.
//!
//! Audit: every write method takes the [`AuditEntry`]s that record it and writes them in the same transaction as the
//! change, only if the change is made (a write that fails, or a delete that finds nothing, writes none).
//!
//! Uniqueness: among principals of one kind with one home, the lowercase of the kind's unique attribute
//! ([`PrincipalKind::unique_attribute`]) is unique; a violation is [`StoreError::Conflict`]. It must hold under
//! concurrent writers (enforce it with a unique index, not a read-then-write).
//!
//! Cost: every method costs what its documentation says, whatever the size of the store; a listing reads one page
//! (with what its items show, for the whole page at once), or refuses with [`Listing::TooMany`].

use std::time::Duration;

use async_trait::async_trait;
use idplane_scim::filter::{AttrPath, Filter};
use serde_json::Value;
use time::OffsetDateTime;

use crate::assignment::Permission;
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::error::StoreError;
use crate::principal::{GroupRef, Member, Principal, PrincipalKind};
use crate::tenancy::{Account, Scope, Workspace};
use crate::token::{Token, TokenHash, TokenKind};

/// A member to add, with the `$ref` and `display` the client wrote for it, if any: they are echoed back as
/// written (clients compare the members they wrote with those they read), and computed when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub id: i64,
    pub reference: Option<String>,
    pub display: Option<String>,
}

impl From<i64> for NewMember {
    fn from(id: i64) -> Self {
        NewMember { id, reference: None, display: None }
    }
}

/// A change to a group's member list. Costs O(change), whatever the size of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    /// Add these principals (already members keep their membership, with the `$ref` and `display` given now).
    /// Each must exist in the group's account, else [`StoreError::MissingReference`].
    Add(Vec<NewMember>),
    /// Remove these principals (non-members are ignored).
    Remove(Vec<i64>),
    /// Remove every member.
    Clear,
}

impl MemberOp {
    /// Adds members known by id only.
    pub fn add(ids: impl IntoIterator<Item = i64>) -> MemberOp {
        MemberOp::Add(ids.into_iter().map(NewMember::from).collect())
    }
}

/// A change to the values a principal has in one workspace (its `entitlements` and `roles` there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueOp {
    Add { attribute: &'static str, values: Vec<String> },
    Remove { attribute: &'static str, values: Vec<String> },
    Clear { attribute: &'static str },
}

/// The workspace-level values a principal holds, by attribute, each list in value order.
pub type WorkspaceValues = Vec<(String, Vec<String>)>;

/// A new principal, written in one transaction with its initial members, its assignment and its values.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub principal: Principal,
    pub members: Vec<NewMember>,
    /// A workspace to assign the principal to (permission USER), as a federated workspace's SCIM API does.
    pub assign_to: Option<i64>,
    /// Its values in a workspace: (workspace id, changes).
    pub values: Option<(i64, Vec<ValueOp>)>,
}

impl NewPrincipal {
    /// A principal with no members, assignment or values.
    pub fn bare(principal: Principal) -> Self {
        NewPrincipal { principal, members: Vec::new(), assign_to: None, values: None }
    }
}

/// A change to one principal, applied atomically. With `expected_version`, only if the version is still that, else
/// [`StoreError::VersionMismatch`] and nothing changes; without, whatever the version (for changes that do not depend
/// on what was read, such as adding members). Either way the version is incremented.
#[derive(Debug, Clone)]
pub struct PrincipalUpdate {
    pub id: i64,
    pub expected_version: Option<i64>,
    /// The new document, or `None` to keep it.
    pub doc: Option<Value>,
    pub members: Vec<MemberOp>,
    /// Changes to its values in one workspace: (workspace id, changes in order).
    pub workspace_values: Option<(i64, Vec<ValueOp>)>,
    pub last_modified: OffsetDateTime,
}

/// What a read returns with a principal besides its document: what rendering it needs, and no more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// A group's direct members.
    pub members: bool,
    /// The groups the principal belongs to, directly or not, that the scope can see.
    pub groups: bool,
    /// Its values (entitlements, roles) in this workspace.
    pub values_in: Option<i64>,
}

/// A principal with what rendering it needs, read in one snapshot. Lists that were not wanted are empty.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalView {
    pub principal: Principal,
    pub members: Vec<Member>,
    pub groups: Vec<GroupRef>,
    pub values: WorkspaceValues,
}

impl AsRef<Principal> for PrincipalView {
    fn as_ref(&self) -> &Principal {
        &self.principal
    }
}

impl PrincipalView {
    /// A principal with nothing else (a fresh one, or when nothing else was wanted).
    pub fn bare(principal: Principal) -> Self {
        PrincipalView { principal, members: Vec::new(), groups: Vec::new(), values: Vec::new() }
    }
}

/// Sort order of a listing.
#[derive(Debug, Clone, Copy)]
pub struct Sort<'a> {
    pub by: &'a AttrPath,
    pub descending: bool,
}

/// How exact a listing's `total` must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// Count every match now.
    Exact,
    /// A count of every match made at most the store's count cache time ago, and since then refreshed by every
    /// write through this store, may do (only listings without a filter use it; the others count exactly).
    Recent,
}

/// What to list.
#[derive(Debug, Clone, Copy)]
pub struct ListSpec<'a> {
    pub filter: Option<&'a Filter>,
    pub sort: Option<Sort<'a>>,
    /// 0-based offset of the first item of the page.
    pub offset: usize,
    /// Most items in the page.
    pub limit: usize,
    /// Keyset pagination: only principals with a greater id (only used without `sort`; items are in id order).
    pub after_id: Option<i64>,
    pub total: Total,
    /// What each item comes with.
    pub want: Want,
    /// The most rows of the scope a filter or sort that no index serves may examine in SQL; over it the listing is
    /// [`Listing::TooMany`].
    pub max_scan: usize,
    /// The most candidates a filter or sort may leave to be evaluated in memory; over it the listing is
    /// [`Listing::TooMany`].
    pub max_candidates: usize,
}

/// [`ListSpec::max_scan`] unless configured otherwise.
pub const DEFAULT_MAX_SCAN: usize = 100_000;
/// [`ListSpec::max_candidates`] unless configured otherwise.
pub const DEFAULT_MAX_CANDIDATES: usize = 10_000;

impl<'a> ListSpec<'a> {
    /// The first `limit` principals that pass `filter`, in id order, with an exact total and nothing else.
    pub fn page(filter: Option<&'a Filter>, limit: usize) -> Self {
        ListSpec {
            filter,
            sort: None,
            offset: 0,
            limit,
            after_id: None,
            total: Total::Exact,
            want: Want::default(),
            max_scan: DEFAULT_MAX_SCAN,
            max_candidates: DEFAULT_MAX_CANDIDATES,
        }
    }
}

/// The answer to a listing.
#[derive(Debug, Clone)]
pub enum Listing {
    /// The store applied filter, sort and paging: `items` is the page; `total` counts every match (ignoring
    /// `offset`, `limit` and `after_id`), as [`ListSpec::total`] asked.
    Page { total: usize, items: Vec<PrincipalView> },
    /// The store could not evaluate all of the filter or the sort: `items` holds a superset of the matches (at most
    /// [`ListSpec::max_candidates`]), in id order, with no paging applied, each with everything rendering needs; the caller
    /// filters, sorts and pages.
    Candidates(Vec<PrincipalView>),
    /// Answering would examine more rows without an index than [`ListSpec::max_scan`] (`scanned` is then more than
    /// it), or leave more candidates to memory than [`ListSpec::max_candidates`].
    TooMany { scanned: usize },
}

/// Which tokens [`TokenStore::tokens`] returns; `None` fields do not filter. `workspace_id: Some(None)` asks for
/// account-wide tokens only.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub kind: Option<TokenKind>,
    pub workspace_id: Option<Option<i64>>,
    pub principal_id: Option<i64>,
}

/// Accounts, workspaces and settings.
#[async_trait]
pub trait TenancyStore: Send + Sync {
    async fn insert_account(&self, account: &Account, audit: &[AuditEntry]) -> Result<(), StoreError>;
    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError>;
    async fn accounts(&self) -> Result<Vec<Account>, StoreError>;
    async fn insert_workspace(&self, workspace: &Workspace, audit: &[AuditEntry]) -> Result<(), StoreError>;
    async fn workspace(&self, id: i64) -> Result<Option<Workspace>, StoreError>;
    async fn workspaces(&self, account_id: &str) -> Result<Vec<Workspace>, StoreError>;
    /// Deletes a workspace with its workspace-local principals, its assignments and its workspace tokens. False if
    /// it did not exist.
    async fn delete_workspace(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError>;
    /// Small named values: the default account and workspace.
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Writes a setting only if it has no value yet, atomically; true if this call wrote it. Lets one of several
    /// nodes claim a one-time task.
    async fn claim_setting(&self, key: &str, value: &str) -> Result<bool, StoreError>;
}

/// Workspace assignment.
#[async_trait]
pub trait AssignmentStore: Send + Sync {
    /// The principals assigned to a workspace directly, with their permission, in id order.
    async fn assignments(&self, workspace_id: i64) -> Result<Vec<(Principal, Permission)>, StoreError>;
    /// Sets (`Some`) or removes (`None`) the direct assignment of a principal to a workspace.
    async fn set_assignment(
        &self,
        workspace_id: i64,
        principal_id: i64,
        permission: Option<Permission>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError>;
    /// The permission a principal is assigned on a workspace directly, if it is (one index lookup).
    async fn direct_assignment(&self, workspace_id: i64, principal_id: i64) -> Result<Option<Permission>, StoreError>;
    /// The highest permission a principal holds on a workspace, directly or through its groups (transitively).
    async fn effective_permission(
        &self,
        workspace_id: i64,
        principal_id: i64,
    ) -> Result<Option<Permission>, StoreError>;
}

/// Tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_token(&self, token: &Token, audit: &[AuditEntry]) -> Result<(), StoreError>;
    /// The token whose hash is `hash` (an index lookup), expired or not.
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<Token>, StoreError>;
    /// The token with public id `id`.
    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError>;
    /// The tokens of an account, optionally only those of one kind, one workspace and one principal, in creation
    /// order.
    async fn tokens(&self, account_id: &str, filter: &TokenFilter) -> Result<Vec<Token>, StoreError>;
    /// Sets when a token stops working (rotation grace periods). False if it does not exist.
    async fn set_token_expiry(
        &self,
        id: &str,
        expires: Option<OffsetDateTime>,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError>;
    /// Revokes a token. False if it did not exist.
    async fn delete_token(&self, id: &str, audit: &[AuditEntry]) -> Result<bool, StoreError>;
}

/// Users, groups, service principals, and memberships.
#[async_trait]
pub trait PrincipalStore: Send + Sync {
    /// Inserts a principal with its initial members, assignment and values, in one transaction.
    async fn insert_principal(&self, new: &NewPrincipal, audit: &[AuditEntry]) -> Result<(), StoreError>;
    /// The principal `id` if it is visible in `scope` (and of `kind` when given). An index lookup.
    async fn principal(
        &self,
        scope: &Scope,
        kind: Option<PrincipalKind>,
        id: i64,
    ) -> Result<Option<Principal>, StoreError>;
    /// The principal `id` if it is visible in `scope` (and of `kind` when given), with what `want` asks for, read
    /// in one snapshot.
    async fn view(
        &self,
        scope: &Scope,
        kind: Option<PrincipalKind>,
        id: i64,
        want: Want,
    ) -> Result<Option<PrincipalView>, StoreError>;
    /// The principals among `ids` visible in `scope`, in any order; unknown ids are left out.
    async fn principals(&self, scope: &Scope, ids: &[i64]) -> Result<Vec<Principal>, StoreError>;
    /// The direct members of a group, in id order.
    async fn members(&self, group_id: i64) -> Result<Vec<Member>, StoreError>;
    /// The values a principal has in a workspace (entitlements, roles), by attribute.
    async fn workspace_values(&self, workspace_id: i64, principal_id: i64) -> Result<WorkspaceValues, StoreError>;
    /// How many direct members the group has, counting no further than `cap` (so the cost is O(cap)).
    async fn count_members(&self, group_id: i64, cap: usize) -> Result<usize, StoreError>;
    /// The groups visible in `scope` that `principal_id` belongs to, directly or through nested groups
    /// (`direct` false), each once, in id order.
    async fn groups_of(&self, scope: &Scope, principal_id: i64) -> Result<Vec<GroupRef>, StoreError>;
    /// Applies the update; returns the new version. A principal that no longer exists is
    /// [`StoreError::VersionMismatch`] (the caller re-reads and finds it gone).
    async fn update_principal(&self, update: &PrincipalUpdate, audit: &[AuditEntry]) -> Result<i64, StoreError>;
    /// Deletes a principal, its memberships (both ways), assignments and tokens. False if it did not exist.
    async fn delete_principal(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError>;
    /// One page of the principals of `kind` visible in `scope`, as `spec` asks.
    async fn list_principals(
        &self,
        scope: &Scope,
        kind: PrincipalKind,
        spec: &ListSpec<'_>,
    ) -> Result<Listing, StoreError>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The entries matching `query`, newest first (by time, then id), at most `query.limit`.
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
    /// Deletes the entries recorded before `before`; returns how many. Works in batches, so that a large purge does
    /// not hold up other writers.
    async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Every port: what the identity service runs on.
pub trait Store: TenancyStore + AssignmentStore + TokenStore + PrincipalStore + AuditStore + 'static {}

impl<T: TenancyStore + AssignmentStore + TokenStore + PrincipalStore + AuditStore + 'static> Store for T {}

/// Where a store reports how long each of its operations took (the server's metrics).
pub trait StoreObserver: Send + Sync {
    /// `operation` is the port method's name; `elapsed` includes waiting for a connection.
    fn observe(&self, operation: &'static str, elapsed: Duration);
}
