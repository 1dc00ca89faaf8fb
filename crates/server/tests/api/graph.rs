//! The provisioning service's Graph API (`/v1.0`) in-process: errors in Graph's shape, who may call it, the
//! directory (users, groups, nesting, managers, deleted items, OData paging), applications and assignments.

use anyhow::Result;
use axum::http::{Method, StatusCode};
use idplane_core::token::TokenScope;
use idplane_provisioning::tenant;
use idplane_testkit::{App, Reply};
use serde_json::{Value, json};

/// A Graph error of this status and code, with the innerError clients read.
pub(super) fn assert_graph_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.body);
    let inner = &r.body["error"]["innerError"];
    assert!(inner["date"].as_str().is_some_and(|d| d.ends_with('Z')), "{}", r.body);
    assert!(inner["request-id"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.body);
}

async fn post(app: &App, uri: &str, body: Value) -> Result<Reply> {
    app.send(Method::POST, uri, Some(body), &[]).await
}

async fn user(app: &App, upn: &str) -> Result<String> {
    let r = post(
        app,
        "/v1.0/users",
        json!({"displayName": upn, "userPrincipalName": upn, "mailNickname": "x",
        "accountEnabled": true, "passwordProfile": {"password": "Secret-1", "forceChangePasswordNextSignIn": false}}),
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok(r.body["id"].as_str().unwrap_or_default().to_string())
}

async fn group(app: &App, name: &str, security: bool) -> Result<String> {
    let body = json!({"displayName": name, "mailNickname": name, "mailEnabled": !security, "securityEnabled": security,
                      "groupTypes": if security { json!([]) } else { json!(["Unified"]) }});
    let r = post(app, "/v1.0/groups", body).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok(r.body["id"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn callers_need_a_tenant_token_or_an_account_administrator_and_errors_take_graph_shape() -> Result<()> {
    let app = App::new().await?;
    assert_graph_error(
        &app.send(Method::GET, "/v1.0/users", None, &[("authorization", "")]).await?,
        401,
        "InvalidAuthenticationToken",
    );
    let r = app
        .send(Method::GET, "/v1.0/users", None, &[("authorization", "Bearer nope"), ("client-request-id", "c-1")])
        .await?;
    assert_graph_error(&r, 401, "InvalidAuthenticationToken");
    assert_eq!(r.body["error"]["innerError"]["client-request-id"], "c-1");
    let scim = app.token_for(TokenScope::Account { account_id: app.account.clone() }, None).await?;
    let (scim_secret, _) = idplane_core::token::rotate_scim_token(
        app.store.as_ref(),
        &app.account,
        time::Duration::hours(1),
        time::OffsetDateTime::now_utc(),
        &idplane_core::audit::Actor::cli(),
    )
    .await?;
    assert_eq!(app.get_as("/v1.0/users", &scim).await?.status, StatusCode::OK, "an account admin token");
    assert_graph_error(&app.get_as("/v1.0/users", scim_secret.expose()).await?, 403, "Authorization_RequestDenied");
    let ws = app
        .token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace }, None)
        .await?;
    assert_graph_error(&app.get_as("/v1.0/users", &ws).await?, 403, "Authorization_RequestDenied");

    assert_graph_error(&app.get("/v1.0/nothingHere").await?, 400, "BadRequest");
    assert_graph_error(
        &app.send(Method::PUT, "/v1.0/users", Some(json!({})), &[]).await?,
        405,
        "Request_MethodNotAllowed",
    );
    assert_graph_error(
        &app.get("/v1.0/users/00000000-0000-4000-8000-000000000000").await?,
        404,
        "Request_ResourceNotFound",
    );
    assert_graph_error(&app.get("/v1.0/users?$orderby=displayName").await?, 400, "Request_UnsupportedQuery");
    assert_graph_error(&app.get("/v1.0/users?$filter=department%20eq%20'x'").await?, 400, "Request_UnsupportedQuery");
    assert_graph_error(&app.get("/v1.0/users?$filter=displayName%20eq").await?, 400, "Request_BadRequest");
    assert_graph_error(&post(&app, "/v1.0/users", json!({"displayName": "x"})).await?, 400, "Request_BadRequest");
    let r = app.send(Method::POST, "/v1.0/users", None, &[("content-type", "application/json")]).await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    Ok(())
}

#[tokio::test]
async fn tenants_are_isolated() -> Result<()> {
    let app = App::new().await?;
    let (other, secret) =
        tenant::create(app.provisioning.as_ref(), "other", None, None, true, time::OffsetDateTime::now_utc()).await?;
    let secret = secret.ok_or_else(|| anyhow::anyhow!("no token"))?;
    let mine = user(&app, "ann@contoso.com").await?;
    let r = app.get_as(&format!("/v1.0/users/{mine}"), secret.expose()).await?;
    assert_graph_error(&r, 404, "Request_ResourceNotFound");
    let r = app
        .send(
            Method::POST,
            "/v1.0/users",
            Some(json!({"displayName": "A", "userPrincipalName": "ann@contoso.com"})),
            &[("authorization", &format!("Bearer {}", secret.expose()))],
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "the same name in another tenant: {}", r.body);
    let listed = app.get_as("/v1.0/users", secret.expose()).await?;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(1));
    let org = app.get_as("/v1.0/organization", secret.expose()).await?;
    assert_eq!(
        (org.body["value"][0]["id"].clone(), org.body["value"][0]["displayName"].clone()),
        (json!(other.id), json!("other"))
    );
    assert_eq!(org.body["value"][0]["verifiedDomains"][0]["name"], "other.idplane.test");
    Ok(())
}

#[tokio::test]
async fn users_are_created_read_changed_deleted_restored_and_purged() -> Result<()> {
    let app = App::new().await?;
    let r = post(
        &app,
        "/V1.0/Users",
        json!({"@odata.type": "#microsoft.graph.user", "displayName": "Ann Lee",
        "userPrincipalName": "Ann@Contoso.com", "givenName": "Ann", "surname": "Lee", "businessPhones": ["+1 555"],
        "accountEnabled": true, "mailNickname": "ann", "passwordProfile": {"password": "P@ss-1"}}),
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(r.body["@odata.context"], "http://idp.test/v1.0/$metadata#users/$entity");
    assert_eq!(r.header(axum::http::header::LOCATION), format!("http://idp.test/v1.0/users/{id}"));
    assert!(r.body.get("passwordProfile").is_none(), "a password is never returned");
    assert_eq!(r.body["mail"], Value::Null, "unset default properties are null");
    assert!(r.body.get("accountEnabled").is_none(), "not a default property");

    let by_upn = app.get("/v1.0/users/ann@contoso.com?$select=accountEnabled,mailNickname").await?;
    assert_eq!(by_upn.body["id"], id.as_str());
    assert_eq!(
        (by_upn.body["accountEnabled"].clone(), by_upn.body["mailNickname"].clone()),
        (json!(true), json!("ann"))
    );
    let r = app
        .send(Method::PATCH, &format!("/v1.0/users/{id}"), Some(json!({"department": "Sales", "givenName": null})), &[])
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let read = app.get(&format!("/v1.0/users/{id}?$select=department,givenName")).await?;
    assert_eq!((read.body["department"].clone(), read.body["givenName"].clone()), (json!("Sales"), Value::Null));
    let r = post(&app, "/v1.0/users", json!({"displayName": "x", "userPrincipalName": "ANN@contoso.com"})).await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("userPrincipalName already exists"));

    assert_eq!(app.send(Method::DELETE, &format!("/v1.0/users/{id}"), None, &[]).await?.status, StatusCode::NO_CONTENT);
    assert_graph_error(&app.get(&format!("/v1.0/users/{id}")).await?, 404, "Request_ResourceNotFound");
    let deleted = app.get("/v1.0/directory/deletedItems/microsoft.graph.user").await?;
    assert_eq!(deleted.body["value"][0]["id"], id.as_str());
    assert_eq!(deleted.body["value"][0]["@odata.type"], "#microsoft.graph.user");
    let restored = post(&app, &format!("/v1.0/directory/deletedItems/{id}/restore"), json!({})).await?;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(app.get(&format!("/v1.0/users/{id}")).await?.status, StatusCode::OK);
    app.send(Method::DELETE, &format!("/v1.0/users/{id}"), None, &[]).await?;
    let purged = app.send(Method::DELETE, &format!("/v1.0/directory/deletedItems/{id}"), None, &[]).await?;
    assert_eq!(purged.status, StatusCode::NO_CONTENT);
    assert_graph_error(&app.get(&format!("/v1.0/directory/deletedItems/{id}")).await?, 404, "Request_ResourceNotFound");
    Ok(())
}

#[tokio::test]
async fn groups_nest_and_membership_is_checked() -> Result<()> {
    let app = App::new().await?;
    let (ann, bob) = (user(&app, "ann@contoso.com").await?, user(&app, "bob@contoso.com").await?);
    let inner = group(&app, "Engineers", true).await?;
    let r = post(&app, "/v1.0/groups", json!({"displayName": "All", "mailNickname": "all", "mailEnabled": false, "securityEnabled": true,
        "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{inner}"), format!("https://graph.microsoft.com/v1.0/users/{bob}")]})).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let outer = r.body["id"].as_str().unwrap_or_default().to_string();
    let add = |group: String, member: String| {
        let app = &app;
        async move {
            post(
                app,
                &format!("/v1.0/groups/{group}/members/$ref"),
                json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member}")}),
            )
            .await
        }
    };
    assert_eq!(add(inner.clone(), ann.clone()).await?.status, StatusCode::NO_CONTENT);
    assert_graph_error(&add(inner.clone(), ann.clone()).await?, 400, "Request_BadRequest");
    assert_graph_error(&add(inner.clone(), outer.clone()).await?, 400, "Request_BadRequest");
    assert_graph_error(
        &add(inner.clone(), "00000000-0000-4000-8000-000000000000".into()).await?,
        404,
        "Request_ResourceNotFound",
    );
    let members = app.get(&format!("/v1.0/groups/{outer}/members?$select=displayName")).await?;
    let mut types: Vec<&str> =
        members.body["value"].as_array().into_iter().flatten().filter_map(|m| m["@odata.type"].as_str()).collect();
    types.sort_unstable();
    assert_eq!(types, ["#microsoft.graph.group", "#microsoft.graph.user"], "{}", members.body);
    let member_of = app.get(&format!("/v1.0/users/{ann}/memberOf")).await?;
    assert_eq!(member_of.body["value"].as_array().map(Vec::len), Some(1), "direct groups only");
    let r = app.send(Method::DELETE, &format!("/v1.0/groups/{inner}/members/{ann}/$ref"), None, &[]).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_graph_error(
        &app.send(Method::DELETE, &format!("/v1.0/groups/{inner}/members/{ann}/$ref"), None, &[]).await?,
        404,
        "Request_ResourceNotFound",
    );

    // A security group is deleted at once; a Microsoft 365 group goes to the deleted items.
    let m365 = group(&app, "Team", false).await?;
    app.send(Method::DELETE, &format!("/v1.0/groups/{inner}"), None, &[]).await?;
    app.send(Method::DELETE, &format!("/v1.0/groups/{m365}"), None, &[]).await?;
    let deleted = app.get("/v1.0/directory/deletedItems/microsoft.graph.group").await?;
    let ids: Vec<&str> =
        deleted.body["value"].as_array().into_iter().flatten().filter_map(|g| g["id"].as_str()).collect();
    assert_eq!(ids, [m365.as_str()]);
    Ok(())
}

