//! Test harness: a real server on a free port with a fresh database.
//!
//! `spawn_app(Db::Sqlite)` gives each test its own SQLite file in a temp dir;
//! `spawn_app(Db::Postgres)` creates a fresh database on the PostgreSQL server
//! named by `DROPCAST_TEST_PG_URL` (the test command starts one). Tests are
//! written once as `async fn name(db: Db)` and run on both by [`db_tests!`].

use std::time::Duration;

use dropcast::configuration::{LiveSettings, Settings};
use dropcast::startup::Application;
use dropcast::state::AppState;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use tokio_tungstenite::tungstenite::Message;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const WEBHOOK_SECRET: &str = "whsec_dropcast_tests";
pub const STRIPE_KEY: &str = "sk_test_dropcast";

/// Cards localstripe knows (see shared/FIELD-NOTES.md).
pub const CARD_OK: &str = "4242424242424242";
/// Two more cards that pay, for buyers who must not share a card.
pub const CARD_OK_2: &str = "5555555555554444";
pub const CARD_OK_3: &str = "4000056655665556";
/// Attaches fine, every charge is declined.
pub const CARD_CHARGE_DECLINED: &str = "4000000000000341";
/// Needs 3-D Secure: the intent stops in `requires_action`.
pub const CARD_3DS: &str = "4000002760003184";

/// The localstripe the test command started.
pub fn stripe_url() -> String {
    std::env::var("DROPCAST_TEST_STRIPE_URL").expect(
        "payment tests need DROPCAST_TEST_STRIPE_URL; `scripts/test.sh` starts localstripe and sets it",
    )
}

/// Settings adjustment: Stripe through the test localstripe.
pub fn with_stripe(settings: &mut Settings) {
    settings.stripe = Some(dropcast::payments::StripeSettings {
        secret_key: STRIPE_KEY.into(),
        publishable_key: Some("pk_test_dropcast".into()),
        api_base: format!("{}/", stripe_url()),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        js_url: format!("{}/js.stripe.com/v3/", stripe_url()),
    });
}

/// A free port on loopback (free when asked: the caller binds it soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills a test's private server process and waits for it to be gone.
async fn stop_child(child: &mut Option<tokio::process::Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// Waits (up to 10 s) until something takes connections on `port`.
pub async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not take connections");
}

/// A localstripe of the test's own, which it can stop and start again on
/// the same port (an outage of Stripe); its state survives in a file, as
/// Stripe's would. `scripts/test.sh` installs it in `.dev/venv`.
pub struct PrivateStripe {
    pub url: String,
    port: u16,
    state: std::path::PathBuf,
    child: Option<tokio::process::Child>,
    _dir: tempfile::TempDir,
}

impl PrivateStripe {
    pub async fn start() -> PrivateStripe {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut stripe = PrivateStripe {
            url: format!("http://127.0.0.1:{port}"),
            port,
            state: dir.path().join("localstripe.state"),
            child: None,
            _dir: dir,
        };
        stripe.resume().await;
        stripe
    }

    /// Stops it: calls to it are refused until [`PrivateStripe::resume`].
    pub async fn stop(&mut self) {
        stop_child(&mut self.child).await;
    }

    /// Starts it (again) with the state it had, and waits until it answers.
    pub async fn resume(&mut self) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let python = format!("{root}/.dev/venv/bin/python");
        let child = tokio::process::Command::new(&python)
            .arg(format!("{root}/scripts/localstripe_server.py"))
            .args(["--port", &self.port.to_string()])
            .arg("--state")
            .arg(&self.state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{python} starts localstripe ({e}); run scripts/test.sh"));
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let answered = client
                .get(format!("{}/v1/customers", self.url))
                .basic_auth(STRIPE_KEY, Some(""))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the private localstripe did not answer");
    }
}

