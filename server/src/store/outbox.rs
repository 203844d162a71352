//! The Stripe outbox (`stripe_outbox`): side effects at Stripe that must
//! happen — refunds — kept as rows until Stripe confirms them.
//!
//! A job is claimed by one process for a short lease (`claimed_by`,
//! `claimed_until_ms`) while it talks to Stripe; on PostgreSQL the claim
//! skips rows another node is claiming (`FOR UPDATE SKIP LOCKED`), on SQLite
//! the single writer makes the claim atomic. A process that dies holding a
//! claim loses it when the lease runs out. Every attempt sends the job's own
//! idempotency key, so an attempt whose answer was lost is not done twice.

use sqlx::{AnyPool, FromRow};

use crate::now_ms;

/// How long a claim lasts: longer than one Stripe call may take.
pub const CLAIM_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Not confirmed by Stripe yet: it will be tried (again).
    Pending,
    Done,
    /// Stripe refused it for good: a person must look (the studio shows it).
    Failed,
}

impl TryFrom<String> for JobStatus {
    type Error = crate::domain::order::UnknownState;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "pending" => Ok(JobStatus::Pending),
            "done" => Ok(JobStatus::Done),
            "failed" => Ok(JobStatus::Failed),
            _ => Err(crate::domain::order::UnknownState::new(s)),
        }
    }
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }
}

/// Why a refund is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    /// The creator refunded the order.
    Creator,
    /// Paid after its hold ended, when the units were gone: the buyer gets
    /// the money back.
    Unfilled,
    /// The creator cancelled an unshipped order: refunded and restocked
    /// (its shipping kept if the rest of its parcel still ships).
    Cancel,
    /// Part of a paid order given back; the order stays paid, nothing restocked.
    Partial,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::Creator => "creator",
            RefundReason::Unfilled => "unfilled",
            RefundReason::Cancel => "cancel",
            RefundReason::Partial => "partial",
        }
    }
}

impl TryFrom<String> for RefundReason {
    type Error = crate::domain::order::UnknownState;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "creator" => Ok(RefundReason::Creator),
            "unfilled" => Ok(RefundReason::Unfilled),
            "cancel" => Ok(RefundReason::Cancel),
            "partial" => Ok(RefundReason::Partial),
            _ => Err(crate::domain::order::UnknownState::new(s)),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: String,
    pub order_id: String,
    pub show_id: String,
    pub payment_intent_id: String,
    /// `None`: the whole payment.
    pub amount_cents: Option<i64>,
    #[sqlx(try_from = "String")]
    pub reason: RefundReason,
    pub idempotency_key: String,
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub stripe_id: Option<String>,
    pub created_at_ms: i64,
    pub done_at_ms: Option<i64>,
}

macro_rules! job_columns {
    () => {
        "id, order_id, show_id, payment_intent_id, amount_cents, reason, idempotency_key, \
         status, attempts, next_attempt_at_ms, last_error, stripe_id, created_at_ms, done_at_ms"
    };
}

/// A refund to make; the job already queued under the same key if there is
/// one (asking twice owes it once).
pub struct NewRefund<'a> {
    pub order_id: &'a str,
    pub show_id: &'a str,
    pub payment_intent_id: &'a str,
    pub amount_cents: Option<i64>,
    pub reason: RefundReason,
    pub idempotency_key: &'a str,
}

pub async fn enqueue_refund(pool: &AnyPool, r: NewRefund<'_>) -> Result<Job, sqlx::Error> {
    let now = now_ms();
    // Owed from here on, power loss or not: it is written before Stripe is asked.
    let insert = sqlx::query(
        "INSERT INTO stripe_outbox (id, kind, order_id, show_id, payment_intent_id, amount_cents,
             reason, idempotency_key, status, next_attempt_at_ms, created_at_ms, updated_at_ms)
         VALUES ($1, 'refund', $2, $3, $4, $5, $6, $7, 'pending', $8, $8, $8)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(crate::domain::ids::new_id("job"))
    .bind(r.order_id)
    .bind(r.show_id)
    .bind(r.payment_intent_id)
    .bind(r.amount_cents)
    .bind(r.reason.as_str())
    .bind(r.idempotency_key)
    .bind(now);
    crate::db::execute_durably(pool, insert).await?;
    sqlx::query_as(concat!(
        "SELECT ",
        job_columns!(),
        " FROM stripe_outbox WHERE idempotency_key = $1"
    ))
    .bind(r.idempotency_key)
    .fetch_one(pool)
    .await
}

