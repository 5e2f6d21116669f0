//! The media core in simulated time: str0m peers of the test's own publish and subscribe
//! through the same offer/answer as WHIP and WHEP, their datagrams handed to the core and
//! back by hand, the clock advanced by hand. No socket, thread or sleep.

mod forwarding;
mod lifecycle;
mod limits;
mod pipes;
mod recording;
mod stalls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use livesurgery_domain::Event;
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event as RtcEvent, Input, Output as RtcOutput, Rtc};
use uuid::Uuid;

use super::core::{Core, Output, Piped, RegistryUpdate};
use super::peer::{NewPeer, answer};
use crate::sfu::{Command, PeerInfo};
use crate::telemetry::Metrics;

/// The SFU's advertised address (the host candidate of every answer).
const SFU: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40_000);
/// One turn of the simulation: every sending publisher writes one frame (about 30 fps).
const TICK: Duration = Duration::from_millis(33);
/// A publisher's RTP clock advances this much per frame (90 kHz at 30 fps).
const FRAME_TICKS: u64 = 3_000;

/// A frame as a test subscriber received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Received {
    /// The RTP time (unwrapped) and the first and last RTP sequence numbers.
    time: u64,
    first_seq: u64,
    last_seq: u64,
    keyframe: bool,
    contiguous: bool,
    /// Which publisher wrote it, and its number there.
    tag: u8,
    number: u32,
}

/// A str0m peer of the test, on its own address.
struct Client {
    rtc: Rtc,
    addr: SocketAddr,
    mid: Mid,
    resource_id: Uuid,
    connected: bool,
    /// It vanished: what it sends is lost, and it gets nothing.
    vanished: bool,
    /// Subscriber: the frames received, in order.
    received: Vec<Received>,
    /// Publisher: the keyframe requests received.
    keyframe_requests: Vec<KeyframeRequestKind>,
    /// Publisher: the tag in its frames, the start of its RTP clock, the frames written, and
    /// whether it writes one each tick once connected.
    tag: u8,
    rtp_base: u64,
    written: u32,
    sending: bool,
    /// Its next frame is a keyframe.
    keyframe_due: bool,
    /// Whether it answers a keyframe request with a keyframe.
    answers_requests: bool,
    /// Its peer is on the second media loop.
    on_other: bool,
}

impl Client {
    fn on_event(&mut self, event: RtcEvent) {
        match event {
            RtcEvent::Connected => self.connected = true,
            RtcEvent::MediaData(data) => self.received.push(received(&data)),
            RtcEvent::KeyframeRequest(request) => {
                self.keyframe_requests.push(request.kind);
                if self.answers_requests {
                    self.keyframe_due = true;
                }
            }
            _ => {}
        }
    }

    /// Writes the next frame: a tiny VP8 frame whose first byte says keyframe or not, then
    /// this publisher's tag and the frame's number.
    fn write_frame(&mut self, now: Instant) {
        let keyframe = std::mem::take(&mut self.keyframe_due);
        let mut frame = vec![u8::from(!keyframe), self.tag];
        frame.extend_from_slice(&self.written.to_be_bytes());
        frame.resize(64, 0xAB);
        let time = MediaTime::from_90khz(self.rtp_base + u64::from(self.written) * FRAME_TICKS);
        let writer = self.rtc.writer(self.mid).expect("the publisher's m-line");
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Vp8)
            .map(|p| p.pt())
            .expect("VP8 negotiated");
        writer.write(pt, now, time, frame).expect("a frame written");
        self.written += 1;
    }
}

fn received(data: &MediaData) -> Received {
    let number = data
        .data
        .get(2..6)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(u32::MAX, u32::from_be_bytes);
    Received {
        time: data.time.numer(),
        first_seq: **data.seq_range.start(),
        last_seq: **data.seq_range.end(),
        keyframe: data.is_keyframe(),
        contiguous: data.contiguous,
        tag: data.data.get(1).copied().unwrap_or(0),
        number,
    }
}

/// The core, its peers' counterparts, and what came out of it.
struct Sim {
    core: Core,
    metrics: Arc<Metrics>,
    now: Instant,
    started: Instant,
    session_id: Uuid,
    clients: Vec<Client>,
    /// A second media loop, joined to the first by pipes (`Sim::two_loops`).
    other: Option<Core>,
    /// New peers go to the second loop.
    placing_on_other: bool,
    /// Every media event the core emitted, with the simulated time it came at.
    events: Vec<(Duration, Event)>,
    registry: Vec<RegistryUpdate>,
}

impl Sim {
    fn new() -> Sim {
        Sim::with_stall_after(Duration::from_secs(3600))
    }

    /// A simulation whose core marks a publisher's video stalled after `stall_after`.
    fn with_stall_after(stall_after: Duration) -> Sim {
        let now = Instant::now();
        let metrics = Arc::new(Metrics::new());
        Sim {
            core: Core::new(metrics.clone(), now).with_stall_after(stall_after),
            metrics,
            now,
            started: now,
            session_id: Uuid::now_v7(),
            other: None,
            placing_on_other: false,
            clients: Vec::new(),
            events: Vec::new(),
            registry: Vec::new(),
        }
    }

