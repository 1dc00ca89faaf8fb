//! The on-premises agents' registry over HTTP: the agent contract (`/agent/v1/register`, `/agent/v1/rotate`, the
//! hub's credential check) and the admin API under `/v1.0/onPremisesPublishingProfiles/provisioning` (registration
//! tokens, agents with their status, assignment through agent groups, deletion that revokes).

use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use idplane_provisioning::agents::{AgentSession, CREDENTIAL_PREFIX, REGISTRATION_TOKEN_PREFIX};
use idplane_provisioning::templates::ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID;
use idplane_provisioning::tenant;
use idplane_testkit::{App, Reply};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::graph::assert_graph_error;

const PROFILE: &str = "/v1.0/onPremisesPublishingProfiles/provisioning";

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

async fn new_token(app: &App, body: Option<Value>) -> Result<Reply> {
    app.send(Method::POST, &format!("{PROFILE}/registrationTokens"), body, &[]).await
}

/// A registration token's value.
async fn token(app: &App) -> Result<String> {
    let r = new_token(app, None).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok(s(&r.body, "token"))
}

/// Sends a raw body to an agent endpoint, with no admin token.
async fn raw(app: &App, path: &str, body: &str, authorization: Option<&str>) -> Result<Reply> {
    let mut req = Request::builder().method(Method::POST).uri(path).header(header::HOST, "idp.test");
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let res = app.router.clone().oneshot(req.body(Body::from(body.to_string()))?).await?;
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await?.to_bytes();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? };
    Ok(Reply { status, headers, body })
}

async fn register(app: &App, token: &str, host: &str) -> Result<Reply> {
    raw(app, "/agent/v1/register", &json!({"token": token, "hostName": host, "version": "1.0.0"}).to_string(), None)
        .await
}

/// A registered agent: (id, credential).
async fn agent(app: &App, host: &str) -> Result<(String, String)> {
    let r = register(app, &token(app).await?, host).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok((s(&r.body, "agentId"), s(&r.body, "credential")))
}

fn bearer(credential: &str) -> Result<HeaderMap> {
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {credential}"))?);
    Ok(h)
}

async fn default_tenant(app: &App) -> Result<String> {
    Ok(app.provisioning.tenant_of_account(&app.account).await?.context("the default tenant")?.id)
}

