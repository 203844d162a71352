//! One module a page.
//! - [`overlay`]: the OBS browser source.

pub mod overlay;
