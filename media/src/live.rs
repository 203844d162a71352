//! The live edge of one stream, as LL-HLS: fMP4 parts kept in memory as they
//! are produced, the playlist rendered once per change, and blocking reloads.
//!
//! A [`Track`] outlives publishing sessions: a publisher that reconnects
//! continues the media sequence, its first segment carries a discontinuity
//! (timestamps restart) and its own init section. The pipeline side
//! ([`crate::fmp4`]) calls [`Track::begin_session`], [`Track::init`],
//! [`Track::chunk`] and [`Track::end_session`] from GStreamer's streaming
//! thread; those only take a short lock, never block on I/O, and wake every
//! waiting request through a `watch` channel.
//!
//! Numbering. Segments are numbered by media sequence number (msn); parts
//! by one counter for the whole track, so the preload hint always names the
//! next part whether or not it will open a new segment (an encoder's
//! keyframe is only known when it arrives). URIs: `init{n}.mp4`,
//! `seg{msn}.m4s`, `part{n}.m4s`.
//!
//! Memory: complete segments are kept while they are within the window
//! (`TrackConfig::window`, never fewer than four); a closed segment's bytes
//! are one buffer and its parts are slices of it, so a part costs nothing
//! more once its segment is complete.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

use crate::hls;

/// How a track cuts and keeps the stream.
#[derive(Debug, Clone)]
pub struct TrackConfig {
    /// Complete segments kept and listed, by duration.
    pub window: Duration,
    /// The longest a part may be (`PART-TARGET`).
    pub part_target: Duration,
    /// How far behind the live edge an LL-HLS player stays (`PART-HOLD-BACK`,
    /// at least twice the part target per the spec).
    pub part_hold_back: Duration,
}

/// Parts of 200 ms (`crate::fmp4`) under a 250 ms target, and players two
/// targets behind the live edge (the spec's minimum; it recommends three).
/// Measured in Chromium (BENCHMARKS.md), 0.75 s behind gave a median of
/// 1.85 s glass to glass, 0.5 s gave 1.68 s, and 0.25 s (under a part)
/// 1.44 s with a p95 of 2.3 s and half the frames lost to stalls. What
/// bounds it beside this: the encoder's own delay and the last part's
/// making.
impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            window: Duration::from_secs(30),
            part_target: Duration::from_millis(250),
            part_hold_back: Duration::from_millis(500),
        }
    }
}

/// One fMP4 chunk (`moof` + `mdat`) as the muxer produced it.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub bytes: Bytes,
    pub duration_ns: u64,
    /// Starts with a keyframe: opens a segment.
    pub independent: bool,
    /// Wall clock of its first frame at ingest, Unix epoch milliseconds.
    pub wall_ms: i64,
}

/// A part's place in the track.
#[derive(Debug, Clone)]
struct Part {
    /// Global part number (the URI).
    number: u64,
    duration_ns: u64,
    independent: bool,
    /// Its bytes: its own buffer while the segment is open, a slice of the
    /// segment's once closed.
    bytes: Bytes,
}

#[derive(Debug, Clone)]
struct Seg {
    msn: u64,
    init: u64,
    /// The first segment of a publishing session after an earlier one.
    discontinuity: bool,
    /// Wall clock of its first frame (`EXT-X-PROGRAM-DATE-TIME`).
    wall_ms: i64,
    parts: Vec<Part>,
    /// The whole segment, once closed.
    bytes: Option<Bytes>,
}

impl Seg {
    fn duration_ns(&self) -> u64 {
        self.parts.iter().map(|p| p.duration_ns).sum()
    }
}

