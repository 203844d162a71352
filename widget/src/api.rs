//! The REST API from the browser: JSON over `fetch`, the buyer's session
//! and the purchase in flight kept by this origin (`localStorage`, else a
//! partitioned cookie, else the page's memory: see `Keep`), and errors as
//! the server's stable codes.

use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// A failed call: the server's `error.code` (or a local one) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 0: no answer (offline, cut, timed out).
    pub status: u16,
    pub code: String,
    pub message: String,
    /// `Retry-After`, in seconds, when the server sent one.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn local(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 0,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }
}

/// How long a call may take before it counts as lost (no answer).
const CALL_TIMEOUT_MS: i32 = 20_000;

/// The server at `base` (`http(s)://host`, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub base: String,
}

impl Api {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        self.call_within(method, path, token, body, CALL_TIMEOUT_MS)
            .await
    }

    /// [`Api::call`], given up on (as no answer) after `timeout_ms`.
    pub async fn call_within(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        timeout_ms: i32,
    ) -> Result<Value, ApiError> {
        let body = body.map(|b| ("application/json", JsValue::from(b.to_string())));
        let text = self.fetch(method, path, token, body, timeout_ms).await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A call whose body and answer are text (a CSV up or down); an answer
    /// that is not 2xx is read as the server's JSON error all the same.
    pub async fn call_text(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Result<String, ApiError> {
        let body = body.map(|(t, text)| (t, JsValue::from(text)));
        self.fetch(method, path, token, body, CALL_TIMEOUT_MS).await
    }

    /// A call whose body is a file (a product's picture), answered in JSON.
    pub async fn call_file(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        file: &web_sys::File,
    ) -> Result<Value, ApiError> {
        let content_type = file.type_();
        let body = Some((content_type.as_str(), JsValue::from(file.clone())));
        let text = self.fetch(method, path, token, body, 60_000).await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// One `fetch`: `body` is its content type and content (a string or a
    /// file). Resolves to the
    /// answer's text on 2xx, else to the server's error.
    async fn fetch(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, JsValue)>,
        timeout_ms: i32,
    ) -> Result<String, ApiError> {
        let init = RequestInit::new();
        let abort = web_sys::AbortController::new().ok();
        if let Some(abort) = &abort {
            init.set_signal(Some(&abort.signal()));
            let abort = abort.clone();
            crate::live::after(timeout_ms, move || abort.abort());
        }
        init.set_method(method);
        let headers =
            web_sys::Headers::new().map_err(|_| ApiError::local("network", "no headers"))?;
        if let Some(token) = token {
            let _ = headers.set("authorization", &format!("Bearer {token}"));
        }
        if let Some((content_type, content)) = body {
            let _ = headers.set("content-type", content_type);
            init.set_body(&content);
        }
        init.set_headers(&headers);
        let request = Request::new_with_str_and_init(&format!("{}{path}", self.base), &init)
            .map_err(|_| ApiError::local("network", "bad request"))?;
        let window = web_sys::window().ok_or_else(|| ApiError::local("network", "no window"))?;
        let response: Response = JsFuture::from(window.fetch_with_request(&request))
            .await
            .map_err(|_| ApiError::local("network", "the server cannot be reached"))?
            .unchecked_into();
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse().ok());
        let text = match response.text() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
            Err(_) => None,
        }
        .unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Err(ApiError {
            status,
            retry_after,
            code: json["error"]["code"]
                .as_str()
                .unwrap_or("http_error")
                .to_string(),
            message: json["error"]["message"]
                .as_str()
                .unwrap_or("the request failed")
                .to_string(),
        })
    }
}

thread_local! {
    /// The last resort: the page's memory, for the life of the page.
    static MEMORY: std::cell::RefCell<std::collections::HashMap<String, String>> =
        Default::default();
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Where the browser lets this page keep things. Embedded on another site,
/// the widget's frame is a third party: many browsers refuse it
/// `localStorage` (private windows, third-party storage blocked) but allow
/// a partitioned cookie (CHIPS: kept per embedding site, readable only by
/// this origin), which the widget only reads itself — the server never
/// takes a cookie as a credential. Failing both, the page's memory.
enum Keep {
    Local(web_sys::Storage),
    Cookie(JsValue),
    Memory,
}

thread_local! {
    /// Whether partitioned cookies work here, found out once.
    static COOKIES_WORK: std::cell::OnceCell<bool> = const { std::cell::OnceCell::new() };
}

fn keep() -> Keep {
    if let Some(s) = storage() {
        return Keep::Local(s);
    }
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return Keep::Memory;
    };
    if COOKIES_WORK.with(|c| *c.get_or_init(|| cookies_work(&document))) {
        Keep::Cookie(document.into())
    } else {
        Keep::Memory
    }
}

