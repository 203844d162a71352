#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit and integration tests on
# SQLite and on PostgreSQL, payments against localstripe, and the pages in
# chromium (a private PostgreSQL and a localstripe are started here and
# stopped after).
# Installs what it needs first; safe to run again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
# One apt run for everything; ffmpeg is the tests' stand-in for OBS,
# chromium the browser tests' browser, redis-server the cluster tests' Redis
# (each of those tests starts its own on a free port).
ensure_apt postgresql curl ffmpeg chromium redis-server haproxy "${MEDIA_PACKAGES[@]}"
ensure_localstripe
ensure_npm "$ROOT/tests/browser"

say "formatting"
cargo fmt --all -- --check

say "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The studio is behind a feature of the widget crate: lint it too.
cargo clippy -p widget --features studio --all-targets --locked -- -D warnings

say "building tests and the pages"
# This also builds target/debug/dropcast for the browser tests (the `api`
# test needs the binary): no separate `cargo build`, whose features would
# differ (dev-dependency features are not unified) and rebuild the tree.
cargo test --workspace --locked --no-run
bash "$ROOT/scripts/build_widget.sh"

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

say "browser tests (chromium, the dropcast binary, localstripe)"
# A test that hangs fails after 5 minutes, and a file whose tests are done
# exits even if something it opened is still open: the run never waits on
# a browser left behind by a failure.
(cd "$ROOT/tests/browser" && node --test --test-concurrency=1 --test-force-exit --test-timeout=300000)
