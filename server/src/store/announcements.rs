//! Announcements' rows: `subscriptions` (who asked, on which channel, and
//! their consent), `notices` (what is told, due when), `notice_deliveries`
//! (one message to one subscriber: the queue) and `notice_orders` (the
//! sales that followed a click).
//!
//! A notice is written in the same transaction as its reason (a countdown,
//! a restock) where it has one; when due, one worker claims it and fans it
//! out into deliveries in one transaction (the dedupe key
//! `notice:subscription` makes a repeat harmless). Workers on any node
//! claim due deliveries for a short lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite's single writer makes the claim atomic) and record
//! what the push service or SMTP server answered.

use sqlx::{AnyPool, FromRow};

use crate::domain::announce::{Channel, NoticeKind, SubscriptionStatus};
use crate::domain::ids::{new_id, new_secret};
use crate::now_ms;

/// How long a claim on a delivery lasts: longer than one push or SMTP
/// conversation may take (the pusher and mailer time out at 15 s).
pub const CLAIM_MS: i64 = 60_000;

#[derive(Debug, Clone, FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub show_id: String,
    pub product_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    pub email: Option<String>,
    pub endpoint: Option<String>,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: SubscriptionStatus,
    pub consent_at_ms: i64,
    pub consent_source: String,
    pub confirmed_at_ms: Option<i64>,
    pub unsubscribe_token: String,
    pub created_at_ms: i64,
}

const SUBSCRIPTION_COLUMNS: &str = "id, show_id, product_id, channel, email, endpoint, p256dh, \
     auth, status, consent_at_ms, consent_source, confirmed_at_ms, unsubscribe_token, created_at_ms";

/// Where a subscription goes.
pub enum Address<'a> {
    Email(&'a str),
    Push {
        endpoint: &'a str,
        p256dh: &'a str,
        auth: &'a str,
    },
}

/// A buyer's request to be told.
pub struct NewSubscription<'a> {
    pub show_id: &'a str,
    pub product_id: Option<&'a str>,
    pub address: Address<'a>,
    /// Where the consent was given (the page and button).
    pub source: &'a str,
}

/// What subscribing came to.
pub struct Subscribed {
    pub row: SubscriptionRow,
    /// A confirmation letter is owed (an email, new or asked again while
    /// unconfirmed or after unsubscribing).
    pub confirm_owed: bool,
}

/// Records a subscription, or renews the same one (same show, product,
/// channel and address) with the new consent. An email starts `pending`
/// (double opt-in) unless already confirmed; a browser is `active` at once.
/// The email's confirmation letter is queued in the same transaction.
pub async fn subscribe(
    pool: &AnyPool,
    new: NewSubscription<'_>,
) -> Result<Subscribed, sqlx::Error> {
    let now = now_ms();
    let (channel, email, endpoint, p256dh, auth, who) = match new.address {
        Address::Email(e) => (Channel::Email, Some(e), None, None, None, e.to_lowercase()),
        Address::Push {
            endpoint,
            p256dh,
            auth,
        } => (
            Channel::Push,
            None,
            Some(endpoint),
            Some(p256dh),
            Some(auth),
            endpoint.to_string(),
        ),
    };
    let dedupe = format!(
        "{}:{}:{}:{who}",
        new.show_id,
        new.product_id.unwrap_or("-"),
        channel.as_str()
    );
    let fresh_status = match channel {
        Channel::Email => SubscriptionStatus::Pending,
        Channel::Push => SubscriptionStatus::Active,
    };
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO subscriptions (id, show_id, product_id, channel, email, endpoint, p256dh, auth,
             status, consent_at_ms, consent_source, unsubscribe_token, dedupe_key, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $10)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_id("sub"))
    .bind(new.show_id)
    .bind(new.product_id)
    .bind(channel.as_str())
    .bind(email)
    .bind(endpoint)
    .bind(p256dh)
    .bind(auth)
    .bind(fresh_status.as_str())
    .bind(now)
    .bind(new.source)
    .bind(new_secret("u"))
    .bind(&dedupe)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        // Asked again: the newest consent counts. A confirmed email or an
        // active browser stays as it is; an unconfirmed email is sent its
        // link again; one that left (or a woken waitlist entry) comes back.
        sqlx::query(
            "UPDATE subscriptions SET consent_at_ms = $2, consent_source = $3,
                 p256dh = COALESCE($4, p256dh), auth = COALESCE($5, auth),
                 status = CASE WHEN status IN ('active', 'pending') THEN status
                               WHEN confirmed_at_ms IS NOT NULL OR channel = 'push' THEN 'active'
                               ELSE 'pending' END,
                 unsubscribed_at_ms = NULL, woken_at_ms = NULL
             WHERE dedupe_key = $1",
        )
        .bind(&dedupe)
        .bind(now)
        .bind(new.source)
        .bind(p256dh)
        .bind(auth)
        .execute(&mut *tx)
        .await?;
    }
    let row: SubscriptionRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE dedupe_key = $1"
    )))
    .bind(&dedupe)
    .fetch_one(&mut *tx)
    .await?;
    let confirm_owed = row.channel == Channel::Email && row.status == SubscriptionStatus::Pending;
    if confirm_owed {
        insert_delivery(
            &mut *tx,
            None,
            &row,
            &format!("confirm:{}:{now}", row.id),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Subscribed { row, confirm_owed })
}

