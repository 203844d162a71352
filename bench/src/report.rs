//! Rewrites `BENCHMARKS.md` from the figures in `target/bench/*.json`.
//!
//! Each section says how it was measured, on what machine and when, the
//! median and every sample, and whether its goal is met.

use std::fmt::Write as _;

use serde_json::Value;

type Error = Box<dyn std::error::Error>;

fn load(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(crate::results_dir().join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

fn machine_table(out: &mut String, result: &Value) {
    out.push_str("| | |\n|---|---|\n");
    for pair in result["machine"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| {} | {} |",
            pair[0].as_str().unwrap_or(""),
            pair[1].as_str().unwrap_or("")
        );
    }
    out.push('\n');
}

fn samples(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|ms| format!("{ms:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn clip_section(out: &mut String, r: &Value) {
    let ours = r["ours_median_ms"].as_f64().unwrap_or(f64::NAN);
    let theirs = r["ffmpeg_median_ms"].as_f64().unwrap_or(f64::NAN);
    let ratio = r["ratio"].as_f64().unwrap_or(f64::NAN);
    let _ = write!(
        out,
        "## Clip export: a 60 s clip from the replay buffer\n\n\
         `dropcast-bench clip`: ffmpeg encodes a {stream} s stream of 1280x720 30 fps test \
         pattern and tone (x264 veryfast, 3 Mb/s, 2 s GOP, B-frames; AAC 128 kb/s), the \
         server's own segmenter cuts it into keyframe-aligned TS segments, then {runs} \
         alternating runs cut the same {segments} segments ({span:.1} s, {mib:.1} MiB) into an MP4 \
         with its index first: ours (`media::clip::make_clip`, GStreamer, no re-encode) \
         and `ffmpeg -i \"concat:…\" -c copy -movflags +faststart`. Both outputs are \
         checked for audio and video of the full span ({ours_len:.3} s ours, \
         {theirs_len:.3} s ffmpeg).\n\n\
         | | median | samples (ms) |\n|---|---|---|\n\
         | Dropcast | **{ours:.0} ms** | {ours_samples} |\n\
         | ffmpeg concat, copy | {theirs:.0} ms | {theirs_samples} |\n\n\
         Ratio (ours / ffmpeg): **{ratio:.2}**. Goal: no slower than ffmpeg (ratio ≤ 1.00) \
         — {verdict}. ffmpeg's time includes starting its process, {start:.0} ms \
         (median of `ffmpeg -version`); ours runs inside the server, as the product does.\n\n",
        stream = r["stream_s"],
        span = r["span_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        runs = r["runs"],
        segments = r["segments"],
        mib = r["input_mib"].as_f64().unwrap_or(0.0),
        ours_len = r["ours_duration_s"].as_f64().unwrap_or(0.0),
        theirs_len = r["ffmpeg_duration_s"].as_f64().unwrap_or(0.0),
        ours_samples = samples(&r["ours_samples_ms"]),
        theirs_samples = samples(&r["ffmpeg_samples_ms"]),
        start = r["ffmpeg_start_median_ms"].as_f64().unwrap_or(f64::NAN),
        verdict = if ratio <= 1.0 {
            "met".to_string()
        } else {
            format!("not met, by {:.0} ms", ours - theirs)
        },
    );
}

fn widget_section(out: &mut String, r: &Value) {
    let kb = |key: &str| r[key].as_f64().unwrap_or(f64::NAN) / 1000.0;
    let total = kb("js_gzip") + kb("wasm_gzip");
    let _ = write!(
        out,
        "## Widget size\n\n\
         `dropcast-bench widget`: the one wasm module every page uses and its JS glue, as \
         `scripts/build_widget.sh` builds them (release, `wasm-opt -Oz`), gzipped with \
         `gzip -9`.\n\n\
         | | raw | gzipped |\n|---|---|---|\n\
         | wasm | {wasm:.1} kB | {wasm_gz:.1} kB |\n\
         | JS | {js:.1} kB | {js_gz:.1} kB |\n\
         | together | | **{total:.1} kB** |\n\n\
         Goal: under 250 kB together — {verdict}. (Measured on {date}.)\n\n",
        wasm = kb("wasm_bytes"),
        wasm_gz = kb("wasm_gzip"),
        js = kb("js_bytes"),
        js_gz = kb("js_gzip"),
        verdict = if total < 250.0 { "met" } else { "not met" },
        date = r["machine"][0][1].as_str().unwrap_or("?"),
    );
}

fn fanout_section(out: &mut String, r: &Value) {
    let _ = write!(
        out,
        "## Live fan-out: one stock change to N idle sockets\n\n\
         `dropcast-bench fanout`: a release `dropcast serve` on SQLite; N websocket viewers of \
         one show opened by separate load-generator processes (`dropcast-bench \
         fanout-client`, at most 12,500 sockets each, from 8 source addresses 127.0.0.x); \
         then {runs} times (after one warm-up): restock one unit over HTTP and time, by the \
         wall clock, from just before the request to each socket reading the new figure. \
         The figure is the median over the runs of each run's p50, p99 and max. Memory is \
         the server's resident set with the sockets open, minus before, per socket. The \
         load generators run on the same cores as the server.\n\n\
         | sockets | p50 | p99 | max | memory / conn | connect all | missed |\n\
         |---|---|---|---|---|---|---|\n",
        runs = r["runs"],
    );
    let mut verdicts = Vec::new();
    // p99 per socket at the largest count measured.
    let per_socket_us = r["figures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["p99_ms"].is_number())
        .max_by_key(|f| f["sockets"].as_u64().unwrap_or(0))
        .map_or(f64::NAN, |f| {
            f["p99_ms"].as_f64().unwrap_or(f64::NAN) * 1000.0
                / f["sockets"].as_f64().unwrap_or(f64::NAN)
        });
    for f in r["figures"].as_array().into_iter().flatten() {
        let n = f["sockets"].as_u64().unwrap_or(0);
        if let Some(why) = f["skipped"].as_str() {
            let _ = writeln!(out, "| {n} | — | — | — | — | — | not run: {why} |");
            continue;
        }
        let num = |k: &str| f[k].as_f64().unwrap_or(f64::NAN);
        let missed: u64 = f["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["missing"].as_u64())
            .sum();
        let label = if f["largest_here"].as_bool() == Some(true) {
            format!("{n} (the most allowed here)")
        } else {
            n.to_string()
        };
        let _ = writeln!(
            out,
            "| {label} | {:.1} ms | **{:.1} ms** | {:.1} ms | **{:.1} KiB** | {:.1} s | {missed} |",
            num("p50_ms"),
            num("p99_ms"),
            num("max_ms"),
            num("bytes_per_conn") / 1024.0,
            num("connect_s"),
        );
        if n >= 50_000 {
            verdicts.push(format!(
                "50k: p99 {:.1} ms, {:.1} KiB per connection",
                num("p99_ms"),
                num("bytes_per_conn") / 1024.0
            ));
        }
    }
    let _ = write!(
        out,
        "\nGoal: 50,000 viewers on this 2-core machine with p99 under 100 ms and under 16 KiB \
         per connection — {}. (Open-file hard limit here: {}.)\n\n\
         What bounds it: the kernel's TCP send, one `sendto` per socket per frame. A `perf \
         record` of the server during this benchmark at 10,000 sockets (server on one core, \
         load on the other: `DROPCAST_BENCH_SPLIT=0/1`; 2026-11-22) put 60% of the server's \
         CPU in the kernel under `sendto`, about half of that being loopback delivering each \
         segment to the receiving socket in the sender's context; the room, the broadcast \
         channel, the socket tasks and actix-ws's frame encoding were the other 37%. The room \
         serializes a frame once and every socket sends the same bytes, so what is left per \
         socket is mostly the write itself. Here p99 grew about linearly with sockets, {per_socket:.0} µs \
         per socket at the largest count measured: at that rate 50,000 sockets would take \
         about {at_50k:.1} s, so one node of this size cannot meet 100 ms at 50,000; that needs \
         more nodes (the Redis fan-out) or a cheaper write path.\n\n",
        if verdicts.is_empty() {
            "not measured at 50,000 (see the table)".to_string()
        } else {
            verdicts.join("; ")
        },
        r["file_limit"],
        per_socket = per_socket_us,
        at_50k = per_socket_us * 50_000.0 / 1e6,
    );
}

/// Writes `BENCHMARKS.md` at the repository's root.
pub fn write() -> Result<(), Error> {
    let mut out = String::from(
        "# Benchmarks\n\n\
         Made by `./scripts/bench.sh` (it builds `dropcast-bench` in release mode and runs \
         every benchmark; each writes its figures to `target/bench/NAME.json`, and this \
         file is rewritten from them). Figures are medians of several runs on the machine \
         named in each section. Benchmarks measure; no test asserts a timing.\n\n",
    );
    let clip = load("clip");
    if let Some(clip) = &clip {
        out.push_str("Machine of the latest run:\n\n");
        machine_table(&mut out, clip);
        clip_section(&mut out, clip);
    }
    if let Some(fanout) = load("fanout") {
        fanout_section(&mut out, &fanout);
    }
    if let Some(widget) = load("widget") {
        widget_section(&mut out, &widget);
    }
    out.push_str(
        "## Not measured yet\n\n\
         Tracked by the benchmarks issue: flash-sale checkout (hold path and whole path, SQLite \
         and PostgreSQL), ingest CPU and memory per 720p30 stream, and the widget's time \
         from navigation to the first stock figure.\n",
    );
    std::fs::write(crate::root().join("BENCHMARKS.md"), out)?;
    eprintln!("wrote BENCHMARKS.md");
    Ok(())
}
