//! Parcels (`shipments`): one buyer's paid orders of one show, to one
//! address. While a parcel is unshipped, the buyer's next order of a
//! shipped product joins it; once it has shipped, the next one opens another.
//!
//! The parcel's shipping is charged once: the show's flat price, or else
//! the highest shipping price among its products. Each order carries the
//! part of it that was still owed when it was placed ([`assign`]), computed
//! while the parcel's row is locked, so two orders placed at once never
//! both pay it.

use sqlx::{AnyPool, FromRow};

use super::orders::OrderRow;
use crate::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    Unshipped,
    Shipped,
}

impl TryFrom<String> for ShipmentStatus {
    type Error = crate::domain::order::UnknownState;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "unshipped" => Ok(ShipmentStatus::Unshipped),
            "shipped" => Ok(ShipmentStatus::Shipped),
            _ => Err(crate::domain::order::UnknownState::new(s)),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ShipmentRow {
    pub id: String,
    pub show_id: String,
    pub viewer_id: String,
    pub email: String,
    pub shipping_json: String,
    #[sqlx(try_from = "String")]
    pub status: ShipmentStatus,
    pub carrier: Option<String>,
    pub tracking: Option<String>,
    pub shipped_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

impl ShipmentRow {
    pub fn shipping(&self) -> Option<wire::Address> {
        serde_json::from_str(&self.shipping_json).ok()
    }
}

const COLUMNS: &str = "id, show_id, viewer_id, email, shipping_json, status, carrier, tracking, \
                       shipped_at_ms, created_at_ms";

/// Who and where, as one key: the lower-cased email and the address.
fn buyer_key(email: &str, address_json: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}\n{address_json}", email.to_lowercase()).as_bytes());
    hex::encode(digest)
}

/// The parcel a held order joins, and how much shipping it must carry.
pub struct Assignment<'a> {
    pub order_id: &'a str,
    pub show_id: &'a str,
    pub viewer_id: &'a str,
    pub email: &'a str,
    pub address: &'a wire::Address,
    /// The show's flat price per parcel, if it sets one.
    pub flat_cents: Option<i64>,
}

/// Shipping a parcel's orders still count as paid for it: a live order's
/// own, and a refunded one's if the refund left its shipping charged.
const CHARGED: &str = "CASE WHEN o.stock_state IN ('held', 'sold') THEN o.shipping_cents
      WHEN o.status = 'refunded' AND o.refunded_cents + o.shipping_cents <= o.amount_cents
      THEN o.shipping_cents ELSE 0 END";

/// Puts a held order into its buyer's open parcel (making one if needed)
/// and sets the shipping it carries; its amount becomes items + shipping.
/// `None` if the order no longer holds stock.
pub async fn assign(pool: &AnyPool, a: Assignment<'_>) -> Result<Option<OrderRow>, sqlx::Error> {
    let now = now_ms();
    let address_json = serde_json::to_string(a.address).expect("an address serializes");
    let key = buyer_key(a.email, &address_json);
    let mut tx = pool.begin().await?;
    // The write first: it locks the parcel's row (PostgreSQL) or takes the
    // writer (SQLite) until commit, so orders joining it go one at a time.
    let shipment_id: String = sqlx::query_scalar(
        "INSERT INTO shipments (id, show_id, buyer_key, viewer_id, email, shipping_json, status,
             created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'unshipped', $7, $7)
         ON CONFLICT (show_id, buyer_key) WHERE status = 'unshipped'
         DO UPDATE SET updated_at_ms = excluded.updated_at_ms, viewer_id = excluded.viewer_id
         RETURNING id",
    )
    .bind(crate::domain::ids::new_id("shp"))
    .bind(a.show_id)
    .bind(&key)
    .bind(a.viewer_id)
    .bind(a.email)
    .bind(&address_json)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let target: i64 = match a.flat_cents {
        Some(flat) => flat,
        None => {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(MAX(p.shipping_cents), 0) AS BIGINT)
                 FROM orders o JOIN products p ON p.id = o.product_id
                 WHERE (o.shipment_id = $1 AND o.stock_state IN ('held', 'sold')) OR o.id = $2",
            )
            .bind(&shipment_id)
            .bind(a.order_id)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let charged: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(COALESCE(SUM({CHARGED}), 0) AS BIGINT) FROM orders o
         WHERE o.shipment_id = $1 AND o.id <> $2"
    )))
    .bind(&shipment_id)
    .bind(a.order_id)
    .fetch_one(&mut *tx)
    .await?;
    let owed = (target - charged).max(0);
    let order: Option<OrderRow> = sqlx::query_as(concat!(
        "UPDATE orders SET shipment_id = $2, amount_cents = amount_cents - shipping_cents + $3,
             shipping_cents = $3, shipping_json = $4, updated_at_ms = $5
         WHERE id = $1 AND stock_state = 'held' RETURNING ",
        crate::order_columns!()
    ))
    .bind(a.order_id)
    .bind(&shipment_id)
    .bind(owed)
    .bind(&address_json)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    match order {
        Some(order) => {
            tx.commit().await?;
            Ok(Some(order))
        }
        None => {
            tx.rollback().await?;
            Ok(None)
        }
    }
}

