//! What time it is, for the server: the wall clock (`now`, for token expiry, timestamps, the audit log) and a
//! monotonic clock (`instant`, for the auth cache's time to live and rate limits). The server reads both through
//! [`Clock`], so that tests can pass their own and move it forward instead of waiting.

use std::time::Instant;

use time::OffsetDateTime;

pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> OffsetDateTime;
    fn instant(&self) -> Instant;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}
