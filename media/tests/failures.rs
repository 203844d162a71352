//! Streams the segmenter must survive: too much at once, faster than live,
//! corrupt data, a disk that fills. Each is cut with its reason, the push
//! that follows fails (so the connection ends), what was recorded before is
//! whole, and the pipeline goes back to `Null` without taking the process.

use std::path::Path;
use std::time::Duration;

use media::MediaError;
use media::live::{Track, TrackConfig};
use media::segmenter::{Container, FloodLimits, Segmenter, StreamCut};

mod common;
use common::{encode, start_segmenter as start};

/// Pushes `bytes` in `chunk`-sized pieces, `pause` apart, until a push
/// fails; the cut it failed with, if it did.
async fn push_all(
    seg: &Segmenter,
    bytes: &[u8],
    chunk: usize,
    pause: Duration,
) -> Option<StreamCut> {
    for piece in bytes.chunks(chunk) {
        match seg.push(piece) {
            Ok(()) => {}
            Err(MediaError::Cut(cut)) => return Some(cut),
            Err(e) => panic!("a push failed without a cut: {e}"),
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    None
}

/// Waits until the segmenter reports a cut (a bus error arrives on its own
/// task), pushing nothing more.
async fn cut_of(seg: &Segmenter) -> Option<StreamCut> {
    for _ in 0..100 {
        if let Some(cut) = seg.cut() {
            return Some(cut);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_bigger_than_the_ingest_queue_is_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let flv = encode(dir.path(), 10, "flv", "in.flv");
    let limits = FloodLimits {
        max_queued_bytes: 32 * 1024,
        ..FloodLimits::unpaced()
    };
    let (seg, _rx) = start(Container::Flv, &dir.path().join("replay"), limits, None);
    // The first 8 KiB fit; one message of everything else does not.
    assert!(flv.len() > 100 * 1024, "{} bytes", flv.len());
    assert!(
        push_all(&seg, &flv[..8 * 1024], 4096, Duration::ZERO)
            .await
            .is_none()
    );
    let cut = seg.push(&flv[8 * 1024..]);
    let Err(MediaError::Cut(cut)) = cut else {
        panic!("expected a cut, got {cut:?}");
    };
    assert_eq!(cut.code(), "flood");
    assert!(cut.detail().contains("ingest queue"), "{}", cut.detail());
    // Every later push fails the same way, however small.
    assert!(matches!(
        seg.push(&flv[..10]),
        Err(MediaError::Cut(StreamCut::Flood { .. }))
    ));
    seg.finish(Duration::from_secs(10)).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_sent_faster_than_live_is_cut_as_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let flv = encode(dir.path(), 20, "flv", "in.flv");
    let limits = FloodLimits {
        max_ahead: Some(Duration::from_secs(3)),
        ..FloodLimits::default()
    };
    let (seg, _rx) = start(Container::Flv, &dir.path().join("replay"), limits, None);
    // 20 s of media as fast as it goes: more than 3 s ahead of the clock
    // within the first few seconds of media.
    let cut = match push_all(&seg, &flv, 4096, Duration::ZERO).await {
        Some(cut) => Some(cut),
        None => cut_of(&seg).await,
    };
    let cut = cut.expect("cut");
    assert_eq!(cut.code(), "flood");
    assert!(
        cut.detail().contains("ahead of real time"),
        "{}",
        cut.detail()
    );
    seg.finish(Duration::from_secs(10)).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_paced_stream_is_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let flv = encode(dir.path(), 3, "flv", "in.flv");
    let limits = FloodLimits {
        max_ahead: Some(Duration::from_secs(1)),
        ..FloodLimits::default()
    };
    let (seg, mut rx) = start(Container::Flv, &dir.path().join("replay"), limits, None);
    // 3 s of media over about 3.5 s: never more than a second ahead.
    let chunk = flv.len() / 70 + 1;
    assert_eq!(
        push_all(&seg, &flv, chunk, Duration::from_millis(50)).await,
        None
    );
    seg.finish(Duration::from_secs(10)).await.unwrap();
    let mut segments = 0;
    while rx.try_recv().is_ok() {
        segments += 1;
    }
    assert!(segments >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_media_is_cut_as_a_stream_error() {
    let dir = tempfile::tempdir().unwrap();
    let flv = encode(dir.path(), 6, "flv", "in.flv");
    let track = Track::new(TrackConfig::default(), 0);
    let limits = FloodLimits {
        max_without_video: Duration::from_secs(2),
        ..FloodLimits::unpaced()
    };
    let (seg, mut rx) = start(
        Container::Flv,
        &dir.path().join("replay"),
        limits,
        Some(&track),
    );
    // A good first half, then the rest scrambled (the demuxer finds no tag
    // in it), at about 3 s for the rest.
    let half = flv.len() / 2;
    assert_eq!(
        push_all(&seg, &flv[..half], 4096, Duration::ZERO).await,
        None
    );
    assert!(track.is_live());
    let garbage: Vec<u8> = flv[half..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ (i as u8).wrapping_mul(31) ^ 0x5a)
        .collect();
    let chunk = garbage.len() / 60 + 1;
    let cut = push_all(&seg, &garbage, chunk, Duration::from_millis(50))
        .await
        .expect("corrupt media is cut");
    assert_eq!(cut.code(), "stream_error", "{cut:?}");
    assert!(
        cut.detail().contains("no playable H.264 video"),
        "{}",
        cut.detail()
    );
    seg.finish(Duration::from_secs(10)).await.ok();
    let mut segments = 0;
    while rx.try_recv().is_ok() {
        segments += 1;
    }
    assert!(segments >= 1, "what came before the corruption is kept");
    assert!(!track.is_live(), "the live edge ends with the stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_that_is_not_h264_is_cut_with_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    // FLV's own Sorenson video (what `-c:v flv` makes): a codec we do not pass on.
    let out = dir.path().join("h263.flv");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30:duration=3",
        ])
        .args(["-c:v", "flv", "-f", "flv"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let flv = std::fs::read(&out).unwrap();
    let (seg, _rx) = start(
        Container::Flv,
        &dir.path().join("replay"),
        FloodLimits::unpaced(),
        None,
    );
    let cut = match push_all(&seg, &flv, 4096, Duration::ZERO).await {
        Some(cut) => Some(cut),
        None => cut_of(&seg).await,
    };
    let cut = cut.expect("cut");
    assert_eq!(cut.code(), "stream_error");
    assert!(cut.detail().contains("not H.264"), "{}", cut.detail());
    seg.finish(Duration::from_secs(10)).await.ok();
}

/// A small filesystem of the test's own (tmpfs), unmounted when dropped.
/// Mounting needs root (CI runs as root); without it the test fails saying so.
pub struct SmallDisk {
    pub path: std::path::PathBuf,
}

impl SmallDisk {
    pub fn mount(path: &Path, bytes: u64) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "this test mounts a {bytes}-byte tmpfs at {path:?} to fill it, which needs root"
        );
        SmallDisk {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_recording_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let flv = encode(dir.path(), 30, "flv", "in.flv");
    assert!(flv.len() > 512 * 1024, "{} bytes", flv.len());
    let disk = SmallDisk::mount(&dir.path().join("replay"), 192 * 1024);
    let (seg, mut rx) = start(Container::Flv, &disk.path, FloodLimits::unpaced(), None);
    let cut = match push_all(&seg, &flv, 4096, Duration::ZERO).await {
        Some(cut) => Some(cut),
        None => cut_of(&seg).await,
    };
    assert_eq!(cut, Some(StreamCut::DiskFull));
    seg.finish(Duration::from_secs(10)).await.ok();
    // What was reported is whole: every segment listed is on the disk at
    // the size reported.
    while let Ok(segment) = rx.try_recv() {
        let on_disk = std::fs::metadata(&segment.path).unwrap().len();
        assert_eq!(on_disk, segment.bytes, "{segment:?}");
    }
}
