//! Dropcast's cross-node bus: what one node says, every other node hears,
//! through Redis; and counts (viewers) summed over the nodes still alive.
//!
//! ```text
//!  Bus::publish(channel, payload)
//!        │ queue (never blocks the caller)
//!        ▼
//!  publisher task ── PUBLISH × n in one pipeline, one connection ──▶ Redis
//!                    (one connection, one batch in flight: Redis          │
//!                     delivers in the order they were queued)             │
//!                                                                         ▼
//!  Event::Message ◀── subscriber task ◀── the SUBSCRIBE'd channels (one connection per node)
//! ```
//!
//! - Plain pub/sub, not sharded: Redis 7's sharded pub/sub (SPUBLISH,
//!   SSUBSCRIBE) keeps a channel on one shard of a Redis *Cluster*, so its
//!   fan-out does not cross every shard; on one Redis server, which is what
//!   a Dropcast cluster runs, it does exactly what plain pub/sub does.
//!   redis-rs offers SSUBSCRIBE only on its cluster client, so the day
//!   Redis itself must be a cluster, the subscriber moves to that client
//!   and the commands to their sharded forms; channels are already one per
//!   show, which is what sharding wants. Subscriptions on a multiplexed
//!   connection need RESP3, which the bus asks for.
//! - Every message carries its sender's origin; a bus does not hear its own
//!   messages (the sender has already delivered them locally).
//! - Redis pub/sub keeps nothing: a message published while a subscriber was
//!   cut off is gone. The bus says so rather than hide it: once the
//!   subscriber is back it emits [`Event::Reconnected`] (anything may have
//!   been missed), and once a publisher that failed to send a batch can send
//!   again, it tells the batch's channels [`Event::Lost`]. Whoever listens
//!   reloads its truth from where it is kept (for Dropcast, the database).
//! - Counts: [`Bus::report_counts`] stores this node's count under each key
//!   with a lease and returns each key's sum over the reports whose lease has
//!   not lapsed, so a dead node stops counting within one lease. Leases use
//!   the nodes' clocks, which must agree to well within a lease (NTP).
//! - Rate limits: [`Bus::take`] counts a request against a limit shared by
//!   every node (GCRA in a Lua script, on Redis's clock).
//!
//! The bus knows nothing of shows, sockets or databases: channels, keys and
//! payloads are the caller's.

mod frame;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

/// Most messages sent in one pipeline.
const MAX_BATCH: usize = 512;
/// How long a connection attempt or a reply may take before Redis counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How often the subscriber checks that its connection still answers.
const PING_EVERY: Duration = Duration::from_secs(1);
/// The wait between reconnection attempts: this, doubling up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// What the subscriber hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Another node's message on a subscribed channel.
    Message { channel: String, payload: Vec<u8> },
    /// Another node could not send some of its messages on `channel`: what
    /// listens on it should reload.
    Lost { channel: String },
    /// The subscription connection was lost and is back: messages on any
    /// channel may have been missed meanwhile.
    Reconnected,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Messages handed to Redis.
    pub published: AtomicU64,
    /// Messages that could not be handed to Redis (announced as [`Event::Lost`]).
    pub lost: AtomicU64,
    /// Messages heard from other nodes.
    pub received: AtomicU64,
    /// Times the subscription connection came back after a loss.
    pub reconnects: AtomicU64,
}

enum Control {
    Subscribe(String, oneshot::Sender<()>),
    Unsubscribe(String),
}

/// A node's handle on the bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    publish: mpsc::UnboundedSender<(String, Vec<u8>)>,
    control: mpsc::UnboundedSender<Control>,
    /// The connection for counts, replaced when it fails.
    kv: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    stats: Arc<BusStats>,
}

impl Bus {
    /// Connects to the Redis at `url` (`redis://[user:pass@]host:port[/db]`)
    /// as `origin` (unique per process), checking that it answers, and
    /// starts the publisher and subscriber tasks. Needs a tokio runtime; the
    /// tasks end when every clone of the bus is dropped.
    pub async fn connect(
        url: &str,
        origin: &str,
    ) -> Result<(Bus, mpsc::UnboundedReceiver<Event>), BusError> {
        let client = redis::Client::open(resp3(url).as_str())?;
        let mut kv = connect(&client, None).await?;
        redis::cmd("PING").query_async::<()>(&mut kv).await?;
        let stats = Arc::new(BusStats::default());
        let (publish, publish_rx) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        tokio::spawn(run_publisher(
            client.clone(),
            origin.to_string(),
            publish_rx,
            stats.clone(),
        ));
        tokio::spawn(run_subscriber(
            client.clone(),
            origin.to_string(),
            control_rx,
            events,
            stats.clone(),
        ));
        let bus = Bus {
            inner: Arc::new(Inner {
                client,
                publish,
                control,
                kv: tokio::sync::Mutex::new(Some(kv)),
                stats,
            }),
        };
        Ok((bus, events_rx))
    }

