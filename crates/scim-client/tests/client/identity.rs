//! Against a real idplane identity service over HTTP: Test Connection at every level Databricks has, a wrong token,
//! and the operations the engine needs, round-tripped.

use anyhow::Result;
use idplane_scim_client::{
    ConnectionTestCode, DEFAULT_MATCHING_ATTRIBUTE, Endpoint, Error, ListRequest, PatchDialect, resource_id,
};
use idplane_testkit::{App, TOKEN};
use serde_json::{Value, json};

use crate::support::{GUID, client, serve};

#[tokio::test]
async fn test_connection_succeeds_at_account_and_workspace_level() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    let origin = format!("http://{}", served.addr);
    let account = &app.account;
    for base in [
        format!("{origin}/api/2.1/accounts/{account}/scim/v2"),
        format!("{origin}/api/2.0/accounts/{account}/scim/v2"),
        format!("{origin}/api/2.0/preview/scim"),
        format!("{origin}/api/2.0/preview/scim/v2"),
        format!("{origin}/api/2.1/accounts/{account}/scim/v2/?aadOptscim062020"),
        format!("{origin}/api/2.0/preview/scim?aadOptscim062020"),
    ] {
        let client = client(&base, TOKEN)?;
        let result = client.test_connection(DEFAULT_MATCHING_ATTRIBUTE, GUID).await;
        assert!(result.is_ok(), "{base}: {}", result.err().map(|e| e.to_string()).unwrap_or_default());
        let expected =
            if base.contains("aadOptscim062020") { PatchDialect::Rfc7644 } else { PatchDialect::EntraDefault };
        assert_eq!(client.tenant().patch_dialect(), expected, "{base}");
        // Another matching attribute, as mappings may choose.
        let by_external_id = client.test_connection("externalId", GUID).await;
        assert!(by_external_id.is_ok(), "{base}: {:?}", by_external_id.err());
    }
    Ok(())
}

#[tokio::test]
async fn test_connection_with_a_wrong_token_names_the_401_and_the_body() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    let base = format!("http://{}/api/2.1/accounts/{}/scim/v2", served.addr, app.account);
    let failure = client(&base, "dapi-not-the-token")?.test_connection("userName", GUID).await.unwrap_err();
    assert_eq!(failure.code, ConnectionTestCode::CredentialValidationFailure);
    assert_eq!(failure.error.status(), Some(401));
    let response = failure.error.response().expect("a 401 carries the target's answer");
    assert!(response.detail.as_deref().is_some_and(|d| !d.is_empty()), "{response:?}");
    let message = failure.to_string();
    assert!(
        message.starts_with(
            "Test Connection failed with SystemForCrossDomainIdentityManagementCredentialValidationFailure: the \
             target did not accept the secret token"
        ),
        "{message}"
    );
    assert!(message.contains("the target answered 401 Unauthorized; body starts: {"), "{message}");
    assert!(message.contains(&response.body_start), "{message}");
    let probe = format!("request: GET {base}/Users?filter=userName+eq+%22{GUID}%22");
    assert!(message.ends_with(&probe), "{message}");
    assert!(!message.contains("dapi-not-the-token"), "{message}");
    Ok(())
}

#[tokio::test]
async fn test_connection_to_a_wrong_path_is_a_404_with_advice() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    let base = format!("http://{}/api/2.0/accounts/{}/scim", served.addr, app.account);
    let failure = client(&base, TOKEN)?.test_connection("userName", GUID).await.unwrap_err();
    assert_eq!(failure.code, ConnectionTestCode::CredentialValidationUnavailable);
    assert_eq!(failure.error.status(), Some(404));
    assert!(failure.to_string().contains("the tenant URL's path seems wrong"), "{failure}");
    Ok(())
}

fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "jdoe",
        "userName": user_name,
        "active": true,
        "displayName": "Jane Doe",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "meta": {"resourceType": "User"}
    })
}

#[tokio::test]
async fn users_round_trip_as_entra_provisions_them() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    let base = format!("http://{}/api/2.1/accounts/{}/scim/v2?aadOptscim062020", served.addr, app.account);
    let scim = client(&base, TOKEN)?;
    let users = Endpoint::USERS;

    // Match first: nobody yet.
    let found = scim.list(&users, &ListRequest::filter_eq("userName", "jdoe@contoso.com")).await?;
    assert_eq!((found.total_results, found.resources.len()), (0, 0));

    let created = scim.create(&users, &user_body("jdoe@contoso.com")).await?;
    let id = resource_id(&created).expect("created with an id");
    assert_eq!(created["userName"], "jdoe@contoso.com");

    let found = scim.list(&users, &ListRequest::filter_eq("userName", "jdoe@contoso.com")).await?;
    assert_eq!(found.total_results, 1);
    assert_eq!(resource_id(&found.resources[0]).as_deref(), Some(id.as_str()));

    let read = scim.get(&users, &id, None).await?;
    assert_eq!(read["displayName"], "Jane Doe");

    // Entra's default dialect, then the RFC one.
    let patched =
        scim.patch(&users, &id, &[json!({"op": "Replace", "path": "displayName", "value": "Jane D."})]).await?;
    if let Some(p) = patched {
        assert_eq!(p["displayName"], "Jane D.");
    }
    scim.patch(&users, &id, &[json!({"op": "replace", "path": "active", "value": false})]).await?;
    let read = scim.get(&users, &id, None).await?;
    assert_eq!((read["displayName"].clone(), read["active"].clone()), (json!("Jane D."), json!(false)));

    let mut replacement = user_body("jdoe@contoso.com");
    replacement["displayName"] = json!("Jane Replaced");
    let replaced = scim.replace(&users, &id, &replacement).await?;
    assert_eq!(replaced["displayName"], "Jane Replaced");

    // A second user with the same userName: the target's 409, read.
    let conflict = scim.create(&users, &user_body("JDOE@contoso.com")).await.unwrap_err();
    let response = conflict.response().expect("a 409 answer");
    assert_eq!(response.status, 409);
    assert_eq!(response.scim_type.as_deref(), Some("uniqueness"));
    assert!(response.detail.is_some(), "{conflict}");

    scim.delete(&users, &id).await?;
    let gone = scim.get(&users, &id, None).await.unwrap_err();
    assert_eq!(gone.status(), Some(404), "{gone}");
    assert!(matches!(gone, Error::Status { .. }));
    Ok(())
}

