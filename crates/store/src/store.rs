//! [`SqlStore`]: the core's store ports, implemented once over a [`Backend`] (SQLite or PostgreSQL) that runs
//! transaction scripts. Each port method is one script, run in one transaction: a write in a write transaction, a
//! read in a read-only snapshot. Around them: how long each operation took (reported to a [`StoreObserver`]), and a
//! small cache of the counts of whole scopes that listings may use ([`Total::Recent`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use idplane_core::assignment::Permission;
use idplane_core::audit::{AuditEntry, AuditQuery, AuditRecord};
use idplane_core::error::StoreError;
use idplane_core::principal::{GroupRef, Home, Member, Principal, PrincipalKind};
use idplane_core::store::{
    AssignmentStore, AuditStore, ListSpec, Listing, NewPrincipal, PrincipalStore, PrincipalUpdate, PrincipalView,
    StoreObserver, TenancyStore, TokenFilter, TokenStore, Want, WorkspaceValues,
};
use idplane_core::tenancy::{Account, Scope, Workspace};
use idplane_core::token::{Token, TokenHash};
use time::OffsetDateTime;

use crate::tx::{Dialect, Script};
use crate::{assignments, audit, listing, principals, tenancy, tokens};

/// A database that runs transaction scripts: SQLite or PostgreSQL.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// Runs `script` in a write transaction, committed if it returns Ok and rolled back otherwise.
    async fn write<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError>;
    /// Runs `script` in a read-only transaction: its statements see one snapshot.
    async fn read<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError>;
    /// [`Backend::read`] for a read known to be short (index lookups of one principal, token, workspace): a backend
    /// may run it where it stands rather than hand it to another thread.
    async fn lookup<T: Send + 'static>(&self, script: Script<T>) -> Result<T, StoreError> {
        self.read(script).await
    }
}

/// How long a count of a whole scope may be reused by listings that accept a recent total, unless a write through
/// this store came first.
pub const DEFAULT_COUNT_CACHE: Duration = Duration::from_secs(1);

/// The store: the core's ports over a backend. Cloning is cheap and shares everything.
pub struct SqlStore<B> {
    pub(crate) backend: Arc<B>,
    counts: Arc<CountCache>,
    observer: Option<Arc<dyn StoreObserver>>,
}

impl<B> Clone for SqlStore<B> {
    fn clone(&self) -> Self {
        SqlStore {
            backend: Arc::clone(&self.backend),
            counts: Arc::clone(&self.counts),
            observer: self.observer.clone(),
        }
    }
}

impl<B> std::fmt::Debug for SqlStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").finish_non_exhaustive()
    }
}

/// Counts of whole scopes (no filter), by scope and kind, with when they were made.
#[derive(Default)]
struct CountCache {
    ttl: Mutex<Duration>,
    counts: Mutex<HashMap<(Scope, PrincipalKind), (usize, Instant)>>,
}

impl CountCache {
    fn get(&self, key: &(Scope, PrincipalKind)) -> Option<usize> {
        let ttl = *self.ttl.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(key).filter(|(_, at)| at.elapsed() < ttl).map(|(n, _)| *n)
    }

    fn put(&self, key: (Scope, PrincipalKind), n: usize) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        // Bounded: a node sees a handful of scopes; an unusual number of them just starts over.
        if counts.len() > 10_000 {
            counts.clear();
        }
        counts.insert(key, (n, Instant::now()));
    }

    fn clear(&self) {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Forgets the counts of federated workspaces, which assignments and memberships change.
    fn forget_federated(&self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.retain(|(scope, _), _| !matches!(scope, Scope::Workspace { federated: true, .. }));
    }

    /// Counts one principal more (`+1`) or less (`-1`) in the scopes of its home, and forgets federated workspaces.
    fn adjust(&self, kind: PrincipalKind, account_id: &str, home: Home, delta: isize) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.retain(|(scope, _), _| !matches!(scope, Scope::Workspace { federated: true, .. }));
        for ((scope, k), (n, _)) in counts.iter_mut() {
            let counted = *k == kind
                && scope.account_id() == account_id
                && match (scope, home) {
                    (Scope::Account { .. }, Home::Account) => true,
                    (Scope::Workspace { workspace_id, .. }, Home::Workspace(w)) => *workspace_id == w,
                    _ => false,
                };
            if counted {
                *n = n.saturating_add_signed(delta);
            }
        }
    }
}

