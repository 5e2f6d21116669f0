//! What a server that stopped without ending things (killed, crashed, power lost) left open in
//! the log, closed by the next server to start on it:
//!
//! - media: a publisher or subscriber the log shows connected has no peer any more (the SFU's
//!   peers live in the process that died). Its tracks are unpublished and its peer
//!   disconnected with reason `interrupted`, by the system actor, so that an audit replay does
//!   not show a feed playing, or a viewer watching, forever.
//! - presence: a participant the log shows present must connect again (its WebSocket resumes,
//!   or its media flows) within the join-connect time, or it leaves with reason
//!   `disconnected`.
//!
//! A graceful stop closes its media itself (reason `shutdown`) and leaves participants present
//! for their clients to resume; the presence part covers it too.
//!
//! Only what the log held when this process started (`head`) is looked at: what a peer of this
//! process writes afterwards is its own. Several server processes may share the log: a session
//! whose media is placed on a node that is still alive is that node's, and left alone (its
//! placements are noted for the heartbeat, which places again those of gone nodes once this
//! recovery is done; see `placement`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use livesurgery_domain::envelope::RecordedEvent;
use livesurgery_domain::events::{
    Event, LeaveReason, MediaEndReason, PublisherDisconnected, SubscriberDisconnected,
    TrackUnpublished, session_stream,
};
use livesurgery_domain::replay::{MediaView, replay_session};
use livesurgery_domain::session::MediaPlacement;
use livesurgery_projections::{SessionFilter, SessionStatus};
use uuid::Uuid;

use super::App;
use super::media::MediaGone;

/// How long to wait for the read models to reach the log's head at start-up before giving up.
const CATCH_UP: Duration = Duration::from_secs(120);

/// What [`App::recover_after_restart`] found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Live sessions looked at.
    pub sessions: usize,
    /// Publishers and subscribers closed with reason `interrupted`.
    pub peers_closed: usize,
    /// Participants that must connect again within the join-connect time.
    pub participants_watched: usize,
}

impl App {
    /// Closes the media, and watches the presence, that a previous server left open in the
    /// live sessions, as the log stood at `head` (read when this process started).
    pub async fn recover_after_restart(self: &Arc<App>, head: u64) -> anyhow::Result<Recovered> {
        if !self.projector.wait_for(head, CATCH_UP).await {
            anyhow::bail!(
                "the read models did not reach position {head} within {CATCH_UP:?} (at {})",
                self.projector.position()
            );
        }
        let live_nodes = self.placements.nodes.live().await?;
        let mut recovered = Recovered::default();
        let mut filter = SessionFilter {
            status: Some(SessionStatus::Live),
            limit: 1000,
            ..SessionFilter::default()
        };
        loop {
            let page = self.read_models.list_sessions(&filter).await?;
            for session in &page.items {
                self.recover_session(session.session_id, head, &live_nodes, &mut recovered)
                    .await?;
            }
            match page.next {
                Some(next) => filter.before_position = Some(next),
                None => break,
            }
        }
        if recovered.peers_closed > 0 || recovered.participants_watched > 0 {
            tracing::info!(
                sessions = recovered.sessions,
                peers_closed = recovered.peers_closed,
                participants_watched = recovered.participants_watched,
                "closed the media a previous server left open; present participants must connect again"
            );
        }
        Ok(recovered)
    }

    async fn recover_session(
        self: &Arc<App>,
        session_id: Uuid,
        head: u64,
        live_nodes: &HashMap<String, String>,
        recovered: &mut Recovered,
    ) -> anyhow::Result<()> {
        let mut events =
            crate::store::read_whole_stream(&*self.store, &session_stream(session_id)).await?;
        events.retain(|e| e.position <= head);
        let view = replay_session(&events, None)?;
        recovered.sessions += 1;

        // Where the session's media is placed: another node's peers are its own while it runs
        // (this node's, placed before a restart, died with the previous run).
        if let Some((placement, position)) = last_placement(&events)? {
            let theirs =
                !self.placements.is_here(&placement) && live_nodes.contains_key(&placement.node_id);
            self.placements.remember(session_id, placement, position);
            if theirs {
                return Ok(());
            }
        }

        let facts = interrupted_media(session_id, &view.media);
        let peers = view.media.sources.len() + view.media.subscribers.len();
        if !facts.is_empty() {
            self.record_system_facts(session_id, facts).await?;
            recovered.peers_closed += peers;
        }

        // Each participant present must come back within the join-connect time.
        let wait = Duration::from_secs(self.settings.join_connect_timeout_secs);
        for participant in &view.participants {
            let Some(user) = self.read_models.get_user(participant.user_id).await? else {
                continue;
            };
            let gone = MediaGone {
                session_id,
                participant_id: participant.participant_id,
                user_id: participant.user_id,
                org_role: user.role,
                reason: LeaveReason::Disconnected,
            };
            let app = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                // Records the leave unless its WebSocket is connected or its media flows.
                app.leave_after_media(gone).await;
            });
            recovered.participants_watched += 1;
        }
        Ok(())
    }
}

/// The session's last placement in these events, with its log position.
fn last_placement(events: &[RecordedEvent]) -> anyhow::Result<Option<(MediaPlacement, u64)>> {
    let Some(recorded) = events.iter().rev().find(|e| e.event_type == "MediaPlaced") else {
        return Ok(None);
    };
    let event = Event::from_stored(
        &recorded.event_type,
        recorded.schema_version,
        &recorded.data,
    )?;
    Ok(match event {
        Event::MediaPlaced(e) => Some((
            MediaPlacement {
                node_id: e.node_id,
                url: e.url,
            },
            recorded.position,
        )),
        _ => None,
    })
}

/// The events that close, as `interrupted`, the media a view shows open: its tracks
/// unpublished, its publishers and subscribers disconnected (by the system actor).
pub(super) fn interrupted_media(session_id: Uuid, media: &MediaView) -> Vec<Event> {
    let reason = MediaEndReason::Interrupted;
    let mut facts = Vec::new();
    for source in &media.sources {
        for track in &source.tracks {
            facts.push(Event::TrackUnpublished(TrackUnpublished {
                session_id,
                resource_id: source.resource_id,
                source: source.source.clone(),
                kind: track.kind,
                mid: track.mid.clone(),
                reason,
            }));
        }
        facts.push(Event::PublisherDisconnected(PublisherDisconnected {
            session_id,
            resource_id: source.resource_id,
            participant_id: source.participant_id,
            user_id: source.user_id,
            source: source.source.clone(),
            reason,
        }));
    }
    for subscriber in &media.subscribers {
        facts.push(Event::SubscriberDisconnected(SubscriberDisconnected {
            session_id,
            resource_id: subscriber.resource_id,
            participant_id: subscriber.participant_id,
            user_id: subscriber.user_id,
            reason,
        }));
    }
    facts
}
