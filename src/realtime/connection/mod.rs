//! One WebSocket connection: authentication at the upgrade, then a task that owns the socket
//! and serves the protocol (README: Realtime).
//!
//! The task waits on five things at once: a close signal from the gateway (slow consumer,
//! replaced), pushes from the gateway, client frames, the heartbeat tick and the token's expiry.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use chrono::Utc;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use livesurgery_domain::events::{ClearScope, FirstFrameDecoded, LeaveReason};
use livesurgery_domain::permissions::Action;
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::{MediaPlacement, SessionCommand, SessionStatus};
use livesurgery_domain::{CommandContext, DomainError, Event};
use livesurgery_projections::UserRow;
use tokio::sync::mpsc;
use tracing::Instrument;
use uuid::Uuid;

use super::protocol::{
    self, CLIENT_TYPES, ClientMessage, RecordingFlag, Ref, ServerMessage, SessionSnapshot, Welcome,
    WelcomeReason, close,
};
use super::{Gateway, Push, Resume, Signal, SnapshotAt};
use rates::TeachingRates;
use writes::{Job, WRITES_IN_FLIGHT, Write, Writer, run_writes};

mod messages;
mod presence;
mod rates;
mod writes;
use crate::app::commands::CommandError;
use crate::app::identity::participant_context;
use crate::app::media::{media_permissions, valid_label};
use crate::app::placement::MediaLocation;
use crate::app::{App, AppError, ErrorKind, JoinChannel, RecordingChange};
use crate::auth::JoinClaims;
use crate::sfu::Sfu;

/// The realtime channel of a session (`GET /v1/sessions/{id}/ws`, documented with the rest of
/// the HTTP surface in `api/`): the WS token of `participants:join` is checked, then the
/// connection is upgraded and served by its own task.
pub async fn ws(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<Uuid>,
    app: web::Data<App>,
    gateway: web::Data<Gateway>,
    sfu: web::Data<Sfu>,
) -> Result<HttpResponse, AppError> {
    let session_id = path.into_inner();
    let token = token_of(&req);
    let participant = app
        .authenticate_participant(JoinChannel::Ws, token.as_deref(), session_id)
        .await?;
    let claims = participant.claims;
    // Connected: the join is not timed out (`App::watch_join`).
    app.participant_connected(claims.pid);
    let (response, socket, incoming) =
        actix_ws::handle_with_protocols(&req, body, &[protocol::SUBPROTOCOL]).map_err(|e| {
            AppError::invalid(
                "not_a_websocket",
                format!("this endpoint speaks WebSocket only: {e}"),
            )
        })?;
    let settings = &app.settings;
    let max = settings.ws_max_message_bytes;
    let incoming = incoming
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    let rate = NonZeroU32::new(settings.ws_rate_per_sec.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(settings.ws_rate_burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let gateway = gateway.into_inner();
    let registration = gateway.register(session_id, claims.pid, settings.ws_queue);
    let writer = Arc::new(Writer {
        app: app.clone().into_inner(),
        sfu,
        session_id,
        claims,
    });
    let (jobs, queued) = mpsc::channel(WRITES_IN_FLIGHT);
    let (answered, answers) = mpsc::channel(WRITES_IN_FLIGHT);
    // The connection's log lines name its participant; a child of the upgrade request's span,
    // so they carry its request id too.
    let span = tracing::info_span!(
        "ws.connection",
        session_id = %session_id,
        participant_id = %writer.claims.pid,
        user_id = %writer.claims.sub,
    );
    actix_web::rt::spawn(run_writes(writer.clone(), queued, answered).instrument(span.clone()));
    let connection = Connection {
        signal: registration.signal.clone(),
        writer,
        jobs,
        gateway,
        socket,
        limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        teaching_rates: TeachingRates::new(),
        // The connection's peer, never a forwarded-for header (as REST's limits count it).
        address: req.peer_addr().map(|a| a.ip()),
        own_base: {
            let info = req.connection_info();
            settings.public_base(info.scheme(), info.host())
        },
        last_sent: 0,
        present: false,
    };
    actix_web::rt::spawn(
        connection
            .run(registration, incoming, answers)
            .instrument(span),
    );
    Ok(response)
}

/// The token from `?token=` or from a `bearer.<token>` subprotocol.
fn token_of(req: &HttpRequest) -> Option<String> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    if let Some((_, token)) = pairs.into_iter().find(|(k, _)| k == "token") {
        return Some(token);
    }
    req.headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(protocol::TOKEN_SUBPROTOCOL_PREFIX))
        .map(str::to_owned)
}

/// How a connection ends: the close frame to send (none when the socket is gone already) and
/// the presence event to append (none when someone else already recorded the leave).
struct Ending {
    close: Option<(u16, &'static str)>,
    leave: Option<LeaveReason>,
}

impl Ending {
    fn new(code: u16, description: &'static str, leave: Option<LeaveReason>) -> Ending {
        Ending {
            close: Some((code, description)),
            leave,
        }
    }

    /// Something on the server failed (logged where it happened).
    fn internal() -> Ending {
        Ending::new(1011, "internal error", Some(LeaveReason::Disconnected))
    }

