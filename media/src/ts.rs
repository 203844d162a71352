//! MPEG-TS packets: making a segment open with its PAT and PMT.
//!
//! A reader that starts at a segment — a player joining the live stream, or a
//! clip that begins mid-buffer — can decode nothing until it has read the PAT
//! (which PID carries the program map) and the PMT (which PIDs carry which
//! stream). In live mode mpegtsmux writes them on its own schedule, so a
//! segment cut at a keyframe can begin with video and only carry its first
//! PAT some dozens of packets later: GStreamer's tsdemux then drops that whole
//! first GOP. [`open_with_psi`] puts copies of the segment's own PAT and PMT in
//! front, numbered so the continuity counters run on without a gap.

use std::path::Path;

/// An MPEG-TS packet's size.
pub const PACKET: usize = 188;
const SYNC: u8 = 0x47;

fn pid(packet: &[u8]) -> u16 {
    (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2])
}

fn packets(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.chunks_exact(PACKET).take_while(|p| p[0] == SYNC)
}

/// The PMT's PID named by a PAT packet (its first program), if it is one.
fn pmt_pid(pat: &[u8]) -> Option<u16> {
    if pid(pat) != 0 || pat[1] & 0x40 == 0 {
        return None; // not the PAT, or not the start of its section
    }
    let mut at = 4;
    if pat[3] & 0x20 != 0 {
        at += 1 + usize::from(*pat.get(4)?);
    }
    at += 1 + usize::from(*pat.get(at)?); // pointer field
    // table_id, section_length (2), ts_id (2), version, section no, last no.
    let entry = pat.get(at + 8..at + 12)?;
    Some((u16::from(entry[2] & 0x1f) << 8) | u16::from(entry[3]))
}

/// A copy of `packet` whose continuity counter is one less, so that it can
/// stand just before the original.
fn one_before(packet: &[u8]) -> Vec<u8> {
    let mut copy = packet.to_vec();
    let cc = copy[3] & 0x0f;
    copy[3] = (copy[3] & 0xf0) | (cc.wrapping_sub(1) & 0x0f);
    copy
}

/// Whether the stream opens with its PAT and then its PMT.
pub fn opens_with_psi(bytes: &[u8]) -> bool {
    let mut it = packets(bytes);
    match (it.next(), it.next()) {
        (Some(pat), Some(pmt)) => pmt_pid(pat).is_some_and(|p| pid(pmt) == p),
        _ => false,
    }
}

/// The stream with its first PAT and PMT copied in front, or `None` when it
/// already opens with them or carries none.
pub fn with_psi_first(bytes: &[u8]) -> Option<Vec<u8>> {
    if opens_with_psi(bytes) {
        return None;
    }
    let (pat, pmt) = packets(bytes).find_map(|p| pmt_pid(p).map(|m| (p, m)))?;
    let pmt = packets(bytes).find(|p| pid(p) == pmt && p[1] & 0x40 != 0)?;
    let mut out = Vec::with_capacity(bytes.len() + 2 * PACKET);
    out.extend_from_slice(&one_before(pat));
    out.extend_from_slice(&one_before(pmt));
    out.extend_from_slice(bytes);
    Some(out)
}

/// Rewrites the file at `path` so it opens with its PAT and PMT (through a
/// temporary file and a rename). Returns whether it had to.
pub fn open_with_psi(path: &Path) -> std::io::Result<bool> {
    let bytes = std::fs::read(path)?;
    let Some(fixed) = with_psi_first(&bytes) else {
        return Ok(false);
    };
    let tmp = path.with_extension("ts.psi");
    std::fs::write(&tmp, fixed)?;
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, start: bool, cc: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            SYNC,
            (if start { 0x40 } else { 0 }) | (pid >> 8) as u8,
            pid as u8,
            0x10 | cc,
        ];
        p.extend_from_slice(payload);
        p.resize(PACKET, 0xff);
        p
    }

    /// A PAT naming program 1 on PMT PID 0x20.
    fn pat(cc: u8) -> Vec<u8> {
        packet(
            0,
            true,
            cc,
            &[0, 0x00, 0xb0, 0x0d, 0, 1, 0xc1, 0, 0, 0, 1, 0xe0, 0x20],
        )
    }

    #[test]
    fn a_stream_opening_with_video_gets_its_psi_in_front() {
        let mut ts = Vec::new();
        ts.extend(packet(0x42, true, 5, b"video"));
        ts.extend(packet(0x42, false, 6, b"more"));
        ts.extend(pat(3));
        ts.extend(packet(0x20, true, 3, b"pmt"));
        assert!(!opens_with_psi(&ts));
        let fixed = with_psi_first(&ts).unwrap();
        assert_eq!(fixed.len(), ts.len() + 2 * PACKET);
        assert!(opens_with_psi(&fixed));
        // Continuity: the copies count 2, the originals 3.
        assert_eq!(fixed[3] & 0x0f, 2);
        assert_eq!(fixed[PACKET + 3] & 0x0f, 2);
        assert_eq!(&fixed[2 * PACKET..], &ts[..]);
    }

    #[test]
    fn counters_wrap_below_zero() {
        assert_eq!(one_before(&pat(0))[3] & 0x0f, 15);
    }

    #[test]
    fn a_stream_already_in_order_or_without_psi_is_left_alone() {
        let mut ts = pat(0);
        ts.extend(packet(0x20, true, 0, b"pmt"));
        ts.extend(packet(0x42, true, 0, b"video"));
        assert!(opens_with_psi(&ts));
        assert_eq!(with_psi_first(&ts), None);
        assert_eq!(with_psi_first(&packet(0x42, true, 0, b"video")), None);
        assert_eq!(with_psi_first(&[]), None);
    }

    #[test]
    fn a_pat_with_an_adaptation_field_is_read() {
        let mut p = pat(1);
        // Insert a 10-byte adaptation field before the payload.
        p[3] = 0x30 | 1;
        let mut with_af = p[..4].to_vec();
        with_af.push(9);
        with_af.extend([0u8; 9]);
        with_af.extend_from_slice(&pat(1)[4..]);
        with_af.truncate(PACKET);
        assert_eq!(pmt_pid(&with_af), Some(0x20));
    }
}
