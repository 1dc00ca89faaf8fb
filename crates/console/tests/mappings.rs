//! The mapping pages in-process: signed in through the sign-in form, over a Databricks connector and its job made
//! through Graph; what the pages show, a change saved through the Graph schema, an expression checked, a stale page
//! refused, and how long the pages take.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use idplane_console::{Settings, app};
use idplane_testkit::{App, TOKEN};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const DATABRICKS_APP_TEMPLATE: &str = "9c9818d2-2900-49e8-8ba4-22688be7c675";

struct Browser {
    router: Router,
    cookie: String,
}

struct Answer {
    status: StatusCode,
    location: String,
    text: String,
}

async fn send(router: &Router, request: Request<Body>) -> anyhow::Result<(StatusCode, axum::http::HeaderMap, String)> {
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = String::from_utf8_lossy(&response.into_body().collect().await?.to_bytes()).into_owned();
    Ok((status, headers, text))
}

fn cookie_of(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_string()))
}

/// The value of the first hidden `name` field of a page.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).unwrap_or(0);
    html[start..].split('"').next().unwrap_or("").to_string()
}

impl Browser {
    async fn sign_in(router: Router) -> anyhow::Result<Browser> {
        let page = Request::get("/console/signin").header(header::HOST, "idp.test").body(Body::empty())?;
        let (_, headers, html) = send(&router, page).await?;
        let csrf = cookie_of(&headers, "idplane_console_signin").unwrap_or_default();
        assert_eq!(field(&html, "_csrf"), csrf);
        let form = serde_urlencoded::to_string([("token", TOKEN), ("next", "/console"), ("_csrf", csrf.as_str())])?;
        let post = Request::post("/console/signin")
            .header(header::HOST, "idp.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("idplane_console_signin={csrf}"))
            .body(Body::from(form))?;
        let (status, headers, _) = send(&router, post).await?;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = cookie_of(&headers, "idplane_console").ok_or_else(|| anyhow::anyhow!("no session cookie"))?;
        Ok(Browser { router, cookie })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.request(Method::GET, path, Vec::new()).await
    }

    async fn post(&self, path: &str, form: Vec<(&str, String)>) -> anyhow::Result<Answer> {
        self.request(Method::POST, path, form).await
    }

    async fn request(&self, method: Method, path: &str, form: Vec<(&str, String)>) -> anyhow::Result<Answer> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "idp.test")
            .header(header::COOKIE, format!("idplane_console={}", self.cookie));
        let body = if form.is_empty() {
            Body::empty()
        } else {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(serde_urlencoded::to_string(&form)?)
        };
        let (status, headers, text) = send(&self.router, request.body(body)?).await?;
        let location = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(Answer { status, location, text })
    }
}

async fn graph(router: &Router, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "idp.test")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(if body.is_null() { Body::empty() } else { Body::from(body.to_string()) })?;
    let (status, _, text) = send(router, request).await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
}

fn user_mapping(schema: &Value) -> &Value {
    &schema["synchronizationRules"][0]["objectMappings"][0]
}

