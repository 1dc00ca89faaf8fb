//! The provisioning domain's ports ([`idplane_provisioning::store`]) over [`SqlStore`]: each method one transaction
//! script of `tenants`, `directory`, `applications`, `jobs`, `cycles`, `logs` or `agents`.

mod agents;
mod applications;
mod cycles;
mod directory;
mod jobs;
pub(crate) mod logs;
mod tenants;

use async_trait::async_trait;
use idplane_core::error::StoreError;
use idplane_core::token::TokenHash;
use idplane_provisioning::agents::{Agent, AgentIdentity, AgentSession, RegistrationToken};
use idplane_provisioning::application::{AppRoleAssignment, Application, AssignmentView, ServicePrincipal};
use idplane_provisioning::cycle::state::{Escrow, Link, RunState};
use idplane_provisioning::directory::query::{ObjectPage, ObjectQuery};
use idplane_provisioning::directory::{Change, DirectoryObject, ObjectKind};
use idplane_provisioning::job::SyncJob;
use idplane_provisioning::logs::{LogPage, LogQuery, ProvisioningLog};
use idplane_provisioning::store::{
    AddMembers, AgentStore, ApplicationStore, AssignAgent, CycleStore, DirectoryStore, JobStore, ProvisioningLogStore,
    PutSession, SealedSecret, TenantStore,
};
use idplane_provisioning::tenant::{Tenant, TenantToken};
use time::OffsetDateTime;

use crate::store::{Backend, SqlStore, script};

/// A page of objects and whether more follow.
type Page<T> = (Vec<T>, bool);

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

#[async_trait]
impl<B: Backend> TenantStore for SqlStore<B> {
    async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let t = tenant.clone();
        self.write("insert_tenant", script!(tx => async move { tenants::insert(tx, &t).await })).await
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let id = id.to_string();
        self.lookup("tenant", script!(tx => async move { tenants::by_id(tx, &id).await })).await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read("tenants", script!(tx => async move { tenants::all(tx).await })).await
    }

    async fn tenant_of_account(&self, account_id: &str) -> Result<Option<Tenant>, StoreError> {
        let a = account_id.to_string();
        self.lookup("tenant_of_account", script!(tx => async move { tenants::of_account(tx, &a).await })).await
    }

    async fn insert_tenant_token(&self, token: &TenantToken) -> Result<(), StoreError> {
        let t = token.clone();
        self.write("insert_tenant_token", script!(tx => async move { tenants::insert_token(tx, &t).await })).await
    }

    async fn tenant_token_by_hash(&self, hash: &TokenHash) -> Result<Option<TenantToken>, StoreError> {
        let h = *hash;
        self.lookup("tenant_token_by_hash", script!(tx => async move { tenants::token_by_hash(tx, &h).await })).await
    }

    async fn tenant_tokens(&self, tenant_id: &str) -> Result<Vec<TenantToken>, StoreError> {
        let t = tenant_id.to_string();
        self.read("tenant_tokens", script!(tx => async move { tenants::tokens(tx, &t).await })).await
    }

    async fn delete_tenant_token(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write("delete_tenant_token", script!(tx => async move { tenants::delete_token(tx, &id).await })).await
    }
}

/// How many deleted items one transaction of [`DirectoryStore::purge_deleted`] purges.
const PURGE_BATCH: i64 = 100;

#[async_trait]
impl<B: Backend> DirectoryStore for SqlStore<B> {
    async fn insert_object(&self, object: &DirectoryObject, members: &[String]) -> Result<AddMembers, StoreError> {
        let (o, m) = (object.clone(), members.to_vec());
        self.write("insert_object", script!(tx => async move { directory::insert(tx, &o, &m).await })).await
    }

