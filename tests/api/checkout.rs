//! One-click checkout against a real localstripe: saved cards, holds,
//! declines, 3-D Secure, idempotency, limits, drops, expiry and refunds.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{
    CARD_3DS, CARD_CHARGE_DECLINED, CARD_OK, CARD_OK_2, CARD_OK_3, Db, TestApp, intents_for,
    paid_units, rush_outcome, spawn_app, spawn_app_with, with_stripe,
};

pub async fn paid_app(db: Db) -> TestApp {
    spawn_app_with(db, with_stripe).await
}

/// Waits until `check` holds for the order (polling GET, which refreshes from Stripe).
pub async fn order_until(
    app: &TestApp,
    token: &str,
    order_id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let order = app
            .get(&format!("/api/v1/orders/{order_id}"), Some(token))
            .await
            .expect(200);
        if check(&order) {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order never reached the state: {order}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn first_purchase_with_a_saved_card_then_one_tap(db: Db) {
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(5).await;
    let buyer = app.buyer_with(CARD_OK, "buyer@example.com").await;
    let me = app
        .get("/api/v1/viewers/me", Some(&buyer))
        .await
        .expect(200);
    assert_eq!(me["card"], json!({"brand": "visa", "last4": "4242"}));
    assert_eq!(me["email"], "buyer@example.com");

    let order = app
        .order(&buyer, &show_id, &product_id, 2, "tap-1")
        .await
        .expect(201);
    assert_eq!(order["status"], "paid");
    assert_eq!(order["quantity"], 2);
    assert_eq!(order["amount_cents"], 5000);
    assert_eq!(order["currency"], "usd");
    assert!(order.get("client_secret").is_none());
    assert_eq!(app.stock(&product_id).await, (3, 0, 2));
    // The second purchase is one call: no card form.
    let again = app
        .order(&buyer, &show_id, &product_id, 1, "tap-2")
        .await
        .expect(201);
    assert_eq!(again["status"], "paid");
    assert_eq!(app.stock(&product_id).await, (2, 0, 3));
    // One succeeded intent per order at Stripe, with the order id in metadata.
    let intents = intents_for(&app, order["id"].as_str().unwrap()).await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "succeeded");
    assert_eq!(intents[0]["amount"], 5000);
    app.assert_stock_invariant().await;
}

async fn a_declined_card_gets_402_and_the_stock_back(db: Db) {
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_CHARGE_DECLINED).await;
    let answer = app.order(&buyer, &show_id, &product_id, 1, "k1").await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (402, "payment_failed")
    );
    assert_eq!(app.stock(&product_id).await, (3, 0, 0));
    // The order exists, failed; the same key returns it without charging again.
    let replay = app
        .order(&buyer, &show_id, &product_id, 1, "k1")
        .await
        .expect(200);
    assert_eq!(replay["status"], "failed");
    assert_eq!(replay["failure_code"], "card_declined");
    app.assert_stock_invariant().await;
}

async fn three_d_secure_finished_successfully(db: Db) {
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "3ds-ok")
        .await
        .expect(201);
    assert_eq!(order["status"], "requires_action");
    let secret = order["client_secret"]
        .as_str()
        .expect("client_secret for Stripe.js")
        .to_string();
    assert_eq!(
        app.stock(&product_id).await,
        (2, 1, 0),
        "held while the buyer authenticates"
    );
    // The buyer's bank says yes (what Stripe.js would drive).
    let intent_id = secret.split("_secret_").next().unwrap();
    app.stripe(
        Method::POST,
        &format!("/v1/payment_intents/{intent_id}/_authenticate"),
        &[("client_secret", &secret), ("success", "true")],
    )
    .await;
    let id = order["id"].as_str().unwrap();
    let paid = order_until(&app, &buyer, id, |o| o["status"] == "paid").await;
    assert!(paid.get("client_secret").is_none());
    assert_eq!(app.stock(&product_id).await, (2, 0, 1));
}

async fn three_d_secure_failed_releases_the_stock(db: Db) {
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "3ds-no")
        .await
        .expect(201);
    let secret = order["client_secret"].as_str().unwrap().to_string();
    let intent_id = secret.split("_secret_").next().unwrap();
    app.stripe(
        Method::POST,
        &format!("/v1/payment_intents/{intent_id}/_authenticate"),
        &[("client_secret", &secret), ("success", "false")],
    )
    .await;
    let failed = order_until(&app, &buyer, order["id"].as_str().unwrap(), |o| {
        o["status"] == "failed"
    })
    .await;
    assert_eq!(
        failed["failure_code"],
        "payment_intent_authentication_failure"
    );
    assert_eq!(app.stock(&product_id).await, (3, 0, 0));
    app.assert_stock_invariant().await;
}

