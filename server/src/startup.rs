//! Builds and runs the server: database, live hub, HTTP listener.
//!
//! [`Application::build`] does everything that can fail (open and migrate the
//! database, bind the port) before anything is served, so `/healthz` answering
//! means migrations ran. Tests bind port 0 and read [`Application::port`].
//!
//! Shutdown: on SIGINT or SIGTERM the node stops accepting, the live
//! sockets are closed with "going away" (clients reconnect elsewhere, with
//! jitter), requests in flight — orders waiting on the bank among them — get
//! up to `DROPCAST_DRAIN_SECONDS` (30) to finish, the node's lease ends
//! (other nodes take over what it still owned at once), then the database
//! pool closes.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use sqlx::AnyPool;
use tokio_util::sync::CancellationToken;

use crate::auth::AdminToken;
use crate::checkout::{Checkout, CheckoutSettings};
use crate::configuration::Settings;
use crate::db::{self, DbError};
use crate::domain::ids::new_secret;
use crate::error::{ApiError, json_error_handler};
use crate::live::Hub;
use crate::node::NodeIdentity;
use crate::payments::Stripe;
use crate::routes;
use crate::state::AppState;
use crate::telemetry::{Metrics, observe};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Stripe(String),
    #[error("media: {0}")]
    Media(String),
    #[error("mail: {0}")]
    Mail(String),
    #[error("cannot reach Redis (REDIS_URL): {0}")]
    Redis(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// The admin token when it was generated rather than configured, to print once.
    generated_admin_token: Option<String>,
}

