//! Clip exports: which segments a request means, and the workers that make
//! the files.
//!
//! Jobs live in the `clips` table, so a restart finds them again: a running
//! clip names the process making it, and goes back to the queue once that
//! process is gone (this node restarted, or another node's lease lapsed). Two workers take jobs: one for
//! `original` cuts (remux only, well under a second each) and one for
//! `vertical` re-encodes, so a long encode never delays a quick cut. The
//! encoder uses one thread (`x264enc threads=1`, `avdec_h264 max-threads=1`):
//! on a 2-core machine a vertical export takes at most one core, and the live
//! channel, checkout and ingest keep the other.
//!
//! Progress is written to the database and sent on the show's live channel to
//! its creator's and editors' sockets, at most every 2%.
//!
//! A finished clip gets a poster: its first frame (the first segment starts
//! on a keyframe), kept in the database so any node serves it to the
//! clip's page and to link previews.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::configuration::Settings;
use crate::live::{Change, Hub};
use crate::replay::replay_dir;
use crate::store::clips::{self as store, ClipRow};
use crate::store::media::SegmentRow;

/// The longest clip one may ask for.
pub const MAX_CLIP_MS: i64 = 60_000;

/// The segments a clip is made of and the span it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub first_seq: i64,
    pub last_seq: i64,
    /// The keyframe the clip starts on: at or before the asked start.
    pub start_ms: i64,
    /// Where the clip ends: the asked end (the frames after it are dropped),
    /// or the end of the buffer if that comes first.
    pub end_ms: i64,
    /// What was asked, so the desk can say how far the start moved.
    pub asked_start_ms: i64,
}

/// Chooses the segments for `[start_ms, end_ms)`. A cut without re-encoding
/// must begin on a keyframe, and segments begin on one: the start snaps back
/// to the beginning of the segment holding it (nothing asked for is lost;
/// the desk says how much earlier it begins). The end needs no keyframe: the
/// segment holding it is the last, and the media after `end_ms` is dropped
/// when the clip is made. A clip never spans a reconnect (timestamps restart
/// there): it keeps the most recent session inside the span. `segments` are
/// oldest first.
pub fn pick(segments: &[SegmentRow], start_ms: i64, end_ms: i64) -> Option<Pick> {
    let overlapping: Vec<&SegmentRow> = segments
        .iter()
        .filter(|s| s.end_ms > start_ms && s.start_ms < end_ms)
        .collect();
    let from = overlapping
        .iter()
        .rposition(|s| s.starts_session != 0)
        .unwrap_or(0);
    let candidates = &overlapping[from..];
    let first = candidates
        .iter()
        .rev()
        .find(|s| s.start_ms <= start_ms)
        .or_else(|| candidates.first())?;
    let last = candidates.last()?;
    Some(Pick {
        first_seq: first.seq,
        last_seq: last.seq,
        start_ms: first.start_ms,
        end_ms: end_ms.min(last.end_ms),
        asked_start_ms: start_ms,
    })
}

/// The clip as the API shows it.
pub fn view(clip: &ClipRow, settings: &Settings) -> wire::Clip {
    wire::Clip {
        id: clip.id.clone(),
        show_id: clip.show_id.clone(),
        status: clip.status.clone(),
        progress: clip.progress_permille as f64 / 1000.0,
        format: clip.format.clone(),
        start_ms: clip.start_ms,
        end_ms: clip.end_ms,
        asked_start_ms: clip.asked_start_ms,
        duration_ms: clip.duration_ms,
        bytes: clip.bytes,
        product_id: clip.product_id.clone(),
        download_url: (clip.status == "done")
            .then(|| format!("{}/api/v1/clips/{}/file", settings.public_base(), clip.id)),
        error: clip.error.clone(),
        created_at_ms: clip.created_at_ms,
        events: None,
    }
}

/// The clips as the API shows them, each with the show's commerce events
/// inside its span (one query for all of them).
pub async fn views_with_events(
    pool: &AnyPool,
    settings: &Settings,
    show_id: &str,
    clips: &[ClipRow],
) -> Result<Vec<wire::Clip>, sqlx::Error> {
    let (Some(from), Some(to)) = (
        clips.iter().map(|c| c.start_ms).min(),
        clips.iter().map(|c| c.end_ms).max(),
    ) else {
        return Ok(Vec::new());
    };
    let events = crate::store::timeline::events_between(pool, show_id, from, to).await?;
    Ok(clips
        .iter()
        .map(|clip| wire::Clip {
            events: Some(
                events
                    .iter()
                    .filter(|e| (clip.start_ms..=clip.end_ms).contains(&e.at_ms))
                    .cloned()
                    .collect(),
            ),
            ..view(clip, settings)
        })
        .collect())
}

