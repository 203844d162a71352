//! Settings, read from the environment.
//!
//! Every variable is optional: with none set, Dropcast serves on 127.0.0.1:8080
//! from a SQLite file under `./data`. `shared/API.md` is the list of record;
//! variables beyond it are documented on [`Settings::from_env`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::payments::StripeSettings;

/// A setting that could not be understood. Startup stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not a valid address (host:port): {reason}")]
    Address {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("{var}: {reason}")]
    Listed { var: &'static str, reason: String },
    #[error("{var}={value:?}: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Everything the server needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP and websocket listener binds. Port 0 picks a free port (tests).
    pub http_addr: SocketAddr,
    /// Base of every URL the server hands out, without a trailing slash.
    pub public_url: url::Url,
    /// Database file, replay buffers and clips live under here.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Bearer token for admin routes; `None` means generate one at start and print it.
    pub admin_token: Option<String>,
    /// RTMP ingest listener; also the port printed in a show's `ingest.rtmp` URL.
    pub rtmp_addr: SocketAddr,
    /// SRT ingest listener; also the port printed in a show's `ingest.srt` URL.
    pub srt_addr: SocketAddr,
    /// How much of each live stream the replay buffer keeps.
    pub replay_seconds: u64,
    /// ... and at most this many bytes of it (`DROPCAST_REPLAY_MAX_BYTES`,
    /// at least 1 MiB; unset: no byte bound).
    pub replay_max_bytes: Option<u64>,
    /// How long a node serves a replay playlist from memory before reading
    /// the index again (not an environment setting: tests lengthen it).
    pub replay_playlist_fresh: std::time::Duration,
    /// What an ingest connection may do: per-address connections, the RTMP
    /// handshake deadline, how far ahead of live a stream may run.
    pub ingest: media::ingest::IngestLimits,
    /// HTTP worker threads; each runs its own single-threaded runtime.
    pub http_workers: usize,
    /// Settings of the live websocket channel.
    pub live: LiveSettings,
    /// Stripe, when `STRIPE_SECRET_KEY` is set; without it ordering answers 503.
    pub stripe: Option<StripeSettings>,
    /// How long an order may hold stock while its payment is not final
    /// (`DROPCAST_HOLD_SECONDS`, default 600).
    pub hold_seconds: u64,
    /// How long an order waiting for 3-D Secure may hold its stock
    /// (`DROPCAST_HOLD_SCA_SECONDS`, default 120), so abandoned bank prompts
    /// do not lock a drop.
    pub hold_sca_seconds: u64,
    /// How long a stopping node (SIGTERM) lets requests in flight finish —
    /// orders waiting on the bank among them — before it closes what is
    /// left (`DROPCAST_DRAIN_SECONDS`, default 30). An order cut off even so
    /// is settled by another node: the stopping node's lease ends as it goes.
    pub drain: Duration,
    /// This node's name in a cluster (`DROPCAST_NODE_ID`); `None`: this host
    /// and the HTTP port, decided once the port is bound.
    pub node_id: Option<String>,
    /// Where other nodes reach this one (`DROPCAST_INTERNAL_URL`); `None`:
    /// `http://` and the bound HTTP address.
    pub internal_url: Option<url::Url>,
    /// Redis, through which the nodes of a cluster fan live changes out and
    /// sum their counts (`REDIS_URL`); `None`: this process is the only node.
    /// Needs PostgreSQL: a SQLite file belongs to one process.
    pub redis_url: Option<String>,
    /// What this node does (`DROPCAST_ROLES`: `all`, the default, or some of
    /// `api`, `ingest`, `workers`). Anything short of all needs a cluster
    /// (PostgreSQL): one SQLite node must do everything.
    pub roles: crate::node::Roles,
    /// The host publishers reach this node's RTMP and SRT listeners at
    /// (`DROPCAST_INGEST_HOST`); `None`: the public URL's host.
    pub ingest_host: Option<String>,
    /// Rate limits (`DROPCAST_RATE_LIMITS`: `default`, `off` or overrides).
    pub rate_limits: crate::limits::RateLimitSettings,
    /// Proxies whose `X-Forwarded-For` is believed for the client address
    /// (`DROPCAST_TRUSTED_PROXIES`, comma-separated addresses).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a buyer session lives unused (`DROPCAST_SESSION_DAYS`,
    /// default 90); each use moves its end on.
    pub viewer_session: Duration,
    /// When set, `/metrics` needs `Authorization: Bearer` with it
    /// (`DROPCAST_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// The built pages (`scripts/build_widget.sh` writes them with a
    /// `manifest.json`): `DROPCAST_ASSETS_DIR`, by default `target/widget/dist`
    /// of the source tree the binary was built from.
    pub assets_dir: PathBuf,
    /// Where mail goes (`DROPCAST_SMTP_URL`); `None`: no mail is sent, and
    /// the server says so at start and logs where each letter would go.
    pub smtp_url: Option<String>,
    /// The sender of every letter (`DROPCAST_MAIL_FROM`); `None`:
    /// `Dropcast <no-reply@HOST>` with the public URL's host.
    pub mail_from: Option<String>,
    /// Announcements: how they are sent (push endpoints, VAPID contact,
    /// pace).
    pub announce: AnnounceSettings,
    /// Test hook for crash tests (`DROPCAST_TEST_PAUSE=before_confirm:MS` or
    /// `after_confirm:MS`): checkout waits there so a test can kill the process.
    pub test_pause: Option<TestPause>,
}

