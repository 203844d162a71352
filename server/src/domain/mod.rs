//! Domain newtypes: each parses and validates one kind of input, so a value of
//! the type is valid by construction and routes never re-check it.
//!
//! - [`ids`]: opaque random ids and the secrets (tokens, stream keys).
//! - [`text`]: names, titles and labels.
//! - [`product`]: SKU, price, currency, stock and per-buyer limits.
//! - [`order`]: an order's status and where its units are.
//! - [`countdown`]: countdown kinds and lengths, and the purchase-window rule.

pub mod countdown;
pub mod ids;
pub mod order;
pub mod product;
pub mod text;
