//! The live edges of the shows this node ingests: one LL-HLS
//! [`media::live::Track`] per show, in memory.
//!
//! The show's commerce moments — pins, countdowns, sell-outs — are marked
//! on its track as `EXT-X-DATERANGE`s stamped with the wall clock when they
//! were committed ([`LiveEdges::mark`], called by the live hub), so a player
//! can switch the card when the picture reaches the moment the host made it.
//!
//! The recorder makes a show's track when its publisher is authorized and
//! the HLS routes read it; nothing here touches the database, so a playlist
//! (and every blocking reload) is answered from memory. A track outlives its
//! publishing sessions, so a reconnect continues the media sequence; it
//! starts at the replay buffer's next segment number, so a player that saw
//! an earlier process's playlist does not see the sequence go back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use media::live::{DateRange, Track, TrackConfig};

/// `CLASS` of a pin's date range; `X-PRODUCT` is the pinned product (empty: unpinned).
pub const CLASS_PIN: &str = "com.dropcast.pin";
/// A countdown, from its start to its end (`END-DATE`).
pub const CLASS_COUNTDOWN: &str = "com.dropcast.countdown";
/// A countdown cancelled before its end.
pub const CLASS_COUNTDOWN_CANCELLED: &str = "com.dropcast.countdown-cancelled";
/// A product's stock reached zero.
pub const CLASS_SOLD_OUT: &str = "com.dropcast.sold-out";

/// A commerce moment worth marking in the picture's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Pin {
        product_id: Option<String>,
        /// The show row's version: one range per pin change.
        version: i64,
    },
    Countdown {
        id: String,
        product_id: Option<String>,
        label: Option<String>,
        ends_at_ms: i64,
    },
    CountdownCancelled {
        id: String,
    },
    /// A product's stock figure; only the change to zero is marked.
    Stock {
        product_id: String,
        available: i64,
        version: i64,
    },
}

/// This node's live tracks, by show id. Cheap to clone.
#[derive(Clone, Default)]
pub struct LiveEdges {
    tracks: Arc<Mutex<HashMap<String, Track>>>,
    /// Products sold out now, by show: a sell-out is marked once.
    sold_out: Arc<Mutex<HashSet<(String, String)>>>,
    config: TrackConfig,
}

impl LiveEdges {
    pub fn new(config: TrackConfig) -> LiveEdges {
        LiveEdges {
            tracks: Arc::default(),
            sold_out: Arc::default(),
            config,
        }
    }

    /// The show's track, made if it has none (numbered from `first_msn`),
    /// for a publisher that starts now with `pinned` pinned: the pin is
    /// restated at the session's start, so the picture always has one.
    pub fn begin(
        &self,
        show_id: &str,
        first_msn: u64,
        pinned: Option<String>,
        show_version: i64,
    ) -> Track {
        let track = self
            .tracks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(show_id.to_string())
            .or_insert_with(|| Track::new(self.config.clone(), first_msn))
            .clone();
        self.mark(
            show_id,
            crate::now_ms(),
            Mark::Pin {
                product_id: pinned,
                version: show_version,
            },
        );
        track
    }

    /// The show's track, if it was ever live on this node since it started.
    pub fn get(&self, show_id: &str) -> Option<Track> {
        let tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        tracks.get(show_id).cloned()
    }

    /// Marks a moment of the show at `at_ms` on its track, if it has one.
    pub fn mark(&self, show_id: &str, at_ms: i64, mark: Mark) {
        let Some(track) = self.get(show_id) else {
            return;
        };
        let range = match mark {
            Mark::Pin {
                product_id,
                version,
            } => DateRange {
                // The moment too: a session restates the pin it starts with.
                id: format!("pin-{version}-{at_ms}"),
                class: CLASS_PIN.into(),
                start_ms: at_ms,
                end_ms: None,
                attributes: vec![("X-PRODUCT".into(), product_id.unwrap_or_default())],
            },
            Mark::Countdown {
                id,
                product_id,
                label,
                ends_at_ms,
            } => DateRange {
                // A replaced countdown keeps its id but not its end: a new range.
                id: format!("countdown-{id}-{ends_at_ms}"),
                class: CLASS_COUNTDOWN.into(),
                start_ms: at_ms,
                end_ms: Some(ends_at_ms.max(at_ms)),
                attributes: vec![
                    ("X-COUNTDOWN".into(), id),
                    ("X-PRODUCT".into(), product_id.unwrap_or_default()),
                    ("X-LABEL".into(), label.unwrap_or_default()),
                ],
            },
            Mark::CountdownCancelled { id } => DateRange {
                id: format!("countdown-{id}-cancelled-{at_ms}"),
                class: CLASS_COUNTDOWN_CANCELLED.into(),
                start_ms: at_ms,
                end_ms: None,
                attributes: vec![("X-COUNTDOWN".into(), id)],
            },
            Mark::Stock {
                product_id,
                available,
                version,
            } => {
                let key = (show_id.to_string(), product_id.clone());
                let mut sold_out = self.sold_out.lock().unwrap_or_else(|e| e.into_inner());
                if available > 0 {
                    sold_out.remove(&key);
                    return;
                }
                if !sold_out.insert(key) {
                    return;
                }
                DateRange {
                    id: format!("sold-out-{product_id}-{version}"),
                    class: CLASS_SOLD_OUT.into(),
                    start_ms: at_ms,
                    end_ms: None,
                    attributes: vec![("X-PRODUCT".into(), product_id)],
                }
            }
        };
        track.daterange(range);
    }
}
