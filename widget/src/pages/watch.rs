//! `/watch/{show}`: the live stream (HLS) with the shopping widget beside it
//! (below it on a phone), and a clear offline state.
//!
//! hls.js (loaded by the page's shell) plays it wherever Media Source
//! Extensions exist; elsewhere (Safari on iOS) the browser's own HLS does. The
//! source is attached whenever the show goes live, so a viewer who arrived
//! early sees the stream start without reloading.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::api::Api;
use crate::live::Live;
use crate::pages::widget::Widget;

/// hls.js's `Hls` class, if the shell loaded it and this browser has what it
/// needs (Media Source Extensions).
fn hls_js() -> Option<js_sys::Function> {
    let window = web_sys::window()?;
    let class: js_sys::Function = js_sys::Reflect::get(&window, &"Hls".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let supported = js_sys::Reflect::get(&class, &"isSupported".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?
        .call0(&class)
        .ok()?;
    supported.is_truthy().then_some(class)
}

/// Plays `url` in `video`: with hls.js where it works (its buffering is the
/// same everywhere), else natively (Safari on iOS has no MSE but plays HLS).
/// `on_fatal` runs if hls.js gives up (a stalled network, say): the page
/// attaches again.
fn attach(
    video: &web_sys::HtmlVideoElement,
    url: &str,
    on_fatal: impl Fn() + 'static,
) -> Result<(), JsValue> {
    if let Some(class) = hls_js() {
        let hls = js_sys::Reflect::construct(&class, &js_sys::Array::new())?;
        let method = |name: &str| -> Result<js_sys::Function, JsValue> {
            js_sys::Reflect::get(&hls, &name.into())?.dyn_into::<js_sys::Function>()
        };
        let handle = hls.clone();
        let destroy = method("destroy")?;
        let on_error = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_event, data: JsValue| {
            let fatal = js_sys::Reflect::get(&data, &"fatal".into()).is_ok_and(|f| f.is_truthy());
            if fatal {
                let _ = destroy.call0(&handle);
                on_fatal();
            }
        });
        method("on")?.call2(&hls, &"hlsError".into(), on_error.as_ref())?;
        on_error.forget();
        method("loadSource")?.call1(&hls, &url.into())?;
        method("attachMedia")?.call1(&hls, video)?;
    } else if !video
        .can_play_type("application/vnd.apple.mpegurl")
        .is_empty()
    {
        video.set_src(url);
    } else {
        return Err("this browser cannot play HLS".into());
    }
    // Muted, so browsers let it start without a tap.
    video.set_muted(true);
    let _ = video.play();
    Ok(())
}

/// Whether the playlist at `url` lists at least `n` segments yet.
async fn has_segments(url: &str, n: usize) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Ok(response) = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url)).await
    else {
        return false;
    };
    let response: web_sys::Response = response.unchecked_into();
    let Ok(text) = response.text() else {
        return false;
    };
    wasm_bindgen_futures::JsFuture::from(text)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .is_some_and(|t| t.matches("#EXTINF").count() >= n)
}

/// Waits until the stream has a few seconds to play, then attaches it;
/// again after a fatal error, for as long as the show is live.
fn start(video: NodeRef<html::Video>, url: String, live: Live, problem: RwSignal<Option<String>>) {
    wasm_bindgen_futures::spawn_local(async move {
        let is_live = || {
            live.state
                .with_untracked(|s| s.as_ref().is_some_and(|s| s.live))
        };
        while is_live() && !has_segments(&url, 2).await {
            crate::live::sleep_ms(1000).await;
        }
        let Some(v) = video.get_untracked() else {
            return;
        };
        if !is_live() {
            return;
        }
        let again = {
            let url = url.clone();
            move || {
                let url = url.clone();
                crate::live::after(3000, move || start(video, url, live, problem));
            }
        };
        if let Err(e) = attach(&v, &url, again) {
            problem.set(Some(
                e.as_string()
                    .unwrap_or_else(|| "the stream cannot play here".into()),
            ));
        }
    });
}

#[component]
pub fn Watch(live: Live, api: Api, show_id: String) -> impl IntoView {
    let video = NodeRef::<html::Video>::new();
    let url = format!("{}/hls/{show_id}/index.m3u8", api.base);
    let is_live = move || live.state.with(|s| s.as_ref().is_some_and(|s| s.live));
    let title = move || {
        live.state
            .with(|s| s.as_ref().map(|s| s.title.clone()).unwrap_or_default())
    };
    let problem = RwSignal::new(None::<String>);
    // Attach the stream each time the show goes live.
    Effect::new(move |was_live: Option<bool>| {
        let now_live = is_live();
        if now_live && was_live != Some(true) {
            start(video, url.clone(), live, problem);
        }
        now_live
    });
    view! {
        <div class="dc-watch">
            <div class="dc-player">
                <video class="dc-video" node_ref=video prop:muted=true autoplay=true playsinline=true controls=true></video>
                <div class="dc-offline-card" hidden=is_live role="status">
                    <div class="dc-offline-title">{title}</div>
                    <div>"Offline — the show starts soon. This page will start playing by itself."</div>
                </div>
                <div class="dc-problem" hidden=move || problem.get().is_none()>{move || problem.get()}</div>
            </div>
            <aside class="dc-side">
                <Widget live=live api=api show_id=show_id />
            </aside>
        </div>
    }
}
