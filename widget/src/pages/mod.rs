//! One module a page.
//! - [`overlay`]: the OBS browser source.
//! - [`widget`]: the shopping widget (embedded anywhere, and on the watch page).
//! - [`watch`]: the stream with the widget.

pub mod overlay;
pub mod watch;
pub mod widget;
