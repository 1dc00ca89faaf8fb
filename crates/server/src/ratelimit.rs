//! Per-token rate limiting: a token bucket per token, refilled at a steady rate up to a burst. A request over the
//! limit is answered 429 with `Retry-After` (seconds), which Entra ID and the Databricks SDKs honour. The buckets
//! live in this process: behind a load balancer with N nodes, a token gets up to N times the rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Requests per second and burst size of every token's bucket; a rate of 0 turns limiting off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    /// Generous: far above the 25 requests per second Entra ID needs of a SCIM endpoint, and above what one client
    /// usually sends, so that only a runaway client meets it.
    fn default() -> Self {
        RateLimit { per_second: 1000.0, burst: 2000.0 }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of all tokens.
#[derive(Debug, Default)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Most buckets kept before idle ones are dropped (a full bucket carries no state worth keeping).
const MAX_BUCKETS: usize = 100_000;

impl Limiter {
    pub fn new(limit: RateLimit) -> Self {
        Limiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket at `now`; `Err(seconds)` says how long to wait when it is empty.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let RateLimit { per_second, burst } = self.limit;
        if per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket { tokens: burst, at: now });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_empties_refills_and_is_per_key() {
        let limiter = Limiter::new(RateLimit { per_second: 2.0, burst: 3.0 });
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.check("a", t0).is_ok()), "the burst");
        assert_eq!(limiter.check("a", t0), Err(1));
        assert!(limiter.check("b", t0).is_ok(), "another token has its own bucket");
        assert!(limiter.check("a", t0 + Duration::from_millis(500)).is_ok(), "half a second refills one");
        assert!(limiter.check("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn a_rate_of_zero_turns_limiting_off() {
        let limiter = Limiter::new(RateLimit { per_second: 0.0, burst: 0.0 });
        assert!((0..10_000).all(|_| limiter.check("a", Instant::now()).is_ok()));
    }
}
