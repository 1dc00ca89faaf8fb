//! The SCIM 2.0 client idplane's provisioning service talks through: to idplane's own identity service, to Azure
//! Databricks, to any RFC 7644 server, always over HTTP(S), never through a database.
//!
//! - [`TenantUrl`]: the SCIM base as an admin enters it (`https://host/api/2.1/accounts/<id>/scim/v2`,
//!   `https://host/api/2.0/preview/scim`, `https://host/scim/?aadOptscim062020`), validated (scheme, host, no
//!   credentials, no fragment), and the request URLs built from it as Entra builds them: `<base>/Users`,
//!   `<base>/Users/<id>`, ..., the tenant URL's flags first in the query, then the request's own parameters,
//!   form-encoded. `aadOptscim062020` selects the PATCH dialect ([`PatchDialect`]).
//! - [`SecretToken`]: the bearer token, never printed (`Debug` is redacted).
//! - [`Transport`]: one HTTP request in, status, headers and a bounded body out, or a classified [`Error`].
//! - [`response`]: answers read tolerantly ([`ListPage`], [`ErrorResponse`]).

pub mod error;
pub mod response;
pub mod secret;
pub mod tenant;
pub mod transport;

pub use error::{ConnectFailure, Error, ErrorResponse, TimeoutPhase, TlsFailure};
pub use response::ListPage;
pub use secret::SecretToken;
pub use tenant::{PatchDialect, TenantUrl};
pub use transport::{HttpRequest, HttpResponse, Method, RequestLine, Transport};
pub use url::Url;
