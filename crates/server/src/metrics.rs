//! `/metrics` in the Prometheus text format, for an administrative token: requests by route, method and status;
//! latency histograms by route; store latency histograms by operation; rate-limited requests; principals by kind per account and active tokens (counted from
//! the store when scraped). Counters live in this process.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idplane_core::CoreError;
use idplane_core::principal::PrincipalKind;
use idplane_core::store::{ListSpec, Listing, TokenFilter, Total};
use idplane_core::tenancy::Scope;
use idplane_core::token::TokenKind;
use time::OffsetDateTime;

use crate::AppState;
use crate::context::authenticated;
use crate::error::ApiError;
use crate::store_times::BUCKETS as STORE_BUCKETS;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The process's request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    rate_limited: AtomicU64,
}

impl Metrics {
    pub fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((route.to_string(), method.to_string(), status)).or_default() += 1;
        drop(requests);
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = latency.entry(route.to_string()).or_default();
        for (bucket, bound) in h.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Label values escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

async fn metrics(State(s): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let token = authenticated(&s, &parts, OffsetDateTime::now_utc()).await?;
    if token.kind != TokenKind::Admin || token.principal_id.is_some() {
        return Err(
            CoreError::PermissionDenied("metrics need an administrative token (idplane token create)".into()).into()
        );
    }
    let mut out = String::new();
    let _ = writeln!(out, "# HELP idplane_requests_total Requests answered, by route, method and status.");
    let _ = writeln!(out, "# TYPE idplane_requests_total counter");
    for ((route, method, status), n) in s.metrics.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "idplane_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
            label(route),
            label(method)
        );
    }
    let _ = writeln!(out, "# HELP idplane_request_duration_seconds Time to answer a request, by route.");
    let _ = writeln!(out, "# TYPE idplane_request_duration_seconds histogram");
    for (route, h) in s.metrics.latency.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let route = label(route);
        for (n, bound) in h.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "idplane_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "idplane_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "idplane_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
        let _ = writeln!(out, "idplane_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
    }
    let _ =
        writeln!(out, "# HELP idplane_rate_limited_total Requests answered 429 because their token was over its rate.");
    let _ = writeln!(out, "# TYPE idplane_rate_limited_total counter");
    let _ = writeln!(out, "idplane_rate_limited_total {}", s.metrics.rate_limited.load(Ordering::Relaxed));

    let _ = writeln!(out, "# HELP idplane_store_duration_seconds Time the store took, by operation.");
    let _ = writeln!(out, "# TYPE idplane_store_duration_seconds histogram");
    for t in s.store_times.snapshot() {
        let op = t.operation;
        for (n, bound) in t.buckets.iter().zip(STORE_BUCKETS) {
            let _ = writeln!(out, "idplane_store_duration_seconds_bucket{{operation=\"{op}\",le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "idplane_store_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {}", t.count);
        let _ = writeln!(out, "idplane_store_duration_seconds_sum{{operation=\"{op}\"}} {}", t.sum_seconds);
        let _ = writeln!(out, "idplane_store_duration_seconds_count{{operation=\"{op}\"}} {}", t.count);
    }

    let _ = writeln!(out, "# HELP idplane_principals Account principals, by account and kind.");
    let _ = writeln!(out, "# TYPE idplane_principals gauge");
    let _ = writeln!(out, "# HELP idplane_active_tokens Tokens that have not expired, by account.");
    let _ = writeln!(out, "# TYPE idplane_active_tokens gauge");
    let now = OffsetDateTime::now_utc();
    for account in s.store.accounts().await.map_err(CoreError::from)? {
        let scope = Scope::Account { account_id: account.id.clone() };
        for kind in [PrincipalKind::User, PrincipalKind::Group, PrincipalKind::ServicePrincipal] {
            let spec = ListSpec { total: Total::Recent, ..ListSpec::page(None, 0) };
            let n = match s.store.list_principals(&scope, kind, &spec).await.map_err(CoreError::from)? {
                Listing::Page { total, .. } => total,
                Listing::Candidates(items) => items.len(),
                Listing::TooMany { scanned } => scanned,
            };
            let _ =
                writeln!(out, "idplane_principals{{account=\"{}\",kind=\"{}\"}} {n}", label(&account.id), kind.code());
        }
        let tokens = s.store.tokens(&account.id, &TokenFilter::default()).await.map_err(CoreError::from)?;
        let active = tokens.iter().filter(|t| !t.is_expired(now)).count();
        let _ = writeln!(out, "idplane_active_tokens{{account=\"{}\"}} {active}", label(&account.id));
    }
    let mut response = (StatusCode::OK, out).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(response)
}
