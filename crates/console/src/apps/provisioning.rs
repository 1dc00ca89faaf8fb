//! The Provisioning tab's "Edit provisioning" page, as Entra's: Provisioning Mode (Automatic), Admin Credentials
//! (Tenant URL, Secret Token, Test Connection), On-Premises Connectivity (agents), Settings (notification email,
//! email on failure, prevent accidental deletion and its threshold, scope), Provisioning Status On/Off, Save, and
//! Restart provisioning.
//!
//! The API calls: the application's secrets (`PUT .../synchronization/secrets`: `BaseAddress`, `SecretToken`,
//! `SyncAll`, `SyncNotificationSettings`), its job (created on the first save from the application's
//! synchronization template), `validateCredentials`, `start`, `pause` and `restart`, and the agents under
//! `/v1.0/onPremisesPublishingProfiles/provisioning`. The saved secret token is never shown: the page says that one
//! is saved. A token the user just typed stays in its field when the form comes back (after Test Connection, or a
//! problem to fix), as in Entra, so that Save right after Test Connection saves it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{App, app_page, done, load_app, seg, text};
use crate::Console;
use crate::api::{Api, message_of};
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Form, Session};

/// The page's path under an application's.
const EDIT: &str = "/provisioning/edit";

/// The agents' API.
const AGENTS: &str = "/v1.0/onPremisesPublishingProfiles/provisioning";

/// The reset scopes `restart` takes, with what each forgets.
pub const RESET_SCOPES: &[(&str, &str)] = &[
    ("Watermark", "the delta watermark: the next cycle is an initial one"),
    ("Escrows", "the escrowed (retried) objects"),
    ("QuarantineState", "the quarantine"),
    ("ConnectorDataStore", "the connector's data store"),
    ("Full", "everything, the links between source and target objects too"),
    ("ForceDeletes", "approve the deletions the accidental-deletion threshold holds"),
];

/// A job in short, for the Overview and this page.
#[derive(Debug, Clone)]
pub struct JobSummary {
    pub id: String,
    /// The schedule's state: `Active` (Provisioning Status On), `Paused`, `Disabled`.
    pub state: String,
    /// The status code: `NotRun`, `Active`, `Paused`, `Quarantine`, ...
    pub code: String,
    pub last_state: String,
    pub last_ended: String,
    pub quarantine: String,
}

impl JobSummary {
    pub fn of(job: &Value) -> JobSummary {
        let status = &job["status"];
        JobSummary {
            id: text(job, "id"),
            state: job["schedule"]["state"].as_str().unwrap_or("Disabled").to_string(),
            code: text(status, "code"),
            last_state: status["lastExecution"]["state"].as_str().unwrap_or_default().to_string(),
            last_ended: status["lastExecution"]["timeEnded"].as_str().unwrap_or_default().to_string(),
            quarantine: status["quarantine"]["reason"].as_str().unwrap_or_default().to_string(),
        }
    }

    pub fn on(&self) -> bool {
        self.state == "Active"
    }
}

/// The application's provisioning job, when it has one.
pub async fn job_of(api: &Api<'_>, sp: &str) -> Result<Option<Value>, PageError> {
    let jobs = api.get(&format!("/v1.0/servicePrincipals/{}/synchronization/jobs", seg(sp))).await?;
    Ok(jobs["value"].as_array().and_then(|v| v.first()).cloned())
}

/// The job, created from the application's synchronization template when it has none.
async fn ensure_job(api: &Api<'_>, sp: &str) -> Result<Value, PageError> {
    if let Some(job) = job_of(api, sp).await? {
        return Ok(job);
    }
    let base = format!("/v1.0/servicePrincipals/{}/synchronization", seg(sp));
    let templates = api.get(&format!("{base}/templates")).await?;
    let template = templates["value"].as_array().and_then(|v| v.first()).map(|t| text(t, "id")).unwrap_or_default();
    if template.is_empty() {
        return Err(PageError::bad_request("This application has no provisioning template: it cannot provision."));
    }
    Ok(api.post(&format!("{base}/jobs"), &json!({"templateId": template})).await?)
}

