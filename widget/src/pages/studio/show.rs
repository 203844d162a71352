//! Running the show: products (create, restock, price, pin, edit, archive),
//! countdowns, and the show's own settings (flat shipping, delete).
//! Every change goes to the API; what the page shows comes back on the live
//! socket, the same frames the widget and the overlay get, so the studio
//! shows what the viewers see.

use leptos::prelude::*;
use serde_json::{Value, json};
use wire::{CountdownKind, Fulfilment, Product};

use super::{Ctx, ProductSelect};
use crate::desk::{parse_price, price_input};
use crate::state::{countdown_text, price_text};

/// An error line under a form, empty when all is well.
fn error_line(error: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <p class="st-error" role="alert" hidden=move || error.with(Option::is_none)>
            {move || error.get().unwrap_or_default()}
        </p>
    }
}

/// Sends a change; on success runs `done`, on refusal shows the server's words.
fn send(
    ctx: Ctx,
    method: &'static str,
    path: String,
    body: Value,
    error: RwSignal<Option<String>>,
    done: impl FnOnce(Value) + 'static,
) {
    error.set(None);
    leptos::task::spawn_local(async move {
        match ctx.call(method, &path, Some(body)).await {
            Ok(v) => done(v),
            Err(e) => error.set(Some(e.message)),
        }
    });
}

