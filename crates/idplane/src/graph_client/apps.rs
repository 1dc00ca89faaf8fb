//! `idplane app`: enterprise applications (service principals made from the gallery's application templates), who
//! is assigned to them ("Users and groups"), their properties, and their provisioning: the job made from the
//! application's synchronization template, the admin credentials (tenant URL and secret token), Test Connection,
//! and the settings kept beside the credentials (`SyncAll`, `SyncNotificationSettings`). An application is named by
//! its service principal's id or its display name. Mappings and scoping filters are [`super::mappings`], the
//! provisioning logs [`super::logs`].

use std::io::{IsTerminal, Read};

use clap::{Args, Subcommand, ValueEnum};
use idplane_provisioning::templates::{
    DATABRICKS_APPLICATION_TEMPLATE_ID, NON_GALLERY_APPLICATION_TEMPLATE_ID, ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID,
};
use serde_json::{Map, Value, json};

use super::directory::{by_id_or_name, find_group, find_user};
use super::error::{ClientError, Result};
use super::http::{Graph, PAGE_SIZE, odata_string};
use super::mappings::{MappingsCommand, ScopingCommand};
use super::output::{Output, table, text};
use url::Url;

#[derive(Subcommand)]
pub enum AppCommand {
    /// List the application templates (the gallery).
    Templates,
    /// Create an enterprise application from a template, and its provisioning job from the application's
    /// synchronization template.
    Create {
        /// databricks (Azure Databricks SCIM Provisioning Connector), non-gallery (a SCIM app of your own),
        /// on-premises (On-premises SCIM app), or an application template id.
        #[arg(long)]
        template: String,
        /// The application's display name.
        #[arg(long)]
        name: String,
    },
    /// List the enterprise applications.
    List,
    /// Show an application's properties and provisioning job.
    Show { app: String },
    /// Delete an application, its service principal and its provisioning.
    Delete { app: String },
    /// What the next provisioning cycle would send, request by request, without sending anything (idplane's own).
    Plan { app: String },
    /// Target objects no source object is linked to, and linked ones changed in the target behind the engine's back.
    Drift { app: String },
    /// Provisioning: admin credentials, Test Connection, settings.
    Provisioning {
        #[command(subcommand)]
        command: ProvisioningCommand,
    },
    /// Attribute mappings of the provisioning job's schema.
    Mappings {
        #[command(subcommand)]
        command: MappingsCommand,
    },
    /// Scoping filters of the provisioning job's object mappings.
    Scoping {
        #[command(subcommand)]
        command: ScopingCommand,
    },
    /// Assign a user or a security group to the application.
    Assign {
        app: String,
        #[command(flatten)]
        principal: Principal,
        /// The app role (default: the default access role, 00000000-0000-0000-0000-000000000000).
        #[arg(long)]
        app_role: Option<String>,
    },
    /// Remove a user's or group's assignment.
    Unassign {
        app: String,
        #[command(flatten)]
        principal: Principal,
    },
    /// List the users and groups assigned to the application.
    Assignments { app: String },
    /// The on-premises agents that carry the application's provisioning requests.
    Agents {
        #[command(subcommand)]
        command: super::agents::AppAgentsCommand,
    },
    /// The provisioning logs of the application: newest first, every page, as a table, JSON or CSV.
    Logs(super::logs::LogsArgs),
    /// Show or change the application's properties.
    Properties {
        app: String,
        /// Whether users must be assigned to the application (Entra's "Assignment required?").
        #[arg(long)]
        assignment_required: Option<YesNo>,
    },
}

/// A user or a group, as `--user` or `--group` names it.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Principal {
    /// A user: id or user principal name.
    #[arg(long)]
    user: Option<String>,
    /// A group: id or display name.
    #[arg(long)]
    group: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn on(self) -> bool {
        matches!(self, OnOff::On)
    }
}

/// Who is provisioned: Entra's "Scope" setting.
#[derive(Clone, Copy, ValueEnum)]
pub enum Scope {
    /// Only the users and groups assigned to the application.
    Assigned,
    /// Every user and group of the directory.
    All,
}

