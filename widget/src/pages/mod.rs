//! One module a page.
//! - [`clip`]: a finished clip with its product and Buy.
//! - [`order`]: the buyer's order page, opened from their mail.
//! - [`overlay`]: the OBS browser source.
//! - [`widget`]: the shopping widget (embedded anywhere, and on the watch page).
//! - [`watch`]: the stream with the widget.
//! - `studio`: the creator's console and the clip desk (feature `studio`).

pub mod clip;
pub mod order;
pub mod overlay;
#[cfg(feature = "studio")]
pub mod studio;
pub mod watch;
pub mod widget;