/// Where a clip's file is.
pub fn clip_file(settings: &Settings, clip_id: &str) -> PathBuf {
    settings
        .data_dir
        .join("clips")
        .join(format!("{clip_id}.mp4"))
}

/// The clip workers; [`ClipWorkers::wake`] tells them a job was queued.
#[derive(Clone)]
pub struct ClipWorkers {
    notify: Arc<Notify>,
}

struct Worker {
    pool: AnyPool,
    hub: Hub,
    settings: Arc<Settings>,
    notify: Arc<Notify>,
    format: media::clip::Format,
    /// Whose running clips these are.
    node: Arc<crate::node::NodeIdentity>,
}

async fn requeue_orphans(
    pool: &AnyPool,
    node: &crate::node::NodeIdentity,
) -> Result<(), sqlx::Error> {
    let requeued = store::requeue_orphaned(
        pool,
        &node.node_id,
        &node.instance_id,
        crate::node::NodeIdentity::stale_before_ms(),
    )
    .await?;
    if requeued > 0 {
        tracing::info!(
            clips = requeued,
            "clips left running by a process that is gone are queued again"
        );
    }
    Ok(())
}

impl ClipWorkers {
    /// Requeues what a process that is gone left running (this node's
    /// previous one, or a node whose lease lapsed: at start, then with every
    /// look at the queue) and starts the workers.
    pub async fn start(
        pool: AnyPool,
        hub: Hub,
        settings: Arc<Settings>,
        node: Arc<crate::node::NodeIdentity>,
        shutdown: CancellationToken,
    ) -> Result<ClipWorkers, sqlx::Error> {
        requeue_orphans(&pool, &node).await?;
        let notify = Arc::new(Notify::new());
        for format in [media::clip::Format::Original, media::clip::Format::Vertical] {
            let worker = Worker {
                pool: pool.clone(),
                hub: hub.clone(),
                settings: settings.clone(),
                notify: notify.clone(),
                format,
                node: node.clone(),
            };
            tokio::spawn(worker.run(shutdown.clone()));
        }
        Ok(ClipWorkers { notify })
    }

    /// On a node without the ingest role: clips are made where the
    /// segments are, by ingest nodes, which look at the queue every 5 s.
    pub fn elsewhere() -> ClipWorkers {
        ClipWorkers {
            notify: Arc::new(Notify::new()),
        }
    }

    pub fn wake(&self) {
        self.notify.notify_waiters();
    }
}

fn format_name(format: media::clip::Format) -> &'static str {
    match format {
        media::clip::Format::Original => "original",
        media::clip::Format::Vertical => "vertical",
    }
}

/// Posters are this wide (link previews want at least 600).
pub const POSTER_WIDTH: i32 = 640;