#[derive(Subcommand)]
pub enum ProvisioningCommand {
    /// Save the admin credentials: the target's tenant URL and secret token.
    Credentials {
        app: String,
        /// The target's SCIM endpoint, e.g. https://accounts.azuredatabricks.net/api/2.1/accounts/<id>/scim/v2.
        #[arg(long)]
        tenant_url: String,
        /// The target's token. "-" (or no value with a pipe on standard input) reads it from standard input, so
        /// that it stays out of the shell's history; also IDPLANE_SECRET_TOKEN.
        #[arg(long, env = "IDPLANE_SECRET_TOKEN", hide_env_values = true)]
        secret_token: Option<String>,
    },
    /// Test Connection with the saved credentials.
    Test { app: String },
    /// Show or change the settings: notification email, accidental deletion prevention, scope.
    Settings {
        app: String,
        /// Who gets the notification emails, separated by ';'.
        #[arg(long)]
        notification_email: Option<String>,
        /// Send an email notification when a failure occurs.
        #[arg(long)]
        email_on_failure: Option<OnOff>,
        /// Prevent accidental deletion.
        #[arg(long)]
        prevent_deletion: Option<OnOff>,
        /// The accidental deletion threshold: the most deletions a cycle may make.
        #[arg(long)]
        deletion_threshold: Option<u32>,
        /// Provision only assigned users and groups, or every one.
        #[arg(long)]
        scope: Option<Scope>,
    },
    /// Show the provisioning job, its schedule and status, and the saved secrets (masked).
    Show { app: String },
    /// Provisioning Status On: cycles start now, then every schedule interval.
    Start { app: String },
    /// Provisioning Status Off: no further cycles; a running one stops after its current objects.
    Pause { app: String },
    /// Restart provisioning: forget the watermark, escrows and quarantine (or what --scope names); a started job
    /// runs an initial cycle at once.
    Restart {
        app: String,
        /// What to reset, separated by commas: Watermark, Escrows, QuarantineState, Full (also the links between
        /// source and target objects), ForceDeletes (approve deletions held by the threshold).
        #[arg(long)]
        scope: Option<String>,
    },
    /// Provision on demand: one user, or one group of at most five members, now; every step is shown.
    OnDemand {
        app: String,
        /// The user (id or userPrincipalName).
        #[arg(long, conflicts_with = "group")]
        user: Option<String>,
        /// The group (id or display name).
        #[arg(long)]
        group: Option<String>,
    },
}

/// An application's service principal, by id or display name.
pub async fn find_app(g: &Graph, app: &str) -> Result<Value> {
    by_id_or_name(g, "servicePrincipals", "application", app, "idplane app list").await
}

/// An application's service principal and the URL of its provisioning job.
async fn job_url(g: &Graph, app: &str) -> Result<(Value, Url)> {
    let sp = find_app(g, app).await?;
    let job = find_job(g, &sp).await?;
    let url = g.url(&["servicePrincipals", &text(&sp, "id"), "synchronization", "jobs", &text(&job, "id")]);
    Ok((sp, url))
}

/// `url` with one more path segment.
fn join(url: &Url, segment: &str) -> Url {
    let mut u = url.clone();
    if let Ok(mut segments) = u.path_segments_mut() {
        segments.push(segment);
    }
    u
}

/// The provisioning job of an application (the first, as an application has one per template).
pub async fn find_job(g: &Graph, sp: &Value) -> Result<Value> {
    let id = text(sp, "id");
    let jobs = g.get(g.url(&["servicePrincipals", &id, "synchronization", "jobs"])).await?;
    jobs["value"].as_array().and_then(|j| j.first()).cloned().ok_or_else(|| {
        ClientError::Lookup(format!(
            "application '{}' has no provisioning job: `idplane app create` makes one with the application",
            text(sp, "displayName")
        ))
    })
}

