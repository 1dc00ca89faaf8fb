//! One session with the service: connect, `Hello`/`Welcome`, then requests multiplexed by id until the socket
//! breaks, the heartbeat finds the service silent, the service asks for a drain, or the agent shuts down.
//!
//! Tasks: this loop reads frames and owns the session's state; a writer task owns the socket's sending half (every
//! frame to send goes through one channel, so that frames are never interleaved and bursts are flushed together);
//! each relayed request runs in a task of its own, at most `maxInFlight` at once, abortable by `Cancel`. Each
//! request gets exactly one answer: whoever removes its id from the in-flight table (the task when done, `Cancel`
//! before that) sends it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use idplane_agent_protocol::{
    Decoded, Failure, FailureKind, Frame, Hello, PROTOCOL_VERSION, Ping, Pong, Request, Welcome, decode, encode,
};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use crate::config::{AgentConfig, Credential};
use crate::error::Error;
use crate::relay::Relay;
use crate::service::ServiceClient;
use crate::targets::{Target, Targets};

/// Heartbeats in a row without a `Pong` after which the service is taken for dead.
pub const MISSED_PONGS: u32 = 3;

/// A request's deadline when neither it nor the `Welcome` names one: Entra's 10 minutes.
const FALLBACK_DEADLINE: Duration = Duration::from_secs(600);

/// How a session ended, when not by an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The service asked for it: reconnect at once.
    Drained,
    /// The agent is shutting down.
    Shutdown,
}

/// What a session needs that outlives it.
pub struct Context {
    pub config: AgentConfig,
    pub credential_path: std::path::PathBuf,
    pub service: ServiceClient,
    pub relay: Relay,
    pub host_name: String,
    /// How long to wait for `Welcome` after the upgrade.
    pub welcome_timeout: Duration,
}

type InFlight = Arc<Mutex<HashMap<u64, AbortHandle>>>;

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, HashMap<u64, AbortHandle>> {
    // A panicking relay task cannot leave the table half-updated (one insert or remove): the data stays usable.
    in_flight.lock().unwrap_or_else(PoisonError::into_inner)
}

fn binary(frame: &Frame) -> Result<Message, Error> {
    encode(frame).map(|bytes| Message::Binary(bytes.into())).map_err(|e| Error::Protocol(e.to_string()))
}