/// Claims one pending job for `claimer`, if nobody holds it: for the
/// request that queued it to try at once.
pub async fn claim(
    pool: &AnyPool,
    job_id: &str,
    claimer: &str,
) -> Result<Option<Job>, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(concat!(
        "UPDATE stripe_outbox SET claimed_by = $2, claimed_until_ms = $3,
             attempts = attempts + 1, updated_at_ms = $4
         WHERE id = $1 AND status = 'pending'
           AND (claimed_until_ms IS NULL OR claimed_until_ms < $4)
         RETURNING ",
        job_columns!()
    ))
    .bind(job_id)
    .bind(claimer)
    .bind(now + CLAIM_MS)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// Claims up to `limit` jobs that are due and held by nobody.
pub async fn claim_due(pool: &AnyPool, claimer: &str, limit: i64) -> Result<Vec<Job>, sqlx::Error> {
    super::claim_due_rows(
        pool,
        "stripe_outbox",
        job_columns!(),
        None,
        claimer,
        CLAIM_MS,
        limit,
    )
    .await
}

/// Stripe confirmed the job: in one transaction the job is done, the order
/// counts the money given back, and the buyer's refund notice is owed.
pub async fn mark_done(pool: &AnyPool, job: &Job, stripe_id: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE stripe_outbox SET status = 'done', stripe_id = $2, done_at_ms = $3,
             updated_at_ms = $3, claimed_by = NULL, claimed_until_ms = NULL, last_error = NULL
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(&job.id)
    .bind(stripe_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        // NULL: the whole payment, whatever was still left of it.
        sqlx::query(
            "UPDATE orders SET refunded_cents = CASE WHEN $2 IS NULL THEN amount_cents
                                                     ELSE refunded_cents + $2 END,
                 updated_at_ms = $3
             WHERE id = $1",
        )
        .bind(&job.order_id)
        .bind(job.amount_cents)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        super::mail::enqueue(&mut *tx, super::mail::MailKind::Refunded, &job.id).await?;
    }
    tx.commit().await
}

/// What of an order's payment is given back or on its way back: landed
/// and pending refunds (a refused one gives nothing back).
pub async fn committed_refunds(pool: &AnyPool, order_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(COALESCE(j.amount_cents, o.amount_cents)), 0) AS BIGINT)
         FROM stripe_outbox j JOIN orders o ON o.id = j.order_id
         WHERE j.order_id = $1 AND j.status IN ('pending', 'done')",
    )
    .bind(order_id)
    .fetch_one(pool)
    .await
}

pub async fn get_job(pool: &AnyPool, id: &str) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        job_columns!(),
        " FROM stripe_outbox WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The attempt did not reach Stripe: release the claim, try again at `next_at_ms`.
pub async fn retry_later(
    pool: &AnyPool,
    job_id: &str,
    error: &str,
    next_at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_outbox SET last_error = $2, next_attempt_at_ms = $3, updated_at_ms = $4,
             claimed_by = NULL, claimed_until_ms = NULL
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(job_id)
    .bind(error)
    .bind(next_at_ms)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

/// Stripe refused the job for good.
pub async fn mark_failed(pool: &AnyPool, job_id: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stripe_outbox SET status = 'failed', last_error = $2, updated_at_ms = $3,
             claimed_by = NULL, claimed_until_ms = NULL
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(job_id)
    .bind(error)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

/// A refund a show still owes, as the studio lists it.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Owed {
    pub order_id: String,
    pub reason: String,
    /// What is owed: the job's amount, or the whole order's.
    pub amount_cents: i64,
    pub currency: String,
    /// `pending` (it will be tried again) or `failed` (Stripe refused it).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at_ms: i64,
    pub created_at_ms: i64,
}

/// What a show still owes at Stripe: pending and failed jobs, oldest first.
pub async fn owed_of_show(pool: &AnyPool, show_id: &str) -> Result<Vec<Owed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT j.order_id, j.reason, COALESCE(j.amount_cents, o.amount_cents) AS amount_cents,
                o.currency, j.status, j.attempts, j.last_error, j.next_attempt_at_ms,
                j.created_at_ms
         FROM stripe_outbox j JOIN orders o ON o.id = j.order_id
         WHERE j.show_id = $1 AND j.status IN ('pending', 'failed')
         ORDER BY j.created_at_ms, j.id",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await
}
