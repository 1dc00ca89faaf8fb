//! `/metrics` in the Prometheus text format: requests by account, route, method and status; latency histograms by
//! account and route; rate-limited requests by account; principals by kind and active tokens per account (read
//! from the store at most every [`GAUGE_TIME_TO_LIVE`] per account, scrapes in between are answered from memory); store latency histograms by operation; the provisioning engine's cycles, exports, escrows, quarantined jobs and target latency by status. Counters live in this process.
//!
//! On the API's address an account's administrators see their own account's series only. Everything, the process's
//! own series included, is served without a token on a separate address (`--metrics-listen`), off by default, for an
//! interface only the monitoring reaches.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idplane_core::CoreError;
use idplane_core::access::Role;
use idplane_core::principal::PrincipalKind;
use idplane_core::store::{ListSpec, Listing, TokenFilter, Total};
use idplane_core::tenancy::Scope;
use idplane_core::token::{TokenKind, TokenScope};

use crate::AppState;
use crate::context::{authenticated, role};
use crate::error::ApiError;
use crate::store_times::BUCKETS as STORE_BUCKETS;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

use idplane_worker::metrics::Histogram;

/// The process's request counters, by account (the account of the request's token; none for requests without a
/// valid token).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    rate_limited: Mutex<BTreeMap<String, u64>>,
    /// The gauges of each account, as last read from the store, and when.
    gauges: Mutex<BTreeMap<String, (Gauges, std::time::Instant)>>,
}

/// How long the gauges read for an account serve scrapes before they are read again: scrapes (every 15 to 60 s,
/// from one or several scrapers) then cost the store nothing most of the time, whatever the number of accounts.
pub const GAUGE_TIME_TO_LIVE: Duration = Duration::from_secs(30);

/// An account's gauges.
#[derive(Debug, Clone, Copy, Default)]
struct Gauges {
    /// Users, groups and service principals.
    principals: [usize; 3],
    active_tokens: usize,
}

impl Metrics {
    pub fn record(&self, account: Option<&str>, route: &str, method: &str, status: u16, elapsed: Duration) {
        let account = account.unwrap_or_default().to_string();
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((account.clone(), route.to_string(), method.to_string(), status)).or_default() += 1;
        drop(requests);
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        latency.entry((account, route.to_string())).or_default().observe(seconds, &BUCKETS);
    }

    pub fn rate_limited(&self, account: &str) {
        *self.rate_limited.lock().unwrap_or_else(|p| p.into_inner()).entry(account.to_string()).or_default() += 1;
    }
}

/// The account a request's token belongs to, once [`crate::context::authenticated`] knows it: the request log puts
/// an empty slot in the request's extensions and reads it back when the response is done, to count the request
/// under its account.
#[derive(Debug, Clone, Default)]
pub struct RequestAccount(Arc<Mutex<Option<String>>>);

impl RequestAccount {
    pub fn set(&self, account: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(account.to_string());
    }

    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Label values escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `/metrics` on the API's address: an account's administrators (an administrative token of the account, without a
/// principal or acting as an account admin) see the requests, latencies and gauges of their own account.
async fn metrics(State(s): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let token = authenticated(&s, &parts, s.clock.now()).await?;
    let denied = || {
        CoreError::PermissionDenied(
            "metrics need an administrative token of an account: the admin token printed at first start, or one of \
             `idplane token create --account <id>`"
                .into(),
        )
    };
    let TokenScope::Account { account_id } = &token.scope else { return Err(denied().into()) };
    if token.kind != TokenKind::Admin {
        return Err(denied().into());
    }
    let scope = Scope::Account { account_id: account_id.clone() };
    if role(&s, &token, &scope).await? != Role::Admin {
        return Err(denied().into());
    }
    Ok(text(render(&s, Some(account_id)).await?))
}

/// The router of the internal metrics address (`--metrics-listen`): every account's metrics and the process's own
/// (store latencies, requests without a token), without a token. Meant for an interface only the monitoring reaches.
pub fn internal_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move {
                render(&s, None).await.map(text).unwrap_or_else(|e| e.into_response())
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "only /metrics is served here\n") })
        .with_state(state)
}

