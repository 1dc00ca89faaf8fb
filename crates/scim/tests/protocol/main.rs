//! The protocol crate's integration tests: the filter and PATCH path languages against RFC 7644's examples, the
//! requests Entra and Databricks clients send, and properties over generated input.

// A failed expectation in a test is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod filter_eval;
mod filter_parse;
mod patch_path;
mod properties;
