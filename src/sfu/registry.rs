//! Who publishes and subscribes what in each session, as the signalling side lists it, and
//! the caps on how many peer connections a participant and a session may hold.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use livesurgery_domain::events::MediaKind;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::SfuError;

/// A track as the sources list shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackView {
    #[schema(value_type = String)]
    pub kind: MediaKind,
    /// `vp8`, `h264`, `opus`, …; absent until the first media arrives.
    pub codec: Option<String>,
    pub mid: String,
}

/// One published source of a session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceView {
    /// The label given to WHIP (`endoscope`, `room-cam`, …): what panels' `source_id` name.
    pub source: String,
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub tracks: Vec<TrackView>,
    /// Its video sent nothing for the stall threshold while its connection stayed up
    /// (`SourceStalled`); cleared by its next frame (`SourceResumed`).
    pub stalled: bool,
    /// When its last video frame arrived before the stall; `null` unless stalled.
    pub stalled_since: Option<DateTime<Utc>>,
}

/// One subscription (WHEP resource) of a session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The source each video slot shows, in m-line order.
    pub slots: Vec<Option<String>>,
}

#[derive(Debug, Default)]
pub(super) struct SessionMedia {
    /// In publish order.
    pub(super) sources: Vec<SourceView>,
    pub(super) subscriptions: Vec<SubscriptionView>,
}

/// Who publishes and subscribes what, shared by the signalling handlers (which add) and the
/// media loop (which updates and removes).
#[derive(Debug, Default)]
pub(super) struct Registry {
    pub(super) sessions: HashMap<Uuid, SessionMedia>,
}

impl Registry {
    pub(super) fn session(&mut self, session_id: Uuid) -> &mut SessionMedia {
        self.sessions.entry(session_id).or_default()
    }

    /// Refuses one more peer for this participant in the session past either cap.
    pub(super) fn check_room(
        &self,
        session_id: Uuid,
        participant_id: Uuid,
        limits: PeerLimits,
    ) -> Result<(), SfuError> {
        let Some(media) = self.sessions.get(&session_id) else {
            return Ok(());
        };
        let of_participant = media
            .sources
            .iter()
            .map(|s| s.participant_id)
            .chain(media.subscriptions.iter().map(|s| s.participant_id))
            .filter(|p| *p == participant_id)
            .count();
        if of_participant >= limits.per_participant {
            return Err(SfuError::TooManyPeers(limits.per_participant));
        }
        if media.sources.len() + media.subscriptions.len() >= limits.per_session {
            return Err(SfuError::SessionPeersFull(limits.per_session));
        }
        Ok(())
    }

    pub(super) fn remove_resource(&mut self, session_id: Uuid, resource_id: Uuid) {
        if let Some(media) = self.sessions.get_mut(&session_id) {
            media.sources.retain(|s| s.resource_id != resource_id);
            media.subscriptions.retain(|s| s.resource_id != resource_id);
            if media.sources.is_empty() && media.subscriptions.is_empty() {
                self.sessions.remove(&session_id);
            }
        }
    }
}

/// How many peer connections a participant and a session may hold at once.
#[derive(Debug, Clone, Copy)]
pub struct PeerLimits {
    pub per_participant: usize,
    pub per_session: usize,
}
