//! Ingest: the server's CPU and memory per live 720p30 stream, for 1, 3 and
//! 10 streams at once.
//!
//! ```text
//!  ffmpeg (once): 30 s of the clip bench's test stream (720p30, x264 3 Mb/s,
//!                 2 s GOP, B-frames; AAC) → stream.flv
//!  per count N:   a fresh release `dropcast serve`, N shows, N publishers
//!                 `ffmpeg -re -stream_loop -1 -i stream.flv -c copy -f flv rtmp://…`
//!                 (no encoding in the publishers: they only pace and send)
//!                 → all live, 6 s to settle, then the server's CPU time
//!                 (utime + stime from /proc) and resident set over 20 s
//! ```
//!
//! What the server does per stream is all of it: RTMP, FLV demux and parse,
//! segmenting to MPEG-TS, the replay index, HLS, and one thumbnail (a decoded
//! keyframe, scaled, JPEG) per segment.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::Server;

type Error = Box<dyn std::error::Error>;

/// How long the CPU is measured, once every stream is live.
const WINDOW: Duration = Duration::from_secs(20);

/// Publishers killed on drop.
struct Publishers(Vec<Child>);

impl Drop for Publishers {
    fn drop(&mut self) {
        for p in &mut self.0 {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// How many of `shows` are live now.
async fn live_count(client: &reqwest::Client, base: &str, shows: &[Value]) -> Result<usize, Error> {
    let mut live = 0;
    for show in shows {
        let id = show["id"].as_str().unwrap_or_default();
        let view: Value = client
            .get(format!("{base}/api/v1/shows/{id}"))
            .send()
            .await?
            .json()
            .await?;
        live += usize::from(view["live"] == true);
    }
    Ok(live)
}

async fn measure(file: &std::path::Path, streams: usize) -> Result<Value, Error> {
    let server = Server::start().await?;
    let client = reqwest::Client::new();
    let token = server.creator().await?;
    let mut shows = Vec::new();
    for i in 0..streams {
        shows.push(
            server
                .post("/shows", &token, json!({"title": format!("Stream {i}")}))
                .await?,
        );
    }
    let pid = server.pid();
    let idle_rss = crate::server::rss_kib(pid).unwrap_or(0);
    let mut publishers = Publishers(Vec::new());
    for show in &shows {
        let key = show["stream_key"].as_str().unwrap_or_default();
        let url = format!("rtmp://127.0.0.1:{}/live/{key}", server.rtmp_port);
        publishers.0.push(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
                .args(["-stream_loop", "-1", "-i"])
                .arg(file)
                .args(["-c", "copy", "-f", "flv", &url])
                .stdout(Stdio::null())
                .spawn()?,
        );
    }
    // Every show live.
    let started = Instant::now();
    loop {
        let live = live_count(&client, &server.base, &shows).await?;
        if live == streams {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("only {live} of {streams} streams went live").into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let t0 = crate::machine::cpu_ticks(pid).ok_or("no /proc stat for the server")?;
    let wall = Instant::now();
    let cpu = crate::machine::CpuTimes::now();
    tokio::time::sleep(WINDOW).await;
    let t1 = crate::machine::cpu_ticks(pid).ok_or("no /proc stat for the server")?;
    let seconds = wall.elapsed().as_secs_f64();
    let steal_pct = cpu.steal_pct_since();
    let rss = crate::server::rss_kib(pid).unwrap_or(0);
    // Still live at the end (no publisher fell over).
    let still_live = live_count(&client, &server.base, &shows).await?;
    drop(publishers);
    let core_pct = (t1 - t0) as f64 / crate::machine::clock_ticks_per_s() / seconds * 100.0;
    let result = json!({
        "streams": streams,
        "still_live": still_live,
        "cpu_pct_of_one_core": core_pct,
        "cpu_pct_per_stream": core_pct / streams as f64,
        "rss_idle_kib": idle_rss,
        "rss_kib": rss,
        "rss_per_stream_kib": rss.saturating_sub(idle_rss) as f64 / streams as f64,
        "window_s": seconds,
        "steal_pct": steal_pct,
    });
    eprintln!("ingest {streams}: {result}");
    Ok(result)
}

/// `dropcast-bench ingest [--streams 1,3,10]`.
pub async fn run(counts: &[usize]) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("stream.flv");
    eprintln!("ingest: encoding 30 s of 720p30 test stream");
    crate::clip::encode(30, "flv", &file)?;
    let mut figures = Vec::new();
    for &n in counts {
        figures.push(measure(&file, n).await?);
    }
    let result = json!({
        "machine": crate::machine::describe(),
        "window_s": WINDOW.as_secs(),
        "figures": figures,
    });
    crate::save("ingest", &result)
}
