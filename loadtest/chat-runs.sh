#!/usr/bin/env bash
# Used for issue 12 (loadtest/RESULTS.md). Runs `switchboard-load chat --json` once per line of a plan,
# each on a fresh embedded cluster (or on an existing data dir), and prints one line per run:
#   label  <the tool's JSON>  hub_cpu_s=…  pg_cpu_s=…
# Plan lines (stdin): LABEL BIN_DIR RATE DATA_DIR|fresh [serve flags…]
# Env: PAIRS (300), DURATION (10), CALIBRATION (5), PROCESSES (2).
set -u
tool_dir=$(cd "$(dirname "$0")/.." && pwd)/.build/release
steal=$(mktemp /tmp/sb-runs-vmstat-XXXXXX)
vmstat 1 > "$steal" &
vm=$!
trap 'kill $vm 2>/dev/null; awk '"'"'NR > 3 { s += $17; if ($17 > m) m = $17; n++ } END { printf "steal %% over the plan: mean %.1f, max %d (%d samples)\n", s / n, m, n }'"'"' "$steal"; rm -f "$steal"' EXIT
while read -r label bin rate data flags; do
  [ -z "$label" ] || [ "${label:0:1}" = "#" ] && continue
  work=$(mktemp -d /tmp/sb-runs-XXXXXX)
  dir=$data; [ "$data" = fresh ] && dir=$work/data
  # shellcheck disable=SC2086  # flags are a list of words
  SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0 \
    "$bin/switchboard" serve --port 0 --ready-file "$work/port" --data-dir "$dir" --log-level error $flags \
    > "$work/hub.log" 2>&1 &
  hub=$!
  for _ in $(seq 1 900); do [ -s "$work/port" ] && break; sleep 0.1; done
  [ -s "$work/port" ] || { echo "$label: hub did not start"; cat "$work/hub.log"; kill "$hub"; continue; }
  cpu() { for p in "$@"; do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
  pg() { pgrep -f "postgres: switchboard" | tr '\n' ' '; }
  h0=$(cpu "$hub"); p0=$(cpu $(pg))
  out=$("$tool_dir/switchboard-load" chat --port "$(cat "$work/port")" --data-dir "$dir" --json \
    --pairs "${PAIRS:-300}" --rate "$rate" --duration "${DURATION:-10}" --processes "${PROCESSES:-2}" \
    --calibration-seconds "${CALIBRATION:-5}" 2>"$work/load.err" | tail -1)
  h1=$(cpu "$hub"); p1=$(cpu $(pg))
  echo "$label $out hub_cpu_s=$(echo "($h1-$h0)/100" | bc -l | cut -c1-6) pg_cpu_s=$(echo "($p1-$p0)/100" | bc -l | cut -c1-6)"
  kill -TERM "$hub"; wait "$hub" 2>/dev/null
  rm -rf "$work"
done
