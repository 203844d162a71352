//! The REST API from the browser: JSON over `fetch`, the buyer's session
//! kept in `localStorage`, and errors as the server's stable codes.

use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// A failed call: the server's `error.code` (or a local one) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    fn local(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 0,
            code: code.into(),
            message: message.into(),
        }
    }
}

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
        let init = RequestInit::new();
        init.set_method(method);
        let headers =
            web_sys::Headers::new().map_err(|_| ApiError::local("network", "no headers"))?;
        if let Some(token) = token {
            let _ = headers.set("authorization", &format!("Bearer {token}"));
        }
        if let Some(body) = body {
            let _ = headers.set("content-type", "application/json");
            init.set_body(&body.to_string().into());
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
        let text = match response.text() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
            Err(_) => None,
        }
        .unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(json);
        }
        Err(ApiError {
            status,
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

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The buyer's session for `base`, remembered in this browser.
pub fn saved_viewer(base: &str) -> Option<String> {
    storage()?
        .get_item(&format!("dropcast:viewer:{base}"))
        .ok()?
}

pub fn save_viewer(base: &str, token: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(&format!("dropcast:viewer:{base}"), token);
    }
}

pub fn forget_viewer(base: &str) {
    if let Some(s) = storage() {
        let _ = s.remove_item(&format!("dropcast:viewer:{base}"));
    }
}

/// A fresh idempotency key for one tap of Buy.
pub fn idempotency_key() -> String {
    let a = (js_sys::Math::random() * 1e16) as u64;
    let b = (js_sys::Math::random() * 1e16) as u64;
    format!("w{a:x}{b:x}")
}
