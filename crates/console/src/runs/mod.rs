//! The provisioning job's pages (Entra's names): the Provisioning **Overview** of an application's job with its
//! live status, statistics, quarantine, escrows, held deletions and a chart of recent cycles
//! (`/console/apps/{sp}/provisioning`), **Provision on demand** ([`ondemand`]), idplane's **Preview** of the next
//! cycle ([`preview`]) and the **Provisioning logs** ([`logs`]).
//!
//! Everything comes from Graph: the job (`GET .../synchronization/jobs`, its `status`), `start`, `pause`,
//! `restart`, `provisionOnDemand`, `preview`, `/auditLogs/provisioning`, and idplane's own `cycles` (the job's
//! recent cycles, for the chart).

mod logs;
mod ondemand;
mod preview;
mod view;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;
use crate::api::Api;
use crate::error::PageError;
use crate::page::{Chrome, ok, render};
use crate::session::{Form, Session, urlencode};
use view::{Chart, Cycle, JobView, seg};

/// How many cycles the chart shows.
const CHART_CYCLES: usize = 12;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/apps/{sp}/provisioning", get(overview))
        .route("/apps/{sp}/provisioning/start", post(start))
        .route("/apps/{sp}/provisioning/stop", post(stop))
        .route("/apps/{sp}/provisioning/restart", post(restart))
        .route("/apps/{sp}/provisioning/approve", post(approve))
        .route("/apps/{sp}/provisioning/ondemand", get(ondemand::page).post(ondemand::provision))
        .route("/apps/{sp}/provisioning/preview", get(preview::page).post(preview::run))
        .merge(logs::routes())
}

/// An application and its provisioning job (the first; Entra's applications have one).
pub struct AppJob {
    pub sp_id: String,
    pub name: String,
    pub job: Option<Value>,
}

impl AppJob {
    pub async fn load(api: &Api<'_>, sp: &str) -> Result<AppJob, PageError> {
        let app = api.get(&format!("/v1.0/servicePrincipals/{}", seg(sp))).await?;
        let jobs = api.get(&format!("/v1.0/servicePrincipals/{}/synchronization/jobs", seg(sp))).await?;
        Ok(AppJob {
            sp_id: view::text(&app, "id"),
            name: view::text(&app, "displayName"),
            job: jobs["value"].as_array().and_then(|j| j.first()).cloned(),
        })
    }

    pub fn job_id(&self) -> Option<String> {
        self.job.as_ref().map(|j| view::text(j, "id"))
    }

    /// The job's path in Graph, or a page that says the application has none yet.
    pub fn job_path(&self) -> Result<String, PageError> {
        let id = self.job_id().ok_or_else(|| {
            PageError::new(
                StatusCode::CONFLICT,
                "No provisioning job yet",
                format!(
                    "{} has no provisioning job yet. Open Edit provisioning, enter the admin credentials and save: \
                     the job is created then.",
                    self.name
                ),
            )
        })?;
        Ok(format!("/v1.0/servicePrincipals/{}/synchronization/jobs/{}", seg(&self.sp_id), seg(&id)))
    }
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    /// Which live part a fragment request asks for: `cycles` (the recent cycles), else the status.
    part: Option<String>,
}

/// The live "Recent cycles" part of the Overview: it refreshes while provisioning is on, so that a cycle that ends
/// appears in the chart without a reload.
#[derive(Template)]
#[template(path = "runs/cycles.html")]
struct CyclesFragment {
    sp_id: String,
    job: JobView,
    cycles: Vec<Cycle>,
    chart: Chart,
}

/// The live part of the Overview: current cycle, statistics, quarantine, escrows, held deletions.
#[derive(Template)]
#[template(path = "runs/status.html")]
struct StatusFragment {
    sp_id: String,
    csrf: String,
    job: JobView,
}

/// The live part when the status could not be read: what went wrong, and another try later (a fragment must stay
/// one, or the page would show an error page inside itself).
#[derive(Template)]
#[template(path = "runs/status_error.html")]
struct StatusError {
    sp_id: String,
    message: String,
}

#[derive(Template)]
#[template(path = "runs/overview.html")]
struct Overview {
    chrome: Chrome,
    sp_id: String,
    name: String,
    has_job: bool,
    job: JobView,
    csrf: String,
    error: Option<String>,
    cycles: Vec<Cycle>,
    chart: Chart,
}