/// A Redis of the test's own (Debian's `redis-server`, which
/// `scripts/test.sh` installs), on a free port, that it can stop and start
/// again on the same port (an outage). Nothing is saved to disk: a restart
/// comes back empty, as a Redis used only for fan-out may.
pub struct PrivateRedis {
    pub url: String,
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        loop {
            let port = free_port();
            let mut redis = PrivateRedis {
                url: format!("redis://127.0.0.1:{port}"),
                port,
                child: None,
            };
            if redis.try_start().await {
                return redis;
            }
        }
    }

    /// Kills it: connections are refused until [`PrivateRedis::resume`].
    pub async fn stop(&mut self) {
        stop_child(&mut self.child).await;
    }

    /// Starts it again on its port and waits until it takes connections.
    pub async fn resume(&mut self) {
        assert!(
            self.try_start().await,
            "redis-server did not come back on its port"
        );
    }

    /// Starts redis-server on the port; false if the port turned out to be
    /// taken (tests run in parallel: another test's Redis may answer there).
    async fn try_start(&mut self) -> bool {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server starts ({e}); run scripts/test.sh"));
        let pid = child.id();
        self.child = Some(child);
        wait_for_port(self.port, "redis-server").await;
        if redis_pid(self.port).await == pid {
            return true;
        }
        self.stop().await;
        false
    }
}

/// The process id of the Redis answering on `port` (Debian's redis-cli).
async fn redis_pid(port: u16) -> Option<u32> {
    for _ in 0..100 {
        let out = tokio::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "INFO", "server"])
            .output()
            .await
            .ok()?;
        let pid = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|p| p.trim().parse().ok());
        if pid.is_some() {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Nodes of one cluster: one fresh PostgreSQL database, one Redis, each node
/// with its own data dir, HTTP, RTMP and SRT listeners and node id.
pub struct TestCluster {
    pub nodes: Vec<TestApp>,
    pub redis: PrivateRedis,
}

/// Starts `n` nodes (`node-a`, `node-b`, …), each adjusted by `adjust`.
pub async fn spawn_cluster(n: usize, adjust: impl Fn(&mut Settings)) -> TestCluster {
    let redis = PrivateRedis::start().await;
    let first_dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(Db::Postgres, first_dir.path()).await;
    let mut nodes = Vec::new();
    let mut first_dir = Some(first_dir);
    for i in 0..n {
        let dir = first_dir
            .take()
            .unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let name = format!("node-{}", (b'a' + i as u8) as char);
        let url = redis.url.clone();
        // Addresses as an operator writes them (the internal URL with a
        // trailing slash), not left to the defaults.
        let port = free_port();
        nodes.push(
            spawn_app_on(Db::Postgres, database_url.clone(), dir, |s| {
                s.redis_url = Some(url);
                s.node_id = Some(name);
                s.http_addr = ([127, 0, 0, 1], port).into();
                s.internal_url = Some(format!("http://127.0.0.1:{port}/").parse().unwrap());
                adjust(s);
            })
            .await,
        );
    }
    TestCluster { nodes, redis }
}

/// A real SMTP server of the test's own (aiosmtpd, from PyPI, run by
/// `tests/smtp_sink.py`), which it can stop and start again on the same
/// port (an outage). Each message it accepts is a JSON file in its dir,
/// parsed as a mail client would (subject, Reply-To, plain text, HTML).
pub struct SmtpSink {
    pub url: String,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let port = free_port();
        let mut sink = SmtpSink {
            url: format!("smtp://127.0.0.1:{port}"),
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        sink.resume().await;
        sink
    }

    /// Stops it: connections are refused until [`SmtpSink::resume`].
    pub async fn stop(&mut self) {
        stop_child(&mut self.child).await;
    }

    /// Starts it (again) and waits until it takes connections.
    pub async fn resume(&mut self) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let python = format!("{root}/.dev/venv/bin/python");
        let child = tokio::process::Command::new(&python)
            .arg(format!("{root}/tests/smtp_sink.py"))
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{python} starts aiosmtpd ({e}); run scripts/test.sh"));
        self.child = Some(child);
        wait_for_port(self.port, "the SMTP sink").await;
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Messages whose subject contains `needle`, once there are at least
    /// `n` of them (waiting up to `within`); whatever there is then.
    pub async fn wait_for(&self, needle: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let found: Vec<Value> = self
                .messages()
                .into_iter()
                .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(needle)))
                .collect();
            if found.len() >= n || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A Web Push service of the test's own (`tests/push_service.py`): it makes
/// subscriptions as a browser would (keys it keeps), and takes the server's
/// pushes only with a valid VAPID token, decrypting each with the
/// subscription's private key.
pub struct PushService {
    pub base: String,
    client: reqwest::Client,
    _child: tokio::process::Child,
}

impl PushService {
    pub async fn start() -> PushService {
        let port = free_port();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let python = format!("{root}/.dev/venv/bin/python");
        let child = tokio::process::Command::new(&python)
            .arg(format!("{root}/tests/push_service.py"))
            .args(["--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{python} runs the push service ({e}); run scripts/test.sh")
            });
        wait_for_port(port, "the push service").await;
        PushService {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _child: child,
        }
    }

    async fn call(&self, method: Method, path: &str) -> Value {
        let res = self
            .client
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .expect("the push service answers");
        res.json().await.unwrap_or(Value::Null)
    }

    /// A browser's new subscription (`PushSubscription.toJSON()`).
    pub async fn subscribe(&self) -> Value {
        self.call(Method::POST, "/subscribe").await
    }

    /// Every push it took, oldest first.
    pub async fn messages(&self) -> Vec<Value> {
        self.call(Method::GET, "/messages")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Every push it refused, and why.
    pub async fn refused(&self) -> Vec<Value> {
        self.call(Method::GET, "/refused")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The subscription's browser unsubscribed: it answers 410 from now on.
    pub async fn forget(&self, subscription: &Value) {
        let endpoint = subscription["endpoint"].as_str().unwrap();
        let id = endpoint.rsplit('/').next().unwrap();
        self.call(Method::POST, &format!("/gone/{id}")).await;
    }

    /// Pushes whose payload body contains `needle`, once there are at least
    /// `n` (waiting up to `within`); whatever there is then.
    pub async fn wait_for(&self, needle: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let found: Vec<Value> = self
                .messages()
                .await
                .into_iter()
                .filter(|m| {
                    m["payload"]["body"]
                        .as_str()
                        .is_some_and(|b| b.contains(needle))
                })
                .collect();
            if found.len() >= n || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The id a push service gave a subscription (the last part of its endpoint).
pub fn push_id(subscription: &Value) -> String {
    subscription["endpoint"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// The address test buyers ship to.
pub fn london() -> Value {
    json!({"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
           "postal_code": "SW1Y 4JH", "country": "GB"})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Db)` as two tests, `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Db::Postgres).await
                }
            }
        )*
    };
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: Db,
    pub database_url: String,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    /// Keeps the data dir (and the SQLite file) alive for the test.
    pub data_dir: tempfile::TempDir,
}

