//! The live branch of the ingest pipeline: the stream as fMP4 chunks of a
//! fifth of a second, for LL-HLS ([`crate::live`]), without re-encoding.
//!
//! ```text
//!  demux pad ─▶ tee ─┬─▶ replay branch (crate::segmenter)
//!                    └─▶ queue (held until the demuxer has all its pads)
//!                         ├─ H.264 ─▶ h264parse ─▶ capsfilter (avc, au) ─▶ isofmp4mux.sink_0
//!                         └─ AAC ───▶ aacparse ──────────────────────────▶ isofmp4mux.sink_1
//!  isofmp4mux ─▶ appsink (buffer lists: init section, then moof + mdat per chunk)
//! ```
//!
//! The muxer comes from gst-plugins-rs (`gst-plugin-fmp4`, registered
//! statically; Debian's GStreamer 1.22 has no fMP4 muxer). It is built only
//! once the demuxer says it has all its pads, because it cannot take a pad
//! after it wrote its header; until then the branch's queues hold the data.
//!
//! Cutting is ours, not the muxer's (its `manual-split` mode): a probe on
//! the video branch decides every cut — a fragment (our segment) at a
//! keyframe once the segment holds `min_segment`, a chunk (a part) every
//! fifth of a second at any frame — and puts the muxer's `FMP4MuxSplitNow`
//! event before that frame. The audio branch gets the same cuts at the same
//! times: its probe lets an audio frame through only once the video has
//! reached it, so it knows every cut before it. (The muxer's own timing
//! cuts, tried first, keep audio back for a whole GOP when the GOP is
//! longer than `fragment-duration` — 8 s of silence per part with OBS's
//! default keyframe interval — and its `split-at-running-time` misses or
//! stalls when asked at a keyframe.) The same probe measures the encoder's
//! keyframe interval.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::error::MediaError;
use crate::live::{Chunk, Track};
use crate::segmenter::Clock;

/// A part is cut at the first frame this far (decode time) past the
/// part's start: 200 ms at 25, 30, 50 and 60 fps, within the 250 ms
/// `PART-TARGET` (`crate::live::TrackConfig`) down to 8 fps.
const CHUNK_NS: u64 = 200_000_000;

/// The latency the muxer reports for fragments (it cuts only where told).
const FRAGMENT_NS: u64 = 2_000_000_000;

/// How long an audio frame waits for the video to reach it before it goes
/// on without knowing the cuts (the picture froze, say; a loaded machine
/// can hold the video's thread back for a while, so not too short).
const AUDIO_WAIT: Duration = Duration::from_secs(2);

/// How long a stream's EOS waits for the other stream's at the muxer.
/// fmp4mux 0.14 in manual-split mode panics (an assertion in its drain)
/// when one stream is at EOS with data after its last cut while the other
/// is not; seen about once in twenty full test runs with a stream cut off
/// mid-GOP, under load. Holding each EOS until both streams have one makes
/// the muxer get them microseconds apart instead of as far apart as the
/// streams' threads drift; it narrows the race, it cannot close it from
/// outside the muxer. Bounded, so a stream that never ends cannot hold the
/// other forever.
const EOS_WAIT: Duration = Duration::from_secs(2);

/// How long the muxer waits for a stream that is late before it makes a
/// chunk without it (aggregator latency in a live pipeline).
const MUX_LATENCY_NS: u64 = 1_000_000_000;

/// How much the hold queue keeps before the muxer starts.
const HOLD_BYTES: u32 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Video,
    Audio,
}

/// One stream's branch, waiting for the muxer.
struct Pending {
    kind: Kind,
    /// The branch's last element's src pad, to be linked to the muxer.
    out: gst::Pad,
    /// The hold on the branch's queue.
    held: gst::Pad,
    probe: Option<gst::PadProbeId>,
}

