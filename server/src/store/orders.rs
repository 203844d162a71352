//! Orders and the stock they hold.
//!
//! An order's units are in one of three places, its `stock_state`: `held`
//! (taken from `available`, waiting for the payment), `sold`, or `released`
//! (back in `available`). Every move is one transaction that first moves the
//! order out of the state it must be in (`WHERE stock_state = …`) and only then
//! moves the product's units. Whoever comes second — a webhook, the request,
//! the expiry sweep, a restart — finds the order already moved and changes
//! nothing. So for each product, always:
//! `available + held + sold == stock_total` and `available >= 0`.

use sqlx::{AnyPool, FromRow};

use super::ProductRow;
use crate::domain::countdown::{Window, purchase_window};
use crate::domain::order::{OrderStatus, StockState};
use crate::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct OrderRow {
    pub id: String,
    pub show_id: String,
    pub product_id: String,
    pub viewer_id: String,
    pub quantity: i64,
    pub amount_cents: i64,
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    #[sqlx(try_from = "String")]
    pub stock_state: StockState,
    pub idempotency_key: String,
    pub payment_intent_id: Option<String>,
    pub client_secret: Option<String>,
    pub failure_code: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub paid_at_ms: Option<i64>,
    pub expires_at_ms: i64,
    /// The node (and its process) working on the order while it holds stock.
    pub owner_node: Option<String>,
    pub owner_instance: Option<String>,
    pub card_fingerprint: Option<String>,
    pub buyer_email: Option<String>,
    /// The part of `amount_cents` that pays for its parcel's shipping (the
    /// first order of a parcel carries it; the rest carry what raises it).
    pub shipping_cents: i64,
    /// The address as ordered (a [`wire::Address`] as JSON); none for digital products.
    pub shipping_json: Option<String>,
    pub shipment_id: Option<String>,
    /// Refunded so far (landed at Stripe).
    pub refunded_cents: i64,
}

impl OrderRow {
    pub fn items_cents(&self) -> i64 {
        self.amount_cents - self.shipping_cents
    }

    pub fn shipping(&self) -> Option<wire::Address> {
        self.shipping_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
    }
}

#[macro_export]
#[doc(hidden)]
macro_rules! order_columns {
    () => {
        "id, show_id, product_id, viewer_id, quantity, amount_cents, currency, status, \
         stock_state, idempotency_key, payment_intent_id, client_secret, failure_code, \
         created_at_ms, updated_at_ms, paid_at_ms, expires_at_ms, owner_node, owner_instance, \
         card_fingerprint, buyer_email, shipping_cents, shipping_json, shipment_id, refunded_cents"
    };
}

pub async fn get_order(pool: &AnyPool, id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn order_by_key(
    pool: &AnyPool,
    viewer_id: &str,
    key: &str,
) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE viewer_id = $1 AND idempotency_key = $2"
    ))
    .bind(viewer_id)
    .bind(key)
    .fetch_optional(pool)
    .await
}

pub async fn order_by_intent(
    pool: &AnyPool,
    intent_id: &str,
) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE payment_intent_id = $1"
    ))
    .bind(intent_id)
    .fetch_optional(pool)
    .await
}

/// The show's orders, newest first.
pub async fn orders_of_show(
    pool: &AnyPool,
    show_id: &str,
    limit: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE show_id = $1 ORDER BY created_at_ms DESC, id LIMIT $2"
    ))
    .bind(show_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Orders still holding stock; with `due_by`, only those whose hold expired by then.
pub async fn held_orders(
    pool: &AnyPool,
    due_by: Option<i64>,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE stock_state = 'held' AND expires_at_ms <= $1 ORDER BY expires_at_ms"
    ))
    .bind(due_by.unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
}

/// Orders holding stock that no live process works on: those of this
/// node's earlier instances (a restart), those of nodes whose heartbeat is
/// older than `stale_before_ms`, and those that name no owner.
pub async fn orphaned_orders(
    pool: &AnyPool,
    node_id: &str,
    instance_id: &str,
    stale_before_ms: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders o WHERE o.stock_state = 'held' AND (
             o.owner_node IS NULL
             OR (o.owner_node = $1 AND COALESCE(o.owner_instance, '') <> $2)
             OR (o.owner_node <> $1 AND NOT EXISTS (
                 SELECT 1 FROM nodes n WHERE n.node_id = o.owner_node AND n.heartbeat_at_ms >= $3)))
         ORDER BY o.created_at_ms LIMIT 500"
    ))
    .bind(node_id)
    .bind(instance_id)
    .bind(stale_before_ms)
    .fetch_all(pool)
    .await
}