/// The application template id an alias names.
fn template_id(alias: &str) -> &str {
    match alias.trim().to_ascii_lowercase().as_str() {
        "databricks" | "azure-databricks" => DATABRICKS_APPLICATION_TEMPLATE_ID,
        "non-gallery" | "nongallery" | "custom" => NON_GALLERY_APPLICATION_TEMPLATE_ID,
        "on-premises" | "on-prem" | "onpremises" => ON_PREMISES_SCIM_APPLICATION_TEMPLATE_ID,
        _ => alias.trim(),
    }
}

pub async fn run(g: &Graph, command: AppCommand) -> Result<Output> {
    match command {
        AppCommand::Templates => {
            let listing = g.list(g.url(&["applicationTemplates"]), None).await?;
            let rows: Vec<Vec<String>> = listing
                .items
                .iter()
                .map(|t| vec![text(t, "id"), text(t, "publisher"), text(t, "displayName")])
                .collect();
            Ok(Output::new(listing.to_json(), table(&rows)))
        }
        AppCommand::Create { template, name } => create(g, &template, &name).await,
        AppCommand::List => {
            let listing = g.list(g.url_with(&["servicePrincipals"], &[("$top", &PAGE_SIZE.to_string())]), None).await?;
            let rows: Vec<Vec<String>> = listing
                .items
                .iter()
                .map(|sp| vec![text(sp, "id"), text(sp, "displayName"), text(sp, "applicationTemplateId")])
                .collect();
            Ok(Output::new(listing.to_json(), table(&rows)))
        }
        AppCommand::Show { app } => {
            let sp = find_app(g, &app).await?;
            let mut text_out = super::output::properties(&select(
                &sp,
                &[
                    "id",
                    "appId",
                    "displayName",
                    "applicationTemplateId",
                    "appRoleAssignmentRequired",
                    "accountEnabled",
                    "notes",
                ],
            ));
            if let Ok(job) = find_job(g, &sp).await {
                text_out.push_str(&format!("\nprovisioning job: {}", job_line(&job)));
            }
            Ok(Output::new(sp, text_out))
        }
        AppCommand::Delete { app } => {
            let sp = find_app(g, &app).await?;
            let filter = format!("appId eq {}", odata_string(&text(&sp, "appId")));
            let apps = g.get(g.url_with(&["applications"], &[("$filter", &filter)])).await?;
            // The application object owns the service principal: deleting it deletes both, as in Entra.
            match apps["value"].as_array().and_then(|a| a.first()) {
                Some(a) => g.delete(g.url(&["applications", &text(a, "id")])).await?,
                None => g.delete(g.url(&["servicePrincipals", &text(&sp, "id")])).await?,
            };
            let text = format!("deleted application {} ({})", text(&sp, "id"), text(&sp, "displayName"));
            Ok(Output::new(json!({"id": sp["id"], "deleted": true}), text))
        }
        AppCommand::Provisioning { command } => provisioning(g, command).await,
        AppCommand::Plan { app } => {
            let (_, job_url) = job_url(g, &app).await?;
            let plan = g.post(join(&job_url, "preview"), &json!({})).await?;
            let requests = plan["requests"].as_array().cloned().unwrap_or_default();
            let mut lines: Vec<String> = requests
                .iter()
                .map(|r| {
                    format!(
                        "{:6} {}  ({} {}: {})",
                        text(r, "method"),
                        text(r, "path"),
                        text(r, "objectType"),
                        text(r, "displayName"),
                        text(r, "action")
                    )
                })
                .collect();
            for f in plan["failures"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "would fail: {} {}: {}",
                    text(f, "displayName"),
                    text(f, "errorCode"),
                    text(f, "reason")
                ));
            }
            let kind = if plan["initial"] == json!(true) { "initial" } else { "incremental" };
            lines.insert(0, format!("the next cycle ({kind}) would send {} request(s)", requests.len()));
            Ok(Output::new(plan, lines.join("\n")))
        }
        AppCommand::Drift { app } => {
            let (_, job_url) = job_url(g, &app).await?;
            let drift = g.get(join(&job_url, "drift")).await?;
            let mut lines = vec![format!("examined {} target object(s)", drift["examined"])];
            for o in drift["orphans"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "orphan   {} {} ({})",
                    text(o, "objectType"),
                    text(o, "displayName"),
                    text(o, "targetId")
                ));
            }
            for d in drift["drifted"].as_array().into_iter().flatten() {
                for c in d["changes"].as_array().into_iter().flatten() {
                    lines.push(format!(
                        "drifted  {} {}: {} is {} in the target, the mappings give {}",
                        text(d, "objectType"),
                        text(d, "displayName"),
                        text(c, "attribute"),
                        c["target"],
                        c["expected"]
                    ));
                }
            }
            if drift["drifted"].as_array().is_some_and(|d| !d.is_empty()) {
                lines.push(format!("correct them with `idplane app provisioning restart {app} --scope Watermark`"));
            }
            Ok(Output::new(drift, lines.join("\n")))
        }
        AppCommand::Logs(args) => super::logs::run(g, args).await,
        AppCommand::Agents { command } => super::agents::app_agents(g, command).await,
        AppCommand::Mappings { command } => super::mappings::mappings(g, command).await,
        AppCommand::Scoping { command } => super::mappings::scoping(g, command).await,
        AppCommand::Assign { app, principal, app_role } => {
            let sp = find_app(g, &app).await?;
            let (id, name) = principal_of(g, &principal).await?;
            let body = json!({
                "principalId": id,
                "resourceId": sp["id"],
                "appRoleId": app_role.unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".into()),
            });
            let a = g.post(g.url(&["servicePrincipals", &text(&sp, "id"), "appRoleAssignedTo"]), &body).await?;
            let text =
                format!("assigned {} {name} to {}", text(&a, "principalType").to_lowercase(), text(&sp, "displayName"));
            Ok(Output::new(a, text))
        }
        AppCommand::Unassign { app, principal } => {
            let sp = find_app(g, &app).await?;
            let (id, name) = principal_of(g, &principal).await?;
            let sp_id = text(&sp, "id");
            let listing = g.list(g.url(&["servicePrincipals", &sp_id, "appRoleAssignedTo"]), None).await?;
            let mine: Vec<String> = listing
                .items
                .iter()
                .filter(|a| text(a, "principalId").eq_ignore_ascii_case(&id))
                .map(|a| text(a, "id"))
                .collect();
            if mine.is_empty() {
                return Err(ClientError::Lookup(format!("{name} is not assigned to {}", text(&sp, "displayName"))));
            }
            for a in &mine {
                g.delete(g.url(&["servicePrincipals", &sp_id, "appRoleAssignedTo", a])).await?;
            }
            let text = format!("removed {} assignment(s) of {name} from {}", mine.len(), text(&sp, "displayName"));
            Ok(Output::new(json!({"principalId": id, "removed": mine}), text))
        }
        AppCommand::Assignments { app } => {
            let sp = find_app(g, &app).await?;
            let url = g.url_with(
                &["servicePrincipals", &text(&sp, "id"), "appRoleAssignedTo"],
                &[("$top", &PAGE_SIZE.to_string())],
            );
            let listing = g.list(url, None).await?;
            let rows: Vec<Vec<String>> = listing
                .items
                .iter()
                .map(|a| vec![text(a, "principalType"), text(a, "principalId"), text(a, "principalDisplayName")])
                .collect();
            Ok(Output::new(listing.to_json(), table(&rows)))
        }
        AppCommand::Properties { app, assignment_required } => {
            let mut sp = find_app(g, &app).await?;
            if let Some(required) = assignment_required {
                let required = matches!(required, YesNo::Yes);
                g.patch(
                    g.url(&["servicePrincipals", &text(&sp, "id")]),
                    &json!({"appRoleAssignmentRequired": required}),
                )
                .await?;
                sp = g.get(g.url(&["servicePrincipals", &text(&sp, "id")])).await?;
            }
            let shown = select(&sp, &["id", "displayName", "appRoleAssignmentRequired", "accountEnabled", "notes"]);
            Ok(Output::new(sp, super::output::properties(&shown)))
        }
    }
}

