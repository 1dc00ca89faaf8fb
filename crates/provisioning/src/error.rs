//! The provisioning domain's errors: what a client got wrong, said so that it can fix it. Statuses and wire shapes
//! are chosen at the HTTP edge.

use crate::schema::SchemaIssue;
use crate::scoping::ScopeIssue;

/// Every error of this crate.
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
