//! A connection's writes (layout and source changes, starting and stopping the recording, the
//! teaching tools): run one at a time by the connection's writer task, so pushes keep flowing
//! while a write waits for its turn on the stream.

use super::*;
use crate::app::Operation;
use crate::app::access::Refusal;
use crate::app::commands::Accepted;

/// What a client's write asks of the session.
pub(super) enum Write {
    /// A command as the client sent it (layout, source, teaching).
    Command(SessionCommand),
    /// Start or stop the recording: the command depends on the session's state.
    Recording(RecordingChange),
}

/// Writes from one connection, run one at a time by the connection's writer task.
pub(super) struct Job {
    pub(super) reference: Ref,
    pub(super) write: Write,
    pub(super) action: Action,
    pub(super) kind: &'static str,
}

/// Writes queued per connection; more get `rate_limited`.
pub(super) const WRITES_IN_FLIGHT: usize = 128;

/// What a connection's writes need: who writes, in which session.
pub(super) struct Writer {
    pub(super) app: Arc<App>,
    pub(super) sfu: web::Data<Sfu>,
    pub(super) session_id: Uuid,
    pub(super) claims: JoinClaims,
}

impl Writer {
    /// The user's command context now; a deactivated user's connection closes.
    pub(super) async fn context(&self) -> Flow<CommandContext> {
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
    pub(super) fn context_for(&self, user: &UserRow) -> CommandContext {
        participant_context(user.user_id, user.role, self.claims.pid)
    }

    /// Runs a write; the answer is `ack` or `error`, and a refused write is recorded as
    /// AccessDenied.
    pub(super) async fn command(&self, job: Job) -> Flow<ServerMessage> {
        let Job {
            reference,
            write,
            action,
            kind,
        } = job;
        let correlation_id = Uuid::now_v7();
        // The root of the write's trace, as `http.request` is for a REST write.
        let span = tracing::info_span!(
            "ws.message",
            message_type = kind,
            correlation_id = %correlation_id,
        );
        crate::telemetry::trace::begin_correlation(&span, correlation_id);
        self.write(reference, write, action, kind, correlation_id)
            .instrument(span)
            .await
    }

    /// The body of [`Writer::command`], in its span.
    async fn write(
        &self,
        reference: Ref,
        write: Write,
        action: Action,
        kind: &'static str,
        correlation_id: Uuid,
    ) -> Flow<ServerMessage> {
        let ctx = self.context().await?;
        let result: Result<(Option<Uuid>, Accepted), CommandError> = match write {
            Write::Command(command) => self
                .app
                .execute_session_command(&ctx, self.session_id, &command, correlation_id)
                .await
                .map(|accepted| (None, accepted)),
            Write::Recording(change) => self
                .app
                .change_recording(&ctx, self.session_id, change, correlation_id)
                .await
                .map(|(recording_id, accepted)| (Some(recording_id), accepted)),
        };
        let answer = match result {
            Ok((recording_id, accepted)) => {
                let layout_version = accepted.events.iter().find_map(|e| match e {
                    Event::LayoutUpdated(u) => Some(u.version),
                    Event::SourceSelected(s) => Some(s.layout_version),
                    _ => None,
                });
                ServerMessage::Ack {
                    reference,
                    layout_version,
                    recording_id,
                    position: accepted.append.last_position,
                }
            }
            Err(CommandError::Domain(
                denied @ (DomainError::Forbidden { .. } | DomainError::NotAMember { .. }),
            )) => {
                let reason = denied.to_string();
                let op = Operation {
                    method: "WS".to_owned(),
                    route: format!("/v1/sessions/{{id}}/ws {kind}"),
                };
                let refusal = Refusal {
                    session_id: Some(self.session_id),
                    action,
                    status: 403,
                    reason: &reason,
                };
                self.app
                    .record_refusal(&op, &ctx, correlation_id, refusal)
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
pub(super) async fn run_writes(
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
