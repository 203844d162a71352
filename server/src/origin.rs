//! Media across nodes: a viewer on any node plays a show published to
//! another, whether or not the nodes share a disk.
//!
//! ```text
//!  viewer ─▶ edge node ──(not here?)──▶ origin node's internal URL
//!              │  live: the node holding the show's ingest lease
//!              │  replay segment: the node that recorded it (segments.node_id)
//!              │  clip file: the node that made it (clips.owner_node)
//!              ▼
//!        one fetch per object, whoever asks meanwhile waits on it;
//!        immutable objects kept (live ones in memory for their window,
//!        replay segments on disk), playlists never kept
//! ```
//!
//! The edge asks the origin exactly what the viewer asked it (blocking
//! reloads included: the origin holds them, the edge passes them through),
//! with [`HOP`] set: a node asked with it answers from what it has and never
//! asks on, so two nodes that each think the other is the origin cannot
//! loop. Internal URLs are plain HTTP on a private network (reqwest here is
//! built without TLS).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use sqlx::AnyPool;
use tokio::time::Instant;

use crate::node::NodeIdentity;
use crate::store;

/// Set on requests between nodes: answer from here, do not ask on.
pub const HOP: &str = "x-dropcast-hop";

/// Whether another node asked (it must be answered from what is here).
pub fn asked_by_a_node(req: &actix_web::HttpRequest) -> bool {
    req.headers().contains_key(HOP)
}

/// How long the answer to "who publishes this show" is reused.
const ORIGIN_FRESH: Duration = Duration::from_secs(1);
/// How long a live object (init section, segment, part) is kept: it leaves
/// the live window well within this, and a new publishing session numbers
/// its objects afresh only after a new lease, asked again each second.
const LIVE_OBJECT_KEPT: Duration = Duration::from_secs(30);
/// Most live objects kept in memory at once.
const MAX_KEPT: usize = 2048;
/// How long an edge waits for the origin. A blocking reload waits for the
/// next part on the origin (a few seconds at most) before it answers.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// What the origin answered.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

type Flight = Shared<BoxFuture<'static, Result<Fetched, String>>>;

/// Show → (the publishing node's internal URL, when it was looked up).
type LiveOrigins = HashMap<String, (Option<String>, Instant)>;

struct Entry {
    flight: Flight,
    /// Until when a finished fetch is reused; `None`: dropped once done.
    keep_until: Option<Instant>,
}

