use chrono::Duration;
use livesurgery_domain::envelope::{Actor, GENESIS_HASH, RecordedEvent};
use livesurgery_domain::events::*;
use livesurgery_domain::replay::{MediaSourceView, TrackView, replay_session};
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

/// Versions/minutes: 1-6 live(), 7-9 host, surgeon and observer join, 10-22 media_events() (10
/// endoscope connects, 11-12 its video and audio, 13-14 room-cam and its video, 15 the observer
/// subscribes with 2 slots, 16 slots endoscope + room-cam, 21 slots room-cam + nothing), then
/// 23 endoscope's audio ends, 24 room-cam disconnects, 25 the observer unsubscribes.
fn a_media_session() -> Vec<RecordedEvent> {
    recorded(with(
        with(
            live(),
            [
                joined(P_HOST, HOST, SessionRole::Host),
                joined(P_SURGEON, SURGEON, SessionRole::Surgeon),
                joined(P_OBSERVER, OBSERVER, SessionRole::Observer),
            ],
        ),
        with(
            media_events(),
            [
                Event::TrackUnpublished(TrackUnpublished {
                    session_id: SESSION,
                    resource_id: WHIP_ENDOSCOPE,
                    source: "endoscope".into(),
                    kind: MediaKind::Audio,
                    mid: "1".into(),
                    reason: MediaEndReason::Failed,
                }),
                publisher_disconnected(
                    WHIP_ROOM_CAM,
                    P_SURGEON,
                    SURGEON,
                    "room-cam",
                    MediaEndReason::Disconnected,
                ),
                Event::SubscriberDisconnected(SubscriberDisconnected {
                    session_id: SESSION,
                    resource_id: WHEP_OBSERVER,
                    participant_id: P_OBSERVER,
                    user_id: OBSERVER,
                    reason: MediaEndReason::Deleted,
                }),
            ],
        ),
    ))
}

fn track(kind: MediaKind, codec: &str, mid: &str) -> TrackView {
    TrackView {
        kind,
        codec: codec.into(),
        mid: mid.into(),
    }
}

fn slots(view: &livesurgery_domain::replay::SessionView) -> Vec<Vec<Option<&str>>> {
    view.media
        .subscribers
        .iter()
        .map(|s| s.slots.iter().map(Option::as_deref).collect())
        .collect()
}

#[test]
fn replay_shows_the_sources_published_at_a_time_in_publish_order_with_their_tracks() {
    let view = replay_session(&a_media_session(), Some(minute(22))).unwrap();
    assert_eq!(
        view.media.sources,
        [
            MediaSourceView {
                source: "endoscope".into(),
                resource_id: WHIP_ENDOSCOPE,
                participant_id: P_HOST,
                user_id: HOST,
                tracks: vec![
                    track(MediaKind::Video, "vp8", "0"),
                    track(MediaKind::Audio, "opus", "1"),
                ],
                stalled: false,
            },
            MediaSourceView {
                source: "room-cam".into(),
                resource_id: WHIP_ROOM_CAM,
                participant_id: P_SURGEON,
                user_id: SURGEON,
                tracks: vec![track(MediaKind::Video, "h264", "0")],
                stalled: false,
            },
        ]
    );
    let before_room_cam = replay_session(&a_media_session(), Some(minute(12))).unwrap();
    let sources: Vec<_> = before_room_cam
        .media
        .sources
        .iter()
        .map(|s| (s.source.as_str(), s.tracks.len()))
        .collect();
    assert_eq!(sources, [("endoscope", 2)]);
    let before_publishing = replay_session(&a_media_session(), Some(minute(9))).unwrap();
    assert!(before_publishing.media.sources.is_empty());
    assert!(before_publishing.media.subscribers.is_empty());
}

#[test]
fn replay_shows_what_each_slot_of_a_subscriber_showed_at_a_time() {
    let log = a_media_session();
    let connected = replay_session(&log, Some(minute(15))).unwrap();
    let observer = &connected.media.subscribers[0];
    assert_eq!(
        (
            observer.resource_id,
            observer.user_id,
            observer.participant_id
        ),
        (WHEP_OBSERVER, OBSERVER, P_OBSERVER)
    );
    assert_eq!(slots(&connected), [vec![None, None]], "slots start empty");
    let filled = replay_session(&log, Some(minute(16))).unwrap();
    assert_eq!(slots(&filled), [vec![Some("endoscope"), Some("room-cam")]]);
    let switched = replay_session(&log, Some(minute(22))).unwrap();
    assert_eq!(slots(&switched), [vec![Some("room-cam"), None]]);
}

