//! Checkout's edges (issue 12): the short hold of a bank prompt, a drop's
//! own hold, countdowns cancelled or replaced, a sale reopened, and `GET`
//! of an order asking Stripe at most every few seconds.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::db_tests;
use crate::helpers::{CARD_3DS, Db, spawn_app_with, with_stripe};

/// A payment waiting for 3-D Secure holds its stock for the short SCA hold
/// only; an abandoned prompt gives the stock back and cancels the intent.
async fn an_abandoned_bank_prompt_releases_the_stock_after_the_sca_hold(db: Db) {
    let app = spawn_app_with(db, |s| {
        with_stripe(s);
        s.hold_sca_seconds = 1;
    })
    .await;
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "abandon")
        .await
        .expect(201);
    assert_eq!(order["status"], "requires_action");
    let held_for =
        order["expires_at_ms"].as_i64().unwrap() - order["created_at_ms"].as_i64().unwrap();
    assert!(
        held_for <= 1_500,
        "held for {held_for} ms, not the 600 s default"
    );
    assert_eq!(app.stock(&product_id).await, (2, 1, 0));
    let order_id = order["id"].as_str().unwrap();
    let mut status = String::new();
    for _ in 0..100 {
        status = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "expired");
    assert_eq!(app.stock(&product_id).await, (3, 0, 0));
    let secret = order["client_secret"].as_str().unwrap();
    let intent_id = secret.split("_secret_").next().unwrap();
    let intent = app
        .stripe(
            Method::GET,
            &format!("/v1/payment_intents/{intent_id}"),
            &[],
        )
        .await;
    assert_eq!(intent["status"], "canceled");
    app.assert_stock_invariant().await;
}

/// A drop's countdown may set its own hold lifetime; without one the
/// server's applies (capped by the SCA hold while the bank asks).
async fn a_drop_sets_the_hold_of_its_orders(db: Db) {
    let app = spawn_app_with(db, with_stripe).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let buyer = app.buyer(CARD_3DS).await;
    let plain = app
        .order(&buyer, &show_id, &product_id, 1, "plain")
        .await
        .expect(201);
    let held = |o: &serde_json::Value| {
        o["expires_at_ms"].as_i64().unwrap() - o["created_at_ms"].as_i64().unwrap()
    };
    assert!(
        (110_000..=121_000).contains(&held(&plain)),
        "{}",
        held(&plain)
    );
    let countdown = app
        .post(
            &format!("/api/v1/shows/{show_id}/countdowns"),
            Some(&token),
            json!({"kind": "drop_opens", "seconds": 1, "product_id": product_id,
                   "hold_seconds": 30}),
        )
        .await
        .expect(201);
    assert_eq!(countdown["hold_seconds"], 30);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dropped = app
        .order(&buyer, &show_id, &product_id, 1, "dropped")
        .await
        .expect(201);
    assert!(
        (29_000..=31_000).contains(&held(&dropped)),
        "{}",
        held(&dropped)
    );
    let bad = app
        .post(
            &format!("/api/v1/shows/{show_id}/countdowns"),
            Some(&token),
            json!({"kind": "drop_opens", "seconds": 1, "hold_seconds": 5}),
        )
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (422, "invalid_hold_seconds")
    );
}

/// Countdowns can be replaced and cancelled, live; a sale that ended is
/// reopened by extending (or cancelling) its `sale_ends`.
async fn countdowns_are_replaced_and_cancelled_and_sales_reopen(db: Db) {
    let app = spawn_app_with(db, with_stripe).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;
    let sale = app
        .post(
            &format!("/api/v1/shows/{show_id}/countdowns"),
            Some(&token),
            json!({"kind": "sale_ends", "seconds": 1, "product_id": product_id}),
        )
        .await
        .expect(201);
    let sale_id = sale["id"].as_str().unwrap();
    live.until("countdown").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let buyer = app.buyer(crate::helpers::CARD_OK).await;
    let ended = app.order(&buyer, &show_id, &product_id, 1, "late").await;
    assert_eq!((ended.status.as_u16(), ended.code()), (409, "sale_ended"));

    let path = format!("/api/v1/shows/{show_id}/countdowns/{sale_id}");
    let replaced = app
        .patch(
            &path,
            Some(&token),
            json!({"seconds": 60, "label": "Back on!"}),
        )
        .await
        .expect(200);
    assert_eq!(replaced["label"], "Back on!");
    // A new end is a new length, counted from when it was set.
    let set_at = replaced["set_at_ms"].as_i64().unwrap();
    assert!(set_at > sale["set_at_ms"].as_i64().unwrap());
    assert_eq!(replaced["ends_at_ms"].as_i64().unwrap() - set_at, 60_000);
    let (frame, _) = live.until("countdown").await;
    assert_eq!(frame["countdown"]["id"], sale_id);
    assert_eq!(frame["countdown"]["ends_at_ms"], replaced["ends_at_ms"]);
    app.order(&buyer, &show_id, &product_id, 1, "reopened")
        .await
        .expect(201);

    app.call(Method::DELETE, &path, Some(&token), None)
        .await
        .expect(200);
    let (frame, _) = live.until("countdown_removed").await;
    assert_eq!(frame["countdown_id"], sale_id);
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(show["countdowns"], json!([]));
    let again = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(
        (again.status.as_u16(), again.code()),
        (404, "countdown_not_found")
    );
    let (_, stranger) = app.creator("Other").await;
    let theirs = app
        .patch(&path, Some(&stranger), json!({"seconds": 5}))
        .await;
    assert_eq!(
        (theirs.status.as_u16(), theirs.code()),
        (403, "not_your_show")
    );
    let empty = app.patch(&path, Some(&token), json!({})).await;
    assert_eq!(empty.status.as_u16(), 422);
}

