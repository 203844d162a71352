//! The live channel over real websockets.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{Db, Live, spawn_app, spawn_app_with};

fn seq(frame: &Value) -> u64 {
    frame["seq"].as_u64().expect("frame has a seq")
}

async fn snapshot_matches_the_rest_view(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(7).await;
    app.put(
        &format!("/api/v1/shows/{show_id}/pin"),
        Some(&token),
        json!({"product_id": product_id}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/shows/{show_id}/countdowns"),
        Some(&token),
        json!({"kind": "drop_opens", "seconds": 90, "product_id": product_id}),
    )
    .await
    .expect(201);
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    let mut live = app.live(&show_id).await;
    let snap = live.next().await.unwrap();
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(
        snap["show"],
        json!({"id": show_id, "title": view["title"], "live": view["live"]})
    );
    assert_eq!(snap["products"], view["products"]);
    assert_eq!(snap["pinned_product_id"], view["pinned_product_id"]);
    assert_eq!(snap["countdowns"], view["countdowns"]);
    let server_time = snap["server_time_ms"].as_i64().unwrap();
    assert!((server_time - dropcast::now_ms()).abs() < 5_000);
    assert!(snap["viewers"].as_u64().unwrap() >= 1);
}

async fn unknown_shows_are_refused_before_the_upgrade(db: Db) {
    let app = spawn_app(db).await;
    let err =
        tokio_tungstenite::connect_async(app.ws_url("/api/v1/shows/shw_0000000000000000/live"))
            .await
            .expect_err("no socket for an unknown show");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 404),
        other => panic!("expected an HTTP 404, got {other:?}"),
    }
    // A plain GET (no upgrade) on a real show is a clear 400.
    let (_, show_id, _) = app.creator_show_product(1).await;
    let answer = app
        .get(&format!("/api/v1/shows/{show_id}/live"), None)
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (400, "not_a_websocket")
    );
}

async fn pin_countdown_and_stock_reach_every_socket_in_seq_order(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(10).await;
    let mut sockets: Vec<Live> = join_all((0..3).map(|_| app.live(&show_id))).await;
    let mut last_seq = Vec::new();
    for s in &mut sockets {
        let snap = s.next().await.unwrap();
        last_seq.push(seq(&snap));
    }
    app.put(
        &format!("/api/v1/shows/{show_id}/pin"),
        Some(&token),
        json!({"product_id": product_id}),
    )
    .await
    .expect(200);
    let cd = app
        .post(
            &format!("/api/v1/shows/{show_id}/countdowns"),
            Some(&token),
            json!({"kind": "sale_ends", "seconds": 60, "label": "Sale ends in"}),
        )
        .await
        .expect(201);
    app.patch(
        &format!("/api/v1/shows/{show_id}/products/{product_id}"),
        Some(&token),
        json!({"add_stock": -3}),
    )
    .await
    .expect(200);

    for (i, s) in sockets.iter_mut().enumerate() {
        let mut got = Vec::new();
        // Viewer-count frames may interleave; collect until all three arrived.
        while got.len() < 3 {
            let frame = s.next().await.expect("socket open");
            let n = seq(&frame);
            assert!(
                n > last_seq[i],
                "seq must strictly increase: {n} after {}",
                last_seq[i]
            );
            last_seq[i] = n;
            if frame["type"] != "viewers" {
                got.push(frame);
            }
        }
        assert_eq!(got[0]["type"], "pin");
        assert_eq!(got[0]["product_id"], product_id.as_str());
        assert_eq!(got[1]["type"], "countdown");
        assert_eq!(got[1]["countdown"], cd);
        assert_eq!(got[2]["type"], "stock");
        assert_eq!(got[2]["product_id"], product_id.as_str());
        assert_eq!(
            (got[2]["available"].as_i64(), got[2]["sold"].as_i64()),
            (Some(7), Some(0))
        );
    }
}

async fn new_products_and_price_changes_are_sent_whole(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(2).await;
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;
    let created = app.product(&token, &show_id, "CAP-1", 9).await;
    let (frame, _) = live.until("product").await;
    assert_eq!(frame["product"], created);
    let patched = app
        .patch(
            &format!("/api/v1/shows/{show_id}/products/{product_id}"),
            Some(&token),
            json!({"price_cents": 999}),
        )
        .await
        .expect(200);
    let (frame, _) = live.until("product").await;
    assert_eq!(frame["product"], patched);
}

