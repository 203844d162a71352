//! Scale-out: live fan-out over several nodes, the Redis hop on its own,
//! and the checkout hold path taken by several nodes at once.
//!
//! ```text
//!  dropcast-bench cluster (coordinator)
//!    ├─ starts redis-server (private port) and, on the PostgreSQL of
//!    │    DROPCAST_BENCH_PG_URL, 1 or 3 release `dropcast serve` nodes
//!    │    (1 node: no Redis; 3 nodes: REDIS_URL, ids bench-n0‥2)
//!    ├─ a creator, show and product through node 0
//!    ├─ load generators (`dropcast-bench fanout-client`), each opening its
//!    │    share of one node's sockets
//!    └─ per run: arms the generators, restocks one unit through node 0,
//!         collects every socket's arrival stamp, by node
//! ```
//!
//! Node 0 commits the change and sends it to its own sockets; it reaches
//! nodes 1 and 2 through Redis. The figures are the arrival times from just
//! before the PATCH, over all sockets and per node (origin vs the others).
//! The one-node figure runs on the same PostgreSQL with N/3 sockets: what
//! the issue's goal compares against.
//!
//! The Redis hop alone: one bus publishes timestamped messages one at a
//! time (1 ms apart), another hears them; the delay is publish to delivery.
//!
//! The hold path across nodes: the checkout bench's K buyers for S units,
//! with the buyers spread over 1 or 3 pools (one per node, as each node has
//! its own), each naming its node as the owner.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fanout::{FIRST_STOCK, PER_GENERATOR, Piped, SOURCES, file_limit, now_us};
use crate::server::{Server, free_port};

type Error = Box<dyn std::error::Error>;

/// A redis-server of the benchmark's own, stopped on drop.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    async fn start() -> Result<Redis, Error> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--maxclients", "1000"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server (Debian's redis-server package): {e}"))?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Redis {
                    child,
                    url: format!("redis://127.0.0.1:{port}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("redis-server did not listen".into())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` nodes on `pg_url` (and Redis when more than one).
async fn nodes(n: usize, pg_url: &str, redis: Option<&Redis>) -> Result<Vec<Server>, Error> {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("bench-n{i}-{}", now_us());
        let mut env = vec![("DATABASE_URL", pg_url), ("DROPCAST_NODE_ID", id.as_str())];
        if let Some(redis) = redis {
            env.push(("REDIS_URL", redis.url.as_str()));
        }
        nodes.push(Server::start_with(&env).await?);
    }
    Ok(nodes)
}

