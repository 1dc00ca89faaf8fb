//! Authentication and authorization of API requests by bearer token.

use time::OffsetDateTime;

use serde_json::Value;

use crate::assignment::Permission;
use crate::error::{CoreError, Result};
use crate::principal::{Home, Principal};
use crate::store::Store;

/// The account role that makes an account admin.
pub const ACCOUNT_ADMIN: &str = "account_admin";
use crate::tenancy::Scope;
use crate::token::{Token, TokenHash, TokenScope};

/// The token presented in an `Authorization` header value, checked against the store. Unknown, expired and
/// malformed tokens are all [`CoreError::Unauthenticated`], with a detail that says which without echoing the token.
pub async fn authenticate(store: &dyn Store, authorization: Option<&str>, now: OffsetDateTime) -> Result<Token> {
    let token = token_of(store, &bearer(authorization)?).await?;
    unexpired(&token, now)?;
    Ok(token)
}

/// The hash of the bearer token in an `Authorization` header value.
pub fn bearer(authorization: Option<&str>) -> Result<TokenHash> {
    let Some(header) = authorization else {
        return Err(CoreError::Unauthenticated("send a token in the header \"Authorization: Bearer <token>\"".into()));
    };
    let mut parts = header.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let value = parts.next().map(str::trim).unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("bearer") || value.is_empty() {
        return Err(CoreError::Unauthenticated("the Authorization header must be \"Bearer <token>\"".into()));
    }
    Ok(TokenHash::of(value))
}

/// The stored token with this hash (compared in constant time), expired or not.
pub async fn token_of(store: &dyn Store, hash: &TokenHash) -> Result<Token> {
    store
        .token_by_hash(hash)
        .await?
        .filter(|t| t.hash.matches(hash))
        .ok_or_else(|| CoreError::Unauthenticated("the token is not valid".into()))
}

/// A 401 for a token past its expiry.
pub fn unexpired(token: &Token, now: OffsetDateTime) -> Result<()> {
    if token.is_expired(now) {
        return Err(CoreError::Unauthenticated("the token has expired".into()));
    }
    Ok(())
}

/// What a caller may do in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// May read what the scope shows its users, and itself (`/Me`).
    User,
    /// May also change identities, assignments and tokens.
    Admin,
}

/// Is `principal` an account admin (role `account_admin` in its account-level `roles`)?
pub fn is_account_admin(principal: &Principal) -> bool {
    principal.home == Home::Account
        && principal
            .doc
            .get("roles")
            .and_then(Value::as_array)
            .is_some_and(|roles| roles.iter().any(|r| r.get("value").and_then(Value::as_str) == Some(ACCOUNT_ADMIN)))
}

/// The role of the bearer of `token` in `scope` (which [`authorize`] has accepted), or a 403.
///
/// - A token without a principal is an administrative credential of its scope (the CLI creates such tokens).
/// - At account level, only account admins may act.
/// - In a workspace, a principal's role is its effective permission there: its own assignment or its groups'
///   (ADMIN makes an admin), or membership of the workspace's built-in `admins` group. Principals local to the
///   workspace are its users.
pub async fn role(store: &dyn Store, token: &Token, scope: &Scope) -> Result<Role> {
    let Some(principal_id) = token.principal_id else { return Ok(Role::Admin) };
    let account_scope = Scope::Account { account_id: token.scope.account_id().to_string() };
    let principal = match store.principal(&account_scope, None, principal_id).await? {
        Some(p) => Some(p),
        None => match scope {
            Scope::Workspace { .. } => store.principal(scope, None, principal_id).await?,
            Scope::Account { .. } => None,
        },
    };
    let Some(principal) = principal else {
        return Err(CoreError::PermissionDenied("the identity of this token no longer exists".into()));
    };
    if principal.doc.get("active") == Some(&Value::Bool(false)) {
        return Err(CoreError::PermissionDenied("the identity of this token is deactivated".into()));
    }
    match scope {
        Scope::Account { .. } if is_account_admin(&principal) => Ok(Role::Admin),
        Scope::Account { .. } => Err(CoreError::PermissionDenied("only account admins may use the account API".into())),
        Scope::Workspace { workspace_id, .. } => {
            let permission = store.effective_permission(*workspace_id, principal.id).await?;
            let member = permission.is_some() || principal.home == Home::Workspace(*workspace_id);
            if member
                && permission != Some(Permission::Admin)
                && let Some(workspace) = store.workspace(*workspace_id).await?
                && crate::workspaces::in_admins_group(store, &workspace, principal.id).await?
            {
                return Ok(Role::Admin);
            }
            match permission {
                Some(Permission::Admin) => Ok(Role::Admin),
                Some(Permission::User) => Ok(Role::User),
                None if member => Ok(Role::User),
                None => Err(CoreError::PermissionDenied(format!(
                    "principal {} is not assigned to workspace {workspace_id}",
                    principal.id
                ))),
            }
        }
    }
}

/// May `token` act in `scope`? An account token works on its account and the account's workspaces; a workspace
/// token only on its workspace.
pub fn authorize(token: &Token, scope: &Scope) -> Result<()> {
    let allowed = match (&token.scope, scope) {
        (TokenScope::Account { account_id }, s) => account_id == s.account_id(),
        (TokenScope::Workspace { workspace_id, .. }, Scope::Workspace { workspace_id: w, .. }) => workspace_id == w,
        (TokenScope::Workspace { .. }, Scope::Account { .. }) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(CoreError::PermissionDenied("this token is not valid for this account or workspace".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Secret;

    fn token(scope: TokenScope) -> Token {
        Token::new(&Secret::new("t".into()), scope, None, "", OffsetDateTime::UNIX_EPOCH, None)
    }

    #[test]
    fn tokens_act_only_in_their_scope() {
        let acct = token(TokenScope::Account { account_id: "a".into() });
        let ws = token(TokenScope::Workspace { account_id: "a".into(), workspace_id: 7 });
        let a = Scope::Account { account_id: "a".into() };
        let b = Scope::Account { account_id: "b".into() };
        let w7 = Scope::Workspace { account_id: "a".into(), workspace_id: 7, federated: true };
        let w8 = Scope::Workspace { account_id: "a".into(), workspace_id: 8, federated: true };
        let bw = Scope::Workspace { account_id: "b".into(), workspace_id: 9, federated: true };
        assert!(authorize(&acct, &a).is_ok());
        assert!(authorize(&acct, &w7).is_ok());
        assert!(authorize(&acct, &b).is_err());
        assert!(authorize(&acct, &bw).is_err());
        assert!(authorize(&ws, &w7).is_ok());
        assert!(authorize(&ws, &w8).is_err());
        assert!(authorize(&ws, &a).is_err());
    }
}
