//! The worker against real parts. Notification email: `Mailer` sends through a real SMTP server (Python's aiosmtpd,
//! the test kit's `smtp` sink) in plain text, with STARTTLS and with implicit TLS, with and without AUTH, and fails
//! clearly on a wrong password, an untrusted certificate, a refused recipient; raw sockets on 127.0.0.1 stand for
//! relays that refuse connections or never answer.

// A failing test panics; the helpers that do so say why.
#![allow(clippy::panic)]

mod drift;
mod engine;
mod engine_smtp_sink;
mod relays;
mod smtp_sink;
