//! `GET /api/v1/shows/{show}/stats` (creator): how the show sells.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use wire::CountdownKind;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::owned_show;
use crate::state::AppState;
use crate::store;
use crate::store::orders::PaidOrder;

#[derive(Debug, Serialize, PartialEq)]
pub struct Stats {
    pub units_sold: i64,
    pub revenue_cents: i64,
    /// Paid orders.
    pub orders: i64,
    /// Sockets on the show now (this process).
    pub viewers_now: u64,
    /// Most sockets at once since the show began.
    pub viewers_peak: i64,
    /// Paid orders per 1,000 viewers at peak.
    pub conversion_per_1k_viewers: f64,
    /// Median time from a product being pinned or its drop opening (whichever
    /// came last before the payment) to the order being paid.
    pub median_seconds_to_checkout: Option<f64>,
    /// From the latest drop that has opened to the first order paid after it.
    pub time_to_first_order_ms: Option<i64>,
    /// Sales minute by minute over the last half hour, oldest first, for
    /// the studio's chart.
    pub series: Vec<SalesPoint>,
}

/// The sales of one minute.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SalesPoint {
    /// Start of the minute (server clock).
    pub at_ms: i64,
    pub units: i64,
    pub revenue_cents: i64,
}

/// Width of one point of the series.
pub const SERIES_STEP_MS: i64 = 60_000;
/// Points in the series.
pub const SERIES_POINTS: usize = 30;

pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = owned_show(&state, &caller, &path).await?;
    let products = store::products_of_show(&state.pool, &show.id).await?;
    let paid = store::orders::paid_orders_of_show(&state.pool, &show.id).await?;
    let pins = store::pins_of_show(&state.pool, &show.id).await?;
    let countdowns = store::countdowns_of_show(&state.pool, &show.id).await?;
    let viewers_peak = store::viewers_peak(&state.pool, &show.id).await?;
    let viewers_now = state.hub.viewers(&show.id).await;
    let stats = compute(
        &products.iter().map(|p| p.sold).collect::<Vec<_>>(),
        &paid,
        &pins,
        &countdowns,
        viewers_now,
        viewers_peak.max(viewers_now as i64),
        crate::now_ms(),
    );
    let owed = store::outbox::owed_of_show(&state.pool, &show.id).await?;
    let clips = store::clips::sales_by_clip(&state.pool, &show.id).await?;
    let notices = store::announcements::notice_stats(&state.pool, &show.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(StatsView {
            stats,
            owed,
            clips,
            notices,
        }))
}

/// The stats with what the show still owes buyers at Stripe.
#[derive(Serialize)]
struct StatsView {
    #[serde(flatten)]
    stats: Stats,
    /// Refunds not confirmed by Stripe yet (`pending`) or refused (`failed`).
    owed: Vec<store::outbox::Owed>,
    /// Each finished clip: views of its page, taps on its product, and the
    /// paid orders, units and revenue placed from it.
    clips: Vec<store::clips::ClipSales>,
    /// Each notice: sent, delivered, clicked, time to first click, orders.
    notices: Vec<store::announcements::NoticeStats>,
}

/// The arithmetic, apart from the database so it can be tested on its own.
/// `paid` is ordered by payment.
pub fn compute(
    sold: &[i64],
    paid: &[PaidOrder],
    pins: &[(Option<String>, i64)],
    countdowns: &[wire::Countdown],
    viewers_now: u64,
    viewers_peak: i64,
    now_ms: i64,
) -> Stats {
    let orders = paid.len() as i64;
    let conversion = if viewers_peak > 0 {
        orders as f64 * 1000.0 / viewers_peak as f64
    } else {
        0.0
    };
    let mut durations: Vec<i64> = paid
        .iter()
        .filter_map(|order| {
            let (product, paid_at) = (&order.product_id, &order.paid_at_ms);
            let pinned = pins
                .iter()
                .filter(|(p, at)| p.as_deref() == Some(product.as_str()) && at <= paid_at)
                .map(|(_, at)| *at);
            let opened = drop_times(countdowns, product).filter(|at| at <= paid_at);
            let start = pinned.chain(opened).max()?;
            Some(paid_at - start)
        })
        .collect();
    durations.sort_unstable();
    let median = match durations.len() {
        0 => None,
        n if n % 2 == 1 => Some(durations[n / 2] as f64 / 1000.0),
        n => Some((durations[n / 2 - 1] + durations[n / 2]) as f64 / 2000.0),
    };
    let latest_drop = countdowns
        .iter()
        .filter(|c| c.kind == CountdownKind::DropOpens && c.ends_at_ms <= now_ms)
        .max_by_key(|c| c.ends_at_ms);
    let time_to_first_order_ms = latest_drop.and_then(|drop| {
        paid.iter()
            .filter(|o| {
                o.paid_at_ms >= drop.ends_at_ms
                    && drop.product_id.as_deref().is_none_or(|p| p == o.product_id)
            })
            .map(|o| o.paid_at_ms - drop.ends_at_ms)
            .min()
    });
    Stats {
        units_sold: sold.iter().sum(),
        revenue_cents: paid.iter().map(|o| o.amount_cents).sum(),
        orders,
        viewers_now,
        viewers_peak,
        conversion_per_1k_viewers: conversion,
        median_seconds_to_checkout: median,
        time_to_first_order_ms,
        series: series(paid, now_ms),
    }
}

