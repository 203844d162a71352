//! Shipping addresses: parsed and checked field by field, so a parcel is
//! never promised to an address a carrier cannot read.
//!
//! The country must be an ISO 3166-1 alpha-2 code (from the maintained
//! `celes` table). What each country requires beyond name, line 1 and city
//! is a short table of our own, as no maintained Rust crate carries Google's
//! address metadata: a region (state, province…) where the post needs one,
//! no postal code where the country has none, and the postal code's shape
//! where it is well known. Everything else is bounded text.

use serde_json::Value;

/// Why an address was refused: the field (relative to the address) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> AddressError {
    AddressError {
        field,
        message: message.into(),
    }
}

const FIELDS: &[&str] = &[
    "name",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
];

/// Countries whose post has no postal codes (none is asked for; one given is kept).
const NO_POSTAL_CODE: &[&str] = &[
    "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF", "CG", "CI", "CK",
    "CM", "DJ", "DM", "ER", "FJ", "GA", "GD", "GH", "GM", "GQ", "GY", "HK", "IE", "JM", "KI", "KM",
    "KN", "KP", "LC", "ML", "MO", "MR", "MW", "NR", "NU", "QA", "RW", "SB", "SC", "SL", "SR", "ST",
    "SY", "TD", "TF", "TG", "TK", "TL", "TO", "TV", "UG", "VU", "YE", "ZW",
];

/// Countries whose post needs the region (state, province, prefecture…).
const NEEDS_REGION: &[&str] = &["AU", "BR", "CA", "CN", "IN", "JP", "MX", "US"];

fn text(
    obj: &serde_json::Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, AddressError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
            if s.is_empty() {
                return Ok(None);
            }
            if s.chars().count() > max {
                return Err(err(
                    field,
                    format!("`{field}` must be at most {max} characters"),
                ));
            }
            if s.chars().any(char::is_control) {
                return Err(err(
                    field,
                    format!("`{field}` must not contain control characters"),
                ));
            }
            Ok(Some(s))
        }
        Some(_) => Err(err(field, format!("`{field}` must be a string"))),
    }
}

fn required(v: Option<String>, field: &'static str, what: &str) -> Result<String, AddressError> {
    v.ok_or_else(|| err(field, format!("`{field}` is required: {what}")))
}

/// Whether `code` (already trimmed, upper-cased) has the country's shape.
fn postal_code_fits(country: &str, code: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let b = code.as_bytes();
    match country {
        "US" => {
            digits(code, 5)
                || (code.len() == 10
                    && digits(&code[..5], 5)
                    && b[5] == b'-'
                    && digits(&code[6..], 4))
        }
        "DE" | "FR" | "IT" | "ES" | "FI" | "MX" => digits(code, 5),
        "AU" | "AT" | "BE" | "CH" | "DK" | "NO" | "NZ" | "ZA" => digits(code, 4),
        "IN" => digits(code, 6),
        "JP" => {
            digits(code, 7)
                || (code.len() == 8
                    && digits(&code[..3], 3)
                    && b[3] == b'-'
                    && digits(&code[4..], 4))
        }
        "NL" => {
            let c: String = code.chars().filter(|c| *c != ' ').collect();
            c.len() == 6 && digits(&c[..4], 4) && c[4..].bytes().all(|b| b.is_ascii_uppercase())
        }
        "CA" => {
            let c: Vec<u8> = code.bytes().filter(|b| *b != b' ').collect();
            c.len() == 6
                && c.iter().enumerate().all(|(i, b)| {
                    if i % 2 == 0 {
                        b.is_ascii_uppercase()
                    } else {
                        b.is_ascii_digit()
                    }
                })
        }
        "GB" => {
            // Outward code (2–4) then inward code (digit, two letters).
            let c: String = code.chars().filter(|c| *c != ' ').collect();
            let n = c.len();
            (5..=7).contains(&n)
                && c.as_bytes()[0].is_ascii_uppercase()
                && c.bytes().all(|b| b.is_ascii_alphanumeric())
                && c.as_bytes()[n - 3].is_ascii_digit()
                && c.as_bytes()[n - 2..].iter().all(u8::is_ascii_uppercase)
        }
        _ => {
            code.len() <= 12
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        }
    }
}

/// Parses and checks an address; the canonical form keeps single spaces,
/// capitals for the country and postal code.
/// The first name of a full name, as a "just bought" toast shows a buyer to
/// the audience: its first word, at most 20 characters; `None` if it has
/// no letter.
pub fn first_name(full_name: &str) -> Option<String> {
    let word = full_name.split_whitespace().next()?;
    let word: String = word.chars().filter(|c| !c.is_control()).take(20).collect();
    word.chars().any(char::is_alphabetic).then_some(word)
}

