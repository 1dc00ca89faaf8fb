//! The provisioning crate's integration tests: schema JSON as Graph and its clients write it, and scoping filters
//! operator by operator.

// A failed expectation in a test is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod schema_json;
mod scoping;
