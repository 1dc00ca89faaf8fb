//! The accept loop over real sockets on 127.0.0.1:0: the connection cap, the header-read and idle timeouts, and
//! graceful shutdown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use idplane_server::serve::{ConnectionLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::app;

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

async fn start(router: Router, limits: ConnectionLimits) -> Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, router, None, limits, async move {
        let _ = stopped.await;
    }));
    Ok(Running { addr, stop: Some(stop), done })
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: idp.test\r\n\r\n";

/// Reads until the end of the response's headers and its body (Content-Length), or fails after `within`.
async fn response(conn: &mut TcpStream, within: Duration) -> Result<String> {
    let mut got = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return anyhow::Ok(text);
                }
            }
            let n = conn.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "the connection closed before a whole response: {text:?}");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .context("no response in time")?
}

/// Waits until the server closes `conn` (EOF or reset), up to `within`; what it sent before is discarded.
async fn closed(conn: &mut TcpStream, within: Duration) -> Result<()> {
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .context("the server kept the connection open")
}

#[tokio::test]
async fn silent_connections_up_to_the_cap_leave_healthz_answering_within_the_header_timeout() -> Result<()> {
    let app = app().await?;
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
        max_connections: 8,
    };
    let server = start(app.router.clone(), limits).await?;
    let mut silent = Vec::new();
    for _ in 0..limits.max_connections {
        silent.push(TcpStream::connect(server.addr).await?);
    }
    let started = Instant::now();
    let mut probe = TcpStream::connect(server.addr).await?;
    probe.write_all(HEALTHZ).await?;
    let text = response(&mut probe, Duration::from_secs(10)).await?;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let took = started.elapsed();
    assert!(took < limits.header_read_timeout + Duration::from_secs(2), "healthz waited {took:?}");
    for mut conn in silent {
        closed(&mut conn, Duration::from_secs(5)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() -> Result<()> {
    let app = app().await?;
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 2,
    };
    let server = start(app.router.clone(), limits).await?;
    let first = TcpStream::connect(server.addr).await?;
    let _second = TcpStream::connect(server.addr).await?;
    let mut third = TcpStream::connect(server.addr).await?;
    third.write_all(HEALTHZ).await?;
    assert!(response(&mut third, Duration::from_millis(500)).await.is_err(), "a third connection is not served");
    drop(first);
    let text = response(&mut third, Duration::from_secs(10)).await?;
    assert!(text.starts_with("HTTP/1.1 200"), "served once a slot is free: {text}");
    Ok(())
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() -> Result<()> {
    let app = app().await?;
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
        max_connections: 8,
    };
    let server = start(app.router.clone(), limits).await?;
    let mut conn = TcpStream::connect(server.addr).await?;
    // A healthy first request: the header timeout then counts from the next request's first byte.
    conn.write_all(HEALTHZ).await?;
    response(&mut conn, Duration::from_secs(5)).await?;
    let started = Instant::now();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: idp.test\r\n").await?;
    closed(&mut conn, Duration::from_secs(5)).await?;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "closed after {took:?}, before the header timeout");
    Ok(())
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() -> Result<()> {
    let app = app().await?;
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        max_connections: 8,
    };
    let server = start(app.router.clone(), limits).await?;
    let mut conn = TcpStream::connect(server.addr).await?;
    conn.write_all(HEALTHZ).await?;
    response(&mut conn, Duration::from_secs(5)).await?;
    let answered = Instant::now();
    closed(&mut conn, Duration::from_secs(10)).await?;
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(1800),
        "kept alive past the header timeout, up to the idle timeout: {idle:?}"
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_closes_idle_connections() -> Result<()> {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let (r, e) = (release.clone(), entered.clone());
    let router = Router::new().route(
        "/slow",
        axum::routing::get(move || async move {
            e.notify_one();
            r.notified().await;
            "finished"
        }),
    );
    let mut server = start(router, ConnectionLimits::default()).await?;
    let mut idle = TcpStream::connect(server.addr).await?;
    let mut busy = TcpStream::connect(server.addr).await?;
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: idp.test\r\n\r\n").await?;
    entered.notified().await;
    server.stop.take().context("stop")?.send(()).map_err(|_| anyhow::anyhow!("the server is gone"))?;
    closed(&mut idle, Duration::from_secs(5)).await?;
    release.notify_one();
    let text = response(&mut busy, Duration::from_secs(5)).await?;
    assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("finished"), "{text}");
    tokio::time::timeout(Duration::from_secs(5), server.done).await.context("the server did not stop")??;
    Ok(())
}
