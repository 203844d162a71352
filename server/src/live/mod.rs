//! The live channel: every change of a show, fanned out to every open socket.
//!
//! ```text
//!  route handler ──commit──▶ DB
//!        │
//!        └─ Hub::publish(show, Change) ─▶ room task (one per show with sockets)
//!                                          │ orders by row version, coalesces stock,
//!                                          │ numbers with seq, serializes ONCE
//!                                          ▼
//!                          broadcast<Frame{seq, Arc'd text}>
//!                      ┌──────────┼──────────┐
//!                   socket      socket     socket   (one task each: heartbeat,
//!                                                   ping/pong, resync on lag)
//! ```
//!
//! - [`Hub`]: the rooms of this process, created on first join, dropped when idle.
//! - [`room`]: a room's task, its state and the [`room::Subscription`] a socket holds.
//! - [`socket`]: one websocket's task.
//! - [`timeline`]: every change also goes, stamped, to the show's timeline.
//!
//! Across nodes (`REDIS_URL`): [`Hub::publish`] also hands the change to the
//! [`bus`] on the show's channel; every other node's hub hears it and gives
//! it to its own room, exactly as a local change (the row versions below make
//! the order of arrival harmless). Each room subscribes to its show's channel
//! before it loads its state, so no change committed after the load can be
//! missed; when the bus says messages may have been missed (Redis lost and
//! back, or a publisher that could not send), the rooms reload from the
//! database and send their sockets a fresh snapshot. Viewer counts are summed
//! over the nodes by the bus's leased counts.
//!
//! Ordering: concurrent requests may publish in another order than they
//! committed. Every product and show row carries a `version` bumped by each
//! update, and a room ignores a change whose version it has already passed
//! (per product, and per show field: pin, live), so no socket is ever sent a
//! figure older than one it was sent before.

pub mod room;
pub mod socket;
pub mod timeline;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use wire::{Countdown, Product};

use crate::configuration::LiveSettings;
use crate::telemetry::Metrics;
use room::{RoomHandle, Subscription};

/// A committed change of a show, as published by the code that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A product was created or updated (title, price, stock…); `version` is the
    /// row's version after the change.
    Product { product: Product, version: i64 },
    /// The pin moved; `version` is the show row's version after the change.
    Pin {
        product_id: Option<String>,
        version: i64,
    },
    /// A countdown was started or replaced.
    Countdown { countdown: Countdown },
    /// A countdown was cancelled.
    CountdownRemoved { countdown_id: String },
    /// Units were paid for (the "just bought" toast), by `buyer` (the first
    /// name on the parcel's address; none for digital products).
    Sold {
        product_id: String,
        quantity: i64,
        #[serde(default)]
        buyer: Option<String>,
    },
    /// A publisher started or stopped streaming; `version` is the show row's.
    Live { live: bool, version: i64 },
    /// The show's title, schedule or cover as of the show row's `version`.
    Show {
        title: String,
        scheduled_at_ms: Option<i64>,
        cover_url: Option<String>,
        version: i64,
    },
    /// A clip's status or progress changed (staff sockets only).
    Clip { clip: wire::Clip },
}

/// The change as a moment of the live video, if it is one.
fn edge_mark(change: &Change) -> Option<crate::edge::Mark> {
    use crate::edge::Mark;
    Some(match change {
        Change::Pin {
            product_id,
            version,
        } => Mark::Pin {
            product_id: product_id.clone(),
            version: *version,
        },
        Change::Countdown { countdown } => Mark::Countdown {
            id: countdown.id.clone(),
            product_id: countdown.product_id.clone(),
            label: countdown.label.clone(),
            ends_at_ms: countdown.ends_at_ms,
        },
        Change::CountdownRemoved { countdown_id } => Mark::CountdownCancelled {
            id: countdown_id.clone(),
        },
        Change::Product { product, version } => Mark::Stock {
            product_id: product.id.clone(),
            available: product.available,
            version: *version,
        },
        Change::Sold { .. } | Change::Live { .. } | Change::Show { .. } | Change::Clip { .. } => {
            return None;
        }
    })
}

/// Why a socket could not join a show's room.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("no such show")]
    NotFound,
    #[error("the show's state could not be loaded")]
    Unavailable,
}

pub(crate) type Rooms = Arc<Mutex<HashMap<String, RoomHandle>>>;

/// A change as it travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    show_id: String,
    /// When the publishing node published it (the moment marked on the video).
    at_ms: i64,
    change: Change,
}

/// The bus channels of shows' changes: this, then the show's id.
const CHANNEL_PREFIX: &str = "dc:live:";

/// The bus channel of a show's changes.
fn channel(show_id: &str) -> String {
    format!("{CHANNEL_PREFIX}{show_id}")
}

/// The bus key under which the nodes count a show's viewers.
fn viewers_key(show_id: &str) -> String {
    format!("dc:viewers:{show_id}")
}

/// This node's place on the bus.
#[derive(Clone)]
pub(crate) struct Cluster {
    pub bus: bus::Bus,
    /// Whose viewer counts these are (a restarted node replaces its own).
    pub node_id: String,
}

