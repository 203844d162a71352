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
    start_localstripe "$(free_port)" "$DROPCAST_DATA_DIR/localstripe.log"
    trap stop_localstripe EXIT
    export STRIPE_SECRET_KEY=sk_test_dropcast_demo
    export STRIPE_PUBLISHABLE_KEY=pk_test_dropcast_demo
    export STRIPE_API_BASE="$LOCALSTRIPE_URL"
    export DROPCAST_STRIPE_JS_URL="$LOCALSTRIPE_URL/js.stripe.com/v3/"
    export STRIPE_WEBHOOK_SECRET="whsec_demo_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    curl -sf -o /dev/null -u "$STRIPE_SECRET_KEY:" -X POST "$LOCALSTRIPE_URL/_config/webhooks/dropcast" \
        -d "url=http://$DROPCAST_HTTP_ADDR/api/v1/stripe/webhook" -d "secret=$STRIPE_WEBHOOK_SECRET"
    say "no STRIPE_SECRET_KEY set: using localstripe, a local Stripe-compatible TEST server, at $LOCALSTRIPE_URL (no real money moves)"
    say "buy from the command line: scripts/demo_buy.sh SHOW_ID PRODUCT_ID  (STRIPE_API_BASE=$LOCALSTRIPE_URL)"
fi

say "starting dropcast (data in $DROPCAST_DATA_DIR; Ctrl-C stops it)"
"$ROOT/target/release/dropcast" serve --demo &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; stop_localstripe' EXIT INT TERM
wait $server
