//! The Session aggregate, stream `session-<uuid>`: status, members, participants present, the
//! shared layout and the recording.
//!
//! Status machine: (not created) -> `scheduled` -> `live` -> `ended`, and `scheduled` ->
//! `cancelled`. Ended and cancelled sessions accept no command. All rules live in [`decide`];
//! [`evolve`] only records what the events say.
//!
//! Decisions this module makes (the brief left them open):
//! - checks run in this order: existence, permission, status, then the command's own rules;
//! - joining requires membership for everyone, admins included (an admin adds themself first);
//! - `EndSession` emits `ParticipantLeft{reason: left}` for each participant still present and
//!   `RecordingStopped` for an active recording, then `SessionEnded`, so the log never shows
//!   anyone present in, or recording, an ended session;
//! - `RemoveMember` of a member who is present emits `ParticipantLeft{reason: kicked}` for their
//!   participants first;
//! - leaving for any reason but `kicked` is for one's own participant; removing someone
//!   else's participant must say `kicked` and needs the host;
//! - layout edits and source selection are allowed while scheduled (to prepare) and live;
//! - a new recording may be requested after the previous one stopped.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::context::CommandContext;
use crate::error::DomainError;
use crate::events::{
    Event, LayoutInitialized, LeaveReason, MemberAdded, MemberRemoved, MemberRoleChanged,
    ParticipantJoined, ParticipantLeft, RecordingRequested, RecordingStarted, RecordingStopped,
    SessionCancelled, SessionCreated, SessionDetailsChanged, SessionEnded, SessionStarted,
    SourceSelected,
};
use crate::layout::{self, LayoutChanges, LayoutState};
use crate::permissions::{Action, authorize};
use crate::roles::SessionRole;

/// Longest session title, in characters.
pub const MAX_TITLE_LEN: usize = 200;
/// Longest procedure name, in characters.
pub const MAX_PROCEDURE_LEN: usize = 200;
/// Longest cancellation reason, in characters.
pub const MAX_REASON_LEN: usize = 500;
/// Longest device label, in characters.
pub const MAX_DEVICE_LEN: usize = 64;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl SessionStatus {
    /// The snake_case name (`"live"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Scheduled => "scheduled",
            SessionStatus::Live => "live",
            SessionStatus::Ended => "ended",
            SessionStatus::Cancelled => "cancelled",
        }
    }
}

/// Where the session's recording is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    #[default]
    Idle,
    Requested,
    Recording,
    Stopped,
}

/// The session's current (or last) recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingState {
    pub status: RecordingStatus,
    pub recording_id: Option<Uuid>,
}

/// A participant present in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub user_id: Uuid,
    /// The session role they joined with.
    pub role: SessionRole,
    pub device: Option<String>,
}

/// The folded state of one session. `Default` is a session not yet created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    pub session_id: Option<Uuid>,
    /// `None` until created.
    pub status: Option<SessionStatus>,
    pub title: String,
    pub procedure: Option<String>,
    pub scheduled_start: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    /// Members and their session roles.
    pub members: BTreeMap<Uuid, SessionRole>,
    /// Participants present, by participant id.
    pub participants: BTreeMap<Uuid, Presence>,
    pub layout: LayoutState,
    pub recording: RecordingState,
}

impl SessionState {
    /// The session role of `user_id`, if a member.
    pub fn role_of(&self, user_id: Uuid) -> Option<SessionRole> {
        self.members.get(&user_id).copied()
    }

    /// How many members are hosts.
    pub fn host_count(&self) -> usize {
        self.members
            .values()
            .filter(|r| **r == SessionRole::Host)
            .count()
    }
}

/// Everything one can ask of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum SessionCommand {
    /// Create the session; the caller becomes its host.
    CreateSession {
        session_id: Uuid,
        title: String,
        procedure: Option<String>,
        scheduled_start: Option<DateTime<Utc>>,
    },
    /// Change details; `None` leaves a field as it is, `Some(None)` clears it.
    ChangeSessionDetails {
        title: Option<String>,
        procedure: Option<Option<String>>,
        scheduled_start: Option<Option<DateTime<Utc>>>,
    },
    /// Go live (from scheduled).
    StartSession,
    /// End a live session.
    EndSession,
    /// Cancel a scheduled session.
    CancelSession { reason: Option<String> },
    /// Add a member with a session role.
    AddMember { user_id: Uuid, role: SessionRole },
    /// Change a member's session role.
    ChangeMemberRole { user_id: Uuid, role: SessionRole },
    /// Remove a member (their present participants are kicked).
    RemoveMember { user_id: Uuid },
    /// The caller joins the live session from a new participant (device connection).
    JoinParticipant {
        participant_id: Uuid,
        device: Option<String>,
    },
    /// A participant leaves; `Kicked` removes someone else's and needs the host.
    LeaveParticipant {
        participant_id: Uuid,
        reason: LeaveReason,
    },
    /// A layout write based on layout version `base_version`.
    UpdateLayout {
        base_version: u64,
        changes: LayoutChanges,
    },
    /// Show `source_id` (or nothing) in a panel.
    SelectSource {
        panel_id: String,
        source_id: Option<String>,
    },
    /// Ask for a recording to begin.
    RequestRecording { recording_id: Uuid },
    /// The requested recording has begun.
    StartRecording { recording_id: Uuid },
    /// Stop the requested or running recording.
    StopRecording { recording_id: Uuid },
}

