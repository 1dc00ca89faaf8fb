//! idplane's on-premises provisioning agent, as a library that the `idplane` binary mounts as `idplane agent ...`.
//!
//! The agent runs inside a private network, connects out to the provisioning service (one WebSocket over TLS, the
//! protocol of `idplane-agent-protocol`), and performs the service's SCIM requests against tenant URLs that only
//! its network reaches. It shares nothing with the server's crates but that protocol crate, and keeps two files:
//! its config file and its credential file (docs/agent.md).
//!
//! - [`config`]: the config file, the credential file (mode 0600), fingerprints, the service URL rule.
//! - [`commands`]: `register`, `rotate`, `status`.
//! - [`run`]: `run`: sessions forever, back-off, shutdown.
//! - `session`: one session: handshake, multiplexing, heartbeats, cancel, drain.
//! - `relay`: one request against a tenant URL, its failure classified.
//! - `targets`: which URLs may be relayed to.
//! - `service`: the HTTP(S) leg to the service (register, rotate, the WebSocket upgrade), `tls` the trust.
//! - [`cli`]: the clap subcommands.

pub mod cli;
pub mod commands;
pub mod config;
mod error;
mod relay;
pub mod run;
mod service;
mod session;
mod targets;
mod tls;

pub use error::Error;
pub use tls::fingerprint;
