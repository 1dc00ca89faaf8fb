//! idplane's HTTP API. Thin handlers: extract, call the core, map the result. SCIM lives at the Databricks paths:
//! workspace level `/api/2.0/preview/scim/v2` (and the same without `/v2`, where Entra ID appends `/Users` to a
//! tenant URL of `.../api/2.0/preview/scim`), account level `/api/2.1/accounts/{account_id}/scim/v2` (the Account
//! SCIM URL of Databricks' account console) and `/api/2.0/accounts/{account_id}/scim/v2` (what the SDKs call).

pub mod agents;
pub mod audit;
pub mod auth_cache;
pub mod body;
pub mod bulk;
pub mod clock;
pub mod context;
pub mod databricks;
pub mod discovery;
pub mod error;
pub mod graph;
pub mod health;
pub mod hub;
pub mod log;
pub mod metrics;
pub mod ratelimit;
pub mod scim;
pub mod scim_token;
pub mod serve;
pub mod store_times;
pub mod tls;
pub mod tokens;
pub mod workspaces;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use idplane_core::identities::Identities;
use idplane_core::store::Store;
use idplane_provisioning::secrets::Cipher;
use idplane_provisioning::store::ProvisioningStore;
use idplane_scim::ScimError;

use crate::error::{error_for_path, scim_error_response};

/// Request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Most bytes of request headers (names and values) a request may carry; over it, 431.
    pub max_header_bytes: usize,
    pub bulk_max_operations: usize,
    pub bulk_max_payload_bytes: usize,
    /// Groups with more members than this answer a PATCH with 204 rather than with the whole group.
    pub patch_members_inline: usize,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_header_bytes: 32 << 10,
            bulk_max_operations: 1000,
            bulk_max_payload_bytes: 4 << 20,
            patch_members_inline: 1000,
            request_timeout: std::time::Duration::from_secs(120),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The provisioning service's store (the same database as `store`, through its other ports).
    pub provisioning: Arc<dyn ProvisioningStore>,
    /// Seals and opens the secrets of provisioning jobs (the target's tenant URL and secret token).
    pub secrets: Arc<Cipher>,
    /// How the provisioning service reaches targets: SCIM over HTTP(S) from this process (see `--target-*`).
    pub targets: Arc<dyn idplane_scim_client::Transport>,
    pub identities: Identities,
    pub limits: Limits,
    /// The public origin (`https://idp.example.com`) used in `meta.location`; taken from the request when unset.
    pub public_url: Option<String>,
    pub limiter: Arc<ratelimit::Limiter>,
    /// Whether this server terminates TLS itself (then its URLs are `https`).
    pub tls: bool,
    pub metrics: Arc<metrics::Metrics>,
    pub auth_cache: Arc<auth_cache::AuthCache>,
    /// How long the store's operations took: the composition root makes the store report to it
    /// ([`idplane_core::store::StoreObserver`]).
    pub store_times: Arc<store_times::StoreTimes>,
    /// What time it is (tests pass a clock of their own: see [`AppState::with_clock`]).
    pub clock: Arc<dyn clock::Clock>,
    /// The provisioning engine's counters (cycles, exports, escrows, target latency), shown by `/metrics`.
    pub engine: Arc<idplane_worker::metrics::EngineMetrics>,
    /// Where the provisioning engine's notification emails go out (no relay: they are logged, not sent).
    pub notifier: Arc<dyn idplane_worker::notify::Notifier>,
    /// On-premises agents revoked through this node, for the hub to disconnect at once.
    pub agent_revocations: Arc<agents::Revocations>,
    /// The sessions of the on-premises agents connected to this node, and the relay through them.
    pub hub: hub::Hub,
}

