//! A provisioning cycle. An initial cycle (never run, restarted, or the schema changed) evaluates every object
//! that may be in scope: the assigned users and groups, the direct members of assigned groups (every user and group
//! with "Sync all"), and every object linked before; an incremental cycle evaluates only the objects the
//! directory's change feed names since the watermark, and the escrowed failures that are due. Users go first,
//! then groups, then the references (managers, members); deprovisioning is counted against the accidental-deletion
//! threshold before any is done. The run state after the cycle (watermark, counters, quarantine, next run) is what
//! Graph's `synchronizationStatus` shows ([`status`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use idplane_provisioning::cycle::state::{Quarantine, RECENT_CYCLES, RunState};
use idplane_provisioning::directory::query::ObjectQuery;
use idplane_provisioning::directory::{ChangeKind, ObjectKind};
use idplane_provisioning::ids;
use idplane_provisioning::job::{self, ScheduleState, SyncJob};
use idplane_scim_client::ConnectionTestCode;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::error::WorkerError;
use crate::job::{JobRun, Services};
use crate::object::{self, CycleCache, Deprovision, PendingReferences, Processed};
use crate::report::{Action, LogContext, ObjectReport, Outcome, StepType};

/// How many changes of the feed are read at a time.
const CHANGES_PAGE: usize = 1000;
/// How often (in objects) a cycle checks whether the job was paused meanwhile.
const PAUSE_CHECK_EVERY: usize = 64;
/// How long a quarantined job waits before its next attempt (Entra slows quarantined jobs down to once a day; the
/// wait doubles from this, up to a day).
const QUARANTINE_BASE: Duration = Duration::minutes(5);

/// A clock: the worker owns time, and tests pass their own.
pub type Now = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// What a cycle did, for logs and status.
#[derive(Debug, Default)]
pub struct CycleOutcome {
    pub cycle_id: String,
    pub initial: bool,
    /// Every object's report, kept only by a preview (a cycle streams its reports into the provisioning logs, so
    /// that its memory does not grow with the directory).
    pub reports: Vec<ObjectReport>,
    /// How many objects failed, and the first few (identity, error code, reason), for the notification email.
    pub failed: u64,
    pub first_failures: Vec<(String, String, String)>,
    /// Log records not written yet.
    pending_logs: Vec<idplane_provisioning::logs::ProvisioningLog>,
    /// The page of log records being written while the cycle goes on (one at a time).
    writing: Option<tokio::task::JoinHandle<()>>,
    /// Reports of objects whose references are exported after the pass over objects: finished then, so that an
    /// object has one record per cycle.
    held_reports: std::collections::HashMap<String, ObjectReport>,
    keep_reports: bool,
    pub imported: u64,
    pub exported: u64,
    pub escrowed: u64,
    /// Stopped early (paused, the lease was lost, or deprovisionings held): the watermark did not move.
    pub interrupted: bool,
    /// Deprovisionings held back by the accidental-deletion threshold.
    pub held: u64,
    /// Objects the cycle has to evaluate.
    pub total: u64,
}

pub(crate) fn new_report(source_id: &str, kind: ObjectKind, now: OffsetDateTime) -> ObjectReport {
    ObjectReport {
        change_id: ids::random_guid().unwrap_or_default(),
        source_id: source_id.to_owned(),
        object_type: match kind {
            ObjectKind::User => "User".into(),
            ObjectKind::Group => "Group".into(),
        },
        display_name: source_id.to_owned(),
        target_id: None,
        action: Action::Other,
        outcome: Outcome::Skipped,
        error_code: None,
        reason: None,
        steps: Vec::new(),
        modified: Vec::new(),
        requests: Vec::new(),
        started: now,
        ended: now,
    }
}