/// Takes an orphaned order over, if it still has the owner it was found
/// with (another node may have taken it first): true if it is now ours.
pub async fn adopt(
    pool: &AnyPool,
    order: &OrderRow,
    node_id: &str,
    instance_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE orders SET owner_node = $2, owner_instance = $3
         WHERE id = $1 AND stock_state = 'held'
           AND COALESCE(owner_node, '') = $4 AND COALESCE(owner_instance, '') = $5",
    )
    .bind(&order.id)
    .bind(node_id)
    .bind(instance_id)
    .bind(order.owner_node.as_deref().unwrap_or(""))
    .bind(order.owner_instance.as_deref().unwrap_or(""))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims the right to ask Stripe about an order now: true for at most one
/// caller every `every_ms`, whoever asks and on whichever node.
pub async fn claim_refresh(
    pool: &AnyPool,
    order_id: &str,
    every_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE orders SET checked_at_ms = $2
         WHERE id = $1 AND (checked_at_ms IS NULL OR checked_at_ms <= $3)",
    )
    .bind(order_id)
    .bind(now)
    .bind(now - every_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A new order, as the request asks for it.
pub struct NewOrder<'a> {
    pub id: &'a str,
    pub show_id: &'a str,
    pub product_id: &'a str,
    pub viewer_id: &'a str,
    pub quantity: i64,
    pub idempotency_key: &'a str,
    /// How long the hold lasts unless a countdown covering the product sets
    /// its own ([`hold_ms`]).
    pub default_hold_ms: i64,
    /// The process that places the order owns it until it is settled.
    pub owner_node: &'a str,
    pub owner_instance: &'a str,
    /// The buyer as the per-buyer limit counts them, beside the session.
    pub card_fingerprint: Option<&'a str>,
    /// Lower-cased.
    pub buyer_email: Option<&'a str>,
}

/// The hold's length: the drop's own (`hold_seconds` of the latest countdown
/// covering the product that sets one), else the server's.
pub fn hold_ms(countdowns: &[wire::Countdown], product_id: &str, default_ms: i64) -> i64 {
    countdowns
        .iter()
        .filter(|c| c.product_id.as_deref().is_none_or(|p| p == product_id))
        .filter_map(|c| c.hold_seconds.map(|s| (c.ends_at_ms, s)))
        .max()
        .map_or(default_ms, |(_, s)| s * 1000)
}

/// What trying to hold stock for an order came to.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned once per order; boxing buys nothing
pub enum Hold {
    Held {
        order: OrderRow,
        product: ProductRow,
    },
    SoldOut,
    NoSuchProduct,
    /// The buyer would own more than the product allows.
    OverLimit {
        owned: i64,
        max: i64,
    },
    /// A concurrent request with the same idempotency key got there first.
    Duplicate(OrderRow),
    /// A countdown covering the product forbids buying it now.
    Closed(Window),
}

