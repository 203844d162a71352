#!/usr/bin/env bash
# Runs Dropcast on this machine: SQLite under ./data, demo data, and the URLs
# to open printed at start. Installs what it needs first; safe to run again.
#
# Without STRIPE_SECRET_KEY it also starts localstripe, a local
# Stripe-compatible test server (PyPI), and points Dropcast at it: checkout
# works end to end and no real money moves. It says so when it does.
# Environment variables (shared/API.md) pass through: DROPCAST_HTTP_ADDR, ...
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_apt curl "${MEDIA_PACKAGES[@]}"

say "building dropcast (release)"
cargo build --release --locked -p server --bin dropcast
bash "$ROOT/scripts/build_widget.sh"

export DROPCAST_DATA_DIR="${DROPCAST_DATA_DIR:-$ROOT/data}"
export DROPCAST_HTTP_ADDR="${DROPCAST_HTTP_ADDR:-127.0.0.1:8080}"
mkdir -p "$DROPCAST_DATA_DIR"

if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
    trap stop_localstripe EXIT
    use_localstripe "$DROPCAST_DATA_DIR/localstripe.log" "http://$DROPCAST_HTTP_ADDR/api/v1/stripe/webhook"
    say "buy from the command line: scripts/demo_buy.sh SHOW_ID PRODUCT_ID  (STRIPE_API_BASE=$LOCALSTRIPE_URL)"
fi

say "starting dropcast (data in $DROPCAST_DATA_DIR; Ctrl-C stops it)"
"$ROOT/target/release/dropcast" serve --demo &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; stop_localstripe' EXIT INT TERM
wait $server
