//! How long the store's operations take, by operation, for `/metrics` (`idplane_store_duration_seconds`): the store
//! reports each operation to [`StoreTimes`] (a [`StoreObserver`]). Recording is lock-free: one set of atomic
//! counters per operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use idplane_core::store::StoreObserver;

/// Upper bounds of the store latency buckets, in seconds: store calls are one to three orders of magnitude faster
/// than requests.
pub const BUCKETS: [f64; 10] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0];

/// The store's operations (the port methods), as `/metrics` labels them.
const OPERATIONS: &[&str] = &[
    "insert_account",
    "account",
    "accounts",
    "insert_workspace",
    "workspace",
    "workspaces",
    "delete_workspace",
    "setting",
    "set_setting",
    "claim_setting",
    "assignments",
    "set_assignment",
    "effective_permission",
    "insert_token",
    "token_by_hash",
    "token",
    "tokens",
    "set_token_expiry",
    "delete_token",
    "insert_principal",
    "principal",
    "view",
    "principals",
    "members",
    "workspace_values",
    "count_members",
    "groups_of",
    "update_principal",
    "delete_principal",
    "list_principals",
    "audit_entries",
    "purge_audit",
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Total time in nanoseconds.
    sum_nanos: AtomicU64,
}

/// How long the store's operations took, since the process started.
#[derive(Debug)]
pub struct StoreTimes {
    histograms: Vec<Histogram>,
}

impl Default for StoreTimes {
    fn default() -> Self {
        StoreTimes { histograms: OPERATIONS.iter().map(|_| Histogram::default()).collect() }
    }
}

/// One operation's figures, as [`StoreTimes::snapshot`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationTimes {
    pub operation: &'static str,
    /// Calls that took at most each of [`BUCKETS`], cumulative.
    pub buckets: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

impl StoreObserver for StoreTimes {
    fn observe(&self, operation: &'static str, elapsed: Duration) {
        let Some(h) = OPERATIONS.iter().position(|o| *o == operation).and_then(|i| self.histograms.get(i)) else {
            return;
        };
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in h.buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl StoreTimes {
    /// The figures of every operation called at least once, in a fixed order.
    pub fn snapshot(&self) -> Vec<OperationTimes> {
        OPERATIONS
            .iter()
            .zip(&self.histograms)
            .filter(|(_, h)| h.count.load(Ordering::Relaxed) > 0)
            .map(|(operation, h)| OperationTimes {
                operation,
                buckets: std::array::from_fn(|i| h.buckets[i].load(Ordering::Relaxed)),
                count: h.count.load(Ordering::Relaxed),
                sum_seconds: h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_counted_under_its_name_and_unknown_ones_are_ignored() {
        let times = StoreTimes::default();
        times.observe("view", Duration::from_micros(50));
        times.observe("view", Duration::from_millis(2));
        times.observe("no_such_operation", Duration::from_millis(2));
        let snapshot = times.snapshot();
        assert_eq!(snapshot.len(), 1);
        assert_eq!(snapshot[0].operation, "view");
        assert_eq!(snapshot[0].count, 2);
        assert_eq!(snapshot[0].buckets[0], 1, "50 µs is within the first bucket (100 µs)");
        assert_eq!(snapshot[0].buckets[BUCKETS.len() - 1], 2);
    }
}