/// The objects an initial cycle evaluates: every candidate of the scope, and every linked object; and (unless the job
/// syncs all) the set of what is assigned, read once rather than object by object.
async fn initial_work(run: &JobRun) -> Result<InitialWork, WorkerError> {
    let store = run.services.store.as_ref();
    let tenant = &run.tenant.id;
    let mut work = BTreeMap::new();
    if run.sync_all {
        for kind in [ObjectKind::User, ObjectKind::Group] {
            let mut query = ObjectQuery::of(kind);
            query.top = 1000;
            loop {
                let page = store.list_objects(tenant, &query).await?;
                query.after = page.items.last().map(|o| o.id.clone());
                work.extend(page.items.into_iter().map(|o| (o.id, kind)));
                if !page.more || query.after.is_none() {
                    break;
                }
            }
        }
    } else {
        let mut after: Option<String> = None;
        loop {
            let (page, more) = store.assignments_to(tenant, &run.sp.id, after.as_deref(), 500).await?;
            after = page.last().map(|a| a.assignment.id.clone());
            for a in page {
                let kind = a.assignment.principal_type;
                work.insert(a.assignment.principal_id.clone(), kind);
                if kind == ObjectKind::Group {
                    let mut m_after: Option<String> = None;
                    loop {
                        let (members, more) =
                            store.group_members(tenant, &a.assignment.principal_id, m_after.as_deref(), 1000).await?;
                        m_after = members.last().map(|m| m.id.clone());
                        work.extend(members.into_iter().filter(|m| m.kind == ObjectKind::User).map(|m| (m.id, m.kind)));
                        if !more || m_after.is_none() {
                            break;
                        }
                    }
                }
            }
            if !more || after.is_none() {
                break;
            }
        }
    }
    let assigned = (!run.sync_all).then(|| work.keys().cloned().collect::<HashSet<String>>());
    let mut linked = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let links = store.links_page(&run.job.id, after.as_deref(), 1000).await?;
        after = links.last().map(|l| l.source_id.clone());
        let full = links.len() == 1000;
        for l in links {
            let kind = if l.object_type.eq_ignore_ascii_case("Group") { ObjectKind::Group } else { ObjectKind::User };
            work.entry(l.source_id.clone()).or_insert(kind);
            linked.insert(l.source_id);
        }
        if !full || after.is_none() {
            break;
        }
    }
    Ok(InitialWork { work, assigned, linked })
}

/// What an initial cycle reads at its start.
struct InitialWork {
    /// Every object that may be in scope, and every object with a link.
    work: BTreeMap<String, ObjectKind>,
    /// What is assigned (`None`: everything is in scope, `SyncAll`).
    assigned: Option<HashSet<String>>,
    /// The source objects with a link: the others need not ask the store for theirs.
    linked: HashSet<String>,
}

/// The objects an incremental cycle evaluates: those the change feed names after `watermark` (up to `latest`).
async fn incremental_work(
    run: &JobRun,
    watermark: i64,
    latest: i64,
) -> Result<BTreeMap<String, ObjectKind>, WorkerError> {
    let store = run.services.store.as_ref();
    let tenant = &run.tenant.id;
    let mut work = BTreeMap::new();
    let mut position = watermark;
    while position < latest {
        let changes = store.changes(tenant, position, CHANGES_PAGE).await?;
        let Some(last) = changes.last() else { break };
        position = last.seq;
        for c in changes.into_iter().filter(|c| c.seq <= latest) {
            match c.kind {
                ChangeKind::MemberAdded | ChangeKind::MemberRemoved => {
                    work.insert(c.object_id.clone(), ObjectKind::Group);
                    if let Some(member) = c.related_id {
                        // The member's kind is read when it is imported; a group member is skipped there.
                        work.entry(member).or_insert(ObjectKind::User);
                    }
                }
                ChangeKind::Assigned | ChangeKind::Unassigned => {
                    if c.related_id.as_deref() != Some(run.sp.id.as_str()) {
                        continue;
                    }
                    work.insert(c.object_id.clone(), c.object_kind);
                    if c.object_kind == ObjectKind::Group {
                        let mut after: Option<String> = None;
                        loop {
                            let (members, more) =
                                store.group_members(tenant, &c.object_id, after.as_deref(), 1000).await?;
                            after = members.last().map(|m| m.id.clone());
                            work.extend(
                                members.into_iter().filter(|m| m.kind == ObjectKind::User).map(|m| (m.id, m.kind)),
                            );
                            if !more || after.is_none() {
                                break;
                            }
                        }
                    }
                }
                _ => {
                    work.insert(c.object_id.clone(), c.object_kind);
                }
            }
        }
    }
    Ok(work)
}

