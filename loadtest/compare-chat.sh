#!/usr/bin/env bash
# Used for issue 11 (loadtest/RESULTS.md): loadtest/compare-chat.sh A_BIN_DIR B_BIN_DIR [rounds]
# Chat A B A B: fresh embedded cluster per run, 200 pairs at 4,000 msg/s for 10 s.
set -u
A=$1 B=$2 rounds=${3:-2}
for r in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$A; [ "$side" = B ] && bin=$B
    work=$(mktemp -d /tmp/sb-chat-XXXXXX)
    SWITCHBOARD_MAX_CONNECTIONS_PER_IP=0 SWITCHBOARD_MAX_HANDSHAKES_PER_IP=0 \
      "$bin/switchboard" serve --port 0 --ready-file "$work/port" --data-dir "$work/data" --log-level error > "$work/hub.log" 2>&1 &
    hub=$!
    for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
    echo "### round $r side $side"
    "$B/switchboard-load" chat --port "$(cat "$work/port")" --data-dir "$work/data" \
      --pairs 200 --rate 4000 --duration 10 --processes 1 2>&1 | grep -Ei "persisted|ack p99|ack p50|errors|gapless|stored" | head -8
    kill -TERM "$hub"; wait "$hub" 2>/dev/null
    rm -rf "$work"
  done
done
