//! The live branch on real streams: ffmpeg's H.264 (with B-frames) and AAC,
//! pushed through the segmenter with an LL-HLS track, read back the way a
//! player would — the playlist, then init sections, parts and segments,
//! each checked with ffprobe.

use std::path::Path;
use std::time::Duration;

use media::hls::{LlPlaylist, ll_problems, read_ll_playlist};
use media::live::{Track, TrackConfig};
use media::segmenter::{Container, FloodLimits};

mod common;
use common::{encode_gop, start_segmenter};

/// Pushes `bytes` through a segmenter feeding a fresh track.
async fn run(
    container: Container,
    bytes: &[u8],
    dir: &Path,
) -> (Track, Vec<media::segmenter::Segment>) {
    let track = Track::new(
        TrackConfig {
            window: Duration::from_secs(120),
            ..TrackConfig::default()
        },
        0,
    );
    let (seg, mut rx) = start_segmenter(
        container,
        &dir.join("replay"),
        FloodLimits::unpaced(),
        Some(&track),
    );
    for chunk in bytes.chunks(4096) {
        seg.push(chunk).unwrap();
    }
    seg.finish(Duration::from_secs(30)).await.unwrap();
    let mut replay = Vec::new();
    while let Ok(s) = rx.try_recv() {
        replay.push(s);
    }
    (track, replay)
}

fn playlist(track: &Track) -> LlPlaylist {
    let text = String::from_utf8(track.playlist().to_vec()).unwrap();
    let p = read_ll_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(ll_problems(&p), Vec::<String>::new(), "{text}");
    p
}

fn number(uri: &str, prefix: &str, suffix: &str) -> u64 {
    uri.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .unwrap()
        .parse()
        .unwrap()
}

