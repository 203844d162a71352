//! `/watch/{show}`: the show as a shopping room.
//!
//! On a phone the video fills the screen (cropped to fill, or letterboxed
//! whole, as the viewer picks); over it the live badge, title and viewer
//! count at the top, "just bought" toasts, and at the bottom, within thumb
//! reach, the pinned product's card, countdown, Buy and the shop bag. On a
//! desktop the same panel sits beside the video. Sound starts off (browsers
//! only autoplay muted) with a clear "Tap for sound".
//!
//! Live, the stream plays at the edge. Once the show has ended the page
//! plays its recording from the start (a VOD playlist of the replay
//! buffer, seekable), the card follows the commerce timeline at the
//! playback position (what was pinned then, with today's stock and a
//! working Buy), and a chapter list jumps to where each product was shown.
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
use crate::components::SaleToasts;
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

/// A product's place in the recording, for the chapter list.
#[derive(Clone, Debug, PartialEq)]
struct Chapter {
    product_id: String,
    /// Where it was pinned, seconds into the recording.
    at_s: f64,
}

/// The player and what it read of the stream's timeline.
#[derive(Clone)]
struct Player {
    /// The hls.js instance now playing, if any.
    hls: Rc<RefCell<Option<JsValue>>>,
    /// Pins from the stream's date ranges, in time order.
    pins: Rc<RefCell<Vec<Pin>>>,
    /// Each segment's program date (ms) and start in the media (s), to
    /// turn a pin's date into a place to seek to.
    dates: Rc<RefCell<Vec<(f64, f64)>>>,
    /// The pins as chapters, once a recording's playlist was read.
    chapters: RwSignal<Vec<Chapter>>,
}

impl Player {
    fn new() -> Player {
        Player {
            hls: Rc::default(),
            pins: Rc::default(),
            dates: Rc::default(),
            chapters: RwSignal::new(Vec::new()),
        }
    }

    /// Takes the pins of a playlist update (hls.js `LEVEL_LOADED`,
    /// `LEVEL_UPDATED`).
    fn read_pins(&self, data: &JsValue) {
        let get =
            |v: &JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let details = get(data, "details");
        let fragments = get(&details, "fragments");
        if let Some(fragments) = fragments.dyn_ref::<js_sys::Array>() {
            let mut dates = self.dates.borrow_mut();
            dates.clear();
            for f in fragments.iter() {
                let (Some(pdt), Some(start)) = (
                    get(&f, "programDateTime").as_f64(),
                    get(&f, "start").as_f64(),
                ) else {
                    continue;
                };
                dates.push((pdt, start));
            }
        }
        let ranges = get(&details, "dateRanges");
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
        let ended = get(&details, "live").as_bool() == Some(false);
        if ended {
            let chapters = self.chapters_of(&pins);
            drop(pins);
            if self.chapters.get_untracked() != chapters {
                self.chapters.set(chapters);
            }
        }
    }

    /// The recording's chapters: each pin of a product at its place in the
    /// media (a pin before the first segment at the start); a product
    /// pinned again later gets a chapter again.
    fn chapters_of(&self, pins: &[Pin]) -> Vec<Chapter> {
        let dates = self.dates.borrow();
        pins.iter()
            .filter_map(|pin| {
                let product_id = pin.product.clone()?;
                let at = pin.at_ms as f64;
                let at_s = match dates.iter().rev().find(|(pdt, _)| *pdt <= at) {
                    Some((pdt, start)) => start + (at - pdt) / 1000.0,
                    None => 0.0,
                };
                Some(Chapter { product_id, at_s })
            })
            .collect()
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

/// What the page plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Nothing yet: the show has not started (or its recording is not
    /// ready).
    Waiting,
    /// The live stream, at its edge.
    Live,
    /// The ended show's recording, from the start.
    Replay,
}

/// Plays `url` in `video`: with hls.js where it works (its buffering is the
/// same everywhere), else natively (Safari on iOS has no MSE but plays HLS).
/// `on_fatal` runs if hls.js gives up (a stalled network, say): the page
/// attaches again.
fn attach(
    video: &web_sys::HtmlVideoElement,
    url: &str,
    player: &Player,
    mode: Mode,
    on_fatal: impl Fn() + 'static,
) -> Result<(), JsValue> {
    if let Some(old) = player.hls.borrow_mut().take()
        && let Ok(destroy) = js_sys::Reflect::get(&old, &"destroy".into())
            .and_then(|d| d.dyn_into::<js_sys::Function>())
    {
        let _ = destroy.call0(&old);
    }
    if let Some(class) = hls_js() {
        let config = js_sys::Object::new();
        let set = |key: &str, value: JsValue| js_sys::Reflect::set(&config, &key.into(), &value);
        if mode == Mode::Live {
            set("lowLatencyMode", true.into())?;
            // Behind the edge by the server's PART-HOLD-BACK (media::live's
            // TrackConfig); hls.js wants both ends given if one is.
            set("liveSyncDuration", 0.5.into())?;
            set("liveMaxLatencyDuration", 5.0.into())?;
            set("maxLiveSyncPlaybackRate", 1.5.into())?;
            set("liveSyncOnStallIncrease", 0.0.into())?;
            set("backBufferLength", 30.0.into())?;
        } else {
            // A recording: from the start, a modest buffer ahead.
            set("lowLatencyMode", false.into())?;
            set("startPosition", 0.0.into())?;
            set("maxBufferLength", 20.0.into())?;
        }
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
        method("on")?.call2(&hls, &"hlsLevelLoaded".into(), on_level.as_ref())?;
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
    // Muted, so browsers let it start without a tap (the page offers
    // "Tap for sound").
    video.set_muted(true);
    let _ = video.play();
    Ok(())
}

/// Whether `url` is an ended show's recording with something in it.
async fn recorded(url: &str) -> bool {
    fetch_text(url)
        .await
        .is_some_and(|t| t.contains("#EXT-X-ENDLIST") && t.contains("#EXTINF"))
}

async fn fetch_text(url: &str) -> Option<String> {
    let window = web_sys::window()?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url))
        .await
        .ok()?;
    let response: web_sys::Response = response.unchecked_into();
    if !response.ok() {
        return None;
    }
    wasm_bindgen_futures::JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}

