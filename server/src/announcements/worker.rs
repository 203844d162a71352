//! The announcement worker: one per node with the workers role. Its
//! dispatcher fans out due notices it claims; a lane per channel then sends
//! due deliveries batch after batch — at most `DROPCAST_NOTICE_RATE` a
//! second from this node in all, 64 at a time per lane —
//! and records what each push service or SMTP server answered, many
//! outcomes to a commit (a recorder beside the senders). Claims are
//! leases in the database, so any number of nodes share the queue and a
//! crashed node's claims lapse to the others.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use governor::{Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use super::Announcer;
use super::message::{self, Sender};
use crate::domain::announce::{Channel, NoticeKind, SubscriptionStatus};
use crate::store::announcements::{self as rows, DeliveryOutcome, DueDelivery, Finished};
use crate::telemetry::{Metrics, NoticeLabels};

/// How often the worker looks for due work when nobody wakes it: a notice
/// due at T goes out by T + this (plus the send itself).
const TICK: Duration = Duration::from_millis(200);

/// Deliveries claimed at once, and sent at once.
const BATCH: i64 = 256;
const IN_FLIGHT: usize = 64;

/// Outcomes written in one transaction at most: whatever finished while
/// the last write ran, so the rows lag the sends by about one commit.
const RECORD_AT_ONCE: usize = 256;

/// Attempts before a message is given up.
const MAX_ATTEMPTS: i64 = 8;

/// The wait before attempt `attempts + 1`: 2 s doubling to 5 min.
fn backoff_ms(attempts: i64) -> i64 {
    (2_000i64 << attempts.clamp(1, 9).saturating_sub(1)).min(300_000)
}

/// What one node's worker needs.
pub struct Worker {
    pub announcer: Announcer,
    pub mailer: Option<mail::Mailer>,
    pub metrics: Arc<Metrics>,
    /// This process (its claims carry it).
    pub claimer: String,
    pub rate_per_second: u32,
}

/// One channel's lane: push services and SMTP servers answer at their own
/// speeds, so each channel claims and sends its own batches, and a slow
/// mail server never holds up a browser's notice (nor the other way round).
struct Lane {
    channel: Channel,
    /// Rung by the dispatcher when there may be work for the lane.
    wake: tokio::sync::Notify,
}

/// Runs the worker until shutdown: the dispatcher (due notices fanned out
/// into deliveries) and one lane per channel, sharing the node's pace.
pub async fn run(worker: Worker, shutdown: CancellationToken) {
    let rate = NonZeroU32::new(worker.rate_per_second.max(1)).expect("at least 1");
    let limiter = RateLimiter::direct(Quota::per_second(rate));
    let lanes = [Channel::Push, Channel::Email].map(|channel| Lane {
        channel,
        wake: tokio::sync::Notify::new(),
    });
    tokio::join!(
        dispatch(&worker, &lanes, &shutdown),
        send_lane(&worker, &limiter, &lanes[0], &shutdown),
        send_lane(&worker, &limiter, &lanes[1], &shutdown),
    );
}

