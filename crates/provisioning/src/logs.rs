//! Provisioning logs: one [`ProvisioningLog`] per object per cycle that did something or failed (a create, update,
//! disable, delete, a skip worth knowing, a failure), as Entra ID's provisioning logs have them. This module owns
//! the record, its two wire shapes, and how long records are kept:
//!
//! - [`ProvisioningLog::render`]: Graph's `provisioningObjectSummary` (`GET /auditLogs/provisioning`), with Graph's
//!   lower-case enum values, `initiatedBy`, `servicePrincipal`, and the source and target systems as objects;
//! - [`ProvisioningLog::on_demand_response`]: the `key` and `value` strings of `provisionOnDemand`'s
//!   `stringKeyStringValuePair`, the same event in the provisioning event shape (`type`, `name`, `statusInfo`, enum
//!   values capitalised);
//! - [`query`]: which records a listing asks for (the OData `$filter` and `$orderby` of the Graph API, parsed and
//!   printed), a page of them, and the cursor of the next page;
//! - retention: records are kept [`DEFAULT_RETENTION_DAYS`] days, as Entra ID keeps them ([`purge`]).
//!
//! The engine builds the records; the store keeps them as JSON (the serde form of these types) beside indexed
//! columns. A record never holds a secret: the engine writes `[Redact]` for the old and new values of a property
//! whose mapping redacts it, and nothing here adds a value of its own.

pub mod query;

use std::collections::BTreeMap;

use idplane_core::audit::Retention;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::error::Result;
use crate::store::ProvisioningLogStore;
use crate::wire::graph_enum;

pub use query::{LogClause, LogCursor, LogOrder, LogPage, LogQuery};

graph_enum! {
    /// What a record did to its object: Graph's `provisioningAction`.
    pub enum ProvisioningAction {
        Create = "create",
        Update = "update",
        Delete = "delete",
        Disable = "disable",
        StagedDelete = "stagedDelete",
        Other = "other",
    }
    default Other;
}

graph_enum! {
    /// How it went: Graph's `provisioningResult` (a record's status, and each step's).
    pub enum ProvisioningResult {
        Success = "success",
        Failure = "failure",
        Skipped = "skipped",
        Warning = "warning",
    }
    default Success;
}

graph_enum! {
    /// The kind of a step: Graph's `provisioningStepType`.
    pub enum StepType {
        Import = "import",
        Scoping = "scoping",
        Matching = "matching",
        Processing = "processing",
        ReferenceResolution = "referenceResolution",
        Export = "export",
    }
    default Processing;
}

graph_enum! {
    /// Whose fault a failure is: Graph's `provisioningStatusErrorCategory` (`nonServiceFailure`: the target's or the
    /// configuration's, which a retry will not fix by itself).
    pub enum ErrorCategory {
        Failure = "failure",
        NonServiceFailure = "nonServiceFailure",
    }
    default Failure;
}

/// One step of the record's processing (`EntryImport`, `EntrySynchronizationScoping`, `EntryExportAdd`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningStep {
    pub name: String,
    pub step_type: StepType,
    pub status: ProvisioningResult,
    pub description: String,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// A property the record changed (or would have): its name in the target schema, old and new values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifiedProperty {
    pub display_name: String,
    #[serde(default)]
    pub old_value: Option<String>,
    #[serde(default)]
    pub new_value: Option<String>,
}

/// The object on one side: its id there ("" when it has none yet), display name, and type (`User`, `Group`, or
/// the target's object type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedIdentity {
    pub id: String,
    pub display_name: String,
    pub identity_type: String,
}

/// Why a record failed, or was skipped: Graph's `provisioningErrorInfo`. `error_code` is one of Entra's codes
/// (`EntryConflict`, `RedundantExport`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInformation {
    pub error_code: String,
    pub reason: String,
    #[serde(default)]
    pub additional_details: Option<String>,
    pub error_category: ErrorCategory,
    #[serde(default)]
    pub recommended_action: Option<String>,
}

/// One provisioning event: what happened to one object in one cycle (or one provision-on-demand call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningLog {
    /// A GUID.
    pub id: String,
    pub tenant_id: String,
    pub job_id: String,
    pub service_principal_id: String,
    pub service_principal_name: String,
    /// A GUID per cycle (on demand: one per call).
    pub cycle_id: String,
    /// A GUID per object per cycle.
    pub change_id: String,
    /// When the processing of the object began. Compared, ordered and shown at Graph's precision, 100 ns
    /// ([`graph_precision`]).
    #[serde(with = "timestamp")]
    pub activity: OffsetDateTime,
    pub duration_ms: u64,
    pub action: ProvisioningAction,
    pub status: ProvisioningResult,
    #[serde(default)]
    pub error: Option<ErrorInformation>,
    /// `identity_type` "User" or "Group".
    pub source: ProvisionedIdentity,
    pub target: ProvisionedIdentity,
    /// "Azure Active Directory".
    pub source_system: String,
    /// The target directory's name, e.g. "customappsso".
    pub target_system: String,
    /// Started by `provisionOnDemand` (an administrator's call) rather than by a cycle (the service).
    pub on_demand: bool,
    #[serde(default)]
    pub steps: Vec<ProvisioningStep>,
    #[serde(default)]
    pub modified_properties: Vec<ModifiedProperty>,
}

