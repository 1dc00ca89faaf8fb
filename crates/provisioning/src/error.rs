//! The provisioning domain's errors: what a client got wrong, said so that it can fix it. Statuses and wire shapes
//! are chosen at the HTTP edge.

use crate::scoping::ScopeIssue;

/// Every error of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A scoping filter has problems.
    #[error("the scoping filter is not valid: {}", join(issues))]
    InvalidFilter { issues: Vec<ScopeIssue> },
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
