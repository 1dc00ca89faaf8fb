//! The expression crate's integration tests: Microsoft's documented examples for every function, the parser and
//! printer, Graph's `attributeMappingSource` trees and function list, validation, and properties over generated
//! expressions.

// A failed expectation in a test is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod catalogue;
mod functions;
mod parse;
mod properties;
mod tree;
mod validate;
