//! The engine's notification email, through a real SMTP server (the test kit's aiosmtpd sink): a target that
//! refuses the job's token quarantines the job and mails the recipients once, however many cycles fail; the first
//! healthy cycle clears the quarantine, and the next trouble is mailed again. The tests need Python with aiosmtpd:
//! their names contain `smtp_sink`, which `scripts/test` runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::http::Method;
use idplane_testkit::smtp::{SinkOptions, SmtpSink};
use idplane_worker::notify::{MailConfig, Mailer};
use serde_json::json;

use crate::engine::{Setup, graph, user};

async fn secrets(s: &Setup, pairs: serde_json::Value) -> Result<()> {
    graph(&s.app, Method::PUT, &format!("{}/secrets", s.sync), Some(json!({"value": pairs}))).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python with aiosmtpd (scripts/test)"]
async fn a_refused_token_quarantines_the_job_and_mails_once_until_a_healthy_cycle() -> Result<()> {
    let sink = SmtpSink::start(&SinkOptions::default())?;
    let mut config = MailConfig::new(format!("smtp://127.0.0.1:{}?tls=none", sink.port));
    config.from = "Provisioning <provisioning@idp.example.com>".into();
    config.timeout = Duration::from_secs(20);
    let s = Setup::with("", Arc::new(Mailer::new(&config)?)).await?;
    let settings = r#"{"Enabled":true,"Recipients":"ops@contoso.com;oncall@contoso.com"}"#;
    secrets(&s, json!([{"key": "SyncNotificationSettings", "value": settings}])).await?;
    let ann = user(&s.app, "ann@contoso.com", "Ann", "Lee").await?;
    s.assign(&ann).await?;
    graph(&s.app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;
    let status = s.cycle().await?;
    assert_eq!(status["code"], "Active", "{status}");
    assert!(sink.messages()?.is_empty(), "a healthy cycle mails nobody");

    secrets(&s, json!([{"key": "SecretToken", "value": "dapi-revoked-token"}])).await?;
    let status = s.cycle().await?;
    assert_eq!(status["code"], "Quarantine", "{status}");
    assert_eq!(status["quarantine"]["reason"], "EncounteredQuarantineException", "{status}");
    assert!(status["quarantine"]["error"]["message"].as_str().is_some_and(|m| m.contains("401")), "{status}");
    let mails = sink.messages()?;
    assert_eq!(mails.len(), 1, "{}", sink.log());
    assert!(
        mails[0].header("Subject").is_some_and(|s| s.contains("Databricks") && s.contains("quarantine")),
        "{:?}",
        mails[0].header("Subject")
    );
    let again = s.cycle().await?;
    assert_eq!(again["quarantine"]["seriesCount"], 2, "{again}");
    assert_eq!(sink.messages()?.len(), 1, "once per reason, not once per cycle");

    secrets(&s, json!([{"key": "SecretToken", "value": s.scim_token}])).await?;
    let healed = s.cycle().await?;
    assert_eq!(healed["code"], "Active", "the first healthy cycle ends the quarantine: {healed}");
    assert!(healed["quarantine"].is_null(), "{healed}");
    secrets(&s, json!([{"key": "SecretToken", "value": "dapi-revoked-again"}])).await?;
    s.cycle().await?;
    assert_eq!(sink.messages()?.len(), 2, "a new spell of trouble is mailed again");
    Ok(())
}
