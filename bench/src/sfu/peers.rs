//! The bench's str0m peers, each on a UDP socket of its own: the publisher (WHIP) writing
//! stamped frames, the subscribers (WHEP) counting and timing them, and the two wired
//! straight to each other (no SFU) for the floor of the latency.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::frames::{is_rtp, read_frame_stamp, vp8_frame};
use super::meter::{Meter, Source, wall_us};
use super::{READY_WITHIN, Shape, wait_for};
use crate::report::{lock, quantile};

/// Datagrams a peer reads in one go before it is drained.
const RECEIVE_BURST: usize = 16;

static CRYPTO: LazyLock<Arc<CryptoProvider>> =
    LazyLock::new(|| Arc::new(str0m::crypto::from_feature_flags()));

/// A str0m peer on a UDP socket of its own (the SFU tells subscribers apart by address).
pub(super) struct Peer {
    pub rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
}

/// What a peer does with its events, and what it sends of its own accord.
pub(super) trait Role: Send + 'static {
    fn event(&mut self, rtc: &mut Rtc, event: Event);
    /// A datagram arrived.
    fn received(&mut self, _datagram: &[u8]) {}
    /// A datagram was sent.
    fn sent(&mut self, _datagram: &[u8]) {}
    /// When the next frame is due, for a sender.
    fn next_frame(&self) -> Option<Instant> {
        None
    }
    /// Writes the frame that is due.
    fn write_frame(&mut self, _rtc: &mut Rtc) {}
    /// The peer failed (not stopped): why.
    fn failed(&mut self, _why: &str) {}
}

impl Peer {
    /// A fresh `Rtc` (VP8 only, stats every second) with a loopback socket as its host
    /// candidate.
    pub(super) async fn bind() -> anyhow::Result<Peer> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .context("binding a UDP socket")?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_crypto_provider(CRYPTO.clone())
            .clear_codecs()
            .enable_vp8(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp").context("a host candidate")?;
        rtc.add_local_candidate(candidate)
            .context("the host candidate was refused")?;
        Ok(Peer { rtc, socket, local })
    }

    /// Takes the answer to its offer.
    pub(super) fn accept(
        &mut self,
        pending: SdpPendingOffer,
        answer: SdpAnswer,
    ) -> anyhow::Result<()> {
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .context("accepting the SDP answer")
    }

    /// The run loop (str0m's shape: one mutation, then drain to the next timeout) until `stop`
    /// or the peer fails; the failure.
    pub(super) async fn drive<R: Role>(
        mut self,
        mut role: R,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), String> {
        let result = self.run(&mut role, &mut stop).await;
        if let Err(why) = &result {
            role.failed(why);
        }
        result
    }

