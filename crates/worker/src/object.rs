//! The pipeline of one source object, as Entra runs it: import it from the directory, decide its scope
//! (assignment, scoping filter, `IsSoftDeleted`), find its target object (the stored link, else the matching
//! attributes in precedence order), and export: create, update only what differs, disable or delete. References
//! (a user's manager, a group's members) are exported afterwards ([`resolve_references`]), once the objects they
//! point to exist in the target.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use idplane_expr::Environment;
use idplane_provisioning::cycle::export::{self, Change};
use idplane_provisioning::cycle::mapping::{self, CompiledObjectMapping, Desired};
use idplane_provisioning::cycle::state::{Escrow, Link, retry_after};
use idplane_provisioning::directory::{DirectoryObject, ObjectKind};
use idplane_provisioning::source::SourceObject;
use idplane_provisioning::templates::{DirectoryFacts, DirectoryObjectType, source_object_from_graph};
use idplane_scim_client::{Error as ScimError, ListRequest, resource_id};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::WorkerError;
use crate::job::JobRun;
use crate::report::{Action, Modified, ObjectReport, Outcome, Request, StepType, shown};

/// How many times a request answered 429 or 503 is sent again, after the `Retry-After` it gave.
const RETRIES: u32 = 4;
/// The longest `Retry-After` honoured before giving up on the object for this cycle.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Where a cycle keeps what objects share: which groups are assigned (asked once per group per cycle).
#[derive(Default)]
pub struct CycleCache {
    assigned_groups: Mutex<HashMap<String, bool>>,
    /// Everything assigned, directly or as a direct member of an assigned group, when an initial cycle read it
    /// whole at its start; `None`: asked object by object.
    pub assigned: Option<std::collections::HashSet<String>>,
    /// The source objects that had a link when an initial cycle began (read with its work); `None`: unknown, the
    /// store is asked object by object. An object linked since (by provisioning on demand) is matched instead.
    pub linked: Option<std::collections::HashSet<String>>,
}

impl CycleCache {
    /// A cache that knows everything assigned and everything linked (`None`: it asks object by object).
    pub fn new(
        assigned: Option<std::collections::HashSet<String>>,
        linked: Option<std::collections::HashSet<String>>,
    ) -> CycleCache {
        CycleCache { assigned, linked, ..CycleCache::default() }
    }
}

/// The directory's view of one object.
pub struct Imported {
    pub id: String,
    pub kind: ObjectKind,
    /// `None`: deleted permanently (or never existed).
    pub object: Option<DirectoryObject>,
    pub soft_deleted: bool,
    pub source: Option<SourceObject>,
    pub assigned: bool,
}

/// A deprovisioning decided but not yet done: a cycle counts them against the accidental-deletion threshold first.
pub struct Deprovision {
    pub link: Link,
    pub delete: bool,
    /// For a disable: the operations (setting `active` false) and what they change.
    pub operations: Vec<Value>,
    pub changes: Vec<Change>,
}

/// References to export once the pass over objects is done.
pub struct PendingReferences {
    pub kind: ObjectKind,
    pub source_id: String,
    pub target_id: String,
    /// By target attribute: the source ids it should point to.
    pub desired: BTreeMap<String, Vec<String>>,
    /// By target attribute: the target ids the target's copy pointed to when last seen (only these are kept of
    /// it, so that a cycle's pending references stay small).
    pub current: BTreeMap<String, Vec<String>>,
}

/// What processing one object left to do.
#[derive(Default)]
pub struct Processed {
    pub deprovision: Option<Deprovision>,
    pub references: Option<PendingReferences>,
    /// The target refused the credentials: stop the cycle and quarantine the job.
    pub fatal: Option<WorkerError>,
}