async fn ping_is_answered_with_server_time(db: Db) {
    let app = spawn_app(db).await;
    let (_, show_id, _) = app.creator_show_product(1).await;
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;
    live.send_text(r#"{"type":"ping","client_time_ms":123}"#)
        .await;
    let (pong, _) = live.until("pong").await;
    assert_eq!(pong["client_time_ms"], 123);
    assert!((pong["server_time_ms"].as_i64().unwrap() - dropcast::now_ms()).abs() < 5_000);
    live.send_text("not json").await;
    let (err, _) = live.until("error").await;
    assert_eq!(err["code"], "bad_message");
}

async fn viewer_count_follows_sockets(db: Db) {
    let app = spawn_app(db).await;
    let (_, show_id, _) = app.creator_show_product(1).await;
    let mut first = app.live(&show_id).await;
    first.until("snapshot").await;
    let others: Vec<Live> = join_all((0..2).map(|_| app.live(&show_id))).await;
    loop {
        let (frame, _) = first.until("viewers").await;
        if frame["count"] == 3 {
            break;
        }
    }
    drop(others);
    loop {
        let (frame, _) = first.until("viewers").await;
        if frame["count"] == 1 {
            break;
        }
    }
}

async fn a_client_that_never_answers_pings_is_closed(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.live.heartbeat_interval = Duration::from_millis(200);
        s.live.client_timeout = Duration::from_secs(1);
    })
    .await;
    let (_, show_id, _) = app.creator_show_product(1).await;
    let mut live = app.live(&show_id).await;
    // Not reading means not answering the server's pings (tungstenite answers
    // them only while it reads).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = false;
    for _ in 0..100 {
        match live.next_within(Duration::from_secs(5)).await {
            Ok(None) => {
                closed = true;
                break;
            }
            Ok(Some(_)) => continue,
            Err(()) => break,
        }
    }
    assert!(closed, "the server should have closed a silent socket");
}

/// Stops reading while 1,000 stock changes happen (concurrently, so they
/// commit and publish in different orders), then reads: the figures it gets
/// never go back, and the last one is the final figure.
async fn a_stalled_reader_catches_up_to_the_final_figure_never_an_older_one(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.live.broadcast_capacity = 16;
        s.live.stock_min_interval = Duration::ZERO;
    })
    .await;
    let (token, show_id, product_id) = app.creator_show_product(0).await;
    let mut stalled = app.live(&show_id).await;
    let path = format!("/api/v1/shows/{show_id}/products/{product_id}");
    // 1,000 restocks of one unit, 10 in flight at a time.
    for _ in 0..100 {
        let batch = (0..10).map(|_| app.patch(&path, Some(&token), json!({"add_stock": 1})));
        for answer in join_all(batch).await {
            answer.expect(200);
        }
    }
    let mut last = -1;
    let mut snapshots = 0;
    loop {
        let frame = stalled.next().await.expect("socket stays open");
        let available = match frame["type"].as_str().unwrap() {
            "stock" => frame["available"].as_i64().unwrap(),
            "snapshot" => {
                snapshots += 1;
                frame["products"][0]["available"].as_i64().unwrap()
            }
            _ => continue,
        };
        assert!(available >= last, "went back from {last} to {available}");
        last = available;
        if available == 1000 {
            break;
        }
    }
    assert!(snapshots >= 1, "the first frame is a snapshot");
    app.assert_stock_invariant().await;
}

async fn a_thousand_sockets_all_receive_one_change(db: Db) {
    // A crowd from one address (127.0.0.1): limits off.
    let app = spawn_app_with(db, |s| {
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("off").unwrap();
    })
    .await;
    let (token, show_id, product_id) = app.creator_show_product(50).await;
    let mut sockets = Vec::with_capacity(1000);
    for _ in 0..20 {
        let batch = join_all((0..50).map(|_| app.live(&show_id))).await;
        sockets.extend(batch);
    }
    for s in &mut sockets {
        s.until("snapshot").await;
    }
    app.patch(
        &format!("/api/v1/shows/{show_id}/products/{product_id}"),
        Some(&token),
        json!({"add_stock": -1}),
    )
    .await
    .expect(200);
    let received = join_all(sockets.iter_mut().map(|s| async move {
        let (frame, _) = s.until("stock").await;
        frame["available"].as_i64()
    }))
    .await;
    assert_eq!(received.len(), 1000);
    assert!(received.iter().all(|a| *a == Some(49)));
    // One event serialized for the show, delivered a thousand times.
    let metrics = app.state.metrics.render();
    let events = metric(&metrics, "dropcast_live_events_total");
    let frames = metric(&metrics, "dropcast_live_frames_total");
    assert!(frames >= 1000.0, "{metrics}");
    assert!(events < frames / 100.0, "events {events}, frames {frames}");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("{name} missing from {text}"))
}

db_tests!(
    snapshot_matches_the_rest_view,
    unknown_shows_are_refused_before_the_upgrade,
    pin_countdown_and_stock_reach_every_socket_in_seq_order,
    new_products_and_price_changes_are_sent_whole,
    ping_is_answered_with_server_time,
    viewer_count_follows_sockets,
    a_client_that_never_answers_pings_is_closed,
    a_stalled_reader_catches_up_to_the_final_figure_never_an_older_one,
    a_thousand_sockets_all_receive_one_change,
);
