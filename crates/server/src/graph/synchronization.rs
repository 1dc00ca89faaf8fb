//! `/servicePrincipals/{id}/synchronization`: the provisioning configuration of an enterprise application. Its
//! synchronization templates, its jobs (create from a template, read, change the schedule, delete), each job's
//! schema (read; replace by `PUT` or `PATCH`, validated against the template), the expression language's
//! `parseExpression`, `functions` and the scoping filters' `filterOperators`, the application's secrets (the tenant
//! URL and secret token, sealed at rest, masked when read), and Test Connection (`validateCredentials`), which
//! sends Entra's probe to the target over SCIM.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use idplane_core::error::StoreError;
use idplane_expr::{Environment, Expr};
use idplane_provisioning::application::{self, ServicePrincipal};
use idplane_provisioning::job::{self, SyncJob};
use idplane_provisioning::schema::expressions::{Language, canonicalize};
use idplane_provisioning::schema::validate::{resolve, validate};
use idplane_provisioning::schema::{AttributeType, ObjectDefinition, SynchronizationSchema};
use idplane_provisioning::secrets::{self, Credentials};
use idplane_provisioning::templates::{self, SynchronizationTemplate};
use idplane_provisioning::{Error as SchemaError, ProvisioningError, ids, scoping};
use idplane_scim_client::{DEFAULT_MATCHING_ATTRIBUTE, ScimClient, SecretToken, TenantUrl};
use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::{Caller, collection, entity, json_response, no_content, read_body};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    let base = "/v1.0/servicePrincipals/{id}/synchronization";
    Router::new()
        .route(base, get(synchronization))
        .route(&format!("{base}/templates"), get(list_templates))
        .route(&format!("{base}/templates/{{template}}"), get(get_template))
        .route(&format!("{base}/secrets"), get(get_secrets).put(put_secrets))
        .route(&format!("{base}/jobs"), get(list_jobs).post(create_job))
        .route(&format!("{base}/jobs/validateCredentials"), post(validate_new_credentials))
        .route(&format!("{base}/jobs/{{job}}"), get(get_job).patch(patch_job).delete(delete_job))
        .route(&format!("{base}/jobs/{{job}}/validateCredentials"), post(validate_credentials))
        .route(&format!("{base}/jobs/{{job}}/start"), post(super::runs::start))
        .route(&format!("{base}/jobs/{{job}}/pause"), post(super::runs::pause))
        .route(&format!("{base}/jobs/{{job}}/restart"), post(super::runs::restart))
        .route(&format!("{base}/jobs/{{job}}/provisionOnDemand"), post(super::runs::provision_on_demand))
        .route(&format!("{base}/jobs/{{job}}/preview"), post(super::runs::preview))
        .route(&format!("{base}/jobs/{{job}}/drift"), get(super::runs::drift))
        .route(&format!("{base}/jobs/{{job}}/cycles"), get(super::runs::cycles))
        .route(&format!("{base}/jobs/{{job}}/schema"), get(get_schema).put(put_schema).patch(put_schema))
        .route(&format!("{base}/jobs/{{job}}/schema/parseExpression"), post(parse_expression))
        .route(&format!("{base}/jobs/{{job}}/schema/functions"), get(functions))
        .route(&format!("{base}/jobs/{{job}}/schema/filterOperators"), get(filter_operators))
}

pub(super) type Res = Result<Response, GraphError>;

pub(super) async fn service_principal(s: &AppState, c: &Caller, id: &str) -> Result<ServicePrincipal, GraphError> {
    Ok(application::service_principal(s.provisioning.as_ref(), &c.tenant.id, id).await?)
}

/// The synchronization template jobs of this service principal start from: its gallery entry's.
fn template_of(sp: &ServicePrincipal) -> Result<Option<SynchronizationTemplate>, GraphError> {
    Ok(templates::of_service_principal(sp)?)
}

/// The template of a job.
fn job_template(sp: &ServicePrincipal, job: &SyncJob) -> Result<SynchronizationTemplate, GraphError> {
    Ok(templates::of_job(sp, job)?)
}

fn to_map<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

