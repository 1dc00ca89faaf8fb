//! Tenants' and tenant tokens' transaction scripts.

use idplane_core::error::StoreError;
use idplane_core::token::TokenHash;
use idplane_provisioning::tenant::{Tenant, TenantToken};

use crate::codec::{nanos, time};
use crate::tx::{Row, Tx, params};

const TENANT_COLUMNS: &str = "id, name, default_domain, account_id, created";
const TOKEN_COLUMNS: &str = "id, hash, tenant_id, comment, created, expires";

fn tenant(mut r: Row) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: r.text(0)?,
        name: r.text(1)?,
        default_domain: r.text(2)?,
        account_id: r.opt_text(3)?,
        created: time(r.int(4)?)?,
    })
}

fn token(mut r: Row) -> Result<TenantToken, StoreError> {
    let hash: [u8; 32] =
        r.bytes(1)?.try_into().map_err(|_| StoreError::Backend("a stored token hash is not 32 bytes".into()))?;
    Ok(TenantToken {
        id: r.text(0)?,
        hash: TokenHash(hash),
        tenant_id: r.text(2)?,
        comment: r.text(3)?,
        created: time(r.int(4)?)?,
        expires: r.opt_int(5)?.map(time).transpose()?,
    })
}

pub(crate) async fn insert(tx: &mut dyn Tx, t: &Tenant) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO tenants ({TENANT_COLUMNS}) VALUES (?, ?, ?, ?, ?)");
    let p =
        params![t.id.as_str(), t.name.as_str(), t.default_domain.as_str(), t.account_id.as_deref(), nanos(t.created)?];
    tx.execute(&sql, &p).await.map_err(|e| e.conflict("insert tenant", "account_id"))?;
    Ok(())
}

pub(crate) async fn by_id(tx: &mut dyn Tx, id: &str) -> Result<Option<Tenant>, StoreError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?");
    tx.first(&sql, &params![id]).await.map_err(|e| e.during("read tenant"))?.map(tenant).transpose()
}

pub(crate) async fn of_account(tx: &mut dyn Tx, account_id: &str) -> Result<Option<Tenant>, StoreError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE account_id = ?");
    tx.first(&sql, &params![account_id]).await.map_err(|e| e.during("read tenant"))?.map(tenant).transpose()
}

pub(crate) async fn all(tx: &mut dyn Tx) -> Result<Vec<Tenant>, StoreError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY created, id");
    tx.query(&sql, &[]).await.map_err(|e| e.during("read tenants"))?.into_iter().map(tenant).collect()
}

pub(crate) async fn insert_token(tx: &mut dyn Tx, t: &TenantToken) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO tenant_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)");
    let expires = t.expires.map(nanos).transpose()?;
    let p = params![
        t.id.as_str(),
        t.hash.0.as_slice(),
        t.tenant_id.as_str(),
        t.comment.as_str(),
        nanos(t.created)?,
        expires
    ];
    tx.execute(&sql, &p).await.map_err(|e| e.conflict("insert tenant token", "hash"))?;
    Ok(())
}

pub(crate) async fn token_by_hash(tx: &mut dyn Tx, hash: &TokenHash) -> Result<Option<TenantToken>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tenant_tokens WHERE hash = ?");
    tx.first(&sql, &params![hash.0.as_slice()]).await.map_err(|e| e.during("read tenant token"))?.map(token).transpose()
}

pub(crate) async fn tokens(tx: &mut dyn Tx, tenant_id: &str) -> Result<Vec<TenantToken>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tenant_tokens WHERE tenant_id = ? ORDER BY created, id");
    tx.query(&sql, &params![tenant_id])
        .await
        .map_err(|e| e.during("read tenant tokens"))?
        .into_iter()
        .map(token)
        .collect()
}

pub(crate) async fn delete_token(tx: &mut dyn Tx, id: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute("DELETE FROM tenant_tokens WHERE id = ?", &params![id])
        .await
        .map_err(|e| e.during("delete tenant token"))?;
    Ok(n > 0)
}
