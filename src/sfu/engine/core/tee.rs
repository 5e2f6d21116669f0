//! The recording tee in the forwarding path: a recorded session's frames, once forwarded, are
//! offered to the recorder's queues (never waiting), and the recorder's keyframe requests are
//! passed on to the publisher.

use livesurgery_domain::events::MediaKind;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaData};
use uuid::Uuid;

use super::Core;
use crate::recording::tap::{Codec as RecordedCodec, RecordedFrame};
use crate::sfu::engine::peer::Role;
use crate::sfu::forward::Kind;

impl Core {
    /// Offers a forwarded frame to its session's recorder, if the session is being recorded:
    /// a full queue drops it (counted), never waits. The frame's bytes are shared, not copied.
    pub(super) fn tee(
        &mut self,
        from: Uuid,
        session_id: Uuid,
        source: String,
        kind: Kind,
        data: &MediaData,
    ) {
        let Some(tee) = self.taps.get_mut(&session_id) else {
            return;
        };
        let codec = match data.params.spec().codec {
            Codec::Vp8 => RecordedCodec::Vp8,
            Codec::H264 => RecordedCodec::H264,
            Codec::Opus => RecordedCodec::Opus,
            _ => return,
        };
        let offered = tee.offer(RecordedFrame {
            publisher: from,
            source,
            kind: match kind {
                Kind::Audio => MediaKind::Audio,
                Kind::Video => MediaKind::Video,
            },
            codec,
            keyframe: kind == Kind::Audio || data.is_keyframe(),
            rtp_time: data.time.numer(),
            clock_rate: data.time.frequency().get(),
            arrival: data.network_time,
            data: data.data.clone(),
        });
        if offered.dropped {
            self.metrics.recording.dropped_frames.inc();
        }
        if offered.keyframe_wanted {
            self.request_recording_keyframe(from);
        }
    }

    /// Asks a publisher for a keyframe to cut a segment at, within its rate limit. Not
    /// recorded in the log: a request every few seconds per recorded source would bury the
    /// ones that tell of trouble.
    fn request_recording_keyframe(&mut self, publisher: Uuid) {
        let Some(peer) = self.peers.get_mut(&publisher) else {
            return;
        };
        let Role::Publisher(publishing) = &mut peer.role else {
            return;
        };
        let Some(track) = publishing
            .tracks
            .iter_mut()
            .find(|t| t.kind == MediaKind::Video)
        else {
            return;
        };
        if !track.keyframes.allow(self.now) {
            return;
        }
        let Some(mut writer) = peer.rtc.writer(track.mid) else {
            return;
        };
        if writer
            .request_keyframe(None, KeyframeRequestKind::Pli)
            .is_ok()
        {
            self.metrics.sfu.keyframe_requests.inc();
            self.touched.insert(publisher);
        }
    }
}
