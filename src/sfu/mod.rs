//! The SFU: WebRTC media forwarded by str0m loops (`engine`), one thread and UDP socket each
//! (one per core by default, `LIVESURGERY_SFU_MEDIA_THREADS`), with every media fact appended
//! to the session's stream. [`Sfu`] is the small handle the transports call (WHIP/WHEP in
//! `api/media.rs`, `media.subscribe` in `realtime/`); the engine knows nothing of HTTP or auth.
//!
//! - `engine`: each media loop owns its socket and its peers' `Rtc`s (sans-IO): it feeds
//!   datagrams and timeouts in, drains output, and forwards publishers' frames to subscribers'
//!   slots, its own and (through pipes) the other loops'. A new peer goes to the loop holding
//!   the fewest; its answer's host candidate is that loop's address.
//! - `forward`: the forwarding decision as plain data (slots, keyframe gating, time rebasing).
//! - `turn`: ICE servers and time-limited TURN credentials for `participants:join`.
//!
//! Media facts leave the loop through a bounded queue to an appender task: a full queue loses
//! the fact (counted in `livesurgery_sfu_event_drops_total`), it never stalls media. Frames of
//! a session being recorded go the same way to the recorder (`Sfu::record`): a bounded queue
//! per source, a full one drops (`livesurgery_recording_dropped_frames_total`).

mod cutoff;
mod engine;
mod facts;
pub mod forward;
mod registry;
mod sockets;
pub mod turn;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use livesurgery_domain::events::{LeaveReason, MediaEndReason};
use livesurgery_domain::roles::OrgRole;
use livesurgery_domain::{CommandContext, Event};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::app::identity::participant_context;
use crate::app::media::{MAX_SLOTS, MediaGone, check_slots};
use crate::app::{App, AppError, ErrorKind, lock};
use crate::recording::SessionTap;
use crate::settings::ApiSettings;
use crate::telemetry::Metrics;
use facts::{FactSink, append_facts};
use registry::Registry;
pub use registry::{PeerLimits, SourceView, SubscriptionView, TrackView};
use sockets::{advertised_ip, bind_all, media_threads};

/// Media facts waiting for the appender; past this they are dropped and counted.
const FACT_QUEUE: usize = 4096;
/// How long a WHIP/WHEP `DELETE` waits for its media loop to have ended the peer.
const DELETE_WAIT: Duration = Duration::from_secs(2);

/// Who a peer connection belongs to.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The WHIP or WHEP resource (the id in its `Location`).
    pub resource_id: Uuid,
    pub session_id: Uuid,
    pub participant_id: Uuid,
    pub user_id: Uuid,
    /// The user's organisation role, for the events' actor (the log's one actor rule).
    pub org_role: OrgRole,
}

impl PeerInfo {
    /// The context the peer's media events are recorded with: its user, their organisation
    /// role and the participant.
    fn context(&self) -> CommandContext {
        participant_context(self.user_id, self.org_role, self.participant_id)
    }
}

/// Which peers a removal concerns.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Resource(Uuid),
    Session(Uuid),
    Member {
        session_id: Uuid,
        user_id: Uuid,
    },
    Participant(Uuid),
    User(Uuid),
    /// The publishing peers of a member (whose new role may not publish).
    Publishing {
        session_id: Uuid,
        user_id: Uuid,
    },
}

impl Scope {
    fn covers(&self, info: &PeerInfo, publishing: bool) -> bool {
        match *self {
            Scope::Publishing {
                session_id,
                user_id,
            } => publishing && info.session_id == session_id && info.user_id == user_id,
            Scope::Resource(id) => info.resource_id == id,
            Scope::Session(id) => info.session_id == id,
            Scope::Member {
                session_id,
                user_id,
            } => info.session_id == session_id && info.user_id == user_id,
            Scope::Participant(id) => info.participant_id == id,
            Scope::User(id) => info.user_id == id,
        }
    }
}

