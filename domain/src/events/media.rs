//! Media events, appended by the SFU to the session stream (`session-<uuid>`): publishers,
//! subscribers, tracks, keyframe requests, first frames and reception quality, stalls.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Audio,
    Video,
}

/// Why a publisher, a subscriber or a track ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaEndReason {
    /// Its owner deleted the WHIP/WHEP resource (`DELETE`).
    Deleted,
    /// ICE or DTLS was lost.
    Disconnected,
    /// Its member was removed, its participant kicked, or its user deactivated.
    Removed,
    /// The session ended (or was cancelled).
    SessionEnded,
    /// The server shut down.
    Shutdown,
    /// The peer failed (a media or protocol error on the server's side).
    Failed,
    /// ICE and DTLS did not come up within the SFU's setup timeout.
    SetupTimeout,
    /// The SFU token its connection was made with expired.
    TokenExpired,
    /// The server stopped without ending it (killed, crashed, power lost): recorded by the
    /// next server to start on the same log, with the system actor.
    Interrupted,
}

/// How the SFU asked a publisher for a keyframe (RTCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyframeKind {
    /// Picture Loss Indication.
    Pli,
    /// Full Intra Request.
    Fir,
}

/// Why the SFU asked a publisher for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyframeCause {
    /// A subscriber asked for one (its own PLI/FIR, forwarded).
    Subscriber,
    /// A subscriber's slot switched to this source.
    Switch,
    /// Packets of this source were lost.
    Loss,
    /// A new subscriber waits for its first frame of this source.
    FirstFrame,
}

/// A publisher's WHIP session is up: it may now publish tracks under `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublisherConnected {
    pub session_id: Uuid,
    /// The WHIP resource (`/v1/sessions/{id}/whip/{resource_id}`).
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The source label (`endoscope`, `room-cam`); unique among the session's publishers.
    pub source: String,
}

/// A publisher's WHIP session ended; its source is no longer published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublisherDisconnected {
    pub session_id: Uuid,
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub source: String,
    pub reason: MediaEndReason,
}

/// A publisher's track is received and forwarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackPublished {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub source: String,
    pub kind: MediaKind,
    /// The negotiated codec, lowercase (`vp8`, `h264`, `opus`).
    pub codec: String,
    /// The SDP media id of the track's transceiver.
    pub mid: String,
}

/// A publisher's track ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackUnpublished {
    pub session_id: Uuid,
    pub resource_id: Uuid,
    pub source: String,
    pub kind: MediaKind,
    pub mid: String,
    pub reason: MediaEndReason,
}

/// A subscriber's WHEP session is up, with this many receive slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberConnected {
    pub session_id: Uuid,
    /// The WHEP resource (`/v1/sessions/{id}/whep/{resource_id}`).
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// Video transceivers in its offer: each shows one source at a time.
    pub video_slots: u32,
    /// Audio transceivers in its offer.
    pub audio_slots: u32,
}

/// A subscriber's WHEP session ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberDisconnected {
    pub session_id: Uuid,
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub reason: MediaEndReason,
}

/// The sources a subscriber's video slots show changed (no renegotiation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionChanged {
    pub session_id: Uuid,
    /// The subscriber's WHEP resource.
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The source each video slot now shows, in slot order (`None`: nothing).
    pub slots: Vec<Option<String>>,
    /// What they showed before.
    pub previous: Vec<Option<String>>,
}

/// The SFU asked a publisher for a keyframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyframeRequested {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub source: String,
    pub kind: KeyframeKind,
    pub cause: KeyframeCause,
}

/// The SFU forwarded the first frame of a source to a subscriber's slot (server-measured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstFrameDelivered {
    pub session_id: Uuid,
    /// The subscriber's WHEP resource.
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub source: String,
    /// The video slot, from 0.
    pub slot: u32,
    /// From the participant's `participants:join` (the join time in its SFU token) to this
    /// keyframe's forwarding; 0 when the token carried no join time.
    pub join_to_first_frame_ms: u64,
}

/// A client reports it decoded its first frame (client-measured, over the WebSocket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstFrameDecoded {
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The source whose frame it was, if the client said.
    pub source: Option<String>,
    /// From `participants:join` to the client's first decoded frame, as the client measured it.
    pub join_to_first_frame_ms: u64,
}

