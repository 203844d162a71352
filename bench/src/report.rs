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
         `dropcast-bench widget`: the wasm module of the viewers' pages (widget, overlay, \
         watch page) and its JS glue, as `scripts/build_widget.sh` builds them (release, \
         `wasm-opt -Oz`), gzipped with `gzip -9`.\n\n\
         | | raw | gzipped |\n|---|---|---|\n\
         | wasm | {wasm:.1} kB | {wasm_gz:.1} kB |\n\
         | JS | {js:.1} kB | {js_gz:.1} kB |\n\
         | together | | **{total:.1} kB** |\n\n\
         Goal: under 250 kB together — {verdict}. (Measured on {date}.) The studio is a module \
         of its own, which only creators and editors load: {studio}.\n\n",
        studio = r["studio_gzip"]
            .as_f64()
            .map_or("not built".to_string(), |b| format!(
                "{:.1} kB gzipped, wasm and JS",
                b / 1000.0
            )),
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

fn checkout_section(out: &mut String, r: &Value) {
    let _ = write!(
        out,
        "## Flash-sale checkout\n\n\
         `dropcast-bench checkout`. *Hold path*: {hb} buyers at once for {hu} units of one \
         product (limit one per buyer), each calling the server's own hold transaction \
         (`store::orders::hold`: insert the order under its idempotency key, check the \
         countdowns and the per-buyer limit, take the units with a conditional update) \
         through the server's connection pool (8 connections on SQLite, 16 on PostgreSQL); \
         orders held per second until the last unit was held, and each attempt's latency \
         from the start (queueing for a connection included). *Whole path*: a release \
         `dropcast serve` with localstripe as Stripe; {pb} buyers with saved cards `POST` an \
         order each at once for {pu} units over HTTP; paid orders per second. Both report \
         the oversell check: units held (or paid) against the stock, and the product's \
         `available + held + sold` against what was stocked. Medians of the runs.\n\n\
         | path | database | orders/s | p50 | p99 | oversold | figures add up |\n\
         |---|---|---|---|---|---|---|\n",
        hb = r["hold_buyers"],
        hu = r["hold_units"],
        pb = r["pay_buyers"],
        pu = r["pay_units"],
    );
    for (path, key_prefix) in [("hold", "hold_"), ("whole (localstripe)", "pay_")] {
        for db in ["sqlite", "postgres"] {
            let f = &r[format!("{key_prefix}{db}")];
            if f.is_null() {
                continue;
            }
            let num = |k: &str| f[k].as_f64().unwrap_or(f64::NAN);
            let _ = writeln!(
                out,
                "| {path} | {db} | **{:.0}** | {:.0} ms | {:.0} ms | {} | {} |",
                num("orders_per_s"),
                num("p50_ms"),
                num("p99_ms"),
                f["oversold_total"],
                if f["all_add_up"] == true {
                    "yes"
                } else {
                    "**no**"
                },
            );
        }
    }
    let rate = |db: &str| r[format!("hold_{db}")]["orders_per_s"].as_f64();
    let verdict = |db: &str, goal: f64| match rate(db) {
        Some(v) if v >= goal => format!("{db} met ({v:.0}/s)"),
        Some(v) => format!("{db} not met ({v:.0}/s)"),
        None => format!("{db} not measured"),
    };
    let _ = write!(
        out,
        "\nGoal for the hold path: 2,000 orders/s on SQLite, 1,000/s on PostgreSQL, on one hot \
         product, zero oversold — {}, {}. On PostgreSQL every buyer's transaction queues for \
         the one product row; it is locked last (after the order insert, the countdown check \
         and, under a lock on the buyer's row, the per-buyer limit) and held for its update \
         and the commit only (measured on 2026-11-22: about 500 orders/s before that order, about 700 after). What \
         is left is two round trips under the row lock through sqlx's `Any` driver, with 16 \
         PostgreSQL backends, the pool and the benchmark sharing two cores. The whole path \
         is bound by localstripe (one Python process) answering each payment; against \
         Stripe it would be bound by Stripe's latency instead, with the stock already held.\n\n",
        verdict("sqlite", 2000.0),
        verdict("postgres", 1000.0),
    );
}

