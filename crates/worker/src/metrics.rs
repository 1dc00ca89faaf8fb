//! The engine's counters for `/metrics`: cycles by tenant, kind and result; exports by tenant, action and outcome;
//! each job's escrows and quarantine as its last cycle left them; and the latency of requests to targets by status
//! (measured by [`MeasuredTransport`] around the transport every target request goes through). Counters live in
//! this process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use idplane_scim_client::{Error, HttpRequest, HttpResponse, Transport};

/// Upper bounds of the target latency buckets, in seconds.
pub const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A latency histogram over ten bucket bounds (in seconds) that its owner keeps: the server's request latency and
/// the engine's target latency are both this.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    pub buckets: [u64; 10],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    /// Counts one observation of `seconds` against `bounds`.
    pub fn observe(&mut self, seconds: f64, bounds: &[f64; 10]) {
        for (n, bound) in self.buckets.iter_mut().zip(bounds) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    /// The Prometheus text lines of the histogram `name` with `labels` (`key="value",...`).
    pub fn write(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64; 10]) {
        use std::fmt::Write as _;
        for (n, bound) in self.buckets.iter().zip(bounds) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// A job's state as its last cycle left it.
#[derive(Debug, Default, Clone)]
pub struct JobGauges {
    pub escrows: u64,
    pub quarantined: bool,
}

#[derive(Debug, Default)]
pub struct EngineMetrics {
    /// (tenant, initial|incremental, succeeded|failed|interrupted) → cycles.
    pub cycles: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// (tenant, action, outcome) → objects.
    pub exports: Mutex<BTreeMap<(String, &'static str, &'static str), u64>>,
    /// (tenant, job) → gauges.
    pub jobs: Mutex<BTreeMap<(String, String), JobGauges>>,
    /// Status (or `error`) → latency of requests to targets.
    pub target_latency: Mutex<BTreeMap<String, Histogram>>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, n: u64) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += n;
    }
}

impl EngineMetrics {
    pub fn cycle(&self, tenant: &str, initial: bool, result: &'static str) {
        bump(&self.cycles, (tenant.to_owned(), if initial { "initial" } else { "incremental" }, result), 1);
    }

    pub fn export(&self, tenant: &str, action: &'static str, outcome: &'static str) {
        bump(&self.exports, (tenant.to_owned(), action, outcome), 1);
    }

    pub fn job(&self, tenant: &str, job: &str, gauges: JobGauges) {
        if let Ok(mut m) = self.jobs.lock() {
            m.insert((tenant.to_owned(), job.to_owned()), gauges);
        }
    }

    pub fn target_request(&self, status: Option<u16>, elapsed: Duration) {
        let key = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        if let Ok(mut m) = self.target_latency.lock() {
            m.entry(key).or_default().observe(elapsed.as_secs_f64(), &BUCKETS);
        }
    }
}

/// A transport that measures every request to a target.
pub struct MeasuredTransport {
    pub inner: Arc<dyn Transport>,
    pub metrics: Arc<EngineMetrics>,
}

#[async_trait]
impl Transport for MeasuredTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let started = Instant::now();
        let result = self.inner.send(request).await;
        let status = result.as_ref().ok().map(|r| r.status);
        self.metrics.target_request(status, started.elapsed());
        result
    }
}
