//! The session aggregate: creation, the status machine, details and permissions per role;
//! members and participants, and `evolve`, in the submodules.

mod evolve;
mod members;
mod placement;

use livesurgery_domain::events::*;
use livesurgery_domain::layout::{LayoutChanges, PanelPatch, default_panels};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::session::{RecordingStatus, SessionCommand as C, SessionStatus, fold};
use uuid::Uuid;

use crate::support::*;

fn create_cmd() -> C {
    C::CreateSession {
        session_id: SESSION,
        title: "  Lap chole ".into(),
        procedure: Some("cholecystectomy".into()),
        scheduled_start: Some(t0()),
    }
}

// ---- creation ----

#[test]
fn creating_a_session_makes_the_creator_host_and_lays_out_four_panels() {
    let events = given([]).when(create_cmd()).events();
    assert_eq!(events, created());
    let Event::LayoutInitialized(layout) = &events[2] else {
        panic!("third event is the layout")
    };
    let ids: Vec<_> = layout.panels.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p3", "p4"]);
    assert!(
        layout
            .panels
            .iter()
            .all(|p| p.w == 6 && p.h == 6 && p.source_id.is_none())
    );
    let state = fold(&events);
    assert_eq!(state.status, Some(SessionStatus::Scheduled));
    assert_eq!(state.role_of(HOST), Some(SessionRole::Host));
    assert_eq!(state.layout.version, 1);
}

#[test]
fn an_admin_creates_sessions_observers_and_reviewers_do_not() {
    assert!(given([]).by(admin()).when(create_cmd()).0.is_ok());
    given([])
        .by(observer())
        .when(create_cmd())
        .then_error("forbidden");
    given([])
        .by(reviewer())
        .when(create_cmd())
        .then_error("forbidden");
}

#[test]
fn a_blank_or_overlong_title_is_rejected() {
    for title in ["", "   ", &"x".repeat(201), "a\u{7}b"] {
        given([])
            .when(C::CreateSession {
                session_id: SESSION,
                title: title.into(),
                procedure: None,
                scheduled_start: None,
            })
            .then_error("validation_failed");
    }
}

#[test]
fn every_command_on_a_session_that_does_not_exist_is_not_found() {
    for cmd in all_commands() {
        if matches!(cmd, C::CreateSession { .. }) {
            continue;
        }
        given([]).by(admin()).when(cmd).then_error("not_found");
    }
}

fn move_p1_x(x: u32) -> LayoutChanges {
    LayoutChanges {
        panels: [(
            "p1".to_owned(),
            PanelPatch {
                x: Some(x),
                w: Some(3),
                ..PanelPatch::default()
            },
        )]
        .into(),
        ..LayoutChanges::default()
    }
}

#[test]
fn default_panels_cover_the_grid_without_overlap() {
    let mut cells = [[0u8; 12]; 12];
    for p in default_panels() {
        for row in cells.iter_mut().skip(p.y as usize).take(p.h as usize) {
            for cell in row.iter_mut().skip(p.x as usize).take(p.w as usize) {
                *cell += 1;
            }
        }
    }
    assert!(cells.iter().flatten().all(|c| *c == 1));
}

// ---- the status machine ----