/// How announcements go out.
#[derive(Debug, Clone)]
pub struct AnnounceSettings {
    /// `DROPCAST_PUSH_ALLOW_HTTP=1` takes push subscriptions whose endpoint
    /// is plain `http://` (a push service played by a test on loopback);
    /// off, only HTTPS endpoints are taken, as browsers' push services are.
    pub push_allow_http: bool,
    /// The contact every VAPID token names (`DROPCAST_VAPID_SUBJECT`, a
    /// `mailto:` or `https:` URL); by default `mailto:` the mail sender.
    pub vapid_subject: Option<String>,
    /// Messages this node hands to push services and SMTP per second at
    /// most (`DROPCAST_NOTICE_RATE`, default 500): a notice to ten thousand
    /// people is shaped so checkout keeps its share of the machine.
    pub rate_per_second: u32,
}

impl Default for AnnounceSettings {
    fn default() -> Self {
        AnnounceSettings {
            push_allow_http: false,
            vapid_subject: None,
            rate_per_second: 500,
        }
    }
}

/// Where checkout pauses for a crash test, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestPause {
    pub point: PausePoint,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    /// Stock held and PaymentIntent created, not confirmed yet.
    BeforeConfirm,
    /// Stripe charged the card; the order does not know yet.
    AfterConfirm,
}

