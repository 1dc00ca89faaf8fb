//! [`Mailer`]: notices by email through an SMTP relay, with lettre's SMTP transport on tokio and rustls.
//!
//! One message per notice, to all its recipients at once, so that the relay takes it for every recipient or for
//! none: a failed send can be repeated without a second copy to anyone. Every send is bounded by the configured
//! timeout as a whole (lettre bounds only the connection), and a failure is classified into a [`NotifyError`] that
//! says what to fix: the TLS reason from rustls' error, the relay's reply code and text, the operating system's
//! connection error.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::notify::config::{MailConfig, Relay, Security};
use crate::notify::{Notice, Notifier, NotifyError};

/// Sends notices through the configured relay. Make one at start and share it; it holds no connection between
/// sends (a notice is rare, and relays close idle connections).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    relay: Relay,
    from: Mailbox,
    username: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("relay", &self.relay.describe())
            .field("from", &self.from.to_string())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks the configuration and prepares the transport (the system's roots and the CA bundle are read now);
    /// nothing is sent.
    pub fn new(config: &MailConfig) -> Result<Mailer, NotifyError> {
        let relay = Relay::parse(&config.url)?;
        let from: Mailbox = config.from.trim().parse().map_err(|e| {
            NotifyError::Config(format!(
                "the From mailbox '{}' is not valid ({e}): write an address (noreply@example.com) or a name and an \
                 address (idplane <noreply@example.com>)",
                config.from
            ))
        })?;
        if config.timeout.is_zero() {
            return Err(NotifyError::Config("the SMTP timeout must be at least one second".into()));
        }
        let username = config.username.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let credentials = match (username, &config.password) {
            (None, None) => None,
            (Some(user), Some(password)) => {
                if !relay.security.always_encrypted() && !relay.is_loopback() {
                    return Err(NotifyError::Config(format!(
                        "the SMTP password would cross the network in plain text to {relay}: with a username, use \
                         smtps:// or smtp:// with STARTTLS required (the default, no ?tls=), or a relay on this \
                         machine"
                    )));
                }
                Some(Credentials::new(user.to_string(), password.expose().to_string()))
            }
            (None, Some(_)) => {
                return Err(NotifyError::Config("an SMTP password needs a username (--smtp-username)".into()));
            }
            (Some(_), None) => {
                return Err(NotifyError::Config(
                    "an SMTP username needs a password: --smtp-password-file, or IDPLANE_SMTP_PASSWORD".into(),
                ));
            }
        };
        let tls = match relay.security {
            Security::None if config.ca_bundle.is_some() => {
                return Err(NotifyError::Config(
                    "a CA bundle is for TLS, and the SMTP relay URL asks for none (?tls=none)".into(),
                ));
            }
            Security::None => Tls::None,
            Security::Opportunistic => Tls::Opportunistic(tls_parameters(&relay, config)?),
            Security::StartTls => Tls::Required(tls_parameters(&relay, config)?),
            Security::Implicit => Tls::Wrapper(tls_parameters(&relay, config)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay.host.as_str())
            .port(relay.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials).authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(Mailer {
            transport: builder.build(),
            relay,
            from,
            username: username.map(str::to_string),
            timeout: config.timeout,
        })
    }

    /// The relay and how it is reached (`smtp.example.com:587 (STARTTLS)`), for the log.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Sends a test message to `to`: proof that the relay, TLS, the login and the From address work.
    pub async fn send_test(&self, to: &str) -> Result<(), NotifyError> {
        let subject = "[idplane] Test message from idplane's provisioning service";
        let body = format!(
            "This is a test message from idplane's provisioning service.\n\n\
             It went through the SMTP relay {} with the From address {}.\n\
             Provisioning jobs send their notifications (quarantine, failed cycles) the same way, to the addresses \
             in their notification email settings.\n",
            self.relay.describe(),
            self.from
        );
        self.send(subject, body, &[to.to_string()]).await
    }

    async fn send(&self, subject: &str, body: String, recipients: &[String]) -> Result<(), NotifyError> {
        if recipients.is_empty() {
            return Err(NotifyError::NoRecipients);
        }
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .header(AutoSubmitted)
            .message_id(None);
        for recipient in recipients {
            let mailbox: Mailbox = recipient.trim().parse().map_err(|e: lettre::address::AddressError| {
                NotifyError::Address { address: recipient.clone(), reason: e.to_string() }
            })?;
            message = message.to(mailbox);
        }
        let message =
            message.body(body).map_err(|e| NotifyError::Config(format!("the message could not be built: {e}")))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(NotifyError::Timeout { relay: self.relay.to_string(), after: self.timeout }),
            Ok(Err(e)) => Err(self.classify(&e)),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// What a failed send comes down to, from lettre's error and its sources.
    fn classify(&self, error: &lettre::transport::smtp::Error) -> NotifyError {
        let relay = self.relay.to_string();
        let chain = chain(error);
        if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
            return NotifyError::Tls { relay, reason: tls_reason(tls, &self.relay) };
        }
        if let Some(code) = error.status() {
            let code: u16 = code.to_string().parse().unwrap_or(0);
            let reply = error.source().map(|s| s.to_string()).unwrap_or_default();
            // 530: authentication required, 534/538: a stronger mechanism or encryption required, 535: invalid
            // credentials, 454: a temporary authentication failure (RFC 4954).
            if matches!(code, 454 | 530 | 534 | 535 | 538) {
                let fix = match &self.username {
                    Some(_) => "check --smtp-username and the password (--smtp-password-file or IDPLANE_SMTP_PASSWORD)",
                    None => "set --smtp-username and a password (--smtp-password-file or IDPLANE_SMTP_PASSWORD)",
                };
                return NotifyError::Auth {
                    relay,
                    username: self.username.clone(),
                    reply: format!("{code} {reply}: {fix}"),
                };
            }
            return NotifyError::Rejected { relay, code, reply };
        }
        let text = chain_text(error);
        if text.contains("STARTTLS is not supported") {
            return NotifyError::Tls {
                relay,
                reason: "the relay does not offer STARTTLS, which the relay URL requires (smtp:// without ?tls=). \
                         Use the relay's TLS port (smtps://host:465, or its STARTTLS port, often 587); only for a \
                         relay on a network you trust, ?tls=opportunistic or ?tls=none"
                    .into(),
            };
        }
        if text.contains("No compatible authentication mechanism") {
            return NotifyError::Auth {
                relay,
                username: self.username.clone(),
                reply: "the relay offers no login mechanism idplane uses (PLAIN or LOGIN); many relays offer them \
                        only over TLS"
                    .into(),
            };
        }
        let io_kind = chain.iter().find_map(|e| e.downcast_ref::<io::Error>()).map(io::Error::kind);
        match io_kind {
            Some(io::ErrorKind::ConnectionRefused) => NotifyError::Connect {
                relay,
                reason: "connection refused (nothing accepts connections there): check the relay URL's host and port"
                    .into(),
            },
            Some(io::ErrorKind::TimedOut) => NotifyError::Timeout { relay, after: self.timeout },
            Some(io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable) => {
                NotifyError::Connect { relay, reason: format!("host or network unreachable ({text})") }
            }
            _ if text.contains("lookup") || text.contains("resolve") => NotifyError::Connect {
                relay,
                reason: format!("the host name does not resolve ({text}): check the relay URL's host"),
            },
            _ if self.relay.security == Security::Implicit && io_kind == Some(io::ErrorKind::UnexpectedEof) => {
                NotifyError::Tls {
                    relay,
                    reason: format!("the relay closed the connection in the handshake: {}", NOT_TLS),
                }
            }
            _ => NotifyError::Protocol { relay, reason: text },
        }
    }
}

#[async_trait]
impl Notifier for Mailer {
    async fn notify(&self, notice: &Notice, recipients: &[String]) -> Result<(), NotifyError> {
        let (subject, body) = notice.render();
        let sent = self.send(&subject, body, recipients).await;
        match &sent {
            Ok(()) => tracing::info!(
                tenant = %notice.tenant_id,
                job = %notice.job_id,
                reason = %notice.reason_key(),
                recipients = recipients.len(),
                relay = %self.relay,
                "notification email sent"
            ),
            Err(e) => tracing::warn!(
                tenant = %notice.tenant_id,
                job = %notice.job_id,
                reason = %notice.reason_key(),
                error = %e,
                "notification email not sent"
            ),
        }
        sent
    }
}

/// The TLS parameters for the relay: its name to verify, the system's roots and the configured CA bundle.
fn tls_parameters(relay: &Relay, config: &MailConfig) -> Result<TlsParameters, NotifyError> {
    let mut builder = TlsParameters::builder(relay.host.clone());
    if let Some(path) = &config.ca_bundle {
        let pem = std::fs::read(path)
            .map_err(|e| NotifyError::Config(format!("cannot read the SMTP CA bundle {}: {e}", path.display())))?;
        let count = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| NotifyError::Config(format!("the SMTP CA bundle {} is not valid PEM ({e})", path.display())))?
            .len();
        if count == 0 {
            return Err(NotifyError::Config(format!(
                "the SMTP CA bundle {} holds no certificate: it must hold PEM blocks that begin with \
                 -----BEGIN CERTIFICATE-----",
                path.display()
            )));
        }
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| NotifyError::Config(format!("the SMTP CA bundle {}: {e}", path.display())))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|e| NotifyError::Config(format!("TLS for the SMTP relay: {}", chain_text(&e))))
}