fn env_random() -> u64 {
    let mut b = [0u8; 8];
    // Without randomness Guid() and RandomString() still give a value; an error here is not worth failing for.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// Entra's error code for a failed request.
pub fn error_code(e: &ScimError) -> &'static str {
    match e.status() {
        Some(400) => "SchemaPropertyCanOnlyAcceptValue",
        Some(401) => "Unauthorized",
        Some(403) => "InsufficientRights",
        Some(404) => "InvalidAnchor",
        Some(405) => "MethodNotAllowed",
        Some(409) => "EntryConflict",
        Some(422) => "UnprocessableEntity",
        Some(429) => "TooManyRequests",
        Some(501) => "NotImplemented",
        Some(s) if s >= 500 => "InternalServerError",
        Some(_) => "WebExceptionProtocolError",
        None => match e {
            ScimError::Relay { code, .. } => code,
            ScimError::Timeout { .. } => "Timeout",
            ScimError::UnexpectedBody { .. } | ScimError::InvalidResponse { .. } | ScimError::Redirect { .. } => {
                "SystemForCrossDomainIdentityManagementServiceIncompatible"
            }
            _ => "SystemForCrossDomainIdentityManagementServiceUnavailable",
        },
    }
}

/// Whether a failure says the credentials are refused: the job is quarantined rather than each object escrowed.
pub fn refused_credentials(e: &ScimError) -> bool {
    matches!(e.status(), Some(401 | 403))
}

/// Sends a request, again after `Retry-After` while the target answers 429 or 503 (a few times, each wait bounded).
pub async fn with_retries<T, F, Fut>(mut send: F) -> Result<T, ScimError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ScimError>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Err(e) if matches!(e.status(), Some(429 | 503)) && attempt < RETRIES => {
                attempt += 1;
                let wait = e.response().and_then(|r| r.retry_after).unwrap_or(Duration::from_secs(1));
                if wait > MAX_RETRY_AFTER {
                    return Err(e);
                }
                tracing::info!(status = ?e.status(), wait_ms = wait.as_millis() as u64, "target asked to retry later");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
    }
}

fn display_name(object: Option<&DirectoryObject>, fallback: &str) -> String {
    let doc = object.map(|o| &o.doc);
    doc.and_then(|d| d.get("userPrincipalName").or_else(|| d.get("displayName")))
        .and_then(Value::as_str)
        .unwrap_or(fallback)
        .to_owned()
}

/// Reads one object from the directory, with what the engine adds: assignment scope, manager, members.
pub async fn import(run: &JobRun, cache: &CycleCache, id: &str, kind: ObjectKind) -> Result<Imported, WorkerError> {
    let store = run.services.store.as_ref();
    let tenant = &run.tenant.id;
    let (object, soft_deleted) = match store.object(tenant, Some(kind), id, false).await? {
        Some(o) => (Some(o), false),
        None => (store.object(tenant, Some(kind), id, true).await?, true),
    };
    let Some(o) = object else {
        return Ok(Imported {
            id: id.to_owned(),
            kind,
            object: None,
            soft_deleted: true,
            source: None,
            assigned: false,
        });
    };
    let assigned = match &cache.assigned {
        _ if run.sync_all => true,
        Some(all) => all.contains(&o.id),
        None => is_assigned(run, cache, &o).await?,
    };
    let mut facts = DirectoryFacts { soft_deleted, assigned, manager_id: o.manager_id.clone(), ..Default::default() };
    if kind == ObjectKind::Group && !soft_deleted {
        let mut after: Option<String> = None;
        loop {
            let (page, more) = store.group_members(tenant, &o.id, after.as_deref(), 1000).await?;
            after = page.last().map(|m| m.id.clone());
            facts.members.extend(page.into_iter().filter(|m| m.kind == ObjectKind::User).map(|m| m.id));
            if !more || after.is_none() {
                break;
            }
        }
    }
    let all: Vec<&'static idplane_provisioning::directory::properties::Property> = kind.properties().iter().collect();
    let graph = Value::Object(o.render(Some(&all)));
    let object_type = match kind {
        ObjectKind::User => DirectoryObjectType::User,
        ObjectKind::Group => DirectoryObjectType::Group,
    };
    let mut source =
        source_object_from_graph(object_type, &graph, &facts).map_err(idplane_provisioning::ProvisioningError::from)?;
    if let Some(scope) = run.mapping(kind).and_then(|m| m.scope.as_ref())
        && !scope.evaluate(&source).in_scope
    {
        source.mark_out_of_scope();
    }
    Ok(Imported { id: id.to_owned(), kind, object: Some(o), soft_deleted, source: Some(source), assigned })
}