/// Who starts the records of cycles, as Graph names the provisioning service in `initiatedBy`.
pub const SERVICE_INITIATOR: &str = "Azure AD Provisioning Service";

/// How many days records are kept unless configured otherwise: Entra ID's 30 (P1 and P2 tenants).
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Deletes the records past `retention` at `now` (none when it keeps them forever); how many.
pub async fn purge(store: &dyn ProvisioningLogStore, retention: Retention, now: OffsetDateTime) -> Result<u64> {
    match retention.cutoff(now) {
        Some(cutoff) => Ok(store.purge_logs(cutoff).await?),
        None => Ok(0),
    }
}

/// `t` at Graph's precision, the 100 ns ticks of .NET's `DateTimeOffset` (seven fractional digits), rounded down:
/// what records are shown, compared and paged at.
pub fn graph_precision(t: OffsetDateTime) -> OffsetDateTime {
    // Offsets are whole seconds: the fraction of a second is the same in every offset.
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 100).unwrap_or(t)
}

/// `t` as Graph writes a `DateTimeOffset`: UTC, `Z`, and the fraction of a second at [`graph_precision`] without
/// trailing zeros (none for a whole second).
pub fn graph_time(t: OffsetDateTime) -> String {
    let t = graph_precision(t);
    // In UTC first: `rfc3339` converts, which a time past the year 9999 in UTC could not.
    let whole = crate::directory::rfc3339(t.checked_to_offset(time::UtcOffset::UTC).unwrap_or(t));
    let ticks = t.nanosecond() / 100;
    if ticks == 0 {
        return whole;
    }
    let fraction = format!("{ticks:07}");
    format!("{}.{}Z", whole.trim_end_matches('Z'), fraction.trim_end_matches('0'))
}

