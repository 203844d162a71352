//! Orders: one-click buy, read, list, refund.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::auth::{Caller, ClientIp, Principal, limit_key};
use crate::checkout::{OrderRequest, Placed, Refunded};
use crate::domain::countdown::Window;
use crate::domain::ids::{IdRef, looks_like_id};
use crate::domain::order::OrderStatus;
use crate::error::ApiError;
use crate::input::{FromJson, JsonObject, integer_in};
use crate::limits::Limit;
use crate::payments::Stripe;
use crate::routes::{find_show, owned_show, product_not_found};
use crate::state::AppState;
use crate::store::{self, orders::OrderRow};

/// How many units one order may ask for.
const MAX_QUANTITY: i64 = 100;

/// A buyer's key that makes a retried request return the same order.
struct IdempotencyKey(String);

impl FromJson for IdempotencyKey {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let s = value.as_str().ok_or("must be a string")?;
        let ok = (1..=100).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if ok {
            Ok(IdempotencyKey(s.to_string()))
        } else {
            Err("must be 1 to 100 characters of letters, digits, `-`, `_`, `.` or `:`".into())
        }
    }
}

struct Quantity(i64);

impl FromJson for Quantity {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        integer_in(value, 1..=MAX_QUANTITY).map(Quantity)
    }
}

/// An order as the buyer and the creator see it.
#[derive(Serialize)]
pub struct OrderView {
    id: String,
    show_id: String,
    status: OrderStatus,
    product_id: String,
    quantity: i64,
    /// `items_cents + shipping_cents`: what the card was charged.
    amount_cents: i64,
    items_cents: i64,
    /// The part of its parcel's shipping this order carries.
    shipping_cents: i64,
    currency: String,
    /// The address as ordered; none for digital products.
    shipping: Option<wire::Address>,
    shipment_id: Option<String>,
    /// Given back so far.
    refunded_cents: i64,
    /// For Stripe.js to finish 3-D Secure; only while `requires_action`.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_code: Option<String>,
    created_at_ms: i64,
    paid_at_ms: Option<i64>,
    /// When an unpaid hold is released.
    expires_at_ms: i64,
}

impl From<OrderRow> for OrderView {
    fn from(o: OrderRow) -> Self {
        let shipping = o.shipping();
        let items_cents = o.items_cents();
        let client_secret = (o.status == OrderStatus::RequiresAction)
            .then_some(o.client_secret)
            .flatten();
        OrderView {
            items_cents,
            shipping_cents: o.shipping_cents,
            shipping,
            shipment_id: o.shipment_id,
            refunded_cents: o.refunded_cents,
            id: o.id,
            show_id: o.show_id,
            status: o.status,
            product_id: o.product_id,
            quantity: o.quantity,
            amount_cents: o.amount_cents,
            currency: o.currency,
            client_secret,
            failure_code: o.failure_code,
            created_at_ms: o.created_at_ms,
            paid_at_ms: o.paid_at_ms,
            expires_at_ms: o.expires_at_ms,
        }
    }
}

pub(crate) fn payments_unavailable() -> ApiError {
    ApiError::unavailable(
        "payments_unavailable",
        "payments are not configured on this server (no STRIPE_SECRET_KEY)",
    )
}

/// The delivery whose tracking link the buyer followed (the `dc_notice`
/// cookie, scoped to this route, alive ten minutes).
fn notice_cookie(req: &actix_web::HttpRequest) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == crate::announcements::NOTICE_COOKIE)
        .map(|(_, value)| value.to_string())
}

pub(crate) fn stripe_of(state: &AppState) -> Result<&Stripe, ApiError> {
    state.checkout.stripe().ok_or_else(payments_unavailable)
}