const NOT_TLS: &str = "the relay did not answer in TLS: smtps:// is for a port with TLS from the first byte (465); \
                       for a port that starts in plain text (25, 587) write smtp:// (STARTTLS)";

fn tls_reason(error: &rustls::Error, relay: &Relay) -> String {
    use rustls::{CertificateError as C, Error as E};
    match error {
        E::InvalidCertificate(C::UnknownIssuer) => "the relay's certificate is not issued by a trusted certificate \
             authority (unknown issuer): give the relay a certificate from a public CA, or trust its CA (or a \
             self-signed relay's own certificate) with --smtp-ca-bundle"
            .into(),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
            "the relay's certificate does not name {}: use in the relay URL a host name the certificate names",
            relay.host
        ),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the relay's certificate has expired: renew it on the relay".into()
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the relay's certificate is not valid yet: check the clocks of this server and of the relay".into()
        }
        E::InvalidCertificate(other) => format!("the relay's certificate is invalid ({other:?})"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::PeerSentOversizedRecord => NOT_TLS.into(),
        E::AlertReceived(alert) => format!(
            "the relay ended the handshake with the alert {alert:?}: it may want a TLS version or cipher suite \
             that idplane does not offer (TLS 1.2 and 1.3)"
        ),
        other => other.to_string(),
    }
}