async fn insert_delivery<'e, E>(
    exec: E,
    notice_id: Option<&str>,
    sub: &SubscriptionRow,
    dedupe: &str,
    due_ms: i64,
) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "INSERT INTO notice_deliveries (id, notice_id, subscription_id, channel, status,
             next_attempt_at_ms, dedupe_key, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $5, $5)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_secret("n"))
    .bind(notice_id)
    .bind(&sub.id)
    .bind(sub.channel.as_str())
    .bind(due_ms)
    .bind(dedupe)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Follows an email's confirmation link (already checked): the
/// subscription it confirms, unless it was unsubscribed since.
pub async fn confirm(
    pool: &AnyPool,
    subscription_id: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE subscriptions SET status = CASE WHEN status = 'pending' THEN 'active' ELSE status END,
             confirmed_at_ms = COALESCE(confirmed_at_ms, $2)
         WHERE id = $1 AND channel = 'email' AND status IN ('pending', 'active')
         RETURNING {SUBSCRIPTION_COLUMNS}"
    )))
    .bind(subscription_id)
    .bind(now_ms())
    .fetch_optional(pool)
    .await
}

/// Unsubscribes the link's subscription (again is the same): nothing more
/// goes to it, not even a message already queued.
pub async fn unsubscribe(
    pool: &AnyPool,
    token: &str,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    let row: Option<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE subscriptions SET status = 'unsubscribed',
             unsubscribed_at_ms = COALESCE(unsubscribed_at_ms, $2)
         WHERE unsubscribe_token = $1
         RETURNING {SUBSCRIPTION_COLUMNS}"
    )))
    .bind(token)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = &row {
        drop_pending(&mut *tx, &r.id, now).await?;
    }
    tx.commit().await?;
    Ok(row)
}

async fn drop_pending<'e, E>(exec: E, subscription_id: &str, now: i64) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE notice_deliveries SET status = 'dropped', updated_at_ms = $2
         WHERE subscription_id = $1 AND status = 'pending'",
    )
    .bind(subscription_id)
    .bind(now)
    .execute(exec)
    .await?;
    Ok(())
}

/// The push service forgot this browser: nothing more goes to it.
pub async fn mark_gone(pool: &AnyPool, subscription_id: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE subscriptions SET status = 'gone' WHERE id = $1")
        .bind(subscription_id)
        .execute(&mut *tx)
        .await?;
    drop_pending(&mut *tx, subscription_id, now).await?;
    tx.commit().await
}

// ---------------------------------------------------------------- notices

