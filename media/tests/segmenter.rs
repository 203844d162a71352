//! The segmenter on a real H.264/AAC stream made by ffmpeg (test pattern and
//! tone, 2 s GOP), fed in the chunks a network would deliver.

use std::path::Path;
use std::time::Duration;

use media::segmenter::{Container, Segmenter};

mod common;
use common::encode;

async fn segment(
    container: Container,
    bytes: &[u8],
    dir: &Path,
    first_seq: u64,
) -> Vec<media::segmenter::Segment> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let seg = Segmenter::start(
        container,
        dir,
        media::segmenter::Numbering {
            first_seq,
            not_before_ms: 0,
        },
        Duration::from_secs(1),
        tx,
        None,
        media::segmenter::FloodLimits::unpaced(),
    )
    .unwrap();
    for chunk in bytes.chunks(4096) {
        seg.push(chunk).unwrap();
    }
    seg.finish(Duration::from_secs(20)).await.unwrap();
    let mut out = Vec::new();
    while let Ok(s) = rx.try_recv() {
        out.push(s);
    }
    out
}

fn check(segments: &[media::segmenter::Segment], first_seq: u64, seconds: i64) {
    assert!(segments.len() >= 3, "{segments:?}");
    assert!(segments[0].seq == first_seq || segments[0].seq == first_seq + 1);
    for w in segments.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    for s in segments.iter() {
        assert!(s.path.exists(), "{:?}", s.path);
        assert_eq!(std::fs::metadata(&s.path).unwrap().len(), s.bytes);
        assert!(s.bytes > 1000);
        assert!(s.end_ms > s.start_ms);
        assert!(
            common::opens_with_pat_and_pmt(&s.path),
            "{:?} does not open with PAT and PMT",
            s.path
        );
    }
    // Contiguous spans, one GOP each (the last may be shorter).
    for w in segments.windows(2) {
        assert_eq!(w[0].end_ms, w[1].start_ms);
        let len = w[0].end_ms - w[0].start_ms;
        assert!((1900..=2100).contains(&len), "segment of {len} ms");
    }
    let total = segments.last().unwrap().end_ms - segments[0].start_ms;
    assert!((total - seconds * 1000).abs() <= 200, "total {total} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flv_from_rtmp_becomes_keyframe_aligned_segments() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flv = encode(dir.path(), 6, "flv", "in.flv");
    let out = dir.path().join("replay");
    let segments = segment(Container::Flv, &flv, &out, 7).await;
    check(&segments, 7, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpegts_from_srt_becomes_keyframe_aligned_segments() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ts = encode(dir.path(), 6, "mpegts", "in.ts");
    let out = dir.path().join("replay");
    let segments = segment(Container::MpegTs, &ts, &out, 0).await;
    check(&segments, 0, 6);
}
