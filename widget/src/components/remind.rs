//! "Remind me" (a show not live yet) and "Notify me when back" (a sold-out
//! product): one tap opens the two channels, the buyer picks one.
//!
//! - Browser notification: Dropcast's service worker (`/sw.js`, on this
//!   origin) is registered, the browser asks for permission, the push
//!   manager subscribes with the server's VAPID key, and the subscription
//!   goes to `POST /api/v1/shows/{show}/subscriptions`. Offered only where a
//!   browser can do it: with service workers and push, and not inside
//!   another site's frame (browsers refuse permission prompts there; the
//!   embedded widget offers email, and the show's own page for push).
//! - Email: the address is sent; the server mails a confirmation link
//!   (double opt-in) and nothing else until it is followed.

use js_sys::{Reflect, Uint8Array};
use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::api::Api;

/// `obj[name](...args)`, awaited if it answers a promise.
async fn call(obj: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = Reflect::get(obj, &name.into())?.dyn_into()?;
    let out = f.apply(obj, &args.iter().collect::<js_sys::Array>())?;
    match out.dyn_into::<js_sys::Promise>() {
        Ok(p) => JsFuture::from(p).await,
        Err(v) => Ok(v),
    }
}

/// Whether this page can subscribe to push at all.
fn push_possible() -> bool {
    let Some(w) = web_sys::window() else {
        return false;
    };
    let has = |o: &JsValue, k: &str| Reflect::has(o, &k.into()).unwrap_or(false);
    let top_level = w
        .top()
        .ok()
        .flatten()
        .is_some_and(|t| JsValue::from(t) == JsValue::from(w.clone()));
    has(&w.navigator(), "serviceWorker")
        && has(&w, "PushManager")
        && has(&w, "Notification")
        && top_level
}

/// base64url (no padding) to bytes, for `applicationServerKey`.
fn key_bytes(b64: &str) -> Option<Vec<u8>> {
    let mut std: String = b64.trim().replace('-', "+").replace('_', "/");
    while !std.len().is_multiple_of(4) {
        std.push('=');
    }
    let bin = web_sys::window()?.atob(&std).ok()?;
    Some(bin.chars().map(|c| c as u32 as u8).collect())
}

/// Registers the service worker, asks for permission, subscribes: the
/// subscription as `toJSON()` gives it.
async fn subscribe_push(api: &Api) -> Result<serde_json::Value, String> {
    let w = web_sys::window().ok_or("no window")?;
    fn fail(what: &'static str) -> impl Fn(JsValue) -> String {
        move |_| what.to_string()
    }
    let container = Reflect::get(&w.navigator(), &"serviceWorker".into())
        .map_err(fail("this browser has no service workers"))?;
    call(
        &container,
        "register",
        &[format!("{}/sw.js", api.base).into()],
    )
    .await
    .map_err(fail("the notification worker could not start"))?;
    let registration = JsFuture::from(
        Reflect::get(&container, &"ready".into())
            .map_err(fail("no service worker"))?
            .dyn_into::<js_sys::Promise>()
            .map_err(fail("no service worker"))?,
    )
    .await
    .map_err(fail("the notification worker could not start"))?;
    let notification =
        Reflect::get(&w, &"Notification".into()).map_err(fail("no notifications"))?;
    let permission = call(&notification, "requestPermission", &[])
        .await
        .map_err(fail("notifications were not allowed"))?;
    if permission.as_string().as_deref() != Some("granted") {
        return Err("notifications were not allowed".into());
    }
    let key = api
        .call("GET", "/api/v1/push/vapid-public-key", None, None)
        .await
        .map_err(|e| e.message)?;
    let key = key["key"]
        .as_str()
        .and_then(key_bytes)
        .ok_or("the server's key is unreadable")?;
    let options = js_sys::Object::new();
    let _ = Reflect::set(&options, &"userVisibleOnly".into(), &JsValue::TRUE);
    let _ = Reflect::set(
        &options,
        &"applicationServerKey".into(),
        &Uint8Array::from(key.as_slice()).into(),
    );
    let manager =
        Reflect::get(&registration, &"pushManager".into()).map_err(fail("no push here"))?;
    let subscription = call(&manager, "subscribe", &[options.into()])
        .await
        .map_err(fail("this browser could not subscribe to notifications"))?;
    let json = call(&subscription, "toJSON", &[])
        .await
        .map_err(fail("the subscription is unreadable"))?;
    let text = js_sys::JSON::stringify(&json)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or("the subscription is unreadable")?;
    serde_json::from_str(&text).map_err(|_| "the subscription is unreadable".into())
}