pub(super) async fn load_job(s: &AppState, c: &Caller, sp: &ServicePrincipal, id: &str) -> Result<SyncJob, GraphError> {
    s.provisioning
        .job(&c.tenant.id, &sp.id, id)
        .await?
        .ok_or_else(|| ProvisioningError::not_found("synchronizationJob", id).into())
}

/// A job's schema: its own, or its template's; with the job's id, as Graph shows it.
fn schema_of(sp: &ServicePrincipal, job: &SyncJob) -> Result<SynchronizationSchema, GraphError> {
    Ok(templates::job_schema(sp, job)?)
}

async fn synchronization(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let saved = secrets::saved(s.provisioning.as_ref(), &s.secrets, &c.tenant.id, &sp.id).await?;
    let body = json!({"id": sp.id, "secrets": pairs(&saved)});
    Ok(entity(&c, StatusCode::OK, &format!("servicePrincipals('{}')/synchronization/$entity", sp.id), to_map(&body)))
}

async fn list_templates(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let items = template_of(&sp)?.iter().map(|t| Value::Object(to_map(t))).collect();
    Ok(collection(&c, &format!("servicePrincipals('{}')/synchronization/templates", sp.id), items, None, None))
}

async fn get_template(State(s): State<AppState>, c: Caller, Path((id, template)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let t = template_of(&sp)?
        .filter(|t| t.id == template)
        .ok_or_else(|| ProvisioningError::not_found("synchronizationTemplate", template))?;
    Ok(entity(
        &c,
        StatusCode::OK,
        &format!("servicePrincipals('{}')/synchronization/templates/$entity", sp.id),
        to_map(&t),
    ))
}

/// Secrets as a read shows them: `[{"key", "value"}]`, credentials masked.
fn pairs(c: &Credentials) -> Vec<Value> {
    c.masked().into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect()
}

async fn get_secrets(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let saved = secrets::saved(s.provisioning.as_ref(), &s.secrets, &c.tenant.id, &sp.id).await?;
    Ok(collection(&c, &format!("servicePrincipals('{}')/synchronization/secrets", sp.id), pairs(&saved), None, None))
}

/// `PUT .../secrets {"value": [{"key", "value"}]}`: merges by key; an empty value removes the key.
async fn put_secrets(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    // Graph's documentation names the list `credentials`; what it and the SDKs send is `value`.
    let (field, list) = match (body.get("value"), body.get("credentials")) {
        (Some(v), _) => ("value", v),
        (None, Some(v)) => ("credentials", v),
        (None, None) => {
            return Err(ProvisioningError::invalid_property(
                "value",
                "the body is {\"value\": [{\"key\": \"BaseAddress\", \"value\": \"...\"}, ...]}",
            )
            .into());
        }
    };
    let changes = Credentials::from_pairs(list, field)?;
    secrets::put(s.provisioning.as_ref(), &s.secrets, &c.tenant.id, &sp.id, &changes).await?;
    Ok(no_content())
}

async fn list_jobs(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let jobs = s.provisioning.jobs(&c.tenant.id, &sp.id).await?;
    let mut items = Vec::with_capacity(jobs.len());
    for j in &jobs {
        items.push(Value::Object(super::runs::render_job(&s, j).await?));
    }
    Ok(collection(&c, &format!("servicePrincipals('{}')/synchronization/jobs", sp.id), items, None, None))
}

async fn create_job(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    let Some(template_id) = body.get("templateId").and_then(Value::as_str).map(str::trim) else {
        return Err(ProvisioningError::invalid_property(
            "templateId",
            "the body is {\"templateId\": \"...\"}: list the templates with GET .../synchronization/templates",
        )
        .into());
    };
    match template_of(&sp)? {
        Some(t) if t.id != template_id => {
            return Err(ProvisioningError::invalid_property(
                "templateId",
                format!("application '{}' provisions with template '{}', not '{template_id}'", sp.display_name, t.id),
            )
            .into());
        }
        Some(_) => {}
        None => {
            templates::synchronization_template(template_id).map_err(ProvisioningError::from)?;
        }
    }
    let new = job::new(&c.tenant.id, &sp.id, template_id, c.now)?;
    match s.provisioning.insert_job(&new).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ProvisioningError::Conflict(format!(
                "application '{}' has a job of template '{template_id}' already: list its jobs",
                sp.display_name
            ))
            .into());
        }
        Err(e) => return Err(e.into()),
    }
    let context = format!("servicePrincipals('{}')/synchronization/jobs/$entity", sp.id);
    Ok(entity(&c, StatusCode::CREATED, &context, new.render()))
}

