#!/usr/bin/env bash
# Compares the hub's lws event loops (poll vs libuv) A B A B on this machine:
# for each round, starts a release hub with one backend on an embedded
# cluster, runs `connect` (12,000 connections, 10 s hold) and `fanout`
# (10,000 subscribers, 20 publications at 2/s), then stops it. Steal is
# recorded with vmstat beside every run. Loopback only; bounded; stops itself.
#   loadtest/compare-backends.sh [rounds]   (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
out=.build/compare-backends
mkdir -p "$out"
swift build -c release >/dev/null
for round in $(seq 1 "$rounds"); do
  for loop in poll uv; do
    work=$(mktemp -d /tmp/sb-compare-XXXXXX)
    .build/release/switchboard serve --port 0 --ready-file "$work/port" --event-loop "$loop" \
      --max-connections-per-ip 0 --max-handshakes-per-ip 0 \
      --data-dir "$work/data" --log-level warning > "$work/hub.log" 2>&1 &
    hub=$!
    for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
    port=$(cat "$work/port")
    vmstat 1 > "$out/vmstat-$loop-$round.txt" &
    vm=$!
    echo "### round $round, event loop $loop"
    .build/release/switchboard-load connect --port "$port" --data-dir "$work/data" --hub-pid "$hub" \
      --connections 12000 --processes 4 --rate 3000 --hold 10 || true
    .build/release/switchboard-load fanout --port "$port" --data-dir "$work/data" \
      --subscribers 10000 --publishes 20 --rate 2 --processes 4 || true
    kill "$vm"
    echo "steal (vmstat st, max / mean): $(awk 'NR>2 {s+=$17; n++; if ($17>m) m=$17} END {printf "%d / %.1f", m, s/n}' "$out/vmstat-$loop-$round.txt")"
    kill -TERM "$hub"; wait "$hub" || true
    rm -rf "$work"
  done
done
