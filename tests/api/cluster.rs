//! Several nodes on one PostgreSQL and one Redis, on loopback (issue 15):
//! live changes made on any node reach the sockets of every node, viewer
//! counts are the sum over the nodes that are alive, and a Redis restart
//! mid-show leaves every socket on the final figures. PostgreSQL only: a
//! SQLite file is one node (the settings refuse `REDIS_URL` with it).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// The product's available figure as this frame tells it, if it does.
fn available_in(frame: &Value, product_id: &str) -> Option<i64> {
    match frame["type"].as_str()? {
        "snapshot" => frame["products"]
            .as_array()?
            .iter()
            .find(|p| p["id"] == product_id)?["available"]
            .as_i64(),
        "stock" if frame["product_id"] == product_id => frame["available"].as_i64(),
        "product" if frame["product"]["id"] == product_id => frame["product"]["available"].as_i64(),
        _ => None,
    }
}

/// Reads frames until the product shows `want` available; panics after `within`.
async fn until_available(
    live: &mut Live,
    product_id: &str,
    want: i64,
    within: Duration,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match live.next_within(left).await {
            Ok(Some(frame)) => {
                let figure = available_in(&frame, product_id);
                seen.push(frame);
                if figure == Some(want) {
                    return seen;
                }
            }
            Ok(None) => panic!("socket closed before {want} available; saw {seen:?}"),
            Err(()) => panic!("{want} available never arrived within {within:?}; saw {seen:?}"),
        }
    }
}

async fn add_stock(node: &TestApp, token: &str, show: &str, product: &str, n: i64) {
    node.patch(
        &format!("/api/v1/shows/{show}/products/{product}"),
        Some(token),
        json!({ "add_stock": n }),
    )
    .await
    .expect(200);
}