/// A timed event of the show, listed as `EXT-X-DATERANGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    /// Unique within the track.
    pub id: String,
    /// `CLASS`, say `com.dropcast.pin`.
    pub class: String,
    /// Wall clock of its moment, Unix epoch milliseconds.
    pub start_ms: i64,
    /// Its end (`END-DATE`), if it has one.
    pub end_ms: Option<i64>,
    /// Client attributes (`X-…`), values written as quoted strings.
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Window {
    /// Init sections by number; only those a kept segment uses stay.
    inits: VecDeque<(u64, Bytes)>,
    next_init: u64,
    /// Complete segments, oldest first, then the open one (if `open`).
    segs: VecDeque<Seg>,
    open: bool,
    next_msn: u64,
    next_part: u64,
    /// Discontinuities that left the front of the window.
    discontinuity_seq: u64,
    /// A session is on; cleared at its end (`EXT-X-ENDLIST`).
    live: bool,
    /// The next segment starts a session after an earlier one.
    pending_discontinuity: bool,
    /// Wall clock of the session's first frame, and the stream time since.
    session_wall_ms: i64,
    session_elapsed_ns: u64,
    /// `EXT-X-TARGETDURATION`, seconds: the longest segment seen, never less.
    target_s: u64,
    dateranges: VecDeque<DateRange>,
    version: u64,
    rendered: Option<(u64, Bytes)>,
}

/// Why a blocking reload or part request was not answered with data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `_HLS_part` without `_HLS_msn`, or a request far past the live edge
    /// (400 per the spec).
    BadRequest,
    /// Nothing arrived within three target durations (503).
    Timeout,
    /// No such part or segment (404).
    Gone,
}

struct Shared {
    config: TrackConfig,
    window: Mutex<Window>,
    changed: watch::Sender<u64>,
    /// The encoder's keyframe interval as last measured, ms (0: not yet).
    keyframe_interval_ms: AtomicU64,
}

/// The LL-HLS window of one stream. Cheap to clone.
#[derive(Clone)]
pub struct Track(Arc<Shared>);

impl std::fmt::Debug for Track {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.lock();
        f.debug_struct("Track")
            .field("live", &w.live)
            .field("segments", &w.segs.len())
            .field("next_msn", &w.next_msn)
            .field("next_part", &w.next_part)
            .finish()
    }
}

/// How many parts ahead of the newest a request may ask for (the spec's
/// Advance Part Limit).
const ADVANCE_PART_LIMIT: u64 = 3;

impl Track {
    /// A track whose first segment is numbered `first_msn`.
    pub fn new(config: TrackConfig, first_msn: u64) -> Track {
        let (changed, _) = watch::channel(0);
        Track(Arc::new(Shared {
            config,
            window: Mutex::new(Window {
                next_msn: first_msn,
                target_s: 2,
                ..Window::default()
            }),
            changed,
            keyframe_interval_ms: AtomicU64::new(0),
        }))
    }

