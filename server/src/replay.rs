//! The replay buffer's record store: the server side of media ingest.
//!
//! [`Recorder`] answers the media crate's questions (which show does this
//! stream key publish to, where do its segments go, what number comes next)
//! and writes what it reports — live/offline and each closed segment — into
//! the database, in order, from one task. It also trims the buffer to
//! `DROPCAST_REPLAY_SECONDS` and `DROPCAST_REPLAY_MAX_BYTES`: index rows
//! first, files after, so a listed segment always exists. What the studio
//! is told about the stream (its keyframe interval, why the server cut it)
//! goes to `stream_health`, and each cut is counted by reason.
//!
//! Each new segment also gets a timeline thumbnail (its first frame as a
//! small JPEG), made by one task, one at a time, so thumbnails never take
//! more than a sliver of one core; segments a restart left without one are
//! queued again at start.
//!
//! One publisher per show across the cluster: a publishing session takes
//! the show's lease in the database (`shows.ingest_*`), which lives as long
//! as its node's heartbeat. The session's end gives it back and sets the
//! show offline — only if the session still held it, so a node whose lease
//! lapsed cannot switch off another node's stream. Every node settles the
//! leases of processes that are gone (at start and every heartbeat): their
//! shows go offline and can be published again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use media::ingest::{Authorized, BoxFuture, IngestEvent, IngestHandler};
use sqlx::AnyPool;
use tokio::sync::mpsc;

use crate::live::{Change, Hub};
use crate::store::media::{self as store, SegmentRow};
use crate::telemetry::Metrics;

/// Where a show's segments live.
pub fn replay_dir(data_dir: &Path, show_id: &str) -> PathBuf {
    data_dir.join("replay").join(show_id)
}

/// How much of each show's stream the replay buffer keeps: the newest
/// `seconds`, and at most `max_bytes` of it (the newest segment always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayBudget {
    pub seconds: u64,
    pub max_bytes: Option<u64>,
}

/// What the writer task is given, in order.
enum Write {
    Event(IngestEvent),
    /// A publishing session is over: give its lease back (`session` as stored).
    End {
        show_id: String,
        session: String,
    },
}

pub struct Recorder {
    pool: AnyPool,
    data_dir: PathBuf,
    events: mpsc::UnboundedSender<Write>,
    /// Whose leases this process's sessions take.
    node: Arc<crate::node::NodeIdentity>,
    /// Connection attempts per address are limited (`ingest_ip`).
    limits: Arc<crate::limits::RateLimits>,
    /// Each show's live edge (LL-HLS), fed by its publisher, and its
    /// replay playlist, forgotten whenever the index changes.
    playback: crate::state::Playback,
}

impl Recorder {
    /// Starts the writer task, and the settling of leases left by
    /// processes that are gone: at once (this node's previous process among
    /// them), then every heartbeat until `shutdown`.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        pool: AnyPool,
        hub: Hub,
        data_dir: PathBuf,
        budget: ReplayBudget,
        metrics: Arc<Metrics>,
        limits: Arc<crate::limits::RateLimits>,
        playback: crate::state::Playback,
        node: Arc<crate::node::NodeIdentity>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Recorder, sqlx::Error> {
        settle_orphans(&pool, &hub, &node).await?;
        tokio::spawn(run_settle(
            pool.clone(),
            hub.clone(),
            node.clone(),
            shutdown,
        ));
        let (thumbs, thumbs_rx) = mpsc::unbounded_channel();
        for missing in store::segments_without_thumbnail(&pool).await? {
            let _ = thumbs.send(missing);
        }
        tokio::spawn(make_thumbnails(thumbs_rx, pool.clone(), data_dir.clone()));
        let (events, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(
            rx,
            pool.clone(),
            data_dir.clone(),
            budget,
            Told {
                hub,
                metrics,
                thumbs,
                replays: playback.replays.clone(),
                node_id: node.node_id.clone(),
            },
        ));
        Ok(Recorder {
            pool,
            data_dir,
            events,
            node,
            limits,
            playback,
        })
    }
}