/// The keys of an object, in this order, that it has.
fn select(v: &Value, keys: &[&str]) -> Value {
    Value::Object(keys.iter().filter_map(|k| v.get(*k).map(|x| ((*k).to_string(), x.clone()))).collect())
}

/// The id and a readable name of `--user` or `--group`.
async fn principal_of(g: &Graph, p: &Principal) -> Result<(String, String)> {
    match (&p.user, &p.group) {
        (Some(u), _) => {
            let u = find_user(g, u, "id,userPrincipalName").await?;
            Ok((text(&u, "id"), text(&u, "userPrincipalName")))
        }
        (None, Some(gr)) => {
            let gr = find_group(g, gr).await?;
            Ok((text(&gr, "id"), text(&gr, "displayName")))
        }
        (None, None) => Err(ClientError::Usage("give --user or --group".into())),
    }
}

async fn create(g: &Graph, template: &str, name: &str) -> Result<Output> {
    let id = template_id(template);
    let made = g.post(g.url(&["applicationTemplates", id, "instantiate"]), &json!({"displayName": name})).await.map_err(|e| {
        match e.status() {
            Some(404) => ClientError::Lookup(format!(
                "no application template '{template}': use databricks, non-gallery, on-premises or an id from `idplane app templates`"
            )),
            _ => e,
        }
    })?;
    let sp = made["servicePrincipal"].clone();
    let sp_id = text(&sp, "id");
    let sync = |rest: &[&str]| {
        let mut segments = vec!["servicePrincipals", sp_id.as_str(), "synchronization"];
        segments.extend_from_slice(rest);
        g.url(&segments)
    };
    let templates = g.get(sync(&["templates"])).await?;
    let job = match templates["value"].as_array().and_then(|t| t.first()) {
        Some(t) => Some(g.post(sync(&["jobs"]), &json!({"templateId": t["id"]})).await?),
        None => None,
    };
    let mut text = format!("created application {sp_id} ({name}) from template {id}");
    match &job {
        Some(j) => text.push_str(&format!("\nprovisioning job: {}", job_line(j))),
        None => text.push_str("\nno synchronization template: this application does not provision"),
    }
    text.push_str(&format!(
        "\nnext: idplane app provisioning credentials {sp_id} --tenant-url URL --secret-token -   (token on stdin)"
    ));
    Ok(Output::new(json!({"application": made["application"], "servicePrincipal": sp, "job": job}), text))
}

