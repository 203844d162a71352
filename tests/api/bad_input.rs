//! A table of malformed and invalid requests: each must get a 4xx with the
//! documented error shape and a stable code, and leave the state unchanged.

use reqwest::Method;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{ADMIN_TOKEN, Db, spawn_app};

struct Case {
    method: Method,
    path: String,
    token: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn json_case(
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.to_string(),
        token: Some(token.to_string()),
        content_type: Some("application/json"),
        body: serde_json::to_vec(&body).unwrap(),
        status,
        code,
    }
}

async fn malformed_and_invalid_requests_are_refused_and_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(5).await;
    let products = format!("/api/v1/shows/{show_id}/products");
    let product = format!("/api/v1/shows/{show_id}/products/{product_id}");
    let pin = format!("/api/v1/shows/{show_id}/pin");
    let countdowns = format!("/api/v1/shows/{show_id}/countdowns");
    let good =
        json!({"sku": "OK-1", "title": "Fine", "price_cents": 100, "currency": "usd", "stock": 3});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let t = token.as_str();
    let post = Method::POST;
    let mut cases = vec![
        // Malformed bodies.
        Case {
            method: post.clone(),
            path: products.clone(),
            token: Some(token.clone()),
            content_type: Some("application/json"),
            body: b"{".to_vec(),
            status: 400,
            code: "invalid_json",
        },
        Case {
            method: post.clone(),
            path: products.clone(),
            token: Some(token.clone()),
            content_type: Some("application/json"),
            body: b"[1,2]".to_vec(),
            status: 400,
            code: "expected_object",
        },
        Case {
            method: post.clone(),
            path: products.clone(),
            token: Some(token.clone()),
            content_type: Some("application/json"),
            body: vec![0xff, 0xfe, 0x00],
            status: 400,
            code: "invalid_json",
        },
        Case {
            method: post.clone(),
            path: products.clone(),
            token: Some(token.clone()),
            content_type: Some("text/plain"),
            body: serde_json::to_vec(&good).unwrap(),
            status: 415,
            code: "unsupported_media_type",
        },
        Case {
            method: post.clone(),
            path: products.clone(),
            token: Some(token.clone()),
            content_type: None,
            body: serde_json::to_vec(&good).unwrap(),
            status: 415,
            code: "unsupported_media_type",
        },
        Case {
            method: post.clone(),
            path: products.clone(),
            token: Some(token.clone()),
            content_type: Some("application/json"),
            body: serde_json::to_vec(&with("title", json!("x".repeat(70_000)))).unwrap(),
            status: 413,
            code: "payload_too_large",
        },
        // Products: every field.
        json_case(
            post.clone(),
            &products,
            t,
            without("sku"),
            422,
            "missing_field",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("sku", json!("has space")),
            422,
            "invalid_sku",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("sku", json!("")),
            422,
            "invalid_sku",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("sku", json!(42)),
            422,
            "invalid_sku",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("sku", json!("TEE-1")),
            409,
            "sku_taken",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            without("title"),
            422,
            "missing_field",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("title", json!("   ")),
            422,
            "invalid_title",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("title", json!("t".repeat(201))),
            422,
            "invalid_title",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("title", json!("bell\u{7}")),
            422,
            "invalid_title",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("price_cents", json!(0)),
            422,
            "invalid_price_cents",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("price_cents", json!(-100)),
            422,
            "invalid_price_cents",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("price_cents", json!(19.99)),
            422,
            "invalid_price_cents",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("price_cents", json!("100")),
            422,
            "invalid_price_cents",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("price_cents", json!(1e15)),
            422,
            "invalid_price_cents",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("price_cents", json!(u64::MAX)),
            422,
            "invalid_price_cents",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("currency", json!("xyz")),
            422,
            "invalid_currency",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("currency", json!("dollars")),
            422,
            "invalid_currency",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("currency", json!(840)),
            422,
            "invalid_currency",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("stock", json!(-1)),
            422,
            "invalid_stock",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("stock", json!(1_000_001)),
            422,
            "invalid_stock",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("stock", json!(true)),
            422,
            "invalid_stock",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("max_per_buyer", json!(0)),
            422,
            "invalid_max_per_buyer",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("image_url", json!("javascript:alert(1)")),
            422,
            "invalid_image_url",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("image_url", json!("/relative.png")),
            422,
            "invalid_image_url",
        ),
        json_case(
            post.clone(),
            &products,
            t,
            with("colour", json!("red")),
            422,
            "unknown_field",
        ),
        // Patches.
        json_case(
            Method::PATCH,
            &product,
            t,
            json!({}),
            422,
            "nothing_to_update",
        ),
        json_case(
            Method::PATCH,
            &product,
            t,
            json!({"add_stock": -6}),
            409,
            "insufficient_stock",
        ),
        json_case(
            Method::PATCH,
            &product,
            t,
            json!({"add_stock": 2_000_000}),
            422,
            "invalid_add_stock",
        ),
        json_case(
            Method::PATCH,
            &product,
            t,
            json!({"add_stock": 1.5}),
            422,
            "invalid_add_stock",
        ),
        json_case(
            Method::PATCH,
            &product,
            t,
            json!({"price_cents": 0}),
            422,
            "invalid_price_cents",
        ),
        json_case(
            Method::PATCH,
            &product,
            t,
            json!({"sku": "NEW"}),
            422,
            "unknown_field",
        ),
        json_case(
            Method::PATCH,
            &product,
            t,
            json!({"title": ""}),
            422,
            "invalid_title",
        ),
        json_case(
            Method::PATCH,
            &format!("{products}/prd_0000000000000000"),
            t,
            json!({"add_stock": 1}),
            404,
            "product_not_found",
        ),
        json_case(
            Method::PATCH,
            &format!("{products}/..%2F..%2Fetc"),
            t,
            json!({"add_stock": 1}),
            404,
            "product_not_found",
        ),
        // Pin.
        json_case(Method::PUT, &pin, t, json!({}), 422, "missing_field"),
        json_case(
            Method::PUT,
            &pin,
            t,
            json!({"product_id": 5}),
            422,
            "invalid_product_id",
        ),
        json_case(
            Method::PUT,
            &pin,
            t,
            json!({"product_id": "prd_0000000000000000"}),
            404,
            "product_not_found",
        ),
        json_case(
            Method::PUT,
            &pin,
            t,
            json!({"product_id": "' OR 1=1 --"}),
            422,
            "invalid_product_id",
        ),
        // Countdowns.
        json_case(
            post.clone(),
            &countdowns,
            t,
            json!({"kind": "soon", "seconds": 10}),
            422,
            "invalid_kind",
        ),
        json_case(
            post.clone(),
            &countdowns,
            t,
            json!({"kind": "sale_ends"}),
            422,
            "missing_field",
        ),
        json_case(
            post.clone(),
            &countdowns,
            t,
            json!({"kind": "sale_ends", "seconds": 0}),
            422,
            "invalid_seconds",
        ),
        json_case(
            post.clone(),
            &countdowns,
            t,
            json!({"kind": "sale_ends", "seconds": 86_401}),
            422,
            "invalid_seconds",
        ),
        json_case(
            post.clone(),
            &countdowns,
            t,
            json!({"kind": "sale_ends", "seconds": 10, "label": "l".repeat(81)}),
            422,
            "invalid_label",
        ),
        json_case(
            post.clone(),
            &countdowns,
            t,
            json!({"kind": "drop_opens", "seconds": 10, "product_id": "prd_0000000000000000"}),
            404,
            "product_not_found",
        ),
        // Shows, creators, unknown shows.
        json_case(
            post.clone(),
            "/api/v1/shows",
            t,
            json!({}),
            422,
            "missing_field",
        ),
        json_case(
            post.clone(),
            "/api/v1/shows",
            t,
            json!({"title": "t".repeat(500)}),
            422,
            "invalid_title",
        ),
        json_case(
            post.clone(),
            "/api/v1/creators",
            ADMIN_TOKEN,
            json!({"name": ""}),
            422,
            "invalid_name",
        ),
        json_case(
            post.clone(),
            "/api/v1/creators",
            ADMIN_TOKEN,
            json!({"name": null}),
            422,
            "missing_field",
        ),
        json_case(
            post.clone(),
            "/api/v1/shows/shw_0000000000000000/products",
            t,
            good.clone(),
            404,
            "show_not_found",
        ),
        json_case(
            post.clone(),
            "/api/v1/shows/%27%3B--/countdowns",
            t,
            json!({"kind": "sale_ends", "seconds": 5}),
            404,
            "show_not_found",
        ),
        json_case(
            post.clone(),
            "/api/v1/viewers",
            t,
            json!({"admin": true}),
            422,
            "unknown_field",
        ),
    ];
    cases.push(Case {
        method: Method::GET,
        path: format!("/api/v1/shows/{}", "x".repeat(300)),
        token: None,
        content_type: None,
        body: vec![],
        status: 404,
        code: "show_not_found",
    });

    let before = app.fingerprint(&show_id, &token).await;
    for case in cases {
        let answer = app
            .raw(
                case.method.clone(),
                &case.path,
                case.token.as_deref(),
                case.content_type,
                case.body,
            )
            .await;
        let what = format!("{} {}", case.method, case.path);
        assert_eq!(
            answer.status.as_u16(),
            case.status,
            "{what}: {:?}",
            answer.body
        );
        assert_eq!(answer.code(), case.code, "{what}: {:?}", answer.body);
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: no message"
        );
    }
    assert_eq!(
        app.fingerprint(&show_id, &token).await,
        before,
        "a refused request changed the state"
    );
    app.assert_stock_invariant().await;
}

db_tests!(malformed_and_invalid_requests_are_refused_and_change_nothing);
