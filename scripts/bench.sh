#!/usr/bin/env bash
# Runs the benchmarks and rewrites BENCHMARKS.md with the machine, the date
# and each figure's median. Installs what it needs first; safe to run again.
# Usage: scripts/bench.sh [--runs N]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
# ffmpeg encodes the test streams and is the clip benchmark's anchor;
# PostgreSQL for checkout and the cluster, Redis for the cluster, Chromium
# for the widget's timing. One apt run.
ensure_apt ffmpeg gzip curl postgresql redis-server chromium "${MEDIA_PACKAGES[@]}"

say "building dropcast-bench and dropcast (release)"
# One invocation, so both share one feature resolution (and one build).
cargo build --release --locked -p bench -p server --bins

say "clip export (60 s) against ffmpeg concat"
"$ROOT/target/release/dropcast-bench" clip "$@"
say "vertical short (10 s, 1080x1920) against ffmpeg with the same x264 settings and threads"
"$ROOT/target/release/dropcast-bench" clip-vertical "$@"

say "live fan-out to 10k, 25k and 50k sockets (as many as this machine's file limit allows)"
"$ROOT/target/release/dropcast-bench" fanout "$@"

say "flash-sale checkout on SQLite and a private PostgreSQL, hold path and through localstripe"
work="$(mktemp -d /tmp/dropcast-bench.XXXXXX)"
chmod 755 "$work" # the postgres user must reach its data dir inside
trap 'stop_localstripe; stop_postgres; rm -rf "$work"' EXIT
start_postgres "$work/pg" durable
start_localstripe "$(free_port)" "$work/localstripe.log"
DROPCAST_BENCH_PG_URL="$PG_URL/postgres" DROPCAST_BENCH_STRIPE_URL="$LOCALSTRIPE_URL" \
    "$ROOT/target/release/dropcast-bench" checkout "$@"

say "announcements: one notice to 10,000 by Web Push and 10,000 by email, checkout beside it"
ensure_localstripe
DROPCAST_BENCH_STRIPE_URL="$LOCALSTRIPE_URL" "$ROOT/target/release/dropcast-bench" notices

say "scale-out: fan-out over three nodes (45k and 54k sockets) beside one node, the Redis hop, the hold path over three nodes"
DROPCAST_BENCH_PG_URL="$PG_URL/postgres" "$ROOT/target/release/dropcast-bench" cluster "$@"

say "ingest: server CPU and memory per live 720p30 stream (1, 3, 10 streams)"
"$ROOT/target/release/dropcast-bench" ingest

say "the pages' size, and the widget's time to its first stock figure in Chromium"
bash "$ROOT/scripts/build_widget.sh"
"$ROOT/target/release/dropcast-bench" widget
ensure_npm "$ROOT/tests/browser"
(cd "$ROOT/tests/browser" && DROPCAST_BIN="$ROOT/target/release/dropcast" node bench-first-stock.mjs)
say "the watch page: size, first stock figure and first video frame, phone and desktop"
(cd "$ROOT/tests/browser" && DROPCAST_BIN="$ROOT/target/release/dropcast" node bench-watch-page.mjs)
say "the widget: tap to Paid painted, through localstripe (the one started above)"
# One buyer taps 60 times in a minute or two: more than a session's order
# limit allows (orders_session), so the limits are off for it.
(cd "$ROOT/tests/browser" && DROPCAST_BIN="$ROOT/target/release/dropcast" DROPCAST_RATE_LIMITS=off \
    DROPCAST_TEST_STRIPE_URL="$LOCALSTRIPE_URL" node bench-tap-to-paid.mjs)
say "live video: glass-to-glass latency in Chromium, LL-HLS and classic, 2 s and 8.3 s GOPs"
(cd "$ROOT/tests/browser" && DROPCAST_BIN="$ROOT/target/release/dropcast" node bench-glass-to-glass.mjs)
"$ROOT/target/release/dropcast-bench" report
say "BENCHMARKS.md rewritten"
