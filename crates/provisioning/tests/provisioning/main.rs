//! The provisioning crate's integration tests: schema JSON as Graph and its clients write it, schema validation,
//! scoping filters operator by operator, and the templates (their schemas are snapshots, so that a change to a
//! default shows as a diff).

// A failed expectation in a test is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod language;
mod logs;
mod schema_json;
mod scoping;
mod templates;
mod validation;
