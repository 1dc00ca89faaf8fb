//! A workspace's User Settings → Access tokens: the signed-in principal's personal access tokens in one workspace
//! (the token's own workspace, or one the account token picks), "Generate new token" with a comment and a lifetime
//! in days (the token shown once), and Revoke. Through the workspace token API (`/api/2.0/token/...`), which takes
//! the workspace from `X-Databricks-Workspace-Id`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use idplane_server::context::X_DATABRICKS_WORKSPACE_ID;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{WorkspaceChoice, account_workspaces, form_status, millis_of, see_other};
use crate::Console;
use crate::api::Api;
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Form, Session, urlencode};

pub fn routes() -> Router<Console> {
    Router::new().route("/settings/tokens", get(page).post(generate)).route("/settings/tokens/revoke", post(revoke))
}

#[derive(Debug, Clone)]
pub struct PatRow {
    pub id: String,
    pub comment: String,
    pub created: Option<String>,
    pub expires: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct PageQuery {
    #[serde(default)]
    workspace: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct GenerateForm {
    #[serde(default)]
    workspace: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    lifetime_days: String,
}

#[derive(Template)]
#[template(path = "identity/tokens.html")]
struct Page {
    chrome: Chrome,
    /// The workspace shown, and the others the token may pick (none for a workspace token).
    workspace: String,
    choices: Vec<WorkspaceChoice>,
    rows: Vec<PatRow>,
    form: GenerateForm,
    error: Option<String>,
    new_token: Option<String>,
}

/// The workspaces an account token may pick from (its account's, when it may list them), and the one shown: the
/// one asked for, else the token's own, else the first.
async fn workspaces(console: &Console, session: &Session, asked: Option<&str>) -> (String, Vec<WorkspaceChoice>) {
    if let Some(own) = session.workspace_id() {
        return (own.to_string(), Vec::new());
    }
    let choices = account_workspaces(console, session).await.unwrap_or_default();
    let shown = asked
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .or_else(|| choices.first().map(|w| w.id.clone()))
        .unwrap_or_default();
    (shown, choices)
}

fn api_in<'a>(console: &'a Console, session: &'a Session, workspace: &str) -> Api<'a> {
    let api = session.api(console);
    if workspace.is_empty() { api } else { api.with_header(X_DATABRICKS_WORKSPACE_ID.clone(), workspace) }
}

fn rows_of(body: &Value) -> Vec<PatRow> {
    let mut rows: Vec<PatRow> = body["token_infos"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| PatRow {
            id: t["token_id"].as_str().unwrap_or_default().to_string(),
            comment: t["comment"].as_str().unwrap_or_default().to_string(),
            created: millis_of(&t["creation_time"]),
            expires: millis_of(&t["expiry_time"]),
        })
        .collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created));
    rows
}

#[allow(clippy::too_many_arguments)]
async fn show(
    console: &Console,
    session: &Session,
    asked: Option<&str>,
    notice: Option<String>,
    form: GenerateForm,
    error: Option<(StatusCode, String)>,
    new_token: Option<String>,
) -> Result<Response, PageError> {
    let (workspace, choices) = workspaces(console, session, asked).await;
    // An account token of an account without workspaces has nowhere to make tokens: the page says so.
    let list = if workspace.is_empty() && session.workspace_id().is_none() {
        Value::Null
    } else {
        api_in(console, session, &workspace).get("/api/2.0/token/list").await?
    };
    let (status, error) = error.map_or((StatusCode::OK, None), |(s, m)| (s, Some(m)));
    let chrome = session.chrome("Access tokens", "tokens").with_notice(notice);
    render(status, &Page { chrome, workspace, choices, rows: rows_of(&list), form, error, new_token })
}

async fn page(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    show(&console, &session, q.workspace.as_deref(), q.notice, GenerateForm::default(), None, None).await
}

/// Days as seconds; empty is the API's default (two years).
pub fn lifetime_seconds(days: &str) -> Result<Option<i64>, String> {
    let days = days.trim();
    if days.is_empty() {
        return Ok(None);
    }
    match days.parse::<i64>() {
        Ok(d) if (1..=36_525).contains(&d) => Ok(Some(d * 86_400)),
        _ => Err(format!(
            "Lifetime must be a whole number of days from 1 to 36525, not \"{days}\"; leave it empty for two years."
        )),
    }
}

async fn generate(
    State(console): State<Console>,
    Form(session, form): Form<GenerateForm>,
) -> Result<Response, PageError> {
    let workspace = form.workspace.clone();
    let lifetime = match lifetime_seconds(&form.lifetime_days) {
        Ok(l) => l,
        Err(message) => {
            let error = Some((StatusCode::UNPROCESSABLE_ENTITY, message));
            return show(&console, &session, Some(&workspace), None, form.clone(), error, None).await;
        }
    };
    let mut body = json!({"comment": form.comment.trim()});
    if let (Some(seconds), Some(o)) = (lifetime, body.as_object_mut()) {
        o.insert("lifetime_seconds".into(), json!(seconds));
    }
    match api_in(&console, &session, &workspace).post("/api/2.0/token/create", &body).await {
        Ok(answer) => {
            let token = answer["token_value"].as_str().map(str::to_string);
            let notice = Some("Token generated.".to_string());
            let mut response =
                show(&console, &session, Some(&workspace), notice, GenerateForm::default(), None, token).await?;
            response
                .headers_mut()
                .insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(f) => {
            let error = Some((form_status(&f), f.message));
            show(&console, &session, Some(&workspace), None, form.clone(), error, None).await
        }
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    workspace: String,
    token_id: String,
}

async fn revoke(State(console): State<Console>, Form(session, form): Form<RevokeForm>) -> Result<Response, PageError> {
    let body = json!({"token_id": form.token_id});
    api_in(&console, &session, &form.workspace).post("/api/2.0/token/delete", &body).await?;
    let here = format!("/console/settings/tokens?workspace={}", urlencode(&form.workspace));
    Ok(see_other(&here, "Token revoked."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_days() {
        assert_eq!(lifetime_seconds(""), Ok(None));
        assert_eq!(lifetime_seconds(" 90 "), Ok(Some(90 * 86_400)));
        assert!(lifetime_seconds("0").is_err());
        assert!(lifetime_seconds("ten").unwrap_err().contains("whole number of days"));
    }
}
