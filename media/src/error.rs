//! The media crate's one error type: GStreamer's failures made typed.

use gstreamer as gst;
use gstreamer::prelude::*;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("GStreamer could not start: {0}")]
    Init(#[from] gst::glib::Error),
    #[error("the GStreamer element `{0}` is not installed")]
    MissingElement(&'static str),
    #[error("pipeline error from {element}: {message} ({debug})")]
    Pipeline {
        element: String,
        message: String,
        debug: String,
    },
    #[error("pipeline could not change state: {0}")]
    State(#[from] gst::StateChangeError),
    #[error("pipeline could not be assembled: {0}")]
    Link(String),
    #[error("the pipeline has no bus")]
    NoBus,
    #[error("data could not be pushed: {0}")]
    Flow(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the stream was cut: {}", .0.detail())]
    Cut(crate::segmenter::StreamCut),
}

impl MediaError {
    /// The error a pipeline's bus reported.
    pub fn from_bus(err: &gst::message::Error) -> MediaError {
        MediaError::Pipeline {
            element: err
                .src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_default(),
            message: err.error().to_string(),
            debug: err.debug().map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

impl From<gst::glib::BoolError> for MediaError {
    fn from(e: gst::glib::BoolError) -> Self {
        MediaError::Link(e.to_string())
    }
}

impl From<gst::PadLinkError> for MediaError {
    fn from(e: gst::PadLinkError) -> Self {
        MediaError::Link(format!("{e:?}"))
    }
}
