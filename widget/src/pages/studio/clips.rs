//! The clip desk: the replay buffer as a timeline of thumbnails with the
//! show's commerce events on it, an in/out selection of at most a minute
//! (click the timeline to centre one, or move In and Out), "clip the last
//! 60 s", original (cut, no re-encode) or vertical 9:16 (re-encoded), and
//! the exports with a progress bar each (the staff socket's `clip` frames),
//! then a preview and a download link once done.

use leptos::prelude::*;
use serde_json::json;
use wire::{Clip, Replay};

use super::{Ctx, ProductSelect, Refresh, time_of_day};
use crate::desk::{
    MAX_CLIP_MS, bytes_text, clamp_selection, duration_text, event_class, event_text, fraction,
    selection_problem, snap_text, thumbnail_picks,
};
use crate::live::every;

/// The selection until the editor picks one: the last 30 s.
const DEFAULT_SPAN_MS: i64 = 30_000;
/// Thumbnails drawn across the strip.
const THUMBS: usize = 10;

#[component]
pub fn ClipDesk(ctx: Ctx) -> impl IntoView {
    let live = ctx.live;
    let replay = RwSignal::new(None::<Replay>);
    let replay_error = RwSignal::new(None::<String>);
    // `None`: follow the end of the buffer (the last 30 s).
    let picked = RwSignal::new(None::<(i64, i64)>);
    let format = RwSignal::new("original".to_string());
    let link = RwSignal::new(String::new());
    let clips = RwSignal::new(Vec::<Clip>::new());
    let error = RwSignal::new(None::<String>);

    let replay_refresh = Refresh::new(move || async move {
        match ctx.call("GET", &ctx.show_path("/replay"), None).await {
            Ok(v) => match serde_json::from_value::<Replay>(v) {
                Ok(r) => {
                    replay.set(Some(r));
                    replay_error.set(None);
                }
                Err(e) => replay_error.set(Some(format!("unexpected replay answer: {e}"))),
            },
            Err(e) => replay_error.set(Some(e.message)),
        }
    });
    every(3_000, move || replay_refresh.poke());

    let clips_refresh = Refresh::new(move || async move {
        if let Ok(v) = ctx.call("GET", &ctx.show_path("/clips"), None).await
            && let Ok(mut list) = serde_json::from_value::<Vec<Clip>>(v["clips"].clone())
        {
            list.sort_by_key(|c| std::cmp::Reverse(c.created_at_ms));
            clips.set(list);
        }
    });
    {
        let clips_refresh = clips_refresh.clone();
        Effect::new(move |first: Option<()>| {
            live.snapshots.track();
            if first.is_some() {
                clips_refresh.poke();
            }
        });
    }
    // Progress frames from the socket.
    Effect::new(move |_| {
        let Some(frame) = live.last_clip.get() else {
            return;
        };
        clips.update(|list| match list.iter_mut().find(|c| c.id == frame.id) {
            Some(known) => {
                let events = known.events.take();
                *known = frame;
                known.events = events;
            }
            None => list.insert(0, frame),
        });
    });

    let span = move || {
        replay.with(|r| {
            let r = r.as_ref()?;
            Some((r.start_ms?, r.end_ms?))
        })
    };
    let selection = move || {
        let (start, end) = span()?;
        let (i, o) = picked.get().unwrap_or((end - DEFAULT_SPAN_MS, end));
        Some(clamp_selection(start, end, i, o))
    };
    let problem = move || {
        selection().map_or(Some("The buffer is empty.".to_string()), |(i, o)| {
            selection_problem(i, o)
        })
    };

    let export = move |body: serde_json::Value| {
        error.set(None);
        let mut body = body;
        body["format"] = json!(format.get_untracked());
        let product = link.get_untracked();
        if !product.is_empty() {
            body["product_id"] = json!(product);
        }
        let clips_refresh = clips_refresh.clone();
        leptos::task::spawn_local(async move {
            match ctx.call("POST", &ctx.show_path("/clips"), Some(body)).await {
                Ok(_) => clips_refresh.poke(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let export_last = {
        let export = export.clone();
        move |_| export(json!({"last_seconds": MAX_CLIP_MS / 1000}))
    };
    let export_selection = move |_| {
        if let Some((i, o)) = selection() {
            export(json!({"start_ms": i, "end_ms": o}))
        }
    };

    // A click on the timeline centres a 30 s selection there.
    let pick = move |ev: web_sys::MouseEvent| {
        let Some((start, end)) = span() else { return };
        let Some(target) = ev
            .current_target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        else {
            return;
        };
        let rect = target.get_bounding_client_rect();
        if rect.width() <= 0.0 {
            return;
        }
        let f = ((ev.client_x() as f64 - rect.left()) / rect.width()).clamp(0.0, 1.0);
        let at = start + (f * (end - start) as f64) as i64;
        let half = DEFAULT_SPAN_MS / 2;
        let (i, o) = if at + half > end {
            (end - DEFAULT_SPAN_MS, end)
        } else {
            (at - half, at + half)
        };
        picked.set(Some(clamp_selection(start, end, i, o)));
    };
    let set_in = move |ev| {
        let v = event_target_value(&ev).parse::<f64>().unwrap_or(0.0) as i64;
        let out = selection().map_or(v, |(_, o)| o);
        picked.set(Some((v, out.max(v))));
    };
    let set_out = move |ev| {
        let v = event_target_value(&ev).parse::<f64>().unwrap_or(0.0) as i64;
        let inp = selection().map_or(v, |(i, _)| i);
        picked.set(Some((inp.min(v), v)));
    };

    let thumbs = move || {
        replay.with(|r| {
            let Some(r) = r.as_ref() else {
                return Vec::new();
            };
            thumbnail_picks(r.thumbnails.len(), THUMBS)
                .into_iter()
                .map(|i| r.thumbnails[i].url.clone())
                .collect::<Vec<_>>()
        })
    };
    let markers = move || {
        let Some((start, end)) = span() else {
            return Vec::new();
        };
        let products = live
            .state
            .with(|s| s.as_ref().map(|s| s.products.clone()).unwrap_or_default());
        replay.with(|r| {
            r.as_ref()
                .map(|r| {
                    r.events
                        .iter()
                        .filter(|e| e.at_ms >= start && e.at_ms <= end)
                        .map(|e| {
                            (
                                e.at_ms,
                                fraction(e.at_ms, start, end) * 100.0,
                                event_class(e),
                                event_text(e, &products),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let selected_events = move || {
        let Some((i, o)) = selection() else {
            return Vec::new();
        };
        markers()
            .into_iter()
            .filter(|(at, ..)| *at >= i && *at <= o)
            .map(|(at, _, class, text)| (at, class, text))
            .collect::<Vec<_>>()
    };
    let sel_style = move || {
        let (Some((start, end)), Some((i, o))) = (span(), selection()) else {
            return "display:none".to_string();
        };
        let left = fraction(i, start, end) * 100.0;
        let right = fraction(o, start, end) * 100.0;
        format!("left:{left:.3}%;width:{:.3}%", (right - left).max(0.3))
    };
    let offset = move |at: i64| {
        let end = span().map_or(at, |(_, e)| e);
        format!("−{}", duration_text(end - at))
    };
    let ids = move || clips.with(|c| c.iter().map(|c| c.id.clone()).collect::<Vec<_>>());

    view! {
        <section class="st-panel st-desk" aria-labelledby="st-desk-h">
            <h2 id="st-desk-h">"Clip desk"</h2>
            <p class="st-note st-buffer">
                {move || match (span(), replay.with(|r| r.as_ref().is_some_and(|r| r.live))) {
                    (Some((s, e)), live) => format!(
                        "Replay buffer: {} ({} – {}){}",
                        duration_text(e - s), time_of_day(s), time_of_day(e),
                        if live { ", live" } else { "" }
                    ),
                    (None, _) => "The replay buffer is empty: it fills while the show streams.".to_string(),
                }}
            </p>
            <p class="st-error" role="alert" hidden=move || replay_error.with(Option::is_none)>
                {move || replay_error.get().unwrap_or_default()}
            </p>
            <div class="st-timeline" on:click=pick title="Click to select 30 s around this moment">
                <div class="st-thumbs">
                    <For each=thumbs key=|url| url.clone() let(url)>
                        <img class="st-thumb" src=url alt="" loading="lazy" />
                    </For>
                </div>
                <For each=markers key=|(at, _, class, text)| (*at, *class, text.clone()) let((_, left, class, text))>
                    <span class=format!("st-mark st-m-{class}") style=format!("left:{left:.3}%") title=text></span>
                </For>
                <div class="st-sel" style=sel_style></div>
            </div>
            <div class="st-ranges" hidden=move || span().is_none()>
                <label class="st-field">{move || format!("In {}", selection().map(|(i, _)| offset(i)).unwrap_or_default())}
                    <input class="st-in" type="range" step="500"
                        prop:min=move || span().map_or(0, |(s, _)| s).to_string()
                        prop:max=move || span().map_or(0, |(_, e)| e).to_string()
                        prop:value=move || selection().map_or(0, |(i, _)| i).to_string()
                        on:input=set_in />
                </label>
                <label class="st-field">{move || format!("Out {}", selection().map(|(_, o)| offset(o)).unwrap_or_default())}
                    <input class="st-out" type="range" step="500"
                        prop:min=move || span().map_or(0, |(s, _)| s).to_string()
                        prop:max=move || span().map_or(0, |(_, e)| e).to_string()
                        prop:value=move || selection().map_or(0, |(_, o)| o).to_string()
                        on:input=set_out />
                </label>
                <p class="st-sellen" aria-live="polite">
                    {move || selection().map(|(i, o)| format!("Selection: {}", duration_text(o - i))).unwrap_or_default()}
                </p>
            </div>
            <ul class="st-selevents" aria-label="Commerce events in the selection">
                <For each=selected_events key=|(at, class, text)| (*at, *class, text.clone()) let((at, class, text))>
                    <li class=format!("st-e-{class}")><span class="st-etime">{time_of_day(at)}</span>" "{text}</li>
                </For>
            </ul>
            <div class="st-exportbar">
                <fieldset class="st-formats">
                    <legend>"Format"</legend>
                    <label><input type="radio" name="st-format" value="original" class="st-fmt-original"
                        prop:checked=move || format.get() == "original"
                        on:change=move |_| format.set("original".into()) />" Original (fast cut)"</label>
                    <label><input type="radio" name="st-format" value="vertical" class="st-fmt-vertical"
                        prop:checked=move || format.get() == "vertical"
                        on:change=move |_| format.set("vertical".into()) />" Vertical 9:16 short"</label>
                </fieldset>
                <ProductSelect live=live label="Link to product" class="st-clip-product" none="None" value=link />
                <div class="st-exportbtns">
                    <button type="button" class="st-primary st-last60" on:click=export_last
                        disabled=move || span().is_none()>"Clip the last 60 s"</button>
                    <button type="button" class="st-export" on:click=export_selection
                        disabled=move || problem().is_some()>"Export selection"</button>
                </div>
            </div>
            <p class="st-note" hidden=move || problem().is_none() || span().is_none()>{move || problem().unwrap_or_default()}</p>
            <p class="st-error" role="alert" hidden=move || error.with(Option::is_none)>{move || error.get().unwrap_or_default()}</p>
            <h3>"Exports"</h3>
            <p class="st-note" hidden=move || !clips.with(Vec::is_empty)>"No clips yet."</p>
            <ul class="st-clips">
                <For each=ids key=|id| id.clone() let(id)>
                    <ClipRow clips=clips id=id />
                </For>
            </ul>
        </section>
    }
}

#[component]
fn ClipRow(clips: RwSignal<Vec<Clip>>, id: String) -> impl IntoView {
    let id = StoredValue::new(id);
    let clip = move || clips.with(|c| id.with_value(|id| c.iter().find(|c| &c.id == id).cloned()));
    let status = move || clip().map(|c| c.status).unwrap_or_default();
    let pct = move || clip().map_or(0.0, |c| (c.progress * 100.0).round());
    let head = move || {
        clip()
            .map(|c| {
                let format = if c.format == "vertical" {
                    "Vertical 9:16"
                } else {
                    "Original"
                };
                let length = c.duration_ms.unwrap_or(c.end_ms - c.start_ms);
                format!(
                    "{format} · {} · from {}",
                    duration_text(length),
                    time_of_day(c.start_ms)
                )
            })
            .unwrap_or_default()
    };
    let status_text = move || match status().as_str() {
        "queued" => "Queued".to_string(),
        "running" => format!("Exporting… {}%", pct()),
        "done" => "Ready".into(),
        "failed" => "Failed".into(),
        other => other.to_string(),
    };
    view! {
        <li class="st-clip" data-clip=id.get_value() data-status=status>
            <div class="st-cliphead">
                <span>{head}</span>
                <span class="st-cstatus">{status_text}</span>
            </div>
            {move || clip().and_then(|c| snap_text(c.start_ms, c.asked_start_ms)).map(|text| view! {
                <p class="st-snap">{text}</p>
            })}
            <progress class="st-progress" max="100" prop:value=pct aria-label="Export progress"
                hidden=move || matches!(status().as_str(), "done" | "failed")></progress>
            {move || clip().filter(|c| c.status == "done").and_then(|c| c.download_url.map(|url| {
                let size = c.bytes.map(bytes_text).unwrap_or_default();
                let name = format!("{}.mp4", c.id);
                view! {
                    <div class="st-done">
                        <video class="st-preview" controls preload="metadata" src=url.clone()></video>
                        <a class="st-download" href=url download=name>{format!("Download MP4 · {size}")}</a>
                    </div>
                }
            }))}
            {move || clip().filter(|c| c.status == "failed").map(|c| view! {
                <p class="st-error">{c.error.unwrap_or_else(|| "The export failed.".into())}</p>
            })}
        </li>
    }
}
