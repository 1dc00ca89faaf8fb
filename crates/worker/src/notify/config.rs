//! The mail configuration: which relay (a URL), how to reach it (TLS mode, CA bundle, AUTH), who the mail is from,
//! and how long a send may take.
//!
//! Relay URLs:
//!
//! | URL | connection | default port |
//! |---|---|---|
//! | `smtp://host[:port]` | plain, then STARTTLS, required: a relay that does not offer it is an error | 587 |
//! | `smtp://host[:port]?tls=required` (or `?tls=starttls`) | the same, said explicitly | 587 |
//! | `smtp://host[:port]?tls=opportunistic` | STARTTLS when the relay offers it, else plain | 587 |
//! | `smtp://host[:port]?tls=none` | plain text only | 25 |
//! | `smtps://host[:port]` | TLS from the first byte (implicit TLS) | 465 |
//!
//! STARTTLS is required by default (lettre's own URLs default to plain text): a notice names the application and
//! its errors, and an attacker between idplane and the relay could strip an optional STARTTLS. Certificates are
//! always verified, against the system's roots and the optional CA bundle. A username and password go only over TLS
//! (`smtps://`, or STARTTLS required), unless the relay is on this machine (`localhost`, `127.0.0.0/8`, `::1`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::notify::NotifyError;

/// The From mailbox when none is configured. Entra's mail comes from a no-reply address of Microsoft's; a relay
/// that checks senders wants one of its own domain (`--smtp-from`).
pub const DEFAULT_FROM: &str = "idplane provisioning <noreply@localhost>";

/// The longest a send may take (connecting, TLS, AUTH and the whole message), when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text throughout (`?tls=none`).
    None,
    /// STARTTLS when the relay offers it, plain text otherwise (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS, or no mail (`smtp://`, the default).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

impl Security {
    /// Whether a password sent on such a connection is encrypted for certain.
    pub fn always_encrypted(self) -> bool {
        matches!(self, Security::StartTls | Security::Implicit)
    }

    fn describe(self) -> &'static str {
        match self {
            Security::None => "plain text",
            Security::Opportunistic => "STARTTLS if offered",
            Security::StartTls => "STARTTLS",
            Security::Implicit => "implicit TLS",
        }
    }
}

