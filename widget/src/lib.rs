//! Dropcast's pages, in Leptos, compiled to WebAssembly (client-side only).
//!
//! One wasm module serves every page; the HTML shell (or `/embed.js`) calls
//! the `mount_*` function for its page with the element to mount into, the
//! show and the server's address. Each mount brings its own stylesheet into
//! its root, so a page mounted in a shadow root is styled there and nowhere
//! else.
//!
//! # Layout
//! - [`api`]: REST calls, the buyer's session.
//! - [`stripe`]: Stripe.js — the card field, PaymentMethods, 3-D Secure.
//! - [`purchase`]: a purchase that survives a flaky network (tested on the host).
//! - [`state`]: the show as frames change it (pure Rust, tested on the host).
//! - [`live`]: the websocket: reconnects, snapshots, clock offset.
//! - [`components`]: the product card, countdown and sale toasts.
//! - [`desk`]: the studio's arithmetic and wording (tested on the host).
//! - [`pages`]: one module a page. The studio is behind the `studio`
//!   feature: its own module, so the widget stays small.

pub mod api;
pub mod components;
pub mod desk;
pub mod live;
pub mod pages;
pub mod purchase;
pub mod state;
pub mod stripe;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// The pages' stylesheet, carried in the module so that it reaches shadow roots.
const STYLE: &str = include_str!("../style.css");

/// The studio's own stylesheet, only in the studio's module.
#[cfg(feature = "studio")]
const STUDIO_STYLE: &str = include_str!("../studio.css");

/// Adds the stylesheet to `root` and mounts `view` after it.
fn mount<V: IntoView + 'static>(root: &web_sys::Element, view: impl FnOnce() -> V + 'static) {
    mount_styled(root, &[STYLE], view)
}

/// Adds the stylesheets to `root` and mounts `view` after them.
fn mount_styled<V: IntoView + 'static>(
    root: &web_sys::Element,
    styles: &[&str],
    view: impl FnOnce() -> V + 'static,
) {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    for css in styles {
        if let Ok(style) = document.create_element("style") {
            style.set_text_content(Some(css));
            let _ = root.append_child(&style);
        }
    }
    let Ok(host) = document.create_element("div") else {
        return;
    };
    let _ = root.append_child(&host);
    leptos::mount::mount_to(host.unchecked_into(), view).forget();
}

/// Mounts the OBS overlay of `show_id` into `root`.
#[wasm_bindgen]
pub fn mount_overlay(root: web_sys::Element, api_base: String, show_id: String) {
    console_error_panic_hook_lite();
    let live = live::Live::connect(&api_base, &show_id);
    mount(
        &root,
        move || view! { <pages::overlay::Overlay live=live /> },
    );
}

/// Mounts the shopping widget of `show_id` into `root`.
#[wasm_bindgen]
pub fn mount_widget(root: web_sys::Element, api_base: String, show_id: String) {
    console_error_panic_hook_lite();
    let live = live::Live::connect(&api_base, &show_id);
    let api = api::Api { base: api_base };
    mount(
        &root,
        move || view! { <pages::widget::Widget live=live api=api show_id=show_id /> },
    );
}

/// Mounts the buyer's order page of `order_id` (the link's key is in the
/// page's address).
#[wasm_bindgen]
pub fn mount_order(root: web_sys::Element, api_base: String, order_id: String) {
    console_error_panic_hook_lite();
    let api = api::Api { base: api_base };
    let key = pages::order::link_key();
    mount(
        &root,
        move || view! { <pages::order::OrderPage api=api order_id=order_id key=key /> },
    );
}

/// Mounts the page of the finished clip `clip_id` into `root`.
#[wasm_bindgen]
pub fn mount_clip(root: web_sys::Element, api_base: String, clip_id: String) {
    console_error_panic_hook_lite();
    let api = api::Api { base: api_base };
    mount(
        &root,
        move || view! { <pages::clip::ClipPage api=api clip_id=clip_id /> },
    );
}

/// Mounts the watch page of `show_id` into `root`.
#[wasm_bindgen]
pub fn mount_watch(root: web_sys::Element, api_base: String, show_id: String) {
    console_error_panic_hook_lite();
    let live = live::Live::connect(&api_base, &show_id);
    let api = api::Api { base: api_base };
    mount(
        &root,
        move || view! { <pages::watch::Watch live=live api=api show_id=show_id /> },
    );
}

/// Mounts the studio of `show_id` into `root`; the token comes from the
/// page's address (`?token=`).
#[cfg(feature = "studio")]
#[wasm_bindgen]
pub fn mount_studio(root: web_sys::Element, api_base: String, show_id: String) {
    console_error_panic_hook_lite();
    let token = pages::studio::studio_token(&show_id);
    let api = api::Api { base: api_base };
    mount_styled(
        &root,
        &[STYLE, STUDIO_STYLE],
        move || view! { <pages::studio::Studio api=api show_id=show_id token=token /> },
    );
}

/// Panics go to the console with their message instead of `unreachable`.
fn console_error_panic_hook_lite() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
    }));
}
