//! Shows, the pin, countdowns and editors: the happy paths.

use serde_json::json;

use crate::db_tests;
use crate::helpers::{Db, spawn_app};

async fn creating_a_show_returns_its_key_ingest_and_urls(db: Db) {
    let app = spawn_app(db).await;
    let (_, token) = app.creator("Ada").await;
    let show = app.show(&token, "Sneaker Sunday").await;
    let id = show["id"].as_str().unwrap();
    let key = show["stream_key"].as_str().unwrap();
    assert!(key.len() >= 64, "stream keys are long random values");
    assert_eq!(show["title"], "Sneaker Sunday");
    let rtmp_port = app.state.settings.rtmp_addr.port();
    let srt_port = app.state.settings.srt_addr.port();
    assert_ne!(rtmp_port, 0, "the port actually bound is handed out");
    assert_eq!(
        show["ingest"]["rtmp"],
        format!("rtmp://127.0.0.1:{rtmp_port}/live/{key}")
    );
    assert_eq!(
        show["ingest"]["srt"],
        format!("srt://127.0.0.1:{srt_port}?streamid={key}")
    );
    assert_eq!(show["urls"]["watch"], app.url(&format!("/watch/{id}")));
    assert_eq!(show["urls"]["overlay"], app.url(&format!("/overlay/{id}")));
    assert_eq!(show["urls"]["studio"], app.url(&format!("/studio/{id}")));
    assert_eq!(show["urls"]["embed"], app.url("/embed.js"));
}

async fn the_public_view_hides_the_stream_key_from_all_but_the_owner(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner) = app.creator("Owner").await;
    let (_, other) = app.creator("Other").await;
    let show = app.show(&owner, "Mine").await;
    let path = format!("/api/v1/shows/{}", show["id"].as_str().unwrap());

    let public = app.get(&path, None).await.expect(200);
    assert_eq!(public["title"], "Mine");
    assert_eq!(public["live"], false);
    assert_eq!(public["products"], json!([]));
    assert_eq!(public["pinned_product_id"], json!(null));
    assert_eq!(public["countdowns"], json!([]));
    assert!(public.get("stream_key").is_none());

    let viewer = app.viewer().await;
    for token in [other.as_str(), viewer.as_str()] {
        let body = app.get(&path, Some(token)).await.expect(200);
        assert!(body.get("stream_key").is_none());
    }
    let mine = app.get(&path, Some(&owner)).await.expect(200);
    assert_eq!(mine["stream_key"], show["stream_key"]);
}

async fn creators_list_only_their_own_shows(db: Db) {
    let app = spawn_app(db).await;
    let (_, a) = app.creator("A").await;
    let (_, b) = app.creator("B").await;
    app.show(&a, "A1").await;
    app.show(&a, "A2").await;
    app.show(&b, "B1").await;
    let list = app.get("/api/v1/shows", Some(&a)).await.expect(200);
    let mut titles: Vec<&str> = list["shows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    titles.sort();
    assert_eq!(titles, ["A1", "A2"]);
}

async fn pin_and_unpin(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let pin = format!("/api/v1/shows/{show_id}/pin");
    let body = app
        .put(&pin, Some(&token), json!({"product_id": product_id}))
        .await
        .expect(200);
    assert_eq!(body["pinned_product_id"], product_id.as_str());
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(show["pinned_product_id"], product_id.as_str());

    app.put(&pin, Some(&token), json!({"product_id": null}))
        .await
        .expect(200);
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(show["pinned_product_id"], json!(null));
}

async fn pinning_another_shows_product_is_404(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_a, _) = app.creator_show_product(5).await;
    let show_b = app.show(&token, "Second").await;
    let other = app
        .product(&token, show_b["id"].as_str().unwrap(), "OTHER", 1)
        .await;
    let answer = app
        .put(
            &format!("/api/v1/shows/{show_a}/pin"),
            Some(&token),
            json!({"product_id": other["id"]}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (404, "product_not_found")
    );
}

async fn countdowns_start_now_and_show_in_the_view(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let before = dropcast::now_ms();
    let cd = app
        .post(
            &format!("/api/v1/shows/{show_id}/countdowns"),
            Some(&token),
            json!({"kind": "drop_opens", "seconds": 120, "product_id": product_id, "label": "Drop opens in"}),
        )
        .await
        .expect(201);
    let after = dropcast::now_ms();
    let ends = cd["ends_at_ms"].as_i64().unwrap();
    assert!(ends >= before + 120_000 && ends <= after + 120_000);
    // Its full length rides with it: pages never show more of it.
    assert_eq!(ends - cd["set_at_ms"].as_i64().unwrap(), 120_000);
    assert_eq!(cd["kind"], "drop_opens");
    assert_eq!(cd["product_id"], product_id.as_str());
    assert_eq!(cd["label"], "Drop opens in");
    let show_wide = app
        .post(
            &format!("/api/v1/shows/{show_id}/countdowns"),
            Some(&token),
            json!({"kind": "sale_ends", "seconds": 60}),
        )
        .await
        .expect(201);
    assert_eq!(show_wide["product_id"], json!(null));
    let show = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(show["countdowns"], json!([cd, show_wide]));
}

async fn editors_get_a_token_that_is_not_a_creators(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(5).await;
    let editor = app.editor(&token, &show_id).await;
    assert!(editor.starts_with("dce_"));
    let answer = app
        .post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(&editor),
            json!({}),
        )
        .await;
    assert_eq!((answer.status.as_u16(), answer.code()), (403, "wrong_role"));
}

async fn viewers_get_an_anonymous_session(db: Db) {
    let app = spawn_app(db).await;
    let created = app
        .post("/api/v1/viewers", None, json!({}))
        .await
        .expect(201);
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("dcv_"));
    let me = app.get("/api/v1/viewers/me", Some(token)).await.expect(200);
    assert_eq!(me["viewer_id"], created["viewer_id"]);
    assert_eq!(me["email"], json!(null));
    assert_eq!(me["card"], json!(null));
}

db_tests!(
    creating_a_show_returns_its_key_ingest_and_urls,
    the_public_view_hides_the_stream_key_from_all_but_the_owner,
    creators_list_only_their_own_shows,
    pin_and_unpin,
    pinning_another_shows_product_is_404,
    countdowns_start_now_and_show_in_the_view,
    editors_get_a_token_that_is_not_a_creators,
    viewers_get_an_anonymous_session,
);