/// Runs the pipeline over `ids` of one kind, a few at a time; the references and deprovisionings they leave.
#[allow(clippy::too_many_arguments)]
async fn pass(
    run: &Arc<JobRun>,
    cache: &Arc<CycleCache>,
    ids: Vec<String>,
    kind: ObjectKind,
    stop: &Arc<AtomicBool>,
    now: &Now,
    preview: bool,
    out: &mut CycleOutcome,
) -> Result<(Vec<PendingReferences>, Vec<(Deprovision, ObjectReport)>), WorkerError> {
    let mut references = Vec::new();
    let mut deprovisions = Vec::new();
    let mut tasks: JoinSet<Result<(ObjectReport, Processed), WorkerError>> = JoinSet::new();
    let total = out.total;
    let mut queue = ids.into_iter();
    let mut done = 0usize;
    loop {
        while tasks.len() < run.concurrency.max(1) && !stop.load(Ordering::Relaxed) {
            let Some(id) = queue.next() else { break };
            let (run, cache, now) = (run.clone(), cache.clone(), now.clone());
            tasks.spawn(
                async move {
                    let started = now();
                    let imported = object::import(&run, &cache, &id, kind).await?;
                    if imported.object.as_ref().is_some_and(|o| o.kind != kind) {
                        return Ok((new_report(&id, kind, started), Processed::default()));
                    }
                    let link = if cache.linked.as_ref().is_some_and(|l| !l.contains(&id)) {
                        None
                    } else {
                        run.services.store.links(&run.job.id, std::slice::from_ref(&id)).await?.into_iter().next()
                    };
                    let mut report = new_report(&id, kind, started);
                    let processed = object::process(&run, imported, link, &mut report, true, preview, started).await;
                    report.ended = now();
                    Ok((report, processed))
                }
                .instrument(tracing::Span::current()),
            );
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (report, processed) = match joined {
            Ok(r) => r?,
            Err(e) => return Err(WorkerError::NotConfigured(format!("a provisioning task failed: {e}"))),
        };
        done += 1;
        out.imported += 1;
        if let Some(fatal) = processed.fatal {
            stop.store(true, Ordering::Relaxed);
            tasks.abort_all();
            return Err(fatal);
        }
        let has_references = processed.references.is_some();
        if let Some(r) = processed.references {
            references.push(r);
        }
        match processed.deprovision {
            Some(d) => deprovisions.push((d, report)),
            None if has_references => {
                out.held_reports.insert(report.source_id.clone(), report);
            }
            None => out.finish(run, report).await,
        }
        if done.is_multiple_of(PAUSE_CHECK_EVERY) {
            if !still_running(run).await {
                stop.store(true, Ordering::Relaxed);
            }
            progress(run, out.imported, total, now(), preview).await;
        }
    }
    Ok((references, deprovisions))
}

/// Exports the references the passes left (a user's manager, a group's members), as many objects at once as the
/// job's concurrency allows: each object's references are independent of the others'.
async fn resolve_all(
    run: &Arc<JobRun>,
    references: Vec<PendingReferences>,
    stop: &Arc<AtomicBool>,
    now: &Now,
    preview: bool,
    out: &mut CycleOutcome,
) -> Result<(), WorkerError> {
    let mut tasks: JoinSet<Result<ObjectReport, WorkerError>> = JoinSet::new();
    let mut queue = references.into_iter();
    loop {
        while tasks.len() < run.concurrency.max(1) && !stop.load(Ordering::Relaxed) {
            let Some(pending) = queue.next() else { break };
            let mut report = out
                .held_reports
                .remove(&pending.source_id)
                .unwrap_or_else(|| new_report(&pending.source_id, pending.kind, now()));
            let (run, now) = (run.clone(), now.clone());
            tasks.spawn(
                async move {
                    object::resolve_references(&run, &pending, &mut report, preview, now()).await?;
                    report.ended = now();
                    Ok(report)
                }
                .instrument(tracing::Span::current()),
            );
        }
        let Some(joined) = tasks.join_next().await else { break };
        let report = match joined {
            Ok(r) => r?,
            Err(e) => return Err(WorkerError::NotConfigured(format!("a provisioning task failed: {e}"))),
        };
        out.finish(run, report).await;
    }
    Ok(())
}

impl CycleOutcome {
    /// Takes one object's finished report: counted, measured, and written to the provisioning logs (a page at a
    /// time), or kept by a preview.
    async fn finish(&mut self, run: &JobRun, report: ObjectReport) {
        count(self, &report);
        if report.outcome == Outcome::Failure {
            self.failed += 1;
            if self.first_failures.len() < 10 {
                self.first_failures.push((
                    report.display_name.clone(),
                    report.error_code.clone().unwrap_or_default(),
                    report.reason.clone().unwrap_or_default(),
                ));
            }
        }
        if self.keep_reports {
            self.reports.push(report);
            return;
        }
        if report.loggable() {
            run.services.metrics.export(&run.tenant.id, report.action.as_str(), report.outcome.as_str());
            let context = LogContext {
                tenant_id: &run.tenant.id,
                job_id: &run.job.id,
                service_principal_id: &run.sp.id,
                service_principal_name: &run.sp.display_name,
                cycle_id: &self.cycle_id,
                target_system: &run.target_system,
                on_demand: false,
            };
            self.pending_logs.push(report.to_log(&context));
            if self.pending_logs.len() >= LOG_PAGE {
                self.flush(run).await;
            }
        }
    }

    /// Writes the pending log records. A store failure is logged and does not fail the cycle: the target has the
    /// changes already.
    ///
    /// The page is written by a task of its own, so that objects go on being processed meanwhile; the previous
    /// page is written first (one page at a time keeps the memory bounded). [`CycleOutcome::flushed`] waits for all.
    async fn flush(&mut self, run: &JobRun) {
        if let Some(writing) = self.writing.take() {
            let _ = writing.await;
        }
        if self.pending_logs.is_empty() {
            return;
        }
        let page = std::mem::take(&mut self.pending_logs);
        let (store, job) = (run.services.store.clone(), run.job.id.clone());
        let write = async move {
            if let Err(e) = store.insert_logs(&page).await {
                tracing::warn!(error = %e, %job, "could not write provisioning log records");
            }
        };
        self.writing = Some(tokio::spawn(write.instrument(tracing::Span::current())));
    }

    /// Writes the pending log records and waits until every page is written.
    async fn flushed(&mut self, run: &JobRun) {
        self.flush(run).await;
        if let Some(writing) = self.writing.take() {
            let _ = writing.await;
        }
    }
}

fn count(out: &mut CycleOutcome, report: &ObjectReport) {
    match report.outcome {
        Outcome::Failure => out.escrowed += 1,
        Outcome::Success if report.action != Action::Other => out.exported += 1,
        _ => {}
    }
}

/// Records how far the cycle is, as Graph's `progress` shows it (in objects, where Entra counts pages).
async fn progress(run: &JobRun, completed: u64, total: u64, at: OffsetDateTime, preview: bool) {
    if preview {
        return;
    }
    let p = json!({"completedUnits": completed, "totalUnits": total, "units": "objects",
                   "progressObservationDateTime": rfc3339(at)});
    if let Err(e) = run.services.store.set_progress(&run.job.id, Some(&p)).await {
        tracing::warn!(error = %e, job = %run.job.id, "could not record a cycle's progress");
    }
}

/// Whether the job is still started: a pause (or a deleted job) stops a running cycle after its current objects.
async fn still_running(run: &JobRun) -> bool {
    match run.services.store.run_state(&run.job.id).await {
        Ok(Some(s)) => s.next_run.is_some(),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Runs one cycle of the job whose run state is `state`, and returns the state after it (the caller stores it).
pub async fn run_cycle(
    services: &Services,
    mut state: RunState,
    stop: Arc<AtomicBool>,
    now: Now,
) -> (RunState, Result<CycleOutcome, WorkerError>) {
    let began = now();
    let initial = state.watermark.is_none();
    let cycle_id = ids::random_guid().unwrap_or_default();
    let span = tracing::info_span!("provisioning_cycle", job = %state.job_id, cycle = %cycle_id);
    let result = cycle(services, &state, &cycle_id, stop, &now, false).instrument(span).await;
    let ended = now();
    record_metrics(services, &state, &result);
    let interval = services
        .store
        .job(&state.tenant_id, &state.service_principal_id, &state.job_id)
        .await
        .ok()
        .flatten()
        .and_then(|j| job::parse_duration(&j.schedule.interval))
        .filter(|s| s.is_finite())
        .map_or(Duration::minutes(40), |s| Duration::seconds_f64(s.clamp(1.0, 86_400.0 * 365.0)));
    state.data.cycles += 1;
    state.data.running = None;
    match &result {
        Ok((outcome, schema_version, latest)) => {
            let execution = json!({
                "activityIdentifier": cycle_id,
                "countEntitled": outcome.imported,
                "countEntitledForProvisioning": outcome.imported,
                "countEscrowed": outcome.escrowed,
                "countEscrowedRaw": outcome.escrowed,
                "countExported": outcome.exported,
                "countExports": outcome.exported,
                "countImported": outcome.imported,
                "countImportedDeltas": outcome.imported,
                "countImportedReferenceDeltas": 0,
                "error": null,
                "state": if outcome.escrowed > 0 { "EntryLevelErrors" } else { "Succeeded" },
                "timeBegan": rfc3339(began),
                "timeEnded": rfc3339(ended),
            });
            state.data.last_execution = Some(execution.clone());
            remember(&mut state, &execution, initial, outcome.interrupted);
            state.data.successive_failures = 0;
            if !outcome.interrupted {
                state.watermark = Some(*latest);
                state.schema_version = Some(schema_version.clone());
                state.data.force_deletes = false;
            }
            if outcome.escrowed == 0 {
                state.data.last_successful_execution = Some(execution.clone());
                if outcome.exported > 0 {
                    state.data.last_successful_execution_with_exports = Some(execution);
                }
                let t = rfc3339(ended);
                state.data.steady_state_first.get_or_insert_with(|| t.clone());
                state.data.steady_state_last = Some(t);
            }
            if outcome.held > 0 {
                state.data.held_deletes = outcome.held;
                quarantine(&mut state, TOO_MANY_DELETES, &deletion_threshold(outcome.held), ended);
            } else if !outcome.interrupted
                || state.data.quarantine.as_ref().is_some_and(|q| q.reason != TOO_MANY_DELETES)
            {
                // The first healthy cycle ends a quarantine; one for deletions once a whole cycle holds none (the
                // cause was fixed), as Entra leaves quarantine when a cycle no longer meets its criteria.
                state.data.quarantine = None;
                state.data.held_deletes = 0;
            }
            if state.next_run.is_some() {
                let wait = if state.data.quarantine.is_some() { quarantine_wait(&state) } else { interval };
                state.next_run = Some(ended + wait);
            }
        }
        Err(e) => {
            state.data.successive_failures += 1;
            let execution = json!({
                "activityIdentifier": cycle_id,
                "countEntitled": 0, "countEntitledForProvisioning": 0, "countEscrowed": 0, "countEscrowedRaw": 0,
                "countExported": 0, "countExports": 0, "countImported": 0, "countImportedDeltas": 0,
                "countImportedReferenceDeltas": 0,
                "error": {"code": error_code(e), "message": e.to_string(), "tenantActionable": true},
                "state": "Failed",
                "timeBegan": rfc3339(began),
                "timeEnded": rfc3339(ended),
            });
            remember(&mut state, &execution, initial, false);
            state.data.last_execution = Some(execution);
            if matches!(e, WorkerError::Target { quarantine: true, .. }) {
                quarantine(&mut state, "EncounteredQuarantineException", e, ended);
            }
            if state.next_run.is_some() {
                let wait = if state.data.quarantine.is_some() { quarantine_wait(&state) } else { interval };
                state.next_run = Some(ended + wait);
            }
        }
    }
    notify_after(services, &mut state, &result, &cycle_id, ended).await;
    (state, result.map(|(o, _, _)| o))
}

/// Adds a cycle's summary to the job's recent cycles (the last [`RECENT_CYCLES`], oldest first).
fn remember(state: &mut RunState, execution: &Value, initial: bool, interrupted: bool) {
    let mut summary = json!({"initial": initial, "interrupted": interrupted});
    for key in
        ["activityIdentifier", "state", "timeBegan", "timeEnded", "countExported", "countEscrowed", "countImported"]
    {
        summary[key] = execution[key].clone();
    }
    summary["error"] = execution["error"]["message"].clone();
    let recent = &mut state.data.recent_cycles;
    recent.push(summary);
    if recent.len() > RECENT_CYCLES {
        recent.drain(..recent.len() - RECENT_CYCLES);
    }
}

/// Sends the notification email a cycle calls for, once per reason as Entra does: when the job entered quarantine
/// (or its reason changed), or when the cycle ended with failures; a healthy cycle forgets the last reason, so that
/// the next trouble is mailed again.
async fn notify_after(
    services: &Services,
    state: &mut RunState,
    result: &Result<CycleResult, WorkerError>,
    cycle_id: &str,
    at: OffsetDateTime,
) {
    use crate::notify::{FailedObject, Notice, NoticeKind};
    let kind = match (&state.data.quarantine, result) {
        (Some(q), _) => Some(NoticeKind::Quarantine {
            reason: q.reason.clone(),
            error: q.error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        }),
        (None, Ok((outcome, _, _))) if outcome.escrowed > 0 => Some(NoticeKind::CycleFailures {
            failed: outcome.failed,
            first_errors: outcome
                .first_failures
                .iter()
                .map(|(identity, code, reason)| FailedObject {
                    identity: identity.clone(),
                    error_code: code.clone(),
                    reason: reason.clone(),
                })
                .collect(),
        }),
        _ => None,
    };
    let Some(kind) = kind else {
        state.data.last_notice = None;
        return;
    };
    let store = services.store.as_ref();
    let settings = match idplane_provisioning::secrets::saved(
        store,
        &services.cipher,
        &state.tenant_id,
        &state.service_principal_id,
    )
    .await
    {
        Ok(creds) => creds
            .get("SyncNotificationSettings")
            .and_then(|t| idplane_provisioning::secrets::NotificationSettings::parse(t).ok())
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, job = %state.job_id, "could not read the notification settings");
            return;
        }
    };
    if !settings.enabled || settings.recipients.is_empty() {
        return;
    }
    let application = store
        .service_principal(&state.tenant_id, &state.service_principal_id)
        .await
        .ok()
        .flatten()
        .map(|sp| sp.display_name)
        .unwrap_or_default();
    let notice = Notice {
        tenant_id: state.tenant_id.clone(),
        application,
        service_principal_id: state.service_principal_id.clone(),
        job_id: state.job_id.clone(),
        at,
        kind,
        logs_url: services.graph_url.as_deref().map(|g| crate::notify::logs_url(g, &state.job_id, Some(cycle_id))),
    };
    let key = notice.reason_key();
    if state.data.last_notice.as_deref() == Some(key.as_str()) {
        return;
    }
    match services.notifier.notify(&notice, &settings.recipients).await {
        Ok(()) => state.data.last_notice = Some(key),
        Err(e) => tracing::warn!(error = %e, job = %state.job_id, "could not send the notification email"),
    }
}

fn record_metrics(services: &Services, state: &RunState, result: &Result<CycleResult, WorkerError>) {
    let m = &services.metrics;
    let tenant = &state.tenant_id;
    match result {
        Ok((outcome, _, _)) => {
            let kind = if outcome.interrupted { "interrupted" } else { "succeeded" };
            m.cycle(tenant, outcome.initial, kind);
        }
        Err(_) => m.cycle(tenant, state.watermark.is_none(), "failed"),
    }
}

/// Graph's quarantine reason of a cycle whose deprovisionings the accidental-deletion threshold held.
pub const TOO_MANY_DELETES: &str = "TooManyDeletes";

/// The error of a `TooManyDeletes` quarantine: what was held and what to do.
fn deletion_threshold(held: u64) -> String {
    format!(
        "{held} deprovisionings (disables and deletes) in one cycle exceed the job's accidental-deletion threshold \
         (DeleteThresholdValue in SyncNotificationSettings): none was done. Review them in the provisioning logs \
         (action StagedDelete), then allow them with restart (criteria.resetScope ForceDeletes), or undo what caused \
         them (assignments, scoping filters, deleted users) and let the next cycle run"
    )
}

fn error_code(e: &WorkerError) -> String {
    match e {
        WorkerError::Target { code, .. } => code.clone(),
        WorkerError::NotConfigured(_) | WorkerError::Mapping(_) | WorkerError::Invalid(_) => "NotConfigured".into(),
        WorkerError::Provisioning(_) | WorkerError::Store(_) => "InternalError".into(),
    }
}

/// Puts the job in quarantine (or keeps it there) for `reason`.
pub fn quarantine(state: &mut RunState, reason: &str, error: &dyn std::fmt::Display, at: OffsetDateTime) {
    let t = rfc3339(at);
    let q = match state.data.quarantine.take() {
        Some(mut q) => {
            q.series_count += 1;
            if q.reason != reason {
                q.current_began = t.clone();
                q.reason = reason.to_owned();
            }
            q.error = json!({"code": reason, "message": error.to_string(), "tenantActionable": true});
            q
        }
        None => Quarantine {
            current_began: t.clone(),
            next_attempt: t.clone(),
            reason: reason.to_owned(),
            series_began: t.clone(),
            series_count: 1,
            error: json!({"code": reason, "message": error.to_string(), "tenantActionable": true}),
        },
    };
    state.data.quarantine = Some(q);
    let next = at + quarantine_wait(state);
    if let Some(q) = state.data.quarantine.as_mut() {
        q.next_attempt = rfc3339(next);
    }
}

fn quarantine_wait(state: &RunState) -> Duration {
    let n = state.data.quarantine.as_ref().map_or(1, |q| q.series_count).clamp(1, 10);
    let wait = QUARANTINE_BASE * (1i32 << (n - 1).min(9));
    wait.min(Duration::days(1))
}

type CycleResult = (CycleOutcome, String, i64);

/// What the next cycle would send, in order, computed with reads only: idplane's preview.
pub async fn preview(services: &Services, state: &RunState, now: Now) -> Result<CycleOutcome, WorkerError> {
    let stop = Arc::new(AtomicBool::new(false));
    cycle(services, state, "preview", stop, &now, true).await.map(|(o, _, _)| o)
}

async fn cycle(
    services: &Services,
    state: &RunState,
    cycle_id: &str,
    stop: Arc<AtomicBool>,
    now: &Now,
    preview: bool,
) -> Result<CycleResult, WorkerError> {
    let mut run = JobRun::load(services, &state.tenant_id, &state.service_principal_id, &state.job_id).await?;
    run.read_only = preview;
    let run = Arc::new(run);
    let store = services.store.as_ref();
    // Entra's probe before every cycle: a random value of the first matching attribute must match nothing.
    let attribute = run
        .users
        .as_ref()
        .and_then(|m| m.matching().first().map(|a| a.target.clone()))
        .unwrap_or_else(|| idplane_scim_client::DEFAULT_MATCHING_ATTRIBUTE.to_string());
    if let Err(f) = run.client.test_connection(&attribute, &ids::random_guid()?).await {
        let quarantine = f.code == ConnectionTestCode::CredentialValidationFailure;
        return Err(WorkerError::Target { code: f.code.to_string(), message: f.to_string(), quarantine });
    }
    let latest = store.latest_change(&run.tenant.id).await?;
    let initial = state.watermark.is_none() || state.schema_version.as_deref() != Some(run.schema_version.as_str());
    let (mut work, assigned, linked) = if initial {
        let w = initial_work(&run).await?;
        (w.work, w.assigned, Some(w.linked))
    } else {
        (incremental_work(&run, state.watermark.unwrap_or(0), latest).await?, None, None)
    };
    for e in store.escrows_due(&run.job.id, now(), 10_000).await? {
        let kind = if e.object_type.eq_ignore_ascii_case("Group") { ObjectKind::Group } else { ObjectKind::User };
        work.entry(e.source_id).or_insert(kind);
    }
    let mut out = CycleOutcome {
        cycle_id: cycle_id.to_owned(),
        initial,
        total: work.len() as u64,
        keep_reports: preview,
        ..CycleOutcome::default()
    };
    progress(&run, 0, out.total, now(), preview).await;
    let cache = Arc::new(CycleCache::new(assigned, linked));
    let (users, groups): (Vec<_>, Vec<_>) = work.into_iter().partition(|(_, k)| *k == ObjectKind::User);
    let mut references = Vec::new();
    let mut deprovisions = Vec::new();
    for (kind, ids) in [(ObjectKind::User, users), (ObjectKind::Group, groups)] {
        if run.mapping(kind).is_none() {
            continue;
        }
        let ids: Vec<String> = ids.into_iter().map(|(id, _)| id).collect();
        let (r, d) = pass(&run, &cache, ids, kind, &stop, now, preview, &mut out).await?;
        references.extend(r);
        deprovisions.extend(d);
    }
    deprovision(&run, state, deprovisions, now, preview, &mut out).await;
    resolve_all(&run, references, &stop, now, preview, &mut out).await?;
    for (_, report) in std::mem::take(&mut out.held_reports) {
        out.finish(&run, report).await;
    }
    out.interrupted |= stop.load(Ordering::Relaxed);
    if !preview {
        out.flushed(&run).await;
        if let Err(e) = store.set_progress(&run.job.id, None).await {
            tracing::warn!(error = %e, job = %run.job.id, "could not clear a cycle's progress");
        }
    }
    tracing::info!(
        job = %run.job.id, cycle = %cycle_id, initial, imported = out.imported, exported = out.exported,
        escrowed = out.escrowed, interrupted = out.interrupted, "provisioning cycle ended"
    );
    Ok((out, run.schema_version.clone(), latest))
}

/// How many provisioning log records are written in one transaction.
const LOG_PAGE: usize = 500;

/// Does the cycle's deprovisionings, unless there are more than the accidental-deletion threshold allows: then
/// none is done, each is logged as a staged delete, the cycle ends without moving the watermark (the next one
/// meets the same changes), and the job is quarantined (`TooManyDeletes`) until a restart with `ForceDeletes`
/// approves them, or a cycle no longer has too many.
async fn deprovision(
    run: &JobRun,
    state: &RunState,
    deprovisions: Vec<(Deprovision, ObjectReport)>,
    now: &Now,
    preview: bool,
    out: &mut CycleOutcome,
) {
    let threshold = run.notification.delete_threshold.filter(|_| run.notification.delete_threshold_enabled);
    let n = deprovisions.len() as u64;
    let held = threshold.is_some_and(|t| n > u64::from(t)) && !state.data.force_deletes;
    for (d, mut report) in deprovisions {
        if held {
            report.action = Action::StagedDelete;
            report.outcome = Outcome::Skipped;
            report.target_id = Some(d.link.target_id.clone());
            report.reason = Some(TOO_MANY_DELETES.into());
            report.step(
                "EntryExportStagedDelete",
                StepType::Export,
                Outcome::Skipped,
                "Held by the accidental-deletion threshold: approve with Restart (ForceDeletes)".into(),
            );
        } else {
            object::finish_deprovision(run, d, &mut report, preview, now()).await;
        }
        out.finish(run, report).await;
    }
    if held {
        out.interrupted = true;
        out.held = n;
    }
}

/// Graph's `synchronizationStatus` of a job from its run state, links and escrows.
pub fn status(job: &SyncJob, state: Option<&RunState>, link_counts: &[(String, u64)], escrows: u64) -> Value {
    let mut status = job::initial_status();
    let Some(state) = state else {
        status["code"] = json!(if job.schedule.state == ScheduleState::Disabled { "NotConfigured" } else { "NotRun" });
        return status;
    };
    let d = &state.data;
    status["code"] = json!(if d.quarantine.is_some() {
        "Quarantine"
    } else if job.schedule.state == ScheduleState::Paused {
        "Paused"
    } else if d.cycles == 0 {
        "NotRun"
    } else {
        "Active"
    });
    status["countSuccessiveCompleteFailures"] = json!(d.successive_failures);
    status["lastExecution"] = d.last_execution.clone().unwrap_or(Value::Null);
    status["lastSuccessfulExecution"] = d.last_successful_execution.clone().unwrap_or(Value::Null);
    status["lastSuccessfulExecutionWithExports"] =
        d.last_successful_execution_with_exports.clone().unwrap_or(Value::Null);
    status["quarantine"] = serde_json::to_value(&d.quarantine).unwrap_or(Value::Null);
    if let Some(t) = &d.steady_state_first {
        status["steadyStateFirstAchievedTime"] = json!(t);
    }
    if let Some(t) = &d.steady_state_last {
        status["steadyStateLastAchievedTime"] = json!(t);
    }
    status["progress"] = d.running.clone().map_or(json!([]), |r| json!([r]));
    status["synchronizedEntryCountByType"] = Value::Array(
        link_counts.iter().map(|(kind, n)| json!({"key": format!("{kind} to {kind}"), "value": n})).collect(),
    );
    status["escrowsPruned"] = json!(false);
    if escrows > 0 {
        status["countEscrowed"] = json!(escrows);
    }
    status
}
