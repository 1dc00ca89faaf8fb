//! The core's errors, in domain terms: what went wrong, never how to say it over HTTP. The server maps each to a
//! status and to its API's error body (SCIM, Databricks) in one place; the provisioning engine reuses them.

use idplane_scim::{ScimError, ScimType};

use crate::principal::PrincipalKind;
use crate::resource_types::Level;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// There is no `what` (a resource kind, such as "User" or "workspace") with this `id` where the request looked.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// Another principal of this kind already has this value of its unique attribute (at account or workspace level:
    /// clients word the two differently).
    #[error("a {} with {attribute} {value} already exists", kind.member_type())]
    Conflict { kind: PrincipalKind, attribute: &'static str, value: String, level: Level },
    /// The request is malformed or asks for something impossible; `scim_type` classifies it (RFC 7644 §3.12).
    #[error("invalid request: {detail}")]
    Invalid { scim_type: Option<ScimType>, detail: String },
    /// Answering would take more work than one request may (RFC 7644's `tooMany`); `detail` says how to ask for less.
    #[error("too many: {0}")]
    TooMany(String),
    /// `If-Match` named a version that is no longer current.
    #[error("the resource was modified: its version is {current}")]
    PreconditionFailed { current: String },
    /// Other writers kept changing the resource; the request may succeed if retried.
    #[error("busy: {0}")]
    Busy(String),
    /// The token is missing, unknown, expired or revoked.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The token is valid but may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The token sent more requests than its rate allows; retry after this many seconds.
    #[error("rate limited: retry after {0} s")]
    RateLimited(u64),
    /// A store failure. Its text goes to the log, never to the client.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl CoreError {
    /// An invalid value (RFC 7644 `invalidValue`).
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        CoreError::Invalid { scim_type: Some(ScimType::InvalidValue), detail: detail.into() }
    }

    /// An invalid request without a more precise class.
    pub fn invalid(detail: impl Into<String>) -> Self {
        CoreError::Invalid { scim_type: None, detail: detail.into() }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        CoreError::NotFound { what, id: id.to_string() }
    }
}

/// The protocol crate reports malformed requests (bad filters, paths, bodies, PATCH operations) as SCIM errors, all
/// client mistakes of status 400.
impl From<ScimError> for CoreError {
    fn from(e: ScimError) -> Self {
        CoreError::Invalid { scim_type: e.scim_type, detail: e.detail }
    }
}

/// Failures of a store port ([`crate::store`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated; the value names the attribute (`userName`, `displayName`,
    /// `applicationId`, `externalId`), or `id` for a primary key.
    #[error("unique constraint on {0}")]
    Conflict(&'static str),
    /// A referenced row (a group member) does not exist.
    #[error("no such principal: {0}")]
    MissingReference(i64),
    /// The row changed since it was read (optimistic concurrency).
    #[error("concurrent modification")]
    VersionMismatch,
    /// The operation was stopped before it finished (its request ran out of time); nothing of it was written.
    #[error("interrupted: {0}")]
    Interrupted(String),
    #[error("{0}")]
    Backend(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
