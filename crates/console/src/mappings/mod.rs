//! Provisioning → Mappings of an enterprise application, as Entra's admin center shows them: the object mappings
//! ("Provision Microsoft Entra ID Users", "... Groups") with Enabled Yes/No; the Attribute Mapping page of one
//! (Enabled, Target Object Actions, Source Object Scope, the attribute mappings with their type, source, default,
//! matching precedence and when they apply; Add New Mapping, edit, delete, Restore default mappings); the Edit
//! Attribute dialog, whose expression is checked as the user types through `parseExpression` and tried on a
//! sample user of the directory; and the scoping filters of an object mapping.
//!
//! Everything goes through Graph: the job's schema (`GET`/`PUT .../jobs/{job}/schema`), `parseExpression`,
//! `filterOperators` and the job's synchronization template (the default mappings). An object mapping has no id in
//! Graph: the pages' `{objectMappingId}` is its position in the schema (rule by rule). Each change is written at
//! once (`PUT` of the whole schema) and is refused when the schema changed since the page was shown (its
//! `version`), so that two admins never overwrite each other's changes unseen.

mod model;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use idplane_provisioning::schema::{AttributeFlowType, ObjectFlowTypes, SynchronizationSchema};
use idplane_provisioning::scoping::{FilterClause, FilterGroup, FilterOperand};
use idplane_provisioning::templates::{DirectoryFacts, DirectoryObjectType, source_object_from_graph};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Console;
use crate::api::{Api, ApiFailure};
use crate::error::PageError;
use crate::page::{Chrome, ok, render};
use crate::session::{Form, Session, urlencode};
use model::{FieldError, MappingForm, MappingType, Row};

pub fn routes() -> Router<Console> {
    let base = "/apps/{sp}/provisioning/mappings";
    Router::new()
        .route(base, get(list).post(save_list))
        .route(&format!("{base}/restore"), post(restore_all))
        .route(&format!("{base}/{{om}}"), get(object_page).post(save_object))
        .route(&format!("{base}/{{om}}/restore"), post(restore_object))
        .route(&format!("{base}/{{om}}/attribute"), get(attribute_page).post(save_attribute))
        .route(&format!("{base}/{{om}}/attribute/delete"), post(delete_attribute))
        .route(&format!("{base}/{{om}}/validate"), post(validate))
        .route(&format!("{base}/{{om}}/scope"), get(scope_page))
        .route(&format!("{base}/{{om}}/scope/add"), post(add_filter))
        .route(&format!("{base}/{{om}}/scope/{{group}}/clause"), post(add_clause))
        .route(&format!("{base}/{{om}}/scope/{{group}}/delete"), post(delete_filter))
        .route(&format!("{base}/{{om}}/scope/{{group}}/{{clause}}/delete"), post(delete_clause))
}

use crate::api::segment as seg;

/// The application and its provisioning job, with the job's schema.
struct Job {
    sp: String,
    app_name: String,
    job_id: String,
    template_id: String,
    schema: SynchronizationSchema,
}

impl Job {
    fn base(&self) -> String {
        format!("/console/apps/{}/provisioning/mappings", seg(&self.sp))
    }

    fn api_path(&self, rest: &str) -> String {
        format!("/v1.0/servicePrincipals/{}/synchronization/jobs/{}{rest}", seg(&self.sp), seg(&self.job_id))
    }

    fn version(&self) -> String {
        self.schema.version.clone().unwrap_or_default()
    }

    fn name_of(&self, index: usize) -> Option<String> {
        model::object_mappings(&self.schema).get(index).map(|m| m.label())
    }
}

/// What every page of the area shows above its content.
struct Crumbs {
    sp: String,
    app_name: String,
    /// The application's Provisioning (Overview) page, and its Edit provisioning page.
    overview: String,
    edit: String,
    /// The Mappings page.
    mappings: String,
}

fn crumbs(sp: &str, app_name: &str) -> Crumbs {
    let app = format!("/console/apps/{}", seg(sp));
    Crumbs {
        sp: seg(sp),
        app_name: app_name.to_string(),
        overview: format!("{app}/provisioning"),
        edit: format!("{app}/provisioning/edit"),
        mappings: format!("{app}/provisioning/mappings"),
    }
}

/// The application's name, and its first provisioning job (`None`: it has none yet).
async fn load(console: &Console, session: &Session, sp: &str) -> Result<(String, Option<Job>), PageError> {
    let api = session.api(console);
    let app = api.get(&format!("/v1.0/servicePrincipals/{}", seg(sp))).await?;
    let app_name = app["displayName"].as_str().unwrap_or(sp).to_string();
    let jobs = api.get(&format!("/v1.0/servicePrincipals/{}/synchronization/jobs", seg(sp))).await?;
    let Some(first) = jobs["value"].as_array().and_then(|j| j.first()) else { return Ok((app_name, None)) };
    let job_id = first["id"].as_str().unwrap_or_default().to_string();
    let template_id = first["templateId"].as_str().unwrap_or_default().to_string();
    let mut job =
        Job { sp: sp.to_string(), app_name: app_name.clone(), job_id, template_id, schema: Default::default() };
    let schema = api.get(&job.api_path("/schema")).await?;
    job.schema = serde_json::from_value(schema)
        .map_err(|e| PageError::internal(format!("the job's schema could not be read: {e}")))?;
    Ok((app_name, Some(job)))
}

