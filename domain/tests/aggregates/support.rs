//! The given/when/then harness and the fixtures every aggregate test shares.

use chrono::{DateTime, TimeZone, Utc};
use livesurgery_domain::aggregate::{self, Aggregate};
use livesurgery_domain::events::*;
use livesurgery_domain::layout::default_panels;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::{CommandContext, DomainError};
use uuid::Uuid;

pub const SESSION: Uuid = Uuid::from_u128(0x5E55_0000);
/// Org surgeon, the session's creator and host.
pub const HOST: Uuid = Uuid::from_u128(1);
/// Org surgeon, session surgeon.
pub const SURGEON: Uuid = Uuid::from_u128(2);
/// Org observer, session observer.
pub const OBSERVER: Uuid = Uuid::from_u128(3);
/// Org reviewer, not a member.
pub const REVIEWER: Uuid = Uuid::from_u128(4);
/// Org admin, not a member.
pub const ADMIN: Uuid = Uuid::from_u128(5);
/// Org surgeon, not a member.
pub const OUTSIDER: Uuid = Uuid::from_u128(6);
pub const P_HOST: Uuid = Uuid::from_u128(101);
pub const P_SURGEON: Uuid = Uuid::from_u128(102);
pub const P_OBSERVER: Uuid = Uuid::from_u128(103);
pub const RECORDING: Uuid = Uuid::from_u128(201);

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

pub fn ctx(user_id: Uuid, org_role: OrgRole) -> CommandContext {
    CommandContext::new(user_id, org_role, t0())
}
pub fn host() -> CommandContext {
    ctx(HOST, OrgRole::Surgeon)
}
pub fn surgeon() -> CommandContext {
    ctx(SURGEON, OrgRole::Surgeon)
}
pub fn observer() -> CommandContext {
    ctx(OBSERVER, OrgRole::Observer)
}
pub fn reviewer() -> CommandContext {
    ctx(REVIEWER, OrgRole::Reviewer)
}
pub fn admin() -> CommandContext {
    ctx(ADMIN, OrgRole::Admin)
}
pub fn outsider() -> CommandContext {
    ctx(OUTSIDER, OrgRole::Surgeon)
}

/// A state built from `given` events, and who issues the next command.
pub struct Scenario<A: Aggregate> {
    state: A::State,
    ctx: CommandContext,
}

/// The result of `when`, to check with `then` or `then_error`.
pub struct Outcome(pub Result<Vec<Event>, DomainError>);

/// Starts a session scenario from these events (issued by the host unless `by` says otherwise).
pub fn given(events: impl IntoIterator<Item = Event>) -> Scenario<aggregate::Session> {
    given_for(events, host())
}

/// Starts a user scenario from these events (issued by an admin unless `by` says otherwise).
pub fn given_user(events: impl IntoIterator<Item = Event>) -> Scenario<aggregate::User> {
    given_for(events, admin())
}

fn given_for<A: Aggregate>(
    events: impl IntoIterator<Item = Event>,
    ctx: CommandContext,
) -> Scenario<A> {
    let state = events
        .into_iter()
        .fold(A::State::default(), |s, e| A::evolve(s, &e));
    Scenario { state, ctx }
}

impl<A: Aggregate> Scenario<A> {
    pub fn by(mut self, ctx: CommandContext) -> Self {
        self.ctx = ctx;
        self
    }
    pub fn when(self, cmd: A::Command) -> Outcome {
        Outcome(A::decide(&self.state, &cmd, &self.ctx))
    }
    pub fn state(&self) -> &A::State {
        &self.state
    }
}

impl Outcome {
    #[track_caller]
    pub fn then(self, expected: Vec<Event>) {
        match self.0 {
            Ok(events) => assert_eq!(events, expected),
            Err(e) => panic!("expected events, got error {}: {e}", e.code()),
        }
    }
    #[track_caller]
    pub fn then_error(self, code: &str) {
        match self.0 {
            Ok(events) => panic!("expected error {code}, got events {events:#?}"),
            Err(e) => assert_eq!(e.code(), code, "error was: {e}"),
        }
    }
    #[track_caller]
    pub fn events(self) -> Vec<Event> {
        self.0
            .unwrap_or_else(|e| panic!("expected events, got error {}: {e}", e.code()))
    }
}

