//! The provisioning engine end to end: a directory in idplane's provisioning service (configured through the Graph
//! API) provisioned over HTTP into idplane's own identity service (at the account level and at the workspace level)
//! and into an independent SCIM server, through the SCIM API only; each cycle is run by the scheduler's code path,
//! and the target is checked through its SCIM API after each. The modules: [`lifecycle`] (every lifecycle event,
//! per target and template), [`faults`] (a target that fails for a while and recovers), [`quarantine`] (the
//! deletion threshold, a revoked token), [`scim2_server`] (the independent target), [`agents`] (through on-premises
//! agents: the real agent, and scripted ones that misbehave).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, ensure};
use axum::http::{Method, StatusCode};
use idplane_core::token::TokenScope;
use idplane_provisioning::cycle::state::LEASE;
use idplane_scim_client::Transport;
use idplane_testkit::app::Listening;
use idplane_testkit::{App, WS};
use idplane_worker::scheduler::Scheduler;
use serde_json::{Value, json};

#[path = "engine/agents.rs"]
mod agents;
#[path = "engine/faults.rs"]
mod faults;
#[path = "engine/lifecycle.rs"]
mod lifecycle;
#[path = "engine/quarantine.rs"]
mod quarantine;
#[path = "engine/scim2_server.rs"]
mod scim2_server;

const DATABRICKS: &str = "9c9818d2-2900-49e8-8ba4-22688be7c675";
/// Graph's non-gallery application: its job's template is the generic `scim` one.
const NON_GALLERY: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";
const ROLE: &str = "00000000-0000-0000-0000-000000000000";

/// The application a job provisions with: the Azure Databricks connector, or a non-gallery SCIM application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Template {
    Databricks,
    Scim,
}

/// Where a job provisions into: this app's account SCIM API, its default workspace's (with a workspace admin's
/// token), or another SCIM server at `base`.
#[derive(Debug, Clone)]
enum Where {
    Account,
    Workspace,
    Server { base: String, token: String },
}

/// The tenant URL and secret token a job provisions with, and the SCIM base and token the test reads the target
/// back through (the target itself, even when the job goes through a proxy).
#[derive(Debug, Clone)]
struct Destination {
    tenant_url: String,
    token: String,
    base: String,
    read_token: String,
}

pub struct Setup {
    pub app: App,
    pub target: Listening,
    pub scim_token: String,
    pub sp: String,
    pub sync: String,
    pub job: String,
    dest: Destination,
    /// How cycles reach the target (the app's own transport unless a test sets another).
    transport: Arc<dyn Transport>,
}

pub async fn graph(app: &App, method: Method, uri: &str, body: Option<Value>) -> Result<Value> {
    let r = app.send(method.clone(), uri, body, &[]).await?;
    ensure!(r.status.is_success(), "{method} {uri}: {} {}", r.status, r.body);
    Ok(r.body)
}

pub async fn user(app: &App, upn: &str, given: &str, surname: &str) -> Result<String> {
    let body = json!({"displayName": format!("{given} {surname}"), "userPrincipalName": upn, "mailNickname": given,
                      "givenName": given, "surname": surname, "mail": upn, "accountEnabled": true,
                      "passwordProfile": {"password": "Secret-1"}});
    Ok(graph(app, Method::POST, "/v1.0/users", Some(body)).await?["id"].as_str().unwrap_or_default().to_string())
}

pub async fn group(app: &App, name: &str, members: &[&str]) -> Result<String> {
    let binds: Vec<String> = members.iter().map(|m| format!("https://graph.microsoft.com/v1.0/users/{m}")).collect();
    let body = json!({"displayName": name, "mailNickname": name, "mailEnabled": false, "securityEnabled": true,
                      "members@odata.bind": binds});
    Ok(graph(app, Method::POST, "/v1.0/groups", Some(body)).await?["id"].as_str().unwrap_or_default().to_string())
}

impl Setup {
    /// A Databricks application whose job provisions into this app's own account SCIM API (2.1), over HTTP.
    pub async fn new(flags: &str) -> Result<Setup> {
        Setup::build(Template::Databricks, Where::Account, flags).await
    }

