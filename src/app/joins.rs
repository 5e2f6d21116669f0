//! Joins that never connect: a participant whose WebSocket has not connected, and whose media
//! does not flow, within the configured time after `participants:join` leaves with reason `timed_out` (an event), so
//! that join floods leave no "present" participants behind.
//!
//! The watch is per server process: the process that answered the join watches it, and the
//! WebSocket marks its participant connected on the process it reaches. Behind a load
//! balancer, route a session's joins and WebSockets to one process (sticky sessions), or set
//! the timeout high.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livesurgery_domain::events::LeaveReason;
use livesurgery_domain::session::SessionCommand;
use livesurgery_domain::{CommandContext, DomainError};
use uuid::Uuid;

use super::App;
use super::commands::CommandError;

/// The joins watched on this process, each with whether its WebSocket has connected.
#[derive(Default)]
pub struct JoinWatch {
    watched: Mutex<HashMap<Uuid, bool>>,
}

impl JoinWatch {
    fn watched(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, bool>> {
        // A panic while holding this lock cannot leave the map inconsistent: recover it.
        self.watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl App {
    /// Marks a participant's WebSocket connected (its join is then not timed out).
    pub fn participant_connected(&self, participant_id: Uuid) {
        if let Some(connected) = self.join_watch.watched().get_mut(&participant_id) {
            *connected = true;
        }
    }

    /// Watches a new participant: unless its WebSocket connects within the configured time,
    /// it leaves with reason `timed_out`. `ctx` is the joining user's, with the participant.
    pub fn watch_join(self: &Arc<App>, session_id: Uuid, ctx: CommandContext) {
        let Some(participant_id) = ctx.participant_id else {
            return;
        };
        self.join_watch.watched().insert(participant_id, false);
        let app = Arc::clone(self);
        let timeout = Duration::from_secs(app.settings.join_connect_timeout_secs);
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let connected = app.join_watch.watched().remove(&participant_id);
            // Media that flows is a connection too (a WHIP/WHEP-only client, or a viewer whose
            // socket has not come yet): media presence records its leave when the media ends.
            if connected != Some(false) || app.media_presence.is_live(participant_id) {
                return;
            }
            let mut ctx = ctx;
            ctx.now = chrono::Utc::now();
            let command = SessionCommand::LeaveParticipant {
                participant_id,
                reason: LeaveReason::TimedOut,
            };
            match app
                .execute_session_command(&ctx, session_id, &command, Uuid::now_v7())
                .await
            {
                // Gone already (left, kicked, the session ended): nothing to time out.
                Ok(_)
                | Err(CommandError::Domain(
                    DomainError::NotPresent { .. }
                    | DomainError::InvalidTransition { .. }
                    | DomainError::Forbidden { .. }
                    | DomainError::NotAMember { .. },
                )) => {}
                Err(error) => tracing::error!(%error, "could not time out a participant"),
            }
        });
    }
}
