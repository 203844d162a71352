//! Stripe, through async-stripe.
//!
//! [`Stripe`] wraps the async-stripe client and exposes the handful of calls
//! checkout needs. Responses are read as raw JSON and only the fields we use
//! are picked out: Stripe adds fields all the time, and Stripe-compatible test
//! servers (localstripe) leave out some that async-stripe's typed structs
//! require. Errors are sorted into [`StripeError`]: a card refusal (tell the
//! buyer), or anything else (retry later; the order stays pending).
//!
//! - [`webhook`]: `Stripe-Signature` verification.

pub mod webhook;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use stripe::{Client, ClientBuilder};
use stripe_client_core::{RequestBuilder, RequestStrategy, StripeMethod, StripeRequest};

/// Stripe configuration, from `STRIPE_*` variables.
#[derive(Clone)]
pub struct StripeSettings {
    pub secret_key: String,
    pub publishable_key: Option<String>,
    /// With a trailing slash, e.g. `https://api.stripe.com/`.
    pub api_base: String,
    pub webhook_secret: Option<String>,
    /// Where the widget loads Stripe.js from (`DROPCAST_STRIPE_JS_URL`,
    /// default Stripe's own; tests point it at localstripe's stand-in).
    pub js_url: String,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("api_base", &self.api_base)
            .field("publishable_key", &self.publishable_key)
            .finish_non_exhaustive()
    }
}

/// Why a Stripe call did not give us what we asked for.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with a card error: the card was declined, needs another
    /// method, … The buyer must be told; retrying will not help.
    #[error("card refused: {code}: {message}")]
    Card { code: String, message: String },
    /// Stripe refused the request for another reason (4xx).
    #[error("stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// We could not reach Stripe or read its answer. The outcome is unknown.
    #[error("stripe unreachable: {0}")]
    Transport(String),
}