async fn get_job(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    Ok(entity(
        &c,
        StatusCode::OK,
        &format!("servicePrincipals('{}')/synchronization/jobs/$entity", sp.id),
        super::runs::render_job(&s, &job).await?,
    ))
}

/// How often a job write is retried when another writer changed the job meanwhile.
const RETRIES: usize = 5;

/// Applies `change` to the job and writes it, retrying on a concurrent change.
pub(super) async fn change_job(
    s: &AppState,
    c: &Caller,
    sp: &ServicePrincipal,
    job_id: &str,
    change: impl Fn(&mut SyncJob) -> Result<(), GraphError>,
) -> Result<SyncJob, GraphError> {
    for _ in 0..RETRIES {
        let mut job = load_job(s, c, sp, job_id).await?;
        let expected = job.version;
        change(&mut job)?;
        job.last_modified = c.now;
        match s.provisioning.update_job(&job, expected).await {
            Ok(version) => return Ok(SyncJob { version, ..job }),
            Err(StoreError::VersionMismatch) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProvisioningError::Busy(format!("job {job_id} kept changing; try again")).into())
}

async fn patch_job(
    State(s): State<AppState>,
    c: Caller,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    change_job(&s, &c, &sp, &job_id, |job| Ok(job::patch(job, &body)?)).await?;
    Ok(no_content())
}

async fn delete_job(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    if !s.provisioning.delete_job(&c.tenant.id, &sp.id, &job_id).await? {
        return Err(ProvisioningError::not_found("synchronizationJob", job_id).into());
    }
    Ok(no_content())
}

async fn get_schema(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let schema = schema_of(&sp, &job)?;
    let context = format!("servicePrincipals('{}')/synchronization/jobs('{}')/schema/$entity", sp.id, job.id);
    Ok(entity(&c, StatusCode::OK, &context, to_map(&schema)))
}

/// `PUT` (and `PATCH`, which the SDKs send) of a job's schema: a full replacement, resolved against the template
/// (omissions keep the template's) and validated; every problem is reported at once.
async fn put_schema(
    State(s): State<AppState>,
    c: Caller,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    let submitted: SynchronizationSchema = serde_json::from_value(body)
        .map_err(|e| ProvisioningError::invalid(format!("the body is not a synchronizationSchema: {e}")))?;
    change_job(&s, &c, &sp, &job_id, |job| {
        let template = job_template(&sp, job)?;
        let mut schema = resolve(submitted.clone(), &template.schema);
        canonicalize(&mut schema);
        validate(&schema, &Language)
            .map_err(|issues| ProvisioningError::from(SchemaError::InvalidSchema { issues }))?;
        let version = schema_of(&sp, job)?.version.and_then(|v| v.parse::<u64>().ok()).unwrap_or(1) + 1;
        schema.id = Some(job.id.clone());
        schema.version = Some(version.to_string());
        job.schema = Some(serde_json::to_value(&schema).map_err(|e| ProvisioningError::invalid(e.to_string()))?);
        Ok(())
    })
    .await?;
    Ok(no_content())
}

/// `POST .../schema/parseExpression {"expression", "testInputObject"?}`: the expression as Graph's tree, and its
/// value for the test object.
async fn parse_expression(
    State(s): State<AppState>,
    c: Caller,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let Some(text) = body.get("expression").and_then(Value::as_str) else {
        return Err(ProvisioningError::invalid_property(
            "expression",
            "the body is {\"expression\": \"...\", \"testInputObject\": {...}}",
        )
        .into());
    };
    let failure = |message: String| json!({"code": "ExpressionParsingFailed", "message": message});
    let parsed = match Expr::parse(text).and_then(|e| e.to_source().map(|t| (e, t))) {
        Ok(p) => p,
        Err(e) => {
            let out = json!({"error": failure(e.to_string()), "evaluationResult": [], "evaluationSucceeded": false,
                             "parsedExpression": null, "parsingSucceeded": false});
            return Ok(json_response(StatusCode::OK, &with_context(&c, out)));
        }
    };
    let (expr, tree) = parsed;
    let mut out = json!({"error": null, "evaluationResult": [], "evaluationSucceeded": false, "parsedExpression": tree,
                         "parsingSucceeded": true});
    if let Some(object) = body.get("testInputObject").filter(|o| !o.is_null()) {
        let input = test_input(object, &schema_of(&sp, &job)?)?;
        let mut random = || {
            let mut b = [0u8; 8];
            // Without randomness Guid() and RandomString() give zeros: a test evaluation, never a stored value.
            let _ = getrandom::fill(&mut b);
            u64::from_le_bytes(b)
        };
        let mut env = Environment { now: c.now, default_domain: Some(&c.tenant.default_domain), random: &mut random };
        match expr.evaluate(&input, &mut env) {
            Ok(e) => {
                out["evaluationSucceeded"] = json!(true);
                out["evaluationResult"] = json!(e.value.texts());
            }
            Err(e) => out["error"] = json!({"code": "ExpressionEvaluationFailed", "message": e.to_string()}),
        }
    }
    Ok(json_response(StatusCode::OK, &with_context(&c, out)))
}

fn with_context(c: &Caller, mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        out.insert("@odata.context".into(), json!(c.context("microsoft.graph.parseExpressionResponse")));
        out.append(m);
        *m = out;
    }
    v
}

