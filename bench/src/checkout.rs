//! Flash-sale checkout: K buyers at once for S units of one product, on
//! SQLite and on PostgreSQL.
//!
//! - *Hold path*: the server's own `store::orders::hold` (the transaction
//!   that inserts the order and takes the units; what every order does
//!   before Stripe is asked) called by K concurrent tasks through the
//!   server's pool and its hold gate (`dropcast::hold_gate`, as checkout
//!   does): orders held per second, and each attempt's latency (waiting
//!   for the gate and a connection included, as a request would).
//! - *Whole path*: a release `dropcast serve` with localstripe as Stripe; K
//!   buyers with saved cards `POST …/orders` at once over HTTP.
//!
//! Neither asserts anything: each reports the oversell check (units held or
//! paid against the stock, and the product's figures adding up).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dropcast::domain::ids::new_id;
use dropcast::store::{self, orders};
use serde_json::{Value, json};
use tokio::sync::Barrier;

type Error = Box<dyn std::error::Error>;

/// Buyers and units of the hold path: twice as many buyers as units.
const HOLD_BUYERS: usize = 4_000;
const HOLD_UNITS: i64 = 2_000;
/// Buyers and units of the whole path (localstripe answers each payment).
const PAY_BUYERS: usize = 200;
const PAY_UNITS: i64 = 100;

/// One flash sale on the hold path.
async fn hold_once(url: &str) -> Result<Value, Error> {
    hold_on(url, 1).await
}

/// The hold path with the buyers spread over `nodes` pools, one per node
/// (each node of a cluster has its own), each order owned by its node.
pub(crate) async fn hold_over_nodes(url: &str, nodes: usize) -> Result<Value, Error> {
    let mut figure = hold_on(url, nodes).await?;
    figure["nodes"] = json!(nodes);
    eprintln!("hold path over {nodes} node(s): {figure}");
    Ok(figure)
}

async fn hold_on(url: &str, nodes: usize) -> Result<Value, Error> {
    let pool = dropcast::db::open(url).await?;
    let mut pools = vec![pool.clone()];
    for _ in 1..nodes {
        pools.push(dropcast::db::open(url).await?);
    }
    let creator = new_id("crt");
    store::create_creator(&pool, &creator, "Bench", &new_id("hash")).await?;
    let show = new_id("shw");
    store::insert_show(&pool, &show, &creator, "Flash", &new_id("key")).await?;
    let product = new_id("prd");
    let sku = new_id("SKU");
    store::insert_product(
        &pool,
        store::NewProduct {
            id: &product,
            show_id: &show,
            sku: &sku,
            title: "Drop",
            price_cents: 2500,
            currency: "usd",
            stock: HOLD_UNITS,
            max_per_buyer: Some(1),
            image_url: None,
            fulfilment: wire::Fulfilment::Shipping,
            shipping_cents: 0,
        },
    )
    .await?;
    let mut viewers = Vec::with_capacity(HOLD_BUYERS);
    for _ in 0..HOLD_BUYERS {
        let id = new_id("vwr");
        store::create_viewer(&pool, &id, &new_id("hash"), i64::MAX).await?;
        viewers.push(id);
    }
    let start = Arc::new(Barrier::new(HOLD_BUYERS + 1));
    let mut tasks = Vec::with_capacity(HOLD_BUYERS);
    // Each node's gate, as the server's checkout keeps it.
    let gates: Vec<dropcast::hold_gate::HoldGate> = (0..nodes)
        .map(|_| dropcast::hold_gate::HoldGate::default())
        .collect();
    for (i, viewer) in viewers.into_iter().enumerate() {
        let node = i % nodes;
        let gate = gates[node].clone();
        let (pool, start, show, product) = (
            pools[node].clone(),
            start.clone(),
            show.clone(),
            product.clone(),
        );
        let owner = format!("bench-{node}");
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let t = Instant::now();
            let id = new_id("ord");
            let key = new_id("key");
            // Each buyer with a card and an email of their own, as the
            // per-buyer limit counts them.
            let (card, email) = (new_id("fp"), format!("{viewer}@example.com"));
            let _turn = gate.enter(&product).await;
            let outcome = orders::hold(
                &pool,
                orders::NewOrder {
                    id: &id,
                    show_id: &show,
                    product_id: &product,
                    viewer_id: &viewer,
                    quantity: 1,
                    idempotency_key: &key,
                    default_hold_ms: 600_000,
                    owner_node: &owner,
                    owner_instance: &owner,
                    card_fingerprint: Some(&card),
                    buyer_email: Some(&email),
                },
            )
            .await;
            let held = matches!(outcome, Ok(orders::Hold::Held { .. }));
            let error = outcome.err().map(|e| e.to_string());
            (t.elapsed(), t, held, error)
        }));
    }
    start.wait().await;
    let began = Instant::now();
    let cpu = crate::machine::CpuTimes::now();
    let mut latencies = Vec::with_capacity(HOLD_BUYERS);
    let (mut held, mut errors) = (0i64, 0usize);
    let mut last_held = Duration::ZERO;
    let mut first_error: Option<String> = None;
    for task in tasks {
        let (took, at, ok, err) = task.await?;
        let err = match err {
            Some(e) => {
                first_error.get_or_insert(e);
                true
            }
            None => false,
        };
        latencies.push(took.as_secs_f64() * 1000.0);
        if ok {
            held += 1;
            last_held = last_held.max(at.duration_since(began) + took);
        }
        errors += usize::from(err);
    }
    let elapsed = began.elapsed();
    let steal_pct = cpu.steal_pct_since();
    latencies.sort_by(f64::total_cmp);
    let row = store::get_product(&pool, &show, &product)
        .await?
        .ok_or("the product vanished")?;
    for p in pools {
        p.close().await;
    }
    Ok(json!({
        "buyers": HOLD_BUYERS,
        "units": HOLD_UNITS,
        "held": held,
        "errors": errors,
        "orders_per_s": held as f64 / last_held.as_secs_f64(),
        "attempts_per_s": HOLD_BUYERS as f64 / elapsed.as_secs_f64(),
        "p50_ms": crate::percentile(&latencies, 50.0),
        "p99_ms": crate::percentile(&latencies, 99.0),
        "oversold": (held - HOLD_UNITS).max(0),
        "first_error": first_error,
        "steal_pct": steal_pct,
        "figures_add_up": row.available + row.held + row.sold == HOLD_UNITS && row.available >= 0 && row.held == held,
    }))
}

