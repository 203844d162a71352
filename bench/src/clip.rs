//! Clip export: a 60 s clip cut from the replay buffer, beside
//! `ffmpeg -i "concat:…" -c copy` on the same segments.
//!
//! The buffer is made the way a live show makes it: ffmpeg encodes 64 s of
//! 1280x720 30 fps test pattern and tone (x264 veryfast, 2 s GOP, B-frames,
//! AAC — what OBS sends) and the server's own [`media::segmenter`] cuts it
//! into keyframe-aligned segments. Then, `runs` times each, alternating:
//! - ours: [`media::clip::make_clip`] over 30 segments (60 s) to an MP4 with
//!   its index first, as a clip export does;
//! - ffmpeg: `ffmpeg -i "concat:seg…|…" -c copy -movflags +faststart` over
//!   the same files, the same output (remuxed, index first).
//!
//! Both outputs are probed: each must hold 60 s (±1 GOP) of audio and video.
//!
//! `clip-vertical`: a 10 s vertical short (5 segments of the same stream,
//! 1280x720 centre-cropped to 9:16 and scaled to 1080x1920, x264 veryfast
//! at 6 Mb/s, audio copied), ours beside ffmpeg doing the same work with the
//! same encoder settings and the same thread count (one thread to decode,
//! one to encode, as the server runs it so live work keeps the other core).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use media::clip::{ClipSpec, EncodeLimits, Format, make_clip};
use media::segmenter::{Container, Segment, Segmenter};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

/// The seconds of stream encoded, and of clip cut.
const STREAM_S: u32 = 64;
const CLIP_SEGMENTS: usize = 30;

/// One side's times and the length of what it made.
struct Side {
    samples: Vec<Duration>,
    duration_s: f64,
}

impl Side {
    fn median_ms(&self) -> f64 {
        crate::median_ms(&self.samples)
    }

    fn samples_ms(&self) -> Vec<f64> {
        self.samples
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect()
    }
}

/// What both sides are asked to make from the same segments.
struct Task<'a> {
    label: &'static str,
    format: Format,
    /// ffmpeg's options before its input, and between it and the output.
    ffmpeg_in: &'a [&'a str],
    ffmpeg_out: &'a [&'a str],
    /// The video size both outputs must have, if it is not the source's.
    size: Option<(i64, i64)>,
}

/// Encodes the test stream, segments it and picks `count` segments after
/// the first: `(tempdir, segments, span ms)`.
async fn prepare(
    label: &str,
    count: usize,
) -> Result<(tempfile::TempDir, Vec<Segment>, i64), Error> {
    media::init()?;
    let dir = tempfile::tempdir()?;
    eprintln!("{label}: encoding {STREAM_S} s of 720p30 test stream");
    let segments: Vec<Segment> = buffer(dir.path())
        .await?
        .into_iter()
        .skip(1)
        .take(count)
        .collect();
    if segments.len() < count {
        return Err(format!("only {} segments were made", segments.len() + 1).into());
    }
    let span_ms = segments.last().unwrap().end_ms - segments[0].start_ms;
    Ok((dir, segments, span_ms))
}