/// An agent row.
pub struct AgentRow {
    pub id: String,
    pub host: String,
    pub status: String,
    pub version: String,
    pub last_seen: String,
}

impl AgentRow {
    pub fn of(a: &Value) -> AgentRow {
        AgentRow {
            id: text(a, "id"),
            host: text(a, "machineName"),
            status: text(a, "status"),
            version: text(a, "version"),
            last_seen: text(a, "lastSeenDateTime"),
        }
    }
}

/// What the form holds (as saved, or as the user typed it).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    tenant_url: String,
    #[serde(default)]
    secret_token: String,
    #[serde(default)]
    notification_email: String,
    #[serde(default)]
    email_on_failure: String,
    #[serde(default)]
    prevent_deletion: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    action: String,
}

/// Test Connection's result, as validateCredentials reports it.
pub struct TestResult {
    pub ok: bool,
    pub code: String,
    pub message: String,
    /// The request that failed, which the API's message ends with (`...; request: GET https://...`).
    pub request: Option<String>,
}

/// Splits the request that failed off the end of a Test Connection message.
fn split_request(message: &str) -> (String, Option<String>) {
    match message.rsplit_once("; request: ") {
        Some((why, request)) => (why.to_string(), Some(request.to_string())),
        None => (message.to_string(), None),
    }
}

/// Problems of the form, by field.
#[derive(Default)]
struct Errors {
    tenant_url: Option<String>,
    secret_token: Option<String>,
    notification_email: Option<String>,
    threshold: Option<String>,
    general: Option<String>,
}

impl Errors {
    fn any(&self) -> bool {
        self.tenant_url.is_some()
            || self.secret_token.is_some()
            || self.notification_email.is_some()
            || self.threshold.is_some()
            || self.general.is_some()
    }
}

#[derive(Template)]
#[template(path = "apps/provisioning_edit.html")]
struct EditPage {
    chrome: Chrome,
    app: App,
    tab: &'static str,
    job: Option<JobSummary>,
    token_saved: bool,
    form: EditForm,
    errors: Errors,
    test: Option<TestResult>,
    assigned: Vec<AgentRow>,
    available: Vec<AgentRow>,
    /// The job's object mappings: name, and whether enabled.
    mappings: Vec<(String, bool)>,
    reset_scopes: &'static [(&'static str, &'static str)],
}

impl EditPage {
    fn checked(&self, value: &str) -> bool {
        !value.is_empty()
    }
}

