//! idplane's provisioning worker: it runs provisioning jobs. The provisioning domain decides what a target object
//! should look like and which SCIM requests bring it there ([`idplane_provisioning::cycle`]); the worker reads the
//! directory and the target, sends the requests, records links, escrows and outcomes, and owns time: the schedule
//! of cycles, the lease that keeps a job on one node, and retries.
//!
//! - [`job`]: one job made ready to run (its schema compiled, its target client built from its secrets).
//! - [`object`]: the pipeline of one source object (import, scope, match, export), as a cycle and provision on
//!   demand run it.
//! - [`cycle`]: a whole cycle, initial or incremental, and the job's run state after it.
//! - [`drift`]: the target objects no source object is linked to, and those changed behind the engine's back.
//! - [`on_demand`]: provision on demand, one user or a group with up to five members, answered with every step.
//! - [`scheduler`]: the loop that finds due jobs, leases them and runs their cycles.
//! - [`limits`]: a job's rate and concurrency limits on its target.
//! - [`route`]: whether an application's requests go straight to its target or through its on-premises agents.
//! - [`metrics`]: the engine's counters, and the transport wrapper that times requests to targets.
//! - [`report`]: what happened to each object, as logs and provisionOnDemand show it.
//! - [`notify`]: the notification email a job sends when it enters quarantine or a cycle ends with failures, its
//!   rendering, and the SMTP transport that carries it.

pub mod cycle;
pub mod drift;
pub mod error;
pub mod job;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod object;
pub mod on_demand;
pub mod report;
pub mod route;
pub mod scheduler;

pub use error::WorkerError;
