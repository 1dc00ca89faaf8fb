//! The SCIM 2.0 client idplane's provisioning service talks through: to idplane's own identity service, to Azure
//! Databricks, to any RFC 7644 server, always over HTTP(S), never through a database.
//!
//! # What it does
//!
//! - [`TenantUrl`]: the SCIM base as an admin enters it (`https://host/api/2.1/accounts/<id>/scim/v2`,
//!   `https://host/api/2.0/preview/scim`, `https://host/scim/?aadOptscim062020`), validated (scheme, host, no
//!   credentials, no fragment), and the request URLs built from it as Entra builds them: `<base>/Users`,
//!   `<base>/Users/<id>`, ..., the tenant URL's flags first in the query, then the request's own parameters,
//!   form-encoded. `aadOptscim062020` selects the PATCH dialect ([`PatchDialect`]).
//! - [`SecretToken`]: the bearer token, sent as `Authorization: Bearer <token>`, never printed (`Debug` is redacted)
//!   and never logged.
//! - [`Transport`]: one HTTP request in, status, headers and a bounded body out, or a classified [`Error`]. The
//!   client assumes nothing more of it, so a relay through an on-premises agent can carry the same requests.
//!   [`DirectTransport`] sends them from this process (reqwest with rustls).
//! - [`ScimClient`]: get by id, filter, create, replace, patch, delete, list with paging, `/ServiceProviderConfig`,
//!   `/Schemas`, `/ResourceTypes`; requests carry `Content-Type: application/scim+json; charset=utf-8`, an `Accept`
//!   and [`USER_AGENT`]; answers are read tolerantly (see [`response`]).
//! - [`ScimClient::test_connection`]: Entra's Test Connection probe, whose failure ([`ConnectionTestFailure`]) has
//!   an Entra-like code and a message that says what happened, what to check, and the request made.
//!
//! # Transport policy (the direct transport)
//!
//! HTTPS with certificate verification against the system's roots and/or configured CA bundles; plain `http://`
//! only to loopback targets (127.0.0.0/8, `::1`, `localhost`) unless [`DirectConfig::allow_insecure_http`]; no
//! redirect followed (a 3xx is reported, the token never goes to another host); `HTTPS_PROXY` and friends honoured;
//! a timeout over the whole exchange (default 30 s), a connect timeout (default 10 s), a cap on the response body
//! (default 16 MiB). See [`direct`].
//!
//! # Errors
//!
//! One type, [`Error`]. Settings: [`Error::TenantUrl`], [`Error::Token`], [`Error::Request`], [`Error::Config`].
//! Exchanges, each naming the request (method and URL, never the token): [`Error::InsecureHttp`] (refused by the
//! policy, nothing sent), [`Error::Dns`], [`Error::Connect`] (refused, unreachable, reset), [`Error::Tls`] (unknown
//! issuer, expired, not yet valid, name mismatch, revoked, not TLS, an alert, ...), [`Error::Timeout`] (after how
//! long, in which phase), [`Error::InvalidResponse`], [`Error::Redirect`], [`Error::Status`] (the target's error:
//! status, `scimType`, `detail` or Databricks' `error_code` and `message`, `Retry-After`, the start of the body),
//! [`Error::UnexpectedBody`] (a success whose body is not what SCIM sends).
//!
//! # Configurable
//!
//! [`DirectConfig`]: `timeout`, `connect_timeout`, `max_body_bytes`, `system_roots`, `ca_bundles` (PEM files or
//! text), `allow_insecure_http`, `resolve` (host names pinned to addresses). Per target: the tenant URL (and its
//! flags), the secret token, and Test Connection's matching attribute.

pub mod client;
pub mod direct;
pub mod error;
pub mod probe;
pub mod response;
pub mod secret;
pub mod tenant;
pub mod transport;

pub use client::{ACCEPT, Endpoint, ListRequest, SCIM_CONTENT_TYPE, ScimClient, USER_AGENT, eq_filter, resource_id};
pub use direct::{CaBundle, DirectConfig, DirectTransport};
pub use error::{ConnectFailure, Error, ErrorResponse, TimeoutPhase, TlsFailure};
pub use probe::{ConnectionTestCode, ConnectionTestFailure, DEFAULT_MATCHING_ATTRIBUTE};
pub use response::ListPage;
pub use secret::SecretToken;
pub use tenant::{PatchDialect, TenantUrl};
pub use transport::{HttpRequest, HttpResponse, Method, RequestLine, Transport};
pub use url::Url;
