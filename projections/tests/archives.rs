//! The archives projection, against SQLite and (when `LIVESURGERY_TEST_DATABASE_URL` is set)
//! PostgreSQL: what the recorder's events make of an archive, the lists the API and the
//! lifecycle task read, and rebuilds.

mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use livesurgery_domain::envelope::{Actor, RecordedEvent};
use livesurgery_domain::events::*;
use livesurgery_projections::{ArchiveFilter, ArchiveRow, ReadModels};
use support::{Log, VecSource, databases, dump, t0};
use uuid::Uuid;

/// A session recorded twice: what the recorder appends, archive by archive.
struct Recorded {
    log: Log,
    session: Uuid,
    other_session: Uuid,
    recording: Uuid,
    /// Finalised `ready`; one segment was reported twice.
    ready: Uuid,
    /// Cut off by a restart: `incomplete`, on legal hold.
    incomplete: Uuid,
    /// Nothing playable could be made.
    failed: Uuid,
    /// Still being recorded.
    recording_now: Uuid,
    /// In the other session, expired and deleted.
    expired: Uuid,
}

fn segment(session: Uuid, archive: Uuid, seq: u32, bytes: u64) -> Event {
    Event::SegmentStored(SegmentStored {
        session_id: session,
        archive_id: archive,
        seq,
        object_key: format!("archives/{archive}/segments/{seq:08}.webm"),
        bytes,
        sha256: format!("{seq:064x}"),
        start_ms: u64::from(seq) * 4_000,
        duration_ms: 4_000,
    })
}

fn opened(
    session: Uuid,
    archive: Uuid,
    recording: Uuid,
    source: &str,
    expires_at: DateTime<Utc>,
) -> Event {
    Event::ArchiveOpened(ArchiveOpened {
        session_id: session,
        archive_id: archive,
        recording_id: recording,
        source: source.to_owned(),
        expires_at,
    })
}

fn closed(session: Uuid, archive: Uuid, reason: ArchiveCloseReason) -> Event {
    Event::ArchiveClosed(ArchiveClosed {
        session_id: session,
        archive_id: archive,
        reason,
    })
}

fn finalised(session: Uuid, archive: Uuid, status: ArchiveStatus, bytes: u64) -> Event {
    let playable = status != ArchiveStatus::Failed;
    Event::ArchiveFinalised(ArchiveFinalised {
        session_id: session,
        archive_id: archive,
        status,
        object_key: playable.then(|| format!("archives/{archive}/playback.mp4")),
        content_type: playable.then(|| "video/mp4".to_owned()),
        bytes,
        duration_ms: if playable { 7_950 } else { 0 },
        sha256: playable.then(|| "ab".repeat(32)),
        reason: (status != ArchiveStatus::Ready).then(|| format!("{} on purpose", status.as_str())),
    })
}

fn recorded() -> Recorded {
    let mut log = Log::new();
    let system = Actor::system();
    let (session, other_session, recording) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let [ready, incomplete, failed, recording_now, expired] = [(); 5].map(|_| Uuid::now_v7());
    let keep = t0() + Duration::days(30);
    let old = t0() - Duration::days(1);
    for (archive, source) in [
        (ready, "endoscope"),
        (incomplete, "room-cam"),
        (failed, "vitals"),
    ] {
        log.push(
            opened(session, archive, recording, source, keep),
            system.clone(),
        );
    }
    log.push(segment(session, ready, 0, 1_000), system.clone());
    log.push(segment(session, incomplete, 0, 500), system.clone());
    log.push(segment(session, ready, 1, 2_000), system.clone());
    // The upload queue reported segment 1 again after a crash (stored again, same object).
    log.push(segment(session, ready, 1, 2_100), system.clone());
    log.push(segment(session, failed, 0, 300), system.clone());
    log.push(
        closed(session, ready, ArchiveCloseReason::Stopped),
        system.clone(),
    );
    log.push(
        closed(session, failed, ArchiveCloseReason::Stopped),
        system.clone(),
    );
    log.push(
        closed(session, incomplete, ArchiveCloseReason::Interrupted),
        system.clone(),
    );
    log.push(
        finalised(session, ready, ArchiveStatus::Ready, 2_800),
        system.clone(),
    );
    log.push(
        finalised(session, incomplete, ArchiveStatus::Incomplete, 450),
        system.clone(),
    );
    log.push(
        finalised(session, failed, ArchiveStatus::Failed, 0),
        system.clone(),
    );
    // A late report about a finalised archive changes nothing on it.
    log.push(segment(session, ready, 2, 9_999), system.clone());
    let admin = support::actor(Uuid::now_v7(), "admin");
    log.push(
        Event::ArchiveRetentionChanged(ArchiveRetentionChanged {
            session_id: session,
            archive_id: incomplete,
            expires_at: old,
            legal_hold: true,
        }),
        admin.clone(),
    );
    log.push(
        opened(session, recording_now, Uuid::now_v7(), "endoscope", old),
        system.clone(),
    );
    log.push(segment(session, recording_now, 0, 700), system.clone());
    log.push(
        opened(other_session, expired, Uuid::now_v7(), "endoscope", old),
        system.clone(),
    );
    log.push(
        closed(other_session, expired, ArchiveCloseReason::Stopped),
        system.clone(),
    );
    log.push(
        finalised(other_session, expired, ArchiveStatus::Ready, 10),
        system.clone(),
    );
    log.push(
        Event::ArchiveExpired(ArchiveExpired {
            session_id: other_session,
            archive_id: expired,
            objects_deleted: 2,
        }),
        system,
    );
    Recorded {
        log,
        session,
        other_session,
        recording,
        ready,
        incomplete,
        failed,
        recording_now,
        expired,
    }
}

