//! One peer connection of the media core: its `Rtc`, whose it is, and what it does for the
//! session (a publisher's tracks, a subscriber's slots). Reading a peer's events is here;
//! what they ask of other peers leaves as an [`Action`] for the core.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use livesurgery_domain::Event;
use livesurgery_domain::events::{
    KeyframeCause, MediaEndReason, MediaKind, MediaQualitySampled, PublisherConnected,
    SourceResumed, SourceStalled, SubscriberConnected, SubscriptionChanged, TrackPublished,
};
use str0m::change::SdpOffer;
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaAdded, MediaData, Mid};
use str0m::stats::{MediaEgressStats, MediaIngressStats};
use str0m::{Candidate, Event as RtcEvent, IceConnectionState, Rtc};
use uuid::Uuid;

use super::core::{Output, RegistryUpdate};
use crate::sfu::forward::{Kind, Slot, Throttle};
use crate::sfu::{PeerInfo, SfuError, TrackView};
use crate::telemetry::Metrics;

/// How often a publisher may be asked for a keyframe because a subscriber asked, lost packets
/// or waits for its first picture; and after a switch of source (which must show within a
/// second).
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(1000);
const SWITCH_KEYFRAME_INTERVAL: Duration = Duration::from_millis(250);
/// How often a publisher may be asked for a keyframe because subscribers that just connected
/// wait for their first picture. Each waits for the next keyframe asked for after it
/// connected: at one a second, a join storm's subscribers waited up to a second each (p50
/// 0.56 s, max 3.1 s for 200 joins at once); a few a second, only while someone waits, keeps
/// it to a few frames.
const FIRST_FRAME_KEYFRAME_INTERVAL: Duration = Duration::from_millis(100);
/// How often each published track's quality is sampled into the log.
const QUALITY_INTERVAL: Duration = Duration::from_secs(10);
/// str0m's statistics period (the metrics and quality samples are built from it).
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Answers an SDP offer with a fresh peer connection that offers VP8, H.264 and Opus and the
/// one host candidate.
pub(in crate::sfu) fn answer(
    advertised: SocketAddr,
    offer: &str,
) -> Result<(Rtc, String), SfuError> {
    let offer = SdpOffer::from_sdp_string(offer).map_err(|error| {
        tracing::debug!(%error, "an SDP offer could not be parsed");
        SfuError::BadOffer
    })?;
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_vp8(true)
        .enable_h264(true)
        .enable_opus(true, false)
        .set_stats_interval(Some(STATS_INTERVAL))
        .build(Instant::now());
    let candidate = Candidate::host(advertised, "udp")
        .map_err(|e| SfuError::Refused(format!("the host candidate: {e}")))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc.sdp_api().accept_offer(offer).map_err(|error| {
        tracing::debug!(%error, "an SDP offer could not be answered");
        SfuError::Refused(
            "it offers nothing the SFU can answer (VP8, H.264 or Opus over DTLS-SRTP, \
                 BUNDLE, one ICE ufrag)"
                .to_owned(),
        )
    })?;
    Ok((rtc, answer.to_sdp_string()))
}

/// A peer connection on its way into the media core.
pub(in crate::sfu) struct NewPeer {
    pub(super) info: PeerInfo,
    pub(super) rtc: Rtc,
    pub(super) role: Role,
    /// When the token it was made with expires: its media is cut then.
    pub(super) expires_at: Option<Instant>,
}

impl NewPeer {
    /// A publisher of one source (one WHIP resource).
    pub(in crate::sfu) fn publisher(info: PeerInfo, rtc: Rtc, source: String) -> NewPeer {
        NewPeer {
            info,
            rtc,
            role: Role::Publisher(Publisher {
                source,
                tracks: Vec::new(),
                last_video: None,
                stalled: false,
            }),
            expires_at: None,
        }
    }