#[tokio::test]
async fn listings_page_through_absolute_next_links_and_count() -> Result<()> {
    let app = App::new().await?;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(user(&app, &format!("user{i}@contoso.com")).await?);
    }
    let mut seen = Vec::new();
    let mut url = "/v1.0/users?$top=3&$count=true&$select=id,userPrincipalName".to_string();
    let mut pages = 0;
    loop {
        let r = app.get(&url).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if pages == 0 {
            assert_eq!(r.body["@odata.count"], 7);
        }
        pages += 1;
        seen.extend(
            r.body["value"].as_array().into_iter().flatten().filter_map(|u| u["id"].as_str().map(str::to_string)),
        );
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with("http://idp.test/v1.0/users?"), "{next}");
                url = next.trim_start_matches("http://idp.test").to_string();
            }
            None => break,
        }
    }
    // Every user once; ids created in the same millisecond are in no particular order.
    made.sort_unstable();
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!((pages, sorted), (3, made));
    let r = app.get("/v1.0/users?$filter=startsWith(userPrincipalName,'USER1')%20or%20userPrincipalName%20in%20('user5@contoso.com')").await?;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(2), "{}", r.body);
    let r = app
        .send(
            Method::GET,
            "/v1.0/users/$count?$filter=accountEnabled%20eq%20true",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await?;
    assert_eq!(
        (r.status, r.header(axum::http::header::CONTENT_TYPE), r.body.clone()),
        (StatusCode::OK, "text/plain", json!(7))
    );
    Ok(())
}

