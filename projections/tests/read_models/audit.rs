//! The audit projection: its filters, and the access and media events it indexes without
//! touching any other read model.

use chrono::Duration;
use livesurgery_projections::AuditFilter;

use crate::support::{self, databases, dump, scenario};

#[tokio::test]
async fn audit_filters_by_session_actor_type_and_time() {
    for (backend, db) in databases().await {
        let s = scenario();
        let events = &s.log.events;
        let m = &db.models;
        m.apply_all(events).await.unwrap();
        let all = |filter: AuditFilter| async move {
            let mut filter = AuditFilter { limit: 3, ..filter };
            let mut out = Vec::new();
            loop {
                let page = m.audit(&filter).await.unwrap();
                out.extend(page.items.into_iter().map(|a| a.position));
                match page.next {
                    Some(next) => filter.after_position = Some(next),
                    None => return out,
                }
            }
        };
        let expect = |keep: &dyn Fn(&livesurgery_domain::envelope::RecordedEvent) -> bool| {
            events
                .iter()
                .filter(|e| keep(e))
                .map(|e| e.position)
                .collect::<Vec<_>>()
        };
        let session_stream = format!("session-{}", s.session);
        assert_eq!(
            all(AuditFilter {
                session_id: Some(s.session),
                ..Default::default()
            })
            .await,
            expect(&|e| e.stream == session_stream),
            "{backend}"
        );
        assert_eq!(
            all(AuditFilter {
                actor_user_id: Some(s.alice),
                ..Default::default()
            })
            .await,
            expect(&|e| e.actor.user_id == Some(s.alice)),
            "{backend}"
        );
        let joined = all(AuditFilter {
            actions: vec!["ParticipantJoined".into()],
            ..Default::default()
        })
        .await;
        assert_eq!(joined.len(), 2, "{backend}");
        let two_types = ["ParticipantJoined", "UserDeactivated"];
        assert_eq!(
            all(AuditFilter {
                actions: two_types.iter().map(|t| (*t).to_owned()).collect(),
                ..Default::default()
            })
            .await,
            expect(&|e| two_types.contains(&e.event_type.as_str())),
            "{backend}: several types are any of them"
        );
        let (from, to) = (events[5].recorded_at, events[9].recorded_at);
        assert_eq!(
            all(AuditFilter {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            })
            .await,
            vec![6, 7, 8, 9],
            "{backend}: from inclusive, to exclusive"
        );
        assert_eq!(
            all(AuditFilter {
                session_id: Some(s.session),
                actor_user_id: Some(s.bob),
                from: Some(events[0].recorded_at - Duration::days(1)),
                ..Default::default()
            })
            .await,
            expect(&|e| e.stream == session_stream && e.actor.user_id == Some(s.bob)),
            "{backend}"
        );
        assert!(
            all(AuditFilter {
                outcome: Some("denied".into()),
                ..Default::default()
            })
            .await
            .is_empty()
        );
    }
}