    /// Queues `payload` for every other node subscribed to `channel`.
    /// Never blocks; messages go out in the order they were queued.
    pub fn publish(&self, channel: &str, payload: Vec<u8>) {
        // Fails only once the publisher task is gone (runtime shutting down).
        let _ = self.inner.publish.send((channel.to_string(), payload));
    }

    /// Subscribes to `channel`; resolves once Redis confirmed it (or at once
    /// while Redis is unreachable: [`Event::Reconnected`] follows). Counted:
    /// each subscribe needs its own [`Bus::unsubscribe`].
    pub async fn subscribe(&self, channel: &str) {
        let (ack, done) = oneshot::channel();
        if self
            .inner
            .control
            .send(Control::Subscribe(channel.to_string(), ack))
            .is_ok()
        {
            let _ = done.await;
        }
    }

    /// Drops one subscription of `channel`.
    pub fn unsubscribe(&self, channel: &str) {
        let _ = self
            .inner
            .control
            .send(Control::Unsubscribe(channel.to_string()));
    }

    pub fn stats(&self) -> &BusStats {
        &self.inner.stats
    }

    /// Stores `member`'s count under each key, leased for `lease`, and
    /// returns, in the same order, each key's sum over the members whose
    /// lease has not lapsed. One round trip for all keys.
    pub async fn report_counts(
        &self,
        member: &str,
        counts: &[(String, u64)],
        lease: Duration,
    ) -> Result<Vec<u64>, BusError> {
        let now = now_ms();
        let until = now + lease.as_millis() as u64;
        let mut pipe = redis::pipe();
        for (key, count) in counts {
            pipe.cmd("HSET")
                .arg(key)
                .arg(member)
                .arg(format!("{count}:{until}"))
                .ignore();
            // A key nobody reports to any more disappears on its own.
            pipe.cmd("PEXPIRE")
                .arg(key)
                .arg(lease.as_millis() as u64 * 4)
                .ignore();
            pipe.cmd("HGETALL").arg(key);
        }
        let reports: Vec<Vec<(String, String)>> = self
            .kv(|mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        Ok(reports.iter().map(|r| sum_live(r, now)).collect())
    }

    /// Each key's sum over the reports whose lease has not lapsed.
    pub async fn sum_counts(&self, keys: &[String]) -> Result<Vec<u64>, BusError> {
        let now = now_ms();
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("HGETALL").arg(key);
        }
        let reports: Vec<Vec<(String, String)>> = self
            .kv(|mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        Ok(reports.iter().map(|r| sum_live(r, now)).collect())
    }

    /// Counts one request against `key`'s limit of `limit` requests per
    /// `period` (a burst of `limit`), shared by every node that asks:
    /// `Ok(None)` if it is let through, `Ok(Some(wait))` if it is over the
    /// limit and may try again after `wait`. A refusal is not counted.
    ///
    /// GCRA (the algorithm governor runs in memory) in one Lua script, on
    /// Redis's own clock: nodes' clocks do not enter into it.
    pub async fn take(
        &self,
        key: &str,
        limit: u32,
        period: Duration,
    ) -> Result<Option<Duration>, BusError> {
        let limit = limit.max(1);
        let interval_us = (period.as_micros() / u128::from(limit)).max(1) as u64;
        let key = key.to_string();
        let wait_us: u64 = self
            .kv(|mut c| async move {
                redis::cmd("EVAL")
                    .arg(GCRA)
                    .arg(1)
                    .arg(key)
                    .arg(interval_us)
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }

    /// Runs `f` on the counts connection, connecting first if needed; a
    /// failed call drops the connection so the next one starts afresh.
    async fn kv<T, F, Fut>(&self, f: F) -> Result<T, BusError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = {
            let mut slot = self.inner.kv.lock().await;
            match &*slot {
                Some(c) => c.clone(),
                None => {
                    let c = connect(&self.inner.client, None).await?;
                    *slot = Some(c.clone());
                    c
                }
            }
        };
        match f(conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_unrecoverable_error() || e.is_timeout() || e.is_connection_dropped() {
                    *self.inner.kv.lock().await = None;
                }
                Err(e.into())
            }
        }
    }
}

/// GCRA: `KEYS[1]` holds the theoretical arrival time (µs, Redis's clock);
/// `ARGV[1]` is the emission interval (µs), `ARGV[2]` the burst. Returns 0
/// when the request is let through (and counted), else the µs to wait.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return math.floor(allow_at - now)
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
return 0
"#;

/// The sum of the counts in `reports` (`member → "count:until_ms"`) still leased at `now`.
fn sum_live(reports: &[(String, String)], now: u64) -> u64 {
    reports
        .iter()
        .filter_map(|(_, v)| {
            let (count, until) = v.split_once(':')?;
            let until: u64 = until.parse().ok()?;
            (until >= now).then(|| count.parse::<u64>().ok()).flatten()
        })
        .sum()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The URL asking for RESP3 (push messages on a multiplexed connection).
fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}protocol=resp3")
}

