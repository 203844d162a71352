//! Cuts an incoming stream into keyframe-aligned MPEG-TS segments, without
//! re-encoding, and (with a [`Track`]) into the fMP4 parts of LL-HLS beside
//! them ([`crate::fmp4`]).
//!
//! ```text
//!  bytes ─▶ appsrc (video/x-flv | video/mpegts, live)
//!            └─▶ flvdemux | tsdemux
//!                 ├─ H.264 ─▶ tee ─▶ queue ─▶ h264parse (SPS/PPS before every IDR) ─▶ splitmuxsink.video
//!                 │            └──▶ live branch (crate::fmp4)
//!                 └─ AAC ───▶ tee ─▶ queue ─▶ aacparse ──────────────────────────────▶ splitmuxsink.audio_0
//!                              └──▶ live branch
//!  splitmuxsink (muxer mpegtsmux): a new file at the first keyframe once the
//!  current one holds `min_segment`; files are named by us (`seg0000000042.ts`,
//!  numbering continues across reconnects and restarts) and reported only once
//!  closed, so nothing ever reads a segment still being written.
//!  When audio reaches splitmuxsink before the first video keyframe, it opens
//!  a sliver of a first file (a few ms of audio) and cuts at that keyframe;
//!  that sliver is deleted, not reported: every reported segment starts on a
//!  keyframe. Its number is skipped, which is harmless: it is the first of a
//!  session, and nothing spans a session's start.
//!  Before a segment is reported it is made to open with its PAT and PMT
//!  ([`crate::ts`]), which live mpegtsmux does not promise.
//! ```
//!
//! Wall-clock spans: the first fragment's running time (of either branch) is
//! mapped to the wall clock when it opens; every later boundary is that
//! instant plus the running time elapsed, so segment spans are contiguous,
//! follow the stream's own timestamps, and agree between the replay buffer
//! and the live parts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::{mpsc, oneshot};

use crate::error::MediaError;
use crate::fmp4::{Kind, LiveBranch};
use crate::live::Track;

/// The container of the bytes pushed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// From RTMP (see [`crate::flv`]).
    Flv,
    /// From SRT.
    MpegTs,
}

/// A finished segment of the replay buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub seq: u64,
    pub path: PathBuf,
    /// Wall-clock span, Unix epoch milliseconds.
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: u64,
}

/// Why the server cut a stream off (rather than its publisher ending it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamCut {
    /// The publisher sent more than the pipeline takes: a message bigger
    /// than the ingest queue, a queue that filled up, or media further ahead
    /// of the wall clock than a live source can be (a file sent at full
    /// speed). Cut rather than buffered without bound.
    Flood { detail: String },
    /// The replay buffer's disk is full: recording stopped.
    DiskFull,
    /// The pipeline failed on this stream (corrupt or unsupported data).
    Broken { detail: String },
}

impl StreamCut {
    /// A stable code: `flood`, `disk_full`, `stream_error`.
    pub fn code(&self) -> &'static str {
        match self {
            StreamCut::Flood { .. } => "flood",
            StreamCut::DiskFull => "disk_full",
            StreamCut::Broken { .. } => "stream_error",
        }
    }

    /// What was seen, for people.
    pub fn detail(&self) -> &str {
        match self {
            StreamCut::Flood { detail } | StreamCut::Broken { detail } => detail,
            StreamCut::DiskFull => "no space left on the replay buffer's disk",
        }
    }

    /// The cut a pipeline error means.
    fn of_error(err: &gst::message::Error) -> StreamCut {
        let e = err.error();
        let no_space = e.matches(gst::ResourceError::NoSpaceLeft)
            || err
                .debug()
                .is_some_and(|d| d.contains("No space left on device"));
        if no_space {
            StreamCut::DiskFull
        } else {
            StreamCut::Broken {
                detail: e.to_string(),
            }
        }
    }
}

/// How much a publisher may put in before the pipeline takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimits {
    /// Bytes queued at the pipeline's entrance (one RTMP message or SRT
    /// packet more than this is a flood too).
    pub max_queued_bytes: u64,
    /// How far the stream's timestamps may run ahead of the wall clock since
    /// its first frame; `None`: not checked (tests that push files fast).
    pub max_ahead: Option<Duration>,
    /// Data that keeps coming with no video frame out of it for this long is
    /// corrupt (or has no video): cut as a stream error, not left "live"
    /// with a frozen picture.
    pub max_without_video: Duration,
}

impl Default for FloodLimits {
    fn default() -> Self {
        FloodLimits {
            max_queued_bytes: 32 * 1024 * 1024,
            max_ahead: Some(Duration::from_secs(10)),
            max_without_video: Duration::from_secs(10),
        }
    }
}

