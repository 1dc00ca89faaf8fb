//! The agent's integration tests, all in-process on 127.0.0.1:0: registration against a test hub, relaying into
//! fake SCIM targets over HTTP and HTTPS, and the session's life (heartbeats, drain, cancel, reconnects, 401).

// A failed expectation in a test is a panic by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lifecycle;
mod registration;
mod relaying;
mod support;
