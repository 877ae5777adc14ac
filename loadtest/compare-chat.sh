#!/usr/bin/env bash
# Used for issue 11 (loadtest/RESULTS.md): loadtest/compare-chat.sh A_BIN_DIR B_BIN_DIR [rounds]
# Chat A B A B: fresh embedded cluster per run, 200 pairs at 4,000 msg/s for 10 s.
# Both sides may be one build with different settings: A_FLAGS / B_FLAGS are
# extra `serve` flags for side A / B, SERVE_FLAGS for both, e.g.
#   A_FLAGS="--writers 1" B_FLAGS="--writers 4 --max-write-delay-ms 100" loadtest/compare-chat.sh BIN BIN
# PAIRS, RATE, DURATION and CALIBRATION (seconds; 0 skips) change the run.
set -u
A=$1 B=$2 rounds=${3:-2}
pairs=${PAIRS:-200} rate=${RATE:-4000} duration=${DURATION:-10} calibration=${CALIBRATION:-5}
for r in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$A flags=${A_FLAGS:-}
    [ "$side" = B ] && bin=$B flags=${B_FLAGS:-}
    work=$(mktemp -d /tmp/sb-chat-XXXXXX)
    # shellcheck disable=SC2086  # the flags are lists of words
    SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0 \
      "$bin/switchboard" serve --port 0 --ready-file "$work/port" --data-dir "$work/data" --log-level error \
      ${SERVE_FLAGS:-} $flags > "$work/hub.log" 2>&1 &
    hub=$!
    for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
    echo "### round $r side $side ${SERVE_FLAGS:-} $flags"
    "$B/switchboard-load" chat --port "$(cat "$work/port")" --data-dir "$work/data" \
      --pairs "$pairs" --rate "$rate" --duration "$duration" --processes 1 --calibration-seconds "$calibration" 2>&1 |
      grep -Ei "persisted|ack p99|ack p50|errors|overloaded|calibration|gapless|stored" | head -12
    [ -s "$work/port" ] || { echo "hub did not start:"; cat "$work/hub.log"; }
    kill -TERM "$hub"; wait "$hub" 2>/dev/null
    rm -rf "$work"
  done
done
