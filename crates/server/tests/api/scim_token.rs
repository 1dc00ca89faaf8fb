//! idplane's own SCIM token API (`/api/2.0/accounts/{account_id}/scim-token`), which the console's User provisioning
//! page calls: account admins generate and regenerate the account SCIM token, answered once; the earlier one keeps
//! working for the grace period; others are refused.

use anyhow::Result;
use axum::http::{Method, StatusCode};
use idplane_core::audit::Actor;
use idplane_core::tenancy::Account;
use idplane_core::token::TokenScope;
use serde_json::Value;
use time::OffsetDateTime;

use super::app;

#[tokio::test]
async fn an_account_admin_generates_and_regenerates_the_scim_token_shown_once() -> Result<()> {
    let app = app().await?;
    let url = format!("/api/2.0/accounts/{}/scim-token", app.account);
    let scim = format!("/api/2.0/accounts/{}/scim/v2/Users", app.account);

    let r = app.get(&url).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["token_infos"], Value::Array(vec![]), "no SCIM token before the first is generated");
    assert_eq!(r.body["grace_seconds"], 86_400);

    let first = app.send(Method::POST, &url, None, &[]).await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let first_value = first.body["token_value"].as_str().unwrap_or_default().to_string();
    assert!(first_value.starts_with("dapi"), "{}", first.body);
    assert_eq!(first.body["token_info"]["expiry_time"], -1);
    assert_eq!(app.get_as(&scim, &first_value).await?.status, StatusCode::OK, "the SCIM token works on SCIM");

    let second = app.send(Method::POST, &url, None, &[]).await?;
    let second_value = second.body["token_value"].as_str().unwrap_or_default().to_string();
    assert_ne!(first_value, second_value);
    assert_eq!(app.get_as(&scim, &second_value).await?.status, StatusCode::OK);
    assert_eq!(app.get_as(&scim, &first_value).await?.status, StatusCode::OK, "the earlier one, in its grace");

    let listed = app.get(&url).await?;
    let infos = listed.body["token_infos"].as_array().cloned().unwrap_or_default();
    assert_eq!(infos.len(), 2, "{}", listed.body);
    assert_eq!(infos[0]["token_id"], second.body["token_info"]["token_id"], "newest first");
    assert_eq!(infos[0]["expiry_time"], -1);
    let grace_end = infos[1]["expiry_time"].as_i64().unwrap_or_default();
    let created = second.body["token_info"]["creation_time"].as_i64().unwrap_or_default();
    assert!((grace_end - created - 86_400_000).abs() < 5_000, "the earlier token expires 24 hours later");
    assert!(!listed.body.to_string().contains(&first_value), "values are never listed");

    // The SCIM token itself, a token of another account and a workspace token may not.
    assert_eq!(app.get_as(&url, &second_value).await?.status, StatusCode::FORBIDDEN);
    let workspace = app
        .token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace }, None)
        .await?;
    assert_eq!(app.get_as(&url, &workspace).await?.status, StatusCode::FORBIDDEN);
    let account = Account { id: "another-account".into(), name: "another".into(), created: OffsetDateTime::now_utc() };
    idplane_core::tenancy::create_account(app.store.as_ref(), &account, &Actor::cli()).await?;
    let other = app.token_for(TokenScope::Account { account_id: account.id.clone() }, None).await?;
    assert_eq!(app.get_as(&url, &other).await?.status, StatusCode::FORBIDDEN);
    Ok(())
}
