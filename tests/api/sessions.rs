//! Sessions and secrets that can end (issue 12): buyer sessions expire
//! (sliding) and end with "Forget my card"; creators rotate their token,
//! revoke editor tokens and rotate a show's stream key.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{CARD_OK, Db, publish, spawn_app, spawn_app_with, with_stripe};

/// A buyer session lives `viewer_session` from its last use.
async fn buyer_sessions_expire_unless_used(db: Db) {
    let app = spawn_app_with(db, |s| {
        s.viewer_session = Duration::from_secs(2);
    })
    .await;
    let used = app.viewer().await;
    let idle = app.viewer().await;
    // Used every 400 ms for 3 s: longer than the session, kept alive.
    for _ in 0..8 {
        app.get("/api/v1/viewers/me", Some(&used)).await.expect(200);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let gone = app.get("/api/v1/viewers/me", Some(&idle)).await;
    assert_eq!((gone.status.as_u16(), gone.code()), (401, "invalid_token"));
    app.get("/api/v1/viewers/me", Some(&used)).await.expect(200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let gone = app.get("/api/v1/viewers/me", Some(&used)).await;
    assert_eq!((gone.status.as_u16(), gone.code()), (401, "invalid_token"));
}

/// "Forget my card": the card is detached at Stripe and the session ends.
async fn forget_my_card_detaches_it_and_ends_the_session(db: Db) {
    let app = spawn_app_with(db, with_stripe).await;
    let buyer = app.buyer(CARD_OK).await;
    let pm: String = sqlx::query_scalar(
        "SELECT payment_method_id FROM viewers WHERE card_last4 = '4242' ORDER BY created_at_ms DESC",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    let attached = app
        .stripe(Method::GET, &format!("/v1/payment_methods/{pm}"), &[])
        .await;
    assert!(attached["customer"].is_string(), "{attached}");
    app.call(Method::DELETE, "/api/v1/viewers/me", Some(&buyer), None)
        .await
        .expect(200);
    let detached = app
        .stripe(Method::GET, &format!("/v1/payment_methods/{pm}"), &[])
        .await;
    assert!(detached["customer"].is_null(), "{detached}");
    let after = app.get("/api/v1/viewers/me", Some(&buyer)).await;
    assert_eq!(
        (after.status.as_u16(), after.code()),
        (401, "invalid_token")
    );
    let card: Option<String> =
        sqlx::query_scalar("SELECT payment_method_id FROM viewers WHERE payment_method_id = $1")
            .bind(&pm)
            .fetch_optional(&app.state.pool)
            .await
            .unwrap();
    assert!(card.is_none(), "forgotten here too");
    // A session without a card ends the same way.
    let plain = app.viewer().await;
    app.call(Method::DELETE, "/api/v1/viewers/me", Some(&plain), None)
        .await
        .expect(200);
    assert_eq!(
        app.get("/api/v1/viewers/me", Some(&plain)).await.status,
        401
    );
}

async fn creators_rotate_their_token(db: Db) {
    let app = spawn_app(db).await;
    let (_, old) = app.creator("Ada").await;
    let show = app.show(&old, "Before").await;
    let rotated = app
        .post("/api/v1/creators/me/token", Some(&old), json!({}))
        .await
        .expect(201);
    let new = rotated["token"].as_str().unwrap();
    assert!(new.starts_with("dcc_") && new != old);
    let refused = app.get("/api/v1/shows", Some(&old)).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (401, "invalid_token")
    );
    let mine = app.get("/api/v1/shows", Some(new)).await.expect(200);
    assert_eq!(mine["shows"][0]["id"], show["id"], "the same creator");
    let viewer = app.viewer().await;
    let wrong = app
        .post("/api/v1/creators/me/token", Some(&viewer), json!({}))
        .await;
    assert_eq!((wrong.status.as_u16(), wrong.code()), (403, "wrong_role"));
}

async fn editor_tokens_are_listed_and_revoked(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let path = format!("/api/v1/shows/{show_id}/editors");
    let first = app.post(&path, Some(&token), json!({})).await.expect(201);
    let second = app.post(&path, Some(&token), json!({})).await.expect(201);
    let list = app.get(&path, Some(&token)).await.expect(200);
    let ids: Vec<&Value> = list["editors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(ids, vec![&first["id"], &second["id"]]);
    assert!(
        !list.to_string().contains("dce_"),
        "tokens are never listed"
    );
    let clips = format!("/api/v1/shows/{show_id}/clips");
    let first_token = first["token"].as_str().unwrap();
    app.get(&clips, Some(first_token)).await.expect(200);
    app.call(
        Method::DELETE,
        &format!("{path}/{}", first["id"].as_str().unwrap()),
        Some(&token),
        None,
    )
    .await
    .expect(200);
    assert_eq!(app.get(&clips, Some(first_token)).await.status, 401);
    app.get(&clips, second["token"].as_str()).await.expect(200);
    let unknown = app
        .call(
            Method::DELETE,
            &format!("{path}/tok_nope"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.code()),
        (404, "editor_not_found")
    );
}

/// After rotation the old stream key is refused at connect; the new one publishes.
async fn a_rotated_stream_key_refuses_the_old_one(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let before = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    let rotated = app
        .post(
            &format!("/api/v1/shows/{show_id}/stream-key"),
            Some(&token),
            json!({}),
        )
        .await
        .expect(200);
    assert_ne!(rotated["stream_key"], before["stream_key"]);
    let old_rtmp = before["ingest"]["rtmp"].as_str().unwrap();
    assert!(!publish(old_rtmp, 2, false).await, "the old key is refused");
    assert!(
        publish(rotated["ingest"]["rtmp"].as_str().unwrap(), 2, false).await,
        "the new key publishes"
    );
    let (_, other) = app.creator("Other").await;
    let theirs = app
        .post(
            &format!("/api/v1/shows/{show_id}/stream-key"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(
        (theirs.status.as_u16(), theirs.code()),
        (403, "not_your_show")
    );
}

db_tests!(
    buyer_sessions_expire_unless_used,
    forget_my_card_detaches_it_and_ends_the_session,
    creators_rotate_their_token,
    editor_tokens_are_listed_and_revoked,
    a_rotated_stream_key_refuses_the_old_one,
);
