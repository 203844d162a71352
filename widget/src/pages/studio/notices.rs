//! Announcements in the studio: a short notice sent by hand to everyone
//! who asked to be reminded, how many a restock wakes per unit, and every
//! notice's figures — sent, delivered (the push service or SMTP server took
//! it), clicked, the median time from delivery to first click (TTFC) and
//! the orders placed within ten minutes of a click.

use leptos::prelude::*;
use serde_json::{Value, json};

use super::{Ctx, Refresh, keep_fresh, time_of_day};

/// How a notice's kind reads.
fn kind_text(kind: &str) -> &str {
    match kind {
        "live" => "Live now",
        "drop_soon" => "Drop soon",
        "restock" => "Back in stock",
        "manual" => "By hand",
        other => other,
    }
}

/// "1.4 s", "2 min 5 s", "—".
pub fn ttfc_text(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

#[component]
pub fn Notices(ctx: Ctx, private: Value) -> impl IntoView {
    let notices = RwSignal::new(Vec::<Value>::new());
    let refresh = Refresh::new(move || async move {
        if let Ok(v) = ctx.call("GET", &ctx.show_path("/notices"), None).await {
            notices.set(v["notices"].as_array().cloned().unwrap_or_default());
        }
    });
    keep_fresh(ctx, refresh.clone(), 5_000);
    let text = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let factor = RwSignal::new(
        private["restock_wake_factor"]
            .as_i64()
            .unwrap_or(3)
            .to_string(),
    );
    let send = {
        let refresh = refresh.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let refresh = refresh.clone();
            leptos::task::spawn_local(async move {
                let body = json!({"text": text.get_untracked()});
                match ctx
                    .call("POST", &ctx.show_path("/notices"), Some(body))
                    .await
                {
                    Ok(_) => {
                        error.set(None);
                        text.set(String::new());
                        note.set("Sent to everyone waiting.".into());
                        refresh.poke();
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let save_factor = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        leptos::task::spawn_local(async move {
            let n = factor.get_untracked().trim().parse::<i64>().unwrap_or(0);
            let body = json!({"restock_wake_factor": n});
            match ctx.call("PATCH", &ctx.show_path(""), Some(body)).await {
                Ok(v) => {
                    error.set(None);
                    note.set(format!(
                        "A restock now wakes {} waiting buyers per unit.",
                        v["restock_wake_factor"].as_i64().unwrap_or(n)
                    ));
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let figure = |n: &Value, key: &str| n[key].as_i64().unwrap_or(0).to_string();
    view! {
        <section class="st-panel st-notices" aria-labelledby="st-notices-h">
            <h2 id="st-notices-h">"Announcements"</h2>
            <form class="st-notice-form" on:submit=send>
                <label class="st-field">"A notice to everyone who asked to be reminded"
                    <input class="st-notice-text" type="text" maxlength="140" required
                        placeholder="Doors open in 5 minutes!"
                        prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev)) />
                </label>
                <button class="st-notice-send" type="submit">"Send now"</button>
            </form>
            <form class="st-factor-form" on:submit=save_factor>
                <label class="st-field">"Buyers a restock wakes per unit"
                    <input class="st-wake-factor" type="number" min="1" max="100" required
                        prop:value=move || factor.get()
                        on:input=move |ev| factor.set(event_target_value(&ev)) />
                </label>
                <button class="st-factor-save" type="submit">"Save"</button>
            </form>
            <p class="st-notice-note" role="status" aria-live="polite">{move || note.get()}</p>
            <p class="st-error" role="alert" hidden=move || error.with(Option::is_none)>
                {move || error.get().unwrap_or_default()}
            </p>
            <table class="st-notice-table" hidden=move || notices.with(Vec::is_empty)>
                <caption class="st-sr">"Every notice of the show with its figures"</caption>
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Notice"</th>
                        <th scope="col">"Sent"</th>
                        <th scope="col">"Delivered"</th>
                        <th scope="col">"Clicked"</th>
                        <th scope="col">"Time to first click"</th>
                        <th scope="col">"Orders ≤ 10 min"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || notices.get().into_iter().rev().map(|n| {
                        let when = n["sent_at_ms"].as_i64().or(n["due_at_ms"].as_i64()).map(time_of_day).unwrap_or_default();
                        let kind = kind_text(n["kind"].as_str().unwrap_or_default()).to_string();
                        let words = n["text"].as_str().unwrap_or_default().to_string();
                        let waiting = n["status"] == "pending";
                        view! {
                            <tr class="st-notice-row" data-kind=n["kind"].as_str().unwrap_or_default().to_string()
                                data-notice=n["id"].as_str().unwrap_or_default().to_string()>
                                <td>{when}{waiting.then_some(" (scheduled)")}</td>
                                <td><strong>{kind}</strong><br />{words}</td>
                                <td class="st-n-sent">{figure(&n, "sent")}</td>
                                <td class="st-n-delivered">{figure(&n, "delivered")}</td>
                                <td class="st-n-clicked">{figure(&n, "clicked")}</td>
                                <td class="st-n-ttfc">{ttfc_text(n["median_ms_to_first_click"].as_i64())}</td>
                                <td class="st-n-orders">{figure(&n, "orders_within_10_min")}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttfc_reads_in_seconds_then_minutes() {
        assert_eq!(super::ttfc_text(None), "—");
        assert_eq!(super::ttfc_text(Some(1_430)), "1.4 s");
        assert_eq!(super::ttfc_text(Some(125_000)), "2 min 5 s");
    }
}