/// Graph's `expressionInputObject`: `{"definition"?, "properties": [{"key", "value"}]}`, a value a string or an
/// array. A string is read with the type its attribute has in the object's definition, or else in the job's
/// source object that defines most of the keys (a user, unless the keys are a group's), as a cycle reads the
/// directory: Microsoft's sample sends `{"key": "IsSoftDeleted", "value": "false"}`, which the default `active`
/// mapping (`Switch([IsSoftDeleted], , "False", "True", "True", "False")`) must see as the Boolean it is.
fn test_input(object: &Value, schema: &SynchronizationSchema) -> Result<Map<String, Value>, GraphError> {
    let mut input = Map::new();
    let properties = object.get("properties").and_then(Value::as_array);
    for p in properties.into_iter().flatten() {
        let Some(key) = p.get("key").and_then(Value::as_str) else {
            return Err(ProvisioningError::invalid_property(
                "testInputObject",
                "each property is {\"key\": \"...\", \"value\": ...}",
            )
            .into());
        };
        input.insert(key.to_string(), p.get("value").cloned().unwrap_or(Value::Null));
    }
    let given: Option<ObjectDefinition> = object
        .get("definition")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .filter(|d: &ObjectDefinition| !d.attributes.is_empty());
    let sources: Vec<&ObjectDefinition> = schema
        .directories
        .iter()
        .filter(|d| schema.synchronization_rules.iter().any(|r| r.source_directory_name == d.name))
        .flat_map(|d| &d.objects)
        .collect();
    let defined = |o: &ObjectDefinition| input.keys().filter(|k| o.attribute_exact(k).is_some()).count();
    let best = sources.iter().copied().rev().max_by_key(|o| defined(o));
    let Some(definition) = given.as_ref().or(best) else { return Ok(input) };
    for (key, value) in &mut input {
        let (Some(text), Some(attribute)) = (value.as_str(), definition.attribute_exact(key)) else { continue };
        let typed = match attribute.attribute_type {
            AttributeType::Boolean if text.trim().eq_ignore_ascii_case("true") => json!(true),
            AttributeType::Boolean if text.trim().eq_ignore_ascii_case("false") => json!(false),
            AttributeType::Integer => match text.trim().parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => continue,
            },
            _ => continue,
        };
        *value = typed;
    }
    Ok(input)
}

async fn functions(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    load_job(&s, &c, &sp, &job_id).await?;
    let items = idplane_expr::catalogue::supported().map(|f| Value::Object(to_map(f))).collect();
    Ok(collection(&c, "Collection(microsoft.graph.attributeMappingFunctionSchema)", items, None, None))
}

async fn filter_operators(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    load_job(&s, &c, &sp, &job_id).await?;
    let items = scoping::filter_operators().iter().map(|o| Value::Object(to_map(o))).collect();
    Ok(collection(&c, "Collection(microsoft.graph.filterOperatorSchema)", items, None, None))
}

