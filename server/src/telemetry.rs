//! Logs, request ids and Prometheus metrics.
//!
//! Every request gets a random id, returned as `X-Request-Id` and carried by
//! every log line of the request. Logs name the matched route pattern
//! (`/api/v1/shows/{show}`), never the raw URI: a query string may carry a
//! token (`/studio/…?token=`), and no token or secret is ever logged.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use rand::RngCore;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber (once; later calls are ignored).
/// `RUST_LOG` overrides the default `info` level.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    use std::io::IsTerminal;
    // Logs go to stderr: stdout carries only what a command was asked to print
    // (a token, the demo URLs), so it can be piped.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.00025, 2.0, 16))
}

/// The server's metrics, served at `GET /metrics`.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RouteLabels, Counter>,
    pub http_latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    /// Live websockets open now.
    pub live_sockets: Gauge,
    /// Live rooms (shows with sockets) in memory now.
    pub live_rooms: Gauge,
    /// Events serialized by rooms (once per show, whatever the number of sockets).
    pub live_events: Counter,
    /// Frames written to sockets: each event once per socket that got it.
    pub live_frames: Counter,
    /// Snapshots sent, first ones and resyncs of sockets that fell behind.
    pub live_snapshots: Counter,
    /// Orders by outcome: paid, requires_action, pending, declined, sold_out, …
    pub orders: Family<OutcomeLabels, Counter>,
    /// Publishers streaming in now (RTMP and SRT).
    pub live_streams: Gauge,
    /// Replay-buffer segments written.
    pub segments: Counter,
    /// Streams the server cut off, by reason (flood, disk_full, stream_error).
    pub ingest_cuts: Family<ReasonLabels, Counter>,
    /// Announcement messages tried by this node, by kind, channel, outcome.
    pub notice_messages: Family<NoticeLabels, Counter>,
    /// First clicks on announcement links, by notice kind.
    pub notice_clicks: Family<KindLabels, Counter>,
    /// Seconds from a message being taken to its first click (TTFC).
    pub notice_ttfc: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// Orders placed within 10 minutes of following a notice's link.
    pub notice_orders: Family<KindLabels, Counter>,
}

/// An announcement message's kind, channel and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NoticeLabels {
    pub kind: String,
    pub channel: String,
    /// delivered (taken by the push service or SMTP), retried, failed, dropped.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

fn ttfc_histogram() -> Histogram {
    Histogram::new([1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0])
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dropcast");
        let http_requests = Family::<RouteLabels, Counter>::default();
        let http_latency =
            Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let live_sockets = Gauge::default();
        let live_rooms = Gauge::default();
        let live_events = Counter::default();
        let live_frames = Counter::default();
        let live_snapshots = Counter::default();
        let orders = Family::<OutcomeLabels, Counter>::default();
        registry.register("orders", "Orders by outcome", orders.clone());
        let live_streams = Gauge::default();
        registry.register(
            "live_ingest_streams",
            "Publishers streaming in now",
            live_streams.clone(),
        );
        let segments = Counter::default();
        registry.register(
            "replay_segments",
            "Replay-buffer segments written",
            segments.clone(),
        );
        let ingest_cuts = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "ingest_cuts",
            "Streams the server cut off, by reason",
            ingest_cuts.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_latency.clone(),
        );
        registry.register("live_sockets", "Open live websockets", live_sockets.clone());
        registry.register(
            "live_rooms",
            "Shows with a live room in memory",
            live_rooms.clone(),
        );
        registry.register(
            "live_events",
            "Live events serialized (once per show)",
            live_events.clone(),
        );
        registry.register(
            "live_frames",
            "Live frames written to sockets (events fanned out)",
            live_frames.clone(),
        );
        registry.register(
            "live_snapshots",
            "Snapshots sent to live sockets",
            live_snapshots.clone(),
        );
        let notice_messages = Family::<NoticeLabels, Counter>::default();
        registry.register(
            "notice_messages",
            "Announcement messages tried, by kind, channel and outcome",
            notice_messages.clone(),
        );
        let notice_clicks = Family::<KindLabels, Counter>::default();
        registry.register(
            "notice_clicks",
            "First clicks on announcement links, by kind",
            notice_clicks.clone(),
        );
        let notice_ttfc = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            ttfc_histogram,
        );
        registry.register(
            "notice_time_to_first_click_seconds",
            "Seconds from an announcement being taken to its first click",
            notice_ttfc.clone(),
        );
        let notice_orders = Family::<KindLabels, Counter>::default();
        registry.register(
            "notice_orders",
            "Orders within 10 minutes of following an announcement, by kind",
            notice_orders.clone(),
        );
        Metrics {
            notice_messages,
            notice_clicks,
            notice_ttfc,
            notice_orders,
            registry,
            http_requests,
            http_latency,
            live_sockets,
            live_rooms,
            live_events,
            live_frames,
            live_snapshots,
            orders,
            live_streams,
            segments,
            ingest_cuts,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The method as a metrics label: the standard ones, else `other`, so a
/// client inventing methods cannot grow the label set.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: request id, one span per request, a log line and metrics at the end.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut id = [0u8; 8];
    rand::rng().fill_bytes(&mut id);
    let request_id = hex::encode(id);
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_string());
    let method = method_label(req.method()).to_string();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|s| s.metrics.clone());
    let span = tracing::info_span!("request", id = %request_id, %method, %route);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(err) => err.as_response_error().status_code().as_u16(),
    };
    span.in_scope(|| {
        tracing::info!(status, ms = elapsed.as_secs_f64() * 1000.0, "handled");
    });
    if let Some(metrics) = metrics {
        metrics
            .http_requests
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
                status,
            })
            .inc();
        metrics
            .http_latency
            .get_or_create(&LatencyLabels { method, route })
            .observe(elapsed.as_secs_f64());
    }
    result.map(|mut res| {
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            res.headers_mut().insert(REQUEST_ID, value);
        }
        res
    })
}
