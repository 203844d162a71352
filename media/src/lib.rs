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
//! - [`hls`]: live HLS playlists of the segments.
//! - [`segmenter`]: a stream → keyframe-aligned MPEG-TS segments, no re-encode.
//! - [`ts`]: MPEG-TS packets — every segment opens with its PAT and PMT.
//! - [`clip`]: MP4 clips from segments — remuxed, or re-encoded to 9:16.
//! - [`error`]: [`MediaError`], GStreamer's failures made typed.

pub mod clip;
pub mod error;
pub mod flv;
pub mod hls;
pub mod ingest;
pub mod rtmp;
pub mod segmenter;
pub mod srt;
pub mod ts;

pub use error::MediaError;

/// Initialises GStreamer once per process.
pub fn init() -> Result<(), MediaError> {
    gstreamer::init()?;
    Ok(())
}