pub async fn get(pool: &AnyPool, id: &str) -> Result<Option<ShipmentRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shipments WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A show's parcels holding at least one paid order, oldest first, with those orders.
pub async fn of_show(
    pool: &AnyPool,
    show_id: &str,
) -> Result<Vec<(ShipmentRow, Vec<OrderRow>)>, sqlx::Error> {
    let shipments: Vec<ShipmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shipments s WHERE s.show_id = $1
           AND EXISTS (SELECT 1 FROM orders o WHERE o.shipment_id = s.id AND o.status = 'paid')
         ORDER BY s.created_at_ms, s.id"
    )))
    .bind(show_id)
    .fetch_all(pool)
    .await?;
    let orders: Vec<OrderRow> = sqlx::query_as(concat!(
        "SELECT ",
        crate::order_columns!(),
        " FROM orders WHERE show_id = $1 AND shipment_id IS NOT NULL AND status = 'paid'
          ORDER BY paid_at_ms, id"
    ))
    .bind(show_id)
    .fetch_all(pool)
    .await?;
    let mut by_shipment: std::collections::HashMap<String, Vec<OrderRow>> = Default::default();
    for o in orders {
        by_shipment
            .entry(o.shipment_id.clone().unwrap_or_default())
            .or_default()
            .push(o);
    }
    Ok(shipments
        .into_iter()
        .map(|s| {
            let orders = by_shipment.remove(&s.id).unwrap_or_default();
            (s, orders)
        })
        .collect())
}

/// A parcel's paid orders, oldest payment first.
pub async fn paid_orders(pool: &AnyPool, shipment_id: &str) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        crate::order_columns!(),
        " FROM orders WHERE shipment_id = $1 AND status = 'paid' ORDER BY paid_at_ms, id"
    ))
    .bind(shipment_id)
    .fetch_all(pool)
    .await
}

/// Whether a parcel holds paid orders other than `order_id`.
pub async fn others_paid(
    pool: &AnyPool,
    shipment_id: &str,
    order_id: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE shipment_id = $1 AND id <> $2 AND status = 'paid'",
    )
    .bind(shipment_id)
    .bind(order_id)
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// What marking a parcel shipped came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Shipped {
    /// Marked shipped now; the buyer's notice is owed.
    Now,
    /// It had shipped already: carrier and tracking were corrected, no new notice.
    Corrected,
    /// Nothing paid is in it (cancelled meanwhile).
    Empty,
    NotFound,
}

/// Marks a parcel shipped with its carrier and tracking number and owes
/// the buyer the shipping notice, in one transaction.
pub async fn ship(
    pool: &AnyPool,
    shipment_id: &str,
    carrier: &str,
    tracking: &str,
) -> Result<Shipped, sqlx::Error> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE shipments SET status = 'shipped', carrier = $2, tracking = $3, shipped_at_ms = $4,
             updated_at_ms = $4
         WHERE id = $1 AND status = 'unshipped'
           AND EXISTS (SELECT 1 FROM orders o WHERE o.shipment_id = $1 AND o.status = 'paid')",
    )
    .bind(shipment_id)
    .bind(carrier)
    .bind(tracking)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        super::mail::enqueue(&mut *tx, super::mail::MailKind::Shipped, shipment_id).await?;
        tx.commit().await?;
        return Ok(Shipped::Now);
    }
    let corrected = sqlx::query(
        "UPDATE shipments SET carrier = $2, tracking = $3, updated_at_ms = $4
         WHERE id = $1 AND status = 'shipped'",
    )
    .bind(shipment_id)
    .bind(carrier)
    .bind(tracking)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if corrected.rows_affected() == 1 {
        return Ok(Shipped::Corrected);
    }
    Ok(match get(pool, shipment_id).await? {
        Some(_) => Shipped::Empty,
        None => Shipped::NotFound,
    })
}