/// The live rooms of this process. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    rooms: Rooms,
    pool: AnyPool,
    settings: LiveSettings,
    metrics: Arc<Metrics>,
    /// Writes each published change to the show's timeline.
    timeline: timeline::Timeline,
    /// Marks pins, countdowns and sell-outs on the shows' live video.
    edges: Option<crate::edge::LiveEdges>,
    /// The other nodes, when there are any (`REDIS_URL`).
    cluster: Option<Cluster>,
}

impl Hub {
    /// Needs a tokio runtime (it starts the timeline writer).
    pub fn new(pool: AnyPool, settings: LiveSettings, metrics: Arc<Metrics>) -> Hub {
        Hub {
            rooms: Arc::default(),
            timeline: timeline::Timeline::start(pool.clone()),
            pool,
            settings,
            metrics,
            edges: None,
            cluster: None,
        }
    }

    /// Joins the cluster on `bus`: publishes every change to the other nodes
    /// and delivers theirs (from `events`) to this node's rooms, until
    /// `shutdown`. Viewer counts become the sum over the nodes.
    pub fn with_bus(
        mut self,
        bus: bus::Bus,
        events: tokio::sync::mpsc::UnboundedReceiver<bus::Event>,
        node_id: String,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Hub {
        self.cluster = Some(Cluster { bus, node_id });
        tokio::spawn(run_bus_events(self.clone(), events, shutdown.clone()));
        tokio::spawn(run_viewer_counts(self.clone(), shutdown));
        self
    }

    /// The bus, when this node is part of a cluster.
    pub fn bus(&self) -> Option<&bus::Bus> {
        self.cluster.as_ref().map(|c| &c.bus)
    }

    /// Marks the commerce moments on `edges`' live video too.
    pub fn with_edges(mut self, edges: crate::edge::LiveEdges) -> Hub {
        self.edges = Some(edges);
        self
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// Hands a committed change to the show's room. Never blocks; a show with
    /// no room has no sockets, and its next room loads the state afresh.
    pub fn publish(&self, show_id: &str, change: Change) {
        self.timeline.record(show_id, &change);
        let at_ms = crate::now_ms();
        if let Some(cluster) = &self.cluster {
            let envelope = Envelope {
                show_id: show_id.to_string(),
                at_ms,
                change,
            };
            // Our own types always serialize.
            let payload = serde_json::to_vec(&envelope).unwrap_or_default();
            cluster.bus.publish(&channel(show_id), payload);
            self.deliver(show_id, at_ms, envelope.change);
        } else {
            self.deliver(show_id, at_ms, change);
        }
    }

    /// Gives a change, made here or on another node, to this node's room
    /// and live video.
    fn deliver(&self, show_id: &str, at_ms: i64, change: Change) {
        if let Some(edges) = &self.edges
            && let Some(mark) = edge_mark(&change)
        {
            edges.mark(show_id, at_ms, mark);
        }
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(room) = rooms.get(show_id) {
            room.send(change);
        }
    }

    /// Has every room (or the one of `show_id`) reload its state from the
    /// database and send its sockets a fresh snapshot.
    fn reload(&self, show_id: Option<&str>) {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        match show_id {
            Some(id) => {
                if let Some(room) = rooms.get(id) {
                    room.reload();
                }
            }
            None => rooms.values().for_each(RoomHandle::reload),
        }
    }

    /// Joins a show's room, starting it if needed, and waits for its state.
    /// `staff` sockets (the show's creator and editors) also get clip frames.
    pub async fn join(&self, show_id: &str, staff: bool) -> Result<Subscription, JoinError> {
        let (room, frames) = {
            let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            let room = rooms
                .entry(show_id.to_string())
                .or_insert_with(|| {
                    RoomHandle::spawn(
                        show_id.to_string(),
                        self.pool.clone(),
                        self.settings.clone(),
                        self.metrics.clone(),
                        self.rooms.clone(),
                        self.cluster
                            .as_ref()
                            .map(|c| (c.bus.clone(), channel(show_id))),
                    )
                })
                .clone();
            // Subscribed under the lock, so an idle room cannot be dropped
            // between the lookup and the subscription.
            let frames = room.subscribe_frames();
            (room, frames)
        };
        room.wait_ready().await?;
        Ok(Subscription::new(room, frames, staff))
    }

    /// Viewers on the show now: this node's sockets, or in a cluster the
    /// sum over the nodes (this node's own figure if Redis does not answer).
    pub async fn viewers(&self, show_id: &str) -> u64 {
        let local = {
            let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            rooms.get(show_id).map_or(0, RoomHandle::viewers)
        };
        let Some(cluster) = &self.cluster else {
            return local;
        };
        match cluster.bus.sum_counts(&[viewers_key(show_id)]).await {
            Ok(sums) => sums.first().copied().unwrap_or(0),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the cluster's viewer count");
                local
            }
        }
    }

    /// Rooms in memory now.
    pub fn room_count(&self) -> usize {
        self.rooms.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// Delivers the other nodes' changes to this node's rooms; reloads the
/// rooms the bus says may have missed some.
async fn run_bus_events(
    hub: Hub,
    mut events: tokio::sync::mpsc::UnboundedReceiver<bus::Event>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        match event {
            bus::Event::Message { payload, .. } => {
                match serde_json::from_slice::<Envelope>(&payload) {
                    Ok(envelope) => hub.deliver(&envelope.show_id, envelope.at_ms, envelope.change),
                    Err(e) => {
                        tracing::warn!(error = %e, "a live change from another node could not be read")
                    }
                }
            }
            bus::Event::Lost { channel: ch } => {
                if let Some(show_id) = ch.strip_prefix(CHANNEL_PREFIX) {
                    hub.reload(Some(show_id));
                }
            }
            bus::Event::Reconnected => hub.reload(None),
        }
    }
}

/// Reports this node's viewers of each show it has a room for, and gives
/// each room the cluster's sum, every `viewers_interval`.
async fn run_viewer_counts(hub: Hub, shutdown: tokio_util::sync::CancellationToken) {
    let Some(cluster) = hub.cluster.clone() else {
        return;
    };
    let every = hub.settings.viewers_interval;
    // A node that stops reporting stops counting after this.
    let lease = (every * 3).max(std::time::Duration::from_secs(2));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let rooms: Vec<RoomHandle> = {
            let rooms = hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
            rooms.values().cloned().collect()
        };
        if rooms.is_empty() {
            continue;
        }
        let counts: Vec<(String, u64)> = rooms
            .iter()
            .map(|r| (viewers_key(r.show_id()), r.viewers()))
            .collect();
        match cluster
            .bus
            .report_counts(&cluster.node_id, &counts, lease)
            .await
        {
            Ok(sums) => {
                for (room, sum) in rooms.iter().zip(sums) {
                    room.set_cluster_viewers(sum);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot report viewer counts to Redis"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::room::Next;
    use super::*;
    use crate::store::{self, NewProduct};

    async fn hub_with_product(
        settings: LiveSettings,
    ) -> (Hub, String, wire::Product, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let pool = crate::db::open(&url).await.unwrap();
        store::create_creator(&pool, "cr_1", "Ada", "h")
            .await
            .unwrap();
        store::insert_show(&pool, "shw_1", "cr_1", "Show", "key")
            .await
            .unwrap();
        let product = store::insert_product(
            &pool,
            NewProduct {
                id: "prd_1",
                show_id: "shw_1",
                sku: "S",
                title: "T",
                price_cents: 100,
                currency: "usd",
                stock: 0,
                max_per_buyer: None,
                image_url: None,
                fulfilment: wire::Fulfilment::Shipping,
                shipping_cents: 0,
            },
        )
        .await
        .unwrap();
        let hub = Hub::new(pool, settings, Arc::new(Metrics::new()));
        (hub, "shw_1".into(), product.to_wire(), dir)
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_resynced_to_the_latest_state() {
        let settings = LiveSettings {
            broadcast_capacity: 4,
            stock_min_interval: Duration::ZERO,
            ..LiveSettings::default()
        };
        let (hub, show, mut product, _dir) = hub_with_product(settings).await;
        let mut sub = hub.join(&show, false).await.unwrap();
        let first = sub.snapshot_frame().unwrap();
        // 100 changes, published newest-version-last, while the subscriber reads nothing.
        for i in 1..=100 {
            product.available = i;
            hub.publish(
                &show,
                Change::Product {
                    product: product.clone(),
                    version: 1 + i,
                },
            );
        }
        // Wait until the room has applied them all.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while sub.room().snapshot().unwrap().products[0].available != 100 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "room never caught up"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            matches!(sub.recv().await, Next::Resync),
            "a lagging subscriber is told to resync"
        );
        let snapshot = sub.snapshot_frame().unwrap();
        assert!(snapshot.seq > first.seq);
        let msg: wire::ServerMsg = serde_json::from_str(&snapshot.text).unwrap();
        let wire::ServerMsg::Snapshot { products, .. } = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(products[0].available, 100);
        // What is still buffered is not newer than the snapshot: a socket skips it.
        while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_millis(50), async {
            match sub.recv().await {
                Next::Frame(f) => Some(f),
                _ => None,
            }
        })
        .await
        {
            assert!(frame.seq <= snapshot.seq);
        }
    }

    #[tokio::test]
    async fn joining_an_unknown_show_fails_and_leaves_no_room() {
        let (hub, _, _, _dir) = hub_with_product(LiveSettings::default()).await;
        assert!(matches!(
            hub.join("shw_nope", false).await,
            Err(JoinError::NotFound)
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(hub.room_count(), 0);
    }

    #[tokio::test]
    async fn an_idle_room_is_dropped_and_a_new_join_reloads_the_state() {
        let settings = LiveSettings {
            room_idle: Duration::from_millis(50),
            viewers_interval: Duration::from_millis(10),
            ..LiveSettings::default()
        };
        let (hub, show, _, _dir) = hub_with_product(settings).await;
        drop(hub.join(&show, false).await.unwrap());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while hub.room_count() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "idle room never dropped"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sub = hub.join(&show, false).await.unwrap();
        assert_eq!(sub.room().snapshot().unwrap().products.len(), 1);
    }
}
