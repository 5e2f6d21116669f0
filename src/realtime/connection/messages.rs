//! What a connection does with each message its client sends.

use super::*;

impl Connection {
    pub(super) fn count_in(&self, kind: &str) {
        self.gateway
            .metrics
            .ws_messages_in
            .with_label_values(&[kind])
            .inc();
    }

    /// Handles one text message.
    pub(super) async fn text(&mut self, text: &str) -> Flow {
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
        // Teaching messages have rates of their own, checked before the shared write limits so
        // that a refused flood does not use up the user's writes.
        if let Some(refusal) = self.teaching_rates.refusal(kind, reference.clone()) {
            return self.send(&refusal).await;
        }
        // The same write limits per user and per address as REST: more connections buy no
        // more rate.
        if kind != "ping"
            && let Err(limited) = self
                .writer
                .app
                .write_limiter
                .check(Some(self.writer.claims.sub), self.address)
        {
            return self
                .send(&ServerMessage::error(
                    reference,
                    limited.code,
                    limited.message,
                ))
                .await;
        }
        // Authorisation before validation: a participant who may not send this kind of
        // message is refused whatever its body holds.
        if let Some(action) = action_of(kind)
            && let Some(refused) = self.refused(kind, action, reference.clone()).await?
        {
            return self.send(&refused).await;
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
                self.command(
                    reference,
                    Write::Command(command),
                    Action::UpdateLayout,
                    "layout.update",
                )
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
                self.command(
                    reference,
                    Write::Command(command),
                    Action::SelectSource,
                    "source.select",
                )
                .await
            }
            ClientMessage::RecordingStart { reference } => {
                let write = Write::Recording(RecordingChange::Start);
                self.command(reference, write, Action::StartRecording, "recording.start")
                    .await
            }
            ClientMessage::RecordingStop { reference } => {
                let write = Write::Recording(RecordingChange::Stop);
                self.command(reference, write, Action::StopRecording, "recording.stop")
                    .await
            }
            ClientMessage::AnnotationStroke {
                reference,
                stroke_id,
                panel_id,
                source_id,
                media_time_ms,
                kind: stroke_kind,
                points,
                color,
                width,
                pinned,
            } => {
                let points = match crate::app::teaching::stroke_points(&points) {
                    Ok(points) => points,
                    Err(error) => {
                        return self
                            .send(&ServerMessage::error(
                                Some(reference),
                                error.code,
                                error.message,
                            ))
                            .await;
                    }
                };
                let command = SessionCommand::DrawStroke {
                    stroke_id,
                    panel_id,
                    source_id,
                    media_time_ms,
                    kind: stroke_kind,
                    points,
                    color,
                    width,
                    pinned,
                };
                self.command(reference, Write::Command(command), Action::Annotate, kind)
                    .await
            }
            ClientMessage::AnnotationClear {
                reference,
                scope,
                panel_id,
            } => {
                let action = match scope {
                    ClearScope::Mine => Action::Annotate,
                    ClearScope::All => Action::ClearAnnotations,
                };
                let command = SessionCommand::ClearAnnotations { scope, panel_id };
                self.command(reference, Write::Command(command), action, kind)
                    .await
            }
            ClientMessage::PointerMove {
                reference,
                panel_id,
                source_id,
                points,
            } => {
                let command = SessionCommand::MovePointer {
                    panel_id,
                    source_id,
                    points,
                };
                self.command(reference, Write::Command(command), Action::Annotate, kind)
                    .await
            }
            ClientMessage::ChatPost {
                reference,
                message_id,
                text,
                mentions,
            } => {
                let command = SessionCommand::PostChatMessage {
                    message_id,
                    text,
                    mentions,
                };
                self.command(reference, Write::Command(command), Action::PostChat, kind)
                    .await
            }
            ClientMessage::QuestionAsk {
                reference,
                question_id,
                text,
            } => {
                let command = SessionCommand::AskQuestion { question_id, text };
                self.command(
                    reference,
                    Write::Command(command),
                    Action::AskQuestion,
                    kind,
                )
                .await
            }
            ClientMessage::QuestionAnswer {
                reference,
                question_id,
            } => {
                let command = SessionCommand::AnswerQuestion { question_id };
                let action = Action::AnswerQuestion;
                self.command(reference, Write::Command(command), action, kind)
                    .await
            }
            ClientMessage::HandRaise { reference } => {
                let command = SessionCommand::RaiseHand;
                self.command(reference, Write::Command(command), Action::RaiseHand, kind)
                    .await
            }
            ClientMessage::HandLower { reference, user_id } => {
                let action = match user_id {
                    Some(user) if user != self.writer.claims.sub => Action::LowerHands,
                    _ => Action::RaiseHand,
                };
                let command = SessionCommand::LowerHand { user_id };
                self.command(reference, Write::Command(command), action, kind)
                    .await
            }
            ClientMessage::TeachingSettings {
                reference,
                observers_may_annotate,
                observer_chat,
                stroke_fade_ms,
            } => {
                let command = SessionCommand::ChangeTeachingSettings {
                    observers_may_annotate,
                    observer_chat,
                    stroke_fade_ms,
                };
                let action = Action::ChangeTeachingSettings;
                self.command(reference, Write::Command(command), action, kind)
                    .await
            }
        }
    }

    /// The `forbidden` answer when this participant may not do `action` now (recorded as
    /// `AccessDenied`, as a refused write is); `None` when they may.
    async fn refused(
        &self,
        kind: &'static str,
        action: Action,
        reference: Option<Ref>,
    ) -> Flow<Option<ServerMessage>> {
        let ctx = self.context().await?;
        let writer = &self.writer;
        let role = match writer.app.member_role(writer.session_id, ctx.user_id).await {
            Ok(role) => role,
            Err(error) => {
                tracing::error!(%error, "could not load a WebSocket member's role");
                return Err(Ending::internal());
            }
        };
        let Err(denied) = livesurgery_domain::permissions::authorize(ctx.org_role, role, action)
        else {
            return Ok(None);
        };
        let op = crate::app::Operation {
            method: "WS".to_owned(),
            route: format!("/v1/sessions/{{id}}/ws {kind}"),
        };
        let refusal = crate::app::access::Refusal {
            session_id: Some(writer.session_id),
            action,
            status: 403,
            reason: &denied.reason,
        };
        writer
            .app
            .record_refusal(&op, &ctx, Uuid::now_v7(), refusal)
            .await;
        Ok(Some(ServerMessage::error(
            reference,
            "forbidden",
            denied.reason,
        )))
    }

    pub(super) async fn context(&self) -> Flow<CommandContext> {
        self.writer.context().await
    }

    /// Records the client's first decoded frame (`FirstFrameDecoded`).
    pub(super) async fn first_frame(
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
                recording_id: None,
                position: append.last_position,
            },
            Err(error) => {
                tracing::error!(%error, "could not record a first frame");
                ServerMessage::error(Some(reference), "internal", "the event was not recorded")
            }
        };
        Ok(answer)
    }

    pub(super) async fn check_user(&self) -> Flow {
        self.context().await.map(|_| ())
    }

    /// Hands a write to the connection's writer task; its answer comes back to the loop, so
    /// pushes keep flowing while the write waits for its turn on the session's stream.
    pub(super) async fn command(
        &mut self,
        reference: Ref,
        write: Write,
        action: Action,
        kind: &'static str,
    ) -> Flow {
        let job = Job {
            reference: reference.clone(),
            write,
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
}

/// The action a kind of client message needs, checked before its body is read.
fn action_of(kind: &str) -> Option<Action> {
    match kind {
        "layout.update" => Some(Action::UpdateLayout),
        "source.select" => Some(Action::SelectSource),
        "recording.start" => Some(Action::StartRecording),
        "recording.stop" => Some(Action::StopRecording),
        "media.subscribe" => Some(Action::SubscribeMedia),
        // Clearing everyone's strokes and lowering someone else's hand need more, which the
        // body says: the domain checks that.
        "annotation.stroke" | "annotation.clear" | "pointer.move" => Some(Action::Annotate),
        "chat.post" => Some(Action::PostChat),
        "question.ask" => Some(Action::AskQuestion),
        "question.answer" => Some(Action::AnswerQuestion),
        "hand.raise" | "hand.lower" => Some(Action::RaiseHand),
        "teaching.settings" => Some(Action::ChangeTeachingSettings),
        _ => None,
    }
}