async fn connect(
    client: &redis::Client,
    pushes: Option<mpsc::UnboundedSender<PushInfo>>,
) -> redis::RedisResult<MultiplexedConnection> {
    let mut config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    if let Some(pushes) = pushes {
        config = config.set_push_sender(pushes);
    }
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Waits between reconnection attempts, doubling.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(RETRY_MIN)
    }
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(RETRY_MAX);
        wait
    }
    fn reset(&mut self) {
        self.0 = RETRY_MIN;
    }
}

/// Sends the queued messages, a pipeline at a time. While Redis cannot be
/// reached, messages are counted lost and their channels remembered; the
/// first pipeline that goes through again starts with a lost notice on each.
async fn run_publisher(
    client: redis::Client,
    origin: String,
    mut queue: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    stats: Arc<BusStats>,
) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut lost: BTreeSet<String> = BTreeSet::new();
    let mut backoff = Backoff::new();
    let mut retry_at = Instant::now();
    let mut batch: Vec<(String, Vec<u8>)> = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            first = queue.recv() => {
                let Some(first) = first else { return };
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
            }
            // Lost notices are owed and nothing else is queued: send them on their own.
            _ = tokio::time::sleep_until(retry_at), if !lost.is_empty() => {}
        }
        if conn.is_none() && Instant::now() >= retry_at {
            match connect(&client, None).await {
                Ok(c) => {
                    conn = Some(c);
                    backoff.reset();
                }
                Err(e) => {
                    retry_at = Instant::now() + backoff.next();
                    tracing::warn!(error = %e, "bus: cannot reach Redis to publish");
                }
            }
        }
        let Some(c) = conn.as_mut() else {
            stats.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
            lost.extend(batch.drain(..).map(|(channel, _)| channel));
            continue;
        };
        let mut pipe = redis::pipe();
        for channel in &lost {
            pipe.cmd("PUBLISH")
                .arg(channel)
                .arg(frame::lost(&origin))
                .ignore();
        }
        for (channel, payload) in &batch {
            pipe.cmd("PUBLISH")
                .arg(channel)
                .arg(frame::message(&origin, payload))
                .ignore();
        }
        match pipe.query_async::<()>(c).await {
            Ok(()) => {
                stats
                    .published
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                lost.clear();
                batch.clear();
            }
            Err(e) => {
                tracing::warn!(error = %e, messages = batch.len(), "bus: publishing failed");
                conn = None;
                retry_at = Instant::now() + backoff.next();
                stats.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
                lost.extend(batch.drain(..).map(|(channel, _)| channel));
            }
        }
    }
}

/// The subscription connection and the pushes Redis sends on it.
struct Link {
    conn: MultiplexedConnection,
    pushes: mpsc::UnboundedReceiver<PushInfo>,
}

async fn open_link<'a>(
    client: &redis::Client,
    channels: impl Iterator<Item = &'a String>,
) -> redis::RedisResult<Link> {
    let (tx, pushes) = mpsc::unbounded_channel();
    let mut conn = connect(client, Some(tx)).await?;
    let channels: Vec<&String> = channels.collect();
    if !channels.is_empty() {
        conn.subscribe(channels).await?;
    }
    Ok(Link { conn, pushes })
}

async fn next_push(link: &mut Option<Link>) -> Option<PushInfo> {
    match link {
        Some(link) => link.pushes.recv().await,
        None => std::future::pending().await,
    }
}

