//! Who is asking and where: the bearer token, the scope (an account's or a workspace's SCIM API) and the SCIM base
//! URL of the request, resolved once per request by the [`Ctx`] extractor.

use axum::extract::{FromRequestParts, OriginalUri, RawPathParams};
use axum::http::header::{self, HeaderName};
use axum::http::request::Parts;
use idplane_core::CoreError;
use idplane_core::access::{self, Role, authorize};
use idplane_core::audit::Actor;
use idplane_core::bootstrap;
use idplane_core::tenancy::Scope;
use idplane_core::tenancy::Workspace;
use idplane_core::token::{Token, TokenKind, TokenScope};
use time::OffsetDateTime;

use crate::AppState;
use crate::body::header_str;
use crate::databricks::DbError;
use crate::error::ApiError;
use crate::log::RequestId;
use idplane_scim::ScimError;

pub static X_DATABRICKS_WORKSPACE_ID: HeaderName = HeaderName::from_static("x-databricks-workspace-id");
pub static X_DATABRICKS_ORG_ID: HeaderName = HeaderName::from_static("x-databricks-org-id");

/// The context of an authenticated SCIM request.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub token: Token,
    pub scope: Scope,
    /// Absolute SCIM base URL of this request, such as `http://host/api/2.0/preview/scim/v2`.
    pub base_url: String,
    pub now: OffsetDateTime,
    /// What the caller may do in the scope.
    pub role: Role,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

impl Ctx {
    /// Who makes the changes of this request, for the audit log.
    pub fn actor(&self) -> Actor {
        Actor::of_token(&self.token, self.request_id.clone())
    }

    /// A 403 unless the caller administers the scope.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::User => Err(CoreError::PermissionDenied(match self.scope {
                Scope::Account { .. } => "only account admins may change identities".into(),
                Scope::Workspace { workspace_id, .. } => {
                    format!("only admins of workspace {workspace_id} may change its identities")
                }
            })
            .into()),
        }
    }
}

/// Which SCIM API a path belongs to, and the path prefix that is its base.
#[derive(Debug, PartialEq, Eq)]
pub enum Level<'a> {
    Account {
        account_id: &'a str,
        base: &'a str,
    },
    Workspace {
        base: &'a str,
    },
    /// The account's SCIM API as a workspace shows it to its admins, read-only (`/api/2.0/account/scim/v2`).
    AccountProxy {
        base: &'a str,
    },
}

impl Level<'_> {
    /// The path prefix of the SCIM base.
    pub fn base(&self) -> &str {
        match self {
            Level::Account { base, .. } | Level::Workspace { base } | Level::AccountProxy { base } => base,
        }
    }
}

/// Classifies a request path: `/api/2.1/accounts/{account_id}/scim/v2/...` (the Account SCIM URL Databricks' account
/// console shows) or `/api/2.0/accounts/{account_id}/scim/v2/...` (what the SDKs call), or
/// `/api/2.0/preview/scim[/v2]/...`.
pub fn level(path: &str) -> Option<Level<'_>> {
    for prefix in ["/api/2.1/accounts/", "/api/2.0/accounts/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let account_id = rest.split('/').next().filter(|s| !s.is_empty())?;
            let base_len = prefix.len() + account_id.len() + "/scim/v2".len();
            let base = path.get(..base_len)?;
            let at_base = path.len() == base_len || path[base_len..].starts_with('/');
            return (base.ends_with("/scim/v2") && at_base).then_some(Level::Account { account_id, base });
        }
    }
    let proxy = "/api/2.0/account/scim/v2";
    if path == proxy || path.starts_with("/api/2.0/account/scim/v2/") {
        return Some(Level::AccountProxy { base: proxy });
    }
    if path.starts_with("/api/2.0/preview/scim") {
        let v2 = "/api/2.0/preview/scim/v2";
        let base =
            if path == v2 || path.starts_with("/api/2.0/preview/scim/v2/") { v2 } else { "/api/2.0/preview/scim" };
        return Some(Level::Workspace { base });
    }
    None
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let path = original_path(parts);
        let Some(level) = level(&path) else {
            return Err(ApiError::status(404, format!("no SCIM API at {path}")));
        };
        let token = authenticated(state, parts, now).await?;
        let (scope, base) = match level {
            Level::Account { account_id, base } => (account_scope(&token, account_id)?, base),
            Level::Workspace { base } => (workspace_scope(state, parts, &token).await?, base),
            Level::AccountProxy { base } => {
                let workspace = workspace_scope(state, parts, &token).await?;
                authorize(&token, &workspace)?;
                if role(state, &token, &workspace).await? != Role::Admin {
                    return Err(CoreError::PermissionDenied(
                        "only workspace admins may read the account's identities".into(),
                    )
                    .into());
                }
                let account = Scope::Account { account_id: workspace.account_id().to_string() };
                let base_url = format!("{}{}", origin(parts, state), base);
                // Read-only: as a user of the account scope, every write is refused.
                let request_id = RequestId::of(parts);
                return Ok(Ctx { token, scope: account, base_url, now, role: Role::User, request_id });
            }
        };
        authorize(&token, &scope)?;
        let role = role(state, &token, &scope).await?;
        let base_url = format!("{}{}", origin(parts, state), base);
        Ok(Ctx { token, scope, base_url, now, role, request_id: RequestId::of(parts) })
    }
}

