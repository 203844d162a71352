//! What the studio is told about the incoming stream
//! (`GET /api/v1/shows/{show}/stream`): the measured keyframe interval with
//! OBS's fix when it is long, and why the server cut a stream off — a
//! publisher faster than live, a full disk — while checkout, the database
//! and the other shows' streams go on.

use std::time::Duration;

use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{
    CARD_OK, Db, TestApp, publish, publish_gop, spawn_app, spawn_app_with, with_stripe,
};

async fn stream(app: &TestApp, token: &str, show_id: &str) -> Value {
    app.get(&format!("/api/v1/shows/{show_id}/stream"), Some(token))
        .await
        .expect(200)
}

/// Polls the report until `check` holds (a deadline for two shared cores
/// and ffmpeg, not a measure of speed).
async fn stream_until(
    app: &TestApp,
    token: &str,
    show_id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = stream(app, token, show_id).await;
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}: {last}");
}

async fn the_keyframe_interval_is_measured_and_a_long_one_gets_the_obs_fix(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let before = stream(&app, &token, &show_id).await;
    assert_eq!(before["live"], false);
    assert_eq!(before["keyframe_interval_ms"], Value::Null);
    assert_eq!(before["advice"], json!([]));

    // OBS's own default: a keyframe every 250 frames (8.3 s at 30 fps).
    let rtmp = app.rtmp_url(&token, &show_id).await;
    assert!(publish_gop(&rtmp, 20, 250, false).await);
    let long = stream_until(&app, &token, &show_id, "the interval", |s| {
        s["keyframe_interval_ms"].is_i64()
    })
    .await;
    let ms = long["keyframe_interval_ms"].as_i64().unwrap();
    assert!((8200..=8450).contains(&ms), "{long}");
    let advice = long["advice"].as_array().unwrap();
    assert_eq!(advice.len(), 1, "{long}");
    assert_eq!(advice[0]["code"], "keyframe_interval_too_long");
    assert!(
        advice[0]["message"].as_str().unwrap().contains("8.3 s"),
        "{long}"
    );
    assert_eq!(
        advice[0]["obs_simple"],
        "Settings → Output → check \"Enable Advanced Encoder Settings\" → x264 Options: keyint=60"
    );
    assert_eq!(
        advice[0]["obs_advanced"],
        "Settings → Output → Streaming → Keyframe Interval: 2 s"
    );
    assert_eq!(
        long["last_cut"],
        Value::Null,
        "a stream that ended by itself"
    );

    // The creator fixes it: a new session is measured afresh.
    assert!(publish_gop(&rtmp, 8, 60, false).await);
    let fixed = stream_until(&app, &token, &show_id, "the new interval", |s| {
        s["keyframe_interval_ms"]
            .as_i64()
            .is_some_and(|ms| ms < 2100)
    })
    .await;
    assert_eq!(fixed["advice"], json!([]), "{fixed}");

    // Only the show's creator reads it.
    let (_, other) = app.creator("someone else").await;
    let refused = app
        .get(&format!("/api/v1/shows/{show_id}/stream"), Some(&other))
        .await;
    assert!(
        matches!(refused.status.as_u16(), 403 | 404),
        "{}",
        refused.status
    );
    let viewer = app.viewer().await;
    let refused = app
        .get(&format!("/api/v1/shows/{show_id}/stream"), Some(&viewer))
        .await;
    assert!(
        matches!(refused.status.as_u16(), 401 | 403 | 404),
        "{}",
        refused.status
    );
}