fn wants_fragment(headers: &HeaderMap) -> bool {
    headers.contains_key("x-console-fragment")
}

async fn overview(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let chrome = session.chrome("Provisioning", "apps").with_notice(q.notice);
    let fragment = wants_fragment(&headers);
    if fragment && q.part.as_deref() == Some("cycles") {
        let api = session.api(&console);
        let app = AppJob::load(&api, &sp).await?;
        let job = app.job.as_ref().map(JobView::of).unwrap_or_default();
        let cycles = recent_cycles(&api, &app).await?;
        return ok(&CyclesFragment { sp_id: app.sp_id, job, chart: view::chart(&cycles), cycles });
    }
    match overview_page(&console, &session, &sp, chrome, None, StatusCode::OK, fragment).await {
        Err(e) if fragment && e.status != StatusCode::UNAUTHORIZED => {
            ok(&StatusError { sp_id: seg(&sp), message: e.message })
        }
        other => other,
    }
}

async fn overview_page(
    console: &Console,
    session: &Session,
    sp: &str,
    chrome: Chrome,
    error: Option<String>,
    status: StatusCode,
    fragment: bool,
) -> Result<Response, PageError> {
    let api = session.api(console);
    let app = AppJob::load(&api, sp).await?;
    let job = app.job.as_ref().map(JobView::of).unwrap_or_default();
    if fragment {
        return ok(&StatusFragment { sp_id: app.sp_id, csrf: session.csrf.clone(), job });
    }
    let cycles = recent_cycles(&api, &app).await?;
    let chrome = Chrome { title: format!("Provisioning · {}", app.name), ..chrome };
    render(
        status,
        &Overview {
            chrome,
            csrf: session.csrf.clone(),
            has_job: app.job.is_some(),
            sp_id: app.sp_id,
            name: app.name,
            job,
            error,
            chart: view::chart(&cycles),
            cycles,
        },
    )
}

/// The job's recent cycles for the chart (none without a job).
async fn recent_cycles(api: &crate::api::Api<'_>, app: &AppJob) -> Result<Vec<Cycle>, PageError> {
    let Ok(path) = app.job_path() else { return Ok(Vec::new()) };
    let list = api.get(&format!("{path}/cycles")).await?;
    Ok(view::cycles(list["value"].as_array().map(Vec::as_slice).unwrap_or_default(), CHART_CYCLES))
}

#[derive(Deserialize)]
pub struct Nothing {}

/// Runs one of the job's actions, then goes back to the Overview with `done`, or shows it with the API's error.
async fn act(
    console: Console,
    session: Session,
    sp: String,
    action: &str,
    body: Value,
    done: &str,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = AppJob::load(&api, &sp).await?;
    let path = format!("{}/{action}", app.job_path()?);
    match api.post(&path, &body).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/console/apps/{}/provisioning?notice={}", seg(&app.sp_id), urlencode(done)))
                .into_response())
        }
        Err(f) => {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
            let chrome = session.chrome("Provisioning", "apps");
            overview_page(&console, &session, &sp, chrome, Some(f.message), status, false).await
        }
    }
}

async fn start(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, Nothing {}): Form<Nothing>,
) -> Result<Response, PageError> {
    act(console, session, sp, "start", json!({}), "Provisioning started: the first cycle begins within moments.").await
}

async fn stop(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, Nothing {}): Form<Nothing>,
) -> Result<Response, PageError> {
    act(
        console,
        session,
        sp,
        "pause",
        json!({}),
        "Provisioning stopped: a running cycle ends after its current objects.",
    )
    .await
}

async fn restart(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, Nothing {}): Form<Nothing>,
) -> Result<Response, PageError> {
    let done = "Provisioning restarted: the next cycle is an initial one; escrows and quarantine are cleared.";
    act(
        console,
        session,
        sp,
        "restart",
        json!({"criteria": {"resetScope": "Watermark, Escrows, QuarantineState"}}),
        done,
    )
    .await
}

async fn approve(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, Nothing {}): Form<Nothing>,
) -> Result<Response, PageError> {
    let done = "Deletions approved: the next cycle does the held disables and deletes.";
    act(console, session, sp, "restart", json!({"criteria": {"resetScope": "ForceDeletes"}}), done).await
}
