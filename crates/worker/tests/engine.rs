//! The provisioning engine end to end: a directory in idplane's provisioning service (configured through the Graph
//! API) provisioned into idplane's own identity service over HTTP, at the account level, through the SCIM API only;
//! each cycle is run by the scheduler's code path, and the target is checked through its SCIM API after each.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, ensure};
use axum::http::{Method, StatusCode};
use idplane_provisioning::cycle::state::LEASE;
use idplane_testkit::App;
use idplane_testkit::app::Listening;
use idplane_worker::job::Services;
use idplane_worker::scheduler::Scheduler;
use serde_json::{Value, json};

const DATABRICKS: &str = "9c9818d2-2900-49e8-8ba4-22688be7c675";
const ROLE: &str = "00000000-0000-0000-0000-000000000000";

struct Setup {
    app: App,
    target: Listening,
    scim_token: String,
    sp: String,
    sync: String,
    job: String,
}

async fn graph(app: &App, method: Method, uri: &str, body: Option<Value>) -> Result<Value> {
    let r = app.send(method.clone(), uri, body, &[]).await?;
    ensure!(r.status.is_success(), "{method} {uri}: {} {}", r.status, r.body);
    Ok(r.body)
}

async fn user(app: &App, upn: &str, given: &str, surname: &str) -> Result<String> {
    let body = json!({"displayName": format!("{given} {surname}"), "userPrincipalName": upn, "mailNickname": given,
                      "givenName": given, "surname": surname, "mail": upn, "accountEnabled": true,
                      "passwordProfile": {"password": "Secret-1"}});
    Ok(graph(app, Method::POST, "/v1.0/users", Some(body)).await?["id"].as_str().unwrap_or_default().to_string())
}

async fn group(app: &App, name: &str, members: &[&str]) -> Result<String> {
    let binds: Vec<String> = members.iter().map(|m| format!("https://graph.microsoft.com/v1.0/users/{m}")).collect();
    let body = json!({"displayName": name, "mailNickname": name, "mailEnabled": false, "securityEnabled": true,
                      "members@odata.bind": binds});
    Ok(graph(app, Method::POST, "/v1.0/groups", Some(body)).await?["id"].as_str().unwrap_or_default().to_string())
}

impl Setup {
    /// A Databricks application whose job provisions into this app's own account SCIM API (2.1), over HTTP.
    async fn new(flags: &str) -> Result<Setup> {
        let app = App::new().await?;
        let target = app.listen().await?;
        let (secret, _) = idplane_core::token::rotate_scim_token(
            app.store.as_ref(),
            &app.account,
            time::Duration::days(1),
            time::OffsetDateTime::now_utc(),
            &idplane_core::audit::Actor::cli(),
        )
        .await?;
        let scim_token = secret.expose().to_string();
        let created = graph(
            &app,
            Method::POST,
            &format!("/v1.0/applicationTemplates/{DATABRICKS}/instantiate"),
            Some(json!({"displayName": "Databricks"})),
        )
        .await?;
        let sp = created["servicePrincipal"]["id"].as_str().context("sp")?.to_string();
        let sync = format!("/v1.0/servicePrincipals/{sp}/synchronization");
        let job = graph(&app, Method::POST, &format!("{sync}/jobs"), Some(json!({"templateId": "dataBricks"}))).await?;
        let job = job["id"].as_str().context("job id")?.to_string();
        let url = format!("{}/api/2.1/accounts/{}/scim/v2{flags}", target.origin(), app.account);
        graph(
            &app,
            Method::PUT,
            &format!("{sync}/secrets"),
            Some(json!({"value": [
            {"key": "BaseAddress", "value": url}, {"key": "SecretToken", "value": scim_token}]})),
        )
        .await?;
        Ok(Setup { app, target, scim_token, sp, sync, job })
    }

    async fn assign(&self, principal: &str) -> Result<String> {
        let body = json!({"principalId": principal, "resourceId": self.sp, "appRoleId": ROLE});
        let uri = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", self.sp);
        Ok(graph(&self.app, Method::POST, &uri, Some(body)).await?["id"].as_str().unwrap_or_default().to_string())
    }

