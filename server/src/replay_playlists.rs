//! The replay buffer's playlists, from memory.
//!
//! While the show is live (played here from the buffer, not a live edge)
//! the playlist is the newest [`REPLAY_WINDOW`] segments; once it has
//! ended, the whole buffer as a seekable recording from its start, with
//! the wall clock of every segment and the show's pins as date ranges, so
//! the watch page's card follows what was pinned at the playback position.
//!
//! A show that is not live here is played from its replay buffer: the
//! playlist is made from the segment index. Made per request, a crowd
//! opening a replay (or a thousand players reloading a classic playlist)
//! would be a thousand database queries a second. Instead each node keeps
//! each show's playlist, with the file of every segment it lists, for at
//! most [`FRESH_FOR`] (by default); concurrent requests for a stale one wait on one
//! query (no stampede), and the segment requests that follow are answered
//! from it without the database.
//!
//! Several nodes: the index in the database is the truth and each node's
//! copy is at most [`FRESH_FOR`] old. The node that records a show forgets
//! its copy as soon as the index changes (a segment added or trimmed, the
//! show going live or offline), so its own viewers never wait for that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sqlx::AnyPool;
use tokio::sync::OnceCell;

use crate::store;

/// Segments listed in the replay playlist (about a minute).
pub const REPLAY_WINDOW: i64 = 30;

/// How long a node serves its copy of a playlist before reading the index
/// again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// One show's playlist as it was read.
#[derive(Debug)]
pub struct ReplayPlaylist {
    pub body: Bytes,
    /// The files of the segments it lists, by number.
    files: HashMap<u64, String>,
}

impl ReplayPlaylist {
    /// The file of a listed segment.
    pub fn file(&self, seq: u64) -> Option<&str> {
        self.files.get(&seq).map(String::as_str)
    }
}

/// Read once, shared by every request in its time; `None` when the show
/// does not exist.
type Cell = Arc<OnceCell<Option<Arc<ReplayPlaylist>>>>;

struct Slot {
    made: Instant,
    cell: Cell,
}

/// Every show's replay playlist on this node. Cheap to clone.
#[derive(Clone)]
pub struct ReplayPlaylists {
    /// How long a copy is served before the index is read again.
    fresh_for: Duration,
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Default for ReplayPlaylists {
    fn default() -> Self {
        ReplayPlaylists::new(FRESH_FOR)
    }
}

impl ReplayPlaylists {
    pub fn new(fresh_for: Duration) -> Self {
        ReplayPlaylists {
            fresh_for,
            slots: Arc::default(),
        }
    }

    /// The show's playlist, from memory if it is fresh; `None` if there is
    /// no such show.
    pub async fn get(
        &self,
        pool: &AnyPool,
        show_id: &str,
    ) -> Result<Option<Arc<ReplayPlaylist>>, sqlx::Error> {
        let cell = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            // Stale copies of other shows go too, so the map holds only
            // what was asked for lately.
            if slots.len() > 1024 {
                slots.retain(|_, s| s.made.elapsed() < self.fresh_for);
            }
            match slots.get(show_id) {
                Some(slot) if slot.made.elapsed() < self.fresh_for => slot.cell.clone(),
                _ => {
                    let cell = Cell::default();
                    slots.insert(
                        show_id.to_string(),
                        Slot {
                            made: Instant::now(),
                            cell: cell.clone(),
                        },
                    );
                    cell
                }
            }
        };
        // An error leaves the cell empty: the next request tries again.
        cell.get_or_try_init(|| read(pool, show_id)).await.cloned()
    }

    /// The index of this show changed: the next request reads it again.
    pub fn forget(&self, show_id: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(show_id);
    }
}

async fn read(pool: &AnyPool, show_id: &str) -> Result<Option<Arc<ReplayPlaylist>>, sqlx::Error> {
    let Some(show) = store::get_show(pool, show_id).await? else {
        return Ok(None);
    };
    let ended = show.live == 0;
    let segments = if ended {
        store::media::segments_between(pool, &show.id, i64::MIN / 2, i64::MAX / 2).await?
    } else {
        store::media::latest_segments(pool, &show.id, REPLAY_WINDOW).await?
    };
    let files = segments
        .iter()
        .map(|s| (s.seq as u64, s.file.clone()))
        .collect();
    let entry = |s: &store::media::SegmentRow| media::hls::Entry {
        seq: s.seq as u64,
        duration_ms: s.end_ms - s.start_ms,
        starts_session: s.starts_session != 0,
        uri: s.file.clone(),
    };
    let body = match (ended, segments.first(), segments.last()) {
        (true, Some(first), Some(last)) => {
            let pins =
                store::timeline::pins_over(pool, &show.id, first.start_ms, last.end_ms).await?;
            let ranges: Vec<media::live::DateRange> = pins
                .into_iter()
                .enumerate()
                .map(|(i, (at_ms, product))| pin_range(i, at_ms, product))
                .collect();
            let recorded: Vec<media::hls::Recorded> = segments
                .iter()
                .map(|s| media::hls::Recorded {
                    entry: entry(s),
                    wall_ms: s.start_ms,
                })
                .collect();
            media::hls::recording(&recorded, &ranges)
        }
        _ => {
            let entries: Vec<media::hls::Entry> = segments.iter().map(entry).collect();
            media::hls::playlist(&entries, ended)
        }
    };
    Ok(Some(Arc::new(ReplayPlaylist {
        body: Bytes::from(body),
        files,
    })))
}

/// A pin of the show's timeline as the live edge marks it
/// ([`crate::edge::CLASS_PIN`]), so the watch page reads both alike.
fn pin_range(n: usize, at_ms: i64, product_id: Option<String>) -> media::live::DateRange {
    media::live::DateRange {
        id: format!("pin-{n}-{at_ms}"),
        class: crate::edge::CLASS_PIN.into(),
        start_ms: at_ms,
        end_ms: None,
        attributes: vec![("X-PRODUCT".into(), product_id.unwrap_or_default())],
    }
}