/// Whether the playlist at `url` has something to start from yet: a part
/// that starts on a keyframe (LL-HLS), or two whole segments.
async fn playable(url: &str) -> bool {
    fetch_text(url)
        .await
        .is_some_and(|t| t.contains("INDEPENDENT=YES") || t.matches("#EXTINF").count() >= 2)
}

/// What the page plays into, and what it tells the viewer: what starting
/// the live stream and starting the recording share.
#[derive(Clone)]
struct Stage {
    video: NodeRef<html::Video>,
    url: String,
    live: Live,
    player: Player,
    mode: RwSignal<Mode>,
    problem: RwSignal<Option<String>>,
}

impl Stage {
    fn is_live(&self) -> bool {
        self.live
            .state
            .with_untracked(|s| s.as_ref().is_some_and(|s| s.live))
    }

    /// Plays the stage's URL as `mode` (see [`attach`]); says why it cannot.
    fn play(&self, mode: Mode, on_fatal: impl Fn() + 'static) {
        let Some(v) = self.video.get_untracked() else {
            return;
        };
        self.mode.set(mode);
        if let Err(e) = attach(&v, &self.url, &self.player, mode, on_fatal) {
            self.problem.set(Some(
                e.as_string()
                    .unwrap_or_else(|| "the video cannot play here".into()),
            ));
        }
    }
}

/// Waits until the stream has a few seconds to play, then attaches it;
/// again after a fatal error, for as long as the show is live.
fn start(stage: Stage) {
    wasm_bindgen_futures::spawn_local(async move {
        while stage.is_live() && !playable(&stage.url).await {
            crate::live::sleep_ms(250).await;
        }
        if !stage.is_live() {
            return;
        }
        let again = {
            let stage = stage.clone();
            move || {
                let stage = stage.clone();
                *stage.player.hls.borrow_mut() = None;
                crate::live::after(3000, move || start(stage));
            }
        };
        stage.play(Mode::Live, again);
    });
}

/// Plays the ended show's recording once its playlist is ready (the
/// recorder writes its end a moment after the stream stops), unless the
/// show went live again meanwhile.
fn start_replay(stage: Stage) {
    wasm_bindgen_futures::spawn_local(async move {
        for attempt in 0..20 {
            if stage.is_live() {
                return;
            }
            if recorded(&stage.url).await {
                break;
            }
            if attempt == 19 {
                return;
            }
            crate::live::sleep_ms(1500).await;
        }
        if !stage.is_live() {
            stage.play(Mode::Replay, || {});
        }
    });
}

