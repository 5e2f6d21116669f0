//! The media loop: one thread owns the UDP socket and every peer connection's `Rtc`.
//!
//! Each turn feeds what is due (a datagram to the peer that accepts it, timeouts to the peers
//! whose deadline passed), drains the touched peers' output until each says `Timeout` (sending
//! datagrams, collecting events), acts on what they produced (frames to forward, keyframe
//! requests to pass on), and waits for the next datagram, command or deadline. Nothing here
//! waits on the log or the network: sends never block (a full socket buffer drops and counts),
//! media events go to a bounded queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use livesurgery_domain::Event;
use livesurgery_domain::events::{
    FirstFrameDelivered, KeyframeCause, KeyframeKind, KeyframeRequested, MediaEndReason, MediaKind,
    MediaQualitySampled, PublisherConnected, PublisherDisconnected, SubscriberConnected,
    SubscriberDisconnected, SubscriptionChanged, TrackPublished, TrackUnpublished,
};
use str0m::change::SdpOffer;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event as RtcEvent, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::forward::{self, Kind, Slot, Throttle, Verdict};
use super::{Command, FactSink, PeerInfo, Sfu, SfuError, TrackView};
use crate::telemetry::Metrics;

/// How often a publisher may be asked for a keyframe because a subscriber asked, lost packets
/// or waits for its first picture; and after a switch of source (which must show within a
/// second).
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(1000);
const SWITCH_KEYFRAME_INTERVAL: Duration = Duration::from_millis(250);
/// How often each published track's quality is sampled into the log.
const QUALITY_INTERVAL: Duration = Duration::from_secs(10);
/// str0m's statistics period (the metrics and quality samples are built from it).
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Datagrams read in one go before the peers' output is drained.
const RECEIVE_BATCH: usize = 64;

/// Answers an SDP offer with a fresh peer connection that offers VP8, H.264 and Opus and the
/// one host candidate.
pub(super) fn answer(advertised: SocketAddr, offer: &str) -> Result<(Rtc, String), SfuError> {
    let offer = SdpOffer::from_sdp_string(offer).map_err(|e| SfuError::BadOffer(e.to_string()))?;
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
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| SfuError::Refused(e.to_string()))?;
    Ok((rtc, answer.to_sdp_string()))
}

/// A peer connection on its way into the loop.
pub(super) struct NewPeer {
    info: PeerInfo,
    rtc: Rtc,
    role: Role,
}

impl NewPeer {
    pub(super) fn publisher(info: PeerInfo, rtc: Rtc, source: String) -> NewPeer {
        NewPeer {
            info,
            rtc,
            role: Role::Publisher(Publisher {
                source,
                tracks: Vec::new(),
            }),
        }
    }

    pub(super) fn subscriber(
        info: PeerInfo,
        rtc: Rtc,
        slots: Vec<Option<String>>,
        audio_slots: usize,
        joined_at_ms: Option<i64>,
    ) -> NewPeer {
        NewPeer {
            info,
            rtc,
            role: Role::Subscriber(Subscriber {
                audio_slots,
                wanted: slots,
                video: Vec::new(),
                audio: Vec::new(),
                joined_at_ms,
                first_frame_sent: false,
                egress: HashMap::new(),
            }),
        }
    }
}

struct Peer {
    info: PeerInfo,
    rtc: Rtc,
    role: Role,
    /// ICE and DTLS are up (the connect event was recorded).
    connected: bool,
    /// When it wants its next timeout.
    deadline: Instant,
    /// Why it is being ended, once it is.
    ending: Option<MediaEndReason>,
}

enum Role {
    Publisher(Publisher),
    Subscriber(Subscriber),
}

impl Role {
    fn name(&self) -> &'static str {
        match self {
            Role::Publisher(_) => "publisher",
            Role::Subscriber(_) => "subscriber",
        }
    }
}

struct Publisher {
    /// The source label (one WHIP resource = one source).
    source: String,
    tracks: Vec<TrackIn>,
}

