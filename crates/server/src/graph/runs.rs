//! Running provisioning jobs through Graph: `start` (Provisioning Status On), `pause` (Off; a running cycle stops
//! after its current objects), `restart` (with `criteria.resetScope`), `provisionOnDemand`, and idplane's own
//! `preview` (the requests the next cycle would send, computed with reads only) and `drift` (target objects no
//! source object is linked to, and linked ones changed behind the engine's back), and `cycles` (idplane's own: the
//! job's recent cycles, newest first, for the console's chart). A job's `status` is rendered from its run state.
//! The cycles themselves are the worker's (`idplane_worker`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::cycle::state::RunState;
use idplane_provisioning::directory::ObjectKind;
use idplane_provisioning::job::{self, ResetScope, ScheduleState, SyncJob};
use idplane_worker::WorkerError;
use idplane_worker::job::Services;
use idplane_worker::report::LogContext;
use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::synchronization::{Res, change_job, load_job, service_principal};
use super::{Caller, json_response, no_content, read_body, read_optional_body};
use crate::AppState;

/// What the engine needs, from the server's state.
pub fn services(s: &AppState) -> Services {
    Services {
        store: s.provisioning.clone(),
        cipher: s.secrets.clone(),
        transport: s.targets.clone(),
        relay: Some(std::sync::Arc::new(s.hub.clone())),
        metrics: s.engine.clone(),
        notifier: s.notifier.clone(),
        graph_url: s.public_url.as_ref().map(|u| format!("{}/v1.0", u.trim_end_matches('/'))),
    }
}

impl From<WorkerError> for GraphError {
    fn from(e: WorkerError) -> Self {
        match e {
            WorkerError::Provisioning(p) => p.into(),
            WorkerError::Store(s) => ProvisioningError::Store(s).into(),
            WorkerError::Invalid(m) | WorkerError::NotConfigured(m) => ProvisioningError::invalid(m).into(),
            WorkerError::Mapping(m) => ProvisioningError::invalid(m.to_string()).into(),
            WorkerError::Target { code, message, .. } => GraphError::Coded { status: 400, code, message },
        }
    }
}

/// A job as Graph shows it, its status from its run state.
pub async fn render_job(s: &AppState, job: &SyncJob) -> Result<Map<String, Value>, GraphError> {
    let state = s.provisioning.run_state(&job.id).await?;
    let (links, escrows) = match &state {
        Some(_) => (s.provisioning.link_counts(&job.id).await?, s.provisioning.escrow_count(&job.id).await?),
        None => (Vec::new(), 0),
    };
    let mut out = job.render();
    out.insert("status".into(), idplane_worker::cycle::status(job, state.as_ref(), &links, escrows));
    Ok(out)
}

/// The job's run state, or the state of a job that never ran.
async fn run_state(s: &AppState, c: &Caller, job: &SyncJob) -> Result<RunState, GraphError> {
    Ok(s.provisioning
        .run_state(&job.id)
        .await?
        .unwrap_or_else(|| RunState::new(&job.id, &c.tenant.id, &job.service_principal_id, c.now)))
}

/// `POST .../start`: the schedule becomes active (every 40 minutes unless set) and a cycle is due now.
pub async fn start(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let job = change_job(&s, &c, &sp, &job_id, |job| {
        job.schedule.state = ScheduleState::Active;
        if job.schedule.interval == job::NEVER {
            job.schedule.interval = job::DEFAULT_INTERVAL.into();
        }
        Ok(())
    })
    .await?;
    let mut state = run_state(&s, &c, &job).await?;
    state.next_run = Some(c.now);
    s.provisioning.put_run_state(&state).await?;
    Ok(no_content())
}

/// `POST .../pause`: no further cycles; a running one stops after its current objects.
pub async fn pause(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let job = change_job(&s, &c, &sp, &job_id, |job| {
        job.schedule.state = ScheduleState::Paused;
        Ok(())
    })
    .await?;
    if let Some(mut state) = s.provisioning.run_state(&job.id).await? {
        state.next_run = None;
        s.provisioning.put_run_state(&state).await?;
    }
    Ok(no_content())
}

/// `POST .../restart {"criteria": {"resetScope": ...}}`: forgets what the scope names; a started job runs at once.
pub async fn restart(
    State(s): State<AppState>,
    c: Caller,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_optional_body(&s, &headers, body).await?;
    let scope = job::reset_scope(&body)?;
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let store = &s.provisioning;
    let mut state =
        store.run_state(&job.id).await?.unwrap_or_else(|| RunState::new(&job.id, &c.tenant.id, &sp.id, c.now));
    let full = scope.contains(&ResetScope::Full);
    if full || scope.contains(&ResetScope::Watermark) {
        state.watermark = None;
    }
    if full || scope.contains(&ResetScope::Escrows) {
        store.delete_escrows(&job.id).await?;
    }
    if full || scope.contains(&ResetScope::QuarantineState) {
        state.data.quarantine = None;
        state.data.successive_failures = 0;
        state.data.last_notice = None;
    }
    if full {
        store.delete_links(&job.id).await?;
    }
    if scope.contains(&ResetScope::ForceDeletes) {
        state.data.force_deletes = true;
        state.data.held_deletes = 0;
        if state.data.quarantine.as_ref().is_some_and(|q| q.reason == idplane_worker::cycle::TOO_MANY_DELETES) {
            state.data.quarantine = None;
        }
    }
    state.next_run = match job.schedule.state {
        ScheduleState::Active => Some(c.now),
        _ => None,
    };
    store.put_run_state(&state).await?;
    tracing::info!(job = %job.id, scope = ?scope, "provisioning job restarted");
    Ok(no_content())
}

