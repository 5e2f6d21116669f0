//! The rules of live media, whatever carries the request (WHIP/WHEP over HTTP, `media.subscribe`
//! over the WebSocket): what a participant may do, which source labels and slot lists are
//! acceptable, and the full check made on every media call.

use livesurgery_domain::permissions::{Action, authorize};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_projections::SessionStatus;
use uuid::Uuid;

use super::access::{Refusal, is_write};
use super::{App, AppError, Operation, Participant};
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

impl App {
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
