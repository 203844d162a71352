//! One-click checkout: hold stock, charge the saved card, settle.
//!
//! ```text
//!  POST orders ─▶ hold (DB tx: stock held, order `pending`)
//!               ─▶ create PaymentIntent (unconfirmed) ─▶ record its id on the order
//!               ─▶ confirm (the charge) ─▶ settle:
//!                     succeeded        → sold, `paid`
//!                     requires_action  → `requires_action` (+ client_secret), still held
//!                     declined         → released, `failed` (402 to the buyer)
//!                     unknown (network)→ still held, `pending`; settled later
//! ```
//!
//! A charge can only happen on an intent whose id the order already holds,
//! so after a crash every order that still holds stock can be settled by
//! retrieving its intent ([`Checkout::reconcile`]); none is charged without
//! an order, none is sold twice. Stripe's webhooks, `GET` of an order, the
//! expiry sweep and the restart all funnel into [`Checkout::settle`], and the
//! guarded stock moves of [`crate::store::orders`] make every one of them safe
//! to run twice or out of order.

use std::time::Duration;

use sqlx::AnyPool;

use crate::configuration::{PausePoint, TestPause};
use crate::domain::countdown::Window;
use crate::domain::order::{OrderStatus, StockState};
use crate::live::{Change, Hub};
use crate::node::NodeIdentity;
use crate::payments::{IntentRequest, PaymentIntent, Stripe, StripeError};
use crate::store::orders::{self, Moved, OrderRow};
use crate::store::outbox::{self, JobStatus, RefundReason};
use crate::store::{ProductRow, ShowRow};
use crate::telemetry::Metrics;
use std::sync::Arc;

/// What placing an order came to, for the route to answer.
#[derive(Debug)]
pub enum Placed {
    /// A new order: paid, waiting for 3-D Secure, or pending.
    Created(OrderRow),
    /// The idempotency key was used before for the same request: that order.
    Existing(OrderRow),
    /// The idempotency key was used before for another product or quantity.
    KeyReused,
    /// The buyer has saved no card yet.
    NoPaymentMethod,
    /// The product ships and the buyer has given no address.
    NoShippingAddress,
    /// The buyer's session is gone.
    UnknownViewer,
    /// The card was declined; the stock went back.
    Declined(OrderRow),
    SoldOut,
    NoSuchProduct,
    OverLimit {
        owned: i64,
        max: i64,
    },
    /// A countdown forbids buying now (drop not open, or sale ended).
    Closed(Window),
    /// Stripe could not be reached to start the payment; the stock went back.
    PaymentsDown,
}

/// A buyer's order, as the route parsed it.
pub struct OrderRequest<'a> {
    pub viewer_id: &'a str,
    pub show: &'a ShowRow,
    pub product_id: &'a str,
    pub quantity: i64,
    pub idempotency_key: &'a str,
}

/// What to do with a request, given what its idempotency key already names:
/// the one place that decides it (as zero2prod's `idempotency::NextAction`).
#[allow(clippy::large_enum_variant)] // made once per order; boxing buys nothing
enum NextAction {
    /// The key is new: place the order.
    Start,
    /// The key names an order: answer with it, or refuse a changed request.
    Return(Placed),
}

/// The answer for a request whose key already names `order`.
fn replayed(order: OrderRow, req: &OrderRequest<'_>) -> Placed {
    if order.product_id == req.product_id && order.quantity == req.quantity {
        Placed::Existing(order)
    } else {
        Placed::KeyReused
    }
}

async fn next_action(pool: &AnyPool, req: &OrderRequest<'_>) -> Result<NextAction, sqlx::Error> {
    Ok(
        match orders::order_by_key(pool, req.viewer_id, req.idempotency_key).await? {
            Some(order) => NextAction::Return(replayed(order, req)),
            None => NextAction::Start,
        },
    )
}

