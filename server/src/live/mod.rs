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
//!
//! Ordering: concurrent requests may publish in another order than they
//! committed. Every product and show row carries a `version` bumped by each
//! update, and a room ignores a change whose version it has already passed, so
//! no socket is ever sent a figure older than one it was sent before.

pub mod room;
pub mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use wire::{Countdown, Product};

use crate::configuration::LiveSettings;
use crate::telemetry::Metrics;
use room::{RoomHandle, Subscription};

/// A committed change of a show, as published by the code that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A countdown was started.
    Countdown { countdown: Countdown },
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

/// The live rooms of this process. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    rooms: Rooms,
    pool: AnyPool,
    settings: LiveSettings,
    metrics: Arc<Metrics>,
}

impl Hub {
    pub fn new(pool: AnyPool, settings: LiveSettings, metrics: Arc<Metrics>) -> Hub {
        Hub {
            rooms: Arc::default(),
            pool,
            settings,
            metrics,
        }
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// Hands a committed change to the show's room. Never blocks; a show with
    /// no room has no sockets, and its next room loads the state afresh.
    pub fn publish(&self, show_id: &str, change: Change) {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(room) = rooms.get(show_id) {
            room.send(change);
        }
    }

    /// Joins a show's room, starting it if needed, and waits for its state.
    pub async fn join(&self, show_id: &str) -> Result<Subscription, JoinError> {
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
                    )
                })
                .clone();
            // Subscribed under the lock, so an idle room cannot be dropped
            // between the lookup and the subscription.
            let frames = room.subscribe_frames();
            (room, frames)
        };
        room.wait_ready().await?;
        Ok(Subscription::new(room, frames))
    }

    /// Rooms in memory now.
    pub fn room_count(&self) -> usize {
        self.rooms.lock().map(|r| r.len()).unwrap_or(0)
    }
}
