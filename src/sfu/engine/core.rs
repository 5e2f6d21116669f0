//! The media core, sans IO: every peer's `Rtc` and the forwarding between them, driven by
//! inputs (a command, a datagram, the passing of time, each with the time it happens) and
//! drained of outputs (datagrams to send, media events, registry updates, the next deadline).
//! It owns no socket, thread, channel or clock, so it runs the same in simulated time.
//!
//! Inputs only feed the peers. The work happens at the first [`Core::poll_output`] after them:
//! every peer fed or due gets its timeout and is drained until it says `Timeout`; what the
//! peers produced is acted on (frames forwarded, keyframe requests passed on) until nothing is
//! left; then the peers that ended are removed and recorded. A loop that feeds a batch of
//! datagrams before polling thus drains each peer once per batch.
//!
//! A core is one of several media loops' (one per core of the machine). With `with_pipes`, it
//! hands what the other loops need as [`Output::Pipe`] (its publishers' frames, keyframe
//! requests for publishers it does not hold, sources that ended) and takes theirs with
//! [`Core::handle_piped`]: a publisher's frames thus reach subscribers on every loop, as
//! mediasoup's pipe transports join its workers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use livesurgery_domain::Event;
use livesurgery_domain::events::{
    MediaEndReason, PublisherDisconnected, SubscriberDisconnected, TrackUnpublished,
};
use str0m::net::{Protocol, Receive};
use str0m::{Input, Output as RtcOutput};
use uuid::Uuid;

mod forwarding;
mod pipe;
mod tee;

pub(super) use self::pipe::{Piped, SharedFrame};
use super::peer::{Action, Effects, NewPeer, Peer, Publisher, Role};
use crate::recording::tap::Tee;
use crate::sfu::{Command, PeerInfo, TrackView};
use crate::telemetry::Metrics;

/// How long the core waits, with no peer, before it wants to be polled again.
const IDLE: Duration = Duration::from_secs(1);
/// How far off a peer whose `Rtc` is no longer alive puts its deadline (it is removed first).
const DEAD: Duration = Duration::from_secs(3600);
/// How long a new peer has to connect (ICE and DTLS) unless the core is told otherwise.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a publisher's video may send nothing before it counts as stalled, unless the core
/// is told otherwise.
const STALL_AFTER: Duration = Duration::from_secs(2);

/// What the core asks of the loop that drives it, in the order it must happen.
#[derive(Debug)]
pub(super) enum Output {
    /// A datagram to send from the media socket.
    Transmit(Transmit),
    /// A media event for the session's stream, on behalf of this peer.
    Fact(PeerInfo, Event),
    /// A change to the sources and subscriptions the signalling side lists.
    Registry(RegistryUpdate),
    /// Something the other media loops must learn (only with `with_pipes`).
    Pipe(Piped),
    /// Nothing more to do before this instant, unless an input comes first.
    Timeout(Instant),
}

/// A datagram to send.
#[derive(Debug)]
pub(super) struct Transmit {
    pub(super) destination: SocketAddr,
    pub(super) bytes: Vec<u8>,
}

/// What the registry of sources and subscriptions must learn from the media.
#[derive(Debug, Clone)]
pub(super) enum RegistryUpdate {
    /// A published track's codec is known (its first frame arrived).
    TrackSeen {
        session_id: Uuid,
        resource_id: Uuid,
        track: TrackView,
    },
    /// A publisher's video stalled since its last frame at `since`, or (`None`) resumed.
    Stall {
        session_id: Uuid,
        resource_id: Uuid,
        since: Option<Instant>,
    },
    /// A peer ended and was removed, for this reason.
    PeerGone {
        session_id: Uuid,
        resource_id: Uuid,
        info: PeerInfo,
        reason: MediaEndReason,
    },
}

/// Every peer connection of the SFU and the forwarding between them.
pub(super) struct Core {
    peers: HashMap<Uuid, Peer>,
    /// The peer each remote address last belonged to (the demultiplexing fast path).
    by_address: HashMap<SocketAddr, Uuid>,
    metrics: Arc<Metrics>,
    actions: VecDeque<Action>,
    /// Peers fed input or written to since their output was last drained.
    touched: HashSet<Uuid>,
    outputs: VecDeque<Output>,
    /// The latest time an input brought (time never runs backwards here).
    now: Instant,
    /// Input came since the peers were last drained and reaped.
    unsettled: bool,
    /// The recording tee of each session being recorded.
    taps: HashMap<Uuid, Tee>,
    /// How long a new peer has to connect before it is removed.
    setup_timeout: Duration,
    /// How long a publisher's video may send nothing before it is marked stalled.
    stall_after: Duration,
    /// Other media loops exist: frames, keyframe requests and ended sources go to them too.
    piped: bool,
}