impl SessionCommand {
    /// The snake_case name of this command (`"start_session"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            SessionCommand::CreateSession { .. } => "create_session",
            SessionCommand::ChangeSessionDetails { .. } => "change_session_details",
            SessionCommand::StartSession => "start_session",
            SessionCommand::EndSession => "end_session",
            SessionCommand::CancelSession { .. } => "cancel_session",
            SessionCommand::AddMember { .. } => "add_member",
            SessionCommand::ChangeMemberRole { .. } => "change_member_role",
            SessionCommand::RemoveMember { .. } => "remove_member",
            SessionCommand::JoinParticipant { .. } => "join_participant",
            SessionCommand::LeaveParticipant { .. } => "leave_participant",
            SessionCommand::UpdateLayout { .. } => "update_layout",
            SessionCommand::SelectSource { .. } => "select_source",
            SessionCommand::RequestRecording { .. } => "request_recording",
            SessionCommand::StartRecording { .. } => "start_recording",
            SessionCommand::StopRecording { .. } => "stop_recording",
        }
    }
}

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
    };
    authorize(ctx.org_role, my_role, action)?;

    let allowed_in: &[SessionStatus] = match cmd {
        C::StartSession | C::CancelSession { .. } => &[SessionStatus::Scheduled],
        C::EndSession
        | C::JoinParticipant { .. }
        | C::LeaveParticipant { .. }
        | C::RequestRecording { .. }
        | C::StartRecording { .. }
        | C::StopRecording { .. } => &[SessionStatus::Live],
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
        C::StartRecording { recording_id } | C::StopRecording { recording_id } => {
            let starting = matches!(cmd, C::StartRecording { .. });
            let current = state.recording.status;
            let ok = if starting {
                current == RecordingStatus::Requested
            } else {
                matches!(
                    current,
                    RecordingStatus::Requested | RecordingStatus::Recording
                )
            };
            if !ok {
                let what = match current {
                    RecordingStatus::Idle => "no recording is requested",
                    RecordingStatus::Requested => "the recording is only requested",
                    RecordingStatus::Recording => "the recording is running",
                    RecordingStatus::Stopped => "the recording is stopped",
                };
                return Err(invalid(cmd, what));
            }
            if state.recording.recording_id != Some(*recording_id) {
                return Err(DomainError::not_found(format!("recording {recording_id}")));
            }
            let recording_id = *recording_id;
            if starting {
                vec![Event::RecordingStarted(RecordingStarted {
                    session_id,
                    recording_id,
                })]
            } else {
                vec![Event::RecordingStopped(RecordingStopped {
                    session_id,
                    recording_id,
                })]
            }
        }
    };
    Ok(events)
}

