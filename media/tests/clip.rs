//! Clips cut from a real replay buffer.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use media::MediaError;
use media::clip::{ClipInfo, ClipSpec, EncodeLimits, Format, make_clip};

mod common;

/// Cuts segments `first..=last` of the buffer in `replay` to `out`.
async fn cut(
    replay: &Path,
    (first, last): (u64, u64),
    format: Format,
    expected_s: u64,
    out: &Path,
    progress: impl Fn(f64) + Send + 'static,
) -> Result<ClipInfo, MediaError> {
    make_clip(
        ClipSpec {
            dir: replay,
            first,
            last,
            format,
            limits: EncodeLimits::default(),
            expected: Duration::from_secs(expected_s),
            cut_after: None,
            out,
        },
        progress,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_clip_is_remuxed_whole_in_sync_with_its_index_first() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let segments = common::buffer(dir.path(), 12).await;
    let out = dir.path().join("clip.mp4");
    let info = cut(
        &dir.path().join("replay"),
        (segments[0].seq, segments.last().unwrap().seq),
        Format::Original,
        12,
        &out,
        |_| {},
    )
    .await
    .unwrap();
    assert!((info.duration_ms - 12_000).abs() <= 100, "{info:?}");
    assert_eq!(info.bytes, std::fs::metadata(&out).unwrap().len());
    let (duration, streams) = common::probe(&out);
    assert!((duration - 12.0).abs() < 0.2, "{duration}");
    assert_eq!(
        streams,
        [("aac".to_string(), 0, 0), ("h264".to_string(), 640, 360)]
    );
    assert!(common::index_first(&out), "moov must come before mdat");
    assert_eq!(common::decode_errors(&out), "");
    assert!(
        common::start_gap(&out) < 0.1,
        "audio and video start together"
    );
    assert!(!out.with_extension("mp4.part").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_middle_span_starts_on_a_keyframe_and_decodes_cleanly() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let segments = common::buffer(dir.path(), 10).await;
    let out = dir.path().join("mid.mp4");
    let info = cut(
        &dir.path().join("replay"),
        (segments[1].seq, segments[2].seq),
        Format::Original,
        4,
        &out,
        |_| {},
    )
    .await
    .unwrap();
    assert!((info.duration_ms - 4_000).abs() <= 100, "{info:?}");
    assert_eq!(common::decode_errors(&out), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_joins_leave_no_gap_in_either_stream() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let segments = common::buffer(dir.path(), 12).await;
    assert!(segments.len() >= 5, "{segments:?}");
    let out = dir.path().join("joined.mp4");
    cut(
        &dir.path().join("replay"),
        (segments[0].seq, segments.last().unwrap().seq),
        Format::Original,
        12,
        &out,
        |_| {},
    )
    .await
    .unwrap();
    // 30 fps video: one frame is 33 ms; AAC at 44.1 kHz: 1024 samples, 23 ms.
    let video = common::largest_step(&out, "v");
    let audio = common::largest_step(&out, "a");
    assert!(video < 0.040, "a {video} s hole in the video");
    assert!(audio < 0.030, "a {audio} s hole in the audio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vertical_clip_is_1080_by_1920_with_progress() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let segments = common::buffer(dir.path(), 4).await;
    let out = dir.path().join("vertical.mp4");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let info = cut(
        &dir.path().join("replay"),
        (segments[0].seq, segments.last().unwrap().seq),
        Format::Vertical,
        4,
        &out,
        move |p| record.lock().unwrap().push(p),
    )
    .await
    .unwrap();
    let (_, streams) = common::probe(&out);
    assert_eq!(
        streams,
        [("aac".to_string(), 0, 0), ("h264".to_string(), 1080, 1920)]
    );
    assert!((info.duration_ms - 4_000).abs() <= 150, "{info:?}");
    assert!(common::index_first(&out));
    assert_eq!(common::decode_errors(&out), "");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last(), Some(&1.0));
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress only moves forward: {seen:?}"
    );
}

/// Cuts segments 1..=2 (4 s from a keyframe) to end 3.31 s in: frames
/// 0..=99 of the span, the 100th frame shown is the last asked for.
async fn cut_short(
    format: Format,
    name: &str,
) -> (tempfile::TempDir, std::path::PathBuf, ClipInfo) {
    let dir = tempfile::tempdir().unwrap();
    let segments = common::buffer(dir.path(), 8).await;
    let out = dir.path().join(name);
    let info = make_clip(
        ClipSpec {
            dir: &dir.path().join("replay"),
            first: segments[1].seq,
            last: segments[2].seq,
            format,
            limits: EncodeLimits::default(),
            expected: Duration::from_millis(3_310),
            cut_after: Some(Duration::from_millis(3_310)),
            out: &out,
        },
        |_| {},
    )
    .await
    .unwrap();
    (dir, out, info)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_clip_ends_at_the_asked_frame_not_the_segment_end() {
    media::init().unwrap();
    let (_dir, out, info) = cut_short(Format::Original, "end.mp4").await;
    let frames = common::frame_times(&out);
    // It ends on the asked frame (the 100th), or up to the stream's B-frame
    // count (x264 veryfast: 3) before it; never after, never broken.
    assert!(
        (97..=100).contains(&frames.len()),
        "{} frames, {info:?}",
        frames.len()
    );
    assert_eq!(common::decode_errors(&out), "");
    let (duration, _) = common::probe(&out);
    assert!(
        (3.2..3.36).contains(&duration),
        "{duration} s, not the 4 s of the segments"
    );
    // No hole: the frames are one 30 fps step apart all the way.
    assert!(frames.windows(2).all(|w| w[1] - w[0] < 0.040), "{frames:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vertical_short_ends_at_the_exact_frame() {
    media::init().unwrap();
    let (_dir, out, info) = cut_short(Format::Vertical, "end-v.mp4").await;
    let frames = common::frame_times(&out);
    assert_eq!(frames.len(), 100, "{info:?}");
    assert_eq!(common::decode_errors(&out), "");
    assert!((info.duration_ms - 3_333).abs() <= 40, "{info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_segment_is_an_error_not_a_broken_file() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("none.mp4");
    let err = cut(dir.path(), (5, 9), Format::Original, 10, &out, |_| {}).await;
    assert!(err.is_err());
    assert!(!out.exists());
}