    async fn object(
        &self,
        tenant_id: &str,
        kind: Option<ObjectKind>,
        id: &str,
        deleted: bool,
    ) -> Result<Option<DirectoryObject>, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.lookup("object", script!(tx => async move { directory::one(tx, &t, kind, &id, deleted).await })).await
    }

    async fn objects(&self, tenant_id: &str, ids: &[String]) -> Result<Vec<DirectoryObject>, StoreError> {
        let (t, ids) = (tenant_id.to_string(), ids.to_vec());
        self.read("objects", script!(tx => async move { directory::many(tx, &t, &ids).await })).await
    }

    async fn update_object(&self, object: &DirectoryObject, expected_version: i64) -> Result<i64, StoreError> {
        let o = object.clone();
        self.write("update_object", script!(tx => async move { directory::update(tx, &o, expected_version).await }))
            .await
    }

    async fn soft_delete(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write("soft_delete", script!(tx => async move { directory::soft_delete(tx, &t, &id, at).await })).await
    }

    async fn restore(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write("restore", script!(tx => async move { directory::restore(tx, &t, &id, at).await })).await
    }

    async fn purge(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write("purge", script!(tx => async move { directory::purge(tx, &t, &id, at).await })).await
    }

    async fn purge_deleted(&self, before: OffsetDateTime, at: OffsetDateTime) -> Result<u64, StoreError> {
        let before = crate::codec::nanos_bound(before);
        let mut total = 0;
        loop {
            // One transaction per batch: other writers get their turn between batches.
            let n = self
                .write(
                    "purge_deleted",
                    script!(tx => async move { directory::purge_deleted(tx, before, PURGE_BATCH, at).await }),
                )
                .await?;
            total += n;
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn add_members(
        &self,
        tenant_id: &str,
        group_id: &str,
        members: &[String],
        at: OffsetDateTime,
    ) -> Result<AddMembers, StoreError> {
        let (t, g, m) = (tenant_id.to_string(), group_id.to_string(), members.to_vec());
        self.write("add_members", script!(tx => async move { directory::add_members(tx, &t, &g, &m, at).await })).await
    }

    async fn remove_member(
        &self,
        tenant_id: &str,
        group_id: &str,
        member_id: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (t, g, m) = (tenant_id.to_string(), group_id.to_string(), member_id.to_string());
        self.write("remove_member", script!(tx => async move { directory::remove_member(tx, &t, &g, &m, at).await }))
            .await
    }

    async fn group_members(
        &self,
        tenant_id: &str,
        group_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<Page<DirectoryObject>, StoreError> {
        let (t, g, a) = (tenant_id.to_string(), group_id.to_string(), owned(after));
        self.read(
            "group_members",
            script!(tx => async move { directory::group_members(tx, &t, &g, a.as_deref(), top).await }),
        )
        .await
    }

    async fn member_of(
        &self,
        tenant_id: &str,
        object_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<Page<DirectoryObject>, StoreError> {
        let (t, o, a) = (tenant_id.to_string(), object_id.to_string(), owned(after));
        self.read("member_of", script!(tx => async move { directory::member_of(tx, &t, &o, a.as_deref(), top).await }))
            .await
    }

    async fn direct_reports(
        &self,
        tenant_id: &str,
        manager_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<Page<DirectoryObject>, StoreError> {
        let (t, m, a) = (tenant_id.to_string(), manager_id.to_string(), owned(after));
        self.read(
            "direct_reports",
            script!(tx => async move { directory::direct_reports(tx, &t, &m, a.as_deref(), top).await }),
        )
        .await
    }

    async fn list_objects(&self, tenant_id: &str, query: &ObjectQuery) -> Result<ObjectPage, StoreError> {
        let (t, q) = (tenant_id.to_string(), query.clone());
        self.read("list_objects", script!(tx => async move { directory::list(tx, &t, &q).await })).await
    }

    async fn changes(&self, tenant_id: &str, after_seq: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let t = tenant_id.to_string();
        self.read("changes", script!(tx => async move { directory::changes(tx, &t, after_seq, limit).await })).await
    }

    async fn latest_change(&self, tenant_id: &str) -> Result<i64, StoreError> {
        let t = tenant_id.to_string();
        self.lookup("latest_change", script!(tx => async move { directory::latest_change(tx, &t).await })).await
    }
}

#[async_trait]
impl<B: Backend> ApplicationStore for SqlStore<B> {
    async fn insert_application(&self, app: &Application, sp: &ServicePrincipal) -> Result<(), StoreError> {
        let (a, s) = (app.clone(), sp.clone());
        self.write("insert_application", script!(tx => async move { applications::insert(tx, &a, &s).await })).await
    }

    async fn application(&self, tenant_id: &str, id: &str) -> Result<Option<Application>, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.lookup("application", script!(tx => async move { applications::one(tx, &t, &id).await })).await
    }

    async fn applications(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<Page<Application>, StoreError> {
        let (t, a) = (tenant_id.to_string(), owned(after));
        self.read("applications", script!(tx => async move { applications::list(tx, &t, a.as_deref(), top).await }))
            .await
    }

    async fn update_application(&self, app: &Application, expected_version: i64) -> Result<i64, StoreError> {
        let a = app.clone();
        self.write(
            "update_application",
            script!(tx => async move { applications::update(tx, &a, expected_version).await }),
        )
        .await
    }

    async fn delete_application(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write("delete_application", script!(tx => async move { applications::delete(tx, &t, &id, at).await }))
            .await
    }

    async fn service_principal(&self, tenant_id: &str, id: &str) -> Result<Option<ServicePrincipal>, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.lookup("service_principal", script!(tx => async move { applications::sp(tx, &t, &id).await })).await
    }

    async fn service_principal_by_app_id(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, StoreError> {
        let (t, a) = (tenant_id.to_string(), app_id.to_string());
        self.lookup(
            "service_principal_by_app_id",
            script!(tx => async move { applications::sp_by_app_id(tx, &t, &a).await }),
        )
        .await
    }

    async fn service_principals(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<Page<ServicePrincipal>, StoreError> {
        let (t, a) = (tenant_id.to_string(), owned(after));
        self.read(
            "service_principals",
            script!(tx => async move { applications::sps(tx, &t, a.as_deref(), top).await }),
        )
        .await
    }

    async fn update_service_principal(&self, sp: &ServicePrincipal, expected_version: i64) -> Result<i64, StoreError> {
        let s = sp.clone();
        self.write(
            "update_service_principal",
            script!(tx => async move { applications::update_sp(tx, &s, expected_version).await }),
        )
        .await
    }

    async fn delete_service_principal(
        &self,
        tenant_id: &str,
        id: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(
            "delete_service_principal",
            script!(tx => async move { applications::delete_sp(tx, &t, &id, at).await }),
        )
        .await
    }

    async fn insert_assignment(&self, assignment: &AppRoleAssignment) -> Result<(), StoreError> {
        let a = assignment.clone();
        self.write("insert_assignment", script!(tx => async move { applications::insert_assignment(tx, &a).await }))
            .await
    }

    async fn assignments_to(
        &self,
        tenant_id: &str,
        resource_id: &str,
        after: Option<&str>,
        top: usize,
    ) -> Result<Page<AssignmentView>, StoreError> {
        let (t, r, a) = (tenant_id.to_string(), resource_id.to_string(), owned(after));
        self.read(
            "assignments_to",
            script!(tx => async move { applications::assignments_to(tx, &t, &r, a.as_deref(), top).await }),
        )
        .await
    }

    async fn assignments_of(&self, tenant_id: &str, principal_id: &str) -> Result<Vec<AssignmentView>, StoreError> {
        let (t, p) = (tenant_id.to_string(), principal_id.to_string());
        self.read("assignments_of", script!(tx => async move { applications::assignments_of(tx, &t, &p).await })).await
    }

    async fn assignment(&self, tenant_id: &str, id: &str) -> Result<Option<AssignmentView>, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.lookup("assignment", script!(tx => async move { applications::assignment_by_id(tx, &t, &id).await })).await
    }

    async fn delete_assignment(&self, tenant_id: &str, id: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(
            "delete_assignment",
            script!(tx => async move { applications::delete_assignment(tx, &t, &id, at).await }),
        )
        .await
    }
}

#[async_trait]
impl<B: Backend> JobStore for SqlStore<B> {
    async fn insert_job(&self, job: &SyncJob) -> Result<(), StoreError> {
        let j = job.clone();
        self.write("insert_job", script!(tx => async move { jobs::insert(tx, &j).await })).await
    }

    async fn job(&self, tenant_id: &str, service_principal_id: &str, id: &str) -> Result<Option<SyncJob>, StoreError> {
        let (t, s, id) = (tenant_id.to_string(), service_principal_id.to_string(), id.to_string());
        self.lookup("job", script!(tx => async move { jobs::one(tx, &t, &s, &id).await })).await
    }

    async fn jobs(&self, tenant_id: &str, service_principal_id: &str) -> Result<Vec<SyncJob>, StoreError> {
        let (t, s) = (tenant_id.to_string(), service_principal_id.to_string());
        self.read("jobs", script!(tx => async move { jobs::list(tx, &t, &s).await })).await
    }

    async fn update_job(&self, job: &SyncJob, expected_version: i64) -> Result<i64, StoreError> {
        let j = job.clone();
        self.write("update_job", script!(tx => async move { jobs::update(tx, &j, expected_version).await })).await
    }

    async fn delete_job(&self, tenant_id: &str, service_principal_id: &str, id: &str) -> Result<bool, StoreError> {
        let (t, s, id) = (tenant_id.to_string(), service_principal_id.to_string(), id.to_string());
        self.write("delete_job", script!(tx => async move { jobs::delete(tx, &t, &s, &id).await })).await
    }

    async fn secrets(&self, tenant_id: &str, service_principal_id: &str) -> Result<Vec<SealedSecret>, StoreError> {
        let (t, s) = (tenant_id.to_string(), service_principal_id.to_string());
        self.read("secrets", script!(tx => async move { jobs::secrets(tx, &t, &s).await })).await
    }

    async fn put_secrets(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
        changes: &[(String, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        let (t, s, c) = (tenant_id.to_string(), service_principal_id.to_string(), changes.to_vec());
        self.write("put_secrets", script!(tx => async move { jobs::put_secrets(tx, &t, &s, &c).await })).await
    }
}

#[async_trait]
impl<B: Backend> CycleStore for SqlStore<B> {
    async fn run_state(&self, job_id: &str) -> Result<Option<RunState>, StoreError> {
        let j = job_id.to_string();
        self.lookup("run_state", script!(tx => async move { cycles::run(tx, &j).await })).await
    }

    async fn put_run_state(&self, state: &RunState) -> Result<(), StoreError> {
        let s = state.clone();
        self.write("put_run_state", script!(tx => async move { cycles::put_run(tx, &s).await })).await
    }

    async fn set_progress(&self, job_id: &str, progress: Option<&serde_json::Value>) -> Result<(), StoreError> {
        let (j, p) = (job_id.to_string(), progress.map(serde_json::Value::to_string));
        self.write("set_progress", script!(tx => async move { cycles::set_progress(tx, &j, p).await })).await
    }

    async fn delete_run_state(&self, job_id: &str) -> Result<(), StoreError> {
        let j = job_id.to_string();
        self.write("delete_run_state", script!(tx => async move { cycles::delete_run(tx, &j).await })).await
    }

    async fn due_runs(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<RunState>, StoreError> {
        self.read("due_runs", script!(tx => async move { cycles::due(tx, now, limit).await })).await
    }

    async fn acquire_lease(
        &self,
        job_id: &str,
        owner: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (j, o) = (job_id.to_string(), owner.to_string());
        self.write("acquire_lease", script!(tx => async move { cycles::acquire(tx, &j, &o, until, now).await })).await
    }

    async fn release_lease(&self, job_id: &str, owner: &str) -> Result<(), StoreError> {
        let (j, o) = (job_id.to_string(), owner.to_string());
        self.write("release_lease", script!(tx => async move { cycles::release(tx, &j, &o).await })).await
    }

    async fn links(&self, job_id: &str, source_ids: &[String]) -> Result<Vec<Link>, StoreError> {
        let (j, ids) = (job_id.to_string(), source_ids.to_vec());
        self.read("links", script!(tx => async move { cycles::links(tx, &j, &ids).await })).await
    }

    async fn links_page(&self, job_id: &str, after: Option<&str>, top: usize) -> Result<Vec<Link>, StoreError> {
        let (j, a) = (job_id.to_string(), owned(after));
        self.read("links_page", script!(tx => async move { cycles::links_page(tx, &j, a.as_deref(), top).await })).await
    }

    async fn link_by_target(&self, job_id: &str, target_id: &str) -> Result<Option<Link>, StoreError> {
        Ok(self.links_by_target(job_id, &[target_id.to_string()]).await?.into_iter().next())
    }

    async fn links_by_target(&self, job_id: &str, target_ids: &[String]) -> Result<Vec<Link>, StoreError> {
        let (j, ids) = (job_id.to_string(), target_ids.to_vec());
        self.read("links_by_target", script!(tx => async move { cycles::links_by_target(tx, &j, &ids).await })).await
    }

    async fn put_link(&self, link: &Link) -> Result<(), StoreError> {
        let l = link.clone();
        self.write("put_link", script!(tx => async move { cycles::put_link(tx, &l).await })).await
    }

    async fn delete_link(&self, job_id: &str, source_id: &str) -> Result<bool, StoreError> {
        let (j, s) = (job_id.to_string(), source_id.to_string());
        self.write("delete_link", script!(tx => async move { cycles::delete_link(tx, &j, &s).await })).await
    }

    async fn delete_links(&self, job_id: &str) -> Result<u64, StoreError> {
        let j = job_id.to_string();
        self.write("delete_links", script!(tx => async move { cycles::delete_all(tx, "sync_links", &j).await })).await
    }

    async fn link_counts(&self, job_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let j = job_id.to_string();
        self.read("link_counts", script!(tx => async move { cycles::link_counts(tx, &j).await })).await
    }

    async fn escrows_due(&self, job_id: &str, now: OffsetDateTime, top: usize) -> Result<Vec<Escrow>, StoreError> {
        let j = job_id.to_string();
        self.read("escrows_due", script!(tx => async move { cycles::escrows_due(tx, &j, now, top).await })).await
    }

    async fn escrow(&self, job_id: &str, source_id: &str) -> Result<Option<Escrow>, StoreError> {
        let (j, s) = (job_id.to_string(), source_id.to_string());
        self.lookup("escrow", script!(tx => async move { cycles::escrow_of(tx, &j, &s).await })).await
    }

    async fn put_escrow(&self, escrow: &Escrow) -> Result<(), StoreError> {
        let e = escrow.clone();
        self.write("put_escrow", script!(tx => async move { cycles::put_escrow(tx, &e).await })).await
    }

    async fn delete_escrow(&self, job_id: &str, source_id: &str) -> Result<bool, StoreError> {
        let (j, s) = (job_id.to_string(), source_id.to_string());
        self.write("delete_escrow", script!(tx => async move { cycles::delete_escrow(tx, &j, &s).await })).await
    }

    async fn delete_escrows(&self, job_id: &str) -> Result<u64, StoreError> {
        let j = job_id.to_string();
        self.write("delete_escrows", script!(tx => async move { cycles::delete_all(tx, "sync_escrows", &j).await }))
            .await
    }

    async fn escrow_count(&self, job_id: &str) -> Result<u64, StoreError> {
        let j = job_id.to_string();
        self.read("escrow_count", script!(tx => async move { cycles::escrow_count(tx, &j).await })).await
    }
}

#[async_trait]
impl<B: Backend> ProvisioningLogStore for SqlStore<B> {
    async fn insert_logs(&self, logs: &[ProvisioningLog]) -> Result<(), StoreError> {
        if logs.is_empty() {
            return Ok(());
        }
        let l = logs.to_vec();
        self.write("insert_logs", script!(tx => async move { logs::insert(tx, &l).await })).await
    }

    async fn logs(&self, tenant_id: &str, query: &LogQuery) -> Result<LogPage, StoreError> {
        let (t, q) = (tenant_id.to_string(), query.clone());
        self.read("logs", script!(tx => async move { logs::page(tx, &t, &q).await })).await
    }

    async fn log(&self, tenant_id: &str, id: &str) -> Result<Option<ProvisioningLog>, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.lookup("log", script!(tx => async move { logs::one(tx, &t, &id).await })).await
    }

    async fn purge_logs(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        // Compared at the precision records are stored at.
        let before = crate::codec::nanos_bound(idplane_provisioning::logs::graph_precision(before));
        let mut total = 0;
        loop {
            // One transaction per batch: the engine's writes get their turn between batches.
            let n = self.write("purge_logs", script!(tx => async move { logs::purge_batch(tx, before).await })).await?;
            total += n;
            if n < logs::PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl<B: Backend> AgentStore for SqlStore<B> {
    async fn insert_registration_token(&self, token: &RegistrationToken) -> Result<(), StoreError> {
        let t = token.clone();
        self.write("insert_registration_token", script!(tx => async move { agents::insert_token(tx, &t).await })).await
    }

    async fn register_agent(
        &self,
        token: &TokenHash,
        agent: &Agent,
        credential: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<Agent>, StoreError> {
        let (t, a, c) = (*token, agent.clone(), *credential);
        self.write("register_agent", script!(tx => async move { agents::register(tx, &t, &a, &c, now).await })).await
    }

    async fn agent(&self, tenant_id: &str, id: &str) -> Result<Option<Agent>, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.lookup("agent", script!(tx => async move { agents::one(tx, &t, &id).await })).await
    }

    async fn agents(&self, tenant_id: &str) -> Result<Vec<Agent>, StoreError> {
        let t = tenant_id.to_string();
        self.read("agents", script!(tx => async move { agents::all(tx, &t).await })).await
    }

    async fn agent_by_credential(
        &self,
        credential: &TokenHash,
    ) -> Result<Option<(TokenHash, AgentIdentity)>, StoreError> {
        let c = *credential;
        self.lookup("agent_by_credential", script!(tx => async move { agents::by_credential(tx, &c).await })).await
    }

    async fn rotate_agent_credential(
        &self,
        old: &TokenHash,
        new: &TokenHash,
    ) -> Result<Option<AgentIdentity>, StoreError> {
        let (o, n) = (*old, *new);
        self.write("rotate_agent_credential", script!(tx => async move { agents::rotate(tx, &o, &n).await })).await
    }

    async fn agent_has_credential(&self, agent_id: &str) -> Result<bool, StoreError> {
        let a = agent_id.to_string();
        self.lookup("agent_has_credential", script!(tx => async move { agents::has_credential(tx, &a).await })).await
    }

    async fn revoke_agent(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write("revoke_agent", script!(tx => async move { agents::revoke(tx, &t, &id).await })).await
    }

    async fn delete_agent(&self, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write("delete_agent", script!(tx => async move { agents::delete(tx, &t, &id).await })).await
    }

    async fn assign_agent(
        &self,
        tenant_id: &str,
        agent_id: &str,
        service_principal_id: &str,
        at: OffsetDateTime,
    ) -> Result<AssignAgent, StoreError> {
        let (t, a, sp) = (tenant_id.to_string(), agent_id.to_string(), service_principal_id.to_string());
        self.write("assign_agent", script!(tx => async move { agents::assign(tx, &t, &a, &sp, at).await })).await
    }

    async fn unassign_agent(
        &self,
        tenant_id: &str,
        agent_id: &str,
        service_principal_id: &str,
    ) -> Result<bool, StoreError> {
        let (t, a, sp) = (tenant_id.to_string(), agent_id.to_string(), service_principal_id.to_string());
        self.write("unassign_agent", script!(tx => async move { agents::unassign(tx, &t, &a, &sp).await })).await
    }

    async fn agents_of_application(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
    ) -> Result<Vec<Agent>, StoreError> {
        let (t, sp) = (tenant_id.to_string(), service_principal_id.to_string());
        self.read("agents_of_application", script!(tx => async move { agents::of_application(tx, &t, &sp).await }))
            .await
    }

    async fn put_agent_session(&self, session: &AgentSession) -> Result<PutSession, StoreError> {
        let s = session.clone();
        self.write("put_agent_session", script!(tx => async move { agents::put_session(tx, &s).await })).await
    }

    async fn agent_heartbeat(
        &self,
        agent_id: &str,
        session_id: &str,
        at: OffsetDateTime,
        round_trip: Option<std::time::Duration>,
    ) -> Result<bool, StoreError> {
        let (a, s) = (agent_id.to_string(), session_id.to_string());
        self.write("agent_heartbeat", script!(tx => async move { agents::heartbeat(tx, &a, &s, at, round_trip).await }))
            .await
    }

    async fn end_agent_session(&self, agent_id: &str, session_id: &str) -> Result<bool, StoreError> {
        let (a, s) = (agent_id.to_string(), session_id.to_string());
        self.write("end_agent_session", script!(tx => async move { agents::end_session(tx, &a, &s).await })).await
    }

    async fn agent_session(&self, agent_id: &str) -> Result<Option<AgentSession>, StoreError> {
        let a = agent_id.to_string();
        self.lookup("agent_session", script!(tx => async move { agents::session_by_agent(tx, &a).await })).await
    }

    async fn agent_sessions_of_application(
        &self,
        tenant_id: &str,
        service_principal_id: &str,
    ) -> Result<Vec<AgentSession>, StoreError> {
        let (t, sp) = (tenant_id.to_string(), service_principal_id.to_string());
        self.read(
            "agent_sessions_of_application",
            script!(tx => async move { agents::sessions_of_application(tx, &t, &sp).await }),
        )
        .await
    }
}
