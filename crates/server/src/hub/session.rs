//! One agent's session: the WebSocket's loop (hello, welcome, frames both ways, pings with a deadline, the end),
//! and [`Session::call`], which sends one request through it and waits for its one answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt;
use idplane_agent_protocol::{self as proto, Decoded, Frame};
use idplane_provisioning::agents::{AgentIdentity, AgentSession};
use idplane_provisioning::store::PutSession;
use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

use super::Hub;

/// How long a new connection has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings left unanswered before the session is declared dead.
const MISSED_PINGS: u32 = 3;
/// How long a draining session may take to close before the hub closes it.
const DRAIN_GRACE: Duration = Duration::from_secs(30);
/// Frames written in one flush at most.
const BURST: usize = 64;

/// What came back for a request.
#[derive(Debug)]
pub(crate) enum Reply {
    Response(proto::Response),
    Failure(proto::Failure),
    /// The session ended before an answer (the agent disconnected, was evicted or revoked): the request may or may
    /// not have reached the target.
    Dropped(String),
    /// The session ended before the request was handed to it: the target cannot have received it.
    NotSent(String),
    /// No answer within the deadline (the hub sent `Cancel`).
    TimedOut,
}

/// An agent's live session on this node.
pub struct Session {
    pub agent_id: String,
    pub session_id: String,
    pub host_name: String,
    outgoing: mpsc::Sender<Frame>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    in_flight: AtomicUsize,
    /// One permit per request the agent takes at once (its `maxInFlight`, as the welcome said): more wait their turn
    /// (within their deadline) rather than be refused as busy.
    slots: tokio::sync::Semaphore,
    /// The tenant URLs the agent was told it may relay to.
    targets: Mutex<Vec<String>>,
    open: AtomicBool,
    /// Set with the reason the hub ends the session (replaced, revoked): the loop closes the socket.
    ending: Mutex<Option<String>>,
    wake: Notify,
}

impl Session {
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Tells the loop to close the session.
    pub(crate) fn end(&self, reason: &str) {
        if let Ok(mut e) = self.ending.lock() {
            e.get_or_insert_with(|| reason.to_owned());
        }
        self.wake.notify_one();
    }

    /// Asks the agent to finish its requests and reconnect; no new request is sent through this session.
    pub(crate) fn drain(&self, reason: &str) {
        self.open.store(false, Ordering::Relaxed);
        let _ = self.outgoing.try_send(Frame::Drain(proto::Drain { reason: reason.to_owned() }));
    }

    /// Makes sure the agent may relay to `target` (a tenant URL): if it was not among the targets sent, they are
    /// sent again with it, ahead of the request on the same socket.
    pub(crate) async fn allow(&self, target: &str) {
        let targets = {
            let Ok(mut t) = self.targets.lock() else { return };
            if t.iter().any(|x| x == target) {
                return;
            }
            t.push(target.to_owned());
            t.clone()
        };
        let _ = self.outgoing.send(Frame::Config(proto::Config { targets })).await;
    }

    /// Sends `request` (its id set here) and waits for its answer, at most `deadline` (then `Cancel`).
    pub(crate) async fn call(&self, mut request: proto::Request, id: u64, deadline: Duration) -> Reply {
        struct InFlight<'a>(&'a AtomicUsize);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _guard = InFlight(&self.in_flight);
        let started = tokio::time::Instant::now();
        let _slot = match tokio::time::timeout(deadline, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Reply::NotSent("the agent's session had ended before the request was sent".into()),
            Err(_) => return Reply::TimedOut,
        };
        let deadline = deadline.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
        request.id = id;
        request.deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, tx);
        }
        if self.outgoing.send(Frame::Request(request)).await.is_err() {
            self.forget(id);
            return Reply::NotSent("the agent's session had ended before the request was sent".into());
        }
        // A little beyond the agent's own deadline, so that its `timeout` failure (with where it happened) wins.
        match tokio::time::timeout(deadline + Duration::from_secs(2), rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Reply::Dropped("the agent's session ended before it answered".into()),
            Err(_) => {
                self.forget(id);
                let _ = self.outgoing.try_send(Frame::Cancel(proto::Cancel { id }));
                Reply::TimedOut
            }
        }
    }

    fn forget(&self, id: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&id);
        }
    }

    fn answer(&self, id: u64, reply: Reply) {
        let waiter = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
        if let Some(w) = waiter {
            let _ = w.send(reply);
        }
    }

    /// Fails every request still waiting: the session is over.
    fn fail_pending(&self, why: &str) {
        // Requests waiting for a slot stop waiting.
        self.slots.close();
        let waiting: Vec<_> = self.pending.lock().map(|mut p| p.drain().collect()).unwrap_or_default();
        for (_, w) in waiting {
            let _ = w.send(Reply::Dropped(why.to_owned()));
        }
    }
}

