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