    /// Two media loops joined by pipes; peers go to the first until `place_on_other`.
    fn two_loops() -> Sim {
        let mut sim = Sim::new();
        let core = std::mem::replace(&mut sim.core, Core::new(sim.metrics.clone(), sim.now));
        sim.core = core.with_pipes();
        sim.other = Some(
            Core::new(sim.metrics.clone(), sim.now)
                .with_stall_after(Duration::from_secs(3600))
                .with_pipes(),
        );
        sim
    }

    /// New peers go to the second media loop (`true`) or the first.
    fn place_on_other(&mut self, other: bool) {
        assert!(self.other.is_some(), "a second loop");
        self.placing_on_other = other;
    }

    /// Time since the simulation started.
    fn elapsed(&self) -> Duration {
        self.now - self.started
    }

    fn info(&self, resource_id: Uuid) -> PeerInfo {
        PeerInfo {
            resource_id,
            session_id: self.session_id,
            participant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            org_role: livesurgery_domain::roles::OrgRole::Surgeon,
        }
    }

    /// A test peer with one video m-line, its offer answered by the SFU; returns the SFU's
    /// side of it.
    fn client(&mut self, direction: Direction, tag: u8, rtp_base: u64) -> (usize, Rtc) {
        let index = self.clients.len();
        let port = 50_000 + u16::try_from(index).expect("a few clients");
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port);
        let mut rtc = Rtc::builder().build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("a host candidate"));
        let mut sdp = rtc.sdp_api();
        let mid = sdp.add_media(MediaKind::Video, direction, None, None, None);
        let (offer, pending) = sdp.apply().expect("an offer");
        let (sfu_rtc, answer) = answer(SFU, &offer.to_sdp_string()).expect("an answer");
        // The SFU's `Rtc` starts on the real clock and ignores time before its start: keep
        // simulated time (which otherwise runs ahead of the real clock) from lagging it.
        self.now = self.now.max(Instant::now());
        let answer = SdpAnswer::from_sdp_string(&answer).expect("a readable answer");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("the answer accepted");
        self.clients.push(Client {
            rtc,
            addr,
            mid,
            resource_id: Uuid::now_v7(),
            connected: false,
            vanished: false,
            received: Vec::new(),
            keyframe_requests: Vec::new(),
            tag,
            rtp_base,
            written: 0,
            sending: false,
            keyframe_due: true,
            answers_requests: true,
            on_other: self.placing_on_other,
        });
        (index, sfu_rtc)
    }

    /// A publisher of `source` whose frames carry `tag` and whose RTP clock starts at
    /// `rtp_base`; it sends from the next tick on.
    fn publish(&mut self, source: &str, tag: u8, rtp_base: u64) -> usize {
        let (index, rtc) = self.client(Direction::SendOnly, tag, rtp_base);
        let info = self.info(self.clients[index].resource_id);
        let peer = NewPeer::publisher(info, rtc, source.to_owned());
        self.add(peer);
        self.clients[index].sending = true;
        index
    }

    /// A subscriber of one video slot showing `source`, whose participant joined `ago`.
    fn subscribe(&mut self, source: Option<&str>, ago: Duration) -> usize {
        let (index, rtc) = self.client(Direction::RecvOnly, 0, 0);
        let info = self.info(self.clients[index].resource_id);
        let joined = self.now.checked_sub(ago);
        let slots = vec![source.map(str::to_owned)];
        let peer = NewPeer::subscriber_since(info, rtc, slots, 0, joined);
        self.add(peer);
        index
    }

    /// A subscriber of one video slot showing `source`, whose media is cut `expires_in` from
    /// now; a `silent` one never answers (its ICE never comes up).
    fn subscribe_limited(
        &mut self,
        source: Option<&str>,
        expires_in: Option<Duration>,
        silent: bool,
    ) -> usize {
        let (index, rtc) = self.client(Direction::RecvOnly, 0, 0);
        self.clients[index].vanished = silent;
        let info = self.info(self.clients[index].resource_id);
        let slots = vec![source.map(str::to_owned)];
        let mut peer = NewPeer::subscriber_since(info, rtc, slots, 0, None);
        if let Some(after) = expires_in {
            peer = peer.until(self.now + after);
        }
        self.command(Command::Add(Box::new(peer)));
        index
    }

    fn command(&mut self, command: Command) {
        self.core.handle_command(command, self.now);
        self.pump();
    }

    /// Adds a peer on the loop new peers go to.
    fn add(&mut self, peer: NewPeer) {
        let command = Command::Add(Box::new(peer));
        match self.other.as_mut() {
            Some(other) if self.placing_on_other => other.handle_command(command, self.now),
            _ => self.core.handle_command(command, self.now),
        }
        self.pump();
    }

    /// One tick: the publishers write a frame, time passes, the datagrams settle.
    fn tick(&mut self) {
        let now = self.now;
        for client in self.clients.iter_mut() {
            if client.sending && client.connected && !client.vanished {
                client.write_frame(now);
            }
        }
        self.now += TICK;
        self.core.handle_timeout(self.now);
        if let Some(other) = self.other.as_mut() {
            other.handle_timeout(self.now);
        }
        self.pump();
    }

    fn run(&mut self, duration: Duration) {
        let until = self.now + duration;
        while self.now < until {
            self.tick();
        }
    }

    /// Ticks until `done` holds, at most `limit` of simulated time; returns whether it held.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Sim) -> bool) -> bool {
        let until = self.now + limit;
        while !done(self) {
            if self.now >= until {
                return false;
            }
            self.tick();
        }
        true
    }

    /// Hands datagrams between the clients and the core until none is left in flight.
    fn pump(&mut self) {
        let now = self.now;
        for _ in 0..1_000 {
            let mut moved = false;
            for client in self.clients.iter_mut() {
                client
                    .rtc
                    .handle_input(Input::Timeout(now))
                    .expect("a client takes its timeout");
                loop {
                    match client.rtc.poll_output().expect("a client's output") {
                        RtcOutput::Timeout(_) => break,
                        RtcOutput::Transmit(transmit) if !client.vanished => {
                            moved = true;
                            let core = match self.other.as_mut() {
                                Some(other) if client.on_other => other,
                                _ => &mut self.core,
                            };
                            core.handle_datagram(
                                transmit.source,
                                transmit.destination,
                                &transmit.contents,
                                now,
                            );
                        }
                        RtcOutput::Transmit(_) => {}
                        RtcOutput::Event(event) => client.on_event(event),
                    }
                }
            }
            let two_loops = self.other.is_some();
            let mut piped: Vec<(bool, Piped)> = Vec::new();
            for on_other in [false, true] {
                let core = match (on_other, self.other.as_mut()) {
                    (false, _) => &mut self.core,
                    (true, Some(other)) => other,
                    (true, None) => continue,
                };
                loop {
                    match core.poll_output() {
                        Output::Timeout(_) => break,
                        Output::Transmit(transmit) => {
                            let Some(client) = self
                                .clients
                                .iter_mut()
                                .find(|c| c.addr == transmit.destination && !c.vanished)
                            else {
                                continue;
                            };
                            moved = true;
                            let input = Input::Receive(
                                now,
                                Receive {
                                    proto: Protocol::Udp,
                                    source: SFU,
                                    destination: transmit.destination,
                                    contents: transmit
                                        .bytes
                                        .as_slice()
                                        .try_into()
                                        .expect("a datagram"),
                                },
                            );
                            client
                                .rtc
                                .handle_input(input)
                                .expect("a client takes a datagram");
                        }
                        Output::Fact(_, event) => {
                            self.events.push((self.now - self.started, event))
                        }
                        Output::Registry(update) => self.registry.push(update),
                        Output::Pipe(message) => {
                            assert!(two_loops, "a lone loop pipes nothing: {message:?}");
                            piped.push((!on_other, message));
                        }
                    }
                }
            }
            for (to_other, message) in piped {
                moved = true;
                let core = match self.other.as_mut() {
                    Some(other) if to_other => other,
                    _ => &mut self.core,
                };
                core.handle_piped(message, now);
            }
            if !moved {
                return;
            }
        }
        panic!("datagrams still in flight after 1,000 rounds");
    }

    /// Where the events stand now, to look at what comes after.
    fn mark(&self) -> usize {
        self.events.len()
    }

    /// The events since `mark`, in order.
    fn events_since(&self, mark: usize) -> impl Iterator<Item = &Event> {
        self.events.iter().skip(mark).map(|(_, e)| e)
    }

    /// The type names of the events since `mark`, in order.
    fn types_since(&self, mark: usize) -> Vec<&'static str> {
        self.events_since(mark).map(Event::event_type).collect()
    }

    /// A client's resource id.
    fn resource(&self, client: usize) -> Uuid {
        self.clients[client].resource_id
    }
}

/// Simulated time a peer connection gets to come up.
const CONNECT: Duration = Duration::from_secs(3);

/// Asserts a run of received frames is one stream: consecutive frames of one publisher, one
/// frame step apart in RTP time, with consecutive RTP sequence numbers.
fn assert_continuous(frames: &[Received]) {
    for pair in frames.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert_eq!(b.tag, a.tag, "one publisher: {a:?} then {b:?}");
        assert_eq!(b.number, a.number + 1, "no frame lost: {a:?} then {b:?}");
        assert_eq!(
            b.time,
            a.time + FRAME_TICKS,
            "one frame step: {a:?} then {b:?}"
        );
        assert_eq!(
            b.first_seq,
            a.last_seq + 1,
            "no sequence gap: {a:?} then {b:?}"
        );
        assert!(b.contiguous, "contiguous: {b:?}");
    }
}