/// The request path before nesting stripped it.
pub fn original_path(parts: &Parts) -> String {
    parts
        .extensions
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string())
}

/// The token of a request, checked.
/// Every API authenticates through here, so this is also where each token's rate is limited.
pub async fn authenticated(state: &AppState, parts: &Parts, now: OffsetDateTime) -> Result<Token, ApiError> {
    let hash = access::bearer(header_str(&parts.headers, &header::AUTHORIZATION))?;
    let token = match state.auth_cache.token(&hash) {
        Some(token) => token,
        None => {
            let token = access::token_of(state.store.as_ref(), &hash).await?;
            state.auth_cache.put_token(hash, &token);
            token
        }
    };
    access::unexpired(&token, now)?;
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(token.scope.account_id()));
    match token.principal_id {
        Some(p) => span.record("principal", p),
        None => span.record("principal", tracing::field::display("none")),
    };
    if let Some(account) = parts.extensions.get::<crate::metrics::RequestAccount>() {
        account.set(token.scope.account_id());
    }
    if let Err(seconds) = state.limiter.check(&token.id, state.clock.instant()) {
        state.metrics.rate_limited(token.scope.account_id());
        return Err(CoreError::RateLimited(seconds).into());
    }
    Ok(token)
}

/// The role of the bearer of `token` in `scope` ([`access::role`]), cached for the auth cache's time to live.
pub async fn role(state: &AppState, token: &Token, scope: &Scope) -> Result<Role, ApiError> {
    if let Some(role) = state.auth_cache.role(&token.id, scope) {
        return Ok(role);
    }
    let role = access::role(state.store.as_ref(), token, scope).await?;
    state.auth_cache.put_role(&token.id, scope, role);
    Ok(role)
}

/// A workspace by id, through the auth cache.
pub async fn workspace(state: &AppState, id: i64) -> Result<Option<Workspace>, ApiError> {
    if let Some(workspace) = state.auth_cache.workspace(id) {
        return Ok(Some(workspace));
    }
    let workspace = state.store.workspace(id).await.map_err(CoreError::from)?;
    if let Some(workspace) = &workspace {
        state.auth_cache.put_workspace(workspace);
    }
    Ok(workspace)
}

/// The default workspace, through the auth cache.
async fn default_workspace(state: &AppState) -> Result<Option<Workspace>, ApiError> {
    if let Some(workspace) = state.auth_cache.default_workspace() {
        return Ok(Some(workspace));
    }
    let workspace = bootstrap::defaults(state.store.as_ref()).await?.map(|(_, ws)| ws);
    if let Some(workspace) = &workspace {
        state.auth_cache.put_default_workspace(workspace);
    }
    Ok(workspace)
}

