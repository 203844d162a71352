//! Live fan-out: N idle viewer sockets on one `dropcast`, one stock change,
//! and the time until every socket has it.
//!
//! ```text
//!  dropcast-bench fanout (coordinator)
//!    ├─ starts target/release/dropcast serve (fresh SQLite, its own ports)
//!    ├─ makes a creator, a show and a product over HTTP
//!    ├─ starts load generators: `dropcast-bench fanout-client` processes,
//!    │    each opening its share of the sockets from 127.0.0.2‥9 (more
//!    │    source addresses, more ephemeral ports) and reading every frame
//!    └─ per run: arms the generators ("go AVAILABLE"), notes the wall clock,
//!         restocks one unit over HTTP; each generator stamps the moment
//!         each socket sees the new figure and sends the stamps back
//! ```
//!
//! Latency is wall clock (same machine, same clock) from just before the
//! PATCH to each socket's frame: it includes the HTTP request, the database
//! write, the room and every socket's send. Memory per connection is the
//! server's resident set with N sockets open minus before, over N. The
//! generators share the machine's cores with the server: on 2 cores the
//! figure includes that contention, and the report says so.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::server::{Server, rss_kib, split_cores};

type Error = Box<dyn std::error::Error>;

/// Most sockets one generator process opens (its file limit is the machine's).
pub(crate) const PER_GENERATOR: usize = 12_500;
/// Source addresses the generators spread their sockets over.
pub(crate) const SOURCES: u8 = 8;

pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The hard limit on open files for this process and its children.
pub(crate) fn file_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(_, hard)| hard)
}

/// One of our own processes (a load generator, or the floor's server) and
/// its pipes: commands in on stdin, one line per answer on stdout.
pub(crate) struct Piped {
    child: Child,
    stdin: ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

/// Which cores a process runs on when `DROPCAST_BENCH_SPLIT` asks for it.
#[derive(Clone, Copy)]
enum Side {
    Server,
    Load,
}

impl Piped {
    /// `dropcast-bench ARGS…`, on `side`'s cores.
    fn spawn(args: &[&str], side: Side) -> Result<Piped, Error> {
        let me = std::env::current_exe()?;
        let mut command = match split_cores() {
            Some((server, load)) => {
                let mut c = Command::new("taskset");
                let cores = match side {
                    Side::Server => server,
                    Side::Load => load,
                };
                c.args(["-c", &cores]).arg(&me);
                c
            }
            None => Command::new(&me),
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Piped {
            child,
            stdin,
            lines,
        })
    }

    /// A load generator opening `sockets` sockets to `url`.
    pub(crate) fn generator(url: &str, sockets: usize, first_source: u8) -> Result<Piped, Error> {
        Piped::spawn(
            &[
                "fanout-client",
                url,
                &sockets.to_string(),
                &first_source.to_string(),
            ],
            Side::Load,
        )
    }

    pub(crate) fn say(&mut self, line: &str) -> Result<(), Error> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        Ok(())
    }

    pub(crate) fn expect(&self, what: &str, within: Duration) -> Result<String, Error> {
        let line = self
            .lines
            .recv_timeout(within)
            .map_err(|_| format!("a helper process did not say {what} in {within:?}"))?;
        if !line.starts_with(what) {
            return Err(format!("a helper process said {line:?}, not {what}").into());
        }
        Ok(line)
    }
}

