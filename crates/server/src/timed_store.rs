//! A [`Store`] that times every call of the store it wraps, by operation, for `/metrics`
//! (`idplane_store_duration_seconds`). Recording is lock-free: one set of atomic counters per operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use idplane_core::assignment::Permission;
use idplane_core::audit::{AuditEntry, AuditQuery, AuditRecord};
use idplane_core::error::StoreError;
use idplane_core::principal::{GroupRef, Member, Principal, PrincipalKind};
use idplane_core::store::{
    ListSpec, Listing, NewMember, PrincipalUpdate, Store, TokenFilter, ValueOp, WorkspaceValues,
};
use idplane_core::tenancy::{Account, Scope, Workspace};
use idplane_core::token::{Token, TokenHash};
use time::OffsetDateTime;

/// Upper bounds of the store latency buckets, in seconds: store calls are one to three orders of magnitude faster
/// than requests.
pub const BUCKETS: [f64; 10] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0];

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// The store's operations, as `/metrics` labels them.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy)]
        enum Op { $($op),* }

        const OPERATIONS: &[&str] = &[$(stringify!($op)),*];
    };
}

operations!(
    insert_account,
    account,
    accounts,
    insert_workspace,
    workspace,
    workspaces,
    delete_workspace,
    setting,
    set_setting,
    claim_setting,
    assignments,
    set_assignment,
    effective_permission,
    insert_token,
    token_by_hash,
    token,
    tokens,
    set_token_expiry,
    delete_token,
    insert_principal,
    principal,
    principals,
    members,
    workspace_values,
    count_members,
    groups_of,
    update_principal,
    delete_principal,
    list_principals,
    audit_entries,
    purge_audit,
);

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Total time in nanoseconds.
    sum_nanos: AtomicU64,
}

/// How long the store's operations took, since the process started.
#[derive(Debug)]
pub struct StoreTimes {
    histograms: Vec<Histogram>,
}

impl Default for StoreTimes {
    fn default() -> Self {
        StoreTimes { histograms: OPERATIONS.iter().map(|_| Histogram::default()).collect() }
    }
}

/// One operation's figures, as [`StoreTimes::snapshot`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationTimes {
    pub operation: &'static str,
    /// Calls that took at most each of [`BUCKETS`], cumulative.
    pub buckets: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

impl StoreTimes {
    fn record(&self, op: Op, elapsed: Duration) {
        let Some(h) = self.histograms.get(op as usize) else { return };
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in h.buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The operations called at least once.
    pub fn snapshot(&self) -> Vec<OperationTimes> {
        OPERATIONS
            .iter()
            .zip(&self.histograms)
            .filter(|(_, h)| h.count.load(Ordering::Relaxed) > 0)
            .map(|(operation, h)| OperationTimes {
                operation,
                buckets: std::array::from_fn(|i| h.buckets[i].load(Ordering::Relaxed)),
                count: h.count.load(Ordering::Relaxed),
                sum_seconds: h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            })
            .collect()
    }
}

/// Wraps a store, timing each call into a [`StoreTimes`].
pub struct TimedStore {
    inner: Arc<dyn Store>,
    times: Arc<StoreTimes>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>, times: Arc<StoreTimes>) -> Self {
        TimedStore { inner, times }
    }
}

/// Calls the wrapped store's method of the same name and records how long it took.
macro_rules! timed {
    ($self:ident . $op:ident ( $($arg:expr),* )) => {{
        let start = Instant::now();
        let out = $self.inner.$op($($arg),*).await;
        $self.times.record(Op::$op, start.elapsed());
        out
    }};
}

