//! An order's two states: what the buyer is told ([`OrderStatus`]) and where
//! its units are ([`StockState`]). The database keeps them as text; these
//! enums are what the rest of the server sees, parsed at the store boundary.

use std::fmt;

/// What the buyer and the creator are told about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Stock held; the payment has not reached a final state.
    Pending,
    /// Stock held; the buyer's bank asks for 3-D Secure.
    RequiresAction,
    Paid,
    /// The payment failed; the units went back.
    Failed,
    /// The hold ran out before the payment finished; the units went back.
    Expired,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::RequiresAction,
        OrderStatus::Paid,
        OrderStatus::Failed,
        OrderStatus::Expired,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::RequiresAction => "requires_action",
            OrderStatus::Paid => "paid",
            OrderStatus::Failed => "failed",
            OrderStatus::Expired => "expired",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// Whether nothing more will happen to the order by itself (a refund
    /// of a paid order is the creator's act, not the payment's).
    pub fn is_final(self) -> bool {
        !matches!(self, OrderStatus::Pending | OrderStatus::RequiresAction)
    }
}

/// Where an order's units are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StockState {
    /// Taken from `available`, waiting for the payment.
    Held,
    Sold,
    /// Back in `available` (failed, expired, refunded).
    Released,
}

impl StockState {
    pub fn as_str(self) -> &'static str {
        match self {
            StockState::Held => "held",
            StockState::Sold => "sold",
            StockState::Released => "released",
        }
    }
}

/// A state the database holds that this build does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown order state {0:?}")]
pub struct UnknownState(String);

impl UnknownState {
    pub fn new(s: String) -> UnknownState {
        UnknownState(s)
    }
}

impl TryFrom<String> for OrderStatus {
    type Error = UnknownState;
    fn try_from(s: String) -> Result<Self, UnknownState> {
        OrderStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(UnknownState(s))
    }
}

impl TryFrom<String> for StockState {
    type Error = UnknownState;
    fn try_from(s: String) -> Result<Self, UnknownState> {
        [StockState::Held, StockState::Sold, StockState::Released]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(UnknownState(s))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for OrderStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_text() {
        for status in OrderStatus::ALL {
            assert_eq!(
                OrderStatus::try_from(status.as_str().to_string()).unwrap(),
                status
            );
        }
        for state in [StockState::Held, StockState::Sold, StockState::Released] {
            assert_eq!(
                StockState::try_from(state.as_str().to_string()).unwrap(),
                state
            );
        }
        assert!(OrderStatus::try_from("shipped".to_string()).is_err());
    }
}