/// ffprobe of `init` + `media`: (codec, packets, first pts s, last pts s) per stream.
fn packets(dir: &Path, name: &str, init: &[u8], media: &[u8]) -> Vec<(String, usize, f64, f64)> {
    let path = dir.join(name);
    std::fs::write(&path, [init, media].concat()).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=index,codec_name:packet=stream_index,pts_time",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap();
    streams
        .iter()
        .map(|s| {
            let index = s["index"].as_i64().unwrap();
            let pts: Vec<f64> = v["packets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["stream_index"].as_i64() == Some(index))
                .filter_map(|p| p["pts_time"].as_str()?.parse().ok())
                .collect();
            let first = pts.iter().cloned().fold(f64::INFINITY, f64::min);
            let last = pts.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            (
                s["codec_name"].as_str().unwrap().to_string(),
                pts.len(),
                first,
                last,
            )
        })
        .collect()
}

async fn check(container: Container, gop: u32, format: &str) {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let seconds = 20;
    let bytes = encode_gop(dir.path(), seconds, gop, format, &format!("in.{format}"));
    let (track, replay) = run(container, &bytes, dir.path()).await;
    let p = playlist(&track);
    assert!(p.ended, "the session ended");
    let gop_ns = u64::from(gop) * 1_000_000_000 / 30;
    // Segments are GOPs (the last may be shorter), parts at most 500 ms.
    assert!(
        p.segments.len() >= (seconds as u64 * 1_000_000_000 / gop_ns) as usize,
        "{p:?}"
    );
    for s in &p.segments[..p.segments.len() - 1] {
        assert!(
            s.duration_ns.abs_diff(gop_ns) < 50_000_000,
            "segment of {} ns, GOP {gop_ns}",
            s.duration_ns
        );
    }
    let total: u64 = p.segments.iter().map(|s| s.duration_ns).sum();
    assert!(
        total.abs_diff(u64::from(seconds) * 1_000_000_000) < 200_000_000,
        "total {total} ns"
    );
    // Every part of the last three target durations is listed.
    let last = p.segments.last().unwrap();
    assert!(!last.parts.is_empty());
    assert!(
        last.parts.len() as u64 >= last.duration_ns / 400_000_000,
        "{:?}",
        last.parts
    );
    // The replay buffer's TS segments cut at the same keyframes.
    assert_eq!(replay.len(), p.segments.len(), "{replay:?}");
    for (ts, ll) in replay.iter().zip(&p.segments) {
        assert!(
            (ts.start_ms - ll.wall_ms).abs() <= 50,
            "replay {ts:?} vs live {}",
            ll.wall_ms
        );
    }
    // Whole segments and parts play: both streams, in their time.
    let init = track
        .init_section(number(&last.init_uri, "init", ".mp4"))
        .unwrap();
    for s in &p.segments {
        let bytes = track.segment(s.msn).unwrap();
        let streams = packets(dir.path(), "seg.mp4", &init, &bytes);
        let names: Vec<&str> = streams.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["h264", "aac"], "segment {}", s.msn);
        for (codec, n, first, last_pts) in &streams {
            assert!(*n > 0, "segment {} has no {codec}", s.msn);
            let span = last_pts - first;
            assert!(
                span * 1e9 > s.duration_ns as f64 * 0.8,
                "segment {} {codec} spans {span} s",
                s.msn
            );
        }
    }
    let mut audio_packets = 0;
    for part in &last.parts {
        let n = number(&part.uri, "part", ".m4s");
        let bytes = track.part(n).await.unwrap();
        let streams = packets(dir.path(), "part.mp4", &init, &bytes);
        let audio = streams
            .iter()
            .find(|s| s.0 == "aac")
            .expect("audio in every part");
        let video = streams
            .iter()
            .find(|s| s.0 == "h264")
            .expect("video in every part");
        // Audio is not held back for the GOP: each part carries its own
        // (cut at a P-frame's time, its span may be a few frames off the
        // part's; the segment's sum is checked below).
        // (The stream's very last part may be video the audio ended before.)
        let final_part = last.parts.last().map(|p| &p.uri) == Some(&part.uri);
        assert!(audio.1 >= 1 || final_part, "no audio in {}", part.uri);
        audio_packets += audio.1;
        assert!(video.1 >= 1);
    }
    let want = last.duration_ns as f64 / 1e9 * 43.0;
    assert!(
        audio_packets as f64 >= want * 0.9,
        "{audio_packets} audio packets in the last segment's parts, want {want}"
    );
    let measured = track
        .keyframe_interval()
        .expect("keyframe interval measured")
        .as_millis() as u64;
    assert!(
        measured.abs_diff(gop_ns / 1_000_000) <= 40,
        "measured {measured} ms, GOP {gop_ns} ns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_with_a_two_second_gop_becomes_parts_and_segments() {
    check(Container::Flv, 60, "flv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_default_gop_of_250_frames_still_makes_parts_with_audio() {
    check(Container::Flv, 250, "flv").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_mpegts_becomes_parts_and_segments() {
    check(Container::MpegTs, 60, "mpegts").await;
}

/// A publisher cut off mid-GOP (OBS killed, a dropped connection): the
/// session ends cleanly, every part it made is listed and plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_off_mid_gop_ends_cleanly() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flv = encode_gop(dir.path(), 10, 250, "flv", "in.flv");
    let ts = encode_gop(dir.path(), 10, 60, "mpegts", "in.ts");
    for (container, bytes, cut) in [
        (Container::Flv, &flv, 0.37),
        (Container::Flv, &flv, 0.61),
        (Container::Flv, &flv, 0.93),
        (Container::MpegTs, &ts, 0.41),
        (Container::MpegTs, &ts, 0.77),
        (Container::MpegTs, &ts, 1.0),
    ] {
        let part = &bytes[..(bytes.len() as f64 * cut) as usize];
        let (track, replay) = run(container, part, dir.path()).await;
        let p = playlist(&track);
        assert!(p.ended);
        assert!(!replay.is_empty());
        let total: u64 = p.segments.iter().map(|s| s.duration_ns).sum();
        assert!(total > 2_000_000_000, "cut at {cut}: {total} ns");
        let last = p.segments.last().unwrap();
        let n = number(&last.parts.last().unwrap().uri, "part", ".m4s");
        assert!(track.part(n).await.is_ok());
    }
}
