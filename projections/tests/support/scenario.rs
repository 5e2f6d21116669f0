//! The hand-written scenario: one realistic session from creation to end.

use chrono::Duration;
use livesurgery_domain::envelope::Actor;
use livesurgery_domain::events::*;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use uuid::Uuid;

use super::{Log, actor, t0};

/// The ids of the hand-written scenario, to assert on.
pub struct Scenario {
    pub log: Log,
    pub admin: Uuid,
    pub alice: Uuid,
    pub bob: Uuid,
    pub carol: Uuid,
    pub session: Uuid,
    pub cancelled: Uuid,
    pub alice_participant: Uuid,
    pub bob_participant: Uuid,
    pub recording: Uuid,
}

pub fn panel(id: &str, x: u32, source: Option<&str>) -> Panel {
    Panel {
        id: id.to_owned(),
        x,
        y: 0,
        w: 6,
        h: 6,
        z: 0,
        source_id: source.map(str::to_owned),
        name: None,
    }
}

/// One realistic session from creation to end, with users, members, presence, layout versions
/// (one with a conflict), a source selection, a recording, an unknown event and a cancelled
/// second session.
pub fn scenario() -> Scenario {
    let mut log = Log::new();
    let (admin, alice, bob, carol) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let sys = Actor::system();
    for (id, name, role) in [
        (admin, "admin", OrgRole::Admin),
        (alice, "alice", OrgRole::Surgeon),
        (bob, "bob", OrgRole::Observer),
        (carol, "carol", OrgRole::Observer),
    ] {
        log.push(
            Event::UserRegistered(UserRegistered {
                user_id: id,
                username: name.to_owned(),
                display_name: format!("Dr {name}"),
                role,
            }),
            sys.clone(),
        );
    }
    let by_admin = actor(admin, "admin");
    log.push(
        Event::UserRoleChanged(UserRoleChanged {
            user_id: bob,
            from: OrgRole::Observer,
            to: OrgRole::Surgeon,
        }),
        by_admin.clone(),
    );
    log.push(
        Event::UserDisplayNameChanged(UserDisplayNameChanged {
            user_id: carol,
            display_name: "Prof Carol".into(),
        }),
        by_admin.clone(),
    );
    log.push(
        Event::UserDeactivated(UserDeactivated { user_id: carol }),
        by_admin.clone(),
    );

    let session = Uuid::new_v4();
    let by_alice = actor(alice, "surgeon");
    log.push(
        Event::SessionCreated(SessionCreated {
            session_id: session,
            title: "Lap chole".into(),
            procedure: Some("cholecystectomy".into()),
            scheduled_start: Some(t0() + Duration::hours(2)),
            created_by: alice,
        }),
        by_alice.clone(),
    );
    log.push(
        Event::SessionDetailsChanged(SessionDetailsChanged {
            session_id: session,
            title: Some("Laparoscopic cholecystectomy".into()),
            procedure: Some(None),
            scheduled_start: None,
        }),
        by_alice.clone(),
    );
    for (user, role) in [
        (alice, SessionRole::Host),
        (bob, SessionRole::Observer),
        (carol, SessionRole::Observer),
    ] {
        log.push(
            Event::MemberAdded(MemberAdded {
                session_id: session,
                user_id: user,
                role,
            }),
            by_alice.clone(),
        );
    }
    log.push(
        Event::MemberRoleChanged(MemberRoleChanged {
            session_id: session,
            user_id: bob,
            from: SessionRole::Observer,
            to: SessionRole::Surgeon,
        }),
        by_alice.clone(),
    );
    log.push(
        Event::MemberRemoved(MemberRemoved {
            session_id: session,
            user_id: carol,
        }),
        by_alice.clone(),
    );
    log.push(
        Event::LayoutInitialized(LayoutInitialized {
            session_id: session,
            version: 1,
            panels: vec![panel("main", 0, Some("endo-1")), panel("vitals", 6, None)],
        }),
        sys.clone(),
    );
    log.push(
        Event::SessionStarted(SessionStarted {
            session_id: session,
        }),
        by_alice.clone(),
    );
    let alice_participant = Uuid::new_v4();
    let bob_participant = Uuid::new_v4();
    for (participant, user, role, device) in [
        (alice_participant, alice, SessionRole::Host, "OR camera 2"),
        (bob_participant, bob, SessionRole::Surgeon, "laptop"),
    ] {
        let mut who = actor(user, "surgeon");
        who.participant_id = Some(participant);
        log.push(
            Event::ParticipantJoined(ParticipantJoined {
                session_id: session,
                participant_id: participant,
                user_id: user,
                role,
                device: Some(device.into()),
            }),
            who,
        );
    }
    let mut bob_actor = actor(bob, "surgeon");
    bob_actor.participant_id = Some(bob_participant);
    let mut alice_actor = by_alice.clone();
    alice_actor.participant_id = Some(alice_participant);
    log.push(
        Event::LayoutUpdated(LayoutUpdated {
            session_id: session,
            version: 2,
            base_version: 1,
            changes: vec![LayoutFieldChange {
                panel_id: Some("vitals".into()),
                field: "w".into(),
                value: serde_json::json!(4),
            }],
            conflicts: vec![LayoutConflict {
                panel_id: Some("vitals".into()),
                field: "w".into(),
                winner: bob_actor.clone(),
                loser: alice_actor.clone(),
                loser_version: 1,
            }],
            panels: vec![
                panel("main", 0, Some("endo-1")),
                Panel {
                    w: 4,
                    ..panel("vitals", 6, None)
                },
            ],
            changed_by: bob_actor.clone(),
        }),
        bob_actor.clone(),
    );
    log.push(
        Event::SourceSelected(SourceSelected {
            session_id: session,
            panel_id: "vitals".into(),
            source_id: Some("vitals-screen".into()),
            layout_version: 3,
            changed_by: alice_actor.clone(),
        }),
        alice_actor.clone(),
    );
    let recording = Uuid::new_v4();
    log.push(
        Event::RecordingRequested(RecordingRequested {
            session_id: session,
            recording_id: recording,
        }),
        alice_actor.clone(),
    );
    log.push(
        Event::RecordingStarted(RecordingStarted {
            session_id: session,
            recording_id: recording,
        }),
        sys.clone(),
    );
    log.push(
        Event::ParticipantLeft(ParticipantLeft {
            session_id: session,
            participant_id: bob_participant,
            user_id: bob,
            reason: LeaveReason::Left,
        }),
        bob_actor.clone(),
    );
    log.push_unknown(
        &format!("session-{session}"),
        "SfuNodeAssigned",
        serde_json::json!({"session_id": session, "node": "sfu-1"}),
    );
    log.push(
        Event::RecordingStopped(RecordingStopped {
            session_id: session,
            recording_id: recording,
        }),
        alice_actor.clone(),
    );
    log.push(
        Event::SessionEnded(SessionEnded {
            session_id: session,
        }),
        by_alice.clone(),
    );

    let cancelled = Uuid::new_v4();
    log.push(
        Event::SessionCreated(SessionCreated {
            session_id: cancelled,
            title: "Knee arthroscopy".into(),
            procedure: None,
            scheduled_start: None,
            created_by: bob,
        }),
        bob_actor.clone(),
    );
    log.push(
        Event::SessionCancelled(SessionCancelled {
            session_id: cancelled,
            reason: Some("theatre unavailable".into()),
        }),
        bob_actor,
    );
    Scenario {
        log,
        admin,
        alice,
        bob,
        carol,
        session,
        cancelled,
        alice_participant,
        bob_participant,
        recording,
    }
}
