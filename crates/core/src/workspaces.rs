//! Workspaces and their built-in groups. Every workspace has two workspace-local groups, as Databricks workspaces
//! do: `admins`, whose members (directly or through nested groups) administer the workspace, and `users`. Neither can
//! be deleted or renamed.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Actor, AuditEntry, Change, Operation, ResourceType};
use crate::error::{CoreError, Result};
use crate::ids;
use crate::principal::{Home, Principal, PrincipalKind};
use crate::store::{ListSpec, Listing, NewPrincipal, Store};
use crate::tenancy::{Scope, Workspace};
use idplane_scim::filter::{AttrPath, CompValue, CompareOp, Filter};

/// The built-in group of a workspace's administrators.
pub const ADMINS: &str = "admins";
/// The built-in group of a workspace's users.
pub const USERS: &str = "users";

/// Stores a new workspace with its built-in groups.
pub async fn create(store: &dyn Store, workspace: &Workspace, now: OffsetDateTime, actor: &Actor) -> Result<()> {
    let entry = workspace_entry(actor, now, workspace, Operation::Create);
    store.insert_workspace(workspace, &[entry]).await?;
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
        let entry = audit::principal_created(actor, now, &group, Some(workspace.id));
        store.insert_principal(&NewPrincipal::bare(group), &[entry]).await?;
    }
    Ok(())
}

/// Deletes a workspace with its workspace-local principals, its assignments and its workspace tokens.
pub async fn delete(store: &dyn Store, workspace: &Workspace, now: OffsetDateTime, actor: &Actor) -> Result<()> {
    let entry = workspace_entry(actor, now, workspace, Operation::Delete);
    if !store.delete_workspace(workspace.id, &[entry]).await? {
        return Err(CoreError::not_found("workspace", workspace.id));
    }
    Ok(())
}

fn workspace_entry(actor: &Actor, now: OffsetDateTime, w: &Workspace, operation: Operation) -> AuditEntry {
    let (name, federation) = (serde_json::Value::from(w.name.as_str()), serde_json::Value::from(w.identity_federation));
    let (old, new) = (operation == Operation::Delete, operation == Operation::Create);
    let changes = [("workspace_name", name), ("identity_federation", federation)]
        .map(|(attribute, v)| Change::set(attribute, Some(&v).filter(|_| old), Some(&v).filter(|_| new)));
    AuditEntry::new(actor, now, &w.account_id, ResourceType::Workspace, w.id, operation)
        .in_workspace(Some(w.id))
        .with_changes(changes)
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
    let spec = ListSpec::page(Some(&filter), 1);
    let admins = match store.list_principals(&local, PrincipalKind::Group, &spec).await? {
        Listing::Page { items, .. } | Listing::Candidates(items) => {
            items.into_iter().map(|v| v.principal).find(is_builtin_group)
        }
        Listing::TooMany { .. } => None,
    };
    let Some(admins) = admins else { return Ok(false) };
    let scope = Scope::for_workspace(workspace);
    Ok(store.groups_of(&scope, principal_id).await?.iter().any(|g| g.id == admins.id))
}