#[tokio::test]
async fn managers_and_direct_reports() -> Result<()> {
    let app = App::new().await?;
    let (boss, ann) = (user(&app, "boss@contoso.com").await?, user(&app, "ann@contoso.com").await?);
    let put = app
        .send(
            Method::PUT,
            &format!("/v1.0/users/{ann}/manager/$ref"),
            Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{boss}")})),
            &[],
        )
        .await?;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    let m = app.get(&format!("/v1.0/users/{ann}/manager")).await?;
    assert_eq!((m.body["id"].clone(), m.body["@odata.type"].clone()), (json!(boss), json!("#microsoft.graph.user")));
    let reports = app.get(&format!("/v1.0/users/{boss}/directReports")).await?;
    assert_eq!(reports.body["value"][0]["id"], ann.as_str());
    let own =
        app.send(Method::PUT, &format!("/v1.0/users/{ann}/manager/$ref"), Some(json!({"@odata.id": ann})), &[]).await?;
    assert_graph_error(&own, 400, "Request_BadRequest");
    assert_eq!(
        app.send(Method::DELETE, &format!("/v1.0/users/{ann}/manager/$ref"), None, &[]).await?.status,
        StatusCode::NO_CONTENT
    );
    assert_graph_error(&app.get(&format!("/v1.0/users/{ann}/manager")).await?, 404, "Request_ResourceNotFound");
    Ok(())
}