/// Live-channel timings short enough for tests to observe.
pub fn test_live_settings() -> LiveSettings {
    LiveSettings {
        heartbeat_interval: Duration::from_millis(300),
        client_timeout: Duration::from_secs(20),
        send_timeout: Duration::from_secs(10),
        broadcast_capacity: 256,
        stock_min_interval: Duration::from_millis(50),
        viewers_interval: Duration::from_millis(100),
        room_idle: Duration::from_secs(30),
    }
}

/// A fresh, empty database URL of the given kind, in `data_dir` for SQLite.
pub async fn fresh_database(db: Db, data_dir: &std::path::Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}/dropcast.db", data_dir.display()),
        Db::Postgres => {
            let base = std::env::var("DROPCAST_TEST_PG_URL").expect(
                "PostgreSQL tests need DROPCAST_TEST_PG_URL (postgres://user@host:port); \
                 `scripts/test.sh` starts a private PostgreSQL and sets it",
            );
            let base = base.trim_end_matches('/').to_string();
            sqlx::any::install_default_drivers();
            let mut admin = sqlx::AnyConnection::connect(&format!("{base}/postgres"))
                .await
                .expect("connect to the test PostgreSQL");
            let name = format!("dropcast_test_{}", uuid_like());
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .expect("create a test database");
            let _ = admin.close().await;
            format!("{base}/{name}")
        }
    }
}

