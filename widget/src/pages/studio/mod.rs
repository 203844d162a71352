//! `/studio/{show}?token=…`: the creator's console and the editor's clip desk.
//!
//! The token in the address says who is here. The page keeps it for the tab
//! (`sessionStorage`) and takes it out of the address bar, then asks the
//! server what it may do: the show's creator gets the whole console (with
//! the stream key), an editor of the show gets the clip desk, anyone else is
//! told why not. The page follows the show on a staff socket, which also
//! carries clip progress.
//!
//! - [`show`]: products (create, restock, price, pin) and countdowns.
//! - [`sales`]: live stats with the sales chart, the order feed with refunds.
//! - [`golive`]: ingest URLs, the stream key (hidden until asked), OBS steps.
//! - [`shipments`]: parcels after the show, the packing list, tracking.
//! - [`clips`]: the clip desk.

mod clips;
mod golive;
mod notices;
mod sales;
mod shipments;
mod show;

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use leptos::prelude::*;
use serde_json::Value;

use crate::api::{Api, ApiError};
use crate::live::Live;

/// What the studio needs everywhere; cheap to copy into closures.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub live: Live,
    api: StoredValue<Api>,
    token: StoredValue<String>,
    show_id: StoredValue<String>,
}

impl Ctx {
    /// A call to the API with the studio's token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let api = self.api.get_value();
        let token = self.token.get_value();
        api.call(method, path, Some(&token), body.as_ref()).await
    }

    /// [`Ctx::call`] with a text body and answer (a CSV).
    pub async fn call_text(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<String, ApiError> {
        let api = self.api.get_value();
        let token = self.token.get_value();
        api.call_text(method, path, Some(&token), body).await
    }

    /// Sends `file` as the body of `path` (a product's picture).
    pub async fn upload(
        &self,
        method: &str,
        path: &str,
        file: &web_sys::File,
    ) -> Result<Value, ApiError> {
        let api = self.api.get_value();
        let token = self.token.get_value();
        api.call_file(method, path, Some(&token), file).await
    }

    pub fn show_id(&self) -> String {
        self.show_id.get_value()
    }

    /// `/api/v1/shows/{show}` followed by `rest`.
    pub fn show_path(&self, rest: &str) -> String {
        format!("/api/v1/shows/{}{rest}", self.show_id.get_value())
    }

    pub fn base(&self) -> String {
        self.api.with_value(|a| a.base.clone())
    }
}

/// Runs `fetch` now and whenever [`Refresh::poke`] is called, never two at
/// once: a poke while one runs makes one more run after it. A flash sale's
/// hundred `sold` frames cost a couple of fetches, not a hundred.
#[derive(Clone)]
pub struct Refresh {
    poke: Rc<dyn Fn()>,
}

impl Refresh {
    pub fn new<F, Fut>(fetch: F) -> Refresh
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let running = Rc::new(Cell::new(false));
        let again = Rc::new(Cell::new(false));
        let fetch = Rc::new(fetch);
        let poke: Rc<dyn Fn()> = Rc::new(move || {
            if running.get() {
                again.set(true);
                return;
            }
            running.set(true);
            let (running, again, fetch) = (running.clone(), again.clone(), fetch.clone());
            leptos::task::spawn_local(async move {
                loop {
                    again.set(false);
                    fetch().await;
                    if !again.get() {
                        break;
                    }
                }
                running.set(false);
            });
        });
        poke();
        Refresh { poke }
    }

    pub fn poke(&self) {
        (self.poke)()
    }
}

/// Fetches again on every sale, reconnect, and every `ms`.
pub fn keep_fresh(ctx: Ctx, refresh: Refresh, ms: i32) {
    let live = ctx.live;
    {
        let refresh = refresh.clone();
        Effect::new(move |first: Option<()>| {
            live.last_sale.track();
            live.snapshots.track();
            if first.is_some() {
                refresh.poke();
            }
        });
    }
    crate::live::every(ms, move || refresh.poke());
}

/// Who the token belongs to, as far as this show goes.
#[derive(Clone, PartialEq)]
enum Access {
    Checking,
    /// The creator, with the show's private part (stream key, ingest, URLs).
    Creator(Value),
    Editor,
    Refused(String),
}

