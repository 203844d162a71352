//! Clips exported from a real replay buffer through the API.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::db_tests;
use crate::helpers::{Db, Live, TestApp, publish_gop, spawn_app, spawn_app_on, spawn_app_with};

/// Pushes `seconds` of stream over RTMP as fast as ffmpeg can encode it,
/// then waits for the show to go offline.
pub(crate) async fn stream(app: &TestApp, token: &str, show_id: &str, seconds: u32) {
    stream_gop(app, token, show_id, seconds, 60).await;
}

/// As [`stream`], with a keyframe every `gop` frames; answers the replay's
/// span once offline.
async fn stream_gop(app: &TestApp, token: &str, show_id: &str, seconds: u32, gop: u32) -> Value {
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(token))
        .await
        .expect(200);
    assert!(
        publish_gop(
            show["ingest"]["rtmp"].as_str().unwrap(),
            seconds,
            gop,
            false
        )
        .await
    );
    for _ in 0..1200 {
        let replay = app
            .get(&format!("/api/v1/shows/{show_id}/replay"), Some(token))
            .await
            .expect(200);
        if replay["live"] == false && replay["end_ms"].is_i64() {
            return replay;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stream never ended");
}

pub(crate) async fn clip_until_done(app: &TestApp, token: &str, clip_id: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = app
            .get(&format!("/api/v1/clips/{clip_id}"), Some(token))
            .await
            .expect(200);
        match last["status"].as_str().unwrap() {
            "done" => return last,
            "failed" => panic!("clip failed: {last}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("clip never finished: {last}");
}

async fn download(app: &TestApp, url: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/mp4");
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    let path = dir.join(format!("{}.mp4", crate::helpers::fresh_name()));
    std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
    path
}

/// ffprobe: `(duration s, sorted "codec WxH")`.
async fn probe(path: &std::path::Path) -> (f64, Vec<String>) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut streams: Vec<String> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s["width"].as_i64() {
            Some(w) => format!(
                "{} {}x{}",
                s["codec_name"].as_str().unwrap(),
                w,
                s["height"]
            ),
            None => s["codec_name"].as_str().unwrap().to_string(),
        })
        .collect();
    streams.sort();
    (
        v["format"]["duration"].as_str().unwrap().parse().unwrap(),
        streams,
    )
}

async fn decode_errors(path: &std::path::Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Each stream's start time, in seconds.
async fn stream_starts(path: &std::path::Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=start_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .await
        .unwrap();
    let starts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(starts.len(), 2, "two streams expected");
    starts
}

fn index_first(path: &std::path::Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag);
    matches!((find(b"moov"), find(b"mdat")), (Some(m), Some(d)) if m < d)
}

async fn clip_the_last_60_seconds_and_a_vertical_short(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(1).await;
    let editor = app.editor(&token, &show_id).await;
    stream(&app, &token, &show_id, 64).await;

    // Staff sockets get clip progress; the public one does not.
    let mut staff = Live {
        ws: tokio_tungstenite::connect_async(
            app.ws_url(&format!("/api/v1/shows/{show_id}/live?token={editor}")),
        )
        .await
        .unwrap()
        .0,
    };
    staff.until("snapshot").await;
    let mut public = app.live(&show_id).await;
    public.until("snapshot").await;

    let queued = app
        .post(
            &format!("/api/v1/shows/{show_id}/clips"),
            Some(&editor),
            json!({"last_seconds": 60, "format": "original", "product_id": product_id}),
        )
        .await
        .expect(202);
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["product_id"], product_id.as_str());
    let clip = clip_until_done(&app, &editor, queued["id"].as_str().unwrap()).await;
    let duration = clip["duration_ms"].as_i64().unwrap();
    // The start moves back to a keyframe (one 2 s GOP at most); the end is
    // the buffer's.
    assert!(
        (59_860..=62_100).contains(&duration),
        "{duration} ms is not 60 s plus at most one GOP"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = download(&app, clip["download_url"].as_str().unwrap(), dir.path()).await;
    assert_eq!(
        std::fs::metadata(&file).unwrap().len() as i64,
        clip["bytes"].as_i64().unwrap()
    );
    let (seconds, streams) = probe(&file).await;
    assert!((59.86..=62.1).contains(&seconds), "{seconds}");
    assert_eq!(streams, ["aac", "h264 640x360"]);
    assert!(index_first(&file), "the MP4 index comes first (faststart)");
    assert_eq!(decode_errors(&file).await, "");
    let starts = stream_starts(&file).await;
    assert!(
        (starts[0] - starts[1]).abs() < 0.1,
        "audio and video start together: {starts:?}"
    );

    // Range requests.
    let res = app
        .client
        .get(clip["download_url"].as_str().unwrap())
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert!(
        res.headers()["content-range"]
            .to_str()
            .unwrap()
            .starts_with("bytes 100-199/")
    );
    assert_eq!(res.bytes().await.unwrap().len(), 100);

    // A vertical short of the last 6 s, with progress on the staff socket.
    let vertical = app
        .post(
            &format!("/api/v1/shows/{show_id}/clips"),
            Some(&token),
            json!({"last_seconds": 6, "format": "vertical"}),
        )
        .await
        .expect(202);
    let id = vertical["id"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    loop {
        let (frame, _) = staff.until("clip").await;
        if frame["clip"]["id"] != id.as_str() {
            continue;
        }
        statuses.push((
            frame["clip"]["status"].as_str().unwrap().to_string(),
            frame["clip"]["progress"].as_f64().unwrap(),
        ));
        if frame["clip"]["status"] == "done" {
            break;
        }
    }
    assert_eq!(statuses.first().map(|s| s.0.as_str()), Some("running"));
    assert_eq!(statuses.last().map(|s| s.1), Some(1.0));
    assert!(
        statuses.windows(2).all(|w| w[0].1 <= w[1].1),
        "{statuses:?}"
    );
    let done = app
        .get(&format!("/api/v1/clips/{id}"), Some(&token))
        .await
        .expect(200);
    let file = download(&app, done["download_url"].as_str().unwrap(), dir.path()).await;
    let (_, streams) = probe(&file).await;
    assert_eq!(streams, ["aac", "h264 1080x1920"]);
    assert_eq!(decode_errors(&file).await, "");
    while let Ok(Some(frame)) = public.next_within(Duration::from_millis(300)).await {
        assert_ne!(frame["type"], "clip", "clip frames are for staff only");
    }

    let list = app
        .get(&format!("/api/v1/shows/{show_id}/clips"), Some(&editor))
        .await
        .expect(200);
    assert_eq!(list["clips"].as_array().unwrap().len(), 2);
}

async fn bad_clip_requests_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let clips = format!("/api/v1/shows/{show_id}/clips");
    let empty = app
        .post(&clips, Some(&token), json!({"last_seconds": 10}))
        .await;
    assert_eq!((empty.status.as_u16(), empty.code()), (422, "out_of_range"));
    stream(&app, &token, &show_id, 8).await;
    let replay = app
        .get(&format!("/api/v1/shows/{show_id}/replay"), Some(&token))
        .await
        .expect(200);
    let (start, end) = (
        replay["start_ms"].as_i64().unwrap(),
        replay["end_ms"].as_i64().unwrap(),
    );
    let viewer = app.viewer().await;
    let (_, other) = app.creator("Other").await;
    let other_show = app.show(&other, "Theirs").await;
    let other_editor = app.editor(&other, other_show["id"].as_str().unwrap()).await;
    let cases: Vec<(Option<&str>, Value, u16, &str)> = vec![
        (
            Some(&token),
            json!({"last_seconds": 61}),
            422,
            "clip_too_long",
        ),
        (
            Some(&token),
            json!({"start_ms": start, "end_ms": start + 61_000}),
            422,
            "clip_too_long",
        ),
        (
            Some(&token),
            json!({"start_ms": start - 60_000, "end_ms": start - 1_000}),
            422,
            "out_of_range",
        ),
        (
            Some(&token),
            json!({"start_ms": end, "end_ms": end + 5_000}),
            422,
            "out_of_range",
        ),
        (
            Some(&token),
            json!({"start_ms": end, "end_ms": start}),
            422,
            "invalid_span",
        ),
        (Some(&token), json!({}), 422, "invalid_span"),
        (
            Some(&token),
            json!({"last_seconds": 5, "start_ms": start}),
            422,
            "invalid_span",
        ),
        (
            Some(&token),
            json!({"last_seconds": 0}),
            422,
            "invalid_last_seconds",
        ),
        (
            Some(&token),
            json!({"last_seconds": 5, "format": "square"}),
            422,
            "invalid_format",
        ),
        (
            Some(&token),
            json!({"last_seconds": 5, "product_id": "prd_0000000000000000"}),
            404,
            "product_not_found",
        ),
        (Some(&viewer), json!({"last_seconds": 5}), 403, "wrong_role"),
        (
            Some(&other),
            json!({"last_seconds": 5}),
            403,
            "not_your_show",
        ),
        (
            Some(&other_editor),
            json!({"last_seconds": 5}),
            403,
            "not_your_show",
        ),
        (None, json!({"last_seconds": 5}), 401, "missing_token"),
    ];
    for (who, body, status, code) in cases {
        let answer = app.post(&clips, who, body.clone()).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{body}"
        );
    }
    let list = app.get(&clips, Some(&token)).await.expect(200);
    assert_eq!(list["clips"], json!([]), "no refused request queued a clip");
    // A clip of the whole 8 s buffer, within it.
    let whole = app
        .post(
            &clips,
            Some(&token),
            json!({"start_ms": start, "end_ms": end}),
        )
        .await
        .expect(202);
    let done = clip_until_done(&app, &token, whole["id"].as_str().unwrap()).await;
    assert!((done["duration_ms"].as_i64().unwrap() - (end - start)).abs() <= 2_000);
    assert_eq!(
        app.get("/api/v1/clips/clp_0000000000000000/file", None)
            .await
            .status,
        404
    );
}