/// What the signalling side asks of the media loop.
enum Command {
    Add(Box<engine::NewPeer>),
    Remove(Scope, MediaEndReason),
    Select {
        resource_id: Uuid,
        slots: Vec<Option<String>>,
    },
    /// Turns the recording tee of a session on (`Some`) or off.
    Record {
        session_id: Uuid,
        tap: Option<SessionTap>,
    },
    Shutdown,
    /// Answered once the loop has acted on every command before it and handed what that
    /// produced (media events included) on: lets a caller wait until its command took effect.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// Why a signalling call failed on the SFU's side. Messages say what the client can act on and
/// never quote a parser's internals (its detail is logged at debug level).
#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    #[error("the offer is not valid SDP")]
    BadOffer,
    #[error("the SDP offer was refused: {0}")]
    Refused(String),
    #[error("the offer has {0} video m-lines; at most {max} slots", max = MAX_SLOTS)]
    TooManySlots(usize),
    #[error(
        "this participant already holds {0} media connections (WHIP and WHEP); close one first"
    )]
    TooManyPeers(usize),
    #[error("this session already holds {0} media connections")]
    SessionPeersFull(usize),
    #[error("source {0:?} is already published in this session")]
    SourceTaken(String),
    #[error("the media server is not running")]
    Stopped,
}

impl From<SfuError> for AppError {
    fn from(error: SfuError) -> AppError {
        let message = error.to_string();
        match error {
            SfuError::BadOffer => AppError::invalid("invalid_sdp", message),
            SfuError::TooManySlots(_) => AppError::invalid("too_many_slots", message),
            SfuError::TooManyPeers(_) => AppError::conflict("too_many_peers", message),
            SfuError::SessionPeersFull(_) => AppError::conflict("session_peers_full", message),
            SfuError::Refused(_) => AppError::unprocessable("sdp_refused", message),
            SfuError::SourceTaken(_) => AppError::conflict("source_taken", message),
            SfuError::Stopped => AppError::new(ErrorKind::Unavailable, "sfu_unavailable", message),
        }
    }
}

/// One media loop as the signalling side sees it.
struct MediaLoop {
    commands: mpsc::UnboundedSender<Command>,
    /// Where its peers send media: the host candidate in their answers.
    advertised: SocketAddr,
}

/// The running SFU of a server process.
pub struct Sfu {
    loops: Vec<MediaLoop>,
    /// The loop each live peer connection (by resource) is on.
    placements: Mutex<HashMap<Uuid, usize>>,
    registry: Mutex<Registry>,
    limits: PeerLimits,
    engine: Mutex<Vec<std::thread::JoinHandle<()>>>,
    appender: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Presence through media lives in the application (the WebSocket side reads it).
    app: Arc<App>,
    /// Participants whose last media ended, for the task that records their leave.
    gone: mpsc::UnboundedSender<MediaGone>,
}

