//! Bearer tokens. A token is 32 random bytes shown once to its owner as `dapi` + hex; the store keeps only its SHA-256,
//! which is what lookups use. The hash is compared again in constant time after the lookup, so neither the index nor
//! the comparison leaks how much of a guess was right. Tokens never appear in logs: [`Secret`] does not print.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids;

/// The prefix of generated tokens, as Databricks personal access tokens have.
pub const TOKEN_PREFIX: &str = "dapi";

/// A token value in clear. Debug and Display print nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// A fresh random token: `dapi` followed by 64 hex digits (256 bits).
    pub fn generate() -> Result<Self, StoreError> {
        Ok(Secret(format!("{TOKEN_PREFIX}{}", hex::encode(ids::secret_bytes()?))))
    }

    /// The value, for showing once to the token's owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// SHA-256 of a token value: what the store keeps and looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(value: &str) -> Self {
        TokenHash(Sha256::digest(value.as_bytes()).into())
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Where a token may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// The account's SCIM API, and the workspace APIs of that account's workspaces.
    Account { account_id: String },
    /// One workspace's APIs only.
    Workspace { account_id: String, workspace_id: i64 },
}

impl TokenScope {
    pub fn account_id(&self) -> &str {
        match self {
            TokenScope::Account { account_id } | TokenScope::Workspace { account_id, .. } => account_id,
        }
    }
}

/// A stored token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Public identifier, safe to log and show (the first 16 hex digits of the hash).
    pub id: String,
    pub hash: TokenHash,
    pub scope: TokenScope,
    /// The principal the token acts as, when it has one (`/Me`).
    pub principal_id: Option<i64>,
    pub comment: String,
    pub created: OffsetDateTime,
    pub expires: Option<OffsetDateTime>,
}

impl Token {
    /// A new token record for `secret`.
    pub fn new(
        secret: &Secret,
        scope: TokenScope,
        principal_id: Option<i64>,
        comment: impl Into<String>,
        now: OffsetDateTime,
        expires: Option<OffsetDateTime>,
    ) -> Token {
        let hash = secret.hash();
        Token {
            id: hex::encode(&hash.0[..8]),
            hash,
            scope,
            principal_id,
            comment: comment.into(),
            created: now,
            expires,
        }
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_distinct_and_hidden() -> Result<(), StoreError> {
        let a = Secret::generate()?;
        let b = Secret::generate()?;
        assert_ne!(a, b);
        assert!(a.expose().starts_with("dapi") && a.expose().len() == 68);
        assert_eq!(format!("{a:?}"), "Secret(***)");
        assert!(a.hash().matches(&TokenHash::of(a.expose())));
        assert!(!a.hash().matches(&b.hash()));
        Ok(())
    }

    #[test]
    fn expiry_is_inclusive_of_the_instant() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let s = Secret::new("x".into());
        let t = Token::new(&s, TokenScope::Account { account_id: "a".into() }, None, "", now, Some(now));
        assert!(t.is_expired(now));
        let t = Token { expires: None, ..t };
        assert!(!t.is_expired(now));
    }
}
