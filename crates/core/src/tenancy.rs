//! Accounts and workspaces, and the scope a request acts in.

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry, Change, Operation, ResourceType};
use crate::error::Result;
use crate::store::Store;

/// An account: the top-level tenant. Identities live in accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub created: OffsetDateTime,
}

/// A workspace of an account. With identity federation, it sees the account principals assigned to it; without, it
/// holds its own workspace-local principals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: i64,
    pub account_id: String,
    pub name: String,
    pub identity_federation: bool,
    pub created: OffsetDateTime,
}

/// Where a SCIM request acts: an account's SCIM API or a workspace's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Account { account_id: String },
    Workspace { account_id: String, workspace_id: i64, federated: bool },
}

impl Scope {
    pub fn account_id(&self) -> &str {
        match self {
            Scope::Account { account_id } | Scope::Workspace { account_id, .. } => account_id,
        }
    }

    pub fn workspace_id(&self) -> Option<i64> {
        match self {
            Scope::Account { .. } => None,
            Scope::Workspace { workspace_id, .. } => Some(*workspace_id),
        }
    }

    pub fn for_workspace(ws: &Workspace) -> Scope {
        Scope::Workspace { account_id: ws.account_id.clone(), workspace_id: ws.id, federated: ws.identity_federation }
    }
}

/// Stores a new account.
pub async fn create_account(store: &dyn Store, account: &Account, actor: &Actor) -> Result<()> {
    let entry =
        AuditEntry::new(actor, account.created, &account.id, ResourceType::Account, &account.id, Operation::Create)
            .with_changes([Change::set("name", None, Some(&account.name.as_str().into()))]);
    Ok(store.insert_account(account, &[entry]).await?)
}
