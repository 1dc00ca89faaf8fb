//! The identity pages in-process: the console over a real store, signed in through the sign-in form as a browser
//! does, its pages fetched with `tower::ServiceExt::oneshot`. What a browser test would check more slowly: values are
//! escaped, the SCIM token is shown once, a form without its CSRF field is refused, and how long pages take.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use idplane_console::Settings;
use idplane_testkit::{App, TOKEN};
use serde_json::json;
use tower::ServiceExt;

struct Browser {
    router: Router,
    cookie: String,
}

struct Page {
    status: StatusCode,
    location: String,
    cookies: Vec<String>,
    html: String,
}

async fn send(router: &Router, method: Method, uri: &str, cookie: &str, form: Option<String>) -> Result<Page> {
    let mut request = Request::builder().method(method).uri(uri).header(header::HOST, "idp.test");
    if !cookie.is_empty() {
        request = request.header(header::COOKIE, cookie);
    }
    let request = match form {
        Some(body) => {
            request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(body))?
        }
        None => request.body(Body::empty())?,
    };
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let cookies: Vec<String> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next().map(str::to_string))
        .collect();
    let html = String::from_utf8(response.into_body().collect().await?.to_bytes().to_vec())?;
    Ok(Page { status, location, cookies, html })
}

/// The value of the first `name="_csrf" value="..."` of a page.
fn csrf(html: &str) -> Result<String> {
    let at = html.find("name=\"_csrf\" value=\"").context("no CSRF field")? + "name=\"_csrf\" value=\"".len();
    Ok(html[at..].split('"').next().unwrap_or_default().to_string())
}

impl Browser {
    async fn signed_in(app: &App) -> Result<Browser> {
        let router = idplane_console::app(app.state.clone(), Settings::default());
        let form = send(&router, Method::GET, "/console/signin", "", None).await?;
        let signin_cookie = form.cookies.iter().find(|c| c.starts_with("idplane_console_signin=")).context("cookie")?;
        let body = format!("token={TOKEN}&_csrf={}&next=%2Fconsole", csrf(&form.html)?);
        let done = send(&router, Method::POST, "/console/signin", signin_cookie, Some(body)).await?;
        let cookie = done.cookies.iter().find(|c| c.starts_with("idplane_console=")).context("no session")?.clone();
        Ok(Browser { router, cookie })
    }

    async fn get(&self, uri: &str) -> Result<Page> {
        send(&self.router, Method::GET, uri, &self.cookie, None).await
    }

    async fn post(&self, uri: &str, form: &str) -> Result<Page> {
        send(&self.router, Method::POST, uri, &self.cookie, Some(form.to_string())).await
    }
}

#[tokio::test]
async fn values_from_the_api_are_escaped_on_every_identity_page() -> Result<()> {
    let app = App::new().await?;
    let evil = "<script>alert(1)</script>";
    let scim = format!("/api/2.0/accounts/{}/scim/v2", app.account);
    let user = app.post(&format!("{scim}/Users"), json!({"userName": "x@example.com", "displayName": evil})).await?;
    let id = user.body["id"].as_str().unwrap_or_default().to_string();
    let group = app.post(&format!("{scim}/Groups"), json!({"displayName": evil, "members": [{"value": id}]})).await?;
    let group_id = group.body["id"].as_str().unwrap_or_default().to_string();
    let browser = Browser::signed_in(&app).await?;
    for uri in [
        "/console/account/users".to_string(),
        format!("/console/account/users/{id}"),
        "/console/account/groups".to_string(),
        format!("/console/account/groups/{group_id}"),
        "/console/account/audit".to_string(),
    ] {
        let page = browser.get(&uri).await?;
        ensure!(page.status == StatusCode::OK, "{uri}: {} {}", page.status, page.html);
        ensure!(!page.html.contains(evil), "{uri} renders the name as markup");
    }
    let list = browser.get("/console/account/users").await?;
    ensure!(list.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || list.html.contains("&#60;script&#62;"));
    Ok(())
}