/// `GET` of an order asks Stripe about it at most this often.
pub const REFRESH_EVERY_MS: i64 = 3_000;

/// How long orders may hold stock, and the crash tests' pause.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutSettings {
    /// An order's hold, unless a countdown of the drop sets its own.
    pub hold: Duration,
    /// The most an order waiting for 3-D Secure may hold.
    pub hold_sca: Duration,
    pub test_pause: Option<TestPause>,
}

#[derive(Clone)]
pub struct Checkout {
    pool: AnyPool,
    hub: Hub,
    stripe: Option<Stripe>,
    settings: CheckoutSettings,
    /// Orders this process places are owned by it until settled.
    node: Arc<NodeIdentity>,
    /// Order ids as their state changes here, for long polls of the order.
    moves: tokio::sync::broadcast::Sender<Arc<str>>,
    metrics: Arc<Metrics>,
    /// Keeps the holds of one product queued here, not on its row lock.
    gate: crate::hold_gate::HoldGate,
}

impl Checkout {
    pub fn new(
        pool: AnyPool,
        hub: Hub,
        stripe: Option<Stripe>,
        settings: CheckoutSettings,
        node: Arc<NodeIdentity>,
        metrics: Arc<Metrics>,
    ) -> Checkout {
        Checkout {
            pool,
            hub,
            stripe,
            settings,
            node,
            metrics,
            moves: tokio::sync::broadcast::channel(1024).0,
            gate: crate::hold_gate::HoldGate::default(),
        }
    }

    /// Ids of orders whose state changed in this process, as they change
    /// (a long poll waits on it; changes made by other nodes are found by
    /// reading the order again).
    pub fn order_moves(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.moves.subscribe()
    }

    fn moved(&self, order_id: &str) {
        let _ = self.moves.send(Arc::from(order_id));
    }

    pub fn stripe(&self) -> Option<&Stripe> {
        self.stripe.as_ref()
    }