fn text(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

const KINDS: [PrincipalKind; 3] = [PrincipalKind::User, PrincipalKind::Group, PrincipalKind::ServicePrincipal];

/// The gauges of `account`: as read within [`GAUGE_TIME_TO_LIVE`], else read from the store now.
async fn gauges(s: &AppState, account: &str) -> Result<Gauges, ApiError> {
    let now = s.clock.instant();
    let cached = s.metrics.gauges.lock().unwrap_or_else(|p| p.into_inner()).get(account).copied();
    if let Some((g, _)) = cached.filter(|(_, at)| now.saturating_duration_since(*at) < GAUGE_TIME_TO_LIVE) {
        return Ok(g);
    }
    let scope = Scope::Account { account_id: account.to_string() };
    let mut g = Gauges::default();
    for (i, kind) in KINDS.into_iter().enumerate() {
        let spec = ListSpec { total: Total::Recent, ..ListSpec::page(None, 0) };
        g.principals[i] = match s.store.list_principals(&scope, kind, &spec).await.map_err(CoreError::from)? {
            Listing::Page { total, .. } => total,
            Listing::Candidates(items) => items.len(),
            Listing::TooMany { scanned } => scanned,
        };
    }
    let tokens = s.store.tokens(account, &TokenFilter::default()).await.map_err(CoreError::from)?;
    let wall = s.clock.now();
    g.active_tokens = tokens.iter().filter(|t| !t.is_expired(wall)).count();
    let mut cache = s.metrics.gauges.lock().unwrap_or_else(|p| p.into_inner());
    // Bounded by the accounts that exist; one removed is dropped when the cache is full.
    if cache.len() > 100_000 {
        cache.clear();
    }
    cache.insert(account.to_string(), (g, now));
    Ok(g)
}

/// The metrics text: of one account (its requests, rate-limited requests and gauges), or of all and of the process.
async fn render(s: &AppState, only: Option<&str>) -> Result<String, ApiError> {
    let shown = |account: &str| only.is_none_or(|o| o == account);
    let mut out = String::new();
    let _ = writeln!(out, "# HELP idplane_requests_total Requests answered, by account, route, method and status.");
    let _ = writeln!(out, "# TYPE idplane_requests_total counter");
    for ((account, route, method, status), n) in s.metrics.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if shown(account) {
            let _ = writeln!(
                out,
                "idplane_requests_total{{account=\"{}\",route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                label(account),
                label(route),
                label(method)
            );
        }
    }
    let _ = writeln!(out, "# HELP idplane_request_duration_seconds Time to answer a request, by account and route.");
    let _ = writeln!(out, "# TYPE idplane_request_duration_seconds histogram");
    for ((account, route), h) in s.metrics.latency.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if !shown(account) {
            continue;
        }
        let labels = format!("account=\"{}\",route=\"{}\"", label(account), label(route));
        h.write(&mut out, "idplane_request_duration_seconds", &labels, &BUCKETS);
    }
    let _ = writeln!(
        out,
        "# HELP idplane_rate_limited_total Requests answered 429 because their token was over its rate, by account."
    );
    let _ = writeln!(out, "# TYPE idplane_rate_limited_total counter");
    let limited = s.metrics.rate_limited.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match only {
        Some(account) => {
            let n = limited.get(account).copied().unwrap_or(0);
            let _ = writeln!(out, "idplane_rate_limited_total{{account=\"{}\"}} {n}", label(account));
        }
        None => {
            for (account, n) in &limited {
                let _ = writeln!(out, "idplane_rate_limited_total{{account=\"{}\"}} {n}", label(account));
            }
        }
    }

    if only.is_none() {
        let _ = writeln!(out, "# HELP idplane_store_duration_seconds Time the store took, by operation.");
        let _ = writeln!(out, "# TYPE idplane_store_duration_seconds histogram");
        for t in s.store_times.snapshot() {
            let op = t.operation;
            for (n, bound) in t.buckets.iter().zip(STORE_BUCKETS) {
                let _ = writeln!(out, "idplane_store_duration_seconds_bucket{{operation=\"{op}\",le=\"{bound}\"}} {n}");
            }
            let _ =
                writeln!(out, "idplane_store_duration_seconds_bucket{{operation=\"{op}\",le=\"+Inf\"}} {}", t.count);
            let _ = writeln!(out, "idplane_store_duration_seconds_sum{{operation=\"{op}\"}} {}", t.sum_seconds);
            let _ = writeln!(out, "idplane_store_duration_seconds_count{{operation=\"{op}\"}} {}", t.count);
        }
    }

    engine(s, only, &mut out).await?;

    let _ = writeln!(out, "# HELP idplane_principals Account principals, by account and kind.");
    let _ = writeln!(out, "# TYPE idplane_principals gauge");
    let _ = writeln!(out, "# HELP idplane_active_tokens Tokens that have not expired, by account.");
    let _ = writeln!(out, "# TYPE idplane_active_tokens gauge");
    let accounts: Vec<String> = match only {
        Some(account) => vec![account.to_string()],
        None => s.store.accounts().await.map_err(CoreError::from)?.into_iter().map(|a| a.id).collect(),
    };
    for account in accounts {
        let g = gauges(s, &account).await?;
        for (kind, n) in KINDS.iter().zip(g.principals) {
            let _ = writeln!(out, "idplane_principals{{account=\"{}\",kind=\"{}\"}} {n}", label(&account), kind.code());
        }
        let _ = writeln!(out, "idplane_active_tokens{{account=\"{}\"}} {}", label(&account), g.active_tokens);
    }
    Ok(out)
}