/// A job as one line: id, template, schedule and status.
fn job_line(job: &Value) -> String {
    format!(
        "{} (template {}, schedule {} every {}, status {})",
        text(job, "id"),
        text(job, "templateId"),
        text(&job["schedule"], "state"),
        text(&job["schedule"], "interval"),
        text(&job["status"], "code"),
    )
}

/// The saved secrets as key-value pairs (credentials masked by the server).
async fn secrets(g: &Graph, sp_id: &str) -> Result<Vec<(String, String)>> {
    let saved = g.get(g.url(&["servicePrincipals", sp_id, "synchronization", "secrets"])).await?;
    Ok(saved["value"].as_array().into_iter().flatten().map(|p| (text(p, "key"), text(p, "value"))).collect())
}

/// Reads the secret token from standard input: its first line, without the line end.
fn token_from_stdin() -> Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(ClientError::Usage(
            "the secret token: give --secret-token, set IDPLANE_SECRET_TOKEN, or pipe it on standard input \
             (--secret-token -)"
                .into(),
        ));
    }
    let mut input = String::new();
    stdin
        .read_to_string(&mut input)
        .map_err(|e| ClientError::Usage(format!("reading the secret token from standard input: {e}")))?;
    let token = input.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(ClientError::Usage("standard input held no secret token".into()));
    }
    Ok(token)
}

/// The notification settings, merged: the saved ones with the flags' changes.
#[derive(Default)]
pub struct SettingsChange {
    pub notification_email: Option<String>,
    pub email_on_failure: Option<bool>,
    pub prevent_deletion: Option<bool>,
    pub deletion_threshold: Option<u32>,
}

