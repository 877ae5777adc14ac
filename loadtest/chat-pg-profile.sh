#!/usr/bin/env bash
# Used for issue 12 (loadtest/RESULTS.md): where durable chat spends PostgreSQL's time.
#   loadtest/chat-pg-profile.sh BIN_DIR RATE [DURATION] [PAIRS]   (extra serve flags in SERVE_FLAGS)
# Starts the embedded cluster of a fresh data dir with pg_stat_statements, a hub on it, one
# `switchboard-load chat` run (calibration skipped), then prints the statements by total time
# (µs per row), the CPU seconds of the hub's threads and of every PostgreSQL process, and CPU steal.
# Loopback only; bounded; stops by itself (the cluster too).
set -u
bin=$(cd "$1" && pwd) rate=$2 duration=${3:-10} pairs=${4:-300}
work=$(mktemp -d /tmp/sb-pgprof-XXXXXX)
export SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# A first hub run creates the cluster and the schema.
"$bin/switchboard" serve --port 0 --ready-file "$work/port0" --data-dir "$work/data" --log-level error > "$work/hub0.log" 2>&1 &
hub=$!
for _ in $(seq 600); do [ -s "$work/port0" ] && break; sleep 0.1; done
kill -TERM "$hub"; wait "$hub"
pg=$work/data/postgres
as_pg "$pgbin/pg_ctl" -D "$pg/data" status > /dev/null && as_pg "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop > /dev/null
as_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/profile.log" -w -o "-k $pg -c listen_addresses='' -p 5432 -c max_connections=200 \
  -c shared_buffers=256MB -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" start > /dev/null
db="host=$pg port=5432 user=switchboard dbname=switchboard"
psql "$db" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" > /dev/null
# The hub finds the cluster running and uses it.
# shellcheck disable=SC2086  # SERVE_FLAGS is a list of words
"$bin/switchboard" serve --port 0 --ready-file "$work/port" --data-dir "$work/data" --log-level error ${SERVE_FLAGS:-} > "$work/hub.log" 2>&1 &
hub=$!
for _ in $(seq 600); do [ -s "$work/port" ] && break; sleep 0.1; done
ticks() { for p in "$@"; do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
psql "$db" -qc "SELECT pg_stat_statements_reset()" > /dev/null
vmstat 1 > "$work/vmstat" &
vm=$!
"$bin/switchboard-load" chat --port "$(cat "$work/port")" --data-dir "$work/data" --pairs "$pairs" --rate "$rate" \
  --duration "$duration" --calibration-seconds 0 2>&1 | grep -Ev "^\s*$"
kill $vm
echo "--- CPU seconds (user+system) since start: hub threads"
for t in /proc/$hub/task/*; do echo "  $(cat "$t/comm") $(awk '{printf "%.2f", ($14+$15)/100}' "$t/stat")"; done | sort -k2 -rn | head -4
echo "--- PostgreSQL processes (those alive now)"
for p in $(pgrep -f "postgres: "); do echo "  $(awk '{printf "%.2f", ($14+$15)/100}' "/proc/$p/stat") $(tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-60)"; done | sort -rn | head -5
echo "--- statements by total time"
psql "$db" -c "SELECT calls, rows, round(total_exec_time::numeric) AS ms, round((total_exec_time / greatest(rows, 1))::numeric * 1000, 1) AS us_per_row,
  left(regexp_replace(query, '\s+', ' ', 'g'), 60) AS statement FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6"
awk 'NR > 3 { s += $17; if ($17 > m) m = $17; n++ } END { printf "steal %%: mean %.1f, max %d\n", s / n, m }' "$work/vmstat"
kill -TERM "$hub"; wait "$hub"
as_pg "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop > /dev/null 2>&1
rm -rf "$work"