/// However often the order is read, Stripe is asked about it at most once
/// every few seconds: a payment the bank confirmed shows as paid only once
/// the next ask is due (or a webhook says so).
async fn reading_an_order_asks_stripe_at_most_every_few_seconds(db: Db) {
    let app = spawn_app_with(db, with_stripe).await;
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "poll")
        .await
        .expect(201);
    let order_id = order["id"].as_str().unwrap();
    let path = format!("/api/v1/orders/{order_id}");
    // This read asks Stripe (nothing asked before).
    let first = app.get(&path, Some(&buyer)).await.expect(200);
    assert_eq!(first["status"], "requires_action");
    let secret = order["client_secret"].as_str().unwrap();
    let intent_id = secret.split("_secret_").next().unwrap();
    app.stripe(
        Method::POST,
        &format!("/v1/payment_intents/{intent_id}/_authenticate"),
        &[("client_secret", secret), ("success", "true")],
    )
    .await;
    for _ in 0..5 {
        let read = app.get(&path, Some(&buyer)).await.expect(200);
        assert_eq!(read["status"], "requires_action", "not asked again yet");
    }
    let mut status = String::new();
    for _ in 0..60 {
        let read = app.get(&path, Some(&buyer)).await.expect(200);
        status = read["status"].as_str().unwrap().to_string();
        if status == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "paid", "asked again once due");
}

/// The buyer learns the outcome by a long poll: it answers once the order
/// leaves the status the buyer has, not before (and not by the buyer
/// polling Stripe).
async fn a_long_poll_answers_when_the_order_moves(db: Db) {
    let app = spawn_app_with(db, with_stripe).await;
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "long-poll")
        .await
        .expect(201);
    let order_id = order["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/orders/{order_id}?wait_ms=20000&status=requires_action");
    let started = std::time::Instant::now();
    let poll = {
        let (client, url, token) = (app.client.clone(), app.url(&path), buyer.clone());
        tokio::spawn(async move {
            let res = client.get(url).bearer_auth(token).send().await.unwrap();
            (
                res.status().as_u16(),
                res.json::<serde_json::Value>().await.unwrap(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "it waits while nothing changed");
    let secret = order["client_secret"].as_str().unwrap();
    let intent_id = secret.split("_secret_").next().unwrap();
    app.stripe(
        Method::POST,
        &format!("/v1/payment_intents/{intent_id}/_authenticate"),
        &[("client_secret", secret), ("success", "true")],
    )
    .await;
    let (status, body) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["status"], "paid", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered when it moved"
    );
    // Asked about a status it no longer has: at once.
    let now = app
        .get(
            &format!("/api/v1/orders/{order_id}?wait_ms=20000&status=pending"),
            Some(&buyer),
        )
        .await
        .expect(200);
    assert_eq!(now["status"], "paid");
    let bad = app
        .get(
            &format!("/api/v1/orders/{order_id}?wait_ms=99999999"),
            Some(&buyer),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (422, "invalid_wait_ms"));
    let bad = app
        .get(
            &format!("/api/v1/orders/{order_id}?status=shipped"),
            Some(&buyer),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (422, "invalid_status"));
}

db_tests!(
    a_long_poll_answers_when_the_order_moves,
    an_abandoned_bank_prompt_releases_the_stock_after_the_sca_hold,
    a_drop_sets_the_hold_of_its_orders,
    countdowns_are_replaced_and_cancelled_and_sales_reopen,
    reading_an_order_asks_stripe_at_most_every_few_seconds,
);
