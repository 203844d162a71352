//! Timeline thumbnails: a small JPEG of a segment's first frame.
//!
//! ```text
//!  filesrc (segN.ts) ─▶ tsdemux
//!    ├─ H.264 ─▶ h264parse ─(keyframes only)─▶ avdec_h264 (1 thread) ─▶ videoconvert
//!    │           ─▶ [aspectratiocrop, centre, when a shape is asked]
//!    │           ─▶ videoscale ─▶ WIDTH wide, square pixels
//!    │           ─▶ jpegenc (snapshot: EOS after one frame) ─▶ filesink
//!    └─ other streams ─▶ fakesink
//! ```
//!
//! Every segment starts on a keyframe, so its first frame decodes on its own
//! and shows the moment the segment's span begins. Only keyframes reach the
//! decoder (a probe drops the rest after parsing): the pipeline runs to the
//! end of the file, since the audio's sink must see it end too, and decoding
//! every frame of the segment on the way cost a fifth of a core per live
//! stream (measured by `dropcast-bench ingest`). One frame of decoding and a
//! small encode: a few milliseconds of CPU for each 2 s segment. The file is
//! written under a temporary name and renamed, so a listed thumbnail is whole.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gstreamer as gst;
use gstreamer::prelude::*;

use crate::error::MediaError;

/// The file name of segment `seq`'s thumbnail (beside `seg….ts`).
pub fn thumbnail_file(seq: u64) -> String {
    format!("seg{seq:010}.jpg")
}

/// The sequence number in a thumbnail file name, if it is one.
pub fn parse_thumbnail_file(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg")?.strip_suffix(".jpg")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn make(factory: &'static str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| MediaError::MissingElement(factory))
}

/// Writes a `width`-pixel-wide JPEG of the first frame of the TS segment at
/// `segment` to `out`.
pub async fn make_thumbnail(segment: &Path, out: &Path, width: i32) -> Result<(), MediaError> {
    make_thumbnail_shaped(segment, out, width, None).await
}

/// As [`make_thumbnail`], the frame first cropped about its centre to
/// `aspect` (width, height) when one is given: a vertical clip's poster is
/// the 9:16 middle its export keeps.
pub async fn make_thumbnail_shaped(
    segment: &Path,
    out: &Path,
    width: i32,
    aspect: Option<(i32, i32)>,
) -> Result<(), MediaError> {
    let partial = out.with_extension("jpg.part");
    let pipeline = crate::NullOnDrop(gst::Pipeline::default());
    let src = make("filesrc")?;
    src.set_property("location", segment.to_string_lossy().to_string());
    let demux = make("tsdemux")?;
    let parse = make("h264parse")?;
    let decode = make("avdec_h264")?;
    decode.set_property("max-threads", 1i32);
    let convert = make("videoconvert")?;
    let scale = make("videoscale")?;
    let size = make("capsfilter")?;
    size.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("width", width)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let encode = make("jpegenc")?;
    encode.set_property("snapshot", true);
    encode.set_property("quality", 80i32);
    let sink = make("filesink")?;
    sink.set_property("location", partial.to_string_lossy().to_string());
    let crop = match aspect {
        Some((w, h)) => {
            let crop = make("aspectratiocrop")?;
            crop.set_property("aspect-ratio", gst::Fraction::new(w, h));
            Some(crop)
        }
        None => None,
    };
    let mut chain = vec![&parse, &decode, &convert];
    chain.extend(crop.as_ref());
    chain.extend([&scale, &size, &encode, &sink]);
    pipeline.add_many([&src, &demux])?;
    pipeline.add_many(chain.iter().copied())?;
    src.link(&demux)?;
    gst::Element::link_many(chain.iter().copied())?;
    if let Some(parsed) = parse.static_pad("src") {
        parsed.add_probe(gst::PadProbeType::BUFFER, |_, info| match info.buffer() {
            Some(b) if b.flags().contains(gst::BufferFlags::DELTA_UNIT) => {
                gst::PadProbeReturn::Drop
            }
            _ => gst::PadProbeReturn::Ok,
        });
    }

    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let failure_pad = failure.clone();
    let pipeline_weak = pipeline.downgrade();
    let parse_weak = parse.downgrade();
    demux.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(parse)) = (pipeline_weak.upgrade(), parse_weak.upgrade()) else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/x-h264"));
        let linked = if is_video && parse.static_pad("sink").is_some_and(|p| !p.is_linked()) {
            parse
                .static_pad("sink")
                .map(|sink| pad.link(&sink).map(|_| ()).map_err(MediaError::from))
        } else {
            // Audio (or a second video stream): consumed and dropped.
            Some(make("fakesink").and_then(|fake| {
                pipeline.add(&fake)?;
                fake.sync_state_with_parent()?;
                let sink = fake
                    .static_pad("sink")
                    .ok_or_else(|| MediaError::Link("fakesink pad".into()))?;
                pad.link(&sink)?;
                Ok(())
            }))
        };
        if let Some(Err(e)) = linked {
            *failure_pad.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
    });

    let bus = pipeline.bus().ok_or(MediaError::NoBus)?;
    let mut messages = bus.stream();
    pipeline.set_state(gst::State::Playing)?;
    let watch = async {
        while let Some(msg) = messages.next().await {
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(err) => return Err(MediaError::from_bus(err)),
                _ => {}
            }
        }
        Ok(())
    };
    let result = match tokio::time::timeout(Duration::from_secs(10), watch).await {
        Ok(result) => result,
        Err(_) => Err(MediaError::Timeout("a thumbnail")),
    };
    let _ = pipeline.set_state(gst::State::Null);
    let result = match failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(e) => Err(MediaError::Link(e)),
        None => result,
    };
    let written = std::fs::metadata(&partial).is_ok_and(|m| m.len() > 0);
    match result {
        Ok(()) if written => {
            std::fs::rename(&partial, out)?;
            Ok(())
        }
        other => {
            let _ = std::fs::remove_file(&partial);
            other.and(Err(MediaError::Link(
                "no video frame in the segment".into(),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_names_round_trip() {
        assert_eq!(thumbnail_file(42), "seg0000000042.jpg");
        assert_eq!(parse_thumbnail_file("seg0000000042.jpg"), Some(42));
        for bad in [
            "seg42.jpg",
            "seg0000000042.ts",
            "../seg0000000042.jpg",
            "seg00000000-1.jpg",
        ] {
            assert_eq!(parse_thumbnail_file(bad), None, "{bad}");
        }
    }
}
