//! The commands a session accepts, and the limits on their text fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{ClearScope, FramePoint, LeaveReason, PointerSample, StrokeKind};
use crate::layout::LayoutChanges;
use crate::roles::SessionRole;

/// Longest session title, in characters.
pub const MAX_TITLE_LEN: usize = 200;
/// Longest procedure name, in characters.
pub const MAX_PROCEDURE_LEN: usize = 200;
/// Longest cancellation reason, in characters.
pub const MAX_REASON_LEN: usize = 500;
/// Longest device label, in characters.
pub const MAX_DEVICE_LEN: usize = 64;

/// Everything one can ask of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Ask for a recording to begin (no longer sent: recordings start at once).
    RequestRecording { recording_id: Uuid },
    /// Start recording the session now, as recording `recording_id`.
    StartRecording { recording_id: Uuid },
    /// Stop the requested or running recording.
    StopRecording { recording_id: Uuid },
    /// Change an archive's expiry, its legal hold, or both (admins).
    SetArchiveRetention {
        archive_id: Uuid,
        expires_at: Option<DateTime<Utc>>,
        legal_hold: Option<bool>,
    },
    /// Record that an archive's objects were deleted at the end of its retention.
    ExpireArchive {
        archive_id: Uuid,
        objects_deleted: u32,
    },
    /// Draw a finished stroke on a panel's picture; its points already simplified to at most
    /// [`crate::teaching::MAX_STROKE_POINTS`] (see [`crate::teaching::simplify_to_fit`]).
    DrawStroke {
        stroke_id: Uuid,
        panel_id: String,
        source_id: Option<String>,
        media_time_ms: Option<u64>,
        kind: StrokeKind,
        points: Vec<FramePoint>,
        color: String,
        width: f64,
        pinned: bool,
    },
    /// Clear one's own strokes (`mine`) or everyone's (`all`, the host), on a panel or all.
    ClearAnnotations {
        scope: ClearScope,
        panel_id: Option<String>,
    },
    /// Record a batch of laser-pointer samples over a panel.
    MovePointer {
        panel_id: String,
        source_id: Option<String>,
        points: Vec<PointerSample>,
    },
    /// Post a chat message to the session.
    PostChatMessage {
        message_id: Uuid,
        text: String,
        mentions: Vec<Uuid>,
    },
    /// Ask the host a question.
    AskQuestion { question_id: Uuid, text: String },
    /// Mark a question answered (the host).
    AnswerQuestion { question_id: Uuid },
    /// Raise the caller's hand.
    RaiseHand,
    /// Lower a raised hand: the caller's own (`None`), or anyone's (the host).
    LowerHand { user_id: Option<Uuid> },
    /// Change the session's teaching switches; `None` leaves a switch as it is.
    ChangeTeachingSettings {
        observers_may_annotate: Option<bool>,
        observer_chat: Option<bool>,
        stroke_fade_ms: Option<u32>,
    },
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
            SessionCommand::SetArchiveRetention { .. } => "set_archive_retention",
            SessionCommand::ExpireArchive { .. } => "expire_archive",
            SessionCommand::DrawStroke { .. } => "draw_stroke",
            SessionCommand::ClearAnnotations { .. } => "clear_annotations",
            SessionCommand::MovePointer { .. } => "move_pointer",
            SessionCommand::PostChatMessage { .. } => "post_chat_message",
            SessionCommand::AskQuestion { .. } => "ask_question",
            SessionCommand::AnswerQuestion { .. } => "answer_question",
            SessionCommand::RaiseHand => "raise_hand",
            SessionCommand::LowerHand { .. } => "lower_hand",
            SessionCommand::ChangeTeachingSettings { .. } => "change_teaching_settings",
        }
    }
}
