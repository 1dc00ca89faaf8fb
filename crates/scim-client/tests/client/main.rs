//! The SCIM client against real parts: a real idplane identity service over HTTP and HTTPS (the test kit's app),
//! and real sockets on 127.0.0.1 that misbehave in the ways targets do (refuse, stay silent, redirect, send
//! garbage). Nothing fakes the transport's network side.

// A failing test panics; the helpers that do so say why.
#![allow(clippy::panic)]

mod identity;
mod network;
mod support;
mod tls;
