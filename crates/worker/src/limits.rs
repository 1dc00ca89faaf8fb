//! A job's limits on its target ([`TargetLimits`]): a token bucket per HTTP method and a bound on requests in
//! flight, around the transport its SCIM client sends through. A request waits for its turn; none is refused.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use idplane_provisioning::job::TargetLimits;
use idplane_scim_client::{Error, HttpRequest, HttpResponse, Method, Transport};
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

/// The slowest rate a bucket keeps to (one request every 100 s).
const MIN_RATE: f64 = 0.01;

/// Requests of one method at most `rate` per second, in bursts of at most one second's worth.
struct Bucket {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        // Settings are checked when saved; a rate below this would make waits no clock can represent.
        let rate = rate.max(MIN_RATE);
        Bucket { rate, state: Mutex::new((rate.max(1.0), Instant::now())) }
    }

    async fn take(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
                s.0 = (s.0 + refill).min(self.rate.max(1.0));
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The transport of one job's requests, within its limits.
pub struct LimitedTransport {
    inner: Arc<dyn Transport>,
    in_flight: Semaphore,
    buckets: [Option<Bucket>; 5],
}

impl LimitedTransport {
    pub fn new(inner: Arc<dyn Transport>, limits: &TargetLimits) -> LimitedTransport {
        let bucket = |r: Option<f64>| r.map(Bucket::new);
        LimitedTransport {
            inner,
            in_flight: Semaphore::new(limits.concurrency.max(1)),
            buckets: [
                bucket(limits.get),
                bucket(limits.post),
                bucket(limits.put),
                bucket(limits.patch),
                bucket(limits.delete),
            ],
        }
    }
}

#[async_trait]
impl Transport for LimitedTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let index = match request.method {
            Method::Get => 0,
            Method::Post => 1,
            Method::Put => 2,
            Method::Patch => 3,
            Method::Delete => 4,
        };
        if let Some(b) = &self.buckets[index] {
            b.take().await;
        }
        // The semaphore is never closed; should it be, the request goes without waiting rather than failing.
        let _permit = self.in_flight.acquire().await.ok();
        self.inner.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_lets_its_rate_through_and_makes_the_rest_wait() {
        let b = Bucket::new(2.0);
        let started = Instant::now();
        for _ in 0..6 {
            b.take().await;
        }
        // Two at once (the burst), then one every half second.
        let elapsed = started.elapsed().as_secs_f64();
        assert!((1.9..2.1).contains(&elapsed), "{elapsed}");
    }
}
