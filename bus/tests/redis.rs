//! The bus against a real Redis (Debian's `redis-server`, started here on a
//! free port): messages cross between two buses in order, a bus does not hear
//! itself, a restart of Redis is announced, and counts sum over live leases.

use std::time::Duration;

use bus::{Bus, Event};
use tokio::sync::mpsc::UnboundedReceiver;

/// A private redis-server that can be stopped and started on the same port.
struct Redis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl Redis {
    async fn start() -> Redis {
        loop {
            let mut redis = Redis {
                port: free_port(),
                child: None,
            };
            if redis.try_start().await {
                return redis;
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn resume(&mut self) {
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
            .expect("redis-server (Debian's redis-server; scripts/test.sh installs it)");
        let pid = child.id();
        self.child = Some(child);
        let mut answering = None;
        for _ in 0..100 {
            answering = answering_pid(self.port).await;
            if answering.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if answering.is_some() && answering == pid {
            return true;
        }
        self.stop().await;
        false
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The process id of the Redis answering on `port`, if one does.
async fn answering_pid(port: u16) -> Option<u32> {
    let out = tokio::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "server"])
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
}

/// Publishes "after" on `show:1` from `from` (waiting `pause` before each
/// try) until `to` hears it; everything `to` heard meanwhile, in order.
async fn publish_until_heard(
    from: &Bus,
    to: &mut UnboundedReceiver<Event>,
    pause: Duration,
) -> Vec<Event> {
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !heard
        .iter()
        .any(|e| matches!(e, Event::Message { payload, .. } if payload == b"after"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "heard only {heard:?}"
        );
        tokio::time::sleep(pause).await;
        from.publish("show:1", b"after".to_vec());
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), to.recv()).await {
            heard.push(e);
        }
    }
    heard
}

async fn next(events: &mut UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the bus is running")
}

#[tokio::test]
async fn messages_cross_in_order_and_a_bus_does_not_hear_itself() {
    let redis = Redis::start().await;
    let (a, mut a_events) = Bus::connect(&redis.url(), "node-a").await.unwrap();
    let (b, mut b_events) = Bus::connect(&redis.url(), "node-b").await.unwrap();
    a.subscribe("show:1").await;
    b.subscribe("show:1").await;
    for i in 0..2000u32 {
        a.publish("show:1", i.to_be_bytes().to_vec());
    }
    for i in 0..2000u32 {
        assert_eq!(
            next(&mut b_events).await,
            Event::Message {
                channel: "show:1".into(),
                payload: i.to_be_bytes().to_vec()
            }
        );
    }
    b.publish("show:1", b"from b".to_vec());
    assert_eq!(
        next(&mut a_events).await,
        Event::Message {
            channel: "show:1".into(),
            payload: b"from b".to_vec()
        }
    );
    // A's own 2000 never came back to it: the first thing it heard was B's.
    assert!(a_events.try_recv().is_err());
    assert!(b_events.try_recv().is_err(), "B heard its own message");
    assert_eq!(
        a.stats()
            .published
            .load(std::sync::atomic::Ordering::Relaxed),
        2000
    );
}

#[tokio::test]
async fn only_subscribed_channels_are_heard_and_subscriptions_are_counted() {
    let redis = Redis::start().await;
    let (a, _a_events) = Bus::connect(&redis.url(), "node-a").await.unwrap();
    let (b, mut b_events) = Bus::connect(&redis.url(), "node-b").await.unwrap();
    b.subscribe("show:1").await;
    b.subscribe("show:1").await;
    b.unsubscribe("show:1");
    // Still subscribed once; a round trip through the control queue first.
    b.subscribe("show:2").await;
    a.publish("show:3", b"nobody".to_vec());
    a.publish("show:1", b"one".to_vec());
    assert_eq!(
        next(&mut b_events).await,
        Event::Message {
            channel: "show:1".into(),
            payload: b"one".to_vec()
        }
    );
    b.unsubscribe("show:1");
    b.subscribe("show:2").await;
    a.publish("show:1", b"gone".to_vec());
    a.publish("show:2", b"two".to_vec());
    assert_eq!(
        next(&mut b_events).await,
        Event::Message {
            channel: "show:2".into(),
            payload: b"two".to_vec()
        }
    );
}

#[tokio::test]
async fn a_restart_of_redis_is_announced_and_the_subscriptions_come_back() {
    let mut redis = Redis::start().await;
    let (a, _a_events) = Bus::connect(&redis.url(), "node-a").await.unwrap();
    let (b, mut b_events) = Bus::connect(&redis.url(), "node-b").await.unwrap();
    b.subscribe("show:1").await;
    redis.stop().await;
    // Published while Redis is down: lost, and A says so once it can.
    a.publish("show:1", b"while down".to_vec());
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.resume().await;
    assert_eq!(next(&mut b_events).await, Event::Reconnected);
    // B is subscribed again: A's lost notice (if A noticed the loss) and then
    // new messages reach it.
    let heard = publish_until_heard(&a, &mut b_events, Duration::ZERO).await;
    // Whether B also hears A's lost notice depends on whether A sent it
    // before or after B was subscribed again; Reconnected covers both.
    assert!(
        heard
            .iter()
            .all(|e| matches!(e, Event::Lost { .. } | Event::Message { .. })),
        "{heard:?}"
    );
    assert!(a.stats().lost.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(
        b.stats()
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[tokio::test]
async fn a_publisher_that_lost_its_connection_says_so_once_it_is_back() {
    let redis = Redis::start().await;
    let (a, _a_events) = Bus::connect(&redis.url(), "node-a").await.unwrap();
    let (b, mut b_events) = Bus::connect(&redis.url(), "node-b").await.unwrap();
    b.subscribe("show:1").await;
    a.publish("show:1", b"before".to_vec());
    assert!(matches!(next(&mut b_events).await, Event::Message { .. }));
    // Redis drops every connection but the subscribed ones: A's publisher
    // goes, B's subscription stays.
    let killed = tokio::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "CLIENT",
            "KILL",
            "TYPE",
            "normal",
        ])
        .output()
        .await
        .expect("redis-cli (Debian's redis-tools, with redis-server)");
    assert!(killed.status.success());
    a.publish("show:1", b"on the dead connection".to_vec());
    // A reconnects and starts its next pipeline with the lost notice.
    let heard = publish_until_heard(&a, &mut b_events, Duration::from_millis(150)).await;
    assert_eq!(
        heard[0],
        Event::Lost {
            channel: "show:1".into()
        },
        "{heard:?}"
    );
    assert!(
        !heard.contains(&Event::Reconnected),
        "B's subscription never dropped"
    );
    assert!(!heard.iter().any(
        |e| matches!(e, Event::Message { payload, .. } if payload == b"on the dead connection")
    ));
    assert!(a.stats().lost.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn counts_sum_over_members_whose_lease_runs() {
    let redis = Redis::start().await;
    let (a, _) = Bus::connect(&redis.url(), "node-a").await.unwrap();
    let (b, _) = Bus::connect(&redis.url(), "node-b").await.unwrap();
    let lease = Duration::from_millis(600);
    let key = |s: &str| s.to_string();
    a.report_counts("a", &[(key("v:1"), 10), (key("v:2"), 1)], lease)
        .await
        .unwrap();
    let sums = b
        .report_counts("b", &[(key("v:1"), 5)], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(sums, vec![15]);
    assert_eq!(
        a.sum_counts(&[key("v:1"), key("v:2"), key("v:9")])
            .await
            .unwrap(),
        vec![15, 1, 0]
    );
    // A stops reporting (it died): its counts stop counting once its lease lapses.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        b.sum_counts(&[key("v:1"), key("v:2")]).await.unwrap(),
        vec![5, 0]
    );
}

#[tokio::test]
async fn a_rate_limit_is_shared_by_every_bus() {
    let redis = Redis::start().await;
    let (a, _) = Bus::connect(&redis.url(), "node-a").await.unwrap();
    let (b, _) = Bus::connect(&redis.url(), "node-b").await.unwrap();
    let period = Duration::from_secs(60);
    // A burst of 5 per minute, wherever the requests land.
    for bus in [&a, &b, &a, &b, &a] {
        assert_eq!(bus.take("rl:ip:1", 5, period).await.unwrap(), None);
    }
    for bus in [&a, &b] {
        let wait = bus.take("rl:ip:1", 5, period).await.unwrap().expect("over");
        // One request's worth of the period (12 s), give or take the run time.
        assert!(
            wait > Duration::from_secs(11) && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
    }
    assert_eq!(b.take("rl:ip:2", 5, period).await.unwrap(), None, "per key");
    // 4 per second: after a quarter second one more gets through, then not.
    for _ in 0..4 {
        assert_eq!(
            a.take("rl:fast", 4, Duration::from_secs(1)).await.unwrap(),
            None
        );
    }
    assert!(
        b.take("rl:fast", 4, Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.take("rl:fast", 4, Duration::from_secs(1)).await.unwrap(),
        None
    );
    assert!(
        a.take("rl:fast", 4, Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn connecting_to_nothing_fails_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Bus::connect(&format!("redis://127.0.0.1:{port}"), "x")
        .await
        .err()
        .expect("no Redis there");
    assert!(err.to_string().contains("redis"), "{err}");
}
