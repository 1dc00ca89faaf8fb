//! Notification email, as Entra sends it: when a provisioning job enters quarantine (or its quarantine reason
//! changes) and when a cycle ends with failures, an email to the recipients of the application's
//! `SyncNotificationSettings`, saying which application, what failed, how many objects, the first errors, what to do
//! and where to look.
//!
//! This module owns the notice and its rendering ([`Notice`], pure), the key that makes a notice "once per reason"
//! ([`Notice::reason_key`]: the engine keeps the last key sent per job and sends again only when it changes), and
//! the transport ([`Notifier`]): [`Mailer`] through an SMTP relay (lettre over tokio and rustls), or [`NoMailer`]
//! when no relay is configured. Deciding *when* to send, and remembering what was sent, is the engine's.
//!
//! - [`config`]: the relay URL (`smtp://` with STARTTLS required by default, `?tls=opportunistic|none`, `smtps://`),
//!   the From mailbox, optional AUTH, a CA bundle, the time bound of a send.
//! - [`notice`]: [`Notice`], [`NoticeKind`], [`FailedObject`], the subject and plain-text body.
//! - [`advice`]: what to do, per quarantine reason and per provisioning error code.
//! - [`mailer`]: [`Mailer`], and how a relay's failure becomes a [`NotifyError`] that says what to fix.

pub mod advice;
pub mod config;
pub mod error;
pub mod mailer;
pub mod notice;

use async_trait::async_trait;

pub use config::{DEFAULT_FROM, DEFAULT_TIMEOUT, MailConfig, Password, Relay, Security};
pub use error::NotifyError;
pub use mailer::Mailer;
pub use notice::{FailedObject, Notice, NoticeKind, logs_url};

/// Sends notices. The engine holds one (`Arc<dyn Notifier>`) for the whole process.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends `notice` to `recipients` (the addresses of `SyncNotificationSettings.Recipients`). `Ok` means the relay
    /// accepted the message for every recipient; an error means it accepted it for none, so the engine may try again
    /// without sending anyone a second copy.
    async fn notify(&self, notice: &Notice, recipients: &[String]) -> Result<(), NotifyError>;
}

/// The notifier when no SMTP relay is configured: it logs that a notice was not sent, and succeeds, so that the
/// engine's bookkeeping goes on as if it had been (a relay configured later does not send old notices).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMailer;

#[async_trait]
impl Notifier for NoMailer {
    async fn notify(&self, notice: &Notice, recipients: &[String]) -> Result<(), NotifyError> {
        if !recipients.is_empty() {
            tracing::warn!(
                tenant = %notice.tenant_id,
                job = %notice.job_id,
                reason = %notice.reason_key(),
                recipients = recipients.len(),
                "notification email not sent: no SMTP relay is configured (--smtp-url)"
            );
        }
        Ok(())
    }
}