impl SettingsChange {
    fn is_empty(&self) -> bool {
        self.notification_email.is_none()
            && self.email_on_failure.is_none()
            && self.prevent_deletion.is_none()
            && self.deletion_threshold.is_none()
    }

    /// `SyncNotificationSettings` (a JSON object in a string) with these changes; its other keys kept.
    pub fn apply(&self, saved: Option<&str>) -> Result<Map<String, Value>> {
        let mut settings: Map<String, Value> = match saved.filter(|s| !s.trim().is_empty()) {
            Some(s) => serde_json::from_str(s).map_err(|e| {
                ClientError::Usage(format!("the saved SyncNotificationSettings are not JSON ({e}); set them all again"))
            })?,
            None => Map::new(),
        };
        if let Some(r) = &self.notification_email {
            let recipients: Vec<&str> = r.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()).collect();
            settings.insert("Recipients".into(), json!(recipients.join(";")));
        }
        if let Some(on) = self.email_on_failure {
            settings.insert("Enabled".into(), json!(on));
        }
        if let Some(on) = self.prevent_deletion {
            settings.insert("DeleteThresholdEnabled".into(), json!(on));
        }
        if let Some(n) = self.deletion_threshold {
            settings.insert("DeleteThresholdValue".into(), json!(n));
            settings.entry("DeleteThresholdEnabled").or_insert(json!(true));
        }
        Ok(settings)
    }
}

/// The settings as readable lines.
fn settings_text(pairs: &[(String, String)]) -> String {
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let notification: Map<String, Value> =
        get("SyncNotificationSettings").and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let on = |k: &str| if notification.get(k) == Some(&Value::Bool(true)) { "on" } else { "off" };
    let scope = match get("SyncAll") {
        Some("true") => "all users and groups (SyncAll true)",
        _ => "assigned users and groups only (SyncAll false)",
    };
    let threshold = notification.get("DeleteThresholdValue").map(|v| format!(", threshold {v}")).unwrap_or_default();
    let recipients =
        notification.get("Recipients").and_then(Value::as_str).filter(|r| !r.is_empty()).unwrap_or("(none)");
    table(&[
        vec!["scope:".into(), scope.into()],
        vec!["notification email:".into(), recipients.into()],
        vec!["email on failure:".into(), on("Enabled").into()],
        vec!["prevent deletion:".into(), format!("{}{threshold}", on("DeleteThresholdEnabled"))],
    ])
}

fn pairs_json(pairs: &[(String, String)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect())
}

