//! Thumbnails of real segments.

use std::process::Command;

use media::thumbnail::{make_thumbnail, make_thumbnail_shaped, thumbnail_file};

mod common;

/// ffprobe: `(codec, width, height)` of an image.
fn image(path: &std::path::Path) -> (String, i64, i64) {
    let (_, streams) = common::probe(path);
    streams.into_iter().next().expect("one stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_segment_gets_a_small_jpeg_of_its_first_frame() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let segments = common::buffer(dir.path(), 6).await;
    for s in &segments {
        let out = s.path.with_file_name(thumbnail_file(s.seq));
        make_thumbnail(&s.path, &out, 256).await.unwrap();
        // 640x360 scaled to 256 wide keeps its 16:9 shape.
        assert_eq!(image(&out), ("mjpeg".to_string(), 256, 144), "{out:?}");
        assert!(std::fs::read(&out).unwrap().starts_with(&[0xff, 0xd8]));
        assert!(!out.with_extension("jpg.part").exists());
    }
    // Shaped 9:16 (a vertical clip's poster): the centre of the frame.
    let tall = segments[0].path.with_file_name("tall.jpg");
    make_thumbnail_shaped(&segments[0].path, &tall, 180, Some((9, 16)))
        .await
        .unwrap();
    // 640x360 cropped to its 9:16 middle (202 or 203 wide, as the crop
    // rounds), then scaled to 180 wide.
    let (codec, w, h) = image(&tall);
    assert_eq!((codec.as_str(), w), ("mjpeg", 180));
    assert!((h as f64 / w as f64 - 16.0 / 9.0).abs() < 0.03, "{w}x{h}");
    // It decodes: the test pattern is colourful, not a flat grey frame.
    let out = segments[0]
        .path
        .with_file_name(thumbnail_file(segments[0].seq));
    let stats = Command::new("ffmpeg")
        .args(["-v", "info", "-i"])
        .arg(&out)
        .args([
            "-vf",
            "signalstats,metadata=print:key=lavfi.signalstats.SATAVG",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&stats.stderr).to_string()
        + &String::from_utf8_lossy(&stats.stdout);
    let sat: f64 = text
        .split("lavfi.signalstats.SATAVG=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no saturation in {text}"));
    assert!(sat > 20.0, "saturation {sat}: not the test pattern");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_video_is_an_error_and_leaves_nothing() {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("seg0000000001.ts");
    std::fs::write(&bogus, vec![0u8; 4096]).unwrap();
    let out = dir.path().join(thumbnail_file(1));
    assert!(make_thumbnail(&bogus, &out, 256).await.is_err());
    assert!(!out.exists());
    assert!(!out.with_extension("jpg.part").exists());
    let missing = dir.path().join("seg0000000002.ts");
    assert!(make_thumbnail(&missing, &out, 256).await.is_err());
}