#[tokio::test]
async fn groups_round_trip_with_members_as_entra_sends_them() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    let scim = client(&format!("http://{}/api/2.0/preview/scim", served.addr), TOKEN)?;
    let groups = Endpoint::GROUPS;
    let user = scim.create(&Endpoint::USERS, &user_body("member@contoso.com")).await?;
    let user_id = resource_id(&user).expect("user id");

    let lookup = ListRequest::filter_eq("displayName", "Sales \"EU\"").excluding("members");
    assert_eq!(scim.list(&groups, &lookup).await?.total_results, 0);
    let group = scim
        .create(
            &groups,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "g-1",
                    "displayName": "Sales \"EU\"", "meta": {"resourceType": "Group"}}),
        )
        .await?;
    let group_id = resource_id(&group).expect("group id");

    scim.patch(
        &groups,
        &group_id,
        &[json!({"op": "Add", "path": "members", "value": [{"$ref": null, "value": user_id}]})],
    )
    .await?;
    let full = scim.get(&groups, &group_id, None).await?;
    assert_eq!(full["members"][0]["value"], json!(user_id), "{full}");
    let without = scim.get(&groups, &group_id, Some("members")).await?;
    assert!(without.get("members").is_none(), "{without}");
    let found = scim.list(&groups, &lookup).await?;
    assert_eq!(found.total_results, 1);
    assert!(found.resources[0].get("members").is_none(), "{:?}", found.resources);

    // Entra's default member removal: Remove of members with a value list.
    scim.patch(&groups, &group_id, &[json!({"op": "Remove", "path": "members", "value": [{"value": user_id}]})])
        .await?;
    let full = scim.get(&groups, &group_id, None).await?;
    assert!(full.get("members").is_none_or(|m| m.as_array().is_some_and(Vec::is_empty)), "{full}");

    scim.delete(&groups, &group_id).await?;
    assert_eq!(scim.get(&groups, &group_id, None).await.unwrap_err().status(), Some(404));
    Ok(())
}

#[tokio::test]
async fn listing_pages_and_discovery() -> Result<()> {
    let app = App::new().await?;
    let served = serve(&app, None).await?;
    let scim = client(&format!("http://{}/api/2.1/accounts/{}/scim/v2", served.addr, app.account), TOKEN)?;
    let mut created = Vec::new();
    for i in 0..5 {
        let user = scim.create(&Endpoint::USERS, &json!({"userName": format!("page{i}@contoso.com")})).await?;
        created.push(resource_id(&user).expect("id"));
    }
    let mut seen = Vec::new();
    let mut start = Some(1);
    let mut pages = 0;
    while let Some(s) = start {
        let page = scim.list(&Endpoint::USERS, &ListRequest::page(s, 2)).await?;
        assert!(page.resources.len() <= 2, "{page:?}");
        seen.extend(page.resources.iter().filter_map(resource_id));
        start = page.next_start_index(s);
        pages += 1;
        assert!(pages <= 10, "paging does not end");
    }
    for id in &created {
        assert!(seen.contains(id), "{id} not listed in {seen:?}");
    }
    assert!(pages >= 3, "5 users or more in pages of 2: {pages} pages");

    let config = scim.service_provider_config().await?;
    assert_eq!(config["patch"]["supported"], json!(true), "{config}");
    let schemas = scim.schemas().await?;
    assert!(schemas.resources.iter().any(|s| s["id"] == "urn:ietf:params:scim:schemas:core:2.0:User"), "{schemas:?}");
    let types = scim.resource_types().await?;
    let endpoints: Vec<&str> = types.resources.iter().filter_map(|t| t["endpoint"].as_str()).collect();
    assert!(endpoints.contains(&"/Users") && endpoints.contains(&"/Groups"), "{endpoints:?}");
    // An endpoint named as /ResourceTypes names it works as well.
    let named = Endpoint::new("/Users")?;
    assert_eq!(scim.list(&named, &ListRequest::page(1, 1)).await?.resources.len(), 1);
    Ok(())
}
