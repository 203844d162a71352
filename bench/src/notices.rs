//! Announcements at scale: one notice by hand to 10,000 browsers (Web Push)
//! and 10,000 confirmed email addresses, while buyers keep checking out.
//!
//! - The push service is played here (hyper on loopback): like a browser's
//!   push service and the browser together, it takes a message only when
//!   its VAPID token verifies (ES256, with the key it names) and its body
//!   decrypts (RFC 8291) with the subscription's private key, made here.
//! - The SMTP server is aiosmtpd (`tests/smtp_sink.py`), which parses and
//!   keeps every letter.
//! - A release `dropcast serve` on SQLite sends, at its default pace
//!   (`DROPCAST_NOTICE_RATE` 500 a second) and at 5,000.
//! - Meanwhile four buyers with saved cards order one after another through
//!   localstripe (`DROPCAST_BENCH_STRIPE_URL`): their latency before and
//!   during the send says whether checkout kept its share.
//!
//! Measured: from the notice's POST to the last message taken, per channel.
//! The subscribers are written straight into the server's database (the
//! email ones as confirmed): the double opt-in of 10,000 addresses is not
//! what is measured.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use web_push_native::jwt_simple::prelude::*;
use web_push_native::p256;

type Error = Box<dyn std::error::Error>;

const SUBSCRIBERS: usize = 10_000;
const PACES: [u32; 2] = [500, 5_000];
const BUYERS: usize = 4;

/// What the push service took, and what it refused.
#[derive(Default)]
struct Taken {
    accepted: AtomicUsize,
    refused: AtomicUsize,
    last: Mutex<Option<Instant>>,
}

type Keys = Arc<HashMap<String, (p256::SecretKey, [u8; 16])>>;

/// `vapid t=JWT, k=KEY` verified with KEY, for `audience`.
fn vapid_ok(header: &str, audiences: &[String]) -> bool {
    let Some(rest) = header.strip_prefix("vapid ") else {
        return false;
    };
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("k", v)) => k = Some(v.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(k)) = (t, k) else {
        return false;
    };
    let Ok(raw) = Base64UrlUnpadded::decode_vec(&k) else {
        return false;
    };
    let Ok(key) = ES256PublicKey::from_bytes(&raw) else {
        return false;
    };
    key.verify_token::<NoCustomClaims>(
        &t,
        Some(VerificationOptions {
            allowed_audiences: Some(audiences.iter().cloned().collect()),
            ..Default::default()
        }),
    )
    .is_ok()
}

/// Serves the push service on a free port: `POST /push/{id}`.
async fn push_service(keys: Keys, taken: Arc<Taken>) -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let audiences = Arc::new(vec![base.clone(), "http://127.0.0.1".to_string()]);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (keys, taken, audiences) = (keys.clone(), taken.clone(), audiences.clone());
            tokio::spawn(async move {
                let serve = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (keys, taken, audiences) = (keys.clone(), taken.clone(), audiences.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let id = parts
                            .uri
                            .path()
                            .rsplit('/')
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        let auth = parts
                            .headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        let ok = keys.get(&id).is_some_and(|(secret, auth_secret)| {
                            vapid_ok(auth, &audiences)
                                && web_push_native::decrypt(
                                    body.to_vec(),
                                    secret,
                                    &(*auth_secret).into(),
                                )
                                .is_ok_and(|plain| serde_json::from_slice::<Value>(&plain).is_ok())
                        });
                        let status = if ok {
                            taken.accepted.fetch_add(1, Ordering::Relaxed);
                            *taken.last.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(Instant::now());
                            201
                        } else {
                            taken.refused.fetch_add(1, Ordering::Relaxed);
                            400
                        };
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), serve)
                    .await;
            });
        }
    });
    Ok(base)
}

/// aiosmtpd writing each letter it takes to `dir`.
struct Smtp {
    child: std::process::Child,
    url: String,
    dir: tempfile::TempDir,
    /// Letters read so far, and which of them were the notice's (the
    /// buyers' receipts go to the same server).
    seen: std::cell::RefCell<(std::collections::HashSet<std::ffi::OsString>, usize)>,
}