/// The job, for a page that needs one: no job is an error that says where to create it.
async fn load_job(console: &Console, session: &Session, sp: &str) -> Result<Job, PageError> {
    match load(console, session, sp).await? {
        (_, Some(job)) => Ok(job),
        (name, None) => Err(PageError::not_found(format!(
            "{name} has no provisioning job yet: open Provisioning → Edit provisioning to set provisioning up first."
        ))),
    }
}

fn object_index(job: &Job, om: &str) -> Result<usize, PageError> {
    om.parse::<usize>().ok().filter(|i| *i < model::object_mappings(&job.schema).len()).ok_or_else(|| {
        PageError::not_found("This application has no such object mapping. Open its Mappings page and pick one.")
    })
}

/// Refuses a change made on a page shown before the schema last changed.
fn same_version(job: &Job, version: &str) -> Result<(), String> {
    if job.version() == version.trim() {
        Ok(())
    } else {
        Err("The mappings were changed (by someone else, or in another tab) since this page was shown. Reload the \
             page and make your change again."
            .to_string())
    }
}

async fn put_schema(console: &Console, session: &Session, job: &Job) -> Result<(), ApiFailure> {
    let body = serde_json::to_value(&job.schema).unwrap_or(Value::Null);
    session.api(console).put(&job.api_path("/schema"), &body).await.map(|_| ())
}

/// How a page is shown: as asked (with a notice after a change), or again after a change that was refused.
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
}

impl Outcome {
    fn shown(notice: Option<String>) -> Outcome {
        Outcome { notice, error: None, status: StatusCode::OK }
    }

    fn refused(message: String, status: StatusCode) -> Outcome {
        Outcome { notice: None, error: Some(message), status }
    }

    /// The API refused to save the schema.
    fn not_saved(failure: ApiFailure) -> Outcome {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST);
        Outcome::refused(format!("Not saved: {}", failure.message), status)
    }
}

/// A change of an object mapping posted from its page: the job and the mapping's index, or (the page was stale)
/// the page again, fresh, saying so.
enum Begun {
    Go(Job, usize),
    Stale(Response),
}

/// The job and the object mapping `om` of a form posted on a page that showed the schema's `version`.
async fn begin(console: &Console, session: &Session, sp: &str, om: &str, version: &str) -> Result<Begun, PageError> {
    let job = load_job(console, session, sp).await?;
    let index = object_index(&job, om)?;
    match same_version(&job, version) {
        Ok(()) => Ok(Begun::Go(job, index)),
        Err(m) => Ok(Begun::Stale(
            object_response(console, session, sp, om, Outcome::refused(m, StatusCode::CONFLICT)).await?,
        )),
    }
}

/// Saves the changed schema and goes back to the Attribute Mapping page with `notice`, or shows it with what the
/// API said.
async fn finish(
    console: &Console,
    session: &Session,
    job: &Job,
    index: usize,
    notice: &str,
) -> Result<Response, PageError> {
    match put_schema(console, session, job).await {
        Ok(()) => Ok(see_other(&format!("{}/{index}", job.base()), notice)),
        Err(failure) => {
            object_response(console, session, &job.sp, &index.to_string(), Outcome::not_saved(failure)).await
        }
    }
}

use crate::page::see_other;

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// Mappings: the object mappings of the job.

struct ObjectRow {
    index: usize,
    name: String,
    enabled: bool,
    source: String,
    target: String,
}

#[derive(Template)]
#[template(path = "mappings/list.html")]
struct ListPage {
    chrome: Chrome,
    crumbs: Crumbs,
    has_job: bool,
    rows: Vec<ObjectRow>,
    version: String,
    error: Option<String>,
}

async fn list(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    list_response(&console, &session, &sp, Outcome::shown(q.notice)).await
}

