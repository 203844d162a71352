//! Pieces the pages share.
//! - [`ProductCard`]: the pinned product with its live stock and countdown.
//! - [`SaleToasts`]: "just bought" notices that fade after a few seconds.
//! - [`Remind`]: "Remind me" and "Notify me when back", by browser push or
//!   email.

mod remind;

use leptos::prelude::*;

pub use remind::{Remind, starts_in_text};

use crate::live::Live;
use crate::state::{StockLevel, countdown_text, price_text, sale_text, stock_text};

/// The pinned product: image, title, price, stock ("3 left", "Sold out")
/// and the countdown that applies to it, following the live channel — the
/// pin and the countdown at the picture's moment where the page plays the
/// stream ([`Live::shown_pinned`]).
/// Stock and countdown changes are announced to screen readers.
#[component]
pub fn ProductCard(live: Live) -> impl IntoView {
    let pinned = move || live.shown_pinned();
    // At the picture's moment, so it reaches zero when the host on screen
    // says "go".
    let countdown = move || {
        let now = live.shown_now_ms();
        let id = pinned()?.id;
        live.state.with(|s| {
            s.as_ref()?
                .countdown_for(&id, now)
                .map(|c| countdown_text(c, now))
        })
    };
    // One card while anything is pinned: what it shows follows the
    // product, and its stock is a live region that stays, so each change
    // is announced (and no view is rebuilt under its own closures).
    let shown = Memo::new(move |_| pinned());
    let text = move |f: fn(&wire::Product) -> String| {
        move || shown.with(|p| p.as_ref().map(f).unwrap_or_default())
    };
    let available = move || shown.with(|p| p.as_ref().map_or(0, |p| p.available));
    view! {
        <Show when=move || shown.with(Option::is_some)>
            <div class="dc-card" data-product=text(|p| p.id.clone())>
                // The small size where there is one (the card is small);
                // the overlay's larger card still fits it.
                {move || {
                    shown
                        .with(|p| p.as_ref().and_then(|p| p.thumb_url.clone().or(p.image_url.clone())))
                        .map(|src| view! { <img class="dc-image" src=src alt="" /> })
                }}
                <div class="dc-body">
                    <div class="dc-title">{text(|p| p.title.clone())}</div>
                    <div class="dc-price">{text(|p| price_text(p.price_cents, &p.currency))}</div>
                    <div class=move || format!("dc-stock dc-badge {}", StockLevel::of(available()).class())
                        class:dc-soldout=move || available() <= 0
                        role="status" aria-live="polite">
                        {move || stock_text(available())}
                    </div>
                </div>
            </div>
        </Show>
        <div class="dc-countdown" role="timer" aria-live="polite" aria-atomic="true"
            hidden=move || countdown().is_none()>
            // Always a text (an `Option` here would lose its text when it
            // turns from `None` to `Some` under Leptos 0.8's rebuild).
            {move || countdown().unwrap_or_default()}
        </div>
    }
}

/// "Just bought" notices, each shown for four seconds.
#[component]
pub fn SaleToasts(live: Live) -> impl IntoView {
    let toasts = RwSignal::new(Vec::<(u32, String)>::new());
    Effect::new(move |_| {
        let Some(sale) = live.last_sale.get() else {
            return;
        };
        let n = sale.n;
        let title = live.state.with_untracked(|s| {
            s.as_ref()
                .and_then(|s| s.product(&sale.product_id).map(|p| p.title.clone()))
                .unwrap_or_default()
        });
        let text = sale_text(sale.buyer.as_deref(), sale.quantity, &title);
        toasts.update(|t| {
            t.push((n, text));
            let extra = t.len().saturating_sub(4);
            t.drain(..extra);
        });
        set_timeout(
            move || toasts.update(|t| t.retain(|(id, _)| *id != n)),
            std::time::Duration::from_secs(4),
        );
    });
    view! {
        <div class="dc-toasts" aria-live="polite">
            <For each=move || toasts.get() key=|(id, _)| *id let((_, text))>
                <div class="dc-toast">{text}</div>
            </For>
        </div>
    }
}
