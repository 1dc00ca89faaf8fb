//! Authentication and authorization of API requests by bearer token.

use time::OffsetDateTime;

use crate::error::{CoreError, Result};
use crate::store::Store;
use crate::tenancy::Scope;
use crate::token::{Token, TokenHash, TokenScope};

/// The token presented in an `Authorization` header value, checked against the store. Unknown, expired and
/// malformed tokens are all [`CoreError::Unauthenticated`], with a detail that says which without echoing the token.
pub async fn authenticate(store: &dyn Store, authorization: Option<&str>, now: OffsetDateTime) -> Result<Token> {
    let Some(header) = authorization else {
        return Err(CoreError::Unauthenticated("send a token in the header \"Authorization: Bearer <token>\"".into()));
    };
    let mut parts = header.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let value = parts.next().map(str::trim).unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("bearer") || value.is_empty() {
        return Err(CoreError::Unauthenticated("the Authorization header must be \"Bearer <token>\"".into()));
    }
    let hash = TokenHash::of(value);
    let token = store
        .token_by_hash(&hash)
        .await?
        .filter(|t| t.hash.matches(&hash))
        .ok_or_else(|| CoreError::Unauthenticated("the token is not valid".into()))?;
    if token.is_expired(now) {
        return Err(CoreError::Unauthenticated("the token has expired".into()));
    }
    Ok(token)
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
