//! A purchase on a flaky phone: the rules, apart from the browser so they
//! are tested on the host.
//!
//! A tap makes one [`Intent`]: one idempotency key, kept in this origin's
//! storage until the order ends. Whatever the network does — errors,
//! timeouts, 5xx, 429, offline — the same request is sent again with the
//! same key, so the server answers with the one order it made
//! ([`Next::Retry`]); only definitive answers end it ([`Next::End`]). A
//! reload or another tab finds the intent and carries on.

use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// A purchase in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Made at the tap; with `attempt`, the order's idempotency key.
    pub key: String,
    pub product_id: String,
    /// Bumped only when the server says the attempt's order charged
    /// nothing and is over (Stripe could not be reached to start it): the
    /// same purchase is then tried as a new order.
    #[serde(default)]
    pub attempt: u32,
    /// Once the server answered with the order.
    #[serde(default)]
    pub order_id: Option<String>,
    /// When it was tapped (ms since the epoch), for giving up on one left
    /// in storage for days.
    #[serde(default)]
    pub started_ms: f64,
}

impl Intent {
    pub fn new(key: String, product_id: String, now_ms: f64) -> Intent {
        Intent {
            key,
            product_id,
            attempt: 0,
            order_id: None,
            started_ms: now_ms,
        }
    }

    /// The idempotency key of the current attempt.
    pub fn idempotency_key(&self) -> String {
        if self.attempt == 0 {
            self.key.clone()
        } else {
            format!("{}.{}", self.key, self.attempt)
        }
    }

    /// A new attempt of the same purchase, as a new order.
    pub fn next_attempt(&mut self) {
        self.attempt += 1;
        self.order_id = None;
    }
}

/// An intent older than this is dropped at load: its order has long
/// reached a final state on the server (holds last minutes).
pub const STALE_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// What to do after an error answer (or none) to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Transient: the same request again after `wait_ms` (or sooner, when
    /// the browser comes back online).
    Retry { wait_ms: u32 },
    /// Nothing was charged and this attempt is over: a new attempt.
    NewAttempt { wait_ms: u32 },
    /// The buyer must save a card first (the intent waits for it).
    NeedCard,
    /// A definitive answer: tell the buyer this, and forget the intent.
    End(String),
}

/// The wait before retry number `retries` (0-based): 0.5 s doubling to
/// 8 s, or what the server asked for (`Retry-After`), whichever is longer.
pub fn backoff_ms(retries: u32, retry_after_s: Option<u32>) -> u32 {
    let ours = 500u32.saturating_mul(1 << retries.min(4));
    let theirs = retry_after_s.map_or(0, |s| s.saturating_mul(1000));
    ours.max(theirs).min(60_000)
}

/// What the buyer is told for a definitive refusal's code.
pub fn refusal_text(e: &ApiError) -> String {
    match e.code.as_str() {
        "sold_out" => "Sold out".into(),
        "drop_not_open" => "Not open yet".into(),
        "sale_ended" => "Sale ended".into(),
        "payment_failed" | "card_declined" => "Declined — try another card".into(),
        "limit_exceeded" => "You have reached the limit for this item".into(),
        "payments_unavailable" => "Payments are unavailable right now".into(),
        _ => e.message.clone(),
    }
}

/// What an error answer to placing the order means for the purchase.
pub fn after_error(e: &ApiError, retries: u32) -> Next {
    let wait_ms = backoff_ms(retries, e.retry_after);
    match (e.status, e.code.as_str()) {
        // No answer at all: offline, cut, timed out.
        (0, _) => Next::Retry { wait_ms },
        // The form opens: the card, or the address a shipped product needs.
        (_, "no_payment_method" | "invalid_token" | "no_shipping_address") => Next::NeedCard,
        // The payment could not be started; the server released the hold
        // and charged nothing: try the same purchase again.
        (503, "payments_unavailable") => Next::NewAttempt { wait_ms },
        (429 | 408 | 500..=599, _) => Next::Retry { wait_ms },
        _ => Next::End(refusal_text(e)),
    }
}

