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
use livesurgery_domain::events::{AccessDenied, FirstFrameDecoded, LeaveReason};
use livesurgery_domain::permissions::Action;
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::{SessionCommand, SessionStatus};
use livesurgery_domain::{CommandContext, DomainError, Event};
use livesurgery_projections::UserRow;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::protocol::{
    self, CLIENT_TYPES, ClientMessage, Ref, ServerMessage, SessionSnapshot, Welcome, WelcomeReason,
    close,
};
use super::{Gateway, Push, Resume, Signal};
use crate::app::commands::CommandError;
use crate::app::identity::participant_context;
use crate::app::media::{media_permissions, valid_label};
use crate::app::{App, AppError, ErrorKind, JoinChannel};
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
    actix_web::rt::spawn(run_writes(writer.clone(), queued, answered));
    let connection = Connection {
        signal: registration.signal.clone(),
        writer,
        jobs,
        gateway,
        socket,
        limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        last_sent: 0,
        present: false,
    };
    actix_web::rt::spawn(connection.run(registration, incoming, answers));
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

/// Writes from one connection, run one at a time by the connection's writer task.
struct Job {
    reference: Ref,
    command: SessionCommand,
    action: Action,
    kind: &'static str,
}

/// Writes queued per connection; more get `rate_limited`.
const WRITES_IN_FLIGHT: usize = 128;

/// What a connection's writes need: who writes, in which session.
struct Writer {
    app: Arc<App>,
    sfu: web::Data<Sfu>,
    session_id: Uuid,
    claims: JoinClaims,
}

impl Writer {
    /// The user's command context now; a deactivated user's connection closes.
    async fn context(&self) -> Flow<CommandContext> {
        let user = match self.app.user(self.claims.sub).await {
            Ok(Some(user)) if user.active => user,
            Ok(_) => {
                return Err(Ending::new(
                    close::REMOVED,
                    "user deactivated",
                    Some(LeaveReason::Disconnected),
                ));
            }
            Err(error) => {
                tracing::error!(%error, "could not load a WebSocket user");
                return Err(Ending::internal());
            }
        };
        Ok(self.context_for(&user))
    }

    /// The command context of this participant's user now.
    fn context_for(&self, user: &UserRow) -> CommandContext {
        participant_context(user, self.claims.pid)
    }

    /// Runs a write; the answer is `ack` or `error`, and a refused write is recorded as
    /// AccessDenied.
    async fn command(&self, job: Job) -> Flow<ServerMessage> {
        let Job {
            reference,
            command,
            action,
            kind,
        } = job;
        let ctx = self.context().await?;
        let correlation_id = Uuid::now_v7();
        let result = self
            .app
            .execute_session_command(&ctx, self.session_id, &command, correlation_id)
            .await;
        let answer = match result {
            Ok(accepted) => {
                let layout_version = accepted
                    .events
                    .iter()
                    .find_map(|e| match e {
                        Event::LayoutUpdated(u) => Some(u.version),
                        Event::SourceSelected(s) => Some(s.layout_version),
                        _ => None,
                    })
                    .unwrap_or_default();
                let layout_version = Some(layout_version);
                ServerMessage::Ack {
                    reference,
                    layout_version,
                    position: accepted.append.last_position,
                }
            }
            Err(CommandError::Domain(
                denied @ (DomainError::Forbidden { .. } | DomainError::NotAMember { .. }),
            )) => {
                let reason = denied.to_string();
                self.app
                    .append_denied(
                        ctx.clone(),
                        correlation_id,
                        AccessDenied {
                            user_id: ctx.user_id,
                            session_id: Some(self.session_id),
                            action,
                            method: "WS".to_owned(),
                            route: format!("/v1/sessions/{{id}}/ws {kind}"),
                            status: 403,
                            reason: reason.clone(),
                        },
                    )
                    .await;
                ServerMessage::error(Some(reference), "forbidden", reason)
            }
            Err(other) => {
                let error = AppError::from(other);
                if error.kind == ErrorKind::Internal {
                    tracing::error!(%error, "a WebSocket write failed");
                }
                ServerMessage::Error {
                    reference: Some(reference),
                    code: error.code.to_owned(),
                    message: error.message,
                    current_version: error.current_version,
                }
            }
        };
        Ok(answer)
    }
}

