#!/usr/bin/env bash
# Issue 13's 100,000 connections (loadtest/RESULTS.md): NODES hubs on one
# embedded PostgreSQL cluster, `connections` spread over them round-robin,
# held, one publication to a channel all subscribe, the hubs' total RSS.
#   loadtest/cluster-connections.sh [BIN_DIR, default .build/release] [OUT, default /tmp/sb-cluster-connections]
# The 100,000 run (6 nodes of ~16,700, 6 load processes of ~16,700: each
# process under the 20,000-fd limit):
#   NODES=6 CONNECTIONS=100000 PROCESSES=6 RAMP=2000 HOLD=60 loadtest/cluster-connections.sh
# SERVE_FLAGS are extra `serve` flags for every node (e.g. "--broker postgres").
# Prints the tool's table (its JSON in $OUT/connections.json with JSON=1) and
# writes $OUT/connections.html.
set -u
BIN=${1:-.build/release} OUT=${2:-/tmp/sb-cluster-connections}
NODES=${NODES:-3} N=${CONNECTIONS:-3000} P=${PROCESSES:-2} RAMP=${RAMP:-1000} HOLD=${HOLD:-10}
SECRET=load-secret-load-secret-load-0000 KEY=load-backend-key-0123456789
rm -rf "$OUT"; mkdir -p "$OUT"
PGDIR=$OUT/data/postgres
"$BIN/switchboard" migrate --data-dir "$OUT/data" >/dev/null || { echo "migrate failed"; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGCTL=("$PGBIN/pg_ctl" -D "$PGDIR/data")
[ "$(id -u)" = 0 ] && PGCTL=(runuser -u postgres -- "${PGCTL[@]}")
"${PGCTL[@]}" -l "$PGDIR/postgres.log" -w -o "-k $PGDIR -c listen_addresses='' -p 5432 -c max_connections=300" start >/dev/null
DB="host=$PGDIR port=5432 user=switchboard dbname=switchboard"
hubs=()
cleanup() {
  for h in "${hubs[@]}"; do kill -TERM "$h" 2>/dev/null; wait "$h" 2>/dev/null; done
  "${PGCTL[@]}" -m fast -w stop >/dev/null
}
trap cleanup EXIT
for n in $(seq 1 "$NODES"); do
  # shellcheck disable=SC2086  # SERVE_FLAGS is a list of words
  SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0 \
    "$BIN/switchboard" serve --port 0 --ready-file "$OUT/port$n" --database-url "$DB" \
    --jwt-secret "$SECRET" --api-key "load:$KEY" --log-level error ${SERVE_FLAGS:-} >"$OUT/hub$n.log" 2>&1 &
  hubs+=($!)
done
args=()
for n in $(seq 1 "$NODES"); do
  for _ in $(seq 1 300); do [ -s "$OUT/port$n" ] && break; sleep 0.1; done
  [ -s "$OUT/port$n" ] || { echo "hub $n did not start:"; cat "$OUT/hub$n.log"; exit 1; }
  args+=(--target "127.0.0.1:$(cat "$OUT/port$n")" --hub-pid "${hubs[$((n - 1))]}")
done
json=()
[ "${JSON:-0}" = 1 ] && json=(--json)
cmd=("$BIN/switchboard-load" connections "${args[@]}" --connections "$N" --processes "$P" --ramp "$RAMP" --hold "$HOLD" \
  --subscribe "topic:all-$RANDOM" --jwt-secret "$SECRET" --api-key "$KEY" --report "$OUT/connections.html" "${json[@]}")
echo "+ ${cmd[*]}"
"${cmd[@]}" | tee "$OUT/connections.$([ "${JSON:-0}" = 1 ] && echo json || echo txt)"
