//! `GET /api/v1/shows/{show}/stats` (creator): how the show sells.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use wire::CountdownKind;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::owned_show;
use crate::startup::AppState;
use crate::store;

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
}

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
    let viewers_now = state.hub.viewers(&show.id);
    let stats = compute(
        &products.iter().map(|p| p.sold).collect::<Vec<_>>(),
        &paid,
        &pins,
        &countdowns,
        viewers_now,
        viewers_peak.max(viewers_now as i64),
        crate::now_ms(),
    );
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(stats))
}

/// The arithmetic, apart from the database so it can be tested on its own.
/// `paid` is `(product_id, created_at_ms, paid_at_ms, amount_cents)` ordered by payment.
pub fn compute(
    sold: &[i64],
    paid: &[(String, i64, i64, i64)],
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
        .filter_map(|(product, _, paid_at, _)| {
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
            .filter(|(product, _, paid_at, _)| {
                *paid_at >= drop.ends_at_ms
                    && drop.product_id.as_deref().is_none_or(|p| p == product)
            })
            .map(|(_, _, paid_at, _)| paid_at - drop.ends_at_ms)
            .min()
    });
    Stats {
        units_sold: sold.iter().sum(),
        revenue_cents: paid.iter().map(|(_, _, _, amount)| amount).sum(),
        orders,
        viewers_now,
        viewers_peak,
        conversion_per_1k_viewers: conversion,
        median_seconds_to_checkout: median,
        time_to_first_order_ms,
    }
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
        }
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
            ("a".to_string(), 0, 10_000, 500), // pinned at 4_000 → 6 s
            ("a".to_string(), 0, 30_000, 500), // re-pinned at 20_000 → 10 s
            ("b".to_string(), 0, 50_000, 700), // drop opened at 48_000 → 2 s
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
