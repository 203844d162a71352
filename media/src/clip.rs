//! Clips from the replay buffer: an MP4 cut without re-encoding, or a
//! vertical 9:16 short.
//!
//! ```text
//!  original:
//!   multifilesrc (segN.ts … segM.ts, read back to back) ─▶ tsdemux
//!     ├─ H.264 ─▶ queue ─▶ h264parse ───────────────────────────────────▶ mp4mux (faststart) ─▶ filesink
//!     └─ AAC ───▶ queue ─▶ aacparse ────────────────────────────────────▶ mp4mux
//!  vertical: the same, with the video decoded and re-encoded on the way:
//!     H.264 ─▶ queue ─▶ h264parse ─▶ avdec_h264 ─▶ videoconvert ─▶ aspectratiocrop 9/16 (centre)
//!           ─▶ videoscale ─▶ 1080x1920 ─▶ x264enc ─▶ h264parse ─▶ mp4mux
//! ```
//!
//! Segments start on keyframes, so a clip starts on a segment boundary (the
//! caller picks which). Its end needs no keyframe: with `cut_after`, the
//! media after the asked end is dropped on the way in (see `EndCut`). The file
//! is written under a temporary name and renamed when complete, so a
//! half-written clip is never served.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;

use crate::error::MediaError;
use crate::segmenter::segment_file;

/// What a clip is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The stream as it was: remuxed, never re-encoded.
    Original,
    /// 1080x1920, centre crop, H.264 re-encode; audio kept as it was.
    Vertical,
}

/// The finished clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipInfo {
    /// From the first video frame to the end of the last.
    pub duration_ms: i64,
    pub bytes: u64,
}

/// How the vertical encode may use the machine.
#[derive(Debug, Clone, Copy)]
pub struct EncodeLimits {
    /// x264 threads; keep below the core count so live work always has CPU.
    pub threads: u32,
    pub bitrate_kbps: u32,
}

impl Default for EncodeLimits {
    fn default() -> Self {
        EncodeLimits {
            threads: 1,
            bitrate_kbps: 6000,
        }
    }
}

fn make(factory: &'static str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory))
}

/// What to make: segments `first..=last` of `dir`, into the MP4 at `out`.
#[derive(Debug, Clone)]
pub struct ClipSpec<'a> {
    pub dir: &'a Path,
    pub first: u64,
    pub last: u64,
    pub format: Format,
    pub limits: EncodeLimits,
    /// The media length the clip will hold, for progress.
    pub expected: Duration,
    /// Where to end, measured from the first video frame: the media after
    /// it is dropped (how, without breaking a frame, is `EndCut`'s). None
    /// keeps the last segment whole.
    pub cut_after: Option<Duration>,
    pub out: &'a Path,
}