/// The token from `?token=` (then kept for the tab and taken out of the
/// address bar, so a screenshot or a shared screen does not show it), or
/// the one kept earlier in this tab.
pub fn studio_token(show_id: &str) -> Option<String> {
    let window = web_sys::window()?;
    let key = format!("dropcast:studio:{show_id}");
    let session = window.session_storage().ok().flatten();
    let location = window.location();
    let search = location.search().ok().unwrap_or_default();
    let from_url = web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|p| p.get("token"))
        .filter(|t| !t.is_empty());
    if let Some(token) = from_url {
        if let Some(s) = &session {
            let _ = s.set_item(&key, &token);
        }
        if let (Ok(history), Ok(path)) = (window.history(), location.pathname()) {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
        }
        return Some(token);
    }
    session?.get_item(&key).ok().flatten()
}

/// Asks the server what the token may do here.
async fn check_access(api: &Api, show_id: &str, token: &str) -> Access {
    let show = match api
        .call(
            "GET",
            &format!("/api/v1/shows/{show_id}"),
            Some(token),
            None,
        )
        .await
    {
        Ok(show) => show,
        Err(e) if e.code == "invalid_token" => {
            return Access::Refused(
                "This studio link's token is not valid (it may have been replaced). Ask the show's creator for a new link."
                    .into(),
            );
        }
        Err(e) => return Access::Refused(e.message),
    };
    if show.get("stream_key").is_some() {
        return Access::Creator(show);
    }
    match api
        .call(
            "GET",
            &format!("/api/v1/shows/{show_id}/replay"),
            Some(token),
            None,
        )
        .await
    {
        Ok(_) => Access::Editor,
        Err(e) if e.status == 403 => Access::Refused(
            "This token is not for this show: open the studio from the show's own link.".into(),
        ),
        Err(e) => Access::Refused(e.message),
    }
}

#[component]
pub fn Studio(api: Api, show_id: String, token: Option<String>) -> impl IntoView {
    let access = RwSignal::new(Access::Checking);
    match token.clone() {
        None => access.set(Access::Refused(
            "Open the studio with the link that carries your token: /studio/SHOW?token=…".into(),
        )),
        Some(token) => {
            let (api, show_id) = (api.clone(), show_id.clone());
            leptos::task::spawn_local(async move {
                access.set(check_access(&api, &show_id, &token).await);
            });
        }
    }
    view! {
        <div class="st-studio">
            {move || match access.get() {
                Access::Checking => view! { <p class="st-note">"Opening the studio…"</p> }.into_any(),
                Access::Refused(why) => view! {
                    <div class="st-refused" role="alert">
                        <h1>"Studio"</h1>
                        <p>{why}</p>
                    </div>
                }.into_any(),
                Access::Creator(show) => {
                    let ctx = context(&api, &show_id, token.as_deref().unwrap_or_default());
                    view! { <Console ctx=ctx private=Some(show) /> }.into_any()
                }
                Access::Editor => {
                    let ctx = context(&api, &show_id, token.as_deref().unwrap_or_default());
                    view! { <Console ctx=ctx private=None /> }.into_any()
                }
            }}
        </div>
    }
}