impl Sfu {
    /// Binds the media socket and starts the media loop and the event appender. As a
    /// [`LogListener`] it cuts the media of removed members, ended sessions and deactivated
    /// users.
    pub fn start(
        settings: &ApiSettings,
        app: Arc<App>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Arc<Sfu>> {
        let count = media_threads(settings.sfu_media_threads);
        let mut loops = Vec::with_capacity(count);
        let mut ends = Vec::with_capacity(count);
        for socket in bind_all(&settings.sfu_udp_bind, count)? {
            let bound = socket.local_addr()?;
            let advertised = SocketAddr::new(
                advertised_ip(bound.ip(), settings.sfu_public_ip),
                bound.port(),
            );
            tracing::info!(%bound, %advertised, "SFU media loop listening (UDP)");
            let (commands, command_rx) = mpsc::unbounded_channel();
            loops.push(MediaLoop {
                commands,
                advertised,
            });
            ends.push((socket, advertised, command_rx));
        }
        let (fact_tx, fact_rx) = mpsc::channel(FACT_QUEUE);
        let (gone, gone_rx) = mpsc::unbounded_channel();
        let sfu = Arc::new(Sfu {
            loops,
            placements: Mutex::new(HashMap::new()),
            registry: Mutex::new(Registry::default()),
            limits: PeerLimits {
                per_participant: settings.sfu_max_peers_per_participant.max(1),
                per_session: settings.sfu_max_peers_per_session.max(1),
            },
            engine: Mutex::new(Vec::new()),
            appender: Mutex::new(None),
            app: app.clone(),
            gone,
        });
        tokio::spawn(leave_after_media(app.clone(), gone_rx));
        let sink = FactSink {
            tx: fact_tx,
            metrics: metrics.clone(),
        };
        let weak = Arc::downgrade(&sfu);
        let timing = engine::Timing {
            setup_timeout: Duration::from_secs(settings.sfu_setup_timeout.max(1)),
            stall_after: Duration::from_millis(settings.sfu_stall_after_ms.max(1)),
        };
        for (index, ends) in engine::join(ends).into_iter().enumerate() {
            let (sink, metrics, weak) = (sink.clone(), metrics.clone(), weak.clone());
            let thread = std::thread::Builder::new()
                .name(format!("sfu-media-{index}"))
                .spawn(move || engine::run(ends, sink, metrics, weak, timing))
                .context("starting an SFU media thread")?;
            lock(&sfu.engine).push(thread);
        }
        *lock(&sfu.appender) = Some(tokio::spawn(append_facts(app, fact_rx)));
        Ok(sfu)
    }

    /// The address media goes to on the first media loop (each loop has its own port).
    pub fn advertised(&self) -> SocketAddr {
        self.loops[0].advertised
    }

    /// The address a live peer connection's media goes to (its answer's host candidate).
    pub fn media_address(&self, resource_id: Uuid) -> Option<SocketAddr> {
        let index = *lock(&self.placements).get(&resource_id)?;
        self.loops.get(index).map(|l| l.advertised)
    }

    /// Places a new peer connection on the media loop holding the fewest.
    fn place(&self, resource_id: Uuid) -> usize {
        let mut placements = lock(&self.placements);
        let mut load = vec![0usize; self.loops.len()];
        for index in placements.values() {
            load[*index] += 1;
        }
        let index = (0..load.len()).min_by_key(|i| load[*i]).unwrap_or(0);
        placements.insert(resource_id, index);
        index
    }

    /// Hands a new peer to its loop, or forgets its placement when the answer failed.
    fn hand_over(
        &self,
        index: usize,
        resource_id: Uuid,
        answered: Result<engine::NewPeer, SfuError>,
    ) -> Result<(), SfuError> {
        let sent = answered.and_then(|peer| self.send_to(index, Command::Add(Box::new(peer))));
        if sent.is_err() {
            lock(&self.placements).remove(&resource_id);
        }
        sent
    }

    /// The sources published in a session, in publish order.
    pub fn sources(&self, session_id: Uuid) -> Vec<SourceView> {
        lock(&self.registry)
            .sessions
            .get(&session_id)
            .map(|m| m.sources.clone())
            .unwrap_or_default()
    }

    /// The subscriptions of a session.
    pub fn subscriptions(&self, session_id: Uuid) -> Vec<SubscriptionView> {
        lock(&self.registry)
            .sessions
            .get(&session_id)
            .map(|m| m.subscriptions.clone())
            .unwrap_or_default()
    }

    /// The owner (participant, user) of a publishing or subscribing resource of the session.
    pub fn owner(
        &self,
        session_id: Uuid,
        resource_id: Uuid,
        publishing: bool,
    ) -> Option<(Uuid, Uuid)> {
        let registry = lock(&self.registry);
        let media = registry.sessions.get(&session_id)?;
        if publishing {
            media
                .sources
                .iter()
                .find(|s| s.resource_id == resource_id)
                .map(|s| (s.participant_id, s.user_id))
        } else {
            media
                .subscriptions
                .iter()
                .find(|s| s.resource_id == resource_id)
                .map(|s| (s.participant_id, s.user_id))
        }
    }

    /// Publishes one source: answers the offer and hands the connection to the media loop.
    /// The connection lives until it ends (the server's own feeds).
    pub fn publish(&self, info: PeerInfo, source: String, offer: &str) -> Result<String, SfuError> {
        self.publish_until(info, source, offer, None)
    }

    /// Publishes one source whose media is cut when its token expires at `expires` (Unix
    /// seconds).
    pub fn publish_until(
        &self,
        info: PeerInfo,
        source: String,
        offer: &str,
        expires: Option<i64>,
    ) -> Result<String, SfuError> {
        {
            let mut registry = lock(&self.registry);
            if registry
                .sessions
                .get(&info.session_id)
                .is_some_and(|m| m.sources.iter().any(|s| s.source == source))
            {
                return Err(SfuError::SourceTaken(source));
            }
            registry.check_room(info.session_id, info.participant_id, self.limits)?;
            let media = registry.session(info.session_id);
            media.sources.push(SourceView {
                source: source.clone(),
                resource_id: info.resource_id,
                participant_id: info.participant_id,
                user_id: info.user_id,
                tracks: Vec::new(),
                stalled: false,
                stalled_since: None,
            });
        }
        let (session_id, resource_id) = (info.session_id, info.resource_id);
        let index = self.place(resource_id);
        let mut answer = String::new();
        let peer = engine::answer(self.loops[index].advertised, offer).map(|(rtc, sdp)| {
            answer = sdp;
            let peer = engine::NewPeer::publisher(info, rtc, source);
            match expires {
                Some(exp) => peer.until_unix(exp),
                None => peer,
            }
        });
        if let Err(e) = self.hand_over(index, resource_id, peer) {
            lock(&self.registry).remove_resource(session_id, resource_id);
            return Err(e);
        }
        Ok(answer)
    }

    /// Subscribes: answers a recvonly offer, its video slots filled with `asked` (or the
    /// published sources, in order). At most [`MAX_SLOTS`] video m-lines, as on every path
    /// that picks slots. `token` is the SFU token's join time (Unix ms, for the
    /// join-to-first-frame time) and expiry (Unix seconds: the media is cut then).
    pub fn subscribe(
        &self,
        info: PeerInfo,
        asked: &[String],
        token: (Option<i64>, Option<i64>),
        offer: &str,
    ) -> Result<String, SfuError> {
        let (joined_at_ms, expires) = token;
        let video_slots = count_media(offer, "video");
        if video_slots > MAX_SLOTS {
            return Err(SfuError::TooManySlots(video_slots));
        }
        let published: Vec<String> = self
            .sources(info.session_id)
            .into_iter()
            .map(|s| s.source)
            .collect();
        let slots = forward::initial_slots(video_slots, asked, &published);
        {
            // Checked and taken under one lock: concurrent offers cannot pass the caps together.
            let mut registry = lock(&self.registry);
            registry.check_room(info.session_id, info.participant_id, self.limits)?;
            registry
                .session(info.session_id)
                .subscriptions
                .push(SubscriptionView {
                    resource_id: info.resource_id,
                    participant_id: info.participant_id,
                    user_id: info.user_id,
                    slots: slots.clone(),
                });
        }
        let (session_id, resource_id) = (info.session_id, info.resource_id);
        let index = self.place(resource_id);
        let mut answer = String::new();
        let peer = engine::answer(self.loops[index].advertised, offer).map(|(rtc, sdp)| {
            answer = sdp;
            let peer = engine::NewPeer::subscriber(
                info,
                rtc,
                slots,
                count_media(offer, "audio"),
                joined_at_ms,
            );
            match expires {
                Some(exp) => peer.until_unix(exp),
                None => peer,
            }
        });
        if let Err(e) = self.hand_over(index, resource_id, peer) {
            lock(&self.registry).remove_resource(session_id, resource_id);
            return Err(e);
        }
        Ok(answer)
    }

    /// Points the video slots of every subscription of `participant_id` in the session at
    /// these sources (missing trailing slots keep theirs; extra ones are ignored). Returns the
    /// subscriptions as they now are; empty if it has none.
    pub fn select(
        &self,
        session_id: Uuid,
        participant_id: Uuid,
        slots: &[Option<String>],
    ) -> Result<Vec<SubscriptionView>, SfuError> {
        let mut changed = Vec::new();
        {
            let mut registry = lock(&self.registry);
            let Some(media) = registry.sessions.get_mut(&session_id) else {
                return Ok(changed);
            };
            for sub in media
                .subscriptions
                .iter_mut()
                .filter(|s| s.participant_id == participant_id)
            {
                for (slot, wanted) in sub.slots.iter_mut().zip(slots) {
                    slot.clone_from(wanted);
                }
                changed.push(sub.clone());
            }
        }
        for sub in &changed {
            let select = || Command::Select {
                resource_id: sub.resource_id,
                slots: sub.slots.clone(),
            };
            for index in self.loops_of(sub.resource_id) {
                self.send_to(index, select())?;
            }
        }
        Ok(changed)
    }

    /// Subscription selection for REST and the WebSocket: the slot list is checked, then
    /// applied; `not_found` when the participant has no subscription in the session.
    pub fn select_checked(
        &self,
        session_id: Uuid,
        participant_id: Uuid,
        slots: &[Option<String>],
    ) -> Result<Vec<SubscriptionView>, AppError> {
        check_slots(slots.iter().map(Option::as_deref))?;
        let resources = self.select(session_id, participant_id, slots)?;
        if resources.is_empty() {
            return Err(AppError::not_found(
                "this participant has no subscription (WHEP) in the session",
            ));
        }
        Ok(resources)
    }

    /// Stops one resource (WHIP/WHEP `DELETE`) and returns once its media loop has ended the
    /// peer and queued its events for the log (or after [`DELETE_WAIT`] if the loop is too
    /// busy to say): a client's next call, a DELETE of another resource on another loop
    /// included, then comes after it in the log.
    pub async fn delete(&self, session_id: Uuid, resource_id: Uuid) {
        lock(&self.registry).remove_resource(session_id, resource_id);
        let remove = || Command::Remove(Scope::Resource(resource_id), MediaEndReason::Deleted);
        let mut done = Vec::new();
        for index in self.loops_of(resource_id) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if self.send_to(index, remove()).is_ok()
                && self.send_to(index, Command::Barrier(tx)).is_ok()
            {
                done.push(rx);
            }
        }
        let all = futures::future::join_all(done);
        if tokio::time::timeout(DELETE_WAIT, all).await.is_err() {
            tracing::warn!(
                resource = %resource_id,
                "a media loop took longer than {DELETE_WAIT:?} to end a deleted resource"
            );
        }
    }

