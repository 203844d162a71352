//! Stripe webhooks: signatures, once-only application, order independence,
//! and real deliveries from localstripe.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::checkout::paid_app;
use crate::db_tests;
use crate::helpers::{CARD_3DS, CARD_OK, Db, TestApp, WEBHOOK_SECRET, intents_for};

/// An order waiting for 3-D Secure whose bank then said yes at Stripe — but
/// the server has not heard: `(order id, intent id, product id, show id)`.
async fn paid_at_stripe_unknown_here(app: &TestApp) -> (String, String, String, String) {
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "wh")
        .await
        .expect(201);
    let secret = order["client_secret"].as_str().unwrap().to_string();
    let intent_id = secret.split("_secret_").next().unwrap().to_string();
    app.stripe(
        Method::POST,
        &format!("/v1/payment_intents/{intent_id}/_authenticate"),
        &[("client_secret", &secret), ("success", "true")],
    )
    .await;
    (
        order["id"].as_str().unwrap().to_string(),
        intent_id,
        product_id,
        show_id,
    )
}

fn event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "type": kind, "created": dropcast::now_ms() / 1000,
        "data": {"object": object}
    }))
    .unwrap()
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> crate::helpers::Answer {
    let mut req = app
        .client
        .post(app.url("/api/v1/stripe/webhook"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body = res.json().await.unwrap_or(Value::Null);
    crate::helpers::Answer { status, body }
}

fn signed(body: &[u8]) -> Option<String> {
    Some(dropcast::payments::webhook::sign(
        WEBHOOK_SECRET,
        body,
        dropcast::now_ms() / 1000,
    ))
}

async fn order_status(app: &TestApp, order_id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
}

async fn a_signed_event_is_applied_once_even_when_delivered_twice(db: Db) {
    let app = paid_app(db).await;
    let (order_id, intent_id, product_id, show_id) = paid_at_stripe_unknown_here(&app).await;
    assert_eq!(order_status(&app, &order_id).await, "requires_action");
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;

    let body = event(
        "evt_twice_1",
        "payment_intent.succeeded",
        json!({"id": intent_id, "object": "payment_intent", "metadata": {"order_id": order_id}}),
    );
    let first = deliver(&app, &body, signed(&body)).await.expect(200);
    assert_eq!(first, json!({"received": true}));
    let second = deliver(&app, &body, signed(&body)).await.expect(200);
    assert_eq!(second["duplicate"], true);
    assert_eq!(order_status(&app, &order_id).await, "paid");
    assert_eq!(app.stock(&product_id).await, (2, 0, 1));

    // A stale failure event arriving after the success changes nothing.
    let late = event(
        "evt_twice_2",
        "payment_intent.payment_failed",
        json!({"id": intent_id, "object": "payment_intent", "status": "requires_payment_method",
               "metadata": {"order_id": order_id}}),
    );
    deliver(&app, &late, signed(&late)).await.expect(200);
    assert_eq!(order_status(&app, &order_id).await, "paid");
    assert_eq!(app.stock(&product_id).await, (2, 0, 1));

    // The sale went out once on the live channel.
    let mut sold = 0;
    while let Ok(Some(frame)) = live.next_within(Duration::from_millis(400)).await {
        if frame["type"] == "sold" {
            assert_eq!(frame["product_id"], product_id.as_str());
            assert_eq!(frame["quantity"], 1);
            // The first name on the parcel's address, for the toast.
            assert_eq!(frame["buyer"], "Ada", "{frame}");
            sold += 1;
        }
    }
    assert_eq!(sold, 1);
}

async fn forged_missing_and_stale_signatures_are_refused(db: Db) {
    let app = paid_app(db).await;
    let (order_id, intent_id, product_id, _) = paid_at_stripe_unknown_here(&app).await;
    let body = event(
        "evt_forged",
        "payment_intent.succeeded",
        json!({"id": intent_id, "object": "payment_intent", "metadata": {"order_id": order_id}}),
    );
    let now = dropcast::now_ms() / 1000;
    let cases = [
        (
            Some(dropcast::payments::webhook::sign("whsec_wrong", &body, now)),
            "invalid_signature",
        ),
        (None, "missing_signature"),
        (
            Some(dropcast::payments::webhook::sign(
                WEBHOOK_SECRET,
                &body,
                now - 301,
            )),
            "stale_signature",
        ),
        (
            Some(dropcast::payments::webhook::sign(
                WEBHOOK_SECRET,
                b"{}",
                now,
            )),
            "invalid_signature",
        ),
        (Some("t=1,v1=zz".to_string()), "invalid_signature"),
    ];
    for (signature, code) in cases {
        let answer = deliver(&app, &body, signature.clone()).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (400, code),
            "{signature:?}"
        );
    }
    assert_eq!(order_status(&app, &order_id).await, "requires_action");
    assert_eq!(app.stock(&product_id).await, (2, 1, 0));
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
}

async fn a_refund_made_at_stripe_restocks_through_the_webhook(db: Db) {
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(2).await;
    let buyer = app.buyer(CARD_OK).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "r")
        .await
        .expect(201);
    let order_id = order["id"].as_str().unwrap();
    let intent = &intents_for(&app, order_id).await[0];
    let intent_id = intent["id"].as_str().unwrap();
    // Refunded in Stripe's dashboard, not through us.
    app.stripe(
        Method::POST,
        "/v1/refunds",
        &[("payment_intent", intent_id)],
    )
    .await;
    let body = event(
        "evt_refund",
        "charge.refunded",
        json!({"id": "ch_x", "object": "charge", "payment_intent": intent_id, "refunded": true}),
    );
    deliver(&app, &body, signed(&body)).await.expect(200);
    assert_eq!(order_status(&app, order_id).await, "refunded");
    assert_eq!(app.stock(&product_id).await, (2, 0, 0));
}