impl Core {
    /// An empty core at `now`.
    pub(super) fn new(metrics: Arc<Metrics>, now: Instant) -> Core {
        Core {
            peers: HashMap::new(),
            by_address: HashMap::new(),
            metrics,
            actions: VecDeque::new(),
            touched: HashSet::new(),
            outputs: VecDeque::new(),
            now,
            unsettled: false,
            taps: HashMap::new(),
            setup_timeout: SETUP_TIMEOUT,
            stall_after: STALL_AFTER,
            piped: false,
        }
    }

    /// The same core with another setup timeout (`LIVESURGERY_SFU_SETUP_TIMEOUT`).
    pub(super) fn with_setup_timeout(mut self, setup_timeout: Duration) -> Core {
        self.setup_timeout = setup_timeout;
        self
    }

    /// The same core with another stall threshold (`LIVESURGERY_SFU_STALL_AFTER_MS`).
    pub(super) fn with_stall_after(mut self, stall_after: Duration) -> Core {
        self.stall_after = stall_after;
        self
    }

    /// The same core as one of several media loops, joined to the others by pipes.
    pub(super) fn with_pipes(mut self) -> Core {
        self.piped = true;
        self
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.unsettled = true;
    }

    /// Takes a command of the signalling side; `Shutdown` ends every peer at once.
    pub(super) fn handle_command(&mut self, command: Command, now: Instant) {
        self.advance(now);
        match command {
            Command::Add(new) => self.add(*new),
            Command::Remove(scope, reason) => {
                // Removed at the next settle, which records why.
                for peer in self.peers.values_mut() {
                    let publishing = matches!(peer.role, Role::Publisher(_));
                    if scope.covers(&peer.info, publishing) {
                        peer.end(reason);
                    }
                }
            }
            Command::Select { resource_id, slots } => self.select(resource_id, &slots),
            // Dropping a session's tee ends its source queues: the recorder's writers finish.
            Command::Record {
                session_id,
                tap: Some(tap),
            } => {
                self.taps.insert(session_id, Tee::new(tap));
            }
            Command::Record {
                session_id,
                tap: None,
            } => {
                self.taps.remove(&session_id);
            }
            Command::Shutdown => self.end_all(MediaEndReason::Shutdown),
            // The loop answers barriers at the end of its turn; none reach the core.
            Command::Barrier(_) => {}
        }
    }

