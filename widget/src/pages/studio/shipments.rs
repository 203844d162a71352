//! After the show: the parcels, one per buyer (and per shipment: orders
//! made after one shipped open the next), with what goes in the box and
//! where it goes. The packing list downloads as the CSV a label tool
//! imports; tracking numbers come back one parcel at a time or as a CSV
//! for all of them. An unshipped order can be cancelled (refunded, its
//! units back in stock) and any paid order partly refunded.
//!
//! Everything comes from the REST API (`/shows/{show}/shipments`), fetched
//! again after each change, on each sale, and every few seconds.

use leptos::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;

use super::{Ctx, Refresh, keep_fresh, save_file, time_of_day};
use crate::desk::{parse_price, price_input};
use crate::state::price_text;

/// Carriers offered as you type (any name is accepted).
const CARRIERS: [&str; 8] = [
    "Royal Mail",
    "Evri",
    "DPD",
    "DHL",
    "UPS",
    "FedEx",
    "USPS",
    "La Poste",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Filter {
    ToShip,
    Shipped,
    All,
}

#[component]
pub fn Shipments(ctx: Ctx, open: Signal<bool>) -> impl IntoView {
    let parcels = RwSignal::new(Vec::<Value>::new());
    let loaded = RwSignal::new(false);
    // Fetched only while the tab is open: during a live sale every `sold`
    // frame would otherwise read every parcel of the show for nobody.
    let refresh = Refresh::new(move || async move {
        if !open.get_untracked() {
            return;
        }
        if let Ok(v) = ctx.call("GET", &ctx.show_path("/shipments"), None).await {
            parcels.set(v["shipments"].as_array().cloned().unwrap_or_default());
            loaded.set(true);
        }
    });
    keep_fresh(ctx, refresh.clone(), 10_000);
    {
        let refresh = refresh.clone();
        Effect::new(move |_| {
            if open.get() {
                refresh.poke();
            }
        });
    }
    let refresh = StoredValue::new_local(refresh);
    let on_change = move || refresh.with_value(|r| r.poke());
    let filter = RwSignal::new(Filter::ToShip);
    let count = move |status: &str| {
        parcels.with(|list| list.iter().filter(|p| p["status"] == status).count())
    };
    let shown = move || {
        let f = filter.get();
        parcels.with(|list| {
            list.iter()
                .filter(|p| match f {
                    Filter::ToShip => p["status"] == "unshipped",
                    Filter::Shipped => p["status"] == "shipped",
                    Filter::All => true,
                })
                .map(|p| {
                    // Keyed by what the row shows, so a change redraws it.
                    let key = format!("{}:{}", p["id"], p);
                    (key, p.clone())
                })
                .collect::<Vec<_>>()
        })
    };
    let chip = move |which: Filter,
                     label: &'static str,
                     n: Box<dyn Fn() -> usize + Send + Sync>| {
        view! {
            <button type="button" class="st-chip st-filter" aria-pressed=move || (filter.get() == which).to_string()
                on:click=move |_| filter.set(which)>
                {label}" "<span class="st-count">{move || n()}</span>
            </button>
        }
    };
    view! {
        <section class="st-panel st-shipments" aria-labelledby="st-ship-h">
            <h2 id="st-ship-h">"Shipments"</h2>
            <p class="st-note">
                "One parcel per buyer: their paid orders of this show go in one box, shipping charged once. "
                "Orders made after a parcel shipped start a new one."
            </p>
            <PackingTools ctx=ctx on_change=on_change />
            <div class="st-chips st-filters" role="group" aria-label="Show parcels">
                {chip(Filter::ToShip, "To ship", Box::new(move || count("unshipped")))}
                {chip(Filter::Shipped, "Shipped", Box::new(move || count("shipped")))}
                {chip(Filter::All, "All", Box::new(move || parcels.with(Vec::len)))}
            </div>
            <p class="st-note st-ship-empty" hidden=move || !loaded.get() || !shown().is_empty()>
                {move || match filter.get() {
                    Filter::ToShip if !parcels.with(Vec::is_empty) => "Everything has shipped.",
                    Filter::Shipped => "Nothing has shipped yet.",
                    _ => "No paid orders to ship yet.",
                }}
            </p>
            <ul class="st-parcels">
                <For each=shown key=|(key, _)| key.clone() let((_, parcel))>
                    <Parcel ctx=ctx parcel=parcel on_change=on_change />
                </For>
            </ul>
        </section>
    }
}

/// The packing list (download) and the tracking import (upload), both CSV.
#[component]
fn PackingTools(ctx: Ctx, on_change: impl Fn() + Copy + 'static) -> impl IntoView {
    let note = RwSignal::new(None::<(bool, String)>);
    let busy = RwSignal::new(false);
    let download = move |_| {
        note.set(None);
        leptos::task::spawn_local(async move {
            match ctx
                .call_text("GET", &ctx.show_path("/shipments.csv"), None)
                .await
            {
                Ok(csv) => {
                    let name = format!("dropcast-{}-packing-list.csv", ctx.show_id());
                    if !save_file(&name, "text/csv", &csv) {
                        note.set(Some((
                            false,
                            "This browser would not save the file.".into(),
                        )));
                    }
                }
                Err(e) => note.set(Some((false, e.message))),
            }
        });
    };
    let import = move |ev: web_sys::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        // The same file can be chosen again after a fix.
        input.set_value("");
        busy.set(true);
        note.set(None);
        leptos::task::spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|t| t.as_string());
            let Some(text) = text else {
                busy.set(false);
                return note.set(Some((false, "The file could not be read.".into())));
            };
            let path = ctx.show_path("/shipments/tracking");
            match ctx.call_text("POST", &path, Some(("text/csv", text))).await {
                Ok(answer) => {
                    let v: Value = serde_json::from_str(&answer).unwrap_or_default();
                    let (shipped, corrected) = (
                        v["shipped"].as_i64().unwrap_or(0),
                        v["corrected"].as_i64().unwrap_or(0),
                    );
                    let mut said = format!(
                        "{shipped} parcel{} marked shipped; each buyer is told.",
                        if shipped == 1 { "" } else { "s" }
                    );
                    if corrected > 0 {
                        said.push_str(&format!(" {corrected} tracking number(s) corrected."));
                    }
                    note.set(Some((true, said)));
                    on_change();
                }
                Err(e) => note.set(Some((false, e.message))),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="st-ship-tools">
            <button type="button" class="st-primary st-csv" on:click=download>"Download packing list (CSV)"</button>
            <label class="st-import" class:st-busy=move || busy.get()>
                <span>{move || if busy.get() { "Importing…" } else { "Import tracking numbers (CSV)" }}</span>
                <input type="file" class="st-import-file" accept=".csv,text/csv"
                    disabled=move || busy.get() on:change=import />
            </label>
        </div>
        <p class="st-note st-import-help">
            "The import reads the columns "<code>"shipment_id"</code>", "<code>"carrier"</code>" and "
            <code>"tracking"</code>" (the packing list has all three): fill in the last two and upload it. "
            "One bad row and nothing changes."
        </p>
        <p class="st-import-result" role="status" class:st-ok=move || note.get().is_some_and(|n| n.0)
            class:st-error=move || note.get().is_some_and(|n| !n.0) hidden=move || note.with(Option::is_none)>
            {move || note.get().map(|n| n.1).unwrap_or_default()}
        </p>
    }
}

