//! Domain newtypes: each parses and validates one kind of input, so a value of
//! the type is valid by construction and routes never re-check it.
//!
//! - [`address`]: shipping addresses, checked per country.
//! - [`announce`]: announcement channels, subscriptions' and notices' states,
//!   email addresses and notice text.
//! - [`ids`]: opaque random ids and the secrets (tokens, stream keys).
//! - [`text`]: names, titles and labels.
//! - [`product`]: SKU, price, currency, stock and per-buyer limits.
//! - [`parcel`]: carriers and tracking numbers.
//! - [`order`]: an order's status and where its units are.
//! - [`countdown`]: countdown kinds and lengths, and the purchase-window rule.

pub mod address;
pub mod announce;
pub mod countdown;
pub mod ids;
pub mod order;
pub mod parcel;
pub mod product;
pub mod text;
