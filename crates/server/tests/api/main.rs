//! The HTTP API in-process: the real router over a real store (SQLite in a temporary directory, or a throwaway
//! PostgreSQL database), driven with `tower::ServiceExt::oneshot` through the test kit's [`App`]. Each test gets a
//! fresh store.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use idplane_core::token::TokenScope;
use idplane_server::auth_cache::AuthCache;
use idplane_server::{AppState, Limits};
use idplane_testkit::{App, Backend, Reply, TOKEN, WS, assert_scim_error};
use serde_json::{Value, json};
use tower::ServiceExt;

mod agents;
mod audit;
mod connections;
mod entra;
mod graph;
mod postgres_scale_out;
mod provisioning_logs;
mod scim_token;
mod spans;

async fn app() -> Result<App> {
    App::new().await
}

async fn app_with(limits: Limits) -> Result<App> {
    app_configured(|state| state.limits = limits).await
}

/// A fresh app on SQLite whose state `configure` adjusts before the router is built.
async fn app_configured(configure: impl FnOnce(&mut AppState)) -> Result<App> {
    App::on(Backend::Sqlite, configure).await
}

/// A fresh app on `backend`: a PostgreSQL test (see `idplane_testkit`) fails without PostgreSQL.
async fn app_on(backend: Backend) -> Result<App> {
    App::on(backend, |_| {}).await
}

#[tokio::test]
async fn missing_or_bad_tokens_get_401_with_a_scim_body() -> Result<()> {
    let app = app().await?;
    let r = app.send(Method::GET, &format!("{WS}/Users"), None, &[("authorization", "")]).await?;
    assert_scim_error(&r, 401, None);
    let r = app.send(Method::GET, &format!("{WS}/Users"), None, &[("authorization", "Bearer nope")]).await?;
    assert_scim_error(&r, 401, None);
    let r =
        app.send(Method::GET, &format!("{WS}/Users"), None, &[("authorization", &format!("Basic {TOKEN}"))]).await?;
    assert_scim_error(&r, 401, None);
    Ok(())
}

#[tokio::test]
async fn create_returns_201_with_location_etag_and_the_stored_resource() -> Result<()> {
    let app = app().await?;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "Jane@Example.com",
        "externalId": "jdoe",
        "active": "True",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": true, "type": "work", "value": "Jane@Example.com"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        "roles": [],
        "title": null,
        "meta": {"resourceType": "User"}
    });
    let r = app.post(&format!("{WS}/Users"), body).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default();
    assert!(id.parse::<i64>().is_ok(), "ids are int64 rendered as strings: {id}");
    assert_eq!(r.header(header::LOCATION), format!("http://idp.test{WS}/Users/{id}"));
    assert_eq!(r.body["meta"]["location"], r.header(header::LOCATION));
    assert_eq!(r.header(header::ETAG), r.body["meta"]["version"].as_str().unwrap_or("?"));
    assert!(r.header(header::CONTENT_TYPE).starts_with("application/scim+json"));
    assert_eq!(r.body["userName"], "Jane@Example.com", "stored exactly as sent");
    assert_eq!(r.body["externalId"], "jdoe");
    assert_eq!(r.body["active"], true, "string booleans are coerced");
    assert_eq!(r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "R&D");
    assert!(r.body.get("title").is_none());
    assert_eq!(r.body["meta"]["resourceType"], "User");

    let got = app.get(&format!("{WS}/Users/{id}")).await?;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, r.body, "a read returns exactly what the create returned");
    Ok(())
}

#[tokio::test]
async fn etags_drive_conditional_requests() -> Result<()> {
    let app = app().await?;
    let id = app.user(WS, "etag@x.com").await?;
    let uri = format!("{WS}/Users/{id}");
    let r = app.get(&uri).await?;
    let etag = r.header(header::ETAG).to_string();
    let r = app.send(Method::GET, &uri, None, &[("if-none-match", &etag)]).await?;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = app.patch(&uri, json!([{"op": "replace", "path": "displayName", "value": "E"}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_ne!(r.header(header::ETAG), etag, "a change makes a new version");
    let put = json!({"userName": "etag@x.com", "displayName": "F"});
    let r = app.send(Method::PUT, &uri, Some(put.clone()), &[("if-match", &etag)]).await?;
    assert_scim_error(&r, 412, None);
    let current = app.get(&uri).await?.header(header::ETAG).to_string();
    let r = app.send(Method::PUT, &uri, Some(put), &[("if-match", &current)]).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["displayName"], "F");
    let r = app.send(Method::DELETE, &uri, None, &[("if-match", &current)]).await?;
    assert_scim_error(&r, 412, None);
    Ok(())
}

#[tokio::test]
async fn user_names_are_unique_case_insensitively_with_databricks_wording() -> Result<()> {
    let app = app().await?;
    app.user(WS, "dup@x.com").await?;
    let r = app.post(&format!("{WS}/Users"), json!({"userName": "DUP@x.com"})).await?;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["status"], "409");
    assert_eq!(r.body["scimType"], "uniqueness", "RFC 7644 §3.3, while the detail keeps Databricks' words: {}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap_or_default().starts_with("User with username DUP@x.com already exists"),
        "{}",
        r.body
    );
    let acct = app.acct();
    let r = app.post(&format!("{acct}/Users"), json!({"userName": "dup@X.COM"})).await?;
    assert_eq!(r.status, StatusCode::CONFLICT, "the workspace user lives in the account: {}", r.body);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("User with email dup@X.COM already exists in this account")
    );
    Ok(())
}

#[tokio::test]
async fn filters_find_by_indexed_attributes_and_probes_get_empty_lists() -> Result<()> {
    let app = app().await?;
    let id = app.user(WS, "Find.Me@x.com").await?;
    let r = app.get(&format!("{WS}/Users?filter=userName+eq+%22find.me%40X.com%22")).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
    // Entra's test-connection probe.
    let r = app.get(&format!("{WS}/Users?filter=userName+eq+%227d420df3-9995-4831-a406-ecf8166f5f6a%22")).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    // An attribute only evaluable in memory.
    let r = app.get(&format!("{WS}/Users?filter=userName+co+%22ind.m%22+and+not+(active+eq+false)")).await?;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_clear_4xx_errors() -> Result<()> {
    let app = app().await?;
    let r = app.get(&format!("{WS}/Users?filter=userName+eqq+%22x%22")).await?;
    assert_scim_error(&r, 400, Some("invalidFilter"));
    assert!(
        r.body["detail"].as_str().unwrap_or_default().contains("10"),
        "the detail points at the position: {}",
        r.body
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{WS}/Users"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"userName\": "))?;
    let res = app.router.clone().oneshot(req).await?;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let big = "x".repeat(2 << 20);
    let r = app.post(&format!("{WS}/Users"), json!({"userName": big})).await?;
    assert_scim_error(&r, 413, None);
    let r = app.post(&format!("{WS}/Users"), json!({"displayName": "no user name"})).await?;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = app.get(&format!("{WS}/Users/1234567890123456")).await?;
    assert_scim_error(&r, 404, None);
    let r = app.get(&format!("{WS}/Users/not-a-number")).await?;
    assert_scim_error(&r, 404, None);
    let r = app
        .patch(&format!("{WS}/Users/not-a-number"), json!([{"op": "add", "path": "nickName", "value": "x"}]))
        .await?;
    assert_scim_error(&r, 404, None);
    let r = app.post(&format!("{WS}/Schemas"), json!({})).await?;
    assert_scim_error(&r, 405, None);
    let r = app.send(Method::DELETE, &format!("{WS}/ServiceProviderConfig"), None, &[]).await?;
    assert_scim_error(&r, 405, None);
    let r = app.get("/api/2.0/preview/scim/v2/Nothing").await?;
    assert_scim_error(&r, 404, None);
    Ok(())
}

#[tokio::test]
async fn a_put_without_active_keeps_it_as_it_was() -> Result<()> {
    let app = app().await?;
    let id = app.user(WS, "put@x.com").await?;
    let uri = format!("{WS}/Users/{id}");
    let put = |name: &str| json!({"userName": "put@x.com", "displayName": name});
    let r = app.send(Method::PUT, &uri, Some(put("A")), &[]).await?;
    assert_eq!((r.status, r.body["active"].clone()), (StatusCode::OK, json!(true)), "{}", r.body);
    app.patch(&uri, json!([{"op": "replace", "path": "active", "value": false}])).await?;
    let r = app.send(Method::PUT, &uri, Some(put("B")), &[]).await?;
    assert_eq!((r.status, r.body["active"].clone()), (StatusCode::OK, json!(false)), "not re-enabled: {}", r.body);
    let mut reenable = put("C");
    reenable["active"] = json!(true);
    assert_eq!(app.send(Method::PUT, &uri, Some(reenable), &[]).await?.body["active"], true);
    Ok(())
}

