//! Announcements: "remind me" and "notify me when back", and the notices
//! that bring buyers back — "live now", the two-minute notice before a
//! drop, "back in stock", and the creator's own.
//!
//! ```text
//!  subscribe (email: pending → confirmation letter → confirmed; push: active)
//!
//!  stream starts ─────────┐
//!  drop_opens countdown ──┼─ same transaction ─▶ notices row (pending, due at T)
//!  restock (+N units) ────┤                          │ due: one worker (any node) claims it
//!  studio "send" ─────────┘                          ▼
//!                          fan out ─▶ notice_deliveries (one per subscriber; a
//!                                     restock: the first N × factor of its waitlist)
//!                                                    │ claimed in batches, paced
//!                                                    ▼
//!                                push::Pusher (Web Push) / mail::Mailer (SMTP)
//!                                                    │
//!                      sent / retried later / failed / dropped (unsubscribed, gone)
//!
//!  tracking link /n/{delivery} ─▶ click (TTFC) ─▶ cookie ─▶ orders within 10 min
//! ```
//!
//! [`Announcer`] is the one owner of these rules: routes translate requests
//! into its calls; the worker ([`run`]) sends.

mod links;
mod message;
mod worker;

use sqlx::AnyPool;

pub use links::AnnounceLinks;
pub use worker::{Worker, run};

use crate::domain::announce::{EmailAddress, NoticeKind, NoticeText};
use crate::store::{self, announcements as rows};

/// The cookie a followed tracking link leaves, for the show's order route
/// only, for ten minutes: an order placed with it counts for the notice.
pub const NOTICE_COOKIE: &str = "dc_notice";

/// What a buyer asked to be told on.
pub enum Ask<'a> {
    Email(&'a str),
    Push {
        endpoint: &'a str,
        p256dh: &'a str,
        auth: &'a str,
    },
}

/// Why a subscription was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("no such show")]
    NoShow,
    #[error("this show has no product with this id")]
    NoProduct,
    #[error("{0}")]
    Email(String),
    #[error("{0}")]
    Push(push::SubscriptionError),
    #[error("email announcements are off here: no SMTP server is configured")]
    NoMail,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A subscription as the buyer sees it.
pub struct Subscribed {
    pub id: String,
    /// `pending` until an email is confirmed, else `active`.
    pub status: &'static str,
}

/// Announcements' rules, shared by every request handler.
#[derive(Clone)]
pub struct Announcer {
    pool: AnyPool,
    pusher: push::Pusher,
    links: AnnounceLinks,
    allow_http: bool,
    mail_on: bool,
    /// Wakes this node's worker when something is due now.
    wake: std::sync::Arc<tokio::sync::Notify>,
    metrics: std::sync::Arc<crate::telemetry::Metrics>,
}

/// The contact VAPID tokens name: the setting, else `mailto:` the sender.
fn vapid_subject(settings: &crate::configuration::Settings) -> String {
    if let Some(s) = &settings.announce.vapid_subject {
        return s.clone();
    }
    let from = settings.mail_from.clone().unwrap_or_default();
    let address = from
        .rsplit_once('<')
        .map_or(from.as_str(), |(_, a)| a.trim_end_matches('>'))
        .trim()
        .to_string();
    if address.contains('@') {
        format!("mailto:{address}")
    } else {
        format!("mailto:no-reply@{}", settings.public_host())
    }
}

impl Announcer {
    /// Loads (or, the first time anywhere, makes and keeps) the VAPID key
    /// every node signs with, and the links' key.
    pub async fn load(
        pool: &AnyPool,
        settings: &crate::configuration::Settings,
        metrics: std::sync::Arc<crate::telemetry::Metrics>,
    ) -> Result<Announcer, sqlx::Error> {
        let secret =
            store::shared_secret_with(pool, "vapid", || push::VapidKey::generate().secret())
                .await?;
        let key = push::VapidKey::from_secret(&secret)
            .map_err(|e| sqlx::Error::Protocol(format!("the kept VAPID key: {e}")))?;
        let links = AnnounceLinks::load(pool, &settings.public_base()).await?;
        Ok(Announcer {
            pool: pool.clone(),
            pusher: push::Pusher::new(key, &vapid_subject(settings)),
            links,
            allow_http: settings.announce.push_allow_http,
            mail_on: settings.smtp_url.is_some(),
            wake: Default::default(),
            metrics,
        })
    }

    /// The key browsers subscribe with (`applicationServerKey`).
    pub fn vapid_public_key(&self) -> String {
        self.pusher.public_key()
    }