/// Runs an agent's session on `socket` until it ends.
pub(crate) async fn run(
    hub: Hub,
    mut socket: WebSocket,
    who: AgentIdentity,
    mut revocations: broadcast::Receiver<AgentIdentity>,
) {
    let config = hub.config();
    let max_body = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, next_frame(&mut socket, max_body)).await {
        Ok(Some(Frame::Hello(h))) => h,
        Ok(_) | Err(_) => {
            tracing::info!(agent = %who.agent_id, "agent connection closed: no hello frame first");
            return;
        }
    };
    if hello.agent_id != who.agent_id {
        tracing::warn!(agent = %who.agent_id, claimed = %hello.agent_id, "agent hello names another agent: closed");
        return;
    }
    let Ok(session_id) = idplane_provisioning::ids::random_guid() else { return };
    let now = OffsetDateTime::now_utc();
    let record = AgentSession {
        agent_id: who.agent_id.clone(),
        tenant_id: who.tenant_id.clone(),
        node_id: hub.node().to_owned(),
        session_id: session_id.clone(),
        connected: now,
        last_heartbeat: now,
        round_trip: None,
    };
    match hub.store().put_agent_session(&record).await {
        Ok(PutSession::Recorded { .. }) => {}
        Ok(PutSession::NoAgent) => {
            tracing::info!(agent = %who.agent_id, "agent deleted or revoked while connecting: closed");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, agent = %who.agent_id, "could not record an agent's session");
            return;
        }
    }
    let max_in_flight = config.max_in_flight.min(hello.max_in_flight.max(1));
    let (outgoing, mut to_send) = mpsc::channel::<Frame>(256);
    let session = Arc::new(Session {
        agent_id: who.agent_id.clone(),
        session_id: session_id.clone(),
        host_name: hello.host_name.clone(),
        outgoing,
        pending: Mutex::new(HashMap::new()),
        in_flight: AtomicUsize::new(0),
        slots: tokio::sync::Semaphore::new(usize::try_from(max_in_flight).unwrap_or(1)),
        targets: Mutex::new(Vec::new()),
        open: AtomicBool::new(true),
        ending: Mutex::new(None),
        wake: Notify::new(),
    });
    let welcome = Frame::Welcome(proto::Welcome {
        session_id: session_id.clone(),
        heartbeat_seconds: u32::try_from(config.heartbeat.as_secs().max(1)).unwrap_or(u32::MAX),
        max_in_flight,
        max_body_bytes: config.max_body_bytes,
        default_deadline_ms: u64::try_from(config.deadline.as_millis()).unwrap_or(u64::MAX),
        targets: Vec::new(),
    });
    if send(&mut socket, &welcome).await.is_err() {
        let _ = hub.store().end_agent_session(&who.agent_id, &session_id).await;
        return;
    }
    hub.insert(session.clone());
    tracing::info!(
        agent = %who.agent_id, tenant = %who.tenant_id, session = %session_id, host = %hello.host_name,
        version = %hello.version, "agent connected"
    );

    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut pings: HashMap<u64, Instant> = HashMap::new();
    let mut nonce = 0u64;
    let mut draining_since: Option<Instant> = None;
    let why: String = loop {
        tokio::select! {
            received = socket.recv() => {
                let message = match received {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => break format!("the connection failed: {e}"),
                    None => break "the agent closed the connection".into(),
                };
                let bytes = match message {
                    Message::Binary(b) => b,
                    Message::Close(_) => break "the agent closed the connection".into(),
                    // WebSocket-level pings are answered by the library; text is not this protocol.
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Text(_) => break "the agent sent a text message, which this protocol does not use".into(),
                };
                match proto::decode(&bytes, max_body) {
                    Ok(Decoded::Frame(Frame::Response(r))) => session.answer(r.id, Reply::Response(r)),
                    Ok(Decoded::Frame(Frame::Failure(f))) => session.answer(f.id, Reply::Failure(f)),
                    Ok(Decoded::Frame(Frame::Pong(p))) => {
                        if let Some(sent) = pings.remove(&p.nonce) {
                            pings.clear();
                            let rtt = sent.elapsed();
                            let at = OffsetDateTime::now_utc();
                            match hub.store().agent_heartbeat(&who.agent_id, &session_id, at, Some(rtt)).await {
                                Ok(true) => {}
                                Ok(false) => break "the agent has a newer session (on this node or another)".into(),
                                Err(e) => tracing::warn!(error = %e, agent = %who.agent_id, "could not record a heartbeat"),
                            }
                        }
                    }
                    Ok(Decoded::Frame(Frame::Ping(p))) => {
                        if send(&mut socket, &Frame::Pong(proto::Pong { nonce: p.nonce })).await.is_err() {
                            break "the connection failed while answering a ping".into();
                        }
                    }
                    Ok(Decoded::Frame(other)) => {
                        tracing::debug!(agent = %who.agent_id, frame = other.type_name(), "agent frame ignored");
                    }
                    Ok(Decoded::Unknown { frame_type }) => {
                        tracing::debug!(agent = %who.agent_id, %frame_type, "unknown agent frame ignored");
                    }
                    Err(e) => break format!("the agent sent a malformed frame: {e}"),
                }
            }
            Some(frame) = to_send.recv() => {
                // The frames queued meanwhile go out with this one, in one flush: under load, one write for many
                // requests instead of one each (bounded, so that answers keep being read).
                let mut next = Some(frame);
                let mut fed = 0;
                let mut sent = Ok(());
                while let Some(frame) = next.take() {
                    if matches!(frame, Frame::Drain(_)) {
                        draining_since.get_or_insert_with(Instant::now);
                    }
                    sent = feed(&mut socket, &frame).await;
                    fed += 1;
                    if sent.is_ok() && fed < BURST {
                        next = to_send.try_recv().ok();
                    }
                }
                if sent.is_ok() {
                    sent = socket.flush().await.map_err(|e| e.to_string());
                }
                if let Err(e) = sent {
                    break format!("the connection failed while sending: {e}");
                }
            }
            _ = ticker.tick() => {
                if pings.len() as u32 >= MISSED_PINGS {
                    break format!("the agent answered none of the last {MISSED_PINGS} pings");
                }
                if draining_since.is_some_and(|t| t.elapsed() > DRAIN_GRACE) {
                    break "the agent did not reconnect within the drain's grace period".into();
                }
                if matches!(idplane_provisioning::agents::is_revoked(hub.store().as_ref(), &who.agent_id).await, Ok(true)) {
                    break "the agent was revoked".into();
                }
                nonce += 1;
                pings.insert(nonce, Instant::now());
                if send(&mut socket, &Frame::Ping(proto::Ping { nonce })).await.is_err() {
                    break "the connection failed while sending a ping".into();
                }
            }
            revoked = revocations.recv() => {
                match revoked {
                    Ok(r) if r.agent_id == who.agent_id => break "the agent was revoked".into(),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {}
                }
            }
            () = session.wake.notified() => {
                let reason = session.ending.lock().ok().and_then(|e| e.clone());
                if let Some(reason) = reason {
                    break reason;
                }
            }
        }
    };
    session.open.store(false, Ordering::Relaxed);
    hub.remove(&who.agent_id, &session_id);
    session.fail_pending(&format!("the agent's session ended: {why}"));
    let _ = socket.send(Message::Close(None)).await;
    if let Err(e) = hub.store().end_agent_session(&who.agent_id, &session_id).await {
        tracing::warn!(error = %e, agent = %who.agent_id, "could not remove an agent's session");
    }
    tracing::info!(agent = %who.agent_id, session = %session_id, reason = %why, "agent disconnected");
}

/// The next frame of the protocol, or `None` when the socket ends or sends something else.
async fn next_frame(socket: &mut WebSocket, max_body: usize) -> Option<Frame> {
    loop {
        match socket.recv().await? {
            Ok(Message::Binary(b)) => {
                return match proto::decode(&b, max_body) {
                    Ok(Decoded::Frame(f)) => Some(f),
                    _ => None,
                };
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

async fn send(socket: &mut WebSocket, frame: &Frame) -> Result<(), String> {
    feed(socket, frame).await?;
    socket.flush().await.map_err(|e| e.to_string())
}

/// Queues `frame` on the socket without flushing it.
async fn feed(socket: &mut WebSocket, frame: &Frame) -> Result<(), String> {
    let bytes = proto::encode(frame).map_err(|e| e.to_string())?;
    socket.feed(Message::Binary(bytes.into())).await.map_err(|e| e.to_string())
}
