//! Notification email: the SMTP settings of `serve` (`--smtp-*`), the notifier they make ([`notifier`]: a
//! `Mailer`, or a `NoMailer` without `--smtp-url`), and `idplane mail test`, which sends a test message with the same
//! settings and says what the relay answered.
//!
//! The SMTP password never comes from the command line: `--smtp-password-file` names a file that holds it, or the
//! variable `IDPLANE_SMTP_PASSWORD` holds it.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use idplane_worker::notify::{DEFAULT_FROM, MailConfig, Mailer, NoMailer, Notifier, Password};
use serde_json::json;

/// The variable that may hold the SMTP password itself (read directly, not through a flag).
pub const PASSWORD_VARIABLE: &str = "IDPLANE_SMTP_PASSWORD";

/// The relay of notification emails and how to reach it.
#[derive(Args, Clone, Debug)]
pub struct SmtpArgs {
    /// The SMTP relay of notification emails: smtp://host[:port] (STARTTLS required, port 587 by default;
    /// ?tls=opportunistic or ?tls=none to relax it) or smtps://host[:port] (implicit TLS, port 465). Without it no
    /// notification email is sent.
    #[arg(long, env = "IDPLANE_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The From mailbox of notification emails; a relay that checks senders wants an address of its domain.
    #[arg(long, env = "IDPLANE_SMTP_FROM", default_value = DEFAULT_FROM)]
    pub smtp_from: String,
    /// Log in to the relay (SMTP AUTH) as this user, with the password of --smtp-password-file or
    /// IDPLANE_SMTP_PASSWORD. Only over TLS, unless the relay is on this machine.
    #[arg(long, env = "IDPLANE_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// A file that holds the SMTP password (one final line break is ignored).
    #[arg(long, env = "IDPLANE_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for the relay, besides the system's (a private CA, or a self-signed
    /// relay's own certificate).
    #[arg(long, env = "IDPLANE_SMTP_CA_BUNDLE")]
    pub smtp_ca_bundle: Option<PathBuf>,
    /// Longest a notification email may take to send, from connecting to the relay's last answer.
    #[arg(long, env = "IDPLANE_SMTP_TIMEOUT_SECONDS", default_value_t = 30)]
    pub smtp_timeout_seconds: u64,
}

impl SmtpArgs {
    /// The mail configuration, or `None` when no relay is configured.
    pub fn config(&self) -> Result<Option<MailConfig>> {
        let from_variable = std::env::var(PASSWORD_VARIABLE).ok().filter(|p| !p.is_empty());
        let Some(url) = self.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            if self.smtp_username.is_some() || self.smtp_password_file.is_some() || self.smtp_ca_bundle.is_some() {
                bail!(
                    "--smtp-username, --smtp-password-file and --smtp-ca-bundle are settings of the SMTP relay: give \
                     it with --smtp-url (or IDPLANE_SMTP_URL)"
                );
            }
            return Ok(None);
        };
        let password = match (&self.smtp_password_file, from_variable) {
            (Some(_), Some(_)) => {
                bail!("the SMTP password is given twice: use --smtp-password-file or {PASSWORD_VARIABLE}, not both")
            }
            (Some(file), None) => Some(Password::from_file(file)?),
            (None, Some(password)) => Some(Password::new(password)),
            (None, None) => None,
        };
        Ok(Some(MailConfig {
            url: url.to_string(),
            from: self.smtp_from.clone(),
            username: self.smtp_username.clone(),
            password,
            ca_bundle: self.smtp_ca_bundle.clone(),
            timeout: Duration::from_secs(self.smtp_timeout_seconds.clamp(1, 3600)),
        }))
    }
}

/// The notifier the provisioning worker sends notices through: a [`Mailer`] for the configured relay, or
/// [`NoMailer`] without one. A configuration that cannot work (a bad URL, an unreadable CA bundle or password file)
/// is an error here, so that `serve` stops at start rather than at the first notice.
pub fn notifier(args: &SmtpArgs) -> Result<Arc<dyn Notifier>> {
    match args.config()? {
        Some(config) => {
            let mailer = Mailer::new(&config)?;
            tracing::info!(relay = %mailer.relay().describe(), from = %config.from, "notification email");
            Ok(Arc::new(mailer))
        }
        None => {
            tracing::info!("notification email is off: no SMTP relay (--smtp-url)");
            Ok(Arc::new(NoMailer))
        }
    }
}

#[derive(Subcommand)]
pub enum MailCommand {
    /// Send a test message through the SMTP relay, with the settings `serve` takes, and report what the relay
    /// answered (the exit status is not 0 when the message was not sent).
    Test {
        /// The address to send the test message to.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        smtp: SmtpArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `mail` command; a failure is printed as one line on standard error (what was not done, then the relay's
/// answer and what to fix) and ends the process with status 1.
pub async fn run(command: MailCommand) -> Result<()> {
    let result = match command {
        MailCommand::Test { to, smtp, json } => test(&to, &smtp, json).await,
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn test(to: &str, smtp: &SmtpArgs, json: bool) -> Result<()> {
    let Some(config) = smtp.config()? else {
        bail!("idplane mail test needs the SMTP relay: --smtp-url (or IDPLANE_SMTP_URL)");
    };
    let mailer = Mailer::new(&config)?;
    let relay = mailer.relay().describe();
    mailer.send_test(to).await.with_context(|| format!("no test message was sent to {to}"))?;
    let line = if json {
        json!({"sent": true, "to": to, "relay": relay, "from": config.from}).to_string()
    } else {
        format!("sent a test message to {to} through the SMTP relay {relay}")
    };
    // Sent is sent: a closed stdout does not make it a failure.
    let _ = writeln!(std::io::stdout(), "{line}");
    Ok(())
}