#[component]
pub fn Products(ctx: Ctx) -> impl IntoView {
    let live = ctx.live;
    let ids = move || {
        live.state.with(|s| {
            s.as_ref()
                .map(|s| s.products.iter().map(|p| p.id.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    view! {
        <section class="st-panel" aria-labelledby="st-products-h">
            <h2 id="st-products-h">"Products"</h2>
            <p class="st-note" hidden=move || !ids().is_empty()>"No products yet: add the first below."</p>
            <ul class="st-products">
                <For each=ids key=|id| id.clone() let(id)>
                    <ProductRow ctx=ctx id=id />
                </For>
            </ul>
            <NewProduct ctx=ctx />
        </section>
    }
}

#[component]
fn ProductRow(ctx: Ctx, id: String) -> impl IntoView {
    let live = ctx.live;
    let id = StoredValue::new(id);
    let product = move || {
        live.state.with(|s| {
            s.as_ref()
                .and_then(|s| id.with_value(|id| s.product(id).cloned()))
        })
    };
    let pinned = move || {
        live.state.with(|s| {
            s.as_ref()
                .is_some_and(|s| id.with_value(|id| s.pinned.as_deref() == Some(id)))
        })
    };
    let error = RwSignal::new(None::<String>);
    let add = RwSignal::new("10".to_string());
    let price = RwSignal::new(
        product()
            .map(|p| price_input(p.price_cents))
            .unwrap_or_default(),
    );
    let field =
        |p: Option<Product>, f: fn(&Product) -> String| p.as_ref().map(f).unwrap_or_default();

    let toggle_pin = move |_| {
        let body = if pinned() {
            json!({"product_id": null})
        } else {
            json!({"product_id": id.get_value()})
        };
        send(ctx, "PUT", ctx.show_path("/pin"), body, error, |_| ());
    };
    let restock = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let Ok(n) = add.get_untracked().trim().parse::<i64>() else {
            error.set(Some(
                "Stock to add is a whole number, like 10 (or -2 to take some away).".into(),
            ));
            return;
        };
        let path = ctx.show_path(&format!("/products/{}", id.get_value()));
        send(ctx, "PATCH", path, json!({"add_stock": n}), error, |_| ());
    };
    let set_price = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        match parse_price(&price.get_untracked()) {
            Ok(cents) => {
                let path = ctx.show_path(&format!("/products/{}", id.get_value()));
                send(
                    ctx,
                    "PATCH",
                    path,
                    json!({"price_cents": cents}),
                    error,
                    |_| (),
                );
            }
            Err(why) => error.set(Some(why)),
        }
    };
    view! {
        <li class="st-product" data-product=id.get_value() class:st-pinned=pinned>
            <div class="st-prow">
                <div class="st-pinfo">
                    <span class="st-ptitle">{move || field(product(), |p| p.title.clone())}</span>
                    <span class="st-sku">{move || field(product(), |p| p.sku.clone())}</span>
                    <span class="st-pprice">{move || field(product(), |p| price_text(p.price_cents, &p.currency))}</span>
                </div>
                <button type="button" class="st-pin" aria-pressed=move || pinned().to_string() on:click=toggle_pin>
                    {move || if pinned() { "Pinned ✓" } else { "Pin" }}
                </button>
            </div>
            <div class="st-figs">
                <span class="st-available">{move || product().map_or(0, |p| p.available)}</span>" available · "
                <span class="st-sold">{move || product().map_or(0, |p| p.sold)}</span>" sold"
            </div>
            <div class="st-pforms">
                <form class="st-inline" on:submit=restock>
                    <input class="st-restock-n" type="number" step="1" aria-label="Units to add"
                        prop:value=move || add.get() on:input=move |ev| add.set(event_target_value(&ev)) />
                    <button type="submit" class="st-restock">"Add stock"</button>
                </form>
                <form class="st-inline" on:submit=set_price>
                    <input class="st-price-in" inputmode="decimal" aria-label="Price"
                        prop:value=move || price.get() on:input=move |ev| price.set(event_target_value(&ev)) />
                    <button type="submit" class="st-setprice">"Set price"</button>
                </form>
            </div>
            <ProductEdit ctx=ctx id=id.get_value() />
            {error_line(error)}
        </li>
    }
}

/// "Edit" under a product: its title, whether it ships and at what price,
/// the limit per buyer, and archiving it (off the show, its orders kept).
#[component]
fn ProductEdit(ctx: Ctx, id: String) -> impl IntoView {
    let live = ctx.live;
    let id = StoredValue::new(id);
    let now = move || {
        live.state.with_untracked(|s| {
            s.as_ref()
                .and_then(|s| id.with_value(|id| s.product(id).cloned()))
        })
    };
    let title = RwSignal::new(String::new());
    let ships = RwSignal::new(true);
    let shipping = RwSignal::new(String::new());
    let max = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let archiving = RwSignal::new(false);
    let uploading = RwSignal::new(false);
    let picture = move || {
        live.state.with(|s| {
            s.as_ref().and_then(|s| {
                id.with_value(|id| {
                    s.product(id)
                        .and_then(|p| p.thumb_url.clone().or(p.image_url.clone()))
                })
            })
        })
    };
    // A picture from the creator's computer: sent as it is; the server
    // checks it, resizes it, and tells every viewer.
    let upload = move |ev: web_sys::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        input.set_value("");
        error.set(None);
        uploading.set(true);
        let path = ctx.show_path(&format!("/products/{}/image", id.get_value()));
        wasm_bindgen_futures::spawn_local(async move {
            let done = ctx.upload("PUT", &path, &file).await;
            uploading.set(false);
            if let Err(e) = done {
                error.set(Some(e.message));
            }
        });
    };
    let remove_picture = move |_| {
        send(
            ctx,
            "DELETE",
            ctx.show_path(&format!("/products/{}/image", id.get_value())),
            Value::Null,
            error,
            |_| (),
        );
    };
    // The form opens on what the product is now.
    let fill = move || {
        if let Some(p) = now() {
            title.set(p.title.clone());
            ships.set(p.fulfilment == Fulfilment::Shipping);
            shipping.set(price_input(p.shipping_cents));
            max.set(p.max_per_buyer.map(|m| m.to_string()).unwrap_or_default());
        }
        saved.set(false);
        archiving.set(false);
    };
    let path = move || ctx.show_path(&format!("/products/{}", id.get_value()));
    let save = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let mut body = json!({
            "title": title.get_untracked().trim(),
            "fulfilment": if ships.get_untracked() { "shipping" } else { "digital" },
        });
        if ships.get_untracked() {
            match parse_price(&shipping.get_untracked()) {
                Ok(c) => body["shipping_cents"] = json!(c),
                Err(why) => return error.set(Some(format!("Shipping: {why}"))),
            }
        }
        let max_text = max.get_untracked();
        body["max_per_buyer"] = match max_text.trim() {
            "" => Value::Null,
            t => match t.parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => return error.set(Some("The limit per buyer is a whole number.".into())),
            },
        };
        saved.set(false);
        send(ctx, "PATCH", path(), body, error, move |_| saved.set(true));
    };
    let archive = move |_| {
        if !archiving.get_untracked() {
            return archiving.set(true);
        }
        send(
            ctx,
            "PATCH",
            path(),
            json!({"archived": true}),
            error,
            |_| (),
        );
    };
    view! {
        <details class="st-more st-edit" on:toggle=move |_| fill()>
            <summary>"Edit"</summary>
            <form class="st-form" on:submit=save>
                <label class="st-field">"Title"
                    <input class="st-edit-title" type="text" required maxlength="120"
                        prop:value=move || title.get() on:input=move |ev| title.set(event_target_value(&ev)) />
                </label>
                <label class="st-field">"Delivery"
                    <select class="st-edit-fulfilment" prop:value=move || if ships.get() { "shipping" } else { "digital" }
                        on:change=move |ev| ships.set(event_target_value(&ev) == "shipping")>
                        <option value="shipping">"Shipped (asks for an address)"</option>
                        <option value="digital">"Digital (nothing to ship)"</option>
                    </select>
                </label>
                <label class="st-field" hidden=move || !ships.get()>"Shipping per parcel"
                    <input class="st-edit-shipping" inputmode="decimal"
                        prop:value=move || shipping.get() on:input=move |ev| shipping.set(event_target_value(&ev)) />
                </label>
                <label class="st-field">"Limit per buyer (empty: none)"
                    <input class="st-edit-max" type="number" min="1"
                        prop:value=move || max.get() on:input=move |ev| max.set(event_target_value(&ev)) />
                </label>
                <button type="submit" class="st-primary st-edit-save">"Save"</button>
            </form>
            <div class="st-picture">
                {move || picture().map(|src| view! { <img class="st-picture-img" src=src alt="The product's picture" /> })}
                <label class="st-field">"Picture (PNG, JPEG or WebP, up to 8 MB)"
                    <input class="st-edit-image" type="file" accept="image/png,image/jpeg,image/webp"
                        on:change=upload disabled=move || uploading.get() />
                </label>
                <button type="button" class="st-remove-image" hidden=move || picture().is_none()
                    on:click=remove_picture>"Remove picture"</button>
                <span class="st-note" role="status">{move || if uploading.get() { "Uploading…" } else { "" }}</span>
            </div>
            <p class="st-note st-saved" role="status" hidden=move || !saved.get()>"Saved."</p>
            <div class="st-archive-row">
                <button type="button" class="st-archive" class:st-confirm=move || archiving.get() on:click=archive>
                    {move || if archiving.get() { "Confirm: take it off the show" } else { "Archive" }}
                </button>
                <span class="st-note">"Archived products leave the show and the widget; their orders and parcels stay."</span>
            </div>
            {error_line(error)}
        </details>
    }
}

