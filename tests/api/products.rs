//! Products: create, restock, remove stock, retitle, reprice.

use serde_json::json;

use crate::db_tests;
use crate::helpers::{Db, spawn_app};

async fn create_a_product(db: Db) {
    let app = spawn_app(db).await;
    let (_, token) = app.creator("Ada").await;
    let show = app.show(&token, "Show").await;
    let show_id = show["id"].as_str().unwrap();
    let p = app
        .post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(&token),
            json!({"sku": "HOOD-L", "title": "Hoodie L", "price_cents": 6500, "currency": "EUR",
                   "stock": 12, "max_per_buyer": 2, "image_url": "https://cdn.example/h.jpg"}),
        )
        .await
        .expect(201);
    assert!(p["id"].as_str().unwrap().starts_with("prd_"));
    assert_eq!(p["sku"], "HOOD-L");
    assert_eq!(p["currency"], "eur");
    assert_eq!(
        (p["available"].as_i64(), p["sold"].as_i64()),
        (Some(12), Some(0))
    );
    assert_eq!(p["max_per_buyer"], 2);
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(view["products"], json!([p]));
    app.assert_stock_invariant().await;
}

async fn duplicate_skus_conflict(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, _) = app.creator_show_product(1).await;
    let answer = app
        .post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(&token),
            json!({"sku": "TEE-1", "title": "Again", "price_cents": 1, "currency": "usd", "stock": 1}),
        )
        .await;
    assert_eq!((answer.status.as_u16(), answer.code()), (409, "sku_taken"));
    // The same SKU in another show is fine.
    let other = app.show(&token, "Other").await;
    app.product(&token, other["id"].as_str().unwrap(), "TEE-1", 1)
        .await;
}

async fn patch_title_price_and_stock(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(10).await;
    let path = format!("/api/v1/shows/{show_id}/products/{product_id}");
    let p = app
        .patch(
            &path,
            Some(&token),
            json!({"title": "Tee, restocked", "price_cents": 1999, "add_stock": 5}),
        )
        .await
        .expect(200);
    assert_eq!(p["title"], "Tee, restocked");
    assert_eq!(p["price_cents"], 1999);
    assert_eq!(p["available"], 15);
    let p = app
        .patch(&path, Some(&token), json!({"add_stock": -15}))
        .await
        .expect(200);
    assert_eq!(p["available"], 0);
    app.assert_stock_invariant().await;
}

async fn removing_more_than_available_conflicts_and_changes_nothing(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(4).await;
    let path = format!("/api/v1/shows/{show_id}/products/{product_id}");
    let answer = app
        .patch(
            &path,
            Some(&token),
            json!({"add_stock": -5, "title": "Should not stick"}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (409, "insufficient_stock")
    );
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(view["products"][0]["available"], 4);
    assert_eq!(view["products"][0]["title"], "Product TEE-1");
}

async fn total_stock_is_capped(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(1_000_000).await;
    let answer = app
        .patch(
            &format!("/api/v1/shows/{show_id}/products/{product_id}"),
            Some(&token),
            json!({"add_stock": 1}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_add_stock")
    );
}

db_tests!(
    create_a_product,
    duplicate_skus_conflict,
    patch_title_price_and_stock,
    removing_more_than_available_conflicts_and_changes_nothing,
    total_stock_is_capped,
);