#[test]
fn unpublishing_and_disconnecting_remove_from_the_replayed_media() {
    let log = a_media_session();
    let audio_gone = replay_session(&log, Some(minute(23))).unwrap();
    assert_eq!(
        audio_gone.media.sources[0].tracks,
        [track(MediaKind::Video, "vp8", "0")]
    );
    assert_eq!(audio_gone.media.sources.len(), 2);
    let end = replay_session(&log, None).unwrap();
    let sources: Vec<_> = end
        .media
        .sources
        .iter()
        .map(|s| s.source.as_str())
        .collect();
    assert_eq!(sources, ["endoscope"]);
    assert!(end.media.subscribers.is_empty());
    assert_eq!(end.last_version, 25);
}

#[test]
fn an_ended_session_replays_with_no_media_although_the_sfu_disconnects_after_the_end() {
    let log = recorded(with(
        with(live(), media_events()),
        [
            Event::SessionEnded(SessionEnded {
                session_id: SESSION,
            }),
            publisher_disconnected(
                WHIP_ENDOSCOPE,
                P_HOST,
                HOST,
                "endoscope",
                MediaEndReason::SessionEnded,
            ),
        ],
    ));
    let live = replay_session(&log, Some(minute(19))).unwrap();
    assert_eq!(live.media.sources.len(), 2);
    for at in [Some(minute(20)), None] {
        let view = replay_session(&log, at).unwrap();
        assert_eq!(view.status, Some(SessionStatus::Ended));
        assert_eq!(view.media, Default::default(), "at {at:?}");
    }
}

#[test]
fn replayed_media_serialises_as_the_sfu_contract_names_it() {
    let view = replay_session(&a_media_session(), Some(minute(22))).unwrap();
    let json = serde_json::to_value(&view).unwrap();
    let endoscope = &json["media"]["sources"][0];
    assert_eq!(endoscope["source"], "endoscope");
    assert_eq!(endoscope["resource_id"], WHIP_ENDOSCOPE.to_string());
    assert_eq!(endoscope["user_id"], HOST.to_string());
    assert_eq!(
        endoscope["tracks"][1],
        serde_json::json!({"kind": "audio", "codec": "opus", "mid": "1"})
    );
    let observer = &json["media"]["subscribers"][0];
    assert_eq!(observer["participant_id"], P_OBSERVER.to_string());
    assert_eq!(observer["slots"], serde_json::json!(["room-cam", null]));
}

#[test]
fn replay_shows_a_source_stalled_until_its_media_resumes() {
    let stalled = Event::SourceStalled(SourceStalled {
        session_id: SESSION,
        resource_id: WHIP_ENDOSCOPE,
        participant_id: P_HOST,
        user_id: HOST,
        source: "endoscope".into(),
    });
    let resumed = Event::SourceResumed(SourceResumed {
        session_id: SESSION,
        resource_id: WHIP_ENDOSCOPE,
        participant_id: P_HOST,
        user_id: HOST,
        source: "endoscope".into(),
        stalled_ms: 5_000,
    });
    let events = recorded(with(
        live(),
        [
            publisher_connected(WHIP_ENDOSCOPE, P_HOST, HOST, "endoscope"),
            stalled,
            resumed,
        ],
    ));
    let n = events.len() as i64;
    let stalled_flag = |at: i64| {
        replay_session(&events, Some(minute(at)))
            .unwrap()
            .media
            .sources[0]
            .stalled
    };
    assert!(!stalled_flag(n - 2), "before the stall");
    assert!(stalled_flag(n - 1), "after SourceStalled");
    assert!(!stalled_flag(n), "after SourceResumed");
}

