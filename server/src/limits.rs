//! Rate limits: per client address and per buyer session, with governor's
//! GCRA limiters, one keyed limiter per [`Limit`].
//!
//! `DROPCAST_RATE_LIMITS` is `default`, `off`, or overrides of the defaults
//! as `name=N/Ts` (N requests per T seconds, a burst of N), comma separated,
//! with the names of [`Limit::name`]. The per-address defaults are sized
//! for a crowd behind one carrier NAT: a few hundred phones on one address
//! buying in the same minute are let through; a script hammering from one
//! is not. A refusal is 429 `rate_limited` with `Retry-After`.
//!
//! One node keeps its limits in memory. In a cluster (`REDIS_URL`) every
//! node counts against the same limits in Redis ([`bus::Bus::take`]), so a
//! client behind a load balancer gets the limit once, not once per node. If
//! Redis does not answer within [`SHARED_WAIT`], the node falls back on its
//! own in-memory limiters (each node then holds the limit by itself) and
//! tries Redis again after [`SHARED_RETRY`]: a Redis outage never stops a
//! checkout.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How long a request waits for the shared count before the node counts it alone.
pub const SHARED_WAIT: Duration = Duration::from_millis(250);
/// After Redis failed to answer, how long the node counts alone before asking again.
pub const SHARED_RETRY: Duration = Duration::from_secs(1);

/// What is limited, and by what key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// New buyer sessions per client address.
    SessionsPerIp,
    /// Cards saved per buyer session (card testing).
    CardsPerSession,
    /// Orders per client address.
    OrdersPerIp,
    /// Orders per buyer session.
    OrdersPerSession,
    /// Reads of an order per caller (session, or address without one).
    OrderReads,
    /// Live socket upgrades per client address.
    LivePerIp,
    /// RTMP and SRT connection attempts per client address.
    IngestPerIp,
    /// Clip views and taps counted per client address.
    ClipEventsPerIp,
    /// "Remind me" and "notify me" subscriptions per client address: each
    /// email one costs a letter, so a script cannot mail the world.
    SubscriptionsPerIp,
}

impl Limit {
    pub const ALL: [Limit; 9] = [
        Limit::SessionsPerIp,
        Limit::CardsPerSession,
        Limit::OrdersPerIp,
        Limit::OrdersPerSession,
        Limit::OrderReads,
        Limit::LivePerIp,
        Limit::IngestPerIp,
        Limit::ClipEventsPerIp,
        Limit::SubscriptionsPerIp,
    ];

    /// The name `DROPCAST_RATE_LIMITS` uses.
    pub fn name(self) -> &'static str {
        match self {
            Limit::SessionsPerIp => "sessions_ip",
            Limit::CardsPerSession => "cards_session",
            Limit::OrdersPerIp => "orders_ip",
            Limit::OrdersPerSession => "orders_session",
            Limit::OrderReads => "order_reads",
            Limit::LivePerIp => "live_ip",
            Limit::IngestPerIp => "ingest_ip",
            Limit::ClipEventsPerIp => "clip_events_ip",
            Limit::SubscriptionsPerIp => "subscriptions_ip",
        }
    }

    /// `(requests, per seconds)` by default.
    pub fn default_quota(self) -> (u32, u64) {
        match self {
            Limit::SessionsPerIp => (300, 60),
            Limit::CardsPerSession => (10, 600),
            Limit::OrdersPerIp => (600, 60),
            Limit::OrdersPerSession => (30, 60),
            Limit::OrderReads => (240, 60),
            Limit::LivePerIp => (1200, 60),
            Limit::IngestPerIp => (30, 60),
            Limit::ClipEventsPerIp => (120, 60),
            Limit::SubscriptionsPerIp => (20, 600),
        }
    }

    fn index(self) -> usize {
        Limit::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }
}

/// The limits in force, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `None`: off.
    pub quotas: Option<Vec<(Limit, u32, u64)>>,
}

impl RateLimitSettings {
    /// Parses `DROPCAST_RATE_LIMITS`.
    pub fn parse(spec: &str) -> Result<RateLimitSettings, String> {
        let spec = spec.trim();
        if spec == "off" {
            return Ok(RateLimitSettings { quotas: None });
        }
        let mut quotas: Vec<(Limit, u32, u64)> = Limit::ALL
            .iter()
            .map(|l| {
                let (n, t) = l.default_quota();
                (*l, n, t)
            })
            .collect();
        if spec == "default" || spec.is_empty() {
            return Ok(RateLimitSettings {
                quotas: Some(quotas),
            });
        }
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, rule) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not name=N/Ts"))?;
            let limit = Limit::ALL
                .into_iter()
                .find(|l| l.name() == name.trim())
                .ok_or_else(|| {
                    let names: Vec<&str> = Limit::ALL.iter().map(|l| l.name()).collect();
                    format!("unknown limit {name:?}; the names are {}", names.join(", "))
                })?;
            let (n, t) = rule
                .trim()
                .split_once('/')
                .ok_or_else(|| format!("{part:?} is not name=N/Ts"))?;
            let n: u32 = n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{part:?}: N must be a positive whole number"))?;
            let t: u64 = t
                .trim_end_matches('s')
                .parse()
                .ok()
                .filter(|t| (1..=86_400).contains(t))
                .ok_or_else(|| format!("{part:?}: T must be 1 to 86400 seconds"))?;
            quotas[limit.index()] = (limit, n, t);
        }
        Ok(RateLimitSettings {
            quotas: Some(quotas),
        })
    }
}