    /// The socket is gone: nothing to send, the participant dropped off.
    fn gone() -> Ending {
        Ending {
            close: None,
            leave: Some(LeaveReason::Disconnected),
        }
    }

    /// A close raised by the gateway.
    fn signalled(code: u16) -> Ending {
        match code {
            close::SLOW_CONSUMER => Ending::new(
                code,
                "slow_consumer: resume",
                Some(LeaveReason::Disconnected),
            ),
            // The new connection carries on as the same participant.
            close::REPLACED => Ending::new(code, "replaced", None),
            _ => Ending::new(
                code,
                "server shutting down",
                Some(LeaveReason::Disconnected),
            ),
        }
    }
}

type Flow<T = ()> = Result<T, Ending>;

/// What woke the connection's loop.
enum Step {
    Signal(u16),
    Push(Option<Push>),
    Frame(Option<Result<AggregatedMessage, ProtocolError>>),
    Answer(Option<Flow<ServerMessage>>),
    Tick,
    Expired,
}

struct Connection {
    /// Who this connection is, in which session (shared with its writer task).
    writer: Arc<Writer>,
    jobs: mpsc::Sender<Job>,
    gateway: Arc<Gateway>,
    signal: Arc<Signal>,
    socket: actix_ws::Session,
    limiter: DefaultDirectRateLimiter,
    /// The rates of strokes, pointer batches and chat of this connection's participant.
    teaching_rates: TeachingRates,
    /// The client's address, for the write limits per address shared with REST.
    address: Option<std::net::IpAddr>,
    /// The position of the last event the client has (from a welcome, a replay or a push).
    last_sent: u64,
    /// Whether this connection's participant is present (its leave is this connection's to
    /// record).
    present: bool,
    /// This server's base URL as the client reached it (for the media URLs it is told).
    own_base: String,
}

impl Connection {
    async fn run(
        mut self,
        mut registration: super::Registration,
        mut incoming: actix_ws::AggregatedMessageStream,
        mut answers: mpsc::Receiver<Flow<ServerMessage>>,
    ) {
        let metrics = self.gateway.metrics.clone();
        metrics.ws_connected.inc();
        let ending = match self
            .serve(&mut registration, &mut incoming, &mut answers)
            .await
        {
            Ok(()) => Ending::new(1000, "", None),
            Err(ending) => ending,
        };
        drop(registration);
        if let Some((code, description)) = ending.close {
            let reason = CloseReason {
                code: CloseCode::from(code),
                description: (!description.is_empty()).then(|| description.to_owned()),
            };
            let _ = self.socket.clone().close(Some(reason)).await;
        }
        if let (true, Some(reason)) = (self.present, ending.leave) {
            self.leave(reason).await;
        }
        metrics.ws_connected.dec();
    }

    fn heartbeat_timeout(&self) -> Duration {
        Duration::from_secs(self.writer.app.settings.ws_heartbeat_timeout_secs.max(1))
    }

    /// How often the server pings (and checks the user): a third of the timeout.
    fn heartbeat_interval(&self) -> Duration {
        (self.heartbeat_timeout() / 3).max(Duration::from_millis(200))
    }

