//! The rules of live media, whatever carries the request (WHIP/WHEP over HTTP, `media.subscribe`
//! over the WebSocket): what a participant may do, which source labels and slot lists are
//! acceptable, and the full check made on every media call.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use livesurgery_domain::DomainError;
use livesurgery_domain::events::LeaveReason;
use livesurgery_domain::permissions::{Action, authorize};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::session::SessionCommand;
use livesurgery_projections::SessionStatus;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::{Refusal, is_write};
use super::commands::CommandError;
use super::identity::participant_context;
use super::{App, AppError, Operation, Participant, lock};
use crate::auth::MediaPermission;

/// Most video slots one subscription may select at once.
pub const MAX_SLOTS: usize = 16;

/// What a participant with these roles may do with media and the layout.
pub fn media_permissions(org_role: OrgRole, role: Option<SessionRole>) -> Vec<MediaPermission> {
    [
        (Action::PublishMedia, MediaPermission::Publish),
        (Action::SubscribeMedia, MediaPermission::Subscribe),
        (Action::UpdateLayout, MediaPermission::EditLayout),
    ]
    .into_iter()
    .filter(|(action, _)| authorize(org_role, role, *action).is_ok())
    .map(|(_, permission)| permission)
    .collect()
}

/// Whether a source label is acceptable: lowercase letters, digits, `.`, `_`, `-`, starting
/// with a letter or digit, at most 64.
pub fn valid_label(label: &str) -> bool {
    let mut chars = label.chars();
    label.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// Refuses the first label that is not a source label (`invalid_source`).
pub fn check_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> Result<(), AppError> {
    for label in labels {
        if !valid_label(label) {
            return Err(AppError::invalid(
                "invalid_source",
                format!("{label:?} is not a source label (a-z, 0-9, '.', '_', '-'; at most 64)"),
            ));
        }
    }
    Ok(())
}

/// Refuses a slot list that is too long or names something that is not a source label.
pub fn check_slots<'a>(
    slots: impl ExactSizeIterator<Item = Option<&'a str>>,
) -> Result<(), AppError> {
    if slots.len() > MAX_SLOTS {
        return Err(AppError::invalid(
            "too_many_slots",
            format!("at most {MAX_SLOTS} slots"),
        ));
    }
    check_labels(slots.flatten())
}

/// What a participant's connected media does now, as the participant list shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ParticipantMedia {
    /// The sources it publishes (connected WHIP resources), in publish order.
    pub publishing: Vec<String>,
    /// Whether it has a connected subscription (WHEP): it is watching.
    pub watching: bool,
}

/// One participant's connected peers (by resource), whatever the WebSocket does.
#[derive(Debug, Default)]
struct LiveMedia {
    publishing: Vec<(Uuid, String)>,
    watching: Vec<Uuid>,
}

/// Presence through media: which participants have connected media now. The SFU says when a
/// peer connects and when it ends; the WebSocket gateway asks before it records a leave (a
/// participant whose media still flows stays present, watching), and tells, once, how to ask
/// whether a participant has a WebSocket connected.
#[derive(Default)]
pub struct MediaPresence {
    live: Mutex<HashMap<Uuid, LiveMedia>>,
    /// Whether a (session, participant) has a WebSocket connected on this server.
    sockets: OnceLock<Box<dyn Fn(Uuid, Uuid) -> bool + Send + Sync>>,
}

impl std::fmt::Debug for MediaPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPresence").finish_non_exhaustive()
    }
}

impl MediaPresence {
    /// A peer of the participant connected: publishing `source`, or (`None`) watching.
    pub fn connected(&self, participant_id: Uuid, resource_id: Uuid, source: Option<&str>) {
        let mut live = lock(&self.live);
        let media = live.entry(participant_id).or_default();
        match source {
            Some(source) => media.publishing.push((resource_id, source.to_owned())),
            None => media.watching.push(resource_id),
        }
    }

    /// A peer of the participant ended; returns whether it was its last connected one.
    pub fn ended(&self, participant_id: Uuid, resource_id: Uuid) -> bool {
        let mut live = lock(&self.live);
        let Some(media) = live.get_mut(&participant_id) else {
            return false;
        };
        media.publishing.retain(|(id, _)| *id != resource_id);
        media.watching.retain(|id| *id != resource_id);
        if media.publishing.is_empty() && media.watching.is_empty() {
            live.remove(&participant_id);
            return true;
        }
        false
    }