/// Makes the clip. `progress` is called with 0.0..=1.0 as the work advances.
pub async fn make_clip(
    spec: ClipSpec<'_>,
    progress: impl Fn(f64) + Send + 'static,
) -> Result<ClipInfo, MediaError> {
    let ClipSpec {
        dir,
        first,
        last,
        format,
        limits,
        expected,
        cut_after,
        out,
    } = spec;
    if last < first {
        return Err(MediaError::Link("empty segment range".into()));
    }
    for seq in [first, last] {
        if !dir.join(segment_file(seq)).exists() {
            return Err(MediaError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("segment {seq} is not in the buffer"),
            )));
        }
    }
    let partial = out.with_extension("mp4.part");
    let pipeline = crate::NullOnDrop(gst::Pipeline::default());
    let src = make("multifilesrc")?;
    let pattern = dir.join("seg%010d.ts");
    src.set_property("location", pattern.to_string_lossy().to_string());
    src.set_property("start-index", first as i32);
    src.set_property("index", first as i32);
    src.set_property("stop-index", last as i32);
    src.set_property(
        "caps",
        gst::Caps::builder("video/mpegts")
            .field("systemstream", true)
            .build(),
    );
    let demux = make("tsdemux")?;
    let mux = make("mp4mux")?;
    mux.set_property("faststart", true);
    let sink = make("filesink")?;
    sink.set_property("location", partial.to_string_lossy().to_string());
    pipeline.add_many([&src, &demux, &mux, &sink])?;
    src.link(&demux)?;
    mux.link(&sink)?;

    let end_cut = Arc::new(EndCut::new(cut_after, format));
    // Video PTS span, for the clip's true duration.
    let span = Arc::new((AtomicI64::new(i64::MAX), AtomicI64::new(0)));
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let pipeline_weak = pipeline.downgrade();
    let mux_weak = mux.downgrade();
    let span_probe = span.clone();
    let failure_pad = failure.clone();
    let end_cut_pads = end_cut.clone();
    demux.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(mux)) = (pipeline_weak.upgrade(), mux_weak.upgrade()) else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        let end_cut = end_cut_pads.clone();
        let built = if name.starts_with("video/x-h264") {
            video_branch(format, limits, &end_cut).map(|els| (els, "video_%u"))
        } else if name.starts_with("audio/mpeg") {
            unbounded_queue()
                .and_then(|q| Ok(vec![q, make("aacparse")?]))
                .map(|els| (els, "audio_%u"))
        } else {
            return;
        };
        let result = built.and_then(|(elements, template)| {
            pipeline.add_many(&elements)?;
            gst::Element::link_many(&elements)?;
            let first = elements.first().and_then(|e| e.static_pad("sink"));
            let last = elements.last().and_then(|e| e.static_pad("src"));
            let mux_pad = mux.request_pad_simple(template);
            let (Some(first), Some(last), Some(mux_pad)) = (first, last, mux_pad) else {
                return Err(MediaError::Link("clip branch pads".into()));
            };
            last.link(&mux_pad)?;
            if cut_after.is_some() {
                let video = template.starts_with("video");
                first.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    match info.buffer() {
                        Some(buffer) if !end_cut.keeps(buffer, video) => discard(info),
                        _ => gst::PadProbeReturn::Ok,
                    }
                });
            }
            pad.link(&first)?;
            if template.starts_with("video") {
                let span = span_probe.clone();
                last.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if let Some(buffer) = info.buffer()
                        && let Some(pts) = buffer.pts()
                    {
                        let start = pts.mseconds() as i64;
                        let end = start + buffer.duration().map_or(0, |d| d.mseconds() as i64);
                        span.0.fetch_min(start, Ordering::Relaxed);
                        span.1.fetch_max(end, Ordering::Relaxed);
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            for e in &elements {
                e.sync_state_with_parent()?;
            }
            Ok(())
        });
        if let Err(e) = result {
            *failure_pad.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
    });

    let bus = pipeline.bus().ok_or(MediaError::NoBus)?;
    // Made before PLAYING, so no message is posted before it listens.
    let mut messages = bus.stream();
    pipeline.set_state(gst::State::Playing)?;
    let watch = async {
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    None => return Ok(()),
                    Some(msg) => match msg.view() {
                        gst::MessageView::Eos(_) => return Ok(()),
                        gst::MessageView::Error(err) => {
                            return Err(MediaError::from_bus(err));
                        }
                        _ => {}
                    },
                },
                _ = ticker.tick() => {
                    let done = span.1.load(Ordering::Relaxed) - span.0.load(Ordering::Relaxed).min(span.1.load(Ordering::Relaxed));
                    if !expected.is_zero() {
                        progress((done as f64 / expected.as_millis() as f64).clamp(0.0, 0.99));
                    }
                }
            }
        }
    };
    let result = watch.await;
    let _ = pipeline.set_state(gst::State::Null);
    if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = std::fs::remove_file(&partial);
        return Err(MediaError::Link(e));
    }
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, out)?;
    progress(1.0);
    let (start, end) = (
        span.0.load(Ordering::Relaxed),
        span.1.load(Ordering::Relaxed),
    );
    Ok(ClipInfo {
        duration_ms: if end > start { end - start } else { 0 },
        bytes: std::fs::metadata(out)?.len(),
    })
}

/// A queue with no limits. mp4mux waits for data on every pad; with the
/// default 1 s queues, a stream running ahead of the other by more than that
/// fills its queue, blocks the demuxer, and the pipeline deadlocks. A clip is
/// at most about a minute of media, so holding it all is bounded.
fn unbounded_queue() -> Result<gst::Element, MediaError> {
    let q = make("queue")?;
    q.set_property("max-size-time", 0u64);
    q.set_property("max-size-buffers", 0u32);
    q.set_property("max-size-bytes", 0u32);
    Ok(q)
}