// The backends are this crate's own: users name `SqliteStore` or `PgStore`, never the bound.
#[allow(private_bounds)]
impl<B: Backend> SqlStore<B> {
    pub(crate) fn new(backend: B) -> Self {
        let counts = CountCache { ttl: Mutex::new(DEFAULT_COUNT_CACHE), ..CountCache::default() };
        SqlStore { backend: Arc::new(backend), counts: Arc::new(counts), observer: None }
    }

    /// Reports how long each operation takes to `observer` (the server's metrics).
    pub fn observed_by(mut self, observer: Arc<dyn StoreObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// How long a count of a whole scope may serve listings that accept a recent total (0: never cached).
    pub fn set_count_cache(&self, ttl: Duration) {
        *self.counts.ttl.lock().unwrap_or_else(PoisonError::into_inner) = ttl;
        self.counts.clear();
    }

    /// Runs a write. Writes other than inserts and deletes of principals leave the counts of accounts and of
    /// workspaces without federation as they are, and forget those of federated workspaces (assignments and
    /// memberships change what they see).
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        operation: &'static str,
        script: Script<T>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let out = self.backend.write(script).await;
        if out.is_ok() {
            self.counts.forget_federated();
        }
        self.observe(operation, start);
        out
    }

    pub(crate) async fn read<T: Send + 'static>(
        &self,
        operation: &'static str,
        script: Script<T>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let out = self.backend.read(script).await;
        self.observe(operation, start);
        out
    }

    /// A short read (see [`Backend::lookup`]).
    pub(crate) async fn lookup<T: Send + 'static>(
        &self,
        operation: &'static str,
        script: Script<T>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let out = self.backend.lookup(script).await;
        self.observe(operation, start);
        out
    }

    fn observe(&self, operation: &'static str, start: Instant) {
        if let Some(o) = &self.observer {
            o.observe(operation, start.elapsed());
        }
    }
}

/// A script from an `async` block over the transaction `tx`: `script!(tx => async move { ... })`.
macro_rules! script {
    ($tx:ident => $body:expr) => {
        Box::new(move |$tx: &mut dyn crate::tx::Tx| Box::pin($body))
    };
}
pub(crate) use script;

#[async_trait]
impl<B: Backend> TenancyStore for SqlStore<B> {
    async fn insert_account(&self, account: &Account, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let (a, audit) = (account.clone(), audit.to_vec());
        self.write("insert_account", script!(tx => async move { tenancy::insert_account(tx, &a, &audit).await })).await
    }

    async fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let id = id.to_string();
        self.lookup("account", script!(tx => async move { tenancy::account(tx, &id).await })).await
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.read("accounts", script!(tx => async move { tenancy::accounts(tx).await })).await
    }

    async fn insert_workspace(&self, workspace: &Workspace, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let (w, audit) = (workspace.clone(), audit.to_vec());
        self.write("insert_workspace", script!(tx => async move { tenancy::insert_workspace(tx, &w, &audit).await }))
            .await
    }

    async fn workspace(&self, id: i64) -> Result<Option<Workspace>, StoreError> {
        self.lookup("workspace", script!(tx => async move { tenancy::workspace(tx, id).await })).await
    }

    async fn workspaces(&self, account_id: &str) -> Result<Vec<Workspace>, StoreError> {
        let a = account_id.to_string();
        self.read("workspaces", script!(tx => async move { tenancy::workspaces(tx, &a).await })).await
    }

    async fn delete_workspace(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        let audit = audit.to_vec();
        let deleted = self
            .write("delete_workspace", script!(tx => async move { tenancy::delete_workspace(tx, id, &audit).await }))
            .await?;
        self.counts.clear();
        Ok(deleted)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.lookup("setting", script!(tx => async move { tenancy::setting(tx, &key).await })).await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (k, v) = (key.to_string(), value.to_string());
        self.write("set_setting", script!(tx => async move { tenancy::set_setting(tx, &k, &v).await })).await
    }

    async fn claim_setting(&self, key: &str, value: &str) -> Result<bool, StoreError> {
        let (k, v) = (key.to_string(), value.to_string());
        self.write("claim_setting", script!(tx => async move { tenancy::claim_setting(tx, &k, &v).await })).await
    }
}

