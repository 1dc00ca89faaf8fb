//! One provisioning job made ready to run: its tenant, service principal and schema, the user and group object
//! mappings compiled, the target's SCIM client built from the saved secrets, and the settings those secrets hold
//! (scope, out-of-scope deletions, notifications and the deletion threshold).

use std::sync::Arc;

use idplane_provisioning::ProvisioningError;
use idplane_provisioning::application::{self, ServicePrincipal};
use idplane_provisioning::cycle::export::PatchDialect;
use idplane_provisioning::cycle::mapping::CompiledObjectMapping;
use idplane_provisioning::directory::ObjectKind;
use idplane_provisioning::job::SyncJob;
use idplane_provisioning::secrets::{self, Cipher, NotificationSettings};
use idplane_provisioning::store::ProvisioningStore;
use idplane_provisioning::templates;
use idplane_provisioning::tenant::Tenant;
use idplane_scim_client::{Endpoint, ScimClient, SecretToken, TenantUrl, Transport};

use crate::error::WorkerError;

/// What the worker works with: the store, the key that opens secrets, the way to reach targets, and the counters
/// `/metrics` shows.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn ProvisioningStore>,
    pub cipher: Arc<Cipher>,
    /// The direct way to targets.
    pub transport: Arc<dyn Transport>,
    /// The way through on-premises agents, for applications that have agents assigned ([`crate::route`]).
    pub relay: Option<Arc<dyn crate::route::AgentRelay>>,
    pub metrics: Arc<crate::metrics::EngineMetrics>,
    /// Where notification emails go out.
    pub notifier: Arc<dyn crate::notify::Notifier>,
    /// The Graph API's public URL (`https://idp.example.com/v1.0`), for the links in emails; unknown when `None`.
    pub graph_url: Option<String>,
}

/// A job ready to run.
pub struct JobRun {
    pub services: Services,
    pub tenant: Tenant,
    pub sp: ServicePrincipal,
    pub job: SyncJob,
    /// The schema's version: a new one starts an initial cycle.
    pub schema_version: String,
    pub users: Option<CompiledObjectMapping>,
    pub groups: Option<CompiledObjectMapping>,
    pub client: ScimClient,
    pub dialect: PatchDialect,
    /// "Sync all users and groups" (`SyncAll`), rather than only the assigned ones.
    pub sync_all: bool,
    /// `SkipOutOfScopeDeletions`: objects leaving the scope are left as they are in the target.
    pub skip_out_of_scope_deletions: bool,
    pub notification: NotificationSettings,
    /// The target system's name in logs (the schema's target directory).
    pub target_system: String,
    /// How many objects a cycle processes at once (the target's concurrency limit).
    pub concurrency: usize,
    /// A preview: nothing is written, to the target or to the store.
    pub read_only: bool,
    /// The source objects with an escrowed failure when the run began (a success clears theirs).
    pub escrowed: std::collections::HashSet<String>,
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

impl JobRun {
    /// Loads a job of a tenant's service principal, ready to run.
    pub async fn load(services: &Services, tenant_id: &str, sp_id: &str, job_id: &str) -> Result<JobRun, WorkerError> {
        let store = services.store.as_ref();
        let tenant = store.tenant(tenant_id).await?.ok_or_else(|| ProvisioningError::not_found("tenant", tenant_id))?;
        let sp = application::service_principal(store, tenant_id, sp_id).await?;
        let job = store
            .job(tenant_id, &sp.id, job_id)
            .await?
            .ok_or_else(|| ProvisioningError::not_found("synchronizationJob", job_id))?;
        let schema = templates::job_schema(&sp, &job)?;
        let rule = schema
            .synchronization_rules
            .first()
            .ok_or_else(|| WorkerError::NotConfigured("the job's schema has no synchronization rule".into()))?;
        let mut users = None;
        let mut groups = None;
        for m in rule.object_mappings.iter().filter(|m| m.enabled) {
            let compiled = CompiledObjectMapping::compile(&schema, rule, m)?;
            if m.source_object_name.eq_ignore_ascii_case("User") && users.is_none() {
                users = Some(compiled);
            } else if m.source_object_name.eq_ignore_ascii_case("Group") && groups.is_none() {
                groups = Some(compiled);
            }
        }
        let creds = secrets::saved(store, &services.cipher, tenant_id, &sp.id).await?;
        let far = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
        let escrowed = store.escrows_due(job_id, far, 100_000).await?.into_iter().map(|e| e.source_id).collect();
        let missing = |what: &str| {
            WorkerError::NotConfigured(format!(
                "no {what} is saved: enter the tenant URL and secret token under Admin Credentials \
                 (PUT .../synchronization/secrets) first"
            ))
        };
        let base = creds.get("BaseAddress").ok_or_else(|| missing("tenant URL (BaseAddress)"))?;
        let token = creds.get("SecretToken").ok_or_else(|| missing("secret token (SecretToken)"))?;
        let bad = |e: idplane_scim_client::Error| WorkerError::NotConfigured(e.to_string());
        let tenant_url = TenantUrl::parse(base).map_err(bad)?;
        let dialect = tenant_url.patch_dialect();
        let limits = idplane_provisioning::job::TargetLimits::of(&job, tenant_url.host())?;
        let way = crate::route::transport_for(services, tenant_id, &sp.id, &tenant_url).await?;
        let transport: Arc<dyn Transport> = Arc::new(crate::limits::LimitedTransport::new(way, &limits));
        let client = ScimClient::new(tenant_url, SecretToken::new(token).map_err(bad)?, transport);
        let notification = match creds.get("SyncNotificationSettings") {
            Some(text) => NotificationSettings::parse(text)?,
            None => NotificationSettings::default(),
        };
        Ok(JobRun {
            services: services.clone(),
            schema_version: schema.version.clone().unwrap_or_else(|| "1".into()),
            target_system: rule.target_directory_name.clone(),
            tenant,
            sp,
            job,
            users,
            groups,
            client,
            dialect,
            sync_all: truthy(creds.get("SyncAll")),
            skip_out_of_scope_deletions: truthy(creds.get("SkipOutOfScopeDeletions")),
            notification,
            concurrency: limits.concurrency,
            read_only: false,
            escrowed,
        })
    }

    /// The object mapping of a kind of directory object, when enabled.
    pub fn mapping(&self, kind: ObjectKind) -> Option<&CompiledObjectMapping> {
        match kind {
            ObjectKind::User => self.users.as_ref(),
            ObjectKind::Group => self.groups.as_ref(),
        }
    }

    /// The SCIM endpoint of a mapping's target objects.
    pub fn endpoint(kind: ObjectKind) -> Endpoint {
        match kind {
            ObjectKind::User => Endpoint::USERS,
            ObjectKind::Group => Endpoint::GROUPS,
        }
    }
}