impl FloodLimits {
    /// The queue bound only: for pushing recorded files faster than live
    /// (tests, benchmarks, imports).
    pub fn unpaced() -> Self {
        FloodLimits {
            max_ahead: None,
            ..FloodLimits::default()
        }
    }
}

/// The first cut wins; later ones are the same stream failing again.
type Fault = Arc<std::sync::OnceLock<StreamCut>>;

/// The file name of segment `seq`.
pub fn segment_file(seq: u64) -> String {
    format!("seg{seq:010}.ts")
}

/// The sequence number in a segment file name, if it is one.
pub fn parse_segment_file(name: &str) -> Option<u64> {
    name.strip_prefix("seg")?.strip_suffix(".ts")?.parse().ok()
}

/// A running segmenting pipeline. Dropping it stops the pipeline at once;
/// [`Segmenter::finish`] ends it cleanly (the last segment is closed and reported).
pub struct Segmenter {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    done: Option<oneshot::Receiver<Result<(), MediaError>>>,
    /// The LL-HLS track this session feeds, told when the session ends.
    live: Option<Track>,
    /// Why the server cut the stream, once it has.
    fault: Fault,
    limits: FloodLimits,
    /// When the demuxer last gave a video frame (or the session began).
    last_video: LastVideo,
}

type LastVideo = Arc<Mutex<std::time::Instant>>;

fn make(factory: &'static str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory))
}

fn wall_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Running-time ↔ wall-clock mapping, fixed at the first fragment.
#[derive(Default)]
pub(crate) struct Clock {
    /// The buffer's end before this session: spans never go back past it, even
    /// after a publisher that pushed faster than real time.
    not_before_ms: i64,
    origin: Option<(u64, i64)>,
    /// Running time at which each open fragment began, by file. splitmuxsink
    /// may announce the next fragment before it reports the previous one
    /// closed, so more than one can be open.
    open: std::collections::HashMap<String, u64>,
    /// A fragment of this session was closed already.
    seen_first: bool,
    /// Running time at which the last fragment closed.
    last_close: Option<u64>,
}

/// Running times at or above this are GStreamer's "none"/invalid markers.
const VALID_RUNNING_NS: u64 = 1 << 62;

/// Shortest first fragment kept: anything shorter holds no keyframe.
const SLIVER_NS: u64 = 200_000_000;

/// Whether a closed fragment is the audio-only sliver splitmuxsink can open
/// before the first keyframe (`seen_first`: an earlier fragment closed).
fn first_is_sliver(seen_first: bool, opened_ns: u64, closed_ns: u64) -> bool {
    !seen_first && closed_ns.saturating_sub(opened_ns) < SLIVER_NS
}

impl Clock {
    pub(crate) fn wall(&mut self, running_ns: u64) -> i64 {
        let floor = self.not_before_ms;
        let (rt0, wall0) = *self
            .origin
            .get_or_insert((running_ns, wall_now_ms().max(floor)));
        wall0 + (running_ns.saturating_sub(rt0) / 1_000_000) as i64
    }
}

/// Where a session's segments continue the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Numbering {
    /// The number of its first segment.
    pub first_seq: u64,
    /// Its spans start no earlier (the buffer's end, epoch ms).
    pub not_before_ms: i64,
}

impl Segmenter {
    /// Starts a pipeline writing segments `first_seq, first_seq + 1, …` into
    /// `dir`, each reported on `segments` once closed, with spans starting no
    /// earlier than `not_before_ms`, and feeding `live` its parts. Needs a
    /// tokio runtime.
    pub fn start(
        container: Container,
        dir: &Path,
        Numbering {
            first_seq,
            not_before_ms,
        }: Numbering,
        min_segment: Duration,
        segments: mpsc::UnboundedSender<Segment>,
        live: Option<&Track>,
        limits: FloodLimits,
    ) -> Result<Segmenter, MediaError> {
        std::fs::create_dir_all(dir)?;
        let fault: Fault = Arc::default();
        let pipeline = gst::Pipeline::default();
        let clock = Arc::new(Mutex::new(Clock {
            not_before_ms,
            ..Clock::default()
        }));
        let branch = match live {
            Some(track) => {
                crate::fmp4::register()?;
                Some(LiveBranch::new(track.clone(), clock.clone(), min_segment))
            }
            None => None,
        };
        let caps = match container {
            Container::Flv => gst::Caps::builder("video/x-flv").build(),
            Container::MpegTs => gst::Caps::builder("video/mpegts")
                .field("systemstream", true)
                .build(),
        };
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Bytes)
            .is_live(true)
            .max_bytes(limits.max_queued_bytes)
            .build();
        let demux = make(match container {
            Container::Flv => "flvdemux",
            Container::MpegTs => "tsdemux",
        })?;
        let splitmux = make("splitmuxsink")?;
        splitmux.set_property("muxer-factory", "mpegtsmux");
        splitmux.set_property("max-size-time", min_segment.as_nanos() as u64);
        splitmux.set_property("send-keyframe-requests", false);
        let dir_owned = dir.to_path_buf();
        splitmux.connect("format-location", false, move |args| {
            let fragment: u32 = args[1].get().unwrap_or(0);
            let path = dir_owned.join(segment_file(first_seq + u64::from(fragment)));
            Some(path.to_string_lossy().to_string().to_value())
        });
        pipeline.add_many([src.upcast_ref(), &demux, &splitmux])?;
        src.link(&demux)?;