impl Application {
    /// Opens and migrates the database, then binds the listener.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let pool = db::open(&settings.database_url).await?;
        Self::build_with_pool(settings, pool).await
    }

    /// Binds the listeners (HTTP, RTMP, SRT) over an already migrated pool and
    /// starts the background work (checkout sweeps, ingest).
    pub async fn build_with_pool(
        settings: Settings,
        pool: AnyPool,
    ) -> Result<Application, StartupError> {
        let (admin_token, generated_admin_token) = match &settings.admin_token {
            Some(token) => (AdminToken::new(token), None),
            None => {
                let token = new_secret("dca");
                (AdminToken::new(&token), Some(token))
            }
        };
        let metrics = Arc::new(Metrics::new());
        let playback = crate::state::Playback {
            edges: crate::edge::LiveEdges::new(media::live::TrackConfig::default()),
            replays: crate::replay_playlists::ReplayPlaylists::new(settings.replay_playlist_fresh),
        };
        let hub = Hub::new(pool.clone(), settings.live.clone(), metrics.clone())
            .with_edges(playback.edges.clone());
        let shutdown = CancellationToken::new();
        let stripe = match &settings.stripe {
            Some(s) => Some(Stripe::new(s.clone()).map_err(StartupError::Stripe)?),
            None => None,
        };
        let addr = settings.http_addr.to_string();
        let bind_error = |source| StartupError::Bind {
            addr: addr.clone(),
            source,
        };
        let listener = TcpListener::bind(settings.http_addr).map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let port = bound.port();
        let mut settings = settings;
        if settings.public_url.port() == Some(0) {
            // Bound to port 0 (tests): hand out the port actually taken.
            let _ = settings.public_url.set_port(Some(port));
        }
        let node = NodeIdentity::new(
            settings
                .node_id
                .clone()
                .unwrap_or_else(|| crate::node::default_node_id(port)),
            settings
                .internal_url
                .as_ref()
                .map_or_else(|| format!("http://{bound}"), crate::node::internal_base),
            settings.roles,
        );
        node.register(&pool).await.map_err(DbError::Query)?;
        let mut limits = crate::limits::RateLimits::new(&settings.rate_limits);
        let hub = match &settings.redis_url {
            None => hub,
            Some(url) => {
                let (bus, events) = bus::Bus::connect(url, &node.instance_id)
                    .await
                    .map_err(|e| StartupError::Redis(e.to_string()))?;
                tracing::info!(node = %node.node_id, "live changes fan out across the cluster through Redis; rate limits are shared there");
                limits = limits.shared(bus.clone());
                hub.with_bus(bus, events, node.node_id.clone(), shutdown.clone())
            }
        };
        let checkout = Checkout::new(
            pool.clone(),
            hub.clone(),
            stripe,
            CheckoutSettings {
                hold: Duration::from_secs(settings.hold_seconds),
                hold_sca: Duration::from_secs(settings.hold_sca_seconds),
                test_pause: settings.test_pause,
            },
            node.clone(),
            metrics.clone(),
        );
        let limits = Arc::new(limits);
        tokio::spawn(crate::limits::run_cleaner(limits.clone(), shutdown.clone()));
        let roles = settings.roles;
        tracing::info!(node = %node.node_id, roles = %roles.list(), "node starting");
        let ingest = if roles.ingest {
            let ingest = start_ingest(
                &mut settings,
                &pool,
                &hub,
                &metrics,
                &limits,
                &playback,
                &node,
                &shutdown,
            )
            .await?;
            let base = settings.own_ingest();
            crate::store::nodes::advertise_ingest(
                &pool,
                &node.node_id,
                &node.instance_id,
                &base.rtmp,
                &base.srt,
            )
            .await
            .map_err(DbError::Query)?;
            Some(ingest)
        } else {
            if roles.workers {
                // No recorder here to notice publishers whose node is gone.
                tokio::spawn(crate::replay::run_settle(
                    pool.clone(),
                    hub.clone(),
                    node.clone(),
                    shutdown.clone(),
                ));
            }
            None
        };
        let workers = settings.http_workers;
        let drain = settings.drain;
        let settings = Arc::new(settings);
        let clips = if roles.ingest {
            crate::clips::ClipWorkers::start(
                pool.clone(),
                hub.clone(),
                settings.clone(),
                node.clone(),
                shutdown.clone(),
            )
            .await
            .map_err(|e| StartupError::Media(format!("cannot open the clip queue: {e}")))?
        } else {
            crate::clips::ClipWorkers::elsewhere()
        };
        let links = crate::notices::OrderLinks::load(&pool, &settings.public_base())
            .await
            .map_err(DbError::Query)?;
        let mailer = match &settings.smtp_url {
            Some(url) => {
                let from = settings
                    .mail_from
                    .clone()
                    .unwrap_or_else(|| format!("Dropcast <no-reply@{}>", settings.public_host()));
                let mailer =
                    mail::Mailer::new(url, &from).map_err(|e| StartupError::Mail(e.to_string()))?;
                tracing::info!(server = %mailer.server, "mail goes through this SMTP server");
                Some(mailer)
            }
            None => {
                tracing::warn!(
                    "DROPCAST_SMTP_URL is not set: no mail is sent to buyers; each letter is logged with where it would go"
                );
                None
            }
        };
        let announcer = crate::announcements::Announcer::load(&pool, &settings, metrics.clone())
            .await
            .map_err(DbError::Query)?;
        if roles.workers {
            tokio::spawn(crate::announcements::run(
                crate::announcements::Worker {
                    announcer: announcer.clone(),
                    mailer: mailer.clone(),
                    metrics: metrics.clone(),
                    claimer: node.instance_id.clone(),
                    rate_per_second: settings.announce.rate_per_second,
                },
                shutdown.clone(),
            ));
            tokio::spawn(crate::notices::run_mail(
                pool.clone(),
                mailer,
                links.clone(),
                node.instance_id.clone(),
                shutdown.clone(),
            ));
        }
        let assets = crate::routes::pages::Manifest::load(&settings.assets_dir);
        if assets.is_none() {
            tracing::warn!(dir = %settings.assets_dir.display(), "pages not built (scripts/build_widget.sh): they answer 503");
        }
        let origins = crate::origin::Origins::new(
            node.clone(),
            settings.data_dir.clone(),
            settings.redis_url.is_some(),
        );
        let state = web::Data::new(AppState {
            origins,
            assets,
            pool,
            settings,
            admin_token,
            hub,
            node: node.clone(),
            limits: limits.clone(),
            checkout: checkout.clone(),
            metrics,
            ingest,
            playback,
            clips,
            links,
            announcer,
            shutdown,
        });
        // Settle what a previous process left in flight, then keep ending
        // holds that run out.
        let hold = Duration::from_secs(
            state
                .settings
                .hold_seconds
                .min(state.settings.hold_sca_seconds),
        );
        let sweep_every = (hold / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let shutdown = state.shutdown.clone();
        if roles.workers {
            tokio::spawn(crate::checkout::run_outbox(
                checkout.clone(),
                shutdown.clone(),
            ));
        }
        tokio::spawn(crate::node::run_heartbeat(
            state.pool.clone(),
            node.clone(),
            shutdown.clone(),
        ));
        if roles.api || roles.workers {
            tokio::spawn(async move {
                // What this node's previous process left holding stock is
                // settled at once; the workers sweep for everyone's.
                if let Err(e) = checkout.reconcile().await {
                    tracing::error!(error = %e, "reconciliation at start failed; the expiry sweep will retry");
                }
                if roles.workers {
                    crate::checkout::run_expiry(checkout, sweep_every, shutdown).await;
                }
            });
        }
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let app = App::new()
                .app_data(app_state.clone())
                .wrap(ErrorHandlers::new().default_handler(json_error_handler))
                .wrap(from_fn(crate::cors::cors))
                .wrap(from_fn(observe));
            if roles.api {
                app.configure(routes::configure)
                    .default_service(web::to(|| async {
                        Err::<actix_web::HttpResponse, _>(ApiError::not_found(
                            "not_found",
                            "no such route",
                        ))
                    }))
            } else {
                app.configure(routes::configure_media)
                    .default_service(web::to(|| async {
                        Err::<actix_web::HttpResponse, _>(ApiError::new(
                            actix_web::http::StatusCode::MISDIRECTED_REQUEST,
                            "not_an_api_node",
                            "this node only takes streams and serves their media to the other nodes (DROPCAST_ROLES); send API calls and viewers to an api node",
                        ))
                    }))
            }
        })
        .workers(workers)
        .backlog(4096)
        .max_connection_rate(4096)
        .shutdown_timeout(drain.as_secs())
        .disable_signals()
        .listen(listener)
        .map_err(bind_error)?
        .run();
        Ok(Application {
            port,
            server,
            state,
            generated_admin_token,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The admin token, if it was generated at this start (print it once).
    pub fn generated_admin_token(&self) -> Option<&str> {
        self.generated_admin_token.as_deref()
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.state.shutdown.clone();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            result = &mut server => return result.unwrap_or(Ok(())),
            _ = shutdown_signal() => tracing::info!("shutting down"),
        }
        shutdown.cancel();
        handle.stop(true).await;
        let result = server.await.unwrap_or(Ok(()));
        let node = &self.state.node;
        if let Err(e) =
            crate::store::nodes::leave(&self.state.pool, &node.node_id, &node.instance_id).await
        {
            tracing::warn!(error = %e, "could not end this node's lease: other nodes take its work over once it lapses");
        }
        self.state.pool.close().await;
        result
    }
}

