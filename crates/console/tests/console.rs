//! The console in-process: the real router of `idplane serve` (API and console) over a fresh store, driven as a
//! browser drives it: sign in through the form with its cookie and CSRF field, then pages with the session cookie.

use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use idplane_console::{Settings, app};
use idplane_testkit::App;
use idplane_testkit::app::TOKEN;
use tower::ServiceExt as _;

/// A browser's view of one exchange.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn set_cookies(&self) -> Vec<&str> {
        self.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect()
    }

    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

async fn send(router: &Router, method: &str, path: &str, cookies: &str, form: Option<&str>) -> Result<Answer> {
    let mut request = Request::builder().method(method).uri(path).header(header::HOST, "console.test");
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies);
    }
    let request = match form {
        Some(f) => request
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://console.test")
            .body(Body::from(f.to_string()))?,
        None => request.body(Body::empty())?,
    };
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(response.into_body().collect().await?.to_bytes().to_vec())?;
    Ok(Answer { status, headers, body })
}

/// The value of a cookie a response sets.
fn cookie_value<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .set_cookies()
        .into_iter()
        .find_map(|c| c.split(';').next().and_then(|pair| pair.strip_prefix(&format!("{name}="))))
}

/// The value of the hidden `_csrf` field of a page's first form.
fn csrf_field(body: &str) -> Option<&str> {
    let at = body.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    body[at..].split('"').next()
}

/// Signs in with `token`; the session cookie ("name=value") and the sign-in answer.
async fn sign_in(router: &Router, token: &str) -> Result<(Option<String>, Answer)> {
    let page = send(router, "GET", "/console/signin?next=/console", "", None).await?;
    let pre = cookie_value(&page, "idplane_console_signin").context("the sign-in form's cookie")?.to_string();
    let csrf = csrf_field(&page.body).context("the sign-in form's CSRF field")?.to_string();
    assert_eq!(pre, csrf);
    let form = format!("token={token}&_csrf={csrf}&next=%2Fconsole");
    let answer = send(router, "POST", "/console/signin", &format!("idplane_console_signin={pre}"), Some(&form)).await?;
    let session =
        cookie_value(&answer, "idplane_console").filter(|v| !v.is_empty()).map(|v| format!("idplane_console={v}"));
    Ok((session, answer))
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_expiring_cookie_and_the_home_page_shows_who() -> Result<()> {
    let test = App::new().await?;
    let router = app(test.state.clone(), Settings::default());
    let (session, answer) = sign_in(&router, TOKEN).await?;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), "/console");
    let set = answer.set_cookies().into_iter().find(|c| c.starts_with("idplane_console=")).context("session cookie")?;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(!set.contains(TOKEN), "the cookie holds the token sealed, not in clear: {set}");
    let home = send(&router, "GET", "/console", session.as_deref().unwrap_or_default(), None).await?;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains(&test.account), "{}", home.body);
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");
    assert!(home.headers[header::CONTENT_SECURITY_POLICY].to_str()?.starts_with("default-src 'none'"));
    Ok(())
}

#[tokio::test]
async fn under_tls_the_session_cookie_is_secure() -> Result<()> {
    let test = App::on(idplane_testkit::app::Backend::Sqlite, |s| s.tls = true).await?;
    let router = app(test.state.clone(), Settings::default());
    let (_, answer) = sign_in(&router, TOKEN).await?;
    let set = answer.set_cookies().into_iter().find(|c| c.starts_with("idplane_console=")).context("session cookie")?;
    assert!(set.contains("; Secure"), "{set}");
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_or_a_missing_csrf_value_signs_nobody_in() -> Result<()> {
    let test = App::new().await?;
    let router = app(test.state.clone(), Settings::default());
    let (session, answer) = sign_in(&router, "dapi-not-a-token").await?;
    assert!(session.is_none());
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.body.contains("cannot sign in"), "{}", answer.body);
    // The form's own cookie and field must match.
    let form = format!("token={TOKEN}&_csrf=guess&next=%2Fconsole");
    let refused = send(&router, "POST", "/console/signin", "idplane_console_signin=other", Some(&form)).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(cookie_value(&refused, "idplane_console").is_none());
    Ok(())
}

#[tokio::test]
async fn a_signed_in_form_needs_the_session_csrf_value() -> Result<()> {
    let test = App::new().await?;
    let router = app(test.state.clone(), Settings::default());
    let (session, _) = sign_in(&router, TOKEN).await?;
    let session = session.context("signed in")?;
    let refused = send(&router, "POST", "/console/signout", &session, Some("_csrf=0000")).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("security token"), "{}", refused.body);
    let home = send(&router, "GET", "/console", &session, None).await?;
    let csrf = csrf_field(&home.body).context("the sign-out form's CSRF field")?;
    let out = send(&router, "POST", "/console/signout", &session, Some(&format!("_csrf={csrf}"))).await?;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(cookie_value(&out, "idplane_console"), Some(""));
    Ok(())
}

#[tokio::test]
async fn a_session_ends_when_it_expires_when_its_token_is_revoked_or_when_it_is_tampered_with() -> Result<()> {
    let test = App::new().await?;
    let settings = Settings { session_ttl: Duration::from_secs(600) };
    let router = app(test.state.clone(), settings);
    let (session, _) = sign_in(&router, TOKEN).await?;
    let session = session.context("signed in")?;
    assert_eq!(send(&router, "GET", "/console", &session, None).await?.status, StatusCode::OK);

    let tampered = format!("{}A", session);
    let answer = send(&router, "GET", "/console", &tampered, None).await?;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(answer.location().contains("reason=invalid"), "{}", answer.location());

    test.clock.advance(Duration::from_secs(601));
    let answer = send(&router, "GET", "/console", &session, None).await?;
    assert!(answer.location().starts_with("/console/signin?next=%2Fconsole&reason=expired"), "{}", answer.location());

    // A fresh session, then the token is revoked: the next page asks to sign in again.
    let (session, _) = sign_in(&router, TOKEN).await?;
    let session = session.context("signed in again")?;
    let hash = idplane_core::token::Secret::new(TOKEN.into()).hash();
    let token = idplane_core::access::token_of(test.store.as_ref(), &hash).await?;
    let now = test.state.clock.now();
    idplane_core::token::revoke(test.store.as_ref(), &token, now, &idplane_core::audit::Actor::cli()).await?;
    let answer = send(&router, "GET", "/console", &session, None).await?;
    assert!(answer.location().contains("reason=revoked"), "{}", answer.location());
    Ok(())
}

#[tokio::test]
async fn without_a_session_every_console_path_asks_to_sign_in_and_the_api_is_untouched() -> Result<()> {
    let test = App::new().await?;
    let router = app(test.state.clone(), Settings::default());
    for path in ["/console", "/console/no-such-page", "/console/apps?x=1"] {
        let answer = send(&router, "GET", path, "", None).await?;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert!(answer.location().starts_with("/console/signin?next="), "{path}: {}", answer.location());
    }
    let asset = send(&router, "GET", "/console/assets/console.js", "", None).await?;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(asset.headers[header::CONTENT_TYPE].to_str()?.starts_with("text/javascript"));
    let api = send(&router, "GET", "/api/2.0/preview/scim/v2/Users", "", None).await?;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "the API behind the console keeps its own rules");
    Ok(())
}