    /// Runs the job's next cycle as the scheduler does (lease, cycle, state stored, lease released).
    async fn cycle(&self) -> Result<Value> {
        let s = &self.app.state;
        let scheduler = Scheduler {
            services: Services {
                store: s.provisioning.clone(),
                cipher: s.secrets.clone(),
                transport: s.targets.clone(),
            },
            node: "test".into(),
            now: Arc::new(time::OffsetDateTime::now_utc),
            poll: std::time::Duration::from_secs(1),
            max_jobs: 1,
            lease: LEASE,
        };
        let state = s.provisioning.run_state(&self.job).await?.context("the job was never started")?;
        let now = time::OffsetDateTime::now_utc();
        ensure!(s.provisioning.acquire_lease(&self.job, "test", now + time::Duration::minutes(1), now).await?);
        scheduler.run_leased(state, Arc::new(AtomicBool::new(false))).await;
        let job = graph(&self.app, Method::GET, &format!("{}/jobs/{}", self.sync, self.job), None).await?;
        Ok(job["status"].clone())
    }

    /// The target's resources of `endpoint` matching a SCIM filter.
    async fn target(&self, endpoint: &str, filter: &str) -> Result<Vec<Value>> {
        let path = format!("/api/2.0/accounts/{}/scim/v2/{endpoint}?filter={}", self.app.account, form_encode(filter));
        let (status, body) = self.target.call(Method::GET, &path, &self.scim_token, None).await?;
        ensure!(status == 200, "{path}: {status} {body}");
        Ok(body["Resources"].as_array().cloned().unwrap_or_default())
    }

    async fn target_user(&self, user_name: &str) -> Result<Option<Value>> {
        Ok(self.target("Users", &format!("userName eq \"{user_name}\"")).await?.into_iter().next())
    }

