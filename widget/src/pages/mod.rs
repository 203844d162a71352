//! One module a page.
//! - [`overlay`]: the OBS browser source.
//! - [`widget`]: the shopping widget (embedded anywhere, and on the watch page).

pub mod overlay;
pub mod widget;
