//! The session's rules: what a command does to a session, or why it is refused.

use crate::context::CommandContext;
use crate::error::DomainError;
use uuid::Uuid;

use crate::events::{
    ArchiveExpired, ArchiveRetentionChanged, ArchiveStatus, ClearScope, Event, LayoutInitialized,
    LeaveReason, MemberAdded, MemberRemoved, MemberRoleChanged, ParticipantJoined, ParticipantLeft,
    RecordingRequested, RecordingStarted, RecordingStopped, SessionCancelled, SessionCreated,
    SessionDetailsChanged, SessionEnded, SessionStarted, SourceSelected,
};
use crate::layout;
use crate::permissions::{Action, authorize};
use crate::roles::SessionRole;
use crate::teaching::{self, StrokeRequest, Teacher};

use super::{
    ArchiveState, MAX_DEVICE_LEN, MAX_PROCEDURE_LEN, MAX_REASON_LEN, MAX_TITLE_LEN,
    RecordingStatus, SessionCommand, SessionState, SessionStatus,
};

fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    allow_empty: bool,
) -> Result<(), DomainError> {
    let len = value.chars().count();
    if (!allow_empty && value.trim().is_empty()) || len > max {
        return Err(DomainError::validation(
            field,
            format!("must be 1-{max} characters, not blank"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(DomainError::validation(
            field,
            "must not contain control characters",
        ));
    }
    if !(allow_empty && value.is_empty()) {
        crate::text::check_not_spoofing(field, value)?;
    }
    Ok(())
}

fn invalid(cmd: &SessionCommand, state: impl Into<String>) -> DomainError {
    DomainError::InvalidTransition {
        command: cmd.name(),
        state: state.into(),
    }
}

/// Decides what a command does to a session: the events to append, or why it is refused.
pub fn decide(
    state: &SessionState,
    cmd: &SessionCommand,
    ctx: &CommandContext,
) -> Result<Vec<Event>, DomainError> {
    use SessionCommand as C;
    let actor = ctx.actor();

    if let C::CreateSession {
        session_id,
        title,
        procedure,
        scheduled_start,
    } = cmd
    {
        if state.status.is_some() {
            return Err(DomainError::AlreadyExists {
                what: format!("session {session_id}"),
            });
        }
        authorize(ctx.org_role, None, Action::CreateSession)?;
        check_text("title", title, MAX_TITLE_LEN, false)?;
        if let Some(p) = procedure {
            check_text("procedure", p, MAX_PROCEDURE_LEN, false)?;
        }
        let session_id = *session_id;
        return Ok(vec![
            Event::SessionCreated(SessionCreated {
                session_id,
                title: title.trim().to_owned(),
                procedure: procedure.as_ref().map(|p| p.trim().to_owned()),
                scheduled_start: *scheduled_start,
                created_by: ctx.user_id,
            }),
            Event::MemberAdded(MemberAdded {
                session_id,
                user_id: ctx.user_id,
                role: SessionRole::Host,
            }),
            Event::LayoutInitialized(LayoutInitialized {
                session_id,
                version: 1,
                panels: layout::default_panels(),
            }),
        ]);
    }

    let (Some(status), Some(session_id)) = (state.status, state.session_id) else {
        return Err(DomainError::not_found("session"));
    };
    let my_role = state.role_of(ctx.user_id);
    let action = match cmd {
        C::CreateSession { .. } => Action::CreateSession,
        C::ChangeSessionDetails { .. } => Action::ChangeSessionDetails,
        C::StartSession => Action::StartSession,
        C::EndSession => Action::EndSession,
        C::CancelSession { .. } => Action::CancelSession,
        C::AddMember { .. } => Action::AddMember,
        C::ChangeMemberRole { .. } => Action::ChangeMemberRole,
        C::RemoveMember { .. } => Action::RemoveMember,
        C::JoinParticipant { .. } => Action::JoinParticipant,
        C::LeaveParticipant {
            reason: LeaveReason::Kicked,
            ..
        } => Action::KickParticipant,
        C::LeaveParticipant { .. } => Action::LeaveParticipant,
        C::UpdateLayout { .. } => Action::UpdateLayout,
        C::SelectSource { .. } => Action::SelectSource,
        C::RequestRecording { .. } => Action::RequestRecording,
        C::StartRecording { .. } => Action::StartRecording,
        C::StopRecording { .. } => Action::StopRecording,
        C::SetArchiveRetention { .. } | C::ExpireArchive { .. } => Action::ManageArchives,
        C::DrawStroke { .. }
        | C::MovePointer { .. }
        | C::ClearAnnotations {
            scope: ClearScope::Mine,
            ..
        } => Action::Annotate,
        C::ClearAnnotations {
            scope: ClearScope::All,
            ..
        } => Action::ClearAnnotations,
        C::PostChatMessage { .. } => Action::PostChat,
        C::AskQuestion { .. } => Action::AskQuestion,
        C::AnswerQuestion { .. } => Action::AnswerQuestion,
        C::RaiseHand => Action::RaiseHand,
        C::LowerHand { user_id } if user_id.is_none_or(|u| u == ctx.user_id) => Action::RaiseHand,
        C::LowerHand { .. } => Action::LowerHands,
        C::ChangeTeachingSettings { .. } => Action::ChangeTeachingSettings,
    };
    authorize(ctx.org_role, my_role, action)?;

    let allowed_in: &[SessionStatus] = match cmd {
        C::StartSession | C::CancelSession { .. } => &[SessionStatus::Scheduled],
        C::EndSession
        | C::JoinParticipant { .. }
        | C::LeaveParticipant { .. }
        | C::RequestRecording { .. }
        | C::StartRecording { .. }
        | C::StopRecording { .. }
        | C::DrawStroke { .. }
        | C::ClearAnnotations { .. }
        | C::MovePointer { .. }
        | C::PostChatMessage { .. }
        | C::AskQuestion { .. }
        | C::AnswerQuestion { .. }
        | C::RaiseHand
        | C::LowerHand { .. }
        | C::ChangeTeachingSettings { .. } => &[SessionStatus::Live],
        C::SetArchiveRetention { .. } | C::ExpireArchive { .. } => &[
            SessionStatus::Scheduled,
            SessionStatus::Live,
            SessionStatus::Ended,
            SessionStatus::Cancelled,
        ],
        _ => &[SessionStatus::Scheduled, SessionStatus::Live],
    };
    if !allowed_in.contains(&status) {
        return Err(invalid(cmd, format!("the session is {}", status.as_str())));
    }

    let events = match cmd {
        // Handled before the existence check; a created session cannot be created again.
        C::CreateSession { session_id, .. } => {
            return Err(DomainError::AlreadyExists {
                what: format!("session {session_id}"),
            });
        }
        C::ChangeSessionDetails {
            title,
            procedure,
            scheduled_start,
        } => {
            let title = match title {
                Some(t) => {
                    check_text("title", t, MAX_TITLE_LEN, false)?;
                    Some(t.trim().to_owned()).filter(|t| *t != state.title)
                }
                None => None,
            };
            let procedure = match procedure {
                Some(Some(p)) => {
                    check_text("procedure", p, MAX_PROCEDURE_LEN, false)?;
                    Some(Some(p.trim().to_owned()))
                }
                other => other.clone(),
            }
            .filter(|p| *p != state.procedure);
            let scheduled_start = scheduled_start.filter(|s| *s != state.scheduled_start);
            if title.is_none() && procedure.is_none() && scheduled_start.is_none() {
                return Err(DomainError::no_change("the details are already so"));
            }
            vec![Event::SessionDetailsChanged(SessionDetailsChanged {
                session_id,
                title,
                procedure,
                scheduled_start,
            })]
        }
        C::StartSession => vec![Event::SessionStarted(SessionStarted { session_id })],
        C::EndSession => {
            let mut events: Vec<Event> = state
                .participants
                .iter()
                .map(|(participant_id, p)| {
                    Event::ParticipantLeft(ParticipantLeft {
                        session_id,
                        participant_id: *participant_id,
                        user_id: p.user_id,
                        reason: LeaveReason::Left,
                    })
                })
                .collect();
            if matches!(
                state.recording.status,
                RecordingStatus::Requested | RecordingStatus::Recording
            ) && let Some(recording_id) = state.recording.recording_id
            {
                events.push(Event::RecordingStopped(RecordingStopped {
                    session_id,
                    recording_id,
                }));
            }
            events.push(Event::SessionEnded(SessionEnded { session_id }));
            events
        }
        C::CancelSession { reason } => {
            if let Some(r) = reason {
                check_text("reason", r, MAX_REASON_LEN, false)?;
            }
            vec![Event::SessionCancelled(SessionCancelled {
                session_id,
                reason: reason.clone(),
            })]
        }
        C::AddMember { user_id, role } => {
            if state.members.contains_key(user_id) {
                return Err(DomainError::AlreadyExists {
                    what: format!("member {user_id}"),
                });
            }
            vec![Event::MemberAdded(MemberAdded {
                session_id,
                user_id: *user_id,
                role: *role,
            })]
        }
        C::ChangeMemberRole { user_id, role } => {
            let from = state
                .role_of(*user_id)
                .ok_or_else(|| DomainError::not_found(format!("member {user_id}")))?;
            if from == *role {
                return Err(DomainError::no_change(format!(
                    "member is already {}",
                    role.as_str()
                )));
            }
            if from == SessionRole::Host && state.host_count() == 1 {
                return Err(DomainError::LastHost);
            }
            vec![Event::MemberRoleChanged(MemberRoleChanged {
                session_id,
                user_id: *user_id,
                from,
                to: *role,
            })]
        }
        C::RemoveMember { user_id } => {
            let role = state
                .role_of(*user_id)
                .ok_or_else(|| DomainError::not_found(format!("member {user_id}")))?;
            if role == SessionRole::Host && state.host_count() == 1 {
                return Err(DomainError::LastHost);
            }
            let mut events: Vec<Event> = state
                .participants
                .iter()
                .filter(|(_, p)| p.user_id == *user_id)
                .map(|(participant_id, _)| {
                    Event::ParticipantLeft(ParticipantLeft {
                        session_id,
                        participant_id: *participant_id,
                        user_id: *user_id,
                        reason: LeaveReason::Kicked,
                    })
                })
                .collect();
            events.push(Event::MemberRemoved(MemberRemoved {
                session_id,
                user_id: *user_id,
            }));
            events
        }
        C::JoinParticipant {
            participant_id,
            device,
        } => {
            let role = my_role.ok_or(DomainError::NotAMember {
                user_id: ctx.user_id,
            })?;
            if state.participants.contains_key(participant_id) {
                return Err(DomainError::AlreadyPresent {
                    participant_id: *participant_id,
                });
            }
            if let Some(d) = device {
                check_text("device", d, MAX_DEVICE_LEN, false)?;
            }
            vec![Event::ParticipantJoined(ParticipantJoined {
                session_id,
                participant_id: *participant_id,
                user_id: ctx.user_id,
                role,
                device: device.clone(),
            })]
        }
        C::LeaveParticipant {
            participant_id,
            reason,
        } => {
            let presence =
                state
                    .participants
                    .get(participant_id)
                    .ok_or(DomainError::NotPresent {
                        participant_id: *participant_id,
                    })?;
            if *reason != LeaveReason::Kicked && presence.user_id != ctx.user_id {
                return Err(DomainError::Forbidden {
                    reason: "only one's own participant leaves; removing another's is a kick"
                        .into(),
                });
            }
            vec![Event::ParticipantLeft(ParticipantLeft {
                session_id,
                participant_id: *participant_id,
                user_id: presence.user_id,
                reason: *reason,
            })]
        }
        C::UpdateLayout {
            base_version,
            changes,
        } => vec![Event::LayoutUpdated(layout::decide_update(
            session_id,
            &state.layout,
            *base_version,
            changes,
            &actor,
        )?)],
        C::SelectSource {
            panel_id,
            source_id,
        } => {
            let panel = state
                .layout
                .panel(panel_id)
                .ok_or_else(|| DomainError::not_found(format!("panel {panel_id}")))?;
            if let Some(s) = source_id {
                layout::validate_source_id(s)?;
            }
            if panel.source_id == *source_id {
                return Err(DomainError::no_change(
                    "the panel shows that source already",
                ));
            }
            vec![Event::SourceSelected(SourceSelected {
                session_id,
                panel_id: panel_id.clone(),
                source_id: source_id.clone(),
                layout_version: state.layout.version + 1,
                changed_by: actor,
            })]
        }
        C::RequestRecording { recording_id } => {
            match state.recording.status {
                RecordingStatus::Idle | RecordingStatus::Stopped => {}
                RecordingStatus::Requested | RecordingStatus::Recording => {
                    return Err(invalid(cmd, "a recording is already requested or running"));
                }
            }
            if state.recording.recording_id == Some(*recording_id) {
                return Err(DomainError::AlreadyExists {
                    what: format!("recording {recording_id}"),
                });
            }
            vec![Event::RecordingRequested(RecordingRequested {
                session_id,
                recording_id: *recording_id,
            })]
        }
        C::StartRecording { recording_id } => {
            if state.recording.status == RecordingStatus::Recording {
                return Err(invalid(cmd, "the session is being recorded already"));
            }
            // A requested recording (logs from before recordings started at once) starts as
            // requested; otherwise a new recording id must be new.
            let requested = (state.recording.status == RecordingStatus::Requested)
                .then_some(state.recording.recording_id)
                .flatten();
            match requested {
                Some(id) if id != *recording_id => {
                    return Err(DomainError::not_found(format!("recording {recording_id}")));
                }
                None if state.recording.recording_id == Some(*recording_id) => {
                    return Err(DomainError::AlreadyExists {
                        what: format!("recording {recording_id}"),
                    });
                }
                _ => {}
            }
            vec![Event::RecordingStarted(RecordingStarted {
                session_id,
                recording_id: *recording_id,
            })]
        }
        C::StopRecording { recording_id } => {
            if !matches!(
                state.recording.status,
                RecordingStatus::Requested | RecordingStatus::Recording
            ) {
                return Err(invalid(cmd, "the session is not being recorded"));
            }
            if state.recording.recording_id != Some(*recording_id) {
                return Err(DomainError::not_found(format!("recording {recording_id}")));
            }
            vec![Event::RecordingStopped(RecordingStopped {
                session_id,
                recording_id: *recording_id,
            })]
        }
        C::SetArchiveRetention {
            archive_id,
            expires_at,
            legal_hold,
        } => {
            let archive = archive_of(state, *archive_id)?;
            if archive.status == ArchiveStatus::Expired {
                return Err(invalid(cmd, "the archive has expired"));
            }
            let expires_at = expires_at.unwrap_or(archive.expires_at);
            let legal_hold = legal_hold.unwrap_or(archive.legal_hold);
            if expires_at == archive.expires_at && legal_hold == archive.legal_hold {
                return Err(DomainError::no_change(
                    "the archive's retention is already so",
                ));
            }
            vec![Event::ArchiveRetentionChanged(ArchiveRetentionChanged {
                session_id,
                archive_id: *archive_id,
                expires_at,
                legal_hold,
            })]
        }
        C::ExpireArchive {
            archive_id,
            objects_deleted,
        } => {
            let archive = archive_of(state, *archive_id)?;
            let refusal = match archive.status {
                ArchiveStatus::Expired => Some("the archive has expired already"),
                ArchiveStatus::Recording | ArchiveStatus::Processing => {
                    Some("the archive is still being recorded or processed")
                }
                _ if archive.legal_hold => Some("the archive is on legal hold"),
                _ if archive.expires_at > ctx.now => Some("the archive has not expired yet"),
                _ => None,
            };
            if let Some(refusal) = refusal {
                return Err(invalid(cmd, refusal));
            }
            vec![Event::ArchiveExpired(ArchiveExpired {
                session_id,
                archive_id: *archive_id,
                objects_deleted: *objects_deleted,
            })]
        }
        C::DrawStroke {
            stroke_id,
            panel_id,
            source_id,
            media_time_ms,
            kind,
            points,
            color,
            width,
            pinned,
        } => {
            let who = Teacher::of(state, ctx, my_role)?;
            let request = StrokeRequest {
                stroke_id: *stroke_id,
                panel_id,
                source_id: source_id.as_deref(),
                media_time_ms: *media_time_ms,
                kind: *kind,
                points,
                color,
                width: *width,
                pinned: *pinned,
            };
            teaching::draw_stroke(state, session_id, &who, &request)?
        }
        C::ClearAnnotations { scope, panel_id } => {
            let who = Teacher::of(state, ctx, my_role)?;
            teaching::clear_annotations(state, session_id, &who, *scope, panel_id.as_deref())?
        }
        C::MovePointer {
            panel_id,
            source_id,
            points,
        } => {
            let who = Teacher::of(state, ctx, my_role)?;
            teaching::move_pointer(
                state,
                session_id,
                &who,
                panel_id,
                source_id.as_deref(),
                points,
            )?
        }
        C::PostChatMessage {
            message_id,
            text,
            mentions,
        } => {
            let who = Teacher::of(state, ctx, my_role)?;
            teaching::post_chat(state, session_id, &who, *message_id, text, mentions)?
        }
        C::AskQuestion { question_id, text } => {
            let who = Teacher::of(state, ctx, my_role)?;
            teaching::ask_question(state, session_id, &who, *question_id, text)?
        }
        C::AnswerQuestion { question_id } => {
            Teacher::of(state, ctx, my_role)?;
            teaching::answer_question(state, session_id, *question_id)?
        }
        C::RaiseHand => {
            let who = Teacher::of(state, ctx, my_role)?;
            teaching::raise_hand(state, session_id, &who)?
        }
        C::LowerHand { user_id } => {
            let who = Teacher::of(state, ctx, my_role)?;
            teaching::lower_hand(state, session_id, user_id.unwrap_or(who.user_id))?
        }
        C::ChangeTeachingSettings {
            observers_may_annotate,
            observer_chat,
            stroke_fade_ms,
        } => {
            Teacher::of(state, ctx, my_role)?;
            teaching::change_settings(
                state,
                session_id,
                *observers_may_annotate,
                *observer_chat,
                *stroke_fade_ms,
            )?
        }
    };
    Ok(events)
}

fn archive_of(state: &SessionState, archive_id: Uuid) -> Result<&ArchiveState, DomainError> {
    state
        .archives
        .get(&archive_id)
        .ok_or_else(|| DomainError::not_found(format!("archive {archive_id}")))
}