impl IngestHandler for Recorder {
    fn admit(&self, peer: std::net::IpAddr) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let admitted = self
                .limits
                .check_ip(crate::limits::Limit::IngestPerIp, peer)
                .await
                .is_ok();
            if !admitted {
                tracing::warn!(%peer, "ingest connection refused: rate limited");
            }
            admitted
        })
    }

    fn authorize<'a>(&'a self, stream_key: &'a str) -> BoxFuture<'a, Option<Authorized>> {
        Box::pin(async move {
            if !crate::domain::ids::looks_like_id(stream_key) {
                return None;
            }
            let show = match store::show_by_stream_key(&self.pool, stream_key).await {
                Ok(show) => show?,
                Err(e) => {
                    tracing::error!(error = %e, "cannot look up a stream key");
                    return None;
                }
            };
            let next_seq = store::next_segment_seq(&self.pool, &show.id).await.ok()?;
            let span = store::buffer_span(&self.pool, &show.id).await.ok()?;
            let next_seq = next_seq.max(0) as u64;
            Some(Authorized {
                dir: replay_dir(&self.data_dir, &show.id),
                live: Some(self.playback.edges.begin(
                    &show.id,
                    next_seq,
                    show.pinned_product_id.clone(),
                    show.version,
                )),
                show_id: show.id,
                next_seq,
                buffer_end_ms: span.map_or(0, |(_, end)| end),
            })
        })
    }

    fn event(&self, event: IngestEvent) {
        let _ = self.events.send(Write::Event(event));
    }

    fn claim<'a>(&'a self, show_id: &'a str, session: u64) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let claimed = store::claim_ingest(
                &self.pool,
                show_id,
                &self.node.node_id,
                &self.node.instance_id,
                &self.session(session),
                crate::node::NodeIdentity::stale_before_ms(),
            )
            .await;
            match claimed {
                Ok(true) => true,
                Ok(false) => {
                    tracing::warn!(show = %show_id, "publisher refused: the show is published on another node");
                    false
                }
                Err(e) => {
                    tracing::error!(show = %show_id, error = %e, "cannot take the show's publishing lease");
                    false
                }
            }
        })
    }

    fn unclaim(&self, show_id: &str, session: u64) {
        let _ = self.events.send(Write::End {
            show_id: show_id.to_string(),
            session: self.session(session),
        });
    }
}

impl Recorder {
    /// A session as its lease names it: unique across processes.
    fn session(&self, session: u64) -> String {
        format!("{}/{session}", self.node.instance_id)
    }
}

/// Sets offline the shows whose publishing process is gone, and tells their rooms.
async fn settle_orphans(
    pool: &AnyPool,
    hub: &Hub,
    node: &crate::node::NodeIdentity,
) -> Result<(), sqlx::Error> {
    let settled = store::settle_orphaned_ingest(
        pool,
        &node.node_id,
        &node.instance_id,
        crate::node::NodeIdentity::stale_before_ms(),
    )
    .await?;
    for (show_id, version) in settled {
        tracing::info!(show = %show_id, "set offline: its publisher's node is gone");
        hub.publish(
            &show_id,
            Change::Live {
                live: false,
                version,
            },
        );
    }
    Ok(())
}

/// Settles gone publishers' shows every heartbeat until shutdown.
pub(crate) async fn run_settle(
    pool: AnyPool,
    hub: Hub,
    node: Arc<crate::node::NodeIdentity>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(crate::node::HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = settle_orphans(&pool, &hub, &node).await {
                    tracing::warn!(error = %e, "cannot settle the leases of gone publishers");
                }
            }
        }
    }
}

/// Who hears what the writer recorded.
struct Told {
    /// The show's live channel (live and offline).
    hub: Hub,
    metrics: Arc<Metrics>,
    /// The thumbnail maker, of each new segment.
    thumbs: mpsc::UnboundedSender<(String, i64)>,
    /// This node's replay playlists, which forget a show whose index changed.
    replays: crate::replay_playlists::ReplayPlaylists,
    /// Recorded with each segment: its file is in this node's data dir.
    node_id: String,
}