/// The credentials a Test Connection uses: the saved ones, overlaid with those the request gives unless it asks
/// for the saved ones only (`useSavedCredentials`).
async fn credentials_for(
    s: &AppState,
    c: &Caller,
    sp: &ServicePrincipal,
    body: &Value,
) -> Result<Credentials, GraphError> {
    let mut creds = secrets::saved(s.provisioning.as_ref(), &s.secrets, &c.tenant.id, &sp.id).await?;
    if body.get("useSavedCredentials").and_then(Value::as_bool) != Some(true)
        && let Some(given) = body.get("credentials").filter(|v| !v.is_null())
    {
        for (k, v) in Credentials::from_pairs(given, "credentials")?.0 {
            creds.0.insert(k, v);
        }
    }
    Ok(creds)
}

/// The attribute Test Connection looks up: the users mapping's first matching attribute, as Entra's probe uses.
fn matching_attribute(schema: &SynchronizationSchema) -> String {
    schema
        .synchronization_rules
        .iter()
        .flat_map(|r| &r.object_mappings)
        .find(|m| m.enabled && m.source_object_name.eq_ignore_ascii_case("User"))
        .and_then(|m| m.matching_mappings().first().map(|a| a.target_attribute_name.clone()))
        .unwrap_or_else(|| DEFAULT_MATCHING_ATTRIBUTE.to_string())
}

/// Test Connection: Entra's probe (`GET <tenant URL>/Users?filter=<matching attribute> eq "<random GUID>"`) with
/// these credentials. 204 when the target answers as a SCIM service should; else a Graph error whose code is
/// Entra's and whose message says what happened and which request was made.
async fn test_connection(s: &AppState, sp: &ServicePrincipal, creds: &Credentials, attribute: &str) -> Res {
    let missing = |key: &str| {
        GraphError::from(ProvisioningError::invalid_property(
            key,
            format!(
                "Test Connection needs the {key} (the {}): give it in credentials, or save it in the secrets first",
                if key == "BaseAddress" { "tenant URL" } else { "secret token" }
            ),
        ))
    };
    let base = creds.get("BaseAddress").ok_or_else(|| missing("BaseAddress"))?;
    let token = creds.get("SecretToken").ok_or_else(|| missing("SecretToken"))?;
    let bad = |key: &str, e: idplane_scim_client::Error| {
        GraphError::from(ProvisioningError::invalid_property(key, e.to_string()))
    };
    let tenant = TenantUrl::parse(base).map_err(|e| bad("BaseAddress", e))?;
    let token = SecretToken::new(token).map_err(|e| bad("SecretToken", e))?;
    // Through the application's on-premises agents when it has any, as its cycles go.
    let way = idplane_worker::route::transport_for(&super::runs::services(s), &sp.tenant_id, &sp.id, &tenant)
        .await
        .map_err(ProvisioningError::Store)?;
    let client = ScimClient::new(tenant, token, way);
    let guid = ids::random_guid()?;
    match client.test_connection(attribute, &guid).await {
        Ok(()) => Ok(no_content()),
        Err(f) => {
            tracing::info!(code = %f.code, error = %f.error, "Test Connection failed");
            Err(GraphError::Coded { status: 400, code: f.code.to_string(), message: f.to_string() })
        }
    }
}

async fn validate_credentials(
    State(s): State<AppState>,
    c: Caller,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = super::read_optional_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let creds = credentials_for(&s, &c, &sp, &body).await?;
    test_connection(&s, &sp, &creds, &matching_attribute(&schema_of(&sp, &job)?)).await
}

/// The collection-level variant: Test Connection before a job exists (`templateId` names the template).
async fn validate_new_credentials(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    let template = match body.get("templateId").and_then(Value::as_str) {
        Some(t) => {
            let mut t = templates::synchronization_template(t).map_err(ProvisioningError::from)?;
            canonicalize(&mut t.schema);
            Some(t)
        }
        None => template_of(&sp)?,
    };
    let attribute = template.map_or_else(|| DEFAULT_MATCHING_ATTRIBUTE.to_string(), |t| matching_attribute(&t.schema));
    let creds = credentials_for(&s, &c, &sp, &body).await?;
    test_connection(&s, &sp, &creds, &attribute).await
}
