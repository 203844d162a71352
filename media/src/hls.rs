//! HLS playlists: the replay buffer's, and the live edge's as LL-HLS.
//!
//! The replay buffer's segments are already MPEG-TS files that start on a
//! keyframe with SPS/PPS, so its playlist is only text: the newest segments,
//! their durations, a media sequence number that only moves forward, a
//! discontinuity wherever a publisher reconnected (timestamps restart), and
//! `#EXT-X-ENDLIST` once the stream has stopped ([`playlist`]). A finished
//! recording is played from its start as a seekable `VOD` playlist with the
//! wall clock of every segment and the show's moments ([`recording`]).
//!
//! The live edge ([`ll_playlist`], from [`crate::live`]) is fMP4 with
//! partial segments (RFC 8216bis, low-latency HLS): `EXT-X-PART-INF`,
//! `EXT-X-SERVER-CONTROL` with blocking reloads, `EXT-X-PART` for the newest
//! segments, `EXT-X-PRELOAD-HINT` for the part being made, a
//! `EXT-X-PROGRAM-DATE-TIME` on every segment and `EXT-X-DATERANGE` for the
//! show's timed events. A player without LL-HLS ignores the part tags and
//! plays the whole segments of the same playlist.

use std::fmt::Write;
use std::time::Duration;

use crate::live::DateRange;

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

/// A segment of the live edge.
#[derive(Debug, Clone, Default)]
pub struct LlSegment {
    pub msn: u64,
    pub init_uri: String,
    pub discontinuity: bool,
    pub wall_ms: i64,
    pub duration_ns: u64,
    /// `None` while it is still being made (only its parts are listed).
    pub uri: Option<String>,
    /// Listed parts (empty for older segments).
    pub parts: Vec<LlPart>,
}

#[derive(Debug, Clone)]
pub struct LlPart {
    pub duration_ns: u64,
    pub independent: bool,
    pub uri: String,
}

/// Everything an LL-HLS media playlist says.
#[derive(Debug, Clone)]
pub struct LlPlaylist {
    pub target_s: u64,
    pub part_target: Duration,
    pub part_hold_back: Duration,
    pub first_msn: u64,
    pub discontinuity_seq: u64,
    /// Oldest first; the last may be open (`uri: None`).
    pub segments: Vec<LlSegment>,
    /// The part being made, while live.
    pub preload_part: Option<String>,
    pub dateranges: Vec<DateRange>,
    pub ended: bool,
}

/// Seconds to the nearest 10 µs, as the live EXTINF and DURATION write
/// them: fine enough that a segment's parts add up to it.
fn secs(ns: u64) -> String {
    let t = (ns + 5_000) / 10_000;
    format!("{}.{:05}", t / 100_000, t % 100_000)
}

/// `2026-12-03T05:00:00.000Z` for Unix epoch milliseconds.
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        tod / 3600,
        (tod / 60) % 60,
        tod % 60
    )
}

/// A quoted-string attribute value: HLS allows no `"`, CR or LF in one.
fn quoted(v: &str) -> String {
    v.chars()
        .filter(|c| *c != '"' && *c != '\r' && *c != '\n')
        .collect()
}

/// Writes one `EXT-X-DATERANGE` line.
fn write_daterange(out: &mut String, d: &DateRange) {
    let _ = write!(
        out,
        "#EXT-X-DATERANGE:ID=\"{}\",CLASS=\"{}\",START-DATE=\"{}\"",
        quoted(&d.id),
        quoted(&d.class),
        iso8601(d.start_ms)
    );
    if let Some(end) = d.end_ms {
        let _ = write!(out, ",END-DATE=\"{}\"", iso8601(end));
    }
    for (k, v) in &d.attributes {
        let _ = write!(out, ",{k}=\"{}\"", quoted(v));
    }
    let _ = writeln!(out);
}

/// One segment of a finished recording: an [`Entry`] and the wall clock
/// of its first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub entry: Entry,
    pub wall_ms: i64,
}

