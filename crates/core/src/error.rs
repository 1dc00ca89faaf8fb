//! The core's error type. The HTTP edge maps it to SCIM error messages once.

use idplane_scim::ScimError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A client mistake the SCIM protocol has words for (400, 404, 409...).
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// `If-Match` named a version that is no longer current.
    #[error("the resource was modified: its version is {current}")]
    PreconditionFailed { current: String },
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

/// Failures of a [`crate::store::Store`] implementation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated; the value names the attribute (`userName`, `displayName`,
    /// `applicationId`, `externalId`).
    #[error("unique constraint on {0}")]
    Conflict(&'static str),
    /// A referenced row (a group member) does not exist.
    #[error("no such principal: {0}")]
    MissingReference(i64),
    /// The row changed since it was read (optimistic concurrency).
    #[error("concurrent modification")]
    VersionMismatch,
    #[error("{0}")]
    Backend(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
