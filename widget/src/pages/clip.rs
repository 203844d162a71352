//! `/clip/{clip}`: a finished clip that keeps selling. The clip plays
//! (muted until tapped, looping, poster first), with its product's card,
//! live stock and Buy beside it (below on a phone); the orders placed here
//! carry the clip's id, so the show's stats count them for the clip. The
//! page counts a view when it opens and a tap when Buy is pressed. Embedded
//! by `/embed.js` with `data-clip`, the same page fills its frame.

use leptos::html;
use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen::JsCast;

use crate::api::Api;
use crate::live::Live;
use crate::pages::widget::Widget;

/// What `GET /api/v1/clips/{clip}/public` says of the clip.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct PublicClip {
    pub id: String,
    pub show_id: String,
    pub show_title: String,
    pub format: String,
    pub video_url: String,
    #[serde(default)]
    pub poster_url: Option<String>,
    #[serde(default)]
    pub product: Option<wire::Product>,
}

/// Counts a view or a tap (best effort: counting never gets in the way).
fn count(api: &Api, clip_id: &str, kind: &'static str) {
    let api = api.clone();
    let path = format!("/api/v1/clips/{clip_id}/events");
    wasm_bindgen_futures::spawn_local(async move {
        let _ = api
            .call("POST", &path, None, Some(&json!({ "kind": kind })))
            .await;
    });
}

/// The page: loads the clip, then plays it with its product.
#[component]
pub fn ClipPage(api: Api, clip_id: String) -> impl IntoView {
    let loaded = RwSignal::new(None::<Result<PublicClip, String>>);
    {
        let api = api.clone();
        let path = format!("/api/v1/clips/{clip_id}/public");
        wasm_bindgen_futures::spawn_local(async move {
            let answer = api.call("GET", &path, None, None).await;
            loaded.set(Some(match answer {
                Ok(v) => serde_json::from_value(v).map_err(|e| e.to_string()),
                Err(e) => Err(e.message),
            }));
        });
    }
    view! {
        {move || match loaded.get() {
            None => view! { <div class="dc-clip-page" role="status">"Loading the clip…"</div> }.into_any(),
            Some(Err(why)) => view! {
                <div class="dc-clip-page dc-clip-missing" role="alert">{format!("This clip cannot be shown: {why}")}</div>
            }.into_any(),
            Some(Ok(clip)) => view! { <ClipPlayer api=api.clone() clip=clip /> }.into_any(),
        }}
    }
}

#[component]
fn ClipPlayer(api: Api, clip: PublicClip) -> impl IntoView {
    let live = Live::connect(&api.base, &clip.show_id);
    // The card shows the clip's product, whatever the show pins now.
    live.picture_pin
        .set(Some(clip.product.as_ref().map(|p| p.id.clone())));
    count(&api, &clip.id, "view");
    let video = NodeRef::<html::Video>::new();
    let muted = RwSignal::new(true);
    let unmute = move |_| {
        if let Some(v) = video.get_untracked() {
            v.set_muted(false);
            let _ = v.play();
        }
        muted.set(false);
    };
    // A tap on Buy (the card's or the bag's) counts as a click on the clip.
    let taps = {
        let api = api.clone();
        let id = clip.id.clone();
        move |ev: web_sys::MouseEvent| {
            let hit = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|e| e.closest(".dc-buy, .dc-bag-buy").ok().flatten());
            if hit.is_some() {
                count(&api, &id, "click");
            }
        }
    };
    let vertical = clip.format == "vertical";
    let title = clip
        .product
        .as_ref()
        .map(|p| p.title.clone())
        .unwrap_or_else(|| clip.show_title.clone());
    view! {
        <div class="dc-clip-page" class:dc-clip-vertical=vertical>
            <main class="dc-clip-stage">
                <video class="dc-clip-video" node_ref=video src=clip.video_url.clone()
                    poster=clip.poster_url.clone().unwrap_or_default()
                    prop:muted=true autoplay=true loop=true playsinline=true controls=true
                    aria-label=format!("{title} — clip")
                    on:volumechange=move |ev| {
                        let v: web_sys::HtmlMediaElement = event_target(&ev);
                        muted.set(v.muted());
                    }></video>
                <button class="dc-sound" type="button" hidden=move || !muted.get() on:click=unmute>
                    "Tap for sound"
                </button>
            </main>
            <aside class="dc-clip-side" aria-label="Shop" on:click=taps>
                <h1 class="dc-clip-title">{clip.show_title.clone()}</h1>
                <Widget live=live api=api show_id=clip.show_id.clone() clip_id=clip.id.clone() />
            </aside>
        </div>
    }
}