/// One published track's reception over the last `interval_ms` (every 10 s per track).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaQualitySampled {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub source: String,
    pub kind: MediaKind,
    pub mid: String,
    /// Received bits per second over the interval.
    pub bitrate_bps: u64,
    /// Packets received in the interval.
    pub packets: u64,
    /// Packets lost in the interval.
    pub packets_lost: u64,
    /// Interarrival jitter (RTCP), if known.
    pub jitter_us: Option<u64>,
    /// Round-trip time to the publisher, if known.
    pub rtt_ms: Option<u64>,
    pub interval_ms: u64,
}

/// A publisher's video source sent no media for the SFU's stall threshold
/// (`LIVESURGERY_SFU_STALL_AFTER_MS`) while its connection stayed up: its picture is frozen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStalled {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub source: String,
}

/// A stalled source's media arrived again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceResumed {
    pub session_id: Uuid,
    /// The publisher's WHIP resource.
    pub resource_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    pub source: String,
    /// From its last media before the stall to this resumption.
    pub stalled_ms: u64,
}

/// Why a session's media was placed on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementReason {
    /// The session had no placement yet: its first `participants:join` (or the first WHIP/WHEP
    /// call of a session older than placements).
    FirstJoin,
    /// The node it was placed on stopped (its heartbeat ran out, or it shut down).
    NodeGone,
}