pub fn parse_address(value: &Value) -> Result<wire::Address, AddressError> {
    let Value::Object(obj) = value else {
        return Err(err(
            "shipping",
            "the address must be an object of name, line1, line2, city, region, postal_code, country",
        ));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(64).collect();
        return Err(err(
            "shipping",
            format!("`{shown}` is not a field of an address"),
        ));
    }
    let country = required(
        text(obj, "country", 2)?,
        "country",
        "an ISO 3166-1 alpha-2 code such as GB",
    )?
    .to_ascii_uppercase();
    if country.len() != 2 || celes::Country::from_alpha2(&country).is_err() {
        return Err(err(
            "country",
            format!("`country` must be an ISO 3166-1 alpha-2 code such as GB; {country:?} is none"),
        ));
    }
    let name = required(text(obj, "name", 100)?, "name", "who the parcel is for")?;
    let line1 = required(text(obj, "line1", 200)?, "line1", "the street and number")?;
    let line2 = text(obj, "line2", 200)?;
    let city = required(text(obj, "city", 100)?, "city", "the town or city")?;
    let region = text(obj, "region", 100)?;
    if region.is_none() && NEEDS_REGION.contains(&country.as_str()) {
        return Err(err(
            "region",
            format!("`region` is required for {country} (state, province or prefecture)"),
        ));
    }
    let postal_code = text(obj, "postal_code", 20)?.map(|p| p.to_ascii_uppercase());
    let postal_code = match postal_code {
        Some(code) => {
            if !postal_code_fits(&country, &code) {
                return Err(err(
                    "postal_code",
                    format!("`postal_code` {code:?} is not a postal code of {country}"),
                ));
            }
            code
        }
        None if NO_POSTAL_CODE.contains(&country.as_str()) => String::new(),
        None => {
            return Err(err(
                "postal_code",
                format!("`postal_code` is required for {country}"),
            ));
        }
    };
    Ok(wire::Address {
        name,
        line1,
        line2,
        city,
        region,
        postal_code,
        country,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn london() -> Value {
        json!({"name":"Ada Lovelace","line1":"12  St James's Square","city":"London","postal_code":"sw1y 4jh","country":"gb"})
    }

    #[test]
    fn a_good_address_is_made_canonical() {
        let a = parse_address(&london()).unwrap();
        assert_eq!(a.line1, "12 St James's Square");
        assert_eq!(
            (a.postal_code.as_str(), a.country.as_str()),
            ("SW1Y 4JH", "GB")
        );
        assert_eq!(a.line2, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (json!({"country":"XX"}), "country"),
            (json!({"country":"GBR"}), "country"),
            (json!({"name":" "}), "name"),
            (json!({"line1":null}), "line1"),
            (json!({"city":5}), "city"),
            (json!({"postal_code":"12345"}), "postal_code"),
            (json!({"postal_code":null}), "postal_code"),
            (json!({"line2":"a\u{7}b"}), "line2"),
            (json!({"zip":"x"}), "shipping"),
        ];
        for (change, field) in cases {
            let mut v = london();
            for (k, val) in change.as_object().unwrap() {
                v[k] = val.clone();
            }
            assert_eq!(parse_address(&v).unwrap_err().field, field, "{change}");
        }
        assert_eq!(
            parse_address(&json!("London")).unwrap_err().field,
            "shipping"
        );
    }

    #[test]
    fn countries_ask_for_what_their_post_needs() {
        let us = json!({"name":"A B","line1":"1 Main St","city":"Austin","postal_code":"78701","country":"US"});
        assert_eq!(parse_address(&us).unwrap_err().field, "region");
        let mut us_ok = us.clone();
        us_ok["region"] = json!("TX");
        assert!(parse_address(&us_ok).is_ok());
        us_ok["postal_code"] = json!("78701-1234");
        assert!(parse_address(&us_ok).is_ok());
        us_ok["postal_code"] = json!("7870");
        assert_eq!(parse_address(&us_ok).unwrap_err().field, "postal_code");
        let hk = json!({"name":"A B","line1":"1 Queen's Rd","city":"Hong Kong","country":"HK"});
        assert_eq!(parse_address(&hk).unwrap().postal_code, "");
        let ca = json!({"name":"A B","line1":"1 Rue","city":"Montréal","region":"QC","postal_code":"h2x 1y4","country":"CA"});
        assert!(parse_address(&ca).is_ok());
        let de = json!({"name":"A B","line1":"Unter den Linden 1","city":"Berlin","postal_code":"10117","country":"DE"});
        assert!(parse_address(&de).is_ok());
    }

    #[test]
    fn the_first_name_is_the_first_word() {
        assert_eq!(first_name("Ada Lovelace").as_deref(), Some("Ada"));
        assert_eq!(first_name("  Zoë  "), Some("Zoë".into()));
        assert_eq!(first_name("   "), None);
        assert_eq!(first_name("42 Ltd"), None);
        assert_eq!(first_name(&"x".repeat(50)).unwrap().len(), 20);
    }
}
