//! idplane's admin console: server-rendered pages under [`PREFIX`] on the API's own listener, for both sides of
//! idplane (the provisioning service with Entra's page names, the identity service with Databricks').
//!
//! The console is a client of idplane's own APIs, as Entra's admin center is a client of Graph: a page calls the
//! Graph, SCIM and Databricks APIs in-process ([`api::Api`]) with the signed-in token, so that it shows and changes
//! only what that token may, checked by the same code as any API client. Templates are askama's (compiled, every
//! value escaped); the stylesheet and the one script are vendored into the binary ([`assets`]); the
//! Content-Security-Policy allows nothing else ([`security_headers`]).

pub mod api;
mod apps;
mod assets;
mod directory;
pub mod error;
mod home;
mod identity;
mod mappings;
pub mod page;
mod runs;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use idplane_server::AppState;

/// Where the console is served.
pub const PREFIX: &str = "/console";

/// What every console handler has: the server's state, the API it calls, its settings.
#[derive(Clone)]
pub struct Console {
    pub state: AppState,
    /// idplane's whole HTTP API, which pages call in-process.
    pub api: Router,
    pub settings: Arc<Settings>,
}

/// The console's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { session_ttl: Duration::from_secs(8 * 3600) }
    }
}

/// idplane's whole HTTP surface: the console under [`PREFIX`], everything else to the API.
pub fn app(state: AppState, settings: Settings) -> Router {
    let api = idplane_server::router(state.clone());
    let console = Console { state, api: api.clone(), settings: Arc::new(settings) };
    Router::new()
        .route("/console/", axum::routing::get(|| async { axum::response::Redirect::permanent(PREFIX) }))
        .nest(PREFIX, router(console))
        .fallback_service(api)
}

/// The console's pages, to be nested under [`PREFIX`].
pub fn router(console: Console) -> Router {
    let metrics = console.state.metrics.clone();
    Router::new()
        .route("/", get(home::home))
        .route("/signin", get(session::signin_page).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/assets/{file}", get(assets::asset))
        .merge(directory::routes())
        .merge(apps::routes())
        .merge(mappings::routes())
        .merge(runs::routes())
        .merge(identity::routes())
        .fallback(error::not_found)
        .with_state(console)
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(metrics, idplane_server::log::log_request))
}

/// The Content-Security-Policy of every console response: the console's own script and stylesheet, nothing inline,
/// nothing from elsewhere, forms posting only to itself, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's security headers; pages (not assets) are never cached, for they show what one token sees.
async fn security_headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/assets/") || request.uri().path().contains("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