/// localstripe signs and posts real events about a second after the fact.
async fn localstripe_deliveries_settle_orders(db: Db) {
    let app = paid_app(db).await;
    let hook = format!("dropcast-test-{}", app.port);
    app.stripe(
        Method::POST,
        &format!("/_config/webhooks/{hook}"),
        &[
            ("url", &app.url("/api/v1/stripe/webhook")),
            ("secret", WEBHOOK_SECRET),
            ("events[]", "payment_intent.succeeded"),
        ],
    )
    .await;
    let (order_id, _, product_id, _) = paid_at_stripe_unknown_here(&app).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while order_status(&app, &order_id).await != "paid" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook never settled the order"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.stock(&product_id).await, (2, 0, 1));
}

/// A webhook about another intent that claims to be for the order (its
/// metadata names the order) settles nothing: only the intent the order
/// names can.
async fn an_event_about_another_intent_settles_nothing(db: Db) {
    let app = paid_app(db).await;
    let (_, show_id, product_id) = app.creator_show_product(3).await;
    let buyer = app.buyer(CARD_3DS).await;
    let order = app
        .order(&buyer, &show_id, &product_id, 1, "mine")
        .await
        .expect(201);
    assert_eq!(order["status"], "requires_action");
    let order_id = order["id"].as_str().unwrap();
    // Someone's succeeded intent, with this order's id in its metadata.
    let pm = app.payment_method(CARD_OK).await;
    let other = app
        .stripe(
            Method::POST,
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("payment_method", &pm),
                ("payment_method_types[]", "card"),
                ("confirm", "true"),
                ("metadata[order_id]", order_id),
            ],
        )
        .await;
    assert_eq!(other["status"], "succeeded", "{other}");
    let body = event(
        "evt_other_intent",
        "payment_intent.succeeded",
        other.clone(),
    );
    deliver(&app, &body, signed(&body)).await.expect(200);
    assert_eq!(order_status(&app, order_id).await, "requires_action");
    assert_eq!(app.stock(&product_id).await, (2, 1, 0), "still only held");
}

db_tests!(
    an_event_about_another_intent_settles_nothing,
    a_signed_event_is_applied_once_even_when_delivered_twice,
    forged_missing_and_stale_signatures_are_refused,
    a_refund_made_at_stripe_restocks_through_the_webhook,
    localstripe_deliveries_settle_orders,
);