/// `runs` alternating runs of ours and ffmpeg's over `chosen`, each output
/// checked; `(ours, ffmpeg, CPU stolen %)`.
async fn alternate(
    task: &Task<'_>,
    dir: &Path,
    chosen: &[Segment],
    span_ms: i64,
    runs: usize,
) -> Result<(Side, Side, f64), Error> {
    let mut ours = Side {
        samples: Vec::new(),
        duration_s: 0.0,
    };
    let mut theirs = Side {
        samples: Vec::new(),
        duration_s: 0.0,
    };
    let concat = chosen
        .iter()
        .map(|s| s.path.to_string_lossy().to_string())
        .collect::<Vec<_>>()
        .join("|");
    let check = |out: &Path| -> Result<f64, Error> {
        if let Some(size) = task.size {
            check_size(out, size)?;
        }
        checked_duration(out, span_ms)
    };
    let cpu = crate::machine::CpuTimes::now();
    for run in 0..runs {
        let out = dir.join(format!("ours{run}.mp4"));
        let started = Instant::now();
        make_clip(
            ClipSpec {
                dir: &dir.join("replay"),
                first: chosen[0].seq,
                last: chosen.last().unwrap().seq,
                format: task.format,
                limits: EncodeLimits::default(),
                expected: Duration::from_millis(span_ms as u64),
                cut_after: None,
                out: &out,
            },
            |_| {},
        )
        .await?;
        ours.samples.push(started.elapsed());
        ours.duration_s = check(&out)?;

        let out = dir.join(format!("ffmpeg{run}.mp4"));
        let started = Instant::now();
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y"])
            .args(task.ffmpeg_in)
            .arg("-i")
            .arg(format!("concat:{concat}"))
            .args(task.ffmpeg_out)
            .args(["-movflags", "+faststart"])
            .arg(&out)
            .status()?;
        theirs.samples.push(started.elapsed());
        if !status.success() {
            return Err("ffmpeg failed".into());
        }
        theirs.duration_s = check(&out)?;
        eprintln!(
            "{}: run {}/{runs}: ours {:.0} ms, ffmpeg {:.0} ms",
            task.label,
            run + 1,
            ours.samples[run].as_secs_f64() * 1000.0,
            theirs.samples[run].as_secs_f64() * 1000.0
        );
    }
    Ok((ours, theirs, cpu.steal_pct_since()))
}

/// The figures both comparisons save: the machine, the runs, each side's
/// median, samples and output length, their ratio, the CPU stolen, and
/// `extra` (what only one of them has).
fn figures(
    label: &str,
    runs: usize,
    segments: usize,
    span_ms: i64,
    (ours, theirs, steal_pct): &(Side, Side, f64),
    extra: serde_json::Value,
) -> serde_json::Value {
    let (ours_ms, theirs_ms) = (ours.median_ms(), theirs.median_ms());
    eprintln!("{label}: ours {ours_ms:.0} ms, ffmpeg {theirs_ms:.0} ms (median of {runs})");
    let mut result = json!({
        "machine": crate::machine::describe(),
        "runs": runs,
        "segments": segments,
        "span_ms": span_ms,
        "ours_median_ms": ours_ms,
        "ours_samples_ms": ours.samples_ms(),
        "ours_duration_s": ours.duration_s,
        "ffmpeg_median_ms": theirs_ms,
        "ffmpeg_samples_ms": theirs.samples_ms(),
        "ffmpeg_duration_s": theirs.duration_s,
        "ratio": ours_ms / theirs_ms,
        "steal_pct": steal_pct,
    });
    if let (Some(all), serde_json::Value::Object(more)) = (result.as_object_mut(), extra) {
        all.extend(more);
    }
    result
}

pub async fn run(runs: usize) -> Result<(), Error> {
    let (dir, chosen, span_ms) = prepare("clip", CLIP_SEGMENTS).await?;
    let input_bytes: u64 = chosen.iter().map(|s| s.bytes).sum();
    let task = Task {
        label: "clip",
        format: Format::Original,
        ffmpeg_in: &[],
        ffmpeg_out: &["-c", "copy"],
        size: None,
    };
    let measured = alternate(&task, dir.path(), &chosen, span_ms, runs).await?;
    // What starting the ffmpeg process alone costs, since ours runs in-process.
    let mut start = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        Command::new("ffmpeg").arg("-version").output()?;
        start.push(started.elapsed());
    }
    let result = figures(
        "clip",
        runs,
        CLIP_SEGMENTS,
        span_ms,
        &measured,
        json!({
            "stream_s": STREAM_S,
            "input_mib": input_bytes as f64 / 1024.0 / 1024.0,
            "ffmpeg_start_median_ms": crate::median_ms(&start),
        }),
    );
    crate::save("clip", &result)
}

/// Segments in the vertical short (10 s).
const VERTICAL_SEGMENTS: usize = 5;

