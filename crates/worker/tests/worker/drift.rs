//! The drift report and the preview: what the target holds that no source object is linked to, what was changed in
//! the target behind the engine's back, and how a restart corrects it; what the next cycle will send.

use anyhow::{Context, Result};
use axum::http::Method;
use serde_json::{Value, json};

use crate::engine::{Setup, graph, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_orphans_and_changes_made_in_the_target_and_a_restart_corrects_them() -> Result<()> {
    let s = Setup::new("").await?;
    let ann = user(&s.app, "ann@contoso.com", "Ann", "Lee").await?;
    s.assign(&ann).await?;
    graph(&s.app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;
    let preview = graph(&s.app, Method::POST, &format!("{}/jobs/{}/preview", s.sync, s.job), None).await?;
    let planned: Vec<String> = preview["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or_default(), r["path"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(planned, vec!["POST Users".to_string()], "{preview}");
    assert_eq!(preview["requests"][0]["body"]["userName"], "ann@contoso.com");
    assert!(s.target_user("ann@contoso.com").await?.is_none(), "a preview sends nothing");
    s.cycle().await?;

    let base = format!("/api/2.0/accounts/{}/scim/v2", s.app.account);
    let t_ann = s.target_user("ann@contoso.com").await?.context("ann")?;
    let path = format!("{base}/Users/{}", t_ann["id"].as_str().unwrap_or_default());
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "displayName", "value": "Someone Else"}]});
    let (status, _) = s.target.call(Method::PATCH, &path, &s.scim_token, Some(patch)).await?;
    assert!(status == 200 || status == 204, "{status}");
    let (status, _) = s
        .target
        .call(Method::POST, &format!("{base}/Users"), &s.scim_token, Some(json!({"userName": "hand@made.test"})))
        .await?;
    assert_eq!(status, 201);

    let drift = graph(&s.app, Method::GET, &format!("{}/jobs/{}/drift", s.sync, s.job), None).await?;
    let orphans: Vec<&str> =
        drift["orphans"].as_array().into_iter().flatten().filter_map(|o| o["displayName"].as_str()).collect();
    assert!(orphans.contains(&"hand@made.test"), "{drift}");
    assert!(!orphans.contains(&"ann@contoso.com"), "{drift}");
    let drifted = drift["drifted"].as_array().cloned().unwrap_or_default();
    assert_eq!(drifted.len(), 1, "{drift}");
    assert_eq!(
        drifted[0]["changes"],
        json!([{"attribute": "displayName", "target": "Someone Else", "expected": "Ann Lee"}])
    );

    let restart = json!({"criteria": {"resetScope": "Watermark"}});
    graph(&s.app, Method::POST, &format!("{}/jobs/{}/restart", s.sync, s.job), Some(restart)).await?;
    s.cycle().await?;
    assert_eq!(s.target_user("ann@contoso.com").await?.context("ann")?["displayName"], "Ann Lee");
    let after = graph(&s.app, Method::GET, &format!("{}/jobs/{}/drift", s.sync, s.job), None).await?;
    assert_eq!(after["drifted"], Value::Array(Vec::new()), "{after}");
    Ok(())
}
