//! The authorization matrix: every route against every kind of caller.
//! Refusals must change nothing; the owner's calls must work.

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{ADMIN_TOKEN, Db, spawn_app};

const CALLERS: [&str; 7] = ["none", "bad", "other", "editor", "viewer", "admin", "owner"];

async fn every_route_checks_role_and_ownership(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner) = app.creator("Owner").await;
    let (_, other) = app.creator("Other").await;
    let show = app.show(&owner, "Owned").await;
    let show_id = show["id"].as_str().unwrap().to_string();
    let product = app.product(&owner, &show_id, "SKU-1", 5).await;
    let product_id = product["id"].as_str().unwrap().to_string();
    // An editor of the show, and one of another show of the other creator.
    let editor = app.editor(&owner, &show_id).await;
    let viewer = app.viewer().await;
    let bad = format!("dcc_{}", "0".repeat(64));
    let token_of = |who: &str| -> Option<String> {
        match who {
            "none" => None,
            "bad" => Some(bad.clone()),
            "other" => Some(other.clone()),
            "editor" => Some(editor.clone()),
            "viewer" => Some(viewer.clone()),
            "admin" => Some(ADMIN_TOKEN.to_string()),
            "owner" => Some(owner.clone()),
            _ => unreachable!(),
        }
    };
    let s = &show_id;
    let p = &product_id;
    // (method, path, body, expected status for each of CALLERS)
    let routes: Vec<(Method, String, Option<Value>, [u16; 7])> = vec![
        (
            Method::POST,
            "/api/v1/creators".into(),
            Some(json!({"name": "N"})),
            [401, 401, 403, 403, 403, 201, 403],
        ),
        (
            Method::GET,
            "/api/v1/shows".into(),
            None,
            [401, 401, 200, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/shows/{s}"),
            None,
            [200, 401, 200, 200, 200, 200, 200],
        ),
        (
            Method::PUT,
            format!("/api/v1/shows/{s}/pin"),
            Some(json!({"product_id": p})),
            [401, 401, 403, 403, 403, 403, 200],
        ),
        (
            Method::POST,
            format!("/api/v1/shows/{s}/products"),
            Some(
                json!({"sku": "NEW", "title": "New", "price_cents": 100, "currency": "usd", "stock": 1}),
            ),
            [401, 401, 403, 403, 403, 403, 201],
        ),
        (
            Method::PATCH,
            format!("/api/v1/shows/{s}/products/{p}"),
            Some(json!({"add_stock": 1})),
            [401, 401, 403, 403, 403, 403, 200],
        ),
        (
            Method::POST,
            format!("/api/v1/shows/{s}/countdowns"),
            Some(json!({"kind": "sale_ends", "seconds": 30})),
            [401, 401, 403, 403, 403, 403, 201],
        ),
        (
            Method::POST,
            format!("/api/v1/shows/{s}/editors"),
            Some(json!({})),
            [401, 401, 403, 403, 403, 403, 201],
        ),
        (
            Method::GET,
            "/api/v1/viewers/me".into(),
            None,
            [401, 401, 403, 403, 200, 403, 403],
        ),
    ];

    // Refusals first: none may change anything.
    let before = app.fingerprint(s, &owner).await;
    for (method, path, body, expected) in &routes {
        for (who, want) in CALLERS.iter().zip(expected) {
            if *want < 400 {
                continue;
            }
            let answer = app
                .call(method.clone(), path, token_of(who).as_deref(), body.clone())
                .await;
            assert_eq!(
                answer.status.as_u16(),
                *want,
                "{method} {path} as {who}: {:?}",
                answer.body
            );
            let code = answer.code();
            let expected_codes: &[&str] = match want {
                401 => &["missing_token", "invalid_token"],
                _ => &["wrong_role", "not_your_show"],
            };
            assert!(
                expected_codes.contains(&code),
                "{method} {path} as {who}: code {code}"
            );
        }
    }
    assert_eq!(
        app.fingerprint(s, &owner).await,
        before,
        "a refused request changed the state"
    );

    // Then the allowed calls.
    for (method, path, body, expected) in &routes {
        for (who, want) in CALLERS.iter().zip(expected) {
            if *want >= 400 {
                continue;
            }
            let answer = app
                .call(method.clone(), path, token_of(who).as_deref(), body.clone())
                .await;
            assert_eq!(
                answer.status.as_u16(),
                *want,
                "{method} {path} as {who}: {:?}",
                answer.body
            );
        }
    }
}

async fn another_creator_cannot_touch_a_show_even_knowing_its_ids(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let (_, intruder) = app.creator("Intruder").await;
    let answer = app
        .patch(
            &format!("/api/v1/shows/{show_id}/products/{product_id}"),
            Some(&intruder),
            json!({"add_stock": -5}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (403, "not_your_show")
    );
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), Some(&token))
        .await
        .expect(200);
    assert_eq!(view["products"][0]["available"], 5);
}

async fn malformed_authorization_headers_are_401(db: Db) {
    let app = spawn_app(db).await;
    for header in [
        "Basic abc",
        "Bearer",
        "Bearer    ",
        "bearer dcc_x",
        "dcc_abc",
        "Bearer a b",
    ] {
        let res = app
            .client
            .get(app.url("/api/v1/shows"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{header:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_token", "{header:?}");
    }
}

db_tests!(
    every_route_checks_role_and_ownership,
    another_creator_cannot_touch_a_show_even_knowing_its_ids,
    malformed_authorization_headers_are_401,
);