#[async_trait]
impl<B: Backend> AssignmentStore for SqlStore<B> {
    async fn assignments(&self, workspace_id: i64) -> Result<Vec<(Principal, Permission)>, StoreError> {
        self.read("assignments", script!(tx => async move { assignments::list(tx, workspace_id).await })).await
    }

    async fn set_assignment(
        &self,
        workspace_id: i64,
        principal_id: i64,
        permission: Option<Permission>,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let audit = audit.to_vec();
        self.write(
            "set_assignment",
            script!(tx => async move { assignments::set(tx, workspace_id, principal_id, permission, &audit).await }),
        )
        .await
    }

    async fn direct_assignment(&self, workspace_id: i64, principal_id: i64) -> Result<Option<Permission>, StoreError> {
        self.read(
            "direct_assignment",
            script!(tx => async move { assignments::direct(tx, workspace_id, principal_id).await }),
        )
        .await
    }

    async fn effective_permission(
        &self,
        workspace_id: i64,
        principal_id: i64,
    ) -> Result<Option<Permission>, StoreError> {
        self.read(
            "effective_permission",
            script!(tx => async move { assignments::effective(tx, workspace_id, principal_id).await }),
        )
        .await
    }
}

#[async_trait]
impl<B: Backend> TokenStore for SqlStore<B> {
    async fn insert_token(&self, token: &Token, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let (t, audit) = (token.clone(), audit.to_vec());
        self.write("insert_token", script!(tx => async move { tokens::insert(tx, &t, &audit).await })).await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
        let hash = *hash;
        self.lookup("token_by_hash", script!(tx => async move { tokens::by_hash(tx, &hash).await })).await
    }

    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        let id = id.to_string();
        self.lookup("token", script!(tx => async move { tokens::by_id(tx, &id).await })).await
    }

    async fn tokens(&self, account_id: &str, filter: &TokenFilter) -> Result<Vec<Token>, StoreError> {
        let (a, f) = (account_id.to_string(), filter.clone());
        self.read("tokens", script!(tx => async move { tokens::list(tx, &a, &f).await })).await
    }

    async fn set_token_expiry(
        &self,
        id: &str,
        expires: Option<OffsetDateTime>,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let (id, audit) = (id.to_string(), audit.to_vec());
        self.write("set_token_expiry", script!(tx => async move { tokens::set_expiry(tx, &id, expires, &audit).await }))
            .await
    }

    async fn delete_token(&self, id: &str, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        let (id, audit) = (id.to_string(), audit.to_vec());
        self.write("delete_token", script!(tx => async move { tokens::delete(tx, &id, &audit).await })).await
    }
}

#[async_trait]
impl<B: Backend> PrincipalStore for SqlStore<B> {
    async fn insert_principal(&self, new: &NewPrincipal, audit: &[AuditEntry]) -> Result<(), StoreError> {
        let p = &new.principal;
        let (kind, account_id, home) = (p.kind, p.account_id.clone(), p.home);
        let (new, audit) = (new.clone(), audit.to_vec());
        self.write("insert_principal", script!(tx => async move { principals::insert(tx, &new, &audit).await }))
            .await?;
        self.counts.adjust(kind, &account_id, home, 1);
        Ok(())
    }

