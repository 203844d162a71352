//! Request bodies: bounded, JSON, validated field by field.
//!
//! [`JsonObject`] is the only way a route reads a body. It refuses anything
//! over [`BODY_LIMIT`] (413), anything not declared as JSON (415), anything that
//! is not a JSON object (400), and fields the route does not know (422), so a
//! typo never silently does nothing. Each field is parsed by its domain type's
//! [`FromJson`], whose refusal becomes a 422 `invalid_<field>`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::StatusCode};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Largest request body accepted anywhere in the API.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Parses one JSON value into a domain type, or says why it cannot.
pub trait FromJson: Sized {
    /// `Err` holds a human sentence naming the rule that was broken.
    fn from_json(value: &Value) -> Result<Self, String>;
}

/// A JSON object body whose fields are taken one by one and checked.
#[derive(Debug)]
pub struct JsonObject {
    fields: Map<String, Value>,
}

impl JsonObject {
    /// Parses a body; an empty body is an empty object.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject { fields: Map::new() });
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(fields)) => Ok(JsonObject { fields }),
            Ok(_) => Err(ApiError::bad_request(
                "expected_object",
                "the body must be a JSON object",
            )),
            Err(e) => Err(ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            )),
        }
    }

    /// A field that must be present (and not null).
    pub fn required<T: FromJson>(&mut self, field: &'static str) -> Result<T, ApiError> {
        match self.fields.remove(field) {
            None | Some(Value::Null) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field",
                format!("`{field}` is required"),
            )
            .with_field(field)),
            Some(value) => parse_field(field, &value),
        }
    }

    /// A field that may be absent or null.
    pub fn optional<T: FromJson>(&mut self, field: &'static str) -> Result<Option<T>, ApiError> {
        match self.fields.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => parse_field(field, &value).map(Some),
        }
    }

    /// A field that must be present but may be null (`{"product_id": null}` unpins).
    pub fn nullable<T: FromJson>(&mut self, field: &'static str) -> Result<Option<T>, ApiError> {
        match self.fields.remove(field) {
            None => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field",
                format!("`{field}` is required (it may be null)"),
            )
            .with_field(field)),
            Some(Value::Null) => Ok(None),
            Some(value) => parse_field(field, &value).map(Some),
        }
    }

    /// A field of a patch: absent (`None`: leave it), null (`Some(None)`:
    /// clear it) or a value.
    pub fn patch<T: FromJson>(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Option<T>>, ApiError> {
        match self.fields.remove(field) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(value) => parse_field(field, &value).map(|v| Some(Some(v))),
        }
    }

    /// A field as raw JSON (absent or null: `None`), for values whose
    /// refusals name a field inside them (an address).
    pub fn raw(&mut self, field: &'static str) -> Option<Value> {
        self.fields.remove(field).filter(|v| !v.is_null())
    }

    /// The body as a whole, for a route whose body is one value (an address).
    pub fn into_value(self) -> Value {
        Value::Object(self.fields)
    }

    /// Ends parsing: any field not taken is unknown to the route.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.fields.keys().next() {
            None => Ok(()),
            Some(name) => {
                let shown: String = name.chars().take(64).collect();
                Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_field",
                    format!("`{shown}` is not a field of this request"),
                )
                .with_field(shown))
            }
        }
    }
}

fn parse_field<T: FromJson>(field: &'static str, value: &Value) -> Result<T, ApiError> {
    T::from_json(value).map_err(|reason| ApiError::invalid(field, format!("`{field}` {reason}")))
}

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)").to_string());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_len.is_some_and(|n| n > BODY_LIMIT) {
                return Err(too_large());
            }
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::bad_request(
                        "unreadable_body",
                        format!("the body could not be read: {e}"),
                    )
                })?;
                if body.len() + chunk.len() > BODY_LIMIT {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            if !body.is_empty() {
                let is_json = content_type.as_deref().is_some_and(|ct| {
                    let essence = ct.split(';').next().unwrap_or("").trim();
                    essence.eq_ignore_ascii_case("application/json")
                });
                if !is_json {
                    return Err(ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported_media_type",
                        "send the body as `Content-Type: application/json`",
                    ));
                }
            }
            JsonObject::parse(&body)
        })
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {BODY_LIMIT} bytes"),
    )
}

impl FromJson for String {
    fn from_json(value: &Value) -> Result<Self, String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "must be a string".into())
    }
}

/// A whole number in `range`; floats, strings and out-of-range values are refused.
pub fn integer_in(value: &Value, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    match value.as_i64() {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

/// Text of 1..=`max` characters after trimming, with no control characters.
pub fn text(value: &Value, max: usize) -> Result<String, String> {
    let s = value.as_str().ok_or("must be a string")?.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_objects_are_bad_requests() {
        for body in [&b"[1]"[..], b"\"x\"", b"{", b"nul"] {
            let err = JsonObject::parse(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{body:?}");
        }
        assert!(JsonObject::parse(b"  ").is_ok());
    }

    #[test]
    fn fields_are_required_optional_nullable_and_unknown_ones_refused() {
        let mut obj = JsonObject::parse(br#"{"a":"x","b":null,"c":null,"d":1}"#).unwrap();
        assert_eq!(obj.required::<String>("a").unwrap(), "x");
        assert_eq!(obj.optional::<String>("b").unwrap(), None);
        assert_eq!(obj.nullable::<String>("c").unwrap(), None);
        assert_eq!(
            obj.required::<String>("z").unwrap_err().code,
            "missing_field"
        );
        assert_eq!(
            obj.nullable::<String>("y").unwrap_err().code,
            "missing_field"
        );
        let err = obj.finish().unwrap_err();
        assert_eq!(
            (err.code.as_ref(), err.field.as_deref()),
            ("unknown_field", Some("d"))
        );
    }

    #[test]
    fn integers_must_be_whole_and_in_range() {
        assert_eq!(integer_in(&serde_json::json!(5), 1..=10), Ok(5));
        for bad in [
            serde_json::json!(0),
            serde_json::json!(11),
            serde_json::json!(5.5),
            serde_json::json!("5"),
            serde_json::json!(1e300),
        ] {
            assert!(integer_in(&bad, 1..=10).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_is_trimmed_bounded_and_printable() {
        assert_eq!(text(&serde_json::json!("  hi "), 5).unwrap(), "hi");
        assert!(text(&serde_json::json!("   "), 5).is_err());
        assert!(text(&serde_json::json!("toolong"), 5).is_err());
        assert!(text(&serde_json::json!("a\u{0}b"), 5).is_err());
        assert!(text(&serde_json::json!(3), 5).is_err());
    }
}
