//! What a parcel is sent with: the carrier's name and its tracking number.

use serde_json::Value;

use crate::input::{FromJson, text};

/// A carrier's name ("Royal Mail", "UPS"): 1..=40 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier(String);

impl Carrier {
    pub fn parse(s: &str) -> Result<Self, String> {
        text(&Value::String(s.to_string()), 40).map(Carrier)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for Carrier {
    fn from_json(value: &Value) -> Result<Self, String> {
        Carrier::parse(value.as_str().ok_or("must be a string")?)
    }
}

/// A tracking number: 4..=64 letters, digits, spaces and `-`, kept as given
/// (trimmed). Label tools print them in capitals; carriers accept either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ok = (4..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-');
        if ok {
            Ok(TrackingNumber(s.to_string()))
        } else {
            Err("must be 4 to 64 letters, digits, spaces or `-`".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for TrackingNumber {
    fn from_json(value: &Value) -> Result<Self, String> {
        TrackingNumber::parse(value.as_str().ok_or("must be a string")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carriers_and_tracking_numbers_are_bounded() {
        assert_eq!(
            Carrier::parse(" Royal Mail ").unwrap().as_str(),
            "Royal Mail"
        );
        assert!(Carrier::parse("").is_err());
        assert!(Carrier::parse(&"x".repeat(41)).is_err());
        assert_eq!(
            TrackingNumber::parse(" 1Z999AA10123456784 ")
                .unwrap()
                .as_str(),
            "1Z999AA10123456784"
        );
        assert!(TrackingNumber::parse("AB1").is_err());
        assert!(TrackingNumber::parse("AB12<script>").is_err());
    }
}
