//! "Provisioning agents" (Entra's on-premises provisioning agents): the list with each agent's status, version,
//! last heartbeat, round-trip time and applications; "Create registration token" (shown once, with its expiry and
//! the `idplane agent register` command); delete (revoke) an agent. Over Graph's
//! `/v1.0/onPremisesPublishingProfiles/provisioning/{agents,registrationTokens}`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{done, seg};
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Form, Session};

const AGENTS: &str = "/v1.0/onPremisesPublishingProfiles/provisioning";

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/agents", get(list))
        .route("/agents/token", post(create_token))
        .route("/agents/{id}/delete", post(delete))
}

struct Row {
    id: String,
    host: String,
    status: String,
    version: String,
    last_seen: String,
    round_trip: String,
    revoked: bool,
    apps: Vec<(String, String)>,
}

fn row(a: &Value) -> Row {
    let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    Row {
        id: text("id"),
        host: text("machineName"),
        status: text("status"),
        version: text("version"),
        last_seen: text("lastSeenDateTime"),
        round_trip: a["roundTripTimeMilliseconds"].as_f64().map(|ms| format!("{ms:.0} ms")).unwrap_or_default(),
        revoked: a["credentialRevoked"].as_bool().unwrap_or(false),
        apps: a["agentGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                (
                    g["id"].as_str().unwrap_or_default().to_string(),
                    g["displayName"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    }
}

/// A registration token just created: shown once.
struct NewToken {
    token: String,
    expires: String,
    command: String,
}

#[derive(Template)]
#[template(path = "agents/list.html")]
struct ListPage {
    chrome: Chrome,
    agents: Vec<Row>,
    created: Option<NewToken>,
    error: Option<String>,
    hours: String,
    max_hours: i64,
}

#[derive(Deserialize)]
pub struct ListQuery {
    notice: Option<String>,
}

async fn page(
    console: &Console,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    created: Option<NewToken>,
    error: Option<String>,
    hours: String,
) -> Result<Response, PageError> {
    let answer = session.api(console).get(&format!("{AGENTS}/agents")).await?;
    let agents = answer["value"].as_array().into_iter().flatten().map(row).collect();
    render(
        status,
        &ListPage {
            chrome: session.chrome("Provisioning agents", "agents").with_notice(notice),
            agents,
            created,
            error,
            hours,
            max_hours: idplane_provisioning::agents::MAX_TOKEN_HOURS,
        },
    )
}

async fn list(
    State(console): State<Console>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    page(&console, &session, StatusCode::OK, q.notice, None, None, "24".into()).await
}

/// The service's address an agent registers with: the public URL when set, else the one the browser used.
fn service_url(console: &Console, session: &Session) -> String {
    if let Some(url) = &console.state.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let header = |name: &str| session.forwarded.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or_else(|| "localhost".into());
    let scheme =
        header("x-forwarded-proto").unwrap_or_else(|| if console.state.tls { "https".into() } else { "http".into() });
    format!("{scheme}://{host}")
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    hours: String,
}

async fn create_token(
    State(console): State<Console>,
    Form(session, form): Form<TokenForm>,
) -> Result<Response, PageError> {
    let hours = form.hours.trim().to_string();
    let body = match hours.parse::<i64>() {
        Ok(h) => json!({"expiresInHours": h}),
        Err(_) if hours.is_empty() => json!({}),
        Err(_) => {
            let error = format!("'{hours}' is not a number of hours: give a whole number, such as 24.");
            return page(&console, &session, StatusCode::UNPROCESSABLE_ENTITY, None, None, Some(error), hours).await;
        }
    };
    match session.api(&console).post(&format!("{AGENTS}/registrationTokens"), &body).await {
        Ok(t) => {
            let token = t["token"].as_str().unwrap_or_default().to_string();
            let command =
                format!("idplane agent register --service {} --token {token}", service_url(&console, &session));
            let created =
                NewToken { token, expires: t["expirationDateTime"].as_str().unwrap_or_default().to_string(), command };
            let notice = Some("Registration token created. Copy it now: it is shown only once.".to_string());
            page(&console, &session, StatusCode::CREATED, notice, Some(created), None, hours).await
        }
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            page(&console, &session, status, None, None, Some(f.message), hours).await
        }
    }
}

async fn delete(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(session, _): Form<crate::session::Nothing>,
) -> Result<Response, PageError> {
    session.api(&console).delete(&format!("{AGENTS}/agents/{}", seg(&id))).await?;
    Ok(done("/console/agents", "Agent deleted: its credential no longer works."))
}