/// Binds RTMP and SRT ingest and starts serving publishers. Ports given as 0
/// are replaced in `settings` by the ones taken, so the ingest URLs handed out
/// are right.
#[allow(clippy::too_many_arguments)]
async fn start_ingest(
    settings: &mut Settings,
    pool: &AnyPool,
    hub: &Hub,
    metrics: &Arc<Metrics>,
    limits: &Arc<crate::limits::RateLimits>,
    playback: &crate::state::Playback,
    node: &Arc<NodeIdentity>,
    shutdown: &CancellationToken,
) -> Result<media::ingest::Ingest, StartupError> {
    media::init().map_err(|e| StartupError::Media(e.to_string()))?;
    let recorder = crate::replay::Recorder::start(
        pool.clone(),
        hub.clone(),
        settings.data_dir.clone(),
        crate::replay::ReplayBudget {
            seconds: settings.replay_seconds,
            max_bytes: settings.replay_max_bytes,
        },
        metrics.clone(),
        limits.clone(),
        playback.clone(),
        node.clone(),
        shutdown.clone(),
    )
    .await
    .map_err(|e| StartupError::Media(format!("cannot open the replay index: {e}")))?;
    let ingest = media::ingest::Ingest::with_limits(
        Arc::new(recorder),
        Duration::from_secs(1),
        settings.ingest,
    );

    let bind_error = |addr: std::net::SocketAddr| {
        move |source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        }
    };
    let rtmp =
        std::net::TcpListener::bind(settings.rtmp_addr).map_err(bind_error(settings.rtmp_addr))?;
    rtmp.set_nonblocking(true)
        .map_err(bind_error(settings.rtmp_addr))?;
    settings.rtmp_addr = rtmp.local_addr().map_err(bind_error(settings.rtmp_addr))?;
    let rtmp = tokio::net::TcpListener::from_std(rtmp).map_err(bind_error(settings.rtmp_addr))?;
    // The SRT listener binds inside srt-tokio: check the port here so a busy
    // port stops the start with a clear error, and learn it when given 0.
    let probe =
        std::net::UdpSocket::bind(settings.srt_addr).map_err(bind_error(settings.srt_addr))?;
    settings.srt_addr = probe.local_addr().map_err(bind_error(settings.srt_addr))?;
    drop(probe);

    let stop = shutdown.clone();
    tokio::spawn(media::rtmp::serve(rtmp, ingest.clone(), async move {
        stop.cancelled().await
    }));
    let stop = shutdown.clone();
    let (srt_addr, srt_ingest) = (settings.srt_addr, ingest.clone());
    tokio::spawn(async move {
        if let Err(e) =
            media::srt::serve(srt_addr, srt_ingest, async move { stop.cancelled().await }).await
        {
            tracing::error!(addr = %srt_addr, error = %e, "SRT ingest stopped");
        }
    });
    tracing::info!(rtmp = %settings.rtmp_addr, srt = %settings.srt_addr, "ingest listening");
    Ok(ingest)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