#[async_trait]
impl Store for TimedStore {
    async fn insert_account(&self, account: &Account, audit: &[AuditEntry]) -> Result<(), StoreError> {
        timed!(self.insert_account(account, audit))
    }
    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        timed!(self.account(id))
    }
    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        timed!(self.accounts())
    }
    async fn insert_workspace(&self, workspace: &Workspace, audit: &[AuditEntry]) -> Result<(), StoreError> {
        timed!(self.insert_workspace(workspace, audit))
    }
    async fn workspace(&self, id: i64) -> Result<Option<Workspace>, StoreError> {
        timed!(self.workspace(id))
    }
    async fn workspaces(&self, account_id: &str) -> Result<Vec<Workspace>, StoreError> {
        timed!(self.workspaces(account_id))
    }
    async fn delete_workspace(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        timed!(self.delete_workspace(id, audit))
    }
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        timed!(self.setting(key))
    }
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        timed!(self.set_setting(key, value))
    }
    async fn claim_setting(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        timed!(self.claim_setting(key, value))
    }
    async fn assignments(&self, workspace_id: i64) -> Result<Vec<(Principal, Permission)>, StoreError> {
        timed!(self.assignments(workspace_id))
    }
    async fn set_assignment(
        &self,
        workspace_id: i64,
        principal_id: i64,
        permission: Option<Permission>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        timed!(self.set_assignment(workspace_id, principal_id, permission, audit))
    }
    async fn effective_permission(
        &self,
        workspace_id: i64,
        principal_id: i64,
    ) -> Result<Option<Permission>, StoreError> {
        timed!(self.effective_permission(workspace_id, principal_id))
    }
    async fn insert_token(&self, token: &Token, audit: &[AuditEntry]) -> Result<(), StoreError> {
        timed!(self.insert_token(token, audit))
    }
    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
        timed!(self.token_by_hash(hash))
    }
    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        timed!(self.token(id))
    }
    async fn tokens(&self, account_id: &str, filter: &TokenFilter) -> Result<Vec<Token>, StoreError> {
        timed!(self.tokens(account_id, filter))
    }
    async fn set_token_expiry(
        &self,
        id: &str,
        expires: Option<OffsetDateTime>,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        timed!(self.set_token_expiry(id, expires, audit))
    }
    async fn delete_token(&self, id: &str, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        timed!(self.delete_token(id, audit))
    }
    async fn insert_principal(
        &self,
        principal: &Principal,
        members: &[NewMember],
        assign_to: Option<i64>,
        values: Option<&(i64, Vec<ValueOp>)>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        timed!(self.insert_principal(principal, members, assign_to, values, audit))
    }
    async fn principal(
        &self,
        scope: &Scope,
        kind: Option<PrincipalKind>,
        id: i64,
    ) -> Result<Option<Principal>, StoreError> {
        timed!(self.principal(scope, kind, id))
    }
    async fn principals(&self, scope: &Scope, ids: &[i64]) -> Result<Vec<Principal>, StoreError> {
        timed!(self.principals(scope, ids))
    }
    async fn members(&self, group_id: i64) -> Result<Vec<Member>, StoreError> {
        timed!(self.members(group_id))
    }
    async fn workspace_values(&self, workspace_id: i64, principal_id: i64) -> Result<WorkspaceValues, StoreError> {
        timed!(self.workspace_values(workspace_id, principal_id))
    }
    async fn count_members(&self, group_id: i64, cap: usize) -> Result<usize, StoreError> {
        timed!(self.count_members(group_id, cap))
    }
    async fn groups_of(&self, scope: &Scope, principal_id: i64) -> Result<Vec<GroupRef>, StoreError> {
        timed!(self.groups_of(scope, principal_id))
    }
    async fn update_principal(&self, update: &PrincipalUpdate, audit: &[AuditEntry]) -> Result<i64, StoreError> {
        timed!(self.update_principal(update, audit))
    }
    async fn delete_principal(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        timed!(self.delete_principal(id, audit))
    }
    async fn list_principals(
        &self,
        scope: &Scope,
        kind: PrincipalKind,
        spec: &ListSpec<'_>,
    ) -> Result<Listing, StoreError> {
        timed!(self.list_principals(scope, kind, spec))
    }
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        timed!(self.audit_entries(query))
    }
    async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        timed!(self.purge_audit(before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_is_counted_in_its_own_buckets() {
        let times = StoreTimes::default();
        assert!(times.snapshot().is_empty(), "operations never called are not reported");
        times.record(Op::principal, Duration::from_micros(200));
        times.record(Op::principal, Duration::from_millis(3));
        times.record(Op::update_principal, Duration::from_secs(2));
        let snapshot = times.snapshot();
        assert_eq!(snapshot.len(), 2);
        let principal = &snapshot[0];
        assert_eq!((principal.operation, principal.count), ("principal", 2));
        assert_eq!(principal.buckets, [0, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
        assert!((principal.sum_seconds - 0.0032).abs() < 1e-9);
        assert_eq!((snapshot[1].operation, snapshot[1].buckets), ("update_principal", [0; 10]));
    }
}