/// `POST /api/v1/shows/{show}/orders` (viewer) `{"product_id","quantity","idempotency_key"}`,
/// and `"clip_id"` when bought from a clip's page (the sale counts for the
/// clip in the show's stats).
pub async fn create(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    ip: ClientIp,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let viewer_id = caller.require_viewer()?;
    ip.limit(&state, Limit::OrdersPerIp).await?;
    limit_key(&state, Limit::OrdersPerSession, viewer_id).await?;
    stripe_of(&state)?;
    let show = find_show(&state, &path).await?;
    let IdRef(product_id) = body.required("product_id")?;
    let Quantity(quantity) = body.required("quantity")?;
    let IdempotencyKey(key) = body.required("idempotency_key")?;
    let clip: Option<IdRef> = body.optional("clip_id")?;
    body.finish()?;
    if let Some(IdRef(clip_id)) = &clip {
        let of_show = looks_like_id(clip_id)
            && store::clips::get_clip(&state.pool, clip_id)
                .await?
                .is_some_and(|c| c.show_id == show.id && c.status == "done");
        if !of_show {
            return Err(ApiError::invalid(
                "clip_id",
                "no finished clip of this show has this id",
            ));
        }
    }

    let placed = state
        .checkout
        .place(OrderRequest {
            viewer_id,
            show: &show,
            product_id: &product_id,
            quantity,
            idempotency_key: &key,
        })
        .await?;
    if let (Some(IdRef(clip_id)), Placed::Created(order) | Placed::Existing(order)) =
        (&clip, &placed)
    {
        // Counting, not money: an order whose attribution fails is still
        // the buyer's order.
        if let Err(e) = store::clips::attribute_order(&state.pool, &order.id, clip_id).await {
            tracing::error!(order = %order.id, clip = %clip_id, error = %e, "cannot count an order for its clip");
        }
    }
    if let (Some(delivery), Placed::Created(order)) = (notice_cookie(&req), &placed) {
        // Placed within ten minutes of following a notice's link.
        state
            .announcer
            .order_placed(&order.id, &show.id, &delivery)
            .await;
    }
    match placed {
        Placed::Created(order) => Ok(HttpResponse::Created().json(OrderView::from(order))),
        Placed::Existing(order) => Ok(HttpResponse::Ok().json(OrderView::from(order))),
        Placed::KeyReused => Err(ApiError::conflict(
            "idempotency_key_reused",
            "this idempotency key was used for a different order",
        )),
        Placed::NoPaymentMethod => Err(ApiError::bad_request(
            "no_payment_method",
            "save a card first: PUT /api/v1/viewers/me/payment-method",
        )),
        Placed::NoShippingAddress => Err(ApiError::bad_request(
            "no_shipping_address",
            "this product ships: give an address first (PUT /api/v1/viewers/me/shipping)",
        )),
        Placed::UnknownViewer => Err(ApiError::unauthorized(
            "invalid_token",
            "this viewer no longer exists",
        )),
        Placed::Declined(order) => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_failed",
            format!(
                "the payment was declined ({}); the items were put back",
                order.failure_code.as_deref().unwrap_or("card_declined")
            ),
        )),
        Placed::SoldOut => Err(ApiError::conflict(
            "sold_out",
            "not enough stock left for this order",
        )),
        Placed::NoSuchProduct => Err(product_not_found()),
        Placed::OverLimit { owned, max } => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
            format!("at most {max} per buyer; you already have {owned}"),
        )
        .with_field("quantity")),
        Placed::Closed(Window::NotOpen { opens_at_ms }) => Err(ApiError::conflict(
            "drop_not_open",
            format!("this drop opens at {opens_at_ms} (epoch ms)"),
        )),
        Placed::Closed(Window::Ended { ended_at_ms }) => Err(ApiError::conflict(
            "sale_ended",
            format!("this sale ended at {ended_at_ms} (epoch ms)"),
        )),
        Placed::Closed(Window::Open) => Err(ApiError::internal()),
        Placed::PaymentsDown => Err(ApiError::unavailable(
            "payments_unavailable",
            "the payment could not be started; nothing was charged, try again",
        )),
    }
}

/// The order, if the caller is its buyer or the creator of its show.
async fn visible_order(
    state: &AppState,
    caller: &Caller,
    order_id: &str,
) -> Result<OrderRow, ApiError> {
    let not_found = || ApiError::not_found("order_not_found", "no order has this id");
    if caller.0.is_none() {
        return Err(ApiError::unauthorized(
            "missing_token",
            "this route needs `Authorization: Bearer TOKEN`",
        ));
    }
    if !looks_like_id(order_id) {
        return Err(not_found());
    }
    let order = store::orders::get_order(&state.pool, order_id)
        .await?
        .ok_or_else(not_found)?;
    match &caller.0 {
        Some(Principal::Viewer { viewer_id }) if *viewer_id == order.viewer_id => Ok(order),
        Some(Principal::Creator { .. }) => {
            let show = find_show(state, &order.show_id).await?;
            caller.owner_of(&show)?;
            Ok(order)
        }
        _ => Err(ApiError::forbidden(
            "not_your_order",
            "this order belongs to someone else",
        )),
    }
}

/// `GET /api/v1/orders/{order}` (its buyer or the show's creator). An order
/// still waiting on its payment is first brought up to date with Stripe (at
/// most every few seconds, whoever asks). With `?wait_ms=N&status=S` it is
/// a long poll: the answer comes once the order has left status S, or after
/// N ms (at most 25 s) — how the widget learns the outcome.
pub async fn get(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match &caller.0 {
        Some(Principal::Viewer { viewer_id }) => {
            limit_key(&state, Limit::OrderReads, viewer_id).await?
        }
        _ => ip.limit(&state, Limit::OrderReads).await?,
    }
    let (wait, from) = wait_query(req.query_string())?;
    let order = visible_order(&state, &caller, &path).await?;
    let order = match wait {
        Some(wait) => state.checkout.watch(order, from, wait).await?,
        None => state.checkout.refresh(order).await?,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(OrderView::from(order)))
}

/// The longest a long poll of an order waits.
const MAX_WAIT_MS: u64 = 25_000;