/// Creates the order and holds its stock: the order is inserted under the
/// buyer's idempotency key, the show's countdowns are checked, a conditional
/// update (never read-then-write) takes the units, and the per-buyer limit is
/// checked against paid and held orders. Any refusal changes nothing.
///
/// SQLite runs one writer at a time: there it is one transaction of few
/// statements (below). On PostgreSQL, where buyers run side by side and all
/// queue for the product's row, it is one call of `dropcast_hold`
/// (`migrations/postgres/0006_hold_function.sql`), which holds that row for
/// no network round trip: see [`hold_postgres`].
pub async fn hold(pool: &AnyPool, o: NewOrder<'_>) -> Result<Hold, sqlx::Error> {
    if crate::db::Backend::of_pool(pool) == crate::db::Backend::Postgres {
        return hold_postgres(pool, o).await;
    }
    let now = now_ms();
    // Read before the transaction, whose first statement must be its write
    // (a read first would make SQLite refuse the later write if another
    // writer committed between the two). Countdowns are not locked either
    // way: one changed meanwhile applies from the next order.
    let countdowns = super::countdowns_of_show(pool, o.show_id).await?;
    let window = purchase_window(&countdowns, o.product_id, now);
    let expires_at_ms = now + hold_ms(&countdowns, o.product_id, o.default_hold_ms);
    // Lock order, as in every stock move below: the order row, then the product.
    let mut tx = pool.begin().await?;
    let inserted: Result<Option<OrderRow>, sqlx::Error> = sqlx::query_as(concat!(
        "INSERT INTO orders (id, show_id, product_id, viewer_id, quantity, amount_cents, currency,
             status, stock_state, idempotency_key, created_at_ms, updated_at_ms, expires_at_ms,
             owner_node, owner_instance, card_fingerprint, buyer_email)
         SELECT $1, $2, $3, $4, $5, price_cents * $5, currency, 'pending', 'held', $6, $7, $7, $8,
             $9, $10, $11, $12
         FROM products WHERE id = $3 AND show_id = $2
         RETURNING ",
        order_columns!()
    ))
    .bind(o.id)
    .bind(o.show_id)
    .bind(o.product_id)
    .bind(o.viewer_id)
    .bind(o.quantity)
    .bind(o.idempotency_key)
    .bind(now)
    .bind(expires_at_ms)
    .bind(o.owner_node)
    .bind(o.owner_instance)
    .bind(o.card_fingerprint)
    .bind(o.buyer_email)
    .fetch_optional(&mut *tx)
    .await;
    let order = match inserted {
        Ok(Some(order)) => order,
        Ok(None) => {
            tx.rollback().await?;
            return Ok(Hold::NoSuchProduct);
        }
        Err(e) if crate::db::is_unique_violation(&e) => {
            tx.rollback().await?;
            return duplicate_of(pool, &o, e).await;
        }
        Err(e) => return Err(e),
    };
    if window != Window::Open {
        tx.rollback().await?;
        return Ok(Hold::Closed(window));
    }
    let product: Option<ProductRow> = sqlx::query_as(concat!(
        "UPDATE products SET available = available - $3, held = held + $3, version = version + 1
         WHERE id = $1 AND show_id = $2 AND available >= $3 RETURNING ",
        crate::product_columns!()
    ))
    .bind(o.product_id)
    .bind(o.show_id)
    .bind(o.quantity)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(product) = product else {
        tx.rollback().await?;
        return Ok(Hold::SoldOut);
    };
    if let Some(max) = product.max_per_buyer
        && let Some(over) = over_limit(&mut tx, &o, max).await?
    {
        tx.rollback().await?;
        return Ok(over);
    }
    tx.commit().await?;
    Ok(Hold::Held { order, product })
}

/// The order already placed under this request's idempotency key; `err` if
/// there is none after all.
async fn duplicate_of(
    pool: &AnyPool,
    o: &NewOrder<'_>,
    err: sqlx::Error,
) -> Result<Hold, sqlx::Error> {
    match order_by_key(pool, o.viewer_id, o.idempotency_key).await? {
        Some(existing) => Ok(Hold::Duplicate(existing)),
        None => Err(err),
    }
}

