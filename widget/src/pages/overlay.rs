//! `/overlay/{show}`: a transparent 1920x1080 page for an OBS browser source.
//! The pinned product, its stock and countdown, and "just bought" toasts, with
//! no controls: what the viewers see on the stream itself.

use leptos::prelude::*;

use crate::components::{ProductCard, SaleToasts};
use crate::live::Live;

#[component]
pub fn Overlay(live: Live) -> impl IntoView {
    view! {
        <div class="dc-overlay" class:dc-offline=move || !live.connected.get()>
            <div class="dc-corner">
                <ProductCard live=live />
            </div>
            <SaleToasts live=live />
        </div>
    }
}
