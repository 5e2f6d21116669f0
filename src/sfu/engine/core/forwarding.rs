//! The core's forwarding: a publisher's frames to the slots that show its source, keyframe
//! requests back to the publisher, and a subscriber's choice of sources.

use std::time::Instant;

use livesurgery_domain::Event;
use livesurgery_domain::events::{
    FirstFrameDelivered, KeyframeCause, KeyframeKind, KeyframeRequested, MediaKind,
    SubscriptionChanged,
};
use str0m::media::{KeyframeRequestKind, MediaTime};
use uuid::Uuid;

use super::{Core, Output, Piped, SharedFrame};
use crate::sfu::engine::peer::{Action, Role};
use crate::sfu::forward::{self, Kind, Verdict};

impl Core {
    /// Hands a publisher's frame to every slot of its session that shows its source.
    pub(super) fn forward(
        &mut self,
        from: Uuid,
        session_id: Uuid,
        source: &str,
        kind: Kind,
        data: &SharedFrame,
    ) {
        let frame = forward::Frame {
            source,
            kind,
            keyframe: data.keyframe,
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
                        self.metrics.sfu.frames_forwarded.inc();
                        // The wall clock, not the loop's `now`: the time this fan-out has
                        // taken so far is the point.
                        self.metrics.sfu.forward_delay.observe(
                            Instant::now()
                                .saturating_duration_since(data.network_time)
                                .as_secs_f64(),
                        );
                        self.touched.insert(*id);
                        if first && kind == Kind::Video && !sub.first_frame_sent {
                            sub.first_frame_sent = true;
                            let elapsed_ms = sub.joined_at.map(|joined| {
                                self.now.saturating_duration_since(joined).as_millis() as u64
                            });
                            if let Some(ms) = elapsed_ms {
                                self.metrics
                                    .sfu
                                    .join_to_first_frame
                                    .observe(ms as f64 / 1000.0);
                            }
                            self.outputs.push_back(Output::Fact(
                                peer.info.clone(),
                                Event::FirstFrameDelivered(FirstFrameDelivered {
                                    session_id,
                                    resource_id: peer.info.resource_id,
                                    participant_id: peer.info.participant_id,
                                    user_id: peer.info.user_id,
                                    source: source.to_owned(),
                                    slot: index as u32,
                                    join_to_first_frame_ms: elapsed_ms.unwrap_or(0),
                                }),
                            ));
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

    /// Asks the publisher of `source` for a keyframe, within its rate limit; one this loop
    /// does not hold is asked through the pipes when `relay` (not for a request that came
    /// through them).
    pub(super) fn request_keyframe(
        &mut self,
        session_id: Uuid,
        source: &str,
        kind: KeyframeRequestKind,
        cause: KeyframeCause,
        relay: bool,
    ) {
        let Some((id, peer)) = self.peers.iter_mut().find(|(_, p)| {
            p.info.session_id == session_id
                && p.ending.is_none()
                && matches!(&p.role, Role::Publisher(publisher) if publisher.source == source)
        }) else {
            if relay && self.piped {
                self.outputs.push_back(Output::Pipe(Piped::Keyframe {
                    session_id,
                    source: source.to_owned(),
                    kind,
                    cause,
                }));
            }
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
            KeyframeCause::FirstFrame => &mut track.first_frame_keyframes,
            _ => &mut track.keyframes,
        };
        if !throttle.allow(self.now) {
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
        self.outputs.push_back(Output::Fact(
            peer.info.clone(),
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
        ));
    }

    /// Points a subscription's video slots (and the audio slots that follow them) at sources.
    pub(super) fn select(&mut self, resource_id: Uuid, slots: &[Option<String>]) {
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
            self.outputs.push_back(Output::Fact(
                peer.info.clone(),
                Event::SubscriptionChanged(SubscriptionChanged {
                    session_id: peer.info.session_id,
                    resource_id,
                    participant_id: peer.info.participant_id,
                    user_id: peer.info.user_id,
                    slots: now,
                    previous,
                }),
            ));
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
}
