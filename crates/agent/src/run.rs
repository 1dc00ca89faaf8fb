//! `idplane agent run`: sessions one after another, forever, until shut down.
//!
//! The agent never exits because the service is unreachable: every failed or broken session is followed by
//! another after a capped, fully jittered exponential back-off (0.5 s doubling to 60 s), which is reset only after a
//! session stayed up for a healthy period, so that a service that accepts and drops at once is not hammered. A
//! drain reconnects at once. A refused credential (401) is logged as such and retried at the back-off's cap: an
//! admin may restore it, or the operator re-register (the credential file is read again at every attempt).

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{AgentConfig, credential_path};
use crate::error::Error;
use crate::relay::Relay;
use crate::service::ServiceClient;
use crate::session::{self, Context, Ended};

/// The timings of `run`; the defaults are the documented ones, tests shorten them.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The first back-off's ceiling.
    pub backoff_initial: Duration,
    /// The back-off's cap, also the delay after a 401.
    pub backoff_max: Duration,
    /// A session that lasted this long resets the back-off.
    pub healthy_after: Duration,
    /// How long the service has to send `Welcome` after the upgrade.
    pub welcome_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
            welcome_timeout: Duration::from_secs(30),
        }
    }
}

/// Full-jitter exponential back-off: the n-th delay is uniform in `[0, min(max, initial × 2ⁿ)]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max, attempt: 0 }
    }

    /// The ceiling of the next delay.
    pub fn ceiling(&self) -> Duration {
        self.initial.saturating_mul(1u32.checked_shl(self.attempt).unwrap_or(u32::MAX)).min(self.max)
    }

    /// The next delay, from a random number (uniform over `u64`).
    pub fn next(&mut self, random: u64) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1).min(31);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(random % nanos.saturating_add(1))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

fn random() -> u64 {
    // Without the system's randomness the delays lose their jitter but keep their ceiling: still bounded.
    getrandom::u64().unwrap_or(u64::MAX / 2)
}

/// This machine's name, for `Hello` and the service's agent list.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Runs the agent of `config_path` until `shutdown` completes, then drains the session and returns. Fails only
/// when the configuration is unusable.
pub async fn run(
    config_path: &Path,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let config = AgentConfig::load(config_path)?;
    let context = Context {
        service: ServiceClient::for_config(&config)?,
        relay: Relay::new(&config)?,
        credential_path: credential_path(config_path),
        host_name: host_name(),
        welcome_timeout: options.welcome_timeout,
        config,
    };
    tracing::info!(
        service = %context.config.service, agent = %context.config.agent_id, version = env!("CARGO_PKG_VERSION"),
        "idplane agent starting"
    );
    let (stop, mut stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut signalled = false;
    let mut backoff = Backoff::new(options.backoff_initial, options.backoff_max);
    loop {
        let started = Instant::now();
        let outcome = {
            let session = session::run(&context, &mut stopped);
            let mut session = std::pin::pin!(session);
            loop {
                tokio::select! {
                    outcome = &mut session => break outcome,
                    // The session sees the watch and drains; it is never dropped with requests in flight.
                    () = &mut shutdown, if !signalled => {
                        signalled = true;
                        let _ = stop.send(true);
                    }
                }
            }
        };
        if started.elapsed() >= options.healthy_after {
            backoff.reset();
        }
        let delay = match outcome {
            Ok(Ended::Shutdown) => {
                tracing::info!("drained; shut down");
                return Ok(());
            }
            Ok(Ended::Drained) if signalled => {
                tracing::info!("drained; shut down");
                return Ok(());
            }
            Ok(Ended::Drained) => {
                tracing::info!("drained; reconnecting");
                backoff.reset();
                continue;
            }
            Err(Error::Unauthorized(detail)) => {
                let delay = options.backoff_max;
                tracing::error!(
                    retry_in_seconds = delay.as_secs_f64(), detail = %detail,
                    "credential revoked or unknown: re-register the agent (idplane agent register), or ask an admin \
                     whether it was removed"
                );
                delay
            }
            Err(e @ Error::Config(_)) | Err(e @ Error::File { .. }) => {
                // The credential file missing or unreadable: fixed by the operator, so retried at the cap.
                let delay = options.backoff_max;
                tracing::error!(retry_in_seconds = delay.as_secs_f64(), error = %e, "cannot connect");
                delay
            }
            Err(e) => {
                let delay = backoff.next(random());
                tracing::warn!(retry_in_seconds = delay.as_secs_f64(), error = %e, "session ended; reconnecting");
                delay
            }
        };
        if signalled {
            tracing::info!("shut down");
            return Ok(());
        }
        // Between sessions nothing is in flight: a shutdown ends the agent at once.
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut shutdown => {
                tracing::info!("shut down");
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_full_jitter() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        let ceilings: Vec<u64> = (0..10)
            .map(|_| {
                let c = b.ceiling().as_millis() as u64;
                assert_eq!(b.clone().next(u64::MAX), Duration::from_nanos(u64::MAX % (c * 1_000_000 + 1)));
                b.next(0);
                c
            })
            .collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
        assert_eq!(b.next(0), Duration::ZERO, "full jitter reaches zero");
        assert!(b.next(u64::MAX) <= Duration::from_secs(60));
        for _ in 0..100 {
            b.next(7);
        }
        assert_eq!(b.ceiling(), Duration::from_secs(60), "no overflow after many attempts");
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
    }
}
