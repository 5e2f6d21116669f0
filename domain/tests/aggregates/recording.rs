//! Recording and archives: start and stop, who may, and the archive rules (retention, legal
//! hold, expiry), which hold after the session ended too.

use chrono::Duration;
use livesurgery_domain::events::*;
use livesurgery_domain::session::{RecordingStatus, SessionCommand as C, SessionStatus, fold};
use uuid::Uuid;

use crate::support::*;

const ARCHIVE: Uuid = Uuid::from_u128(0xA1);

fn started(recording_id: Uuid) -> Event {
    Event::RecordingStarted(RecordingStarted {
        session_id: SESSION,
        recording_id,
    })
}

fn stopped(recording_id: Uuid) -> Event {
    Event::RecordingStopped(RecordingStopped {
        session_id: SESSION,
        recording_id,
    })
}

fn opened() -> Event {
    Event::ArchiveOpened(ArchiveOpened {
        session_id: SESSION,
        archive_id: ARCHIVE,
        recording_id: RECORDING,
        source: "endoscope".into(),
        expires_at: t0() + Duration::days(30),
    })
}

fn closed() -> Event {
    Event::ArchiveClosed(ArchiveClosed {
        session_id: SESSION,
        archive_id: ARCHIVE,
        reason: ArchiveCloseReason::Stopped,
    })
}

fn finalised(status: ArchiveStatus) -> Event {
    Event::ArchiveFinalised(ArchiveFinalised {
        session_id: SESSION,
        archive_id: ARCHIVE,
        status,
        object_key: Some(format!("archives/{ARCHIVE}/playback.mp4")),
        content_type: Some("video/mp4".into()),
        bytes: 1000,
        duration_ms: 10_000,
        sha256: Some("ab".repeat(32)),
        reason: None,
    })
}

/// A live session recorded once, whose endoscope archive is ready; then ended.
fn archived() -> Vec<Event> {
    with(
        live(),
        [
            started(RECORDING),
            opened(),
            stopped(RECORDING),
            closed(),
            finalised(ArchiveStatus::Ready),
            Event::SessionEnded(SessionEnded {
                session_id: SESSION,
            }),
        ],
    )
}

fn expire() -> C {
    C::ExpireArchive {
        archive_id: ARCHIVE,
        objects_deleted: 3,
    }
}

/// An admin's context `days` after t0.
fn admin_at(days: i64) -> livesurgery_domain::CommandContext {
    let mut ctx = admin();
    ctx.now = t0() + Duration::days(days);
    ctx
}

#[test]
fn a_recording_starts_at_once_stops_and_can_start_again_with_a_new_id() {
    let events = given(live())
        .when(C::StartRecording {
            recording_id: RECORDING,
        })
        .events();
    assert_eq!(events, vec![started(RECORDING)]);
    let recording = with(live(), events);
    assert_eq!(
        fold(&recording).recording.status,
        RecordingStatus::Recording
    );
    given(recording.clone())
        .when(C::StartRecording {
            recording_id: Uuid::from_u128(202),
        })
        .then_error("invalid_transition");
    let stopping = given(recording.clone())
        .by(surgeon())
        .when(C::StopRecording {
            recording_id: RECORDING,
        })
        .events();
    assert_eq!(stopping, vec![stopped(RECORDING)]);
    let over = with(recording, stopping);
    given(over.clone())
        .when(C::StopRecording {
            recording_id: RECORDING,
        })
        .then_error("invalid_transition");
    given(over.clone())
        .when(C::StartRecording {
            recording_id: RECORDING,
        })
        .then_error("already_exists");
    given(over)
        .when(C::StartRecording {
            recording_id: Uuid::from_u128(202),
        })
        .events();
}

#[test]
fn hosts_and_surgeons_record_observers_reviewers_and_outsiders_do_not() {
    let start = C::StartRecording {
        recording_id: RECORDING,
    };
    given(live()).by(host()).when(start.clone()).events();
    given(live()).by(surgeon()).when(start.clone()).events();
    given(live()).by(admin()).when(start.clone()).events();
    for who in [observer(), reviewer(), outsider()] {
        given(live())
            .by(who)
            .when(start.clone())
            .then_error("forbidden");
    }
    let recording = with(live(), [started(RECORDING)]);
    let stop = C::StopRecording {
        recording_id: RECORDING,
    };
    given(recording.clone())
        .by(observer())
        .when(stop)
        .then_error("forbidden");
}

#[test]
fn recording_needs_a_live_session() {
    for events in [scheduled(), ended(), cancelled()] {
        given(events)
            .when(C::StartRecording {
                recording_id: RECORDING,
            })
            .then_error("invalid_transition");
    }
}