/// A fresh random name (files, databases).
pub fn fresh_name() -> String {
    uuid_like()
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Spawns the app after letting the test adjust its settings.
pub async fn spawn_app_with(db: Db, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(db, data_dir.path()).await;
    spawn_app_on(db, database_url, data_dir, adjust).await
}

/// Spawns the app on an existing database (for restarts and the CLI test).
pub async fn spawn_app_on(
    db: Db,
    database_url: String,
    data_dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    // Server logs, captured per test and shown when it fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .with_test_writer()
        .try_init();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let dir = data_dir.path().display().to_string();
    let url = database_url.clone();
    let mut settings = Settings::from_lookup(|name| match name {
        "DROPCAST_HTTP_ADDR" => Some("127.0.0.1:0".into()),
        "DROPCAST_DATA_DIR" => Some(dir.clone()),
        "DATABASE_URL" => Some(url.clone()),
        "DROPCAST_ADMIN_TOKEN" => Some(ADMIN_TOKEN.into()),
        "DROPCAST_HTTP_WORKERS" => Some("2".into()),
        "DROPCAST_RTMP_ADDR" | "DROPCAST_SRT_ADDR" => Some("127.0.0.1:0".into()),
        // Most tests push recorded streams faster than live, to be quick;
        // the flood test turns the pace check back on.
        "DROPCAST_INGEST_MAX_AHEAD_SECONDS" => Some("0".into()),
        _ => None,
    })
    .expect("test settings");
    settings.live = test_live_settings();
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db,
        database_url,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(32)
            .build()
            .unwrap(),
        state,
        data_dir,
    }
}