/// A session's media is placed on one server node: its WHIP/WHEP URLs are that node's, and
/// other nodes refuse its media. Appended with the session's version checked, so nodes
/// placing at once record one placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaPlaced {
    pub session_id: Uuid,
    /// The node's id (a server process's, kept across its restarts at the same URL).
    pub node_id: String,
    /// The node's base URL (`LIVESURGERY_MEDIA_URL`): WHIP is `{url}/v1/sessions/{id}/whip`,
    /// WHEP `{url}/v1/sessions/{id}/whep`.
    pub url: String,
    pub reason: PlacementReason,
    /// The node it was placed on before (`node_gone`), if any.
    pub previous_node_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::Event;
    use crate::session::session_id_of;

    const SESSION: &str = "0190d7a2-8c4e-7b3a-9f10-5e5500000001";
    const WHIP: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000b1";
    const WHEP: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000b2";
    const PARTICIPANT: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000a1";
    const USER: &str = "0190d7a2-8c4e-7b3a-9f10-000000000001";

    fn id(s: &str) -> Uuid {
        Uuid::parse_str(s).expect("test ids are uuids")
    }

    /// Each media event as the SFU contract spells its `data`, and the event it reads as.
    fn media_wire_samples() -> Vec<(serde_json::Value, Event)> {
        let (s, whip, whep, p, u) = (id(SESSION), id(WHIP), id(WHEP), id(PARTICIPANT), id(USER));
        vec![
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope"}),
                Event::PublisherConnected(PublisherConnected {
                    session_id: s,
                    resource_id: whip,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope", "reason": "session_ended"}),
                Event::PublisherDisconnected(PublisherDisconnected {
                    session_id: s,
                    resource_id: whip,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                    reason: MediaEndReason::SessionEnded,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "video", "codec": "vp8", "mid": "0"}),
                Event::TrackPublished(TrackPublished {
                    session_id: s,
                    resource_id: whip,
                    source: "endoscope".into(),
                    kind: MediaKind::Video,
                    codec: "vp8".into(),
                    mid: "0".into(),
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "audio", "mid": "1", "reason": "disconnected"}),
                Event::TrackUnpublished(TrackUnpublished {
                    session_id: s,
                    resource_id: whip,
                    source: "endoscope".into(),
                    kind: MediaKind::Audio,
                    mid: "1".into(),
                    reason: MediaEndReason::Disconnected,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "video_slots": 2, "audio_slots": 1}),
                Event::SubscriberConnected(SubscriberConnected {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    video_slots: 2,
                    audio_slots: 1,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "reason": "removed"}),
                Event::SubscriberDisconnected(SubscriberDisconnected {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    reason: MediaEndReason::Removed,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "slots": ["room-cam", null],
                       "previous": ["endoscope", "room-cam"]}),
                Event::SubscriptionChanged(SubscriptionChanged {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    slots: vec![Some("room-cam".into()), None],
                    previous: vec![Some("endoscope".into()), Some("room-cam".into())],
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "pli", "cause": "first_frame"}),
                Event::KeyframeRequested(KeyframeRequested {
                    session_id: s,
                    resource_id: whip,
                    source: "endoscope".into(),
                    kind: KeyframeKind::Pli,
                    cause: KeyframeCause::FirstFrame,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHEP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope", "slot": 1,
                       "join_to_first_frame_ms": 312}),
                Event::FirstFrameDelivered(FirstFrameDelivered {
                    session_id: s,
                    resource_id: whep,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                    slot: 1,
                    join_to_first_frame_ms: 312,
                }),
            ),
            (
                json!({"session_id": SESSION, "participant_id": PARTICIPANT, "user_id": USER,
                       "source": null, "join_to_first_frame_ms": 420}),
                Event::FirstFrameDecoded(FirstFrameDecoded {
                    session_id: s,
                    participant_id: p,
                    user_id: u,
                    source: None,
                    join_to_first_frame_ms: 420,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "source": "endoscope",
                       "kind": "video", "mid": "0", "bitrate_bps": 2_500_000, "packets": 2_300,
                       "packets_lost": 4, "jitter_us": 1_800, "rtt_ms": null,
                       "interval_ms": 10_000}),
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
                    rtt_ms: None,
                    interval_ms: 10_000,
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope"}),
                Event::SourceStalled(SourceStalled {
                    session_id: s,
                    resource_id: whip,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                }),
            ),
            (
                json!({"session_id": SESSION, "resource_id": WHIP, "participant_id": PARTICIPANT,
                       "user_id": USER, "source": "endoscope", "stalled_ms": 4_200}),
                Event::SourceResumed(SourceResumed {
                    session_id: s,
                    resource_id: whip,
                    participant_id: p,
                    user_id: u,
                    source: "endoscope".into(),
                    stalled_ms: 4_200,
                }),
            ),
        ]
    }

    #[test]
    fn media_events_read_and_write_the_data_the_sfu_contract_names() {
        let samples = media_wire_samples();
        let start = Event::TYPES
            .iter()
            .position(|t| *t == "PublisherConnected")
            .expect("media types are listed");
        for (i, (data, event)) in samples.iter().enumerate() {
            let event_type = event.event_type();
            assert_eq!(Event::TYPES[start + i], event_type, "declaration order");
            let read = Event::from_stored(event_type, 1, data)
                .unwrap_or_else(|e| panic!("{event_type}: {e}"));
            assert_eq!(&read, event, "{event_type} reads the contract's data");
            assert_eq!(
                &read.data(),
                data,
                "{event_type} writes the contract's data"
            );
            assert_eq!(session_id_of(&read), Some(id(SESSION)), "{event_type}");
        }
        assert_eq!(samples.len(), 13);
    }

    #[test]
    fn media_enums_spell_every_value_of_the_contract() {
        assert_eq!(
            json!([MediaKind::Audio, MediaKind::Video]),
            json!(["audio", "video"])
        );
        assert_eq!(
            json!([
                MediaEndReason::Deleted,
                MediaEndReason::Disconnected,
                MediaEndReason::Removed,
                MediaEndReason::SessionEnded,
                MediaEndReason::Shutdown,
                MediaEndReason::Failed,
                MediaEndReason::SetupTimeout,
                MediaEndReason::TokenExpired,
            ]),
            json!([
                "deleted",
                "disconnected",
                "removed",
                "session_ended",
                "shutdown",
                "failed",
                "setup_timeout",
                "token_expired"
            ])
        );
        assert_eq!(
            json!([KeyframeKind::Pli, KeyframeKind::Fir]),
            json!(["pli", "fir"])
        );
        assert_eq!(
            json!([
                KeyframeCause::Subscriber,
                KeyframeCause::Switch,
                KeyframeCause::Loss,
                KeyframeCause::FirstFrame,
            ]),
            json!(["subscriber", "switch", "loss", "first_frame"])
        );
    }

    #[test]
    fn a_media_event_missing_a_field_or_with_an_unknown_value_is_unreadable() {
        let (data, _) = &media_wire_samples()[0];
        let mut missing = data.clone();
        missing.as_object_mut().unwrap().remove("source");
        assert!(Event::from_stored("PublisherConnected", 1, &missing).is_err());
        let (data, _) = &media_wire_samples()[7];
        let mut unknown = data.clone();
        unknown["cause"] = "whim".into();
        assert!(Event::from_stored("KeyframeRequested", 1, &unknown).is_err());
    }
}
