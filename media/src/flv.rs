//! FLV framing of RTMP media messages.
//!
//! RTMP audio and video messages carry exactly the payload of an FLV tag
//! (`AUDIODATA`/`VIDEODATA`). Wrapping them in FLV tags gives GStreamer's
//! `flvdemux` a stream it already understands; no codec parsing happens here.

/// The FLV file header (audio and video present) and the first
/// `PreviousTagSize0`.
pub fn header() -> [u8; 13] {
    [b'F', b'L', b'V', 1, 0b0000_0101, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// Kind of an FLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio = 8,
    Video = 9,
    /// Script data (`onMetaData`).
    Script = 18,
}

/// One FLV tag holding `payload` at `timestamp_ms`, followed by its
/// `PreviousTagSize`. Payloads over 16 MiB cannot be framed (none is: RTMP
/// messages are limited to 16 MiB too) and yield `None`.
pub fn tag(kind: TagKind, timestamp_ms: u32, payload: &[u8]) -> Option<Vec<u8>> {
    let size = u32::try_from(payload.len())
        .ok()
        .filter(|s| *s < (1 << 24))?;
    let mut out = Vec::with_capacity(11 + payload.len() + 4);
    out.push(kind as u8);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&timestamp_ms.to_be_bytes()[1..]);
    out.push((timestamp_ms >> 24) as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(payload);
    out.extend_from_slice(&(11 + size).to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_announces_audio_and_video() {
        let h = header();
        assert_eq!(&h[..3], b"FLV");
        assert_eq!(h[4], 5);
        assert_eq!(u32::from_be_bytes([h[5], h[6], h[7], h[8]]), 9);
    }

    #[test]
    fn tags_are_framed_with_extended_timestamps() {
        let t = tag(TagKind::Video, 0x0123_4567, &[0xAA, 0xBB]).unwrap();
        assert_eq!(t[0], 9);
        assert_eq!(&t[1..4], &[0, 0, 2]);
        // Lower 24 bits, then the upper 8 in the extension byte.
        assert_eq!(&t[4..8], &[0x23, 0x45, 0x67, 0x01]);
        assert_eq!(&t[8..11], &[0, 0, 0]);
        assert_eq!(&t[11..13], &[0xAA, 0xBB]);
        assert_eq!(u32::from_be_bytes(t[13..17].try_into().unwrap()), 13);
    }
}