#[component]
fn NewProduct(ctx: Ctx) -> impl IntoView {
    let sku = RwSignal::new(String::new());
    let title = RwSignal::new(String::new());
    let price = RwSignal::new(String::new());
    let currency = RwSignal::new("usd".to_string());
    let stock = RwSignal::new("10".to_string());
    let max = RwSignal::new(String::new());
    let image = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let cents = match parse_price(&price.get_untracked()) {
            Ok(c) => c,
            Err(why) => return error.set(Some(why)),
        };
        let Ok(stock_n) = stock.get_untracked().trim().parse::<i64>() else {
            return error.set(Some("Stock is a whole number of units.".into()));
        };
        let mut body = json!({
            "sku": sku.get_untracked().trim(),
            "title": title.get_untracked().trim(),
            "price_cents": cents,
            "currency": currency.get_untracked(),
            "stock": stock_n,
        });
        let max_text = max.get_untracked();
        if !max_text.trim().is_empty() {
            match max_text.trim().parse::<i64>() {
                Ok(n) => body["max_per_buyer"] = json!(n),
                Err(_) => return error.set(Some("The limit per buyer is a whole number.".into())),
            }
        }
        let image_text = image.get_untracked();
        if !image_text.trim().is_empty() {
            body["image_url"] = json!(image_text.trim());
        }
        send(
            ctx,
            "POST",
            ctx.show_path("/products"),
            body,
            error,
            move |_| {
                for s in [sku, title, price, max, image] {
                    s.set(String::new());
                }
            },
        );
    };
    let input = |label: &'static str,
                 class: &'static str,
                 value: RwSignal<String>,
                 kind: &'static str,
                 required: bool| {
        view! {
            <label class="st-field">{label}
                <input class=class type=kind required=required
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
            </label>
        }
    };
    view! {
        <details class="st-new">
            <summary>"Add a product"</summary>
            <form class="st-form" on:submit=submit>
                {input("Title", "st-new-title", title, "text", true)}
                {input("SKU", "st-new-sku", sku, "text", true)}
                {input("Price", "st-new-price", price, "text", true)}
                <label class="st-field">"Currency"
                    <select class="st-new-currency" on:change=move |ev| currency.set(event_target_value(&ev))>
                        <option value="usd" selected>"USD"</option>
                        <option value="eur">"EUR"</option>
                        <option value="gbp">"GBP"</option>
                    </select>
                </label>
                {input("Stock", "st-new-stock", stock, "number", true)}
                {input("Limit per buyer (optional)", "st-new-max", max, "number", false)}
                {input("Image URL (optional)", "st-new-image", image, "url", false)}
                <button type="submit" class="st-primary st-new-add">"Add product"</button>
            </form>
            {error_line(error)}
        </details>
    }
}