/// Whether the object is assigned to the application: directly, or (a user) as a direct member of an assigned
/// group. Nested groups do not count, as in Entra.
async fn is_assigned(run: &JobRun, cache: &CycleCache, o: &DirectoryObject) -> Result<bool, WorkerError> {
    let store = run.services.store.as_ref();
    let tenant = &run.tenant.id;
    if store.assignments_of(tenant, &o.id).await?.iter().any(|a| a.assignment.resource_id == run.sp.id) {
        return Ok(true);
    }
    if o.kind != ObjectKind::User {
        return Ok(false);
    }
    let mut after: Option<String> = None;
    loop {
        let (groups, more) = store.member_of(tenant, &o.id, after.as_deref(), 200).await?;
        for g in &groups {
            let known = cache.assigned_groups.lock().ok().and_then(|m| m.get(&g.id).copied());
            let assigned = match known {
                Some(a) => a,
                None => {
                    let a = store
                        .assignments_of(tenant, &g.id)
                        .await?
                        .iter()
                        .any(|a| a.assignment.resource_id == run.sp.id);
                    if let Ok(mut m) = cache.assigned_groups.lock() {
                        m.insert(g.id.clone(), a);
                    }
                    a
                }
            };
            if assigned {
                return Ok(true);
            }
        }
        after = groups.last().map(|g| g.id.clone());
        if !more || after.is_none() {
            return Ok(false);
        }
    }
}

/// What the mappings give for a source object whose target object exists (no "only on creation" mappings).
pub fn desired(
    run: &JobRun,
    mapping: &CompiledObjectMapping,
    source: &SourceObject,
    now: OffsetDateTime,
) -> Result<Desired, mapping::MappingError> {
    evaluate(run, mapping, source, false, now)
}

fn evaluate(
    run: &JobRun,
    mapping: &CompiledObjectMapping,
    source: &SourceObject,
    creating: bool,
    now: OffsetDateTime,
) -> Result<Desired, mapping::MappingError> {
    let mut random = env_random;
    let mut env = Environment { now, default_domain: Some(&run.tenant.default_domain), random: &mut random };
    mapping::evaluate(mapping, source, &mut env, creating)
}

