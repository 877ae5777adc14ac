#!/usr/bin/env bash
# Issue 13: cross-node against single-node, same run, A B A B, per broker.
#   loadtest/cluster-compare.sh BROKER [BIN_DIR, default .build/release] [OUT, default /tmp/sb-cluster-compare]
# BROKER is postgres or redis; SCENARIOS (default "fanout chat") picks what runs. Starts an embedded PostgreSQL in $OUT (and a
# redis-server on a free port for redis) and two nodes A and B on it with
# `--broker BROKER`, then ROUNDS times (default 3):
#   fanout, SUBSCRIBERS (1000) on C (a third hub, memory broker: no cluster),
#   then on B published through B (single node of the cluster), then on B
#   published through A (cross-node): delivery p50/p99;
#   chat, PAIRS (200) at RATE (5000) msg/s for DURATION (10) s, every pair on
#   C, then every pair on A, then every pair across A and B: ack and
#   delivery p99, persisted/s.
# Each run's JSON goes to $OUT/<scenario>-<mode>-<round>.json; the summary
# (medians and cross/single ratios) is printed at the end by cluster-compare.py.
set -u
BROKER=${1:?postgres or redis} BIN=${2:-.build/release} OUT=${3:-/tmp/sb-cluster-compare}
SCENARIOS=${SCENARIOS:-fanout chat} ROUNDS=${ROUNDS:-3} SUBSCRIBERS=${SUBSCRIBERS:-1000} PAIRS=${PAIRS:-200} RATE=${RATE:-5000} DURATION=${DURATION:-10}
SECRET=cmp-secret-cmp-secret-cmp-secret-00 KEY=cmp-backend-key-0123456789
rm -rf "$OUT"; mkdir -p "$OUT"
PGDIR=$OUT/data/postgres
"$BIN/switchboard" migrate --data-dir "$OUT/data" >/dev/null || { echo "migrate failed"; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGCTL=("$PGBIN/pg_ctl" -D "$PGDIR/data")
[ "$(id -u)" = 0 ] && PGCTL=(runuser -u postgres -- "${PGCTL[@]}")
"${PGCTL[@]}" -l "$PGDIR/postgres.log" -w -o "-k $PGDIR -c listen_addresses='' -p 5432 -c max_connections=200" start >/dev/null
DB="host=$PGDIR port=5432 user=switchboard dbname=switchboard"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  "${PGCTL[@]}" -m fast -w stop >/dev/null
}
trap cleanup EXIT
FLAGS=(--broker "$BROKER")
if [ "$BROKER" = redis ]; then
  RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" >"$OUT/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  FLAGS+=(--redis-url "redis://127.0.0.1:$RPORT")
fi
for n in 1 2 3; do
  # Node 3 is a hub of its own (the memory broker): the single-node
  # figure without any broker, the calibration of the other two.
  flags=("${FLAGS[@]}")
  [ "$n" = 3 ] && flags=(--broker memory)
  SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0 \
    "$BIN/switchboard" serve --port 0 --ready-file "$OUT/port$n" --database-url "$DB" --node-name "node$n" \
    --jwt-secret "$SECRET" --api-key "cmp:$KEY" --log-level error "${flags[@]}" >"$OUT/hub$n.log" 2>&1 &
  pids+=($!)
done
for n in 1 2 3; do
  for _ in $(seq 1 300); do [ -s "$OUT/port$n" ] && break; sleep 0.1; done
  [ -s "$OUT/port$n" ] || { echo "hub $n did not start:"; cat "$OUT/hub$n.log"; exit 1; }
done
sleep 1
A=127.0.0.1:$(cat "$OUT/port1") B=127.0.0.1:$(cat "$OUT/port2") C=127.0.0.1:$(cat "$OUT/port3")
LOAD=("$BIN/switchboard-load")
AUTH=(--jwt-secret "$SECRET" --api-key "$KEY")
for r in $(seq 1 "$ROUNDS"); do
  if [[ " $SCENARIOS " == *" fanout "* ]]; then
  "${LOAD[@]}" fanout --target "$C" --publish-via "$C" --subscribers "$SUBSCRIBERS" --publishes 20 --rate 4 \
    "${AUTH[@]}" --json >"$OUT/fanout-memory-$r.json" 2>>"$OUT/load.log"
  "${LOAD[@]}" fanout --target "$B" --publish-via "$B" --subscribers "$SUBSCRIBERS" --publishes 20 --rate 4 \
    "${AUTH[@]}" --json >"$OUT/fanout-single-$r.json" 2>>"$OUT/load.log"
  "${LOAD[@]}" fanout --target "$B" --publish-via "$A" --subscribers "$SUBSCRIBERS" --publishes 20 --rate 4 \
    "${AUTH[@]}" --json >"$OUT/fanout-cross-$r.json" 2>>"$OUT/load.log"
  fi
  [[ " $SCENARIOS " == *" chat "* ]] || continue
  "${LOAD[@]}" chat --target "$C" --pairs "$PAIRS" --rate "$RATE" --duration "$DURATION" --calibration-seconds 0 \
    --database-url "$DB" "${AUTH[@]}" --json >"$OUT/chat-memory-$r.json" 2>>"$OUT/load.log"
  "${LOAD[@]}" chat --target "$A" --pairs "$PAIRS" --rate "$RATE" --duration "$DURATION" --calibration-seconds 0 \
    --database-url "$DB" "${AUTH[@]}" --json >"$OUT/chat-single-$r.json" 2>>"$OUT/load.log"
  "${LOAD[@]}" chat --target "$A" --target "$B" --pairs "$PAIRS" --rate "$RATE" --duration "$DURATION" \
    --calibration-seconds 0 --database-url "$DB" "${AUTH[@]}" --json >"$OUT/chat-cross-$r.json" 2>>"$OUT/load.log"
done
python3 "$(dirname "$0")/cluster-compare.py" "$OUT"