/// The hold on PostgreSQL: the countdowns are read first (as on SQLite, they
/// are not locked: a countdown changed meanwhile applies from the next order),
/// then `dropcast_hold` does the rest in autocommit, so the product's row is
/// locked from its update to the commit inside the backend only. Before, as a
/// transaction of five statements driven from here, that lock spanned two
/// round trips through the pool: every buyer of a drop waited for them.
///
/// The function commits without waiting for its WAL flush
/// (`synchronous_commit` off for that transaction only), since the row lock
/// would be held across it. Durability comes from the next step: the
/// order's [`set_intent`] commits synchronously, which flushes the WAL up to
/// it and so the hold too, and fails if the hold is not there; the card is
/// confirmed only after that. A database crash in between loses the order
/// and its units together (one transaction), before any charge.
async fn hold_postgres(pool: &AnyPool, o: NewOrder<'_>) -> Result<Hold, sqlx::Error> {
    use sqlx::Row;

    let now = now_ms();
    let countdowns = super::countdowns_of_show(pool, o.show_id).await?;
    let window = purchase_window(&countdowns, o.product_id, now);
    if window != Window::Open {
        // A retry of an order placed while it was open still gets that order.
        return Ok(
            match order_by_key(pool, o.viewer_id, o.idempotency_key).await? {
                Some(existing) => Hold::Duplicate(existing),
                None => Hold::Closed(window),
            },
        );
    }
    let expires_at_ms = now + hold_ms(&countdowns, o.product_id, o.default_hold_ms);
    let called = sqlx::query(
        "SELECT * FROM dropcast_hold($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(o.id)
    .bind(o.show_id)
    .bind(o.product_id)
    .bind(o.viewer_id)
    .bind(o.quantity)
    .bind(o.idempotency_key)
    .bind(now)
    .bind(expires_at_ms)
    .bind(o.owner_node)
    .bind(o.owner_instance)
    .bind(o.card_fingerprint)
    .bind(o.buyer_email)
    .fetch_one(pool)
    .await;
    let row = match called {
        Ok(row) => row,
        // A concurrent order under the same key committed first.
        Err(e) if crate::db::is_unique_violation(&e) => return duplicate_of(pool, &o, e).await,
        // Raised, so that the order's insert is undone with it.
        Err(sqlx::Error::Database(e)) if e.message() == "dropcast_hold:sold_out" => {
            return Ok(Hold::SoldOut);
        }
        Err(e) => return Err(e),
    };
    let outcome: String = row.try_get("outcome")?;
    Ok(match outcome.as_str() {
        "held" => {
            let product = ProductRow::from_row(&row)?;
            let order = OrderRow {
                id: o.id.to_string(),
                show_id: o.show_id.to_string(),
                product_id: o.product_id.to_string(),
                viewer_id: o.viewer_id.to_string(),
                quantity: o.quantity,
                amount_cents: row.try_get("amount_cents")?,
                currency: product.currency.clone(),
                status: OrderStatus::Pending,
                stock_state: StockState::Held,
                idempotency_key: o.idempotency_key.to_string(),
                payment_intent_id: None,
                client_secret: None,
                failure_code: None,
                created_at_ms: now,
                updated_at_ms: now,
                paid_at_ms: None,
                expires_at_ms,
                owner_node: Some(o.owner_node.to_string()),
                owner_instance: Some(o.owner_instance.to_string()),
                card_fingerprint: o.card_fingerprint.map(str::to_string),
                buyer_email: o.buyer_email.map(str::to_string),
                shipping_cents: 0,
                shipping_json: None,
                shipment_id: None,
                refunded_cents: 0,
            };
            Hold::Held { order, product }
        }
        "duplicate" => {
            let missing = sqlx::Error::RowNotFound;
            return duplicate_of(pool, &o, missing).await;
        }
        "no_such_product" => Hold::NoSuchProduct,
        "over_limit" => Hold::OverLimit {
            owned: row.try_get("owned")?,
            max: row.try_get("limit_max")?,
        },
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "dropcast_hold answered {other:?}"
            )));
        }
    })
}

/// `Some(OverLimit)` if the buyer would own more than `max` of the product
/// (held and paid, this order included), counting every order of the
/// product by the same session, card or email.
async fn over_limit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    o: &NewOrder<'_>,
    max: i64,
) -> Result<Option<Hold>, sqlx::Error> {
    let owned: i64 = sqlx::query_scalar(
        // One indexed lookup per identity, united (an order matching two
        // counts once). Written as an OR, SQLite's planner scanned every
        // order of the product (the hold bench halved); `+stock_state`
        // keeps it from scanning by state. This statement runs on SQLite
        // only: PostgreSQL's hold is `dropcast_hold`.
        "SELECT COALESCE(CAST(SUM(quantity) AS BIGINT), 0) FROM orders
         WHERE id IN (SELECT id FROM orders WHERE product_id = $1 AND viewer_id = $2
                      UNION SELECT id FROM orders WHERE product_id = $1 AND card_fingerprint = $3
                      UNION SELECT id FROM orders WHERE product_id = $1 AND buyer_email = $4)
           AND +stock_state IN ('held', 'sold')",
    )
    .bind(o.product_id)
    .bind(o.viewer_id)
    .bind(o.card_fingerprint)
    .bind(o.buyer_email)
    .fetch_one(&mut **tx)
    .await?;
    Ok((owned > max).then_some(Hold::OverLimit {
        owned: owned - o.quantity,
        max,
    }))
}