    /// The encoder's keyframe interval as last measured (`None` before two
    /// keyframes of the current or last session).
    pub fn keyframe_interval(&self) -> Option<Duration> {
        match self.0.keyframe_interval_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn set_keyframe_interval_ms(&self, ms: u64) {
        self.0
            .keyframe_interval_ms
            .store(ms.max(1), Ordering::Relaxed);
    }

    pub fn config(&self) -> &TrackConfig {
        &self.0.config
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        self.0.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self, mut w: MutexGuard<'_, Window>) {
        w.version += 1;
        w.rendered = None;
        let v = w.version;
        drop(w);
        self.0.changed.send_replace(v);
    }

    /// A publisher went live.
    pub fn begin_session(&self) {
        let mut w = self.lock();
        close_open(&mut w);
        w.pending_discontinuity = !w.segs.is_empty();
        w.live = true;
        self.bump(w);
    }

    /// The init section (`ftyp` + `moov`) for the chunks that follow.
    pub fn init(&self, bytes: Bytes) {
        let mut w = self.lock();
        let n = w.next_init;
        w.next_init += 1;
        w.inits.push_back((n, bytes));
        self.bump(w);
    }

    /// A chunk: the next part, opening a segment if it is independent.
    pub fn chunk(&self, chunk: Chunk) {
        let mut w = self.lock();
        let Some(&(init, _)) = w.inits.back() else {
            tracing::warn!("a chunk before any init section: dropped");
            return;
        };
        if chunk.independent || !w.open {
            let continues = w.open;
            close_open(&mut w);
            let msn = w.next_msn;
            w.next_msn += 1;
            let discontinuity = std::mem::take(&mut w.pending_discontinuity);
            // Within a session, a segment starts where the one before ends
            // (stream time), so the program dates are contiguous.
            if continues {
                let elapsed = w.segs.back().map_or(0, |s| s.duration_ns());
                w.session_elapsed_ns += elapsed;
            } else {
                // Never before the last session's end, even where the two
                // clocks differ by a frame.
                let last_end = w.segs.back().map_or(i64::MIN, |s| {
                    s.wall_ms + (s.duration_ns() / 1_000_000) as i64
                });
                w.session_wall_ms = chunk.wall_ms.max(last_end);
                w.session_elapsed_ns = 0;
            }
            let wall_ms = w.session_wall_ms + (w.session_elapsed_ns / 1_000_000) as i64;
            w.segs.push_back(Seg {
                msn,
                init,
                discontinuity,
                wall_ms,
                parts: Vec::new(),
                bytes: None,
            });
            w.open = true;
        }
        let number = w.next_part;
        w.next_part += 1;
        if let Some(seg) = w.segs.back_mut() {
            seg.parts.push(Part {
                number,
                duration_ns: chunk.duration_ns,
                independent: chunk.independent,
                bytes: chunk.bytes,
            });
            let open_s = seg.duration_ns().div_ceil(1_000_000_000);
            w.target_s = w.target_s.max(open_s);
        }
        trim(&mut w, self.0.config.window);
        self.bump(w);
    }

    /// The publisher stopped: the last segment is closed and the playlist ends.
    pub fn end_session(&self) {
        let mut w = self.lock();
        close_open(&mut w);
        w.live = false;
        trim(&mut w, self.0.config.window);
        self.bump(w);
    }

    /// Adds (or replaces, by id) a timed event.
    pub fn daterange(&self, range: DateRange) {
        let mut w = self.lock();
        w.dateranges.retain(|d| d.id != range.id);
        w.dateranges.push_back(range);
        w.dateranges.make_contiguous().sort_by_key(|d| d.start_ms);
        self.bump(w);
    }

    /// Whether a publisher is on.
    pub fn is_live(&self) -> bool {
        self.lock().live
    }

    /// The playlist now (rendered once per change).
    pub fn playlist(&self) -> Bytes {
        let mut w = self.lock();
        render_cached(&mut w, &self.0.config)
    }

    /// The playlist once it holds segment `msn` (and part `part` of it),
    /// per the spec's blocking reload: at once if it already does or the
    /// stream ended; [`Refused::BadRequest`] if that is too far ahead;
    /// [`Refused::Timeout`] after three target durations.
    pub async fn blocking_playlist(&self, msn: u64, part: Option<u64>) -> Result<Bytes, Refused> {
        let config = &self.0.config;
        self.wait_for(|w| match reached(w, msn, part) {
            Reach::Yes => Some(Ok(render_cached(w, config))),
            Reach::TooFar => Some(Err(Refused::BadRequest)),
            Reach::NotYet => None,
        })
        .await
    }

    /// Part `number`, waiting for it if it is the next one (the preload
    /// hint names it before it exists).
    pub async fn part(&self, number: u64) -> Result<Bytes, Refused> {
        self.wait_for(|w| match find_part(w, number) {
            Some(p) => Some(Ok(p)),
            None if !w.live || number != w.next_part => Some(Err(Refused::Gone)),
            None => None,
        })
        .await
    }

    /// `check`'s answer, asked at once and after every change, for up to
    /// three target durations ([`Refused::Timeout`] after).
    async fn wait_for<T>(
        &self,
        mut check: impl FnMut(&mut Window) -> Option<Result<T, Refused>>,
    ) -> Result<T, Refused> {
        let mut rx = self.0.changed.subscribe();
        let deadline = {
            let mut w = self.lock();
            if let Some(answer) = check(&mut w) {
                return answer;
            }
            tokio::time::Instant::now() + Duration::from_secs(3 * w.target_s.max(1))
        };
        loop {
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(Refused::Timeout),
            }
            if let Some(answer) = check(&mut self.lock()) {
                return answer;
            }
        }
    }

    /// A complete segment.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        let w = self.lock();
        w.segs
            .iter()
            .find(|s| s.msn == msn)
            .and_then(|s| s.bytes.clone())
    }

    /// An init section.
    pub fn init_section(&self, n: u64) -> Option<Bytes> {
        let w = self.lock();
        w.inits
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, b)| b.clone())
    }
}