    fn publish_product(&self, product: &ProductRow) {
        self.hub.publish(
            &product.show_id,
            Change::Product {
                product: product.to_wire(),
                version: product.version,
            },
        );
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .orders
            .get_or_create(&crate::telemetry::OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    async fn pause(&self, point: PausePoint) {
        if let Some(p) = self.settings.test_pause
            && p.point == point
        {
            tracing::warn!(?point, ms = p.duration.as_millis() as u64, "test pause");
            tokio::time::sleep(p.duration).await;
        }
    }

    /// Places an order: the same idempotency key again answers with the
    /// order it made (or refuses a changed request); otherwise, for a buyer
    /// with a saved card, the hold (which also checks the countdowns and the
    /// per-buyer limit), then the payment.
    pub async fn place(&self, req: OrderRequest<'_>) -> Result<Placed, sqlx::Error> {
        let Some(stripe) = &self.stripe else {
            return Ok(Placed::PaymentsDown);
        };
        if let NextAction::Return(placed) = next_action(&self.pool, &req).await? {
            return Ok(placed);
        }
        let Some(viewer) = crate::store::get_viewer(&self.pool, req.viewer_id).await? else {
            return Ok(Placed::UnknownViewer);
        };
        let (Some(customer), Some(payment_method)) =
            (&viewer.stripe_customer_id, &viewer.payment_method_id)
        else {
            return Ok(Placed::NoPaymentMethod);
        };
        let OrderRequest {
            show,
            product_id,
            quantity,
            idempotency_key,
            ..
        } = req;
        let Some(product) = crate::store::get_product(&self.pool, &show.id, product_id)
            .await?
            .filter(|p| p.archived_at_ms.is_none())
        else {
            return Ok(Placed::NoSuchProduct);
        };
        let shipping = viewer.shipping();
        let ships_to = match (product.ships(), &shipping) {
            (false, _) => None,
            (true, Some(address)) => Some(address),
            (true, None) => return Ok(Placed::NoShippingAddress),
        };
        let Some(email) = viewer.email.as_deref() else {
            return Ok(Placed::NoPaymentMethod);
        };
        let order_id = crate::domain::ids::new_id("ord");
        let turn = self.gate.enter(product_id).await;
        let held = orders::hold(
            &self.pool,
            orders::NewOrder {
                id: &order_id,
                show_id: &show.id,
                product_id,
                viewer_id: &viewer.id,
                quantity,
                idempotency_key,
                default_hold_ms: self.settings.hold.as_millis() as i64,
                owner_node: &self.node.node_id,
                owner_instance: &self.node.instance_id,
                card_fingerprint: viewer.card_fingerprint.as_deref(),
                buyer_email: viewer.email.as_deref().map(str::to_lowercase).as_deref(),
            },
        )
        .await?;
        drop(turn);
        let (order, product) = match held {
            orders::Hold::Held { order, product } => (order, product),
            orders::Hold::SoldOut => {
                self.count("sold_out");
                return Ok(Placed::SoldOut);
            }
            orders::Hold::NoSuchProduct => return Ok(Placed::NoSuchProduct),
            orders::Hold::OverLimit { owned, max } => {
                self.count("limit_exceeded");
                return Ok(Placed::OverLimit { owned, max });
            }
            orders::Hold::Duplicate(existing) => return Ok(replayed(existing, &req)),
            orders::Hold::Closed(window) => return Ok(Placed::Closed(window)),
        };
        self.publish_product(&product);
        let order = match ships_to {
            None => order,
            Some(address) => {
                let assigned = crate::store::shipments::assign(
                    &self.pool,
                    crate::store::shipments::Assignment {
                        order_id: &order.id,
                        show_id: &show.id,
                        viewer_id: &viewer.id,
                        email,
                        address,
                        flat_cents: show.shipping_flat_cents,
                    },
                )
                .await;
                match assigned {
                    Ok(Some(order)) => order,
                    // Released meanwhile (it cannot be: this process owns it).
                    Ok(None) => return Ok(Placed::PaymentsDown),
                    Err(e) => {
                        self.release(&order.id, Some("shipping_unassigned")).await?;
                        return Err(e);
                    }
                }
            }
        };

        let request = IntentRequest {
            order_id: &order.id,
            show_id: &show.id,
            amount_cents: order.amount_cents,
            currency: &order.currency,
            customer,
            payment_method,
            shipping: ships_to,
        };
        let intent = match stripe.create_intent(request).await {
            Ok(intent) => intent,
            Err(err) => {
                // Nothing was charged: an intent, if one was made, is unconfirmed.
                tracing::warn!(order = %order.id, error = %err, "could not start the payment");
                let code = match &err {
                    StripeError::Card { code, .. } => code.clone(),
                    _ => "payments_unavailable".into(),
                };
                let released = self.release(&order.id, Some(&code)).await?;
                return Ok(match err {
                    StripeError::Card { .. } => {
                        self.count("declined");
                        Placed::Declined(released.unwrap_or(order))
                    }
                    _ => {
                        self.count("payments_unavailable");
                        Placed::PaymentsDown
                    }
                });
            }
        };
        orders::set_intent(&self.pool, &order.id, &intent.id).await?;
        self.pause(PausePoint::BeforeConfirm).await;

        let confirmed = stripe.confirm_intent(&intent.id, &order.id).await;
        self.pause(PausePoint::AfterConfirm).await;
        let order = match confirmed {
            Ok(intent) => self.settle(&order.id, &intent).await?,
            Err(StripeError::Card { code, message }) => {
                tracing::info!(order = %order.id, %code, %message, "card declined");
                self.release(&order.id, Some(&code)).await?;
                let order = orders::get_order(&self.pool, &order.id)
                    .await?
                    .unwrap_or(order);
                self.count("declined");
                return Ok(Placed::Declined(order));
            }
            Err(err) => {
                // The charge may or may not have happened: ask Stripe.
                tracing::warn!(order = %order.id, error = %err, "confirm failed; checking the intent");
                match stripe.retrieve_intent(&intent.id).await {
                    Ok(intent) => self.settle(&order.id, &intent).await?,
                    Err(_) => orders::get_order(&self.pool, &order.id)
                        .await?
                        .unwrap_or(order),
                }
            }
        };
        if order.status == OrderStatus::Failed {
            self.count("declined");
            return Ok(Placed::Declined(order));
        }
        self.count(order.status.as_str());
        Ok(Placed::Created(order))
    }

    /// Brings an order in line with its PaymentIntent's state at Stripe,
    /// only if that is the intent the order names (a webhook or a retrieval
    /// about another intent changes nothing).
    pub async fn settle(
        &self,
        order_id: &str,
        intent: &PaymentIntent,
    ) -> Result<OrderRow, sqlx::Error> {
        let order = orders::get_order(&self.pool, order_id)
            .await?
            .expect("an order being settled exists");
        if order.payment_intent_id.as_deref() != Some(intent.id.as_str()) {
            tracing::warn!(order = %order_id, intent = %intent.id, "intent is not the order's own: ignored");
            return Ok(order);
        }
        match intent.status.as_str() {
            "succeeded" => self.paid(order_id, &intent.id).await?,
            "requires_action" => {
                let hold_until = crate::now_ms() + self.settings.hold_sca.as_millis() as i64;
                orders::set_requires_action(
                    &self.pool,
                    order_id,
                    intent.client_secret.as_deref(),
                    hold_until,
                )
                .await?;
            }
            "requires_payment_method" | "canceled" => {
                let code = intent
                    .last_error_code
                    .clone()
                    .unwrap_or_else(|| intent.status.clone());
                self.release(order_id, Some(&code)).await?;
            }
            // requires_confirmation, processing, requires_capture: not final yet.
            _ => {}
        }
        self.moved(order_id);
        Ok(orders::get_order(&self.pool, order_id)
            .await?
            .expect("an order being settled exists"))
    }

    /// The payment succeeded: sell the held units, or — if the hold was
    /// already released — take them back, or refund when they are gone.
    async fn paid(&self, order_id: &str, intent_id: &str) -> Result<(), sqlx::Error> {
        match orders::sell(&self.pool, order_id).await? {
            Moved::Done { order, product } => {
                self.publish_sale(&order, &product);
                return Ok(());
            }
            Moved::NotApplicable | Moved::NoStock => {}
        }
        match orders::resell(&self.pool, order_id).await? {
            Moved::Done { order, product } => {
                tracing::info!(order = %order.id, "payment arrived after the hold ended; units taken back");
                self.publish_sale(&order, &product);
            }
            Moved::NoStock => {
                tracing::warn!(order = %order_id, "paid after the hold ended and sold out: refunding");
                self.refund_unfilled(order_id, intent_id).await?;
            }
            Moved::NotApplicable => {} // already sold or refunded
        }
        Ok(())
    }

    fn publish_sale(&self, order: &OrderRow, product: &ProductRow) {
        self.publish_product(product);
        self.hub.publish(
            &order.show_id,
            Change::Sold {
                product_id: order.product_id.clone(),
                quantity: order.quantity,
                buyer: order
                    .shipping_json
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<wire::Address>(j).ok())
                    .and_then(|a| crate::domain::address::first_name(&a.name)),
            },
        );
    }

    /// Releases a held order as failed; returns it if it moved.
    async fn release(
        &self,
        order_id: &str,
        code: Option<&str>,
    ) -> Result<Option<OrderRow>, sqlx::Error> {
        match orders::release_failed(&self.pool, order_id, code).await? {
            Moved::Done { order, product } => {
                self.publish_product(&product);
                self.moved(&order.id);
                Ok(Some(order))
            }
            _ => Ok(None),
        }
    }

    /// Asks Stripe about an order still holding stock and settles it, at
    /// most once every [`REFRESH_EVERY_MS`] per order, whoever asks.
    pub async fn refresh(&self, order: OrderRow) -> Result<OrderRow, sqlx::Error> {
        let (Some(stripe), Some(intent_id)) = (&self.stripe, &order.payment_intent_id) else {
            return Ok(order);
        };
        if order.stock_state != StockState::Held
            || !orders::claim_refresh(&self.pool, &order.id, REFRESH_EVERY_MS).await?
        {
            return Ok(order);
        }
        match stripe.retrieve_intent(intent_id).await {
            Ok(intent) => self.settle(&order.id, &intent).await,
            Err(e) => {
                tracing::warn!(order = %order.id, error = %e, "could not refresh the order from Stripe");
                Ok(order)
            }
        }
    }

    /// The order once its status is no longer `from` (or final), waiting
    /// up to `wait`: the buyer's long poll. Woken at once by a change made
    /// in this process; every second it reads the order again (another node
    /// may have moved it) and, at most every [`REFRESH_EVERY_MS`], asks
    /// Stripe.
    pub async fn watch(
        &self,
        order: OrderRow,
        from: Option<OrderStatus>,
        wait: Duration,
    ) -> Result<OrderRow, sqlx::Error> {
        let mut moves = self.order_moves();
        let deadline = tokio::time::Instant::now() + wait;
        let mut order = self.refresh(order).await?;
        loop {
            if from.is_none_or(|s| s != order.status) || order.status.is_final() {
                return Ok(order);
            }
            let tick = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
            loop {
                tokio::select! {
                    moved = moves.recv() => match moved {
                        Ok(id) if *id == *order.id => break,
                        Ok(_) => continue,
                        // Missed some: read the order again.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            tokio::time::sleep_until(tick).await;
                            break;
                        }
                    },
                    _ = tokio::time::sleep_until(tick) => break,
                }
            }
            let Some(now) = orders::get_order(&self.pool, &order.id).await? else {
                return Ok(order);
            };
            order = self.refresh(now).await?;
            if tokio::time::Instant::now() >= deadline {
                return Ok(order);
            }
        }
    }