/// The address as a label shows it, a line each.
fn address_lines(a: &Value) -> Vec<String> {
    let s = |k: &str| a[k].as_str().unwrap_or_default().trim().to_string();
    let mut lines = vec![s("name"), s("line1"), s("line2")];
    let town = [s("city"), s("region"), s("postal_code")]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    lines.push(town);
    lines.push(s("country"));
    lines.retain(|l| !l.is_empty());
    lines
}

#[component]
fn Parcel(ctx: Ctx, parcel: Value, on_change: impl Fn() + Copy + 'static) -> impl IntoView {
    let id = parcel["id"].as_str().unwrap_or_default().to_string();
    let shipped = parcel["status"] == "shipped";
    let currency = parcel["currency"].as_str().unwrap_or("usd").to_string();
    // The name heads the parcel; the rest of the label below it.
    let mut address = address_lines(&parcel["shipping"]);
    let name = if address.is_empty() {
        String::new()
    } else {
        address.remove(0)
    };
    let email = parcel["email"].as_str().unwrap_or_default().to_string();
    let orders = parcel["orders"].as_array().cloned().unwrap_or_default();
    let units: i64 = orders.iter().filter_map(|o| o["quantity"].as_i64()).sum();
    let lines: Vec<(Value, Value)> = parcel["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|item| {
            let order = orders
                .iter()
                .find(|o| o["id"] == item["order_id"])
                .cloned()
                .unwrap_or_default();
            (item, order)
        })
        .collect();
    let shipping = price_text(parcel["shipping_cents"].as_i64().unwrap_or(0), &currency);
    let total: i64 = orders
        .iter()
        .filter_map(|o| o["amount_cents"].as_i64())
        .sum();
    let sent = parcel["shipped_at_ms"].as_i64().map(time_of_day);
    let tracking = parcel["tracking"].as_str().unwrap_or_default().to_string();
    let carrier = parcel["carrier"].as_str().unwrap_or_default().to_string();
    let count = format!("{units} item{}", if units == 1 { "" } else { "s" });
    let form_id = id.clone();
    view! {
        <li class="st-parcel" data-shipment=id data-status=if shipped { "shipped" } else { "unshipped" }>
            <div class="st-parcel-head">
                <h3 class="st-parcel-name">{name}</h3>
                <span class="st-parcel-facts">
                    <span class="st-parcel-count">{count}</span>
                    <span class=format!("st-badge {}", if shipped { "st-s-shipped" } else { "st-s-unshipped" })>
                        {if shipped { "Shipped" } else { "To ship" }}
                    </span>
                </span>
            </div>
            <div class="st-parcel-body">
                <address class="st-addr">
                    {address.into_iter().map(|l| view! { <span>{l}</span> }).collect_view()}
                    <a class="st-email" href=format!("mailto:{email}")>{email.clone()}</a>
                </address>
                <ul class="st-items">
                    {lines.into_iter().map(|(item, order)| view! {
                        <ParcelLine ctx=ctx item=item order=order shipped=shipped on_change=on_change />
                    }).collect_view()}
                </ul>
            </div>
            <p class="st-parcel-sum">
                "Shipping "<strong>{shipping}</strong>" · charged in all "<strong>{price_text(total, &currency)}</strong>
            </p>
            {shipped.then(|| view! {
                <p class="st-tracking">
                    {format!("Sent {} · {carrier} ", sent.clone().unwrap_or_default())}
                    <code class="st-tracking-no">{tracking.clone()}</code>
                </p>
            })}
            <ShipForm ctx=ctx id=form_id shipped=shipped carrier=carrier tracking=tracking on_change=on_change />
        </li>
    }
}

