//! Tenants: the directories the provisioning service hosts, each with a GUID id, isolated from each other as
//! accounts are. Who administers a tenant: the holders of its own tenant tokens (`idplane tenant create` makes one),
//! and, for a tenant linked to an identity-service account (the default tenant is linked to the default account),
//! that account's administrators, so that the admin token of the first start works on both sides.

use idplane_core::error::StoreError;
use idplane_core::token::{Secret, TokenHash};
use time::OffsetDateTime;

use crate::error::{ProvisioningError, Result};
use crate::ids;
use crate::store::TenantStore;

/// A tenant (a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// A GUID, as Entra ID's tenant ids.
    pub id: String,
    pub name: String,
    /// The domain of the tenant's `DefaultDomain()` and of user principal names it suggests
    /// (`<name>.onmicrosoft.com` in Entra; idplane's default is `<name>.idplane.test`).
    pub default_domain: String,
    /// The identity-service account whose administrators administer this tenant too, if any.
    pub account_id: Option<String>,
    pub created: OffsetDateTime,
}

/// A token that administers one tenant. Like the identity service's tokens, the store keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantToken {
    /// Public identifier, safe to log and show (the first 16 hex digits of the hash).
    pub id: String,
    pub hash: TokenHash,
    pub tenant_id: String,
    pub comment: String,
    pub created: OffsetDateTime,
    pub expires: Option<OffsetDateTime>,
}

impl TenantToken {
    pub fn new(secret: &Secret, tenant_id: &str, comment: &str, now: OffsetDateTime) -> TenantToken {
        let hash = secret.hash();
        TenantToken {
            id: hex::encode(&hash.0[..8]),
            hash,
            tenant_id: tenant_id.to_string(),
            comment: comment.to_string(),
            created: now,
            expires: None,
        }
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// The longest tenant name.
pub const MAX_NAME: usize = 256;

/// The default domain of a tenant named `name`: its letters and digits, lowercased, under `idplane.test` (a
/// reserved name: it never resolves, so nothing is ever sent to it by mistake).
pub fn default_domain(name: &str) -> String {
    let label: String =
        name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).take(48).collect();
    format!("{}.idplane.test", if label.is_empty() { "tenant" } else { &label })
}

/// Checks a domain name: labels of letters, digits and hyphens, separated by dots.
pub fn check_domain(domain: &str) -> Result<()> {
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(ProvisioningError::invalid_property("defaultDomain", format!("'{domain}' is not a domain name")))
    }
}

/// Creates a tenant; with `token`, also a tenant token for it (returned in clear, to show once).
pub async fn create(
    store: &dyn TenantStore,
    name: &str,
    domain: Option<&str>,
    account_id: Option<&str>,
    with_token: bool,
    now: OffsetDateTime,
) -> Result<(Tenant, Option<Secret>)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ProvisioningError::invalid_property(
            "name",
            format!("a tenant name has 1 to {MAX_NAME} characters"),
        ));
    }
    let default_domain = match domain {
        Some(d) => {
            check_domain(d)?;
            d.to_ascii_lowercase()
        }
        None => default_domain(name),
    };
    let tenant = Tenant {
        id: ids::random_guid()?,
        name: name.to_string(),
        default_domain,
        account_id: account_id.map(str::to_string),
        created: now,
    };
    store.insert_tenant(&tenant).await?;
    let secret = if with_token { Some(create_token(store, &tenant.id, "tenant admin", now).await?) } else { None };
    Ok((tenant, secret))
}

/// A new token administering `tenant_id`, in clear (to show once).
pub async fn create_token(
    store: &dyn TenantStore,
    tenant_id: &str,
    comment: &str,
    now: OffsetDateTime,
) -> Result<Secret> {
    let secret = Secret::generate()?;
    store.insert_tenant_token(&TenantToken::new(&secret, tenant_id, comment, now)).await?;
    Ok(secret)
}

/// The tenant a tenant token administers, if `hash` is one (compared in constant time) and it has not expired.
pub async fn by_token(
    store: &dyn TenantStore,
    hash: &TokenHash,
    now: OffsetDateTime,
) -> Result<Option<Tenant>, StoreError> {
    let Some(token) = store.tenant_token_by_hash(hash).await?.filter(|t| t.hash.matches(hash)) else {
        return Ok(None);
    };
    if token.is_expired(now) {
        return Ok(None);
    }
    store.tenant(&token.tenant_id).await
}

/// The tenant linked to `account_id`, created (named "default") if it has none: the first start links the default
/// tenant to the default account this way, and a store made before the provisioning service gets one on its next
/// start. Nodes starting together create it once (the store keeps one tenant per account).
pub async fn ensure_for_account(store: &dyn TenantStore, account_id: &str, now: OffsetDateTime) -> Result<Tenant> {
    if let Some(t) = store.tenant_of_account(account_id).await? {
        return Ok(t);
    }
    match create(store, "default", None, Some(account_id), false, now).await {
        Ok((t, _)) => Ok(t),
        Err(ProvisioningError::Store(StoreError::Conflict(_))) => store
            .tenant_of_account(account_id)
            .await?
            .ok_or_else(|| ProvisioningError::Busy("the default tenant is being created; try again".into())),
        Err(e) => Err(e),
    }
}
