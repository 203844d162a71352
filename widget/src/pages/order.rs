//! The buyer's order page, opened from the link in their mail
//! (`/order/{id}?k=SIG`): status, what they bought, where it goes, and the
//! tracking number once it shipped. No password: the link's signature is
//! the key, read from the page's address and never stored.

use leptos::prelude::*;

use crate::api::Api;
use crate::state::price_text;

/// The `k` of the page's address.
pub fn link_key() -> String {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|p| p.get("k"))
        .unwrap_or_default()
}

fn status_words(status: &str) -> &'static str {
    match status {
        "paid" => "Paid",
        "refunded" => "Refunded",
        "pending" | "requires_action" => "Waiting for the payment",
        "failed" => "Payment failed",
        "expired" => "Not completed",
        _ => "Unknown",
    }
}

#[component]
pub fn OrderPage(api: Api, order_id: String, key: String) -> impl IntoView {
    // One fetch; a plain signal (a resource would bring its machinery
    // into the module every viewer loads).
    let receipt = RwSignal::new(None::<Result<serde_json::Value, ()>>);
    let path = format!("/api/v1/orders/{order_id}/receipt?k={key}");
    wasm_bindgen_futures::spawn_local(async move {
        let answer = api.call("GET", &path, None, None).await.map_err(|_| ());
        receipt.set(Some(answer));
    });
    view! {
        <main class="dc-order">
            {move || match receipt.get() {
                None => view! { <p class="dc-order-loading">"Loading your order…"</p> }.into_any(),
                Some(Err(_)) => view! {
                    <p class="dc-order-missing">"This link does not open an order. Use the link in your email."</p>
                }.into_any(),
                Some(Ok(r)) => {
                    let o = &r["order"];
                    let currency = o["currency"].as_str().unwrap_or("usd").to_string();
                    let money = |v: &serde_json::Value| price_text(v.as_i64().unwrap_or(0), &currency);
                    let address = o["shipping"].as_object().map(|a| {
                        ["name", "line1", "line2", "city", "region", "postal_code", "country"]
                            .iter()
                            .filter_map(|k| a.get(*k).and_then(|v| v.as_str()).map(str::to_string))
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join(", ")
                    });
                    let tracking = r["shipment"]["tracking"].as_str().map(|t| {
                        format!("{} {t}", r["shipment"]["carrier"].as_str().unwrap_or(""))
                    });
                    let shipped = r["shipment"]["status"] == "shipped";
                    view! {
                        <h1 class="dc-order-shop">{r["shop"].as_str().unwrap_or("").to_string()}</h1>
                        <p class="dc-order-status">{status_words(o["status"].as_str().unwrap_or(""))}
                            {if shipped { " · shipped" } else { "" }}</p>
                        <p class="dc-order-item">
                            {format!("{} × {}", o["quantity"], r["product"]["title"].as_str().unwrap_or(""))}
                            " — " {money(&o["items_cents"])}
                        </p>
                        <p class="dc-order-shipping">"Shipping " {money(&o["shipping_cents"])}</p>
                        <p class="dc-order-total">"Total " {money(&o["amount_cents"])}</p>
                        {(o["refunded_cents"].as_i64().unwrap_or(0) > 0).then(|| view! {
                            <p class="dc-order-refunded">"Refunded " {money(&o["refunded_cents"])}</p>
                        })}
                        {address.map(|a| view! { <p class="dc-order-address">"Ships to " {a}</p> })}
                        {tracking.map(|t| view! { <p class="dc-order-tracking">"Tracking: " {t}</p> })}
                        <p class="dc-order-number">"Order " {o["id"].as_str().unwrap_or("").to_string()}</p>
                    }.into_any()
                }
            }}
        </main>
    }
}
