//! Product fields: SKU, price, currency, stock and limits.

use serde_json::Value;

use crate::input::{FromJson, integer_in};

/// A stock-keeping unit: 1..=64 of `A-Z a-z 0-9 . _ -`, unique within a show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for Sku {
    fn from_json(value: &Value) -> Result<Self, String> {
        let s = value.as_str().ok_or("must be a string")?;
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Sku(s.to_string()))
        } else {
            Err("must be 1 to 64 characters of letters, digits, `.`, `_` or `-`".into())
        }
    }
}

/// A price in minor units: positive, at most 10,000,000.00 in a two-decimal currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceCents(i64);

impl PriceCents {
    pub const MAX: i64 = 1_000_000_000;

    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromJson for PriceCents {
    fn from_json(value: &Value) -> Result<Self, String> {
        integer_in(value, 1..=Self::MAX).map(PriceCents)
    }
}

/// A shipping price in minor units: 0 (free) up to a price's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippingCents(i64);

impl ShippingCents {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromJson for ShippingCents {
    fn from_json(value: &Value) -> Result<Self, String> {
        integer_in(value, 0..=PriceCents::MAX).map(ShippingCents)
    }
}

/// `"shipping"` or `"digital"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FulfilmentField(pub wire::Fulfilment);

impl FromJson for FulfilmentField {
    fn from_json(value: &Value) -> Result<Self, String> {
        value
            .as_str()
            .and_then(wire::Fulfilment::parse)
            .map(FulfilmentField)
            .ok_or_else(|| "must be \"shipping\" or \"digital\"".into())
    }
}

/// ISO 4217 codes in use, lowercase as Stripe wants them.
const ISO_4217: &[&str] = &[
    "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt",
    "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "btn", "bwp", "byn", "bzd", "cad",
    "cdf", "chf", "clp", "cny", "cop", "crc", "cup", "cve", "czk", "djf", "dkk", "dop", "dzd",
    "egp", "ern", "etb", "eur", "fjd", "fkp", "gbp", "gel", "ghs", "gip", "gmd", "gnf", "gtq",
    "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "iqd", "irr", "isk", "jmd", "jod",
    "jpy", "kes", "kgs", "khr", "kmf", "kpw", "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr",
    "lrd", "lsl", "lyd", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop", "mru", "mur", "mvr",
    "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen",
    "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr",
    "sdg", "sek", "sgd", "shp", "sle", "sos", "srd", "ssp", "stn", "svc", "syp", "szl", "thb",
    "tjs", "tmt", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu", "uzs",
    "ves", "vnd", "vuv", "wst", "xaf", "xcd", "xcg", "xof", "xpf", "yer", "zar", "zmw", "zwg",
];

/// A lowercase ISO 4217 currency code. `"USD"` is accepted and stored as `"usd"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for Currency {
    fn from_json(value: &Value) -> Result<Self, String> {
        let s = value
            .as_str()
            .ok_or("must be a string")?
            .to_ascii_lowercase();
        if ISO_4217.binary_search(&s.as_str()).is_ok() {
            Ok(Currency(s))
        } else {
            Err("must be an ISO 4217 currency code such as \"usd\"".into())
        }
    }
}

/// Units of stock: 0..=1,000,000. Also the cap on a product's total stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock(i64);

impl Stock {
    pub const MAX: i64 = 1_000_000;

    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromJson for Stock {
    fn from_json(value: &Value) -> Result<Self, String> {
        integer_in(value, 0..=Self::MAX).map(Stock)
    }
}

/// A restock (positive) or a removal (negative) of units; removal is further
/// limited to what is available, which only the database knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockDelta(i64);

impl StockDelta {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromJson for StockDelta {
    fn from_json(value: &Value) -> Result<Self, String> {
        integer_in(value, -Stock::MAX..=Stock::MAX).map(StockDelta)
    }
}

/// Most units one buyer may own of a product: 1..=1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPerBuyer(i64);

impl MaxPerBuyer {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromJson for MaxPerBuyer {
    fn from_json(value: &Value) -> Result<Self, String> {
        integer_in(value, 1..=1000).map(MaxPerBuyer)
    }
}

/// An absolute `http(s)` image URL of at most 2,048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(String);

impl ImageUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromJson for ImageUrl {
    fn from_json(value: &Value) -> Result<Self, String> {
        let s = value.as_str().ok_or("must be a string")?;
        let parsed = url::Url::parse(s).map_err(|_| "must be an absolute URL")?;
        if s.len() > 2048 || !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none()
        {
            return Err("must be an http(s) URL of at most 2048 characters".into());
        }
        Ok(ImageUrl(parsed.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn currency_table_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn currencies() {
        assert_eq!(Currency::from_json(&json!("USD")).unwrap().as_str(), "usd");
        assert_eq!(Currency::from_json(&json!("eur")).unwrap().as_str(), "eur");
        for bad in [json!("usdd"), json!("xyz"), json!(""), json!(840)] {
            assert!(Currency::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skus() {
        assert!(Sku::from_json(&json!("TEE-black.L_1")).is_ok());
        for bad in [
            json!(""),
            json!("a b"),
            json!("ä"),
            json!("x".repeat(65)),
            json!(1),
        ] {
            assert!(Sku::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prices_stock_and_limits() {
        assert!(PriceCents::from_json(&json!(0)).is_err());
        assert!(PriceCents::from_json(&json!(-1)).is_err());
        assert!(PriceCents::from_json(&json!(19.99)).is_err());
        assert_eq!(PriceCents::from_json(&json!(1999)).unwrap().get(), 1999);
        assert!(Stock::from_json(&json!(1_000_001)).is_err());
        assert!(Stock::from_json(&json!(0)).is_ok());
        assert!(StockDelta::from_json(&json!(-5)).is_ok());
        assert!(MaxPerBuyer::from_json(&json!(0)).is_err());
    }

    #[test]
    fn image_urls() {
        assert!(ImageUrl::from_json(&json!("https://cdn.example/p.jpg")).is_ok());
        for bad in [
            json!("javascript:alert(1)"),
            json!("/rel.jpg"),
            json!("ftp://x/y"),
        ] {
            assert!(ImageUrl::from_json(&bad).is_err(), "{bad}");
        }
    }
}
