//! The directory's pages in-process: the console over a fresh idplane, signed in through the sign-in form, its forms
//! posted with their CSRF field (and refused without it), values rendered escaped, and a bulk create run to its end.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use idplane_console::{Settings, app};
use idplane_core::token::TokenScope;
use idplane_testkit::{App, TOKEN};
use tower::ServiceExt as _;

/// A browser of one: the console's router, its session cookie and the CSRF token of its pages.
struct Browser {
    router: Router,
    cookie: String,
    csrf: String,
}

struct Page {
    status: StatusCode,
    location: String,
    html: String,
}

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

impl Browser {
    async fn signed_in(idplane: &App) -> Result<Browser> {
        Browser::signed_in_as(idplane, TOKEN).await
    }

    async fn signed_in_as(idplane: &App, token: &str) -> Result<Browser> {
        let router = app(idplane.state.clone(), Settings::default());
        let mut b = Browser { router, cookie: String::new(), csrf: String::new() };
        let signin = b.send(Request::get("/console/signin").body(Body::empty())?).await?;
        let csrf = csrf_of(&signin.html).context("the sign-in form has a CSRF field")?;
        let body = form(&[("_csrf", &csrf), ("token", token), ("next", "/console")]);
        let signed = b.post("/console/signin", body).await?;
        assert_eq!(signed.status, StatusCode::SEE_OTHER);
        let home = b.get("/console").await?;
        assert_eq!(home.status, StatusCode::OK, "{}", home.html);
        b.csrf = csrf_of(&home.html).context("a signed-in page has a CSRF token")?;
        Ok(b)
    }

    async fn send(&mut self, mut request: Request<Body>) -> Result<Page> {
        request.headers_mut().insert(header::HOST, "console.test".parse()?);
        if !self.cookie.is_empty() {
            request.headers_mut().insert(header::COOKIE, self.cookie.parse()?);
        }
        let response = self.router.clone().oneshot(request).await?;
        for set in response.headers().get_all(header::SET_COOKIE) {
            let pair = set.to_str()?.split(';').next().unwrap_or_default().to_string();
            let name = pair.split('=').next().unwrap_or_default().to_string();
            let mut cookies: Vec<String> = self
                .cookie
                .split("; ")
                .filter(|c| !c.is_empty() && !c.starts_with(&format!("{name}=")))
                .map(String::from)
                .collect();
            if !pair.ends_with('=') {
                cookies.push(pair);
            }
            self.cookie = cookies.join("; ");
        }
        let status = response.status();
        let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok(Page { status, location, html: String::from_utf8_lossy(&bytes).into_owned() })
    }

    async fn get(&mut self, path: &str) -> Result<Page> {
        self.send(Request::get(path).body(Body::empty())?).await
    }

    async fn post(&mut self, path: &str, body: String) -> Result<Page> {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://console.test")
            .body(Body::from(body))?;
        self.send(request).await
    }
}

#[tokio::test]
async fn a_user_is_created_listed_and_its_markup_rendered_as_text() -> Result<()> {
    let idplane = App::new().await?;
    let mut b = Browser::signed_in(&idplane).await?;
    let evil = "<script>alert(1)</script>";
    let csrf = b.csrf.clone();
    let body = form(&[
        ("_csrf", &csrf),
        ("userPrincipalName", "ada@contoso.com"),
        ("displayName", evil),
        ("accountEnabled", "on"),
    ]);
    let created = b.post("/console/users/new", body).await?;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    assert!(created.location.starts_with("/console/users/") && created.location.contains("?notice=Created"));
    let user = b.get(&created.location).await?;
    assert_eq!(user.status, StatusCode::OK);
    assert!(!user.html.contains(evil), "the display name is escaped");
    assert!(user.html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    for search in ["q=%3Cscript", "q=ada%40", "q=ada&by=userPrincipalName"] {
        let listed = b.get(&format!("/console/users?{search}")).await?;
        assert!(listed.html.contains("ada@contoso.com"), "{search}");
    }
    let none = b.get("/console/users?q=zz").await?;
    assert!(none.html.contains("No user has a display name that starts with"));

    // The same name again: the API's answer (400, as Entra's) on the form, next to the field, with the input kept.
    let body = form(&[("_csrf", &csrf), ("userPrincipalName", "ada@contoso.com"), ("displayName", "Other")]);
    let again = b.post("/console/users/new", body).await?;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.html.contains("id=\"e-userPrincipalName\""));
    assert!(again.html.contains("value=\"Other\""));
    Ok(())
}