async fn a_clip_interrupted_by_a_crash_is_finished_after_the_restart(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    stream(&app, &token, &show_id, 6).await;
    let (db, url) = (app.db, app.database_url.clone());
    let TestApp {
        data_dir, state, ..
    } = app;
    state.shutdown.cancel();
    // As a crash leaves it: a clip marked running whose file was never made.
    let (first, last, start, end): (i64, i64, i64, i64) =
        sqlx::query_as("SELECT MIN(seq), MAX(seq), MIN(start_ms), MAX(end_ms) FROM segments")
            .fetch_one(&state.pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO clips (id, show_id, status, progress_permille, format, first_seq, last_seq, start_ms, end_ms,
             created_at_ms, updated_at_ms) VALUES ('clp_crashed', $1, 'running', 420, 'original', $2, $3, $4, $5, 0, 0)",
    )
    .bind(&show_id)
    .bind(first)
    .bind(last)
    .bind(start)
    .bind(end)
    .execute(&state.pool)
    .await
    .unwrap();
    state.pool.close().await;
    let again = spawn_app_on(db, url, data_dir, |_| {}).await;
    let done = clip_until_done(&again, &token, "clp_crashed").await;
    assert!(done["bytes"].as_i64().unwrap() > 0);
}

/// OBS's default x264 GOP (250 frames, 8.3 s): segments are 8.3 s, yet a
/// clip ends where it was asked, and starts on the keyframe before its
/// in-point, saying so.
async fn a_clip_ends_where_asked_and_says_how_far_its_start_moved(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let replay = stream_gop(&app, &token, &show_id, 20, 250).await;
    let start = replay["start_ms"].as_i64().unwrap();
    // 10 s in: 1.7 s into the second 8.3 s segment; 3 s long.
    let (asked_in, asked_out) = (start + 10_000, start + 13_000);
    let queued = app
        .post(
            &format!("/api/v1/shows/{show_id}/clips"),
            Some(&token),
            json!({"start_ms": asked_in, "end_ms": asked_out}),
        )
        .await
        .expect(202);
    assert_eq!(queued["asked_start_ms"], asked_in);
    assert_eq!(queued["end_ms"], asked_out, "the end is not moved");
    let snapped = queued["start_ms"].as_i64().unwrap();
    let early = asked_in - snapped;
    assert!(
        (1_500..=1_800).contains(&early),
        "the start moves back to the keyframe at 8.33 s, not {early} ms"
    );
    let done = clip_until_done(&app, &token, queued["id"].as_str().unwrap()).await;
    let duration = done["duration_ms"].as_i64().unwrap();
    // On the asked frame, or up to the B-frame count (3: 100 ms) before it.
    assert!(
        (asked_out - snapped - 140..=asked_out - snapped + 40).contains(&duration),
        "{duration} ms, asked {} ms (the segment is 8333 ms)",
        asked_out - snapped
    );
    let dir = tempfile::tempdir().unwrap();
    let file = download(&app, done["download_url"].as_str().unwrap(), dir.path()).await;
    let (seconds, _) = probe(&file).await;
    assert!(
        (seconds * 1000.0 - duration as f64).abs() < 120.0,
        "{seconds} s on disk, {duration} ms said"
    );
    assert_eq!(decode_errors(&file).await, "");
    let listed = app
        .get(&format!("/api/v1/shows/{show_id}/clips"), Some(&token))
        .await
        .expect(200);
    assert_eq!(listed["clips"][0]["asked_start_ms"], asked_in);
}