async fn list_response(
    console: &Console,
    session: &Session,
    sp: &str,
    outcome: Outcome,
) -> Result<Response, PageError> {
    let (app_name, job) = load(console, session, sp).await?;
    let chrome = session.chrome(format!("Mappings · {app_name}"), "apps").with_notice(outcome.notice);
    let rows = job
        .as_ref()
        .map(|job| {
            model::object_mappings(&job.schema)
                .into_iter()
                .enumerate()
                .map(|(index, m)| ObjectRow {
                    index,
                    name: m.label(),
                    enabled: m.enabled,
                    source: m.source_object_name.clone(),
                    target: m.target_object_name.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    render(
        outcome.status,
        &ListPage {
            chrome,
            crumbs: crumbs(sp, &app_name),
            has_job: job.is_some(),
            rows,
            version: job.as_ref().map(Job::version).unwrap_or_default(),
            error: outcome.error,
        },
    )
}

/// Enabled Yes/No of every object mapping (`enabled_{index}`), in one save.
async fn save_list(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let mut job = load_job(&console, &session, &sp).await?;
    let version = fields.iter().find(|(k, _)| k == "version").map(|(_, v)| v.as_str()).unwrap_or("");
    if let Err(m) = same_version(&job, version) {
        return list_response(&console, &session, &sp, Outcome::refused(m, StatusCode::CONFLICT)).await;
    }
    let mut changed = 0;
    for (key, value) in &fields {
        let Some(index) = key.strip_prefix("enabled_").and_then(|i| i.parse::<usize>().ok()) else { continue };
        if let Some(m) = model::object_mapping_mut(&mut job.schema, index) {
            let on = value == "Yes";
            changed += usize::from(m.enabled != on);
            m.enabled = on;
        }
    }
    let notice = if changed == 0 { "Saved: nothing changed." } else { "Saved." };
    finish_list(&console, &session, &job, notice).await
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VersionForm {
    version: String,
}

/// The job's template's schema: the default mappings.
async fn template_schema(console: &Console, session: &Session, job: &Job) -> Result<SynchronizationSchema, PageError> {
    let path = format!("/v1.0/servicePrincipals/{}/synchronization/templates/{}", seg(&job.sp), seg(&job.template_id));
    let template = session.api(console).get(&path).await?;
    serde_json::from_value(template["schema"].clone())
        .map_err(|e| PageError::internal(format!("the template's schema could not be read: {e}")))
}

/// Gives the object mapping `index` its template's attribute mappings and target object actions back (its
/// Enabled and its scoping filters stay); false when the template has no such object mapping.
fn restore(schema: &mut SynchronizationSchema, template: &SynchronizationSchema, index: usize) -> bool {
    let Some(mapping) = model::object_mapping_mut(schema, index) else { return false };
    let default = model::object_mappings(template).into_iter().find(|t| {
        t.source_object_name.eq_ignore_ascii_case(&mapping.source_object_name)
            && t.target_object_name.eq_ignore_ascii_case(&mapping.target_object_name)
    });
    let Some(default) = default else { return false };
    mapping.attribute_mappings = default.attribute_mappings.clone();
    mapping.flow_types = default.flow_types;
    true
}

async fn restore_all(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, form): Form<VersionForm>,
) -> Result<Response, PageError> {
    let mut job = load_job(&console, &session, &sp).await?;
    if let Err(m) = same_version(&job, &form.version) {
        return list_response(&console, &session, &sp, Outcome::refused(m, StatusCode::CONFLICT)).await;
    }
    let template = template_schema(&console, &session, &job).await?;
    let count = model::object_mappings(&job.schema).len();
    for index in 0..count {
        restore(&mut job.schema, &template, index);
    }
    finish_list(&console, &session, &job, "The default mappings are restored.").await
}

/// Saves the changed schema and goes back to the Mappings page with `notice`, or shows it with what the API said.
async fn finish_list(console: &Console, session: &Session, job: &Job, notice: &str) -> Result<Response, PageError> {
    match put_schema(console, session, job).await {
        Ok(()) => Ok(see_other(&job.base(), notice)),
        Err(failure) => list_response(console, session, &job.sp, Outcome::not_saved(failure)).await,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Attribute Mapping: one object mapping.

/// The Edit Attribute form of one mapping (or of a new one), in a dialog or on its own page.
struct Dialog {
    /// The prefix of the form's element ids.
    id: String,
    title: String,
    form: MappingForm,
    errors: Vec<FieldError>,
    /// What the API said when it refused the change.
    error: Option<String>,
    /// Its own page (the no-JavaScript way to it), where it posts.
    page: String,
    /// Where expressions are checked as one types.
    validate: String,
    /// The Attribute Mapping page.
    back: String,
    in_dialog: bool,
    sample_label: &'static str,
    sample_hint: &'static str,
}

impl Dialog {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    fn has_error(&self, field: &str) -> bool {
        self.error_of(field).is_some()
    }

    fn type_options(&self) -> Vec<(&'static str, bool)> {
        let kind = self.form.kind();
        MappingType::ALL.into_iter().map(|t| (t.label(), t == kind)).collect()
    }

    /// The names of a select, the current one selected (and listed even when the schema does not define it).
    fn options(&self, names: &[String], current: &str) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = names.iter().map(|n| (n.clone(), n == current)).collect();
        if !current.is_empty() && !names.iter().any(|n| n == current) {
            out.push((current.to_string(), true));
        }
        out
    }

    fn apply_options(&self) -> Vec<(&'static str, &'static str, bool)> {
        let current = AttributeFlowType::parse(&self.form.apply).unwrap_or(AttributeFlowType::Always);
        let mut flows = vec![AttributeFlowType::Always, AttributeFlowType::ObjectAddOnly];
        if !flows.contains(&current) {
            flows.push(current);
        }
        flows.into_iter().map(|f| (f.as_str(), model::apply_label(f), f == current)).collect()
    }
}

fn dialog_for(job: &Job, index: usize, position: Option<usize>, form: MappingForm, in_dialog: bool) -> Dialog {
    let back = format!("{}/{index}", job.base());
    let page = format!("{back}/attribute");
    let group = model::object_mappings(&job.schema)
        .get(index)
        .is_some_and(|m| m.source_object_name.eq_ignore_ascii_case("Group"));
    Dialog {
        id: position.map(|p| format!("m{p}")).unwrap_or_else(|| "new".to_string()),
        title: if form.original.is_empty() {
            "Add New Mapping".to_string()
        } else {
            format!("Edit Attribute: {}", form.original)
        },
        form,
        errors: Vec::new(),
        error: None,
        page,
        validate: format!("{back}/validate"),
        back,
        in_dialog,
        sample_label: if group { "Sample group" } else { "Sample user" },
        sample_hint: if group { "a group's display name or id" } else { "a user principal name or id" },
    }
}

#[derive(Template)]
#[template(path = "mappings/object.html")]
struct ObjectPage {
    chrome: Chrome,
    crumbs: Crumbs,
    name: String,
    enabled: bool,
    flows: ObjectFlowTypes,
    source_object: String,
    target_object: String,
    scope_filters: usize,
    rows: Vec<Row>,
    dialogs: Vec<Dialog>,
    sources: Vec<String>,
    targets: Vec<String>,
    /// The functions of the expression language, as signatures.
    functions: Vec<String>,
    /// Objects to try expressions on.
    samples: Vec<String>,
    version: String,
    action: String,
    error: Option<String>,
}

async fn object_page(
    State(console): State<Console>,
    session: Session,
    Path((sp, om)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    object_response(&console, &session, &sp, &om, Outcome::shown(q.notice)).await
}

async fn object_response(
    console: &Console,
    session: &Session,
    sp: &str,
    om: &str,
    outcome: Outcome,
) -> Result<Response, PageError> {
    let job = load_job(console, session, sp).await?;
    let index = object_index(&job, om)?;
    let mapping = model::object_mappings(&job.schema)[index].clone();
    let version = job.version();
    let mut dialogs: Vec<Dialog> = mapping
        .attribute_mappings
        .iter()
        .enumerate()
        .map(|(i, m)| dialog_for(&job, index, Some(i), MappingForm::of(m, &version), true))
        .collect();
    dialogs.push(dialog_for(&job, index, None, MappingForm::blank(&version), true));
    let page = ObjectPage {
        chrome: session.chrome(format!("Attribute Mapping · {}", mapping.label()), "apps").with_notice(outcome.notice),
        crumbs: crumbs(sp, &job.app_name),
        name: mapping.label(),
        enabled: mapping.enabled,
        flows: mapping.flow_types.unwrap_or(ObjectFlowTypes::ALL),
        source_object: mapping.source_object_name.clone(),
        target_object: mapping.target_object_name.clone(),
        scope_filters: mapping.scope.as_ref().map(|s| s.groups.len()).unwrap_or(0),
        rows: mapping.attribute_mappings.iter().enumerate().map(|(i, m)| Row::of(i, m)).collect(),
        dialogs,
        sources: model::attribute_names(&job.schema, index, true),
        targets: model::attribute_names(&job.schema, index, false),
        functions: functions(console, session, &job).await?,
        samples: samples(console, session, &job, index).await,
        version,
        action: format!("{}/{index}", job.base()),
        error: outcome.error,
    };
    render(outcome.status, &page)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ObjectForm {
    enabled: String,
    create: Option<String>,
    update: Option<String>,
    delete: Option<String>,
    version: String,
}

/// Save: Enabled and the Target Object Actions.
async fn save_object(
    State(console): State<Console>,
    Path((sp, om)): Path<(String, String)>,
    Form(session, form): Form<ObjectForm>,
) -> Result<Response, PageError> {
    let (mut job, index) = match begin(&console, &session, &sp, &om, &form.version).await? {
        Begun::Go(job, index) => (job, index),
        Begun::Stale(page) => return Ok(page),
    };
    if let Some(m) = model::object_mapping_mut(&mut job.schema, index) {
        m.enabled = form.enabled != "No";
        m.flow_types = Some(ObjectFlowTypes {
            add: form.create.is_some(),
            update: form.update.is_some(),
            delete: form.delete.is_some(),
        });
    }
    finish(&console, &session, &job, index, "Saved.").await
}

async fn restore_object(
    State(console): State<Console>,
    Path((sp, om)): Path<(String, String)>,
    Form(session, form): Form<VersionForm>,
) -> Result<Response, PageError> {
    let (mut job, index) = match begin(&console, &session, &sp, &om, &form.version).await? {
        Begun::Go(job, index) => (job, index),
        Begun::Stale(page) => return Ok(page),
    };
    let template = template_schema(&console, &session, &job).await?;
    if !restore(&mut job.schema, &template, index) {
        return Err(PageError::not_found(
            "The application's template has no default mappings for this object mapping: edit its mappings instead.",
        ));
    }
    finish(&console, &session, &job, index, "The default mappings are restored.").await
}

// ---------------------------------------------------------------------------------------------------------------
// Edit Attribute: its own page (the dialog's no-JavaScript way), saving, deleting, and validating as one types.

#[derive(Template)]
#[template(path = "mappings/attribute.html")]
struct AttributePage {
    chrome: Chrome,
    crumbs: Crumbs,
    name: String,
    dialogs: Vec<Dialog>,
    sources: Vec<String>,
    targets: Vec<String>,
    /// The functions of the expression language, as signatures.
    functions: Vec<String>,
    /// Objects to try expressions on.
    samples: Vec<String>,
}

#[derive(Deserialize)]
pub struct TargetQuery {
    target: Option<String>,
}

/// The expression language's functions (`GET .../schema/functions`), as signatures for the Edit Attribute form.
async fn functions(console: &Console, session: &Session, job: &Job) -> Result<Vec<String>, PageError> {
    let answer = session.api(console).get(&job.api_path("/schema/functions")).await?;
    Ok(answer["value"].as_array().into_iter().flatten().map(model::signature).collect())
}

/// A few objects of the directory to pick the sample from (user principal names, or groups' display names).
async fn samples(console: &Console, session: &Session, job: &Job, index: usize) -> Vec<String> {
    let group = model::object_mappings(&job.schema)
        .get(index)
        .is_some_and(|m| m.source_object_name.eq_ignore_ascii_case("Group"));
    let (collection, key) = if group { ("groups", "displayName") } else { ("users", "userPrincipalName") };
    let path = format!("/v1.0/{collection}?$top={SAMPLES}&$select=id,{key}");
    let answer = session.api(console).get(&path).await.unwrap_or_default();
    answer["value"].as_array().into_iter().flatten().filter_map(|o| o[key].as_str().map(str::to_string)).collect()
}

/// How many objects the sample field offers.
const SAMPLES: usize = 20;

fn attribute_response(
    job: &Job,
    index: usize,
    chrome: Chrome,
    status: StatusCode,
    dialog: Dialog,
    functions: Vec<String>,
    samples: Vec<String>,
) -> Result<Response, PageError> {
    render(
        status,
        &AttributePage {
            chrome,
            crumbs: crumbs(&job.sp, &job.app_name),
            name: job.name_of(index).unwrap_or_default(),
            dialogs: vec![dialog],
            sources: model::attribute_names(&job.schema, index, true),
            targets: model::attribute_names(&job.schema, index, false),
            functions,
            samples,
        },
    )
}

async fn attribute_page(
    State(console): State<Console>,
    session: Session,
    Path((sp, om)): Path<(String, String)>,
    Query(q): Query<TargetQuery>,
) -> Result<Response, PageError> {
    let job = load_job(&console, &session, &sp).await?;
    let index = object_index(&job, &om)?;
    let mapping = model::object_mappings(&job.schema)[index];
    let version = job.version();
    let (position, form) = match q.target.as_deref().filter(|t| !t.is_empty()) {
        None => (None, MappingForm::blank(&version)),
        Some(target) => {
            let Some(position) = mapping.attribute_mappings.iter().position(|m| m.target_attribute_name == target)
            else {
                return Err(PageError::not_found(format!(
                    "{} has no mapping of the target attribute {target}: open its Attribute Mapping page.",
                    mapping.label()
                )));
            };
            (Some(position), MappingForm::of(&mapping.attribute_mappings[position], &version))
        }
    };
    let dialog = dialog_for(&job, index, position, form, false);
    let chrome = session.chrome(dialog.title.clone(), "apps");
    let (catalogue, samples) =
        (functions(&console, &session, &job).await?, samples(&console, &session, &job, index).await);
    attribute_response(&job, index, chrome, StatusCode::OK, dialog, catalogue, samples)
}

async fn save_attribute(
    State(console): State<Console>,
    Path((sp, om)): Path<(String, String)>,
    Form(session, form): Form<MappingForm>,
) -> Result<Response, PageError> {
    let mut job = load_job(&console, &session, &sp).await?;
    let index = object_index(&job, &om)?;
    let catalogue = functions(&console, &session, &job).await?;
    let picks = samples(&console, &session, &job, index).await;
    let refuse = |job: &Job, status: StatusCode, form: MappingForm, errors: Vec<FieldError>, error: Option<String>| {
        let mapping = model::object_mappings(&job.schema)[index];
        let position = mapping.attribute_mappings.iter().position(|m| m.target_attribute_name == form.original);
        let mut dialog = dialog_for(job, index, position, form, false);
        dialog.errors = errors;
        dialog.error = error;
        let chrome = session.chrome(dialog.title.clone(), "apps");
        attribute_response(job, index, chrome, status, dialog, catalogue.clone(), picks.clone())
    };
    if let Err(m) = same_version(&job, &form.version) {
        return refuse(&job, StatusCode::CONFLICT, form, Vec::new(), Some(m));
    }
    let mapping = model::object_mappings(&job.schema)[index];
    let original = mapping.attribute_mappings.iter().position(|m| m.target_attribute_name == form.original);
    if !form.original.is_empty() && original.is_none() {
        let message = format!("The mapping of {} is gone (deleted meanwhile?): add it anew.", form.original);
        return refuse(&job, StatusCode::CONFLICT, form, Vec::new(), Some(message));
    }
    let base = original.map(|p| &mapping.attribute_mappings[p]);
    let new = match form.to_mapping(base) {
        Ok(m) => m,
        Err(errors) => return refuse(&job, StatusCode::UNPROCESSABLE_ENTITY, form, errors, None),
    };
    let taken = mapping
        .attribute_mappings
        .iter()
        .enumerate()
        .any(|(i, m)| Some(i) != original && m.target_attribute_name == new.target_attribute_name);
    if taken {
        let error = FieldError {
            field: "target",
            message: format!(
                "{} is mapped already: choose another target attribute, or edit that mapping.",
                new.target_attribute_name
            ),
        };
        return refuse(&job, StatusCode::CONFLICT, form, vec![error], None);
    }
    if form.kind() == MappingType::Expression {
        let parsed = session
            .api(&console)
            .post(&job.api_path("/schema/parseExpression"), &json!({"expression": form.expression.trim()}))
            .await?;
        if parsed["parsingSucceeded"].as_bool() != Some(true) {
            let message =
                format!("Fix the expression: {}", parsed["error"]["message"].as_str().unwrap_or("it cannot be read"));
            let error = FieldError { field: "expression", message };
            return refuse(&job, StatusCode::UNPROCESSABLE_ENTITY, form, vec![error], None);
        }
    }
    let target = new.target_attribute_name.clone();
    if let Some(m) = model::object_mapping_mut(&mut job.schema, index) {
        match original {
            Some(p) => m.attribute_mappings[p] = new,
            None => m.attribute_mappings.push(new),
        }
    }
    if let Err(failure) = put_schema(&console, &session, &job).await {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST);
        let fresh = load_job(&console, &session, &sp).await?;
        let message = format!("The mapping was not saved: {}", failure.message);
        return refuse(&fresh, status, form, Vec::new(), Some(message));
    }
    Ok(see_other(&format!("{}/{index}", job.base()), &format!("Saved the mapping of {target}.")))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    target: String,
    version: String,
}

async fn delete_attribute(
    State(console): State<Console>,
    Path((sp, om)): Path<(String, String)>,
    Form(session, form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    let (mut job, index) = match begin(&console, &session, &sp, &om, &form.version).await? {
        Begun::Go(job, index) => (job, index),
        Begun::Stale(page) => return Ok(page),
    };
    let Some(m) = model::object_mapping_mut(&mut job.schema, index) else {
        return Err(PageError::not_found("No such object mapping."));
    };
    let before = m.attribute_mappings.len();
    m.attribute_mappings.retain(|a| a.target_attribute_name != form.target);
    if m.attribute_mappings.len() == before {
        return Err(PageError::not_found(format!(
            "There is no mapping of {} to delete: reload the page.",
            form.target
        )));
    }
    finish(&console, &session, &job, index, &format!("Deleted the mapping of {}.", form.target)).await
}

/// The answer to an expression typed in the Edit Attribute dialog.
#[derive(Template)]
#[template(path = "mappings/validation.html")]
struct Validation {
    /// The expression checked.
    expression: String,
    /// Nothing to check yet (another mapping type, or an empty expression).
    idle: Option<String>,
    valid: bool,
    error: String,
    /// The expression and a caret under the character the error points at.
    pointer: Option<(String, String)>,
    tree: String,
    /// Who the expression was tried on.
    sample: Option<String>,
    /// Why it was not tried on anyone.
    no_sample: Option<String>,
    result: Option<String>,
    evaluation_error: Option<String>,
}

impl Validation {
    fn idle(message: &str) -> Validation {
        Validation {
            expression: String::new(),
            idle: Some(message.to_string()),
            valid: false,
            error: String::new(),
            pointer: None,
            tree: String::new(),
            sample: None,
            no_sample: None,
            result: None,
            evaluation_error: None,
        }
    }
}

/// The Graph properties of a user read as source attributes (`source_object_from_graph`).
const USER_SELECT: &str = "id,userPrincipalName,mail,mailNickname,givenName,surname,displayName,jobTitle,department,\
companyName,employeeId,employeeType,streetAddress,city,state,postalCode,country,preferredLanguage,\
usageLocation,userType,accountEnabled,mobilePhone,faxNumber,officeLocation,businessPhones,proxyAddresses,otherMails";
const GROUP_SELECT: &str = "id,displayName,description,mailNickname,mail,mailEnabled,securityEnabled";

/// The sample object of the directory an expression is tried on: the one named (a user by user principal name or
/// id, a group by id or display name), or the first; each a lookup the store answers from an index, never a scan.
/// Its label and its `testInputObject`; `Err`: why there is none.
async fn sample_object(api: &Api<'_>, source_object: &str, wanted: &str) -> Result<(String, Value), String> {
    let group = source_object.eq_ignore_ascii_case("Group");
    let (collection, select, kind, key, what) = if group {
        ("groups", GROUP_SELECT, DirectoryObjectType::Group, "displayName", "group")
    } else {
        ("users", USER_SELECT, DirectoryObjectType::User, "userPrincipalName", "user")
    };
    let wanted = wanted.trim();
    let first = |answer: Value| answer["value"].as_array().and_then(|v| v.first()).cloned();
    let object = if wanted.is_empty() {
        let answer = api.get(&format!("/v1.0/{collection}?$top=1&$select={select}")).await;
        let answer = answer.map_err(|f| format!("The sample could not be read: {}", f.message))?;
        first(answer)
            .ok_or_else(|| format!("There is no {what} in the directory to try the expression on: create one first."))?
    } else {
        match api.get(&format!("/v1.0/{collection}/{}?$select={select}", seg(wanted))).await {
            Ok(object) => object,
            Err(f) if f.status == 404 && group => {
                let filter = urlencode(&format!("displayName eq {}", crate::api::odata_string(wanted)));
                let answer = api.get(&format!("/v1.0/groups?$top=1&$select={select}&$filter={filter}")).await;
                answer.ok().and_then(first).ok_or_else(|| no_such(what, wanted, key))?
            }
            Err(f) if f.status == 404 || f.status == 400 => return Err(no_such(what, wanted, key)),
            Err(f) => return Err(format!("The sample could not be read: {}", f.message)),
        }
    };
    let facts = DirectoryFacts { assigned: true, ..DirectoryFacts::default() };
    let source = source_object_from_graph(kind, &object, &facts).map_err(|e| e.to_string())?;
    let properties: Vec<Value> =
        source.attributes.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| json!({"key": k, "value": v})).collect();
    let label = object[key].as_str().unwrap_or(&source.id).to_string();
    Ok((label, json!({"definition": null, "properties": properties})))
}

async fn validate(
    State(console): State<Console>,
    Path((sp, om)): Path<(String, String)>,
    Form(session, form): Form<MappingForm>,
) -> Result<Response, PageError> {
    let job = load_job(&console, &session, &sp).await?;
    let index = object_index(&job, &om)?;
    let text = form.expression.trim();
    if text.is_empty() {
        return ok(&Validation::idle("Type an expression: it is checked as you type and tried on a sample user."));
    }
    let api = session.api(&console);
    let source_object = model::object_mappings(&job.schema)[index].source_object_name.clone();
    let sample = sample_object(&api, &source_object, &form.sample).await;
    let mut body = json!({"expression": text});
    if let Ok((_, input)) = &sample {
        body["testInputObject"] = input.clone();
    }
    let parsed = api.post(&job.api_path("/schema/parseExpression"), &body).await?;
    let mut answer = Validation::idle("");
    answer.idle = None;
    answer.expression = text.to_string();
    if parsed["parsingSucceeded"].as_bool() != Some(true) {
        answer.error = parsed["error"]["message"].as_str().unwrap_or("the expression cannot be read").to_string();
        answer.pointer = model::error_position(&answer.error).map(|p| (text.to_string(), model::caret(text, p)));
        return ok(&answer);
    }
    answer.valid = true;
    answer.tree = model::tree_text(&parsed["parsedExpression"]);
    match sample {
        Ok((label, _)) => {
            answer.sample = Some(label);
            if parsed["evaluationSucceeded"].as_bool() == Some(true) {
                let values: Vec<String> = parsed["evaluationResult"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                    .collect();
                answer.result = Some(values.join(", "));
            } else {
                let why = parsed["error"]["message"].as_str().unwrap_or("it could not be evaluated");
                answer.evaluation_error = Some(why.to_string());
            }
        }
        Err(why) => answer.no_sample = Some(why),
    }
    ok(&answer)
}

fn no_such(what: &str, wanted: &str, key: &str) -> String {
    format!("No {what} is {wanted}: type a {key} or an id of the directory, or leave it empty for the first.")
}

// ---------------------------------------------------------------------------------------------------------------
// Scoping filters.

struct ClauseView {
    index: usize,
    attribute: String,
    operator: String,
    value: String,
}

struct GroupView {
    index: usize,
    name: String,
    clauses: Vec<ClauseView>,
}

struct OperatorView {
    name: String,
    label: String,
    unary: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClauseForm {
    title: String,
    attribute: String,
    operator: String,
    value: String,
    version: String,
}

#[derive(Template)]
#[template(path = "mappings/scope.html")]
struct ScopePage {
    chrome: Chrome,
    crumbs: Crumbs,
    index: usize,
    name: String,
    groups: Vec<GroupView>,
    sources: Vec<String>,
    operators: Vec<OperatorView>,
    form: ClauseForm,
    /// Which form the error is about: `add`, or a filter's index.
    error_at: String,
    error: Option<String>,
    version: String,
    action: String,
}

async fn operators(console: &Console, session: &Session, job: &Job) -> Result<Vec<OperatorView>, PageError> {
    let answer = session.api(console).get(&job.api_path("/schema/filterOperators")).await?;
    Ok(answer["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let name = o["name"].as_str()?.to_string();
            Some(OperatorView { label: model::operator_label(&name), unary: o["arity"] == "Unary", name })
        })
        .collect())
}

/// How the scoping filters page is shown: after a change (a notice), or again with what to fix in a form.
struct Shown {
    notice: Option<String>,
    form: ClauseForm,
    /// Which form the error is about (`add`, or a filter's index) and the error.
    error: Option<(String, String)>,
    status: StatusCode,
}

impl Shown {
    fn refused(form: ClauseForm, at: String, message: String, status: StatusCode) -> Shown {
        Shown { notice: None, form, error: Some((at, message)), status }
    }
}

async fn scope_response(
    console: &Console,
    session: &Session,
    job: &Job,
    index: usize,
    shown: Shown,
) -> Result<Response, PageError> {
    let Shown { notice, form, error, status } = shown;
    let mapping = model::object_mappings(&job.schema)[index];
    let groups = mapping
        .scope
        .as_ref()
        .map(|s| &s.groups[..])
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .map(|(g, group)| GroupView {
            index: g,
            name: if group.name.is_empty() { format!("Scoping filter {}", g + 1) } else { group.name.clone() },
            clauses: group
                .clauses
                .iter()
                .enumerate()
                .map(|(c, clause)| ClauseView {
                    index: c,
                    attribute: clause.source_operand_name.clone(),
                    operator: model::operator_label(&clause.operator_name),
                    value: clause.target_operand.values.join(", "),
                })
                .collect(),
        })
        .collect();
    let (error_at, error) = match error {
        Some((at, message)) => (at, Some(message)),
        None => (String::new(), None),
    };
    let form = ClauseForm { version: job.version(), ..form };
    render(
        status,
        &ScopePage {
            chrome: session.chrome(format!("Scoping filters · {}", mapping.label()), "apps").with_notice(notice),
            crumbs: crumbs(&job.sp, &job.app_name),
            index,
            name: mapping.label(),
            groups,
            sources: model::attribute_names(&job.schema, index, true),
            operators: operators(console, session, job).await?,
            form,
            error_at,
            error,
            version: job.version(),
            action: format!("{}/{index}/scope", job.base()),
        },
    )
}

async fn scope_page(
    State(console): State<Console>,
    session: Session,
    Path((sp, om)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let job = load_job(&console, &session, &sp).await?;
    let index = object_index(&job, &om)?;
    let shown = Shown { notice: q.notice, form: ClauseForm::default(), error: None, status: StatusCode::OK };
    scope_response(&console, &session, &job, index, shown).await
}

/// The clause a form describes, or what to fix; unary operators take no value.
fn clause_of(form: &ClauseForm, operators: &[OperatorView]) -> Result<FilterClause, String> {
    let attribute = form.attribute.trim();
    if attribute.is_empty() {
        return Err("Choose the source attribute the clause tests.".into());
    }
    let Some(op) = operators.iter().find(|o| o.name == form.operator) else {
        return Err("Choose an operator.".into());
    };
    let values = if op.unary {
        Vec::new()
    } else if form.value.trim().is_empty() {
        return Err(format!("{} compares with a value: type it.", op.label));
    } else {
        vec![form.value.trim().to_string()]
    };
    Ok(FilterClause {
        operator_name: op.name.clone(),
        source_operand_name: attribute.to_string(),
        target_operand: FilterOperand { values },
    })
}

/// Changes the scoping filters of the object mapping and saves; what the API refused is shown on the page again.
async fn change_scope(
    console: &Console,
    session: &Session,
    sp: &str,
    om: &str,
    form: ClauseForm,
    at: String,
    change: impl FnOnce(&mut Vec<FilterGroup>, &[OperatorView]) -> Result<String, String>,
) -> Result<Response, PageError> {
    let mut job = load_job(console, session, sp).await?;
    let index = object_index(&job, om)?;
    if let Err(m) = same_version(&job, &form.version) {
        let shown = Shown::refused(form, at, m, StatusCode::CONFLICT);
        return scope_response(console, session, &job, index, shown).await;
    }
    let ops = operators(console, session, &job).await?;
    let Some(mapping) = model::object_mapping_mut(&mut job.schema, index) else {
        return Err(PageError::not_found("No such object mapping."));
    };
    let mut scope = mapping.scope.clone().unwrap_or_default();
    let notice = match change(&mut scope.groups, &ops) {
        Ok(notice) => notice,
        Err(message) => {
            let shown = Shown::refused(form, at, message, StatusCode::UNPROCESSABLE_ENTITY);
            return scope_response(console, session, &job, index, shown).await;
        }
    };
    mapping.scope = if scope.is_empty() { None } else { Some(scope) };
    if let Err(failure) = put_schema(console, session, &job).await {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_REQUEST);
        let fresh = load_job(console, session, sp).await?;
        let shown = Shown::refused(form, at, format!("Not saved: {}", failure.message), status);
        return scope_response(console, session, &fresh, index, shown).await;
    }
    Ok(see_other(&format!("{}/{index}/scope", job.base()), &notice))
}

async fn add_filter(
    State(console): State<Console>,
    Path((sp, om)): Path<(String, String)>,
    Form(session, form): Form<ClauseForm>,
) -> Result<Response, PageError> {
    let f = form.clone();
    change_scope(&console, &session, &sp, &om, form, "add".into(), move |groups, ops| {
        let title = f.title.trim();
        if title.is_empty() {
            return Err("Give the scoping filter a title (e.g. \"Sales in US\").".into());
        }
        let clause = clause_of(&f, ops)?;
        groups.push(FilterGroup { name: title.to_string(), clauses: vec![clause] });
        Ok(format!("Added the scoping filter {title}."))
    })
    .await
}

async fn add_clause(
    State(console): State<Console>,
    Path((sp, om, group)): Path<(String, String, usize)>,
    Form(session, form): Form<ClauseForm>,
) -> Result<Response, PageError> {
    let f = form.clone();
    change_scope(&console, &session, &sp, &om, form, group.to_string(), move |groups, ops| {
        let clause = clause_of(&f, ops)?;
        let g = groups.get_mut(group).ok_or("That scoping filter is gone: reload the page.")?;
        g.clauses.push(clause);
        Ok(format!("Added a clause to {}.", g.name))
    })
    .await
}

async fn delete_filter(
    State(console): State<Console>,
    Path((sp, om, group)): Path<(String, String, usize)>,
    Form(session, form): Form<ClauseForm>,
) -> Result<Response, PageError> {
    change_scope(&console, &session, &sp, &om, form, group.to_string(), move |groups, _| {
        if group >= groups.len() {
            return Err("That scoping filter is gone: reload the page.".into());
        }
        let removed = groups.remove(group);
        Ok(format!("Deleted the scoping filter {}.", removed.name))
    })
    .await
}

async fn delete_clause(
    State(console): State<Console>,
    Path((sp, om, group, clause)): Path<(String, String, usize, usize)>,
    Form(session, form): Form<ClauseForm>,
) -> Result<Response, PageError> {
    change_scope(&console, &session, &sp, &om, form, group.to_string(), move |groups, _| {
        let g = groups.get_mut(group).ok_or("That scoping filter is gone: reload the page.")?;
        if clause >= g.clauses.len() {
            return Err("That clause is gone: reload the page.".into());
        }
        g.clauses.remove(clause);
        if g.clauses.is_empty() {
            let removed = groups.remove(group);
            return Ok(format!("Deleted the last clause, and so the scoping filter {}.", removed.name));
        }
        Ok("Deleted the clause.".to_string())
    })
    .await
}
