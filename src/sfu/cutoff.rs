//! Where media is cut because membership ended: a removed member, a participant that left or
//! was kicked, an observer who may no longer publish, an ended or cancelled session, a
//! deactivated user. The SFU listens to the log for these.

use livesurgery_domain::Event;
use livesurgery_domain::events::MediaEndReason;
use livesurgery_domain::roles::SessionRole;

use super::{Scope, Sfu};
use crate::app::dispatch::{Dispatched, LogListener};

/// Cuts media where membership ends: a removed member, a participant that left or was kicked,
/// an ended or cancelled session, a deactivated user.
impl LogListener for Sfu {
    fn on_events(&self, batch: &[Dispatched]) {
        for dispatched in batch {
            if let Some((scope, reason)) = dispatched.event().and_then(removal) {
                self.remove(scope, reason);
            }
        }
    }
}

/// The media an event ends, if any.
fn removal(event: &Event) -> Option<(Scope, MediaEndReason)> {
    let removed = MediaEndReason::Removed;
    match event {
        Event::MemberRemoved(e) => Some((
            Scope::Member {
                session_id: e.session_id,
                user_id: e.user_id,
            },
            removed,
        )),
        // A participant that leaves, for whatever reason, takes its media along: presence
        // keeps a participant whose media still flows (see `realtime`'s leave), so a leave
        // means it is gone.
        Event::ParticipantLeft(e) => Some((Scope::Participant(e.participant_id), removed)),
        Event::MemberRoleChanged(e) if e.to == SessionRole::Observer => Some((
            Scope::Publishing {
                session_id: e.session_id,
                user_id: e.user_id,
            },
            removed,
        )),
        Event::SessionEnded(e) => {
            Some((Scope::Session(e.session_id), MediaEndReason::SessionEnded))
        }
        Event::SessionCancelled(e) => {
            Some((Scope::Session(e.session_id), MediaEndReason::SessionEnded))
        }
        Event::UserDeactivated(e) => Some((Scope::User(e.user_id), removed)),
        _ => None,
    }
}