/// Runs one session to its end. `shutdown` turning true drains it.
pub async fn run(context: &Context, shutdown: &mut watch::Receiver<bool>) -> Result<Ended, Error> {
    let config = &context.config;
    let agent_max_body = usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX);
    let allow_list: Vec<Target> = config.allow_list.iter().filter_map(|p| Target::parse(p).ok()).collect();
    // A shutdown while connecting ends the attempt: nothing is in flight yet.
    let connecting = async {
        let credential = Credential::load(&context.credential_path)?;
        let socket = context.service.connect(&credential, agent_max_body).await?;
        let (mut sink, mut stream) = socket.split();

        let hello = Frame::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            agent_id: config.agent_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            host_name: context.host_name.clone(),
            max_in_flight: config.max_in_flight,
            allow_list: allow_list.iter().map(|t| t.as_str().to_string()).collect(),
        });
        sink.send(binary(&hello)?).await.map_err(|e| lost(&e.to_string()))?;

        let welcome = timeout(context.welcome_timeout, async {
            while let Some(message) = stream.next().await {
                let message = message.map_err(|e| lost(&e.to_string()))?;
                if let Message::Binary(bytes) = message
                    && let Decoded::Frame(frame) = decode(&bytes, agent_max_body).map_err(protocol)?
                {
                    return match frame {
                        Frame::Welcome(welcome) => Ok(welcome),
                        other => {
                            Err(Error::Protocol(format!("expected welcome, the service sent {}", other.type_name())))
                        }
                    };
                }
            }
            Err(lost("the service closed the connection before its welcome"))
        })
        .await
        .map_err(|_| Error::Protocol(format!("no welcome from the service within {:?}", context.welcome_timeout)))??;
        Ok((welcome, sink, stream))
    };
    let (welcome, mut sink, mut stream) = tokio::select! {
        connected = connecting => connected?,
        _ = shutdown.wait_for(|stop| *stop) => return Ok(Ended::Shutdown),
    };
    let Welcome { session_id, heartbeat_seconds, max_in_flight, max_body_bytes, default_deadline_ms, targets } =
        welcome;
    let max_body = agent_max_body.min(usize::try_from(max_body_bytes).unwrap_or(usize::MAX));
    let max_in_flight = config.max_in_flight.min(max_in_flight).max(1) as usize;
    let default_deadline =
        if default_deadline_ms == 0 { FALLBACK_DEADLINE } else { Duration::from_millis(default_deadline_ms) };
    let mut in_force = Targets::new(allow_list);
    for bad in in_force.set_service(&targets) {
        tracing::warn!(problem = %bad, "a target of the service is ignored");
    }
    tracing::info!(
        session = %session_id, heartbeat_seconds, max_in_flight, max_body, targets = %in_force.describe(),
        "connected to the service"
    );

    let (out, mut outbox) = mpsc::channel::<Message>(max_in_flight + 64);
    let writer = tokio::spawn(async move {
        while let Some(message) = outbox.recv().await {
            if sink.feed(message).await.is_err() {
                return;
            }
            // Whatever else is ready goes in the same flush.
            while let Ok(message) = outbox.try_recv() {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });

    let mut state = State {
        context,
        out,
        in_flight: Arc::new(Mutex::new(HashMap::new())),
        permits: Arc::new(Semaphore::new(max_in_flight)),
        done: Arc::new(Notify::new()),
        targets: in_force,
        max_body,
        max_in_flight,
        default_deadline,
        draining: None,
    };
    let heartbeat = Duration::from_secs(u64::from(heartbeat_seconds.max(1)));
    let mut ticks = tokio::time::interval(heartbeat);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut nonce: u64 = 0;
    let mut outstanding: Option<(u64, Instant)> = None;
    let mut missed = 0u32;
    let mut shutting_down = *shutdown.borrow();

    let result = loop {
        if shutting_down && state.draining.is_none() {
            tracing::info!("shutting down: finishing the requests in flight");
            state.draining = Some(Ended::Shutdown);
        }
        if let Some(ended) = state.draining
            && lock(&state.in_flight).is_empty()
        {
            break Ok(ended);
        }
        tokio::select! {
            message = stream.next() => {
                let message = match message {
                    None => break Err(lost("the service closed the connection")),
                    Some(Err(e)) => break Err(lost(&e.to_string())),
                    Some(Ok(message)) => message,
                };
                let bytes = match message {
                    Message::Binary(bytes) => bytes,
                    Message::Close(frame) => {
                        let why = frame.map(|f| f.reason.to_string()).filter(|r| !r.is_empty());
                        break Err(lost(&format!("the service closed the session ({})", why.as_deref().unwrap_or("no reason given"))));
                    }
                    // WebSocket pings are answered by tungstenite; text is not part of the protocol.
                    _ => continue,
                };
                let frame = match decode(&bytes, max_body) {
                    Ok(Decoded::Frame(frame)) => frame,
                    Ok(Decoded::Unknown { frame_type }) => {
                        tracing::debug!(frame_type, "ignoring a frame type this agent does not know");
                        continue;
                    }
                    Err(e) => break Err(protocol(e)),
                };
                match frame {
                    Frame::Request(request) => {
                        if let Err(e) = state.request(request).await {
                            break Err(e);
                        }
                    }
                    Frame::Cancel(cancel) => {
                        let handle = lock(&state.in_flight).remove(&cancel.id);
                        if let Some(handle) = handle {
                            handle.abort();
                            tracing::debug!(id = cancel.id, "request cancelled by the service");
                            let failure = Failure { id: cancel.id, kind: FailureKind::Cancelled, message: "cancelled by the service".into() };
                            if state.send(Frame::Failure(failure)).await.is_err() {
                                break Err(lost("the session's writer stopped"));
                            }
                        }
                    }
                    Frame::Config(config) => {
                        for bad in state.targets.set_service(&config.targets) {
                            tracing::warn!(problem = %bad, "a target of the service is ignored");
                        }
                        tracing::info!(targets = %state.targets.describe(), "targets updated by the service");
                    }
                    Frame::Drain(drain) => {
                        tracing::info!(reason = %drain.reason, "the service asked to drain: finishing the requests in flight, then reconnecting");
                        state.draining.get_or_insert(Ended::Drained);
                    }
                    Frame::Ping(Ping { nonce }) => {
                        if state.send(Frame::Pong(Pong { nonce })).await.is_err() {
                            break Err(lost("the session's writer stopped"));
                        }
                    }
                    Frame::Pong(Pong { nonce }) => {
                        if let Some((sent, at)) = outstanding.take_if(|(sent, _)| *sent == nonce) {
                            tracing::trace!(nonce = sent, rtt_ms = at.elapsed().as_secs_f64() * 1e3, "pong");
                        }
                        missed = 0;
                    }
                    other => tracing::debug!(frame = other.type_name(), "ignoring a frame the service should not send"),
                }
            }
            _ = ticks.tick() => {
                if outstanding.is_some() {
                    missed += 1;
                    if missed >= MISSED_PONGS {
                        break Err(lost(&format!("no pong from the service for {MISSED_PONGS} heartbeats of {heartbeat:?}: the connection is dead")));
                    }
                }
                nonce = nonce.wrapping_add(1);
                outstanding = Some((nonce, Instant::now()));
                if state.send(Frame::Ping(Ping { nonce })).await.is_err() {
                    break Err(lost("the session's writer stopped"));
                }
            }
            _ = state.done.notified(), if state.draining.is_some() => {}
            _ = shutdown.changed(), if !shutting_down => shutting_down = true,
        }
    };

    // Requests whose answer can no longer be delivered stop here; on a clean end there are none.
    for (_, handle) in lock(&state.in_flight).drain() {
        handle.abort();
    }
    drop(state);
    if result.is_ok() {
        // The answers already queued go out before the close.
        let _ = timeout(Duration::from_secs(10), writer).await;
    } else {
        writer.abort();
    }
    result
}

fn lost(reason: &str) -> Error {
    Error::Unreachable { call: "the session", reason: reason.to_string() }
}

fn protocol(error: idplane_agent_protocol::Error) -> Error {
    Error::Protocol(format!("{error} (the session is closed and opened again)"))
}

struct State<'a> {
    context: &'a Context,
    out: mpsc::Sender<Message>,
    in_flight: InFlight,
    permits: Arc<Semaphore>,
    /// Signalled by each finished request, so that a drain notices the last one.
    done: Arc<Notify>,
    targets: Targets,
    max_body: usize,
    max_in_flight: usize,
    default_deadline: Duration,
    draining: Option<Ended>,
}

