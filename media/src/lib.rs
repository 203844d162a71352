//! Dropcast media: live ingest, the replay buffer, HLS and clips, on GStreamer.
//!
//! The server uses this crate in-process; nothing here shells out to ffmpeg
//! or gst-launch. It knows nothing of shows, tokens or databases: the server
//! hands it a stream key resolver and receives segments and live/offline
//! events (MediaMTX's split of ingest, recorder and record store).
//!
//! # Layout
//! - [`ingest`]: publishing sessions — stream keys, one publisher per show, events.
//! - [`rtmp`]: the RTMP server (`rml_rtmp`) for OBS's default service.
//! - [`srt`]: the SRT listener (`srt-tokio`), one port for every show.
//! - [`flv`]: FLV framing of RTMP audio/video messages.
//! - [`hls`]: HLS playlists — the replay buffer's, and LL-HLS of the live edge.
//! - [`live`]: the live edge of a stream in memory: fMP4 parts, blocking reloads.
//! - [`segmenter`]: a stream → keyframe-aligned MPEG-TS segments, no re-encode,
//!   and fMP4 parts beside them (`fmp4`, the live branch: isofmp4mux from
//!   gst-plugins-rs, registered statically).
//! - [`ts`]: MPEG-TS packets — every segment opens with its PAT and PMT.
//! - [`thumbnail`]: a small JPEG of each segment's first frame, for the clip desk.
//! - [`clip`]: MP4 clips from segments — remuxed, or re-encoded to 9:16.
//! - [`error`]: [`MediaError`], GStreamer's failures made typed.

pub mod clip;
pub mod error;
pub mod flv;
mod fmp4;
pub mod hls;
pub mod ingest;
pub mod live;
pub mod rtmp;
pub mod segmenter;
pub mod srt;
pub mod thumbnail;
pub mod ts;

pub use error::MediaError;

/// The GStreamer library's version: `(major, minor, micro, nano)`.
pub fn gstreamer_version() -> (u32, u32, u32, u32) {
    gstreamer::version()
}

/// A pipeline that goes back to `Null` however its owner ends — done,
/// failed, or dropped half-way (a cancelled future, a runtime shutting down)
/// — as GStreamer requires before its elements are freed.
pub(crate) struct NullOnDrop(pub gstreamer::Pipeline);

impl std::ops::Deref for NullOnDrop {
    type Target = gstreamer::Pipeline;

    fn deref(&self) -> &gstreamer::Pipeline {
        &self.0
    }
}

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        use gstreamer::prelude::ElementExt;
        let _ = self.0.set_state(gstreamer::State::Null);
    }
}

/// Initialises GStreamer once per process.
pub fn init() -> Result<(), MediaError> {
    gstreamer::init()?;
    Ok(())
}
