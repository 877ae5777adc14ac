#!/usr/bin/env bash
# Fan-out of two builds of the hub, A B A B in one run: for each round and
# each build, a fresh release hub on an embedded cluster, then `fanout` to
# 1,000 and to 5,000 subscribers (the load tool of build B for both). Prints
# per run the delivery latency (p50, p99), the latency from the hub's
# encode, and the hub's CPU time while publishing; then the medians and
# B/A ratios. Loopback only; bounded; stops itself.
#   loadtest/compare-commits.sh A_BIN_DIR B_BIN_DIR [rounds]   (default 3)
# where each *_BIN_DIR holds a release `switchboard` (e.g. a worktree's .build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 rounds=${3:-3}
load=$b/switchboard-load
out=$(mktemp -d /tmp/sb-commits-XXXXXX)
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$a; [ "$side" = B ] && bin=$b
    work=$(mktemp -d /tmp/sb-commit-run-XXXXXX)
    "$bin/switchboard" serve --port 0 --ready-file "$work/port" --max-connections-per-ip 0 --max-handshakes-per-ip 0 \
      --data-dir "$work/data" --log-level warning > "$work/hub.log" 2>&1 &
    hub=$!
    for _ in $(seq 1 600); do [ -s "$work/port" ] && break; sleep 0.1; done
    port=$(cat "$work/port")
    for n in 1000 5000; do
      "$load" fanout --port "$port" --data-dir "$work/data" --hub-pid "$hub" --subscribers "$n" --publishes 40 --rate 4 \
        --processes 2 --json > "$work/fanout.json" || true
      python3 - "$work/fanout.json" "$side" "$round" "$n" >> "$out/rows.txt" <<'PY'
import json, sys
path, side, rnd, n = sys.argv[1:]
r = json.loads(open(path).read().strip().splitlines()[-1])
cpu = r["hub_cpu_s"]
print(side, rnd, n, r["delivery_ms"]["p50"], r["delivery_ms"]["p99"], r["hub_encode_ms"]["p50"],
      r["hub_encode_ms"]["p99"], "nan" if cpu is None else cpu, f'{r["deliveries"]}of{r["expected_deliveries"]}')
PY
      tail -1 "$out/rows.txt"
    done
    kill -TERM "$hub"; wait "$hub" || true
    rm -rf "$work"
  done
done
python3 - "$out/rows.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = ["p50 ms", "p99 ms", "hub-encode p50 ms", "hub-encode p99 ms", "hub CPU s"]
print("\nsubscribers  metric              median A   median B   B/A")
for n in ("1000", "5000"):
    for i, name in enumerate(names):
        va = [float(r[3 + i]) for r in rows if r[0] == "A" and r[2] == n]
        vb = [float(r[3 + i]) for r in rows if r[0] == "B" and r[2] == n]
        ma, mb = statistics.median(va), statistics.median(vb)
        print(f"{n:>11}  {name:<18} {ma:9.3f}  {mb:9.3f}  {mb / ma if ma else float('nan'):5.3f}")
PY
echo "rows: $out/rows.txt"
