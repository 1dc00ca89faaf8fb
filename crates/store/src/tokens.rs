//! Tokens' transaction scripts.

use idplane_core::audit::AuditEntry;
use idplane_core::error::StoreError;
use idplane_core::store::TokenFilter;
use idplane_core::token::{Token, TokenHash, TokenScope};
use time::OffsetDateTime;

use crate::audit::record;
use crate::codec::{self, nanos};
use crate::tx::{Sql, Tx, params};

const INSERT_TOKEN: &str = "INSERT INTO tokens \
     (id, hash, account_id, workspace_id, principal_id, comment, created, expires, kind) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// The columns every token query reads, in the order [`codec::token`] expects.
pub(crate) const TOKEN_COLUMNS: &str =
    "id, hash, account_id, workspace_id, principal_id, comment, created, expires, kind";
const SELECT_TOKEN_BY_HASH: &str = "SELECT id, hash, account_id, workspace_id, principal_id, comment, \
     created, expires, kind FROM tokens WHERE hash = ?";
const SELECT_TOKEN_BY_ID: &str = "SELECT id, hash, account_id, workspace_id, principal_id, comment, \
     created, expires, kind FROM tokens WHERE id = ?";
const UPDATE_TOKEN_EXPIRY: &str = "UPDATE tokens SET expires = ? WHERE id = ?";
const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE id = ?";

pub(crate) async fn insert(tx: &mut dyn Tx, t: &Token, audit: &[AuditEntry]) -> Result<(), StoreError> {
    let workspace_id = match &t.scope {
        TokenScope::Account { .. } => None,
        TokenScope::Workspace { workspace_id, .. } => Some(*workspace_id),
    };
    let (created, expires) = (nanos(t.created)?, t.expires.map(nanos).transpose()?);
    let params = params![
        t.id.as_str(),
        t.hash.0.as_slice(),
        t.scope.account_id(),
        workspace_id,
        t.principal_id,
        t.comment.as_str(),
        created,
        expires,
        t.kind.code(),
    ];
    tx.execute(INSERT_TOKEN, &params).await.map_err(|e| e.conflict("insert token", "hash"))?;
    record(tx, audit).await
}

pub(crate) async fn by_hash(tx: &mut dyn Tx, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
    let row = tx.first(SELECT_TOKEN_BY_HASH, &params![hash.0.as_slice()]).await.map_err(|e| e.during("read token"))?;
    row.map(codec::token).transpose()
}

pub(crate) async fn by_id(tx: &mut dyn Tx, id: &str) -> Result<Option<Token>, StoreError> {
    let row = tx.first(SELECT_TOKEN_BY_ID, &params![id]).await.map_err(|e| e.during("read token"))?;
    row.map(codec::token).transpose()
}

/// The tokens of an account that pass `filter`, in creation order.
pub(crate) fn select(account_id: &str, filter: &TokenFilter) -> Sql {
    let mut s = Sql::new("SELECT ");
    s.push(TOKEN_COLUMNS).push(" FROM tokens WHERE account_id = ").bind(account_id);
    if let Some(kind) = filter.kind {
        s.push(" AND kind = ").bind(kind.code());
    }
    match filter.workspace_id {
        None => {}
        Some(None) => {
            s.push(" AND workspace_id IS NULL");
        }
        Some(Some(w)) => {
            s.push(" AND workspace_id = ").bind(w);
        }
    }
    if let Some(p) = filter.principal_id {
        s.push(" AND principal_id = ").bind(p);
    }
    s.push(" ORDER BY created, id");
    s
}

pub(crate) async fn list(tx: &mut dyn Tx, account_id: &str, filter: &TokenFilter) -> Result<Vec<Token>, StoreError> {
    let rows = tx.rows(&select(account_id, filter)).await.map_err(|e| e.during("read tokens"))?;
    rows.into_iter().map(codec::token).collect()
}

pub(crate) async fn set_expiry(
    tx: &mut dyn Tx,
    id: &str,
    expires: Option<OffsetDateTime>,
    audit: &[AuditEntry],
) -> Result<bool, StoreError> {
    let expires = expires.map(nanos).transpose()?;
    let n = tx.execute(UPDATE_TOKEN_EXPIRY, &params![expires, id]).await.map_err(|e| e.during("set token expiry"))?;
    if n > 0 {
        record(tx, audit).await?;
    }
    Ok(n > 0)
}

pub(crate) async fn delete(tx: &mut dyn Tx, id: &str, audit: &[AuditEntry]) -> Result<bool, StoreError> {
    let n = tx.execute(DELETE_TOKEN, &params![id]).await.map_err(|e| e.during("delete token"))?;
    if n > 0 {
        record(tx, audit).await?;
    }
    Ok(n > 0)
}
