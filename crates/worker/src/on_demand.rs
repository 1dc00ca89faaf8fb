//! Provision on demand (`POST .../jobs/{id}/provisionOnDemand`): one user, or one group with at most five members,
//! through the whole pipeline at once, deprovisioning included; answered with Graph's `stringKeyStringValuePair`
//! whose key is the result and whose value is the provisioning event with every step.

use std::sync::Arc;

use idplane_provisioning::directory::ObjectKind;
use serde_json::Value;
use time::OffsetDateTime;

use crate::cycle::new_report;
use crate::error::WorkerError;
use crate::job::{JobRun, Services};
use crate::object::{self, CycleCache};
use crate::report::{ObjectReport, Outcome, StepType};

/// The most members a group provisioned on demand may have, as in Entra.
pub const MAX_GROUP_MEMBERS: usize = 5;

/// Provisions one object of the job now. A group's members (at most [`MAX_GROUP_MEMBERS`]) are provisioned first.
pub async fn provision(
    services: &Services,
    tenant_id: &str,
    sp_id: &str,
    job_id: &str,
    object_id: &str,
    kind: ObjectKind,
    now: OffsetDateTime,
) -> Result<ObjectReport, WorkerError> {
    let run = Arc::new(JobRun::load(services, tenant_id, sp_id, job_id).await?);
    if run.mapping(kind).is_none() {
        return Err(WorkerError::Invalid(format!(
            "the job's object mapping for {} objects is disabled: enable it to provision them",
            if kind == ObjectKind::User { "User" } else { "Group" }
        )));
    }
    let mut report = new_report(object_id, kind, now);
    let attribute = run
        .users
        .as_ref()
        .and_then(|m| m.matching().first().map(|a| a.target.clone()))
        .unwrap_or_else(|| idplane_scim_client::DEFAULT_MATCHING_ATTRIBUTE.to_string());
    let guid = idplane_provisioning::ids::random_guid().map_err(WorkerError::from)?;
    if let Err(f) = run.client.test_connection(&attribute, &guid).await {
        report.outcome = Outcome::Failure;
        report.error_code = Some(f.code.to_string());
        report.reason = Some(f.to_string());
        report.step("TestConnection", StepType::Import, Outcome::Failure, f.to_string());
        return Ok(report);
    }
    let cache = CycleCache::default();
    let imported = object::import(&run, &cache, object_id, kind).await?;
    if imported.object.is_none() {
        return Err(WorkerError::Invalid(format!(
            "no {} '{object_id}' in the directory: provision on demand cannot act on objects deleted permanently",
            if kind == ObjectKind::User { "user" } else { "group" }
        )));
    }
    if kind == ObjectKind::Group {
        let members: Vec<String> = imported
            .source
            .as_ref()
            .and_then(|s| s.get("members"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(WorkerError::Invalid(format!(
                "the group has {} members; provision on demand takes a group of at most {MAX_GROUP_MEMBERS} members",
                members.len()
            )));
        }
        if run.users.is_some() {
            for m in members {
                let member = object::import(&run, &cache, &m, ObjectKind::User).await?;
                let link = services.store.links(&run.job.id, std::slice::from_ref(&m)).await?.into_iter().next();
                let mut r = new_report(&m, ObjectKind::User, now);
                let p = object::process(&run, member, link, &mut r, false, false, now).await;
                if let Some(fatal) = p.fatal {
                    return Err(fatal);
                }
                if let Some(refs) = p.references {
                    object::resolve_references(&run, &refs, &mut r, false, now).await?;
                }
                report.step(
                    "EntryExportMember",
                    StepType::Export,
                    r.outcome,
                    format!(
                        "member {} '{}': {} {}",
                        r.object_type,
                        r.display_name,
                        r.action.as_str(),
                        r.outcome.as_str()
                    ),
                );
            }
        }
    }
    let link = services.store.links(&run.job.id, &[object_id.to_owned()]).await?.into_iter().next();
    let mut own = new_report(object_id, kind, now);
    let processed = object::process(&run, imported, link, &mut own, false, false, now).await;
    if let Some(fatal) = processed.fatal {
        return Err(fatal);
    }
    if let Some(refs) = processed.references {
        object::resolve_references(&run, &refs, &mut own, false, now).await?;
    }
    let member_steps = std::mem::take(&mut report.steps);
    own.steps.extend(member_steps);
    own.ended = OffsetDateTime::now_utc().max(now);
    Ok(own)
}
