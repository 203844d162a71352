//! Stripe.js from Rust: load it once (from the URL the server names, so
//! tests load localstripe's stand-in), mount a card field, turn it into a
//! PaymentMethod, and finish a payment that needs the buyer's bank
//! (3-D Secure). Card numbers never touch Dropcast: they go from Stripe's
//! field to Stripe.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

fn get(target: &JsValue, key: &str) -> Result<JsValue, String> {
    Reflect::get(target, &key.into()).map_err(|_| format!("Stripe.js has no {key}"))
}

fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let f: Function = get(target, method)?
        .dyn_into()
        .map_err(|_| format!("Stripe.js {method} is not a function"))?;
    let args: js_sys::Array = args.iter().collect();
    f.apply(target, &args)
        .map_err(|e| format!("Stripe.js {method} failed: {e:?}"))
}

async fn settle(value: JsValue) -> Result<JsValue, String> {
    JsFuture::from(Promise::resolve(&value))
        .await
        .map_err(|e| format!("{e:?}"))
}

/// Loads Stripe.js into the page (once) and makes a client for `publishable_key`.
pub async fn client(js_url: &str, publishable_key: &str) -> Result<JsValue, String> {
    let window = web_sys::window().ok_or("no window")?;
    if get(&window, "Stripe")?.is_undefined() {
        let document = window.document().ok_or("no document")?;
        let script: web_sys::HtmlScriptElement = document
            .create_element("script")
            .map_err(|_| "cannot make a script")?
            .unchecked_into();
        script.set_src(js_url);
        let loaded = Promise::new(&mut |resolve, reject| {
            script.set_onload(Some(&resolve));
            script.set_onerror(Some(&reject));
        });
        document
            .head()
            .ok_or("no head")?
            .append_child(&script)
            .map_err(|_| "cannot add Stripe.js")?;
        JsFuture::from(loaded)
            .await
            .map_err(|_| "Stripe.js could not be loaded".to_string())?;
    }
    let stripe: Function = get(&window, "Stripe")?
        .dyn_into()
        .map_err(|_| "Stripe is not a function")?;
    stripe
        .call1(&JsValue::NULL, &publishable_key.into())
        .map_err(|e| format!("Stripe() failed: {e:?}"))
}

/// Mounts Stripe's card field into `into`; returns the field.
pub fn mount_card(stripe: &JsValue, into: &web_sys::Element) -> Result<JsValue, String> {
    let elements = call(stripe, "elements", &[])?;
    let card = call(&elements, "create", &["card".into()])?;
    call(&card, "mount", &[into.clone().into()])?;
    Ok(card)
}

/// The PaymentMethod id for what the buyer typed in `card`.
pub async fn payment_method(
    stripe: &JsValue,
    card: &JsValue,
    email: &str,
) -> Result<String, String> {
    let data = Object::new();
    let billing = Object::new();
    let _ = Reflect::set(&billing, &"email".into(), &email.into());
    let _ = Reflect::set(&data, &"type".into(), &"card".into());
    let _ = Reflect::set(&data, &"card".into(), card);
    let _ = Reflect::set(&data, &"billing_details".into(), &billing);
    let result = settle(call(stripe, "createPaymentMethod", &[data.into()])?).await?;
    if let Some(id) = get(&get(&result, "paymentMethod")?, "id")
        .ok()
        .and_then(|id| id.as_string())
    {
        return Ok(id);
    }
    Err(get(&get(&result, "error")?, "message")
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "the card was not accepted".into()))
}

/// Lets the buyer's bank confirm a payment (3-D Secure); `Ok` once the
/// buyer went through with it (the order's own status says whether it paid).
pub async fn confirm(stripe: &JsValue, client_secret: &str) -> Result<(), String> {
    let result = settle(call(stripe, "confirmCardPayment", &[client_secret.into()])?).await?;
    match get(&result, "error") {
        Ok(e) if !e.is_undefined() && !e.is_null() => Err(get(&e, "message")
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "authentication failed".into())),
        _ => Ok(()),
    }
}