fn opened_at(events: &[RecordedEvent], archive: Uuid) -> (DateTime<Utc>, u64) {
    let event = events
        .iter()
        .find(|e| e.event_type == "ArchiveOpened" && e.data["archive_id"] == archive.to_string())
        .unwrap();
    (event.recorded_at, event.position)
}

async fn archive(models: &ReadModels, id: Uuid) -> ArchiveRow {
    models.get_archive(id).await.unwrap().unwrap()
}

#[tokio::test]
async fn an_archive_follows_the_recorders_events_from_opened_to_expired() {
    for (backend, db) in databases().await {
        let r = recorded();
        let m = &db.models;
        m.apply_all(&r.log.events).await.unwrap();

        let ready = archive(m, r.ready).await;
        let (started_at, opened_position) = opened_at(&r.log.events, r.ready);
        assert_eq!(
            (
                ready.status,
                ready.session_id,
                ready.recording_id,
                ready.source.as_str()
            ),
            (ArchiveStatus::Ready, r.session, r.recording, "endoscope"),
            "{backend}"
        );
        assert_eq!(
            (ready.started_at, ready.opened_position),
            (started_at, opened_position)
        );
        assert!(
            ready.ended_at.is_some_and(|end| end > started_at),
            "{backend}"
        );
        assert_eq!(
            ready.segments, 2,
            "{backend}: segment 1 counts once, segment 2 came late"
        );
        assert_eq!(
            (ready.bytes, ready.duration_ms),
            (2_800, 7_950),
            "{backend}: the playable object's"
        );
        assert_eq!(
            ready.object_key.as_deref(),
            Some(format!("archives/{}/playback.mp4", r.ready).as_str())
        );
        assert_eq!(ready.content_type.as_deref(), Some("video/mp4"));
        assert_eq!((ready.legal_hold, ready.reason.as_deref()), (false, None));
        let segments = m.archive_segments(r.ready).await.unwrap();
        let stored: Vec<_> = segments.iter().map(|s| (s.seq, s.bytes)).collect();
        assert_eq!(
            stored,
            [(0, 1_000), (1, 2_100), (2, 9_999)],
            "{backend}: every object, as last reported"
        );

        let incomplete = archive(m, r.incomplete).await;
        assert_eq!(incomplete.status, ArchiveStatus::Incomplete, "{backend}");
        assert_eq!(
            (incomplete.legal_hold, incomplete.expires_at),
            (true, t0() - Duration::days(1))
        );
        assert_eq!(incomplete.reason.as_deref(), Some("incomplete on purpose"));

        let failed = archive(m, r.failed).await;
        assert_eq!(
            (failed.status, failed.object_key.clone()),
            (ArchiveStatus::Failed, None),
            "{backend}"
        );
        assert_eq!(
            (failed.bytes, failed.segments),
            (300, 1),
            "{backend}: a failed archive keeps its segments' sum"
        );

        let now = archive(m, r.recording_now).await;
        assert_eq!(
            (now.status, now.ended_at, now.bytes, now.duration_ms),
            (ArchiveStatus::Recording, None, 700, 4_000)
        );

        let expired = archive(m, r.expired).await;
        assert_eq!(expired.status, ArchiveStatus::Expired, "{backend}");
        assert!(m.get_archive(Uuid::now_v7()).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_sessions_archives_are_listed_in_recording_order_by_cursor() {
    for (backend, db) in databases().await {
        let r = recorded();
        let m = &db.models;
        m.apply_all(&r.log.events).await.unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = m
                .list_archives(&ArchiveFilter {
                    session_id: Some(r.session),
                    after_position: after,
                    limit: 3,
                })
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|a| a.archive_id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [r.ready, r.incomplete, r.failed, r.recording_now],
            "{backend}"
        );
        let other = m
            .list_archives(&ArchiveFilter {
                session_id: Some(r.other_session),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(other.items.len(), 1, "{backend}");
        assert_eq!(other.next, None);
    }
}

#[tokio::test]
async fn the_lifecycle_task_finds_expired_archives_that_are_neither_held_nor_recording() {
    for (backend, db) in databases().await {
        let r = recorded();
        let m = &db.models;
        m.apply_all(&r.log.events).await.unwrap();
        let ids =
            |rows: Vec<ArchiveRow>| rows.into_iter().map(|a| a.archive_id).collect::<Vec<_>>();
        // On hold (incomplete), still recording, already expired: none is due a day later.
        assert_eq!(
            ids(m.archives_due_for_expiry(t0(), 100).await.unwrap()),
            [] as [Uuid; 0],
            "{backend}"
        );
        let later = t0() + Duration::days(31);
        let due = ids(m.archives_due_for_expiry(later, 100).await.unwrap());
        assert_eq!(
            due,
            sorted([r.ready, r.failed]),
            "{backend}: same expiry, by id"
        );
        assert_eq!(m.archives_due_for_expiry(later, 1).await.unwrap().len(), 1);

        let unfinished = m
            .archives_with_status(&[ArchiveStatus::Recording, ArchiveStatus::Processing])
            .await
            .unwrap();
        assert_eq!(ids(unfinished), [r.recording_now], "{backend}");
        assert!(m.archives_with_status(&[]).await.unwrap().is_empty());
    }
}

fn sorted(mut ids: [Uuid; 2]) -> [Uuid; 2] {
    ids.sort();
    ids
}

#[tokio::test]
async fn one_event_per_batch_and_a_rebuild_give_the_rows_of_one_batch() {
    for (backend, one) in databases().await {
        let r = recorded();
        one.models.apply_all(&r.log.events).await.unwrap();
        let (_, many) = databases()
            .await
            .into_iter()
            .find(|(b, _)| *b == backend)
            .unwrap();
        for event in &r.log.events {
            many.models
                .apply("archives", std::slice::from_ref(event))
                .await
                .unwrap();
        }
        let archives_only = |rows: Vec<(String, Vec<Vec<String>>)>| {
            rows.into_iter()
                .filter(|(t, _)| t.starts_with("rm_archive"))
                .collect::<Vec<_>>()
        };
        let expected = archives_only(dump(&one.models).await);
        assert!(
            expected.iter().all(|(_, rows)| !rows.is_empty()),
            "{backend}: {expected:?}"
        );
        assert_eq!(
            archives_only(dump(&many.models).await),
            expected,
            "{backend}: one by one"
        );

        // A rebuild folds everything in batches of its own, forgetting finalised archives'
        // segments between them; re-applying live events afterwards changes nothing.
        let source = Arc::new(VecSource::new(r.log.events.clone()));
        let report = many
            .models
            .rebuild("archives", source, |_| {})
            .await
            .unwrap();
        assert_eq!(report.generation, 2, "{backend}");
        assert_eq!(
            archives_only(dump(&many.models).await),
            expected,
            "{backend}: rebuilt"
        );
        many.models.apply_all(&r.log.events).await.unwrap();
        assert_eq!(
            archives_only(dump(&many.models).await),
            expected,
            "{backend}: re-applied"
        );
        let checkpoint = many.models.checkpoint("archives").await.unwrap();
        assert_eq!(checkpoint, r.log.events.last().unwrap().position);
    }
}

#[tokio::test]
async fn a_rebuild_of_all_projections_includes_the_archives() {
    for (backend, db) in databases().await {
        let r = recorded();
        let m = &db.models;
        m.apply_all(&r.log.events).await.unwrap();
        let before = dump(m).await;
        let source = Arc::new(VecSource::new(r.log.events.clone()));
        let report = m.rebuild_all(source, |_| {}).await.unwrap();
        assert!(
            report.projections.iter().any(|p| p == "archives"),
            "{backend}: {report:?}"
        );
        assert_eq!(dump(m).await, before, "{backend}");
        assert!(ReadModels::names().contains(&"archives"));
    }
}