/// Renders a finished recording as a seekable playlist (`VOD`): every
/// segment with its `EXT-X-PROGRAM-DATE-TIME`, so a player knows the wall
/// clock of any position, and `dateranges` (oldest first) placed with the
/// segment each starts in; one from before the first segment goes with it.
pub fn recording(segments: &[Recorded], dateranges: &[DateRange]) -> String {
    let target = segments
        .iter()
        .map(|s| (s.entry.duration_ms + 999) / 1000)
        .max()
        .unwrap_or(2)
        .max(1);
    let mut out = String::with_capacity(128 + segments.len() * 96 + dateranges.len() * 128);
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:3");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:VOD");
    let _ = writeln!(
        out,
        "#EXT-X-MEDIA-SEQUENCE:{}",
        segments.first().map_or(0, |s| s.entry.seq)
    );
    let mut ranges = dateranges.iter().peekable();
    for (i, s) in segments.iter().enumerate() {
        let e = &s.entry;
        if e.starts_session && i > 0 {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(s.wall_ms));
        let last = i + 1 == segments.len();
        while let Some(d) = ranges.next_if(|d| last || d.start_ms < s.wall_ms + e.duration_ms) {
            write_daterange(&mut out, d);
        }
        let _ = writeln!(
            out,
            "#EXTINF:{}.{:03},",
            e.duration_ms / 1000,
            e.duration_ms % 1000
        );
        let _ = writeln!(out, "{}", e.uri);
    }
    let _ = writeln!(out, "#EXT-X-ENDLIST");
    out
}

/// Renders an LL-HLS media playlist.
pub fn ll_playlist(p: &LlPlaylist) -> String {
    let mut out = String::with_capacity(512 + p.segments.len() * 96);
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:9");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", p.target_s.max(1));
    let _ = writeln!(
        out,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}",
        secs(p.part_hold_back.as_nanos() as u64)
    );
    let _ = writeln!(
        out,
        "#EXT-X-PART-INF:PART-TARGET={}",
        secs(p.part_target.as_nanos() as u64)
    );
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", p.first_msn);
    let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", p.discontinuity_seq);
    let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
    let mut map: Option<&str> = None;
    let mut ranges = p.dateranges.iter().peekable();
    let first_wall = p.segments.first().map(|s| s.wall_ms);
    for s in &p.segments {
        if s.discontinuity {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
        }
        if map != Some(s.init_uri.as_str()) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.init_uri);
            map = Some(&s.init_uri);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(s.wall_ms));
        // Date ranges go with the segment they start in (one older than
        // the window goes with the first); the spec lets them sit anywhere,
        // but in order they are easy to check.
        let end_ms = s.wall_ms + (s.duration_ns / 1_000_000) as i64;
        while let Some(d) = ranges.peek() {
            let in_this = d.start_ms < end_ms || s.uri.is_none();
            if !in_this && first_wall.is_some() {
                break;
            }
            write_daterange(&mut out, d);
            ranges.next();
        }
        for part in &s.parts {
            let _ = writeln!(
                out,
                "#EXT-X-PART:DURATION={},URI=\"{}\"{}",
                secs(part.duration_ns),
                part.uri,
                if part.independent {
                    ",INDEPENDENT=YES"
                } else {
                    ""
                }
            );
        }
        if let Some(uri) = &s.uri {
            let _ = writeln!(out, "#EXTINF:{},", secs(s.duration_ns));
            let _ = writeln!(out, "{uri}");
        }
    }
    if let Some(hint) = &p.preload_part
        && !p.ended
    {
        let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"");
    }
    if p.ended {
        let _ = writeln!(out, "#EXT-X-ENDLIST");
    }
    out
}

/// Unix epoch milliseconds of `2026-12-03T05:00:00.000Z` (the form
/// [`iso8601`] writes; the fraction may be absent or any length).
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (t.next()??, t.next()??, t.next()??);
    let frac: String = frac.chars().chain("000".chars()).take(3).collect();
    let milli: i64 = frac.parse().ok()?;
    // Days from civil (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + m * 60 + sec) * 1000) + milli)
}

fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = attrs;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].strip_prefix(',').unwrap_or(""))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if key == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