/// Runs the pipeline for one object. `defer_deprovisioning`: a cycle collects disables and deletes to count them
/// against the deletion threshold; provision on demand does them at once.
#[allow(clippy::too_many_arguments)]
pub async fn process(
    run: &JobRun,
    imported: Imported,
    link: Option<Link>,
    report: &mut ObjectReport,
    defer_deprovisioning: bool,
    preview: bool,
    now: OffsetDateTime,
) -> Processed {
    let mut processed = Processed::default();
    let Some(mapping) = run.mapping(imported.kind) else {
        report.outcome = Outcome::Skipped;
        report.reason = Some("the object mapping of this kind of object is disabled".into());
        return processed;
    };
    let endpoint = JobRun::endpoint(imported.kind);
    report.display_name = display_name(imported.object.as_ref(), &imported.id);
    report.object_type = kind_name(imported.kind).into();
    match &imported.source {
        Some(s) => {
            let d = report.step(
                "EntryImport",
                StepType::Import,
                Outcome::Success,
                format!("Retrieved {} '{}' from Azure Active Directory", report.object_type, report.display_name),
            );
            for (k, v) in &s.attributes {
                if let Some(text) = shown(Some(v)) {
                    d.details.insert(k.clone(), text);
                }
            }
        }
        None => {
            report.step(
                "EntryImportDelete",
                StepType::Import,
                Outcome::Success,
                format!("{} '{}' was deleted permanently in Azure Active Directory", report.object_type, imported.id),
            );
        }
    }

    // Deleted permanently: delete the target object if the mapping allows it.
    let Some(source) = imported.source.as_ref() else {
        if let Some(link) = link {
            report.target_id = Some(link.target_id.clone());
            if mapping.flow_types.delete {
                let deprovision = Deprovision { link, delete: true, operations: Vec::new(), changes: Vec::new() };
                deprovision_or_defer(run, deprovision, defer_deprovisioning, report, preview, now, &mut processed)
                    .await;
            } else {
                forget(run, &link.source_id).await;
                report.outcome = Outcome::Skipped;
                report.reason = Some("Delete is not among the object mapping's target object actions".into());
            }
        } else {
            report.outcome = Outcome::Skipped;
            report.reason = Some("NotProvisioned".into());
        }
        return processed;
    };

    let soft_deleted = source.is_soft_deleted();
    {
        let scope = report.step(
            "EntrySynchronizationScoping",
            StepType::Scoping,
            Outcome::Success,
            format!("Determine if {} in scope by evaluating against each scoping filter", report.object_type),
        );
        let active = imported.object.as_ref().and_then(|o| o.doc.get("accountEnabled")).and_then(Value::as_bool);
        scope.details.insert("IsActive".into(), if active == Some(false) { "False" } else { "True" }.into());
        scope.details.insert("Assigned".into(), if imported.assigned { "True" } else { "False" }.into());
        scope.details.insert("IsSoftDeleted".into(), if soft_deleted { "True" } else { "False" }.into());
        scope
            .details
            .insert("IsInProvisioningScopeDisplayName".into(), if soft_deleted { "False" } else { "True" }.into());
        if let (Some(f), Some(_)) = (&mapping.scope, &imported.object) {
            scope.details.insert("ScopeEvaluationResult".into(), f.evaluate(source).scope_evaluation_result());
        }
    }

    if soft_deleted {
        let Some(link) = link else {
            report.outcome = Outcome::Skipped;
            report.reason = Some("NotEffectivelyEntitled".into());
            report.step(
                "EntrySynchronizationSkip",
                StepType::Export,
                Outcome::Skipped,
                format!(
                    "{} '{}' is not in scope and was never provisioned: nothing to do",
                    report.object_type, report.display_name
                ),
            );
            return processed;
        };
        report.target_id = Some(link.target_id.clone());
        let disabled =
            imported.object.as_ref().and_then(|o| o.doc.get("accountEnabled")).and_then(Value::as_bool) == Some(false);
        if run.skip_out_of_scope_deletions && !imported.soft_deleted && !disabled {
            // SkipOutOfScopeDeletions: leaving the scope does nothing in the target (and the object stays managed).
            report.outcome = Outcome::Skipped;
            report.reason = Some("SkipOutOfScopeDeletions".into());
            return processed;
        }
        if mapping.has_soft_delete_mapping() && mapping.flow_types.update {
            let desired = match evaluate(run, mapping, source, false, now) {
                Ok(d) => d,
                Err(e) => {
                    return fail(run, report, &imported, "MappingEvaluationFailed", e.to_string(), now, processed)
                        .await;
                }
            };
            let current = match with_retries(|| run.client.get(&endpoint, &link.target_id, Some("members"))).await {
                Ok(c) => c,
                Err(e) if e.status() == Some(404) => {
                    forget(run, &link.source_id).await;
                    report.outcome = Outcome::Skipped;
                    report.reason = Some("the target object no longer exists".into());
                    return processed;
                }
                Err(e) => return failed_request(run, report, &imported, e, now, processed).await,
            };
            let changes = export::changes(mapping, &desired, &current);
            if changes.is_empty() {
                report.outcome = Outcome::Skipped;
                report.reason = Some("RedundantExport".into());
                if link.active && !run.read_only {
                    let mut l = link.clone();
                    l.active = false;
                    let _ = run.services.store.put_link(&l).await;
                }
                return processed;
            }
            let operations = export::patch_operations(&changes, run.dialect);
            let deprovision = Deprovision { link, delete: false, operations, changes };
            deprovision_or_defer(run, deprovision, defer_deprovisioning, report, preview, now, &mut processed).await;
        } else if mapping.flow_types.delete {
            let deprovision = Deprovision { link, delete: true, operations: Vec::new(), changes: Vec::new() };
            deprovision_or_defer(run, deprovision, defer_deprovisioning, report, preview, now, &mut processed).await;
        } else {
            report.outcome = Outcome::Skipped;
            report.reason = Some("neither an IsSoftDeleted mapping nor the Delete action: left as it is".into());
        }
        return processed;
    }

    // In scope: find the target object.
    let mut current: Option<Value> = None;
    if let Some(l) = &link {
        match with_retries(|| run.client.get(&endpoint, &l.target_id, None)).await {
            Ok(c) => current = Some(c),
            Err(e) if e.status() == Some(404) => {
                // Deleted in the target behind the engine's back: match and create again.
                forget(run, &l.source_id).await;
            }
            Err(e) => return failed_request(run, report, &imported, e, now, processed).await,
        }
    }
    let create_values = match evaluate(run, mapping, source, true, now) {
        Ok(d) => d,
        Err(e) => return fail(run, report, &imported, "MappingEvaluationFailed", e.to_string(), now, processed).await,
    };
    if current.is_none() {
        let mut tried = 0;
        for a in mapping.matching() {
            let Some(value) = create_values.values.get(&a.target).and_then(|v| shown(Some(&v.value))) else { continue };
            tried += 1;
            let request = ListRequest::filter_eq(&a.target, &value);
            let page = match with_retries(|| run.client.list(&endpoint, &request)).await {
                Ok(p) => p,
                Err(e) => return failed_request(run, report, &imported, e, now, processed).await,
            };
            match page.resources.len() {
                0 => continue,
                1 => {
                    current = page.resources.into_iter().next();
                    let m = report.step(
                        "EntryImport",
                        StepType::Matching,
                        Outcome::Success,
                        format!("Retrieved '{value}' from {} by {}", run.target_system, a.target),
                    );
                    m.details.insert("matchedBy".into(), a.target.clone());
                    break;
                }
                n => {
                    return fail(
                        run,
                        report,
                        &imported,
                        "DuplicateTargetEntries",
                        format!("{n} objects in the target have {} '{value}': one at most may match", a.target),
                        now,
                        processed,
                    )
                    .await;
                }
            }
        }
        if tried == 0 {
            return fail(
                run,
                report,
                &imported,
                "ImportSkipped",
                "the object has no value for any matching attribute".into(),
                now,
                processed,
            )
            .await;
        }
    }

    let (target_id, current) = match current {
        Some(current) => {
            let Some(target_id) = resource_id(&current) else {
                return fail(
                    run,
                    report,
                    &imported,
                    "SystemForCrossDomainIdentityManagementServiceIncompatible",
                    "the target's object has no id".into(),
                    now,
                    processed,
                )
                .await;
            };
            // Update: only what differs; "only on creation" mappings and defaults do not apply.
            let desired = match evaluate(run, mapping, source, false, now) {
                Ok(d) => d,
                Err(e) => {
                    return fail(run, report, &imported, "MappingEvaluationFailed", e.to_string(), now, processed)
                        .await;
                }
            };
            let changes =
                if mapping.flow_types.update { export::changes(mapping, &desired, &current) } else { Vec::new() };
            report.target_id = Some(target_id.clone());
            if changes.is_empty() {
                report.action = Action::Other;
                report.outcome = Outcome::Skipped;
                report.reason = Some("RedundantExport".into());
                let s = report.step(
                    "EntrySynchronizationSkip",
                    StepType::Export,
                    Outcome::Skipped,
                    format!(
                        "The {} '{}' is in scope and no change to it currently needs to be made.",
                        report.object_type, report.display_name
                    ),
                );
                s.details.insert("SkipReason".into(), "RedundantExport".into());
            } else {
                let operations = export::patch_operations(&changes, run.dialect);
                let path = format!("{}/{}", endpoint, target_id);
                report.requests.push(Request { method: "PATCH", path, body: Some(patch_body(&operations)) });
                if !preview && let Err(e) = with_retries(|| run.client.patch(&endpoint, &target_id, &operations)).await
                {
                    return failed_request(run, report, &imported, e, now, processed).await;
                }
                report.action = Action::Update;
                report.outcome = Outcome::Success;
                report.modified = modified(&changes);
                report.step(
                    "EntryExportUpdate",
                    StepType::Export,
                    Outcome::Success,
                    format!("{} '{}' was updated in {}", report.object_type, report.display_name, run.target_system),
                );
            }
            (target_id, current)
        }
        None => {
            if !mapping.flow_types.add {
                report.outcome = Outcome::Skipped;
                report.reason = Some("Create is not among the object mapping's target object actions".into());
                return processed;
            }
            let body = export::create_body(mapping, &create_values, &[]);
            report.requests.push(Request { method: "POST", path: endpoint.to_string(), body: Some(body.clone()) });
            report.action = Action::Create;
            report.modified = create_values
                .values
                .iter()
                .map(|(k, v)| Modified {
                    display_name: k.clone(),
                    old_value: None,
                    new_value: if v.redact { Some("[Redact]".into()) } else { shown(Some(&v.value)) },
                })
                .collect();
            if preview {
                report.outcome = Outcome::Success;
                return processed;
            }
            let created = match with_retries(|| run.client.create(&endpoint, &body)).await {
                Ok(c) => c,
                Err(e) => return failed_request(run, report, &imported, e, now, processed).await,
            };
            let Some(target_id) = resource_id(&created) else {
                return fail(
                    run,
                    report,
                    &imported,
                    "SystemForCrossDomainIdentityManagementServiceIncompatible",
                    "the target created the object but returned no id".into(),
                    now,
                    processed,
                )
                .await;
            };
            report.target_id = Some(target_id.clone());
            report.outcome = Outcome::Success;
            report.step(
                "EntryExportAdd",
                StepType::Export,
                Outcome::Success,
                format!("{} '{}' was created in {}", report.object_type, report.display_name, run.target_system),
            );
            (target_id, created)
        }
    };
    if !preview {
        let l = Link {
            job_id: run.job.id.clone(),
            source_id: imported.id.clone(),
            object_type: kind_name(imported.kind).into(),
            target_id: target_id.clone(),
            display_name: report.display_name.clone(),
            active: true,
            updated: now,
        };
        if let Err(e) = run.services.store.put_link(&l).await {
            processed.fatal = Some(e.into());
            return processed;
        }
        // An object with references keeps its escrow until they are exported too ([`resolve_references`]).
        if create_values.references.is_empty() && run.escrowed.contains(&imported.id) {
            let _ = run.services.store.delete_escrow(&run.job.id, &imported.id).await;
        }
    }
    if !create_values.references.is_empty() {
        processed.references = Some(PendingReferences {
            kind: imported.kind,
            source_id: imported.id.clone(),
            target_id,
            current: create_values
                .references
                .keys()
                .map(|a| (a.clone(), export::referenced_ids(a, &current)))
                .collect(),
            desired: create_values.references,
        });
    }
    processed
}

