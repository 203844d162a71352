//! Orders a creator can ship: addresses, shipping charged once per parcel,
//! parcels and their packing list, tracking (one by one and from a CSV),
//! cancel and partial refunds, and the buyer's mail through a real SMTP
//! server (aiosmtpd) with its signed order link.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn shop(db: Db, smtp: Option<&SmtpSink>) -> TestApp {
    let smtp_url = smtp.map(|s| s.url.clone());
    spawn_app_with(db, move |s| {
        with_stripe(s);
        s.smtp_url = smtp_url;
        s.mail_from = Some("Dropcast <no-reply@dropcast.test>".into());
    })
    .await
}

/// A product of the show: `(id)`, with the given JSON on top of the basics.
async fn product_with(app: &TestApp, token: &str, show_id: &str, extra: Value) -> String {
    let mut body = json!({"sku": format!("SKU-{}", fresh_name()), "title": "Heavyweight hoodie",
                          "price_cents": 2500, "currency": "usd", "stock": 20});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post(
        &format!("/api/v1/shows/{show_id}/products"),
        Some(token),
        body,
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn paid(app: &TestApp, buyer: &str, show_id: &str, product_id: &str, qty: i64) -> Value {
    let order = app
        .order(buyer, show_id, product_id, qty, &fresh_name())
        .await
        .expect(201);
    assert_eq!(order["status"], "paid", "{order}");
    order
}

async fn shipments(app: &TestApp, token: &str, show_id: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/shows/{show_id}/shipments"), Some(token))
        .await
        .expect(200)["shipments"]
        .as_array()
        .unwrap()
        .clone()
}

async fn intent_of(app: &TestApp, order_id: &str) -> Value {
    let intents = intents_for(app, order_id).await;
    assert_eq!(intents.len(), 1, "one PaymentIntent per order");
    intents[0].clone()
}

async fn shipping_is_charged_once_per_shipment(db: Db) {
    let app = shop(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Products with their own shipping: a parcel pays the highest of them once.
    let hoodie = product_with(&app, &token, &show_id, json!({"shipping_cents": 800})).await;
    let boots = product_with(&app, &token, &show_id, json!({"shipping_cents": 1200})).await;
    let ebook = product_with(&app, &token, &show_id, json!({"fulfilment": "digital"})).await;
    let buyer = app.buyer(CARD_OK).await;

    let first = paid(&app, &buyer, &show_id, &hoodie, 2).await;
    assert_eq!(
        (
            first["items_cents"].as_i64(),
            first["shipping_cents"].as_i64(),
            first["amount_cents"].as_i64()
        ),
        (Some(5000), Some(800), Some(5800))
    );
    assert_eq!(first["shipping"]["city"], "London");
    let intent = intent_of(&app, first["id"].as_str().unwrap()).await;
    assert_eq!(intent["amount"], 5800);
    assert_eq!(intent["shipping"]["name"], "Ada Lovelace");
    assert_eq!(intent["shipping"]["address"]["postal_code"], "SW1Y 4JH");
    // The boots raise the parcel's shipping to 1200: this order pays the 400 more.
    let second = paid(&app, &buyer, &show_id, &boots, 1).await;
    assert_eq!(
        (
            second["shipping_cents"].as_i64(),
            second["amount_cents"].as_i64()
        ),
        (Some(400), Some(2900))
    );
    let third = paid(&app, &buyer, &show_id, &hoodie, 1).await;
    assert_eq!(
        (
            third["shipping_cents"].as_i64(),
            third["amount_cents"].as_i64()
        ),
        (Some(0), Some(2500))
    );
    assert_eq!(first["shipment_id"], second["shipment_id"]);
    assert_eq!(first["shipment_id"], third["shipment_id"]);
    // Digital: no parcel, no shipping, no address.
    let digital = paid(&app, &buyer, &show_id, &ebook, 1).await;
    assert_eq!(
        (
            digital["shipping_cents"].as_i64(),
            digital["amount_cents"].as_i64()
        ),
        (Some(0), Some(2500))
    );
    assert!(digital["shipment_id"].is_null() && digital["shipping"].is_null());
    assert!(intent_of(&app, digital["id"].as_str().unwrap()).await["shipping"].is_null());

    let parcels = shipments(&app, &token, &show_id).await;
    assert_eq!(parcels.len(), 1);
    assert_eq!(parcels[0]["shipping_cents"], 1200);
    assert_eq!(parcels[0]["orders"].as_array().unwrap().len(), 3);
    assert_eq!(parcels[0]["status"], "unshipped");

    // A flat price per parcel instead: charged once, whatever the products say.
    app.patch(
        &format!("/api/v1/shows/{show_id}"),
        Some(&token),
        json!({"shipping_flat_cents": 500}),
    )
    .await
    .expect(200);
    let other = app.buyer(CARD_OK_2).await;
    let a = paid(&app, &other, &show_id, &boots, 1).await;
    let b = paid(&app, &other, &show_id, &hoodie, 1).await;
    assert_eq!(
        (a["shipping_cents"].as_i64(), b["shipping_cents"].as_i64()),
        (Some(500), Some(0))
    );

    // Once the parcel shipped, the next order opens a new one and pays again.
    let shipment = a["shipment_id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/shipments/{shipment}/ship"),
        Some(&token),
        json!({"carrier": "Royal Mail", "tracking": "RM123456785GB"}),
    )
    .await
    .expect(200);
    let c = paid(&app, &other, &show_id, &hoodie, 1).await;
    assert_eq!(c["shipping_cents"], 500);
    assert_ne!(c["shipment_id"], a["shipment_id"]);
    assert_eq!(shipments(&app, &token, &show_id).await.len(), 3);
    app.assert_stock_invariant().await;
}

async fn concurrent_orders_share_one_shipping_charge(db: Db) {
    let app = shop(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(
        &format!("/api/v1/shows/{show_id}"),
        Some(&token),
        json!({"shipping_flat_cents": 700}),
    )
    .await
    .expect(200);
    let products: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(product_with(&app, &token, &show_id, json!({})).await);
        }
        v
    };
    let buyer = app.buyer(CARD_OK).await;
    let placed = futures_util::future::join_all(
        products
            .iter()
            .map(|p| app.order(&buyer, &show_id, p, 1, p)),
    )
    .await;
    let shipping: i64 = placed
        .into_iter()
        .map(|a| a.expect(201)["shipping_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(
        shipping, 700,
        "four orders at once pay the parcel's shipping once"
    );
}

async fn addresses_are_checked_field_by_field(db: Db) {
    let app = shop(db, None).await;
    let viewer = app.viewer().await;
    let mut bad = london();
    bad["country"] = json!("UK");
    let answer = app
        .put("/api/v1/viewers/me/shipping", Some(&viewer), bad)
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_shipping")
    );
    assert_eq!(answer.body["error"]["field"], "country");
    let cases = [
        (json!({"postal_code": "12345"}), "postal_code"),
        (json!({"name": ""}), "name"),
        (json!({"line1": null}), "line1"),
        (json!({"country": "US", "postal_code": "10001"}), "region"),
        (json!({"phone": "1"}), "shipping"),
    ];
    for (change, field) in cases {
        let mut a = london();
        for (k, v) in change.as_object().unwrap() {
            a[k] = v.clone();
        }
        let answer = app
            .put("/api/v1/viewers/me/shipping", Some(&viewer), a)
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (422, "invalid_shipping"),
            "{change}"
        );
        assert_eq!(answer.body["error"]["field"], field, "{change}");
    }
    // With the card: the field is named inside `shipping`, and nothing is saved.
    let pm = app.payment_method(CARD_OK).await;
    let mut a = london();
    a["postal_code"] = json!("NOPE NOPE");
    let answer = app
        .put(
            "/api/v1/viewers/me/payment-method",
            Some(&viewer),
            json!({"email": "ada@example.com", "payment_method": pm, "shipping": a}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_shipping")
    );
    assert_eq!(answer.body["error"]["field"], "shipping.postal_code");
    let me = app
        .get("/api/v1/viewers/me", Some(&viewer))
        .await
        .expect(200);
    assert!(me["card"].is_null() && me["shipping"].is_null(), "{me}");

    // A good one is kept canonical, on the session and on the Stripe Customer.
    let saved = app
        .put(
            "/api/v1/viewers/me/payment-method",
            Some(&viewer),
            json!({"email": "ada@example.com", "payment_method": pm,
                    "shipping": {"name": " Ada  Lovelace ", "line1": "12 St James's Square",
                                 "city": "London", "postal_code": "sw1y 4jh", "country": "gb"}}),
        )
        .await
        .expect(200);
    assert_eq!(saved["shipping"]["postal_code"], "SW1Y 4JH");
    let me = app
        .get("/api/v1/viewers/me", Some(&viewer))
        .await
        .expect(200);
    assert_eq!(me["shipping"]["name"], "Ada Lovelace");
    assert_eq!(me["shipping"]["country"], "GB");
    let customer: String =
        sqlx::query_scalar("SELECT stripe_customer_id FROM viewers WHERE id = $1")
            .bind(me["viewer_id"].as_str().unwrap())
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    let at_stripe = app
        .stripe(Method::GET, &format!("/v1/customers/{customer}"), &[])
        .await;
    assert_eq!(
        at_stripe["shipping"]["address"]["city"], "London",
        "{at_stripe}"
    );
    // A change of address goes to Stripe too.
    let mut paris = json!({"name": "Ada Lovelace", "line1": "1 Rue de Rivoli", "city": "Paris",
                           "postal_code": "75001", "country": "FR"});
    app.put("/api/v1/viewers/me/shipping", Some(&viewer), paris.clone())
        .await
        .expect(200);
    let at_stripe = app
        .stripe(Method::GET, &format!("/v1/customers/{customer}"), &[])
        .await;
    assert_eq!(at_stripe["shipping"]["address"]["city"], "Paris");
    paris["country"] = json!("FR");
    assert_eq!(
        app.get("/api/v1/viewers/me", Some(&viewer))
            .await
            .expect(200)["shipping"],
        paris
    );
}

async fn shipped_products_need_an_address_digital_ones_do_not(db: Db) {
    let app = shop(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hoodie = product_with(&app, &token, &show_id, json!({})).await;
    let ebook = product_with(&app, &token, &show_id, json!({"fulfilment": "digital"})).await;
    // A buyer who saved a card and no address.
    let viewer = app.viewer().await;
    let pm = app.payment_method(CARD_OK).await;
    app.put(
        "/api/v1/viewers/me/payment-method",
        Some(&viewer),
        json!({"email": "noaddr@example.com", "payment_method": pm}),
    )
    .await
    .expect(200);
    let answer = app.order(&viewer, &show_id, &hoodie, 1, "k1").await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (400, "no_shipping_address")
    );
    assert_eq!(app.stock(&hoodie).await, (20, 0, 0));
    paid(&app, &viewer, &show_id, &ebook, 1).await;
    // A digital product cannot carry a shipping price.
    let answer = app
        .post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(&token),
            json!({"sku": "PDF", "title": "t", "price_cents": 100, "currency": "usd", "stock": 1,
                     "fulfilment": "digital", "shipping_cents": 100}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_shipping_cents")
    );
    let answer = app
        .post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(&token),
            json!({"sku": "X", "title": "t", "price_cents": 100, "currency": "usd", "stock": 1,
                     "fulfilment": "teleport"}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_fulfilment")
    );
}

/// Parses a CSV body into rows of cells (the test's own reader, not the server's).
fn csv_rows(body: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

async fn packing_list_and_bulk_tracking(db: Db) {
    let app = shop(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hoodie = product_with(&app, &token, &show_id, json!({"shipping_cents": 800})).await;
    let ada = app.buyer(CARD_OK).await;
    paid(&app, &ada, &show_id, &hoodie, 1).await;
    paid(&app, &ada, &show_id, &hoodie, 2).await;
    // A buyer whose name a spreadsheet would run as a formula.
    let bob = app.viewer().await;
    let pm = app.payment_method(CARD_OK_2).await;
    app.put(
        "/api/v1/viewers/me/payment-method",
        Some(&bob),
        json!({"email": "bob@example.com", "payment_method": pm,
                   "shipping": {"name": "=HYPERLINK(\"x\")", "line1": "1 Main St, Apt 2",
                                "city": "Austin", "region": "TX", "postal_code": "78701",
                                "country": "US"}}),
    )
    .await
    .expect(200);
    paid(&app, &bob, &show_id, &hoodie, 1).await;

    let res = app
        .client
        .get(app.url(&format!("/api/v1/shows/{show_id}/shipments.csv")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let rows = csv_rows(&res.text().await.unwrap());
    assert_eq!(rows.len(), 3, "a header and one row per parcel: {rows:?}");
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let ada_row = rows
        .iter()
        .find(|r| r[col("email")].starts_with("buyer-"))
        .unwrap();
    assert_eq!(ada_row[col("name")], "Ada Lovelace");
    assert_eq!(ada_row[col("line1")], "12 St James's Square");
    assert_eq!(ada_row[col("postal_code")], "SW1Y 4JH");
    assert_eq!(ada_row[col("country")], "GB");
    assert_eq!(ada_row[col("units")], "3");
    assert_eq!(ada_row[col("shipping_cents")], "800");
    let bob_row = rows
        .iter()
        .find(|r| r[col("email")] == "bob@example.com")
        .unwrap();
    assert_eq!(
        bob_row[col("name")],
        "'=HYPERLINK(\"x\")",
        "formulas are defused"
    );
    assert_eq!(bob_row[col("line1")], "1 Main St, Apt 2");
    assert_eq!(bob_row[col("region")], "TX");

    // A bad row refuses the whole file; nothing ships.
    let ids: Vec<String> = rows[1..]
        .iter()
        .map(|r| r[col("shipment_id")].clone())
        .collect();
    let import = async |body: String| {
        app.client
            .post(app.url(&format!("/api/v1/shows/{show_id}/shipments/tracking")))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let bad = format!(
        "shipment_id,carrier,tracking\n{},UPS,1Z999AA10123456784\nshp_nope,UPS,1Z999AA10123456785\n",
        ids[0]
    );
    let res = import(bad).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_csv");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 3"),
        "{body}"
    );
    assert!(
        shipments(&app, &token, &show_id)
            .await
            .iter()
            .all(|s| s["status"] == "unshipped")
    );
    // Wrong content type.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/shows/{show_id}/shipments/tracking")))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    // The packing list itself comes back with tracking filled in (extra columns are ignored).
    let mut good = String::from("\u{feff}Shipment_ID,name,Carrier,Tracking\n");
    for (i, id) in ids.iter().enumerate() {
        good.push_str(&format!(
            "{id},\"Someone, Else\",UPS,1Z999AA1012345678{i}\n"
        ));
    }
    let res = import(good).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["shipped"], 2);
    let parcels = shipments(&app, &token, &show_id).await;
    assert!(
        parcels
            .iter()
            .all(|s| s["status"] == "shipped" && s["carrier"] == "UPS"),
        "{parcels:?}"
    );
    // Another creator's token sees none of it.
    let (_, other) = app.creator("Eve").await;
    let answer = app
        .get(&format!("/api/v1/shows/{show_id}/shipments"), Some(&other))
        .await;
    assert_eq!(answer.status.as_u16(), 403);
    let answer = app
        .post(
            &format!("/api/v1/shipments/{}/ship", ids[0]),
            Some(&other),
            json!({"carrier": "UPS", "tracking": "1Z999AA10123456784"}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 403);
    let answer = app
        .post(
            &format!("/api/v1/shipments/{}/ship", ids[0]),
            Some(&token),
            json!({"carrier": "UPS", "tracking": "<b>"}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (422, "invalid_tracking")
    );
}

async fn cancel_restocks_and_refunds_partly(db: Db) {
    let app = shop(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hoodie = product_with(&app, &token, &show_id, json!({"shipping_cents": 800})).await;
    let buyer = app.buyer(CARD_OK).await;
    let first = paid(&app, &buyer, &show_id, &hoodie, 2).await; // 5000 + 800
    let second = paid(&app, &buyer, &show_id, &hoodie, 1).await; // 2500
    assert_eq!(app.stock(&hoodie).await, (17, 0, 3));

    // Cancelling the order that carried the shipping, while the parcel still
    // ships: its items come back, its shipping stays.
    let id = first["id"].as_str().unwrap();
    let cancelled = app
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            Some(&token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "refunded");
    assert_eq!(cancelled["refunded_cents"], 5000);
    assert_eq!(app.stock(&hoodie).await, (19, 0, 1));
    let intent = intent_of(&app, id).await;
    let refunds = app
        .stripe(
            Method::GET,
            &format!(
                "/v1/refunds?payment_intent={}",
                intent["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(refunds["data"][0]["amount"], 5000, "{refunds}");
    // The kept shipping still counts: a new order of the parcel pays none.
    let third = paid(&app, &buyer, &show_id, &hoodie, 1).await;
    assert_eq!(third["shipping_cents"], 0);

    // A partial refund gives back that much and restocks nothing.
    let id2 = second["id"].as_str().unwrap();
    let part = app
        .post(
            &format!("/api/v1/orders/{id2}/refund"),
            Some(&token),
            json!({"amount_cents": 1000}),
        )
        .await
        .expect(200);
    assert_eq!(
        (part["status"].as_str(), part["refunded_cents"].as_i64()),
        (Some("paid"), Some(1000))
    );
    assert_eq!(app.stock(&hoodie).await, (18, 0, 2));
    let too_much = app
        .post(
            &format!("/api/v1/orders/{id2}/refund"),
            Some(&token),
            json!({"amount_cents": 1501}),
        )
        .await;
    assert_eq!(
        (too_much.status.as_u16(), too_much.code()),
        (422, "refund_too_large")
    );
    let zero = app
        .post(
            &format!("/api/v1/orders/{id2}/refund"),
            Some(&token),
            json!({"amount_cents": 0}),
        )
        .await;
    assert_eq!(
        (zero.status.as_u16(), zero.code()),
        (422, "invalid_amount_cents")
    );
    // The rest, in full: the order is refunded and restocked.
    let rest = app
        .post(
            &format!("/api/v1/orders/{id2}/refund"),
            Some(&token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        (rest["status"].as_str(), rest["refunded_cents"].as_i64()),
        (Some("refunded"), Some(2500))
    );
    let intent = intent_of(&app, id2).await;
    let refunds = app
        .stripe(
            Method::GET,
            &format!(
                "/v1/refunds?payment_intent={}",
                intent["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    let mut amounts: Vec<i64> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    amounts.sort();
    assert_eq!(amounts, vec![1000, 1500]);
    assert_eq!(app.stock(&hoodie).await, (19, 0, 1));

    // Shipped: it can no longer be cancelled.
    let shipment = third["shipment_id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/shipments/{shipment}/ship"),
        Some(&token),
        json!({"carrier": "DHL", "tracking": "JD014600003828"}),
    )
    .await
    .expect(200);
    let id3 = third["id"].as_str().unwrap();
    let answer = app
        .post(
            &format!("/api/v1/orders/{id3}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (409, "already_shipped")
    );
    let answer = app
        .post(
            &format!("/api/v1/orders/{id3}/cancel"),
            Some(&buyer),
            json!({}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 403);
    app.assert_stock_invariant().await;
}

async fn products_are_edited_and_archived_shows_deleted(db: Db) {
    let app = shop(db, None).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hoodie = product_with(&app, &token, &show_id, json!({})).await;
    let path = format!("/api/v1/shows/{show_id}/products/{hoodie}");
    let edited = app
        .patch(
            &path,
            Some(&token),
            json!({"shipping_cents": 650, "max_per_buyer": 3,
                                            "image_url": "https://cdn.example.com/h.jpg"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            edited["shipping_cents"].as_i64(),
            edited["max_per_buyer"].as_i64()
        ),
        (Some(650), Some(3))
    );
    assert_eq!(edited["fulfilment"], "shipping");
    // Null lifts the limit; leaving it out keeps what is there.
    let kept = app
        .patch(&path, Some(&token), json!({"title": "Neon hoodie II"}))
        .await
        .expect(200);
    assert_eq!(kept["max_per_buyer"], 3);
    let lifted = app
        .patch(&path, Some(&token), json!({"max_per_buyer": null}))
        .await
        .expect(200);
    assert_eq!(lifted["max_per_buyer"], serde_json::Value::Null);
    let mut live = app.live(&show_id).await;
    let _snapshot = live.until("snapshot").await;
    app.patch(&path, Some(&token), json!({"archived": true}))
        .await
        .expect(200);
    let (frame, _) = live.until("product").await;
    assert_eq!(frame["product"]["archived"], true);
    let view = app
        .get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect(200);
    assert!(view["products"].as_array().unwrap().is_empty());
    let buyer = app.buyer(CARD_OK).await;
    let answer = app.order(&buyer, &show_id, &hoodie, 1, "k").await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (404, "product_not_found")
    );
    app.patch(&path, Some(&token), json!({"archived": false}))
        .await
        .expect(200);
    paid(&app, &buyer, &show_id, &hoodie, 1).await;

    // Shows: edited; deleted only if never live and nothing sold.
    let edited = app
        .patch(
            &format!("/api/v1/shows/{show_id}"),
            Some(&token),
            json!({"title": "Drop night II", "scheduled_at_ms": 1_900_000_000_000i64}),
        )
        .await
        .expect(200);
    assert_eq!(edited["title"], "Drop night II");
    let answer = app
        .call(
            Method::DELETE,
            &format!("/api/v1/shows/{show_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (409, "show_has_orders")
    );
    let empty = app.show(&token, "Never aired").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    product_with(&app, &token, &empty, json!({})).await;
    let (_, eve) = app.creator("Eve").await;
    let answer = app
        .call(
            Method::DELETE,
            &format!("/api/v1/shows/{empty}"),
            Some(&eve),
            None,
        )
        .await;
    assert_eq!(answer.status.as_u16(), 403);
    let answer = app
        .call(
            Method::DELETE,
            &format!("/api/v1/shows/{empty}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(answer.status.as_u16(), 204);
    assert_eq!(
        app.get(&format!("/api/v1/shows/{empty}"), None)
            .await
            .status
            .as_u16(),
        404
    );
    // A show that went live is kept.
    let aired = app.show(&token, "Aired").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    dropcast::store::media::set_live(&app.state.pool, &aired, true)
        .await
        .unwrap();
    dropcast::store::media::set_live(&app.state.pool, &aired, false)
        .await
        .unwrap();
    let answer = app
        .call(
            Method::DELETE,
            &format!("/api/v1/shows/{aired}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (409, "show_was_live")
    );
}

/// The signed link in a letter's text.
fn order_link(text: &str) -> String {
    let start = text
        .find("/order/")
        .expect("the letter links to the order page");
    let end = text[start..]
        .find(char::is_whitespace)
        .map_or(text.len(), |e| start + e);
    text[start..end].to_string()
}

async fn buyers_get_their_receipt_shipping_and_refund_notices(db: Db) {
    let smtp = SmtpSink::start().await;
    let app = shop(db, Some(&smtp)).await;
    let (_, token) = app.creator("Ada's Atelier").await;
    app.patch(
        "/api/v1/creators/me",
        Some(&token),
        json!({"email": "ada@atelier.example"}),
    )
    .await
    .expect(200);
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hoodie = product_with(
        &app,
        &token,
        &show_id,
        json!({"title": "Hoodie <b>Black</b>", "shipping_cents": 800}),
    )
    .await;
    let buyer = app.buyer_with(CARD_OK, "grace@example.com").await;
    let order = paid(&app, &buyer, &show_id, &hoodie, 2).await;
    let id = order["id"].as_str().unwrap();

    let receipts = smtp.wait_for(id, 1, Duration::from_secs(20)).await;
    assert_eq!(receipts.len(), 1, "one confirmation");
    let r = &receipts[0];
    assert_eq!(r["rcpt_tos"], json!(["grace@example.com"]));
    assert!(
        r["reply_to"]
            .as_str()
            .unwrap()
            .contains("ada@atelier.example"),
        "{r}"
    );
    assert_eq!(r["content_type"], "multipart/alternative");
    let text = r["text"].as_str().unwrap();
    assert!(text.contains("USD 58.00"), "{text}");
    assert!(
        text.contains("USD 8.00")
            && text.contains("12 St James's Square")
            && text.contains("SW1Y 4JH"),
        "{text}"
    );
    let html = r["html"].as_str().unwrap();
    assert!(
        html.contains("Hoodie &lt;b&gt;Black&lt;/b&gt;") && !html.contains("<b>Black"),
        "{html}"
    );

    // The signed link opens the order without a password; a forged one does not.
    let link = order_link(text);
    let api = link
        .replacen("/order/", "/api/v1/orders/", 1)
        .replacen("?k=", "/receipt?k=", 1);
    let view = app.get(&api, None).await.expect(200);
    assert_eq!(view["order"]["id"], id);
    assert_eq!(view["order"]["amount_cents"], 5800);
    assert_eq!(view["shop"], "Ada's Atelier");
    assert!(view["order"].get("client_secret").is_none());
    // The last hex digit changed (to another digit, whatever it was).
    let last = if api.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &api[..api.len() - 1]);
    assert_eq!(app.get(&forged, None).await.status.as_u16(), 404);
    let page = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), 200);

    // Shipping it: one notice with the tracking number, however often it is marked.
    let shipment = order["shipment_id"].as_str().unwrap();
    for _ in 0..2 {
        app.post(
            &format!("/api/v1/shipments/{shipment}/ship"),
            Some(&token),
            json!({"carrier": "Royal Mail", "tracking": "RM123456785GB"}),
        )
        .await
        .expect(200);
    }
    let notices = smtp
        .wait_for("has shipped", 1, Duration::from_secs(20))
        .await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0]["text"]
            .as_str()
            .unwrap()
            .contains("RM123456785GB")
    );
    let view = app.get(&api, None).await.expect(200);
    assert_eq!(view["shipment"]["tracking"], "RM123456785GB");

    // A refund: its notice with the amount.
    app.post(
        &format!("/api/v1/orders/{id}/refund"),
        Some(&token),
        json!({"amount_cents": 1200}),
    )
    .await
    .expect(200);
    let refunds = smtp
        .wait_for("Refund of USD 12.00", 1, Duration::from_secs(20))
        .await;
    assert_eq!(refunds.len(), 1, "{:?}", smtp.messages());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 3, "nothing sent twice");
}

async fn mail_waits_for_smtp_and_never_holds_up_checkout(db: Db) {
    let mut smtp = SmtpSink::start().await;
    let app = shop(db, Some(&smtp)).await;
    let (_, token) = app.creator("Ada").await;
    let show_id = app.show(&token, "Drop night").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let product_id = product_with(&app, &token, &show_id, json!({})).await;
    smtp.stop().await;
    let buyer = app.buyer(CARD_OK).await;
    // SMTP is down: the order is paid all the same, its letter owed.
    let order = paid(&app, &buyer, &show_id, &product_id, 1).await;
    let id = order["id"].as_str().unwrap().to_string();
    let attempts = async || -> (String, i64) {
        sqlx::query_as("SELECT status, attempts FROM mail_jobs WHERE subject_id = $1")
            .bind(&id)
            .fetch_one(&app.state.pool)
            .await
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, n) = attempts().await;
        assert_eq!(status, "pending");
        if n >= 2 || tokio::time::Instant::now() > deadline {
            assert!(n >= 2, "the letter was tried while SMTP was down");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.get(&format!("/api/v1/orders/{id}"), Some(&buyer))
            .await
            .expect(200)["status"],
        "paid"
    );
    smtp.resume().await;
    let got = smtp.wait_for(&id, 1, Duration::from_secs(45)).await;
    assert_eq!(got.len(), 1, "the confirmation arrives once SMTP is back");
    assert_eq!(attempts().await.0, "sent");
}

crate::db_tests!(
    shipping_is_charged_once_per_shipment,
    concurrent_orders_share_one_shipping_charge,
    addresses_are_checked_field_by_field,
    shipped_products_need_an_address_digital_ones_do_not,
    packing_list_and_bulk_tracking,
    cancel_restocks_and_refunds_partly,
    products_are_edited_and_archived_shows_deleted,
    buyers_get_their_receipt_shipping_and_refund_notices,
    mail_waits_for_smtp_and_never_holds_up_checkout,
);