async fn a_double_submit_makes_one_order_and_one_intent(db: Db) {
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(5).await;
    let buyer = app.buyer(CARD_OK).await;
    // Five taps at once with one key, then one more after.
    let answers =
        join_all((0..5).map(|_| app.order(&buyer, &show_id, &product_id, 1, "same-key"))).await;
    let ids: Vec<String> = answers
        .iter()
        .map(|a| {
            assert!(matches!(a.status.as_u16(), 200 | 201), "{:?}", a.body);
            a.body["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    let later = app
        .order(&buyer, &show_id, &product_id, 1, "same-key")
        .await
        .expect(200);
    assert_eq!(later["id"], ids[0].as_str());
    assert_eq!(later["status"], "paid");
    assert_eq!(
        intents_for(&app, &ids[0]).await.len(),
        1,
        "exactly one PaymentIntent"
    );
    assert_eq!(app.stock(&product_id).await, (4, 0, 1));
    // The key cannot be reused for something else.
    let other = app
        .order(&buyer, &show_id, &product_id, 2, "same-key")
        .await;
    assert_eq!(
        (other.status.as_u16(), other.code()),
        (409, "idempotency_key_reused")
    );
}

async fn per_buyer_limits_count_paid_and_held_units(db: Db) {
    let app = paid_app(db).await;
    let (_, token) = app.creator("Limits").await;
    let show = app.show(&token, "Limited").await;
    let show_id = show["id"].as_str().unwrap();
    let product = app
        .post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(&token),
            json!({"sku": "LTD", "title": "One each", "price_cents": 900, "currency": "usd",
                   "stock": 10, "max_per_buyer": 2}),
        )
        .await
        .expect(201);
    let product_id = product["id"].as_str().unwrap();
    let buyer = app.buyer(CARD_OK).await;
    let too_many = app.order(&buyer, show_id, product_id, 3, "a").await;
    assert_eq!(
        (too_many.status.as_u16(), too_many.code()),
        (422, "limit_exceeded")
    );
    app.order(&buyer, show_id, product_id, 2, "b")
        .await
        .expect(201);
    let one_more = app.order(&buyer, show_id, product_id, 1, "c").await;
    assert_eq!(
        (one_more.status.as_u16(), one_more.code()),
        (422, "limit_exceeded")
    );
    assert_eq!(
        one_more.body["error"]["message"],
        "at most 2 per buyer; you already have 2"
    );
    // A retry of the order that went through is that order, not a refusal.
    let again = app
        .order(&buyer, show_id, product_id, 2, "b")
        .await
        .expect(200);
    assert_eq!(again["quantity"], 2);
    // Another buyer (another card, another email) has their own allowance.
    let other = app.buyer(CARD_OK_2).await;
    app.order(&other, show_id, product_id, 2, "d")
        .await
        .expect(201);
    assert_eq!(app.stock(product_id).await, (6, 0, 4));

    // One buyer's orders at once (a double tap, two tabs) still see each
    // other: of ten single units with a limit of two, two go through.
    let eager = app.buyer(CARD_OK_3).await;
    let keys: Vec<String> = (0..10).map(|i| format!("race-{i}")).collect();
    let answers = join_all(
        keys.iter()
            .map(|key| app.order(&eager, show_id, product_id, 1, key)),
    )
    .await;
    let mut outcomes: Vec<(u16, String)> = answers
        .iter()
        .map(|a| (a.status.as_u16(), a.code().to_string()))
        .collect();
    outcomes.sort();
    let created = outcomes.iter().filter(|(s, _)| *s == 201).count();
    let refused = outcomes
        .iter()
        .filter(|(s, c)| *s == 422 && c == "limit_exceeded")
        .count();
    assert_eq!((created, refused), (2, 8), "{outcomes:?}");
    assert_eq!(app.stock(product_id).await, (4, 0, 6));
}

async fn drop_windows_are_enforced(db: Db) {
    let app = paid_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let buyer = app.buyer(CARD_OK).await;
    let countdowns = format!("/api/v1/shows/{show_id}/countdowns");
    app.post(
        &countdowns,
        Some(&token),
        json!({"kind": "drop_opens", "seconds": 2, "product_id": product_id}),
    )
    .await
    .expect(201);
    let early = app.order(&buyer, &show_id, &product_id, 1, "early").await;
    assert_eq!(
        (early.status.as_u16(), early.code()),
        (409, "drop_not_open")
    );
    assert_eq!(app.stock(&product_id).await, (5, 0, 0));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.order(&buyer, &show_id, &product_id, 1, "on-time")
        .await
        .expect(201);
    // A show-wide sale that ends.
    app.post(
        &countdowns,
        Some(&token),
        json!({"kind": "sale_ends", "seconds": 1}),
    )
    .await
    .expect(201);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let late = app.order(&buyer, &show_id, &product_id, 1, "late").await;
    assert_eq!((late.status.as_u16(), late.code()), (409, "sale_ended"));
    assert_eq!(app.stock(&product_id).await, (4, 0, 1));
}

async fn an_unpaid_hold_expires_and_its_stock_returns(db: Db) {
    let app = spawn_app_with(db, |s| {
        with_stripe(s);
        s.hold_seconds = 1;
    })
    .await;
    let (_, show_id, product_id) = app.creator_show_product(2).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "slow")
        .await
        .expect(201);
    assert_eq!(order["status"], "requires_action");
    assert_eq!(app.stock(&product_id).await, (1, 1, 0));
    let id = order["id"].as_str().unwrap();
    let expired = order_until(&app, &buyer, id, |o| o["status"] == "expired").await;
    assert_eq!(expired["failure_code"], "hold_expired");
    assert_eq!(app.stock(&product_id).await, (2, 0, 0));
    let intents = intents_for(&app, id).await;
    assert_eq!(
        intents[0]["status"], "canceled",
        "the intent is cancelled at Stripe"
    );
}

async fn refunds_go_through_stripe_and_restock(db: Db) {
    let app = paid_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(4).await;
    let buyer = app.buyer(CARD_OK).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 2, "r")
        .await
        .expect(201);
    let id = order["id"].as_str().unwrap();
    let (_, intruder) = app.creator("Intruder").await;
    let refused = app
        .post(
            &format!("/api/v1/orders/{id}/refund"),
            Some(&intruder),
            json!({}),
        )
        .await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (403, "not_your_show")
    );
    let buyer_try = app
        .post(
            &format!("/api/v1/orders/{id}/refund"),
            Some(&buyer),
            json!({}),
        )
        .await;
    assert_eq!(buyer_try.status.as_u16(), 403);

    let refunded = app
        .post(
            &format!("/api/v1/orders/{id}/refund"),
            Some(&token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(app.stock(&product_id).await, (4, 0, 0));
    let refunds = app
        .stripe(
            Method::GET,
            &format!(
                "/v1/refunds?payment_intent={}",
                intents_for(&app, id).await[0]["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(refunds["data"].as_array().map(Vec::len), Some(1));
    let twice = app
        .post(
            &format!("/api/v1/orders/{id}/refund"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(
        (twice.status.as_u16(), twice.code()),
        (409, "not_refundable")
    );
    // The creator sees it in the show's orders.
    let list = app
        .get(&format!("/api/v1/shows/{show_id}/orders"), Some(&token))
        .await
        .expect(200);
    assert_eq!(list["orders"][0]["status"], "refunded");
    app.assert_stock_invariant().await;
}

async fn refusals_without_payment_setup(db: Db) {
    // No Stripe keys: ordering answers 503 and nothing changes.
    let app = spawn_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(2).await;
    let viewer = app.viewer().await;
    let answer = app.order(&viewer, &show_id, &product_id, 1, "k").await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (503, "payments_unavailable")
    );
    let answer = app
        .put(
            "/api/v1/viewers/me/payment-method",
            Some(&viewer),
            json!({"email": "a@b.c", "payment_method": "pm_x"}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (503, "payments_unavailable")
    );
    assert_eq!(app.stock(&product_id).await, (2, 0, 0));

    // With Stripe but no saved card: 400; sold out: 409.
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(1).await;
    let viewer = app.viewer().await;
    let answer = app.order(&viewer, &show_id, &product_id, 1, "k").await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (400, "no_payment_method")
    );
    let buyer = app.buyer(CARD_OK).await;
    let answer = app.order(&buyer, &show_id, &product_id, 2, "k").await;
    assert_eq!((answer.status.as_u16(), answer.code()), (409, "sold_out"));
    let answer = app
        .order(&buyer, &show_id, "prd_0000000000000000", 1, "k2")
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (404, "product_not_found")
    );
    let answer = app.order(&buyer, &show_id, &product_id, 0, "k3").await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_quantity")
    );
    let answer = app
        .order(&buyer, &show_id, &product_id, 1, "bad key!")
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_idempotency_key")
    );
    let creator_order = app
        .order(&app.creator("C").await.1, &show_id, &product_id, 1, "k")
        .await;
    assert_eq!(creator_order.status.as_u16(), 403);
    let bad_pm = app
        .put(
            "/api/v1/viewers/me/payment-method",
            Some(&viewer),
            json!({"email": "not-an-email", "payment_method": "pm_x"}),
        )
        .await;
    assert_eq!(
        (bad_pm.status.as_u16(), bad_pm.code()),
        (422, "invalid_email")
    );
    assert_eq!(app.stock(&product_id).await, (1, 0, 0));
}

async fn orders_are_private_to_their_buyer_and_creator(db: Db) {
    let app = paid_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_OK).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "p")
        .await
        .expect(201);
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    app.get(&path, Some(&buyer)).await.expect(200);
    app.get(&path, Some(&token)).await.expect(200);
    let other_buyer = app.viewer().await;
    assert_eq!(app.get(&path, Some(&other_buyer)).await.status, 403);
    let (_, other_creator) = app.creator("Other").await;
    assert_eq!(app.get(&path, Some(&other_creator)).await.status, 403);
    assert_eq!(app.get(&path, None).await.status, 401);
    assert_eq!(
        app.get("/api/v1/orders/ord_0000000000000000", Some(&buyer))
            .await
            .status,
        404
    );
}