/// One instance of every command, with arguments that are valid in the right state.
fn all_commands() -> Vec<C> {
    vec![
        create_cmd(),
        C::ChangeSessionDetails {
            title: Some("Other".into()),
            procedure: None,
            scheduled_start: None,
        },
        C::StartSession,
        C::EndSession,
        C::CancelSession { reason: None },
        C::AddMember {
            user_id: OUTSIDER,
            role: SessionRole::Observer,
        },
        C::ChangeMemberRole {
            user_id: SURGEON,
            role: SessionRole::Observer,
        },
        C::RemoveMember { user_id: OBSERVER },
        C::JoinParticipant {
            participant_id: P_HOST,
            device: None,
        },
        C::LeaveParticipant {
            participant_id: P_HOST,
            reason: LeaveReason::Left,
        },
        C::UpdateLayout {
            base_version: 1,
            changes: move_p1_x(3),
        },
        C::SelectSource {
            panel_id: "p1".into(),
            source_id: Some("cam-1".into()),
        },
        C::RequestRecording {
            recording_id: RECORDING,
        },
        C::StartRecording {
            recording_id: RECORDING,
        },
        C::StopRecording {
            recording_id: RECORDING,
        },
        C::DrawStroke {
            stroke_id: Uuid::from_u128(0x57),
            panel_id: "p1".into(),
            source_id: None,
            media_time_ms: None,
            kind: StrokeKind::Circle,
            points: vec![[0.5, 0.5], [0.6, 0.5]],
            color: "#00ff00".into(),
            width: 0.01,
            pinned: true,
        },
        C::ClearAnnotations {
            scope: ClearScope::All,
            panel_id: None,
        },
        C::MovePointer {
            panel_id: "p1".into(),
            source_id: None,
            points: vec![(0.5, 0.5, 0)],
        },
        C::PostChatMessage {
            message_id: Uuid::from_u128(0xC1),
            text: "hello".into(),
            mentions: vec![],
        },
        C::AskQuestion {
            question_id: Uuid::from_u128(0xA1),
            text: "why?".into(),
        },
        C::AnswerQuestion {
            question_id: Uuid::from_u128(0xA1),
        },
        C::RaiseHand,
        C::LowerHand { user_id: None },
        C::ChangeTeachingSettings {
            observers_may_annotate: Some(true),
            observer_chat: None,
            stroke_fade_ms: None,
        },
    ]
}

/// The statuses in which each command is accepted.
fn allowed_in(cmd: &C) -> &'static [SessionStatus] {
    use SessionStatus::*;
    match cmd {
        C::CreateSession { .. } => &[],
        C::StartSession | C::CancelSession { .. } => &[Scheduled],
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
        | C::ChangeTeachingSettings { .. } => &[Live],
        C::ChangeSessionDetails { .. }
        | C::AddMember { .. }
        | C::ChangeMemberRole { .. }
        | C::RemoveMember { .. }
        | C::UpdateLayout { .. }
        | C::SelectSource { .. } => &[Scheduled, Live],
        // Archives outlive their session (see archives.rs).
        C::SetArchiveRetention { .. } | C::ExpireArchive { .. } => {
            &[Scheduled, Live, Ended, Cancelled]
        }
    }
}

#[test]
fn every_command_is_refused_in_every_status_that_does_not_allow_it() {
    let states = [
        (SessionStatus::Scheduled, scheduled()),
        (SessionStatus::Live, live()),
        (SessionStatus::Ended, ended()),
        (SessionStatus::Cancelled, cancelled()),
    ];
    let mut checked = 0;
    for (status, events) in &states {
        for cmd in all_commands() {
            if allowed_in(&cmd).contains(status) {
                continue;
            }
            let expected = if matches!(cmd, C::CreateSession { .. }) {
                "already_exists"
            } else {
                "invalid_transition"
            };
            let outcome = given(events.clone()).by(admin()).when(cmd.clone());
            assert!(
                matches!(&outcome.0, Err(e) if e.code() == expected),
                "{} while {status:?}: {:?}",
                cmd.name(),
                outcome.0
            );
            checked += 1;
        }
    }
    // 4 statuses x 24 commands, minus the allowed pairs (start, cancel: 1 each; 15 live-only;
    // 6 scheduled-or-live: 2 each).
    assert_eq!(checked, 96 - (2 + 15 + 12));
}

