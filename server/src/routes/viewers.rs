//! Anonymous buyer sessions: `POST /api/v1/viewers`, `GET /api/v1/viewers/me`.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::auth::{Caller, ClientIp, limit_key, new_token};
use crate::domain::ids::new_id;
use crate::error::ApiError;
use crate::input::FromJson;
use crate::input::JsonObject;
use crate::limits::Limit;
use crate::payments::StripeError;
use crate::routes::orders::stripe_of;
use crate::state::AppState;
use crate::store::{self, TokenRole};

#[derive(Serialize)]
struct Card {
    brand: String,
    last4: String,
}

#[derive(Serialize)]
struct Me {
    viewer_id: String,
    email: Option<String>,
    /// The saved card, once the buyer saved one.
    card: Option<Card>,
    /// Where parcels go, once the buyer gave an address.
    shipping: Option<wire::Address>,
}

/// Parses an address; a refusal is 422 `invalid_shipping` naming the field
/// (`prefix` + the address's own field name).
pub(crate) fn parse_shipping(
    value: &serde_json::Value,
    prefix: &str,
) -> Result<wire::Address, ApiError> {
    crate::domain::address::parse_address(value).map_err(|e| {
        let field = match e.field {
            "shipping" if prefix.is_empty() => "shipping".to_string(),
            "shipping" => prefix.trim_end_matches('.').to_string(),
            f => format!("{prefix}{f}"),
        };
        ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_shipping",
            e.message,
        )
        .with_field(field)
    })
}

fn stripe_error(e: StripeError) -> ApiError {
    match e {
        StripeError::Card { code, message } => ApiError::new(
            actix_web::http::StatusCode::PAYMENT_REQUIRED,
            "card_declined",
            format!("{code}: {message}"),
        )
        .with_field("payment_method"),
        StripeError::Refused { message, .. } => ApiError::invalid("payment_method", message),
        StripeError::Transport(_) => ApiError::unavailable(
            "payments_unavailable",
            "Stripe could not be reached; nothing changed, try again",
        ),
    }
}

/// `PUT /api/v1/viewers/me/shipping` (viewer) ADDRESS: where parcels go,
/// kept on the session and on the buyer's Stripe Customer (if one exists).
pub async fn save_shipping(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let viewer_id = caller.require_viewer()?;
    limit_key(&state, Limit::CardsPerSession, viewer_id).await?;
    let address = parse_shipping(&body.into_value(), "")?;
    let viewer = store::get_viewer(&state.pool, viewer_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this viewer no longer exists"))?;
    if let Some(customer) = &viewer.stripe_customer_id {
        stripe_of(&state)?
            .set_customer_shipping(customer, &address)
            .await
            .map_err(stripe_error)?;
    }
    store::set_viewer_shipping(&state.pool, viewer_id, &address).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "shipping": address })))
}

/// `POST /api/v1/viewers` → 201 `{"viewer_id","token"}`.
pub async fn create(
    state: web::Data<AppState>,
    ip: ClientIp,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    ip.limit(&state, Limit::SessionsPerIp).await?;
    body.finish()?;
    let id = new_id("vw");
    let (token, hash) = new_token(TokenRole::Viewer);
    let expires_at_ms = crate::now_ms() + state.settings.viewer_session.as_millis() as i64;
    store::create_viewer(&state.pool, &id, &hash, expires_at_ms).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "viewer_id": id, "token": token })))
}

/// `GET /api/v1/viewers/me` (viewer).
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let viewer_id = caller.require_viewer()?;
    let viewer = store::get_viewer(&state.pool, viewer_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this viewer no longer exists"))?;
    let shipping = viewer.shipping();
    let card = match (viewer.card_brand, viewer.card_last4) {
        (Some(brand), Some(last4)) => Some(Card { brand, last4 }),
        _ => None,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Me {
            viewer_id: viewer.id,
            email: viewer.email,
            card,
            shipping,
        }))
}

