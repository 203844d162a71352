//! `dropcast-bench`: Dropcast's benchmarks. Each one measures, keeps its
//! figures in `target/bench/NAME.json`, and the report rewrites
//! `BENCHMARKS.md` from every figure there, with the machine and the date.
//!
//! ```text
//! dropcast-bench clip [--runs N]   a 60 s clip cut from the replay buffer, beside ffmpeg
//! dropcast-bench clip-vertical [--runs N]   a 10 s vertical short, beside ffmpeg (same x264 settings)
//! dropcast-bench widget            the pages' wasm and JS, raw and gzipped
//! dropcast-bench fanout [--sockets 10000,25000,50000] [--runs N]
//!                                  one stock change to N idle sockets: p50/p99/max, memory
//! dropcast-bench fanout-client …   the fan-out load generator (started by `fanout`)
//! dropcast-bench fanout-floor      the fan-out floor: bare writes, no server (started by `fanout`)
//! dropcast-bench checkout [--runs N] [--db D] flash sale: hold path and whole path, SQLite and PostgreSQL
//! dropcast-bench ingest [--streams 1,3,10]  server CPU and memory per live 720p30 stream
//! dropcast-bench notices           one notice to 10k browsers and 10k addresses, checkout beside it
//! dropcast-bench report            rewrites BENCHMARKS.md from target/bench/*.json
//! ```
//!
//! Benchmarks measure; they assert nothing but that what they timed is the
//! thing they meant to time (a clip of the right length, say).
//!
//! # Layout
//! - [`clip`]: clip export against `ffmpeg -i concat: -c copy`.
//! - [`fanout`]: live fan-out to many sockets, and its load generator.
//! - [`floor`]: the fan-out floor, bare writes to the same sockets.
//! - [`checkout`]: a flash sale, on the hold path alone and through Stripe.
//! - [`ingest`]: CPU and memory per live stream.
//! - [`machine`]: what the figures were measured on.
//! - [`notices`]: a notice to 10,000 by Web Push and by email, with checkout.
//! - [`widget`]: the size of the pages' module.
//! - [`report`]: rewrites `BENCHMARKS.md` from the figures.
//! - [`server`]: a release `dropcast serve` of the benchmarks' own.

mod checkout;
mod clip;
mod cluster;
mod fanout;
mod floor;
mod ingest;
mod machine;
mod notices;
mod report;
mod server;
mod widget;

use std::path::PathBuf;
use std::time::Duration;

/// Where each benchmark leaves its figures.
fn results_dir() -> PathBuf {
    root().join("target").join("bench")
}

/// The repository's root (the bench runs from anywhere inside it).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The median of some durations, in milliseconds.
fn median_ms(samples: &[Duration]) -> f64 {
    median(samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
}

/// The p-th percentile (nearest rank) of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some values.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Keeps a benchmark's figures in `target/bench/NAME.json` and rewrites
/// `BENCHMARKS.md` from all of them.
fn save(name: &str, result: &serde_json::Value) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(results_dir())?;
    std::fs::write(
        results_dir().join(format!("{name}.json")),
        serde_json::to_string_pretty(result)?,
    )?;
    report::write()
}

fn usage() -> ! {
    eprintln!(
        "usage: dropcast-bench clip [--runs N] | clip-vertical [--runs N] | widget | fanout [--sockets N,N…] [--runs N] | cluster [--per-node N,N…] [--runs N] | checkout [--runs N] [--db sqlite|postgres] | ingest [--streams N,N…] | notices | report"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().unwrap_or_else(|_| usage()))
        .unwrap_or(7);
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let outcome = match args.first().map(String::as_str) {
        Some("clip") => clip::run(runs).await,
        Some("clip-vertical") => clip::run_vertical(runs).await,
        Some("checkout") => checkout::run(runs, flag("--db").as_deref()).await,
        Some("ingest") => {
            let counts: Vec<usize> = flag("--streams")
                .unwrap_or_else(|| "1,3,10".into())
                .split(',')
                .map(|n| n.trim().parse().unwrap_or_else(|_| usage()))
                .collect();
            ingest::run(&counts).await
        }
        Some("fanout") => {
            let counts: Vec<usize> = flag("--sockets")
                .unwrap_or_else(|| "10000,25000,50000".into())
                .split(',')
                .map(|n| n.trim().parse().unwrap_or_else(|_| usage()))
                .collect();
            fanout::run(&counts, runs).await
        }
        Some("cluster") => {
            let counts: Vec<usize> = flag("--per-node")
                .unwrap_or_else(|| "15000,18000".into())
                .split(',')
                .map(|n| n.trim().parse().unwrap_or_else(|_| usage()))
                .collect();
            cluster::run(&counts, runs).await
        }
        Some("fanout-floor") => crate::floor::serve(),
        Some("fanout-client") => match (args.get(1), args.get(2), args.get(3)) {
            (Some(url), Some(n), Some(source)) => {
                fanout::client(
                    url,
                    n.parse().unwrap_or_else(|_| usage()),
                    source.parse().unwrap_or_else(|_| usage()),
                )
                .await
            }
            _ => usage(),
        },
        Some("notices") => notices::run().await,
        Some("widget") => widget::run(),
        Some("report") => report::write(),
        _ => usage(),
    };
    if let Err(e) = outcome {
        eprintln!("dropcast-bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let d = |ms| Duration::from_millis(ms);
        assert_eq!(median_ms(&[d(30), d(10), d(20)]), 20.0);
        assert_eq!(median_ms(&[d(40), d(10), d(20), d(30)]), 25.0);
        assert!(median_ms(&[]).is_nan());
    }
}
