//! The enterprise applications pages in-process: signed in through the sign-in form, a gallery application created
//! through its form (CSRF checked, the name rendered escaped), the list paged through the API's own paging, and the
//! Edit provisioning page never echoing the saved secret token.

use std::time::Instant;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use idplane_console::Settings;
use idplane_provisioning::templates::DATABRICKS_APPLICATION_TEMPLATE_ID;
use idplane_testkit::{App, TOKEN};
use serde_json::json;
use tower::ServiceExt as _;

struct Browser {
    console: Router,
    cookie: String,
}

struct Page {
    status: StatusCode,
    location: String,
    html: String,
}

fn set_cookie(response: &axum::response::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

async fn read(response: axum::response::Response) -> Result<Page> {
    let status = response.status();
    let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok(Page { status, location, html: String::from_utf8_lossy(&bytes).into_owned() })
}

/// The CSRF value of the first form of a page.
fn csrf(html: &str) -> Result<String> {
    let at = html.find("name=\"_csrf\" value=\"").context("a form with a CSRF field")? + 20;
    Ok(html[at..].split('"').next().unwrap_or_default().to_string())
}

impl Browser {
    async fn sign_in(app: &App) -> Result<Browser> {
        let console = idplane_console::app(app.state.clone(), Settings::default());
        let page = console.clone().oneshot(Request::get("/console/signin").body(Body::empty())?).await?;
        let signin_cookie = set_cookie(&page, "idplane_console_signin").context("the sign-in cookie")?;
        let form = read(page).await?;
        let body = serde_urlencoded::to_string([
            ("_csrf", csrf(&form.html)?.as_str()),
            ("token", TOKEN),
            ("next", "/console"),
        ])?;
        let request = Request::post("/console/signin")
            .header(header::COOKIE, signin_cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))?;
        let answer = console.clone().oneshot(request).await?;
        let cookie = set_cookie(&answer, "idplane_console").context("the session cookie")?;
        Ok(Browser { console, cookie })
    }

    async fn get(&self, path: &str) -> Result<Page> {
        let request = Request::get(path).header(header::COOKIE, &self.cookie).body(Body::empty())?;
        read(self.console.clone().oneshot(request).await?).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Result<Page> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(serde_urlencoded::to_string(fields)?))?;
        read(self.console.clone().oneshot(request).await?).await
    }
}

#[tokio::test]
async fn an_application_is_added_from_the_gallery_and_its_name_rendered_as_text() -> Result<()> {
    let app = App::new().await?;
    let browser = Browser::sign_in(&app).await?;
    let list = browser.get("/console/apps").await?;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains("No enterprise applications yet"), "the empty state says what to do");

    let gallery = browser.get("/console/apps/new").await?;
    assert!(gallery.html.contains("Create your own application"));
    let name = "<script>alert(1)</script>";
    let fields = [("template", DATABRICKS_APPLICATION_TEMPLATE_ID), ("name", name)];
    let refused = browser.post("/console/apps/new", &fields).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "a form without its CSRF value is refused");

    let token = csrf(&gallery.html)?;
    let created = browser.post("/console/apps/new", &[("_csrf", token.as_str()), fields[0], fields[1]]).await?;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    assert!(created.location.starts_with("/console/apps/"), "{}", created.location);
    let overview = browser.get(&created.location).await?;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.html.contains("alert(1)"), "the name is on the page");
    assert!(!overview.html.contains(name));

    let sp = created.location.trim_start_matches("/console/apps/").split('?').next().unwrap_or_default().to_string();
    let edit = browser.get(&format!("/console/apps/{sp}/provisioning/edit")).await?;
    assert!(edit.html.contains("No secret token is saved yet"));
    let secret = "dapi-a-secret-never-shown-again";
    let saved = browser
        .post(
            &format!("/console/apps/{sp}/provisioning/edit"),
            &[
                ("_csrf", token.as_str()),
                ("tenant_url", "https://example.invalid/api/2.0/accounts/x/scim/v2"),
                ("secret_token", secret),
                ("scope", "assigned"),
                ("status", "off"),
                ("threshold", "500"),
                ("action", "save"),
            ],
        )
        .await?;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let edit = browser.get(&format!("/console/apps/{sp}/provisioning/edit")).await?;
    assert!(edit.html.contains("A secret token is saved"));
    assert!(!edit.html.contains(secret), "the secret token is never echoed back");
    assert!(edit.html.contains("https://example.invalid/api/2.0/accounts/x/scim/v2"));
    Ok(())
}

#[tokio::test]
async fn the_list_is_paged_through_the_apis_own_paging() -> Result<()> {
    let app = App::new().await?;
    for i in 0..30 {
        let path = format!("/v1.0/applicationTemplates/{DATABRICKS_APPLICATION_TEMPLATE_ID}/instantiate");
        let reply = app.send(Method::POST, &path, Some(json!({"displayName": format!("App {i:02}")})), &[]).await?;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    // The list's "Created on": idplane's service principals say when they were added.
    let listed = app.send(Method::GET, "/v1.0/servicePrincipals?$top=1", None, &[]).await?;
    assert!(listed.body["value"][0]["createdDateTime"].as_str().is_some_and(|t| t.contains('T')), "{}", listed.body);

    let browser = Browser::sign_in(&app).await?;
    let started = Instant::now();
    let first = browser.get("/console/apps").await?;
    let took = started.elapsed();
    assert_eq!(first.html.matches("<tr>").count(), 1 + 25, "a header and one page of 25");
    let next = first.html.split("href=\"").find(|s| s.starts_with("/console/apps?after=")).context("a next page")?;
    let next = next.split('"').next().unwrap_or_default().replace("&amp;", "&");
    let second = browser.get(&next).await?;
    assert_eq!(second.html.matches("<tr>").count(), 1 + 5);
    assert!(second.html.contains("First page"));
    assert!(!second.html.contains("/console/apps?after="), "the last page has no next page");
    eprintln!("the list's first page of 30 applications rendered in {took:?}");
    let search = browser.get("/console/apps?search=App%202").await?;
    assert_eq!(search.html.matches("<tr>").count(), 1 + 10, "App 20 to App 29");
    Ok(())
}