/// The Prometheus count of cuts for `reason`.
async fn cuts_counted(app: &TestApp, reason: &str) -> u64 {
    let text = app.metrics().await;
    let needle = format!("dropcast_ingest_cuts_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0, |n| n.trim().parse().unwrap())
}

async fn a_publisher_faster_than_live_is_cut_counted_and_said(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.ingest.flood.max_ahead = Some(Duration::from_secs(3));
    })
    .await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let rtmp = app.rtmp_url(&token, &show_id).await;
    // A minute of media sent as fast as ffmpeg makes it.
    assert!(
        !publish(&rtmp, 60, false).await,
        "the server cut ffmpeg off"
    );
    let report = stream_until(&app, &token, &show_id, "the cut", |s| {
        s["live"] == false && s["last_cut"].is_object()
    })
    .await;
    assert_eq!(report["last_cut"]["code"], "flood", "{report}");
    let message = report["last_cut"]["message"].as_str().unwrap();
    assert!(message.contains("faster than it plays"), "{message}");
    assert!(message.contains("ahead of real time"), "{message}");
    assert_eq!(report["cuts"], 1);
    assert_eq!(cuts_counted(&app, "flood").await, 1);
    // A paced stream afterwards is not cut, and clears the report.
    assert!(publish(&rtmp, 3, true).await);
    let after = stream_until(&app, &token, &show_id, "offline again", |s| {
        s["live"] == false
    })
    .await;
    assert_eq!(after["last_cut"], Value::Null, "{after}");
    assert_eq!(after["cuts"], 1);
}

/// A tmpfs of the test's own at `path`, unmounted when dropped (needs root,
/// as CI has; without it the test fails saying so).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: &std::path::Path, bytes: u64) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("mount runs")
            .success();
        assert!(
            ok,
            "this test mounts a small tmpfs at {path:?}, which needs root"
        );
        SmallDisk(path.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

async fn a_full_disk_stops_that_recording_and_nothing_else(db: Db) {
    let app = spawn_app_with(db, with_stripe).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let other_show = app.show(&token, "Other show").await;
    let other_id = other_show["id"].as_str().unwrap().to_string();
    // This show's replay buffer is on a disk of 192 KiB.
    let _disk = SmallDisk::mount(
        &app.data_dir.path().join("replay").join(&show_id),
        192 * 1024,
    );
    let rtmp = app.rtmp_url(&token, &show_id).await;
    let other_rtmp = other_show["ingest"]["rtmp"].as_str().unwrap().to_string();
    let other = tokio::spawn(async move { publish(&other_rtmp, 6, true).await });
    assert!(
        !publish(&rtmp, 30, false).await,
        "the server ended the stream"
    );
    let report = stream_until(&app, &token, &show_id, "the cut", |s| {
        s["live"] == false && s["last_cut"].is_object()
    })
    .await;
    assert_eq!(report["last_cut"]["code"], "disk_full", "{report}");
    assert!(
        report["last_cut"]["message"]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{report}"
    );
    assert_eq!(cuts_counted(&app, "disk_full").await, 1);
    // The replay that fitted is indexed whole: each listed segment is on
    // the disk at the size indexed.
    let listed: Vec<(String, i64)> =
        sqlx::query_as("SELECT file, bytes FROM segments WHERE show_id = $1")
            .bind(&show_id)
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
    for (file, bytes) in listed {
        let path = app
            .data_dir
            .path()
            .join("replay")
            .join(&show_id)
            .join(&file);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as i64,
            bytes,
            "{file}"
        );
    }
    // Checkout and the database go on…
    let buyer = app.buyer(CARD_OK).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "after-disk-full")
        .await
        .expect(201);
    assert!(order["id"].is_string());
    // …and so does the other show's stream, on its own disk.
    assert!(other.await.unwrap(), "the other show streamed to the end");
    let other_report = stream(&app, &token, &other_id).await;
    assert_eq!(other_report["last_cut"], Value::Null, "{other_report}");
    let other_segments: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM segments WHERE show_id = $1")
            .bind(&other_id)
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    assert!(other_segments >= 2, "{other_segments} segments");
}

db_tests!(
    the_keyframe_interval_is_measured_and_a_long_one_gets_the_obs_fix,
    a_publisher_faster_than_live_is_cut_counted_and_said,
    a_full_disk_stops_that_recording_and_nothing_else,
);