fn context(api: &Api, show_id: &str, token: &str) -> Ctx {
    Ctx {
        live: Live::connect_as(&api.base, show_id, Some(token)),
        api: StoredValue::new(api.clone()),
        token: StoredValue::new(token.to_string()),
        show_id: StoredValue::new(show_id.to_string()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Show,
    Shipments,
    Clips,
}

/// The console: a header, then the show's controls (creator) and the clip
/// desk, as two tabs for the creator.
#[component]
fn Console(ctx: Ctx, private: Option<Value>) -> impl IntoView {
    let creator = private.is_some();
    let tab = RwSignal::new(if creator { Tab::Show } else { Tab::Clips });
    let live = ctx.live;
    let title = move || {
        live.state
            .with(|s| s.as_ref().map(|s| s.title.clone()).unwrap_or_default())
    };
    let on_air = move || live.state.with(|s| s.as_ref().is_some_and(|s| s.live));
    let viewers = move || live.state.with(|s| s.as_ref().map_or(0, |s| s.viewers));
    let tab_button = move |which: Tab, label: &'static str| {
        view! {
            <button type="button" role="tab" class="st-tab"
                aria-selected=move || (tab.get() == which).to_string()
                on:click=move |_| tab.set(which)>
                {label}
            </button>
        }
    };
    view! {
        <header class="st-header">
            <div class="st-headline">
                <span class="st-onair" class:st-live=on_air>
                    {move || if on_air() { "● LIVE" } else { "Offline" }}
                </span>
                <h1 class="st-title">{title}</h1>
            </div>
            <div class="st-headfacts">
                <span class="st-viewers" aria-live="off">{move || format!("{} watching", viewers())}</span>
                <span class="st-conn" class:st-down=move || !live.connected.get()>
                    {move || if live.connected.get() { "Connected" } else { "Reconnecting…" }}
                </span>
                <span class="st-role">{if creator { "Creator" } else { "Editor" }}</span>
            </div>
        </header>
        <nav class="st-tabs" role="tablist" hidden=!creator>
            {tab_button(Tab::Show, "Show")}
            {tab_button(Tab::Shipments, "Shipments")}
            {tab_button(Tab::Clips, "Clip desk")}
        </nav>
        {private.map(|private| view! {
            <main class="st-grid" hidden=move || tab.get() != Tab::Show>
                <div class="st-col">
                    <show::Products ctx=ctx />
                    <show::Countdowns ctx=ctx />
                </div>
                <div class="st-col">
                    <sales::Stats ctx=ctx />
                    <notices::Notices ctx=ctx private=private.clone() />
                    <sales::Orders ctx=ctx />
                    <golive::StreamHealth ctx=ctx />
                    <golive::GoLive private=private.clone() />
                    <show::Settings ctx=ctx private=private />
                </div>
            </main>
        })}
        {creator.then(|| view! {
            <main class="st-ship-wrap" hidden=move || tab.get() != Tab::Shipments>
                <shipments::Shipments ctx=ctx open=Signal::derive(move || tab.get() == Tab::Shipments) />
            </main>
        })}
        <main class="st-desk-wrap" hidden=move || tab.get() != Tab::Clips>
            <clips::ClipDesk ctx=ctx />
        </main>
    }
}

/// A product picker whose first choice is none (`""`); `value` holds the
/// chosen product's id.
#[component]
pub fn ProductSelect(
    live: Live,
    label: &'static str,
    class: &'static str,
    none: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    let products = move || {
        live.state
            .with(|s| s.as_ref().map(|s| s.products.clone()).unwrap_or_default())
    };
    view! {
        <label class="st-field">{label}
            <select class=class on:change=move |ev| value.set(event_target_value(&ev))>
                <option value="">{none}</option>
                <For each=products key=|p| p.id.clone() let(p)>
                    <option value=p.id>{p.title}</option>
                </For>
            </select>
        </label>
    }
}

/// The wall-clock time `ms` in this browser's time zone, "14:03:27".
pub fn time_of_day(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}

/// Offers `text` as a file called `name` (the browser's download).
pub fn save_file(name: &str, mime: &str, text: &str) -> bool {
    use wasm_bindgen::JsCast;
    let save = || -> Option<()> {
        let parts = js_sys::Array::of1(&text.into());
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(mime);
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
        let document = web_sys::window()?.document()?;
        let a: web_sys::HtmlAnchorElement = document.create_element("a").ok()?.dyn_into().ok()?;
        a.set_href(&url);
        a.set_download(name);
        a.click();
        // Revoked once the download has taken it.
        crate::live::after(10_000, move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        });
        Some(())
    };
    save().is_some()
}

/// Puts `text` on the clipboard; says whether it worked (the page may not
/// be allowed to).
pub async fn copy(text: &str) -> bool {
    use wasm_bindgen::JsCast;
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Ok(clipboard) = js_sys::Reflect::get(&window.navigator(), &"clipboard".into()) else {
        return false;
    };
    let Ok(write) = js_sys::Reflect::get(&clipboard, &"writeText".into()) else {
        return false;
    };
    let Ok(write) = write.dyn_into::<js_sys::Function>() else {
        return false;
    };
    let Ok(promise) = write.call1(&clipboard, &text.into()) else {
        return false;
    };
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise))
        .await
        .is_ok()
}