impl Worker {
    /// The clip's poster, from the first frame of its first segment (still
    /// kept by the buffer's cleaner: the clip is not done yet). A clip
    /// without one still works; its page falls back to the product's image.
    async fn make_poster(&self, clip: &ClipRow, dir: &std::path::Path) {
        let segment = dir.join(media::segmenter::segment_file(clip.first_seq as u64));
        let out = clip_file(&self.settings, &clip.id).with_extension("jpg");
        // A vertical clip's poster is the middle its export keeps.
        let aspect = (self.format == media::clip::Format::Vertical).then_some((9, 16));
        let made =
            match media::thumbnail::make_thumbnail_shaped(&segment, &out, POSTER_WIDTH, aspect)
                .await
            {
                Ok(()) => tokio::fs::read(&out).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
        let _ = tokio::fs::remove_file(&out).await;
        match made {
            Ok(jpeg) => {
                if let Err(e) = store::set_poster(&self.pool, &clip.id, &jpeg).await {
                    tracing::warn!(clip = %clip.id, error = %e, "cannot keep the clip's poster");
                }
            }
            Err(e) => tracing::warn!(clip = %clip.id, error = %e, "cannot make the clip's poster"),
        }
    }

    async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = requeue_orphans(&self.pool, &self.node).await {
                tracing::warn!(error = %e, "cannot requeue clips of gone processes");
            }
            loop {
                match store::claim_next(
                    &self.pool,
                    format_name(self.format),
                    &self.node.node_id,
                    &self.node.instance_id,
                    self.settings.redis_url.is_some(),
                )
                .await
                {
                    Ok(Some(clip)) => self.make(clip).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the clip queue");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    fn publish(&self, clip: &ClipRow) {
        self.hub.publish(
            &clip.show_id,
            Change::Clip {
                clip: view(clip, &self.settings),
            },
        );
    }

    async fn make(&self, clip: ClipRow) {
        self.publish(&clip);
        let out = clip_file(&self.settings, &clip.id);
        if let Some(parent) = out.parent() {
            let _ = tokio::fs::create_dir_all(parent).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
        let reporter = {
            let (pool, id, this_hub, settings) = (
                self.pool.clone(),
                clip.id.clone(),
                self.hub.clone(),
                self.settings.clone(),
            );
            tokio::spawn(async move {
                let mut last = 0i64;
                while let Some(p) = rx.recv().await {
                    let permille = (p * 1000.0) as i64;
                    if permille - last < 20 || permille >= 1000 {
                        continue;
                    }
                    last = permille;
                    if let Ok(Some(row)) = store::set_progress(&pool, &id, permille).await {
                        this_hub.publish(
                            &row.show_id,
                            Change::Clip {
                                clip: view(&row, &settings),
                            },
                        );
                    }
                }
            })
        };
        let dir = replay_dir(&self.settings.data_dir, &clip.show_id);
        let length = Duration::from_millis((clip.end_ms - clip.start_ms).max(0) as u64);
        let spec = media::clip::ClipSpec {
            dir: &dir,
            first: clip.first_seq as u64,
            last: clip.last_seq as u64,
            format: self.format,
            limits: media::clip::EncodeLimits::default(),
            expected: length,
            cut_after: Some(length),
            out: &out,
        };
        let started = std::time::Instant::now();
        let result = media::clip::make_clip(spec, move |p| {
            let _ = tx.send(p);
        })
        .await;
        let _ = reporter.await;
        let row = match result {
            Ok(info) => {
                tracing::info!(clip = %clip.id, ms = started.elapsed().as_millis() as u64, duration_ms = info.duration_ms, "clip made");
                self.make_poster(&clip, &dir).await;
                store::finish(&self.pool, &clip.id, info.duration_ms, info.bytes as i64).await
            }
            Err(e) => {
                tracing::warn!(clip = %clip.id, error = %e, "clip failed");
                store::fail(&self.pool, &clip.id, &e.to_string()).await
            }
        };
        match row {
            Ok(Some(row)) => self.publish(&row),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(clip = %clip.id, error = %e, "cannot record the clip's outcome")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Six 2 s segments from t=0; a reconnect at seq 4 (after a gap).
    fn buffer() -> Vec<SegmentRow> {
        let mut out = Vec::new();
        for seq in 0..6 {
            let gap = if seq >= 4 { 5_000 } else { 0 };
            out.push(SegmentRow {
                show_id: "s".into(),
                seq,
                file: format!("{seq}"),
                start_ms: seq * 2000 + gap,
                end_ms: seq * 2000 + 2000 + gap,
                bytes: 1,
                starts_session: i64::from(seq == 0 || seq == 4),
            });
        }
        out
    }

    #[test]
    fn the_start_snaps_back_to_a_keyframe_and_the_end_is_as_asked() {
        let b = buffer();
        // 1.9 s → the keyframe at 0 (never later than asked); the end stays
        // at 5.2 s inside segment 2.
        assert_eq!(
            pick(&b, 1_900, 5_200),
            Some(Pick {
                first_seq: 0,
                last_seq: 2,
                start_ms: 0,
                end_ms: 5_200,
                asked_start_ms: 1_900,
            })
        );
        // On a boundary, that boundary.
        assert_eq!(pick(&b, 2_000, 7_900).unwrap().first_seq, 1);
        // An end past the buffer stops at its end.
        assert_eq!(pick(&b, 0, 7_900).unwrap().end_ms, 7_900);
    }

    #[test]
    fn a_clip_never_spans_a_reconnect() {
        let b = buffer();
        let p = pick(&b, 2_000, 16_500).unwrap();
        assert_eq!((p.first_seq, p.last_seq), (4, 5));
        // The asked start is in the previous session: the clip begins at
        // the reconnect.
        assert_eq!((p.start_ms, p.end_ms), (13_000, 16_500));
        assert_eq!(pick(&b, 2_000, 30_000).unwrap().end_ms, 17_000);
    }

    #[test]
    fn nothing_in_the_span_is_nothing_to_pick() {
        assert_eq!(pick(&buffer(), 100_000, 110_000), None);
        assert_eq!(pick(&[], 0, 10), None);
    }

    #[test]
    fn a_span_inside_one_segment_takes_that_segment() {
        let p = pick(&buffer(), 2_500, 3_000).unwrap();
        assert_eq!((p.first_seq, p.last_seq), (1, 1));
    }
}
