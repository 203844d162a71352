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

/// What a node does (`DROPCAST_ROLES`, a comma list; by default all three).
///
/// Keeping `ingest` off the nodes with `api` keeps GStreamer's demuxers, fed
/// by whatever a publisher sends, out of the processes that take payments: a
/// media node that crashes takes no order and no other node's show with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The HTTP API, the pages, live sockets and checkout.
    pub api: bool,
    /// RTMP and SRT ingest, the replay recorder, live edges and clip making:
    /// everything that runs GStreamer. Such a node is the origin of the shows
    /// published to it, and serves their media to the other nodes.
    pub ingest: bool,
    /// The cluster's background work: the payment outbox, mail, ending holds
    /// that ran out, and taking over the work of nodes that are gone.
    pub workers: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles::ALL
    }
}

impl Roles {
    pub const ALL: Roles = Roles {
        api: true,
        ingest: true,
        workers: true,
    };

    /// Parses `DROPCAST_ROLES`: `all`, or some of `api`, `ingest`, `workers`.
    pub fn parse(spec: &str) -> Result<Roles, String> {
        let spec = spec.trim();
        if spec == "all" {
            return Ok(Roles::ALL);
        }
        let mut roles = Roles {
            api: false,
            ingest: false,
            workers: false,
        };
        for role in spec.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match role {
                "api" => roles.api = true,
                "ingest" => roles.ingest = true,
                "workers" => roles.workers = true,
                other => {
                    return Err(format!(
                        "unknown role {other:?}; the roles are api, ingest and workers (or all)"
                    ));
                }
            }
        }
        if roles
            == (Roles {
                api: false,
                ingest: false,
                workers: false,
            })
        {
            return Err("name at least one of api, ingest, workers (or all)".into());
        }
        Ok(roles)
    }

    /// As stored in `nodes.roles` and printed: `api,ingest,workers`.
    pub fn list(self) -> String {
        [
            (self.api, "api"),
            (self.ingest, "ingest"),
            (self.workers, "workers"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// Who this process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub node_id: String,
    /// New at every start: tells this process from the node's earlier ones.
    pub instance_id: String,
    /// Where other nodes reach this one.
    pub internal_url: String,
    /// What this node does.
    pub roles: Roles,
}

impl NodeIdentity {
    pub fn new(node_id: String, internal_url: String, roles: Roles) -> Arc<NodeIdentity> {
        Arc::new(NodeIdentity {
            instance_id: crate::domain::ids::new_id("inst"),
            node_id,
            internal_url,
            roles,
        })
    }

    /// The heartbeat time before which a node counts as gone.
    pub fn stale_before_ms() -> i64 {
        crate::now_ms() - LEASE.as_millis() as i64
    }

    /// Records this instance as the node's process (replacing a previous one).
    pub async fn register(&self, pool: &AnyPool) -> Result<(), sqlx::Error> {
        nodes::register(
            pool,
            &self.node_id,
            &self.instance_id,
            &self.internal_url,
            &self.roles.list(),
        )
        .await
    }
}

/// Where publishers reach an ingest node, without the stream key:
/// `rtmp://host:port/live` and `srt://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestBase {
    pub rtmp: String,
    pub srt: String,
}

impl IngestBase {
    /// This node's own listeners, at `host` (`DROPCAST_INGEST_HOST`, by
    /// default the public URL's host).
    pub fn of(host: &str, rtmp_port: u16, srt_port: u16) -> IngestBase {
        IngestBase {
            rtmp: format!("rtmp://{host}:{rtmp_port}/live"),
            srt: format!("srt://{host}:{srt_port}"),
        }
    }

    /// The URLs OBS is given for a stream key.
    pub fn urls(&self, stream_key: &str) -> (String, String) {
        (
            format!("{}/{stream_key}", self.rtmp),
            format!("{}?streamid={stream_key}", self.srt),
        )
    }
}

/// The ingest node a creator is sent to for `show_id`, from the cluster's
/// ingest nodes (`(node id, base, alive)`, any order): the one publishing
/// the show now (`publishing`), else one picked by the show's id among the
/// live ones (the same one on every API node while the set is the same),
/// else among any that ever registered. `None` when no node ingests.
pub fn pick_ingest<'a>(
    show_id: &str,
    publishing: Option<&str>,
    nodes: &'a [(String, IngestBase, bool)],
) -> Option<&'a IngestBase> {
    if let Some(found) = publishing.and_then(|p| nodes.iter().find(|(id, _, _)| id == p)) {
        return Some(&found.1);
    }
    let mut alive: Vec<&(String, IngestBase, bool)> = nodes.iter().filter(|n| n.2).collect();
    if alive.is_empty() {
        alive = nodes.iter().collect();
    }
    alive.sort_by(|a, b| a.0.cmp(&b.0));
    if alive.is_empty() {
        return None;
    }
    let hash = crate::domain::ids::stable_hash(show_id);
    Some(&alive[(hash % alive.len() as u64) as usize].1)
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
    fn roles_parse_and_bad_ones_say_why() {
        assert_eq!(Roles::parse("all").unwrap(), Roles::ALL);
        assert_eq!(Roles::parse("api, ingest ,workers").unwrap(), Roles::ALL);
        let media = Roles::parse("ingest").unwrap();
        assert!(media.ingest && !media.api && !media.workers);
        assert_eq!(media.list(), "ingest");
        assert_eq!(Roles::parse("workers,api").unwrap().list(), "api,workers");
        assert!(Roles::parse("").is_err());
        assert!(Roles::parse(" , ").is_err());
        assert!(Roles::parse("api,media").unwrap_err().contains("media"));
    }

    #[test]
    fn a_show_goes_to_its_publisher_else_to_one_live_ingest_node_picked_by_its_id() {
        let base = |n: u16| IngestBase::of("h", 1935 + n, 9000 + n);
        let nodes = vec![
            ("c".to_string(), base(3), true),
            ("a".to_string(), base(1), false),
            ("b".to_string(), base(2), true),
        ];
        assert_eq!(pick_ingest("shw_x", Some("a"), &nodes), Some(&base(1)));
        // Not published: only live nodes, the same pick every time, and
        // shows spread over both.
        let picks: std::collections::HashSet<u16> = (0..40)
            .map(|i| {
                let show = format!("shw_{i}");
                let first = pick_ingest(&show, None, &nodes).unwrap();
                assert_eq!(pick_ingest(&show, Some("gone"), &nodes), Some(first));
                first
                    .rtmp
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .trim_end_matches("/live")
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(picks, [1937, 1938].into_iter().collect());
        let dead = vec![("a".to_string(), base(1), false)];
        assert_eq!(pick_ingest("shw_x", None, &dead), Some(&base(1)));
        assert_eq!(pick_ingest("shw_x", None, &[]), None);
        assert_eq!(
            base(0).urls("live_k"),
            (
                "rtmp://h:1935/live/live_k".to_string(),
                "srt://h:9000?streamid=live_k".to_string()
            )
        );
    }

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