/// A 403 for an account SCIM token outside the account SCIM API: identity providers get no more than they need.
pub fn refuse_scim_token(token: &Token) -> Result<(), ApiError> {
    if token.kind == TokenKind::Scim {
        return Err(
            CoreError::PermissionDenied("an account SCIM token works on the account SCIM API only".into()).into()
        );
    }
    Ok(())
}

/// The caller of a workspace-level API: the token, its workspace and its role there.
#[derive(Debug, Clone)]
pub struct WorkspaceCaller {
    pub token: Token,
    pub workspace: Workspace,
    pub role: Role,
    pub now: OffsetDateTime,
    pub request_id: Option<String>,
}

impl WorkspaceCaller {
    /// Who makes the changes of this request, for the audit log.
    pub fn actor(&self) -> Actor {
        Actor::of_token(&self.token, self.request_id.clone())
    }

    pub async fn of(state: &AppState, parts: &Parts) -> Result<WorkspaceCaller, ApiError> {
        let now = state.clock.now();
        let token = authenticated(state, parts, now).await?;
        let scope = workspace_scope(state, parts, &token).await?;
        authorize(&token, &scope)?;
        let role = role(state, &token, &scope).await?;
        let id = scope.workspace_id().unwrap_or_default();
        let workspace = workspace(state, id)
            .await?
            .ok_or_else(|| ApiError::status(404, format!("workspace {id} does not exist")))?;
        Ok(WorkspaceCaller { token, workspace, role, now, request_id: RequestId::of(parts) })
    }
}

/// As an extractor, a workspace caller's errors are Databricks errors (the workspace APIs outside SCIM).
impl FromRequestParts<AppState> for WorkspaceCaller {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DbError> {
        Ok(WorkspaceCaller::of(state, parts).await?)
    }
}

/// An account admin calling an account API (`/api/2.0/accounts/{account_id}/...`, the account from the path): an
/// account token of that account whose principal is an account admin, or that has none (an administrative token).
/// An account SCIM token is refused: it is for the identity provider's connector only.
pub struct AccountAdmin {
    pub account_id: String,
    pub token: Token,
    pub now: OffsetDateTime,
    pub request_id: Option<String>,
}

impl AccountAdmin {
    /// Who makes the changes of this request, for the audit log.
    pub fn actor(&self) -> Actor {
        Actor::of_token(&self.token, self.request_id.clone())
    }
}

impl FromRequestParts<AppState> for AccountAdmin {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DbError> {
        let now = state.clock.now();
        let account_id = path_param(parts, state, "account_id").await?;
        let token = authenticated(state, parts, now).await?;
        refuse_scim_token(&token)?;
        let scope = account_scope(&token, &account_id)?;
        authorize(&token, &scope)?;
        if role(state, &token, &scope).await? != Role::Admin {
            return Err(CoreError::PermissionDenied("only account admins may use this API".into()).into());
        }
        if state.store.account(&account_id).await.map_err(CoreError::from)?.is_none() {
            return Err(ScimError::not_found(format!("account {account_id} does not exist")).into());
        }
        Ok(AccountAdmin { account_id, token, now, request_id: RequestId::of(parts) })
    }
}

/// A path parameter of the matched route; a missing one names no endpoint (404).
pub async fn path_param(parts: &mut Parts, state: &AppState, name: &str) -> Result<String, DbError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| DbError::from(ScimError::not_found("no such endpoint")))?;
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| ScimError::not_found("no such endpoint").into())
}

/// The account scope of `account_id` for `token`, or a 403: account APIs take account tokens of that account only.
pub fn account_scope(token: &Token, account_id: &str) -> Result<Scope, ApiError> {
    if token.scope.account_id() != account_id || matches!(token.scope, TokenScope::Workspace { .. }) {
        return Err(CoreError::PermissionDenied("this token is not valid for this account's API".into()).into());
    }
    Ok(Scope::Account { account_id: account_id.to_string() })
}