#[tokio::test]
async fn the_mapping_pages_show_check_and_save_the_job_schema() -> anyhow::Result<()> {
    let testkit = App::new().await?;
    let router = app(testkit.state.clone(), Settings::default());
    let made = graph(
        &router,
        Method::POST,
        &format!("/v1.0/applicationTemplates/{DATABRICKS_APP_TEMPLATE}/instantiate"),
        json!({"displayName": "Databricks"}),
    )
    .await?;
    let sp = made["servicePrincipal"]["id"].as_str().unwrap_or_default().to_string();
    let browser = Browser::sign_in(router.clone()).await?;
    let base = format!("/console/apps/{sp}/provisioning/mappings");

    // No job yet: the page says where to make one.
    let page = browser.get(&base).await?;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("no provisioning job yet"), "{}", page.text);

    let jobs = format!("/v1.0/servicePrincipals/{sp}/synchronization/jobs");
    let job = graph(&router, Method::POST, &jobs, json!({"templateId": "dataBricks"})).await?;
    let schema_path = format!("{jobs}/{}/schema", job["id"].as_str().unwrap_or_default());
    graph(
        &router,
        Method::POST,
        "/v1.0/users",
        json!({"accountEnabled": true, "displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace",
               "mailNickname": "ada", "userPrincipalName": "ada@contoso.com"}),
    )
    .await?;

    let mut times = Vec::new();
    let started = Instant::now();
    let page = browser.get(&base).await?;
    times.push(started.elapsed());
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Provision Microsoft Entra ID Users")
            && page.text.contains("Provision Microsoft Entra ID Groups")
    );

    let started = Instant::now();
    let page = browser.get(&format!("{base}/0")).await?;
    times.push(started.elapsed());
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Target Object Actions") && page.text.contains("[userPrincipalName]"));
    let csrf = field(&page.text, "_csrf");
    let version = field(&page.text, "version");

    // Checked as typed: an error says where, a valid expression is tried on the sample user.
    let check = |expression: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("mapping_type", "Expression".to_string()),
            ("expression", expression.to_string()),
            ("sample", "ada@contoso.com".to_string()),
        ]
    };
    let answer = browser.post(&format!("{base}/0/validate"), check("Join(\" \", [givenName]")).await?;
    assert!(answer.text.contains("Invalid") && answer.text.contains("at character"), "{}", answer.text);
    let started = Instant::now();
    let answer = browser.post(&format!("{base}/0/validate"), check("Join(\" \", [givenName], [surname])")).await?;
    times.push(started.elapsed());
    assert!(answer.text.contains("Valid.") && answer.text.contains("Ada Lovelace"), "{}", answer.text);

    // The groups' mapping tries expressions on a group, and says when it finds none.
    let answer = browser.post(&format!("{base}/1/validate"), check("Append([displayName], \"!\")")).await?;
    assert!(answer.text.contains("Valid.") && answer.text.contains("No group is ada@contoso.com"), "{}", answer.text);

    // Saved through the schema.
    let save = vec![
        ("_csrf", csrf.clone()),
        ("version", version.clone()),
        ("original", "displayName".to_string()),
        ("mapping_type", "Expression".to_string()),
        ("expression", "Join(\" \", [givenName], [surname])".to_string()),
        ("target", "displayName".to_string()),
        ("matching", "No".to_string()),
        ("apply", "Always".to_string()),
    ];
    let answer = browser.post(&format!("{base}/0/attribute"), save.clone()).await?;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert!(answer.location.starts_with(&format!("{base}/0?notice=")));
    let schema = graph(&router, Method::GET, &schema_path, Value::Null).await?;
    let display = user_mapping(&schema)["attributeMappings"]
        .as_array()
        .and_then(|m| m.iter().find(|a| a["targetAttributeName"] == "displayName"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(display["source"]["name"], "Join");

    // The same form again, from the page shown before that change: refused, nothing overwritten.
    let answer = browser.post(&format!("{base}/0/attribute"), save).await?;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.text.contains("Reload the page"), "{}", answer.text);

    // What the API refuses (the only matching attribute deleted) is shown on the page, which stays as it was.
    let page = browser.get(&format!("{base}/0")).await?;
    let version = field(&page.text, "version");
    let delete = vec![("_csrf", csrf.clone()), ("version", version), ("target", "userName".to_string())];
    let answer = browser.post(&format!("{base}/0/attribute/delete"), delete).await?;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(answer.text.contains("Not saved:") && answer.text.contains("[userPrincipalName]"), "{}", answer.text);

    // A form without its CSRF token changes nothing.
    let answer = browser.post(&format!("{base}/0"), vec![("enabled", "No".to_string())]).await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let schema = graph(&router, Method::GET, &schema_path, Value::Null).await?;
    assert_eq!(user_mapping(&schema)["enabled"], true);

    let slowest = times.iter().max().copied().unwrap_or_default();
    println!("mapping pages: list {:?}, attribute mapping {:?}, expression check {:?}", times[0], times[1], times[2]);
    assert!(slowest < Duration::from_secs(2), "{times:?}");
    Ok(())
}