#[tokio::test]
async fn applications_come_from_templates_and_take_assignments() -> Result<()> {
    let app = App::new().await?;
    let templates = app.get("/v1.0/applicationTemplates?$filter=displayName%20eq%20'Azure%20Databricks%20SCIM%20Provisioning%20Connector'").await?;
    let template = templates.body["value"][0]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(templates.body["value"].as_array().map(Vec::len), Some(1), "{}", templates.body);
    let r =
        post(&app, &format!("/v1.0/applicationTemplates/{template}/instantiate"), json!({"displayName": "Databricks"}))
            .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let sp = r.body["servicePrincipal"]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(r.body["servicePrincipal"]["appId"], r.body["application"]["appId"]);
    assert_eq!(r.body["servicePrincipal"]["applicationTemplateId"], template.as_str());
    assert_eq!(r.body["servicePrincipal"]["appRoleAssignmentRequired"], true);
    assert_graph_error(
        &post(&app, "/v1.0/applicationTemplates/nope/instantiate", json!({"displayName": "x"})).await?,
        404,
        "Request_ResourceNotFound",
    );

    let r = app
        .send(
            Method::PATCH,
            &format!("/v1.0/servicePrincipals/{sp}"),
            Some(json!({"appRoleAssignmentRequired": false, "notes": "n"})),
            &[],
        )
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let read = app.get(&format!("/v1.0/servicePrincipals/{sp}")).await?;
    assert_eq!(
        (read.body["appRoleAssignmentRequired"].clone(), read.body["notes"].clone()),
        (json!(false), json!("n"))
    );
    let found = app
        .get(&format!(
            "/v1.0/servicePrincipals?$filter=appId%20eq%20'{}'",
            read.body["appId"].as_str().unwrap_or_default()
        ))
        .await?;
    assert_eq!(found.body["value"][0]["id"], sp.as_str());

    let ann = user(&app, "ann@contoso.com").await?;
    let sales = group(&app, "Sales", true).await?;
    let team = group(&app, "Team", false).await?;
    let assign = |principal: String| {
        let (app, sp) = (&app, sp.clone());
        async move {
            post(
                app,
                &format!("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo"),
                json!({"principalId": principal, "resourceId": sp,
                "appRoleId": "00000000-0000-0000-0000-000000000000"}),
            )
            .await
        }
    };
    let a = assign(ann.clone()).await?;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(
        (a.body["principalType"].clone(), a.body["resourceDisplayName"].clone()),
        (json!("User"), json!("Databricks"))
    );
    assert_eq!(a.body["id"].as_str().map(str::len), Some(43));
    assert_graph_error(&assign(ann.clone()).await?, 400, "Request_BadRequest");
    assert_eq!(assign(sales.clone()).await?.status, StatusCode::CREATED);
    let refused = assign(team).await?;
    assert_graph_error(&refused, 400, "Request_BadRequest");
    assert!(refused.body["error"]["message"].as_str().unwrap_or_default().contains("security"));
    let listed = app.get(&format!("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo?$top=1")).await?;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(1));
    assert!(listed.body["@odata.nextLink"].is_string());
    let of_user = app.get(&format!("/v1.0/users/{ann}/appRoleAssignments")).await?;
    assert_eq!(of_user.body["value"][0]["resourceId"], sp.as_str());
    let id = a.body["id"].as_str().unwrap_or_default();
    let r =
        app.send(Method::DELETE, &format!("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo/{id}"), None, &[]).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1.0/users/{ann}/appRoleAssignments")).await?.body["value"], json!([]));
    Ok(())
}

/// An enterprise application made from the Databricks gallery template; its service principal's id.
async fn databricks_app(app: &App) -> Result<String> {
    let r = post(
        app,
        "/v1.0/applicationTemplates/9c9818d2-2900-49e8-8ba4-22688be7c675/instantiate",
        json!({"displayName": "Databricks"}),
    )
    .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok(r.body["servicePrincipal"]["id"].as_str().unwrap_or_default().to_string())
}

/// An application made from the Databricks template, with a provisioning job: its synchronization path and the job.
async fn databricks_job(app: &App) -> Result<(String, String)> {
    let sp = databricks_app(app).await?;
    let sync = format!("/v1.0/servicePrincipals/{sp}/synchronization");
    let r = post(app, &format!("{sync}/jobs"), json!({"templateId": "dataBricks"})).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok((sync, r.body["id"].as_str().unwrap_or_default().to_string()))
}

