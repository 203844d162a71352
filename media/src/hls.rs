//! HLS playlists of the replay buffer.
//!
//! The segments are already MPEG-TS files that start on a keyframe with
//! SPS/PPS, so a live HLS playlist is only text: the newest segments, their
//! durations, a media sequence number that only moves forward, a
//! discontinuity wherever a publisher reconnected (timestamps restart), and
//! `#EXT-X-ENDLIST` once the stream has stopped.

use std::fmt::Write;

/// One segment as the playlist lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub duration_ms: i64,
    /// The first segment of a publishing session (after a reconnect).
    pub starts_session: bool,
    /// The URI, relative to the playlist.
    pub uri: String,
}

/// Renders a media playlist of `entries` (oldest first).
pub fn playlist(entries: &[Entry], ended: bool) -> String {
    let target = entries
        .iter()
        .map(|e| (e.duration_ms + 999) / 1000)
        .max()
        .unwrap_or(2)
        .max(1);
    let mut out = String::with_capacity(64 + entries.len() * 48);
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:3");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(
        out,
        "#EXT-X-MEDIA-SEQUENCE:{}",
        entries.first().map_or(0, |e| e.seq)
    );
    for (i, e) in entries.iter().enumerate() {
        if e.starts_session && i > 0 {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
        }
        let _ = writeln!(
            out,
            "#EXTINF:{}.{:03},",
            e.duration_ms / 1000,
            e.duration_ms % 1000
        );
        let _ = writeln!(out, "{}", e.uri);
    }
    if ended {
        let _ = writeln!(out, "#EXT-X-ENDLIST");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, ms: i64, starts: bool) -> Entry {
        Entry {
            seq,
            duration_ms: ms,
            starts_session: starts,
            uri: format!("seg{seq}.ts"),
        }
    }

    #[test]
    fn live_playlist() {
        let p = playlist(&[entry(7, 2000, true), entry(8, 2002, false)], false);
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXTINF:2.000,\nseg7.ts\n#EXTINF:2.002,\nseg8.ts\n"
        );
    }

    #[test]
    fn ended_playlist_with_a_reconnect() {
        let p = playlist(&[entry(1, 2000, true), entry(2, 1500, true)], true);
        assert!(p.contains("#EXT-X-DISCONTINUITY\n#EXTINF:1.500,\nseg2.ts"));
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(p.matches("DISCONTINUITY").count(), 1);
    }

    #[test]
    fn empty_playlist_is_still_valid() {
        let p = playlist(&[], false);
        assert!(p.starts_with("#EXTM3U\n"));
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:0"));
    }
}
