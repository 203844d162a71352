//! A show's commerce timeline: every countdown, stock figure, sale and
//! stream up/down, stamped with the wall clock when it was published, and
//! written to `show_events` (beside the pins, which the pin's own transaction
//! writes there) so a replay or a clip can show the right product card at the
//! right moment.
//!
//! ```text
//!  Hub::publish(show, Change) ──(never waits)──▶ channel ─▶ writer task
//!                                                  every 250 ms: fold, then
//!                                                  one transaction of INSERTs
//! ```
//!
//! Folding keeps the cost flat in a flash sale: within one batch a product's
//! stock figures become the newest one and its sales one sum, so thousands
//! of orders a second cost a few rows a second. The events of the last
//! quarter second before a crash can be lost: the timeline is for showing;
//! money and stock live in their own tables.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::mpsc;
use wire::TimelineKind;

use super::Change;
use crate::store::timeline as store;

/// How long the writer gathers events before writing them.
const BATCH: Duration = Duration::from_millis(250);

/// One event on its way to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub show_id: String,
    pub at_ms: i64,
    /// The row version the change carried (stock), to keep the newest figure.
    pub version: i64,
    pub event: TimelineKind,
}

/// The timeline writer of this process. Cheap to clone.
#[derive(Clone)]
pub struct Timeline {
    tx: mpsc::UnboundedSender<Entry>,
}

impl Timeline {
    /// Starts the writer task (needs a tokio runtime).
    pub fn start(pool: AnyPool) -> Timeline {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(rx, pool));
        Timeline { tx }
    }

    /// Queues the change if it belongs on the timeline.
    pub fn record(&self, show_id: &str, change: &Change) {
        if let Some((version, event)) = to_event(change) {
            let _ = self.tx.send(Entry {
                show_id: show_id.to_string(),
                at_ms: crate::now_ms(),
                version,
                event,
            });
        }
    }
}

/// The timeline's view of a change, with the version that orders it.
fn to_event(change: &Change) -> Option<(i64, TimelineKind)> {
    Some(match change {
        Change::Product { product, version } => (
            *version,
            TimelineKind::Stock {
                product_id: product.id.clone(),
                available: product.available,
                sold: product.sold,
            },
        ),
        // Stamped by the pin's own transaction (stats read it), not here.
        Change::Pin { .. } => return None,
        Change::Countdown { countdown } => (
            0,
            TimelineKind::Countdown {
                countdown: countdown.clone(),
            },
        ),
        Change::CountdownRemoved { countdown_id } => (
            0,
            TimelineKind::CountdownRemoved {
                countdown_id: countdown_id.clone(),
            },
        ),
        Change::Sold {
            product_id,
            quantity,
            ..
        } => (
            0,
            TimelineKind::Sold {
                product_id: product_id.clone(),
                quantity: *quantity,
            },
        ),
        Change::Live { live, version } => (*version, TimelineKind::Live { live: *live }),
        // Not a moment of the show's commerce.
        Change::Show { .. } | Change::Clip { .. } => return None,
    })
}

/// Folds a batch: per show and product, one stock event (the newest
/// version, at the time of the last change) and one sold event (the sum, at
/// the time of the first sale). Everything else is kept as it came.
pub fn fold(entries: Vec<Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    let mut stock: HashMap<(String, String), usize> = HashMap::new();
    let mut sold: HashMap<(String, String), usize> = HashMap::new();
    for entry in entries {
        match &entry.event {
            TimelineKind::Stock { product_id, .. } => {
                let key = (entry.show_id.clone(), product_id.clone());
                match stock.get(&key) {
                    Some(&i) => {
                        if entry.version >= out[i].version {
                            let at_ms = out[i].at_ms.max(entry.at_ms);
                            out[i] = Entry { at_ms, ..entry };
                        } else {
                            out[i].at_ms = out[i].at_ms.max(entry.at_ms);
                        }
                    }
                    None => {
                        stock.insert(key, out.len());
                        out.push(entry);
                    }
                }
            }
            TimelineKind::Sold {
                product_id,
                quantity,
            } => {
                let key = (entry.show_id.clone(), product_id.clone());
                match sold.get(&key) {
                    Some(&i) => {
                        if let TimelineKind::Sold {
                            quantity: total, ..
                        } = &mut out[i].event
                        {
                            *total += quantity;
                        }
                    }
                    None => {
                        sold.insert(key, out.len());
                        out.push(entry);
                    }
                }
            }
            _ => out.push(entry),
        }
    }
    out.sort_by_key(|e| e.at_ms);
    out
}

async fn write(mut rx: mpsc::UnboundedReceiver<Entry>, pool: AnyPool) {
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(BATCH).await;
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let rows = fold(batch);
        // Once more on failure: a show deleted while the batch was written
        // fails its foreign key, and the second try drops its events.
        let mut result = store::insert_events(&pool, &rows).await;
        if result.is_err() {
            result = store::insert_events(&pool, &rows).await;
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, events = rows.len(), "cannot write timeline events");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: i64, version: i64, event: TimelineKind) -> Entry {
        Entry {
            show_id: "shw_1".into(),
            at_ms,
            version,
            event,
        }
    }

    fn stock(available: i64) -> TimelineKind {
        TimelineKind::Stock {
            product_id: "prd_1".into(),
            available,
            sold: 10 - available,
        }
    }

    fn sold(product: &str, quantity: i64) -> TimelineKind {
        TimelineKind::Sold {
            product_id: product.into(),
            quantity,
        }
    }

    #[test]
    fn a_batch_keeps_the_newest_stock_figure_and_sums_sales() {
        let folded = fold(vec![
            entry(100, 5, stock(7)),
            entry(101, 0, sold("prd_1", 1)),
            entry(102, 7, stock(5)),
            // Published late, but older: its figure must not win.
            entry(103, 6, stock(6)),
            entry(104, 0, sold("prd_1", 2)),
            entry(105, 0, sold("prd_2", 1)),
            entry(106, 3, TimelineKind::Pin { product_id: None }),
        ]);
        assert_eq!(
            folded,
            vec![
                entry(101, 0, sold("prd_1", 3)),
                entry(103, 7, stock(5)),
                entry(105, 0, sold("prd_2", 1)),
                entry(106, 3, TimelineKind::Pin { product_id: None }),
            ]
        );
    }

    #[test]
    fn clip_progress_and_pins_are_not_written_here() {
        let clip = wire::Clip {
            id: "clp_1".into(),
            show_id: "shw_1".into(),
            status: "running".into(),
            progress: 0.5,
            format: "original".into(),
            start_ms: 0,
            end_ms: 1,
            asked_start_ms: None,
            duration_ms: None,
            bytes: None,
            product_id: None,
            download_url: None,
            error: None,
            created_at_ms: 0,
            events: None,
        };
        assert_eq!(to_event(&Change::Clip { clip }), None);
        let pin = Change::Pin {
            product_id: None,
            version: 2,
        };
        assert_eq!(to_event(&pin), None, "pins are stamped with their commit");
        assert_eq!(
            to_event(&Change::Live {
                live: true,
                version: 4
            }),
            Some((4, TimelineKind::Live { live: true }))
        );
    }
}