    /// Starts offering every frame the session's publishers send to `tap` (`Some`), or stops
    /// (`None`, which ends the recorder's source queues once they are drained). A new tap
    /// replaces the session's previous one.
    pub fn record(&self, session_id: Uuid, tap: Option<SessionTap>) -> Result<(), SfuError> {
        self.send(|| Command::Record {
            session_id,
            tap: tap.clone(),
        })
    }

    fn remove(&self, scope: Scope, reason: MediaEndReason) {
        let _ = self.send(|| Command::Remove(scope, reason));
    }

    /// The media loop a peer connection is on, or every loop when it is not (or no longer)
    /// placed.
    fn loops_of(&self, resource_id: Uuid) -> std::ops::Range<usize> {
        match lock(&self.placements).get(&resource_id) {
            Some(&index) => index..index + 1,
            None => 0..self.loops.len(),
        }
    }

    /// Sends a command to every media loop (each acts on its own peers).
    fn send(&self, command: impl Fn() -> Command) -> Result<(), SfuError> {
        for index in 0..self.loops.len() {
            self.send_to(index, command())?;
        }
        Ok(())
    }

    fn send_to(&self, index: usize, command: Command) -> Result<(), SfuError> {
        self.loops
            .get(index)
            .ok_or(SfuError::Stopped)?
            .commands
            .send(command)
            .map_err(|_| SfuError::Stopped)
    }

