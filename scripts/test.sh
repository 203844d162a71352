#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit and integration tests on
# SQLite and on PostgreSQL, payments against localstripe (a private PostgreSQL
# and a localstripe are started here and stopped after).
# Installs what it needs first; safe to run again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
# One apt run for everything; ffmpeg is the tests' stand-in for OBS.
ensure_apt postgresql curl ffmpeg "${MEDIA_PACKAGES[@]}"
ensure_localstripe

say "formatting"
cargo fmt --all -- --check

say "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "building tests"
cargo test --workspace --locked --no-run

say "starting a private PostgreSQL and localstripe"
work="$(mktemp -d /tmp/dropcast-test.XXXXXX)"
chmod 755 "$work" # the postgres user must reach its data dir inside
trap 'stop_localstripe; stop_postgres; rm -rf "$work"' EXIT
start_postgres "$work/pg"
export DROPCAST_TEST_PG_URL="$PG_URL"
start_localstripe "$(free_port)" "$work/localstripe.log"
export DROPCAST_TEST_STRIPE_URL="$LOCALSTRIPE_URL"

say "tests (SQLite and PostgreSQL)"
cargo test --workspace --locked -- "$@"
