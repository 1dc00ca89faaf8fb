//! idplane's one test kit (a dev-dependency of every crate's tests, never of the product).
//!
//! - [`App`]: a real idplane (the server's router and state) on a fresh store, SQLite in a temporary directory or a
//!   throwaway PostgreSQL database ([`Backend`]), bootstrapped with [`TOKEN`]. Drive it in-process ([`App::send`]
//!   and friends, through `tower::ServiceExt::oneshot`) or over real HTTP on `127.0.0.1:0` ([`App::listen`]). It
//!   hands out tokens ([`App::token_for`]) and reads the time from a [`ManualClock`] that tests move forward instead of
//!   waiting.
//! - [`postgres`]: throwaway databases on the server `IDPLANE_TEST_DATABASE_URL` names. A test that needs one is a
//!   PostgreSQL test: its name contains `postgres`, it is `#[ignore]`d so that a run without PostgreSQL reports it
//!   skipped, and `scripts/test` runs it with `--run-ignored` when it has a server (and fails, in CI, when it has none).
//! - [`binary`]: the real `idplane` binary, for end-to-end tests of the command line.
//! - [`smtp`]: a real SMTP server (Python's aiosmtpd) on `127.0.0.1:0`, for the notification email. A test that
//!   uses it has `smtp_sink` in its name and is `#[ignore]`d, like a PostgreSQL test; `scripts/test` runs those with
//!   a Python it installed.
//! - [`logs`]: provisioning log records, for the tests that read them back (no engine writes them there).
//! - [`proxy`]: a fault-injecting HTTP proxy in front of a real server (errors, 429, hangs, resets, latency), with
//!   the log of what reached the server.

pub mod app;
pub mod binary;
pub mod clock;
pub mod logs;
pub mod postgres;
pub mod proxy;
pub mod smtp;

pub use app::{App, Backend, Reply, TOKEN, WS, assert_scim_error};
pub use clock::ManualClock;