/// A JSON answer: status and body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer: {:?}",
            self.body
        );
        self.body
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `GET /metrics` (open in tests: no metrics token is set), as text.
    pub async fn metrics(&self) -> String {
        let res = self.client.get(self.url("/metrics")).send().await.unwrap();
        res.text().await.unwrap()
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path)
    }

    /// Sends a request with an optional bearer token and raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.body(body).send().await.expect("request sent");
        let status = res.status();
        let bytes = res.bytes().await.unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        match body {
            Some(body) => {
                self.raw(
                    method,
                    path,
                    token,
                    Some("application/json"),
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
            }
            None => self.raw(method, path, token, None, Vec::new()).await,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// A new creator; returns `(id, token)`.
    pub async fn creator(&self, name: &str) -> (String, String) {
        let body = self
            .post(
                "/api/v1/creators",
                Some(ADMIN_TOKEN),
                json!({ "name": name }),
            )
            .await
            .expect(201);
        (
            body["id"].as_str().unwrap().to_string(),
            body["token"].as_str().unwrap().to_string(),
        )
    }

    /// A new show of the creator with `token`; returns the creation answer.
    pub async fn show(&self, token: &str, title: &str) -> Value {
        self.post("/api/v1/shows", Some(token), json!({ "title": title }))
            .await
            .expect(201)
    }

    pub async fn product(&self, token: &str, show_id: &str, sku: &str, stock: i64) -> Value {
        self.post(
            &format!("/api/v1/shows/{show_id}/products"),
            Some(token),
            json!({"sku": sku, "title": format!("Product {sku}"), "price_cents": 2500,
                   "currency": "usd", "stock": stock}),
        )
        .await
        .expect(201)
    }

    /// A creator with a show holding one product of `stock` units:
    /// `(creator token, show id, product id)`.
    pub async fn creator_show_product(&self, stock: i64) -> (String, String, String) {
        let (_, token) = self.creator("Ada").await;
        let show = self.show(&token, "Launch night").await;
        let show_id = show["id"].as_str().unwrap().to_string();
        let product = self.product(&token, &show_id, "TEE-1", stock).await;
        (token, show_id, product["id"].as_str().unwrap().to_string())
    }

    /// The show's RTMP ingest URL (with its stream key), as the creator sees it.
    pub async fn rtmp_url(&self, token: &str, show_id: &str) -> String {
        let show = self
            .get(&format!("/api/v1/shows/{show_id}"), Some(token))
            .await
            .expect(200);
        show["ingest"]["rtmp"].as_str().unwrap().to_string()
    }

    /// A call straight to localstripe, as Stripe.js or the bank would make it.
    pub async fn stripe(&self, method: Method, path: &str, form: &[(&str, &str)]) -> Value {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let res = self
            .client
            .request(method, format!("{}{path}", stripe_url()))
            .basic_auth(STRIPE_KEY, Some(""))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("localstripe answers");
        let bytes = res.bytes().await.expect("localstripe answers");
        // Its `/_config` routes answer with an empty body.
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// A card PaymentMethod, made the way Stripe.js makes one.
    pub async fn payment_method(&self, number: &str) -> String {
        let pm = self
            .stripe(
                Method::POST,
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2031"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        pm["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no payment method: {pm}"))
            .to_string()
    }

    /// A viewer who saved the card `number` under an email of their own;
    /// returns the viewer token.
    pub async fn buyer(&self, number: &str) -> String {
        self.buyer_with(number, &format!("buyer-{}@example.com", fresh_name()))
            .await
    }

    /// A viewer who saved the card `number` with `email`, and the London
    /// address for parcels (test products ship unless made digital).
    pub async fn buyer_with(&self, number: &str, email: &str) -> String {
        let token = self.viewer().await;
        let pm = self.payment_method(number).await;
        let saved = self
            .put(
                "/api/v1/viewers/me/payment-method",
                Some(&token),
                json!({"email": email, "payment_method": pm, "shipping": london()}),
            )
            .await
            .expect(200);
        assert_eq!(saved["card"]["last4"], &number[number.len() - 4..]);
        token
    }

    /// Places an order; returns the raw answer.
    pub async fn order(
        &self,
        buyer: &str,
        show_id: &str,
        product_id: &str,
        quantity: i64,
        key: &str,
    ) -> Answer {
        self.post(
            &format!("/api/v1/shows/{show_id}/orders"),
            Some(buyer),
            json!({"product_id": product_id, "quantity": quantity, "idempotency_key": key}),
        )
        .await
    }

    /// `(available, held, sold)` of a product, from the database.
    pub async fn stock(&self, product_id: &str) -> (i64, i64, i64) {
        sqlx::query_as("SELECT available, held, sold FROM products WHERE id = $1")
            .bind(product_id)
            .fetch_one(&self.state.pool)
            .await
            .unwrap()
    }

    pub async fn viewer(&self) -> String {
        let body = self
            .post("/api/v1/viewers", None, json!({}))
            .await
            .expect(201);
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn editor(&self, creator_token: &str, show_id: &str) -> String {
        let body = self
            .post(
                &format!("/api/v1/shows/{show_id}/editors"),
                Some(creator_token),
                json!({}),
            )
            .await
            .expect(201);
        body["token"].as_str().unwrap().to_string()
    }

    /// Every product satisfies `available + held + sold == stock_total`, `available >= 0`.
    pub async fn assert_stock_invariant(&self) {
        let rows: Vec<(String, i64, i64, i64, i64)> =
            sqlx::query_as("SELECT id, available, held, sold, stock_total FROM products")
                .fetch_all(&self.state.pool)
                .await
                .unwrap();
        for (id, available, held, sold, total) in rows {
            assert!(available >= 0, "{id}: available {available}");
            assert_eq!(available + held + sold, total, "{id}: invariant broken");
        }
    }

    /// Row counts of every table and the show's view as its owner sees it:
    /// what a refused request must leave unchanged.
    pub async fn fingerprint(&self, show_id: &str, owner_token: &str) -> (Vec<i64>, Value) {
        let mut counts = Vec::new();
        for table in [
            "creators",
            "tokens",
            "shows",
            "products",
            "countdowns",
            "viewers",
        ] {
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&self.state.pool)
                    .await
                    .unwrap();
            counts.push(n);
        }
        let view = self
            .get(&format!("/api/v1/shows/{show_id}"), Some(owner_token))
            .await
            .expect(200);
        (counts, view)
    }

    /// Opens the show's live socket.
    pub async fn live(&self, show_id: &str) -> Live {
        let (ws, _) =
            tokio_tungstenite::connect_async(self.ws_url(&format!("/api/v1/shows/{show_id}/live")))
                .await
                .expect("websocket connects");
        Live { ws }
    }
}

/// A live-channel client.
pub struct Live {
    pub ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Live {
    /// The next JSON frame, or `None` when the socket closed; panics after 10 s.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a frame within the time limit")
    }

    /// `Err(())` on time-out, `Ok(None)` on close.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Option<Value>, ()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| ())?;
            match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(text))) => {
                    return Ok(Some(serde_json::from_str(&text).expect("frames are JSON")));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads frames until one of `kind` arrives; returns it and the frames skipped.
    pub async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let frame = self
                .next()
                .await
                .unwrap_or_else(|| panic!("socket closed before a {kind} frame; got {skipped:?}"));
            if frame["type"] == kind {
                return (frame, skipped);
            }
            skipped.push(frame);
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }
}

/// Polls `check` for up to a minute: a deadline, generous because the tests
/// share two cores with ffmpeg encoders, not a measure of speed.
pub async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..1200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A rush's answers counted: `(paid, sold out)`; any other answer fails the test.
pub fn rush_outcome(answers: &[Answer]) -> (usize, usize) {
    let paid = |a: &Answer| a.status == 201 && a.body["status"] == "paid";
    let other: Vec<_> = answers
        .iter()
        .filter(|a| !paid(a) && a.code() != "sold_out")
        .map(|a| (a.status.as_u16(), a.body.clone()))
        .collect();
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    (
        answers.iter().filter(|a| paid(a)).count(),
        answers.iter().filter(|a| a.code() == "sold_out").count(),
    )
}

/// Units of the product in paid orders, from the database.
pub async fn paid_units(app: &TestApp, product_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(CAST(SUM(quantity) AS BIGINT), 0) FROM orders WHERE product_id = $1 AND status = 'paid'",
    )
    .bind(product_id)
    .fetch_one(&app.state.pool)
    .await
    .unwrap()
}

