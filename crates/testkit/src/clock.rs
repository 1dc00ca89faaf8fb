//! A clock that tests move forward: an [`App`](crate::App) reads the time from it, so that a test of a time to live
//! (the auth cache, a token's expiry, a rotation's grace period) moves it past the bound instead of waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use idplane_server::clock::Clock;
use time::OffsetDateTime;

/// The system's time plus how far the test has moved it ([`ManualClock::advance`]): time still passes as it does,
/// and jumps when told.
#[derive(Debug, Default)]
pub struct ManualClock {
    ahead: Mutex<Duration>,
}

impl ManualClock {
    /// Moves the clock `by` forward.
    pub fn advance(&self, by: Duration) {
        *self.ahead.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }

    fn ahead(&self) -> Duration {
        *self.ahead.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.ahead()
    }

    fn instant(&self) -> Instant {
        Instant::now() + self.ahead()
    }
}