/// The cuts the video decided, for the audio to follow.
#[derive(Default)]
struct Cuts {
    /// Running time the video has reached (ns).
    video_at: u64,
    /// No more video is coming (EOS), or there is none.
    video_done: bool,
    /// Cuts not yet applied to the audio: (running time, is a chunk).
    pending: VecDeque<(u64, bool)>,
    /// The audio follows (it has a branch).
    has_audio: bool,
    /// Where the current segment and part began (running time, ns).
    segment_start: Option<u64>,
    part_start: u64,
    /// The last keyframe's running time (for the interval).
    last_keyframe: Option<u64>,
    /// Durations of the parts cut but not yet out of the muxer, oldest
    /// first: the span between the presentation times of the frames the
    /// cuts went before, so a segment's parts add up to it exactly (keyframe
    /// to keyframe; the muxer's own chunk durations mix the audio's ends in).
    durations: VecDeque<u64>,
    /// Presentation time of the frame the current part began with.
    last_cut_pts: Option<u64>,
    /// The newest audio frame to reach the audio's probe (ns).
    audio_seen: u64,
    /// No more audio is coming (EOS).
    audio_done: bool,
    /// The audio did not reach a cut in time once and has not moved since:
    /// cuts are skipped without waiting until it does.
    audio_stalled: bool,
}

/// The live branch of one pipeline.
pub(crate) struct LiveBranch {
    track: Track,
    clock: Arc<Mutex<Clock>>,
    min_segment_ns: u64,
    pending: Mutex<Vec<Pending>>,
    started: AtomicBool,
    cuts: Mutex<Cuts>,
    /// Either branch moved (or ended): the other may be waiting.
    moved: Condvar,
}

fn make(factory: &'static str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory))
}

/// Registers the fMP4 muxers with GStreamer (once per process).
pub(crate) fn register() -> Result<(), MediaError> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| gstfmp4::plugin_register_static().map_err(|e| e.to_string()))
        .clone()
        .map_err(MediaError::Link)
}

impl LiveBranch {
    pub(crate) fn new(
        track: Track,
        clock: Arc<Mutex<Clock>>,
        min_segment: std::time::Duration,
    ) -> Arc<LiveBranch> {
        Arc::new(LiveBranch {
            track,
            clock,
            min_segment_ns: min_segment.as_nanos() as u64,
            pending: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
            cuts: Mutex::new(Cuts::default()),
            moved: Condvar::new(),
        })
    }