    /// Takes one datagram from `source` to `destination` (the advertised address) for its peer.
    pub(super) fn handle_datagram(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) {
        self.advance(now);
        let Ok(contents) = bytes.try_into() else {
            return;
        };
        let input = Input::Receive(
            self.now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
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

    /// Lets time pass: the peers whose deadline is due get their timeout.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let now = self.now;
        for (id, peer) in self.peers.iter_mut() {
            peer.check_stall(now, self.stall_after, &mut self.outputs);
            // A peer past its setup time or its token's expiry ends now (and is reaped at the
            // settle this turn); one whose `Rtc` wants time gets it.
            if peer.check_limits(now) || peer.deadline <= now {
                self.touched.insert(*id);
            }
        }
    }

    /// The next thing to do; `Timeout` once there is nothing until then.
    pub(super) fn poll_output(&mut self) -> Output {
        if self.unsettled {
            self.unsettled = false;
            self.settle();
        }
        match self.outputs.pop_front() {
            Some(output) => output,
            None => Output::Timeout(
                self.peers
                    .values()
                    .map(|peer| peer.due(self.stall_after))
                    .min()
                    .unwrap_or(self.now + IDLE),
            ),
        }
    }

    fn add(&mut self, new: NewPeer) {
        let NewPeer {
            info,
            rtc,
            role,
            expires_at,
        } = new;
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
                deadline: self.now,
                ending: None,
                setup_by: self.now + self.setup_timeout,
                expires_at,
            },
        );
        self.touched.insert(id);
    }

    /// Drains touched peers and acts on what they produce until nothing is left to do, then
    /// removes the peers that ended.
    fn settle(&mut self) {
        loop {
            let touched: Vec<Uuid> = self.touched.drain().collect();
            for id in &touched {
                // str0m packetizes written frames on its next timeout: give it one now rather
                // than at the loop's next turn.
                if let Some(peer) = self.peers.get_mut(id)
                    && let Err(error) = peer.rtc.handle_input(Input::Timeout(self.now))
                {
                    tracing::debug!(%error, resource = %id, "peer failed on timeout");
                    peer.end(MediaEndReason::Failed);
                }
                self.drain(*id);
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
                    } => {
                        let frame = SharedFrame::of(&data);
                        self.forward(from, session_id, &source, kind, &frame);
                        if self.piped {
                            self.outputs.push_back(Output::Pipe(Piped::Frame {
                                session_id,
                                source: source.clone(),
                                kind,
                                frame,
                            }));
                        }
                        self.tee(from, session_id, source, kind, &data);
                    }
                    Action::Keyframe {
                        session_id,
                        source,
                        kind,
                        cause,
                    } => self.request_keyframe(session_id, &source, kind, cause, true),
                }
            }
        }
        self.reap();
    }

    /// Polls one peer until it has nothing more to say.
    fn drain(&mut self, id: Uuid) {
        let Core {
            peers,
            actions,
            outputs,
            metrics,
            now,
            ..
        } = self;
        let Some(peer) = peers.get_mut(&id) else {
            return;
        };
        let mut effects = Effects {
            now: *now,
            actions,
            outputs,
            metrics,
        };
        loop {
            if !peer.rtc.is_alive() {
                peer.deadline = *now + DEAD;
                return;
            }
            match peer.rtc.poll_output() {
                Ok(RtcOutput::Transmit(transmit)) => {
                    effects.outputs.push_back(Output::Transmit(Transmit {
                        destination: transmit.destination,
                        bytes: transmit.contents.into(),
                    }));
                }
                Ok(RtcOutput::Timeout(at)) => {
                    peer.deadline = at;
                    return;
                }
                Ok(RtcOutput::Event(event)) => peer.on_event(event, &mut effects),
                Err(error) => {
                    tracing::debug!(%error, resource = %id, "peer failed");
                    peer.end(MediaEndReason::Failed);
                    peer.deadline = *now;
                    return;
                }
            }
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
            self.outputs
                .push_back(Output::Registry(RegistryUpdate::PeerGone {
                    session_id: peer.info.session_id,
                    resource_id: id,
                    info: peer.info.clone(),
                    reason,
                }));
            match &peer.role {
                // A peer that never connected is recorded only when the SFU gave up on it: the
                // log then says why a resource that was answered never came up.
                Role::Publisher(publisher) => {
                    let record = peer.connected || reason == MediaEndReason::SetupTimeout;
                    self.unpublish(&peer.info, publisher, record, reason);
                }
                Role::Subscriber(_) => {
                    if peer.connected || reason == MediaEndReason::SetupTimeout {
                        self.outputs.push_back(Output::Fact(
                            peer.info.clone(),
                            Event::SubscriberDisconnected(SubscriberDisconnected {
                                session_id: peer.info.session_id,
                                resource_id: id,
                                participant_id: peer.info.participant_id,
                                user_id: peer.info.user_id,
                                reason,
                            }),
                        ));
                    }
                }
            }
        }
    }

    /// Records a removed publisher's tracks and connection as ended.
    fn unpublish(
        &mut self,
        info: &PeerInfo,
        publisher: &Publisher,
        connected: bool,
        reason: MediaEndReason,
    ) {
        let source = publisher.source.as_str();
        for track in publisher.tracks.iter().filter(|t| t.codec.is_some()) {
            self.metrics.sfu.tracks.dec();
            self.outputs.push_back(Output::Fact(
                info.clone(),
                Event::TrackUnpublished(TrackUnpublished {
                    session_id: info.session_id,
                    resource_id: info.resource_id,
                    source: source.to_owned(),
                    kind: track.kind,
                    mid: track.mid.to_string(),
                    reason,
                }),
            ));
        }
        if connected {
            self.outputs.push_back(Output::Fact(
                info.clone(),
                Event::PublisherDisconnected(PublisherDisconnected {
                    session_id: info.session_id,
                    resource_id: info.resource_id,
                    participant_id: info.participant_id,
                    user_id: info.user_id,
                    source: source.to_owned(),
                    reason,
                }),
            ));
        }
        self.restart_slots(info.session_id, source);
        if self.piped {
            self.outputs.push_back(Output::Pipe(Piped::SourceGone {
                session_id: info.session_id,
                source: source.to_owned(),
            }));
        }
    }

    /// Slots showing this source start over at a keyframe if it comes back.
    fn restart_slots(&mut self, session_id: Uuid, source: &str) {
        for other in self.peers.values_mut() {
            if other.info.session_id != session_id {
                continue;
            }
            if let Role::Subscriber(sub) = &mut other.role {
                for out in sub.video.iter_mut().chain(sub.audio.iter_mut()) {
                    if out.slot.source() == Some(source) {
                        out.slot.restart();
                    }
                }
            }
        }
    }

    /// Ends every peer (server shutdown) and records it.
    fn end_all(&mut self, reason: MediaEndReason) {
        for peer in self.peers.values_mut() {
            peer.end(reason);
            // Lets the peer say goodbye (DTLS close) where it can.
            self.touched.insert(peer.info.resource_id);
        }
        for id in self.touched.drain().collect::<Vec<_>>() {
            self.drain(id);
        }
        self.reap();
    }
}
