//! How the show sells: the live figures with a chart of units per minute,
//! and the order feed, where a paid order can be refunded (through Stripe,
//! the units go back in stock).
//!
//! Both come from the REST API, fetched again when a sale arrives on the
//! socket (coalesced, see [`Refresh`]), after a reconnect, and every few
//! seconds besides (a refund or an expired hold sends no `sold` frame).

use leptos::prelude::*;
use serde_json::Value;

use super::{Ctx, Refresh, keep_fresh, time_of_day};
use crate::desk::{bars, owed_text};
use crate::state::price_text;

/// The show's currency for totals (its first product's; usd without any).
fn currency(ctx: Ctx) -> String {
    ctx.live.state.with(|s| {
        s.as_ref()
            .and_then(|s| s.products.first().map(|p| p.currency.clone()))
            .unwrap_or_else(|| "usd".into())
    })
}

/// One figure of the stats.
fn tile(
    label: &'static str,
    class: &'static str,
    value: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="st-tile">
            <div class=format!("st-figure {class}")>{value}</div>
            <div class="st-tlabel">{label}</div>
        </div>
    }
}

#[component]
pub fn Stats(ctx: Ctx) -> impl IntoView {
    let live = ctx.live;
    let stats = RwSignal::new(None::<Value>);
    let refresh = Refresh::new(move || async move {
        if let Ok(v) = ctx.call("GET", &ctx.show_path("/stats"), None).await {
            stats.set(Some(v));
        }
    });
    keep_fresh(ctx, refresh, 5_000);

    let num = move |key: &'static str| stats.with(|s| s.as_ref().and_then(|s| s[key].as_f64()));
    let viewers_now = move || live.state.with(|s| s.as_ref().map_or(0, |s| s.viewers));
    let series = move || {
        stats.with(|s| {
            s.as_ref()
                .and_then(|s| s["series"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|p| p["units"].as_i64().unwrap_or(0))
                .collect::<Vec<_>>()
        })
    };
    let owed = move || {
        stats.with(|s| {
            s.as_ref()
                .and_then(|s| s["owed"].as_array().cloned())
                .unwrap_or_default()
        })
    };
    let chart_label = move || {
        let units = series();
        format!(
            "Units sold per minute over the last 30 minutes: {} in all, {} in the busiest minute.",
            units.iter().sum::<i64>(),
            units.iter().max().copied().unwrap_or(0)
        )
    };
    view! {
        <section class="st-panel" aria-labelledby="st-stats-h">
            <h2 id="st-stats-h">"Live stats"</h2>
            <div class="st-tiles">
                {tile("watching now", "st-f-viewers", move || viewers_now().to_string())}
                {tile("peak viewers", "st-f-peak", move || {
                    let peak = num("viewers_peak").unwrap_or(0.0) as u64;
                    peak.max(viewers_now()).to_string()
                })}
                {tile("units sold", "st-f-units", move || format!("{}", num("units_sold").unwrap_or(0.0)))}
                {tile("revenue", "st-f-revenue", move || {
                    price_text(num("revenue_cents").unwrap_or(0.0) as i64, &currency(ctx))
                })}
                {tile("orders per 1,000 viewers", "st-f-conversion", move || {
                    format!("{:.1}", num("conversion_per_1k_viewers").unwrap_or(0.0))
                })}
                {tile("median seconds to checkout", "st-f-checkout", move || {
                    num("median_seconds_to_checkout").map_or("—".into(), |s| format!("{s:.1} s"))
                })}
            </div>
            <div class="st-owed" role="region" aria-labelledby="st-owed-h" hidden=move || owed().is_empty()>
                <h3 id="st-owed-h">"Still owed to buyers"</h3>
                <ul>
                    {move || owed().into_iter().map(|o| view! {
                        <li class="st-owed-row" data-order=o["order_id"].as_str().unwrap_or_default().to_string()>
                            {owed_text(&o)}
                        </li>
                    }).collect_view()}
                </ul>
            </div>
            <figure class="st-chart">
                <svg viewBox="0 0 300 64" preserveAspectRatio="none" role="img" aria-label=chart_label>
                    <line x1="0" y1="63.5" x2="300" y2="63.5" class="st-axis" />
                    {move || bars(&series(), 300.0, 60.0).into_iter().map(|b| view! {
                        <rect class="st-bar" x=b.x y=b.y + 3.0 width=b.width height=b.height rx="1" />
                    }).collect_view()}
                </svg>
                <figcaption>
                    <span>"30 min ago"</span>
                    <span>"Units sold per minute"</span>
                    <span>"now"</span>
                </figcaption>
            </figure>
        </section>
    }
}

/// How an order's status reads in the feed.
fn status_text(status: &str) -> &str {
    match status {
        "paid" => "Paid",
        "pending" => "Pending",
        "requires_action" => "Awaiting bank",
        "failed" => "Declined",
        "expired" => "Expired",
        "refunded" => "Refunded",
        other => other,
    }
}

#[component]
pub fn Orders(ctx: Ctx) -> impl IntoView {
    let orders = RwSignal::new(Vec::<Value>::new());
    let loaded = RwSignal::new(false);
    let refresh = Refresh::new(move || async move {
        if let Ok(v) = ctx.call("GET", &ctx.show_path("/orders"), None).await {
            let mut list = v["orders"].as_array().cloned().unwrap_or_default();
            list.truncate(50);
            orders.set(list);
            loaded.set(true);
        }
    });
    keep_fresh(ctx, refresh.clone(), 5_000);
    let refresh = StoredValue::new_local(refresh);
    let rows = move || {
        orders.with(|list| {
            list.iter()
                .map(|o| {
                    (
                        o["id"].as_str().unwrap_or_default().to_string(),
                        o["status"].as_str().unwrap_or_default().to_string(),
                        o.clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="st-panel" aria-labelledby="st-orders-h">
            <h2 id="st-orders-h">"Orders"</h2>
            <p class="st-note" hidden=move || !loaded.get() || !orders.with(Vec::is_empty)>"No orders yet."</p>
            <ul class="st-orders">
                <For each=rows key=|(id, status, _)| (id.clone(), status.clone()) let((_, _, order))>
                    <OrderRow ctx=ctx order=order on_change=move || refresh.with_value(|r| r.poke()) />
                </For>
            </ul>
        </section>
    }
}

#[component]
fn OrderRow(ctx: Ctx, order: Value, on_change: impl Fn() + Copy + 'static) -> impl IntoView {
    let id = order["id"].as_str().unwrap_or_default().to_string();
    let status = order["status"].as_str().unwrap_or_default().to_string();
    let product_id = order["product_id"].as_str().unwrap_or_default().to_string();
    let title = ctx.live.state.with_untracked(|s| {
        s.as_ref()
            .and_then(|s| s.product(&product_id).map(|p| p.title.clone()))
            .unwrap_or(product_id.clone())
    });
    let quantity = order["quantity"].as_i64().unwrap_or(0);
    let amount = price_text(
        order["amount_cents"].as_i64().unwrap_or(0),
        order["currency"].as_str().unwrap_or("usd"),
    );
    let at = order["paid_at_ms"]
        .as_i64()
        .or(order["created_at_ms"].as_i64())
        .map(time_of_day)
        .unwrap_or_default();
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let refundable = status == "paid";
    // Asked for while Stripe was down: owed, landing later.
    let pending = RwSignal::new(false);
    let refund = {
        let id = id.clone();
        move |_| {
            if !confirming.get_untracked() {
                confirming.set(true);
                return;
            }
            busy.set(true);
            let path = format!("/api/v1/orders/{id}/refund");
            leptos::task::spawn_local(async move {
                match ctx.call("POST", &path, None).await {
                    Ok(answer) => {
                        if answer["refund_pending"] == true {
                            pending.set(true);
                        }
                        on_change()
                    }
                    Err(e) => {
                        error.set(Some(e.message));
                        busy.set(false);
                        confirming.set(false);
                    }
                }
            });
        }
    };
    view! {
        <li class="st-order" data-order=id data-status=status.clone()>
            <span class="st-otime">{at}</span>
            <span class="st-oitem">{format!("{quantity} × {title}")}</span>
            <span class="st-oamount">{amount}</span>
            <span class=format!("st-badge st-s-{status}")>{status_text(&status).to_string()}</span>
            {refundable.then(|| view! {
                <button type="button" class="st-refund" class:st-confirm=move || confirming.get()
                    disabled=move || busy.get() || pending.get() on:click=refund>
                    {move || if pending.get() { "Refund pending" } else if busy.get() { "Refunding…" } else if confirming.get() { "Confirm refund" } else { "Refund" }}
                </button>
            })}
            <span class="st-error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get().unwrap_or_default()}
            </span>
        </li>
    }
}
