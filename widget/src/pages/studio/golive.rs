//! Going live: where OBS sends the stream, the stream key (hidden until
//! asked: it is what lets anyone broadcast as this show), the overlay's
//! address for an OBS browser source, and the embed tag, each with a copy
//! button, plus OBS's set-up steps; and [`StreamHealth`], what the server
//! measured of the incoming stream (a keyframe interval over 2 s, with the
//! OBS setting that fixes it) and why it cut a stream off.

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
                <li>"Settings → Output: video bitrate 2500–6000 Kbps; audio AAC."</li>
                <li class="st-kf-step">
                    "Keyframes every 2 s (OBS's default is every 250 frames, 8.3 s, which delays every viewer): in "
                    <b>"Simple"</b>" output mode check "<b>"Enable Advanced Encoder Settings"</b>
                    " and set x264 Options to "<code>"keyint=60"</code>"; in "<b>"Advanced"</b>
                    " mode set "<b>"Keyframe Interval"</b>" to "<b>"2 s"</b>"."
                </li>
                <li>"Add a "<b>"Browser"</b>" source with the overlay URL, 1920 × 1080, for the product card on stream."</li>
                <li>"Press "<b>"Start Streaming"</b>": this page shows ● LIVE within a few seconds."</li>
            </ol>
            {private["ingest"].is_null().then(|| view! {
                <p class="st-warn" role="status">
                    "No node of this cluster takes streams right now: the server address appears here once one runs (DROPCAST_ROLES with ingest)."
                </p>
            })}
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

/// What the server measured of the incoming stream, fetched every few
/// seconds and whenever the show goes on or off air.
#[component]
pub fn StreamHealth(ctx: super::Ctx) -> impl IntoView {
    let report = RwSignal::new(None::<Value>);
    let refresh = super::Refresh::new(move || async move {
        if let Ok(v) = ctx.call("GET", &ctx.show_path("/stream"), None).await {
            report.set(Some(v));
        }
    });
    {
        let refresh = refresh.clone();
        let live = ctx.live;
        Effect::new(move |first: Option<()>| {
            live.state.with(|s| s.as_ref().map(|s| s.live));
            if first.is_some() {
                refresh.poke();
            }
        });
    }
    super::keep_fresh(ctx, refresh, 5_000);
    let interval = move || {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| r["keyframe_interval_ms"].as_i64())
                .map_or("not measured yet".to_string(), |ms| {
                    format!("{:.1} s", ms as f64 / 1000.0)
                })
        })
    };
    let advice = move || {
        report.with(|r| {
            r.as_ref()
                .and_then(|r| r["advice"].as_array().cloned())
                .unwrap_or_default()
        })
    };
    let cut = move || {
        report.with(|r| {
            r.as_ref()
                .map(|r| r["last_cut"].clone())
                .filter(|c| c.is_object())
        })
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    view! {
        <section class="st-panel st-health" aria-labelledby="st-health-h">
            <h2 id="st-health-h">"Stream"</h2>
            <p class="st-kf">"Keyframe interval: "<b class="st-kf-value">{interval}</b></p>
            {move || advice().into_iter().map(|a| view! {
                <div class="st-warn st-kf-warn" role="alert">
                    <p>{text(&a, "message")}</p>
                    <p>"OBS, Simple output mode: "<b>{text(&a, "obs_simple")}</b></p>
                    <p>"OBS, Advanced output mode: "<b>{text(&a, "obs_advanced")}</b></p>
                </div>
            }).collect_view()}
            {move || cut().map(|c| view! {
                <div class="st-warn st-cut" role="alert" data-code=text(&c, "code")>
                    <p>{text(&c, "message")}</p>
                    <p class="st-cut-when">{format!("At {}", super::time_of_day(c["at_ms"].as_i64().unwrap_or(0)))}</p>
                </div>
            })}
        </section>
    }
}
