//! The errors of notification email: each says what happened at the relay, or in the configuration, and what to fix.
//! Secrets (the SMTP password) are never part of one.

use std::time::Duration;

/// Why a notice (or a test message) was not sent, or why a mail configuration cannot work.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The mail configuration cannot work; the text says what to change.
    #[error("{0}")]
    Config(String),
    /// An address (a recipient, the From mailbox) is not an email address.
    #[error("'{address}' is not an email address ({reason})")]
    Address { address: String, reason: String },
    /// A notice with nobody to send it to.
    #[error(
        "no recipient: the application's notification email settings (SyncNotificationSettings.Recipients) name no \
         address"
    )]
    NoRecipients,
    /// No connection could be made to the relay (refused, unreachable, a name that does not resolve).
    #[error("could not connect to the SMTP relay {relay}: {reason}")]
    Connect { relay: String, reason: String },
    /// The relay did not complete the exchange in time (it accepted the connection and went silent, or is too slow).
    #[error(
        "the SMTP relay {relay} did not complete the exchange within {} s: check that an SMTP server answers on that \
         host and port, and the firewalls in between (or raise --smtp-timeout-seconds)",
        .after.as_secs_f64()
    )]
    Timeout { relay: String, after: Duration },
    /// The TLS handshake failed (an untrusted or mismatched certificate, a port that does not speak TLS, ...).
    #[error("TLS with the SMTP relay {relay} failed: {reason}")]
    Tls { relay: String, reason: String },
    /// The relay refused the username and password, offers no way to log in, or wants a login that was not
    /// configured (`username` is then `None`).
    #[error("the SMTP relay {relay} {}: {reply}", login(.username.as_deref()))]
    Auth { relay: String, username: Option<String>, reply: String },
    /// The relay answered a command with an error: a recipient or sender it does not accept, a policy, a full
    /// mailbox. `code` is the SMTP reply code (4xx: temporary, 5xx: permanent).
    #[error("the SMTP relay {relay} refused the message: {code} {reply} ({})", rejection_hint(*.code))]
    Rejected { relay: String, code: u16, reply: String },
    /// Anything else in the SMTP exchange (a malformed reply, a closed connection), as lettre reported it.
    #[error("the SMTP exchange with {relay} failed: {reason}")]
    Protocol { relay: String, reason: String },
}

impl NotifyError {
    /// Whether the same send may succeed later without a change of configuration: the relay was unreachable or
    /// slow, or refused for now (4xx).
    pub fn is_transient(&self) -> bool {
        match self {
            NotifyError::Connect { .. } | NotifyError::Timeout { .. } | NotifyError::Protocol { .. } => true,
            NotifyError::Rejected { code, .. } => (400..500).contains(code),
            _ => false,
        }
    }
}

fn login(username: Option<&str>) -> String {
    match username {
        Some(user) => format!("refused the login of '{user}'"),
        None => "wants a login".to_string(),
    }
}

fn rejection_hint(code: u16) -> &'static str {
    if (400..500).contains(&code) {
        "a temporary refusal: the relay may accept it later"
    } else {
        "check the recipients' addresses, and that the relay accepts mail from the --smtp-from address"
    }
}