#[derive(Debug, Clone, FromRow)]
pub struct NoticeRow {
    pub id: String,
    pub show_id: String,
    #[sqlx(try_from = "String")]
    pub kind: NoticeKind,
    pub product_id: Option<String>,
    pub text: String,
    /// What it is about (`drop_soon:{countdown}`, `restock:{product}:{version}`…).
    pub dedupe_key: String,
    pub status: String,
    pub next_attempt_at_ms: i64,
    pub wake_limit: Option<i64>,
    pub recipients: Option<i64>,
    pub fanned_out_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

const NOTICE_COLUMNS: &str = "id, show_id, kind, product_id, text, dedupe_key, status, next_attempt_at_ms, \
     wake_limit, recipients, fanned_out_at_ms, created_at_ms";

/// A notice to make.
pub struct NewNotice<'a> {
    pub show_id: &'a str,
    pub kind: NoticeKind,
    pub product_id: Option<&'a str>,
    /// What it says; the worker words automatic notices afresh when they
    /// go out (the stock then, not when it was scheduled).
    pub text: &'a str,
    /// What it is about: the same reason never makes two notices.
    pub dedupe_key: &'a str,
    pub due_at_ms: i64,
    pub wake_limit: Option<i64>,
}

/// How long before a drop opens its notice goes out.
pub const DROP_NOTICE_LEAD_MS: i64 = 120_000;

/// The reason of a countdown's "drops soon" notice.
pub fn drop_soon_key(countdown_id: &str) -> String {
    format!("drop_soon:{countdown_id}")
}

/// The countdown a "drops soon" notice is about.
pub fn countdown_of(dedupe_key: &str) -> Option<&str> {
    dedupe_key.strip_prefix("drop_soon:")
}

/// When a drop ending at `ends_at_ms` is announced: two minutes before,
/// or at once if that has passed.
pub fn drop_soon_due(ends_at_ms: i64) -> i64 {
    (ends_at_ms - DROP_NOTICE_LEAD_MS).max(now_ms())
}

/// Schedules "back in stock" for `added` new units of `product`, if
/// anyone waits for it: due now, waking at most `added` × the show's
/// factor of its waitlist.
pub async fn schedule_restock(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    show_id: &str,
    product: &super::ProductRow,
    added: i64,
) -> Result<(), sqlx::Error> {
    let waiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscriptions WHERE product_id = $1 AND status = 'active'",
    )
    .bind(&product.id)
    .fetch_one(&mut **tx)
    .await?;
    if waiting == 0 {
        return Ok(());
    }
    let factor = wake_factor(&mut **tx, show_id).await?;
    schedule(
        &mut **tx,
        NewNotice {
            show_id,
            kind: NoticeKind::Restock,
            product_id: Some(&product.id),
            text: "",
            dedupe_key: &format!("restock:{}:{}", product.id, product.version),
            due_at_ms: now_ms(),
            wake_limit: Some(added.saturating_mul(factor)),
        },
    )
    .await?;
    Ok(())
}

/// Buyers a restock of the show wakes per new unit.
pub async fn wake_factor<'e, E>(exec: E, show_id: &str) -> Result<i64, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_scalar("SELECT restock_wake_factor FROM shows WHERE id = $1")
        .bind(show_id)
        .fetch_one(exec)
        .await
}

/// Schedules a notice; `None` if one for the same reason exists.
pub async fn schedule<'e, E>(exec: E, n: NewNotice<'_>) -> Result<Option<String>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let id = new_id("ntc");
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO notices (id, show_id, kind, product_id, text, dedupe_key, status,
             next_attempt_at_ms, wake_limit, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $9)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&id)
    .bind(n.show_id)
    .bind(n.kind.as_str())
    .bind(n.product_id)
    .bind(n.text)
    .bind(n.dedupe_key)
    .bind(n.due_at_ms)
    .bind(n.wake_limit)
    .bind(now)
    .execute(exec)
    .await?;
    Ok((done.rows_affected() == 1).then_some(id))
}

/// Moves a notice not yet sent to a new time (its countdown was changed).
pub async fn reschedule<'e, E>(exec: E, dedupe_key: &str, due_at_ms: i64) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE notices SET next_attempt_at_ms = $2, updated_at_ms = $3
         WHERE dedupe_key = $1 AND status = 'pending'",
    )
    .bind(dedupe_key)
    .bind(due_at_ms)
    .bind(now_ms())
    .execute(exec)
    .await?;
    Ok(())
}

/// Cancels a notice not yet sent (its countdown was stopped).
pub async fn cancel<'e, E>(exec: E, dedupe_key: &str) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "UPDATE notices SET status = 'cancelled', updated_at_ms = $2
         WHERE dedupe_key = $1 AND status = 'pending'",
    )
    .bind(dedupe_key)
    .bind(now_ms())
    .execute(exec)
    .await?;
    Ok(())
}