    /// Takes a "remind me" (no product) or "notify me when back" (a
    /// product): an email gets its confirmation letter (double opt-in), a
    /// browser is told from now on. Asking again is the same subscription.
    pub async fn subscribe(
        &self,
        show_id: &str,
        product_id: Option<&str>,
        ask: Ask<'_>,
        source: &str,
    ) -> Result<Subscribed, SubscribeError> {
        let address = match ask {
            Ask::Email(e) => EmailAddress::parse(e).map_err(SubscribeError::Email)?,
            Ask::Push {
                endpoint,
                p256dh,
                auth,
            } => {
                push::Subscription::parse(endpoint, p256dh, auth, self.allow_http)
                    .map_err(SubscribeError::Push)?;
                return self
                    .record(
                        show_id,
                        product_id,
                        rows::Address::Push {
                            endpoint,
                            p256dh,
                            auth,
                        },
                        source,
                    )
                    .await;
            }
        };
        self.record(
            show_id,
            product_id,
            rows::Address::Email(address.as_str()),
            source,
        )
        .await
    }

    async fn record(
        &self,
        show_id: &str,
        product_id: Option<&str>,
        address: rows::Address<'_>,
        source: &str,
    ) -> Result<Subscribed, SubscribeError> {
        if store::get_show(&self.pool, show_id).await?.is_none() {
            return Err(SubscribeError::NoShow);
        }
        if let Some(p) = product_id
            && store::get_product(&self.pool, show_id, p).await?.is_none()
        {
            return Err(SubscribeError::NoProduct);
        }
        if matches!(address, rows::Address::Email(_)) && !self.mail_on {
            return Err(SubscribeError::NoMail);
        }
        let done = rows::subscribe(
            &self.pool,
            rows::NewSubscription {
                show_id,
                product_id,
                address,
                source,
            },
        )
        .await?;
        if done.confirm_owed {
            self.wake.notify_one();
        }
        Ok(Subscribed {
            id: done.row.id,
            status: done.row.status.as_str(),
        })
    }

    /// Follows a confirmation link: the show it subscribes to, or `None` if
    /// the link is not one of ours (or was unsubscribed since).
    pub async fn confirm(
        &self,
        subscription_id: &str,
        sig: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        if !self.links.verify_confirm(subscription_id, sig) {
            return Ok(None);
        }
        Ok(rows::confirm(&self.pool, subscription_id)
            .await?
            .map(|s| s.show_id))
    }

    /// One-click unsubscribe: the show it was for, `None` for a link that
    /// is not one of ours.
    pub async fn unsubscribe(&self, token: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(rows::unsubscribe(&self.pool, token)
            .await?
            .map(|s| s.show_id))
    }

    /// The creator's own notice, sent now; its id.
    pub async fn send_by_hand(
        &self,
        show_id: &str,
        text: &NoticeText,
    ) -> Result<String, sqlx::Error> {
        let id = rows::schedule(
            &self.pool,
            rows::NewNotice {
                show_id,
                kind: NoticeKind::Manual,
                product_id: None,
                text: text.as_str(),
                dedupe_key: &crate::domain::ids::new_id("manual"),
                due_at_ms: crate::now_ms(),
                wake_limit: None,
            },
        )
        .await?
        .unwrap_or_default();
        self.wake.notify_one();
        Ok(id)
    }

    /// A followed tracking link: where it leads (the show's watch page), or
    /// `None` for a link that is not one of ours.
    pub async fn clicked(&self, delivery_id: &str) -> Result<Option<rows::Clicked>, sqlx::Error> {
        let clicked = rows::click(&self.pool, delivery_id).await?;
        if let Some(c) = clicked.as_ref().filter(|c| c.first) {
            let kind = crate::telemetry::KindLabels {
                kind: c.kind.as_str().to_string(),
            };
            self.metrics.notice_clicks.get_or_create(&kind).inc();
            if let Some(sent) = c.sent_at_ms {
                let seconds = (c.clicked_at_ms - sent).max(0) as f64 / 1000.0;
                self.metrics
                    .notice_ttfc
                    .get_or_create(&kind)
                    .observe(seconds);
            }
        }
        Ok(clicked)
    }

    /// Counts an order for the notice whose link the buyer followed in the
    /// last ten minutes (`dc_notice` cookie). Counting, not money: a failure
    /// is logged and the order stands.
    pub async fn order_placed(&self, order_id: &str, show_id: &str, delivery_id: &str) {
        if !crate::domain::ids::looks_like_id(delivery_id) {
            return;
        }
        match rows::attribute_order(&self.pool, order_id, show_id, delivery_id).await {
            Ok(Some(kind)) => {
                self.metrics
                    .notice_orders
                    .get_or_create(&crate::telemetry::KindLabels {
                        kind: kind.as_str().to_string(),
                    })
                    .inc();
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(order = %order_id, delivery = %delivery_id, error = %e, "cannot count an order for its notice")
            }
        }
    }
}
