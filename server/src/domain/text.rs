//! Human text fields: creator names, show and product titles, labels.

use serde_json::Value;

use crate::input::{FromJson, text};

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Most characters allowed.
            pub const MAX: usize = $max;

            pub fn parse(s: &str) -> Result<Self, String> {
                Self::from_json(&Value::String(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromJson for $name {
            fn from_json(value: &Value) -> Result<Self, String> {
                text(value, $max).map($name)
            }
        }
    };
}

text_type!(
    /// A creator's display name.
    Name,
    100
);
text_type!(
    /// The title of a show or a product.
    Title,
    200
);
text_type!(
    /// A countdown's caption ("Drop opens in").
    Label,
    80
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold() {
        assert!(Name::parse(&"n".repeat(100)).is_ok());
        assert!(Name::parse(&"n".repeat(101)).is_err());
        assert_eq!(
            Title::parse("  Sneaker drop ").unwrap().as_str(),
            "Sneaker drop"
        );
        assert!(Label::parse("").is_err());
    }
}

/// Sites allowed to frame a creator's widget: up to 20 origins
/// (`https://shop.example`, `http://localhost:3000`, `https://*.example.com`),
/// as CSP `frame-ancestors` sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedOrigins(pub Vec<String>);

impl EmbedOrigins {
    /// One origin, normalised (lower case, no trailing slash), or why not.
    pub fn origin(s: &str) -> Result<String, String> {
        let s = s.trim().trim_end_matches('/').to_ascii_lowercase();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?} is not an origin (scheme://host[:port])"))?;
        if !matches!(scheme, "http" | "https") {
            return Err(format!("{s:?}: only http and https sites can embed"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p))
                if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 5 =>
            {
                (h, Some(p))
            }
            _ => (rest, None),
        };
        let bare = host.strip_prefix("*.").unwrap_or(host);
        let ok = !bare.is_empty()
            && bare.len() <= 253
            && bare.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok || port.is_some_and(|p| p.parse::<u32>().map_or(true, |p| p == 0 || p > 65_535)) {
            return Err(format!("{s:?} is not an origin (scheme://host[:port])"));
        }
        Ok(s)
    }
}

impl FromJson for EmbedOrigins {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let list = value
            .as_array()
            .ok_or("must be an array of origins, or null")?;
        if list.len() > 20 {
            return Err("at most 20 origins".into());
        }
        let mut out = Vec::new();
        for v in list {
            let origin = EmbedOrigins::origin(v.as_str().ok_or("each origin must be a string")?)?;
            if !out.contains(&origin) {
                out.push(origin);
            }
        }
        Ok(EmbedOrigins(out))
    }
}

#[cfg(test)]
mod embed_tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_normalised() {
        assert_eq!(
            EmbedOrigins::origin("https://Shop.Example/").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            EmbedOrigins::origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert!(EmbedOrigins::origin("https://*.example.com").is_ok());
        for bad in [
            "shop.example",
            "ftp://x",
            "https://",
            "https://a b",
            "https://x:99999",
            "https://x/path",
            "https://x;y",
        ] {
            assert!(EmbedOrigins::origin(bad).is_err(), "{bad}");
        }
    }
}
