//! The protocol crate's integration tests: the frames' wire shapes, compatibility with newer peers, limits, and
//! round trips over generated frames.

// A failed expectation in a test is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod properties;
mod shapes;
