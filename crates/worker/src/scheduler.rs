//! The scheduler: every few seconds it reads the jobs whose next cycle is due, takes each one's lease in the
//! database (so that, with several nodes on one PostgreSQL database, a job runs on one node at a time), runs the
//! cycle while renewing the lease, and stores the run state after it. A node that dies leaves its lease to expire;
//! another node then takes the job over from its last stored state (links are written as each object is
//! provisioned, so nothing is created twice).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use idplane_provisioning::cycle::state::RunState;
use tokio::sync::Semaphore;

use crate::cycle::{self, Now};
use crate::job::Services;

/// The scheduler of one node.
#[derive(Clone)]
pub struct Scheduler {
    pub services: Services,
    /// This node's name in leases.
    pub node: String,
    pub now: Now,
    /// How often due jobs are looked for.
    pub poll: Duration,
    /// How many jobs this node runs at once.
    pub max_jobs: usize,
    /// How long a lease lasts unless renewed ([`LEASE`](idplane_provisioning::cycle::state::LEASE) by default):
    /// how long a job waits for another node after its node died. It is renewed every third of it.
    pub lease: time::Duration,
}

impl Scheduler {
    /// Runs until `shutdown` resolves; running cycles are then stopped after their current objects.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.max_jobs.max(1)));
        let stop = Arc::new(AtomicBool::new(false));
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    stop.store(true, Ordering::Relaxed);
                    // Let running cycles notice, store their state and release their leases.
                    let _ = tokio::time::timeout(Duration::from_secs(30), slots.acquire_many(self.max_jobs.max(1) as u32)).await;
                    return;
                }
                _ = ticker.tick() => self.tick(&slots, &stop).await,
            }
        }
    }

    /// Starts the due jobs this node can take.
    pub async fn tick(&self, slots: &Arc<Semaphore>, stop: &Arc<AtomicBool>) {
        let now = (self.now)();
        // A few more than this node can run: some may be left to the nodes their agents are connected to.
        let due = match self.services.store.due_runs(now, self.max_jobs + 16).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the provisioning jobs due");
                return;
            }
        };
        for state in due {
            if self.agents_elsewhere(&state, now).await {
                continue;
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else { return };
            match self.services.store.acquire_lease(&state.job_id, &self.node, now + self.lease, now).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, job = %state.job_id, "could not lease a provisioning job");
                    continue;
                }
            }
            let this = self.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                this.run_leased(state, stop).await;
                drop(permit);
            });
        }
    }

    /// Whether the job belongs on another node: its application's on-premises agents are connected (heard from
    /// within [`HEARTBEAT_WINDOW`](idplane_provisioning::agents::HEARTBEAT_WINDOW)) to other nodes and none to this
    /// one. A job whose agents are connected nowhere runs anywhere (and reports that none is active).
    async fn agents_elsewhere(&self, state: &RunState, now: time::OffsetDateTime) -> bool {
        let store = &self.services.store;
        let sessions = match store.agent_sessions_of_application(&state.tenant_id, &state.service_principal_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, job = %state.job_id, "could not read where the job's agents are connected");
                return false;
            }
        };
        let live: Vec<_> = sessions
            .iter()
            .filter(|s| now - s.last_heartbeat < idplane_provisioning::agents::HEARTBEAT_WINDOW)
            .collect();
        !live.is_empty() && !live.iter().any(|s| s.node_id == self.node)
    }

    /// Runs one cycle of a job this node leased, renewing the lease meanwhile; stores the state and releases it.
    pub async fn run_leased(&self, state: RunState, stop: Arc<AtomicBool>) {
        let job_id = state.job_id.clone();
        let before = state.clone();
        let cycle_stop = Arc::new(AtomicBool::new(false));
        let renew = {
            let (services, node, now, job_id, cycle_stop, stop, lease) = (
                self.services.clone(),
                self.node.clone(),
                self.now.clone(),
                job_id.clone(),
                cycle_stop.clone(),
                stop,
                self.lease,
            );
            tokio::spawn(async move {
                let every =
                    Duration::try_from(lease / 3).unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(10));
                loop {
                    tokio::time::sleep(every).await;
                    if stop.load(Ordering::Relaxed) {
                        cycle_stop.store(true, Ordering::Relaxed);
                    }
                    let t = now();
                    match services.store.acquire_lease(&job_id, &node, t + lease, t).await {
                        Ok(true) => {}
                        // Another node took the job over (this one was too slow): stop at once.
                        Ok(false) => cycle_stop.store(true, Ordering::Relaxed),
                        Err(e) => tracing::warn!(error = %e, job = %job_id, "could not renew a lease"),
                    }
                }
            })
        };
        let (after, result) = cycle::run_cycle(&self.services, state, cycle_stop, self.now.clone()).await;
        renew.abort();
        if let Err(e) = &result {
            tracing::warn!(job = %job_id, error = %e, "provisioning cycle failed");
        }
        let store = &self.services.store;
        let escrows = store.escrow_count(&job_id).await.unwrap_or(0);
        let gauges = crate::metrics::JobGauges { escrows, quarantined: after.data.quarantine.is_some() };
        self.services.metrics.job(&after.tenant_id, &job_id, gauges);
        match store.run_state(&job_id).await {
            Ok(Some(fresh)) => {
                if let Err(e) = store.put_run_state(&merge(&before, fresh, after)).await {
                    tracing::warn!(error = %e, job = %job_id, "could not store a job's run state");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, job = %job_id, "could not read a job's run state"),
        }
        if let Err(e) = store.release_lease(&job_id, &self.node).await {
            tracing::warn!(error = %e, job = %job_id, "could not release a lease");
        }
    }
}

/// The run state to store after a cycle: what the cycle computed, except what the API changed meanwhile (a pause
/// stops the schedule; a restart resets the watermark, escrows or quarantine; a schema change is seen next cycle).
pub fn merge(before: &RunState, fresh: RunState, mut after: RunState) -> RunState {
    if fresh.next_run.is_none() {
        after.next_run = None;
    }
    if fresh.watermark != before.watermark || fresh.schema_version != before.schema_version {
        after.watermark = fresh.watermark;
        after.schema_version = fresh.schema_version;
        after.next_run = fresh.next_run.or(after.next_run);
    }
    if fresh.data.quarantine.is_none() && before.data.quarantine.is_some() {
        after.data.quarantine = None;
    }
    if fresh.data.force_deletes && !before.data.force_deletes {
        after.data.force_deletes = true;
        after.data.held_deletes = fresh.data.held_deletes;
    }
    after
}
