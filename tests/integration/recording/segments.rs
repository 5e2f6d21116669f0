//! Segments cut from real VP8/H.264 and Opus, each readable on its own, finalised into one
//! file; a reconnect, a lost segment and a recorder that falls behind.

use std::time::{Duration, Instant};

use livesurgery::recording::{
    Codec, FinaliseError, SEGMENT_CONTENT_TYPE, SegmentFile, finalise, probe,
};

use super::{Publisher, Told, clip, decode_errors, media_tools, paths, record};

/// Asserts every segment plays on its own (video and audio, of these codecs) and lasts 2 to 6 s
/// (a partial one, the last or one cut short by a reconnect, at most 6 s).
async fn assert_segments(segments: &[SegmentFile], video_codec: &str, partial: &[usize]) {
    assert!(!segments.is_empty(), "segments were written");
    for (i, segment) in segments.iter().enumerate() {
        assert_eq!(segment.seq, i as u32);
        assert_eq!(
            (segment.content_type, segment.extension),
            (SEGMENT_CONTENT_TYPE, "mp4")
        );
        let info = probe(&segment.path)
            .await
            .unwrap_or_else(|e| panic!("segment {i} does not read on its own: {e}"));
        assert_eq!(
            info.codec("video"),
            Some(video_codec),
            "segment {i}: {info:?}"
        );
        assert_eq!(info.codec("audio"), Some("opus"), "segment {i}: {info:?}");
        let short_ok = i + 1 == segments.len() || partial.contains(&i);
        let probed = info.duration_ms;
        assert!(
            probed <= 6_000 && (short_ok || probed >= 2_000),
            "segment {i} lasts {probed} ms"
        );
        assert_eq!(
            decode_errors(&segment.path),
            "",
            "segment {i} decodes cleanly"
        );
        assert!(
            probed.abs_diff(segment.duration_ms) <= 50,
            "segment {i}: {probed} ms in the file, {} ms said",
            segment.duration_ms
        );
    }
}

/// Asserts the segments follow each other without a gap.
fn assert_back_to_back(segments: &[SegmentFile]) {
    for pair in segments.windows(2) {
        assert_eq!(
            pair[1].start_ms,
            pair[0].start_ms + pair[0].duration_ms,
            "{pair:?}"
        );
    }
}

async fn record_clip_and_finalise(codec: Codec, video_codec: &str, container: &str) {
    let dir = tempfile::tempdir().expect("a folder");
    let clip = clip(dir.path(), codec, 12);
    let frames = Publisher::new(1).frames(&clip, 0, 12_000, Instant::now());
    let queue = frames.len();
    let sink = record(frames, dir.path(), queue).await;

    let told = sink.told();
    assert_eq!(told.first(), Some(&Told::Opened("endoscope".into())));
    assert_eq!(told.last(), Some(&Told::Closed));
    assert!(
        !told.iter().any(|t| matches!(t, Told::Overrun(_))),
        "{told:?}"
    );
    let segments = sink.segments();
    assert_segments(&segments, video_codec, &[]).await;
    assert_back_to_back(&segments);
    assert_eq!(segments[0].start_ms, 0);
    assert_eq!(
        segments.len(),
        3,
        "cut at the first keyframe after 4 s: {segments:?}"
    );

    let progress = std::sync::Mutex::new(Vec::new());
    let playable = finalise(&paths(&segments), &dir.path().join("out"), |p| {
        progress.lock().expect("not poisoned").push(p)
    })
    .await
    .expect("a playable file");
    assert_eq!(playable.extension, container);
    assert!(playable.skipped.is_empty());
    let info = probe(&playable.path)
        .await
        .expect("the playable file reads");
    assert_eq!(info.codec("video"), Some(video_codec));
    assert_eq!(info.codec("audio"), Some("opus"));
    assert!(
        info.duration_ms.abs_diff(12_000) <= 600,
        "12 s fed, {} ms made",
        info.duration_ms
    );
    assert_eq!(info.duration_ms, playable.duration_ms);
    assert_eq!(decode_errors(&playable.path), "", "decodes cleanly");
    let progress = progress.into_inner().expect("not poisoned");
    assert_eq!(progress.last(), Some(&1.0));
    assert!(progress.windows(2).all(|p| p[0] <= p[1]), "{progress:?}");
}

#[tokio::test]
async fn vp8_and_opus_are_cut_into_segments_that_read_alone_and_finalise_into_webm() {
    if !media_tools("recording::vp8") {
        return;
    }
    record_clip_and_finalise(Codec::Vp8, "vp8", "webm").await;
}

#[tokio::test]
async fn h264_and_opus_are_cut_into_segments_that_read_alone_and_finalise_into_mp4() {
    if !media_tools("recording::h264") {
        return;
    }
    record_clip_and_finalise(Codec::H264, "h264", "mp4").await;
}

