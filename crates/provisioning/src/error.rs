//! The provisioning domain's errors, in domain terms. The Graph API maps each to a status and Microsoft Graph's
//! error body (`{"error":{"code","message","innerError"}}`) in one place.

use idplane_core::error::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// There is no `what` (a resource kind, such as "user" or "servicePrincipal") with this `id` in the tenant.
    #[error("Resource '{id}' does not exist or one of its queried reference-property objects are not present.")]
    NotFound { what: &'static str, id: String },
    /// The change would break a uniqueness rule or repeat what exists (a second member of the same group, a
    /// duplicate user principal name, an assignment that exists). The text says which.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed or asks for something impossible; `detail` says what to fix, `target` names the
    /// property or parameter at fault, when there is one.
    #[error("{detail}")]
    Invalid { detail: String, target: Option<String> },
    /// The query uses an option, a property or an operator idplane does not serve; `detail` says what it serves.
    #[error("{0}")]
    Unsupported(String),
    /// Other writers kept changing the resource; the request may succeed if retried.
    #[error("{0}")]
    Busy(String),
    /// A store failure. Its text goes to the log, never to the client.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ProvisioningError {
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        ProvisioningError::NotFound { what, id: id.into() }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        ProvisioningError::Invalid { detail: detail.into(), target: None }
    }

    /// An invalid value of a named property or parameter.
    pub fn invalid_property(target: &str, detail: impl Into<String>) -> Self {
        ProvisioningError::Invalid { detail: detail.into(), target: Some(target.to_string()) }
    }
}

pub type Result<T, E = ProvisioningError> = std::result::Result<T, E>;