/// Records the PaymentIntent made for an order, before it is confirmed:
/// the card is charged only once this has committed. `RowNotFound` if the
/// order's hold is not there (see [`hold_postgres`]: this commit is what
/// makes the hold durable), and then nothing may be charged.
pub async fn set_intent(
    pool: &AnyPool,
    order_id: &str,
    intent_id: &str,
) -> Result<(), sqlx::Error> {
    let update = sqlx::query(
        "UPDATE orders SET payment_intent_id = $2, updated_at_ms = $3
         WHERE id = $1 AND stock_state = 'held'",
    )
    .bind(order_id)
    .bind(intent_id)
    .bind(now_ms());
    let done = crate::db::execute_durably(pool, update).await?;
    if done.rows_affected() != 1 {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

/// The buyer must authenticate (3-D Secure); the stock stays held meanwhile,
/// but no later than `hold_until_ms` (the shorter hold of a bank prompt).
pub async fn set_requires_action(
    pool: &AnyPool,
    order_id: &str,
    client_secret: Option<&str>,
    hold_until_ms: i64,
) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE orders SET status = 'requires_action', client_secret = COALESCE($2, client_secret),
             updated_at_ms = $3,
             expires_at_ms = CASE WHEN expires_at_ms < $4 THEN expires_at_ms ELSE $4 END
         WHERE id = $1 AND stock_state = 'held' RETURNING ",
        order_columns!()
    ))
    .bind(order_id)
    .bind(client_secret)
    .bind(now_ms())
    .bind(hold_until_ms)
    .fetch_optional(pool)
    .await
}

/// A stock move: the order leaves `from`, the product's units follow.
struct Move {
    /// Sets the order's new state; `$1` order id, `$2` now, `$3` failure code.
    order_sql: &'static str,
    /// Moves the units; `$1` product id, `$2` quantity.
    product_sql: &'static str,
    /// The move is a payment: the buyer's confirmation is owed with it.
    confirms: bool,
}

const SELL: Move = Move {
    order_sql: concat!(
        "UPDATE orders SET stock_state = 'sold', status = 'paid', paid_at_ms = $2, updated_at_ms = $2,
             failure_code = COALESCE($3, failure_code)
         WHERE id = $1 AND stock_state = 'held' RETURNING ",
        order_columns!()
    ),
    product_sql: concat!(
        "UPDATE products SET held = held - $2, sold = sold + $2, version = version + 1
         WHERE id = $1 RETURNING ",
        crate::product_columns!()
    ),
    confirms: true,
};

/// held → released with the given status; the units go back to `available`.
macro_rules! release {
    ($status:literal) => {
        Move {
            order_sql: concat!(
                "UPDATE orders SET stock_state = 'released', status = '",
                $status,
                "', updated_at_ms = $2,
                     failure_code = COALESCE($3, failure_code), client_secret = NULL
                 WHERE id = $1 AND stock_state = 'held' RETURNING ",
                order_columns!()
            ),
            product_sql: concat!(
                "UPDATE products SET held = held - $2, available = available + $2, version = version + 1
                 WHERE id = $1 RETURNING ",
                crate::product_columns!()
            ),
            confirms: false,
        }
    };
}

const RELEASE_FAILED: Move = release!("failed");
const RELEASE_EXPIRED: Move = release!("expired");

const REFUND: Move = Move {
    order_sql: concat!(
        "UPDATE orders SET stock_state = 'released', status = 'refunded', updated_at_ms = $2,
             failure_code = COALESCE($3, failure_code)
         WHERE id = $1 AND stock_state = 'sold' RETURNING ",
        order_columns!()
    ),
    product_sql: concat!(
        "UPDATE products SET sold = sold - $2, available = available + $2, version = version + 1
         WHERE id = $1 RETURNING ",
        crate::product_columns!()
    ),
    confirms: false,
};

/// A payment that succeeded after its hold was released: take the units back
/// from `available` if they are still there.
const RESELL: Move = Move {
    order_sql: concat!(
        "UPDATE orders SET stock_state = 'sold', status = 'paid', paid_at_ms = $2, updated_at_ms = $2,
             failure_code = COALESCE($3, failure_code)
         WHERE id = $1 AND stock_state = 'released' AND status IN ('failed', 'expired') RETURNING ",
        order_columns!()
    ),
    product_sql: concat!(
        "UPDATE products SET available = available - $2, sold = sold + $2, version = version + 1
         WHERE id = $1 AND available >= $2 RETURNING ",
        crate::product_columns!()
    ),
    confirms: true,
};