/// This node's fetches from other nodes. Cheap to clone.
#[derive(Clone)]
pub struct Origins {
    client: reqwest::Client,
    me: Arc<NodeIdentity>,
    data_dir: PathBuf,
    /// Whether there are other nodes (`REDIS_URL`); a single node never
    /// asks anyone, and pays no lookup for it.
    clustered: bool,
    live: Arc<Mutex<LiveOrigins>>,
    /// Fetches in flight, and live objects kept.
    flights: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Origins {
    pub fn new(me: Arc<NodeIdentity>, data_dir: PathBuf, clustered: bool) -> Origins {
        Origins {
            client: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .unwrap_or_default(),
            me,
            data_dir,
            clustered,
            live: Arc::default(),
            flights: Arc::default(),
        }
    }

    /// The internal URL of the node publishing `show_id`, if that is
    /// another node (looked up at most once a second per show).
    pub async fn live_origin(
        &self,
        pool: &AnyPool,
        show_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        if !self.clustered {
            return Ok(None);
        }
        if let Some((url, at)) = self.lock_live().get(show_id)
            && at.elapsed() < ORIGIN_FRESH
        {
            return Ok(url.clone());
        }
        let url = store::media::live_origin(
            pool,
            show_id,
            &self.me.node_id,
            NodeIdentity::stale_before_ms(),
        )
        .await?;
        let mut live = self.lock_live();
        if live.len() > 10_000 {
            live.retain(|_, (_, at)| at.elapsed() < ORIGIN_FRESH);
        }
        live.insert(show_id.to_string(), (url.clone(), Instant::now()));
        Ok(url)
    }

    /// `GET {origin}{path}` (path with its query), one request for every
    /// caller asking the same meanwhile; with `keep`, a 200 answer is
    /// reused for [`LIVE_OBJECT_KEPT`].
    pub async fn fetch(&self, origin: &str, path: &str, keep: bool) -> Result<Fetched, String> {
        let key = format!("{origin}{path}");
        let flight = {
            let mut flights = self.lock_flights();
            let now = Instant::now();
            match flights.get(&key) {
                Some(entry) if entry.keep_until.is_none_or(|t| t > now) => entry.flight.clone(),
                _ => {
                    if flights.len() > MAX_KEPT {
                        flights.retain(|_, e| e.keep_until.is_some_and(|t| t > now));
                    }
                    let client = self.client.clone();
                    let url = key.clone();
                    let flight = async move { get(&client, &url).await }.boxed().shared();
                    flights.insert(
                        key.clone(),
                        Entry {
                            flight: flight.clone(),
                            keep_until: None,
                        },
                    );
                    flight
                }
            }
        };
        let result = flight.clone().await;
        let mut flights = self.lock_flights();
        if let Some(entry) = flights.get_mut(&key)
            && entry.keep_until.is_none()
            && entry.flight.ptr_eq(&flight)
        {
            match &result {
                Ok(f) if keep && f.status == 200 => {
                    entry.keep_until = Some(Instant::now() + LIVE_OBJECT_KEPT);
                }
                _ => {
                    flights.remove(&key);
                }
            }
        }
        result
    }

    /// A replay segment's file in this node's data dir, fetched from the
    /// node that recorded it if it is not here yet. `None`: nobody has it.
    pub async fn replay_file(
        &self,
        pool: &AnyPool,
        show_id: &str,
        seq: u64,
        file: &str,
    ) -> Result<Option<PathBuf>, sqlx::Error> {
        if !self.clustered {
            return Ok(None);
        }
        let cached = self.cache_path(show_id, file);
        if tokio::fs::try_exists(&cached).await.unwrap_or(false) {
            return Ok(Some(cached));
        }
        let Some(origin) =
            store::media::segment_origin(pool, show_id, seq as i64, &self.me.node_id).await?
        else {
            return Ok(None);
        };
        Ok(self
            .keep(&origin, &format!("/hls/{show_id}/{file}"), cached)
            .await)
    }

    /// A finished clip's file in this node's data dir (`dest`), fetched
    /// from the node that made it if it is not here yet.
    pub async fn clip_file(
        &self,
        pool: &AnyPool,
        clip_id: &str,
        dest: PathBuf,
    ) -> Result<Option<PathBuf>, sqlx::Error> {
        if !self.clustered {
            return Ok(None);
        }
        let Some(origin) = store::clips::maker_origin(pool, clip_id, &self.me.node_id).await?
        else {
            return Ok(None);
        };
        Ok(self
            .keep(&origin, &format!("/api/v1/clips/{clip_id}/file"), dest)
            .await)
    }

    /// Fetches an immutable file from `origin` and keeps it at `dest`.
    async fn keep(&self, origin: &str, path: &str, dest: PathBuf) -> Option<PathBuf> {
        let fetched = match self.fetch(origin, path, false).await {
            Ok(f) if f.status == 200 => f,
            Ok(f) => {
                tracing::warn!(%origin, path, status = f.status, "the node that has the file did not give it");
                return None;
            }
            Err(e) => {
                tracing::warn!(%origin, path, error = %e, "cannot fetch a file from the node that has it");
                return None;
            }
        };
        match write_atomically(&dest, &fetched.body).await {
            Ok(()) => Some(dest),
            Err(e) => {
                tracing::warn!(error = %e, path = %dest.display(), "cannot keep a fetched file");
                None
            }
        }
    }

    /// Where a segment fetched from another node is kept.
    fn cache_path(&self, show_id: &str, file: &str) -> PathBuf {
        self.data_dir.join("edge").join(show_id).join(file)
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, LiveOrigins> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_flights(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Fetched, String> {
    let response = client
        .get(url)
        .header(HOP, "1")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    Ok(Fetched {
        status,
        content_type,
        body,
    })
}

/// Writes `body` to `path` through a temporary file, so a reader never
/// sees half a segment.
async fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = path.with_extension(format!("part{}", rand::random::<u32>()));
    tokio::fs::write(&tmp, body).await?;
    tokio::fs::rename(&tmp, path).await
}
