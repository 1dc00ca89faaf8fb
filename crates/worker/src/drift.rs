//! The drift report (idplane's own, which Entra does not have): the target objects no source object is linked to
//! (orphans: made in the target by hand, or by another job), and the linked objects whose attributes in the target
//! differ from what the mappings give (changed behind the engine's back), with each difference. It reads the whole
//! target (a page of 100 at a time) and writes nothing; a restart (`resetScope: Watermark`) makes the next cycle an
//! initial one, which corrects every drifted object.

use std::collections::HashMap;

use idplane_provisioning::cycle::export;
use idplane_provisioning::directory::ObjectKind;
use idplane_scim_client::{ListRequest, resource_id};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::WorkerError;
use crate::job::{JobRun, Services};
use crate::object::{self, CycleCache};
use crate::report::shown;

/// How many target objects a page of the report's reads holds.
const PAGE: u64 = 100;
/// The most target objects one report reads, so that a report is bounded in time.
pub const MAX_OBJECTS: u64 = 1_000_000;

/// What the report found.
#[derive(Debug, Default)]
pub struct Drift {
    /// Target objects read.
    pub examined: u64,
    /// `{"objectType", "targetId", "displayName"}` of each target object no source object is linked to.
    pub orphans: Vec<Value>,
    /// `{"objectType", "targetId", "sourceId", "displayName", "changes": [{"attribute", "target", "expected"}]}`.
    pub drifted: Vec<Value>,
}

fn name(resource: &Value) -> String {
    ["userName", "displayName"]
        .iter()
        .find_map(|k| resource.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// Reads the target and compares it with the directory.
pub async fn report(
    services: &Services,
    tenant_id: &str,
    sp_id: &str,
    job_id: &str,
    now: OffsetDateTime,
) -> Result<Drift, WorkerError> {
    let mut run = JobRun::load(services, tenant_id, sp_id, job_id).await?;
    run.read_only = true;
    let cache = CycleCache::default();
    let mut drift = Drift::default();
    for kind in [ObjectKind::User, ObjectKind::Group] {
        let Some(mapping) = run.mapping(kind) else { continue };
        let endpoint = JobRun::endpoint(kind);
        let kind_name = if kind == ObjectKind::User { "User" } else { "Group" };
        let mut start = 1;
        loop {
            let request = ListRequest::page(start, PAGE);
            let page = object::with_retries(|| run.client.list(&endpoint, &request)).await.map_err(|e| {
                WorkerError::Target { code: object::error_code(&e).into(), message: e.to_string(), quarantine: false }
            })?;
            let ids: Vec<String> = page.resources.iter().filter_map(resource_id).collect();
            let links: HashMap<String, _> = services
                .store
                .links_by_target(&run.job.id, &ids)
                .await?
                .into_iter()
                .map(|l| (l.target_id.clone(), l))
                .collect();
            for resource in &page.resources {
                drift.examined += 1;
                let Some(id) = resource_id(resource) else { continue };
                let Some(link) = links.get(&id) else {
                    drift.orphans.push(json!({"objectType": kind_name, "targetId": id, "displayName": name(resource)}));
                    continue;
                };
                let imported = object::import(&run, &cache, &link.source_id, kind).await?;
                let Some(source) = imported.source.as_ref() else { continue };
                let desired =
                    object::desired(&run, mapping, source, now).map_err(|e| WorkerError::Invalid(e.to_string()))?;
                let changes = export::changes(mapping, &desired, resource);
                if !changes.is_empty() {
                    let list: Vec<Value> = changes
                        .iter()
                        .map(|c| {
                            json!({"attribute": c.target, "target": shown(c.old.as_ref()),
                                   "expected": if c.redact { Some("[Redact]".to_owned()) } else { shown(Some(&c.new)) }})
                        })
                        .collect();
                    drift.drifted.push(json!({"objectType": kind_name, "targetId": id, "sourceId": link.source_id,
                                              "displayName": name(resource), "changes": list}));
                }
            }
            match page.next_start_index(start) {
                Some(next) if drift.examined < MAX_OBJECTS => start = next,
                _ => break,
            }
        }
    }
    Ok(drift)
}