/// A track received from a publisher.
struct TrackIn {
    mid: Mid,
    kind: MediaKind,
    /// Known from its first frame; the track counts as published from then.
    codec: Option<String>,
    keyframes: Throttle,
    switch_keyframes: Throttle,
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

struct Subscriber {
    /// Audio m-lines in the offer (video slots: `wanted.len()`).
    audio_slots: usize,
    /// The source of each video slot, as asked (slots are created as the offer's m-lines
    /// appear).
    wanted: Vec<Option<String>>,
    video: Vec<OutSlot>,
    /// Audio slot `i` plays the source of video slot `i`.
    audio: Vec<OutSlot>,
    joined_at_ms: Option<i64>,
    first_frame_sent: bool,
    /// Cumulative egress counters per m-line at the last statistics event:
    /// (packets, bytes, nacks).
    egress: HashMap<Mid, (u64, u64, u64)>,
}

struct OutSlot {
    mid: Mid,
    slot: Slot,
}

impl Subscriber {
    fn slot_sources(&self) -> Vec<Option<String>> {
        self.video
            .iter()
            .map(|s| s.slot.source().map(str::to_owned))
            .collect()
    }
}

/// What a peer's output asks of the others.
enum Action {
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

/// Runs the media loop on this thread until the SFU stops.
pub(super) fn run(
    socket: std::net::UdpSocket,
    advertised: SocketAddr,
    commands: mpsc::UnboundedReceiver<Command>,
    sink: FactSink,
    metrics: Arc<Metrics>,
    sfu: Weak<Sfu>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "the SFU media loop could not start");
            return;
        }
    };
    runtime.block_on(async move {
        let socket = match UdpSocket::from_std(socket) {
            Ok(socket) => socket,
            Err(error) => {
                tracing::error!(%error, "the SFU socket could not be registered");
                return;
            }
        };
        let mut engine = Engine {
            local: advertised,
            peers: HashMap::new(),
            by_address: HashMap::new(),
            sink,
            metrics,
            sfu,
            actions: VecDeque::new(),
            touched: HashSet::new(),
        };
        engine.run(&socket, commands).await;
    });
}

struct Engine {
    /// The address peers send to: every datagram arrived there as far as ICE is concerned
    /// (the socket may be bound to all interfaces, or sit behind 1:1 NAT).
    local: SocketAddr,
    peers: HashMap<Uuid, Peer>,
    /// The peer each remote address last belonged to (the demultiplexing fast path).
    by_address: HashMap<SocketAddr, Uuid>,
    sink: FactSink,
    metrics: Arc<Metrics>,
    sfu: Weak<Sfu>,
    actions: VecDeque<Action>,
    /// Peers fed input or written to since their output was last drained.
    touched: HashSet<Uuid>,
}

