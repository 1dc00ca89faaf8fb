//! The worker's errors: why a job could not run at all (per-object failures are outcomes, not errors).

use idplane_core::error::StoreError;
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::cycle::mapping::MappingError;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The job lacks what it needs to run (credentials, an enabled mapping); the text says what to set.
    #[error("the provisioning job is not configured: {0}")]
    NotConfigured(String),
    /// The request cannot be done as asked; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The job's schema cannot run.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The target refused the connection test or the credentials: the job is quarantined.
    #[error("{message}")]
    Target { code: String, message: String, quarantine: bool },
    /// The job, its service principal or tenant is gone.
    #[error(transparent)]
    Provisioning(#[from] ProvisioningError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