#[test]
fn every_command_is_accepted_in_a_status_that_allows_it() {
    // With the recording and presence each command needs, so only the status is under test.
    for cmd in all_commands() {
        for status in allowed_in(&cmd) {
            let mut events = match status {
                SessionStatus::Scheduled => scheduled(),
                _ => live(),
            };
            // Teaching comes from the host's participant, present.
            let by = livesurgery_domain::CommandContext {
                participant_id: Some(P_HOST),
                ..host()
            };
            match &cmd {
                C::LeaveParticipant { .. } => events.push(joined(P_HOST, HOST, SessionRole::Host)),
                C::StartRecording { .. } | C::StopRecording { .. } => {
                    events.push(Event::RecordingRequested(RecordingRequested {
                        session_id: SESSION,
                        recording_id: RECORDING,
                    }))
                }
                C::AnswerQuestion { question_id } => events.extend([
                    joined(P_HOST, HOST, SessionRole::Host),
                    Event::QuestionAsked(QuestionAsked {
                        session_id: SESSION,
                        question_id: *question_id,
                        user_id: HOST,
                        text: "why?".into(),
                    }),
                ]),
                C::LowerHand { .. } => events.extend([
                    joined(P_HOST, HOST, SessionRole::Host),
                    Event::HandRaised(HandRaised {
                        session_id: SESSION,
                        user_id: HOST,
                    }),
                ]),
                C::DrawStroke { .. }
                | C::ClearAnnotations { .. }
                | C::MovePointer { .. }
                | C::PostChatMessage { .. }
                | C::AskQuestion { .. }
                | C::RaiseHand
                | C::ChangeTeachingSettings { .. } => {
                    events.push(joined(P_HOST, HOST, SessionRole::Host))
                }
                _ => {}
            }
            let outcome = given(events).by(by).when(cmd.clone());
            assert!(
                outcome.0.is_ok(),
                "{} while {status:?}: {:?}",
                cmd.name(),
                outcome.0
            );
        }
    }
}

#[test]
fn starting_makes_a_scheduled_session_live() {
    given(scheduled())
        .when(C::StartSession)
        .then(vec![Event::SessionStarted(SessionStarted {
            session_id: SESSION,
        })]);
}

#[test]
fn cancelling_a_scheduled_session_keeps_the_reason() {
    let events = given(scheduled())
        .when(C::CancelSession {
            reason: Some("theatre closed".into()),
        })
        .events();
    assert_eq!(
        events,
        vec![Event::SessionCancelled(SessionCancelled {
            session_id: SESSION,
            reason: Some("theatre closed".into()),
        })]
    );
    assert_eq!(
        fold(&with(scheduled(), events)).status,
        Some(SessionStatus::Cancelled)
    );
}

#[test]
fn ending_a_session_makes_everyone_leave_and_stops_the_recording_first() {
    let before = with(
        live(),
        [
            joined(P_HOST, HOST, SessionRole::Host),
            joined(P_OBSERVER, OBSERVER, SessionRole::Observer),
            Event::RecordingRequested(RecordingRequested {
                session_id: SESSION,
                recording_id: RECORDING,
            }),
            Event::RecordingStarted(RecordingStarted {
                session_id: SESSION,
                recording_id: RECORDING,
            }),
        ],
    );
    let events = given(before.clone()).when(C::EndSession).events();
    assert_eq!(
        events,
        vec![
            left(P_HOST, HOST, LeaveReason::Left),
            left(P_OBSERVER, OBSERVER, LeaveReason::Left),
            Event::RecordingStopped(RecordingStopped {
                session_id: SESSION,
                recording_id: RECORDING,
            }),
            Event::SessionEnded(SessionEnded {
                session_id: SESSION
            }),
        ]
    );
    let state = fold(&with(before, events));
    assert_eq!(state.status, Some(SessionStatus::Ended));
    assert!(state.participants.is_empty());
    assert_eq!(state.recording.status, RecordingStatus::Stopped);
}

#[test]
fn ending_an_empty_session_emits_only_session_ended() {
    given(live())
        .when(C::EndSession)
        .then(vec![Event::SessionEnded(SessionEnded {
            session_id: SESSION,
        })]);
}

// ---- details ----