fn patch_body(operations: &[Value]) -> Value {
    serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn modified(changes: &[Change]) -> Vec<Modified> {
    changes
        .iter()
        .map(|c| Modified {
            display_name: c.target.clone(),
            old_value: if c.redact { c.old.as_ref().map(|_| "[Redact]".into()) } else { shown(c.old.as_ref()) },
            new_value: if c.redact { Some("[Redact]".into()) } else { shown(Some(&c.new)) },
        })
        .collect()
}

async fn forget(run: &JobRun, source_id: &str) {
    if run.read_only {
        return;
    }
    if let Err(e) = run.services.store.delete_link(&run.job.id, source_id).await {
        tracing::warn!(error = %e, job = %run.job.id, "could not remove a link");
    }
}

/// Deprovisions now, or leaves it to the cycle (which counts deprovisionings against the deletion threshold).
async fn deprovision_or_defer(
    run: &JobRun,
    deprovision: Deprovision,
    defer: bool,
    report: &mut ObjectReport,
    preview: bool,
    now: OffsetDateTime,
    processed: &mut Processed,
) {
    if defer {
        processed.deprovision = Some(deprovision);
    } else {
        finish_deprovision(run, deprovision, report, preview, now).await;
    }
}

/// Disables or deletes a target object (deprovisioning), and records it.
pub async fn finish_deprovision(
    run: &JobRun,
    d: Deprovision,
    report: &mut ObjectReport,
    preview: bool,
    now: OffsetDateTime,
) {
    let kind = if d.link.object_type.eq_ignore_ascii_case("Group") { ObjectKind::Group } else { ObjectKind::User };
    let endpoint = JobRun::endpoint(kind);
    report.target_id = Some(d.link.target_id.clone());
    let path = format!("{}/{}", endpoint, d.link.target_id);
    let result = if d.delete {
        report.action = Action::Delete;
        report.requests.push(Request { method: "DELETE", path, body: None });
        if preview {
            Ok(())
        } else {
            match with_retries(|| run.client.delete(&endpoint, &d.link.target_id)).await {
                Err(e) if e.status() == Some(404) => Ok(()),
                other => other,
            }
        }
    } else {
        report.action = Action::Disable;
        report.modified = modified(&d.changes);
        report.requests.push(Request { method: "PATCH", path, body: Some(patch_body(&d.operations)) });
        if preview {
            Ok(())
        } else {
            with_retries(|| run.client.patch(&endpoint, &d.link.target_id, &d.operations)).await.map(|_| ())
        }
    };
    match result {
        Ok(()) => {
            report.outcome = Outcome::Success;
            let verb = if d.delete { "deleted" } else { "disabled" };
            report.step(
                if d.delete { "EntryExportDelete" } else { "EntryExportUpdateSoftDelete" },
                StepType::Export,
                Outcome::Success,
                format!("{} '{}' was {verb} in {}", report.object_type, report.display_name, run.target_system),
            );
            if preview {
                return;
            }
            let store = &run.services.store;
            let outcome = if d.delete {
                store.delete_link(&run.job.id, &d.link.source_id).await.map(|_| ())
            } else {
                store.put_link(&Link { active: false, updated: now, ..d.link.clone() }).await
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "could not record a deprovisioning");
            }
            if run.escrowed.contains(&d.link.source_id) {
                let _ = store.delete_escrow(&run.job.id, &d.link.source_id).await;
            }
        }
        Err(e) => {
            let code = error_code(&e);
            report.outcome = Outcome::Failure;
            report.error_code = Some(code.into());
            report.reason = Some(e.to_string());
            escrow(run, &d.link.source_id, &d.link.object_type, code, &e.to_string(), now).await;
        }
    }
}