    /// Adds one stream's branch from `tee`, held until [`LiveBranch::start`].
    pub(crate) fn add_stream(
        self: &Arc<Self>,
        pipeline: &gst::Pipeline,
        tee: &gst::Element,
        kind: Kind,
    ) -> Result<(), MediaError> {
        if self.started.load(Ordering::SeqCst) {
            tracing::warn!(
                ?kind,
                "a stream appeared after the live muxer started: not in LL-HLS"
            );
            return Ok(());
        }
        let queue = make("queue")?;
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-time", 0u64);
        queue.set_property("max-size-bytes", HOLD_BYTES);
        let mut chain = vec![queue.clone()];
        match kind {
            Kind::Video => {
                chain.push(make("h264parse")?);
                let filter = make("capsfilter")?;
                filter.set_property(
                    "caps",
                    gst::Caps::builder("video/x-h264")
                        .field("stream-format", "avc")
                        .field("alignment", "au")
                        .build(),
                );
                chain.push(filter);
            }
            Kind::Audio => chain.push(make("aacparse")?),
        }
        pipeline.add_many(&chain)?;
        gst::Element::link_many(&chain)?;
        let tee_pad = tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| MediaError::Link("tee gave no pad".into()))?;
        let queue_sink = queue
            .static_pad("sink")
            .ok_or_else(|| MediaError::Link("queue without a sink pad".into()))?;
        tee_pad.link(&queue_sink)?;
        let held = queue
            .static_pad("src")
            .ok_or_else(|| MediaError::Link("queue without a src pad".into()))?;
        let probe = held.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| {
            gst::PadProbeReturn::Ok
        });
        let last = chain.last().cloned().unwrap_or(queue);
        let out = last
            .static_pad("src")
            .ok_or_else(|| MediaError::Link("branch without a src pad".into()))?;
        self.watch(&out, kind);
        for e in &chain {
            e.sync_state_with_parent()?;
        }
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Pending {
                kind,
                out,
                held,
                probe,
            });
        Ok(())
    }

    /// Builds the muxer for the streams added so far and lets them flow.
    pub(crate) fn start(self: &Arc<Self>, pipeline: &gst::Pipeline) -> Result<(), MediaError> {
        if self.started.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let mut pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.is_empty() {
            return Ok(());
        }
        // Video first: track 1 is the picture.
        pending.sort_by_key(|p| p.kind != Kind::Video);
        {
            let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
            cuts.has_audio = pending.iter().any(|p| p.kind == Kind::Audio);
            cuts.video_done = !pending.iter().any(|p| p.kind == Kind::Video);
        }
        let mux = make("isofmp4mux")?;
        mux.set_property("manual-split", true);
        mux.set_property("fragment-duration", FRAGMENT_NS);
        mux.set_property("chunk-duration", CHUNK_NS);
        mux.set_property("latency", MUX_LATENCY_NS);
        let sink = gst_app::AppSink::builder()
            .sync(false)
            .buffer_list(true)
            .enable_last_sample(false)
            .build();
        let this = Arc::downgrade(self);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    if let Some(this) = this.upgrade() {
                        this.on_sample(&sample);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline.add_many([&mux, sink.upcast_ref()])?;
        mux.link(&sink)?;
        for p in &pending {
            let pad = mux
                .request_pad_simple("sink_%u")
                .ok_or_else(|| MediaError::Link("isofmp4mux gave no pad".into()))?;
            p.out.link(&pad)?;
        }
        sink.sync_state_with_parent()?;
        mux.sync_state_with_parent()?;
        for p in &mut pending {
            if let Some(probe) = p.probe.take() {
                p.held.remove_probe(probe);
            }
        }
        Ok(())
    }

    /// Watches a branch's last pad: each frame gets the cuts due before it
    /// (the video decides them, [`LiveBranch::video_cut`]; the audio
    /// follows, [`LiveBranch::audio_cuts`]) and an EOS ends the cutting.
    fn watch(self: &Arc<Self>, pad: &gst::Pad, kind: Kind) {
        let this = Arc::downgrade(self);
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |pad, info| {
                let Some(this) = this.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                if let Some(gst::PadProbeData::Event(event)) = &info.data {
                    if event.type_() == gst::EventType::Eos {
                        this.ended(kind);
                        this.wait_for_both_ends();
                    }
                    return gst::PadProbeReturn::Ok;
                }
                let Some(buffer) = info.buffer() else {
                    return gst::PadProbeReturn::Ok;
                };
                let Some(pts) = running_time(pad, buffer.pts()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let due: Vec<bool> = match kind {
                    Kind::Video => {
                        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                        let dts = running_time(pad, buffer.dts_or_pts()).unwrap_or(pts);
                        this.video_cut(keyframe, pts, dts).into_iter().collect()
                    }
                    Kind::Audio => this.audio_cuts(pts),
                };
                for chunk in due {
                    pad.push_event(split_now(chunk));
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    /// Whether a cut goes before this video frame (`Some(is a chunk)`).
    ///
    /// A cut is made only once the audio has a frame at or after it (so it
    /// will get the same cut), and none once either stream has ended: what
    /// is left then drains at the end. fmp4mux 0.14 in manual-split mode
    /// panics when it drains a stream that is at EOS with data after its
    /// last cut while another stream is not at EOS.
    fn video_cut(&self, keyframe: bool, pts: u64, dts: u64) -> Option<bool> {
        let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        if keyframe
            && let Some(last) = cuts.last_keyframe.replace(pts)
            && pts > last
        {
            self.track
                .set_keyframe_interval_ms((pts - last) / 1_000_000);
        }
        cuts.video_at = cuts.video_at.max(pts);
        self.moved.notify_all();
        let want = match cuts.segment_start {
            // The muxer opens the first fragment on the first frame itself.
            None => {
                cuts.segment_start = Some(pts);
                cuts.part_start = dts;
                cuts.last_cut_pts = Some(pts);
                return None;
            }
            Some(start) if keyframe && pts.saturating_sub(start) >= self.min_segment_ns => false,
            Some(_) if dts.saturating_sub(cuts.part_start) >= CHUNK_NS => true,
            Some(_) => return None,
        };
        if cuts.has_audio {
            if cuts.audio_done || (cuts.audio_stalled && cuts.audio_seen < pts) {
                return None;
            }
            if cuts.audio_seen < pts {
                let (waited, timeout) = self
                    .moved
                    .wait_timeout_while(cuts, AUDIO_WAIT, |c| !c.audio_done && c.audio_seen < pts)
                    .unwrap_or_else(|e| e.into_inner());
                cuts = waited;
                if timeout.timed_out() {
                    cuts.audio_stalled = true;
                }
                if cuts.audio_done || cuts.audio_seen < pts {
                    return None;
                }
            }
            cuts.pending.push_back((pts, want));
        }
        if !want {
            cuts.segment_start = Some(pts);
        }
        cuts.part_start = dts;
        if let Some(start) = cuts.last_cut_pts.replace(pts) {
            cuts.durations.push_back(pts.saturating_sub(start));
        }
        Some(want)
    }

    /// A stream ended: no more cuts (see [`LiveBranch::video_cut`]).
    fn ended(&self, kind: Kind) {
        let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        match kind {
            Kind::Video => cuts.video_done = true,
            Kind::Audio => cuts.audio_done = true,
        }
        drop(cuts);
        self.moved.notify_all();
    }

    /// Holds an EOS until every stream of the branch has one ([`EOS_WAIT`]).
    fn wait_for_both_ends(&self) {
        let cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .moved
            .wait_timeout_while(cuts, EOS_WAIT, |c| {
                !(c.video_done && (c.audio_done || !c.has_audio))
            })
            .unwrap_or_else(|e| e.into_inner());
    }

    /// The cuts due before an audio frame at `pts`, once the video is there.
    fn audio_cuts(&self, pts: u64) -> Vec<bool> {
        let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        // The video may be waiting for the audio to reach its cut.
        cuts.audio_seen = cuts.audio_seen.max(pts);
        cuts.audio_stalled = false;
        self.moved.notify_all();
        let (mut cuts, _) = self
            .moved
            .wait_timeout_while(cuts, AUDIO_WAIT, |c| !c.video_done && c.video_at < pts)
            .unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        while let Some(&(at, chunk)) = cuts.pending.front() {
            if at > pts {
                break;
            }
            cuts.pending.pop_front();
            due.push(chunk);
        }
        // Two cuts before one audio frame would leave an empty chunk: keep
        // the last (a fragment wins over a chunk).
        if due.len() > 1 {
            let fragment = due.iter().any(|c| !c);
            due = vec![!fragment];
        }
        due
    }

    /// One buffer list from the muxer: maybe an init section, then one chunk.
    fn on_sample(&self, sample: &gst::Sample) {
        let Some(list) = sample.buffer_list() else {
            return;
        };
        let segment = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
        let mut chunk = BytesMut::new();
        let mut head: Option<(bool, Option<gst::ClockTime>, u64)> = None;
        for buffer in list.iter() {
            let flags = buffer.flags();
            let Ok(map) = buffer.map_readable() else {
                continue;
            };
            // The init section (`ftyp` + `moov`), before the first chunk or
            // after a change of caps.
            if flags.contains(gst::BufferFlags::HEADER) && map.get(4..8) == Some(b"ftyp") {
                self.track.init(Bytes::copy_from_slice(&map));
                continue;
            }
            if head.is_none() {
                // The moof: a fragment's first chunk is not a delta unit.
                head = Some((
                    !flags.contains(gst::BufferFlags::DELTA_UNIT),
                    buffer.pts(),
                    buffer.duration().map_or(0, |d| d.nseconds()),
                ));
            }
            chunk.extend_from_slice(&map);
        }
        let Some((independent, pts, muxer_duration)) = head else {
            return;
        };
        let duration_ns = {
            let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
            // The chunks drained at the end (after the last cut) have only
            // the muxer's figure, which runs to the audio's end; the
            // playlist may not list a part past its target.
            cuts.durations.pop_front().unwrap_or_else(|| {
                muxer_duration.min(self.track.config().part_target.as_nanos() as u64)
            })
        };
        let rt = segment
            .as_ref()
            .and_then(|s| s.to_running_time(pts))
            .map_or(0, |t| t.nseconds());
        let wall_ms = self
            .clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wall(rt);
        self.track.chunk(Chunk {
            bytes: chunk.freeze(),
            duration_ns,
            independent,
            wall_ms,
        });
    }
}

/// The muxer's `FMP4MuxSplitNow`: a fragment, or (`chunk`) a chunk, starts
/// with the next buffer.
fn split_now(chunk: bool) -> gst::Event {
    gst::event::CustomDownstream::new(
        gst::Structure::builder("FMP4MuxSplitNow")
            .field("chunk", chunk)
            .build(),
    )
}

/// A buffer's running time on `pad`, from its segment.
fn running_time(pad: &gst::Pad, pts: Option<gst::ClockTime>) -> Option<u64> {
    let event = pad.sticky_event::<gst::event::Segment>(0)?;
    let segment = event.segment().downcast_ref::<gst::ClockTime>()?.clone();
    segment.to_running_time(pts?).map(|t| t.nseconds())
}