/// Where a clip ends, in the stream's own timestamps: its first video
/// frame's PTS plus the asked length. Audio is kept while its PTS is before
/// the end. Video, in decode order:
///
/// - `Original` (nothing decoded): everything from the first frame shown at
///   or after the end is dropped. The B-frames that come after it in decode
///   order refer to it, so they go too: the clip ends on the asked frame or
///   up to the stream's B-frame count before it (x264's default of 3: at
///   most 100 ms at 30 fps), never on a frame after it, and every frame
///   kept decodes.
/// - `Vertical`: a frame is kept while its DTS is before the end, so every
///   frame shown before the end arrives with the frames it refers to; after
///   decoding, frames shown at or after the end are dropped, so the short
///   ends on the exact frame.
struct EndCut {
    length_ns: Option<u64>,
    format: Format,
    /// The first video PTS seen, in ns; `u64::MAX` until then.
    origin_ns: AtomicU64,
    /// `Original`: the end was reached; no more video.
    ended: AtomicBool,
}

impl EndCut {
    fn new(length: Option<Duration>, format: Format) -> Self {
        EndCut {
            length_ns: length.map(|d| d.as_nanos() as u64),
            format,
            origin_ns: AtomicU64::new(u64::MAX),
            ended: AtomicBool::new(false),
        }
    }

    /// The end, once the first video frame has been seen.
    fn end_ns(&self) -> Option<u64> {
        let origin = self.origin_ns.load(Ordering::Relaxed);
        (origin != u64::MAX)
            .then_some(origin)
            .zip(self.length_ns)
            .map(|(o, l)| o.saturating_add(l))
    }

    /// Whether a compressed buffer from the demuxer belongs in the clip.
    fn keeps(&self, buffer: &gst::BufferRef, video: bool) -> bool {
        if self.length_ns.is_none() {
            return true;
        }
        let Some(pts) = buffer.pts() else {
            return true;
        };
        if video {
            let _ = self.origin_ns.compare_exchange(
                u64::MAX,
                pts.nseconds(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        let Some(end) = self.end_ns() else {
            // Audio ahead of the first video frame: the start, not the end.
            return true;
        };
        match (video, self.format) {
            (false, _) => pts.nseconds() < end,
            (true, Format::Vertical) => buffer.dts_or_pts().is_none_or(|t| t.nseconds() < end),
            (true, Format::Original) => {
                if pts.nseconds() >= end {
                    self.ended.store(true, Ordering::Relaxed);
                }
                !self.ended.load(Ordering::Relaxed)
            }
        }
    }

    /// Whether a decoded frame is before the end.
    fn keeps_decoded(&self, buffer: &gst::BufferRef) -> bool {
        match (self.end_ns(), buffer.pts()) {
            (Some(end), Some(pts)) => pts.nseconds() < end,
            _ => true,
        }
    }
}

/// Drops the buffer a probe holds: the probe takes it and says it handled
/// it. Answering `Drop` instead makes Debian's GStreamer 1.22 log a
/// `gst_mini_object_unref` CRITICAL for every buffer dropped (seen in this
/// crate's clip tests); this way it logs none.
fn discard(info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    drop(info.data.take());
    gst::PadProbeReturn::Handled
}

/// The video elements between the demuxer and the muxer.
fn video_branch(
    format: Format,
    limits: EncodeLimits,
    end_cut: &Arc<EndCut>,
) -> Result<Vec<gst::Element>, MediaError> {
    match format {
        Format::Original => Ok(vec![unbounded_queue()?, make("h264parse")?]),
        Format::Vertical => {
            let crop = make("aspectratiocrop")?;
            crop.set_property("aspect-ratio", gst::Fraction::new(9, 16));
            let caps = make("capsfilter")?;
            caps.set_property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("width", 1080i32)
                    .field("height", 1920i32)
                    .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                    .build(),
            );
            let enc = make("x264enc")?;
            enc.set_property_from_str("speed-preset", "veryfast");
            enc.set_property("threads", limits.threads);
            enc.set_property("bitrate", limits.bitrate_kbps);
            enc.set_property("key-int-max", 60u32);
            let out_caps = make("capsfilter")?;
            out_caps.set_property(
                "caps",
                gst::Caps::builder("video/x-h264")
                    .field("profile", "high")
                    .build(),
            );
            Ok(vec![
                unbounded_queue()?,
                make("h264parse")?,
                {
                    let dec = make("avdec_h264")?;
                    dec.set_property("max-threads", limits.threads as i32);
                    let end_cut = end_cut.clone();
                    if let Some(src) = dec.static_pad("src") {
                        src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                            match info.buffer() {
                                Some(frame) if !end_cut.keeps_decoded(frame) => discard(info),
                                _ => gst::PadProbeReturn::Ok,
                            }
                        });
                    }
                    dec
                },
                make("videoconvert")?,
                crop,
                make("videoscale")?,
                caps,
                enc,
                out_caps,
                make("h264parse")?,
            ])
        }
    }
}