#[tokio::test]
async fn an_access_denial_is_audited_as_denied_under_its_session_and_changes_no_other_model() {
    use livesurgery_domain::events::{
        AccessDenied, AuditReadKind, AuditTrailRead, Event, access_stream,
    };
    use livesurgery_domain::permissions::Action;
    for (backend, db) in databases().await {
        let mut s = scenario();
        let (_, reference) = databases()
            .await
            .into_iter()
            .find(|(b, _)| *b == backend)
            .unwrap();
        reference.models.apply_all(&s.log.events).await.unwrap();
        let denied = s.log.push(
            Event::AccessDenied(AccessDenied {
                user_id: s.bob,
                session_id: Some(s.session),
                action: Action::StartSession,
                method: "POST".into(),
                route: "/v1/sessions/{id}:start".into(),
                status: 403,
                reason: "only the session host may start session".into(),
            }),
            support::actor(s.bob, "surgeon"),
        );
        let read = s.log.push(
            Event::AuditTrailRead(AuditTrailRead {
                user_id: s.admin,
                session_id: None,
                kind: AuditReadKind::Events,
                query: [("type".to_owned(), "AccessDenied".to_owned())].into(),
                client_address: None,
            }),
            support::actor(s.admin, "admin"),
        );
        assert_eq!(denied.stream, access_stream(s.bob));
        let m = &db.models;
        m.apply_all(&s.log.events).await.unwrap();

        let page = m
            .audit(&AuditFilter {
                outcome: Some("denied".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "{backend}");
        let row = &page.items[0];
        assert_eq!(row.position, denied.position, "{backend}");
        assert_eq!(row.action, "AccessDenied", "{backend}");
        assert_eq!(row.session_id, Some(s.session), "{backend}");
        assert_eq!(row.actor_user_id, Some(s.bob), "{backend}");
        assert_eq!(row.stream, access_stream(s.bob), "{backend}");
        let in_session = m
            .audit(&AuditFilter {
                session_id: Some(s.session),
                actions: vec!["AccessDenied".into()],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(in_session.items, page.items, "{backend}");

        let reads = m
            .audit(&AuditFilter {
                actions: vec!["AuditTrailRead".into()],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(reads.items.len(), 1, "{backend}");
        assert_eq!(reads.items[0].position, read.position, "{backend}");
        assert_eq!(reads.items[0].outcome, "ok", "{backend}");
        assert_eq!(reads.items[0].session_id, None, "{backend}");

        let others = |dump: Vec<(String, Vec<Vec<String>>)>| {
            dump.into_iter()
                .filter(|(table, _)| table != "rm_audit")
                .collect::<Vec<_>>()
        };
        assert_eq!(
            others(dump(m).await),
            others(dump(&reference.models).await),
            "{backend}: only the audit indexes access events"
        );
    }
}

#[test]
fn outcome_is_denied_only_for_denial_events() {
    use livesurgery_projections::audit_outcome;
    let data = serde_json::json!({});
    assert_eq!(audit_outcome("JoinDenied", &data), "denied");
    assert_eq!(audit_outcome("ParticipantJoined", &data), "ok");
    assert_eq!(
        audit_outcome("AccessAttempted", &serde_json::json!({"outcome": "denied"})),
        "denied"
    );
}

#[tokio::test]
async fn media_events_are_audited_under_their_session_and_change_no_other_model() {
    use livesurgery_domain::envelope::Actor;
    use livesurgery_domain::events::*;
    for (backend, db) in databases().await {
        let mut s = scenario();
        let (_, reference) = databases()
            .await
            .into_iter()
            .find(|(b, _)| *b == backend)
            .unwrap();
        reference.models.apply_all(&s.log.events).await.unwrap();
        let (session, alice, bob) = (s.session, s.alice, s.bob);
        let (participant, viewer) = (s.alice_participant, s.bob_participant);
        let (whip, whep) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let source = || "endoscope".to_owned();
        let media = [
            Event::PublisherConnected(PublisherConnected {
                session_id: session,
                resource_id: whip,
                participant_id: participant,
                user_id: alice,
                source: source(),
            }),
            Event::TrackPublished(TrackPublished {
                session_id: session,
                resource_id: whip,
                source: source(),
                kind: MediaKind::Video,
                codec: "vp8".into(),
                mid: "0".into(),
            }),
            Event::SubscriberConnected(SubscriberConnected {
                session_id: session,
                resource_id: whep,
                participant_id: viewer,
                user_id: bob,
                video_slots: 1,
                audio_slots: 0,
            }),
            Event::SubscriptionChanged(SubscriptionChanged {
                session_id: session,
                resource_id: whep,
                participant_id: viewer,
                user_id: bob,
                slots: vec![Some(source())],
                previous: vec![None],
            }),
            Event::KeyframeRequested(KeyframeRequested {
                session_id: session,
                resource_id: whip,
                source: source(),
                kind: KeyframeKind::Pli,
                cause: KeyframeCause::FirstFrame,
            }),
            Event::FirstFrameDelivered(FirstFrameDelivered {
                session_id: session,
                resource_id: whep,
                participant_id: viewer,
                user_id: bob,
                source: source(),
                slot: 0,
                join_to_first_frame_ms: 300,
            }),
            Event::FirstFrameDecoded(FirstFrameDecoded {
                session_id: session,
                participant_id: viewer,
                user_id: bob,
                source: Some(source()),
                join_to_first_frame_ms: 350,
            }),
            Event::MediaQualitySampled(MediaQualitySampled {
                session_id: session,
                resource_id: whip,
                source: source(),
                kind: MediaKind::Video,
                mid: "0".into(),
                bitrate_bps: 1_500_000,
                packets: 1_400,
                packets_lost: 0,
                jitter_us: None,
                rtt_ms: Some(8),
                interval_ms: 10_000,
            }),
            Event::SubscriberDisconnected(SubscriberDisconnected {
                session_id: session,
                resource_id: whep,
                participant_id: viewer,
                user_id: bob,
                reason: MediaEndReason::Deleted,
            }),
            Event::TrackUnpublished(TrackUnpublished {
                session_id: session,
                resource_id: whip,
                source: source(),
                kind: MediaKind::Video,
                mid: "0".into(),
                reason: MediaEndReason::SessionEnded,
            }),
            Event::PublisherDisconnected(PublisherDisconnected {
                session_id: session,
                resource_id: whip,
                participant_id: participant,
                user_id: alice,
                source: source(),
                reason: MediaEndReason::SessionEnded,
            }),
        ];
        let positions: Vec<u64> = media
            .into_iter()
            .map(|event| s.log.push(event, Actor::system()).position)
            .collect();
        let m = &db.models;
        m.apply_all(&s.log.events).await.unwrap();

        let audited = m
            .audit(&AuditFilter {
                after_position: Some(positions[0] - 1),
                ..Default::default()
            })
            .await
            .unwrap();
        let rows: Vec<_> = audited
            .items
            .iter()
            .map(|a| (a.position, a.session_id, a.outcome.as_str()))
            .collect();
        let expected: Vec<_> = positions
            .iter()
            .map(|p| (*p, Some(session), "ok"))
            .collect();
        assert_eq!(rows, expected, "{backend}");
        assert_eq!(audited.items[0].action, "PublisherConnected", "{backend}");

        let others = |dump: Vec<(String, Vec<Vec<String>>)>| {
            dump.into_iter()
                .filter(|(table, _)| table != "rm_audit")
                .collect::<Vec<_>>()
        };
        assert_eq!(
            others(dump(m).await),
            others(dump(&reference.models).await),
            "{backend}: only the audit indexes media events"
        );
    }
}
