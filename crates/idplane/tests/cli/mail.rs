//! Notification email from the command line: `idplane mail test` against a real SMTP server (the test kit's sink,
//! Python's aiosmtpd; that test is `#[ignore]`d and has `smtp_sink` in its name, see `scripts/test`), its failures,
//! and `serve`'s SMTP settings checked at start.

use std::process::{Command, Output};

use anyhow::Result;
use idplane_testkit::smtp::{SinkOptions, SinkTls, SmtpSink};
use serde_json::Value;

use super::{BIN, Server};

/// Every SMTP variable the caller might have set, so that only the test's settings count.
const SMTP_VARIABLES: [&str; 7] = [
    "IDPLANE_SMTP_URL",
    "IDPLANE_SMTP_FROM",
    "IDPLANE_SMTP_USERNAME",
    "IDPLANE_SMTP_PASSWORD",
    "IDPLANE_SMTP_PASSWORD_FILE",
    "IDPLANE_SMTP_CA_BUNDLE",
    "IDPLANE_SMTP_TIMEOUT_SECONDS",
];

/// `idplane mail test --to ops@contoso.com ARGS...` with the variables `env`.
fn mail_test(args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
    let mut cmd = Command::new(BIN);
    cmd.args(["mail", "test", "--to", "ops@contoso.com"]).args(args);
    for variable in SMTP_VARIABLES {
        cmd.env_remove(variable);
    }
    Ok(cmd.envs(env.iter().copied()).output()?)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn smtp_sink_mail_test_sends_through_the_relay_and_reports_its_refusals() -> Result<()> {
    let password = "correct horse battery staple";
    let sink = SmtpSink::start(&SinkOptions {
        tls: SinkTls::StartTls,
        login: Some(("idplane".into(), password.into())),
        ..SinkOptions::default()
    })?;
    let tmp = tempfile::tempdir()?;
    let password_file = tmp.path().join("smtp-password");
    std::fs::write(&password_file, format!("{password}\n"))?;
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    let ca = sink.certificate.clone().unwrap_or_default();
    let ca = ca.to_string_lossy();
    let pw = password_file.to_string_lossy();

    // Flags.
    let out = mail_test(
        &["--json", "--smtp-url", &url, "--smtp-ca-bundle", &ca, "--smtp-username", "idplane"],
        &[("IDPLANE_SMTP_PASSWORD_FILE", &pw), ("IDPLANE_SMTP_FROM", "Provisioning <provisioning@idp.example.com>")],
    )?;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(report["sent"], true, "{report}");
    assert_eq!(report["relay"], format!("127.0.0.1:{} (STARTTLS)", sink.port), "{report}");
    let received = sink.messages()?;
    assert_eq!(received.len(), 1, "{}", sink.log());
    let m = &received[0];
    assert_eq!(
        (m.rcpt_tos.as_slice(), m.tls, m.login.as_deref()),
        (&["ops@contoso.com".to_string()][..], true, Some("idplane"))
    );
    assert_eq!(m.from, "Provisioning <provisioning@idp.example.com>");
    assert_eq!(m.subject, "[idplane] Test message from idplane's provisioning service");

    // Variables only, with a wrong password: the relay's refusal, and the exit status.
    let out = mail_test(
        &[],
        &[
            ("IDPLANE_SMTP_URL", &url),
            ("IDPLANE_SMTP_CA_BUNDLE", &ca),
            ("IDPLANE_SMTP_USERNAME", "idplane"),
            ("IDPLANE_SMTP_PASSWORD", "not the password"),
        ],
    )?;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: no test message was sent to ops@contoso.com: "), "{err}");
    assert!(err.contains("refused the login of 'idplane': 535"), "{err}");
    assert!(!err.contains("not the password"), "the password is never shown: {err}");
    assert!(out.stdout.is_empty());

    // The relay's certificate untrusted (no --smtp-ca-bundle).
    let out = mail_test(&["--smtp-url", &url, "--smtp-username", "idplane", "--smtp-password-file", &pw], &[])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown issuer") && stderr(&out).contains("--smtp-ca-bundle"), "{}", stderr(&out));
    assert_eq!(sink.messages()?.len(), 1, "nothing more was sent");
    Ok(())
}

#[test]
fn mail_test_says_what_is_missing_or_wrong() -> Result<()> {
    let out = mail_test(&[], &[])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("needs the SMTP relay: --smtp-url"), "{}", stderr(&out));

    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let out = mail_test(&["--smtp-url", &format!("smtp://127.0.0.1:{closed}")], &[])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("127.0.0.1:{closed}: connection refused")), "{}", stderr(&out));

    let out = mail_test(&["--smtp-url", "smtp://mail.example.com", "--smtp-username", "idplane"], &[])?;
    assert!(stderr(&out).contains("an SMTP username needs a password"), "{}", stderr(&out));

    // No password on the command line: there is no such flag.
    let out = mail_test(&["--smtp-url", "smtp://mail.example.com", "--smtp-password", "hunter2"], &[])?;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unexpected argument '--smtp-password'"), "{}", stderr(&out));
    Ok(())
}

#[test]
fn serve_checks_its_smtp_settings_at_start() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--smtp-url", "smtp://mail.example.com?tls=maybe", "--data-dir"])
        .arg(tmp.path().join("refused"))
        .env_remove("IDPLANE_BOOTSTRAP_TOKEN")
        .output()?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("setting up notification email") && err.contains("has tls=maybe"), "{err}");
    assert!(out.stdout.is_empty(), "refused before the banner");

    let server = Server::start_with(
        &tmp.path().join("data"),
        None,
        &["--smtp-url".as_ref(), "smtp://127.0.0.1:2525?tls=none".as_ref()],
    )?;
    let log = std::fs::read_to_string(&server.log)?;
    assert!(log.contains("notification email") && log.contains("127.0.0.1:2525 (plain text)"), "{log}");
    drop(server);

    let server = Server::start_with(&tmp.path().join("data"), None, &[])?;
    let log = std::fs::read_to_string(&server.log)?;
    assert!(log.contains("notification email is off"), "{log}");
    Ok(())
}
