# Shared helpers for the project's scripts. Source it; do not run it.
# Everything here is safe to run again: it checks before it installs.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt PKG...: installs the Debian packages that are missing, in one apt run.
# (Never two apt runs at once: this image's apt cleans its cache after each run.)
ensure_apt() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_rust: cargo, and the toolchain rust-toolchain.toml pins (with its wasm target).
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (the toolchain is pinned in rust-toolchain.toml)"
    # rustup reads rust-toolchain.toml and adds the pinned components and targets.
    (cd "$ROOT" && rustup show active-toolchain >/dev/null 2>&1 || true)
    if command -v rustup >/dev/null 2>&1; then
        (cd "$ROOT" && rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown) \
            || (cd "$ROOT" && rustup target add wasm32-unknown-unknown)
    fi
}

# GStreamer (Debian's 1.22) for the media crate: headers to build against, the
# plugins its pipelines use (flvdemux, tsdemux, h264parse, mpegtsmux,
# splitmuxsink, mp4mux, x264enc, avdec_h264, jpegenc).
MEDIA_PACKAGES=(
    pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly gstreamer1.0-libav
)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_postgres DIR [durable]: a private PostgreSQL cluster in DIR on a free
# loopback port. For tests it skips flushing to disk (fsync and friends off);
# `durable` keeps PostgreSQL's own defaults, as a production cluster runs
# (the benchmarks). Sets PG_URL (postgres://postgres@127.0.0.1:PORT) and
# PG_DIR; stop with stop_postgres.
start_postgres() {
    ensure_apt postgresql
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -x "$bin/initdb" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql"
    PG_DIR="$1"
    PG_BIN="$bin"
    local port
    port="$(free_port)"
    mkdir -p "$PG_DIR"
    # PostgreSQL refuses to run as root: use its own system user then.
    PG_AS=()
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres:postgres "$PG_DIR"
        PG_AS=(runuser -u postgres --)
    fi
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        "${PG_AS[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
    fi
    local flush="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${2:-}" = durable ] && flush=""
    "${PG_AS[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=400 $flush" \
        start >/dev/null
    PG_URL="postgres://postgres@127.0.0.1:$port"
    export PG_URL PG_DIR PG_BIN
}

stop_localstripe() {
    [ -n "${LOCALSTRIPE_PID:-}" ] && kill "$LOCALSTRIPE_PID" 2>/dev/null || true
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

# ensure_localstripe: localstripe (PyPI) in a private venv under .dev/,
# with aiosmtpd (PyPI), the real SMTP server the mail tests send to.
LOCALSTRIPE_VERSION=1.15.10
AIOSMTPD_VERSION=1.4.6
HTTP_ECE_VERSION=1.2.1
ensure_localstripe() {
    local venv="$ROOT/.dev/venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" 2>/dev/null || { ensure_apt python3-venv; python3 -m venv "$venv"; }
    fi
    if ! "$venv/bin/python" -c "import localstripe" 2>/dev/null; then
        say "installing localstripe $LOCALSTRIPE_VERSION (PyPI) into .dev/venv"
        "$venv/bin/pip" install -q "localstripe==$LOCALSTRIPE_VERSION"
    fi
    if ! "$venv/bin/python" -c "import aiosmtpd" 2>/dev/null; then
        say "installing aiosmtpd $AIOSMTPD_VERSION (PyPI) into .dev/venv"
        "$venv/bin/pip" install -q "aiosmtpd==$AIOSMTPD_VERSION"
    fi
    # The tests' push service decrypts what the server sends (RFC 8291).
    if ! "$venv/bin/python" -c "import http_ece, cryptography" 2>/dev/null; then
        say "installing http-ece $HTTP_ECE_VERSION (PyPI) into .dev/venv"
        "$venv/bin/pip" install -q "http-ece==$HTTP_ECE_VERSION"
    fi
    LOCALSTRIPE_PY="$venv/bin/python"
}

# start_localstripe PORT LOGFILE: runs it in the background on 127.0.0.1:PORT,
# waits until it answers, sets LOCALSTRIPE_PID and LOCALSTRIPE_URL.
start_localstripe() {
    ensure_localstripe
    local port="$1" log="$2"
    "$LOCALSTRIPE_PY" "$ROOT/scripts/localstripe_server.py" --port "$port" >"$log" 2>&1 &
    LOCALSTRIPE_PID=$!
    LOCALSTRIPE_URL="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
        if curl -sf -o /dev/null -u sk_test_probe: "$LOCALSTRIPE_URL/v1/customers" 2>/dev/null; then
            export LOCALSTRIPE_PID LOCALSTRIPE_URL
            return 0
        fi
        kill -0 "$LOCALSTRIPE_PID" 2>/dev/null || die "localstripe exited: $(cat "$log")"
        sleep 0.1
    done
    die "localstripe did not answer on $LOCALSTRIPE_URL"
}

# use_localstripe LOG WEBHOOK_URL: when STRIPE_SECRET_KEY is not set, starts
# localstripe (a local Stripe-compatible TEST server), points the STRIPE_*
# variables at it and registers WEBHOOK_URL as its webhook; says so.
use_localstripe() {
    [ -z "${STRIPE_SECRET_KEY:-}" ] || return 0
    start_localstripe "$(free_port)" "$1"
    export STRIPE_SECRET_KEY=sk_test_dropcast_demo
    export STRIPE_PUBLISHABLE_KEY=pk_test_dropcast_demo
    export STRIPE_API_BASE="$LOCALSTRIPE_URL"
    export DROPCAST_STRIPE_JS_URL="$LOCALSTRIPE_URL/js.stripe.com/v3/"
    export STRIPE_WEBHOOK_SECRET="whsec_demo_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    curl -sf -o /dev/null -u "$STRIPE_SECRET_KEY:" -X POST "$LOCALSTRIPE_URL/_config/webhooks/dropcast" \
        -d "url=$2" -d "secret=$STRIPE_WEBHOOK_SECRET"
    say "no STRIPE_SECRET_KEY set: using localstripe, a local Stripe-compatible TEST server, at $LOCALSTRIPE_URL (no real money moves)"
}

# ensure_wasm_bindgen: wasm-bindgen-cli at exactly the version Cargo.lock
# pins (the CLI and the library must match), built into .dev/tools.
ensure_wasm_bindgen() {
    local want
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock")"
    [ -n "$want" ] || die "wasm-bindgen is not in Cargo.lock"
    WASM_BINDGEN="$ROOT/.dev/tools/bin/wasm-bindgen"
    if ! "$WASM_BINDGEN" --version 2>/dev/null | grep -q " $want\$"; then
        say "building wasm-bindgen-cli $want (crates.io) into .dev/tools (a few minutes, once)"
        cargo install --quiet wasm-bindgen-cli --version "$want" --root "$ROOT/.dev/tools" --force
    fi
    export WASM_BINDGEN
}

# ensure_npm DIR: the npm packages DIR's package-lock.json pins.
ensure_npm() {
    command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
    if [ ! -d "$1/node_modules" ] || [ "$1/package-lock.json" -nt "$1/node_modules" ]; then
        say "installing npm packages in ${1#"$ROOT"/}"
        (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
        touch "$1/node_modules"
    fi
}