    /// Cuts the peer's media when its token expires, at `exp` (Unix seconds, from the token).
    pub(in crate::sfu) fn until_unix(self, exp: i64) -> NewPeer {
        // Placed on the monotonic clock here, like the join time: the core reads no wall clock.
        let left_ms = exp
            .saturating_mul(1000)
            .saturating_sub(chrono::Utc::now().timestamp_millis());
        let now = Instant::now();
        let expires_at = now
            .checked_add(Duration::from_millis(left_ms.max(0).unsigned_abs()))
            .unwrap_or(now);
        self.until(expires_at)
    }

    /// Cuts the peer's media at `expires_at`.
    pub(super) fn until(mut self, expires_at: Instant) -> NewPeer {
        self.expires_at = Some(expires_at);
        self
    }

    /// A subscriber whose participant joined at `joined_at_ms` (Unix ms, from its token).
    pub(in crate::sfu) fn subscriber(
        info: PeerInfo,
        rtc: Rtc,
        slots: Vec<Option<String>>,
        audio_slots: usize,
        joined_at_ms: Option<i64>,
    ) -> NewPeer {
        // Placed on the monotonic clock here, on the signalling side, so that the media core
        // measures join-to-first-frame with the time it is given and reads no wall clock.
        let joined_at = joined_at_ms.and_then(|joined| {
            let now = Instant::now();
            let ago_ms = chrono::Utc::now().timestamp_millis().saturating_sub(joined);
            // A join time ahead of this clock counts as now, as a negative wait would.
            now.checked_sub(Duration::from_millis(ago_ms.max(0).unsigned_abs()))
        });
        NewPeer::subscriber_since(info, rtc, slots, audio_slots, joined_at)
    }

    /// A subscriber whose participant joined at `joined_at` (for the join-to-first-frame time).
    pub(super) fn subscriber_since(
        info: PeerInfo,
        rtc: Rtc,
        slots: Vec<Option<String>>,
        audio_slots: usize,
        joined_at: Option<Instant>,
    ) -> NewPeer {
        NewPeer {
            info,
            rtc,
            role: Role::Subscriber(Subscriber {
                audio_slots,
                wanted: slots,
                video: Vec::new(),
                audio: Vec::new(),
                joined_at,
                first_frame_sent: false,
                egress: HashMap::new(),
            }),
            expires_at: None,
        }
    }
}

/// A peer connection in the core.
pub(super) struct Peer {
    pub(super) info: PeerInfo,
    pub(super) rtc: Rtc,
    pub(super) role: Role,
    /// ICE and DTLS are up (the connect event was recorded).
    pub(super) connected: bool,
    /// When it wants its next timeout.
    pub(super) deadline: Instant,
    /// Why it is being ended, once it is.
    pub(super) ending: Option<MediaEndReason>,
    /// It is removed (`setup_timeout`) if not connected by then.
    pub(super) setup_by: Instant,
    /// Its media is cut (`token_expired`) then.
    pub(super) expires_at: Option<Instant>,
}

pub(super) enum Role {
    Publisher(Publisher),
    Subscriber(Subscriber),
}

impl Role {
    /// The `role` label of the peers gauge.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Role::Publisher(_) => "publisher",
            Role::Subscriber(_) => "subscriber",
        }
    }
}

pub(super) struct Publisher {
    /// The source label (one WHIP resource = one source).
    pub(super) source: String,
    pub(super) tracks: Vec<TrackIn>,
    /// When its last video frame arrived (`None` before the first: no stall before it).
    last_video: Option<Instant>,
    /// Its video stopped for the stall threshold and has not resumed (`SourceStalled`).
    stalled: bool,
}

/// A track received from a publisher.
pub(super) struct TrackIn {
    pub(super) mid: Mid,
    pub(super) kind: MediaKind,
    /// Known from its first frame; the track counts as published from then.
    pub(super) codec: Option<String>,
    pub(super) keyframes: Throttle,
    pub(super) switch_keyframes: Throttle,
    pub(super) first_frame_keyframes: Throttle,
    quality: QualityWindow,
}

