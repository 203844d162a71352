//! Pieces the pages share.
//! - [`ProductCard`]: the pinned product with its live stock and countdown.
//! - [`SaleToasts`]: "just bought" notices that fade after a few seconds.

use leptos::prelude::*;

use crate::live::Live;
use crate::state::{countdown_text, price_text, stock_text};

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
    view! {
        {move || pinned().map(|p| {
            let sold_out = p.available <= 0;
            view! {
                <div class="dc-card" data-product=p.id.clone()>
                    {p.image_url.clone().map(|src| view! { <img class="dc-image" src=src alt="" /> })}
                    <div class="dc-body">
                        <div class="dc-title">{p.title.clone()}</div>
                        <div class="dc-price">{price_text(p.price_cents, &p.currency)}</div>
                        <div class="dc-stock" class:dc-soldout=sold_out role="status" aria-live="polite">
                            {stock_text(p.available)}
                        </div>
                    </div>
                </div>
            }
        })}
        <div class="dc-countdown" role="timer" aria-live="polite" aria-atomic="true"
            hidden=move || countdown().is_none()>
            {countdown}
        </div>
    }
}

/// "Just bought" notices, each shown for four seconds.
#[component]
pub fn SaleToasts(live: Live) -> impl IntoView {
    let toasts = RwSignal::new(Vec::<(u32, String)>::new());
    Effect::new(move |_| {
        let Some((n, product_id, quantity)) = live.last_sale.get() else {
            return;
        };
        let title = live.state.with_untracked(|s| {
            s.as_ref()
                .and_then(|s| s.product(&product_id).map(|p| p.title.clone()))
                .unwrap_or_default()
        });
        let text = if quantity == 1 {
            format!("Someone just bought {title}")
        } else {
            format!("Someone just bought {quantity} × {title}")
        };
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
