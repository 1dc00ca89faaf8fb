//! The one accept loop, for plain HTTP and HTTPS alike: it caps the open connections and closes the ones that hold a
//! slot without using it, so that silent or half-sent connections cannot starve the server of sockets (or of file
//! descriptors) and `/healthz` keeps answering.
//!
//! - At most [`ConnectionLimits::max_connections`] connections are open at once; past that, new ones wait in the
//!   kernel's listen backlog (they cost no file descriptor there) until one closes.
//! - A new connection must send a request's headers (after its TLS handshake) within
//!   [`ConnectionLimits::header_read_timeout`]; so must a kept-alive connection once the first byte of its next
//!   request has arrived.
//! - A kept-alive connection with no request in flight is closed after [`ConnectionLimits::idle_timeout`] of silence.
//! - Requests in flight have no such limit here: the router's request timeout bounds them (and the reading of their
//!   bodies).
//!
//! On shutdown the loop stops accepting, idle connections close, and requests in flight finish (for up to 30 s).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

/// Limits on connections (as opposed to requests, see [`crate::Limits`]).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a client has to send a request's headers: from the connection's opening (and TLS handshake) for its
    /// first request, from the first byte for the next ones.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may stay silent between requests.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// How long requests in flight may take to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener`, over TLS when `tls` is given, until `shutdown` resolves; then stops accepting, closes
/// idle connections and lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        // A slot first: while every slot is taken, new connections wait in the listen backlog.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if last_full_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    last_full_warning = Some(Instant::now());
                    tracing::warn!(max = limits.max_connections, "connection limit reached; new connections wait");
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: back off briefly rather
                // than spin on an error that repeats until something closes.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, stop) = (acceptor.clone(), app.clone(), stop.clone());
        connections.spawn(async move {
            let _slot = slot;
            match acceptor {
                None => connection(tcp, app, limits, stop).await,
                Some(acceptor) => {
                    // A failed handshake (a plain-HTTP client, an untrusting one) concerns only that connection.
                    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp)).await;
                    if let Ok(Ok(stream)) = handshake {
                        connection(stream, app, limits, stop).await;
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = stopping.send(true);
    let _ = tokio::time::timeout(DRAIN, async { while connections.join_next().await.is_some() {} }).await;
}

/// Serves one connection until it closes, times out, or shutdown closes it once idle.
async fn connection<IO>(io: IO, app: Router, limits: ConnectionLimits, mut stop: tokio::sync::watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(Mutex::new(Activity::new(Instant::now())));
    let io = TokioIo::new(Watched::new(io, state.clone(), limits));
    let app = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |request| {
        let in_flight = InFlight::begin(state.clone());
        let response = hyper::service::Service::call(&app, request);
        async move {
            let response = response.await;
            if response.as_ref().is_ok_and(|r| r.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS) {
                // An agent's WebSocket: its session keeps its own time (pings with a deadline).
                lock(&in_flight.0).upgraded = true;
            }
            drop(in_flight);
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// What a connection is doing, for its read deadline.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Requests handed to the router that have not been answered.
    in_flight: usize,
    /// Requests handed to the router so far.
    requests: u64,
    /// When the first byte of a request whose headers are not complete arrived.
    head_started: Option<Instant>,
    /// The last byte read or written, or the last answer.
    last: Instant,
    /// The reader that waited while a request was in flight, and so has no timer: woken when the answer is ready, so
    /// that it sets one (hyper may not read again by itself before the client sends something).
    waiting: Option<std::task::Waker>,
    /// Switched to another protocol (an agent's WebSocket): no HTTP deadlines apply any more.
    upgraded: bool,
}

impl Activity {
    fn new(now: Instant) -> Self {
        Activity {
            opened: now,
            in_flight: 0,
            requests: 0,
            head_started: None,
            last: now,
            waiting: None,
            upgraded: false,
        }
    }

    /// Until when the connection may wait for bytes; none while a request is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight > 0 || self.upgraded {
            return None;
        }
        Some(match (self.head_started, self.requests) {
            (Some(started), _) => started + limits.header_read_timeout,
            (None, 0) => self.opened + limits.header_read_timeout,
            (None, _) => self.last + limits.idle_timeout,
        })
    }

    fn read(&mut self, now: Instant) {
        self.last = now;
        if self.in_flight == 0 && self.head_started.is_none() {
            self.head_started = Some(now);
        }
    }
}

fn lock(state: &Mutex<Activity>) -> std::sync::MutexGuard<'_, Activity> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A request in flight, from the router's call to its answer (or its cancellation).
struct InFlight(Arc<Mutex<Activity>>);

impl InFlight {
    fn begin(state: Arc<Mutex<Activity>>) -> Self {
        {
            let mut a = lock(&state);
            a.in_flight += 1;
            a.requests += 1;
            a.head_started = None;
        }
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let waiting = {
            let mut a = lock(&self.0);
            a.in_flight = a.in_flight.saturating_sub(1);
            a.last = Instant::now();
            a.waiting.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

/// A connection's byte stream, timed: a read that waits past the connection's deadline fails with `TimedOut`, which
/// closes the connection.
struct Watched<IO> {
    inner: IO,
    state: Arc<Mutex<Activity>>,
    limits: ConnectionLimits,
    timer: Pin<Box<Sleep>>,
}

impl<IO> Watched<IO> {
    fn new(inner: IO, state: Arc<Mutex<Activity>>, limits: ConnectionLimits) -> Self {
        let first = lock(&state).deadline(&limits).unwrap_or_else(Instant::now);
        Watched { inner, state, limits, timer: Box::pin(tokio::time::sleep_until(first)) }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    lock(&this.state).read(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let deadline = {
                    let mut a = lock(&this.state);
                    let deadline = a.deadline(&this.limits);
                    if deadline.is_none() {
                        a.waiting = Some(cx.waker().clone());
                    }
                    deadline
                };
                let Some(deadline) = deadline else { return Poll::Pending };
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent no complete request headers in time, or stayed idle too long",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            lock(&this.state).last = Instant::now();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            lock(&this.state).last = Instant::now();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_follows_what_the_connection_is_doing() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        };
        let t0 = Instant::now();
        let mut a = Activity::new(t0);
        assert_eq!(a.deadline(&limits), Some(t0 + limits.header_read_timeout), "a new connection: headers in time");
        let t1 = t0 + Duration::from_secs(1);
        a.read(t1);
        assert_eq!(a.deadline(&limits), Some(t1 + limits.header_read_timeout));
        a.in_flight = 1;
        a.requests = 1;
        a.head_started = None;
        assert_eq!(a.deadline(&limits), None, "a request in flight is the router's to bound");
        let t2 = t0 + Duration::from_secs(5);
        a.in_flight = 0;
        a.last = t2;
        assert_eq!(a.deadline(&limits), Some(t2 + limits.idle_timeout), "idle between requests");
        let t3 = t0 + Duration::from_secs(30);
        a.read(t3);
        assert_eq!(a.deadline(&limits), Some(t3 + limits.header_read_timeout), "the next request's headers");
    }
}