async fn provisioning(g: &Graph, command: ProvisioningCommand) -> Result<Output> {
    match command {
        ProvisioningCommand::Credentials { app, tenant_url, secret_token } => {
            let token = match secret_token.filter(|t| t != "-" && !t.is_empty()) {
                Some(t) => t,
                None => token_from_stdin()?,
            };
            let sp = find_app(g, &app).await?;
            let body = json!({"value": [{"key": "BaseAddress", "value": tenant_url.trim()}, {"key": "SecretToken", "value": token}]});
            g.put(g.url(&["servicePrincipals", &text(&sp, "id"), "synchronization", "secrets"]), &body).await?;
            let text = format!(
                "saved the tenant URL and secret token of {}; check them with `idplane app provisioning test {}`",
                text(&sp, "displayName"),
                text(&sp, "id")
            );
            Ok(Output::new(json!({"id": sp["id"], "saved": ["BaseAddress", "SecretToken"]}), text))
        }
        ProvisioningCommand::Test { app } => {
            let sp = find_app(g, &app).await?;
            let job = find_job(g, &sp).await?;
            let url = g.url(&[
                "servicePrincipals",
                &text(&sp, "id"),
                "synchronization",
                "jobs",
                &text(&job, "id"),
                "validateCredentials",
            ]);
            match g.post(url, &json!({"useSavedCredentials": true})).await {
                Ok(_) => Ok(Output::new(
                    json!({"success": true}),
                    format!("Test Connection succeeded: {} answered as a SCIM service", text(&sp, "displayName")),
                )),
                Err(ClientError::Graph { code, message, .. }) => {
                    let out = Output::new(
                        json!({"success": false, "code": code, "message": message}),
                        format!("Test Connection failed: {code}\n{message}"),
                    );
                    Ok(out.incomplete("Test Connection failed".into()))
                }
                Err(e) => Err(e),
            }
        }
        ProvisioningCommand::Settings {
            app,
            notification_email,
            email_on_failure,
            prevent_deletion,
            deletion_threshold,
            scope,
        } => {
            let sp = find_app(g, &app).await?;
            let sp_id = text(&sp, "id");
            let change = SettingsChange {
                notification_email,
                email_on_failure: email_on_failure.map(OnOff::on),
                prevent_deletion: prevent_deletion.map(OnOff::on),
                deletion_threshold,
            };
            let saved = secrets(g, &sp_id).await?;
            let mut updates = Vec::new();
            if !change.is_empty() {
                let current = saved.iter().find(|(k, _)| k == "SyncNotificationSettings").map(|(_, v)| v.as_str());
                let merged = Value::Object(change.apply(current)?).to_string();
                updates.push(json!({"key": "SyncNotificationSettings", "value": merged}));
            }
            if let Some(s) = scope {
                updates
                    .push(json!({"key": "SyncAll", "value": if matches!(s, Scope::All) { "true" } else { "false" }}));
            }
            let pairs = if updates.is_empty() {
                saved
            } else {
                g.put(g.url(&["servicePrincipals", &sp_id, "synchronization", "secrets"]), &json!({"value": updates}))
                    .await?;
                secrets(g, &sp_id).await?
            };
            let settings: Vec<(String, String)> =
                pairs.into_iter().filter(|(k, _)| k == "SyncAll" || k == "SyncNotificationSettings").collect();
            Ok(Output::new(json!({"id": sp_id, "value": pairs_json(&settings)}), settings_text(&settings)))
        }
        ProvisioningCommand::Start { app } => {
            let (sp, url) = job_url(g, &app).await?;
            g.post(join(&url, "start"), &json!({})).await?;
            Ok(Output::new(
                json!({"started": true}),
                format!("provisioning of {} is on: a cycle starts now", text(&sp, "displayName")),
            ))
        }
        ProvisioningCommand::Pause { app } => {
            let (sp, url) = job_url(g, &app).await?;
            g.post(join(&url, "pause"), &json!({})).await?;
            Ok(Output::new(json!({"paused": true}), format!("provisioning of {} is off", text(&sp, "displayName"))))
        }
        ProvisioningCommand::Restart { app, scope } => {
            let (sp, url) = job_url(g, &app).await?;
            let body = match &scope {
                Some(s) => json!({"criteria": {"resetScope": s}}),
                None => json!({}),
            };
            g.post(join(&url, "restart"), &body).await?;
            let what = scope.unwrap_or_else(|| "Watermark, Escrows, QuarantineState".into());
            Ok(Output::new(
                json!({"restarted": true, "resetScope": what}),
                format!("restarted provisioning of {} (reset: {what})", text(&sp, "displayName")),
            ))
        }
        ProvisioningCommand::OnDemand { app, user, group } => {
            let (_, url) = job_url(g, &app).await?;
            let (object, kind) = match (user, group) {
                (Some(u), _) => (text(&find_user(g, &u, "id").await?, "id"), "User"),
                (None, Some(gr)) => (text(&find_group(g, &gr).await?, "id"), "Group"),
                (None, None) => return Err(ClientError::Usage("give --user or --group".into())),
            };
            let schema = g.get(join(&url, "schema")).await?;
            let rule = text(&schema["synchronizationRules"][0], "id");
            let body =
                json!({"parameters": [{"ruleId": rule, "subjects": [{"objectId": object, "objectTypeName": kind}]}]});
            let answer = g.post(join(&url, "provisionOnDemand"), &body).await?;
            let key: Value = serde_json::from_str(answer["key"].as_str().unwrap_or("{}")).unwrap_or_default();
            let event: Value = serde_json::from_str(answer["value"].as_str().unwrap_or("{}")).unwrap_or_default();
            let mut lines = vec![format!(
                "{}: {} {}",
                text(&key, "result"),
                text(&event, "action"),
                text(&event, "reportableIdentifier")
            )];
            if let Some(code) = key["details"]["errorCode"].as_str() {
                lines.push(format!("{code}: {}", text(&key["details"], "errorMessage")));
            }
            for step in event["provisioningSteps"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "  {:10} {:8} {}",
                    text(step, "type"),
                    text(step, "status"),
                    text(step, "description")
                ));
            }
            for m in event["modifiedProperties"].as_array().into_iter().flatten() {
                lines.push(format!("  {} : {} -> {}", text(m, "displayName"), m["oldValue"], m["newValue"]));
            }
            let out = Output::new(json!({"key": key, "value": event}), lines.join("\n"));
            Ok(if key["result"] == json!("Failure") {
                out.incomplete("provisioning on demand failed".into())
            } else {
                out
            })
        }
        ProvisioningCommand::Show { app } => {
            let sp = find_app(g, &app).await?;
            let sp_id = text(&sp, "id");
            let jobs = g.get(g.url(&["servicePrincipals", &sp_id, "synchronization", "jobs"])).await?;
            let pairs = secrets(g, &sp_id).await?;
            let mut lines = vec![format!("{} ({sp_id})", text(&sp, "displayName"))];
            let job_list = jobs["value"].as_array().cloned().unwrap_or_default();
            if job_list.is_empty() {
                lines.push("no provisioning job".into());
            }
            lines.extend(job_list.iter().map(|j| format!("job {}", job_line(j))));
            lines.push("secrets:".into());
            lines.extend(pairs.iter().map(|(k, v)| format!("  {k} = {v}")));
            let json = json!({"servicePrincipal": sp, "jobs": job_list, "secrets": pairs_json(&pairs)});
            Ok(Output::new(json, lines.join("\n")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_merge_with_what_is_saved() -> Result<()> {
        let saved =
            r#"{"Enabled":true,"Recipients":"old@x.com","DeleteThresholdEnabled":false,"HardDeletesEnabled":true}"#;
        let change = SettingsChange {
            notification_email: Some("a@x.com; b@y.com".into()),
            deletion_threshold: Some(250),
            ..Default::default()
        };
        let merged = change.apply(Some(saved))?;
        assert_eq!(
            Value::Object(merged),
            json!({"Enabled": true, "Recipients": "a@x.com;b@y.com", "DeleteThresholdEnabled": false, "HardDeletesEnabled": true, "DeleteThresholdValue": 250}),
            "unchanged keys are kept, a threshold alone does not switch prevention on when it was set off"
        );
        let fresh = SettingsChange { deletion_threshold: Some(5), email_on_failure: Some(false), ..Default::default() }
            .apply(None)?;
        assert_eq!(
            Value::Object(fresh),
            json!({"Enabled": false, "DeleteThresholdEnabled": true, "DeleteThresholdValue": 5})
        );
        assert!(SettingsChange { email_on_failure: Some(true), ..Default::default() }.apply(Some("not json")).is_err());
        Ok(())
    }

    #[test]
    fn settings_read_as_entra_words() {
        let pairs = vec![
            ("SyncAll".to_string(), "false".to_string()),
            (
                "SyncNotificationSettings".to_string(),
                r#"{"Enabled":true,"Recipients":"a@x.com","DeleteThresholdEnabled":true,"DeleteThresholdValue":500}"#
                    .to_string(),
            ),
        ];
        let t = settings_text(&pairs);
        assert!(
            t.contains("assigned users and groups only") && t.contains("a@x.com") && t.contains("on, threshold 500"),
            "{t}"
        );
        assert_eq!(template_id("Databricks"), DATABRICKS_APPLICATION_TEMPLATE_ID);
        assert_eq!(template_id(" 1234 "), "1234");
    }
}
