//! The provisioning job's pages in-process: signed in through the sign-in form, over a fresh idplane.

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use idplane_console::Settings;
use idplane_testkit::{App, TOKEN};
use serde_json::json;
use tower::ServiceExt as _;

const DATABRICKS_APP_TEMPLATE: &str = "9c9818d2-2900-49e8-8ba4-22688be7c675";

struct Browser {
    console: Router,
    cookie: String,
    csrf: String,
}

struct Page {
    status: StatusCode,
    body: String,
}

async fn send(console: &Router, request: Request<Body>) -> Result<(StatusCode, axum::http::HeaderMap, String)> {
    let response = console.clone().oneshot(request).await?;
    let (status, headers) = (response.status(), response.headers().clone());
    let body = String::from_utf8(response.into_body().collect().await?.to_bytes().to_vec())?;
    Ok((status, headers, body))
}

fn cookie_of(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    html[at..].split('"').next().map(str::to_string)
}

impl Browser {
    async fn sign_in(app: &App) -> Result<Browser> {
        let console = idplane_console::app(app.state.clone(), Settings::default());
        let get = Request::get("/console/signin").header(header::HOST, "idp.test").body(Body::empty())?;
        let (_, headers, html) = send(&console, get).await?;
        let signin_cookie = cookie_of(&headers, "idplane_console_signin").context("the sign-in cookie")?;
        let csrf = csrf_in(&html).context("the sign-in form's CSRF field")?;
        let form = serde_urlencoded::to_string([("token", TOKEN), ("_csrf", &csrf), ("next", "/console")])?;
        let post = Request::post("/console/signin")
            .header(header::HOST, "idp.test")
            .header(header::COOKIE, signin_cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))?;
        let (status, headers, _) = send(&console, post).await?;
        anyhow::ensure!(status == StatusCode::SEE_OTHER, "signed in: {status}");
        let cookie = cookie_of(&headers, "idplane_console").context("the session cookie")?;
        let mut browser = Browser { console, cookie, csrf: String::new() };
        let home = browser.get("/console").await?;
        browser.csrf = csrf_in(&home.body).context("a page's CSRF field")?;
        Ok(browser)
    }

    async fn request(&self, method: Method, uri: &str, form: Option<&[(&str, &str)]>, fragment: bool) -> Result<Page> {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "idp.test")
            .header(header::COOKIE, &self.cookie);
        if fragment {
            request = request.header("x-console-fragment", "1");
        }
        let request = match form {
            Some(fields) => request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(serde_urlencoded::to_string(fields)?))?,
            None => request.body(Body::empty())?,
        };
        let (status, _, body) = send(&self.console, request).await?;
        Ok(Page { status, body })
    }

    async fn get(&self, uri: &str) -> Result<Page> {
        self.request(Method::GET, uri, None, false).await
    }
}

async fn application(app: &App, with_job: bool) -> Result<String> {
    let uri = format!("/v1.0/applicationTemplates/{DATABRICKS_APP_TEMPLATE}/instantiate");
    let created = app.send(Method::POST, &uri, Some(json!({"displayName": "Runs in-process"})), &[]).await?;
    let sp = created.body["servicePrincipal"]["id"].as_str().context("a service principal")?.to_string();
    if with_job {
        let jobs = format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs");
        let job = app.send(Method::POST, &jobs, Some(json!({"templateId": "dataBricks"})), &[]).await?;
        anyhow::ensure!(job.status == StatusCode::CREATED, "{job:?}");
    }
    Ok(sp)
}

#[tokio::test]
async fn an_application_without_a_job_says_to_edit_provisioning_and_its_buttons_say_why_not() -> Result<()> {
    let app = App::new().await?;
    let browser = Browser::sign_in(&app).await?;
    let sp = application(&app, false).await?;
    let overview = browser.get(&format!("/console/apps/{sp}/provisioning")).await?;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("has no provisioning job") && overview.body.contains("Edit provisioning"));

    let start = format!("/console/apps/{sp}/provisioning/start");
    let refused = browser.request(Method::POST, &start, Some(&[]), false).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no CSRF field");
    let no_job = browser.request(Method::POST, &start, Some(&[("_csrf", &browser.csrf)]), false).await?;
    assert_eq!(no_job.status, StatusCode::CONFLICT);
    assert!(no_job.body.contains("Open Edit provisioning"), "{}", no_job.body);
    Ok(())
}

