//! RTMP and SRT ingest with ffmpeg as the encoder, pushing the way OBS would:
//! H.264 with a 2 s GOP and AAC.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use media::ingest::{Authorized, BoxFuture, Ingest, IngestEvent, IngestHandler, IngestLimits};
use media::segmenter::FloodLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

mod common;

/// Keys `key-a` → `show-a`, `key-b` → `show-b`; records every event.
struct Recorder {
    dir: PathBuf,
    events: Mutex<Vec<IngestEvent>>,
}

impl Recorder {
    fn events(&self) -> Vec<IngestEvent> {
        self.events.lock().unwrap().clone()
    }

    fn segments_of(&self, show: &str) -> Vec<media::segmenter::Segment> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                IngestEvent::Segment { show_id, segment } if show_id == show => Some(segment),
                _ => None,
            })
            .collect()
    }

    fn lives_of(&self, show: &str) -> Vec<bool> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                IngestEvent::Live { show_id, live } if show_id == show => Some(live),
                _ => None,
            })
            .collect()
    }

    async fn wait_for(&self, what: &str, check: impl Fn(&Recorder) -> bool) {
        for _ in 0..400 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}: {:?}", self.events());
    }
}

impl IngestHandler for Recorder {
    fn authorize<'a>(&'a self, stream_key: &'a str) -> BoxFuture<'a, Option<Authorized>> {
        Box::pin(async move {
            let show = HashMap::from([("key-a", "show-a"), ("key-b", "show-b")])
                .get(stream_key)
                .map(|s| s.to_string())?;
            let last = self.segments_of(&show).last().cloned();
            Some(Authorized {
                next_seq: last.as_ref().map_or(0, |s| s.seq + 1),
                buffer_end_ms: last.map_or(0, |s| s.end_ms),
                dir: self.dir.join(&show),
                show_id: show,
                live: None,
            })
        })
    }

    fn event(&self, event: IngestEvent) {
        self.events.lock().unwrap().push(event);
    }
}

struct Servers {
    recorder: Arc<Recorder>,
    rtmp_port: u16,
    srt_port: u16,
    _dir: tempfile::TempDir,
}

/// Servers whose publishers may push files faster than live (most tests
/// here do, to be quick).
async fn servers() -> Servers {
    servers_with(IngestLimits {
        flood: FloodLimits::unpaced(),
        ..IngestLimits::default()
    })
    .await
}

async fn servers_with(limits: IngestLimits) -> Servers {
    media::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder {
        dir: dir.path().to_path_buf(),
        events: Mutex::new(Vec::new()),
    });
    let ingest = Ingest::with_limits(recorder.clone(), Duration::from_secs(1), limits);
    let rtmp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rtmp_port = rtmp.local_addr().unwrap().port();
    tokio::spawn(media::rtmp::serve(
        rtmp,
        ingest.clone(),
        std::future::pending(),
    ));
    let srt_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{srt_port}").parse().unwrap();
    tokio::spawn(async move {
        media::srt::serve(addr, ingest, std::future::pending())
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    Servers {
        recorder,
        rtmp_port,
        srt_port,
        _dir: dir,
    }
}

/// ffmpeg publishing a test pattern and a tone; `realtime` paces it like a camera.
fn publish(url: &str, format: &str, seconds: u32, realtime: bool) -> Child {
    let mut cmd = Command::new("ffmpeg");
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
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
    ])
    .args([
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
    ])
    .args(["-c:a", "aac", "-b:a", "96k", "-f", format, url])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    cmd.spawn().expect("ffmpeg starts")
}

fn rtmp_url(s: &Servers, key: &str) -> String {
    format!("rtmp://127.0.0.1:{}/live/{key}", s.rtmp_port)
}

fn srt_url(s: &Servers, key: &str) -> String {
    format!(
        "srt://127.0.0.1:{}?streamid={key}&mode=caller&pkt_size=1316",
        s.srt_port
    )
}