/// 200 buyers at once for 10 units: exactly 10 paid, nothing oversold, never
/// negative, and the invariant holds.
async fn two_hundred_buyers_for_ten_units(db: Db) {
    // A crowd from one address (127.0.0.1): limits off, as for a benchmark.
    let app = spawn_app_with(db, |s| {
        with_stripe(s);
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("off").unwrap();
    })
    .await;
    let (_, show_id, product_id) = app.creator_show_product(10).await;
    let mut buyers = Vec::new();
    for chunk in 0..10 {
        let _ = chunk;
        buyers.extend(join_all((0..20).map(|_| app.buyer(CARD_OK))).await);
    }
    // A socket watches every stock figure on the way.
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;
    let keys: Vec<String> = (0..buyers.len()).map(|i| format!("rush-{i}")).collect();
    let answers = join_all(
        buyers
            .iter()
            .zip(&keys)
            .map(|(b, key)| app.order(b, &show_id, &product_id, 1, key)),
    )
    .await;
    assert_eq!(rush_outcome(&answers), (10, 190));
    assert_eq!(app.stock(&product_id).await, (0, 0, 10));
    app.assert_stock_invariant().await;
    assert_eq!(paid_units(&app, &product_id).await, 10);
    // Every figure the socket saw was >= 0, and it ends on 0.
    let mut last = None;
    while let Ok(Some(frame)) = live.next_within(Duration::from_millis(500)).await {
        if frame["type"] == "stock" {
            let available = frame["available"].as_i64().unwrap();
            assert!(available >= 0);
            last = Some(available);
        }
    }
    assert_eq!(last, Some(0));
}