/// Intents at localstripe whose metadata names `order_id`.
pub async fn intents_for(app: &TestApp, order_id: &str) -> Vec<Value> {
    all_intents(app)
        .await
        .into_iter()
        .filter(|i| i["metadata"]["order_id"] == order_id)
        .collect()
}

/// Every intent at localstripe, page by page.
pub async fn all_intents(app: &TestApp) -> Vec<Value> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = "/v1/payment_intents?limit=100".to_string();
        if let Some(a) = &after {
            path.push_str(&format!("&starting_after={a}"));
        }
        let page = app.stripe(Method::GET, &path, &[]).await;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|i| i["id"].as_str())
            .map(str::to_string);
        found.extend(data);
        if page["has_more"] != true {
            return found;
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// ffmpeg publishing `seconds` of 640x360 test pattern and tone to `url`
/// (RTMP as FLV, SRT as MPEG-TS) the way OBS does by default: x264 with
/// B-frames, a 2 s GOP, AAC. `realtime` paces it like a camera (`-re`);
/// otherwise it pushes as fast as it encodes. Whether ffmpeg succeeded.
pub async fn publish(url: &str, seconds: u32, realtime: bool) -> bool {
    publish_gop(url, seconds, 60, realtime).await
}

/// As [`publish`] with a keyframe every `gop` frames (OBS's own x264
/// default, in Simple output mode, is 250: 8.3 s at 30 fps).
pub async fn publish_gop(url: &str, seconds: u32, gop: u32, realtime: bool) -> bool {
    let gop = gop.to_string();
    let format = if url.starts_with("srt:") {
        "mpegts"
    } else {
        "flv"
    };
    let url = if url.starts_with("srt:") {
        format!("{url}&mode=caller&pkt_size=1316")
    } else {
        url.to_string()
    };
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
    if realtime {
        cmd.arg("-re");
    }
    cmd.args([
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size=640x360:rate=30:duration={seconds}"),
    ])
    .args([
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:duration={seconds}"),
    ])
    .args([
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    ])
    .args(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0"])
    .args(["-c:a", "aac", "-b:a", "96k", "-f", format, &url])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    cmd.status().await.expect("ffmpeg runs").success()
}
