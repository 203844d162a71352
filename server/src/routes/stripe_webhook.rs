//! `POST /api/v1/stripe/webhook`: Stripe's word on payments.
//!
//! The signature is checked before anything is read. Each event id is
//! applied once; payment events are not trusted for their content but make us
//! retrieve the intent's current state, so events arriving late, twice or out
//! of order all settle the order on what is true now.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::ApiError;
use crate::payments::webhook::{self, SignatureError};
use crate::routes::orders::stripe_of;
use crate::state::AppState;
use crate::store;

/// Stripe's events are small; this bounds what an attacker can make us hash.
const WEBHOOK_LIMIT: usize = 256 * 1024;

pub async fn receive(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let stripe = stripe_of(&state)?;
    let Some(secret) = stripe.settings.webhook_secret.clone() else {
        return Err(ApiError::unavailable(
            "webhooks_unavailable",
            "STRIPE_WEBHOOK_SECRET is not set; webhooks are refused",
        ));
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
        if body.len() + chunk.len() > WEBHOOK_LIMIT {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "webhook body too large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    if let Err(e) = webhook::verify(&secret, header, &body, crate::now_ms() / 1000) {
        let code = match e {
            SignatureError::Missing => "missing_signature",
            SignatureError::Stale => "stale_signature",
            SignatureError::Malformed | SignatureError::Mismatch => "invalid_signature",
        };
        tracing::warn!(reason = %e, "webhook refused");
        return Err(ApiError::bad_request(code, format!("webhook refused: {e}")));
    }
    let event: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("event is not JSON: {e}")))?;
    let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return Err(ApiError::bad_request(
            "invalid_event",
            "an event needs `id` and `type`",
        ));
    };
    if store::orders::stripe_event_seen(&state.pool, id).await? {
        return Ok(
            HttpResponse::Ok().json(serde_json::json!({"received": true, "duplicate": true}))
        );
    }
    let object = &event["data"]["object"];
    match kind {
        "payment_intent.succeeded"
        | "payment_intent.payment_failed"
        | "payment_intent.canceled"
        | "payment_intent.requires_action"
        | "payment_intent.processing" => {
            let Some(intent_id) = object["id"].as_str() else {
                return Err(ApiError::bad_request(
                    "invalid_event",
                    "payment intent event without an id",
                ));
            };
            let order = match object["metadata"]["order_id"].as_str() {
                Some(order_id) => store::orders::get_order(&state.pool, order_id).await?,
                None => store::orders::order_by_intent(&state.pool, intent_id).await?,
            };
            if let Some(order) = order {
                // Ask Stripe for the intent as it is now; the event may be old.
                match stripe.retrieve_intent(intent_id).await {
                    Ok(intent) => {
                        state.checkout.settle(&order.id, &intent).await?;
                    }
                    Err(e) => {
                        tracing::warn!(event = id, error = %e, "cannot retrieve the intent; Stripe will retry");
                        return Err(ApiError::unavailable("payments_unavailable", "retry later"));
                    }
                }
            }
        }
        "charge.refunded" => {
            let full = object["refunded"].as_bool().unwrap_or(false);
            if let (true, Some(intent_id)) = (full, object["payment_intent"].as_str())
                && let Some(order) = store::orders::order_by_intent(&state.pool, intent_id).await?
            {
                state.checkout.restock_refunded(&order.id).await?;
            }
        }
        _ => {}
    }
    // Recorded once applied: a failure above leaves it for Stripe's retry.
    store::orders::record_stripe_event(&state.pool, id, kind).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"received": true})))
}