async fn viewers_now(node: &TestApp, token: &str, show: &str) -> (u64, i64) {
    let stats = node
        .get(&format!("/api/v1/shows/{show}/stats"), Some(token))
        .await
        .expect(200);
    (
        stats["viewers_now"].as_u64().unwrap(),
        stats["viewers_peak"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn a_change_on_one_node_reaches_the_sockets_of_every_node() {
    let cluster = spawn_cluster(3, |_| {}).await;
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let (token, show, product) = a.creator_show_product(5).await;
    let mut sockets = vec![
        a.live(&show).await,
        b.live(&show).await,
        c.live(&show).await,
    ];
    for s in &mut sockets {
        let (snapshot, _) = s.until("snapshot").await;
        assert_eq!(available_in(&snapshot, &product), Some(5));
    }

    // A restock on A reaches B and C (and A's own sockets, directly).
    add_stock(a, &token, &show, &product, 10).await;
    for s in &mut sockets {
        until_available(s, &product, 15, Duration::from_secs(10)).await;
    }
    // And the other way: a change on C reaches A and B.
    add_stock(c, &token, &show, &product, -3).await;
    for s in &mut sockets {
        until_available(s, &product, 12, Duration::from_secs(10)).await;
    }
    // A pin on B too, as one frame on each socket.
    b.put(
        &format!("/api/v1/shows/{show}/pin"),
        Some(&token),
        json!({ "product_id": product }),
    )
    .await
    .expect(200);
    for s in &mut sockets {
        let (pin, _) = s.until("pin").await;
        assert_eq!(pin["product_id"], product.as_str());
    }
    // They crossed through Redis: each node heard the others.
    for node in [a, b, c] {
        let metrics = node.metrics().await;
        let received = metrics
            .lines()
            .find_map(|l| l.strip_prefix("dropcast_bus_received_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("the bus's counters are in /metrics");
        assert!(received >= 1, "{metrics}");
    }
}

#[tokio::test]
async fn viewers_are_summed_over_the_nodes_and_a_node_that_is_gone_stops_counting() {
    let cluster = spawn_cluster(3, |_| {}).await;
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let (token, show, _product) = a.creator_show_product(5).await;
    let mut on_a = [a.live(&show).await, a.live(&show).await];
    let mut on_b = [
        b.live(&show).await,
        b.live(&show).await,
        b.live(&show).await,
    ];
    for s in on_a.iter_mut().chain(on_b.iter_mut()) {
        s.until("snapshot").await;
    }
    // C has no socket of the show and still counts every node's.
    wait_until("C counting 5 viewers", async || {
        viewers_now(c, &token, &show).await.0 == 5
    })
    .await;
    // A's sockets are shown the cluster's figure.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A's sockets never showed 5"
        );
        let (frame, _) = on_a[0].until("viewers").await;
        if frame["count"] == 5 {
            break;
        }
    }
    // B goes away without a word (its work stops; it reports no more):
    // its three stop counting once their lease lapses.
    b.state.shutdown.cancel();
    wait_until("B's viewers to stop counting", async || {
        viewers_now(c, &token, &show).await.0 == 2
    })
    .await;
    let (_, peak) = viewers_now(c, &token, &show).await;
    assert!(peak >= 5, "the peak was over the cluster: {peak}");
    drop(on_b);
}

#[tokio::test]
async fn after_redis_restarts_mid_show_every_socket_converges_on_the_final_figures() {
    let mut cluster = spawn_cluster(3, |_| {}).await;
    let (token, show, product) = cluster.nodes[0].creator_show_product(100).await;
    let mut sockets = Vec::new();
    for node in &cluster.nodes {
        let mut s = node.live(&show).await;
        s.until("snapshot").await;
        sockets.push(s);
    }
    cluster.redis.stop().await;
    // Changes on two nodes while Redis is down: each is committed (the
    // database is the truth), and only its own node's sockets hear it now.
    for _ in 0..5 {
        add_stock(&cluster.nodes[0], &token, &show, &product, -1).await;
    }
    add_stock(&cluster.nodes[1], &token, &show, &product, -2).await;
    until_available(&mut sockets[0], &product, 95, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.redis.resume().await;
    // Every node resubscribes, reloads and sends its sockets a snapshot.
    for s in &mut sockets {
        until_available(s, &product, 93, Duration::from_secs(20)).await;
    }
    // And the bus works again: a change after the restart reaches everyone.
    add_stock(&cluster.nodes[2], &token, &show, &product, 7).await;
    for s in &mut sockets {
        until_available(s, &product, 100, Duration::from_secs(10)).await;
    }
}

#[tokio::test]
async fn a_show_has_one_publisher_across_the_cluster() {
    let cluster = spawn_cluster(3, |_| {}).await;
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let (token, show, _product) = a.creator_show_product(1).await;
    // Each node hands out its own ingest addresses for the same key.
    let (on_a, on_b, on_c) = (
        a.rtmp_url(&token, &show).await,
        b.rtmp_url(&token, &show).await,
        c.rtmp_url(&token, &show).await,
    );
    assert_ne!(on_a, on_b);
    let pushing = tokio::spawn(async move { publish(&on_a, 6, true).await });
    let live_on_c =
        async |live: bool| c.get(&format!("/api/v1/shows/{show}"), None).await.body["live"] == live;
    wait_until("the show live", async || live_on_c(true).await).await;
    // Live on A: B turns a second publisher away, over SRT as over RTMP.
    assert!(
        !publish(&on_b, 2, false).await,
        "B let a second publisher in"
    );
    let srt_on_b = b
        .get(&format!("/api/v1/shows/{show}"), Some(&token))
        .await
        .expect(200)["ingest"]["srt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !publish(&srt_on_b, 2, false).await,
        "B let a second SRT publisher in"
    );
    assert!(pushing.await.unwrap(), "A's publisher was disturbed");
    // A's stream ended and gave the show back: C may publish it now.
    wait_until("the show offline", async || live_on_c(false).await).await;
    assert!(
        publish(&on_c, 2, false).await,
        "C could not publish once A was done"
    );
}

/// The URIs a live (LL-HLS) playlist lists: init sections, parts, segments.
fn live_uris(playlist: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in playlist.lines() {
        if let Some(rest) = line
            .strip_prefix("#EXT-X-MAP:")
            .or_else(|| line.strip_prefix("#EXT-X-PART:"))
            && let Some(uri) = rest
                .split("URI=\"")
                .nth(1)
                .and_then(|u| u.split('"').next())
        {
            uris.push(uri.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            uris.push(line.to_string());
        }
    }
    uris.dedup();
    uris
}

async fn hls_get(node: &TestApp, show: &str, file: &str) -> (u16, bytes::Bytes) {
    let res = node
        .client
        .get(node.url(&format!("/hls/{show}/{file}")))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap())
}

#[tokio::test]
async fn a_show_published_to_one_node_plays_from_the_others_with_their_own_data_dirs() {
    let cluster = spawn_cluster(3, |_| {}).await;
    let [a, b, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    let (token, show, _product) = a.creator_show_product(1).await;
    let rtmp = a.rtmp_url(&token, &show).await;
    let pushing = tokio::spawn(async move { publish(&rtmp, 8, true).await });

    // While it is live on A, B's playlist is A's LL-HLS playlist…
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let on_b = loop {
        let (status, body) = hls_get(b, &show, "index.m3u8").await;
        let text = String::from_utf8_lossy(&body).to_string();
        if status == 200 && text.contains("#EXT-X-PART:") && text.contains(".m4s") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never served the live playlist: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // …and everything it lists comes through B, byte for byte A's.
    let uris = live_uris(&on_b);
    assert!(uris.iter().any(|u| u.starts_with("init")), "{on_b}");
    for uri in &uris {
        let (from_b, body_b) = hls_get(b, &show, uri).await;
        let (from_a, body_a) = hls_get(a, &show, uri).await;
        if from_a == 404 {
            continue; // left A's window in between
        }
        assert_eq!((from_b, from_a), (200, 200), "{uri}");
        assert_eq!(body_b, body_a, "{uri}");
    }
    // A blocking reload through B waits on A for the next part.
    let msn: u64 = on_b
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a media sequence");
    let whole = on_b
        .lines()
        .filter(|l| l.ends_with(".m4s") && !l.starts_with('#'))
        .count() as u64;
    // The segment being made now, complete: a wait of up to a GOP.
    let next = msn + whole;
    let (status, body) = hls_get(b, &show, &format!("index.m3u8?_HLS_msn={next}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains(&format!("seg{next}.m4s")),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(pushing.await.unwrap(), "ffmpeg failed to publish");

    // Afterwards the replay, recorded on A, plays from C: its segments are
    // fetched from A once and kept in C's own data dir.
    wait_until("C serving the replay", async || {
        let (_, body) = hls_get(c, &show, "index.m3u8").await;
        String::from_utf8_lossy(&body).ends_with("#EXT-X-ENDLIST\n")
    })
    .await;
    let (duration, codecs) = crate::media::probe(&c.url(&format!("/hls/{show}/index.m3u8"))).await;
    assert!((duration - 8.0).abs() < 1.0, "{duration} s");
    assert_eq!(codecs, ["aac", "h264"]);
    // Every segment C lists comes through C, byte for byte A's file.
    let (_, listing) = hls_get(c, &show, "index.m3u8").await;
    let listing = String::from_utf8_lossy(&listing).to_string();
    let segments: Vec<&str> = listing.lines().filter(|l| l.ends_with(".ts")).collect();
    assert!(segments.len() >= 3, "{listing}");
    for seg in &segments {
        let (from_c, body_c) = hls_get(c, &show, seg).await;
        let (from_a, body_a) = hls_get(a, &show, seg).await;
        assert_eq!((from_c, from_a), (200, 200), "{seg}");
        assert_eq!(body_c, body_a, "{seg}");
    }
    let kept = std::fs::read_dir(c.data_dir.path().join("edge").join(&show))
        .expect("C kept the fetched segments")
        .count();
    assert_eq!(kept, segments.len(), "C keeps each segment once");
    assert!(
        !b.data_dir.path().join("replay").join(&show).exists()
            && !c.data_dir.path().join("replay").join(&show).exists(),
        "only A recorded the show"
    );
}

#[tokio::test]
async fn a_running_clip_is_left_to_its_node_until_that_node_is_gone() {
    let cluster = spawn_cluster(2, |_| {}).await;
    let [a, b] = &cluster.nodes[..] else {
        unreachable!()
    };
    let (token, show, _product) = a.creator_show_product(1).await;
    crate::clips::stream(a, &token, &show, 6).await;
    let pool = &a.state.pool;
    let (first, last, start, end): (i64, i64, i64, i64) =
        sqlx::query_as("SELECT MIN(seq), MAX(seq), MIN(start_ms), MAX(end_ms) FROM segments")
            .fetch_one(pool)
            .await
            .unwrap();
    // A clip B is making (B is alive and renews its lease).
    let b_instance = b.state.node.instance_id.clone();
    sqlx::query(
        "INSERT INTO clips (id, show_id, status, progress_permille, format, first_seq, last_seq, start_ms, end_ms,
             created_at_ms, updated_at_ms, owner_node, owner_instance)
         VALUES ('clp_on_b', $1, 'running', 420, 'original', $2, $3, $4, $5, 0, 0, 'node-b', $6)",
    )
    .bind(&show)
    .bind(first)
    .bind(last)
    .bind(start)
    .bind(end)
    .bind(&b_instance)
    .execute(pool)
    .await
    .unwrap();
    // A wakes its clip workers (a clip of its own) and looks at the queue
    // again every 5 s: B's stays B's.
    let mine = a
        .post(
            &format!("/api/v1/shows/{show}/clips"),
            Some(&token),
            json!({"last_seconds": 4}),
        )
        .await
        .expect(202);
    crate::clips::clip_until_done(a, &token, mine["id"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let status: String = sqlx::query_scalar("SELECT status FROM clips WHERE id = 'clp_on_b'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        status, "running",
        "A took over a clip of a node that is alive"
    );
    // B dies (its work stops, its heartbeat lapses): A queues the clip again and makes it.
    b.state.shutdown.cancel();
    sqlx::query("UPDATE nodes SET heartbeat_at_ms = 0 WHERE node_id = 'node-b'")
        .execute(pool)
        .await
        .unwrap();
    let done = crate::clips::clip_until_done(a, &token, "clp_on_b").await;
    assert!(done["bytes"].as_i64().unwrap() > 0);
    let owner: String = sqlx::query_scalar("SELECT owner_node FROM clips WHERE id = 'clp_on_b'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(owner, "node-a");
    // The file is on A; B serves it too (fetched from A once, then its own).
    let get = async |node: &TestApp| {
        let res = node
            .client
            .get(node.url("/api/v1/clips/clp_on_b/file"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.bytes().await.unwrap())
    };
    let ((on_a, body_a), (on_b, body_b)) = (get(a).await, get(b).await);
    assert_eq!((on_a, on_b), (200, 200));
    assert_eq!(body_a, body_b);
    assert!(
        b.data_dir
            .path()
            .join("clips")
            .join("clp_on_b.mp4")
            .exists()
    );
}

/// A node process's environment for taking payments through localstripe
/// (limits off: the crowd comes from one address), with an optional
/// `DROPCAST_TEST_PAUSE`.
fn paying_env(stripe: &str, pause: Option<&'static str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("STRIPE_SECRET_KEY", STRIPE_KEY.to_string()),
        ("STRIPE_API_BASE", stripe.to_string()),
        ("DROPCAST_RATE_LIMITS", "off".to_string()),
    ];
    if let Some(pause) = pause {
        env.push(("DROPCAST_TEST_PAUSE", pause.to_string()));
    }
    env
}

/// A node as a `dropcast serve` process of its own, in the cluster's
/// database and Redis (signals are for processes).
struct NodeProcess {
    child: tokio::process::Child,
    /// `127.0.0.1:PORT` of its HTTP listener.
    addr: String,
    rtmp_port: u16,
    node_id: String,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl NodeProcess {
    async fn start<V: AsRef<str>>(
        cluster: &TestCluster,
        node_id: &str,
        env: &[(&str, V)],
    ) -> NodeProcess {
        let a = &cluster.nodes[0];
        let (port, rtmp_port) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{port}");
        let mut all: Vec<(String, String)> = [
            ("DROPCAST_HTTP_ADDR", addr.clone()),
            ("DROPCAST_INTERNAL_URL", format!("http://{addr}/")),
            ("DROPCAST_RTMP_ADDR", format!("127.0.0.1:{rtmp_port}")),
            ("DROPCAST_SRT_ADDR", "127.0.0.1:0".to_string()),
            ("DATABASE_URL", a.database_url.clone()),
            ("REDIS_URL", cluster.redis.url.clone()),
            ("DROPCAST_NODE_ID", node_id.to_string()),
            ("DROPCAST_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("RUST_LOG", "warn".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        all.extend(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.as_ref().to_string())),
        );
        let child = Self::spawn(&all, dir.path());
        let node = NodeProcess {
            child,
            addr,
            rtmp_port,
            node_id: node_id.to_string(),
            env: all,
            dir,
        };
        node.until_healthy(&a.client).await;
        node
    }

    fn spawn(env: &[(String, String)], dir: &std::path::Path) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dropcast"))
            .arg("serve")
            .env("DROPCAST_DATA_DIR", dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("dropcast starts")
    }

    async fn until_healthy(&self, client: &reqwest::Client) {
        let url = format!("http://{}/healthz", self.addr);
        wait_until(&format!("{} healthy", self.node_id), async || {
            client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// Starts the node again (after it exited): same id, ports and data dir.
    async fn restart(&mut self, client: &reqwest::Client) {
        self.child = Self::spawn(&self.env, self.dir.path());
        self.until_healthy(client).await;
    }

    /// `kill -SIGNAL` of the process.
    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the node runs").to_string();
        let sent = tokio::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
    }
}

#[tokio::test]
async fn sigterm_sends_sockets_elsewhere_and_hands_the_nodes_work_over_at_once() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let cluster = spawn_cluster(1, |_| {}).await;
    let a = &cluster.nodes[0];
    let (_token, show, _product) = a.creator_show_product(3).await;
    // Node B as a process of its own: SIGTERM is for processes.
    let mut b = NodeProcess::start::<&str>(&cluster, "node-b", &[]).await;
    let base = b.addr.clone();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{base}/api/v1/shows/{show}/live"))
            .await
            .expect("B's socket");
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("\"snapshot\""));

    b.signal("TERM").await;
    // The socket is told "going away" (the widget reconnects, with jitter,
    // through the load balancer to another node)…
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a close within 10 s")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));
    // …the process exits cleanly, and its lease ended as it left: the
    // others take what it still owned now, not after 20 s.
    let status = tokio::time::timeout(Duration::from_secs(15), b.child.wait())
        .await
        .expect("B exits within 15 s")
        .unwrap();
    assert!(status.success(), "{status}");
    let heartbeat: i64 =
        sqlx::query_scalar("SELECT heartbeat_at_ms FROM nodes WHERE node_id = 'node-b'")
            .fetch_one(&a.state.pool)
            .await
            .unwrap();
    assert_eq!(heartbeat, 0);
}

/// 300 buyers spread over three nodes for 20 units: exactly 20 paid, none
/// oversold, and a socket on each node ends on 0 without ever seeing a
/// negative figure.
#[tokio::test]
async fn three_hundred_buyers_over_three_nodes_for_twenty_units() {
    use futures_util::future::join_all;

    let cluster = spawn_cluster(3, |s| {
        with_stripe(s);
        // A crowd from one address (127.0.0.1): limits off, as for a benchmark.
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("off").unwrap();
    })
    .await;
    let nodes = &cluster.nodes;
    let (_, show, product) = nodes[0].creator_show_product(20).await;
    let mut buyers = Vec::new();
    for round in 0..15 {
        let node = &nodes[round % 3];
        buyers.extend(join_all((0..20).map(|_| node.buyer(CARD_OK))).await);
    }
    let mut sockets = Vec::new();
    for node in nodes {
        let mut s = node.live(&show).await;
        s.until("snapshot").await;
        sockets.push(s);
    }
    let keys: Vec<String> = (0..buyers.len()).map(|i| format!("rush-{i}")).collect();
    let answers = join_all(
        buyers
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (buyer, key))| nodes[i % 3].order(buyer, &show, &product, 1, key)),
    )
    .await;
    assert_eq!(rush_outcome(&answers), (20, 280));
    for node in nodes {
        assert_eq!(node.stock(&product).await, (0, 0, 20));
    }
    nodes[0].assert_stock_invariant().await;
    assert_eq!(paid_units(&nodes[0], &product).await, 20);
    // One charge per paid order at Stripe, whichever node took it.
    let intents = all_intents(&nodes[0]).await;
    assert_charged_once(
        &intents,
        answers
            .iter()
            .filter(|a| a.body["status"] == "paid")
            .map(|a| a.body["id"].as_str().unwrap()),
    );
    for s in &mut sockets {
        let seen = until_available(s, &product, 0, Duration::from_secs(15)).await;
        assert!(
            seen.iter()
                .filter_map(|f| available_in(f, &product))
                .all(|n| n >= 0),
            "{seen:?}"
        );
    }
}

/// Roles: the api nodes (A with the workers, B) never run GStreamer; C only
/// ingests. Creators are sent to C, C refuses API calls, a show published
/// to C plays from B, and killing C mid-show leaves checkout on A and B
/// untouched: every order of a rush made while C dies is paid once.
#[tokio::test]
async fn an_ingest_only_node_killed_mid_show_leaves_checkout_on_the_api_nodes_untouched() {
    use dropcast::node::Roles;
    use futures_util::future::join_all;

    let cluster = spawn_cluster(2, |s| {
        with_stripe(s);
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("off").unwrap();
        let spec = if s.node_id.as_deref() == Some("node-a") {
            "api,workers"
        } else {
            "api"
        };
        s.roles = Roles::parse(spec).unwrap();
    })
    .await;
    let [a, b] = &cluster.nodes[..] else {
        unreachable!()
    };
    let (token, show, product) = a.creator_show_product(30).await;
    // No ingest node yet: the API hands out no address rather than its own port.
    let mine = a
        .get(&format!("/api/v1/shows/{show}"), Some(&token))
        .await
        .expect(200);
    assert!(
        mine["ingest"].is_null() && mine["stream_key"].is_string(),
        "{mine}"
    );

    let mut c = NodeProcess::start(&cluster, "node-c", &[("DROPCAST_ROLES", "ingest")]).await;
    // Both api nodes send the creator to C's RTMP listener.
    let rtmp = a.rtmp_url(&token, &show).await;
    assert!(
        rtmp.contains(&format!(":{}/live/", c.rtmp_port)),
        "{rtmp} is not C's"
    );
    assert_eq!(b.rtmp_url(&token, &show).await, rtmp);
    // C serves media, not the API.
    let refused = a
        .client
        .get(format!("http://{}/api/v1/shows/{show}", c.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 421);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_an_api_node", "{body}");

    let pushing = tokio::spawn(async move { publish(&rtmp, 60, true).await });
    wait_until("the show live on A", async || {
        a.get(&format!("/api/v1/shows/{show}"), None).await.body["live"] == true
    })
    .await;
    wait_until("B playing C's live playlist", async || {
        let (status, body) = hls_get(b, &show, "index.m3u8").await;
        status == 200 && String::from_utf8_lossy(&body).contains("#EXT-X-PART:")
    })
    .await;

    // A rush on A and B while C is killed.
    let mut buyers = Vec::new();
    for node in [a, b] {
        buyers.extend(join_all((0..12).map(|_| node.buyer(CARD_OK))).await);
    }
    let keys: Vec<String> = (0..buyers.len()).map(|i| format!("roles-{i}")).collect();
    let nodes = [a, b];
    let rush = join_all(
        buyers
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (buyer, key))| nodes[i % 2].order(buyer, &show, &product, 1, key)),
    );
    let kill = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.signal("KILL").await;
        c.child.wait().await.unwrap()
    };
    let (answers, killed) = tokio::join!(rush, kill);
    assert!(!killed.success(), "C was killed");
    assert_eq!(rush_outcome(&answers), (24, 0));
    // And after it: checkout goes on as if nothing happened.
    let late = a.buyer(CARD_OK).await;
    let answer = b.order(&late, &show, &product, 1, "roles-late").await;
    assert_eq!(answer.body["status"], "paid", "{:?}", answer.body);
    for node in [a, b] {
        assert_eq!(node.stock(&product).await, (5, 0, 25));
    }
    a.assert_stock_invariant().await;
    assert_eq!(paid_units(a, &product).await, 25);
    let intents = all_intents(a).await;
    assert_charged_once(
        &intents,
        answers
            .iter()
            .chain([&answer])
            .map(|a| a.body["id"].as_str().unwrap()),
    );
    let _ = pushing.await;

    // C's lease lapses (aged here rather than waited for, unless a slow
    // run already waited that long): A, the one node with the workers, sets
    // the show offline and the sockets hear it.
    let mut socket = a.live(&show).await;
    let (snapshot, _) = socket.until("snapshot").await;
    if snapshot["show"]["live"] == true {
        sqlx::query("UPDATE nodes SET heartbeat_at_ms = 0 WHERE node_id = 'node-c'")
            .execute(&a.state.pool)
            .await
            .unwrap();
        loop {
            let frame = socket.next().await.expect("socket open");
            if frame["type"] == "live" && frame["live"] == false {
                break;
            }
        }
    }
    let settled: Option<String> = sqlx::query_scalar("SELECT ingest_node FROM shows WHERE id = $1")
        .bind(&show)
        .fetch_one(&a.state.pool)
        .await
        .unwrap();
    assert_eq!(settled, None, "C's lease on the show is gone");
}

/// Rate limits hold across the nodes: a client spread over A and B by a
/// load balancer gets the limit once, not once per node. With Redis gone a
/// node counts alone (and says so in /metrics) rather than refuse everyone.
#[tokio::test]
async fn rate_limits_are_shared_by_the_nodes_and_survive_redis_going_away() {
    let mut cluster = spawn_cluster(2, |s| {
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("sessions_ip=4/60s").unwrap();
    })
    .await;
    let new_session = async |node: &TestApp| node.post("/api/v1/viewers", None, json!({})).await;
    let [a, b] = &cluster.nodes[..] else {
        unreachable!()
    };
    for node in [a, b, a, b] {
        new_session(node).await.expect(201);
    }
    for node in [a, b] {
        let refused = new_session(node).await;
        assert_eq!(
            (refused.status.as_u16(), refused.code()),
            (429, "rate_limited"),
            "the fifth session from this address, on either node"
        );
    }
    cluster.redis.stop().await;
    let [a, _] = &cluster.nodes[..] else {
        unreachable!()
    };
    new_session(a).await.expect(201);
    let metrics = a.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dropcast_rate_limit_fallbacks_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

/// SIGTERM drains: an order waiting on the bank when the node is told to
/// stop (here 7 s, beyond the 5 s a drain used to allow) still gets its
/// answer, paid, and the node then exits cleanly; new connections are
/// refused from the signal on, so a load balancer sends buyers elsewhere.
#[tokio::test]
async fn a_stopping_node_finishes_the_orders_at_the_bank_before_it_exits() {
    let cluster = spawn_cluster(1, with_stripe).await;
    let a = &cluster.nodes[0];
    let env = paying_env(&stripe_url(), Some("before_confirm:7000"));
    let mut b = NodeProcess::start(&cluster, "node-b", &env).await;
    let (_, show, product) = a.creator_show_product(5).await;
    let buyer = a.buyer(CARD_OK).await;
    let order = a
        .client
        .post(format!("http://{}/api/v1/shows/{show}/orders", b.addr))
        .bearer_auth(&buyer)
        .json(&json!({"product_id": product, "quantity": 1, "idempotency_key": "drain-1"}))
        .send();
    let stop = async {
        // The order is at the bank (stock held) when the signal comes.
        wait_until("the order holding stock", async || {
            a.stock(&product).await == (4, 1, 0)
        })
        .await;
        b.signal("TERM").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let refused = a
            .client
            .get(format!("http://{}/healthz", b.addr))
            .send()
            .await;
        assert!(refused.is_err(), "a draining node takes no new connection");
    };
    let (answer, ()) = tokio::join!(order, stop);
    let answer = answer.expect("the order's answer came before the node left");
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    assert_eq!((status, &body["status"]), (201, &json!("paid")), "{body}");
    let exit = tokio::time::timeout(Duration::from_secs(30), b.child.wait())
        .await
        .expect("B exits once drained")
        .unwrap();
    assert!(exit.success(), "{exit}");
    assert_eq!(a.stock(&product).await, (4, 0, 1));
    a.assert_stock_invariant().await;
}

/// Each of the `orders` has exactly one succeeded intent among `intents`.
fn assert_charged_once<'a>(intents: &[Value], orders: impl IntoIterator<Item = &'a str>) {
    for id in orders {
        let charged = intents
            .iter()
            .filter(|i| i["metadata"]["order_id"] == id && i["status"] == "succeeded")
            .count();
        assert_eq!(charged, 1, "one charge for {id}");
    }
}

/// The intents at localstripe of the product's orders (other tests share it).
async fn product_intents(node: &TestApp, product: &str) -> Vec<Value> {
    let orders: Vec<String> = sqlx::query_scalar("SELECT id FROM orders WHERE product_id = $1")
        .bind(product)
        .fetch_all(&node.state.pool)
        .await
        .unwrap();
    all_intents(node)
        .await
        .into_iter()
        .filter(|i| {
            i["metadata"]["order_id"]
                .as_str()
                .is_some_and(|id| orders.iter().any(|o| o == id))
        })
        .collect()
}

/// SIGKILL of B mid-rush over three nodes: B's buyers were charged at the
/// bank and B died before it recorded it. A or C settles those orders from
/// Stripe's word (the outbox job B left, or the takeover once B's lease
/// lapses, aged here rather than waited for); buyers who retry on another node with the same key
/// get their order, paid. Nothing lost, nothing charged twice, no unit sold
/// twice.
#[tokio::test]
async fn sigkill_of_a_node_mid_rush_loses_no_sale_and_charges_no_one_twice() {
    use futures_util::future::join_all;

    let cluster = spawn_cluster(2, |s| {
        with_stripe(s);
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("off").unwrap();
    })
    .await;
    let [a, c] = &cluster.nodes[..] else {
        unreachable!()
    };
    // B, a process of its own (SIGKILL is for processes); A and C run here
    // (as node-a and node-b: B needs an id of its own). B's orders are
    // charged, not yet recorded, when the kill comes.
    let env = paying_env(&stripe_url(), Some("after_confirm:60000"));
    let mut b = NodeProcess::start(&cluster, "node-killed", &env).await;
    let (_, show, product) = a.creator_show_product(20).await;
    let buyers = join_all((0..60).map(|_| a.buyer(CARD_OK))).await;
    let keys: Vec<String> = (0..buyers.len()).map(|i| format!("kill-{i}")).collect();
    let on_b = |i: usize| i % 3 == 1;
    let to_b = join_all(
        buyers
            .iter()
            .zip(&keys)
            .enumerate()
            .filter(|(i, _)| on_b(*i))
            .map(|(_, (buyer, key))| {
                a.client
                    .post(format!("http://{}/api/v1/shows/{show}/orders", b.addr))
                    .bearer_auth(buyer)
                    .json(&json!({"product_id": product, "quantity": 1, "idempotency_key": key}))
                    .send()
            }),
    );
    let elsewhere = async {
        let answers = join_all(
            buyers
                .iter()
                .zip(&keys)
                .enumerate()
                .filter(|(i, _)| !on_b(*i))
                .map(|(i, (buyer, key))| {
                    let node = if i % 3 == 0 { a } else { c };
                    node.order(buyer, &show, &product, 1, key)
                }),
        )
        .await;
        // B's charged orders sit in its pause, holding their units.
        wait_until("B's orders charged and holding", async || {
            let (_, held, _) = a.stock(&product).await;
            let charged = product_intents(a, &product)
                .await
                .iter()
                .filter(|i| i["status"] == "succeeded")
                .count() as i64;
            held > 0 && charged == 20
        })
        .await;
        b.signal("KILL").await;
        answers
    };
    let (from_b, answers) = tokio::join!(to_b, elsewhere);
    let _ = b.child.wait().await;
    let (paid_elsewhere, _) = rush_outcome(&answers);
    let (_, held_by_b, _) = a.stock(&product).await;
    assert!(held_by_b > 0, "B had orders in flight when it died");
    assert_eq!(paid_elsewhere as i64 + held_by_b, 20, "every unit taken");
    let cut_off = from_b.iter().filter(|r| r.is_err()).count();
    assert!(cut_off as i64 >= held_by_b, "B's buyers got no answer");

    sqlx::query("UPDATE nodes SET heartbeat_at_ms = 0 WHERE node_id = 'node-killed'")
        .execute(&a.state.pool)
        .await
        .unwrap();
    wait_until("B's orders settled by A or C", async || {
        a.stock(&product).await == (0, 0, 20)
    })
    .await;
    // B's buyers retry on the other nodes with the same key, as the widget
    // does: those B charged have their order, paid; the rest sold out.
    let retried = join_all(
        buyers
            .iter()
            .zip(&keys)
            .enumerate()
            .filter(|(i, _)| on_b(*i))
            .map(|(i, (buyer, key))| {
                let node = if i % 2 == 0 { a } else { c };
                node.order(buyer, &show, &product, 1, key)
            }),
    )
    .await;
    // The answer to a retried key is the order as it stands (200).
    let paid_after = retried
        .iter()
        .filter(|r| r.status == 200 && r.body["status"] == "paid")
        .count();
    let sold_out = retried.iter().filter(|r| r.code() == "sold_out").count();
    assert_eq!(paid_after + sold_out, retried.len(), "{retried:?}");
    assert_eq!(
        paid_after as i64, held_by_b,
        "each of B's charged buyers has a paid order"
    );
    assert_eq!(paid_units(a, &product).await, 20);
    a.assert_stock_invariant().await;
    // One charge per paid order, and none for anyone else.
    let intents = product_intents(a, &product).await;
    let paid: Vec<&str> = answers
        .iter()
        .chain(&retried)
        .filter(|x| x.body["status"] == "paid")
        .map(|x| x.body["id"].as_str().unwrap())
        .collect();
    assert_eq!(paid.len(), 20);
    assert_charged_once(&intents, paid.iter().copied());
    let succeeded = intents
        .iter()
        .filter(|i| i["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, 20, "no charge without a paid order");
}

/// HAProxy (Debian's) in front of some nodes, as `scripts/cluster.sh` runs
/// it: round robin, websockets, health checks every 200 ms.
struct Haproxy {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    async fn start(backends: &[&str]) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                format!("    server n{i} {addr} check inter 200ms fastinter 100ms fall 1 rise 2\n")
            })
            .collect();
        let config = format!(
            "global\n    maxconn 2000\ndefaults\n    mode http\n    option forwardfor\n    \
             option redispatch\n    retries 3\n    timeout connect 2s\n    timeout client 60s\n    \
             timeout server 60s\n    timeout tunnel 1h\nfrontend dropcast\n    \
             bind 127.0.0.1:{port}\n    default_backend nodes\nbackend nodes\n    \
             balance roundrobin\n    option httpchk GET /healthz\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = tokio::process::Command::new("haproxy")
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy runs (scripts/test.sh installs it)");
        wait_for_port(port, "HAProxy").await;
        Haproxy {
            child,
            port,
            _dir: dir,
        }
    }
}

/// A widget as the test plays it: keeps a socket open through the load
/// balancer, and when it closes comes back (after a short random wait) and
/// resumes from the snapshot. Counts its snapshots and keeps the last
/// figure it saw of the product.
async fn widget(
    url: String,
    product: String,
    stop: tokio_util::sync::CancellationToken,
    seen: tokio::sync::watch::Sender<(u32, Option<i64>)>,
) {
    use futures_util::StreamExt;
    while !stop.is_cancelled() {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
            tokio::time::sleep(Duration::from_millis(50 + rand::random::<u64>() % 200)).await;
            continue;
        };
        loop {
            let frame = tokio::select! {
                _ = stop.cancelled() => return,
                frame = ws.next() => frame,
            };
            let Some(Ok(frame)) = frame else { break };
            let Ok(text) = frame.to_text() else { break };
            let Ok(frame) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let snapshot = frame["type"] == "snapshot";
            let figure = available_in(&frame, &product);
            seen.send_modify(|(snapshots, last)| {
                *snapshots += u32::from(snapshot);
                if figure.is_some() {
                    *last = figure;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(50 + rand::random::<u64>() % 300)).await;
    }
}

/// A rolling restart of every node behind HAProxy while 45 widgets watch and
/// buyers keep ordering: no order is lost or charged twice (a buyer whose
/// request failed retries with the same key, as the widget does), and
/// every widget resumes and ends on the final figure.
#[tokio::test]
async fn a_rolling_restart_behind_haproxy_drops_no_order_and_every_widget_resumes() {
    use futures_util::future::join_all;

    let cluster = spawn_cluster(1, |s| {
        with_stripe(s);
        s.rate_limits = dropcast::limits::RateLimitSettings::parse("off").unwrap();
    })
    .await;
    let a = &cluster.nodes[0];
    let mut env = paying_env(&stripe_url(), None);
    env.push(("DROPCAST_TRUSTED_PROXIES", "127.0.0.1".to_string()));
    let mut nodes = Vec::new();
    for id in ["node-r1", "node-r2", "node-r3"] {
        nodes.push(NodeProcess::start(&cluster, id, &env).await);
    }
    let addrs: Vec<&str> = nodes.iter().map(|n| n.addr.as_str()).collect();
    let lb = Haproxy::start(&addrs).await;
    let (token, show, product) = a.creator_show_product(200).await;

    let stop = tokio_util::sync::CancellationToken::new();
    let url = format!("ws://127.0.0.1:{}/api/v1/shows/{show}/live", lb.port);
    let mut widgets = Vec::new();
    for _ in 0..45 {
        let (tx, rx) = tokio::sync::watch::channel((0u32, None));
        tokio::spawn(widget(url.clone(), product.clone(), stop.clone(), tx));
        widgets.push(rx);
    }
    for w in &mut widgets {
        w.wait_for(|(snapshots, _)| *snapshots >= 1).await.unwrap();
    }

    // Buyers through the load balancer, one every 50 ms from before the
    // first node stops until the last is back; a request that fails is sent
    // again with the same key.
    let buyers = join_all((0..200).map(|_| a.buyer(CARD_OK))).await;
    let restarted = tokio_util::sync::CancellationToken::new();
    let lb_url = format!("http://127.0.0.1:{}", lb.port);
    let ordering = {
        let restarted = restarted.clone();
        let (client, show, product, lb_url) = (
            a.client.clone(),
            show.clone(),
            product.clone(),
            lb_url.clone(),
        );
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for (i, buyer) in buyers.into_iter().enumerate() {
                if restarted.is_cancelled() {
                    break;
                }
                let (client, show, product, lb_url) = (
                    client.clone(),
                    show.clone(),
                    product.clone(),
                    lb_url.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let key = format!("rolling-{i}");
                    let mut retries = 0;
                    loop {
                        let sent = client
                            .post(format!("{lb_url}/api/v1/shows/{show}/orders"))
                            .bearer_auth(&buyer)
                            .json(&json!({"product_id": product, "quantity": 1, "idempotency_key": key}))
                            .send()
                            .await;
                        if let Ok(res) = sent {
                            let status = res.status().as_u16();
                            if status < 500 {
                                let body: Value = res.json().await.unwrap_or(Value::Null);
                                return (status, body, retries);
                            }
                        }
                        retries += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            join_all(tasks).await
        })
    };
    for node in &mut nodes {
        node.signal("TERM").await;
        let exit = tokio::time::timeout(Duration::from_secs(40), node.child.wait())
            .await
            .expect("the node drains and exits")
            .unwrap();
        assert!(exit.success(), "{} exited with {exit}", node.node_id);
        node.restart(&a.client).await;
        // HAProxy sees it healthy again (two checks) before the next goes.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    restarted.cancel();
    let outcomes: Vec<(u16, Value, u32)> = ordering
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    for (status, body, _) in &outcomes {
        assert!(
            matches!(status, 200 | 201) && body["status"] == "paid",
            "{status} {body}"
        );
    }
    let sold = outcomes.len() as i64;
    assert!(sold >= 40, "orders all through the restart: {sold}");
    let retried: u32 = outcomes.iter().map(|o| o.2).sum();
    eprintln!("{sold} orders through the rolling restart, {retried} sent again");
    assert_eq!(a.stock(&product).await, (200 - sold, 0, sold));
    a.assert_stock_invariant().await;
    let intents = product_intents(a, &product).await;
    assert_charged_once(
        &intents,
        outcomes
            .iter()
            .map(|(_, body, _)| body["id"].as_str().unwrap()),
    );

    // Every widget was sent elsewhere at least once, came back, and follows
    // the show: a restock after the restart reaches all of them.
    add_stock(a, &token, &show, &product, 5).await;
    for (i, w) in widgets.iter_mut().enumerate() {
        let reached = tokio::time::timeout(
            Duration::from_secs(15),
            w.wait_for(|(_, last)| *last == Some(205 - sold)),
        )
        .await
        .is_ok();
        let seen = *w.borrow();
        assert!(reached, "widget {i} never saw {}: {seen:?}", 205 - sold);
        assert!(seen.0 >= 2, "widget {i} resumed from a snapshot: {seen:?}");
    }
    stop.cancel();
    drop(lb.child);
}