/// One figure: `per_node` sockets on each of `n` nodes, `runs` changes.
async fn fanout(n: usize, per_node: usize, runs: usize, pg_url: &str) -> Result<Value, Error> {
    let redis = if n > 1 {
        Some(Redis::start().await?)
    } else {
        None
    };
    let servers = nodes(n, pg_url, redis.as_ref()).await?;
    let origin = &servers[0];
    let token = origin.creator().await?;
    let (show, product) = origin
        .show_with_product(&token, "Fan-out", "FAN-C", 100, FIRST_STOCK)
        .await?;
    let path = format!("/shows/{show}/products/{product}");

    let started = Instant::now();
    // (node, generator)
    let mut generators: Vec<(usize, Piped)> = Vec::new();
    let mut source = 2u8;
    for (node, server) in servers.iter().enumerate() {
        let url = format!("ws://127.0.0.1:{}/api/v1/shows/{show}/live", server.port);
        let mut left = per_node;
        while left > 0 {
            let k = left.min(PER_GENERATOR);
            generators.push((node, Piped::generator(&url, k, source)?));
            source = source.wrapping_add(SOURCES);
            left -= k;
        }
    }
    let mut open = 0usize;
    for (_, g) in &generators {
        let ready = g.expect("ready", Duration::from_secs(300))?;
        open += ready
            .trim_start_matches("ready ")
            .trim()
            .parse::<usize>()
            .unwrap_or(0);
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut available = FIRST_STOCK;
    let mut per_run = Vec::new();
    let cpu = crate::machine::CpuTimes::now();
    for run in 0..=runs {
        available += 1;
        for (_, g) in &mut generators {
            g.say(&format!("go {available}"))?;
        }
        for (_, g) in &generators {
            g.expect("armed", Duration::from_secs(10))?;
        }
        let t0 = now_us();
        origin
            .call(
                reqwest::Method::PATCH,
                &path,
                &token,
                json!({"add_stock": 1}),
            )
            .await?;
        let mut by_node: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut missing = 0usize;
        for (node, g) in &generators {
            let (missed, at) = g.arrivals(t0)?;
            missing += missed;
            by_node[*node].extend(at);
        }
        let figures = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            json!({
                "p50_ms": crate::percentile(v, 50.0),
                "p99_ms": crate::percentile(v, 99.0),
                "min_ms": v.first().copied().unwrap_or(f64::NAN),
                "max_ms": v.last().copied().unwrap_or(f64::NAN),
                "received": v.len(),
            })
        };
        let mut all: Vec<f64> = by_node.iter().flatten().copied().collect();
        let mut row = figures(&mut all);
        row["missing"] = json!(missing);
        row["origin"] = figures(&mut by_node[0]);
        if n > 1 {
            let mut others: Vec<f64> = by_node[1..].iter().flatten().copied().collect();
            row["others"] = figures(&mut others);
        }
        if run > 0 {
            per_run.push(row);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let steal_pct = cpu.steal_pct_since();
    let pick = |path: &[&str]| {
        crate::median(
            per_run
                .iter()
                .filter_map(|r| path.iter().try_fold(r, |v, k| v.get(*k)))
                .filter_map(Value::as_f64)
                .collect::<Vec<_>>(),
        )
    };
    let mut result = json!({
        "nodes": n,
        "per_node": per_node,
        "sockets": per_node * n,
        "open": open,
        "connect_s": connect_s,
        "p50_ms": pick(&["p50_ms"]),
        "p99_ms": pick(&["p99_ms"]),
        "max_ms": pick(&["max_ms"]),
        "origin_p50_ms": pick(&["origin", "p50_ms"]),
        "origin_p99_ms": pick(&["origin", "p99_ms"]),
        "missing": per_run.iter().filter_map(|r| r["missing"].as_u64()).sum::<u64>(),
        "steal_pct": steal_pct,
        "runs": per_run,
    });
    if n > 1 {
        result["others_p50_ms"] = json!(pick(&["others", "p50_ms"]));
        result["others_p99_ms"] = json!(pick(&["others", "p99_ms"]));
        result["others_min_ms"] = json!(pick(&["others", "min_ms"]));
        result["origin_min_ms"] = json!(pick(&["origin", "min_ms"]));
    }
    eprintln!("cluster fan-out, {n} node(s) × {per_node}: {result}");
    drop(generators);
    drop(servers);
    Ok(result)
}

/// Publish to delivery through Redis, one message at a time.
async fn redis_hop(messages: usize) -> Result<Value, Error> {
    let redis = Redis::start().await?;
    let (a, _) = bus::Bus::connect(&redis.url, "bench-a").await?;
    let (b, mut heard) = bus::Bus::connect(&redis.url, "bench-b").await?;
    b.subscribe("hop").await;
    let mut delays = Vec::with_capacity(messages);
    for i in 0..messages + 50 {
        a.publish("hop", now_us().to_string().into_bytes());
        let event = tokio::time::timeout(Duration::from_secs(2), heard.recv())
            .await
            .map_err(|_| "a message did not cross Redis within 2 s")?;
        if let Some(bus::Event::Message { payload, .. }) = event {
            let sent: i64 = String::from_utf8_lossy(&payload).parse()?;
            if i >= 50 {
                delays.push((now_us() - sent) as f64 / 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    delays.sort_by(f64::total_cmp);
    let result = json!({
        "messages": delays.len(),
        "p50_ms": crate::percentile(&delays, 50.0),
        "p99_ms": crate::percentile(&delays, 99.0),
        "max_ms": delays.last().copied().unwrap_or(f64::NAN),
    });
    eprintln!("redis hop: {result}");
    Ok(result)
}

/// `dropcast-bench cluster --per-node 15000,18000 [--runs N]`, with
/// `DROPCAST_BENCH_PG_URL` naming a PostgreSQL database.
pub async fn run(per_node: &[usize], runs: usize) -> Result<(), Error> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let pg_url = std::env::var("DROPCAST_BENCH_PG_URL")
        .map_err(|_| "DROPCAST_BENCH_PG_URL is not set (scripts/bench.sh starts PostgreSQL)")?;
    let limit = file_limit();
    let hop = redis_hop(2_000).await?;
    let mut figures = Vec::new();
    for &k in per_node {
        if k as u64 + 256 > limit {
            eprintln!("cluster fan-out {k} per node: skipped, the open-file limit is {limit}");
            continue;
        }
        let one = fanout(1, k, runs, &pg_url).await?;
        let three = fanout(3, k, runs, &pg_url).await?;
        figures.push(json!({
            "per_node": k,
            "one_node": one,
            "three_nodes": three,
            "p99_ratio": three["p99_ms"].as_f64().unwrap_or(f64::NAN)
                / one["p99_ms"].as_f64().unwrap_or(f64::NAN),
        }));
    }
    let holds = vec![
        crate::checkout::hold_over_nodes(&pg_url, 1).await?,
        crate::checkout::hold_over_nodes(&pg_url, 3).await?,
    ];
    let result = json!({
        "machine": crate::machine::describe(),
        "file_limit": limit,
        "runs": runs,
        "redis_hop": hop,
        "figures": figures,
        "hold_over_nodes": holds,
    });
    crate::save("cluster", &result)
}