/// Tuning of the live channel. The defaults suit production; tests shorten them.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// How often the server pings each socket.
    pub heartbeat_interval: Duration,
    /// A socket that sends nothing (not even a pong) for this long is closed.
    pub client_timeout: Duration,
    /// A socket whose frames cannot be written for this long is closed: the
    /// client stopped reading and its buffers are full.
    pub send_timeout: Duration,
    /// Frames a room keeps for sockets that are behind. A socket further
    /// behind than this is sent a fresh snapshot instead.
    pub broadcast_capacity: usize,
    /// Shortest gap between two stock frames of one product; changes inside it
    /// are coalesced into one frame carrying the latest figure.
    pub stock_min_interval: Duration,
    /// How often the viewer count is sent when it changed.
    pub viewers_interval: Duration,
    /// A room with no sockets for this long is dropped from memory.
    pub room_idle: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            heartbeat_interval: Duration::from_secs(15),
            client_timeout: Duration::from_secs(45),
            send_timeout: Duration::from_secs(30),
            broadcast_capacity: 256,
            stock_min_interval: Duration::from_millis(100),
            viewers_interval: Duration::from_secs(1),
            room_idle: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// Beyond `shared/API.md`: `DROPCAST_HTTP_WORKERS` (default: the number of
    /// cores), `DROPCAST_ASSETS_DIR` (the built pages) and
    /// `DROPCAST_STRIPE_JS_URL` (where the widget loads Stripe.js from).
    pub fn from_env() -> Result<Settings, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the settings through `get`, so tests can supply their own values.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let http_addr = address(&get, "DROPCAST_HTTP_ADDR", "127.0.0.1:8080")?;
        let public_url = match get("DROPCAST_PUBLIC_URL") {
            Some(value) => parse_public_url(&value)?,
            None => parse_public_url(&format!("http://{http_addr}"))?,
        };
        let data_dir = PathBuf::from(get("DROPCAST_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = get("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}/dropcast.db", data_dir.display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                var: "DATABASE_URL",
                value: redact_url(&database_url),
                reason: "must start with sqlite:, postgres:// or postgresql://",
            });
        }
        let admin_token = get("DROPCAST_ADMIN_TOKEN");
        if let Some(token) = &admin_token
            && token.len() < 16
        {
            return Err(ConfigError::Invalid {
                var: "DROPCAST_ADMIN_TOKEN",
                value: "(hidden)".into(),
                reason: "must be at least 16 characters",
            });
        }
        let rtmp_addr = address(&get, "DROPCAST_RTMP_ADDR", "127.0.0.1:1935")?;
        let srt_addr = address(&get, "DROPCAST_SRT_ADDR", "127.0.0.1:9000")?;
        let replay_seconds = number(&get, "DROPCAST_REPLAY_SECONDS", 600, 10..=86_400)?;
        let replay_max_bytes = match get("DROPCAST_REPLAY_MAX_BYTES") {
            None => None,
            Some(_) => Some(number(
                &get,
                "DROPCAST_REPLAY_MAX_BYTES",
                0,
                (1 << 20)..=(1 << 50),
            )?),
        };
        let ingest = {
            let defaults = media::ingest::IngestLimits::default();
            let ahead = number(&get, "DROPCAST_INGEST_MAX_AHEAD_SECONDS", 10, 0..=3600)?;
            media::ingest::IngestLimits {
                max_connections_per_ip: number(
                    &get,
                    "DROPCAST_INGEST_MAX_CONNECTIONS_PER_IP",
                    defaults.max_connections_per_ip as u64,
                    1..=10_000,
                )? as usize,
                handshake_deadline: Duration::from_secs(number(
                    &get,
                    "DROPCAST_RTMP_HANDSHAKE_SECONDS",
                    defaults.handshake_deadline.as_secs(),
                    1..=300,
                )?),
                flood: media::segmenter::FloodLimits {
                    max_ahead: (ahead > 0).then(|| Duration::from_secs(ahead)),
                    ..defaults.flood
                },
                ..defaults
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let http_workers = number(&get, "DROPCAST_HTTP_WORKERS", cores as u64, 1..=256)? as usize;
        let stripe = match get("STRIPE_SECRET_KEY") {
            None => None,
            Some(secret_key) => {
                let api_base =
                    get("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".into());
                let parsed = url::Url::parse(&api_base)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"));
                if parsed.is_none() {
                    return Err(ConfigError::Invalid {
                        var: "STRIPE_API_BASE",
                        value: api_base,
                        reason: "must be an http(s) URL",
                    });
                }
                Some(StripeSettings {
                    secret_key,
                    publishable_key: get("STRIPE_PUBLISHABLE_KEY"),
                    api_base: format!("{}/", api_base.trim_end_matches('/')),
                    webhook_secret: get("STRIPE_WEBHOOK_SECRET"),
                    js_url: get("DROPCAST_STRIPE_JS_URL")
                        .unwrap_or_else(|| "https://js.stripe.com/v3/".into()),
                })
            }
        };
        let hold_seconds = number(&get, "DROPCAST_HOLD_SECONDS", 600, 1..=86_400)?;
        let hold_sca_seconds = number(&get, "DROPCAST_HOLD_SCA_SECONDS", 120, 1..=86_400)?;
        let drain = Duration::from_secs(number(&get, "DROPCAST_DRAIN_SECONDS", 30, 1..=600)?);
        let node_id = get("DROPCAST_NODE_ID");
        if let Some(id) = &node_id
            && (id.len() > 100 || id.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(ConfigError::Invalid {
                var: "DROPCAST_NODE_ID",
                value: id.clone(),
                reason: "must be at most 100 characters without spaces",
            });
        }
        let internal_url = match get("DROPCAST_INTERNAL_URL") {
            None => None,
            Some(value) => Some(
                url::Url::parse(&value)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or(ConfigError::Invalid {
                        var: "DROPCAST_INTERNAL_URL",
                        value,
                        reason: "must be an http(s) URL with a host",
                    })?,
            ),
        };
        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::Invalid {
                    var: "REDIS_URL",
                    value: redact_url(url),
                    reason: "must start with redis:// or rediss://",
                });
            }
            if database_url.starts_with("sqlite:") {
                return Err(ConfigError::Invalid {
                    var: "REDIS_URL",
                    value: redact_url(url),
                    reason: "a cluster needs PostgreSQL: with SQLite (one file, one process) \
                             Dropcast runs as a single node; set DATABASE_URL=postgres://… or unset REDIS_URL",
                });
            }
        }
        let roles = match get("DROPCAST_ROLES") {
            None => crate::node::Roles::ALL,
            Some(spec) => {
                crate::node::Roles::parse(&spec).map_err(|reason| ConfigError::Listed {
                    var: "DROPCAST_ROLES",
                    reason,
                })?
            }
        };
        if roles != crate::node::Roles::ALL && database_url.starts_with("sqlite:") {
            return Err(ConfigError::Listed {
                var: "DROPCAST_ROLES",
                reason: "with SQLite Dropcast is one node, which has every role; roles are for a \
                         cluster on PostgreSQL (DATABASE_URL=postgres://…)"
                    .into(),
            });
        }
        let ingest_host = get("DROPCAST_INGEST_HOST");
        let metrics_token = get("DROPCAST_METRICS_TOKEN");
        let smtp_url = get("DROPCAST_SMTP_URL");
        let mail_from = get("DROPCAST_MAIL_FROM");
        let vapid_subject = get("DROPCAST_VAPID_SUBJECT");
        if let Some(v) = &vapid_subject
            && !(v.starts_with("mailto:") || v.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                var: "DROPCAST_VAPID_SUBJECT",
                value: v.clone(),
                reason: "must be a mailto: or https:// URL",
            });
        }
        let announce = AnnounceSettings {
            push_allow_http: matches!(
                get("DROPCAST_PUSH_ALLOW_HTTP").as_deref(),
                Some("1" | "true")
            ),
            vapid_subject,
            rate_per_second: number(&get, "DROPCAST_NOTICE_RATE", 500, 1..=100_000)? as u32,
        };
        let rate_limits = crate::limits::RateLimitSettings::parse(
            &get("DROPCAST_RATE_LIMITS").unwrap_or_else(|| "default".into()),
        )
        .map_err(|reason| ConfigError::Listed {
            var: "DROPCAST_RATE_LIMITS",
            reason,
        })?;
        let trusted_proxies = match get("DROPCAST_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.parse().map_err(|_| ConfigError::Listed {
                        var: "DROPCAST_TRUSTED_PROXIES",
                        reason: format!("{a:?} is not an IP address"),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let viewer_session =
            Duration::from_secs(number(&get, "DROPCAST_SESSION_DAYS", 90, 1..=3650)? * 86_400);
        let test_pause = match get("DROPCAST_TEST_PAUSE") {
            None => None,
            Some(value) => Some(parse_pause(&value).ok_or(ConfigError::Invalid {
                var: "DROPCAST_TEST_PAUSE",
                value,
                reason: "must be before_confirm:MS or after_confirm:MS",
            })?),
        };
        let assets_dir = get("DROPCAST_ASSETS_DIR").map_or_else(
            || {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../target/widget/dist"
                ))
            },
            PathBuf::from,
        );
        Ok(Settings {
            announce,
            smtp_url,
            mail_from,
            assets_dir,
            stripe,
            hold_seconds,
            hold_sca_seconds,
            drain,
            node_id,
            internal_url,
            redis_url,
            roles,
            ingest_host,
            metrics_token,
            rate_limits,
            trusted_proxies,
            viewer_session,
            test_pause,
            http_addr,
            public_url,
            data_dir,
            database_url,
            admin_token,
            rtmp_addr,
            srt_addr,
            replay_seconds,
            replay_max_bytes,
            replay_playlist_fresh: crate::replay_playlists::FRESH_FOR,
            ingest,
            http_workers,
            live: LiveSettings::default(),
        })
    }

    /// The public base URL as a string without a trailing slash, for joining paths.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_string()
    }

    /// The host name viewers and encoders reach us by (from the public URL).
    /// Where publishers reach this node's own ingest listeners.
    pub fn own_ingest(&self) -> crate::node::IngestBase {
        let host = self
            .ingest_host
            .clone()
            .unwrap_or_else(|| self.public_host());
        crate::node::IngestBase::of(&host, self.rtmp_addr.port(), self.srt_addr.port())
    }

    pub fn public_host(&self) -> String {
        match self.public_url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(host) => host.to_string(),
            None => self.http_addr.ip().to_string(),
        }
    }
}