/// Applies ingest events in the order they happened.
async fn write(
    mut rx: mpsc::UnboundedReceiver<Write>,
    pool: AnyPool,
    data_dir: PathBuf,
    budget: ReplayBudget,
    told: Told,
) {
    let Told {
        hub,
        metrics,
        thumbs,
        replays,
        node_id,
    } = told;
    let replay_ms = budget.seconds as i64 * 1000;
    let max_bytes = budget
        .max_bytes
        .map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
    // Shows whose next segment starts a new publishing session.
    let mut fresh: HashSet<String> = HashSet::new();
    while let Some(event) = rx.recv().await {
        let event = match event {
            Write::Event(event) => event,
            Write::End { show_id, session } => {
                match store::end_ingest(&pool, &show_id, &session).await {
                    Ok(Some(version)) => hub.publish(
                        &show_id,
                        Change::Live {
                            live: false,
                            version,
                        },
                    ),
                    Ok(None) => {
                        tracing::warn!(show = %show_id, "the session's lease had passed to another node: the show's state is theirs")
                    }
                    Err(e) => {
                        tracing::error!(show = %show_id, error = %e, "cannot record the end of a stream")
                    }
                }
                replays.forget(&show_id);
                continue;
            }
        };
        // Forgotten once the index has changed (a request in between would
        // otherwise keep the old playlist for its second).
        let changes_index = match &event {
            IngestEvent::Live { show_id, .. } | IngestEvent::Segment { show_id, .. } => {
                Some(show_id.clone())
            }
            _ => None,
        };
        match event {
            IngestEvent::Live { show_id, live } => {
                if live {
                    fresh.insert(show_id.clone());
                    metrics.live_streams.inc();
                    if let Err(e) = store::stream_started(&pool, &show_id).await {
                        tracing::warn!(show = %show_id, error = %e, "cannot reset the stream's health");
                    }
                } else {
                    // Offline is recorded when the session gives its lease back.
                    metrics.live_streams.dec();
                }
                if live {
                    match store::set_live(&pool, &show_id, true).await {
                        Ok(Some(version)) => hub.publish(&show_id, Change::Live { live, version }),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(show = %show_id, error = %e, "cannot record live state")
                        }
                    }
                }
            }
            IngestEvent::Cut { show_id, cut } => {
                metrics
                    .ingest_cuts
                    .get_or_create(&crate::telemetry::ReasonLabels {
                        reason: cut.code().to_string(),
                    })
                    .inc();
                if let Err(e) = store::record_cut(&pool, &show_id, cut.code(), cut.detail()).await {
                    tracing::error!(show = %show_id, error = %e, "cannot record why a stream was cut");
                }
            }
            IngestEvent::KeyframeInterval { show_id, interval } => {
                let ms = interval.as_millis() as i64;
                if let Err(e) = store::set_keyframe_interval(&pool, &show_id, ms).await {
                    tracing::warn!(show = %show_id, error = %e, "cannot record the keyframe interval");
                }
            }
            IngestEvent::Segment { show_id, segment } => {
                let row = SegmentRow {
                    starts_session: i64::from(fresh.remove(&show_id)),
                    show_id: show_id.clone(),
                    seq: segment.seq as i64,
                    file: media::segmenter::segment_file(segment.seq),
                    start_ms: segment.start_ms,
                    end_ms: segment.end_ms,
                    bytes: segment.bytes as i64,
                };
                if let Err(e) = store::insert_segment(&pool, &row, &node_id).await {
                    tracing::error!(show = %show_id, error = %e, "cannot index a segment");
                    continue;
                }
                metrics.segments.inc();
                let _ = thumbs.send((show_id.clone(), row.seq));
                match store::trim_segments(&pool, &show_id, segment.end_ms - replay_ms, max_bytes)
                    .await
                {
                    Ok(old) => {
                        let dir = replay_dir(&data_dir, &show_id);
                        for s in old {
                            let _ = tokio::fs::remove_file(dir.join(&s.file)).await;
                            let thumb = media::thumbnail::thumbnail_file(s.seq as u64);
                            let _ = tokio::fs::remove_file(dir.join(thumb)).await;
                        }
                    }
                    Err(e) => tracing::warn!(show = %show_id, error = %e, "cannot trim the buffer"),
                }
            }
        }
        if let Some(show_id) = changes_index {
            replays.forget(&show_id);
        }
    }
}

/// Thumbnails are this wide (height keeps the picture's shape).
pub const THUMBNAIL_WIDTH: i32 = 256;

/// Makes each queued segment's thumbnail, one at a time.
async fn make_thumbnails(
    mut rx: mpsc::UnboundedReceiver<(String, i64)>,
    pool: AnyPool,
    data_dir: PathBuf,
) {
    while let Some((show_id, seq)) = rx.recv().await {
        let dir = replay_dir(&data_dir, &show_id);
        let segment = dir.join(media::segmenter::segment_file(seq as u64));
        let out = dir.join(media::thumbnail::thumbnail_file(seq as u64));
        if let Err(e) = media::thumbnail::make_thumbnail(&segment, &out, THUMBNAIL_WIDTH).await {
            tracing::warn!(show = %show_id, seq, error = %e, "cannot make a thumbnail");
            continue;
        }
        match store::set_thumbnail(&pool, &show_id, seq).await {
            Ok(true) => {}
            // Trimmed meanwhile: the file must not outlive its segment.
            Ok(false) => {
                let _ = tokio::fs::remove_file(&out).await;
            }
            Err(e) => tracing::warn!(show = %show_id, seq, error = %e, "cannot record a thumbnail"),
        }
    }
}