/// "Remind me" / "Notify me when back": the button and, once tapped, the
/// two ways to be told. `product_id` set: the product's restock waitlist.
#[component]
pub fn Remind(
    api: Api,
    show_id: String,
    #[prop(into)] product_id: Signal<Option<String>>,
    /// The button's words.
    label: &'static str,
    /// Where the consent is given, kept with it (`watch:remind_me`…).
    source: &'static str,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let email = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let done = RwSignal::new(false);
    let can_push = push_possible();
    let api = StoredValue::new(api);
    let show = StoredValue::new(show_id);
    let send = move |body: serde_json::Value, after: &'static str| {
        busy.set(true);
        wasm_bindgen_futures::spawn_local(async move {
            let path = format!("/api/v1/shows/{}/subscriptions", show.get_value());
            match api.get_value().call("POST", &path, None, Some(&body)).await {
                Ok(_) => {
                    note.set(after.into());
                    done.set(true);
                }
                Err(e) => note.set(e.message),
            }
            busy.set(false);
        });
    };
    let with_product = move |mut body: serde_json::Value| {
        if let Some(p) = product_id.get_untracked() {
            body["product_id"] = json!(p);
        }
        body["source"] = json!(source);
        body
    };
    let by_push = move |_| {
        busy.set(true);
        note.set("Allow notifications to be told…".into());
        wasm_bindgen_futures::spawn_local(async move {
            match subscribe_push(&api.get_value()).await {
                Ok(sub) => send(
                    with_product(json!({"channel": "push", "subscription": sub})),
                    "Done: this browser will tell you.",
                ),
                Err(why) => {
                    note.set(format!(
                        "Browser notifications did not work here ({why}): use email."
                    ));
                    busy.set(false);
                }
            }
        });
    };
    let by_email = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send(
            with_product(json!({"channel": "email", "email": email.get_untracked()})),
            "Check your inbox: confirm the address and we will email you.",
        );
    };
    view! {
        <div class="dc-remind">
            <button class="dc-remind-open" type="button" aria-expanded=move || open.get().to_string()
                hidden=move || done.get()
                on:click=move |_| open.update(|o| *o = !*o)>{label}</button>
            <form class="dc-remind-form" hidden=move || !open.get() || done.get() on:submit=by_email>
                {can_push.then(|| view! {
                    <button class="dc-remind-push" type="button" on:click=by_push
                        disabled=move || busy.get()>"Notify this browser"</button>
                })}
                <label class="dc-label">{if can_push { "Or by email" } else { "By email" }}
                    <input class="dc-remind-email" type="email" autocomplete="email" required
                        prop:value=move || email.get()
                        on:input=move |ev| email.set(event_target_value(&ev)) />
                </label>
                <button class="dc-remind-send" type="submit" disabled=move || busy.get()>"Email me"</button>
            </form>
            <p class="dc-remind-note" role="status" aria-live="polite">{move || note.get()}</p>
        </div>
    }
}

/// "Live in 2 h 14 min", "Live in 5 min", "Live any minute".
pub fn starts_in_text(ms: i64) -> String {
    let minutes = (ms.max(0) + 59_999) / 60_000;
    match minutes {
        0 | 1 => "Live any minute".into(),
        m if m < 60 => format!("Live in {m} min"),
        m if m < 48 * 60 => match m % 60 {
            0 => format!("Live in {} h", m / 60),
            r => format!("Live in {} h {r} min", m / 60),
        },
        m => format!("Live in {} days", m / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn starts_in_reads_like_a_poster() {
        assert_eq!(super::starts_in_text(0), "Live any minute");
        assert_eq!(super::starts_in_text(5 * 60_000), "Live in 5 min");
        assert_eq!(
            super::starts_in_text((2 * 60 + 14) * 60_000),
            "Live in 2 h 14 min"
        );
        assert_eq!(super::starts_in_text(3 * 3_600_000), "Live in 3 h");
        assert_eq!(super::starts_in_text(72 * 3_600_000), "Live in 3 days");
    }
}