/// Receive statistics of one track since the last quality sample.
struct QualityWindow {
    started: Instant,
    /// Cumulative counters at the last statistics event.
    last_packets: u64,
    last_bytes: u64,
    packets: u64,
    bytes: u64,
    lost: u64,
    jitter_us: Option<u64>,
    rtt_ms: Option<u64>,
}

impl QualityWindow {
    fn new(now: Instant) -> QualityWindow {
        QualityWindow {
            started: now,
            last_packets: 0,
            last_bytes: 0,
            packets: 0,
            bytes: 0,
            lost: 0,
            jitter_us: None,
            rtt_ms: None,
        }
    }
}

pub(super) struct Subscriber {
    /// Audio m-lines in the offer (video slots: `wanted.len()`).
    audio_slots: usize,
    /// The source of each video slot, as asked (slots are created as the offer's m-lines
    /// appear).
    pub(super) wanted: Vec<Option<String>>,
    pub(super) video: Vec<OutSlot>,
    /// Audio slot `i` plays the source of video slot `i`.
    pub(super) audio: Vec<OutSlot>,
    pub(super) joined_at: Option<Instant>,
    pub(super) first_frame_sent: bool,
    /// Cumulative egress counters per m-line at the last statistics event:
    /// (packets, bytes, nacks).
    egress: HashMap<Mid, (u64, u64, u64)>,
}

pub(super) struct OutSlot {
    pub(super) mid: Mid,
    pub(super) slot: Slot,
}

impl Subscriber {
    /// The source each video slot shows, in m-line order.
    pub(super) fn slot_sources(&self) -> Vec<Option<String>> {
        self.video
            .iter()
            .map(|s| s.slot.source().map(str::to_owned))
            .collect()
    }
}

/// What a peer's output asks of the others.
pub(super) enum Action {
    /// A publisher's frame, for the subscribers of its session.
    Frame {
        from: Uuid,
        session_id: Uuid,
        source: String,
        kind: Kind,
        data: Box<MediaData>,
    },
    /// A keyframe wanted from a source.
    Keyframe {
        session_id: Uuid,
        source: String,
        kind: KeyframeRequestKind,
        cause: KeyframeCause,
    },
}

/// Where a peer's event handling puts what it produces.
pub(super) struct Effects<'a> {
    pub(super) now: Instant,
    pub(super) actions: &'a mut VecDeque<Action>,
    pub(super) outputs: &'a mut VecDeque<Output>,
    pub(super) metrics: &'a Metrics,
}

impl Effects<'_> {
    fn fact(&mut self, info: &PeerInfo, event: Event) {
        self.outputs.push_back(Output::Fact(info.clone(), event));
    }
}

impl Peer {
    /// The first of its own deadlines: its `Rtc`'s, its setup's (until connected), its token's,
    /// its video's stall (a publisher's, `stall_after` past its last frame).
    pub(super) fn due(&self, stall_after: Duration) -> Instant {
        let mut due = self.deadline;
        if let Some(stall) = self.stall_due(stall_after) {
            due = due.min(stall);
        }
        if !self.connected && self.ending.is_none() {
            due = due.min(self.setup_by);
        }
        if let Some(expires_at) = self.expires_at
            && self.ending.is_none()
        {
            due = due.min(expires_at);
        }
        due
    }

    /// Ends the peer if it is past its setup time unconnected, or past its token's expiry.
    /// Returns whether it did.
    pub(super) fn check_limits(&mut self, now: Instant) -> bool {
        if self.ending.is_some() {
            return false;
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            self.end(MediaEndReason::TokenExpired);
            return true;
        }
        if !self.connected && self.setup_by <= now {
            self.end(MediaEndReason::SetupTimeout);
            return true;
        }
        false
    }

    /// When a live publisher's video counts as stalled unless a frame comes first.
    fn stall_due(&self, stall_after: Duration) -> Option<Instant> {
        match &self.role {
            Role::Publisher(publisher)
                if self.connected && self.ending.is_none() && !publisher.stalled =>
            {
                publisher.last_video.map(|last| last + stall_after)
            }
            _ => None,
        }
    }