/// `?wait_ms=N&status=S`: wait up to N ms (at most 25 s) for the order to
/// leave status S (or, without S, answer at once after the wait's first look).
fn wait_query(query: &str) -> Result<(Option<Duration>, Option<OrderStatus>), ApiError> {
    let (mut wait, mut from) = (None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "wait_ms" => {
                let ms: u64 = value
                    .parse()
                    .ok()
                    .filter(|ms| *ms <= MAX_WAIT_MS)
                    .ok_or_else(|| {
                        ApiError::invalid("wait_ms", format!("must be 0 to {MAX_WAIT_MS}"))
                    })?;
                wait = Some(Duration::from_millis(ms));
            }
            "status" => {
                from = Some(OrderStatus::try_from(value.to_string()).map_err(|_| {
                    ApiError::invalid("status", "must be an order status (pending, paid, …)")
                })?);
            }
            _ => {}
        }
    }
    Ok((wait, from))
}

/// `GET /api/v1/shows/{show}/orders` (creator): newest first.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let orders = store::orders::orders_of_show(&state.pool, &show.id, 1000).await?;
    let orders: Vec<OrderView> = orders.into_iter().map(OrderView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "orders": orders })))
}

/// A partial refund's amount: a positive number of minor units.
struct RefundAmount(i64);

impl FromJson for RefundAmount {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        integer_in(
            value,
            1..=crate::domain::product::PriceCents::MAX * MAX_QUANTITY,
        )
        .map(RefundAmount)
    }
}

fn refunded_answer(refunded: Refunded) -> Result<HttpResponse, ApiError> {
    match refunded {
        Refunded::Done(order) => Ok(HttpResponse::Ok().json(OrderView::from(order))),
        Refunded::Pending(order) => Ok(HttpResponse::Accepted().json(serde_json::json!({
            "refund_pending": true,
            "order": OrderView::from(order),
        }))),
        Refunded::Refused(message) => Err(ApiError::conflict(
            "refund_refused",
            format!("Stripe refused the refund: {message}"),
        )),
        Refunded::NotRefundable(status) => Err(ApiError::conflict(
            "not_refundable",
            format!("only paid orders can be refunded; this one is {status}"),
        )),
        Refunded::TooMuch { left } => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refund_too_large",
            format!("only {left} (minor units) of this payment is left to refund"),
        )
        .with_field("amount_cents")),
        Refunded::AlreadyShipped => Err(ApiError::conflict(
            "already_shipped",
            "its parcel has shipped: refund it instead of cancelling",
        )),
    }
}

/// `POST /api/v1/orders/{order}/refund` (the show's creator), optional
/// `{"amount_cents"}`: in full (units back in stock), or that much of it.
pub async fn refund(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    caller.require_creator()?;
    let amount: Option<RefundAmount> = body.optional("amount_cents")?;
    body.finish()?;
    let order = visible_order(&state, &caller, &path).await?;
    stripe_of(&state)?;
    refunded_answer(state.checkout.refund(&order, amount.map(|a| a.0)).await?)
}

/// `POST /api/v1/orders/{order}/cancel` (the show's creator): a paid order
/// whose parcel has not shipped is refunded and restocked.
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    caller.require_creator()?;
    body.finish()?;
    let order = visible_order(&state, &caller, &path).await?;
    stripe_of(&state)?;
    refunded_answer(state.checkout.cancel(&order).await?)
}

/// `GET /api/v1/orders/{order}/receipt?k=SIG` (anyone holding the link from
/// the buyer's mail): the order page's view — status, items, address,
/// tracking — without a password. A wrong or missing signature is 404.
pub async fn receipt(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ip.limit(&state, Limit::OrderReads).await?;
    let not_found = || {
        ApiError::not_found(
            "order_not_found",
            "no order has this id, or the link is not its own",
        )
    };
    let order_id = path.into_inner();
    let sig = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "k")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    if !looks_like_id(&order_id) || !state.links.verify(&order_id, &sig) {
        return Err(not_found());
    }
    let order = store::orders::get_order(&state.pool, &order_id)
        .await?
        .ok_or_else(not_found)?;
    let product = store::get_product(&state.pool, &order.show_id, &order.product_id).await?;
    let show = find_show(&state, &order.show_id).await?;
    let shop = store::get_creator(&state.pool, &show.creator_id)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    let shipment = match &order.shipment_id {
        Some(id) => store::shipments::get(&state.pool, id).await?,
        None => None,
    };
    let mut view =
        serde_json::to_value(OrderView::from(order)).map_err(|_| ApiError::internal())?;
    if let Some(o) = view.as_object_mut() {
        o.remove("client_secret");
    }
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .insert_header(("referrer-policy", "no-referrer"))
        .json(serde_json::json!({
            "order": view,
            "product": product.map(|p| serde_json::json!({
                "title": p.title, "sku": p.sku, "image_url": p.image_url,
                "fulfilment": p.fulfilment.0,
            })),
            "shop": shop,
            "show": {"id": show.id, "title": show.title},
            "shipment": shipment.map(|s| serde_json::json!({
                "id": s.id, "status": s.status, "carrier": s.carrier,
                "tracking": s.tracking, "shipped_at_ms": s.shipped_at_ms,
            })),
        })))
}