#[tokio::test]
async fn a_form_without_its_csrf_field_changes_nothing() -> Result<()> {
    let idplane = App::new().await?;
    let mut b = Browser::signed_in(&idplane).await?;
    let refused =
        b.post("/console/users/new", form(&[("userPrincipalName", "x@contoso.com"), ("displayName", "X")])).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = b.post("/console/groups/new", form(&[("_csrf", "wrong"), ("displayName", "G")])).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let upload = Request::post("/console/users/import")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
        .body(Body::from(
            "--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nwrong\r\n--B\r\nContent-Disposition: form-data; \
             name=\"file\"; filename=\"u.csv\"\r\n\r\ndisplayName,userPrincipalName\nA,a@contoso.com\n\r\n--B--\r\n",
        ))?;
    assert_eq!(b.send(upload).await?.status, StatusCode::FORBIDDEN);
    let users = b.get("/console/users").await?;
    assert!(users.html.contains("No users yet"), "nothing was created");
    Ok(())
}

#[tokio::test]
async fn a_bulk_create_runs_to_its_end_and_says_which_line_failed() -> Result<()> {
    let idplane = App::new().await?;
    let mut b = Browser::signed_in(&idplane).await?;
    let csv = "version:v1.0\nName [displayName] Required,User name [userPrincipalName] Required\nA,a@contoso.com\nB,b-no-domain\nC,c@contoso.com\n";
    let body = format!(
        "--B\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n--B\r\nContent-Disposition: form-data; \
         name=\"file\"; filename=\"u.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--B--\r\n",
        b.csrf
    );
    let upload = Request::post("/console/users/import")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
        .body(Body::from(body))?;
    let started = b.send(upload).await?;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let mut fragment = String::new();
    for _ in 0..200 {
        let request = Request::get(&started.location).header("x-console-fragment", "1").body(Body::empty())?;
        fragment = b.send(request).await?.html;
        if fragment.contains("Done.") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !fragment.contains("Done.") {
        bail!("the import did not end: {fragment}");
    }
    assert!(fragment.trim_start().starts_with("<section"), "the fragment alone");
    assert!(!fragment.contains("data-refresh"), "a finished import stops refreshing");
    assert!(fragment.contains("3 of 3 rows processed: 2 created, 1 failed."));
    assert!(fragment.contains("<td>4</td>"), "line 4 failed: {fragment}");
    Ok(())
}

#[tokio::test]
async fn a_workspace_token_is_told_the_directory_is_not_its_to_see() -> Result<()> {
    let idplane = App::new().await?;
    let scope = TokenScope::Workspace { account_id: idplane.account.clone(), workspace_id: idplane.workspace };
    let token = idplane.token_for(scope, None).await?;
    let mut b = Browser::signed_in_as(&idplane, &token).await?;
    for path in ["/console/users", "/console/groups", "/console/users/deleted"] {
        let page = b.get(path).await?;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.html.contains("account administrator"), "{path}: {}", page.html);
    }
    let csrf = b.csrf.clone();
    let body = form(&[("_csrf", &csrf), ("userPrincipalName", "w@contoso.com"), ("displayName", "W")]);
    assert_eq!(b.post("/console/users/new", body).await?.status, StatusCode::FORBIDDEN);
    Ok(())
}
