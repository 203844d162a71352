#!/usr/bin/env bash
# Runs Dropcast as a cluster on this machine, to try it: a private
# PostgreSQL (the truth), a private Redis (the fan-out), three `dropcast
# serve` nodes on loopback, each with its own ports and data dir, and
# HAProxy in front of their HTTP (websockets included). Demo data, and the
# URLs printed. Installs what it needs first; safe to run again; Ctrl-C
# stops everything. State lives under ./data/cluster.
#
# What each part needs in production is in the README ("Beyond one
# machine"). Without STRIPE_SECRET_KEY, localstripe (a local Stripe-
# compatible TEST server) stands in for Stripe, as in scripts/run.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_apt curl postgresql redis-server haproxy "${MEDIA_PACKAGES[@]}"
ensure_localstripe

say "building dropcast (release)"
cargo build --release --locked -p server --bin dropcast
bash "$ROOT/scripts/build_widget.sh"

dir="$ROOT/data/cluster"
mkdir -p "$dir"
chmod 755 "$ROOT/data" "$dir" # the postgres user must reach its data dir inside
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_localstripe
    stop_postgres
}
trap cleanup EXIT INT TERM

say "PostgreSQL"
start_postgres "$dir/pg" durable
"${PG_AS[@]}" "$PG_BIN/psql" -h 127.0.0.1 -p "${PG_URL##*:}" -U postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname = 'dropcast'" | grep -q 1 ||
    "${PG_AS[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "${PG_URL##*:}" -U postgres dropcast
export DATABASE_URL="$PG_URL/dropcast"

say "Redis"
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
pids+=($!)
export REDIS_URL="redis://127.0.0.1:$redis_port"

lb_port="${DROPCAST_CLUSTER_PORT:-8080}"
export DROPCAST_PUBLIC_URL="http://127.0.0.1:$lb_port"
export DROPCAST_ADMIN_TOKEN="${DROPCAST_ADMIN_TOKEN:-dca_cluster_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
# Every node sits behind HAProxy: believe its X-Forwarded-For.
export DROPCAST_TRUSTED_PROXIES=127.0.0.1

use_localstripe "$dir/localstripe.log" "$DROPCAST_PUBLIC_URL/api/v1/stripe/webhook"

servers=""
for i in 1 2 3; do
    name="node-$i"
    http=$((lb_port + i))
    mkdir -p "$dir/$name"
    say "starting $name (HTTP 127.0.0.1:$http, RTMP 127.0.0.1:$((1935 + i)), SRT 127.0.0.1:$((9000 + i)))"
    demo=()
    [ "$i" = 1 ] && demo=(--demo)
    DROPCAST_NODE_ID="$name" \
        DROPCAST_HTTP_ADDR="127.0.0.1:$http" \
        DROPCAST_INTERNAL_URL="http://127.0.0.1:$http" \
        DROPCAST_RTMP_ADDR="127.0.0.1:$((1935 + i))" \
        DROPCAST_SRT_ADDR="127.0.0.1:$((9000 + i))" \
        DROPCAST_DATA_DIR="$dir/$name" \
        "$ROOT/target/release/dropcast" serve "${demo[@]}" 2>"$dir/$name.log" &
    pids+=($!)
    servers+="    server $name 127.0.0.1:$http check
"
    # The first node migrates the database and seeds the demo before the others start.
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$http/healthz" && break
        sleep 0.2
    done
done

# Two descriptors a connection (client and node side), within this machine's limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
maxconn=$((($(ulimit -n) - 100) / 2))
cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn $maxconn
defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # Live sockets and LL-HLS blocking reloads stay open long.
    timeout tunnel 1h
frontend dropcast
    bind 127.0.0.1:$lb_port
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /healthz
$servers
EOF
say "HAProxy on 127.0.0.1:$lb_port"
haproxy -f "$dir/haproxy.cfg" -db &
pids+=($!)

cat <<EOF

The cluster is up:
  load balancer      $DROPCAST_PUBLIC_URL   (HAProxy, round robin over the three nodes)
  nodes              http://127.0.0.1:$((lb_port + 1))  http://127.0.0.1:$((lb_port + 2))  http://127.0.0.1:$((lb_port + 3))
  PostgreSQL         $DATABASE_URL
  Redis              $REDIS_URL
  admin token        $DROPCAST_ADMIN_TOKEN
  logs               $dir/node-*.log, $dir/redis.log
The demo show's URLs are printed above by node-1; they go through the load
balancer. Publish from OBS to any node's RTMP address (rtmp://127.0.0.1:1936/live,
:1937, :1938 with the show's stream key): one publisher per show across the cluster.
Any node plays any show: a node that does not have the video fetches it
from the node it was published to (or recorded on) over its internal URL.
Ctrl-C stops everything.
EOF
wait "${pids[@]}"