fn assert_buffer(segments: &[media::segmenter::Segment], from_seq: u64) {
    assert!(segments.len() >= 2, "{segments:?}");
    // Contiguous wall-clock spans of about one GOP each (a reconnect leaves a gap).
    for w in segments.windows(2) {
        let len = w[0].end_ms - w[0].start_ms;
        assert!(
            (1800..=2200).contains(&len),
            "segment of {len} ms: {segments:?}"
        );
        assert!(w[1].start_ms >= w[0].end_ms, "{segments:?}");
    }
    // A sliver before the first keyframe may have been dropped: numbering may
    // start one later, then runs on without gaps within a session.
    assert!(
        segments[0].seq == from_seq || segments[0].seq == from_seq + 1,
        "{segments:?}"
    );
    for s in segments.iter() {
        assert!(s.path.exists());
        assert!(s.bytes > 1000);
        assert!(
            common::opens_with_pat_and_pmt(&s.path),
            "{:?} does not open with PAT and PMT",
            s.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_publisher_fills_the_buffer_and_goes_live_then_offline() {
    let s = servers().await;
    let status = publish(&rtmp_url(&s, "key-a"), "flv", 6, false)
        .wait()
        .await
        .unwrap();
    assert!(status.success(), "ffmpeg failed to publish over RTMP");
    s.recorder
        .wait_for("offline", |r| r.lives_of("show-a") == [true, false])
        .await;
    assert_buffer(&s.recorder.segments_of("show-a"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_publishers_on_one_port_are_routed_by_stream_id() {
    let s = servers().await;
    let mut a = publish(&srt_url(&s, "key-a"), "mpegts", 5, true);
    let mut b = publish(&srt_url(&s, "#!::r=key-b,m=publish"), "mpegts", 5, true);
    assert!(a.wait().await.unwrap().success());
    assert!(b.wait().await.unwrap().success());
    for show in ["show-a", "show-b"] {
        s.recorder
            .wait_for("offline", |r| r.lives_of(show) == [true, false])
            .await;
        assert_buffer(&s.recorder.segments_of(show), 0);
        assert!(
            s.recorder
                .segments_of(show)
                .iter()
                .all(|seg| seg.path.starts_with(s.recorder.dir.join(show)))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_refused_on_both_protocols() {
    let s = servers().await;
    let rtmp = publish(&rtmp_url(&s, "nope"), "flv", 2, false)
        .wait()
        .await
        .unwrap();
    let srt = publish(&srt_url(&s, "nope"), "mpegts", 2, false)
        .wait()
        .await
        .unwrap();
    assert!(!rtmp.success() && !srt.success());
    assert!(s.recorder.events().is_empty(), "{:?}", s.recorder.events());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_publisher_on_a_live_key_is_refused() {
    let s = servers().await;
    let mut first = publish(&rtmp_url(&s, "key-a"), "flv", 6, true);
    s.recorder
        .wait_for("live", |r| r.lives_of("show-a") == [true])
        .await;
    let second_rtmp = publish(&rtmp_url(&s, "key-a"), "flv", 2, false)
        .wait()
        .await
        .unwrap();
    let second_srt = publish(&srt_url(&s, "key-a"), "mpegts", 2, false)
        .wait()
        .await
        .unwrap();
    assert!(!second_rtmp.success() && !second_srt.success());
    assert!(first.wait().await.unwrap().success());
    s.recorder
        .wait_for("offline", |r| r.lives_of("show-a") == [true, false])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_publisher_continues_the_same_buffer() {
    let s = servers().await;
    assert!(
        publish(&rtmp_url(&s, "key-a"), "flv", 4, false)
            .wait()
            .await
            .unwrap()
            .success()
    );
    s.recorder
        .wait_for("offline", |r| r.lives_of("show-a") == [true, false])
        .await;
    let first = s.recorder.segments_of("show-a").len() as u64;
    assert!(
        publish(&srt_url(&s, "key-a"), "mpegts", 4, true)
            .wait()
            .await
            .unwrap()
            .success()
    );
    s.recorder
        .wait_for("offline again", |r| {
            r.lives_of("show-a") == [true, false, true, false]
        })
        .await;
    let all = s.recorder.segments_of("show-a");
    assert!(all.len() as u64 > first);
    assert_buffer(&all, 0);
}

/// Whether the server has closed `conn` (EOF or reset) within `within`.
async fn closed_within(conn: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // The server's handshake reply: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_handshakes_that_never_finish_are_dropped_and_capped_per_address() {
    let s = servers_with(IngestLimits {
        max_connections_per_ip: 3,
        handshake_deadline: Duration::from_secs(2),
        ..IngestLimits::default()
    })
    .await;
    let addr = format!("127.0.0.1:{}", s.rtmp_port);
    // Three that stall: silent, half a C0+C1, a whole C0+C1 and no C2.
    let mut stuck = Vec::new();
    for sent in [0usize, 700, 1537] {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut hello = vec![3u8];
        hello.resize(sent, 0);
        conn.write_all(&hello).await.unwrap();
        stuck.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fourth from the same address is closed at once.
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_millis(1000)).await,
        "over the per-address cap"
    );
    // The stalled ones are closed at the deadline, which frees their places.
    for conn in &mut stuck {
        assert!(
            closed_within(conn, Duration::from_secs(4)).await,
            "a handshake past its deadline"
        );
    }
    let status = publish(&rtmp_url(&s, "key-a"), "flv", 2, true)
        .wait()
        .await
        .unwrap();
    assert!(status.success(), "a real publisher gets in afterwards");
    s.recorder
        .wait_for("offline", |r| r.lives_of("show-a") == [true, false])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_message_too_big_before_publishing_is_refused() {
    let s = servers_with(IngestLimits {
        max_pre_publish_bytes: 16 * 1024,
        ..IngestLimits::default()
    })
    .await;
    let mut conn = tokio::net::TcpStream::connect(format!("127.0.0.1:{}", s.rtmp_port))
        .await
        .unwrap();
    // A proper handshake, as a client.
    let mut hs = rml_rtmp::handshake::Handshake::new(rml_rtmp::handshake::PeerType::Client);
    conn.write_all(&hs.generate_outbound_p0_and_p1().unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed during the handshake");
        match hs.process_bytes(&buf[..n]).unwrap() {
            rml_rtmp::handshake::HandshakeProcessResult::InProgress { response_bytes } => {
                conn.write_all(&response_bytes).await.unwrap()
            }
            rml_rtmp::handshake::HandshakeProcessResult::Completed { response_bytes, .. } => {
                conn.write_all(&response_bytes).await.unwrap();
                break;
            }
        }
    }
    // Then one chunk stream message announced at 16 MB (an AMF0 command
    // on chunk stream 3), sent in 128-byte chunks, instead of `connect`.
    let mut header = vec![0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0];
    header.extend([0u8; 128]);
    let _ = conn.write_all(&header).await;
    let mut chunk = vec![0xc3u8];
    chunk.extend([0u8; 128]);
    let mut sent = header.len();
    while sent < 1024 * 1024 {
        if conn.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(
        closed_within(&mut conn, Duration::from_secs(3)).await,
        "the server keeps reading a message it should refuse"
    );
    assert!(s.recorder.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_publisher_faster_than_live_is_cut_and_told() {
    let s = servers_with(IngestLimits {
        flood: FloodLimits {
            max_ahead: Some(Duration::from_secs(3)),
            ..FloodLimits::default()
        },
        ..IngestLimits::default()
    })
    .await;
    // 60 s of media, not paced: it runs ahead of the clock at once.
    let status = publish(&rtmp_url(&s, "key-a"), "flv", 60, false)
        .wait()
        .await
        .unwrap();
    assert!(!status.success(), "the server cut ffmpeg off");
    s.recorder
        .wait_for("offline", |r| r.lives_of("show-a") == [true, false])
        .await;
    let events = s.recorder.events();
    let cut = events
        .iter()
        .position(|e| matches!(e, IngestEvent::Cut { cut, .. } if cut.code() == "flood"))
        .expect("a flood cut is reported");
    let offline = events
        .iter()
        .position(|e| matches!(e, IngestEvent::Live { live: false, .. }))
        .unwrap();
    assert!(cut < offline, "the cut comes before the show goes offline");
    // What was recorded before the cut is whole.
    for seg in s.recorder.segments_of("show-a") {
        assert_eq!(std::fs::metadata(&seg.path).unwrap().len(), seg.bytes);
    }
}