async fn stats_come_from_real_events(db: Db) {
    let app = paid_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(10).await;
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;
    // The creator's own (staff) socket, as the studio opens: not a viewer.
    let (mut studio, _) = tokio_tungstenite::connect_async(
        app.ws_url(&format!("/api/v1/shows/{show_id}/live?token={token}")),
    )
    .await
    .expect("the staff socket connects");
    let _ = futures_util::StreamExt::next(&mut studio).await;
    app.put(
        &format!("/api/v1/shows/{show_id}/pin"),
        Some(&token),
        json!({"product_id": product_id}),
    )
    .await
    .expect(200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let buyer = app.buyer(CARD_OK).await;
    app.order(&buyer, &show_id, &product_id, 1, "s1")
        .await
        .expect(201);
    app.order(&buyer, &show_id, &product_id, 2, "s2")
        .await
        .expect(201);
    app.post(
        &format!("/api/v1/shows/{show_id}/countdowns"),
        Some(&token),
        json!({"kind": "drop_opens", "seconds": 1, "product_id": product_id}),
    )
    .await
    .expect(201);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.order(&buyer, &show_id, &product_id, 1, "s3")
        .await
        .expect(201);

    let stats = app
        .get(&format!("/api/v1/shows/{show_id}/stats"), Some(&token))
        .await
        .expect(200);
    assert_eq!(stats["units_sold"], 4);
    assert_eq!(stats["revenue_cents"], 4 * 2500);
    assert_eq!(stats["orders"], 3);
    assert_eq!(stats["viewers_now"], 1);
    let peak = stats["viewers_peak"].as_i64().unwrap();
    assert!(peak >= 1);
    assert_eq!(
        stats["conversion_per_1k_viewers"].as_f64().unwrap(),
        3000.0 / peak as f64
    );
    // Two orders came ~1.1 s after the pin, one just after the drop opened.
    let median = stats["median_seconds_to_checkout"].as_f64().unwrap();
    assert!((1.0..10.0).contains(&median), "{median}");
    let first = stats["time_to_first_order_ms"].as_i64().unwrap();
    assert!((0..5_000).contains(&first), "{first}");
    // The chart's series: 30 minutes, one point each, holding every sale.
    let series = stats["series"].as_array().unwrap();
    assert_eq!(series.len(), 30);
    for pair in series.windows(2) {
        assert_eq!(
            pair[1]["at_ms"].as_i64().unwrap() - pair[0]["at_ms"].as_i64().unwrap(),
            60_000
        );
    }
    let sum = |key: &str| series.iter().map(|p| p[key].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("units"), sum("revenue_cents")), (4, 4 * 2500));
    let (_, other) = app.creator("Nosy").await;
    assert_eq!(
        app.get(&format!("/api/v1/shows/{show_id}/stats"), Some(&other))
            .await
            .status,
        403
    );
}