// ---- event fixtures ----

pub fn created() -> Vec<Event> {
    vec![
        Event::SessionCreated(SessionCreated {
            session_id: SESSION,
            title: "Lap chole".into(),
            procedure: Some("cholecystectomy".into()),
            scheduled_start: Some(t0()),
            created_by: HOST,
        }),
        member_added(HOST, SessionRole::Host),
        Event::LayoutInitialized(LayoutInitialized {
            session_id: SESSION,
            version: 1,
            panels: default_panels(),
        }),
    ]
}

pub fn member_added(user_id: Uuid, role: SessionRole) -> Event {
    Event::MemberAdded(MemberAdded {
        session_id: SESSION,
        user_id,
        role,
    })
}

/// Created, with a session surgeon and a session observer.
pub fn scheduled() -> Vec<Event> {
    let mut events = created();
    events.push(member_added(SURGEON, SessionRole::Surgeon));
    events.push(member_added(OBSERVER, SessionRole::Observer));
    events
}

pub fn live() -> Vec<Event> {
    let mut events = scheduled();
    events.push(Event::SessionStarted(SessionStarted {
        session_id: SESSION,
    }));
    events
}

pub fn ended() -> Vec<Event> {
    let mut events = live();
    events.push(Event::SessionEnded(SessionEnded {
        session_id: SESSION,
    }));
    events
}

pub fn cancelled() -> Vec<Event> {
    let mut events = scheduled();
    events.push(Event::SessionCancelled(SessionCancelled {
        session_id: SESSION,
        reason: None,
    }));
    events
}

pub fn joined(participant_id: Uuid, user_id: Uuid, role: SessionRole) -> Event {
    Event::ParticipantJoined(ParticipantJoined {
        session_id: SESSION,
        participant_id,
        user_id,
        role,
        device: None,
    })
}

pub fn left(participant_id: Uuid, user_id: Uuid, reason: LeaveReason) -> Event {
    Event::ParticipantLeft(ParticipantLeft {
        session_id: SESSION,
        participant_id,
        user_id,
        reason,
    })
}

/// `user_id` was refused starting the session, and then read its replay: access events that
/// name the session but live on the user's access stream.
pub fn access_events(user_id: Uuid) -> Vec<Event> {
    vec![
        Event::AccessDenied(AccessDenied {
            user_id,
            session_id: Some(SESSION),
            action: livesurgery_domain::permissions::Action::StartSession,
            method: "POST".into(),
            route: "/v1/sessions/{id}:start".into(),
            status: 403,
            reason: "only the session host may start session".into(),
        }),
        Event::AuditTrailRead(AuditTrailRead {
            user_id,
            session_id: Some(SESSION),
            kind: AuditReadKind::Replay,
            query: Default::default(),
            client_address: None,
        }),
    ]
}

pub fn with(mut base: Vec<Event>, more: impl IntoIterator<Item = Event>) -> Vec<Event> {
    base.extend(more);
    base
}

// ---- media fixtures: what the SFU appends ----

/// The host's WHIP resource publishing `endoscope`.
pub const WHIP_ENDOSCOPE: Uuid = Uuid::from_u128(301);
/// The surgeon's WHIP resource publishing `room-cam`.
pub const WHIP_ROOM_CAM: Uuid = Uuid::from_u128(302);
/// The observer's WHEP resource.
pub const WHEP_OBSERVER: Uuid = Uuid::from_u128(401);

pub fn publisher_connected(
    resource_id: Uuid,
    participant_id: Uuid,
    user_id: Uuid,
    source: &str,
) -> Event {
    Event::PublisherConnected(PublisherConnected {
        session_id: SESSION,
        resource_id,
        participant_id,
        user_id,
        source: source.into(),
    })
}