fn address(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let value = get(var).unwrap_or_else(|| default.to_string());
    let mut addrs = value.to_socket_addrs().map_err(|e| ConfigError::Address {
        var,
        value: value.clone(),
        reason: e.to_string(),
    })?;
    addrs.next().ok_or_else(|| ConfigError::Address {
        var,
        value: value.clone(),
        reason: "resolves to no address".into(),
    })
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            var,
            value,
            reason: "must be a whole number in the allowed range",
        }),
    }
}

fn parse_pause(value: &str) -> Option<TestPause> {
    let (point, ms) = value.split_once(':')?;
    let point = match point {
        "before_confirm" => PausePoint::BeforeConfirm,
        "after_confirm" => PausePoint::AfterConfirm,
        _ => return None,
    };
    Some(TestPause {
        point,
        duration: Duration::from_millis(ms.parse().ok()?),
    })
}

fn parse_public_url(value: &str) -> Result<url::Url, ConfigError> {
    let invalid = |reason| ConfigError::Invalid {
        var: "DROPCAST_PUBLIC_URL",
        value: value.to_string(),
        reason,
    };
    let url = url::Url::parse(value).map_err(|_| invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("must be an http:// or https:// URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(url)
}

/// A database URL with any password replaced, fit for logs and error messages.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "(unparseable URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_give_a_working_single_machine() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_base(), "http://127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://./data/dropcast.db");
        assert_eq!(s.rtmp_addr.port(), 1935);
        assert_eq!(s.srt_addr.port(), 9000);
        assert_eq!(s.replay_seconds, 600);
        assert!(s.admin_token.is_none());
        assert!(s.stripe.is_none());
        assert_eq!(s.hold_seconds, 600);
    }

    #[test]
    fn stripe_settings_need_the_secret_key() {
        let s = settings(&[("STRIPE_PUBLISHABLE_KEY", "pk_test_x")]).unwrap();
        assert!(s.stripe.is_none());
        let s = settings(&[
            ("STRIPE_SECRET_KEY", "sk_test_x"),
            ("STRIPE_API_BASE", "http://127.0.0.1:8420"),
        ])
        .unwrap();
        let stripe = s.stripe.unwrap();
        assert_eq!(stripe.api_base, "http://127.0.0.1:8420/");
        assert!(!format!("{stripe:?}").contains("sk_test_x"));
    }

    #[test]
    fn redis_needs_postgres() {
        let err = settings(&[("REDIS_URL", "redis://127.0.0.1:6379")])
            .expect_err("SQLite with Redis is refused");
        assert!(err.to_string().contains("needs PostgreSQL"), "{err}");
        let s = settings(&[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("DATABASE_URL", "postgres://u@h/db"),
        ])
        .unwrap();
        assert_eq!(s.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert!(
            settings(&[
                ("REDIS_URL", "http://x"),
                ("DATABASE_URL", "postgres://u@h/db")
            ])
            .is_err()
        );
    }

    #[test]
    fn roles_need_postgres_and_say_which_are_known() {
        assert_eq!(settings(&[]).unwrap().roles, crate::node::Roles::ALL);
        let err = settings(&[("DROPCAST_ROLES", "ingest")]).expect_err("SQLite is one node");
        assert!(err.to_string().contains("every role"), "{err}");
        let pg = ("DATABASE_URL", "postgres://u@h/db");
        let s = settings(&[("DROPCAST_ROLES", "api,workers"), pg]).unwrap();
        assert!(s.roles.api && s.roles.workers && !s.roles.ingest);
        let err = settings(&[("DROPCAST_ROLES", "api,edge"), pg]).unwrap_err();
        assert!(err.to_string().contains("\"edge\""), "{err}");
        let s = settings(&[("DROPCAST_INGEST_HOST", "ingest.example.com")]).unwrap();
        assert_eq!(s.own_ingest().rtmp, "rtmp://ingest.example.com:1935/live");
    }

    #[test]
    fn test_pause_parses() {
        let s = settings(&[("DROPCAST_TEST_PAUSE", "after_confirm:1500")]).unwrap();
        assert_eq!(
            s.test_pause,
            Some(TestPause {
                point: PausePoint::AfterConfirm,
                duration: Duration::from_millis(1500)
            })
        );
        assert!(settings(&[("DROPCAST_TEST_PAUSE", "sometime")]).is_err());
    }

    #[test]
    fn data_dir_moves_the_default_database() {
        let s = settings(&[("DROPCAST_DATA_DIR", "/srv/dc")]).unwrap();
        assert_eq!(s.database_url, "sqlite:///srv/dc/dropcast.db");
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        for (var, value) in [
            ("DROPCAST_HTTP_ADDR", "nonsense"),
            ("DROPCAST_PUBLIC_URL", "ftp://x"),
            ("DROPCAST_REPLAY_SECONDS", "-4"),
            ("DATABASE_URL", "mysql://x"),
            ("DROPCAST_ADMIN_TOKEN", "short"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
