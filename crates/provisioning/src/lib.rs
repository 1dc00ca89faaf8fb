//! idplane's provisioning domain: the source side of provisioning, as Microsoft Entra ID has it. Tenants
//! ([`tenant`]) hold a directory of users and groups ([`directory`]) and enterprise applications with their app role
//! assignments ([`application`]); an application's service principal has provisioning jobs ([`job`]) and secrets
//! ([`secrets`]: the tenant URL and secret token of the target, sealed at rest). The ports it needs are in
//! [`store`]; it takes "now" as a parameter and does no I/O.

pub mod application;
pub mod directory;
pub mod error;
pub mod ids;
pub mod job;
pub mod secrets;
pub mod store;
pub mod tenant;

pub use error::{ProvisioningError, Result};