/// "Mark shipped" (or, once shipped, a correction of its tracking number,
/// which sends no second notice).
#[component]
fn ShipForm(
    ctx: Ctx,
    id: String,
    shipped: bool,
    carrier: String,
    tracking: String,
    on_change: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let carrier = RwSignal::new(carrier);
    let tracking = RwSignal::new(tracking);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let open = RwSignal::new(!shipped);
    let list_id = format!("st-carriers-{id}");
    let submit = {
        let id = id.clone();
        move |ev: web_sys::SubmitEvent| {
            ev.prevent_default();
            busy.set(true);
            error.set(None);
            let path = format!("/api/v1/shipments/{id}/ship");
            let body = json!({
                "carrier": carrier.get_untracked().trim(),
                "tracking": tracking.get_untracked().trim(),
            });
            leptos::task::spawn_local(async move {
                match ctx.call("POST", &path, Some(body)).await {
                    Ok(_) => on_change(),
                    Err(e) => {
                        error.set(Some(e.message));
                        busy.set(false);
                    }
                }
            });
        }
    };
    view! {
        <button type="button" class="st-link st-correct" hidden=move || open.get()
            on:click=move |_| open.set(true)>"Correct the tracking number"</button>
        <form class="st-ship-form" hidden=move || !open.get() on:submit=submit>
            <label class="st-field">"Carrier"
                <input class="st-carrier" type="text" required maxlength="40" list=list_id.clone()
                    autocomplete="off" prop:value=move || carrier.get()
                    on:input=move |ev| carrier.set(event_target_value(&ev)) />
            </label>
            <datalist id=list_id>
                {CARRIERS.iter().map(|c| view! { <option value=*c></option> }).collect_view()}
            </datalist>
            <label class="st-field">"Tracking number"
                <input class="st-tracking-in" type="text" required minlength="4" maxlength="64"
                    autocomplete="off" autocapitalize="characters" spellcheck="false"
                    prop:value=move || tracking.get() on:input=move |ev| tracking.set(event_target_value(&ev)) />
            </label>
            <button type="submit" class="st-primary st-ship" disabled=move || busy.get()>
                {move || match (busy.get(), shipped) {
                    (true, _) => "Saving…",
                    (false, true) => "Save tracking",
                    (false, false) => "Mark shipped",
                }}
            </button>
        </form>
        <p class="st-error" role="alert" hidden=move || error.with(Option::is_none)>
            {move || error.get().unwrap_or_default()}
        </p>
    }
}