/// The whole path over HTTP with localstripe, once.
async fn pay_once(db_url: &str, stripe_url: &str) -> Result<Value, Error> {
    let server = crate::server::Server::start_with(&[
        ("DATABASE_URL", db_url),
        ("STRIPE_SECRET_KEY", "sk_test_bench"),
        ("STRIPE_PUBLISHABLE_KEY", "pk_test_bench"),
        ("STRIPE_API_BASE", stripe_url),
    ])
    .await?;
    let client = reqwest::Client::new();
    let api = |p: &str| format!("{}/api/v1{p}", server.base);
    let token = server.creator().await?;
    let (show_id, product_id) = server
        .show_with_product(&token, "Flash", "FLASH-1", 2500, PAY_UNITS)
        .await?;
    // Buyers with saved cards, a few at a time (localstripe is one process).
    let mut buyers = Vec::with_capacity(PAY_BUYERS);
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut made = Vec::new();
    for _ in 0..PAY_BUYERS {
        let (client, api_base, gate) = (client.clone(), server.base.clone(), gate.clone());
        made.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.ok()?;
            let viewer: Value = client
                .post(format!("{api_base}/api/v1/viewers"))
                .json(&json!({}))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let token = viewer["token"].as_str()?.to_string();
            let saved = client
                .put(format!("{api_base}/api/v1/viewers/me/payment-method"))
                .bearer_auth(&token)
                .json(
                    &json!({"email": "buyer@example.com", "payment_method": "pm_card_visa",
                    "shipping": {"name": "Ada Lovelace", "line1": "12 St James's Square",
                                 "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}}),
                )
                .send()
                .await
                .ok()?;
            saved.status().is_success().then_some(token)
        }));
    }
    for m in made {
        if let Some(token) = m.await? {
            buyers.push(token);
        }
    }
    let start = Arc::new(Barrier::new(buyers.len() + 1));
    let mut tasks = Vec::new();
    for (i, buyer) in buyers.iter().cloned().enumerate() {
        let (start, url) = (start.clone(), api(&format!("/shows/{show_id}/orders")));
        let body = json!({"product_id": product_id, "quantity": 1, "idempotency_key": format!("bench-{i}")});
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let t = Instant::now();
            // The status and the body, refusals included (sold out is expected).
            let answer = async {
                let res = client
                    .post(url)
                    .bearer_auth(buyer)
                    .json(&body)
                    .send()
                    .await
                    .ok()?;
                let status = res.status().as_u16();
                Some((status, res.json::<Value>().await.unwrap_or(Value::Null)))
            }
            .await;
            (t.elapsed(), answer)
        }));
    }
    start.wait().await;
    let began = Instant::now();
    let cpu = crate::machine::CpuTimes::now();
    let mut latencies = Vec::new();
    let (mut paid, mut sold_out, mut other) = (0i64, 0usize, 0usize);
    for task in tasks {
        let (took, answer) = task.await?;
        latencies.push(took.as_secs_f64() * 1000.0);
        match answer {
            Some((201, order)) if order["status"] == "paid" => paid += 1,
            Some((409, e)) if e["error"]["code"] == "sold_out" => sold_out += 1,
            _ => other += 1,
        }
    }
    let elapsed = began.elapsed();
    let steal_pct = cpu.steal_pct_since();
    latencies.sort_by(f64::total_cmp);
    let view: Value = client
        .get(api(&format!("/shows/{show_id}")))
        .send()
        .await?
        .json()
        .await?;
    let figures = view["products"][0].clone();
    let sold = figures["sold"].as_i64().unwrap_or(-1);
    Ok(json!({
        "buyers": buyers.len(),
        "units": PAY_UNITS,
        "paid": paid,
        "sold_out": sold_out,
        "other": other,
        "orders_per_s": paid as f64 / elapsed.as_secs_f64(),
        "p50_ms": crate::percentile(&latencies, 50.0),
        "p99_ms": crate::percentile(&latencies, 99.0),
        "oversold": (sold - PAY_UNITS).max(0),
        "steal_pct": steal_pct,
        "figures_add_up": sold == paid && figures["available"].as_i64() == Some(PAY_UNITS - paid),
    }))
}

