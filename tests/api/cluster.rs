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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while viewers_now(c, &token, &show).await.0 != 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "C never counted 5 viewers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (now, peak) = viewers_now(c, &token, &show).await;
        if now == 2 {
            assert!(peak >= 5, "the peak was over the cluster: {peak}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B's viewers kept counting: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while c.get(&format!("/api/v1/shows/{show}"), None).await.body["live"] != true {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the show never went live"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while c.get(&format!("/api/v1/shows/{show}"), None).await.body["live"] != false {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the show never went offline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        publish(&on_c, 2, false).await,
        "C could not publish once A was done"
    );
}