        // The demuxer's pads appear once it has seen the streams.
        let pipeline_weak = pipeline.downgrade();
        let splitmux_weak = splitmux.downgrade();
        let audio_pads = Arc::new(Mutex::new(0u32));
        let pad_branch = branch.clone();
        let pad_fault = fault.clone();
        let last_video: LastVideo = Arc::new(Mutex::new(std::time::Instant::now()));
        let pad_last_video = last_video.clone();
        demux.connect_pad_added(move |_, pad| {
            let (Some(pipeline), Some(splitmux)) =
                (pipeline_weak.upgrade(), splitmux_weak.upgrade())
            else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let name = caps
                .structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            let (kind, parser, sink_pad) = if name.starts_with("video/x-h264") {
                let parser = make("h264parse");
                if let Ok(p) = &parser {
                    p.set_property("config-interval", -1i32);
                }
                (Kind::Video, parser, splitmux.request_pad_simple("video"))
            } else if name.starts_with("audio/mpeg") {
                let mut n = audio_pads.lock().unwrap_or_else(|e| e.into_inner());
                let pad_name = format!("audio_{}", *n);
                *n += 1;
                (
                    Kind::Audio,
                    make("aacparse"),
                    splitmux.request_pad_simple(&pad_name),
                )
            } else if name.starts_with("video/") {
                // A picture we cannot pass on (HEVC or AV1 over enhanced
                // RTMP, VP6…): without it there is no show.
                let _ = pad_fault.set(StreamCut::Broken {
                    detail: format!(
                        "the video is {name}, not H.264: set the encoder to x264 or an H.264 hardware encoder"
                    ),
                });
                return;
            } else {
                tracing::warn!(caps = %name, "ignoring a stream that is neither H.264 nor AAC");
                return;
            };
            let (Ok(parser), Some(sink_pad), Ok(queue), Ok(tee)) =
                (parser, sink_pad, make("queue"), make("tee"))
            else {
                tracing::error!("cannot build the segmenter branch");
                return;
            };
            let linked = pipeline
                .add_many([&tee, &queue, &parser])
                .and_then(|_| gst::Element::link_many([&tee, &queue, &parser]))
                .is_ok()
                && parser
                    .static_pad("src")
                    .is_some_and(|p| p.link(&sink_pad).is_ok());
            if !linked {
                tracing::error!(caps = %name, "cannot link the segmenter branch");
                return;
            }
            if let Some(branch) = &pad_branch
                && let Err(e) = branch.add_stream(&pipeline, &tee, kind)
            {
                tracing::error!(caps = %name, error = %e, "cannot build the live branch");
            }
            let _ = queue.sync_state_with_parent();
            let _ = parser.sync_state_with_parent();
            let _ = tee.sync_state_with_parent();
            if tee.static_pad("sink").is_none_or(|t| pad.link(&t).is_err()) {
                tracing::error!(caps = %name, "cannot link the demuxer to its branch");
            }
            if kind == Kind::Video {
                watch_video(pad, limits.max_ahead, pad_fault.clone(), pad_last_video.clone());
            }
        });
        // The live muxer cannot take a pad once it has written its header:
        // it is built when the demuxer has all of them.
        if let Some(branch) = branch {
            let pipeline_weak = pipeline.downgrade();
            demux.connect_no_more_pads(move |_| {
                let Some(pipeline) = pipeline_weak.upgrade() else {
                    return;
                };
                if let Err(e) = branch.start(&pipeline) {
                    tracing::error!(error = %e, "cannot start the live muxer");
                }
            });
        }
        if let Some(track) = live {
            track.begin_session();
        }