#[tokio::test]
async fn entra_patch_dialect_disables_and_reenables() -> Result<()> {
    let app = app().await?;
    let id = app.user(WS, "entra@x.com").await?;
    let uri = format!("{WS}/Users/{id}");
    let r = app.patch(&uri, json!([{"op": "Replace", "path": "active", "value": "False"}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get(&uri).await?.body["active"], false);
    let r = app
        .patch(&uri, json!([{"op": "replace", "value": {"active": true, "name.givenName": "E", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42"}}]))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let u = app.get(&uri).await?.body;
    assert_eq!(u["active"], true);
    assert_eq!(u["name"]["givenName"], "E");
    assert_eq!(u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"], "42");
    let r =
        app.patch(&uri, json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@x.com"}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get(&uri).await?.body["emails"], json!([{"type": "work", "value": "w@x.com"}]));
    // One failing operation leaves the resource untouched.
    let r = app
        .patch(&uri, json!([{"op": "replace", "path": "displayName", "value": "changed"}, {"op": "replace", "path": "id", "value": "1"}]))
        .await?;
    assert_scim_error(&r, 400, Some("mutability"));
    assert!(app.get(&uri).await?.body.get("displayName").is_none());
    Ok(())
}

#[tokio::test]
async fn groups_track_members_and_users_see_direct_and_indirect_groups() -> Result<()> {
    let app = app().await?;
    let alice = app.user(WS, "alice@x.com").await?;
    let bob = app.user(WS, "bob@x.com").await?;
    let r = app
        .post(&format!("{WS}/Groups"), json!({"displayName": "inner", "members": [{"value": alice}, {"value": bob}]}))
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let inner = r.body["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(2));
    let first = r.body["members"][0]["value"].as_str().unwrap_or_default();
    assert_eq!(r.body["members"][0]["$ref"], format!("Users/{first}"), "Databricks' relative $ref: {}", r.body);
    assert!(r.body["members"][0]["display"].as_str().is_some_and(|d| d.ends_with("@x.com")), "{}", r.body);
    let r = app.post(&format!("{WS}/Groups"), json!({"displayName": "outer", "members": [{"value": inner}]})).await?;
    let outer = r.body["id"].as_str().unwrap_or_default().to_string();
    let u = app.get(&format!("{WS}/Users/{alice}")).await?.body;
    let groups = u["groups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 2, "{u}");
    let kind = |id: &str| groups.iter().find(|g| g["value"] == id).map(|g| g["type"].clone());
    assert_eq!(kind(&inner), Some(json!("direct")));
    assert_eq!(kind(&outer), Some(json!("indirect")));
    // Entra's default dialect removes one member by a value array; the other stays.
    let r = app
        .patch(
            &format!("{WS}/Groups/{inner}"),
            json!([{"op": "Remove", "path": "members", "value": [{"value": alice}]}]),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(1), "PATCH answers with the group: {}", r.body);
    let g = app.get(&format!("{WS}/Groups/{inner}")).await?.body;
    assert_eq!(
        g["members"],
        json!([{"value": bob, "display": "bob@x.com", "$ref": format!("Users/{bob}"), "type": "User"}])
    );
    // A $ref and display the client wrote come back as written.
    let written =
        json!([{"value": bob, "$ref": format!("http://idp.test{WS}/Users/{bob}"), "display": "Bob", "type": "User"}]);
    app.patch(&format!("{WS}/Groups/{inner}"), json!([{"op": "replace", "path": "members", "value": written}])).await?;
    assert_eq!(app.get(&format!("{WS}/Groups/{inner}")).await?.body["members"], written);
    let g = app.get(&format!("{WS}/Groups/{inner}?attributes=members.display")).await?.body;
    assert_eq!(g["members"], json!([{"display": "Bob"}]), "{g}");
    let u = app.get(&format!("{WS}/Users/{alice}")).await?.body;
    assert!(u.get("groups").is_none(), "alice left inner, so she is in no group, directly or not: {u}");
    let r = app
        .patch(
            &format!("{WS}/Groups/{inner}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get(&format!("{WS}/Groups?filter=displayName+eq+%22INNER%22&excludedAttributes=members")).await?;
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("members").is_none());
    let r = app.get(&format!("{WS}/Groups/{inner}")).await?;
    assert!(r.body.get("members").is_none_or(|m| m == &json!([])), "{}", r.body);
    let r = app.post(&format!("{WS}/Groups"), json!({"displayName": "bad", "members": [{"value": "999"}]})).await?;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = app.get(&format!("{WS}/Groups?filter=members.value+eq+%22{inner}%22")).await?;
    assert_eq!(r.body["Resources"][0]["id"], outer.as_str(), "{}", r.body);
    Ok(())
}

/// A member that cannot be one (not an id, no such principal, the group itself, a principal of another account) is
/// a 400 `invalidValue` naming it, whether the client POSTs, PUTs or PATCHes it in; nothing changes.
#[tokio::test]
async fn members_that_cannot_be_are_refused_alike_by_post_put_and_patch() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let user = app.user(&acct, "member@x.com").await?;
    let g = app.post(&format!("{acct}/Groups"), json!({"displayName": "g", "members": [{"value": user}]})).await?;
    let group = g.body["id"].as_str().unwrap_or_default().to_string();
    let other = "members-other-account";
    let now = time::OffsetDateTime::now_utc();
    let account = idplane_core::tenancy::Account { id: other.into(), name: "other".into(), created: now };
    idplane_core::tenancy::create_account(app.store.as_ref(), &account, &idplane_core::audit::Actor::cli()).await?;
    let other_admin = app.token_for(TokenScope::Account { account_id: other.into() }, None).await?;
    let stranger = app
        .send(
            Method::POST,
            &format!("/api/2.0/accounts/{other}/scim/v2/Users"),
            Some(json!({"userName": "stranger@other.com"})),
            &[("authorization", &format!("Bearer {other_admin}"))],
        )
        .await?;
    let stranger = stranger.body["id"].as_str().unwrap_or_default().to_string();
    let deleted = app.user(&acct, "deleted@x.com").await?;
    assert_eq!(app.send(Method::DELETE, &format!("{acct}/Users/{deleted}"), None, &[]).await?.status, 204);

    for bad in ["not-a-number", "1234567890123456", group.as_str(), stranger.as_str(), deleted.as_str()] {
        let members = json!([{"value": user}, {"value": bad}]);
        if bad != group {
            // (A new group may hold the existing one.)
            let body = json!({"displayName": format!("new {bad}"), "members": members});
            assert_scim_error(&app.post(&format!("{acct}/Groups"), body).await?, 400, Some("invalidValue"));
        }
        let r = app
            .send(
                Method::PUT,
                &format!("{acct}/Groups/{group}"),
                Some(json!({"displayName": "g", "members": members})),
                &[],
            )
            .await?;
        assert_scim_error(&r, 400, Some("invalidValue"));
        assert!(r.body["detail"].as_str().is_some_and(|d| d.contains(bad)), "names the member: {}", r.body);
        for op in ["add", "replace"] {
            let r = app
                .patch(&format!("{acct}/Groups/{group}"), json!([{"op": op, "path": "members", "value": members}]))
                .await?;
            assert_scim_error(&r, 400, Some("invalidValue"));
            assert!(r.body["detail"].as_str().is_some_and(|d| d.contains(bad)), "PATCH {op} names {bad}: {}", r.body);
        }
        let r = app
            .patch(&format!("{acct}/Groups/{group}"), json!([{"op": "add", "value": {"members": [{"value": bad}]}}]))
            .await?;
        assert_scim_error(&r, 400, Some("invalidValue"));
    }
    let g = app.get(&format!("{acct}/Groups/{group}")).await?;
    let members: Vec<&Value> = g.body["members"].as_array().into_iter().flatten().map(|m| &m["value"]).collect();
    assert_eq!(members, [&json!(user)], "nothing changed: {}", g.body);
    Ok(())
}

#[tokio::test]
async fn discovery_describes_what_is_served() -> Result<()> {
    let app = app().await?;
    let r = app.send(Method::GET, &format!("{WS}/ServiceProviderConfig"), None, &[("authorization", "")]).await?;
    assert_eq!(r.status, StatusCode::OK, "discovery needs no token");
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["bulk"]["maxOperations"], 1000);
    assert_eq!(r.body["pagination"]["cursor"], true);
    let r = app.get(&format!("{}/ResourceTypes", app.acct())).await?;
    let names: Vec<_> = r.body["Resources"].as_array().into_iter().flatten().map(|t| t["name"].clone()).collect();
    assert_eq!(names, vec![json!("User"), json!("Group"), json!("ServicePrincipal")]);
    let r = app.get(&format!("{WS}/Schemas")).await?;
    let ids: Vec<_> = r.body["Resources"].as_array().into_iter().flatten().map(|t| t["id"].clone()).collect();
    assert!(ids.contains(&json!("urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal")));
    let r = app.get(&format!("{WS}/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")).await?;
    assert_eq!(r.body["attributes"][0]["name"], "displayName");
    let r = app.get("/api/2.0/preview/scim/ResourceTypes/User").await?;
    assert_eq!(r.body["schemaExtensions"][0]["schema"], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    Ok(())
}

#[tokio::test]
async fn bulk_resolves_bulk_ids_and_honours_fail_on_errors() -> Result<()> {
    let app = app().await?;
    let r = app
        .post(
            &format!("{WS}/Bulk"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "bulk@x.com"}},
                {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "bulk", "members": [{"value": "bulkId:u1"}]}},
                {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"Operations": [{"op": "add", "path": "nickName", "value": "b"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "bulk@x.com"}},
                {"method": "DELETE", "path": "/Users/1"},
                {"method": "POST", "path": "/Users", "bulkId": "u3", "data": {"userName": "never@x.com"}}
            ], "failOnErrors": 2}),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ops = r.body["Operations"].as_array().cloned().unwrap_or_default();
    let statuses: Vec<_> = ops.iter().map(|o| o["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("201"), json!("201"), json!("200"), json!("409"), json!("404")], "{}", r.body);
    let group = app.get(ops[1]["location"].as_str().unwrap_or_default().trim_start_matches("http://idp.test")).await?;
    let user_id = ops[0]["location"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string();
    assert_eq!(group.body["members"][0]["value"], user_id.as_str());
    let r = app.get(&format!("{WS}/Users?filter=userName+eq+%22never%40x.com%22")).await?;
    assert_eq!(r.body["totalResults"], 0, "failOnErrors stops the request");
    Ok(())
}

#[tokio::test]
async fn pagination_by_index_and_by_cursor_visit_every_user_once() -> Result<()> {
    let app = app().await?;
    for i in 0..7 {
        app.user(WS, &format!("page{i}@x.com")).await?;
    }
    let r = app
        .get(&format!(
            "{WS}/Users?filter=userName+sw+%22page%22&startIndex=3&count=2&sortBy=userName&sortOrder=descending"
        ))
        .await?;
    assert_eq!(r.body["totalResults"], 7);
    assert_eq!(r.body["startIndex"], 3);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["Resources"][0]["userName"], "page4@x.com");
    let r = app.get(&format!("{WS}/Users?count=0")).await?;
    assert_eq!(r.body["totalResults"], 8, "seven users and the admin");
    assert_eq!(r.body["Resources"], json!([]));
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let r = app.get(&format!("{WS}/Users?count=3&attributes=userName&cursor={cursor}")).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for u in r.body["Resources"].as_array().into_iter().flatten() {
            assert!(u.get("emails").is_none());
            seen.push(u["userName"].as_str().unwrap_or_default().to_string());
        }
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 8);
    let r = app.get(&format!("{WS}/Users?cursor=garbage!")).await?;
    assert_scim_error(&r, 400, Some("invalidCursor"));
    let r = app.post(&format!("{WS}/Users/.search"), json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"page1@x.com\"", "attributes": ["id"]})).await?;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert!(r.body["Resources"][0].get("userName").is_none());
    let r = app.post(&format!("{WS}/.search"), json!({"filter": "displayName eq \"nothing\""})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn both_workspace_bases_and_the_account_base_serve_scim() -> Result<()> {
    let app = app().await?;
    let id = app.user("/api/2.0/preview/scim", "nov2@x.com").await?;
    assert_eq!(app.get(&format!("{WS}/Users/{id}")).await?.status, StatusCode::OK);
    let acct = app.acct();
    assert_eq!(
        app.get(&format!("{acct}/Users/{id}")).await?.status,
        StatusCode::OK,
        "workspace users live in the account"
    );
    let r = app.get("/api/2.0/accounts/00000000-0000-4000-8000-000000000000/scim/v2/Users").await?;
    assert_scim_error(&r, 403, None);
    let r = app.get(&format!("{WS}/Me")).await?;
    assert_eq!(r.body["userName"], "admin");
    assert_eq!(r.header(header::HeaderName::from_static("x-databricks-org-id")), app.workspace.to_string());
    let r = app.send(Method::GET, "/.well-known/databricks-config", None, &[("authorization", "")]).await?;
    assert_eq!(r.body["account_id"], app.account.as_str());
    assert_eq!(r.body["workspace_id"], app.workspace.to_string());
    Ok(())
}

/// The Account SCIM URL that Databricks' account console shows is `/api/2.1/...`; the SDKs call `/api/2.0/...`. Both
/// serve the same resources, each with locations under the base the client used.
#[tokio::test]
async fn the_account_scim_api_answers_alike_at_2_1_and_2_0() -> Result<()> {
    let app = app().await?;
    let v20 = app.acct();
    let v21 = format!("/api/2.1/accounts/{}/scim/v2", app.account);
    let r = app.post(&format!("{v21}/Users"), json!({"userName": "two.one@x.com"})).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    assert!(r.header(header::LOCATION).ends_with(&format!("{v21}/Users/{id}")), "{}", r.header(header::LOCATION));
    assert!(r.body["meta"]["location"].as_str().unwrap_or_default().ends_with(&format!("{v21}/Users/{id}")));

    let at_21 = app.get(&format!("{v21}/Users/{id}")).await?;
    let at_20 = app.get(&format!("{v20}/Users/{id}")).await?;
    assert_eq!((at_21.status, at_20.status), (StatusCode::OK, StatusCode::OK));
    assert!(at_20.body["meta"]["location"].as_str().unwrap_or_default().ends_with(&format!("{v20}/Users/{id}")));
    let without_meta = |mut body: Value| {
        body.as_object_mut().map(|o| o.remove("meta"));
        body
    };
    assert_eq!(without_meta(at_21.body.clone()), without_meta(at_20.body.clone()));

    let filter = "filter=userName%20eq%20%22two.one@x.com%22";
    let listed = app.get(&format!("{v21}/Users?{filter}")).await?;
    assert_eq!(listed.body["totalResults"], 1, "{}", listed.body);
    let searched =
        app.post(&format!("{v21}/Users/.search"), json!({"filter": "userName eq \"two.one@x.com\""})).await?;
    assert_eq!(searched.body["totalResults"], 1, "{}", searched.body);
    for discovery in ["ServiceProviderConfig", "ResourceTypes", "Schemas"] {
        let r = app.get(&format!("{v21}/{discovery}")).await?;
        assert_eq!(r.status, StatusCode::OK, "{discovery}: {}", r.body);
    }
    let r = app.get(&format!("{v21}/ResourceTypes")).await?;
    assert!(r.body.to_string().contains(&format!("{v21}/ResourceTypes/User")), "{}", r.body);
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "two-one"}}],
    });
    let r = app.post(&format!("{v21}/Bulk"), bulk).await?;
    assert_eq!(r.body["Operations"][0]["status"], "201", "{}", r.body);
    assert!(r.body["Operations"][0]["location"].as_str().unwrap_or_default().contains(&format!("{v21}/Groups/")));

    let r =
        app.patch(&format!("{v21}/Users/{id}"), json!([{"op": "replace", "path": "active", "value": false}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get(&format!("{v20}/Users/{id}")).await?.body["active"], false);
    assert_scim_error(&app.get(&format!("{v21}/Users/123")).await?, 404, None);
    let other = "/api/2.1/accounts/00000000-0000-4000-8000-000000000000/scim/v2/Users";
    assert_scim_error(&app.get(other).await?, 403, None);
    Ok(())
}

#[tokio::test]
async fn the_attribute_less_workspace_extension_round_trips_as_a_marker() -> Result<()> {
    let app = app().await?;
    let id = app.user(WS, "ext@x.com").await?;
    let uri = format!("{WS}/Users/{id}");
    let urn = "urn:ietf:params:scim:schemas:extension:workspace:2.0:User";
    let r = app.patch(&uri, json!([{"op": "add", "path": urn, "value": {"schemas": [urn]}}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body[urn], json!({}), "{}", r.body);
    assert!(r.body["schemas"].as_array().is_some_and(|s| s.contains(&json!(urn))), "{}", r.body);
    assert_eq!(app.get(&uri).await?.body[urn], json!({}));
    let r = app.patch(&uri, json!([{"op": "remove", "path": urn}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.get(urn).is_none(), "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn patching_a_group_over_the_inline_limit_answers_204() -> Result<()> {
    let app = app_with(Limits { patch_members_inline: 2, ..Limits::default() }).await?;
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(json!({"value": app.user(WS, &format!("m{i}@x.com")).await?}));
    }
    let small = app.post(&format!("{WS}/Groups"), json!({"displayName": "small", "members": members[..2]})).await?;
    let big = app.post(&format!("{WS}/Groups"), json!({"displayName": "big", "members": members})).await?;
    let op = json!([{"op": "replace", "path": "displayName", "value": "renamed"}]);
    let r = app.patch(&format!("{WS}/Groups/{}", small.body["id"].as_str().unwrap_or_default()), op.clone()).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(2));
    let uri = format!("{WS}/Groups/{}", big.body["id"].as_str().unwrap_or_default());
    let op = json!([{"op": "replace", "path": "displayName", "value": "big2"}]);
    let r = app.patch(&uri, op.clone()).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header(header::ETAG), "W/\"2\"");
    assert_eq!(r.body, Value::Null);
    let r = app.patch(&format!("{uri}?excludedAttributes=members"), op).await?;
    assert_eq!(r.status, StatusCode::OK, "without members the answer is cheap: {}", r.body);
    assert_eq!(r.body["displayName"], "big2");
    Ok(())
}

#[tokio::test]
async fn index_lookups_and_filters_fold_case_the_same_way() -> Result<()> {
    let app = app().await?;
    // `str::to_lowercase` makes a word-final capital sigma "ς"; the filter folds character by character to "σ".
    let id = app.user(WS, "ΟΔΟΣ@x.com").await?;
    let by_sql = app.get(&format!("{WS}/Users?filter=userName+eq+%22%CE%BF%CE%B4%CE%BF%CF%83@x.com%22")).await?;
    assert_eq!(by_sql.body["Resources"][0]["id"], id.as_str(), "{}", by_sql.body);
    let r = app.post(&format!("{WS}/Users"), json!({"userName": "οδοσ@X.com"})).await?;
    assert_eq!(r.status, StatusCode::CONFLICT, "uniqueness folds like the filter: {}", r.body);
    Ok(())
}

/// Numbers at and past the edges of what a field can hold, as JSON numbers and as strings.
fn huge_numbers() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop::sample::select(vec![
        json!(1_000_000_000_000i64),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e300),
        json!("9223372036854775807"),
        json!("-9223372036854775808"),
        json!("99999999999999999999"),
    ])
}

/// Arbitrary JSON, biased towards SCIM's own words so that deep paths get exercised.
fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let words = prop::sample::select(vec![
        "userName",
        "members",
        "value",
        "Operations",
        "op",
        "path",
        "add",
        "Remove",
        "replace",
        "emails",
        "active",
        "False",
        "schemas",
        "displayName",
        "manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "members[value eq \"1\"]",
        "emails[type eq \"work\"].value",
        "name.givenName",
        "bulkId:x",
        "method",
        "POST",
        "/Users",
        "/Groups/1",
        "data",
        "bulkId",
        "filter",
        "count",
        "startIndex",
        "sortBy",
        "id",
        "meta",
        "groups",
        "lifetime_seconds",
        "application_id",
        "comment",
        "token_id",
    ]);
    let key = prop_oneof![words.clone().prop_map(str::to_string), "[a-zA-Z$.:\\[\\] \"]{0,12}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        huge_numbers(),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        words.prop_map(|w| json!(w)),
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

#[test]
fn no_client_input_produces_a_server_error() -> Result<()> {
    use proptest::prelude::*;
    const APPLICATION_ID: &str = "33333333-4444-5555-6666-777777777777";
    let rt = tokio::runtime::Runtime::new()?;
    let app = rt.block_on(app())?;
    let (user, group) = rt.block_on(async {
        let user = app.user(WS, "target@x.com").await?;
        let g =
            app.post(&format!("{WS}/Groups"), json!({"displayName": "target", "members": [{"value": user}]})).await?;
        let sp = json!({"applicationId": APPLICATION_ID, "displayName": "target"});
        assert_eq!(app.post(&format!("{WS}/ServicePrincipals"), sp).await?.status, StatusCode::CREATED);
        anyhow::Ok((user, g.body["id"].as_str().unwrap_or_default().to_string()))
    })?;
    let endpoints = vec![
        (Method::POST, format!("{WS}/Users")),
        (Method::POST, format!("{WS}/Groups")),
        (Method::POST, format!("{WS}/ServicePrincipals")),
        (Method::PUT, format!("{WS}/Users/{user}")),
        (Method::PUT, format!("{WS}/Groups/{group}")),
        (Method::PATCH, format!("{WS}/Users/{user}")),
        (Method::PATCH, format!("{WS}/Groups/{group}")),
        (Method::POST, format!("{WS}/Bulk")),
        (Method::POST, format!("{WS}/Users/.search")),
        (Method::POST, format!("{WS}/.search")),
        (Method::POST, "/api/2.0/token/create".to_string()),
        (Method::POST, "/api/2.0/token/delete".to_string()),
        (Method::POST, "/api/2.0/token-management/on-behalf-of/tokens".to_string()),
    ];
    // Token bodies with the fields the token APIs read, holding edge values, next to arbitrary ones.
    let token_body = (huge_numbers(), proptest::bool::ANY).prop_map(move |(lifetime, sp)| {
        let mut body = json!({"lifetime_seconds": lifetime, "comment": "prop"});
        if sp && let Some(o) = body.as_object_mut() {
            o.insert("application_id".into(), json!(APPLICATION_ID));
        }
        body
    });
    let body = prop_oneof![arbitrary_json(), token_body];
    let query = prop_oneof![
        Just(String::new()),
        "(filter|attributes|excludedAttributes|sortBy|sortOrder|startIndex|count|cursor)=[a-zA-Z0-9 .\\[\\]\"():-]{0,24}"
    ];
    let config = ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&(0..endpoints.len(), body, query), |(i, body, query)| {
            let (method, uri) = &endpoints[i];
            let databricks = !uri.starts_with(WS);
            let uri = format!("{uri}?{}", query.replace(' ', "+").replace('"', "%22"));
            let r = rt
                .block_on(app.send(method.clone(), &uri, Some(body.clone()), &[]))
                .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{method} {uri}: {e}")))?;
            prop_assert!(r.status.as_u16() < 500, "{} {} {} answered {}: {}", method, uri, body, r.status, r.body);
            if r.status.is_client_error() && databricks {
                prop_assert!(r.body["error_code"].is_string(), "{} {}: {}", method, uri, r.body);
            } else if r.status.is_client_error() {
                prop_assert_eq!(&r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The fixtures survived whatever succeeded, or were changed only through the API.
    let r = rt.block_on(app.get(&format!("{WS}/Users?count=0")))?;
    assert_eq!(r.status, StatusCode::OK);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_keep_uniqueness_and_lose_no_member() -> Result<()> {
    let app = Arc::new(app().await?);
    let mut creates = Vec::new();
    for i in 0..16 {
        let app = app.clone();
        let name = if i % 2 == 0 { "race@x.com".to_string() } else { "RACE@X.COM".to_string() };
        creates.push(tokio::spawn(async move { app.post(&format!("{WS}/Users"), json!({"userName": name})).await }));
    }
    let mut statuses = Vec::new();
    for c in creates {
        statuses.push(c.await??.status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");

    let g = app.post(&format!("{WS}/Groups"), json!({"displayName": "busy"})).await?;
    let group = g.body["id"].as_str().unwrap_or_default().to_string();
    let mut users = Vec::new();
    for i in 0..24 {
        users.push(app.user(WS, &format!("member{i}@x.com")).await?);
    }
    let mut adds = Vec::new();
    for u in &users {
        let (app, uri, u) = (app.clone(), format!("{WS}/Groups/{group}"), u.clone());
        adds.push(tokio::spawn(async move {
            app.patch(&uri, json!([{"op": "Add", "path": "members", "value": [{"value": u}]}])).await
        }));
    }
    for a in adds {
        assert_eq!(a.await??.status, StatusCode::OK);
    }
    let g = app.get(&format!("{WS}/Groups/{group}")).await?;
    assert_eq!(g.body["members"].as_array().map(Vec::len), Some(users.len()), "{}", g.body);
    assert_eq!(g.body["meta"]["version"], format!("W/\"{}\"", users.len() + 1), "one version per change");
    Ok(())
}

/// The discovery documents, as clients configure themselves from them. A change here changes what Entra ID's
/// schema discovery and the conformance suites see: review the snapshot diff.
#[tokio::test]
async fn discovery_documents_snapshot() -> Result<()> {
    let app = app().await?;
    for endpoint in ["ServiceProviderConfig", "ResourceTypes", "Schemas"] {
        let r = app.get(&format!("{WS}/{endpoint}")).await?;
        assert_eq!(r.status, StatusCode::OK);
        insta::assert_json_snapshot!(endpoint, r.body);
    }
    // The account level publishes its own schemas (no entitlements); its locations carry the account id.
    let r = app.get(&format!("{}/Schemas", app.acct())).await?;
    let redacted = r.body.to_string().replace(&app.account, "<account id>");
    insta::assert_json_snapshot!("account_Schemas", serde_json::from_str::<Value>(&redacted)?);
    Ok(())
}

/// A user, a group and an error as clients receive them, ids and times redacted.
#[tokio::test]
async fn resource_shapes_snapshot() -> Result<()> {
    let app = app().await?;
    let user = app
        .post(
            &format!("{WS}/Users"),
            json!({"userName": "shape@x.com", "name": {"givenName": "S", "familyName": "H"}, "active": true,
                   "emails": [{"value": "shape@x.com", "type": "work", "primary": true}],
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"}}),
        )
        .await?;
    let id = user.body["id"].as_str().unwrap_or_default().to_string();
    let group = app.post(&format!("{WS}/Groups"), json!({"displayName": "shapes", "members": [{"value": id}]})).await?;
    let user = app.get(&format!("{WS}/Users/{id}")).await?;
    let redactions = |v: &Value| {
        let s = v.to_string().replace(&id, "<user id>");
        let s = match group.body["id"].as_str() {
            Some(g) => s.replace(g, "<group id>"),
            None => s,
        };
        serde_json::from_str::<Value>(&s)
    };
    let settings = {
        let mut s = insta::Settings::clone_current();
        s.add_redaction(".meta.created", "<time>");
        s.add_redaction(".meta.lastModified", "<time>");
        s
    };
    settings.bind(|| -> Result<()> {
        insta::assert_json_snapshot!("user", redactions(&user.body)?);
        insta::assert_json_snapshot!("group", redactions(&group.body)?);
        Ok(())
    })?;
    let error = app.get(&format!("{WS}/Users?filter=userName+eq")).await?;
    insta::assert_json_snapshot!("error", error.body);
    Ok(())
}

fn assert_databricks_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error_code"], code, "{}", r.body);
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.body);
}

#[tokio::test]
async fn the_workspaces_api_lists_creates_gets_and_deletes() -> Result<()> {
    let app = app().await?;
    let base = format!("/api/2.0/accounts/{}/workspaces", app.account);
    let r = app.get(&base).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "a bare array: {}", r.body);
    assert_eq!(r.body[0]["workspace_id"], app.workspace, "int64 as a JSON number");
    assert_eq!(r.body[0]["workspace_status"], "RUNNING");
    let r = app.post(&base, json!({"workspace_name": "plain", "identity_federation": false})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = r.body["workspace_id"].as_i64().unwrap_or_default();
    assert_eq!(app.get(&format!("{base}/{id}")).await?.body["workspace_name"], "plain");
    assert_eq!(app.get(&base).await?.body.as_array().map(Vec::len), Some(2));
    // A user local to the workspace goes with it.
    let token =
        app.token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: id }, None).await?;
    let r = app
        .send(
            Method::POST,
            &format!("{WS}/Users"),
            Some(json!({"userName": "local@x.com"})),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.send(Method::DELETE, &format!("{base}/{id}"), None, &[]).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_databricks_error(&app.get(&format!("{base}/{id}")).await?, 404, "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(
        app.get_as(&format!("{WS}/Users"), &token).await?.status,
        StatusCode::UNAUTHORIZED,
        "its tokens are gone"
    );
    assert_databricks_error(&app.post(&base, json!({})).await?, 400, "INVALID_PARAMETER_VALUE");
    assert_databricks_error(&app.get_as(&base, "nope").await?, 401, "UNAUTHENTICATED");
    let other = app
        .token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace }, None)
        .await?;
    assert_databricks_error(&app.get_as(&base, &other).await?, 403, "PERMISSION_DENIED");
    assert_databricks_error(&app.get("/api/2.0/accounts/not-this-one/workspaces").await?, 403, "PERMISSION_DENIED");
    Ok(())
}

#[tokio::test]
async fn assignment_makes_account_principals_visible_directly_or_through_groups() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let assignments = format!("/api/2.0/accounts/{}/workspaces/{}/permissionassignments", app.account, app.workspace);
    let r = app.post(&format!("{acct}/Users"), json!({"userName": "outsider@x.com"})).await?;
    let u = r.body["id"].as_str().unwrap_or_default().to_string();
    assert_scim_error(&app.get(&format!("{WS}/Users/{u}")).await?, 404, None);

    let r = app
        .send(
            Method::PUT,
            &format!("{assignments}/principals/{u}"),
            Some(json!({"permissions": ["USER", "ADMIN"]})),
            &[],
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["permissions"], json!(["ADMIN"]), "ADMIN wins");
    assert_eq!(app.get(&format!("{WS}/Users/{u}")).await?.body["id"], u.as_str(), "same id in the workspace");
    let list = app.get(&assignments).await?;
    let mine = list.body["permission_assignments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["principal"]["principal_id"].as_i64().map(|id| id.to_string()).as_deref() == Some(u.as_str()));
    assert_eq!(mine.map(|a| a["principal"]["user_name"].clone()), Some(json!("outsider@x.com")), "{}", list.body);
    let r =
        app.send(Method::PUT, &format!("{assignments}/principals/{u}"), Some(json!({"permissions": []})), &[]).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_scim_error(&app.get(&format!("{WS}/Users/{u}")).await?, 404, None);

    // Through a nested group.
    let inner = app.post(&format!("{acct}/Groups"), json!({"displayName": "inner", "members": [{"value": u}]})).await?;
    let inner = inner.body["id"].as_str().unwrap_or_default().to_string();
    let outer =
        app.post(&format!("{acct}/Groups"), json!({"displayName": "outer", "members": [{"value": inner}]})).await?;
    let outer = outer.body["id"].as_str().unwrap_or_default().to_string();
    let ws_assign = "/api/2.0/preview/permissionassignments";
    let r = app.post(ws_assign, json!({"permission_assignments": [{"group_name": "outer", "permissions": ["USER"]}, {"user_name": "ghost@x.com", "permissions": ["USER"]}]})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["permission_assignments"][0]["principal"]["group_name"], "outer");
    assert!(
        r.body["permission_assignments"][1]["error"].as_str().is_some_and(|e| e.contains("not found")),
        "{}",
        r.body
    );
    assert_eq!(app.get(&format!("{WS}/Users/{u}")).await?.status, StatusCode::OK, "visible through outer > inner");
    assert_eq!(app.get(&format!("{WS}/Groups/{inner}")).await?.status, StatusCode::OK);
    let r = app.send(Method::DELETE, &format!("{ws_assign}/principals/{outer}"), None, &[]).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_scim_error(&app.get(&format!("{WS}/Users/{u}")).await?, 404, None);
    assert_eq!(app.get(&format!("{acct}/Users/{u}")).await?.status, StatusCode::OK, "unassigning keeps the identity");

    let r = app
        .send(
            Method::PUT,
            &format!("{assignments}/principals/1234567890123456"),
            Some(json!({"permissions": ["USER"]})),
            &[],
        )
        .await?;
    assert_databricks_error(&r, 404, "RESOURCE_DOES_NOT_EXIST");
    let levels = app.get(&format!("{assignments}/permissions")).await?;
    assert_eq!(levels.body["permissions"][1]["permission_level"], "ADMIN");
    let plain = app
        .post(
            &format!("/api/2.0/accounts/{}/workspaces", app.account),
            json!({"workspace_name": "p", "identity_federation": false}),
        )
        .await?;
    let plain = plain.body["workspace_id"].as_i64().unwrap_or_default();
    let r = app
        .send(
            Method::PUT,
            &format!("/api/2.0/accounts/{}/workspaces/{plain}/permissionassignments/principals/{u}", app.account),
            Some(json!({"permissions": ["USER"]})),
            &[],
        )
        .await?;
    assert_databricks_error(&r, 400, "INVALID_PARAMETER_VALUE");
    Ok(())
}

#[tokio::test]
async fn workspace_users_read_and_admins_write() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let assignments = format!("/api/2.0/accounts/{}/workspaces/{}/permissionassignments", app.account, app.workspace);
    let r = app.post(&format!("{acct}/Users"), json!({"userName": "plain.user@x.com"})).await?;
    let u: i64 = r.body["id"].as_str().unwrap_or_default().parse()?;
    let token = app.token_for(TokenScope::Account { account_id: app.account.clone() }, Some(u)).await?;
    let auth = format!("Bearer {token}");
    assert_scim_error(&app.get_as(&format!("{WS}/Me"), &token).await?, 403, None);
    app.send(Method::PUT, &format!("{assignments}/principals/{u}"), Some(json!({"permissions": ["USER"]})), &[])
        .await?;
    let me = app.get_as(&format!("{WS}/Me"), &token).await?;
    assert_eq!(me.body["userName"], "plain.user@x.com");
    // Of others, a non-admin sees who is who, nothing more; filtering on a hidden attribute would reveal it.
    let admin = app.get(&format!("{WS}/Me")).await?.body;
    let seen = app.get_as(&format!("{WS}/Users/{}", admin["id"].as_str().unwrap_or_default()), &token).await?.body;
    let keys: Vec<&String> = seen.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, vec!["schemas", "id", "userName", "displayName"], "{seen}");
    let listed = app.get_as(&format!("{WS}/Users?filter=userName+eq+%22admin%22"), &token).await?.body;
    assert!(listed["Resources"][0].get("roles").is_none() && listed["Resources"][0].get("meta").is_none(), "{listed}");
    let r = app.get_as(&format!("{WS}/Users?filter=emails.value+co+%22%40x%22"), &token).await?;
    assert_scim_error(&r, 403, None);
    let mine = app.get_as(&format!("{WS}/Users/{u}"), &token).await?.body;
    assert!(mine.get("meta").is_some(), "oneself in full: {mine}");
    assert_eq!(app.get_as(&format!("{WS}/Users?count=1"), &token).await?.status, StatusCode::OK);
    let r = app
        .send(Method::POST, &format!("{WS}/Users"), Some(json!({"userName": "x@x.com"})), &[("authorization", &auth)])
        .await?;
    assert_scim_error(&r, 403, None);
    assert_scim_error(&app.get_as(&format!("{acct}/Users"), &token).await?, 403, None);
    assert_databricks_error(
        &app.get_as("/api/2.0/preview/permissionassignments", &token).await?,
        403,
        "PERMISSION_DENIED",
    );
    app.send(Method::PUT, &format!("{assignments}/principals/{u}"), Some(json!({"permissions": ["ADMIN"]})), &[])
        .await?;
    let r = app
        .send(Method::POST, &format!("{WS}/Users"), Some(json!({"userName": "x@x.com"})), &[("authorization", &auth)])
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "a workspace admin writes: {}", r.body);
    let r =
        app.patch(&format!("{acct}/Users/{u}"), json!([{"op": "replace", "path": "active", "value": false}])).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_scim_error(&app.get_as(&format!("{WS}/Me"), &token).await?, 403, None);
    Ok(())
}

#[tokio::test]
async fn personal_tokens_and_token_management() -> Result<()> {
    let app = app().await?;
    let r = app.post("/api/2.0/token/create", json!({"lifetime_seconds": 3600, "comment": "ci"})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let pat = r.body["token_value"].as_str().unwrap_or_default().to_string();
    let info = &r.body["token_info"];
    assert!(pat.starts_with("dapi"));
    assert_eq!(
        info["expiry_time"].as_i64().unwrap_or_default() - info["creation_time"].as_i64().unwrap_or_default(),
        3_600_000
    );
    let id = info["token_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(app.get_as(&format!("{WS}/Me"), &pat).await?.body["userName"], "admin", "a PAT acts as its owner");
    assert_scim_error(&app.get_as(&format!("{}/Users", app.acct()), &pat).await?, 403, None);
    let list = app.get("/api/2.0/token/list").await?;
    assert!(
        list.body["token_infos"].as_array().is_some_and(|l| l.iter().any(|t| t["token_id"] == id.as_str())),
        "{}",
        list.body
    );

    // Token management: a token on behalf of a service principal, listed with its owner, then revoked.
    let sp = app
        .post(
            &format!("{WS}/ServicePrincipals"),
            json!({"applicationId": "11111111-2222-3333-4444-555555555555", "displayName": "etl"}),
        )
        .await?;
    let sp_id: i64 = sp.body["id"].as_str().unwrap_or_default().parse()?;
    let r = app
        .post(
            "/api/2.0/token-management/on-behalf-of/tokens",
            json!({"application_id": "11111111-2222-3333-4444-555555555555", "comment": "etl"}),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sp_token = r.body["token_value"].as_str().unwrap_or_default().to_string();
    let sp_token_id = r.body["token_info"]["token_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        app.get_as(&format!("{WS}/Me"), &sp_token).await?.body["applicationId"],
        "11111111-2222-3333-4444-555555555555"
    );
    let all = app.get(&format!("/api/2.0/token-management/tokens?created_by_id={sp_id}")).await?;
    assert_eq!(all.body["token_infos"].as_array().map(Vec::len), Some(1), "{}", all.body);
    assert_eq!(all.body["token_infos"][0]["created_by_username"], "11111111-2222-3333-4444-555555555555");
    let r = app.get(&format!("/api/2.0/token-management/tokens/{sp_token_id}")).await?;
    assert_eq!(r.body["token_info"]["owner_id"], sp_id);
    // The service principal is no admin: token management is closed to it, and it cannot delete the admin's PAT.
    assert_databricks_error(
        &app.get_as("/api/2.0/token-management/tokens", &sp_token).await?,
        403,
        "PERMISSION_DENIED",
    );
    let r = app
        .send(
            Method::POST,
            "/api/2.0/token/delete",
            Some(json!({"token_id": id})),
            &[("authorization", &format!("Bearer {sp_token}"))],
        )
        .await?;
    assert_databricks_error(&r, 404, "RESOURCE_DOES_NOT_EXIST");
    let r = app.send(Method::DELETE, &format!("/api/2.0/token-management/tokens/{sp_token_id}"), None, &[]).await?;
    assert_eq!(r.status, StatusCode::OK);
    assert_scim_error(&app.get_as(&format!("{WS}/Me"), &sp_token).await?, 401, None);

    let r = app.post("/api/2.0/token/delete", json!({"token_id": id})).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_scim_error(&app.get_as(&format!("{WS}/Me"), &pat).await?, 401, None);
    assert_databricks_error(
        &app.post("/api/2.0/token/create", json!({"lifetime_seconds": -5})).await?,
        400,
        "INVALID_PARAMETER_VALUE",
    );

    // An expired token is refused.
    let owner: i64 = app.get(&format!("{WS}/Me")).await?.body["id"].as_str().unwrap_or_default().parse()?;
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(3);
    let workspace = app.store.workspace(app.workspace).await?.ok_or_else(|| anyhow::anyhow!("no workspace"))?;
    let (old, _) = idplane_core::token::create_personal(
        app.store.as_ref(),
        &workspace,
        owner,
        Some(3600),
        "",
        long_ago,
        &idplane_core::audit::Actor::cli(),
    )
    .await?;
    let r = app.get_as(&format!("{WS}/Me"), old.expose()).await?;
    assert_scim_error(&r, 401, None);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("expired")), "{}", r.body);
    Ok(())
}

/// POST and PUT drop attributes and extension schemas no schema declares (Entra's custom mappings would otherwise put
/// users in escrow); a known attribute with a wrong value, and a PATCH path naming no attribute, stay 400s.
#[tokio::test]
async fn unknown_attributes_are_dropped_from_post_and_put_and_refused_in_patch_paths() -> Result<()> {
    let app = app().await?;
    let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", custom],
        "userName": "custom@x.com",
        "nickName": "cu",
        "favouriteColour": "teal",
        "name": {"givenName": "C", "middleInitial": "Q"},
        custom: {"costCenter": "42"},
        format!("{custom}:badge"): "7",
    });
    let r = app.post(&format!("{WS}/Users"), body.clone()).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    for unknown in ["favouriteColour", custom, "badge", "costCenter", "middleInitial"] {
        assert!(!r.body.to_string().contains(unknown), "{unknown} dropped: {}", r.body);
    }
    assert_eq!((r.body["nickName"].clone(), r.body["name"]["givenName"].clone()), (json!("cu"), json!("C")));
    assert_eq!(r.body["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
    let mut put = body.clone();
    put["nickName"] = json!("put");
    let r = app.send(Method::PUT, &format!("{WS}/Users/{id}"), Some(put), &[]).await?;
    assert_eq!((r.status, r.body["nickName"].clone()), (StatusCode::OK, json!("put")), "{}", r.body);
    assert!(!r.body.to_string().contains("favouriteColour"));

    let r = app.post(&format!("{WS}/Users"), json!({"userName": "typed@x.com", "active": {"x": 1}})).await?;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = app
        .patch(&format!("{WS}/Users/{id}"), json!([{"op": "replace", "path": "favouriteColour", "value": "x"}]))
        .await?;
    assert_scim_error(&r, 400, Some("invalidPath"));
    let r = app
        .patch(&format!("{WS}/Users/{id}"), json!([{"op": "add", "path": format!("{custom}:badge"), "value": "x"}]))
        .await?;
    assert_scim_error(&r, 400, Some("invalidPath"));
    Ok(())
}

/// By default, workspace-local groups are `Group`s and userName changes apply (RFC 7643/7644, the RFC suites); with
/// `--databricks-strict`, as in Databricks: `WorkspaceGroup`, and userName changes in PUT and PATCH ignored while the
/// rest of the request applies.
#[tokio::test]
async fn databricks_strict_mode_shows_workspace_groups_and_keeps_user_names() -> Result<()> {
    for strict in [false, true] {
        let app = app_configured(|s| s.identities = s.identities.clone().with_databricks_strict(strict)).await?;
        let local = app.post(&format!("{WS}/Groups"), json!({"displayName": "local"})).await?;
        let account_group = app.post(&format!("{}/Groups", app.acct()), json!({"displayName": "acct"})).await?;
        let expected = if strict { "WorkspaceGroup" } else { "Group" };
        assert_eq!(local.body["meta"]["resourceType"], expected, "{}", local.body);
        let id = local.body["id"].as_str().unwrap_or_default();
        assert_eq!(app.get(&format!("{WS}/Groups/{id}")).await?.body["meta"]["resourceType"], expected);
        assert_eq!(account_group.body["meta"]["resourceType"], "Group", "an account group is a Group");

        let id = app.user(WS, "kept@x.com").await?;
        let put = json!({"userName": "renamed@x.com", "displayName": "Put"});
        let r = app.send(Method::PUT, &format!("{WS}/Users/{id}"), Some(put), &[]).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["displayName"], "Put", "the rest of the PUT applies");
        let name = if strict { "kept@x.com" } else { "renamed@x.com" };
        assert_eq!(r.body["userName"], name, "strict {strict}: {}", r.body);
        let ops = json!([{"op": "replace", "path": "userName", "value": "patched@x.com"}, {"op": "replace", "path": "nickName", "value": "n"}]);
        let r = app.patch(&format!("{WS}/Users/{id}"), ops).await?;
        assert_eq!((r.status, r.body["nickName"].clone()), (StatusCode::OK, json!("n")), "{}", r.body);
        let name = if strict { "kept@x.com" } else { "patched@x.com" };
        assert_eq!(r.body["userName"], name, "strict {strict}: {}", r.body);

        // A uniqueness conflict: Databricks' detail either way; the RFC's scimType only outside strict mode, where
        // Terraform's `force` import must find the detail alone.
        let r = app.post(&format!("{WS}/Groups"), json!({"displayName": "local"})).await?;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert_eq!(r.body["detail"], "Group with name local already exists.", "{}", r.body);
        let scim_type = if strict { Value::Null } else { json!("uniqueness") };
        assert_eq!(r.body.get("scimType").cloned().unwrap_or(Value::Null), scim_type, "strict {strict}: {}", r.body);
    }
    Ok(())
}

/// Endpoint names match case-insensitively and a trailing slash is accepted, as Microsoft's reference SCIM client
/// collection expects; `meta.location` keeps the canonical spelling.
#[tokio::test]
async fn endpoints_match_case_insensitively_and_with_a_trailing_slash() -> Result<()> {
    let app = app().await?;
    for base in [WS.to_string(), "/api/2.0/preview/scim".to_string(), app.acct()] {
        let r = app.post(&format!("{base}/users/"), json!({"userName": format!("case{}@x.com", base.len())})).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{base}/users/: {}", r.body);
        let id = r.body["id"].as_str().unwrap_or_default().to_string();
        let location = format!("http://idp.test{base}/Users/{id}");
        assert_eq!(r.body["meta"]["location"], location.as_str(), "canonical: {}", r.body);
        assert_eq!(r.header(header::LOCATION), location);
        for path in [format!("USERS/{id}"), format!("Users/{id}/"), format!("users/{id}/")] {
            let r = app.get(&format!("{base}/{path}")).await?;
            assert_eq!(r.status, StatusCode::OK, "{base}/{path}: {}", r.body);
            assert_eq!(r.body["meta"]["location"], location.as_str());
        }
        let r = app
            .patch(&format!("{base}/users/{id}/"), json!([{"op": "replace", "path": "displayName", "value": "C"}]))
            .await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for path in ["groups", "serviceprincipals/", "schemas", "resourcetypes/", "serviceproviderconfig", "me"] {
            let r = app.get(&format!("{base}/{path}")).await?;
            assert_eq!(r.status, StatusCode::OK, "{base}/{path}: {}", r.body);
        }
        let r = app.get(&format!("{base}/schemas/urn:ietf:params:scim:schemas:core:2.0:User/")).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["meta"]["location"].as_str().is_some_and(|l| l.contains("/Schemas/")), "{}", r.body);
        let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []});
        assert_eq!(app.post(&format!("{base}/bulk"), bulk).await?.status, StatusCode::OK);
        let r = app.send(Method::DELETE, &format!("{base}/Users/{id}/"), None, &[]).await?;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    assert_scim_error(&app.get(&format!("{WS}/nothing/")).await?, 404, None);
    Ok(())
}

/// A service principal created without an applicationId gets one, a UUID, as in Databricks, at both levels; clients
/// find it by it, and a PUT that leaves it out keeps it.
#[tokio::test]
async fn service_principals_created_without_an_application_id_get_one() -> Result<()> {
    let app = app().await?;
    for base in [app.acct(), WS.to_string()] {
        let r = app.post(&format!("{base}/ServicePrincipals"), json!({"displayName": "no app id"})).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let app_id = r.body["applicationId"].as_str().unwrap_or_default().to_string();
        let dashes: Vec<usize> = app_id.match_indices('-').map(|(i, _)| i).collect();
        assert!(app_id.len() == 36 && dashes == [8, 13, 18, 23], "{base}: a UUID: {}", r.body);
        let id = r.body["id"].as_str().unwrap_or_default().to_string();
        let found = app.get(&format!("{base}/ServicePrincipals?filter=applicationId+eq+%22{app_id}%22")).await?;
        assert_eq!(found.body["Resources"][0]["id"], id.as_str(), "{base}: {}", found.body);
        let put = json!({"displayName": "renamed"});
        let r = app.send(Method::PUT, &format!("{base}/ServicePrincipals/{id}"), Some(put), &[]).await?;
        assert_eq!((r.status, r.body["applicationId"].clone()), (StatusCode::OK, json!(app_id)), "{}", r.body);
    }
    let given = "44444444-5555-6666-7777-888888888888";
    let r =
        app.post(&format!("{WS}/ServicePrincipals"), json!({"applicationId": given, "displayName": "given"})).await?;
    assert_eq!(r.body["applicationId"], given, "one given is kept");
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    let change = json!([{"op": "replace", "path": "applicationId", "value": "55555555-6666-7777-8888-999999999999"}]);
    assert_scim_error(&app.patch(&format!("{WS}/ServicePrincipals/{id}"), change).await?, 400, Some("mutability"));

    // A generated one is the server's placeholder: the client may set its own once (scim2-tester's PATCH add does),
    // and then it is immutable like any other.
    let acct = app.acct();
    let r = app.post(&format!("{acct}/ServicePrincipals"), json!({"displayName": "later"})).await?;
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    assert!(!r.body.to_string().contains("Generated"), "the mark is never shown: {}", r.body);
    let own = "66666666-7777-8888-9999-000000000000";
    let r = app
        .patch(&format!("{acct}/ServicePrincipals/{id}"), json!([{"op": "add", "path": "applicationId", "value": own}]))
        .await?;
    assert_eq!((r.status, r.body["applicationId"].clone()), (StatusCode::OK, json!(own)), "{}", r.body);
    let again = json!([{"op": "add", "path": "applicationId", "value": "77777777-8888-9999-0000-111111111111"}]);
    assert_scim_error(&app.patch(&format!("{acct}/ServicePrincipals/{id}"), again).await?, 400, Some("mutability"));
    let r = app.post(&format!("{acct}/ServicePrincipals"), json!({"displayName": "by put"})).await?;
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    let put = json!({"displayName": "by put", "applicationId": "88888888-9999-0000-1111-222222222222"});
    let r = app.send(Method::PUT, &format!("{acct}/ServicePrincipals/{id}"), Some(put), &[]).await?;
    assert_eq!(r.body["applicationId"], "88888888-9999-0000-1111-222222222222", "{}", r.body);
    let audit = app.get(&format!("/api/2.0/accounts/{}/audit?resource_id={id}", app.account)).await?;
    assert!(!audit.body.to_string().contains("Generated"), "nor logged: {}", audit.body);
    Ok(())
}

/// Sends `method uri` with the admin token, a JSON body and one raw header value (which may hold any bytes).
async fn send_raw_header(app: &App, method: Method, uri: &str, name: &str, value: &[u8]) -> Result<Reply> {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "idp.test")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(name, axum::http::HeaderValue::from_bytes(value)?)
        .body(Body::from(
            if uri.starts_with(WS) { json!({"userName": "misrouted@x.com"}) } else { json!({}) }.to_string(),
        ))?;
    let res = app.router.clone().oneshot(req).await?;
    let status = res.status();
    let headers = res.headers().clone();
    let body = serde_json::from_slice(&res.into_body().collect().await?.to_bytes())?;
    Ok(Reply { status, headers, body })
}

/// A workspace header that is not text (a non-ASCII byte before a valid id) is a 400, not an absent header that
/// would send the write to the default workspace; so is a Content-Type that is not text. SCIM paths answer SCIM
/// errors, Databricks paths Databricks errors.
#[tokio::test]
async fn malformed_workspace_and_content_type_headers_get_400() -> Result<()> {
    let app = app().await?;
    let id = app.workspace.to_string();
    let malformed = [b"\xe9".as_slice(), id.as_bytes()].concat();
    for name in ["x-databricks-workspace-id", "x-databricks-org-id"] {
        let r = send_raw_header(&app, Method::POST, &format!("{WS}/Users"), name, &malformed).await?;
        assert_scim_error(&r, 400, None);
        assert!(r.body["detail"].as_str().is_some_and(|d| d.contains(name)), "{}", r.body);
        let r = send_raw_header(&app, Method::POST, "/api/2.0/token/create", name, &malformed).await?;
        assert_databricks_error(&r, 400, "INVALID_PARAMETER_VALUE");
    }
    let content_type = b"application/scim+json\xff";
    let r = send_raw_header(&app, Method::POST, &format!("{WS}/Users"), "content-type", content_type).await?;
    assert_scim_error(&r, 400, Some("invalidSyntax"));
    let r = send_raw_header(&app, Method::POST, "/api/2.0/token/create", "content-type", content_type).await?;
    assert_databricks_error(&r, 400, "INVALID_PARAMETER_VALUE");
    let r = app.get(&format!("{WS}/Users?filter=userName+eq+%22misrouted@x.com%22")).await?;
    assert_eq!(r.body["totalResults"], 0, "nothing was written: {}", r.body);
    // A well-formed header still works.
    let r =
        send_raw_header(&app, Method::POST, &format!("{WS}/Users"), "x-databricks-workspace-id", id.as_bytes()).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Ok(())
}

/// Every route, walked with undecodable segments (`%FF`), bad queries and every method: no error is plain text, and
/// none a server error. SCIM paths answer SCIM Error messages; Databricks paths Databricks errors.
#[tokio::test]
async fn no_route_answers_an_error_outside_its_api_shape() -> Result<()> {
    let app = app().await?;
    let account = app.account.clone();
    let mut templates: Vec<String> = Vec::new();
    for base in [
        WS.to_string(),
        "/api/2.0/preview/scim".into(),
        "/api/2.0/accounts/{account_id}/scim/v2".into(),
        "/api/2.0/account/scim/v2".into(),
    ] {
        for endpoint in ["Users", "Groups", "ServicePrincipals"] {
            templates.push(format!("{base}/{endpoint}"));
            templates.push(format!("{base}/{endpoint}/.search"));
            templates.push(format!("{base}/{endpoint}/{{id}}"));
        }
        for rest in [
            "Me",
            ".search",
            "Bulk",
            "ServiceProviderConfig",
            "ResourceTypes",
            "ResourceTypes/{id}",
            "Schemas",
            "Schemas/{id}",
        ] {
            templates.push(format!("{base}/{rest}"));
        }
    }
    for prefix in ["/api/2.0/accounts/{account_id}/workspaces", "/api/2.0/preview/accounts/{account_id}/workspaces"] {
        let assignments = format!("{prefix}/{{workspace_id}}/permissionassignments");
        templates.extend([
            prefix.to_string(),
            format!("{prefix}/{{workspace_id}}"),
            assignments.clone(),
            format!("{assignments}/permissions"),
            format!("{assignments}/principals/{{principal_id}}"),
        ]);
    }
    templates.extend(
        [
            "/api/2.0/preview/permissionassignments",
            "/api/2.0/preview/permissionassignments/principals/{principal_id}",
            "/api/2.0/token/create",
            "/api/2.0/token/list",
            "/api/2.0/token/delete",
            "/api/2.0/token-management/tokens",
            "/api/2.0/token-management/tokens/{token_id}",
            "/api/2.0/token-management/on-behalf-of/tokens",
            "/api/2.0/accounts/{account_id}/audit",
            "/api/2.0/audit",
            "/.well-known/databricks-config",
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/2.0/nothing",
        ]
        .map(str::to_string),
    );
    let queries = [
        "",
        "?filter=%FF",
        "?filter=userName+eq&attributes=%FF&excludedAttributes=%FF&count=x&startIndex=-1&sortBy=%FF&sortOrder=up",
        "?cursor=%FF&count=99999999999999999999",
        "?limit=%FF&start_time=%FF&page_token=%FF&created_by_id=%FF&workspace_id=x",
        "?%FF=%FF",
    ];
    let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    let mut checked = 0;
    for template in &templates {
        let valid = template.replace("{account_id}", &account).replace("{workspace_id}", &app.workspace.to_string());
        let broken = template.replace("{account_id}", "%FF").replace("{workspace_id}", "%FF");
        let mut paths = vec![
            valid.replace("{id}", "%FF").replace("{principal_id}", "%FF").replace("{token_id}", "%FF"),
            broken.replace("{id}", "%FF").replace("{principal_id}", "%FF").replace("{token_id}", "%FF"),
            format!("{}/%FF", valid.replace("{id}", "1").replace("{principal_id}", "1").replace("{token_id}", "1")),
        ];
        // Only broken paths: a valid one would, say, DELETE the default workspace and leave the rest untested.
        paths.retain(|p| p.contains("%FF"));
        paths.dedup();
        for path in paths {
            for query in queries {
                for method in &methods {
                    let uri = format!("{path}{query}");
                    let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
                    let r = app.send(method.clone(), &uri, body, &[]).await?;
                    checked += 1;
                    assert!(r.status.as_u16() < 500, "{method} {uri} answered {}: {}", r.status, r.body);
                    if r.status.is_client_error() {
                        let databricks =
                            (path.starts_with("/api/") && !path.contains("/scim")) || path.starts_with("/.well-known/");
                        if databricks {
                            assert!(r.body["error_code"].is_string(), "{method} {uri}: {} {}", r.status, r.body);
                            assert!(r.header(header::CONTENT_TYPE).starts_with("application/json"), "{method} {uri}");
                        } else {
                            assert_eq!(
                                r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
                                "{method} {uri}: {} {}",
                                r.status, r.body
                            );
                            assert!(
                                r.header(header::CONTENT_TYPE).starts_with("application/scim+json"),
                                "{method} {uri}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 2000, "{checked} requests");
    Ok(())
}

/// Lifetimes past the documented maximum (100 years) are a 400 naming the limit, not an overflow that drops the
/// connection: as numbers, as strings, on both token APIs.
#[tokio::test]
async fn token_lifetimes_past_the_maximum_get_400_naming_the_limit() -> Result<()> {
    let app = app().await?;
    let app_id = "22222222-3333-4444-5555-666666666666";
    let r = app.post(&format!("{WS}/ServicePrincipals"), json!({"applicationId": app_id, "displayName": "sp"})).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let max = idplane_core::token::MAX_LIFETIME.whole_seconds();
    for lifetime in [json!(1_000_000_000_000i64), json!(i64::MAX), json!("9223372036854775807"), json!(max + 1)] {
        for (uri, body) in [
            ("/api/2.0/token/create", json!({"lifetime_seconds": lifetime})),
            (
                "/api/2.0/token-management/on-behalf-of/tokens",
                json!({"application_id": app_id, "lifetime_seconds": lifetime}),
            ),
        ] {
            let r = app.post(uri, body).await?;
            assert_databricks_error(&r, 400, "INVALID_PARAMETER_VALUE");
            let message = r.body["message"].as_str().unwrap_or_default();
            assert!(message.contains(&max.to_string()) && message.contains("100 years"), "{uri}: {message}");
        }
    }
    let r = app.post("/api/2.0/token/create", json!({"lifetime_seconds": max})).await?;
    assert_eq!(r.status, StatusCode::OK, "the maximum itself is accepted: {}", r.body);
    Ok(())
}

#[tokio::test]
async fn changes_made_through_this_node_take_effect_at_once_despite_the_auth_cache() -> Result<()> {
    let app =
        app_configured(|s| s.auth_cache = Arc::new(AuthCache::with_clock(Duration::from_secs(3600), s.clock.clone())))
            .await?;
    let r = app.post("/api/2.0/token/create", json!({"comment": "cached"})).await?;
    let pat = r.body["token_value"].as_str().unwrap_or_default().to_string();
    let id = r.body["token_info"]["token_id"].clone();
    assert_eq!(app.get_as(&format!("{WS}/Me"), &pat).await?.status, StatusCode::OK, "now cached");
    assert_eq!(app.post("/api/2.0/token/delete", json!({"token_id": id})).await?.status, StatusCode::OK);
    assert_scim_error(&app.get_as(&format!("{WS}/Me"), &pat).await?, 401, None);

    // A user's token, cached with its role, then the user deactivated and its assignment removed.
    let user = app.user(WS, "cached@x.com").await?;
    let token = app
        .token_for(
            TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace },
            Some(user.parse()?),
        )
        .await?;
    assert_eq!(app.get_as(&format!("{WS}/Users/{user}"), &token).await?.status, StatusCode::OK);
    let r =
        app.patch(&format!("{WS}/Users/{user}"), json!([{"op": "replace", "path": "active", "value": false}])).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_scim_error(&app.get_as(&format!("{WS}/Users/{user}"), &token).await?, 403, None);

    // A refused write leaves the cache as it was, and a failed lookup is not cached.
    assert_scim_error(&app.get_as(&format!("{WS}/Me"), "dapi-unknown").await?, 401, None);
    Ok(())
}

#[tokio::test]
async fn changes_made_elsewhere_take_effect_within_the_auth_cache_time_to_live() -> Result<()> {
    // Long enough that the time the test itself takes does not matter: the test moves the clock.
    let ttl = Duration::from_secs(3600);
    let app = app_configured(|s| s.auth_cache = Arc::new(AuthCache::with_clock(ttl, s.clock.clone()))).await?;
    let token = app
        .token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace }, None)
        .await?;
    assert_eq!(app.get_as(&format!("{WS}/Users?count=1"), &token).await?.status, StatusCode::OK);
    // Revoked in the store, as the CLI or another node does: refused once what this node read has expired.
    let hash = idplane_core::token::TokenHash::of(&token);
    let stored = app.store.token_by_hash(&hash).await?.map(|t| t.id).unwrap_or_default();
    assert!(app.store.delete_token(&stored, &[]).await?);
    // Still relied on within the time to live, refused once it is up.
    app.clock.advance(ttl / 2);
    assert_eq!(app.get_as(&format!("{WS}/Users?count=1"), &token).await?.status, StatusCode::OK);
    app.clock.advance(ttl / 2);
    assert_scim_error(&app.get_as(&format!("{WS}/Users?count=1"), &token).await?, 401, None);
    Ok(())
}

#[tokio::test]
async fn account_scim_tokens_rotate_with_a_grace_period_and_work_on_account_scim_only() -> Result<()> {
    let app = app().await?;
    let store = app.store.as_ref();
    let hours = time::Duration::hours;
    let now = time::OffsetDateTime::now_utc();
    let cli = idplane_core::audit::Actor::cli();
    let (first, _) =
        idplane_core::token::rotate_scim_token(store, &app.account, hours(24), now - hours(10), &cli).await?;
    let users = format!("{}/Users?count=1", app.acct());
    assert_eq!(app.get_as(&users, first.expose()).await?.status, StatusCode::OK);
    assert_scim_error(&app.get_as(&format!("{WS}/Users"), first.expose()).await?, 403, None);
    let workspaces = format!("/api/2.0/accounts/{}/workspaces", app.account);
    assert_databricks_error(&app.get_as(&workspaces, first.expose()).await?, 403, "PERMISSION_DENIED");
    let users_2_1 = format!("/api/2.1/accounts/{}/scim/v2/Users?count=1", app.account);
    assert_eq!(app.get_as(&users_2_1, first.expose()).await?.status, StatusCode::OK, "the Account SCIM URL of 2.1");
    let elsewhere = "/api/2.1/accounts/00000000-0000-4000-8000-000000000000/scim/v2/Users";
    assert_scim_error(&app.get_as(elsewhere, first.expose()).await?, 403, None);

    // Rotated 10 hours ago with a 24-hour grace: both work now.
    let (second, _) =
        idplane_core::token::rotate_scim_token(store, &app.account, hours(24), now - hours(10), &cli).await?;
    assert_eq!(app.get_as(&users, first.expose()).await?.status, StatusCode::OK, "still in its grace period");
    assert_eq!(app.get_as(&users, second.expose()).await?.status, StatusCode::OK);
    // Rotated 10 hours ago with a 1-hour grace: the earlier ones stopped working 9 hours ago.
    let (third, _) =
        idplane_core::token::rotate_scim_token(store, &app.account, hours(1), now - hours(10), &cli).await?;
    assert_scim_error(&app.get_as(&users, first.expose()).await?, 401, None);
    assert_scim_error(&app.get_as(&users, second.expose()).await?, 401, None);
    assert_eq!(app.get_as(&users, third.expose()).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn workspace_admins_read_the_account_through_the_proxy_and_write_nothing() -> Result<()> {
    let app = app().await?;
    let proxy = "/api/2.0/account/scim/v2";
    let r = app.post(&format!("{}/Users", app.acct()), json!({"userName": "unassigned@x.com"})).await?;
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    assert_scim_error(&app.get(&format!("{WS}/Users/{id}")).await?, 404, None);
    let r = app.get(&format!("{proxy}/Users/{id}")).await?;
    assert_eq!(r.status, StatusCode::OK, "the proxy shows account users, assigned or not: {}", r.body);
    assert!(r.body["meta"]["location"].as_str().is_some_and(|l| l.contains(proxy)));
    let r = app.get(&format!("{proxy}/Users?filter=userName+eq+%22unassigned%40x.com%22")).await?;
    assert_eq!(r.body["totalResults"], 1);
    assert_scim_error(&app.post(&format!("{proxy}/Users"), json!({"userName": "no@x.com"})).await?, 403, None);
    assert_scim_error(&app.send(Method::DELETE, &format!("{proxy}/Users/{id}"), None, &[]).await?, 403, None);
    // A plain workspace user may not use it.
    let u: i64 = id.parse()?;
    let assign =
        format!("/api/2.0/accounts/{}/workspaces/{}/permissionassignments/principals/{u}", app.account, app.workspace);
    app.send(Method::PUT, &assign, Some(json!({"permissions": ["USER"]})), &[]).await?;
    let token = app.token_for(TokenScope::Account { account_id: app.account.clone() }, Some(u)).await?;
    assert_scim_error(&app.get_as(&format!("{proxy}/Users"), &token).await?, 403, None);
    Ok(())
}

#[tokio::test]
async fn deleting_from_a_workspace_a_user_a_group_keeps_there_is_refused_and_changes_nothing() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let user = app.user(&acct, "kept@x.com").await?;
    let r =
        app.post(&format!("{acct}/Groups"), json!({"displayName": "keepers", "members": [{"value": user}]})).await?;
    let group = r.body["id"].as_str().unwrap_or_default().to_string();
    let assign = |id: &str| {
        format!("/api/2.0/accounts/{}/workspaces/{}/permissionassignments/principals/{id}", app.account, app.workspace)
    };
    for id in [&user, &group] {
        let r = app.send(Method::PUT, &assign(id), Some(json!({"permissions": ["USER"]})), &[]).await?;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = app.send(Method::DELETE, &format!("{WS}/Users/{user}"), None, &[]).await?;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("keepers")), "{}", r.body);
    // Its own assignment is still there: without the group's, it stays in the workspace.
    assert_eq!(app.send(Method::DELETE, &assign(&group), None, &[]).await?.status, StatusCode::OK);
    assert_eq!(app.get(&format!("{WS}/Users/{user}")).await?.status, StatusCode::OK);
    assert_eq!(
        app.send(Method::DELETE, &format!("{WS}/Users/{user}"), None, &[]).await?.status,
        StatusCode::NO_CONTENT
    );
    assert_scim_error(&app.get(&format!("{WS}/Users/{user}")).await?, 404, None);
    assert_eq!(app.get(&format!("{acct}/Users/{user}")).await?.status, StatusCode::OK, "the identity stays");
    Ok(())
}

/// Each target read by its own tenant.
async fn snapshot(app: &App, targets: &[Target<'_>]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for t in targets {
        let r = app.send(Method::GET, &format!("{}/{}/{}", t.base, t.endpoint, t.id), None, &t.auth).await?;
        assert_eq!(r.status, StatusCode::OK, "{}/{}/{}: {}", t.base, t.endpoint, t.id, r.body);
        out.push(r.body);
    }
    Ok(out)
}

/// A valid replacement body for a resource of `endpoint`, so that only authorization can refuse it.
fn put_body(endpoint: &str) -> Value {
    match endpoint {
        "Users" => json!({"userName": "pwned@x.com"}),
        _ => json!({"displayName": "pwned"}),
    }
}

/// A resource of another tenant: its SCIM base and endpoint, its id, and its own tenant's credentials.
#[derive(Clone)]
struct Target<'a> {
    base: String,
    endpoint: &'static str,
    id: String,
    auth: Vec<(&'a str, &'a str)>,
}

/// Tenant isolation, as a matrix: every endpoint and method, aimed with one tenant's token at another tenant's
/// account, workspace or resources, is refused (401, 403 or 404), and afterwards the target is unchanged.
#[tokio::test]
async fn tenant_isolation_matrix() -> Result<()> {
    let app = app().await?;
    let now = time::OffsetDateTime::now_utc();
    let store = app.store.as_ref();
    // Tenant B: another account with a workspace; tenant C: a second, non-federated workspace of account A.
    let b = idplane_core::tenancy::Account { id: idplane_core::ids::new_uuid()?, name: "b".into(), created: now };
    store.insert_account(&b, &[]).await?;
    let new_ws = |account: &str, federated| idplane_core::tenancy::Workspace {
        id: idplane_core::ids::new_numeric_id().unwrap_or(1),
        account_id: account.to_string(),
        name: "w".into(),
        identity_federation: federated,
        created: now,
    };
    let wb = new_ws(&b.id, true);
    store.insert_workspace(&wb, &[]).await?;
    let wc = new_ws(&app.account, false);
    store.insert_workspace(&wc, &[]).await?;
    let b_admin = app.token_for(TokenScope::Account { account_id: b.id.clone() }, None).await?;
    let c_admin =
        app.token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: wc.id }, None).await?;
    let b_scim = format!("/api/2.0/accounts/{}/scim/v2", b.id);

    // Resources of B (account level, and in its workspace) and of C, created by their own admins.
    let as_b = [("authorization", format!("Bearer {b_admin}")), ("x-databricks-workspace-id", wb.id.to_string())];
    let as_b: Vec<(&str, &str)> = as_b.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let as_c = format!("Bearer {c_admin}");
    let as_c = [("authorization", as_c.as_str())];
    let mut targets = Vec::new();
    for (endpoint, body) in [
        ("Users", json!({"userName": "b-user@x.com"})),
        ("ServicePrincipals", json!({"applicationId": "b-app", "displayName": "b-sp"})),
    ] {
        let r = app.send(Method::POST, &format!("{b_scim}/{endpoint}"), Some(body), &as_b).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap_or_default().to_string();
        targets.push(Target { base: b_scim.clone(), endpoint, id, auth: as_b.clone() });
    }
    let r = app
        .send(
            Method::POST,
            &format!("{b_scim}/Groups"),
            Some(json!({"displayName": "b-group", "members": [{"value": targets[0].id}]})),
            &as_b,
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    targets.push(Target { base: b_scim.clone(), endpoint: "Groups", id, auth: as_b.clone() });
    let r = app.send(Method::POST, &format!("{WS}/Users"), Some(json!({"userName": "c-user@x.com"})), &as_c).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    targets.push(Target { base: WS.to_string(), endpoint: "Users", id, auth: as_c.to_vec() });

    let before = snapshot(&app, &targets).await?;

    // The attackers: A's admin (default token), C's workspace admin, and a user of A's default workspace.
    let a_ws = format!("Bearer {TOKEN}");
    let c = format!("Bearer {c_admin}");
    let attackers: Vec<Vec<(&str, String)>> = vec![
        vec![("authorization", a_ws.clone())],
        vec![("authorization", a_ws.clone()), ("x-databricks-workspace-id", wb.id.to_string())],
        vec![("authorization", a_ws.clone()), ("x-databricks-workspace-id", wc.id.to_string())],
        vec![("authorization", c.clone()), ("x-databricks-workspace-id", app.workspace.to_string())],
    ];
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": "pwned"}]});
    let mut checked = 0;
    for attacker in &attackers {
        let headers: Vec<(&str, &str)> = attacker.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let is_a_admin_in_c = attacker.iter().any(|(_, v)| *v == wc.id.to_string()) && attacker[0].1 == a_ws;
        for target in &targets {
            let id = &target.id;
            // A's account admin legitimately administers C (a workspace of its own account): not an attack.
            if is_a_admin_in_c && id == &targets[3].id {
                continue;
            }
            for base in [WS.to_string(), "/api/2.0/preview/scim".into(), b_scim.clone(), app.acct()] {
                for endpoint in ["Users", "Groups", "ServicePrincipals"] {
                    let item = format!("{base}/{endpoint}/{id}");
                    let requests = [
                        (Method::GET, item.clone(), None),
                        (Method::PUT, item.clone(), Some(put_body(endpoint))),
                        (Method::PATCH, item.clone(), Some(patch.clone())),
                        (Method::DELETE, item.clone(), None),
                        (Method::GET, format!("{base}/{endpoint}?filter=id+eq+%22{id}%22"), None),
                        (
                            Method::POST,
                            format!("{base}/{endpoint}/.search"),
                            Some(json!({"filter": format!("id eq \"{id}\"")})),
                        ),
                        (Method::POST, format!("{base}/.search"), Some(json!({"filter": format!("id eq \"{id}\"")}))),
                        (
                            Method::POST,
                            format!("{base}/Bulk"),
                            Some(
                                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [{"method": "DELETE", "path": format!("/{endpoint}/{id}")}]}),
                            ),
                        ),
                    ];
                    for (method, uri, body) in requests {
                        let r = app.send(method.clone(), &uri, body, &headers).await?;
                        let s = r.status.as_u16();
                        let leaked = match (&method, s) {
                            (_, 401 | 403 | 404) => false,
                            // A list or search may answer, but never with the target in it.
                            (_, 200) if r.body.get("Resources").is_some() => r.body.to_string().contains(id.as_str()),
                            // Bulk answers 200 with per-operation statuses: each must be a refusal.
                            (_, 200) if r.body.get("Operations").is_some() => r.body["Operations"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|o| !matches!(o["status"].as_str(), Some("401" | "403" | "404"))),
                            _ => true,
                        };
                        assert!(!leaked, "{method} {uri} with {headers:?} answered {s}: {}", r.body);
                        checked += 1;
                    }
                }
            }
        }
        // The non-SCIM APIs of B's account and workspace.
        for (method, uri) in [
            (Method::GET, format!("/api/2.0/accounts/{}/workspaces", b.id)),
            (Method::GET, format!("/api/2.0/accounts/{}/workspaces/{}", b.id, wb.id)),
            (Method::DELETE, format!("/api/2.0/accounts/{}/workspaces/{}", b.id, wb.id)),
            (Method::GET, format!("/api/2.0/accounts/{}/workspaces/{}", app.account, wb.id)),
            (Method::GET, format!("/api/2.0/accounts/{}/workspaces/{}/permissionassignments", app.account, wb.id)),
            (
                Method::PUT,
                format!(
                    "/api/2.0/accounts/{}/workspaces/{}/permissionassignments/principals/{}",
                    app.account, wb.id, targets[0].id
                ),
            ),
            (
                Method::PUT,
                format!(
                    "/api/2.0/accounts/{}/workspaces/{}/permissionassignments/principals/{}",
                    app.account, app.workspace, targets[0].id
                ),
            ),
        ] {
            let r = app.send(method.clone(), &uri, Some(json!({"permissions": ["ADMIN"]})), &headers).await?;
            assert!(
                matches!(r.status.as_u16(), 401 | 403 | 404),
                "{method} {uri} with {headers:?} answered {}: {}",
                r.status,
                r.body
            );
            checked += 1;
        }
    }
    assert_eq!(snapshot(&app, &targets).await?, before, "nothing of another tenant changed");
    assert!(checked > 500, "the matrix covers {checked} requests");
    Ok(())
}

#[tokio::test]
async fn entitlements_belong_to_a_workspace_and_are_refused_at_account_level() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    // At workspace level: created with one, added, removed by value and by filter, unknown ones refused.
    let r = app
        .post(
            &format!("{WS}/Users"),
            json!({"userName": "ent@x.com", "entitlements": [{"value": "allow-cluster-create"}]}),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entitlements"], json!([{"value": "allow-cluster-create"}]));
    assert_eq!(r.body["active"], true, "users are created active");
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    let uri = format!("{WS}/Users/{id}");
    app.patch(&uri, json!([{"op": "add", "path": "entitlements", "value": [{"value": "databricks-sql-access"}]}]))
        .await?;
    let u = app.get(&uri).await?.body;
    assert_eq!(u["entitlements"], json!([{"value": "allow-cluster-create"}, {"value": "databricks-sql-access"}]));
    app.patch(&uri, json!([{"op": "remove", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}]))
        .await?;
    app.patch(&uri, json!([{"op": "remove", "path": "entitlements[value eq \"databricks-sql-access\"]"}])).await?;
    assert!(app.get(&uri).await?.body.get("entitlements").is_none());
    let r = app.patch(&uri, json!([{"op": "add", "path": "entitlements", "value": [{"value": "be-root"}]}])).await?;
    assert_scim_error(&r, 400, Some("invalidValue"));
    // Per workspace: a second federated workspace sees the same user without the first one's entitlements.
    let w2 =
        app.post(&format!("/api/2.0/accounts/{}/workspaces", app.account), json!({"workspace_name": "w2"})).await?;
    let w2 = w2.body["workspace_id"].as_i64().unwrap_or_default().to_string();
    let assign = format!("/api/2.0/accounts/{}/workspaces/{w2}/permissionassignments/principals/{id}", app.account);
    app.send(Method::PUT, &assign, Some(json!({"permissions": ["USER"]})), &[]).await?;
    // The admin reads the second workspace only once it is assigned there too.
    let me = app.get(&format!("{WS}/Me")).await?.body["id"].as_str().unwrap_or_default().to_string();
    let assign_me = format!("/api/2.0/accounts/{}/workspaces/{w2}/permissionassignments/principals/{me}", app.account);
    app.send(Method::PUT, &assign_me, Some(json!({"permissions": ["ADMIN"]})), &[]).await?;
    app.patch(&uri, json!([{"op": "add", "path": "entitlements", "value": [{"value": "workspace-access"}]}])).await?;
    let in_w2 = app.send(Method::GET, &format!("{WS}/Users/{id}"), None, &[("x-databricks-workspace-id", &w2)]).await?;
    assert_eq!(in_w2.status, StatusCode::OK);
    assert!(in_w2.body.get("entitlements").is_none(), "{}", in_w2.body);
    // At account level: refused with the error Terraform expects; Terraform's empty item passes.
    let r = app
        .post(&format!("{acct}/Users"), json!({"userName": "a@x.com", "entitlements": [{"value": "workspace-access"}]}))
        .await?;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert_eq!(r.body["detail"], "entitlements can only be managed at the workspace level");
    let r = app
        .patch(
            &format!("{acct}/Users/{id}"),
            json!([{"op": "add", "path": "entitlements", "value": [{"value": "workspace-access"}]}]),
        )
        .await?;
    assert_eq!(r.body["detail"], "entitlements can only be managed at the workspace level");
    let r = app.post(&format!("{acct}/Users"), json!({"userName": "tf@x.com", "entitlements": [{}]})).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(
        app.get(&format!("{acct}/Users/{id}")).await?.body.get("entitlements").is_none(),
        "not shown at account level"
    );
    Ok(())
}

#[tokio::test]
async fn a_workspace_admin_cannot_reach_beyond_its_workspace() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let assignments =
        format!("/api/2.0/accounts/{}/workspaces/{}/permissionassignments/principals", app.account, app.workspace);
    // A workspace admin who is no account admin.
    let r = app.post(&format!("{acct}/Users"), json!({"userName": "ws-admin@x.com"})).await?;
    let admin: i64 = r.body["id"].as_str().unwrap_or_default().parse()?;
    app.send(Method::PUT, &format!("{assignments}/{admin}"), Some(json!({"permissions": ["ADMIN"]})), &[]).await?;
    let token = app.token_for(TokenScope::Account { account_id: app.account.clone() }, Some(admin)).await?;
    let auth = format!("Bearer {token}");
    let as_admin = [("authorization", auth.as_str())];
    // Roles set in the workspace are the workspace's: they do not make an account admin.
    let r = app
        .send(
            Method::PATCH,
            &format!("{WS}/Users/{admin}"),
            Some(json!({"Operations": [{"op": "add", "path": "roles", "value": [{"value": "account_admin"}]}]})),
            &as_admin,
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["roles"], json!([{"value": "account_admin"}]));
    assert!(
        app.get(&format!("{acct}/Users/{admin}")).await?.body.get("roles").is_none(),
        "the account roles are untouched"
    );
    assert_scim_error(&app.get_as(&format!("{acct}/Users"), &token).await?, 403, None);
    // Nor does a PUT at workspace level wipe the account roles of the account admin.
    let me = app.get(&format!("{WS}/Me")).await?.body;
    let root = me["id"].as_str().unwrap_or_default().to_string();
    let r = app
        .send(
            Method::PUT,
            &format!("{WS}/Users/{root}"),
            Some(json!({"userName": "admin", "displayName": "Administrator"})),
            &as_admin,
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get(&format!("{acct}/Users/{root}")).await?.body["roles"], json!([{"value": "account_admin"}]));
    // An account group is read-only in a workspace, but its entitlements there are the workspace's to set.
    let g = app.post(&format!("{acct}/Groups"), json!({"displayName": "acct-group"})).await?;
    let g = g.body["id"].as_str().unwrap_or_default().to_string();
    app.send(Method::PUT, &format!("{assignments}/{g}"), Some(json!({"permissions": ["USER"]})), &[]).await?;
    let r = app
        .send(
            Method::PATCH,
            &format!("{WS}/Groups/{g}"),
            Some(json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": admin.to_string()}]}]})),
            &as_admin,
        )
        .await?;
    assert_scim_error(&r, 403, None);
    let r = app.send(Method::PATCH, &format!("{WS}/Groups/{g}"), Some(json!({"Operations": [{"op": "add", "path": "entitlements", "value": [{"value": "databricks-sql-access"}]}]})), &as_admin).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Deleting an account user from the workspace unassigns it; the account keeps it.
    let r = app.post(&format!("{acct}/Users"), json!({"userName": "leaver@x.com"})).await?;
    let leaver = r.body["id"].as_str().unwrap_or_default().to_string();
    app.send(Method::PUT, &format!("{assignments}/{leaver}"), Some(json!({"permissions": ["USER"]})), &[]).await?;
    let r = app.send(Method::DELETE, &format!("{WS}/Users/{leaver}"), None, &as_admin).await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_scim_error(&app.get(&format!("{WS}/Users/{leaver}")).await?, 404, None);
    assert_eq!(app.get(&format!("{acct}/Users/{leaver}")).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn workspaces_have_builtin_users_and_admins_groups() -> Result<()> {
    let app = app().await?;
    let r = app
        .get(&format!(
            "{WS}/Groups?filter=displayName+eq+%22admins%22+or+displayName+eq+%22users%22&attributes=displayName"
        ))
        .await?;
    assert_eq!(r.body["totalResults"], 2, "{}", r.body);
    let admins = r.body["Resources"].as_array().into_iter().flatten().find(|g| g["displayName"] == "admins");
    let admins = admins.and_then(|g| g["id"].as_str()).unwrap_or_default().to_string();
    // Built-in: neither deleted nor renamed.
    assert_scim_error(
        &app.send(Method::DELETE, &format!("{WS}/Groups/{admins}"), None, &[]).await?,
        400,
        Some("invalidValue"),
    );
    let r = app
        .patch(&format!("{WS}/Groups/{admins}"), json!([{"op": "replace", "path": "displayName", "value": "root"}]))
        .await?;
    assert_scim_error(&r, 400, Some("invalidValue"));
    // A workspace user added to admins administers the workspace.
    let r = app.post(&format!("{WS}/Users"), json!({"userName": "promoted@x.com"})).await?;
    let u = r.body["id"].as_str().unwrap_or_default().to_string();
    let token = app.token_for(TokenScope::Account { account_id: app.account.clone() }, Some(u.parse()?)).await?;
    let auth = format!("Bearer {token}");
    let groups = format!("{WS}/Groups");
    let headers = [("authorization", auth.as_str())];
    let create = |name: &str| app.send(Method::POST, &groups, Some(json!({"displayName": name})), &headers);
    assert_scim_error(&create("before").await?, 403, None);
    let r = app
        .patch(&format!("{WS}/Groups/{admins}"), json!([{"op": "add", "path": "members", "value": [{"value": u}]}]))
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(create("after").await?.status, StatusCode::CREATED);
    // A new workspace gets its own pair; the account level does not see them.
    let w2 = app
        .post(
            &format!("/api/2.0/accounts/{}/workspaces", app.account),
            json!({"workspace_name": "w2", "identity_federation": false}),
        )
        .await?;
    let w2 = w2.body["workspace_id"].as_i64().unwrap_or_default();
    let t2 = app.token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: w2 }, None).await?;
    let r = app.get_as(&format!("{WS}/Groups?attributes=displayName"), &t2).await?;
    assert_eq!(r.body["totalResults"], 2, "{}", r.body);
    let r = app.get(&format!("{}/Groups?filter=displayName+eq+%22admins%22", app.acct())).await?;
    assert_eq!(r.body["totalResults"], 0);
    Ok(())
}

#[tokio::test]
async fn tokens_over_their_rate_get_429_with_retry_after() -> Result<()> {
    use idplane_server::ratelimit::{Limiter, RateLimit};
    let limit = RateLimit { per_second: 0.5, burst: 3.0 };
    let app = app_configured(|s| s.limiter = Arc::new(Limiter::new(limit))).await?;
    for _ in 0..3 {
        assert_eq!(app.get(&format!("{WS}/Users?count=0")).await?.status, StatusCode::OK);
    }
    let r = app.get(&format!("{WS}/Users?count=0")).await?;
    assert_scim_error(&r, 429, None);
    // One request refills in two seconds at 0.5 per second; less, the longer the test took to get here.
    assert!(matches!(r.header(header::RETRY_AFTER), "1" | "2"), "{:?}", r.header(header::RETRY_AFTER));
    let other = app.token_for(TokenScope::Account { account_id: app.account.clone() }, None).await?;
    assert_eq!(app.get_as(&format!("{WS}/Users?count=0"), &other).await?.status, StatusCode::OK, "per token");
    let r = app.get(&format!("/api/2.0/accounts/{}/workspaces", app.account)).await?;
    assert_databricks_error(&r, 429, "REQUEST_LIMIT_EXCEEDED");
    assert!(matches!(r.header(header::RETRY_AFTER), "1" | "2"));
    Ok(())
}

#[tokio::test]
async fn health_and_request_ids() -> Result<()> {
    let app = app().await?;
    let r = app.send(Method::GET, "/healthz", None, &[("authorization", "")]).await?;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("ok")));
    let r = app.send(Method::GET, "/readyz", None, &[("authorization", "")]).await?;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("ready")));
    let fresh = app.get(&format!("{WS}/Users?count=0")).await?;
    let id = fresh.header(header::HeaderName::from_static("x-request-id")).to_string();
    assert_eq!(id.len(), 36, "a new id on every response: {id}");
    let again = app.get(&format!("{WS}/Users?count=0")).await?;
    assert_ne!(again.header(header::HeaderName::from_static("x-request-id")), id);
    let echoed = app.send(Method::GET, "/nowhere", None, &[("x-request-id", "trace-42")]).await?;
    assert_eq!(echoed.header(header::HeaderName::from_static("x-request-id")), "trace-42", "the client's id is echoed");
    let forged = app.send(Method::GET, "/healthz", None, &[("x-request-id", "a b")]).await?;
    assert_ne!(forged.header(header::HeaderName::from_static("x-request-id")), "a b", "ids with spaces are replaced");
    Ok(())
}

#[tokio::test]
async fn oversized_headers_get_431_with_a_scim_error() -> Result<()> {
    let app = app_with(Limits { max_header_bytes: 4096, ..Limits::default() }).await?;
    let big = "x".repeat(5000);
    let r = app.send(Method::GET, &format!("{WS}/Users?count=0"), None, &[("x-padding", &big)]).await?;
    assert_scim_error(&r, 431, None);
    assert!(!r.header(header::HeaderName::from_static("x-request-id")).is_empty(), "still logged with an id");
    let fits = "x".repeat(3000);
    let r = app.send(Method::GET, &format!("{WS}/Users?count=0"), None, &[("x-padding", &fits)]).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn requests_past_their_time_limit_get_503() -> Result<()> {
    // The middleware the router uses, around a handler that never finishes and one that does.
    let limit = std::time::Duration::from_millis(50);
    let router = Router::new()
        .route("/never", axum::routing::get(std::future::pending::<()>))
        .route("/now", axum::routing::get(|| async { "done" }))
        .layer(axum::middleware::from_fn_with_state(limit, idplane_server::time_limit));
    let res = router.clone().oneshot(Request::builder().uri("/never").body(Body::empty())?).await?;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_slice(&res.into_body().collect().await?.to_bytes())?;
    assert_eq!(body["status"], "503", "{body}");
    let res = router.oneshot(Request::builder().uri("/now").body(Body::empty())?).await?;
    assert_eq!(res.status(), StatusCode::OK);
    Ok(())
}

async fn metrics_text(app: &App, token: &str) -> Result<(StatusCode, String)> {
    let req = Request::builder()
        .uri("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())?;
    let res = app.router.clone().oneshot(req).await?;
    let status = res.status();
    Ok((status, String::from_utf8(res.into_body().collect().await?.to_bytes().to_vec())?))
}

/// An account's administrators (the admin token printed at first start included) see their own account's requests,
/// latencies and gauges on `/metrics`, nothing of other accounts and nothing of the process; the internal metrics
/// address serves everything without a token.
#[tokio::test]
async fn metrics_count_requests_for_an_administrative_token() -> Result<()> {
    let app = app().await?;
    app.get(&format!("{WS}/Users?count=0")).await?;
    app.post(&format!("{WS}/Users"), json!({"userName": "metered@x.com"})).await?;
    // Another account, with a user and a request of its own.
    let other = "other-account";
    let now = time::OffsetDateTime::now_utc();
    let acme = idplane_core::tenancy::Account { id: other.into(), name: "other".into(), created: now };
    idplane_core::tenancy::create_account(app.store.as_ref(), &acme, &idplane_core::audit::Actor::cli()).await?;
    let other_admin = app.token_for(TokenScope::Account { account_id: other.into() }, None).await?;
    let r = app
        .send(
            Method::POST,
            &format!("/api/2.0/accounts/{other}/scim/v2/Users"),
            Some(json!({"userName": "hidden@other.com"})),
            &[("authorization", &format!("Bearer {other_admin}"))],
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // The README's admin token (it acts as the admin user, an account admin) is an administrative token.
    let (status, text) = metrics_text(&app, TOKEN).await?;
    assert_eq!(status, StatusCode::OK, "{text}");
    let mine = format!("account=\"{}\"", app.account);
    assert!(
        text.contains(&format!(
            "idplane_requests_total{{{mine},route=\"/api/2.0/preview/scim/v2/Users\",method=\"POST\",status=\"201\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "idplane_request_duration_seconds_count{{{mine},route=\"/api/2.0/preview/scim/v2/Users\"}} 2"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("idplane_principals{{{mine},kind=\"user\"}} 2")), "{text}");
    assert!(text.contains(&format!("idplane_rate_limited_total{{{mine}}} 0")), "{text}");
    assert!(!text.contains(other), "nothing of another account: {text}");
    assert!(!text.contains("idplane_store_duration_seconds"), "nothing of the process: {text}");
    assert!(!text.contains("account=\"\""), "nor requests without a token: {text}");

    // A principal-less administrative token of the other account sees that account only.
    let (status, text) = metrics_text(&app, &other_admin).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(&format!("idplane_principals{{account=\"{other}\",kind=\"user\"}} 1")), "{text}");
    assert!(!text.contains(&app.account), "{text}");

    // Tokens that administer no account: a workspace token, a personal token, a token of a user who is no admin.
    let ws_token = app
        .token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace }, None)
        .await?;
    assert_scim_error(&app.get_as("/metrics", &ws_token).await?, 403, None);
    let pat = app.post("/api/2.0/token/create", json!({"comment": "m"})).await?;
    let pat = pat.body["token_value"].as_str().unwrap_or_default().to_string();
    assert_scim_error(&app.get_as("/metrics", &pat).await?, 403, None);
    let user: i64 = app.user(&app.acct(), "plain@x.com").await?.parse()?;
    let plain = app.token_for(TokenScope::Account { account_id: app.account.clone() }, Some(user)).await?;
    assert_scim_error(&app.get_as("/metrics", &plain).await?, 403, None);

    // The internal address: everything, without a token.
    let internal = idplane_server::metrics::internal_router(AppState::new(app.store.clone(), app.provisioning.clone()));
    let res = internal.oneshot(Request::builder().uri("/metrics").body(Body::empty())?).await?;
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(res.into_body().collect().await?.to_bytes().to_vec())?;
    assert!(text.contains(&format!("idplane_principals{{account=\"{other}\",kind=\"user\"}} 1")), "{text}");
    assert!(text.contains(&format!("idplane_principals{{{mine},kind=\"user\"}} 3")), "{text}");
    assert!(text.contains("# TYPE idplane_store_duration_seconds histogram"), "{text}");
    Ok(())
}

/// The store's own latency, by operation, on the internal metrics address: a user inserted through the API is one
/// more insert.
#[tokio::test]
async fn metrics_show_the_store_latency_by_operation() -> Result<()> {
    let app = app().await?;
    let internal = || idplane_server::metrics::internal_router(app.state.clone());
    let scrape = || async {
        let res = internal().oneshot(Request::builder().uri("/metrics").body(Body::empty())?).await?;
        anyhow::Ok(String::from_utf8(res.into_body().collect().await?.to_bytes().to_vec())?)
    };
    let inserts = |text: &str| {
        let line = "idplane_store_duration_seconds_count{operation=\"insert_principal\"} ";
        text.lines().find_map(|l| l.strip_prefix(line)).and_then(|n| n.parse::<u64>().ok())
    };
    let text = scrape().await?;
    let before = inserts(&text).ok_or_else(|| anyhow::anyhow!("no insert_principal latency: {text}"))?;
    assert!(text.contains(&format!(
        "idplane_store_duration_seconds_bucket{{operation=\"insert_principal\",le=\"+Inf\"}} {before}"
    )));
    app.post(&format!("{WS}/Users"), json!({"userName": "metered@x.com"})).await?;
    let text = scrape().await?;
    assert_eq!(inserts(&text), Some(before + 1), "{text}");
    assert!(text.contains("idplane_store_duration_seconds_count{operation=\"token_by_hash\"}"), "{text}");

    // The gauges come from memory between two reads of the store, GAUGE_TIME_TO_LIVE apart: a scrape does not count
    // every account's principals again. (A scrape shows the store's latencies before it reads the gauges: what a
    // scrape read shows in the next one.)
    let counts = |text: &str| {
        let line = "idplane_store_duration_seconds_count{operation=\"list_principals\"} ";
        text.lines().find_map(|l| l.strip_prefix(line)).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
    };
    scrape().await?;
    let (first, second) = (counts(&scrape().await?), counts(&scrape().await?));
    assert_eq!(first, second, "a scrape within the time to live reads no count");
    app.clock.advance(idplane_server::metrics::GAUGE_TIME_TO_LIVE);
    scrape().await?;
    let (third, fourth) = (counts(&scrape().await?), counts(&scrape().await?));
    assert!(third > second, "the gauges are read again once their time is up: {second} then {third}");
    assert_eq!(third, fourth);
    Ok(())
}

#[tokio::test]
async fn one_principals_assignment_is_read_alone_direct_only() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let user = app.user(&acct, "alone@x.com").await?;
    let r = app.post(&format!("{acct}/Groups"), json!({"displayName": "team", "members": [{"value": user}]})).await?;
    let group = r.body["id"].as_str().unwrap_or_default().to_string();
    let one = |id: &str| {
        format!("/api/2.0/accounts/{}/workspaces/{}/permissionassignments/principals/{id}", app.account, app.workspace)
    };
    let r = app.get(&one(&user)).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["permissions"], json!([]), "not assigned");
    assert_eq!(r.body["principal"]["user_name"], "alone@x.com");
    app.send(Method::PUT, &one(&group), Some(json!({"permissions": ["ADMIN"]})), &[]).await?;
    assert_eq!(app.get(&one(&group)).await?.body["permissions"], json!(["ADMIN"]));
    assert_eq!(app.get(&one(&user)).await?.body["permissions"], json!([]), "a member has no direct assignment");
    app.send(Method::PUT, &one(&user), Some(json!({"permissions": ["USER"]})), &[]).await?;
    assert_eq!(app.get(&one(&user)).await?.body["permissions"], json!(["USER"]));
    let r = app.get(&one("999999999")).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    Ok(())
}
