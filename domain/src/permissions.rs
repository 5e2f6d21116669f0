//! THE permission table: which organisation role, in which session role, may do what.
//!
//! One function, [`authorize`], decides every permission; [`table`] and [`markdown_table`] list
//! it (the README renders the markdown). The rules:
//! - an admin may do everything administrative (users, projections, creating sessions) and
//!   anything on any session;
//! - surgeons create sessions;
//! - reviewers read, replay and verify the audit trail of every session, and never join or write;
//! - in a session: the host manages members, starts/ends/cancels and kicks; host and surgeon
//!   edit the layout, select sources, publish media and start and stop recording; every member
//!   joins, leaves, subscribes to media, reads and plays the session's archives (reviewers
//!   too); only admins change an archive's retention;
//! - teaching: every member posts to the chat, asks questions, raises (and lowers) their own
//!   hand and annotates (draws, points, clears their own strokes); the host answers questions,
//!   lowers anyone's hand, clears everyone's strokes and sets the teaching switches. Observers
//!   annotate only when the host allows it and chat only while observer chat is on: those are
//!   the session's switches, checked with its state in `decide`, not here;
//! - an organisation observer never writes, whatever their session role: they only join, leave,
//!   subscribe to media and read, with one exception: they chat, ask, raise their hand and
//!   annotate like every member (none of it changes the shared layout or the media).

use serde::{Deserialize, Serialize};

use crate::roles::{OrgRole, SessionRole};