/// Claims notices that are due and held by nobody.
pub async fn claim_due_notices(
    pool: &AnyPool,
    claimer: &str,
    limit: i64,
) -> Result<Vec<NoticeRow>, sqlx::Error> {
    super::claim_due_rows(
        pool,
        "notices",
        NOTICE_COLUMNS,
        None,
        claimer,
        CLAIM_MS,
        limit,
    )
    .await
}

/// Fans a claimed notice out: one delivery per active subscriber of the
/// show (a restock: the product's waitlist, first come first served, at
/// most its wake limit, each marked woken), in one transaction, with the
/// text it goes out with. Returns how many it reaches.
pub async fn fan_out(
    pool: &AnyPool,
    notice: &NoticeRow,
    text: &str,
    claimer: &str,
) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    // Written first, so the transaction holds the write lock from its first
    // statement (SQLite cannot turn a read into a write while others write:
    // SQLITE_BUSY_SNAPSHOT); and it is still ours only if nobody cancelled
    // it or took over our lapsed claim.
    let ours = sqlx::query(
        "UPDATE notices SET status = 'fanned_out', text = $2, fanned_out_at_ms = $3,
             claimed_by = NULL, claimed_until_ms = NULL, updated_at_ms = $3
         WHERE id = $1 AND status = 'pending' AND claimed_by = $4",
    )
    .bind(&notice.id)
    .bind(text)
    .bind(now)
    .bind(claimer)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !ours {
        tx.rollback().await?;
        return Ok(0);
    }
    let subscribers: Vec<SubscriptionRow> = match (notice.kind, &notice.product_id) {
        (NoticeKind::Restock, Some(product)) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                 WHERE show_id = $1 AND product_id = $2 AND status = 'active'
                 ORDER BY created_at_ms, id LIMIT $3"
            )))
            .bind(&notice.show_id)
            .bind(product)
            .bind(notice.wake_limit.unwrap_or(i64::MAX).max(0))
            .fetch_all(&mut *tx)
            .await?
        }
        _ => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                 WHERE show_id = $1 AND product_id IS NULL AND status = 'active'
                 ORDER BY created_at_ms, id"
            )))
            .bind(&notice.show_id)
            .fetch_all(&mut *tx)
            .await?
        }
    };
    let mut reached = 0;
    for sub in &subscribers {
        let dedupe = format!("{}:{}", notice.id, sub.id);
        if insert_delivery(&mut *tx, Some(&notice.id), sub, &dedupe, now).await? {
            reached += 1;
        }
        if notice.kind == NoticeKind::Restock {
            sqlx::query(
                "UPDATE subscriptions SET status = 'woken', woken_at_ms = $2
                 WHERE id = $1 AND status = 'active'",
            )
            .bind(&sub.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query("UPDATE notices SET recipients = $2 WHERE id = $1")
        .bind(&notice.id)
        .bind(subscribers.len() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(reached)
}

/// Gives a claimed notice back to try later (it could not be worded).
pub async fn retry_notice(
    pool: &AnyPool,
    notice_id: &str,
    next_at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notices SET next_attempt_at_ms = $2, claimed_by = NULL, claimed_until_ms = NULL
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(notice_id)
    .bind(next_at_ms)
    .execute(pool)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- deliveries

/// A claimed delivery with what it needs to go: its subscriber and notice.
#[derive(Debug, Clone, FromRow)]
pub struct DueDelivery {
    pub id: String,
    pub notice_id: Option<String>,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub subscription_id: String,
    pub show_id: String,
    pub product_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    pub email: Option<String>,
    pub endpoint: Option<String>,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: SubscriptionStatus,
    pub unsubscribe_token: String,
    pub kind: Option<String>,
    pub text: Option<String>,
}

/// Claims up to `limit` due deliveries of one channel for `claim` (a fresh
/// name for each batch), and reads them with their subscriber and notice.
pub async fn claim_due_deliveries(
    pool: &AnyPool,
    claim: &str,
    channel: Channel,
    limit: i64,
) -> Result<Vec<DueDelivery>, sqlx::Error> {
    let claimed: Vec<(String,)> = super::claim_due_rows(
        pool,
        "notice_deliveries",
        "id",
        Some(("channel", channel.as_str())),
        claim,
        CLAIM_MS,
        limit,
    )
    .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(
        "UPDATE notice_deliveries SET first_attempt_at_ms = COALESCE(first_attempt_at_ms, $2)
         WHERE claimed_by = $1 AND status = 'pending'",
    )
    .bind(claim)
    .bind(now_ms())
    .execute(pool)
    .await?;
    sqlx::query_as(
        "SELECT d.id, d.notice_id, d.attempts, d.created_at_ms, s.id AS subscription_id,
                s.show_id, s.product_id, s.channel, s.email, s.endpoint, s.p256dh, s.auth,
                s.status, s.unsubscribe_token, n.kind, n.text
         FROM notice_deliveries d
         JOIN subscriptions s ON s.id = d.subscription_id
         LEFT JOIN notices n ON n.id = d.notice_id
         WHERE d.claimed_by = $1 AND d.status = 'pending'
         ORDER BY d.next_attempt_at_ms",
    )
    .bind(claim)
    .fetch_all(pool)
    .await
}

/// How a claimed delivery ended (for now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The push service or SMTP server took it.
    Sent,
    Retry {
        error: String,
        next_at_ms: i64,
    },
    Failed {
        error: String,
    },
    /// Its subscriber left before its turn.
    Dropped,
}

/// One claimed delivery's outcome, and when it happened (a batch of them
/// is written together, a little later).
#[derive(Debug, Clone)]
pub struct Finished {
    pub delivery_id: String,
    pub outcome: DeliveryOutcome,
    pub at_ms: i64,
}

/// Records how claimed deliveries ended, in one transaction: one commit
/// for the lot instead of one per message, so a send of thousands does not
/// queue thousands of writers on SQLite's one write lock (beside checkout).
/// A delivery already finished (its claim lapsed and another node sent it)
/// is left as it is.
pub async fn finish_deliveries(pool: &AnyPool, done: &[Finished]) -> Result<(), sqlx::Error> {
    if done.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for f in done {
        let (status, error, next) = match &f.outcome {
            DeliveryOutcome::Sent => ("sent", None, None),
            DeliveryOutcome::Retry { error, next_at_ms } => {
                ("pending", Some(error.as_str()), Some(*next_at_ms))
            }
            DeliveryOutcome::Failed { error } => ("failed", Some(error.as_str()), None),
            DeliveryOutcome::Dropped => ("dropped", None, None),
        };
        sqlx::query(
            "UPDATE notice_deliveries SET status = $2, last_error = COALESCE($3, last_error),
                 next_attempt_at_ms = COALESCE($4, next_attempt_at_ms),
                 sent_at_ms = CASE WHEN $2 = 'sent' THEN $5 ELSE sent_at_ms END,
                 claimed_by = NULL, claimed_until_ms = NULL, updated_at_ms = $5
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(&f.delivery_id)
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(f.at_ms)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Where a followed tracking link leads, and whether it was the first click.
#[derive(Debug, Clone, FromRow)]
pub struct Clicked {
    pub show_id: String,
    pub product_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub kind: NoticeKind,
    pub clicked_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    #[sqlx(skip)]
    pub first: bool,
}

/// Records a click on a delivery's link (the first one counts for TTFC).
pub async fn click(pool: &AnyPool, delivery_id: &str) -> Result<Option<Clicked>, sqlx::Error> {
    let first = sqlx::query(
        "UPDATE notice_deliveries SET clicked_at_ms = $2
         WHERE id = $1 AND notice_id IS NOT NULL AND clicked_at_ms IS NULL",
    )
    .bind(delivery_id)
    .bind(now_ms())
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    let clicked: Option<Clicked> = sqlx::query_as(
        "SELECT n.show_id, n.product_id, n.kind, d.clicked_at_ms, d.sent_at_ms
         FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
         WHERE d.id = $1 AND d.clicked_at_ms IS NOT NULL",
    )
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    Ok(clicked.map(|c| Clicked { first, ..c }))
}

/// How long after a click an order counts for its notice.
pub const ORDER_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Counts `order_id` for the notice whose link `delivery_id` is, if that
/// notice is the show's and its link was followed in the last 10 minutes;
/// the notice's kind if it counted.
pub async fn attribute_order(
    pool: &AnyPool,
    order_id: &str,
    show_id: &str,
    delivery_id: &str,
) -> Result<Option<NoticeKind>, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO notice_orders (order_id, delivery_id)
         SELECT $1, d.id FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
         WHERE d.id = $2 AND n.show_id = $3 AND d.clicked_at_ms >= $4
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(delivery_id)
    .bind(show_id)
    .bind(now_ms() - ORDER_WINDOW_MS)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let kind: Option<String> = sqlx::query_scalar(
        "SELECT n.kind FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id WHERE d.id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    Ok(kind.and_then(|k| NoticeKind::try_from(k).ok()))
}

// ---------------------------------------------------------------- stats

/// One notice's figures, for the studio and the show's stats.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeStats {
    pub id: String,
    pub kind: String,
    pub text: String,
    pub product_id: Option<String>,
    pub status: String,
    pub due_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub recipients: i64,
    /// Messages tried at least once.
    pub sent: i64,
    /// Taken by the push service or the SMTP server.
    pub delivered: i64,
    pub clicked: i64,
    /// The median time from a message being taken to its first click.
    pub median_ms_to_first_click: Option<i64>,
    pub orders_within_10_min: i64,
}

#[derive(FromRow)]
struct DeliveryFigures {
    notice_id: String,
    sent: i64,
    delivered: i64,
    clicked: i64,
}

/// Every notice of the show, newest last, with its figures.
pub async fn notice_stats(pool: &AnyPool, show_id: &str) -> Result<Vec<NoticeStats>, sqlx::Error> {
    let notices: Vec<NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE show_id = $1 ORDER BY created_at_ms, id"
    )))
    .bind(show_id)
    .fetch_all(pool)
    .await?;
    let figures: Vec<DeliveryFigures> = sqlx::query_as(
        "SELECT d.notice_id,
                SUM(CASE WHEN d.first_attempt_at_ms IS NOT NULL THEN 1 ELSE 0 END) AS sent,
                SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END) AS delivered,
                SUM(CASE WHEN d.clicked_at_ms IS NOT NULL THEN 1 ELSE 0 END) AS clicked
         FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
         WHERE n.show_id = $1 GROUP BY d.notice_id",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await?;
    let clicks: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.notice_id, d.clicked_at_ms - d.sent_at_ms
         FROM notice_deliveries d JOIN notices n ON n.id = d.notice_id
         WHERE n.show_id = $1 AND d.clicked_at_ms IS NOT NULL AND d.sent_at_ms IS NOT NULL",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await?;
    let orders: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.notice_id, COUNT(*) FROM notice_orders o
         JOIN notice_deliveries d ON d.id = o.delivery_id
         JOIN notices n ON n.id = d.notice_id
         WHERE n.show_id = $1 GROUP BY d.notice_id",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await?;
    Ok(notices
        .into_iter()
        .map(|n| {
            let f = figures.iter().find(|f| f.notice_id == n.id);
            let mut waits: Vec<i64> = clicks
                .iter()
                .filter(|(id, _)| *id == n.id)
                .map(|(_, ms)| (*ms).max(0))
                .collect();
            waits.sort_unstable();
            NoticeStats {
                kind: n.kind.as_str().to_string(),
                text: n.text,
                product_id: n.product_id,
                status: n.status,
                due_at_ms: n.next_attempt_at_ms,
                sent_at_ms: n.fanned_out_at_ms,
                recipients: n.recipients.unwrap_or(0),
                sent: f.map_or(0, |f| f.sent),
                delivered: f.map_or(0, |f| f.delivered),
                clicked: f.map_or(0, |f| f.clicked),
                median_ms_to_first_click: median(&waits),
                orders_within_10_min: orders
                    .iter()
                    .find(|(id, _)| *id == n.id)
                    .map_or(0, |(_, c)| *c),
                id: n.id,
            }
        })
        .collect())
}

/// The median of sorted values (the mean of the middle two when even).
fn median(sorted: &[i64]) -> Option<i64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_click_waits() {
        assert_eq!(super::median(&[]), None);
        assert_eq!(super::median(&[5]), Some(5));
        assert_eq!(super::median(&[1, 3, 10]), Some(3));
        assert_eq!(super::median(&[1, 3, 5, 11]), Some(4));
    }
}
