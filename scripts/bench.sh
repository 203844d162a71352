#!/usr/bin/env bash
# Runs the benchmarks and rewrites BENCHMARKS.md with the machine, the date
# and each figure's median. Installs what it needs first; safe to run again.
# Usage: scripts/bench.sh [--runs N]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
# ffmpeg encodes the test stream and is the clip benchmark's anchor.
ensure_apt ffmpeg gzip "${MEDIA_PACKAGES[@]}"

say "building dropcast-bench and dropcast (release)"
cargo build --release --locked -p bench --bin dropcast-bench
cargo build --release --locked -p server --bin dropcast

say "clip export (60 s) against ffmpeg concat"
"$ROOT/target/release/dropcast-bench" clip "$@"

say "live fan-out to 10k, 25k and 50k sockets (as many as this machine's file limit allows)"
"$ROOT/target/release/dropcast-bench" fanout "$@"

say "the pages' size"
bash "$ROOT/scripts/build_widget.sh"
"$ROOT/target/release/dropcast-bench" widget
say "BENCHMARKS.md rewritten"