/// A Graph enum value as the provisioning event shape spells it: capitalised (`stagedDelete` → `StagedDelete`).
fn capitalised(value: &str) -> String {
    let mut chars = value.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn details(d: &BTreeMap<String, String>) -> Value {
    Value::Object(d.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

impl ProvisioningLog {
    /// Graph's `provisioningObjectSummary`, in the order of Graph's documented example.
    pub fn render(&self) -> Map<String, Value> {
        let identity = |i: &ProvisionedIdentity| {
            json!({
                "id": i.id,
                "displayName": i.display_name,
                "identityType": i.identity_type,
                "details": {},
            })
        };
        let error = self.error.as_ref().map(|e| {
            json!({
                "errorCode": e.error_code,
                "reason": e.reason,
                "additionalDetails": e.additional_details,
                "errorCategory": e.error_category.as_str(),
                "recommendedAction": e.recommended_action,
            })
        });
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "provisioningStepType": s.step_type.as_str(),
                    "status": s.status.as_str(),
                    "description": s.description,
                    "details": details(&s.details),
                })
            })
            .collect();
        object(json!({
            "id": self.id,
            "activityDateTime": graph_time(self.activity),
            "tenantId": self.tenant_id,
            "jobId": self.job_id,
            "cycleId": self.cycle_id,
            "changeId": self.change_id,
            "provisioningAction": self.action.as_str(),
            // Graph's type is Int32.
            "durationInMilliseconds": self.duration_ms.min(i32::MAX as u64),
            "sourceSystem": {"id": null, "displayName": self.source_system, "details": {}},
            "targetSystem": {
                "id": null,
                "displayName": self.target_system,
                "details": {
                    "ServicePrincipalId": self.service_principal_id,
                    "ServicePrincipalDisplayName": self.service_principal_name,
                },
            },
            "initiatedBy": self.initiator(),
            "servicePrincipal": {"id": self.service_principal_id, "displayName": self.service_principal_name},
            "sourceIdentity": identity(&self.source),
            "targetIdentity": identity(&self.target),
            "provisioningStatusInfo": {"status": self.status.as_str(), "errorInformation": error},
            "provisioningSteps": steps,
            "modifiedProperties": self.modified_properties(),
        }))
    }

    /// Graph's `initiator`: the provisioning service for a cycle's records; for provisioning on demand, the
    /// administrator who asked (`user`), whose identity the record does not keep.
    fn initiator(&self) -> Value {
        if self.on_demand {
            json!({"id": "", "displayName": "", "initiatorType": "user"})
        } else {
            json!({"id": "", "displayName": SERVICE_INITIATOR, "initiatorType": "system"})
        }
    }

    fn modified_properties(&self) -> Vec<Value> {
        self.modified_properties
            .iter()
            .map(|p| json!({"displayName": p.display_name, "oldValue": p.old_value, "newValue": p.new_value}))
            .collect()
    }

    /// `provisionOnDemand`'s answer: the `key` and `value` of Graph's `stringKeyStringValuePair`, each a JSON text.
    ///
    /// `key` is the outcome, `{"result": "Success", "details": {}}`, or with a failure or a skip, its `errorCode`
    /// and `errorMessage` (from the record's error, else from a skipped step's `SkipReason` and description).
    /// `value` is the event: `action`, `changeId`, `startTime` (the activity) and `endTime` (plus the duration),
    /// `modifiedProperties`, `provisioningSteps` (`name`, `type`, `status`, `description`, `timestamp`, `details`),
    /// `reportableIdentifier` (the source's display name), `statusInfo` with the error's fields, the identities
    /// (`id`, `type`, `displayName`, `details`) and the systems (`id`, `name`, `details`), enum values capitalised
    /// as Entra's event writes them.
    pub fn on_demand_response(&self) -> (String, String) {
        let start = graph_time(self.activity);
        let duration = time::Duration::milliseconds(i64::try_from(self.duration_ms).unwrap_or(i64::MAX));
        let end = graph_time(self.activity.checked_add(duration).unwrap_or(self.activity));
        let e = self.error.as_ref();
        let key_details = match (e, self.skip_reason()) {
            (Some(e), _) => json!({"errorCode": e.error_code, "errorMessage": e.reason}),
            (None, Some((code, message))) => json!({"errorCode": code, "errorMessage": message}),
            (None, None) => json!({}),
        };
        let key = json!({"result": capitalised(self.status.as_str()), "details": key_details});
        let identity = |i: &ProvisionedIdentity| {
            json!({
                "id": i.id,
                "type": i.identity_type,
                "displayName": i.display_name,
                "details": null,
            })
        };
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "type": capitalised(s.step_type.as_str()),
                    "status": capitalised(s.status.as_str()),
                    "description": s.description,
                    "timestamp": start,
                    "details": details(&s.details),
                })
            })
            .collect();
        let value = json!({
            "action": capitalised(self.action.as_str()),
            "changeId": self.change_id,
            "endTime": end,
            "modifiedProperties": self.modified_properties(),
            "provisioningSteps": steps,
            "reportableIdentifier": self.source.display_name,
            "startTime": start,
            "statusInfo": {
                "status": capitalised(self.status.as_str()),
                "errorCode": e.map(|e| e.error_code.as_str()),
                "reason": e.map(|e| e.reason.as_str()),
                "additionalDetails": e.and_then(|e| e.additional_details.as_deref()),
                "errorCategory": e.map(|e| capitalised(e.error_category.as_str())),
                "recommendedAction": e.and_then(|e| e.recommended_action.as_deref()),
            },
            "sourceIdentity": identity(&self.source),
            "sourceSystem": {"id": null, "name": self.source_system, "details": null},
            "targetIdentity": identity(&self.target),
            "targetSystem": {"id": null, "name": self.target_system, "details": null},
        });
        (key.to_string(), value.to_string())
    }

    /// A skipped step's `SkipReason` detail and description: why a skip without an error was skipped.
    fn skip_reason(&self) -> Option<(&str, &str)> {
        self.steps
            .iter()
            .rev()
            .filter(|s| s.status == ProvisioningResult::Skipped)
            .find_map(|s| s.details.get("SkipReason").map(|r| (r.as_str(), s.description.as_str())))
    }
}

/// A record's activity time in its stored JSON: RFC 3339, every digit kept.
mod timestamp {
    use serde::{Deserialize, Deserializer, Serializer, de};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| de::Error::custom(format!("activity {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_shown_at_graph_precision_without_trailing_zeros() {
        assert_eq!(graph_time(datetime!(2026-12-06 01:02:03 UTC)), "2026-12-06T01:02:03Z");
        assert_eq!(graph_time(datetime!(2026-12-06 01:02:03.5 UTC)), "2026-12-06T01:02:03.5Z");
        assert_eq!(graph_time(datetime!(2026-12-06 01:02:03.123456789 UTC)), "2026-12-06T01:02:03.1234567Z");
        assert_eq!(graph_time(datetime!(2026-12-06 02:02:03.000000099 +01:00)), "2026-12-06T01:02:03Z");
        assert_eq!(graph_precision(datetime!(2026-12-06 01:02:03.123456789 UTC)).nanosecond(), 123_456_700);
    }

    #[test]
    fn enum_values_are_capitalised_for_the_event_shape() {
        assert_eq!(capitalised(ProvisioningAction::StagedDelete.as_str()), "StagedDelete");
        assert_eq!(capitalised(StepType::ReferenceResolution.as_str()), "ReferenceResolution");
        assert_eq!(capitalised(ErrorCategory::NonServiceFailure.as_str()), "NonServiceFailure");
        assert_eq!(capitalised(""), "");
    }
}
