#!/usr/bin/env python3
"""Summarises loadtest/cluster-compare.sh: per scenario the medians over
rounds of single-node and cross-node figures, and their ratio cross/single."""
import glob, json, os, statistics, sys

out = sys.argv[1]

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def figure(doc, *keys):
    for k in keys:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc if isinstance(doc, (int, float)) else None

rows = {
    "fanout": [("delivery p50 ms", ("delivery_ms", "p50")), ("delivery p99 ms", ("delivery_ms", "p99")),
               ("deliveries", ("deliveries",))],
    "chat": [("ack p99 ms", ("ack_ms", "p99")), ("delivery p99 ms", ("delivery_ms", "p99")),
             ("persisted/s", ("persisted_per_s",)), ("errors", ("errors",)), ("exactly once", ("exactly_once",))],
}
for scenario, figures in rows.items():
    print(f"== {scenario}")
    for label, keys in figures:
        values = {}
        for mode in ("memory", "single", "cross"):
            docs = [load(p) for p in sorted(glob.glob(os.path.join(out, f"{scenario}-{mode}-*.json")))]
            vals = [figure(d, *keys) for d in docs if d is not None]
            vals = [float(v) for v in vals if v is not None]
            values[mode] = vals
        med = {m: (statistics.median(v) if v else None) for m, v in values.items()}
        def ratio(a, b):
            return (med[a] / med[b]) if med[b] and med[a] is not None else None
        fmt = lambda v: "-" if v is None else f"{v:.2f}"
        print(f"  {label:16} memory {fmt(med['memory']):>9}  single {fmt(med['single']):>9}  "
              f"cross {fmt(med['cross']):>9}  cross/single {fmt(ratio('cross', 'single'))}  "
              f"cross/memory {fmt(ratio('cross', 'memory'))}")
        print(f"  {'':16} rounds: memory {values['memory']} single {values['single']} cross {values['cross']}")