/// A finished clip sells: its public view (product, video, poster), its
/// page's Open Graph tags, views and taps counted, and an order placed
/// from it counted for it in the show's stats (once, however often it is
/// retried); a clip that is not finished, or of another show, is refused.
async fn a_clip_sells_its_product_and_counts_in_the_stats(db: Db) {
    let assets = tempfile::tempdir().unwrap();
    let dir = assets.path().to_path_buf();
    crate::pages::fake_build(&dir);
    let app = spawn_app_with(db, move |s| {
        crate::helpers::with_stripe(s);
        s.assets_dir = dir;
    })
    .await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    app.patch(
        &format!("/api/v1/shows/{show_id}/products/{product_id}"),
        Some(&token),
        json!({"title": "Glow <cap>"}),
    )
    .await
    .expect(200);
    stream(&app, &token, &show_id, 6).await;
    let queued = app
        .post(
            &format!("/api/v1/shows/{show_id}/clips"),
            Some(&token),
            json!({"last_seconds": 4, "product_id": product_id}),
        )
        .await
        .expect(202);
    let clip_id = queued["id"].as_str().unwrap().to_string();
    // Not finished yet: no page.
    let early = app
        .get(&format!("/api/v1/clips/{clip_id}/public"), None)
        .await;
    if early.status != 200 {
        assert_eq!(
            (early.status.as_u16(), early.code()),
            (404, "clip_not_found")
        );
    }
    clip_until_done(&app, &token, &clip_id).await;

    let public = app
        .get(&format!("/api/v1/clips/{clip_id}/public"), None)
        .await
        .expect(200);
    assert_eq!(public["show_id"], show_id.as_str());
    assert_eq!(public["product"]["id"], product_id.as_str());
    assert_eq!(public["product"]["available"], 5);
    assert_eq!(
        public["video_url"],
        app.url(&format!("/api/v1/clips/{clip_id}/file")).as_str()
    );
    let poster_url = public["poster_url"].as_str().expect("a poster").to_string();
    let poster = app.client.get(&poster_url).send().await.unwrap();
    assert_eq!(poster.status(), 200);
    assert_eq!(poster.headers()["content-type"], "image/jpeg");
    let poster = image::load_from_memory(&poster.bytes().await.unwrap()).unwrap();
    assert_eq!(poster.width(), 640);
    for missing in ["clp_0000000000000000", "nope"] {
        let answer = app
            .get(&format!("/api/v1/clips/{missing}/public"), None)
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (404, "clip_not_found")
        );
    }

    // The page: Open Graph and Twitter tags, escaped.
    let res = app
        .client
        .get(app.url(&format!("/clip/{clip_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    for tag in [
        r#"<meta property="og:title" content="Glow &lt;cap&gt; — Launch night">"#.to_string(),
        r#"<meta property="og:type" content="video.other">"#.to_string(),
        format!(r#"<meta property="og:image" content="{poster_url}">"#),
        format!(
            r#"<meta property="og:video" content="{}">"#,
            public["video_url"].as_str().unwrap()
        ),
        r#"<meta property="og:video:type" content="video/mp4">"#.to_string(),
        format!(
            r#"<meta property="og:url" content="{}">"#,
            app.url(&format!("/clip/{clip_id}"))
        ),
        r#"<meta name="twitter:card" content="summary_large_image">"#.to_string(),
    ] {
        assert!(html.contains(&tag), "{tag} in {html}");
    }
    assert!(html.contains("mount_clip"), "{html}");
    let missing = app.get("/clip/clp_0000000000000000", None).await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (404, "clip_not_found")
    );

    // Views and taps.
    let event = async |kind: Value| {
        app.post(
            &format!("/api/v1/clips/{clip_id}/events"),
            None,
            json!({ "kind": kind }),
        )
        .await
    };
    assert_eq!(event(json!("view")).await.status, 204);
    assert_eq!(event(json!("view")).await.status, 204);
    assert_eq!(event(json!("click")).await.status, 204);
    let bad = event(json!("like")).await;
    assert_eq!((bad.status.as_u16(), bad.code()), (422, "invalid_kind"));

    // Bought from the clip: counted for it, once.
    let buyer = app.buyer(crate::helpers::CARD_OK).await;
    let body = |clip: &str| json!({"product_id": product_id, "quantity": 2, "idempotency_key": "from-clip", "clip_id": clip});
    let path = format!("/api/v1/shows/{show_id}/orders");
    let order = app
        .post(&path, Some(&buyer), body(&clip_id))
        .await
        .expect(201);
    assert_eq!(order["status"], "paid");
    app.post(&path, Some(&buyer), body(&clip_id))
        .await
        .expect(200);
    // Another show's clip, or none at all, is refused and changes nothing.
    let (other_token, other_show, _) = app.creator_show_product(1).await;
    stream(&app, &other_token, &other_show, 4).await;
    let theirs = app
        .post(
            &format!("/api/v1/shows/{other_show}/clips"),
            Some(&other_token),
            json!({"last_seconds": 2}),
        )
        .await
        .expect(202);
    let theirs = theirs["id"].as_str().unwrap().to_string();
    clip_until_done(&app, &other_token, &theirs).await;
    for (i, bad) in [theirs.as_str(), "clp_0000000000000000", "../x"]
        .iter()
        .enumerate()
    {
        let mut wrong = body(bad);
        wrong["idempotency_key"] = json!(format!("wrong-{i}"));
        let answer = app.post(&path, Some(&buyer), wrong).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (422, "invalid_clip_id"),
            "{}",
            answer.body
        );
    }
    // A sale not from the clip is not the clip's.
    app.order(&buyer, &show_id, &product_id, 1, "from-the-show")
        .await
        .expect(201);
    let stats = app
        .get(&format!("/api/v1/shows/{show_id}/stats"), Some(&token))
        .await
        .expect(200);
    assert_eq!(
        stats["clips"],
        json!([{
            "clip_id": clip_id, "views": 2, "clicks": 1, "orders": 1, "units": 2,
            "revenue_cents": order["amount_cents"],
        }])
    );
    assert_eq!(stats["units_sold"], 3);
}

db_tests!(
    a_clip_sells_its_product_and_counts_in_the_stats,
    a_clip_ends_where_asked_and_says_how_far_its_start_moved,
    clip_the_last_60_seconds_and_a_vertical_short,
    bad_clip_requests_are_refused,
    a_clip_interrupted_by_a_crash_is_finished_after_the_restart,
);