/// Everything a caller may be allowed to do: one per command, plus the reads the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a session (the creator becomes its host).
    CreateSession,
    /// Change a session's title, procedure or scheduled start.
    ChangeSessionDetails,
    /// Start a scheduled session (it goes live).
    StartSession,
    /// End a live session.
    EndSession,
    /// Cancel a scheduled session.
    CancelSession,
    /// Add a member to a session.
    AddMember,
    /// Change a member's session role.
    ChangeMemberRole,
    /// Remove a member from a session.
    RemoveMember,
    /// Join a live session as a participant (oneself).
    JoinParticipant,
    /// Leave a session (one's own participant).
    LeaveParticipant,
    /// Remove someone else's participant from a live session.
    KickParticipant,
    /// Change the shared layout.
    UpdateLayout,
    /// Choose the media source a panel shows.
    SelectSource,
    /// Send camera or endoscope feeds into a session.
    PublishMedia,
    /// Receive a session's feeds.
    SubscribeMedia,
    /// Ask for the session to be recorded.
    RequestRecording,
    /// Start recording the session.
    StartRecording,
    /// Stop a recording.
    StopRecording,
    /// List a session's archives and play them.
    ReadArchives,
    /// Change an archive's retention (expiry, legal hold) and expire archives.
    ManageArchives,
    /// Register a new user.
    RegisterUser,
    /// Change a user's organisation role.
    ChangeUserRole,
    /// Change another user's display name.
    ChangeDisplayName,
    /// Change one's own display name.
    ChangeOwnDisplayName,
    /// Deactivate a user (they can no longer sign in or act).
    DeactivateUser,
    /// Reactivate a deactivated user.
    ReactivateUser,
    /// Read a session's current state.
    ReadSession,
    /// Read a session's audit trail (its events).
    ReadAuditTrail,
    /// Verify the hash chain of the log.
    VerifyAudit,
    /// Replay a session as it was at a point in time.
    ReplaySession,
    /// List and read users.
    ManageUsers,
    /// Rebuild the read models from the log.
    RebuildProjections,
    /// Draw strokes and point on a panel's picture, and clear one's own strokes (observers:
    /// when the host allows it).
    Annotate,
    /// Clear everyone's strokes.
    ClearAnnotations,
    /// Post to the session's chat (observers: while observer chat is on).
    PostChat,
    /// Ask the host a question.
    AskQuestion,
    /// Mark a question answered.
    AnswerQuestion,
    /// Raise and lower one's own hand.
    RaiseHand,
    /// Lower anyone's raised hand.
    LowerHands,
    /// Change the session's teaching switches (observer annotation, observer chat, fade time).
    ChangeTeachingSettings,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 40] = [
        Action::CreateSession,
        Action::ChangeSessionDetails,
        Action::StartSession,
        Action::EndSession,
        Action::CancelSession,
        Action::AddMember,
        Action::ChangeMemberRole,
        Action::RemoveMember,
        Action::JoinParticipant,
        Action::LeaveParticipant,
        Action::KickParticipant,
        Action::UpdateLayout,
        Action::SelectSource,
        Action::PublishMedia,
        Action::SubscribeMedia,
        Action::RequestRecording,
        Action::StartRecording,
        Action::StopRecording,
        Action::ReadArchives,
        Action::ManageArchives,
        Action::RegisterUser,
        Action::ChangeUserRole,
        Action::ChangeDisplayName,
        Action::ChangeOwnDisplayName,
        Action::DeactivateUser,
        Action::ReactivateUser,
        Action::ReadSession,
        Action::ReadAuditTrail,
        Action::VerifyAudit,
        Action::ReplaySession,
        Action::ManageUsers,
        Action::RebuildProjections,
        Action::Annotate,
        Action::ClearAnnotations,
        Action::PostChat,
        Action::AskQuestion,
        Action::AnswerQuestion,
        Action::RaiseHand,
        Action::LowerHands,
        Action::ChangeTeachingSettings,
    ];

    /// The snake_case name (`"start_session"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateSession => "create_session",
            Action::ChangeSessionDetails => "change_session_details",
            Action::StartSession => "start_session",
            Action::EndSession => "end_session",
            Action::CancelSession => "cancel_session",
            Action::AddMember => "add_member",
            Action::ChangeMemberRole => "change_member_role",
            Action::RemoveMember => "remove_member",
            Action::JoinParticipant => "join_participant",
            Action::LeaveParticipant => "leave_participant",
            Action::KickParticipant => "kick_participant",
            Action::UpdateLayout => "update_layout",
            Action::SelectSource => "select_source",
            Action::PublishMedia => "publish_media",
            Action::SubscribeMedia => "subscribe_media",
            Action::RequestRecording => "request_recording",
            Action::StartRecording => "start_recording",
            Action::StopRecording => "stop_recording",
            Action::ReadArchives => "read_archives",
            Action::ManageArchives => "manage_archives",
            Action::RegisterUser => "register_user",
            Action::ChangeUserRole => "change_user_role",
            Action::ChangeDisplayName => "change_display_name",
            Action::ChangeOwnDisplayName => "change_own_display_name",
            Action::DeactivateUser => "deactivate_user",
            Action::ReactivateUser => "reactivate_user",
            Action::ReadSession => "read_session",
            Action::ReadAuditTrail => "read_audit_trail",
            Action::VerifyAudit => "verify_audit",
            Action::ReplaySession => "replay_session",
            Action::ManageUsers => "manage_users",
            Action::RebuildProjections => "rebuild_projections",
            Action::Annotate => "annotate",
            Action::ClearAnnotations => "clear_annotations",
            Action::PostChat => "post_chat",
            Action::AskQuestion => "ask_question",
            Action::AnswerQuestion => "answer_question",
            Action::RaiseHand => "raise_hand",
            Action::LowerHands => "lower_hands",
            Action::ChangeTeachingSettings => "change_teaching_settings",
        }
    }

    /// True for actions on one session, where the caller's session role matters.
    pub fn is_session_scoped(self) -> bool {
        matches!(
            self,
            Action::ChangeSessionDetails
                | Action::StartSession
                | Action::EndSession
                | Action::CancelSession
                | Action::AddMember
                | Action::ChangeMemberRole
                | Action::RemoveMember
                | Action::JoinParticipant
                | Action::LeaveParticipant
                | Action::KickParticipant
                | Action::UpdateLayout
                | Action::SelectSource
                | Action::PublishMedia
                | Action::SubscribeMedia
                | Action::RequestRecording
                | Action::StartRecording
                | Action::StopRecording
                | Action::ReadArchives
                | Action::ReadSession
                | Action::Annotate
                | Action::ClearAnnotations
                | Action::PostChat
                | Action::AskQuestion
                | Action::AnswerQuestion
                | Action::RaiseHand
                | Action::LowerHands
                | Action::ChangeTeachingSettings
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused action, with a reason a user can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Denied {
    /// Why, in words ("only the session host may start the session").
    pub reason: String,
}

fn deny(reason: impl Into<String>) -> Result<(), Denied> {
    Err(Denied {
        reason: reason.into(),
    })
}

/// Decides whether a user with `org_role` (and `session_role` in the session concerned, `None`
/// when not a member or not about a session) may do `action`.
pub fn authorize(
    org_role: OrgRole,
    session_role: Option<SessionRole>,
    action: Action,
) -> Result<(), Denied> {
    use Action as A;
    if org_role == OrgRole::Admin {
        return Ok(());
    }
    if !action.is_session_scoped() {
        return match action {
            A::CreateSession if org_role == OrgRole::Surgeon => Ok(()),
            A::CreateSession => deny("only admins and surgeons create sessions"),
            A::ChangeOwnDisplayName => Ok(()),
            A::ReadAuditTrail | A::VerifyAudit | A::ReplaySession
                if org_role == OrgRole::Reviewer =>
            {
                Ok(())
            }
            A::ReadAuditTrail | A::VerifyAudit | A::ReplaySession => {
                deny("only admins and reviewers read, replay and verify audit trails")
            }
            _ => deny(format!(
                "only admins may {}",
                action.as_str().replace('_', " ")
            )),
        };
    }
    if matches!(action, A::ReadSession | A::ReadArchives)
        && (org_role == OrgRole::Reviewer || session_role.is_some())
    {
        return Ok(());
    }
    if org_role == OrgRole::Reviewer {
        return deny("reviewers never join or change a session");
    }
    let Some(session_role) = session_role else {
        return deny("only members of the session may do this");
    };
    match action {
        A::JoinParticipant | A::LeaveParticipant | A::SubscribeMedia => Ok(()),
        // Every member, organisation observers included: none of it changes the layout or the
        // media. Whether an observer may annotate or chat now is the session's switch, which
        // `decide` checks with the session's state.
        A::Annotate | A::PostChat | A::AskQuestion | A::RaiseHand => Ok(()),
        _ if org_role == OrgRole::Observer => deny(
            "observers only join, leave, watch and read sessions, and chat, ask, raise their \
             hand and annotate",
        ),
        A::UpdateLayout | A::SelectSource => match session_role {
            SessionRole::Host | SessionRole::Surgeon => Ok(()),
            SessionRole::Observer => {
                deny("only the host and surgeons of the session edit the layout")
            }
        },
        A::StartRecording | A::StopRecording => match session_role {
            SessionRole::Host | SessionRole::Surgeon => Ok(()),
            SessionRole::Observer => {
                deny("only the host and surgeons of the session start and stop recording")
            }
        },
        A::PublishMedia => match session_role {
            SessionRole::Host | SessionRole::Surgeon => Ok(()),
            SessionRole::Observer => {
                deny("only the host and surgeons of the session publish media")
            }
        },
        _ if session_role == SessionRole::Host => Ok(()),
        _ => deny(format!(
            "only the session host may {}",
            action.as_str().replace('_', " ")
        )),
    }
}

/// Not a member, or a member in each session role: the columns of [`table`].
const MEMBERSHIPS: [Option<SessionRole>; 4] = [
    None,
    Some(SessionRole::Host),
    Some(SessionRole::Surgeon),
    Some(SessionRole::Observer),
];

/// The whole table: every action for every organisation role and session role (`None` = not a
/// member), and whether it is allowed.
pub fn table() -> Vec<(Action, OrgRole, Option<SessionRole>, bool)> {
    let mut rows = Vec::new();
    for action in Action::ALL {
        for org_role in OrgRole::ALL {
            for session_role in MEMBERSHIPS {
                let allowed = authorize(org_role, session_role, action).is_ok();
                rows.push((action, org_role, session_role, allowed));
            }
        }
    }
    rows
}

/// The table as markdown, one row per action listing who may do it (for the README).
pub fn markdown_table() -> String {
    let mut out = String::from("| action | allowed for |\n| --- | --- |\n");
    for action in Action::ALL {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            action.as_str(),
            allowed_for(action)
        ));
    }
    out
}

/// Who may do `action`, in words: `"admin; surgeon as session host/surgeon; reviewer"`. An
/// organisation role allowed whatever its session role is named alone.
pub(crate) fn allowed_for(action: Action) -> String {
    let mut who = Vec::new();
    for org_role in OrgRole::ALL {
        let allowed = |s: &Option<SessionRole>| authorize(org_role, *s, action).is_ok();
        if MEMBERSHIPS.iter().all(allowed) {
            who.push(org_role.as_str().to_owned());
            continue;
        }
        let as_roles: Vec<&str> = MEMBERSHIPS
            .iter()
            .filter(|s| allowed(s))
            .filter_map(|s| s.map(SessionRole::as_str))
            .collect();
        if !as_roles.is_empty() {
            who.push(format!(
                "{} as session {}",
                org_role.as_str(),
                as_roles.join("/")
            ));
        }
    }
    who.join("; ")
}