/// What a stock move did.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned once per move; boxing buys nothing
pub enum Moved {
    Done {
        order: OrderRow,
        product: ProductRow,
    },
    /// The order was not in the state the move starts from: someone else moved it.
    NotApplicable,
    /// The order could move but the product has too few units (late success).
    NoStock,
}

async fn apply(
    pool: &AnyPool,
    m: &Move,
    order_id: &str,
    failure_code: Option<&str>,
) -> Result<Moved, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Every move settles what the order's PaymentIntent says, and is
    // made again from it if a crash undoes it: no need to wait for the flush.
    crate::db::commit_lazily(&mut tx, crate::db::Backend::of_pool(pool)).await?;
    let order: Option<OrderRow> = sqlx::query_as(m.order_sql)
        .bind(order_id)
        .bind(now_ms())
        .bind(failure_code)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(order) = order else {
        tx.rollback().await?;
        return Ok(Moved::NotApplicable);
    };
    let product: Option<ProductRow> = sqlx::query_as(m.product_sql)
        .bind(&order.product_id)
        .bind(order.quantity)
        .fetch_optional(&mut *tx)
        .await?;
    match product {
        Some(product) => {
            if m.confirms {
                super::mail::enqueue(&mut *tx, super::mail::MailKind::OrderPaid, &order.id).await?;
            }
            tx.commit().await?;
            Ok(Moved::Done { order, product })
        }
        None => {
            tx.rollback().await?;
            Ok(Moved::NoStock)
        }
    }
}

/// held → sold: the payment succeeded.
pub async fn sell(pool: &AnyPool, order_id: &str) -> Result<Moved, sqlx::Error> {
    apply(pool, &SELL, order_id, None).await
}

/// held → released, `failed`: the payment failed.
pub async fn release_failed(
    pool: &AnyPool,
    order_id: &str,
    code: Option<&str>,
) -> Result<Moved, sqlx::Error> {
    apply(pool, &RELEASE_FAILED, order_id, code).await
}

/// held → released, `expired`: the hold ran out.
pub async fn release_expired(pool: &AnyPool, order_id: &str) -> Result<Moved, sqlx::Error> {
    apply(pool, &RELEASE_EXPIRED, order_id, Some("hold_expired")).await
}

/// sold → released, `refunded`.
pub async fn refund(pool: &AnyPool, order_id: &str) -> Result<Moved, sqlx::Error> {
    apply(pool, &REFUND, order_id, None).await
}

/// released → sold: a payment that succeeded after the hold was let go.
pub async fn resell(pool: &AnyPool, order_id: &str) -> Result<Moved, sqlx::Error> {
    apply(pool, &RESELL, order_id, Some("paid_after_release")).await
}

/// A late payment whose units were gone: refunded at Stripe, marked here.
pub async fn mark_refunded_unfilled(pool: &AnyPool, order_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orders SET status = 'refunded', failure_code = 'sold_out_after_payment', updated_at_ms = $2
         WHERE id = $1 AND stock_state = 'released'",
    )
    .bind(order_id)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a Stripe event id; false if it was already recorded.
pub async fn record_stripe_event(
    pool: &AnyPool,
    id: &str,
    kind: &str,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO stripe_events (id, type, received_at_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn stripe_event_seen(pool: &AnyPool, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// A paid order, as the stats count it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaidOrder {
    pub product_id: String,
    pub quantity: i64,
    pub amount_cents: i64,
    pub created_at_ms: i64,
    pub paid_at_ms: i64,
}

/// The show's paid orders, oldest payment first.
pub async fn paid_orders_of_show(
    pool: &AnyPool,
    show_id: &str,
) -> Result<Vec<PaidOrder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT product_id, quantity, amount_cents, created_at_ms, paid_at_ms FROM orders
         WHERE show_id = $1 AND status = 'paid' AND paid_at_ms IS NOT NULL ORDER BY paid_at_ms",
    )
    .bind(show_id)
    .fetch_all(pool)
    .await
}
