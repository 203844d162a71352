//! What every request handler can reach: [`AppState`].
//!
//! It lives in its own module so that routes, auth and telemetry depend on
//! it without depending on [`crate::startup`], which builds it and mounts
//! them (no import circle).

use std::sync::Arc;

use sqlx::AnyPool;
use tokio_util::sync::CancellationToken;

use crate::auth::AdminToken;
use crate::checkout::Checkout;
use crate::configuration::Settings;
use crate::live::Hub;
use crate::node::NodeIdentity;
use crate::telemetry::Metrics;

/// What this node serves players from memory. Cheap to clone.
#[derive(Clone, Default)]
pub struct Playback {
    /// The live edge of each show ingested here (LL-HLS).
    pub edges: crate::edge::LiveEdges,
    /// Each show's replay playlist, at most a second old.
    pub replays: crate::replay_playlists::ReplayPlaylists,
}

/// What every request handler can reach.
pub struct AppState {
    pub pool: AnyPool,
    pub settings: Arc<Settings>,
    /// Compared in constant time; the token itself is not kept.
    pub admin_token: AdminToken,
    pub hub: Hub,
    /// Rate limits of this process.
    pub limits: Arc<crate::limits::RateLimits>,
    /// This process as a node of the service (id, instance, lease).
    pub node: Arc<NodeIdentity>,
    /// Orders and payments; without Stripe settings it refuses to order (503).
    pub checkout: Checkout,
    pub metrics: Arc<Metrics>,
    /// RTMP and SRT publishers (kept for their live count); `None` on a
    /// node without the ingest role.
    pub ingest: Option<media::ingest::Ingest>,
    /// What players are served from memory here: live edges and replay
    /// playlists.
    pub playback: Playback,
    /// Media of shows published to, or recorded on, other nodes.
    pub origins: crate::origin::Origins,
    /// The built pages' files (`None` until `scripts/build_widget.sh` ran).
    pub assets: Option<crate::routes::pages::Manifest>,
    /// Clip export workers, woken when a clip is queued.
    pub clips: crate::clips::ClipWorkers,
    /// Signs the links in buyers' mail that open their order page.
    pub links: crate::notices::OrderLinks,
    /// "Remind me", "notify me when back" and the notices that follow.
    pub announcer: crate::announcements::Announcer,
    /// Cancelled at shutdown; long-lived tasks (live sockets) watch it.
    pub shutdown: CancellationToken,
}
