//! `Mailer` against a real SMTP server (the test kit's sink: Python's aiosmtpd). These tests are `#[ignore]`d and
//! their names contain `smtp_sink` (this module's name): `scripts/test` runs them with a Python it installed, and a
//! run without one reports them skipped.

use std::time::Duration;

use anyhow::{Context, Result};
use idplane_testkit::smtp::{Received, SinkOptions, SinkTls, SmtpSink};
use idplane_worker::notify::{
    FailedObject, MailConfig, Mailer, Notice, NoticeKind, Notifier, NotifyError, Password, logs_url,
};
use time::macros::datetime;

const USER: &str = "idplane-notify";
const PASSWORD: &str = "correct horse battery staple";

fn notice(kind: NoticeKind) -> Notice {
    Notice {
        tenant_id: "6f1a2b3c-0000-4000-8000-000000000001".into(),
        application: "Azure Databricks SCIM Provisioning Connector".into(),
        service_principal_id: "2d4e6f80-0000-4000-8000-000000000002".into(),
        job_id: "dataBricks.6f1a2b3c.0001".into(),
        at: datetime!(2026-11-22 18:30:00 UTC),
        kind,
        logs_url: Some(logs_url("https://idp.example.com/v1.0", "dataBricks.6f1a2b3c.0001", None)),
    }
}

fn revoked_token() -> Notice {
    notice(NoticeKind::Quarantine {
        reason: "EncounteredQuarantineException".into(),
        error: "The target answered 401 Unauthorized: Invalid SCIM token".into(),
    })
}