/// The provisioning engine's series: of the account's tenant, or of every tenant and the process's target latency.
async fn engine(s: &AppState, only: Option<&str>, out: &mut String) -> Result<(), ApiError> {
    let tenant = match only {
        Some(account) => {
            let t = s.provisioning.tenant_of_account(account).await.map_err(CoreError::Store)?;
            Some(t.map(|t| t.id).unwrap_or_default())
        }
        None => None,
    };
    let shown = |t: &str| tenant.as_deref().is_none_or(|only| only == t);
    let m = &s.engine;
    let _ =
        writeln!(out, "# HELP idplane_provisioning_cycles_total Provisioning cycles run, by tenant, kind and result.");
    let _ = writeln!(out, "# TYPE idplane_provisioning_cycles_total counter");
    for ((t, kind, result), n) in m.cycles.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if shown(t) {
            let _ = writeln!(
                out,
                "idplane_provisioning_cycles_total{{tenant=\"{}\",kind=\"{kind}\",result=\"{result}\"}} {n}",
                label(t)
            );
        }
    }
    let _ =
        writeln!(out, "# HELP idplane_provisioning_exports_total Objects provisioned, by tenant, action and outcome.");
    let _ = writeln!(out, "# TYPE idplane_provisioning_exports_total counter");
    for ((t, action, outcome), n) in m.exports.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if shown(t) {
            let _ = writeln!(
                out,
                "idplane_provisioning_exports_total{{tenant=\"{}\",action=\"{action}\",outcome=\"{outcome}\"}} {n}",
                label(t)
            );
        }
    }
    let _ =
        writeln!(out, "# HELP idplane_provisioning_escrows Objects waiting for a retry, by job, after its last cycle.");
    let _ = writeln!(out, "# TYPE idplane_provisioning_escrows gauge");
    let _ =
        writeln!(out, "# HELP idplane_provisioning_quarantined Whether a job is quarantined (1) after its last cycle.");
    let _ = writeln!(out, "# TYPE idplane_provisioning_quarantined gauge");
    for ((t, job), g) in m.jobs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if shown(t) {
            let labels = format!("tenant=\"{}\",job=\"{}\"", label(t), label(job));
            let _ = writeln!(out, "idplane_provisioning_escrows{{{labels}}} {}", g.escrows);
            let _ = writeln!(out, "idplane_provisioning_quarantined{{{labels}}} {}", u8::from(g.quarantined));
        }
    }
    if only.is_none() {
        use idplane_worker::metrics::BUCKETS as TARGET_BUCKETS;
        let _ = writeln!(
            out,
            "# HELP idplane_target_request_duration_seconds Requests to provisioning targets, by status."
        );
        let _ = writeln!(out, "# TYPE idplane_target_request_duration_seconds histogram");
        for (status, h) in m.target_latency.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let labels = format!("status=\"{}\"", label(status));
            h.write(out, "idplane_target_request_duration_seconds", &labels, &TARGET_BUCKETS);
        }
    }
    Ok(())
}
