//! Bearer tokens. A token is 32 random bytes shown once to its owner as `dapi` + hex; the store keeps only its SHA-256,
//! which is what lookups use. The hash is compared again in constant time after the lookup, so neither the index nor
//! the comparison leaks how much of a guess was right. Tokens never appear in logs: [`Secret`] does not print.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::audit::{self, Actor, AuditEntry, Change, Operation, ResourceType};
use crate::error::{CoreError, Result, StoreError};
use crate::ids;
use crate::store::{Store, TokenFilter};

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

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An administrative credential (first start, CLI): acts in its scope as an admin, or as its principal.
    Admin,
    /// A personal access token of a user or service principal for one workspace (`/api/2.0/token/...`).
    Personal,
    /// An account SCIM token for an identity provider's connector: works on the account SCIM API only.
    Scim,
}

impl TokenKind {
    pub fn code(self) -> &'static str {
        match self {
            TokenKind::Admin => "admin",
            TokenKind::Personal => "personal",
            TokenKind::Scim => "scim",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "admin" => Some(TokenKind::Admin),
            "personal" => Some(TokenKind::Personal),
            "scim" => Some(TokenKind::Scim),
            _ => None,
        }
    }
}

/// A stored token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Public identifier, safe to log and show (the first 16 hex digits of the hash).
    pub id: String,
    pub hash: TokenHash,
    pub kind: TokenKind,
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
            kind: TokenKind::Admin,
            scope,
            principal_id,
            comment: comment.into(),
            created: now,
            expires,
        }
    }

    pub fn with_kind(self, kind: TokenKind) -> Token {
        Token { kind, ..self }
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// Lifetime of a personal access token created without one (as Databricks documents: two years).
pub const DEFAULT_PAT_LIFETIME: time::Duration = time::Duration::days(730);
/// How long the previous account SCIM token keeps working after a rotation, unless configured otherwise.
pub const DEFAULT_SCIM_ROTATION_GRACE: time::Duration = time::Duration::hours(24);

/// The longest lifetime a token, or a SCIM token rotation's grace period, may be given: 100 years. Beyond it, expiry
/// times stop being representable, and no client means it.
pub const MAX_LIFETIME: time::Duration = time::Duration::days(36_525);

/// `seconds` as a lifetime: from 1 (0 too, when `zero_ok`) to [`MAX_LIFETIME`] in seconds, else a 400 naming `name`
/// and the limit.
pub fn lifetime(name: &str, seconds: i64, zero_ok: bool) -> Result<time::Duration> {
    let max = MAX_LIFETIME.whole_seconds();
    let min = if zero_ok { 0 } else { 1 };
    if !(min..=max).contains(&seconds) {
        return Err(CoreError::invalid_value(format!(
            "{name} must be from {min} to {max} seconds (100 years), not {seconds}"
        )));
    }
    Ok(time::Duration::seconds(seconds))
}

/// `now + lifetime`, or a 400 when that is past the last representable time.
fn expiry(now: OffsetDateTime, lifetime: time::Duration) -> Result<OffsetDateTime> {
    now.checked_add(lifetime).ok_or_else(|| CoreError::invalid_value("the expiry time would be out of range"))
}

/// Creates a personal access token for `principal_id` in one workspace.
pub async fn create_personal(
    store: &dyn Store,
    workspace: &crate::tenancy::Workspace,
    principal_id: i64,
    lifetime_seconds: Option<i64>,
    comment: &str,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Secret, Token)> {
    let expires = match lifetime_seconds {
        None | Some(0) => expiry(now, DEFAULT_PAT_LIFETIME)?,
        Some(s) => expiry(now, lifetime("lifetime_seconds", s, false)?)?,
    };
    let secret = Secret::generate()?;
    let scope = TokenScope::Workspace { account_id: workspace.account_id.clone(), workspace_id: workspace.id };
    let token =
        Token::new(&secret, scope, Some(principal_id), comment, now, Some(expires)).with_kind(TokenKind::Personal);
    store.insert_token(&token, &[audit::token_created(actor, now, &token, Operation::Create)]).await?;
    Ok((secret, token))
}

/// Generates a new account SCIM token. Every earlier SCIM token of the account keeps working for `grace` (or less,
/// if it was to expire sooner), then fails: an identity provider's connector can be switched over without downtime.
pub async fn rotate_scim_token(
    store: &dyn Store,
    account_id: &str,
    grace: time::Duration,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Secret, Token)> {
    let filter = TokenFilter { kind: Some(TokenKind::Scim), ..TokenFilter::default() };
    if grace.is_negative() || grace > MAX_LIFETIME {
        return Err(CoreError::invalid_value(format!(
            "the grace period must be from 0 to {} seconds (100 years)",
            MAX_LIFETIME.whole_seconds()
        )));
    }
    let until = expiry(now, grace)?;
    for old in store.tokens(account_id, &filter).await? {
        if old.expires.is_none_or(|e| e > until) {
            let change = Change::set(
                "expiry_time",
                old.expires.map(|e| audit::rfc3339(e).into()).as_ref(),
                Some(&audit::rfc3339(until).into()),
            );
            let entry = AuditEntry::new(actor, now, account_id, ResourceType::Token, &old.id, Operation::Expire)
                .with_changes([change]);
            store.set_token_expiry(&old.id, Some(until), &[entry]).await?;
        }
    }
    let secret = Secret::generate()?;
    let scope = TokenScope::Account { account_id: account_id.to_string() };
    let token = Token::new(&secret, scope, None, "account SCIM token", now, None).with_kind(TokenKind::Scim);
    store.insert_token(&token, &[audit::token_created(actor, now, &token, Operation::Rotate)]).await?;
    Ok((secret, token))
}

/// Stores a token made elsewhere (an administrative token of the command line or the first start).
pub async fn insert(store: &dyn Store, token: &Token, now: OffsetDateTime, actor: &Actor) -> Result<()> {
    Ok(store.insert_token(token, &[audit::token_created(actor, now, token, Operation::Create)]).await?)
}

/// Revokes a token; false if it did not exist.
pub async fn revoke(store: &dyn Store, token: &Token, now: OffsetDateTime, actor: &Actor) -> Result<bool> {
    let workspace_id = match token.scope {
        TokenScope::Workspace { workspace_id, .. } => Some(workspace_id),
        TokenScope::Account { .. } => None,
    };
    let entry =
        AuditEntry::new(actor, now, token.scope.account_id(), ResourceType::Token, &token.id, Operation::Delete)
            .in_workspace(workspace_id);
    Ok(store.delete_token(&token.id, &[entry]).await?)
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