#[test]
fn a_requested_recording_from_an_older_log_starts_under_its_own_id() {
    let requested = with(
        live(),
        [Event::RecordingRequested(RecordingRequested {
            session_id: SESSION,
            recording_id: RECORDING,
        })],
    );
    given(requested.clone())
        .when(C::StartRecording {
            recording_id: RECORDING,
        })
        .then(vec![started(RECORDING)]);
    given(requested)
        .when(C::StartRecording {
            recording_id: Uuid::from_u128(999),
        })
        .then_error("not_found");
}

#[test]
fn an_archive_is_folded_through_its_life() {
    let mut events = with(live(), [started(RECORDING), opened()]);
    let status = |events: &Vec<Event>| fold(events).archives[&ARCHIVE].status;
    assert_eq!(status(&events), ArchiveStatus::Recording);
    events.push(closed());
    assert_eq!(status(&events), ArchiveStatus::Processing);
    events.push(finalised(ArchiveStatus::Incomplete));
    assert_eq!(status(&events), ArchiveStatus::Incomplete);
    let state = fold(&events);
    let archive = &state.archives[&ARCHIVE];
    assert_eq!(archive.source, "endoscope");
    assert_eq!(archive.recording_id, RECORDING);
    assert!(!archive.legal_hold);
}

#[test]
fn only_admins_change_retention_even_after_the_session_ended() {
    let later = t0() + Duration::days(90);
    let change = C::SetArchiveRetention {
        archive_id: ARCHIVE,
        expires_at: Some(later),
        legal_hold: Some(true),
    };
    given(archived())
        .by(admin())
        .when(change.clone())
        .then(vec![Event::ArchiveRetentionChanged(
            ArchiveRetentionChanged {
                session_id: SESSION,
                archive_id: ARCHIVE,
                expires_at: later,
                legal_hold: true,
            },
        )]);
    for who in [host(), surgeon(), observer(), reviewer()] {
        given(archived())
            .by(who)
            .when(change.clone())
            .then_error("forbidden");
    }
    assert_eq!(fold(&archived()).status, Some(SessionStatus::Ended));
}

#[test]
fn retention_changes_keep_what_is_not_named_and_refuse_no_change() {
    let held = given(archived())
        .by(admin())
        .when(C::SetArchiveRetention {
            archive_id: ARCHIVE,
            expires_at: None,
            legal_hold: Some(true),
        })
        .events();
    assert_eq!(
        held,
        vec![Event::ArchiveRetentionChanged(ArchiveRetentionChanged {
            session_id: SESSION,
            archive_id: ARCHIVE,
            expires_at: t0() + Duration::days(30),
            legal_hold: true,
        })]
    );
    given(with(archived(), held))
        .by(admin())
        .when(C::SetArchiveRetention {
            archive_id: ARCHIVE,
            expires_at: None,
            legal_hold: Some(true),
        })
        .then_error("no_change");
    given(archived())
        .by(admin())
        .when(C::SetArchiveRetention {
            archive_id: Uuid::from_u128(0xBAD),
            expires_at: None,
            legal_hold: Some(true),
        })
        .then_error("not_found");
}

#[test]
fn an_archive_expires_once_after_its_expiry_and_never_on_legal_hold() {
    // Not yet.
    given(archived())
        .by(admin_at(29))
        .when(expire())
        .then_error("invalid_transition");
    let expired = given(archived()).by(admin_at(31)).when(expire()).events();
    assert_eq!(
        expired,
        vec![Event::ArchiveExpired(ArchiveExpired {
            session_id: SESSION,
            archive_id: ARCHIVE,
            objects_deleted: 3,
        })]
    );
    let gone = with(archived(), expired);
    assert_eq!(
        fold(&gone).archives[&ARCHIVE].status,
        ArchiveStatus::Expired
    );
    given(gone.clone())
        .by(admin_at(32))
        .when(expire())
        .then_error("invalid_transition");
    given(gone)
        .by(admin_at(32))
        .when(C::SetArchiveRetention {
            archive_id: ARCHIVE,
            expires_at: None,
            legal_hold: Some(true),
        })
        .then_error("invalid_transition");
    let held = with(
        archived(),
        [Event::ArchiveRetentionChanged(ArchiveRetentionChanged {
            session_id: SESSION,
            archive_id: ARCHIVE,
            expires_at: t0() + Duration::days(30),
            legal_hold: true,
        })],
    );
    given(held)
        .by(admin_at(400))
        .when(expire())
        .then_error("invalid_transition");
}

#[test]
fn an_archive_still_recording_or_processing_does_not_expire() {
    let recording = with(live(), [started(RECORDING), opened()]);
    given(recording.clone())
        .by(admin_at(31))
        .when(expire())
        .then_error("invalid_transition");
    given(with(recording, [closed()]))
        .by(admin_at(31))
        .when(expire())
        .then_error("invalid_transition");
    for who in [host(), reviewer()] {
        let mut ctx = who;
        ctx.now = t0() + Duration::days(31);
        given(archived())
            .by(ctx)
            .when(expire())
            .then_error("forbidden");
    }
}
