//! This process as a node of the service.
//!
//! A node has a stable id (`DROPCAST_NODE_ID`, by default this host and its
//! HTTP port) and, for each start, a fresh instance id. Work in flight —
//! orders holding stock, outbox jobs — names the node and instance that
//! own it. The node renews a lease in the database (`nodes.heartbeat_at_ms`)
//! every [`HEARTBEAT`]; a node whose heartbeat is older than [`LEASE`] is
//! gone, and others take its work over. A node's own restart settles its
//! previous instance's work at once: one node id runs one process at a time.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio_util::sync::CancellationToken;

use crate::store::nodes;

/// How often the lease is renewed.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node silent for this long is taken for dead.
pub const LEASE: Duration = Duration::from_secs(20);

/// Who this process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub node_id: String,
    /// New at every start: tells this process from the node's earlier ones.
    pub instance_id: String,
    /// Where other nodes reach this one.
    pub internal_url: String,
}

impl NodeIdentity {
    pub fn new(node_id: String, internal_url: String) -> Arc<NodeIdentity> {
        Arc::new(NodeIdentity {
            instance_id: crate::domain::ids::new_id("inst"),
            node_id,
            internal_url,
        })
    }

    /// The heartbeat time before which a node counts as gone.
    pub fn stale_before_ms() -> i64 {
        crate::now_ms() - LEASE.as_millis() as i64
    }

    /// Records this instance as the node's process (replacing a previous one).
    pub async fn register(&self, pool: &AnyPool) -> Result<(), sqlx::Error> {
        nodes::register(pool, &self.node_id, &self.instance_id, &self.internal_url).await
    }
}

/// `DROPCAST_INTERNAL_URL` as other nodes' paths are appended to it:
/// without a trailing slash (`http://10.0.0.2:8080/` would make `//hls/…`).
pub fn internal_base(url: &url::Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// The default node id: this host and the HTTP port.
pub fn default_node_id(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{port}")
}

/// Renews the lease until shutdown.
pub async fn run_heartbeat(pool: AnyPool, me: Arc<NodeIdentity>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => match nodes::heartbeat(&pool, &me.node_id, &me.instance_id).await {
                Ok(true) => {}
                Ok(false) => tracing::error!(
                    node = %me.node_id,
                    "another process has registered this node id: two processes share DROPCAST_NODE_ID"
                ),
                Err(e) => tracing::warn!(error = %e, "node heartbeat failed"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_urls_take_paths_without_a_double_slash() {
        let url = url::Url::parse("http://10.0.0.2:8080").unwrap();
        assert_eq!(internal_base(&url), "http://10.0.0.2:8080");
        let url = url::Url::parse("http://node-b.internal:8080/").unwrap();
        assert_eq!(
            format!("{}/hls/x", internal_base(&url)),
            "http://node-b.internal:8080/hls/x"
        );
    }
}