#[tokio::test]
async fn a_reconnected_publisher_leaves_a_gap_and_its_archive_goes_on_from_its_keyframe() {
    if !media_tools("recording::reconnect") {
        return;
    }
    let dir = tempfile::tempdir().expect("a folder");
    let clip = clip(dir.path(), Codec::Vp8, 12);
    let start = Instant::now();
    // 5 s from one publisher; it drops out for 2 s, then another picks up the clip at 7.5 s
    // (mid-way between keyframes) with its own RTP clocks.
    let mut frames = Publisher::new(1).frames(&clip, 0, 5_000, start);
    let back_at = start + Duration::from_millis(7_000);
    frames.extend(Publisher::new(2).frames(&clip, 7_500, 12_000, back_at));
    let queue = frames.len();
    let sink = record(frames, dir.path(), queue).await;

    let told = sink.told();
    assert_eq!(
        told.iter().filter(|t| matches!(t, Told::Opened(_))).count(),
        1,
        "one archive: {told:?}"
    );
    let segments = sink.segments();
    // Before the drop-out: 0-4 s and the rest up to 5 s; after it: from the new publisher's
    // first keyframe (clip time 8 s, so 7.5 s on the archive's clock) on.
    let gap = segments
        .windows(2)
        .position(|p| p[1].start_ms > p[0].start_ms + p[0].duration_ms + 1_000)
        .expect("a gap");
    assert_segments(&segments, "vp8", &[gap]).await;
    assert_back_to_back(&segments[..=gap]);
    assert_back_to_back(&segments[gap + 1..]);
    let (before, after) = (&segments[gap], &segments[gap + 1]);
    assert!(
        before.start_ms + before.duration_ms <= 5_100,
        "ends at the drop-out: {before:?}"
    );
    assert!(
        after.start_ms.abs_diff(7_500) <= 100,
        "goes on from the new keyframe's arrival: {after:?}"
    );

    let playable = finalise(&paths(&segments), &dir.path().join("out"), |_| {})
        .await
        .expect("a playable file");
    // The gap is closed up in the playable form: 5 s before, 4 s after.
    assert!(
        playable.duration_ms.abs_diff(9_000) <= 450,
        "{} ms",
        playable.duration_ms
    );
}

#[tokio::test]
async fn a_lost_segment_is_left_out_and_the_rest_still_plays() {
    if !media_tools("recording::lost_segment") {
        return;
    }
    let dir = tempfile::tempdir().expect("a folder");
    let clip = clip(dir.path(), Codec::Vp8, 12);
    let frames = Publisher::new(3).frames(&clip, 0, 12_000, Instant::now());
    let queue = frames.len();
    let segments = record(frames, dir.path(), queue).await.segments();
    let mut inputs = paths(&segments);
    // The middle one never made it; another is not media at all.
    std::fs::remove_file(&inputs[1]).expect("removing a segment");
    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, b"not a segment").expect("a file");
    inputs.push(garbage.clone());

    let playable = finalise(&inputs, &dir.path().join("out"), |_| {})
        .await
        .expect("a playable file");
    assert_eq!(playable.skipped, [inputs[1].clone(), garbage.clone()]);
    assert!(
        playable.duration_ms.abs_diff(8_000) <= 400,
        "{} ms",
        playable.duration_ms
    );

    let nothing = finalise(&[garbage], &dir.path().join("none"), |_| {}).await;
    assert!(
        matches!(nothing, Err(FinaliseError::NoSegments(1))),
        "{nothing:?}"
    );
}

#[tokio::test]
async fn a_recorder_that_falls_behind_drops_frames_and_reports_the_overrun() {
    if !media_tools("recording::overrun") {
        return;
    }
    let dir = tempfile::tempdir().expect("a folder");
    let clip = clip(dir.path(), Codec::Vp8, 6);
    let frames = Publisher::new(4).frames(&clip, 0, 6_000, Instant::now());
    let offered = frames.len() as u64;
    // A queue of 16 frames, offered 480 at once: most cannot wait.
    let sink = record(frames, dir.path(), 16).await;

    let told = sink.told();
    let reported: u64 = told
        .iter()
        .map(|t| match t {
            Told::Overrun(n) => *n,
            _ => 0,
        })
        .sum();
    assert!(
        reported > offered / 2,
        "{reported} of {offered} frames reported dropped: {told:?}"
    );
    let closed = told
        .iter()
        .position(|t| *t == Told::Closed)
        .expect("closed");
    assert_eq!(
        closed,
        told.len() - 1,
        "reported before it closed: {told:?}"
    );
    // What did get through is still written as readable segments.
    for segment in sink.segments() {
        probe(&segment.path).await.expect("a readable segment");
    }
}