pub async fn run_vertical(runs: usize) -> Result<(), Error> {
    let (dir, chosen, span_ms) = prepare("clip-vertical", VERTICAL_SEGMENTS).await?;
    let limits = EncodeLimits::default();
    let threads = limits.threads.to_string();
    let bitrate = format!("{}k", limits.bitrate_kbps);
    let task = Task {
        label: "clip-vertical",
        format: Format::Vertical,
        ffmpeg_in: &["-threads", &threads],
        ffmpeg_out: &[
            "-vf",
            "crop=ih*9/16:ih,scale=1080:1920",
            "-filter_threads",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-threads",
            &threads,
            "-b:v",
            &bitrate,
            "-g",
            "60",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "copy",
        ],
        size: Some((1080, 1920)),
    };
    let measured = alternate(&task, dir.path(), &chosen, span_ms, runs).await?;
    let result = figures(
        "clip-vertical",
        runs,
        VERTICAL_SEGMENTS,
        span_ms,
        &measured,
        json!({
            "threads": limits.threads,
            "bitrate_kbps": limits.bitrate_kbps,
            "realtime_factor": span_ms as f64 / measured.0.median_ms(),
        }),
    );
    crate::save("clip_vertical", &result)
}

/// That the file's video is `width x height`.
fn check_size(path: &Path, (width, height): (i64, i64)) -> Result<(), Error> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v"])
        .args(["-show_entries", "stream=width,height", "-of", "json"])
        .arg(path)
        .output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let stream = &v["streams"][0];
    if stream["width"].as_i64() != Some(width) || stream["height"].as_i64() != Some(height) {
        return Err(format!("{path:?} is {stream}, not {width}x{height}").into());
    }
    Ok(())
}

/// `seconds` of the benchmarks' test stream into `out` as `format`: 1280x720
/// 30 fps test pattern and tone, x264 veryfast at 3 Mb/s with a 2 s GOP and
/// its default B-frames, AAC 128 kb/s — what OBS sends by default.
pub(crate) fn encode(seconds: u32, format: &str, out: &Path) -> Result<(), Error> {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1280x720:rate=30:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "veryfast", "-b:v", "3000k"])
        .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"])
        .args(["-f", format])
        .arg(out)
        .status()?;
    if !status.success() {
        return Err("ffmpeg could not encode the test stream".into());
    }
    Ok(())
}

/// Encodes the test stream and segments it as live ingest does.
async fn buffer(dir: &Path) -> Result<Vec<Segment>, Error> {
    let input = dir.join("in.ts");
    encode(STREAM_S, "mpegts", &input)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let segmenter = Segmenter::start(
        Container::MpegTs,
        &dir.join("replay"),
        media::segmenter::Numbering {
            first_seq: 0,
            not_before_ms: 0,
        },
        Duration::from_secs(1),
        tx,
        None,
        media::segmenter::FloodLimits::unpaced(),
    )?;
    for chunk in std::fs::read(&input)?.chunks(64 * 1024) {
        segmenter.push(chunk)?;
    }
    segmenter.finish(Duration::from_secs(60)).await?;
    let mut segments = Vec::new();
    while let Ok(s) = rx.try_recv() {
        segments.push(s);
    }
    Ok(segments)
}

/// The file's duration in seconds, if it holds audio and video spanning the
/// segments (±1 GOP).
fn checked_duration(path: &Path, expected_ms: i64) -> Result<f64, Error> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let duration: f64 = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or("no duration")?;
    let mut kinds: Vec<&str> = v["streams"]
        .as_array()
        .ok_or("no streams")?
        .iter()
        .filter_map(|s| s["codec_type"].as_str())
        .collect();
    kinds.sort();
    if kinds != ["audio", "video"] || (duration * 1000.0 - expected_ms as f64).abs() > 2000.0 {
        return Err(format!("{path:?}: {kinds:?}, {duration} s for {expected_ms} ms").into());
    }
    Ok(duration)
}