/// The writer task of a connection: runs its writes in order and hands the answers back.
async fn run_writes(
    writer: Arc<Writer>,
    mut jobs: mpsc::Receiver<Job>,
    answers: mpsc::Sender<Flow<ServerMessage>>,
) {
    while let Some(job) = jobs.recv().await {
        if answers.send(writer.command(job).await).await.is_err() {
            return;
        }
    }
}

struct Connection {
    /// Who this connection is, in which session (shared with its writer task).
    writer: Arc<Writer>,
    jobs: mpsc::Sender<Job>,
    gateway: Arc<Gateway>,
    signal: Arc<Signal>,
    socket: actix_ws::Session,
    limiter: DefaultDirectRateLimiter,
    /// The position of the last event the client has (from a welcome, a replay or a push).
    last_sent: u64,
    /// Whether this connection's participant is present (its leave is this connection's to
    /// record).
    present: bool,
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

    fn count_in(&self, kind: &str) {
        self.gateway
            .metrics
            .ws_messages_in
            .with_label_values(&[kind])
            .inc();
    }

    /// Handles one text message.
    async fn text(&mut self, text: &str) -> Flow {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                self.count_in("invalid");
                return self
                    .send(&ServerMessage::error(
                        None,
                        "invalid_message",
                        format!("not a JSON message: {e}"),
                    ))
                    .await;
            }
        };
        let reference = value
            .get("ref")
            .and_then(|r| r.as_str())
            .and_then(|r| Ref::try_from(r.to_owned()).ok());
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .and_then(|t| CLIENT_TYPES.iter().find(|k| **k == t))
            .copied()
            .unwrap_or("invalid");
        self.count_in(kind);
        if self.limiter.check().is_err() {
            return self
                .send(&ServerMessage::error(
                    reference,
                    "rate_limited",
                    format!(
                        "more than {} messages per second: this one was dropped",
                        self.writer.app.settings.ws_rate_per_sec
                    ),
                ))
                .await;
        }
        let message: ClientMessage = match serde_json::from_value(value) {
            Ok(message) => message,
            Err(e) => {
                return self
                    .send(&ServerMessage::error(
                        reference,
                        "invalid_message",
                        e.to_string(),
                    ))
                    .await;
            }
        };
        match message {
            ClientMessage::Resume { .. } => {
                self.send(&ServerMessage::error(
                    None,
                    "invalid_message",
                    "resume is only accepted as the first message of a connection",
                ))
                .await
            }
            ClientMessage::Ping { reference } => {
                self.send(&ServerMessage::Pong {
                    reference,
                    time: Utc::now(),
                })
                .await
            }
            ClientMessage::MediaSubscribe { reference, slots } => {
                let answer = match self.writer.sfu.select_checked(
                    self.writer.session_id,
                    self.writer.claims.pid,
                    &slots,
                ) {
                    Ok(resources) => ServerMessage::MediaSubscribed {
                        reference,
                        resources,
                    },
                    Err(error) => ServerMessage::error(Some(reference), error.code, error.message),
                };
                self.send(&answer).await
            }
            ClientMessage::MediaFirstFrame {
                reference,
                source_id,
                join_to_first_frame_ms,
            } => {
                let answer = self
                    .first_frame(reference, source_id, join_to_first_frame_ms)
                    .await?;
                self.send(&answer).await
            }
            ClientMessage::LayoutUpdate {
                reference,
                base_version,
                changes,
            } => {
                let command = SessionCommand::UpdateLayout {
                    base_version,
                    changes,
                };
                self.command(reference, command, Action::UpdateLayout, "layout.update")
                    .await
            }
            ClientMessage::SourceSelect {
                reference,
                panel_id,
                source_id,
            } => {
                let command = SessionCommand::SelectSource {
                    panel_id,
                    source_id,
                };
                self.command(reference, command, Action::SelectSource, "source.select")
                    .await
            }
        }
    }

    async fn context(&self) -> Flow<CommandContext> {
        self.writer.context().await
    }

    /// Records the client's first decoded frame (`FirstFrameDecoded`).
    async fn first_frame(
        &self,
        reference: Ref,
        source_id: Option<String>,
        join_to_first_frame_ms: u64,
    ) -> Flow<ServerMessage> {
        if source_id.as_deref().is_some_and(|s| !valid_label(s))
            || join_to_first_frame_ms > 24 * 3600 * 1000
        {
            return Ok(ServerMessage::error(
                Some(reference),
                "invalid_message",
                "source_id must be a source label and join_to_first_frame_ms at most a day",
            ));
        }
        let ctx = self.context().await?;
        let writer = &self.writer;
        let event = Event::FirstFrameDecoded(FirstFrameDecoded {
            session_id: writer.session_id,
            participant_id: writer.claims.pid,
            user_id: ctx.user_id,
            source: source_id,
            join_to_first_frame_ms,
        });
        let answer = match writer
            .app
            .record_session_facts(writer.session_id, &[(event, ctx)], Uuid::now_v7())
            .await
        {
            Ok(append) => ServerMessage::Ack {
                reference,
                layout_version: None,
                position: append.last_position,
            },
            Err(error) => {
                tracing::error!(%error, "could not record a first frame");
                ServerMessage::error(Some(reference), "internal", "the event was not recorded")
            }
        };
        Ok(answer)
    }

    async fn check_user(&self) -> Flow {
        self.context().await.map(|_| ())
    }

    /// Hands a write to the connection's writer task; its answer comes back to the loop, so
    /// pushes keep flowing while the write waits for its turn on the session's stream.
    async fn command(
        &mut self,
        reference: Ref,
        command: SessionCommand,
        action: Action,
        kind: &'static str,
    ) -> Flow {
        let job = Job {
            reference: reference.clone(),
            command,
            action,
            kind,
        };
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.send(&ServerMessage::error(
                    Some(reference),
                    "rate_limited",
                    format!("more than {WRITES_IN_FLIGHT} writes waiting: this one was dropped"),
                ))
                .await
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Ending::internal()),
        }
    }

    /// Makes the token's participant present (a connection is a presence), unless it already
    /// is, e.g. right after `participants:join`. A session that is not live is watched
    /// without presence.
    async fn ensure_present(&mut self) -> Flow {
        let gateway = self.gateway.clone();
        let _presence = gateway.presence_lock(self.writer.claims.pid).await;
        let snapshot = self.snapshot().await?;
        let state = &snapshot.state;
        if state.role_of(self.writer.claims.sub).is_none() {
            return Err(Ending::new(close::REMOVED, "not a member", None));
        }
        if state.participants.contains_key(&self.writer.claims.pid) {
            self.present = true;
            return Ok(());
        }
        if state.status != Some(SessionStatus::Live) {
            return Ok(());
        }
        let ctx = self.context().await?;
        let command = SessionCommand::JoinParticipant {
            participant_id: self.writer.claims.pid,
            device: None,
        };
        match self
            .writer
            .app
            .execute_session_command(&ctx, self.writer.session_id, &command, Uuid::now_v7())
            .await
        {
            Ok(_) | Err(CommandError::Domain(DomainError::AlreadyPresent { .. })) => {
                self.present = true;
                Ok(())
            }
            Err(CommandError::Domain(
                DomainError::Forbidden { .. } | DomainError::NotAMember { .. },
            )) => Err(Ending::new(close::REMOVED, "not a member", None)),
            // Ended meanwhile: watch without presence.
            Err(CommandError::Domain(DomainError::InvalidTransition { .. })) => Ok(()),
            Err(error) => {
                tracing::error!(%error, "could not record a WebSocket participant's join");
                Err(Ending::internal())
            }
        }
    }

    async fn snapshot(&self) -> Flow<super::SnapshotAt> {
        self.gateway
            .snapshot(self.writer.session_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, "could not read a session snapshot");
                Ending::internal()
            })
    }

    async fn welcome(&mut self, reason: WelcomeReason) -> Flow {
        let snapshot = self.snapshot().await?;
        let Some(session) = SessionSnapshot::of(&snapshot.state) else {
            return Err(Ending::new(1011, "no such session", None));
        };
        let role = snapshot
            .state
            .role_of(self.writer.claims.sub)
            .unwrap_or(SessionRole::Observer);
        let org_role = self.context().await?.org_role;
        let welcome = Welcome {
            protocol: protocol::PROTOCOL_VERSION,
            reason,
            participant_id: self.writer.claims.pid,
            user_id: self.writer.claims.sub,
            role,
            permissions: media_permissions(org_role, Some(role)),
            position: snapshot.position,
            heartbeat_interval_ms: self.heartbeat_interval().as_millis() as u64,
            heartbeat_timeout_ms: self.heartbeat_timeout().as_millis() as u64,
            session,
        };
        self.last_sent = snapshot.position;
        self.send(&ServerMessage::Welcome(Box::new(welcome))).await
    }

    async fn resume(&mut self, after_position: u64) -> Flow {
        let resume = self
            .gateway
            .resume(self.writer.session_id, after_position)
            .await
            .map_err(|error| {
                tracing::error!(%error, "could not read the events to resume");
                Ending::internal()
            })?;
        match resume {
            Resume::TooFarBehind => self.welcome(WelcomeReason::ResumeTooFarBehind).await,
            Resume::UnknownPosition => self.welcome(WelcomeReason::ResumeUnknownPosition).await,
            Resume::Replay { events, position } => {
                let replayed = events.len() as u64;
                for event in events {
                    self.deliver(Push::replayed(event), false).await?;
                }
                self.last_sent = position;
                self.send(&ServerMessage::Resumed {
                    after_position,
                    position,
                    replayed,
                })
                .await
            }
        }
    }

    /// Sends one event unless the client has it already; a `live` push (not a replay) counts
    /// in the push latency.
    async fn deliver(&mut self, push: Push, live: bool) -> Flow {
        if push.position <= self.last_sent {
            return Ok(());
        }
        self.send_text(push.text.clone(), "event").await?;
        self.last_sent = push.position;
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

    /// Records the participant's leave, unless another connection of it has registered on
    /// this server meanwhile (a reconnect that beat this connection's end).
    async fn leave(&self, reason: LeaveReason) {
        let _presence = self.gateway.presence_lock(self.writer.claims.pid).await;
        if self
            .gateway
            .is_connected(self.writer.session_id, self.writer.claims.pid)
        {
            return;
        }
        // A deactivated user's participant leaves too.
        let Ok(Some(user)) = self.writer.app.user(self.writer.claims.sub).await else {
            return;
        };
        let ctx = self.writer.context_for(&user);
        let command = SessionCommand::LeaveParticipant {
            participant_id: self.writer.claims.pid,
            reason,
        };
        match self
            .writer
            .app
            .execute_session_command(&ctx, self.writer.session_id, &command, Uuid::now_v7())
            .await
        {
            Ok(_)
            | Err(CommandError::Domain(
                DomainError::NotPresent { .. } | DomainError::InvalidTransition { .. },
            )) => {}
            Err(error) => tracing::error!(%error, "could not record a participant's leave"),
        }
    }
}