/// `DELETE /api/v1/viewers/me` (viewer): "Forget my card". Detaches the
/// saved card at Stripe, forgets it here and ends the session: its token
/// is refused from now on. Stripe unreachable: 503 and nothing changes.
pub async fn forget(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let viewer_id = caller.require_viewer()?;
    let viewer = store::get_viewer(&state.pool, viewer_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this viewer no longer exists"))?;
    if let Some(pm) = &viewer.payment_method_id {
        let stripe = stripe_of(&state)?;
        match stripe.detach_payment_method(pm).await {
            Ok(()) => {}
            // Already detached, or unknown to Stripe: nothing left to undo there.
            Err(StripeError::Refused {
                status: 400 | 404, ..
            }) => {}
            Err(e) => {
                tracing::warn!(viewer = %viewer_id, error = %e, "could not detach the card");
                return Err(ApiError::unavailable(
                    "payments_unavailable",
                    "Stripe could not be reached to forget the card; nothing changed, try again",
                ));
            }
        }
        store::forget_viewer_card(&state.pool, viewer_id).await?;
    }
    store::revoke_tokens(&state.pool, TokenRole::Viewer, viewer_id).await?;
    tracing::info!(viewer = %viewer_id, "buyer session ended");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "forgotten": true })))
}

/// An email address: one `@`, no spaces, at most 254 characters.
pub(crate) struct Email(pub(crate) String);

impl FromJson for Email {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let s = value.as_str().ok_or("must be a string")?.trim();
        let ok = (3..=254).contains(&s.len())
            && s.matches('@').count() == 1
            && !s.starts_with('@')
            && !s.ends_with('@')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Email(s.to_string()))
        } else {
            Err("must be an email address".into())
        }
    }
}

/// A Stripe PaymentMethod id made by Stripe.js (`pm_…`).
struct PaymentMethodId(String);

impl FromJson for PaymentMethodId {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let s = value.as_str().ok_or("must be a string")?;
        let ok = s.starts_with("pm_")
            && s.len() <= 255
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(PaymentMethodId(s.to_string()))
        } else {
            Err("must be a Stripe PaymentMethod id (pm_…)".into())
        }
    }
}

/// `PUT /api/v1/viewers/me/payment-method` (viewer) `{"email","payment_method"}`:
/// saves the card on the buyer's own Stripe Customer (made on first use).
pub async fn save_payment_method(
    state: web::Data<AppState>,
    caller: Caller,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let viewer_id = caller.require_viewer()?;
    limit_key(&state, Limit::CardsPerSession, viewer_id).await?;
    let stripe = stripe_of(&state)?;
    let Email(email) = body.required("email")?;
    let PaymentMethodId(payment_method) = body.required("payment_method")?;
    let shipping = body
        .raw("shipping")
        .map(|v| parse_shipping(&v, "shipping."))
        .transpose()?;
    body.finish()?;
    let viewer = store::get_viewer(&state.pool, viewer_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "this viewer no longer exists"))?;
    let saved_shipping = viewer.shipping();
    let customer = match viewer.stripe_customer_id {
        Some(customer) => customer,
        None => {
            let customer = stripe
                .create_customer(&email, viewer_id)
                .await
                .map_err(stripe_error)?;
            store::set_viewer_customer(&state.pool, viewer_id, &customer).await?;
            customer
        }
    };
    let card = stripe
        .attach_payment_method(&payment_method, &customer)
        .await
        .map_err(stripe_error)?;
    if let Some(address) = &shipping {
        stripe
            .set_customer_shipping(&customer, address)
            .await
            .map_err(stripe_error)?;
    }
    store::set_viewer_card(
        &state.pool,
        viewer_id,
        &email,
        &payment_method,
        &card.brand,
        &card.last4,
        card.fingerprint.as_deref(),
    )
    .await?;
    if let Some(address) = &shipping {
        store::set_viewer_shipping(&state.pool, viewer_id, address).await?;
    }
    let shipping = shipping.or(saved_shipping);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "email": email,
        "card": {"brand": card.brand, "last4": card.last4},
        "shipping": shipping,
    })))
}

/// `GET /api/v1/checkout/config` (public): what the widget needs to load
/// Stripe.js and save a card.
pub async fn checkout_config(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stripe = state.settings.stripe.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "payments_unavailable",
            "payments are not configured on this server",
        )
    })?;
    let publishable_key = stripe.publishable_key.as_deref().ok_or_else(|| {
        ApiError::unavailable(
            "payments_unavailable",
            "STRIPE_PUBLISHABLE_KEY is not set: the widget cannot take cards",
        )
    })?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("access-control-allow-origin", "*"))
        .json(serde_json::json!({
            "publishable_key": publishable_key,
            "stripe_js_url": stripe.js_url,
        })))
}