impl Engine {
    async fn run(&mut self, socket: &UdpSocket, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; 2048];
        loop {
            // Peers whose deadline passed get their timeout in `settle`, like touched ones.
            let now = Instant::now();
            self.touched.extend(
                self.peers
                    .iter()
                    .filter(|(_, p)| p.deadline <= now)
                    .map(|(id, _)| *id),
            );
            self.settle(socket);
            let next = self
                .peers
                .values()
                .map(|p| p.deadline)
                .min()
                .unwrap_or(now + Duration::from_secs(1));
            tokio::select! {
                // Commands first: a DELETE answered before its peer's goodbye arrives is
                // recorded as `deleted`.
                biased;
                command = commands.recv() => match command {
                    Some(Command::Shutdown) | None => {
                        self.end_all(socket, MediaEndReason::Shutdown);
                        return;
                    }
                    Some(command) => self.command(command),
                },
                received = socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => {
                        self.receive(&buf[..n], source);
                        for _ in 1..RECEIVE_BATCH {
                            // Commands that came in meanwhile go before later datagrams.
                            while let Ok(command) = commands.try_recv() {
                                if matches!(command, Command::Shutdown) {
                                    self.end_all(socket, MediaEndReason::Shutdown);
                                    return;
                                }
                                self.command(command);
                            }
                            match socket.try_recv_from(&mut buf) {
                                Ok((n, source)) => self.receive(&buf[..n], source),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(error) => tracing::debug!(%error, "SFU socket receive failed"),
                },
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add(new) => {
                let NewPeer { info, rtc, role } = *new;
                self.metrics
                    .sfu
                    .peers
                    .with_label_values(&[role.name()])
                    .inc();
                let id = info.resource_id;
                self.peers.insert(
                    id,
                    Peer {
                        info,
                        rtc,
                        role,
                        connected: false,
                        deadline: Instant::now(),
                        ending: None,
                    },
                );
                self.touched.insert(id);
            }
            Command::Remove(scope, reason) => {
                for peer in self.peers.values_mut() {
                    let publishing = matches!(peer.role, Role::Publisher(_));
                    if scope.covers(&peer.info, publishing) {
                        peer.end(reason);
                    }
                }
            }
            Command::Select { resource_id, slots } => self.select(resource_id, &slots),
            Command::Shutdown => {}
        }
    }

    /// One datagram in: to the peer that accepts it.
    fn receive(&mut self, data: &[u8], source: SocketAddr) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        let known = self
            .by_address
            .get(&source)
            .copied()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)));
        let Some(id) = known.or_else(|| {
            self.peers
                .iter()
                .find(|(_, p)| p.ending.is_none() && p.rtc.accepts(&input))
                .map(|(id, _)| *id)
        }) else {
            return;
        };
        self.by_address.insert(source, id);
        if let Some(peer) = self.peers.get_mut(&id) {
            if let Err(error) = peer.rtc.handle_input(input) {
                tracing::debug!(%error, resource = %id, "peer refused input");
                peer.end(MediaEndReason::Failed);
            }
            self.touched.insert(id);
        }
    }

    /// Drains touched peers and acts on what they produce until nothing is left to do, then
    /// removes the peers that ended.
    fn settle(&mut self, socket: &UdpSocket) {
        loop {
            let touched: Vec<Uuid> = self.touched.drain().collect();
            let now = Instant::now();
            for id in &touched {
                // str0m packetizes written frames on its next timeout: give it one now rather
                // than at the loop's next turn.
                if let Some(peer) = self.peers.get_mut(id)
                    && let Err(error) = peer.rtc.handle_input(Input::Timeout(now))
                {
                    tracing::debug!(%error, resource = %id, "peer failed on timeout");
                    peer.end(MediaEndReason::Failed);
                }
                self.drain(socket, *id);
            }
            if self.actions.is_empty() {
                if self.touched.is_empty() {
                    break;
                }
                continue;
            }
            while let Some(action) = self.actions.pop_front() {
                match action {
                    Action::Frame {
                        from,
                        session_id,
                        source,
                        kind,
                        data,
                    } => self.forward(from, session_id, &source, kind, &data),
                    Action::Keyframe {
                        session_id,
                        source,
                        kind,
                        cause,
                    } => self.request_keyframe(session_id, &source, kind, cause),
                }
            }
        }
        self.reap();
    }

    /// Polls one peer until it has nothing more to say.
    fn drain(&mut self, socket: &UdpSocket, id: Uuid) {
        let Engine {
            peers,
            actions,
            sink,
            metrics,
            sfu,
            ..
        } = self;
        let Some(peer) = peers.get_mut(&id) else {
            return;
        };
        loop {
            if !peer.rtc.is_alive() {
                peer.deadline = Instant::now() + Duration::from_secs(3600);
                return;
            }
            match peer.rtc.poll_output() {
                Ok(Output::Transmit(transmit)) => {
                    if let Err(error) = socket.try_send_to(&transmit.contents, transmit.destination)
                    {
                        metrics.sfu.forward_drops.inc();
                        tracing::trace!(%error, "SFU send dropped");
                    }
                }
                Ok(Output::Timeout(at)) => {
                    peer.deadline = at;
                    return;
                }
                Ok(Output::Event(event)) => peer.on_event(event, actions, sink, metrics, sfu),
                Err(error) => {
                    tracing::debug!(%error, resource = %id, "peer failed");
                    peer.end(MediaEndReason::Failed);
                    peer.deadline = Instant::now();
                    return;
                }
            }
        }
    }

    /// Hands a publisher's frame to every slot of its session that shows its source.
    fn forward(
        &mut self,
        from: Uuid,
        session_id: Uuid,
        source: &str,
        kind: Kind,
        data: &MediaData,
    ) {
        let frame = forward::Frame {
            source,
            kind,
            keyframe: data.is_keyframe(),
            time: data.time.numer(),
        };
        let mut wants_keyframe = false;
        for (id, peer) in self.peers.iter_mut() {
            if *id == from || peer.info.session_id != session_id || peer.ending.is_some() {
                continue;
            }
            let Role::Subscriber(sub) = &mut peer.role else {
                continue;
            };
            let slots = match kind {
                Kind::Video => &mut sub.video,
                Kind::Audio => &mut sub.audio,
            };
            for (index, out) in slots.iter_mut().enumerate() {
                match out.slot.offer(&frame) {
                    Verdict::Skip => {}
                    Verdict::AwaitKeyframe => wants_keyframe = true,
                    Verdict::Send { time, first } => {
                        let Some(writer) = peer.rtc.writer(out.mid) else {
                            continue;
                        };
                        let Some(pt) = writer.match_params(data.params) else {
                            self.metrics.sfu.forward_drops.inc();
                            continue;
                        };
                        let rtp_time = MediaTime::new(time, data.time.frequency());
                        if let Err(error) =
                            writer.write(pt, data.network_time, rtp_time, data.data.clone())
                        {
                            tracing::debug!(%error, "subscriber write refused");
                            self.metrics.sfu.forward_drops.inc();
                            continue;
                        }
                        self.touched.insert(*id);
                        if first && kind == Kind::Video && !sub.first_frame_sent {
                            sub.first_frame_sent = true;
                            let elapsed_ms = sub.joined_at_ms.map(|joined| {
                                (chrono::Utc::now().timestamp_millis() - joined).max(0) as u64
                            });
                            if let Some(ms) = elapsed_ms {
                                self.metrics
                                    .sfu
                                    .join_to_first_frame
                                    .observe(ms as f64 / 1000.0);
                            }
                            self.sink.send(
                                &peer.info,
                                Event::FirstFrameDelivered(FirstFrameDelivered {
                                    session_id,
                                    resource_id: peer.info.resource_id,
                                    participant_id: peer.info.participant_id,
                                    user_id: peer.info.user_id,
                                    source: source.to_owned(),
                                    slot: index as u32,
                                    join_to_first_frame_ms: elapsed_ms.unwrap_or(0),
                                }),
                            );
                        }
                    }
                }
            }
        }
        if wants_keyframe {
            self.actions.push_back(Action::Keyframe {
                session_id,
                source: source.to_owned(),
                kind: KeyframeRequestKind::Pli,
                cause: KeyframeCause::FirstFrame,
            });
        }
    }

    /// Asks the publisher of `source` for a keyframe, within its rate limit.
    fn request_keyframe(
        &mut self,
        session_id: Uuid,
        source: &str,
        kind: KeyframeRequestKind,
        cause: KeyframeCause,
    ) {
        let now = Instant::now();
        let Some((id, peer)) = self.peers.iter_mut().find(|(_, p)| {
            p.info.session_id == session_id
                && p.ending.is_none()
                && matches!(&p.role, Role::Publisher(publisher) if publisher.source == source)
        }) else {
            return;
        };
        let Role::Publisher(publisher) = &mut peer.role else {
            return;
        };
        let Some(track) = publisher
            .tracks
            .iter_mut()
            .find(|t| t.kind == MediaKind::Video)
        else {
            return;
        };
        let throttle = match cause {
            KeyframeCause::Switch => &mut track.switch_keyframes,
            _ => &mut track.keyframes,
        };
        if !throttle.allow(now) {
            return;
        }
        let Some(mut writer) = peer.rtc.writer(track.mid) else {
            return;
        };
        if let Err(error) = writer.request_keyframe(None, kind) {
            tracing::debug!(%error, "keyframe request not possible");
            return;
        }
        self.metrics.sfu.keyframe_requests.inc();
        self.touched.insert(*id);
        self.sink.send(
            &peer.info,
            Event::KeyframeRequested(KeyframeRequested {
                session_id,
                resource_id: peer.info.resource_id,
                source: source.to_owned(),
                kind: match kind {
                    KeyframeRequestKind::Fir => KeyframeKind::Fir,
                    _ => KeyframeKind::Pli,
                },
                cause,
            }),
        );
    }

    /// Points a subscription's video slots (and the audio slots that follow them) at sources.
    fn select(&mut self, resource_id: Uuid, slots: &[Option<String>]) {
        let Some(peer) = self.peers.get_mut(&resource_id) else {
            return;
        };
        let Role::Subscriber(sub) = &mut peer.role else {
            return;
        };
        let previous = sub.slot_sources();
        let mut switched = Vec::new();
        for (index, wanted) in slots.iter().enumerate() {
            if let Some(entry) = sub.wanted.get_mut(index) {
                entry.clone_from(wanted);
            }
            if let Some(out) = sub.video.get_mut(index)
                && out.slot.select(wanted.clone())
                && let Some(source) = wanted
            {
                switched.push(source.clone());
            }
            if let Some(out) = sub.audio.get_mut(index) {
                out.slot.select(wanted.clone());
            }
        }
        let now = sub.slot_sources();
        if now != previous {
            self.sink.send(
                &peer.info,
                Event::SubscriptionChanged(SubscriptionChanged {
                    session_id: peer.info.session_id,
                    resource_id,
                    participant_id: peer.info.participant_id,
                    user_id: peer.info.user_id,
                    slots: now,
                    previous,
                }),
            );
        }
        let session_id = peer.info.session_id;
        for source in switched {
            self.actions.push_back(Action::Keyframe {
                session_id,
                source,
                kind: KeyframeRequestKind::Pli,
                cause: KeyframeCause::Switch,
            });
        }
    }

    /// Removes the peers that ended, recording why.
    fn reap(&mut self) {
        let gone: Vec<Uuid> = self
            .peers
            .iter()
            .filter(|(_, p)| p.ending.is_some() || !p.rtc.is_alive())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            let Some(mut peer) = self.peers.remove(&id) else {
                continue;
            };
            let reason = peer.ending.unwrap_or(MediaEndReason::Disconnected);
            peer.rtc.disconnect();
            self.by_address.retain(|_, owner| *owner != id);
            self.metrics
                .sfu
                .peers
                .with_label_values(&[peer.role.name()])
                .dec();
            if let Some(sfu) = self.sfu.upgrade() {
                sfu.forget(peer.info.session_id, id);
            }
            match &peer.role {
                Role::Publisher(publisher) => {
                    for track in publisher.tracks.iter().filter(|t| t.codec.is_some()) {
                        self.metrics.sfu.tracks.dec();
                        self.sink.send(
                            &peer.info,
                            Event::TrackUnpublished(TrackUnpublished {
                                session_id: peer.info.session_id,
                                resource_id: id,
                                source: publisher.source.clone(),
                                kind: track.kind,
                                mid: track.mid.to_string(),
                                reason,
                            }),
                        );
                    }
                    if peer.connected {
                        self.sink.send(
                            &peer.info,
                            Event::PublisherDisconnected(PublisherDisconnected {
                                session_id: peer.info.session_id,
                                resource_id: id,
                                participant_id: peer.info.participant_id,
                                user_id: peer.info.user_id,
                                source: publisher.source.clone(),
                                reason,
                            }),
                        );
                    }
                    // Slots showing this source start over at a keyframe if it comes back.
                    for other in self.peers.values_mut() {
                        if other.info.session_id != peer.info.session_id {
                            continue;
                        }
                        if let Role::Subscriber(sub) = &mut other.role {
                            for out in sub.video.iter_mut().chain(sub.audio.iter_mut()) {
                                if out.slot.source() == Some(publisher.source.as_str()) {
                                    out.slot.restart();
                                }
                            }
                        }
                    }
                }
                Role::Subscriber(_) => {
                    if peer.connected {
                        self.sink.send(
                            &peer.info,
                            Event::SubscriberDisconnected(SubscriberDisconnected {
                                session_id: peer.info.session_id,
                                resource_id: id,
                                participant_id: peer.info.participant_id,
                                user_id: peer.info.user_id,
                                reason,
                            }),
                        );
                    }
                }
            }
        }
    }

    /// Ends every peer (server shutdown) and records it.
    fn end_all(&mut self, socket: &UdpSocket, reason: MediaEndReason) {
        for peer in self.peers.values_mut() {
            peer.end(reason);
            // Lets the peer say goodbye (DTLS close) where it can.
            self.touched.insert(peer.info.resource_id);
        }
        for id in self.touched.drain().collect::<Vec<_>>() {
            self.drain(socket, id);
        }
        self.reap();
    }
}

