//! idplane's provisioning domain: idplane as the *source* of provisioning, as Microsoft Entra ID is for an
//! application. Tenants ([`tenant`]) hold a directory of users and groups ([`directory`]) and enterprise
//! applications with their app role assignments ([`application`]); an application's service principal has
//! provisioning jobs ([`job`]) and secrets ([`secrets`]: the tenant URL and secret token of the target, sealed at
//! rest). Each job has a synchronization schema ([`schema`]: what maps to what, for which objects, with
//! [`scoping`] filters), the template's ([`templates`]) until customised; [`source`] reads directory objects under
//! the schema's attribute names. What a job did to each object is in its provisioning logs ([`logs`]). On-premises
//! agents ([`agents`]) carry a job's requests into private networks.
//!
//! The ports it needs are in [`store`]; it takes "now" as a parameter and does no I/O.

pub mod agents;
pub mod application;
pub mod cycle;
pub mod directory;
pub mod error;
pub mod ids;
pub mod job;
pub mod logs;
pub mod odata;
pub mod schema;
pub mod scoping;
pub mod secrets;
pub mod source;
pub mod store;
pub mod templates;
pub mod tenant;

mod wire;

pub use error::{Error, ProvisioningError, Result};