    /// Ends every peer connection (their events record `shutdown`), waits for the media loop
    /// to stop and for the appender to write what it holds.
    pub async fn stop(&self) {
        let _ = self.send(|| Command::Shutdown);
        let engine = std::mem::take(&mut *lock(&self.engine));
        for thread in engine {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let appender = lock(&self.appender).take();
        if let Some(appender) = appender {
            let _ = tokio::time::timeout(Duration::from_secs(10), appender).await;
        }
    }

    /// Called by the media loop when a peer ends: the participant's last media ending is its
    /// leave, unless a WebSocket of it is connected.
    fn forget(&self, session_id: Uuid, resource_id: Uuid, info: &PeerInfo, reason: MediaEndReason) {
        lock(&self.registry).remove_resource(session_id, resource_id);
        lock(&self.placements).remove(&resource_id);
        // At shutdown the log may be closing: a participant's presence then ends with the
        // server's (its WebSocket's end records it, or the next start finds it present).
        if self
            .app
            .media_presence
            .ended(info.participant_id, resource_id)
            && reason != MediaEndReason::Shutdown
        {
            let _ = self.gone.send(MediaGone {
                session_id,
                participant_id: info.participant_id,
                user_id: info.user_id,
                org_role: info.org_role,
                reason: match reason {
                    MediaEndReason::Deleted => LeaveReason::Left,
                    _ => LeaveReason::Disconnected,
                },
            });
        }
    }

    /// Called by the media loop for each media event: a connected peer makes its participant
    /// present through media.
    fn on_fact(&self, info: &PeerInfo, event: &Event) {
        let presence = &self.app.media_presence;
        match event {
            Event::PublisherConnected(e) => {
                presence.connected(info.participant_id, e.resource_id, Some(&e.source));
            }
            Event::SubscriberConnected(e) => {
                presence.connected(info.participant_id, e.resource_id, None);
            }
            _ => {}
        }
    }

    /// Called by the media loop when a source's video stalls (`since` its last frame) or
    /// resumes (`None`).
    fn stall(&self, session_id: Uuid, resource_id: Uuid, since: Option<DateTime<Utc>>) {
        let mut registry = lock(&self.registry);
        if let Some(source) = registry
            .sessions
            .get_mut(&session_id)
            .and_then(|m| m.sources.iter_mut().find(|s| s.resource_id == resource_id))
        {
            source.stalled = since.is_some();
            source.stalled_since = since;
        }
    }

    /// Called by the media loop when a published track's codec is known.
    fn track_seen(&self, session_id: Uuid, resource_id: Uuid, track: TrackView) {
        let mut registry = lock(&self.registry);
        if let Some(source) = registry
            .sessions
            .get_mut(&session_id)
            .and_then(|m| m.sources.iter_mut().find(|s| s.resource_id == resource_id))
        {
            source.tracks.retain(|t| t.mid != track.mid);
            source.tracks.push(track);
        }
    }
}

/// How many m-lines of this kind an SDP has.
fn count_media(sdp: &str, kind: &str) -> usize {
    let prefix = format!("m={kind} ");
    sdp.lines().filter(|l| l.starts_with(&prefix)).count()
}

/// Records the leave of each participant whose last media ended (see
/// [`App::leave_after_media`]), one at a time.
async fn leave_after_media(app: Arc<App>, mut rx: mpsc::UnboundedReceiver<MediaGone>) {
    while let Some(gone) = rx.recv().await {
        app.leave_after_media(gone).await;
    }
}

impl crate::recording::lifecycle::TapControl for Sfu {
    fn record(&self, session_id: Uuid, tap: Option<SessionTap>) {
        if let Err(error) = Sfu::record(self, session_id, tap) {
            tracing::warn!(%error, session = %session_id, "the SFU did not take the recording tap");
        }
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_m_lines_by_kind() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
        assert_eq!(count_media(sdp, "video"), 2);
        assert_eq!(count_media(sdp, "audio"), 1);
        assert_eq!(count_media(sdp, "application"), 0);
    }
}