#[tokio::test]
async fn the_live_status_is_a_fragment_that_refreshes_while_the_job_is_started() -> Result<()> {
    let app = App::new().await?;
    let browser = Browser::sign_in(&app).await?;
    let sp = application(&app, true).await?;
    let uri = format!("/console/apps/{sp}/provisioning");
    let idle = browser.request(Method::GET, &uri, None, true).await?;
    assert_eq!(idle.status, StatusCode::OK);
    assert!(idle.body.starts_with("<section id=\"job-status\""), "{}", idle.body);
    assert!(!idle.body.contains("<html") && !idle.body.contains("data-refresh"), "not started: no refresh");

    let started =
        browser.request(Method::POST, &format!("{uri}/start"), Some(&[("_csrf", &browser.csrf)]), false).await?;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let live = browser.request(Method::GET, &uri, None, true).await?;
    assert!(live.body.contains("data-refresh=\"/console/apps/") && live.body.contains("data-every=\"2\""));
    assert!(live.body.contains("Initial cycle starting"), "{}", live.body);
    let page = browser.get(&uri).await?;
    assert!(page.body.contains("Stop provisioning") && page.body.contains("No cycle has run yet"));
    Ok(())
}

#[tokio::test]
async fn the_logs_say_what_to_fix_in_a_filter_and_an_unknown_record_is_not_found() -> Result<()> {
    let app = App::new().await?;
    let browser = Browser::sign_in(&app).await?;
    let empty = browser.get("/console/logs").await?;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("No provisioning log records yet"), "{}", empty.body);
    let bad = browser.get("/console/logs?range=custom&from=soon").await?;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("is not a date and time") && bad.body.contains("aria-invalid=\"true\""));
    let script = browser.get("/console/logs?identity=%3Cscript%3E").await?;
    assert!(script.body.contains("value=\"&#60;script&#62;\"") || script.body.contains("value=\"&lt;script&gt;\""));
    let missing = browser.get("/console/logs/not-a-record").await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let csv = browser.get("/console/logs/download?format=csv").await?;
    assert!(csv.body.starts_with("Date,Id,JobId,CycleId"), "{}", csv.body);
    Ok(())
}

#[tokio::test]
async fn held_deletions_are_approved_and_escrows_counted_on_the_overview() -> Result<()> {
    use idplane_provisioning::cycle::state::{Escrow, Quarantine};
    let app = App::new().await?;
    let browser = Browser::sign_in(&app).await?;
    let sp = application(&app, true).await?;
    let jobs = app.send(Method::GET, &format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs"), None, &[]).await?;
    let job = jobs.body["value"][0]["id"].as_str().context("the job")?.to_string();
    // Started, so that the job has a run state (no worker runs here).
    let start = format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/start");
    assert_eq!(app.send(Method::POST, &start, None, &[]).await?.status, StatusCode::NO_CONTENT);
    let now = idplane_server::clock::Clock::now(app.clock.as_ref());
    let mut state = app.provisioning.run_state(&job).await?.context("a started job's run state")?;
    state.data.cycles = 3;
    state.data.held_deletes = 12;
    state.data.quarantine = Some(Quarantine {
        current_began: "2026-12-06T10:00:00Z".into(),
        next_attempt: "2026-12-06T10:05:00Z".into(),
        reason: "TooManyDeletes".into(),
        series_began: "2026-12-06T10:00:00Z".into(),
        series_count: 1,
        error: json!({"code": "TooManyDeletes", "message": "12 deprovisionings exceed the threshold"}),
    });
    app.provisioning.put_run_state(&state).await?;
    let escrow = Escrow {
        job_id: job.clone(),
        source_id: "u1".into(),
        object_type: "User".into(),
        attempts: 1,
        first_failed: now,
        next_attempt: now,
        error_code: "DatabricksEntryConflict".into(),
        reason: "409".into(),
    };
    app.provisioning.put_escrow(&escrow).await?;

    let uri = format!("/console/apps/{sp}/provisioning");
    let page = browser.get(&uri).await?;
    assert!(page.body.contains("Deletions held") && page.body.contains("12 deprovisionings exceed"), "{}", page.body);
    assert!(page.body.contains("Approve deletions") && page.body.contains("data-confirm="));
    assert!(page.body.contains("1 object could not be provisioned"), "{}", page.body);
    let approved =
        browser.request(Method::POST, &format!("{uri}/approve"), Some(&[("_csrf", &browser.csrf)]), false).await?;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let after = app.provisioning.run_state(&job).await?.context("the run state")?;
    assert!(after.data.force_deletes && after.data.quarantine.is_none(), "{after:?}");
    assert!(!browser.get(&uri).await?.body.contains("Approve deletions"));
    Ok(())
}

#[tokio::test]
async fn a_status_that_cannot_be_read_stays_a_fragment_that_tries_again() -> Result<()> {
    let app = App::new().await?;
    let browser = Browser::sign_in(&app).await?;
    let gone = browser.request(Method::GET, "/console/apps/no-such-app/provisioning", None, true).await?;
    assert_eq!(gone.status, StatusCode::OK);
    assert!(gone.body.starts_with("<section id=\"job-status\"") && gone.body.contains("data-every=\"10\""));
    assert!(gone.body.contains("could not be read just now"), "{}", gone.body);
    assert_eq!(browser.get("/console/apps/no-such-app/provisioning").await?.status, StatusCode::NOT_FOUND);
    Ok(())
}
