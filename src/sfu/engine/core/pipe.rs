//! What media loops tell each other: a publisher's frames for the subscribers of other loops,
//! keyframe requests for a publisher of another loop, and sources that ended there.

use std::sync::Arc;
use std::time::Instant;

use livesurgery_domain::events::KeyframeCause;
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequestKind, MediaData, MediaTime};
use uuid::Uuid;

use super::Core;
use crate::sfu::forward::Kind;

/// A message from one media loop to the others.
#[derive(Debug, Clone)]
pub(in crate::sfu) enum Piped {
    /// A frame of a publisher of the sending loop.
    Frame {
        session_id: Uuid,
        source: String,
        kind: Kind,
        frame: SharedFrame,
    },
    /// A keyframe wanted from a source the sending loop does not hold.
    Keyframe {
        session_id: Uuid,
        source: String,
        kind: KeyframeRequestKind,
        cause: KeyframeCause,
    },
    /// A source of the sending loop ended: slots showing it start over at a keyframe.
    SourceGone { session_id: Uuid, source: String },
}

/// A publisher's frame as forwarding needs it; its bytes are shared, not copied.
#[derive(Debug, Clone)]
pub(in crate::sfu) struct SharedFrame {
    pub(in crate::sfu) params: PayloadParams,
    pub(in crate::sfu) time: MediaTime,
    /// When its first packet arrived (the writers' wall clock, and the forwarding delay's).
    pub(in crate::sfu) network_time: Instant,
    pub(in crate::sfu) keyframe: bool,
    pub(in crate::sfu) data: Arc<[u8]>,
}

impl SharedFrame {
    pub(super) fn of(data: &MediaData) -> SharedFrame {
        SharedFrame {
            params: data.params,
            time: data.time,
            network_time: data.network_time,
            keyframe: data.is_keyframe(),
            data: data.data.clone(),
        }
    }
}

impl Core {
    /// Takes what another media loop sent: its frames go to this loop's subscribers, its
    /// keyframe requests to this loop's publisher of the source (never passed on again).
    pub(in crate::sfu) fn handle_piped(&mut self, piped: Piped, now: Instant) {
        self.advance(now);
        match piped {
            Piped::Frame {
                session_id,
                source,
                kind,
                frame,
            } => self.forward(Uuid::nil(), session_id, &source, kind, &frame),
            Piped::Keyframe {
                session_id,
                source,
                kind,
                cause,
            } => self.request_keyframe(session_id, &source, kind, cause, false),
            Piped::SourceGone { session_id, source } => self.restart_slots(session_id, &source),
        }
    }
}
