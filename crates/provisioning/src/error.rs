//! The provisioning domain's errors, in domain terms. [`ProvisioningError`] is what its use cases fail with; the
//! Graph API maps each to a status and Microsoft Graph's error body (`{"error":{"code","message","innerError"}}`) in
//! one place. [`Error`] is what the schema, scoping and template code says a client got wrong; it becomes a
//! [`ProvisioningError`].

use idplane_core::error::StoreError;

use crate::schema::SchemaIssue;
use crate::scoping::ScopeIssue;

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

/// What a client got wrong in a schema, a scoping filter or a template reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A schema a client sent has problems; each says where it is and what to fix.
    #[error("the synchronization schema is not valid: {}", join(issues))]
    InvalidSchema { issues: Vec<SchemaIssue> },

    /// A scoping filter has problems.
    #[error("the scoping filter is not valid: {}", join(issues))]
    InvalidFilter { issues: Vec<ScopeIssue> },

    /// No synchronization template has that id.
    #[error("no synchronization template '{id}': use one of {known}")]
    UnknownSynchronizationTemplate { id: String, known: String },

    /// No application template has that id.
    #[error("no application template '{id}': list them with GET /applicationTemplates")]
    UnknownApplicationTemplate { id: String },

    /// A directory object that is not a Graph user or group as this crate reads them.
    #[error("not a Graph {kind}: {detail}")]
    InvalidDirectoryObject { kind: &'static str, detail: String },
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl From<Error> for ProvisioningError {
    fn from(e: Error) -> Self {
        match e {
            Error::UnknownApplicationTemplate { id } => ProvisioningError::not_found("applicationTemplate", id),
            Error::UnknownSynchronizationTemplate { .. } => {
                ProvisioningError::Invalid { detail: e.to_string(), target: Some("templateId".into()) }
            }
            other => ProvisioningError::invalid(other.to_string()),
        }
    }
}
