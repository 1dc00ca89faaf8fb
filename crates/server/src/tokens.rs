//! The Databricks token APIs of a workspace: personal access tokens (`/api/2.0/token/...`, for the caller's own
//! tokens) and token management (`/api/2.0/token-management/...`, for workspace admins, including tokens created on
//! behalf of service principals). Errors are Databricks errors.

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use idplane_core::CoreError;
use idplane_core::access::Role;
use idplane_core::identities;
use idplane_core::principal::{Principal, PrincipalKind};
use idplane_core::store::TokenFilter;
use idplane_core::tenancy::Scope;
use idplane_core::token::{self, Token, TokenKind};
use idplane_scim::ScimError;
use serde_json::{Value, json};

use crate::AppState;
use crate::body::read_json;
use crate::context::WorkspaceCaller;
use crate::databricks::DbError;
use crate::scim::query_pairs;

pub fn routes() -> Router<AppState> {
    let fallback = || async { DbError::from(ScimError::new(405, None, "this endpoint does not support that method")) };
    Router::new()
        .route("/api/2.0/token/create", post(create).fallback(fallback))
        .route("/api/2.0/token/list", get(list).fallback(fallback))
        .route("/api/2.0/token/delete", post(delete).fallback(fallback))
        .route("/api/2.0/token-management/tokens", get(admin_list).fallback(fallback))
        .route("/api/2.0/token-management/tokens/{token_id}", get(admin_get).delete(admin_delete).fallback(fallback))
        .route("/api/2.0/token-management/on-behalf-of/tokens", post(on_behalf_of).fallback(fallback))
}

struct Caller(WorkspaceCaller);

impl FromRequestParts<AppState> for Caller {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DbError> {
        Ok(Caller(WorkspaceCaller::of(state, parts).await?))
    }
}

impl Caller {
    /// The principal whose own tokens these are; a principal-less credential has none.
    fn principal_id(&self) -> Result<i64, DbError> {
        self.0.token.principal_id.ok_or_else(|| {
            ScimError::invalid_value("this token belongs to no user or service principal, so it has no personal tokens")
                .into()
        })
    }

    fn require_admin(&self) -> Result<(), DbError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(CoreError::PermissionDenied("only workspace admins may manage other principals' tokens".into()).into())
        }
    }

    fn filter(&self) -> TokenFilter {
        TokenFilter {
            kind: Some(TokenKind::Personal),
            workspace_id: Some(Some(self.0.workspace.id)),
            principal_id: None,
        }
    }
}

/// Milliseconds since the epoch, as Databricks' token APIs give times.
pub(crate) fn millis(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `token_info` as the token API shows it.
fn info(t: &Token) -> Value {
    json!({
        "token_id": t.id,
        "creation_time": millis(t.created),
        "expiry_time": t.expires.map(millis).unwrap_or(-1),
        "comment": t.comment,
    })
}

/// `token_info` as token management shows it: who created and owns the token.
fn admin_info(t: &Token, owner: Option<&Principal>) -> Value {
    let mut v = info(t);
    if let Some(o) = v.as_object_mut() {
        o.insert("owner_id".into(), json!(t.principal_id));
        o.insert("created_by_id".into(), json!(t.principal_id));
        if let Some(p) = owner {
            let name = p.doc.get(p.kind.unique_attribute()).cloned().unwrap_or(Value::Null);
            o.insert("created_by_username".into(), name);
        }
        if let idplane_core::token::TokenScope::Workspace { workspace_id, .. } = t.scope {
            o.insert("workspace_id".into(), json!(workspace_id));
        }
    }
    v
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn lifetime(body: &Value) -> Result<Option<i64>, DbError> {
    match body.get("lifetime_seconds") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value("lifetime_seconds must be a whole number of seconds").into()),
    }
}

fn comment(body: &Value) -> &str {
    body.get("comment").and_then(Value::as_str).unwrap_or_default()
}

async fn create(State(s): State<AppState>, c: Caller, headers: HeaderMap, body: Body) -> Result<Response, DbError> {
    let principal_id = c.principal_id()?;
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let w = &c.0.workspace;
    let (secret, t) = token::create_personal(
        s.store.as_ref(),
        w,
        principal_id,
        lifetime(&body)?,
        comment(&body),
        c.0.now,
        &c.0.actor(),
    )
    .await?;
    Ok(ok(json!({"token_value": secret.expose(), "token_info": info(&t)})))
}

async fn list(State(s): State<AppState>, c: Caller) -> Result<Response, DbError> {
    let filter = TokenFilter { principal_id: Some(c.principal_id()?), ..c.filter() };
    let tokens = s.store.tokens(&c.0.workspace.account_id, &filter).await.map_err(CoreError::from)?;
    Ok(ok(json!({"token_infos": tokens.iter().map(info).collect::<Vec<_>>()})))
}