fn recipients(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

fn sink(tls: SinkTls, login: bool) -> Result<SmtpSink> {
    SmtpSink::start(&SinkOptions {
        tls,
        login: login.then(|| (USER.to_string(), PASSWORD.to_string())),
        ..SinkOptions::default()
    })
}

/// A mailer for the sink at `url` (`{port}` replaced), trusting the sink's certificate, logging in when `login`.
fn mailer(sink: &SmtpSink, url: &str, login: Option<&str>) -> Result<Mailer> {
    let mut config = MailConfig::new(url.replace("{port}", &sink.port.to_string()));
    config.from = "Provisioning <provisioning@idp.example.com>".into();
    config.ca_bundle = sink.certificate.clone();
    config.timeout = Duration::from_secs(20);
    if let Some(password) = login {
        config.username = Some(USER.into());
        config.password = Some(Password::new(password));
    }
    Ok(Mailer::new(&config)?)
}

fn only(sink: &SmtpSink) -> Result<Received> {
    let mut messages = sink.messages()?;
    assert_eq!(messages.len(), 1, "one message; sink log:\n{}", sink.log());
    messages.pop().context("a message")
}

/// The body with its line breaks and indentation as single spaces: prose reads the same however it wraps.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn plain_text_delivers_a_quarantine_notice_to_every_recipient() -> Result<()> {
    let sink = sink(SinkTls::None, false)?;
    let mailer = mailer(&sink, "smtp://127.0.0.1:{port}?tls=none", None)?;
    let to = recipients(&["ops@contoso.com", "Identity Team <identity@contoso.com>"]);
    mailer.notify(&revoked_token(), &to).await?;

    let m = only(&sink)?;
    assert_eq!(m.mail_from, "provisioning@idp.example.com");
    assert_eq!(m.rcpt_tos, ["ops@contoso.com", "identity@contoso.com"]);
    assert_eq!(m.to, ["ops@contoso.com", "Identity Team <identity@contoso.com>"]);
    assert_eq!(m.from, "Provisioning <provisioning@idp.example.com>");
    assert!(!m.tls && m.login.is_none());
    let (subject, body) = revoked_token().render();
    assert_eq!(m.subject, subject);
    // SMTP ends the data with a line break of its own.
    assert_eq!(m.body.trim_end(), body.trim_end(), "the body arrives as rendered");
    assert_eq!(m.header("Auto-Submitted"), Some("auto-generated"));
    assert!(m.header("Message-ID").is_some_and(|id| id.starts_with('<')), "{:?}", m.headers);
    assert!(m.header("Date").is_some());
    assert!(m.header("Content-Type").is_some_and(|t| t.starts_with("text/plain")), "{:?}", m.headers);
    let prose = flat(&m.body);
    for part in [
        "\"Azure Databricks SCIM Provisioning Connector\" is in quarantine",
        "Error: The target answered 401 Unauthorized: Invalid SCIM token",
        "Regenerate token), enter it as the Secret Token in the application's Admin Credentials",
        "Provisioning logs: https://idp.example.com/v1.0/auditLogs/provisioning?$filter=jobId%20eq%20'dataBricks.6f1a2b3c.0001'",
    ] {
        assert!(prose.contains(part), "missing {part:?} in:\n{}", m.body);
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn starttls_is_the_default_and_carries_the_login() -> Result<()> {
    let sink = sink(SinkTls::StartTls, true)?;
    let mailer = mailer(&sink, "smtp://127.0.0.1:{port}", Some(PASSWORD))?;
    let failures = notice(NoticeKind::CycleFailures {
        failed: 27,
        first_errors: vec![
            FailedObject {
                identity: "alice@contoso.com".into(),
                error_code: "AzureDatabricksEntryConflict".into(),
                reason: "User with userName alice@contoso.com already exists".into(),
            },
            FailedObject {
                identity: "Sales (group)".into(),
                error_code: "SchemaAttributeNotFound".into(),
                reason: "The target has no attribute 'costCenter'".into(),
            },
        ],
    });
    mailer.notify(&failures, &recipients(&["ops@contoso.com"])).await?;

    let m = only(&sink)?;
    assert!(m.tls, "the message went after STARTTLS");
    assert_eq!(m.login.as_deref(), Some(USER), "after AUTH (the sink offers it only after STARTTLS)");
    assert_eq!(
        m.subject,
        "[idplane] Provisioning of \"Azure Databricks SCIM Provisioning Connector\": 27 objects failed"
    );
    for part in [
        "First errors (2 of 27):\n  1. alice@contoso.com\n     AzureDatabricksEntryConflict: User with userName alice@contoso.com already exists\n",
        "  2. Sales (group)\n     SchemaAttributeNotFound: The target has no attribute 'costCenter'\n",
        "  ... and 25 more: the provisioning logs list them all.\n",
    ] {
        assert!(m.body.contains(part), "missing {part:?} in:\n{}", m.body);
    }
    assert!(flat(&m.body).contains("SchemaAttributeNotFound: An attribute mapping writes an attribute"), "{}", m.body);
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn implicit_tls_sends_the_test_message() -> Result<()> {
    let sink = sink(SinkTls::Implicit, true)?;
    let mailer = mailer(&sink, "smtps://127.0.0.1:{port}", Some(PASSWORD))?;
    mailer.send_test("ops@contoso.com").await?;

    let m = only(&sink)?;
    assert!(m.tls);
    assert_eq!(m.login.as_deref(), Some(USER));
    assert_eq!(m.rcpt_tos, ["ops@contoso.com"]);
    assert_eq!(m.subject, "[idplane] Test message from idplane's provisioning service");
    let prose = flat(&m.body);
    let relay = format!("It went through the SMTP relay 127.0.0.1:{} (implicit TLS)", sink.port);
    assert!(prose.contains(&relay) && prose.contains("<provisioning@idp.example.com>"), "{}", m.body);
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn opportunistic_starttls_uses_tls_when_offered_and_plain_text_when_not() -> Result<()> {
    for (tls, expect_tls) in [(SinkTls::StartTls, true), (SinkTls::None, false)] {
        let sink = sink(tls, false)?;
        let mailer = mailer(&sink, "smtp://127.0.0.1:{port}?tls=opportunistic", None)?;
        mailer.send_test("ops@contoso.com").await?;
        assert_eq!(only(&sink)?.tls, expect_tls, "{tls:?}");
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn a_relay_without_starttls_is_refused_unless_the_url_says_so() -> Result<()> {
    let sink = sink(SinkTls::None, false)?;
    let mailer = mailer(&sink, "smtp://127.0.0.1:{port}", None)?;
    match mailer.notify(&revoked_token(), &recipients(&["ops@contoso.com"])).await {
        Err(e @ NotifyError::Tls { .. }) => {
            let text = e.to_string();
            assert!(text.contains("does not offer STARTTLS") && text.contains("?tls=none"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.messages()?.is_empty(), "nothing sent in plain text");
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn a_wrong_password_fails_clearly() -> Result<()> {
    let sink = sink(SinkTls::StartTls, true)?;
    let wrong = mailer(&sink, "smtp://127.0.0.1:{port}", Some("wrong password"))?;
    match wrong.send_test("ops@contoso.com").await {
        Err(e @ NotifyError::Auth { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("refused the login of '{USER}'")), "{text}");
            assert!(text.contains("535") && text.contains("--smtp-password-file"), "{text}");
            assert!(!text.contains("wrong password"), "the password is never shown: {text}");
            assert!(!e.is_transient());
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.messages()?.is_empty());

    // No login at all, where the relay requires one.
    match mailer(&sink, "smtp://127.0.0.1:{port}", None)?.send_test("ops@contoso.com").await {
        Err(e @ NotifyError::Auth { .. }) => {
            let text = e.to_string();
            assert!(text.contains("wants a login: 530") && text.contains("set --smtp-username"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn an_untrusted_or_mismatched_certificate_fails_clearly() -> Result<()> {
    for tls in [SinkTls::StartTls, SinkTls::Implicit] {
        let sink = sink(tls, true)?;
        let url = if tls == SinkTls::Implicit { "smtps://127.0.0.1:{port}" } else { "smtp://127.0.0.1:{port}" };
        let mut config = MailConfig::new(url.replace("{port}", &sink.port.to_string()));
        config.username = Some(USER.into());
        config.password = Some(Password::new(PASSWORD));
        // The system's roots only: the sink's self-signed certificate is not among them.
        match Mailer::new(&config)?.send_test("ops@contoso.com").await {
            Err(e @ NotifyError::Tls { .. }) => {
                let text = e.to_string();
                assert!(text.contains("unknown issuer") && text.contains("--smtp-ca-bundle"), "{tls:?}: {text}");
            }
            other => panic!("{tls:?}: {other:?}"),
        }
        assert!(sink.messages()?.is_empty(), "{tls:?}");
    }

    // Trusted, but issued for another name.
    let sink = SmtpSink::start(&SinkOptions {
        tls: SinkTls::Implicit,
        names: vec!["relay.example.com".into()],
        ..SinkOptions::default()
    })?;
    match mailer(&sink, "smtps://127.0.0.1:{port}", None)?.send_test("ops@contoso.com").await {
        Err(e @ NotifyError::Tls { .. }) => {
            assert!(e.to_string().contains("does not name 127.0.0.1"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn implicit_tls_to_a_plain_text_port_says_to_write_smtp() -> Result<()> {
    let sink = sink(SinkTls::None, false)?;
    match mailer(&sink, "smtps://127.0.0.1:{port}", None)?.send_test("ops@contoso.com").await {
        Err(e @ NotifyError::Tls { .. }) => assert!(e.to_string().contains("write smtp:// (STARTTLS)"), "{e}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn a_refused_recipient_fails_the_whole_message() -> Result<()> {
    let sink = SmtpSink::start(&SinkOptions { reject: vec!["gone@contoso.com".into()], ..SinkOptions::default() })?;
    let mailer = mailer(&sink, "smtp://127.0.0.1:{port}?tls=none", None)?;
    let to = recipients(&["ops@contoso.com", "gone@contoso.com"]);
    match mailer.notify(&revoked_token(), &to).await {
        Err(e @ NotifyError::Rejected { code: 550, .. }) => {
            let text = e.to_string();
            assert!(text.contains("<gone@contoso.com>: Recipient address rejected"), "{text}");
            assert!(text.contains("check the recipients' addresses"), "{text}");
            assert!(!e.is_transient());
        }
        other => panic!("{other:?}"),
    }
    assert!(sink.messages()?.is_empty(), "no recipient got it: sending again sends no second copy");
    Ok(())
}
