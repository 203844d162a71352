//! Products: create, restock, remove stock, retitle, reprice.

use reqwest::Method;
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

/// An image in `format`, `width` × `height`, of a gradient.
fn picture(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

/// An uploaded image is resized to the pages' two sizes, served by every
/// node (from its data dir, else the database) with a year's cache, and
/// sent to viewers with the product; what is not an image, or too large,
/// is refused with a clear error and changes nothing.
async fn product_images_upload_resize_serve_and_refuse(db: Db) {
    let app = spawn_app(db).await;
    let (token, show_id, product_id) = app.creator_show_product(3).await;
    let path = format!("/api/v1/shows/{show_id}/products/{product_id}/image");
    let mut live = app.live(&show_id).await;
    live.until("snapshot").await;
    let put = async |token: Option<&str>, content_type: &str, body: Vec<u8>| {
        app.raw(Method::PUT, &path, token, Some(content_type), body)
            .await
    };
    let p = put(
        Some(&token),
        "image/png",
        picture(1200, 800, image::ImageFormat::Png),
    )
    .await
    .expect(200);
    let large = p["image_url"].as_str().unwrap().to_string();
    let small = p["thumb_url"].as_str().unwrap().to_string();
    assert!(
        large.starts_with(&app.url("/images/img_")) && large.ends_with("-640.jpg"),
        "{p}"
    );
    assert!(small.ends_with("-160.jpg"), "{p}");
    // Viewers are told.
    let (frame, _) = live.until("product").await;
    assert_eq!(frame["product"]["image_url"], large.as_str());
    assert_eq!(frame["product"]["thumb_url"], small.as_str());
    let fetch = async |url: &str| {
        let res = app.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
        (img.width(), img.height())
    };
    assert_eq!(fetch(&large).await, (640, 427));
    assert_eq!(fetch(&small).await, (160, 107));
    // Kept under the data dir; a node without the copy reads the database.
    let dir = app.data_dir.path().join("images");
    let file = large.rsplit('/').next().unwrap();
    assert!(dir.join(file).exists());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(fetch(&large).await, (640, 427));
    assert!(dir.join(file).exists(), "kept again");

    // Refused, each with its code; the product keeps its picture.
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    /// Who sends it, as what, the bytes, and the answer's status and code.
    type Case<'a> = (Option<&'a str>, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (Some(&token), "image/gif", gif, 415, "unsupported_image"),
        (
            Some(&token),
            "image/png",
            b"<svg xmlns='x'/>".to_vec(),
            415,
            "unsupported_image",
        ),
        (
            Some(&token),
            "image/png",
            vec![0x89; 9 * 1024 * 1024],
            413,
            "image_too_large",
        ),
        (
            Some(&token),
            "image/png",
            picture(9000, 2, image::ImageFormat::Png),
            422,
            "image_too_many_pixels",
        ),
        (
            Some(&token),
            "image/jpeg",
            vec![0xff, 0xd8, 0xff, 0xe0, 0, 16],
            422,
            "unreadable_image",
        ),
        (Some(&token), "image/png", Vec::new(), 400, "empty_body"),
        (
            None,
            "image/png",
            picture(10, 10, image::ImageFormat::Png),
            401,
            "missing_token",
        ),
    ];
    for (who, content_type, body, status, code) in cases {
        let answer = put(who, content_type, body).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{}",
            answer.body
        );
    }
    let (_, other) = app.creator("Grace").await;
    let answer = put(
        Some(&other),
        "image/png",
        picture(10, 10, image::ImageFormat::Png),
    )
    .await;
    assert_eq!(answer.status, 403);
    let answer = app
        .raw(
            Method::PUT,
            &format!("/api/v1/shows/{show_id}/products/prd_nope/image"),
            Some(&token),
            Some("image/png"),
            picture(10, 10, image::ImageFormat::Png),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (404, "product_not_found")
    );
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert_eq!(view["products"][0]["image_url"], large.as_str());
    for bad in [
        "../dropcast.db",
        "img_x-999.jpg",
        "img_nope-640.jpg",
        "x.png",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/images/{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{bad}");
    }

    // A JPEG replaces it under a new name (the old one is still served).
    let p = put(
        Some(&token),
        "image/jpeg",
        picture(300, 600, image::ImageFormat::Jpeg),
    )
    .await
    .expect(200);
    let newer = p["image_url"].as_str().unwrap();
    assert_ne!(newer, large);
    assert_eq!(fetch(newer).await, (300, 600));
    assert_eq!(fetch(&large).await, (640, 427));
    // A creator's own URL has no small size; DELETE takes the picture away.
    let p = app
        .patch(
            &format!("/api/v1/shows/{show_id}/products/{product_id}"),
            Some(&token),
            json!({"image_url": "https://cdn.example/h.jpg"}),
        )
        .await
        .expect(200);
    assert_eq!(p["image_url"], "https://cdn.example/h.jpg");
    assert!(p.get("thumb_url").is_none(), "{p}");
    let p = app
        .call(Method::DELETE, &path, Some(&token), None)
        .await
        .expect(200);
    assert!(p["image_url"].is_null(), "{p}");
}

db_tests!(
    product_images_upload_resize_serve_and_refuse,
    create_a_product,
    duplicate_skus_conflict,
    patch_title_price_and_stock,
    removing_more_than_available_conflicts_and_changes_nothing,
    total_stock_is_capped,
);