#[tokio::test]
async fn a_job_is_created_from_the_template_and_its_secrets_are_sealed_and_masked() -> Result<()> {
    let app = App::new().await?;
    let sp = databricks_app(&app).await?;
    let sync = format!("/v1.0/servicePrincipals/{sp}/synchronization");
    let templates = app.get(&format!("{sync}/templates")).await?;
    assert_eq!(templates.body["value"][0]["id"], "dataBricks", "{}", templates.body);
    assert!(templates.body["value"][0]["schema"]["synchronizationRules"][0]["objectMappings"].is_array());

    assert_graph_error(
        &post(&app, &format!("{sync}/jobs"), json!({"templateId": "scim"})).await?,
        400,
        "Request_BadRequest",
    );
    let created = post(&app, &format!("{sync}/jobs"), json!({"templateId": "dataBricks"})).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let job = created.body["id"].as_str().unwrap_or_default().to_string();
    let tenant =
        app.provisioning.tenant_of_account(&app.account).await?.map(|t| t.id.replace('-', "")).unwrap_or_default();
    assert!(job.starts_with(&format!("dataBricks.{tenant}.")), "{job}");
    assert_eq!(
        created.body["schedule"],
        json!({"expiration": null, "interval": "P10675199DT2H48M5.4775807S", "state": "Disabled"})
    );
    assert_eq!(created.body["status"]["code"], "NotConfigured");
    assert_graph_error(
        &post(&app, &format!("{sync}/jobs"), json!({"templateId": "dataBricks"})).await?,
        400,
        "Request_BadRequest",
    );
    let r = app
        .send(Method::PATCH, &format!("{sync}/jobs/{job}"), Some(json!({"schedule": {"interval": "PT20M"}})), &[])
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.get(&format!("{sync}/jobs/{job}")).await?.body["schedule"]["interval"], "PT20M");

    let put = app.send(Method::PUT, &format!("{sync}/secrets"), Some(json!({"value": [
        {"key": "BaseAddress", "value": "https://adb-1.azuredatabricks.net/api/2.1/accounts/a/scim/v2"},
        {"key": "SecretToken", "value": "dapi-very-secret"},
        {"key": "SyncAll", "value": "false"},
        {"key": "SyncNotificationSettings", "value": "{\"Enabled\":true,\"Recipients\":\"ops@contoso.com\",\"DeleteThresholdEnabled\":true,\"DeleteThresholdValue\":500}"}]})), &[]).await?;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
    let read = app.get(&format!("{sync}/secrets")).await?;
    let shown: Vec<(String, String)> = read.body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (p["key"].as_str().unwrap_or_default().to_string(), p["value"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    assert!(shown.contains(&("SecretToken".into(), "*".into())), "{shown:?}");
    assert!(shown.contains(&("SyncAll".into(), "false".into())), "{shown:?}");
    let sealed = app
        .provisioning
        .secrets(&app.provisioning.tenant_of_account(&app.account).await?.map(|t| t.id).unwrap_or_default(), &sp)
        .await?;
    assert_eq!(sealed.len(), 4);
    assert!(sealed.iter().all(|s| !String::from_utf8_lossy(&s.sealed).contains("dapi-very-secret")), "sealed at rest");
    // An empty value removes a key; an unknown key or a bad value is refused.
    app.send(Method::PUT, &format!("{sync}/secrets"), Some(json!({"value": [{"key": "SyncAll", "value": ""}]})), &[])
        .await?;
    assert_eq!(app.get(&format!("{sync}/secrets")).await?.body["value"].as_array().map(Vec::len), Some(3));
    for bad in [
        json!({"value": [{"key": "Nope", "value": "x"}]}),
        json!({"value": [{"key": "SyncAll", "value": "maybe"}]}),
        json!({}),
    ] {
        assert_graph_error(
            &app.send(Method::PUT, &format!("{sync}/secrets"), Some(bad), &[]).await?,
            400,
            "Request_BadRequest",
        );
    }
    assert_eq!(
        app.send(Method::DELETE, &format!("{sync}/jobs/{job}"), None, &[]).await?.status,
        StatusCode::NO_CONTENT
    );
    assert_graph_error(&app.get(&format!("{sync}/jobs/{job}")).await?, 404, "Request_ResourceNotFound");
    Ok(())
}

#[tokio::test]
async fn test_connection_probes_the_target_over_scim_and_says_what_failed() -> Result<()> {
    let app = App::new().await?;
    let served = app.listen().await?;
    let (sync, job) = databricks_job(&app).await?;
    let (scim_token, _) = idplane_core::token::rotate_scim_token(
        app.store.as_ref(),
        &app.account,
        time::Duration::hours(1),
        time::OffsetDateTime::now_utc(),
        &idplane_core::audit::Actor::cli(),
    )
    .await?;
    let account_url = format!("{}/api/2.1/accounts/{}/scim/v2", served.origin(), app.account);
    let validate = |creds: Value| {
        let (app, url) = (&app, format!("{sync}/jobs/{job}/validateCredentials"));
        async move { post(app, &url, json!({"useSavedCredentials": false, "credentials": creds})).await }
    };
    let r = validate(
        json!([{"key": "BaseAddress", "value": account_url}, {"key": "SecretToken", "value": scim_token.expose()}]),
    )
    .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let ws_token = app
        .token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace }, None)
        .await?;
    let ws_url = format!("{}/api/2.0/preview/scim?aadOptscim062020", served.origin());
    let r =
        validate(json!([{"key": "BaseAddress", "value": ws_url}, {"key": "SecretToken", "value": ws_token}])).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "workspace level: {}", r.body);

    let r =
        validate(json!([{"key": "BaseAddress", "value": account_url}, {"key": "SecretToken", "value": "dapiwrong"}]))
            .await?;
    assert_graph_error(&r, 400, "SystemForCrossDomainIdentityManagementCredentialValidationFailure");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("401") && message.contains("GET http://127.0.0.1"), "{message}");
    assert!(!message.contains("dapiwrong"), "the token is never echoed: {message}");

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?
    };
    let started = std::time::Instant::now();
    let r = validate(
        json!([{"key": "BaseAddress", "value": format!("http://{closed}/scim")}, {"key": "SecretToken", "value": "t"}]),
    )
    .await?;
    assert_graph_error(&r, 400, "SystemForCrossDomainIdentityManagementCredentialValidationUnavailable");
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("refused"), "{}", r.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "bounded");
    assert_graph_error(
        &validate(json!([{"key": "BaseAddress", "value": "https://"}])).await?,
        400,
        "Request_BadRequest",
    );

    // Saved credentials, and the collection-level variant before any job.
    app.send(
        Method::PUT,
        &format!("{sync}/secrets"),
        Some(json!({"value": [{"key": "BaseAddress", "value": account_url},
        {"key": "SecretToken", "value": scim_token.expose()}]})),
        &[],
    )
    .await?;
    let r = post(&app, &format!("{sync}/jobs/{job}/validateCredentials"), json!({"useSavedCredentials": true})).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = post(
        &app,
        &format!("{sync}/jobs/validateCredentials"),
        json!({"templateId": "dataBricks", "useSavedCredentials": true}),
    )
    .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn schemas_are_replaced_validated_and_expressions_parsed() -> Result<()> {
    let app = App::new().await?;
    let (sync, job) = databricks_job(&app).await?;
    let schema_url = format!("{sync}/jobs/{job}/schema");
    let mut schema = app.get(&schema_url).await?.body;
    assert_eq!(schema["id"], job.as_str());
    let users = schema["synchronizationRules"][0]["objectMappings"]
        .as_array()
        .and_then(|m| m.iter().position(|o| o["sourceObjectName"] == "User"))
        .unwrap_or(0);
    let mapping = &mut schema["synchronizationRules"][0]["objectMappings"][users];
    mapping["scope"] = json!({"groups": [{"name": "Sales", "clauses": [{"operatorName": "EQUALS", "sourceOperandName": "department", "targetOperand": {"values": ["Sales"]}}]}]});
    if let Some(list) = mapping["attributeMappings"].as_array_mut()
        && let Some(display) = list.iter_mut().find(|m| m["targetAttributeName"] == "displayName")
    {
        display["source"] = json!({"expression": "Join(\" \", [givenName], [surname])", "type": "Function"});
    }
    // The SDK sends PATCH, and drops flowTypes: kept from the template.
    mapping.as_object_mut().map(|m| m.remove("flowTypes"));
    let r = app.send(Method::PATCH, &schema_url, Some(schema.clone()), &[]).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let read = app.get(&schema_url).await?.body;
    let mapping = &read["synchronizationRules"][0]["objectMappings"][users];
    assert_eq!(mapping["scope"]["groups"][0]["clauses"][0]["sourceOperandName"], "department");
    assert_eq!(mapping["flowTypes"], "Add, Update, Delete");
    let display = mapping["attributeMappings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["targetAttributeName"] == "displayName")
        .cloned()
        .unwrap_or_default();
    assert_eq!(display["source"]["name"], "Join", "{display}");
    assert_eq!(display["source"]["parameters"][1]["value"]["expression"], "[givenName]");
    assert_eq!(read["version"], "2");

    let mut bad = schema.clone();
    if let Some(list) = bad["synchronizationRules"][0]["objectMappings"][users]["attributeMappings"].as_array_mut() {
        list.push(json!({"targetAttributeName": "id", "source": {"type": "Attribute", "name": "objectId", "expression": "[objectId]"}}));
        list.push(json!({"targetAttributeName": "nickName", "source": {"type": "Attribute", "name": "nope", "expression": "[nope]"}}));
    }
    let r = app.send(Method::PUT, &schema_url, Some(bad), &[]).await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("'id'") && message.contains("nope"), "{message}");

    let parse = post(
        &app,
        &format!("{schema_url}/parseExpression"),
        json!({"expression": "Replace([preferredLanguage], \"-\", , , \"_\", , )",
        "testInputObject": {"definition": null, "properties": [{"key": "preferredLanguage", "value": "EN-US"}]}}),
    )
    .await?;
    assert_eq!(parse.status, StatusCode::OK, "{}", parse.body);
    assert_eq!(
        (parse.body["parsingSucceeded"].clone(), parse.body["evaluationResult"].clone()),
        (json!(true), json!(["EN_US"]))
    );
    let keys: Vec<&str> = parse.body["parsedExpression"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert_eq!((keys.len(), keys.first().copied()), (3, Some("source")), "empty slots are left out: {keys:?}");
    let broken =
        post(&app, &format!("{schema_url}/parseExpression"), json!({"expression": "Join(\" \", [givenName]"})).await?;
    assert_eq!(
        (broken.body["parsingSucceeded"].clone(), broken.body["parsedExpression"].clone()),
        (json!(false), Value::Null)
    );
    assert!(broken.body["error"]["message"].as_str().unwrap_or_default().contains("character"), "{}", broken.body);

    let functions = app.get(&format!("{schema_url}/functions")).await?;
    let append = functions.body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == "Append")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        append["parameters"][0],
        json!({"allowMultipleOccurrences": false, "name": "source", "required": true, "type": "String"})
    );
    let operators = app.get(&format!("{schema_url}/filterOperators")).await?;
    assert!(
        operators.body["value"].as_array().into_iter().flatten().any(|o| o["name"] == "EQUALS"),
        "{}",
        operators.body
    );
    Ok(())
}

