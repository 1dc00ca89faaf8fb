//! What happened to one object in a cycle or on demand: the action, the outcome, the steps Entra shows
//! (import, scoping, matching, export) and the modified properties. Provisioning logs and provisionOnDemand's
//! answer are written from it.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

/// Entra's `provisioningAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Disable,
    Delete,
    StagedDelete,
    Other,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "Create",
            Action::Update => "Update",
            Action::Disable => "Disable",
            Action::Delete => "Delete",
            Action::StagedDelete => "StagedDelete",
            Action::Other => "Other",
        }
    }
}

/// Entra's `provisioningResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Skipped,
    Failure,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "Success",
            Outcome::Skipped => "Skipped",
            Outcome::Failure => "Failure",
        }
    }
}

/// Entra's `provisioningStepType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepType {
    Import,
    Scoping,
    Matching,
    ReferenceResolution,
    Export,
}

impl StepType {
    pub fn name(self) -> &'static str {
        match self {
            StepType::Import => "Import",
            StepType::Scoping => "Scoping",
            StepType::Matching => "Matching",
            StepType::ReferenceResolution => "ReferenceResolution",
            StepType::Export => "Export",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub step_type: StepType,
    pub outcome: Outcome,
    pub description: String,
    pub details: BTreeMap<String, String>,
}

/// One changed property: its name, the target's value before and the value sent (`[Redact]` when redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct Modified {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

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
        self.outcome == Outcome::Failure || self.action != Action::Other || self.action == Action::StagedDelete
    }

    pub fn step(&mut self, name: &str, step_type: StepType, outcome: Outcome, description: String) -> &mut Step {
        self.steps.push(Step { name: name.to_owned(), step_type, outcome, description, details: BTreeMap::new() });
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