#[component]
pub fn Countdowns(ctx: Ctx) -> impl IntoView {
    let live = ctx.live;
    let kind = RwSignal::new("drop_opens".to_string());
    let seconds = RwSignal::new("120".to_string());
    let product = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let running = move || {
        let now = live.now_ms.get();
        live.state.with(|s| {
            let Some(s) = s.as_ref() else {
                return Vec::new();
            };
            let mut list: Vec<(String, String, String)> = s
                .countdowns
                .iter()
                .filter(|c| c.ends_at_ms > now)
                .map(|c| {
                    let target = c
                        .product_id
                        .as_deref()
                        .and_then(|id| s.product(id))
                        .map_or("Whole show".to_string(), |p| p.title.clone());
                    (c.id.clone(), countdown_text(c, now), target)
                })
                .collect();
            list.sort();
            list
        })
    };
    let start = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let Ok(secs) = seconds.get_untracked().trim().parse::<i64>() else {
            return error.set(Some("Seconds is a whole number, like 120.".into()));
        };
        let mut body = json!({"kind": kind.get_untracked(), "seconds": secs});
        let p = product.get_untracked();
        if !p.is_empty() {
            body["product_id"] = json!(p);
        }
        let l = label.get_untracked();
        if !l.trim().is_empty() {
            body["label"] = json!(l.trim());
        }
        send(
            ctx,
            "POST",
            ctx.show_path("/countdowns"),
            body,
            error,
            |_| (),
        );
    };
    let preset = move |secs: i64, text: &'static str| {
        view! {
            <button type="button" class="st-chip" on:click=move |_| seconds.set(secs.to_string())>{text}</button>
        }
    };
    view! {
        <section class="st-panel" aria-labelledby="st-countdowns-h">
            <h2 id="st-countdowns-h">"Countdowns"</h2>
            <ul class="st-running" aria-live="polite">
                <For each=running key=|(id, text, _)| (id.clone(), text.clone()) let((_, text, target))>
                    <li class="st-countdown"><strong>{text}</strong>" · "{target}</li>
                </For>
            </ul>
            <form class="st-form" on:submit=start>
                <label class="st-field">"Kind"
                    <select class="st-cd-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value=CountdownKind::DropOpens.as_str() selected>"Drop opens in…"</option>
                        <option value=CountdownKind::SaleEnds.as_str()>"Sale ends in…"</option>
                    </select>
                </label>
                <ProductSelect live=live label="For" class="st-cd-product" none="Whole show" value=product />
                <label class="st-field">"Seconds"
                    <input class="st-cd-seconds" type="number" min="1" required
                        prop:value=move || seconds.get() on:input=move |ev| seconds.set(event_target_value(&ev)) />
                </label>
                <div class="st-chips">
                    {preset(30, "0:30")}{preset(60, "1:00")}{preset(120, "2:00")}{preset(300, "5:00")}
                </div>
                <label class="st-field">"Label (optional)"
                    <input class="st-cd-label" type="text" placeholder="Drop opens"
                        prop:value=move || label.get() on:input=move |ev| label.set(event_target_value(&ev)) />
                </label>
                <button type="submit" class="st-primary st-cd-start">"Start countdown"</button>
            </form>
            {error_line(error)}
        </section>
    }
}