fn parse_secs(v: &str) -> Option<u64> {
    let f: f64 = v.parse().ok()?;
    (f >= 0.0).then(|| (f * 1e9).round() as u64)
}

/// Reads an LL-HLS media playlist back (what [`ll_playlist`] writes, as a
/// player sees it): for checking one, in tests and benchmarks.
pub fn read_ll_playlist(text: &str) -> Result<LlPlaylist, String> {
    let mut lines = text.lines();
    if lines.next() != Some("#EXTM3U") {
        return Err("does not start with #EXTM3U".into());
    }
    let mut p = LlPlaylist {
        target_s: 0,
        part_target: Duration::ZERO,
        part_hold_back: Duration::ZERO,
        first_msn: 0,
        discontinuity_seq: 0,
        segments: Vec::new(),
        preload_part: None,
        dateranges: Vec::new(),
        ended: false,
    };
    let mut map = String::new();
    let mut next = LlSegment::default();
    let mut has_wall = false;
    let bad = |line: &str| format!("cannot read `{line}`");
    while let Some(line) = lines.next() {
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        match tag {
            "#EXT-X-TARGETDURATION" => p.target_s = value.parse().map_err(|_| bad(line))?,
            "#EXT-X-MEDIA-SEQUENCE" => p.first_msn = value.parse().map_err(|_| bad(line))?,
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                p.discontinuity_seq = value.parse().map_err(|_| bad(line))?
            }
            "#EXT-X-PART-INF" => {
                p.part_target = Duration::from_nanos(
                    attr(value, "PART-TARGET")
                        .and_then(parse_secs)
                        .ok_or_else(|| bad(line))?,
                )
            }
            "#EXT-X-SERVER-CONTROL" => {
                if attr(value, "CAN-BLOCK-RELOAD") != Some("YES") {
                    return Err("no CAN-BLOCK-RELOAD=YES".into());
                }
                p.part_hold_back = Duration::from_nanos(
                    attr(value, "PART-HOLD-BACK")
                        .and_then(parse_secs)
                        .ok_or_else(|| bad(line))?,
                )
            }
            "#EXT-X-MAP" => map = attr(value, "URI").ok_or_else(|| bad(line))?.to_string(),
            "#EXT-X-DISCONTINUITY" => next.discontinuity = true,
            "#EXT-X-PROGRAM-DATE-TIME" => {
                next.wall_ms = parse_iso8601(value).ok_or_else(|| bad(line))?;
                has_wall = true;
            }
            "#EXT-X-DATERANGE" => p.dateranges.push(DateRange {
                id: attr(value, "ID").ok_or_else(|| bad(line))?.to_string(),
                class: attr(value, "CLASS").unwrap_or("").to_string(),
                start_ms: attr(value, "START-DATE")
                    .and_then(parse_iso8601)
                    .ok_or_else(|| bad(line))?,
                end_ms: attr(value, "END-DATE").and_then(parse_iso8601),
                attributes: value
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .filter(|(k, _)| k.starts_with("X-"))
                    .filter_map(|(k, _)| Some((k.to_string(), attr(value, k)?.to_string())))
                    .collect(),
            }),
            "#EXT-X-PART" => {
                if next.parts.is_empty() && !has_wall {
                    return Err(format!(
                        "a segment without EXT-X-PROGRAM-DATE-TIME: `{line}`"
                    ));
                }
                next.parts.push(LlPart {
                    duration_ns: attr(value, "DURATION")
                        .and_then(parse_secs)
                        .ok_or_else(|| bad(line))?,
                    independent: attr(value, "INDEPENDENT") == Some("YES"),
                    uri: attr(value, "URI").ok_or_else(|| bad(line))?.to_string(),
                })
            }
            "#EXTINF" => {
                if !has_wall {
                    return Err(format!(
                        "a segment without EXT-X-PROGRAM-DATE-TIME: `{line}`"
                    ));
                }
                next.duration_ns =
                    parse_secs(value.trim_end_matches(',').split(',').next().unwrap_or(""))
                        .ok_or_else(|| bad(line))?;
                let uri = lines.next().ok_or("EXTINF without a URI")?;
                next.uri = Some(uri.to_string());
                next.msn = p.first_msn + p.segments.len() as u64;
                next.init_uri = map.clone();
                p.segments.push(std::mem::take(&mut next));
                has_wall = false;
            }
            "#EXT-X-PRELOAD-HINT" => {
                p.preload_part = Some(attr(value, "URI").ok_or_else(|| bad(line))?.to_string())
            }
            "#EXT-X-ENDLIST" => p.ended = true,
            _ => {}
        }
    }
    if !next.parts.is_empty() {
        next.msn = p.first_msn + p.segments.len() as u64;
        next.init_uri = map;
        next.duration_ns = next.parts.iter().map(|x| x.duration_ns).sum();
        p.segments.push(next);
    }
    Ok(p)
}

