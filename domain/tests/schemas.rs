//! Every event's `data` validates against its JSON Schema in `schemas/events/<Type>.json`, and
//! the schema files and the event catalog name the same types.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use livesurgery_domain::envelope::Actor;
use livesurgery_domain::events::*;
use livesurgery_domain::layout::default_panels;
use livesurgery_domain::permissions::Action;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use serde_json::Value;
use uuid::Uuid;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
}

fn load_schema(event_type: &str) -> Value {
    let path = schema_dir().join(format!("{event_type}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

/// Adding a variant to `Event` breaks this match until the variant has a sample below.
fn sample_name(event: &Event) -> &'static str {
    match event {
        Event::SessionCreated(_) => "SessionCreated",
        Event::SessionDetailsChanged(_) => "SessionDetailsChanged",
        Event::SessionStarted(_) => "SessionStarted",
        Event::SessionEnded(_) => "SessionEnded",
        Event::SessionCancelled(_) => "SessionCancelled",
        Event::MemberAdded(_) => "MemberAdded",
        Event::MemberRoleChanged(_) => "MemberRoleChanged",
        Event::MemberRemoved(_) => "MemberRemoved",
        Event::ParticipantJoined(_) => "ParticipantJoined",
        Event::ParticipantLeft(_) => "ParticipantLeft",
        Event::LayoutInitialized(_) => "LayoutInitialized",
        Event::LayoutUpdated(_) => "LayoutUpdated",
        Event::SourceSelected(_) => "SourceSelected",
        Event::RecordingRequested(_) => "RecordingRequested",
        Event::RecordingStarted(_) => "RecordingStarted",
        Event::RecordingStopped(_) => "RecordingStopped",
        Event::ArchiveOpened(_) => "ArchiveOpened",
        Event::SegmentStored(_) => "SegmentStored",
        Event::RecordingOverrun(_) => "RecordingOverrun",
        Event::ArchiveClosed(_) => "ArchiveClosed",
        Event::ArchiveFinalised(_) => "ArchiveFinalised",
        Event::ArchiveAccessed(_) => "ArchiveAccessed",
        Event::ArchiveRetentionChanged(_) => "ArchiveRetentionChanged",
        Event::ArchiveExpired(_) => "ArchiveExpired",
        Event::PublisherConnected(_) => "PublisherConnected",
        Event::PublisherDisconnected(_) => "PublisherDisconnected",
        Event::TrackPublished(_) => "TrackPublished",
        Event::TrackUnpublished(_) => "TrackUnpublished",
        Event::SubscriberConnected(_) => "SubscriberConnected",
        Event::SubscriberDisconnected(_) => "SubscriberDisconnected",
        Event::SubscriptionChanged(_) => "SubscriptionChanged",
        Event::KeyframeRequested(_) => "KeyframeRequested",
        Event::FirstFrameDelivered(_) => "FirstFrameDelivered",
        Event::FirstFrameDecoded(_) => "FirstFrameDecoded",
        Event::MediaQualitySampled(_) => "MediaQualitySampled",
        Event::SourceStalled(_) => "SourceStalled",
        Event::SourceResumed(_) => "SourceResumed",
        Event::MediaPlaced(_) => "MediaPlaced",
        Event::AnnotationStroke(_) => "AnnotationStroke",
        Event::AnnotationCleared(_) => "AnnotationCleared",
        Event::PointerMoved(_) => "PointerMoved",
        Event::ChatMessagePosted(_) => "ChatMessagePosted",
        Event::QuestionAsked(_) => "QuestionAsked",
        Event::QuestionAnswered(_) => "QuestionAnswered",
        Event::HandRaised(_) => "HandRaised",
        Event::HandLowered(_) => "HandLowered",
        Event::TeachingSettingsChanged(_) => "TeachingSettingsChanged",
        Event::UserRegistered(_) => "UserRegistered",
        Event::UserRoleChanged(_) => "UserRoleChanged",
        Event::UserDisplayNameChanged(_) => "UserDisplayNameChanged",
        Event::UserDeactivated(_) => "UserDeactivated",
        Event::UserReactivated(_) => "UserReactivated",
        Event::AccessDenied(_) => "AccessDenied",
        Event::AuditTrailRead(_) => "AuditTrailRead",
        Event::RefreshTokenReused(_) => "RefreshTokenReused",
        Event::SignInThrottled(_) => "SignInThrottled",
    }
}

fn samples() -> Vec<Event> {
    let s = Uuid::from_u128(0x5E55);
    let u = Uuid::from_u128(1);
    let p = Uuid::from_u128(2);
    let r = Uuid::from_u128(3);
    let whip = Uuid::from_u128(4);
    let whep = Uuid::from_u128(5);
    let a = Uuid::from_u128(6);
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let alice = Actor {
        user_id: Some(u),
        role: Some("surgeon".into()),
        participant_id: Some(p),
    };
    let mut panels = default_panels();
    panels[0].source_id = Some("endoscope-1".into());
    panels[1].z = -3;
    panels[1].name = Some("Main view".into());
    vec![
        Event::SessionCreated(SessionCreated {
            session_id: s,
            title: "Lap chole".into(),
            procedure: Some("cholecystectomy".into()),
            scheduled_start: Some(at),
            created_by: u,
        }),
        Event::SessionCreated(SessionCreated {
            session_id: s,
            title: "T".into(),
            procedure: None,
            scheduled_start: None,
            created_by: u,
        }),
        Event::SessionDetailsChanged(SessionDetailsChanged {
            session_id: s,
            title: Some("New".into()),
            procedure: None,
            scheduled_start: None,
        }),
        Event::SessionDetailsChanged(SessionDetailsChanged {
            session_id: s,
            title: None,
            procedure: Some(None),
            scheduled_start: Some(Some(at)),
        }),
        Event::SessionStarted(SessionStarted { session_id: s }),
        Event::SessionEnded(SessionEnded { session_id: s }),
        Event::SessionCancelled(SessionCancelled {
            session_id: s,
            reason: Some("theatre closed".into()),
        }),
        Event::SessionCancelled(SessionCancelled {
            session_id: s,
            reason: None,
        }),
        Event::MemberAdded(MemberAdded {
            session_id: s,
            user_id: u,
            role: SessionRole::Host,
        }),
        Event::MemberRoleChanged(MemberRoleChanged {
            session_id: s,
            user_id: u,
            from: SessionRole::Surgeon,
            to: SessionRole::Observer,
        }),
        Event::MemberRemoved(MemberRemoved {
            session_id: s,
            user_id: u,
        }),
        Event::ParticipantJoined(ParticipantJoined {
            session_id: s,
            participant_id: p,
            user_id: u,
            role: SessionRole::Observer,
            device: Some("OR camera 2".into()),
        }),
        Event::ParticipantLeft(ParticipantLeft {
            session_id: s,
            participant_id: p,
            user_id: u,
            reason: LeaveReason::TimedOut,
        }),
        Event::LayoutInitialized(LayoutInitialized {
            session_id: s,
            version: 1,
            panels: default_panels(),
        }),
        Event::LayoutUpdated(LayoutUpdated {
            session_id: s,
            version: 3,
            base_version: 1,
            changes: vec![
                LayoutFieldChange {
                    panel_id: Some("p1".into()),
                    field: "source_id".into(),
                    value: "endoscope-1".into(),
                },
                LayoutFieldChange {
                    panel_id: None,
                    field: "panels".into(),
                    value: serde_json::json!({"added": [], "removed": ["p4"]}),
                },
            ],
            conflicts: vec![LayoutConflict {
                panel_id: Some("p1".into()),
                field: "source_id".into(),
                winner: alice.clone(),
                loser: Actor::system(),
                loser_version: 2,
            }],
            panels: panels.clone(),
            changed_by: alice.clone(),
        }),
        Event::SourceSelected(SourceSelected {
            session_id: s,
            panel_id: "p2".into(),
            source_id: None,
            layout_version: 4,
            changed_by: alice,
        }),
        Event::RecordingRequested(RecordingRequested {
            session_id: s,
            recording_id: r,
        }),
        Event::RecordingStarted(RecordingStarted {
            session_id: s,
            recording_id: r,
        }),
        Event::RecordingStopped(RecordingStopped {
            session_id: s,
            recording_id: r,
        }),
        Event::ArchiveOpened(ArchiveOpened {
            session_id: s,
            archive_id: a,
            recording_id: r,
            source: "endoscope".into(),
            expires_at: at,
        }),
        Event::SegmentStored(SegmentStored {
            session_id: s,
            archive_id: a,
            seq: 0,
            object_key: format!("archives/{a}/segments/00000000.mp4"),
            bytes: 123_456,
            sha256: "ab".repeat(32),
            start_ms: 0,
            duration_ms: 4_000,
        }),
        Event::RecordingOverrun(RecordingOverrun {
            session_id: s,
            archive_id: a,
            source: "endoscope".into(),
            dropped_frames: 3,
        }),
        Event::ArchiveClosed(ArchiveClosed {
            session_id: s,
            archive_id: a,
            reason: ArchiveCloseReason::Interrupted,
        }),
        Event::ArchiveFinalised(ArchiveFinalised {
            session_id: s,
            archive_id: a,
            status: ArchiveStatus::Ready,
            object_key: Some(format!("archives/{a}/playback.mp4")),
            content_type: Some("video/mp4".into()),
            bytes: 1_234_567,
            duration_ms: 10_020,
            sha256: Some("cd".repeat(32)),
            reason: None,
        }),
        Event::ArchiveFinalised(ArchiveFinalised {
            session_id: s,
            archive_id: a,
            status: ArchiveStatus::Failed,
            object_key: None,
            content_type: None,
            bytes: 0,
            duration_ms: 0,
            sha256: None,
            reason: Some("no segment was stored".into()),
        }),
        Event::ArchiveAccessed(ArchiveAccessed {
            session_id: s,
            archive_id: a,
            user_id: u,
            url_expires_at: at,
        }),
        Event::ArchiveRetentionChanged(ArchiveRetentionChanged {
            session_id: s,
            archive_id: a,
            expires_at: at,
            legal_hold: true,
        }),
        Event::ArchiveExpired(ArchiveExpired {
            session_id: s,
            archive_id: a,
            objects_deleted: 4,
        }),
        Event::PublisherConnected(PublisherConnected {
            session_id: s,
            resource_id: whip,
            participant_id: p,
            user_id: u,
            source: "endoscope".into(),
        }),
        Event::PublisherDisconnected(PublisherDisconnected {
            session_id: s,
            resource_id: whip,
            participant_id: p,
            user_id: u,
            source: "endoscope".into(),
            reason: MediaEndReason::SessionEnded,
        }),
        Event::TrackPublished(TrackPublished {
            session_id: s,
            resource_id: whip,
            source: "endoscope".into(),
            kind: MediaKind::Video,
            codec: "h264".into(),
            mid: "0".into(),
        }),
        Event::TrackUnpublished(TrackUnpublished {
            session_id: s,
            resource_id: whip,
            source: "endoscope".into(),
            kind: MediaKind::Audio,
            mid: "1".into(),
            reason: MediaEndReason::Disconnected,
        }),
        Event::SubscriberConnected(SubscriberConnected {
            session_id: s,
            resource_id: whep,
            participant_id: p,
            user_id: u,
            video_slots: 2,
            audio_slots: 1,
        }),
        Event::SubscriberDisconnected(SubscriberDisconnected {
            session_id: s,
            resource_id: whep,
            participant_id: p,
            user_id: u,
            reason: MediaEndReason::Removed,
        }),
        Event::SubscriptionChanged(SubscriptionChanged {
            session_id: s,
            resource_id: whep,
            participant_id: p,
            user_id: u,
            slots: vec![Some("room-cam".into()), None],
            previous: vec![Some("endoscope".into()), Some("room-cam".into())],
        }),
        Event::KeyframeRequested(KeyframeRequested {
            session_id: s,
            resource_id: whip,
            source: "endoscope".into(),
            kind: KeyframeKind::Fir,
            cause: KeyframeCause::FirstFrame,
        }),
        Event::FirstFrameDelivered(FirstFrameDelivered {
            session_id: s,
            resource_id: whep,
            participant_id: p,
            user_id: u,
            source: "endoscope".into(),
            slot: 0,
            join_to_first_frame_ms: 312,
        }),
        Event::FirstFrameDecoded(FirstFrameDecoded {
            session_id: s,
            participant_id: p,
            user_id: u,
            source: Some("endoscope".into()),
            join_to_first_frame_ms: 420,
        }),
        Event::FirstFrameDecoded(FirstFrameDecoded {
            session_id: s,
            participant_id: p,
            user_id: u,
            source: None,
            join_to_first_frame_ms: 0,
        }),
        Event::MediaQualitySampled(MediaQualitySampled {
            session_id: s,
            resource_id: whip,
            source: "endoscope".into(),
            kind: MediaKind::Video,
            mid: "0".into(),
            bitrate_bps: 2_500_000,
            packets: 2_300,
            packets_lost: 4,
            jitter_us: Some(1_800),
            rtt_ms: Some(12),
            interval_ms: 10_000,
        }),
        Event::MediaQualitySampled(MediaQualitySampled {
            session_id: s,
            resource_id: whip,
            source: "vitals".into(),
            kind: MediaKind::Audio,
            mid: "1".into(),
            bitrate_bps: 0,
            packets: 0,
            packets_lost: 0,
            jitter_us: None,
            rtt_ms: None,
            interval_ms: 10_000,
        }),
        Event::SourceStalled(SourceStalled {
            session_id: s,
            resource_id: whip,
            participant_id: p,
            user_id: u,
            source: "endoscope".into(),
        }),
        Event::SourceResumed(SourceResumed {
            session_id: s,
            resource_id: whip,
            participant_id: p,
            user_id: u,
            source: "endoscope".into(),
            stalled_ms: 4_200,
        }),
        Event::MediaPlaced(MediaPlaced {
            session_id: s,
            node_id: "0190d7a2-8c4e-7b3a-9f10-0000000000f1".into(),
            url: "https://node-a.or.example.org".into(),
            reason: PlacementReason::FirstJoin,
            previous_node_id: None,
        }),
        Event::MediaPlaced(MediaPlaced {
            session_id: s,
            node_id: "node-b".into(),
            url: "http://10.0.0.2:8080".into(),
            reason: PlacementReason::NodeGone,
            previous_node_id: Some("0190d7a2-8c4e-7b3a-9f10-0000000000f1".into()),
        }),
        Event::AnnotationStroke(AnnotationStroke {
            session_id: s,
            stroke_id: a,
            user_id: u,
            participant_id: p,
            panel_id: "p1".into(),
            source_id: Some("endoscope-1".into()),
            media_time_ms: Some(81_234),
            kind: StrokeKind::Freehand,
            points: vec![[0.0, 0.25], [0.5, 0.5], [1.0, 1.0]],
            color: "#ff8800".into(),
            width: 0.004,
            pinned: false,
        }),
        Event::AnnotationStroke(AnnotationStroke {
            session_id: s,
            stroke_id: a,
            user_id: u,
            participant_id: p,
            panel_id: "p2".into(),
            source_id: None,
            media_time_ms: None,
            kind: StrokeKind::Circle,
            points: vec![[0.5, 0.5], [0.6, 0.5]],
            color: "#00aa00".into(),
            width: 0.05,
            pinned: true,
        }),
        Event::AnnotationCleared(AnnotationCleared {
            session_id: s,
            user_id: u,
            scope: ClearScope::Mine,
            panel_id: Some("p1".into()),
        }),
        Event::AnnotationCleared(AnnotationCleared {
            session_id: s,
            user_id: u,
            scope: ClearScope::All,
            panel_id: None,
        }),
        Event::PointerMoved(PointerMoved {
            session_id: s,
            panel_id: "p1".into(),
            source_id: Some("endoscope-1".into()),
            points: vec![(0.5, 0.5, 0), (0.52, 0.49, 100), (1.0, 0.0, 1000)],
        }),
        Event::ChatMessagePosted(ChatMessagePosted {
            session_id: s,
            message_id: a,
            user_id: u,
            text: "Look at the\ncystic duct".into(),
            mentions: vec![r],
        }),
        Event::QuestionAsked(QuestionAsked {
            session_id: s,
            question_id: a,
            user_id: u,
            text: "Which plane?".into(),
        }),
        Event::QuestionAnswered(QuestionAnswered {
            session_id: s,
            question_id: a,
        }),
        Event::HandRaised(HandRaised {
            session_id: s,
            user_id: u,
        }),
        Event::HandLowered(HandLowered {
            session_id: s,
            user_id: u,
        }),
        Event::TeachingSettingsChanged(TeachingSettingsChanged {
            session_id: s,
            observers_may_annotate: Some(true),
            observer_chat: None,
            stroke_fade_ms: Some(20_000),
        }),
        Event::TeachingSettingsChanged(TeachingSettingsChanged {
            session_id: s,
            observers_may_annotate: None,
            observer_chat: Some(false),
            stroke_fade_ms: None,
        }),
        Event::UserRegistered(UserRegistered {
            user_id: u,
            username: "dr.alice-2".into(),
            display_name: "Dr Alice".into(),
            role: OrgRole::Reviewer,
        }),
        Event::UserRoleChanged(UserRoleChanged {
            user_id: u,
            from: OrgRole::Observer,
            to: OrgRole::Admin,
        }),
        Event::UserDisplayNameChanged(UserDisplayNameChanged {
            user_id: u,
            display_name: "Alice B.".into(),
        }),
        Event::UserDeactivated(UserDeactivated { user_id: u }),
        Event::UserReactivated(UserReactivated { user_id: u }),
        Event::AccessDenied(AccessDenied {
            user_id: u,
            session_id: Some(s),
            action: Action::StartSession,
            method: "POST".into(),
            route: "/v1/sessions/{id}:start".into(),
            status: 403,
            reason: "only the session host may start session".into(),
        }),
        Event::AccessDenied(AccessDenied {
            user_id: u,
            session_id: None,
            action: Action::RegisterUser,
            method: "POST".into(),
            route: "/v1/users".into(),
            status: 403,
            reason: "only admins may register user".into(),
        }),
        Event::AuditTrailRead(AuditTrailRead {
            user_id: u,
            session_id: Some(s),
            kind: AuditReadKind::Replay,
            query: [("at".to_owned(), at.to_rfc3339())].into(),
            client_address: None,
        }),
        Event::AuditTrailRead(AuditTrailRead {
            user_id: u,
            session_id: None,
            kind: AuditReadKind::Events,
            query: [
                ("actor".to_owned(), u.to_string()),
                ("type".to_owned(), "LayoutUpdated".to_owned()),
            ]
            .into(),
            client_address: None,
        }),
        Event::AuditTrailRead(AuditTrailRead {
            user_id: u,
            session_id: Some(s),
            kind: AuditReadKind::Verify,
            query: Default::default(),
            client_address: None,
        }),
        Event::AuditTrailRead(AuditTrailRead {
            user_id: u,
            session_id: None,
            kind: AuditReadKind::Export,
            query: [("from".to_owned(), at.to_rfc3339())].into(),
            client_address: Some("192.0.2.7".to_owned()),
        }),
        Event::RefreshTokenReused(RefreshTokenReused {
            user_id: u,
            family_id: a,
        }),
        Event::SignInThrottled(SignInThrottled {
            user_id: u,
            address: "192.0.2.7".into(),
            failures: 6,
            delay_secs: 1,
        }),
    ]
}

#[test]
fn every_event_type_has_a_sample() {
    let sampled: BTreeSet<_> = samples().iter().map(sample_name).collect();
    let types: BTreeSet<_> = Event::TYPES.iter().copied().collect();
    assert_eq!(sampled, types);
    for event in samples() {
        assert_eq!(event.event_type(), sample_name(&event));
    }
}

#[test]
fn every_sample_validates_against_its_schema_and_reads_back() {
    for event in samples() {
        let event_type = event.event_type();
        let schema = load_schema(event_type);
        let data = event.data();
        let errors: Vec<String> = validator(&schema)
            .iter_errors(&data)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{event_type} {data}: {errors:#?}");
        let back = Event::from_stored(event_type, event.schema_version(), &data).unwrap();
        assert_eq!(back, event, "{event_type} reads back as written");
    }
}

#[test]
fn schemas_reject_unknown_and_missing_fields() {
    for event in samples() {
        let event_type = event.event_type();
        let schema = load_schema(event_type);
        let v = validator(&schema);
        let data = event.data();
        let mut extra = data.clone();
        extra["patient_name"] = "x".into();
        assert!(!v.is_valid(&extra), "{event_type} accepts an unknown field");
        let required = schema["required"].as_array().expect("required is a list");
        assert!(!required.is_empty(), "{event_type} requires nothing");
        for field in required {
            let mut missing = data.clone();
            missing
                .as_object_mut()
                .expect("data is an object")
                .remove(field.as_str().expect("field names are strings"));
            assert!(
                !v.is_valid(&missing),
                "{event_type} accepts a missing {field}"
            );
        }
    }
}

#[test]
fn schemas_check_formats_and_bounds() {
    let schema = load_schema("LayoutInitialized");
    let v = validator(&schema);
    let mut data = samples()
        .into_iter()
        .find(|e| e.event_type() == "LayoutInitialized")
        .unwrap()
        .data();
    assert!(v.is_valid(&data));
    data["session_id"] = "not-a-uuid".into();
    assert!(!v.is_valid(&data), "uuid format is checked");
    data["session_id"] = Uuid::nil().to_string().into();
    data["panels"][0]["w"] = 0.into();
    assert!(!v.is_valid(&data), "panel width is at least 1");
}

#[test]
fn media_schemas_accept_source_labels_only() {
    for event_type in ["PublisherConnected", "TrackPublished", "FirstFrameDecoded"] {
        let v = validator(&load_schema(event_type));
        let mut data = samples()
            .into_iter()
            .find(|e| e.event_type() == event_type)
            .unwrap()
            .data();
        assert!(v.is_valid(&data), "{event_type}");
        for not_a_label in ["Jane Doe, bed 4", "", "Endoscope", "-cam"] {
            data["source"] = not_a_label.into();
            assert!(
                !v.is_valid(&data),
                "{event_type} accepts source {not_a_label:?}"
            );
        }
    }
}

#[test]
fn teaching_schemas_bound_points_colours_and_widths() {
    let stroke = samples()
        .into_iter()
        .find(|e| e.event_type() == "AnnotationStroke")
        .unwrap()
        .data();
    let v = validator(&load_schema("AnnotationStroke"));
    assert!(v.is_valid(&stroke));
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 6] = [
        ("x past 1", |d| d["points"][0][0] = 1.01.into()),
        ("a point of 3 numbers", |d| {
            d["points"][0] = serde_json::json!([0.1, 0.1, 0.1])
        }),
        ("one point", |d| {
            d["points"] = serde_json::json!([[0.1, 0.1]])
        }),
        ("257 points", |d| {
            d["points"] = serde_json::json!(vec![[0.5, 0.5]; 257])
        }),
        ("a colour name", |d| d["color"] = "red".into()),
        ("a width past 0.05", |d| d["width"] = 0.06.into()),
    ];
    for (what, edit) in edits {
        let mut data = stroke.clone();
        edit(&mut data);
        assert!(!v.is_valid(&data), "AnnotationStroke accepts {what}");
    }
    let pointer = samples()
        .into_iter()
        .find(|e| e.event_type() == "PointerMoved")
        .unwrap()
        .data();
    let v = validator(&load_schema("PointerMoved"));
    assert_eq!(pointer["points"][1], serde_json::json!([0.52, 0.49, 100]));
    let mut late = pointer.clone();
    late["points"][1][2] = 1001.into();
    assert!(!v.is_valid(&late), "a sample past 1000 ms");
    let mut none = pointer;
    none["points"] = serde_json::json!([]);
    assert!(!v.is_valid(&none), "an empty batch");
}

#[test]
fn schema_files_and_event_types_match_one_to_one() {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(schema_dir()).expect("schemas/events exists") {
        let path = entry.unwrap().path();
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("json"),
            "{}",
            path.display()
        );
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        files.insert(stem);
    }
    let types: BTreeSet<String> = Event::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(files, types);
    for event_type in Event::TYPES {
        let schema = load_schema(event_type);
        assert_eq!(schema["title"], *event_type);
        assert_eq!(schema["x-schema-version"], 1);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["additionalProperties"], false);
        jsonschema::meta::validate(&schema)
            .unwrap_or_else(|e| panic!("{event_type} is not a valid schema: {e}"));
    }
}

#[test]
fn access_denied_names_exactly_the_actions_of_the_domain_and_only_route_templates() {
    let schema = load_schema("AccessDenied");
    let names: Vec<&str> = schema["properties"]["action"]["enum"]
        .as_array()
        .expect("action is an enum")
        .iter()
        .map(|v| v.as_str().expect("action names are strings"))
        .collect();
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(names, actions);
    let v = validator(&schema);
    let mut data = samples()
        .into_iter()
        .find(|e| e.event_type() == "AccessDenied")
        .unwrap()
        .data();
    data["route"] = "/v1/sessions/5e55?token=secret".into();
    assert!(!v.is_valid(&data), "a raw URL with a query is refused");
}
