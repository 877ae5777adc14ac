#!/usr/bin/env bash
# Chat under overload with the hub killed (SIGKILL) mid-run, then restarted on
# the same data dir; every acked message is then checked in SQL: stored
# exactly once with its acked seq, each conversation gapless, nothing refused
# stored (issue 12's "also after kill -9 under overload").
#   loadtest/chat-kill9.sh BIN_DIR [rate] [pairs] [duration_s]   (default 15000 300 12)
# BIN_DIR holds `switchboard` and `switchboard-load` (e.g. .build/release).
# SERVE_FLAGS: extra `serve` flags (e.g. "--writers 2"). Fresh embedded cluster
# in a temporary folder; loopback only; every step bounded; stops by itself.
# Exit 0 when both checks (the run's own, and chat-verify after the restart) pass.
set -u
bin=$(cd "$1" && pwd) rate=${2:-15000} pairs=${3:-300} duration=${4:-12}
work=$(mktemp -d /tmp/sb-kill9-XXXXXX)
hub=
cleanup() {
  [ -n "$hub" ] && kill -TERM "$hub" 2>/dev/null && wait "$hub" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
start_hub() {
  rm -f "$work/port"
  # shellcheck disable=SC2086  # SERVE_FLAGS is a list of flags
  SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0 \
    "$bin/switchboard" serve --port 0 --ready-file "$work/port" --data-dir "$work/data" --log-level error \
    ${SERVE_FLAGS:-} >> "$work/hub.log" 2>&1 &
  hub=$!
  for _ in $(seq 1 600); do [ -s "$work/port" ] && return 0; sleep 0.1; done
  echo "hub did not start; its log:"; cat "$work/hub.log"; exit 2
}

start_hub
echo "### hub $hub on port $(cat "$work/port"), $pairs pairs at $rate msg/s for ${duration}s; SIGKILL at half time"
timeout $((duration + 240)) "$bin/switchboard-load" chat --port "$(cat "$work/port")" --data-dir "$work/data" \
  --pairs "$pairs" --rate "$rate" --duration "$duration" --processes 1 --calibration-seconds 0 \
  --acked-file "$work/acked.tsv" > "$work/chat.txt" 2> "$work/chat.err" &
load=$!
# The tool says on stderr when the traffic starts.
for _ in $(seq 1 1200); do grep -qs "sending" "$work/chat.err" && break; sleep 0.1; done
grep -qs "sending" "$work/chat.err" || { echo "the load never started:"; cat "$work/chat.err"; exit 2; }
sleep "$(awk "BEGIN {print $duration / 2}")"
kill -KILL "$hub"; wait "$hub" 2>/dev/null
echo "### hub SIGKILLed at $(date -u +%T)"
hub=
start_hub
echo "### hub restarted on the same data dir"
wait "$load"; run=$?
cat "$work/chat.txt"
echo "### chat-verify after the restart"
timeout 120 "$bin/switchboard-load" chat-verify --data-dir "$work/data" --acked-file "$work/acked.tsv"; verify=$?
echo "### run check exit $run, chat-verify exit $verify"
[ "$run" -eq 0 ] && [ "$verify" -eq 0 ]
