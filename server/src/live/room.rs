//! One show's room: a task that owns the show's live state, driven by
//! [`Change`] commands through a cloneable [`RoomHandle`].
//!
//! For each change the task bumps the show's `seq`, serializes the event once
//! into a shared buffer and broadcasts it. Before it broadcasts, it stores the
//! new state as the room's snapshot, so a socket that reads the snapshot at
//! `seq = S` and then skips every frame numbered `<= S` misses nothing and
//! sees nothing twice. A socket that falls further behind than the broadcast
//! buffer is told to resync and is sent that snapshot.
//!
//! Stock frames are rate-limited per product: the first change goes out at
//! once, changes within `stock_min_interval` of it are folded into one frame
//! with the latest figure when the interval is up. A flash sale of thousands of
//! orders a second thus costs each viewer about ten frames a second.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytestring::ByteString;
use serde::Serialize;
use sqlx::AnyPool;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use wire::{Countdown, Product, ServerMsg, ShowSummary};

use super::{Change, JoinError, Rooms};
use crate::configuration::LiveSettings;
use crate::store::{self, ShowState};
use crate::telemetry::Metrics;

/// One serialized event, shared by every socket of the show.
#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: u64,
    pub text: ByteString,
    /// Only for the creator's and editors' sockets (clip progress).
    pub staff_only: bool,
}

/// The show as a new (or resyncing) socket must see it, at `seq`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub seq: u64,
    pub show: ShowSummary,
    pub products: Vec<Product>,
    pub pinned_product_id: Option<String>,
    pub countdowns: Vec<Countdown>,
}

/// The snapshot frame, serialized from borrowed state (no copy per socket).
/// Its shape is `wire::ServerMsg::Snapshot`; a test holds the two together.
#[derive(Serialize)]
struct SnapshotFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    server_time_ms: i64,
    show: &'a ShowSummary,
    products: &'a [Product],
    pinned_product_id: &'a Option<String>,
    countdowns: &'a [Countdown],
    viewers: u64,
}

impl Snapshot {
    /// The snapshot frame as sent now, with the current viewer count.
    pub fn to_frame(&self, viewers: u64) -> Frame {
        let frame = SnapshotFrame {
            kind: "snapshot",
            seq: self.seq,
            server_time_ms: crate::now_ms(),
            show: &self.show,
            products: &self.products,
            pinned_product_id: &self.pinned_product_id,
            countdowns: &self.countdowns,
            viewers,
        };
        Frame {
            seq: self.seq,
            text: serialize(&frame),
            staff_only: false,
        }
    }
}

fn serialize<T: Serialize>(value: &T) -> ByteString {
    // Our own types hold no maps with non-string keys: serialization cannot fail.
    ByteString::from(serde_json::to_string(value).unwrap_or_default())
}

/// Where a room is in its life, as seen by sockets.
#[derive(Debug, Clone)]
pub enum RoomState {
    Loading,
    Ready(Arc<Snapshot>),
    /// The show does not exist, or the room was dropped.
    Gone,
    /// The state could not be loaded (database down).
    Failed,
}

/// What a room's task is told to do.
// Changes were sent unboxed before Reload existed; boxing each one to shrink
// the rare Reload would cost an allocation per change.
#[allow(clippy::large_enum_variant)]
pub(super) enum Command {
    /// A committed change, from this node or another.
    Apply(Change),
    /// Changes may have been missed (the bus said so): load the state again
    /// and send every socket a fresh snapshot.
    Reload,
}

struct RoomShared {
    show_id: String,
    commands: mpsc::UnboundedSender<Command>,
    frames: broadcast::Sender<Frame>,
    state: watch::Sender<RoomState>,
    /// Sockets of this process on the show now.
    viewers: AtomicU64,
    /// In a cluster, the viewers of every node, as last summed; the figure
    /// sockets are shown then.
    cluster_viewers: Option<AtomicU64>,
}