    /// Marks a publisher's source stalled once its video sent nothing for `stall_after` while
    /// its connection stays up: once per stall (its next frame resumes it).
    pub(super) fn check_stall(
        &mut self,
        now: Instant,
        stall_after: Duration,
        outputs: &mut VecDeque<Output>,
    ) {
        let Some(due) = self.stall_due(stall_after) else {
            return;
        };
        let Role::Publisher(publisher) = &mut self.role else {
            return;
        };
        if due > now {
            return;
        }
        publisher.stalled = true;
        let info = &self.info;
        outputs.push_back(Output::Fact(
            info.clone(),
            Event::SourceStalled(SourceStalled {
                session_id: info.session_id,
                resource_id: info.resource_id,
                participant_id: info.participant_id,
                user_id: info.user_id,
                source: publisher.source.clone(),
            }),
        ));
        outputs.push_back(Output::Registry(RegistryUpdate::Stall {
            session_id: info.session_id,
            resource_id: info.resource_id,
            since: publisher.last_video,
        }));
    }

    /// Marks the peer as ending. A reason the server decided (a DELETE, a removal, the end of
    /// the session, shutdown) wins over a network one seen first in the same turn.
    pub(super) fn end(&mut self, reason: MediaEndReason) {
        let decided =
            |r: MediaEndReason| !matches!(r, MediaEndReason::Disconnected | MediaEndReason::Failed);
        match self.ending {
            None => self.ending = Some(reason),
            Some(current) if !decided(current) && decided(reason) => self.ending = Some(reason),
            Some(_) => {}
        }
    }