/// Fans out due notices whenever woken (a notice or a subscription was
/// written) or every tick, and then rings the lanes (a retry may have come
/// due too).
async fn dispatch(worker: &Worker, lanes: &[Lane], shutdown: &CancellationToken) {
    let wake = worker.announcer.wake.clone();
    loop {
        if let Err(e) = fan_out_due(worker).await {
            tracing::warn!(error = %e, "announcements: cannot fan out due notices");
        }
        for lane in lanes {
            lane.wake.notify_one();
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Claims one channel's due deliveries batch after batch, sends each batch
/// `IN_FLIGHT` at a time at the node's pace, and records the outcomes.
async fn send_lane(
    worker: &Worker,
    limiter: &governor::DefaultDirectRateLimiter,
    lane: &Lane,
    shutdown: &CancellationToken,
) {
    let mut batch = 0u64;
    loop {
        loop {
            batch += 1;
            let claim = format!("{}:{}:{batch}", worker.claimer, lane.channel.as_str());
            let due = match rows::claim_due_deliveries(
                &worker.announcer.pool,
                &claim,
                lane.channel,
                BATCH,
            )
            .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, channel = lane.channel.as_str(), "announcements: cannot claim deliveries");
                    break;
                }
            };
            if due.is_empty() {
                break;
            }
            let senders = senders_of(worker, &due).await;
            let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
            let sending = async {
                // Moved in: the recorder ends once every send has finished.
                let done_tx = done_tx;
                futures_util::stream::iter(due)
                    .for_each_concurrent(IN_FLIGHT, |d| {
                        let senders = &senders;
                        let done_tx = &done_tx;
                        async move {
                            limiter.until_ready().await;
                            let sender = senders.get(&d.show_id).and_then(Option::as_ref);
                            match send_one(worker, sender, &d).await {
                                Ok(finished) => {
                                    let _ = done_tx.send(finished);
                                }
                                Err(e) => {
                                    tracing::warn!(delivery = %d.id, error = %e, "announcement outcome not recorded; its claim will lapse")
                                }
                            }
                        }
                    })
                    .await;
            };
            tokio::join!(sending, record(&worker.announcer.pool, &mut done_rx));
            if shutdown.is_cancelled() {
                return;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = lane.wake.notified() => {}
        }
    }
}

/// Writes outcomes as they come, as many to a commit as finished meanwhile;
/// a write that fails is tried twice more before the claims are left to
/// lapse (those messages then go again: at least once, never lost).
async fn record(pool: &sqlx::AnyPool, done: &mut tokio::sync::mpsc::UnboundedReceiver<Finished>) {
    let mut batch = Vec::with_capacity(RECORD_AT_ONCE);
    while done.recv_many(&mut batch, RECORD_AT_ONCE).await > 0 {
        for attempt in 1..=3 {
            match rows::finish_deliveries(pool, &batch).await {
                Ok(()) => break,
                Err(e) if attempt < 3 => {
                    tracing::info!(error = %e, attempt, "announcement outcomes not written yet; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, outcomes = batch.len(), "announcement outcomes not recorded; their claims will lapse and they go again")
                }
            }
        }
        batch.clear();
    }
}

/// Claims the notices that are due and fans each out.
async fn fan_out_due(worker: &Worker) -> Result<(), sqlx::Error> {
    let pool = &worker.announcer.pool;
    loop {
        let notices = rows::claim_due_notices(pool, &worker.claimer, 8).await?;
        if notices.is_empty() {
            return Ok(());
        }
        for notice in notices {
            let fanned = match message::word(pool, &notice).await {
                Ok(Some(text)) => rows::fan_out(pool, &notice, &text, &worker.claimer).await,
                Ok(None) => {
                    rows::retry_notice(pool, &notice.id, crate::now_ms() + 60_000).await?;
                    continue;
                }
                Err(e) => Err(e),
            };
            match fanned {
                Ok(reached) => {
                    tracing::info!(notice = %notice.id, kind = %notice.kind, reached, "notice going out")
                }
                Err(e) => {
                    // Given back at once (not held until the claim lapses):
                    // the next tick tries again.
                    tracing::warn!(notice = %notice.id, error = %e, "cannot fan a notice out; trying again");
                    rows::retry_notice(pool, &notice.id, crate::now_ms() + 250).await?;
                }
            }
        }
    }
}

/// Who announces for each show of a batch (read once per batch).
async fn senders_of(worker: &Worker, due: &[DueDelivery]) -> HashMap<String, Option<Sender>> {
    let mut senders = HashMap::new();
    for d in due {
        if !senders.contains_key(&d.show_id) {
            let sender = message::sender(&worker.announcer.pool, &d.show_id)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(show = %d.show_id, error = %e, "cannot read who announces");
                    None
                });
            senders.insert(d.show_id.clone(), sender);
        }
    }
    senders
}

/// How long a push service keeps a message for an offline browser, and
/// how urgent it is: a drop notice is worthless once the drop is open.
fn push_terms(kind: Option<NoticeKind>) -> (Duration, push::Urgency) {
    match kind {
        Some(NoticeKind::DropSoon) => (Duration::from_secs(180), push::Urgency::High),
        Some(NoticeKind::Live) => (Duration::from_secs(3600), push::Urgency::High),
        _ => (Duration::from_secs(6 * 3600), push::Urgency::Normal),
    }
}

