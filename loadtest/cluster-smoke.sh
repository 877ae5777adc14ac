#!/usr/bin/env bash
# Issue 13 smoke run of the load tool against a cluster (each run < 20 s):
#   loadtest/cluster-smoke.sh [BIN_DIR, default .build/debug] [OUT, default /tmp/sb-cluster-smoke]
# Starts an embedded PostgreSQL cluster in $OUT (initdb + migrations by
# `switchboard migrate`, then pg_ctl, so that no hub owns it), two hubs on
# it (`serve --port 0 --ready-file … --database-url …`), then `connections`
# against one hub and against both, `fanout` and `chat` against both, `notify`
# against one (it drives one hub). HTML
# reports go to $OUT/*.html. With plain hubs (no broker) a publication only
# reaches the subscribers of the node that took it: `received` is then about
# half, and the run exits 1 — expected until the brokers land.
# CONNECTIONS, RAMP, HOLD change the connections runs; SERVE_FLAGS are extra
# `serve` flags for both hubs (e.g. "--broker postgres": then every node's
# subscribers receive, and chat delivers across nodes).
set -u
BIN=${1:-.build/debug} OUT=${2:-/tmp/sb-cluster-smoke}
N=${CONNECTIONS:-400} RAMP=${RAMP:-400} HOLD=${HOLD:-2}
SECRET=smoke-secret-smoke-secret-smoke-0 KEY=smoke-backend-key-0123456789
rm -rf "$OUT"; mkdir -p "$OUT"
PGDIR=$OUT/data/postgres
"$BIN/switchboard" migrate --data-dir "$OUT/data" >/dev/null || { echo "migrate failed"; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGCTL=("$PGBIN/pg_ctl" -D "$PGDIR/data")
[ "$(id -u)" = 0 ] && PGCTL=(runuser -u postgres -- "${PGCTL[@]}")
"${PGCTL[@]}" -l "$PGDIR/postgres.log" -w -o "-k $PGDIR -c listen_addresses='' -p 5432 -c max_connections=200" start >/dev/null
DB="host=$PGDIR port=5432 user=switchboard dbname=switchboard"
hubs=()
cleanup() {
  for h in "${hubs[@]}"; do kill -TERM "$h" 2>/dev/null; wait "$h" 2>/dev/null; done
  "${PGCTL[@]}" -m fast -w stop >/dev/null
}
trap cleanup EXIT
for n in 1 2; do
  # shellcheck disable=SC2086  # SERVE_FLAGS is a list of words
  SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0 \
    "$BIN/switchboard" serve --port 0 --ready-file "$OUT/port$n" --database-url "$DB" \
    --jwt-secret "$SECRET" --api-key "smoke:$KEY" --log-level error ${SERVE_FLAGS:-} >"$OUT/hub$n.log" 2>&1 &
  hubs+=($!)
done
for n in 1 2; do
  for _ in $(seq 1 300); do [ -s "$OUT/port$n" ] && break; sleep 0.1; done
  [ -s "$OUT/port$n" ] || { echo "hub $n did not start:"; cat "$OUT/hub$n.log"; exit 1; }
done
A=127.0.0.1:$(cat "$OUT/port1") B=127.0.0.1:$(cat "$OUT/port2")
LOAD=("$BIN/switchboard-load")
AUTH=(--jwt-secret "$SECRET" --api-key "$KEY")
run() { echo "### $*"; local s=$SECONDS; "${LOAD[@]}" "$@" "${AUTH[@]}"; echo "(exit $?, $((SECONDS - s)) s)"; }
run connections --target "$A" --connections "$N" --processes 2 --ramp "$RAMP" --hold "$HOLD" \
  --subscribe topic:smoke-one --hub-pid "${hubs[0]}" --report "$OUT/connections-one.html"
run connections --target "$A" --target "$B" --connections "$N" --processes 2 --ramp "$RAMP" --hold "$HOLD" \
  --subscribe topic:smoke-two --hub-pid "${hubs[0]}" --hub-pid "${hubs[1]}" --report "$OUT/connections-two.html"
run fanout --target "$B" --publish-via "$A" --subscribers 100 --publishes 10 --rate 10 --processes 1 \
  --report "$OUT/fanout-cross.html"
run fanout --target "$A,$B" --publish-via "$A" --subscribers 200 --publishes 10 --rate 10 --processes 2 \
  --report "$OUT/fanout-two.html"
run chat --target "$A" --target "$B" --pairs 20 --rate 200 --duration 3 --processes 2 --calibration-seconds 0 \
  --database-url "$DB" --report "$OUT/chat-two.html"
run notify --port "${A#*:}" --users 100 --calls 3 --interval 0.5 --processes 1 --database-url "$DB" \
  --report "$OUT/notify-one.html"
ls "$OUT"/*.html