fn ingest_section(out: &mut String, r: &Value) {
    let _ = write!(
        out,
        "## Ingest: CPU and memory per live 720p30 stream\n\n\
         `dropcast-bench ingest`: ffmpeg encodes 30 s of 1280x720 30 fps test pattern and \
         tone once (x264 veryfast, 3 Mb/s, 2 s GOP, B-frames; AAC 128 kb/s); then for each \
         count, a fresh release `dropcast serve` gets that many shows, each fed by its own \
         `ffmpeg -re -stream_loop -1 -c copy` publisher over RTMP (no encoding in the \
         publishers). Once all are live and 6 s have passed, the server's CPU time (user + \
         system, from /proc) is read over {window} s. The server does everything per stream: \
         RTMP, FLV demux and parse, MPEG-TS segments, the replay index, HLS and a thumbnail \
         per segment (one keyframe decoded and scaled to a JPEG).\n\n\
         | streams | server CPU (% of one core) | per stream | memory (RSS) | per stream | still live |\n\
         |---|---|---|---|---|---|\n",
        window = r["window_s"],
    );
    let mut worst: f64 = 0.0;
    for f in r["figures"].as_array().into_iter().flatten() {
        let num = |k: &str| f[k].as_f64().unwrap_or(f64::NAN);
        worst = worst.max(num("cpu_pct_per_stream"));
        let _ = writeln!(
            out,
            "| {} | {:.1}% | **{:.2}%** | {:.0} MiB | {:.1} MiB | {}/{} |",
            f["streams"],
            num("cpu_pct_of_one_core"),
            num("cpu_pct_per_stream"),
            num("rss_kib") / 1024.0,
            num("rss_per_stream_kib") / 1024.0,
            f["still_live"],
            f["streams"],
        );
    }
    let _ = write!(
        out,
        "\nGoal: under 5% of one core per stream — {}.\n\n",
        if worst < 5.0 {
            format!("met (at most {worst:.2}%)")
        } else {
            format!("not met ({worst:.2}% at worst)")
        }
    );
}

fn first_stock_section(out: &mut String, r: &Value) {
    let _ = write!(
        out,
        "## Widget: navigation to the first stock figure\n\n\
         `tests/browser/bench-first-stock.mjs` (run by `scripts/bench.sh`): a page on another \
         origin embeds the widget with one script tag; headless Chromium (Debian's, 390x844) \
         loads it, and the time from navigation start to the first `.dc-stock` with text in \
         the widget's shadow root is read from `performance.now()`. It spans the page, \
         `/embed.js`, the JS glue, the wasm module (compiled), the live socket and its \
         snapshot, on loopback (so no network latency). Cold: a fresh browser context each \
         run (empty cache); warm: the same page again in that context.\n\n\
         | | median | samples (ms) |\n|---|---|---|\n\
         | cold | **{cold:.0} ms** | {cold_samples} |\n\
         | warm | **{warm:.0} ms** | {warm_samples} |\n\n",
        cold = r["cold_median_ms"].as_f64().unwrap_or(f64::NAN),
        warm = r["warm_median_ms"].as_f64().unwrap_or(f64::NAN),
        cold_samples = samples(&r["cold_ms"]),
        warm_samples = samples(&r["warm_ms"]),
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
    if let Some(ingest) = load("ingest") {
        ingest_section(&mut out, &ingest);
    }
    if let Some(checkout) = load("checkout") {
        checkout_section(&mut out, &checkout);
    }
    if let Some(widget) = load("widget") {
        widget_section(&mut out, &widget);
    }
    if let Some(first) = load("widget_first_stock") {
        first_stock_section(&mut out, &first);
    }
    std::fs::write(crate::root().join("BENCHMARKS.md"), out)?;
    eprintln!("wrote BENCHMARKS.md");
    Ok(())
}