/// Follows `@odata.nextLink`s from `url` to the page with the `@odata.deltaLink`: the objects seen, and that link.
async fn delta_round(app: &App, url: &str) -> Result<(Vec<Value>, String)> {
    let mut items = Vec::new();
    let mut url = url.to_string();
    for _ in 0..100 {
        let r = app.get(&url).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        items.extend(r.body["value"].as_array().cloned().unwrap_or_default());
        if let Some(delta) = r.body["@odata.deltaLink"].as_str() {
            return Ok((items, delta.trim_start_matches("http://idp.test").to_string()));
        }
        url = r.body["@odata.nextLink"].as_str().unwrap_or_default().trim_start_matches("http://idp.test").to_string();
    }
    anyhow::bail!("no deltaLink after 100 pages")
}

#[tokio::test]
async fn delta_queries_return_everything_then_only_what_changed() -> Result<()> {
    let app = App::new().await?;
    let (ann, bob) = (user(&app, "ann@contoso.com").await?, user(&app, "bob@contoso.com").await?);
    let carl = user(&app, "carl@contoso.com").await?;
    let (first, link) = delta_round(&app, "/v1.0/users/delta?$top=2&$select=displayName").await?;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|u| u.get("userPrincipalName").is_none()), "$select holds across pages");
    let (nothing, link) = delta_round(&app, &link).await?;
    assert!(nothing.is_empty(), "{nothing:?}");

    app.send(Method::PATCH, &format!("/v1.0/users/{ann}"), Some(json!({"displayName": "Ann Lee"})), &[]).await?;
    app.send(Method::DELETE, &format!("/v1.0/users/{bob}"), None, &[]).await?;
    app.send(Method::DELETE, &format!("/v1.0/users/{carl}"), None, &[]).await?;
    app.send(Method::DELETE, &format!("/v1.0/directory/deletedItems/{carl}"), None, &[]).await?;
    let dan = user(&app, "dan@contoso.com").await?;
    let (changed, _) = delta_round(&app, &link).await?;
    let by_id = |id: &str| changed.iter().find(|u| u["id"] == id).cloned().unwrap_or_default();
    assert_eq!(changed.len(), 4, "{changed:?}");
    assert_eq!(by_id(&ann)["displayName"], "Ann Lee");
    assert_eq!(by_id(&bob)["@removed"]["reason"], "changed", "in the deleted items");
    assert_eq!(by_id(&carl)["@removed"]["reason"], "deleted", "gone for good");
    assert_eq!(by_id(&dan)["displayName"], "dan@contoso.com");

    let g = group(&app, "g", true).await?;
    let (_, glink) = delta_round(&app, "/v1.0/groups/delta").await?;
    post(&app, &format!("/v1.0/groups/{g}/members/$ref"), json!({"@odata.id": ann})).await?;
    post(&app, &format!("/v1.0/groups/{g}/members/$ref"), json!({"@odata.id": dan})).await?;
    app.send(Method::DELETE, &format!("/v1.0/groups/{g}/members/{dan}/$ref"), None, &[]).await?;
    let (groups, _) = delta_round(&app, &glink).await?;
    let members = groups[0]["members@delta"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().any(|m| m["id"] == ann.as_str() && m.get("@removed").is_none()));
    assert!(members.iter().any(|m| m["id"] == dan.as_str() && m["@removed"]["reason"] == "deleted"));
    assert_graph_error(&app.get("/v1.0/users/delta?$deltatoken=nonsense").await?, 400, "Request_BadRequest");
    Ok(())
}