    async fn run<R: Role>(
        &mut self,
        role: &mut R,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = self.drain(role).await?;
            let frame_due = role.next_frame();
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                _ = sleep_until_some(frame_due) => role.write_frame(&mut self.rtc),
                received = self.socket.recv_from(&mut buf) => {
                    let mut received = received;
                    // What else has arrived is read before the peer is drained: one drain (and
                    // one wake-up) per burst, not per datagram, keeps 1,000 peers cheap.
                    for _ in 0..RECEIVE_BURST {
                        let (n, source) = match received {
                            Ok(r) => r,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            // ICMP errors on a UDP socket are transient.
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                            Err(e) => return Err(format!("receiving: {e}")),
                        };
                        self.receive(role, &buf[..n], source)?;
                        received = self.socket.try_recv_from(&mut buf);
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.rtc
                        .handle_input(Input::Timeout(Instant::now()))
                        .map_err(|e| format!("timeout: {e}"))?;
                }
            }
        }
    }

    /// Hands one datagram to the peer.
    fn receive<R: Role>(
        &mut self,
        role: &mut R,
        datagram: &[u8],
        source: SocketAddr,
    ) -> Result<(), String> {
        role.received(datagram);
        // Not STUN, DTLS, RTP or RTCP: not for the peer.
        let Ok(contents) = datagram.try_into() else {
            return Ok(());
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
        self.rtc
            .handle_input(input)
            .map_err(|e| format!("input: {e}"))
    }

    /// Drains the peer's output: sends its datagrams, hands its events to `role`; the next
    /// timeout.
    async fn drain<R: Role>(&mut self, role: &mut R) -> Result<Instant, String> {
        loop {
            if !self.rtc.is_alive() {
                return Err("the peer connection closed".into());
            }
            match self.rtc.poll_output().map_err(|e| format!("output: {e}"))? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    role.sent(&t.contents);
                    // A datagram the kernel will not take is a lost packet, as on a network.
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => {
                    return Err("ICE disconnected".into());
                }
                Output::Event(event) => role.event(&mut self.rtc, event),
            }
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Writes a frame every period on its video m-line once connected, a keyframe first and
/// whenever one is asked for.
pub(super) struct Publisher {
    source: Arc<Source>,
    mid: Option<Mid>,
    pt: Option<Pt>,
    connected: bool,
    keyframe_due: bool,
    shape: Shape,
    next: Instant,
    started: Instant,
}

impl Publisher {
    /// `mid`: the sendonly m-line of its offer; `None` for a peer that answered an offer
    /// (it takes the first video m-line it may send on).
    pub(super) fn new(source: Arc<Source>, mid: Option<Mid>, shape: Shape) -> Publisher {
        let now = Instant::now();
        Publisher {
            source,
            mid,
            pt: None,
            connected: false,
            keyframe_due: true,
            shape,
            next: now + shape.period,
            started: now,
        }
    }
}

impl Role for Publisher {
    fn event(&mut self, _rtc: &mut Rtc, event: Event) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.source.connected.store(true, Ordering::Relaxed);
            }
            Event::MediaAdded(added)
                if self.mid.is_none()
                    && added.kind == MediaKind::Video
                    && matches!(added.direction, Direction::SendOnly | Direction::SendRecv) =>
            {
                self.mid = Some(added.mid);
            }
            Event::MediaEgressStats(stats) => {
                self.source
                    .nacks_received
                    .fetch_max(stats.nacks, Ordering::Relaxed);
            }
            Event::KeyframeRequest(_) => {
                self.keyframe_due = true;
                self.source
                    .keyframe_requests
                    .fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn sent(&mut self, datagram: &[u8]) {
        if is_rtp(datagram) {
            self.source.media_packets.fetch_add(1, Ordering::Relaxed);
            self.source
                .media_bytes
                .fetch_add(datagram.len() as u64, Ordering::Relaxed);
        }
    }

    fn next_frame(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn write_frame(&mut self, rtc: &mut Rtc) {
        let now = Instant::now();
        // A late tick is skipped, not made up for in a burst.
        self.next += self.shape.period;
        if self.next < now {
            self.next = now + self.shape.period;
        }
        if !self.connected || !self.source.sending.load(Ordering::Relaxed) {
            return;
        }
        let Some(mid) = self.mid else { return };
        let Some(writer) = rtc.writer(mid) else {
            return;
        };
        let pt = match self.pt {
            Some(pt) => pt,
            None => {
                let Some(pt) = writer
                    .payload_params()
                    .find(|p| p.spec().codec == Codec::Vp8)
                    .map(|p| p.pt())
                else {
                    return;
                };
                self.pt = Some(pt);
                pt
            }
        };
        let seq = self.source.next_seq.fetch_add(1, Ordering::Relaxed);
        let keyframe = std::mem::take(&mut self.keyframe_due);
        let frame = vp8_frame(seq, keyframe, self.shape.frame_bytes, wall_us());
        let ticks = (now - self.started).as_micros() as u64 * 9 / 100;
        let written = writer.write(pt, now, MediaTime::new(ticks, Frequency::NINETY_KHZ), frame);
        if written.is_ok() {
            self.source.frames.fetch_add(1, Ordering::Relaxed);
            if keyframe {
                self.source.keyframes.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            // The frame number is spent: receivers count the frame as lost, as they should.
            self.keyframe_due |= keyframe;
        }
    }

    fn failed(&mut self, why: &str) {
        *lock(&self.source.failure) = Some(why.to_owned());
    }
}

/// Counts and times the frames it receives; asks for a keyframe (at most once a second) after
/// a gap, as a browser would.
pub(super) struct Subscriber {
    meter: Arc<Meter>,
    requested_at: Instant,
    got_first: bool,
    last_seq: Option<u64>,
    last_pli: Option<Instant>,
    nacks_seen: u64,
}

impl Subscriber {
    /// A subscriber reporting into `meter`, which asked for the stream at `requested_at`.
    pub(super) fn new(meter: Arc<Meter>, requested_at: Instant) -> Subscriber {
        Subscriber {
            meter,
            requested_at,
            got_first: false,
            last_seq: None,
            last_pli: None,
            nacks_seen: 0,
        }
    }
}

impl Role for Subscriber {
    fn event(&mut self, rtc: &mut Rtc, event: Event) {
        match event {
            Event::Connected => lock(&self.meter.connected_ms)
                .push(self.requested_at.elapsed().as_secs_f64() * 1000.0),
            Event::MediaData(data) => {
                if !data.contiguous
                    && self
                        .last_pli
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    && let Some(mut writer) = rtc.writer(data.mid)
                    && writer
                        .request_keyframe(data.rid, KeyframeRequestKind::Pli)
                        .is_ok()
                {
                    self.last_pli = Some(Instant::now());
                    self.meter.plis.fetch_add(1, Ordering::Relaxed);
                }
                let Some((seq, sent_us)) = read_frame_stamp(&data.data) else {
                    self.meter.unreadable.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                // A frame older than one already counted (it cannot be counted twice).
                if self.last_seq.is_some_and(|last| seq <= last) {
                    return;
                }
                self.last_seq = Some(seq);
                if !self.got_first {
                    self.got_first = true;
                    self.meter.ready.fetch_add(1, Ordering::Relaxed);
                    lock(&self.meter.first_frames_ms)
                        .push(self.requested_at.elapsed().as_secs_f64() * 1000.0);
                }
                self.meter.frame(seq, sent_us);
            }
            Event::MediaIngressStats(stats) => {
                let new = stats.nacks.saturating_sub(self.nacks_seen);
                self.nacks_seen = self.nacks_seen.max(stats.nacks);
                if self.meter.measuring() {
                    self.meter.nacks.fetch_add(new, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }

    fn received(&mut self, _datagram: &[u8]) {
        if self.meter.measuring() {
            self.meter.datagrams.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn failed(&mut self, why: &str) {
        self.meter.fail(why.to_owned());
    }
}

/// The publisher's peer (a sendonly offer, as over WHIP) straight to a subscriber's peer that
/// answers it: no SFU between.
struct DirectCall {
    source: Arc<Source>,
    meter: Arc<Meter>,
    stop: watch::Sender<bool>,
    sending: tokio::task::JoinHandle<Result<(), String>>,
    receiving: tokio::task::JoinHandle<Result<(), String>>,
}

impl DirectCall {
    async fn start(shape: Shape) -> anyhow::Result<DirectCall> {
        let source = Arc::new(Source::default());
        let meter = Arc::new(Meter::default());
        let (stop, stopped) = watch::channel(false);
        let mut sender = Peer::bind().await?;
        let mut sdp = sender.rtc.sdp_api();
        let mid = sdp.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = sdp.apply().context("the direct offer has no changes")?;
        let mut receiver = Peer::bind().await?;
        let answer = receiver
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .context("the direct peer refused the offer")?;
        sender.accept(pending, answer)?;
        let publisher = Publisher::new(source.clone(), Some(mid), shape);
        let subscriber = Subscriber::new(meter.clone(), Instant::now());
        source.sending.store(true, Ordering::Relaxed);
        Ok(DirectCall {
            sending: tokio::spawn(sender.drive(publisher, stopped.clone())),
            receiving: tokio::spawn(receiver.drive(subscriber, stopped)),
            source,
            meter,
            stop,
        })
    }

    /// Stops both peers; how each ended.
    async fn stop(self) -> [Result<(), String>; 2] {
        let _ = self.stop.send(true);
        let mut ended = [Ok(()), Ok(())];
        for (task, end) in [self.sending, self.receiving].into_iter().zip(&mut ended) {
            *end = match tokio::time::timeout(Duration::from_secs(2), task).await {
                Ok(Ok(result)) => result,
                Ok(Err(e)) => Err(format!("the peer's task: {e}")),
                Err(_) => Err("the peer did not stop within 2 s".into()),
            };
        }
        ended
    }
}

/// Latency p50 and p99 (ms) of a [`DirectCall`] over 5 s.
pub(super) async fn direct_latency(shape: Shape) -> anyhow::Result<(f64, f64)> {
    let call = DirectCall::start(shape).await?;
    let (source, meter) = (call.source.clone(), call.meter.clone());
    let ready = wait_for(READY_WITHIN, || meter.ready.load(Ordering::Relaxed) == 1).await;
    if ready.is_ok() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        meter.open(source.next_seq.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_secs(5)).await;
        meter.close(source.next_seq.load(Ordering::Relaxed).saturating_sub(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A peer that failed after the window does not change the latencies measured in it.
    let _ = call.stop().await;
    ready.context("the direct str0m call carried no frame")?;
    let mut latencies: Vec<f64> = lock(&meter.latencies_us)
        .iter()
        .map(|us| *us as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let quantile_ms = |q: f64| quantile(&latencies, q).unwrap_or(0.0);
    Ok((quantile_ms(0.5), quantile_ms(0.99)))
}

/// A WHEP offer: one recvonly video m-line.
pub(super) fn subscriber_offer(rtc: &mut Rtc) -> anyhow::Result<(SdpOffer, SdpPendingOffer)> {
    let mut sdp = rtc.sdp_api();
    sdp.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    sdp.apply().context("the subscriber's offer has no changes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfu::TEST_SHAPE;

    /// Publisher (sendonly offer, as over WHIP) -> a str0m peer that answers and receives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_publisher_reaches_a_peer_that_answers_it() {
        let call = DirectCall::start(TEST_SHAPE).await.unwrap();
        assert_frames_flow(&call.source, &call.meter).await;
        let [sending, receiving] = call.stop().await;
        sending.unwrap();
        receiving.unwrap();
    }

    /// A subscriber (recvonly offer, as over WHEP) <- a str0m peer that answers and sends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscriber_receives_from_a_peer_that_answers_it() {
        let source = Arc::new(Source::default());
        let meter = Arc::new(Meter::default());
        let (stop_tx, stop) = watch::channel(false);
        let mut subscriber = Peer::bind().await.unwrap();
        let (offer, pending) = subscriber_offer(&mut subscriber.rtc).unwrap();
        let mut sender = Peer::bind().await.unwrap();
        let answer = sender.rtc.sdp_api().accept_offer(offer).unwrap();
        subscriber.accept(pending, answer).unwrap();
        let sending = tokio::spawn(sender.drive(
            Publisher::new(source.clone(), None, TEST_SHAPE),
            stop.clone(),
        ));
        let receiving = tokio::spawn(
            subscriber.drive(Subscriber::new(meter.clone(), Instant::now()), stop.clone()),
        );
        source.sending.store(true, Ordering::Relaxed);
        assert_frames_flow(&source, &meter).await;
        stop_tx.send(true).unwrap();
        sending.await.unwrap().unwrap();
        receiving.await.unwrap().unwrap();
    }

    /// Connects, then measures a second: every frame written arrives, the first a keyframe.
    async fn assert_frames_flow(source: &Source, meter: &Meter) {
        wait_for(Duration::from_secs(10), || {
            meter.ready.load(Ordering::Relaxed) == 1
        })
        .await
        .expect("a first frame within 10 s");
        assert!(source.keyframes.load(Ordering::Relaxed) >= 1);
        meter.open(source.next_seq.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let last = source.next_seq.load(Ordering::Relaxed) - 1;
        meter.close(last);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let expected = last + 1 - meter.first.load(Ordering::Relaxed);
        assert!(expected >= 20, "about 30 frames a second, got {expected}");
        assert_eq!(meter.frames.load(Ordering::Relaxed), expected);
        assert_eq!(meter.unreadable.load(Ordering::Relaxed), 0);
        assert_eq!(meter.failed.load(Ordering::Relaxed), 0);
        // 6,250 bytes a frame do not fit one datagram.
        let packets = source.media_packets.load(Ordering::Relaxed);
        let frames = source.frames.load(Ordering::Relaxed);
        assert!(
            packets >= frames * 5,
            "{packets} packets for {frames} frames"
        );
    }
}