/// The limiters of this process.
pub struct RateLimits {
    limiters: Option<Vec<DefaultKeyedRateLimiter<String>>>,
    /// `(requests, seconds)` of each limit, by [`Limit::index`].
    quotas: Vec<(u32, u64)>,
    /// The cluster's shared counts, when there is a cluster.
    shared: Option<Shared>,
}

struct Shared {
    bus: bus::Bus,
    /// While set and in the future, Redis is not asked.
    down_until: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Requests counted by this node alone because Redis did not answer.
    fallbacks: AtomicU64,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> RateLimits {
        RateLimits {
            quotas: settings
                .quotas
                .as_ref()
                .map(|q| q.iter().map(|(_, n, t)| (*n, *t)).collect())
                .unwrap_or_default(),
            shared: None,
            limiters: settings.quotas.as_ref().map(|quotas| {
                quotas
                    .iter()
                    .map(|(_, n, t)| {
                        let n = NonZeroU32::new(*n).unwrap_or(NonZeroU32::MIN);
                        let quota = Quota::with_period(Duration::from_secs(*t) / n.get())
                            .unwrap_or_else(|| Quota::per_second(n))
                            .allow_burst(n);
                        RateLimiter::keyed(quota)
                    })
                    .collect()
            }),
        }
    }

    /// Counts against limits shared with every node on the same Redis.
    pub fn shared(mut self, bus: bus::Bus) -> RateLimits {
        self.shared = Some(Shared {
            bus,
            down_until: std::sync::Mutex::new(None),
            fallbacks: AtomicU64::new(0),
        });
        self
    }

    /// Requests this node counted alone because Redis did not answer.
    pub fn fallbacks(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.fallbacks.load(Ordering::Relaxed))
    }

    /// Counts one request of `limit` for `key`; `Err(seconds)` to wait when
    /// over the limit.
    pub async fn check(&self, limit: Limit, key: &str) -> Result<(), u64> {
        if self.limiters.is_none() {
            return Ok(());
        }
        if let Some(shared) = &self.shared
            && let Some(answer) = shared.check(limit, key, self.quotas[limit.index()]).await
        {
            return answer;
        }
        self.check_here(limit, key)
    }

    /// The count of this process alone.
    fn check_here(&self, limit: Limit, key: &str) -> Result<(), u64> {
        let Some(limiters) = &self.limiters else {
            return Ok(());
        };
        match limiters[limit.index()].check_key(&key.to_string()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                use governor::clock::Clock;
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Err(wait.as_secs_f64().ceil().max(1.0) as u64)
            }
        }
    }

    /// [`RateLimits::check`] keyed by a client address.
    pub async fn check_ip(&self, limit: Limit, ip: IpAddr) -> Result<(), u64> {
        self.check(limit, &ip.to_string()).await
    }

    /// Forgets keys whose limiter is back to full, so memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(limiters) = &self.limiters {
            for limiter in limiters {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }
}

impl Shared {
    /// The cluster's answer, or `None` when Redis did not give one in time.
    async fn check(&self, limit: Limit, key: &str, (n, t): (u32, u64)) -> Option<Result<(), u64>> {
        let now = tokio::time::Instant::now();
        if self
            .down_until
            .lock()
            .ok()
            .and_then(|d| *d)
            .is_some_and(|until| now < until)
        {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let redis_key = format!("dc:rl:{}:{key}", limit.name());
        let taken = tokio::time::timeout(
            SHARED_WAIT,
            self.bus.take(&redis_key, n, Duration::from_secs(t)),
        )
        .await;
        match taken {
            Ok(Ok(None)) => Some(Ok(())),
            Ok(Ok(Some(wait))) => Some(Err(wait.as_secs_f64().ceil().max(1.0) as u64)),
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {SHARED_WAIT:?}"),
                };
                let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
                if down.is_none_or(|until| until <= now) {
                    tracing::warn!(%error, "rate limits: Redis did not answer; this node counts alone for now");
                }
                *down = Some(now + SHARED_RETRY);
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Forgets idle keys every minute until shutdown.
pub async fn run_cleaner(
    limits: std::sync::Arc<RateLimits>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => limits.forget_idle(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!(RateLimitSettings::parse("off").unwrap().quotas, None);
        let d = RateLimitSettings::parse("default").unwrap().quotas.unwrap();
        assert_eq!(d.len(), Limit::ALL.len());
        let o = RateLimitSettings::parse("orders_session=5/10s, live_ip=2/1")
            .unwrap()
            .quotas
            .unwrap();
        assert!(o.contains(&(Limit::OrdersPerSession, 5, 10)));
        assert!(o.contains(&(Limit::LivePerIp, 2, 1)));
        assert!(
            o.contains(&(Limit::IngestPerIp, 30, 60)),
            "others keep their default"
        );
        for bad in [
            "nope=1/1s",
            "orders_ip=0/1s",
            "orders_ip=1/0s",
            "orders_ip",
            "orders_ip=x",
        ] {
            assert!(RateLimitSettings::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_burst_passes_then_the_next_waits() {
        let limits = RateLimits::new(&RateLimitSettings::parse("orders_session=3/60s").unwrap());
        for _ in 0..3 {
            assert!(limits.check(Limit::OrdersPerSession, "a").await.is_ok());
        }
        let wait = limits
            .check(Limit::OrdersPerSession, "a")
            .await
            .unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(
            limits.check(Limit::OrdersPerSession, "b").await.is_ok(),
            "per key"
        );
        let off = RateLimits::new(&RateLimitSettings::parse("off").unwrap());
        for _ in 0..100 {
            assert!(off.check(Limit::OrdersPerSession, "a").await.is_ok());
        }
    }
}