/// The workspace a workspace-level request addresses: a workspace token's own (naming another one is a 403); else
/// the one named by `X-Databricks-Workspace-Id` (or the legacy `X-Databricks-Org-Id`); else the default workspace.
pub async fn workspace_scope(state: &AppState, parts: &Parts, token: &Token) -> Result<Scope, ApiError> {
    refuse_scim_token(token)?;
    let named = named_workspace(parts)?;
    let id = match (&token.scope, named) {
        (TokenScope::Workspace { workspace_id, .. }, Some(named)) if named != workspace_id.to_string() => {
            return Err(CoreError::PermissionDenied(format!(
                "this token is for workspace {workspace_id}, not for workspace {named}"
            ))
            .into());
        }
        (TokenScope::Workspace { workspace_id, .. }, _) => *workspace_id,
        (_, Some(named)) => named.parse::<i64>().map_err(|_| {
            ApiError::status(400, format!("X-Databricks-Workspace-Id must be a workspace id (digits), not \"{named}\""))
        })?,
        (_, None) => match default_workspace(state).await? {
            Some(ws) => ws.id,
            None => {
                return Err(ApiError::status(
                    404,
                    "there is no default workspace; name one with X-Databricks-Workspace-Id",
                ));
            }
        },
    };
    match workspace(state, id).await? {
        Some(ws) if ws.account_id == token.scope.account_id() => Ok(Scope::for_workspace(&ws)),
        _ => Err(CoreError::PermissionDenied(format!("this token is not valid for workspace {id}")).into()),
    }
}

/// The workspace a request names with `X-Databricks-Workspace-Id` (or else the legacy `X-Databricks-Org-Id`),
/// trimmed. A header that is present but not text (a byte outside visible ASCII) is a 400: taken as absent, it would
/// send the request to the default workspace.
fn named_workspace(parts: &Parts) -> Result<Option<&str>, ApiError> {
    for name in [&X_DATABRICKS_WORKSPACE_ID, &X_DATABRICKS_ORG_ID] {
        if let Some(value) = parts.headers.get(name) {
            let text = value.to_str().map_err(|_| {
                ApiError::status(
                    400,
                    format!(
                        "the {name} header must be a workspace id (digits); this one holds bytes that are not ASCII"
                    ),
                )
            })?;
            return Ok(Some(text.trim()));
        }
    }
    Ok(None)
}

/// `scheme://host[:port]` as the client addressed this server.
pub fn origin(parts: &Parts, state: &AppState) -> String {
    if let Some(public) = &state.public_url {
        return public.trim_end_matches('/').to_string();
    }
    let own = if state.tls { "https" } else { "http" };
    let proto = header_str(&parts.headers, &HeaderName::from_static("x-forwarded-proto")).unwrap_or(own);
    let host = header_str(&parts.headers, &HeaderName::from_static("x-forwarded-host"))
        .or_else(|| header_str(&parts.headers, &header::HOST))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    format!("{proto}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_levels_and_bases() {
        assert_eq!(
            level("/api/2.0/accounts/abc/scim/v2/Users/1"),
            Some(Level::Account { account_id: "abc", base: "/api/2.0/accounts/abc/scim/v2" })
        );
        assert_eq!(level("/api/2.0/accounts/abc/workspaces"), None);
        assert_eq!(
            level("/api/2.1/accounts/abc/scim/v2/Groups"),
            Some(Level::Account { account_id: "abc", base: "/api/2.1/accounts/abc/scim/v2" })
        );
        assert_eq!(level("/api/2.1/accounts/abc/scim/v2x"), None);
        assert_eq!(level("/api/2.1/accounts/abc/workspaces"), None);
        assert_eq!(
            level("/api/2.0/preview/scim/v2/Users"),
            Some(Level::Workspace { base: "/api/2.0/preview/scim/v2" })
        );
        assert_eq!(level("/api/2.0/preview/scim/Users"), Some(Level::Workspace { base: "/api/2.0/preview/scim" }));
        assert_eq!(level("/api/2.0/preview/scim/v2"), Some(Level::Workspace { base: "/api/2.0/preview/scim/v2" }));
        assert_eq!(level("/other"), None);
    }
}
