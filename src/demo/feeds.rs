//! Synthetic feeds: the server publishing looped clips into its own SFU, as a camera would
//! over WHIP, so that a demo session shows moving pictures without anyone's camera.
//!
//! Each feed is a str0m client (sans-IO, the shape of str0m's examples and of the bench's
//! publisher in `bench/src/sfu/peers.rs`) on a loopback UDP socket of its own. Its sendonly
//! offer goes to [`Sfu::publish`] in-process, exactly as the WHIP handler passes a browser's,
//! so the SFU, the log and the recorder cannot tell it from any other publisher.
//!
//! Frames go out on the clip's schedule. RTP times continue across loops (each loop adds the
//! clip's length) so a viewer sees one continuous stream; str0m keeps the sequence numbers
//! running. A late wake-up is not made up for in a burst: the schedule slips by the delay
//! (skipping a VP8 inter frame would break the picture until the next keyframe). A file
//! cannot make a keyframe on request: the clips carry one every second, so a new viewer waits
//! at most that long, and requests are only counted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use str0m::change::SdpAnswer;
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use uuid::Uuid;

use super::clips::{Clip, ClipCodec, ClipTrack};
use crate::sfu::{PeerInfo, Sfu, SfuError};

/// The first wait before publishing again after the SFU dropped a feed; it doubles up to
/// [`MAX_BACKOFF`], and starts over after a connection that lasted [`STABLE`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const STABLE: Duration = Duration::from_secs(10);
/// How long to wait for the connection before giving up on an attempt.
const CONNECT_WITHIN: Duration = Duration::from_secs(15);
/// A frame later than this slips the schedule instead of being sent at once with the next.
const SLIP_AFTER: Duration = Duration::from_millis(40);

static CRYPTO: LazyLock<Arc<CryptoProvider>> =
    LazyLock::new(|| Arc::new(str0m::crypto::from_feature_flags()));

static ENDOSCOPE: &[u8] = include_bytes!("../../ops/demo/clips/endoscope.webm");
static ROOM_CAMERA: &[u8] = include_bytes!("../../ops/demo/clips/room-camera.webm");
static VITALS: &[u8] = include_bytes!("../../ops/demo/clips/vitals.webm");

/// The three built-in synthetic clips, embedded in the binary, parsed: `endoscope`,
/// `room-camera` (with audio) and `vitals`, by their source labels.
pub fn builtin() -> anyhow::Result<Vec<(String, Arc<Clip>)>> {
    [
        ("endoscope", ENDOSCOPE),
        ("room-camera", ROOM_CAMERA),
        ("vitals", VITALS),
    ]
    .into_iter()
    .map(|(label, bytes)| {
        let clip = Clip::from_webm(bytes).with_context(|| format!("the {label} demo clip"))?;
        Ok((label.to_owned(), Arc::new(clip)))
    })
    .collect()
}

/// One source published by the server into its own SFU, looping its clip; publishes again
/// (with backoff, under a fresh resource id) when the SFU drops it, until stopped.
pub struct SyntheticPublisher {
    stop: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

/// Tells a [`SyntheticPublisher`] to stop, from code that cannot wait for it (a log listener
/// that saw its session end): it stops and does not publish again.
#[derive(Clone)]
pub struct StopSignal(Arc<watch::Sender<bool>>);

impl StopSignal {
    /// Asks the publisher to stop; it deletes its resource and its task ends.
    pub fn send(&self) {
        let _ = self.0.send(true);
    }
}

impl SyntheticPublisher {
    /// Starts publishing `clip` as source `label`. `info.resource_id` must be fresh; the
    /// participant in `info` must be allowed to publish in the session (the caller's duty:
    /// the SFU does not check). Must be called within a Tokio runtime.
    pub fn start(
        sfu: Arc<Sfu>,
        info: PeerInfo,
        label: String,
        clip: Arc<Clip>,
    ) -> SyntheticPublisher {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(sfu, info, label, clip, stopped));
        SyntheticPublisher {
            stop: Arc::new(stop),
            task,
        }
    }

    /// A handle that stops this publisher without waiting for it.
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal(self.stop.clone())
    }

    /// Stops publishing (the SFU sees the resource deleted) and waits for the task to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// How one connection ended.
enum Ended {
    /// Asked to stop.
    Stopped,
    /// The SFU is shutting down: nothing to publish to.
    SfuStopped,
    /// Refused, dropped or broken: try again later.
    Failed(String),
}