        let bus = pipeline.bus().ok_or(MediaError::NoBus)?;
        let (done_tx, done_rx) = oneshot::channel();
        // The stream is made before PLAYING: messages posted before it exists
        // would never reach it (the first fragment's would be lost).
        let messages = bus.stream();
        tokio::spawn(watch_bus(messages, segments, clock, fault.clone(), done_tx));
        let live = live.cloned();
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            if let Some(track) = &live {
                track.end_session();
            }
            return Err(e.into());
        }
        Ok(Segmenter {
            pipeline,
            src,
            done: Some(done_rx),
            live,
            fault,
            limits,
            last_video,
        })
    }

    /// Feeds bytes of the container stream. Fails with [`MediaError::Cut`]
    /// once the stream is cut (a flood, a full disk, a pipeline error): the
    /// caller then ends the session.
    pub fn push(&self, bytes: &[u8]) -> Result<(), MediaError> {
        if let Some(cut) = self.fault.get() {
            return Err(MediaError::Cut(cut.clone()));
        }
        let starved = self
            .last_video
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        if starved > self.limits.max_without_video {
            return Err(self.cut_with(StreamCut::Broken {
                detail: format!(
                    "no playable H.264 video in the last {} s of the stream (corrupt data, or no video track)",
                    self.limits.max_without_video.as_secs()
                ),
            }));
        }
        let queued = self.src.current_level_bytes();
        if queued + bytes.len() as u64 > self.limits.max_queued_bytes {
            return Err(self.cut_with(StreamCut::Flood {
                detail: format!(
                    "{} bytes more with {queued} queued: over the ingest queue's {} bytes",
                    bytes.len(),
                    self.limits.max_queued_bytes
                ),
            }));
        }
        self.src
            .push_buffer(gst::Buffer::from_slice(bytes.to_vec()))
            .map(|_| ())
            .map_err(|e| MediaError::Flow(format!("{e:?}")))
    }

    /// Why the server cut this stream, if it did.
    pub fn cut(&self) -> Option<StreamCut> {
        self.fault.get().cloned()
    }

    /// Cuts the stream (unless it was already: the first reason stays).
    fn cut_with(&self, cut: StreamCut) -> MediaError {
        let _ = self.fault.set(cut.clone());
        MediaError::Cut(self.fault.get().cloned().unwrap_or(cut))
    }

    /// The cell the cut is kept in, to read it after [`Segmenter::finish`]
    /// (an error while draining is a cut too).
    pub(crate) fn cut_cell(&self) -> Fault {
        self.fault.clone()
    }

    /// Ends the stream: the last segment is closed and reported, then the
    /// pipeline stops. Gives up after `limit`.
    pub async fn finish(mut self, limit: Duration) -> Result<(), MediaError> {
        let _ = self.src.end_of_stream();
        let result = match self.done.take() {
            Some(done) => match tokio::time::timeout(limit, done).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Ok(()),
                Err(_) => Err(MediaError::Timeout("end of stream")),
            },
            None => Ok(()),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(track) = self.live.take() {
            track.end_session();
        }
        result
    }
}

impl Drop for Segmenter {
    fn drop(&mut self) {
        // Always back to Null, or GStreamer keeps the threads and files.
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(track) = self.live.take() {
            track.end_session();
        }
    }
}

