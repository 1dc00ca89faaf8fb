//! idplane's domain core: accounts, workspaces, principals (users, groups, service principals), tokens, and the
//! identity service that answers SCIM requests for them. It defines the ports it needs ([`store::Store`]) and takes
//! "now" as a parameter, so every rule is testable without I/O or sleeping.

pub mod access;
pub mod assignment;
pub mod audit;
pub mod bootstrap;
pub mod error;
pub mod identities;
pub mod ids;
pub mod principal;
pub mod resource_types;
pub mod store;
pub mod tenancy;
pub mod token;
pub mod workspaces;

pub use error::{CoreError, Result};
