//! Rate limits, kept on (issue 12): each named route answers 429
//! `rate_limited` with `Retry-After` once its limit is spent, changes
//! nothing when it does, and counts per address or per buyer session.

use reqwest::Method;
use serde_json::json;

use dropcast::limits::RateLimitSettings;

use crate::db_tests;
use crate::helpers::{CARD_OK, Db, TestApp, publish, spawn_app_with, with_stripe};

async fn limited_app(db: Db, spec: &'static str) -> TestApp {
    spawn_app_with(db, move |s| {
        with_stripe(s);
        s.rate_limits = RateLimitSettings::parse(spec).unwrap();
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
}

/// Sends a request as the client `forwarded` behind the trusted proxy.
async fn as_client(
    app: &TestApp,
    method: Method,
    path: &str,
    forwarded: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("x-forwarded-for", forwarded);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn assert_limited(res: reqwest::Response) {
    assert_eq!(res.status(), 429);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

async fn viewers_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM viewers")
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
}

/// Buyer sessions per address; the address is the one the trusted proxy
/// forwards, and each address has its own allowance.
async fn new_sessions_are_limited_per_address(db: Db) {
    let app = limited_app(db, "sessions_ip=2/60s").await;
    let path = "/api/v1/viewers";
    for _ in 0..2 {
        let res = as_client(
            &app,
            Method::POST,
            path,
            "203.0.113.5",
            None,
            Some(json!({})),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    let before = viewers_count(&app).await;
    assert_limited(
        as_client(
            &app,
            Method::POST,
            path,
            "203.0.113.5",
            None,
            Some(json!({})),
        )
        .await,
    )
    .await;
    assert_eq!(
        viewers_count(&app).await,
        before,
        "a refusal creates nothing"
    );
    // Another client behind the same proxy is counted apart.
    let other = as_client(
        &app,
        Method::POST,
        path,
        "203.0.113.6",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(other.status(), 201);
    // A forged hop before the proxy's does not help: the proxy's own entry counts.
    let forged = as_client(
        &app,
        Method::POST,
        path,
        "198.51.100.1, 203.0.113.5",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(forged.status(), 429);
}

/// Orders per session and per address, cards per session, order reads.
async fn orders_cards_and_reads_are_limited(db: Db) {
    let app = limited_app(
        db,
        "orders_session=2/60s,orders_ip=4/60s,cards_session=1/60s,order_reads=2/60s",
    )
    .await;
    let (_, show_id, product_id) = app.creator_show_product(10).await;
    let orders = format!("/api/v1/shows/{show_id}/orders");
    let buyer = app.buyer(CARD_OK).await;
    // Saving a second card in the same minute is refused before Stripe is asked.
    let pm = app.payment_method(CARD_OK).await;
    let card = as_client(
        &app,
        Method::PUT,
        "/api/v1/viewers/me/payment-method",
        "203.0.113.9",
        Some(&buyer),
        Some(json!({"email": "a@example.com", "payment_method": pm})),
    )
    .await;
    assert_limited(card).await;

    // Orders of one unit from the client 203.0.113.10, as `token`.
    let place = async |token: &str, key: &str| {
        let body = json!({"product_id": product_id, "quantity": 1, "idempotency_key": key});
        as_client(
            &app,
            Method::POST,
            &orders,
            "203.0.113.10",
            Some(token),
            Some(body),
        )
        .await
    };
    let mut first_id = String::new();
    for key in ["a", "b"] {
        let res = place(&buyer, key).await;
        assert_eq!(res.status(), 201);
        let body: serde_json::Value = res.json().await.unwrap();
        first_id = body["id"].as_str().unwrap().to_string();
    }
    assert_limited(place(&buyer, "c").await).await;
    assert_eq!(
        app.stock(&product_id).await,
        (8, 0, 2),
        "the refused order took nothing"
    );
    // A second session from the same address has an allowance of its own,
    // but the address's (four, the refused third counted) runs out first.
    let second = app.buyer(crate::helpers::CARD_OK_2).await;
    assert_eq!(place(&second, "d").await.status(), 201);
    assert_limited(place(&second, "e").await).await;

    let read = format!("/api/v1/orders/{first_id}");
    for _ in 0..2 {
        assert_eq!(
            as_client(&app, Method::GET, &read, "203.0.113.10", Some(&buyer), None)
                .await
                .status(),
            200
        );
    }
    assert_limited(as_client(&app, Method::GET, &read, "203.0.113.10", Some(&buyer), None).await)
        .await;
}

/// Live socket upgrades per address.
async fn live_upgrades_are_limited_per_address(db: Db) {
    let app = limited_app(db, "live_ip=2/60s").await;
    let (_, show_id, _) = app.creator_show_product(1).await;
    let _a = app.live(&show_id).await;
    let _b = app.live(&show_id).await;
    let third =
        tokio_tungstenite::connect_async(app.ws_url(&format!("/api/v1/shows/{show_id}/live")))
            .await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 429),
        other => panic!("the third upgrade was not refused: {:?}", other.map(|_| ())),
    }
}

/// RTMP and SRT connection attempts per address.
async fn ingest_connections_are_limited_per_address(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.rate_limits = RateLimitSettings::parse("ingest_ip=1/60s").unwrap();
    })
    .await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    let rtmp = show["ingest"]["rtmp"].as_str().unwrap();
    let srt = show["ingest"]["srt"].as_str().unwrap();
    assert!(
        publish(rtmp, 2, false).await,
        "the first connection is let in"
    );
    assert!(
        !publish(rtmp, 2, false).await,
        "the second RTMP attempt is refused"
    );
    assert!(
        !publish(srt, 2, false).await,
        "and so is SRT from the same address"
    );
}

db_tests!(
    new_sessions_are_limited_per_address,
    orders_cards_and_reads_are_limited,
    live_upgrades_are_limited_per_address,
    ingest_connections_are_limited_per_address,
);