enum Reach {
    Yes,
    NotYet,
    TooFar,
}

/// Whether the window holds segment `msn` (complete) or, with `part`, that
/// part of it; a part index past a complete segment's last means part 0 of
/// the next.
fn reached(w: &Window, msn: u64, part: Option<u64>) -> Reach {
    if !w.live {
        return Reach::Yes;
    }
    let complete = w.segs.range(..w.segs.len() - usize::from(w.open));
    let last_complete = complete.clone().next_back().map(|s| s.msn);
    let open = if w.open { w.segs.back() } else { None };
    // "Plus two" from the last complete segment (or, before any, the first
    // one to come).
    let base = last_complete.unwrap_or(w.next_msn.saturating_sub(1));
    if msn > base + 2 {
        return Reach::TooFar;
    }
    match part {
        None => {
            if last_complete.is_some_and(|l| l >= msn)
                || w.segs.front().is_some_and(|f| f.msn > msn)
            {
                Reach::Yes
            } else {
                Reach::NotYet
            }
        }
        Some(p) => {
            if w.segs.front().is_some_and(|f| f.msn > msn) {
                return Reach::Yes;
            }
            if let Some(seg) = complete.clone().find(|s| s.msn == msn) {
                if (p as usize) < seg.parts.len() {
                    return Reach::Yes;
                }
                // Past its last part: part 0 of the next segment.
                return match w.segs.iter().find(|s| s.msn == msn + 1) {
                    Some(next) if !next.parts.is_empty() => Reach::Yes,
                    _ => Reach::NotYet,
                };
            }
            if last_complete.is_some_and(|l| l > msn) {
                return Reach::Yes;
            }
            match open {
                Some(seg) if seg.msn == msn => {
                    let have = seg.parts.len() as u64;
                    if p < have {
                        Reach::Yes
                    } else if p >= have + ADVANCE_PART_LIMIT {
                        Reach::TooFar
                    } else {
                        Reach::NotYet
                    }
                }
                Some(seg) if seg.msn > msn => Reach::Yes,
                _ => Reach::NotYet,
            }
        }
    }
}

fn find_part(w: &Window, number: u64) -> Option<Bytes> {
    w.segs
        .iter()
        .flat_map(|s| s.parts.iter())
        .find(|p| p.number == number)
        .map(|p| p.bytes.clone())
}

/// Closes the open segment: its parts become slices of one buffer.
fn close_open(w: &mut Window) {
    if !w.open {
        return;
    }
    w.open = false;
    let Some(seg) = w.segs.back_mut() else {
        return;
    };
    let mut all = BytesMut::with_capacity(seg.parts.iter().map(|p| p.bytes.len()).sum());
    for p in &seg.parts {
        all.extend_from_slice(&p.bytes);
    }
    let all = all.freeze();
    let mut at = 0;
    for p in &mut seg.parts {
        let len = p.bytes.len();
        p.bytes = all.slice(at..at + len);
        at += len;
    }
    let secs = seg.duration_ns().div_ceil(1_000_000_000);
    seg.bytes = Some(all);
    w.target_s = w.target_s.max(secs);
}

/// Drops complete segments beyond the window (never below four), and the
/// init sections and date ranges nothing kept refers to.
fn trim(w: &mut Window, window: Duration) {
    let complete = w.segs.len() - usize::from(w.open);
    let mut kept_ns: u64 = w.segs.iter().take(complete).map(|s| s.duration_ns()).sum();
    let mut dropped = 0;
    while complete - dropped > 4 {
        let front = &w.segs[0];
        let d = front.duration_ns();
        if kept_ns.saturating_sub(d) < window.as_nanos() as u64 {
            break;
        }
        kept_ns -= d;
        let gone = w.segs.pop_front();
        // A discontinuity tag that leaves the playlist counts in
        // EXT-X-DISCONTINUITY-SEQUENCE (a kept first segment keeps its tag).
        if gone.is_some_and(|g| g.discontinuity) {
            w.discontinuity_seq += 1;
        }
        dropped += 1;
    }
    if let Some(oldest_init) = w.segs.front().map(|s| s.init) {
        while w.inits.len() > 1 && w.inits.front().is_some_and(|(n, _)| *n < oldest_init) {
            w.inits.pop_front();
        }
    }
    if let Some(first_ms) = w.segs.front().map(|s| s.wall_ms) {
        // Of the ranges older than the window, the newest of each class
        // stays: the state it set (a pin, say) still holds at the first
        // segment.
        let mut newest_old: std::collections::HashMap<&str, i64> = Default::default();
        for d in w.dateranges.iter().filter(|d| d.start_ms < first_ms) {
            let e = newest_old.entry(d.class.as_str()).or_insert(d.start_ms);
            *e = (*e).max(d.start_ms);
        }
        let keep: Vec<bool> = w
            .dateranges
            .iter()
            .map(|d| {
                d.start_ms >= first_ms || newest_old.get(d.class.as_str()) == Some(&d.start_ms)
            })
            .collect();
        let mut keep = keep.into_iter();
        w.dateranges.retain(|_| keep.next().unwrap_or(true));
    }
}