/// The fields of a PaymentIntent that checkout reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntent {
    pub id: String,
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`,
    /// `processing`, `requires_capture`, `succeeded` or `canceled`.
    pub status: String,
    pub client_secret: Option<String>,
    pub amount: i64,
    pub order_id: Option<String>,
    /// Why the last attempt failed (`card_declined`, `payment_intent_authentication_failure`…).
    pub last_error_code: Option<String>,
}

impl PaymentIntent {
    pub fn from_json(v: &Value) -> Option<PaymentIntent> {
        Some(PaymentIntent {
            id: v["id"].as_str()?.to_string(),
            status: v["status"].as_str()?.to_string(),
            client_secret: v["client_secret"].as_str().map(str::to_string),
            amount: v["amount"].as_i64().unwrap_or(0),
            order_id: v["metadata"]["order_id"].as_str().map(str::to_string),
            last_error_code: v["last_payment_error"]["code"].as_str().map(str::to_string),
        })
    }
}

/// A saved card's display fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    /// Stripe's fingerprint: the same card number gives the same one.
    pub fingerprint: Option<String>,
}

/// The form of `POST /v1/payment_intents`. async-stripe's typed builder has no
/// `payment_method_types`, which localstripe needs (it refuses the newer
/// `automatic_payment_methods`) and Stripe accepts, so we build this one.
#[derive(Serialize)]
struct CreateIntentForm<'a> {
    amount: i64,
    currency: &'a str,
    customer: &'a str,
    payment_method: &'a str,
    payment_method_types: [&'a str; 1],
    metadata: IntentMetadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping: Option<StripeShipping<'a>>,
}

/// Stripe's `shipping` (on a Customer and a PaymentIntent).
#[derive(Serialize)]
struct StripeShipping<'a> {
    name: &'a str,
    address: StripeAddress<'a>,
}

#[derive(Serialize)]
struct StripeAddress<'a> {
    line1: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line2: Option<&'a str>,
    city: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    postal_code: &'a str,
    country: &'a str,
}

impl<'a> StripeShipping<'a> {
    fn of(a: &'a wire::Address) -> Self {
        StripeShipping {
            name: &a.name,
            address: StripeAddress {
                line1: &a.line1,
                line2: a.line2.as_deref(),
                city: &a.city,
                state: a.region.as_deref(),
                postal_code: &a.postal_code,
                country: &a.country,
            },
        }
    }
}

#[derive(Serialize)]
struct CustomerShippingForm<'a> {
    shipping: StripeShipping<'a>,
}

#[derive(Serialize)]
struct IntentMetadata<'a> {
    order_id: &'a str,
    show_id: &'a str,
}

/// What a PaymentIntent is for.
pub struct IntentRequest<'a> {
    pub order_id: &'a str,
    pub show_id: &'a str,
    pub amount_cents: i64,
    pub currency: &'a str,
    pub customer: &'a str,
    pub payment_method: &'a str,
    /// Where the parcel goes; none for digital products.
    pub shipping: Option<&'a wire::Address>,
}

/// The Stripe calls checkout makes.
#[derive(Clone)]
pub struct Stripe {
    client: Client,
    pub settings: StripeSettings,
}

impl Stripe {
    pub fn new(settings: StripeSettings) -> Result<Stripe, String> {
        let client = ClientBuilder::new(settings.secret_key.clone())
            .url(settings.api_base.clone())
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| format!("invalid Stripe settings: {e}"))?;
        Ok(Stripe { client, settings })
    }

    async fn send(
        &self,
        req: RequestBuilder,
        idempotency_key: Option<String>,
    ) -> Result<Value, StripeError> {
        let mut req = req.customize::<miniserde::json::Value>();
        if let Some(key) = idempotency_key {
            let key = stripe_client_core::IdempotencyKey::new(key)
                .map_err(|e| StripeError::Transport(format!("bad idempotency key: {e}")))?;
            req = req.request_strategy(RequestStrategy::Idempotent(key));
        }
        match req.send(&self.client).await {
            Ok(value) => serde_json::from_str(&miniserde::json::to_string(&value))
                .map_err(|e| StripeError::Transport(format!("unreadable answer: {e}"))),
            Err(err) => Err(classify(err)),
        }
    }

    /// Creates the Stripe Customer that holds a buyer's saved card.
    pub async fn create_customer(
        &self,
        email: &str,
        viewer_id: &str,
    ) -> Result<String, StripeError> {
        let req = stripe_core::customer::CreateCustomer::new()
            .email(email)
            .build();
        let v = self.send(req, Some(customer_key(viewer_id, email))).await?;
        string_field(&v, "id")
    }

    /// Keeps the buyer's shipping address on their Customer (`shipping`).
    pub async fn set_customer_shipping(
        &self,
        customer: &str,
        address: &wire::Address,
    ) -> Result<(), StripeError> {
        let form = CustomerShippingForm {
            shipping: StripeShipping::of(address),
        };
        let req =
            RequestBuilder::new(StripeMethod::Post, format!("/customers/{customer}")).form(&form);
        self.send(req, None).await.map(|_| ())
    }

    /// Attaches a PaymentMethod (made by Stripe.js) to the customer; returns its card.
    pub async fn attach_payment_method(
        &self,
        payment_method: &str,
        customer: &str,
    ) -> Result<Card, StripeError> {
        let req = stripe_payment::payment_method::AttachPaymentMethod::new(payment_method)
            .customer(customer)
            .build();
        let v = self.send(req, None).await?;
        Ok(Card {
            brand: v["card"]["brand"].as_str().unwrap_or("card").to_string(),
            last4: v["card"]["last4"].as_str().unwrap_or("????").to_string(),
            fingerprint: v["card"]["fingerprint"].as_str().map(str::to_string),
        })
    }

    /// Detaches a saved card from its customer ("Forget my card").
    pub async fn detach_payment_method(&self, payment_method: &str) -> Result<(), StripeError> {
        let req = stripe_payment::payment_method::DetachPaymentMethod::new(payment_method).build();
        self.send(req, None).await.map(|_| ())
    }

    /// Creates an unconfirmed PaymentIntent for an order. Nothing is charged
    /// until [`Stripe::confirm_intent`]; the order records the id first.
    pub async fn create_intent(&self, r: IntentRequest<'_>) -> Result<PaymentIntent, StripeError> {
        let form = CreateIntentForm {
            amount: r.amount_cents,
            currency: r.currency,
            customer: r.customer,
            payment_method: r.payment_method,
            payment_method_types: ["card"],
            metadata: IntentMetadata {
                order_id: r.order_id,
                show_id: r.show_id,
            },
            shipping: r.shipping.map(StripeShipping::of),
        };
        let req = RequestBuilder::new(StripeMethod::Post, "/payment_intents").form(&form);
        let v = self
            .send(req, Some(format!("dropcast-order-{}-create", r.order_id)))
            .await?;
        intent(&v)
    }

    /// Confirms (charges) an intent. A declined card is `Err(StripeError::Card)`.
    pub async fn confirm_intent(
        &self,
        intent_id: &str,
        order_id: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let req = stripe_core::payment_intent::ConfirmPaymentIntent::new(intent_id).build();
        let v = self
            .send(req, Some(format!("dropcast-order-{order_id}-confirm")))
            .await?;
        intent(&v)
    }

    pub async fn retrieve_intent(&self, intent_id: &str) -> Result<PaymentIntent, StripeError> {
        let req = stripe_core::payment_intent::RetrievePaymentIntent::new(intent_id).build();
        let v = self.send(req, None).await?;
        intent(&v)
    }

    pub async fn cancel_intent(&self, intent_id: &str) -> Result<PaymentIntent, StripeError> {
        let req = stripe_core::payment_intent::CancelPaymentIntent::new(intent_id).build();
        let v = self.send(req, None).await?;
        intent(&v)
    }

    /// Refunds an intent, in full or `amount_cents` of it, under the
    /// caller's idempotency key; returns the refund id.
    pub async fn refund(
        &self,
        intent_id: &str,
        idempotency_key: &str,
        amount_cents: Option<i64>,
    ) -> Result<String, StripeError> {
        let mut req = stripe_core::refund::CreateRefund::new().payment_intent(intent_id);
        if let Some(amount) = amount_cents {
            req = req.amount(amount);
        }
        let v = self
            .send(req.build(), Some(idempotency_key.to_string()))
            .await?;
        string_field(&v, "id")
    }
}

/// The idempotency key of a buyer's Customer. It holds user input (the
/// email), so it is hashed: Stripe takes at most 255 characters.
fn customer_key(viewer_id: &str, email: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{viewer_id}\n{email}").as_bytes());
    format!("dropcast-customer-{}", hex::encode(digest))
}

fn intent(v: &Value) -> Result<PaymentIntent, StripeError> {
    PaymentIntent::from_json(v)
        .ok_or_else(|| StripeError::Transport("answer is not a PaymentIntent".into()))
}

fn string_field(v: &Value, field: &str) -> Result<String, StripeError> {
    v[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| StripeError::Transport(format!("answer has no {field}")))
}

fn classify(err: stripe::StripeError) -> StripeError {
    match err {
        // Stripe's own trouble or its rate limit: the outcome is unknown, retry.
        stripe::StripeError::Stripe(api, status) if status >= 500 || status == 429 => {
            StripeError::Transport(format!(
                "stripe answered {status}: {}",
                api.message.unwrap_or_default()
            ))
        }
        stripe::StripeError::Stripe(api, status) => {
            let message = api.message.clone().unwrap_or_default();
            let code = api.code.as_ref().map(|c| c.as_str().to_string());
            let is_card =
                status == 402 || format!("{:?}", api.type_).to_lowercase().contains("card");
            match (is_card, code) {
                (true, code) => StripeError::Card {
                    code: code.unwrap_or_else(|| "card_declined".into()),
                    message,
                },
                (false, _) => StripeError::Refused { status, message },
            }
        }
        other => StripeError::Transport(other.to_string()),
    }
}
