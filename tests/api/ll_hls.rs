//! Low-latency HLS of a live show, read the way hls.js reads it: the
//! playlist (checked against the LL-HLS rules on every reload), blocking
//! reloads, the preload hint, parts and whole segments, across a reconnect,
//! and the show's pins as `EXT-X-DATERANGE` at the picture's moment.

use std::time::Duration;

use media::hls::{LlPlaylist, ll_problems, read_ll_playlist};
use serde_json::json;

use crate::db_tests;
use crate::helpers::{Db, TestApp, publish_gop, spawn_app};

fn url(app: &TestApp, show_id: &str, rest: &str) -> String {
    app.url(&format!("/hls/{show_id}/{rest}"))
}

/// The playlist (optionally a blocking reload), read and checked.
async fn reload(app: &TestApp, show_id: &str, query: &str) -> (u16, Option<LlPlaylist>, String) {
    let res = app
        .client
        .get(url(app, show_id, &format!("index.m3u8{query}")))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    if status != 200 {
        return (status, None, text);
    }
    let p = read_ll_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    let problems = ll_problems(&p);
    assert!(problems.is_empty(), "{problems:?}\n{text}");
    (status, Some(p), text)
}

/// The live edge's playlist once the stream has ended, as a player doing
/// blocking reloads sees it.
async fn ended_edge(app: &TestApp, show_id: &str) -> LlPlaylist {
    for _ in 0..200 {
        let (status, p, text) = reload(app, show_id, "?_HLS_msn=0").await;
        assert_eq!(status, 200, "{text}");
        if let Some(p) = p.filter(|p| p.ended) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the playlist did not end when the publisher stopped");
}

/// (msn, part index) of the newest part listed.
fn newest_part(p: &LlPlaylist) -> Option<(u64, u64, String)> {
    let s = p.segments.last()?;
    let part = s.parts.last()?;
    Some((s.msn, s.parts.len() as u64 - 1, part.uri.clone()))
}

async fn wait_for_parts(app: &TestApp, show_id: &str, n: usize) -> LlPlaylist {
    for _ in 0..600 {
        let (status, p, _) = reload(app, show_id, "").await;
        if status == 200
            && let Some(p) = p
            && p.segments.iter().map(|s| s.parts.len()).sum::<usize>() >= n
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {n} parts in time");
}

async fn blocking_reloads_parts_and_the_preload_hint(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let rtmp = app.rtmp_url(&token, &show_id).await;
    let pushing = tokio::spawn(async move { publish_gop(&rtmp, 10, 60, true).await });
    let p = wait_for_parts(&app, &show_id, 3).await;
    assert!(!p.ended);

    // Ask for the part after the newest: answered once it exists, with it.
    let mut last_msn = p.first_msn;
    for _ in 0..6 {
        let (_, p, _) = reload(&app, &show_id, "").await;
        let p = p.unwrap();
        assert!(p.first_msn >= last_msn, "the media sequence went back");
        last_msn = p.first_msn;
        let (msn, part, _) = newest_part(&p).unwrap();
        let want = part + 1;
        let (status, next, text) =
            reload(&app, &show_id, &format!("?_HLS_msn={msn}&_HLS_part={want}")).await;
        assert_eq!(status, 200, "{text}");
        let next = next.unwrap();
        // The segment's next part, or (a keyframe came) part 0 of the next.
        let seg = next.segments.iter().find(|s| s.msn == msn).unwrap();
        let has = seg.parts.len() as u64 > want
            || next
                .segments
                .iter()
                .any(|s| s.msn == msn + 1 && !s.parts.is_empty());
        assert!(has, "answered before part {msn}.{want} existed:\n{text}");
    }

    // The preload hint names the part being made; asking for it waits for it.
    let (_, p, text) = reload(&app, &show_id, "").await;
    let hint = p
        .unwrap()
        .preload_part
        .unwrap_or_else(|| panic!("no hint:\n{text}"));
    let res = app
        .client
        .get(url(&app, &show_id, &hint))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/iso.segment");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[4..8], b"moof", "a part is a moof + mdat");
    let (_, p, _) = reload(&app, &show_id, "").await;
    let listed = p
        .unwrap()
        .segments
        .iter()
        .flat_map(|s| s.parts.iter().map(|x| x.uri.clone()).collect::<Vec<_>>())
        .any(|u| u == hint);
    assert!(listed, "the hinted part was served but is not listed");

    // Bad requests: a part without a segment, or far past the live edge.
    let (status, _, body) = reload(&app, &show_id, "?_HLS_part=1").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("hls_bad_request"), "{body}");
    let (status, _, body) = reload(&app, &show_id, &format!("?_HLS_msn={}", last_msn + 1000)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("hls_too_far_ahead"), "{body}");
    let (status, _, _) = reload(&app, &show_id, "?_HLS_msn=x").await;
    assert_eq!(status, 400);
    // A part long gone or never made.
    let res = app
        .client
        .get(url(&app, &show_id, "part999999.m4s"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    assert!(pushing.await.unwrap(), "ffmpeg failed to publish");
    // Ended: the player's next blocking reload answers at once, with the end.
    let ended = ended_edge(&app, &show_id).await;
    let after = ended.segments.last().unwrap().msn + 1;
    let (status, p, _) = reload(&app, &show_id, &format!("?_HLS_msn={after}")).await;
    assert_eq!(status, 200);
    assert!(p.unwrap().ended);
    // Once the show is offline, a new player gets the replay buffer
    // (MPEG-TS, as after a restart).
    let mut plain = String::new();
    for _ in 0..200 {
        let res = app
            .client
            .get(url(&app, &show_id, "index.m3u8"))
            .send()
            .await
            .unwrap();
        plain = res.text().await.unwrap();
        if plain.ends_with("#EXT-X-ENDLIST\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        plain.contains(".ts\n") && plain.ends_with("#EXT-X-ENDLIST\n"),
        "{plain}"
    );
    // Whole segments and the init section play (ffprobe reads the playlist
    // as a player without LL-HLS would).
    let seg = ended.segments[0].uri.clone().unwrap();
    let res = app
        .client
        .get(url(&app, &show_id, &seg))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let init = app
        .client
        .get(url(&app, &show_id, &ended.segments[0].init_uri))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert_eq!(init.headers()["content-type"], "video/mp4");
    let total: u64 = ended.segments.iter().map(|s| s.duration_ns).sum();
    assert!((total as f64 / 1e9 - 10.0).abs() < 1.0, "total {total} ns");
}

async fn a_reconnect_continues_the_sequence_with_a_discontinuity(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let rtmp = app.rtmp_url(&token, &show_id).await;
    assert!(publish_gop(&rtmp, 4, 60, false).await);
    let first = ended_edge(&app, &show_id).await;
    assert!(publish_gop(&rtmp, 4, 60, false).await);
    let mut second = ended_edge(&app, &show_id).await;
    for _ in 0..100 {
        if second.segments.len() > first.segments.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        second = ended_edge(&app, &show_id).await;
    }
    let text = format!("{second:?}");
    assert_eq!(second.first_msn, first.first_msn, "{text}");
    assert_eq!(second.discontinuity_seq, 0);
    let n = first.segments.len();
    assert!(second.segments.len() > n);
    // Same numbers for the same segments; the new session's first carries
    // the discontinuity and its own init section.
    for (a, b) in first.segments.iter().zip(&second.segments) {
        assert_eq!((a.msn, &a.uri), (b.msn, &b.uri));
    }
    let joined = &second.segments[n];
    assert!(joined.discontinuity, "{text}");
    assert_ne!(joined.init_uri, first.segments[n - 1].init_uri, "{text}");
    assert_eq!(joined.msn, first.segments[n - 1].msn + 1);
    assert!(second.segments[n + 1..].iter().all(|s| !s.discontinuity));
}

async fn a_pin_is_dated_at_the_segment_of_its_moment(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(3).await;
    let rtmp = app.rtmp_url(&token, &show_id).await;
    let pushing = tokio::spawn(async move { publish_gop(&rtmp, 8, 60, true).await });
    wait_for_parts(&app, &show_id, 8).await;
    let before = dropcast::now_ms();
    app.put(
        &format!("/api/v1/shows/{show_id}/pin"),
        Some(&token),
        json!({"product_id": product_id}),
    )
    .await
    .expect(200);
    let after = dropcast::now_ms();
    assert!(pushing.await.unwrap());
    let (_, p, text) = reload(&app, &show_id, "?_HLS_msn=0").await;
    let p = p.unwrap();
    // The session restates the pin it starts with (none here), then the pin.
    let pins: Vec<_> = p
        .dateranges
        .iter()
        .filter(|d| d.class == "com.dropcast.pin")
        .collect();
    assert_eq!(pins.len(), 2, "{text}");
    assert_eq!(
        pins[0].attributes,
        [("X-PRODUCT".to_string(), String::new())]
    );
    let pin = pins[1];
    assert!((before..=after).contains(&pin.start_ms), "{pin:?}");
    assert_eq!(
        pin.attributes,
        [("X-PRODUCT".to_string(), product_id.clone())]
    );
    // Listed with the segment whose span holds the moment.
    let mut owner = None;
    let mut section = None;
    for line in text.lines() {
        if let Some(date) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            section = media::hls::parse_iso8601(date);
        }
        if line.starts_with("#EXT-X-DATERANGE") && line.contains(&pin.id) {
            owner = section;
        }
    }
    let owner = owner.unwrap();
    let seg = p.segments.iter().find(|s| s.wall_ms == owner).unwrap();
    let end = seg.wall_ms + (seg.duration_ns / 1_000_000) as i64;
    assert!(
        (seg.wall_ms..end).contains(&pin.start_ms),
        "pin at {} listed with the segment {}..{end}",
        pin.start_ms,
        seg.wall_ms
    );
}

db_tests!(
    blocking_reloads_parts_and_the_preload_hint,
    a_reconnect_continues_the_sequence_with_a_discontinuity,
    a_pin_is_dated_at_the_segment_of_its_moment,
);