/// A cloneable handle to a room's task.
#[derive(Clone)]
pub struct RoomHandle(Arc<RoomShared>);

impl RoomHandle {
    pub(super) fn spawn(
        show_id: String,
        pool: AnyPool,
        settings: LiveSettings,
        metrics: Arc<Metrics>,
        rooms: Rooms,
        bus: Option<(bus::Bus, String)>,
    ) -> RoomHandle {
        let (commands, rx) = mpsc::unbounded_channel();
        let (frames, _) = broadcast::channel(settings.broadcast_capacity.max(1));
        let (state, _) = watch::channel(RoomState::Loading);
        let handle = RoomHandle(Arc::new(RoomShared {
            show_id,
            commands,
            frames,
            state,
            viewers: AtomicU64::new(0),
            cluster_viewers: bus.is_some().then(|| AtomicU64::new(0)),
        }));
        metrics.live_rooms.inc();
        tokio::spawn(run(handle.clone(), rx, pool, settings, metrics, rooms, bus));
        handle
    }

    pub(super) fn send(&self, change: Change) {
        // Fails only once the task ended, and then nobody is listening.
        let _ = self.0.commands.send(Command::Apply(change));
    }

    pub(super) fn reload(&self) {
        let _ = self.0.commands.send(Command::Reload);
    }

    pub fn show_id(&self) -> &str {
        &self.0.show_id
    }

    pub(super) fn set_cluster_viewers(&self, count: u64) {
        if let Some(c) = &self.0.cluster_viewers {
            c.store(count, Ordering::Relaxed);
        }
    }

    /// The viewer count sockets are shown: the cluster's in a cluster,
    /// this node's otherwise.
    pub fn shown_viewers(&self) -> u64 {
        match &self.0.cluster_viewers {
            Some(c) => c.load(Ordering::Relaxed),
            None => self.viewers(),
        }
    }

    pub(super) fn subscribe_frames(&self) -> broadcast::Receiver<Frame> {
        self.0.frames.subscribe()
    }

    pub(super) async fn wait_ready(&self) -> Result<(), JoinError> {
        let mut rx = self.0.state.subscribe();
        let state = rx
            .wait_for(|s| !matches!(s, RoomState::Loading))
            .await
            .map_err(|_| JoinError::Unavailable)?
            .clone();
        match state {
            RoomState::Ready(_) => Ok(()),
            RoomState::Gone => Err(JoinError::NotFound),
            RoomState::Failed | RoomState::Loading => Err(JoinError::Unavailable),
        }
    }

    /// The latest snapshot, if the room is ready.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        match &*self.0.state.borrow() {
            RoomState::Ready(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn viewers(&self) -> u64 {
        self.0.viewers.load(Ordering::Relaxed)
    }
}

/// What a socket reads next from its room.
#[derive(Debug)]
pub enum Next {
    Frame(Frame),
    /// The socket fell behind the broadcast buffer: send it a fresh snapshot.
    Resync,
    /// The room is gone (process shutting down).
    Closed,
}

/// A socket's membership of a room: its frames, and its place in the count.
pub struct Subscription {
    room: RoomHandle,
    frames: broadcast::Receiver<Frame>,
    /// Whether staff-only frames are for this socket. Staff sockets (the
    /// studio) are not viewers: they are left out of the viewer count, so
    /// the creator watching their own stats does not inflate them.
    staff: bool,
}

impl Subscription {
    pub(super) fn new(room: RoomHandle, frames: broadcast::Receiver<Frame>, staff: bool) -> Self {
        if !staff {
            room.0.viewers.fetch_add(1, Ordering::Relaxed);
        }
        Subscription {
            room,
            frames,
            staff,
        }
    }

    pub fn room(&self) -> &RoomHandle {
        &self.room
    }