impl AppState {
    /// The state of a server on `store`, with default settings. For `/metrics` to show the store's latencies, the
    /// store must report to [`AppState::store_times`] (see [`AppState::with_store_times`]).
    /// Secrets are sealed with a random key until [`AppState::with_secrets_key`] sets the operator's: the
    /// composition root must, or they do not outlive the process.
    pub fn new(store: Arc<dyn Store>, provisioning: Arc<dyn ProvisioningStore>) -> Self {
        let store_times = Arc::new(store_times::StoreTimes::default());
        let mut key = [0u8; 32];
        // Without randomness the key stays zero; that only affects a state the composition root replaces.
        let _ = getrandom::fill(&mut key);
        let hub_store = provisioning.clone();
        AppState {
            identities: Identities::new(store.clone()),
            store,
            provisioning,
            secrets: Arc::new(Cipher::new(&key)),
            targets: direct_targets(&idplane_scim_client::DirectConfig::default()),
            limits: Limits::default(),
            public_url: None,
            limiter: Arc::new(ratelimit::Limiter::new(ratelimit::RateLimit::default())),
            tls: false,
            metrics: Arc::new(metrics::Metrics::default()),
            auth_cache: Arc::new(auth_cache::AuthCache::new(std::time::Duration::from_secs(1))),
            store_times,
            clock: Arc::new(clock::SystemClock),
            engine: Arc::default(),
            notifier: Arc::new(idplane_worker::notify::NoMailer),
            agent_revocations: Arc::default(),
            hub: hub::Hub::new(hub_store, "local", hub::HubConfig::default()),
        }
    }

    /// Reads the time from `clock`, the auth cache included (which then starts empty, with the same time to live).
    pub fn with_clock(mut self, clock: Arc<dyn clock::Clock>) -> Self {
        self.auth_cache = Arc::new(auth_cache::AuthCache::with_clock(self.auth_cache.ttl(), clock.clone()));
        self.clock = clock;
        self
    }

    /// Seals provisioning secrets with the operator's key (see `idplane serve --secrets-key-file`).
    pub fn with_secrets_key(mut self, key: &[u8; 32]) -> Self {
        self.secrets = Arc::new(Cipher::new(key));
        self
    }

    /// Uses `times`, which the store reports to, for `/metrics`.
    pub fn with_store_times(mut self, times: Arc<store_times::StoreTimes>) -> Self {
        self.store_times = times;
        self
    }
}

/// The transport to targets with this policy; one that fails every request with the reason when the policy cannot
/// be set up (a CA bundle that does not read), so that the server still starts and says why Test Connection fails.
pub fn direct_targets(config: &idplane_scim_client::DirectConfig) -> Arc<dyn idplane_scim_client::Transport> {
    match idplane_scim_client::DirectTransport::new(config) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::error!(error = %e, "the transport to provisioning targets could not be set up");
            Arc::new(Unreachable(e.to_string()))
        }
    }
}

/// A transport that cannot send: see [`direct_targets`].
struct Unreachable(String);

#[async_trait::async_trait]
impl idplane_scim_client::Transport for Unreachable {
    async fn send(
        &self,
        _: idplane_scim_client::HttpRequest,
    ) -> Result<idplane_scim_client::HttpResponse, idplane_scim_client::Error> {
        Err(idplane_scim_client::Error::Config(self.0.clone()))
    }
}

/// The SCIM API of one base: resources, discovery and Bulk.
fn scim_api() -> Router<AppState> {
    scim::routes().merge(discovery::routes()).route("/Bulk", post(bulk::bulk).fallback(method_not_allowed))
}

/// The Graph API alone, with its error shapes and path spellings: what each request of a `$batch` runs through.
pub fn graph_router(state: AppState) -> Router {
    let api = graph::routes()
        .fallback(not_found)
        .layer(axum::middleware::from_fn(error::uniform_errors))
        .layer(axum::middleware::from_fn(graph::error::inner_error))
        .with_state(state);
    Router::new().fallback_service(tower::util::MapRequest::new(api, canonical_path))
}

/// The whole HTTP API. Paths are made canonical before they are routed ([`canonical_path`]).
pub fn router(state: AppState) -> Router {
    let api = api(state);
    Router::new().fallback_service(tower::util::MapRequest::new(api, canonical_path))
}

/// The resource endpoints of the SCIM bases, by their canonical spelling.
const SCIM_ENDPOINTS: [&str; 8] =
    ["Users", "Groups", "ServicePrincipals", "Schemas", "ResourceTypes", "ServiceProviderConfig", "Bulk", "Me"];