    async fn target_group(&self, name: &str) -> Result<Option<Value>> {
        Ok(self.target("Groups", &format!("displayName eq \"{name}\"")).await?.into_iter().next())
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

async fn lifecycle(flags: &str) -> Result<()> {
    let s = Setup::new(flags).await?;
    let app = &s.app;
    let ann = user(app, "ann@contoso.com", "Ann", "Lee").await?;
    let bob = user(app, "bob@contoso.com", "Bob", "Stone").await?;
    let cat = user(app, "cat@contoso.com", "Cat", "Moss").await?;
    let _outsider = user(app, "zed@contoso.com", "Zed", "Out").await?;
    let sales = group(app, "Sales", &[&ann, &bob]).await?;
    s.assign(&sales).await?;
    let cat_assignment = s.assign(&cat).await?;

    let before = graph(app, Method::GET, &format!("{}/jobs/{}", s.sync, s.job), None).await?;
    assert_eq!(before["status"]["code"], "NotConfigured", "never started");
    graph(app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;

    // The initial cycle: the group's direct members and the assigned user, the group with its members.
    let status = s.cycle().await?;
    assert_eq!(status["code"], "Active", "{status}");
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    let t_ann = s.target_user("ann@contoso.com").await?.context("ann provisioned")?;
    assert_eq!(t_ann["displayName"], "Ann Lee");
    assert_eq!(t_ann["active"], true);
    assert_eq!(t_ann["externalId"], ann.as_str());
    assert_eq!(t_ann["emails"][0]["value"], "ann@contoso.com");
    let t_bob = s.target_user("bob@contoso.com").await?.context("bob provisioned")?;
    assert!(s.target_user("cat@contoso.com").await?.is_some(), "an assigned user");
    assert!(s.target_user("zed@contoso.com").await?.is_none(), "not assigned: not provisioned");
    let t_sales = s.target_group("Sales").await?.context("the group")?;
    let mut want = vec![
        t_ann["id"].as_str().unwrap_or_default().to_string(),
        t_bob["id"].as_str().unwrap_or_default().to_string(),
    ];
    want.sort();
    assert_eq!(member_ids(&t_sales), want, "{t_sales}");

    // Nothing changed: an incremental cycle sends nothing.
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["countExported"], 0, "{status}");

    // A rename, a disable in the directory, a member removed, a user unassigned.
    graph(app, Method::PATCH, &format!("/v1.0/users/{ann}"), Some(json!({"displayName": "Ann Lee-Park"}))).await?;
    graph(app, Method::PATCH, &format!("/v1.0/users/{cat}"), Some(json!({"accountEnabled": false}))).await?;
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    assert_eq!(s.target_user("ann@contoso.com").await?.context("ann")?["displayName"], "Ann Lee-Park");
    assert_eq!(s.target_user("cat@contoso.com").await?.context("cat")?["active"], false, "disabled in the directory");

    app.send(Method::DELETE, &format!("/v1.0/groups/{sales}/members/{bob}/$ref"), None, &[]).await?;
    graph(app, Method::PATCH, &format!("/v1.0/users/{cat}"), Some(json!({"accountEnabled": true}))).await?;
    s.cycle().await?;
    let t_bob = s.target_user("bob@contoso.com").await?.context("bob")?;
    assert_eq!(t_bob["active"], false, "out of scope once no longer a member of the assigned group");
    let t_sales = s.target_group("Sales").await?.context("sales")?;
    assert_eq!(member_ids(&t_sales), vec![t_ann["id"].as_str().unwrap_or_default().to_string()]);
    assert_eq!(s.target_user("cat@contoso.com").await?.context("cat")?["active"], true, "enabled again");

    let r = app
        .send(
            Method::DELETE,
            &format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo/{cat_assignment}", s.sp),
            None,
            &[],
        )
        .await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    s.cycle().await?;
    assert_eq!(s.target_user("cat@contoso.com").await?.context("cat")?["active"], false, "unassigned");

    // Deleted in the target behind the engine's back: created again on the next cycle the user changes in.
    let ann_target = s.target_user("ann@contoso.com").await?.context("ann")?;
    let path =
        format!("/api/2.0/accounts/{}/scim/v2/Users/{}", app.account, ann_target["id"].as_str().unwrap_or_default());
    let (status, _) = s.target.call(Method::DELETE, &path, &s.scim_token, None).await?;
    assert_eq!(status, 204);
    graph(app, Method::PATCH, &format!("/v1.0/users/{ann}"), Some(json!({"jobTitle": "Lead"}))).await?;
    s.cycle().await?;
    assert!(s.target_user("ann@contoso.com").await?.is_some(), "re-created");

    // Soft delete in the directory disables; a restart runs a new initial cycle that changes nothing.
    app.send(Method::DELETE, &format!("/v1.0/users/{ann}"), None, &[]).await?;
    s.cycle().await?;
    assert_eq!(s.target_user("ann@contoso.com").await?.context("ann")?["active"], false, "soft-deleted");
    graph(
        app,
        Method::POST,
        &format!("{}/jobs/{}/restart", s.sync, s.job),
        Some(json!({"criteria": {"resetScope": "Watermark"}})),
    )
    .await?;
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["countExported"], 0, "{status}");
    assert_eq!(status["synchronizedEntryCountByType"].as_array().map(Vec::len), Some(2), "{status}");

    // Pause: no cycle is due.
    graph(app, Method::POST, &format!("{}/jobs/{}/pause", s.sync, s.job), None).await?;
    let job = graph(app, Method::GET, &format!("{}/jobs/{}", s.sync, s.job), None).await?;
    assert_eq!(job["status"]["code"], "Paused");
    assert!(
        app.state
            .provisioning
            .due_runs(time::OffsetDateTime::now_utc() + time::Duration::days(1), 10)
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_is_provisioned_into_the_account_through_its_lifecycle() -> Result<()> {
    lifecycle("").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_lifecycle_in_the_aad_opt_scim_062020_dialect() -> Result<()> {
    lifecycle("?aadOptscim062020").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_on_demand_answers_every_step() -> Result<()> {
    let s = Setup::new("").await?;
    let ann = user(&s.app, "ann@contoso.com", "Ann", "Lee").await?;
    s.assign(&ann).await?;
    let uri = format!("{}/jobs/{}/provisionOnDemand", s.sync, s.job);
    let body = json!({"parameters": [{"ruleId": "x", "subjects": [{"objectId": ann, "objectTypeName": "User"}]}]});
    let r = graph(&s.app, Method::POST, &uri, Some(body.clone())).await?;
    let key: Value = serde_json::from_str(r["key"].as_str().unwrap_or_default())?;
    let value: Value = serde_json::from_str(r["value"].as_str().unwrap_or_default())?;
    assert_eq!(key["result"], "Success", "{key} {value}");
    assert_eq!(value["action"], "Create", "{value}");
    let steps: Vec<&str> =
        value["provisioningSteps"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str()).collect();
    assert!(
        steps.contains(&"EntryImport")
            && steps.contains(&"EntrySynchronizationScoping")
            && steps.contains(&"EntryExportAdd"),
        "{steps:?}"
    );
    assert!(s.target_user("ann@contoso.com").await?.is_some());
    let again = graph(&s.app, Method::POST, &uri, Some(body)).await?;
    let key: Value = serde_json::from_str(again["key"].as_str().unwrap_or_default())?;
    assert_eq!(key["result"], "Skipped", "{key}");
    assert_eq!(key["details"]["errorCode"], "RedundantExport", "{key}");
    let preview = graph(&s.app, Method::POST, &format!("{}/jobs/{}/preview", s.sync, s.job), None).await?;
    assert_eq!(preview["requests"], json!([]), "nothing left to send: {preview}");
    Ok(())
}