/// A localstripe of one whole-path run's own. localstripe slows down as it
/// fills up (it scans what it holds), so runs that share one measure the
/// order they ran in: each run gets a fresh one. Stopped when dropped.
struct FreshStripe {
    child: std::process::Child,
    url: String,
}

impl FreshStripe {
    /// `None` without the venv `scripts/` makes (then the shared one is used).
    async fn start() -> Result<Option<FreshStripe>, Error> {
        let root = crate::root();
        let python = root.join(".dev/venv/bin/python");
        if !python.exists() {
            return Ok(None);
        }
        let port = crate::server::free_port()?;
        let child = std::process::Command::new(python)
            .arg(root.join("scripts/localstripe_server.py"))
            .args(["--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stripe = FreshStripe {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let up = client
                .get(format!("{}/v1/customers", stripe.url))
                .basic_auth("sk_test_bench", Some(""))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return Ok(Some(stripe));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("a fresh localstripe did not answer".into())
    }
}

impl Drop for FreshStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The database URL for run `i` (a fresh SQLite file each; PostgreSQL's one
/// database, a fresh show and product each).
type DatabaseUrl = Box<dyn Fn(usize) -> String>;

fn summarize(runs: &[Value]) -> Value {
    let pick = |key: &str| crate::median(runs.iter().filter_map(|r| r[key].as_f64()).collect());
    json!({
        "orders_per_s": pick("orders_per_s"),
        "p50_ms": pick("p50_ms"),
        "steal_pct": pick("steal_pct"),
        "p99_ms": pick("p99_ms"),
        "oversold_total": runs.iter().filter_map(|r| r["oversold"].as_i64()).sum::<i64>(),
        "all_add_up": runs.iter().all(|r| r["figures_add_up"] == true),
        "runs": runs,
    })
}

/// `dropcast-bench checkout [--runs N] [--db sqlite|postgres]`; PostgreSQL
/// from `DROPCAST_BENCH_PG_URL`, localstripe from `DROPCAST_BENCH_STRIPE_URL`
/// (scripts/bench.sh starts both). `--db` measures one database only (for
/// profiling one); the report then has only that one.
pub async fn run(runs: usize, only: Option<&str>) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let pg = std::env::var("DROPCAST_BENCH_PG_URL").ok();
    let stripe = std::env::var("DROPCAST_BENCH_STRIPE_URL").ok();
    let mut databases: Vec<(&str, DatabaseUrl)> = vec![(
        "sqlite",
        Box::new({
            let dir = dir.path().to_path_buf();
            move |i| format!("sqlite://{}/bench-{i}.db", dir.display())
        }),
    )];
    if let Some(pg) = pg.clone() {
        databases.push(("postgres", Box::new(move |_| pg.clone())));
    }
    let mut result = json!({
        "machine": crate::machine::describe(),
        "hold_buyers": HOLD_BUYERS, "hold_units": HOLD_UNITS,
        "pay_buyers": PAY_BUYERS, "pay_units": PAY_UNITS,
        "postgres": pg.is_some(), "localstripe": stripe.is_some(),
    });
    databases.retain(|(name, _)| only.is_none_or(|only| only == *name));
    for (name, url) in &databases {
        let mut hold = Vec::new();
        for i in 0..runs {
            let r = hold_once(&url(i)).await?;
            eprintln!("hold path, {name}: {r}");
            hold.push(r);
        }
        result[format!("hold_{name}")] = summarize(&hold);
        if let Some(stripe) = &stripe {
            let mut pay = Vec::new();
            for i in 0..runs.min(3) {
                let fresh = FreshStripe::start().await?;
                let stripe = fresh.as_ref().map_or(stripe.as_str(), |f| f.url.as_str());
                let r = pay_once(&url(runs + i), stripe).await?;
                eprintln!("whole path, {name}: {r}");
                pay.push(r);
            }
            result[format!("pay_{name}")] = summarize(&pay);
        }
    }
    crate::save("checkout", &result)
}