#[tokio::test]
async fn batches_run_their_requests_in_order_and_answer_each() -> Result<()> {
    let app = App::new().await?;
    let g = group(&app, "g", true).await?;
    let r = post(&app, "/v1.0/$batch", json!({"requests": [
        {"id": "1", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"},
         "body": {"displayName": "Ann", "userPrincipalName": "ann@contoso.com"}},
        {"id": "2", "method": "POST", "url": "/users", "body": {"displayName": "Ann again", "userPrincipalName": "ANN@contoso.com"}},
        {"id": "3", "method": "GET", "url": format!("/groups/{g}?$select=displayName"), "dependsOn": ["1"]},
        {"id": "4", "method": "DELETE", "url": "/users/ann@contoso.com", "dependsOn": ["2"]},
        {"id": "5", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users?$select=userPrincipalName"}]})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let answers = r.body["responses"].as_array().cloned().unwrap_or_default();
    let status: Vec<(String, u64)> = answers
        .iter()
        .map(|a| (a["id"].as_str().unwrap_or_default().to_string(), a["status"].as_u64().unwrap_or_default()))
        .collect();
    assert_eq!(status, [("1".into(), 201), ("2".into(), 400), ("3".into(), 200), ("4".into(), 424), ("5".into(), 200)]);
    assert_eq!(answers[1]["body"]["error"]["code"], "Request_BadRequest");
    assert_eq!(answers[2]["body"]["displayName"], "g");
    assert_eq!(answers[4]["body"]["value"][0]["userPrincipalName"], "ann@contoso.com", "the DELETE did not run");
    let too_many: Vec<Value> =
        (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"})).collect();
    assert_graph_error(&post(&app, "/v1.0/$batch", json!({"requests": too_many})).await?, 400, "Request_BadRequest");
    let unknown_dependency = json!({"requests": [{"id": "a", "method": "GET", "url": "/users", "dependsOn": ["b"]}]});
    assert_graph_error(&post(&app, "/v1.0/$batch", unknown_dependency).await?, 400, "Request_BadRequest");
    assert_graph_error(
        &app.send(Method::POST, "/v1.0/$batch", Some(json!({"requests": []})), &[("authorization", "Bearer nope")])
            .await?,
        401,
        "InvalidAuthenticationToken",
    );
    Ok(())
}

/// The spellings msgraph-sdk's request builders send: the deleted items cast to `graph.user` / `graph.group` (the
/// short namespace) and the schema's functions called with parentheses (`functions()`, `filterOperators()`).
#[tokio::test]
async fn the_sdks_cast_and_function_call_spellings_are_routed() -> Result<()> {
    let app = App::new().await?;
    let ann = user(&app, "ann@contoso.com").await?;
    let team = group(&app, "Team", false).await?;
    app.send(Method::DELETE, &format!("/v1.0/users/{ann}"), None, &[]).await?;
    app.send(Method::DELETE, &format!("/v1.0/groups/{team}"), None, &[]).await?;
    for (cast, id) in [("graph.user", &ann), ("Graph.Group", &team), ("microsoft.graph.user", &ann)] {
        let r = app.get(&format!("/v1.0/directory/deletedItems/{cast}")).await?;
        assert_eq!(r.status, StatusCode::OK, "{cast}: {}", r.body);
        assert_eq!(r.body["value"][0]["id"], id.as_str(), "{cast}: {}", r.body);
    }

    let (sync, job) = databricks_job(&app).await?;
    for (call, listed) in [("functions()", "Append"), ("filterOperators()", "EQUALS"), ("functions", "Join")] {
        let r = app.get(&format!("{sync}/jobs/{job}/schema/{call}")).await?;
        assert_eq!(r.status, StatusCode::OK, "{call}: {}", r.body);
        assert!(r.body["value"].as_array().into_iter().flatten().any(|f| f["name"] == listed), "{call}: {}", r.body);
    }
    Ok(())
}

/// msgraph-sdk for Python writes a schedule's `timedelta` interval as Python prints it (`1 day, 0:20:00`): taken,
/// and kept as the ISO 8601 duration Graph shows.
#[tokio::test]
async fn a_schedule_interval_is_taken_in_the_clock_form_the_python_sdk_writes() -> Result<()> {
    let app = App::new().await?;
    let (sync, job) = databricks_job(&app).await?;
    for (sent, shown) in [("0:20:00", "PT20M"), ("1 day, 0:20:00", "P1DT20M"), ("PT45M", "PT45M")] {
        let body = json!({"schedule": {"interval": sent}});
        let r = app.send(Method::PATCH, &format!("{sync}/jobs/{job}"), Some(body), &[]).await?;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{sent}: {}", r.body);
        assert_eq!(app.get(&format!("{sync}/jobs/{job}")).await?.body["schedule"]["interval"], shown, "{sent}");
    }
    let r = app
        .send(Method::PATCH, &format!("{sync}/jobs/{job}"), Some(json!({"schedule": {"interval": "0:00:00"}})), &[])
        .await?;
    assert_graph_error(&r, 400, "Request_BadRequest");
    Ok(())
}

/// parseExpression reads a test object's strings with their attributes' types, as a cycle reads the directory:
/// Microsoft's sample test object sends `IsSoftDeleted` as "false", which the default `active` mapping must see as
/// a Boolean; a definition given with the object decides instead.
#[tokio::test]
async fn parse_expression_types_the_test_objects_values_as_the_source_defines_them() -> Result<()> {
    let app = App::new().await?;
    let (sync, job) = databricks_job(&app).await?;
    let active = "Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")";
    let evaluate = |properties: Value, definition: Value| {
        let (app, url) = (&app, format!("{sync}/jobs/{job}/schema/parseExpression"));
        async move {
            let body = json!({"expression": active,
                              "testInputObject": {"definition": definition, "properties": properties}});
            let r = post(app, &url, body).await?;
            assert_eq!((r.status, r.body["evaluationSucceeded"].clone()), (StatusCode::OK, json!(true)), "{}", r.body);
            anyhow::Ok(r.body["evaluationResult"].clone())
        }
    };
    let sample = |soft_deleted: &str| {
        json!([{"key": "objectId", "value": "66E4A8CC-1B7B-435E-95F8-F06CEA133828"},
               {"key": "IsSoftDeleted", "value": soft_deleted}, {"key": "preferredLanguage", "value": "EN-US"},
               {"key": "appRoleAssignments", "value@odata.type": "#Collection(String)", "value": ["Default Assignment"]}])
    };
    assert_eq!(evaluate(sample("false"), Value::Null).await?, json!(["True"]));
    assert_eq!(evaluate(sample("True"), Value::Null).await?, json!(["False"]));
    let as_text = json!({"name": "User", "attributes": [{"name": "IsSoftDeleted", "type": "String"}]});
    assert_eq!(evaluate(sample("false"), as_text).await?, json!([]), "no case matches the text 'false'");
    Ok(())
}