#[tokio::test]
async fn registration_works_once_and_credentials_rotate_as_the_contract_says() -> Result<()> {
    let app = App::new().await?;
    let tenant_id = default_tenant(&app).await?;
    let created = new_token(&app, None).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = s(&created.body, "token");
    assert!(token.starts_with(REGISTRATION_TOKEN_PREFIX), "{token}");
    assert_eq!(created.body["tenantId"], tenant_id.as_str());
    let now = app.state.clock.now();
    let expires = idplane_provisioning::directory::rfc3339(now + time::Duration::hours(1));
    assert_eq!(created.body["expirationDateTime"], expires.as_str(), "an hour by default");

    let r = register(&app, &token, "corp-01").await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["tenantId"], tenant_id.as_str());
    let (agent_id, credential) = (s(&r.body, "agentId"), s(&r.body, "credential"));
    assert!(credential.starts_with(CREDENTIAL_PREFIX) && credential.len() >= CREDENTIAL_PREFIX.len() + 64);

    // Used, unknown and expired tokens get the same answer.
    assert_graph_error(&register(&app, &token, "corp-02").await?, 401, "InvalidRegistrationToken");
    assert_graph_error(&register(&app, "idplreg_0000", "corp-02").await?, 401, "InvalidRegistrationToken");
    let expiring = self::token(&app).await?;
    app.clock.advance(Duration::from_secs(3600));
    assert_graph_error(&register(&app, &expiring, "corp-02").await?, 401, "InvalidRegistrationToken");

    // A malformed body is a 400 that says what to send.
    let fresh = self::token(&app).await?;
    for body in ["not json", "[]", &json!({"token": fresh, "version": "1"}).to_string()] {
        let r = raw(&app, "/agent/v1/register", body, None).await?;
        assert_graph_error(&r, 400, "Request_BadRequest");
    }
    let r = raw(&app, "/agent/v1/register", &json!({"token": fresh, "hostName": "", "version": "1"}).to_string(), None)
        .await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(s(&r.body["error"], "message").contains("hostName"), "{}", r.body);
    assert_eq!(register(&app, &fresh, "corp-03").await?.status, StatusCode::CREATED, "a refused body uses nothing");

    // The hub's check, then rotation: the old credential stops at once.
    let who = idplane_server::agents::authenticate(&app.state, &bearer(&credential)?).await.ok().context("live")?;
    assert_eq!((who.agent_id.as_str(), who.tenant_id.as_str()), (agent_id.as_str(), tenant_id.as_str()));
    assert!(idplane_server::agents::authenticate(&app.state, &HeaderMap::new()).await.is_err());
    let rotated = raw(&app, "/agent/v1/rotate", "", Some(&format!("Bearer {credential}"))).await?;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["agentId"], agent_id.as_str());
    let new = s(&rotated.body, "credential");
    assert_ne!(new, credential);
    assert!(idplane_server::agents::authenticate(&app.state, &bearer(&credential)?).await.is_err());
    assert!(idplane_server::agents::authenticate(&app.state, &bearer(&new)?).await.is_ok());
    let again = raw(&app, "/agent/v1/rotate", "", Some(&format!("Bearer {credential}"))).await?;
    assert_graph_error(&again, 401, "InvalidAuthenticationToken");
    assert_graph_error(&raw(&app, "/agent/v1/rotate", "", None).await?, 401, "InvalidAuthenticationToken");
    assert_graph_error(&raw(&app, "/agent/v1/nothing", "", None).await?, 404, "Request_ResourceNotFound");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exchanges_of_one_token_register_one_agent() -> Result<()> {
    let app = App::new().await?;
    let token = token(&app).await?;
    let body = json!({"token": token, "hostName": "h", "version": "1"}).to_string();
    let tries: Vec<_> = (0..6)
        .map(|_| {
            let (router, body) = (app.router.clone(), body.clone());
            tokio::spawn(async move {
                let req = Request::builder()
                    .method(Method::POST)
                    .uri("/agent/v1/register")
                    .header(header::HOST, "idp.test")
                    .body(Body::from(body))?;
                anyhow::Ok(router.oneshot(req).await?.status())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tries {
        statuses.push(t.await??);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn admins_list_assign_and_delete_agents() -> Result<()> {
    let app = App::new().await?;
    let instantiate = format!("/v1.0/applicationTemplates/{ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID}/instantiate");
    let r = app.send(Method::POST, &instantiate, Some(json!({"displayName": "Private SCIM"})), &[]).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let sp = s(&r.body["servicePrincipal"], "id");
    let (a, a_credential) = agent(&app, "corp-01").await?;
    let (b, _) = agent(&app, "corp-02").await?;

    let listed = app.get(&format!("{PROFILE}/agents")).await?;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let items = listed.body["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.iter().map(|i| s(i, "machineName")).collect::<Vec<_>>(), ["corp-01", "corp-02"]);
    assert_eq!(items[0]["status"], "inactive", "never seen");
    assert_eq!(items[0]["supportedPublishingTypes"], json!(["provisioning"]));
    assert_eq!(items[0]["version"], "1.0.0");

    // The hub records a session with a heartbeat: the agent is active, with its round-trip time.
    let now = app.state.clock.now();
    let session = AgentSession {
        agent_id: a.clone(),
        tenant_id: String::new(),
        node_id: "n1".into(),
        session_id: "s1".into(),
        connected: now,
        last_heartbeat: now,
        round_trip: Some(Duration::from_micros(2_500)),
    };
    app.provisioning.put_agent_session(&session).await?;
    let one = app.get(&format!("{PROFILE}/agents/{a}")).await?;
    assert_eq!(one.body["status"], "active", "{}", one.body);
    assert_eq!(one.body["roundTripTimeMilliseconds"], json!(2.5));
    assert!(one.body["lastSeenDateTime"].as_str().is_some_and(|t| t.ends_with('Z')));
    app.clock.advance(Duration::from_secs(31));
    assert_eq!(app.get(&format!("{PROFILE}/agents/{a}")).await?.body["status"], "inactive", "missed heartbeats");

    // Assignment, both ways Graph spells it.
    let by_group = format!("{PROFILE}/agentGroups/{sp}/agents/$ref");
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/beta/onPremisesPublishingProfiles/provisioning/agents/{a}")});
    let r = app.send(Method::POST, &by_group, Some(reference.clone()), &[]).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_graph_error(&app.send(Method::POST, &by_group, Some(reference), &[]).await?, 409, "Request_Conflict");
    let by_agent = format!("{PROFILE}/agents/{b}/agentGroups/$ref");
    let r = app
        .send(Method::POST, &by_agent, Some(json!({"@odata.id": format!("{PROFILE}/agentGroups/{sp}")})), &[])
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let serving = app.get(&format!("{PROFILE}/agentGroups/{sp}/agents")).await?;
    let ids: Vec<String> = serving.body["value"].as_array().into_iter().flatten().map(|x| s(x, "id")).collect();
    assert_eq!(ids, [a.clone(), b.clone()]);
    let shown = app.get(&format!("{PROFILE}/agents/{a}")).await?;
    assert_eq!(
        shown.body["agentGroups"],
        json!([{"id": sp, "displayName": "Private SCIM", "isDefault": false, "publishingType": "provisioning"}])
    );
    let groups = app.get(&format!("{PROFILE}/agentGroups")).await?;
    assert_eq!(groups.body["value"].as_array().map(Vec::len), Some(1), "{}", groups.body);
    assert_eq!(app.get(&format!("{PROFILE}/agentGroups/{sp}")).await?.body["displayName"], "Private SCIM");

    // What is wrong is said: unknown agent, unknown application, a reference that is none, another profile.
    let unknown = json!({"@odata.id": "agents/00000000-0000-4000-8000-000000000000"});
    assert_graph_error(&app.send(Method::POST, &by_group, Some(unknown), &[]).await?, 404, "Request_ResourceNotFound");
    let nowhere = format!("{PROFILE}/agentGroups/00000000-0000-4000-8000-000000000000/agents/$ref");
    let r = app.send(Method::POST, &nowhere, Some(json!({"@odata.id": a})), &[]).await?;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    let r = app.send(Method::POST, &by_group, Some(json!({"@odata.id": "users/x"})), &[]).await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_graph_error(
        &app.get("/v1.0/onPremisesPublishingProfiles/applicationProxy/agents").await?,
        404,
        "Request_ResourceNotFound",
    );
    let r = new_token(&app, Some(json!({"expiresInHours": 25}))).await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert_eq!(r.body["error"]["target"], "expiresInHours");
    assert_graph_error(&new_token(&app, Some(json!({"hours": 2}))).await?, 400, "Request_BadRequest");
    let r = new_token(&app, Some(json!({"expiresInHours": 24}))).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Unassign, then delete: the credential stops at once and this node's hub hears of it.
    let remove = format!("{PROFILE}/agentGroups/{sp}/agents/{b}/$ref");
    assert_eq!(app.send(Method::DELETE, &remove, None, &[]).await?.status, StatusCode::NO_CONTENT);
    assert_graph_error(&app.send(Method::DELETE, &remove, None, &[]).await?, 404, "Request_ResourceNotFound");
    let mut revocations = app.state.agent_revocations.subscribe();
    let r = app.send(Method::DELETE, &format!("{PROFILE}/agents/{a}"), None, &[]).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(revocations.recv().await?.agent_id, a);
    assert!(idplane_server::agents::authenticate(&app.state, &bearer(&a_credential)?).await.is_err());
    assert!(idplane_server::agents::is_revoked(&app.state, &a).await.ok() == Some(true));
    assert_graph_error(&app.get(&format!("{PROFILE}/agents/{a}")).await?, 404, "Request_ResourceNotFound");
    assert!(
        app.get(&format!("{PROFILE}/agentGroups/{sp}/agents")).await?.body["value"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    Ok(())
}

#[tokio::test]
async fn agents_are_tenant_scoped() -> Result<()> {
    let app = App::new().await?;
    let (a, _) = agent(&app, "corp-01").await?;
    let now = app.state.clock.now();
    let (_, secret) = tenant::create(app.provisioning.as_ref(), "Fabrikam", None, None, true, now).await?;
    let other = secret.context("a tenant token")?;
    let theirs = app.get_as(&format!("{PROFILE}/agents"), other.expose()).await?;
    assert_eq!(theirs.body["value"], json!([]), "{}", theirs.body);
    assert_graph_error(
        &app.get_as(&format!("{PROFILE}/agents/{a}"), other.expose()).await?,
        404,
        "Request_ResourceNotFound",
    );
    let r = app
        .send(
            Method::DELETE,
            &format!("{PROFILE}/agents/{a}"),
            None,
            &[("authorization", &format!("Bearer {}", other.expose()))],
        )
        .await?;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    // A token made by the other tenant registers agents of that tenant.
    let r = app
        .send(
            Method::POST,
            &format!("{PROFILE}/registrationTokens"),
            None,
            &[("authorization", &format!("Bearer {}", other.expose()))],
        )
        .await?;
    let registered = register(&app, &s(&r.body, "token"), "fabrikam-01").await?;
    assert_ne!(registered.body["tenantId"], json!(default_tenant(&app).await?));
    assert_eq!(app.get(&format!("{PROFILE}/agents")).await?.body["value"].as_array().map(Vec::len), Some(1));
    Ok(())
}

/// The shapes the agent program and scripts read: the registration answer, a registration token, an agent with an
/// application, and the registration error. Ids, secrets and times are redacted.
#[tokio::test]
async fn agent_shapes_are_stable() -> Result<()> {
    let app = App::new().await?;
    let instantiate = format!("/v1.0/applicationTemplates/{ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID}/instantiate");
    let r = app.send(Method::POST, &instantiate, Some(json!({"displayName": "Private SCIM"})), &[]).await?;
    let sp = s(&r.body["servicePrincipal"], "id");
    let created = new_token(&app, Some(json!({"expiresInHours": 3}))).await?;
    let registered = register(&app, &s(&created.body, "token"), "corp-01").await?;
    let agent_id = s(&registered.body, "agentId");
    let link = json!({"@odata.id": format!("agents/{agent_id}")});
    app.send(Method::POST, &format!("{PROFILE}/agentGroups/{sp}/agents/$ref"), Some(link), &[]).await?;
    let agent = app.get(&format!("{PROFILE}/agents/{agent_id}")).await?;
    let refused = register(&app, &s(&created.body, "token"), "corp-01").await?;

    let tenant_id = default_tenant(&app).await?;
    let redact = |v: &Value| -> Result<Value> {
        let text = v
            .to_string()
            .replace(&agent_id, "<agent id>")
            .replace(&sp, "<service principal id>")
            .replace(&tenant_id, "<tenant id>");
        Ok(serde_json::from_str(&text)?)
    };
    let mut settings = insta::Settings::clone_current();
    for field in [".token", ".credential", ".id", ".createdDateTime", ".expirationDateTime", ".error.innerError"] {
        settings.add_redaction(field, "<redacted>");
    }
    settings.bind(|| -> Result<()> {
        insta::assert_json_snapshot!("agent_registration_token", redact(&created.body)?);
        insta::assert_json_snapshot!("agent_registered", redact(&registered.body)?);
        insta::assert_json_snapshot!("agent", redact(&agent.body)?);
        insta::assert_json_snapshot!("agent_registration_refused", redact(&refused.body)?);
        Ok(())
    })?;
    Ok(())
}
