//! Synthetic VP8 frames stamped with their number and write time, and the stamp the relay's
//! packets carry too.

/// After the VP8 header: this, the frame number and its write time (big-endian u64s).
const FRAME_MAGIC: &[u8; 4] = b"LSbf";
/// The stamp's length: the magic, then the frame number and write time.
pub(super) const STAMP_LEN: usize = 4 + 8 + 8;
/// A keyframe's header: the 3-byte frame tag, the start code and the dimensions.
const KEYFRAME_HEADER: usize = 10;
const INTERFRAME_HEADER: usize = 3;

/// A VP8 frame of `size` bytes (at least the header and the stamp): a valid frame tag (with
/// the keyframe bit as asked, shown, one partition) and, for a keyframe, the start code and
/// 1280x720; then the stamp, then filler. Not decodable: subscribers never decode.
pub(super) fn vp8_frame(seq: u64, keyframe: bool, size: usize, sent_us: u64) -> Vec<u8> {
    let header = if keyframe {
        KEYFRAME_HEADER
    } else {
        INTERFRAME_HEADER
    };
    let size = size.max(header + STAMP_LEN);
    let mut frame = Vec::with_capacity(size);
    // Frame tag, little-endian: bit 0 = 0 for a keyframe, version 0, show_frame, then the
    // first partition's size (19 bits): the rest of the frame.
    let first_partition = ((size - header) as u32).min((1 << 19) - 1);
    let tag = u32::from(!keyframe) | (1 << 4) | (first_partition << 5);
    frame.extend_from_slice(&tag.to_le_bytes()[..3]);
    if keyframe {
        frame.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        frame.extend_from_slice(&1280u16.to_le_bytes());
        frame.extend_from_slice(&720u16.to_le_bytes());
    }
    frame.extend_from_slice(FRAME_MAGIC);
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.extend_from_slice(&sent_us.to_be_bytes());
    // Filler that varies (a constant run would flatter nothing here, but looks like no video).
    let mut x = seq as u32 | 1;
    while frame.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        frame.push(x as u8);
    }
    frame
}

/// The frame number and write time of a frame made by [`vp8_frame`]; `None` for anything else.
pub(super) fn read_frame_stamp(frame: &[u8]) -> Option<(u64, u64)> {
    let keyframe = frame.first()? & 1 == 0;
    let at = if keyframe {
        KEYFRAME_HEADER
    } else {
        INTERFRAME_HEADER
    };
    read_stamp(frame.get(at..at + STAMP_LEN)?, FRAME_MAGIC)
}

/// The frame number and write time of a stamp that starts with `magic`.
pub(super) fn read_stamp(stamp: &[u8], magic: &[u8; 4]) -> Option<(u64, u64)> {
    if stamp.get(..4)? != magic {
        return None;
    }
    let seq = u64::from_be_bytes(stamp.get(4..12)?.try_into().ok()?);
    let sent = u64::from_be_bytes(stamp.get(12..20)?.try_into().ok()?);
    Some((seq, sent))
}

/// RFC 5761: a datagram of the RTP family (first two bits 2) whose second byte is not an RTCP
/// packet type.
pub(super) fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [first, second, ..] if first >> 6 == 2 && !(192..=223).contains(second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_carries_its_number_and_time_after_its_vp8_header() {
        for keyframe in [true, false] {
            let frame = vp8_frame(41, keyframe, 6250, 1_700_000_000_000_000);
            assert_eq!(frame.len(), 6250);
            assert_eq!(frame[0] & 1 == 0, keyframe, "the frame tag's P bit");
            if keyframe {
                assert_eq!(&frame[3..6], &[0x9d, 0x01, 0x2a], "the keyframe start code");
            }
            assert_eq!(read_frame_stamp(&frame), Some((41, 1_700_000_000_000_000)));
        }
        assert_eq!(read_frame_stamp(&[]), None);
        assert_eq!(read_frame_stamp(&[0x10, 0, 0, b'L']), None);
        assert_eq!(read_frame_stamp(&[0xffu8; 64]), None);
    }
}
