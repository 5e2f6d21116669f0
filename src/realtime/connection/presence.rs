//! A connection's presence and its view of the session: join on connect, the welcome
//! snapshot, resume, and the leave when it ends.

use super::*;

impl Connection {
    /// Makes the token's participant present (a connection is a presence), unless it already
    /// is, e.g. right after `participants:join`. A session that is not live is watched
    /// without presence.
    pub(super) async fn ensure_present(&mut self) -> Flow {
        // Media presence asks this gateway whether a participant has a socket here.
        let sockets = Arc::downgrade(&self.gateway);
        self.writer
            .app
            .media_presence
            .set_sockets(Box::new(move |session_id, participant_id| {
                sockets
                    .upgrade()
                    .is_some_and(|g| g.is_connected(session_id, participant_id))
            }));
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

    pub(super) async fn snapshot(&self) -> Flow<SnapshotAt> {
        self.gateway
            .snapshot(self.writer.session_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, "could not read a session snapshot");
                Ending::internal()
            })
    }

    pub(super) async fn welcome(&mut self, reason: WelcomeReason) -> Flow {
        let snapshot = self.snapshot().await?;
        let media = |placement: &MediaPlacement| self.media_location(placement);
        let Some(session) = SessionSnapshot::of(&snapshot.state, Utc::now(), media) else {
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
            recording: RecordingFlag::of(&snapshot.state),
        };
        self.last_sent = snapshot.position;
        self.send(&ServerMessage::Welcome(Box::new(welcome))).await
    }

    pub(super) async fn resume(&mut self, after_position: u64) -> Flow {
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

    /// Records the participant's leave, unless another connection of it has registered on
    /// this server meanwhile (a reconnect that beat this connection's end), or its media still
    /// flows: it stays present, watching or publishing, and the SFU records its leave when
    /// its last media ends. A kick or an expired token ends the media as well.
    pub(super) async fn leave(&self, reason: LeaveReason) {
        let _presence = self.gateway.presence_lock(self.writer.claims.pid).await;
        if self
            .gateway
            .is_connected(self.writer.session_id, self.writer.claims.pid)
        {
            return;
        }
        let keeps_media = matches!(
            reason,
            LeaveReason::Left | LeaveReason::Disconnected | LeaveReason::TimedOut
        );
        if keeps_media
            && self
                .writer
                .app
                .media_presence
                .is_live(self.writer.claims.pid)
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