    /// Acts on one event of the peer's `Rtc`.
    pub(super) fn on_event(&mut self, event: RtcEvent, effects: &mut Effects<'_>) {
        match event {
            RtcEvent::Connected => self.on_connected(effects),
            RtcEvent::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.end(MediaEndReason::Disconnected);
            }
            RtcEvent::Closed => self.end(MediaEndReason::Disconnected),
            RtcEvent::MediaAdded(added) => self.on_media_added(&added, effects.now),
            RtcEvent::MediaData(data) => self.on_media_data(data, effects),
            RtcEvent::KeyframeRequest(request) => self.on_keyframe_request(&request, effects),
            RtcEvent::MediaIngressStats(stats) => self.on_ingress_stats(&stats, effects),
            RtcEvent::MediaEgressStats(stats) => self.on_egress_stats(&stats, effects.metrics),
            _ => {}
        }
    }

    fn on_connected(&mut self, effects: &mut Effects<'_>) {
        self.connected = true;
        let info = &self.info;
        let event = match &self.role {
            Role::Publisher(publisher) => Event::PublisherConnected(PublisherConnected {
                session_id: info.session_id,
                resource_id: info.resource_id,
                participant_id: info.participant_id,
                user_id: info.user_id,
                source: publisher.source.clone(),
            }),
            Role::Subscriber(sub) => Event::SubscriberConnected(SubscriberConnected {
                session_id: info.session_id,
                resource_id: info.resource_id,
                participant_id: info.participant_id,
                user_id: info.user_id,
                video_slots: sub.wanted.len() as u32,
                audio_slots: sub.audio_slots as u32,
            }),
        };
        effects.fact(info, event);
        // The slots a subscription starts with, so the log says what it showed.
        if let Role::Subscriber(sub) = &self.role {
            let slots = sub.wanted.clone();
            if slots.iter().any(Option::is_some) {
                effects.fact(
                    info,
                    Event::SubscriptionChanged(SubscriptionChanged {
                        session_id: info.session_id,
                        resource_id: info.resource_id,
                        participant_id: info.participant_id,
                        user_id: info.user_id,
                        previous: vec![None; slots.len()],
                        slots,
                    }),
                );
            }
        }
    }

    fn on_media_added(&mut self, added: &MediaAdded, now: Instant) {
        let kind = match added.kind {
            str0m::media::MediaKind::Audio => Kind::Audio,
            str0m::media::MediaKind::Video => Kind::Video,
        };
        match &mut self.role {
            Role::Publisher(publisher)
                if matches!(added.direction, Direction::RecvOnly | Direction::SendRecv) =>
            {
                publisher.tracks.push(TrackIn {
                    mid: added.mid,
                    kind: media_kind(kind),
                    codec: None,
                    keyframes: Throttle::new(KEYFRAME_INTERVAL),
                    switch_keyframes: Throttle::new(SWITCH_KEYFRAME_INTERVAL),
                    first_frame_keyframes: Throttle::new(FIRST_FRAME_KEYFRAME_INTERVAL),
                    quality: QualityWindow::new(now),
                });
            }
            Role::Subscriber(sub)
                if matches!(added.direction, Direction::SendOnly | Direction::SendRecv) =>
            {
                let slots = match kind {
                    Kind::Video => &mut sub.video,
                    Kind::Audio => &mut sub.audio,
                };
                let source = sub.wanted.get(slots.len()).cloned().flatten();
                slots.push(OutSlot {
                    mid: added.mid,
                    slot: Slot::new(kind, source),
                });
            }
            _ => {}
        }
    }

    fn on_media_data(&mut self, data: MediaData, effects: &mut Effects<'_>) {
        let info = &self.info;
        let Role::Publisher(publisher) = &mut self.role else {
            return;
        };
        let Some(track) = publisher.tracks.iter_mut().find(|t| t.mid == data.mid) else {
            return;
        };
        if track.codec.is_none() {
            let codec = data.params.spec().codec.to_string().to_lowercase();
            track.codec = Some(codec.clone());
            effects.metrics.sfu.tracks.inc();
            effects.fact(
                info,
                Event::TrackPublished(TrackPublished {
                    session_id: info.session_id,
                    resource_id: info.resource_id,
                    source: publisher.source.clone(),
                    kind: track.kind,
                    codec: codec.clone(),
                    mid: track.mid.to_string(),
                }),
            );
            effects
                .outputs
                .push_back(Output::Registry(RegistryUpdate::TrackSeen {
                    session_id: info.session_id,
                    resource_id: info.resource_id,
                    track: TrackView {
                        kind: track.kind,
                        codec: Some(codec),
                        mid: track.mid.to_string(),
                    },
                }));
        }
        let kind = match track.kind {
            MediaKind::Video => Kind::Video,
            MediaKind::Audio => Kind::Audio,
        };
        if kind == Kind::Video {
            if std::mem::take(&mut publisher.stalled) {
                let stalled_for = publisher.last_video.map_or(Duration::ZERO, |last| {
                    effects.now.saturating_duration_since(last)
                });
                effects.fact(
                    info,
                    Event::SourceResumed(SourceResumed {
                        session_id: info.session_id,
                        resource_id: info.resource_id,
                        participant_id: info.participant_id,
                        user_id: info.user_id,
                        source: publisher.source.clone(),
                        stalled_ms: stalled_for.as_millis() as u64,
                    }),
                );
                effects
                    .outputs
                    .push_back(Output::Registry(RegistryUpdate::Stall {
                        session_id: info.session_id,
                        resource_id: info.resource_id,
                        since: None,
                    }));
            }
            publisher.last_video = Some(effects.now);
        }
        if kind == Kind::Video && !data.contiguous {
            effects.actions.push_back(Action::Keyframe {
                session_id: info.session_id,
                source: publisher.source.clone(),
                kind: KeyframeRequestKind::Fir,
                cause: KeyframeCause::Loss,
            });
        }
        effects.actions.push_back(Action::Frame {
            from: info.resource_id,
            session_id: info.session_id,
            source: publisher.source.clone(),
            kind,
            data: Box::new(data),
        });
    }

    fn on_keyframe_request(&mut self, request: &KeyframeRequest, effects: &mut Effects<'_>) {
        let Role::Subscriber(sub) = &self.role else {
            return;
        };
        effects.metrics.sfu.plis.inc();
        if let Some(source) = sub
            .video
            .iter()
            .find(|s| s.mid == request.mid)
            .and_then(|s| s.slot.source())
        {
            effects.actions.push_back(Action::Keyframe {
                session_id: self.info.session_id,
                source: source.to_owned(),
                kind: request.kind,
                cause: KeyframeCause::Subscriber,
            });
        }
    }

    fn on_ingress_stats(&mut self, stats: &MediaIngressStats, effects: &mut Effects<'_>) {
        let info = &self.info;
        let Role::Publisher(publisher) = &mut self.role else {
            return;
        };
        let Some(track) = publisher.tracks.iter_mut().find(|t| t.mid == stats.mid) else {
            return;
        };
        let window = &mut track.quality;
        let packets = stats.packets.saturating_sub(window.last_packets);
        let bytes = stats.bytes.saturating_sub(window.last_bytes);
        window.last_packets = stats.packets;
        window.last_bytes = stats.bytes;
        // `loss` is the fraction of the expected packets that did not arrive.
        let lost = match stats.loss {
            Some(loss) if loss > 0.0 && loss < 1.0 => {
                (packets as f64 * f64::from(loss) / (1.0 - f64::from(loss))).round() as u64
            }
            _ => 0,
        };
        let metrics = effects.metrics;
        metrics.sfu.packets_received.inc_by(packets);
        metrics.sfu.packets_lost.inc_by(lost);
        window.packets += packets;
        window.bytes += bytes;
        window.lost += lost;
        let clock = match track.kind {
            MediaKind::Video => 90_000,
            MediaKind::Audio => 48_000,
        };
        window.jitter_us = Some(u64::from(stats.jitter) * 1_000_000 / clock);
        window.rtt_ms = stats
            .rtt
            .map(|rtt| rtt.as_millis() as u64)
            .or(window.rtt_ms);
        let elapsed = stats.timestamp.saturating_duration_since(window.started);
        if elapsed >= QUALITY_INTERVAL && track.codec.is_some() {
            let interval_ms = elapsed.as_millis().max(1) as u64;
            effects.fact(
                info,
                Event::MediaQualitySampled(MediaQualitySampled {
                    session_id: info.session_id,
                    resource_id: info.resource_id,
                    source: publisher.source.clone(),
                    kind: track.kind,
                    mid: track.mid.to_string(),
                    bitrate_bps: window.bytes * 8 * 1000 / interval_ms,
                    packets: window.packets,
                    packets_lost: window.lost,
                    jitter_us: window.jitter_us,
                    rtt_ms: window.rtt_ms,
                    interval_ms,
                }),
            );
            let (last_packets, last_bytes) = (window.last_packets, window.last_bytes);
            *window = QualityWindow::new(stats.timestamp);
            window.last_packets = last_packets;
            window.last_bytes = last_bytes;
        }
    }

    fn on_egress_stats(&mut self, stats: &MediaEgressStats, metrics: &Metrics) {
        let Role::Subscriber(sub) = &mut self.role else {
            return;
        };
        let last = sub.egress.entry(stats.mid).or_insert((0, 0, 0));
        metrics
            .sfu
            .packets_forwarded
            .inc_by(stats.packets.saturating_sub(last.0));
        metrics
            .sfu
            .bytes_forwarded
            .inc_by(stats.bytes.saturating_sub(last.1));
        metrics.sfu.nacks.inc_by(stats.nacks.saturating_sub(last.2));
        *last = (stats.packets, stats.bytes, stats.nacks);
    }
}

/// The log's kind of a forwarding kind.
fn media_kind(kind: Kind) -> MediaKind {
    match kind {
        Kind::Audio => MediaKind::Audio,
        Kind::Video => MediaKind::Video,
    }
}