/// The feed's life: publish, and publish again after a failure, until stopped.
async fn run(
    sfu: Arc<Sfu>,
    mut info: PeerInfo,
    label: String,
    clip: Arc<Clip>,
    mut stop: watch::Receiver<bool>,
) {
    let session = info.session_id;
    tracing::info!(%session, source = %label, "synthetic feed starting");
    let mut backoff = MIN_BACKOFF;
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            info.resource_id = Uuid::now_v7();
        }
        let started = Instant::now();
        let ended = publish_once(&sfu, &info, &label, &clip, &mut stop).await;
        // Whatever happened, the SFU must not keep a resource this feed no longer drives.
        sfu.delete(session, info.resource_id).await;
        match ended {
            Ended::Stopped => break,
            Ended::SfuStopped => {
                tracing::info!(%session, source = %label, "synthetic feed: the SFU stopped");
                break;
            }
            Ended::Failed(why) => {
                if started.elapsed() >= STABLE {
                    backoff = MIN_BACKOFF;
                }
                tracing::warn!(%session, source = %label, %why, retry_in_ms = backoff.as_millis() as u64,
                    "synthetic feed dropped; publishing again");
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    tracing::info!(%session, source = %label, "synthetic feed stopped");
}

/// One connection: offer, answer, then frames until stopped or dropped.
async fn publish_once(
    sfu: &Sfu,
    info: &PeerInfo,
    label: &str,
    clip: &Arc<Clip>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    if *stop.borrow() {
        return Ended::Stopped;
    }
    let mut feed = match Feed::connect(sfu, info, label, clip.clone()).await {
        Ok(feed) => feed,
        Err(Ended::Failed(why)) => return Ended::Failed(format!("publishing: {why}")),
        Err(other) => return other,
    };
    feed.drive(stop).await
}

/// A track's m-line and payload type, once known.
struct Sender {
    mid: Mid,
    codec: Codec,
    pt: Option<Pt>,
    clock: Frequency,
}

/// A str0m client publishing one clip.
struct Feed {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    clip: Arc<Clip>,
    video: Sender,
    audio: Option<Sender>,
    /// Set once connected: where each track is in the clip.
    schedule: Option<Schedule>,
    keyframe_requests: u64,
}

impl Feed {
    /// Offers the clip's tracks to the SFU and takes its answer.
    async fn connect(
        sfu: &Sfu,
        info: &PeerInfo,
        label: &str,
        clip: Arc<Clip>,
    ) -> Result<Feed, Ended> {
        let failed = |e: &dyn std::fmt::Display| Ended::Failed(e.to_string());
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| failed(&e))?;
        let local = socket.local_addr().map_err(|e| failed(&e))?;
        let mut rtc = Rtc::builder()
            .set_crypto_provider(CRYPTO.clone())
            .clear_codecs()
            .enable_vp8(true)
            .enable_opus(clip.audio.is_some(), false)
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp").map_err(|e| failed(&e))?;
        rtc.add_local_candidate(candidate)
            .ok_or_else(|| failed(&"the host candidate was refused"))?;
        let mut sdp = rtc.sdp_api();
        let video = sdp.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let audio = clip
            .audio
            .as_ref()
            .map(|_| sdp.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let (offer, pending) = sdp
            .apply()
            .ok_or_else(|| failed(&"the offer has no changes"))?;
        let answer = match sfu.publish(info.clone(), label.to_owned(), &offer.to_sdp_string()) {
            Ok(answer) => answer,
            Err(SfuError::Stopped) => return Err(Ended::SfuStopped),
            Err(e) => return Err(failed(&e)),
        };
        let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| failed(&e))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| failed(&e))?;
        // An SFU listening on every interface advertises a routable address, but answers a
        // loopback client from loopback: offer that path too.
        let advertised = sfu
            .media_address(info.resource_id)
            .unwrap_or_else(|| sfu.advertised());
        if !advertised.ip().is_loopback() {
            let lo = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), advertised.port());
            if let Ok(candidate) = Candidate::host(lo, "udp") {
                rtc.add_remote_candidate(candidate);
            }
        }
        Ok(Feed {
            rtc,
            socket,
            local,
            video: Sender::new(video, &clip.video),
            audio: audio
                .zip(clip.audio.as_ref())
                .map(|(m, t)| Sender::new(m, t)),
            clip,
            schedule: None,
            keyframe_requests: 0,
        })
    }

    /// str0m's loop: one input, then drain the output to the next timeout; frames in between
    /// when they are due. Until stopped or the connection fails.
    async fn drive(&mut self, stop: &mut watch::Receiver<bool>) -> Ended {
        let mut buf = vec![0u8; 2048];
        let opened = Instant::now();
        loop {
            let deadline = match self.drain().await {
                Ok(deadline) => deadline,
                Err(why) => return Ended::Failed(why),
            };
            if self.schedule.is_none() && opened.elapsed() > CONNECT_WITHIN {
                return Ended::Failed("not connected in time".into());
            }
            let due = self.schedule.as_ref().map(Schedule::next_due);
            let input = tokio::select! {
                biased;
                _ = stop.changed() => {
                    self.rtc.disconnect();
                    return Ended::Stopped;
                }
                _ = sleep_until_some(due) => {
                    self.write_due();
                    continue;
                }
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => {
                        // Not STUN, DTLS, RTP or RTCP: not for this peer.
                        let Ok(contents) = buf[..n].try_into() else { continue };
                        Input::Receive(Instant::now(), Receive {
                            proto: Protocol::Udp, source, destination: self.local, contents,
                        })
                    }
                    // ICMP errors on a UDP socket are transient.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Ended::Failed(format!("receiving: {e}")),
                },
                _ = tokio::time::sleep_until(deadline.into()) => Input::Timeout(Instant::now()),
            };
            if let Err(e) = self.rtc.handle_input(input) {
                return Ended::Failed(format!("input: {e}"));
            }
        }
    }

    /// Sends what str0m has to send and handles its events; the next timeout.
    async fn drain(&mut self) -> Result<Instant, String> {
        loop {
            if !self.rtc.is_alive() {
                return Err("the peer connection closed".into());
            }
            match self.rtc.poll_output().map_err(|e| format!("output: {e}"))? {
                Output::Timeout(at) => return Ok(at),
                Output::Transmit(t) => {
                    // A datagram the kernel will not take is a lost packet, as on a network.
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => return Err("ICE disconnected".into()),
                Output::Event(Event::Connected) => {
                    self.schedule = Some(Schedule::new(self.clip.clone(), Instant::now()));
                }
                Output::Event(Event::KeyframeRequest(_)) => {
                    // The clip has a keyframe every second; a file cannot make one sooner.
                    self.keyframe_requests += 1;
                    tracing::debug!(
                        requests = self.keyframe_requests,
                        "synthetic feed: keyframe asked for"
                    );
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Writes every frame that is due, each track in turn.
    fn write_due(&mut self) {
        let Some(schedule) = self.schedule.as_mut() else {
            return;
        };
        let now = Instant::now();
        schedule.slip_if_late(now);
        while let Some((kind, at, data)) = schedule.take_due(now) {
            let sender = match kind {
                MediaKind::Video => &mut self.video,
                MediaKind::Audio => match self.audio.as_mut() {
                    Some(sender) => sender,
                    None => continue,
                },
            };
            // A frame str0m will not take (not ready yet) is lost, as on a network.
            let _ = sender.write(&mut self.rtc, now, at, data);
        }
    }
}

impl Sender {
    fn new(mid: Mid, track: &ClipTrack) -> Sender {
        let (codec, clock) = match track.codec {
            ClipCodec::Vp8 => (Codec::Vp8, Frequency::NINETY_KHZ),
            ClipCodec::Opus => (Codec::Opus, Frequency::FORTY_EIGHT_KHZ),
        };
        Sender {
            mid,
            codec,
            pt: None,
            clock,
        }
    }

    /// Writes one frame with its media time (from the first loop's start) as RTP time.
    fn write(
        &mut self,
        rtc: &mut Rtc,
        now: Instant,
        at: Duration,
        data: Arc<[u8]>,
    ) -> Result<(), String> {
        let writer = rtc.writer(self.mid).ok_or("no writer yet")?;
        let pt = match self.pt {
            Some(pt) => pt,
            None => {
                let pt = writer
                    .payload_params()
                    .find(|p| p.spec().codec == self.codec)
                    .map(|p| p.pt())
                    .ok_or("the SFU did not accept the codec")?;
                *self.pt.insert(pt)
            }
        };
        let ticks = at.as_nanos() * u128::from(self.clock.get()) / 1_000_000_000;
        let ticks = u64::try_from(ticks).map_err(|_| "the feed ran for too long")?;
        writer
            .write(pt, now, MediaTime::new(ticks, self.clock), data)
            .map_err(|e| e.to_string())
    }
}

/// Where each track is in the looped clip, against the wall clock.
struct Schedule {
    clip: Arc<Clip>,
    /// When media time zero was (moves forward when the schedule slips).
    base: Instant,
    video: Position,
    audio: Option<Position>,
}

/// The next frame of a track: its index and how many loops came before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Position {
    index: usize,
    loops: u32,
}

impl Schedule {
    fn new(clip: Arc<Clip>, base: Instant) -> Schedule {
        let audio = clip.audio.as_ref().map(|_| Position::default());
        Schedule {
            clip,
            base,
            video: Position::default(),
            audio,
        }
    }

    /// The media time of a track's next frame: its offset plus the loops before it.
    fn media_time(&self, track: &ClipTrack, position: Position) -> Duration {
        self.clip.length * position.loops + track.frames[position.index].at
    }

    fn tracks(&self) -> impl Iterator<Item = (MediaKind, &ClipTrack, Position)> {
        let video = (MediaKind::Video, &self.clip.video, self.video);
        let audio = self
            .clip
            .audio
            .as_ref()
            .zip(self.audio)
            .map(|(t, p)| (MediaKind::Audio, t, p));
        std::iter::once(video).chain(audio)
    }

    /// When the earliest next frame of any track is due.
    fn next_due(&self) -> Instant {
        let earliest = self
            .tracks()
            .map(|(_, track, position)| self.media_time(track, position))
            .min()
            .unwrap_or_default();
        self.base + earliest
    }

    /// A wake-up later than [`SLIP_AFTER`] moves the whole schedule (both tracks, so they
    /// stay in step) by the delay: the frames go out one by one from now, not in a burst.
    fn slip_if_late(&mut self, now: Instant) {
        let late = now.saturating_duration_since(self.next_due());
        if late > SLIP_AFTER {
            self.base += late;
        }
    }

    /// The earliest frame due by `now` (its kind, media time and data), and moves past it.
    fn take_due(&mut self, now: Instant) -> Option<(MediaKind, Duration, Arc<[u8]>)> {
        let (kind, track, position) = self
            .tracks()
            .min_by_key(|(_, track, position)| self.media_time(track, *position))?;
        let at = self.media_time(track, position);
        if self.base + at > now {
            return None;
        }
        let data = track.frames[position.index].data.clone();
        let len = track.frames.len();
        let next = if position.index + 1 < len {
            Position {
                index: position.index + 1,
                ..position
            }
        } else {
            Position {
                index: 0,
                loops: position.loops + 1,
            }
        };
        match kind {
            MediaKind::Video => self.video = next,
            MediaKind::Audio => self.audio = Some(next),
        }
        Some((kind, at, data))
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_clips_are_the_three_demo_sources() {
        let clips = builtin().unwrap();
        let labels: Vec<&str> = clips.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["endoscope", "room-camera", "vitals"]);
        let with_audio: Vec<&str> = clips
            .iter()
            .filter(|(_, c)| c.audio.is_some())
            .map(|(l, _)| l.as_str())
            .collect();
        assert_eq!(with_audio, ["room-camera"]);
    }

    /// Every frame of two loops, in order of media time, and their media times.
    fn two_loops(clip: Arc<Clip>) -> Vec<(MediaKind, Duration)> {
        let base = Instant::now();
        let mut schedule = Schedule::new(clip.clone(), base);
        let end = base + clip.length * 2;
        std::iter::from_fn(|| schedule.take_due(end - Duration::from_nanos(1)))
            .map(|(kind, at, _)| (kind, at))
            .collect()
    }

    #[test]
    fn media_time_runs_on_across_a_loop_for_both_tracks() {
        let (_, clip) = builtin().unwrap().swap_remove(1);
        let frames = two_loops(clip.clone());
        let video: Vec<Duration> = frames
            .iter()
            .filter(|(k, _)| *k == MediaKind::Video)
            .map(|(_, at)| *at)
            .collect();
        let audio: Vec<Duration> = frames
            .iter()
            .filter(|(k, _)| *k == MediaKind::Audio)
            .map(|(_, at)| *at)
            .collect();
        assert_eq!(video.len(), clip.video.frames.len() * 2);
        assert_eq!(audio.len(), clip.audio.as_ref().unwrap().frames.len() * 2);
        for times in [&video, &audio] {
            assert!(times.windows(2).all(|w| w[0] < w[1]), "time goes back");
            // No gap at the seam larger than a frame or two.
            let largest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
            assert!(largest <= Duration::from_millis(80), "{largest:?}");
        }
        let n = clip.video.frames.len();
        assert_eq!(
            video[n], clip.length,
            "the second loop starts one length on"
        );
        // Interleaved by time: never a whole track before the other.
        assert!(frames.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn nothing_is_due_before_its_time_and_a_late_wake_up_slips_instead_of_bursting() {
        let (_, clip) = builtin().unwrap().swap_remove(0);
        let base = Instant::now();
        let mut schedule = Schedule::new(clip.clone(), base);
        assert!(schedule.take_due(base).is_some(), "the first frame at once");
        assert!(schedule.take_due(base).is_none());
        let second = clip.video.frames[1].at;
        // Woken a whole second late: one frame now, the next a frame interval later.
        let now = base + second + Duration::from_secs(1);
        schedule.slip_if_late(now);
        assert!(schedule.take_due(now).is_some());
        assert!(
            schedule.take_due(now).is_none(),
            "no burst of the missed second"
        );
        let interval = clip.video.frames[2].at - second;
        assert_eq!(schedule.next_due(), now + interval);
    }
}