    /// The snapshot frame to send now (first frame, or after a resync).
    pub fn snapshot_frame(&self) -> Option<Frame> {
        self.room
            .snapshot()
            .map(|s| s.to_frame(self.room.shown_viewers()))
    }

    pub async fn recv(&mut self) -> Next {
        loop {
            return match self.frames.recv().await {
                Ok(frame) if frame.staff_only && !self.staff => continue,
                Ok(frame) => Next::Frame(frame),
                Err(broadcast::error::RecvError::Lagged(_)) => Next::Resync,
                Err(broadcast::error::RecvError::Closed) => Next::Closed,
            };
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.staff {
            self.room.0.viewers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The room task's own state.
struct Model {
    snapshot: Snapshot,
    /// Show-row versions of the last pin and live changes applied. The show
    /// row has one counter; each field keeps the version it was last set at,
    /// so a late pin is not mistaken for stale by a newer live change.
    pin_version: i64,
    live_version: i64,
    /// The show row's version its title, schedule and cover are of.
    show_version: i64,
    product_versions: HashMap<String, i64>,
    /// Products whose latest stock has not been sent yet (rate limit).
    pending_stock: HashSet<String>,
    last_stock_at: HashMap<String, Instant>,
    next_flush: Option<Instant>,
    viewers_sent: u64,
    /// Highest viewer count written to the database (stats read it).
    peak_recorded: u64,
    /// Frames produced by the changes being applied, sent after the snapshot is stored.
    out: Vec<Frame>,
}

impl Model {
    fn new(state: ShowState) -> Model {
        let product_versions = state
            .products
            .iter()
            .map(|p| (p.id.clone(), p.version))
            .collect();
        let view = state.to_view();
        Model {
            snapshot: Snapshot {
                seq: 0,
                show: ShowSummary {
                    id: view.id,
                    title: view.title,
                    live: view.live,
                    scheduled_at_ms: state.show.scheduled_at_ms,
                    cover_url: state.show.cover_url.clone(),
                },
                products: view.products,
                pinned_product_id: view.pinned_product_id,
                countdowns: view.countdowns,
            },
            pin_version: state.show.version,
            live_version: state.show.version,
            show_version: state.show.version,
            product_versions,
            pending_stock: HashSet::new(),
            last_stock_at: HashMap::new(),
            next_flush: None,
            viewers_sent: 0,
            peak_recorded: 0,
            out: Vec::new(),
        }
    }

    /// Replaces the state with `state` as loaded again, and queues the whole
    /// of it as a snapshot frame: numbered on from the current `seq`, so a
    /// socket takes it as the next frame and replaces what it had.
    fn reload(&mut self, state: ShowState, viewers: u64) {
        let seq = self.snapshot.seq + 1;
        let mut fresh = Model::new(state);
        fresh.snapshot.seq = seq;
        fresh.viewers_sent = viewers;
        fresh.peak_recorded = self.peak_recorded;
        *self = fresh;
        let frame = self.snapshot.to_frame(viewers);
        self.out.push(frame);
    }

    /// Numbers and serializes one event.
    fn emit(&mut self, build: impl FnOnce(u64) -> ServerMsg) {
        self.emit_to(false, build);
    }

    fn emit_to(&mut self, staff_only: bool, build: impl FnOnce(u64) -> ServerMsg) {
        self.snapshot.seq += 1;
        let seq = self.snapshot.seq;
        self.out.push(Frame {
            seq,
            text: serialize(&build(seq)),
            staff_only,
        });
    }

    fn apply(&mut self, change: Change, now: Instant, settings: &LiveSettings) {
        match change {
            Change::Product { product, version } => {
                self.apply_product(product, version, now, settings)
            }
            Change::Pin {
                product_id,
                version,
            } => {
                if version <= self.pin_version {
                    return;
                }
                self.pin_version = version;
                if self.snapshot.pinned_product_id != product_id {
                    self.snapshot.pinned_product_id = product_id.clone();
                    self.emit(|seq| ServerMsg::Pin { seq, product_id });
                }
            }
            Change::Live { live, version } => {
                if version <= self.live_version {
                    return;
                }
                self.live_version = version;
                if self.snapshot.show.live != live {
                    self.snapshot.show.live = live;
                    self.emit(|seq| ServerMsg::Live { seq, live });
                }
            }
            Change::Show {
                title,
                scheduled_at_ms,
                cover_url,
                version,
            } => {
                if version <= self.show_version {
                    return;
                }
                self.show_version = version;
                let show = &mut self.snapshot.show;
                if (&show.title, show.scheduled_at_ms, &show.cover_url)
                    != (&title, scheduled_at_ms, &cover_url)
                {
                    show.title.clone_from(&title);
                    show.scheduled_at_ms = scheduled_at_ms;
                    show.cover_url.clone_from(&cover_url);
                    self.emit(|seq| ServerMsg::Show {
                        seq,
                        title,
                        scheduled_at_ms,
                        cover_url,
                    });
                }
            }
            Change::Countdown { countdown } => {
                match self
                    .snapshot
                    .countdowns
                    .iter_mut()
                    .find(|c| c.id == countdown.id)
                {
                    Some(existing) if *existing == countdown => return,
                    Some(existing) => *existing = countdown.clone(),
                    None => self.snapshot.countdowns.push(countdown.clone()),
                }
                self.emit(|seq| ServerMsg::Countdown { seq, countdown });
            }
            Change::CountdownRemoved { countdown_id } => {
                let before = self.snapshot.countdowns.len();
                self.snapshot.countdowns.retain(|c| c.id != countdown_id);
                if self.snapshot.countdowns.len() != before {
                    self.emit(|seq| ServerMsg::CountdownRemoved { seq, countdown_id });
                }
            }
            Change::Clip { clip } => self.emit_to(true, |seq| ServerMsg::Clip { seq, clip }),
            Change::Sold {
                product_id,
                quantity,
                buyer,
            } => {
                self.emit(|seq| ServerMsg::Sold {
                    seq,
                    product_id,
                    quantity,
                    buyer,
                });
            }
        }
    }

    fn apply_product(
        &mut self,
        product: Product,
        version: i64,
        now: Instant,
        settings: &LiveSettings,
    ) {
        let known = self.product_versions.get(&product.id).copied();
        if known.is_some_and(|v| version <= v) {
            return;
        }
        self.product_versions.insert(product.id.clone(), version);
        let existing = self
            .snapshot
            .products
            .iter_mut()
            .find(|p| p.id == product.id);
        let stock_only = match existing {
            None => {
                self.snapshot.products.push(product.clone());
                false
            }
            Some(existing) => {
                let mut stripped = existing.clone();
                stripped.available = product.available;
                stripped.sold = product.sold;
                let stock_only = stripped == product;
                let unchanged = *existing == product;
                *existing = product.clone();
                if unchanged {
                    return;
                }
                stock_only
            }
        };
        if !stock_only {
            // The product frame carries the stock too.
            self.pending_stock.remove(&product.id);
            self.last_stock_at.insert(product.id.clone(), now);
            self.emit(|seq| ServerMsg::Product { seq, product });
            return;
        }
        let due = self
            .last_stock_at
            .get(&product.id)
            .map(|at| *at + settings.stock_min_interval);
        match due {
            Some(due) if due > now => {
                self.pending_stock.insert(product.id);
                self.next_flush = Some(self.next_flush.map_or(due, |f| f.min(due)));
            }
            _ => {
                self.last_stock_at.insert(product.id.clone(), now);
                self.emit_stock(&product.id);
            }
        }
    }

    fn emit_stock(&mut self, product_id: &str) {
        let Some(p) = self.snapshot.products.iter().find(|p| p.id == product_id) else {
            return;
        };
        let (product_id, available, sold) = (p.id.clone(), p.available, p.sold);
        self.emit(|seq| ServerMsg::Stock {
            seq,
            product_id,
            available,
            sold,
        });
    }

    /// Sends the coalesced stock figures that are due.
    fn flush_stock(&mut self, now: Instant, settings: &LiveSettings) {
        self.next_flush = None;
        let pending: Vec<String> = self.pending_stock.iter().cloned().collect();
        for id in pending {
            let due = self
                .last_stock_at
                .get(&id)
                .map_or(now, |at| *at + settings.stock_min_interval);
            if due <= now {
                self.pending_stock.remove(&id);
                self.last_stock_at.insert(id.clone(), now);
                self.emit_stock(&id);
            } else {
                self.next_flush = Some(self.next_flush.map_or(due, |f| f.min(due)));
            }
        }
    }

    fn viewers_changed(&mut self, count: u64) {
        if count != self.viewers_sent {
            self.viewers_sent = count;
            self.emit(|seq| ServerMsg::Viewers { seq, count });
        }
    }
}

/// Stores the new snapshot, then broadcasts the frames it covers.
fn publish(room: &RoomShared, model: &mut Model, metrics: &Metrics) {
    if model.out.is_empty() {
        return;
    }
    room.state
        .send_replace(RoomState::Ready(Arc::new(model.snapshot.clone())));
    for frame in model.out.drain(..) {
        metrics.live_events.inc();
        // An error only means no socket is listening right now.
        let _ = room.frames.send(frame);
    }
}

/// Most queued changes applied before one snapshot is stored and sent.
const BATCH: usize = 256;

async fn run(
    handle: RoomHandle,
    mut commands: mpsc::UnboundedReceiver<Command>,
    pool: AnyPool,
    settings: LiveSettings,
    metrics: Arc<Metrics>,
    rooms: Rooms,
    bus: Option<(bus::Bus, String)>,
) {
    // Subscribed before the state is loaded: a change committed after the
    // load is heard, one committed before it is in it.
    if let Some((bus, channel)) = &bus {
        bus.subscribe(channel).await;
    }
    run_loaded(&handle, &mut commands, &pool, &settings, &metrics, &rooms).await;
    if let Some((bus, channel)) = &bus {
        bus.unsubscribe(channel);
    }
}

async fn run_loaded(
    handle: &RoomHandle,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    pool: &AnyPool,
    settings: &LiveSettings,
    metrics: &Metrics,
    rooms: &Rooms,
) {
    let room = &*handle.0;
    let mut model = match store::load_show_state(pool, &room.show_id).await {
        Ok(Some(state)) => Model::new(state),
        outcome => {
            if let Err(err) = &outcome {
                tracing::warn!(show = %room.show_id, error = %err, "live room could not load its show");
            }
            remove_room(rooms, handle);
            let final_state = if outcome.is_err() {
                RoomState::Failed
            } else {
                RoomState::Gone
            };
            room.state.send_replace(final_state);
            metrics.live_rooms.dec();
            return;
        }
    };
    room.state
        .send_replace(RoomState::Ready(Arc::new(model.snapshot.clone())));

    let mut viewers_tick = tokio::time::interval(settings.viewers_interval);
    viewers_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut idle_since: Option<Instant> = None;
    loop {
        let flush_at = model.next_flush;
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                let now = Instant::now();
                let mut reload = false;
                for command in std::iter::once(command)
                    .chain(std::iter::from_fn(|| commands.try_recv().ok()))
                    .take(BATCH)
                {
                    match command {
                        Command::Apply(change) => model.apply(change, now, settings),
                        Command::Reload => reload = true,
                    }
                }
                if reload {
                    match store::load_show_state(pool, &room.show_id).await {
                        Ok(Some(state)) => model.reload(state, handle.shown_viewers()),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(show = %room.show_id, error = %e, "live room could not reload its show; trying again");
                            let retry = handle.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                                retry.reload();
                            });
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                model.flush_stock(Instant::now(), settings);
            }
            _ = viewers_tick.tick() => {
                let count = handle.shown_viewers();
                model.viewers_changed(count);
                if count > model.peak_recorded {
                    match store::raise_viewers_peak(pool, &room.show_id, count as i64).await {
                        Ok(()) => model.peak_recorded = count,
                        Err(e) => tracing::warn!(show = %room.show_id, error = %e, "could not record the viewer peak"),
                    }
                }
                if room.frames.receiver_count() == 0 {
                    let since = *idle_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= settings.room_idle && remove_if_idle(rooms, handle) {
                        break;
                    }
                } else {
                    idle_since = None;
                }
            }
        }
        publish(room, &mut model, metrics);
    }
    room.state.send_replace(RoomState::Gone);
    metrics.live_rooms.dec();
}

/// Drops the room from the hub if nobody subscribed meanwhile. Subscribing
/// happens under the same lock, so no socket can join a room being dropped.
fn remove_if_idle(rooms: &Rooms, handle: &RoomHandle) -> bool {
    let mut rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
    if handle.0.frames.receiver_count() > 0 {
        return false;
    }
    if rooms
        .get(&handle.0.show_id)
        .is_some_and(|r| Arc::ptr_eq(&r.0, &handle.0))
    {
        rooms.remove(&handle.0.show_id);
    }
    true
}

fn remove_room(rooms: &Rooms, handle: &RoomHandle) {
    let mut rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
    if rooms
        .get(&handle.0.show_id)
        .is_some_and(|r| Arc::ptr_eq(&r.0, &handle.0))
    {
        rooms.remove(&handle.0.show_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn product(id: &str, available: i64) -> Product {
        Product {
            id: id.into(),
            sku: "SKU".into(),
            title: "Tee".into(),
            price_cents: 1000,
            currency: "usd".into(),
            available,
            sold: 0,
            max_per_buyer: None,
            image_url: None,
            thumb_url: None,
            fulfilment: wire::Fulfilment::Shipping,
            shipping_cents: 0,
            archived: false,
        }
    }

    fn model() -> Model {
        Model {
            snapshot: Snapshot {
                seq: 0,
                show: ShowSummary {
                    id: "shw_1".into(),
                    title: "Show".into(),
                    live: false,
                    scheduled_at_ms: None,
                    cover_url: None,
                },
                products: vec![product("p", 10)],
                pinned_product_id: None,
                countdowns: vec![],
            },
            pin_version: 1,
            live_version: 1,
            show_version: 1,
            product_versions: HashMap::from([("p".to_string(), 1)]),
            pending_stock: HashSet::new(),
            last_stock_at: HashMap::new(),
            next_flush: None,
            viewers_sent: 0,
            peak_recorded: 0,
            out: vec![],
        }
    }

    fn stock_of(frame: &Frame) -> Option<i64> {
        match serde_json::from_str::<ServerMsg>(&frame.text).ok()? {
            ServerMsg::Stock { available, .. } => Some(available),
            _ => None,
        }
    }

    #[test]
    fn snapshot_frame_is_a_wire_snapshot() {
        let m = model();
        let frame = m.snapshot.to_frame(3);
        match serde_json::from_str::<ServerMsg>(&frame.text).unwrap() {
            ServerMsg::Snapshot {
                seq,
                viewers,
                products,
                ..
            } => {
                assert_eq!((seq, viewers), (0, 3));
                assert_eq!(products, vec![product("p", 10)]);
            }
            other => panic!("not a snapshot: {other:?}"),
        }
    }

    #[test]
    fn older_versions_never_overwrite_newer_ones() {
        let settings = LiveSettings::default();
        let mut m = model();
        let t = Instant::now();
        m.apply(
            Change::Product {
                product: product("p", 7),
                version: 3,
            },
            t,
            &settings,
        );
        m.apply(
            Change::Product {
                product: product("p", 8),
                version: 2,
            },
            t,
            &settings,
        );
        assert_eq!(m.snapshot.products[0].available, 7);
        assert_eq!(m.out.len(), 1);
        assert_eq!(stock_of(&m.out[0]), Some(7));
    }

    #[test]
    fn stock_bursts_coalesce_to_the_latest_figure() {
        let settings = LiveSettings {
            stock_min_interval: Duration::from_millis(100),
            ..LiveSettings::default()
        };
        let mut m = model();
        let t = Instant::now();
        for (i, available) in (0..10).rev().enumerate() {
            let version = 2 + i as i64;
            m.apply(
                Change::Product {
                    product: product("p", available),
                    version,
                },
                t,
                &settings,
            );
        }
        // The first change goes out at once; the other nine wait for the interval.
        assert_eq!(
            m.out.iter().map(stock_of).collect::<Vec<_>>(),
            vec![Some(9)]
        );
        let due = m.next_flush.expect("a flush is scheduled");
        assert_eq!(due, t + Duration::from_millis(100));
        m.flush_stock(due, &settings);
        assert_eq!(stock_of(m.out.last().unwrap()), Some(0));
        assert_eq!(m.out.len(), 2);
        assert!(m.out.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    #[test]
    fn title_change_sends_a_product_frame() {
        let settings = LiveSettings::default();
        let mut m = model();
        let mut p = product("p", 10);
        p.title = "New".into();
        m.apply(
            Change::Product {
                product: p.clone(),
                version: 2,
            },
            Instant::now(),
            &settings,
        );
        let msg: ServerMsg = serde_json::from_str(&m.out[0].text).unwrap();
        assert_eq!(msg, ServerMsg::Product { seq: 1, product: p });
    }

    #[test]
    fn a_late_pin_survives_a_newer_live_change() {
        let settings = LiveSettings::default();
        let mut m = model();
        let t = Instant::now();
        m.apply(
            Change::Live {
                live: true,
                version: 3,
            },
            t,
            &settings,
        );
        m.apply(
            Change::Pin {
                product_id: Some("p".into()),
                version: 2,
            },
            t,
            &settings,
        );
        assert!(m.snapshot.show.live);
        assert_eq!(m.snapshot.pinned_product_id.as_deref(), Some("p"));
        assert_eq!(m.out.len(), 2);
    }

    #[test]
    fn stale_pins_are_ignored() {
        let settings = LiveSettings::default();
        let mut m = model();
        let t = Instant::now();
        m.apply(
            Change::Pin {
                product_id: Some("p".into()),
                version: 3,
            },
            t,
            &settings,
        );
        m.apply(
            Change::Pin {
                product_id: None,
                version: 2,
            },
            t,
            &settings,
        );
        assert_eq!(m.snapshot.pinned_product_id.as_deref(), Some("p"));
        assert_eq!(m.out.len(), 1);
    }

    #[test]
    fn a_new_schedule_or_cover_is_told_once_and_never_undone_by_an_older_one() {
        let settings = LiveSettings::default();
        let mut m = model();
        let t = Instant::now();
        let show = |title: &str, at: Option<i64>, cover: Option<&str>, version| Change::Show {
            title: title.into(),
            scheduled_at_ms: at,
            cover_url: cover.map(str::to_string),
            version,
        };
        m.apply(show("Later", Some(9), Some("/c.jpg"), 4), t, &settings);
        // The same again (another route read it back), then an older one.
        m.apply(show("Later", Some(9), Some("/c.jpg"), 5), t, &settings);
        m.apply(show("Sooner", Some(1), None, 3), t, &settings);
        assert_eq!(
            (
                m.snapshot.show.title.as_str(),
                m.snapshot.show.scheduled_at_ms,
                m.snapshot.show.cover_url.as_deref()
            ),
            ("Later", Some(9), Some("/c.jpg"))
        );
        assert_eq!(m.out.len(), 1);
    }
}
