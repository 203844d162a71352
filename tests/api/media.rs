//! Streams pushed into the running server the way OBS would (ffmpeg: test
//! pattern and tone, H.264 with a 2 s GOP, AAC), over RTMP and SRT.

use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::db_tests;
use crate::helpers::{Db, TestApp, publish, spawn_app, spawn_app_on, spawn_app_with, wait_until};

/// ffprobe's view of a URL: `(duration seconds, codec names)`.
pub(crate) async fn probe(url: &str) -> (f64, Vec<String>) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
            url,
        ])
        .output()
        .await
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let mut codecs: Vec<String> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["codec_name"].as_str().map(str::to_string))
        .collect();
    codecs.sort();
    (duration, codecs)
}

async fn playlist(app: &TestApp, show_id: &str) -> (reqwest::header::HeaderMap, String) {
    let res = app
        .client
        .get(app.url(&format!("/hls/{show_id}/index.m3u8")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    (headers, res.text().await.unwrap())
}

fn segment_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_string)
        .collect()
}

async fn rtmp_stream_goes_live_serves_hls_and_ends_properly(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;

    let url = show["ingest"]["rtmp"].as_str().unwrap().to_string();
    let pushing = tokio::spawn(async move { publish(&url, 6, true).await });
    let (up, _) = live.until("live").await;
    assert_eq!(up["live"], true);
    // While live: a playlist without an end, never cached.
    wait_until("a first segment", async || {
        !segment_uris(&playlist(&app, &show_id).await.1).is_empty()
    })
    .await;
    let (headers, text) = playlist(&app, &show_id).await;
    assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-cache")
    );
    assert!(!text.contains("#EXT-X-ENDLIST"));
    assert_eq!(
        app.get(&format!("/api/v1/shows/{show_id}"), None)
            .await
            .expect(200)["live"],
        true
    );

    assert!(pushing.await.unwrap(), "ffmpeg failed to publish");
    let (down, _) = live.until("live").await;
    assert_eq!(down["live"], false);
    let (_, text) = playlist(&app, &show_id).await;
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let uris = segment_uris(&text);
    assert!(uris.len() >= 3, "{text}");
    let res = app
        .client
        .get(app.url(&format!("/hls/{show_id}/{}", uris[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/mp2t");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    // The playlist plays: GStreamer's sibling, ffprobe, reads it end to end.
    let (duration, codecs) = probe(&app.url(&format!("/hls/{show_id}/index.m3u8"))).await;
    assert!((duration - 6.0).abs() < 1.0, "duration {duration}");
    assert_eq!(codecs, ["aac", "h264"]);

    // The replay span, for the creator and editors only.
    let replay = app
        .get(&format!("/api/v1/shows/{show_id}/replay"), Some(&token))
        .await
        .expect(200);
    let span = replay["end_ms"].as_i64().unwrap() - replay["start_ms"].as_i64().unwrap();
    assert!((span - 6000).abs() <= 500, "span {span}");
    let editor = app.editor(&token, &show_id).await;
    app.get(&format!("/api/v1/shows/{show_id}/replay"), Some(&editor))
        .await
        .expect(200);
    let viewer = app.viewer().await;
    assert_eq!(
        app.get(&format!("/api/v1/shows/{show_id}/replay"), Some(&viewer))
            .await
            .status,
        403
    );
}

async fn srt_ingest_and_unknown_keys(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    let srt = show["ingest"]["srt"].as_str().unwrap().to_string();
    assert!(
        publish(&srt, 4, true).await,
        "ffmpeg failed to publish over SRT"
    );
    wait_until("offline", async || {
        app.get(&format!("/api/v1/shows/{show_id}"), None)
            .await
            .body["live"]
            == false
            && segment_uris(&playlist(&app, &show_id).await.1).len() >= 2
    })
    .await;
    let bad = srt.replace(show["stream_key"].as_str().unwrap(), "live_nope");
    assert!(!publish(&bad, 2, false).await);
    let rtmp_bad = format!(
        "rtmp://127.0.0.1:{}/live/live_nope",
        app.state.settings.rtmp_addr.port()
    );
    assert!(!publish(&rtmp_bad, 2, false).await);
}

async fn the_buffer_survives_a_restart_and_a_reconnect_continues_it(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    assert!(publish(show["ingest"]["rtmp"].as_str().unwrap(), 4, false).await);
    wait_until("offline", async || {
        playlist(&app, &show_id).await.1.contains("ENDLIST")
    })
    .await;
    let before = segment_uris(&playlist(&app, &show_id).await.1);

    let (db, url) = (app.db, app.database_url.clone());
    let TestApp {
        data_dir, state, ..
    } = app;
    state.shutdown.cancel();
    state.pool.close().await;
    let again = spawn_app_on(db, url, data_dir, |_| {}).await;
    let (_, text) = playlist(&again, &show_id).await;
    assert_eq!(
        segment_uris(&text),
        before,
        "the buffer is still there after a restart"
    );
    let res = again
        .client
        .get(again.url(&format!("/hls/{show_id}/{}", before[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let show = again
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    assert!(publish(show["ingest"]["rtmp"].as_str().unwrap(), 4, false).await);
    wait_until("offline again", async || {
        segment_uris(&playlist(&again, &show_id).await.1).len() > before.len()
            && playlist(&again, &show_id).await.1.contains("ENDLIST")
    })
    .await;
    let (_, text) = playlist(&again, &show_id).await;
    let after = segment_uris(&text);
    assert_eq!(&after[..before.len()], &before[..], "numbering continues");
    assert!(text.contains("#EXT-X-DISCONTINUITY"), "{text}");
}

/// The replay playlist and the segments it lists are answered from memory,
/// not the index: a change to the index made behind the server's back is not
/// seen while the copy is fresh (here a minute, so the test does not depend
/// on timing); the recorder's own changes (a new stream) are seen at once.
async fn the_replay_playlist_comes_from_memory(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.replay_playlist_fresh = Duration::from_secs(60);
    })
    .await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let rtmp = app.rtmp_url(&token, &show_id).await;
    assert!(publish(&rtmp, 4, false).await);
    wait_until("offline", async || {
        playlist(&app, &show_id).await.1.contains("ENDLIST")
    })
    .await;
    let (_, before) = playlist(&app, &show_id).await;
    let uris = segment_uris(&before);
    assert!(!uris.is_empty(), "{before}");
    // Behind the server's back: every indexed segment is a second longer
    // and names a file that does not exist.
    let changed = sqlx::query(
        "UPDATE segments SET end_ms = end_ms + 1000, file = 'gone.ts' WHERE show_id = $1",
    )
    .bind(&show_id)
    .execute(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected() as usize, uris.len());
    for _ in 0..3 {
        assert_eq!(playlist(&app, &show_id).await.1, before, "from memory");
        let res = app
            .client
            .get(app.url(&format!("/hls/{show_id}/{}", uris[0])))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "the file is known without the index");
    }
    // The recorder's own change, a new stream, is seen at once: the index
    // is read again (with what was changed in it).
    assert!(publish(&rtmp, 4, false).await);
    wait_until("offline again", async || {
        let (_, text) = playlist(&app, &show_id).await;
        text.contains("ENDLIST") && text != before
    })
    .await;
    let (_, after) = playlist(&app, &show_id).await;
    assert!(after.contains("gone.ts"), "{after}");
    assert!(segment_uris(&after).len() > uris.len(), "{after}");
}

async fn the_buffer_is_trimmed_to_its_length(db: Db) {
    let app = spawn_app_with(db, |s| s.replay_seconds = 4).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    assert!(publish(show["ingest"]["rtmp"].as_str().unwrap(), 12, false).await);
    wait_until("offline", async || {
        playlist(&app, &show_id).await.1.contains("ENDLIST")
    })
    .await;
    let replay = app
        .get(&format!("/api/v1/shows/{show_id}/replay"), Some(&token))
        .await
        .expect(200);
    let span = replay["end_ms"].as_i64().unwrap() - replay["start_ms"].as_i64().unwrap();
    assert!((4000..=6500).contains(&span), "span {span}");
    let dir = app.data_dir.path().join("replay").join(&show_id);
    let count = |ext: &str| {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|f| f.as_ref().unwrap().path().extension().unwrap() == ext)
            .count()
    };
    assert!(count("ts") <= 4, "{} segments left on disk", count("ts"));
    // Thumbnails go with their segments (the newest may still be in the making).
    wait_until("the thumbnails of the kept segments", async || {
        count("jpg") >= count("ts").saturating_sub(1)
    })
    .await;
    assert!(
        count("jpg") <= count("ts"),
        "a thumbnail outlived its segment"
    );
    assert_eq!(
        app.client
            .get(app.url(&format!("/hls/{show_id}/seg0000000000.ts")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

async fn the_buffer_is_bounded_by_bytes_too(db: Db) {
    const BUDGET: i64 = 150_000;
    let app = spawn_app_with(db, |s| s.replay_max_bytes = Some(BUDGET as u64)).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let rtmp = app.rtmp_url(&token, &show_id).await;
    assert!(publish(&rtmp, 16, false).await);
    wait_until("offline", async || {
        playlist(&app, &show_id).await.1.contains("ENDLIST")
    })
    .await;
    let kept: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT seq, file, bytes FROM segments WHERE show_id = $1 ORDER BY seq")
            .bind(&show_id)
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
    assert!(!kept.is_empty());
    // Within the budget, the newest kept whole; at most one segment less
    // than the budget would allow (the trim runs as each one closes).
    let total: i64 = kept.iter().map(|k| k.2).sum();
    assert!(
        total <= BUDGET || kept.len() == 1,
        "{total} bytes kept: {kept:?}"
    );
    assert!(kept[0].0 > 0, "the oldest segments went: {kept:?}");
    // The files went with their rows.
    let dir = app.data_dir.path().join("replay").join(&show_id);
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|f| f.as_ref().unwrap().path().extension().unwrap() == "ts")
        .count();
    assert_eq!(on_disk, kept.len());
}

async fn the_replay_lists_thumbnails_and_the_commerce_on_its_timeline(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(3).await;
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    let url = show["ingest"]["rtmp"].as_str().unwrap().to_string();
    let pushing = tokio::spawn(async move { publish(&url, 8, true).await });
    wait_until("a first segment", async || {
        !segment_uris(&playlist(&app, &show_id).await.1).is_empty()
    })
    .await;
    // While the stream runs: pin, restock, and start a countdown.
    app.put(
        &format!("/api/v1/shows/{show_id}/pin"),
        Some(&token),
        serde_json::json!({"product_id": product_id}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/shows/{show_id}/products/{product_id}"),
        Some(&token),
        serde_json::json!({"add_stock": 4}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/shows/{show_id}/countdowns"),
        Some(&token),
        serde_json::json!({"kind": "sale_ends", "seconds": 60, "label": "last call"}),
    )
    .await
    .expect(201);
    assert!(pushing.await.unwrap(), "ffmpeg failed to publish");
    wait_until("the end of the stream", async || {
        playlist(&app, &show_id).await.1.contains("ENDLIST")
    })
    .await;

    let replay_path = format!("/api/v1/shows/{show_id}/replay");
    wait_until("a thumbnail for every segment", async || {
        let replay = app.get(&replay_path, Some(&token)).await.expect(200);
        replay["thumbnails"].as_array().unwrap().len()
            == segment_uris(&playlist(&app, &show_id).await.1).len()
    })
    .await;
    let replay = app.get(&replay_path, Some(&token)).await.expect(200);
    let (start, end) = (
        replay["start_ms"].as_i64().unwrap(),
        replay["end_ms"].as_i64().unwrap(),
    );
    let thumbs = replay["thumbnails"].as_array().unwrap();
    assert!(thumbs.len() >= 3, "{replay}");
    let mut last = i64::MIN;
    for t in thumbs {
        let at = t["at_ms"].as_i64().unwrap();
        assert!(at > last && (start..end).contains(&at), "{replay}");
        last = at;
        let res = app
            .client
            .get(t["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert!(res.bytes().await.unwrap().starts_with(&[0xff, 0xd8]));
    }
    for bad in [
        "seg0000999999.jpg",
        "seg1.jpg",
        "..%2Fdropcast.db",
        "seg0000000001.ts",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/api/v1/shows/{show_id}/thumbnails/{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{bad}");
    }

    // The commerce events, in order, inside the span.
    let kinds: Vec<&str> = replay["events"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|e| {
            let at = e["at_ms"].as_i64().unwrap();
            assert!((start..=end).contains(&at), "{e} outside {start}..{end}");
        })
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| *k != "live")
        .collect();
    assert_eq!(kinds, ["pin", "stock", "countdown"], "{replay}");
    let stock = replay["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "stock")
        .unwrap();
    assert_eq!(
        (stock["product_id"].as_str(), stock["available"].as_i64()),
        (Some(product_id.as_str()), Some(7))
    );

    // A clip of the whole buffer carries them too.
    let clip = app
        .post(
            &format!("/api/v1/shows/{show_id}/clips"),
            Some(&token),
            serde_json::json!({"start_ms": start, "end_ms": end, "product_id": product_id}),
        )
        .await
        .expect(202);
    let clip = app
        .get(
            &format!("/api/v1/clips/{}", clip["id"].as_str().unwrap()),
            Some(&token),
        )
        .await
        .expect(200);
    let clip_kinds: Vec<&str> = clip["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| *k != "live")
        .collect();
    assert_eq!(clip_kinds, kinds, "{clip}");
}

async fn two_shows_live_at_once_over_rtmp_and_srt_and_a_second_publisher_is_refused(db: Db) {
    let app = spawn_app(db).await;
    let (token, first, _) = app.creator_show_product(1).await;
    let second = app.show(&token, "Second room").await;
    let second = second["id"].as_str().unwrap().to_string();
    let ingest = async |show_id: &str| {
        app.get(&format!("/api/v1/shows/{show_id}"), Some(&token))
            .await
            .expect(200)["ingest"]
            .clone()
    };
    let (a, b) = (ingest(&first).await, ingest(&second).await);
    let rtmp = a["rtmp"].as_str().unwrap().to_string();
    let srt = b["srt"].as_str().unwrap().to_string();
    let pushing_a = tokio::spawn(async move { publish(&rtmp, 6, true).await });
    let pushing_b = tokio::spawn(async move { publish(&srt, 6, true).await });
    wait_until("both shows live", async || {
        let live = async |id: &str| {
            app.get(&format!("/api/v1/shows/{id}"), None).await.body["live"] == true
        };
        live(&first).await && live(&second).await
    })
    .await;
    // The first show is live over RTMP: a second publisher, over either
    // protocol, is turned away and does not disturb it.
    let again_srt = a["srt"].as_str().unwrap().to_string();
    assert!(
        !publish(&again_srt, 2, false).await,
        "a second SRT publisher was let in"
    );
    let again_rtmp = a["rtmp"].as_str().unwrap().to_string();
    assert!(
        !publish(&again_rtmp, 2, false).await,
        "a second RTMP publisher was let in"
    );
    assert!(
        pushing_a.await.unwrap(),
        "ffmpeg failed to publish over RTMP"
    );
    assert!(
        pushing_b.await.unwrap(),
        "ffmpeg failed to publish over SRT"
    );
    for show_id in [&first, &second] {
        wait_until("the end of the stream", async || {
            playlist(&app, show_id).await.1.contains("ENDLIST")
        })
        .await;
        let (duration, codecs) = probe(&app.url(&format!("/hls/{show_id}/index.m3u8"))).await;
        assert!((duration - 6.0).abs() < 1.0, "{show_id}: {duration} s");
        assert_eq!(codecs, ["aac", "h264"], "{show_id}");
    }
}

/// Once the stream has ended, the playlist is the whole buffer as a
/// seekable recording: every segment dated, and the pins of the show as
/// date ranges, each with the segment it was made in, so the watch page's
/// card follows what was pinned at the playback position.
async fn an_ended_show_plays_from_its_start_with_its_pins(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, first) = app.creator_show_product(3).await;
    let second = app.product(&token, &show_id, "CAP-1", 2).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pin = async |product: &str| {
        app.put(
            &format!("/api/v1/shows/{show_id}/pin"),
            Some(&token),
            serde_json::json!({ "product_id": product }),
        )
        .await
        .expect(200);
    };
    pin(&first).await;
    let url = app.rtmp_url(&token, &show_id).await;
    let pushing = tokio::spawn(async move { publish(&url, 9, true).await });
    wait_until("two segments", async || {
        segment_uris(&playlist(&app, &show_id).await.1).len() >= 2
    })
    .await;
    let pinned_at = dropcast::now_ms();
    pin(&second).await;
    assert!(pushing.await.unwrap(), "ffmpeg failed to publish");
    wait_until("the end of the stream", async || {
        playlist(&app, &show_id).await.1.contains("ENDLIST")
    })
    .await;
    let (_, text) = playlist(&app, &show_id).await;
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{text}");
    let indexed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM segments WHERE show_id = $1")
        .bind(&show_id)
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(segment_uris(&text).len() as i64, indexed, "from the start");
    // Each segment is dated; each pin sits with the segment it was made in.
    let date = |line: &str, tag: &str| -> i64 {
        let at = line.split(tag).nth(1).unwrap();
        let at = &at[..24];
        chrono_ms(at)
    };
    let mut dated = Vec::new();
    let mut pins: Vec<(i64, i64, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with("#EXT-X-PROGRAM-DATE-TIME:") {
            dated.push(date(line, "#EXT-X-PROGRAM-DATE-TIME:"));
        } else if line.starts_with("#EXT-X-DATERANGE:") && line.contains("com.dropcast.pin") {
            let product = line.split("X-PRODUCT=\"").nth(1).unwrap();
            let product = product.trim_end_matches('"').to_string();
            pins.push((*dated.last().unwrap(), date(line, "START-DATE=\""), product));
        }
    }
    assert_eq!(dated.len() as i64, indexed, "{text}");
    assert!(dated.windows(2).all(|w| w[0] < w[1]), "{text}");
    let products: Vec<&str> = pins.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(products, [first.as_str(), second.as_str()], "{text}");
    // The first pin was made before the stream: with the first segment.
    assert_eq!(pins[0].0, dated[0]);
    assert!(pins[0].1 <= dated[0]);
    // The second within the stream: in its segment's span.
    let (segment_at, at, _) = &pins[1];
    assert!((pinned_at - 1000..=pinned_at + 1000).contains(at), "{text}");
    assert!(segment_at <= at, "{text}");
    let next = dated.iter().find(|d| *d > segment_at);
    assert!(next.is_none_or(|n| at < n), "{text}");
}

/// Unix ms of `2026-12-03T05:30:45.500Z`.
fn chrono_ms(iso: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| iso[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11..13)) * 60 + n(14..16)) * 60_000 + n(17..19) * 1000 + n(20..23)
}

db_tests!(
    an_ended_show_plays_from_its_start_with_its_pins,
    the_replay_playlist_comes_from_memory,
    two_shows_live_at_once_over_rtmp_and_srt_and_a_second_publisher_is_refused,
    the_replay_lists_thumbnails_and_the_commerce_on_its_timeline,
    rtmp_stream_goes_live_serves_hls_and_ends_properly,
    srt_ingest_and_unknown_keys,
    the_buffer_survives_a_restart_and_a_reconnect_continues_it,
    the_buffer_is_trimmed_to_its_length,
    the_buffer_is_bounded_by_bytes_too,
);