    /// The same, its notification email going out through `notifier`.
    pub async fn with(flags: &str, notifier: Arc<dyn idplane_worker::notify::Notifier>) -> Result<Setup> {
        Setup::build_with(Template::Databricks, Where::Account, flags, |s| s.notifier = notifier).await
    }

    /// An application of `template` whose job provisions into `place`, with `flags` after its tenant URL, over the
    /// app's transport.
    async fn build(template: Template, place: Where, flags: &str) -> Result<Setup> {
        Setup::build_with(template, place, flags, |_| {}).await
    }

    async fn build_with(
        template: Template,
        place: Where,
        flags: &str,
        configure: impl FnOnce(&mut idplane_server::AppState),
    ) -> Result<Setup> {
        let app = App::on(idplane_testkit::Backend::Sqlite, configure).await?;
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
        let (base, token) = match place {
            Where::Account => {
                (format!("{}/api/2.1/accounts/{}/scim/v2", target.origin(), app.account), scim_token.clone())
            }
            Where::Workspace => {
                let scope = TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace };
                (format!("{}{WS}", target.origin()), app.token_for(scope, None).await?)
            }
            Where::Server { base, token } => (base, token),
        };
        let dest = Destination { tenant_url: format!("{base}{flags}"), token: token.clone(), base, read_token: token };
        let (app_template, job_template) = match template {
            Template::Databricks => (DATABRICKS, "dataBricks"),
            Template::Scim => (NON_GALLERY, "scim"),
        };
        let created = graph(
            &app,
            Method::POST,
            &format!("/v1.0/applicationTemplates/{app_template}/instantiate"),
            Some(json!({"displayName": format!("{template:?}")})),
        )
        .await?;
        let sp = created["servicePrincipal"]["id"].as_str().context("sp")?.to_string();
        let sync = format!("/v1.0/servicePrincipals/{sp}/synchronization");
        let job = graph(&app, Method::POST, &format!("{sync}/jobs"), Some(json!({"templateId": job_template}))).await?;
        let job = job["id"].as_str().context("job id")?.to_string();
        let transport = app.state.targets.clone();
        let s = Setup { app, target, scim_token, sp, sync, job, dest, transport };
        s.secrets(&[("BaseAddress", &s.dest.tenant_url), ("SecretToken", &s.dest.token)]).await?;
        Ok(s)
    }

    /// Saves the job's secrets (Admin Credentials and settings) `(key, value)`.
    pub async fn secrets(&self, pairs: &[(&str, &str)]) -> Result<()> {
        let value: Vec<Value> = pairs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        graph(&self.app, Method::PUT, &format!("{}/secrets", self.sync), Some(json!({"value": value}))).await?;
        Ok(())
    }

    pub async fn assign(&self, principal: &str) -> Result<String> {
        let body = json!({"principalId": principal, "resourceId": self.sp, "appRoleId": ROLE});
        let uri = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo", self.sp);
        Ok(graph(&self.app, Method::POST, &uri, Some(body)).await?["id"].as_str().unwrap_or_default().to_string())
    }

    /// Runs the job's next cycle as the scheduler does (lease, cycle, state stored, lease released), at the app's
    /// clock's time.
    pub async fn cycle(&self) -> Result<Value> {
        let s = &self.app.state;
        let clock = self.app.clock.clone();
        let scheduler = Scheduler {
            services: idplane_worker::job::Services {
                transport: self.transport.clone(),
                ..idplane_server::graph::runs::services(s)
            },
            node: "test".into(),
            now: Arc::new(move || idplane_server::clock::Clock::now(clock.as_ref())),
            poll: std::time::Duration::from_secs(1),
            max_jobs: 1,
            lease: LEASE,
        };
        let state = s.provisioning.run_state(&self.job).await?.context("the job was never started")?;
        let now = (scheduler.now)();
        ensure!(s.provisioning.acquire_lease(&self.job, "test", now + time::Duration::minutes(1), now).await?);
        scheduler.run_leased(state, Arc::new(AtomicBool::new(false))).await;
        self.status().await
    }

    /// The job's `synchronizationStatus`.
    pub async fn status(&self) -> Result<Value> {
        let job = graph(&self.app, Method::GET, &format!("{}/jobs/{}", self.sync, self.job), None).await?;
        Ok(job["status"].clone())
    }

    /// The target's resources of `endpoint` matching a SCIM filter.
    pub async fn target(&self, endpoint: &str, filter: &str) -> Result<Vec<Value>> {
        let url = format!("{}/{endpoint}?filter={}", self.dest.base, form_encode(filter));
        let (status, body) =
            idplane_testkit::binary::call(reqwest::Method::GET, &url, &self.dest.read_token, None).await?;
        ensure!(status == 200, "{url}: {status} {body}");
        Ok(body["Resources"].as_array().cloned().unwrap_or_default())
    }

    pub async fn target_user(&self, user_name: &str) -> Result<Option<Value>> {
        Ok(self.target("Users", &format!("userName eq \"{user_name}\"")).await?.into_iter().next())
    }

    pub async fn target_group(&self, name: &str) -> Result<Option<Value>> {
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

    // /metrics counts the cycles and exports of the account's tenant.
    let metrics = s
        .target
        .client
        .get(format!("{}/metrics", s.target.origin()))
        .bearer_auth(idplane_testkit::TOKEN)
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.lines().any(|l| l.starts_with("idplane_provisioning_cycles_total{")
            && l.contains("kind=\"initial\",result=\"succeeded\"")),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l.contains("idplane_provisioning_exports_total{")
            && l.contains("action=\"create\",outcome=\"success\"")),
        "{metrics}"
    );

    // The provisioning logs have a record per object and action: Bob's create, and his disable with its change.
    let filter = format!("jobId eq '{}' and contains(sourceIdentity/displayName, 'bob')", s.job);
    let uri = format!("/v1.0/auditLogs/provisioning?$filter={}", form_encode(&filter));
    let logs = graph(app, Method::GET, &uri, None).await?;
    let records = logs["value"].as_array().cloned().unwrap_or_default();
    let actions: Vec<&str> = records.iter().filter_map(|r| r["provisioningAction"].as_str()).collect();
    assert!(actions.contains(&"create") && actions.contains(&"disable"), "{logs}");
    let disable = records.iter().find(|r| r["provisioningAction"] == "disable").context("disable")?;
    assert_eq!(disable["provisioningStatusInfo"]["status"], "success");
    assert_eq!(disable["modifiedProperties"][0]["displayName"], "active", "{disable}");
    assert_eq!(disable["sourceIdentity"]["id"], bob.as_str());

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
    // Each provision on demand is recorded, newest first: the skip, then the create.
    let logs = graph(&s.app, Method::GET, "/v1.0/auditLogs/provisioning", None).await?;
    let records = logs["value"].as_array().cloned().unwrap_or_default();
    let seen: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["provisioningAction"].as_str().unwrap_or_default(),
                r["provisioningStatusInfo"]["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(seen, vec![("other", "skipped"), ("create", "success")], "{logs}");
    assert_eq!(records[1]["changeId"], value["changeId"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_cycles_are_listed_newest_first_with_their_counts() -> Result<()> {
    let s = Setup::new("").await?;
    let uri = format!("{}/jobs/{}/cycles", s.sync, s.job);
    assert_eq!(graph(&s.app, Method::GET, &uri, None).await?["value"], json!([]), "never run");
    let ann = user(&s.app, "ann@contoso.com", "Ann", "Lee").await?;
    s.assign(&ann).await?;
    graph(&s.app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;
    s.cycle().await?;
    let status = s.cycle().await?;
    let cycles = graph(&s.app, Method::GET, &uri, None).await?;
    let list = cycles["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2, "{cycles}");
    assert_eq!(list[0]["activityIdentifier"], status["lastExecution"]["activityIdentifier"], "newest first");
    assert_eq!((&list[0]["initial"], &list[0]["countExported"]), (&json!(false), &json!(0)), "{cycles}");
    assert_eq!((&list[1]["initial"], &list[1]["countExported"]), (&json!(true), &json!(1)), "{cycles}");
    assert_eq!(list[1]["state"], "Succeeded");
    assert!(list[1]["timeBegan"].is_string() && list[1]["timeEnded"].is_string(), "{cycles}");
    Ok(())
}
