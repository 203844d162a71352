//! Helpers shared by the media tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use media::live::Track;
use media::segmenter::{Container, FloodLimits, Segment, Segmenter};

/// `seconds` of test pattern and tone, H.264 (2 s GOP) and AAC, as `format`.
pub fn encode(dir: &Path, seconds: u32, format: &str, file: &str) -> Vec<u8> {
    encode_gop(dir, seconds, 60, format, file)
}

/// As [`encode`], with a keyframe every `gop` frames (30 fps; OBS's x264
/// default is 250) and B-frames, as x264's presets make them.
pub fn encode_gop(dir: &Path, seconds: u32, gop: u32, format: &str, file: &str) -> Vec<u8> {
    let out = dir.join(file);
    let gop = gop.to_string();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc=size=640x360:rate=30:duration={seconds}"),
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:duration={seconds}"),
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
        ])
        .args(["-c:a", "aac", "-b:a", "96k", "-f", format])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

/// A segmenter numbering from 0 into `dir` (1 s minimum segments), and
/// the receiver of the segments it closes.
pub fn start_segmenter(
    container: Container,
    dir: &Path,
    limits: FloodLimits,
    track: Option<&Track>,
) -> (Segmenter, tokio::sync::mpsc::UnboundedReceiver<Segment>) {
    media::init().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let seg = Segmenter::start(
        container,
        dir,
        media::segmenter::Numbering {
            first_seq: 0,
            not_before_ms: 0,
        },
        Duration::from_secs(1),
        tx,
        track,
        limits,
    )
    .unwrap();
    (seg, rx)
}

/// Segments of a fresh `seconds`-long stream in `dir/replay`.
pub async fn buffer(dir: &Path, seconds: u32) -> Vec<Segment> {
    let ts = encode(dir, seconds, "mpegts", "in.ts");
    let (seg, mut rx) = start_segmenter(
        Container::MpegTs,
        &dir.join("replay"),
        FloodLimits::unpaced(),
        None,
    );
    for chunk in ts.chunks(4096) {
        seg.push(chunk).unwrap();
    }
    seg.finish(Duration::from_secs(20)).await.unwrap();
    let mut out = Vec::new();
    while let Ok(s) = rx.try_recv() {
        out.push(s);
    }
    out
}

/// ffprobe: `(duration s, [(codec, width, height)])`.
pub fn probe(path: &Path) -> (f64, Vec<(String, i64, i64)>) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let mut streams: Vec<(String, i64, i64)> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_name"].as_str().unwrap_or("").to_string(),
                s["width"].as_i64().unwrap_or(0),
                s["height"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    streams.sort();
    (duration, streams)
}

/// Decodes the whole file; returns what the decoder complained about.
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Whether the MP4's index (`moov`) comes before its media (`mdat`).
pub fn index_first(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag);
    matches!((find(b"moov"), find(b"mdat")), (Some(m), Some(d)) if m < d)
}

/// How far apart the audio and video streams start, in seconds.
pub fn start_gap(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=start_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let starts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(starts.len(), 2, "two streams expected");
    (starts[0] - starts[1]).abs()
}

/// Whether a TS file opens with its PAT and then its PMT, so that a reader
/// (a player joining the live stream, a clip starting here) can decode it
/// from its first byte. The parsing is `media::ts`'s, unit-tested there on
/// hand-made packets.
pub fn opens_with_pat_and_pmt(path: &Path) -> bool {
    media::ts::opens_with_psi(&std::fs::read(path).unwrap())
}

/// The longest step between consecutive packets of the stream (`v` or `a`),
/// in decode order, in seconds: a gap at a segment join shows up here.
pub fn largest_step(path: &Path, stream: &str) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream])
        .args(["-show_entries", "packet=dts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert!(times.len() > 10, "too few packets in {path:?}");
    times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// The presentation times of the decoded video frames, in display order
/// (seconds from the file's start).
pub fn frame_times(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v"])
        .args(["-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let mut times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    times
}