fn cookie_jar(document: &JsValue) -> String {
    js_sys::Reflect::get(document, &"cookie".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default()
}

fn set_cookie(document: &JsValue, name: &str, value: &str, max_age_s: u32) {
    let line = format!(
        "{name}={}; Path=/; Max-Age={max_age_s}; Secure; SameSite=None; Partitioned",
        String::from(js_sys::encode_uri_component(value))
    );
    let _ = js_sys::Reflect::set(document, &"cookie".into(), &line.into());
}

fn cookies_work(document: &web_sys::Document) -> bool {
    let d: &JsValue = document.as_ref();
    set_cookie(d, "dc_probe", "1", 60);
    cookie_jar(d).contains("dc_probe=1")
}

/// A storage key as a cookie name.
fn cookie_name(key: &str) -> String {
    let mut name = String::from("dc_");
    for c in key.chars() {
        name.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    name
}

/// How long a kept value lives as a cookie: as long as a buyer session.
const COOKIE_MAX_AGE_S: u32 = 90 * 24 * 3600;

fn get_item(key: &str) -> Option<String> {
    match keep() {
        Keep::Local(s) => s.get_item(key).ok()?,
        Keep::Cookie(d) => {
            let name = cookie_name(key);
            cookie_jar(&d).split("; ").find_map(|pair| {
                let (n, v) = pair.split_once('=')?;
                (n == name)
                    .then(|| js_sys::decode_uri_component(v).ok().map(String::from))
                    .flatten()
            })
        }
        Keep::Memory => MEMORY.with(|m| m.borrow().get(key).cloned()),
    }
}

fn set_item(key: &str, value: &str) {
    match keep() {
        Keep::Local(s) => {
            let _ = s.set_item(key, value);
        }
        Keep::Cookie(d) => set_cookie(&d, &cookie_name(key), value, COOKIE_MAX_AGE_S),
        Keep::Memory => MEMORY.with(|m| {
            m.borrow_mut().insert(key.to_string(), value.to_string());
        }),
    }
}

fn remove_item(key: &str) {
    match keep() {
        Keep::Local(s) => {
            let _ = s.remove_item(key);
        }
        Keep::Cookie(d) => set_cookie(&d, &cookie_name(key), "", 0),
        Keep::Memory => MEMORY.with(|m| {
            m.borrow_mut().remove(key);
        }),
    }
}

/// The buyer's session for `base`, remembered in this browser.
pub fn saved_viewer(base: &str) -> Option<String> {
    get_item(&format!("dropcast:viewer:{base}"))
}

pub fn save_viewer(base: &str, token: &str) {
    set_item(&format!("dropcast:viewer:{base}"), token);
}

pub fn forget_viewer(base: &str) {
    remove_item(&format!("dropcast:viewer:{base}"));
}

fn intent_key(base: &str, show_id: &str) -> String {
    format!("dropcast:purchase:{base}:{show_id}")
}

/// The purchase in flight on this show, if one was left (a reload, another tab).
pub fn saved_intent(base: &str, show_id: &str) -> Option<crate::purchase::Intent> {
    let text = get_item(&intent_key(base, show_id))?;
    let intent: crate::purchase::Intent = serde_json::from_str(&text).ok()?;
    let age = js_sys::Date::now() - intent.started_ms;
    if age > crate::purchase::STALE_MS {
        forget_intent(base, show_id);
        return None;
    }
    Some(intent)
}

pub fn save_intent(base: &str, show_id: &str, intent: &crate::purchase::Intent) {
    if let Ok(text) = serde_json::to_string(intent) {
        set_item(&intent_key(base, show_id), &text);
    }
}

pub fn forget_intent(base: &str, show_id: &str) {
    remove_item(&intent_key(base, show_id));
}

/// A fresh idempotency key for one tap of Buy.
pub fn idempotency_key() -> String {
    let a = (js_sys::Math::random() * 1e16) as u64;
    let b = (js_sys::Math::random() * 1e16) as u64;
    format!("w{a:x}{b:x}")
}