/// What the order line's buttons are doing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    None,
    ConfirmCancel,
    Refunding,
    Busy,
}

/// One order in the box: "2 × Neon hoodie", what it was charged and
/// refunded, and Cancel (unshipped) or a partial refund.
#[component]
fn ParcelLine(
    ctx: Ctx,
    item: Value,
    order: Value,
    shipped: bool,
    on_change: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let order_id = item["order_id"].as_str().unwrap_or_default().to_string();
    let currency = order["currency"].as_str().unwrap_or("usd").to_string();
    let amount = order["amount_cents"].as_i64().unwrap_or(0);
    let refunded = order["refunded_cents"].as_i64().unwrap_or(0);
    let left = amount - refunded;
    let action = RwSignal::new(Action::None);
    let error = RwSignal::new(None::<String>);
    let part = RwSignal::new(price_input(left.clamp(0, 500)));
    let post = move |path: String, body: Option<Value>| {
        action.set(Action::Busy);
        error.set(None);
        leptos::task::spawn_local(async move {
            match ctx.call("POST", &path, body).await {
                Ok(answer) => {
                    if answer["refund_pending"] == true {
                        error.set(Some(
                            "Stripe is not answering: the refund is queued and lands once it does."
                                .into(),
                        ));
                    }
                    action.set(Action::None);
                    on_change();
                }
                Err(e) => {
                    error.set(Some(e.message));
                    action.set(Action::None);
                }
            }
        });
    };
    let cancel = {
        let order_id = order_id.clone();
        move |_| {
            if action.get_untracked() != Action::ConfirmCancel {
                return action.set(Action::ConfirmCancel);
            }
            post(format!("/api/v1/orders/{order_id}/cancel"), None);
        }
    };
    let refund = {
        let order_id = order_id.clone();
        move |ev: web_sys::SubmitEvent| {
            ev.prevent_default();
            match parse_price(&part.get_untracked()) {
                Ok(cents) if cents > 0 => post(
                    format!("/api/v1/orders/{order_id}/refund"),
                    Some(json!({"amount_cents": cents})),
                ),
                Ok(_) => error.set(Some("Refund more than nothing.".into())),
                Err(why) => error.set(Some(why)),
            }
        }
    };
    let what = format!(
        "{} × {}",
        item["quantity"].as_i64().unwrap_or(0),
        item["title"].as_str().unwrap_or_default()
    );
    let sku = item["sku"].as_str().unwrap_or_default().to_string();
    // The items alone: the parcel's shipping is summed below it.
    let charged = price_text(order["items_cents"].as_i64().unwrap_or(amount), &currency);
    let refunded_text =
        (refunded > 0).then(|| format!("{} refunded", price_text(refunded, &currency)));
    view! {
        <li class="st-item" data-order=order_id>
            <div class="st-item-row">
                <span class="st-item-what">{what}" "<span class="st-sku">{sku}</span></span>
                <span class="st-oamount">{charged}</span>
            </div>
            {refunded_text.map(|t| view! { <div class="st-refunded">{t}</div> })}
            <div class="st-item-actions" hidden=move || left <= 0>
                {(!shipped).then(|| view! {
                    <button type="button" class="st-cancel" class:st-confirm=move || action.get() == Action::ConfirmCancel
                        disabled=move || action.get() == Action::Busy on:click=cancel>
                        {move || if action.get() == Action::ConfirmCancel { "Confirm: refund and restock" } else { "Cancel order" }}
                    </button>
                })}
                <button type="button" class="st-link st-partial" hidden=move || action.get() == Action::Refunding
                    on:click=move |_| action.set(Action::Refunding)>"Partial refund…"</button>
                <form class="st-inline st-partial-form" hidden=move || action.get() != Action::Refunding on:submit=refund>
                    <input class="st-partial-in" inputmode="decimal" aria-label="Amount to refund"
                        prop:value=move || part.get() on:input=move |ev| part.set(event_target_value(&ev)) />
                    <button type="submit" class="st-refund">"Refund"</button>
                    <button type="button" class="st-link" on:click=move |_| action.set(Action::None)>"Keep"</button>
                </form>
            </div>
            <p class="st-error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get().unwrap_or_default()}
            </p>
        </li>
    }
}