/// Holds the subscriptions, delivers what they hear, and reconnects (and
/// resubscribes) when the connection is lost.
async fn run_subscriber(
    client: redis::Client,
    origin: String,
    mut control: mpsc::UnboundedReceiver<Control>,
    events: mpsc::UnboundedSender<Event>,
    stats: Arc<BusStats>,
) {
    // Channel → how many subscribers want it.
    let mut wanted: HashMap<String, usize> = HashMap::new();
    let mut link: Option<Link> = None;
    let mut ever_connected = false;
    let mut backoff = Backoff::new();
    let mut retry_at = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if link.is_none() && Instant::now() >= retry_at {
            match open_link(&client, wanted.keys()).await {
                Ok(l) => {
                    link = Some(l);
                    backoff.reset();
                    if ever_connected {
                        stats.reconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("bus: subscription connection is back");
                        if events.send(Event::Reconnected).is_err() {
                            return;
                        }
                    }
                    ever_connected = true;
                }
                Err(e) => {
                    retry_at = Instant::now() + backoff.next();
                    tracing::warn!(error = %e, "bus: cannot reach Redis to subscribe");
                }
            }
        }
        tokio::select! {
            command = control.recv() => {
                let Some(command) = command else { return };
                match command {
                    Control::Subscribe(channel, ack) => {
                        let n = wanted.entry(channel.clone()).or_insert(0);
                        *n += 1;
                        if *n == 1 && let Some(l) = link.as_mut()
                            && let Err(e) = l.conn.subscribe(&channel).await
                        {
                            tracing::warn!(error = %e, "bus: subscribing failed");
                            link = None;
                        }
                        let _ = ack.send(());
                    }
                    Control::Unsubscribe(channel) => {
                        let Some(n) = wanted.get_mut(&channel) else { continue };
                        *n -= 1;
                        if *n == 0 {
                            wanted.remove(&channel);
                            if let Some(l) = link.as_mut()
                                && let Err(e) = l.conn.unsubscribe(&channel).await
                            {
                                tracing::warn!(error = %e, "bus: unsubscribing failed");
                                link = None;
                            }
                        }
                    }
                }
            }
            push = next_push(&mut link) => match push {
                None => link = None,
                Some(push) => match push.kind {
                    PushKind::Disconnection => {
                        tracing::warn!("bus: lost the subscription connection");
                        link = None;
                    }
                    PushKind::Message => {
                        if let Some(event) = decode(push.data, &origin) {
                            stats.received.fetch_add(1, Ordering::Relaxed);
                            if events.send(event).is_err() {
                                return;
                            }
                        }
                    }
                    _ => {}
                },
            },
            _ = ping.tick(), if link.is_some() => {
                if let Some(l) = link.as_mut()
                    && let Err(e) = l.conn.req_packed_command(&redis::cmd("PING")).await
                {
                    tracing::warn!(error = %e, "bus: the subscription connection stopped answering");
                    link = None;
                }
            }
            _ = tokio::time::sleep_until(retry_at), if link.is_none() => {}
        }
    }
}

/// The event a pushed message stands for, unless this node sent it.
fn decode(mut data: Vec<Value>, origin: &str) -> Option<Event> {
    if data.len() != 2 {
        return None;
    }
    let body = data.pop()?;
    let channel = data.pop()?;
    let channel: String = redis::from_redis_value(channel).ok()?;
    let body: Vec<u8> = redis::from_redis_value(body).ok()?;
    match frame::parse(&body)? {
        frame::Frame { origin: from, .. } if from == origin.as_bytes() => None,
        frame::Frame {
            kind: frame::Kind::Message,
            payload,
            ..
        } => Some(Event::Message {
            channel,
            payload: payload.to_vec(),
        }),
        frame::Frame {
            kind: frame::Kind::Lost,
            ..
        } => Some(Event::Lost { channel }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_only_leases_still_running() {
        let reports = vec![
            ("a".to_string(), "10:2000".to_string()),
            ("b".to_string(), "5:999".to_string()),
            ("c".to_string(), "7:1000".to_string()),
            ("d".to_string(), "garbage".to_string()),
        ];
        assert_eq!(sum_live(&reports, 1000), 17);
    }

    #[test]
    fn the_url_asks_for_resp3_once() {
        assert_eq!(resp3("redis://h:1"), "redis://h:1?protocol=resp3");
        assert_eq!(resp3("redis://h:1/?a=b"), "redis://h:1/?a=b&protocol=resp3");
        assert_eq!(resp3("redis://h/?protocol=3"), "redis://h/?protocol=3");
    }

    #[test]
    fn a_node_does_not_hear_itself() {
        let data = |body: Vec<u8>| vec![Value::BulkString(b"ch".to_vec()), Value::BulkString(body)];
        assert_eq!(decode(data(frame::message("me", b"x")), "me"), None);
        assert_eq!(
            decode(data(frame::message("other", b"x")), "me"),
            Some(Event::Message {
                channel: "ch".into(),
                payload: b"x".to_vec()
            })
        );
        assert_eq!(
            decode(data(frame::lost("other")), "me"),
            Some(Event::Lost {
                channel: "ch".into()
            })
        );
        assert_eq!(decode(data(b"junk".to_vec()), "me"), None);
    }
}
