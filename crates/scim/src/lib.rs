//! The SCIM 2.0 protocol, as data and pure functions: schemas and attribute characteristics (RFC 7643), the filter and
//! PATCH path languages, PATCH application, projection, list and error messages (RFC 7644), cursor pagination
//! (RFC 9865). No I/O and no knowledge of any particular service: servers use it to answer, clients to ask.

pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::{AttrPath, CompValue, CompareOp, Filter};
pub use patch::PatchDialect;
pub use path::PatchPath;
