use chrono::Duration;
use livesurgery_domain::envelope::{Actor, GENESIS_HASH, RecordedEvent};
use livesurgery_domain::events::*;
use livesurgery_domain::replay::replay_session;
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::{RecordingStatus, SessionStatus};
use uuid::Uuid;

use crate::support::*;

/// Seals `events` into a chained stream, one minute apart from t0.
fn recorded(events: Vec<Event>) -> Vec<RecordedEvent> {
    let mut prev = GENESIS_HASH;
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let n = i as u64 + 1;
            let sealed = RecordedEvent::seal(
                e.into_new_event(
                    Uuid::from_u128(1000 + n as u128),
                    Actor::system(),
                    Uuid::nil(),
                    None,
                ),
                &session_stream(SESSION),
                n,
                n + 10,
                t0() + Duration::minutes(n as i64),
                &prev,
            );
            prev = sealed.hash_bytes().expect("sealed hash is 32 bytes");
            sealed
        })
        .collect()
}

fn minute(n: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + Duration::minutes(n)
}

fn a_session_day() -> Vec<RecordedEvent> {
    // Versions/minutes: 1-5 scheduled(), 6 started, 7 host joins, 8 observer joins,
    // 9 source selected, 10 recording requested, 11 observer leaves, 12 ended.
    recorded(with(
        live(),
        [
            joined(P_HOST, HOST, SessionRole::Host),
            Event::ParticipantJoined(ParticipantJoined {
                session_id: SESSION,
                participant_id: P_OBSERVER,
                user_id: OBSERVER,
                role: SessionRole::Observer,
                device: Some("laptop".into()),
            }),
            Event::SourceSelected(SourceSelected {
                session_id: SESSION,
                panel_id: "p1".into(),
                source_id: Some("endoscope".into()),
                layout_version: 2,
                changed_by: host().actor(),
            }),
            Event::RecordingRequested(RecordingRequested {
                session_id: SESSION,
                recording_id: RECORDING,
            }),
            left(P_OBSERVER, OBSERVER, LeaveReason::Left),
            left(P_HOST, HOST, LeaveReason::Left),
            Event::SessionEnded(SessionEnded {
                session_id: SESSION,
            }),
        ],
    ))
}

#[test]
fn replay_shows_who_was_present_and_what_they_saw_at_a_time() {
    let log = a_session_day();
    let view = replay_session(&log, Some(minute(10))).unwrap();
    assert_eq!(view.status, Some(SessionStatus::Live));
    let present: Vec<_> = view
        .participants
        .iter()
        .map(|p| (p.participant_id, p.joined_at))
        .collect();
    assert_eq!(
        present,
        [(P_HOST, Some(minute(7))), (P_OBSERVER, Some(minute(8)))]
    );
    assert_eq!(view.participants[1].device.as_deref(), Some("laptop"));
    assert_eq!(view.layout.version, 2);
    assert_eq!(view.sources["p1"].as_deref(), Some("endoscope"));
    assert_eq!(view.sources["p2"], None);
    assert_eq!(view.recording.state, RecordingStatus::Requested);
    assert_eq!(view.recording.recording_id, Some(RECORDING));
    assert_eq!((view.last_version, view.last_position), (10, 20));
    assert_eq!(view.members.len(), 3);
}

#[test]
fn replay_before_a_join_and_after_a_leave_shows_nobody_there() {
    let log = a_session_day();
    let before = replay_session(&log, Some(minute(6))).unwrap();
    assert!(before.participants.is_empty());
    assert_eq!(before.status, Some(SessionStatus::Live));
    let after_leave = replay_session(&log, Some(minute(11))).unwrap();
    let ids: Vec<_> = after_leave
        .participants
        .iter()
        .map(|p| p.participant_id)
        .collect();
    assert_eq!(ids, [P_HOST]);
    let end = replay_session(&log, None).unwrap();
    assert_eq!(end.status, Some(SessionStatus::Ended));
    assert!(end.participants.is_empty());
    assert_eq!(end.last_version, 13);
}

#[test]
fn replay_before_creation_is_an_empty_view() {
    let view = replay_session(&a_session_day(), Some(t0())).unwrap();
    assert_eq!(view.status, None);
    assert_eq!(view.last_position, 0);
    assert!(view.members.is_empty());
}

#[test]
fn replay_serialises_for_the_cli() {
    let view = replay_session(&a_session_day(), Some(minute(10))).unwrap();
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["status"], "live");
    assert_eq!(json["recording"]["state"], "requested");
    assert_eq!(json["participants"][0]["role"], "host");
}

#[test]
fn replay_fails_on_an_event_it_cannot_read() {
    let mut log = a_session_day();
    log[3].event_type = "SessionTeleported".into();
    let err = replay_session(&log, None).unwrap_err();
    assert_eq!(err.event_type, "SessionTeleported");
}
