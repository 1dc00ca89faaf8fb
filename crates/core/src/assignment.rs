//! Workspace assignment: which account principals may use a workspace with identity federation, and how. A group's
//! assignment reaches its members, transitively through nested groups; a principal's effective permission in a
//! workspace is the highest of its own and its groups'.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{self, Actor};
use crate::error::{CoreError, Result};
use crate::principal::{Home, Principal};
use crate::store::Store;
use crate::tenancy::{Scope, Workspace};

/// A permission on a workspace. `Admin` makes a workspace admin and implies `User`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    User,
    Admin,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::User => "USER",
            Permission::Admin => "ADMIN",
        }
    }

    /// Reads a permission level as the assignment API spells it (case-sensitive, as Databricks is).
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "USER" => Some(Permission::User),
            "ADMIN" => Some(Permission::Admin),
            _ => None,
        }
    }

    /// What a list of requested permissions amounts to, per Databricks: ADMIN wins over USER, unknown values are
    /// ignored, and nothing left means "no assignment".
    pub fn strongest<'a>(requested: impl IntoIterator<Item = &'a str>) -> Option<Permission> {
        requested.into_iter().filter_map(Permission::parse).max()
    }

    pub fn description(self) -> &'static str {
        match self {
            Permission::User => "Can use the workspace.",
            Permission::Admin => "Can use and administer the workspace: its identities, assignments and tokens.",
        }
    }
}

/// Sets (`Some`) or removes (`None`) a principal's assignment to a workspace with identity federation. The principal
/// must be an account principal of the workspace's account. Returns it.
pub async fn assign(
    store: &dyn Store,
    workspace: &Workspace,
    principal_id: i64,
    permission: Option<Permission>,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<Principal> {
    if !workspace.identity_federation {
        return Err(CoreError::invalid_value(format!(
            "workspace {} does not have identity federation enabled: its identities are its own, not assigned from \
             the account",
            workspace.id
        )));
    }
    let account = Scope::Account { account_id: workspace.account_id.clone() };
    let principal = store
        .principal(&account, None, principal_id)
        .await?
        .filter(|p| p.home == Home::Account)
        .ok_or_else(|| CoreError::not_found("Principal", principal_id))?;
    let entry = audit::assignment_changed(actor, now, &principal, workspace.id, permission);
    store.set_assignment(workspace.id, principal.id, permission, &[entry]).await?;
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_wins_and_unknown_values_are_ignored() {
        assert_eq!(Permission::strongest(["USER", "ADMIN"]), Some(Permission::Admin));
        assert_eq!(Permission::strongest(["USER", "UNKNOWN"]), Some(Permission::User));
        assert_eq!(Permission::strongest(["user"]), None, "case-sensitive, as Databricks");
        assert_eq!(Permission::strongest([]), None);
    }
}