/// Where an order the server answered with stands, for the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Paid,
    /// The bank asks (3-D Secure): finish it with Stripe.js.
    Authenticate {
        client_secret: String,
    },
    /// Not final: wait for it to change (long poll).
    Wait,
    /// Nothing charged, this attempt is over: a new attempt.
    NewAttempt,
    /// Over: tell the buyer this.
    End(String),
}

/// The step for an order with `status` (and `failure_code`, `client_secret`).
pub fn after_order(status: &str, failure_code: Option<&str>, client_secret: Option<&str>) -> Step {
    match status {
        "paid" => Step::Paid,
        "requires_action" => match client_secret {
            Some(secret) => Step::Authenticate {
                client_secret: secret.to_string(),
            },
            None => Step::Wait,
        },
        "pending" => Step::Wait,
        "failed" if failure_code == Some("payments_unavailable") => Step::NewAttempt,
        "failed" => Step::End("Declined — try another card".into()),
        "expired" => Step::End("The reservation ran out — tap to try again".into()),
        "refunded" => Step::End("This order was refunded".into()),
        other => Step::End(format!("Payment {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: format!("{code}!"),
            retry_after: None,
        }
    }

    #[test]
    fn transient_failures_retry_with_the_same_key() {
        assert_eq!(
            after_error(&err(0, "network"), 0),
            Next::Retry { wait_ms: 500 }
        );
        assert_eq!(
            after_error(&err(502, "http_error"), 2),
            Next::Retry { wait_ms: 2000 }
        );
        assert_eq!(
            after_error(&err(503, "database_unavailable"), 9),
            Next::Retry { wait_ms: 8000 }
        );
        let mut limited = err(429, "rate_limited");
        limited.retry_after = Some(3);
        assert_eq!(after_error(&limited, 0), Next::Retry { wait_ms: 3000 });
    }

    #[test]
    fn only_definitive_answers_end_a_purchase() {
        for code in ["sold_out", "drop_not_open", "sale_ended", "limit_exceeded"] {
            assert!(
                matches!(after_error(&err(409, code), 0), Next::End(_)),
                "{code}"
            );
        }
        assert_eq!(
            after_error(&err(402, "payment_failed"), 0),
            Next::End("Declined — try another card".into())
        );
        assert_eq!(
            after_error(&err(400, "no_payment_method"), 0),
            Next::NeedCard
        );
        assert_eq!(
            after_error(&err(503, "payments_unavailable"), 0),
            Next::NewAttempt { wait_ms: 500 }
        );
    }

    #[test]
    fn orders_are_followed_to_their_end() {
        assert_eq!(after_order("paid", None, None), Step::Paid);
        assert_eq!(after_order("pending", None, None), Step::Wait);
        assert_eq!(
            after_order("requires_action", None, Some("pi_1_secret_2")),
            Step::Authenticate {
                client_secret: "pi_1_secret_2".into()
            }
        );
        assert_eq!(
            after_order("failed", Some("payments_unavailable"), None),
            Step::NewAttempt
        );
        assert!(matches!(
            after_order("failed", Some("card_declined"), None),
            Step::End(_)
        ));
        assert!(matches!(after_order("expired", None, None), Step::End(_)));
    }

    #[test]
    fn attempts_get_their_own_keys_and_intents_survive_storage() {
        let mut intent = Intent::new("w1".into(), "prd_1".into(), 1.0);
        assert_eq!(intent.idempotency_key(), "w1");
        intent.order_id = Some("ord_1".into());
        intent.next_attempt();
        assert_eq!(intent.idempotency_key(), "w1.1");
        assert_eq!(intent.order_id, None);
        let text = serde_json::to_string(&intent).unwrap();
        assert_eq!(serde_json::from_str::<Intent>(&text).unwrap(), intent);
        assert_eq!(backoff_ms(30, None), 8000);
    }
}