async fn escrow(run: &JobRun, source_id: &str, object_type: &str, code: &str, reason: &str, now: OffsetDateTime) {
    escrow_until(run, source_id, object_type, code, reason, now, None).await;
}

/// Escrows an object, to be tried again after its back-off and not before `not_before`.
async fn escrow_until(
    run: &JobRun,
    source_id: &str,
    object_type: &str,
    code: &str,
    reason: &str,
    now: OffsetDateTime,
    not_before: Option<OffsetDateTime>,
) {
    if run.read_only {
        return;
    }
    let store = &run.services.store;
    let previous = store.escrow(&run.job.id, source_id).await.ok().flatten();
    let attempts = previous.as_ref().map_or(1, |p| p.attempts.saturating_add(1));
    let e = Escrow {
        job_id: run.job.id.clone(),
        source_id: source_id.to_owned(),
        object_type: object_type.to_owned(),
        attempts,
        first_failed: previous.map_or(now, |p| p.first_failed),
        next_attempt: not_before.map_or(now + retry_after(attempts), |t| t.max(now + retry_after(attempts))),
        error_code: code.to_owned(),
        reason: reason.chars().take(2000).collect(),
    };
    if let Err(err) = store.put_escrow(&e).await {
        tracing::warn!(error = %err, "could not escrow a failed object");
    }
}

