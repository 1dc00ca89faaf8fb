//! What a provisioning job keeps between cycles: its run state (the watermark in the directory's change feed,
//! when it runs next, which node holds it), the links between source objects and the target objects they were
//! provisioned as (Entra's object connections), and the escrowed failures waiting for a retry.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// A job's run state.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    pub job_id: String,
    pub tenant_id: String,
    pub service_principal_id: String,
    /// The position in the tenant's change feed up to which changes were provisioned; `None`: the next cycle is
    /// an initial cycle (never run, restarted, or the mappings or scoping changed).
    pub watermark: Option<i64>,
    /// When the next cycle is due.
    pub next_run: Option<OffsetDateTime>,
    /// The schema version the watermark was reached with: a new version starts an initial cycle, as in Entra.
    pub schema_version: Option<String>,
    /// What the job reports and remembers beyond that: counters, quarantine, held deletions, the last notice sent.
    pub data: RunData,
    /// The node running the job now, when one holds its lease (read only: leases are taken and released through
    /// their own port methods, never by writing the run state).
    pub lease_owner: Option<String>,
}

/// How many cycles a run state remembers ([`RunData::recent_cycles`]).
pub const RECENT_CYCLES: usize = 30;

/// The run state's open part, stored as JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunData {
    /// Cycles run so far.
    pub cycles: u64,
    /// Cycles in a row that failed as a whole (the target unreachable, refused credentials).
    pub successive_failures: u64,
    /// Graph's quarantine, while the job is quarantined.
    pub quarantine: Option<Quarantine>,
    /// Objects each cycle type counted, by object type: Graph's `synchronizedEntryCountByType`.
    pub entry_counts: Vec<(String, u64)>,
    /// Deprovisioning actions held back by the accidental-deletion threshold, until a restart with
    /// `ForceDeletes`.
    pub held_deletes: u64,
    /// Deletions approved by `ForceDeletes`, for the next cycle only.
    pub force_deletes: bool,
    /// The reason key of the last notification email sent (sent once per reason).
    pub last_notice: Option<String>,
    /// Graph's `lastExecution`, `lastSuccessfulExecution`, `lastSuccessfulExecutionWithExports`.
    pub last_execution: Option<Value>,
    pub last_successful_execution: Option<Value>,
    pub last_successful_execution_with_exports: Option<Value>,
    pub steady_state_first: Option<String>,
    pub steady_state_last: Option<String>,
    /// The last [`RECENT_CYCLES`] cycles, oldest first: each its `lastExecution` summary (activity id, state,
    /// times, counts) and whether it was an initial cycle; idplane's own (`GET .../jobs/{job}/cycles`).
    pub recent_cycles: Vec<Value>,
    /// The progress of the cycle running now (Graph's `synchronizationProgress`): kept in a column of its own,
    /// written as the cycle goes ([`crate::store::CycleStore::set_progress`]) and never through the run state.
    #[serde(skip)]
    pub running: Option<Value>,
}

/// Graph's `synchronizationQuarantine`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quarantine {
    pub current_began: String,
    pub next_attempt: String,
    pub reason: String,
    pub series_began: String,
    pub series_count: u64,
    pub error: Value,
}

impl RunState {
    /// The state of a job that has never run: an initial cycle due now.
    pub fn new(job_id: &str, tenant_id: &str, service_principal_id: &str, now: OffsetDateTime) -> RunState {
        RunState {
            job_id: job_id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            service_principal_id: service_principal_id.to_owned(),
            watermark: None,
            next_run: Some(now),
            schema_version: None,
            data: RunData::default(),
            lease_owner: None,
        }
    }
}

/// A source object provisioned into the target: Entra's object connection, the anchor that lets the engine find
/// the target object again whatever its matching attributes become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub job_id: String,
    pub source_id: String,
    /// `User` or `Group`.
    pub object_type: String,
    pub target_id: String,
    pub display_name: String,
    /// The engine last left the target object enabled (false once it disabled it).
    pub active: bool,
    pub updated: OffsetDateTime,
}

/// A failure of one object, waiting for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escrow {
    pub job_id: String,
    pub source_id: String,
    pub object_type: String,
    pub attempts: u32,
    pub first_failed: OffsetDateTime,
    pub next_attempt: OffsetDateTime,
    pub error_code: String,
    pub reason: String,
}

/// When a failed object is tried again after its `attempts`-th failure: Entra retries on later cycles with
/// decreasing frequency; idplane's cycles are minutes apart, so it backs off from a minute, doubling, to six hours.
pub fn retry_after(attempts: u32) -> Duration {
    let minutes = 1i64 << attempts.saturating_sub(1).min(9);
    Duration::minutes(minutes.min(360))
}

/// The lease a node holds on a job while it runs it. Another node may take it over once it expires.
pub const LEASE: Duration = Duration::seconds(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_six_hours() {
        assert_eq!(retry_after(1), Duration::minutes(1));
        assert_eq!(retry_after(2), Duration::minutes(2));
        assert_eq!(retry_after(5), Duration::minutes(16));
        assert_eq!(retry_after(30), Duration::minutes(360));
    }
}
