//! Publishing sessions: who may stream, one publisher per show, and what the
//! server hears about it.
//!
//! RTMP ([`crate::rtmp`]) and SRT ([`crate::srt`]) connections both end up
//! here. [`Ingest::begin`] asks the server's [`IngestHandler`] which show a
//! stream key belongs to, refuses a second publisher on a live show, and
//! starts a [`Segmenter`] writing that show's replay buffer. The handler hears
//! `Live` when the stream goes up and down, and every finished segment.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use crate::segmenter::StreamCut;
use crate::segmenter::{Container, FloodLimits, Segment, Segmenter};

/// What a connection may do before it publishes, and how much a publisher
/// may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Open connections (RTMP or SRT) from one address at once.
    pub max_connections_per_ip: usize,
    /// From accepting an RTMP connection to its publish being accepted
    /// (handshake, connect, createStream, publish).
    pub handshake_deadline: Duration,
    /// Bytes an RTMP connection may send before its publish is accepted (the
    /// commands before it take a few hundred; a huge "message" before
    /// publishing is refused, not buffered).
    pub max_pre_publish_bytes: usize,
    /// Once publishing: the bounded queue and pace check of the pipeline.
    pub flood: FloodLimits,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_connections_per_ip: 16,
            handshake_deadline: Duration::from_secs(10),
            max_pre_publish_bytes: 64 * 1024,
            flood: FloodLimits::default(),
        }
    }
}

/// A stream key the server recognised.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub show_id: String,
    /// Where this show's segments go.
    pub dir: PathBuf,
    /// The number of the next segment (continues the buffer across reconnects).
    pub next_seq: u64,
    /// Where the buffer's last segment ends (0 when empty): the new session's
    /// spans start no earlier.
    pub buffer_end_ms: i64,
    /// The show's live edge, fed LL-HLS parts (none: replay buffer only).
    pub live: Option<crate::live::Track>,
}

/// What a publishing session tells the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestEvent {
    Live {
        show_id: String,
        live: bool,
    },
    Segment {
        show_id: String,
        segment: Segment,
    },
    /// The server cut the stream (sent before its `Live(false)`).
    Cut {
        show_id: String,
        cut: StreamCut,
    },
    /// The video's keyframe interval as measured (sent when it changes by
    /// more than a frame or two).
    KeyframeInterval {
        show_id: String,
        interval: Duration,
    },
}

/// A boxed future, for the handler's one async method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The server's side of ingest.
pub trait IngestHandler: Send + Sync + 'static {
    /// The show a stream key publishes to; `None` refuses the publisher.
    fn authorize<'a>(&'a self, stream_key: &'a str) -> BoxFuture<'a, Option<Authorized>>;
    /// Whether a connection attempt from `peer` may go on at all (rate
    /// limits, which may be shared with other processes), asked before
    /// anything is read from it.
    fn admit(&self, _peer: std::net::IpAddr) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
    /// Called in order for each session: `Live(true)`, segments, `Live(false)`.
    fn event(&self, event: IngestEvent);
    /// Takes the right to publish the show for `session` (numbered within
    /// this process), beyond this process: in a cluster, one publisher per
    /// show across every node. Asked once this process has no other
    /// publisher of the show; false refuses the publisher. By default, this
    /// process is the only one.
    fn claim<'a>(&'a self, _show_id: &'a str, _session: u64) -> BoxFuture<'a, bool> {
        Box::pin(async { true })
    }
    /// The session that claimed the show is over (after its `Live(false)`,
    /// or without any event when its pipeline never started).
    fn unclaim(&self, _show_id: &str, _session: u64) {}
}

/// Numbers the publishing sessions of this process.
static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Why a publisher was turned away.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("unknown stream key")]
    UnknownKey,
    #[error("this show already has a publisher")]
    AlreadyLive,
    #[error("the pipeline could not start: {0}")]
    Failed(#[from] crate::MediaError),
}

struct Inner {
    handler: Arc<dyn IngestHandler>,
    /// Shows with a publisher now.
    live: Mutex<HashSet<String>>,
    /// A segment ends at the first keyframe after this much media.
    min_segment: Duration,
    limits: IngestLimits,
    /// Open connections by address.
    connections: Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// An open connection, counted against its address until dropped.
pub struct ConnectionSlot {
    ingest: Ingest,
    ip: std::net::IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .ingest
            .0
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The ingest of this process. Cheap to clone.
#[derive(Clone)]
pub struct Ingest(Arc<Inner>);

impl Ingest {
    pub fn new(handler: Arc<dyn IngestHandler>, min_segment: Duration) -> Ingest {
        Ingest::with_limits(handler, min_segment, IngestLimits::default())
    }

    pub fn with_limits(
        handler: Arc<dyn IngestHandler>,
        min_segment: Duration,
        limits: IngestLimits,
    ) -> Ingest {
        Ingest(Arc::new(Inner {
            handler,
            live: Mutex::new(HashSet::new()),
            min_segment,
            limits,
            connections: Mutex::default(),
        }))
    }

    pub fn limits(&self) -> &IngestLimits {
        &self.0.limits
    }