pub fn publisher_disconnected(
    resource_id: Uuid,
    participant_id: Uuid,
    user_id: Uuid,
    source: &str,
    reason: MediaEndReason,
) -> Event {
    Event::PublisherDisconnected(PublisherDisconnected {
        session_id: SESSION,
        resource_id,
        participant_id,
        user_id,
        source: source.into(),
        reason,
    })
}

pub fn track_published(
    resource_id: Uuid,
    source: &str,
    kind: MediaKind,
    codec: &str,
    mid: &str,
) -> Event {
    Event::TrackPublished(TrackPublished {
        session_id: SESSION,
        resource_id,
        source: source.into(),
        kind,
        codec: codec.into(),
        mid: mid.into(),
    })
}

pub fn subscription_changed(slots: &[Option<&str>], previous: &[Option<&str>]) -> Event {
    let owned = |s: &[Option<&str>]| s.iter().map(|s| s.map(str::to_owned)).collect();
    Event::SubscriptionChanged(SubscriptionChanged {
        session_id: SESSION,
        resource_id: WHEP_OBSERVER,
        participant_id: P_OBSERVER,
        user_id: OBSERVER,
        slots: owned(slots),
        previous: owned(previous),
    })
}

/// The host publishes `endoscope` (video and audio), the surgeon `room-cam`, the observer
/// subscribes with two video slots and switches them; keyframes, first frames and quality
/// samples in between. Everything is still connected at the end.
pub fn media_events() -> Vec<Event> {
    vec![
        publisher_connected(WHIP_ENDOSCOPE, P_HOST, HOST, "endoscope"),
        track_published(WHIP_ENDOSCOPE, "endoscope", MediaKind::Video, "vp8", "0"),
        track_published(WHIP_ENDOSCOPE, "endoscope", MediaKind::Audio, "opus", "1"),
        publisher_connected(WHIP_ROOM_CAM, P_SURGEON, SURGEON, "room-cam"),
        track_published(WHIP_ROOM_CAM, "room-cam", MediaKind::Video, "h264", "0"),
        Event::SubscriberConnected(SubscriberConnected {
            session_id: SESSION,
            resource_id: WHEP_OBSERVER,
            participant_id: P_OBSERVER,
            user_id: OBSERVER,
            video_slots: 2,
            audio_slots: 1,
        }),
        subscription_changed(&[Some("endoscope"), Some("room-cam")], &[None, None]),
        Event::KeyframeRequested(KeyframeRequested {
            session_id: SESSION,
            resource_id: WHIP_ENDOSCOPE,
            source: "endoscope".into(),
            kind: KeyframeKind::Pli,
            cause: KeyframeCause::FirstFrame,
        }),
        Event::FirstFrameDelivered(FirstFrameDelivered {
            session_id: SESSION,
            resource_id: WHEP_OBSERVER,
            participant_id: P_OBSERVER,
            user_id: OBSERVER,
            source: "endoscope".into(),
            slot: 0,
            join_to_first_frame_ms: 310,
        }),
        Event::FirstFrameDecoded(FirstFrameDecoded {
            session_id: SESSION,
            participant_id: P_OBSERVER,
            user_id: OBSERVER,
            source: Some("endoscope".into()),
            join_to_first_frame_ms: 390,
        }),
        Event::MediaQualitySampled(MediaQualitySampled {
            session_id: SESSION,
            resource_id: WHIP_ENDOSCOPE,
            source: "endoscope".into(),
            kind: MediaKind::Video,
            mid: "0".into(),
            bitrate_bps: 2_000_000,
            packets: 1_900,
            packets_lost: 3,
            jitter_us: Some(2_000),
            rtt_ms: None,
            interval_ms: 10_000,
        }),
        subscription_changed(
            &[Some("room-cam"), None],
            &[Some("endoscope"), Some("room-cam")],
        ),
        Event::KeyframeRequested(KeyframeRequested {
            session_id: SESSION,
            resource_id: WHIP_ROOM_CAM,
            source: "room-cam".into(),
            kind: KeyframeKind::Fir,
            cause: KeyframeCause::Switch,
        }),
    ]
}
