//! What happened to one object in a cycle or on demand: the action, the outcome, the steps Entra shows
//! (import, scoping, matching, export) and the modified properties. Provisioning logs and provisionOnDemand's
//! answer are written from it.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

pub use idplane_provisioning::logs::{
    ModifiedProperty as Modified, ProvisioningAction as Action, ProvisioningResult as Outcome,
    ProvisioningStep as Step, StepType,
};

/// A request sent (or, in a preview, to be sent) to the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: &'static str,
    /// The path under the tenant URL (`Users/<id>`).
    pub path: String,
    pub body: Option<Value>,
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectReport {
    pub change_id: String,
    pub source_id: String,
    /// `User` or `Group`.
    pub object_type: String,
    pub display_name: String,
    pub target_id: Option<String>,
    pub action: Action,
    pub outcome: Outcome,
    /// Entra's error code and the reason, on failure; the skip reason on a skip.
    pub error_code: Option<String>,
    pub reason: Option<String>,
    pub steps: Vec<Step>,
    pub modified: Vec<Modified>,
    pub requests: Vec<Request>,
    pub started: OffsetDateTime,
    pub ended: OffsetDateTime,
}

impl ObjectReport {
    /// Whether the report is worth a provisioning log entry: something was exported or failed. Skips of objects
    /// that need nothing (the target already matches, out of scope and never provisioned) are not logged by
    /// cycles, which would otherwise log every object of every cycle.
    pub fn loggable(&self) -> bool {
        self.outcome == Outcome::Failure || self.action != Action::Other
    }

    pub fn step(&mut self, name: &str, step_type: StepType, outcome: Outcome, description: String) -> &mut Step {
        self.steps.push(Step {
            name: name.to_owned(),
            step_type,
            status: outcome,
            description,
            details: BTreeMap::new(),
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }
}

/// A JSON value as logs show it: strings bare, `None` for null.
pub fn shown(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(if *b { "True".into() } else { "False".into() }),
        Some(other) => Some(other.to_string()),
    }
}

/// Who and what a record belongs to.
pub struct LogContext<'a> {
    pub tenant_id: &'a str,
    pub job_id: &'a str,
    pub service_principal_id: &'a str,
    pub service_principal_name: &'a str,
    pub cycle_id: &'a str,
    pub target_system: &'a str,
    pub on_demand: bool,
}

impl ObjectReport {
    /// The provisioning log record of this report.
    pub fn to_log(&self, c: &LogContext<'_>) -> idplane_provisioning::logs::ProvisioningLog {
        use idplane_provisioning::logs::{ErrorCategory, ErrorInformation, ProvisionedIdentity, ProvisioningLog};
        let error = match (self.outcome, &self.error_code) {
            (Outcome::Failure, code) => Some(ErrorInformation {
                error_code: code.clone().unwrap_or_else(|| "InternalError".into()),
                reason: self.reason.clone().unwrap_or_default(),
                additional_details: None,
                // A target's refusal (a 4xx, a conflict) is not fixed by retrying alone.
                error_category: if self.reason.as_deref().is_some_and(|r| r.contains(" 4")) {
                    ErrorCategory::NonServiceFailure
                } else {
                    ErrorCategory::Failure
                },
                recommended_action: None,
            }),
            _ => None,
        };
        let mut steps = self.steps.clone();
        if self.outcome == Outcome::Skipped
            && let Some(reason) = &self.reason
            && !steps.iter().any(|s| s.details.contains_key("SkipReason"))
            && let Some(last) = steps.last_mut()
        {
            last.details.insert("SkipReason".into(), reason.clone());
        }
        let duration = (self.ended - self.started).whole_milliseconds().max(0);
        ProvisioningLog {
            id: idplane_provisioning::ids::random_guid().unwrap_or_else(|_| self.change_id.clone()),
            tenant_id: c.tenant_id.to_owned(),
            job_id: c.job_id.to_owned(),
            service_principal_id: c.service_principal_id.to_owned(),
            service_principal_name: c.service_principal_name.to_owned(),
            cycle_id: c.cycle_id.to_owned(),
            change_id: self.change_id.clone(),
            activity: self.started,
            duration_ms: u64::try_from(duration).unwrap_or(0),
            action: self.action,
            status: self.outcome,
            error,
            source: ProvisionedIdentity {
                id: self.source_id.clone(),
                display_name: self.display_name.clone(),
                identity_type: self.object_type.clone(),
            },
            target: ProvisionedIdentity {
                id: self.target_id.clone().unwrap_or_default(),
                display_name: self.display_name.clone(),
                identity_type: self.object_type.clone(),
            },
            source_system: "Azure Active Directory".into(),
            target_system: c.target_system.to_owned(),
            on_demand: c.on_demand,
            steps,
            modified_properties: self.modified.clone(),
        }
    }
}