/// Reports closed fragments as segments; ends on EOS or error.
async fn watch_bus(
    mut messages: gst::bus::BusStream,
    segments: mpsc::UnboundedSender<Segment>,
    clock: Arc<Mutex<Clock>>,
    fault: Fault,
    done: oneshot::Sender<Result<(), MediaError>>,
) {
    let result = loop {
        let Some(msg) = messages.next().await else {
            break Ok(());
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(err) => {
                let _ = fault.set(StreamCut::of_error(err));
                break Err(MediaError::from_bus(err));
            }
            gst::MessageView::Element(element) => {
                let Some(s) = element.structure() else {
                    continue;
                };
                let location = s.get::<String>("location").ok();
                // A fragment opened before any timed buffer reports an
                // invalid running time (2^63 or NONE): treat it as unknown.
                let running = s
                    .get::<u64>("running-time")
                    .ok()
                    .filter(|rt| *rt < VALID_RUNNING_NS);
                // What to do with a closed fragment, decided under the clock's
                // lock; its file work is done after, off the async workers.
                let closed = {
                    let mut clock = clock.lock().unwrap_or_else(|e| e.into_inner());
                    match (s.name().as_str(), location, running) {
                        ("splitmuxsink-fragment-opened", Some(location), Some(rt)) => {
                            clock.wall(rt);
                            clock.open.insert(location, rt);
                            None
                        }
                        ("splitmuxsink-fragment-closed", Some(location), Some(rt)) => {
                            // Opened at an unknown time: it began where the last
                            // one ended (or at the start, for the first).
                            let opened = clock
                                .open
                                .remove(&location)
                                .unwrap_or(clock.last_close.unwrap_or(0))
                                .min(rt);
                            clock.last_close = Some(rt);
                            let first = std::mem::replace(&mut clock.seen_first, true);
                            let sliver = first_is_sliver(first, opened, rt);
                            Some((
                                PathBuf::from(&location),
                                sliver,
                                clock.wall(opened),
                                clock.wall(rt),
                            ))
                        }
                        _ => None,
                    }
                };
                let Some((path, sliver, start_ms, end_ms)) = closed else {
                    continue;
                };
                let seq = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(parse_segment_file);
                let finished = tokio::task::spawn_blocking(move || {
                    if sliver {
                        tracing::debug!(?path, "dropping a sliver before the first keyframe");
                        let _ = std::fs::remove_file(&path);
                        return None;
                    }
                    let seq = seq?;
                    if let Err(e) = crate::ts::open_with_psi(&path) {
                        tracing::warn!(?path, error = %e, "cannot put PAT/PMT first");
                        if e.kind() == std::io::ErrorKind::StorageFull {
                            return Some(Err(StreamCut::DiskFull));
                        }
                    }
                    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                    Some(Ok(Segment {
                        seq,
                        path,
                        start_ms,
                        end_ms,
                        bytes,
                    }))
                })
                .await;
                match finished {
                    Ok(Some(Ok(segment))) => {
                        let _ = segments.send(segment);
                    }
                    Ok(Some(Err(cut))) => {
                        // Not reported: a segment the disk could not hold is
                        // not whole. The publisher is cut at its next push.
                        let _ = fault.set(cut);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    };
    let _ = done.send(result);
}

/// Notes each video frame's arrival (for `max_without_video`), and cuts the
/// stream when its video runs further ahead of the wall clock than
/// `max_ahead` (measured from its first frame): a live source cannot, a file
/// sent at full speed does, and its backlog would otherwise be buffered or
/// rush through the live edge. Frames after a cut are dropped.
fn watch_video(pad: &gst::Pad, max_ahead: Option<Duration>, fault: Fault, last_video: LastVideo) {
    let first: Mutex<Option<(u64, std::time::Instant)>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if fault.get().is_some() {
            return gst::PadProbeReturn::Drop;
        }
        if let Ok(mut t) = last_video.lock() {
            *t = std::time::Instant::now();
        }
        let Some(max) = max_ahead else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(pts) = info.buffer().and_then(|b| b.pts().or(b.dts())) else {
            return gst::PadProbeReturn::Ok;
        };
        let pts = pts.nseconds();
        let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
        let (pts0, t0) = *first.get_or_insert((pts, std::time::Instant::now()));
        let media = Duration::from_nanos(pts.saturating_sub(pts0));
        let ahead = media.saturating_sub(t0.elapsed());
        if ahead > max {
            let _ = fault.set(StreamCut::Flood {
                detail: format!(
                    "the stream ran {:.1} s ahead of real time (at most {} s): sent faster than live",
                    ahead.as_secs_f64(),
                    max.as_secs()
                ),
            });
            return gst::PadProbeReturn::Drop;
        }
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_short_first_fragment_is_a_sliver() {
        assert!(first_is_sliver(false, 0, 23_000_000));
        assert!(!first_is_sliver(false, 0, 2_000_000_000));
        assert!(
            !first_is_sliver(true, 0, 23_000_000),
            "a short last segment is kept"
        );
    }

    #[test]
    fn segment_names_round_trip_and_sort() {
        assert_eq!(segment_file(42), "seg0000000042.ts");
        assert_eq!(parse_segment_file("seg0000000042.ts"), Some(42));
        assert_eq!(parse_segment_file("thumb42.jpg"), None);
        assert!(segment_file(9) < segment_file(10));
    }

    #[test]
    fn a_new_session_never_starts_before_the_buffer_ends() {
        let future = wall_now_ms() + 60_000;
        let mut clock = Clock {
            not_before_ms: future,
            ..Clock::default()
        };
        assert_eq!(clock.wall(0), future);
        assert_eq!(clock.wall(1_000_000_000), future + 1000);
    }

    #[test]
    fn wall_clock_follows_running_time_from_the_first_fragment() {
        let mut clock = Clock::default();
        let w0 = clock.wall(5_000_000_000);
        assert_eq!(clock.wall(7_000_000_000), w0 + 2000);
        assert_eq!(clock.wall(5_000_000_000), w0);
    }
}