/// Tries one delivery once; how it went, for the recorder.
async fn send_one(
    worker: &Worker,
    sender: Option<&Sender>,
    d: &DueDelivery,
) -> Result<Finished, sqlx::Error> {
    let pool = &worker.announcer.pool;
    let kind = d.kind.clone().and_then(|k| NoticeKind::try_from(k).ok());
    let count = |outcome: &str| {
        worker
            .metrics
            .notice_messages
            .get_or_create(&NoticeLabels {
                kind: kind.map_or("confirm", NoticeKind::as_str).to_string(),
                channel: d.channel.as_str().to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    };
    // A confirmation goes only while unconfirmed; a notice only to those
    // who agreed and did not leave since it was queued.
    let wanted = match (&d.notice_id, d.status) {
        (_, SubscriptionStatus::Unsubscribed | SubscriptionStatus::Gone) => false,
        (None, s) => s == SubscriptionStatus::Pending,
        (Some(_), s) => s != SubscriptionStatus::Pending,
    };
    let finished = |outcome| Finished {
        delivery_id: d.id.clone(),
        outcome,
        at_ms: crate::now_ms(),
    };
    let Some(sender) = sender.filter(|_| wanted) else {
        count("dropped");
        return Ok(finished(DeliveryOutcome::Dropped));
    };
    let links = &worker.announcer.links;
    let text = d.text.clone().unwrap_or_default();
    let result: Result<(), (bool, String, Option<Duration>)> = match d.channel {
        Channel::Email => {
            let to = d.email.clone().unwrap_or_default();
            let letter = match &d.notice_id {
                Some(_) => message::notice_letter(links, sender, &to, d, &text),
                None => {
                    let product = match &d.product_id {
                        Some(p) => crate::store::get_product(pool, &d.show_id, p)
                            .await?
                            .map(|p| p.title),
                        None => None,
                    };
                    message::confirmation_letter(links, sender, &to, d, product.as_deref())
                }
            };
            match &worker.mailer {
                None => Err((
                    false,
                    "no SMTP server is configured (DROPCAST_SMTP_URL)".into(),
                    None,
                )),
                Some(mailer) => mailer.send(&letter).await.map_err(|e| match e {
                    mail::SendError::Transient(m) => (true, m, None),
                    mail::SendError::Permanent(m) => (false, m, None),
                }),
            }
        }
        Channel::Push => {
            let parsed = push::Subscription::parse(
                d.endpoint.as_deref().unwrap_or_default(),
                d.p256dh.as_deref().unwrap_or_default(),
                d.auth.as_deref().unwrap_or_default(),
                worker.announcer.allow_http,
            );
            match parsed {
                Err(e) => Err((false, e.to_string(), None)),
                Ok(sub) => {
                    let payload = message::push_payload(links, &sender.show_title, d, &text);
                    let (ttl, urgency) = push_terms(kind);
                    let topic = d.notice_id.as_deref().map(|n| n.replace('_', "-"));
                    let sent = worker
                        .announcer
                        .pusher
                        .send(
                            &sub,
                            &push::Message {
                                payload: &payload,
                                ttl,
                                urgency,
                                topic: topic.as_deref(),
                            },
                        )
                        .await;
                    match sent {
                        Ok(()) => Ok(()),
                        Err(push::PushError::Gone(status)) => {
                            rows::mark_gone(pool, &d.subscription_id).await?;
                            Err((
                                false,
                                format!("the push service forgot the browser ({status})"),
                                None,
                            ))
                        }
                        Err(push::PushError::Retry {
                            reason,
                            retry_after,
                        }) => Err((true, reason, retry_after)),
                        Err(push::PushError::Refused(m)) => Err((false, m, None)),
                    }
                }
            }
        }
    };
    match result {
        Ok(()) => {
            count("delivered");
            Ok(finished(DeliveryOutcome::Sent))
        }
        Err((true, error, after)) if d.attempts < MAX_ATTEMPTS => {
            count("retried");
            let wait = backoff_ms(d.attempts).max(after.map_or(0, |a| a.as_millis() as i64));
            tracing::info!(delivery = %d.id, attempts = d.attempts, error = %error, "announcement not taken yet; trying again");
            Ok(finished(DeliveryOutcome::Retry {
                error,
                next_at_ms: crate::now_ms() + wait,
            }))
        }
        Err((_, error, _)) => {
            count("failed");
            tracing::warn!(delivery = %d.id, channel = d.channel.as_str(), error = %error, "announcement not delivered");
            Ok(finished(DeliveryOutcome::Failed { error }))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_stops_growing() {
        assert_eq!(super::backoff_ms(1), 2_000);
        assert_eq!(super::backoff_ms(2), 4_000);
        assert_eq!(super::backoff_ms(20), 300_000);
    }
}
