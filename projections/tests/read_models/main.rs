//! Behaviour of the read models, against SQLite and (when `LIVESURGERY_TEST_DATABASE_URL` is
//! set) PostgreSQL.

mod audit;
#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_projections::{
    AuditFilter, PresenceFilter, ProjectionError, ReadModels, RecordingState, SESSION_CLOSED,
    SessionFilter, SessionStatus, UserFilter,
};
use support::{VecSource, databases, dump, scenario, workload};

async fn apply_in_batches(
    models: &ReadModels,
    events: &[livesurgery_domain::envelope::RecordedEvent],
    size: usize,
) {
    for batch in events.chunks(size) {
        models.apply_all(batch).await.unwrap();
    }
}

#[tokio::test]
async fn each_projection_holds_the_rows_of_a_realistic_session() {
    for (backend, db) in databases().await {
        let s = scenario();
        let m = &db.models;
        let checkpoints = m.apply_all(&s.log.events).await.unwrap();
        let last = s.log.events.last().unwrap().position;
        assert!(
            checkpoints.iter().all(|(_, p)| *p == last),
            "{backend}: {checkpoints:?}"
        );

        // users
        let users = m.list_users(&UserFilter::default()).await.unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["admin", "alice", "bob", "carol"], "{backend}");
        let bob = m.get_user(s.bob).await.unwrap().unwrap();
        assert_eq!(bob.role, OrgRole::Surgeon, "{backend}");
        let carol = m.get_user(s.carol).await.unwrap().unwrap();
        assert_eq!(
            (carol.display_name.as_str(), carol.active),
            ("Prof Carol", false)
        );
        let active = m
            .list_users(&UserFilter {
                active: Some(true),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(active.len(), 3, "{backend}");

        // sessions
        let session = m.get_session(s.session).await.unwrap().unwrap();
        assert_eq!(session.title, "Laparoscopic cholecystectomy");
        assert_eq!(session.procedure, None, "cleared by SessionDetailsChanged");
        assert_eq!(session.status, SessionStatus::Ended);
        assert!(session.started_at.is_some() && session.ended_at.is_some());
        assert_eq!(session.recording_state, RecordingState::Idle);
        assert_eq!(session.recording_id, Some(s.recording));
        assert_eq!(session.member_count, 2, "{backend}: carol was removed");
        let members = m.session_members(s.session).await.unwrap();
        let roles: Vec<_> = members.iter().map(|mb| (mb.user_id, mb.role)).collect();
        assert_eq!(
            roles,
            [(s.alice, SessionRole::Host), (s.bob, SessionRole::Surgeon)],
            "{backend}"
        );
        let recordings = m.session_recordings(s.session).await.unwrap();
        assert_eq!(recordings.len(), 1);
        assert_eq!(recordings[0].state, RecordingState::Stopped);
        assert_eq!(recordings[0].requested_by, Some(s.alice));
        let cancelled = m.get_session(s.cancelled).await.unwrap().unwrap();
        assert_eq!(cancelled.status, SessionStatus::Cancelled);
        assert_eq!(
            cancelled.cancel_reason.as_deref(),
            Some("theatre unavailable")
        );
        let list = m.list_sessions(&SessionFilter::default()).await.unwrap();
        let ids: Vec<_> = list.items.iter().map(|r| r.session_id).collect();
        assert_eq!(ids, [s.cancelled, s.session], "{backend}: newest first");
        let ended = m
            .list_sessions(&SessionFilter {
                status: Some(SessionStatus::Ended),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(ended.items.len(), 1);

        // presence
        assert!(m.participants_present(s.session).await.unwrap().is_empty());
        let history = m
            .presence_history(&PresenceFilter {
                session_id: Some(s.session),
                ..Default::default()
            })
            .await
            .unwrap();
        let left: Vec<_> = history
            .items
            .iter()
            .map(|p| (p.participant_id, p.leave_reason.clone(), p.device.clone()))
            .collect();
        assert_eq!(
            left,
            [
                (
                    s.alice_participant,
                    Some(SESSION_CLOSED.to_owned()),
                    Some("OR camera 2".to_owned())
                ),
                (
                    s.bob_participant,
                    Some("left".to_owned()),
                    Some("laptop".to_owned())
                ),
            ],
            "{backend}"
        );

        // layout
        let layout = m.current_layout(s.session).await.unwrap().unwrap();
        assert_eq!(layout.version, 3, "{backend}");
        let vitals = layout.panels.iter().find(|p| p.id == "vitals").unwrap();
        assert_eq!(
            (vitals.w, vitals.source_id.as_deref()),
            (4, Some("vitals-screen"))
        );
        let versions = m.layout_versions(s.session, 0, 0).await.unwrap();
        let kinds: Vec<_> = versions
            .iter()
            .map(|v| (v.version, v.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [(1, "initialized"), (2, "updated"), (3, "source_selected")],
            "{backend}"
        );
        assert_eq!(versions[1].conflicts.len(), 1);
        assert_eq!(versions[1].conflicts[0].loser.user_id, Some(s.alice));
        assert_eq!(versions[1].actor.user_id, Some(s.bob));
        let selections: Vec<_> = m
            .source_selections(s.session)
            .await
            .unwrap()
            .into_iter()
            .map(|sel| (sel.panel_id, sel.source_id))
            .collect();
        assert_eq!(
            selections,
            [
                ("main".to_owned(), Some("endo-1".to_owned())),
                ("vitals".to_owned(), Some("vitals-screen".to_owned())),
            ],
            "{backend}"
        );

        // audit: every event, the unknown one included
        let audit = m
            .audit(&AuditFilter {
                limit: 1_000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.items.len(), s.log.events.len(), "{backend}");
        let unknown = audit
            .items
            .iter()
            .find(|a| a.action == "SfuNodeAssigned")
            .unwrap();
        assert_eq!(unknown.session_id, Some(s.session));
        assert_eq!(unknown.actor_role.as_deref(), Some("system"));
        assert!(audit.items.iter().all(|a| a.outcome == "ok"));
    }
}

#[tokio::test]
async fn small_batches_give_the_same_rows_as_one_batch() {
    let events = workload(3_000, 7);
    for (backend, one) in databases().await {
        let (_, many) = databases()
            .await
            .into_iter()
            .find(|(b, _)| *b == backend)
            .unwrap();
        one.models.apply_all(&events).await.unwrap();
        apply_in_batches(&many.models, &events, 7).await;
        assert_eq!(
            dump(&one.models).await,
            dump(&many.models).await,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn reapplying_events_changes_nothing() {
    for (backend, db) in databases().await {
        let s = scenario();
        let events = &s.log.events;
        let m = &db.models;
        m.apply_all(&events[..10]).await.unwrap();
        // Re-delivery after a reconnect overlaps what was applied.
        m.apply_all(&events[5..]).await.unwrap();
        let once = dump(m).await;
        let status = m.status().await.unwrap();
        let again = m.apply_all(events).await.unwrap();
        let last = events.last().unwrap().position;
        assert!(again.iter().all(|(_, p)| *p == last), "{backend}");
        for name in ReadModels::names() {
            assert_eq!(m.apply(name, events).await.unwrap(), last);
        }
        assert_eq!(dump(m).await, once, "{backend}");
        let audit_rows = &once.iter().find(|(t, _)| t == "rm_audit").unwrap().1;
        assert_eq!(
            audit_rows.len(),
            events.len(),
            "{backend}: each event audited once"
        );
        let after = m.status().await.unwrap();
        assert_eq!(
            after.iter().map(|s| s.updated_at).collect::<Vec<_>>(),
            status.iter().map(|s| s.updated_at).collect::<Vec<_>>(),
            "{backend}: a no-op batch does not even touch the checkpoint"
        );
    }
}

#[tokio::test]
async fn a_failing_write_leaves_rows_and_checkpoint_unchanged() {
    for (backend, db) in databases().await {
        let s = scenario();
        let events = &s.log.events;
        let m = &db.models;
        let half = events.len() / 2;
        m.apply_all(&events[..half]).await.unwrap();
        let before = dump(m).await;
        // Plant a row where the audit will insert the last event: the batch's write fails.
        let last = events.last().unwrap();
        sqlx::query(
            "INSERT INTO rm_audit (position, recorded_at, action, stream, outcome, \
             correlation_id) VALUES ($1, 0, 'x', 'x', 'x', 'x')",
        )
        .bind(last.position as i64)
        .execute(m.pool())
        .await
        .unwrap();
        let planted = dump(m).await;
        let err = m.apply_all(&events[half..]).await.unwrap_err();
        assert!(
            matches!(err, ProjectionError::Database(_)),
            "{backend}: {err}"
        );
        for status in m.status().await.unwrap() {
            assert_eq!(
                status.position,
                events[half - 1].position,
                "{backend}: {status:?}"
            );
        }
        assert_eq!(
            dump(m).await,
            planted,
            "{backend}: no row of the failed batch is visible"
        );
        assert_ne!(before, planted);

        sqlx::query("DELETE FROM rm_audit WHERE position = $1")
            .bind(last.position as i64)
            .execute(m.pool())
            .await
            .unwrap();
        m.apply_all(&events[half..]).await.unwrap();
        assert_eq!(m.checkpoint("sessions").await.unwrap(), last.position);
    }
}

#[tokio::test]
async fn rebuild_gives_the_same_rows_as_live_apply() {
    let events = workload(20_000, 11);
    for (backend, db) in databases().await {
        let m = &db.models;
        apply_in_batches(m, &events, 500).await;
        let live = dump(m).await;
        let source: Arc<VecSource> = Arc::new(VecSource::new(events.clone()));
        let mut reports = Vec::new();
        let report = m
            .rebuild_all(source.clone(), |p| reports.push(p))
            .await
            .unwrap();
        assert_eq!(report.events_applied, events.len() as u64, "{backend}");
        assert_eq!(report.generation, 2);
        assert!(
            reports.len() >= 2,
            "{backend}: progress is reported per batch"
        );
        assert_eq!(reports.last().unwrap().position, events.len() as u64);
        assert_eq!(
            dump(m).await,
            live,
            "{backend}: rebuilt rows differ from live rows"
        );

        // One projection alone; the others keep their generation.
        m.rebuild("layout", source.clone(), |_| {}).await.unwrap();
        assert_eq!(dump(m).await, live, "{backend}");
        let status = m.status().await.unwrap();
        let generation = |name: &str| status.iter().find(|s| s.name == name).unwrap().generation;
        assert_eq!(
            (generation("layout"), generation("users")),
            (3, 2),
            "{backend}"
        );
        assert!(status.iter().all(|s| s.rebuild_position.is_none()));

        // Live applying continues from the swapped checkpoint; migrate still works.
        m.migrate().await.unwrap();
        let more = workload(20_100, 11);
        m.apply_all(&more[20_000..]).await.unwrap();
        assert_eq!(m.checkpoint("audit").await.unwrap(), 20_100);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_keep_working_while_a_rebuild_swaps_and_live_events_arrive() {
    let events = workload(30_000, 3);
    for (backend, db) in databases().await {
        let m = db.models.clone();
        apply_in_batches(&m, &events[..20_000], 1_000).await;
        let sample = m
            .list_sessions(&SessionFilter::default())
            .await
            .unwrap()
            .items[0]
            .session_id;

        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let reader = {
            let (m, stop, reads) = (m.clone(), stop.clone(), reads.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sessions = m.list_sessions(&SessionFilter::default()).await?;
                    assert!(!sessions.items.is_empty(), "a read saw an empty table");
                    m.current_layout(sample).await?.expect("layout vanished");
                    m.audit(&AuditFilter::default()).await?;
                    m.presence_history(&PresenceFilter::default()).await?;
                    m.list_users(&UserFilter::default()).await?;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, ProjectionError>(())
            })
        };
        // The server keeps applying live events, appended to the log during the rebuild.
        let source = Arc::new(VecSource::new(events[..20_000].to_vec()));
        let live = {
            let (m, source, events) = (m.clone(), source.clone(), events.clone());
            tokio::spawn(async move {
                for batch in events[20_000..].chunks(250) {
                    source.append(batch);
                    m.apply_all(batch).await?;
                    tokio::task::yield_now().await;
                }
                Ok::<_, ProjectionError>(())
            })
        };
        let report = m.rebuild_all(source.clone(), |_| {}).await.unwrap();
        live.await.unwrap().unwrap();
        stop.store(true, Ordering::Relaxed);
        reader.await.unwrap().unwrap();
        assert!(
            reads.load(Ordering::Relaxed) > 0,
            "{backend}: the reader never read"
        );
        assert_eq!(report.generation, 2);

        // Every event exactly once: same rows as a database that only applied live.
        let (_, reference) = databases()
            .await
            .into_iter()
            .find(|(b, _)| *b == backend)
            .unwrap();
        reference.models.apply_all(&events).await.unwrap();
        assert_eq!(dump(&m).await, dump(&reference.models).await, "{backend}");
    }
}

#[tokio::test]
async fn a_batch_out_of_order_or_for_an_unknown_projection_is_refused() {
    let db = support::sqlite_db().await;
    let s = scenario();
    let mut events = s.log.events[..3].to_vec();
    events.swap(1, 2);
    let err = db.models.apply_all(&events).await.unwrap_err();
    assert!(matches!(err, ProjectionError::OutOfOrder { .. }), "{err}");
    assert_eq!(db.models.checkpoint("audit").await.unwrap(), 0);
    let err = db.models.apply("nope", &events).await.unwrap_err();
    assert!(
        matches!(err, ProjectionError::UnknownProjection(_)),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_full_sync() {
    use sqlx::Row;
    let db = support::sqlite_db().await;
    let mut conn = db.models.pool().acquire().await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode.to_lowercase(), "wal");
    let sync: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(sync, 2, "FULL");
}

#[tokio::test]
async fn the_projectors_connections_relax_only_the_commit_wait() {
    use sqlx::Row;
    let db = support::sqlite_db().await;
    let projector = ReadModels::connect_for_projection(&db.url).await.unwrap();
    let mut conn = projector.pool().acquire().await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode.to_lowercase(), "wal", "still crash-consistent");
    let sync: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(sync, 1, "NORMAL");
}