    /// Ends holds that ran out: cancels the intent at Stripe, then releases the
    /// stock. An intent that succeeded meanwhile is settled as paid instead.
    pub async fn expire_due(&self) -> Result<usize, sqlx::Error> {
        let due = orders::held_orders(&self.pool, Some(crate::now_ms())).await?;
        let mut released = 0;
        for order in due {
            if self.end_hold(&order, true).await? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Settles every order holding stock that no live process works on:
    /// those this node's earlier process left (a restart), those of nodes
    /// whose lease lapsed, and those that name no owner. Each is taken over
    /// first, so two nodes never settle the same one, and an order this
    /// process is working on is never touched. Run at start and with every
    /// expiry sweep.
    pub async fn reconcile(&self) -> Result<usize, sqlx::Error> {
        let orphans = orders::orphaned_orders(
            &self.pool,
            &self.node.node_id,
            &self.node.instance_id,
            NodeIdentity::stale_before_ms(),
        )
        .await?;
        let mut count = 0;
        for order in orphans {
            if !orders::adopt(
                &self.pool,
                &order,
                &self.node.node_id,
                &self.node.instance_id,
            )
            .await?
            {
                continue; // another node took it first
            }
            count += 1;
            self.end_hold(&order, false).await?;
        }
        if count > 0 {
            tracing::info!(
                orders = count,
                "settled orders left in flight by a process that is gone"
            );
        }
        Ok(count)
    }

    /// Settles one held order against Stripe. With `expired`, a hold whose
    /// payment is still open is cancelled; without, only an intent that was
    /// never confirmed (the process died before the charge) is.
    async fn end_hold(&self, order: &OrderRow, expired: bool) -> Result<bool, sqlx::Error> {
        let Some(intent_id) = &order.payment_intent_id else {
            // No intent recorded: nothing was charged.
            let moved = if expired {
                orders::release_expired(&self.pool, &order.id).await?
            } else {
                orders::release_failed(&self.pool, &order.id, Some("interrupted")).await?
            };
            return Ok(self.published(moved));
        };
        let Some(stripe) = &self.stripe else {
            return Ok(false);
        };
        let intent = match stripe.retrieve_intent(intent_id).await {
            Ok(intent) => intent,
            Err(e) => {
                tracing::warn!(order = %order.id, error = %e, "cannot reach Stripe; will retry");
                return Ok(false);
            }
        };
        let cancel = match intent.status.as_str() {
            "requires_confirmation" => true,
            "requires_action" | "requires_payment_method" | "requires_capture" => expired,
            _ => false,
        };
        if !cancel {
            let settled = self.settle(&order.id, &intent).await?;
            return Ok(settled.stock_state == StockState::Released);
        }
        match stripe.cancel_intent(intent_id).await {
            Ok(_) => {
                let moved = if expired {
                    orders::release_expired(&self.pool, &order.id).await?
                } else {
                    orders::release_failed(&self.pool, &order.id, Some("interrupted")).await?
                };
                Ok(self.published(moved))
            }
            Err(e) => {
                // It may have moved on (paid meanwhile): settle on what it is now.
                tracing::info!(order = %order.id, error = %e, "cancel refused; settling on the intent's state");
                if let Ok(intent) = stripe.retrieve_intent(intent_id).await {
                    self.settle(&order.id, &intent).await?;
                }
                Ok(false)
            }
        }
    }

    fn published(&self, moved: Moved) -> bool {
        match moved {
            Moved::Done { order, product } => {
                self.publish_product(&product);
                self.moved(&order.id);
                true
            }
            _ => false,
        }
    }

    /// Refunds a paid order: in full (what is left of it) with its units
    /// back in stock, or `amount_cents` of it with nothing restocked. The
    /// refund is a row of the Stripe outbox first, then tried at once: if
    /// Stripe cannot be reached it stays owed and the outbox worker lands it
    /// later, across restarts.
    pub async fn refund(
        &self,
        order: &OrderRow,
        amount_cents: Option<i64>,
    ) -> Result<Refunded, sqlx::Error> {
        if order.status != OrderStatus::Paid {
            return Ok(Refunded::NotRefundable(order.status));
        }
        let committed = outbox::committed_refunds(&self.pool, &order.id).await?;
        let left = order.amount_cents - committed;
        let (amount, reason, key) = match amount_cents {
            Some(amount) if amount > left => {
                return Ok(Refunded::TooMuch { left });
            }
            Some(amount) if amount < left => (
                Some(amount),
                RefundReason::Partial,
                format!("dropcast-order-{}-partial-{committed}-{amount}", order.id),
            ),
            // The whole of what is left.
            _ if committed == 0 => (
                None,
                RefundReason::Creator,
                format!("dropcast-order-{}-refund", order.id),
            ),
            _ => (
                Some(left),
                RefundReason::Creator,
                format!("dropcast-order-{}-refund-rest-{committed}", order.id),
            ),
        };
        if left <= 0 {
            return Ok(Refunded::TooMuch { left: 0 });
        }
        self.queue_refund(order, amount, reason, &key).await
    }

    /// Cancels a paid order whose parcel has not shipped: refunded and
    /// restocked. If the rest of its parcel still ships, the shipping it
    /// carried is kept (that parcel still goes out); the last order of a
    /// parcel gives it back.
    pub async fn cancel(&self, order: &OrderRow) -> Result<Refunded, sqlx::Error> {
        if order.status != OrderStatus::Paid {
            return Ok(Refunded::NotRefundable(order.status));
        }
        let mut keep_shipping = false;
        if let Some(shipment_id) = &order.shipment_id {
            let shipment = crate::store::shipments::get(&self.pool, shipment_id).await?;
            if shipment
                .is_some_and(|s| s.status == crate::store::shipments::ShipmentStatus::Shipped)
            {
                return Ok(Refunded::AlreadyShipped);
            }
            keep_shipping = order.shipping_cents > 0
                && crate::store::shipments::others_paid(&self.pool, shipment_id, &order.id).await?;
        }
        let committed = outbox::committed_refunds(&self.pool, &order.id).await?;
        let kept = if keep_shipping {
            order.shipping_cents
        } else {
            0
        };
        let give_back = order.amount_cents - committed - kept;
        if give_back <= 0 {
            // Nothing left to give back: only the units return.
            self.restock_refunded(&order.id).await?;
            let now = orders::get_order(&self.pool, &order.id)
                .await?
                .unwrap_or_else(|| order.clone());
            return Ok(Refunded::Done(now));
        }
        let amount = (give_back != order.amount_cents).then_some(give_back);
        let key = format!("dropcast-order-{}-cancel", order.id);
        self.queue_refund(order, amount, RefundReason::Cancel, &key)
            .await
    }

    async fn queue_refund(
        &self,
        order: &OrderRow,
        amount_cents: Option<i64>,
        reason: RefundReason,
        key: &str,
    ) -> Result<Refunded, sqlx::Error> {
        let Some(intent_id) = &order.payment_intent_id else {
            return Ok(Refunded::Refused("the order has no payment".into()));
        };
        let job = outbox::enqueue_refund(
            &self.pool,
            outbox::NewRefund {
                order_id: &order.id,
                show_id: &order.show_id,
                payment_intent_id: intent_id,
                amount_cents,
                reason,
                idempotency_key: key,
            },
        )
        .await?;
        if job.status == JobStatus::Failed {
            return Ok(Refunded::Refused(job.last_error.unwrap_or_default()));
        }
        let outcome = match outbox::claim(&self.pool, &job.id, &self.node.instance_id).await? {
            Some(job) => self.run_job(&job).await?,
            // Another attempt holds it right now, or it is done already.
            None => match outbox::get_job(&self.pool, &job.id)
                .await?
                .map(|j| j.status)
            {
                Some(JobStatus::Done) => JobOutcome::Done,
                _ => JobOutcome::Retry,
            },
        };
        let now = orders::get_order(&self.pool, &order.id)
            .await?
            .unwrap_or_else(|| order.clone());
        Ok(match outcome {
            JobOutcome::Done => Refunded::Done(now),
            JobOutcome::Retry => Refunded::Pending(now),
            JobOutcome::Failed(message) => Refunded::Refused(message),
        })
    }

    /// Queues the refund of a payment that came after its hold ended, when
    /// the units were gone, and tries it at once.
    async fn refund_unfilled(&self, order_id: &str, intent_id: &str) -> Result<(), sqlx::Error> {
        let Some(order) = orders::get_order(&self.pool, order_id).await? else {
            return Ok(());
        };
        let job = outbox::enqueue_refund(
            &self.pool,
            outbox::NewRefund {
                order_id,
                show_id: &order.show_id,
                payment_intent_id: intent_id,
                amount_cents: None,
                reason: RefundReason::Unfilled,
                idempotency_key: &format!("dropcast-order-{order_id}-refund-unfilled"),
            },
        )
        .await?;
        if let Some(job) = outbox::claim(&self.pool, &job.id, &self.node.instance_id).await? {
            self.run_job(&job).await?;
        }
        Ok(())
    }

    /// One attempt at a claimed outbox job; the job's row records what came of it.
    pub async fn run_job(&self, job: &outbox::Job) -> Result<JobOutcome, sqlx::Error> {
        let Some(stripe) = &self.stripe else {
            let next = crate::now_ms() + outbox_backoff_ms(job.attempts);
            outbox::retry_later(&self.pool, &job.id, "payments are not configured", next).await?;
            return Ok(JobOutcome::Retry);
        };
        match stripe
            .refund(
                &job.payment_intent_id,
                &job.idempotency_key,
                job.amount_cents,
            )
            .await
        {
            Ok(refund_id) => {
                match job.reason {
                    RefundReason::Creator | RefundReason::Cancel => {
                        self.restock_refunded(&job.order_id).await?
                    }
                    RefundReason::Unfilled => {
                        orders::mark_refunded_unfilled(&self.pool, &job.order_id).await?
                    }
                    RefundReason::Partial => {}
                }
                outbox::mark_done(&self.pool, job, &refund_id).await?;
                self.moved(&job.order_id);
                tracing::info!(order = %job.order_id, refund = %refund_id, attempts = job.attempts, "refund landed");
                Ok(JobOutcome::Done)
            }
            Err(StripeError::Transport(e)) => {
                let next = crate::now_ms() + outbox_backoff_ms(job.attempts);
                tracing::warn!(order = %job.order_id, error = %e, attempts = job.attempts, "refund did not reach Stripe; it stays owed");
                outbox::retry_later(&self.pool, &job.id, &e, next).await?;
                Ok(JobOutcome::Retry)
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(order = %job.order_id, error = %message, "Stripe refused the refund");
                outbox::mark_failed(&self.pool, &job.id, &message).await?;
                Ok(JobOutcome::Failed(message))
            }
        }
    }

    /// sold → refunded, units back in stock (from the route or a webhook).
    pub async fn restock_refunded(&self, order_id: &str) -> Result<(), sqlx::Error> {
        if let Moved::Done { product, .. } = orders::refund(&self.pool, order_id).await? {
            self.publish_product(&product);
            self.moved(order_id);
            self.count("refunded");
        }
        Ok(())
    }
}

/// What asking for a refund came to.
#[derive(Debug)]
pub enum Refunded {
    /// Stripe confirmed it; the order as it is now (refunded, restocked).
    Done(OrderRow),
    /// Owed: Stripe could not be reached, or another attempt is under way.
    /// The outbox lands it once Stripe answers.
    Pending(OrderRow),
    /// Stripe refused it.
    Refused(String),
    /// Only paid orders can be refunded.
    NotRefundable(OrderStatus),
    /// More than is left of the payment was asked for.
    TooMuch { left: i64 },
    /// Its parcel has shipped: it can be refunded, not cancelled.
    AlreadyShipped,
}

/// What one attempt at an outbox job came to.
#[derive(Debug)]
pub enum JobOutcome {
    Done,
    /// Kept for a later attempt.
    Retry,
    /// Refused for good.
    Failed(String),
}

/// The wait before attempt `attempts + 1`: 1 s doubling to a minute.
fn outbox_backoff_ms(attempts: i64) -> i64 {
    1_000i64
        .saturating_mul(1 << attempts.clamp(1, 7).saturating_sub(1))
        .min(60_000)
}

/// Lands what the Stripe outbox owes: every second, claims the due jobs
/// (those no other process holds) and tries each once.
pub async fn run_outbox(checkout: Checkout, shutdown: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let claimed = outbox::claim_due(&checkout.pool, &checkout.node.instance_id, 20).await;
                match claimed {
                    Ok(jobs) => {
                        for job in jobs {
                            if let Err(e) = checkout.run_job(&job).await {
                                tracing::warn!(job = %job.id, error = %e, "outbox job failed to record; its claim will lapse");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "outbox claim failed"),
                }
            }
        }
    }
}

/// Runs the expiry sweep every `every` until shutdown.
pub async fn run_expiry(
    checkout: Checkout,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = checkout.reconcile().await {
                    tracing::warn!(error = %e, "taking over orphaned orders failed");
                }
                match checkout.expire_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(orders = n, "released expired holds"),
                    Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
                }
            }
        }
    }
}