/// Folds one event into the state. Events of other aggregates, or of another session, are
/// ignored. No rule is checked here: the log is the truth.
pub fn evolve(mut state: SessionState, event: &Event) -> SessionState {
    if let (Some(id), Some(event_session)) = (state.session_id, session_id_of(event))
        && id != event_session
    {
        return state;
    }
    match event {
        Event::SessionCreated(e) => {
            state.session_id = Some(e.session_id);
            state.status = Some(SessionStatus::Scheduled);
            state.title = e.title.clone();
            state.procedure = e.procedure.clone();
            state.scheduled_start = e.scheduled_start;
            state.created_by = Some(e.created_by);
        }
        Event::SessionDetailsChanged(e) => {
            if let Some(title) = &e.title {
                state.title = title.clone();
            }
            if let Some(procedure) = &e.procedure {
                state.procedure = procedure.clone();
            }
            if let Some(scheduled_start) = e.scheduled_start {
                state.scheduled_start = scheduled_start;
            }
        }
        Event::SessionStarted(_) => state.status = Some(SessionStatus::Live),
        Event::SessionEnded(_) => state.status = Some(SessionStatus::Ended),
        Event::SessionCancelled(_) => state.status = Some(SessionStatus::Cancelled),
        Event::MemberAdded(e) => {
            state.members.insert(e.user_id, e.role);
        }
        Event::MemberRoleChanged(e) => {
            state.members.insert(e.user_id, e.to);
        }
        Event::MemberRemoved(e) => {
            state.members.remove(&e.user_id);
        }
        Event::ParticipantJoined(e) => {
            state.participants.insert(
                e.participant_id,
                Presence {
                    user_id: e.user_id,
                    role: e.role,
                    device: e.device.clone(),
                },
            );
        }
        Event::ParticipantLeft(e) => {
            state.participants.remove(&e.participant_id);
        }
        Event::LayoutInitialized(e) => {
            state.layout = LayoutState {
                version: e.version,
                panels: e.panels.clone(),
                ..LayoutState::default()
            };
        }
        Event::LayoutUpdated(e) => state.layout.apply_updated(e),
        Event::SourceSelected(e) => state.layout.apply_source_selected(e),
        Event::RecordingRequested(e) => {
            state.recording = RecordingState {
                status: RecordingStatus::Requested,
                recording_id: Some(e.recording_id),
            };
        }
        Event::RecordingStarted(e) => {
            state.recording = RecordingState {
                status: RecordingStatus::Recording,
                recording_id: Some(e.recording_id),
            };
        }
        Event::RecordingStopped(e) => {
            state.recording = RecordingState {
                status: RecordingStatus::Stopped,
                recording_id: Some(e.recording_id),
            };
        }
        // Media facts are the SFU's record, not the session's state: no command depends on them
        // (the replay view folds them itself).
        Event::PublisherConnected(_)
        | Event::PublisherDisconnected(_)
        | Event::TrackPublished(_)
        | Event::TrackUnpublished(_)
        | Event::SubscriberConnected(_)
        | Event::SubscriberDisconnected(_)
        | Event::SubscriptionChanged(_)
        | Event::KeyframeRequested(_)
        | Event::FirstFrameDelivered(_)
        | Event::FirstFrameDecoded(_)
        | Event::MediaQualitySampled(_)
        | Event::UserRegistered(_)
        | Event::UserRoleChanged(_)
        | Event::UserDisplayNameChanged(_)
        | Event::UserDeactivated(_)
        | Event::UserReactivated(_)
        | Event::AccessDenied(_)
        | Event::AuditTrailRead(_) => {}
    }
    state
}

/// The session an event belongs to, if it is a session event. An access event that names a
/// session (`AccessDenied`, `AuditTrailRead`) is not: it lives on the user's access stream.
pub fn session_id_of(event: &Event) -> Option<Uuid> {
    Some(match event {
        Event::SessionCreated(e) => e.session_id,
        Event::SessionDetailsChanged(e) => e.session_id,
        Event::SessionStarted(e) => e.session_id,
        Event::SessionEnded(e) => e.session_id,
        Event::SessionCancelled(e) => e.session_id,
        Event::MemberAdded(e) => e.session_id,
        Event::MemberRoleChanged(e) => e.session_id,
        Event::MemberRemoved(e) => e.session_id,
        Event::ParticipantJoined(e) => e.session_id,
        Event::ParticipantLeft(e) => e.session_id,
        Event::LayoutInitialized(e) => e.session_id,
        Event::LayoutUpdated(e) => e.session_id,
        Event::SourceSelected(e) => e.session_id,
        Event::RecordingRequested(e) => e.session_id,
        Event::RecordingStarted(e) => e.session_id,
        Event::RecordingStopped(e) => e.session_id,
        Event::PublisherConnected(e) => e.session_id,
        Event::PublisherDisconnected(e) => e.session_id,
        Event::TrackPublished(e) => e.session_id,
        Event::TrackUnpublished(e) => e.session_id,
        Event::SubscriberConnected(e) => e.session_id,
        Event::SubscriberDisconnected(e) => e.session_id,
        Event::SubscriptionChanged(e) => e.session_id,
        Event::KeyframeRequested(e) => e.session_id,
        Event::FirstFrameDelivered(e) => e.session_id,
        Event::FirstFrameDecoded(e) => e.session_id,
        Event::MediaQualitySampled(e) => e.session_id,
        Event::UserRegistered(_)
        | Event::UserRoleChanged(_)
        | Event::UserDisplayNameChanged(_)
        | Event::UserDeactivated(_)
        | Event::UserReactivated(_)
        | Event::AccessDenied(_)
        | Event::AuditTrailRead(_) => return None,
    })
}

/// Folds a whole stream from the empty state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> SessionState {
    events.into_iter().fold(SessionState::default(), evolve)
}
