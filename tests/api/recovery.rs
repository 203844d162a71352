//! Crash tests: the real `dropcast` binary is killed with SIGKILL between
//! holding stock and hearing from Stripe, then restarted on the same database.
//! Every order must end paid (charged once) or released, and a refund owed
//! while Stripe is down lands once it is back.

use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::AnyPool;
use tokio::process::{Child, Command};

use crate::db_tests;
use crate::helpers::{
    ADMIN_TOKEN, CARD_OK, Db, PrivateStripe, STRIPE_KEY, free_port, fresh_database, stripe_url,
};

/// A `dropcast serve` process.
struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    /// The Stripe it talks to.
    stripe: String,
}

impl Server {
    /// Starts `dropcast serve` as node `node_id` (a restart keeps its id),
    /// on the test run's localstripe.
    async fn start(
        database_url: &str,
        data_dir: &std::path::Path,
        node_id: &str,
        pause: Option<&str>,
    ) -> Server {
        Self::start_on(database_url, data_dir, node_id, pause, &stripe_url(), None).await
    }

    /// Starts `dropcast serve` on the Stripe at `stripe`, optionally on a given HTTP port.
    async fn start_on(
        database_url: &str,
        data_dir: &std::path::Path,
        node_id: &str,
        pause: Option<&str>,
        stripe: &str,
        port: Option<u16>,
    ) -> Server {
        let port = match port {
            Some(port) => port,
            None => free_port(),
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dropcast"));
        cmd.arg("serve")
            .env("DROPCAST_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("DROPCAST_DATA_DIR", data_dir)
            .env("DROPCAST_RTMP_ADDR", "127.0.0.1:0")
            .env("DROPCAST_SRT_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("DROPCAST_NODE_ID", node_id)
            .env("DROPCAST_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("STRIPE_SECRET_KEY", STRIPE_KEY)
            .env("STRIPE_API_BASE", stripe)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(pause) = pause {
            cmd.env("DROPCAST_TEST_PAUSE", pause);
        }
        let child = cmd.spawn().expect("dropcast starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            stripe: stripe.to_string(),
        };
        for _ in 0..200 {
            if server
                .client
                .get(server.url("/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dropcast did not become healthy");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Value) -> Value {
        let res = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// SIGKILL: no shutdown, no cleanup.
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// A show with one product of 3 units and a buyer with a saved card:
/// `(show id, product id, buyer token, creator token)`.
async fn setup(server: &Server) -> (String, String, String, String) {
    let creator = server
        .call(
            Method::POST,
            "/api/v1/creators",
            ADMIN_TOKEN,
            json!({"name": "Crash"}),
        )
        .await;
    let token = creator["token"].as_str().unwrap();
    let show = server
        .call(
            Method::POST,
            "/api/v1/shows",
            token,
            json!({"title": "Crashy"}),
        )
        .await;
    let show_id = show["id"].as_str().unwrap().to_string();
    let product = server
        .call(
            Method::POST,
            &format!("/api/v1/shows/{show_id}/products"),
            token,
            json!({"sku": "C", "title": "C", "price_cents": 1234, "currency": "usd", "stock": 3}),
        )
        .await;
    let viewer = server
        .client
        .post(server.url("/api/v1/viewers"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let viewer: Value = viewer.json().await.unwrap();
    let buyer = viewer["token"].as_str().unwrap().to_string();
    let pm = stripe_form(
        &server.stripe,
        "/v1/payment_methods",
        &[
            ("type", "card"),
            ("card[number]", CARD_OK),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2031"),
            ("card[cvc]", "123"),
        ],
    )
    .await;
    server
        .call(
            Method::PUT,
            "/api/v1/viewers/me/payment-method",
            &buyer,
            json!({"email": "crash@example.com", "payment_method": pm["id"],
                   "shipping": crate::helpers::london()}),
        )
        .await;
    (
        show_id,
        product["id"].as_str().unwrap().to_string(),
        buyer,
        token.to_string(),
    )
}

async fn stripe_form(base: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .basic_auth(STRIPE_KEY, Some(""))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.replace('[', "%5B").replace(']', "%5D"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn stripe_get(base: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .basic_auth(STRIPE_KEY, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every PaymentIntent the Stripe server holds, page by page (it is shared
/// by every test of the run, so one page may not reach this test's).
async fn all_payment_intents(base: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let after = all
            .last()
            .map(|i| format!("&starting_after={}", i["id"].as_str().unwrap()))
            .unwrap_or_default();
        let page = stripe_get(base, &format!("/v1/payment_intents?limit=100{after}")).await;
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        if page["has_more"] != true {
            return all;
        }
    }
}

/// Sends the order in the background (it will hang at the pause) and waits
/// until the order has recorded its PaymentIntent: `(order id, intent id)`.
async fn order_in_flight(
    pool: &AnyPool,
    server: &Server,
    show_id: &str,
    product_id: &str,
    buyer: &str,
) -> (String, String) {
    let req = server
        .client
        .post(server.url(&format!("/api/v1/shows/{show_id}/orders")))
        .bearer_auth(buyer)
        .json(&json!({"product_id": product_id, "quantity": 1, "idempotency_key": "crash"}))
        .send();
    tokio::spawn(async move {
        let _ = req.await;
    });
    for _ in 0..200 {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT id, payment_intent_id FROM orders LIMIT 1")
                .fetch_optional(pool)
                .await
                .unwrap();
        if let Some((id, Some(intent))) = row {
            return (id, intent);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the order never recorded its intent");
}

async fn order_row(pool: &AnyPool, order_id: &str) -> (String, String) {
    sqlx::query_as("SELECT status, stock_state FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn stock(pool: &AnyPool, product_id: &str) -> (i64, i64, i64) {
    sqlx::query_as("SELECT available, held, sold FROM products WHERE id = $1")
        .bind(product_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until the restarted server has settled the order.
async fn settled(pool: &AnyPool, order_id: &str) -> (String, String) {
    for _ in 0..200 {
        let row = order_row(pool, order_id).await;
        if row.1 != "held" {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the order was never settled after the restart");
}

async fn open_pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPool::connect(url).await.unwrap()
}

async fn killed_before_the_charge_the_hold_is_released(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(db, dir.path()).await;
    let first = Server::start(&url, dir.path(), "node-a", Some("before_confirm:60000")).await;
    let pool = open_pool(&url).await;
    let (show_id, product_id, buyer, _) = setup(&first).await;
    let (order_id, intent_id) = order_in_flight(&pool, &first, &show_id, &product_id, &buyer).await;
    first.kill().await;
    assert_eq!(
        stock(&pool, &product_id).await,
        (2, 1, 0),
        "held when the process died"
    );
    assert_eq!(
        stripe_get(&stripe_url(), &format!("/v1/payment_intents/{intent_id}")).await["status"],
        "requires_confirmation",
        "never charged"
    );

    let second = Server::start(&url, dir.path(), "node-a", None).await;
    let (status, stock_state) = settled(&pool, &order_id).await;
    assert_eq!(
        (status.as_str(), stock_state.as_str()),
        ("failed", "released")
    );
    assert_eq!(stock(&pool, &product_id).await, (3, 0, 0));
    let intent = stripe_get(&second.stripe, &format!("/v1/payment_intents/{intent_id}")).await;
    assert_eq!(
        intent["status"], "canceled",
        "the unconfirmed intent can never charge now"
    );
    second.kill().await;
}

async fn killed_after_the_charge_the_sale_is_kept_and_charged_once(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(db, dir.path()).await;
    let first = Server::start(&url, dir.path(), "node-a", Some("after_confirm:60000")).await;
    let pool = open_pool(&url).await;
    let (show_id, product_id, buyer, _) = setup(&first).await;
    let (order_id, intent_id) = order_in_flight(&pool, &first, &show_id, &product_id, &buyer).await;
    // Wait for Stripe to have charged, then kill before the server records it.
    for _ in 0..200 {
        let intent = stripe_get(&first.stripe, &format!("/v1/payment_intents/{intent_id}")).await;
        if intent["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().await;
    assert_eq!(
        order_row(&pool, &order_id).await,
        ("pending".to_string(), "held".to_string())
    );

    let second = Server::start(&url, dir.path(), "node-a", None).await;
    let (status, stock_state) = settled(&pool, &order_id).await;
    assert_eq!((status.as_str(), stock_state.as_str()), ("paid", "sold"));
    assert_eq!(stock(&pool, &product_id).await, (2, 0, 1));
    // Charged once: one succeeded intent carries this order, with one charge.
    let all = all_payment_intents(&second.stripe).await;
    let mine: Vec<&Value> = all
        .iter()
        .filter(|i| i["metadata"]["order_id"] == order_id.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["status"], "succeeded");
    let charges = mine[0]["charges"]["data"].as_array().map_or(0, Vec::len);
    assert_eq!(charges, 1, "charged {charges} times");
    second.kill().await;
}

/// A second node starting while the first is in the middle of an order
/// leaves that order alone: the first node finishes it (paid, once).
async fn a_node_starting_never_settles_another_nodes_order_in_flight(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(db, dir.path()).await;
    let first = Server::start(&url, dir.path(), "node-a", Some("before_confirm:4000")).await;
    let pool = open_pool(&url).await;
    let (show_id, product_id, buyer, _) = setup(&first).await;
    let (order_id, intent_id) = order_in_flight(&pool, &first, &show_id, &product_id, &buyer).await;
    let other_dir = tempfile::tempdir().unwrap();
    let second = Server::start(&url, other_dir.path(), "node-b", None).await;
    // node-b's start-up settlement and a few of its sweeps have run by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        order_row(&pool, &order_id).await,
        ("pending".to_string(), "held".to_string()),
        "node-b left node-a's order alone"
    );
    let (status, stock_state) = settled(&pool, &order_id).await;
    assert_eq!((status.as_str(), stock_state.as_str()), ("paid", "sold"));
    let intent = stripe_get(&first.stripe, &format!("/v1/payment_intents/{intent_id}")).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(stock(&pool, &product_id).await, (2, 0, 1));
    first.kill().await;
    second.kill().await;
}

/// A node that died with an order in flight has it taken over by another
/// node once its lease lapses (aged here in the database rather than
/// waited for): the unconfirmed intent is cancelled and the stock released.
async fn a_dead_nodes_orders_are_taken_over_when_its_lease_lapses(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(db, dir.path()).await;
    let first = Server::start(&url, dir.path(), "node-a", Some("before_confirm:60000")).await;
    let pool = open_pool(&url).await;
    let (show_id, product_id, buyer, _) = setup(&first).await;
    let (order_id, intent_id) = order_in_flight(&pool, &first, &show_id, &product_id, &buyer).await;
    first.kill().await;
    let other_dir = tempfile::tempdir().unwrap();
    let second = Server::start(&url, other_dir.path(), "node-b", None).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        order_row(&pool, &order_id).await.1,
        "held",
        "node-a's lease has not lapsed yet"
    );
    sqlx::query("UPDATE nodes SET heartbeat_at_ms = 0 WHERE node_id = 'node-a'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, stock_state) = settled(&pool, &order_id).await;
    assert_eq!(
        (status.as_str(), stock_state.as_str()),
        ("failed", "released")
    );
    let owner: (String,) = sqlx::query_as("SELECT owner_node FROM orders WHERE id = $1")
        .bind(&order_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(owner.0, "node-b");
    let intent = stripe_get(&second.stripe, &format!("/v1/payment_intents/{intent_id}")).await;
    assert_eq!(intent["status"], "canceled");
    assert_eq!(stock(&pool, &product_id).await, (3, 0, 0));
    second.kill().await;
}

/// A refund asked for while Stripe is down is owed, not lost: it survives a
/// restart of the server and lands once Stripe is back, exactly once.
async fn a_refund_while_stripe_is_down_lands_once_after_a_restart(db: Db) {
    let mut stripe = PrivateStripe::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(db, dir.path()).await;
    let port = free_port();
    let first = Server::start_on(&url, dir.path(), "node-a", None, &stripe.url, Some(port)).await;
    let pool = open_pool(&url).await;
    let (show_id, product_id, buyer, creator) = setup(&first).await;
    let order = first
        .call(
            Method::POST,
            &format!("/api/v1/shows/{show_id}/orders"),
            &buyer,
            json!({"product_id": product_id, "quantity": 1, "idempotency_key": "refund-me"}),
        )
        .await;
    assert_eq!(order["status"], "paid");
    let order_id = order["id"].as_str().unwrap().to_string();

    stripe.stop().await;
    let refund = first
        .call(
            Method::POST,
            &format!("/api/v1/orders/{order_id}/refund"),
            &creator,
            json!({}),
        )
        .await;
    assert_eq!(refund["refund_pending"], true, "{refund}");
    assert_eq!(refund["order"]["status"], "paid", "not refunded yet");
    assert_eq!(stock(&pool, &product_id).await, (2, 0, 1));
    let stats = first
        .get(&format!("/api/v1/shows/{show_id}/stats"), &creator)
        .await;
    assert_eq!(stats["owed"][0]["order_id"], order_id.as_str(), "{stats}");
    assert_eq!(stats["owed"][0]["status"], "pending");
    first.kill().await;

    let second = Server::start_on(&url, dir.path(), "node-a", None, &stripe.url, Some(port)).await;
    stripe.resume().await;
    let mut status = String::new();
    for _ in 0..400 {
        status = order_row(&pool, &order_id).await.0;
        if status == "refunded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "refunded", "the owed refund landed");
    assert_eq!(stock(&pool, &product_id).await, (3, 0, 0), "restocked once");
    let intent_id: (String,) = sqlx::query_as("SELECT payment_intent_id FROM orders WHERE id = $1")
        .bind(&order_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let refunds = stripe_get(
        &stripe.url,
        &format!("/v1/refunds?payment_intent={}", intent_id.0),
    )
    .await;
    assert_eq!(
        refunds["data"].as_array().map(Vec::len),
        Some(1),
        "refunded once: {refunds}"
    );
    let (job_status, attempts): (String, i64) =
        sqlx::query_as("SELECT status, attempts FROM stripe_outbox WHERE order_id = $1")
            .bind(&order_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(job_status, "done");
    assert!(attempts >= 2, "tried while Stripe was down too: {attempts}");
    let stats = second
        .get(&format!("/api/v1/shows/{show_id}/stats"), &creator)
        .await;
    assert_eq!(stats["owed"], json!([]), "nothing owed any more");
    second.kill().await;
}

db_tests!(
    killed_before_the_charge_the_hold_is_released,
    killed_after_the_charge_the_sale_is_kept_and_charged_once,
    a_node_starting_never_settles_another_nodes_order_in_flight,
    a_dead_nodes_orders_are_taken_over_when_its_lease_lapses,
    a_refund_while_stripe_is_down_lands_once_after_a_restart,
);