/// The Auto-Submitted header of RFC 3834: the message is automatic, so that auto-responders do not answer it.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn StdError + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// The error and its sources, outermost first, looking inside `io::Error`s: tokio-rustls wraps rustls' error in
/// one, which reports the wrapped error's source as its own.
fn chain<'a>(top: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let inner = |e: &'a (dyn StdError + 'static)| -> Option<&'a (dyn StdError + 'static)> {
        match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn StdError + 'static)),
            None => e.source(),
        }
    };
    std::iter::successors(Some(top), |e| inner(*e)).take(32).collect()
}

/// The messages of an error and its sources, less those a layer above already includes.
fn chain_text(error: &(dyn StdError + 'static)) -> String {
    chain(error).iter().map(|e| e.to_string()).fold(String::new(), |text, next| {
        if text.contains(&next) {
            text
        } else if text.is_empty() {
            next
        } else {
            format!("{text}: {next}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Password;

    fn config(url: &str) -> MailConfig {
        MailConfig::new(url)
    }

    fn refused(config: &MailConfig) -> String {
        Mailer::new(config).err().map(|e| e.to_string()).unwrap_or_else(|| "accepted".into())
    }

    #[test]
    fn configurations_that_cannot_work_are_refused_with_what_to_fix() -> Result<(), Box<dyn StdError>> {
        let mut c = config("smtp://mail.example.com");
        c.from = "not a mailbox".into();
        assert!(refused(&c).contains("idplane <noreply@example.com>"), "{}", refused(&c));

        let mut c = config("smtp://mail.example.com");
        c.username = Some("idplane".into());
        assert!(refused(&c).contains("needs a password"), "{}", refused(&c));
        c.username = None;
        c.password = Some(Password::new("hunter2"));
        assert!(refused(&c).contains("needs a username"), "{}", refused(&c));

        for url in ["smtp://mail.example.com?tls=none", "smtp://mail.example.com?tls=opportunistic"] {
            let mut c = config(url);
            c.username = Some("idplane".into());
            c.password = Some(Password::new("hunter2"));
            let e = refused(&c);
            assert!(e.contains("plain text") && !e.contains("hunter2"), "{url}: {e}");
        }
        let mut c = config("smtp://127.0.0.1:2525?tls=none");
        c.username = Some("idplane".into());
        c.password = Some(Password::new("hunter2"));
        assert!(Mailer::new(&c).is_ok(), "a relay on this machine may take a password in plain text");

        let dir = tempfile::tempdir()?;
        let mut c = config("smtp://mail.example.com?tls=none");
        c.ca_bundle = Some(dir.path().join("ca.pem"));
        assert!(refused(&c).contains("asks for none"), "{}", refused(&c));
        let mut c = config("smtps://mail.example.com");
        c.ca_bundle = Some(dir.path().join("missing.pem"));
        assert!(refused(&c).contains("cannot read the SMTP CA bundle"), "{}", refused(&c));
        std::fs::write(dir.path().join("empty.pem"), "nothing here")?;
        c.ca_bundle = Some(dir.path().join("empty.pem"));
        assert!(refused(&c).contains("holds no certificate"), "{}", refused(&c));

        let mut c = config("smtp://mail.example.com");
        c.timeout = Duration::ZERO;
        assert!(refused(&c).contains("at least one second"), "{}", refused(&c));
        Ok(())
    }

    #[test]
    fn a_mailer_shows_no_password() -> Result<(), NotifyError> {
        let mut c = config("smtps://mail.example.com");
        c.username = Some("idplane".into());
        c.password = Some(Password::new("hunter2"));
        let mailer = Mailer::new(&c)?;
        let shown = format!("{mailer:?}");
        assert!(shown.contains("mail.example.com:465 (implicit TLS)") && !shown.contains("hunter2"), "{shown}");
        Ok(())
    }

    #[tokio::test]
    async fn bad_recipients_are_refused_before_connecting() -> Result<(), NotifyError> {
        // Checked before anything is sent: nothing needs to listen there.
        let mailer = Mailer::new(&config("smtp://127.0.0.1:9?tls=none"))?;
        match mailer.send_test("not an address").await {
            Err(NotifyError::Address { address, .. }) => assert_eq!(address, "not an address"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(mailer.send("s", String::new(), &[]).await, Err(NotifyError::NoRecipients)));
        Ok(())
    }

    #[test]
    fn tls_reasons_say_what_to_fix() {
        use rustls::{CertificateError as C, Error as E};
        let relay = Relay::parse("smtps://mail.example.com").unwrap_or_else(|e| panic!("{e}"));
        let reason = |e: E| tls_reason(&e, &relay);
        assert!(reason(E::InvalidCertificate(C::UnknownIssuer)).contains("--smtp-ca-bundle"));
        assert!(reason(E::InvalidCertificate(C::NotValidForName)).contains("does not name mail.example.com"));
        assert!(reason(E::InvalidCertificate(C::Expired)).contains("expired"));
        assert!(reason(E::PeerSentOversizedRecord).contains("write smtp:// (STARTTLS)"));
    }
}