    /// What the participant's connected media does (empty when none).
    pub fn of(&self, participant_id: Uuid) -> ParticipantMedia {
        lock(&self.live)
            .get(&participant_id)
            .map(|m| ParticipantMedia {
                publishing: m.publishing.iter().map(|(_, s)| s.clone()).collect(),
                watching: !m.watching.is_empty(),
            })
            .unwrap_or_default()
    }

    /// Whether the participant has connected media now.
    pub fn is_live(&self, participant_id: Uuid) -> bool {
        lock(&self.live).contains_key(&participant_id)
    }

    /// How to ask whether a participant has a WebSocket connected; the first one given stays.
    pub fn set_sockets(&self, sockets: Box<dyn Fn(Uuid, Uuid) -> bool + Send + Sync>) {
        let _ = self.sockets.set(sockets);
    }

    fn has_socket(&self, session_id: Uuid, participant_id: Uuid) -> bool {
        self.sockets
            .get()
            .is_some_and(|connected| connected(session_id, participant_id))
    }
}

/// The participant whose last media ended.
#[derive(Debug, Clone, Copy)]
pub struct MediaGone {
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub org_role: OrgRole,
    pub reason: LeaveReason,
}

impl App {
    /// Records the leave of a participant whose last media ended, unless a WebSocket of it is
    /// connected (the WebSocket's end records it then) or it left already.
    pub async fn leave_after_media(&self, gone: MediaGone) {
        if self
            .media_presence
            .has_socket(gone.session_id, gone.participant_id)
            || self.media_presence.is_live(gone.participant_id)
        {
            return;
        }
        let ctx = participant_context(gone.user_id, gone.org_role, gone.participant_id);
        let command = SessionCommand::LeaveParticipant {
            participant_id: gone.participant_id,
            reason: gone.reason,
        };
        match self
            .execute_session_command(&ctx, gone.session_id, &command, Uuid::now_v7())
            .await
        {
            Ok(_)
            | Err(CommandError::Domain(
                DomainError::NotPresent { .. } | DomainError::InvalidTransition { .. },
            )) => {}
            Err(error) => tracing::error!(%error, "could not record the leave after media ended"),
        }
    }

    /// The full check of a media call by an authenticated participant, made on every call: a
    /// session that exists, a member whose role *now* (not when the token was issued) allows
    /// `action` (admins need no membership), and a live session. A refused write is recorded
    /// as `AccessDenied`. Returns the participant's session role.
    pub async fn authorize_media(
        &self,
        op: &Operation,
        participant: &Participant,
        session_id: Uuid,
        action: Action,
    ) -> Result<Option<SessionRole>, AppError> {
        let user = &participant.user;
        let session = self
            .session_row(session_id)
            .await?
            .ok_or_else(|| AppError::not_found("no such session"))?;
        let role = self.member_role(session_id, user.user_id).await?;
        if let Err(denied) = authorize(user.role, role, action) {
            if is_write(op) {
                let refusal = Refusal {
                    session_id: Some(participant.claims.sid),
                    action,
                    status: 403,
                    reason: &denied.reason,
                };
                self.record_refusal(op, &participant.context(), Uuid::now_v7(), refusal)
                    .await;
            }
            return Err(AppError::forbidden(denied.reason));
        }
        if session.status != SessionStatus::Live {
            return Err(AppError::conflict(
                "session_not_live",
                "media flows only while the session is live",
            ));
        }
        Ok(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_labels_are_short_lowercase_names() {
        for good in ["endoscope", "room-cam", "vitals", "cam.2", "0", "a_b"] {
            assert!(valid_label(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "Endoscope",
            "-cam",
            "room cam",
            "x/y",
            long.as_str(),
            "é",
        ] {
            assert!(!valid_label(bad), "{bad}");
        }
    }

    #[test]
    fn a_slot_list_is_at_most_sixteen_labels() {
        let ok: Vec<Option<&str>> = vec![Some("endoscope"), None];
        assert!(check_slots(ok.into_iter()).is_ok());
        let long: Vec<Option<&str>> = vec![None; MAX_SLOTS + 1];
        assert_eq!(
            check_slots(long.into_iter()).unwrap_err().code,
            "too_many_slots"
        );
        let bad: Vec<Option<&str>> = vec![Some("Room Cam")];
        assert_eq!(
            check_slots(bad.into_iter()).unwrap_err().code,
            "invalid_source"
        );
    }
}
