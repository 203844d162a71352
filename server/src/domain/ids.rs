//! Opaque ids and secrets.
//!
//! Ids are a short type prefix and 64 random bits (`shw_9f2c…`): unguessable
//! enough that listing them is not a way in, short enough for URLs. Secrets —
//! bearer tokens and stream keys — carry 256 random bits.

use rand::RngCore;
use serde_json::Value;

use crate::input::FromJson;

/// A fresh id with the given prefix, e.g. `new_id("shw")`.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// A fresh 256-bit secret, hex encoded after `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// Whether `s` could be one of our ids (or secrets): short, ASCII word characters.
/// Anything else cannot name a row, so lookups skip the database and answer 404.
/// FNV-1a of `s`: the same on every node and build (std's hasher is
/// seeded per process), for spreading ids over a fixed set.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn looks_like_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 80 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An id given in a request body (for example `product_id`); existence is
/// checked by the route, shape here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRef(pub String);

impl FromJson for IdRef {
    fn from_json(value: &Value) -> Result<Self, String> {
        match value.as_str() {
            Some(s) if looks_like_id(s) => Ok(IdRef(s.to_string())),
            Some(_) => Err("is not an id".into()),
            None => Err("must be a string id".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_random_and_recognised() {
        let a = new_id("shw");
        let b = new_id("shw");
        assert!(a.starts_with("shw_") && a.len() == 20);
        assert_ne!(a, b);
        assert!(looks_like_id(&a));
        assert_eq!(new_secret("dct").len(), 4 + 64);
    }

    #[test]
    fn odd_strings_are_not_ids() {
        for s in ["", "a b", "../etc", "x'--", &"a".repeat(81), "é"] {
            assert!(!looks_like_id(s), "{s:?}");
        }
    }
}
