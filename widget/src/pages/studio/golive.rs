//! Going live: where OBS sends the stream, the stream key (hidden until
//! asked: it is what lets anyone broadcast as this show), the overlay's
//! address for an OBS browser source, and the embed tag, each with a copy
//! button, plus OBS's set-up steps.

use leptos::prelude::*;
use serde_json::Value;

/// The RTMP URL without its last segment (the key): OBS's "Server" field.
pub fn rtmp_server(rtmp: &str) -> String {
    rtmp.rsplit_once('/')
        .map(|(server, _)| server.to_string())
        .unwrap_or_else(|| rtmp.to_string())
}

/// A read-only value with a copy button; `secret` hides it behind "Show".
#[component]
fn CopyField(
    label: &'static str,
    class: &'static str,
    value: String,
    secret: bool,
) -> impl IntoView {
    let shown = RwSignal::new(!secret);
    let note = RwSignal::new(String::new());
    let value = StoredValue::new(value);
    let hidden_text = "•".repeat(16);
    let copy = move |_| {
        let text = value.get_value();
        leptos::task::spawn_local(async move {
            note.set(if super::copy(&text).await {
                "Copied".into()
            } else {
                "Select it and press Ctrl+C".into()
            });
            crate::live::sleep_ms(2500).await;
            note.set(String::new());
        });
    };
    view! {
        <div class="st-copy">
            <span class="st-clabel">{label}</span>
            <div class="st-crow">
                <input class=format!("st-cvalue {class}") readonly aria-label=label
                    prop:value=move || if shown.get() { value.get_value() } else { hidden_text.clone() }
                    on:focus=move |ev| {
                        if shown.get_untracked()
                            && let Some(input) = ev
                                .target()
                                .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(t).ok())
                        {
                            input.select();
                        }
                    } />
                {secret.then(|| view! {
                    <button type="button" class="st-reveal" aria-pressed=move || shown.get().to_string()
                        on:click=move |_| shown.update(|s| *s = !*s)>
                        {move || if shown.get() { "Hide" } else { "Show" }}
                    </button>
                })}
                <button type="button" class="st-copybtn" on:click=copy>"Copy"</button>
            </div>
            <span class="st-cnote" aria-live="polite">{move || note.get()}</span>
        </div>
    }
}

#[component]
pub fn GoLive(private: Value) -> impl IntoView {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let key = text(&private["stream_key"]);
    let rtmp = text(&private["ingest"]["rtmp"]);
    let srt = text(&private["ingest"]["srt"]);
    let overlay = text(&private["urls"]["overlay"]);
    let watch = text(&private["urls"]["watch"]);
    let embed = text(&private["urls"]["embed_html"]);
    view! {
        <section class="st-panel" aria-labelledby="st-golive-h">
            <h2 id="st-golive-h">"Go live"</h2>
            <ol class="st-steps">
                <li>"In OBS: Settings → Stream → Service: "<b>"Custom…"</b></li>
                <li>"Paste the "<b>"Server"</b>" and the "<b>"Stream key"</b>" below, then Apply."</li>
                <li>"Settings → Output: video bitrate 2500–6000 Kbps, keyframe interval 2 s; audio AAC."</li>
                <li>"Add a "<b>"Browser"</b>" source with the overlay URL, 1920 × 1080, for the product card on stream."</li>
                <li>"Press "<b>"Start Streaming"</b>": this page shows ● LIVE within a few seconds."</li>
            </ol>
            <CopyField label="Server (RTMP)" class="st-rtmp-server" value=rtmp_server(&rtmp) secret=false />
            <CopyField label="Stream key" class="st-key" value=key secret=true />
            <details class="st-more">
                <summary>"SRT instead of RTMP"</summary>
                <CopyField label="SRT URL (contains the key)" class="st-srt" value=srt secret=true />
            </details>
            <CopyField label="Overlay (OBS browser source)" class="st-overlay-url" value=overlay secret=false />
            <CopyField label="Watch page" class="st-watch-url" value=watch secret=false />
            <CopyField label="Embed on any site" class="st-embed" value=embed secret=false />
        </section>
    }
}