/// Units and revenue per minute for the [`SERIES_POINTS`] minutes up to
/// and including the current one.
fn series(paid: &[PaidOrder], now_ms: i64) -> Vec<SalesPoint> {
    let last = now_ms.div_euclid(SERIES_STEP_MS) * SERIES_STEP_MS;
    let first = last - (SERIES_POINTS as i64 - 1) * SERIES_STEP_MS;
    let mut points: Vec<SalesPoint> = (0..SERIES_POINTS as i64)
        .map(|i| SalesPoint {
            at_ms: first + i * SERIES_STEP_MS,
            units: 0,
            revenue_cents: 0,
        })
        .collect();
    for order in paid {
        if order.paid_at_ms < first || order.paid_at_ms >= last + SERIES_STEP_MS {
            continue;
        }
        let point = &mut points[((order.paid_at_ms - first) / SERIES_STEP_MS) as usize];
        point.units += order.quantity;
        point.revenue_cents += order.amount_cents;
    }
    points
}

/// When each drop covering `product` opens.
fn drop_times<'a>(
    countdowns: &'a [wire::Countdown],
    product: &'a str,
) -> impl Iterator<Item = i64> + 'a {
    countdowns
        .iter()
        .filter(|c| c.kind == CountdownKind::DropOpens)
        .filter(move |c| c.product_id.as_deref().is_none_or(|p| p == product))
        .map(|c| c.ends_at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_at(product: Option<&str>, ends_at_ms: i64) -> wire::Countdown {
        wire::Countdown {
            id: "cd".into(),
            kind: CountdownKind::DropOpens,
            product_id: product.map(str::to_string),
            label: None,
            ends_at_ms,
            set_at_ms: None,
            hold_seconds: None,
        }
    }

    fn paid(product: &str, quantity: i64, paid_at_ms: i64, amount_cents: i64) -> PaidOrder {
        PaidOrder {
            product_id: product.into(),
            quantity,
            amount_cents,
            created_at_ms: 0,
            paid_at_ms,
        }
    }

    #[test]
    fn the_series_counts_each_minute_of_the_last_half_hour() {
        let now = 100 * SERIES_STEP_MS + 5_000;
        let paid = vec![
            paid("a", 5, 60 * SERIES_STEP_MS, 100), // before the window
            paid("a", 2, 71 * SERIES_STEP_MS, 300), // the first minute shown
            paid("b", 1, 71 * SERIES_STEP_MS + 59_999, 50),
            paid("a", 3, 100 * SERIES_STEP_MS + 1, 900), // the current minute
        ];
        let s = compute(&[10, 1], &paid, &[], &[], 0, 0, now);
        assert_eq!(s.series.len(), SERIES_POINTS);
        assert_eq!(
            s.series[0],
            SalesPoint {
                at_ms: 71 * SERIES_STEP_MS,
                units: 3,
                revenue_cents: 350
            }
        );
        assert_eq!(s.series[29].at_ms, 100 * SERIES_STEP_MS);
        assert_eq!((s.series[29].units, s.series[29].revenue_cents), (3, 900));
        let counted: i64 = s.series.iter().map(|p| p.units).sum();
        assert_eq!(counted, 6);
    }

    #[test]
    fn nothing_sold_is_all_zero_and_none() {
        let s = compute(&[0, 0], &[], &[], &[], 0, 0, 1000);
        assert_eq!((s.units_sold, s.revenue_cents, s.orders), (0, 0, 0));
        assert_eq!(s.conversion_per_1k_viewers, 0.0);
        assert_eq!(s.median_seconds_to_checkout, None);
        assert_eq!(s.time_to_first_order_ms, None);
    }

    #[test]
    fn checkout_time_runs_from_the_latest_pin_or_drop_before_payment() {
        let paid = vec![
            paid("a", 1, 10_000, 500), // pinned at 4_000 → 6 s
            paid("a", 1, 30_000, 500), // re-pinned at 20_000 → 10 s
            paid("b", 1, 50_000, 700), // drop opened at 48_000 → 2 s
        ];
        let pins = vec![
            (Some("a".to_string()), 4_000),
            (Some("a".to_string()), 20_000),
        ];
        let drops = vec![drop_at(Some("b"), 48_000)];
        let s = compute(&[2, 1], &paid, &pins, &drops, 40, 200, 60_000);
        assert_eq!(s.units_sold, 3);
        assert_eq!(s.revenue_cents, 1700);
        assert_eq!(s.orders, 3);
        assert_eq!(s.conversion_per_1k_viewers, 15.0);
        assert_eq!(s.median_seconds_to_checkout, Some(6.0));
        assert_eq!(s.time_to_first_order_ms, Some(2_000));
    }

    #[test]
    fn a_drop_not_yet_open_has_no_first_order() {
        let s = compute(&[0], &[], &[], &[drop_at(None, 99_000)], 0, 0, 1_000);
        assert_eq!(s.time_to_first_order_ms, None);
    }
}
