//! Accounts', workspaces' and settings' transaction scripts.

use idplane_core::audit::AuditEntry;
use idplane_core::error::StoreError;
use idplane_core::tenancy::{Account, Workspace};

use crate::audit::record;
use crate::codec::{self, nanos};
use crate::tx::{Tx, params};

const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, name, created) VALUES (?, ?, ?)";
const SELECT_ACCOUNT: &str = "SELECT id, name, created FROM accounts WHERE id = ?";
const SELECT_ACCOUNTS: &str = "SELECT id, name, created FROM accounts ORDER BY id";

const INSERT_WORKSPACE: &str =
    "INSERT INTO workspaces (id, account_id, name, identity_federation, created) VALUES (?, ?, ?, ?, ?)";
const SELECT_WORKSPACE: &str = "SELECT id, account_id, name, identity_federation, created FROM workspaces WHERE id = ?";
const SELECT_WORKSPACES: &str =
    "SELECT id, account_id, name, identity_federation, created FROM workspaces WHERE account_id = ? ORDER BY id";
const DELETE_WORKSPACE_TOKENS: &str = "DELETE FROM tokens WHERE workspace_id = ?";
const DELETE_WORKSPACE_PRINCIPALS: &str = "DELETE FROM principals WHERE home_workspace = ?";
const DELETE_WORKSPACE: &str = "DELETE FROM workspaces WHERE id = ?";

const SELECT_SETTING: &str = "SELECT value FROM settings WHERE key = ?";
const INSERT_SETTING_IF_ABSENT: &str = "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING";
const UPSERT_SETTING: &str =
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

pub(crate) async fn insert_account(tx: &mut dyn Tx, a: &Account, audit: &[AuditEntry]) -> Result<(), StoreError> {
    let params = params![a.id.as_str(), a.name.as_str(), nanos(a.created)?];
    tx.execute(INSERT_ACCOUNT, &params).await.map_err(|e| e.conflict("insert account", "id"))?;
    record(tx, audit).await
}

pub(crate) async fn account(tx: &mut dyn Tx, id: &str) -> Result<Option<Account>, StoreError> {
    let row = tx.first(SELECT_ACCOUNT, &params![id]).await.map_err(|e| e.during("read account"))?;
    row.map(codec::account).transpose()
}

pub(crate) async fn accounts(tx: &mut dyn Tx) -> Result<Vec<Account>, StoreError> {
    let rows = tx.query(SELECT_ACCOUNTS, &[]).await.map_err(|e| e.during("read accounts"))?;
    rows.into_iter().map(codec::account).collect()
}

pub(crate) async fn insert_workspace(tx: &mut dyn Tx, w: &Workspace, audit: &[AuditEntry]) -> Result<(), StoreError> {
    let params = params![w.id, w.account_id.as_str(), w.name.as_str(), w.identity_federation, nanos(w.created)?];
    tx.execute(INSERT_WORKSPACE, &params).await.map_err(|e| e.conflict("insert workspace", "id"))?;
    record(tx, audit).await
}

pub(crate) async fn workspace(tx: &mut dyn Tx, id: i64) -> Result<Option<Workspace>, StoreError> {
    let row = tx.first(SELECT_WORKSPACE, &params![id]).await.map_err(|e| e.during("read workspace"))?;
    row.map(codec::workspace).transpose()
}

pub(crate) async fn workspaces(tx: &mut dyn Tx, account_id: &str) -> Result<Vec<Workspace>, StoreError> {
    let rows = tx.query(SELECT_WORKSPACES, &params![account_id]).await.map_err(|e| e.during("read workspaces"))?;
    rows.into_iter().map(codec::workspace).collect()
}

/// Workspace-local principals take their memberships and assignments with them (ON DELETE CASCADE); tokens scoped
/// to the workspace reference it without a cascade, so they go first, explicitly.
pub(crate) async fn delete_workspace(tx: &mut dyn Tx, id: i64, audit: &[AuditEntry]) -> Result<bool, StoreError> {
    for statement in [DELETE_WORKSPACE_TOKENS, DELETE_WORKSPACE_PRINCIPALS] {
        tx.execute(statement, &params![id]).await.map_err(|e| e.during("delete workspace"))?;
    }
    let n = tx.execute(DELETE_WORKSPACE, &params![id]).await.map_err(|e| e.during("delete workspace"))?;
    if n > 0 {
        record(tx, audit).await?;
    }
    Ok(n > 0)
}

pub(crate) async fn setting(tx: &mut dyn Tx, key: &str) -> Result<Option<String>, StoreError> {
    let row = tx.first(SELECT_SETTING, &params![key]).await.map_err(|e| e.during("read setting"))?;
    row.map(|mut r| r.text(0)).transpose()
}

pub(crate) async fn set_setting(tx: &mut dyn Tx, key: &str, value: &str) -> Result<(), StoreError> {
    tx.execute(UPSERT_SETTING, &params![key, value]).await.map_err(|e| e.during("write setting"))?;
    Ok(())
}

pub(crate) async fn claim_setting(tx: &mut dyn Tx, key: &str, value: &str) -> Result<bool, StoreError> {
    let n = tx.execute(INSERT_SETTING_IF_ABSENT, &params![key, value]).await.map_err(|e| e.during("claim setting"))?;
    Ok(n == 1)
}