impl Piped {
    /// A generator's `done` report of the change made just after `t0` (µs):
    /// how many of its sockets missed it, and each other one's arrival, in
    /// ms after `t0`.
    pub(crate) fn arrivals(&self, t0: i64) -> Result<(usize, Vec<f64>), Error> {
        let line = self.expect("done", Duration::from_secs(60))?;
        let report: Value = serde_json::from_str(line.trim_start_matches("done "))?;
        let at = report["at_us"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .map(|at| (at - t0) as f64 / 1000.0)
            .collect();
        Ok((report["missing"].as_u64().unwrap_or(0) as usize, at))
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the sockets are connected to, and how it is made to send.
enum Target {
    /// A `dropcast serve`: a restock over HTTP makes the room send.
    Dropcast {
        server: Server,
        token: String,
        path: String,
    },
    /// The floor (see [`crate::floor`]): `go N` on its stdin.
    Floor(Piped),
}

impl Target {
    async fn dropcast() -> Result<(Target, String), Error> {
        let server = Server::start().await?;
        let token = server.creator().await?;
        let (show_id, product_id) = server
            .show_with_product(&token, "Fan-out", "FAN-1", 100, FIRST_STOCK)
            .await?;
        let url = format!("ws://127.0.0.1:{}/api/v1/shows/{show_id}/live", server.port);
        let path = format!("/shows/{show_id}/products/{product_id}");
        Ok((
            Target::Dropcast {
                server,
                token,
                path,
            },
            url,
        ))
    }

    fn floor() -> Result<(Target, String), Error> {
        let floor = Piped::spawn(&["fanout-floor"], Side::Server)?;
        let port = floor.expect("listening", Duration::from_secs(10))?;
        let url = format!(
            "ws://127.0.0.1:{}/floor",
            port.trim_start_matches("listening ")
        );
        Ok((Target::Floor(floor), url))
    }

    fn pid(&self) -> u32 {
        match self {
            Target::Dropcast { server, .. } => server.pid(),
            Target::Floor(p) => p.child.id(),
        }
    }

    /// Makes every socket get a frame with `available` (one more than before);
    /// for the floor, how long its writes took, in ms.
    async fn fire(&mut self, available: i64) -> Result<Option<f64>, Error> {
        match self {
            Target::Dropcast {
                server,
                token,
                path,
            } => {
                server
                    .call(reqwest::Method::PATCH, path, token, json!({"add_stock": 1}))
                    .await?;
                Ok(None)
            }
            Target::Floor(floor) => {
                floor.say(&format!("go {available}"))?;
                let sent = floor.expect("sent", Duration::from_secs(60))?;
                let us: f64 = sent.split_whitespace().nth(2).unwrap_or("nan").parse()?;
                Ok(Some(us / 1000.0))
            }
        }
    }
}

/// The product's stock when the fan-out starts; each run adds one.
pub(crate) const FIRST_STOCK: i64 = 100_000;

/// One figure: N sockets, `runs` stock changes, against dropcast or the floor.
async fn measure(sockets: usize, runs: usize, floor: bool) -> Result<Value, Error> {
    let (mut target, url) = if floor {
        Target::floor()?
    } else {
        Target::dropcast().await?
    };
    let mut available = FIRST_STOCK;
    let rss_before = rss_kib(target.pid()).unwrap_or(0);

    let started = Instant::now();
    let mut generators = Vec::new();
    let mut left = sockets;
    let mut source = 2u8;
    while left > 0 {
        let n = left.min(PER_GENERATOR);
        generators.push(Piped::generator(&url, n, source)?);
        source = source.wrapping_add(SOURCES);
        left -= n;
    }
    for g in &generators {
        g.expect("ready", Duration::from_secs(300))?;
    }
    let connect_s = started.elapsed().as_secs_f64();
    // Let the joins' viewer-count frames and allocations settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_kib(target.pid()).unwrap_or(0);

    let mut per_run = Vec::new();
    let cpu = crate::machine::CpuTimes::now();
    // One warm-up change first, not counted.
    for run in 0..=runs {
        available += 1;
        for g in &mut generators {
            g.say(&format!("go {available}"))?;
        }
        for g in &generators {
            g.expect("armed", Duration::from_secs(10))?;
        }
        let t0 = now_us();
        let write_ms = target.fire(available).await?;
        let mut latencies = Vec::with_capacity(sockets);
        let mut missing = 0usize;
        for g in &generators {
            let (missed, at) = g.arrivals(t0)?;
            missing += missed;
            latencies.extend(at);
        }
        latencies.sort_by(f64::total_cmp);
        if run > 0 {
            per_run.push(json!({
                "p50_ms": crate::percentile(&latencies, 50.0),
                "p99_ms": crate::percentile(&latencies, 99.0),
                "min_ms": latencies.first().copied().unwrap_or(f64::NAN),
                "write_ms": write_ms,
                "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
                "received": latencies.len(),
                "missing": missing,
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let steal_pct = cpu.steal_pct_since();
    let pick = |key: &str| {
        crate::median(
            per_run
                .iter()
                .filter_map(|r| r[key].as_f64())
                .collect::<Vec<_>>(),
        )
    };
    let result = json!({
        "sockets": sockets,
        "generators": generators.len(),
        "connect_s": connect_s,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "bytes_per_conn": (rss_after.saturating_sub(rss_before) as f64 * 1024.0) / sockets as f64,
        "p50_ms": pick("p50_ms"),
        "p99_ms": pick("p99_ms"),
        "min_ms": pick("min_ms"),
        "write_ms": if floor { json!(pick("write_ms")) } else { Value::Null },
        "max_ms": pick("max_ms"),
        "steal_pct": steal_pct,
        "runs": per_run,
    });
    let what = if floor { "floor" } else { "dropcast" };
    eprintln!("fan-out {sockets}, {what}: {result}");
    Ok(result)
}

/// Dropcast's figure for `n` sockets, with the floor's beside it (`floor`).
async fn with_floor(n: usize, runs: usize) -> Result<Value, Error> {
    let mut figure = measure(n, runs, false).await?;
    figure["floor"] = measure(n, runs, true).await?;
    Ok(figure)
}

/// `dropcast-bench fanout --sockets 10000,25000,50000 [--runs N]`.
pub async fn run(counts: &[usize], runs: usize) -> Result<(), Error> {
    // The server raises its own soft limit to the hard one; so do we, for
    // the generators we start.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let limit = file_limit();
    let mut figures = Vec::new();
    let mut largest_done = false;
    for &n in counts {
        // The server needs a descriptor per socket and some of its own.
        if n as u64 + 256 > limit {
            eprintln!("fan-out {n}: skipped, the open-file limit here is {limit}");
            figures.push(json!({
                "sockets": n,
                "skipped": format!(
                    "this machine's hard limit on open files per process is {limit}, and raising it is not permitted here; one process cannot hold {n} sockets"
                ),
            }));
            // Measure the most this machine allows instead, once.
            let largest = (limit.saturating_sub(512) / 500 * 500) as usize;
            if !largest_done && largest > 0 && !counts.contains(&largest) {
                largest_done = true;
                let mut figure = with_floor(largest, runs).await?;
                figure["largest_here"] = json!(true);
                figures.push(figure);
            }
            continue;
        }
        figures.push(with_floor(n, runs).await?);
    }
    let result = json!({
        "machine": crate::machine::describe(),
        "file_limit": limit,
        "runs": runs,
        "figures": figures,
    });
    crate::save("fanout", &result)
}

/// The load generator: `dropcast-bench fanout-client URL N FIRST_SOURCE`.
/// Opens N sockets (from 127.0.0.FIRST_SOURCE‥+7), says `ready`, then for
/// each `go AVAILABLE` line says `armed`, and once every socket saw a stock
/// frame (or a snapshot) with that figure, or 20 s passed, `done {json}`.
pub async fn client(url: &str, sockets: usize, first_source: u8) -> Result<(), Error> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let server: SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .ok_or("bad url")?
        .parse()?;
    let expected = Arc::new(AtomicI64::new(i64::MIN));
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(i64, i64)>();
    let connected = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(sockets);
    for i in 0..sockets {
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            first_source.wrapping_add((i % SOURCES as usize) as u8),
        ));
        let (url, expected, seen_tx, connected, open) = (
            url.to_string(),
            expected.clone(),
            seen_tx.clone(),
            connected.clone(),
            open.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = open.acquire_owned().await.ok()?;
            let socket = tokio::net::TcpSocket::new_v4().ok()?;
            socket.bind(SocketAddr::new(source, 0)).ok()?;
            let stream = socket.connect(server).await.ok()?;
            let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.ok()?;
            // The snapshot, then this socket counts as connected.
            ws.next().await?.ok()?;
            drop(permit);
            connected.fetch_add(1, Ordering::Relaxed);
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let want = expected.load(Ordering::Relaxed);
                if want == i64::MIN {
                    continue;
                }
                let needle = format!("\"available\":{want},");
                if text.as_str().contains(&needle) && seen_tx.send((want, now_us())).is_err() {
                    break;
                }
            }
            Some(())
        }));
    }
    drop(seen_tx);
    // Wait until all connected (or gave up).
    let started = Instant::now();
    while connected.load(Ordering::Relaxed) < sockets {
        if tasks.iter().all(|t| t.is_finished()) || started.elapsed() > Duration::from_secs(280) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_now = connected.load(Ordering::Relaxed);
    println!("ready {open_now}");
    let mut stdin = BufReader::new(std::io::stdin()).lines();
    let mut early: HashMap<i64, Vec<i64>> = HashMap::new();
    while let Some(Ok(line)) = tokio::task::block_in_place(|| stdin.next()) {
        let Some(want) = line.strip_prefix("go ").and_then(|n| n.parse::<i64>().ok()) else {
            continue;
        };
        expected.store(want, Ordering::Relaxed);
        println!("armed");
        let mut at = early.remove(&want).unwrap_or_default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while at.len() < open_now {
            match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
                Ok(Some((figure, t))) if figure == want => at.push(t),
                Ok(Some((figure, t))) => early.entry(figure).or_default().push(t),
                Ok(None) | Err(_) => break,
            }
        }
        let missing = open_now - at.len();
        println!("done {}", json!({"at_us": at, "missing": missing}));
    }
    Ok(())
}
