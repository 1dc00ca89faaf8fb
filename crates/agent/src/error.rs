//! The agent's one error type. Each message says what went wrong and what the operator can do about it; none holds
//! a credential.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file, a flag, or a file it names is unusable.
    #[error("{0}")]
    Config(String),
    // The I/O error is in the message, not a `source`: one line says it all, without a repeated "Caused by".
    #[error("{what} {path}: {error}")]
    File { what: &'static str, path: PathBuf, error: std::io::Error },
    /// The registration token was refused (unknown, used or expired: the service does not say which).
    #[error(
        "the service refused the registration token (unknown, already used, or expired): an admin creates a \
         new one on the service (docs/agent.md, \"Register\") and you register again with it{}",
        detail(.0)
    )]
    InvalidRegistrationToken(String),
    /// The agent's credential was refused: revoked, rotated elsewhere, or the agent removed.
    #[error("credential revoked or unknown: re-register the agent (`idplane agent register --token ...`){}", detail(.0))]
    Unauthorized(String),
    /// The service answered, but not as the contract says.
    #[error("the service answered {status} to {call}: {message}")]
    Service { call: &'static str, status: u16, message: String },
    /// The service could not be reached or the exchange broke.
    #[error("could not reach the service for {call}: {reason}")]
    Unreachable { call: &'static str, reason: String },
    /// The session broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}

fn detail(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!(" (the service said: {text})") }
}
