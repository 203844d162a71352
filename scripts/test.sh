#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit and integration tests on
# SQLite and on PostgreSQL (a private server started here and stopped after).
# Installs what it needs first; safe to run again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_apt postgresql

say "formatting"
cargo fmt --all -- --check

say "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "building tests"
cargo test --workspace --locked --no-run

say "starting a private PostgreSQL"
pg_root="$(mktemp -d /tmp/dropcast-pg.XXXXXX)"
trap 'stop_postgres; rm -rf "$pg_root"' EXIT
start_postgres "$pg_root"
export DROPCAST_TEST_PG_URL="$PG_URL"

say "tests (SQLite and PostgreSQL)"
cargo test --workspace --locked -- "$@"