    async fn serve(
        &mut self,
        registration: &mut super::Registration,
        incoming: &mut actix_ws::AggregatedMessageStream,
        answers: &mut mpsc::Receiver<Flow<ServerMessage>>,
    ) -> Flow {
        let signal = self.signal.clone();
        let mut last_heard = Instant::now();

        // A first `resume` is waited for briefly; anything else gets the welcome first.
        let wait = Duration::from_millis(self.writer.app.settings.ws_resume_wait_ms);
        let mut first_text = None;
        let mut resume_from = None;
        match tokio::time::timeout(wait, incoming.recv()).await {
            Err(_) => {}
            Ok(frame) => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        match serde_json::from_str::<ClientMessage>(&text) {
                            Ok(ClientMessage::Resume { after_position }) => {
                                self.count_in("resume");
                                resume_from = Some(after_position);
                            }
                            _ => first_text = Some(text),
                        }
                    }
                    other => self.frame(other).await?,
                }
            }
        }

        self.ensure_present().await?;
        match resume_from {
            Some(after) => self.resume(after).await?,
            None => self.welcome(WelcomeReason::Connect).await?,
        }
        if let Some(text) = first_text {
            self.text(&text).await?;
        }

        let timeout = self.heartbeat_timeout();
        let mut ticker = tokio::time::interval(self.heartbeat_interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let expires_in = (self.writer.claims.exp - Utc::now().timestamp()).max(0) as u64;
        let expiry = tokio::time::sleep(Duration::from_secs(expires_in));
        tokio::pin!(expiry);
        loop {
            let step = tokio::select! {
                code = signal.raised() => Step::Signal(code),
                push = registration.pushes.recv() => Step::Push(push),
                frame = incoming.recv() => Step::Frame(frame),
                answer = answers.recv() => Step::Answer(answer),
                _ = ticker.tick() => Step::Tick,
                _ = &mut expiry => Step::Expired,
            };
            match step {
                Step::Signal(code) => return Err(Ending::signalled(code)),
                Step::Push(Some(push)) => self.deliver(push, true).await?,
                // The gateway dropped this connection's queue: it raised why first.
                Step::Push(None) => return Err(Ending::signalled(signal.code().unwrap_or(1001))),
                Step::Answer(Some(answer)) => self.send(&answer?).await?,
                Step::Answer(None) => {
                    return Err(Ending::internal());
                }
                Step::Frame(frame) => {
                    last_heard = Instant::now();
                    self.frame(frame).await?;
                }
                Step::Tick => {
                    if last_heard.elapsed() > timeout {
                        self.gateway.metrics.ws_presence_timeouts.inc();
                        return Err(Ending::new(
                            close::HEARTBEAT_TIMEOUT,
                            "heartbeat_timeout",
                            Some(LeaveReason::TimedOut),
                        ));
                    }
                    self.check_user().await?;
                    if self.socket.ping(b"").await.is_err() {
                        return Err(Ending::gone());
                    }
                }
                Step::Expired => {
                    return Err(Ending::new(
                        close::TOKEN_EXPIRED,
                        "token_expired: join again",
                        Some(LeaveReason::TokenExpired),
                    ));
                }
            }
        }
    }

    /// Handles one client frame.
    async fn frame(&mut self, frame: Option<Result<AggregatedMessage, ProtocolError>>) -> Flow {
        match frame {
            None => Err(Ending::gone()),
            Some(Err(ProtocolError::Overflow)) => Err(Ending::new(
                1009,
                "message too big",
                Some(LeaveReason::Disconnected),
            )),
            Some(Err(error)) => {
                tracing::debug!(%error, "WebSocket protocol error");
                Err(Ending::new(
                    1002,
                    "protocol error",
                    Some(LeaveReason::Disconnected),
                ))
            }
            Some(Ok(AggregatedMessage::Text(text))) => self.text(&text).await,
            Some(Ok(AggregatedMessage::Binary(_))) => {
                self.count_in("invalid");
                self.send(&ServerMessage::error(
                    None,
                    "invalid_message",
                    "binary frames are not part of the protocol: send JSON text",
                ))
                .await
            }
            Some(Ok(AggregatedMessage::Ping(bytes))) => {
                if self.socket.pong(&bytes).await.is_err() {
                    return Err(Ending::gone());
                }
                Ok(())
            }
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Ok(AggregatedMessage::Close(_))) => {
                Err(Ending::new(1000, "", Some(LeaveReason::Left)))
            }
        }
    }

    /// Sends one event unless the client has it already; a `live` push (not a replay) counts
    /// in the push latency.
    async fn deliver(&mut self, push: Push, live: bool) -> Flow {
        if push.position <= self.last_sent {
            return Ok(());
        }
        // A live push is the last step of the write that caused it: a span in its trace. A
        // replay is the client's resume, not part of that write.
        let span = if live {
            crate::telemetry::trace::push_span(
                push.correlation_id,
                &push.event_type,
                push.position,
                self.writer.session_id,
                self.writer.claims.pid,
            )
        } else {
            tracing::Span::none()
        };
        self.send_text(push.text.clone(), "event")
            .instrument(span)
            .await?;
        self.last_sent = push.position;
        if let Some(placed) = &push.placed {
            let (placement, reason) = placed.as_ref();
            let location = self.media_location(placement);
            self.send(&ServerMessage::MediaPlaced {
                position: push.position,
                reason: *reason,
                location,
            })
            .await?;
        }
        if live {
            let latency = (Utc::now() - push.recorded_at)
                .num_microseconds()
                .unwrap_or(0);
            self.gateway
                .metrics
                .ws_push_latency
                .observe(latency.max(0) as f64 / 1e6);
        }
        if let Some((participant_id, kicked)) = push.participant_left
            && participant_id == self.writer.claims.pid
        {
            // Someone else recorded this participant's leave.
            self.present = false;
            if kicked {
                return Err(Ending::new(
                    close::REMOVED,
                    "removed from the session",
                    None,
                ));
            }
        }
        if push.ends_session {
            return Err(Ending::new(1000, "session over", Some(LeaveReason::Left)));
        }
        Ok(())
    }

    /// Where a placement's WHIP/WHEP are, as this connection's client reaches them.
    fn media_location(&self, placement: &MediaPlacement) -> MediaLocation {
        self.writer
            .app
            .placements
            .location(self.writer.session_id, placement, &self.own_base)
    }

    async fn send(&mut self, message: &ServerMessage) -> Flow {
        self.send_text(message.to_text().into(), message.kind())
            .await
    }

    /// Hands a frame to the socket; a close signal (slow consumer) interrupts a blocked send.
    async fn send_text(&mut self, text: bytestring::ByteString, kind: &str) -> Flow {
        let signal = self.signal.clone();
        tokio::select! {
            sent = self.socket.text(text) => sent.map_err(|_| Ending::gone())?,
            code = signal.raised() => return Err(Ending::signalled(code)),
        }
        self.gateway
            .metrics
            .ws_messages_out
            .with_label_values(&[kind])
            .inc();
        Ok(())
    }
}
