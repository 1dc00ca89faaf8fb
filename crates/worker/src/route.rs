//! Which way an application's SCIM requests go: straight to the tenant URL, or, when agents are assigned to the
//! application (an on-premises SCIM app), through one of its active on-premises agents. The service's hub
//! implements [`AgentRelay`]; the engine, Test Connection and provisioning on demand ask [`transport_for`].

use std::sync::Arc;

use idplane_core::error::StoreError;
use idplane_scim_client::{TenantUrl, Transport};

use crate::job::Services;

/// Carries requests through on-premises agents (the hub of the server's node).
pub trait AgentRelay: Send + Sync {
    /// A transport that sends each request through one of the application's active agents, to `tenant_url`.
    fn transport(&self, tenant_id: &str, service_principal_id: &str, tenant_url: &TenantUrl) -> Arc<dyn Transport>;
}

/// The transport of an application's requests: through its agents when it has any assigned (and this process has a
/// hub), else the direct one.
pub async fn transport_for(
    services: &Services,
    tenant_id: &str,
    service_principal_id: &str,
    tenant_url: &TenantUrl,
) -> Result<Arc<dyn Transport>, StoreError> {
    let Some(relay) = &services.relay else { return Ok(services.transport.clone()) };
    if services.store.agents_of_application(tenant_id, service_principal_id).await?.is_empty() {
        return Ok(services.transport.clone());
    }
    Ok(relay.transport(tenant_id, service_principal_id, tenant_url))
}
