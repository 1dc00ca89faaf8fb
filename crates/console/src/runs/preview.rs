//! **Preview** (idplane's own, `/console/apps/{sp}/provisioning/preview`): the requests the next cycle would send
//! (method, path, body), in order, computed by `POST .../preview` with reads only. The preview evaluates every object
//! the next cycle would, so it runs when asked ("Preview next cycle"), never on opening the page; at most
//! [`SHOWN`] requests are shown.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::view::text;
use super::{AppJob, Nothing};
use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Form, Session};

/// The most requests the page shows.
const SHOWN: usize = 500;

struct Request {
    method: String,
    path: String,
    body: String,
    name: String,
    object_type: String,
    action: String,
}

struct Failure {
    name: String,
    code: String,
    reason: String,
}

struct Previewed {
    initial: bool,
    total: usize,
    requests: Vec<Request>,
    failures: Vec<Failure>,
}

#[derive(Template)]
#[template(path = "runs/preview.html")]
struct Preview {
    chrome: Chrome,
    sp_id: String,
    name: String,
    has_job: bool,
    shown: usize,
    error: Option<String>,
    result: Option<Previewed>,
}

async fn show(console: &Console, session: &Session, sp: &str, run: bool) -> Result<Response, PageError> {
    let api = session.api(console);
    let app = AppJob::load(&api, sp).await?;
    let (mut status, mut error, mut result) = (StatusCode::OK, None, None);
    if run {
        match api.post(&format!("{}/preview", app.job_path()?), &json!({})).await {
            Ok(answer) => result = Some(read(&answer)),
            Err(f) => {
                status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
                error = Some(format!("The preview could not be computed: {}", f.message));
            }
        }
    }
    render(
        status,
        &Preview {
            chrome: session.chrome(format!("Preview · {}", app.name), "apps"),
            has_job: app.job.is_some(),
            sp_id: app.sp_id,
            name: app.name,
            shown: SHOWN,
            error,
            result,
        },
    )
}

fn read(answer: &Value) -> Previewed {
    let all = answer["requests"].as_array().cloned().unwrap_or_default();
    let requests = all
        .iter()
        .take(SHOWN)
        .map(|r| Request {
            method: text(r, "method"),
            path: text(r, "path"),
            body: if r["body"].is_null() {
                String::new()
            } else {
                serde_json::to_string_pretty(&r["body"]).unwrap_or_default()
            },
            name: text(r, "displayName"),
            object_type: text(r, "objectType"),
            action: text(r, "action"),
        })
        .collect();
    let failures = answer["failures"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| Failure {
                    name: text(x, "displayName"),
                    code: text(x, "errorCode"),
                    reason: text(x, "reason"),
                })
                .collect()
        })
        .unwrap_or_default();
    Previewed { initial: answer["initial"].as_bool().unwrap_or(false), total: all.len(), requests, failures }
}

pub async fn page(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
) -> Result<Response, PageError> {
    show(&console, &session, &sp, false).await
}

pub async fn run(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, Nothing {}): Form<Nothing>,
) -> Result<Response, PageError> {
    show(&console, &session, &sp, true).await
}