/// The show's own settings: its title, a flat shipping price per parcel
/// (instead of the products' own), and deleting a show that never went live.
#[component]
pub fn Settings(ctx: Ctx, private: Value) -> impl IntoView {
    let title = RwSignal::new(private["title"].as_str().unwrap_or_default().to_string());
    let flat = RwSignal::new(
        private["shipping_flat_cents"]
            .as_i64()
            .map(price_input)
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let deleted = RwSignal::new(false);
    let save = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let flat_text = flat.get_untracked();
        let flat_cents = match flat_text.trim() {
            "" => Value::Null,
            t => match parse_price(t) {
                Ok(c) => json!(c),
                Err(why) => return error.set(Some(why)),
            },
        };
        let body =
            json!({"title": title.get_untracked().trim(), "shipping_flat_cents": flat_cents});
        saved.set(false);
        send(ctx, "PATCH", ctx.show_path(""), body, error, move |_| {
            saved.set(true)
        });
    };
    let delete = move |_| {
        if !deleting.get_untracked() {
            return deleting.set(true);
        }
        error.set(None);
        leptos::task::spawn_local(async move {
            match ctx.call("DELETE", &ctx.show_path(""), None).await {
                Ok(_) => deleted.set(true),
                Err(e) => {
                    deleting.set(false);
                    error.set(Some(e.message));
                }
            }
        });
    };
    view! {
        <section class="st-panel" aria-labelledby="st-settings-h">
            <h2 id="st-settings-h">"Show settings"</h2>
            <form class="st-form" on:submit=save>
                <label class="st-field">"Title"
                    <input class="st-show-title" type="text" required maxlength="120"
                        prop:value=move || title.get() on:input=move |ev| title.set(event_target_value(&ev)) />
                </label>
                <label class="st-field">"Flat shipping per parcel (empty: each product's own)"
                    <input class="st-show-flat" inputmode="decimal" placeholder="e.g. 4.00"
                        prop:value=move || flat.get() on:input=move |ev| flat.set(event_target_value(&ev)) />
                </label>
                <button type="submit" class="st-primary st-show-save">"Save"</button>
            </form>
            <p class="st-note st-saved" role="status" hidden=move || !saved.get()>"Saved."</p>
            <div class="st-archive-row">
                <button type="button" class="st-delete-show" class:st-confirm=move || deleting.get()
                    disabled=move || deleted.get() on:click=delete>
                    {move || if deleted.get() { "Deleted" } else if deleting.get() { "Confirm: delete this show" } else { "Delete show" }}
                </button>
                <span class="st-note">"Only a show that never went live and sold nothing can be deleted."</span>
            </div>
            <p class="st-note st-deleted" role="status" hidden=move || !deleted.get()>
                "The show, its products and countdowns are deleted. This link no longer opens anything."
            </p>
            {error_line(error)}
        </section>
    }
}
