//! Workspaces and their built-in groups. Every workspace has two workspace-local groups, as Databricks workspaces
//! do: `admins`, whose members (directly or through nested groups) administer the workspace, and `users`. Neither can
//! be deleted or renamed.

use serde_json::json;
use time::OffsetDateTime;

use crate::error::Result;
use crate::ids;
use crate::principal::{Home, Principal, PrincipalKind};
use crate::store::{ListSpec, Listing, Store};
use crate::tenancy::{Scope, Workspace};
use idplane_scim::filter::{AttrPath, CompValue, CompareOp, Filter};

/// The built-in group of a workspace's administrators.
pub const ADMINS: &str = "admins";
/// The built-in group of a workspace's users.
pub const USERS: &str = "users";

/// Stores a new workspace with its built-in groups.
pub async fn create(store: &dyn Store, workspace: &Workspace, now: OffsetDateTime) -> Result<()> {
    store.insert_workspace(workspace).await?;
    for name in [USERS, ADMINS] {
        let group = Principal {
            id: ids::new_numeric_id()?,
            kind: PrincipalKind::Group,
            account_id: workspace.account_id.clone(),
            home: Home::Workspace(workspace.id),
            doc: json!({ "displayName": name }),
            version: 1,
            created: now,
            last_modified: now,
        };
        store.insert_principal(&group, &[], None).await?;
    }
    Ok(())
}

/// Is `p` one of the built-in groups of its workspace?
pub fn is_builtin_group(p: &Principal) -> bool {
    p.kind == PrincipalKind::Group
        && matches!(p.home, Home::Workspace(_))
        && p.doc.get("displayName").and_then(|v| v.as_str()).is_some_and(|n| n == ADMINS || n == USERS)
}

/// Is `principal_id` a member of the `admins` group of `workspace_id`, directly or through nested groups?
pub async fn in_admins_group(store: &dyn Store, workspace: &Workspace, principal_id: i64) -> Result<bool> {
    // The workspace's own groups: its home only, whatever its federation (an account group may be called admins too).
    let local =
        Scope::Workspace { account_id: workspace.account_id.clone(), workspace_id: workspace.id, federated: false };
    let filter = Filter::Compare(AttrPath::new("displayName"), CompareOp::Eq, CompValue::String(ADMINS.into()));
    let spec = ListSpec { filter: Some(&filter), sort: None, offset: 0, limit: 1, after_id: None };
    let admins = match store.list_principals(&local, PrincipalKind::Group, &spec).await? {
        Listing::Page { items, .. } | Listing::Candidates(items) => items.into_iter().find(is_builtin_group),
    };
    let Some(admins) = admins else { return Ok(false) };
    let scope = Scope::for_workspace(workspace);
    Ok(store.groups_of(&scope, principal_id).await?.iter().any(|g| g.id == admins.id))
}
