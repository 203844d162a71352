//! Dropcast: a self-hosted live-commerce server.
//!
//! Creators push a stream and run a show; viewers watch, see stock and
//! countdowns move in real time, and buy in one tap. This crate is the actix-web
//! server behind all of it and the `dropcast` binary.
//!
//! # Layout
//! - [`configuration`]: settings from the environment (`shared/API.md` lists them).
//! - [`startup`]: [`startup::Application`] binds, migrates and runs the server;
//!   tests bind port 0 through it.
//! - [`state`]: [`state::AppState`], what every handler can reach.
//! - [`cli`]: `dropcast serve`, `dropcast admin create-creator`.
//! - [`db`]: the database pool (SQLite or PostgreSQL behind sqlx's `Any` driver)
//!   and its migrations.
//! - [`store`]: every SQL statement, grouped by table.
//! - [`domain`]: newtypes that parse and validate input (`Sku`, `PriceCents`, …).
//! - [`auth`]: bearer tokens (stored hashed) and the caller's role.
//! - [`input`]: the bounded JSON body extractor and per-field validation errors.
//! - [`error`]: [`error::ApiError`], the one error shape of the API.
//! - [`hold_gate`]: how many holds of one product go to the database at once.
//! - [`limits`]: rate limits per client address and buyer session.
//! - [`live`]: the per-show rooms that fan live events out to websockets.
//! - [`node`]: this process as a node: its id, instance and lease.
//! - [`payments`]: Stripe through async-stripe, and webhook signatures.
//! - [`replay`]: the replay buffer's record store (media ingest → database).
//! - [`edge`]: the live edge of each show ingested here, as LL-HLS in memory.
//! - [`stream_health`]: what the studio says about the incoming stream
//!   (keyframe interval and its OBS fix, why a stream was cut).
//! - [`clips`]: clip exports — picking segments, the worker pool.
//! - [`checkout`]: orders: stock holds, payment, settlement, expiry, reconciliation.
//! - [`notices`]: the buyer's mail (confirmation, shipping, refund), signed
//!   order links, and the worker that sends what `mail_jobs` owes.
//! - [`routes`]: one module a resource.
//! - [`cors`]: cross-origin calls for the embedded widget.
//! - [`telemetry`]: tracing, request ids and Prometheus metrics.

pub mod announcements;
pub mod auth;
pub mod checkout;
pub mod cli;
pub mod clips;
pub mod configuration;
pub mod cors;
pub mod db;
pub mod demo;
pub mod domain;
pub mod edge;
pub mod error;
pub mod hold_gate;
pub mod images;
pub mod input;
pub mod limits;
pub mod live;
pub mod node;
pub mod notices;
pub mod origin;
pub mod payments;
pub mod replay;
pub mod replay_playlists;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod stream_health;
pub mod telemetry;

/// Wall-clock time in Unix epoch milliseconds, the unit of every `…_ms` field.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