#[test]
fn changing_details_records_only_what_changed() {
    given(scheduled())
        .when(C::ChangeSessionDetails {
            title: Some("Lap chole".into()),
            procedure: Some(None),
            scheduled_start: Some(Some(t0() + chrono::Duration::hours(1))),
        })
        .then(vec![Event::SessionDetailsChanged(SessionDetailsChanged {
            session_id: SESSION,
            title: None,
            procedure: Some(None),
            scheduled_start: Some(Some(t0() + chrono::Duration::hours(1))),
        })]);
}

#[test]
fn changing_details_to_what_they_are_is_refused() {
    given(scheduled())
        .when(C::ChangeSessionDetails {
            title: Some("Lap chole".into()),
            procedure: Some(Some("cholecystectomy".into())),
            scheduled_start: None,
        })
        .then_error("no_change");
}

#[test]
fn changed_details_are_folded() {
    let state = fold(&with(
        scheduled(),
        [Event::SessionDetailsChanged(SessionDetailsChanged {
            session_id: SESSION,
            title: Some("New".into()),
            procedure: Some(None),
            scheduled_start: None,
        })],
    ));
    assert_eq!(state.title, "New");
    assert_eq!(state.procedure, None);
    assert_eq!(state.scheduled_start, Some(t0()));
}

// ---- recording ----

// Recording and archives: see recording.rs.

// ---- permissions, per role ----

#[test]
fn each_role_is_refused_what_it_may_not_do() {
    let present = with(
        live(),
        [
            joined(P_HOST, HOST, SessionRole::Host),
            Event::RecordingRequested(RecordingRequested {
                session_id: SESSION,
                recording_id: RECORDING,
            }),
        ],
    );
    let host_only = [
        C::StartSession,
        C::EndSession,
        C::CancelSession { reason: None },
        C::AddMember {
            user_id: OUTSIDER,
            role: SessionRole::Observer,
        },
        C::ChangeMemberRole {
            user_id: OBSERVER,
            role: SessionRole::Surgeon,
        },
        C::RemoveMember { user_id: OBSERVER },
        C::ChangeSessionDetails {
            title: Some("x".into()),
            procedure: None,
            scheduled_start: None,
        },
        C::LeaveParticipant {
            participant_id: P_HOST,
            reason: LeaveReason::Kicked,
        },
        C::RequestRecording {
            recording_id: RECORDING,
        },
    ];
    let editors_only = [
        C::StartRecording {
            recording_id: RECORDING,
        },
        C::UpdateLayout {
            base_version: 1,
            changes: move_p1_x(3),
        },
        C::SelectSource {
            panel_id: "p1".into(),
            source_id: Some("cam".into()),
        },
    ];
    // Org observer who is the session host still never writes.
    let observer_host = with(
        present.clone(),
        [member_added(Uuid::from_u128(7), SessionRole::Host)],
    );
    let observer_host_ctx = ctx(Uuid::from_u128(7), OrgRole::Observer);
    for cmd in host_only.iter().chain(&editors_only) {
        for who in [observer(), reviewer(), outsider()] {
            given(present.clone())
                .by(who)
                .when(cmd.clone())
                .then_error("forbidden");
        }
        given(observer_host.clone())
            .by(observer_host_ctx.clone())
            .when(cmd.clone())
            .then_error("forbidden");
    }
    for cmd in &host_only {
        given(present.clone())
            .by(surgeon())
            .when(cmd.clone())
            .then_error("forbidden");
    }
    for cmd in &editors_only {
        assert!(
            given(present.clone())
                .by(surgeon())
                .when(cmd.clone())
                .0
                .is_ok()
        );
    }
    // An admin may act on any session without being a member.
    for cmd in host_only.iter().chain(&editors_only) {
        let outcome = given(present.clone()).by(admin()).when(cmd.clone());
        assert!(
            !matches!(&outcome.0, Err(e) if e.code() == "forbidden"),
            "admin refused {}",
            cmd.name()
        );
    }
}

#[test]
fn a_forbidden_command_says_why() {
    let err = given(scheduled())
        .by(surgeon())
        .when(C::StartSession)
        .0
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "forbidden: only the session host may start session"
    );
}