/// The saved settings, as the form shows them.
async fn saved_form(api: &Api<'_>, sp: &str, job: Option<&JobSummary>) -> Result<(EditForm, bool), PageError> {
    let secrets = api.get(&format!("/v1.0/servicePrincipals/{}/synchronization/secrets", seg(sp))).await?;
    let get = |key: &str| {
        secrets["value"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["key"].as_str() == Some(key))
            .and_then(|p| p["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let notify: Value = serde_json::from_str(&get("SyncNotificationSettings")).unwrap_or(Value::Null);
    let flag = |v: &Value| if v.as_bool() == Some(true) { "on".to_string() } else { String::new() };
    let form = EditForm {
        tenant_url: get("BaseAddress"),
        secret_token: String::new(),
        notification_email: notify["Recipients"].as_str().unwrap_or_default().to_string(),
        email_on_failure: flag(&notify["Enabled"]),
        prevent_deletion: flag(&notify["DeleteThresholdEnabled"]),
        threshold: notify["DeleteThresholdValue"].as_u64().map(|n| n.to_string()).unwrap_or_else(|| "500".into()),
        scope: if get("SyncAll").eq_ignore_ascii_case("true") { "all".into() } else { "assigned".into() },
        status: if job.is_some_and(JobSummary::on) { "on".into() } else { "off".into() },
        action: String::new(),
    };
    Ok((form, !get("SecretToken").is_empty()))
}

/// The object mappings of the job's schema ("Provision Microsoft Entra ID Users", ...), enabled or not.
async fn object_mappings(api: &Api<'_>, sp: &str, job: &str) -> Result<Vec<(String, bool)>, PageError> {
    let schema =
        api.get(&format!("/v1.0/servicePrincipals/{}/synchronization/jobs/{}/schema", seg(sp), seg(job))).await?;
    Ok(schema["synchronizationRules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["objectMappings"].as_array().into_iter().flatten())
        .map(|m| (text(m, "name"), m["enabled"].as_bool().unwrap_or(false)))
        .collect())
}

/// The agents assigned to the application, and the others.
async fn agents(api: &Api<'_>, sp: &str) -> Result<(Vec<AgentRow>, Vec<AgentRow>), PageError> {
    let all = api.get(&format!("{AGENTS}/agents")).await?;
    let mut assigned = Vec::new();
    let mut available = Vec::new();
    for a in all["value"].as_array().into_iter().flatten() {
        let mine = a["agentGroups"].as_array().into_iter().flatten().any(|g| g["id"].as_str() == Some(sp));
        if mine { assigned.push(AgentRow::of(a)) } else { available.push(AgentRow::of(a)) }
    }
    Ok((assigned, available))
}

#[allow(clippy::too_many_arguments)]
async fn page(
    console: &Console,
    session: &Session,
    status: StatusCode,
    app: App,
    form: Option<EditForm>,
    errors: Errors,
    test: Option<TestResult>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let api = session.api(console);
    let job = job_of(&api, &app.id).await?.map(|j| JobSummary::of(&j));
    let mappings = match &job {
        Some(j) => object_mappings(&api, &app.id, &j.id).await?,
        None => Vec::new(),
    };
    let (saved, token_saved) = saved_form(&api, &app.id, job.as_ref()).await?;
    let (assigned, available) = agents(&api, &app.id).await?;
    // A form shown again keeps what the user typed, the token too (so that Save right after Test Connection saves
    // it); the saved token is never shown.
    let form = form.unwrap_or(saved);
    render(
        status,
        &EditPage {
            chrome: session.chrome(format!("{} · Provisioning", app.name), "apps").with_notice(notice),
            app,
            tab: "provisioning",
            job,
            token_saved,
            form,
            errors,
            test,
            assigned,
            available,
            mappings,
            reset_scopes: RESET_SCOPES,
        },
    )
}

#[derive(Deserialize)]
pub struct EditQuery {
    notice: Option<String>,
}

pub async fn edit(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    let app = load_app(&session.api(&console), &sp).await?;
    page(&console, &session, StatusCode::OK, app, None, Errors::default(), None, q.notice).await
}

/// The status of a failed API call, for the page shown again.
fn status_of(code: u16) -> StatusCode {
    match StatusCode::from_u16(code) {
        Ok(s) if s.is_client_error() => s,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The secrets a save writes: the tenant URL and token only when typed (an empty field keeps what is saved).
fn secrets_of(form: &EditForm, threshold: Option<u32>) -> Value {
    let mut pairs = Vec::new();
    if !form.tenant_url.trim().is_empty() {
        pairs.push(json!({"key": "BaseAddress", "value": form.tenant_url.trim()}));
    }
    if !form.secret_token.trim().is_empty() {
        pairs.push(json!({"key": "SecretToken", "value": form.secret_token.trim()}));
    }
    pairs.push(json!({"key": "SyncAll", "value": if form.scope == "all" { "true" } else { "false" }}));
    let notify = json!({
        "Enabled": !form.email_on_failure.is_empty(),
        "Recipients": form.notification_email.trim(),
        "DeleteThresholdEnabled": !form.prevent_deletion.is_empty(),
        "DeleteThresholdValue": threshold,
    });
    pairs.push(json!({"key": "SyncNotificationSettings", "value": notify.to_string()}));
    json!({"value": pairs})
}

/// Reads the threshold field: a whole number from 1, required when deletions are prevented.
fn threshold_of(form: &EditForm) -> Result<Option<u32>, String> {
    let t = form.threshold.trim();
    if t.is_empty() {
        return if form.prevent_deletion.is_empty() {
            Ok(None)
        } else {
            Err("Give the accidental deletion threshold: how many deletions a cycle may make before it stops.".into())
        };
    }
    match t.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(format!("'{t}' is not a threshold: give a whole number of deletions, 1 or more.")),
    }
}

pub async fn save(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, form): Form<EditForm>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    if form.action == "test" {
        let test = test_connection(&api, &app.id, &form).await?;
        let status = if test.ok { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
        return page(&console, &session, status, app, Some(form), Errors::default(), Some(test), None).await;
    }
    let mut errors = Errors::default();
    let threshold = threshold_of(&form).map_err(|e| errors.threshold = Some(e)).ok().flatten();
    if errors.any() {
        return page(&console, &session, StatusCode::UNPROCESSABLE_ENTITY, app, Some(form), errors, None, None).await;
    }
    let job = ensure_job(&api, &app.id).await?;
    let base = format!("/v1.0/servicePrincipals/{}/synchronization", seg(&app.id));
    if let Err(f) = api.put(&format!("{base}/secrets"), &secrets_of(&form, threshold)).await {
        let m = f.message.clone();
        if m.contains("BaseAddress") || m.contains("tenant URL") {
            errors.tenant_url = Some(m);
        } else if m.contains("SecretToken") {
            errors.secret_token = Some(m);
        } else if m.contains("Recipients") || m.contains("email") {
            errors.notification_email = Some(m);
        } else {
            errors.general = Some(m);
        }
        return page(&console, &session, status_of(f.status), app, Some(form), errors, None, None).await;
    }
    let summary = JobSummary::of(&job);
    let jobs = format!("{base}/jobs/{}", seg(&summary.id));
    let mut notice = "Saved.".to_string();
    if form.status == "on" && !summary.on() {
        let (saved, token_saved) = saved_form(&api, &app.id, None).await?;
        if saved.tenant_url.is_empty() || !token_saved {
            errors.general = Some(
                "Provisioning cannot start without Admin Credentials: fill in the Tenant URL and Secret Token, Test \
                 Connection, then Save with Provisioning Status On."
                    .into(),
            );
            return page(&console, &session, StatusCode::UNPROCESSABLE_ENTITY, app, Some(form), errors, None, None)
                .await;
        }
        api.post(&format!("{jobs}/start"), &json!({})).await?;
        notice = "Saved. Provisioning is On: the first cycle starts now.".into();
    } else if form.status == "off" && summary.on() {
        api.post(&format!("{jobs}/pause"), &json!({})).await?;
        notice = "Saved. Provisioning is Off.".into();
    }
    Ok(done(&app_page(&app.id, EDIT), &notice))
}

/// Test Connection with what the form holds (an empty field uses what is saved).
async fn test_connection(api: &Api<'_>, sp: &str, form: &EditForm) -> Result<TestResult, PageError> {
    let mut credentials = Vec::new();
    if !form.tenant_url.trim().is_empty() {
        credentials.push(json!({"key": "BaseAddress", "value": form.tenant_url.trim()}));
    }
    if !form.secret_token.trim().is_empty() {
        credentials.push(json!({"key": "SecretToken", "value": form.secret_token.trim()}));
    }
    let base = format!("/v1.0/servicePrincipals/{}/synchronization/jobs", seg(sp));
    let path = match job_of(api, sp).await? {
        Some(job) => format!("{base}/{}/validateCredentials", seg(&text(&job, "id"))),
        None => format!("{base}/validateCredentials"),
    };
    let (status, body) = api.exchange(Method::POST, &path, Some(&json!({"credentials": credentials}))).await?;
    if status == 401 {
        return Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            "Sign in again",
            "Your session's token is no longer valid.",
        ));
    }
    Ok(if (200..300).contains(&status) {
        TestResult {
            ok: true,
            code: String::new(),
            message: "The supplied credentials are authorized to enable provisioning.".into(),
            request: None,
        }
    } else {
        let (message, request) = split_request(&message_of(status, &body));
        TestResult {
            ok: false,
            code: body["error"]["code"].as_str().unwrap_or("TestConnectionFailed").to_string(),
            message,
            request,
        }
    })
}

pub async fn restart(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    let Some(job) = job_of(&api, &app.id).await? else {
        return Err(PageError::bad_request("There is nothing to restart yet: Save the provisioning settings first."));
    };
    let scopes: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, v)| RESET_SCOPES.iter().find(|(s, _)| s == v).map(|(s, _)| *s))
        .collect();
    let body = if scopes.is_empty() { json!({}) } else { json!({"criteria": {"resetScope": scopes.join(",")}}) };
    let path =
        format!("/v1.0/servicePrincipals/{}/synchronization/jobs/{}/restart", seg(&app.id), seg(&text(&job, "id")));
    api.post(&path, &body).await?;
    let what = if scopes.is_empty() { "Watermark, Escrows, QuarantineState".to_string() } else { scopes.join(", ") };
    Ok(done(&app_page(&app.id, EDIT), &format!("Provisioning restarted (reset: {what}).")))
}

pub async fn assign_agents(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = load_app(&api, &sp).await?;
    let chosen: Vec<&String> = fields.iter().filter(|(k, _)| k == "agent").map(|(_, v)| v).collect();
    if chosen.is_empty() {
        let errors = Errors { general: Some("Select one or more agents to assign.".into()), ..Errors::default() };
        return page(&console, &session, StatusCode::UNPROCESSABLE_ENTITY, app, None, errors, None, None).await;
    }
    for agent in &chosen {
        let reference = json!({"@odata.id": format!("{AGENTS}/agents/{}", seg(agent))});
        api.post(&format!("{AGENTS}/agentGroups/{}/agents/$ref", seg(&app.id)), &reference).await?;
    }
    Ok(done(&app_page(&app.id, EDIT), &format!("{} agent(s) assigned.", chosen.len())))
}

pub async fn unassign_agent(
    State(console): State<Console>,
    Path((sp, agent)): Path<(String, String)>,
    Form(session, _): Form<crate::session::Nothing>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    api.delete(&format!("{AGENTS}/agentGroups/{}/agents/{}/$ref", seg(&sp), seg(&agent))).await?;
    Ok(done(&app_page(&sp, EDIT), "Agent unassigned."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> EditForm {
        EditForm { scope: "assigned".into(), ..EditForm::default() }
    }

    #[test]
    fn a_save_never_clears_the_saved_token_with_an_empty_field() {
        let body = secrets_of(&form(), None);
        let keys: Vec<&str> = body["value"].as_array().unwrap().iter().filter_map(|p| p["key"].as_str()).collect();
        assert_eq!(keys, ["SyncAll", "SyncNotificationSettings"]);
        let typed = EditForm { tenant_url: " https://x/scim ".into(), secret_token: "dapi1".into(), ..form() };
        let body = secrets_of(&typed, Some(5));
        assert_eq!(body["value"][0], json!({"key": "BaseAddress", "value": "https://x/scim"}));
        assert_eq!(body["value"][1], json!({"key": "SecretToken", "value": "dapi1"}));
        let notify: Value = serde_json::from_str(body["value"][3]["value"].as_str().unwrap()).unwrap();
        assert_eq!(notify["DeleteThresholdValue"], json!(5));
    }

    #[test]
    fn the_failed_request_is_shown_apart() {
        let (why, request) = split_request("the target answered 401; body starts: {}; request: GET https://x/Users");
        assert_eq!(why, "the target answered 401; body starts: {}");
        assert_eq!(request.as_deref(), Some("GET https://x/Users"));
        assert_eq!(split_request("no request"), ("no request".to_string(), None));
    }

    #[test]
    fn the_threshold_is_a_whole_number_when_deletions_are_prevented() {
        assert_eq!(threshold_of(&form()), Ok(None));
        let on = EditForm { prevent_deletion: "on".into(), ..form() };
        assert!(threshold_of(&on).unwrap_err().contains("Give the accidental deletion threshold"));
        let bad = EditForm { threshold: "ten".into(), ..on.clone() };
        assert!(threshold_of(&bad).unwrap_err().contains("whole number"));
        let good = EditForm { threshold: "500".into(), ..on };
        assert_eq!(threshold_of(&good), Ok(Some(500)));
    }
}