/// `POST .../provisionOnDemand {"parameters": [{"ruleId", "subjects": [{"objectId", "objectTypeName"}]}]}`.
pub async fn provision_on_demand(
    State(s): State<AppState>,
    c: Caller,
    Path((id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Res {
    let body = read_body(&s, &headers, body).await?;
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let bad = |m: &str| -> GraphError { ProvisioningError::invalid_property("parameters", m.to_owned()).into() };
    let parameters = body.get("parameters").and_then(Value::as_array).ok_or_else(|| {
        bad("the body is {\"parameters\": [{\"ruleId\": \"...\", \"subjects\": [{\"objectId\": \"...\", \"objectTypeName\": \"User\"}]}]}")
    })?;
    let subjects: Vec<&Value> =
        parameters.iter().filter_map(|p| p.get("subjects").and_then(Value::as_array)).flatten().collect();
    let [subject] = subjects.as_slice() else {
        return Err(bad("provision on demand takes exactly one subject: one user, or one group"));
    };
    let object_id =
        subject.get("objectId").and_then(Value::as_str).ok_or_else(|| bad("a subject needs its objectId"))?;
    let kind = match subject.get("objectTypeName").and_then(Value::as_str).unwrap_or("User") {
        t if t.eq_ignore_ascii_case("User") => ObjectKind::User,
        t if t.eq_ignore_ascii_case("Group") => ObjectKind::Group,
        other => return Err(bad(&format!("objectTypeName '{other}': this job provisions User and Group objects"))),
    };
    let report =
        idplane_worker::on_demand::provision(&services(&s), &c.tenant.id, &sp.id, &job.id, object_id, kind, c.now)
            .await?;
    let target = idplane_provisioning::templates::job_schema(&sp, &job)?
        .synchronization_rules
        .first()
        .map(|r| r.target_directory_name.clone())
        .unwrap_or_default();
    let cycle_id = idplane_provisioning::ids::random_guid().map_err(ProvisioningError::Store)?;
    let context = LogContext {
        tenant_id: &c.tenant.id,
        job_id: &job.id,
        service_principal_id: &sp.id,
        service_principal_name: &sp.display_name,
        cycle_id: &cycle_id,
        target_system: &target,
        on_demand: true,
    };
    let record = report.to_log(&context);
    s.provisioning.insert_logs(std::slice::from_ref(&record)).await?;
    let (key, value) = record.on_demand_response();
    let out = json!({
        "@odata.context": c.context("microsoft.graph.stringKeyStringValuePair"),
        "key": key,
        "value": value,
    });
    Ok(json_response(StatusCode::OK, &out))
}

/// `POST .../preview` (idplane's extension): the requests the next cycle would send, in order, without sending any.
pub async fn preview(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let state =
        s.provisioning.run_state(&job.id).await?.unwrap_or_else(|| RunState::new(&job.id, &c.tenant.id, &sp.id, c.now));
    let now = c.now;
    let outcome = idplane_worker::cycle::preview(&services(&s), &state, std::sync::Arc::new(move || now)).await?;
    let requests: Vec<Value> = outcome
        .reports
        .iter()
        .flat_map(|r| {
            r.requests.iter().map(move |q| {
                json!({"method": q.method, "path": q.path, "body": q.body, "sourceId": r.source_id,
                       "objectType": r.object_type, "displayName": r.display_name, "action": r.action.as_str()})
            })
        })
        .collect();
    let failures: Vec<Value> = outcome
        .reports
        .iter()
        .filter(|r| r.error_code.is_some())
        .map(|r| json!({"sourceId": r.source_id, "displayName": r.display_name, "errorCode": r.error_code, "reason": r.reason}))
        .collect();
    let out = json!({"initial": outcome.initial, "requests": requests, "failures": failures});
    Ok(json_response(StatusCode::OK, &out))
}

/// `GET .../drift` (idplane's extension): the target objects no source object is linked to, and the linked ones
/// whose attributes in the target differ from what the mappings give. Reads the whole target; writes nothing.
pub async fn drift(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let d = idplane_worker::drift::report(&services(&s), &c.tenant.id, &sp.id, &job.id, c.now).await?;
    let out = json!({"examined": d.examined, "orphans": d.orphans, "drifted": d.drifted,
                     "correct": "POST .../restart with {\"criteria\": {\"resetScope\": \"Watermark\"}}: the next cycle, an initial one, corrects every drifted object"});
    Ok(json_response(StatusCode::OK, &out))
}

/// `GET .../cycles` (idplane's extension): the job's recent cycles, newest first (at most
/// [`idplane_provisioning::cycle::state::RECENT_CYCLES`]): `{"value": [{"activityIdentifier", "state"
/// (Succeeded, EntryLevelErrors, Failed), "timeBegan", "timeEnded", "countExported", "countEscrowed",
/// "countImported", "initial", "interrupted", "error"}]}`, each as the job's `lastExecution` summed it up.
pub async fn cycles(State(s): State<AppState>, c: Caller, Path((id, job_id)): Path<(String, String)>) -> Res {
    let sp = service_principal(&s, &c, &id).await?;
    let job = load_job(&s, &c, &sp, &job_id).await?;
    let recent = s.provisioning.run_state(&job.id).await?.map(|st| st.data.recent_cycles).unwrap_or_default();
    let out = json!({"value": recent.into_iter().rev().collect::<Vec<Value>>()});
    Ok(json_response(StatusCode::OK, &out))
}