    async fn principal(
        &self,
        scope: &Scope,
        kind: Option<PrincipalKind>,
        id: i64,
    ) -> Result<Option<Principal>, StoreError> {
        let scope = scope.clone();
        self.lookup("principal", script!(tx => async move { principals::one(tx, &scope, kind, id).await })).await
    }

    async fn view(
        &self,
        scope: &Scope,
        kind: Option<PrincipalKind>,
        id: i64,
        want: Want,
    ) -> Result<Option<PrincipalView>, StoreError> {
        let scope = scope.clone();
        let view: Script<_> = script!(tx => async move { principals::view(tx, &scope, kind, id, want).await });
        // A group's members may be many: only a view without them is a short read.
        if want.members { self.read("view", view).await } else { self.lookup("view", view).await }
    }

    async fn principals(&self, scope: &Scope, ids: &[i64]) -> Result<Vec<Principal>, StoreError> {
        let (scope, ids) = (scope.clone(), ids.to_vec());
        self.lookup("principals", script!(tx => async move { principals::many(tx, &scope, &ids).await })).await
    }

    async fn members(&self, group_id: i64) -> Result<Vec<Member>, StoreError> {
        self.read("members", script!(tx => async move { principals::members(tx, group_id).await })).await
    }

    async fn workspace_values(&self, workspace_id: i64, principal_id: i64) -> Result<WorkspaceValues, StoreError> {
        self.read(
            "workspace_values",
            script!(tx => async move { principals::values(tx, workspace_id, principal_id).await }),
        )
        .await
    }

    async fn count_members(&self, group_id: i64, cap: usize) -> Result<usize, StoreError> {
        self.lookup("count_members", script!(tx => async move { principals::count_members(tx, group_id, cap).await }))
            .await
    }

    async fn groups_of(&self, scope: &Scope, principal_id: i64) -> Result<Vec<GroupRef>, StoreError> {
        let scope = scope.clone();
        self.lookup("groups_of", script!(tx => async move { principals::groups_of(tx, &scope, principal_id).await }))
            .await
    }

    async fn update_principal(&self, update: &PrincipalUpdate, audit: &[AuditEntry]) -> Result<i64, StoreError> {
        let (u, audit) = (update.clone(), audit.to_vec());
        self.write("update_principal", script!(tx => async move { principals::update(tx, &u, &audit).await })).await
    }

    async fn delete_principal(&self, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        let audit = audit.to_vec();
        let deleted = self
            .write("delete_principal", script!(tx => async move { principals::delete(tx, id, &audit).await }))
            .await?;
        if let Some(p) = &deleted {
            self.counts.adjust(p.kind, &p.account_id, p.home, -1);
        }
        Ok(deleted.is_some())
    }

    async fn list_principals(
        &self,
        scope: &Scope,
        kind: PrincipalKind,
        spec: &ListSpec<'_>,
    ) -> Result<Listing, StoreError> {
        let plan = listing::plan(self.backend.dialect(), scope, kind, spec);
        let key = (scope.clone(), kind);
        let known = self.counts.get(&key);
        let (scope, limits, want) = (scope.clone(), (spec.max_scan, spec.max_candidates), spec.want);
        let listed = self
            .read(
                "list_principals",
                script!(tx => async move { principals::list(tx, &scope, &plan, limits, want, known).await }),
            )
            .await?;
        if let Some(n) = listed.counted {
            self.counts.put(key, n);
        }
        Ok(listed.listing)
    }
}

#[async_trait]
impl<B: Backend> AuditStore for SqlStore<B> {
    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let q = query.clone();
        self.read("audit_entries", script!(tx => async move { audit::entries(tx, &q).await })).await
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = crate::codec::nanos_bound(before);
        let mut total = 0u64;
        loop {
            // One transaction per batch: other writers get their turn between batches.
            let n =
                self.write("purge_audit", script!(tx => async move { audit::purge_batch(tx, before).await })).await?;
            total += n;
            if (n as i64) < audit::PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}
