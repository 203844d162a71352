//! `/watch/{show}`: the live stream (HLS) with the shopping widget beside it
//! (below it on a phone), and a clear offline state.
//!
//! hls.js (loaded by the page's shell) plays it wherever Media Source
//! Extensions exist, in low-latency mode (LL-HLS parts, blocking reloads);
//! elsewhere (Safari on iOS) the browser's own HLS does, LL-HLS included. The
//! source is attached whenever the show goes live, so a viewer who arrived
//! early sees the stream start without reloading.
//!
//! Latency: hls.js starts half a second behind the live edge
//! (the server's `PART-HOLD-BACK`), catches up by playing faster when it drifts behind,
//! does not raise its target after a stall, and jumps to the edge if it ever
//! falls more than a few seconds behind (a tab left in the background).

use std::cell::RefCell;
use std::rc::Rc;

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

/// The `CLASS` of a pin's date range (the server's `edge::CLASS_PIN`).
const PIN_CLASS: &str = "com.dropcast.pin";

/// A pin from the stream's date ranges.
struct Pin {
    at_ms: i64,
    /// The range's id (a playlist lists it again on every reload).
    id: String,
    product: Option<String>,
}

/// The player and what it read of the stream's timeline.
#[derive(Clone, Default)]
struct Player {
    /// The hls.js instance now playing, if any.
    hls: Rc<RefCell<Option<JsValue>>>,
    /// Pins from the stream's date ranges, in time order.
    pins: Rc<RefCell<Vec<Pin>>>,
}

impl Player {
    /// Takes the pins of a playlist update (hls.js `LEVEL_UPDATED`).
    fn read_pins(&self, data: &JsValue) {
        let get =
            |v: &JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let ranges = get(&get(data, "details"), "dateRanges");
        if !ranges.is_object() {
            return;
        }
        let mut pins = self.pins.borrow_mut();
        for key in js_sys::Object::keys(ranges.unchecked_ref::<js_sys::Object>()).iter() {
            let range = js_sys::Reflect::get(&ranges, &key).unwrap_or(JsValue::UNDEFINED);
            if get(&range, "class").as_string().as_deref() != Some(PIN_CLASS) {
                continue;
            }
            let Some(id) = key.as_string() else { continue };
            let start = get(&range, "startDate");
            let Some(start) = start.dyn_ref::<js_sys::Date>().map(|d| d.get_time()) else {
                continue;
            };
            if pins.iter().any(|p| p.id == id) || start.is_nan() {
                continue;
            }
            let product = get(&get(&range, "attr"), "X-PRODUCT")
                .as_string()
                .filter(|p| !p.is_empty());
            pins.push(Pin {
                at_ms: start as i64,
                id,
                product,
            });
        }
        pins.sort_by_key(|p| p.at_ms);
    }

    /// Where the picture is: what was pinned then, and how far behind the
    /// server's clock it is (`None` before it plays).
    fn picture(&self, server_now_ms: i64) -> Option<(Option<Option<String>>, i64)> {
        let hls = self.hls.borrow();
        let date = js_sys::Reflect::get(hls.as_ref()?, &"playingDate".into()).ok()?;
        let at = date.dyn_ref::<js_sys::Date>()?.get_time();
        if at.is_nan() {
            return None;
        }
        let at = at as i64;
        let pinned = self
            .pins
            .borrow()
            .iter()
            .rev()
            .find(|p| p.at_ms <= at)
            .map(|p| p.product.clone());
        Some((pinned, server_now_ms - at))
    }
}

/// Plays `url` in `video`: with hls.js where it works (its buffering is the
/// same everywhere), else natively (Safari on iOS has no MSE but plays HLS).
/// `on_fatal` runs if hls.js gives up (a stalled network, say): the page
/// attaches again.
fn attach(
    video: &web_sys::HtmlVideoElement,
    url: &str,
    player: &Player,
    on_fatal: impl Fn() + 'static,
) -> Result<(), JsValue> {
    if let Some(class) = hls_js() {
        let config = js_sys::Object::new();
        let set = |key: &str, value: JsValue| js_sys::Reflect::set(&config, &key.into(), &value);
        set("lowLatencyMode", true.into())?;
        // Behind the edge by the server's PART-HOLD-BACK (media::live's
        // TrackConfig); hls.js wants both ends given if one is.
        set("liveSyncDuration", 0.5.into())?;
        set("liveMaxLatencyDuration", 5.0.into())?;
        set("maxLiveSyncPlaybackRate", 1.5.into())?;
        set("liveSyncOnStallIncrease", 0.0.into())?;
        set("backBufferLength", 30.0.into())?;
        let hls = js_sys::Reflect::construct(&class, &js_sys::Array::of1(&config))?;
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
        let reader = player.clone();
        let on_level = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_event, data: JsValue| {
            reader.read_pins(&data);
        });
        method("on")?.call2(&hls, &"hlsLevelUpdated".into(), on_level.as_ref())?;
        on_level.forget();
        *player.hls.borrow_mut() = Some(hls.clone());
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

/// Whether the playlist at `url` has something to start from yet: a part
/// that starts on a keyframe (LL-HLS), or two whole segments.
async fn playable(url: &str) -> bool {
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
        .is_some_and(|t| t.contains("INDEPENDENT=YES") || t.matches("#EXTINF").count() >= 2)
}

/// Waits until the stream has a few seconds to play, then attaches it;
/// again after a fatal error, for as long as the show is live.
fn start(
    video: NodeRef<html::Video>,
    url: String,
    live: Live,
    player: Player,
    problem: RwSignal<Option<String>>,
) {
    wasm_bindgen_futures::spawn_local(async move {
        let is_live = || {
            live.state
                .with_untracked(|s| s.as_ref().is_some_and(|s| s.live))
        };
        while is_live() && !playable(&url).await {
            crate::live::sleep_ms(250).await;
        }
        let Some(v) = video.get_untracked() else {
            return;
        };
        if !is_live() {
            return;
        }
        let again = {
            let url = url.clone();
            let player = player.clone();
            move || {
                let url = url.clone();
                let player = player.clone();
                *player.hls.borrow_mut() = None;
                crate::live::after(3000, move || start(video, url, live, player, problem));
            }
        };
        if let Err(e) = attach(&v, &url, &player, again) {
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
    let player = Player::default();
    // The cards follow the picture: the pin and the countdown at the moment
    // of the show on screen (stock and buying stay live).
    {
        let player = player.clone();
        crate::live::every(250, move || {
            let Some((pinned, behind)) = player.picture(live.now_ms.get_untracked()) else {
                return;
            };
            if live.picture_pin.get_untracked() != pinned {
                live.picture_pin.set(pinned);
            }
            live.picture_behind_ms.set(behind.max(0));
        });
    }
    // Attach the stream each time the show goes live.
    Effect::new(move |was_live: Option<bool>| {
        let now_live = is_live();
        if now_live && was_live != Some(true) {
            start(video, url.clone(), live, player.clone(), problem);
        }
        now_live
    });
    view! {
        <div class="dc-watch">
            <div class="dc-player" data-behind-ms=move || live.picture_behind_ms.get()>
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