/// "1:05" or "1:02:05".
fn clock_text(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[component]
pub fn Watch(live: Live, api: Api, show_id: String) -> impl IntoView {
    let video = NodeRef::<html::Video>::new();
    let url = format!("{}/hls/{show_id}/index.m3u8", api.base);
    let known = move || live.state.with(|s| s.is_some());
    let cover = move || {
        live.state
            .with(|s| s.as_ref().and_then(|s| s.cover_url.clone()))
    };
    let is_live = move || live.state.with(|s| s.as_ref().is_some_and(|s| s.live));
    let title = move || {
        live.state
            .with(|s| s.as_ref().map(|s| s.title.clone()).unwrap_or_default())
    };
    let viewers = move || live.state.with(|s| s.as_ref().map_or(0, |s| s.viewers));
    let problem = RwSignal::new(None::<String>);
    let mode = RwSignal::new(Mode::Waiting);
    let muted = RwSignal::new(true);
    // Cover (fill the screen, cropping) or contain (the whole picture).
    let fill = RwSignal::new(true);
    let player = Player::new();
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
    // Attach the stream each time the show goes live; the recording once it
    // has ended (or when the page opens on an ended show).
    {
        let player = player.clone();
        Effect::new(move |was: Option<Option<bool>>| {
            if !known() {
                return None;
            }
            let now_live = is_live();
            let was = was.flatten();
            let stage = || Stage {
                video,
                url: url.clone(),
                live,
                player: player.clone(),
                mode,
                problem,
            };
            if now_live && was != Some(true) {
                start(stage());
            } else if !now_live && was != Some(false) {
                start_replay(stage());
            }
            Some(now_live)
        });
    }
    let unmute = move |_| {
        if let Some(v) = video.get_untracked() {
            v.set_muted(false);
            let _ = v.play();
        }
        muted.set(false);
    };
    let seek = move |at_s: f64| {
        if let Some(v) = video.get_untracked() {
            v.set_current_time(at_s);
            let _ = v.play();
        }
    };
    let chapters = player.chapters;
    let chapter_title = move |id: &str| {
        live.state.with(|s| {
            s.as_ref()
                .and_then(|s| s.product(id).map(|p| p.title.clone()))
                .unwrap_or_else(|| "A product no longer on sale".into())
        })
    };
    view! {
        <div class="dc-watch" class:dc-replaying=move || mode.get() == Mode::Replay>
            <main class="dc-stage dc-player" data-behind-ms=move || live.picture_behind_ms.get()>
                <video class="dc-video" class:dc-fit-contain=move || !fill.get()
                    node_ref=video prop:muted=true autoplay=true playsinline=true
                    controls=move || mode.get() == Mode::Replay
                    aria-label=move || format!("{} — video", title())
                    on:volumechange=move |ev| {
                        let v: web_sys::HtmlMediaElement = event_target(&ev);
                        muted.set(v.muted());
                    }></video>
                <header class="dc-top">
                    <span class="dc-live-badge" hidden=move || mode.get() != Mode::Live>"LIVE"</span>
                    <span class="dc-replay-badge" hidden=move || mode.get() != Mode::Replay>"REPLAY"</span>
                    <h1 class="dc-show-title">{title}</h1>
                    <span class="dc-viewers" hidden=move || mode.get() != Mode::Live>
                        {move || format!("{} watching", viewers())}
                    </span>
                </header>
                <div class="dc-controls" hidden=move || mode.get() == Mode::Waiting>
                    <button class="dc-sound" type="button" hidden=move || !muted.get() on:click=unmute>
                        "Tap for sound"
                    </button>
                    <button class="dc-fit" type="button" on:click=move |_| fill.update(|f| *f = !*f)
                        aria-pressed=move || (!fill.get()).to_string()>
                        {move || if fill.get() { "Show whole picture" } else { "Fill the screen" }}
                    </button>
                </div>
                <div class="dc-offline-card" hidden=move || mode.get() != Mode::Waiting role="status">
                    // The show's cover, before it starts (always in the
                    // page, hidden without one: no view rebuilt under it).
                    <img class="dc-cover" alt="" hidden=move || cover().is_none()
                        src=move || cover().unwrap_or_default() />
                    <div class="dc-offline-title">{title}</div>
                    <div>{move || if known() && !is_live() {
                        "Offline — the show starts soon. This page will start playing by itself."
                    } else {
                        "Connecting…"
                    }}</div>
                </div>
                <div class="dc-problem" hidden=move || problem.get().is_none()>{move || problem.get()}</div>
                <SaleToasts live=live />
            </main>
            <aside class="dc-side" aria-label="Shop">
                <nav class="dc-chapters" aria-label="Products in this show"
                    hidden=move || mode.get() != Mode::Replay || chapters.get().is_empty()>
                    <h2 class="dc-chapters-title">"In this show"</h2>
                    <ol>
                        {move || chapters.get().into_iter().map(|c| {
                            let at = c.at_s;
                            let name = chapter_title(&c.product_id);
                            view! {
                                <li><button class="dc-chapter" type="button" data-product=c.product_id.clone()
                                    data-at=format!("{at:.1}") on:click=move |_| seek(at)>
                                    <span class="dc-chapter-at">{clock_text(at)}</span>" "{name}
                                </button></li>
                            }
                        }).collect_view()}
                    </ol>
                </nav>
                <Widget live=live api=api show_id=show_id />
            </aside>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_texts() {
        assert_eq!(clock_text(0.0), "0:00");
        assert_eq!(clock_text(65.4), "1:05");
        assert_eq!(clock_text(3725.0), "1:02:05");
        assert_eq!(clock_text(-3.0), "0:00");
    }
}