/// A personal token of this workspace, if the caller may see it: its own, or any when it is an admin.
async fn find(s: &AppState, c: &Caller, id: &str, any_owner: bool) -> Result<Token, DbError> {
    let not_found = || DbError::from(ScimError::not_found(format!("Token with ID {id} does not exist.")));
    let t = s.store.token(id).await.map_err(CoreError::from)?.ok_or_else(not_found)?;
    let in_workspace = t.kind == TokenKind::Personal
        && matches!(t.scope, idplane_core::token::TokenScope::Workspace { workspace_id, .. } if workspace_id == c.0.workspace.id);
    let visible = any_owner || t.principal_id == c.0.token.principal_id;
    if in_workspace && visible { Ok(t) } else { Err(not_found()) }
}

async fn delete(State(s): State<AppState>, c: Caller, headers: HeaderMap, body: Body) -> Result<Response, DbError> {
    c.principal_id()?;
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let id =
        body.get("token_id").and_then(Value::as_str).ok_or_else(|| ScimError::invalid_value("token_id is required"))?;
    let t = find(&s, &c, id, false).await?;
    token::revoke(s.store.as_ref(), &t, c.0.now, &c.0.actor()).await?;
    Ok(ok(json!({})))
}

async fn owner(s: &AppState, c: &Caller, t: &Token) -> Result<Option<Principal>, DbError> {
    let Some(id) = t.principal_id else { return Ok(None) };
    let scope = Scope::for_workspace(&c.0.workspace);
    Ok(s.store.principal(&scope, None, id).await.map_err(CoreError::from)?)
}

/// `GET /api/2.0/token-management/tokens[?created_by_id=&created_by_username=]`.
async fn admin_list(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Result<Response, DbError> {
    c.require_admin()?;
    let pairs = query_pairs(q.as_deref());
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut filter = c.filter();
    if let Some(id) = param("created_by_id") {
        filter.principal_id = Some(id.parse().map_err(|_| ScimError::invalid_value("created_by_id must be an id"))?);
    }
    let tokens = s.store.tokens(&c.0.workspace.account_id, &filter).await.map_err(CoreError::from)?;
    let mut infos = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let owner = owner(&s, &c, t).await?;
        let name = owner.as_ref().and_then(|p| p.doc.get(p.kind.unique_attribute())).and_then(Value::as_str);
        if param("created_by_username").is_none_or(|u| Some(u.as_str()) == name) {
            infos.push(admin_info(t, owner.as_ref()));
        }
    }
    Ok(ok(json!({"token_infos": infos})))
}

/// The `{token_id}` of a token-management path; one that does not decode to text names no token (404).
struct TokenId(String);

impl FromRequestParts<AppState> for TokenId {
    type Rejection = DbError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DbError> {
        let not_found = || DbError::from(ScimError::not_found("the path names no token"));
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| not_found())?;
        let id = params.iter().find(|(k, _)| *k == "token_id").map(|(_, v)| v.to_string());
        id.map(TokenId).ok_or_else(not_found)
    }
}

async fn admin_get(State(s): State<AppState>, c: Caller, TokenId(id): TokenId) -> Result<Response, DbError> {
    c.require_admin()?;
    let t = find(&s, &c, &id, true).await?;
    let owner = owner(&s, &c, &t).await?;
    Ok(ok(json!({"token_info": admin_info(&t, owner.as_ref())})))
}

async fn admin_delete(State(s): State<AppState>, c: Caller, TokenId(id): TokenId) -> Result<Response, DbError> {
    c.require_admin()?;
    let t = find(&s, &c, &id, true).await?;
    token::revoke(s.store.as_ref(), &t, c.0.now, &c.0.actor()).await?;
    Ok(ok(json!({})))
}

/// `POST /api/2.0/token-management/on-behalf-of/tokens` with `application_id`: a token for a service principal of
/// this workspace, created by an admin.
async fn on_behalf_of(
    State(s): State<AppState>,
    c: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, DbError> {
    c.require_admin()?;
    let body = read_json(&headers, body, s.limits.max_body_bytes).await?;
    let app_id = body
        .get("application_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_value("application_id is required"))?;
    let scope = Scope::for_workspace(&c.0.workspace);
    let sp = identities::find_unique(s.store.as_ref(), &scope, PrincipalKind::ServicePrincipal, app_id)
        .await?
        .ok_or_else(|| CoreError::not_found("Service principal with application ID", app_id))?;
    let w = &c.0.workspace;
    let (lifetime, comment) = (lifetime(&body)?, comment(&body));
    let (secret, t) =
        token::create_personal(s.store.as_ref(), w, sp.id, lifetime, comment, c.0.now, &c.0.actor()).await?;
    Ok(ok(json!({"token_value": secret.expose(), "token_info": admin_info(&t, Some(&sp))})))
}
