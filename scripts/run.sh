#!/usr/bin/env bash
# Runs Dropcast on this machine: SQLite under ./data, demo data, and the URLs
# to open printed at start. Installs what it needs first; safe to run again.
# Environment variables (shared/API.md) pass through: DROPCAST_HTTP_ADDR, ...
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust

say "building dropcast (release)"
cargo build --release --locked -p server --bin dropcast

export DROPCAST_DATA_DIR="${DROPCAST_DATA_DIR:-$ROOT/data}"
say "starting dropcast (data in $DROPCAST_DATA_DIR; Ctrl-C stops it)"
exec "$ROOT/target/release/dropcast" serve --demo