/// Under a SCIM base, the endpoint's name is matched case-insensitively (`/users`, `/serviceprincipals`) and a
/// trailing slash is dropped (`/Users/`, `/Users/{id}/`), as Microsoft's reference SCIM client expects; the request
/// goes on with the canonical path, so that `meta.location` keeps the canonical spelling.
pub fn canonical_path(request: axum::extract::Request) -> axum::extract::Request {
    let path = request.uri().path();
    if graph::is_graph_path(path) {
        return match graph::canonical(path) {
            Some(canonical) => with_path(request, &canonical),
            None => request,
        };
    }
    let Some(level) = context::level(path) else { return request };
    let base = level.base();
    let rest = &path[base.len()..];
    let trimmed = if rest.len() > 1 { rest.trim_end_matches('/') } else { rest };
    let mut segments = trimmed.splitn(3, '/');
    let (Some(""), Some(endpoint)) = (segments.next(), segments.next()) else { return request };
    let canonical = SCIM_ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(endpoint)).copied().unwrap_or(endpoint);
    if canonical == endpoint && trimmed.len() == rest.len() {
        return request;
    }
    let mut new_path = format!("{base}/{canonical}");
    if let Some(tail) = segments.next() {
        new_path.push('/');
        new_path.push_str(tail);
    }
    with_path(request, &new_path)
}

/// The request with its path replaced (its query kept), and that path as its original URI.
fn with_path(mut request: axum::extract::Request, new_path: &str) -> axum::extract::Request {
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut parts = request.uri().clone().into_parts();
    let Ok(path_and_query) = format!("{new_path}{query}").parse() else { return request };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = axum::http::Uri::from_parts(parts) else { return request };
    *request.uri_mut() = uri.clone();
    request.extensions_mut().insert(axum::extract::OriginalUri(uri));
    request
}

fn api(state: AppState) -> Router {
    let strict = state.identities.databricks_strict();
    let router = Router::new()
        .nest("/api/2.0/preview/scim/v2", scim_api())
        .nest("/api/2.0/preview/scim", scim_api())
        .nest("/api/2.0/accounts/{account_id}/scim/v2", scim_api())
        .nest("/api/2.1/accounts/{account_id}/scim/v2", scim_api())
        .nest("/api/2.0/account/scim/v2", scim_api())
        .merge(databricks::routes())
        .merge(workspaces::routes())
        .merge(tokens::routes())
        .merge(scim_token::routes())
        .merge(audit::routes())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(graph::routes())
        .merge(agents::routes())
        .merge(hub::routes())
        .fallback(not_found);
    let router = if strict { router.layer(axum::middleware::from_fn(error::databricks_conflicts)) } else { router };
    router
        .layer(axum::middleware::from_fn(error::uniform_errors))
        .layer(axum::middleware::from_fn(graph::error::inner_error))
        .layer(axum::middleware::from_fn_with_state(state.auth_cache.clone(), auth_cache::forget_after_writes))
        .layer(axum::middleware::from_fn_with_state(state.limits.request_timeout, time_limit))
        .layer(axum::middleware::from_fn_with_state(state.limits.max_header_bytes, header_limit))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), log::log_request))
        .with_state(state)
}

/// Answers 503 when a request runs past its time limit, rather than letting a client wait on it forever. The work
/// in flight is dropped: every write is one store transaction, so none is left half done.
pub async fn time_limit(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_string();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error_for_path(
            &path,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the request took longer than {} s; retry it, or ask for less", limit.as_secs()),
        ),
    }
}

/// Answers 431 to a request whose headers are larger than `limit` bytes: no client of a SCIM API needs more, and
/// whatever reads them later (the log, the token lookup) should not have to handle more.
async fn header_limit(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let size: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > limit {
        return error_for_path(
            request.uri().path(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request headers take {size} bytes; send at most {limit}"),
        );
    }
    next.run(request).await
}

pub(crate) async fn method_not_allowed() -> Response {
    scim_error_response(&ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED.as_u16(),
        None,
        "this endpoint does not support that method",
    ))
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error_for_path(uri.path(), StatusCode::NOT_FOUND, "no such endpoint")
}