impl Peer {
    /// Marks the peer as ending. A reason the server decided (a DELETE, a removal, the end of
    /// the session, shutdown) wins over a network one seen first in the same turn.
    fn end(&mut self, reason: MediaEndReason) {
        let decided =
            |r: MediaEndReason| !matches!(r, MediaEndReason::Disconnected | MediaEndReason::Failed);
        match self.ending {
            None => self.ending = Some(reason),
            Some(current) if !decided(current) && decided(reason) => self.ending = Some(reason),
            Some(_) => {}
        }
    }

    fn on_event(
        &mut self,
        event: RtcEvent,
        actions: &mut VecDeque<Action>,
        sink: &FactSink,
        metrics: &Metrics,
        sfu: &Weak<Sfu>,
    ) {
        let info = &self.info;
        match event {
            RtcEvent::Connected => {
                self.connected = true;
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
                sink.send(info, event);
                // The slots a subscription starts with, so the log says what it showed.
                if let Role::Subscriber(sub) = &self.role {
                    let slots = sub.wanted.clone();
                    if slots.iter().any(Option::is_some) {
                        sink.send(
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
            RtcEvent::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.end(MediaEndReason::Disconnected);
            }
            RtcEvent::Closed => self.end(MediaEndReason::Disconnected),
            RtcEvent::MediaAdded(added) => {
                let kind = match added.kind {
                    str0m::media::MediaKind::Audio => Kind::Audio,
                    str0m::media::MediaKind::Video => Kind::Video,
                };
                match &mut self.role {
                    Role::Publisher(publisher)
                        if matches!(added.direction, Direction::RecvOnly | Direction::SendRecv) =>
                    {
                        let now = Instant::now();
                        publisher.tracks.push(TrackIn {
                            mid: added.mid,
                            kind: media_kind(kind),
                            codec: None,
                            keyframes: Throttle::new(KEYFRAME_INTERVAL),
                            switch_keyframes: Throttle::new(SWITCH_KEYFRAME_INTERVAL),
                            quality: QualityWindow::new(now),
                        });
                    }
                    Role::Subscriber(sub)
                        if matches!(added.direction, Direction::SendOnly | Direction::SendRecv) =>
                    {
                        match kind {
                            Kind::Video => {
                                let source = sub.wanted.get(sub.video.len()).cloned().flatten();
                                sub.video.push(OutSlot {
                                    mid: added.mid,
                                    slot: Slot::new(Kind::Video, source),
                                });
                            }
                            Kind::Audio => {
                                let source = sub.wanted.get(sub.audio.len()).cloned().flatten();
                                sub.audio.push(OutSlot {
                                    mid: added.mid,
                                    slot: Slot::new(Kind::Audio, source),
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
            RtcEvent::MediaData(data) => {
                let Role::Publisher(publisher) = &mut self.role else {
                    return;
                };
                let Some(track) = publisher.tracks.iter_mut().find(|t| t.mid == data.mid) else {
                    return;
                };
                if track.codec.is_none() {
                    let codec = data.params.spec().codec.to_string().to_lowercase();
                    track.codec = Some(codec.clone());
                    metrics.sfu.tracks.inc();
                    sink.send(
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
                    if let Some(sfu) = sfu.upgrade() {
                        sfu.track_seen(
                            info.session_id,
                            info.resource_id,
                            TrackView {
                                kind: track.kind,
                                codec: Some(codec),
                                mid: track.mid.to_string(),
                            },
                        );
                    }
                }
                let kind = match track.kind {
                    MediaKind::Video => Kind::Video,
                    MediaKind::Audio => Kind::Audio,
                };
                if kind == Kind::Video && !data.contiguous {
                    actions.push_back(Action::Keyframe {
                        session_id: info.session_id,
                        source: publisher.source.clone(),
                        kind: KeyframeRequestKind::Fir,
                        cause: KeyframeCause::Loss,
                    });
                }
                actions.push_back(Action::Frame {
                    from: info.resource_id,
                    session_id: info.session_id,
                    source: publisher.source.clone(),
                    kind,
                    data: Box::new(data),
                });
            }
            RtcEvent::KeyframeRequest(request) => {
                let Role::Subscriber(sub) = &self.role else {
                    return;
                };
                metrics.sfu.plis.inc();
                if let Some(source) = sub
                    .video
                    .iter()
                    .find(|s| s.mid == request.mid)
                    .and_then(|s| s.slot.source())
                {
                    actions.push_back(Action::Keyframe {
                        session_id: info.session_id,
                        source: source.to_owned(),
                        kind: request.kind,
                        cause: KeyframeCause::Subscriber,
                    });
                }
            }
            RtcEvent::MediaIngressStats(stats) => {
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
                    sink.send(
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
            RtcEvent::MediaEgressStats(stats) => {
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
            _ => {}
        }
    }
}

fn media_kind(kind: Kind) -> MediaKind {
    match kind {
        Kind::Audio => MediaKind::Audio,
        Kind::Video => MediaKind::Video,
    }
}