impl Smtp {
    async fn start() -> Result<Smtp, Error> {
        let port = crate::server::free_port()?;
        let dir = tempfile::tempdir()?;
        let root = crate::root();
        let child = std::process::Command::new(root.join(".dev/venv/bin/python"))
            .arg(root.join("tests/smtp_sink.py"))
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("aiosmtpd (.dev/venv, scripts/test.sh installs it): {e}"))?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Smtp {
                    child,
                    url: format!("smtp://127.0.0.1:{port}"),
                    dir,
                    seen: Default::default(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the SMTP sink did not start".into())
    }

    /// The notice's letters taken so far (to the subscribers' addresses).
    fn count(&self) -> usize {
        let mut seen = self.seen.borrow_mut();
        let Ok(dir) = std::fs::read_dir(self.dir.path()) else {
            return seen.1;
        };
        for entry in dir.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "json") || seen.0.contains(&entry.file_name()) {
                continue;
            }
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let Ok(letter) = serde_json::from_slice::<Value>(&text) else {
                continue;
            };
            seen.0.insert(entry.file_name());
            let to_fan = letter["rcpt_tos"][0]
                .as_str()
                .is_some_and(|r| r.starts_with("fan") && r.ends_with("@bench.test"));
            if to_fan && letter["subject"] == "Doors open in 5 minutes!" {
                seen.1 += 1;
            }
        }
        seen.1
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Buyers ordering one after another until `stop`; each order's latency.
async fn checkout_load(
    base: String,
    show_id: String,
    product_id: String,
    buyers: Vec<String>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(Instant, f64)> {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for (i, buyer) in buyers.into_iter().enumerate() {
        let (client, base, show_id, product_id, stop) = (
            client.clone(),
            base.clone(),
            show_id.clone(),
            product_id.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let started = Instant::now();
                let ok = client
                    .post(format!("{base}/api/v1/shows/{show_id}/orders"))
                    .bearer_auth(&buyer)
                    .json(&json!({"product_id": product_id, "quantity": 1,
                                  "idempotency_key": format!("bench-{i}-{n}")}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    out.push((started, started.elapsed().as_secs_f64() * 1000.0));
                }
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

async fn once(pace: u32, stripe: Option<&str>) -> Result<Value, Error> {
    let smtp = Smtp::start().await?;
    let dir = tempfile::tempdir()?;
    let db_url = format!("sqlite://{}/bench.db", dir.path().display());
    let rate = pace.to_string();
    let mut env = vec![
        ("DATABASE_URL", db_url.as_str()),
        ("DROPCAST_SMTP_URL", smtp.url.as_str()),
        ("DROPCAST_MAIL_FROM", "Bench <bench@dropcast.test>"),
        ("DROPCAST_PUSH_ALLOW_HTTP", "1"),
        ("DROPCAST_NOTICE_RATE", rate.as_str()),
    ];
    if let Some(url) = stripe {
        env.extend([
            ("STRIPE_SECRET_KEY", "sk_test_bench"),
            ("STRIPE_PUBLISHABLE_KEY", "pk_test_bench"),
            ("STRIPE_API_BASE", url),
        ]);
    }
    let server = crate::server::Server::start_with(&env).await?;
    let token = server.creator().await?;
    let (show_id, product_id) = server
        .show_with_product(&token, "Drop night", "BENCH-1", 2500, 1_000_000)
        .await?;

    // The browsers' keys, and the push service that holds them.
    let mut keys = HashMap::with_capacity(SUBSCRIBERS);
    let mut subs = Vec::with_capacity(SUBSCRIBERS);
    for i in 0..SUBSCRIBERS {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let auth: [u8; 16] = std::array::from_fn(|j| (i * 31 + j * 7) as u8);
        let p256dh = Base64UrlUnpadded::encode_string(
            secret.public_key().to_encoded_point(false).as_bytes(),
        );
        let id = format!("s{i}");
        subs.push((id.clone(), p256dh, Base64UrlUnpadded::encode_string(&auth)));
        keys.insert(id, (secret, auth));
    }
    let taken = Arc::new(Taken::default());
    let push_base = push_service(Arc::new(keys), taken.clone()).await?;

    // The subscribers, straight into the server's database.
    let pool = dropcast::db::open(&db_url).await?;
    let now = dropcast::now_ms();
    let mut tx = pool.begin().await?;
    for (i, (id, p256dh, auth)) in subs.iter().enumerate() {
        for channel in ["push", "email"] {
            let (email, endpoint) = match channel {
                "push" => (None, Some(format!("{push_base}/push/{id}"))),
                _ => (Some(format!("fan{i}@bench.test")), None),
            };
            sqlx::query(
                "INSERT INTO subscriptions (id, show_id, product_id, channel, email, endpoint, p256dh,
                     auth, status, consent_at_ms, consent_source, confirmed_at_ms, unsubscribe_token,
                     dedupe_key, created_at_ms)
                 VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, 'active', $8, 'bench', $8, $9, $10, $8)",
            )
            .bind(format!("sub_{channel}{i}"))
            .bind(&show_id)
            .bind(channel)
            .bind(email)
            .bind(endpoint)
            .bind((channel == "push").then(|| p256dh.clone()))
            .bind((channel == "push").then(|| auth.clone()))
            .bind(now)
            .bind(format!("u_{channel}{i}"))
            .bind(format!("bench:{channel}:{i}"))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    pool.close().await;

    // Buyers with saved cards, and checkout before the send.
    let mut buyers = Vec::new();
    if stripe.is_some() {
        for _ in 0..BUYERS {
            let viewer: Value = reqwest::Client::new()
                .post(format!("{}/api/v1/viewers", server.base))
                .json(&json!({}))
                .send()
                .await?
                .json()
                .await?;
            let t = viewer["token"].as_str().unwrap_or_default().to_string();
            server
                .call(
                    reqwest::Method::PUT,
                    "/viewers/me/payment-method",
                    &t,
                    json!({"email": "buyer@bench.test", "payment_method": "pm_card_visa",
                           "shipping": {"name": "Ada Lovelace", "line1": "12 St James's Square",
                                        "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}}),
                )
                .await?;
            buyers.push(t);
        }
    }
    let load = |stop: Arc<std::sync::atomic::AtomicBool>| {
        tokio::spawn(checkout_load(
            server.base.clone(),
            show_id.clone(),
            product_id.clone(),
            buyers.clone(),
            stop,
        ))
    };
    let before = {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let running = load(stop.clone());
        tokio::time::sleep(Duration::from_secs(if buyers.is_empty() { 0 } else { 8 })).await;
        stop.store(true, Ordering::Relaxed);
        running.await?
    };

    // The notice, and the send.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let during_load = load(stop.clone());
    let cpu = crate::machine::CpuTimes::now();
    let pids = [server.pid(), smtp.child.id(), std::process::id()];
    let cpu_at_start = pids.map(crate::machine::process_cpu_s);
    let started = Instant::now();
    server
        .post(
            &format!("/shows/{show_id}/notices"),
            &token,
            json!({"text": "Doors open in 5 minutes!"}),
        )
        .await?;
    let mut email_done = None;
    let deadline = started + Duration::from_secs(600);
    while Instant::now() < deadline {
        if email_done.is_none() && smtp.count() >= SUBSCRIBERS {
            email_done = Some(started.elapsed());
        }
        let pushed = taken.accepted.load(Ordering::Relaxed) + taken.refused.load(Ordering::Relaxed);
        if email_done.is_some() && pushed >= SUBSCRIBERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Where the machine's CPU went while it sent: the server, the SMTP
    // server, this process (the push service and the buyers), the rest
    // (localstripe, mostly).
    let wall_s = started.elapsed().as_secs_f64();
    let used = |i: usize| crate::machine::process_cpu_s(pids[i]) - cpu_at_start[i];
    let (server_s, smtp_s, bench_s) = (used(0), used(1), used(2));
    let busy_s = cpu.busy_s_since();
    stop.store(true, Ordering::Relaxed);
    let during = during_load.await?;
    let steal_pct = cpu.steal_pct_since();
    let push_done = taken
        .last
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .map(|t| t.duration_since(started));
    let latencies = |v: &[(Instant, f64)]| {
        let mut ms: Vec<f64> = v.iter().map(|(_, ms)| *ms).collect();
        ms.sort_by(f64::total_cmp);
        json!({"orders": ms.len(), "p50_ms": percentile(&ms, 0.5), "p99_ms": percentile(&ms, 0.99)})
    };
    let figure = json!({
        "pace_per_second": pace,
        "subscribers_per_channel": SUBSCRIBERS,
        "push_accepted": taken.accepted.load(Ordering::Relaxed),
        "push_refused": taken.refused.load(Ordering::Relaxed),
        "push_all_s": push_done.map(|d| d.as_secs_f64()),
        "email_taken": smtp.count(),
        "email_all_s": email_done.map(|d| d.as_secs_f64()),
        "checkout_before": latencies(&before),
        "checkout_during": latencies(&during),
        "steal_pct": steal_pct,
        "cpu_s": {"wall": wall_s, "machine_busy": busy_s, "dropcast": server_s,
                  "smtp_server": smtp_s, "bench": bench_s,
                  "rest": (busy_s - server_s - smtp_s - bench_s).max(0.0)},
    });
    eprintln!("notices at {pace}/s: {figure}");
    Ok(figure)
}

pub async fn run() -> Result<(), Error> {
    let stripe = std::env::var("DROPCAST_BENCH_STRIPE_URL").ok();
    let mut paces = Vec::new();
    for pace in PACES {
        paces.push(once(pace, stripe.as_deref()).await?);
    }
    crate::save(
        "notices",
        &json!({"machine": crate::machine::describe(), "paces": paces, "checkout": stripe.is_some()}),
    )
}