fn render_cached(w: &mut Window, config: &TrackConfig) -> Bytes {
    if let Some((v, text)) = &w.rendered
        && *v == w.version
    {
        return text.clone();
    }
    let text = Bytes::from(render(w, config));
    w.rendered = Some((w.version, text.clone()));
    text
}

fn render(w: &Window, config: &TrackConfig) -> String {
    let edge_ns: u64 = w.segs.iter().map(|s| s.duration_ns()).sum();
    // Parts are listed for the segments within three target durations of
    // the live edge.
    let parts_from_ns = edge_ns.saturating_sub(3 * w.target_s * 1_000_000_000);
    let mut at_ns = 0;
    let mut segments = Vec::with_capacity(w.segs.len());
    for (i, s) in w.segs.iter().enumerate() {
        let d = s.duration_ns();
        let is_open = w.open && i + 1 == w.segs.len();
        let list_parts = is_open || at_ns + d > parts_from_ns;
        segments.push(hls::LlSegment {
            msn: s.msn,
            init_uri: format!("init{}.mp4", s.init),
            discontinuity: s.discontinuity,
            wall_ms: s.wall_ms,
            duration_ns: d,
            uri: (!is_open).then(|| format!("seg{}.m4s", s.msn)),
            parts: if list_parts {
                s.parts
                    .iter()
                    .map(|p| hls::LlPart {
                        duration_ns: p.duration_ns,
                        independent: p.independent,
                        uri: format!("part{}.m4s", p.number),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        });
        at_ns += d;
    }
    hls::ll_playlist(&hls::LlPlaylist {
        target_s: w.target_s,
        part_target: config.part_target,
        part_hold_back: config.part_hold_back,
        first_msn: w.segs.front().map_or(w.next_msn, |s| s.msn),
        discontinuity_seq: w.discontinuity_seq,
        segments,
        preload_part: w.live.then(|| format!("part{}.m4s", w.next_part)),
        dateranges: w.dateranges.iter().cloned().collect(),
        ended: !w.live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(independent: bool, ms: u64, wall_ms: i64) -> Chunk {
        Chunk {
            bytes: Bytes::from(vec![independent as u8; 10]),
            duration_ns: ms * 1_000_000,
            independent,
            wall_ms,
        }
    }

    fn track() -> Track {
        let t = Track::new(TrackConfig::default(), 100);
        t.begin_session();
        t.init(Bytes::from_static(b"init"));
        t
    }

    #[test]
    fn parts_fill_segments_and_close_at_keyframes() {
        let t = track();
        t.chunk(chunk(true, 500, 1_000));
        t.chunk(chunk(false, 500, 1_500));
        t.chunk(chunk(true, 500, 2_000));
        let p = String::from_utf8(t.playlist().to_vec()).unwrap();
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:100\n"), "{p}");
        assert!(p.contains("#EXTINF:1.00000,\nseg100.m4s\n"), "{p}");
        assert!(p.contains("URI=\"part0.m4s\",INDEPENDENT=YES"), "{p}");
        assert!(p.contains("URI=\"part1.m4s\"\n"), "{p}");
        assert!(p.contains("URI=\"part2.m4s\",INDEPENDENT=YES"), "{p}");
        assert!(
            p.ends_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part3.m4s\"\n"),
            "{p}"
        );
        assert_eq!(t.segment(100).unwrap().len(), 20);
        assert!(
            t.segment(101).is_none(),
            "the open segment is not served whole"
        );
    }

    #[tokio::test]
    async fn blocking_reload_answers_when_the_part_exists() {
        let t = track();
        t.chunk(chunk(true, 500, 0));
        // Part 0 of 100 exists: at once.
        assert!(t.blocking_playlist(100, Some(0)).await.is_ok());
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move { t.blocking_playlist(100, Some(1)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "answered before the part existed");
        t.chunk(chunk(false, 500, 500));
        let p = waiter.await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&p).contains("part1.m4s"));
    }

    #[tokio::test]
    async fn past_a_segments_last_part_means_the_next_segment() {
        let t = track();
        t.chunk(chunk(true, 500, 0));
        t.chunk(chunk(true, 500, 500));
        // Segment 100 has one part; part 1 of it means part 0 of 101: there.
        assert!(t.blocking_playlist(100, Some(1)).await.is_ok());
        assert!(t.blocking_playlist(100, None).await.is_ok());
    }

    #[tokio::test]
    async fn too_far_ahead_is_a_bad_request() {
        let t = track();
        t.chunk(chunk(true, 500, 0));
        t.chunk(chunk(true, 500, 500));
        assert_eq!(
            t.blocking_playlist(103, None).await.unwrap_err(),
            Refused::BadRequest
        );
        assert_eq!(
            t.blocking_playlist(101, Some(4)).await.unwrap_err(),
            Refused::BadRequest
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_new_times_out_after_three_target_durations() {
        let t = track();
        t.chunk(chunk(true, 500, 0));
        let r = t.blocking_playlist(101, None).await;
        assert_eq!(r.unwrap_err(), Refused::Timeout);
    }

    #[tokio::test]
    async fn the_hinted_part_is_waited_for_and_others_are_gone() {
        let t = track();
        t.chunk(chunk(true, 500, 0));
        assert!(t.part(0).await.is_ok());
        assert_eq!(t.part(5).await.unwrap_err(), Refused::Gone);
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move { t.part(1).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        t.chunk(chunk(false, 500, 500));
        assert_eq!(waiter.await.unwrap().unwrap().len(), 10);
    }

    #[test]
    fn a_reconnect_continues_the_sequence_with_a_discontinuity() {
        let t = track();
        t.chunk(chunk(true, 500, 0));
        t.end_session();
        let ended = String::from_utf8(t.playlist().to_vec()).unwrap();
        assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
        assert!(!ended.contains("PRELOAD-HINT"));
        t.begin_session();
        t.init(Bytes::from_static(b"init2"));
        t.chunk(chunk(true, 500, 10_000));
        t.chunk(chunk(true, 500, 10_500));
        let p = String::from_utf8(t.playlist().to_vec()).unwrap();
        assert!(
            p.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\"\n"),
            "{p}"
        );
        assert!(p.contains("seg100.m4s\n"));
        assert!(p.contains("seg101.m4s\n"));
        assert!(!p.contains("ENDLIST"));
    }

    #[test]
    fn the_window_drops_old_segments_and_counts_their_discontinuities() {
        let t = Track::new(
            TrackConfig {
                window: Duration::from_secs(4),
                ..TrackConfig::default()
            },
            0,
        );
        for session in 0..3 {
            t.begin_session();
            t.init(Bytes::from_static(b"i"));
            for i in 0..4 {
                t.chunk(chunk(true, 1000, session * 10_000 + i * 1000));
            }
            t.end_session();
        }
        let p = String::from_utf8(t.playlist().to_vec()).unwrap();
        // 12 segments made, 4 kept (4 s): the first two sessions' gone,
        // with one discontinuity (the second session's); the third's first
        // segment keeps its tag.
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:8\n"), "{p}");
        assert!(p.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{p}");
        assert!(p.contains("#EXT-X-DISCONTINUITY\n"), "{p}");
        assert_eq!(p.matches("#EXTINF").count(), 4);
        assert!(t.init_section(0).is_none());
        assert!(t.init_section(2).is_some());
    }
}
