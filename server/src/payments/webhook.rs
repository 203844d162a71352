//! `Stripe-Signature` verification.
//!
//! The header is `t=TIMESTAMP,v1=HEX[,v1=HEX…]`. A payload is genuine when
//! one `v1` equals HMAC-SHA256(secret, "TIMESTAMP.PAYLOAD"), compared in
//! constant time, and the timestamp is within the tolerance of now, so a
//! captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default: five minutes either way.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks `header` against `payload` at `now_seconds`.
pub fn verify(
    secret: &str,
    header: Option<&str>,
    payload: &[u8],
    now_seconds: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => timestamp = Some(value.parse().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {} // v0 and future schemes are ignored, as Stripe's libraries do.
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_seconds - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    for signature in &signatures {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Malformed)?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // verify_slice compares in constant time.
        if mac.verify_slice(signature).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// A header signing `payload` at `timestamp` (tests and tools).
pub fn sign(secret: &str, payload: &[u8], timestamp: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    #[test]
    fn a_fresh_genuine_signature_passes() {
        let header = sign(SECRET, BODY, 1_000_000);
        assert_eq!(verify(SECRET, Some(&header), BODY, 1_000_100), Ok(()));
    }

    #[test]
    fn any_of_several_v1_signatures_may_match() {
        let good = sign(SECRET, BODY, 1_000_000);
        let header = format!(
            "t=1000000,v1={},{}",
            "ab".repeat(32),
            good.split_once(',').unwrap().1
        );
        assert_eq!(verify(SECRET, Some(&header), BODY, 1_000_000), Ok(()));
    }

    #[test]
    fn forged_stale_missing_and_malformed_are_refused() {
        let header = sign(SECRET, BODY, 1_000_000);
        assert_eq!(
            verify("whsec_other", Some(&header), BODY, 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&header), b"{}", 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, 1_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, Some(&header), BODY, 999_699),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, None, BODY, 1_000_000),
            Err(SignatureError::Missing)
        );
        for bad in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1000000,v1=zz",
            "garbage",
        ] {
            assert_eq!(
                verify(SECRET, Some(bad), BODY, 1_000_000),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