/// What is wrong with a playlist by the LL-HLS rules we rely on (empty: it
/// holds): every part within `PART-TARGET`, a listed segment's parts add up
/// to it and the first is independent, `PART-HOLD-BACK` at least twice the
/// part target, no segment longer than the target duration, wall clocks in
/// order, a preload hint exactly while live.
pub fn ll_problems(p: &LlPlaylist) -> Vec<String> {
    let mut out = Vec::new();
    if p.part_hold_back < 2 * p.part_target {
        out.push("PART-HOLD-BACK is under twice PART-TARGET".into());
    }
    let n = p.segments.len();
    for (i, s) in p.segments.iter().enumerate() {
        if s.uri.is_none() && i + 1 != n {
            out.push(format!(
                "segment {} has parts only but is not the last",
                s.msn
            ));
        }
        if s.init_uri.is_empty() {
            out.push(format!("segment {} has no EXT-X-MAP before it", s.msn));
        }
        if (s.duration_ns as f64 / 1e9).round() as u64 > p.target_s {
            out.push(format!(
                "segment {} is longer than the target duration",
                s.msn
            ));
        }
        for part in &s.parts {
            if part.duration_ns > p.part_target.as_nanos() as u64 {
                out.push(format!("{} is longer than PART-TARGET", part.uri));
            }
        }
        if let Some(first) = s.parts.first()
            && !first.independent
        {
            out.push(format!(
                "segment {} does not start with an independent part",
                s.msn
            ));
        }
        if !s.parts.is_empty() && s.uri.is_some() {
            let sum: u64 = s.parts.iter().map(|x| x.duration_ns).sum();
            if sum.abs_diff(s.duration_ns) > 1_000_000 {
                out.push(format!(
                    "segment {}: parts add up to {sum} ns, EXTINF says {}",
                    s.msn, s.duration_ns
                ));
            }
        }
        if i > 0 {
            let prev = &p.segments[i - 1];
            let prev_end = prev.wall_ms + (prev.duration_ns / 1_000_000) as i64;
            if s.wall_ms + 2 < prev_end || (!s.discontinuity && s.wall_ms > prev_end + 2) {
                out.push(format!(
                    "segment {} starts at {} but the one before ends at {prev_end}",
                    s.msn, s.wall_ms
                ));
            }
        }
    }
    if p.preload_part.is_some() == p.ended {
        out.push("a preload hint must be there exactly while the stream is live".into());
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
    fn a_recording_dates_every_segment_and_places_its_ranges() {
        let seg = |seq: u64, wall_ms: i64, starts_session: bool| Recorded {
            entry: Entry {
                seq,
                duration_ms: 2000,
                starts_session,
                uri: format!("seg{seq}.ts"),
            },
            wall_ms,
        };
        let pin = |id: &str, start_ms: i64| DateRange {
            id: id.into(),
            class: "com.dropcast.pin".into(),
            start_ms,
            end_ms: None,
            attributes: vec![("X-PRODUCT".into(), "prd_1".into())],
        };
        let text = recording(
            &[
                seg(7, 10_000, true),
                seg(8, 12_000, false),
                seg(9, 20_000, true),
            ],
            &[pin("a", 5_000), pin("b", 12_500), pin("c", 30_000)],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "#EXT-X-PLAYLIST-TYPE:VOD");
        assert_eq!(lines[4], "#EXT-X-MEDIA-SEQUENCE:7");
        assert_eq!(
            lines[5],
            "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:10.000Z"
        );
        // Before the first segment: with the first.
        assert!(lines[6].starts_with("#EXT-X-DATERANGE:ID=\"a\""), "{text}");
        assert_eq!(lines[7], "#EXTINF:2.000,");
        assert_eq!(
            lines[9],
            "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:12.000Z"
        );
        assert!(lines[10].starts_with("#EXT-X-DATERANGE:ID=\"b\""), "{text}");
        assert!(lines[10].ends_with(",X-PRODUCT=\"prd_1\""), "{text}");
        assert_eq!(lines[13], "#EXT-X-DISCONTINUITY");
        // After the last segment's start: with the last.
        assert!(lines[15].starts_with("#EXT-X-DATERANGE:ID=\"c\""), "{text}");
        assert_eq!(lines.last(), Some(&"#EXT-X-ENDLIST"));
    }

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_796_275_845_500), "2026-12-03T05:30:45.500Z");
    }

    #[test]
    fn dates_read_back() {
        for ms in [0, 951_782_400_123, 1_796_275_845_500] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        assert_eq!(
            parse_iso8601("2026-12-03T05:30:45Z"),
            Some(1_796_275_845_000)
        );
        assert_eq!(parse_iso8601("yesterday"), None);
    }

    #[test]
    fn an_ll_playlist_reads_back_as_written() {
        let written = LlPlaylist {
            target_s: 2,
            part_target: Duration::from_millis(500),
            part_hold_back: Duration::from_secs(1),
            first_msn: 5,
            discontinuity_seq: 1,
            segments: vec![
                LlSegment {
                    msn: 5,
                    init_uri: "init0.mp4".into(),
                    discontinuity: false,
                    wall_ms: 1_000,
                    duration_ns: 1_000_000_000,
                    uri: Some("seg5.m4s".into()),
                    parts: vec![
                        LlPart {
                            duration_ns: 500_000_000,
                            independent: true,
                            uri: "part0.m4s".into(),
                        },
                        LlPart {
                            duration_ns: 500_000_000,
                            independent: false,
                            uri: "part1.m4s".into(),
                        },
                    ],
                },
                LlSegment {
                    msn: 6,
                    init_uri: "init0.mp4".into(),
                    discontinuity: false,
                    wall_ms: 2_000,
                    duration_ns: 333_330_000,
                    uri: None,
                    parts: vec![LlPart {
                        duration_ns: 333_330_000,
                        independent: true,
                        uri: "part2.m4s".into(),
                    }],
                },
            ],
            preload_part: Some("part3.m4s".into()),
            dateranges: vec![DateRange {
                id: "pin-1".into(),
                class: "com.dropcast.pin".into(),
                start_ms: 1_500,
                end_ms: Some(2_500),
                attributes: vec![("X-PRODUCT".into(), "p_1".into())],
            }],
            ended: false,
        };
        let text = ll_playlist(&written);
        let read = read_ll_playlist(&text).unwrap();
        assert_eq!(ll_problems(&read), Vec::<String>::new(), "{text}");
        assert_eq!(read.segments.len(), 2);
        assert_eq!(read.segments[1].msn, 6);
        assert_eq!(read.segments[0].parts.len(), 2);
        assert_eq!(read.dateranges, written.dateranges);
        assert_eq!(read.preload_part.as_deref(), Some("part3.m4s"));
        assert_eq!(read.part_hold_back, Duration::from_secs(1));
        // A part too long and a segment whose parts do not add up are caught.
        let mut wrong = read.clone();
        wrong.segments[0].parts[1].duration_ns = 600_000_000;
        let problems = ll_problems(&wrong);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn live_durations_to_ten_microseconds() {
        assert_eq!(secs(333_333_333), "0.33333");
        assert_eq!(secs(500_000_000), "0.50000");
        assert_eq!(secs(8_333_336_000), "8.33334");
    }

    #[test]
    fn empty_playlist_is_still_valid() {
        let p = playlist(&[], false);
        assert!(p.starts_with("#EXTM3U\n"));
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:0"));
    }
}