/// A relay, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// A DNS name or an IP address (IPv6 without brackets); the name the certificate must hold.
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl Relay {
    /// Reads a relay URL (see the module documentation).
    pub fn parse(input: &str) -> Result<Relay, NotifyError> {
        let bad = |why: &str| {
            NotifyError::Config(format!(
                "the SMTP relay URL '{input}' {why}: write smtp://host[:port] (STARTTLS), \
                 smtp://host[:port]?tls=opportunistic|none, or smtps://host[:port] (implicit TLS)"
            ))
        };
        let url = url::Url::parse(input.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo the URL here: it holds a password.
            return Err(NotifyError::Config(
                "the SMTP relay URL holds credentials: give the username with --smtp-username and the password in \
                 the file of --smtp-password-file (or IDPLANE_SMTP_PASSWORD), so that it is never on a command line"
                    .into(),
            ));
        }
        let host = match url.host() {
            // smtp: is not a special scheme to the URL standard: its host comes as written (an IPv4 address too).
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("names no host")),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(bad("has a path or a fragment, which SMTP has no use for"));
        }
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" if tls.is_none() => tls = Some(value.to_ascii_lowercase()),
                "tls" => return Err(bad("gives tls twice")),
                other => return Err(bad(&format!("has the parameter '{other}'; the only one is tls"))),
            }
        }
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtps", None) => Security::Implicit,
            ("smtps", Some(_)) => return Err(bad("is smtps:// (TLS from the first byte) and also gives ?tls=")),
            ("smtp", None | Some("required" | "starttls")) => Security::StartTls,
            ("smtp", Some("opportunistic")) => Security::Opportunistic,
            ("smtp", Some("none")) => Security::None,
            ("smtp", Some(other)) => {
                return Err(bad(&format!("has tls={other}; tls is required (or starttls), opportunistic or none")));
            }
            (scheme, _) => return Err(bad(&format!("has the scheme {scheme}:"))),
        };
        let port = url.port().unwrap_or(match security {
            Security::Implicit => 465,
            Security::StartTls | Security::Opportunistic => 587,
            Security::None => 25,
        });
        Ok(Relay { host, port, security })
    }

    /// Whether the relay is on this machine, where a password in plain text crosses no network.
    pub fn is_loopback(&self) -> bool {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => {
                let host = self.host.trim_end_matches('.').to_ascii_lowercase();
                host == "localhost" || host.ends_with(".localhost")
            }
        }
    }

    /// The relay and how it is reached, for logs and messages: `smtp.example.com:587 (STARTTLS)`.
    pub fn describe(&self) -> String {
        format!("{self} ({})", self.security.describe())
    }
}

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The SMTP password. Never printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    /// Reads the password from a file: its whole content, less one final line break (as `echo` writes it).
    pub fn from_file(path: &Path) -> Result<Password, NotifyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NotifyError::Config(format!("cannot read the SMTP password file {}: {e}", path.display())))?;
        let password = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
        if password.is_empty() {
            return Err(NotifyError::Config(format!("the SMTP password file {} is empty", path.display())));
        }
        Ok(Password(password.to_string()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// Everything [`crate::notify::Mailer`] needs. `Debug` does not show the password.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// The relay URL (see the module documentation).
    pub url: String,
    /// The From mailbox: `noreply@example.com` or `idplane <noreply@example.com>`.
    pub from: String,
    /// Log in (SMTP AUTH, PLAIN or LOGIN) with this username and [`MailConfig::password`].
    pub username: Option<String>,
    pub password: Option<Password>,
    /// A PEM file of CA certificates to trust besides the system's (a private CA, or a self-signed relay's own
    /// certificate).
    pub ca_bundle: Option<PathBuf>,
    /// The longest a send may take, from connecting to the relay's last reply.
    pub timeout: Duration,
}

impl MailConfig {
    /// A configuration for the relay at `url`, with the default From mailbox and timeout, no AUTH, the system's
    /// roots only.
    pub fn new(url: impl Into<String>) -> MailConfig {
        MailConfig {
            url: url.into(),
            from: DEFAULT_FROM.to_string(),
            username: None,
            password: None,
            ca_bundle: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(url: &str) -> Relay {
        Relay::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn relay_urls_and_their_defaults() {
        let cases = [
            ("smtp://mail.example.com", "mail.example.com", 587, Security::StartTls),
            ("smtp://mail.example.com:25", "mail.example.com", 25, Security::StartTls),
            ("smtp://mail.example.com?tls=starttls", "mail.example.com", 587, Security::StartTls),
            ("SMTP://Mail.Example.com/?tls=Required", "mail.example.com", 587, Security::StartTls),
            ("smtp://mail.example.com?tls=opportunistic", "mail.example.com", 587, Security::Opportunistic),
            ("smtp://127.0.0.1:2525?tls=none", "127.0.0.1", 2525, Security::None),
            ("smtp://localhost?tls=none", "localhost", 25, Security::None),
            ("smtps://mail.example.com", "mail.example.com", 465, Security::Implicit),
            ("smtps://[::1]:4650", "::1", 4650, Security::Implicit),
        ];
        for (url, host, port, security) in cases {
            assert_eq!(relay(url), Relay { host: host.into(), port, security }, "{url}");
        }
        assert_eq!(relay("smtps://[::1]:4650").to_string(), "[::1]:4650");
        assert_eq!(relay("smtp://mail.example.com").describe(), "mail.example.com:587 (STARTTLS)");
    }

    #[test]
    fn bad_relay_urls_say_what_to_write() {
        for (url, says) in [
            ("mail.example.com", "is not a URL"),
            ("http://mail.example.com", "has the scheme http:"),
            ("smtp://mail.example.com?tls=maybe", "has tls=maybe"),
            ("smtp://mail.example.com?tls=none&tls=required", "gives tls twice"),
            ("smtp://mail.example.com?helo=x", "the only one is tls"),
            ("smtps://mail.example.com?tls=none", "also gives ?tls="),
            ("smtp://mail.example.com/inbox", "has a path"),
            ("smtp://", "names no host"),
        ] {
            let e = Relay::parse(url).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(says) && e.contains("smtps://host[:port]"), "{url}: {e}");
        }
        let e = Relay::parse("smtp://user:hunter2@mail.example.com").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("--smtp-password-file") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn loopback_relays() {
        for (url, loopback) in [
            ("smtp://127.0.0.1", true),
            ("smtp://127.1.2.3", true),
            ("smtp://[::1]", true),
            ("smtp://localhost", true),
            ("smtp://LOCALHOST.", true),
            ("smtp://relay.localhost", true),
            ("smtp://10.0.0.1", false),
            ("smtp://localhost.example.com", false),
        ] {
            assert_eq!(relay(url).is_loopback(), loopback, "{url}");
        }
    }

    #[test]
    fn passwords_are_read_from_files_and_never_shown() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("pw");
        for (content, password) in [("s3cret\n", "s3cret"), ("s3cret\r\n", "s3cret"), (" s3cret \n\n", " s3cret \n")] {
            std::fs::write(&file, content)?;
            assert_eq!(Password::from_file(&file)?.expose(), password, "{content:?}");
        }
        std::fs::write(&file, "\n")?;
        assert!(Password::from_file(&file).is_err_and(|e| e.to_string().contains("is empty")));
        let missing = Password::from_file(&dir.path().join("nope")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.contains("cannot read the SMTP password file"), "{missing}");
        let mut config = MailConfig::new("smtp://x");
        config.password = Some(Password::new("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
        Ok(())
    }
}
