//! What travels in a bus message: its kind, its sender, and the payload.
//!
//! ```text
//!  b"M" | origin length (1 byte) | origin | payload    a message
//!  b"L" | origin length (1 byte) | origin              "I lost messages on this channel"
//! ```

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Message,
    Lost,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub kind: Kind,
    pub origin: &'a [u8],
    pub payload: &'a [u8],
}

fn build(tag: u8, origin: &str, payload: &[u8]) -> Vec<u8> {
    // Origins are node instance ids, far shorter than 255 bytes.
    let origin = &origin.as_bytes()[..origin.len().min(255)];
    let mut out = Vec::with_capacity(2 + origin.len() + payload.len());
    out.push(tag);
    out.push(origin.len() as u8);
    out.extend_from_slice(origin);
    out.extend_from_slice(payload);
    out
}

pub(crate) fn message(origin: &str, payload: &[u8]) -> Vec<u8> {
    build(b'M', origin, payload)
}

pub(crate) fn lost(origin: &str) -> Vec<u8> {
    build(b'L', origin, &[])
}

/// `None` for anything not built by [`message`] or [`lost`].
pub(crate) fn parse(bytes: &[u8]) -> Option<Frame<'_>> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let origin = rest.get(..len as usize)?;
    let payload = &rest[len as usize..];
    let kind = match tag {
        b'M' => Kind::Message,
        b'L' if payload.is_empty() => Kind::Lost,
        _ => return None,
    };
    Some(Frame {
        kind,
        origin,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = message("inst_1", b"{\"a\":1}");
        assert_eq!(
            parse(&m),
            Some(Frame {
                kind: Kind::Message,
                origin: b"inst_1",
                payload: b"{\"a\":1}"
            })
        );
        let l = lost("inst_2");
        assert_eq!(
            parse(&l).map(|f| (f.kind, f.origin)),
            Some((Kind::Lost, &b"inst_2"[..]))
        );
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"M\x09abc"), None);
        assert_eq!(parse(b"X\x00"), None);
    }
}
