//! The provisioning domain: idplane as the *source* of provisioning, as Microsoft Entra ID is for an application.
//! An Entra-like service holds a directory, enterprise applications and their provisioning jobs; each job has a
//! synchronization schema (what maps to what, for which objects) and provisions into a SCIM endpoint.
//!
//! Pure code: no I/O, no async, no clock. Modules:
//! - [`schema`]: Microsoft Graph's `synchronizationSchema` (directories, rules, object and attribute mappings) as
//!   serde types whose JSON is Graph's, and the validation of a schema a client sends;
//! - [`scoping`]: scoping filters, their operators and their evaluation, with explanations;
//! - [`templates`]: the application gallery (`applicationTemplate`), the synchronization templates (`dataBricks`,
//!   `scim`) with their default schemas, and the reading of Graph users and groups as source objects;
//! - [`source`]: the source object, a user or group under the sync-schema attribute names.

pub mod error;
pub mod schema;
pub mod scoping;
pub mod source;
pub mod templates;

mod wire;

pub use error::Error;