#[tokio::test]
async fn the_scim_token_is_shown_once_and_forms_need_their_csrf_field() -> Result<()> {
    let app = App::new().await?;
    let browser = Browser::signed_in(&app).await?;
    let page = browser.get("/console/account/provisioning").await?;
    ensure!(page.html.contains("Enable user provisioning"));
    let token = csrf(&page.html)?;

    let refused = browser.post("/console/account/provisioning/token", "").await?;
    ensure!(refused.status == StatusCode::FORBIDDEN, "{}", refused.status);

    let shown = browser.post("/console/account/provisioning/token", &format!("_csrf={token}")).await?;
    ensure!(shown.status == StatusCode::OK, "{}", shown.html);
    let at = shown.html.find("id=\"scim-token\"").context("the token is shown")?;
    let value = shown.html[at..].split('>').nth(1).and_then(|s| s.split('<').next()).unwrap_or_default().to_string();
    ensure!(value.starts_with("dapi"), "{value}");
    let again = browser.get("/console/account/provisioning").await?;
    ensure!(!again.html.contains(&value), "shown once");
    ensure!(again.html.contains("Regenerate token"));
    Ok(())
}

#[tokio::test]
async fn a_workspace_is_created_and_a_user_given_permissions_through_the_forms() -> Result<()> {
    let app = App::new().await?;
    let browser = Browser::signed_in(&app).await?;
    let scim = format!("/api/2.0/accounts/{}/scim/v2", app.account);
    app.post(&format!("{scim}/Users"), json!({"userName": "ann@example.com"})).await?;
    let token = csrf(&browser.get("/console/account/workspaces").await?.html)?;

    let empty = browser.post("/console/account/workspaces", &format!("_csrf={token}&name=+")).await?;
    ensure!(empty.status == StatusCode::UNPROCESSABLE_ENTITY && empty.html.contains("Enter a workspace name"));

    let created = browser.post("/console/account/workspaces", &format!("_csrf={token}&name=lab")).await?;
    ensure!(created.status == StatusCode::SEE_OTHER, "{} {}", created.status, created.html);
    let path = created.location.split('?').next().unwrap_or_default().to_string();
    let page = browser.get(&path).await?;
    ensure!(page.html.contains("Disabled"), "no identity federation was asked for");
    ensure!(page.html.contains("does not use identity federation") && !page.html.contains("Add permissions"));

    let form = format!("_csrf={token}&name=federated&identity_federation=on");
    let created = browser.post("/console/account/workspaces", &form).await?;
    let path = created.location.split('?').next().unwrap_or_default().to_string();

    let form = format!("_csrf={token}&principal_type=users&principal=nobody%40example.com&permission=USER");
    let missing = browser.post(&format!("{path}/permissions"), &form).await?;
    ensure!(missing.status == StatusCode::NOT_FOUND && missing.html.contains("no user"), "{}", missing.status);
    ensure!(missing.html.contains("value=\"nobody@example.com\""), "the input is kept");

    let form = format!("_csrf={token}&principal_type=users&principal=ann%40example.com&permission=ADMIN");
    let added = browser.post(&format!("{path}/permissions"), &form).await?;
    ensure!(added.status == StatusCode::SEE_OTHER, "{}", added.html);
    let page = browser.get(&path).await?;
    ensure!(page.html.contains("ann@example.com") && page.html.contains("ADMIN"));
    Ok(())
}

#[tokio::test]
async fn list_pages_stay_fast_and_page_through_the_api() -> Result<()> {
    let app = App::new().await?;
    let scim = format!("/api/2.0/accounts/{}/scim/v2", app.account);
    for i in 0..120 {
        app.post(&format!("{scim}/Users"), json!({"userName": format!("user{i:03}@example.com")})).await?;
    }
    let browser = Browser::signed_in(&app).await?;
    let mut slowest = Duration::ZERO;
    for uri in ["/console/account/users", "/console/account/users?start=51", "/console/account/users?q=user05"] {
        let started = Instant::now();
        let page = browser.get(uri).await?;
        let took = started.elapsed();
        eprintln!("{uri}: {took:?}");
        slowest = slowest.max(took);
        ensure!(page.status == StatusCode::OK, "{uri}");
    }
    let first = browser.get("/console/account/users").await?;
    ensure!(first.html.contains("1–50 of 121"), "a page of 50 of the 121 users (and the admin)");
    ensure!(first.html.contains("href=\"/console/account/users?start=51\""));
    let found = browser.get("/console/account/users?q=user05").await?;
    ensure!(found.html.contains("1–10 of 10"), "user050 to user059");
    ensure!(slowest < Duration::from_secs(2), "{slowest:?}");
    Ok(())
}
