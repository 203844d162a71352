//! Mail to send (`mail_jobs`): one row per letter, written in the same
//! transaction as the event it tells of (a payment, a parcel shipped, a
//! refund landed), so a letter is owed exactly when its event happened.
//!
//! Workers on any node claim due rows for a short lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; SQLite's single writer makes the claim atomic),
//! draw the letter from the rows the job names, and hand it to SMTP. A
//! failed attempt is tried again later; sending never touches an order.

use sqlx::{AnyPool, FromRow};

use crate::now_ms;

/// How long a claim lasts: longer than one SMTP conversation may take.
pub const CLAIM_MS: i64 = 60_000;

/// What a letter tells the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The order confirmation; the subject is the order.
    OrderPaid,
    /// The shipping notice with carrier and tracking; the subject is the shipment.
    Shipped,
    /// The refund notice; the subject is the Stripe outbox job that landed it.
    Refunded,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::OrderPaid => "order_paid",
            MailKind::Shipped => "shipped",
            MailKind::Refunded => "refunded",
        }
    }
}

impl TryFrom<String> for MailKind {
    type Error = crate::domain::order::UnknownState;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "order_paid" => Ok(MailKind::OrderPaid),
            "shipped" => Ok(MailKind::Shipped),
            "refunded" => Ok(MailKind::Refunded),
            _ => Err(crate::domain::order::UnknownState::new(s)),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct MailJob {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub kind: MailKind,
    pub subject_id: String,
    pub status: String,
    pub attempts: i64,
    pub created_at_ms: i64,
}

const COLUMNS: &str = "id, kind, subject_id, status, attempts, created_at_ms";

/// Owes one letter of `kind` about `subject_id`; recording the same event
/// again owes nothing more.
pub async fn enqueue<'e, E>(exec: E, kind: MailKind, subject_id: &str) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let now = now_ms();
    sqlx::query(
        "INSERT INTO mail_jobs (id, kind, subject_id, dedupe_key, status, next_attempt_at_ms,
             created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(crate::domain::ids::new_id("mail"))
    .bind(kind.as_str())
    .bind(subject_id)
    .bind(format!("{}:{subject_id}", kind.as_str()))
    .bind(now)
    .execute(exec)
    .await?;
    Ok(())
}

/// Claims up to `limit` letters that are due and held by nobody.
pub async fn claim_due(
    pool: &AnyPool,
    claimer: &str,
    limit: i64,
) -> Result<Vec<MailJob>, sqlx::Error> {
    super::claim_due_rows(pool, "mail_jobs", COLUMNS, None, claimer, CLAIM_MS, limit).await
}

/// How a claimed letter ended (for now).
pub enum Outcome<'a> {
    Sent {
        to: &'a str,
    },
    /// Try again at `next_at_ms`.
    Retry {
        error: &'a str,
        next_at_ms: i64,
    },
    /// Refused for good (bad recipient, 5xx).
    Failed {
        error: &'a str,
    },
    /// No SMTP server is configured: logged where it would have gone.
    Unsent {
        to: &'a str,
    },
}

pub async fn finish(pool: &AnyPool, job_id: &str, outcome: Outcome<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let (status, to, error, next) = match outcome {
        Outcome::Sent { to } => ("sent", Some(to), None, None),
        Outcome::Retry { error, next_at_ms } => ("pending", None, Some(error), Some(next_at_ms)),
        Outcome::Failed { error } => ("failed", None, Some(error), None),
        Outcome::Unsent { to } => ("unsent", Some(to), None, None),
    };
    sqlx::query(
        "UPDATE mail_jobs SET status = $2, to_email = COALESCE($3, to_email), last_error = $4,
             next_attempt_at_ms = COALESCE($5, next_attempt_at_ms),
             sent_at_ms = CASE WHEN $2 = 'sent' THEN $6 ELSE sent_at_ms END,
             claimed_by = NULL, claimed_until_ms = NULL, updated_at_ms = $6
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(job_id)
    .bind(status)
    .bind(to)
    .bind(error)
    .bind(next)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}