/// A fresh session does not reset the per-buyer limit: the same card, or
/// the same email with another card, counts as the same buyer.
async fn the_per_buyer_limit_follows_the_card_and_the_email(db: Db) {
    let app = paid_app(db).await;
    let (token, show_id, _) = app.creator_show_product(5).await;
    let show_id = show_id.as_str();
    let product = app
        .post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(&token),
            json!({"sku": "ONE", "title": "One each", "price_cents": 900, "currency": "usd",
                   "stock": 10, "max_per_buyer": 1}),
        )
        .await
        .expect(201);
    let product_id = product["id"].as_str().unwrap();
    let first = app.buyer_with(CARD_OK, "ada@example.com").await;
    app.order(&first, show_id, product_id, 1, "k1")
        .await
        .expect(201);
    // A new session with the same card and another email.
    let same_card = app.buyer_with(CARD_OK, "someone-else@example.com").await;
    let refused = app.order(&same_card, show_id, product_id, 1, "k2").await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (422, "limit_exceeded")
    );
    assert_eq!(
        refused.body["error"]["message"],
        "at most 1 per buyer; you already have 1"
    );
    // A new session with another card and the same email (in other case).
    let same_email = app.buyer_with(CARD_OK_2, "ADA@example.com").await;
    let refused = app.order(&same_email, show_id, product_id, 1, "k3").await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (422, "limit_exceeded")
    );
    // Someone else entirely still can.
    let stranger = app.buyer_with(CARD_OK_3, "grace@example.com").await;
    app.order(&stranger, show_id, product_id, 1, "k4")
        .await
        .expect(201);
    assert_eq!(app.stock(product_id).await, (8, 0, 2));
    app.assert_stock_invariant().await;
}

db_tests!(
    the_per_buyer_limit_follows_the_card_and_the_email,
    stats_come_from_real_events,
    first_purchase_with_a_saved_card_then_one_tap,
    a_declined_card_gets_402_and_the_stock_back,
    three_d_secure_finished_successfully,
    three_d_secure_failed_releases_the_stock,
    a_double_submit_makes_one_order_and_one_intent,
    per_buyer_limits_count_paid_and_held_units,
    drop_windows_are_enforced,
    an_unpaid_hold_expires_and_its_stock_returns,
    refunds_go_through_stripe_and_restock,
    refusals_without_payment_setup,
    orders_are_private_to_their_buyer_and_creator,
    two_hundred_buyers_for_ten_units,
);
