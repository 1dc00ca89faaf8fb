//! Relays that need no SMTP server: a port where nothing listens, a peer that accepts and never answers.

use std::time::{Duration, Instant};

use anyhow::Result;
use idplane_worker::notify::{MailConfig, Mailer, NotifyError};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_relay_that_never_answers_fails_within_the_timeout() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    // Accepts connections and holds them, silent: no greeting ever comes.
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    for url in [format!("smtp://127.0.0.1:{port}?tls=none"), format!("smtps://127.0.0.1:{port}")] {
        let mut config = MailConfig::new(&url);
        config.timeout = Duration::from_secs(1);
        let mailer = Mailer::new(&config)?;
        let started = Instant::now();
        let result = mailer.send_test("ops@example.com").await;
        let took = started.elapsed();
        match result {
            Err(e @ NotifyError::Timeout { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("within 1 s"), "{text}");
                assert!(e.is_transient());
            }
            other => panic!("{url}: {other:?}"),
        }
        assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "{url}: took {took:?}");
    }
    held.abort();
    Ok(())
}

#[tokio::test]
async fn a_port_where_nothing_listens_is_a_refused_connection() -> Result<()> {
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let mailer = Mailer::new(&MailConfig::new(format!("smtp://127.0.0.1:{port}")))?;
    match mailer.send_test("ops@example.com").await {
        Err(e @ NotifyError::Connect { .. }) => {
            let text = e.to_string();
            assert!(text.contains("connection refused") && text.contains(&format!("127.0.0.1:{port}")), "{text}");
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}
