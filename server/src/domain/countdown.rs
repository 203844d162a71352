//! Countdowns: their inputs, and the rule that decides whether a product can
//! be bought at a given instant. The order route applies [`purchase_window`];
//! the widget only displays what the server enforces.

use serde_json::Value;
use wire::{Countdown, CountdownKind};

use crate::input::{FromJson, integer_in};

impl FromJson for CountdownKind {
    fn from_json(value: &Value) -> Result<Self, String> {
        value
            .as_str()
            .and_then(CountdownKind::parse)
            .ok_or_else(|| "must be \"drop_opens\" or \"sale_ends\"".into())
    }
}

/// A countdown's length: 1 second to 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountdownSeconds(i64);

impl CountdownSeconds {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromJson for CountdownSeconds {
    fn from_json(value: &Value) -> Result<Self, String> {
        integer_in(value, 1..=86_400).map(CountdownSeconds)
    }
}

/// A drop's own hold lifetime: 10 seconds to an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldSeconds(i64);

impl HoldSeconds {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromJson for HoldSeconds {
    fn from_json(value: &Value) -> Result<Self, String> {
        integer_in(value, 10..=3_600).map(HoldSeconds)
    }
}

/// Whether a product can be bought now, as far as countdowns go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Open,
    /// A `drop_opens` countdown covering the product has not ended yet.
    NotOpen {
        opens_at_ms: i64,
    },
    /// A `sale_ends` countdown covering the product has ended.
    Ended {
        ended_at_ms: i64,
    },
}

/// Applies every countdown that covers `product_id` (its own, and the show-wide
/// ones with no product) at instant `now_ms`. A drop that has not opened wins
/// over an ended sale: the buyer is told to wait, not that they missed it.
pub fn purchase_window(countdowns: &[Countdown], product_id: &str, now_ms: i64) -> Window {
    let covering = countdowns
        .iter()
        .filter(|c| c.product_id.as_deref().is_none_or(|p| p == product_id));
    let mut window = Window::Open;
    for c in covering {
        match c.kind {
            CountdownKind::DropOpens if c.ends_at_ms > now_ms => {
                let opens_at_ms = match window {
                    Window::NotOpen { opens_at_ms } => opens_at_ms.max(c.ends_at_ms),
                    _ => c.ends_at_ms,
                };
                window = Window::NotOpen { opens_at_ms };
            }
            CountdownKind::SaleEnds if c.ends_at_ms <= now_ms => {
                if matches!(window, Window::Open) {
                    window = Window::Ended {
                        ended_at_ms: c.ends_at_ms,
                    };
                }
            }
            _ => {}
        }
    }
    window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cd(kind: CountdownKind, product: Option<&str>, ends_at_ms: i64) -> Countdown {
        Countdown {
            id: "cd_x".into(),
            kind,
            product_id: product.map(str::to_string),
            label: None,
            ends_at_ms,
            set_at_ms: None,
            hold_seconds: None,
        }
    }

    #[test]
    fn no_countdowns_means_open() {
        assert_eq!(purchase_window(&[], "p", 0), Window::Open);
    }

    #[test]
    fn drop_blocks_until_it_ends_then_opens() {
        let c = [cd(CountdownKind::DropOpens, Some("p"), 1000)];
        assert_eq!(
            purchase_window(&c, "p", 999),
            Window::NotOpen { opens_at_ms: 1000 }
        );
        assert_eq!(purchase_window(&c, "p", 1000), Window::Open);
        assert_eq!(purchase_window(&c, "other", 0), Window::Open);
    }

    #[test]
    fn sale_is_open_until_it_ends() {
        let c = [cd(CountdownKind::SaleEnds, None, 1000)];
        assert_eq!(purchase_window(&c, "p", 999), Window::Open);
        assert_eq!(
            purchase_window(&c, "p", 1000),
            Window::Ended { ended_at_ms: 1000 }
        );
    }

    #[test]
    fn the_latest_pending_drop_and_not_open_wins() {
        let c = [
            cd(CountdownKind::SaleEnds, Some("p"), 10),
            cd(CountdownKind::DropOpens, None, 500),
            cd(CountdownKind::DropOpens, Some("p"), 800),
        ];
        assert_eq!(
            purchase_window(&c, "p", 100),
            Window::NotOpen { opens_at_ms: 800 }
        );
    }

    #[test]
    fn seconds_are_bounded() {
        assert!(CountdownSeconds::from_json(&serde_json::json!(0)).is_err());
        assert!(CountdownSeconds::from_json(&serde_json::json!(86_401)).is_err());
        assert_eq!(
            CountdownSeconds::from_json(&serde_json::json!(120))
                .unwrap()
                .get(),
            120
        );
    }
}