#[test]
fn replay_shows_the_strokes_chat_questions_and_hands_of_a_moment() {
    // Minutes: 1-5 scheduled(), 6 started, 7 host joins, 8 fade set to 5 minutes, 9 arrow,
    // 10 pinned circle, 11 chat, 12 question, 13 hand raised, 14 question answered, 15 all
    // cleared.
    let stroke = |id: u128, kind: StrokeKind, pinned: bool| {
        Event::AnnotationStroke(AnnotationStroke {
            session_id: SESSION,
            stroke_id: Uuid::from_u128(id),
            user_id: HOST,
            participant_id: P_HOST,
            panel_id: "p1".into(),
            source_id: Some("endoscope".into()),
            media_time_ms: Some(60_000),
            kind,
            points: vec![[0.25, 0.75], [0.5, 0.5]],
            color: "#ff8800".into(),
            width: 0.004,
            pinned,
        })
    };
    let question = Uuid::from_u128(0x0A);
    let log = recorded(with(
        live(),
        [
            joined(P_HOST, HOST, SessionRole::Host),
            Event::TeachingSettingsChanged(TeachingSettingsChanged {
                session_id: SESSION,
                observers_may_annotate: None,
                observer_chat: None,
                stroke_fade_ms: Some(300_000),
            }),
            stroke(1, StrokeKind::Arrow, false),
            stroke(2, StrokeKind::Circle, true),
            Event::ChatMessagePosted(ChatMessagePosted {
                session_id: SESSION,
                message_id: Uuid::from_u128(0xC),
                user_id: SURGEON,
                text: "there".into(),
                mentions: vec![HOST],
            }),
            Event::QuestionAsked(QuestionAsked {
                session_id: SESSION,
                question_id: question,
                user_id: OBSERVER,
                text: "Which plane?".into(),
            }),
            Event::HandRaised(HandRaised {
                session_id: SESSION,
                user_id: OBSERVER,
            }),
            Event::QuestionAnswered(QuestionAnswered {
                session_id: SESSION,
                question_id: question,
            }),
            Event::AnnotationCleared(AnnotationCleared {
                session_id: SESSION,
                user_id: HOST,
                scope: ClearScope::All,
                panel_id: None,
            }),
        ],
    ));
    let ids = |view: &livesurgery_domain::replay::SessionView| -> Vec<u128> {
        view.teaching
            .strokes
            .iter()
            .map(|s| s.stroke_id.as_u128())
            .collect()
    };
    let before = replay_session(&log, Some(minute(8))).unwrap();
    assert!(before.teaching.strokes.is_empty());
    assert_eq!(before.teaching.settings.stroke_fade_ms, 300_000);

    let drawn = replay_session(&log, Some(minute(13))).unwrap();
    assert_eq!(ids(&drawn), [1, 2]);
    let arrow = &drawn.teaching.strokes[0];
    assert_eq!(arrow.kind, StrokeKind::Arrow);
    assert_eq!(arrow.points, vec![[0.25, 0.75], [0.5, 0.5]]);
    assert_eq!(arrow.drawn_at, Some(minute(9)));
    assert_eq!(arrow.source_id.as_deref(), Some("endoscope"));
    assert_eq!(drawn.teaching.chat.len(), 1);
    assert_eq!(drawn.teaching.chat[0].posted_at, Some(minute(11)));
    assert_eq!(drawn.teaching.questions[0].asked_at, Some(minute(12)));
    assert_eq!(drawn.teaching.questions[0].answered_at, None);
    assert_eq!(drawn.teaching.hands[0].user_id, OBSERVER);

    // Five minutes after it was drawn the arrow has faded; the pinned circle stays.
    let faded = replay_session(&log, Some(minute(14) + Duration::seconds(30))).unwrap();
    assert_eq!(ids(&faded), [2]);
    assert_eq!(faded.teaching.questions[0].answered_at, Some(minute(14)));

    let cleared = replay_session(&log, None).unwrap();
    assert!(cleared.teaching.strokes.is_empty());
    let json = serde_json::to_value(&drawn).unwrap();
    assert_eq!(json["teaching"]["strokes"][0]["points"][1][0], 0.5);
    assert_eq!(
        json["teaching"]["strokes"][0]["drawn_at"],
        "2026-03-01T08:09:00Z"
    );
    assert!(json["teaching"]["questions"][0].get("answered").is_none());
}
