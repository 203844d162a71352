//! A release `dropcast serve` of the benchmarks' own: fresh data directory,
//! free ports, a known admin token; and the HTTP calls they make to it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

/// With `DROPCAST_BENCH_SPLIT=SERVER_CPUS/LOAD_CPUS` (taskset lists, e.g.
/// `0/1`), the server and the load generators run on separate cores.
pub(crate) fn split_cores() -> Option<(String, String)> {
    let v = std::env::var("DROPCAST_BENCH_SPLIT").ok()?;
    let (a, b) = v.split_once('/')?;
    Some((a.to_string(), b.to_string()))
}

/// The resident set of `pid`, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub(crate) fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A `dropcast serve` of our own, stopped on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    pub(crate) port: u16,
    pub(crate) admin: String,
    client: reqwest::Client,
    /// Where it takes RTMP (the ingest bench publishes there).
    pub(crate) rtmp_port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start() -> Result<Server, Error> {
        Server::start_with(&[]).await
    }

    /// Starts one with extra environment (a database, Stripe).
    pub(crate) async fn start_with(extra: &[(&str, &str)]) -> Result<Server, Error> {
        let bin = crate::root().join("target/release/dropcast");
        if !bin.exists() {
            return Err("no target/release/dropcast: run scripts/bench.sh".into());
        }
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let rtmp_port = free_port()?;
        let admin = format!("bench-admin-{}", crate::fanout::now_us());
        let split = split_cores();
        let mut command = match &split {
            Some((server, _)) => {
                let mut c = Command::new("taskset");
                c.args(["-c", server]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = command
            .arg("serve")
            .env("DROPCAST_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("DROPCAST_DATA_DIR", dir.path())
            .env("DROPCAST_ADMIN_TOKEN", &admin)
            .env("DROPCAST_RTMP_ADDR", format!("127.0.0.1:{rtmp_port}"))
            .env("DROPCAST_SRT_ADDR", format!("127.0.0.1:{}", free_port()?))
            .env("RUST_LOG", "warn")
            // The load comes from this machine's one address: a crowd, not abuse.
            .env("DROPCAST_RATE_LIMITS", "off")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Server {
                    child,
                    base,
                    port,
                    admin,
                    client,
                    rtmp_port,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("dropcast did not answer /healthz".into())
    }
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `METHOD /api/v1{path}` with `token`; the JSON answer, or an error
    /// naming the status.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> Result<Value, Error> {
        let res = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = res.status();
        let json: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{status}: {json}").into());
        }
        Ok(json)
    }

    /// `POST /api/v1{path}` with `token`.
    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Result<Value, Error> {
        self.call(reqwest::Method::POST, path, token, body).await
    }

    /// A new creator's token.
    pub(crate) async fn creator(&self) -> Result<String, Error> {
        let made = self
            .post("/creators", &self.admin, json!({"name": "Bench"}))
            .await?;
        Ok(made["token"].as_str().unwrap_or_default().to_string())
    }

    /// A show titled `title` with one product (`sku`, `price_cents` in usd,
    /// `stock` units), made with the creator's `token`: (show id, product id).
    pub(crate) async fn show_with_product(
        &self,
        token: &str,
        title: &str,
        sku: &str,
        price_cents: i64,
        stock: i64,
    ) -> Result<(String, String), Error> {
        let show = self.post("/shows", token, json!({"title": title})).await?;
        let show_id = show["id"].as_str().unwrap_or_default().to_string();
        let product = self
            .post(
                &format!("/shows/{show_id}/products"),
                token,
                json!({"sku": sku, "title": title, "price_cents": price_cents, "currency": "usd", "stock": stock}),
            )
            .await?;
        let product_id = product["id"].as_str().unwrap_or_default().to_string();
        Ok((show_id, product_id))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
