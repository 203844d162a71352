//! What the studio says about the incoming stream: the keyframe interval the
//! ingest measured, with the exact OBS setting that fixes a long one (the
//! live edge starts a new viewer at a keyframe, and OBS's own default makes
//! one every 250 frames, 8.3 s), and why the server cut the last session off.
//! The facts are rows (`stream_health`, written by whichever node has the
//! publisher); the words are here.

use serde::Serialize;
use sqlx::AnyPool;

use crate::store::ShowRow;
use crate::store::media::{self as store, StreamHealthRow};

/// A keyframe interval above this gets the advice (2 s, plus a frame or two
/// of rounding: 60 frames at 29.97 fps are 2002 ms).
pub const LONG_KEYFRAME_MS: i64 = 2100;

/// `GET /api/v1/shows/{show}/stream`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct StreamReport {
    pub live: bool,
    /// As measured on the current (or last) session; `None` until two
    /// keyframes have arrived.
    pub keyframe_interval_ms: Option<i64>,
    /// What to change in the encoder.
    pub advice: Vec<Advice>,
    /// Why the server ended the latest session, if it did (a later session
    /// clears it).
    pub last_cut: Option<CutReport>,
    /// Streams of this show the server has cut, ever.
    pub cuts: i64,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Advice {
    /// `keyframe_interval_too_long`.
    pub code: &'static str,
    pub message: String,
    /// The fix in OBS's Simple output mode.
    pub obs_simple: &'static str,
    /// The fix in OBS's Advanced output mode.
    pub obs_advanced: &'static str,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CutReport {
    /// `flood`, `disk_full` or `stream_error`.
    pub code: String,
    pub message: String,
    /// What the media layer saw.
    pub detail: String,
    pub at_ms: i64,
}

/// In OBS's Simple output mode (what its defaults and our Go-live steps use).
pub const OBS_SIMPLE_FIX: &str =
    "Settings → Output → check \"Enable Advanced Encoder Settings\" → x264 Options: keyint=60";
/// In OBS's Advanced output mode.
pub const OBS_ADVANCED_FIX: &str = "Settings → Output → Streaming → Keyframe Interval: 2 s";

/// The advice for a measured keyframe interval.
pub fn advice(keyframe_interval_ms: Option<i64>) -> Vec<Advice> {
    match keyframe_interval_ms {
        Some(ms) if ms > LONG_KEYFRAME_MS => vec![Advice {
            code: "keyframe_interval_too_long",
            message: format!(
                "Your encoder sends a keyframe every {:.1} s. Viewers who join wait for one, and the replay and clips cut at them: set it to 2 s.",
                ms as f64 / 1000.0
            ),
            obs_simple: OBS_SIMPLE_FIX,
            obs_advanced: OBS_ADVANCED_FIX,
        }],
        _ => Vec::new(),
    }
}

/// What a cut means for the creator, and what to do.
pub fn cut_message(code: &str, detail: &str) -> String {
    match code {
        "flood" => format!(
            "The server cut your stream off: it arrived faster than it plays ({detail}). Stream live from the encoder (not a file at full speed), then start streaming again."
        ),
        "disk_full" => "Recording stopped: the server's disk is full, so the stream went offline. Checkout and orders keep working. Free disk space on the server (or lower DROPCAST_REPLAY_MAX_BYTES), then start streaming again.".to_string(),
        _ => format!(
            "The stream could not be processed and went offline: {detail}. Start streaming again; if it happens again, check OBS's Output settings (video encoder x264 or H.264, audio AAC)."
        ),
    }
}

fn report_of(show: &ShowRow, row: Option<StreamHealthRow>) -> StreamReport {
    let Some(row) = row else {
        return StreamReport {
            live: show.live != 0,
            keyframe_interval_ms: None,
            advice: Vec::new(),
            last_cut: None,
            cuts: 0,
        };
    };
    let last_cut = match (row.cut_code, row.cut_at_ms) {
        (Some(code), Some(at_ms)) if at_ms >= row.session_started_at_ms => {
            let detail = row.cut_detail.unwrap_or_default();
            Some(CutReport {
                message: cut_message(&code, &detail),
                code,
                detail,
                at_ms,
            })
        }
        _ => None,
    };
    StreamReport {
        live: show.live != 0,
        keyframe_interval_ms: row.keyframe_interval_ms,
        advice: advice(row.keyframe_interval_ms),
        last_cut,
        cuts: row.cuts,
    }
}

/// The show's stream report.
pub async fn report(pool: &AnyPool, show: &ShowRow) -> Result<StreamReport, sqlx::Error> {
    let row = store::stream_health(pool, &show.id).await?;
    Ok(report_of(show, row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_intervals_over_two_seconds_get_the_obs_fix() {
        assert!(advice(None).is_empty());
        assert!(advice(Some(2000)).is_empty());
        assert!(advice(Some(2002)).is_empty(), "60 frames at 29.97 fps");
        let long = advice(Some(8333));
        assert_eq!(long.len(), 1);
        assert!(long[0].message.contains("8.3 s"), "{}", long[0].message);
        assert!(long[0].obs_simple.contains("keyint=60"));
        assert!(
            long[0]
                .obs_simple
                .contains("Enable Advanced Encoder Settings")
        );
        assert!(long[0].obs_advanced.contains("Keyframe Interval: 2 s"));
    }

    #[test]
    fn every_cut_says_what_to_do() {
        for code in ["flood", "disk_full", "stream_error"] {
            let m = cut_message(code, "seen");
            assert!(
                m.to_lowercase().contains("start streaming again"),
                "{code}: {m}"
            );
        }
        assert!(cut_message("disk_full", "").contains("Checkout and orders keep working"));
    }
}