async fn fail(
    run: &JobRun,
    report: &mut ObjectReport,
    imported: &Imported,
    code: &str,
    reason: String,
    now: OffsetDateTime,
    processed: Processed,
) -> Processed {
    report.outcome = Outcome::Failure;
    report.error_code = Some(code.to_owned());
    report.step("EntryExport", StepType::Export, Outcome::Failure, reason.clone());
    report.reason = Some(reason.clone());
    escrow(run, &imported.id, kind_name(imported.kind), code, &reason, now).await;
    processed
}

async fn failed_request(
    run: &JobRun,
    report: &mut ObjectReport,
    imported: &Imported,
    e: ScimError,
    now: OffsetDateTime,
    mut processed: Processed,
) -> Processed {
    let code = error_code(&e);
    if refused_credentials(&e) {
        processed.fatal = Some(WorkerError::Target { code: code.into(), message: e.to_string(), quarantine: true });
    }
    fail(run, report, imported, code, e.to_string(), now, processed).await
}

/// Exports the references of objects processed earlier: a user's manager, a group's members, resolved to target
/// ids through the links. A reference to an object not provisioned is left out, as Entra does; but when that
/// object is escrowed (in scope, its export failed), the referring object is escrowed too, to be tried again with
/// it, so that a member or manager whose creation failed for a while arrives once it succeeds. A failed request
/// escrows the referring object. Its escrow is removed once every reference is exported.
pub async fn resolve_references(
    run: &JobRun,
    pending: &PendingReferences,
    report: &mut ObjectReport,
    preview: bool,
    now: OffsetDateTime,
) -> Result<(), WorkerError> {
    let store = &run.services.store;
    let endpoint = JobRun::endpoint(pending.kind);
    let object_type = kind_name(pending.kind);
    let Some(mapping) = run.mapping(pending.kind) else { return Ok(()) };
    let mut waiting: Option<(OffsetDateTime, usize)> = None;
    for (attribute, source_ids) in &pending.desired {
        let links = store.links(&run.job.id, source_ids).await?;
        for missing in source_ids.iter().filter(|id| !links.iter().any(|l| &l.source_id == *id)) {
            if let Some(e) = store.escrow(&run.job.id, missing).await? {
                let (until, n) = waiting.unwrap_or((e.next_attempt, 0));
                waiting = Some((until.max(e.next_attempt), n + 1));
            }
        }
        let mut desired: Vec<String> = links
            .iter()
            .filter(|l| l.active || pending.kind == ObjectKind::User)
            .map(|l| l.target_id.clone())
            .collect();
        desired.sort();
        let current = pending.current.get(attribute).cloned().unwrap_or_default();
        let multivalued = mapping
            .attributes
            .iter()
            .any(|a| &a.target == attribute && a.path.attribute.eq_ignore_ascii_case("members"));
        let mut requests: Vec<Vec<Value>> = Vec::new();
        if multivalued {
            let managed_links = store.links_by_target(&run.job.id, &current).await?;
            let managed: std::collections::HashSet<String> = managed_links.into_iter().map(|l| l.target_id).collect();
            let is_managed = |id: &str| managed.contains(id);
            let (added, removed, patches) = export::member_patches(&current, &desired, &is_managed, run.dialect);
            if !added.is_empty() || !removed.is_empty() {
                report.modified.push(Modified {
                    display_name: attribute.clone(),
                    old_value: None,
                    new_value: Some(format!("{} added, {} removed", added.len(), removed.len())),
                });
            }
            requests = patches;
        } else {
            let want = desired.first().map(String::as_str);
            let have = current.first().map(String::as_str);
            if want != have
                && let Some(op) = export::reference_operation(attribute, want, have.is_some(), run.dialect)
            {
                report.modified.push(Modified {
                    display_name: attribute.clone(),
                    old_value: have.map(str::to_owned),
                    new_value: want.map(str::to_owned),
                });
                requests.push(vec![op]);
            }
        }
        for operations in requests {
            report.requests.push(Request {
                method: "PATCH",
                path: format!("{}/{}", endpoint, pending.target_id),
                body: Some(patch_body(&operations)),
            });
            if preview {
                continue;
            }
            if let Err(e) = with_retries(|| run.client.patch(&endpoint, &pending.target_id, &operations)).await {
                let code = error_code(&e);
                if refused_credentials(&e) {
                    return Err(WorkerError::Target { code: code.into(), message: e.to_string(), quarantine: true });
                }
                report.outcome = Outcome::Failure;
                report.error_code = Some(code.into());
                report.reason = Some(e.to_string());
                report.step("EntryExportReference", StepType::ReferenceResolution, Outcome::Failure, e.to_string());
                escrow(run, &pending.source_id, object_type, code, &e.to_string(), now).await;
                return Ok(());
            }
            if report.action == Action::Other {
                report.action = Action::Update;
                report.outcome = Outcome::Success;
            }
        }
    }
    if preview {
        return Ok(());
    }
    match waiting {
        Some((until, n)) => {
            let reason = format!(
                "{n} referenced object(s) are not provisioned yet (their export failed and is escrowed): the {} is \
                 tried again with them",
                object_type.to_lowercase()
            );
            report.step("EntryReferencePending", StepType::ReferenceResolution, Outcome::Skipped, reason.clone());
            escrow_until(run, &pending.source_id, object_type, "ReferencePending", &reason, now, Some(until)).await;
        }
        // Only an object that was escrowed when the run began has an escrow to clear (a failure in this cycle
        // returned before its references).
        None if run.escrowed.contains(&pending.source_id) => {
            let _ = store.delete_escrow(&run.job.id, &pending.source_id).await;
        }
        None => {}
    }
    Ok(())
}