    /// Counts a new connection from `ip`; `None` when that address has
    /// `max_connections_per_ip` open already (the connection is then closed
    /// before anything is read from it).
    pub fn connect(&self, ip: std::net::IpAddr) -> Option<ConnectionSlot> {
        let mut open = self.0.connections.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.0.limits.max_connections_per_ip {
            tracing::warn!(%ip, open = *n, "ingest connection refused: too many from this address");
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            ingest: self.clone(),
            ip,
        })
    }

    /// Shows with a publisher now.
    pub fn live_shows(&self) -> usize {
        self.0.live.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Whether a connection attempt from `peer` may go on (the handler's rate limits).
    pub async fn admit(&self, peer: std::net::IpAddr) -> bool {
        self.0.handler.admit(peer).await
    }

    /// Starts publishing `stream_key`, or says why not.
    pub async fn begin(&self, stream_key: &str, container: Container) -> Result<Session, Refusal> {
        let auth = self
            .0
            .handler
            .authorize(stream_key)
            .await
            .ok_or(Refusal::UnknownKey)?;
        {
            let mut live = self.0.live.lock().unwrap_or_else(|e| e.into_inner());
            if !live.insert(auth.show_id.clone()) {
                return Err(Refusal::AlreadyLive);
            }
        }
        let session = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !self.0.handler.claim(&auth.show_id, session).await {
            self.release(&auth.show_id);
            return Err(Refusal::AlreadyLive);
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let segmenter = match Segmenter::start(
            container,
            &auth.dir,
            crate::segmenter::Numbering {
                first_seq: auth.next_seq,
                not_before_ms: auth.buffer_end_ms,
            },
            self.0.min_segment,
            tx,
            auth.live.as_ref(),
            self.0.limits.flood,
        ) {
            Ok(s) => s,
            Err(e) => {
                self.release(&auth.show_id);
                self.0.handler.unclaim(&auth.show_id, session);
                return Err(Refusal::Failed(e));
            }
        };
        self.0.handler.event(IngestEvent::Live {
            show_id: auth.show_id.clone(),
            live: true,
        });
        let handler = self.0.handler.clone();
        let show_id = auth.show_id.clone();
        let track = auth.live.clone();
        let forward = tokio::spawn(async move {
            let mut told: Option<Duration> = None;
            while let Some(segment) = rx.recv().await {
                handler.event(IngestEvent::Segment {
                    show_id: show_id.clone(),
                    segment,
                });
                // Told once per segment at most, when it moved by > 100 ms.
                if let Some(interval) = track.as_ref().and_then(|t| t.keyframe_interval())
                    && told.is_none_or(|t| t.abs_diff(interval) > Duration::from_millis(100))
                {
                    told = Some(interval);
                    handler.event(IngestEvent::KeyframeInterval {
                        show_id: show_id.clone(),
                        interval,
                    });
                }
            }
        });
        tracing::info!(show = %auth.show_id, ?container, "publisher connected");
        Ok(Session {
            ingest: self.clone(),
            session,
            show_id: auth.show_id,
            segmenter: Some(segmenter),
            forward: Some(forward),
        })
    }

    fn release(&self, show_id: &str) {
        let mut live = self.0.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(show_id);
    }
}

/// One publisher's session. End it with [`Session::end`]; dropping it also
/// frees the show (the last segment may then be lost).
pub struct Session {
    ingest: Ingest,
    /// This session's number, under which it claimed the show.
    session: u64,
    show_id: String,
    segmenter: Option<Segmenter>,
    forward: Option<JoinHandle<()>>,
}

impl Session {
    pub fn show_id(&self) -> &str {
        &self.show_id
    }

    /// Feeds bytes of the container stream.
    pub fn push(&self, bytes: &[u8]) -> Result<(), crate::MediaError> {
        match &self.segmenter {
            Some(s) => s.push(bytes),
            None => Ok(()),
        }
    }

    /// Closes the last segment, reports every segment, then the cut if the
    /// server made one, then `Live(false)`.
    pub async fn end(mut self) {
        let mut cut = None;
        if let Some(segmenter) = self.segmenter.take() {
            let fault = segmenter.cut_cell();
            if let Err(e) = segmenter.finish(Duration::from_secs(10)).await {
                tracing::warn!(show = %self.show_id, error = %e, "stream ended with an error");
            }
            cut = fault.get().cloned();
        }
        if let Some(forward) = self.forward.take() {
            let _ = forward.await;
        }
        if let Some(cut) = cut {
            tracing::warn!(show = %self.show_id, reason = cut.code(), detail = cut.detail(), "stream cut");
            self.ingest.0.handler.event(IngestEvent::Cut {
                show_id: self.show_id.clone(),
                cut,
            });
        }
        self.close();
    }

    fn close(&mut self) {
        self.ingest.release(&self.show_id);
        self.ingest.0.handler.event(IngestEvent::Live {
            show_id: self.show_id.clone(),
            live: false,
        });
        self.ingest.0.handler.unclaim(&self.show_id, self.session);
        tracing::info!(show = %self.show_id, "publisher disconnected");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.segmenter.is_some() || self.forward.is_some() {
            self.segmenter = None;
            self.close();
        }
    }
}