impl State<'_> {
    async fn send(&self, frame: Frame) -> Result<(), Error> {
        self.out.send(binary(&frame)?).await.map_err(|_| lost("the session's writer stopped"))
    }

    async fn refuse(&self, id: u64, kind: FailureKind, message: String) -> Result<(), Error> {
        tracing::warn!(id, ?kind, %message, "request refused");
        self.send(Frame::Failure(Failure { id, kind, message })).await
    }

    /// Starts a request, or refuses it at once.
    async fn request(&mut self, request: Request) -> Result<(), Error> {
        let id = request.id;
        if self.draining.is_some() {
            return self.refuse(id, FailureKind::Busy, "the agent is draining and takes no new requests".into()).await;
        }
        let url = match Url::parse(&request.url) {
            Ok(url) if self.targets.allows(&url) => url,
            _ => {
                let message = format!(
                    "the agent refuses {}: it is not under its targets ({}); assign the application to this agent \
                     with that tenant URL, or widen the agent's allow_list",
                    request.url,
                    self.targets.describe()
                );
                return self.refuse(id, FailureKind::NotAllowed, message).await;
            }
        };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            let message = format!(
                "the agent already performs {} requests, the session's maxInFlight: send fewer at once",
                self.max_in_flight
            );
            return self.refuse(id, FailureKind::Busy, message).await;
        };
        let deadline =
            if request.deadline_ms == 0 { self.default_deadline } else { Duration::from_millis(request.deadline_ms) };
        let (relay, out, in_flight, done, max_body) =
            (self.context.relay.clone(), self.out.clone(), self.in_flight.clone(), self.done.clone(), self.max_body);
        let (method, shown_url) = (request.method.clone(), request.url.clone());
        // The table is locked across the spawn, so that the task's own removal cannot come before the insertion.
        let mut table = lock(&self.in_flight);
        let task = tokio::spawn(async move {
            let answer = relay.perform(request, url, deadline, max_body).await;
            drop(permit);
            // Cancelled meanwhile: the cancellation was the answer.
            if lock(&in_flight).remove(&id).is_none() {
                return;
            }
            match &answer {
                Frame::Response(r) => {
                    tracing::debug!(id, %method, url = %shown_url, status = r.status, elapsed_ms = r.elapsed_ms, "relayed")
                }
                Frame::Failure(f) => {
                    tracing::warn!(id, %method, url = %shown_url, kind = ?f.kind, message = %f.message, "request failed")
                }
                _ => {}
            }
            let message = binary(&answer).or_else(|e| {
                let message = format!("the target's response cannot be relayed: {e}");
                binary(&Frame::Failure(Failure { id, kind: FailureKind::InvalidResponse, message }))
            });
            if let Ok(message) = message {
                let _ = out.send(message).await;
            }
            done.notify_one();
        });
        table.insert(id, task.abort_handle());
        Ok(())
    }
}
